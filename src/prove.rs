//! `solab prove`: the three claims about a shared object, checked page by page against an
//! [`InspectReport`], each with counts and example frames. Pure.
//!
//! 1. text: every text page present in all processes is one frame;
//! 2. data: every data/.bss page a process wrote is its own frame (copy-on-write), while
//!    data pages nobody wrote still share the file's frame;
//! 3. shared: the pages of a `.shared` section are one frame in all processes although
//!    they are writable.

use crate::elf::{LoaderAction, SegmentKind};
use crate::report::{ObjectReport, PageInProcess, PageReport};
use crate::verdict::PageState;
use serde::Serialize;

pub const PROVE_SCHEMA: &str = "solab.prove.v1";

/// How many example pages a claim shows.
const EXAMPLES: usize = 3;

#[derive(Clone, Debug, Serialize)]
pub struct ProveReport {
    pub schema: &'static str,
    pub privileged: bool,
    pub privilege_note: Option<String>,
    pub object: String,
    pub build_id: Option<String>,
    pub pids: Vec<i32>,
    /// All claims hold (not-applicable claims count as holding).
    pub holds: bool,
    pub claims: Vec<Claim>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Holds,
    Fails,
    NotApplicable,
}

#[derive(Clone, Debug, Serialize)]
pub struct Claim {
    /// `text-shared`, `data-private`, `shared-section`.
    pub id: &'static str,
    pub statement: &'static str,
    pub status: Status,
    /// Based on pagemap bits only, not frame numbers.
    pub weak: bool,
    /// One sentence with the counts.
    pub summary: String,
    pub counts: Counts,
    pub examples: Vec<PageEvidence>,
    pub failures: Vec<Failure>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Counts {
    /// Pages of the claim's segment kinds.
    pub pages: u64,
    /// Pages present in every process.
    pub present_in_all: u64,
    /// Pages with one frame in every process that has them.
    pub one_frame: u64,
    /// Pages written by at least one process (data claim).
    pub written: u64,
    /// Written pages where every writer has its own frame (data claim).
    pub written_private: u64,
    /// Unwritten pages still on one file frame in two or more processes (data claim).
    pub unwritten_shared: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct PageEvidence {
    pub offset: u64,
    pub segment: SegmentKind,
    pub sections: Vec<String>,
    pub frames: Vec<FrameEvidence>,
}

#[derive(Clone, Debug, Serialize)]
pub struct FrameEvidence {
    pub pid: i32,
    pub state: PageState,
    pub pfn: Option<u64>,
    pub mapcount: Option<u64>,
    pub exclusive: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Failure {
    pub offset: u64,
    pub segment: SegmentKind,
    pub sections: Vec<String>,
    pub reason: String,
    pub frames: Vec<FrameEvidence>,
}

fn evidence(page: &PageReport) -> PageEvidence {
    PageEvidence {
        offset: page.offset,
        segment: page.segment,
        sections: page.sections.clone(),
        frames: frames(page),
    }
}

fn frames(page: &PageReport) -> Vec<FrameEvidence> {
    page.procs
        .iter()
        .map(|p| FrameEvidence {
            pid: p.pid,
            state: p.state,
            pfn: p.pfn,
            mapcount: p.mapcount,
            exclusive: p.exclusive,
        })
        .collect()
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

/// Two processes' copies of a page are the same frame: by PFN when known, otherwise by
/// bit 56 (neither copy exclusive).
fn same_frame(a: &PageInProcess, b: &PageInProcess) -> bool {
    match (a.pfn, b.pfn) {
        (Some(x), Some(y)) => x == y,
        _ => !a.exclusive && !b.exclusive,
    }
}

fn one_frame(present: &[&PageInProcess]) -> bool {
    present.windows(2).all(|w| same_frame(w[0], w[1]))
}

fn present(page: &PageReport) -> Vec<&PageInProcess> {
    page.procs.iter().filter(|p| p.state.is_present()).collect()
}

/// Checks the three claims for `object`.
pub fn prove(object: &ObjectReport, privileged: bool, note: Option<String>) -> ProveReport {
    let pids: Vec<i32> = object.procs.iter().map(|p| p.pid).collect();
    let weak = !privileged;
    let claims = vec![
        text_claim(object, weak),
        data_claim(object, weak),
        shared_claim(object, weak),
    ];
    ProveReport {
        schema: PROVE_SCHEMA,
        privileged,
        privilege_note: note,
        object: object.path.clone(),
        build_id: object.build_id.clone(),
        pids,
        holds: claims.iter().all(|c| c.status != Status::Fails),
        claims,
    }
}

/// The object's pages that `keep` selects.
fn pages_where(object: &ObjectReport, keep: impl Fn(&PageReport) -> bool) -> Vec<&PageReport> {
    object.pages.iter().filter(|p| keep(p)).collect()
}

fn text_claim(object: &ObjectReport, weak: bool) -> Claim {
    let pages = pages_where(object, |p| p.segment == SegmentKind::Text);
    let mut counts = Counts {
        pages: pages.len() as u64,
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
        if one_frame(&here) {
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
            } else if here.iter().any(|p| p.state.is_written()) {
                "a process wrote the page (a private copy: text relocation, debugger \
                 breakpoint or mprotect+write)"
                    .to_string()
            } else {
                "the processes map different frames of the file (was it replaced?)".into()
            };
            failures.push(failure(page, why));
        }
    }
    let status = if counts.present_in_all == 0 {
        failures_for_no_evidence(&mut failures, "no text page is present in every process");
        Status::Fails
    } else if failures.is_empty() {
        Status::Holds
    } else {
        Status::Fails
    };
    Claim {
        id: "text-shared",
        statement: "every text page present in all processes is one physical frame",
        status,
        weak,
        summary: format!(
            "{} of {} text pages are present in all {} processes; {} of them are one frame, {} are not",
            counts.present_in_all,
            counts.pages,
            object.procs.len(),
            counts.one_frame,
            counts.present_in_all - counts.one_frame
        ),
        counts,
        examples,
        failures,
    }
}

fn failures_for_no_evidence(failures: &mut Vec<Failure>, why: &str) {
    if failures.is_empty() {
        failures.push(Failure {
            offset: 0,
            segment: SegmentKind::Text,
            sections: vec![],
            reason: format!("{why}: nothing to compare"),
            frames: vec![],
        });
    }
}

/// Did this process write the page? A private anonymous copy says so. An anonymous page
/// that is not exclusive is a copy shared after fork, except in the `.bss` tail without
/// frame numbers: there it may just as well be the kernel's zero page (read, never
/// written), which only kpageflags can tell apart.
fn written(page: &PageReport, p: &PageInProcess) -> bool {
    match p.state {
        PageState::PrivateAnon => true,
        PageState::SharedAnon => p.pfn.is_some() || page.segment != SegmentKind::Bss,
        _ => false,
    }
}

fn data_claim(object: &ObjectReport, weak: bool) -> Claim {
    let pages = pages_where(object, |p| {
        matches!(p.segment, SegmentKind::Data | SegmentKind::Bss)
    });
    let mut counts = Counts {
        pages: pages.len() as u64,
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
        let writers: Vec<&&PageInProcess> = here.iter().filter(|p| written(page, p)).collect();
        if writers.is_empty() {
            if here.len() >= 2 && one_frame(&here) {
                counts.unwritten_shared += 1;
                if shared_examples.len() < EXAMPLES {
                    shared_examples.push(evidence(page));
                }
            }
            continue;
        }
        counts.written += 1;
        let shares = writers.iter().find_map(|w| {
            here.iter()
                .find(|o| o.pid != w.pid && same_frame(w, o))
                .map(|o| (w.pid, o.pid))
        });
        let own = match shares {
            None => writers.iter().all(|w| w.pfn.is_some() || w.exclusive),
            Some(_) => false,
        };
        if own {
            counts.written_private += 1;
            if examples.len() < EXAMPLES {
                examples.push(evidence(page));
            }
        } else {
            let why = match shares {
                Some((a, b)) => format!(
                    "pid {a} wrote the page but its frame is also mapped by pid {b}: an \
                     anonymous page still shared after fork (copy-on-write not yet broken)"
                ),
                None => "a written copy is not exclusive (bit 56 clear)".to_string(),
            };
            failures.push(failure(page, why));
        }
    }
    examples.extend(shared_examples);
    let status = if failures.is_empty() {
        Status::Holds
    } else {
        Status::Fails
    };
    Claim {
        id: "data-private",
        statement: "every data page a process has written is its own frame (copy-on-write); \
                    data pages nobody wrote still share the file's frame",
        status,
        weak,
        summary: format!(
            "{} of {} data/.bss pages were written by at least one process; {} of those are \
             each writer's own frame; {} pages nobody wrote are still one shared frame",
            counts.written, counts.pages, counts.written_private, counts.unwritten_shared
        ),
        counts,
        examples,
        failures,
    }
}

fn shared_claim(object: &ObjectReport, weak: bool) -> Claim {
    let pages = pages_where(object, |p| p.segment == SegmentKind::Shared);
    let mut counts = Counts {
        pages: pages.len() as u64,
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
        } else if one_frame(&here) {
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
        Status::NotApplicable
    } else if failures.is_empty() {
        Status::Holds
    } else {
        Status::Fails
    };
    Claim {
        id: "shared-section",
        statement: "the pages of the .shared section are one frame in all processes although \
                    writable",
        status,
        weak,
        summary: if pages.is_empty() {
            "the object has no .shared section".to_string()
        } else {
            format!(
                "{} of {} .shared pages are one frame in all {} processes",
                counts.one_frame,
                counts.pages,
                object.procs.len()
            )
        },
        counts,
        examples,
        failures,
    }
}
