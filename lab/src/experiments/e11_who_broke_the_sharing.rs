//! Experiment 11: who broke the sharing. A parent that wrote libsolib.so's `.data` forks;
//! the child calls `solib_add` while `solab family --record` records the family's page
//! faults: the page the child copied is given to the function that wrote it.

use super::{Experiment, Outcome};
use crate::ctx::{As, Lab, field_u64};
use anyhow::{Result, anyhow};

pub const EXPERIMENT: Experiment = Experiment {
    id: 11,
    title: "Who broke the sharing",
    question: "A parent forks; the child calls solib_add, which counts the call in libsolib.so's .data. solab family says how many pages the child copied; can it also say which function wrote each one, from the page faults the kernel reports?",
    run: who_broke_the_sharing,
};

fn who_broke_the_sharing(lab: &mut Lab) -> Result<Outcome> {
    let mut a = lab.host("A", As::Me, &["touch", "add:1,2"])?;
    let line = lab.act(&mut a, "addrs")?;
    let page = field_u64(&line, "data")? & !4095;
    let fork = lab.act(&mut a, "fork")?;
    let child = field_u64(&fork, "child")? as i32;
    lab.see(format!(
        "1. A (pid {}) wrote libsolib.so's .data page at {page:#x} and forked child {child}",
        a.pid
    ));
    let report = lab.family_record(As::Me, a.pid, 1, |lab| {
        lab.act(&mut a, "child:add:3,4").map(|_| ())
    })?;
    let r = &report.recording;
    lab.see(format!(
        "2. recorded while the child called solib_add(3, 4): {} page faults, {} lost",
        r.faults, r.lost
    ));
    let m = report
        .processes
        .iter()
        .find(|m| m.pid == child)
        .ok_or_else(|| anyhow!("solab family --record lists no child {child}"))?;
    let at = &m.attribution;
    lab.see(format!(
        "3. the child copied {} KiB from A's frames in the window ({} KiB seen, {} KiB by the \
         parent, {} KiB not seen)",
        at.copied.bytes / 1024,
        at.copied.seen / 1024,
        at.copied.by_parent / 1024,
        at.copied.not_seen / 1024
    ));
    // The library's rows; the lab-host's own work around the action (reading stdin,
    // allocating) differs from run to run, so it is summed.
    let (ours, others): (Vec<_>, Vec<_>) = at
        .functions
        .iter()
        .filter(|f| f.copied > 0)
        .partition(|f| f.function.starts_with("libsolib.so!"));
    for f in &ours {
        lab.see(format!(
            "   {} KiB copied by {} ({})",
            f.copied / 1024,
            f.function,
            f.by.name()
        ));
    }
    lab.see(format!(
        "   {} KiB copied outside libsolib.so, by the lab-host's own work around the action \
         (reading its input, allocating)",
        others.iter().map(|f| f.copied).sum::<u64>() / 1024
    ));
    let by_add = at
        .functions
        .iter()
        .filter(|f| f.function.ends_with("!solib_add") && f.copied > 0)
        .map(|f| f.copied)
        .sum::<u64>();
    lab.see(format!(
        "4. the copies have names: solib_add in libsolib.so wrote {} KiB of them; the count of pages alone never said who",
        by_add / 1024
    ));
    lab.act(&mut a, "child:exit")?;
    let pass = by_add >= 4096;
    Ok(Outcome {
        pass,
        weak: report.weak,
        why: if pass {
            format!(
                "the pages the child copied in libsolib.so (its .data and .bss counters) were given to the function that wrote them, libsolib.so!solib_add, through the first page fault the child took on it ({} faults recorded)",
                r.faults
            )
        } else {
            format!(
                "no page copied by the child was given to solib_add ({} KiB copied, {} KiB not seen, {} faults lost)",
                at.copied.bytes / 1024,
                at.copied.not_seen / 1024,
                r.lost
            )
        },
    })
}
