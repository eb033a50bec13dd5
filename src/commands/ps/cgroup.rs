//! The cgroup path of each process, read once per cgroup and worker.

use crate::kernel::process::{self, ProcDir};
use crate::scan;

/// A worker's cgroup paths by cgroup v2 id ([`process::PidInfo::cgroup_id`]): many
/// processes share a group, and its path is read from /proc/PID/cgroup once per worker
/// instead of once per process (the text costs the kernel more than the rest of a row).
#[derive(Default)]
pub(super) struct CgroupPaths {
    paths: scan::WordMap<u64, String>,
}

impl CgroupPaths {
    /// The cgroup path of the process (empty if unreadable) and whether the machine has
    /// only cgroup v1 (no `0::` line).
    pub(super) fn cgroup(&mut self, dir: &ProcDir, buf: &mut Vec<u8>) -> (String, bool) {
        let id = dir.info().and_then(|i| i.cgroup_id);
        if let Some(path) = id.and_then(|id| self.paths.get(&id)) {
            return (path.clone(), false);
        }
        // One read of /proc/PID/cgroup for both the path and whether it is a v2 one.
        let Ok(text) = dir.cgroup_text(buf) else {
            return (String::new(), false);
        };
        let Some(v2) = process::cgroup_v2_in(text) else {
            return (process::cgroup_in(text), true);
        };
        // Kept only if the process is still in the group whose id was asked before the
        // text was read: one that moved meanwhile must not name the group it left.
        if let Some(id) = id
            && dir.info().and_then(|i| i.cgroup_id) == Some(id)
        {
            self.paths.insert(id, v2.clone());
        }
        (v2, false)
    }
}
