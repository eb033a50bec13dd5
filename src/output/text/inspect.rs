//! `solab inspect`: per object, its placement in each process and its pages by verdict.

use super::{Matched, matched_line, opt};
use crate::inspect_report::{InspectReport, ObjectReport};
use crate::output::escape::escape_controls;
use crate::output::terminal::{Style, YELLOW, paint};
use crate::sharing::Verdict;
use std::fmt::Write;

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
        .map(|p| format!("{} ({})", p.pid, escape_controls(&p.comm)))
        .collect();
    let _ = writeln!(o, "processes: {}", procs.join(", "));
    if let Some(m) = &matched {
        matched_line(&mut o, m, usize::MAX);
    }
    for e in &r.errors {
        let _ = writeln!(o, "not inspected: {}", escape_controls(&e.message));
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
        let _ = writeln!(
            o,
            "skipped: pid {} {}: {}",
            s.pid,
            escape_controls(&s.path),
            escape_controls(&s.reason)
        );
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
        escape_controls(&obj.path),
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
                escape_controls(&p.sections.join(" "))
            );
        }
    }
}
