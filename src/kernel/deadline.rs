//! A scan's deadline, for a caller that must answer in time (`solab exporter`): set on the
//! thread that starts a scan ([`until`]), it makes the scan's worker pool stop taking
//! processes once it has passed (the processes not taken are counted, [`take_left`]), and
//! each worker's reading of one memory map stop at it (the process is then unreadable, its
//! error naming the deadline): a process whose map takes longer than the deadline to read
//! does not hold the scan. Without one (every command but the exporter) nothing changes.

use std::cell::Cell;
use std::time::Instant;

thread_local! {
    static AT: Cell<Option<Instant>> = const { Cell::new(None) };
    static LEFT: Cell<usize> = const { Cell::new(0) };
}

/// The deadline of this thread's scans, if any.
pub fn at() -> Option<Instant> {
    AT.with(Cell::get)
}

/// Whether this thread's deadline has passed (never without one).
pub fn passed() -> bool {
    at().is_some_and(|d| Instant::now() >= d)
}

/// The deadline set on this thread until the guard is dropped (the one before restored).
pub fn until(d: Option<Instant>) -> Until {
    Until(AT.with(|c| c.replace(d)))
}

/// What [`until`] returns: puts the thread's previous deadline back on drop.
pub struct Until(Option<Instant>);

impl Drop for Until {
    fn drop(&mut self) {
        AT.with(|c| c.set(self.0));
    }
}

/// Counts `n` processes a scan started on this thread did not take (its deadline passed).
pub fn left(n: usize) {
    LEFT.with(|c| c.set(c.get() + n));
}

/// The processes the scans started on this thread left since the last call.
pub fn take_left() -> usize {
    LEFT.with(|c| c.replace(0))
}
