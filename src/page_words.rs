//! Decoding /proc/PID/pagemap, /proc/kpagecount and /proc/kpageflags entries
//! (Documentation/admin-guide/mm/pagemap.rst; flag numbers from
//! include/uapi/linux/kernel-page-flags.h).
//!
//! Pure: the functions here take the u64 words the kernel wrote. Reading the files is in
//! [`crate::kernel`]. Privilege: without CAP_SYS_ADMIN the PFN field of pagemap reads 0
//! (since 4.2) and kpagecount/kpageflags cannot be opened; bits 56, 61, 62, 63 stay.

use crate::addr::Pfn;
use serde::Serialize;

/// One pagemap word: what the page table says about one virtual page. Transparent, so
/// pagemap is read straight into a buffer of them.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
#[repr(transparent)]
pub struct PagemapEntry(pub u64);

const PFN_MASK: u64 = (1 << 55) - 1;
const SOFT_DIRTY: u64 = 1 << 55;
const EXCLUSIVE: u64 = 1 << 56;
const FILE_OR_SHARED_ANON: u64 = 1 << 61;
const SWAPPED: u64 = 1 << 62;
const PRESENT: u64 = 1 << 63;

impl PagemapEntry {
    /// Bit 63: a frame backs the page now.
    pub fn present(self) -> bool {
        self.0 & PRESENT != 0
    }
    /// Bit 62: the page is in swap.
    pub fn swapped(self) -> bool {
        self.0 & SWAPPED != 0
    }
    /// Bit 61: a file page or shared anonymous (shmem) page; clear for private anonymous.
    pub fn file_or_shared_anon(self) -> bool {
        self.0 & FILE_OR_SHARED_ANON != 0
    }
    /// Bit 56: the frame is mapped exactly once (mapcount 1), by this page table entry.
    pub fn exclusive(self) -> bool {
        self.0 & EXCLUSIVE != 0
    }
    /// Bit 55: written since the soft-dirty bits were last cleared.
    pub fn soft_dirty(self) -> bool {
        self.0 & SOFT_DIRTY != 0
    }
    /// Bits 0-54 when present and visible; `None` when not present or hidden (reads 0).
    pub fn pfn(self) -> Option<Pfn> {
        let pfn = self.0 & PFN_MASK;
        (self.present() && pfn != 0).then_some(Pfn(pfn))
    }
    /// Bits 0-54 of a page in swap: its swap entry, the swap type in bits 0-4 and the
    /// offset in the swap area in bits 5-54 (fs/proc/task_mmu.c, `MAX_SWAPFILES_SHIFT`);
    /// `None` when not in swap or hidden (reads 0 without CAP_SYS_ADMIN; offset 0 of a
    /// swap area is its header, never a page's).
    pub fn swap_entry(self) -> Option<u64> {
        let entry = self.0 & PFN_MASK;
        (!self.present() && self.swapped() && entry != 0).then_some(entry)
    }
}

impl std::fmt::Debug for PagemapEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PagemapEntry({:#018x}: present={} swapped={} file={} exclusive={} pfn={:?})",
            self.0,
            self.present(),
            self.swapped(),
            self.file_or_shared_anon(),
            self.exclusive(),
            self.pfn()
        )
    }
}

/// Word `i` of `bytes`, little-endian u64 words as one `pread` of /proc/kpagecount or
/// /proc/kpageflags returns them ([`crate::kernel::kpage`] decodes each word it reads
/// through this); 0 where the buffer holds no whole word `i`.
pub fn word_at(bytes: &[u8], i: usize) -> u64 {
    i.checked_mul(8)
        .and_then(|k| bytes.get(k..k.checked_add(8)?))
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

/// Every whole word of `bytes` through [`word_at`], a short tail ignored. Only the
/// property tests and the fuzz target call it: they feed it any bytes, so that the
/// decoding the kernel readers use is exercised on every length and content.
pub fn decode_words(bytes: &[u8]) -> Vec<u64> {
    (0..bytes.len() / 8).map(|i| word_at(bytes, i)).collect()
}

/// One /proc/kpageflags word.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct KpageFlags(pub u64);

/// The kpageflags bits the analyzer names, with the kernel's names.
pub const KPF_NAMES: &[(u32, &str)] = &[
    (4, "dirty"),
    (5, "lru"),
    (10, "buddy"),
    (11, "mmap"),
    (12, "anon"),
    (13, "swapcache"),
    (14, "swapbacked"),
    (15, "compound_head"),
    (16, "compound_tail"),
    (17, "huge"),
    (21, "ksm"),
    (22, "thp"),
    (24, "zero_page"),
];

pub const KPF_MMAP: u32 = 11;
pub const KPF_ANON: u32 = 12;
pub const KPF_COMPOUND_HEAD: u32 = 15;
pub const KPF_COMPOUND_TAIL: u32 = 16;
pub const KPF_HUGE: u32 = 17;
pub const KPF_KSM: u32 = 21;
pub const KPF_THP: u32 = 22;
pub const KPF_ZERO_PAGE: u32 = 24;

impl KpageFlags {
    pub fn has(self, bit: u32) -> bool {
        self.0 & (1 << bit) != 0
    }
    pub fn anon(self) -> bool {
        self.has(KPF_ANON)
    }
    pub fn ksm(self) -> bool {
        self.has(KPF_KSM)
    }
    pub fn thp(self) -> bool {
        self.has(KPF_THP)
    }
    /// A page of a folio of more than one page: a transparent huge page, or any compound
    /// page (its head or a tail).
    pub fn large_folio(self) -> bool {
        self.thp() || self.has(KPF_COMPOUND_HEAD) || self.has(KPF_COMPOUND_TAIL)
    }
    pub fn zero_page(self) -> bool {
        self.has(KPF_ZERO_PAGE)
    }
    /// The names of the set bits the analyzer knows.
    pub fn names(self) -> Vec<&'static str> {
        KPF_NAMES
            .iter()
            .filter(|(bit, _)| self.has(*bit))
            .map(|(_, n)| *n)
            .collect()
    }
}

impl std::fmt::Debug for KpageFlags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KpageFlags({:#x} {:?})", self.0, self.names())
    }
}

/// What the kernel says about one frame: kpagecount (page-table mappings, not processes)
/// and kpageflags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FrameInfo {
    pub mapcount: u64,
    #[serde(skip)]
    pub flags: KpageFlags,
}

/// Groups sorted, deduplicated PFNs into windows `[first, last]` so that each window is
/// one read of at most `max_len` entries and a gap of more than `max_gap` entries starts a
/// new window.
pub fn pfn_windows(sorted: &[Pfn], max_gap: u64, max_len: u64) -> Vec<(Pfn, Pfn)> {
    let mut out: Vec<(Pfn, Pfn)> = Vec::new();
    for &p in sorted {
        match out.last_mut() {
            Some((first, last)) if p.0 - last.0 <= max_gap && p.0 - first.0 < max_len => *last = p,
            _ => out.push((p, p)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_known_words() {
        // Present file page, mapped elsewhere too, PFN 0x12345.
        let e = PagemapEntry((1 << 63) | (1 << 61) | 0x12345);
        assert!(e.present() && e.file_or_shared_anon() && !e.exclusive() && !e.swapped());
        assert_eq!(e.pfn(), Some(Pfn(0x12345)));
        // Private anonymous copy, exclusive, soft-dirty; PFN uses all 55 bits.
        let e = PagemapEntry((1 << 63) | (1 << 56) | (1 << 55) | ((1 << 55) - 1));
        assert!(e.exclusive() && e.soft_dirty() && !e.file_or_shared_anon());
        assert_eq!(e.pfn(), Some(Pfn((1 << 55) - 1)));
        // Unprivileged reader: present with the PFN hidden.
        let e = PagemapEntry((1 << 63) | (1 << 61));
        assert!(e.present());
        assert_eq!(e.pfn(), None);
        // Swapped: not present, no PFN even if bits are set (they hold the swap entry).
        let e = PagemapEntry((1 << 62) | 0x1f);
        assert!(e.swapped() && !e.present());
        assert_eq!(e.pfn(), None);
        // Its swap entry: type 1, offset 0x1234 (bits 5-54), soft-dirty and exclusive
        // bits above it not part of it; hidden (0) without the capability.
        let e = PagemapEntry((1 << 62) | (1 << 56) | (1 << 55) | (0x1234 << 5) | 1);
        assert_eq!(e.swap_entry(), Some(0x1234 << 5 | 1));
        assert_eq!(PagemapEntry(1 << 62).swap_entry(), None);
        assert_eq!(PagemapEntry((1 << 63) | 0x1234).swap_entry(), None);
        assert_eq!(PagemapEntry(0), PagemapEntry::default());
        assert!(!PagemapEntry(0).present());
    }

    #[test]
    fn decodes_little_endian_words() {
        let mut buf = Vec::new();
        buf.extend_from_slice(&((1u64 << 63) | 7).to_le_bytes());
        buf.extend_from_slice(&0u64.to_le_bytes());
        buf.extend_from_slice(&[1, 2, 3]); // a short tail is ignored
        let w = decode_words(&buf);
        assert_eq!(w.len(), 2);
        assert_eq!(PagemapEntry(w[0]).pfn(), Some(Pfn(7)));
        assert_eq!((word_at(&buf, 1), word_at(&buf, 2)), (0, 0));
        assert_eq!(word_at(&buf, usize::MAX), 0);
    }

    #[test]
    fn kpageflags_names() {
        let f = KpageFlags((1 << 12) | (1 << 11) | (1 << 24));
        assert!(f.anon() && f.zero_page() && !f.ksm() && !f.thp());
        assert_eq!(f.names(), vec!["mmap", "anon", "zero_page"]);
    }

    #[test]
    fn windows() {
        let p: Vec<Pfn> = [1, 2, 3, 100, 101, 5000].map(Pfn).to_vec();
        assert_eq!(
            pfn_windows(&p, 64, 1024),
            vec![
                (Pfn(1), Pfn(3)),
                (Pfn(100), Pfn(101)),
                (Pfn(5000), Pfn(5000))
            ]
        );
        assert_eq!(pfn_windows(&p, 10_000, 50).len(), 3);
        assert!(pfn_windows(&[], 1, 1).is_empty());
    }
}
