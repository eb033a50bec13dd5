//! What `solab ps` reports: the rows, their totals, the groups, as serialized.

use super::GroupBy;
use crate::commands::group_key::Container;
use crate::kernel::{self, Evidence};
use crate::scan::PidError;
use crate::sharing::MemClass;
use serde::{Deserialize, Serialize};

pub const PS_SCHEMA: &str = "solab.ps.v2";

/// The cost of some memory, in bytes (the words are defined in
/// [`crate::sharing::COST_WORDS`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cost {
    pub rss: u64,
    pub pss: u64,
    pub uss: u64,
    /// Pages in swap, each in full in every process that holds its swap entry (the
    /// kernel's `Swap`): summed over processes, a shared entry counts once per holder.
    pub swap: u64,
    /// SWAP: the kernel's `SwapPss` ([`PsReport::swap_pss_source`]): each swap entry
    /// divided among the page tables that hold it; sums count a shared entry once.
    pub swap_pss: u64,
    /// SWAP-USS: pages in swap whose swap entry no other page of the scanned processes
    /// holds ([`PsReport::swap_unique_source`]); null without the swap entries (no
    /// CAP_SYS_ADMIN).
    pub swap_unique: Option<u64>,
}

impl Cost {
    pub(super) fn add(&mut self, o: &Cost) {
        self.rss += o.rss;
        self.pss += o.pss;
        self.uss += o.uss;
        self.swap += o.swap;
        self.swap_pss += o.swap_pss;
        self.swap_unique = match (self.swap_unique, o.swap_unique) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
    }
}

/// Where SWAP (`swap_pss`) comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SwapPssSource {
    /// smaps `SwapPss`: each swap entry divided by the kernel's count of its holders.
    SwapPss,
    /// smaps `Swap` in full, for a process whose smaps has no `SwapPss` (before Linux
    /// 4.3): not divided.
    Swap,
}

/// Where SWAP-USS (`swap_unique`) comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SwapUniqueSource {
    /// The swap entries of pagemap (bits 0-54 of a swapped page, root), each counted over
    /// the page tables of the scanned processes.
    SwapEntries,
}

/// A [`Cost`] per [`MemClass`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ByClass {
    pub elf: Cost,
    pub anon: Cost,
    pub shared: Cost,
    pub files: Cost,
}

impl ByClass {
    pub fn get(&self, c: MemClass) -> &Cost {
        match c {
            MemClass::Elf => &self.elf,
            MemClass::Anon => &self.anon,
            MemClass::Shared => &self.shared,
            MemClass::Files => &self.files,
        }
    }
    pub(super) fn get_mut(&mut self, c: MemClass) -> &mut Cost {
        match c {
            MemClass::Elf => &mut self.elf,
            MemClass::Anon => &mut self.anon,
            MemClass::Shared => &mut self.shared,
            MemClass::Files => &mut self.files,
        }
    }
    pub(super) fn add(&mut self, o: &ByClass) {
        for c in MemClass::ALL {
            self.get_mut(c).add(o.get(c));
        }
    }
}

/// One process.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PsRow {
    pub pid: i32,
    pub uid: u32,
    pub user: String,
    /// The command name: its bytes kept ([`decode_name`](crate::kernel::process::decode_name)),
    /// shown escaped in text; in JSON each byte that is not UTF-8 is U+FFFD
    /// ([`lossy_name`]), and [`PsRow::comm_bytes`] holds the exact bytes.
    #[serde(serialize_with = "lossy_name")]
    pub comm: String,
    /// The command name's bytes when they are not UTF-8 (null when they are).
    #[serde(default)]
    pub comm_bytes: Option<Vec<u8>>,
    /// The cgroup path (cgroup v2; on a cgroup v1 machine its lines joined with `;`),
    /// empty if unreadable or not asked for ([`PsOptions::placement`](super::PsOptions::placement)).
    pub cgroup: String,
    /// The inode of /proc/PID/ns/mnt, null if unreadable or not asked for.
    pub mnt_ns: Option<u64>,
    /// The command line (`--cmdline`): its arguments joined by spaces, read up to
    /// [`CMDLINE_LIMIT`](super::CMDLINE_LIMIT) bytes; absent unless asked for, empty for a
    /// process without one (a kernel thread, a zombie).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmdline: Option<String>,
    /// The whole process (PSS is the sum of the classes' exact values, rounded once).
    #[serde(flatten)]
    pub cost: Cost,
    pub classes: ByClass,
}

/// A name [`decode_name`](crate::kernel::process::decode_name) made, as JSON can hold it:
/// each byte that was not UTF-8 as U+FFFD.
pub(super) fn lossy_name<S: serde::Serializer>(name: &str, s: S) -> Result<S::Ok, S::Error> {
    match name_bytes(name) {
        Some(bytes) => s.serialize_str(&String::from_utf8_lossy(&bytes)),
        None => s.serialize_str(name),
    }
}

/// The bytes of a name [`decode_name`](crate::kernel::process::decode_name) made, when they
/// are not UTF-8.
pub(super) fn name_bytes(name: &str) -> Option<Vec<u8>> {
    name.chars()
        .any(|c| kernel::process::byte_of_char(c).is_some())
        .then(|| kernel::process::encode_name(name))
}

/// Sums over the processes listed.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PsTotals {
    pub processes: u32,
    #[serde(flatten)]
    pub cost: Cost,
    pub classes: ByClass,
    /// With --by as root: ALONE over every process read, the distinct frames they map,
    /// each counted once however many groups map it, in bytes
    /// ([`crate::sharing::GROUP_WORDS`]); null without --by or without frame numbers.
    #[serde(default)]
    pub alone: Option<u64>,
}

impl PsTotals {
    /// The sums over `rows`.
    pub(super) fn of(rows: &[PsRow]) -> PsTotals {
        let mut totals = PsTotals::default();
        for r in rows {
            totals.processes += 1;
            totals.cost.add(&r.cost);
            totals.classes.add(&r.classes);
        }
        totals
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PsCounts {
    /// Processes whose memory was read.
    pub scanned: u32,
    /// Exited between listing and reading.
    pub vanished: u32,
    /// Refused (another user's process without CAP_SYS_PTRACE).
    pub unreadable: u32,
    /// Kernel threads and zombies.
    pub no_memory_map: u32,
    /// Left out by --user or --command.
    pub filtered_out: u32,
}

/// Where the figures come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CostSource {
    /// PFNs from pagemap and /proc/kpagecount (root).
    Frames,
    /// /proc/PID/smaps (weak: the kernel's own estimates, unprivileged).
    Smaps,
}

/// What `solab ps --json` prints.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PsReport {
    pub schema: String,
    pub evidence: Evidence,
    pub privileged: bool,
    /// True when the figures are smaps figures (no frame numbers).
    pub weak: bool,
    pub privilege_note: Option<String>,
    pub source: CostSource,
    /// Where each process's `swap_pss` (the SWAP column) comes from.
    pub swap_pss_source: SwapPssSource,
    /// Where `swap_unique` (SWAP-USS) comes from; null when it is unknown (no swap
    /// entries without CAP_SYS_ADMIN).
    pub swap_unique_source: Option<SwapUniqueSource>,
    pub kernel: kernel::config::KernelFacts,
    pub page_size: u64,
    pub counts: PsCounts,
    /// For explicit pids: the ones that could not be read, by name.
    pub errors: Vec<PidError>,
    pub processes: Vec<PsRow>,
    /// Over every process that matched (also those cut by --top).
    pub totals: PsTotals,
    /// With --by: what the rows are grouped by.
    pub by: Option<GroupBy>,
    /// With --by: one entry per user, command name, cgroup or container, over every
    /// process that matched (--top then keeps the first groups, and `processes` is
    /// emptied).
    pub groups: Vec<PsGroup>,
}

/// The frames of a group, each counted once however many of its processes map it, in
/// bytes (the words are defined in [`crate::sharing::GROUP_WORDS`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupFrames {
    /// Distinct frames the group's processes map: what the group would cost alone.
    pub alone: u64,
    /// Of those, the frames no process outside the group maps: what its exit would free (but
    /// for file pages, which stay in the page cache).
    pub only: u64,
    /// Of those, the frames a process outside the group maps too.
    pub with_rest: u64,
}

/// The processes of one user, command name, cgroup or container. `cost` and `classes`
/// are sums over the processes (PSS adds up; RSS and USS count a frame once per process);
/// `frames` counts each frame once (null without frame numbers: weak).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PsGroup {
    /// The user name, the command name (in JSON each byte that is not UTF-8 as U+FFFD),
    /// the cgroup path, or for a container `CGROUP mnt:INODE`.
    #[serde(serialize_with = "lossy_name")]
    pub key: String,
    /// With --by container: its name and kind.
    pub container: Option<Container>,
    /// The user (real uid's name) of the group's processes when they all have the same
    /// one; null when they have several.
    pub user: Option<String>,
    pub processes: u32,
    pub pids: Vec<i32>,
    #[serde(flatten)]
    pub cost: Cost,
    pub classes: ByClass,
    pub frames: Option<GroupFrames>,
}
