//! One proof, from the processes the command line resolved to the finished report: the
//! processes are scanned for the object ([`inspect::scan`]), the one object chosen, its
//! fork families and other placements read, and the claims checked ([`super::prove`]).

use super::{ProveReport, elsewhere, families};
use crate::commands::inspect::{self, InspectOptions};
use crate::error::Error;
use crate::inspect_report::{InspectReport, ObjectReport};
use crate::scan::PidError;
use crate::scan::Scope;
use crate::scan::pattern::{self, Candidates, Pattern};

/// What to prove, resolved from the command line.
pub struct ProveConfig {
    /// The object's pattern (`-o`).
    pub object: String,
    pub scope: Scope,
    /// `-u` alone: only the user's processes that map the object are compared.
    pub only_mapping: bool,
    /// `-u`'s user, as given, for the messages.
    pub user: Option<String>,
}

/// How many unreadable processes a message names.
pub const NAMED: usize = 8;

/// Proves the claims for `config.object` in the processes of `config.scope`. An `Err` is a
/// proof that could not be made (too few processes, no object or several, a process that
/// could not be read), with what to do.
pub fn run(config: &ProveConfig) -> anyhow::Result<ProveReport> {
    let object = &config.object;
    // Without -u alone, the pids are known before the scan; with it, once the scan kept
    // those that map the object.
    let pids = config.scope.pids()?;
    if !config.only_mapping {
        too_few(&pids)?;
    }
    let mut scan = inspect::scan(&InspectOptions {
        scope: config.scope.clone(),
        object: Some(object.clone()),
        only_mapping: config.only_mapping,
    })?;
    if config.only_mapping {
        if scan.chosen.is_empty() {
            return Err(none_maps(config, &scan.unmatched, &scan.unreadable).into());
        }
        if let Err(e) = too_few(&scan.chosen) {
            return Err(with_unreadable(e, &scan.unreadable).into());
        }
    }
    let unmatched = std::mem::take(&mut scan.unmatched);
    let unreadable = std::mem::take(&mut scan.unreadable);
    let mut report = scan.into_report();
    if let Some(e) = config.scope.settle(&mut report.errors).first() {
        return Err(anyhow::anyhow!("{}", e.message)
            .context("cannot prove: a process could not be inspected"));
    }
    let obj = choose(object, &report, &unmatched)?;
    let families = families::fork_families(&report.pids);
    let elsewhere = elsewhere::written_text_elsewhere(obj);
    let mut proof = super::prove(&report, obj, families, &elsewhere);
    proof.unreadable = unreadable;
    Ok(proof)
}

fn too_few(pids: &[i32]) -> Result<(), Error> {
    if pids.len() < 2 {
        return Err(Error::Usage(format!(
            "prove compares processes: it needs two or more distinct pids, got {pids:?}"
        )));
    }
    Ok(())
}

/// The one object `pattern` names, mapped (and analyzable) in every process of `report`.
fn choose<'r>(
    pattern: &str,
    report: &'r InspectReport,
    unmatched: &Candidates,
) -> Result<&'r ObjectReport, Error> {
    let paths: Vec<&str> = report.objects.iter().map(|o| o.path.as_str()).collect();
    let obj = match pattern::choose(&Pattern::new(pattern)?, &paths) {
        pattern::Choice::One(i) => &report.objects[i],
        pattern::Choice::None => return Err(inspect::no_match(pattern, report, unmatched)),
        pattern::Choice::Many(many) => {
            let names: Vec<&str> = many.iter().map(|&i| paths[i]).collect();
            return Err(Error::Object(format!(
                "--object {pattern:?} matches {} objects ({}); give one that matches exactly one",
                many.len(),
                names.join(", ")
            )));
        }
    };
    if obj.procs.len() != report.pids.len() {
        let mapping: std::collections::HashSet<i32> = obj.procs.iter().map(|p| p.pid).collect();
        let missing: Vec<i32> = report
            .pids
            .iter()
            .copied()
            .filter(|p| !mapping.contains(p))
            .collect();
        return Err(Error::Object(format!(
            "{} is not mapped (or not analyzable) in pid(s) {missing:?}",
            obj.path
        )));
    }
    Ok(obj)
}

/// No process of -u's user maps the object: or none that could be read does, and the
/// others are named with why.
fn none_maps(config: &ProveConfig, mapped: &Candidates, unreadable: &[PidError]) -> Error {
    let user = config.user.as_deref().unwrap_or_default();
    inspect::none_maps(&config.object, user, mapped, unreadable)
}

/// `e`, and the processes whose memory map could not be read, which may map the object.
fn with_unreadable(e: Error, unreadable: &[PidError]) -> Error {
    if unreadable.is_empty() {
        return e;
    }
    let mut text = format!(
        "{e}; {} process(es) could not be read, and may map it (run as their user or as \
         root):",
        unreadable.len()
    );
    for u in unreadable.iter().take(NAMED) {
        text.push_str(&format!("\n  {}", u.message));
    }
    if unreadable.len() > NAMED {
        text.push_str(&format!("\n  and {} more", unreadable.len() - NAMED));
    }
    Error::Object(text)
}
