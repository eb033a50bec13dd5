//! Page-map pictures: what `solab inspect --svg FILE` draws. Pure: it reads an
//! [`InspectReport`] (the same scan `--json` prints) and returns an SVG document.
//!
//! One band per object, one row per process, one cell per page. A line of the band holds
//! up to 256 pages; longer objects wrap onto further lines. Cells are coloured by the
//! page's state in that process; the processes that map one frame are tied by one bar of
//! the same colour behind their cells, spanning their rows, so a page shared by every
//! process reads as one solid column. An entry of the report that stands for several
//! untouched pages is that many pages wide. Objects of more than [`PER_PAGE_LIMIT`] pages
//! merge runs of identical columns into one wider cell whose tooltip gives the count.
//!
//! The picture grows as pages × processes, not faster: a tooltip counts the processes of a
//! tie instead of naming them, and a page's facts (offset, verdict) sit once on its column
//! (`<g class="page">`), not on every cell.
//!
//! The XML is built by the `svg` crate, which escapes text content. Every string that
//! comes from outside the program (paths, section names, process names) goes into text
//! content only, never into an attribute, since the crate does not escape quotes there.

use crate::elf::SegmentKind;
use crate::inspect_report::{InspectReport, ObjectReport, PageInProcess, PageReport};
use crate::sharing::{PageState, Verdict};
use ::svg::Document;
use ::svg::Node;
use ::svg::node::element::{Element, Group, Line, Rectangle, Title};
use std::collections::BTreeMap;

mod family;
pub use family::render_family;

/// Above this many pages, runs of identical columns are drawn as one cell with a count.
pub const PER_PAGE_LIMIT: usize = 640;

const FONT: &str = "DejaVu Sans, Verdana, Arial, sans-serif";
const LABEL_WIDTH: f64 = 190.0;
const MARGIN: f64 = 16.0;
const GRID_WIDTH: f64 = 960.0;
const ROW_GAP: f64 = 5.0;

/// How one page looks in one process: its state, and whether its frame is the same as
/// in at least one other process of the picture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Look {
    state: PageState,
    /// Index of the group of processes that map one frame for this page.
    tie: Option<usize>,
}

/// The colour and legend text of a look. Tied and untied pages of one state are one
/// colour family: saturated when the frame is shared with another process here, pale when
/// not.
fn style(look: Look) -> (&'static str, &'static str) {
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

/// Keeps text valid XML 1.0: control characters other than tab and newline become U+FFFD.
/// (Escaping of `<`, `&` and `>` is the `svg` crate's.)
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| {
            if (c as u32) < 0x20 && c != '\t' && c != '\n' {
                '\u{fffd}'
            } else {
                c
            }
        })
        .collect()
}

fn title(s: &str) -> Title {
    Title::new(clean(s))
}

/// A `<text>` element. (The crate's own `Text` element writes its content between
/// newlines; this keeps the content exactly as given.)
struct Label(Element);

impl Label {
    fn set(mut self, name: &str, value: impl Into<::svg::node::Value>) -> Label {
        self.0.assign(name, value);
        self
    }
}

impl From<Label> for Box<dyn Node> {
    fn from(label: Label) -> Box<dyn Node> {
        Box::new(label.0)
    }
}

fn text(x: f64, y: f64, size: f64, s: &str) -> Label {
    let mut e = Element::new("text");
    e.append(::svg::node::Text::new(clean(s)));
    Label(e).set("x", x).set("y", y).set("font-size", size)
}

/// A rough width of `s` at font size `size`, to decide whether a label fits.
fn text_width(s: &str, size: f64) -> f64 {
    s.chars().count() as f64 * size * 0.6
}

/// Splits `s` into lines of at most about `width` characters, at spaces.
fn wrap(s: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in s.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

fn hex(v: u64) -> String {
    format!("{v:#x}")
}

/// The looks of one page in every process, with the tie groups: by frame number when
/// every present copy has one, else (weak mode) every present copy when the weak verdict
/// says they share one frame.
fn looks(page: &PageReport) -> Vec<Look> {
    let present: Vec<&PageInProcess> = page.procs.iter().filter(|p| p.present).collect();
    let mut tie_of_pid: BTreeMap<i32, usize> = BTreeMap::new();
    if !present.is_empty() && present.iter().all(|p| p.pfn.is_some()) {
        let mut groups: Vec<(crate::Pfn, Vec<i32>)> = Vec::new();
        for p in &present {
            let pfn = p.pfn.unwrap_or_default();
            match groups.iter_mut().find(|g| g.0 == pfn) {
                Some(g) => g.1.push(p.pid),
                None => groups.push((pfn, vec![p.pid])),
            }
        }
        for (i, (_, pids)) in groups.iter().filter(|g| g.1.len() > 1).enumerate() {
            for pid in pids {
                tie_of_pid.insert(*pid, i);
            }
        }
    } else if page.verdict == Verdict::LooksShared {
        for p in &present {
            tie_of_pid.insert(p.pid, 0);
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

/// Where cells go: columns per line, cell width and row height.
struct Geometry {
    cols: usize,
    cell: f64,
    row: f64,
    merge: bool,
}

impl Geometry {
    /// For `n` page columns.
    fn for_columns(n: usize) -> Geometry {
        let n = n.max(1);
        let per_line = if n <= PER_PAGE_LIMIT {
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
    fn inset(&self) -> f64 {
        if self.cell >= 8.0 { 1.0 } else { 0.0 }
    }
}

/// The widest a report entry standing for several pages is drawn: one line of the widest
/// geometry. A multi-gigabyte untouched `.bss` is one entry; drawn page by page it would
/// be thousands of lines saying nothing. Its cells say the true count.
const MAX_ENTRY_COLUMNS: usize = 256;

/// The grid columns of each report entry: an entry is as many columns wide as the pages it
/// stands for ([`PageReport::pages`]), up to [`MAX_ENTRY_COLUMNS`].
struct Columns {
    start: Vec<usize>,
    width: Vec<usize>,
    total: usize,
}

/// A report entry drawn as columns: where it starts and how many pages it stands for.
trait Entry {
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
    fn of<E: Entry>(pages: &[E]) -> Columns {
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
    fn end(&self, i: usize) -> usize {
        self.start[i] + self.width[i]
    }
    /// The entry drawn at column `c`.
    fn entry_at(&self, c: usize) -> usize {
        self.start.partition_point(|&s| s <= c).saturating_sub(1)
    }
}

/// Consecutive entries drawn alike (one entry unless merging): one tooltip, one tie bar per
/// tie group.
struct Run {
    first: usize,
    count: usize,
}

/// Splits the entries into runs of identical columns (or single entries).
fn runs(pages: &[PageReport], looks: &[Vec<Look>], merge: bool) -> Vec<Run> {
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
struct Piece {
    /// The run's first entry (every entry of a run looks the same).
    first: usize,
    c0: usize,
    c1: usize,
    /// Pages it stands for: its columns, plus what a clipped entry ending here leaves out.
    pages: u64,
    /// Offsets from the load base, `start..end`.
    start: u64,
    end: u64,
}

fn piece<E: Entry>(pages: &[E], cols: &Columns, first: usize, c0: usize, c1: usize) -> Piece {
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
fn pieces<E: Entry>(
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
fn spans<K: PartialEq>(n: usize, key: impl Fn(usize) -> K) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for i in 0..n {
        match out.last_mut() {
            Some((s, e)) if key(*s) == key(i) => *e = i + 1,
            _ => out.push((i, i + 1)),
        }
    }
    out
}

fn range_text(pages: u64, start: u64, end: u64) -> String {
    if pages == 1 {
        format!("page at offset {}", hex(start))
    } else {
        format!("{pages} pages, offsets {}..{}", hex(start), hex(end - 1))
    }
}

fn sections_text(pages: &[PageReport], first: usize, count: usize) -> String {
    let mut names: Vec<&str> = Vec::new();
    for p in &pages[first..first + count] {
        for s in &p.sections {
            if !names.contains(&s.as_str()) {
                names.push(s);
            }
        }
    }
    if names.is_empty() {
        "(no section)".into()
    } else {
        names.join(" ")
    }
}

fn frames_text(page: &PageReport, pages: u64, row: usize) -> String {
    let q = &page.procs[row];
    match (q.pfn, pages) {
        (None, _) if q.present => "frame number hidden (weak mode)".into(),
        (None, _) => "no frame".into(),
        (Some(pfn), 1) => {
            let mc = q
                .mapcount
                .map(|m| format!(", {m} page-table mapping(s) system-wide"))
                .unwrap_or_default();
            format!("frame {pfn}{mc}")
        }
        (Some(pfn), _) => format!("frames from {pfn} (first page)"),
    }
}

/// A coordinate rounded to 1/100 px: `0.1 * 3.0` would otherwise print 17 digits, and the
/// picture holds one coordinate pair per page per process.
fn px(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}
/// The top of a picture: its title, what it shows, and how the evidence was read (the
/// weak banner without frame numbers, explaining `weak_ties`: what a tie means then).
/// Returns the picture's body group with it, the height used and the width it needs.
fn heading(
    title: &str,
    subtitle: &str,
    privileged: bool,
    note: Option<&str>,
    weak_ties: &str,
) -> (Group, f64, f64) {
    let mut body = Group::new().set("font-family", FONT).set("fill", "#212529");
    let mut y = MARGIN;
    let mut width: f64 = 760.0;

    y += 18.0;
    body = body.add(
        text(MARGIN, y, 16.0, title)
            .set("font-weight", "bold")
            .set("class", "heading"),
    );
    y += 18.0;
    body = body.add(text(MARGIN, y, 11.0, subtitle));
    y += 8.0;
    if privileged {
        y += 12.0;
        body = body.add(
            text(
                MARGIN,
                y,
                11.0,
                "frames compared by number (CAP_SYS_ADMIN: pagemap PFNs, /proc/kpagecount)",
            )
            .set("fill", "#495057"),
        );
    } else {
        let note = note.unwrap_or("frame numbers are hidden");
        let mut lines = vec!["WEAK MODE: no frame numbers (not CAP_SYS_ADMIN).".to_string()];
        lines.extend(wrap(&format!("{weak_ties} Note: {note}"), 120));
        let h = 10.0 + lines.len() as f64 * 15.0;
        let longest = lines
            .iter()
            .map(|l| text_width(l, 11.0))
            .fold(0.0, f64::max);
        width = width.max(longest + 2.0 * MARGIN + 20.0);
        body = body.add(
            Rectangle::new()
                .set("x", MARGIN)
                .set("y", y + 4.0)
                .set("width", width - 2.0 * MARGIN)
                .set("height", h)
                .set("fill", "#fff3cd")
                .set("stroke", "#d39e00")
                .set("class", "weak-banner"),
        );
        for (i, line) in lines.iter().enumerate() {
            let mut label =
                text(MARGIN + 8.0, y + 19.0 + i as f64 * 15.0, 11.0, line).set("fill", "#856404");
            if i == 0 {
                label = label
                    .set("font-weight", "bold")
                    .set("font-size", 12.0)
                    .set("class", "weak");
            }
            body = body.add(label);
        }
        y += h + 4.0;
    }
    y += 10.0;
    (body, y, width)
}

/// The SVG document around `body`, `width` by `height`.
fn document(body: Group, width: f64, height: f64) -> String {
    let doc = Document::new()
        .set("width", width.ceil())
        .set("height", height.ceil())
        .set("viewBox", (0, 0, width.ceil(), height.ceil()))
        .add(
            Rectangle::new()
                .set("width", "100%")
                .set("height", "100%")
                .set("fill", "#ffffff"),
        )
        .add(body);
    let mut s = doc.to_string();
    s.push('\n');
    s
}

/// Draws the whole report. `pictures` of several objects stack vertically.
pub fn render(report: &InspectReport) -> String {
    let pids: Vec<String> = report
        .processes
        .iter()
        .map(|p| format!("{} ({})", p.pid, p.comm))
        .collect();
    let (mut body, mut y, mut width) = heading(
        "solab inspect: page map",
        &format!("processes: {}", pids.join(", ")),
        report.privileged,
        report.privilege_note.as_deref(),
        "States come from pagemap bits 56 and 61; cells tied across rows are \
         \"not exclusive in every process\", not a compared frame.",
    );

    let mut used: Vec<Look> = Vec::new();
    for obj in &report.objects {
        let (band, h, w) = draw_object(obj, report, y, &mut used);
        body = body.add(band);
        y += h + 16.0;
        width = width.max(w);
    }
    if report.objects.is_empty() {
        y += 14.0;
        body = body.add(text(MARGIN, y, 12.0, "no object matched"));
        y += 10.0;
    }

    let (legend, h) = draw_legend(
        &legend_entries(&used),
        y,
        2,
        (
            style(Look {
                state: PageState::File,
                tie: Some(0),
            })
            .0,
            TIE_TEXT,
        ),
    );
    body = body.add(legend);
    y += h + MARGIN;
    document(body, width, y)
}

/// One object's band at height `top`; returns it, its height and its width.
///
/// Its size is linear in pages × processes: per page run, one cell per process and one
/// tie bar per group of processes that map one frame (spanning the group's rows, behind
/// the cells), each with a tooltip that counts the processes instead of naming them.
fn draw_object(
    obj: &ObjectReport,
    report: &InspectReport,
    top: f64,
    used: &mut Vec<Look>,
) -> (Group, f64, f64) {
    let pages = &obj.pages;
    let cols = Columns::of(pages);
    let geo = Geometry::for_columns(cols.total);
    let all_looks: Vec<Vec<Look>> = pages.iter().map(looks).collect();
    let nrows = obj.procs.len();
    let mut g = Group::new().set("class", "object");
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
        nrows
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
    g = g.add(text(MARGIN, y, 11.0, &facts).set("fill", "#495057"));
    let mut width = MARGIN + text_width(&facts, 11.0) + MARGIN;
    if geo.merge {
        y += 14.0;
        g = g.add(
            text(
                MARGIN,
                y,
                11.0,
                "large object: runs of identical pages are drawn as one cell; its tooltip gives the count",
            )
            .set("fill", "#495057"),
        );
    }
    y += 10.0;

    let row_names: Vec<String> = obj
        .procs
        .iter()
        .map(|p| {
            let comm = report
                .processes
                .iter()
                .find(|q| q.pid == p.pid)
                .map(|q| q.comm.as_str())
                .unwrap_or("");
            let mut name = format!("pid {} {comm}", p.pid);
            if p.deleted {
                name.push_str(" (deleted)");
            }
            name.chars().take(28).collect()
        })
        .collect();

    let x0 = MARGIN + LABEL_WIDTH;
    let label_rows = if geo.cell >= 12.0 { 2 } else { 1 };
    let all_runs = runs(pages, &all_looks, geo.merge);
    let lines = cols.total.div_ceil(geo.cols);
    for line in 0..lines {
        let from = line * geo.cols;
        let to = (from + geo.cols).min(cols.total);
        let xof = |c: usize| px(x0 + (c - from) as f64 * geo.cell);
        let line_pieces = pieces(pages, &cols, &all_runs, from, to);
        if line_pieces.is_empty() {
            continue;
        }
        y += 6.0;

        // Segment bar, with section names underneath where they fit.
        g = g.add(line_label(
            &format!("offset {}", hex(line_pieces[0].start)),
            y,
        ));
        // Names of segments too narrow for their bar go under the rows.
        let mut narrow: Vec<(f64, &str, &str)> = Vec::new();
        let seg_of = |k: usize| pages[line_pieces[k].first].segment;
        for (s, e) in spans(line_pieces.len(), seg_of) {
            let (a, b) = (&line_pieces[s], &line_pieces[e - 1]);
            let w = (b.c1 - a.c0) as f64 * geo.cell;
            let seg = seg_of(s).name();
            let n: u64 = line_pieces[s..e].iter().map(|p| p.pages).sum();
            let first = a.first;
            let last = cols.entry_at(b.c1 - 1);
            let bar = Rectangle::new()
                .set("x", px(xof(a.c0) + 0.5))
                .set("y", y)
                .set("width", px((w - 1.0).max(0.5)))
                .set("height", 13.0)
                .set("fill", segment_fill(seg_of(s)))
                .set("class", "segment")
                .add(title(&format!(
                    "segment {seg}: {}; sections {}",
                    range_text(n, a.start, b.end),
                    sections_text(pages, first, last + 1 - first)
                )));
            g = g.add(bar);
            if text_width(seg, 10.0) + 4.0 <= w {
                g = g.add(
                    text(xof(a.c0) + 3.0, y + 10.0, 10.0, seg)
                        .set("fill", "#ffffff")
                        .set("font-weight", "bold"),
                );
            } else {
                narrow.push((xof(a.c0), seg, segment_fill(seg_of(s))));
            }
        }
        y += 13.0;
        if label_rows == 2 {
            let secs_of = |k: usize| &pages[line_pieces[k].first].sections;
            for (s, e) in spans(line_pieces.len(), secs_of) {
                let (a, b) = (&line_pieces[s], &line_pieces[e - 1]);
                let w = (b.c1 - a.c0) as f64 * geo.cell;
                let full = secs_of(s).join(" ");
                let first = secs_of(s).first().cloned().unwrap_or_default();
                let label = if text_width(&full, 9.0) + 2.0 <= w {
                    full
                } else if text_width(&first, 9.0) + 2.0 <= w {
                    first
                } else {
                    continue;
                };
                g = g.add(text(xof(a.c0) + 1.0, y + 10.0, 9.0, &label).set("fill", "#495057"));
            }
            y += 13.0;
        }
        y += 3.0;

        let row_y = |r: usize| px(y + r as f64 * (geo.row + ROW_GAP));
        for (r, name) in row_names.iter().enumerate() {
            g = g.add(text(MARGIN, row_y(r) + geo.row * 0.75, 11.0, name));
        }
        let inset = geo.inset();
        for pc in &line_pieces {
            let page = &pages[pc.first];
            let look = &all_looks[pc.first];
            let x = px(xof(pc.c0) + inset);
            let w = px(((pc.c1 - pc.c0) as f64 * geo.cell - 2.0 * inset).max(0.5));
            let range = range_text(pc.pages, pc.start, pc.end);
            let secs = sections_text(pages, pc.first, cols.entry_at(pc.c1 - 1) + 1 - pc.first);
            // One column: the page's facts on the group, so that cells carry only their own.
            let mut col = Group::new()
                .set("class", "page")
                .set("data-offset", hex(pc.start))
                .set("data-pages", pc.pages)
                .set("data-verdict", page.verdict.name());
            let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
            for (r, l) in look.iter().enumerate() {
                if let Some(t) = l.tie {
                    groups.entry(t).or_default().push(r);
                }
            }
            // Tie bars first, so that cells lie on top of them: each spans its group's rows
            // and shows in the gaps between them. Several groups in one column share its
            // width side by side.
            let k = groups.len().max(1) as f64;
            for (j, rows) in groups.values().enumerate() {
                let (a, b) = (rows[0], rows[rows.len() - 1]);
                let (fill, _) = style(look[a]);
                let what = match page.procs[a].pfn {
                    Some(p) if pc.pages == 1 => format!("one frame ({p})"),
                    Some(p) => format!("one frame each (from {p})"),
                    None => "looks shared (weak: pagemap bit 56 clear, no frame numbers)".into(),
                };
                col = col.add(tie_bar(
                    (px(x + j as f64 * w / k), px(w / k)),
                    (row_y(a), px(row_y(b) + geo.row - row_y(a))),
                    fill,
                    (pc.pages, rows.len()),
                    &format!(
                        "{range}, segment {}, sections {}: {what} in {} of the {nrows} processes\nverdict {}: {}",
                        page.segment.name(),
                        secs,
                        rows.len(),
                        page.verdict.name(),
                        page.verdict.meaning(),
                    ),
                ));
            }
            for (r, (&look, q)) in look.iter().zip(&page.procs).enumerate() {
                if !used.contains(&look) {
                    used.push(look);
                }
                let (fill, _) = style(look);
                let tie = match look.tie.and_then(|t| groups.get(&t)) {
                    Some(rows) if q.pfn.is_some() => {
                        format!(", one frame with {} other process(es)", rows.len() - 1)
                    }
                    Some(rows) => format!(
                        ", looks shared (weak) with {} other process(es)",
                        rows.len() - 1
                    ),
                    None => String::new(),
                };
                // A tie bar explains the verdict of its column; a column without one says
                // it in each cell.
                let verdict = if groups.is_empty() {
                    format!("{}: {}", page.verdict.name(), page.verdict.meaning())
                } else {
                    page.verdict.name().to_string()
                };
                let tip = format!(
                    "pid {}, {range}, segment {} ({secs}): state {}{tie}; {}; verdict {verdict}",
                    q.pid,
                    page.segment.name(),
                    q.state.name(),
                    frames_text(page, pc.pages, r),
                );
                let outline = match q.state {
                    PageState::NotPresent => Outline::Solid,
                    PageState::Unmapped => Outline::Dashed,
                    _ => Outline::None,
                };
                let cell = cell((x, w), (row_y(r), geo.row), fill, q.pid, pc.pages, outline)
                    .set("data-state", q.state.name())
                    .set("data-tied", if look.tie.is_some() { 1 } else { 0 });
                col = col.add(cell.add(title(&tip)));
            }
            g = g.add(col);
            if let Some(label) = count_label(pc, &geo, x, row_y(nrows) - ROW_GAP) {
                g = g.add(label);
            }
        }
        // Segment boundaries as thin lines through the rows.
        let rows_end = row_y(nrows) - ROW_GAP;
        for (s, _) in spans(line_pieces.len(), seg_of).iter().skip(1) {
            let x = xof(line_pieces[*s].c0);
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
        y = rows_end + if geo.merge { 10.0 } else { 4.0 };
        let mut ends = [f64::MIN; 3];
        let mut footer_lines = 0;
        for (x, name, fill) in narrow {
            let Some(k) = ends.iter().position(|&end| end + 4.0 <= x) else {
                continue;
            };
            ends[k] = x + text_width(name, 10.0);
            footer_lines = footer_lines.max(k + 1);
            let ty = y + 9.0 + k as f64 * 12.0;
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
                text(x + 3.0, ty, 10.0, name)
                    .set("fill", fill)
                    .set("font-weight", "bold"),
            );
        }
        y += footer_lines as f64 * 12.0;
        width = width.max(xof(to) + MARGIN);
    }
    (g, y - top, width)
}

/// What a line of cells starts at, left of it at height `y`.
fn line_label(what: &str, y: f64) -> Label {
    text(MARGIN, y + 10.0, 10.0, what).set("fill", "#6c757d")
}

/// How a cell with no page is outlined.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outline {
    /// A page: no outline.
    None,
    /// Mapped, no page: a thin grey outline.
    Solid,
    /// Not mapped at all: dashed.
    Dashed,
}

/// One process's cell, `x` and `w` across, `y` and `h` down, standing for `pages` pages.
fn cell(
    (x, w): (f64, f64),
    (y, h): (f64, f64),
    fill: &str,
    pid: i32,
    pages: u64,
    outline: Outline,
) -> Rectangle {
    let mut cell = Rectangle::new()
        .set("x", x)
        .set("y", y)
        .set("width", w)
        .set("height", h)
        .set("fill", fill)
        .set("class", "cell")
        .set("data-pid", pid)
        .set("data-pages", pages);
    if outline != Outline::None {
        cell = cell.set("stroke", "#c8c8c8").set("stroke-width", 0.6);
        if outline == Outline::Dashed {
            cell = cell.set("stroke-dasharray", "2,2");
        }
    }
    cell
}

/// A tie bar behind the cells of `procs` processes that map one frame for `pages` pages,
/// spanning their rows (`y`, `h`), with the tooltip `tip`.
fn tie_bar(
    (x, w): (f64, f64),
    (y, h): (f64, f64),
    fill: &str,
    (pages, procs): (u64, usize),
    tip: &str,
) -> Rectangle {
    Rectangle::new()
        .set("x", x)
        .set("y", y)
        .set("width", w)
        .set("height", h)
        .set("fill", fill)
        .set("class", "tie")
        .set("data-pages", pages)
        .set("data-procs", procs)
        .add(title(tip))
}

/// The `×N` under a piece standing for more pages than it has columns (or merged), at
/// `x` under the rows ending at `rows_end`, when it fits.
fn count_label(pc: &Piece, geo: &Geometry, x: f64, rows_end: f64) -> Option<Label> {
    let drawn = (pc.c1 - pc.c0) as u64;
    if pc.pages > 1 && (geo.merge || pc.pages > drawn) {
        let label = format!("×{}", pc.pages);
        let w = drawn as f64 * geo.cell;
        if text_width(&label, 8.0) + 2.0 <= w {
            return Some(text(x + 1.0, rows_end + 9.0, 8.0, &label).set("fill", "#6c757d"));
        }
    }
    None
}

fn segment_fill(kind: SegmentKind) -> &'static str {
    match kind {
        SegmentKind::Text => "#343a40",
        SegmentKind::Rodata => "#495057",
        SegmentKind::Relro => "#6f42c1",
        SegmentKind::Data => "#b34700",
        SegmentKind::Bss => "#8a6d3b",
        SegmentKind::Shared => "#146c43",
    }
}

/// What cells tied across rows mean, in the legend of `inspect`.
const TIE_TEXT: &str = "cells joined across rows: one physical frame in those processes (hover a cell for offset, sections, state and frame)";

/// The legend entries of `inspect`: the usual looks, then the ones drawn.
fn legend_entries(used: &[Look]) -> Vec<(&'static str, &'static str)> {
    let always = [
        Look {
            state: PageState::File,
            tie: Some(0),
        },
        Look {
            state: PageState::AnonExclusive,
            tie: None,
        },
        Look {
            state: PageState::SharedWindow,
            tie: Some(0),
        },
        Look {
            state: PageState::NotPresent,
            tie: None,
        },
    ];
    let mut entries: Vec<(&str, &str)> = Vec::new();
    for l in always.iter().chain(used.iter()) {
        let key = Look {
            state: l.state,
            tie: l.tie.map(|_| 0),
        };
        let e = style(key);
        if !entries.contains(&e) {
            entries.push(e);
        }
    }
    entries
}

/// The legend at height `top`: a swatch per (fill, label) entry, `per_line` to a line,
/// then the tie in `tie_fill` and `tie_text` saying what it means.
fn draw_legend(
    entries: &[(&str, &str)],
    top: f64,
    per_line: usize,
    (tie_fill, tie_text): (&str, &str),
) -> (Group, f64) {
    let mut g = Group::new().set("class", "legend");
    let mut y = top + 12.0;
    g = g.add(text(MARGIN, y, 12.0, "Legend").set("font-weight", "bold"));
    y += 6.0;
    for (i, (fill, label)) in entries.iter().enumerate() {
        let col = (i % per_line) as f64;
        let ry = y + (i / per_line) as f64 * 18.0;
        let x = MARGIN + col * 380.0;
        g = g.add(
            Rectangle::new()
                .set("x", x)
                .set("y", ry)
                .set("width", 14)
                .set("height", 12)
                .set("fill", *fill)
                .set("stroke", "#adb5bd")
                .set("stroke-width", 0.6),
        );
        g = g.add(text(x + 20.0, ry + 10.0, 11.0, label));
    }
    y += entries.len().div_ceil(per_line) as f64 * 18.0 + 6.0;
    // The tie: two cells and the bridge between them.
    for (dy, h) in [(0.0, 8.0), (8.0, 4.0), (12.0, 8.0)] {
        g = g.add(
            Rectangle::new()
                .set("x", MARGIN + 2.0)
                .set("y", y + dy)
                .set("width", 10)
                .set("height", h)
                .set("fill", tie_fill),
        );
    }
    g = g.add(text(MARGIN + 20.0, y + 14.0, 11.0, tie_text));
    y += 24.0;
    (g, y - top)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::LoaderAction;
    use crate::inspect_report::{ObjectInProcess, ProcessInfo};

    /// A synthetic report: `n` pages in three processes; text shared but every 7th page
    /// untouched in one process (a worst case for merging: runs of at most 6 pages), then
    /// private data and zero-page .bss.
    fn report(n: usize, privileged: bool) -> InspectReport {
        report_of(n, 3, privileged)
    }

    /// The same with `nprocs` processes; the second one leaves every 7th text page
    /// untouched.
    fn report_of(n: usize, nprocs: i32, privileged: bool) -> InspectReport {
        let pids: Vec<i32> = (101..101 + nprocs).collect();
        let pages = (0..n)
            .map(|i| {
                let segment = match i * 6 / n.max(1) {
                    0..=2 => SegmentKind::Text,
                    3 => SegmentKind::Rodata,
                    4 => SegmentKind::Data,
                    _ => SegmentKind::Bss,
                };
                let procs = pids
                    .iter()
                    .enumerate()
                    .map(|(k, &pid)| {
                        let (state, pfn) = match (segment, i % 7) {
                            (SegmentKind::Text | SegmentKind::Rodata, 6) if k == 1 => {
                                (PageState::NotPresent, None)
                            }
                            (SegmentKind::Text | SegmentKind::Rodata, _) => {
                                (PageState::File, Some(1000 + i as u64))
                            }
                            (SegmentKind::Data, _) => {
                                (PageState::AnonExclusive, Some(50_000 + (i * 3 + k) as u64))
                            }
                            _ => (PageState::ZeroPage, Some(7)),
                        };
                        PageInProcess {
                            pid,
                            vaddr: crate::VirtAddr(
                                0x7f00_0000_0000 + ((k as u64) << 32) + ((i as u64) << 12),
                            ),
                            state,
                            present: state.is_present(),
                            pfn: pfn.filter(|_| privileged).map(crate::Pfn),
                            mapcount: None,
                            exclusive: state == PageState::AnonExclusive,
                            file: state == PageState::File,
                            flags: Vec::new(),
                        }
                    })
                    .collect::<Vec<_>>();
                let evidence: Vec<crate::sharing::ProcessPage> = procs
                    .iter()
                    .map(|p| crate::sharing::ProcessPage {
                        state: p.state,
                        pfn: p.pfn,
                        exclusive: p.exclusive,
                    })
                    .collect();
                PageReport {
                    offset: i as u64 * crate::PAGE_SIZE,
                    pages: 1,
                    segment,
                    sections: vec![format!(".{}", segment.name())],
                    loader: LoaderAction::MapReadOnly,
                    relocations: 0,
                    verdict: crate::sharing::verdict(&evidence),
                    procs,
                }
            })
            .collect();
        InspectReport {
            schema: crate::inspect_report::INSPECT_SCHEMA.into(),
            evidence: if privileged {
                crate::kernel::Evidence::Frames
            } else {
                crate::kernel::Evidence::Bits
            },
            kernel: crate::kernel::config::KernelFacts {
                release: "test".into(),
                mapcount: crate::kernel::config::Mapcount::PerPage,
                source: None,
            },
            privileged,
            privilege_note: (!privileged).then(|| "not privileged".into()),
            pids: pids.clone(),
            processes: pids
                .iter()
                .map(|&pid| ProcessInfo {
                    pid,
                    comm: "host".into(),
                    uid: Some(0),
                    ppid: None,
                })
                .collect(),
            errors: Vec::new(),
            skipped: Vec::new(),
            objects: vec![ObjectReport {
                path: "/lib/big <&> \"quoted\".so".into(),
                kind: crate::inspect_report::ObjectKind::Elf,
                dev: None,
                inode: None,
                build_id: None,
                soname: None,
                textrel: false,
                bind_now: false,
                has_shared_section: false,
                weak: !privileged,
                summary: Vec::new(),
                procs: pids
                    .iter()
                    .map(|&pid| ObjectInProcess {
                        pid,
                        path: String::new(),
                        deleted: false,
                        load_base: crate::VirtAddr(0),
                        load_bias: 0,
                        mappings: Vec::new(),
                    })
                    .collect(),
                pages,
            }],
        }
    }

    /// Parses the picture and returns (pages drawn per pid, height).
    fn drawn(picture: &str) -> (BTreeMap<i32, u64>, f64) {
        let doc = roxmltree::Document::parse(picture).expect("XML");
        let mut per_pid: BTreeMap<i32, u64> = BTreeMap::new();
        for c in doc
            .descendants()
            .filter(|n| n.attribute("class") == Some("cell"))
        {
            let pid: i32 = c
                .attribute("data-pid")
                .and_then(|p| p.parse().ok())
                .expect("pid");
            let n: u64 = c
                .attribute("data-pages")
                .and_then(|p| p.parse().ok())
                .expect("pages");
            *per_pid.entry(pid).or_default() += n;
        }
        let height = doc
            .root_element()
            .attribute("height")
            .and_then(|h| h.parse().ok())
            .expect("height");
        (per_pid, height)
    }

    #[test]
    fn every_size_from_one_page_to_ten_thousand() {
        for (n, max_bytes, max_height) in [
            (1, 20_000, 600.0),
            (95, 250_000, 800.0),
            (640, 1_500_000, 2_000.0),
            (641, 1_500_000, 2_000.0),
            (10_000, 4_000_000, 3_500.0),
        ] {
            for privileged in [true, false] {
                let picture = render(&report(n, privileged));
                let (per_pid, height) = drawn(&picture);
                assert_eq!(
                    per_pid.values().copied().collect::<Vec<_>>(),
                    vec![n as u64; 3],
                    "{n} pages: every page drawn once per process"
                );
                assert!(
                    picture.len() <= max_bytes,
                    "{n} pages: {} bytes",
                    picture.len()
                );
                assert!(height <= max_height, "{n} pages: {height} px high");
                assert_eq!(picture.contains("WEAK MODE"), !privileged);
                assert!(picture.contains("big &lt;&amp;&gt; \"quoted\".so"));
            }
        }
    }

    /// A column without a tie bar (private data, a page in one process) explains its
    /// verdict in each cell's tooltip, with the word's one meaning from sharing.rs; a
    /// column with one explains it on the bar.
    #[test]
    fn every_column_says_what_its_verdict_means() {
        for privileged in [true, false] {
            let picture = render(&report(95, privileged));
            let doc = roxmltree::Document::parse(&picture).expect("XML");
            let mut untied = 0;
            for col in doc
                .descendants()
                .filter(|n| n.attribute("class") == Some("page"))
            {
                let word = col.attribute("data-verdict").expect("data-verdict");
                let verdict = Verdict::ALL
                    .into_iter()
                    .find(|v| v.name() == word)
                    .expect("a verdict word");
                let explained = format!("verdict {word}: {}", verdict.meaning());
                let tip = |n: roxmltree::Node| {
                    n.children()
                        .find(|t| t.has_tag_name("title"))
                        .and_then(|t| t.text())
                        .unwrap_or_default()
                        .to_string()
                };
                let bars: Vec<_> = col
                    .children()
                    .filter(|n| n.attribute("class") == Some("tie"))
                    .collect();
                if bars.is_empty() {
                    untied += 1;
                    for cell in col
                        .children()
                        .filter(|n| n.attribute("class") == Some("cell"))
                    {
                        assert!(tip(cell).ends_with(&explained), "{}", tip(cell));
                    }
                } else {
                    for bar in bars {
                        assert!(tip(bar).ends_with(&explained), "{}", tip(bar));
                    }
                }
            }
            assert!(
                untied > 0,
                "no untied column to check (privileged {privileged})"
            );
        }
    }

    /// The size is linear in pages × processes (a bridge per process pair, each naming
    /// every pid, would make 200 processes of one library over a hundred megabytes).
    /// libsolib.so is 98 report entries. Times are printed (`--nocapture`), not asserted.
    #[test]
    fn two_hundred_processes_of_one_library_stay_under_ten_megabytes() {
        let mut per_cell: Vec<f64> = Vec::new();
        for nprocs in [25, 100, 200] {
            for privileged in [true, false] {
                let r = report_of(98, nprocs, privileged);
                let t = std::time::Instant::now();
                let picture = render(&r);
                let took = t.elapsed();
                let (per_pid, _) = drawn(&picture);
                assert_eq!(per_pid.len(), nprocs as usize);
                assert!(per_pid.values().all(|&n| n == 98));
                let doc = roxmltree::Document::parse(&picture).expect("XML");
                // Weak: one tie group per shared column; privileged: one per frame.
                let tie_procs: u64 = doc
                    .descendants()
                    .filter(|n| n.attribute("class") == Some("tie"))
                    .map(|n| {
                        n.attribute("data-procs")
                            .and_then(|v| v.parse::<u64>().ok())
                            .expect("data-procs")
                    })
                    .sum();
                let tied_cells = doc
                    .descendants()
                    .filter(|n| n.attribute("data-tied") == Some("1"))
                    .count() as u64;
                assert_eq!(tie_procs, tied_cells, "every tied cell in one tie bar");
                eprintln!(
                    "svg: 98 pages x {nprocs} processes (privileged {privileged}): {} bytes in {:.1} ms",
                    picture.len(),
                    took.as_secs_f64() * 1e3
                );
                if nprocs == 200 {
                    assert!(
                        picture.len() < 10_000_000,
                        "200 processes: {} bytes",
                        picture.len()
                    );
                }
                per_cell.push(picture.len() as f64 / (98.0 * nprocs as f64));
            }
        }
        // Linear: bytes per cell do not grow with the number of processes.
        let (lo, hi) = per_cell
            .iter()
            .fold((f64::MAX, 0.0f64), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        assert!(hi < lo * 1.5, "bytes per cell from {lo:.0} to {hi:.0}");
    }

    /// An entry standing for several pages present nowhere is that many pages wide, up to
    /// one widest line; its cells and tooltip give the true count and range.
    #[test]
    fn merged_entries_are_as_wide_as_their_pages() {
        for (merged, drawn_cols) in [(5u64, 5usize), (1_000_000, MAX_ENTRY_COLUMNS)] {
            let mut r = report(20, true);
            let pages = &mut r.objects[0].pages;
            // Entry 10 stands for `merged` untouched pages; the ones after move along.
            for q in &mut pages[10].procs {
                q.state = PageState::NotPresent;
                q.present = false;
                q.pfn = None;
            }
            pages[10].pages = merged;
            pages[10].verdict = Verdict::NotPresent;
            for p in &mut pages[11..] {
                p.offset += (merged - 1) * crate::PAGE_SIZE;
            }
            let picture = render(&r);
            let (per_pid, _) = drawn(&picture);
            assert_eq!(
                per_pid.values().copied().collect::<Vec<_>>(),
                vec![19 + merged; 3]
            );
            let doc = roxmltree::Document::parse(&picture).expect("XML");
            let cells: Vec<_> = doc
                .descendants()
                .filter(|n| {
                    n.attribute("class") == Some("cell") && n.attribute("data-pid") == Some("101")
                })
                .collect();
            let geo = Geometry::for_columns(19 + drawn_cols);
            let one: f64 = cells[0]
                .attribute("width")
                .and_then(|w| w.parse().ok())
                .expect("width");
            // The merged entry's cells, maybe over several lines, cover its columns.
            let wide: Vec<_> = cells
                .iter()
                .filter(|c| {
                    c.children().any(|t| {
                        t.text().is_some_and(|t| {
                            t.contains("not-present") && t.contains("pages, offsets")
                        })
                    })
                })
                .collect();
            let pages_drawn: u64 = wide
                .iter()
                .map(|c| {
                    c.attribute("data-pages")
                        .and_then(|p| p.parse::<u64>().ok())
                        .expect("pages")
                })
                .sum();
            assert_eq!(pages_drawn, merged, "{merged}");
            let width: f64 = wide
                .iter()
                .map(|c| {
                    c.attribute("width")
                        .and_then(|w| w.parse::<f64>().ok())
                        .expect("width")
                })
                .sum();
            let expected = drawn_cols as f64 * geo.cell - 2.0 * geo.inset() * wide.len() as f64;
            assert!(
                (width - expected).abs() < 0.1 * wide.len() as f64,
                "{merged} pages drawn {width} px wide, not {expected} (one page {one})"
            );
            let first = hex(10 * crate::PAGE_SIZE);
            assert!(wide.iter().any(|c| c.children().any(|t| {
                t.text()
                    .is_some_and(|t| t.contains(&format!("offsets {first}..")))
            })));
            if merged > drawn_cols as u64 {
                // The last piece of the clipped entry counts what its columns leave out.
                let labelled = doc
                    .descendants()
                    .filter_map(|n| n.text()?.strip_prefix('×')?.parse::<u64>().ok())
                    .max();
                assert!(labelled > Some(drawn_cols as u64), "{labelled:?}");
            }
        }
    }

    #[test]
    fn control_characters_do_not_break_the_xml() {
        let mut r = report(3, true);
        r.objects[0].path = "/tmp/a\u{1}b\u{1b}[31m.so".into();
        let picture = render(&r);
        roxmltree::Document::parse(&picture).expect("XML");
        assert!(picture.contains("a\u{fffd}b\u{fffd}[31m.so"));
    }

    #[test]
    fn wrap_keeps_words() {
        assert_eq!(wrap("aa bb cc", 5), vec!["aa bb", "cc"]);
        assert_eq!(wrap("", 5), Vec::<String>::new());
    }
}
