//! The inspect report: what `solab inspect --json` prints (schema `solab.inspect.v2`) and
//! what `prove`, the text and SVG output and the lab read. Field names are a contract:
//! add fields; a renamed or removed field or a changed word gets a new schema version,
//! listed in the reference page with what changed.

use crate::addr::{Pfn, VirtAddr};
use crate::elf::{LoaderAction, SegmentKind};
use crate::kernel::Evidence;
use crate::kernel::config::KernelFacts;
use crate::placement::MappingKind;
use crate::scan::{PidError, Skipped};
use crate::sharing::{PageState, Verdict};
use serde::{Deserialize, Serialize};

pub const INSPECT_SCHEMA: &str = "solab.inspect.v2";

/// `O` is how the objects are held: a vector (the default, what readers deserialize), or
/// [`crate::commands::inspect::ObjectStream`], which builds each object as it is written.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InspectReport<O = Vec<ObjectReport>> {
    pub schema: String,
    /// `frames` (PFNs compared) or `bits` (pagemap bits only: every verdict weak).
    pub evidence: Evidence,
    /// Frames were compared by PFN (CAP_SYS_ADMIN); the same as `evidence == frames`.
    pub privileged: bool,
    /// Why not privileged, once.
    pub privilege_note: Option<String>,
    pub kernel: KernelFacts,
    /// The pids that were inspected.
    pub pids: Vec<i32>,
    pub processes: Vec<ProcessInfo>,
    /// Pids that could not be inspected (vanished, kernel thread, permission), by name.
    pub errors: Vec<PidError>,
    /// Mapped files that are not analyzed, with the reason.
    pub skipped: Vec<Skipped>,
    pub objects: O,
}

impl<O> InspectReport<O> {
    /// The same report with its objects held as `objects`.
    pub fn with_objects<P>(self, objects: P) -> InspectReport<P> {
        InspectReport {
            schema: self.schema,
            evidence: self.evidence,
            privileged: self.privileged,
            privilege_note: self.privilege_note,
            kernel: self.kernel,
            pids: self.pids,
            processes: self.processes,
            errors: self.errors,
            skipped: self.skipped,
            objects,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProcessInfo {
    pub pid: i32,
    pub comm: String,
    pub uid: Option<u32>,
    /// Field 4 of /proc/PID/stat.
    pub ppid: Option<i32>,
}

/// What kind of object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectKind {
    /// A mapped ELF file.
    Elf,
    /// The kernel's vdso image.
    Vdso,
}

/// `P` is how the pages are held and `Q` how the processes are: vectors (the default), or
/// iterators serialized as they are pulled ([`SeqOf`]) when the report is
/// streamed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ObjectReport<P = Vec<PageReport>, Q = Vec<ObjectInProcess>> {
    /// The path as the first process maps it; `[vdso]` for the vdso.
    pub path: String,
    pub kind: ObjectKind,
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
    pub procs: Q,
    pub pages: P,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ObjectInProcess {
    pub pid: i32,
    pub path: String,
    pub deleted: bool,
    /// Address of offset 0 of the load image.
    pub load_base: VirtAddr,
    /// Added to ELF `p_vaddr` to get the address in this process.
    pub load_bias: u64,
    pub mappings: Vec<MappingReport>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MappingReport {
    pub start: VirtAddr,
    pub end: VirtAddr,
    pub perms: String,
    pub offset: u64,
    /// `file`, `anonymous` (the `.bss` tail), `shared-window`, `other`.
    pub kind: MappingKind,
    /// The mapped path when it is not the object's own file (e.g. the shared window).
    pub target: Option<String>,
    /// smaps figures for the whole mapping, in bytes; null when smaps was unreadable.
    pub rss: Option<u64>,
    pub pss: Option<u64>,
    pub shared: Option<u64>,
    pub private: Option<u64>,
}

/// Pages of one segment kind, counted by verdict.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SegmentSummary {
    pub segment: Option<SegmentKind>,
    pub pages: u64,
    /// Present in at least one process.
    pub present: u64,
    pub shared: u64,
    pub private: u64,
    pub mixed: u64,
    pub one_process: u64,
    pub not_present: u64,
    pub looks_shared: u64,
    pub looks_private: u64,
    pub looks_mixed: u64,
}

impl SegmentSummary {
    pub fn count(&self, v: Verdict) -> u64 {
        match v {
            Verdict::Shared => self.shared,
            Verdict::Private => self.private,
            Verdict::Mixed => self.mixed,
            Verdict::OneProcess => self.one_process,
            Verdict::NotPresent => self.not_present,
            Verdict::LooksShared => self.looks_shared,
            Verdict::LooksPrivate => self.looks_private,
            Verdict::LooksMixed => self.looks_mixed,
        }
    }

    fn count_verdict(&mut self, v: Verdict, n: u64) {
        let c = match v {
            Verdict::Shared => &mut self.shared,
            Verdict::Private => &mut self.private,
            Verdict::Mixed => &mut self.mixed,
            Verdict::OneProcess => &mut self.one_process,
            Verdict::NotPresent => &mut self.not_present,
            Verdict::LooksShared => &mut self.looks_shared,
            Verdict::LooksPrivate => &mut self.looks_private,
            Verdict::LooksMixed => &mut self.looks_mixed,
        };
        *c += n;
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PageReport {
    /// Bytes from the object's load base.
    pub offset: u64,
    /// Consecutive pages this entry stands for: 1, or more for pages present in no
    /// process that nothing else tells apart.
    pub pages: u64,
    pub segment: SegmentKind,
    pub sections: Vec<String>,
    pub loader: LoaderAction,
    pub relocations: u32,
    pub verdict: Verdict,
    pub procs: Vec<PageInProcess>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PageInProcess {
    pub pid: i32,
    pub vaddr: VirtAddr,
    pub state: PageState,
    pub present: bool,
    pub pfn: Option<Pfn>,
    /// kpagecount: page-table mappings of the frame (not processes); null unprivileged.
    pub mapcount: Option<u64>,
    /// pagemap bit 56.
    pub exclusive: bool,
    /// pagemap bit 61.
    pub file: bool,
    /// Named kpageflags bits; empty unprivileged.
    pub flags: Vec<String>,
}

/// Counts verdicts per segment kind, in the order of [`SegmentKind::ALL`], leaving out
/// kinds with no pages.
pub fn summarize(pages: &[PageReport]) -> Vec<SegmentSummary> {
    let mut s = Summarizer::default();
    for p in pages {
        s.add(p);
    }
    s.finish()
}

/// [`summarize`] one page report at a time, for pages that are not held together.
#[derive(Default)]
pub struct Summarizer {
    by_kind: Vec<SegmentSummary>,
}

impl Summarizer {
    pub fn add(&mut self, p: &PageReport) {
        let s = match self
            .by_kind
            .iter_mut()
            .position(|s| s.segment == Some(p.segment))
        {
            Some(i) => &mut self.by_kind[i],
            None => {
                self.by_kind.push(SegmentSummary {
                    segment: Some(p.segment),
                    ..SegmentSummary::default()
                });
                self.by_kind.last_mut().expect("just pushed")
            }
        };
        s.pages += p.pages;
        if p.procs.iter().any(|q| q.present) {
            s.present += p.pages;
        }
        s.count_verdict(p.verdict, p.pages);
    }

    pub fn finish(self) -> Vec<SegmentSummary> {
        SegmentKind::ALL
            .iter()
            .filter_map(|&kind| {
                self.by_kind
                    .iter()
                    .find(|s| s.segment == Some(kind) && s.pages > 0)
                    .cloned()
            })
            .collect()
    }
}

/// A JSON array serialized from an iterator as it is pulled: only the item being written
/// is held. It can be serialized once.
pub struct SeqOf<I>(std::cell::RefCell<Option<I>>);

impl<I> SeqOf<I> {
    pub fn new(items: I) -> SeqOf<I> {
        SeqOf(std::cell::RefCell::new(Some(items)))
    }
}

impl<I: Iterator<Item = T>, T: Serialize> Serialize for SeqOf<I> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeSeq};
        let items = self
            .0
            .borrow_mut()
            .take()
            .ok_or_else(|| S::Error::custom("serialized twice"))?;
        let mut seq = s.serialize_seq(None)?;
        for item in items {
            seq.serialize_element(&item)?;
        }
        seq.end()
    }
}

impl<I> std::fmt::Debug for SeqOf<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SeqOf(..)")
    }
}
