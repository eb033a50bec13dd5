//! `solab libs --by user|comm|cgroup|container`: do the same libraries really share memory
//! across groups of processes (users, services, containers, sandboxes)?
//!
//! Every group's processes are scanned in one run of the worker pool, each group's buckets
//! apart (they count a frame once per group), as a `libs` scan of that group alone would;
//! then the groups' frames are compared with each other by frame number.
//! Per group: its ELF objects' distinct frames (what its libraries would cost it alone),
//! how many of them a process of another group maps too (really shared across the groups),
//! and how many of its objects are a library (by build-id) that another group maps too.
//! Without frame numbers only the last, and the smaps figures summed, are known: weak.

use super::{LibsOptions, ProcessCounts, ScopeName, SetScan, SortKey, scan_sets};

/// A finished `libs --by` report, and how many groups the order's `top` left out.
pub struct GroupsTable {
    pub report: LibsGroupsReport,
    pub hidden: usize,
}

/// [`libs_by`], its groups ordered by `key` (see [`LibsGroupsReport::sort`]), reversed
/// with `reverse`, the first `top` kept (0 keeps all).
pub fn table(
    opts: &LibsOptions,
    by: GroupBy,
    key: SortKey,
    reverse: bool,
    top: usize,
) -> Result<GroupsTable> {
    let mut report = libs_by(opts, by)?;
    let total = report.groups.len();
    report.sort(key, reverse, top);
    Ok(GroupsTable {
        hidden: total - report.groups.len(),
        report,
    })
}
use crate::addr::PAGE_SIZE;
use crate::commands::group_key::{Container, GroupBy, no_cgroup_v2};
use crate::commands::ps::user_name;
use crate::error::{Error, Result};
use crate::kernel::{self, process, process::ProcDir};
use crate::scan::PidError;
use crate::sharing::groups;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};

pub const LIBS_GROUPS_SCHEMA: &str = "solab.libs-groups.v1";

/// One group's libraries (the words are defined in
/// [`crate::sharing::LIBS_GROUP_WORDS`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LibsGroup {
    /// The user name, the command name, the cgroup path, or `CGROUP mnt:INODE`.
    pub key: String,
    pub container: Option<Container>,
    /// The processes of the group that were scanned.
    pub pids: Vec<i32>,
    pub procs: u32,
    /// ELF objects its processes map.
    pub objects: u32,
    /// Present pages of those objects, summed over its processes.
    pub resident_pages: u64,
    /// PSS of those objects summed over its processes (smaps Pss when weak).
    pub pss_pages: f64,
    /// FRAMES: distinct frames of its objects; null when weak.
    pub frames: Option<u64>,
    /// WITH-OTHERS: of those frames, the ones a process of another group maps too; null
    /// when weak.
    pub with_others: Option<u64>,
    /// SAME-LIBS: its objects whose library another group maps too.
    pub same_libs: u32,
}

/// What `solab libs --by WHAT --json` prints.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LibsGroupsReport {
    pub schema: String,
    pub privileged: bool,
    /// True without frame numbers: frames and with_others are null, the rest are sums.
    pub weak: bool,
    pub privilege_note: Option<String>,
    pub kernel: kernel::config::KernelFacts,
    pub page_size: u64,
    pub by: GroupBy,
    pub processes: ProcessCounts,
    /// For explicit pids: the ones that could not be read, by name.
    pub errors: Vec<PidError>,
    pub groups: Vec<LibsGroup>,
}

/// The group key of `pid`, and its container with `--by container`, read through its
/// /proc directory (every field of one process). `Ok(None)`: it exited before it was read.
fn key_of(
    pid: i32,
    by: GroupBy,
    users: &mut HashMap<u32, String>,
) -> Result<Option<(String, Option<Container>)>> {
    let dir = match ProcDir::open(pid) {
        Ok(d) => d,
        Err(Error::NoSuchProcess { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    // Kernel threads have no memory, and no libraries.
    if matches!(dir.refuse_kernel_thread(), Err(Error::KernelThread { .. })) {
        return Ok(Some((String::new(), None)));
    }
    let status = match dir.status(&mut Vec::new()) {
        Ok(s) => s,
        Err(_) if !dir.exists() => return Ok(None),
        Err(e) => return Err(e),
    };
    let uid = status.uid;
    Ok(Some(match by {
        GroupBy::User => (
            users.entry(uid).or_insert_with(|| user_name(uid)).clone(),
            None,
        ),
        GroupBy::Comm => (dir.comm(), None),
        GroupBy::Cgroup | GroupBy::Container => {
            let cgroup = match dir.cgroup_text(&mut Vec::new()) {
                Ok(text) => match process::cgroup_v2_in(text) {
                    Some(c) => c,
                    None => return Err(no_cgroup_v2(by, pid)),
                },
                Err(_) if !dir.exists() => return Ok(None),
                Err(e) => return Err(e),
            };
            if by == GroupBy::Cgroup {
                (cgroup, None)
            } else {
                let c = Container::of(&cgroup, dir.mnt_ns().ok());
                (c.key(), Some(c))
            }
        }
    }))
}

/// Scans the scope's processes group by group and compares the groups.
pub fn libs_by(opts: &LibsOptions, by: GroupBy) -> Result<LibsGroupsReport> {
    kernel::check_page_size()?;
    let privilege = kernel::detect_privilege();
    let privileged = privilege.frames();
    let listed = opts.scope.listed();
    let mut counts = ProcessCounts::default();
    let mut errors = Vec::new();
    let mut users = HashMap::new();
    let mut members: BTreeMap<String, (Option<Container>, Vec<i32>)> = BTreeMap::new();
    for pid in opts.scope.pids()? {
        match key_of(pid, by, &mut users) {
            // A kernel thread (see key_of).
            Ok(Some((key, _))) if key.is_empty() => counts.no_memory_map += 1,
            Ok(Some((key, container))) => members
                .entry(key)
                .or_insert((container, vec![]))
                .1
                .push(pid),
            Ok(None) => {
                counts.vanished += 1;
                if listed {
                    errors.push(PidError::new(pid, &Error::NoSuchProcess { pid }));
                }
            }
            Err(e @ Error::Usage(_)) => return Err(e),
            Err(e) => {
                counts.unreadable += 1;
                if listed {
                    errors.push(PidError::new(pid, &e));
                }
            }
        }
    }
    // One scan of every group's processes, each group's buckets apart.
    let (keys, pid_sets): (Vec<_>, Vec<_>) = members
        .into_iter()
        .map(|(key, (container, pids))| ((key, container), pids))
        .unzip();
    let reports = scan_sets(pid_sets.clone(), ScopeName::Pids, true, false, opts.threads)?;
    let mut scanned = Vec::new();
    for (((key, container), pids), report) in keys.into_iter().zip(pid_sets).zip(reports) {
        let report = match report {
            SetScan::Report(r) => *r,
            // Every process of the group vanished or could not be read.
            SetScan::NoneRead(_) => {
                counts.vanished += pids.len() as u32;
                continue;
            }
        };
        let p = &report.processes;
        counts.scanned += p.scanned;
        counts.vanished += p.vanished;
        counts.unreadable += p.unreadable;
        counts.no_memory_map += p.no_memory_map;
        if listed {
            errors.extend(report.errors.iter().cloned());
        }
        let gone: HashSet<i32> = report.errors.iter().map(|e| e.pid).collect();
        let pids: Vec<i32> = pids.into_iter().filter(|p| !gone.contains(p)).collect();
        scanned.push((key, container, pids, report));
    }
    // Which frames, and which libraries, more than one group maps.
    let frames: Vec<Vec<&[u64]>> = scanned
        .iter()
        .map(|(_, _, _, r)| r.objects.iter().map(|o| &o.shared_frames[..]).collect())
        .collect();
    let with_others = groups::with_others(&frames);
    let libs: Vec<Vec<&str>> = scanned
        .iter()
        .map(|(_, _, _, r)| {
            r.objects
                .iter()
                .map(|o| o.build_id.as_deref().unwrap_or(&o.path))
                .collect()
        })
        .collect();
    let same_libs = groups::same_libs(&libs);
    let groups = scanned
        .into_iter()
        .zip(with_others.into_iter().zip(same_libs))
        .map(|((key, container, pids, r), (with_others, same_libs))| {
            let elf = &r.totals.elf_objects;
            LibsGroup {
                key,
                container,
                procs: pids.len() as u32,
                pids,
                objects: r.objects.len() as u32,
                resident_pages: elf.resident_pages,
                pss_pages: elf.pss_pages.unwrap_or_default(),
                frames: privileged.then_some(elf.frames.unwrap_or_default()),
                with_others: privileged.then_some(with_others),
                same_libs,
            }
        })
        .collect();
    Ok(LibsGroupsReport {
        schema: LIBS_GROUPS_SCHEMA.into(),
        privileged,
        weak: !privileged,
        privilege_note: privilege.note,
        kernel: kernel::config::kernel_facts(),
        page_size: PAGE_SIZE,
        by,
        processes: counts,
        errors,
        groups,
    })
}

impl LibsGroupsReport {
    /// Orders the groups by a libs sort key (saved: RESIDENT - FRAMES; frames and private:
    /// FRAMES; PSS instead of FRAMES when weak), largest first, ties and `object` by key;
    /// keeps the first `top` (0: all).
    fn sort(&mut self, key: SortKey, reverse: bool, top: usize) {
        let value = |g: &LibsGroup| -> f64 {
            let frames = g.frames.map_or(g.pss_pages, |f| f as f64);
            match key {
                SortKey::Saved => g.resident_pages as f64 - frames,
                SortKey::Resident => g.resident_pages as f64,
                SortKey::Frames | SortKey::Private => frames,
                SortKey::Pss => g.pss_pages,
                SortKey::Procs => g.procs as f64,
                SortKey::Object => 0.0,
            }
        };
        self.groups.sort_by(|a, b| {
            let order = value(b)
                .total_cmp(&value(a))
                .then_with(|| a.key.cmp(&b.key));
            if reverse { order.reverse() } else { order }
        });
        if top > 0 {
            self.groups.truncate(top);
        }
    }
}
