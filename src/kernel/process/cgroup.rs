//! /proc/PID/cgroup (cgroups(7); kernel/cgroup/cgroup.c `proc_cgroup_show`) and the
//! /proc/PID/ns/mnt link (namespaces(7)): which control group and mount namespace a
//! process is in. Access: cgroup any process may read; ns/mnt needs the access that reading
//! the process's memory needs (PTRACE_MODE_READ).

use super::{ProcDir, error};
use crate::error::{Error, Result};

impl ProcDir {
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
