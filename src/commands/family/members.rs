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

/// Every process listed in /proc but solab itself ([`scan::all_but_self`]: run by a member,
/// as `sh -c 'solab family $$'`, solab is none of the family; given as the root, it is
/// read) with its parent, command name, start time and (when asked) its executable's
/// (device, inode): one pass of the door, each process's stat read once, on `threads`
/// workers. Families are read from it ([`descendants_in`]): one tree
/// serves every family of a run, and the search for fork families
/// ([`crate::commands::prove::families::fork_families_in`]).
pub struct Tree {
    /// The processes read, in the order of their pids.
    pids: Vec<i32>,
    nodes: HashMap<i32, (Found, Option<(u64, u64)>)>,
    /// Each parent's children, in the order of their pids.
    children: HashMap<i32, Vec<i32>>,
}

impl Tree {
    /// The pass over /proc; `exe`: each executable's identity read too.
    pub fn read(threads: usize, exe: bool) -> Result<Tree> {
        let listed = scan::each_opened(
            scan::all_but_self,
            threads,
            Door::default(),
            |_| (),
            |_, opened| {
                Ok((
                    opened.dir.stat()?,
                    exe.then(|| opened.dir.exe_id()).flatten(),
                ))
            },
        )?;
        let mut tree = Tree {
            pids: Vec::with_capacity(listed.pids.len()),
            nodes: HashMap::with_capacity(listed.pids.len()),
            children: HashMap::new(),
        };
        for (&pid, visit) in listed.pids.iter().zip(listed.results) {
            let Visit::Read((s, exe)) = visit else {
                continue;
            };
            tree.pids.push(pid);
            tree.children.entry(s.ppid).or_default().push(pid);
            tree.nodes.insert(pid, (found(pid, s), exe));
        }
        Ok(tree)
    }

    /// The processes read, in the order of their pids.
    pub fn pids(&self) -> &[i32] {
        &self.pids
    }

    /// The parent (`None`: 0) and executable's identity of `pid`, if it was read.
    pub fn parent_and_exe(&self, pid: i32) -> Option<ParentExe> {
        self.nodes
            .get(&pid)
            .map(|(f, exe)| (Some(f.ppid).filter(|&p| p > 0), *exe))
    }
}

/// A process's parent (`None`: 0) and its executable's (device, inode) (`None`: not read).
pub type ParentExe = (Option<i32>, Option<(u64, u64)>);

fn found(pid: i32, s: Stat) -> Found {
    Found {
        pid,
        ppid: s.ppid,
        depth: 0,
        comm: s.comm,
        start_time: s.start_time,
    }
}

/// The root and its descendants, each after its parent, from one pass over /proc
/// ([`Tree::read`]): a process's parent is known from its own stat only. A process gone
/// during the pass is none of the family.
pub(super) fn descendants(root: i32, threads: usize) -> Result<Vec<Found>> {
    descendants_in(root, &Tree::read(threads, false)?)
}

/// The root and its descendants in `tree`, each after its parent.
pub(super) fn descendants_in(root: i32, tree: &Tree) -> Result<Vec<Found>> {
    let copy = |pid: &i32| {
        tree.nodes.get(pid).map(|(f, _)| Found {
            pid: f.pid,
            ppid: f.ppid,
            depth: 0,
            comm: f.comm.clone(),
            start_time: f.start_time,
        })
    };
    // Not listed (a thread's id, or it started or vanished during the pass): its own open
    // says whether it is there.
    let top = match copy(&root) {
        Some(t) => t,
        None => match scan::visit(root, 0, Door::default(), |opened| opened.dir.stat()) {
            Visit::Read(s) => found(root, s),
            Visit::Gone(g) => return Err(g.into_error(root)),
            Visit::Other => return Err(Error::NoSuchProcess { pid: root }),
        },
    };
    let mut out = vec![top];
    let mut i = 0;
    // Each process once, even where pids were reused into a loop of parents.
    let mut seen = std::collections::HashSet::from([root]);
    while i < out.len() {
        let (pid, depth) = (out[i].pid, out[i].depth);
        for c in tree.children.get(&pid).into_iter().flatten() {
            if c == &root || !seen.insert(*c) {
                continue;
            }
            if let Some(mut c) = copy(c) {
                c.depth = depth + 1;
                out.push(c);
            }
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
