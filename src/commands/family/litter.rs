//! Comparing a litter (some children of one parent) with their parent, page by page.
//!
//! Memory is bounded by a window of pages per worker ([`WINDOW`]), not by the family:
//! a worker takes a litter of one parent's children and walks their private mappings start
//! by start, window by window (aligned, so every child of the parent reads the same
//! windows); for each window the parent's pagemap words and their frames' kpagecount and
//! kpageflags are read once for the litter, then each child's words, and the frames of only
//! those child pages that are not the parent's frame at the same address.

use super::members::OpenMember;
use super::shared::{self, SharedPages};
use super::{Inherited, LookRun, MappingFigures, PageLook, lineage, push_run};
use crate::addr::{PAGE_SIZE, Pfn, VirtAddr};
use crate::error::{Error, Result};
use crate::kernel::pagemap::{CHUNK_PAGES, Pagemap, ranges_to_read};
use crate::kernel::process::ProcDir;
use crate::kernel::{kpage, smaps};
use crate::maps::{MapEntry, MapTarget};
use crate::page_words::{FrameInfo, PagemapEntry};
use crate::placement::MappingKind;
use crate::scan::{self, PidError};
use crate::sharing::fork::anonymous_word;
use crate::sharing::{self, Lineage, ProcessPage};

/// Whether a mapping may hold pages a child inherited: private, not empty, not the
/// kernel's `[vsyscall]` or `[vvar]`.
pub(super) fn holds_private_pages(m: &MapEntry) -> bool {
    !(m.perms.shared || m.is_empty() || m.is_pseudo("[vsyscall]") || m.is_pseudo("[vvar]"))
}

fn name(m: &MapEntry) -> String {
    match &m.target {
        MapTarget::File { path, .. } => path.to_string_lossy().into_owned(),
        MapTarget::Pseudo(p) => p.clone(),
        MapTarget::Anonymous => "[anon]".into(),
    }
}

/// Pages are read in windows of this many bytes, aligned: every child of a parent reads
/// the same window of an inherited mapping, so the parent's words and frames for it are
/// read once for all the children a worker compares. A worker holds about 56 bytes per
/// page of its window (words, frames and their kernel words, the parent's and a child's):
/// an eighth of [`CHUNK_PAGES`] keeps that near 0.5 MiB, so that a second worker adds
/// little to the peak; the reads, 64 KiB of words each, are still large enough to cost no
/// time.
pub(super) const WINDOW: u64 = CHUNK_PAGES / 8 * PAGE_SIZE;

/// A parent's words over part of one window, and what kpagecount/kpageflags say about the
/// frame of each (privileged only).
#[derive(Default)]
struct ParentWindow {
    /// The start of the mapping and the window the words are for.
    key: Option<(u64, u64)>,
    /// The address of `words[0]`.
    base: u64,
    words: Vec<PagemapEntry>,
    /// The frame of each word (default where it has none).
    frames: Vec<FrameInfo>,
    /// The distinct frames of `words`, sorted, and their kernel words, to fill `frames`.
    pfns: Vec<Pfn>,
    info: Vec<FrameInfo>,
}

/// What one worker reuses from chunk to chunk: its memory is bounded by the window (a
/// parent's and a child's chunk of words and their frames), whatever the family's size.
pub(super) struct LitterWorker {
    privileged: bool,
    /// Opened on first use (privileged only).
    tables: Option<kpage::FrameTables>,
    parent: ParentWindow,
    /// A child's chunk, and the frames of it that are not its parent's at the same address.
    mine: Vec<PagemapEntry>,
    pfns: Vec<Pfn>,
    info: Vec<FrameInfo>,
}

impl LitterWorker {
    pub(super) fn new(privileged: bool) -> LitterWorker {
        LitterWorker {
            privileged,
            tables: None,
            parent: ParentWindow::default(),
            mine: Vec::new(),
            pfns: Vec::new(),
            info: Vec::new(),
        }
    }

    /// kpagecount and kpageflags of the sorted, distinct `pfns` into `info`.
    fn read_frames(
        tables: &mut Option<kpage::FrameTables>,
        pfns: &[Pfn],
        info: &mut Vec<FrameInfo>,
    ) -> Result<()> {
        let tables = match tables {
            Some(t) => t,
            None => tables.insert(kpage::FrameTables::open()?),
        };
        tables.read_into(pfns, info)
    }

    /// Reads the parent's words over `[from, to)` of the window `key`, and their frames,
    /// unless they are what it holds already.
    fn read_parent(
        &mut self,
        pm: &mut Pagemap,
        key: (u64, u64),
        from: u64,
        to: u64,
    ) -> std::result::Result<(), Stop> {
        let w = &mut self.parent;
        if w.key == Some(key) && w.base <= from && to <= w.base + w.words.len() as u64 * PAGE_SIZE {
            return Ok(());
        }
        w.key = None;
        pm.read_into(VirtAddr(from), (to - from) / PAGE_SIZE, &mut w.words)
            .map_err(Stop::Member)?;
        w.base = from;
        w.frames.clear();
        if self.privileged {
            w.pfns.clear();
            w.pfns.extend(
                w.words
                    .iter()
                    .filter(|e| anonymous_word(**e))
                    .filter_map(|e| e.pfn()),
            );
            w.pfns.sort_unstable();
            w.pfns.dedup();
            LitterWorker::read_frames(&mut self.tables, &w.pfns, &mut w.info)
                .map_err(Stop::Fatal)?;
            w.frames.extend(w.words.iter().map(|e| {
                e.pfn()
                    .filter(|_| anonymous_word(*e))
                    .and_then(|p| kpage::FrameTables::find(&w.pfns, &w.info, p))
                    .copied()
                    .unwrap_or_default()
            }));
        }
        w.key = Some(key);
        Ok(())
    }

    /// Reads a child's words over `[from, to)` (the parent's window already read over
    /// `with_parent`, the address ranges where the parent's mappings pair with the child's),
    /// then the frames of its words that are not the parent's frame at the same address;
    /// calls `each(address, child's copy, parent's copy)` for each of its anonymous words.
    /// `huge`: the child's and the parent's mappings that hold transparent huge pages
    /// (without frame numbers only, [`HugeRanges`]).
    fn read_child(
        &mut self,
        pm: &mut Pagemap,
        (from, to): (u64, u64),
        with_parent: &[(u64, u64)],
        huge: (&HugeRanges, &HugeRanges),
        mut each: impl FnMut(u64, ProcessPage, Option<ProcessPage>),
    ) -> std::result::Result<(), Stop> {
        let LitterWorker {
            privileged,
            tables,
            parent,
            mine,
            pfns,
            info,
        } = self;
        let privileged = *privileged;
        pm.read_into(VirtAddr(from), (to - from) / PAGE_SIZE, mine)
            .map_err(Stop::Member)?;
        let parent_end = parent.base + parent.words.len() as u64 * PAGE_SIZE;
        // The parent's word at `addr`, if it is an anonymous one, and its index.
        let theirs = |addr: u64| -> Option<(usize, PagemapEntry)> {
            let paired = with_parent.iter().any(|&(a, b)| a <= addr && addr < b);
            if !paired || addr < parent.base || addr >= parent_end {
                return None;
            }
            let i = ((addr - parent.base) / PAGE_SIZE) as usize;
            Some((i, parent.words[i])).filter(|(_, w)| anonymous_word(*w))
        };
        pfns.clear();
        if privileged {
            for (k, &e) in mine.iter().enumerate() {
                let Some(p) = e.pfn().filter(|_| anonymous_word(e)) else {
                    continue;
                };
                let addr = from + k as u64 * PAGE_SIZE;
                if theirs(addr).is_none_or(|(_, w)| w.pfn() != Some(p)) {
                    pfns.push(p);
                }
            }
            pfns.sort_unstable();
            pfns.dedup();
            LitterWorker::read_frames(tables, pfns, info).map_err(Stop::Fatal)?;
        }
        let copy = |e: PagemapEntry, frame: Option<&FrameInfo>, huge: bool| -> ProcessPage {
            let pfn = e.pfn().filter(|_| privileged);
            ProcessPage {
                state: sharing::page_state(
                    Some(MappingKind::Anonymous),
                    e,
                    pfn.and(frame).map(|f| (f.flags, f.mapcount)),
                ),
                pfn,
                exclusive: sharing::exclusive_by_bits(e, huge),
            }
        };
        for (k, &e) in mine.iter().enumerate() {
            if !anonymous_word(e) {
                continue;
            }
            let addr = from + k as u64 * PAGE_SIZE;
            let at_parent = theirs(addr);
            let frame = match (e.pfn(), at_parent) {
                (Some(p), Some((i, w))) if w.pfn() == Some(p) => parent.frames.get(i),
                (p, _) => p.and_then(|p| kpage::FrameTables::find(pfns, info, p)),
            };
            each(
                addr,
                copy(e, frame, huge.0.holds(addr)),
                at_parent.map(|(i, w)| copy(w, parent.frames.get(i), huge.1.holds(addr))),
            );
        }
        Ok(())
    }
}

/// The pages of a process mapped by PMDs (transparent huge pages mapped whole), read only
/// without frame numbers: there pagemap bit 56 is no promise ([`sharing::exclusive_by_bits`]).
/// From PAGEMAP_SCAN (6.7+); before it, the mappings whose smaps `AnonHugePages` is above 0.
/// With frame numbers the frames say, and it stays empty.
#[derive(Default)]
struct HugeRanges(Vec<(u64, u64)>);

impl HugeRanges {
    /// The PMD-mapped ranges of the private mappings `maps` of the process of `dir`; none
    /// if they cannot be read (its pagemap then cannot either, and the comparison says why).
    fn read(privileged: bool, dir: &ProcDir, maps: &[MapEntry]) -> HugeRanges {
        if privileged {
            return HugeRanges::default();
        }
        let private = maps.iter().filter(|m| holds_private_pages(m));
        let (Some(first), Some(last)) = (private.clone().next(), private.clone().next_back())
        else {
            return HugeRanges::default();
        };
        let scanned = Pagemap::open(dir)
            .and_then(|pm| pm.pmd_mapped_ranges(first.start.0, last.end.0))
            .ok();
        if let Some(Some(ranges)) = scanned {
            return HugeRanges(ranges);
        }
        let Ok(figures) = smaps::read_smaps(dir) else {
            return HugeRanges::default();
        };
        HugeRanges(
            private
                .filter(|m| figures.get(&m.start.0).is_some_and(|f| f.anon_huge > 0))
                .map(|m| (m.start.0, m.end.0))
                .collect(),
        )
    }

    fn holds(&self, addr: u64) -> bool {
        self.0.iter().any(|&(a, b)| a <= addr && addr < b)
    }
}

/// The most children of one parent a worker compares together (each is open meanwhile:
/// its directory and pagemap).
pub(super) const LITTER: usize = 64;

/// What comparing one child with its parent gave.
pub(super) struct KidFigures {
    /// Its private mappings holding anonymous pages.
    pub mappings: Vec<MappingFigures>,
    /// Page by page, per mapping of `mappings`, only for a picture (else empty).
    pub runs: Vec<Vec<LookRun>>,
    pub lineage: Lineage,
    pub shared: SharedPages,
}

/// A child being compared in a litter (its map is kept apart, for the walks to borrow).
struct Kid {
    dir: ProcDir,
    pm: Pagemap,
    huge: HugeRanges,
    failed: Option<Error>,
    mappings: Vec<MappingFigures>,
    runs: Vec<Vec<LookRun>>,
}

/// Compares `kids` (opened children of `parent`) with it page by page, window by window at
/// the same addresses: for each window of an inherited mapping the parent's words and frames
/// are read once, then each child's; only a child's frames that are not its parent's at the
/// same address are read again. Then each child's lineage ([`Lineage`]) and shared memory.
/// `Err(Stop::Member)`: the parent could not be read.
pub(super) fn litter(
    w: &mut LitterWorker,
    parent: &mut OpenMember,
    kids: Vec<OpenMember>,
    pictured: bool,
) -> std::result::Result<Vec<std::result::Result<KidFigures, PidError>>, Stop> {
    let parent_huge = HugeRanges::read(w.privileged, &parent.dir, &parent.maps);
    let mut maps: Vec<Vec<MapEntry>> = Vec::with_capacity(kids.len());
    let mut kids: Vec<Kid> = kids
        .into_iter()
        .map(|o| {
            let huge = HugeRanges::read(w.privileged, &o.dir, &o.maps);
            maps.push(o.maps);
            Kid {
                dir: o.dir,
                pm: o.pm,
                huge,
                failed: None,
                mappings: Vec::new(),
                runs: Vec::new(),
            }
        })
        .collect();
    compare_private(w, parent, &maps, &mut kids, &parent_huge, pictured)?;
    // The parent's exec mark, read at the first child that needs it.
    let mut parent_mark = None;
    let mut words = Vec::new();
    Ok(kids
        .into_iter()
        .zip(&maps)
        .map(|(mut kid, maps)| {
            let pid = kid.dir.pid();
            if let Some(e) = kid.failed.take() {
                return Err(PidError::gone(pid, &scan::gone(&kid.dir, e)));
            }
            let shares_frame = kid.mappings.iter().any(|m| m.pages.parents_frame > 0);
            let lineage = if shares_frame {
                Lineage::SharedFrame
            } else {
                let theirs = parent_mark.get_or_insert_with(|| lineage::read_mark(&parent.dir));
                sharing::lineage(false, &lineage::read_mark(&kid.dir), theirs)
            };
            if lineage == Lineage::Exec {
                lineage::none_inherited(&mut kid.mappings, &mut kid.runs);
            }
            let shared = shared::read(&mut kid.pm, maps, &mut words)
                .map_err(|e| PidError::gone(pid, &scan::gone(&kid.dir, e)))?;
            Ok(KidFigures {
                mappings: kid.mappings,
                runs: kid.runs,
                lineage,
                shared,
            })
        })
        .collect())
}

/// The page-by-page walk of [`litter`]: every child's private mappings, start by start
/// (the ones at one start are walked together), window by window.
fn compare_private(
    w: &mut LitterWorker,
    parent: &mut OpenMember,
    maps: &[Vec<MapEntry>],
    kids: &mut [Kid],
    parent_huge: &HugeRanges,
    pictured: bool,
) -> std::result::Result<(), Stop> {
    let mut starts: Vec<u64> = maps
        .iter()
        .flat_map(|m| {
            m.iter()
                .filter(|m| holds_private_pages(m))
                .map(|m| m.start.0)
        })
        .collect();
    starts.sort_unstable();
    starts.dedup();
    let mut walks: Vec<Walk> = Vec::new();
    for start in starts {
        walks.clear();
        for (n, kid) in kids.iter_mut().enumerate() {
            if kid.failed.is_some() {
                continue;
            }
            let Some(m) = maps[n]
                .iter()
                .find(|m| m.start.0 == start && holds_private_pages(m))
            else {
                continue;
            };
            let theirs = paired_ranges(m, &parent.maps);
            match ranges_to_read(&kid.pm, m.start.0, m.end.0) {
                Ok(ranges) => walks.push(Walk {
                    kid: n,
                    m,
                    theirs,
                    at: ranges.first().map_or(0, |r| r.0),
                    ranges,
                    next: 0,
                    pages: Inherited::default(),
                    runs: Vec::new(),
                }),
                Err(e) => kid.failed = Some(e),
            }
        }
        while let Some(window) = walks.iter().filter_map(Walk::window).min() {
            let end = (window + 1) * WINDOW;
            // The parent's words over what the children read of this window.
            let span = walks
                .iter()
                .filter(|k| k.window() == Some(window) && kids[k.kid].failed.is_none())
                .filter_map(|k| k.parent_span(end))
                .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)));
            if let Some((from, to)) = span {
                w.read_parent(&mut parent.pm, (start, window), from, to)?;
            }
            for walk in walks.iter_mut().filter(|k| k.window() == Some(window)) {
                let kid = &mut kids[walk.kid];
                while let Some((from, to)) = walk.piece(end) {
                    walk.advance(to);
                    if kid.failed.is_some() {
                        continue;
                    }
                    let (pages, runs) = (&mut walk.pages, &mut walk.runs);
                    let paired: &[(u64, u64)] = if span.is_some() { &walk.theirs } else { &[] };
                    let huge = (&kid.huge, parent_huge);
                    let read = w.read_child(
                        &mut kid.pm,
                        (from, to),
                        paired,
                        huge,
                        |addr, mine, at_parent| {
                            if let Some(i) = sharing::inheritance(&mine, at_parent.as_ref()) {
                                pages.count(i);
                                if pictured {
                                    push_run(runs, addr, PageLook::Inherited(i));
                                }
                            }
                        },
                    );
                    match read {
                        Ok(()) => {}
                        Err(Stop::Member(e)) => kid.failed = Some(e),
                        Err(Stop::Fatal(e)) => return Err(Stop::Fatal(e)),
                    }
                }
            }
        }
        for walk in walks.drain(..) {
            if !walk.pages.is_empty() {
                let m = walk.m;
                let kid = &mut kids[walk.kid];
                kid.mappings.push(MappingFigures {
                    start: m.start.0,
                    end: m.end.0,
                    perms: m.perms.to_string(),
                    name: name(m),
                    inherited: !walk.theirs.is_empty(),
                    pages: walk.pages,
                });
                kid.runs.push(walk.runs);
            }
        }
    }
    Ok(())
}

/// Why reading stopped: the process read could not be (it exited), or the kernel's
/// frame tables could not be.
pub(super) enum Stop {
    Member(Error),
    Fatal(Error),
}

/// One private mapping of a child being compared: the ranges of it worth reading, where
/// the walk is, and the figures so far.
struct Walk<'a> {
    /// The child's index in the litter.
    kid: usize,
    m: &'a MapEntry,
    /// Where the parent's private mappings of the same target overlap the child's, in
    /// address order ([`paired_ranges`]).
    theirs: Vec<(u64, u64)>,
    ranges: Vec<(u64, u64)>,
    next: usize,
    at: u64,
    pages: Inherited,
    runs: Vec<LookRun>,
}

impl Walk<'_> {
    /// The next piece to read, within the window ending at `end`.
    fn piece(&self, end: u64) -> Option<(u64, u64)> {
        let &(_, to) = self.ranges.get(self.next)?;
        (self.at < end).then(|| (self.at, to.min(end)))
    }
    fn advance(&mut self, to: u64) {
        self.at = to;
        if self.ranges.get(self.next).is_some_and(|r| r.1 <= to) {
            self.next += 1;
            if let Some(r) = self.ranges.get(self.next) {
                self.at = r.0;
            }
        }
    }
    fn window(&self) -> Option<u64> {
        self.ranges.get(self.next).map(|_| self.at / WINDOW)
    }
    /// Where the parent's words are worth reading for this walk's pieces in the window
    /// ending at `end`: from `at` to the end of its last piece there, within the parent's
    /// mapping.
    fn parent_span(&self, end: u64) -> Option<(u64, u64)> {
        let (first, last_paired) = (self.theirs.first()?, self.theirs.last()?);
        let last = self.ranges[self.next..]
            .iter()
            .take_while(|r| r.0 < end)
            .last()?;
        let from = self.at.max(first.0);
        let to = last.1.min(end).min(last_paired.1);
        (from < to).then_some((from, to))
    }
}

/// The root's own anonymous pages (what a child could inherit), as runs for a picture.
pub(super) fn own_runs(
    w: &mut LitterWorker,
    root: &mut OpenMember,
) -> std::result::Result<Vec<LookRun>, Stop> {
    let pm = &mut root.pm;
    let mut own = Vec::new();
    for m in root.maps.iter().filter(|m| holds_private_pages(m)) {
        for (from, to) in ranges_to_read(pm, m.start.0, m.end.0).map_err(Stop::Member)? {
            let mut at = from;
            while at < to {
                let until = to.min((at / WINDOW + 1) * WINDOW);
                let huge = (&HugeRanges::default(), &HugeRanges::default());
                w.read_child(pm, (at, until), &[], huge, |addr, copy, _| {
                    // An anonymous page: not the zero page, no file.
                    if sharing::inheritance(&copy, None).is_some() {
                        push_run(&mut own, addr, PageLook::Own(copy.state));
                    }
                })?;
                at = until;
            }
        }
    }
    Ok(own)
}

/// Where a child's private mapping `m` pairs with its parent's memory, page by page: the
/// overlap of `m` with each of the parent's private mappings of the same target (`maps`, in
/// address order). Address ranges, not equal starts: the kernel merges a parent's new
/// mapping with an adjacent inherited one, and splits one on mprotect, so the parent's
/// mapping around an inherited page may start or end elsewhere than the child's.
fn paired_ranges(m: &MapEntry, maps: &[MapEntry]) -> Vec<(u64, u64)> {
    maps.iter()
        .filter(|p| p.start < m.end && m.start < p.end)
        .filter(|p| !p.perms.shared && p.target == m.target)
        .map(|p| (p.start.0.max(m.start.0), p.end.0.min(m.end.0)))
        .collect()
}
