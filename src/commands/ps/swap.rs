//! Swap counted once: SWAP-USS, the pages in swap whose swap entry no other page of the
//! scanned processes holds.
//!
//! The kernel keeps a count per swap entry (the swap map) but does not show it; SwapPss
//! (smaps) is its division, read per process. What is unique to a process is counted here
//! from the entries themselves (pagemap bits 0-54 of a swapped page, root only): an entry
//! met once among every swapped page of the scan is held by that page table alone. With
//! `-a` that is every process; with pids given, a process outside them that holds the
//! same entry is not seen (its share then shows in SWAP, the kernel's SwapPss, lower than
//! SWAP-USS).
//!
//! Shared memory in swap (shmem: `MAP_SHARED` anonymous memory, SysV, memfd, tmpfs) has no
//! swap entry in any page table: the kernel counts it in smaps `Swap` of every mapping of
//! the range, and not in `SwapPss`. Such pages of a `MAP_SHARED` mapping are divided here
//! ([`share_shmem`]) among the scanned `MAP_SHARED` mappings of the same file (device,
//! inode) whose file range overlaps the mapping's, as the kernel divides a frame among
//! the page tables mapping it: exact where every mapping of the object covers the same
//! range (inherited by fork, a segment attached whole); where ranges overlap in part the
//! pages are divided by the mappings overlapping the range, not page by page (smaps gives
//! the sum, not which pages are in swap).

use super::row::RowFrames;
use super::{ByClass, PsRow};
use crate::addr::PAGE_SIZE;
use crate::sharing::MemClass;

/// The swap of one `MAP_SHARED` mapping of a process (smaps `Swap`: its shmem pages in
/// swap), and the file range it maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ShmemSwap {
    pub(super) dev: (u32, u32),
    pub(super) inode: u64,
    /// The range of the file mapped, in bytes: offset and end.
    pub(super) offset: u64,
    pub(super) end: u64,
    /// [`MemClass::ALL`]'s index of the mapping's class.
    pub(super) class: usize,
    pub(super) swap: u64,
}

/// Adds to `swap_pss` of every row (and of its classes) its share of the shmem swap of its
/// `MAP_SHARED` mappings (each mapping's smaps `Swap` divided by the number of scanned
/// mappings of the same file that overlap its range, itself included, rounded down to
/// bytes), and with `unique` to `swap_unique` the swap of the mappings no other overlaps.
pub(super) fn share_shmem(rows: &mut [PsRow], scanned: &[RowFrames], unique: bool) {
    let mut all: Vec<&ShmemSwap> = scanned.iter().flat_map(|f| &f.shmem).collect();
    if all.is_empty() {
        return;
    }
    all.sort_unstable_by_key(|s| (s.dev, s.inode, s.offset));
    // The mappings of one file overlapping [offset, end): those of the same file sorted
    // before `end` whose own end is past `offset`.
    let holders = |m: &ShmemSwap| -> u64 {
        let first = all.partition_point(|s| (s.dev, s.inode) < (m.dev, m.inode));
        all[first..]
            .iter()
            .take_while(|s| (s.dev, s.inode) == (m.dev, m.inode) && s.offset < m.end)
            .filter(|s| s.end > m.offset)
            .count()
            .max(1) as u64
    };
    for (r, f) in rows.iter_mut().zip(scanned) {
        for m in &f.shmem {
            let n = holders(m);
            let share = m.swap / n;
            let alone = if n == 1 { m.swap } else { 0 };
            let c = r.classes.get_mut(MemClass::ALL[m.class]);
            c.swap_pss += share;
            r.cost.swap_pss += share;
            if unique {
                c.swap_unique = Some(c.swap_unique.unwrap_or(0) + alone);
                r.cost.swap_unique = Some(r.cost.swap_unique.unwrap_or(0) + alone);
            }
        }
    }
}

/// Sets `swap_unique` of every row (and of its classes) from the swap entries of
/// `scanned` (each row's, `entry << 2 | class`, sorted).
pub(super) fn count_unique(rows: &mut [PsRow], scanned: &[RowFrames]) {
    let mut all: Vec<u64> = scanned
        .iter()
        .flat_map(|f| f.swaps.iter().map(|s| s >> 2))
        .collect();
    all.sort_unstable();
    let held_once = |entry: u64| {
        let first = all.partition_point(|&e| e < entry);
        all.get(first + 1) != Some(&entry)
    };
    for (r, f) in rows.iter_mut().zip(scanned) {
        let mut unique = [0u64; 4];
        for &s in &f.swaps {
            if held_once(s >> 2) {
                unique[(s & 3) as usize] += PAGE_SIZE;
            }
        }
        set_unique(&mut r.classes, &unique);
        r.cost.swap_unique = Some(unique.iter().sum());
    }
}

fn set_unique(classes: &mut ByClass, unique: &[u64; 4]) {
    for (c, &u) in MemClass::ALL.iter().zip(unique) {
        classes.get_mut(*c).swap_unique = Some(u);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::ps::Cost;

    fn row(pid: i32) -> PsRow {
        PsRow {
            pid,
            uid: 0,
            user: String::new(),
            comm: String::new(),
            comm_bytes: None,
            cgroup: String::new(),
            mnt_ns: None,
            cmdline: None,
            cost: Cost::default(),
            classes: ByClass::default(),
        }
    }

    fn swaps(entries: &[(u64, u64)]) -> RowFrames {
        let mut swaps: Vec<u64> = entries.iter().map(|&(e, c)| e << 2 | c).collect();
        swaps.sort_unstable();
        RowFrames {
            cgroup_v1: false,
            frames: Vec::new(),
            swaps,
            shmem: Vec::new(),
            no_swap_pss: false,
        }
    }

    fn shmem(inode: u64, (offset, end): (u64, u64), swap: u64) -> ShmemSwap {
        ShmemSwap {
            dev: (0, 1),
            inode,
            offset,
            end,
            class: 2,
            swap,
        }
    }

    #[test]
    fn shmem_swap_is_divided_among_the_mappings_of_its_range() {
        let mut rows = vec![row(1), row(2), row(3)];
        let mut scanned = [swaps(&[]), swaps(&[]), swaps(&[])];
        // Inode 5 pages 0..28 mapped by 1 and 2 (8 pages in swap each); inode 6 by 3 alone;
        // inode 5 again by 3 beyond the others' range (no overlap: its own).
        scanned[0].shmem = vec![shmem(5, (0, 28 * PAGE_SIZE), 8 * PAGE_SIZE)];
        scanned[1].shmem = vec![shmem(5, (0, 28 * PAGE_SIZE), 8 * PAGE_SIZE)];
        scanned[2].shmem = vec![
            shmem(6, (0, PAGE_SIZE), PAGE_SIZE),
            shmem(5, (28 * PAGE_SIZE, 30 * PAGE_SIZE), PAGE_SIZE),
        ];
        for r in &mut rows {
            r.cost.swap_unique = Some(0);
        }
        share_shmem(&mut rows, &scanned, true);
        assert_eq!(rows[0].cost.swap_pss, 4 * PAGE_SIZE);
        assert_eq!(rows[1].classes.shared.swap_pss, 4 * PAGE_SIZE);
        assert_eq!(rows[0].cost.swap_unique, Some(0));
        assert_eq!(rows[2].cost.swap_pss, 2 * PAGE_SIZE);
        assert_eq!(rows[2].cost.swap_unique, Some(2 * PAGE_SIZE));
        assert_eq!(rows[2].classes.shared.swap_unique, Some(2 * PAGE_SIZE));
    }

    #[test]
    fn an_entry_two_pages_hold_is_nobodys_alone() {
        let mut rows = vec![row(1), row(2), row(3)];
        // Entry 10 is held by both 1 and 2; 11 by 1 alone (anon); 12 by 2 alone (shared
        // class); 13 twice by 3 (two pages of one process: not unique, as a frame mapped
        // twice is not in USS).
        let scanned = [
            swaps(&[(10, 1), (11, 1)]),
            swaps(&[(10, 1), (12, 2)]),
            swaps(&[(13, 1), (13, 1)]),
        ];
        count_unique(&mut rows, &scanned);
        assert_eq!(rows[0].cost.swap_unique, Some(PAGE_SIZE));
        assert_eq!(rows[0].classes.anon.swap_unique, Some(PAGE_SIZE));
        assert_eq!(rows[1].cost.swap_unique, Some(PAGE_SIZE));
        assert_eq!(rows[1].classes.shared.swap_unique, Some(PAGE_SIZE));
        assert_eq!(rows[1].classes.anon.swap_unique, Some(0));
        assert_eq!(rows[2].cost.swap_unique, Some(0));
    }
}
