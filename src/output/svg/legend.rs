//! The legend under a picture: a swatch per look drawn, and what a tie means.

use super::labels::{text, text_width, wrap};
use super::looks::{Look, style};
use super::{MARGIN, SMALL, WIDTH, fit_chars};
use crate::sharing::PageState;
use ::svg::node::element::{Group, Rectangle};

/// What cells tied across rows mean, in the legend of `inspect`.
pub(super) const TIE_TEXT: &str = "cells joined across rows: one physical frame in those processes (hover a cell for offset, sections, state and frame)";

/// What a row labelled with a count means, in the legend of `inspect` when one is drawn.
pub(super) const ROWS_TEXT: &str = "a row \"N processes: pids a, b…\" stands for N identical processes: the same state and the same ties on every page (hover its label for the pids)";

/// The legend entries of `inspect`: the usual looks, then the ones drawn.
pub(super) fn legend_entries(used: &[Look]) -> Vec<(&'static str, &'static str)> {
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

/// The legend at height `top`: a swatch per (fill, label) entry, up to `per_line` to a
/// line (fewer when their labels would not fit the picture's width), then the tie in `tie_fill` and `tie_text` saying what it means.
pub(super) fn draw_legend(
    entries: &[(&str, &str)],
    top: f64,
    per_line: usize,
    (tie_fill, tie_text): (&str, &str),
) -> (Group, f64) {
    let mut g = Group::new().set("class", "legend");
    let mut y = top + 12.0;
    g = g.add(text(MARGIN, y, 13.0, "Legend").set("font-weight", "bold"));
    y += 6.0;
    // Each column as wide as the longest label, and as many as fit.
    let col_width = entries
        .iter()
        .map(|(_, label)| text_width(label, SMALL) + 28.0)
        .fold(0.0, f64::max);
    let per_line = per_line
        .min(((WIDTH - 2.0 * MARGIN) / col_width.max(1.0)) as usize)
        .max(1);
    for (i, (fill, label)) in entries.iter().enumerate() {
        let col = (i % per_line) as f64;
        let ry = y + (i / per_line) as f64 * 18.0;
        let x = MARGIN + col * col_width;
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
        g = g.add(text(x + 20.0, ry + 10.0, SMALL, label));
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
    for (i, line) in wrap(tie_text, fit_chars(20.0)).iter().enumerate() {
        g = g.add(text(MARGIN + 20.0, y + 14.0 + i as f64 * 16.0, SMALL, line));
        if i > 0 {
            y += 16.0;
        }
    }
    y += 24.0;
    (g, y - top)
}
