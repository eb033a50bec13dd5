//! One object's band in `inspect`'s picture: its heading, then per line of the grid its
//! segment bar, section names, one row of cells per process and the tie bars behind them.
//!
//! Identical processes (see [`identical_rows`]) share one row labelled with their count,
//! so its size is linear in pages × distinct rows, not processes: per page run, one cell
//! per row and one tie bar per group of rows that map one frame (spanning the group's
//! rows, behind the cells), each with a tooltip that counts the processes instead of
//! naming them.

use super::cells::{Across, Outline, cell, count_label, segment_fill, tie_bar};
use super::labels::{
    frames_text, hex, line_label, range_text, sections_text, text, text_width, title, wrap,
};
use super::layout::{Columns, Geometry, Piece, pieces, px, runs, spans};
use super::looks::{Look, identical_rows, looks, pid_list, style};
use super::{LABEL_WIDTH, MARGIN, ROW_GAP, SMALL, fit_chars};
use crate::inspect_report::{InspectReport, ObjectReport, PageReport};
use crate::sharing::{PageState, Verdict};
use ::svg::Node;
use ::svg::node::element::{Group, Line, Rectangle};
use std::collections::BTreeMap;

/// What every line of one object's band is drawn from.
struct Band<'a> {
    pages: &'a [PageReport],
    cols: Columns,
    geo: Geometry,
    /// Per entry, how its page looks in each process.
    looks: Vec<Vec<Look>>,
    /// The processes of each row (indices into the report's processes of the object).
    rows: Vec<Vec<usize>>,
    /// The label of each row.
    row_names: Vec<RowName>,
    /// Where the grid starts, right of the row labels.
    x0: f64,
}

impl Band<'_> {
    /// The left edge of column `c` on the line that starts at column `from`.
    fn x_of(&self, from: usize, c: usize) -> f64 {
        px(self.x0 + (c - from) as f64 * self.geo.cell)
    }

    /// The top of row `r` of a line whose rows start at `rows_top`.
    fn row_y(&self, rows_top: f64, r: usize) -> f64 {
        px(rows_top + r as f64 * (self.geo.row + ROW_GAP))
    }
}

/// One object's band at height `top`; returns it, its height and its width. `used`
/// collects the looks drawn, for the legend; `merged` is set when a row stands for
/// several identical processes.
pub(super) fn draw_object(
    obj: &ObjectReport,
    report: &InspectReport,
    top: f64,
    (used, merged): (&mut Vec<Look>, &mut bool),
) -> (Group, f64, f64) {
    let pages = &obj.pages;
    let cols = Columns::of(pages);
    let page_looks: Vec<Vec<Look>> = pages.iter().map(looks).collect();
    let deleted: Vec<bool> = obj.procs.iter().map(|p| p.deleted).collect();
    let rows = identical_rows(&page_looks, &deleted);
    *merged |= rows.iter().any(|r| r.len() > 1);
    let band = Band {
        pages,
        geo: Geometry::for_columns(cols.total),
        cols,
        looks: page_looks,
        row_names: row_names(obj, report, &rows),
        rows,
        x0: MARGIN + LABEL_WIDTH,
    };
    let g = Group::new().set("class", "object");
    let (mut g, mut y, mut width) = object_heading(g, obj, &band.geo, top);
    let all_runs = runs(pages, &band.looks, band.geo.merge);
    let lines = band.cols.total.div_ceil(band.geo.cols);
    for line in 0..lines {
        let from = line * band.geo.cols;
        let to = (from + band.geo.cols).min(band.cols.total);
        let line_pieces = pieces(pages, &band.cols, &all_runs, from, to);
        if line_pieces.is_empty() {
            continue;
        }
        (g, y) = draw_line(g, &band, &line_pieces, from, y, used);
        width = width.max(band.x_of(from, to) + MARGIN);
    }
    (g, y - top, width)
}

/// The object's path and facts (pages by verdict, build-id, TEXTREL, weak) at height
/// `top`; returns the group, the height below them and the width they need.
fn object_heading(mut g: Group, obj: &ObjectReport, geo: &Geometry, top: f64) -> (Group, f64, f64) {
    let pages = &obj.pages;
    let mut y = top + 14.0;
    g = g.add(text(MARGIN, y, 14.0, &obj.path).set("font-weight", "bold"));
    y += 16.0;
    let verdicts = Verdict::ALL
        .iter()
        .filter_map(|v| {
            let n: u64 = pages
                .iter()
                .filter(|p| p.verdict == *v)
                .map(|p| p.pages)
                .sum();
            (n > 0).then(|| format!("{} {n}", v.name()))
        })
        .collect::<Vec<_>>()
        .join(", ");
    let page_count: u64 = pages.iter().map(|p| p.pages).sum();
    let mut facts = format!(
        "{} pages ({} KiB), {} process(es); pages by verdict: {verdicts}",
        page_count,
        page_count * crate::PAGE_SIZE / 1024,
        obj.procs.len()
    );
    if let Some(b) = &obj.build_id {
        facts.push_str(&format!("; build-id {b}"));
    }
    if obj.textrel {
        facts.push_str("; TEXTREL");
    }
    if obj.weak {
        facts.push_str("; weak: no frame numbers");
    }
    let mut lines = wrap(&facts, fit_chars(0.0));
    if geo.merge {
        lines.extend(wrap(
            "large object: runs of identical pages are drawn as one cell; its tooltip gives the count",
            fit_chars(0.0),
        ));
    }
    let mut width: f64 = 0.0;
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            y += 15.0;
        }
        g = g.add(text(MARGIN, y, SMALL, line).set("fill", "#495057"));
        width = width.max(MARGIN + text_width(line, SMALL) + MARGIN);
    }
    y += 10.0;
    (g, y, width)
}

/// The label of a row: its text, and for a row of several identical processes every
/// pid (in a `data-pids` attribute) and a tooltip that explains the count.
struct RowName {
    text: String,
    many: Option<(String, String)>,
}

/// The characters of a row's label that fit left of the grid.
const ROW_NAME_CHARS: usize = 24;

/// The label of each row: pid, command, whether its file was deleted; for a row of
/// several identical processes, "N processes: pids a, b, c…".
fn row_names(obj: &ObjectReport, report: &InspectReport, rows: &[Vec<usize>]) -> Vec<RowName> {
    rows.iter()
        .map(|members| {
            let p = &obj.procs[members[0]];
            let deleted = if p.deleted { " (deleted)" } else { "" };
            if members.len() > 1 {
                let pids: Vec<i32> = members.iter().map(|&m| obj.procs[m].pid).collect();
                let text = format!("{} processes: pids {}", pids.len(), pid_list(&pids));
                let tip = format!(
                    "{} processes{deleted} drawn as one row: each page looks the same in \
                     each (same state, tied to the same frame as the same others); pids {}",
                    pids.len(),
                    pid_list(&pids)
                );
                let all = pids.iter().map(i32::to_string).collect::<Vec<_>>();
                return RowName {
                    text: text.chars().take(ROW_NAME_CHARS).collect(),
                    many: Some((all.join(" "), tip)),
                };
            }
            let comm = report
                .processes
                .iter()
                .find(|q| q.pid == p.pid)
                .map(|q| q.comm.as_str())
                .unwrap_or("");
            let name = format!("pid {} {comm}{deleted}", p.pid);
            RowName {
                text: name.chars().take(ROW_NAME_CHARS).collect(),
                many: None,
            }
        })
        .collect()
}

/// One line of the grid, the columns `from..` of `line_pieces`, at height `y`: its
/// segment bar and section names, a row of cells per process, the segment boundaries and
/// the names of segments too narrow for their bar. Returns the height below it.
fn draw_line(
    mut g: Group,
    band: &Band,
    line_pieces: &[Piece],
    from: usize,
    mut y: f64,
    used: &mut Vec<Look>,
) -> (Group, f64) {
    let (pages, geo) = (band.pages, &band.geo);
    let nrows = band.rows.len();
    y += 6.0;
    g = g.add(line_label(
        &format!("offset {}", hex(line_pieces[0].start)),
        y,
    ));
    let narrow;
    (g, narrow) = segment_bar(g, band, line_pieces, from, y);
    y += SEGMENT_BAR;
    if geo.cell >= 12.0 {
        g = section_names(g, band, line_pieces, from, y);
        y += SEGMENT_BAR;
    }
    y += 3.0;

    let rows_top = y;
    for (r, name) in band.row_names.iter().enumerate() {
        let label = text(
            MARGIN,
            band.row_y(rows_top, r) + geo.row * 0.75,
            SMALL,
            &name.text,
        );
        g = match &name.many {
            None => g.add(label),
            Some((pids, tip)) => g.add(
                Group::new()
                    .set("class", "rows")
                    .set("data-pids", pids.as_str())
                    .add(title(tip))
                    .add(label),
            ),
        };
    }
    let columns: Vec<Column> = line_pieces.iter().map(|pc| column(band, pc)).collect();
    for (pc, c) in line_pieces.iter().zip(&columns) {
        let x = px(band.x_of(from, pc.c0) + geo.inset());
        let w = px(((pc.c1 - pc.c0) as f64 * geo.cell - 2.0 * geo.inset()).max(0.5));
        g = g.add(page_column(band, pc, c, (x, w), rows_top));
        if let Some(label) = count_label(pc, geo, x, band.row_y(rows_top, nrows) - ROW_GAP) {
            g = g.add(label);
        }
    }
    // The cells after every column, so that they lie on the tie bars.
    for r in 0..nrows {
        g = row_cells(g, band, (line_pieces, &columns), (from, r, rows_top), used);
    }
    // Segment boundaries as thin lines through the rows.
    let rows_end = band.row_y(rows_top, nrows) - ROW_GAP;
    let seg_of = |k: usize| pages[line_pieces[k].first].segment;
    for (s, _) in spans(line_pieces.len(), seg_of).iter().skip(1) {
        let x = band.x_of(from, line_pieces[*s].c0);
        g = g.add(
            Line::new()
                .set("x1", x)
                .set("x2", x)
                .set("y1", y - 3.0)
                .set("y2", rows_end + 2.0)
                .set("stroke", "#343a40")
                .set("stroke-width", 1),
        );
    }
    y = rows_end + if geo.merge { 11.0 } else { 4.0 };
    let footer_lines;
    (g, footer_lines) = narrow_segment_names(g, narrow, y, rows_end);
    y += footer_lines as f64 * 14.0;
    (g, y)
}

/// The height of a segment bar, and of the section names under it.
const SEGMENT_BAR: f64 = 15.0;

/// A segment too narrow for its name on its bar: where it starts, its name, its colour.
type NarrowSegment = (f64, &'static str, &'static str);

/// The segment bar of a line at height `y`, its name on each segment where it fits;
/// returns the segments whose names did not fit.
fn segment_bar(
    mut g: Group,
    band: &Band,
    line_pieces: &[Piece],
    from: usize,
    y: f64,
) -> (Group, Vec<NarrowSegment>) {
    let (pages, geo) = (band.pages, &band.geo);
    let mut narrow: Vec<NarrowSegment> = Vec::new();
    let seg_of = |k: usize| pages[line_pieces[k].first].segment;
    for (s, e) in spans(line_pieces.len(), seg_of) {
        let (a, b) = (&line_pieces[s], &line_pieces[e - 1]);
        let w = (b.c1 - a.c0) as f64 * geo.cell;
        let seg = seg_of(s).name();
        let n: u64 = line_pieces[s..e].iter().map(|p| p.pages).sum();
        let first = a.first;
        let last = band.cols.entry_at(b.c1 - 1);
        let bar = Rectangle::new()
            .set("x", px(band.x_of(from, a.c0) + 0.5))
            .set("y", y)
            .set("width", px((w - 1.0).max(0.5)))
            .set("height", SEGMENT_BAR)
            .set("fill", segment_fill(seg_of(s)))
            .set("class", "segment")
            .add(title(&format!(
                "segment {seg}: {}; sections {}",
                range_text(n, a.start, b.end),
                sections_text(pages, first, last + 1 - first)
            )));
        g = g.add(bar);
        if text_width(seg, SMALL) + 4.0 <= w {
            g = g.add(
                text(band.x_of(from, a.c0) + 3.0, y + 12.0, SMALL, seg)
                    .set("fill", "#ffffff")
                    .set("font-weight", "bold"),
            );
        } else {
            narrow.push((band.x_of(from, a.c0), seg, segment_fill(seg_of(s))));
        }
    }
    (g, narrow)
}

/// The section names under the segment bar at height `y`, where they fit.
fn section_names(mut g: Group, band: &Band, line_pieces: &[Piece], from: usize, y: f64) -> Group {
    let secs_of = |k: usize| &band.pages[line_pieces[k].first].sections;
    for (s, e) in spans(line_pieces.len(), secs_of) {
        let (a, b) = (&line_pieces[s], &line_pieces[e - 1]);
        let w = (b.c1 - a.c0) as f64 * band.geo.cell;
        let full = secs_of(s).join(" ");
        let first = secs_of(s).first().cloned().unwrap_or_default();
        let label = if text_width(&full, SMALL) + 2.0 <= w {
            full
        } else if text_width(&first, SMALL) + 2.0 <= w {
            first
        } else {
            continue;
        };
        g = g
            .add(text(band.x_of(from, a.c0) + 1.0, y + 12.0, SMALL, &label).set("fill", "#495057"));
    }
    g
}

/// The names of segments too narrow for their bar, under the rows ending at `rows_end`,
/// from height `y`, on up to three lines; returns how many lines they took.
fn narrow_segment_names(
    mut g: Group,
    narrow: Vec<NarrowSegment>,
    y: f64,
    rows_end: f64,
) -> (Group, usize) {
    let mut ends = [f64::MIN; 3];
    let mut footer_lines = 0;
    for (x, name, fill) in narrow {
        let Some(k) = ends.iter().position(|&end| end + 4.0 <= x) else {
            continue;
        };
        ends[k] = x + text_width(name, SMALL);
        footer_lines = footer_lines.max(k + 1);
        let ty = y + 11.0 + k as f64 * 14.0;
        g = g.add(
            Line::new()
                .set("x1", x + 1.0)
                .set("x2", x + 1.0)
                .set("y1", rows_end)
                .set("y2", ty)
                .set("stroke", fill)
                .set("stroke-width", 1),
        );
        g = g.add(
            text(x + 3.0, ty, SMALL, name)
                .set("fill", fill)
                .set("font-weight", "bold"),
        );
    }
    (g, footer_lines)
}

/// The tie groups of one column: per group, the rows whose processes map one frame.
struct Column {
    groups: BTreeMap<usize, Vec<usize>>,
}

/// The tie groups of piece `pc`, read from the looks of each row's first process.
fn column(band: &Band, pc: &Piece) -> Column {
    let look = &band.looks[pc.first];
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (r, members) in band.rows.iter().enumerate() {
        if let Some(t) = look[members[0]].tie {
            groups.entry(t).or_default().push(r);
        }
    }
    Column { groups }
}

impl Column {
    /// How many processes the rows of tie group `t` stand for, when the look is tied.
    fn tie_procs(&self, band: &Band, tie: Option<usize>) -> Option<usize> {
        let rows = self.groups.get(&tie?)?;
        Some(rows.iter().map(|&r| band.rows[r].len()).sum())
    }
}

/// One column of the grid: piece `pc`, `x` and `w` across, its rows from `rows_top`. The
/// page's facts sit on the column's group, with the tie bars of its groups of rows that
/// map one frame; the cells are drawn by [`row_cells`], over them.
fn page_column(band: &Band, pc: &Piece, c: &Column, (x, w): (f64, f64), rows_top: f64) -> Group {
    let (pages, geo) = (band.pages, &band.geo);
    let nprocs: usize = band.rows.iter().map(Vec::len).sum();
    let row_y = |r: usize| band.row_y(rows_top, r);
    let page = &pages[pc.first];
    let look = &band.looks[pc.first];
    let range = range_text(pc.pages, pc.start, pc.end);
    let secs = sections_text(
        pages,
        pc.first,
        band.cols.entry_at(pc.c1 - 1) + 1 - pc.first,
    );
    let mut col = Group::new()
        .set("class", "page")
        .set("data-offset", hex(pc.start))
        .set("data-pages", pc.pages)
        .set("data-verdict", page.verdict.name());
    // Each tie bar spans its group's rows and shows in the gaps between them. Several
    // groups in one column share its width side by side.
    let k = c.groups.len().max(1) as f64;
    for (j, (&t, rows)) in c.groups.iter().enumerate() {
        let (a, b) = (rows[0], rows[rows.len() - 1]);
        let first = band.rows[a][0];
        let (fill, _) = style(look[first]);
        let procs = c.tie_procs(band, Some(t)).unwrap_or(0);
        let what = match page.procs[first].pfn {
            Some(p) if pc.pages == 1 => format!("one frame ({p})"),
            Some(p) => format!("one frame each (from {p})"),
            None => "looks shared (weak: pagemap bit 56 clear, no frame numbers)".into(),
        };
        col = col.add(tie_bar(
            (px(x + j as f64 * w / k), px(w / k)),
            (row_y(a), px(row_y(b) + geo.row - row_y(a))),
            fill,
            (pc.pages, procs),
            &format!(
                "{range}, segment {}, sections {}: {what} in {procs} of the {nprocs} processes\nverdict {}: {}",
                page.segment.name(),
                secs,
                page.verdict.name(),
                page.verdict.meaning(),
            ),
        ));
    }
    col
}

/// What a cell says besides its pages: consecutive columns of a row that say the same are
/// drawn as one cell where cells touch (no inset between them), so that a row costs its
/// runs of pages, not its pages.
#[derive(PartialEq)]
struct CellKind {
    /// Its state, and whether it is tied (the group's index may differ along a run).
    look: Look,
    /// Whether the process's frame number is known.
    framed: bool,
    verdict: Verdict,
    segment: crate::elf::SegmentKind,
    /// Whether the column has tie bars (which then explain the verdict).
    column_tied: bool,
}

/// The cells of row `r` on the line of columns `from..`: one per piece, or per run of
/// pieces of one [`CellKind`] when cells touch, with its state and frames in its tooltip.
fn row_cells(
    mut g: Group,
    band: &Band,
    (line_pieces, columns): (&[Piece], &[Column]),
    (from, r, rows_top): (usize, usize, f64),
    used: &mut Vec<Look>,
) -> Group {
    let geo = &band.geo;
    let members = &band.rows[r];
    let i = members[0];
    let kind = |k: usize| {
        let pc = &line_pieces[k];
        let page = &band.pages[pc.first];
        let look = band.looks[pc.first][i];
        CellKind {
            look: Look {
                state: look.state,
                tie: look.tie.map(|_| 0),
            },
            framed: page.procs[i].pfn.is_some(),
            verdict: page.verdict,
            segment: page.segment,
            column_tied: !columns[k].groups.is_empty(),
        }
    };
    let inset = geo.inset();
    let across = |pcs: &[Piece]| -> Across {
        let x_w = |a: &Piece, b: &Piece| {
            let x = px(band.x_of(from, a.c0) + inset);
            (
                x,
                px(((b.c1 - a.c0) as f64 * geo.cell - 2.0 * inset).max(0.5)),
            )
        };
        match pcs {
            [a] => Across::One(x_w(a, a).0, x_w(a, a).1),
            // Cells that touch are one rectangle.
            [a, .., b] if inset == 0.0 => Across::One(x_w(a, b).0, x_w(a, b).1),
            _ => Across::Run(pcs.iter().map(|p| x_w(p, p)).collect()),
        }
    };
    let mut k = 0;
    while k < line_pieces.len() {
        let first_kind = kind(k);
        let mut e = k + 1;
        while e < line_pieces.len() && kind(e) == first_kind {
            e += 1;
        }
        let (a, b) = (&line_pieces[k], &line_pieces[e - 1]);
        let pages: u64 = line_pieces[k..e].iter().map(|p| p.pages).sum();
        let last = band.cols.entry_at(b.c1 - 1);
        // The processes each column ties this row to, fewest and most along the run.
        let tied_to = (k..e)
            .filter_map(|j| columns[j].tie_procs(band, band.looks[line_pieces[j].first][i].tie))
            .fold(None, |acc: Option<(usize, usize)>, n| {
                Some(acc.map_or((n, n), |(lo, hi)| (lo.min(n), hi.max(n))))
            });
        let tip = cell_tip(
            band,
            (&first_kind, tied_to),
            (a, pages, b.end),
            (i, members.len()),
            last,
        );
        let look = band.looks[a.first][i];
        if !used.contains(&look) {
            used.push(look);
        }
        let q = &band.pages[a.first].procs[i];
        let outline = match q.state {
            PageState::NotPresent => Outline::Solid,
            PageState::Unmapped => Outline::Dashed,
            _ => Outline::None,
        };
        let (fill, _) = style(look);
        let y = band.row_y(rows_top, r);
        let mut cell = cell(
            across(&line_pieces[k..e]),
            (y, geo.row),
            fill,
            q.pid,
            pages,
            outline,
        );
        cell.assign("data-state", q.state.name());
        cell.assign("data-tied", if look.tie.is_some() { 1 } else { 0 });
        if members.len() > 1 {
            cell.assign("data-count", members.len());
        }
        cell.append(title(&tip));
        g = g.add(cell);
        k = e;
    }
    g
}

/// The tooltip of a cell of process `i` (standing for `count` identical processes) from
/// piece `a` for `pages` pages up to offset `end`, its last entry `last`; `tied_to`: the
/// fewest and most processes its columns tie it to.
fn cell_tip(
    band: &Band,
    (kind, tied_to): (&CellKind, Option<(usize, usize)>),
    (a, pages, end): (&Piece, u64, u64),
    (i, count): (usize, usize),
    last: usize,
) -> String {
    let page = &band.pages[a.first];
    let q = &page.procs[i];
    let range = range_text(pages, a.start, end);
    let others = match tied_to {
        Some((lo, hi)) if lo == hi => (lo - 1).to_string(),
        Some((lo, hi)) => format!("{} to {}", lo - 1, hi - 1),
        None => String::new(),
    };
    let tie = match tied_to {
        Some(_) if kind.framed => format!(", one frame with {others} other process(es)"),
        Some(_) => format!(", looks shared (weak) with {others} other process(es)"),
        None => String::new(),
    };
    // A tie bar explains the verdict of its column; a column without one says it in each
    // cell.
    let verdict = if kind.column_tied {
        kind.verdict.name().to_string()
    } else {
        format!("{}: {}", kind.verdict.name(), kind.verdict.meaning())
    };
    let mut frames = frames_text(page, pages, i);
    // A row of identical processes names its pids and sections once, on its label and
    // segment bar, not in each cell: that would make the picture grow with them.
    if count > 1 {
        if kind.look.tie.is_none() && kind.framed {
            frames.push_str(&format!(" in pid {}; each of these has its own", q.pid));
        }
        format!(
            "pid {} and {} identical process(es), {range}: state {}{tie}; {frames}; verdict {verdict}",
            q.pid,
            count - 1,
            q.state.name(),
        )
    } else {
        let secs = sections_text(band.pages, a.first, last + 1 - a.first);
        format!(
            "pid {}, {range}, segment {} ({secs}): state {}{tie}; {frames}; verdict {verdict}",
            q.pid,
            page.segment.name(),
            q.state.name(),
        )
    }
}
