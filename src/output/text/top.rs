//! `solab top`: the table of `ps` drawn again and again, with what changed (DELTA since
//! the previous table, SINCE-START since the first; the words are defined in
//! [`crate::sharing::VIEW_WORDS`]).

use super::ps::{Line, PsView, Table, draw, table};
use crate::commands::ps::{ByClass, Cost, PsKey, PsReport};
use std::collections::HashMap;
use std::fmt::Write;

/// A process's figures, as the deltas need them.
type Figures = (Cost, ByClass);

/// A process, told apart from a later one that gets its number: pid and command name.
type ProcessKey = (i32, String);

/// What `solab top` remembers between tables: each process's figures in the previous
/// table and in the first table it appeared in, and the same for TOTAL.
#[derive(Default)]
pub struct TopState {
    previous: Option<HashMap<ProcessKey, Figures>>,
    first: HashMap<ProcessKey, Figures>,
    previous_total: Option<Figures>,
    first_total: Option<Figures>,
    /// How many tables were drawn.
    pub tables: u64,
}

/// How `solab top` draws a table.
pub struct TopView<'a> {
    /// Width, unit, command line, PSS%: as `ps` draws them.
    pub ps: &'a PsView,
    /// The column the rows are sorted by.
    pub key: PsKey,
    /// Smallest first.
    pub reverse: bool,
    /// The rows to show (0: all); the others are counted in a note.
    pub rows: usize,
    /// The time between two tables, in seconds.
    pub delay: f64,
    /// Whether to name the keys that change the view (on a terminal).
    pub keys: bool,
}

/// The column a key sorts by and its name, or `None` when it is not a size.
fn size_column(key: PsKey) -> Option<&'static str> {
    Some(match key {
        PsKey::Rss => "RSS",
        PsKey::Pss => "PSS",
        PsKey::Uss => "USS",
        PsKey::Swap => "SWAP",
        PsKey::Elf => "ELF",
        PsKey::Anon => "ANON",
        PsKey::Shared => "SHARED",
        PsKey::Files => "FILES",
        _ => return None,
    })
}

/// The column DELTA and SINCE-START follow: the sort column when it is a size, else PSS.
fn delta_key(key: PsKey) -> PsKey {
    if size_column(key).is_some() {
        key
    } else {
        PsKey::Pss
    }
}

/// The figure of `f` in the column of `key` (a size column, [`delta_key`]).
fn value(f: &Figures, key: PsKey) -> i128 {
    let (c, k) = f;
    i128::from(match key {
        PsKey::Rss => c.rss,
        PsKey::Uss => c.uss,
        PsKey::Swap => c.swap_pss,
        PsKey::Elf => k.elf.pss,
        PsKey::Anon => k.anon.pss,
        PsKey::Shared => k.shared.pss,
        PsKey::Files => k.files.pss,
        _ => c.pss,
    })
}

/// The name of a sort key as `-s` takes it.
fn key_name(key: PsKey) -> &'static str {
    match key {
        PsKey::Pid => "pid",
        PsKey::User => "user",
        PsKey::Command => "command",
        PsKey::Alone => "alone",
        PsKey::Only => "only",
        PsKey::WithRest => "with-rest",
        k => size_column(k).unwrap_or("pss"),
    }
}

/// One table of `solab top` for `r` (its rows in the order of `view.key`), with what
/// changed since the tables `state` remembers; `state` then remembers this one.
pub fn render_top(r: &PsReport, state: &mut TopState, view: &TopView) -> String {
    state.tables += 1;
    let dk = delta_key(view.key);
    let delta_name = size_column(dk).unwrap_or("PSS");
    let mut o = String::new();
    let c = &r.counts;
    let _ = writeln!(
        o,
        "solab top: table {}, every {} s; {} processes ({} vanished, {} unreadable, {} without a memory map); sorted by {}{}",
        state.tables,
        view.delay,
        c.scanned,
        c.vanished,
        c.unreadable,
        c.no_memory_map,
        key_name(view.key),
        if view.reverse { ", smallest first" } else { "" }
    );
    if r.weak {
        let _ = writeln!(
            o,
            "WEAK: {}: figures marked ~ are the kernel's smaps figures (Rss, Pss, Private, SwapPss)",
            r.privilege_note.as_deref().unwrap_or("not privileged")
        );
    } else {
        let _ = writeln!(
            o,
            "frames: PSS and USS from page frame numbers and /proc/kpagecount"
        );
    }
    let _ = writeln!(
        o,
        "DELTA: {delta_name} since the previous table; SINCE-START: since the first{}\n",
        if view.keys {
            "; keys: q quit, s/S next/previous sort column, r reverse"
        } else {
            ""
        }
    );
    o = super::wrap(&o, view.ps.width);
    let unit = view.ps.unit;
    let mut t = table(r, view.ps, &|b| unit.cell(b));
    let signed = |d: i128| -> String {
        let text = unit.cell(d.unsigned_abs() as u64);
        // A change of a few bytes of PSS (a share of a page moving elsewhere) is no
        // change at the table's precision: "0", not "-0.0 KiB".
        let zero = !text.chars().any(|c| c.is_ascii_digit() && c != '0');
        match d.signum() {
            _ if zero => "0".into(),
            1 => format!("+{text}"),
            _ => format!("-{text}"),
        }
    };
    let figures: Vec<(ProcessKey, Figures)> = r
        .processes
        .iter()
        .map(|p| ((p.pid, p.comm.clone()), (p.cost, p.classes)))
        .collect();
    for f in &figures {
        state.first.entry(f.0.clone()).or_insert(f.1);
    }
    let deltas = |now: &Figures, before: Option<&Figures>, first: Option<&Figures>| {
        let v = value(now, dk);
        [
            before.map_or_else(|| "new".into(), |b| signed(v - value(b, dk))),
            first.map_or_else(|| "0".into(), |f| signed(v - value(f, dk))),
        ]
    };
    let cells: Vec<[String; 2]> = figures
        .iter()
        .map(|(k, f)| {
            let before = match &state.previous {
                Some(p) => p.get(k),
                // The first table: nothing before it, nothing changed.
                None => Some(f),
            };
            deltas(f, before, state.first.get(k))
        })
        .collect();
    let total: Figures = (r.totals.cost, r.totals.classes);
    let total_cells = deltas(
        &total,
        Some(state.previous_total.as_ref().unwrap_or(&total)),
        Some(state.first_total.get_or_insert(total)),
    );
    insert_deltas(&mut t, delta_name, cells, total_cells);
    let hidden = if view.rows > 0 && t.rows.len() > view.rows {
        let h = t.rows.len() - view.rows;
        t.rows.truncate(view.rows);
        h
    } else {
        0
    };
    let ps = PsView {
        hidden,
        unit,
        width: view.ps.width,
        no_header: false,
        totals_only: false,
        cmdline: view.ps.cmdline,
        mem_total: view.ps.mem_total,
        all_rows_flag: Some("--rows 0"),
        sort: Some(dk),
    };
    draw(&mut o, &t, &ps);
    // Remember this table; forget the first figures of processes that are gone.
    let now: HashMap<ProcessKey, Figures> = figures.into_iter().collect();
    state.first.retain(|k, _| now.contains_key(k));
    state.previous = Some(now);
    state.previous_total = Some(total);
    o
}

/// Puts DELTA and SINCE-START right after the column they follow (kept when the split
/// columns are left out to fit).
fn insert_deltas(t: &mut Table, column: &str, rows: Vec<[String; 2]>, total: [String; 2]) {
    let at = t
        .heads
        .iter()
        .position(|h| h.trim_end_matches('~') == column)
        .unwrap_or(1);
    t.split[at] = false;
    for (i, h) in ["DELTA", "SINCE-START"].into_iter().enumerate() {
        t.heads.insert(at + 1 + i, h.into());
        t.split.insert(at + 1 + i, false);
    }
    let put = |l: &mut Line, cells: [String; 2]| {
        for (i, c) in cells.into_iter().enumerate() {
            l.cells.insert(at + 1 + i, c);
        }
    };
    for (l, c) in t.rows.iter_mut().zip(rows) {
        put(l, c);
    }
    put(&mut t.total, total);
}
