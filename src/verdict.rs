//! Deciding the state of a page in one process and the verdict across processes. Pure.
//!
//! The reading of the pagemap bits follows Documentation/admin-guide/mm/pagemap.rst: bit
//! 61 set is a file page or shared anonymous (shmem) page, clear is private anonymous;
//! bit 56 set means the frame is mapped exactly once. With CAP_SYS_ADMIN the PFNs are
//! compared directly; without it only the bits remain and the verdict is weak.

use crate::addr::Pfn;
use crate::attribute::MappingKind;
use crate::pagemap::{KpageFlags, PagemapEntry};
use serde::Serialize;

/// The state of one page of an object in one process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PageState {
    /// No mapping covers the page in this process.
    Unmapped,
    /// Mapped, never faulted in (or reclaimed).
    Untouched,
    /// In swap.
    Swapped,
    /// The file's page-cache frame.
    File,
    /// A private anonymous copy (copy-on-write happened here), mapped only here.
    PrivateAnon,
    /// An anonymous frame mapped more than once: shared after fork (or KSM-merged).
    SharedAnon,
    /// A frame of a `MAP_SHARED` window over the object.
    SharedWindow,
    /// The kernel's shared zero page (read, never written, anonymous memory).
    ZeroPage,
}

impl PageState {
    pub fn name(self) -> &'static str {
        match self {
            PageState::Unmapped => "unmapped",
            PageState::Untouched => "untouched",
            PageState::Swapped => "swapped",
            PageState::File => "file",
            PageState::PrivateAnon => "private-anon",
            PageState::SharedAnon => "shared-anon",
            PageState::SharedWindow => "shared-window",
            PageState::ZeroPage => "zero-page",
        }
    }

    /// A frame is there to compare.
    pub fn is_present(self) -> bool {
        !matches!(
            self,
            PageState::Unmapped | PageState::Untouched | PageState::Swapped
        )
    }

    /// Anonymous memory in a private mapping of the object: someone wrote the page (a
    /// copy-on-write copy, or written `.bss`).
    pub fn is_written(self) -> bool {
        matches!(self, PageState::PrivateAnon | PageState::SharedAnon)
    }
}

pub fn page_state(
    mapping: Option<MappingKind>,
    entry: PagemapEntry,
    flags: Option<KpageFlags>,
) -> PageState {
    let Some(mapping) = mapping else {
        return PageState::Unmapped;
    };
    if !entry.present() {
        return if entry.swapped() {
            PageState::Swapped
        } else {
            PageState::Untouched
        };
    }
    if mapping == MappingKind::SharedWindow {
        return PageState::SharedWindow;
    }
    if flags.is_some_and(|f| f.zero_page()) {
        return PageState::ZeroPage;
    }
    let anon = match flags {
        Some(f) => f.anon(),
        None => !entry.file_or_shared_anon(),
    };
    match (anon, entry.exclusive()) {
        (false, _) => PageState::File,
        (true, true) => PageState::PrivateAnon,
        (true, false) => PageState::SharedAnon,
    }
}

/// The verdict on one page across the processes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Present in at least two processes, one frame.
    Shared,
    /// Present in at least two processes, every frame different.
    Private,
    /// Present in at least two processes, some frames the same and some different.
    Mixed,
    /// Present in fewer than two processes.
    Untouched,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Shared => "shared",
            Verdict::Private => "private",
            Verdict::Mixed => "mixed",
            Verdict::Untouched => "untouched",
        }
    }
}

/// What the verdict needs from one process's page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Evidence {
    pub state: PageState,
    pub pfn: Option<Pfn>,
    pub exclusive: bool,
}

/// Decides the verdict. With PFNs (privileged) it compares frames; without them (weak) it
/// reads bit 56: every copy exclusive means every frame different, none exclusive means
/// one frame mapped by them all (the weak reading cannot see a frame shared with a
/// process outside the set).
pub fn verdict(procs: &[Evidence]) -> Verdict {
    let present: Vec<&Evidence> = procs.iter().filter(|e| e.state.is_present()).collect();
    if present.len() < 2 {
        return Verdict::Untouched;
    }
    if present.iter().all(|e| e.pfn.is_some()) {
        let mut frames: Vec<Pfn> = present.iter().filter_map(|e| e.pfn).collect();
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
    if present.iter().all(|e| !e.exclusive) {
        Verdict::Shared
    } else if present.iter().all(|e| e.exclusive) {
        Verdict::Private
    } else {
        Verdict::Mixed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRESENT: u64 = 1 << 63;
    const FILE: u64 = 1 << 61;
    const EXCL: u64 = 1 << 56;

    fn ev(state: PageState, pfn: Option<u64>, exclusive: bool) -> Evidence {
        Evidence {
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
        assert_eq!(page_state(f, PagemapEntry(0), None), PageState::Untouched);
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
            PageState::PrivateAnon
        );
        assert_eq!(
            page_state(f, PagemapEntry(PRESENT), None),
            PageState::SharedAnon
        );
        assert_eq!(
            page_state(
                Some(MappingKind::SharedWindow),
                PagemapEntry(PRESENT | FILE),
                None
            ),
            PageState::SharedWindow
        );
        let zero = KpageFlags(1 << 24);
        assert_eq!(
            page_state(
                Some(MappingKind::Anonymous),
                PagemapEntry(PRESENT | 5),
                Some(zero)
            ),
            PageState::ZeroPage
        );
        // kpageflags overrides bit 61 when known.
        let anon = KpageFlags(1 << 12);
        assert_eq!(
            page_state(f, PagemapEntry(PRESENT | FILE | EXCL | 9), Some(anon)),
            PageState::PrivateAnon
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
                ev(PrivateAnon, Some(1), true),
                ev(PrivateAnon, Some(2), true)
            ]),
            Verdict::Private
        );
        assert_eq!(
            verdict(&[
                ev(File, Some(1), false),
                ev(File, Some(1), false),
                ev(PrivateAnon, Some(3), true)
            ]),
            Verdict::Mixed
        );
        assert_eq!(
            verdict(&[ev(File, Some(1), true), ev(Untouched, None, false)]),
            Verdict::Untouched
        );
    }

    #[test]
    fn weak_verdicts_from_bits() {
        use PageState::*;
        assert_eq!(
            verdict(&[ev(File, None, false), ev(File, None, false)]),
            Verdict::Shared
        );
        assert_eq!(
            verdict(&[ev(PrivateAnon, None, true), ev(PrivateAnon, None, true)]),
            Verdict::Private
        );
        assert_eq!(
            verdict(&[ev(File, None, false), ev(PrivateAnon, None, true)]),
            Verdict::Mixed
        );
    }
}
