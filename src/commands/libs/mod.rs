//! The scan behind `solab libs`: how much memory sharing saves, per ELF object, over a set
//! of processes or the whole machine.
//!
//! Cost is kept close to that of just reading pagemap:
//! - /proc/PID/maps once per process, through the PROCMAP_QUERY ioctl, a mapping's name
//!   asked only where it does not continue the mapping before it (the kernel's `d_path`
//!   behind each name is a large part of the ioctl's cost; [`process::read_maps_from`](crate::kernel::process::read_maps_from)
//!   says where that differs from the text);
//! - /proc/PID/pagemap with one `pread` per run of adjacent mappings
//!   ([`Pagemap::read_maps`](crate::kernel::pagemap::Pagemap::read_maps): a few reads per
//!   process rather than one per mapping), in chunks of 64 Ki pages, huge reservations
//!   only over their populated ranges; never per page;
//! - each ELF file read and planned once per (device, inode), its page plan kept as runs
//!   of segment kinds;
//! - frames collected in plain vectors (one per object and segment kind, one for
//!   anonymous memory, one for other files), sorted once at the end; a worker keeps a
//!   frame of an object's page only when the last process it saw there mapped another one,
//!   else counts the kept one mapped once more (what PSS from kpagecount needs; with
//!   `--all` only distinct frames count): the page cache's one frame per page of a library
//!   is kept once, not once per process, so the lists sorted at the end hold about an
//!   object's pages, not its pages times its processes;
//! - /proc/kpagecount (for PSS) read in sorted windows, only for the frames of ELF objects,
//!   less solab's own mappings of them (it maps libc too) unless solab is scanned itself;
//! - processes scanned by a fixed pool of workers (`--threads`), each with its own buckets,
//!   merged at the end: the report is the same whatever the number of workers; the kernel
//!   configuration the report quotes (a decompressed /proc/config.gz) is read by the first
//!   worker before its first process, while the others scan, not after the scan.
//!
//! [`scanner`] reads each process and adds its pages to per-object buckets; [`tally`]
//! turns the buckets into the [`report`] (distinct frames, memory saved, PSS).
//!
//! Privilege: frame numbers and /proc/kpagecount need CAP_SYS_ADMIN. Without it the scan
//! still reads pagemap bits (present, file, exclusive) of the processes it may read, and
//! takes PSS and the memory saved from smaps: those figures are estimates and say so.

use crate::elf::Detail;
use crate::error::{Error, Result};
use crate::kernel::process::Gone;
use crate::kernel::{self, kpage};
use crate::scan::{self, ObjectCache, PidError, SharedCache};
use scanner::Worker;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

pub const LIBS_SCHEMA: &str = "solab.libs.v2";

pub use crate::scan::Scope;

/// How to order the objects: the keys are the table's column names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    /// SAVED: memory saved by sharing (summed resident - distinct frames)
    Saved,
    /// RESIDENT: resident pages summed over the processes
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

/// Which rows of a `libs` report are shown, and in which order: the objects whose path
/// matches `object` (see [`crate::scan::pattern::Pattern::matches`]), ordered by `key` (largest
/// first), reversed with `reverse`, the first `top` kept (0 keeps all).
#[derive(Clone, Debug)]
pub struct LibsOrder {
    pub object: Option<String>,
    pub key: SortKey,
    pub reverse: bool,
    pub top: usize,
}

/// A finished `libs` report: how many rows [`LibsOrder::top`] left out, and with
/// [`LibsOrder::object`] the paths that matched (sorted, each once).
pub struct LibsTable {
    pub report: LibsReport,
    pub hidden: usize,
    pub matched: Option<Vec<String>>,
    /// When the pattern matched nothing: the file names of the objects scanned, the
    /// closest to it first ([`crate::scan::pattern::closest`]).
    pub candidates: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct LibsOptions {
    pub scope: Scope,
    /// Draw a progress bar on stderr.
    pub progress: bool,
    /// Workers scanning processes in parallel: 0 one per CPU, 1 one (in order, on this
    /// thread). The report is the same whatever the number.
    pub threads: usize,
}

pub mod by_group;
mod frames;
pub mod report;
mod scanner;
mod tally;

pub use report::*;

/// Runs the scan and keeps the rows `order` asks for, in its order.
pub fn table(opts: &LibsOptions, order: &LibsOrder) -> Result<LibsTable> {
    let mut report = libs(opts)?;
    let pattern = order
        .object
        .as_deref()
        .map(crate::scan::pattern::Pattern::new)
        .transpose()?;
    let mut candidates = Vec::new();
    let matched = pattern.map(|pat| {
        if !report.objects.iter().any(|o| pat.matches(&o.path)) {
            candidates = crate::scan::pattern::closest(
                pat.text(),
                report.objects.iter().map(|o| o.path.as_str()),
                crate::scan::pattern::Candidates::SHOWN,
            );
        }
        report.objects.retain(|o| pat.matches(&o.path));
        let mut matched: Vec<String> = report.objects.iter().map(|o| o.path.clone()).collect();
        matched.sort();
        matched.dedup();
        matched
    });
    let total = report.objects.len();
    report.sort(order.key, order.reverse, order.top);
    Ok(LibsTable {
        hidden: total - report.objects.len(),
        report,
        matched,
        candidates,
    })
}

/// Runs the scan.
pub fn libs(opts: &LibsOptions) -> Result<LibsReport> {
    let pids = opts.scope.pids()?;
    let scope = match &opts.scope {
        Scope::All => ScopeName::All,
        Scope::User { .. } => ScopeName::User,
        Scope::Pids(_) => ScopeName::Pids,
    };
    let mut reports = scan_sets(
        vec![pids],
        scope,
        opts.scope.listed(),
        opts.progress,
        opts.threads,
    )?;
    match reports.pop() {
        Some(SetScan::Report(report)) => Ok(*report),
        Some(SetScan::NoneRead(errors)) => Err(Error::Usage(format!(
            "no process could be read: {}",
            errors
                .iter()
                .map(|e| e.message.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        ))),
        None => Err(Error::Usage("no processes".into())),
    }
}

/// What the scan of one set of processes gave.
pub(super) enum SetScan {
    /// The set's report (boxed: it is large, and the other kind small).
    Report(Box<LibsReport>),
    /// The pids were given and none of them could be read: why, for each.
    NoneRead(Vec<PidError>),
}

/// Scans each set of processes (`sets`, every one of scope `scope`) as its own `libs`
/// scan, all in one run of the worker pool through one object cache: each set's
/// buckets are apart, so a set's report counts what its processes map. With `listed`
/// each process that cannot be read is an error of its set's report, and a set none of
/// whose processes could be read is [`SetScan::NoneRead`]; without, they are counted.
pub(super) fn scan_sets(
    sets: Vec<Vec<i32>>,
    scope: ScopeName,
    listed: bool,
    progress: bool,
    threads: usize,
) -> Result<Vec<SetScan>> {
    kernel::check_page_size()?;
    let privilege = kernel::detect_privilege();
    let own = std::process::id() as i32;
    let pids: Vec<i32> = sets.iter().flatten().copied().collect();
    // The set of the process at each scan position.
    let set_of: Vec<usize> = sets
        .iter()
        .enumerate()
        .flat_map(|(k, s)| std::iter::repeat_n(k, s.len()))
        .collect();
    let privileged = privilege.frames();
    let zero_pfn = if privileged {
        kpage::zero_page_pfn().map(|p| p.0)
    } else {
        None
    };
    let cache = SharedCache::new(ObjectCache::new(Detail::Kinds));
    let pss_source = tally::pss_source(privileged, scope);
    // A vdso is known by its frames only when PSS comes from the frames seen: reading
    // solab's own vdso makes its pages present, which kpagecount would count.
    let vdsos = (pss_source == PssSource::Frames).then(|| scanner::own_vdso(&cache));
    // How often each frame is mapped matters only for PSS from kpagecount.
    let dedup = pss_source != PssSource::Kpagecount;
    let bar = progress.then(|| {
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
    // The kernel's configuration (a decompressed /proc/config.gz) is read by the first
    // worker before its first process, while the others scan: neither after the scan,
    // nor by the first worker left without a process while another finished its last.
    let started = AtomicUsize::new(0);
    let facts = OnceLock::new();
    // Each worker keeps one set of buckets per set of processes, made when it meets the
    // set's first process.
    let (workers, results) = scan::each_process(
        &pids,
        scan::threads(threads),
        || {
            if started.fetch_add(1, Ordering::Relaxed) == 0 {
                facts.get_or_init(kernel::config::kernel_facts);
            }
            let none: Vec<Option<Worker>> = sets.iter().map(|_| None).collect();
            none
        },
        |w, position, pid| {
            let worker = w[set_of[position]]
                .get_or_insert_with(|| Worker::new(privileged, zero_pfn, vdsos.clone(), dedup));
            let r = worker.scan(&cache, position, pid);
            if let Some(b) = &bar {
                b.inc(1);
            }
            r
        },
    );
    let facts = facts
        .into_inner()
        .unwrap_or_else(kernel::config::kernel_facts);
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let mut per_set: Vec<Vec<Worker>> = sets.iter().map(|_| Vec::new()).collect();
    for w in workers {
        for (k, set) in w.into_iter().enumerate() {
            per_set[k].extend(set);
        }
    }
    let mut cache = cache.into_inner();
    let mut results = results.into_iter();
    let mut reports = Vec::with_capacity(sets.len());
    for (set, mut workers) in sets.iter().zip(per_set) {
        if workers.is_empty() {
            // A set without processes: one worker's empty buckets, as a scan of none.
            workers.push(Worker::new(privileged, zero_pfn, vdsos.clone(), dedup));
        }
        let mut counts = ProcessCounts::default();
        let mut errors = Vec::new();
        for (&pid, result) in set.iter().zip(results.by_ref()) {
            let gone = match result {
                Ok(()) => {
                    counts.scanned += 1;
                    continue;
                }
                Err(gone) => gone,
            };
            match gone {
                Gone::NoMemoryMap { .. } => counts.no_memory_map += 1,
                Gone::Vanished => counts.vanished += 1,
                Gone::Unreadable(_) => counts.unreadable += 1,
            }
            errors.push(PidError::gone(pid, &gone));
        }
        if !listed {
            // Processes come and go on a live machine: counted, not reported one by one.
            errors.clear();
        } else if counts.scanned == 0 && !errors.is_empty() {
            reports.push(SetScan::NoneRead(errors));
            continue;
        }
        let self_scanned = set.contains(&own);
        reports.push(SetScan::Report(Box::new(tally::finish(
            scanner::merge(workers, &mut cache, dedup),
            privilege.clone(),
            scope,
            counts,
            errors,
            self_scanned,
            facts.clone(),
        )?)));
    }
    Ok(reports)
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
            threads: 1,
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
