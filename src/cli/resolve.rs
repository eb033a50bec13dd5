//! Turning the command line's process flags into what the commands take: the
//! [`Scope`] of processes, and a user's name into its uid.

use super::ProcessArgs;
use crate::error::Error;
use crate::scan::Scope;
use crate::scan::pattern::check_pattern;
use std::path::Path;

impl ProcessArgs {
    /// The pids given, first seen first, each once.
    pub fn listed(&self) -> Vec<i32> {
        crate::scan::each_once(self.pids.iter().chain(&self.pid).copied())
    }

    /// The processes given, or -u's (see [`Scope::resolve`]); with neither, every process
    /// when `all`, else `None` (the command decides).
    pub fn scope(&self, all: bool) -> crate::Result<Option<Scope>> {
        let uid = self.user.as_deref().map(user_id).transpose()?;
        let given: Vec<i32> = self.pids.iter().chain(&self.pid).copied().collect();
        Ok(Scope::resolve(&given, uid.zip(self.user.as_deref()), all))
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
    let Some(scope) = procs.scope(false)? else {
        return Err(Error::Usage("give the processes: PID..., -p PID or -u USER".into()).into());
    };
    Ok(Inspected {
        only_mapping: object.is_some() && !scope.listed(),
        scope,
    })
}

/// The processes of inspect and prove ([`inspected_pids`]).
pub(super) struct Inspected {
    pub scope: Scope,
    /// Only the processes that map the object are kept (by the scan).
    pub only_mapping: bool,
}

impl Inspected {
    /// The error when no process of -u's user that could be read maps the object.
    /// `mapped`: the names its processes map, some offered; `unread`: its processes that
    /// could not be read, named (any of them may map it).
    pub fn none_maps(
        &self,
        pattern: &str,
        procs: &ProcessArgs,
        mapped: &crate::scan::pattern::Candidates,
        unread: &[crate::scan::PidError],
    ) -> Error {
        crate::commands::inspect::none_maps(
            pattern,
            procs.user.as_deref().unwrap_or_default(),
            mapped,
            unread,
        )
    }
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
    procs.scope(all)?.ok_or_else(|| {
        Error::Usage("give the processes: PID..., -p PID, -u USER or -a (every process)".into())
            .into()
    })
}
