//! `solab family`: what forked children still share with their parent, one row per
//! process and the family's total, with `--mappings` or `--top N` per child and mapping,
//! with `--csv` as CSV, and with `--watch`, what changed since the last reading.

use super::{bytes, count_of};
use crate::commands::family::{FamilyReport, Inherited, MappingFigures, Member};
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

/// The columns of `solab family`'s table that are not words of a page, with their one
/// definition.
pub const FAMILY_COLUMNS: [(&str, &str); 4] = [
    (
        "SHARED-MEM",
        "the process's resident pages of MAP_SHARED mappings (shared memory); on the TOTAL row each page of the family once",
    ),
    (
        "PARENT%",
        "of a child's anonymous pages in its private mappings (parents-frame, copied, new, ksm; weak: looks-inherited), the share still the parent's frame (weak: that looks inherited); - for the root and a child with none",
    ),
    (
        "KSM",
        "a child's KSM-merged pages (ksm), a column only when the family has some",
    ),
    (
        "TOTAL",
        "the family: PARENTS-FRAME, COPIED, NEW, KSM and PARENT% over the descendants, SHARED-MEM over every member, each page once",
    ),
];

/// How much of each child `solab family` shows beside the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FamilyView {
    /// The table alone: one row per process and the family's total.
    Summary,
    /// The table, then per child each mapping holding anonymous pages (`--mappings`).
    Mappings,
    /// The table, then per child its N mappings with the most copied + new (`--top N`).
    Top(usize),
}

/// The figure the first column shows: the parent's frame, or (weak) what looks inherited.
fn still_parents(r: &FamilyReport, x: &Inherited) -> u64 {
    if r.weak {
        x.looks_inherited
    } else {
        x.parents_frame
    }
}

/// PARENT% ([`FAMILY_COLUMNS`]): `None` when the child has no anonymous pages.
fn parents_share(r: &FamilyReport, x: &Inherited) -> Option<f64> {
    let all = x.parents_frame + x.looks_inherited + x.copied + x.new + x.ksm;
    (all > 0).then(|| 100.0 * still_parents(r, x) as f64 / all as f64)
}

/// What the text says of how a child is known to be forked, when it is not proven.
fn fork_note(p: &Member) -> &'static str {
    match p.fork {
        Some(Lineage::Exec) => " (exec'd since fork: nothing inherited)",
        Some(Lineage::Unproven) => " (fork not proven: weak)",
        _ => "",
    }
}

/// `solab family`: the legend, one row per process (tree-indented, as `ps --forest`), the
/// family's total, then what `view` asks for per child, and what could not be read.
pub fn render_family(r: &FamilyReport, view: FamilyView) -> String {
    let mut o = String::new();
    let head = if r.weak {
        "LOOKS-INHERITED"
    } else {
        "PARENTS-FRAME"
    };
    let _ = writeln!(
        o,
        "solab family {}: {}",
        r.root,
        count_of(r.processes.len() as u64, "process", "processes")
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
    let ksm = r.totals.ksm > 0;
    let ksm_head = if ksm {
        format!(" {:>10}", "KSM")
    } else {
        String::new()
    };
    let _ = writeln!(
        o,
        "{:>7} {head:>15} {:>10} {:>10}{ksm_head} {:>11} {:>7}  COMMAND",
        "PID", "COPIED", "NEW", "SHARED-MEM", "PARENT%"
    );
    let percent = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.1}%"));
    for p in &r.processes {
        let comm = escape_controls(&p.comm);
        let tree = if p.depth == 0 {
            String::new()
        } else {
            format!("{}\\_ ", "   ".repeat(p.depth as usize - 1))
        };
        let (first, copied, new, ksm_cell, share) = if p.depth == 0 {
            let dash = "-".to_string();
            (
                dash.clone(),
                dash.clone(),
                dash.clone(),
                dash,
                "-".to_string(),
            )
        } else {
            let t = &p.totals;
            (
                bytes(still_parents(r, t)),
                bytes(t.copied),
                bytes(t.new),
                bytes(t.ksm),
                percent(parents_share(r, t)),
            )
        };
        let ksm_cell = if ksm {
            format!(" {ksm_cell:>10}")
        } else {
            String::new()
        };
        let _ = writeln!(
            o,
            "{:>7} {first:>15} {copied:>10} {new:>10}{ksm_cell} {:>11} {share:>7}  {tree}{comm}{}",
            p.pid,
            bytes(p.shared_memory),
            fork_note(p)
        );
    }
    let t = &r.totals;
    let ksm_cell = if ksm {
        format!(" {:>10}", bytes(t.ksm))
    } else {
        String::new()
    };
    let _ = writeln!(
        o,
        "{:>7} {:>15} {:>10} {:>10}{ksm_cell} {:>11} {:>7}  {}",
        "TOTAL",
        bytes(still_parents(r, t)),
        bytes(t.copied),
        bytes(t.new),
        bytes(r.shared_memory),
        percent(parents_share(r, t)),
        count_of(r.processes.len() as u64, "process", "processes")
    );
    match view {
        FamilyView::Summary => {}
        FamilyView::Mappings => render_mappings(&mut o, r, None),
        FamilyView::Top(n) => render_mappings(&mut o, r, Some(n)),
    }
    for e in &r.errors {
        let _ = writeln!(o, "not read: {}", escape_controls(&e.message));
    }
    o
}

/// Per child, its mappings holding anonymous pages (`top`: only the N with the most copied
/// + new, the largest first), and its total.
fn render_mappings(o: &mut String, r: &FamilyReport, top: Option<usize>) {
    let head = if r.weak {
        "LOOKS-INHERITED"
    } else {
        "PARENTS-FRAME"
    };
    for p in r.processes.iter().filter(|p| p.depth > 0) {
        let indent = "  ".repeat(p.depth as usize - 1);
        let _ = writeln!(
            o,
            "\n{indent}{} {} (parent {}){}",
            p.pid,
            escape_controls(&p.comm),
            p.ppid,
            fork_note(p)
        );
        let _ = writeln!(
            o,
            "{indent}  {head:>15} {:>10} {:>10}  MAPPING",
            "COPIED", "NEW"
        );
        let mut shown: Vec<&MappingFigures> = p.mappings.iter().collect();
        if let Some(n) = top {
            // The largest first; among equals, in address order (the sort is stable).
            shown.sort_by_key(|m| std::cmp::Reverse(m.pages.copied + m.pages.new));
            shown.truncate(n);
        }
        for m in &shown {
            let _ = writeln!(
                o,
                "{indent}  {:>15} {:>10} {:>10}  {:x}-{:x} {} {}{}",
                bytes(still_parents(r, &m.pages)),
                bytes(m.pages.copied),
                bytes(m.pages.new),
                m.start,
                m.end,
                m.perms,
                escape_controls(&m.name),
                if m.inherited { "" } else { " (not inherited)" }
            );
        }
        if shown.len() < p.mappings.len() {
            let _ = writeln!(
                o,
                "{indent}  ({} of {} shown: the most COPIED + NEW)",
                shown.len(),
                count_of(p.mappings.len() as u64, "mapping", "mappings")
            );
        }
        let t = &p.totals;
        let _ = writeln!(
            o,
            "{indent}  {:>15} {:>10} {:>10}  total",
            bytes(still_parents(r, t)),
            bytes(t.copied),
            bytes(t.new)
        );
        if t.ksm > 0 {
            let _ = writeln!(
                o,
                "{indent}  {:>15} KSM-merged, never counted as the parent's",
                bytes(t.ksm)
            );
        }
    }
}

/// A field of CSV (RFC 4180): quoted when it holds a comma, a quote or a line break, its
/// quotes doubled.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `solab family --csv`: a header, then one row per process in tree order (bytes; the
/// weak figure in `looks_inherited`; `parent_percent` empty where PARENT% is `-`).
pub fn render_family_csv(r: &FamilyReport) -> String {
    let mut o = String::from(
        "pid,ppid,depth,command,parents_frame,copied,new,looks_inherited,ksm,shared_memory,parent_percent,fork\r\n",
    );
    for p in &r.processes {
        let t = &p.totals;
        let share = if p.depth == 0 {
            String::new()
        } else {
            parents_share(r, t).map_or(String::new(), |v| format!("{v:.1}"))
        };
        let _ = write!(
            o,
            "{},{},{},{},{},{},{},{},{},{},{share},{}\r\n",
            p.pid,
            p.ppid,
            p.depth,
            csv_field(&escape_controls(&p.comm)),
            t.parents_frame,
            t.copied,
            t.new,
            t.looks_inherited,
            t.ksm,
            p.shared_memory,
            p.fork.map_or("", |f| f.name())
        );
    }
    o
}

/// What `solab family` adds for a process without children: whose child it is, and the
/// fork family it came from (`top`: the highest ancestor running its executable; `None`:
/// its executable could not be read).
pub fn render_family_leaf(pid: i32, parent: (i32, &str), top: Option<(i32, &str)>) -> String {
    let mut o = format!(
        "\n{pid} has no children; it is a child of {} ({}).\n",
        parent.0,
        escape_controls(parent.1)
    );
    match top {
        Some((t, comm)) if t != pid => {
            let _ = writeln!(
                o,
                "Its fork family's root is {t} ({}), the highest ancestor running its executable: \
                 solab family {t}, or solab family --up {pid}",
                escape_controls(comm)
            );
        }
        Some(_) => {
            let _ = writeln!(
                o,
                "It is the root of its own fork family: its parent is init or runs another \
                 executable."
            );
        }
        None => {
            let _ = writeln!(
                o,
                "Its executable could not be read: its fork family is not known."
            );
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_as_rfc_4180_says() {
        assert_eq!(csv_field("nginx"), "nginx");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field(""), "");
    }
}
