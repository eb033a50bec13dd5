//! Turning the command line's process flags into what the commands take: the pids
//! selected, the scope of a machine-wide scan, and which failures count.

use super::ProcessArgs;
use crate::commands::check_pattern;
use crate::commands::libs::Scope;
use crate::error::{Error, ErrorKind};
use crate::kernel::process;
use crate::scan::PidError;
use std::path::Path;

/// The processes selected by [`ProcessArgs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub pids: Vec<i32>,
    /// The pids were given (as arguments or -p), not found by -u.
    pub listed: bool,
    /// The uid of -u.
    pub uid: Option<u32>,
}

impl ProcessArgs {
    /// The pids given, first seen first, each once.
    pub fn listed(&self) -> Vec<i32> {
        let mut out: Vec<i32> = Vec::new();
        for &p in self.pids.iter().chain(&self.pid) {
            if !out.contains(&p) {
                out.push(p);
            }
        }
        out
    }

    /// The pids given, those of -u's user among them; or, with -u and no pids, every
    /// process of the user. `None`: neither pids nor -u (the command decides). A given pid
    /// whose owner cannot be read (it exited) is kept, for the command to report.
    pub fn select(&self) -> crate::Result<Option<Selection>> {
        let listed = self.listed();
        let uid = self.user.as_deref().map(user_id).transpose()?;
        let who = || self.user.clone().unwrap_or_default();
        match (listed.is_empty(), uid) {
            (true, None) => Ok(None),
            (false, None) => Ok(Some(Selection {
                pids: listed,
                listed: true,
                uid,
            })),
            (false, Some(u)) => {
                let pids: Vec<i32> = listed
                    .iter()
                    .copied()
                    .filter(|&p| process::uid(p).map_or(true, |o| o == u))
                    .collect();
                if pids.is_empty() {
                    return Err(Error::Usage(format!(
                        "--user {}: none of the pids {listed:?} is a process of uid {u}",
                        who()
                    )));
                }
                Ok(Some(Selection {
                    pids,
                    listed: true,
                    uid,
                }))
            }
            (true, Some(u)) => {
                let pids = process::of_user(u)?;
                if pids.is_empty() {
                    return Err(Error::Usage(format!(
                        "--user {}: uid {u} has no processes",
                        who()
                    )));
                }
                Ok(Some(Selection {
                    pids,
                    listed: false,
                    uid,
                }))
            }
        }
    }
}

/// A user name or a uid.
pub(super) fn user_id(user: &str) -> crate::Result<u32> {
    if let Ok(uid) = user.parse::<u32>() {
        return Ok(uid);
    }
    match nix::unistd::User::from_name(user) {
        Ok(Some(u)) => Ok(u.uid.as_raw()),
        _ => Err(Error::Usage(format!(
            "--user {user:?}: no such user (give a name from the password database or a uid)"
        ))),
    }
}

/// The pids of inspect and prove: those given or found by -u. With -u alone and a pattern,
/// `only_mapping`: the scan keeps only the processes that map a matching object (it reads
/// each memory map once, for both).
pub(super) fn inspected_pids(
    procs: &ProcessArgs,
    object: Option<&str>,
) -> anyhow::Result<Inspected> {
    if let Some(p) = object {
        check_pattern(p)?;
    }
    let Some(sel) = procs.select()? else {
        return Err(Error::Usage("give the processes: PID..., -p PID or -u USER".into()).into());
    };
    Ok(Inspected {
        only_mapping: object.is_some() && !sel.listed,
        sel,
    })
}

/// The processes of inspect and prove ([`inspected_pids`]).
pub(super) struct Inspected {
    pub sel: Selection,
    /// Only the processes that map the object are kept (by the scan).
    pub only_mapping: bool,
}

impl Inspected {
    /// The error when no process of -u's user maps the object.
    pub fn none_maps(&self, pattern: &str, procs: &ProcessArgs) -> Error {
        Error::Object(format!(
            "--object {pattern:?} matches no object mapped by a process of --user {}",
            procs.user.as_deref().unwrap_or_default()
        ))
    }
}

/// Processes found by -u (not listed) that are kernel threads or zombies (no memory map:
/// nothing of the user's to inspect) are left out. Those that exited before they were read
/// stay in `errors` (kind `no-such-process`), but the machine moved on: as with libs --all,
/// they do not make the run fail. Returns the errors that do.
pub(super) fn settle_gone<'e>(sel: &Selection, errors: &'e mut Vec<PidError>) -> Vec<&'e PidError> {
    if sel.listed {
        return errors.iter().collect();
    }
    errors.retain(|e| e.kind != ErrorKind::KernelThread);
    errors
        .iter()
        .filter(|e| e.kind != ErrorKind::NoSuchProcess)
        .collect()
}

/// Whether `--svg` writes the picture to stdout (`--svg -`), which `--json` cannot share.
pub(super) fn svg_to_stdout(as_json: bool, svg: Option<&Path>) -> Result<bool, Error> {
    let to_stdout = svg == Some(Path::new("-"));
    if as_json && to_stdout {
        return Err(Error::Usage(
            "--json and --svg - both write to stdout; give --svg a file".into(),
        ));
    }
    Ok(to_stdout)
}

/// The scope of `libs`: the pids given, -u's user, or every process.
pub(super) fn libs_scope(all: bool, procs: &ProcessArgs) -> anyhow::Result<Scope> {
    Ok(match (procs.select()?, all) {
        (Some(sel), _) if sel.listed => Scope::Pids(sel.pids),
        (Some(sel), _) => Scope::User(sel.uid.unwrap_or_default()),
        (None, true) => Scope::All,
        (None, false) => {
            return Err(Error::Usage(
                "give the processes: PID..., -p PID, -u USER or -a (every process)".into(),
            )
            .into());
        }
    })
}
