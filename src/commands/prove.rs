//! `solab prove`: the three claims about a shared object, checked page by page against an
//! [`InspectReport`], each with counts and example frames. Pure but for
//! [`fork_families`], which reads the parent chain of the pids.
//!
//! 1. text: every text page present in all processes is one frame;
//! 2. data: no written data/.bss page is one frame with a process outside the writer's
//!    fork family. A written page is either the writer's own copy, or (after fork, before
//!    either side wrote again) one frame inherited by a process of the same fork family at
//!    the same address: copy-on-write pending, which is sharing, not a leak. A KSM-merged
//!    frame is equal content merged by the kernel: said so, not a failure either. Unwritten
//!    data pages still share the file's frame.
//! 3. shared: the pages of a `.shared` section are one frame in all processes although
//!    they are writable.
//!
//! Without frame numbers the claims rest on pagemap bits: counted pages "look shared",
//! never "are one frame", and the claim is weak.

use crate::addr::{Pfn, VirtAddr};
use crate::elf::{LoaderAction, SegmentKind};
use crate::inspect_report::{InspectReport, ObjectReport, PageInProcess, PageReport};
use crate::kernel::process::ProcDir;
use crate::sharing::fork::{CopyAt, WrittenPage};
use crate::sharing::{self, PageState};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const PROVE_SCHEMA: &str = "solab.prove.v2";

/// How many example pages a claim shows.
const EXAMPLES: usize = 3;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProveReport {
    pub schema: String,
    pub privileged: bool,
    pub evidence: crate::kernel::Evidence,
    pub privilege_note: Option<String>,
    pub kernel: crate::kernel::config::KernelFacts,
    pub object: String,
    pub build_id: Option<String>,
    pub pids: Vec<i32>,
    /// The fork families among the pids: processes related by fork.
    pub families: Vec<Family>,
    /// All claims hold (not-applicable claims count as holding).
    pub holds: bool,
    /// Every claim that applies had pages to compare (false: the text claim is N/A because
    /// no text page is present in every process; inconclusive).
    pub compared: bool,
    /// Every claim rests on frame numbers and had pages to compare (false: some or all are
    /// weak, or nothing was compared).
    pub conclusive: bool,
    pub claims: Vec<Claim>,
}

/// What a proof comes to, for the exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProofOutcome {
    Holds,
    Fails,
    /// Nothing was violated, but the evidence cannot settle the claims: why.
    Inconclusive(&'static str),
}

/// Why a proof with nothing to compare is inconclusive, and what to do.
pub const NOTHING_COMPARED: &str = "inconclusive: no text page is present in every process, \
                                    nothing to compare: touch the code, or run again under load";

impl ProveReport {
    /// A claim fails: `Fails`; a claim had nothing to compare, or (with `strict`) the claims
    /// rest on pagemap bits: `Inconclusive`; else `Holds`.
    pub fn outcome(&self, strict: bool) -> ProofOutcome {
        if !self.holds {
            ProofOutcome::Fails
        } else if !self.compared {
            ProofOutcome::Inconclusive(NOTHING_COMPARED)
        } else if strict && !self.conclusive {
            ProofOutcome::Inconclusive(
                "inconclusive (--strict): no frame numbers were seen, the claims rest on pagemap \
                 bits",
            )
        } else {
            ProofOutcome::Holds
        }
    }
}

/// Processes of one fork family: both descend by fork from a common ancestor (or one is
/// the other's ancestor), and every process on the way runs the same executable (init
/// and kthreadd never count).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Family {
    /// The oldest given process of the family, or their nearest common ancestor.
    pub root: i32,
    pub root_comm: String,
    pub pids: Vec<i32>,
}

/// Whether a claim holds on the evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClaimStatus {
    Holds,
    Fails,
    NotApplicable,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClaimId {
    TextShared,
    DataPrivate,
    SharedSection,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claim {
    pub id: ClaimId,
    pub statement: String,
    pub status: ClaimStatus,
    /// Based on pagemap bits only, not frame numbers.
    pub weak: bool,
    /// One sentence with the counts.
    pub summary: String,
    pub counts: Counts,
    pub examples: Vec<PageEvidence>,
    pub failures: Vec<Failure>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Counts {
    /// Pages of the claim's segment kinds.
    pub pages: u64,
    /// Pages present in every process.
    pub present_in_all: u64,
    /// Pages with one frame in every process that has them (weak: bit 56 clear in each,
    /// they look shared).
    pub one_frame: u64,
    /// Pages written by at least one process (data claim).
    pub written: u64,
    /// Written pages that are each writer's own frame (data claim).
    pub written_private: u64,
    /// Written pages one frame within a fork family at the same address: inherited
    /// through fork, copy-on-write pending (data claim).
    pub inherited: u64,
    /// Written pages KSM merged with equal pages (data claim).
    pub ksm_merged: u64,
    /// Unwritten pages still on one file frame in two or more processes (data claim).
    pub unwritten_shared: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PageEvidence {
    pub offset: u64,
    pub segment: SegmentKind,
    pub sections: Vec<String>,
    pub frames: Vec<FrameEvidence>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FrameEvidence {
    pub pid: i32,
    pub vaddr: VirtAddr,
    pub state: PageState,
    pub pfn: Option<Pfn>,
    pub mapcount: Option<u64>,
    pub exclusive: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Failure {
    pub offset: u64,
    pub segment: SegmentKind,
    pub sections: Vec<String>,
    pub reason: String,
    pub frames: Vec<FrameEvidence>,
}

fn frames(page: &PageReport) -> Vec<FrameEvidence> {
    page.procs
        .iter()
        .map(|p| FrameEvidence {
            pid: p.pid,
            vaddr: p.vaddr,
            state: p.state,
            pfn: p.pfn,
            mapcount: p.mapcount,
            exclusive: p.exclusive,
        })
        .collect()
}

fn evidence(page: &PageReport) -> PageEvidence {
    PageEvidence {
        offset: page.offset,
        segment: page.segment,
        sections: page.sections.clone(),
        frames: frames(page),
    }
}

fn failure(page: &PageReport, reason: String) -> Failure {
    Failure {
        offset: page.offset,
        segment: page.segment,
        sections: page.sections.clone(),
        reason,
        frames: frames(page),
    }
}

fn present(page: &PageReport) -> Vec<&PageInProcess> {
    page.procs.iter().filter(|p| p.state.is_present()).collect()
}

/// A page in a process as the sharing rules see it.
fn copy_at(p: &PageInProcess) -> CopyAt {
    CopyAt {
        pid: p.pid,
        vaddr: p.vaddr.0,
        copy: sharing::ProcessPage {
            state: p.state,
            pfn: p.pfn,
            exclusive: p.exclusive,
        },
    }
}

/// Fork families among `pids`, from the parent chain in /proc/PID/stat and the
/// executable's identity.
pub fn fork_families(pids: &[i32]) -> Vec<Family> {
    // Each process met, given or an ancestor, opened once; `None` where it did not open.
    type Dirs = BTreeMap<i32, Option<ProcDir>>;
    fn dir(dirs: &mut Dirs, pid: i32) -> Option<&ProcDir> {
        dirs.entry(pid)
            .or_insert_with(|| ProcDir::open(pid).ok())
            .as_ref()
    }
    let mut dirs = Dirs::new();
    let mut chain = |pid: i32| -> Vec<i32> {
        let mut c = vec![pid];
        let mut at = pid;
        while c.len() < 4096 {
            match dir(&mut dirs, at).map(ProcDir::stat) {
                Some(Ok(s)) if s.ppid > 0 && !c.contains(&s.ppid) => {
                    c.push(s.ppid);
                    at = s.ppid;
                }
                _ => break,
            }
        }
        c
    };
    let chains: Vec<Vec<i32>> = pids.iter().map(|&p| chain(p)).collect();
    let mut exe = |pid: i32| dir(&mut dirs, pid).and_then(ProcDir::exe_id);
    let mut exes: BTreeMap<i32, Option<(u64, u64)>> = BTreeMap::new();
    // Whether every process from `pids[a]` up to ancestor `c` runs the same executable:
    // nothing on the way exec'd another program, which would have replaced the memory
    // fork shares.
    let mut same_program_up_to = |a: usize, c: i32| -> bool {
        let mine = *exes.entry(pids[a]).or_insert_with(|| exe(pids[a]));
        mine.is_some()
            && chains[a]
                .iter()
                .take_while(|&&p| p != c)
                .chain(std::iter::once(&c))
                .all(|&p| *exes.entry(p).or_insert_with(|| exe(p)) == mine)
    };
    let mut family: Vec<usize> = (0..pids.len()).collect();
    fn find(f: &mut [usize], i: usize) -> usize {
        let mut r = i;
        while f[r] != r {
            r = f[r];
        }
        f[i] = r;
        r
    }
    for a in 0..pids.len() {
        for b in a + 1..pids.len() {
            let Some(c) = chains[a].iter().find(|p| chains[b].contains(p)).copied() else {
                continue;
            };
            if c > 2 && same_program_up_to(a, c) && same_program_up_to(b, c) {
                let (ra, rb) = (find(&mut family, a), find(&mut family, b));
                family[rb] = ra;
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<i32>> = BTreeMap::new();
    for (i, &pid) in pids.iter().enumerate() {
        let r = find(&mut family, i);
        groups.entry(r).or_default().push(pid);
    }
    groups
        .into_iter()
        .filter(|(_, g)| g.len() > 1)
        .map(|(_, g)| {
            // The nearest process every member descends from (or is).
            let first = &chains[pids.iter().position(|&p| p == g[0]).unwrap_or(0)];
            let root = first
                .iter()
                .copied()
                .find(|c| {
                    g.iter().all(|m| {
                        pids.iter()
                            .position(|p| p == m)
                            .is_some_and(|i| chains[i].contains(c))
                    })
                })
                .unwrap_or(g[0]);
            Family {
                root,
                root_comm: dir(&mut dirs, root).map_or_else(|| "?".into(), ProcDir::comm),
                pids: g,
            }
        })
        .collect()
}

fn same_family(families: &[Family], a: i32, b: i32) -> bool {
    families
        .iter()
        .any(|f| f.pids.contains(&a) && f.pids.contains(&b))
}

/// Checks the three claims for `object` of `report`, with the fork families found.
pub fn prove(report: &InspectReport, object: &ObjectReport, families: Vec<Family>) -> ProveReport {
    let pids: Vec<i32> = object.procs.iter().map(|p| p.pid).collect();
    let weak = !report.privileged;
    let claims = vec![
        text_claim(object, weak),
        data_claim(object, weak, &families),
        shared_claim(object, weak),
    ];
    // The text claim is N/A only when no page could be compared.
    let compared = claims[0].status != ClaimStatus::NotApplicable;
    ProveReport {
        schema: PROVE_SCHEMA.into(),
        privileged: report.privileged,
        evidence: report.evidence,
        privilege_note: report.privilege_note.clone(),
        kernel: report.kernel.clone(),
        object: object.path.clone(),
        build_id: object.build_id.clone(),
        pids,
        families,
        holds: claims.iter().all(|c| c.status != ClaimStatus::Fails),
        compared,
        conclusive: compared
            && !claims
                .iter()
                .any(|c| c.weak && c.status != ClaimStatus::NotApplicable),
        claims,
    }
}

fn pages_where(object: &ObjectReport, keep: impl Fn(&PageReport) -> bool) -> Vec<&PageReport> {
    object.pages.iter().filter(|p| keep(p)).collect()
}

/// "are one frame" or, weak, "look shared (bit 56 clear in each)".
fn one_frame_words(weak: bool) -> &'static str {
    if weak {
        "look shared (pagemap bit 56 clear in each; no frame numbers seen)"
    } else {
        "are one frame"
    }
}

fn text_claim(object: &ObjectReport, weak: bool) -> Claim {
    let pages = pages_where(object, |p| p.segment == SegmentKind::Text);
    let mut counts = Counts {
        pages: pages.iter().map(|p| p.pages).sum(),
        ..Counts::default()
    };
    let mut examples = Vec::new();
    let mut failures = Vec::new();
    for page in &pages {
        let here = present(page);
        if here.len() != page.procs.len() {
            continue;
        }
        counts.present_in_all += 1;
        if page.verdict.is_shared() {
            counts.one_frame += 1;
            if examples.len() < EXAMPLES {
                examples.push(evidence(page));
            }
        } else {
            let why = if page.loader == LoaderAction::PatchText {
                format!(
                    "a text relocation ({} on this page) made the page a private copy",
                    page.relocations
                )
            } else if here
                .iter()
                .any(|p| sharing::written(p.state, false) == Some(true))
            {
                "a process wrote the page (a private copy: text relocation, debugger \
                 breakpoint or mprotect+write)"
                    .to_string()
            } else {
                "the processes map different frames of the file (was it replaced?)".into()
            };
            failures.push(failure(page, why));
        }
    }
    // Nothing compared is no violation: inconclusive ([`ProofOutcome::Inconclusive`]).
    let status = if counts.present_in_all == 0 {
        ClaimStatus::NotApplicable
    } else if failures.is_empty() {
        ClaimStatus::Holds
    } else {
        ClaimStatus::Fails
    };
    Claim {
        id: ClaimId::TextShared,
        statement: "every text page present in all processes is one physical frame".into(),
        status,
        weak,
        summary: if counts.present_in_all == 0 {
            format!(
                "0 of {} text pages are present in all {} processes: nothing to compare \
                 (touch the code, or run again under load)",
                counts.pages,
                object.procs.len()
            )
        } else {
            format!(
                "{} of {} text pages are present in all {} processes; {} of them {}, {} do not",
                counts.present_in_all,
                counts.pages,
                object.procs.len(),
                counts.one_frame,
                one_frame_words(weak),
                counts.present_in_all - counts.one_frame
            )
        },
        counts,
        examples,
        failures,
    }
}

fn data_claim(object: &ObjectReport, weak: bool, families: &[Family]) -> Claim {
    let pages = pages_where(object, |p| {
        matches!(p.segment, SegmentKind::Data | SegmentKind::Bss)
    });
    let mut counts = Counts {
        pages: pages.iter().map(|p| p.pages).sum(),
        ..Counts::default()
    };
    let mut examples = Vec::new();
    let mut shared_examples = Vec::new();
    let mut failures = Vec::new();
    for page in &pages {
        let here = present(page);
        if here.len() == page.procs.len() {
            counts.present_in_all += 1;
        }
        let in_bss = page.segment == SegmentKind::Bss;
        let writers: Vec<&&PageInProcess> = here
            .iter()
            .filter(|p| sharing::written(p.state, in_bss) == Some(true))
            .collect();
        if writers.is_empty() {
            if page.verdict.is_shared() {
                counts.unwritten_shared += 1;
                if shared_examples.len() < EXAMPLES {
                    shared_examples.push(evidence(page));
                }
            }
            continue;
        }
        counts.written += 1;
        let writers: Vec<CopyAt> = writers.iter().map(|w| copy_at(w)).collect();
        let present: Vec<CopyAt> = here.iter().map(|p| copy_at(p)).collect();
        let same_family = |a, b| same_family(families, a, b);
        match sharing::fork::written_page(&writers, &present, same_family, weak) {
            WrittenPage::Own => {
                counts.written_private += 1;
                if examples.len() < EXAMPLES {
                    examples.push(evidence(page));
                }
            }
            WrittenPage::Inherited => counts.inherited += 1,
            WrittenPage::Ksm => counts.ksm_merged += 1,
            WrittenPage::OutsideFamily { writer, other } => failures.push(failure(
                page,
                format!(
                    "pid {writer} wrote the page but its frame is also mapped by pid {other}, \
                     which is not of its fork family"
                ),
            )),
            WrittenPage::OtherAddress { writer, other } => failures.push(failure(
                page,
                format!(
                    "pid {writer} wrote the page and its frame is mapped by pid {other} at \
                     another address: not inherited through fork"
                ),
            )),
            WrittenPage::SharerNotGiven => failures.push(failure(
                page,
                "a written copy is not exclusive (bit 56 clear) and no other given process \
                 shares it: a process outside the given ones maps it"
                    .into(),
            )),
        }
    }
    examples.extend(shared_examples);
    let status = if failures.is_empty() {
        ClaimStatus::Holds
    } else {
        ClaimStatus::Fails
    };
    let mut summary = format!(
        "{} of {} data/.bss pages were written by at least one process; {} of those {}",
        counts.written,
        counts.pages,
        counts.written_private,
        if weak {
            "look like each writer's own copy (bit 56 set)"
        } else {
            "are each writer's own frame"
        }
    );
    if counts.inherited > 0 {
        summary.push_str(&format!(
            ", {} {}",
            counts.inherited,
            if weak {
                "look inherited through fork (bit 56 clear, only in a fork family at the same \
                 address)"
            } else {
                "are inherited through fork (one frame in a fork family at the same address: \
                 copy-on-write pending)"
            }
        ));
    }
    if counts.ksm_merged > 0 {
        summary.push_str(&format!(
            ", {} are KSM-merged (equal content merged by the kernel)",
            counts.ksm_merged
        ));
    }
    summary.push_str(&format!(
        "; {} pages nobody wrote {}",
        counts.unwritten_shared,
        if weak {
            "look shared (bit 56 clear)"
        } else {
            "are still one shared frame"
        }
    ));
    Claim {
        id: ClaimId::DataPrivate,
        statement: "no written data page is one frame with a process outside the writer's fork \
                    family: each is the writer's own copy, or inherited through fork \
                    (copy-on-write pending); data pages nobody wrote still share the file's \
                    frame"
            .into(),
        status,
        weak,
        summary,
        counts,
        examples,
        failures,
    }
}

fn shared_claim(object: &ObjectReport, weak: bool) -> Claim {
    let pages = pages_where(object, |p| p.segment == SegmentKind::Shared);
    let mut counts = Counts {
        pages: pages.iter().map(|p| p.pages).sum(),
        ..Counts::default()
    };
    let mut examples = Vec::new();
    let mut failures = Vec::new();
    for page in &pages {
        let here = present(page);
        if here.len() == page.procs.len() {
            counts.present_in_all += 1;
        }
        let windows = here.iter().all(|p| p.state == PageState::SharedWindow);
        if here.len() < page.procs.len() || here.len() < 2 {
            failures.push(failure(
                page,
                format!(
                    "present in only {} of {} processes: touch the page in every process",
                    here.len(),
                    page.procs.len()
                ),
            ));
        } else if !windows {
            failures.push(failure(
                page,
                "not mapped MAP_SHARED in every process (the library's constructor did not \
                 map the shared object over it)"
                    .into(),
            ));
        } else if page.verdict.is_shared() {
            counts.one_frame += 1;
            if examples.len() < EXAMPLES {
                examples.push(evidence(page));
            }
        } else {
            failures.push(failure(
                page,
                "the processes map different frames: different shared objects (namespace?)".into(),
            ));
        }
    }
    let status = if pages.is_empty() {
        ClaimStatus::NotApplicable
    } else if failures.is_empty() {
        ClaimStatus::Holds
    } else {
        ClaimStatus::Fails
    };
    Claim {
        id: ClaimId::SharedSection,
        statement: "the pages of the .shared section are one frame in all processes although \
                    writable"
            .into(),
        status,
        weak,
        summary: if pages.is_empty() {
            "the object has no .shared section".to_string()
        } else {
            format!(
                "{} of {} .shared pages {} in all {} processes",
                counts.one_frame,
                counts.pages,
                one_frame_words(weak),
                object.procs.len()
            )
        },
        counts,
        examples,
        failures,
    }
}
