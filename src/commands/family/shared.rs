//! Memory shared by design in a family: the resident pages of each member's MAP_SHARED
//! mappings (the word "shared memory", [`crate::sharing::FAMILY_WORDS`]). A page of such a
//! mapping is the page of its file (or shared anonymous object, which the kernel gives a
//! device and inode of its own) at the mapping's offset: the family's figure counts each
//! (device, inode, page offset) once, which needs no frame numbers.

use super::litter::WINDOW;
use crate::addr::{PAGE_SIZE, VirtAddr};
use crate::error::Result;
use crate::kernel::pagemap::{Pagemap, ranges_to_read};
use crate::maps::MapEntry;
use crate::page_words::PagemapEntry;
use std::collections::HashMap;

/// A file or shared object: (device major, minor, inode).
type ObjectKey = ((u32, u32), u64);

/// One member's resident shared pages: their bytes, and which pages, as runs of page
/// offsets in their object (for the family's count).
#[derive(Clone, Debug, Default)]
pub(super) struct SharedPages {
    pub resident: u64,
    /// (object, first page offset, pages).
    runs: Vec<(ObjectKey, u64, u64)>,
}

/// Whether a mapping holds memory shared by design: MAP_SHARED, not empty, not one of the
/// kernel's own (`[vvar]`, `[vsyscall]`, which are not MAP_SHARED anyway).
fn holds_shared_pages(m: &MapEntry) -> bool {
    m.perms.shared && !m.is_empty() && !m.is_pseudo("[vvar]") && !m.is_pseudo("[vsyscall]")
}

/// The resident pages of the MAP_SHARED mappings in `maps`, from the pagemap `pm` of the
/// same process (present: bit 63), window by window; `words` is reused.
pub(super) fn read(
    pm: &mut Pagemap,
    maps: &[MapEntry],
    words: &mut Vec<PagemapEntry>,
) -> Result<SharedPages> {
    let mut out = SharedPages::default();
    for m in maps.iter().filter(|m| holds_shared_pages(m)) {
        let key = (m.dev, m.inode);
        for (from, to) in ranges_to_read(pm, m.start.0, m.end.0)? {
            let mut at = from;
            while at < to {
                let until = to.min((at / WINDOW + 1) * WINDOW);
                pm.read_into(VirtAddr(at), (until - at) / PAGE_SIZE, words)?;
                for (k, w) in words.iter().enumerate() {
                    if !w.present() {
                        continue;
                    }
                    out.resident += PAGE_SIZE;
                    let page = m.offset / PAGE_SIZE + (at - m.start.0) / PAGE_SIZE + k as u64;
                    match out.runs.last_mut() {
                        Some((o, first, n)) if *o == key && *first + *n == page => *n += 1,
                        _ => out.runs.push((key, page, 1)),
                    }
                }
                at = until;
            }
        }
    }
    Ok(out)
}

/// The family's shared pages: every member's runs, each page once. Per object, the runs are
/// merged whenever they have doubled since the last merge, so that members mapping the same
/// pages cost the distinct runs, not one copy each.
#[derive(Default)]
pub(super) struct Union {
    /// Per object: its runs `[first, end)` of page offsets, and how many were left at the
    /// last merge.
    runs: HashMap<ObjectKey, (Vec<(u64, u64)>, usize)>,
}

/// Sorts `runs` and merges the ones that overlap or touch.
fn merge(runs: &mut Vec<(u64, u64)>) {
    runs.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(runs.len());
    for &(a, b) in runs.iter() {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    *runs = out;
}

impl Union {
    pub fn add(&mut self, pages: &SharedPages) {
        for &(key, first, n) in &pages.runs {
            let (runs, merged) = self.runs.entry(key).or_default();
            runs.push((first, first + n));
            if runs.len() > 2 * *merged + 64 {
                merge(runs);
                *merged = runs.len();
            }
        }
    }

    /// The distinct pages of all members, in bytes.
    pub fn bytes(mut self) -> u64 {
        let mut pages = 0;
        for (runs, _) in self.runs.values_mut() {
            merge(runs);
            pages += runs.iter().map(|(a, b)| b - a).sum::<u64>();
        }
        pages * PAGE_SIZE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_counts_each_page_once() {
        let key = ((0, 1), 7);
        let mut u = Union::default();
        u.add(&SharedPages {
            resident: 4 * PAGE_SIZE,
            runs: vec![(key, 0, 4)],
        });
        u.add(&SharedPages {
            resident: 4 * PAGE_SIZE,
            runs: vec![(key, 2, 3), (((0, 1), 8), 2, 1)],
        });
        assert_eq!(u.bytes(), 6 * PAGE_SIZE);
    }
}
