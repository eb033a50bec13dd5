//! `solab elf`: the page plan of one ELF file.

use super::opt;
use crate::commands::elf::ElfReport;
use crate::output::escape::escape_controls;
use std::fmt::Write;

/// The plan of `solab elf`, one line per `PT_LOAD` and per run of pages.
pub fn render_elf(r: &ElfReport) -> String {
    let mut o = String::new();
    let relro = r
        .relro
        .map(|(s, e)| format!("{s:#x}..{e:#x}"))
        .unwrap_or_else(|| "none".into());
    let _ = writeln!(o, "{}", escape_controls(&r.path));
    let _ = writeln!(
        o,
        "  type {}  soname {}  build-id {}",
        r.e_type,
        escape_controls(opt(&r.soname)),
        opt(&r.build_id)
    );
    let _ = writeln!(
        o,
        "  TEXTREL {}  BIND_NOW {}  PT_GNU_RELRO {}  .shared {}",
        yes(r.textrel),
        yes(r.bind_now),
        relro,
        yes(r.has_shared_section)
    );
    let _ = writeln!(
        o,
        "  NEEDED {}",
        if r.needed.is_empty() {
            "-".to_string()
        } else {
            escape_controls(&r.needed.join(" ")).into_owned()
        }
    );
    let _ = writeln!(o, "  PT_LOAD:");
    for s in &r.segments {
        let _ = writeln!(
            o,
            "    {} p_offset {:#8x} p_vaddr {:#8x} p_filesz {:#8x} p_memsz {:#8x}",
            s.p_flags, s.p_offset, s.p_vaddr, s.p_filesz, s.p_memsz
        );
    }
    if let Some(why) = &r.relocations_not_counted {
        let _ = writeln!(o, "  relocations not counted: {why}");
    }
    for hit in &r.limits_hit {
        let _ = writeln!(o, "  limit hit: {} {}: {}", hit.limit, hit.value, hit.what);
    }
    let _ = writeln!(o, "  {} pages in {} runs:", r.page_count(), r.runs.len());
    let _ = writeln!(
        o,
        "    {:>8}  {:>5}  {:>8}  {:<6}  {:>6}  {:<50}  sections",
        "offset", "pages", "file", "kind", "relocs", "loader"
    );
    for run in &r.runs {
        let _ = writeln!(
            o,
            "    {:#8x}  {:>5}  {:>8}  {:<6}  {:>6}  {:<50}  {}",
            run.offset,
            run.pages,
            run.file_offset
                .map(|f| format!("{f:#x}"))
                .unwrap_or_else(|| "anon".into()),
            run.segment.name(),
            run.relocations,
            run.loader.describe(),
            escape_controls(&run.sections.join(" "))
        );
    }
    o
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}
