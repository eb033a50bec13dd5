//! The scan behind `solab libs`: how much memory sharing saves, per ELF object, over a set
//! of processes or the whole machine.
//!
//! Cost is kept close to that of just reading pagemap:
//! - /proc/PID/maps once per process, /proc/PID/pagemap with one `pread` per mapping (in
//!   chunks of 64 Ki pages for huge reservations), never per page;
//! - each ELF file read and planned once per (device, inode), its page plan kept as runs
//!   of segment kinds;
//! - frames collected in plain `Vec<u64>`s (one per object and segment kind, one for
//!   anonymous memory, one for other files), sorted once at the end;
//! - /proc/kpagecount (for PSS) read in sorted windows, only for the frames of ELF objects.
//!
//! Privilege: frame numbers and /proc/kpagecount need CAP_SYS_ADMIN. Without it the scan
//! still reads pagemap bits (present, file, exclusive) of the processes it may read, and
//! takes PSS and the memory saved from smaps: those figures are estimates and say so.

use crate::addr::{PAGE_SIZE, Pfn, VirtAddr};
use crate::attribute;
use crate::elf::{Detail, ElfPlan, SegmentKind};
use crate::error::{Error, Result};
use crate::kernel::pagemap::{CHUNK_PAGES, Pagemap, ranges_to_read};
use crate::kernel::process::{self, Gone};
use crate::kernel::smaps::{SmapsFigures, read_smaps};
use crate::kernel::{self, kpage};
use crate::maps::{FileId, MapEntry, MapTarget};
use crate::pagemap::PagemapEntry;
use crate::scan::{Lookup, ObjectCache, PidError, Skipped};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt::Write;

pub const LIBS_SCHEMA: &str = "solab.libs.v2";

/// Which processes to scan.
#[derive(Clone, Debug)]
pub enum Scope {
    /// Every process in /proc except this one.
    All,
    Pids(Vec<i32>),
}

/// How to order the objects: the keys are the table's column names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SortKey {
    /// SAVED: memory saved by sharing (summed resident - distinct frames)
    Saved,
    /// RESIDENT: resident pages summed over the processes
    #[value(alias = "rss")]
    Resident,
    /// FRAMES: distinct frames
    Frames,
    /// PSS: proportional set size summed over the processes
    Pss,
    /// PROCS: processes mapping the object
    Procs,
    /// PRIVATE: private copies in the object's file mappings
    Private,
    /// OBJECT: the path (alphabetical)
    Object,
}

#[derive(Clone, Debug)]
pub struct LibsOptions {
    pub scope: Scope,
    /// Draw a progress bar on stderr.
    pub progress: bool,
}

/// Pages of one segment kind of an object, summed over the processes.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct KindFigures {
    /// Present pages, summed over the processes (what they would hold with no sharing).
    pub resident_pages: u64,
    /// Distinct frames among them; null without CAP_SYS_ADMIN.
    pub frames: Option<u64>,
    /// Anonymous frames in the object's own private file mappings: copies made by a write
    /// (relocation, text relocation, written data). The zero page is not a copy.
    pub private_pages: u64,
}

/// Private copies by where they are.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PrivateCopies {
    /// Text and read-only data (only text relocations make these).
    pub text: u64,
    /// PT_GNU_RELRO: written by the loader's relocations, then made read-only.
    pub relro: u64,
    /// Writable data written by the program (and the loader's zeroed .bss start).
    pub data: u64,
}

impl PrivateCopies {
    pub fn total(&self) -> u64 {
        self.text + self.relro + self.data
    }
}

/// smaps figures summed over the processes, in pages (the unprivileged estimates).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SmapsEstimate {
    pub rss_pages: f64,
    pub pss_pages: f64,
    pub shared_pages: f64,
    pub private_pages: f64,
}

/// One ELF object, tied by (device, inode).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LibRow {
    pub path: String,
    /// `major:minor` in hex, as /proc/PID/maps prints it.
    pub dev: String,
    pub inode: u64,
    pub soname: Option<String>,
    pub procs: u32,
    /// Present pages of the object's mappings (file, .bss tail, MAP_SHARED window),
    /// summed over the processes.
    pub resident_pages: u64,
    /// Distinct frames among them: what the machine really spends. Null when estimated.
    pub frames: Option<u64>,
    /// resident_pages - frames; when estimated: smaps Rss - Pss summed.
    pub saved_pages: f64,
    /// Sum over the processes of the proportional set size (from /proc/kpagecount, or
    /// smaps Pss when estimated).
    pub pss_pages: f64,
    pub private: PrivateCopies,
    /// DT_TEXTREL: the loader patches text pages, making private copies of them.
    pub textrel: bool,
    /// By segment kind: text, rodata, relro, data, bss, shared.
    pub segments: std::collections::BTreeMap<SegmentKind, KindFigures>,
    /// The smaps figures (only when not privileged).
    pub estimate: Option<SmapsEstimate>,
}

/// Pages of one class of memory, summed over the processes.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Totals {
    pub resident_pages: u64,
    /// Null without CAP_SYS_ADMIN.
    pub frames: Option<u64>,
    /// resident_pages - frames, or smaps Rss - Pss when estimated.
    pub saved_pages: f64,
    pub pss_pages: Option<f64>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ProcessCounts {
    /// Processes whose memory was read.
    pub scanned: u32,
    /// Exited between listing and reading.
    pub vanished: u32,
    /// Refused (another user's process without CAP_SYS_PTRACE).
    pub unreadable: u32,
    /// Kernel threads and zombies.
    pub no_memory_map: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MachineTotals {
    pub objects: u32,
    pub elf_objects: Totals,
    /// Private anonymous memory and everything that is not a file (heap, stacks, shmem).
    pub anonymous: Totals,
    /// Files that are not ELF objects (locale archives, caches, /dev/shm regions).
    pub other_files: Totals,
    /// Everything: frames counted once even if two classes map them.
    pub all: Totals,
    /// Mappings of the kernel's zero page (not memory anyone holds; not in the figures).
    pub zero_page_mappings: u64,
}

/// Where the evidence came from: frame numbers, or smaps estimates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    Frames,
    Estimate,
}

/// Which processes were scanned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScopeName {
    All,
    Pids,
}

/// Where PSS comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PssSource {
    /// /proc/kpagecount (some processes were scanned).
    Kpagecount,
    /// Every process was scanned: a frame's mappings are the ones seen.
    Frames,
    /// smaps Pss (estimate).
    Smaps,
}

/// What `solab libs --json` prints.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LibsReport {
    pub schema: String,
    /// Frames compared by PFN. False: figures marked estimate come from smaps.
    pub privileged: bool,
    pub privilege_note: Option<String>,
    /// `frames` (privileged) or `estimate` (smaps).
    pub mode: Mode,
    /// `all` or `pids`.
    pub scope: ScopeName,
    /// Where PSS comes from: `kpagecount` (some processes), `frames` (every process was
    /// scanned, so a frame's mappings are the ones seen), or `smaps` (estimate).
    pub pss_source: PssSource,
    pub kernel: crate::kernel::config::KernelFacts,
    pub page_size: u64,
    pub processes: ProcessCounts,
    /// For explicit pids: the ones that could not be read, by name.
    pub errors: Vec<PidError>,
    pub objects: Vec<LibRow>,
    pub totals: MachineTotals,
    /// ELF objects that could not be analyzed.
    pub skipped: Vec<Skipped>,
}

const KINDS: usize = SegmentKind::ALL.len();

fn kind_index(k: SegmentKind) -> usize {
    SegmentKind::ALL.iter().position(|x| *x == k).unwrap_or(0)
}

/// Present pages, private copies and frames of one bucket.
///
/// A page whose pagemap bit 56 (exclusive) is set has a frame mapped exactly once: it is
/// a distinct frame by itself and only counted. Only the frames of the other pages are
/// kept, to be sorted and deduplicated at the end.
#[derive(Clone, Debug, Default)]
struct Acc {
    resident: u64,
    private: u64,
    exclusive: u64,
    pfns: Vec<u64>,
    smaps: SmapsFigures,
}

#[derive(Clone, Copy)]
struct Mark {
    resident: u64,
    private: u64,
    exclusive: u64,
    len: usize,
    smaps: SmapsFigures,
}

impl Acc {
    fn mark(&self) -> Mark {
        Mark {
            resident: self.resident,
            private: self.private,
            exclusive: self.exclusive,
            len: self.pfns.len(),
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
    /// Counts a present page with a visible frame.
    fn frame(&mut self, e: PagemapEntry, pfn: u64) {
        self.resident += 1;
        if e.exclusive() {
            self.exclusive += 1;
        } else {
            self.pfns.push(pfn);
        }
    }
    fn add_smaps(&mut self, f: &SmapsFigures) {
        self.smaps.rss += f.rss;
        self.smaps.pss += f.pss;
        self.smaps.shared += f.shared;
        self.smaps.private += f.private;
    }
}

/// An object's plan reduced to what the scan needs: runs of segment kinds by `p_vaddr`.
struct Obj {
    id: FileId,
    path: String,
    soname: Option<String>,
    textrel: bool,
    /// The plan (placement needs its segments).
    plan: std::sync::Arc<crate::scan::Object>,
    runs: Vec<(u64, u64, SegmentKind)>,
    kinds: [Acc; KINDS],
    procs: u32,
}

impl Obj {
    fn new(id: FileId, path: String, object: &std::sync::Arc<crate::scan::Object>) -> Obj {
        let plan: &ElfPlan = &object.plan;
        let mut runs: Vec<(u64, u64, SegmentKind)> = Vec::new();
        for r in &plan.runs {
            match runs.last_mut() {
                Some((_, end, k)) if *end == r.vaddr && *k == r.segment => *end = r.end_vaddr(),
                _ => runs.push((r.vaddr, r.end_vaddr(), r.segment)),
            }
        }
        Obj {
            id,
            path,
            soname: plan.soname.clone(),
            textrel: plan.textrel,
            plan: std::sync::Arc::clone(object),
            runs,
            kinds: Default::default(),
            procs: 0,
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

/// Where a process's memory goes, by address range.
struct Placed {
    base: u64,
    end: u64,
    obj: usize,
    bias: u64,
}

struct Scanner {
    privileged: bool,
    zero_pfn: Option<u64>,
    cache: ObjectCache,
    /// Cache index -> index into `objs`.
    obj_of: HashMap<usize, usize>,
    objs: Vec<Obj>,
    anon: Acc,
    files: Acc,
    zero_mappings: u64,
    entries: Vec<PagemapEntry>,
}

impl Scanner {
    /// The object of file mapping `entry` of `pid`, planned once for the run.
    fn slot(&mut self, pid: i32, entry: &MapEntry, id: FileId) -> Result<Option<usize>> {
        let Lookup::Elf(c) = self.cache.file(pid, entry)? else {
            return Ok(None);
        };
        if let Some(&i) = self.obj_of.get(&c) {
            return Ok(Some(i));
        }
        let object = self.cache.get(c).clone();
        self.objs.push(Obj::new(id, object.path.clone(), &object));
        self.obj_of.insert(c, self.objs.len() - 1);
        Ok(Some(self.objs.len() - 1))
    }

    fn scan(&mut self, pid: i32) -> Result<(), Gone> {
        let maps = process::read_maps(pid).map_err(|e| process::classify(pid, e))?;
        // Objects of this process and where they sit.
        let mut placed: Vec<Placed> = Vec::new();
        let mut seen: Vec<FileId> = Vec::new();
        for m in &maps {
            let Some(id) = m.file_id() else { continue };
            if seen.contains(&id) {
                continue;
            }
            seen.push(id);
            let obj = match self.slot(pid, m, id) {
                Ok(Some(i)) => i,
                Ok(None) => continue,
                Err(e) => return Err(process::classify(pid, e)),
            };
            match attribute::place(&self.objs[obj].plan.plan, &maps, id) {
                Ok(p) => placed.push(Placed {
                    base: p.base.0,
                    end: p.end.0,
                    obj,
                    bias: p.bias,
                }),
                Err(reason) => {
                    let path = self.objs[obj].path.clone();
                    if !self.cache.skipped.iter().any(|s| s.path == path) {
                        self.cache.skipped.push(Skipped {
                            pid,
                            path,
                            kind: crate::error::ErrorKind::BadElf,
                            reason,
                        });
                    }
                }
            }
        }
        placed.sort_by_key(|p| p.base);
        let marks: Vec<(usize, [Mark; KINDS])> = placed
            .iter()
            .map(|p| (p.obj, self.objs[p.obj].kinds.each_ref().map(Acc::mark)))
            .collect();
        let (anon_mark, files_mark, zero_mark) =
            (self.anon.mark(), self.files.mark(), self.zero_mappings);
        match self.read_pages(pid, &maps, &placed) {
            Ok(()) => {
                let mut counted: Vec<usize> = placed.iter().map(|p| p.obj).collect();
                counted.sort_unstable();
                counted.dedup();
                for i in counted {
                    self.objs[i].procs += 1;
                }
                Ok(())
            }
            Err(e) => {
                for (obj, m) in marks {
                    for (acc, mark) in self.objs[obj].kinds.iter_mut().zip(m) {
                        acc.restore(mark);
                    }
                }
                self.anon.restore(anon_mark);
                self.files.restore(files_mark);
                self.zero_mappings = zero_mark;
                Err(process::classify(pid, e))
            }
        }
    }

    fn read_pages(&mut self, pid: i32, maps: &[MapEntry], placed: &[Placed]) -> Result<()> {
        let mut pm = Pagemap::open(pid)?;
        for m in maps {
            if m.is_pseudo("[vsyscall]") || m.is_empty() {
                continue;
            }
            for (from, to) in ranges_to_read(&pm, m.start.0, m.end.0)? {
                let mut at = from;
                while at < to {
                    let until = to.min(at + CHUNK_PAGES * PAGE_SIZE);
                    let mut entries = std::mem::take(&mut self.entries);
                    let read = pm.read_into(VirtAddr(at), (until - at) / PAGE_SIZE, &mut entries);
                    if let Err(e) = read {
                        self.entries = entries;
                        return Err(e);
                    }
                    self.account(m, at, until, &entries, placed);
                    self.entries = entries;
                    at = until;
                }
            }
        }
        if !self.privileged {
            let smaps = read_smaps(pid)?;
            for m in maps {
                let Some(fig) = smaps.get(&m.start.0) else {
                    continue;
                };
                match owner(placed, m.start.0) {
                    Some(p) => {
                        let k = self.objs[p.obj].kind_at(m.start.0.wrapping_sub(p.bias));
                        self.objs[p.obj].kinds[kind_index(k)].add_smaps(fig);
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
                self.account_plain(m, slice(words, start, cursor, s));
            }
            let own = m.file_id() == Some(self.objs[p.obj].id) && !m.perms.shared;
            self.account_object(p, own, s, slice(words, start, s, e));
            cursor = e;
        }
        if cursor < end {
            self.account_plain(m, slice(words, start, cursor, end));
        }
    }

    /// Memory outside every object: anonymous, or a file that is not an ELF object.
    fn account_plain(&mut self, m: &MapEntry, words: &[PagemapEntry]) {
        let (zero, privileged) = (self.zero_pfn, self.privileged);
        let acc = if is_file(m) {
            &mut self.files
        } else {
            &mut self.anon
        };
        let mut zero_seen = 0;
        for &e in words {
            if !e.present() {
                continue;
            }
            match e.pfn() {
                Some(Pfn(p)) if Some(p) == zero => zero_seen += 1,
                Some(Pfn(p)) => acc.frame(e, p),
                None if !privileged => acc.resident += 1,
                None => {}
            }
        }
        self.zero_mappings += zero_seen;
    }

    fn account_object(&mut self, p: &Placed, own: bool, from: u64, words: &[PagemapEntry]) {
        let (zero, privileged) = (self.zero_pfn, self.privileged);
        let obj = &mut self.objs[p.obj];
        for (i, &e) in words.iter().enumerate() {
            if !e.present() {
                continue;
            }
            let vaddr = (from + i as u64 * PAGE_SIZE).wrapping_sub(p.bias);
            let pfn = e.pfn().map(|p| p.0);
            if pfn.is_some() && pfn == zero {
                self.zero_mappings += 1;
                continue;
            }
            if privileged && pfn.is_none() {
                continue;
            }
            let acc = &mut obj.kinds[kind_index(obj.kind_at(vaddr))];
            match pfn {
                Some(p) => acc.frame(e, p),
                None => acc.resident += 1,
            }
            // An anonymous page in a private mapping of the object's own file is a copy
            // made by a write. Without frame numbers, a non-exclusive one may be the zero
            // page: only exclusive ones are counted then.
            let anon = !e.file_or_shared_anon();
            if own && anon && (privileged || e.exclusive()) {
                acc.private += 1;
            }
        }
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
fn slice<T>(words: &[T], start: u64, from: u64, to: u64) -> &[T] {
    let a = ((from - start) / PAGE_SIZE) as usize;
    let b = ((to - start) / PAGE_SIZE) as usize;
    words.get(a..b.min(words.len())).unwrap_or(&[])
}

/// Sorts `v` and returns its distinct values.
fn sort_dedup(v: &mut [u64]) -> Vec<u64> {
    v.sort_unstable();
    let mut d = v.to_vec();
    d.dedup();
    d
}

/// Runs the scan.
pub fn libs(opts: &LibsOptions) -> Result<LibsReport> {
    kernel::check_page_size()?;
    let privilege = kernel::detect_privilege();
    let own = std::process::id() as i32;
    let (pids, scope) = match &opts.scope {
        Scope::All => (
            process::list_pids()?
                .into_iter()
                .filter(|&p| p != own)
                .collect::<Vec<_>>(),
            ScopeName::All,
        ),
        Scope::Pids(p) => {
            let mut p = p.clone();
            let mut seen = std::collections::HashSet::new();
            p.retain(|x| seen.insert(*x));
            (p, ScopeName::Pids)
        }
    };
    let mut s = Scanner {
        privileged: privilege.frames(),
        zero_pfn: if privilege.frames() {
            kpage::zero_page_pfn().map(|p| p.0)
        } else {
            None
        },
        cache: ObjectCache::new(Detail::Kinds),
        obj_of: HashMap::new(),
        objs: Vec::new(),
        anon: Acc::default(),
        files: Acc::default(),
        zero_mappings: 0,
        entries: Vec::new(),
    };
    let bar = opts.progress.then(|| {
        let b = indicatif::ProgressBar::with_draw_target(
            Some(pids.len() as u64),
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("scanning {bar:40} {pos}/{len} processes {msg}")
        {
            b.set_style(style);
        }
        b
    });
    let mut counts = ProcessCounts::default();
    let mut errors = Vec::new();
    for &pid in &pids {
        match s.scan(pid) {
            Ok(()) => counts.scanned += 1,
            Err(Gone::NoMemoryMap) => {
                counts.no_memory_map += 1;
                errors.push(PidError {
                    pid,
                    kind: crate::error::ErrorKind::KernelThread,
                    message: format!(
                        "pid {pid} ({}) has no memory map (a kernel thread or a zombie)",
                        process::comm(pid)
                    ),
                });
            }
            Err(Gone::Vanished) => {
                counts.vanished += 1;
                errors.push(PidError::new(pid, &Error::NoSuchProcess { pid }));
            }
            Err(Gone::Unreadable(e)) => {
                counts.unreadable += 1;
                errors.push(PidError::new(pid, &e));
            }
        }
        if let Some(b) = &bar {
            b.inc(1);
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if matches!(opts.scope, Scope::All) {
        // Processes come and go on a live machine: counted, not reported one by one.
        errors.clear();
    } else if counts.scanned == 0 && !errors.is_empty() {
        return Err(Error::Usage(format!(
            "no process could be read: {}",
            errors
                .iter()
                .map(|e| e.message.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        )));
    }
    finish(s, privilege, scope, counts, errors)
}

fn finish(
    mut s: Scanner,
    privilege: kernel::Privilege,
    scope: ScopeName,
    processes: ProcessCounts,
    errors: Vec<PidError>,
) -> Result<LibsReport> {
    let privileged = s.privileged;
    let page = PAGE_SIZE as f64;
    // Non-exclusive frames of each object, sorted (for PSS) and distinct; and of
    // everything (for the machine's distinct frames).
    let mut shared_frames: Vec<u64> = Vec::new();
    let mut per_obj: Vec<(Vec<u64>, Vec<u64>)> = Vec::new();
    for o in &mut s.objs {
        let mut pages: Vec<u64> = Vec::new();
        for k in &mut o.kinds {
            pages.extend_from_slice(&k.pfns);
        }
        let distinct = sort_dedup(&mut pages);
        shared_frames.extend_from_slice(&distinct);
        per_obj.push((pages, distinct));
    }
    // kpagecount (page-table mappings of a frame, in every process) for PSS, only for the
    // non-exclusive frames of ELF objects: an exclusive frame is mapped once. When every
    // process was scanned, the mappings of a frame are the ones seen: no need to ask.
    let pss_source = match (privileged, scope) {
        (false, _) => PssSource::Smaps,
        (true, ScopeName::All) => PssSource::Frames,
        (true, ScopeName::Pids) => PssSource::Kpagecount,
    };
    let mapcounts: Vec<Vec<u64>> = if pss_source == PssSource::Kpagecount {
        per_obj
            .iter()
            .map(|(_, d)| kpage::counts(&d.iter().map(|&p| Pfn(p)).collect::<Vec<_>>()))
            .collect::<Result<_>>()?
    } else {
        vec![Vec::new(); per_obj.len()]
    };
    let mut rows = Vec::new();
    let mut obj_totals = Totals {
        frames: privileged.then_some(0),
        pss_pages: Some(0.0),
        ..Totals::default()
    };
    for ((o, (pages, distinct)), counts) in s.objs.iter_mut().zip(per_obj).zip(mapcounts) {
        if o.procs == 0 {
            continue;
        }
        let mut segments = std::collections::BTreeMap::new();
        let mut est = SmapsEstimate::default();
        for (kind, acc) in SegmentKind::ALL.iter().zip(o.kinds.iter_mut()) {
            let d = sort_dedup(&mut acc.pfns);
            est.rss_pages += acc.smaps.rss as f64 / page;
            est.pss_pages += acc.smaps.pss as f64 / page;
            est.shared_pages += acc.smaps.shared as f64 / page;
            est.private_pages += acc.smaps.private as f64 / page;
            if acc.resident > 0 || acc.private > 0 {
                segments.insert(
                    *kind,
                    KindFigures {
                        resident_pages: acc.resident,
                        frames: privileged.then_some(acc.exclusive + d.len() as u64),
                        private_pages: acc.private,
                    },
                );
            }
        }
        let private_of = |k: SegmentKind| o.kinds[kind_index(k)].private;
        let private = PrivateCopies {
            text: private_of(SegmentKind::Text) + private_of(SegmentKind::Rodata),
            relro: private_of(SegmentKind::Relro),
            data: private_of(SegmentKind::Data)
                + private_of(SegmentKind::Bss)
                + private_of(SegmentKind::Shared),
        };
        let resident: u64 = o.kinds.iter().map(|k| k.resident).sum();
        let exclusive: u64 = o.kinds.iter().map(|k| k.exclusive).sum();
        let (frames, saved, pss) = if privileged {
            let f = exclusive + distinct.len() as u64;
            let pss = exclusive as f64 + pss_of(&pages, &distinct, &counts);
            (Some(f), resident.saturating_sub(f) as f64, pss)
        } else {
            (
                None,
                (est.rss_pages - est.pss_pages).max(0.0),
                est.pss_pages,
            )
        };
        obj_totals.resident_pages += resident;
        if let (Some(t), Some(f)) = (obj_totals.frames.as_mut(), frames) {
            *t += f;
        }
        obj_totals.saved_pages += saved;
        if let Some(p) = obj_totals.pss_pages.as_mut() {
            *p += pss;
        }
        rows.push(LibRow {
            path: o.path.clone(),
            dev: format!("{:02x}:{:02x}", o.id.dev.0, o.id.dev.1),
            inode: o.id.inode,
            soname: o.soname.clone(),
            procs: o.procs,
            resident_pages: resident,
            frames,
            saved_pages: saved,
            pss_pages: pss,
            private,
            textrel: o.textrel,
            segments,
            estimate: (!privileged).then_some(est),
        });
    }
    let obj_exclusive: u64 = s
        .objs
        .iter()
        .flat_map(|o| o.kinds.iter())
        .map(|k| k.exclusive)
        .sum();
    let bucket = |acc: &mut Acc, all: &mut Vec<u64>| -> Totals {
        if privileged {
            let d = sort_dedup(&mut acc.pfns);
            all.extend_from_slice(&d);
            let f = acc.exclusive + d.len() as u64;
            Totals {
                resident_pages: acc.resident,
                frames: Some(f),
                saved_pages: acc.resident.saturating_sub(f) as f64,
                pss_pages: None,
            }
        } else {
            let (rss, pss) = (acc.smaps.rss as f64 / page, acc.smaps.pss as f64 / page);
            Totals {
                resident_pages: acc.resident,
                frames: None,
                saved_pages: (rss - pss).max(0.0),
                pss_pages: Some(pss),
            }
        }
    };
    let anonymous = bucket(&mut s.anon, &mut shared_frames);
    let other_files = bucket(&mut s.files, &mut shared_frames);
    let resident =
        obj_totals.resident_pages + anonymous.resident_pages + other_files.resident_pages;
    let all = if privileged {
        shared_frames.sort_unstable();
        shared_frames.dedup();
        let f = obj_exclusive + s.anon.exclusive + s.files.exclusive + shared_frames.len() as u64;
        Totals {
            resident_pages: resident,
            frames: Some(f),
            saved_pages: resident.saturating_sub(f) as f64,
            pss_pages: None,
        }
    } else {
        Totals {
            resident_pages: resident,
            frames: None,
            saved_pages: obj_totals.saved_pages + anonymous.saved_pages + other_files.saved_pages,
            pss_pages: None,
        }
    };
    Ok(LibsReport {
        schema: LIBS_SCHEMA.into(),
        privileged,
        privilege_note: privilege.note,
        mode: if privileged {
            Mode::Frames
        } else {
            Mode::Estimate
        },
        pss_source,
        scope,
        kernel: kernel::config::kernel_facts(),
        page_size: PAGE_SIZE,
        processes,
        errors,
        totals: MachineTotals {
            objects: rows.len() as u32,
            elf_objects: obj_totals,
            anonymous,
            other_files,
            all,
            zero_page_mappings: s.zero_mappings,
        },
        objects: rows,
        skipped: s.cache.skipped,
    })
}

/// PSS of the non-exclusive pages: each of the `pages` (sorted frame numbers, one per
/// mapping) counts 1/mapcount of its frame. `counts[i]` is the kpagecount of
/// `distinct[i]`; a frame seen more often than the kernel counts (it changed during the
/// scan) counts as mapped that often.
fn pss_of(pages: &[u64], distinct: &[u64], counts: &[u64]) -> f64 {
    let mut pss = 0.0;
    let mut i = 0;
    for (k, &frame) in distinct.iter().enumerate() {
        let run = pages[i..].iter().take_while(|&&p| p == frame).count() as u64;
        i += run as usize;
        let count = counts.get(k).copied().unwrap_or(run).max(run).max(1);
        pss += run as f64 / count as f64;
    }
    pss
}

impl LibsReport {
    /// Orders the objects by `key`, largest first (ties by path), and keeps the first
    /// `top` (0 keeps all).
    pub fn sort(&mut self, key: SortKey, reverse: bool, top: usize) {
        let value = |r: &LibRow| -> f64 {
            match key {
                SortKey::Saved => r.saved_pages,
                SortKey::Resident => r.resident_pages as f64,
                SortKey::Frames => r.frames.map_or(r.pss_pages, |f| f as f64),
                SortKey::Pss => r.pss_pages,
                SortKey::Procs => r.procs as f64,
                SortKey::Private => r.private.total() as f64,
                SortKey::Object => 0.0,
            }
        };
        // Largest first (paths alphabetically), or the other way with --reverse.
        self.objects.sort_by(|a, b| {
            let order = if key == SortKey::Object {
                b.path.cmp(&a.path)
            } else {
                value(b)
                    .total_cmp(&value(a))
                    .then_with(|| a.path.cmp(&b.path))
            };
            if reverse != (key == SortKey::Object) {
                order.reverse()
            } else {
                order
            }
        });
        if top > 0 {
            self.objects.truncate(top);
        }
    }
}

/// Pages as a human size.
fn size(pages: f64) -> String {
    let bytes = pages * PAGE_SIZE as f64;
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{v:.0} {}", units[u])
    } else {
        format!("{v:.1} {}", units[u])
    }
}

fn short_path(p: &str, width: usize) -> String {
    let n = p.chars().count();
    if n <= width {
        p.to_string()
    } else {
        let tail: String = p.chars().skip(n - (width - 1)).collect();
        format!("…{tail}")
    }
}

/// The human table. `hidden` is how many objects `--top` left out.
pub fn render(r: &LibsReport, hidden: usize) -> String {
    let mut o = String::new();
    let p = &r.processes;
    let _ = writeln!(
        o,
        "solab libs: {} processes scanned ({} vanished during the scan, {} unreadable, {} without a memory map)",
        p.scanned, p.vanished, p.unreadable, p.no_memory_map
    );
    if r.privileged {
        let _ = writeln!(
            o,
            "frames compared by PFN; PSS from {}; sizes in {}-byte pages summed over processes",
            if r.pss_source == PssSource::Kpagecount {
                "/proc/kpagecount"
            } else {
                "the frames seen in every process"
            },
            r.page_size
        );
    } else {
        let _ = writeln!(
            o,
            "ESTIMATES: {}\n  SAVED and PSS are smaps figures (Rss - Pss, Pss), FRAMES are unknown; \
             PRIVATE counts exclusive anonymous pages from pagemap bits",
            r.privilege_note.as_deref().unwrap_or("not privileged")
        );
    }
    let _ = writeln!(o);
    let width = r
        .objects
        .iter()
        .map(|x| x.path.chars().count())
        .max()
        .unwrap_or(6)
        .clamp(6, 48);
    let saved_head = if r.privileged { "SAVED" } else { "SAVED~" };
    let pss_head = if r.privileged { "PSS" } else { "PSS~" };
    let _ = writeln!(
        o,
        "{:<width$} {:>5} {:>10} {:>10} {:>10} {:>10}  PRIVATE text/relro/data",
        "OBJECT", "PROCS", "RESIDENT", "FRAMES", saved_head, pss_head
    );
    for x in &r.objects {
        let _ = writeln!(
            o,
            "{:<width$} {:>5} {:>10} {:>10} {:>10} {:>10}  {}/{}/{}{}",
            short_path(&x.path, width),
            x.procs,
            size(x.resident_pages as f64),
            x.frames.map_or("?".to_string(), |f| size(f as f64)),
            size(x.saved_pages),
            size(x.pss_pages),
            x.private.text,
            x.private.relro,
            x.private.data,
            if x.textrel { "  TEXTREL" } else { "" }
        );
    }
    if hidden > 0 {
        let _ = writeln!(o, "({hidden} more objects; --top 0 shows them all)");
    }
    let t = &r.totals;
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "{:<24} {:>10} {:>10} {:>10}",
        "TOTALS", "RESIDENT", "FRAMES", saved_head
    );
    let line = |o: &mut String, name: &str, t: &Totals| {
        let _ = writeln!(
            o,
            "{:<24} {:>10} {:>10} {:>10}",
            name,
            size(t.resident_pages as f64),
            t.frames.map_or("?".to_string(), |f| size(f as f64)),
            size(t.saved_pages)
        );
    };
    line(
        &mut o,
        &format!("ELF objects ({})", t.objects),
        &t.elf_objects,
    );
    line(&mut o, "anonymous memory", &t.anonymous);
    line(&mut o, "other files", &t.other_files);
    line(&mut o, "all", &t.all);
    if t.zero_page_mappings > 0 {
        let _ = writeln!(
            o,
            "({} mappings of the kernel's zero page are not counted: nobody holds that memory)",
            t.zero_page_mappings
        );
    }
    for x in r.objects.iter().filter(|x| x.textrel) {
        let _ = writeln!(
            o,
            "TEXTREL: {} has text relocations: the loader patches its text, making {} private text page(s) over {} process(es)",
            x.path, x.private.text, x.procs
        );
    }
    if !r.skipped.is_empty() {
        let _ = writeln!(o, "not analyzed:");
        for s in &r.skipped {
            let _ = writeln!(o, "  {}: {}", s.path, s.reason);
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(size(0.0), "0 B");
        assert_eq!(size(1.0), "4.0 KiB");
        assert_eq!(size(256.0), "1.0 MiB");
    }

    #[test]
    fn slices_of_a_mapping() {
        let w: Vec<u64> = (0..4).collect();
        assert_eq!(slice(&w, 0x1000, 0x2000, 0x4000), &[1, 2]);
        assert_eq!(slice(&w, 0x1000, 0x4000, 0x9000), &[3]);
    }

    #[test]
    fn own_scan_sees_libc() {
        let r = libs(&LibsOptions {
            scope: Scope::Pids(vec![std::process::id() as i32]),
            progress: false,
        })
        .expect("scan self");
        assert_eq!(r.processes.scanned, 1);
        let libc = r
            .objects
            .iter()
            .find(|o| o.path.contains("libc.so"))
            .expect("libc row");
        assert_eq!(libc.procs, 1);
        assert!(libc.resident_pages > 0);
    }
}
