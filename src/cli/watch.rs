//! `family --watch`: the family read again every few seconds until SIGINT.

use super::{ExitCode, Outcome, Stdout};
use crate::commands::family;
use crate::error::Error;
use crate::output::text;

/// Set by SIGINT while `family --watch` runs.
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// From now on SIGINT (Ctrl-C) sets a flag ([`interrupted`]) instead of ending solab.
pub(super) fn catch_interrupt() -> anyhow::Result<()> {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    let action = SigAction::new(
        SigHandler::Handler(on_interrupt),
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe { sigaction(Signal::SIGINT, &action) }
        .map_err(|e| anyhow::anyhow!("cannot catch SIGINT: {e}"))?;
    Ok(())
}

/// Whether SIGINT came since [`catch_interrupt`].
pub(super) fn interrupted() -> bool {
    INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst)
}

/// `family --watch SECONDS`: a table every SECONDS on stdout, fitted to `width` (the
/// terminal's, unless `-w`); Ctrl-C (SIGINT) ends it, and the last table is printed once
/// more as the outcome. A closed stdout ends it too, and so does the last of `iterations`
/// tables (`-n N`, as `top -b -n N`: exit 0, nothing printed again).
pub(super) fn family_watch(
    pid: i32,
    (secs, iterations): (u64, Option<u64>),
    threads: usize,
    (view, width): (text::FamilyView, Option<usize>),
    stdout: &mut Stdout,
) -> anyhow::Result<Outcome> {
    catch_interrupt()?;
    let mut last = String::new();
    let mut comm = String::new();
    let mut previous: Option<family::FamilyReport> = None;
    for table in 1.. {
        let report = match family::family(pid, threads) {
            Ok(r) => r,
            // The root exited (or could no longer be read) while watched: the last table is
            // the answer, printed again, with what happened.
            Err(e) if !last.is_empty() => {
                let message = match e {
                    Error::NoSuchProcess { .. } => format!(
                        "pid {pid} ({comm}) exited while watched: the last table, printed again \
                         above, is its family's last reading"
                    ),
                    e => format!(
                        "pid {pid} ({comm}) can no longer be read ({e}): the last table is \
                         printed again above"
                    ),
                };
                return Ok(Outcome {
                    stdout: last,
                    stderr: vec![message],
                    code: ExitCode::Error,
                });
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(root) = report.processes.first() {
            comm.clone_from(&root.comm);
        }
        last = text::render_family_fitted(&report, view, width);
        if let Some(prev) = &previous {
            last.push('\n');
            last.push_str(&text::render_family_change_fitted(
                prev, &report, secs, width,
            ));
        }
        previous = Some(report);
        if !stdout.print(&format!("{last}\n")) || iterations == Some(table) {
            return Ok(Outcome::ok(String::new(), ExitCode::Ok));
        }
        let until = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        while std::time::Instant::now() < until {
            if interrupted() {
                return Ok(Outcome::ok(last, ExitCode::Ok));
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
    unreachable!("the tables go on until one of the returns above")
}
