//! KSM's switch (/sys/kernel/mm/ksm, Documentation/admin-guide/mm/ksm.rst) for the tests
//! that need pages merged: set for a test and restored on Drop. It is the machine's: one
//! holder at a time, in this test binary (a mutex) and among the test binaries running on
//! the machine (an exclusive flock), so that no test restores settings another has just
//! set.

use std::fs::File;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

static HELD: Mutex<()> = Mutex::new(());

pub struct KsmOn {
    saved: Vec<(&'static str, String)>,
    _lock: nix::fcntl::Flock<File>,
    _held: MutexGuard<'static, ()>,
}

impl KsmOn {
    pub const DIR: &'static str = "/sys/kernel/mm/ksm";

    fn read(name: &str) -> Option<String> {
        std::fs::read_to_string(format!("{}/{name}", Self::DIR))
            .ok()
            .map(|v| v.trim().to_string())
    }

    fn write(name: &str, v: &str) -> Option<()> {
        std::fs::write(format!("{}/{name}", Self::DIR), v).ok()
    }

    /// KSM running, scanning 4096 pages every 10 ms; `None` where it cannot be switched on.
    pub fn start() -> Option<KsmOn> {
        let held = HELD.lock().unwrap_or_else(|e| e.into_inner());
        let file = File::create("/run/lock/solab-tests-ksm")
            .or_else(|_| File::create("/tmp/solab-tests-ksm"))
            .ok()?;
        let lock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive).ok()?;
        let mut saved = Vec::new();
        for name in ["pages_to_scan", "sleep_millisecs", "run"] {
            saved.push((name, Self::read(name)?));
        }
        // Since 6.7 KSM skips pages that did not merge for a while (smart_scan): every page
        // is scanned every time here.
        let smart = Self::read("smart_scan");
        if let Some(v) = &smart {
            saved.insert(0, ("smart_scan", v.clone()));
        }
        let on = KsmOn {
            saved,
            _lock: lock,
            _held: held,
        };
        for (name, v) in [
            ("pages_to_scan", "4096"),
            ("sleep_millisecs", "10"),
            ("run", "1"),
        ] {
            Self::write(name, v)?;
        }
        if smart.is_some() {
            Self::write("smart_scan", "0")?;
        }
        Some(on)
    }

    /// Stops merging; the pages merged stay merged (run = 0).
    pub fn pause(&self) {
        let _ = Self::write("run", "0");
    }

    /// Merges again (run = 1).
    pub fn resume(&self) {
        let _ = Self::write("run", "1");
    }

    /// Waits until ksmd has scanned every mergeable page three times since the call (three
    /// more `full_scans`: a page is merged once it was seen unchanged in two scans, and the
    /// first may have begun before the call), at most `within`; whether it did.
    pub fn settle(&self, within: Duration) -> bool {
        let scans = || Self::read("full_scans").and_then(|v| v.parse::<u64>().ok());
        let Some(from) = scans() else { return false };
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if scans().is_some_and(|n| n >= from + 3) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }
}

impl Drop for KsmOn {
    fn drop(&mut self) {
        for (name, v) in self.saved.iter().rev() {
            let _ = Self::write(name, v);
        }
    }
}
