//! Experiment 1: three processes touch every page of libsolib.so and libc; solab inspect
//! counts the text pages on one frame and the memory that saves.

use super::{Experiment, Outcome, hosts, kib, refs, text_row, weak};
use crate::ctx::{As, Lab};
use crate::view;
use anyhow::Result;
use solab::elf::SegmentKind;

pub const EXPERIMENT: Experiment = Experiment {
    id: 1,
    title: "One copy of the code",
    question: "Three processes load libsolib.so. Is every text page of libsolib.so and of libc one physical frame in all three, and how much memory does that save?",
    run: one_copy_of_the_code,
};

fn one_copy_of_the_code(lab: &mut Lab) -> Result<Outcome> {
    let hs = hosts(lab, As::Me, &["A", "B", "C"], &["touch-all"])?;
    let r = refs(&hs);
    let mut pass = true;
    let mut saved_pages = 0;
    let mut is_weak = false;
    for name in ["libsolib.so", "libc.so.6"] {
        let report = lab.inspect(As::Me, name, &r)?;
        is_weak |= weak(&report);
        let obj = view::object(&report, name)?;
        let t = view::tally(obj, SegmentKind::Text, hs.len());
        text_row(lab, name, &t, hs.len());
        if let Some(p) = view::pages_of(obj, SegmentKind::Text).find(|p| p.verdict.is_shared()) {
            lab.see(format!(
                "{:<14} e.g. text page at offset {:#x}: {}, verdict {}",
                "",
                p.offset,
                view::frames(p, &r),
                p.verdict.name()
            ));
        }
        saved_pages += view::pages_of(obj, SegmentKind::Text)
            .filter(|p| p.verdict.is_shared())
            .map(|p| view::present_count(p).saturating_sub(1))
            .sum::<usize>();
        pass &= t.shared > 0 && t.not_shared.is_empty();
    }
    lab.see(format!(
        "one copy instead of three{}: {} of text not duplicated in these two objects alone",
        if is_weak {
            " (as far as pagemap bits can tell)"
        } else {
            ""
        },
        kib(saved_pages)
    ));
    Ok(Outcome {
        pass,
        weak: is_weak,
        why: if pass {
            format!(
                "every text page present in two or more processes {}; sharing saved {}",
                if is_weak {
                    "looks shared (bit 56 clear in each)"
                } else {
                    "is one frame"
                },
                kib(saved_pages)
            )
        } else {
            format!(
                "some text pages do not {} (see the offsets above)",
                if is_weak {
                    "look shared"
                } else {
                    "share one frame"
                }
            )
        },
    })
}
