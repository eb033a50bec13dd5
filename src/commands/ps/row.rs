//! One process's row: the worker that reads it, who the process is, its figures rounded,
//! and what grouping keeps beside it.

use super::cgroup::CgroupPaths;
use super::engine::{ProcessScan, Scanner};
use super::{ByClass, Cost, PsOptions, PsRow};
use crate::error::Result;
use crate::kernel::process::ProcDir;
use crate::scan::{Opened, Visit};
use crate::sharing::MemClass;

/// What a worker makes of one process: its row, None when a filter leaves it out.
pub(super) type PsScan = Visit<Option<(PsRow, RowFrames)>>;

/// One worker of the scan: its frame engine, and what it keeps to name the processes.
pub(super) struct Worker<'a> {
    engine: Scanner<'a>,
    /// The text of a /proc file being read, reused.
    text: Vec<u8>,
    users: std::collections::HashMap<u32, String>,
    /// The cgroup paths met, by id.
    cgroup_paths: CgroupPaths,
}

impl<'a> Worker<'a> {
    pub(super) fn new(engine: Scanner<'a>) -> Self {
        Worker {
            engine,
            text: Vec::new(),
            users: Default::default(),
            cgroup_paths: CgroupPaths::default(),
        }
    }

    /// The row of the process the door opened, if it passes the filters of `opts`; with
    /// `keep_frames` the frames of its pages too. Every file of the process is read
    /// through its directory: all of this process even if its number is reused meanwhile.
    pub(super) fn read(
        &mut self,
        opts: &PsOptions,
        keep_frames: bool,
        opened: Opened<'_>,
    ) -> Result<Option<(PsRow, RowFrames)>> {
        let (position, dir, info) = (opened.position, opened.dir, opened.info);
        let pid = dir.pid();
        // The real uid from the pidfd and the name from comm: no status text for the
        // kernel to format. A child of kthreadd (pid 2) may be a kernel thread, refused
        // here without opening its maps; a kernel without the pidfd's answer reads
        // status (and a kernel thread is refused where its map reads empty).
        let (uid, comm) = match info {
            Some(i) if pid != 2 && i.ppid != 2 => (i.ruid, dir.comm_of(&mut self.text)?),
            _ => {
                if info.is_some() {
                    dir.refuse_kernel_thread()?;
                }
                let status = dir.status(&mut self.text)?;
                (status.uid, status.comm)
            }
        };
        let keep = opts.uid.is_none_or(|u| u == uid)
            && opts.command.as_ref().is_none_or(|r| r.is_match(&comm));
        if !keep {
            return Ok(None);
        }
        let user = self
            .users
            .entry(uid)
            .or_insert_with(|| user_name(uid))
            .clone();
        let scanned = self.engine.scan(position, dir, keep_frames)?;
        let cgroup_paths = opts.placement.then_some(&mut self.cgroup_paths);
        let mut who = Who::read(dir, (uid, comm), user, cgroup_paths, &mut self.text);
        if opts.cmdline {
            // A process that exits meanwhile keeps its row, with an empty command line.
            who.cmdline = Some(
                dir.cmdline(&mut self.text, super::CMDLINE_LIMIT)
                    .unwrap_or_default(),
            );
        }
        Ok(Some(row(pid, who, scanned)))
    }
}

/// The name of a uid, or the number.
pub fn user_name(uid: u32) -> String {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map_or_else(|| uid.to_string(), |u| u.name)
}

/// Who a process is, read by its worker: the row's fields but the figures.
struct Who {
    uid: u32,
    user: String,
    comm: String,
    cgroup: String,
    cgroup_v1: bool,
    mnt_ns: Option<u64>,
    cmdline: Option<String>,
}

impl Who {
    /// The rest of the row's fields, read through the process's directory: the same
    /// process as its status and its memory (`buf` is reused for the text).
    fn read(
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
            cmdline: None,
        }
    }
}

/// What the scan keeps of a process beside its row, for grouping: whether it has no
/// cgroup v2 path (a cgroup v1 machine), and with groups, as root, the frame of every
/// present page with its class in the low two bits (`pfn << 2 | class`), sorted; as
/// root the swap entries of its pages in swap the same way, for swap counted once
/// ([`super::swap`]), the swap of its `MAP_SHARED` mappings (shmem in swap, divided among
/// the scanned processes by [`super::swap::share_shmem`]), and whether its smaps lacked
/// SwapPss.
pub(super) struct RowFrames {
    pub(super) cgroup_v1: bool,
    pub(super) frames: Vec<u64>,
    pub(super) swaps: Vec<u64>,
    pub(super) shmem: Vec<super::swap::ShmemSwap>,
    pub(super) no_swap_pss: bool,
}

fn row(pid: i32, who: Who, scanned: ProcessScan) -> (PsRow, RowFrames) {
    let ProcessScan {
        acc,
        frames,
        swaps,
        shmem,
        no_swap_pss,
    } = scanned;
    let mut classes = ByClass::default();
    let mut pss = 0.0;
    for (c, a) in MemClass::ALL.iter().zip(acc) {
        *classes.get_mut(*c) = Cost {
            rss: a.rss,
            pss: a.pss.round() as u64,
            uss: a.uss,
            swap: a.swap,
            swap_pss: a.swap_pss,
            swap_unique: None,
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
        cmdline: who.cmdline,
        comm_bytes: super::report::name_bytes(&who.comm),
        comm: who.comm,
        cost,
        classes,
    };
    (
        row,
        RowFrames {
            cgroup_v1: who.cgroup_v1,
            frames,
            swaps,
            shmem,
            no_swap_pss,
        },
    )
}
