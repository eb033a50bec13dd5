//! The scan behind `solab libs`: how much memory sharing saves, per ELF object, over a set
//! of processes or the whole machine.
//!
//! Cost is kept close to that of just reading pagemap:
//! - /proc/PID/maps once per process, /proc/PID/pagemap with one `pread` per mapping (in
//!   chunks of 64 Ki pages for huge reservations), never per page;
//! - each ELF file read and planned once per (device, inode), its page plan kept as runs
//!   of segment kinds;
//! - frames collected in plain `Vec<u64>`s (one per object and segment kind, one for
//!   anonymous memory, one for other files), sorted once at the end;
//! - /proc/kpagecount (for PSS) read in sorted windows, only for the frames of ELF objects.
//!
//! [`scanner`] reads each process and adds its pages to per-object buckets; [`tally`]
//! turns the buckets into the [`report`] (distinct frames, memory saved, PSS).
//!
//! Privilege: frame numbers and /proc/kpagecount need CAP_SYS_ADMIN. Without it the scan
//! still reads pagemap bits (present, file, exclusive) of the processes it may read, and
//! takes PSS and the memory saved from smaps: those figures are estimates and say so.

use crate::elf::Detail;
use crate::error::{Error, Result};
use crate::kernel::process::{self, Gone};
use crate::kernel::{self, kpage};
use crate::scan::{ObjectCache, PidError};
use scanner::{Acc, Scanner};
use std::collections::HashMap;

pub const LIBS_SCHEMA: &str = "solab.libs.v2";

/// Which processes to scan.
#[derive(Clone, Debug)]
pub enum Scope {
    /// Every process in /proc except this one.
    All,
    /// Every process of this real uid except this one.
    User(u32),
    Pids(Vec<i32>),
}

/// How to order the objects: the keys are the table's column names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SortKey {
    /// SAVED: memory saved by sharing (summed resident - distinct frames)
    Saved,
    /// RESIDENT: resident pages summed over the processes
    #[value(alias = "rss")]
    Resident,
    /// FRAMES: distinct frames
    Frames,
    /// PSS: proportional set size summed over the processes
    Pss,
    /// PROCS: processes mapping the object
    Procs,
    /// PRIVATE: private copies in the object's file mappings
    Private,
    /// OBJECT: the path (alphabetical)
    Object,
}

#[derive(Clone, Debug)]
pub struct LibsOptions {
    pub scope: Scope,
    /// Draw a progress bar on stderr.
    pub progress: bool,
}

pub mod groups;
pub mod report;
mod scanner;
mod tally;

pub use report::*;

/// Runs the scan.
pub fn libs(opts: &LibsOptions) -> Result<LibsReport> {
    kernel::check_page_size()?;
    let privilege = kernel::detect_privilege();
    let own = std::process::id() as i32;
    let (pids, scope) = match &opts.scope {
        Scope::All => (
            process::list_pids()?
                .into_iter()
                .filter(|&p| p != own)
                .collect::<Vec<_>>(),
            ScopeName::All,
        ),
        Scope::User(uid) => (process::of_user(*uid)?, ScopeName::User),
        Scope::Pids(p) => {
            let mut p = p.clone();
            let mut seen = std::collections::HashSet::new();
            p.retain(|x| seen.insert(*x));
            (p, ScopeName::Pids)
        }
    };
    let mut s = Scanner {
        privileged: privilege.frames(),
        zero_pfn: if privilege.frames() {
            kpage::zero_page_pfn().map(|p| p.0)
        } else {
            None
        },
        cache: ObjectCache::new(Detail::Kinds),
        obj_of: HashMap::new(),
        objs: Vec::new(),
        anon: Acc::default(),
        files: Acc::default(),
        zero_mappings: 0,
        entries: Vec::new(),
    };
    let bar = opts.progress.then(|| {
        let b = indicatif::ProgressBar::with_draw_target(
            Some(pids.len() as u64),
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("scanning {bar:40} {pos}/{len} processes {msg}")
        {
            b.set_style(style);
        }
        b
    });
    let mut counts = ProcessCounts::default();
    let mut errors = Vec::new();
    for &pid in &pids {
        match s.scan(pid) {
            Ok(()) => counts.scanned += 1,
            Err(Gone::NoMemoryMap) => {
                counts.no_memory_map += 1;
                errors.push(PidError {
                    pid,
                    kind: crate::error::ErrorKind::KernelThread,
                    message: format!(
                        "pid {pid} ({}) has no memory map (a kernel thread or a zombie)",
                        process::comm(pid)
                    ),
                });
            }
            Err(Gone::Vanished) => {
                counts.vanished += 1;
                errors.push(PidError::new(pid, &Error::NoSuchProcess { pid }));
            }
            Err(Gone::Unreadable(e)) => {
                counts.unreadable += 1;
                errors.push(PidError::new(pid, &e));
            }
        }
        if let Some(b) = &bar {
            b.inc(1);
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if matches!(opts.scope, Scope::All | Scope::User(_)) {
        // Processes come and go on a live machine: counted, not reported one by one.
        errors.clear();
    } else if counts.scanned == 0 && !errors.is_empty() {
        return Err(Error::Usage(format!(
            "no process could be read: {}",
            errors
                .iter()
                .map(|e| e.message.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        )));
    }
    tally::finish(s, privilege, scope, counts, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_of_a_mapping() {
        let w: Vec<u64> = (0..4).collect();
        assert_eq!(scanner::slice(&w, 0x1000, 0x2000, 0x4000), &[1, 2]);
        assert_eq!(scanner::slice(&w, 0x1000, 0x4000, 0x9000), &[3]);
    }

    #[test]
    fn own_scan_sees_libc() {
        let r = libs(&LibsOptions {
            scope: Scope::Pids(vec![std::process::id() as i32]),
            progress: false,
        })
        .expect("scan self");
        assert_eq!(r.processes.scanned, 1);
        let libc = r
            .objects
            .iter()
            .find(|o| o.path.contains("libc.so"))
            .expect("libc row");
        assert_eq!(libc.procs, 1);
        assert!(libc.resident_pages > 0);
    }
}
