//! Page-map pictures: what `solab inspect --svg FILE` draws. Pure: it reads an
//! [`InspectReport`] (the same scan `--json` prints) and returns an SVG document.
//!
//! One band per object, one row per process, one cell per page. A line of the band holds
//! up to 256 pages; longer objects wrap onto further lines. Cells are coloured by the
//! page's state in that process; cells of processes that map one frame are tied by a
//! bridge of the same colour across the gap between their rows, so a page shared by every
//! process reads as one solid column. Objects of more than [`PER_PAGE_LIMIT`] pages merge
//! runs of identical columns into one wider cell whose tooltip gives the count.
//!
//! The XML is built by the `svg` crate, which escapes text content. Every string that
//! comes from outside the program (paths, section names, process names) goes into text
//! content only, never into an attribute, since the crate does not escape quotes there.

use crate::elf::SegmentKind;
use crate::report::{InspectReport, ObjectReport, PageInProcess, PageReport};
use crate::sharing::{PageState, Verdict};
use ::svg::Document;
use ::svg::Node;
use ::svg::node::element::{Element, Group, Line, Rectangle, Title};
use std::collections::BTreeMap;

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

fn describe_state(state: PageState) -> &'static str {
    state.meaning()
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

/// Consecutive pages of one line drawn as one column (one page unless merging).
struct Run {
    first: usize,
    count: usize,
}

/// Where cells go: columns per line, cell width and row height.
struct Geometry {
    cols: usize,
    cell: f64,
    row: f64,
    merge: bool,
}

impl Geometry {
    fn for_pages(n: usize) -> Geometry {
        let n = n.max(1);
        let per_line = if n <= PER_PAGE_LIMIT {
            64
        } else if n <= 2560 {
            128
        } else {
            256
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

/// Splits the pages of one line into runs of identical columns (or single pages).
fn runs(
    pages: &[PageReport],
    looks: &[Vec<Look>],
    from: usize,
    to: usize,
    merge: bool,
) -> Vec<Run> {
    let mut out: Vec<Run> = Vec::new();
    for i in from..to {
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

/// Consecutive runs of pages in `from..to` with the same key.
fn spans<K: PartialEq>(from: usize, to: usize, key: impl Fn(usize) -> K) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for i in from..to {
        match out.last_mut() {
            Some((s, e)) if key(*s) == key(i) => *e = i + 1,
            _ => out.push((i, i + 1)),
        }
    }
    out
}

fn range_text(pages: &[PageReport], first: usize, count: usize) -> String {
    let start = pages[first].offset;
    if count == 1 {
        format!("page at offset {}", hex(start))
    } else {
        let end = pages[first + count - 1].offset + crate::PAGE_SIZE - 1;
        format!("{count} pages, offsets {}..{}", hex(start), hex(end))
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

fn frames_text(pages: &[PageReport], first: usize, count: usize, row: usize) -> String {
    let q = &pages[first].procs[row];
    match (q.pfn, count) {
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

/// Draws the whole report. `pictures` of several objects stack vertically.
pub fn render(report: &InspectReport) -> String {
    let mut body = Group::new().set("font-family", FONT).set("fill", "#212529");
    let mut y = MARGIN;
    let mut width: f64 = 760.0;

    y += 18.0;
    let pids: Vec<String> = report
        .processes
        .iter()
        .map(|p| format!("{} ({})", p.pid, p.comm))
        .collect();
    body = body.add(
        text(MARGIN, y, 16.0, "solab inspect: page map")
            .set("font-weight", "bold")
            .set("class", "heading"),
    );
    y += 18.0;
    body = body.add(text(
        MARGIN,
        y,
        11.0,
        &format!("processes: {}", pids.join(", ")),
    ));
    y += 8.0;
    if report.privileged {
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
        let note = report
            .privilege_note
            .clone()
            .unwrap_or_else(|| "frame numbers are hidden".into());
        let mut lines = vec!["WEAK MODE: no frame numbers (not CAP_SYS_ADMIN).".to_string()];
        lines.extend(wrap(
            &format!(
                "States come from pagemap bits 56 and 61; cells tied across rows are \
                 \"not exclusive in every process\", not a compared frame. Note: {note}"
            ),
            120,
        ));
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

    let (legend, h) = draw_legend(&used, y);
    body = body.add(legend);
    y += h + MARGIN;

    let doc = Document::new()
        .set("width", width.ceil())
        .set("height", y.ceil())
        .set("viewBox", (0, 0, width.ceil(), y.ceil()))
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

/// One object's band at height `top`; returns it, its height and its width.
fn draw_object(
    obj: &ObjectReport,
    report: &InspectReport,
    top: f64,
    used: &mut Vec<Look>,
) -> (Group, f64, f64) {
    let pages = &obj.pages;
    let geo = Geometry::for_pages(pages.len());
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
    let lines = pages.len().div_ceil(geo.cols);
    for line in 0..lines {
        let from = line * geo.cols;
        let to = (from + geo.cols).min(pages.len());
        let xof = |i: usize| x0 + (i - from) as f64 * geo.cell;
        y += 6.0;

        // Segment bar, with section names underneath where they fit.
        g = g.add(
            text(
                MARGIN,
                y + 10.0,
                10.0,
                &format!("offset {}", hex(pages[from].offset)),
            )
            .set("fill", "#6c757d"),
        );
        // Names of segments too narrow for their bar go under the rows.
        let mut narrow: Vec<(f64, &str, &str)> = Vec::new();
        for (s, e) in spans(from, to, |i| pages[i].segment) {
            let w = (e - s) as f64 * geo.cell;
            let seg = pages[s].segment.name();
            let mut bar = Rectangle::new()
                .set("x", xof(s) + 0.5)
                .set("y", y)
                .set("width", (w - 1.0).max(0.5))
                .set("height", 13.0)
                .set("fill", segment_fill(pages[s].segment))
                .set("class", "segment");
            bar = bar.add(title(&format!(
                "segment {seg}: {}",
                range_text(pages, s, e - s)
            )));
            g = g.add(bar);
            if text_width(seg, 10.0) + 4.0 <= w {
                g = g.add(
                    text(xof(s) + 3.0, y + 10.0, 10.0, seg)
                        .set("fill", "#ffffff")
                        .set("font-weight", "bold"),
                );
            } else {
                narrow.push((xof(s), seg, segment_fill(pages[s].segment)));
            }
        }
        y += 13.0;
        if label_rows == 2 {
            for (s, e) in spans(from, to, |i| pages[i].sections.clone()) {
                let w = (e - s) as f64 * geo.cell;
                let full = pages[s].sections.join(" ");
                let first = pages[s].sections.first().cloned().unwrap_or_default();
                let label = if text_width(&full, 9.0) + 2.0 <= w {
                    full
                } else if text_width(&first, 9.0) + 2.0 <= w {
                    first
                } else {
                    continue;
                };
                g = g.add(text(xof(s) + 1.0, y + 10.0, 9.0, &label).set("fill", "#495057"));
            }
            y += 13.0;
        }
        y += 3.0;

        let row_y = |r: usize| y + r as f64 * (geo.row + ROW_GAP);
        for (r, name) in row_names.iter().enumerate() {
            g = g.add(text(MARGIN, row_y(r) + geo.row * 0.75, 11.0, name));
        }
        let inset = geo.inset();
        let line_runs = runs(pages, &all_looks, from, to, geo.merge);
        // Bridges first, so that cells lie on top of them.
        for run in &line_runs {
            let look = &all_looks[run.first];
            let x = xof(run.first) + inset;
            let w = (run.count as f64 * geo.cell - 2.0 * inset).max(0.5);
            let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
            for (r, l) in look.iter().enumerate() {
                if let Some(t) = l.tie {
                    groups.entry(t).or_default().push(r);
                }
            }
            for rows in groups.values() {
                let pids: Vec<String> =
                    rows.iter().map(|&r| obj.procs[r].pid.to_string()).collect();
                let frame = pages[run.first].procs[rows[0]]
                    .pfn
                    .map(|p| format!("frame {p}"))
                    .unwrap_or_else(|| {
                        "looks shared (weak: pagemap bit 56 clear, no frame numbers)".into()
                    });
                for pair in rows.windows(2) {
                    let (a, b) = (pair[0], pair[1]);
                    let (fill, _) = style(look[a]);
                    g = g.add(
                        Rectangle::new()
                            .set("x", x)
                            .set("y", row_y(a) + geo.row)
                            .set("width", w)
                            .set("height", row_y(b) - row_y(a) - geo.row)
                            .set("fill", fill)
                            .set("class", "tie")
                            .set("data-pages", run.count)
                            .add(title(&format!(
                                "{}: {frame} in pids {}",
                                range_text(pages, run.first, run.count),
                                pids.join(", ")
                            ))),
                    );
                }
            }
        }
        for run in &line_runs {
            let page = &pages[run.first];
            let x = xof(run.first) + inset;
            let w = (run.count as f64 * geo.cell - 2.0 * inset).max(0.5);
            for (r, (&look, q)) in all_looks[run.first].iter().zip(&page.procs).enumerate() {
                if !used.contains(&look) {
                    used.push(look);
                }
                let (fill, legend) = style(look);
                let tip = format!(
                    "pid {}: {}\nsegment {}, sections {}\nstate {}: {} ({legend})\n{}\nverdict across the processes: {}",
                    q.pid,
                    range_text(pages, run.first, run.count),
                    page.segment.name(),
                    sections_text(pages, run.first, run.count),
                    q.state.name(),
                    describe_state(q.state),
                    frames_text(pages, run.first, run.count, r),
                    page.verdict.name(),
                );
                let mut cell = Rectangle::new()
                    .set("x", x)
                    .set("y", row_y(r))
                    .set("width", w)
                    .set("height", geo.row)
                    .set("fill", fill)
                    .set("class", "cell")
                    .set("data-pid", q.pid)
                    .set("data-offset", hex(page.offset))
                    .set("data-pages", run.count)
                    .set("data-state", q.state.name())
                    .set("data-verdict", page.verdict.name())
                    .set("data-tied", if look.tie.is_some() { 1 } else { 0 });
                if matches!(q.state, PageState::NotPresent | PageState::Unmapped) {
                    cell = cell.set("stroke", "#c8c8c8").set("stroke-width", 0.6);
                    if q.state == PageState::Unmapped {
                        cell = cell.set("stroke-dasharray", "2,2");
                    }
                }
                g = g.add(cell.add(title(&tip)));
            }
            if geo.merge && run.count > 1 {
                let label = format!("×{}", run.count);
                let w = run.count as f64 * geo.cell;
                if text_width(&label, 8.0) + 2.0 <= w {
                    g = g.add(
                        text(x + 1.0, row_y(nrows) - ROW_GAP + 9.0, 8.0, &label)
                            .set("fill", "#6c757d"),
                    );
                }
            }
        }
        // Segment boundaries as thin lines through the rows.
        let rows_end = row_y(nrows) - ROW_GAP;
        for (s, _) in spans(from, to, |i| pages[i].segment).iter().skip(1) {
            g = g.add(
                Line::new()
                    .set("x1", xof(*s))
                    .set("x2", xof(*s))
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

fn draw_legend(used: &[Look], top: f64) -> (Group, f64) {
    let mut g = Group::new().set("class", "legend");
    let mut y = top + 12.0;
    g = g.add(text(MARGIN, y, 12.0, "Legend").set("font-weight", "bold"));
    y += 6.0;
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
    for (i, (fill, label)) in entries.iter().enumerate() {
        let col = (i % 2) as f64;
        let ry = y + (i / 2) as f64 * 18.0;
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
    y += entries.len().div_ceil(2) as f64 * 18.0 + 6.0;
    // The tie: two cells and the bridge between them.
    let tie_fill = style(Look {
        state: PageState::File,
        tie: Some(0),
    })
    .0;
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
    g = g.add(text(
        MARGIN + 20.0,
        y + 14.0,
        11.0,
        "cells joined across rows: one physical frame in those processes (hover a cell for offset, sections, state and frame)",
    ));
    y += 24.0;
    (g, y - top)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::LoaderAction;
    use crate::report::{ObjectInProcess, ProcessInfo};

    /// A synthetic report: `n` pages in three processes; text shared but every 7th page
    /// untouched in one process (a worst case for merging: runs of at most 6 pages), then
    /// private data and zero-page .bss.
    fn report(n: usize, privileged: bool) -> InspectReport {
        let pids = [101, 102, 103];
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
                let evidence: Vec<crate::sharing::Copy> = procs
                    .iter()
                    .map(|p| crate::sharing::Copy {
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
            schema: crate::report::INSPECT_SCHEMA.into(),
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
            pids: pids.to_vec(),
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
                kind: crate::report::ObjectKind::Elf,
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
