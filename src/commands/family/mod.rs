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
//! A child's pages are compared only with evidence that it came from a fork of its parent
//! with no exec since ([`Lineage`]); one that exec'd inherited nothing. Memory shared by
//! design (MAP_SHARED: shared anonymous memory, memfd, /dev/shm, System V) is not inherited
//! page by page but mapped by each member: it is counted as its own kind, resident per
//! member and once per page for the family ([`shared`]).
//!
//! The run: the family found in one pass of the door over /proc ([`members`]), the root
//! read, then the children of each parent compared with it in litters on `--threads`
//! workers of the door's pool ([`litter`]): the door opens each litter's parent for its job,
//! which opens the children at the door ([`scan::hold`]); each member is closed when its
//! job is done, and a failure is classified by the door. The report comes out in tree
//! order whichever finished first.

mod lineage;
mod litter;
mod members;
mod shared;

use crate::addr::PAGE_SIZE;
use crate::commands::prove::families::fork_top;
use crate::error::{Error, Result};
use crate::kernel::process::{Gone, ProcDir};
use crate::kernel::{self, Evidence};
use crate::scan::{self, Door, PidError, Visit};
use crate::sharing::{Inheritance, Lineage, PageState};
use litter::{KidFigures, LITTER, LitterWorker, Stop};
use members::Found;
pub use members::Tree;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The schema `solab family --json` prints (described in the reference).
pub const FAMILY_SCHEMA: &str = "solab.family.v2";

/// Anonymous pages by [`Inheritance`], in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inherited {
    pub parents_frame: u64,
    pub copied: u64,
    pub new: u64,
    /// Weak only (no frame numbers): bit 56 clear in child and parent.
    pub looks_inherited: u64,
    /// KSM-merged frames: never the parent's.
    pub ksm: u64,
}

impl Inherited {
    fn count(&mut self, i: Inheritance) {
        let slot = match i {
            Inheritance::ParentsFrame => &mut self.parents_frame,
            Inheritance::Copied => &mut self.copied,
            Inheritance::New => &mut self.new,
            Inheritance::LooksInherited => &mut self.looks_inherited,
            Inheritance::Ksm => &mut self.ksm,
        };
        *slot += PAGE_SIZE;
    }
    fn add(&mut self, o: &Inherited) {
        self.parents_frame += o.parents_frame;
        self.copied += o.copied;
        self.new += o.new;
        self.looks_inherited += o.looks_inherited;
        self.ksm += o.ksm;
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

/// What a picture of the family (`--svg`) needs beyond the report: page by page, as runs.
/// Its size grows with the runs of alike pages, so it is kept apart from the report (whose
/// size is bounded by the number of mappings) and made only when asked.
#[derive(Clone, Debug, Default)]
pub struct FamilyPictures {
    /// The root's own anonymous pages in its private mappings.
    pub own: Vec<LookRun>,
    /// Each child's pages of one of its mappings, by (pid, the mapping's start).
    pub runs: HashMap<(i32, u64), Vec<LookRun>>,
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
    /// How it is known to come from a fork of its parent ([`Lineage`]); `None` for the root
    /// and where the parent could not be read.
    pub fork: Option<Lineage>,
    /// Its resident pages of MAP_SHARED mappings, in bytes (smaps `Rss` of those mappings).
    pub shared_memory: u64,
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
    /// The resident pages of MAP_SHARED mappings of every member, each page of a file
    /// (device, inode, offset) once, in bytes.
    pub shared_memory: u64,
    /// Descendants that could not be read.
    pub errors: Vec<PidError>,
}

/// Reads the family of `root` and compares each child with its parent, on `threads`
/// workers ([`scan::threads`]: 0 is one per CPU). Memory is bounded by the workers' windows
/// and litters, not by the family's size (but for one entry per member).
pub fn family(root: i32, threads: usize) -> Result<FamilyReport> {
    read_family(root, None, threads, false).map(|(r, _)| r)
}

/// The same, its members found in `tree` (one pass over /proc for many families) instead
/// of a pass of its own.
pub fn family_in(root: i32, tree: &Tree, threads: usize) -> Result<FamilyReport> {
    read_family(root, Some(tree), threads, false).map(|(r, _)| r)
}

/// The same, with every page (as runs) for a picture: that memory grows with the number of
/// runs of alike pages, where [`family`] keeps only counts.
pub fn family_pictured(root: i32, threads: usize) -> Result<(FamilyReport, FamilyPictures)> {
    read_family(root, None, threads, true)
}

/// Whose child the only process of a family is (one without children), for the text: its
/// parent's command name, and the root of its fork family with its command name. Not in the
/// report; read by [`leaf`] after the family, each process at the door.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leaf {
    pub pid: i32,
    pub parent: (i32, String),
    /// Its fork family's root ([`fork_top`]), where its executable could be read.
    pub top: Option<(i32, String)>,
}

/// The [`Leaf`] of a family of one process that has a parent and was read without error.
pub fn leaf(report: &FamilyReport) -> Option<Leaf> {
    let [only] = report.processes.as_slice() else {
        return None;
    };
    if !report.errors.is_empty() || only.ppid <= 0 {
        return None;
    }
    let comm_of = |pid: i32| match scan::visit(pid, 0, Door::default(), |o| Ok(o.dir.comm())) {
        Visit::Read(comm) => comm,
        Visit::Other | Visit::Gone(_) => "?".to_string(),
    };
    let top = fork_top(only.pid);
    Some(Leaf {
        pid: only.pid,
        parent: (only.ppid, comm_of(only.ppid)),
        top: top.map(|t| (t, comm_of(t))),
    })
}

/// What one litter job gave, its parent read: per child (its index among the members) its
/// figures or why it could not be read; or the error that ends the run (the kernel's frame
/// tables could not be read). A parent that could not be read is the door's [`Visit::Gone`].
enum JobOut {
    Kids(Vec<(usize, std::result::Result<KidFigures, PidError>)>),
    Fatal(Error),
}

/// The litters: each parent's children spread over the workers, at most [`litter_size`] to
/// a litter, as (parent, children), indices among `found`.
fn plan(found: &[Found], threads: usize) -> Vec<(usize, Vec<usize>)> {
    let most = litter_size(threads);
    let mut litters: HashMap<i32, Vec<usize>> = HashMap::new();
    for (k, f) in found.iter().enumerate().skip(1) {
        litters.entry(f.ppid).or_default().push(k);
    }
    let mut jobs = Vec::new();
    for (p, f) in found.iter().enumerate() {
        let Some(kids) = litters.get(&f.pid) else {
            continue;
        };
        let per = kids.len().div_ceil(threads).clamp(1, most);
        jobs.extend(kids.chunks(per).map(|c| (p, c.to_vec())));
    }
    jobs
}

/// The most children in one litter: [`LITTER`], fewer where the open-file limit would not
/// hold every worker's litter open at once (three descriptors a member: its directory and
/// pagemap, which holds its own), leaving half the limit to the rest.
fn litter_size(threads: usize) -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct given, nothing else.
    let soft = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        lim.rlim_cur
    } else {
        1024
    };
    let budget = (soft / 2) as usize / threads.max(1) / 3;
    budget.saturating_sub(1).clamp(1, LITTER)
}

/// One litter job: reads the parent the door opened as `dir`, opens the children at the
/// door, compares them, closes them. `Err`: the parent could not be read (the door says
/// why).
fn run_job(
    w: &mut LitterWorker,
    found: &[Found],
    (parent, kids): &(usize, Vec<usize>),
    dir: &ProcDir,
    pictured: bool,
) -> Result<JobOut> {
    let mut theirs = members::open_at(&found[*parent], dir)?;
    let mut out = Vec::new();
    let mut opened = Vec::new();
    let mut at = Vec::new();
    for &k in kids {
        match members::open(&found[k]) {
            Ok(o) => {
                opened.push(o);
                at.push(k);
            }
            Err(g) => out.push((k, Err(PidError::gone(found[k].pid, &g)))),
        }
    }
    match litter::litter(w, &mut theirs, opened, pictured) {
        Ok(figures) => {
            out.extend(at.into_iter().zip(figures));
            Ok(JobOut::Kids(out))
        }
        Err(Stop::Member(e)) => Err(e),
        Err(Stop::Fatal(e)) => Ok(JobOut::Fatal(e)),
    }
}

fn read_family(
    root: i32,
    tree: Option<&Tree>,
    threads: usize,
    pictured: bool,
) -> Result<(FamilyReport, FamilyPictures)> {
    kernel::check_page_size()?;
    let privilege = kernel::detect_privilege();
    let privileged = privilege.frames();
    let threads = scan::threads(threads);
    let found = match tree {
        Some(t) => members::descendants_in(root, t)?,
        None => members::descendants(root, threads)?,
    };
    // The root first, on this thread: a root that cannot be read is the run's error.
    let mut pictures = FamilyPictures::default();
    let mut family_shared = shared::Union::default();
    let root_shared = {
        let mut opened = members::open(&found[0]).map_err(|g| g.into_error(root))?;
        if pictured {
            let mut w = LitterWorker::new(privileged);
            pictures.own = match litter::own_runs(&mut w, &mut opened) {
                Ok(runs) => runs,
                Err(Stop::Member(e) | Stop::Fatal(e)) => return Err(e),
            };
        }
        shared::read(&mut opened.pm, &opened.maps, &mut Vec::new())?
    };
    family_shared.add(&root_shared);
    let jobs = plan(&found, threads);
    let job_pids: Vec<i32> = jobs.iter().map(|(p, _)| found[*p].pid).collect();
    // Each job's parent opened by the door's pool, its children by the job, at the door.
    let listed = scan::each_opened(
        || Ok::<_, std::convert::Infallible>(job_pids),
        threads.clamp(1, jobs.len().max(1)),
        Door::default(),
        |_| LitterWorker::new(privileged),
        |w, opened| run_job(w, &found, &jobs[opened.position], opened.dir, pictured),
    );
    let results = match listed {
        Ok(l) => l.results,
        Err(never) => match never {},
    };
    let mut failed: Vec<Option<PidError>> = found.iter().map(|_| None).collect();
    let mut figures: Vec<Option<KidFigures>> = found.iter().map(|_| None).collect();
    for ((parent, _), result) in jobs.iter().zip(results) {
        let gone = match result {
            Visit::Read(JobOut::Kids(kids)) => {
                for (k, f) in kids {
                    match f {
                        Ok(f) => figures[k] = Some(f),
                        Err(e) => failed[k] = Some(e),
                    }
                }
                continue;
            }
            Visit::Read(JobOut::Fatal(e)) => return Err(e),
            Visit::Gone(g) => g,
            // Door::default keeps every uid.
            Visit::Other => Gone::Vanished,
        };
        if *parent == 0 {
            return Err(gone.into_error(root));
        }
        // The parent could not be read any more: it is an error, and its children compare
        // with nobody.
        failed[*parent].get_or_insert(PidError::gone(found[*parent].pid, &gone));
    }
    let mut processes = Vec::new();
    let mut totals = Inherited::default();
    let mut errors = Vec::new();
    for (i, (f, figures)) in found.iter().zip(figures).enumerate() {
        if let Some(e) = failed[i].take() {
            errors.push(e);
            continue;
        }
        let mut member = Member {
            pid: f.pid,
            ppid: f.ppid,
            comm: f.comm.clone(),
            depth: f.depth,
            mappings: Vec::new(),
            totals: Inherited::default(),
            fork: None,
            shared_memory: if i == 0 { root_shared.resident } else { 0 },
        };
        if let Some(k) = figures {
            for m in &k.mappings {
                member.totals.add(&m.pages);
            }
            if pictured {
                for (m, runs) in k.mappings.iter().zip(k.runs) {
                    pictures.runs.insert((f.pid, m.start), runs);
                }
            }
            family_shared.add(&k.shared);
            member.shared_memory = k.shared.resident;
            member.fork = Some(k.lineage);
            member.mappings = k.mappings;
        }
        totals.add(&member.totals);
        processes.push(member);
    }
    let report = FamilyReport {
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
        shared_memory: family_shared.bytes(),
        errors,
    };
    Ok((report, pictures))
}
