//! `solab ps`: what each process, or each group of processes, costs.

use super::{MIN_PATH_WIDTH, bytes, short_path};
use crate::commands::group_key::GroupBy;
use crate::commands::ps::{ByClass, Cost, PsReport};
use crate::output::escape::escape_controls;
use std::fmt::Write;

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
    ps_header(&mut o, r);
    let mark = if r.weak { "~" } else { "" };
    // Groups counted from frames show ALONE, ONLY and WITH-REST instead of USS.
    let frames = r.by.is_some() && !r.weak;
    // SWAP-USS only when some process has pages in swap.
    let swapped = r.totals.cost.swap > 0;
    let amount = |b: u64| -> String { if view.bytes { b.to_string() } else { bytes(b) } };
    let head = |n: &str| format!("{n}{mark}");
    let mut heads: Vec<String> = vec![head("RSS"), head("PSS")];
    if frames {
        heads.extend(["ALONE", "ONLY", "WITH-REST"].map(String::from));
    } else {
        heads.push(head("USS"));
    }
    heads.push(head("SWAP"));
    if swapped {
        heads.push("SWAP-USS".into());
    }
    for h in ["ELF", "ANON", "SHARED", "FILES"] {
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
        v.push(amount(x.swap_pss));
        if swapped {
            v.push(x.swap_unique.map_or_else(|| "-".into(), amount));
        }
        v.extend([k.elf.pss, k.anon.pss, k.shared.pss, k.files.pss].map(amount));
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
        super::count_of(t.processes as u64, "process", "processes"),
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
            escape_controls(user).chars().take(10).collect::<String>()
        );
        for c in cells {
            let _ = write!(l, " {c:>vw$}");
        }
        let last = escape_controls(last);
        let last = match last_width {
            Some(w) => short_path(&last, w),
            None => last.into_owned(),
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
