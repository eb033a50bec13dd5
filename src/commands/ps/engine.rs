//! The frame engine of `solab ps`: one worker's scan of a process's pages, each frame
//! numbered once per worker and its kpagecount read once.
//!
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
use crate::error::{Error, Result};
use crate::kernel::pagemap::Pagemap;
use crate::kernel::process::ProcDir;
use crate::kernel::{kpage, smaps};
use crate::maps::{MapEntry, MapTarget};
use crate::placement;
use crate::scan::{self, Lookup, SharedCache};
use crate::sharing::{MemClass, cost, mapped_once, mem_class};
use std::collections::HashSet;

/// Exact (fractional) figures of one class while scanning.
#[derive(Clone, Copy, Default)]
pub(super) struct ClassSum {
    pub(super) rss: u64,
    pub(super) pss: f64,
    pub(super) uss: u64,
    pub(super) swap: u64,
    /// The kernel's SwapPss of the class's mappings ([`smaps::SmapsFigures::swap_pss`]).
    pub(super) swap_pss: u64,
}

/// What a worker makes of one process's pages.
pub(super) struct ProcessScan {
    /// The figures by class ([`MemClass::ALL`]'s order).
    pub(super) acc: [ClassSum; 4],
    /// With groups: `pfn << 2 | class` of every present page, sorted.
    pub(super) frames: Vec<u64>,
    /// As root: `entry << 2 | class` of every page in swap, by its swap entry
    /// ([`PagemapEntry::swap_entry`](crate::page_words::PagemapEntry::swap_entry)), sorted.
    pub(super) swaps: Vec<u64>,
    /// The smaps `Swap` of its `MAP_SHARED` mappings with pages in swap (shmem: no swap
    /// entry in the page table), divided among the scan's processes afterwards.
    pub(super) shmem: Vec<super::swap::ShmemSwap>,
    /// The process had swap and its smaps gave no SwapPss: its `swap_pss` is its swap
    /// in full.
    pub(super) no_swap_pss: bool,
}

/// Adds the kernel's swap figures of every mapping of `maps` (`figures`, by mapping start)
/// to its class (`class_of`, by mapping): Swap, the kernel's count of the mapping's pages
/// in swap, with or without a swap entry in the page table; SwapPss of a private mapping
/// (where the kernel gives none, Swap in full: returns whether that happened). The Swap
/// of a `MAP_SHARED` mapping is shmem in swap (only shmem pages go to swap and keep no
/// entry in a page table; the kernel leaves them out of SwapPss): it goes to `shmem`, to
/// be divided among the scanned processes ([`super::swap::share_shmem`]).
fn add_swap(
    figures: &std::collections::HashMap<u64, smaps::SwapFigures>,
    maps: &[MapEntry],
    class_of: impl Fn(usize) -> usize,
    acc: &mut [ClassSum; 4],
    shmem: &mut Vec<super::swap::ShmemSwap>,
) -> bool {
    let mut no_swap_pss = false;
    for (i, m) in maps.iter().enumerate() {
        let Some(f) = figures.get(&m.start.0) else {
            continue;
        };
        let a = &mut acc[class_of(i)];
        a.swap += f.swap;
        if m.perms.shared {
            if f.swap > 0 {
                shmem.push(super::swap::ShmemSwap {
                    dev: m.dev,
                    inode: m.inode,
                    offset: m.offset,
                    end: m.offset.saturating_add(m.len()),
                    class: class_of(i),
                    swap: f.swap,
                });
            }
            continue;
        }
        no_swap_pss |= f.swap_pss.is_none() && f.swap > 0;
        a.swap_pss += f.swap_pss.unwrap_or(f.swap);
    }
    no_swap_pss
}

fn class_of(m: &MapEntry, objects: &Ranges, elf_files: &HashSet<crate::maps::FileId>) -> MemClass {
    let in_object = m.is_pseudo("[vdso]")
        || m.file_id().is_some_and(|id| elf_files.contains(&id))
        || objects.contains(m.start.0);
    mem_class(
        m.perms.shared,
        in_object,
        matches!(m.target, MapTarget::File { .. }),
    )
}

/// The address ranges of a process's ELF objects, and the ELF files it maps.
type ObjectsOf = (Ranges, HashSet<crate::maps::FileId>);

/// Address ranges `[base, end)`, sorted by base, with the highest end among each range
/// and those before it: whether an address lies in one is a bisection, however many
/// objects a process maps (ranges another user's headers make may overlap).
struct Ranges {
    sorted: Vec<(u64, u64)>,
    reach: Vec<u64>,
}

impl Ranges {
    fn new(mut sorted: Vec<(u64, u64)>) -> Ranges {
        sorted.sort_unstable();
        let reach = sorted
            .iter()
            .scan(0, |top, &(_, e)| {
                *top = e.max(*top);
                Some(*top)
            })
            .collect();
        Ranges { sorted, reach }
    }

    fn contains(&self, addr: u64) -> bool {
        let below = self.sorted.partition_point(|&(b, _)| b <= addr);
        below > 0 && self.reach[below - 1] > addr
    }
}

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

/// The frame engine of one worker of the scan: the object cache is shared.
pub(super) struct Scanner<'a> {
    frames: bool,
    zero: Option<Pfn>,
    cache: &'a SharedCache,
    /// The scan position of the process being read.
    position: usize,
    words: Vec<crate::page_words::PagemapEntry>,
    /// The pages of one read waiting for kpagecount ([`tally`]), reused.
    scratch: Vec<u32>,
    /// The pages of the process being read waiting for kpagecount, reused.
    pending: Vec<u32>,
    /// The files this worker met and the ELF object each is (None: not one), so that the
    /// shared cache is locked once per file and worker, not once per mapping.
    known: scan::WordMap<crate::maps::FileId, Option<std::sync::Arc<scan::Object>>>,
    /// The last frame and id of each page of each file met ([`SeenSlots`]).
    slots: SeenSlots,
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

impl<'a> Scanner<'a> {
    /// A worker's engine: `frames` whether pages are counted from frames (else smaps),
    /// `zero` the zero page, `own` solab's own frames (taken off every other process's
    /// counts); `me` is solab's pid, `me_scanned` whether solab is one of the processes
    /// (its own row's shares keep its own mappings).
    pub(super) fn new(
        frames: bool,
        zero: Option<Pfn>,
        cache: &'a SharedCache,
        own: &'a SolabFrames,
        me: i32,
        me_scanned: bool,
    ) -> Self {
        Scanner {
            frames,
            zero,
            cache,
            position: 0,
            words: Vec::new(),
            scratch: Vec::new(),
            pending: Vec::new(),
            known: Default::default(),
            slots: SeenSlots::default(),
            ids: kpage::FrameIds::default(),
            counts: kpage::NewCounts::default(),
            shares: Shares {
                me,
                me_scanned,
                ..Shares::default()
            },
            own,
        }
    }
}

impl Scanner<'_> {
    /// The ranges of the process's ELF objects and the ELF files it maps.
    fn objects(&mut self, dir: &ProcDir, maps: &[MapEntry]) -> Result<ObjectsOf> {
        let mut ranges = Vec::new();
        let mut files = HashSet::new();
        let index = placement::FileMappings::new(maps);
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
            files.insert(id);
            if let Ok(p) = placement::place_in(&object.plan, maps, &index, id) {
                ranges.push((p.base.0, p.end.0));
            }
        }
        Ok((Ranges::new(ranges), files))
    }

    /// The figures of the process of `dir`, the `position`th of the scan, by class (and
    /// with `keep` the frames of its pages): a page mapped once counts at once; any other
    /// page waits for the end of the process, when the kpagecount of every frame it met
    /// first is read ([`Scanner::share_new_frames`]), and then adds its frame's share
    /// ([`Partial::finish`]).
    pub(super) fn scan(
        &mut self,
        position: usize,
        dir: &ProcDir,
        keep: bool,
    ) -> Result<ProcessScan> {
        self.position = position;
        let pid = dir.pid();
        let maps = dir.read_maps()?;
        let (objects, elf_files) = self.objects(dir, &maps)?;
        let mut acc = [ClassSum::default(); 4];
        let idx = |c: MemClass| MemClass::ALL.iter().position(|x| *x == c).unwrap_or(0);
        let classes: Vec<usize> = maps
            .iter()
            .map(|m| idx(class_of(m, &objects, &elf_files)))
            .collect();
        if !self.frames {
            return scan_smaps(dir, &maps, &classes, acc);
        }
        // Gathered in the worker's buffer, kept at its exact size: no vector of each
        // process grown (copied, and its new pages faulted in) step by step.
        let mut shared = std::mem::take(&mut self.pending);
        shared.clear();
        let mut frames = Vec::new();
        let mut swaps = Vec::new();
        let mut pm = Pagemap::open(dir)?;
        // One pread per run of adjacent mappings, each mapping's words tallied in its class.
        let mut words = std::mem::take(&mut self.words);
        let mut numbered = true;
        // A mapping of a shmem file with pages absent may have them in swap, which the page
        // table does not show ([`smaps::ShmemSwapWatch`]).
        let mut shmem_absent = false;
        let watch = self.own.shmem_watch();
        let slots = &mut self.slots;
        let read = pm.read_maps(&maps, &mut words, |i, start, w| {
            let m = &maps[i];
            shmem_absent = shmem_absent
                || (watch.may_swap(m.dev) && m.inode != 0 && w.iter().any(|e| !e.present()));
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
                start.0 / PAGE_SIZE,
                classes[i],
                self.zero,
                &mut acc,
                &mut self.scratch,
                &mut shared,
                keep.then_some(&mut frames),
                &mut swaps,
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
        let (mut acc, frames) = finished?;
        // The kernel divides each swap entry among the page tables holding it (SwapPss),
        // and counts shmem in swap, which no page table shows, in Swap: smaps is read for
        // the processes with pages in swap or a shmem mapping with pages absent while the
        // machine has swap in use, and only for them, keeping only their mappings with
        // swap ([`smaps::read_swap`]). Its Swap is then the process's swap, as without
        // the capability.
        let mut no_swap_pss = false;
        let mut shmem = Vec::new();
        if shmem_absent || acc.iter().any(|a| a.swap > 0) {
            let figures = smaps::read_swap(dir)?;
            acc.iter_mut().for_each(|a| a.swap = 0);
            no_swap_pss = add_swap(&figures, &maps, |i| classes[i], &mut acc, &mut shmem);
        }
        swaps.sort_unstable();
        if !numbered {
            return Err(Error::Io {
                path: dir.path(c"pagemap"),
                source: std::io::Error::other(format!(
                    "more than {} distinct frames that may be shared met by one worker",
                    kpage::MAX_FRAME_IDS
                )),
            });
        }
        Ok(ProcessScan {
            acc,
            frames,
            swaps,
            shmem,
            no_swap_pss,
        })
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
/// that needs them; the others wait for it. An error is kept for the report. Beside them,
/// the machine's swap use and shmem devices ([`smaps::ShmemSwapWatch`]), read once too.
#[derive(Default)]
pub(super) struct SolabFrames {
    frames: std::sync::OnceLock<kpage::OwnFrames>,
    error: std::sync::Mutex<Option<Error>>,
    shmem_watch: std::sync::OnceLock<smaps::ShmemSwapWatch>,
}

impl SolabFrames {
    /// What tells whether a mapping may hide shmem in swap, read by the first worker that
    /// asks.
    pub(super) fn shmem_watch(&self) -> &smaps::ShmemSwapWatch {
        self.shmem_watch.get_or_init(smaps::ShmemSwapWatch::read)
    }

    /// The frames (none without the capability to read them: `frames` false).
    pub(super) fn get(&self, frames: bool) -> &kpage::OwnFrames {
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
    pub(super) fn into_frames(self) -> Result<kpage::OwnFrames> {
        if let Some(e) = self.error.into_inner().unwrap_or_else(|p| p.into_inner()) {
            return Err(e);
        }
        Ok(self.frames.into_inner().unwrap_or_default())
    }
}

/// Counts the pagemap words of pages of one class, the first at virtual page number
/// `first_page`: a page whose frame is mapped once ([`mapped_once`]) is
/// counted in `acc` (and its frame kept in `frames` with groups), one whose frame may be
/// mapped more than once waits in `shared` as `id << 2 | class`, its frame numbered in
/// `ids` (or found in `slots`, the file pages' last frames, when the words are of a file
/// mapping). Swapped pages add swap, and their swap entries (visible to root) go to
/// `swaps` as `entry << 2 | class`. `scratch` is the worker's, reused. False when `ids`
/// is full ([`kpage::MAX_FRAME_IDS`]): pages were left out.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn tally(
    words: &[crate::page_words::PagemapEntry],
    first_page: u64,
    class: usize,
    zero: Option<Pfn>,
    acc: &mut [ClassSum; 4],
    scratch: &mut Vec<u32>,
    shared: &mut Vec<u32>,
    mut frames: Option<&mut Vec<u64>>,
    swaps: &mut Vec<u64>,
    ids: &mut kpage::FrameIds,
    mut slots: Option<&mut [SeenSlot]>,
) -> bool {
    // The frame 0 is no frame (pfn() is None for it): it stands for "no zero page".
    let zero = zero.map_or(0, |p| p.0);
    // Swapped pages, and pages whose frame is mapped once (a count of 1 without
    // kpagecount), counted in passes of their own, which the compiler makes vector loops;
    // the loop below then visits only the pages left.
    let swapped = words.iter().filter(|e| !e.present() && e.swapped()).count() as u64;
    if swapped > 0 {
        swaps.extend(
            words
                .iter()
                .filter_map(|e| e.swap_entry())
                .map(|entry| entry << 2 | class as u64),
        );
    }
    let (once, present) =
        (first_page..)
            .zip(words)
            .fold((0u64, 0u64), |(once, present), (page, e)| {
                let p = u64::from(e.pfn().is_some());
                (once + (p & u64::from(mapped_once(*e, page))), present + p)
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
            if mapped_once(*e, first_page + k as u64) {
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

/// The figures of the process of `dir` from its smaps (no frame numbers: the kernel's PSS
/// and private pages, by class; `classes` is each mapping's of `maps`).
fn scan_smaps(
    dir: &ProcDir,
    maps: &[MapEntry],
    classes: &[usize],
    mut acc: [ClassSum; 4],
) -> Result<ProcessScan> {
    let figures = smaps::read_smaps(dir)?;
    let swap = figures
        .iter()
        .map(|(&start, f)| {
            let (swap, swap_pss) = (f.swap, f.swap_pss);
            (start, smaps::SwapFigures { swap, swap_pss })
        })
        .collect();
    let mut shmem = Vec::new();
    let no_swap_pss = add_swap(&swap, maps, |i| classes[i], &mut acc, &mut shmem);
    for (i, m) in maps.iter().enumerate() {
        if let Some(f) = figures.get(&m.start.0) {
            let a = &mut acc[classes[i]];
            a.rss += f.rss;
            a.pss += f.pss as f64;
            a.uss += f.private;
        }
    }
    Ok(ProcessScan {
        acc,
        frames: Vec::new(),
        swaps: Vec::new(),
        shmem,
        no_swap_pss,
    })
}
