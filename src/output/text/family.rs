//! `solab family`: what forked children still share with their parent, one row per
//! process and the family's total, with `--mappings` or `--top N` per child and mapping,
//! with `--csv` as CSV, and with `--watch`, what changed since the last reading.

use super::{MIN_PATH_WIDTH, bytes, count_of, csv_field, short_path, wrap};
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
    render_family_change_fitted(prev, cur, secs, None)
}

/// [`render_family_change`] with each line wider than a terminal `width` columns wide
/// wrapped at its spaces ([`wrap`]); `None`: never.
pub fn render_family_change_fitted(
    prev: &FamilyReport,
    cur: &FamilyReport,
    secs: u64,
    width: Option<usize>,
) -> String {
    wrap(&family_change(prev, cur, secs), width)
}

fn family_change(prev: &FamilyReport, cur: &FamilyReport, secs: u64) -> String {
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

/// The narrowest the COMMAND column of `solab family` gets to fit a terminal.
const MIN_COMMAND_WIDTH: usize = 24;

/// One column of the family table: its name, width, a cell per process and the TOTAL's,
/// and whether it is left out first (SHARED-MEM, 2) or next (PARENT%, 1) to fit.
struct FamilyColumn {
    head: String,
    width: usize,
    cells: Vec<String>,
    total: String,
    leave_out: u8,
}

/// The table: a row per process, the TOTAL, fitted to `width` when given (see
/// [`render_family_fitted`]).
/// The table's columns before the command: PID, the parent's share, COPIED, NEW, KSM
/// (when any), SHARED-MEM and PARENT%, each with its cells, total and the order in which
/// it is left out to fit (0: never).
fn family_columns(r: &FamilyReport, head: &str) -> Vec<FamilyColumn> {
    let percent = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.1}%"));
    let children = |f: &dyn Fn(&Member) -> String| -> Vec<String> {
        r.processes
            .iter()
            .map(|p| if p.depth == 0 { "-".to_string() } else { f(p) })
            .collect()
    };
    let column = |head: &str, width, cells, total, leave_out| FamilyColumn {
        head: head.to_string(),
        width,
        cells,
        total,
        leave_out,
    };
    let t = &r.totals;
    let mut columns = vec![
        column(
            "PID",
            7,
            r.processes.iter().map(|p| p.pid.to_string()).collect(),
            "TOTAL".into(),
            0,
        ),
        column(
            head,
            15,
            children(&|p| bytes(still_parents(r, &p.totals))),
            bytes(still_parents(r, t)),
            0,
        ),
        column(
            "COPIED",
            10,
            children(&|p| bytes(p.totals.copied)),
            bytes(t.copied),
            0,
        ),
        column(
            "NEW",
            10,
            children(&|p| bytes(p.totals.new)),
            bytes(t.new),
            0,
        ),
    ];
    if t.ksm > 0 {
        columns.push(column(
            "KSM",
            10,
            children(&|p| bytes(p.totals.ksm)),
            bytes(t.ksm),
            0,
        ));
    }
    columns.push(column(
        "SHARED-MEM",
        11,
        r.processes.iter().map(|p| bytes(p.shared_memory)).collect(),
        bytes(r.shared_memory),
        2,
    ));
    columns.push(column(
        "PARENT%",
        7,
        children(&|p| percent(parents_share(r, &p.totals))),
        percent(parents_share(r, t)),
        1,
    ));
    columns
}

fn family_table(o: &mut String, r: &FamilyReport, (head, width): (&str, Option<usize>)) {
    let mut columns = family_columns(r, head);
    let commands: Vec<String> = r
        .processes
        .iter()
        .map(|p| {
            let tree = if p.depth == 0 {
                String::new()
            } else {
                format!("{}\\_ ", "   ".repeat(p.depth as usize - 1))
            };
            format!("{tree}{}{}", escape_controls(&p.comm), fork_note(p))
        })
        .collect();
    let total_last = count_of(r.processes.len() as u64, "process", "processes");
    let longest = commands
        .iter()
        .chain(std::iter::once(&total_last))
        .map(|c| c.chars().count())
        .max()
        .unwrap_or(0);
    let fixed = |cols: &[FamilyColumn]| -> usize {
        cols.iter().map(|c| c.width + 1).sum::<usize>() - 1 + 2
    };
    let mut left_out: Vec<String> = Vec::new();
    if let Some(term) = width {
        for rank in [2, 1] {
            if fixed(&columns) + longest.min(MIN_COMMAND_WIDTH) <= term {
                break;
            }
            if let Some(i) = columns.iter().position(|c| c.leave_out == rank) {
                left_out.push(columns.remove(i).head);
            }
        }
    }
    let last_width = width.map(|term| term.saturating_sub(fixed(&columns)).max(MIN_COMMAND_WIDTH));
    let line = |o: &mut String, cells: &mut dyn Iterator<Item = &str>, last: &str| {
        let mut l = String::new();
        for (c, col) in cells.zip(&columns) {
            if !l.is_empty() {
                l.push(' ');
            }
            let _ = write!(l, "{c:>w$}", w = col.width);
        }
        let last = match last_width {
            Some(w) if last.chars().count() > w => {
                format!("{}…", last.chars().take(w - 1).collect::<String>())
            }
            _ => last.to_string(),
        };
        let _ = writeln!(o, "{l}  {last}");
    };
    line(o, &mut columns.iter().map(|c| c.head.as_str()), "COMMAND");
    for (i, command) in commands.iter().enumerate() {
        line(o, &mut columns.iter().map(|c| c.cells[i].as_str()), command);
    }
    line(
        o,
        &mut columns.iter().map(|c| c.total.as_str()),
        &total_last,
    );
    if !left_out.is_empty() {
        let note = format!(
            "({} left out to fit {} columns; -w shows them)\n",
            left_out.join(", "),
            width.unwrap_or(0)
        );
        o.push_str(&wrap(&note, width));
    }
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
    render_family_fitted(r, view, None)
}

/// [`render_family`] with its table fitted to a terminal `width` columns wide, as `ps`
/// fits its own: SHARED-MEM then PARENT% are left out while the rows do not fit with a
/// COMMAND of [`MIN_COMMAND_WIDTH`], a last line names them, and the command column is
/// cut (`…`) where it is still too long. `None`: never.
pub fn render_family_fitted(r: &FamilyReport, view: FamilyView, width: Option<usize>) -> String {
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
    let mut o = wrap(&o, width);
    family_table(&mut o, r, (head, width));
    let mut rest = String::new();
    match view {
        FamilyView::Summary => {}
        FamilyView::Mappings => render_mappings(&mut rest, r, None, width),
        FamilyView::Top(n) => render_mappings(&mut rest, r, Some(n), width),
    }
    for e in &r.errors {
        let _ = writeln!(rest, "not read: {}", escape_controls(&e.message));
    }
    o.push_str(&wrap(&rest, width));
    o
}

/// Per child, its mappings holding anonymous pages (`top`: only the N with the most
/// copied and new, the largest first), and its total; a mapping's name shortened from the
/// left (`…/libc.so.6`) to fit `width` when given.
fn render_mappings(o: &mut String, r: &FamilyReport, top: Option<usize>, width: Option<usize>) {
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
            let figures = format!(
                "{indent}  {:>15} {:>10} {:>10}  {:x}-{:x} {} ",
                bytes(still_parents(r, &m.pages)),
                bytes(m.pages.copied),
                bytes(m.pages.new),
                m.start,
                m.end,
                m.perms,
            );
            let note = if m.inherited { "" } else { " (not inherited)" };
            let name = escape_controls(&m.name);
            let name = match width {
                Some(w) => short_path(
                    &name,
                    w.saturating_sub(figures.chars().count() + note.len())
                        .max(MIN_PATH_WIDTH),
                ),
                None => name.into_owned(),
            };
            let _ = writeln!(o, "{figures}{name}{note}");
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

/// `solab family --csv`: a header, then one row per process in tree order (bytes; the
/// weak figure in `looks_inherited`; `parent_percent` empty where PARENT% is `-`), fields
/// and line ends as `ps --csv` and `libs --csv` write them (LF).
pub fn render_family_csv(r: &FamilyReport) -> String {
    let mut o = String::from(
        "pid,ppid,depth,command,parents_frame,copied,new,looks_inherited,ksm,shared_memory,parent_percent,fork\n",
    );
    for p in &r.processes {
        let t = &p.totals;
        let share = if p.depth == 0 {
            String::new()
        } else {
            parents_share(r, t).map_or(String::new(), |v| format!("{v:.1}"))
        };
        let _ = writeln!(
            o,
            "{},{},{},{},{},{},{},{},{},{},{share},{}",
            p.pid,
            p.ppid,
            p.depth,
            csv_field(&p.comm),
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
