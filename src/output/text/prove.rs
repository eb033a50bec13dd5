//! `solab prove`: the three claims, each with its evidence.

use super::opt;
use crate::commands::prove::{ClaimStatus, Conclusion, NAMED, NOTHING_TO_COMPARE, ProveReport};
use crate::output::escape::escape_controls;
use crate::output::terminal::{GREEN, RED, Style, YELLOW, paint};
use std::fmt::Write;

pub fn render_prove(r: &ProveReport, style: Style) -> String {
    let mut o = String::new();
    if let Some(note) = &r.privilege_note {
        let _ = writeln!(o, "note: {note}");
    }
    let pids: Vec<String> = r.pids.iter().map(|p| p.to_string()).collect();
    let _ = writeln!(
        o,
        "{} (build-id {}) in pids {}",
        escape_controls(&r.object),
        opt(&r.build_id),
        pids.join(" ")
    );
    if !r.unreadable.is_empty() {
        let _ = writeln!(
            o,
            "note: {} process(es) could not be read and are not compared (they may map it):",
            r.unreadable.len()
        );
        for u in r.unreadable.iter().take(NAMED) {
            let _ = writeln!(o, "  {}", escape_controls(&u.message));
        }
        if r.unreadable.len() > NAMED {
            let _ = writeln!(o, "  and {} more", r.unreadable.len() - NAMED);
        }
    }
    for f in &r.families {
        let members: Vec<String> = f.pids.iter().map(|p| p.to_string()).collect();
        let _ = writeln!(
            o,
            "fork family of {} ({}): {}",
            f.root,
            escape_controls(&f.root_comm),
            members.join(" ")
        );
    }
    for (i, c) in r.claims.iter().enumerate() {
        let status = match c.status {
            ClaimStatus::Holds => paint(style, GREEN, "HOLDS"),
            ClaimStatus::Fails => paint(style, RED, "FAILS"),
            ClaimStatus::NotApplicable => "N/A".to_string(),
        };
        let weak = if c.weak {
            format!(" {}", paint(style, YELLOW, "(weak)"))
        } else {
            String::new()
        };
        let _ = writeln!(o, "\n({}) {}: {status}{weak}", i + 1, c.statement);
        let _ = writeln!(o, "    {}", c.summary);
        for e in &c.examples {
            let fr: Vec<String> = e
                .frames
                .iter()
                .map(|f| {
                    let pfn = f.pfn.map(|p| p.to_string()).unwrap_or_else(|| "?".into());
                    format!("{}:{} {}", f.pid, pfn, f.state.name())
                })
                .collect();
            let _ = writeln!(
                o,
                "    e.g. page {:#x} {} [{}]: {}",
                e.offset,
                e.segment.name(),
                escape_controls(&e.sections.join(" ")),
                fr.join(", ")
            );
        }
        for f in &c.failures {
            let _ = writeln!(
                o,
                "    {} page {:#x} {} [{}]: {}",
                paint(style, RED, "FAIL"),
                f.offset,
                f.segment.name(),
                escape_controls(&f.sections.join(" ")),
                escape_controls(&f.reason)
            );
        }
    }
    let last = match r.conclusion() {
        Conclusion::NothingCompared => paint(style, YELLOW, NOTHING_TO_COMPARE),
        Conclusion::Holds => paint(style, GREEN, "all claims hold"),
        Conclusion::HoldsOnWeakEvidence => paint(
            style,
            YELLOW,
            "all claims hold, on weak evidence (no frame numbers)",
        ),
        Conclusion::Fails => paint(style, RED, "a claim fails"),
    };
    let _ = writeln!(o, "\n{last}");
    o
}
