//! pagemap / kpagecount / kpageflags words: decoding any bytes never panics; PFNs only
//! come from present entries; windows cover every frame exactly once within their limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use solab::Pfn;
use solab::page_words::{KpageFlags, PagemapEntry, decode_words, pfn_windows};

fuzz_target!(|data: &[u8]| {
    let words = decode_words(data);
    assert_eq!(words.len(), data.len() / 8);
    for &w in &words {
        let e = PagemapEntry(w);
        if let Some(pfn) = e.pfn() {
            assert!(e.present() && pfn.0 != 0 && pfn.0 < 1 << 55);
        }
        let _ = format!("{e:?}");
        let f = KpageFlags(w);
        let _ = (f.names(), f.anon(), f.thp(), f.ksm(), f.zero_page(), format!("{f:?}"));
    }
    // Windows over the PFNs the words name, as kernel::kpage reads them.
    let (gap, len) = match words.first() {
        Some(&w) => ((w & 0xffff), ((w >> 16) & 0xffff).max(1)),
        None => (64, 4096),
    };
    let mut pfns: Vec<Pfn> = words.iter().map(|&w| Pfn(w & ((1 << 55) - 1))).collect();
    pfns.sort();
    pfns.dedup();
    let windows = pfn_windows(&pfns, gap, len);
    let mut i = 0;
    for (first, last) in &windows {
        assert!(first <= last && last.0 - first.0 < len);
        while i < pfns.len() && pfns[i] <= *last {
            assert!(pfns[i] >= *first);
            i += 1;
        }
    }
    assert_eq!(i, pfns.len());
});
