//! Who is in a family, and opening a member when its turn comes: the family is found in one
//! pass over /proc (each process's stat read once), and a member is opened again only by the
//! job that reads it, through its directory (the pid-reuse-safe handle) and checked against
//! the start time that pass saw, so that no descriptor is held per member for the run.

use crate::error::{Error, Result};
use crate::kernel::pagemap::Pagemap;
use crate::kernel::process::{self, ProcDir};
use crate::maps::MapEntry;
use crate::scan::PidError;
use std::collections::HashMap;

/// A member of the family as the pass over /proc found it.
pub(super) struct Found {
    pub pid: i32,
    pub ppid: i32,
    /// 0 for the root, 1 for its children...
    pub depth: u32,
    pub comm: String,
    /// From stat: the member opened later must have the same.
    pub start_time: Option<u64>,
}

/// The root and its descendants, each after its parent. Every process's stat is read once
/// (a process's parent is known from its own stat only).
pub(super) fn descendants(root: i32) -> Result<Vec<Found>> {
    let mut children: HashMap<i32, Vec<Found>> = HashMap::new();
    let mut top = None;
    for pid in process::list_pids()? {
        let Ok(s) = ProcDir::open(pid).and_then(|d| d.stat()) else {
            continue;
        };
        let found = Found {
            pid,
            ppid: s.ppid,
            depth: 0,
            comm: s.comm,
            start_time: s.start_time,
        };
        if pid == root {
            top = Some(found);
        } else {
            children.entry(s.ppid).or_default().push(found);
        }
    }
    // Not listed (a thread's id, or it started or vanished during the pass): its own open
    // says whether it is there.
    let top = match top {
        Some(t) => t,
        None => {
            let s = ProcDir::open(root).and_then(|d| d.stat())?;
            Found {
                pid: root,
                ppid: s.ppid,
                depth: 0,
                comm: s.comm,
                start_time: s.start_time,
            }
        }
    };
    let mut out = vec![top];
    let mut i = 0;
    while i < out.len() {
        let (pid, depth) = (out[i].pid, out[i].depth);
        for mut c in children.remove(&pid).unwrap_or_default() {
            c.depth = depth + 1;
            out.push(c);
        }
        i += 1;
    }
    Ok(out)
}

/// A member opened for reading: its directory, memory map and pagemap, all of one process.
pub(super) struct Opened {
    pub dir: ProcDir,
    pub maps: Vec<MapEntry>,
    pub pm: Pagemap,
}

/// Opens member `m`: the process now at its pid must have the start time the pass saw (else
/// the member exited and its pid was taken: it is gone). On failure, the error and the
/// directory where it opened, to tell why ([`member_error`]).
pub(super) fn open(m: &Found) -> std::result::Result<Opened, (Option<ProcDir>, Error)> {
    let dir = ProcDir::open(m.pid).map_err(|e| (None, e))?;
    let read = |dir: &ProcDir| -> Result<(Vec<MapEntry>, Pagemap)> {
        if dir.stat()?.start_time != m.start_time {
            return Err(Error::NoSuchProcess { pid: m.pid });
        }
        Ok((dir.read_maps()?, Pagemap::open(dir)?))
    };
    match read(&dir) {
        Ok((maps, pm)) => Ok(Opened { dir, maps, pm }),
        Err(e) => Err((Some(dir), e)),
    }
}

/// Why member `pid` (its directory `dir`, where it opened) could not be read, naming it,
/// in the words of every command.
pub(super) fn member_error(pid: i32, dir: Option<&ProcDir>, e: Error) -> PidError {
    PidError::gone(pid, &process::classify(dir, e))
}
