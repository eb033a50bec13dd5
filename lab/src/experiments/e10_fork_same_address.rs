//! Experiment 10: a parent and its forked child, libsolib.so's `.data` at one address: one
//! frame until the child writes, then two, as solab family and pagemap show.

use super::{Experiment, Outcome, pagemap_entry};
use crate::ctx::{As, Lab, field_u64};
use anyhow::{Result, anyhow};
use solab::commands::family::{FamilyReport, MappingFigures};

pub const EXPERIMENT: Experiment = Experiment {
    id: 10,
    title: "Fork: same address, one frame until written",
    question: "A process writes its .data page, then forks. Parent and child have libsolib.so's .data at the same address: is it one frame behind both, as solab family says? When the child writes, does it get a copy at that same address?",
    run: fork_same_address,
};

/// The figures `solab family` gives for the child's mapping that holds `addr`.
fn family_mapping(report: &FamilyReport, child: i32, addr: u64) -> Result<MappingFigures> {
    let member = report
        .processes
        .iter()
        .find(|m| m.pid == child)
        .ok_or_else(|| anyhow!("solab family lists no child {child}"))?;
    member
        .mappings
        .iter()
        .find(|m| m.start <= addr && addr < m.end)
        .cloned()
        .ok_or_else(|| {
            anyhow!("solab family shows no anonymous page of child {child} at {addr:#x}")
        })
}

/// "mapping 7f..-7f.. rw-p libsolib.so: 2 pages parents-frame, 0 copied, 0 new"
fn family_words(m: &MappingFigures, weak: bool) -> String {
    let name = m.name.rsplit('/').next().unwrap_or(&m.name);
    let (shared, word) = if weak {
        (m.pages.looks_inherited, "looks-inherited")
    } else {
        (m.pages.parents_frame, "parents-frame")
    };
    format!(
        "mapping {:#x}-{:#x} {} {name}: {} page(s) {word}, {} copied, {} new",
        m.start,
        m.end,
        m.perms,
        shared / 4096,
        m.pages.copied / 4096,
        m.pages.new / 4096
    )
}

/// The pagemap word of `addr` in `pid`, in the words of the lab.
fn page_words(e: solab::page_words::PagemapEntry) -> String {
    match (e.present(), e.pfn()) {
        (false, _) => "not present".into(),
        (true, Some(p)) => format!("frame {:#x}", p.0),
        (true, None) => format!(
            "present, {} (no frame numbers: weak)",
            if e.exclusive() {
                "exclusive (bit 56 set)"
            } else {
                "not exclusive (bit 56 clear)"
            }
        ),
    }
}

fn fork_same_address(lab: &mut Lab) -> Result<Outcome> {
    let mut a = lab.host("A", As::Me, &["touch", "add:1,2"])?;
    let line = lab.act(&mut a, "addrs")?;
    let data = field_u64(&line, "data")?;
    let page = data & !4095;
    let fork = lab.act(&mut a, "fork")?;
    let child = field_u64(&fork, "child")? as i32;
    let said = lab.act(&mut a, "child:addrs")?;
    let child_data = field_u64(&said, "data")?;
    let same_address = child_data == data;
    lab.see(format!(
        "1. A (pid {}) wrote its private counter in libsolib.so's .data, then forked child {child}: the counter is at {data:#x} in A and at {child_data:#x} in the child",
        a.pid
    ));

    // 2. One frame behind both, as family and pagemap say.
    let before = lab.family(As::Me, &a)?;
    let is_weak = before.weak;
    let m_before = family_mapping(&before, child, page)?;
    let (pa, pc) = (pagemap_entry(a.pid, page)?, pagemap_entry(child, page)?);
    lab.see(format!(
        "2. solab family, the child's {}",
        family_words(&m_before, is_weak)
    ));
    lab.see(format!(
        "   the page at {page:#x}: A {}; child {}",
        page_words(pa),
        page_words(pc)
    ));
    let shared_before = if is_weak {
        m_before.pages.looks_inherited > 0
            && pa.present()
            && pc.present()
            && !pa.exclusive()
            && !pc.exclusive()
    } else {
        m_before.pages.parents_frame > 0 && pa.pfn().is_some() && pa.pfn() == pc.pfn()
    } && m_before.pages.copied == 0;

    // 3. The child writes: a copy, at the same address.
    let add = lab.act(&mut a, "child:add:3,4")?;
    let after = lab.family(As::Me, &a)?;
    let m_after = family_mapping(&after, child, page)?;
    let (qa, qc) = (pagemap_entry(a.pid, page)?, pagemap_entry(child, page)?);
    let mine = lab.act(&mut a, "counters")?;
    let child_calls = field_u64(&add, "private_calls")?;
    let a_calls = field_u64(&mine, "private_calls")?;
    lab.see(format!(
        "3. after the child's solib_add(3, 4), solab family, the child's {}",
        family_words(&m_after, is_weak)
    ));
    lab.see(format!(
        "   the page at {page:#x}: A {}; child {}",
        page_words(qa),
        page_words(qc)
    ));
    lab.see(format!(
        "   the counter at {data:#x}: {a_calls} call(s) in A, {child_calls} in the child"
    ));
    let copied = m_after.pages.copied > m_before.pages.copied
        && qc.present()
        && qc.exclusive()
        && (is_weak || (qa.pfn().is_some() && qc.pfn().is_some() && qa.pfn() != qc.pfn()));
    let counters_apart = a_calls == 1 && child_calls == 2;
    lab.see(format!(
        "4. one address: {}; the address never said which memory. Reasoning from addresses (a DLL at the same base in every process, so the same pages) is the inference this refutes",
        if is_weak {
            "first not exclusive in either, then the child's page exclusive (weak: no frame numbers)"
        } else {
            "first one frame, then two"
        }
    ));
    lab.act(&mut a, "child:exit")?;
    let pass = same_address && shared_before && copied && counters_apart;
    Ok(Outcome {
        pass,
        weak: is_weak,
        why: if !pass {
            format!(
                "same address: {same_address}; shared before the child wrote: {shared_before}; copied after: {copied}; counters apart (A 1, child 2): {counters_apart} (A {a_calls}, child {child_calls})"
            )
        } else if is_weak {
            "parent and child had the .data page at the same address, not exclusive in either (looks inherited, weak: no frame numbers) until the child wrote; then the child's page was its own copy, at the same address, holding another count: the same address never meant the same memory".into()
        } else {
            "parent and child had the .data page at the same address on one frame until the child wrote; then the child had its own copy on another frame, at the same address, holding another count: the same address never meant the same memory".into()
        },
    })
}
