//! `solab prove`: the three claims about a shared object, checked page by page against an
//! [`InspectReport`], each with counts and example frames. [`run`] makes a proof from the
//! processes the command line resolved; [`prove`] is its pure part, what the report and
//! the evidence read beside it (the fork families, [`families`], and the placements the
//! report does not show, [`elsewhere`]) come to.
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
//! A page of the object's text or data that some process backs with something else (a
//! `MAP_SHARED` window, another file: [`backing`]) fails the claim it concerns, and so does
//! a written copy of a text page in another placement of the object in a process.
//!
//! Without frame numbers the claims rest on pagemap bits: counted pages "look shared",
//! never "are one frame", and the claim is weak.

mod backing;
mod claims;
pub mod elsewhere;
pub mod families;
mod run;

pub use families::fork_families;
pub use run::{NAMED, ProveConfig, run};

use crate::addr::{Pfn, VirtAddr};
use crate::elf::SegmentKind;
use crate::inspect_report::{InspectReport, ObjectReport};
use crate::sharing::PageState;
use serde::{Deserialize, Serialize};

pub const PROVE_SCHEMA: &str = "solab.prove.v2";

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
    /// With `-u` alone: the user's processes whose memory map could not be read, which
    /// are not compared (they may map the object). Absent when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<crate::scan::PidError>,
}

/// What a proof comes to, for the exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProofOutcome {
    Holds,
    Fails,
    /// Nothing was violated, but the evidence cannot settle the claims: why.
    Inconclusive(&'static str),
}

/// What a proof with nothing to compare is.
pub const NOTHING_TO_COMPARE: &str =
    "inconclusive: no text page is present in every process, nothing to compare";

/// Why a proof with nothing to compare is inconclusive, and what to do.
pub const NOTHING_COMPARED: &str = "inconclusive: no text page is present in every process, \
                                    nothing to compare: touch the code, or run again under load";

/// What the claims of a report come to, as its last line says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conclusion {
    /// A claim fails.
    Fails,
    /// No claim fails, but no text page could be compared.
    NothingCompared,
    /// Every claim holds, on frame numbers.
    Holds,
    /// Every claim holds, some on pagemap bits only.
    HoldsOnWeakEvidence,
}

impl ProveReport {
    /// What the claims come to, from the report's own fields.
    pub fn conclusion(&self) -> Conclusion {
        if !self.holds {
            Conclusion::Fails
        } else if !self.compared {
            Conclusion::NothingCompared
        } else if self.conclusive {
            Conclusion::Holds
        } else {
            Conclusion::HoldsOnWeakEvidence
        }
    }

    /// A claim fails: `Fails`; a claim had nothing to compare, or (with `strict`) the claims
    /// rest on pagemap bits: `Inconclusive`; else `Holds`.
    pub fn outcome(&self, strict: bool) -> ProofOutcome {
        match self.conclusion() {
            Conclusion::Fails => ProofOutcome::Fails,
            Conclusion::NothingCompared => ProofOutcome::Inconclusive(NOTHING_COMPARED),
            Conclusion::HoldsOnWeakEvidence if strict => ProofOutcome::Inconclusive(
                "inconclusive (--strict): no frame numbers were seen, the claims rest on pagemap \
                 bits",
            ),
            Conclusion::Holds | Conclusion::HoldsOnWeakEvidence => ProofOutcome::Holds,
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
    pub counts: ClaimCounts,
    pub examples: Vec<PageEvidence>,
    pub failures: Vec<Failure>,
}

/// The pages a claim counted, by what they showed.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ClaimCounts {
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

/// Checks the three claims for `object` of `report`, with the fork families found and
/// the written text copies found in other placements ([`elsewhere`]).
pub fn prove(
    report: &InspectReport,
    object: &ObjectReport,
    families: Vec<Family>,
    elsewhere: &[elsewhere::WrittenText],
) -> ProveReport {
    let pids: Vec<i32> = object.procs.iter().map(|p| p.pid).collect();
    let weak = !report.privileged;
    let backing = backing::Backing::new(object);
    let family_of = families::family_index(&families);
    let claims = vec![
        claims::text_claim(object, weak, &backing, elsewhere),
        claims::data_claim(object, weak, &backing, &family_of),
        claims::shared_claim(object, weak),
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
        unreadable: Vec::new(),
    }
}
