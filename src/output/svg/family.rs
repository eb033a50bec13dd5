//! `solab family PID --svg FILE`: the fork family as a page map, drawn with the cells, tie
//! bars, columns, heading and legend of the `inspect` picture.
//!
//! One band per inherited mapping (the root's and its descendants' mappings at one address
//! with one name), one row per process that has it, the root first. The root's cells are
//! coloured by the state of its page; a descendant's by what became of it since fork
//! ([`Inheritance`]). A page that is still the parent's frame is tied to the parent's cell
//! by a bar spanning their rows, so a page no child has copied reads as one solid column.
//! Consecutive pages alike in every row are one entry, as many columns wide as it has
//! pages up to one line, its cells giving the count.

use super::cells::{Across, Outline, cell, count_label, tie_bar};
use super::labels::{hex, line_label, text, text_width, title};
use super::layout::{Columns, Entry, Geometry, Piece, Run, pieces, px};
use super::legend::draw_legend;
use super::looks::{Look, ROW_PER_PROCESS_UP_TO, pid_list, style};
use super::{MARGIN, ROW_GAP, heading};
use crate::addr::PAGE_SIZE;
use crate::commands::family::{FamilyPictures, FamilyReport, LookRun, Member, PageLook};
use crate::sharing::{Inheritance, PageState};
use ::svg::Node;
use ::svg::node::element::Group;
use std::collections::BTreeMap;

const LABEL_X: f64 = MARGIN + super::LABEL_WIDTH;

/// What cells tied across rows mean here, with frame numbers and without.
const TIE_TEXT: &str = "cells joined across rows: one physical frame, the parent's, not copied since fork (hover a cell for address and word)";
const WEAK_TIE_TEXT: &str = "cells joined across rows: looks-inherited in the child, pagemap bit 56 clear in both (weak: no frame compared)";

/// Pages `start..start + pages * PAGE_SIZE`, alike in every row of a band.
struct Span {
    start: u64,
    pages: u64,
    /// Per row: the look of these pages, or none (no anonymous page there).
    looks: Vec<Option<PageLook>>,
}

impl Entry for Span {
    fn offset(&self) -> u64 {
        self.start
    }
    fn pages(&self) -> u64 {
        self.pages
    }
}

/// One inherited mapping: its name, address range and rows (member, its runs there).
struct Band<'a> {
    name: &'a str,
    start: u64,
    end: u64,
    rows: Vec<(&'a Member, Vec<LookRun>)>,
    /// Per row, the processes it stands for: its member, and the siblings identical to it
    /// ([`merge_identical_children`]).
    pids: Vec<Vec<i32>>,
}

impl Band<'_> {
    /// How many processes rows `rows` stand for.
    fn procs_in(&self, rows: &[usize]) -> usize {
        rows.iter().map(|&r| self.pids[r].len()).sum()
    }
}

/// Past [`ROW_PER_PROCESS_UP_TO`] rows, children of one parent whose pages of the band
/// look the same (the same runs of the same words) share one row, as identical processes
/// do in `inspect`: a pre-fork server's idle workers are one row with their count. A child
/// that is the parent of another row keeps its own (its children are tied to it).
fn merge_identical_children(band: &mut Band) {
    if band.rows.len() <= ROW_PER_PROCESS_UP_TO {
        return;
    }
    let rows = std::mem::take(&mut band.rows);
    let parents: Vec<i32> = rows.iter().map(|(m, _)| m.ppid).collect();
    let mut kept: Vec<(&Member, Vec<LookRun>)> = Vec::new();
    let mut pids: Vec<Vec<i32>> = Vec::new();
    for (m, runs) in rows {
        let leaf = m.depth > 0 && !parents.contains(&m.pid);
        let same = kept.iter().position(|(k, kr)| {
            leaf && k.depth == m.depth
                && k.ppid == m.ppid
                && !parents.contains(&k.pid)
                && *kr == runs
        });
        match same {
            Some(i) => pids[i].push(m.pid),
            None => {
                pids.push(vec![m.pid]);
                kept.push((m, runs));
            }
        }
    }
    band.rows = kept;
    band.pids = pids;
}

/// The fill and legend words of a look; `tied` when its frame is tied to another row.
fn fill(look: Option<PageLook>, tied: bool) -> (&'static str, String) {
    match look {
        None => {
            let (f, l) = style(Look {
                state: PageState::NotPresent,
                tie: None,
            });
            (f, l.into())
        }
        Some(PageLook::Own(state)) => {
            let (f, l) = style(Look {
                state,
                tie: tied.then_some(0),
            });
            (f, format!("parent: {l}"))
        }
        Some(PageLook::Inherited(i)) => {
            let f = match i {
                Inheritance::ParentsFrame => "#8e44ad",
                Inheritance::LooksInherited => "#a569bd",
                Inheritance::Copied => "#c92a2a",
                Inheritance::New => "#f2c14e",
                Inheritance::Ksm => "#4dabf7",
            };
            (f, format!("{}: {}", i.name(), i.meaning()))
        }
    }
}

fn word(look: Option<PageLook>) -> &'static str {
    match look {
        None => PageState::NotPresent.name(),
        Some(PageLook::Own(s)) => s.name(),
        Some(PageLook::Inherited(i)) => i.name(),
    }
}

/// The runs of `runs` inside `start..end`, clipped.
fn clip(runs: &[LookRun], start: u64, end: u64) -> Vec<LookRun> {
    let first = runs.partition_point(|r| r.end() <= start);
    runs[first..]
        .iter()
        .take_while(|r| r.start < end)
        .map(|r| {
            let s = r.start.max(start);
            let e = r.end().min(end);
            LookRun {
                start: s,
                pages: (e - s) / PAGE_SIZE,
                look: r.look,
            }
        })
        .collect()
}

/// The bands: one per (address, name) of a descendant's inherited mapping, spanning every
/// member's mapping there; the root's own pages in that range as its row.
fn bands<'a>(report: &'a FamilyReport, pictures: &FamilyPictures) -> Vec<Band<'a>> {
    let mut keyed: BTreeMap<(u64, &str), Band> = BTreeMap::new();
    for m in report.processes.iter().filter(|m| m.depth > 0) {
        for (f, runs) in m.mappings.iter().filter(|f| f.inherited).filter_map(|f| {
            let runs = pictures.runs.get(&(m.pid, f.start))?;
            (!runs.is_empty()).then_some((f, runs))
        }) {
            let band = keyed.entry((f.start, &f.name)).or_insert_with(|| Band {
                name: &f.name,
                start: f.start,
                end: f.end,
                rows: Vec::new(),
                pids: Vec::new(),
            });
            band.end = band.end.max(f.end);
            band.rows.push((m, runs.clone()));
        }
    }
    let root = report.processes.iter().find(|m| m.depth == 0);
    let mut out: Vec<Band> = keyed.into_values().collect();
    for b in &mut out {
        if let Some(r) = root {
            b.rows.insert(0, (r, clip(&pictures.own, b.start, b.end)));
        }
        b.pids = b.rows.iter().map(|(m, _)| vec![m.pid]).collect();
        merge_identical_children(b);
    }
    out
}

/// The band's spans: cut wherever some row's look changes.
fn spans_of(band: &Band) -> Vec<Span> {
    let mut cuts = vec![band.start, band.end];
    for (_, runs) in &band.rows {
        for r in runs {
            cuts.push(r.start);
            cuts.push(r.end());
        }
    }
    cuts.sort_unstable();
    cuts.dedup();
    let mut at = vec![0usize; band.rows.len()];
    let mut out: Vec<Span> = Vec::new();
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        let looks: Vec<Option<PageLook>> = band
            .rows
            .iter()
            .zip(&mut at)
            .map(|((_, runs), i)| {
                while *i < runs.len() && runs[*i].end() <= a {
                    *i += 1;
                }
                runs.get(*i).filter(|r| r.start <= a).map(|r| r.look)
            })
            .collect();
        let pages = (b - a) / PAGE_SIZE;
        match out.last_mut() {
            Some(last) if last.looks == looks => last.pages += pages,
            _ => out.push(Span {
                start: a,
                pages,
                looks,
            }),
        }
    }
    out
}

/// The tie group of each row: a row whose page is (or looks) its parent's frame joins its
/// parent's group; groups of one row are no tie.
fn ties(band: &Band, looks: &[Option<PageLook>]) -> Vec<Option<usize>> {
    let mut group: Vec<usize> = (0..looks.len()).collect();
    for r in 0..looks.len() {
        let inherited = matches!(
            looks[r],
            Some(PageLook::Inherited(
                Inheritance::ParentsFrame | Inheritance::LooksInherited
            ))
        );
        let parent = band.rows[..r]
            .iter()
            .position(|(m, _)| m.pid == band.rows[r].0.ppid);
        if let Some(p) = parent.filter(|&p| inherited && looks[p].is_some()) {
            group[r] = group[p];
        }
    }
    (0..looks.len())
        .map(|r| (group.iter().filter(|&&g| g == group[r]).count() > 1).then_some(group[r]))
        .collect()
}

/// Draws the family: the report, and its pages as the scan saw them (`pictures`).
pub fn render_family(report: &FamilyReport, pictures: &FamilyPictures) -> String {
    let root = report.processes.iter().find(|m| m.depth == 0);
    let (mut body, mut y, mut width) = heading(
        "solab family: pages inherited through fork",
        &format!(
            "family of pid {} ({}), {} process(es); shared with their parent: {} KiB",
            report.root,
            root.map_or("", |m| m.comm.as_str()),
            report.processes.len(),
            report.totals.shared() / 1024
        ),
        report.privileged,
        report.privilege_note.as_deref(),
        "Words come from pagemap bit 56: cells tied across rows are looks-inherited \
         (bit 56 clear in child and parent), not a compared frame.",
    );
    let mut used: Vec<(&'static str, String)> = Vec::new();
    let all = bands(report, pictures);
    for band in &all {
        let (g, h, w) = draw_band(band, y, &mut used);
        body = body.add(g);
        y += h + 16.0;
        width = width.max(w);
    }
    if all.is_empty() {
        y += 14.0;
        body = body.add(text(
            MARGIN,
            y,
            12.0,
            "no descendant holds anonymous pages in an inherited mapping",
        ));
        y += 10.0;
    }
    let entries: Vec<(&str, &str)> = used.iter().map(|(f, l)| (*f, l.as_str())).collect();
    let tie_fill = fill(
        Some(PageLook::Inherited(if report.weak {
            Inheritance::LooksInherited
        } else {
            Inheritance::ParentsFrame
        })),
        true,
    )
    .0;
    let (legend, h) = draw_legend(
        &entries,
        y,
        1,
        (tie_fill, if report.weak { WEAK_TIE_TEXT } else { TIE_TEXT }),
    );
    body = body.add(legend);
    y += h + MARGIN;
    super::document(body, width, y)
}

/// One band at height `top`; returns it, its height and its width.
fn draw_band(band: &Band, top: f64, used: &mut Vec<(&'static str, String)>) -> (Group, f64, f64) {
    let spans = spans_of(band);
    let cols = Columns::of(&spans);
    let geo = Geometry::for_columns(cols.total);
    let nrows = band.rows.len();
    let mut g = Group::new().set("class", "mapping");
    let mut y = top + 14.0;
    let head = format!("{} {}..{}", band.name, hex(band.start), hex(band.end));
    g = g.add(text(MARGIN, y, 14.0, &head).set("font-weight", "bold"));
    y += 16.0;
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for s in &spans {
        for l in s.looks.iter().skip(1).flatten() {
            *counts.entry(word(Some(*l))).or_default() += s.pages;
        }
    }
    let facts = format!(
        "{} pages ({} KiB); the descendants' pages: {}",
        (band.end - band.start) / PAGE_SIZE,
        (band.end - band.start) / 1024,
        counts
            .iter()
            .map(|(w, n)| format!("{w} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    g = g.add(text(MARGIN, y, 11.0, &facts).set("fill", "#495057"));
    let mut width = MARGIN + text_width(&facts, 11.0) + MARGIN;
    y += 10.0;

    let one_each: Vec<Run> = (0..spans.len())
        .map(|first| Run { first, count: 1 })
        .collect();
    for line in 0..cols.total.div_ceil(geo.cols) {
        let from = line * geo.cols;
        let to = (from + geo.cols).min(cols.total);
        let xof = |c: usize| px(LABEL_X + (c - from) as f64 * geo.cell);
        let line_pieces = pieces(&spans, &cols, &one_each, from, to);
        let Some(first) = line_pieces.first() else {
            continue;
        };
        y += 6.0;
        g = g.add(line_label(&format!("address {}", hex(first.start)), y));
        y += 16.0;
        let row_y = |r: usize| px(y + r as f64 * (geo.row + ROW_GAP));
        for (r, (m, _)) in band.rows.iter().enumerate() {
            let role = if m.depth == 0 { "parent" } else { "pid" };
            let label = |name: String| {
                let name: String = name.chars().take(30).collect();
                text(MARGIN, row_y(r) + geo.row * 0.75, 11.0, &name)
            };
            let pids = &band.pids[r];
            if pids.len() > 1 {
                let all: Vec<String> = pids.iter().map(i32::to_string).collect();
                let tip = format!(
                    "{} children of pid {} drawn as one row: each page of this mapping looks \
                     the same in each; pids {}",
                    pids.len(),
                    m.ppid,
                    pid_list(pids)
                );
                g = g.add(
                    Group::new()
                        .set("class", "rows")
                        .set("data-pids", all.join(" "))
                        .add(title(&tip))
                        .add(label(format!(
                            "{} processes: pids {}",
                            pids.len(),
                            pid_list(pids)
                        ))),
                );
            } else {
                g = g.add(label(
                    format!("{role} {} {}", m.pid, m.comm)
                        .chars()
                        .take(28)
                        .collect(),
                ));
            }
        }
        let inset = geo.inset();
        for pc in &line_pieces {
            let span = &spans[pc.first];
            let x = px(xof(pc.c0) + inset);
            let w = px(((pc.c1 - pc.c0) as f64 * geo.cell - 2.0 * inset).max(0.5));
            let col = page_column(band, span, pc, (x, w), &geo, y, used);
            g = g.add(col);
            if let Some(label) = count_label(pc, &geo, x, row_y(nrows) - ROW_GAP) {
                g = g.add(label);
            }
        }
        y = row_y(nrows) - ROW_GAP + 12.0;
        width = width.max(xof(to) + MARGIN);
    }
    (g, y - top, width)
}

/// One column of a band: piece `pc` of `span`, `x` and `w` across, its rows from
/// `rows_top`: the tie bars behind, then a cell per process with what became of its page.
fn page_column(
    band: &Band,
    span: &Span,
    pc: &Piece,
    (x, w): (f64, f64),
    geo: &Geometry,
    rows_top: f64,
    used: &mut Vec<(&'static str, String)>,
) -> Group {
    let nprocs: usize = band.pids.iter().map(Vec::len).sum();
    let row_y = |r: usize| px(rows_top + r as f64 * (geo.row + ROW_GAP));
    let range = if pc.pages == 1 {
        format!("page at {}", hex(pc.start))
    } else {
        format!(
            "{} pages at {}..{}",
            pc.pages,
            hex(pc.start),
            hex(pc.end - 1)
        )
    };
    let tie = ties(band, &span.looks);
    let mut col = Group::new()
        .set("class", "page")
        .set("data-address", hex(pc.start))
        .set("data-pages", pc.pages);
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (r, t) in tie.iter().enumerate() {
        if let Some(t) = t {
            groups.entry(*t).or_default().push(r);
        }
    }
    let k = groups.len().max(1) as f64;
    for (j, rows) in groups.values().enumerate() {
        let (a, b) = (rows[0], rows[rows.len() - 1]);
        let what = if report_weak(&span.looks) {
            "looks like one frame (weak: pagemap bit 56 clear, no frame numbers)"
        } else {
            "one frame, the parent's"
        };
        col = col.add(tie_bar(
            (px(x + j as f64 * w / k), px(w / k)),
            (row_y(a), px(row_y(b) + geo.row - row_y(a))),
            fill(span.looks[a], true).0,
            (pc.pages, band.procs_in(rows)),
            &format!(
                "{range}: {what} in {} of the {nprocs} processes",
                band.procs_in(rows)
            ),
        ));
    }
    for (r, ((m, _), look)) in band.rows.iter().zip(&span.looks).enumerate() {
        let (f, legend) = fill(*look, tie[r].is_some());
        if !used.iter().any(|(uf, ul)| *uf == f && *ul == legend) {
            used.push((f, legend.clone()));
        }
        let shared = match tie[r].and_then(|t| groups.get(&t)) {
            Some(rows) => format!(
                ", one frame with {} other process(es)",
                band.procs_in(rows) - 1
            ),
            None => String::new(),
        };
        let count = band.pids[r].len();
        let identical = if count > 1 {
            format!(" and {} identical process(es)", count - 1)
        } else {
            String::new()
        };
        let outline = if look.is_none() {
            Outline::Solid
        } else {
            Outline::None
        };
        let mut c = cell(
            Across::One(x, w),
            (row_y(r), geo.row),
            f,
            m.pid,
            pc.pages,
            outline,
        );
        c.assign("data-word", word(*look));
        c.assign("data-tied", if tie[r].is_some() { 1 } else { 0 });
        if count > 1 {
            c.assign("data-count", count);
        }
        c.append(title(&format!(
            "pid {} ({}){identical}, {range}: {legend}{shared}",
            m.pid, m.comm
        )));
        col = col.add(c);
    }
    col
}

/// Whether the ties of a column are weak: the children's words are looks-inherited.
fn report_weak(looks: &[Option<PageLook>]) -> bool {
    looks.contains(&Some(PageLook::Inherited(Inheritance::LooksInherited)))
}
