//! How a page looks in each process: its state from the report, and which processes the
//! report says hold one frame for it (the tie groups), with the colour of each look.

use crate::inspect_report::PageReport;
use crate::sharing::{PageState, Verdict};
use std::collections::{BTreeMap, HashMap};

/// How one page looks in one process: its state, and whether its frame is the same as
/// in at least one other process of the picture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct Look {
    pub(super) state: PageState,
    /// Index of the group of processes that map one frame for this page.
    pub(super) tie: Option<usize>,
}

/// The colour and legend text of a look. Tied and untied pages of one state are one
/// colour family: saturated when the frame is shared with another process here, pale when
/// not.
pub(super) fn style(look: Look) -> (&'static str, &'static str) {
    let tied = look.tie.is_some();
    match (look.state, tied) {
        (PageState::File, true) => ("#1f6fd1", "file frame, one frame in these processes"),
        (PageState::File, false) => ("#a9c8f0", "file frame, not shared with the others here"),
        (PageState::AnonExclusive, _) => ("#e8590c", "anon-exclusive: this process's own copy"),
        (PageState::SharedWindow, true) => ("#1b9e4b", "MAP_SHARED window, one frame"),
        (PageState::SharedWindow, false) => ("#9fdcb2", "MAP_SHARED window, only here"),
        (PageState::AnonCow, true) => ("#8e44ad", "anon-cow: one frame, copy-on-write pending"),
        (PageState::AnonCow, false) => ("#d2b4de", "anon-cow: mapped elsewhere too"),
        (PageState::Ksm, _) => ("#b7950b", "ksm: merged by the kernel from equal pages"),
        (PageState::AnonNotExclusive, true) => {
            ("#a569bd", "anon-not-exclusive, looks shared (weak)")
        }
        (PageState::AnonNotExclusive, false) => (
            "#e8daef",
            "anon-not-exclusive (weak: fork, KSM or zero page)",
        ),
        (PageState::ZeroPage, true) => ("#7f8c99", "the kernel's zero page (read, not written)"),
        (PageState::ZeroPage, false) => ("#c5ccd3", "the kernel's zero page, only here"),
        (PageState::NotPresent, _) => ("#ffffff", "not-present: no page-table entry here"),
        (PageState::Swapped, _) => ("#4a4a4a", "swapped out"),
        (PageState::Unmapped, _) => ("none", "not mapped in this process"),
    }
}

/// The looks of one page in every process, with the tie groups the report gives: every
/// present copy when its verdict is one frame (`shared`, or weak `looks-shared`), none
/// when it is not, and for a `mixed` page the processes whose reported frame is the same.
pub(super) fn looks(page: &PageReport) -> Vec<Look> {
    let present = page.procs.iter().filter(|p| p.present);
    let mut tie_of_pid: BTreeMap<i32, usize> = BTreeMap::new();
    if page.verdict.is_shared() {
        tie_of_pid.extend(present.map(|p| (p.pid, 0)));
    } else if page.verdict == Verdict::Mixed {
        // Which processes hold which frame: the report says it by the frame numbers.
        let mut groups: Vec<(Option<crate::Pfn>, Vec<i32>)> = Vec::new();
        for p in present {
            match groups.iter_mut().find(|g| g.0 == p.pfn) {
                Some(g) => g.1.push(p.pid),
                None => groups.push((p.pfn, vec![p.pid])),
            }
        }
        for (i, (_, pids)) in groups.iter().filter(|g| g.1.len() > 1).enumerate() {
            tie_of_pid.extend(pids.iter().map(|&pid| (pid, i)));
        }
    }
    page.procs
        .iter()
        .map(|p| Look {
            state: p.state,
            tie: tie_of_pid.get(&p.pid).copied(),
        })
        .collect()
}

/// Up to this many processes a picture draws a row per process even when some are
/// identical: a few rows fit anyway, and a reader compares processes by their rows (two
/// processes with a copy each of the same page read as two rows).
pub(super) const ROW_PER_PROCESS_UP_TO: usize = 8;

/// The rows of a picture: processes drawn as one row when they are *identical*, that is
/// when every cell of theirs would look the same: for every entry, the same [`Look`]
/// (the same state, and the same tie group, so a tied page is on the same frame in each)
/// and the same `mark` (what the row's label says besides the pid, such as a deleted
/// file). An untied page (a process's own copy, or a page mapped nowhere) looks the same
/// in each whatever its frame. `looks[entry][process]`; returns, per row, its processes
/// in report order, rows in the order of their first process, so that a picture without
/// identical processes has one row per process in report order. Up to
/// [`ROW_PER_PROCESS_UP_TO`] processes every process keeps its own row.
pub(super) fn identical_rows<M: Eq + std::hash::Hash>(
    looks: &[Vec<Look>],
    marks: &[M],
) -> Vec<Vec<usize>> {
    if marks.len() <= ROW_PER_PROCESS_UP_TO {
        return (0..marks.len()).map(|p| vec![p]).collect();
    }
    let mut rows: Vec<Vec<usize>> = Vec::new();
    let mut row_of: HashMap<(&M, Vec<Look>), usize> = HashMap::new();
    for (p, mark) in marks.iter().enumerate() {
        let pattern: Vec<Look> = looks.iter().map(|l| l[p]).collect();
        match row_of.get(&(mark, pattern.clone())) {
            Some(&r) => rows[r].push(p),
            None => {
                row_of.insert((mark, pattern), rows.len());
                rows.push(vec![p]);
            }
        }
    }
    rows
}

/// At most this many pids are named in the label or tooltip of a row of identical
/// processes; the count says how many there are.
pub(super) const NAMED_PIDS: usize = 8;

/// The pids of a row of identical processes, at most [`NAMED_PIDS`] of them then `…`.
pub(super) fn pid_list(pids: &[i32]) -> String {
    let mut s = pids
        .iter()
        .take(NAMED_PIDS)
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if pids.len() > NAMED_PIDS {
        s.push('…');
    }
    s
}
