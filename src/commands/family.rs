//! `solab family PID`: a process and its descendants, and for each child what became of
//! the anonymous memory it inherited through fork: per private mapping it has at the same
//! address as its parent (heap, arenas, stacks, each object's data), the pages that are
//! still the parent's frame, the ones copied since, and new ones ([`Inheritance`]).
//!
//! As root the pages are compared by frame number (same frame at the same address);
//! without CAP_SYS_ADMIN only pagemap bit 56 remains: a page with the bit clear in child
//! and parent "looks inherited" (weak), as a frame shared with a sibling, KSM or the zero
//! page looks the same.

use crate::addr::{PAGE_SIZE, Pfn, VirtAddr};
use crate::attribute::MappingKind;
use crate::error::{Error, Result};
use crate::kernel::pagemap::{CHUNK_PAGES, Pagemap, ranges_to_read};
use crate::kernel::process::{self, Gone};
use crate::kernel::{self, Evidence, kpage};
use crate::maps::{MapEntry, MapTarget};
use crate::pagemap::{FrameInfo, PagemapEntry};
use crate::scan::{self, PidError};
use crate::sharing::{self, Copy, Inheritance, PageState};
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
pub struct PageRun {
    pub start: u64,
    pub pages: u64,
    pub look: PageLook,
}

impl PageRun {
    pub fn end(&self) -> u64 {
        self.start + self.pages * PAGE_SIZE
    }
}

/// Adds the page at `addr` to `runs`, extending the last run when it continues it.
fn push_run(runs: &mut Vec<PageRun>, addr: u64, look: PageLook) {
    if let Some(last) = runs.last_mut()
        && last.end() == addr
        && last.look == look
    {
        last.pages += 1;
        return;
    }
    runs.push(PageRun {
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
    /// The parent has the same mapping at the same address (false: made after fork, all
    /// its pages are new).
    pub inherited: bool,
    #[serde(flatten)]
    pub pages: Inherited,
    /// Page by page, only when asked for a picture ([`family_pictured`]); not in the JSON,
    /// whose size stays bounded by the number of mappings.
    #[serde(skip)]
    pub runs: Vec<PageRun>,
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
    pub own: Vec<PageRun>,
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
        if let Ok(s) = process::stat(pid) {
            children.entry(s.ppid).or_default().push(pid);
        }
    }
    let ppid = process::stat(root).map(|s| s.ppid)?;
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
struct Read {
    pid: i32,
    ppid: i32,
    depth: u32,
    /// `None`: it could not be read (its error is recorded).
    maps: Option<Vec<MapEntry>>,
}

/// Whether a mapping may hold pages a child inherited: private, not empty, not the
/// kernel's `[vsyscall]` or `[vvar]`.
fn holds_private_pages(m: &MapEntry) -> bool {
    !(m.perms.shared || m.is_empty() || m.is_pseudo("[vsyscall]") || m.is_pseudo("[vvar]"))
}

/// A pagemap word that can be an anonymous copy: present, not a file page.
fn anon_word(e: PagemapEntry) -> bool {
    e.present() && !e.file_or_shared_anon()
}

fn name(m: &MapEntry) -> String {
    match &m.target {
        MapTarget::File { path, .. } => path.to_string_lossy().into_owned(),
        MapTarget::Pseudo(p) => p.clone(),
        MapTarget::Anonymous => "[anon]".into(),
    }
}

/// One chunk of at most [`CHUNK_PAGES`] pages: a process's words, its parent's at the
/// same addresses, and what kpagecount/kpageflags say about their frames. One per worker,
/// reused chunk after chunk: a worker's memory is bounded by the chunk, whatever the
/// family's size.
struct Chunk {
    privileged: bool,
    /// Opened on first use (root only).
    tables: Option<kpage::FrameTables>,
    mine: Vec<PagemapEntry>,
    /// The parent's words, only over the part of the chunk its mapping covers.
    theirs: Vec<PagemapEntry>,
    /// The frames of `mine` and `theirs`, sorted and distinct, and their kernel words.
    pfns: Vec<Pfn>,
    info: Vec<FrameInfo>,
}

impl Chunk {
    fn new(privileged: bool) -> Chunk {
        Chunk {
            privileged,
            tables: None,
            mine: Vec::new(),
            theirs: Vec::new(),
            pfns: Vec::new(),
            info: Vec::new(),
        }
    }

    /// Reads kpagecount and kpageflags for the frames of the anonymous words of `mine` and
    /// `theirs` (privileged only).
    fn read_frames(&mut self) -> Result<()> {
        self.pfns.clear();
        self.info.clear();
        if !self.privileged {
            return Ok(());
        }
        for (i, &e) in self.mine.iter().enumerate() {
            let Some(p) = e.pfn().filter(|_| anon_word(e)) else {
                continue;
            };
            self.pfns.push(p);
            // The parent's frame, unless it is the same (the common case, once for both).
            if let Some(q) = self.theirs.get(i).filter(|w| anon_word(**w)).and_then(|w| w.pfn())
                && q != p
            {
                self.pfns.push(q);
            }
        }
        self.pfns.sort_unstable();
        self.pfns.dedup();
        let tables = match &mut self.tables {
            Some(t) => t,
            None => self.tables.insert(kpage::FrameTables::open()?),
        };
        tables.read_into(&self.pfns, &mut self.info)
    }

    /// The decided copy of a page whose word is `e`, with the frames of this chunk.
    fn copy_of(&self, e: PagemapEntry) -> Copy {
        let pfn = e.pfn().filter(|_| self.privileged);
        let frame = pfn
            .and_then(|p| kpage::FrameTables::find(&self.pfns, &self.info, p))
            .map(|f| (f.flags, f.mapcount));
        Copy {
            state: sharing::page_state(Some(MappingKind::Anonymous), e, frame),
            pfn,
            exclusive: e.exclusive(),
        }
    }
}

/// Why a comparison stopped: a process could not be read (which one), or the kernel's
/// frame tables could not be.
enum Failure {
    Member(i32, Error),
    Fatal(Error),
}

/// Calls `each(chunk, at)` for each chunk of the mapping `m` of `pm`'s process worth
/// reading, with `chunk.mine` holding the words from address `at` on; `theirs` (the
/// parent's pagemap and the end of its mapping at the same start) fills `chunk.theirs`
/// over the same addresses up to that end.
fn each_chunk(
    chunk: &mut Chunk,
    (pm, pid): (&mut Pagemap, i32),
    m: &MapEntry,
    mut theirs: Option<(&mut Pagemap, i32, u64)>,
    mut each: impl FnMut(&Chunk, u64),
) -> std::result::Result<(), Failure> {
    let mine = |e| Failure::Member(pid, e);
    for (from, to) in ranges_to_read(pm, m.start.0, m.end.0).map_err(mine)? {
        let mut at = from;
        while at < to {
            let until = to.min(at + CHUNK_PAGES * PAGE_SIZE);
            pm.read_into(VirtAddr(at), (until - at) / PAGE_SIZE, &mut chunk.mine)
                .map_err(mine)?;
            chunk.theirs.clear();
            if let Some((ppm, ppid, end)) = theirs.as_mut() {
                let end = until.min(*end);
                if end > at {
                    ppm.read_into(VirtAddr(at), (end - at) / PAGE_SIZE, &mut chunk.theirs)
                        .map_err(|e| Failure::Member(*ppid, e))?;
                }
            }
            chunk.read_frames().map_err(Failure::Fatal)?;
            each(chunk, at);
            at = until;
        }
    }
    Ok(())
}

/// Compares `child` with `parent` page by page, chunk by chunk, at the same addresses.
fn compare(
    chunk: &mut Chunk,
    child: (i32, &[MapEntry]),
    parent: (i32, &[MapEntry]),
    pictured: bool,
) -> std::result::Result<Vec<MappingFigures>, Failure> {
    let mut pm = Pagemap::open(child.0).map_err(|e| Failure::Member(child.0, e))?;
    let mut ppm = Pagemap::open(parent.0).map_err(|e| Failure::Member(parent.0, e))?;
    let mut out = Vec::new();
    for m in child.1 {
        if !holds_private_pages(m) {
            continue;
        }
        let theirs = parent
            .1
            .iter()
            .find(|p| p.start == m.start && !p.perms.shared && p.target == m.target);
        let mut pages = Inherited::default();
        let mut runs = Vec::new();
        each_chunk(
            chunk,
            (&mut pm, child.0),
            m,
            theirs.map(|p| (&mut ppm, parent.0, p.end.0)),
            |c, at| {
                for (i, &e) in c.mine.iter().enumerate() {
                    if !anon_word(e) {
                        continue;
                    }
                    let mine = c.copy_of(e);
                    let at_parent = c
                        .theirs
                        .get(i)
                        .filter(|w| anon_word(**w))
                        .map(|&w| c.copy_of(w));
                    if let Some(inh) = sharing::inheritance(&mine, at_parent.as_ref()) {
                        pages.count(inh);
                        if pictured {
                            push_run(
                                &mut runs,
                                at + i as u64 * PAGE_SIZE,
                                PageLook::Inherited(inh),
                            );
                        }
                    }
                }
            },
        )?;
        if !pages.is_empty() {
            out.push(MappingFigures {
                start: m.start.0,
                end: m.end.0,
                perms: m.perms.to_string(),
                name: name(m),
                inherited: theirs.is_some(),
                pages,
                runs,
            });
        }
    }
    Ok(out)
}

/// The root's own anonymous pages (what a child could inherit), as runs for a picture.
fn own_runs(
    chunk: &mut Chunk,
    pid: i32,
    maps: &[MapEntry],
) -> std::result::Result<Vec<PageRun>, Failure> {
    let mut pm = Pagemap::open(pid).map_err(|e| Failure::Member(pid, e))?;
    let mut own = Vec::new();
    for m in maps.iter().filter(|m| holds_private_pages(m)) {
        each_chunk(chunk, (&mut pm, pid), m, None, |c, at| {
            for (i, &e) in c.mine.iter().enumerate() {
                if !anon_word(e) {
                    continue;
                }
                let copy = c.copy_of(e);
                // An anonymous page: not the zero page, no file.
                if sharing::inheritance(&copy, None).is_some() {
                    push_run(&mut own, at + i as u64 * PAGE_SIZE, PageLook::Own(copy.state));
                }
            }
        })?;
    }
    Ok(own)
}

/// Why `pid` could not be read, naming it.
fn member_error(pid: i32, e: Error) -> PidError {
    let e = match process::classify(pid, e) {
        Gone::Vanished => Error::NoSuchProcess { pid },
        Gone::NoMemoryMap => Error::KernelThread {
            pid,
            comm: process::comm(pid),
        },
        Gone::Unreadable(e) => e,
    };
    let mut pe = PidError::new(pid, &e);
    if !pe.message.contains(&format!("pid {pid}")) {
        pe.message = format!("pid {pid}: {}", pe.message);
    }
    pe
}

/// Reads the family of `root` and compares each child with its parent.
pub fn family(root: i32) -> Result<FamilyReport> {
    read_family(root, false)
}

/// The same, keeping every page (as runs) for a picture: memory grows with the number of
/// runs of alike pages, where [`family`] keeps only counts.
pub fn family_pictured(root: i32) -> Result<FamilyReport> {
    read_family(root, true)
}

fn read_family(root: i32, pictured: bool) -> Result<FamilyReport> {
    kernel::check_page_size()?;
    let privilege = kernel::detect_privilege();
    let privileged = privilege.frames();
    if !process::exists(root) {
        return Err(Error::NoSuchProcess { pid: root });
    }
    // Every member's memory map first (small): a member that cannot be read is an error of
    // its own, and its children are compared with nobody.
    let mut failed: Vec<Option<PidError>> = Vec::new();
    let mut read = Vec::new();
    for (pid, ppid, depth) in descendants(root)? {
        let maps = process::read_maps(pid).and_then(|m| Pagemap::open(pid).map(|_| m));
        let maps = match maps {
            Ok(m) => Some(m),
            Err(e) if pid == root => return Err(e),
            Err(e) => {
                failed.push(Some(member_error(pid, e)));
                None
            }
        };
        if maps.is_some() {
            failed.push(None);
        }
        read.push(Read {
            pid,
            ppid,
            depth,
            maps,
        });
    }
    let index: HashMap<i32, usize> = read.iter().enumerate().map(|(i, r)| (r.pid, i)).collect();
    // Then each child with its parent (and, for a picture, the root alone), chunk by chunk,
    // on every core: children do not depend on one another.
    let pids: Vec<i32> = read.iter().map(|r| r.pid).collect();
    let (_, results) = scan::each_process(
        &pids,
        scan::threads(0),
        || Chunk::new(privileged),
        |chunk, i, _| {
            let me = &read[i];
            let Some(maps) = &me.maps else {
                return Ok((Vec::new(), Vec::new()));
            };
            if me.depth == 0 {
                return match pictured {
                    true => own_runs(chunk, me.pid, maps).map(|own| (Vec::new(), own)),
                    false => Ok((Vec::new(), Vec::new())),
                };
            }
            let parent = index.get(&me.ppid).map(|&k| &read[k]);
            match parent.and_then(|p| Some((p.pid, p.maps.as_deref()?))) {
                Some(parent) => {
                    compare(chunk, (me.pid, maps), parent, pictured).map(|m| (m, Vec::new()))
                }
                None => Ok((Vec::new(), Vec::new())),
            }
        },
    );
    let mut found = Vec::with_capacity(read.len());
    for (i, result) in results.into_iter().enumerate() {
        found.push(match result {
            Ok(r) => Some(r),
            Err(Failure::Fatal(e)) => return Err(e),
            Err(Failure::Member(pid, e)) if pid == root => return Err(e),
            Err(Failure::Member(pid, e)) => {
                // The member itself, or its parent, could not be read any more: that one
                // is an error, and a child whose parent it is compares with nobody.
                let k = index.get(&pid).copied().unwrap_or(i);
                if failed[k].is_none() {
                    failed[k] = Some(member_error(pid, e));
                }
                (k != i).then(|| (Vec::new(), Vec::new()))
            }
        });
    }
    let mut processes = Vec::new();
    let mut totals = Inherited::default();
    let mut errors = Vec::new();
    for (i, (r, result)) in read.iter().zip(found).enumerate() {
        if let Some(e) = failed[i].take() {
            errors.push(e);
            continue;
        }
        let Some((mappings, own)) = result else {
            continue;
        };
        let mut t = Inherited::default();
        for m in &mappings {
            t.add(&m.pages);
        }
        totals.add(&t);
        processes.push(Member {
            pid: r.pid,
            ppid: r.ppid,
            comm: process::comm(r.pid),
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
