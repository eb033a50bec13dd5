//! ELF bytes through the whole inspect path: plan, place, attribute, page states and
//! verdicts, text and SVG. The input is the object; a consistent /proc/PID/maps (one
//! mapping per PT_LOAD's file part, its `.bss` tail anonymous) is written for it at a
//! fixed base in three processes, and their pagemap and kpage words are read from the
//! input too. Never a panic; placement finds the base it was given whenever a file part
//! is mapped; every page of the plan is reported once per process; the picture stays
//! linear in pages × processes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use solab::addr::{page_down, page_up};
use solab::commands::inspect::pages_from_words;
use solab::elf::{self, Detail};
use solab::page_words::{FrameInfo, KpageFlags, PagemapEntry};
use solab::inspect_report::{InspectReport, ObjectInProcess, ObjectKind, ObjectReport, ProcessInfo};
use solab::{PAGE_SIZE, Pfn};
use std::collections::HashMap;

const BASE: u64 = 0x7f00_0000_0000;
const PIDS: [i32; 3] = [101, 102, 103];
/// Pages planned beyond this are left to `elf_plan`: the per-page work here would make a
/// 4 GiB image (the planner's limit) a ten-second input.
const MAX_PAGES: u64 = 1 << 16;

/// The `i`-th little-endian word of `data`, or 0 past its end.
fn word(data: &[u8], i: usize) -> u64 {
    let at = i.saturating_mul(8);
    data.get(at..at.saturating_add(8))
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
        .unwrap_or(0)
}

fuzz_target!(|data: &[u8]| {
    let Ok(plan) = elf::plan_bytes(data, Detail::Full) else { return };
    let elf_report = solab::commands::elf::ElfReport::new("fuzz".into(), &plan);
    let _ = solab::output::text::render_elf(&elf_report);
    if plan.page_count() > MAX_PAGES || plan.segments.is_empty() {
        return;
    }
    let bias = BASE.wrapping_sub(plan.image_start);
    let mut maps = String::new();
    let mut file_parts = 0;
    for seg in &plan.segments {
        let f = seg.p_flags;
        let perms = format!(
            "{}{}{}p",
            if f.readable() { 'r' } else { '-' },
            if f.writable() { 'w' } else { '-' },
            if f.executable() { 'x' } else { '-' }
        );
        let start = page_down(seg.p_vaddr).wrapping_add(bias);
        let file_end = page_up(seg.p_vaddr.saturating_add(seg.p_filesz)).wrapping_add(bias);
        let mem_end = page_up(seg.p_vaddr.saturating_add(seg.p_memsz)).wrapping_add(bias);
        if file_end > start {
            file_parts += 1;
            maps.push_str(&format!(
                "{start:x}-{file_end:x} {perms} {:08x} fe:00 99 /fuzz/lib.so\n",
                page_down(seg.p_offset)
            ));
        }
        if mem_end > file_end.max(start) {
            maps.push_str(&format!(
                "{:x}-{mem_end:x} {perms} 00000000 00:00 0 \n",
                file_end.max(start)
            ));
        }
    }
    let entries = solab::maps::parse_maps(maps.as_bytes())
        .unwrap_or_else(|e| panic!("the synthesized maps do not parse: {e:?}\n{maps}"));
    let Some(id) = entries.iter().find_map(|m| m.file_id()) else {
        assert_eq!(file_parts, 0);
        return;
    };
    let placement = solab::placement::place(&plan, &entries, id)
        .unwrap_or_else(|e| panic!("placing a consistent mapping failed: {e}\n{maps}"));
    let image_pages = (placement.end.0 - placement.base.0) / PAGE_SIZE;
    assert_eq!(image_pages, (plan.image_end - plan.image_start) / PAGE_SIZE);

    // Pagemap words from the input (process k, page i: word 3i + k), kpage words from its
    // end. An odd last byte makes it an unprivileged scan: PFNs read 0, no kpage words.
    let weak = data.last().is_some_and(|b| b & 1 == 1);
    let pfn_mask = if weak { !((1u64 << 55) - 1) } else { u64::MAX };
    let procs: Vec<(i32, &[solab::maps::MapEntry], solab::placement::Placement, Vec<PagemapEntry>)> =
        PIDS.iter()
            .enumerate()
            .map(|(k, &pid)| {
                let words = (0..image_pages as usize)
                    .map(|i| PagemapEntry(word(data, i * 3 + k) & pfn_mask))
                    .collect();
                (pid, entries.as_slice(), placement.clone(), words)
            })
            .collect();
    let mut frames: HashMap<Pfn, FrameInfo> = HashMap::new();
    let nwords = (data.len() / 8).max(1);
    for (n, pfn) in procs
        .iter()
        .flat_map(|p| p.3.iter().filter_map(|e| e.pfn()))
        .enumerate()
    {
        let w = word(data, nwords - 1 - n % nwords);
        frames.entry(pfn).or_insert(FrameInfo {
            mapcount: w >> 48,
            flags: KpageFlags(w),
        });
    }
    let pages = pages_from_words(&plan, Some(id), &procs, &frames);
    let total: u64 = pages.iter().map(|p| p.pages).sum();
    assert_eq!(total, plan.page_count(), "every planned page reported once");
    for p in &pages {
        assert_eq!(p.procs.len(), PIDS.len());
        assert!(p.pages >= 1);
    }

    let report = InspectReport {
        schema: solab::inspect_report::INSPECT_SCHEMA.into(),
        evidence: if weak {
            solab::kernel::Evidence::Bits
        } else {
            solab::kernel::Evidence::Frames
        },
        kernel: solab::kernel::config::KernelFacts {
            release: "fuzz".into(),
            mapcount: solab::kernel::config::Mapcount::PerPage,
            source: None,
        },
        privileged: !weak,
        privilege_note: weak.then(|| "fuzz: weak".into()),
        pids: PIDS.to_vec(),
        processes: PIDS
            .iter()
            .map(|&pid| ProcessInfo {
                pid,
                comm: "fuzz".into(),
                uid: Some(0),
                ppid: None,
            })
            .collect(),
        errors: Vec::new(),
        skipped: Vec::new(),
        objects: vec![ObjectReport {
            path: "/fuzz/lib.so".into(),
            kind: ObjectKind::Elf,
            dev: None,
            inode: None,
            build_id: plan.build_id.clone(),
            soname: plan.soname.clone(),
            textrel: plan.textrel,
            bind_now: plan.bind_now,
            has_shared_section: plan.has_shared_section,
            weak,
            summary: solab::inspect_report::summarize(&pages),
            procs: PIDS
                .iter()
                .map(|&pid| ObjectInProcess {
                    pid,
                    path: "/fuzz/lib.so".into(),
                    deleted: false,
                    load_base: placement.base,
                    load_bias: placement.bias,
                    mappings: Vec::new(),
                })
                .collect(),
            pages,
        }],
    };
    let style = solab::output::terminal::Style { color: false };
    let text = solab::output::text::render_inspect(&report, true, style, None);
    assert!(!text.is_empty());
    let picture = solab::output::svg::render(&report);
    let cells = report.objects[0].pages.len() * PIDS.len();
    assert!(
        picture.len() < 100_000 + 2_000 * cells,
        "{} bytes for {cells} cells",
        picture.len()
    );
});
