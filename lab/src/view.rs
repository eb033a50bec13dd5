//! Reading `solab inspect --json` (schema solab.inspect.v2) through the analyzer's own
//! report types, for the evidence the lab shows.

use crate::ctx::Host;
use anyhow::{Result, anyhow};
use solab::elf::SegmentKind;
use solab::inspect_report::{InspectReport, ObjectReport, PageInProcess, PageReport};
use solab::sharing::{PageState, Verdict};

/// The object in an inspect report whose file name is `name`.
pub fn object<'a>(report: &'a InspectReport, name: &str) -> Result<&'a ObjectReport> {
    report
        .objects
        .iter()
        .find(|o| {
            o.path
                .rsplit('/')
                .next()
                // An installed libsolib.so is a link: processes map its target,
                // libsolib.so.0.1.0 (make install), which is the same library.
                .is_some_and(|f| {
                    f == name || f.strip_prefix(name).is_some_and(|v| v.starts_with('.'))
                })
        })
        .ok_or_else(|| anyhow!("solab inspect reported no object named {name}"))
}

/// The page entries of one segment kind.
pub fn pages_of(object: &ObjectReport, seg: SegmentKind) -> impl Iterator<Item = &PageReport> {
    object.pages.iter().filter(move |p| p.segment == seg)
}

/// The page entry that holds byte `offset` from the object's load base (an entry may
/// stand for several pages present nowhere).
pub fn page_at(object: &ObjectReport, offset: u64) -> Result<&PageReport> {
    let want = offset & !4095;
    object
        .pages
        .iter()
        .find(|p| p.offset <= want && want < p.offset + p.pages.max(1) * 4096)
        .ok_or_else(|| anyhow!("no page at offset {want:#x} in {}", object.path))
}

/// The per-process entry of `page` for `host`.
pub fn proc_of<'a>(page: &'a PageReport, host: &Host) -> Option<&'a PageInProcess> {
    page.procs.iter().find(|p| p.pid == host.pid)
}

/// The state's word, `missing` when the process has no entry.
pub fn state(page: &PageReport, host: &Host) -> &'static str {
    proc_of(page, host).map_or("missing", |p| p.state.name())
}

pub fn state_is(page: &PageReport, host: &Host, want: PageState) -> bool {
    proc_of(page, host).is_some_and(|p| p.state == want)
}

pub fn pfn(page: &PageReport, host: &Host) -> Option<u64> {
    proc_of(page, host).and_then(|p| p.pfn).map(|p| p.0)
}

pub fn present_count(page: &PageReport) -> usize {
    page.procs.iter().filter(|p| p.present).count()
}

/// "pfn 0x1a2b3 in A, B, C" when they agree, else "A 0x1, B 0x2, C 0x3"; states when no
/// frame numbers are visible.
pub fn frames(page: &PageReport, hosts: &[&Host]) -> String {
    let pfns: Vec<Option<u64>> = hosts.iter().map(|h| pfn(page, h)).collect();
    let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
    if pfns.iter().all(|p| p.is_none()) {
        let states: Vec<String> = hosts
            .iter()
            .map(|h| format!("{} {}", h.name, state(page, h)))
            .collect();
        return format!(
            "{} (no frame numbers without CAP_SYS_ADMIN)",
            states.join(", ")
        );
    }
    if pfns.windows(2).all(|w| w[0] == w[1]) {
        return format!("pfn {} in {}", hex(pfns[0]), names.join(", "));
    }
    hosts
        .iter()
        .zip(&pfns)
        .map(|(h, p)| format!("{} {} ({})", h.name, hex(*p), state(page, h)))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn hex(p: Option<u64>) -> String {
    p.map_or("-".to_string(), |p| format!("{p:#x}"))
}

/// Counts of a segment's pages, per verdict (weak `looks-*` verdicts counted with their
/// strong counterparts; [`Tally::weak`] says whether any was weak).
#[derive(Default, Debug)]
pub struct Tally {
    pub pages: u64,
    pub present_in_all: u64,
    /// `shared`, or weak `looks-shared`.
    pub shared: u64,
    pub private: u64,
    pub mixed: u64,
    pub one_process: u64,
    pub not_present: u64,
    /// Some verdict rested on pagemap bits only.
    pub weak: bool,
    /// Pages present in at least two processes whose verdict is not (looks-)shared.
    pub not_shared: Vec<u64>,
}

pub fn tally(object: &ObjectReport, seg: SegmentKind, nprocs: usize) -> Tally {
    let mut t = Tally::default();
    for p in pages_of(object, seg) {
        let n = p.pages.max(1);
        t.pages += n;
        if present_count(p) == nprocs {
            t.present_in_all += n;
        }
        t.weak |= p.verdict.is_weak();
        match p.verdict {
            Verdict::Shared | Verdict::LooksShared => t.shared += n,
            Verdict::Private | Verdict::LooksPrivate => t.private += n,
            Verdict::Mixed | Verdict::LooksMixed => t.mixed += n,
            Verdict::OneProcess => t.one_process += n,
            Verdict::NotPresent => t.not_present += n,
        }
        if present_count(p) >= 2 && !p.verdict.is_shared() {
            t.not_shared.push(p.offset);
        }
    }
    t
}

/// The word a shared page gets: `shared` with frame numbers, `looks-shared` without.
pub fn shared_verdict(weak: bool) -> Verdict {
    if weak {
        Verdict::LooksShared
    } else {
        Verdict::Shared
    }
}

pub fn offsets(list: &[u64]) -> String {
    let shown: Vec<String> = list.iter().take(8).map(|o| format!("{o:#x}")).collect();
    let more = if list.len() > 8 {
        format!(" and {} more", list.len() - 8)
    } else {
        String::new()
    };
    format!("{}{more}", shown.join(", "))
}
