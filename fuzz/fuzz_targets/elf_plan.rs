//! ELF bytes: `plan` must return a plan or an error, never panic, hang or exhaust memory;
//! a plan's runs and pages are sorted and consistent, and it prints as text and JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use solab::elf;

fuzz_target!(|data: &[u8]| {
    let Ok(plan) = elf::plan(data) else { return };
    assert!(plan.image_start <= plan.image_end);
    for r in &plan.runs {
        assert!(r.pages > 0, "an empty run at {:#x}", r.vaddr);
    }
    for w in plan.runs.windows(2) {
        assert!(w[0].end_vaddr() <= w[1].vaddr, "runs overlap or unsorted: {:#x} {:#x}", w[0].vaddr, w[1].vaddr);
    }
    let mut last: Option<u64> = None;
    let mut n = 0u64;
    for p in plan.pages() {
        if let Some(l) = last {
            assert!(l < p.vaddr, "pages not sorted: {l:#x} {:#x}", p.vaddr);
        }
        last = Some(p.vaddr);
        n += 1;
        assert_eq!(p.vaddr % solab::PAGE_SIZE, 0);
        assert_eq!(p.offset, p.vaddr - plan.image_start);
        assert!(p.vaddr >= plan.image_start && p.vaddr < plan.image_end);
        assert!((p.load as usize) < plan.segments.len());
        assert_eq!(plan.page_at_vaddr(p.vaddr).map(|q| q.vaddr), Some(p.vaddr));
    }
    assert_eq!(n, plan.page_count());
    let report = solab::commands::elf::ElfReport::new("fuzz".into(), &plan);
    let _ = solab::output::text::render_elf(&report);
    let _ = serde_json::to_string(&report).expect("a plan serializes");
});
