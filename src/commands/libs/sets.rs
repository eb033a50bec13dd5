//! One run of the door's worker pool over a scope, the processes put in sets by a key read
//! from each opened process (one set for `libs`, a group each for `libs --by`), each set's
//! buckets apart; then each set tallied into its report.

use super::report::{LibsReport, ProcessCounts, PssSource, ScopeName};
use super::scanner::{self, VdsoFrames, Worker};
use super::{ObjectSeen, tally};
use crate::elf::Detail;
use crate::error::{Error, Result};
use crate::kernel::process::Gone;
use crate::kernel::{self, kpage};
use crate::scan::{self, Door, ObjectCache, Opened, PidError, Scope, SharedCache, Visit};
use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// One set of processes scanned: its key, the pids read, its report (its `processes` and
/// `errors` are the set's own, of no use beside the run's) and what the scan keeps of
/// each of its objects.
pub(super) struct SetDone<K> {
    pub key: K,
    pub pids: Vec<i32>,
    pub report: LibsReport,
    pub seen: Vec<ObjectSeen>,
}

/// A run over a scope: the processes counted by what became of them, the ones not read
/// named ([`Scope::settle`]'s rule for ps and libs: with pids given every one, else the
/// ones solab may not read), and the sets, by key.
pub(super) struct SetsRun<K> {
    pub counts: ProcessCounts,
    pub errors: Vec<PidError>,
    pub sets: Vec<SetDone<K>>,
}

/// What every worker of a run starts from.
#[derive(Clone)]
struct Setup {
    privilege: kernel::Privilege,
    privileged: bool,
    zero_pfn: Option<u64>,
    vdsos: Option<VdsoFrames>,
    /// Only distinct frames count (not how often each is mapped).
    dedup: bool,
}

impl Setup {
    fn new(scope: ScopeName, cache: &SharedCache) -> Setup {
        let privilege = kernel::detect_privilege();
        let privileged = privilege.frames();
        let zero_pfn = if privileged {
            kpage::zero_page_pfn().map(|p| p.0)
        } else {
            None
        };
        let pss_source = tally::pss_source(privileged, scope);
        Setup {
            privilege,
            privileged,
            zero_pfn,
            // A vdso is known by its frames only when PSS comes from the frames seen:
            // reading solab's own vdso makes its pages present, which kpagecount would
            // count.
            vdsos: (pss_source == PssSource::Frames).then(|| scanner::own_vdso(cache)),
            // How often each frame is mapped matters only for PSS from kpagecount.
            dedup: pss_source != PssSource::Kpagecount,
        }
    }

    fn worker(&self) -> Worker {
        Worker::new(
            self.privileged,
            self.zero_pfn,
            self.vdsos.clone(),
            self.dedup,
        )
    }
}

/// What a worker made of one opened process: the key of its set, or an error that ends
/// the run (a `--by` that cannot be answered on this machine).
type Keyed<K> = std::result::Result<K, Error>;

/// Scans the processes of `scope` (named `name` in the reports) in one run of the pool,
/// each put in the set `key` reads from it (an [`Error::Usage`] from `key` ends the run);
/// with `progress` a bar on stderr. Each set is tallied as a `libs` scan of its processes
/// alone; `always`: a set tallied even when no process was read into it.
pub(super) fn scan_sets<K: Ord + Clone + Send + Sync>(
    scope: &Scope,
    name: ScopeName,
    progress: bool,
    threads: usize,
    key: impl Fn(&Opened<'_>) -> Result<K> + Sync,
    always: Option<K>,
) -> Result<SetsRun<K>> {
    kernel::check_page_size()?;
    let cache = SharedCache::new(ObjectCache::new(Detail::Kinds));
    let setup = Setup::new(name, &cache);
    let (pids, workers, results, facts) = run_pool(scope, &setup, &cache, progress, threads, key)?;
    let (counts, errors, mut members) = sort_out(scope, &pids, results)?;
    if let Some(k) = always {
        members.entry(k).or_default();
    }
    let mut per_set: BTreeMap<K, Vec<Worker>> = BTreeMap::new();
    for w in workers {
        for (k, worker) in w {
            per_set.entry(k).or_default().push(worker);
        }
    }
    let mut cache = cache.into_inner();
    let own = std::process::id() as i32;
    let mut sets = Vec::with_capacity(members.len());
    for (k, pids) in members {
        let mut workers = per_set.remove(&k).unwrap_or_default();
        if workers.is_empty() {
            // A set without processes: one worker's empty buckets, as a scan of none.
            workers.push(setup.worker());
        }
        let (report, seen) = tally::finish(
            scanner::merge(workers, &mut cache, setup.dedup),
            setup.privilege.clone(),
            name,
            ProcessCounts::default(),
            Vec::new(),
            pids.contains(&own),
            facts.clone(),
        )?;
        sets.push(SetDone {
            key: k,
            pids,
            report,
            seen,
        });
    }
    Ok(SetsRun {
        counts,
        errors,
        sets,
    })
}

/// The pids opened, each worker's buckets by set, what became of each process, and the
/// kernel's configuration (read by the first worker before its first process, while the
/// others scan: neither after the scan, nor by a worker left without a process).
type Pooled<K> = (
    Vec<i32>,
    Vec<BTreeMap<K, Worker>>,
    Vec<Visit<Keyed<K>>>,
    kernel::config::KernelFacts,
);

/// Runs the pool: each process opened by the door, its key read, its pages added to the
/// buckets of its set in its worker.
fn run_pool<K: Ord + Clone + Send + Sync>(
    scope: &Scope,
    setup: &Setup,
    cache: &SharedCache,
    progress: bool,
    threads: usize,
    key: impl Fn(&Opened<'_>) -> Result<K> + Sync,
) -> Result<Pooled<K>> {
    let pids = scope.pids()?;
    let bar = progress.then(|| progress_bar(pids.len()));
    let started = AtomicUsize::new(0);
    let facts = OnceLock::new();
    let door = Door {
        info: false,
        uid: scope.uid(),
    };
    let threads = scan::threads(threads).clamp(1, pids.len().max(1));
    let listed = scan::each_opened(
        || Ok::<_, std::convert::Infallible>(pids.clone()),
        threads,
        door,
        |_| {
            if started.fetch_add(1, Ordering::Relaxed) == 0 {
                facts.get_or_init(kernel::config::kernel_facts);
            }
            BTreeMap::new()
        },
        |sets: &mut BTreeMap<K, Worker>, opened| {
            let read = (|| {
                let k = match key(&opened) {
                    Ok(k) => k,
                    Err(e @ Error::Usage(_)) => return Ok(Err(e)),
                    Err(e) => return Err(e),
                };
                let worker = sets.entry(k.clone()).or_insert_with(|| setup.worker());
                worker.scan(cache, opened.position, opened.dir)?;
                Ok(Ok(k))
            })();
            if let Some(b) = &bar {
                b.inc(1);
            }
            read
        },
    );
    let scan::Listed {
        pids,
        states,
        results,
    } = match listed {
        Ok(l) => l,
        Err(never) => match never {},
    };
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let facts = facts
        .into_inner()
        .unwrap_or_else(kernel::config::kernel_facts);
    Ok((pids, states, results, facts))
}

/// The progress bar of a scan of `n` processes, on stderr.
fn progress_bar(n: usize) -> indicatif::ProgressBar {
    let b = indicatif::ProgressBar::with_draw_target(
        Some(n as u64),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("scanning {bar:40} {pos}/{len} processes {msg}")
    {
        b.set_style(style);
    }
    b
}

/// The processes counted, the ones not read named, the pids read by set.
type SortedOut<K> = (ProcessCounts, Vec<PidError>, BTreeMap<K, Vec<i32>>);

/// What the door made of each process: counted by what became of it, the ones not read
/// named (with pids given every one, else the ones solab may not read: processes come and
/// go on a live machine, and kernel threads have nothing to read), the pids read by set.
/// Pids given none of which could be read, or -u's user without processes, are an error.
fn sort_out<K: Ord>(
    scope: &Scope,
    pids: &[i32],
    results: Vec<Visit<Keyed<K>>>,
) -> Result<SortedOut<K>> {
    let mut counts = ProcessCounts::default();
    let mut errors = Vec::new();
    let mut members: BTreeMap<K, Vec<i32>> = BTreeMap::new();
    let mut of_user = 0;
    for (&pid, visit) in pids.iter().zip(results) {
        match visit {
            Visit::Read(Ok(k)) => {
                counts.scanned += 1;
                members.entry(k).or_default().push(pid);
            }
            Visit::Read(Err(e)) => return Err(e),
            Visit::Other => continue,
            Visit::Gone(gone) => {
                match gone {
                    Gone::NoMemoryMap { .. } => counts.no_memory_map += 1,
                    Gone::Vanished => counts.vanished += 1,
                    Gone::Unreadable(_) => counts.unreadable += 1,
                }
                if scope.listed() || matches!(gone, Gone::Unreadable(_)) {
                    errors.push(PidError::gone(pid, &gone));
                }
            }
        }
        of_user += 1;
    }
    if let Some(e) = scope.none_of_user(of_user) {
        return Err(e);
    }
    if scope.listed() && counts.scanned == 0 && !errors.is_empty() {
        return Err(Error::Usage(format!(
            "no process could be read: {}",
            errors
                .iter()
                .map(|e| e.message.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        )));
    }
    Ok((counts, errors, members))
}
