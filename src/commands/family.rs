//! `solab family PID`: a process and its descendants, and for each child what became of
//! the anonymous memory it inherited through fork: per private mapping it has at the same
//! address as its parent (heap, arenas, stacks, each object's data), the pages that are
//! still the parent's frame, the ones copied since, and new ones ([`Inheritance`]).
//!
//! As root the pages are compared by frame number (same frame at the same address);
//! without CAP_SYS_ADMIN only pagemap bit 56 remains: a page with the bit clear in child
//! and parent "looks inherited" (weak), as a frame shared with a sibling, KSM or the zero
//! page looks the same.
//!
//! Memory is bounded by a window of pages per worker ([`WINDOW`]), not by the family:
//! a worker takes a litter of one parent's children and walks their private mappings start
//! by start, window by window (aligned, so every child of the parent reads the same
//! windows); for each window the parent's pagemap words and their frames' kpagecount and
//! kpageflags are read once for the litter, then each child's words, and the frames of only
//! those child pages that are not the parent's frame at the same address. Litters run on
//! `--threads` workers, and the report comes out in tree order whichever finished first.

use crate::addr::{PAGE_SIZE, Pfn, VirtAddr};
use crate::error::{Error, Result};
use crate::kernel::pagemap::{CHUNK_PAGES, Pagemap, ranges_to_read};
use crate::kernel::process::{self, ProcDir};
use crate::kernel::{self, Evidence, kpage, smaps};
use crate::maps::{MapEntry, MapTarget};
use crate::page_words::{FrameInfo, PagemapEntry};
use crate::placement::MappingKind;
use crate::scan::{self, PidError};
use crate::sharing::fork::anonymous_word;
use crate::sharing::{self, Inheritance, PageState, ProcessPage};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub const FAMILY_SCHEMA: &str = "solab.family.v1";

/// Anonymous pages by [`Inheritance`], in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inherited {
    pub parents_frame: u64,
    pub copied: u64,
    pub new: u64,
    /// Weak only (no frame numbers): bit 56 clear in child and parent.
    pub looks_inherited: u64,
}

impl Inherited {
    fn count(&mut self, i: Inheritance) {
        let slot = match i {
            Inheritance::ParentsFrame => &mut self.parents_frame,
            Inheritance::Copied => &mut self.copied,
            Inheritance::New => &mut self.new,
            Inheritance::LooksInherited => &mut self.looks_inherited,
        };
        *slot += PAGE_SIZE;
    }
    fn add(&mut self, o: &Inherited) {
        self.parents_frame += o.parents_frame;
        self.copied += o.copied;
        self.new += o.new;
        self.looks_inherited += o.looks_inherited;
    }
    /// Still one frame with the parent (or, weak, looks so).
    pub fn shared(&self) -> u64 {
        self.parents_frame + self.looks_inherited
    }
    fn is_empty(&self) -> bool {
        *self == Inherited::default()
    }
}

/// What one page of a process is in a picture of the family (`--svg`): the root's own
/// page, by its state, or a descendant's page, by what became of it since fork.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageLook {
    Own(PageState),
    Inherited(Inheritance),
}

/// Consecutive pages (`start` is an address) that look alike, for pictures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LookRun {
    pub start: u64,
    pub pages: u64,
    pub look: PageLook,
}

impl LookRun {
    pub fn end(&self) -> u64 {
        self.start + self.pages * PAGE_SIZE
    }
}

/// Adds the page at `addr` to `runs`, extending the last run when it continues it.
fn push_run(runs: &mut Vec<LookRun>, addr: u64, look: PageLook) {
    if let Some(last) = runs.last_mut()
        && last.end() == addr
        && last.look == look
    {
        last.pages += 1;
        return;
    }
    runs.push(LookRun {
        start: addr,
        pages: 1,
        look,
    });
}

/// One private mapping of a child.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MappingFigures {
    pub start: u64,
    pub end: u64,
    pub perms: String,
    /// `[heap]`, `[stack]`, `[anon]` (unnamed anonymous memory), or the file's path.
    pub name: String,
    /// A private mapping of the parent's, of the same file or kind, overlaps it (false:
    /// made after fork, all its pages are new).
    pub inherited: bool,
    #[serde(flatten)]
    pub pages: Inherited,
    /// Page by page, only when asked for a picture ([`family_pictured`]); not in the JSON,
    /// whose size stays bounded by the number of mappings.
    #[serde(skip)]
    pub runs: Vec<LookRun>,
}

/// A process of the family and, but for the root, its comparison with its parent.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Member {
    pub pid: i32,
    pub ppid: i32,
    pub comm: String,
    /// 0 for the root, 1 for its children...
    pub depth: u32,
    /// Private mappings holding anonymous pages (none for the root).
    pub mappings: Vec<MappingFigures>,
    pub totals: Inherited,
    /// The root's own anonymous pages in its private mappings, only when asked for a
    /// picture; not in the JSON.
    #[serde(skip)]
    pub own: Vec<LookRun>,
}

/// What `solab family --json` prints.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FamilyReport {
    pub schema: String,
    pub evidence: Evidence,
    pub privileged: bool,
    /// True without frame numbers: `looks_inherited` replaces `parents_frame`.
    pub weak: bool,
    pub privilege_note: Option<String>,
    pub kernel: kernel::config::KernelFacts,
    pub page_size: u64,
    pub root: i32,
    /// The root first, then its descendants, each after its parent.
    pub processes: Vec<Member>,
    /// Over every descendant.
    pub totals: Inherited,
    /// Descendants that could not be read.
    pub errors: Vec<PidError>,
}

/// The root and its descendants as (pid, ppid, depth), each after its parent.
fn descendants(root: i32) -> Result<Vec<(i32, i32, u32)>> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for pid in process::list_pids()? {
        if let Ok(s) = ProcDir::open(pid).and_then(|d| d.stat()) {
            children.entry(s.ppid).or_default().push(pid);
        }
    }
    let ppid = ProcDir::open(root).and_then(|d| d.stat()).map(|s| s.ppid)?;
    let mut out = vec![(root, ppid, 0)];
    let mut i = 0;
    while i < out.len() {
        let (pid, _, depth) = out[i];
        for &c in children.get(&pid).into_iter().flatten() {
            out.push((c, pid, depth + 1));
        }
        i += 1;
    }
    Ok(out)
}

/// A member of the family as first read: its memory map (small), read once.
struct MemberMaps {
    pid: i32,
    ppid: i32,
    depth: u32,
    /// `None`: it could not be read (its error is recorded).
    maps: Option<Vec<MapEntry>>,
    /// Its /proc directory, every later read of it through it; `None` where it did not
    /// open.
    dir: Option<ProcDir>,
}

/// Whether a mapping may hold pages a child inherited: private, not empty, not the
/// kernel's `[vsyscall]` or `[vvar]`.
fn holds_private_pages(m: &MapEntry) -> bool {
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
const WINDOW: u64 = CHUNK_PAGES / 8 * PAGE_SIZE;

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
struct LitterWorker {
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
    fn new(privileged: bool) -> LitterWorker {
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

/// What one worker's job gave: the root's own pages, or a litter compared.
enum Job {
    Own(Vec<LookRun>),
    Litter(Litter),
}

/// The most children of one parent a worker compares together (each has its pagemap open).
const LITTER: usize = 64;

/// Why reading stopped: the process read could not be (it exited), or the kernel's
/// frame tables could not be.
enum Stop {
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

/// A child being compared in a litter.
struct Kid<'a> {
    maps: &'a [MapEntry],
    huge: HugeRanges,
    pm: Option<Pagemap>,
    failed: Option<Error>,
    mappings: Vec<MappingFigures>,
}

/// What comparing some children of one parent gave: each child's mappings or why it could
/// not be read, or why the parent could not be.
enum Litter {
    Kids(Vec<std::result::Result<Vec<MappingFigures>, Error>>),
    ParentFailed(Error),
}

/// Compares `kids` (children of `parent`) with it page by page, window by window at the
/// same addresses: for each window of an inherited mapping the parent's words and frames
/// are read once, then each child's; only a child's frames that are not its parent's at
/// the same address are read again.
fn litter(
    w: &mut LitterWorker,
    parent: (&ProcDir, &[MapEntry]),
    kids: &[(&ProcDir, &[MapEntry])],
    pictured: bool,
) -> std::result::Result<Litter, Error> {
    let mut ppm = match Pagemap::open(parent.0) {
        Ok(pm) => pm,
        Err(e) => return Ok(Litter::ParentFailed(e)),
    };
    let parent_huge = HugeRanges::read(w.privileged, parent.0, parent.1);
    let mut kids: Vec<Kid> = kids
        .iter()
        .map(|&(dir, maps)| {
            let (pm, failed) = match Pagemap::open(dir) {
                Ok(pm) => (Some(pm), None),
                Err(e) => (None, Some(e)),
            };
            Kid {
                maps,
                huge: HugeRanges::read(w.privileged, dir, maps),
                pm,
                failed,
                mappings: Vec::new(),
            }
        })
        .collect();
    // Every child's private mappings, start by start: the ones at one start are walked
    // together.
    let mut starts: Vec<u64> = kids
        .iter()
        .flat_map(|k| {
            k.maps
                .iter()
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
            let (Some(pm), None) = (&kid.pm, &kid.failed) else {
                continue;
            };
            let Some(m) = kid
                .maps
                .iter()
                .find(|m| m.start.0 == start && holds_private_pages(m))
            else {
                continue;
            };
            let theirs = paired_ranges(m, parent.1);
            match ranges_to_read(pm, m.start.0, m.end.0) {
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
                match w.read_parent(&mut ppm, (start, window), from, to) {
                    Ok(()) => {}
                    Err(Stop::Member(e)) => return Ok(Litter::ParentFailed(e)),
                    Err(Stop::Fatal(e)) => return Err(e),
                }
            }
            for walk in walks.iter_mut().filter(|k| k.window() == Some(window)) {
                let kid = &mut kids[walk.kid];
                while let Some((from, to)) = walk.piece(end) {
                    walk.advance(to);
                    let (Some(pm), None) = (kid.pm.as_mut(), &kid.failed) else {
                        continue;
                    };
                    let (pages, runs) = (&mut walk.pages, &mut walk.runs);
                    let paired: &[(u64, u64)] = if span.is_some() { &walk.theirs } else { &[] };
                    let huge = (&kid.huge, &parent_huge);
                    let read =
                        w.read_child(pm, (from, to), paired, huge, |addr, mine, at_parent| {
                            if let Some(i) = sharing::inheritance(&mine, at_parent.as_ref()) {
                                pages.count(i);
                                if pictured {
                                    push_run(runs, addr, PageLook::Inherited(i));
                                }
                            }
                        });
                    match read {
                        Ok(()) => {}
                        Err(Stop::Member(e)) => kid.failed = Some(e),
                        Err(Stop::Fatal(e)) => return Err(e),
                    }
                }
            }
        }
        for walk in walks.drain(..) {
            if !walk.pages.is_empty() {
                let m = walk.m;
                kids[walk.kid].mappings.push(MappingFigures {
                    start: m.start.0,
                    end: m.end.0,
                    perms: m.perms.to_string(),
                    name: name(m),
                    inherited: !walk.theirs.is_empty(),
                    pages: walk.pages,
                    runs: walk.runs,
                });
            }
        }
    }
    Ok(Litter::Kids(
        kids.into_iter()
            .map(|k| match k.failed {
                Some(e) => Err(e),
                None => Ok(k.mappings),
            })
            .collect(),
    ))
}

/// The root's own anonymous pages (what a child could inherit), as runs for a picture.
fn own_runs(
    w: &mut LitterWorker,
    dir: &ProcDir,
    maps: &[MapEntry],
) -> std::result::Result<Vec<LookRun>, Stop> {
    let mut pm = Pagemap::open(dir).map_err(Stop::Member)?;
    let mut own = Vec::new();
    for m in maps.iter().filter(|m| holds_private_pages(m)) {
        for (from, to) in ranges_to_read(&pm, m.start.0, m.end.0).map_err(Stop::Member)? {
            let mut at = from;
            while at < to {
                let until = to.min((at / WINDOW + 1) * WINDOW);
                let huge = (&HugeRanges::default(), &HugeRanges::default());
                w.read_child(&mut pm, (at, until), &[], huge, |addr, copy, _| {
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

/// Why member `pid` (its directory `dir`, where it opened) could not be read, naming it,
/// in the words of every command.
fn member_error(pid: i32, dir: Option<&ProcDir>, e: Error) -> PidError {
    PidError::gone(pid, &process::classify(dir, e))
}

/// Reads the family of `root` and compares each child with its parent, on `threads`
/// workers ([`scan::threads`]: 0 is one per CPU). Memory is bounded by the workers' windows
/// (about 5 MiB each), not by the family's size.
pub fn family(root: i32, threads: usize) -> Result<FamilyReport> {
    read_family(root, threads, false)
}

/// The same, keeping every page (as runs) for a picture: memory grows with the number of
/// runs of alike pages, where [`family`] keeps only counts.
pub fn family_pictured(root: i32, threads: usize) -> Result<FamilyReport> {
    read_family(root, threads, true)
}

fn read_family(root: i32, threads: usize, pictured: bool) -> Result<FamilyReport> {
    kernel::check_page_size()?;
    let privilege = kernel::detect_privilege();
    let privileged = privilege.frames();
    // Every member's memory map first (small): a member that cannot be read is an error of
    // its own, and its children are compared with nobody.
    let mut failed: Vec<Option<PidError>> = Vec::new();
    let mut read = Vec::new();
    for (pid, ppid, depth) in descendants(root)? {
        // Through the member's directory: its map and the check that its pagemap opens
        // are of one process.
        let (dir, maps) = match ProcDir::open(pid) {
            Ok(dir) => {
                let m = dir.read_maps().and_then(|m| Pagemap::open(&dir).map(|_| m));
                (Some(dir), m)
            }
            Err(e) => (None, Err(e)),
        };
        let maps = match maps {
            Ok(m) => Some(m),
            Err(e) if pid == root => return Err(e),
            Err(e) => {
                failed.push(Some(member_error(pid, dir.as_ref(), e)));
                None
            }
        };
        if maps.is_some() {
            failed.push(None);
        }
        read.push(MemberMaps {
            pid,
            ppid,
            depth,
            maps,
            dir,
        });
    }
    // Then the children of each parent with it (and, for a picture, the root alone), on
    // every core: a litter of a parent's children per worker, so that the parent's words
    // and frames of a window are read once for all the children that worker compares.
    let threads = scan::threads(threads);
    let mut litters: HashMap<i32, Vec<usize>> = HashMap::new();
    for (k, r) in read.iter().enumerate().skip(1) {
        if r.maps.is_some() {
            litters.entry(r.ppid).or_default().push(k);
        }
    }
    let mut jobs: Vec<(usize, Vec<usize>)> = Vec::new();
    if pictured {
        jobs.push((0, Vec::new()));
    }
    for (p, r) in read.iter().enumerate() {
        let Some(kids) = litters.get(&r.pid).filter(|_| r.maps.is_some()) else {
            continue;
        };
        let per = kids.len().div_ceil(threads).clamp(1, LITTER);
        jobs.extend(kids.chunks(per).map(|c| (p, c.to_vec())));
    }
    let job_pids: Vec<i32> = jobs.iter().map(|(p, _)| read[*p].pid).collect();
    let maps_of = |k: usize| read[k].maps.as_deref().unwrap_or_default();
    // A member with a map opened its directory (the jobs hold only those).
    let dir_of = |k: usize| {
        read[k]
            .dir
            .as_ref()
            .expect("a member whose map was read has its directory")
    };
    let (_, results) = scan::each_process(
        &job_pids,
        threads,
        || LitterWorker::new(privileged),
        |w, j, _| {
            let (parent, kids) = &jobs[j];
            if kids.is_empty() {
                return own_runs(w, dir_of(*parent), maps_of(*parent)).map(Job::Own);
            }
            let kids: Vec<(&ProcDir, &[MapEntry])> =
                kids.iter().map(|&k| (dir_of(k), maps_of(k))).collect();
            litter(w, (dir_of(*parent), maps_of(*parent)), &kids, pictured)
                .map(Job::Litter)
                .map_err(Stop::Fatal)
        },
    );
    // Each member's mappings (none for the root, or where the parent could not be read).
    let mut found: Vec<Vec<MappingFigures>> = read.iter().map(|_| Vec::new()).collect();
    let mut own = Vec::new();
    for ((parent, kids), result) in jobs.iter().zip(results) {
        match result {
            Ok(Job::Own(runs)) => own = runs,
            Ok(Job::Litter(Litter::Kids(figures))) => {
                for (&k, f) in kids.iter().zip(figures) {
                    match f {
                        Ok(m) => found[k] = m,
                        Err(e) => {
                            failed[k] = Some(member_error(read[k].pid, read[k].dir.as_ref(), e))
                        }
                    }
                }
            }
            // The parent could not be read any more: it is an error, and its children
            // compare with nobody.
            Ok(Job::Litter(Litter::ParentFailed(e))) if *parent == 0 => return Err(e),
            Ok(Job::Litter(Litter::ParentFailed(e))) => {
                if failed[*parent].is_none() {
                    let p = &read[*parent];
                    failed[*parent] = Some(member_error(p.pid, p.dir.as_ref(), e));
                }
            }
            Err(Stop::Member(e) | Stop::Fatal(e)) => return Err(e),
        }
    }
    let mut processes = Vec::new();
    let mut totals = Inherited::default();
    let mut errors = Vec::new();
    for (i, (r, mappings)) in read.iter().zip(found).enumerate() {
        if let Some(e) = failed[i].take() {
            errors.push(e);
            continue;
        }
        let own = if i == 0 {
            std::mem::take(&mut own)
        } else {
            Vec::new()
        };
        let mut t = Inherited::default();
        for m in &mappings {
            t.add(&m.pages);
        }
        totals.add(&t);
        processes.push(Member {
            pid: r.pid,
            ppid: r.ppid,
            comm: r.dir.as_ref().map_or_else(|| "?".into(), ProcDir::comm),
            depth: r.depth,
            mappings,
            totals: t,
            own,
        });
    }
    Ok(FamilyReport {
        schema: FAMILY_SCHEMA.into(),
        evidence: privilege.evidence,
        privileged,
        weak: !privileged,
        privilege_note: privilege.note,
        kernel: kernel::config::kernel_facts(),
        page_size: PAGE_SIZE,
        root,
        processes,
        totals,
        errors,
    })
}
