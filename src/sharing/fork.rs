//! Fork (`solab family`): what became of the anonymous pages a child inherited from its
//! parent.

use super::{Copy, PageState, same_frame};
use crate::pagemap::PagemapEntry;
use serde::{Deserialize, Serialize};

/// What became of an anonymous page a child has at an address it inherited from its
/// parent through fork (`solab family`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Inheritance {
    /// The parent's frame at the same address: not copied since fork.
    ParentsFrame,
    /// Parent and child both have an anonymous page there, different frames: one of them
    /// wrote after fork.
    Copied,
    /// The parent has no anonymous page there: the child made it after fork.
    New,
    /// Weak: anonymous with bit 56 clear in child and parent: the parent's frame, or one
    /// shared with a sibling, KSM or the zero page; only frame numbers tell.
    LooksInherited,
}

impl Inheritance {
    pub const ALL: [Inheritance; 4] = [
        Inheritance::ParentsFrame,
        Inheritance::Copied,
        Inheritance::New,
        Inheritance::LooksInherited,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Inheritance::ParentsFrame => "parents-frame",
            Inheritance::Copied => "copied",
            Inheritance::New => "new",
            Inheritance::LooksInherited => "looks-inherited",
        }
    }

    pub fn meaning(self) -> &'static str {
        match self {
            Inheritance::ParentsFrame => {
                "the parent's frame at the same address: not copied since fork"
            }
            Inheritance::Copied => {
                "parent and child have an anonymous page there, different frames: one wrote after fork"
            }
            Inheritance::New => "the parent has no anonymous page there: made after fork",
            Inheritance::LooksInherited => {
                "weak: anonymous, bit 56 clear in child and parent: not copied, or shared with a sibling, KSM or the zero page"
            }
        }
    }
}

/// Whether a state is an anonymous page someone holds (not the zero page, not a file).
fn anonymous(state: PageState) -> bool {
    matches!(
        state,
        PageState::AnonExclusive
            | PageState::AnonCow
            | PageState::Ksm
            | PageState::AnonNotExclusive
    )
}

/// Whether a pagemap word can be an anonymous page that fork passed on or a write made:
/// present, and neither a file page nor shared anonymous memory (bit 61 clear,
/// Documentation/admin-guide/mm/pagemap.rst). Only these pages of a child and its parent
/// are compared ([`inheritance`]), and only their frames are looked up.
pub fn anonymous_word(e: PagemapEntry) -> bool {
    e.present() && !e.file_or_shared_anon()
}

/// Decides what became of the child's page at an inherited address, given the parent's
/// page at the same address. `None` when the child holds no anonymous page there.
pub fn inheritance(child: &Copy, parent: Option<&Copy>) -> Option<Inheritance> {
    if !anonymous(child.state) {
        return None;
    }
    let Some(parent) = parent.filter(|p| anonymous(p.state)) else {
        return Some(Inheritance::New);
    };
    Some(match same_frame(child, parent) {
        Some(true) => Inheritance::ParentsFrame,
        Some(false) => Inheritance::Copied,
        None if !child.exclusive && !parent.exclusive => Inheritance::LooksInherited,
        None => Inheritance::Copied,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::Pfn;

    fn ev(state: PageState, pfn: Option<u64>, exclusive: bool) -> Copy {
        Copy {
            state,
            pfn: pfn.map(Pfn),
            exclusive,
        }
    }

    #[test]
    fn inheritance_rules() {
        use PageState::*;
        let c = ev(AnonCow, Some(7), false);
        assert_eq!(
            inheritance(&c, Some(&ev(AnonCow, Some(7), false))),
            Some(Inheritance::ParentsFrame)
        );
        assert_eq!(
            inheritance(&ev(AnonExclusive, Some(8), true), Some(&c)),
            Some(Inheritance::Copied)
        );
        assert_eq!(
            inheritance(&ev(AnonExclusive, Some(8), true), None),
            Some(Inheritance::New)
        );
        assert_eq!(
            inheritance(
                &ev(AnonExclusive, Some(8), true),
                Some(&ev(File, Some(3), false))
            ),
            Some(Inheritance::New)
        );
        assert_eq!(inheritance(&ev(ZeroPage, Some(1), false), Some(&c)), None);
        assert_eq!(inheritance(&ev(File, Some(3), false), Some(&c)), None);
        let weak = ev(AnonNotExclusive, None, false);
        assert_eq!(
            inheritance(&weak, Some(&weak)),
            Some(Inheritance::LooksInherited)
        );
        assert_eq!(
            inheritance(&ev(AnonExclusive, None, true), Some(&weak)),
            Some(Inheritance::Copied)
        );
    }

    #[test]
    fn anonymous_words() {
        const PRESENT: u64 = 1 << 63;
        assert!(anonymous_word(PagemapEntry(PRESENT | 9)));
        assert!(anonymous_word(PagemapEntry(PRESENT | (1 << 56) | 9)));
        assert!(!anonymous_word(PagemapEntry(PRESENT | (1 << 61) | 9)));
        // Swapped: no frame to compare.
        assert!(!anonymous_word(PagemapEntry(1 << 62)));
    }
}
