//! Experiment 4: the PT_GNU_RELRO pages of libsolib.so and libc, private copies in every
//! process because the loader wrote relocations on them.

use super::{Experiment, Outcome, hosts, refs, weak};
use crate::ctx::{As, Lab};
use crate::view;
use anyhow::Result;
use solab::elf::SegmentKind;
use solab::inspect_report::PageReport;
use solab::sharing::PageState;

pub const EXPERIMENT: Experiment = Experiment {
    id: 4,
    title: "Relocation makes pages private at load time",
    question: "Are the PT_GNU_RELRO pages (GOT, .data.rel.ro, .init_array), read-only once loaded, private copies from the start?",
    run: relro_is_private,
};

fn relro_is_private(lab: &mut Lab) -> Result<Outcome> {
    let hs = hosts(lab, As::Me, &["A", "B", "C"], &["touch-all"])?;
    let r = refs(&hs);
    let mut pass = true;
    let mut is_weak = false;
    for name in ["libsolib.so", "libc.so.6"] {
        let report = lab.inspect(As::Me, name, &r)?;
        is_weak |= weak(&report);
        let obj = view::object(&report, name)?;
        let relro: Vec<&PageReport> = view::pages_of(obj, SegmentKind::Relro).collect();
        let mut names: Vec<String> = relro.iter().flat_map(|p| p.sections.clone()).collect();
        names.sort();
        names.dedup();
        let private = relro
            .iter()
            .filter(|p| {
                r.iter()
                    .all(|h| view::state_is(p, h, PageState::AnonExclusive))
            })
            .count();
        let not: Vec<u64> = relro
            .iter()
            .filter(|p| {
                !r.iter()
                    .all(|h| view::state_is(p, h, PageState::AnonExclusive))
            })
            .map(|p| p.offset)
            .collect();
        lab.see(format!(
            "{name:<14} relro: {} pages ({}), {} private copies in A, B and C{}",
            relro.len(),
            names.join(" "),
            private,
            if not.is_empty() {
                String::new()
            } else {
                String::from(" (all of them)")
            }
        ));
        if let Some(p) = relro.first() {
            lab.see(format!(
                "{:<14} e.g. offset {:#x}: {}, verdict {}",
                "",
                p.offset,
                view::frames(p, &r),
                p.verdict.name()
            ));
        }
        if !not.is_empty() {
            lab.see(format!(
                "{:<14} not private everywhere: offsets {}",
                "",
                view::offsets(&not)
            ));
        }
        pass &= !relro.is_empty() && not.is_empty();
    }
    Ok(Outcome {
        pass,
        weak: is_weak,
        why: if pass {
            "the loader wrote relocations on every RELRO page before making it read-only, so each process has its own copy".into()
        } else {
            "some RELRO pages are not private copies in every process (offsets above)".into()
        },
    })
}
