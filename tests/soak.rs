//! The shared-section soak: many processes mix counter increments, clipboard writes and
//! reads, and are killed with SIGKILL at random moments, then replaced. A keeper process
//! holds the region alive throughout. At the end:
//! - no reader ever saw a torn message;
//! - the shared counter lies between the increments the workers reported as done and that
//!   plus the batches in flight when a worker was killed;
//! - a last, kill-free round in which every survivor adds exactly M is counted exactly.
//!
//! `make test` runs a short soak; `make soak` runs 64 processes for SOAK_SECONDS
//! (default 600).

use crate::util::{Namespace, Proc, field_u64, lab_host, spawn_host};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default, Debug, Clone)]
struct Tally {
    /// Increments whose completion a worker reported.
    adds_done: u64,
    /// Increments of batches during which the worker was killed (done or not: unknown).
    adds_in_flight: u64,
    writes: u64,
    reads: u64,
    torn: u64,
    kills: u64,
    actions: u64,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn worker(ns: &Namespace, seed: u64) -> Proc {
    spawn_host(&format!("soak worker {seed}"), ns, &[])
}

fn soak(procs: usize, duration: Duration) -> Tally {
    let ns = Arc::new(Namespace::new("soak"));
    let mut keeper = spawn_host("keeper", &ns, &[]);
    let deadline = Instant::now() + duration;
    let total = Arc::new(Mutex::new(Tally::default()));
    let survivors = Arc::new(Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..procs)
        .map(|i| {
            let ns = Arc::clone(&ns);
            let total = Arc::clone(&total);
            let survivors = Arc::clone(&survivors);
            std::thread::spawn(move || {
                let mut rng = Rng(0x9e3779b97f4a7c15 ^ ((i as u64 + 1) << 20));
                let mut t = Tally::default();
                let mut w = worker(&ns, i as u64);
                while Instant::now() < deadline {
                    let (action, adds) = match rng.below(10) {
                        0..=4 => {
                            let n = 1 + rng.below(5000);
                            (format!("adds:{n}"), n)
                        }
                        5..=6 => (format!("clip-write:{}", 1 + rng.below(20)), 0),
                        _ => (format!("clip-read:{}", 1 + rng.below(20)), 0),
                    };
                    t.actions += 1;
                    if rng.below(12) == 0 {
                        // Kill it in the middle of this action, at a random moment.
                        w.send(&action);
                        std::thread::sleep(Duration::from_micros(rng.below(3000)));
                        w.kill();
                        t.kills += 1;
                        t.adds_in_flight += adds;
                        w = worker(&ns, rng.next());
                        continue;
                    }
                    let line = w.act(&action);
                    if action.starts_with("adds") {
                        t.adds_done += adds;
                    } else if action.starts_with("clip-write") {
                        t.writes += field_u64(&line, "written");
                    } else {
                        t.reads += field_u64(&line, "reads");
                        t.torn += field_u64(&line, "torn");
                    }
                }
                let mut all = total.lock().unwrap();
                all.adds_done += t.adds_done;
                all.adds_in_flight += t.adds_in_flight;
                all.writes += t.writes;
                all.reads += t.reads;
                all.torn += t.torn;
                all.kills += t.kills;
                all.actions += t.actions;
                survivors.lock().unwrap().push(w);
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a soak worker thread failed");
    }
    let t = total.lock().unwrap().clone();
    let shared = field_u64(&keeper.act("counters"), "shared_calls");
    assert_eq!(t.torn, 0, "torn messages read: {t:?}");
    assert!(
        (t.adds_done..=t.adds_done + t.adds_in_flight).contains(&shared),
        "shared counter {shared} outside [{}, {}]: {t:?}",
        t.adds_done,
        t.adds_done + t.adds_in_flight
    );
    // A last round without kills: exact.
    let mut survivors = std::mem::take(&mut *survivors.lock().unwrap());
    const M: u64 = 1000;
    let finishers: Vec<Proc> = survivors
        .iter()
        .map(|_| Proc::spawn("finisher", lab_host(&ns, &[&format!("adds:{M}")]), ""))
        .collect();
    for (mut f, s) in finishers.into_iter().zip(survivors.iter_mut()) {
        f.expect("action=adds");
        s.act(&format!("adds:{M}"));
    }
    let after = field_u64(&keeper.act("counters"), "shared_calls");
    assert_eq!(
        after - shared,
        2 * M * procs as u64,
        "the kill-free round miscounted"
    );
    let last = keeper.act("clip-get");
    assert!(last.contains("action=clip-get"), "{last}");
    eprintln!(
        "soak: {procs} processes for {duration:?}: {} actions, {} kills, {} adds done (+{} in flight) -> shared {shared}, {} messages written, {} read, 0 torn",
        t.actions, t.kills, t.adds_done, t.adds_in_flight, t.writes, t.reads
    );
    t
}

#[test]
fn short_soak_of_the_shared_section() {
    let t = soak(64, Duration::from_secs(4));
    assert!(t.kills > 0 && t.reads > 0 && t.writes > 0, "{t:?}");
}

/// `make soak`: SOAK_SECONDS (default 600) with 64 processes.
#[test]
#[ignore = "long: run with make soak"]
fn long_soak_of_the_shared_section() {
    let secs: u64 = std::env::var("SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    soak(64, Duration::from_secs(secs));
}
