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
    /// A KSM-merged frame (kpageflags KSM): the kernel merged equal pages, of this family or
    /// not; it says nothing of fork, so it is never the parent's frame.
    Ksm,
}

impl Inheritance {
    pub const ALL: [Inheritance; 5] = [
        Inheritance::ParentsFrame,
        Inheritance::Copied,
        Inheritance::New,
        Inheritance::LooksInherited,
        Inheritance::Ksm,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Inheritance::ParentsFrame => "parents-frame",
            Inheritance::Copied => "copied",
            Inheritance::New => "new",
            Inheritance::LooksInherited => "looks-inherited",
            Inheritance::Ksm => "ksm",
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
            Inheritance::New => {
                "made after fork: the parent has no anonymous page there, or the child exec'd since"
            }
            Inheritance::LooksInherited => {
                "weak: anonymous, bit 56 clear in child and parent: not copied, or shared with a sibling, KSM or the zero page"
            }
            Inheritance::Ksm => {
                "a KSM-merged frame: equal pages merged by the kernel, never counted as the parent's"
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
    if child.state == PageState::Ksm {
        return Some(Inheritance::Ksm);
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

/// The words of `solab family` beside the page words of [`Inheritance`]: where a child's
/// pages come from ([`Lineage`]) and the memory shared by design. One definition each,
/// repeated in the reference.
pub const FAMILY_WORDS: [(&str, &str); 5] = [
    (
        "shared-frame",
        "forked: the child maps one of the parent's anonymous frames (not KSM, not the zero page) at the same address; only fork puts one anonymous frame in two processes",
    ),
    (
        "at-random",
        "forked: the 16 random bytes the kernel gave the program at exec (auxv AT_RANDOM) are equal in both, at the same address; exec draws new ones, fork copies them",
    ),
    (
        "exec",
        "exec'd since fork: its AT_RANDOM bytes or its auxv differ from the parent's; nothing of it is inherited, every page is new",
    ),
    (
        "unproven",
        "weak: no frame in common and neither AT_RANDOM nor auxv could be read in both; its pages are compared with the parent's without proof of fork",
    ),
    (
        "shared memory",
        "resident pages of MAP_SHARED mappings (shared anonymous memory, memfd, /dev/shm, System V, shared file mappings): shared by design, not by fork; per process as smaps Rss of those mappings, for the family each page of its file counted once",
    ),
];

/// Whether a child came from a fork of its parent with no exec in between: only then is a
/// page of it inherited. `/proc/PID/exe` and the start time cannot tell (an exec keeps the
/// pid, and may run the same file at the same addresses with ASLR off); two signals can:
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Lineage {
    /// A frame in common at the same address (with frame numbers): exec replaces the whole
    /// memory, and KSM frames are left out, so only fork shares an anonymous frame.
    SharedFrame,
    /// The AT_RANDOM bytes are equal: 16 bytes the kernel draws at each exec, copied by fork.
    /// A child that can read its parent's memory could copy them; a frame cannot be faked.
    AtRandom,
    /// The AT_RANDOM bytes or the auxv differ: an exec since fork (fork copies both).
    Exec,
    /// Weak: no frame in common, and neither could be compared.
    Unproven,
}

impl Lineage {
    pub fn name(self) -> &'static str {
        match self {
            Lineage::SharedFrame => FAMILY_WORDS[0].0,
            Lineage::AtRandom => FAMILY_WORDS[1].0,
            Lineage::Exec => FAMILY_WORDS[2].0,
            Lineage::Unproven => FAMILY_WORDS[3].0,
        }
    }
}

/// What a process's exec left in it that fork copies and exec redraws, as read (`None`:
/// could not be read): its auxv (/proc/PID/auxv) and the 16 bytes at its AT_RANDOM.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecMark {
    pub auxv: Option<Vec<u8>>,
    pub random: Option<[u8; 16]>,
}

/// Decides a child's [`Lineage`]: `shares_frame` when one of its pages is the parent's
/// frame ([`Inheritance::ParentsFrame`]); else by the marks of child and parent.
pub fn lineage(shares_frame: bool, child: &ExecMark, parent: &ExecMark) -> Lineage {
    if shares_frame {
        return Lineage::SharedFrame;
    }
    if let (Some(c), Some(p)) = (&child.random, &parent.random) {
        // The auxv holds the AT_RANDOM address: equal bytes at different addresses are
        // not the copy fork makes.
        let same_place = match (&child.auxv, &parent.auxv) {
            (Some(c), Some(p)) => at_random(c) == at_random(p),
            _ => false,
        };
        return if c == p && same_place {
            Lineage::AtRandom
        } else {
            Lineage::Exec
        };
    }
    match (&child.auxv, &parent.auxv) {
        (Some(c), Some(p)) if c != p => Lineage::Exec,
        _ => Lineage::Unproven,
    }
}

/// `AT_RANDOM` (include/uapi/linux/auxvec.h): the address of 16 random bytes.
const AT_RANDOM: u64 = 25;

/// The AT_RANDOM address in auxv bytes (native u64 pairs of type and value, ended by
/// AT_NULL).
pub fn at_random(auxv: &[u8]) -> Option<u64> {
    auxv.chunks_exact(16)
        .map(|p| {
            let word = |b: &[u8]| u64::from_ne_bytes(b.try_into().expect("8 bytes"));
            (word(&p[..8]), word(&p[8..]))
        })
        .take_while(|&(t, _)| t != 0)
        .find(|&(t, _)| t == AT_RANDOM)
        .map(|(_, v)| v)
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
    let key = |c: &CopyAt| KinAt {
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

/// Where a copy is, by kin: a copy inherited from a sharer has the sharer's (same family,
/// same address).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct KinAt {
    family: Kin,
    vaddr: u64,
}

/// Copies that may be one frame, as [`written_page`] needs them: how many, the first, and
/// the first whose key differs from the first's (by position in `present`).
#[derive(Default)]
struct Firsts {
    len: usize,
    first: Option<(usize, KinAt)>,
    second: Option<(usize, KinAt)>,
}

impl Firsts {
    fn add(&mut self, i: usize, k: KinAt) {
        self.len += 1;
        match self.first {
            None => self.first = Some((i, k)),
            Some((_, f)) if self.second.is_none() && f != k => self.second = Some((i, k)),
            Some(_) => {}
        }
    }

    /// The first copy whose key is not `k`. A writer's own copy has its key, so it is
    /// never its own sharer (one copy a process).
    fn first_unlike(&self, k: &KinAt) -> Option<usize> {
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
    fn ksm_is_never_the_parents_frame() {
        use PageState::*;
        let ksm = ev(Ksm, Some(7), false);
        assert_eq!(inheritance(&ksm, Some(&ksm)), Some(Inheritance::Ksm));
        assert_eq!(inheritance(&ksm, None), Some(Inheritance::Ksm));
    }

    #[test]
    fn lineage_rules() {
        let auxv = |r: u64| {
            let mut b = Vec::new();
            for (t, v) in [(6u64, 4096u64), (AT_RANDOM, r), (0, 0)] {
                b.extend(t.to_ne_bytes());
                b.extend(v.to_ne_bytes());
            }
            b
        };
        let mark = |r: u64, bytes: Option<u8>| ExecMark {
            auxv: Some(auxv(r)),
            random: bytes.map(|b| [b; 16]),
        };
        assert_eq!(at_random(&auxv(0x7ff0)), Some(0x7ff0));
        let parent = mark(0x7ff0, Some(1));
        assert_eq!(lineage(true, &mark(1, None), &parent), Lineage::SharedFrame);
        assert_eq!(
            lineage(false, &mark(0x7ff0, Some(1)), &parent),
            Lineage::AtRandom
        );
        assert_eq!(
            lineage(false, &mark(0x7ff0, Some(2)), &parent),
            Lineage::Exec
        );
        assert_eq!(
            lineage(false, &mark(0x7ff8, Some(1)), &parent),
            Lineage::Exec
        );
        assert_eq!(lineage(false, &mark(0x7ff8, None), &parent), Lineage::Exec);
        assert_eq!(
            lineage(false, &mark(0x7ff0, None), &parent),
            Lineage::Unproven
        );
        assert_eq!(
            lineage(false, &ExecMark::default(), &parent),
            Lineage::Unproven
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
