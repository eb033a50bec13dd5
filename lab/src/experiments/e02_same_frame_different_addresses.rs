//! Experiment 2: dlsym gives three processes three addresses of solib_add; solab inspect
//! shows the one frame behind them.

use super::{Experiment, Outcome, hosts, refs, weak};
use crate::ctx::{As, Lab, field_u64};
use crate::view;
use anyhow::Result;

pub const EXPERIMENT: Experiment = Experiment {
    id: 2,
    title: "Same frame, different addresses",
    question: "dlsym(\"solib_add\") gives each process a different address (ASLR). Is the page behind it still one frame?",
    run: same_frame_different_addresses,
};

fn same_frame_different_addresses(lab: &mut Lab) -> Result<Outcome> {
    let mut hs = hosts(lab, As::Me, &["A", "B", "C"], &["touch"])?;
    let mut addrs = Vec::new();
    for h in hs.iter_mut() {
        let line = lab.act(h, "addrs")?;
        addrs.push((
            field_u64(&line, "solib_add")?,
            field_u64(&line, "solib_add_offset")?,
        ));
    }
    let r = refs(&hs);
    let report = lab.inspect(As::Me, "libsolib.so", &r)?;
    let obj = view::object(&report, "libsolib.so")?;
    let page = view::page_at(obj, addrs[0].1)?;
    for (h, (addr, _)) in hs.iter().zip(&addrs) {
        lab.see(format!(
            "{}: dlsym(\"solib_add\") = {addr:#x}, page {:#x}",
            h.name,
            addr & !4095
        ));
    }
    lab.see(format!(
        "libsolib.so offset {:#x} (the page of solib_add, sections {}): {}, verdict {}",
        page.offset,
        page.sections.join(" "),
        view::frames(page, &r),
        page.verdict.name()
    ));
    let distinct = {
        let mut a: Vec<u64> = addrs.iter().map(|a| a.0).collect();
        a.sort();
        a.dedup();
        a.len() == addrs.len()
    };
    let aslr = std::fs::read_to_string("/proc/sys/kernel/randomize_va_space")
        .map(|s| s.trim() != "0")
        .unwrap_or(true);
    let same_offset = addrs.iter().all(|a| a.1 == addrs[0].1);
    let is_weak = weak(&report);
    let one_frame = page.verdict == view::shared_verdict(is_weak);
    let pass = one_frame && same_offset && (distinct || !aslr);
    lab.see(
        "on Windows a DLL keeps one base address in every process (the text this lab starts from); \
         on Linux ASLR picks a new base per process, and position-independent code lets one frame \
         serve at every address"
            .to_string(),
    );
    Ok(Outcome {
        pass,
        weak: is_weak,
        why: match (pass, distinct, is_weak) {
            (true, true, false) => "three different addresses, one frame behind them".into(),
            (true, true, true) => {
                "three different addresses; the page behind them looks shared (bit 56 clear in each)"
                    .into()
            }
            (true, false, _) => format!(
                "ASLR is off on this machine (randomize_va_space=0): same addresses, {}",
                if is_weak {
                    "the page looks shared"
                } else {
                    "one frame"
                }
            ),
            _ => format!(
                "addresses distinct: {distinct}, same offset: {same_offset}, verdict {} (wanted {})",
                page.verdict.name(),
                view::shared_verdict(is_weak).name()
            ),
        },
    })
}
