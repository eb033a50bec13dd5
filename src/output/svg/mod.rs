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

use crate::inspect_report::InspectReport;
use crate::sharing::PageState;
use ::svg::Document;
use ::svg::node::element::{Group, Rectangle};
use labels::{text, text_width, wrap};
use legend::{ROWS_TEXT, TIE_TEXT, draw_legend, legend_entries};
use looks::{Look, NAMED_PIDS, style};
use object::draw_object;

mod cells;
mod family;
mod flame;
mod labels;
mod layout;
mod legend;
mod looks;
mod object;
pub use family::render_family;
pub use flame::render_record_flame;

/// Up to this many processes the heading names them all.
const MAX_NAMED: usize = 16;

/// Above this many pages, runs of identical columns are drawn as one cell with a count.
pub const PER_PAGE_LIMIT: usize = 640;

const FONT: &str = "DejaVu Sans, Verdana, Arial, sans-serif";
/// The width a picture is drawn for, in its own units: a book's column (it scales to the
/// width of what shows it). Up to [`PER_PAGE_LIMIT`] pages it fits; wider grids of larger
/// objects (cells of at least 3.75 units) make it wider.
const WIDTH: f64 = 700.0;
/// The smallest font size: 12 px where the picture is shown 700 px wide.
const SMALL: f64 = 12.0;
const LABEL_WIDTH: f64 = 180.0;
const MARGIN: f64 = 16.0;
const GRID_WIDTH: f64 = WIDTH - 2.0 * MARGIN - LABEL_WIDTH;
const ROW_GAP: f64 = 5.0;

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
    let mut width: f64 = WIDTH;

    y += 18.0;
    body = body.add(
        text(MARGIN, y, 16.0, title)
            .set("font-weight", "bold")
            .set("class", "heading"),
    );
    for line in wrap(subtitle, fit_chars(0.0)) {
        y += 16.0;
        body = body.add(text(MARGIN, y, SMALL, &line));
    }
    y += 8.0;
    if privileged {
        for line in wrap(
            "frames compared by number (CAP_SYS_ADMIN: pagemap PFNs, /proc/kpagecount)",
            fit_chars(0.0),
        ) {
            y += 16.0;
            body = body.add(text(MARGIN, y, SMALL, &line).set("fill", "#495057"));
        }
    } else {
        let note = note.unwrap_or("frame numbers are hidden");
        let mut lines = vec!["WEAK MODE: no frame numbers (not CAP_SYS_ADMIN).".to_string()];
        lines.extend(wrap(&format!("{weak_ties} Note: {note}"), fit_chars(16.0)));
        let h = 10.0 + lines.len() as f64 * 16.0;
        let longest = lines
            .iter()
            .map(|l| text_width(l, SMALL))
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
                text(MARGIN + 8.0, y + 19.0 + i as f64 * 16.0, SMALL, line).set("fill", "#856404");
            if i == 0 {
                label = label
                    .set("font-weight", "bold")
                    .set("font-size", 13.0)
                    .set("class", "weak");
            }
            body = body.add(label);
        }
        y += h + 4.0;
    }
    y += 10.0;
    (body, y, width)
}

/// How many characters of [`SMALL`] text fit on a line that starts `indent` right of the
/// margin, for [`wrap`].
fn fit_chars(indent: f64) -> usize {
    ((WIDTH - 2.0 * MARGIN - indent) / text_width("x", SMALL)) as usize
}

/// The SVG document around `body`, `width` by `height` in its own units: it scales to the
/// width of what shows it (a browser window, a book's column), keeping its proportions.
fn document(body: Group, width: f64, height: f64) -> String {
    let doc = Document::new()
        .set("width", "100%")
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
    // Every process is named up to a screenful; past it the rows name them.
    let shown = if report.processes.len() > MAX_NAMED {
        NAMED_PIDS
    } else {
        MAX_NAMED
    };
    let mut pids: Vec<String> = report
        .processes
        .iter()
        .take(shown)
        .map(|p| format!("{} ({})", p.pid, p.comm))
        .collect();
    if report.processes.len() > shown {
        pids.push(format!("… ({} in all)", report.processes.len()));
    }
    let (mut body, mut y, mut width) = heading(
        "solab inspect: page map",
        &format!("processes: {}", pids.join(", ")),
        report.privileged,
        report.privilege_note.as_deref(),
        "States come from pagemap bits 56 and 61; cells tied across rows are \
         \"not exclusive in every process\", not a compared frame.",
    );

    let mut used: Vec<Look> = Vec::new();
    let mut merged = false;
    for obj in &report.objects {
        let (band, h, w) = draw_object(obj, report, y, (&mut used, &mut merged));
        body = body.add(band);
        y += h + 16.0;
        width = width.max(w);
    }
    if report.objects.is_empty() {
        y += 14.0;
        body = body.add(text(MARGIN, y, SMALL, "no object matched"));
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
    y += h;
    if merged {
        let mut rows = Group::new().set("class", "rows-legend");
        for line in wrap(ROWS_TEXT, fit_chars(20.0)) {
            rows = rows.add(text(MARGIN + 20.0, y + 4.0, SMALL, &line));
            y += 16.0;
        }
        body = body.add(rows);
        y += 2.0;
    }
    y += MARGIN;
    document(body, width, y)
}

#[cfg(test)]
mod tests {
    use super::labels::hex;
    use super::layout::{Geometry, MAX_ENTRY_COLUMNS};
    use super::*;
    use crate::elf::LoaderAction;
    use crate::elf::SegmentKind;
    use crate::inspect_report::{ObjectInProcess, ProcessInfo};
    use crate::inspect_report::{ObjectReport, PageInProcess, PageReport};
    use crate::sharing::Verdict;
    use std::collections::BTreeMap;

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

    /// Parses the picture and returns (pages drawn per process, height): a row of
    /// identical processes counts for each of them (its cells name its first pid).
    fn drawn(picture: &str) -> (BTreeMap<i32, u64>, f64) {
        let (per_row, height) = drawn_rows(picture);
        let doc = roxmltree::Document::parse(picture).expect("XML");
        let mut per_pid = BTreeMap::new();
        for (pid, (pages, count)) in per_row {
            let members: Vec<i32> = match doc.descendants().find(|n| {
                n.attribute("class") == Some("rows")
                    && n.attribute("data-pids")
                        .is_some_and(|p| p.split(' ').next() == Some(&pid.to_string()))
            }) {
                Some(g) => g
                    .attribute("data-pids")
                    .expect("pids")
                    .split(' ')
                    .map(|p| p.parse().expect("pid"))
                    .collect(),
                None => vec![pid],
            };
            assert_eq!(members.len() as u64, count, "the count of the row of {pid}");
            for m in members {
                per_pid.insert(m, pages);
            }
        }
        (per_pid, height)
    }

    /// Parses the picture and returns (per row, named by its first pid: pages drawn and
    /// processes it stands for; height).
    fn drawn_rows(picture: &str) -> (BTreeMap<i32, (u64, u64)>, f64) {
        let doc = roxmltree::Document::parse(picture).expect("XML");
        let mut per_pid: BTreeMap<i32, (u64, u64)> = BTreeMap::new();
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
            let count: u64 = c
                .attribute("data-count")
                .map_or(1, |p| p.parse().expect("count"));
            let row = per_pid.entry(pid).or_default();
            row.0 += n;
            row.1 = count;
        }
        // The picture's height in its own units: the viewBox's (it scales to its column).
        let height = doc
            .root_element()
            .attribute("viewBox")
            .and_then(|v| v.split_whitespace().nth(3))
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
            let tip = |n: roxmltree::Node| {
                n.children()
                    .find(|t| t.has_tag_name("title"))
                    .and_then(|t| t.text())
                    .unwrap_or_default()
                    .to_string()
            };
            let explained = |word: &str| {
                let verdict = Verdict::ALL
                    .into_iter()
                    .find(|v| v.name() == word)
                    .expect("a verdict word");
                format!("verdict {word}: {}", verdict.meaning())
            };
            let cell_tips: Vec<String> = doc
                .descendants()
                .filter(|n| n.attribute("class") == Some("cell"))
                .map(tip)
                .collect();
            let mut untied = 0;
            for col in doc
                .descendants()
                .filter(|n| n.attribute("class") == Some("page"))
            {
                let word = col.attribute("data-verdict").expect("data-verdict");
                let bars: Vec<_> = col
                    .children()
                    .filter(|n| n.attribute("class") == Some("tie"))
                    .collect();
                if bars.is_empty() {
                    // Its cells (drawn over the columns, a run of alike pages in one)
                    // explain the verdict.
                    untied += 1;
                    assert!(
                        cell_tips.iter().any(|t| t.ends_with(&explained(word))),
                        "no cell explains {word}"
                    );
                } else {
                    for bar in bars {
                        assert!(tip(bar).ends_with(&explained(word)), "{}", tip(bar));
                    }
                }
            }
            // Every cell ends with its verdict: its word where a tie bar explains it,
            // else the word and its meaning.
            for t in &cell_tips {
                let (_, said) = t.rsplit_once("; verdict ").expect("a verdict");
                let word = said.split(':').next().expect("a word");
                assert!(said == word || t.ends_with(&explained(word)), "{t}");
            }
            assert!(
                untied > 0,
                "no untied column to check (privileged {privileged})"
            );
        }
    }

    /// Identical processes share a row, so the size does not grow with the processes
    /// (drawn one row each, 200 processes of libc were 26 MB). libsolib.so is 98 report
    /// entries; the second process differs from the others, which are identical. Times
    /// are printed (`--nocapture`), not asserted.
    #[test]
    fn two_hundred_identical_processes_draw_as_two_rows() {
        let mut sizes: Vec<(bool, f64)> = Vec::new();
        for nprocs in [25, 100, 200] {
            for privileged in [true, false] {
                let r = report_of(98, nprocs, privileged);
                let t = std::time::Instant::now();
                let picture = render(&r);
                let took = t.elapsed();
                let (per_pid, _) = drawn(&picture);
                assert_eq!(per_pid.len(), nprocs as usize);
                assert!(per_pid.values().all(|&n| n == 98));
                let (rows, _) = drawn_rows(&picture);
                let counts: Vec<u64> = rows.values().map(|r| r.1).collect();
                assert_eq!(counts, vec![nprocs as u64 - 1, 1], "rows of 101 and 102");
                let doc = roxmltree::Document::parse(&picture).expect("XML");
                // Weak: one tie group per shared column; privileged: one per frame.
                let number = |n: &roxmltree::Node, a: &str| -> u64 {
                    n.attribute(a).map_or(1, |v| v.parse().expect("a number"))
                };
                // Pages × processes, tied: in the bars, and in the cells (a run of pages
                // of one row is one cell).
                let tie_procs: u64 = doc
                    .descendants()
                    .filter(|n| n.attribute("class") == Some("tie"))
                    .map(|n| number(&n, "data-procs") * number(&n, "data-pages"))
                    .sum();
                let tied_cells: u64 = doc
                    .descendants()
                    .filter(|n| n.attribute("data-tied") == Some("1"))
                    .map(|n| number(&n, "data-count") * number(&n, "data-pages"))
                    .sum();
                assert_eq!(tie_procs, tied_cells, "every tied process in one tie bar");
                eprintln!(
                    "svg: 98 pages x {nprocs} processes (privileged {privileged}): {} bytes in {:.1} ms",
                    picture.len(),
                    took.as_secs_f64() * 1e3
                );
                sizes.push((privileged, picture.len() as f64));
            }
        }
        // The size stays that of two rows: within the growth of the named pids.
        for mode in [true, false] {
            let (lo, hi) = sizes
                .iter()
                .filter(|s| s.0 == mode)
                .fold((f64::MAX, 0.0f64), |(lo, hi), &(_, v)| {
                    (lo.min(v), hi.max(v))
                });
            assert!(hi < lo * 1.2, "from {lo:.0} to {hi:.0} bytes");
        }
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
            let one: f64 = cells
                .iter()
                .find_map(|c| c.attribute("width")?.parse().ok())
                .expect("a cell of one rectangle");
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
