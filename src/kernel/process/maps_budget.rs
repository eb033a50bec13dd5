//! The names of memory maps held by all of a run's workers at once. Each process's names
//! are capped at [`super::maps::MAX_NAME_BYTES`] while it is read; a scan on N workers
//! would otherwise hold N times that, and another user decides how many of their
//! processes come close to it. The workers share one budget: the earliest process being
//! read (in the scan's order) takes what its names need, up to its own cap, and all the
//! others together at most [`MAX_RUN_NAME_BYTES`]. A worker whose process needs more
//! waits until another finishes, or until its own process is the earliest: it is never
//! refused, its map never cut, and the answer is the one a single worker gives. The
//! earliest process never waits, so the scan always moves on.
//!
//! A worker's names are held from the first read of its process's map until the door
//! hands back its result ([`visit`]): the map lives that long. A map read outside a visit
//! (a command reading one process, `family`'s children) counts while it is read and never
//! waits.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex, MutexGuard};

/// The most bytes of map names that the workers reading any process but the earliest hold
/// together. With the earliest's own cap, at most 128 MiB of names for the whole run,
/// whatever the number of workers.
pub const MAX_RUN_NAME_BYTES: usize = 64 << 20;

/// Names are taken from the budget in pieces of this many bytes: one lock per piece, not
/// per name. An ordinary process takes one.
const PIECE: usize = 256 << 10;

struct Budget {
    /// The bytes taken, by every worker.
    held: usize,
    /// The positions of the processes being read in a [`visit`], each with how many
    /// visits are at it.
    visits: BTreeMap<usize, usize>,
}

static BUDGET: Mutex<Budget> = Mutex::new(Budget {
    held: 0,
    visits: BTreeMap::new(),
});

/// Told each time bytes are given back or the earliest visit ends.
static FREED: Condvar = Condvar::new();

thread_local! {
    /// The visit this thread is in: its position and the bytes it took.
    static VISIT: Cell<Option<(usize, usize)>> = const { Cell::new(None) };
}

fn budget() -> MutexGuard<'static, Budget> {
    BUDGET.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs `read`, the reading of the process at `position` in the scan, as a visit: the
/// names its maps take are held until it returns (or unwinds), then given back.
pub fn visit<R>(position: usize, read: impl FnOnce() -> R) -> R {
    /// Ends the visit: gives back what it took and restores the visit it was in.
    struct End(Option<(usize, usize)>);
    impl Drop for End {
        fn drop(&mut self) {
            let Some((position, taken)) = VISIT.replace(self.0) else {
                return;
            };
            trim(taken);
            let mut b = budget();
            b.held = b.held.saturating_sub(taken);
            if let Some(n) = b.visits.get_mut(&position) {
                *n -= 1;
                if *n == 0 {
                    b.visits.remove(&position);
                }
            }
            drop(b);
            FREED.notify_all();
        }
    }
    *budget().visits.entry(position).or_default() += 1;
    let _end = End(VISIT.replace(Some((position, 0))));
    read()
}

/// Takes `n` bytes for the current thread: in a visit, waits while they would take the
/// others past [`MAX_RUN_NAME_BYTES`] and its process is not the earliest.
fn take(n: usize) {
    let me = VISIT.get();
    let mut b = budget();
    if let Some((position, _)) = me {
        while b.held.saturating_add(n) > MAX_RUN_NAME_BYTES
            && b.visits
                .keys()
                .next()
                .is_some_and(|&first| first < position)
        {
            b = FREED.wait(b).unwrap_or_else(|p| p.into_inner());
        }
    }
    b.held = b.held.saturating_add(n);
    drop(b);
    if let Some((position, taken)) = me {
        VISIT.set(Some((position, taken + n)));
    }
}

/// A read that held names of at least this many bytes gives their memory back to the
/// system when it ends ([`trim`]).
const TRIM_AT: usize = 16 << 20;

/// After names of `taken` bytes were freed: gives the allocator's free memory back to the
/// system where they were many. The names were freed, but their memory stays resident in
/// the worker's arena wherever something allocated after them still lives above them (the
/// allocator returns only the top of a heap); the next worker's names, in its own arena,
/// would add to it, and N workers would hold N processes' names after all.
fn trim(taken: usize) {
    if taken < TRIM_AT {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory of the allocator's arenas to the system.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn give_back(n: usize) {
    if n == 0 {
        return;
    }
    let mut b = budget();
    b.held = b.held.saturating_sub(n);
    drop(b);
    FREED.notify_all();
}

/// What one read of a map took from the budget. In a visit the visit keeps it; outside
/// one it is given back when the read ends (on Drop).
pub(super) struct Lease {
    taken: usize,
    /// Whether it counts at all: solab reading its own map for the gate area, once, does
    /// not (it may run while another worker waits on the lock of that one read).
    counted: bool,
}

impl Lease {
    pub(super) fn new() -> Lease {
        Lease {
            taken: 0,
            counted: true,
        }
    }

    /// A lease that takes nothing.
    pub(super) fn none() -> Lease {
        Lease {
            taken: 0,
            counted: false,
        }
    }

    /// Covers names of `bytes` in all for this read, taking what is missing in pieces.
    pub(super) fn cover(&mut self, bytes: usize) {
        if !self.counted || bytes <= self.taken {
            return;
        }
        let want = bytes.div_ceil(PIECE).saturating_mul(PIECE);
        take(want - self.taken);
        self.taken = want;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.counted && VISIT.get().is_none() {
            give_back(self.taken);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A later visit past the budget waits for the earliest to end; the earliest never
    /// waits, even past the budget itself.
    #[test]
    fn a_later_visit_waits_for_the_earliest() {
        // The budget is the process's: other tests' reads may hold some, never long.
        let released = &AtomicBool::new(false);
        let (taken, taken_rx) = std::sync::mpsc::channel();
        let (go, go_rx) = std::sync::mpsc::channel::<()>();
        std::thread::scope(|s| {
            s.spawn(move || {
                visit(0, || {
                    let mut l = Lease::new();
                    l.cover(MAX_RUN_NAME_BYTES);
                    // The earliest takes more than the budget without waiting.
                    l.cover(MAX_RUN_NAME_BYTES + PIECE);
                    taken.send(()).unwrap();
                    go_rx.recv().unwrap();
                    released.store(true, Ordering::SeqCst);
                })
            });
            taken_rx.recv().unwrap();
            let later = s.spawn(move || {
                visit(1, || {
                    let mut l = Lease::new();
                    l.cover(PIECE);
                    released.load(Ordering::SeqCst)
                })
            });
            std::thread::sleep(std::time::Duration::from_millis(100));
            go.send(()).unwrap();
            assert!(
                later.join().unwrap(),
                "the later visit took its names before the earliest ended"
            );
        });
    }
}
