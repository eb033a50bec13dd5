//! A process as /proc shows it (proc(5)), read through [`ProcDir`]: /proc/PID opened
//! once, every file of the process opened relative to it; and the one way solab tells a
//! process that exited, a zombie, a kernel thread and a process it may not read apart
//! ([`Gone`]). One module per file read: [`maps`] (/proc/PID/maps), [`status`]
//! (/proc/PID/status, stat, comm), [`cgroup`] (/proc/PID/cgroup, ns/mnt). Access: opening
//! the directory needs nothing; each file says what it needs.

mod cgroup;
mod maps;
pub mod maps_budget;
mod status;

pub use cgroup::{cgroup_in, cgroup_v2_in, ns_inode};
pub use maps::{MAPS_ENV, MapsSource, max_maps};
pub use status::{Stat, Status, byte_of_char, decode_name, encode_name, parse_stat, parse_status};

use super::{CAP_SYS_PTRACE, has_capability};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// The path an error names for `file` of process `pid`.
fn proc_path(pid: i32, file: &str) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/{file}"))
}

/// An I/O error on a file of process `pid`: ESRCH or ENOENT means the process is gone,
/// EACCES/EPERM a refusal, with a hint only where it is true (CAP_SYS_PTRACE missing).
pub(super) fn error(pid: i32, path: &Path, source: std::io::Error) -> Error {
    match (source.kind(), source.raw_os_error()) {
        (_, Some(libc::ESRCH)) | (std::io::ErrorKind::NotFound, _) => Error::NoSuchProcess { pid },
        (std::io::ErrorKind::PermissionDenied, _) => Error::PermissionDenied {
            path: path.to_path_buf(),
            hint: (!has_capability(CAP_SYS_PTRACE))
                .then(|| "another user's process: reading it needs root or CAP_SYS_PTRACE".into()),
        },
        _ => Error::Io {
            path: path.to_path_buf(),
            source,
        },
    }
}

/// /proc/PID opened once, as a directory (`O_PATH`): the files of the process are opened
/// relative to it (`openat`), one path walk for all of them instead of one per file, and
/// all of one process: the directory holds the kernel's `struct pid`, so once the process
/// has exited every open through it fails (ENOENT, read as [`Error::NoSuchProcess`]) even
/// when a new process got the same number. Errors name the file as `/proc/PID/FILE`.
pub struct ProcDir {
    pid: i32,
    dir: std::os::fd::OwnedFd,
    /// With [`ProcDir::open_with_info`]: a pidfd of the same process, for
    /// [`ProcDir::info`].
    pidfd: Option<std::os::fd::OwnedFd>,
}

/// What the pidfd of a process tells without text (`PIDFD_GET_INFO`, Linux 6.13,
/// include/uapi/linux/pidfd.h): its real uid (the first of status's `Uid:` line, in the
/// reader's user namespace, as status gives it), its parent's pid, and the id of its
/// cgroup v2 group (the inode of its directory where cgroup2 is mounted), when the kernel has
/// cgroups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PidInfo {
    pub ruid: u32,
    pub ppid: u32,
    pub cgroup_id: Option<u64>,
}

impl ProcDir {
    /// Opens /proc/PID; a pid that is not there is [`Error::NoSuchProcess`].
    pub fn open(pid: i32) -> Result<ProcDir> {
        use std::os::fd::FromRawFd;
        if pid <= 0 {
            return Err(Error::NoSuchProcess { pid });
        }
        let mut path = [0u8; 24];
        let text = format!("/proc/{pid}");
        path[..text.len()].copy_from_slice(text.as_bytes());
        // SAFETY: `path` is NUL-terminated (a pid has at most 10 digits); the fd returned
        // is owned by nothing else.
        let fd = unsafe {
            libc::open(
                path.as_ptr().cast(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(error(
                pid,
                Path::new(&text),
                std::io::Error::last_os_error(),
            ));
        }
        Ok(ProcDir {
            pid,
            // SAFETY: `fd` was just opened and is owned here only.
            dir: unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) },
            pidfd: None,
        })
    }

    /// [`ProcDir::open`], and what the process's pidfd tells ([`PidInfo`]), where the
    /// kernel answers `PIDFD_GET_INFO` (else `None`, and the caller reads status). The
    /// pidfd is opened first and asked after the directory: a process still there when
    /// asked held its number all along, so the directory is of the same process.
    pub fn open_with_info(pid: i32) -> Result<(ProcDir, Option<PidInfo>)> {
        let pidfd = pidfd::open(pid)?;
        let mut dir = ProcDir::open(pid)?;
        let Some(pidfd) = pidfd else {
            return Ok((dir, None));
        };
        let info = pidfd::info(&pidfd).map_err(|e| error(pid, &dir.path(c"status"), e))?;
        dir.pidfd = Some(pidfd);
        Ok((dir, info))
    }

    /// Asks the process's pidfd again (one opened by [`ProcDir::open_with_info`]).
    pub fn info(&self) -> Option<PidInfo> {
        pidfd::info(self.pidfd.as_ref()?).ok().flatten()
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The path an error names for `file`.
    pub fn path(&self, file: &std::ffi::CStr) -> PathBuf {
        proc_path(self.pid, &file.to_string_lossy())
    }

    /// Opens the process's `file` (`c"maps"`, `c"ns/mnt"`...) for reading.
    pub fn open_file(&self, file: &std::ffi::CStr) -> Result<std::fs::File> {
        use std::os::fd::{AsRawFd, FromRawFd};
        // SAFETY: `file` is NUL-terminated; the fd returned is owned by nothing else.
        let fd = unsafe {
            libc::openat(
                self.dir.as_raw_fd(),
                file.as_ptr(),
                libc::O_RDONLY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(error(
                self.pid,
                &self.path(file),
                std::io::Error::last_os_error(),
            ));
        }
        // SAFETY: `fd` was just opened and is owned here only.
        Ok(unsafe { std::fs::File::from_raw_fd(fd) })
    }

    /// Reads the whole of `file` into `buf` (cleared first), without asking its size:
    /// /proc files have none.
    pub fn read(&self, file: &std::ffi::CStr, buf: &mut Vec<u8>) -> Result<()> {
        self.read_until(file, buf, |_| false)
    }

    /// The command line (/proc/PID/cmdline) as text: its arguments joined by spaces, at
    /// most `limit` bytes read (the process controls its length), each byte that is not
    /// UTF-8 kept as [`decode_name`] keeps it; empty for a process without one (a kernel
    /// thread, a zombie).
    pub fn cmdline(&self, buf: &mut Vec<u8>, limit: usize) -> Result<String> {
        self.read_until(c"cmdline", buf, |b| b.len() >= limit)?;
        buf.truncate(limit);
        while buf.last() == Some(&0) {
            buf.pop();
        }
        for b in buf.iter_mut() {
            if *b == 0 {
                *b = b' ';
            }
        }
        Ok(match std::str::from_utf8(buf) {
            Ok(s) if !s.chars().any(|c| byte_of_char(c).is_some()) => s.to_string(),
            _ => decode_name(buf),
        })
    }

    /// Reads `file` into `buf` (cleared first) until its end, or until `enough` says the
    /// bytes read so far are enough.
    fn read_until(
        &self,
        file: &std::ffi::CStr,
        buf: &mut Vec<u8>,
        enough: impl Fn(&[u8]) -> bool,
    ) -> Result<()> {
        use std::io::Read;
        let mut f = self.open_file(file)?;
        buf.clear();
        loop {
            if buf.capacity() - buf.len() < 1024 {
                buf.reserve(4096);
            }
            let len = buf.len();
            let spare = buf.capacity() - len;
            buf.resize(len + spare, 0);
            let n = match f.read(&mut buf[len..]) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => 0,
                Err(e) => {
                    buf.truncate(len);
                    return Err(error(self.pid, &self.path(file), e));
                }
            };
            buf.truncate(len + n);
            if n == 0 || enough(buf) {
                return Ok(());
            }
        }
    }

    /// Whether the process is still there (a zombie is): the directory still answers a
    /// lookup, which it stops doing once the process is reaped, whatever got its number.
    pub fn exists(&self) -> bool {
        use std::os::fd::AsRawFd;
        // SAFETY: the name is NUL-terminated; faccessat only looks the name up.
        unsafe { libc::faccessat(self.dir.as_raw_fd(), c"stat".as_ptr(), libc::F_OK, 0) == 0 }
    }

    /// Whether the process is gone, or has no memory map any more while not being a
    /// kernel thread.
    pub fn exited(&self) -> bool {
        matches!(self.read_maps(), Err(Error::NoSuchProcess { .. }))
    }

    /// The (device, inode) of the process's executable (stat(2) through /proc/PID/exe);
    /// `None` when it cannot be known (a kernel thread, another user's process).
    pub fn exe_id(&self) -> Option<(u64, u64)> {
        use std::os::fd::AsRawFd;
        // SAFETY: an all-zero `struct stat` is valid; fstatat writes no more than it.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: the name is NUL-terminated and `st` is a `struct stat`.
        let rc = unsafe { libc::fstatat(self.dir.as_raw_fd(), c"exe".as_ptr(), &mut st, 0) };
        (rc == 0).then_some((st.st_dev, st.st_ino))
    }

    /// A second handle on the same directory (`dup`): nothing is looked up again.
    pub fn try_clone(&self) -> Result<ProcDir> {
        Ok(ProcDir {
            pid: self.pid,
            dir: self
                .dir
                .try_clone()
                .map_err(|e| Error::io(self.path(c""), e))?,
            pidfd: None,
        })
    }

    /// Opens a file of the process that is a magic link (`map_files/...`), following it:
    /// `O_PATH` asks only for the file's identity, [`File::metadata`] gives it, and nothing
    /// of the file itself is opened; else `flags` (`O_RDONLY` with more) opens it.
    pub fn open_link(&self, file: &std::ffi::CStr, flags: i32) -> std::io::Result<std::fs::File> {
        use std::os::fd::{AsRawFd, FromRawFd};
        // SAFETY: `file` is NUL-terminated; the fd returned is owned by nothing else.
        let fd =
            unsafe { libc::openat(self.dir.as_raw_fd(), file.as_ptr(), flags | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` was just opened and is owned here only.
        Ok(unsafe { std::fs::File::from_raw_fd(fd) })
    }
}

/// pidfds (pidfd_open(2)) and `PIDFD_GET_INFO` (Linux 6.13, include/uapi/linux/pidfd.h,
/// fs/pidfs.c `pidfd_info`).
mod pidfd {
    use super::PidInfo;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::sync::atomic::{AtomicBool, Ordering};

    /// `struct pidfd_info` as Linux 6.13 first defined it (`PIDFD_INFO_SIZE_VER0`, 64
    /// bytes): later kernels take this size and fill what it holds.
    #[repr(C)]
    #[derive(Default)]
    struct PidfdInfo {
        mask: u64,
        cgroupid: u64,
        pid: u32,
        tgid: u32,
        ppid: u32,
        ruid: u32,
        rgid: u32,
        euid: u32,
        egid: u32,
        suid: u32,
        sgid: u32,
        fsuid: u32,
        fsgid: u32,
        exit_code: i32,
    }

    const PIDFD_INFO_PID: u64 = 1 << 0;
    const PIDFD_INFO_CREDS: u64 = 1 << 1;
    const PIDFD_INFO_CGROUPID: u64 = 1 << 2;
    /// `_IOWR(PIDFS_IOCTL_MAGIC, 11, struct pidfd_info)`.
    const PIDFD_GET_INFO: u64 =
        (3 << 30) | ((std::mem::size_of::<PidfdInfo>() as u64) << 16) | (0xFF << 8) | 11;

    /// Set once the kernel had no pidfd_open or no `PIDFD_GET_INFO`: status is read.
    static UNSUPPORTED: AtomicBool = AtomicBool::new(false);

    /// A pidfd of `pid`; `None` where the kernel has none to give (or on another
    /// architecture than the one whose ioctl number is written here).
    pub(super) fn open(pid: i32) -> crate::error::Result<Option<OwnedFd>> {
        if !cfg!(target_arch = "x86_64") || UNSUPPORTED.load(Ordering::Relaxed) {
            return Ok(None);
        }
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            let e = std::io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::ESRCH) => Err(crate::error::Error::NoSuchProcess { pid }),
                Some(libc::ENOSYS) => {
                    UNSUPPORTED.store(true, Ordering::Relaxed);
                    Ok(None)
                }
                // Not a thread-group leader, or another refusal: status says.
                _ => Ok(None),
            };
        }
        // SAFETY: `fd` was just returned by the kernel and is owned here only.
        Ok(Some(unsafe { OwnedFd::from_raw_fd(fd as i32) }))
    }

    /// What the pidfd tells; `Ok(None)` where the kernel does not answer the ioctl (or
    /// leaves the credentials out). ESRCH: the process was reaped.
    pub(super) fn info(pidfd: &OwnedFd) -> std::io::Result<Option<PidInfo>> {
        let mut i = PidfdInfo {
            mask: PIDFD_INFO_PID | PIDFD_INFO_CREDS | PIDFD_INFO_CGROUPID,
            ..PidfdInfo::default()
        };
        // SAFETY: `i` is a pidfd_info of the size the request number says; the kernel
        // writes no more.
        let rc = unsafe { libc::ioctl(pidfd.as_raw_fd(), PIDFD_GET_INFO as _, &mut i) };
        if rc < 0 {
            let e = std::io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::ENOTTY | libc::EINVAL | libc::EOPNOTSUPP) => {
                    UNSUPPORTED.store(true, Ordering::Relaxed);
                    Ok(None)
                }
                _ => Err(e),
            };
        }
        if i.mask & PIDFD_INFO_CREDS == 0 {
            return Ok(None);
        }
        Ok(Some(PidInfo {
            ruid: i.ruid,
            ppid: i.ppid,
            cgroup_id: (i.mask & PIDFD_INFO_CGROUPID != 0).then_some(i.cgroupid),
        }))
    }
}

/// The pids in /proc right now, ascending (processes, not threads).
pub fn list_pids() -> Result<Vec<i32>> {
    let dir = std::fs::read_dir("/proc").map_err(|e| Error::io("/proc", e))?;
    let mut pids: Vec<i32> = dir
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|&p: &i32| p > 0)
        .collect();
    pids.sort_unstable();
    Ok(pids)
}

/// Why a process could not be scanned, in the words every command uses.
#[derive(Debug)]
pub enum Gone {
    /// It does not exist: it never did, or exited during the scan.
    Vanished,
    /// A kernel thread, or a zombie: no memory map. `comm` is its command name.
    NoMemoryMap { comm: String },
    /// It exists but could not be read (permission, or another error).
    Unreadable(Error),
}

impl Gone {
    /// The error of a run that needed process `pid` (a command's root process): the one
    /// each way of being gone stands for.
    pub fn into_error(self, pid: i32) -> Error {
        match self {
            Gone::Vanished => Error::NoSuchProcess { pid },
            Gone::NoMemoryMap { comm } => Error::KernelThread { pid, comm },
            Gone::Unreadable(e) => e,
        }
    }
}

/// Classifies an error met while reading the process of `dir`, or opening its directory
/// (`None`: the directory did not open).
pub fn classify(dir: Option<&ProcDir>, e: Error) -> Gone {
    let Some(dir) = dir else {
        return match e {
            Error::NoSuchProcess { .. } => Gone::Vanished,
            e => Gone::Unreadable(e),
        };
    };
    match e {
        Error::NoSuchProcess { .. } => Gone::Vanished,
        _ if !dir.exists() => Gone::Vanished,
        Error::KernelThread { comm, .. } => Gone::NoMemoryMap { comm },
        // A process that exits while its pagemap is read gives a short read.
        Error::Io { ref source, .. }
            if source.kind() == std::io::ErrorKind::UnexpectedEof && dir.exited() =>
        {
            Gone::Vanished
        }
        e => Gone::Unreadable(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn stat_fields() {
        // Captured: kthreadd, and a zombie `sleep` (state Z, no PF_KTHREAD) whose empty
        // maps file was once reported as a kernel thread's (found by the churn test).
        let kthreadd = b"2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 11 0 0";
        let zombie = b"15532 (sleep) Z 15398 15396 16220 0 -1 4228108 76 0 0 0 0 0 0 0";
        let odd = b"7 (a) b (c)) R 1 1 1 0 -1 4194560 0 0";
        let k = parse_stat(kthreadd).expect("kthreadd");
        assert!(k.kernel_thread() && k.comm == "kthreadd");
        let z = parse_stat(zombie).expect("zombie");
        assert_eq!((z.state, z.ppid, z.kernel_thread()), ('Z', 15398, false));
        assert_eq!(
            parse_stat(odd).map(|s| (s.comm, s.state, s.ppid)),
            Some(("a) b (c)".into(), 'R', 1))
        );
        assert_eq!(
            parse_stat(b"9 (\xff) S 1 1 1 0 -1 0").map(|s| encode_name(&s.comm)),
            Some(b"\xff".to_vec())
        );
        assert_eq!(parse_stat(b"garbage"), None);
    }

    #[test]
    fn cgroup_lines() {
        assert_eq!(
            cgroup_in("0::/system.slice/nginx.service\n"),
            "/system.slice/nginx.service"
        );
        assert_eq!(cgroup_in("12:pids:/a\n11:cpu:/b\n"), "12:pids:/a;11:cpu:/b");
        let own = ProcDir::open(std::process::id() as i32).expect("own dir");
        assert!(own.cgroup_text(&mut Vec::new()).is_ok());
        // A hybrid machine has both kinds of lines: the v2 one names the group.
        let hybrid = "9:name=systemd:/init.scope\n4:memory:/x\n0::/system.slice/cron.service\n";
        assert_eq!(
            cgroup_v2_in(hybrid).as_deref(),
            Some("/system.slice/cron.service")
        );
        // A machine with only cgroup v1 hierarchies (written in their format): no 0:: line.
        let v1 = "12:pids:/system.slice/ssh.service\n11:memory:/system.slice/ssh.service\n\
                  1:name=systemd:/system.slice/ssh.service\n";
        assert_eq!(cgroup_v2_in(v1), None);
        assert_eq!(cgroup_v2_in(""), None);
    }

    #[test]
    fn namespace_links() {
        assert_eq!(ns_inode("mnt:[4026531841]", "mnt"), Some(4026531841));
        assert_eq!(ns_inode("net:[4026531840]", "mnt"), None);
        assert_eq!(ns_inode("mnt:4026531841", "mnt"), None);
        let own = ProcDir::open(std::process::id() as i32).expect("own dir");
        assert!(own.mnt_ns().is_ok_and(|n| n > 0));
    }

    /// This process's real uid, from the C library (an oracle apart from /proc).
    fn own_uid() -> u32 {
        // SAFETY: getuid has no preconditions.
        unsafe { libc::getuid() }
    }

    /// This process's command name, read by path.
    fn own_comm() -> String {
        let comm = std::fs::read_to_string("/proc/self/comm").expect("comm");
        comm.trim_end().to_string()
    }

    #[test]
    fn status_names_are_unescaped() {
        let text = b"Name:\ta\\nb\\\\c \nUmask:\t0022\nState:\tS\nUid:\t65534\t0\t0\t0\n";
        let s = parse_status(text).expect("status");
        assert_eq!((s.uid, s.comm.as_str()), (65534, "a\nb\\c"));
        // Not UTF-8: its bytes kept, as comm() keeps them.
        let s = parse_status(b"Name:\t\xff\nUid:\t1\t1\t1\t1\n").expect("status");
        assert_eq!((s.uid, encode_name(&s.comm)), (1, b"\xff".to_vec()));
        assert_eq!(parse_status(b"Name:\tx\n"), None);
        // kthreadd (pid 2) is a kernel thread where /proc shows it (not in a pid namespace).
        if std::fs::read_to_string("/proc/2/comm").is_ok_and(|c| c == "kthreadd\n") {
            let e = ProcDir::open(2).expect("pid 2").refuse_kernel_thread();
            assert!(
                matches!(e, Err(Error::KernelThread { pid: 2, ref comm }) if comm == "kthreadd"),
                "{e:?}"
            );
        }
        let own = std::process::id() as i32;
        let dir = ProcDir::open(own).expect("own dir");
        let s = dir.status(&mut Vec::new()).expect("own status");
        assert_eq!((s.uid, s.comm), (own_uid(), own_comm()));
    }

    /// The pidfd's answer agrees with status and /proc/PID/cgroup: the real uid, the
    /// parent, and the cgroup id is the inode of the group's directory.
    #[test]
    fn pidfd_info_agrees_with_status() {
        let own = std::process::id() as i32;
        let (dir, info) = ProcDir::open_with_info(own).expect("own dir");
        let Some(info) = info else {
            // A kernel before 6.13: status is read instead.
            return;
        };
        assert_eq!(info.ruid, own_uid());
        assert_eq!(info.ppid, std::os::unix::process::parent_id());
        assert_eq!(dir.info(), Some(info));
        // Where cgroup2 is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid
        // machine, where /sys/fs/cgroup is a tmpfs).
        let mount = std::fs::read_to_string("/proc/self/mountinfo")
            .expect("mountinfo")
            .lines()
            .find_map(|l| {
                let (left, right) = l.split_once(" - ")?;
                right
                    .starts_with("cgroup2 ")
                    .then(|| left.split_whitespace().nth(4).map(str::to_string))?
            });
        let mut text = Vec::new();
        let cgroup = dir.cgroup_text(&mut text).map(cgroup_v2_in);
        if let (Some(id), Ok(Some(path)), Some(mount)) = (info.cgroup_id, cgroup, mount)
            && let Ok(m) = std::fs::metadata(format!("{mount}{path}"))
        {
            assert_eq!(m.ino(), id, "cgroup {path} under {mount}");
        }
        let mut buf = Vec::new();
        assert_eq!(dir.comm_of(&mut buf).expect("comm"), own_comm());
        // A process that is gone has no pidfd to open.
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("spawn true");
        let pid = child.id() as i32;
        child.wait().expect("reap");
        assert!(matches!(
            ProcDir::open_with_info(pid),
            Err(Error::NoSuchProcess { .. })
        ));
    }

    /// A directory opened while the process ran reads nothing once it has exited: never
    /// the files of a process that gets its number later.
    #[test]
    fn dir_of_an_exited_process_reads_nothing() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep");
        let pid = child.id() as i32;
        let dir = ProcDir::open(pid).expect("dir");
        assert!(dir.status(&mut Vec::new()).is_ok());
        assert!(dir.mnt_ns().is_ok());
        assert!(dir.exists());
        let _ = child.kill();
        let _ = child.wait();
        let gone = |e: Error| matches!(e, Error::NoSuchProcess { pid: p } if p == pid);
        assert!(dir.status(&mut Vec::new()).is_err_and(gone));
        assert!(dir.read_maps().is_err_and(gone));
        assert!(dir.mnt_ns().is_err_and(gone));
        assert!(!dir.exists() && dir.exited());
    }

    #[test]
    fn missing_pid_is_named() {
        let Err(e) = ProcDir::open(i32::MAX) else {
            panic!("pid {} opened", i32::MAX);
        };
        assert!(
            matches!(e, Error::NoSuchProcess { pid } if pid == i32::MAX),
            "{e}"
        );
        assert!(e.to_string().contains(&i32::MAX.to_string()));
    }

    #[test]
    fn own_maps_and_stat() {
        let pid = std::process::id() as i32;
        let dir = ProcDir::open(pid).expect("own dir");
        let maps = dir.read_maps().expect("own maps");
        assert!(maps.iter().any(|m| m.is_pseudo("[stack]")));
        let s = dir.stat().expect("own stat");
        assert_eq!(s.ppid, nix::unistd::getppid().as_raw());
    }
}
