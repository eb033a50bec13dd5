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
    /// The processes of a real uid but solab itself, as listed when the scope was resolved
    /// (-u alone).
    User { uid: u32, pids: Vec<i32> },
    /// The pids given (as arguments or -p), each once, first given first.
    Pids(Vec<i32>),
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
    /// `user`'s uid among them (a pid whose owner cannot be read, one that exited, is kept
    /// for the command to report); with `user` and no pids, every process of the user;
    /// with neither, every process when `all`, else `None` (the command decides). `user`
    /// is the uid and the name it was given by, for the messages.
    pub fn resolve(given: &[i32], user: Option<(u32, &str)>, all: bool) -> Result<Option<Scope>> {
        let listed = each_once(given.iter().copied());
        match (listed.is_empty(), user) {
            (true, None) => Ok(all.then_some(Scope::All)),
            (false, None) => Ok(Some(Scope::Pids(listed))),
            (false, Some((u, who))) => {
                let pids: Vec<i32> = listed
                    .iter()
                    .copied()
                    .filter(|&p| {
                        process::ProcDir::open(p)
                            .and_then(|d| d.status(&mut Vec::new()))
                            .map_or(true, |s| s.uid == u)
                    })
                    .collect();
                if pids.is_empty() {
                    return Err(Error::Usage(format!(
                        "--user {who}: none of the pids {listed:?} is a process of uid {u}"
                    )));
                }
                Ok(Some(Scope::Pids(pids)))
            }
            (true, Some((u, who))) => {
                let pids = process::of_user(u)?;
                if pids.is_empty() {
                    return Err(Error::Usage(format!(
                        "--user {who}: uid {u} has no processes"
                    )));
                }
                Ok(Some(Scope::User { uid: u, pids }))
            }
        }
    }

    /// Whether the pids were given: then each one that cannot be read is an error of the
    /// run. Under -a or -u alone processes come and go: one that vanished is no error.
    pub fn listed(&self) -> bool {
        matches!(self, Scope::Pids(_))
    }

    /// The processes to read, in order.
    pub fn pids(&self) -> Result<Vec<i32>> {
        match self {
            Scope::All => all_but_self(),
            Scope::User { pids, .. } | Scope::Pids(pids) => Ok(pids.clone()),
        }
    }

    /// The one policy for the processes a report lists as not read (`errors`): with pids
    /// given, every one fails the run. Otherwise kernel threads and zombies (no memory
    /// map: nothing to read) are left out of the report, and processes that exited before
    /// they were read stay in it but do not fail the run. Returns the errors that do.
    pub fn settle<'e>(&self, errors: &'e mut Vec<PidError>) -> Vec<&'e PidError> {
        if self.listed() {
            return errors.iter().collect();
        }
        errors.retain(|e| e.kind != ErrorKind::KernelThread);
        errors
            .iter()
            .filter(|e| e.kind != ErrorKind::NoSuchProcess)
            .collect()
    }
}
