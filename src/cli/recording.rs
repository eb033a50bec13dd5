//! `solab family --record SECONDS PID`: the recording, then its report as text, JSON,
//! folded stacks or a flame graph.

use super::resolve::svg_to_stdout;
use super::{ExitCode, Outcome, Stdout, watch};
use crate::commands::record;
use crate::error::Error;
use crate::output::{self, text};
use std::path::PathBuf;

/// How the report is shown.
pub(super) struct Shown {
    pub json: bool,
    pub callers: bool,
    pub folded: bool,
    /// Each frame named with its source file and line (DWARF).
    pub lines: bool,
    /// The flame graph of the copied bytes into this file (`-`: stdout, instead of text).
    pub svg: Option<PathBuf>,
    /// `--watch SECONDS`: what was copied in each interval, printed as it ends.
    pub watch: Option<u64>,
}

/// The one line written to stderr while the command runs says when the recording has
/// started, so the workload can be started then.
pub(super) fn record_cmd(
    pid: i32,
    secs: u64,
    shown: Shown,
    threads: usize,
    stdout: &mut Stdout,
) -> anyhow::Result<Outcome> {
    let to_stdout = svg_to_stdout(shown.json, shown.svg.as_deref())?;
    // Ctrl-C ends the recording early; the pages are then read and attributed as usual.
    watch::catch_interrupt()?;
    let started = |n| {
        eprintln!("solab: recording the page faults of {n} threads for {secs} s (Ctrl-C ends it)");
    };
    // With --watch each interval is printed as it ends (a closed stdout ends the
    // recording); with --json too, kept for the one document.
    let callers = shown.callers;
    let mut kept = Vec::new();
    let mut print = |i: &record::Interval| {
        if shown.json {
            kept.push(record::IntervalReport::of(i));
            return true;
        }
        stdout.print(&format!("{}\n", text::render_record_interval(i, callers)))
    };
    let intervals = shown.watch.map(|every| record::Intervals {
        every: std::time::Duration::from_secs(every),
        each: &mut print,
    });
    let mut report = record::record(
        pid,
        secs,
        threads,
        shown.lines,
        started,
        watch::interrupted,
        intervals,
    )?;
    report.intervals = kept;
    let mut stderr: Vec<String> = report.errors.iter().map(|e| e.message.clone()).collect();
    let mut code = if report.errors.is_empty() {
        ExitCode::Ok
    } else {
        ExitCode::Error
    };
    let mut flame = None;
    if let Some(path) = shown.svg.as_deref() {
        match output::svg::render_record_flame(&report) {
            Ok(svg) if to_stdout => flame = Some(svg),
            Ok(svg) => std::fs::write(path, svg).map_err(|e| Error::io(path, e))?,
            Err(why) => {
                stderr.push(format!("{why}; {} not written", path.display()));
                code = ExitCode::Error;
            }
        }
    }
    Ok(Outcome {
        stdout: if let Some(svg) = flame {
            svg
        } else if shown.json {
            output::json(&report)
        } else if shown.folded {
            text::render_record_folded(&report)
        } else {
            text::render_record(&report, shown.callers)
        },
        stderr,
        code,
    })
}
