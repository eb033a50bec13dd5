//! The three claims, page by page: [`text_claim`], [`data_claim`], [`shared_claim`].

use super::backing::Backing;
use super::elsewhere::WrittenText;
use super::{Claim, ClaimCounts, ClaimId, ClaimStatus, Failure, FrameEvidence, PageEvidence};
use crate::elf::{LoaderAction, SegmentKind};
use crate::inspect_report::{ObjectReport, PageInProcess, PageReport};
use crate::sharing::fork::{CopyAt, WrittenPage};
use crate::sharing::{self, PageState};
use std::collections::HashMap;

/// How many example pages a claim shows.
const EXAMPLES: usize = 3;

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

/// The page report that holds the page at `offset` from the load base.
fn page_at(object: &ObjectReport, offset: u64) -> Option<&PageReport> {
    object
        .pages
        .iter()
        .find(|p| p.offset <= offset && offset < p.offset + p.pages * crate::addr::PAGE_SIZE)
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

/// The text claim. `elsewhere`: written copies of text pages in placements the report
/// does not show.
pub(super) fn text_claim(
    object: &ObjectReport,
    weak: bool,
    backing: &Backing,
    elsewhere: &[WrittenText],
) -> Claim {
    let pages = pages_where(object, |p| p.segment == SegmentKind::Text);
    let mut counts = ClaimCounts {
        pages: pages.iter().map(|p| p.pages).sum(),
        ..ClaimCounts::default()
    };
    let mut examples = Vec::new();
    let mut failures = Vec::new();
    for page in &pages {
        let here = present(page);
        let in_all = here.len() == page.procs.len();
        if in_all {
            counts.present_in_all += 1;
        }
        if let Some(why) = backing.foreign_text(&page.procs) {
            failures.push(failure(page, why));
            continue;
        }
        if !in_all {
            continue;
        }
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
    for w in elsewhere {
        let Some(page) = page_at(object, w.offset) else {
            continue;
        };
        failures.push(failure(
            page,
            format!(
                "pid {} maps the object a second time and wrote this text page there (at \
                 {}): a private, written copy of the code",
                w.pid, w.at
            ),
        ));
    }
    // Nothing compared is no violation: inconclusive ([`ProofOutcome::Inconclusive`]).
    let status = if !failures.is_empty() {
        ClaimStatus::Fails
    } else if counts.present_in_all == 0 {
        ClaimStatus::NotApplicable
    } else {
        ClaimStatus::Holds
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

/// The data claim: each data/.bss page is looked at ([`DataTally::page`]), a written one
/// decided by the sharing rules ([`sharing::fork::written_page`]) and counted
/// ([`DataTally::written`]); then the counts are put in words ([`DataTally::claim`]).
pub(super) fn data_claim(
    object: &ObjectReport,
    weak: bool,
    backing: &Backing,
    families: &HashMap<i32, usize>,
) -> Claim {
    let pages = pages_where(object, |p| {
        matches!(p.segment, SegmentKind::Data | SegmentKind::Bss)
    });
    let mut tally = DataTally {
        counts: ClaimCounts {
            pages: pages.iter().map(|p| p.pages).sum(),
            ..ClaimCounts::default()
        },
        ..DataTally::default()
    };
    for page in &pages {
        tally.page(page, weak, backing, families);
    }
    tally.claim(weak)
}

/// What the data claim found so far.
#[derive(Default)]
struct DataTally {
    counts: ClaimCounts,
    /// Written pages that are each writer's own, shown first.
    examples: Vec<PageEvidence>,
    /// Pages nobody wrote that are still one frame, shown after.
    shared_examples: Vec<PageEvidence>,
    failures: Vec<Failure>,
}

impl DataTally {
    fn page(
        &mut self,
        page: &PageReport,
        weak: bool,
        backing: &Backing,
        families: &HashMap<i32, usize>,
    ) {
        let here = present(page);
        if here.len() == page.procs.len() {
            self.counts.present_in_all += 1;
        }
        if let Some(why) = backing.foreign_data(&page.procs, page.segment.name()) {
            self.failures.push(failure(page, why));
            return;
        }
        let in_bss = page.segment == SegmentKind::Bss;
        let writers: Vec<CopyAt> = here
            .iter()
            .filter(|p| sharing::written(p.state, in_bss) == Some(true))
            .map(|p| copy_at(p))
            .collect();
        if writers.is_empty() {
            if page.verdict.is_shared() {
                self.counts.unwritten_shared += 1;
                if self.shared_examples.len() < EXAMPLES {
                    self.shared_examples.push(evidence(page));
                }
            }
            return;
        }
        self.counts.written += 1;
        let present: Vec<CopyAt> = here.iter().map(|p| copy_at(p)).collect();
        let family = |pid| families.get(&pid).copied();
        self.written(
            page,
            sharing::fork::written_page(&writers, &present, family, weak),
        );
    }

    /// Counts a written page as the sharing rules decided it.
    fn written(&mut self, page: &PageReport, decided: WrittenPage) {
        let why = match decided {
            WrittenPage::Own => {
                self.counts.written_private += 1;
                if self.examples.len() < EXAMPLES {
                    self.examples.push(evidence(page));
                }
                return;
            }
            WrittenPage::Inherited => {
                self.counts.inherited += 1;
                return;
            }
            WrittenPage::Ksm => {
                self.counts.ksm_merged += 1;
                return;
            }
            WrittenPage::OutsideFamily { writer, other } => format!(
                "pid {writer} wrote the page but its frame is also mapped by pid {other}, \
                 which is not of its fork family"
            ),
            WrittenPage::OtherAddress { writer, other } => format!(
                "pid {writer} wrote the page and its frame is mapped by pid {other} at \
                 another address: not inherited through fork"
            ),
            WrittenPage::SharerNotGiven => "a written copy is not exclusive (bit 56 clear) \
                                            and no other given process shares it: a process \
                                            outside the given ones maps it"
                .into(),
        };
        self.failures.push(failure(page, why));
    }

    /// One sentence with the counts.
    fn summary(&self, weak: bool) -> String {
        let counts = &self.counts;
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
                    "look inherited through fork (bit 56 clear, only in a fork family at the \
                     same address)"
                } else {
                    "are inherited through fork (one frame in a fork family at the same \
                     address: copy-on-write pending)"
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
        summary
    }

    fn claim(mut self, weak: bool) -> Claim {
        let summary = self.summary(weak);
        self.examples.append(&mut self.shared_examples);
        Claim {
            id: ClaimId::DataPrivate,
            statement: "no written data page is one frame with a process outside the \
                        writer's fork family: each is the writer's own copy, or inherited \
                        through fork (copy-on-write pending); data pages nobody wrote still \
                        share the file's frame"
                .into(),
            status: if self.failures.is_empty() {
                ClaimStatus::Holds
            } else {
                ClaimStatus::Fails
            },
            weak,
            summary,
            counts: self.counts,
            examples: self.examples,
            failures: self.failures,
        }
    }
}

pub(super) fn shared_claim(object: &ObjectReport, weak: bool) -> Claim {
    let pages = pages_where(object, |p| p.segment == SegmentKind::Shared);
    let mut counts = ClaimCounts {
        pages: pages.iter().map(|p| p.pages).sum(),
        ..ClaimCounts::default()
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
