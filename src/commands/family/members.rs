//! Who is in a family, and opening a member when its turn comes: the family is found in one
//! pass of the door over /proc (each process's stat read once), and a member is opened
//! again only by the job that reads it, at the door (its directory, the pid-reuse-safe
//! handle) and checked against the start time that pass saw, so that no descriptor is held
//! per member for the run.

use crate::error::{Error, Result};
use crate::kernel::pagemap::Pagemap;
use crate::kernel::process::{Gone, ProcDir, Stat};
use crate::maps::MapEntry;
use crate::scan::{self, Door, Visit};
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

/// The root and its descendants, each after its parent: every process listed in /proc but
/// solab itself ([`scan::all_but_self`]: run by a member, as `sh -c 'solab family $$'`,
/// solab is none of the family; given as the root, it is read) is opened at the door and
/// its stat read once, on `threads` workers (a process's parent is known from its own stat
/// only). A process gone during the pass is none of the family.
pub(super) fn descendants(root: i32, threads: usize) -> Result<Vec<Found>> {
    let listed = scan::each_opened(
        scan::all_but_self,
        threads,
        Door::default(),
        |_| (),
        |_, opened| opened.dir.stat(),
    )?;
    let found = |pid: i32, s: Stat| Found {
        pid,
        ppid: s.ppid,
        depth: 0,
        comm: s.comm,
        start_time: s.start_time,
    };
    let mut children: HashMap<i32, Vec<Found>> = HashMap::new();
    let mut top = None;
    for (&pid, visit) in listed.pids.iter().zip(listed.results) {
        let Visit::Read(s) = visit else {
            continue;
        };
        if pid == root {
            top = Some(found(pid, s));
        } else {
            children.entry(s.ppid).or_default().push(found(pid, s));
        }
    }
    // Not listed (a thread's id, or it started or vanished during the pass): its own open
    // says whether it is there.
    let top = match top {
        Some(t) => t,
        None => match scan::visit(root, 0, Door::default(), |opened| opened.dir.stat()) {
            Visit::Read(s) => found(root, s),
            Visit::Gone(g) => return Err(g.into_error(root)),
            Visit::Other => return Err(Error::NoSuchProcess { pid: root }),
        },
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
pub(super) struct OpenMember {
    pub dir: ProcDir,
    pub maps: Vec<MapEntry>,
    pub pm: Pagemap,
}

/// Reads member `m` through `dir`: the process there must have the start time the pass saw
/// (else the member exited and its pid was taken: it is gone).
fn read(m: &Found, dir: &ProcDir) -> Result<(Vec<MapEntry>, Pagemap)> {
    if dir.stat()?.start_time != m.start_time {
        return Err(Error::NoSuchProcess { pid: m.pid });
    }
    Ok((dir.read_maps()?, Pagemap::open(dir)?))
}

/// Opens member `m` at the door ([`scan::hold`]) and reads it; a failure is classified by
/// the door.
pub(super) fn open(m: &Found) -> std::result::Result<OpenMember, Gone> {
    let dir = match scan::hold(m.pid, Door::default()) {
        Visit::Read(held) => held.dir,
        Visit::Gone(g) => return Err(g),
        // Door::default keeps every uid.
        Visit::Other => return Err(Gone::Vanished),
    };
    match read(m, &dir) {
        Ok((maps, pm)) => Ok(OpenMember { dir, maps, pm }),
        Err(e) => Err(scan::gone(&dir, e)),
    }
}

/// Reads member `m`, which the door opened as `dir` for a worker of its pool; an error is
/// the door's to classify.
pub(super) fn open_at(m: &Found, dir: &ProcDir) -> Result<OpenMember> {
    let (maps, pm) = read(m, dir)?;
    Ok(OpenMember {
        dir: dir.try_clone()?,
        maps,
        pm,
    })
}
