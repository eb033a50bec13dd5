//! ELF bytes: `plan` must return a plan or an error, never panic, hang or exhaust memory;
//! a plan's pages are sorted and consistent, and it prints as text and JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use solab::elf;

fuzz_target!(|data: &[u8]| {
    let Ok(plan) = elf::plan(data) else { return };
    assert!(plan.image_start <= plan.image_end);
    for w in plan.pages.windows(2) {
        assert!(w[0].vaddr < w[1].vaddr, "pages not sorted: {:#x} {:#x}", w[0].vaddr, w[1].vaddr);
    }
    for p in &plan.pages {
        assert_eq!(p.vaddr % solab::PAGE_SIZE, 0);
        assert_eq!(p.offset, p.vaddr - plan.image_start);
        assert!(p.vaddr >= plan.image_start && p.vaddr < plan.image_end);
        assert!(p.load < plan.segments.len());
        assert_eq!(plan.page_at_vaddr(p.vaddr).map(|q| q.vaddr), Some(p.vaddr));
    }
    let _ = solab::output::render_elf("fuzz", &plan);
    let _ = serde_json::to_string(&plan).expect("a plan serializes");
});
