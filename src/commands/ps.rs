//! `solab ps`: what each process costs, one row per process: RSS, PSS, USS and swap, split
//! by [`MemClass`] (ELF objects, anonymous memory, `MAP_SHARED` memory, other files).
//!
//! As root (CAP_SYS_ADMIN) the figures come from frames, the method of KERNEL.md
//! ("Per-process cost from frames"): every present page of every mapping but `[vsyscall]`
//! is looked up in /proc/kpagecount, each distinct frame read once per worker, after the
//! first process that met it (a page whose pagemap bit 56 says it is mapped once counts 1
//! without a read); the zero page and frames whose count is 0 (PFN-mapped
//! pages such as `[vvar]`) are not memory the process holds and are skipped; PSS adds
//! `page_size / kpagecount`, USS counts the frames mapped once. solab's own mappings of a
//! frame (it maps libc too) are taken off its kpagecount: the figures are the machine's
//! without solab. Swap is pagemap bit 62.
//! Without the capability the figures are the kernel's smaps ones (Rss, Pss,
//! Private_Clean + Private_Dirty, Swap), labelled weak.
//!
//! How a run goes (`--threads N` workers, 1: all on the calling thread, in order):
//! - Before the first process the first worker lists the processes and reads the kernel's
//!   configuration, while the second reads solab's own frames, each of its file mappings
//!   mapped whole first ([`kpage::OwnFrames::read_settled`]), so that every count read
//!   later has the same own mappings to take off ([`scan::each_listed_process`]). One
//!   worker alone does all three.
//! - A worker opens each process once ([`ProcDir::open_with_info`]: /proc/PID as a
//!   directory, and a pidfd for the real uid, the parent and the cgroup id) and opens
//!   every other file of the row relative to it: a directory whose process exited opens
//!   nothing more, so a field read after the exit is left empty, never another process's.
//!   Status replaces the pidfd and comm for a child of kthreadd (maybe a kernel thread) and
//!   where the kernel lacks `PIDFD_GET_INFO`; ns/mnt and cgroup are read only for JSON and
//!   `--by cgroup|container`, a cgroup's path once per cgroup id and worker.
//! - The pagemap is read with one `pread` per run of adjacent mappings
//!   ([`Pagemap::read_maps`]); a page mapped once is counted at once, any other page is
//!   kept by its frame's id, the number its worker gave the frame the first time
//!   ([`kpage::FrameIds`]: 4 bytes a page, not a PFN's 8).
//! - After each process its worker reads the kpagecount of the frames that process met
//!   first ([`kpage::NewCounts`]), computes each one's share of a page once ([`Shares`]),
//!   and adds each waiting page's share in page order: a process is finished when its
//!   worker leaves it. On processes that do not change the report does not depend on the
//!   number of workers.

use crate::addr::{PAGE_SIZE, Pfn};
use crate::elf::Detail;
use crate::error::{Error, Result};
use crate::kernel::pagemap::Pagemap;
use crate::kernel::process::{self, Gone, ProcDir};
use crate::kernel::{self, Evidence, kpage, smaps};
use crate::maps::{MapEntry, MapTarget};
use crate::placement;
use crate::scan::{self, Lookup, ObjectCache, PidError, SharedCache};
use crate::sharing::{MemClass, cost, groups, mapped_once, mem_class};
use serde::{Deserialize, Serialize};

pub const PS_SCHEMA: &str = "solab.ps.v2";

/// The cost of some memory, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cost {
    pub rss: u64,
    pub pss: u64,
    pub uss: u64,
    pub swap: u64,
}

impl Cost {
    fn add(&mut self, o: &Cost) {
        self.rss += o.rss;
        self.pss += o.pss;
        self.uss += o.uss;
        self.swap += o.swap;
    }
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
    fn get_mut(&mut self, c: MemClass) -> &mut Cost {
        match c {
            MemClass::Elf => &mut self.elf,
            MemClass::Anon => &mut self.anon,
            MemClass::Shared => &mut self.shared,
            MemClass::Files => &mut self.files,
        }
    }
    fn add(&mut self, o: &ByClass) {
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
    pub comm: String,
    /// The cgroup path (cgroup v2; on a cgroup v1 machine its lines joined with `;`),
    /// empty if unreadable or not asked for ([`PsOptions::placement`]).
    pub cgroup: String,
    /// The inode of /proc/PID/ns/mnt, null if unreadable or not asked for.
    pub mnt_ns: Option<u64>,
    /// The whole process (PSS is the sum of the classes' exact values, rounded once).
    #[serde(flatten)]
    pub cost: Cost,
    pub classes: ByClass,
}

/// Sums over the processes listed.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PsTotals {
    pub processes: u32,
    #[serde(flatten)]
    pub cost: Cost,
    pub classes: ByClass,
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

pub use super::group_key::GroupBy;
use super::group_key::{Container, no_cgroup_v2};

/// The frames of a group, each counted once however many of its processes map it, in
/// bytes (the words are defined in [`crate::sharing::GROUP_WORDS`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupFrames {
    /// Distinct frames the group's processes map: what the group would cost alone.
    pub alone: u64,
    /// Of those, the frames no process outside the group maps: freed if the group exited.
    pub only: u64,
    /// Of those, the frames a process outside the group maps too.
    pub with_rest: u64,
}

/// The processes of one user, command name, cgroup or container. `cost` and `classes`
/// are sums over the processes (PSS adds up; RSS and USS count a frame once per process);
/// `frames` counts each frame once (null without frame numbers: weak).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PsGroup {
    /// The user name, the command name, the cgroup path, or for a container
    /// `CGROUP mnt:INODE`.
    pub key: String,
    /// With --by container: its name and kind.
    pub container: Option<Container>,
    pub processes: u32,
    pub pids: Vec<i32>,
    #[serde(flatten)]
    pub cost: Cost,
    pub classes: ByClass,
    pub frames: Option<GroupFrames>,
}

/// The columns of the table, and the sort keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsKey {
    Pid,
    User,
    Rss,
    Pss,
    Uss,
    Swap,
    /// PSS of ELF objects
    Elf,
    /// PSS of anonymous memory
    Anon,
    /// PSS of MAP_SHARED memory
    Shared,
    /// PSS of other files
    Files,
    Command,
    /// With --by: ALONE, the group's distinct frames
    Alone,
    /// With --by: ONLY, the group's frames no other process maps
    Only,
    /// With --by: WITH-REST, the group's frames other processes map too
    WithRest,
}

impl PsKey {
    /// The keys only groups have (frames counted once per group).
    pub fn group_only(self) -> bool {
        matches!(self, PsKey::Alone | PsKey::Only | PsKey::WithRest)
    }
}

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
    /// Workers scanning processes in parallel: 0 one per CPU, 1 one (in order, on this
    /// thread). The report is the same whatever the number.
    pub threads: usize,
    /// One row per group of processes instead of one per process.
    pub by: Option<GroupBy>,
    /// How the rows (or groups) are ordered, and how many are kept.
    pub order: PsOrder,
}

/// How the rows of `ps` are ordered: by `key` (sizes largest first, names and pids
/// ascending), reversed with `reverse`; the first `top` are kept (0 keeps all).
#[derive(Clone, Copy, Debug)]
pub struct PsOrder {
    pub key: PsKey,
    pub reverse: bool,
    pub top: usize,
}

impl Default for PsOrder {
    fn default() -> Self {
        PsOrder {
            key: PsKey::Pss,
            reverse: false,
            top: 0,
        }
    }
}

/// The finished `ps`: the report, and how many rows (or groups) [`PsOrder::top`] left out.
pub struct PsTable {
    pub report: PsReport,
    pub hidden: usize,
}

/// The name of a uid, or the number.
pub fn user_name(uid: u32) -> String {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map_or_else(|| uid.to_string(), |u| u.name)
}

/// Exact (fractional) figures of one class while scanning.
#[derive(Clone, Copy, Default)]
struct ClassSum {
    rss: u64,
    pss: f64,
    uss: u64,
    swap: u64,
}

fn class_of(m: &MapEntry, objects: &[(u64, u64)], elf_files: &[crate::maps::FileId]) -> MemClass {
    let in_object = m.is_pseudo("[vdso]")
        || m.file_id().is_some_and(|id| elf_files.contains(&id))
        || objects
            .iter()
            .any(|&(b, e)| b <= m.start.0 && m.start.0 < e);
    mem_class(
        m.perms.shared,
        in_object,
        matches!(m.target, MapTarget::File { .. }),
    )
}

/// The address ranges of a process's ELF objects, and the ELF files it maps.
type ObjectsOf = (Vec<(u64, u64)>, Vec<crate::maps::FileId>);

/// The frame a page of a file was last seen in, and that frame's id.
#[derive(Clone, Copy)]
struct SeenSlot {
    pfn: u64,
    id: u32,
}

/// The largest file mapping whose pages get [`SeenSlot`]s (16 bytes a page: 1 MiB of slots
/// for this much mapped): a bigger one is numbered frame by frame.
const MAX_SLOTTED: u64 = 256 << 20;

/// Per ELF file a worker met, the [`SeenSlot`] of each page (by its page index in the file) it
/// saw present and maybe shared: most of a machine-wide scan's such pages are the same
/// frames of the same libraries, process after process.
#[derive(Default)]
struct SeenSlots(scan::WordMap<crate::maps::FileId, Vec<SeenSlot>>);

impl SeenSlots {
    /// The slots of pages `page..page + n` of file `id` (made, empty, if new); None
    /// beyond the 2^32nd page.
    fn of(&mut self, id: crate::maps::FileId, page: u64, n: usize) -> Option<&mut [SeenSlot]> {
        let at = usize::try_from(page).ok().filter(|&p| p < 1 << 32)?;
        let v = self.0.entry(id).or_default();
        if v.len() < at + n {
            v.resize(
                at + n,
                SeenSlot {
                    pfn: u64::MAX,
                    id: 0,
                },
            );
        }
        v.get_mut(at..at + n)
    }
}

/// One worker of the scan: the object cache is shared.
struct Scanner<'a> {
    frames: bool,
    zero: Option<Pfn>,
    cache: &'a SharedCache,
    /// The scan position of the process being read.
    position: usize,
    words: Vec<crate::page_words::PagemapEntry>,
    /// The text of a /proc file being read, reused.
    text: Vec<u8>,
    /// The pages of one read waiting for kpagecount ([`tally`]), reused.
    scratch: Vec<u32>,
    /// The pages of the process being read waiting for kpagecount, reused.
    pending: Vec<u32>,
    users: std::collections::HashMap<u32, String>,
    /// The files this worker met and the ELF object each is (None: not one), so that the
    /// shared cache is locked once per file and worker, not once per mapping.
    known: scan::WordMap<crate::maps::FileId, Option<std::sync::Arc<scan::Object>>>,
    /// The last frame and id of each page of each file met ([`SeenSlots`]).
    slots: SeenSlots,
    /// The cgroup paths met, by id.
    cgroup_paths: CgroupPaths,
    /// The frames this worker saw that may be mapped more than once, numbered; the
    /// kpagecount of each read once, after the first process that met it.
    ids: kpage::FrameIds,
    /// Reads the counts of the frames numbered since the last process.
    counts: kpage::NewCounts,
    /// Each numbered frame's share of a page.
    shares: Shares,
    /// solab's own frames, taken off every count.
    own: &'a SolabFrames,
}

impl Scanner<'_> {
    /// The ranges of the process's ELF objects and the ELF files it maps.
    fn objects(&mut self, dir: &ProcDir, maps: &[MapEntry]) -> Result<ObjectsOf> {
        let mut ranges = Vec::new();
        let mut files = Vec::new();
        for m in maps {
            let Some(id) = m.file_id() else { continue };
            if files.contains(&id) {
                continue;
            }
            let object = match self.known.get(&id) {
                Some(known) => known.clone(),
                None => {
                    let object = match self.cache.file(self.position, dir, m)? {
                        Lookup::Elf(i) => Some(self.cache.object(i)),
                        _ => None,
                    };
                    self.known.insert(id, object.clone());
                    object
                }
            };
            let Some(object) = object else { continue };
            files.push(id);
            if let Ok(p) = placement::place(&object.plan, maps, id) {
                ranges.push((p.base.0, p.end.0));
            }
        }
        Ok((ranges, files))
    }

    /// The figures of `pid` by class (and with `keep` the frames of its pages): a page
    /// mapped once counts at once; any other page waits for the end of the process, when
    /// the kpagecount of every frame it met first is read ([`Scanner::share_new_frames`]),
    /// and then adds its frame's share ([`Partial::finish`]).
    fn scan(&mut self, dir: &ProcDir, keep: bool) -> Result<([ClassSum; 4], Vec<u64>)> {
        let pid = dir.pid();
        let maps = dir.read_maps()?;
        let (objects, elf_files) = self.objects(dir, &maps)?;
        let mut acc = [ClassSum::default(); 4];
        let idx = |c: MemClass| MemClass::ALL.iter().position(|x| *x == c).unwrap_or(0);
        if !self.frames {
            let figures = smaps::read_smaps(dir)?;
            for m in &maps {
                if let Some(f) = figures.get(&m.start.0) {
                    let a = &mut acc[idx(class_of(m, &objects, &elf_files))];
                    a.rss += f.rss;
                    a.pss += f.pss as f64;
                    a.uss += f.private;
                    a.swap += f.swap;
                }
            }
            return Ok((acc, Vec::new()));
        }
        // Gathered in the worker's buffer, kept at its exact size: no vector of each
        // process grown (copied, and its new pages faulted in) step by step.
        let mut shared = std::mem::take(&mut self.pending);
        shared.clear();
        let mut frames = Vec::new();
        let mut pm = Pagemap::open(dir)?;
        let classes: Vec<usize> = maps
            .iter()
            .map(|m| idx(class_of(m, &objects, &elf_files)))
            .collect();
        // One pread per run of adjacent mappings, each mapping's words tallied in its class.
        let mut words = std::mem::take(&mut self.words);
        let mut numbered = true;
        let slots = &mut self.slots;
        let read = pm.read_maps(&maps, &mut words, |i, start, w| {
            let m = &maps[i];
            let page = (m.offset / PAGE_SIZE).saturating_add((start.0 - m.start.0) / PAGE_SIZE);
            // Only an ELF file's pages: a library's are what every process shares, and its
            // size bounds the slots (16 bytes a page); a data file mapped large and touched
            // little would cost slots for pages never present.
            let slots = match m.file_id() {
                Some(id) if elf_files.contains(&id) && m.end.0 - m.start.0 <= MAX_SLOTTED => {
                    slots.of(id, page, w.len())
                }
                _ => None,
            };
            numbered &= tally(
                w,
                classes[i],
                self.zero,
                &mut acc,
                &mut self.scratch,
                &mut shared,
                keep.then_some(&mut frames),
                &mut self.ids,
                slots,
            )
        });
        self.words = words;
        let finished = read.and_then(|()| self.share_new_frames()).map(|()| {
            Partial {
                pid,
                acc,
                frames,
                keep,
            }
            .finish(&shared, &self.shares, self.ids.pfns())
        });
        self.pending = shared;
        let finished = finished?;
        if !numbered {
            return Err(Error::Io {
                path: dir.path(c"pagemap"),
                source: std::io::Error::other(format!(
                    "more than {} distinct frames that may be shared met by one worker",
                    kpage::MAX_FRAME_IDS
                )),
            });
        }
        Ok(finished)
    }

    /// Reads the kpagecount of the frames numbered since the last process and computes
    /// each one's share of a page ([`Shares`]), solab's own mappings taken off.
    fn share_new_frames(&mut self) -> Result<()> {
        let mine = self.own.get(self.frames);
        let shares = &mut self.shares;
        shares.others.resize(self.ids.len(), 0.0);
        if shares.me_scanned {
            shares.own.resize(self.ids.len(), 0.0);
        }
        self.counts.read(&self.ids, |id, pfn, count| {
            let id = id as usize;
            let others = if count > 0 {
                mine.others(pfn, count)
            } else {
                0
            };
            shares.others[id] = cost::pss_share(others);
            if let Some(own) = shares.own.get_mut(id) {
                *own = cost::pss_share(count);
            }
        })
    }
}

/// solab's own frames ([`kpage::OwnFrames::read_settled`]), read once by the first worker
/// that needs them; the others wait for it. An error is kept for the report.
#[derive(Default)]
struct SolabFrames {
    frames: std::sync::OnceLock<kpage::OwnFrames>,
    error: std::sync::Mutex<Option<Error>>,
}

impl SolabFrames {
    /// The frames (none without the capability to read them: `frames` false).
    fn get(&self, frames: bool) -> &kpage::OwnFrames {
        self.frames.get_or_init(|| {
            if !frames {
                return kpage::OwnFrames::default();
            }
            kpage::OwnFrames::read_settled().unwrap_or_else(|e| {
                *self.error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                kpage::OwnFrames::default()
            })
        })
    }

    /// The frames read (none if they never were), or the error met reading them.
    fn into_frames(self) -> Result<kpage::OwnFrames> {
        if let Some(e) = self.error.into_inner().unwrap_or_else(|p| p.into_inner()) {
            return Err(e);
        }
        Ok(self.frames.into_inner().unwrap_or_default())
    }
}

/// Counts the pagemap words of pages of one class: a page whose frame is mapped once is
/// counted in `acc` (and its frame kept in `frames` with groups), one whose frame may be
/// mapped more than once waits in `shared` as `id << 2 | class`, its frame numbered in
/// `ids` (or found in `slots`, the file pages' last frames, when the words are of a file
/// mapping). Swapped pages add swap. `scratch` is the worker's, reused. False when `ids`
/// is full ([`kpage::MAX_FRAME_IDS`]): pages were left out.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn tally(
    words: &[crate::page_words::PagemapEntry],
    class: usize,
    zero: Option<Pfn>,
    acc: &mut [ClassSum; 4],
    scratch: &mut Vec<u32>,
    shared: &mut Vec<u32>,
    mut frames: Option<&mut Vec<u64>>,
    ids: &mut kpage::FrameIds,
    mut slots: Option<&mut [SeenSlot]>,
) -> bool {
    // The frame 0 is no frame (pfn() is None for it): it stands for "no zero page".
    let zero = zero.map_or(0, |p| p.0);
    // Swapped pages, and pages whose frame is mapped once (bit 56: mapped exactly once, by
    // this entry: a count of 1 without kpagecount), counted in passes of their own, which
    // the compiler makes vector loops; the loop below then visits only the pages left.
    let swapped = words.iter().filter(|e| !e.present() && e.swapped()).count() as u64;
    let (once, present) = words.iter().fold((0u64, 0u64), |(once, present), e| {
        let p = u64::from(e.pfn().is_some());
        (once + (p & u64::from(mapped_once(*e))), present + p)
    });
    let mut numbered = true;
    let mut n = 0usize;
    if present > once || frames.is_some() {
        if scratch.len() < words.len() {
            scratch.resize(words.len(), 0);
        }
        // The frames waiting for kpagecount are written at a local index, then appended
        // at once: a push per page keeps the vector's length in memory, a dependency from
        // page to page.
        let out = &mut scratch[..words.len()];
        for (k, e) in words.iter().enumerate() {
            let Some(p) = e.pfn() else { continue };
            if mapped_once(*e) {
                if let Some(f) = frames.as_deref_mut() {
                    f.push(p.0 << 2 | class as u64);
                }
            } else if p.0 != zero
                && let Some(slot) = out.get_mut(n)
            {
                // The frame this file page had in the last process that mapped it: its id
                // without a search (a library's pages are the same frames in every
                // process).
                let last = slots.as_deref_mut().and_then(|s| s.get_mut(k));
                let id = match last {
                    Some(last) if last.pfn == p.0 => last.id,
                    last => {
                        let Some(id) = ids.id(p.0) else {
                            numbered = false;
                            continue;
                        };
                        if let Some(last) = last {
                            *last = SeenSlot { pfn: p.0, id };
                        }
                        id
                    }
                };
                *slot = id << 2 | class as u32;
                n += 1;
            }
        }
    }
    shared.extend_from_slice(&scratch[..n]);
    // Whole pages: the sum is exact in any order (PSS holds only multiples of the page
    // size until [`Partial::finish`] adds fractions).
    let a = &mut acc[class];
    a.rss += once * PAGE_SIZE;
    a.pss += (once * PAGE_SIZE) as f64;
    a.uss += once * PAGE_SIZE;
    a.swap += swapped * PAGE_SIZE;
    numbered
}

/// One process as its worker leaves it: the pages mapped once counted, the others waiting
/// in the worker's list until the kpagecount of their frames is read.
struct Partial {
    pid: i32,
    acc: [ClassSum; 4],
    /// With groups: `pfn << 2 | class` of the pages already counted.
    frames: Vec<u64>,
    /// Keep the frames of every page (groups need them).
    keep: bool,
}

/// What a page of each frame a worker numbered adds to PSS ([`cost::pss_share`]) of its
/// kpagecount, less solab's own mappings (but for solab's own row): computed once per frame
/// instead of once per page, the same division, and looked up by the frame's id.
#[derive(Default)]
struct Shares {
    /// Other processes' share of a page of each frame, by id.
    others: Vec<f64>,
    /// solab's own share (empty unless solab is scanned).
    own: Vec<f64>,
    me: i32,
    me_scanned: bool,
}

impl Partial {
    /// Counts the pages waiting in `shared` (`id << 2 | class`) by their frame's share
    /// (`pfns`: the frame of each id).
    fn finish(
        mut self,
        shared: &[u32],
        shares: &Shares,
        pfns: &[u64],
    ) -> ([ClassSum; 4], Vec<u64>) {
        let of = if self.pid == shares.me {
            &shares.own
        } else {
            &shares.others
        };
        // By runs of one class (the pages are in address order, the class is the
        // mapping's): each class's PSS gets the same additions in the same order as page
        // by page, summed in a register.
        for run in shared.chunk_by(|a, b| a & 3 == b & 3) {
            let class = (run[0] & 3) as usize;
            let (mut pages, mut once, mut pss) = (0u64, 0u64, self.acc[class].pss);
            if self.keep {
                for &e in run {
                    let id = (e >> 2) as usize;
                    let s = of.get(id).copied().unwrap_or(0.0);
                    if s == 0.0 {
                        continue;
                    }
                    if let Some(&pfn) = pfns.get(id) {
                        self.frames.push(pfn << 2 | class as u64);
                    }
                    pages += 1;
                    pss += s;
                    once += u64::from(cost::unique_share(s));
                }
            } else {
                (pages, once, pss) = cost::sum_shares(run, |e| (e >> 2) as usize, of, pss);
            }
            let a = &mut self.acc[class];
            a.rss += pages * PAGE_SIZE;
            a.pss = pss;
            a.uss += once * PAGE_SIZE;
        }
        self.frames.sort_unstable();
        (self.acc, self.frames)
    }
}

/// Who a process is, read by its worker: the row's fields but the figures.
struct Who {
    uid: u32,
    user: String,
    comm: String,
    cgroup: String,
    cgroup_v1: bool,
    mnt_ns: Option<u64>,
}

impl Who {
    /// The rest of the row's fields, read through the process's directory: the same
    /// process as its status and its memory (`buf` is reused for the text).
    fn read(
        dir: &ProcDir,
        (uid, comm): (u32, String),
        user: String,
        cgroup_paths: Option<&mut CgroupPaths>,
        buf: &mut Vec<u8>,
    ) -> Who {
        let (cgroup, cgroup_v1, mnt_ns) = match cgroup_paths {
            Some(p) => {
                let (cgroup, v1) = p.cgroup(dir, buf);
                (cgroup, v1, dir.mnt_ns().ok())
            }
            None => (String::new(), false, None),
        };
        Who {
            uid,
            user,
            comm,
            cgroup,
            cgroup_v1,
            mnt_ns,
        }
    }
}

/// A worker's cgroup paths by cgroup v2 id ([`process::PidInfo::cgroup_id`]): many
/// processes share a group, and its path is read from /proc/PID/cgroup once per worker
/// instead of once per process (the text costs the kernel more than the rest of a row).
#[derive(Default)]
struct CgroupPaths {
    paths: scan::WordMap<u64, String>,
}

impl CgroupPaths {
    /// The cgroup path of the process (empty if unreadable) and whether the machine has
    /// only cgroup v1 (no `0::` line).
    fn cgroup(&mut self, dir: &ProcDir, buf: &mut Vec<u8>) -> (String, bool) {
        let id = dir.info().and_then(|i| i.cgroup_id);
        if let Some(path) = id.and_then(|id| self.paths.get(&id)) {
            return (path.clone(), false);
        }
        // One read of /proc/PID/cgroup for both the path and whether it is a v2 one.
        let Ok(text) = dir.cgroup_text(buf) else {
            return (String::new(), false);
        };
        let Some(v2) = process::cgroup_v2_in(text) else {
            return (process::cgroup_in(text), true);
        };
        // Kept only if the process is still in the group whose id was asked before the
        // text was read: one that moved meanwhile must not name the group it left.
        if let Some(id) = id
            && dir.info().and_then(|i| i.cgroup_id) == Some(id)
        {
            self.paths.insert(id, v2.clone());
        }
        (v2, false)
    }
}

/// What the scan keeps of a process beside its row, for grouping: whether it has no
/// cgroup v2 path (a cgroup v1 machine), and with groups, as root, the frame of every
/// present page with its class in the low two bits (`pfn << 2 | class`), sorted.
struct RowFrames {
    cgroup_v1: bool,
    frames: Vec<u64>,
}

fn row(pid: i32, who: Who, scanned: ([ClassSum; 4], Vec<u64>)) -> (PsRow, RowFrames) {
    let (acc, frames) = scanned;
    let mut classes = ByClass::default();
    let mut pss = 0.0;
    for (c, a) in MemClass::ALL.iter().zip(acc) {
        *classes.get_mut(*c) = Cost {
            rss: a.rss,
            pss: a.pss.round() as u64,
            uss: a.uss,
            swap: a.swap,
        };
        pss += a.pss;
    }
    let mut cost = Cost::default();
    for c in MemClass::ALL {
        cost.add(classes.get(c));
    }
    cost.pss = pss.round() as u64;
    let row = PsRow {
        pid,
        uid: who.uid,
        user: who.user,
        cgroup: who.cgroup,
        mnt_ns: who.mnt_ns,
        comm: who.comm,
        cost,
        classes,
    };
    (
        row,
        RowFrames {
            cgroup_v1: who.cgroup_v1,
            frames,
        },
    )
}

/// Counts the frames of a group once: `frames` are the frames of every present page of
/// its processes (one per page-table entry, unsorted); `own` solab's mappings of frames,
/// taken off their kpagecount (None when solab is in the group).
fn group_frames(frames: &mut [u64], own: Option<&kpage::OwnFrames>) -> Result<GroupFrames> {
    frames.sort_unstable();
    let (distinct, mine) = groups::mappings_per_frame(frames);
    let counts = kpage::counts(&distinct)?;
    let mut g = GroupFrames::default();
    for ((pfn, &inside), &count) in distinct.iter().zip(&mine).zip(&counts) {
        let count = own.map_or(count, |o| count.saturating_sub(o.mapped(pfn.0)));
        g.alone += PAGE_SIZE;
        if groups::only_in_group(count, inside) {
            g.only += PAGE_SIZE;
        } else {
            g.with_rest += PAGE_SIZE;
        }
    }
    Ok(g)
}

/// What a worker makes of one process.
type PsScan = std::result::Result<Option<(PsRow, RowFrames)>, Gone>;

/// Scans the processes and makes the rows: one per process, or with [`PsOptions::by`] one
/// per group, ordered by [`PsOptions::order`].
pub fn ps(opts: &PsOptions) -> Result<PsTable> {
    kernel::check_page_size()?;
    let privilege = kernel::detect_privilege();
    let frames = privilege.frames();
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
    let scan_dir = |s: &mut Scanner,
                    dir: &ProcDir,
                    info: Option<process::PidInfo>|
     -> Result<Option<(PsRow, RowFrames)>> {
        let pid = dir.pid();
        // The real uid from the pidfd and the name from comm: no status text for the
        // kernel to format. A child of kthreadd (pid 2) may be a kernel thread, refused
        // here without opening its maps; a kernel without the pidfd's answer reads
        // status (and a kernel thread is refused where its map reads empty).
        let (uid, comm) = match info {
            Some(i) if pid != 2 && i.ppid != 2 => (i.ruid, dir.comm_of(&mut s.text)?),
            _ => {
                if info.is_some() {
                    dir.refuse_kernel_thread()?;
                }
                let status = dir.status(&mut s.text)?;
                (status.uid, status.comm)
            }
        };
        let keep = opts.uid.is_none_or(|u| u == uid)
            && opts.command.as_ref().is_none_or(|r| r.is_match(&comm));
        if !keep {
            return Ok(None);
        }
        let user = s.users.entry(uid).or_insert_with(|| user_name(uid)).clone();
        let scanned = s.scan(dir, keep_frames)?;
        let cgroup_paths = opts.placement.then_some(&mut s.cgroup_paths);
        let who = Who::read(dir, (uid, comm), user, cgroup_paths, &mut s.text);
        Ok(Some(row(pid, who, scanned)))
    };
    let scan_one = |s: &mut Scanner, position: usize, pid: i32| -> PsScan {
        s.position = position;
        // Every file of the process through one directory: one path walk, and all of
        // this process even if its number is reused meanwhile.
        let (dir, info) = ProcDir::open_with_info(pid).map_err(|e| process::classify(None, e))?;
        scan_dir(s, &dir, info).map_err(|e| process::classify(Some(&dir), e))
    };
    // The first worker lists the processes and reads the kernel's configuration, the
    // second solab's own frames (the counts need them from the first process on).
    let scan::Listed {
        pids,
        results: finished,
        ..
    } = scan::each_listed_process(
        list,
        threads,
        |worker| {
            if worker == 0 {
                facts.get_or_init(kernel::config::kernel_facts);
            }
            if worker == 1 || threads == 1 {
                own_frames.get(frames);
            }
            Scanner {
                frames,
                zero,
                cache: &cache,
                position: 0,
                words: Vec::new(),
                text: Vec::new(),
                scratch: Vec::new(),
                pending: Vec::new(),
                users: Default::default(),
                known: Default::default(),
                slots: SeenSlots::default(),
                cgroup_paths: CgroupPaths::default(),
                ids: kpage::FrameIds::default(),
                counts: kpage::NewCounts::default(),
                shares: Shares {
                    me: own,
                    me_scanned,
                    ..Shares::default()
                },
                own: &own_frames,
            }
        },
        scan_one,
    )?;
    let kernel_facts = facts
        .into_inner()
        .unwrap_or_else(kernel::config::kernel_facts);
    let own_frames = own_frames.into_frames()?;
    let mut counted = PsCounts::default();
    let mut errors = Vec::new();
    let mut rows = Vec::with_capacity(finished.len());
    let mut row_frames = Vec::with_capacity(finished.len());
    for (pid, result) in pids.into_iter().zip(finished) {
        match result {
            Ok(Some((r, f))) => {
                counted.scanned += 1;
                rows.push(r);
                row_frames.push(f);
            }
            Ok(None) => counted.filtered_out += 1,
            Err(gone) => {
                match gone {
                    Gone::Vanished => counted.vanished += 1,
                    Gone::NoMemoryMap { .. } => counted.no_memory_map += 1,
                    Gone::Unreadable(_) => counted.unreadable += 1,
                }
                // Processes come and go on a live machine: with -a counted, not reported
                // one by one (nor their names read).
                if !opts.all {
                    errors.push(PidError::gone(pid, &gone));
                }
            }
        }
    }
    let mut totals = PsTotals::default();
    for r in &rows {
        totals.processes += 1;
        totals.cost.add(&r.cost);
        totals.classes.add(&r.classes);
    }
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
        kernel: kernel_facts,
        page_size: PAGE_SIZE,
        counts: counted,
        errors,
        processes: rows,
        totals,
        by: None,
        groups: Vec::new(),
    };
    let order = opts.order;
    let hidden = match opts.by {
        Some(by) => {
            report.group(by, row_frames, &own_frames)?;
            let total = report.groups.len();
            report.sort_groups(order.key, order.reverse, order.top);
            total - report.groups.len()
        }
        None => {
            let total = report.processes.len();
            report.sort(order.key, order.reverse, order.top);
            total - report.processes.len()
        }
    };
    Ok(PsTable { report, hidden })
}

impl PsReport {
    /// Groups the rows (ordered by key); the rows are then dropped. The costs are summed;
    /// as root each group's frames (`scanned`, each row's) are also counted once
    /// ([`GroupFrames`]): each distinct frame its processes map is looked up in
    /// /proc/kpagecount (less `own`, solab's own mappings of it, the set the scan took
    /// off), and a count above the group's own mappings means a process outside the group
    /// maps it too. Grouping by cgroup or container needs cgroup v2.
    fn group(
        &mut self,
        by: GroupBy,
        scanned: Vec<RowFrames>,
        own: &kpage::OwnFrames,
    ) -> Result<()> {
        if by.needs_cgroup()
            && let Some((r, _)) = self
                .processes
                .iter()
                .zip(&scanned)
                .find(|(_, f)| f.cgroup_v1)
        {
            return Err(no_cgroup_v2(by, r.pid));
        }
        let mut groups: std::collections::BTreeMap<String, (PsGroup, Vec<u64>)> =
            Default::default();
        for (r, scanned) in self.processes.drain(..).zip(scanned) {
            let container = (by == GroupBy::Container).then(|| Container::of(&r.cgroup, r.mnt_ns));
            let key = match (by, &container) {
                (GroupBy::User, _) => r.user.clone(),
                (GroupBy::Comm, _) => r.comm.clone(),
                (_, Some(c)) => c.key(),
                (_, None) => r.cgroup.clone(),
            };
            let (g, frames) = groups.entry(key.clone()).or_insert_with(|| {
                (
                    PsGroup {
                        key,
                        container,
                        processes: 0,
                        pids: Vec::new(),
                        cost: Cost::default(),
                        classes: ByClass::default(),
                        frames: None,
                    },
                    Vec::new(),
                )
            });
            g.processes += 1;
            g.pids.push(r.pid);
            g.cost.add(&r.cost);
            g.classes.add(&r.classes);
            frames.extend(scanned.frames.iter().map(|f| f >> 2));
        }
        self.by = Some(by);
        self.groups = Vec::with_capacity(groups.len());
        let me = std::process::id() as i32;
        for (_, (mut g, mut frames)) in groups {
            if self.privileged {
                g.pids.sort_unstable();
                let own = if g.pids.contains(&me) {
                    None
                } else {
                    Some(own)
                };
                g.frames = Some(group_frames(&mut frames, own)?);
            }
            self.groups.push(g);
        }
        Ok(())
    }

    /// Orders the groups like [`PsReport::sort`] orders rows (pid, user and command sort
    /// by the group's key) and keeps the first `top`.
    fn sort_groups(&mut self, key: PsKey, reverse: bool, top: usize) {
        let size = |g: &PsGroup| -> u64 {
            let f = g.frames.unwrap_or_default();
            match key {
                PsKey::Rss => g.cost.rss,
                PsKey::Pss => g.cost.pss,
                PsKey::Uss => g.cost.uss,
                PsKey::Swap => g.cost.swap,
                PsKey::Elf => g.classes.elf.pss,
                PsKey::Anon => g.classes.anon.pss,
                PsKey::Shared => g.classes.shared.pss,
                PsKey::Files => g.classes.files.pss,
                PsKey::Alone => f.alone,
                PsKey::Only => f.only,
                PsKey::WithRest => f.with_rest,
                PsKey::Pid | PsKey::User | PsKey::Command => 0,
            }
        };
        self.groups.sort_by(|a, b| {
            let order = match key {
                PsKey::Pid | PsKey::User | PsKey::Command => a.key.cmp(&b.key),
                _ => size(b).cmp(&size(a)).then(a.key.cmp(&b.key)),
            };
            if reverse { order.reverse() } else { order }
        });
        if top > 0 {
            self.groups.truncate(top);
        }
    }

    /// Orders the rows by `key` (sizes largest first, names and pids ascending), reversed
    /// with `reverse`, and keeps the first `top` (0 keeps all). Totals are not changed.
    fn sort(&mut self, key: PsKey, reverse: bool, top: usize) {
        let size = |r: &PsRow| -> u64 {
            match key {
                PsKey::Rss => r.cost.rss,
                PsKey::Pss => r.cost.pss,
                PsKey::Uss => r.cost.uss,
                PsKey::Swap => r.cost.swap,
                PsKey::Elf => r.classes.elf.pss,
                PsKey::Anon => r.classes.anon.pss,
                PsKey::Shared => r.classes.shared.pss,
                PsKey::Files => r.classes.files.pss,
                PsKey::Pid | PsKey::User | PsKey::Command => 0,
                // Groups only (refused by the command line without --by).
                PsKey::Alone | PsKey::Only | PsKey::WithRest => r.cost.rss,
            }
        };
        self.processes.sort_by(|a, b| {
            let order = match key {
                PsKey::Pid => a.pid.cmp(&b.pid),
                PsKey::User => a.user.cmp(&b.user).then(a.pid.cmp(&b.pid)),
                PsKey::Command => a.comm.cmp(&b.comm).then(a.pid.cmp(&b.pid)),
                _ => size(b).cmp(&size(a)).then(a.pid.cmp(&b.pid)),
            };
            if reverse { order.reverse() } else { order }
        });
        if top > 0 {
            self.processes.truncate(top);
        }
    }
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
