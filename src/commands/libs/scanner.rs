//! Reading each process's maps and pagemap once and adding its present pages to buckets:
//! per object and segment kind, anonymous memory, other files.

use super::frames::{Frames, FramesMark};
use crate::addr::{PAGE_SIZE, Pfn};
use crate::elf::{ElfPlan, SegmentKind};
use crate::error::Result;
use crate::kernel::files;
use crate::kernel::pagemap::Pagemap;
use crate::kernel::process::ProcDir;
use crate::kernel::smaps::{SmapsFigures, read_smaps};
use crate::maps::{FileId, MapEntry, MapTarget};
use crate::page_words::PagemapEntry;
use crate::placement;
use crate::scan::{Lookup, ObjKey, Object, ObjectCache, SharedCache};
use crate::sharing;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

pub(super) const KINDS: usize = SegmentKind::ALL.len();

pub(super) fn kind_index(k: SegmentKind) -> usize {
    SegmentKind::ALL.iter().position(|x| *x == k).unwrap_or(0)
}

/// Present pages, private copies and frames of one bucket.
///
/// A page whose frame is mapped exactly once ([`sharing::mapped_once`]) is a distinct frame
/// by itself and only counted. Only the frames of the other pages are
/// kept, to be sorted and deduplicated at the end.
#[derive(Clone, Debug, Default)]
pub(super) struct Bucket {
    pub(super) resident: u64,
    pub(super) private: u64,
    pub(super) exclusive: u64,
    pub(super) pfns: Frames,
    pub(super) smaps: SmapsFigures,
}

#[derive(Clone, Copy)]
struct Mark {
    resident: u64,
    private: u64,
    exclusive: u64,
    len: FramesMark,
    smaps: SmapsFigures,
}

impl Bucket {
    fn mark(&self) -> Mark {
        Mark {
            resident: self.resident,
            private: self.private,
            exclusive: self.exclusive,
            len: self.pfns.mark(),
            smaps: self.smaps,
        }
    }
    fn restore(&mut self, m: Mark) {
        self.resident = m.resident;
        self.private = m.private;
        self.exclusive = m.exclusive;
        self.pfns.truncate(m.len);
        self.smaps = m.smaps;
    }
    /// Counts a present page with a visible frame, at virtual page number `vpage`.
    fn frame(&mut self, e: PagemapEntry, pfn: u64, vpage: u64) {
        self.resident += 1;
        if sharing::mapped_once(e, vpage) {
            self.exclusive += 1;
        } else {
            self.pfns.push(pfn);
        }
    }

    /// [`Bucket::frame`] for a page of an object whose last frame kept at the same page of
    /// the object is `slot` (the frame, and its index in the list): the same frame again
    /// (another process mapping the same page of the file) is counted but not kept a
    /// second time; without `dedup` the kept one counts one mapping more. Returns the
    /// index of the frame counted again.
    fn frame_once(
        &mut self,
        (e, pfn, vpage): (PagemapEntry, u64, u64),
        slot: &mut [u32; 2],
        dedup: bool,
    ) -> Option<u32> {
        self.resident += 1;
        if sharing::mapped_once(e, vpage) {
            self.exclusive += 1;
            return None;
        }
        let index = u32::try_from(self.pfns.low_len()).ok();
        match (u32::try_from(pfn), index) {
            (Ok(p), _) if slot[0] == p => {
                if dedup {
                    return None;
                }
                self.pfns.repeat(slot[1]);
                return Some(slot[1]);
            }
            (Ok(p), Some(i)) => *slot = [p, i],
            _ => {}
        }
        self.pfns.push(pfn);
        None
    }
    /// Adds `o`'s figures; both frame lists sorted, the result sorted.
    pub(super) fn merge(&mut self, o: Bucket) {
        self.resident += o.resident;
        self.private += o.private;
        self.exclusive += o.exclusive;
        self.add_smaps(&o.smaps);
        self.pfns.merge(o.pfns);
    }
    fn add_smaps(&mut self, f: &SmapsFigures) {
        self.smaps.rss += f.rss;
        self.smaps.pss += f.pss;
        self.smaps.shared += f.shared;
        self.smaps.private += f.private;
    }
}

/// An object's plan reduced to what the scan needs: runs of segment kinds by `p_vaddr`.
pub(super) struct ObjInfo {
    /// `None` for a vdso image.
    pub(super) id: Option<FileId>,
    pub(super) soname: Option<String>,
    pub(super) textrel: bool,
    /// The plan (placement needs its segments).
    pub(super) plan: Arc<Object>,
    pub(super) runs: Vec<(u64, u64, SegmentKind)>,
}

impl ObjInfo {
    fn new(object: &Arc<Object>) -> ObjInfo {
        let plan: &ElfPlan = &object.plan;
        let mut runs: Vec<(u64, u64, SegmentKind)> = Vec::new();
        for r in &plan.runs {
            match runs.last_mut() {
                Some((_, end, k)) if *end == r.vaddr && *k == r.segment => *end = r.end_vaddr(),
                _ => runs.push((r.vaddr, r.end_vaddr(), r.segment)),
            }
        }
        ObjInfo {
            id: match object.key {
                ObjKey::File(id) => Some(id),
                ObjKey::Vdso(_) => None,
            },
            soname: plan.soname.clone(),
            textrel: plan.textrel,
            plan: Arc::clone(object),
            runs,
        }
    }

    /// The segment kind of the page at ELF address `vaddr`; pages the plan does not cover
    /// count as data.
    fn kind_at(&self, vaddr: u64) -> SegmentKind {
        let i = self.runs.partition_point(|r| r.1 <= vaddr);
        match self.runs.get(i) {
            Some(&(s, _, k)) if s <= vaddr => k,
            _ => SegmentKind::Data,
        }
    }
}

/// What the processes scanned so far have of one object.
#[derive(Clone, Debug, Default)]
pub(super) struct ObjAcc {
    pub(super) kinds: [Bucket; KINDS],
    pub(super) procs: u32,
}

/// The frame last kept at each page of one object, by its page number in the object's ELF
/// addresses from `first` on (0: none), and its index in its bucket: a frame the process
/// before already mapped at the same page is not kept again, the kept one counted once
/// more ([`Frames::repeat`](super::frames::Frames::repeat)) unless only distinct frames
/// count. The pages of a
/// library's file are one frame each in the page cache, mapped by every process: this
/// keeps a worker's lists to about the object's pages rather than its pages times its
/// processes, and the sort at the end short.
#[derive(Default)]
struct KeptSlots {
    first: u64,
    /// The frame and its index in its bucket's list.
    frames: Vec<[u32; 2]>,
}

/// The most pages of an object [`KeptSlots`] keeps (4 MiB): a larger object's pages above are
/// kept as they come, repeats sorted out at the end.
const MAX_SLOTS: u64 = 1 << 19;

/// Where a process's memory goes, by address range.
struct Placed {
    base: u64,
    end: u64,
    obj: usize,
    bias: u64,
}

/// One worker of the scan: its own buckets, the objects shared through the cache.
pub(super) struct Worker {
    pub(super) privileged: bool,
    pub(super) zero_pfn: Option<u64>,
    /// By cache index: the objects this worker has seen, and their buckets.
    pub(super) infos: Vec<Option<Arc<ObjInfo>>>,
    pub(super) accs: Vec<ObjAcc>,
    pub(super) anon: Bucket,
    pub(super) files: Bucket,
    pub(super) zero_mappings: u64,
    entries: Vec<PagemapEntry>,
    /// By cache index: the frame last kept at each page of the object.
    slots: Vec<KeptSlots>,
    /// (object, kind, index) of the frames the process being scanned counted again: undone
    /// if its scan fails.
    repeated: Vec<(usize, usize, u32)>,
    /// Only distinct frames are counted (not how often each is mapped): repeats need not
    /// be kept.
    dedup: bool,
    /// What the shared cache said of each file this worker met. The worker scans in
    /// ascending scan position, so asking the cache again could change nothing: what is
    /// kept "as first seen" is already from this worker's earlier process or an earlier one.
    looked_up: HashMap<FileId, Lookup>,
    /// vdso images by the frames behind their pages: (page index, frame) to the image;
    /// `None` when vdsos are not known by their frames (each one's bytes are read).
    vdsos: Option<VdsoFrames>,
}

/// Everything the workers saw, merged: what the tally reads.
pub(super) struct Merged {
    pub(super) privileged: bool,
    /// By cache index: the object (`None` if no worker placed it), its path as the first
    /// process maps it, its buckets.
    pub(super) objs: Vec<(Option<Arc<ObjInfo>>, String, ObjAcc)>,
    pub(super) anon: Bucket,
    pub(super) files: Bucket,
    pub(super) zero_mappings: u64,
    pub(super) skipped: Vec<crate::scan::Skipped>,
}

impl Worker {
    pub(super) fn new(
        privileged: bool,
        zero_pfn: Option<u64>,
        vdsos: Option<VdsoFrames>,
        dedup: bool,
    ) -> Worker {
        Worker {
            privileged,
            zero_pfn,
            infos: Vec::new(),
            accs: Vec::new(),
            anon: Bucket::default(),
            files: Bucket::default(),
            zero_mappings: 0,
            entries: Vec::new(),
            slots: Vec::new(),
            repeated: Vec::new(),
            dedup,
            looked_up: HashMap::new(),
            vdsos,
        }
    }

    /// How many frames the worker's buckets hold.
    fn frames(&self) -> usize {
        let objects: usize = self
            .accs
            .iter()
            .flat_map(|a| a.kinds.iter())
            .map(|k| k.pfns.len())
            .sum();
        objects + self.anon.pfns.len() + self.files.pfns.len()
    }

    /// Sorts every bucket's frames; with `dedup`, drops repeats too (when only distinct
    /// frames are counted, not how often each is mapped).
    pub(super) fn sort(&mut self, dedup: bool) {
        let mut scratch = Vec::new();
        let mut sort = |a: &mut Bucket| {
            if dedup {
                a.pfns.sort_dedup(&mut scratch);
            } else {
                a.pfns.sort();
            }
        };
        for a in &mut self.accs {
            a.kinds.iter_mut().for_each(&mut sort);
        }
        sort(&mut self.anon);
        sort(&mut self.files);
    }

    /// The object of file mapping (or vdso) `entry` of the process of `dir`, planned once
    /// for the run. `pm` is the process's pagemap, opened here if the vdso's frames are
    /// looked at.
    fn slot(
        &mut self,
        cache: &SharedCache,
        position: usize,
        dir: &ProcDir,
        entry: &MapEntry,
        pm: &mut Option<Pagemap>,
    ) -> Result<Option<usize>> {
        let found = if entry.is_pseudo("[vdso]") {
            self.vdso(cache, position, dir, entry, pm)?
        } else if let Some(id) = entry.file_id() {
            match self.looked_up.get(&id) {
                Some(&l) => l,
                None => {
                    let l = cache.lookup(position, dir, entry)?;
                    self.looked_up.insert(id, l);
                    l
                }
            }
        } else {
            cache.lookup(position, dir, entry)?
        };
        let Lookup::Elf(c) = found else {
            return Ok(None);
        };
        if self.infos.len() <= c {
            self.infos.resize(c + 1, None);
            self.accs.resize(c + 1, ObjAcc::default());
        }
        if self.infos[c].is_none() {
            self.infos[c] = Some(Arc::new(ObjInfo::new(&cache.object(c))));
        }
        Ok(Some(c))
    }

    /// The vdso image of the process of `dir`. As root, with every process scanned (`--all`: PSS from the
    /// frames seen, not kpagecount), the frames behind a vdso tell its image: the kernel
    /// maps the same frames of one image into every process, so a page of the vdso whose
    /// frame is a known image's page at the same place is that image. Its bytes are read
    /// from /proc/PID/mem only when no present page is known (another ABI's vdso, none of
    /// its pages present, or no frame numbers). Reading them makes every page of it
    /// present, which the scan then counts (as it always did); a vdso known by its frames
    /// is not touched, and the scan counts the pages the process itself made present.
    fn vdso(
        &mut self,
        cache: &SharedCache,
        position: usize,
        dir: &ProcDir,
        entry: &MapEntry,
        pm: &mut Option<Pagemap>,
    ) -> Result<Lookup> {
        if self.vdsos.is_none() {
            return cache.lookup(position, dir, entry);
        }
        let frames = if entry.len() <= files::MAX_VDSO_BYTES {
            self.vdso_frames(dir, entry, pm)
        } else {
            Vec::new()
        };
        let known = self
            .vdsos
            .as_ref()
            .and_then(|v| frames.iter().find_map(|f| v.get(f)));
        if let Some(&i) = known {
            return Ok(Lookup::Elf(i));
        }
        let found = cache.lookup(position, dir, entry)?;
        if let (Lookup::Elf(i), Some(v)) = (found, self.vdsos.as_mut()) {
            v.extend(frames.into_iter().map(|f| (f, i)));
        }
        Ok(found)
    }

    /// The (page index, frame) of the present pages of vdso mapping `entry` (none without
    /// frame numbers).
    fn vdso_frames(
        &mut self,
        dir: &ProcDir,
        entry: &MapEntry,
        pm: &mut Option<Pagemap>,
    ) -> Vec<(usize, u64)> {
        if !self.privileged {
            return Vec::new();
        }
        if pm.is_none() {
            *pm = Pagemap::open(dir).ok();
        }
        let Some(pm) = pm.as_mut() else {
            return Vec::new();
        };
        match pm.read_into(entry.start, entry.len() / PAGE_SIZE, &mut self.entries) {
            Ok(()) => frames_of(&self.entries),
            Err(_) => Vec::new(),
        }
    }

    fn info(&self, obj: usize) -> &ObjInfo {
        self.infos[obj]
            .as_deref()
            .expect("placed objects have their info")
    }

    /// Scans the process of `dir` (opened by the door), at `position` in the scan order;
    /// every file of it through its directory. A failure leaves the buckets as they were.
    pub(super) fn scan(
        &mut self,
        cache: &SharedCache,
        position: usize,
        dir: &ProcDir,
    ) -> Result<()> {
        let pid = dir.pid();
        let maps = dir.read_maps()?;
        // Objects of this process and where they sit.
        let mut placed: Vec<Placed> = Vec::new();
        let mut seen: HashSet<FileId> = HashSet::new();
        let index = placement::FileMappings::new(&maps);
        let mut pm: Option<Pagemap> = None;
        for m in &maps {
            let vdso = m.is_pseudo("[vdso]");
            let id = m.file_id();
            match id {
                Some(id) if seen.insert(id) => {}
                None if vdso => {}
                _ => continue,
            }
            let Some(obj) = self.slot(cache, position, dir, m, &mut pm)? else {
                continue;
            };
            let plan = &self.info(obj).plan.plan;
            let placement = match id {
                Some(id) => placement::place_in(plan, &maps, &index, id),
                None => Ok(placement::place_at(plan, m.start)),
            };
            match placement {
                Ok(p) => {
                    if self.privileged {
                        self.make_slots(obj, p.base.0, p.end.0, p.bias);
                    }
                    placed.push(Placed {
                        base: p.base.0,
                        end: p.end.0,
                        obj,
                        bias: p.bias,
                    })
                }
                Err(reason) => {
                    let path = m.path().map_or_else(
                        || self.info(obj).plan.path.clone(),
                        |p| p.to_string_lossy().into_owned(),
                    );
                    cache.skip_once(
                        position,
                        pid,
                        &path,
                        crate::error::ErrorKind::BadElf,
                        reason,
                    )?;
                }
            }
        }
        placed.sort_by_key(|p| p.base);
        let marks: Vec<(usize, [Mark; KINDS])> = placed
            .iter()
            .map(|p| (p.obj, self.accs[p.obj].kinds.each_ref().map(Bucket::mark)))
            .collect();
        let (anon_mark, files_mark, zero_mark) =
            (self.anon.mark(), self.files.mark(), self.zero_mappings);
        self.repeated.clear();
        match self.read_pages(dir, &maps, &placed, pm) {
            Ok(()) => {
                let mut counted: Vec<usize> = placed.iter().map(|p| p.obj).collect();
                counted.sort_unstable();
                counted.dedup();
                for i in counted {
                    self.accs[i].procs += 1;
                }
                Ok(())
            }
            Err(e) => {
                for (obj, kind, i) in self.repeated.drain(..) {
                    self.accs[obj].kinds[kind].pfns.unrepeat(i);
                }
                for (obj, m) in marks {
                    for (acc, mark) in self.accs[obj].kinds.iter_mut().zip(m) {
                        acc.restore(mark);
                    }
                }
                self.anon.restore(anon_mark);
                self.files.restore(files_mark);
                self.zero_mappings = zero_mark;
                // The frames this process left in its objects' slots were not kept.
                for p in &placed {
                    if let Some(s) = self.slots.get_mut(p.obj) {
                        s.frames.fill([0, 0]);
                    }
                }
                Err(e)
            }
        }
    }

    /// The slots of object `obj`, placed at `[base, end)` with `bias`, the first time it is.
    fn make_slots(&mut self, obj: usize, base: u64, end: u64, bias: u64) {
        if self.slots.len() <= obj {
            self.slots.resize_with(obj + 1, KeptSlots::default);
        }
        let s = &mut self.slots[obj];
        if s.frames.is_empty() {
            s.first = base.wrapping_sub(bias) / PAGE_SIZE;
            let pages = end.saturating_sub(base) / PAGE_SIZE;
            s.frames = vec![[0, 0]; pages.min(MAX_SLOTS) as usize];
        }
    }

    fn read_pages(
        &mut self,
        dir: &ProcDir,
        maps: &[MapEntry],
        placed: &[Placed],
        pm: Option<Pagemap>,
    ) -> Result<()> {
        let mut pm = match pm {
            Some(pm) => pm,
            None => Pagemap::open(dir)?,
        };
        let mut entries = std::mem::take(&mut self.entries);
        let read = pm.read_maps(maps, &mut entries, |i, at, words| {
            let end = at.0 + words.len() as u64 * PAGE_SIZE;
            self.account(&maps[i], at.0, end, words, placed);
        });
        self.entries = entries;
        read?;
        if !self.privileged {
            let smaps = read_smaps(dir)?;
            for m in maps {
                let Some(fig) = smaps.get(&m.start.0) else {
                    continue;
                };
                match owner(placed, m.start.0) {
                    Some(p) => {
                        let k = self.info(p.obj).kind_at(m.start.0.wrapping_sub(p.bias));
                        self.accs[p.obj].kinds[kind_index(k)].add_smaps(fig);
                    }
                    None if is_file(m) => self.files.add_smaps(fig),
                    None => self.anon.add_smaps(fig),
                }
            }
        }
        Ok(())
    }

    /// Adds the present pages of `[start, end)`, part of mapping `m`, whose pagemap words
    /// are `words`, to their buckets.
    fn account(
        &mut self,
        m: &MapEntry,
        start: u64,
        end: u64,
        words: &[PagemapEntry],
        placed: &[Placed],
    ) {
        let first = placed.partition_point(|p| p.end <= start);
        let overlapping = placed[first..].iter().take_while(|p| p.base < end);
        let mut cursor = start;
        for p in overlapping {
            let (s, e) = (p.base.max(start), p.end.min(end));
            if cursor < s {
                self.account_plain(m, cursor, slice(words, start, cursor, s));
            }
            let own = !m.perms.shared
                && match self.info(p.obj).id {
                    Some(id) => m.file_id() == Some(id),
                    None => m.is_pseudo("[vdso]"),
                };
            self.account_object(p, own, s, slice(words, start, s, e));
            cursor = e;
        }
        if cursor < end {
            self.account_plain(m, cursor, slice(words, start, cursor, end));
        }
    }

    /// Memory outside every object: anonymous, or a file that is not an ELF object; `words`
    /// from the page at `from`.
    fn account_plain(&mut self, m: &MapEntry, from: u64, words: &[PagemapEntry]) {
        let (zero, privileged) = (self.zero_pfn, self.privileged);
        let acc = if is_file(m) {
            &mut self.files
        } else {
            &mut self.anon
        };
        let mut zero_seen = 0;
        for (vpage, &e) in (from / PAGE_SIZE..).zip(words) {
            if !e.present() {
                continue;
            }
            match e.pfn() {
                Some(Pfn(p)) if Some(p) == zero => zero_seen += 1,
                Some(Pfn(p)) => acc.frame(e, p, vpage),
                None if !privileged => acc.resident += 1,
                None => {}
            }
        }
        self.zero_mappings += zero_seen;
    }

    fn account_object(&mut self, p: &Placed, own: bool, from: u64, words: &[PagemapEntry]) {
        let (zero, privileged) = (self.zero_pfn, self.privileged);
        let Some(info) = self.infos[p.obj].as_deref() else {
            return;
        };
        let obj = &mut self.accs[p.obj];
        // The ELF address of the first page; the pages go by runs of one segment kind.
        let base = from.wrapping_sub(p.bias);
        let n = words.len();
        if base.checked_add(n as u64 * PAGE_SIZE).is_none() {
            // Addresses that wrap around: page by page.
            for (i, &e) in words.iter().enumerate() {
                let k = info.kind_at(base.wrapping_add(i as u64 * PAGE_SIZE));
                let acc = &mut obj.kinds[kind_index(k)];
                let at = from / PAGE_SIZE + i as u64;
                self.zero_mappings += account_pages(acc, (at, &[e]), None, zero, privileged, own);
            }
            return;
        }
        // The slots of these pages, when they all have one.
        let mut slots = self.slots.get_mut(p.obj).and_then(|s| {
            let at = usize::try_from((base / PAGE_SIZE).checked_sub(s.first)?).ok()?;
            s.frames.get_mut(at..at.checked_add(n)?)
        });
        let runs = &info.runs;
        let mut r = runs.partition_point(|r| r.1 <= base);
        let mut i = 0;
        while i < n {
            let v = base + i as u64 * PAGE_SIZE;
            while r < runs.len() && runs[r].1 <= v {
                r += 1;
            }
            // The kind of page `i` (as `kind_at` says) and the address where it changes.
            let (kind, until) = match runs.get(r) {
                Some(&(s, e, k)) if s <= v => (k, e),
                Some(&(s, _, _)) => (SegmentKind::Data, s),
                None => (SegmentKind::Data, u64::MAX),
            };
            let pages = (until - v).div_ceil(PAGE_SIZE);
            let j = n.min(i.saturating_add(usize::try_from(pages).unwrap_or(usize::MAX)));
            let k = kind_index(kind);
            let acc = &mut obj.kinds[k];
            let run_slots = slots.as_deref_mut().map(|s| Slotted {
                slots: &mut s[i..j],
                dedup: self.dedup,
                repeated: &mut self.repeated,
                at: (p.obj, k),
            });
            let at = from / PAGE_SIZE + i as u64;
            self.zero_mappings +=
                account_pages(acc, (at, &words[i..j]), run_slots, zero, privileged, own);
            i = j;
        }
    }
}

/// The object's [`KeptSlots`] of a run of pages, for [`account_pages`].
struct Slotted<'a> {
    slots: &'a mut [[u32; 2]],
    dedup: bool,
    /// The worker's log of frames counted again, and the (object, kind) of the run.
    repeated: &'a mut Vec<(usize, usize, u32)>,
    at: (usize, usize),
}

/// Adds the present pages among `words` (the first at virtual page number `first`), all of
/// one object's segment kind, to `acc`; returns how many map the zero page. `slots`: the
/// object's [`KeptSlots`] of these pages.
fn account_pages(
    acc: &mut Bucket,
    (first, words): (u64, &[PagemapEntry]),
    mut slots: Option<Slotted<'_>>,
    zero: Option<u64>,
    privileged: bool,
    own: bool,
) -> u64 {
    let mut zero_seen = 0;
    for (i, &e) in words.iter().enumerate() {
        if !e.present() {
            continue;
        }
        let vpage = first + i as u64;
        let pfn = e.pfn().map(|p| p.0);
        if pfn.is_some() && pfn == zero {
            zero_seen += 1;
            continue;
        }
        if privileged && pfn.is_none() {
            continue;
        }
        match (pfn, slots.as_mut()) {
            (Some(p), Some(s)) => {
                if let Some(again) = acc.frame_once((e, p, vpage), &mut s.slots[i], s.dedup) {
                    s.repeated.push((s.at.0, s.at.1, again));
                }
            }
            (Some(p), None) => acc.frame(e, p, vpage),
            (None, _) => acc.resident += 1,
        }
        if sharing::private_copy(e, own, privileged) {
            acc.private += 1;
        }
    }
    zero_seen
}

/// vdso images by the frames of their pages: (page index, frame) to the cache's index.
pub(super) type VdsoFrames = HashMap<(usize, u64), usize>;

/// The (page index, frame) of each page of `words` with a visible frame.
fn frames_of(words: &[PagemapEntry]) -> Vec<(usize, u64)> {
    words
        .iter()
        .enumerate()
        .filter_map(|(k, e)| e.pfn().map(|p| (k, p.0)))
        .collect()
}

/// The frames of solab's own vdso (as root): the image every process of its ABI maps,
/// known without reading those processes' memory. Empty when they cannot be read.
pub(super) fn own_vdso(cache: &SharedCache) -> VdsoFrames {
    let Ok(own) = ProcDir::open(std::process::id() as i32) else {
        return VdsoFrames::new();
    };
    let Ok(maps) = own.read_maps() else {
        return VdsoFrames::new();
    };
    let Some(entry) = maps
        .iter()
        .find(|m| m.is_pseudo("[vdso]") && m.len() <= files::MAX_VDSO_BYTES)
    else {
        return VdsoFrames::new();
    };
    // Reading its bytes made every page of it present.
    let Some(i) = cache.vdso_of_self(&own, entry) else {
        return VdsoFrames::new();
    };
    let words =
        Pagemap::open(&own).and_then(|mut pm| pm.read(entry.start, entry.len() / PAGE_SIZE));
    match words {
        Ok(w) => frames_of(&w).into_iter().map(|f| (f, i)).collect(),
        Err(_) => VdsoFrames::new(),
    }
}

fn is_file(m: &MapEntry) -> bool {
    matches!(m.target, MapTarget::File { .. })
}

fn owner(placed: &[Placed], addr: u64) -> Option<&Placed> {
    let i = placed.partition_point(|p| p.end <= addr);
    placed.get(i).filter(|p| p.base <= addr)
}

/// The words of pages `[from, to)` of a mapping that starts at `start`.
pub(super) fn slice<T>(words: &[T], start: u64, from: u64, to: u64) -> &[T] {
    let a = ((from - start) / PAGE_SIZE) as usize;
    let b = ((to - start) / PAGE_SIZE) as usize;
    words.get(a..b.min(words.len())).unwrap_or(&[])
}

/// Below this many frames in all, the workers' buckets are sorted on one thread.
const PARALLEL_SORT: usize = 1 << 16;

/// Merges the workers: their buckets (each sorted first, in parallel, and without
/// repeats with `dedup`) and the cache's objects, in cache order.
pub(super) fn merge(mut workers: Vec<Worker>, cache: &mut ObjectCache, dedup: bool) -> Merged {
    // Starting a thread costs more than sorting a few thousand frames: with `dedup` the
    // workers' lists are about the objects' pages.
    let frames: usize = workers.iter().map(Worker::frames).sum();
    if workers.len() == 1 || frames < PARALLEL_SORT {
        workers.iter_mut().for_each(|w| w.sort(dedup));
    } else {
        std::thread::scope(|s| {
            for w in &mut workers {
                s.spawn(move || w.sort(dedup));
            }
        });
    }
    let privileged = workers.first().is_some_and(|w| w.privileged);
    let mut objs: Vec<(Option<Arc<ObjInfo>>, String, ObjAcc)> = (0..cache.objects.len())
        .map(|c| (None, cache.first_path(c).to_string(), ObjAcc::default()))
        .collect();
    let (mut anon, mut files, mut zero_mappings) = (Bucket::default(), Bucket::default(), 0);
    for w in workers {
        for (c, (info, acc)) in w.infos.into_iter().zip(w.accs).enumerate() {
            let Some(info) = info else { continue };
            let o = &mut objs[c];
            o.0.get_or_insert(info);
            o.2.procs += acc.procs;
            for (k, a) in o.2.kinds.iter_mut().zip(acc.kinds) {
                k.merge(a);
            }
        }
        anon.merge(w.anon);
        files.merge(w.files);
        zero_mappings += w.zero_mappings;
    }
    Merged {
        privileged,
        objs,
        anon,
        files,
        zero_mappings,
        skipped: cache.take_skipped(),
    }
}
