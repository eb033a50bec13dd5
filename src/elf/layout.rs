//! Turning the header facts into runs of pages. Pure.
//!
//! Every page-aligned address where something that decides a page changes is a boundary:
//! the ends of each `PT_LOAD` (and of its file part, and of the partly zeroed page between),
//! of `PT_GNU_RELRO`, of each section, and where pages start or stop carrying
//! relocations. Between two boundaries every page is decided alike, so the work and the
//! memory follow the number of boundaries, never the size of the image. A page covered by
//! two `PT_LOAD`s belongs to the later one, as the later `mmap(MAP_FIXED)` replaces the
//! earlier.

use super::read::MAX_SECTIONS;
use super::{LoadSegment, LoaderAction, PageRun, PlanError, SHARED_SECTION, Section, SegmentKind};
use crate::addr::{PAGE_SIZE, page_down, page_up};

/// The most (run, section) pairs the distinct section sets may hold: more can only come
/// from corrupt or hostile section headers.
pub const MAX_SECTION_PAIRS: usize = 1 << 20;

pub(super) struct Layout<'a> {
    pub segments: &'a [LoadSegment],
    /// The plan's sections: no more than [`MAX_SECTIONS`] are placed (the plan says when
    /// it kept fewer).
    pub sections: &'a [Section],
    pub relro: Option<(u64, u64)>,
    /// Relocations per page of the image (empty: not counted).
    pub reloc_counts: &'a [u32],
    pub textrel: bool,
}

pub(super) struct Runs {
    pub runs: Vec<PageRun>,
    pub section_sets: Vec<Vec<u32>>,
}

impl Layout<'_> {
    fn image(&self) -> (u64, u64) {
        super::image_bounds(self.segments)
    }

    fn boundaries(&self) -> Vec<u64> {
        let (start, end) = self.image();
        let mut b: Vec<u64> = vec![start, end];
        for s in self.segments {
            let file_end = s.p_vaddr + s.p_filesz;
            b.extend([
                page_down(s.p_vaddr),
                page_up(s.p_vaddr + s.p_memsz),
                page_down(file_end),
                page_up(file_end),
            ]);
        }
        if let Some((s, e)) = self.relro {
            b.extend([page_down(s), page_down(e)]);
        }
        for s in self.sections.iter().take(MAX_SECTIONS) {
            b.extend([
                page_down(s.sh_addr),
                page_up(s.sh_addr.saturating_add(s.sh_size)),
            ]);
        }
        let mut was = false;
        for (i, &n) in self.reloc_counts.iter().enumerate() {
            if (n > 0) != was {
                b.push(start + i as u64 * PAGE_SIZE);
                was = n > 0;
            }
        }
        b.retain(|&x| x >= start && x <= end);
        b.sort_unstable();
        b.dedup();
        b
    }

    /// The segment that maps page `vaddr`: the last `PT_LOAD` covering it.
    fn owner(&self, vaddr: u64) -> Option<usize> {
        self.segments.iter().rposition(|s| {
            let any = s.p_flags.readable() || s.p_flags.writable() || s.p_flags.executable();
            any && vaddr >= page_down(s.p_vaddr) && vaddr < page_up(s.p_vaddr + s.p_memsz)
        })
    }

    fn relocated(&self, vaddr: u64) -> bool {
        let i = ((vaddr - self.image().0) / PAGE_SIZE) as usize;
        self.reloc_counts.get(i).is_some_and(|&n| n > 0)
    }

    /// Decides the kind and loader action of the pages from `vaddr` (up to the next
    /// boundary) in segment `seg`, with `on_page` the sections there.
    fn decide(&self, seg: &LoadSegment, vaddr: u64, shared: bool) -> (SegmentKind, LoaderAction) {
        let file_end = seg.p_vaddr + seg.p_filesz;
        let mem_end = seg.p_vaddr + seg.p_memsz;
        let relocated = self.relocated(vaddr);
        let relro = self
            .relro
            .is_some_and(|(s, e)| vaddr >= page_down(s) && vaddr < page_down(e));
        let (w, x) = (seg.p_flags.writable(), seg.p_flags.executable());
        let patch_or_map = if self.textrel && relocated {
            LoaderAction::PatchText
        } else {
            LoaderAction::MapReadOnly
        };
        if shared {
            (SegmentKind::Shared, LoaderAction::MapSharedWindow)
        } else if relro {
            let action = if relocated {
                LoaderAction::Relocate
            } else {
                LoaderAction::MapCopyOnWrite
            };
            (SegmentKind::Relro, action)
        } else if x && (!w || self.textrel) {
            (SegmentKind::Text, patch_or_map)
        } else if !w {
            (SegmentKind::Rodata, patch_or_map)
        } else if vaddr >= page_up(file_end) {
            (SegmentKind::Bss, LoaderAction::MapAnonymous)
        } else if mem_end > file_end && vaddr == page_down(file_end) && file_end % PAGE_SIZE != 0 {
            (SegmentKind::Data, LoaderAction::ZeroTail)
        } else if relocated {
            (SegmentKind::Data, LoaderAction::Relocate)
        } else {
            (SegmentKind::Data, LoaderAction::MapCopyOnWrite)
        }
    }

    pub fn runs(&self) -> Result<Runs, PlanError> {
        let (image_start, _) = self.image();
        let bounds = self.boundaries();
        // Sections by start, to sweep them in address order.
        let mut by_start: Vec<u32> = (0..self.sections.len().min(MAX_SECTIONS) as u32).collect();
        let span = |i: u32| {
            let s = &self.sections[i as usize];
            (
                page_down(s.sh_addr),
                page_up(s.sh_addr.saturating_add(s.sh_size)),
            )
        };
        by_start.sort_by_key(|&i| span(i).0);
        let mut next_section = 0;
        let mut active: Vec<u32> = Vec::new();
        let mut out = Runs {
            runs: Vec::new(),
            section_sets: vec![Vec::new()],
        };
        let mut pairs = 0usize;
        let mut set_index: std::collections::HashMap<Vec<u32>, u32> =
            std::collections::HashMap::from([(Vec::new(), 0)]);
        for w in bounds.windows(2) {
            let (from, to) = (w[0], w[1]);
            active.retain(|&i| span(i).1 > from);
            while next_section < by_start.len() && span(by_start[next_section]).0 <= from {
                let i = by_start[next_section];
                if span(i).1 > from {
                    active.push(i);
                }
                next_section += 1;
            }
            let Some(load) = self.owner(from) else {
                continue;
            };
            let seg = &self.segments[load];
            active.sort_unstable();
            let shared = active
                .iter()
                .any(|&i| self.sections[i as usize].name == SHARED_SECTION);
            let (segment, loader) = self.decide(seg, from, shared);
            let set = match set_index.get(&active) {
                Some(&i) => i,
                None => {
                    pairs += active.len();
                    if pairs > MAX_SECTION_PAIRS {
                        return Err(PlanError::corrupt(format!(
                            "section headers name more than {MAX_SECTION_PAIRS} (run, section) \
                             pairs: they are corrupt"
                        )));
                    }
                    let i = out.section_sets.len() as u32;
                    out.section_sets.push(active.clone());
                    set_index.insert(active.clone(), i);
                    i
                }
            };
            // Beyond the file part of its segment a page is zero-filled memory whatever its
            // kind: no file offset backs it (a read-only segment with p_filesz 0, too).
            let file_offset = (from < page_up(seg.p_vaddr + seg.p_filesz))
                .then(|| page_down(seg.p_offset) + (from - page_down(seg.p_vaddr)));
            let run = PageRun {
                offset: from - image_start,
                vaddr: from,
                pages: (to - from) / PAGE_SIZE,
                segment,
                loader,
                load: load as u32,
                sections: set,
                file_offset,
            };
            match out.runs.last_mut() {
                Some(last) if continues(last, &run) => last.pages += run.pages,
                _ => out.runs.push(run),
            }
        }
        Ok(out)
    }
}

/// Whether `next` is more of `last`: adjacent and alike in everything the plan says.
fn continues(last: &PageRun, next: &PageRun) -> bool {
    last.end_vaddr() == next.vaddr
        && last.segment == next.segment
        && last.loader == next.loader
        && last.load == next.load
        && last.sections == next.sections
        && last.loader != LoaderAction::ZeroTail
        && match (last.file_offset, next.file_offset) {
            (Some(a), Some(b)) => a + last.pages * PAGE_SIZE == b,
            (None, None) => true,
            _ => false,
        }
}
