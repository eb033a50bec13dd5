//! One process's row: who it is, its figures rounded, and what grouping keeps beside it.

use super::cgroup::CgroupPaths;
use super::engine::ClassSum;
use super::{ByClass, Cost, PsRow};
use crate::kernel::process::ProcDir;
use crate::sharing::MemClass;

/// The name of a uid, or the number.
pub fn user_name(uid: u32) -> String {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map_or_else(|| uid.to_string(), |u| u.name)
}

/// Who a process is, read by its worker: the row's fields but the figures.
pub(super) struct Who {
    uid: u32,
    user: String,
    comm: String,
    cgroup: String,
    cgroup_v1: bool,
    mnt_ns: Option<u64>,
}

impl Who {
    /// The rest of the row's fields, read through the process's directory: the same
    /// process as its status and its memory (`buf` is reused for the text).
    pub(super) fn read(
        dir: &ProcDir,
        (uid, comm): (u32, String),
        user: String,
        cgroup_paths: Option<&mut CgroupPaths>,
        buf: &mut Vec<u8>,
    ) -> Who {
        let (cgroup, cgroup_v1, mnt_ns) = match cgroup_paths {
            Some(p) => {
                let (cgroup, v1) = p.cgroup(dir, buf);
                (cgroup, v1, dir.mnt_ns().ok())
            }
            None => (String::new(), false, None),
        };
        Who {
            uid,
            user,
            comm,
            cgroup,
            cgroup_v1,
            mnt_ns,
        }
    }
}

/// What the scan keeps of a process beside its row, for grouping: whether it has no
/// cgroup v2 path (a cgroup v1 machine), and with groups, as root, the frame of every
/// present page with its class in the low two bits (`pfn << 2 | class`), sorted.
pub(super) struct RowFrames {
    pub(super) cgroup_v1: bool,
    pub(super) frames: Vec<u64>,
}

pub(super) fn row(pid: i32, who: Who, scanned: ([ClassSum; 4], Vec<u64>)) -> (PsRow, RowFrames) {
    let (acc, frames) = scanned;
    let mut classes = ByClass::default();
    let mut pss = 0.0;
    for (c, a) in MemClass::ALL.iter().zip(acc) {
        *classes.get_mut(*c) = Cost {
            rss: a.rss,
            pss: a.pss.round() as u64,
            uss: a.uss,
            swap: a.swap,
        };
        pss += a.pss;
    }
    let mut cost = Cost::default();
    for c in MemClass::ALL {
        cost.add(classes.get(c));
    }
    cost.pss = pss.round() as u64;
    let row = PsRow {
        pid,
        uid: who.uid,
        user: who.user,
        cgroup: who.cgroup,
        mnt_ns: who.mnt_ns,
        comm: who.comm,
        cost,
        classes,
    };
    (
        row,
        RowFrames {
            cgroup_v1: who.cgroup_v1,
            frames,
        },
    )
}
