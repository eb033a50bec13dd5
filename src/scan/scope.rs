//! The front door: which processes a command reads, resolved once from what the command
//! line asked (pids given, one user's, every process), each process once and solab itself
//! left out unless given; and the one policy for processes that could not be read.

use crate::error::{Error, ErrorKind, Result};
use crate::kernel::process;
use crate::scan::PidError;

/// The processes a command reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every process in /proc but solab itself, listed when the scan starts (-a).
    All,
    /// The processes of a real uid but solab itself (-u alone): every process is listed
    /// when the scan starts and kept by the uid the scan reads as it opens it. `name` is
    /// how the user was given, for the messages.
    User { uid: u32, name: String },
    /// The pids given (as arguments or -p), each once, first given first.
    Pids(Vec<i32>),
    /// The pids given with -u: those of the user's uid among them, told by the scan as it
    /// opens each (a pid whose owner cannot be read is kept, for the command to report).
    PidsOf {
        pids: Vec<i32>,
        uid: u32,
        name: String,
    },
}

/// The pids of `pids`, each once, first seen first.
pub fn each_once(pids: impl IntoIterator<Item = i32>) -> Vec<i32> {
    let mut seen = std::collections::HashSet::new();
    pids.into_iter().filter(|p| seen.insert(*p)).collect()
}

/// Every process in /proc right now, ascending, but solab itself.
pub fn all_but_self() -> Result<Vec<i32>> {
    let own = std::process::id() as i32;
    Ok(process::list_pids()?
        .into_iter()
        .filter(|&p| p != own)
        .collect())
}

impl Scope {
    /// Resolves what the command line asked: the pids given (each once), those of
    /// `user`'s uid among them; with `user` and no pids, every process of the user; with
    /// neither, every process when `all`, else `None` (the command decides). `user` is the
    /// uid and the name it was given by, for the messages. Nothing is read here: the scan
    /// reads each process's uid as it opens it ([`crate::scan::Door::uid`]).
    pub fn resolve(given: &[i32], user: Option<(u32, &str)>, all: bool) -> Option<Scope> {
        let listed = each_once(given.iter().copied());
        match (listed.is_empty(), user) {
            (true, None) => all.then_some(Scope::All),
            (false, None) => Some(Scope::Pids(listed)),
            (false, Some((uid, name))) => Some(Scope::PidsOf {
                pids: listed,
                uid,
                name: name.into(),
            }),
            (true, Some((uid, name))) => Some(Scope::User {
                uid,
                name: name.into(),
            }),
        }
    }

    /// Whether the pids were given: then each one that cannot be read is an error of the
    /// run. Under -a or -u alone processes come and go: one that vanished is no error.
    pub fn listed(&self) -> bool {
        matches!(self, Scope::Pids(_) | Scope::PidsOf { .. })
    }

    /// The processes to open, in order (with -u, the scan keeps the user's among them).
    pub fn pids(&self) -> Result<Vec<i32>> {
        match self {
            Scope::All | Scope::User { .. } => all_but_self(),
            Scope::Pids(pids) | Scope::PidsOf { pids, .. } => Ok(pids.clone()),
        }
    }

    /// The uid whose processes alone are kept, if any.
    pub fn uid(&self) -> Option<u32> {
        match self {
            Scope::User { uid, .. } | Scope::PidsOf { uid, .. } => Some(*uid),
            Scope::All | Scope::Pids(_) => None,
        }
    }

    /// The error when the scan found no process of -u's user (`kept`: how many processes
    /// were of the uid, read or not).
    pub fn none_of_user(&self, kept: usize) -> Option<Error> {
        if kept > 0 {
            return None;
        }
        match self {
            Scope::User { uid, name } => Some(Error::Usage(format!(
                "--user {name}: uid {uid} has no processes"
            ))),
            Scope::PidsOf { pids, uid, name } => Some(Error::Usage(format!(
                "--user {name}: none of the pids {pids:?} is a process of uid {uid}"
            ))),
            Scope::All | Scope::Pids(_) => None,
        }
    }

    /// The one policy for the processes a report lists as not read (`errors`): with pids
    /// given, every one fails the run. Otherwise (-a, -u alone: processes solab chose)
    /// kernel threads and zombies (no memory map: nothing to read) are left out of the
    /// report, and the others stay in it, named, but do not fail the run: a process that
    /// exited before it was read (the machine moved on), or one solab may not read
    /// (another user's). Returns the errors that fail the run.
    pub fn settle<'e>(&self, errors: &'e mut Vec<PidError>) -> Vec<&'e PidError> {
        if self.listed() {
            return errors.iter().collect();
        }
        errors.retain(|e| e.kind != ErrorKind::KernelThread);
        Vec::new()
    }
}
