//! `solab inspect`: for each ELF object (and vdso) mapped in the given processes, every
//! page's state in each process and the verdict across them, joined into an
//! [`InspectReport`].
//!
//! Evidence comes through [`crate::scan`] (objects planned once, processes read once),
//! pagemap through one reader per process, frames through a windowed kpage read after
//! each process (its new frames only); states and verdicts are [`crate::sharing`]'s. The
//! words are kept against each object's common words (see [`Scan`]), so memory grows with
//! what is private to each process, not with its pages.

use crate::addr::{PAGE_SIZE, Pfn, VirtAddr};
use crate::elf::ElfPlan;
use crate::error::{Error, Result};
use crate::inspect_report::*;
use crate::kernel::pagemap::Pagemap;
use crate::kernel::process::Gone;
use crate::kernel::smaps::{SmapsFigures, read_smaps};
use crate::kernel::{self, config, kpage};
use crate::maps::{MapEntry, MapTarget};
use crate::page_words::{FrameInfo, PagemapEntry};
use crate::placement::{self, MappingKind, Placement};
use crate::scan::pattern::{Candidates, Pattern};
use crate::scan::{
    self, Door, Lookup, ObjKey, Object, ObjectCache, PidError, Process, Scope, Visit,
};
use crate::sharing::{self, ProcessPage};
use std::collections::HashMap;
use std::sync::Arc;

/// What to inspect.
#[derive(Clone, Debug)]
pub struct InspectOptions {
    /// The processes: each is opened once, through the door.
    pub scope: Scope,
    /// Only objects whose path matches (see [`Pattern::matches`]).
    pub object: Option<String>,
    /// Only the processes that map an object `object` matches: the others, and those
    /// whose memory map cannot be read, are left out of the report (not errors).
    pub only_mapping: bool,
}

/// One object in one process, sampled: its placement, its mappings (with their smaps
/// figures) and the pagemap words of its pages with their frames, all that is kept of a
/// process once it has been read. The words are kept against the object's
/// [`Sampled::common`] words: two bits a page, and 16 bytes more only for a word no process
/// before had there (a private copy's frame, a swap entry), so what a process adds is what
/// is its own. Its path and its mappings' shapes are the object's ([`Sampled`]), its
/// mappings' figures are [`Kept::figures`]: 8 bytes a mapping.
struct Sample {
    pid: i32,
    /// In [`Sampled::paths`].
    path: u32,
    deleted: bool,
    placement: Placement,
    /// Each mapping over the object: its shape in [`Sampled::shapes`], its figures in
    /// [`Kept::figures`] (or [`NONE`]).
    windows: Box<[(u32, u32)]>,
    /// Each page's word, four pages a byte from `placement.base`: [`ABSENT`] (the word
    /// is 0), [`COMMON`] (the object's common word there) or [`OWN`] (in `own`).
    classes: Box<[u8]>,
    /// The words that are neither 0 nor the common word, by page index, ascending.
    own: Box<[OwnWord]>,
}

/// A word of a process that is not its object's common word there.
struct OwnWord {
    page: u32,
    /// Its frame in [`Kept::frames`], or [`NO_FRAME`].
    frame: u32,
    word: PagemapEntry,
}

/// A word without a frame read: not present, no PFN (unprivileged), or not read yet.
const NO_FRAME: u32 = u32::MAX;
/// A mapping without smaps figures.
const NONE: u32 = u32::MAX;

/// Values kept once each, by index: a table that grows with the distinct values (a few
/// mapping shapes per object, a few frame counts and flags), not with the processes.
struct Intern<T> {
    values: Vec<T>,
    index: HashMap<T, u32>,
}

impl<T> Default for Intern<T> {
    fn default() -> Self {
        Intern {
            values: Vec::new(),
            index: HashMap::new(),
        }
    }
}

impl<T: std::hash::Hash + Eq + Clone> Intern<T> {
    fn intern(&mut self, v: T) -> u32 {
        if let Some(&i) = self.index.get(&v) {
            return i;
        }
        self.values.push(v.clone());
        let i = (self.values.len() - 1) as u32;
        self.index.insert(v, i);
        i
    }

    fn get(&self, i: u32) -> Option<&T> {
        self.values.get(i as usize)
    }
}

/// What the objects share: the frames' counts and flags, and the mappings' smaps figures
/// (rss, pss, shared, private), each distinct value once.
#[derive(Default)]
struct Kept {
    frames: Intern<(u64, u64)>,
    figures: Intern<[u64; 4]>,
}

impl Kept {
    fn frame(&self, i: u32) -> Option<FrameInfo> {
        self.frames.get(i).map(|&(mapcount, flags)| FrameInfo {
            mapcount,
            flags: crate::page_words::KpageFlags(flags),
        })
    }

    fn intern_frame(&mut self, f: &FrameInfo) -> u32 {
        self.frames.intern((f.mapcount, f.flags.0))
    }
}

const ABSENT: u8 = 0;
const COMMON: u8 = 1;
const OWN: u8 = 2;

/// One object's samples, in the order the processes were read, and the word its pages
/// have in most processes: for each page of the image, the first word other than 0 any
/// process had there (the page-cache frame a shared page is, in every process that maps
/// it). Its memory is the object's size, whatever the number of processes.
#[derive(Default)]
struct Sampled {
    common: Vec<PagemapEntry>,
    /// The frame of each common word, in [`Kept::frames`], or [`NO_FRAME`].
    common_frame: Vec<u32>,
    /// The paths the object is mapped by and the shapes of its mappings, relative to
    /// its base: the same in every process that maps it alike.
    paths: Intern<String>,
    shapes: Intern<Shape>,
    samples: Vec<Sample>,
}

impl Sampled {
    /// Keeps `read` (its words against the common words, which the first word of a page
    /// other than 0 becomes; its path, mappings' shapes and figures interned).
    fn push(&mut self, read: ReadSample, kept: &mut Kept) {
        let ReadSample {
            pid,
            path,
            deleted,
            placement,
            windows,
            words,
        } = read;
        let base = placement.base;
        if self.common.len() < words.len() {
            self.common.resize(words.len(), PagemapEntry::default());
            self.common_frame.resize(words.len(), NO_FRAME);
        }
        let mut own = 0;
        for (i, &w) in words.iter().enumerate() {
            let c = &mut self.common[i];
            if *c == PagemapEntry::default() {
                *c = w;
            } else if w != PagemapEntry::default() && w != *c {
                own += 1;
            }
        }
        let mut classes = vec![0u8; words.len().div_ceil(4)];
        let mut owned = Vec::with_capacity(own);
        for (i, &w) in words.iter().enumerate() {
            let class = if w == PagemapEntry::default() {
                ABSENT
            } else if w == self.common[i] {
                COMMON
            } else {
                owned.push(OwnWord {
                    page: i as u32,
                    frame: NO_FRAME,
                    word: w,
                });
                OWN
            };
            classes[i / 4] |= class << (2 * (i % 4));
        }
        self.samples.push(Sample {
            pid,
            path: self.paths.intern(path),
            deleted,
            windows: windows
                .into_iter()
                .map(|w| {
                    let fig = w.fig.map_or(NONE, |f| {
                        kept.figures.intern([f.rss, f.pss, f.shared, f.private])
                    });
                    (self.shapes.intern(Shape::new(w, base)), fig)
                })
                .collect(),
            placement,
            classes: classes.into_boxed_slice(),
            own: owned.into_boxed_slice(),
        });
    }

    /// The PFNs of the words whose frames are not read yet: the common words and the words
    /// of the last sample.
    fn unreadable(&self) -> impl Iterator<Item = Pfn> + '_ {
        let common = self
            .common
            .iter()
            .zip(&self.common_frame)
            .filter(|(_, f)| **f == NO_FRAME)
            .filter_map(|(e, _)| e.pfn());
        let own = self.samples.last().into_iter().flat_map(|s| {
            s.own
                .iter()
                .filter(|o| o.frame == NO_FRAME)
                .filter_map(|o| o.word.pfn())
        });
        common.chain(own)
    }

    /// Gives the words of [`Sampled::unreadable`] their frames: `frame` of a PFN is its index
    /// in [`Kept::frames`], or [`NO_FRAME`] when it is not known.
    fn set_frames(&mut self, mut frame: impl FnMut(Pfn) -> u32) {
        for (e, f) in self.common.iter().zip(&mut self.common_frame) {
            if *f == NO_FRAME
                && let Some(pfn) = e.pfn()
            {
                *f = frame(pfn);
            }
        }
        if let Some(s) = self.samples.last_mut() {
            for o in s.own.iter_mut() {
                if o.frame == NO_FRAME
                    && let Some(pfn) = o.word.pfn()
                {
                    o.frame = frame(pfn);
                }
            }
        }
    }
}

/// A mapping over an object's range, clipped to it, as read: what its [`MappingReport`]
/// says.
struct SampledWindow {
    start: VirtAddr,
    end: VirtAddr,
    kind: MappingKind,
    /// The whole mapping's.
    map_start: VirtAddr,
    perms: crate::maps::Perms,
    offset: u64,
    /// The mapped path when it is not the object's own file.
    target: Option<String>,
    fig: Option<SmapsFigures>,
}

impl SampledWindow {
    fn new(w: &placement::Window<'_>) -> SampledWindow {
        SampledWindow {
            start: w.start,
            end: w.end,
            kind: w.kind,
            map_start: w.entry.start,
            perms: w.entry.perms,
            offset: w.entry.offset,
            target: (w.kind != MappingKind::File)
                .then(|| display_path(w.entry))
                .filter(|p| !p.is_empty()),
            fig: None,
        }
    }
}

/// A [`SampledWindow`] without its figures, its addresses from the object's base: what
/// every process that maps the object alike (ASLR only moves it) has in common, kept once
/// per object.
#[derive(Clone, PartialEq, Eq)]
struct Shape {
    start: u64,
    end: u64,
    map_start: u64,
    kind: MappingKind,
    perms: crate::maps::Perms,
    offset: u64,
    target: Option<String>,
}

impl std::hash::Hash for Shape {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let p = self.perms;
        let perms = [p.read, p.write, p.exec, p.shared];
        (self.start, self.end, self.map_start, self.kind as u8, perms).hash(h);
        (self.offset, &self.target).hash(h);
    }
}

impl Shape {
    fn new(w: SampledWindow, base: VirtAddr) -> Shape {
        Shape {
            start: w.start.0.wrapping_sub(base.0),
            end: w.end.0.wrapping_sub(base.0),
            map_start: w.map_start.0.wrapping_sub(base.0),
            kind: w.kind,
            perms: w.perms,
            offset: w.offset,
            target: w.target,
        }
    }

    fn start(&self, base: VirtAddr) -> VirtAddr {
        VirtAddr(base.0.wrapping_add(self.start))
    }

    fn end(&self, base: VirtAddr) -> VirtAddr {
        VirtAddr(base.0.wrapping_add(self.end))
    }

    fn report(&self, base: VirtAddr, fig: Option<&[u64; 4]>) -> MappingReport {
        MappingReport {
            start: self.start(base),
            end: self.end(base),
            perms: self.perms.to_string(),
            offset: self.offset,
            kind: self.kind,
            target: self.target.clone(),
            rss: fig.map(|f| f[0]),
            pss: fig.map(|f| f[1]),
            shared: fig.map(|f| f[2]),
            private: fig.map(|f| f[3]),
        }
    }
}

impl Sample {
    fn kind_at(&self, addr: VirtAddr, of: &Sampled) -> Option<MappingKind> {
        let base = self.placement.base;
        self.windows
            .iter()
            .filter_map(|&(w, _)| of.shapes.get(w))
            .find(|w| w.start(base) <= addr && addr < w.end(base))
            .map(|w| w.kind)
    }
    /// The word at `addr` and its frame in [`Kept::frames`] (or [`NO_FRAME`]).
    fn entry_at(&self, addr: VirtAddr, of: &Sampled) -> (PagemapEntry, u32) {
        let none = (PagemapEntry::default(), NO_FRAME);
        let idx = addr.0.wrapping_sub(self.placement.base.0) / PAGE_SIZE;
        let Some(byte) = usize::try_from(idx / 4)
            .ok()
            .and_then(|b| self.classes.get(b))
        else {
            return none;
        };
        match (byte >> (2 * (idx % 4))) & 3 {
            COMMON => (of.common[idx as usize], of.common_frame[idx as usize]),
            OWN => self
                .own
                .binary_search_by_key(&(idx as u32), |o| o.page)
                .map_or(none, |k| (self.own[k].word, self.own[k].frame)),
            _ => none,
        }
    }
}

fn display_path(m: &MapEntry) -> String {
    match &m.target {
        MapTarget::File { path, .. } => path.to_string_lossy().into_owned(),
        MapTarget::Pseudo(p) => p.clone(),
        MapTarget::Anonymous => String::new(),
    }
}

/// An inspection whose reading is done: the report without its objects (`head`), and the
/// objects, built one at a time from what was read ([`ObjectStream`]).
///
/// Everything that can fail is read before this exists: each process's maps, pagemap
/// words, smaps figures, uid and parent, one process at a time (its maps are dropped once
/// it is read), then kpagecount and kpageflags of the frames its words name that no
/// process before named. So a report can be written as it is built: once its first byte
/// is out, nothing but the writing can fail, and a process that is gone by then was read
/// before it went.
///
/// What is kept of a process until then is what is its own: its objects' placements, 8
/// bytes a mapping, two bits a page of its objects, and 16 bytes for each word no process
/// before had at that page (mostly its private copies). A page every process has the same
/// word for (a shared frame) is kept once per object ([`Sampled::common`]), as are the
/// shapes of the object's mappings ([`Sampled::shapes`]); a frame's counts and flags and a
/// mapping's smaps figures are kept once per distinct value ([`Kept`]). So the peak grows
/// with the processes by their private pages and little else, not by 8 bytes a page and
/// process. While it is written, an object's processes and pages are built one at a
/// time.
pub struct Scan {
    /// The report without its objects (`objects` is empty).
    pub head: InspectReport,
    pub objects: ObjectStream,
    /// The processes the scan looked at, in order: every pid given, each once, or with
    /// [`InspectOptions::only_mapping`] those that map the object (read or not).
    pub chosen: Vec<i32>,
    /// With a pattern, the names of the mapped objects it did not match.
    pub unmatched: Candidates,
    /// With [`InspectOptions::only_mapping`], the processes left out because they could
    /// not be read (whether they map the object is not known).
    pub unreadable: Vec<PidError>,
}

/// The objects of a [`Scan`], in order of first appearance. Serialized, each object's
/// report is built, written and dropped before the next, and its pages are built as they
/// are written: memory holds what [`Scan`] kept and one page report at a time, not the
/// report. Iterated, it gives each object's report whole.
pub struct ObjectStream {
    pending: std::cell::RefCell<std::collections::VecDeque<(Arc<Object>, Sampled)>>,
    kept: Kept,
    weak: bool,
}

/// Reads the frames of one process's words, as soon as the process is read: only its PFNs
/// (and the objects' new common ones) are held while they are read.
struct FrameReader {
    tables: kpage::FrameTables,
    pfns: Vec<Pfn>,
    info: Vec<FrameInfo>,
}

impl FrameReader {
    /// Reads the frames the words of `slots` (those a process just added to) still lack.
    fn read(&mut self, kept: &mut Kept, slots: &mut [&mut Sampled]) -> Result<()> {
        self.pfns.clear();
        for s in slots.iter() {
            self.pfns.extend(s.unreadable());
        }
        self.pfns.sort_unstable();
        self.pfns.dedup();
        self.tables.read_into(&self.pfns, &mut self.info)?;
        for s in slots.iter_mut() {
            s.set_frames(|pfn| {
                kpage::FrameTables::find(&self.pfns, &self.info, pfn)
                    .map_or(NO_FRAME, |f| kept.intern_frame(f))
            });
        }
        Ok(())
    }
}

impl ObjectStream {
    pub fn len(&self) -> usize {
        self.pending.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The objects' paths, in order, each once.
    pub fn paths(&self) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        self.pending
            .borrow()
            .iter()
            .filter(|(o, _)| seen.insert(o.path.as_str()))
            .map(|(o, _)| o.path.clone())
            .collect()
    }
}

impl Iterator for ObjectStream {
    type Item = ObjectReport;
    fn next(&mut self) -> Option<ObjectReport> {
        let (obj, sampled) = self.pending.get_mut().pop_front()?;
        let pages: Vec<PageReport> = PageReports::new(&obj.plan, &sampled, &self.kept).collect();
        let summary = summarize(&pages);
        let procs = object_procs(&sampled, &self.kept).collect();
        Some(object_report(&obj, self.weak, summary, procs, pages))
    }
}

impl serde::Serialize for ObjectStream {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(None)?;
        loop {
            let Some((obj, sampled)) = self.pending.borrow_mut().pop_front() else {
                break;
            };
            // The summary comes first in the document: one pass counts, a second writes.
            let mut summary = Summarizer::default();
            for p in PageReports::new(&obj.plan, &sampled, &self.kept) {
                summary.add(&p);
            }
            let pages = SeqOf::new(PageReports::new(&obj.plan, &sampled, &self.kept));
            let procs = SeqOf::new(object_procs(&sampled, &self.kept));
            seq.serialize_element(&object_report(
                &obj,
                self.weak,
                summary.finish(),
                procs,
                pages,
            ))?;
        }
        seq.end()
    }
}

impl Scan {
    /// The whole report, every object built.
    pub fn into_report(self) -> InspectReport {
        let objects: Vec<ObjectReport> = self.objects.collect();
        self.head.with_objects(objects)
    }
}

/// Runs the scan and builds the whole report. See [`scan`].
pub fn inspect(opts: &InspectOptions) -> Result<InspectReport> {
    Ok(scan(opts)?.into_report())
}

/// Reads what the report needs. Per-process failures (a pid that vanished, a kernel
/// thread, another user's process) are reported in [`InspectReport::errors`] while the
/// other processes are still reported; only system-wide failures and usage errors are an
/// `Err`.
pub fn scan(opts: &InspectOptions) -> Result<Scan> {
    kernel::check_page_size()?;
    let pattern = opts.object.as_deref().map(Pattern::new).transpose()?;
    let privilege = kernel::detect_privilege();
    let mut errors: Vec<PidError> = Vec::new();
    let mut processes: Vec<ProcessInfo> = Vec::new();
    let mut cache = ObjectCache::new(crate::elf::Detail::Full);
    // Per object, in order of first appearance: its cache index and its samples.
    let mut slots: Vec<(usize, Sampled)> = Vec::new();
    // Objects solab could not place in a process, by slot: listed after the files the
    // cache skipped, object by object.
    let mut unplaced: Vec<(usize, crate::scan::Skipped)> = Vec::new();
    let mut chosen = Vec::new();
    let mut unreadable = Vec::new();
    let mut unmatched = Candidates::default();
    // Frames are read process by process, after each one's words.
    let mut kept = Kept::default();
    let mut reader = match privilege.frames() {
        true => Some(FrameReader {
            tables: kpage::FrameTables::open()?,
            pfns: Vec::new(),
            info: Vec::new(),
        }),
        false => None,
    };
    let door = Door {
        info: false,
        uid: opts.scope.uid(),
    };
    let mut of_user = 0;
    for (position, pid) in opts.scope.pids()?.into_iter().enumerate() {
        let mut is_chosen = false;
        let visit = scan::visit(pid, position, door, |opened| {
            let process = Process::read(opened.dir);
            if let (true, Some(pat)) = (opts.only_mapping, &pattern)
                && !process.as_ref().is_ok_and(|p| p.maps_object(pat))
            {
                if let Ok(p) = &process {
                    note_mapped(p, &mut unmatched);
                }
                return process.map(|_| None);
            }
            is_chosen = true;
            read_process(
                &process?,
                (pattern.as_ref(), &mut unmatched),
                &mut cache,
                &mut slots,
                &mut unplaced,
            )
            .map(Some)
        });
        if !matches!(visit, Visit::Other) {
            of_user += 1;
        }
        if is_chosen || !opts.only_mapping {
            chosen.push(pid);
        }
        match visit {
            Visit::Read(Some((info, samples))) => {
                processes.push(info);
                keep_samples(samples, &mut slots, &mut kept, reader.as_mut())?;
            }
            Visit::Read(None) | Visit::Other => {}
            // Left out (not mapping the object, as far as can be told), but named when
            // solab could not read it: the reason an object may seem mapped by no process.
            Visit::Gone(gone) if !is_chosen && opts.only_mapping => {
                if let Gone::Unreadable(_) = gone {
                    unreadable.push(PidError::gone(pid, &gone));
                }
            }
            Visit::Gone(gone) => errors.push(PidError::gone(pid, &gone)),
        }
    }
    if let Some(e) = opts.scope.none_of_user(of_user) {
        return Err(e);
    }
    slots.retain(|(_, sampled)| !sampled.samples.is_empty());
    for (_, sampled) in &mut slots {
        sampled.samples.shrink_to_fit();
    }

    unplaced.sort_by_key(|(slot, _)| *slot);
    let mut skipped = cache.skipped;
    skipped.extend(unplaced.into_iter().map(|(_, s)| s));
    let pending = slots
        .into_iter()
        .map(|(i, samples)| (cache.objects[i].clone(), samples))
        .collect();
    Ok(Scan {
        head: InspectReport {
            schema: INSPECT_SCHEMA.into(),
            evidence: privilege.evidence,
            privileged: privilege.frames(),
            privilege_note: privilege.note.clone(),
            kernel: config::kernel_facts(),
            pids: processes.iter().map(|p| p.pid).collect(),
            processes,
            errors,
            skipped,
            objects: Vec::new(),
        },
        objects: ObjectStream {
            pending: std::cell::RefCell::new(pending),
            kept,
            weak: !privilege.frames(),
        },
        chosen,
        unmatched,
        unreadable,
    })
}

/// Notes every file `p` maps among the names a pattern did not match: one pass over the
/// mappings, each name noted in a set, linear in the map.
fn note_mapped(p: &Process<'_>, unmatched: &mut Candidates) {
    for m in &p.maps {
        if let MapTarget::File { path, .. } = &m.target {
            unmatched.note(&path.to_string_lossy());
        }
    }
}

/// Keeps what a process just read added: each of its `samples` in its object's slot,
/// then, as root (`reader`), the frames of its words not read yet. An error is not the
/// process's: kpagecount and kpageflags are the machine's.
fn keep_samples(
    samples: Vec<ReadObject>,
    slots: &mut [(usize, Sampled)],
    kept: &mut Kept,
    reader: Option<&mut FrameReader>,
) -> Result<()> {
    // The slots this process added to, marked by index: a process of many objects costs
    // each slot a look, not a scan of what it added (quadratic: 650,000 distinct objects
    // took `inspect` 73 s of CPU against 8.9 s for 162,500).
    let mut added = vec![false; slots.len()];
    for (slot, read) in samples {
        slots[slot].1.push(read, kept);
        added[slot] = true;
    }
    if let Some(reader) = reader {
        let mut of_process: Vec<&mut Sampled> = slots
            .iter_mut()
            .zip(&added)
            .filter(|(_, added)| **added)
            .map(|((_, s), _)| s)
            .collect();
        reader.read(kept, &mut of_process)?;
    }
    Ok(())
}

/// One object of a process just read, whole, until the process is read and it is kept
/// ([`Sampled::push`]).
struct ReadSample {
    pid: i32,
    path: String,
    deleted: bool,
    placement: Placement,
    windows: Vec<SampledWindow>,
    /// One per page of the image, from `placement.base`.
    words: Vec<PagemapEntry>,
}

/// One object of a process just read, and its slot.
type ReadObject = (usize, ReadSample);

/// Reads one process: the objects it maps (planned by `cache`, given a slot in `slots`
/// the first time), their pagemap words, smaps figures, then its uid and parent. Any
/// failure is the process's: nothing of it is kept.
fn read_process(
    p: &Process,
    (pattern, unmatched): (Option<&Pattern>, &mut Candidates),
    cache: &mut ObjectCache,
    slots: &mut Vec<(usize, Sampled)>,
    unplaced: &mut Vec<(usize, crate::scan::Skipped)>,
) -> Result<(ProcessInfo, Vec<ReadObject>)> {
    // (slot, the mapping that starts the object here); the slots by object, and those
    // this process starts, looked up by hash: a process of many objects costs each one
    // a lookup, not a scan.
    let mut starts: Vec<(usize, &MapEntry)> = Vec::new();
    let mut slot_of: HashMap<usize, usize> = slots
        .iter()
        .enumerate()
        .map(|(k, (j, _))| (*j, k))
        .collect();
    let mut started: std::collections::HashSet<usize> = std::collections::HashSet::new();
    for m in p.object_mappings() {
        let path = display_path(m);
        if pattern.is_some_and(|pat| !pat.matches(&path)) {
            unmatched.note(&path);
            continue;
        }
        if let Lookup::Elf(i) = cache.lookup(p.dir, m)? {
            let slot = *slot_of.entry(i).or_insert_with(|| {
                slots.push((i, Sampled::default()));
                slots.len() - 1
            });
            if started.insert(slot) {
                starts.push((slot, m));
            }
        }
    }
    let mut pagemap: Option<Pagemap> = None;
    // What this process's objects are, until it is read whole: its own words, 8 bytes a
    // page of its images.
    let mut samples: Vec<ReadObject> = Vec::new();
    let index = placement::FileMappings::new(&p.maps);
    for (slot, first) in starts {
        let obj = cache.get(slots[slot].0).clone();
        let (placement, id) = match obj.key {
            ObjKey::File(id) => match placement::place_in(&obj.plan, &p.maps, &index, id) {
                Ok(pl) => (pl, Some(id)),
                Err(reason) => {
                    unplaced.push((
                        slot,
                        crate::scan::Skipped {
                            pid: p.pid,
                            path: display_path(first),
                            kind: crate::error::ErrorKind::BadElf,
                            reason,
                        },
                    ));
                    continue;
                }
            },
            ObjKey::Vdso(_) => (placement::place_at(&obj.plan, first.start), None),
        };
        let pm = match &mut pagemap {
            Some(pm) => pm,
            None => pagemap.insert(Pagemap::open(p.dir)?),
        };
        samples.push((slot, sample(p, first, placement, id, pm)?));
    }
    if let Some(said) = smaps_figures(p, &mut samples)? {
        unplaced.push((usize::MAX, said));
    }
    // A process that exits now was read whole: it is reported. One that is gone before
    // its uid or parent is read is an error like any other, never a process without uid.
    let uid = p.dir.status(&mut Vec::new())?.uid;
    let ppid = p.dir.stat()?.ppid;
    let info = ProcessInfo {
        pid: p.pid,
        comm: p.dir.comm(),
        uid: Some(uid),
        ppid: Some(ppid),
    };
    Ok((info, samples))
}

/// Gives each window of `samples` its mapping's smaps figures; the skipped entry that
/// says why some stay null: smaps not read (refused, failed, past its limit), or read
/// without some of the mappings the map showed (unmapped or moved in between).
fn smaps_figures(p: &Process, samples: &mut [ReadObject]) -> Result<Option<crate::scan::Skipped>> {
    let figures = match read_smaps(p.dir) {
        Ok(figures) => figures,
        Err(e @ Error::NoSuchProcess { .. }) => return Err(e),
        // The figures stay null, and the report says why, naming the process and the
        // limit or failure (a map that moves while smaps is read passes its limit).
        Err(e) if !samples.is_empty() => return Ok(Some(smaps_unread(p.pid, &e))),
        Err(_) => return Ok(None),
    };
    let mut missing = 0usize;
    for (_, s) in samples.iter_mut() {
        for w in &mut s.windows {
            w.fig = figures.get(&w.map_start.0).copied();
            missing += usize::from(w.fig.is_none());
        }
    }
    Ok((missing > 0).then(|| crate::scan::Skipped {
        pid: p.pid,
        path: format!("/proc/{}/smaps", p.pid),
        kind: crate::error::ErrorKind::Io,
        reason: format!(
            "did not show {missing} of the mappings its map showed (unmapped or moved since); \
             their rss, pss, shared and private figures are null"
        ),
    }))
}

/// The skipped entry of a process whose smaps could not be read: its mappings' `rss`,
/// `pss`, `shared` and `private` are null.
fn smaps_unread(pid: i32, e: &Error) -> crate::scan::Skipped {
    // The entry names the pid and the path; the reason is what is left.
    let path = format!("/proc/{pid}/smaps");
    let why = match e {
        Error::Io { source, .. } => source.to_string(),
        other => {
            let text = other.to_string();
            match text.strip_prefix(&format!("{path}: ")) {
                Some(rest) => rest.to_string(),
                None => text,
            }
        }
    };
    crate::scan::Skipped {
        pid,
        path: format!("/proc/{pid}/smaps"),
        kind: e.kind(),
        reason: format!(
            "{}; the rss, pss, shared and private figures of its mappings are null",
            why.replace("; the process is not read", "")
        ),
    }
}

fn sample(
    p: &Process,
    first: &MapEntry,
    placement: Placement,
    id: Option<crate::maps::FileId>,
    pm: &mut Pagemap,
) -> Result<ReadSample> {
    let windows = placement::windows(&p.maps, &placement, id);
    let pages = (placement.end.0 - placement.base.0) / PAGE_SIZE;
    let mut entries = vec![PagemapEntry::default(); pages as usize];
    let mut got = Vec::new();
    for w in &windows {
        pm.read_into(w.start, w.pages(), &mut got)?;
        let from = ((w.start.0 - placement.base.0) / PAGE_SIZE) as usize;
        entries[from..from + got.len()].copy_from_slice(&got);
    }
    Ok(ReadSample {
        pid: p.pid,
        path: display_path(first),
        deleted: matches!(first.target, MapTarget::File { deleted: true, .. }),
        windows: windows.iter().map(SampledWindow::new).collect(),
        placement,
        words: entries,
    })
}

/// The pure half of a scan, for fuzzing: the page reports of the object `plan` (file
/// `id`, or the vdso) in processes given as (pid, maps, placement, pagemap words of the
/// image from `placement.base`), with `frames` as kpagecount/kpageflags would give them.
/// The scan reads those from the kernel, then does exactly this.
pub fn pages_from_words(
    plan: &ElfPlan,
    id: Option<crate::maps::FileId>,
    procs: &[(i32, &[MapEntry], Placement, Vec<PagemapEntry>)],
    frames: &HashMap<Pfn, FrameInfo>,
) -> Vec<PageReport> {
    let mut sampled = Sampled::default();
    let mut kept = Kept::default();
    for (pid, maps, placement, entries) in procs {
        let read = ReadSample {
            pid: *pid,
            path: String::new(),
            deleted: false,
            windows: placement::windows(maps, placement, id)
                .iter()
                .map(SampledWindow::new)
                .collect(),
            placement: placement.clone(),
            words: entries.clone(),
        };
        sampled.push(read, &mut kept);
        sampled.set_frames(|pfn| frames.get(&pfn).map_or(NO_FRAME, |f| kept.intern_frame(f)));
    }
    PageReports::new(plan, &sampled, &kept).collect()
}

/// The copies of the page at ELF address `vaddr` in each sampled process.
fn page_in_processes(vaddr: u64, sampled: &Sampled, kept: &Kept) -> Vec<PageInProcess> {
    sampled
        .samples
        .iter()
        .map(|s| {
            let addr = s.placement.runtime(vaddr);
            let (entry, frame) = s.entry_at(addr, sampled);
            let frame = kept.frame(frame);
            let state = sharing::page_state(
                s.kind_at(addr, sampled),
                entry,
                frame.map(|f| (f.flags, f.mapcount)),
            );
            PageInProcess {
                pid: s.pid,
                vaddr: addr,
                state,
                present: state.is_present(),
                pfn: entry.pfn(),
                mapcount: frame.map(|f| f.mapcount),
                exclusive: entry.exclusive(),
                file: entry.file_or_shared_anon(),
                flags: frame
                    .map(|f| f.flags.names().iter().map(|n| n.to_string()).collect())
                    .unwrap_or_default(),
            }
        })
        .collect()
}

/// The page reports of one object, built one at a time: one per page, except that
/// consecutive pages of one plan run that are present in no process and alike in every
/// process are one entry, so a huge, mostly untouched image costs memory for what is
/// there, not for its size. Holds one report back, the one the next page may extend.
struct PageReports<'a> {
    plan: &'a ElfPlan,
    sampled: &'a Sampled,
    kept: &'a Kept,
    /// The next page: run, page in the run.
    run: usize,
    page: u64,
    /// The section names of the current run.
    sections: Vec<String>,
    held: Option<PageReport>,
    /// `held` is absent from every process and in the current run: the next page may
    /// extend it.
    extendable: bool,
}

impl<'a> PageReports<'a> {
    fn new(plan: &'a ElfPlan, sampled: &'a Sampled, kept: &'a Kept) -> PageReports<'a> {
        PageReports {
            plan,
            sampled,
            kept,
            run: 0,
            page: 0,
            sections: Vec::new(),
            held: None,
            extendable: false,
        }
    }
}

impl Iterator for PageReports<'_> {
    type Item = PageReport;
    fn next(&mut self) -> Option<PageReport> {
        loop {
            let Some(run) = self.plan.runs.get(self.run) else {
                return self.held.take();
            };
            if self.page >= run.pages {
                self.run += 1;
                self.page = 0;
                continue;
            }
            if self.page == 0 {
                self.sections = self.plan.section_names(self.plan.section_set(run));
                self.extendable = false;
            }
            let i = self.page;
            self.page += 1;
            let page_vaddr = run.vaddr + i * PAGE_SIZE;
            let procs = page_in_processes(page_vaddr, self.sampled, self.kept);
            let absent = !procs.iter().any(|p| p.present);
            if absent
                && self.extendable
                && let Some(h) = &mut self.held
                && h.procs.iter().zip(&procs).all(|(a, b)| a.state == b.state)
            {
                h.pages += 1;
                continue;
            }
            let copies: Vec<ProcessPage> = procs
                .iter()
                .map(|p| ProcessPage {
                    state: p.state,
                    pfn: p.pfn,
                    exclusive: p.exclusive,
                })
                .collect();
            let page = self.plan.page_at_vaddr(page_vaddr);
            let report = PageReport {
                offset: run.offset + i * PAGE_SIZE,
                pages: 1,
                segment: run.segment,
                sections: self.sections.clone(),
                loader: run.loader,
                relocations: page.map_or(0, |p| p.relocations),
                verdict: sharing::verdict(&copies),
                procs,
            };
            self.extendable = absent;
            if let Some(done) = self.held.replace(report) {
                return Some(done);
            }
        }
    }
}

/// The object's report in each process, built as it is pulled.
fn object_procs<'a>(
    sampled: &'a Sampled,
    kept: &'a Kept,
) -> impl Iterator<Item = ObjectInProcess> + 'a {
    sampled.samples.iter().map(|s| ObjectInProcess {
        pid: s.pid,
        path: sampled.paths.get(s.path).cloned().unwrap_or_default(),
        deleted: s.deleted,
        load_base: s.placement.base,
        load_bias: s.placement.bias,
        mappings: s
            .windows
            .iter()
            .filter_map(|&(shape, fig)| {
                let shape = sampled.shapes.get(shape)?;
                Some(shape.report(s.placement.base, kept.figures.get(fig)))
            })
            .collect(),
    })
}

fn object_report<P, Q>(
    obj: &Object,
    weak: bool,
    summary: Vec<SegmentSummary>,
    procs: Q,
    pages: P,
) -> ObjectReport<P, Q> {
    let plan = &obj.plan;
    let (kind, dev, inode) = match obj.key {
        ObjKey::File(id) => (
            ObjectKind::Elf,
            Some(format!("{:02x}:{:02x}", id.dev.0, id.dev.1)),
            Some(id.inode),
        ),
        ObjKey::Vdso(_) => (ObjectKind::Vdso, None, None),
    };
    ObjectReport {
        path: obj.path.clone(),
        kind,
        dev,
        inode,
        build_id: plan.build_id.clone(),
        soname: plan.soname.clone(),
        textrel: plan.textrel,
        bind_now: plan.bind_now,
        has_shared_section: plan.has_shared_section,
        weak,
        summary,
        procs,
        pages,
    }
}

/// "no process of -u's user maps an object the pattern matches": names the pattern, the
/// user, and some of the names its processes do map.
pub fn none_maps(pattern: &str, user: &str, mapped: &Candidates, unreadable: &[PidError]) -> Error {
    /// How many of the processes that could not be read the message names, each with why.
    const NAMED: usize = 8;
    let base =
        format!("--object {pattern:?} matches no object mapped by a process of --user {user}");
    if unreadable.is_empty() {
        return Error::Object(format!("{base}{}", mapped.offer(pattern)));
    }
    let mut pids: Vec<String> = unreadable
        .iter()
        .take(20)
        .map(|e| e.pid.to_string())
        .collect();
    if unreadable.len() > pids.len() {
        pids.push("…".into());
    }
    let mut text = format!(
        "{base} that could be read; {} of --user {user} could not be read (pids {}), and may \
         map it (run as their user or as root):",
        match unreadable.len() {
            1 => "1 process".to_string(),
            n => format!("{n} processes"),
        },
        pids.join(", ")
    );
    for e in unreadable.iter().take(NAMED) {
        text.push_str(&format!("\n  {}", e.message));
    }
    if unreadable.len() > NAMED {
        text.push_str(&format!("\n  and {} more", unreadable.len() - NAMED));
    }
    text.push_str(&mapped.offer(pattern));
    Error::Object(text)
}

/// "no object matches": names the pattern and what the processes do map.
pub fn no_match<O>(pattern: &str, report: &InspectReport<O>, mapped: &Candidates) -> Error {
    let mut why = String::new();
    for s in &report.skipped {
        why.push_str(&format!(
            "\n  skipped: pid {} {}: {}",
            s.pid, s.path, s.reason
        ));
    }
    Error::Object(format!(
        "--object {pattern:?} matches no ELF object mapped in pids {:?}{why}{}",
        report.pids,
        mapped.offer(pattern)
    ))
}

/// Whether a page in a process is written, by [`sharing::written`]'s rule.
pub fn written(page: &PageReport, p: &PageInProcess) -> Option<bool> {
    sharing::written(p.state, page.segment == crate::elf::SegmentKind::Bss)
}
