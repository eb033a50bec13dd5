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

use crate::error::{Error, Result};

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
mod sets;
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
    // One set, tallied even when no process could be read into it.
    let run = sets::scan_sets(
        &opts.scope,
        scope_name(&opts.scope),
        opts.progress,
        opts.threads,
        |_| Ok(()),
        Some(()),
    )?;
    let set = run.sets.into_iter().next();
    let report = set
        .map(|s| s.report)
        .ok_or_else(|| Error::Usage("no processes".into()))?;
    Ok(LibsReport {
        processes: run.counts,
        errors: run.errors,
        ..report
    })
}

/// How the report names the scope.
fn scope_name(scope: &Scope) -> ScopeName {
    match scope {
        Scope::All => ScopeName::All,
        Scope::User { .. } => ScopeName::User,
        Scope::Pids(_) | Scope::PidsOf { .. } => ScopeName::Pids,
    }
}

/// What the scan keeps of an object beside its row (in the same order), for comparing
/// groups (`--by`); not part of the report.
pub(super) struct ObjectSeen {
    /// The ELF build-id (NT_GNU_BUILD_ID), for telling the same library in another file.
    pub build_id: Option<String>,
    /// As root: its frames mapped more than once (an exclusive frame is mapped once, so
    /// by no other process), distinct, sorted.
    pub shared_frames: Vec<u64>,
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
