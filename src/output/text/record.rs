//! `solab family --record`: per child and for the family, the bytes copied (and new) in
//! the window by innermost function, or by call chain (`--callers`); and the folded stacks
//! of the copied bytes (`--folded`, the `a;b;c N` lines of flamegraph.pl and inferno).

use super::bytes;
use crate::commands::record::{
    Attributed, Attribution, CHAIN_STOPS, Change, Changed, Interval, RecordReport, RecordedMember,
};
use crate::output::escape::escape_controls;
use std::fmt::Write;

/// Rows shown per child and for the family (the JSON has them all).
const ROWS: usize = 20;

fn changed(o: &mut String, change: Change, c: &Changed) {
    let _ = writeln!(
        o,
        "  {:<17} {} ({} {}, {} {}, {} {})",
        format!("{}:", change.name()),
        bytes(c.bytes),
        bytes(c.seen),
        Attributed::Seen.name(),
        bytes(c.by_parent),
        Attributed::ByParent.name(),
        bytes(c.not_seen),
        Attributed::NotSeen.name()
    );
}

/// A frame as printed: control characters of names another user chose made visible.
fn frame(name: &str) -> String {
    escape_controls(name).into_owned()
}

fn by_mark(by: Attributed) -> &'static str {
    match by {
        Attributed::ByParent => " (by-parent)",
        Attributed::Seen | Attributed::NotSeen => "",
    }
}

fn table(o: &mut String, a: &Attribution, callers: bool, rows: usize) {
    if a.copied.bytes == 0 && a.new.bytes == 0 {
        return;
    }
    let _ = writeln!(o, "  {:>10} {:>10}  FUNCTION", "COPIED", "NEW");
    let mut shown = 0;
    if callers {
        for c in a.chains.iter().take(rows) {
            let chain: Vec<String> = c.chain.iter().map(|f| frame(f)).collect();
            let _ = writeln!(
                o,
                "  {:>10} {:>10}  {}{}",
                bytes(c.copied),
                bytes(c.new),
                chain.join(" <- "),
                by_mark(c.by)
            );
            shown += 1;
        }
        if a.chains.len() > shown {
            let _ = writeln!(
                o,
                "  ({} more call chains in --json)",
                a.chains.len() - shown
            );
        }
    } else {
        for f in a.functions.iter().take(rows) {
            let _ = writeln!(
                o,
                "  {:>10} {:>10}  {}{}",
                bytes(f.copied),
                bytes(f.new),
                frame(&f.function),
                by_mark(f.by)
            );
            shown += 1;
        }
        if a.functions.len() > shown {
            let _ = writeln!(
                o,
                "  ({} more functions in --json)",
                a.functions.len() - shown
            );
        }
    }
    if a.copied.not_seen + a.new.not_seen > 0 {
        let _ = writeln!(
            o,
            "  {:>10} {:>10}  [not-seen]",
            bytes(a.copied.not_seen),
            bytes(a.new.not_seen)
        );
    }
}

/// One line per object where call chains stop short of an entry: the bytes under them,
/// and (weak) how many of the object's functions set up a frame pointer.
fn stops(o: &mut String, a: &Attribution) {
    for s in &a.chains_stop {
        let built = match s.prologues {
            Some(p) => format!(
                " (weak: {} of {} functions sampled begin push %rbp; mov %rsp,%rbp)",
                p.with_frame, p.sampled
            ),
            None => String::new(),
        };
        let _ = writeln!(
            o,
            "  {}: chains of {} copied, {} new stop in {}{built}",
            CHAIN_STOPS.0,
            bytes(s.copied),
            bytes(s.new),
            frame(&s.object)
        );
    }
}

fn member(o: &mut String, m: &RecordedMember, callers: bool, rows: usize) {
    let _ = writeln!(
        o,
        "\npid {} ({}), child of {}{}",
        m.pid,
        frame(&m.comm),
        m.ppid,
        if m.born_in_window {
            ", forked in the window"
        } else {
            ""
        }
    );
    changed(o, Change::Copied, &m.attribution.copied);
    changed(o, Change::New, &m.attribution.new);
    table(o, &m.attribution, callers, rows);
}

/// Rows shown per child in each interval of `--watch`.
const INTERVAL_ROWS: usize = 5;

/// One interval of `family --record --watch`: its faults, then each child that copied or
/// made pages in it, with its first functions (or chains). `from` and `to` are seconds
/// since the recording started; the last interval, which the end of the recording cuts
/// short, says so with its real length.
pub fn render_record_interval(i: &Interval, callers: bool) -> String {
    let mut o = String::new();
    let rec = &i.recording;
    let last = if i.last {
        format!(" (the last, {:.1} s)", i.to - i.from)
    } else {
        String::new()
    };
    let Some(r) = &i.report else {
        let _ = writeln!(
            o,
            "── {:.1} s to {:.1} s{last}: {} page faults recorded, lost: {}; the family is \
             gone, its pages not read",
            i.from, i.to, rec.faults, rec.lost
        );
        return o;
    };
    let _ = writeln!(
        o,
        "── {:.1} s to {:.1} s{last}: {} page faults recorded, lost: {}; copied: {}, new: {}",
        i.from,
        i.to,
        rec.faults,
        rec.lost,
        bytes(r.family.copied.bytes),
        bytes(r.family.new.bytes)
    );
    let mut quiet = 0;
    for m in &r.processes {
        let a = &m.attribution;
        if a.copied.bytes == 0 && a.new.bytes == 0 {
            quiet += 1;
            continue;
        }
        member(&mut o, m, callers, INTERVAL_ROWS);
    }
    if quiet > 0 {
        let _ = writeln!(
            o,
            "\n{quiet} children copied and made no page in the interval"
        );
    }
    for e in &r.errors {
        let _ = writeln!(o, "error: {}", e.message);
    }
    o
}

pub fn render_record(r: &RecordReport, callers: bool) -> String {
    let mut o = String::new();
    let rec = &r.recording;
    let _ = writeln!(
        o,
        "Recorded {}: {} page faults of the family of pid {} ({} threads at the start, \
         {} events, {} of ring buffer); lost: {}{}",
        match rec.stopped_after {
            Some(s) => format!("{s:.1} s (stopped by Ctrl-C)"),
            None => format!("{} s", rec.seconds),
        },
        rec.faults,
        r.root,
        rec.threads,
        rec.events,
        bytes(rec.ring_bytes),
        rec.lost,
        if rec.malformed + rec.dropped > 0 {
            format!(
                ", malformed: {}, dropped past the bound: {}",
                rec.malformed, rec.dropped
            )
        } else {
            String::new()
        }
    );
    if r.weak {
        let _ = writeln!(
            o,
            "~ weak: without frame numbers, a page copied is one that looked inherited before"
        );
    }
    for m in &r.processes {
        member(&mut o, m, callers, ROWS);
    }
    let _ = writeln!(o, "\nfamily ({} children)", r.processes.len());
    changed(&mut o, Change::Copied, &r.family.copied);
    changed(&mut o, Change::New, &r.family.new);
    table(&mut o, &r.family, callers, ROWS);
    stops(&mut o, &r.family);
    if !r.unresolved_objects.is_empty() {
        let _ = writeln!(o, "\nsymbols not read (addresses stay numbers):");
        for u in &r.unresolved_objects {
            let _ = writeln!(o, "  {}", frame(u));
        }
    }
    for e in &r.errors {
        let _ = writeln!(o, "error: {}", e.message);
    }
    o
}

/// A frame in a folded line: `;` separates frames and the last space the count, so both
/// are replaced inside a name.
fn folded_frame(name: &str) -> String {
    frame(name).replace(';', ":").replace(' ', "_")
}

/// The copied bytes as folded stacks, outermost frame first, each child's command as the
/// root frame; a copy by the parent under `[by-parent]`, copies not seen as `[not-seen]`.
pub fn render_record_folded(r: &RecordReport) -> String {
    let mut o = String::new();
    for m in &r.processes {
        let comm = folded_frame(&m.comm);
        for c in m.attribution.chains.iter().filter(|c| c.copied > 0) {
            let mut line = comm.clone();
            if c.by == Attributed::ByParent {
                line.push_str(";[by-parent]");
            }
            for f in c.chain.iter().rev() {
                line.push(';');
                line.push_str(&folded_frame(f));
            }
            let _ = writeln!(o, "{line} {}", c.copied);
        }
        if m.attribution.copied.not_seen > 0 {
            let _ = writeln!(o, "{comm};[not-seen] {}", m.attribution.copied.not_seen);
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::record::{ChainRow, RecordedMember, Recording};

    fn report() -> RecordReport {
        let chain = |names: &[&str], by, copied| ChainRow {
            chain: names.iter().map(|s| s.to_string()).collect(),
            by,
            copied,
            new: 0,
            stops_in: None,
        };
        let copied = Changed {
            bytes: 5 * 4096,
            seen: 3 * 4096,
            by_parent: 4096,
            not_seen: 4096,
        };
        RecordReport {
            schema: "solab.family-record.v1".into(),
            evidence: crate::kernel::Evidence::Frames,
            weak: false,
            privilege_note: None,
            page_size: 4096,
            root: 1,
            recording: Recording::default(),
            processes: vec![RecordedMember {
                pid: 2,
                ppid: 1,
                comm: "my app".into(),
                born_in_window: false,
                attribution: Attribution {
                    copied,
                    new: Changed::default(),
                    functions: Vec::new(),
                    chains_stop: Vec::new(),
                    chains: vec![
                        chain(&["x!inner", "x!outer;odd"], Attributed::Seen, 3 * 4096),
                        chain(&["x!parent_side"], Attributed::ByParent, 4096),
                    ],
                },
            }],
            family: Attribution::default(),
            unresolved_objects: Vec::new(),
            errors: Vec::new(),
            intervals: Vec::new(),
        }
    }

    #[test]
    fn folded_lines_are_outermost_first_and_add_up_to_the_copied_bytes() {
        let r = report();
        let text = render_record_folded(&r);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "my_app;x!outer:odd;x!inner 12288",
                "my_app;[by-parent];x!parent_side 4096",
                "my_app;[not-seen] 4096",
            ]
        );
        let sum: u64 = lines
            .iter()
            .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
            .sum();
        assert_eq!(sum, r.processes[0].attribution.copied.bytes);
    }
}
