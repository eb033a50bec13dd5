//! Fork families among the pids of a proof, from the parent chain in /proc/PID/stat and
//! the executable's identity.
//!
//! Two processes are of one fork family when both descend by fork from a common ancestor
//! (or one is the other's ancestor) and every process on the way runs the same executable:
//! nothing on the way exec'd another program, which would have replaced the memory fork
//! shares. init and kthreadd never count. So each process has a line: itself and the
//! ancestors above it that run its executable, up to the farthest (its top); two processes
//! are of one family exactly when their lines meet, that is when their tops are one
//! process. Tops are found once a process (each line walked once, the rest looked up), so
//! the families cost time linear in the processes and their ancestors, never in pairs.

use super::Family;
use crate::scan::{self, Door, Visit};
use std::collections::HashMap;

/// How far up a parent chain is followed.
const MAX_DEPTH: usize = 4096;

/// What a process met on the way up tells: its parent (`None`: none, or unreadable) and its
/// executable's (device, inode) (`None`: unreadable).
#[derive(Clone, Copy)]
struct Node {
    parent: Option<i32>,
    exe: Option<(u64, u64)>,
}

/// The processes met, each read once, and each one's top once known.
#[derive(Default)]
struct Tree<'k> {
    /// What a pass over /proc already read ([`fork_families_in`]).
    known: Option<&'k crate::commands::family::Tree>,
    nodes: HashMap<i32, Node>,
    /// `None`: the executable is unknown, the process is of no family.
    tops: HashMap<i32, Option<i32>>,
}

impl Tree<'_> {
    fn node(&mut self, pid: i32) -> Node {
        let known = self.known.and_then(|k| k.parent_and_exe(pid));
        *self.nodes.entry(pid).or_insert_with(|| {
            if let Some((parent, exe)) = known {
                return Node { parent, exe };
            }
            let read = scan::visit(pid, 0, Door::default(), |opened| {
                Ok(Node {
                    parent: opened.dir.stat().ok().map(|s| s.ppid).filter(|&p| p > 0),
                    exe: opened.dir.exe_id(),
                })
            });
            match read {
                Visit::Read(node) => node,
                Visit::Other | Visit::Gone(_) => Node {
                    parent: None,
                    exe: None,
                },
            }
        })
    }

    /// The parent of `pid` when it is on `pid`'s line: above kthreadd and running the same
    /// executable.
    fn line_parent(&mut self, pid: i32) -> Option<i32> {
        let me = self.node(pid);
        let parent = me.parent.filter(|&p| p > 2)?;
        (me.exe.is_some() && self.node(parent).exe == me.exe).then_some(parent)
    }

    /// The farthest process of `pid`'s line; `None` when its executable is unknown.
    fn top(&mut self, pid: i32) -> Option<i32> {
        if let Some(&t) = self.tops.get(&pid) {
            return t;
        }
        if self.node(pid).exe.is_none() {
            self.tops.insert(pid, None);
            return None;
        }
        let mut path = vec![pid];
        let mut on_path: std::collections::HashSet<i32> = [pid].into();
        let mut at = pid;
        let top = loop {
            if path.len() >= MAX_DEPTH {
                break at;
            }
            let Some(parent) = self.line_parent(at) else {
                break at;
            };
            // A parent already met on this walk: the chain loops (pids reused), stop.
            if !on_path.insert(parent) {
                break at;
            }
            if let Some(&known) = self.tops.get(&parent) {
                break known.unwrap_or(parent);
            }
            path.push(parent);
            at = parent;
        };
        for p in path {
            self.tops.insert(p, Some(top));
        }
        Some(top)
    }

    /// The nearest process every one of `members` (of one line's family) descends from or
    /// is: the lowest place where the others' lines join the first member's.
    fn root(&mut self, members: &[i32]) -> i32 {
        let first = members[0];
        let mut line: HashMap<i32, usize> = HashMap::new();
        let mut order = vec![first];
        line.insert(first, 0);
        let mut at = first;
        while order.len() < MAX_DEPTH {
            let Some(parent) = self.line_parent(at) else {
                break;
            };
            if line.contains_key(&parent) {
                break;
            }
            line.insert(parent, order.len());
            order.push(parent);
            at = parent;
        }
        let mut highest = 0;
        for &m in &members[1..] {
            let mut at = m;
            for _ in 0..MAX_DEPTH {
                if let Some(&i) = line.get(&at) {
                    highest = highest.max(i);
                    break;
                }
                match self.line_parent(at) {
                    Some(parent) => at = parent,
                    None => break,
                }
            }
        }
        order[highest]
    }
}

/// Fork families among `pids` (distinct), each with two or more of them, in the order of
/// their first member in `pids`; the members in the order given.
pub fn fork_families(pids: &[i32]) -> Vec<Family> {
    families_of(pids, Tree::default())
}

/// The same, each process's parent and executable taken from what a pass over /proc read
/// (`known`); a process it did not read (one that started since) is read here.
pub fn fork_families_in(pids: &[i32], known: &crate::commands::family::Tree) -> Vec<Family> {
    let tree = Tree {
        known: Some(known),
        ..Tree::default()
    };
    families_of(pids, tree)
}

fn families_of(pids: &[i32], mut tree: Tree<'_>) -> Vec<Family> {
    let mut by_top: HashMap<i32, usize> = HashMap::new();
    let mut groups: Vec<Vec<i32>> = Vec::new();
    for &pid in pids {
        let Some(top) = tree.top(pid) else {
            continue;
        };
        let i = *by_top.entry(top).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[i].push(pid);
    }
    groups
        .into_iter()
        .filter(|g| g.len() > 1)
        .map(|g| {
            let root = tree.root(&g);
            Family {
                root,
                root_comm: match scan::visit(root, 0, Door::default(), |o| Ok(o.dir.comm())) {
                    Visit::Read(comm) => comm,
                    Visit::Other | Visit::Gone(_) => "?".into(),
                },
                pids: g,
            }
        })
        .collect()
}

/// Each pid's family, by index into the families.
pub fn family_index(families: &[Family]) -> HashMap<i32, usize> {
    families
        .iter()
        .enumerate()
        .flat_map(|(i, f)| f.pids.iter().map(move |&p| (p, i)))
        .collect()
}

/// The top of `pid`'s line: its farthest ancestor that reached it by fork alone (every
/// process on the way runs its executable), `pid` itself when its parent runs another;
/// `None` when its executable cannot be read.
pub fn fork_top(pid: i32) -> Option<i32> {
    Tree::default().top(pid)
}
