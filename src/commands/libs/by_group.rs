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

use super::sets::scan_sets;
use super::{LibsOptions, ProcessCounts, ScopeName, SortKey};

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
use crate::error::Result;
use crate::kernel::{self, process};
use crate::scan::{Opened, PidError};
use crate::sharing::groups;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Mutex;

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

/// A group's key, and its container with `--by container`: groups are told apart and
/// ordered by the key alone (a container's key names its cgroup and mount namespace, all
/// it is made of).
#[derive(Clone)]
struct GroupKey(String, Option<Container>);

impl PartialEq for GroupKey {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl Eq for GroupKey {}
impl PartialOrd for GroupKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for GroupKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.cmp(&other.0)
    }
}

/// The group key of the process the door opened, and its container with `--by
/// container`, read through its /proc directory (every field of one process). `users`
/// names the uids met. A machine without cgroup v2 cannot answer `--by cgroup|container`:
/// [`crate::error::Error::Usage`], which ends the run.
fn key_of(
    opened: &Opened<'_>,
    by: GroupBy,
    users: &Mutex<HashMap<u32, String>>,
) -> Result<GroupKey> {
    let dir = opened.dir;
    // Kernel threads have no memory, and no libraries.
    dir.refuse_kernel_thread()?;
    let (key, container) = match by {
        GroupBy::User => {
            let uid = match (&opened.status, opened.info) {
                (Some(s), _) => s.uid,
                (None, Some(i)) => i.ruid,
                (None, None) => dir.status(&mut Vec::new())?.uid,
            };
            let mut users = users.lock().unwrap_or_else(|p| p.into_inner());
            (
                users.entry(uid).or_insert_with(|| user_name(uid)).clone(),
                None,
            )
        }
        GroupBy::Comm => (dir.comm_of(&mut Vec::new())?, None),
        GroupBy::Cgroup | GroupBy::Container => {
            let mut buf = Vec::new();
            let text = dir.cgroup_text(&mut buf)?;
            let Some(cgroup) = process::cgroup_v2_in(text) else {
                return Err(no_cgroup_v2(by, dir.pid()));
            };
            if by == GroupBy::Cgroup {
                (cgroup, None)
            } else {
                let c = Container::of(&cgroup, dir.mnt_ns().ok());
                (c.key(), Some(c))
            }
        }
    };
    Ok(GroupKey(key, container))
}

/// Scans the scope's processes in one run of the pool, each put in its group by the key
/// read from the process the door opened, and compares the groups.
pub fn libs_by(opts: &LibsOptions, by: GroupBy) -> Result<LibsGroupsReport> {
    let users = Mutex::new(HashMap::new());
    let run = scan_sets(
        &opts.scope,
        ScopeName::Pids,
        false,
        opts.threads,
        |opened| key_of(opened, by, &users),
        None,
    )?;
    let privileged = run.sets.first().map_or_else(
        || kernel::detect_privilege().frames(),
        |s| s.report.privileged,
    );
    // Which frames, and which libraries, more than one group maps.
    let frames: Vec<Vec<&[u64]>> = run
        .sets
        .iter()
        .map(|s| s.seen.iter().map(|o| &o.shared_frames[..]).collect())
        .collect();
    let with_others = groups::with_others(&frames);
    let libs: Vec<Vec<&str>> = run
        .sets
        .iter()
        .map(|s| {
            s.seen
                .iter()
                .zip(&s.report.objects)
                .map(|(o, row)| o.build_id.as_deref().unwrap_or(&row.path))
                .collect()
        })
        .collect();
    let same_libs = groups::same_libs(&libs);
    let privilege = kernel::detect_privilege();
    let groups = run
        .sets
        .into_iter()
        .zip(with_others.into_iter().zip(same_libs))
        .map(|(set, (with_others, same_libs))| {
            let r = &set.report;
            let elf = &r.totals.elf_objects;
            let (GroupKey(key, container), pids) = (set.key, set.pids);
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
        processes: run.counts,
        errors: run.errors,
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
