//! Human-readable output of the commands. JSON output is the serde form of the report
//! structs ([`crate::inspect_report`], [`crate::commands::prove`], [`ElfReport`]).

use crate::PAGE_SIZE;
use crate::commands::family::{FamilyReport, Inherited};
use crate::commands::group_key::GroupBy;
use crate::commands::libs::by_group::LibsGroupsReport;
use crate::commands::libs::{LibsReport, PssSource, Totals};
use crate::commands::prove::{ClaimStatus, ProveReport};
use crate::commands::ps::{ByClass, Cost, PsReport};
use crate::elf::{ElfPlan, LoadSegment, LoaderAction, Section, SegmentKind};
use crate::inspect_report::{InspectReport, ObjectReport};
use crate::output::terminal::{GREEN, RED, Style, YELLOW, paint};
use crate::sharing::Verdict;
use serde::Serialize;
use std::fmt::Write;

pub const ELF_SCHEMA: &str = "solab.elf.v2";

/// What `solab elf --json` prints: the plan with its pages as runs.
#[derive(Serialize)]
pub struct ElfReport<'a> {
    pub schema: &'static str,
    pub path: String,
    pub e_type: String,
    pub machine: u16,
    pub class64: bool,
    pub soname: &'a Option<String>,
    pub needed: &'a [String],
    pub build_id: &'a Option<String>,
    pub textrel: bool,
    pub bind_now: bool,
    pub relro: Option<(u64, u64)>,
    pub has_shared_section: bool,
    pub image_start: u64,
    pub image_end: u64,
    pub segments: &'a [LoadSegment],
    pub sections: &'a [Section],
    /// Why relocations were not counted, when they were not.
    pub relocations_not_counted: &'a Option<String>,
    pub runs: Vec<RunReport>,
}

/// Consecutive pages the plan cannot tell apart.
#[derive(Serialize)]
pub struct RunReport {
    pub offset: u64,
    pub vaddr: u64,
    pub pages: u64,
    pub segment: SegmentKind,
    pub loader: LoaderAction,
    pub load: u32,
    pub file_offset: Option<u64>,
    pub sections: Vec<String>,
    /// Relocations on these pages, in all.
    pub relocations: u64,
}

impl<'a> ElfReport<'a> {
    pub fn new(path: String, plan: &'a ElfPlan) -> ElfReport<'a> {
        ElfReport {
            schema: ELF_SCHEMA,
            path,
            e_type: plan.e_type.to_string(),
            machine: plan.machine,
            class64: plan.class64,
            soname: &plan.soname,
            needed: &plan.needed,
            build_id: &plan.build_id,
            textrel: plan.textrel,
            bind_now: plan.bind_now,
            relro: plan.relro,
            has_shared_section: plan.has_shared_section,
            image_start: plan.image_start,
            image_end: plan.image_end,
            segments: &plan.segments,
            sections: &plan.sections,
            relocations_not_counted: &plan.relocations_not_counted,
            runs: plan
                .runs
                .iter()
                .map(|r| RunReport {
                    offset: r.offset,
                    vaddr: r.vaddr,
                    pages: r.pages,
                    segment: r.segment,
                    loader: r.loader,
                    load: r.load,
                    file_offset: r.file_offset,
                    sections: plan.section_names(plan.section_set(r)),
                    relocations: run_relocations(plan, r),
                })
                .collect(),
        }
    }
}

fn run_relocations(plan: &ElfPlan, r: &crate::elf::PageRun) -> u64 {
    let first = ((r.vaddr - plan.image_start) / crate::PAGE_SIZE) as usize;
    plan.reloc_counts
        .get(first..first + r.pages as usize)
        .map_or(0, |c| c.iter().map(|&n| u64::from(n)).sum())
}

fn opt(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("-")
}

pub fn render_elf(path: &str, plan: &ElfPlan) -> String {
    let mut o = String::new();
    let relro = plan
        .relro
        .map(|(s, e)| format!("{s:#x}..{e:#x}"))
        .unwrap_or_else(|| "none".into());
    let _ = writeln!(o, "{path}");
    let _ = writeln!(
        o,
        "  type {}  soname {}  build-id {}",
        plan.e_type,
        opt(&plan.soname),
        opt(&plan.build_id)
    );
    let _ = writeln!(
        o,
        "  TEXTREL {}  BIND_NOW {}  PT_GNU_RELRO {}  .shared {}",
        yes(plan.textrel),
        yes(plan.bind_now),
        relro,
        yes(plan.has_shared_section)
    );
    let _ = writeln!(
        o,
        "  NEEDED {}",
        if plan.needed.is_empty() {
            "-".to_string()
        } else {
            plan.needed.join(" ")
        }
    );
    let _ = writeln!(o, "  PT_LOAD:");
    for s in &plan.segments {
        let _ = writeln!(
            o,
            "    {} p_offset {:#8x} p_vaddr {:#8x} p_filesz {:#8x} p_memsz {:#8x}",
            s.p_flags, s.p_offset, s.p_vaddr, s.p_filesz, s.p_memsz
        );
    }
    if let Some(why) = &plan.relocations_not_counted {
        let _ = writeln!(o, "  relocations not counted: {why}");
    }
    let _ = writeln!(
        o,
        "  {} pages in {} runs:",
        plan.page_count(),
        plan.runs.len()
    );
    let _ = writeln!(
        o,
        "    {:>8}  {:>5}  {:>8}  {:<6}  {:>6}  {:<50}  sections",
        "offset", "pages", "file", "kind", "relocs", "loader"
    );
    for r in &plan.runs {
        let _ = writeln!(
            o,
            "    {:#8x}  {:>5}  {:>8}  {:<6}  {:>6}  {:<50}  {}",
            r.offset,
            r.pages,
            r.file_offset
                .map(|f| format!("{f:#x}"))
                .unwrap_or_else(|| "anon".into()),
            r.segment.name(),
            run_relocations(plan, r),
            r.loader.describe(),
            plan.section_names(plan.section_set(r)).join(" ")
        );
    }
    o
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// What `--object PATTERN` matched: the pattern and the paths, in the order shown.
pub struct Matched<'a> {
    pub pattern: &'a str,
    pub paths: &'a [String],
}

/// The line `--object PATTERN matched: a, b`, naming at most `limit` paths.
fn matched_line(o: &mut String, m: &Matched, limit: usize) {
    let shown: Vec<&str> = m.paths.iter().take(limit).map(String::as_str).collect();
    let more = m.paths.len().saturating_sub(limit);
    let _ = writeln!(
        o,
        "--object {} matched: {}{}",
        m.pattern,
        if shown.is_empty() {
            "nothing".to_string()
        } else {
            shown.join(", ")
        },
        if more > 0 {
            format!(" and {more} more (all in --json)")
        } else {
            String::new()
        }
    );
}

pub fn render_inspect(
    r: &InspectReport,
    pages: bool,
    style: Style,
    matched: Option<Matched>,
) -> String {
    let mut o = String::new();
    if let Some(note) = &r.privilege_note {
        let _ = writeln!(o, "note: {note}");
    }
    let procs: Vec<String> = r
        .processes
        .iter()
        .map(|p| format!("{} ({})", p.pid, p.comm))
        .collect();
    let _ = writeln!(o, "processes: {}", procs.join(", "));
    if let Some(m) = &matched {
        matched_line(&mut o, m, usize::MAX);
    }
    for e in &r.errors {
        let _ = writeln!(o, "not inspected: {}", e.message);
    }
    for obj in &r.objects {
        render_object(&mut o, obj, pages, style);
    }
    let (not_elf, other): (Vec<_>, Vec<_>) = r
        .skipped
        .iter()
        .partition(|s| s.kind == crate::error::ErrorKind::NotElf);
    if !not_elf.is_empty() {
        let _ = writeln!(
            o,
            "\nskipped {} mapped file(s) that are not ELF objects (listed in --json)",
            not_elf.len()
        );
    }
    for s in other {
        let _ = writeln!(o, "skipped: pid {} {}: {}", s.pid, s.path, s.reason);
    }
    o
}

fn render_object(o: &mut String, obj: &ObjectReport, pages: bool, style: Style) {
    let _ = writeln!(o);
    let weak = if obj.weak {
        format!("  {}", paint(style, YELLOW, "[weak: no frame numbers]"))
    } else {
        String::new()
    };
    let _ = writeln!(
        o,
        "{}  (build-id {}{}){weak}",
        obj.path,
        opt(&obj.build_id),
        if obj.textrel { ", TEXTREL" } else { "" }
    );
    for p in &obj.procs {
        let _ = writeln!(
            o,
            "  pid {:<7} base {}{}",
            p.pid,
            p.load_base,
            if p.deleted { "  (file deleted)" } else { "" }
        );
    }
    // Frames give shared/private/mixed; bits give the looks-* verdicts: the columns say
    // which, never both.
    let compared: [Verdict; 3] = if obj.weak {
        [
            Verdict::LooksShared,
            Verdict::LooksPrivate,
            Verdict::LooksMixed,
        ]
    } else {
        [Verdict::Shared, Verdict::Private, Verdict::Mixed]
    };
    let _ = writeln!(
        o,
        "  {:<7} {:>6} {:>8} {:>13} {:>13} {:>11} {:>11} {:>11}",
        "segment",
        "pages",
        "present",
        compared[0].name(),
        compared[1].name(),
        compared[2].name(),
        "one-process",
        "not-present"
    );
    for s in &obj.summary {
        let _ = writeln!(
            o,
            "  {:<7} {:>6} {:>8} {:>13} {:>13} {:>11} {:>11} {:>11}",
            s.segment.map_or("?", |k| k.name()),
            s.pages,
            s.present,
            s.count(compared[0]),
            s.count(compared[1]),
            s.count(compared[2]),
            s.one_process,
            s.not_present
        );
    }
    if pages {
        let _ = writeln!(
            o,
            "  {:>8}  {:<6}  {:<13}  per pid: state/frame/mapcount  sections",
            "offset", "kind", "verdict"
        );
        for p in &obj.pages {
            let per: Vec<String> = p
                .procs
                .iter()
                .map(|q| {
                    let pfn = q.pfn.map(|f| f.to_string()).unwrap_or_else(|| "-".into());
                    let mc = q
                        .mapcount
                        .map(|m| m.to_string())
                        .unwrap_or_else(|| "-".into());
                    format!("{}:{}/{}/{}", q.pid, q.state.name(), pfn, mc)
                })
                .collect();
            let count = if p.pages > 1 {
                format!(" (x{})", p.pages)
            } else {
                String::new()
            };
            let _ = writeln!(
                o,
                "  {:#8x}  {:<6}  {:<13}  {}  {}{count}",
                p.offset,
                p.segment.name(),
                p.verdict.name(),
                per.join(" "),
                p.sections.join(" ")
            );
        }
    }
}

pub fn render_prove(r: &ProveReport, style: Style) -> String {
    let mut o = String::new();
    if let Some(note) = &r.privilege_note {
        let _ = writeln!(o, "note: {note}");
    }
    let pids: Vec<String> = r.pids.iter().map(|p| p.to_string()).collect();
    let _ = writeln!(
        o,
        "{} (build-id {}) in pids {}",
        r.object,
        opt(&r.build_id),
        pids.join(" ")
    );
    for f in &r.families {
        let members: Vec<String> = f.pids.iter().map(|p| p.to_string()).collect();
        let _ = writeln!(
            o,
            "fork family of {} ({}): {}",
            f.root,
            f.root_comm,
            members.join(" ")
        );
    }
    for (i, c) in r.claims.iter().enumerate() {
        let status = match c.status {
            ClaimStatus::Holds => paint(style, GREEN, "HOLDS"),
            ClaimStatus::Fails => paint(style, RED, "FAILS"),
            ClaimStatus::NotApplicable => "N/A".to_string(),
        };
        let weak = if c.weak {
            format!(" {}", paint(style, YELLOW, "(weak)"))
        } else {
            String::new()
        };
        let _ = writeln!(o, "\n({}) {}: {status}{weak}", i + 1, c.statement);
        let _ = writeln!(o, "    {}", c.summary);
        for e in &c.examples {
            let fr: Vec<String> = e
                .frames
                .iter()
                .map(|f| {
                    let pfn = f.pfn.map(|p| p.to_string()).unwrap_or_else(|| "?".into());
                    format!("{}:{} {}", f.pid, pfn, f.state.name())
                })
                .collect();
            let _ = writeln!(
                o,
                "    e.g. page {:#x} {} [{}]: {}",
                e.offset,
                e.segment.name(),
                e.sections.join(" "),
                fr.join(", ")
            );
        }
        for f in &c.failures {
            let _ = writeln!(
                o,
                "    {} page {:#x} {} [{}]: {}",
                paint(style, RED, "FAIL"),
                f.offset,
                f.segment.name(),
                f.sections.join(" "),
                f.reason
            );
        }
    }
    let _ = writeln!(
        o,
        "\n{}",
        match (r.holds, r.conclusive) {
            (true, true) => paint(style, GREEN, "all claims hold"),
            (true, false) => paint(
                style,
                YELLOW,
                "all claims hold, on weak evidence (no frame numbers)"
            ),
            (false, _) => paint(style, RED, "a claim fails"),
        }
    );
    o
}

/// Pages as a human size. Sizes are counted in pages, so anything that is not zero is
/// given in KiB at least (a PSS share of a page is "0.1 KiB", not "102 B").
fn size(pages: f64) -> String {
    let bytes = pages * PAGE_SIZE as f64;
    if bytes == 0.0 {
        return "0 B".into();
    }
    let units = ["KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes / 1024.0;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", units[u])
}

/// A size in pages as text: human (KiB, MiB, ...) or, with `bytes`, the byte count.
fn amount(pages: f64, bytes: bool) -> String {
    if bytes {
        format!("{}", (pages * PAGE_SIZE as f64).round() as u64)
    } else {
        size(pages)
    }
}

fn short_path(p: &str, width: usize) -> String {
    let n = p.chars().count();
    if n <= width || width < 2 {
        p.to_string()
    } else {
        let tail: String = p.chars().skip(n - (width - 1)).collect();
        format!("…{tail}")
    }
}

/// The narrowest the OBJECT column gets to fit a terminal.
const MIN_PATH_WIDTH: usize = 20;

/// How `solab libs` draws its table.
#[derive(Default)]
pub struct LibsView<'a> {
    /// How many objects `--top` left out.
    pub hidden: usize,
    /// Sizes as byte counts (`--bytes`).
    pub bytes: bool,
    /// The terminal's width: paths are shortened (from the left) so that rows fit, down to
    /// [`MIN_PATH_WIDTH`]. `None` (`--wide`, or not a terminal): never shortened.
    pub width: Option<usize>,
    pub style: Style,
    pub matched: Option<Matched<'a>>,
}

/// The human table.
pub fn render_libs(r: &LibsReport, view: &LibsView) -> String {
    let mut o = String::new();
    let p = &r.processes;
    let _ = writeln!(
        o,
        "solab libs: {} processes scanned ({} vanished during the scan, {} unreadable, {} without a memory map)",
        p.scanned, p.vanished, p.unreadable, p.no_memory_map
    );
    if r.privileged {
        let _ = writeln!(
            o,
            "frames compared by PFN; PSS from {}; sizes summed over the processes",
            if r.pss_source == PssSource::Kpagecount {
                "/proc/kpagecount"
            } else {
                "the frames seen in every process"
            },
        );
    } else {
        let _ = writeln!(
            o,
            "{}: {}\n  SAVED and PSS are smaps figures (Rss - Pss, Pss), FRAMES are unknown; \
             PRIVATE counts exclusive anonymous pages from pagemap bits",
            paint(view.style, YELLOW, "ESTIMATES"),
            r.privilege_note.as_deref().unwrap_or("not privileged")
        );
    }
    if let Some(m) = &view.matched {
        matched_line(&mut o, m, 10);
    }
    let _ = writeln!(o);
    let b = view.bytes;
    let cells: Vec<[String; 4]> = r
        .objects
        .iter()
        .map(|x| {
            [
                amount(x.resident_pages as f64, b),
                x.frames.map_or("?".to_string(), |f| amount(f as f64, b)),
                amount(x.saved_pages, b),
                amount(x.pss_pages, b),
            ]
        })
        .collect();
    let private: Vec<String> = r
        .objects
        .iter()
        .map(|x| format!("{}/{}/{}", x.private.text, x.private.relro, x.private.data))
        .collect();
    let vw = cells
        .iter()
        .flatten()
        .map(String::len)
        .max()
        .unwrap_or(0)
        .max(10);
    const PRIVATE_HEAD: &str = "PRIVATE text/relro/data";
    let last = r
        .objects
        .iter()
        .zip(&private)
        .map(|(x, p)| p.len() + if x.textrel { "  TEXTREL".len() } else { 0 })
        .max()
        .unwrap_or(0)
        .max(PRIVATE_HEAD.len());
    let longest = r
        .objects
        .iter()
        .map(|x| x.path.chars().count())
        .max()
        .unwrap_or(6)
        .max(6);
    let width = match view.width {
        None => longest,
        Some(term) => {
            let rest = 1 + 5 + 4 * (1 + vw) + 2 + last;
            longest.min(term.saturating_sub(rest).max(MIN_PATH_WIDTH))
        }
    };
    let saved_head = if r.privileged { "SAVED" } else { "SAVED~" };
    let pss_head = if r.privileged { "PSS" } else { "PSS~" };
    let _ = writeln!(
        o,
        "{:<width$} {:>5} {:>vw$} {:>vw$} {:>vw$} {:>vw$}  {PRIVATE_HEAD}",
        "OBJECT", "PROCS", "RESIDENT", "FRAMES", saved_head, pss_head
    );
    for ((x, c), private) in r.objects.iter().zip(&cells).zip(&private) {
        let _ = writeln!(
            o,
            "{:<width$} {:>5} {:>vw$} {:>vw$} {:>vw$} {:>vw$}  {private}{}",
            short_path(&x.path, width),
            x.procs,
            c[0],
            c[1],
            c[2],
            c[3],
            if x.textrel {
                format!("  {}", paint(view.style, YELLOW, "TEXTREL"))
            } else {
                String::new()
            }
        );
    }
    if view.hidden > 0 {
        let _ = writeln!(o, "({} more objects; --top 0 shows them all)", view.hidden);
    }
    let t = &r.totals;
    let rows: [(String, &Totals); 4] = [
        (format!("ELF objects ({})", t.objects), &t.elf_objects),
        ("anonymous memory".to_string(), &t.anonymous),
        ("other files".to_string(), &t.other_files),
        ("all".to_string(), &t.all),
    ];
    let totals: Vec<[String; 3]> = rows
        .iter()
        .map(|(_, t)| {
            [
                amount(t.resident_pages as f64, b),
                t.frames.map_or("?".to_string(), |f| amount(f as f64, b)),
                amount(t.saved_pages, b),
            ]
        })
        .collect();
    let tw = totals
        .iter()
        .flatten()
        .map(String::len)
        .max()
        .unwrap_or(0)
        .max(10);
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "{:<24} {:>tw$} {:>tw$} {:>tw$}",
        "TOTALS", "RESIDENT", "FRAMES", saved_head
    );
    for ((name, _), c) in rows.iter().zip(&totals) {
        let _ = writeln!(o, "{:<24} {:>tw$} {:>tw$} {:>tw$}", name, c[0], c[1], c[2]);
    }
    if t.zero_page_mappings > 0 {
        let _ = writeln!(
            o,
            "({} mappings of the kernel's zero page are not counted: nobody holds that memory)",
            t.zero_page_mappings
        );
    }
    for x in r.objects.iter().filter(|x| x.textrel) {
        let _ = writeln!(
            o,
            "{}: {} has text relocations: the loader patches its text, making {} private text page(s) over {} process(es)",
            paint(view.style, YELLOW, "TEXTREL"),
            x.path,
            x.private.text,
            x.procs
        );
    }
    if !r.skipped.is_empty() {
        let _ = writeln!(o, "not analyzed:");
        for s in &r.skipped {
            let _ = writeln!(o, "  {}: {}", s.path, s.reason);
        }
    }
    o
}

fn bytes(b: u64) -> String {
    size(b as f64 / PAGE_SIZE as f64)
}

/// A change in bytes, signed: `+32.0 MiB`, `-4.0 KiB`, `0 B`.
fn bytes_change(before: u64, after: u64) -> String {
    match after.cmp(&before) {
        std::cmp::Ordering::Equal => "0 B".to_string(),
        std::cmp::Ordering::Greater => format!("+{}", bytes(after - before)),
        std::cmp::Ordering::Less => format!("-{}", bytes(before - after)),
    }
}

/// What changed in a family since the previous reading (`family --watch`): per process
/// whose figures moved, and for the family; processes that appeared or exited by pid.
pub fn render_family_change(prev: &FamilyReport, cur: &FamilyReport, secs: u64) -> String {
    let shared = |x: &Inherited| {
        if cur.weak {
            x.looks_inherited
        } else {
            x.parents_frame
        }
    };
    let head = if cur.weak {
        "LOOKS-INHERITED"
    } else {
        "PARENTS-FRAME"
    };
    let line = |a: &Inherited, b: &Inherited| {
        format!(
            "{head} {}, COPIED {}, NEW {}",
            bytes_change(shared(a), shared(b)),
            bytes_change(a.copied, b.copied),
            bytes_change(a.new, b.new)
        )
    };
    let mut o = String::new();
    let _ = writeln!(o, "since the last reading ({secs} s before):");
    let mut moved = false;
    for p in cur.processes.iter().filter(|p| p.depth > 0) {
        match prev.processes.iter().find(|q| q.pid == p.pid) {
            Some(q) if q.totals != p.totals => {
                moved = true;
                let _ = writeln!(o, "  {} {}: {}", p.pid, p.comm, line(&q.totals, &p.totals));
            }
            Some(_) => {}
            None => {
                moved = true;
                let _ = writeln!(o, "  {} {}: new in the family", p.pid, p.comm);
            }
        }
    }
    for q in &prev.processes {
        if !cur.processes.iter().any(|p| p.pid == q.pid) {
            moved = true;
            let _ = writeln!(o, "  {} {}: exited", q.pid, q.comm);
        }
    }
    if moved {
        let _ = writeln!(o, "  family: {}", line(&prev.totals, &cur.totals));
    } else {
        let _ = writeln!(o, "  no change");
    }
    o
}

/// How `solab ps` draws its table.
#[derive(Default)]
pub struct PsView {
    /// How many rows (processes or groups) `--top` left out.
    pub hidden: usize,
    /// Sizes as byte counts (`--bytes`).
    pub bytes: bool,
    /// The terminal's width: the last column (command, cgroup, container) is shortened
    /// from the left so that rows fit, down to [`MIN_PATH_WIDTH`]. `None`: never.
    pub width: Option<usize>,
}

/// `solab ps`: one row per process, or per group with `--by`; totals at the end.
pub fn render_ps(r: &PsReport, view: &PsView) -> String {
    let mut o = String::new();
    let c = &r.counts;
    let _ = writeln!(
        o,
        "solab ps: {} processes scanned ({} vanished during the scan, {} unreadable, {} without a memory map, {} filtered out)",
        c.scanned, c.vanished, c.unreadable, c.no_memory_map, c.filtered_out
    );
    let mark = if r.weak { "~" } else { "" };
    if r.weak {
        let _ = writeln!(
            o,
            "WEAK: {}\n  figures marked ~ are the kernel's smaps figures (Rss, Pss, Private, Swap), not frames",
            r.privilege_note.as_deref().unwrap_or("not privileged")
        );
    } else {
        let _ = writeln!(
            o,
            "frames: PSS and USS from page frame numbers and /proc/kpagecount"
        );
    }
    // Groups counted from frames show ALONE, ONLY and WITH-REST instead of USS.
    let frames = r.by.is_some() && !r.weak;
    if let Some(by) = r.by {
        if r.weak {
            let _ = writeln!(
                o,
                "WEAK: groups by {} sum their processes' smaps figures: a frame two of them map is counted in each, and what a group shares with the rest is not seen",
                by.name()
            );
        } else {
            let _ = writeln!(
                o,
                "groups by {}: RSS, PSS and SWAP summed over the processes; ALONE (what the group would cost alone), ONLY (freed if it exited) and WITH-REST (shared with processes outside it) count each frame once",
                by.name()
            );
        }
    }
    let _ = writeln!(
        o,
        "ELF, ANON, SHARED and FILES split PSS{mark}: ELF objects, anonymous memory, MAP_SHARED memory, other files\n"
    );
    let amount = |b: u64| -> String { if view.bytes { b.to_string() } else { bytes(b) } };
    let head = |n: &str| format!("{n}{mark}");
    let mut heads: Vec<String> = vec![head("RSS"), head("PSS")];
    if frames {
        heads.extend(["ALONE", "ONLY", "WITH-REST"].map(String::from));
    } else {
        heads.push(head("USS"));
    }
    for h in ["SWAP", "ELF", "ANON", "SHARED", "FILES"] {
        heads.push(head(h));
    }
    // (first column, user, cells, last column)
    let mut rows: Vec<(String, String, Vec<String>, String)> = Vec::new();
    let cells = |x: &Cost, k: &ByClass, f: Option<&crate::commands::ps::GroupFrames>| {
        let mut v = vec![amount(x.rss), amount(x.pss)];
        match (frames, f) {
            (true, Some(f)) => v.extend([f.alone, f.only, f.with_rest].map(amount)),
            (true, None) => v.extend(["-", "-", "-"].map(String::from)),
            (false, _) => v.push(amount(x.uss)),
        }
        v.extend([x.swap, k.elf.pss, k.anon.pss, k.shared.pss, k.files.pss].map(amount));
        v
    };
    for p in &r.processes {
        rows.push((
            p.pid.to_string(),
            p.user.clone(),
            cells(&p.cost, &p.classes, None),
            p.comm.clone(),
        ));
    }
    for g in &r.groups {
        let (user, last) = match (r.by, &g.container) {
            (Some(GroupBy::User), _) => (g.key.clone(), String::new()),
            (_, Some(c)) => (String::new(), c.label()),
            _ => (String::new(), g.key.clone()),
        };
        rows.push((
            g.processes.to_string(),
            user,
            cells(&g.cost, &g.classes, g.frames.as_ref()),
            last,
        ));
    }
    let t = &r.totals;
    let total = (
        "TOTAL".to_string(),
        String::new(),
        cells(&t.cost, &t.classes, None),
        format!("{} processes", t.processes),
    );
    let vw = rows
        .iter()
        .chain(std::iter::once(&total))
        .flat_map(|r| r.2.iter())
        .chain(&heads)
        .map(|c| c.chars().count())
        .max()
        .unwrap_or(0)
        .max(10);
    let last_head = match r.by {
        Some(GroupBy::Cgroup) => "CGROUP",
        Some(GroupBy::Container) => "CONTAINER",
        Some(GroupBy::User) => "",
        Some(GroupBy::Comm) | None => "COMMAND",
    };
    let fixed = 8 + 1 + 10 + heads.len() * (1 + vw) + 2;
    let last_width = view
        .width
        .map(|term| term.saturating_sub(fixed).max(MIN_PATH_WIDTH));
    let line = |o: &mut String, first: &str, user: &str, cells: &[String], last: &str| {
        let mut l = format!(
            "{first:>8} {:<10}",
            user.chars().take(10).collect::<String>()
        );
        for c in cells {
            let _ = write!(l, " {c:>vw$}");
        }
        let last = match last_width {
            Some(w) => short_path(last, w),
            None => last.to_string(),
        };
        let _ = writeln!(o, "{}", format!("{l}  {last}").trim_end());
    };
    line(
        &mut o,
        if r.by.is_some() { "PROCS" } else { "PID" },
        "USER",
        &heads,
        last_head,
    );
    for (first, user, c, last) in &rows {
        line(&mut o, first, user, c, last);
    }
    if view.hidden > 0 {
        let _ = writeln!(o, "({} more rows; --top 0 shows them all)", view.hidden);
    }
    line(&mut o, &total.0, &total.1, &total.2, &total.3);
    o
}

/// `solab libs --by`: one row per group of processes: its libraries' frames, and how many
/// another group maps too.
pub fn render_libs_groups(r: &LibsGroupsReport, view: &PsView) -> String {
    let mut o = String::new();
    let p = &r.processes;
    let _ = writeln!(
        o,
        "solab libs --by {}: {} processes scanned ({} vanished during the scan, {} unreadable, {} without a memory map)",
        r.by.name(),
        p.scanned,
        p.vanished,
        p.unreadable,
        p.no_memory_map
    );
    if r.weak {
        let _ = writeln!(
            o,
            "WEAK: {}\n  RESIDENT and PSS~ are sums of smaps figures; FRAMES and WITH-OTHERS need frame numbers",
            r.privilege_note.as_deref().unwrap_or("not privileged")
        );
    } else {
        let _ = writeln!(
            o,
            "ELF objects only: FRAMES counts each frame once per group (what its libraries would cost it alone), \
             WITH-OTHERS those a process of another group maps too, SAME-LIBS its objects whose library another group maps"
        );
    }
    let _ = writeln!(o);
    let amount = |pages: f64| amount(pages, view.bytes);
    let unknown = || "?".to_string();
    let rows: Vec<([String; 6], String)> = r
        .groups
        .iter()
        .map(|g| {
            (
                [
                    g.procs.to_string(),
                    g.objects.to_string(),
                    amount(g.resident_pages as f64),
                    amount(g.pss_pages),
                    g.frames.map_or_else(unknown, |f| amount(f as f64)),
                    g.with_others.map_or_else(unknown, |f| amount(f as f64)),
                ],
                g.container
                    .as_ref()
                    .map_or_else(|| g.key.clone(), |c| c.label()),
            )
        })
        .collect();
    let pss = if r.weak { "PSS~" } else { "PSS" };
    let heads = ["PROCS", "OBJECTS", "RESIDENT", pss, "FRAMES", "WITH-OTHERS"];
    let vw = rows
        .iter()
        .flat_map(|r| r.0.iter().map(|c| c.chars().count()))
        .chain(heads.iter().map(|h| h.len()))
        .max()
        .unwrap_or(0);
    let last_width = view
        .width
        .map(|term| term.saturating_sub(7 * (vw + 1) + 2).max(MIN_PATH_WIDTH));
    let last_head = match r.by {
        GroupBy::User => "USER",
        GroupBy::Comm => "COMMAND",
        GroupBy::Cgroup => "CGROUP",
        GroupBy::Container => "CONTAINER",
    };
    let line = |o: &mut String, cells: &[&str], same: &str, last: &str| {
        let mut l = String::new();
        for c in cells {
            let _ = write!(l, "{c:>vw$} ");
        }
        let last = match last_width {
            Some(w) => short_path(last, w),
            None => last.to_string(),
        };
        let _ = writeln!(o, "{}", format!("{l}{same:>vw$}  {last}").trim_end());
    };
    line(&mut o, &heads, "SAME-LIBS", last_head);
    for (g, (cells, last)) in r.groups.iter().zip(&rows) {
        let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
        line(&mut o, &cells, &g.same_libs.to_string(), last);
    }
    if view.hidden > 0 {
        let _ = writeln!(o, "({} more groups; --top 0 shows them all)", view.hidden);
    }
    o
}

/// `solab family`: per child, per inherited mapping, what became of its anonymous pages.
pub fn render_family(r: &FamilyReport) -> String {
    let mut o = String::new();
    let shared_head = if r.weak {
        "LOOKS-INHERITED"
    } else {
        "PARENTS-FRAME"
    };
    let _ = writeln!(
        o,
        "solab family {}: {} processes",
        r.root,
        r.processes.len()
    );
    if r.weak {
        let _ = writeln!(
            o,
            "WEAK: {}\n  LOOKS-INHERITED: anonymous, bit 56 clear in child and parent (the parent's frame, \
             or one shared with a sibling, KSM or the zero page)",
            r.privilege_note.as_deref().unwrap_or("not privileged")
        );
    } else {
        let _ = writeln!(
            o,
            "frames compared at the same address: PARENTS-FRAME not copied since fork, COPIED \
             written by one side after fork, NEW made after fork"
        );
    }
    for p in &r.processes {
        let indent = "  ".repeat(p.depth as usize);
        let _ = writeln!(o, "\n{indent}{} {} (parent {})", p.pid, p.comm, p.ppid);
        if p.depth == 0 {
            continue;
        }
        let _ = writeln!(
            o,
            "{indent}  {:>15} {:>10} {:>10}  MAPPING",
            shared_head, "COPIED", "NEW"
        );
        let shown = |x: &Inherited| {
            if r.weak {
                x.looks_inherited
            } else {
                x.parents_frame
            }
        };
        for m in &p.mappings {
            let _ = writeln!(
                o,
                "{indent}  {:>15} {:>10} {:>10}  {:x}-{:x} {} {}{}",
                bytes(shown(&m.pages)),
                bytes(m.pages.copied),
                bytes(m.pages.new),
                m.start,
                m.end,
                m.perms,
                m.name,
                if m.inherited { "" } else { " (not inherited)" }
            );
        }
        let _ = writeln!(
            o,
            "{indent}  {:>15} {:>10} {:>10}  total",
            bytes(shown(&p.totals)),
            bytes(p.totals.copied),
            bytes(p.totals.new)
        );
    }
    let t = &r.totals;
    let _ = writeln!(
        o,
        "\nfamily: {} {}, {} copied, {} new",
        bytes(if r.weak {
            t.looks_inherited
        } else {
            t.parents_frame
        }),
        if r.weak {
            "looks inherited"
        } else {
            "still the parent's frames"
        },
        bytes(t.copied),
        bytes(t.new)
    );
    for e in &r.errors {
        let _ = writeln!(o, "not read: {}", e.message);
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(size(0.0), "0 B");
        assert_eq!(size(1.0), "4.0 KiB");
        assert_eq!(size(0.025), "0.1 KiB");
        assert_eq!(size(256.0), "1.0 MiB");
        assert_eq!(amount(256.0, true), "1048576");
        assert_eq!(amount(0.5, true), "2048");
    }

    #[test]
    fn paths_shortened_only_when_asked() {
        let p = "/a/very/long/directory/name/libthing.so.1";
        assert_eq!(short_path(p, 100), p);
        let s = short_path(p, 20);
        assert_eq!(s.chars().count(), 20);
        assert!(s.starts_with('…') && s.ends_with("libthing.so.1"));
        let plain = Style { color: false };
        let red = Style { color: true };
        assert_eq!(paint(plain, RED, "FAILS"), "FAILS");
        assert_eq!(paint(red, RED, "FAILS"), "\x1b[31mFAILS\x1b[0m");
    }
}
