//! A process as /proc shows it (proc(5)): its memory map (/proc/PID/maps, parsed by
//! [`crate::maps`]), /proc/PID/stat (parent, flags), /proc/PID/status (uid) and comm; and
//! the one way solab tells a process that exited, a zombie, a kernel thread and a process
//! it may not read apart ([`Gone`]).

use super::{CAP_SYS_PTRACE, has_capability};
use crate::error::{Error, Result};
use crate::maps::{self, MapEntry, MapTarget, split_dev};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub fn proc_path(pid: i32, file: &str) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/{file}"))
}

/// An I/O error on a file of process `pid`: ESRCH or ENOENT means the process is gone,
/// EACCES/EPERM a refusal, with a hint only where it is true (CAP_SYS_PTRACE missing).
pub fn error(pid: i32, path: &Path, source: std::io::Error) -> Error {
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

/// Whether a process exists at all: its /proc directory is there.
pub fn exists(pid: i32) -> bool {
    pid > 0 && Path::new(&format!("/proc/{pid}")).exists()
}

/// The short command name of a process, or `?`.
pub fn comm(pid: i32) -> String {
    std::fs::read_to_string(proc_path(pid, "comm"))
        .map(|s| s.trim_end().to_string())
        .unwrap_or_else(|_| "?".into())
}

/// The real uid of a process.
pub fn uid(pid: i32) -> Result<u32> {
    let path = proc_path(pid, "status");
    let status = std::fs::read_to_string(&path).map_err(|e| error(pid, &path, e))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Error::Io {
            path,
            source: std::io::Error::other("no Uid: line"),
        })
}

/// The control group of a process: the path of the cgroup v2 line (`0::/path`) of
/// /proc/PID/cgroup, or on a cgroup v1 system the lines joined with `;`.
pub fn cgroup(pid: i32) -> Result<String> {
    Ok(cgroup_in(&cgroup_text(pid)?))
}

/// The text of /proc/PID/cgroup, for [`cgroup_in`] and [`cgroup_v2_in`].
pub fn cgroup_text(pid: i32) -> Result<String> {
    let path = proc_path(pid, "cgroup");
    std::fs::read_to_string(&path).map_err(|e| error(pid, &path, e))
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

/// The cgroup v2 path of a process; `Ok(None)` on a cgroup v1 machine.
pub fn cgroup_v2(pid: i32) -> Result<Option<String>> {
    Ok(cgroup_v2_in(&cgroup_text(pid)?))
}

/// The mount namespace of a process: the inode in the `mnt:[INODE]` link
/// /proc/PID/ns/mnt (namespaces(7)). Reading it needs the same access as reading the
/// process's memory.
pub fn mnt_ns(pid: i32) -> Result<u64> {
    let path = proc_path(pid, "ns/mnt");
    let link = std::fs::read_link(&path).map_err(|e| error(pid, &path, e))?;
    ns_inode(&link.to_string_lossy(), "mnt").ok_or_else(|| Error::Io {
        path,
        source: std::io::Error::other(format!("unexpected link {link:?}")),
    })
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
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
    pub fn kernel_thread(&self) -> bool {
        self.flags & PF_KTHREAD != 0
    }
}

/// Parses /proc/PID/stat text (proc(5): `pid (comm) state ppid pgrp session tty_nr tpgid
/// flags ...`). `comm` may hold spaces and parentheses: fields start after the last `)`.
pub fn parse_stat(stat: &str) -> Option<Stat> {
    let after = &stat[stat.rfind(')')? + 1..];
    let mut f = after.split_whitespace();
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    let flags = f.nth(4)?.parse().ok()?;
    Some(Stat { state, ppid, flags })
}

pub fn stat(pid: i32) -> Result<Stat> {
    let path = proc_path(pid, "stat");
    let text = std::fs::read_to_string(&path).map_err(|e| error(pid, &path, e))?;
    parse_stat(&text).ok_or_else(|| Error::Io {
        path,
        source: std::io::Error::other("unexpected format"),
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
        .filter(|&p| p != own && self::uid(p).is_ok_and(|u| u == uid))
        .collect())
}

/// The most bytes of /proc/PID/maps read: a process with a million mappings.
const MAX_MAPS_BYTES: u64 = 256 << 20;

/// Reads and parses /proc/PID/maps. An empty map is a kernel thread or a process that
/// has exited; [`Error::KernelThread`] and [`Error::NoSuchProcess`] tell which.
pub fn read_maps(pid: i32) -> Result<Vec<MapEntry>> {
    use std::io::Read;
    if pid <= 0 {
        return Err(Error::NoSuchProcess { pid });
    }
    let path = proc_path(pid, "maps");
    let mut bytes = Vec::new();
    std::fs::File::open(&path)
        .and_then(|f| f.take(MAX_MAPS_BYTES).read_to_end(&mut bytes))
        .map_err(|e| error(pid, &path, e))?;
    let mut entries = maps::parse_maps(&bytes).map_err(|b| Error::MapsLine {
        path: path.clone(),
        line: b.line,
        reason: b.reason,
        text: b.text,
    })?;
    for e in &mut entries {
        undo_literal_deleted_suffix(e);
    }
    if entries.is_empty() {
        // A kernel thread has no memory map, but so has a process that exited: a zombie
        // waiting to be reaped, or one gone between open and read. Only PF_KTHREAD tells.
        return Err(match stat(pid) {
            Ok(s) if s.kernel_thread() => Error::KernelThread {
                pid,
                comm: comm(pid),
            },
            _ => Error::NoSuchProcess { pid },
        });
    }
    Ok(entries)
}

/// Whether `pid` is gone, or has no memory map any more while not being a kernel thread.
pub fn exited(pid: i32) -> bool {
    matches!(read_maps(pid), Err(Error::NoSuchProcess { .. }))
}

/// Why a process could not be scanned, in the words every command uses.
#[derive(Debug)]
pub enum Gone {
    /// It does not exist: it never did, or exited during the scan.
    Vanished,
    /// A kernel thread, or a zombie: no memory map.
    NoMemoryMap,
    /// It exists but could not be read (permission, or another error).
    Unreadable(Error),
}

/// Classifies an error met while scanning `pid`.
pub fn classify(pid: i32, e: Error) -> Gone {
    match e {
        Error::NoSuchProcess { .. } => Gone::Vanished,
        _ if !exists(pid) => Gone::Vanished,
        Error::KernelThread { .. } => Gone::NoMemoryMap,
        // A process that exits while its pagemap is read gives a short read.
        Error::Io { ref source, .. }
            if source.kind() == std::io::ErrorKind::UnexpectedEof && exited(pid) =>
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
    let mut literal = path.clone().into_os_string();
    literal.push(" (deleted)");
    let same = std::fs::symlink_metadata(&literal).is_ok_and(|m| {
        m.file_type().is_file() && m.ino() == id.inode && split_dev(m.dev()) == id.dev
    });
    if same {
        entry.target = MapTarget::File {
            path: literal.into(),
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
        let kthreadd = "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 11 0 0";
        let zombie = "15532 (sleep) Z 15398 15396 16220 0 -1 4228108 76 0 0 0 0 0 0 0";
        let odd = "7 (a) b (c)) R 1 1 1 0 -1 4194560 0 0";
        assert!(parse_stat(kthreadd).expect("kthreadd").kernel_thread());
        let z = parse_stat(zombie).expect("zombie");
        assert_eq!((z.state, z.ppid, z.kernel_thread()), ('Z', 15398, false));
        assert_eq!(parse_stat(odd).map(|s| (s.state, s.ppid)), Some(('R', 1)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn cgroup_lines() {
        assert_eq!(
            cgroup_in("0::/system.slice/nginx.service\n"),
            "/system.slice/nginx.service"
        );
        assert_eq!(cgroup_in("12:pids:/a\n11:cpu:/b\n"), "12:pids:/a;11:cpu:/b");
        assert!(cgroup(std::process::id() as i32).is_ok());
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
        assert!(mnt_ns(std::process::id() as i32).is_ok_and(|n| n > 0));
    }

    #[test]
    fn missing_pid_is_named() {
        let e = read_maps(i32::MAX).expect_err("no such pid");
        assert!(
            matches!(e, Error::NoSuchProcess { pid } if pid == i32::MAX),
            "{e}"
        );
        assert!(e.to_string().contains(&i32::MAX.to_string()));
    }

    #[test]
    fn own_maps_and_stat() {
        let pid = std::process::id() as i32;
        let maps = read_maps(pid).expect("own maps");
        assert!(maps.iter().any(|m| m.is_pseudo("[stack]")));
        let s = stat(pid).expect("own stat");
        assert_eq!(s.ppid, nix::unistd::getppid().as_raw());
    }
}
