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

use super::row::RowFrames;
use super::{ByClass, PsRow};
use crate::addr::PAGE_SIZE;
use crate::sharing::MemClass;

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
            no_swap_pss: false,
        }
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
