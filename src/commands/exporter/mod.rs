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
use crate::commands::prove::fork_families;
use crate::commands::ps::{self, Cost, GroupFrames, PsCounts, PsKey, PsOptions, PsOrder};
use crate::error::Result;
use crate::kernel::Evidence;
use crate::kernel::config::Mapcount;
use crate::kernel::process::cgroup_in;
use crate::scan;
use std::time::Instant;

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
    /// When the families were found: the fork families found beyond
    /// [`ExporterOptions::find_families`], not read.
    pub families_beyond: Option<u32>,
    pub ps: ScanStats,
    /// `None` with `libs: 0`.
    pub libs: Option<ScanStats>,
    pub family_seconds: f64,
}

/// Reads the machine: `ps --by` of every process, then `libs` of every process, then each
/// family.
pub fn read(opts: &ExporterOptions) -> Result<Reading> {
    let start = Instant::now();
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
    let ps_stats = ScanStats {
        seconds: start.elapsed().as_secs_f64(),
        counts: report.counts.clone(),
    };
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
        let (objects, rest, stats) = read_objects(opts)?;
        (objects, rest, Some(stats))
    };
    let start = Instant::now();
    let (roots, families_beyond) = if opts.families.is_empty() && opts.find_families > 0 {
        let (roots, beyond) = found_roots(opts.find_families)?;
        (roots, Some(beyond))
    } else {
        (opts.families.clone(), None)
    };
    let mut families = Vec::new();
    let mut families_missing = 0;
    for &root in &roots {
        match read_family(root, opts.threads) {
            Some(f) => families.push(f),
            None => families_missing += 1,
        }
    }
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
        families_beyond,
        ps: ps_stats,
        libs: libs_stats,
        family_seconds: start.elapsed().as_secs_f64(),
    })
}

/// The roots of the fork families of the machine as `prove` finds them
/// ([`fork_families`]: a root and the processes below it that forked from it without exec,
/// two or more), the `most` with the most members (the lower root pid first among equals),
/// in the order of their root's pid (the older first, so that `#2` labels follow start
/// order); and how many more were found. Each process's stat and executable are read once.
pub fn found_roots(most: usize) -> Result<(Vec<i32>, u32)> {
    let pids = scan::all_but_self()?;
    let mut found: Vec<(usize, i32)> = fork_families(&pids)
        .into_iter()
        .map(|f| (f.pids.len(), f.root))
        .collect();
    found.sort_by_key(|&(members, root)| (std::cmp::Reverse(members), root));
    let beyond = found.len().saturating_sub(most) as u32;
    let mut roots: Vec<i32> = found.into_iter().take(most).map(|(_, r)| r).collect();
    roots.sort_unstable();
    Ok((roots, beyond))
}

fn add_cost(to: &mut Cost, c: &Cost) {
    to.rss += c.rss;
    to.pss += c.pss;
    to.uss += c.uss;
    to.swap += c.swap;
}

/// `libs` of every process, the objects by memory saved, cut at `opts.libs`.
fn read_objects(opts: &ExporterOptions) -> Result<(Vec<ObjectReading>, Rest, ScanStats)> {
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
    let stats = ScanStats {
        seconds: start.elapsed().as_secs_f64(),
        counts: PsCounts {
            scanned: p.scanned,
            vanished: p.vanished,
            unreadable: p.unreadable,
            no_memory_map: p.no_memory_map,
            filtered_out: 0,
        },
    };
    Ok((objects, rest, stats))
}

/// The family of `root`, `None` when its root cannot be read (it exited: no family).
fn read_family(root: i32, threads: usize) -> Option<FamilyReading> {
    let cgroup = match scan::visit(root, 0, scan::Door::default(), |opened| {
        opened.dir.cgroup_text(&mut Vec::new()).map(cgroup_in)
    }) {
        scan::Visit::Read(cgroup) => cgroup,
        scan::Visit::Other | scan::Visit::Gone(_) => String::new(),
    };
    let report = family::family(root, threads).ok()?;
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
