//! A process as /proc shows it (proc(5)): its memory map (/proc/PID/maps, parsed by
//! [`crate::maps`]), /proc/PID/stat (parent, flags), /proc/PID/status (uid) and comm; and
//! the one way solab tells a process that exited, a zombie, a kernel thread and a process
//! it may not read apart ([`Gone`]).

use super::{CAP_SYS_PTRACE, has_capability};
use crate::error::{Error, Result};
use crate::maps::{self, MapEntry, MapTarget, split_dev};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

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

/// What /proc/PID/status says about a process, in one read ([`ProcDir::status`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// The real uid: the first of the `Uid:` line's four.
    pub uid: u32,
    /// The command name as [`ProcDir::comm`] gives it.
    pub comm: String,
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

    /// The real uid and the command name, from one read of /proc/PID/status (its lines up
    /// to `Uid:`: the kernel formats the whole file on the first read, the rest is not
    /// asked for).
    pub fn status(&self, buf: &mut Vec<u8>) -> Result<Status> {
        let through_uid = |b: &[u8]| {
            b.windows(5)
                .position(|w| w == b"\nUid:")
                .is_some_and(|i| b[i + 1..].contains(&b'\n'))
        };
        self.read_until(c"status", buf, through_uid)?;
        parse_status(buf).ok_or_else(|| Error::Io {
            path: self.path(c"status"),
            source: std::io::Error::other("no Name: or Uid: line"),
        })
    }

    /// The text of /proc/PID/cgroup, for [`cgroup_in`] and [`cgroup_v2_in`].
    pub fn cgroup_text<'b>(&self, buf: &'b mut Vec<u8>) -> Result<&'b str> {
        self.read(c"cgroup", buf)?;
        std::str::from_utf8(buf).map_err(|e| Error::Io {
            path: self.path(c"cgroup"),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })
    }

    /// The mount namespace of the process: the inode in the `mnt:[INODE]` link
    /// /proc/PID/ns/mnt (namespaces(7)). Reading it needs the same access as reading the
    /// process's memory.
    pub fn mnt_ns(&self) -> Result<u64> {
        use std::os::fd::AsRawFd;
        let mut link = [0u8; 64];
        // SAFETY: the name is NUL-terminated and `link` holds `link.len()` bytes.
        let n = unsafe {
            libc::readlinkat(
                self.dir.as_raw_fd(),
                c"ns/mnt".as_ptr(),
                link.as_mut_ptr().cast(),
                link.len(),
            )
        };
        let path = || self.path(c"ns/mnt");
        if n < 0 {
            return Err(error(self.pid, &path(), std::io::Error::last_os_error()));
        }
        let link = String::from_utf8_lossy(&link[..n as usize]);
        ns_inode(&link, "mnt").ok_or_else(|| Error::Io {
            path: path(),
            source: std::io::Error::other(format!("unexpected link {link:?}")),
        })
    }

    /// [`Error::KernelThread`] when the process is a kernel thread, which has no memory
    /// map: the one test of it every command asks (PF_KTHREAD, [`Stat::kernel_thread`]).
    /// `Ok` otherwise, and when its stat cannot be read.
    pub fn refuse_kernel_thread(&self) -> Result<()> {
        match self.stat() {
            Ok(s) if s.kernel_thread() => Err(Error::KernelThread {
                pid: self.pid,
                comm: s.comm,
            }),
            _ => Ok(()),
        }
    }

    /// The fields of /proc/PID/stat solab uses.
    pub fn stat(&self) -> Result<Stat> {
        let mut buf = Vec::new();
        self.read(c"stat", &mut buf)?;
        parse_stat(&buf).ok_or_else(|| Error::Io {
            path: self.path(c"stat"),
            source: std::io::Error::other("unexpected format"),
        })
    }

    /// The command name as [`ProcDir::comm`] makes it; an error when the
    /// process is gone (where [`ProcDir::comm`] gives `?`).
    pub fn comm_of(&self, buf: &mut Vec<u8>) -> Result<String> {
        self.read(c"comm", buf)?;
        Ok(comm_of(std::mem::take(buf)))
    }

    /// The short command name of the process, or `?`.
    pub fn comm(&self) -> String {
        self.comm_of(&mut Vec::new()).unwrap_or_else(|_| "?".into())
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

    /// Reads the process's memory map: through the PROCMAP_QUERY ioctl where the kernel
    /// has it, else its text (both give the same entries: [`ProcDir::read_maps_from`]).
    /// An empty map is a kernel thread or a process that has exited;
    /// [`Error::KernelThread`] and [`Error::NoSuchProcess`] tell which.
    pub fn read_maps(&self) -> Result<Vec<MapEntry>> {
        let how = if text_forced() {
            MapsSource::Text
        } else {
            MapsSource::Auto
        };
        self.read_maps_from(how).map(|m| m.unwrap_or_default())
    }

    /// Reads /proc/PID/maps the way `how` says; `Ok(None)` only for [`MapsSource::Query`]
    /// when the ioctl cannot give the map (a kernel without it, a name longer than
    /// `PATH_MAX`).
    ///
    /// The ioctl and the text give the same entries: the same fields, and names classified
    /// by the same rules ([`maps::raw_target`]), with two differences:
    /// - a path holding a backslash and three octal digits (a literal `\012`) reads, in the
    ///   text, like an escaped byte, and comes out as that byte; the ioctl gives the real
    ///   name;
    /// - the ioctl reader asks a mapping's name only where it does not continue the mapping
    ///   before it (the same device and inode from where that one ends, after a name that
    ///   is a path): the name costs the kernel a `d_path`, a tenth of `solab libs --all`,
    ///   and the segments of an ELF object are such pieces of one file mapped once. One
    ///   file mapped through two of its names side by side (hard links, two mounts of it)
    ///   gives the continuing piece the first piece's name where the text gives each its
    ///   own. The (device, inode) identity, which every command keys files by, is the
    ///   same.
    pub fn read_maps_from(&self, how: MapsSource) -> Result<Option<Vec<MapEntry>>> {
        let file = self.open_file(c"maps")?;
        let path = self.path(c"maps");
        maps_of(self.pid, &path, file, how, || self.refuse_kernel_thread())
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

/// The command name as [`ProcDir::comm`] makes it of the bytes the kernel holds: `?` unless UTF-8,
/// trailing white space trimmed.
fn comm_of(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes)
        .map(|s| s.trim_end().to_string())
        .unwrap_or_else(|_| "?".into())
}

/// The real uid and the command name in /proc/PID/status text. The `Name:` line holds the
/// name /proc/PID/comm holds, with `\n` and `\` escaped as `\n` and `\\` (fs/proc/array.c
/// `proc_task_name`: `ESCAPE_SPACE | ESCAPE_SPECIAL` limited to `"\n\\"`), which is undone
/// here: the name is the one [`ProcDir::comm`] gives.
pub fn parse_status(text: &[u8]) -> Option<Status> {
    let line = |key: &[u8]| {
        text.split(|&b| b == b'\n')
            .find_map(|l| l.strip_prefix(key))
    };
    let name = line(b"Name:\t")?;
    let uid = std::str::from_utf8(line(b"Uid:")?)
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let mut raw = Vec::with_capacity(name.len());
    let mut bytes = name.iter();
    while let Some(&b) = bytes.next() {
        raw.push(match (b, bytes.as_slice().first()) {
            (b'\\', Some(b'n')) => {
                bytes.next();
                b'\n'
            }
            (b'\\', Some(b'\\')) => {
                bytes.next();
                b'\\'
            }
            _ => b,
        });
    }
    Some(Status {
        uid,
        comm: comm_of(raw),
    })
}

/// Parses /proc/PID/cgroup text.
pub fn cgroup_in(text: &str) -> String {
    match cgroup_v2_in(text) {
        Some(p) => p,
        None => text.lines().collect::<Vec<_>>().join(";"),
    }
}

/// The cgroup v2 path in /proc/PID/cgroup text: the `0::PATH` line (cgroups(7)). `None`
/// when there is none: the machine mounts only cgroup v1 hierarchies (`ID:CONTROLLERS:PATH`
/// lines), whose paths differ per controller and name no single group.
pub fn cgroup_v2_in(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(str::to_string)
}

/// The inode of a namespace link's text, `KIND:[INODE]`.
pub fn ns_inode(link: &str, kind: &str) -> Option<u64> {
    link.strip_prefix(kind)?
        .strip_prefix(":[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// The fields of /proc/PID/stat solab uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stat {
    /// Field 2, the command name as [`ProcDir::comm`] gives it.
    pub comm: String,
    /// Field 3: R, S, D, Z, T...
    pub state: char,
    /// Field 4.
    pub ppid: i32,
    /// Field 9.
    pub flags: u64,
}

/// `PF_KTHREAD` (include/linux/sched.h) in the flags field.
const PF_KTHREAD: u64 = 0x0020_0000;

impl Stat {
    /// Whether the process is a kernel thread: the kernel's own flag (status prints the
    /// same flag as `Kthread:`, from Linux 6.1).
    pub fn kernel_thread(&self) -> bool {
        self.flags & PF_KTHREAD != 0
    }
}

/// Parses /proc/PID/stat text (proc(5): `pid (comm) state ppid pgrp session tty_nr tpgid
/// flags ...`). `comm` may hold spaces and parentheses (it is printed unescaped): it is
/// what lies between the first `(` and the last `)`, and the fields start after that.
pub fn parse_stat(stat: &[u8]) -> Option<Stat> {
    let open = stat.iter().position(|&b| b == b'(')?;
    let close = stat.iter().rposition(|&b| b == b')')?;
    let comm = comm_of(stat.get(open + 1..close)?.to_vec());
    let after = std::str::from_utf8(&stat[close + 1..]).ok()?;
    let mut f = after.split_whitespace();
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    let flags = f.nth(4)?.parse().ok()?;
    Some(Stat {
        comm,
        state,
        ppid,
        flags,
    })
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

/// The processes whose real uid is `uid`, ascending, without this one. A process that
/// exits while its status is read is left out.
pub fn of_user(uid: u32) -> Result<Vec<i32>> {
    let own = std::process::id() as i32;
    Ok(list_pids()?
        .into_iter()
        .filter(|&p| p != own && uid_of(p).is_ok_and(|u| u == uid))
        .collect())
}

/// The real uid of process `pid`, from its status.
fn uid_of(pid: i32) -> Result<u32> {
    ProcDir::open(pid)?.status(&mut Vec::new()).map(|s| s.uid)
}

/// The most bytes of /proc/PID/maps read: a process with a million mappings.
const MAX_MAPS_BYTES: u64 = 256 << 20;

/// The most mappings read through PROCMAP_QUERY: the million [`MAX_MAPS_BYTES`] allows
/// for (vm.max_map_count is 65,530 by default). A process with more is an error naming it.
const MAX_MAPS: usize = 1 << 20;

/// How [`ProcDir::read_maps_from`] reads a memory map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapsSource {
    /// The PROCMAP_QUERY ioctl where the kernel has it (6.11+, x86-64), else the text.
    Auto,
    /// The text the kernel formats, parsed by [`crate::maps`].
    Text,
    /// Only the ioctl: `Ok(None)` from [`ProcDir::read_maps_from`] when it cannot give the map.
    Query,
}

/// The environment variable that makes [`ProcDir::read_maps`] read the text even where the ioctl
/// works: `SOLAB_MAPS=text`. For comparing the two, and for a kernel whose ioctl
/// misbehaves.
pub const MAPS_ENV: &str = "SOLAB_MAPS";

fn text_forced() -> bool {
    static FORCED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FORCED.get_or_init(|| std::env::var_os(MAPS_ENV).is_some_and(|v| v == "text"))
}

/// The entries of the open maps `file` of `pid`, read the way `how` says;
/// `refuse_kernel_thread` tells a kernel thread from an exited process when the map is
/// empty.
fn maps_of(
    pid: i32,
    path: &Path,
    file: std::fs::File,
    how: MapsSource,
    refuse_kernel_thread: impl FnOnce() -> Result<()>,
) -> Result<Option<Vec<MapEntry>>> {
    let queried = match how {
        MapsSource::Text => None,
        MapsSource::Auto | MapsSource::Query => query::read(pid, path, &file)?,
    };
    let mut entries = match (queried, how) {
        (Some(entries), _) => entries,
        (None, MapsSource::Query) => return Ok(None),
        (None, _) => read_text(pid, path, file)?,
    };
    for e in &mut entries {
        undo_literal_deleted_suffix(e);
    }
    if entries.is_empty() {
        // A kernel thread has no memory map, but so has a process that exited: a zombie
        // waiting to be reaped, or one gone between open and read. Only PF_KTHREAD tells.
        return Err(match refuse_kernel_thread() {
            Err(e @ Error::KernelThread { .. }) => e,
            _ => Error::NoSuchProcess { pid },
        });
    }
    Ok(Some(entries))
}

/// The text of /proc/PID/maps, parsed.
fn read_text(pid: i32, path: &Path, file: std::fs::File) -> Result<Vec<MapEntry>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    file.take(MAX_MAPS_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| error(pid, path, e))?;
    maps::parse_maps(&bytes).map_err(|b| Error::MapsLine {
        path: path.to_path_buf(),
        line: b.line,
        reason: b.reason,
        text: b.text,
    })
}

/// The PROCMAP_QUERY ioctl on an open /proc/PID/maps (include/uapi/linux/fs.h and
/// fs/proc/task_mmu.c `do_procmap_query`, Linux 6.11): one mapping per call, as a binary
/// struct, the kernel formatting nothing. Access is the file's: whoever could open it
/// (PTRACE_MODE_READ at open) may ask.
mod query {
    use super::{Error, MAX_MAPS, MapEntry, Path, Result, error};
    use crate::addr::VirtAddr;
    use crate::maps::{self, Perms};
    use std::os::fd::AsRawFd;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// `struct procmap_query`, 104 bytes.
    #[repr(C)]
    #[derive(Default)]
    struct ProcmapQuery {
        size: u64,
        query_flags: u64,
        query_addr: u64,
        vma_start: u64,
        vma_end: u64,
        vma_flags: u64,
        vma_page_size: u64,
        vma_offset: u64,
        inode: u64,
        dev_major: u32,
        dev_minor: u32,
        vma_name_size: u32,
        build_id_size: u32,
        vma_name_addr: u64,
        build_id_addr: u64,
    }
    const _: () = assert!(std::mem::size_of::<ProcmapQuery>() == 104);

    /// `_IOWR(PROCFS_IOCTL_MAGIC = 'f', 17, struct procmap_query)`.
    const PROCMAP_QUERY: u64 =
        (3 << 30) | ((std::mem::size_of::<ProcmapQuery>() as u64) << 16) | (0x66 << 8) | 17;
    const VMA_READABLE: u64 = 0x01;
    const VMA_WRITABLE: u64 = 0x02;
    const VMA_EXECUTABLE: u64 = 0x04;
    /// `VM_MAYSHARE`, what the text prints as `s`.
    const VMA_SHARED: u64 = 0x08;
    /// The mapping covering `query_addr`, or the next one above it.
    const COVERING_OR_NEXT_VMA: u64 = 0x10;
    /// The name buffer: `PATH_MAX`, the most the kernel writes (it caps the buffer there
    /// and fails with ENAMETOOLONG beyond).
    const NAME_BYTES: usize = 4096;

    /// Set once a kernel answered ENOTTY or EINVAL: every later read takes the text.
    static UNSUPPORTED: AtomicBool = AtomicBool::new(false);

    /// Every mapping of the open maps `file`, in address order, or `None` where the ioctl
    /// cannot give them (the text then reads the same file).
    pub(super) fn read(
        pid: i32,
        path: &Path,
        file: &std::fs::File,
    ) -> Result<Option<Vec<MapEntry>>> {
        if !cfg!(target_arch = "x86_64") || UNSUPPORTED.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let mut name = [0u8; NAME_BYTES];
        // Most processes have fewer mappings: one allocation instead of a doubling series.
        let mut entries: Vec<MapEntry> = Vec::with_capacity(64);
        let mut addr = 0u64;
        // Whether the last entry's name may serve the next one (see `reusable`), and
        // whether the next one is asked without its name, expected to continue the last.
        let (mut reuse, mut predict) = (false, false);
        loop {
            // After a file mapping, the next one is most often the same file's next part:
            // asked without its name first, and asked again with it if it is not.
            let mut asked = ask(file, addr, (!predict).then_some(&mut name[..]));
            let reused = match (&asked, entries.last()) {
                (Ok(q), Some(last)) => predict && continues(last, q),
                _ => false,
            };
            if predict && !reused && asked.is_ok() {
                asked = ask(file, addr, Some(&mut name[..]));
            }
            let q = match asked {
                Ok(q) => q,
                Err(e) => match e.raw_os_error() {
                    // No mapping at or above `addr`: the end of the map.
                    Some(libc::ENOENT) => break,
                    Some(libc::ENOTTY | libc::EINVAL) if entries.is_empty() => {
                        UNSUPPORTED.store(true, Ordering::Relaxed);
                        return Ok(None);
                    }
                    // A name longer than PATH_MAX: the text prints it whole.
                    Some(libc::ENAMETOOLONG | libc::E2BIG) => return Ok(None),
                    // No address space (a kernel thread, a zombie, an exited process):
                    // the empty map the text shows.
                    Some(libc::ESRCH) if entries.is_empty() => break,
                    _ => return Err(error(pid, path, e)),
                },
            };
            // The kernel returns a mapping ending above `addr`; anything else would loop.
            if q.vma_end <= addr || q.vma_start >= q.vma_end {
                return Err(Error::Io {
                    path: path.to_path_buf(),
                    source: std::io::Error::other(format!(
                        "PROCMAP_QUERY at {addr:#x} returned {:#x}-{:#x}",
                        q.vma_start, q.vma_end
                    )),
                });
            }
            if entries.len() == MAX_MAPS {
                return Err(Error::Io {
                    path: path.to_path_buf(),
                    source: std::io::Error::other(format!("more than {MAX_MAPS} mappings")),
                });
            }
            let target = match entries.last() {
                Some(last) if reused => last.target.clone(),
                _ => {
                    // The size counts the terminating NUL; 0 means no name.
                    let len = (q.vma_name_size as usize).min(NAME_BYTES).saturating_sub(1);
                    reuse = reusable(&name[..len], q.inode);
                    maps::raw_target(&name[..len], q.inode)
                }
            };
            entries.push(MapEntry {
                start: VirtAddr(q.vma_start),
                end: VirtAddr(q.vma_end),
                perms: Perms {
                    read: q.vma_flags & VMA_READABLE != 0,
                    write: q.vma_flags & VMA_WRITABLE != 0,
                    exec: q.vma_flags & VMA_EXECUTABLE != 0,
                    shared: q.vma_flags & VMA_SHARED != 0,
                },
                offset: q.vma_offset,
                dev: (q.dev_major, q.dev_minor),
                inode: q.inode,
                target,
            });
            addr = q.vma_end;
            // An ELF object's last piece is its writable data: what follows it (its .bss,
            // another object) is not the same file, and asking it without its name would
            // only ask twice. The same after shared memory.
            predict = reuse && q.vma_flags & (VMA_WRITABLE | VMA_SHARED) == 0;
        }
        if let (Some(gate), Some(last)) = (gate(), entries.last()) {
            // A 64-bit address space (its stack lies above 4 GiB) has the gate area.
            if last.end.0 > 1 << 32 {
                entries.push(gate.clone());
            }
        }
        Ok(Some(entries))
    }

    /// One PROCMAP_QUERY: the mapping covering `addr` or the next one above it, with its
    /// name in `name` when given (the kernel writes at most its length).
    fn ask(
        file: &std::fs::File,
        addr: u64,
        name: Option<&mut [u8]>,
    ) -> std::io::Result<ProcmapQuery> {
        let mut q = ProcmapQuery {
            size: std::mem::size_of::<ProcmapQuery>() as u64,
            query_flags: COVERING_OR_NEXT_VMA,
            query_addr: addr,
            ..ProcmapQuery::default()
        };
        if let Some(name) = name {
            q.vma_name_size = name.len().min(NAME_BYTES) as u32;
            q.vma_name_addr = name.as_mut_ptr() as u64;
        }
        // SAFETY: `q` is a valid procmap_query whose name buffer, when given, holds
        // `vma_name_size` bytes and lives across the call; the kernel writes no more.
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), PROCMAP_QUERY as _, &mut q) };
        if rc < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(q)
    }

    /// Whether the name of a mapping of `inode` may serve the next mapping too when that
    /// one continues it ([`continues`]): a file's path, which the kernel makes from the
    /// mapping's file (`d_path`, the costliest part of a query: a tenth of `solab libs`).
    /// Not a name the file system makes up (`anon_inode:[perf_event]`), where one inode
    /// has many names.
    fn reusable(name: &[u8], inode: u64) -> bool {
        inode != 0 && name.first() == Some(&b'/')
    }

    /// Whether `q` (asked without its name) starts where `last` ends and maps the same
    /// file: the next part of one file mapped in one piece (an ELF object's segments) has
    /// the same name. Two pieces of one file mapped through two of its names (hard links,
    /// two mounts of one file system) side by side would give both the first name: the
    /// one place the ioctl reader and the text differ there (see [`super::ProcDir::read_maps_from`]).
    fn continues(last: &MapEntry, q: &ProcmapQuery) -> bool {
        last.end.0 == q.vma_start && last.dev == (q.dev_major, q.dev_minor) && last.inode == q.inode
    }

    /// The gate area, `[vsyscall]` on x86-64: the text prints it after the last mapping
    /// (fs/proc/task_mmu.c `proc_get_vma` ends with `get_gate_vma`), but it is not in the
    /// process's tree of mappings and the ioctl never returns it. One fixed page in the
    /// kernel's half of the address space, the same in every 64-bit process (none in a
    /// 32-bit one, none with vsyscall=none): read once from solab's own text map.
    fn gate() -> Option<&'static MapEntry> {
        static GATE: std::sync::OnceLock<Option<MapEntry>> = std::sync::OnceLock::new();
        GATE.get_or_init(|| {
            let own = std::process::id() as i32;
            let path = super::proc_path(own, "maps");
            let file = std::fs::File::open(&path).ok()?;
            let text = super::read_text(own, &path, file).ok()?;
            text.into_iter().find(|m| m.start.0 >= 1 << 63)
        })
        .as_ref()
    }
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

/// A file really named `x (deleted)` prints exactly like a deleted file `x`: when a file
/// of the mapping's (device, inode) is at the literal name, the name is that and the file
/// is not deleted. Checked with `lstat`: nothing at that path is opened or followed.
fn undo_literal_deleted_suffix(entry: &mut MapEntry) {
    let (
        Some(id),
        MapTarget::File {
            path,
            deleted: true,
        },
    ) = (entry.file_id(), &entry.target)
    else {
        return;
    };
    let mut literal = path.as_os_str().to_os_string();
    literal.push(" (deleted)");
    let same = std::fs::symlink_metadata(&literal).is_ok_and(|m| {
        m.file_type().is_file() && m.ino() == id.inode && split_dev(m.dev()) == id.dev
    });
    if same {
        entry.target = MapTarget::File {
            path: Path::new(&literal).into(),
            deleted: false,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            parse_stat(b"9 (\xff) S 1 1 1 0 -1 0").map(|s| s.comm),
            Some("?".into())
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
        // Not UTF-8: `?`, as comm() gives.
        let s = parse_status(b"Name:\t\xff\nUid:\t1\t1\t1\t1\n").expect("status");
        assert_eq!((s.uid, s.comm.as_str()), (1, "?"));
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
