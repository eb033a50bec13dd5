//! `solab ps`: what each process, or each group of processes, costs.

use super::{MIN_PATH_WIDTH, bytes, csv_field, short_path};
use crate::commands::group_key::GroupBy;
use crate::commands::ps::{ByClass, Cost, PsKey, PsReport};
use crate::output::escape::escape_controls;
use std::fmt::Write;

/// How sizes are written: human (KiB, MiB, GiB as fits), byte counts (`--bytes`), or one
/// unit for every size (`--unit`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SizeUnit {
    #[default]
    Human,
    Bytes,
    Kib,
    Mib,
    Gib,
}

impl SizeUnit {
    /// The unit's bytes and name, for the fixed units.
    fn fixed(self) -> Option<(f64, &'static str)> {
        match self {
            SizeUnit::Human | SizeUnit::Bytes => None,
            SizeUnit::Kib => Some((1024.0, "KiB")),
            SizeUnit::Mib => Some((1024.0 * 1024.0, "MiB")),
            SizeUnit::Gib => Some((1024.0 * 1024.0 * 1024.0, "GiB")),
        }
    }

    /// `b` bytes in a table cell.
    pub fn cell(self, b: u64) -> String {
        match (self, self.fixed()) {
            (_, Some((div, name))) => format!("{:.1} {name}", b as f64 / div),
            (SizeUnit::Bytes, None) => b.to_string(),
            _ => bytes(b),
        }
    }

    /// `b` bytes in a CSV field: the byte count, or with a fixed unit the number of that
    /// unit (one decimal).
    fn csv(self, b: u64) -> String {
        match self.fixed() {
            Some((div, _)) => format!("{:.1}", b as f64 / div),
            None => b.to_string(),
        }
    }

    /// What a CSV column's name gains: `_kib`, `_mib`, `_gib`, nothing for bytes.
    fn csv_suffix(self) -> String {
        self.fixed()
            .map_or_else(String::new, |(_, n)| format!("_{}", n.to_lowercase()))
    }
}

/// How `solab ps` draws its table.
#[derive(Default)]
pub struct PsView {
    /// How many rows (processes or groups) `--top` left out.
    pub hidden: usize,
    /// How sizes are written.
    pub unit: SizeUnit,
    /// The terminal's width: the columns that split PSS (ELF, ANON, SHARED, FILES) are left
    /// out, from the right, until the rows fit with a last column of [`MIN_LAST_WIDTH`],
    /// and the last column (command, cgroup, container) is shortened from the left so
    /// that rows fit. `None`: never.
    pub width: Option<usize>,
    /// `--no-header`: neither the lines that say what was scanned nor the column names.
    pub no_header: bool,
    /// `--totals`: the TOTAL row only.
    pub totals_only: bool,
    /// `--cmdline`: the COMMAND column shows the command line ([`crate::commands::ps::PsRow::cmdline`]),
    /// `[comm]` for a process without one.
    pub cmdline: bool,
    /// `--percent`: a PSS% column, PSS as a percentage of this (the machine's MemTotal).
    pub mem_total: Option<u64>,
    /// The flag that shows every row, named in the note on the rows left out (`None`:
    /// `--top 0`).
    pub all_rows_flag: Option<&'static str>,
    /// The column the rows are sorted by: never left out to fit.
    pub sort: Option<PsKey>,
}

/// The column a sort key sorts by, `None` for PID, USER and COMMAND (never left out).
pub(super) fn sort_column(key: PsKey) -> Option<&'static str> {
    Some(match key {
        PsKey::Rss => "RSS",
        PsKey::Pss => "PSS",
        PsKey::Uss => "USS",
        PsKey::Swap => "SWAP",
        PsKey::Elf => "ELF",
        PsKey::Anon => "ANON",
        PsKey::Shared => "SHARED",
        PsKey::Files => "FILES",
        PsKey::Alone => "ALONE",
        PsKey::Only => "ONLY",
        PsKey::WithRest => "WITH-REST",
        PsKey::Pid | PsKey::User | PsKey::Command => return None,
    })
}

/// The columns left out to fit a terminal once the split columns are, in this order, while
/// the rows still do not fit (never the sorted column): on 80 columns `ps` keeps RSS, PSS,
/// USS and SWAP, `ps --by` RSS, PSS, ALONE and ONLY, `top` PSS, DELTA, SINCE-START and USS.
pub const LEAVE_OUT_NEXT: [&str; 7] = [
    "SWAP-USS",
    "SWAP",
    "WITH-REST",
    "RSS",
    "ALONE",
    "PSS%",
    "SINCE-START",
];

/// The narrowest the last column (COMMAND: 15 characters of comm) gets while the split
/// columns can still be left out to fit a terminal.
const MIN_LAST_WIDTH: usize = 15;

/// One row of the table: the first column (PID, PROCS, TOTAL), USER, the figures, and
/// the last column.
pub(super) struct Line {
    pub first: String,
    pub user: String,
    pub cells: Vec<String>,
    pub last: String,
}

/// The table of `ps` before it is drawn: the figures' column names, which of them only
/// split PSS (left out first to fit), the rows and the TOTAL row.
pub(super) struct Table {
    pub first_head: &'static str,
    pub heads: Vec<String>,
    pub split: Vec<bool>,
    pub last_head: &'static str,
    pub rows: Vec<Line>,
    pub total: Line,
}

/// The table of `r`, each size written by `amount`.
pub(super) fn table(r: &PsReport, view: &PsView, amount: &dyn Fn(u64) -> String) -> Table {
    let mark = if r.weak { "~" } else { "" };
    // Groups counted from frames show ALONE, ONLY and WITH-REST instead of USS.
    let frames = r.by.is_some() && !r.weak;
    // SWAP-USS only when some process has pages in swap.
    let swapped = r.totals.cost.swap > 0;
    let head = |n: &str| format!("{n}{mark}");
    let mut heads: Vec<String> = vec![head("RSS"), head("PSS")];
    if view.mem_total.is_some() {
        heads.push(head("PSS%"));
    }
    if frames {
        heads.extend(["ALONE", "ONLY", "WITH-REST"].map(String::from));
    } else {
        heads.push(head("USS"));
    }
    heads.push(head("SWAP"));
    if swapped {
        heads.push("SWAP-USS".into());
    }
    let mut split = vec![false; heads.len()];
    for h in ["ELF", "ANON", "SHARED", "FILES"] {
        heads.push(head(h));
        split.push(true);
    }
    let percent = |b: u64| -> Option<String> {
        view.mem_total
            .map(|t| format!("{:.1}", b as f64 * 100.0 / t.max(1) as f64))
    };
    // ALONE, ONLY and WITH-REST where known (`-` where not: TOTAL has ALONE only).
    let cells = |x: &Cost, k: &ByClass, f: [Option<u64>; 3]| {
        let mut v = vec![amount(x.rss), amount(x.pss)];
        v.extend(percent(x.pss));
        if frames {
            v.extend(f.map(|b| b.map_or_else(|| "-".into(), amount)));
        } else {
            v.push(amount(x.uss));
        }
        v.push(amount(x.swap_pss));
        if swapped {
            v.push(x.swap_unique.map_or_else(|| "-".into(), amount));
        }
        v.extend([k.elf.pss, k.anon.pss, k.shared.pss, k.files.pss].map(amount));
        v
    };
    let mut rows = Vec::new();
    for p in &r.processes {
        let last = match (&p.cmdline, view.cmdline) {
            (Some(c), true) if !c.is_empty() => c.clone(),
            (_, true) => format!("[{}]", p.comm),
            (_, false) => p.comm.clone(),
        };
        rows.push(Line {
            first: p.pid.to_string(),
            user: p.user.clone(),
            cells: cells(&p.cost, &p.classes, [None; 3]),
            last,
        });
    }
    for g in &r.groups {
        let user = g.user.clone().unwrap_or_default();
        let (user, last) = match (r.by, &g.container) {
            (Some(GroupBy::User), _) => (g.key.clone(), String::new()),
            (_, Some(c)) => (user, c.label()),
            _ => (user, g.key.clone()),
        };
        rows.push(Line {
            first: g.processes.to_string(),
            user,
            cells: cells(
                &g.cost,
                &g.classes,
                g.frames
                    .map_or([None; 3], |f| [f.alone, f.only, f.with_rest].map(Some)),
            ),
            last,
        });
    }
    let t = &r.totals;
    let total = Line {
        first: "TOTAL".into(),
        user: String::new(),
        cells: cells(&t.cost, &t.classes, [t.alone, None, None]),
        last: super::count_of(t.processes as u64, "process", "processes"),
    };
    let last_head = match r.by {
        Some(GroupBy::Cgroup) => "CGROUP",
        Some(GroupBy::Container) => "CONTAINER",
        Some(GroupBy::User) => "",
        Some(GroupBy::Comm) | None => "COMMAND",
    };
    Table {
        first_head: if r.by.is_some() { "PROCS" } else { "PID" },
        heads,
        split,
        last_head,
        rows,
        total,
    }
}

/// `solab ps`: one row per process, or per group with `--by`; totals at the end.
pub fn render_ps(r: &PsReport, view: &PsView) -> String {
    let mut o = String::new();
    if !view.no_header {
        ps_header(&mut o, r);
        o = super::wrap(&o, view.width);
    }
    let unit = view.unit;
    let t = table(r, view, &|b| unit.cell(b));
    draw(&mut o, &t, view);
    o
}

/// Draws `t` into `o`: the column names (unless `--no-header`), the rows (unless
/// `--totals`), the note on rows `--top` left out, TOTAL, and a note naming the columns
/// left out to fit the terminal.
pub(super) fn draw(o: &mut String, t: &Table, view: &PsView) {
    // The width of the figures' columns: the widest cell or name of the columns kept.
    let width_of = |keep: &[bool]| {
        t.rows
            .iter()
            .chain(std::iter::once(&t.total))
            .flat_map(|r| r.cells.iter().zip(keep).filter(|(_, k)| **k))
            .chain(t.heads.iter().zip(keep).filter(|(_, k)| **k))
            .map(|(c, _)| c.chars().count())
            .max()
            .unwrap_or(0)
            .max(10)
    };
    let mut keep = vec![true; t.heads.len()];
    let mut vw = width_of(&keep);
    let fixed = |columns: usize, vw: usize| 8 + 1 + 10 + columns * (1 + vw) + 2;
    // The split columns left out, from the right, then LEAVE_OUT_NEXT's, while the rows
    // do not fit.
    let mut columns = t.heads.len();
    if let Some(term) = view.width {
        let sorted = view.sort.and_then(sort_column);
        let bare = |i: usize| t.heads[i].trim_end_matches('~');
        let next = LEAVE_OUT_NEXT.iter().filter_map(|name| {
            (0..t.heads.len()).find(|&i| bare(i) == *name && Some(*name) != sorted)
        });
        let order: Vec<usize> = (0..t.heads.len())
            .rev()
            .filter(|&i| t.split[i] && Some(bare(i)) != sorted)
            .chain(next)
            .collect();
        for i in order {
            if fixed(columns, vw) + MIN_LAST_WIDTH <= term {
                break;
            }
            if keep[i] {
                keep[i] = false;
                columns -= 1;
                vw = width_of(&keep);
            }
        }
    }
    let vw = vw;
    let min_last = if columns < t.heads.len() {
        MIN_LAST_WIDTH
    } else {
        MIN_PATH_WIDTH
    };
    let last_width = view
        .width
        .map(|term| term.saturating_sub(fixed(columns, vw)).max(min_last));
    let line = |o: &mut String, first: &str, user: &str, cells: &[String], last: &str| {
        let mut l = format!(
            "{first:>8} {:<10}",
            escape_controls(user).chars().take(10).collect::<String>()
        );
        for (c, _) in cells.iter().zip(&keep).filter(|(_, k)| **k) {
            let _ = write!(l, " {c:>vw$}");
        }
        let last = escape_controls(last);
        let last = match last_width {
            Some(w) => short_path(&last, w),
            None => last.into_owned(),
        };
        let _ = writeln!(o, "{}", format!("{l}  {last}").trim_end());
    };
    if !view.no_header {
        line(o, t.first_head, "USER", &t.heads, t.last_head);
    }
    if !view.totals_only {
        for r in &t.rows {
            line(o, &r.first, &r.user, &r.cells, &r.last);
        }
        if view.hidden > 0 && !view.no_header {
            let note = format!(
                "({} more rows; {} shows them all)\n",
                view.hidden,
                view.all_rows_flag.unwrap_or("--top 0")
            );
            o.push_str(&super::wrap(&note, view.width));
        }
    }
    let total = &t.total;
    line(o, &total.first, &total.user, &total.cells, &total.last);
    let left_out: Vec<&str> = t
        .heads
        .iter()
        .zip(&keep)
        .filter(|(_, k)| !**k)
        .map(|(h, _)| h.as_str())
        .collect();
    if !left_out.is_empty() {
        let note = format!(
            "({} left out to fit {} columns; -w shows them)\n",
            left_out.join(", "),
            view.width.unwrap_or(0)
        );
        o.push_str(&super::wrap(&note, view.width));
    }
}

/// `solab ps --csv`: a line of column names, then one line per process (or group), or with
/// `--totals` the TOTAL line only; fields quoted as RFC 4180 says (a field holding a
/// comma, a quote or a line break in quotes, its quotes doubled), control characters
/// escaped as in the table, lines ended by LF (as Unix tools read them; RFC 4180's CRLF is
/// accepted in its place by every CSV reader). Sizes are byte counts, or numbers of `--unit`'s unit.
pub fn render_ps_csv(r: &PsReport, view: &PsView) -> String {
    let unit = view.unit;
    let t = table(r, view, &|b| unit.csv(b));
    let name = |h: &str| -> String {
        let h = h.trim_end_matches('~').to_lowercase().replace('-', "_");
        match h.as_str() {
            "pss%" => "pss_percent".into(),
            _ => format!("{h}{}", unit.csv_suffix()),
        }
    };
    let mut o = String::new();
    let mut names = vec![t.first_head.to_lowercase(), "user".into()];
    names.extend(t.heads.iter().map(|h| name(h)));
    let by_user = t.last_head.is_empty();
    if !by_user {
        names.push(t.last_head.to_lowercase());
    }
    let mut record = |fields: Vec<String>| {
        let fields: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        let _ = writeln!(o, "{}", fields.join(","));
    };
    record(names);
    let rows: Box<dyn Iterator<Item = &Line>> = if view.totals_only {
        Box::new(std::iter::once(&t.total))
    } else {
        Box::new(t.rows.iter())
    };
    for l in rows {
        let mut f = vec![l.first.clone(), l.user.clone()];
        f.extend(
            l.cells
                .iter()
                .map(|c| if c == "-" { String::new() } else { c.clone() }),
        );
        if !by_user {
            f.push(l.last.clone());
        }
        record(f);
    }
    o
}

/// What was scanned, how the figures were counted, and what the columns mean.
fn ps_header(o: &mut String, r: &PsReport) {
    let c = &r.counts;
    let _ = writeln!(
        o,
        "solab ps: {} scanned ({} vanished during the scan, {} unreadable, {} without a memory map, {} filtered out)",
        super::count_of(c.scanned, "process", "processes"),
        c.vanished,
        c.unreadable,
        c.no_memory_map,
        c.filtered_out
    );
    let mark = if r.weak { "~" } else { "" };
    if r.weak {
        let _ = writeln!(
            o,
            "WEAK: {}\n  figures marked ~ are the kernel's smaps figures (Rss, Pss, Private, SwapPss), not frames",
            r.privilege_note.as_deref().unwrap_or("not privileged")
        );
    } else {
        let _ = writeln!(
            o,
            "frames: PSS and USS from page frame numbers and /proc/kpagecount"
        );
    }
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
    if r.totals.cost.swap > 0 {
        swap_header(o, r);
    }
    let _ = writeln!(
        o,
        "ELF, ANON, SHARED and FILES split PSS{mark}: ELF objects, anonymous memory, MAP_SHARED memory, other files\n"
    );
}

/// Where SWAP and SWAP-USS come from, when some process has pages in swap.
fn swap_header(o: &mut String, r: &PsReport) {
    use crate::commands::ps::{SwapPssSource, SwapUniqueSource};
    let pss = match r.swap_pss_source {
        SwapPssSource::SwapPss => {
            "SWAP is the kernel's SwapPss (each swap entry divided among the page tables holding it)"
        }
        SwapPssSource::Swap => {
            "WEAK: SWAP is the kernel's Swap in full, not divided (a process's smaps gave no SwapPss)"
        }
    };
    let unique = match r.swap_unique_source {
        Some(SwapUniqueSource::SwapEntries) => {
            "SWAP-USS counts the swap entries no other page of the scanned processes holds"
        }
        None => "SWAP-USS needs the swap entries (root): -",
    };
    let _ = writeln!(o, "swap: {pss}; {unique}");
}
