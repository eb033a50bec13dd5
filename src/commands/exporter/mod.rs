//! `solab exporter`: one reading of the machine for Prometheus, made of the figures `ps
//! --by`, `libs` and `family` make, bounded before anything is exported.
//!
//! A [`Reading`] holds the `ps` groups of every process (the first [`ExporterOptions::groups`]
//! by PSS, the others summed in [`Rest`]), the shared objects (the first
//! [`ExporterOptions::libs`] by memory saved, the others summed), the families named by
//! their root's pid or found as `prove` finds them ([`found_roots`], at most
//! [`ExporterOptions::find_families`]), each with at most [`FAMILY_WORKERS`] workers of its
//! own (the family's totals still cover all), and what the scans cost and met. Its size is
//! bounded by those numbers, not by the machine: the exposition has at most `groups + libs +
//! families × (FAMILY_WORKERS + 1)` label sets, whatever runs.
//!
//! The scans are the commands' own ([`ps::ps`], [`libs::table`], [`family::family`]); this
//! module only chooses and cuts. Rendering is `output::prometheus`.

use crate::commands::family::{self, Inherited};
use crate::commands::group_key::GroupBy;
use crate::commands::libs::{self, LibsOptions, LibsOrder, SortKey};
use crate::commands::prove::families::fork_families_in;
use crate::commands::ps::{self, Cost, GroupFrames, PsCounts, PsKey, PsOptions, PsOrder};
use crate::error::Result;
use crate::kernel::config::Mapcount;
use crate::kernel::process::cgroup_in;
use crate::kernel::{Evidence, deadline};
use crate::scan;
use std::time::{Duration, Instant};

/// The most workers of one family exported one by one.
pub const FAMILY_WORKERS: usize = 64;

/// What one reading covers.
#[derive(Clone, Debug)]
pub struct ExporterOptions {
    /// What the groups are.
    pub by: GroupBy,
    /// Groups exported one by one, the largest PSS first; the others are summed.
    pub groups: usize,
    /// Shared objects exported one by one, the largest memory saved first (0: no `libs`
    /// scan at all); the others are summed.
    pub libs: usize,
    /// Roots of the families to read (`--family`); when empty, the families are found.
    pub families: Vec<i32>,
    /// Without `families`: the most fork families found and read, the largest first
    /// ([`found_roots`]); 0: none.
    pub find_families: usize,
    /// Workers per scan ([`crate::scan::threads`]).
    pub threads: usize,
    /// How long one reading may take (`--deadline`, 8 s unless told: under Prometheus's
    /// default scrape timeout of 10 s, so that the scrape that starts a scan is answered):
    /// past it no more processes are read (a memory map being read stops too, its process
    /// unreadable), what was read is exported and [`ScanStats::truncated`] says so.
    pub deadline: Duration,
}

/// One group of processes.
#[derive(Clone, Debug)]
pub struct GroupReading {
    pub key: String,
    pub processes: u32,
    pub cost: Cost,
    /// `None` without frame numbers (weak).
    pub frames: Option<GroupFrames>,
}

/// The groups or objects left out by the cut, summed.
#[derive(Clone, Debug, Default)]
pub struct Rest {
    /// How many were summed.
    pub count: u32,
    pub processes: u32,
    pub cost: Cost,
    pub resident: u64,
    pub frames: u64,
    pub saved: u64,
}

/// One shared object, in bytes.
#[derive(Clone, Debug)]
pub struct ObjectReading {
    pub path: String,
    pub processes: u32,
    /// Resident pages summed over the processes.
    pub resident: u64,
    /// Distinct frames (`None` without frame numbers: weak).
    pub frames: Option<u64>,
    /// Memory saved by sharing (an smaps estimate when weak).
    pub saved: u64,
}

/// One member of a family below its root, in bytes.
#[derive(Clone, Debug)]
pub struct WorkerReading {
    pub comm: String,
    /// Its place among the members of its command name, by depth then pid: the same
    /// after a restart that starts the same workers.
    pub index: usize,
    pub pages: Inherited,
}

/// One family, in bytes.
#[derive(Clone, Debug)]
pub struct FamilyReading {
    pub root_comm: String,
    /// The root's cgroup (empty when unreadable).
    pub root_cgroup: String,
    /// Members below the root.
    pub members: u32,
    /// Over every member below the root.
    pub totals: Inherited,
    /// At most [`FAMILY_WORKERS`].
    pub workers: Vec<WorkerReading>,
    /// Members that could not be read.
    pub errors: u32,
}

/// What a scan met and cost.
#[derive(Clone, Debug, Default)]
pub struct ScanStats {
    pub seconds: f64,
    pub counts: PsCounts,
    /// Processes not read because the reading's deadline had passed.
    pub late: u32,
    /// Whether the deadline passed before the scan ended: `late` processes were not read,
    /// a process whose map was being read is among the unreadable, families were left.
    pub truncated: bool,
}

/// One reading of the machine.
#[derive(Clone, Debug)]
pub struct Reading {
    pub evidence: Evidence,
    pub mapcount: Mapcount,
    pub by: GroupBy,
    pub totals: Cost,
    pub groups: Vec<GroupReading>,
    pub groups_rest: Rest,
    pub objects: Vec<ObjectReading>,
    pub objects_rest: Rest,
    pub families: Vec<FamilyReading>,
    /// Families whose root could not be read.
    pub families_missing: u32,
    /// Families found or named but not read: the deadline had passed.
    pub families_late: u32,
    /// When the families were found: the fork families found beyond
    /// [`ExporterOptions::find_families`], not read.
    pub families_beyond: Option<u32>,
    pub ps: ScanStats,
    /// `None` with `libs: 0`.
    pub libs: Option<ScanStats>,
    /// `None` without families (none named, `--families 0`).
    pub family: Option<ScanStats>,
}

/// What the families part of a reading found.
struct Families {
    read: Vec<FamilyReading>,
    missing: u32,
    late: u32,
    beyond: Option<u32>,
    stats: ScanStats,
}

/// Reads the machine: `ps --by` of every process, then `libs` of every process, then one
/// tree of the processes, the families found in it and each family, all within
/// `opts.deadline` of the start (see [`ExporterOptions::deadline`]).
pub fn read(opts: &ExporterOptions) -> Result<Reading> {
    let start = Instant::now();
    let deadline = start + opts.deadline;
    // This thread's scans stop at the deadline (kernel::deadline), theirs counted apart.
    let _until = deadline::until(Some(deadline));
    deadline::take_left();
    let ps::PsTable { report, .. } = ps::ps(&PsOptions {
        all: true,
        placement: opts.by.needs_cgroup(),
        threads: opts.threads,
        by: Some(opts.by),
        order: PsOrder {
            key: PsKey::Pss,
            reverse: false,
            top: 0,
        },
        ..PsOptions::default()
    })?;
    let ps_stats = stats(start, report.counts.clone(), deadline);
    let mut groups_rest = Rest::default();
    let mut groups = Vec::with_capacity(opts.groups.min(report.groups.len()));
    for (i, g) in report.groups.into_iter().enumerate() {
        if i < opts.groups {
            groups.push(GroupReading {
                key: g.key,
                processes: g.processes,
                cost: g.cost,
                frames: g.frames,
            });
        } else {
            groups_rest.count += 1;
            groups_rest.processes += g.processes;
            add_cost(&mut groups_rest.cost, &g.cost);
        }
    }
    let (objects, objects_rest, libs_stats) = if opts.libs == 0 {
        (Vec::new(), Rest::default(), None)
    } else {
        let (objects, rest, stats) = read_objects(opts, deadline)?;
        (objects, rest, Some(stats))
    };
    let families = if opts.families.is_empty() && opts.find_families == 0 {
        None
    } else {
        Some(read_families(opts, deadline)?)
    };
    let (families, families_missing, families_late, families_beyond, family) = match families {
        Some(f) => (f.read, f.missing, f.late, f.beyond, Some(f.stats)),
        None => (Vec::new(), 0, 0, None, None),
    };
    Ok(Reading {
        evidence: report.evidence,
        mapcount: report.kernel.mapcount,
        by: opts.by,
        totals: report.totals.cost,
        groups,
        groups_rest,
        objects,
        objects_rest,
        families,
        families_missing,
        families_late,
        families_beyond,
        ps: ps_stats,
        libs: libs_stats,
        family,
    })
}

/// The figures of a scan begun at `start` that met `counts`, ended now: the processes its
/// pool left at the deadline taken from [`deadline::take_left`].
fn stats(start: Instant, counts: PsCounts, deadline: Instant) -> ScanStats {
    let late = deadline::take_left() as u32;
    let now = Instant::now();
    ScanStats {
        seconds: now.duration_since(start).as_secs_f64(),
        counts,
        late,
        truncated: late > 0 || now >= deadline,
    }
}

/// The families: one tree of the processes (one pass over /proc, each process's stat and
/// executable read once), the fork families found in it or the roots named, and each
/// family read from the same tree. Past the deadline no other family is begun; a family
/// whose reading the deadline cut is left out (counted late), never exported in part.
fn read_families(opts: &ExporterOptions, deadline: Instant) -> Result<Families> {
    let start = Instant::now();
    let find = opts.families.is_empty();
    let tree = family::Tree::read(opts.threads, find)?;
    let (roots, beyond) = if find {
        let (roots, beyond) = found_roots(&tree, opts.find_families);
        (roots, Some(beyond))
    } else {
        (opts.families.clone(), None)
    };
    let mut left = deadline::take_left() as u32;
    let (mut read, mut missing, mut late) = (Vec::new(), 0, 0);
    for &root in &roots {
        if deadline::passed() {
            late += 1;
            continue;
        }
        let family = read_family(root, &tree, opts.threads);
        let cut = deadline::take_left();
        if cut > 0 || (family.is_none() && deadline::passed()) {
            left += cut as u32;
            late += 1;
            continue;
        }
        match family {
            Some(f) => read.push(f),
            None => missing += 1,
        }
    }
    let now = Instant::now();
    Ok(Families {
        read,
        missing,
        late,
        beyond,
        stats: ScanStats {
            seconds: now.duration_since(start).as_secs_f64(),
            counts: PsCounts::default(),
            late: left,
            truncated: left > 0 || late > 0 || now >= deadline,
        },
    })
}

/// The roots of the fork families in `tree` as `prove` finds them
/// ([`fork_families_in`]: a root and the processes below it that forked from it without
/// exec, two or more; solab itself left out), the `most` with the most members (the lower
/// root pid first among equals), in the order of their root's pid (the older first, so
/// that `#2` labels follow start order); and how many more were found.
pub fn found_roots(tree: &family::Tree, most: usize) -> (Vec<i32>, u32) {
    let own = std::process::id() as i32;
    let pids: Vec<i32> = tree.pids().iter().copied().filter(|&p| p != own).collect();
    let mut found: Vec<(usize, i32)> = fork_families_in(&pids, tree)
        .into_iter()
        .map(|f| (f.pids.len(), f.root))
        .collect();
    found.sort_by_key(|&(members, root)| (std::cmp::Reverse(members), root));
    let beyond = found.len().saturating_sub(most) as u32;
    let mut roots: Vec<i32> = found.into_iter().take(most).map(|(_, r)| r).collect();
    roots.sort_unstable();
    (roots, beyond)
}

fn add_cost(to: &mut Cost, c: &Cost) {
    to.rss += c.rss;
    to.pss += c.pss;
    to.uss += c.uss;
    to.swap += c.swap;
}

/// `libs` of every process, the objects by memory saved, cut at `opts.libs`.
fn read_objects(
    opts: &ExporterOptions,
    deadline: Instant,
) -> Result<(Vec<ObjectReading>, Rest, ScanStats)> {
    let start = Instant::now();
    let libs::LibsTable { report, .. } = libs::table(
        &LibsOptions {
            scope: libs::Scope::All,
            progress: false,
            threads: opts.threads,
        },
        &LibsOrder {
            object: None,
            key: SortKey::Saved,
            reverse: false,
            top: 0,
        },
    )?;
    let page = report.page_size;
    let bytes = |pages: f64| (pages.max(0.0) * page as f64).round() as u64;
    let mut rest = Rest::default();
    let mut objects = Vec::with_capacity(opts.libs.min(report.objects.len()));
    for (i, o) in report.objects.into_iter().enumerate() {
        let resident = o.resident_pages * page;
        let frames = o.frames.map(|f| f * page);
        let saved = bytes(o.saved_pages);
        if i < opts.libs {
            objects.push(ObjectReading {
                path: o.path,
                processes: o.procs,
                resident,
                frames,
                saved,
            });
        } else {
            rest.count += 1;
            rest.resident += resident;
            rest.frames += frames.unwrap_or(0);
            rest.saved += saved;
        }
    }
    let p = &report.processes;
    let counts = PsCounts {
        scanned: p.scanned,
        vanished: p.vanished,
        unreadable: p.unreadable,
        no_memory_map: p.no_memory_map,
        filtered_out: 0,
    };
    Ok((objects, rest, stats(start, counts, deadline)))
}

/// The family of `root`, its members found in `tree`; `None` when its root cannot be read
/// (it exited: no family).
fn read_family(root: i32, tree: &family::Tree, threads: usize) -> Option<FamilyReading> {
    let cgroup = match scan::visit(root, 0, scan::Door::default(), |opened| {
        opened.dir.cgroup_text(&mut Vec::new()).map(cgroup_in)
    }) {
        scan::Visit::Read(cgroup) => cgroup,
        scan::Visit::Other | scan::Visit::Gone(_) => String::new(),
    };
    let report = family::family_in(root, tree, threads).ok()?;
    let root_comm = report
        .processes
        .first()
        .map(|m| m.comm.clone())
        .unwrap_or_default();
    let mut below: Vec<&family::Member> = report.processes.iter().skip(1).collect();
    below.sort_by_key(|m| (m.comm.clone(), m.depth, m.pid));
    let mut workers = Vec::with_capacity(below.len().min(FAMILY_WORKERS));
    let mut index = 0;
    for (i, m) in below.iter().enumerate() {
        index = if i > 0 && below[i - 1].comm == m.comm {
            index + 1
        } else {
            0
        };
        if workers.len() < FAMILY_WORKERS {
            workers.push(WorkerReading {
                comm: m.comm.clone(),
                index,
                pages: m.totals,
            });
        }
    }
    Some(FamilyReading {
        root_comm,
        root_cgroup: cgroup,
        members: below.len() as u32,
        totals: report.totals,
        workers,
        errors: report.errors.len() as u32,
    })
}
