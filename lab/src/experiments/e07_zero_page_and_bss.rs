//! Experiment 7: `.bss` pages only read are the kernel's zero page; a written one is the
//! writer's own.

use super::{Experiment, Outcome, hosts, refs, weak};
use crate::ctx::{As, Lab, field_u64};
use crate::view;
use anyhow::Result;
use solab::sharing::PageState;

pub const EXPERIMENT: Experiment = Experiment {
    id: 7,
    title: "The zero page and .bss",
    question: "Are .bss pages that were only read the kernel's one zero page in every process, and written ones private?",
    run: zero_page_and_bss,
};

fn zero_page_and_bss(lab: &mut Lab) -> Result<Outcome> {
    let mut hs = hosts(lab, As::Me, &["A", "B", "C"], &["touch"])?;
    let line = lab.act(&mut hs[0], "addrs")?;
    let bss_off = field_u64(&line, "bss")? - field_u64(&line, "base")?;
    let before = lab.inspect(As::Me, "libsolib.so", &refs(&hs))?;
    let page = view::page_at(view::object(&before, "libsolib.so")?, bss_off)?;
    let r = refs(&hs);
    let is_weak = weak(&before);
    // Without kpageflags the zero page cannot be named: it is an anonymous page mapped by
    // many (bits 61 and 56 clear), which is what the weak reading calls anon-not-exclusive.
    let zero = if is_weak {
        PageState::AnonNotExclusive
    } else {
        PageState::ZeroPage
    };
    lab.see(format!(
        ".bss page at offset {bss_off:#x} ({}), only read: {}; states {}, verdict {}",
        page.sections.join(" "),
        view::frames(page, &r),
        r.iter()
            .map(|h| view::state(page, h))
            .collect::<Vec<_>>()
            .join("/"),
        page.verdict.name()
    ));
    let read_zero = r.iter().all(|h| view::state_is(page, h, zero))
        && page.verdict == view::shared_verdict(is_weak);
    drop(r);
    lab.act(&mut hs[0], "add:1,1")?;
    let after = lab.inspect(As::Me, "libsolib.so", &refs(&hs))?;
    let page = view::page_at(view::object(&after, "libsolib.so")?, bss_off)?;
    let r = refs(&hs);
    lab.see(format!(
        "after A wrote its .bss counter: {}",
        view::frames(page, &r)
    ));
    let written = view::state_is(page, r[0], PageState::AnonExclusive)
        && view::state_is(page, r[1], zero)
        && view::state_is(page, r[2], zero);
    let pass = read_zero && written;
    Ok(Outcome {
        pass,
        weak: is_weak,
        why: if pass && is_weak {
            "only-read .bss was one anonymous page mapped by all (the zero page, which only kpageflags can name); A's write gave A its own page".into()
        } else if pass {
            "read-only .bss is the kernel's single zero page everywhere; A's write gave A its own page".into()
        } else {
            format!(
                "only-read pages on the zero page: {read_zero}; written page private: {written}"
            )
        },
    })
}
