//! Human-readable output of the three commands. JSON output is the serde form of the
//! report structs ([`crate::report`], [`crate::prove`], [`ElfReport`]).

use crate::elf::ElfPlan;
use crate::prove::{ProveReport, Status};
use crate::report::{InspectReport, ObjectReport};
use serde::Serialize;
use std::fmt::Write;

pub const ELF_SCHEMA: &str = "solab.elf.v1";

/// What `solab elf --json` prints.
#[derive(Serialize)]
pub struct ElfReport<'a> {
    pub schema: &'static str,
    pub path: String,
    #[serde(flatten)]
    pub plan: &'a ElfPlan,
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
    let _ = writeln!(o, "  {} pages:", plan.pages.len());
    let _ = writeln!(
        o,
        "    {:>8}  {:>8}  {:<6}  {:>5}  {:<50}  sections",
        "offset", "file", "kind", "relocs", "loader"
    );
    for p in &plan.pages {
        let _ = writeln!(
            o,
            "    {:#8x}  {:>8}  {:<6}  {:>6}  {:<50}  {}",
            p.offset,
            p.file_offset
                .map(|f| format!("{f:#x}"))
                .unwrap_or_else(|| "anon".into()),
            p.segment.name(),
            p.relocations,
            p.loader.describe(),
            p.sections.join(" ")
        );
    }
    o
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

pub fn render_inspect(r: &InspectReport, pages: bool) -> String {
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
    for e in &r.errors {
        let _ = writeln!(o, "not inspected: {}", e.message);
    }
    for obj in &r.objects {
        render_object(&mut o, obj, pages);
    }
    let (not_elf, other): (Vec<_>, Vec<_>) = r
        .skipped
        .iter()
        .partition(|s| s.reason.starts_with("not an ELF file"));
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

fn render_object(o: &mut String, obj: &ObjectReport, pages: bool) {
    let _ = writeln!(o);
    let weak = if obj.weak {
        "  [weak: no frame numbers]"
    } else {
        ""
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
            "  pid {:<7} base {:#x}{}",
            p.pid,
            p.load_base,
            if p.deleted { "  (file deleted)" } else { "" }
        );
    }
    let _ = writeln!(
        o,
        "  {:<7} {:>6} {:>8} {:>7} {:>8} {:>6} {:>10}",
        "segment", "pages", "present", "shared", "private", "mixed", "untouched"
    );
    for s in &obj.summary {
        let _ = writeln!(
            o,
            "  {:<7} {:>6} {:>8} {:>7} {:>8} {:>6} {:>10}",
            s.segment.name(),
            s.pages,
            s.present,
            s.shared,
            s.private,
            s.mixed,
            s.untouched
        );
    }
    if pages {
        let _ = writeln!(
            o,
            "  {:>8}  {:<6}  {:<9}  per pid: state/frame/mapcount  sections",
            "offset", "kind", "verdict"
        );
        for p in &obj.pages {
            let per: Vec<String> = p
                .procs
                .iter()
                .map(|q| {
                    let pfn = q
                        .pfn
                        .map(|f| format!("{f:#x}"))
                        .unwrap_or_else(|| "-".into());
                    let mc = q
                        .mapcount
                        .map(|m| m.to_string())
                        .unwrap_or_else(|| "-".into());
                    format!("{}:{}/{}/{}", q.pid, q.state.name(), pfn, mc)
                })
                .collect();
            let _ = writeln!(
                o,
                "  {:#8x}  {:<6}  {:<9}  {}  {}",
                p.offset,
                p.segment.name(),
                p.verdict.name(),
                per.join(" "),
                p.sections.join(" ")
            );
        }
    }
}

pub fn render_prove(r: &ProveReport) -> String {
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
    for (i, c) in r.claims.iter().enumerate() {
        let status = match c.status {
            Status::Holds => "HOLDS",
            Status::Fails => "FAILS",
            Status::NotApplicable => "N/A",
        };
        let weak = if c.weak { " (weak)" } else { "" };
        let _ = writeln!(o, "\n({}) {}: {status}{weak}", i + 1, c.statement);
        let _ = writeln!(o, "    {}", c.summary);
        for e in &c.examples {
            let fr: Vec<String> = e
                .frames
                .iter()
                .map(|f| {
                    let pfn = f
                        .pfn
                        .map(|p| format!("{p:#x}"))
                        .unwrap_or_else(|| "?".into());
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
                "    FAIL page {:#x} {} [{}]: {}",
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
        if r.holds {
            "all claims hold"
        } else {
            "a claim fails"
        }
    );
    o
}
