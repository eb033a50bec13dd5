//! `solab inspect`: for each ELF object (and vdso) mapped in the given processes, every
//! page's state in each process and the verdict across them, joined into an
//! [`InspectReport`].
//!
//! Evidence comes through [`crate::scan`] (objects planned once, processes read once),
//! pagemap through one reader per process, frames through a windowed kpage read after
//! each process (its new frames only); states and verdicts are [`crate::sharing`]'s. The
//! words are kept against each object's common words (see [`Scan`]), so memory grows with
//! what is private to each process, not with its pages.

use super::{check_pattern, matches_pattern};
use crate::addr::{PAGE_SIZE, Pfn, VirtAddr};
use crate::attribute::{self, MappingKind, Placement};
use crate::elf::ElfPlan;
use crate::error::{Error, Result};
use crate::kernel::pagemap::Pagemap;
use crate::kernel::smaps::{SmapsFigures, read_smaps};
use crate::kernel::{self, config, kpage, process};
use crate::maps::{MapEntry, MapTarget};
use crate::output::SeqOf;
use crate::pagemap::{FrameInfo, PagemapEntry};
use crate::report::*;
use crate::scan::{Lookup, ObjKey, Object, ObjectCache, PidError, Process};
use crate::sharing::{self, Copy};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// What to inspect.
#[derive(Clone, Debug, Default)]
pub struct InspectOptions {
    pub pids: Vec<i32>,
    /// Only objects whose path matches (see [`super::matches_pattern`]).
    pub object: Option<String>,
}

/// One object in one process, sampled: its placement, its mappings (with their smaps
/// figures) and the pagemap words of its pages with their frames, all that is kept of a
/// process once it has been read. The words are kept against the object's
/// [`Sampled::common`] words: two bits a page, and 16 bytes more only for a word no process
/// before had there (a private copy's frame, a swap entry), so what a process adds is what
/// is its own.
struct Sample {
    pid: i32,
    path: String,
    deleted: bool,
    placement: Placement,
    windows: Vec<SampledWindow>,
    /// Each page's word, four pages a byte from `placement.base`: [`ABSENT`] (the word
    /// is 0), [`COMMON`] (the object's common word there) or [`OWN`] (in `own`).
    classes: Vec<u8>,
    /// The words that are neither 0 nor the common word, by page index, ascending.
    own: Vec<Own>,
}

/// A word of a process that is not its object's common word there.
struct Own {
    page: u32,
    /// Its frame in [`Frames`], or [`NO_FRAME`].
    frame: u32,
    word: PagemapEntry,
}

/// A word without a frame read: not present, no PFN (unprivileged), or not read yet.
const NO_FRAME: u32 = u32::MAX;

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
    /// The frame of each common word, in [`Frames`], or [`NO_FRAME`].
    common_frame: Vec<u32>,
    samples: Vec<Sample>,
}

impl Sampled {
    /// Keeps `s`, whose words are `words` (one per page of its image), against the common
    /// words (which the first word of a page other than 0 becomes).
    fn push(&mut self, mut s: Sample, words: &[PagemapEntry]) {
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
        s.classes = vec![0; words.len().div_ceil(4)];
        s.own = Vec::with_capacity(own);
        for (i, &w) in words.iter().enumerate() {
            let class = if w == PagemapEntry::default() {
                ABSENT
            } else if w == self.common[i] {
                COMMON
            } else {
                s.own.push(Own {
                    page: i as u32,
                    frame: NO_FRAME,
                    word: w,
                });
                OWN
            };
            s.classes[i / 4] |= class << (2 * (i % 4));
        }
        self.samples.push(s);
    }

    /// The PFNs of the words whose frames are not read yet: the common words and the words
    /// of the last sample.
    fn unread(&self) -> impl Iterator<Item = Pfn> + '_ {
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

    /// Gives the words of [`Sampled::unread`] their frames: `frame` of a PFN is its index
    /// in [`Frames`], or [`NO_FRAME`] when it is not known.
    fn set_frames(&mut self, mut frame: impl FnMut(Pfn) -> u32) {
        for (e, f) in self.common.iter().zip(&mut self.common_frame) {
            if *f == NO_FRAME
                && let Some(pfn) = e.pfn()
            {
                *f = frame(pfn);
            }
        }
        if let Some(s) = self.samples.last_mut() {
            for o in &mut s.own {
                if o.frame == NO_FRAME
                    && let Some(pfn) = o.word.pfn()
                {
                    o.frame = frame(pfn);
                }
            }
        }
    }
}

/// A mapping over an object's range, clipped to it: what its [`MappingReport`] says.
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
    fn new(w: &attribute::Window<'_>) -> SampledWindow {
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

    fn report(&self) -> MappingReport {
        MappingReport {
            start: self.start,
            end: self.end,
            perms: self.perms.to_string(),
            offset: self.offset,
            kind: self.kind,
            target: self.target.clone(),
            rss: self.fig.map(|f| f.rss),
            pss: self.fig.map(|f| f.pss),
            shared: self.fig.map(|f| f.shared),
            private: self.fig.map(|f| f.private),
        }
    }
}

impl Sample {
    fn kind_at(&self, addr: VirtAddr) -> Option<MappingKind> {
        self.windows
            .iter()
            .find(|w| w.start <= addr && addr < w.end)
            .map(|w| w.kind)
    }
    /// The word at `addr` and its frame in [`Frames`] (or [`NO_FRAME`]).
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
/// What is kept of a process until then is what is its own: its objects' placements and
/// mappings (with smaps figures), two bits a page of its objects, and 16 bytes for each
/// word no process before had at that page (mostly its private copies). A page every
/// process has the same word for (a shared frame) is kept once per object
/// ([`Sampled::common`]), and a frame's counts and flags once per distinct pair
/// ([`Frames`]): the peak grows with the processes by their mappings and private pages, not
/// by 8 bytes a page and process.
pub struct Scan {
    /// The report without its objects (`objects` is empty).
    pub head: InspectReport,
    pub objects: ObjectStream,
}

/// The objects of a [`Scan`], in order of first appearance. Serialized, each object's
/// report is built, written and dropped before the next, and its pages are built as they
/// are written: memory holds what [`Scan`] kept and one page report at a time, not the
/// report. Iterated, it gives each object's report whole.
pub struct ObjectStream {
    pending: std::cell::RefCell<std::collections::VecDeque<(Arc<Object>, Sampled)>>,
    frames: Frames,
    weak: bool,
}

/// What kpagecount and kpageflags said of the frames seen, each (mapcount, flags) once: a
/// word keeps its frame's index here (4 bytes), not its PFN's entry in a table of every
/// frame. Private copies are alike (mapcount 1, the same flags), so this stays small
/// however many processes are read.
#[derive(Default)]
struct Frames {
    info: Vec<FrameInfo>,
    index: HashMap<(u64, u64), u32>,
}

impl Frames {
    fn get(&self, frame: u32) -> Option<&FrameInfo> {
        self.info.get(frame as usize)
    }

    fn intern(&mut self, f: FrameInfo) -> u32 {
        *self
            .index
            .entry((f.mapcount, f.flags.0))
            .or_insert_with(|| {
                self.info.push(f);
                (self.info.len() - 1) as u32
            })
    }
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
    fn read(&mut self, frames: &mut Frames, slots: &mut [&mut Sampled]) -> Result<()> {
        self.pfns.clear();
        for s in slots.iter() {
            self.pfns.extend(s.unread());
        }
        self.pfns.sort_unstable();
        self.pfns.dedup();
        self.tables.read_into(&self.pfns, &mut self.info)?;
        for s in slots.iter_mut() {
            s.set_frames(|pfn| {
                kpage::FrameTables::find(&self.pfns, &self.info, pfn)
                    .map_or(NO_FRAME, |f| frames.intern(*f))
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
        let mut out: Vec<String> = Vec::new();
        for (o, _) in self.pending.borrow().iter() {
            if !out.contains(&o.path) {
                out.push(o.path.clone());
            }
        }
        out
    }
}

impl Iterator for ObjectStream {
    type Item = ObjectReport;
    fn next(&mut self) -> Option<ObjectReport> {
        let (obj, sampled) = self.pending.get_mut().pop_front()?;
        let pages: Vec<PageReport> = PageReports::new(&obj.plan, &sampled, &self.frames).collect();
        let summary = summarize(&pages);
        Some(object_report(
            &obj,
            &sampled.samples,
            self.weak,
            summary,
            pages,
        ))
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
            for p in PageReports::new(&obj.plan, &sampled, &self.frames) {
                summary.add(&p);
            }
            let pages = SeqOf::new(PageReports::new(&obj.plan, &sampled, &self.frames));
            seq.serialize_element(&object_report(
                &obj,
                &sampled.samples,
                self.weak,
                summary.finish(),
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
    if let Some(p) = &opts.object {
        check_pattern(p)?;
    }
    let privilege = kernel::detect_privilege();
    let mut errors: Vec<PidError> = Vec::new();
    let mut processes: Vec<ProcessInfo> = Vec::new();
    let mut cache = ObjectCache::new(crate::elf::Detail::Full);
    // Per object, in order of first appearance: its cache index and its samples.
    let mut slots: Vec<(usize, Sampled)> = Vec::new();
    // Objects solab could not place in a process, by slot: listed after the files the
    // cache skipped, object by object.
    let mut unplaced: Vec<(usize, crate::scan::Skipped)> = Vec::new();
    let mut seen = BTreeSet::new();
    // Frames are read process by process, after each one's words.
    let mut frames = Frames::default();
    let mut reader = match privilege.frames() {
        true => Some(FrameReader {
            tables: kpage::FrameTables::open()?,
            pfns: Vec::new(),
            info: Vec::new(),
        }),
        false => None,
    };
    for &pid in &opts.pids {
        if !seen.insert(pid) {
            continue;
        }
        let read = Process::read(pid)
            .and_then(|p| read_process(&p, opts, &mut cache, &mut slots, &mut unplaced));
        match read {
            Ok((info, samples)) => {
                processes.push(info);
                let mut added: Vec<usize> = Vec::with_capacity(samples.len());
                for (slot, s, words) in samples {
                    slots[slot].1.push(s, &words);
                    added.push(slot);
                }
                // Not the process's failure: kpagecount and kpageflags are the machine's.
                if let Some(reader) = &mut reader {
                    let mut of_process: Vec<&mut Sampled> = slots
                        .iter_mut()
                        .enumerate()
                        .filter(|(k, _)| added.contains(k))
                        .map(|(_, (_, s))| s)
                        .collect();
                    reader.read(&mut frames, &mut of_process)?;
                }
            }
            Err(e) => errors.push(PidError::new(pid, &e)),
        }
    }
    slots.retain(|(_, sampled)| !sampled.samples.is_empty());

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
            frames,
            weak: !privilege.frames(),
        },
    })
}

/// One object of a process just read: its slot, its sample, and its words (one per page
/// of its image) until they are kept against the object's common words.
type Read = (usize, Sample, Vec<PagemapEntry>);

/// Reads one process: the objects it maps (planned by `cache`, given a slot in `slots`
/// the first time), their pagemap words, smaps figures, then its uid and parent. Any
/// failure is the process's: nothing of it is kept.
fn read_process(
    p: &Process,
    opts: &InspectOptions,
    cache: &mut ObjectCache,
    slots: &mut Vec<(usize, Sampled)>,
    unplaced: &mut Vec<(usize, crate::scan::Skipped)>,
) -> Result<(ProcessInfo, Vec<Read>)> {
    // (slot, the mapping that starts the object here)
    let mut starts: Vec<(usize, &MapEntry)> = Vec::new();
    for m in p.object_mappings() {
        let path = display_path(m);
        if opts
            .object
            .as_deref()
            .is_some_and(|pat| !matches_pattern(pat, &path))
        {
            continue;
        }
        if let Lookup::Elf(i) = cache.lookup(p.pid, m)? {
            let slot = match slots.iter().position(|(j, _)| *j == i) {
                Some(k) => k,
                None => {
                    slots.push((i, Sampled::default()));
                    slots.len() - 1
                }
            };
            if !starts.iter().any(|(k, _)| *k == slot) {
                starts.push((slot, m));
            }
        }
    }
    let mut pagemap: Option<Pagemap> = None;
    // What this process's objects are, until it is read whole: its own words, 8 bytes a
    // page of its images.
    let mut samples: Vec<Read> = Vec::new();
    for (slot, first) in starts {
        let obj = cache.get(slots[slot].0).clone();
        let (placement, id) = match obj.key {
            ObjKey::File(id) => match attribute::place(&obj.plan, &p.maps, id) {
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
            ObjKey::Vdso(_) => (attribute::place_at(&obj.plan, first.start), None),
        };
        let pm = match &mut pagemap {
            Some(pm) => pm,
            None => pagemap.insert(Pagemap::open(p.pid)?),
        };
        let (s, words) = sample(p, first, placement, id, pm)?;
        samples.push((slot, s, words));
    }
    match read_smaps(p.pid) {
        Ok(figures) => {
            for (_, s, _) in &mut samples {
                for w in &mut s.windows {
                    w.fig = figures.get(&w.map_start.0).copied();
                }
            }
        }
        Err(e @ Error::NoSuchProcess { .. }) => return Err(e),
        Err(_) => {} // figures stay null
    }
    // A process that exits now was read whole: it is reported. One that is gone before
    // its uid or parent is read is an error like any other, never a process without uid.
    let uid = process::uid(p.pid)?;
    let ppid = process::stat(p.pid)?.ppid;
    let info = ProcessInfo {
        pid: p.pid,
        comm: process::comm(p.pid),
        uid: Some(uid),
        ppid: Some(ppid),
    };
    Ok((info, samples))
}

fn sample(
    p: &Process,
    first: &MapEntry,
    placement: Placement,
    id: Option<crate::maps::FileId>,
    pm: &mut Pagemap,
) -> Result<(Sample, Vec<PagemapEntry>)> {
    let windows = attribute::windows(&p.maps, &placement, id);
    let pages = (placement.end.0 - placement.base.0) / PAGE_SIZE;
    let mut entries = vec![PagemapEntry::default(); pages as usize];
    let mut got = Vec::new();
    for w in &windows {
        pm.read_into(w.start, w.pages(), &mut got)?;
        let from = ((w.start.0 - placement.base.0) / PAGE_SIZE) as usize;
        entries[from..from + got.len()].copy_from_slice(&got);
    }
    let s = Sample {
        pid: p.pid,
        path: display_path(first),
        deleted: matches!(first.target, MapTarget::File { deleted: true, .. }),
        windows: windows.iter().map(SampledWindow::new).collect(),
        placement,
        classes: Vec::new(),
        own: Vec::new(),
    };
    Ok((s, entries))
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
    let mut interned = Frames::default();
    for (pid, maps, placement, entries) in procs {
        let s = Sample {
            pid: *pid,
            path: String::new(),
            deleted: false,
            windows: attribute::windows(maps, placement, id)
                .iter()
                .map(SampledWindow::new)
                .collect(),
            placement: placement.clone(),
            classes: Vec::new(),
            own: Vec::new(),
        };
        sampled.push(s, entries);
        sampled.set_frames(|pfn| frames.get(&pfn).map_or(NO_FRAME, |f| interned.intern(*f)));
    }
    PageReports::new(plan, &sampled, &interned).collect()
}

/// The copies of the page at ELF address `vaddr` in each sampled process.
fn page_in_processes(vaddr: u64, sampled: &Sampled, frames: &Frames) -> Vec<PageInProcess> {
    sampled
        .samples
        .iter()
        .map(|s| {
            let addr = s.placement.runtime(vaddr);
            let (entry, frame) = s.entry_at(addr, sampled);
            let frame = frames.get(frame);
            let state =
                sharing::page_state(s.kind_at(addr), entry, frame.map(|f| (f.flags, f.mapcount)));
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
    frames: &'a Frames,
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
    fn new(plan: &'a ElfPlan, sampled: &'a Sampled, frames: &'a Frames) -> PageReports<'a> {
        PageReports {
            plan,
            sampled,
            frames,
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
            let procs = page_in_processes(page_vaddr, self.sampled, self.frames);
            let absent = !procs.iter().any(|p| p.present);
            if absent
                && self.extendable
                && let Some(h) = &mut self.held
                && h.procs.iter().zip(&procs).all(|(a, b)| a.state == b.state)
            {
                h.pages += 1;
                continue;
            }
            let copies: Vec<Copy> = procs
                .iter()
                .map(|p| Copy {
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

fn object_report<P>(
    obj: &Object,
    samples: &[Sample],
    weak: bool,
    summary: Vec<SegmentSummary>,
    pages: P,
) -> ObjectReport<P> {
    let plan = &obj.plan;
    let (kind, dev, inode) = match obj.key {
        ObjKey::File(id) => (
            ObjectKind::Elf,
            Some(format!("{:02x}:{:02x}", id.dev.0, id.dev.1)),
            Some(id.inode),
        ),
        ObjKey::Vdso(_) => (ObjectKind::Vdso, None, None),
    };
    let procs = samples
        .iter()
        .map(|s| ObjectInProcess {
            pid: s.pid,
            path: s.path.clone(),
            deleted: s.deleted,
            load_base: s.placement.base,
            load_bias: s.placement.bias,
            mappings: s.windows.iter().map(SampledWindow::report).collect(),
        })
        .collect();
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

/// Whether a page in a process is written, by [`sharing::written`]'s rule.
pub fn written(page: &PageReport, p: &PageInProcess) -> Option<bool> {
    sharing::written(p.state, page.segment == crate::elf::SegmentKind::Bss)
}
