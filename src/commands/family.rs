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
use crate::pagemap::PagemapEntry;
use crate::scan::PidError;
use crate::sharing::{self, Copy, Inheritance, PageState};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

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

/// One process: its private mappings and their present pages that are not file pages.
struct Snapshot {
    maps: Vec<MapEntry>,
    /// Page address -> pagemap word, for present pages of private mappings.
    words: BTreeMap<u64, PagemapEntry>,
}

fn snapshot(pid: i32) -> Result<Snapshot> {
    let maps = process::read_maps(pid)?;
    let mut pm = Pagemap::open(pid)?;
    let mut words = BTreeMap::new();
    let mut buf = Vec::new();
    for m in &maps {
        if m.perms.shared || m.is_empty() || m.is_pseudo("[vsyscall]") || m.is_pseudo("[vvar]") {
            continue;
        }
        for (from, to) in ranges_to_read(&pm, m.start.0, m.end.0)? {
            let mut at = from;
            while at < to {
                let until = to.min(at + CHUNK_PAGES * PAGE_SIZE);
                pm.read_into(VirtAddr(at), (until - at) / PAGE_SIZE, &mut buf)?;
                for (i, e) in buf.iter().enumerate() {
                    if e.present() && !e.file_or_shared_anon() {
                        words.insert(at + i as u64 * PAGE_SIZE, *e);
                    }
                }
                at = until;
            }
        }
    }
    Ok(Snapshot { maps, words })
}

fn name(m: &MapEntry) -> String {
    match &m.target {
        MapTarget::File { path, .. } => path.to_string_lossy().into_owned(),
        MapTarget::Pseudo(p) => p.clone(),
        MapTarget::Anonymous => "[anon]".into(),
    }
}

/// The decided copy of the page at `addr`.
fn copy_of(
    e: PagemapEntry,
    frames: &HashMap<Pfn, crate::pagemap::FrameInfo>,
    privileged: bool,
) -> Copy {
    let pfn = e.pfn().filter(|_| privileged);
    let frame = pfn
        .and_then(|p| frames.get(&p))
        .map(|f| (f.flags, f.mapcount));
    Copy {
        state: sharing::page_state(Some(MappingKind::Anonymous), e, frame),
        pfn,
        exclusive: e.exclusive(),
    }
}

fn compare(
    child: &Snapshot,
    parent: &Snapshot,
    frames: &HashMap<Pfn, crate::pagemap::FrameInfo>,
    privileged: bool,
    pictured: bool,
) -> Vec<MappingFigures> {
    let mut out = Vec::new();
    for m in &child.maps {
        if m.perms.shared {
            continue;
        }
        let theirs = parent
            .maps
            .iter()
            .find(|p| p.start == m.start && !p.perms.shared && p.target == m.target);
        let mut pages = Inherited::default();
        let mut runs = Vec::new();
        for (&addr, &e) in child.words.range(m.start.0..m.end.0) {
            let mine = copy_of(e, frames, privileged);
            let at_parent = theirs
                .filter(|p| addr < p.end.0)
                .and_then(|_| parent.words.get(&addr))
                .map(|&w| copy_of(w, frames, privileged));
            if let Some(i) = sharing::inheritance(&mine, at_parent.as_ref()) {
                pages.count(i);
                if pictured {
                    push_run(&mut runs, addr, PageLook::Inherited(i));
                }
            }
        }
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
    out
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
    let tree = descendants(root)?;
    let mut snaps: HashMap<i32, Snapshot> = HashMap::new();
    let mut errors = Vec::new();
    for &(pid, _, _) in &tree {
        match snapshot(pid) {
            Ok(s) => {
                snaps.insert(pid, s);
            }
            Err(e) if pid == root => return Err(e),
            Err(e) => {
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
                errors.push(pe);
            }
        }
    }
    let frames = if privileged {
        let pfns: Vec<Pfn> = snaps
            .values()
            .flat_map(|s| s.words.values().filter_map(|e| e.pfn()))
            .collect();
        kpage::frames(&pfns)?
    } else {
        HashMap::new()
    };
    let mut processes = Vec::new();
    let mut totals = Inherited::default();
    for &(pid, ppid, depth) in &tree {
        let Some(me) = snaps.get(&pid) else { continue };
        let mappings = match (depth, snaps.get(&ppid)) {
            (0, _) | (_, None) => Vec::new(),
            (_, Some(parent)) => compare(me, parent, &frames, privileged, pictured),
        };
        let mut own = Vec::new();
        if pictured && depth == 0 {
            for (&addr, &e) in &me.words {
                let c = copy_of(e, &frames, privileged);
                // An anonymous page (what a child could inherit): not the zero page, no file.
                if sharing::inheritance(&c, None).is_some() {
                    push_run(&mut own, addr, PageLook::Own(c.state));
                }
            }
        }
        let mut t = Inherited::default();
        for m in &mappings {
            t.add(&m.pages);
        }
        totals.add(&t);
        processes.push(Member {
            pid,
            ppid,
            comm: process::comm(pid),
            depth,
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
