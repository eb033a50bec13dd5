//! `solab ps`: what each process costs, one row per process: RSS, PSS, USS and swap, split
//! by [`MemClass`](crate::sharing::MemClass) (ELF objects, anonymous memory, `MAP_SHARED` memory, other files).
//!
//! As root (CAP_SYS_ADMIN) the figures come from frames, the method of KERNEL.md
//! ("Per-process cost from frames"): every present page of every mapping but `[vsyscall]`
//! is looked up in /proc/kpagecount, each distinct frame read once per worker, after the
//! first process that met it (a page whose pagemap bit 56 promises it is mapped once counts
//! 1 without a read: [`mapped_once`](crate::sharing::mapped_once)); the zero page and frames whose count is 0 (PFN-mapped
//! pages such as `[vvar]`) are not memory the process holds and are skipped; PSS adds
//! `page_size / kpagecount`, USS counts the frames mapped once. solab's own mappings of a
//! frame (it maps libc too) are taken off its kpagecount: the figures are the machine's
//! without solab. Swap is pagemap bit 62; SWAP is the kernel's SwapPss (smaps, read for the
//! processes with pages in swap), and SWAP-USS counts the swap entries held once
//! ([`swap`]).
//! Without the capability the figures are the kernel's smaps ones (Rss, Pss,
//! Private_Clean + Private_Dirty, Swap, SwapPss), labelled weak, and SWAP-USS is unknown.
//!
//! How a run goes (`--threads N` workers, 1: all on the calling thread, in order):
//! - Before the first process the first worker lists the processes and reads the kernel's
//!   configuration, while the second reads solab's own frames, each of its file mappings
//!   mapped whole first ([`kpage::OwnFrames::read_settled`]), so that every count read
//!   later has the same own mappings to take off ([`scan::each_opened`]). One
//!   worker alone does all three.
//! - The door opens each process once for its worker
//!   ([`scan::each_opened`], with [`ProcDir::open_with_info`](crate::kernel::process::ProcDir::open_with_info): /proc/PID as a
//!   directory, and a pidfd for the real uid, the parent and the cgroup id); the worker
//!   opens every other file of the row relative to it: a directory whose process exited opens
//!   nothing more, so a field read after the exit is left empty, never another process's.
//!   Status replaces the pidfd and comm for a child of kthreadd (maybe a kernel thread) and
//!   where the kernel lacks `PIDFD_GET_INFO`; ns/mnt and cgroup are read only for JSON and
//!   `--by cgroup|container`, a cgroup's path once per cgroup id and worker.
//!
//! Its parts: `report` (the serialized types), `engine` (a worker's scan of a process's
//! pages), `row` (a process's row), `cgroup` (cgroup paths), `by_group` (`--by`), `swap`
//! (swap counted once), `sort`.

mod by_group;
mod cgroup;
mod engine;
mod report;
mod row;
mod sort;
mod swap;

pub use super::group_key::GroupBy;
pub use report::{
    ByClass, Cost, CostSource, GroupFrames, PS_SCHEMA, PsCounts, PsGroup, PsReport, PsRow,
    PsTotals, SwapPssSource, SwapUniqueSource,
};
pub use row::user_name;
pub use sort::{PsKey, PsOrder};

use crate::addr::PAGE_SIZE;
use crate::elf::Detail;
use crate::error::Result;
use crate::kernel::process::Gone;
use crate::kernel::{self, kpage};
use crate::scan::{self, Door, ObjectCache, PidError, SharedCache, Visit};
use engine::{Scanner, SolabFrames};
use row::{PsScan, RowFrames, Worker};

/// Which processes, which of them to keep, and how the rows are made.
#[derive(Clone, Debug, Default)]
pub struct PsOptions {
    /// Every process but this one.
    pub all: bool,
    pub pids: Vec<i32>,
    /// Only processes of this real uid.
    pub uid: Option<u32>,
    /// Only processes whose command name matches.
    pub command: Option<regex::Regex>,
    /// Read where each process runs: its cgroup and mount namespace ([`PsRow::cgroup`],
    /// [`PsRow::mnt_ns`]), for JSON and for grouping by cgroup or container. Two more
    /// files per process; the table does not show them.
    pub placement: bool,
    /// Read each process's command line ([`PsRow::cmdline`]): one more file per process.
    pub cmdline: bool,
    /// Workers scanning processes in parallel: 0 one per CPU, 1 one (in order, on this
    /// thread). The report is the same whatever the number.
    pub threads: usize,
    /// One row per group of processes instead of one per process.
    pub by: Option<GroupBy>,
    /// How the rows (or groups) are ordered, and how many are kept.
    pub order: PsOrder,
}

/// The most bytes of a command line read ([`PsOptions::cmdline`]): its length is the
/// process's to choose, up to the whole of its argument space.
pub const CMDLINE_LIMIT: usize = 4096;

/// The finished `ps`: the report, and how many rows (or groups) [`PsOrder::top`] left out.
pub struct PsTable {
    pub report: PsReport,
    pub hidden: usize,
}

/// Scans the processes and makes the rows: one per process, or with [`PsOptions::by`] one
/// per group, ordered by [`PsOptions::order`].
pub fn ps(opts: &PsOptions) -> Result<PsTable> {
    kernel::check_page_size()?;
    let privilege = kernel::detect_privilege();
    let frames = privilege.frames();
    let scanned = scan_processes(opts, frames)?;
    let mut gathered = gather(opts.all, scanned.pids, scanned.results);
    if frames {
        swap::count_unique(&mut gathered.rows, &gathered.row_frames);
    }
    swap::share_shmem(&mut gathered.rows, &gathered.row_frames, frames);
    let swap_pss_source = if gathered.row_frames.iter().any(|f| f.no_swap_pss) {
        SwapPssSource::Swap
    } else {
        SwapPssSource::SwapPss
    };
    let mut report = PsReport {
        schema: PS_SCHEMA.into(),
        evidence: privilege.evidence,
        privileged: frames,
        weak: !frames,
        privilege_note: privilege.note,
        source: if frames {
            CostSource::Frames
        } else {
            CostSource::Smaps
        },
        swap_pss_source,
        swap_unique_source: frames.then_some(SwapUniqueSource::SwapEntries),
        kernel: scanned.kernel,
        page_size: PAGE_SIZE,
        counts: gathered.counts,
        errors: gathered.errors,
        totals: PsTotals::of(&gathered.rows),
        processes: gathered.rows,
        by: None,
        groups: Vec::new(),
    };
    let hidden = arrange(&mut report, opts, gathered.row_frames, &scanned.own_frames)?;
    Ok(PsTable { report, hidden })
}

/// What the scan leaves: the pids listed, what each one's worker made of it, the kernel's
/// configuration, and solab's own frames (the ones every count took off).
struct Scanned {
    pids: Vec<i32>,
    results: Vec<PsScan>,
    kernel: kernel::config::KernelFacts,
    own_frames: kpage::OwnFrames,
}

/// Lists the processes of `opts` and reads each on one of the workers ([`Worker::read`]).
fn scan_processes(opts: &PsOptions, frames: bool) -> Result<Scanned> {
    // Each process's frames, for groups counted from frames.
    let keep_frames = opts.by.is_some() && frames;
    let own = std::process::id() as i32;
    let list = || -> Result<Vec<i32>> {
        if opts.all {
            scan::all_but_self()
        } else {
            Ok(scan::each_once(opts.pids.iter().copied()))
        }
    };
    let facts = std::sync::OnceLock::new();
    let own_frames = SolabFrames::default();
    let me_scanned = !opts.all && opts.pids.contains(&own);
    let zero = if frames { kpage::zero_page_pfn() } else { None };
    let cache = SharedCache::new(ObjectCache::new(Detail::Kinds));
    let threads = scan::threads(opts.threads);
    // No more workers than processes given (with -a there are always more).
    let threads = if opts.all {
        threads
    } else {
        threads.clamp(1, opts.pids.len().max(1))
    };
    // The first worker lists the processes and reads the kernel's configuration, the
    // second solab's own frames (the counts need them from the first process on).
    let door = Door {
        info: true,
        uid: None,
    };
    let scan::Listed { pids, results, .. } = scan::each_opened(
        list,
        threads,
        door,
        |worker| {
            if worker == 0 {
                facts.get_or_init(kernel::config::kernel_facts);
            }
            if worker == 1 || threads == 1 {
                own_frames.get(frames);
            }
            Worker::new(Scanner::new(
                frames,
                zero,
                &cache,
                &own_frames,
                own,
                me_scanned,
            ))
        },
        |w: &mut Worker, opened| w.read(opts, keep_frames, opened),
    )?;
    let kernel = facts
        .into_inner()
        .unwrap_or_else(kernel::config::kernel_facts);
    let own_frames = own_frames.into_frames()?;
    Ok(Scanned {
        pids,
        results,
        kernel,
        own_frames,
    })
}

/// The scan's results sorted out: the rows and what grouping keeps beside each; the
/// processes that made none counted, and with pids given named.
struct Gathered {
    counts: PsCounts,
    errors: Vec<PidError>,
    rows: Vec<PsRow>,
    row_frames: Vec<RowFrames>,
}

/// Sorts out what the workers made of `pids`; `all`: the processes were listed (-a), not
/// given.
fn gather(all: bool, pids: Vec<i32>, results: Vec<PsScan>) -> Gathered {
    let mut counted = PsCounts::default();
    let mut errors = Vec::new();
    let mut rows = Vec::with_capacity(results.len());
    let mut row_frames = Vec::with_capacity(results.len());
    for (pid, result) in pids.into_iter().zip(results) {
        match result {
            Visit::Read(Some((r, f))) => {
                counted.scanned += 1;
                rows.push(r);
                row_frames.push(f);
            }
            Visit::Read(None) | Visit::Other => counted.filtered_out += 1,
            Visit::Gone(gone) => {
                match gone {
                    Gone::Vanished => counted.vanished += 1,
                    Gone::NoMemoryMap { .. } => counted.no_memory_map += 1,
                    Gone::Unreadable(_) => counted.unreadable += 1,
                }
                // Processes come and go on a live machine: with -a a vanished one, a
                // kernel thread or a zombie is counted, not reported one by one; one solab
                // may not read is named.
                if !all || matches!(gone, Gone::Unreadable(_)) {
                    errors.push(PidError::gone(pid, &gone));
                }
            }
        }
    }
    Gathered {
        counts: counted,
        errors,
        rows,
        row_frames,
    }
}

/// With [`PsOptions::by`] groups the rows (`own_frames` taken off the groups' counts),
/// then orders the rows or groups by [`PsOptions::order`] and keeps the first `top`;
/// returns how many it left out.
fn arrange(
    report: &mut PsReport,
    opts: &PsOptions,
    row_frames: Vec<RowFrames>,
    own_frames: &kpage::OwnFrames,
) -> Result<usize> {
    let order = opts.order;
    Ok(match opts.by {
        Some(by) => {
            report.group(by, row_frames, own_frames)?;
            let total = report.groups.len();
            report.sort_groups(order.key, order.reverse, order.top);
            total - report.groups.len()
        }
        None => {
            let total = report.processes.len();
            report.sort(order.key, order.reverse, order.top);
            total - report.processes.len()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_has_elf_and_anon() {
        let r = ps(&PsOptions {
            pids: vec![std::process::id() as i32],
            ..PsOptions::default()
        })
        .expect("ps self")
        .report;
        let row = &r.processes[0];
        assert!(
            row.classes.elf.rss > 0 && row.classes.anon.rss > 0,
            "{row:?}"
        );
        assert!(row.cost.uss <= row.cost.pss && row.cost.pss <= row.cost.rss);
        assert_eq!(r.totals.cost, row.cost);
    }
}
