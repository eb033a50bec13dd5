//! `solab family --record SECONDS PID --svg FILE`: a flame graph of the bytes the children
//! copied in the window, drawn by `inferno` (the flame graph crate of the Rust ecosystem,
//! the same picture as flamegraph.pl) from the folded stacks `--folded` prints: one frame
//! per function, as wide as the bytes copied under it, each child's command at the root.
//!
//! Names come from other users (commands, object paths, symbols). They reach the picture
//! only through the folded lines, where control characters are already made visible, and
//! inferno writes them as XML text (escaped by quick-xml: `<`, `&`, quotes), never into
//! markup or the script.

use crate::commands::record::RecordReport;
use crate::output::text::render_record_folded;
use inferno::flamegraph::{self, Options, color::BasicPalette, color::Palette};

/// The flame graph, or why there is none (nothing was copied in the window).
pub fn render_record_flame(r: &RecordReport) -> Result<String, String> {
    let folded = render_record_folded(r);
    if folded.trim().is_empty() {
        return Err(format!(
            "no page of the family of pid {} was copied in the window: no flame graph drawn",
            r.root
        ));
    }
    let mut opt = Options::default();
    opt.title = "Bytes copied from the parent's frames, by call chain".into();
    opt.subtitle = Some(format!(
        "solab family --record {} {}: {} children, {} page faults recorded, {} lost",
        r.recording.seconds,
        r.root,
        r.processes.len(),
        r.recording.faults,
        r.recording.lost
    ));
    opt.count_name = "bytes".into();
    opt.name_type = "Function:".into();
    opt.colors = Palette::Basic(BasicPalette::Mem);
    // Colours from the names, not chance: the same recording draws the same picture.
    opt.deterministic = true;
    let mut out = Vec::new();
    flamegraph::from_lines(&mut opt, folded.lines(), &mut out)
        .map_err(|e| format!("drawing the flame graph: {e}"))?;
    String::from_utf8(out).map_err(|e| format!("drawing the flame graph: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::record::{
        Attributed, Attribution, ChainRow, Changed, RecordedMember, Recording,
    };

    const HOSTILE: &str = "evil<script>alert(\"x\")</script>&amp;'q'";

    fn report(copied: u64) -> RecordReport {
        RecordReport {
            schema: "solab.family-record.v1".into(),
            evidence: crate::kernel::Evidence::Frames,
            weak: false,
            privilege_note: None,
            page_size: 4096,
            root: 1,
            recording: Recording::default(),
            processes: vec![RecordedMember {
                pid: 2,
                ppid: 1,
                comm: "</text><g>".into(),
                born_in_window: false,
                attribution: Attribution {
                    copied: Changed {
                        bytes: copied,
                        seen: copied,
                        ..Changed::default()
                    },
                    new: Changed::default(),
                    functions: Vec::new(),
                    chains_stop: Vec::new(),
                    chains: if copied > 0 {
                        vec![ChainRow {
                            chain: vec![format!("lib<&>.so!{HOSTILE}"), "app!main".into()],
                            by: Attributed::Seen,
                            copied,
                            new: 0,
                            stops_in: None,
                        }]
                    } else {
                        Vec::new()
                    },
                },
            }],
            family: Attribution::default(),
            unresolved_objects: Vec::new(),
            errors: Vec::new(),
            intervals: Vec::new(),
        }
    }

    #[test]
    fn hostile_names_are_text_in_the_flame_graph_never_markup() {
        let svg = render_record_flame(&report(3 * 4096)).expect("a flame graph");
        // inferno's document declares the SVG 1.1 DTD.
        let opt = roxmltree::ParsingOptions {
            allow_dtd: true,
            ..roxmltree::ParsingOptions::default()
        };
        let doc = roxmltree::Document::parse_with_options(&svg, opt).expect("well-formed XML");
        // No element came from a name: the only scripts are inferno's own.
        assert!(
            doc.descendants()
                .filter(|n| n.has_tag_name("script"))
                .all(|n| !n.text().unwrap_or("").contains("alert")),
            "{svg}"
        );
        // The names are there, whole, as text (the frame's title holds the full name).
        let titles: Vec<&str> = doc
            .descendants()
            .filter(|n| n.has_tag_name("title"))
            .filter_map(|n| n.text())
            .collect();
        // As in the folded lines: `;` separates frames there, so a name's own is `:`.
        let whole = format!("lib<&>.so!{HOSTILE}").replace(';', ":");
        assert!(
            titles.iter().any(|t| t.starts_with(&whole)),
            "{whole} among {titles:?}"
        );
        assert!(
            titles.iter().any(|t| t.starts_with("</text><g>")),
            "{titles:?}"
        );
        // Every frame is as wide as its bytes: the root frame holds the 12,288 copied.
        assert!(
            titles.iter().any(|t| t.contains("12,288 bytes")),
            "{titles:?}"
        );
    }

    #[test]
    fn nothing_copied_draws_nothing_and_says_why() {
        let e = render_record_flame(&report(0)).expect_err("no flame graph");
        assert!(e.contains("no page"), "{e}");
    }
}
