//! The inspect report: what `solab inspect --json` prints (schema `solab.inspect.v1`) and
//! what `prove`, the human output and later commands read. Field names are a contract:
//! add fields, do not rename or remove them.

use crate::elf::{LoaderAction, SegmentKind};
use crate::verdict::{PageState, Verdict};
use serde::Serialize;

pub const INSPECT_SCHEMA: &str = "solab.inspect.v1";

#[derive(Clone, Debug, Serialize)]
pub struct InspectReport {
    pub schema: &'static str,
    /// Frames were compared by PFN (CAP_SYS_ADMIN). When false, every verdict is weak.
    pub privileged: bool,
    /// Why not privileged, once.
    pub privilege_note: Option<String>,
    /// The pids that were inspected.
    pub pids: Vec<i32>,
    pub processes: Vec<ProcessInfo>,
    /// Pids that could not be inspected (vanished, kernel thread, permission), by name.
    pub errors: Vec<PidError>,
    /// Mapped files that are not analyzed, with the reason.
    pub skipped: Vec<Skipped>,
    pub objects: Vec<ObjectReport>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ProcessInfo {
    pub pid: i32,
    pub comm: String,
    pub uid: Option<u32>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PidError {
    pub pid: i32,
    pub message: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Skipped {
    pub pid: i32,
    pub path: String,
    pub reason: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct ObjectReport {
    /// The path as the first process maps it; `[vdso]` for the vdso.
    pub path: String,
    /// `elf` for a mapped file, `vdso` for the kernel's vdso image.
    pub kind: &'static str,
    /// `major:minor` in hex, as /proc/PID/maps prints it; null for the vdso.
    pub dev: Option<String>,
    pub inode: Option<u64>,
    pub build_id: Option<String>,
    pub soname: Option<String>,
    pub textrel: bool,
    pub bind_now: bool,
    pub has_shared_section: bool,
    /// Verdicts rest on pagemap bits only (no PFNs).
    pub weak: bool,
    pub summary: Vec<SegmentSummary>,
    pub procs: Vec<ObjectInProcess>,
    pub pages: Vec<PageReport>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ObjectInProcess {
    pub pid: i32,
    pub path: String,
    pub deleted: bool,
    /// Address of offset 0 of the load image.
    pub load_base: u64,
    /// Added to ELF `p_vaddr` to get the address in this process.
    pub load_bias: u64,
    pub mappings: Vec<MappingReport>,
}

#[derive(Clone, Debug, Serialize)]
pub struct MappingReport {
    pub start: u64,
    pub end: u64,
    pub perms: String,
    pub offset: u64,
    /// `file`, `anonymous` (the `.bss` tail), `shared-window`, `other`.
    pub kind: crate::attribute::MappingKind,
    /// The mapped path when it is not the object's own file (e.g. the shared window).
    pub target: Option<String>,
    /// smaps figures for the whole mapping, in bytes; null when smaps was unreadable.
    pub rss: Option<u64>,
    pub pss: Option<u64>,
    pub shared: Option<u64>,
    pub private: Option<u64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SegmentSummary {
    pub segment: SegmentKind,
    pub pages: u64,
    /// Present in at least one process.
    pub present: u64,
    pub shared: u64,
    pub private: u64,
    pub mixed: u64,
    pub untouched: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct PageReport {
    /// Bytes from the object's load base.
    pub offset: u64,
    pub segment: SegmentKind,
    pub sections: Vec<String>,
    pub loader: LoaderAction,
    pub relocations: u32,
    pub verdict: Verdict,
    pub procs: Vec<PageInProcess>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PageInProcess {
    pub pid: i32,
    pub vaddr: u64,
    pub state: PageState,
    pub present: bool,
    pub pfn: Option<u64>,
    /// kpagecount: page-table mappings of the frame (not processes); null unprivileged.
    pub mapcount: Option<u64>,
    /// pagemap bit 56.
    pub exclusive: bool,
    /// pagemap bit 61.
    pub file: bool,
    /// Named kpageflags bits; empty unprivileged.
    pub flags: Vec<&'static str>,
}

/// Counts verdicts per segment kind, in the order of [`SegmentKind::ALL`], leaving out
/// kinds with no pages.
pub fn summarize(pages: &[PageReport]) -> Vec<SegmentSummary> {
    SegmentKind::ALL
        .iter()
        .filter_map(|&kind| {
            let of_kind: Vec<&PageReport> = pages.iter().filter(|p| p.segment == kind).collect();
            if of_kind.is_empty() {
                return None;
            }
            let count = |v: Verdict| of_kind.iter().filter(|p| p.verdict == v).count() as u64;
            Some(SegmentSummary {
                segment: kind,
                pages: of_kind.len() as u64,
                present: of_kind
                    .iter()
                    .filter(|p| p.procs.iter().any(|q| q.present))
                    .count() as u64,
                shared: count(Verdict::Shared),
                private: count(Verdict::Private),
                mixed: count(Verdict::Mixed),
                untouched: count(Verdict::Untouched),
            })
        })
        .collect()
}
