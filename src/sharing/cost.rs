//! What a process costs (`solab ps`): the class of each mapping and the per-process
//! words RSS, PSS, USS, SWAP and SWAP-USS.
//!
//! A frame's count is its /proc/kpagecount entry: the page-table entries that map it
//! (Documentation/admin-guide/mm/pagemap.rst), not the processes. A page whose frame is
//! mapped once by its pagemap word alone ([`super::mapped_once`]) counts 1 without a read.

use crate::addr::PAGE_SIZE;
use serde::{Deserialize, Serialize};

/// Where a page of a process's memory belongs, for `solab ps`: decided per mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MemClass {
    /// The mappings of an ELF object (its file mappings, its `.bss` tail, the vdso).
    Elf,
    /// Private anonymous memory outside every object: heap, stacks, arenas.
    Anon,
    /// `MAP_SHARED` mappings: the shared section, /dev/shm, shared anonymous memory.
    Shared,
    /// Private mappings of files that are not ELF objects (locale archives, caches).
    Files,
}

impl MemClass {
    pub const ALL: [MemClass; 4] = [
        MemClass::Elf,
        MemClass::Anon,
        MemClass::Shared,
        MemClass::Files,
    ];

    pub fn name(self) -> &'static str {
        match self {
            MemClass::Elf => "elf",
            MemClass::Anon => "anon",
            MemClass::Shared => "shared",
            MemClass::Files => "files",
        }
    }

    pub fn meaning(self) -> &'static str {
        match self {
            MemClass::Elf => "an ELF object's mappings: its file, its .bss tail, the vdso",
            MemClass::Anon => "private anonymous memory outside every object: heap, stacks, arenas",
            MemClass::Shared => {
                "MAP_SHARED mappings: the shared section, /dev/shm, shared anonymous memory"
            }
            MemClass::Files => "private mappings of files that are not ELF objects",
        }
    }
}

/// The class of a mapping: `MAP_SHARED` first (a shared section inside an object is
/// shared memory), then an object's own range, then other files, then anonymous memory.
pub fn mem_class(map_shared: bool, in_object: bool, is_file: bool) -> MemClass {
    if map_shared {
        MemClass::Shared
    } else if in_object {
        MemClass::Elf
    } else if is_file {
        MemClass::Files
    } else {
        MemClass::Anon
    }
}

/// The words of the columns `ps --percent` and `solab top` add, with their one definition.
pub const VIEW_WORDS: [(&str, &str); 3] = [
    (
        "PSS%",
        "PSS as a percentage of the machine's memory (MemTotal of /proc/meminfo)",
    ),
    (
        "DELTA",
        "change of the sorted column (PSS when it is not a size) since the previous table of solab top; new: the process was not in it",
    ),
    (
        "SINCE-START",
        "change of the same column since the first table of solab top, or since the process first appeared in one",
    ),
];

/// The per-process cost words of `solab ps`, with their one definition.
pub const COST_WORDS: [(&str, &str); 5] = [
    (
        "RSS",
        "resident set: present pages of the process (not the zero page nor PFN-mapped pages)",
    ),
    (
        "PSS",
        "proportional set: each present page counts page_size / kpagecount of its frame",
    ),
    (
        "USS",
        "unique set: present pages whose frame is mapped once (kpagecount 1): what the process's exit would free, but for file pages, which stay in the page cache",
    ),
    (
        "SWAP",
        "proportional swap: each page in swap counts page_size / the number of page tables holding its swap entry (the kernel's SwapPss); shared memory in swap (smaps `Swap` of a `MAP_SHARED` mapping) divided by the scanned `MAP_SHARED` mappings of the same file overlapping its range",
    ),
    (
        "SWAP-USS",
        "unique swap: pages in swap whose swap entry no other page of the scanned processes holds (pagemap's swap entries, root), and the shared memory in swap of a `MAP_SHARED` mapping no other scanned mapping of the file overlaps",
    ),
];

/// What one page of a frame mapped `count` times adds to PSS: `PAGE_SIZE / count`; 0 for a
/// count of 0 (a PFN-mapped page such as `[vvar]`, or a frame freed since its count was
/// read: not memory a process holds, nor RSS).
pub fn pss_share(count: u64) -> f64 {
    if count > 0 {
        PAGE_SIZE as f64 / count as f64
    } else {
        0.0
    }
}

/// Whether a page whose PSS share is `share` ([`pss_share`]) counts in USS: its frame is
/// mapped once (kpagecount 1), the only count whose share is a whole page.
#[inline(always)]
pub fn unique_share(share: f64) -> bool {
    share == PAGE_SIZE as f64
}

/// RSS, USS and PSS of a run of pages, by the share of each page's frame: `frame` gives the
/// frame of each of `pages` as its index in `shares` (a missing one has no share). Returns the
/// pages with a share (held: RSS), those of them mapped once (USS), and `pss` with each
/// share added in the order of the pages, so that the rounded sum is the same however the
/// pages were read. Not inlined, so that the sum stays in a register: summed in memory each
/// addition would wait for the store of the one before.
#[inline(never)]
pub fn sum_shares<P: Copy>(
    pages: &[P],
    frame: impl Fn(P) -> usize,
    shares: &[f64],
    mut pss: f64,
) -> (u64, u64, f64) {
    let (mut held, mut once) = (0u64, 0u64);
    for &p in pages {
        // Without branches: a share of 0 adds nothing to the sum (x + 0.0 == x).
        let s = shares.get(frame(p)).copied().unwrap_or(0.0);
        pss += s;
        held += u64::from(s != 0.0);
        once += u64::from(unique_share(s));
    }
    (held, once, pss)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_of_mappings() {
        assert_eq!(mem_class(true, true, true), MemClass::Shared);
        assert_eq!(mem_class(false, true, false), MemClass::Elf);
        assert_eq!(mem_class(false, false, true), MemClass::Files);
        assert_eq!(mem_class(false, false, false), MemClass::Anon);
    }

    #[test]
    fn shares_of_counts() {
        let page = PAGE_SIZE as f64;
        assert_eq!(pss_share(0), 0.0);
        assert_eq!(pss_share(1), page);
        assert_eq!(pss_share(3), page / 3.0);
        assert!(unique_share(pss_share(1)));
        assert!(!unique_share(pss_share(2)));
        assert!(!unique_share(pss_share(0)));
    }

    #[test]
    fn shares_summed_in_page_order() {
        let shares = [pss_share(1), pss_share(3), pss_share(0), pss_share(7)];
        let pages = [1usize, 3, 0, 2, 9, 3, 1, 0];
        let (held, once, pss) = sum_shares(&pages, |p| p, &shares, 0.1);
        // Frame 2 has a share of 0 and frame 9 none: neither is held.
        assert_eq!((held, once), (6, 2));
        let mut expected = 0.1;
        for &p in &pages {
            expected += shares.get(p).copied().unwrap_or(0.0);
        }
        assert_eq!(pss.to_bits(), expected.to_bits());
    }
}
