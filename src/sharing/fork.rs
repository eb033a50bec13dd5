//! Fork: what became of the anonymous pages a child inherited from its parent (`solab
//! family`), and what a written page of an object is across processes that may be of one
//! fork family (`solab prove`'s data claim).

use super::{PageState, ProcessPage, same_frame};
use crate::addr::Pfn;
use crate::page_words::PagemapEntry;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

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
pub fn inheritance(child: &ProcessPage, parent: Option<&ProcessPage>) -> Option<Inheritance> {
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

/// A process's copy of a page of an object, and the address where it maps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CopyAt {
    pub pid: i32,
    pub vaddr: u64,
    pub copy: ProcessPage,
}

/// What a written page of an object is across the processes that have it (`prove`'s data
/// claim): a write makes a process's own copy, and only fork (or KSM) shares an anonymous
/// frame afterwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WrittenPage {
    /// Every writer's frame is its own: no other process is seen to map it.
    Own,
    /// One frame within a fork family at the same address: inherited through fork,
    /// copy-on-write pending.
    Inherited,
    /// A writer's frame is KSM-merged: equal content merged by the kernel.
    Ksm,
    /// `writer`'s frame is mapped by `other`, which is not of its fork family.
    OutsideFamily { writer: i32, other: i32 },
    /// `writer`'s frame is mapped by `other` at another address: not inherited through fork.
    OtherAddress { writer: i32, other: i32 },
    /// Weak: a written copy is not exclusive (bit 56 clear) and no other process given
    /// looks like its sharer: a process outside the ones given maps it.
    SharerNotGiven,
}

/// Decides what a written page is. `writers` are the copies written
/// ([`super::written`]), `present` every present copy, one a process, the writers among
/// them; `family(pid)` is the fork family a process belongs to (`None`: none); `weak`: no
/// frame numbers were seen. Sharers are those [`super::may_share_frame`] finds; the first writer,
/// in the order given, with a sharer (in the order of `present`) that is not inherited
/// decides.
///
/// Linear in the copies: the copies are grouped once by what may make them one frame
/// (their frame number; weak, being non-exclusive), and a writer's first sharer that is
/// not of its family at its address is found from the first two distinct (family,
/// address) keys of its group, never by comparing pairs.
pub fn written_page(
    writers: &[CopyAt],
    present: &[CopyAt],
    family: impl Fn(i32) -> Option<usize>,
    weak: bool,
) -> WrittenPage {
    if writers.iter().any(|w| w.copy.state == PageState::Ksm) {
        return WrittenPage::Ksm;
    }
    let key = |c: &CopyAt| Key {
        family: family(c.pid).map_or(Kin::Alone(c.pid), Kin::Family),
        vaddr: c.vaddr,
    };
    let mut by_frame: HashMap<Pfn, Firsts> = HashMap::new();
    // Weak only: non-exclusive copies without and with a frame number.
    let (mut loose, mut loose_framed) = (Firsts::default(), Firsts::default());
    for (i, c) in present.iter().enumerate() {
        let k = key(c);
        if let Some(pfn) = c.copy.pfn {
            by_frame.entry(pfn).or_default().add(i, k);
        }
        if weak && !c.copy.exclusive {
            match c.copy.pfn {
                None => loose.add(i, k),
                Some(_) => loose_framed.add(i, k),
            }
        }
    }
    let none = Firsts::default();
    // The groups a writer's sharers are in (disjoint), and whether it is one of them.
    let groups = |w: &CopyAt| -> [(&Firsts, bool); 2] {
        let loose_sharer = weak && !w.copy.exclusive;
        match w.copy.pfn {
            Some(pfn) => [
                (by_frame.get(&pfn).unwrap_or(&none), true),
                (if loose_sharer { &loose } else { &none }, false),
            ],
            None if loose_sharer => [(&loose, true), (&loose_framed, false)],
            None => [(&none, false), (&none, false)],
        }
    };
    let has_sharer = |w: &CopyAt| {
        groups(w)
            .iter()
            .map(|(g, member)| g.len - usize::from(*member && g.len > 0))
            .sum::<usize>()
            > 0
    };
    if !writers.iter().any(has_sharer) {
        // With frames, an anonymous frame mapped more than once that no given process
        // shares is shared with a process not given: only fork (or KSM, handled above)
        // shares an anonymous frame, so it is inherited, not the writer's own.
        if writers.iter().any(|w| w.copy.state == PageState::AnonCow) {
            return WrittenPage::Inherited;
        }
        if weak && writers.iter().any(|w| !w.copy.exclusive) {
            return WrittenPage::SharerNotGiven;
        }
        return WrittenPage::Own;
    }
    for w in writers {
        let k = key(w);
        let first = groups(w)
            .iter()
            .filter_map(|(g, _)| g.first_unlike(&k))
            .min();
        if let Some(i) = first {
            let (writer, other) = (w.pid, present[i].pid);
            return if key(&present[i]).family != k.family {
                WrittenPage::OutsideFamily { writer, other }
            } else {
                WrittenPage::OtherAddress { writer, other }
            };
        }
    }
    WrittenPage::Inherited
}

/// Whose a copy is, for [`written_page`]: a fork family, or a process of none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kin {
    Family(usize),
    Alone(i32),
}

/// A copy that is inherited from a sharer has the sharer's key: same family, same address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Key {
    family: Kin,
    vaddr: u64,
}

/// Copies that may be one frame, as [`written_page`] needs them: how many, the first, and
/// the first whose key differs from the first's (by position in `present`).
#[derive(Default)]
struct Firsts {
    len: usize,
    first: Option<(usize, Key)>,
    second: Option<(usize, Key)>,
}

impl Firsts {
    fn add(&mut self, i: usize, k: Key) {
        self.len += 1;
        match self.first {
            None => self.first = Some((i, k)),
            Some((_, f)) if self.second.is_none() && f != k => self.second = Some((i, k)),
            Some(_) => {}
        }
    }

    /// The first copy whose key is not `k`. A writer's own copy has its key, so it is
    /// never its own sharer (one copy a process).
    fn first_unlike(&self, k: &Key) -> Option<usize> {
        match self.first {
            Some((i, f)) if f != *k => Some(i),
            _ => self.second.map(|(i, _)| i),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::Pfn;

    fn ev(state: PageState, pfn: Option<u64>, exclusive: bool) -> ProcessPage {
        ProcessPage {
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

    #[test]
    fn written_pages() {
        use PageState::*;
        let at = |pid, vaddr, copy| CopyAt { pid, vaddr, copy };
        let family = |p: i32| Some((p / 10) as usize);
        let own = at(11, 0x1000, ev(AnonExclusive, Some(1), true));
        let cow = at(11, 0x1000, ev(AnonCow, Some(2), false));
        let child = at(12, 0x1000, ev(AnonCow, Some(2), false));
        let file = at(13, 0x1000, ev(File, Some(3), false));
        assert_eq!(
            written_page(&[own], &[own, file], family, false),
            WrittenPage::Own
        );
        assert_eq!(
            written_page(&[cow], &[cow, child], family, false),
            WrittenPage::Inherited
        );
        // Its sharer is not among the processes given: still fork's doing.
        assert_eq!(
            written_page(&[cow], &[cow, file], family, false),
            WrittenPage::Inherited
        );
        let stranger = at(21, 0x1000, ev(AnonCow, Some(2), false));
        assert_eq!(
            written_page(&[cow], &[cow, stranger], family, false),
            WrittenPage::OutsideFamily {
                writer: 11,
                other: 21
            }
        );
        let moved = at(12, 0x2000, ev(AnonCow, Some(2), false));
        assert_eq!(
            written_page(&[cow], &[cow, moved], family, false),
            WrittenPage::OtherAddress {
                writer: 11,
                other: 12
            }
        );
        let ksm = at(11, 0x1000, ev(Ksm, Some(4), false));
        assert_eq!(
            written_page(&[ksm], &[ksm, stranger], family, false),
            WrittenPage::Ksm
        );
        let weak = at(11, 0x1000, ev(AnonNotExclusive, None, false));
        let weak_file = at(12, 0x1000, ev(File, None, true));
        assert_eq!(
            written_page(&[weak], &[weak, weak_file], family, true),
            WrittenPage::SharerNotGiven
        );
        let weak_child = at(12, 0x1000, ev(AnonNotExclusive, None, false));
        assert_eq!(
            written_page(&[weak], &[weak, weak_child], family, true),
            WrittenPage::Inherited
        );
    }

    /// The pairwise rule, as [`written_page`] is specified: the first (writer, sharer) pair,
    /// writers in order and sharers in the order of `present`, that is not of one family at
    /// one address decides.
    fn by_pairs(
        writers: &[CopyAt],
        present: &[CopyAt],
        family: impl Fn(i32) -> Option<usize>,
        weak: bool,
    ) -> WrittenPage {
        if writers.iter().any(|w| w.copy.state == PageState::Ksm) {
            return WrittenPage::Ksm;
        }
        let same_family = |a, b| family(a).is_some() && family(a) == family(b);
        let mut sharers = Vec::new();
        for w in writers {
            for o in present.iter().filter(|o| o.pid != w.pid) {
                if crate::sharing::may_share_frame(&w.copy, &o.copy, weak) {
                    sharers.push((w.pid, o.pid, w.vaddr == o.vaddr));
                }
            }
        }
        if sharers.is_empty() {
            if writers.iter().any(|w| w.copy.state == PageState::AnonCow) {
                return WrittenPage::Inherited;
            }
            if weak && writers.iter().any(|w| !w.copy.exclusive) {
                return WrittenPage::SharerNotGiven;
            }
            return WrittenPage::Own;
        }
        for (writer, other, same_address) in sharers {
            if !same_family(writer, other) {
                return WrittenPage::OutsideFamily { writer, other };
            }
            if !same_address {
                return WrittenPage::OtherAddress { writer, other };
            }
        }
        WrittenPage::Inherited
    }

    /// Grouping decides as comparing every pair would, on many small random pages: frames,
    /// addresses, families, exclusivity and states drawn from few values so that they
    /// collide.
    #[test]
    fn grouping_decides_as_pairs_do() {
        use PageState::*;
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let states = [
            AnonExclusive,
            AnonCow,
            AnonNotExclusive,
            File,
            ZeroPage,
            Ksm,
        ];
        for round in 0..20_000 {
            let weak = round % 2 == 0;
            let n = 1 + next(6) as i32;
            let present: Vec<CopyAt> = (0..n)
                .map(|pid| CopyAt {
                    pid,
                    vaddr: 0x1000 * (1 + next(2)),
                    copy: ProcessPage {
                        state: states[next(if round % 7 == 0 { 6 } else { 5 }) as usize],
                        pfn: (next(3) > 0).then(|| Pfn(next(3))),
                        exclusive: next(2) == 0,
                    },
                })
                .collect();
            let writers: Vec<CopyAt> = present
                .iter()
                .filter(|c| super::super::written(c.copy.state, false) == Some(true))
                .copied()
                .collect();
            let families: Vec<Option<usize>> = (0..n)
                .map(|_| (next(3) > 0).then(|| next(2) as usize))
                .collect();
            let family = |p: i32| families[p as usize];
            assert_eq!(
                written_page(&writers, &present, family, weak),
                by_pairs(&writers, &present, family, weak),
                "{present:?} families {families:?} weak {weak}"
            );
        }
    }

    /// One frame inherited by 20,000 children, and a stranger last: decided in one pass.
    #[test]
    fn a_large_family_is_one_group() {
        use PageState::*;
        let cow = |pid| CopyAt {
            pid,
            vaddr: 0x1000,
            copy: ev(AnonCow, Some(7), false),
        };
        let mut present: Vec<CopyAt> = (1..=20_000).map(cow).collect();
        let family = |p: i32| (p <= 20_000).then_some(0);
        assert_eq!(
            written_page(&present, &present, family, false),
            WrittenPage::Inherited
        );
        present.push(cow(30_000));
        assert_eq!(
            written_page(&present, &present, family, false),
            WrittenPage::OutsideFamily {
                writer: 1,
                other: 30_000
            }
        );
    }
}
