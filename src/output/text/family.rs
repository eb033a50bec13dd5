//! `solab family`: what forked children still share with their parent, and with
//! `--watch`, what changed since the last reading.

use super::bytes;
use crate::commands::family::{FamilyReport, Inherited};
use crate::output::escape::escape_controls;
use crate::sharing::Lineage;
use std::fmt::Write;

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
                let comm = escape_controls(&p.comm);
                let _ = writeln!(o, "  {} {comm}: {}", p.pid, line(&q.totals, &p.totals));
            }
            Some(_) => {}
            None => {
                moved = true;
                let comm = escape_controls(&p.comm);
                let _ = writeln!(o, "  {} {comm}: new in the family", p.pid);
            }
        }
    }
    for q in &prev.processes {
        if !cur.processes.iter().any(|p| p.pid == q.pid) {
            moved = true;
            let _ = writeln!(o, "  {} {}: exited", q.pid, escape_controls(&q.comm));
        }
    }
    if moved {
        let _ = writeln!(o, "  family: {}", line(&prev.totals, &cur.totals));
    } else {
        let _ = writeln!(o, "  no change");
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
        let comm = escape_controls(&p.comm);
        let fork = match p.fork {
            Some(Lineage::Exec) => " (exec'd since fork: nothing inherited)",
            Some(Lineage::Unproven) => " (fork not proven: weak)",
            _ => "",
        };
        let _ = writeln!(o, "\n{indent}{} {comm} (parent {}){fork}", p.pid, p.ppid);
        if p.shared_memory > 0 {
            let _ = writeln!(
                o,
                "{indent}  shared memory (MAP_SHARED) {} resident",
                bytes(p.shared_memory)
            );
        }
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
                escape_controls(&m.name),
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
        if p.totals.ksm > 0 {
            let _ = writeln!(
                o,
                "{indent}  {:>15} KSM-merged, never counted as the parent's",
                bytes(p.totals.ksm)
            );
        }
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
    if t.ksm > 0 {
        let _ = writeln!(o, "family: {} KSM-merged", bytes(t.ksm));
    }
    if r.shared_memory > 0 {
        let _ = writeln!(
            o,
            "family: {} shared memory (MAP_SHARED), each page once",
            bytes(r.shared_memory)
        );
    }
    for e in &r.errors {
        let _ = writeln!(o, "not read: {}", escape_controls(&e.message));
    }
    o
}
