//! The page cells: one process's cell, the tie bar behind the cells of processes that map
//! one frame, the count under a wide cell, and the colour of a segment.

use super::labels::{Label, text, text_width, title};
use super::layout::{Geometry, Piece, px};
use crate::elf::SegmentKind;
use ::svg::Node;
use ::svg::node::element::{Element, Rectangle};

/// How a cell with no page is outlined.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Outline {
    /// A page: no outline.
    None,
    /// Mapped, no page: a thin grey outline.
    Solid,
    /// Not mapped at all: dashed.
    Dashed,
}

/// Where a cell lies across: one rectangle `x`, `w`, or a run of them side by side (pages
/// that look alike in a row), drawn as one path of rectangles that keeps the gaps between
/// them, so that a row costs an element per run, not per page.
pub(super) enum Across {
    One(f64, f64),
    Run(Vec<(f64, f64)>),
}

/// One process's cell (a `<rect>`, or a `<path>` for a run), `y` and `h` down, standing
/// for `pages` pages.
pub(super) fn cell(
    across: Across,
    (y, h): (f64, f64),
    fill: &str,
    pid: i32,
    pages: u64,
    outline: Outline,
) -> Element {
    let mut cell = match across {
        Across::One(x, w) => {
            let mut e = Element::new("rect");
            e.assign("x", x);
            e.assign("y", y);
            e.assign("width", w);
            e.assign("height", h);
            e
        }
        Across::Run(parts) => {
            let mut d = String::new();
            let mut prev: Option<f64> = None;
            for (x, w) in parts {
                // After `z` the pen is back at the start of the last rectangle.
                match prev {
                    None => d.push_str(&format!("M{x} {y}")),
                    Some(p) => d.push_str(&format!("m{} 0", px(x - p))),
                }
                d.push_str(&format!("h{w}v{h}h-{w}z"));
                prev = Some(x);
            }
            let mut e = Element::new("path");
            e.assign("d", d);
            e
        }
    };
    cell.assign("fill", fill);
    cell.assign("class", "cell");
    cell.assign("data-pid", pid);
    cell.assign("data-pages", pages);
    if outline != Outline::None {
        cell.assign("stroke", "#c8c8c8");
        cell.assign("stroke-width", 0.6);
        if outline == Outline::Dashed {
            cell.assign("stroke-dasharray", "2,2");
        }
    }
    cell
}

/// A tie bar behind the cells of `procs` processes that map one frame for `pages` pages,
/// spanning their rows (`y`, `h`), with the tooltip `tip`.
pub(super) fn tie_bar(
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
pub(super) fn count_label(pc: &Piece, geo: &Geometry, x: f64, rows_end: f64) -> Option<Label> {
    let drawn = (pc.c1 - pc.c0) as u64;
    if pc.pages > 1 && (geo.merge || pc.pages > drawn) {
        let label = format!("×{}", pc.pages);
        let w = drawn as f64 * geo.cell;
        if text_width(&label, super::SMALL) + 2.0 <= w {
            return Some(
                text(x + 1.0, rows_end + 10.0, super::SMALL, &label).set("fill", "#6c757d"),
            );
        }
    }
    None
}

pub(super) fn segment_fill(kind: SegmentKind) -> &'static str {
    match kind {
        SegmentKind::Text => "#343a40",
        SegmentKind::Rodata => "#495057",
        SegmentKind::Relro => "#6f42c1",
        SegmentKind::Data => "#b34700",
        SegmentKind::Bss => "#8a6d3b",
        SegmentKind::Shared => "#146c43",
    }
}
