//! The sharing rules, decided once: the state of a page in one process, whether two copies
//! are one frame, whether a page was written, and the verdict across processes. Pure. Every
//! word here has one definition, repeated in the reference's vocabulary table and in
//! `solab --help`.
//!
//! The reading of the pagemap bits follows Documentation/admin-guide/mm/pagemap.rst: bit
//! 61 set is a file page or a shared anonymous (shmem) page, clear is private anonymous;
//! bit 56 set means the page is exclusively mapped (by this page-table entry only). With
//! CAP_SYS_ADMIN the PFNs are compared and /proc/kpageflags names anonymous, KSM and zero
//! pages; without it only the bits remain, and the states and verdicts that rest on them
//! are the weak ones (`anon-not-exclusive`, `looks-*`).
//!
//! Here: the state of a page and the verdict across processes. The words and rules of one
//! command's figures sit in a module of their own: [`cost`] (`ps`: classes, RSS, PSS, USS),
//! [`groups`] (`--by`: ALONE, ONLY, WITH-REST, FRAMES, WITH-OTHERS, SAME-LIBS), [`fork`]
//! (`family`: what became of an inherited page; `prove`: what a written page is).

pub mod cost;
pub mod fork;
pub mod groups;

pub use cost::{COST_WORDS, MemClass, VIEW_WORDS, mem_class};
pub use fork::{ExecMark, FAMILY_WORDS, Inheritance, Lineage, inheritance, lineage};
pub use groups::{GROUP_WORDS, LIBS_GROUP_WORDS};

use crate::addr::Pfn;
use crate::page_words::{KpageFlags, PagemapEntry};
use crate::placement::MappingKind;
use serde::{Deserialize, Serialize};

/// The state of one page of an object in one process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PageState {
    /// No mapping covers the page in this process.
    Unmapped,
    /// Mapped, but no page-table entry in this process (bit 63 clear): never faulted in
    /// here, or reclaimed. A file page may still be in the page cache.
    NotPresent,
    /// In swap (bit 62).
    Swapped,
    /// The file's page-cache frame (kpageflags ANON clear; weak: bit 61 set).
    File,
    /// An anonymous frame mapped only here (bit 56): this process's own copy.
    AnonExclusive,
    /// An anonymous frame mapped more than once and not KSM-merged: copy-on-write pending,
    /// as after fork before either side wrote. Needs frame numbers.
    AnonCow,
    /// A frame KSM merged from equal pages (kpageflags KSM): sharing of equal content, not
    /// of inherited memory.
    Ksm,
    /// The kernel's shared zero page (kpageflags ZERO_PAGE): anonymous memory read, never
    /// written.
    ZeroPage,
    /// Weak only: an anonymous page (bit 61 clear) with bit 56 clear: shared after fork,
    /// KSM-merged, or the zero page; only frame data tells which.
    AnonNotExclusive,
    /// A frame of a `MAP_SHARED` mapping laid over the object (its `.shared` section).
    SharedWindow,
}

impl PageState {
    pub const ALL: [PageState; 10] = [
        PageState::Unmapped,
        PageState::NotPresent,
        PageState::Swapped,
        PageState::File,
        PageState::AnonExclusive,
        PageState::AnonCow,
        PageState::Ksm,
        PageState::ZeroPage,
        PageState::AnonNotExclusive,
        PageState::SharedWindow,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PageState::Unmapped => "unmapped",
            PageState::NotPresent => "not-present",
            PageState::Swapped => "swapped",
            PageState::File => "file",
            PageState::AnonExclusive => "anon-exclusive",
            PageState::AnonCow => "anon-cow",
            PageState::Ksm => "ksm",
            PageState::ZeroPage => "zero-page",
            PageState::AnonNotExclusive => "anon-not-exclusive",
            PageState::SharedWindow => "shared-window",
        }
    }

    /// One line for the reference table and `--help`.
    pub fn meaning(self) -> &'static str {
        match self {
            PageState::Unmapped => "no mapping covers the page in this process",
            PageState::NotPresent => {
                "mapped, but no page-table entry here (bit 63 clear); the file page may \
                 still be in the page cache"
            }
            PageState::Swapped => "in swap (bit 62)",
            PageState::File => "the file's page-cache frame",
            PageState::AnonExclusive => {
                "an anonymous frame mapped only here (bit 56): this process's own copy"
            }
            PageState::AnonCow => {
                "an anonymous frame mapped more than once, not KSM: copy-on-write pending \
                 (as after fork)"
            }
            PageState::Ksm => "a frame KSM merged from equal pages",
            PageState::ZeroPage => "the kernel's zero page: read, never written",
            PageState::AnonNotExclusive => {
                "weak: anonymous with bit 56 clear: shared after fork, KSM or the zero page"
            }
            PageState::SharedWindow => "a frame of a MAP_SHARED mapping over the object",
        }
    }

    /// A frame (or, weak, a page-table entry) is there to compare.
    pub fn is_present(self) -> bool {
        !matches!(
            self,
            PageState::Unmapped | PageState::NotPresent | PageState::Swapped
        )
    }
}

/// Pages a PMD maps: a transparent huge page mapped whole (2 MiB of 4 KiB pages on x86-64).
pub const PMD_PAGES: u64 = 512;

/// Whether a present page's frame is mapped exactly once, by this page-table entry, from its
/// pagemap word and its virtual page number `vpage` alone: bit 56, "page exclusively mapped"
/// (Documentation/admin-guide/mm/pagemap.rst), where the kernel promises it. Such a page
/// counts as a kpagecount of 1 without reading it: USS in `ps`, a distinct frame of its own
/// in `libs`. Every reading of the bit as "mapped once" without kpageflags goes through here.
///
/// For a PMD-mapped transparent huge page the kernel sets the bit on all 512 pages from the
/// mapcount of one page of the folio (fs/proc/task_mmu.c, `pagemap_pmd_range`): after fork,
/// when a child has written the first page of the huge page, the parent reads bit 56 on the
/// 511 others, which the child still maps. The bit is no promise there, so such a page is
/// left to its kpagecount: a page may be PMD-mapped only where its frame sits at the same
/// place in a 2 MiB frame block as the page in its 2 MiB virtual block
/// ([`may_be_pmd_mapped`]), one page in 512 otherwise. Without frame numbers the bit is all
/// there is (and the figures are weak).
#[inline(always)]
pub fn mapped_once(entry: PagemapEntry, vpage: u64) -> bool {
    entry.exclusive() && !may_be_pmd_mapped(entry, vpage)
}

/// Whether the page at virtual page number `vpage` may be part of a PMD mapping: a PMD maps
/// a 2 MiB-aligned block of frames to a 2 MiB-aligned block of addresses, so the frame's
/// place in its block is the page's. False without a frame number.
#[inline(always)]
pub fn may_be_pmd_mapped(entry: PagemapEntry, vpage: u64) -> bool {
    entry
        .pfn()
        .is_some_and(|p| p.0 % PMD_PAGES == vpage % PMD_PAGES)
}

/// Without frame numbers, whether a page's bit 56 may be read as "exclusively mapped" (the
/// weak words): not where the page may be PMD-mapped (`pmd_mapped`: PAGEMAP_SCAN's
/// `PAGE_IS_HUGE`, or its mapping holds transparent huge pages), where the kernel may set the
/// bit on pages another process still maps ([`mapped_once`]); there the page is taken as
/// maybe mapped elsewhere, and what rests on it stays weak (`looks-*`).
pub fn exclusive_by_bits(entry: PagemapEntry, pmd_mapped: bool) -> bool {
    entry.exclusive() && !pmd_mapped
}

/// [`mapped_once`] with the frame's kpageflags known: bit 56 is a promise only for a frame
/// that is no part of a larger folio (kpageflags THP, COMPOUND_HEAD, COMPOUND_TAIL); for one
/// that is, only its count says.
fn mapped_once_known(entry: PagemapEntry, flags: KpageFlags) -> bool {
    entry.exclusive() && !flags.large_folio()
}

/// Decides the state of one page. `frame` is kpageflags and kpagecount when privileged.
pub fn page_state(
    mapping: Option<MappingKind>,
    entry: PagemapEntry,
    frame: Option<(KpageFlags, u64)>,
) -> PageState {
    let Some(mapping) = mapping else {
        return PageState::Unmapped;
    };
    if !entry.present() {
        return if entry.swapped() {
            PageState::Swapped
        } else {
            PageState::NotPresent
        };
    }
    if mapping == MappingKind::SharedWindow {
        return PageState::SharedWindow;
    }
    match frame {
        Some((flags, mapcount)) => {
            if flags.zero_page() {
                PageState::ZeroPage
            } else if !flags.anon() {
                PageState::File
            } else if flags.ksm() {
                PageState::Ksm
            } else if mapped_once_known(entry, flags) || mapcount <= 1 {
                PageState::AnonExclusive
            } else {
                PageState::AnonCow
            }
        }
        None => match (entry.file_or_shared_anon(), entry.exclusive()) {
            (true, _) => PageState::File,
            (false, true) => PageState::AnonExclusive,
            (false, false) => PageState::AnonNotExclusive,
        },
    }
}

/// Whether the page holds an anonymous copy: someone (this process, or an ancestor before
/// fork) wrote it. `None` where the evidence cannot tell: without frames, a non-exclusive
/// anonymous page in the `.bss` tail may be the zero page (read, never written).
pub fn written(state: PageState, in_bss: bool) -> Option<bool> {
    match state {
        PageState::AnonExclusive | PageState::AnonCow | PageState::Ksm => Some(true),
        PageState::AnonNotExclusive if in_bss => None,
        PageState::AnonNotExclusive => Some(true),
        _ => Some(false),
    }
}

/// Whether a present page of an object is a private copy made by a write (`libs`' PRIVATE):
/// an anonymous page (pagemap bit 61 clear) in a private mapping of the object's own file
/// (`own_mapping`), where the loader mapped the file's page. With frame numbers (`frames`)
/// every one counts; without them a non-exclusive one (bit 56 clear) may be the zero page,
/// read and never written, and only exclusive ones count.
pub fn private_copy(entry: PagemapEntry, own_mapping: bool, frames: bool) -> bool {
    own_mapping && !entry.file_or_shared_anon() && (frames || entry.exclusive())
}

/// What the verdict needs from one process's page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcessPage {
    pub state: PageState,
    pub pfn: Option<Pfn>,
    pub exclusive: bool,
}

/// Whether two copies are one frame: `Some` when both frame numbers are known, `None`
/// otherwise (the bits cannot say which frame).
pub fn same_frame(a: &ProcessPage, b: &ProcessPage) -> Option<bool> {
    Some(a.pfn? == b.pfn?)
}

/// Whether a written copy `a` and another process's copy `b` may be one frame (`prove`'s
/// sharers of a written page): by frame number when both are known ([`same_frame`]); when
/// `weak` (no frame numbers seen), any two non-exclusive copies (bit 56 clear in both:
/// each frame is mapped more than once, and the bits cannot say by whom).
pub fn may_share_frame(a: &ProcessPage, b: &ProcessPage, weak: bool) -> bool {
    same_frame(a, b).unwrap_or(weak && !a.exclusive && !b.exclusive)
}

/// The verdict on one page across the processes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Present in at least two processes, one frame.
    Shared,
    /// Present in at least two processes, every frame different.
    Private,
    /// Present in at least two processes, some frames the same and some different.
    Mixed,
    /// Present in exactly one process: nothing to compare.
    OneProcess,
    /// Present in no process.
    NotPresent,
    /// Weak: present in at least two processes, bit 56 clear in every one (mapped more
    /// than once; no frame numbers seen).
    LooksShared,
    /// Weak: present in at least two processes, bit 56 set in every one.
    LooksPrivate,
    /// Weak: present in at least two processes, bit 56 set in some.
    LooksMixed,
}

impl Verdict {
    pub const ALL: [Verdict; 8] = [
        Verdict::Shared,
        Verdict::Private,
        Verdict::Mixed,
        Verdict::OneProcess,
        Verdict::NotPresent,
        Verdict::LooksShared,
        Verdict::LooksPrivate,
        Verdict::LooksMixed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Verdict::Shared => "shared",
            Verdict::Private => "private",
            Verdict::Mixed => "mixed",
            Verdict::OneProcess => "one-process",
            Verdict::NotPresent => "not-present",
            Verdict::LooksShared => "looks-shared",
            Verdict::LooksPrivate => "looks-private",
            Verdict::LooksMixed => "looks-mixed",
        }
    }

    pub fn meaning(self) -> &'static str {
        match self {
            Verdict::Shared => "present in two or more processes, one frame",
            Verdict::Private => "present in two or more processes, every frame different",
            Verdict::Mixed => "present in two or more processes, some frames the same",
            Verdict::OneProcess => "present in exactly one process: nothing compared",
            Verdict::NotPresent => "present in no process",
            Verdict::LooksShared => {
                "weak: present in two or more, bit 56 clear in each (no frame numbers seen)"
            }
            Verdict::LooksPrivate => "weak: present in two or more, bit 56 set in each",
            Verdict::LooksMixed => "weak: present in two or more, bit 56 set in some",
        }
    }

    /// The verdict rests on pagemap bits, not frame numbers.
    pub fn is_weak(self) -> bool {
        matches!(
            self,
            Verdict::LooksShared | Verdict::LooksPrivate | Verdict::LooksMixed
        )
    }

    /// One frame (or, weak, looks like one).
    pub fn is_shared(self) -> bool {
        matches!(self, Verdict::Shared | Verdict::LooksShared)
    }
}

/// Decides the verdict. With PFNs (privileged) it compares frames; without them it reads
/// bit 56 and says so (`looks-*`): bits cannot see which frame, nor a frame shared with a
/// process outside the set.
pub fn verdict(copies: &[ProcessPage]) -> Verdict {
    let present: Vec<&ProcessPage> = copies.iter().filter(|c| c.state.is_present()).collect();
    match present.len() {
        0 => return Verdict::NotPresent,
        1 => return Verdict::OneProcess,
        _ => {}
    }
    if present.iter().all(|c| c.pfn.is_some()) {
        let mut frames: Vec<Pfn> = present.iter().filter_map(|c| c.pfn).collect();
        frames.sort();
        frames.dedup();
        return if frames.len() == 1 {
            Verdict::Shared
        } else if frames.len() == present.len() {
            Verdict::Private
        } else {
            Verdict::Mixed
        };
    }
    if present.iter().all(|c| !c.exclusive) {
        Verdict::LooksShared
    } else if present.iter().all(|c| c.exclusive) {
        Verdict::LooksPrivate
    } else {
        Verdict::LooksMixed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRESENT: u64 = 1 << 63;
    const FILE: u64 = 1 << 61;
    const EXCL: u64 = 1 << 56;

    fn ev(state: PageState, pfn: Option<u64>, exclusive: bool) -> ProcessPage {
        ProcessPage {
            state,
            pfn: pfn.map(Pfn),
            exclusive,
        }
    }

    #[test]
    fn states_from_bits() {
        let f = Some(MappingKind::File);
        assert_eq!(
            page_state(None, PagemapEntry(PRESENT), None),
            PageState::Unmapped
        );
        assert_eq!(page_state(f, PagemapEntry(0), None), PageState::NotPresent);
        assert_eq!(
            page_state(f, PagemapEntry(1 << 62), None),
            PageState::Swapped
        );
        assert_eq!(
            page_state(f, PagemapEntry(PRESENT | FILE), None),
            PageState::File
        );
        assert_eq!(
            page_state(f, PagemapEntry(PRESENT | EXCL), None),
            PageState::AnonExclusive
        );
        // Bit 61 clear and bit 56 clear: not "shared anonymous" (that is bit 61 set).
        assert_eq!(
            page_state(f, PagemapEntry(PRESENT), None),
            PageState::AnonNotExclusive
        );
        assert_eq!(
            page_state(
                Some(MappingKind::SharedWindow),
                PagemapEntry(PRESENT | FILE),
                None
            ),
            PageState::SharedWindow
        );
    }

    #[test]
    fn states_from_frames() {
        let f = Some(MappingKind::File);
        let a = Some(MappingKind::Anonymous);
        let zero = KpageFlags(1 << 24);
        assert_eq!(
            page_state(a, PagemapEntry(PRESENT | 5), Some((zero, 300))),
            PageState::ZeroPage
        );
        let anon = KpageFlags(1 << 12);
        // kpageflags overrides bit 61 when known.
        assert_eq!(
            page_state(f, PagemapEntry(PRESENT | FILE | EXCL | 9), Some((anon, 1))),
            PageState::AnonExclusive
        );
        assert_eq!(
            page_state(f, PagemapEntry(PRESENT | 9), Some((anon, 2))),
            PageState::AnonCow
        );
        let ksm = KpageFlags((1 << 12) | (1 << 21));
        assert_eq!(
            page_state(f, PagemapEntry(PRESENT | 9), Some((ksm, 2))),
            PageState::Ksm
        );
        assert_eq!(
            page_state(
                f,
                PagemapEntry(PRESENT | FILE | 9),
                Some((KpageFlags(0), 3))
            ),
            PageState::File
        );
    }

    #[test]
    fn verdicts_with_frames() {
        use PageState::*;
        assert_eq!(
            verdict(&[ev(File, Some(1), false), ev(File, Some(1), false)]),
            Verdict::Shared
        );
        assert_eq!(
            verdict(&[
                ev(AnonExclusive, Some(1), true),
                ev(AnonExclusive, Some(2), true)
            ]),
            Verdict::Private
        );
        assert_eq!(
            verdict(&[
                ev(File, Some(1), false),
                ev(File, Some(1), false),
                ev(AnonExclusive, Some(3), true)
            ]),
            Verdict::Mixed
        );
        // One process: a resident page is not called untouched.
        assert_eq!(verdict(&[ev(File, Some(1), true)]), Verdict::OneProcess);
        assert_eq!(
            verdict(&[ev(File, Some(1), true), ev(NotPresent, None, false)]),
            Verdict::OneProcess
        );
        assert_eq!(
            verdict(&[ev(NotPresent, None, false), ev(Unmapped, None, false)]),
            Verdict::NotPresent
        );
    }

    #[test]
    fn weak_verdicts_say_looks() {
        use PageState::*;
        let v = verdict(&[ev(File, None, false), ev(File, None, false)]);
        assert_eq!(v, Verdict::LooksShared);
        assert!(v.is_weak() && v.is_shared());
        assert_eq!(
            verdict(&[ev(AnonExclusive, None, true), ev(AnonExclusive, None, true)]),
            Verdict::LooksPrivate
        );
        assert_eq!(
            verdict(&[ev(File, None, false), ev(AnonExclusive, None, true)]),
            Verdict::LooksMixed
        );
        assert_eq!(
            same_frame(&ev(File, None, false), &ev(File, Some(1), false)),
            None
        );
    }

    #[test]
    fn mapped_once_is_bit_56_where_promised() {
        assert!(mapped_once(PagemapEntry(PRESENT | EXCL | 9), 10));
        assert!(!mapped_once(PagemapEntry(PRESENT | FILE | 9), 10));
        // A frame at the page's place in a 2 MiB block may be PMD-mapped: its count says.
        assert!(!mapped_once(
            PagemapEntry(PRESENT | EXCL | (3 * 512 + 9)),
            7 * 512 + 9
        ));
        assert!(may_be_pmd_mapped(PagemapEntry(PRESENT | 512), 1024));
        // Without a frame number only the bit remains.
        assert!(mapped_once(PagemapEntry(PRESENT | EXCL), 0));
        // With kpageflags: a THP or compound frame's bit 56 is no promise.
        let thp = KpageFlags((1 << 12) | (1 << 22));
        let tail = KpageFlags((1 << 12) | (1 << 16));
        let anon = Some(MappingKind::Anonymous);
        let word = PagemapEntry(PRESENT | EXCL | 9);
        assert_eq!(page_state(anon, word, Some((thp, 2))), PageState::AnonCow);
        assert_eq!(page_state(anon, word, Some((tail, 2))), PageState::AnonCow);
        assert_eq!(
            page_state(anon, word, Some((thp, 1))),
            PageState::AnonExclusive
        );
        assert_eq!(
            page_state(anon, word, Some((KpageFlags(1 << 12), 2))),
            PageState::AnonExclusive
        );
        // Without frames: no promise in a mapping that holds huge pages.
        assert!(exclusive_by_bits(PagemapEntry(PRESENT | EXCL), false));
        assert!(!exclusive_by_bits(PagemapEntry(PRESENT | EXCL), true));
    }

    #[test]
    fn private_copies() {
        let anon_excl = PagemapEntry(PRESENT | EXCL | 9);
        let anon = PagemapEntry(PRESENT | 9);
        let file = PagemapEntry(PRESENT | FILE | EXCL | 9);
        assert!(private_copy(anon_excl, true, false));
        assert!(private_copy(anon, true, true));
        // Weak: bit 56 clear may be the zero page.
        assert!(!private_copy(anon, true, false));
        assert!(!private_copy(file, true, true));
        // Anonymous memory outside the object's own file mapping is not its copy.
        assert!(!private_copy(anon_excl, false, true));
    }

    #[test]
    fn sharers_of_a_written_page() {
        use PageState::*;
        let w = ev(AnonCow, Some(4), false);
        assert!(may_share_frame(&w, &ev(AnonCow, Some(4), false), false));
        assert!(!may_share_frame(&w, &ev(AnonCow, Some(5), false), true));
        let weak = ev(AnonNotExclusive, None, false);
        assert!(may_share_frame(&weak, &weak, true));
        assert!(!may_share_frame(&weak, &weak, false));
        assert!(!may_share_frame(
            &weak,
            &ev(AnonExclusive, None, true),
            true
        ));
    }

    #[test]
    fn written_rule() {
        assert_eq!(written(PageState::AnonCow, false), Some(true));
        assert_eq!(written(PageState::ZeroPage, true), Some(false));
        assert_eq!(written(PageState::AnonNotExclusive, true), None);
        assert_eq!(written(PageState::AnonNotExclusive, false), Some(true));
        assert_eq!(written(PageState::File, false), Some(false));
    }

    #[test]
    fn every_word_is_distinct() {
        let mut words: Vec<&str> = PageState::ALL.iter().map(|s| s.name()).collect();
        words.sort();
        words.dedup();
        assert_eq!(words.len(), PageState::ALL.len());
        for v in Verdict::ALL {
            let json = serde_json::to_string(&v).expect("json");
            assert_eq!(json, format!("\"{}\"", v.name()));
        }
        for s in PageState::ALL {
            let json = serde_json::to_string(&s).expect("json");
            assert_eq!(json, format!("\"{}\"", s.name()));
        }
    }
}
