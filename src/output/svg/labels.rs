//! Text in the picture: `<text>` and `<title>` elements with their content kept valid
//! XML, rough widths to decide what fits, and the words of tooltips.

use super::{MARGIN, SMALL};
use crate::inspect_report::PageReport;
use ::svg::Node;
use ::svg::node::element::{Element, Title};

/// Keeps text valid XML 1.0: control characters other than tab and newline become U+FFFD.
/// (Escaping of `<`, `&` and `>` is the `svg` crate's.)
pub(super) fn clean(s: &str) -> String {
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

pub(super) fn title(s: &str) -> Title {
    Title::new(clean(s))
}

/// A `<text>` element. (The crate's own `Text` element writes its content between
/// newlines; this keeps the content exactly as given.)
pub(super) struct Label(Element);

impl Label {
    pub(super) fn set(mut self, name: &str, value: impl Into<::svg::node::Value>) -> Label {
        self.0.assign(name, value);
        self
    }
}

impl From<Label> for Box<dyn Node> {
    fn from(label: Label) -> Box<dyn Node> {
        Box::new(label.0)
    }
}

pub(super) fn text(x: f64, y: f64, size: f64, s: &str) -> Label {
    let mut e = Element::new("text");
    e.append(::svg::node::Text::new(clean(s)));
    Label(e).set("x", x).set("y", y).set("font-size", size)
}

/// A rough width of `s` at font size `size`, to decide whether a label fits.
pub(super) fn text_width(s: &str, size: f64) -> f64 {
    s.chars().count() as f64 * size * 0.6
}

/// Splits `s` into lines of at most about `width` characters, at spaces.
pub(super) fn wrap(s: &str, width: usize) -> Vec<String> {
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

pub(super) fn hex(v: u64) -> String {
    format!("{v:#x}")
}

pub(super) fn range_text(pages: u64, start: u64, end: u64) -> String {
    if pages == 1 {
        format!("page at offset {}", hex(start))
    } else {
        format!("{pages} pages, offsets {}..{}", hex(start), hex(end - 1))
    }
}

pub(super) fn sections_text(pages: &[PageReport], first: usize, count: usize) -> String {
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

pub(super) fn frames_text(page: &PageReport, pages: u64, row: usize) -> String {
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

/// What a line of cells starts at, left of it at height `y`.
pub(super) fn line_label(what: &str, y: f64) -> Label {
    text(MARGIN, y + 11.0, SMALL, what).set("fill", "#6c757d")
}
