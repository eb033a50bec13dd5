//! Experiment 3: the .data page before and after one process writes (copy-on-write), and
//! the arguments on each process's own stack.

use super::{Experiment, Outcome, hosts, pagemap_entry, refs, weak};
use crate::ctx::{As, Lab, field, field_u64};
use crate::view;
use anyhow::Result;
use solab::sharing::PageState;

pub const EXPERIMENT: Experiment = Experiment {
    id: 3,
    title: "Data is private: copy-on-write, live",
    question: "Before anyone writes, is the .data page the file's frame in all three? After A writes its counter, does A alone get a copy? Do arguments and counters stay each process's own?",
    run: data_is_private,
};

fn data_is_private(lab: &mut Lab) -> Result<Outcome> {
    let mut hs = hosts(lab, As::Me, &["A", "B", "C"], &["touch"])?;
    let line = lab.act(&mut hs[0], "addrs")?;
    let data_off = field_u64(&line, "data")? - field_u64(&line, "base")?;

    let before = lab.inspect(As::Me, "libsolib.so", &refs(&hs))?;
    let page = view::page_at(view::object(&before, "libsolib.so")?, data_off)?;
    let r = refs(&hs);
    lab.see(format!(
        "before any write: .data page at offset {data_off:#x} ({}): {}; states {}, verdict {}",
        page.sections.join(" "),
        view::frames(page, &r),
        r.iter()
            .map(|h| view::state(page, h))
            .collect::<Vec<_>>()
            .join("/"),
        page.verdict.name()
    ));
    let untouched_shared = page.verdict == view::shared_verdict(weak(&before))
        && r.iter().all(|h| view::state_is(page, h, PageState::File));

    let a = lab.act(&mut hs[0], "add:10,20")?;
    let after = lab.inspect(As::Me, "libsolib.so", &refs(&hs))?;
    let page = view::page_at(view::object(&after, "libsolib.so")?, data_off)?;
    let r = refs(&hs);
    lab.see(format!(
        "after A wrote its counter: {}",
        view::frames(page, &r)
    ));
    let (sa, sb, sc) = (
        view::state(page, r[0]),
        view::state(page, r[1]),
        view::state(page, r[2]),
    );
    let (pa, pb, pc) = (
        view::pfn(page, r[0]),
        view::pfn(page, r[1]),
        view::pfn(page, r[2]),
    );
    let copied = view::state_is(page, r[0], PageState::AnonExclusive)
        && view::state_is(page, r[1], PageState::File)
        && view::state_is(page, r[2], PageState::File)
        && (weak(&after) || (pa != pb && pb == pc));

    let b = lab.act(&mut hs[1], "add:30,40")?;
    let stack_a = pagemap_entry(hs[0].pid, field_u64(&a, "args_at")?)?;
    let stack_b = pagemap_entry(hs[1].pid, field_u64(&b, "args_at")?)?;
    lab.see(format!(
        "A's arguments (10, 20) at {} on its stack: {:?}",
        field(&a, "args_at").unwrap_or("?"),
        stack_a
    ));
    lab.see(format!(
        "B's arguments (30, 40) at {} on its stack: {:?}",
        field(&b, "args_at").unwrap_or("?"),
        stack_b
    ));
    let stacks_private = stack_a.present()
        && stack_b.present()
        && !stack_a.file_or_shared_anon()
        && !stack_b.file_or_shared_anon()
        && match (stack_a.pfn(), stack_b.pfn()) {
            (Some(x), Some(y)) => x != y,
            _ => stack_a.exclusive() && stack_b.exclusive(),
        };
    let counters = (
        field_u64(&a, "private_calls")?,
        field_u64(&b, "private_calls")?,
        field_u64(&b, "shared_calls")?,
        field_u64(&a, "result")?,
        field_u64(&b, "result")?,
    );
    lab.see(format!(
        "A: solib_add(10, 20) = {}, its private counter {}; B: solib_add(30, 40) = {}, its private counter {}; shared counter {}",
        counters.3, counters.0, counters.4, counters.1, counters.2
    ));
    let counted = counters == (1, 1, 2, 30, 70);
    let pass = untouched_shared && copied && stacks_private && counted;
    Ok(Outcome {
        pass,
        weak: weak(&after),
        why: if pass {
            if weak(&after) {
                "the unwritten .data page was a file page in all three (looks shared); A's write gave A alone an exclusive anonymous copy; stacks and private counters are each process's own".into()
            } else {
                "the unwritten .data page was the file's frame in all three; A's write gave A alone a private copy; stacks and private counters are each process's own".into()
            }
        } else {
            format!(
                "shared before writing: {untouched_shared}; copied on write: {copied} ({sa}/{sb}/{sc}); private stacks: {stacks_private}; counters right: {counted}"
            )
        },
    })
}
