//! Where cells go: the geometry of a band, the grid columns of the report's entries, and
//! the runs and pieces they are drawn as, line by line.

use super::looks::Look;
use super::{GRID_WIDTH, PER_PAGE_LIMIT};
use crate::inspect_report::PageReport;

/// Where cells go: columns per line, cell width and row height.
pub(super) struct Geometry {
    pub(super) cols: usize,
    pub(super) cell: f64,
    pub(super) row: f64,
    pub(super) merge: bool,
}

impl Geometry {
    /// For `n` page columns.
    pub(super) fn for_columns(n: usize) -> Geometry {
        let n = n.max(1);
        let per_line = if n <= WIDE_CELLS_UP_TO {
            // Lines of equal length, each cell wide enough for section names.
            n.div_ceil(n.div_ceil(WIDE_CELLS_PER_LINE))
        } else if n <= PER_PAGE_LIMIT {
            64
        } else if n <= 2560 {
            128
        } else {
            MAX_ENTRY_COLUMNS
        };
        let cols = n.min(per_line);
        let cell = (GRID_WIDTH / cols as f64).clamp(3.75, 36.0);
        Geometry {
            cols,
            cell,
            row: if cell >= 12.0 { 18.0 } else { 11.0 },
            merge: n > PER_PAGE_LIMIT,
        }
    }
    pub(super) fn inset(&self) -> f64 {
        if self.cell >= 8.0 { 1.0 } else { 0.0 }
    }
}

/// Up to this many pages, cells are wide enough for section names (12 units or more):
/// at most [`WIDE_CELLS_PER_LINE`] to a line, on up to four lines.
const WIDE_CELLS_UP_TO: usize = 4 * WIDE_CELLS_PER_LINE;
const WIDE_CELLS_PER_LINE: usize = 40;

/// The widest a report entry standing for several pages is drawn: one line of the widest
/// geometry. A multi-gigabyte untouched `.bss` is one entry; drawn page by page it would
/// be thousands of lines saying nothing. Its cells say the true count.
pub(super) const MAX_ENTRY_COLUMNS: usize = 256;

/// The grid columns of each report entry: an entry is as many columns wide as the pages it
/// stands for ([`PageReport::pages`]), up to [`MAX_ENTRY_COLUMNS`].
pub(super) struct Columns {
    pub(super) start: Vec<usize>,
    pub(super) width: Vec<usize>,
    pub(super) total: usize,
}

/// A report entry drawn as columns: where it starts and how many pages it stands for.
pub(super) trait Entry {
    fn offset(&self) -> u64;
    fn pages(&self) -> u64;
}

impl Entry for PageReport {
    fn offset(&self) -> u64 {
        self.offset
    }
    fn pages(&self) -> u64 {
        self.pages
    }
}

impl Columns {
    pub(super) fn of<E: Entry>(pages: &[E]) -> Columns {
        let mut start = Vec::with_capacity(pages.len());
        let mut width = Vec::with_capacity(pages.len());
        let mut total = 0usize;
        for p in pages {
            let w = usize::try_from(p.pages())
                .unwrap_or(usize::MAX)
                .clamp(1, MAX_ENTRY_COLUMNS);
            start.push(total);
            width.push(w);
            total += w;
        }
        Columns {
            start,
            width,
            total,
        }
    }
    pub(super) fn end(&self, i: usize) -> usize {
        self.start[i] + self.width[i]
    }
    /// The entry drawn at column `c`.
    pub(super) fn entry_at(&self, c: usize) -> usize {
        self.start.partition_point(|&s| s <= c).saturating_sub(1)
    }
}

/// Consecutive entries drawn alike (one entry unless merging): one tooltip, one tie bar per
/// tie group.
pub(super) struct Run {
    pub(super) first: usize,
    pub(super) count: usize,
}

/// Splits the entries into runs of identical columns (or single entries).
pub(super) fn runs(pages: &[PageReport], looks: &[Vec<Look>], merge: bool) -> Vec<Run> {
    let mut out: Vec<Run> = Vec::new();
    for i in 0..pages.len() {
        if let Some(last) = out.last_mut() {
            let j = last.first;
            if merge
                && pages[j].segment == pages[i].segment
                && pages[j].verdict == pages[i].verdict
                && looks[j] == looks[i]
            {
                last.count += 1;
                continue;
            }
        }
        out.push(Run { first: i, count: 1 });
    }
    out
}

/// The part of a run on one line: columns `c0..c1`.
pub(super) struct Piece {
    /// The run's first entry (every entry of a run looks the same).
    pub(super) first: usize,
    pub(super) c0: usize,
    pub(super) c1: usize,
    /// Pages it stands for: its columns, plus what a clipped entry ending here leaves out.
    pub(super) pages: u64,
    /// Offsets from the load base, `start..end`.
    pub(super) start: u64,
    pub(super) end: u64,
}

pub(super) fn piece<E: Entry>(
    pages: &[E],
    cols: &Columns,
    first: usize,
    c0: usize,
    c1: usize,
) -> Piece {
    let a = cols.entry_at(c0);
    let b = cols.entry_at(c1 - 1);
    let start = pages[a].offset() + (c0 - cols.start[a]) as u64 * crate::PAGE_SIZE;
    let end = if c1 == cols.end(b) {
        pages[b].offset() + pages[b].pages().max(1) * crate::PAGE_SIZE
    } else {
        pages[b].offset() + (c1 - cols.start[b]) as u64 * crate::PAGE_SIZE
    };
    let mut n = 0u64;
    for (j, page) in pages.iter().enumerate().take(b + 1).skip(a) {
        let lo = c0.max(cols.start[j]);
        let hi = c1.min(cols.end(j));
        n += (hi - lo) as u64;
        if hi == cols.end(j) {
            n += page.pages().saturating_sub(cols.width[j] as u64);
        }
    }
    Piece {
        first,
        c0,
        c1,
        pages: n,
        start,
        end,
    }
}

/// The pieces of every run on the line of columns `from..to`.
pub(super) fn pieces<E: Entry>(
    pages: &[E],
    cols: &Columns,
    runs: &[Run],
    from: usize,
    to: usize,
) -> Vec<Piece> {
    let first_run = runs.partition_point(|r| cols.end(r.first + r.count - 1) <= from);
    runs[first_run..]
        .iter()
        .take_while(|r| cols.start[r.first] < to)
        .map(|r| {
            let c0 = cols.start[r.first].max(from);
            let c1 = cols.end(r.first + r.count - 1).min(to);
            piece(pages, cols, r.first, c0, c1)
        })
        .collect()
}

/// Consecutive pieces with the same key, as index ranges.
pub(super) fn spans<K: PartialEq>(n: usize, key: impl Fn(usize) -> K) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for i in 0..n {
        match out.last_mut() {
            Some((s, e)) if key(*s) == key(i) => *e = i + 1,
            _ => out.push((i, i + 1)),
        }
    }
    out
}

/// A coordinate rounded to 1/100 px: `0.1 * 3.0` would otherwise print 17 digits, and the
/// picture holds one coordinate pair per page per process.
pub(super) fn px(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}
