//! Groups of processes (`solab ps --by`, `solab libs --by`): the frames a group maps,
//! counted once, and which of them other processes map too.

use crate::addr::Pfn;
use std::collections::{HashMap, HashSet};
use std::hash::Hash;

/// The words of a group of processes (`--by`), with their one definition. Each counts a
/// frame once however many of the group's processes map it; only frame numbers show them.
pub const GROUP_WORDS: [(&str, &str); 3] = [
    (
        "ALONE",
        "distinct frames the group's processes map, each counted once: what the group would cost alone; on the TOTAL line, the distinct frames of all the processes read, each counted once however many groups map it",
    ),
    (
        "ONLY",
        "frames of the group that no process outside it maps (kpagecount no higher than the group's own mappings): what the group's exit would free, but for file pages, which stay in the page cache",
    ),
    (
        "WITH-REST",
        "frames of the group that a process outside it maps too (kpagecount higher than the group's own mappings)",
    ),
];

/// The words of `solab libs --by`, per group of processes, with their one definition.
pub const LIBS_GROUP_WORDS: [(&str, &str); 3] = [
    (
        "FRAMES",
        "distinct frames of the ELF objects the group's processes map, each counted once: what its libraries would cost it alone",
    ),
    (
        "WITH-OTHERS",
        "of those frames, the ones a process of another group maps too (among the processes scanned): library memory really shared across the groups",
    ),
    (
        "SAME-LIBS",
        "the group's ELF objects whose library (the same build-id, or path without one) a process of another group maps too",
    ),
];

/// The distinct frames of a group's page-table entries (ALONE) and how many of the entries
/// map each: `sorted` holds the frame of every present page of the group's processes, one
/// per entry, sorted.
pub fn mappings_per_frame(sorted: &[u64]) -> (Vec<Pfn>, Vec<u64>) {
    let mut distinct: Vec<Pfn> = Vec::new();
    let mut inside: Vec<u64> = Vec::new();
    for &f in sorted {
        match distinct.last() {
            Some(d) if d.0 == f => {
                if let Some(m) = inside.last_mut() {
                    *m += 1;
                }
            }
            _ => {
                distinct.push(Pfn(f));
                inside.push(1);
            }
        }
    }
    (distinct, inside)
}

/// TOTAL's ALONE: the distinct frames of all the processes read, each counted once however
/// many groups map it. `groups` holds each group's distinct frames (its ALONE, from
/// [`mappings_per_frame`]). It is at least the largest group's ALONE and at most their sum;
/// the sum less it is what the groups share with one another.
pub fn alone_over_groups(groups: Vec<Vec<Pfn>>) -> u64 {
    let mut all: Vec<u64> = groups.into_iter().flatten().map(|p| p.0).collect();
    all.sort_unstable();
    all.dedup();
    all.len() as u64
}

/// Whether a frame of a group is ONLY the group's (else WITH-REST): its kpagecount, solab's
/// own mappings of it taken off, is no higher than the group's own mappings of it
/// (`inside`, [`mappings_per_frame`]), since kpagecount counts page-table entries. A frame
/// the group maps more often than the kernel counted changed during the scan: it counts as
/// the group's only.
pub fn only_in_group(kpagecount: u64, inside: u64) -> bool {
    kpagecount <= inside
}

/// WITH-OTHERS of each group: of its frames, how many a process of another group maps too,
/// by frame number. `groups[g]` holds group g's frame lists, one per ELF object its
/// processes map (a list holds each frame once); a frame is another group's too when more
/// than one list of all the groups holds it.
pub fn with_others(groups: &[Vec<&[u64]>]) -> Vec<u64> {
    let mut lists: HashMap<u64, u32> = HashMap::new();
    for &f in groups.iter().flatten().copied().flatten() {
        *lists.entry(f).or_insert(0) += 1;
    }
    groups
        .iter()
        .map(|g| {
            g.iter()
                .copied()
                .flatten()
                .filter(|f| lists.get(f).is_some_and(|&n| n > 1))
                .count() as u64
        })
        .collect()
}

/// SAME-LIBS of each group: how many of its ELF objects are a library that another group
/// maps too. `groups[g]` holds the library of each of group g's objects (its build-id, or
/// its path without one).
pub fn same_libs<K: Eq + Hash>(groups: &[Vec<K>]) -> Vec<u32> {
    let mut in_groups: HashMap<&K, u32> = HashMap::new();
    for g in groups {
        for lib in g.iter().collect::<HashSet<&K>>() {
            *in_groups.entry(lib).or_insert(0) += 1;
        }
    }
    groups
        .iter()
        .map(|g| {
            g.iter()
                .filter(|lib| in_groups.get(lib).is_some_and(|&n| n > 1))
                .count() as u32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_of_a_group_counted_once() {
        let (distinct, inside) = mappings_per_frame(&[3, 3, 5, 8, 8, 8]);
        assert_eq!(distinct, vec![Pfn(3), Pfn(5), Pfn(8)]);
        assert_eq!(inside, vec![2, 1, 3]);
        assert_eq!(mappings_per_frame(&[]), (vec![], vec![]));
    }

    #[test]
    fn frames_of_all_groups_counted_once() {
        let pfns = |v: &[u64]| v.iter().map(|&f| Pfn(f)).collect::<Vec<_>>();
        // Frame 5 is mapped by both groups: counted once, so 4 frames, not 5.
        assert_eq!(alone_over_groups(vec![pfns(&[1, 5]), pfns(&[2, 5, 9])]), 4);
        assert_eq!(alone_over_groups(vec![pfns(&[1, 2])]), 2);
        assert_eq!(alone_over_groups(vec![]), 0);
    }

    #[test]
    fn only_or_with_rest() {
        // Two of the group's entries map the frame, the kernel counts two: only the group.
        assert!(only_in_group(2, 2));
        // A third entry is outside the group.
        assert!(!only_in_group(3, 2));
        // Changed during the scan: the group's.
        assert!(only_in_group(1, 2));
    }

    #[test]
    fn frames_with_other_groups() {
        let a: Vec<&[u64]> = vec![&[1, 2, 3], &[7]];
        let b: Vec<&[u64]> = vec![&[2, 3, 4]];
        let c: Vec<&[u64]> = vec![&[5]];
        assert_eq!(with_others(&[a, b, c]), vec![2, 2, 0]);
    }

    #[test]
    fn libraries_with_other_groups() {
        let groups = vec![vec!["libc", "libc", "libm"], vec!["libc"], vec!["libz"]];
        // The first group's two objects of libc count; libc is counted once per group.
        assert_eq!(same_libs(&groups), vec![2, 1, 0]);
    }
}
