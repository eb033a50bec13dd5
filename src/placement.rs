//! Tying a process's mappings to an ELF object's page plan. Pure: works on parsed maps
//! entries and an [`ElfPlan`].
//!
//! The load bias is found from the ELF headers, not from file offsets alone: rust-lld lays
//! out `p_vaddr != p_offset`, so a page is placed at `p_vaddr + bias` and attributed to
//! sections by `p_vaddr`. The mappings that belong to the object are those of its file
//! (device, inode), the anonymous `.bss` tail right after the file part, and any
//! `MAP_SHARED` window mapped over the object's range (the `.shared` section).

use crate::addr::{PAGE_SIZE, VirtAddr, page_down, page_up};
use crate::elf::{ElfPlan, LoadSegment};
use crate::maps::{FileId, MapEntry};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Where an object sits in one process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    /// Added to an ELF `p_vaddr` to get the address in the process.
    pub bias: u64,
    /// Address of offset 0 of the load image.
    pub base: VirtAddr,
    /// End of the load image (exclusive).
    pub end: VirtAddr,
}

impl Placement {
    /// The address in the process of the page at ELF address `vaddr`.
    pub fn runtime(&self, vaddr: u64) -> VirtAddr {
        VirtAddr(vaddr.wrapping_add(self.bias))
    }
}

/// How a mapping inside the object's range relates to the object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MappingKind {
    /// A private mapping of the object's own file.
    File,
    /// Anonymous private memory: the `.bss` tail.
    Anonymous,
    /// A `MAP_SHARED` mapping (of any file, or shared anonymous memory) over the range.
    SharedWindow,
    /// Something else mapped inside the range.
    Other,
}

/// How `entry`, a mapping inside the range of the object of file `id` (`None`: the vdso),
/// relates to the object.
pub fn mapping_kind(entry: &MapEntry, id: Option<FileId>) -> MappingKind {
    if entry.perms.shared {
        MappingKind::SharedWindow
    } else if (id.is_some() && entry.file_id() == id) || (id.is_none() && entry.is_pseudo("[vdso]"))
    {
        MappingKind::File
    } else if entry.target == crate::maps::MapTarget::Anonymous {
        MappingKind::Anonymous
    } else {
        MappingKind::Other
    }
}

/// Does `entry` map the page-aligned part of `seg` at `bias` with a matching file offset?
fn consistent(entry: &MapEntry, seg: &LoadSegment, bias: u64) -> bool {
    let seg_start = page_down(seg.p_vaddr).wrapping_add(bias);
    let seg_file_end = page_up(seg.p_vaddr + seg.p_filesz).wrapping_add(bias);
    entry.start.0 >= seg_start
        && entry.start.0 < seg_file_end
        && entry.offset == page_down(seg.p_offset) + (entry.start.0 - seg_start)
}

/// The private mappings of each file of one process, built once from its maps (in
/// address order): placing each object looks up its own file's mappings, never all of
/// the process's, so a process of N objects costs N lookups, not N scans of its map.
#[derive(Default)]
pub struct FileMappings {
    by_file: HashMap<FileId, Vec<u32>>,
}

impl FileMappings {
    pub fn new(maps: &[MapEntry]) -> FileMappings {
        let mut by_file: HashMap<FileId, Vec<u32>> = HashMap::new();
        for (i, m) in maps.iter().enumerate() {
            if let Some(id) = m.file_id()
                && !m.perms.shared
            {
                by_file.entry(id).or_default().push(i as u32);
            }
        }
        FileMappings { by_file }
    }

    /// The private mappings of file `id` in `maps` (the map this was built from).
    fn of<'m>(&self, maps: &'m [MapEntry], id: FileId) -> Vec<&'m MapEntry> {
        self.by_file
            .get(&id)
            .map_or_else(Vec::new, |v| v.iter().map(|&i| &maps[i as usize]).collect())
    }
}

/// Finds the load bias of the object `id` in `maps`: the candidate that makes the most of
/// the file's mappings agree with the `PT_LOAD` headers. An error names what disagrees.
/// For one object; [`place_in`] places each of a process's objects from one index.
pub fn place(plan: &ElfPlan, maps: &[MapEntry], id: FileId) -> Result<Placement, String> {
    let file_maps: Vec<&MapEntry> = maps
        .iter()
        .filter(|m| m.file_id() == Some(id) && !m.perms.shared)
        .collect();
    place_among(plan, file_maps)
}

/// [`place`], the file's mappings looked up in `index`, built from `maps`.
pub fn place_in(
    plan: &ElfPlan,
    maps: &[MapEntry],
    index: &FileMappings,
    id: FileId,
) -> Result<Placement, String> {
    place_among(plan, index.of(maps, id))
}

/// [`place`] among `file_maps`, the private mappings of the object's file.
fn place_among(plan: &ElfPlan, mut file_maps: Vec<&MapEntry>) -> Result<Placement, String> {
    file_maps.sort_by_key(|m| m.start);
    let first = file_maps
        .first()
        .ok_or_else(|| "no private mapping of the file".to_string())?;
    let mut best: Option<(usize, u64)> = None;
    for anchor in file_maps.iter().take(4) {
        for seg in plan.segments_at_file_offset(page_down(anchor.offset)) {
            let bias = anchor.start.0.wrapping_sub(page_down(seg.p_vaddr));
            let score = file_maps
                .iter()
                .filter(|m| plan.segments.iter().any(|s| consistent(m, s, bias)))
                .count();
            if best.is_none_or(|(s, _)| score > s) {
                best = Some((score, bias));
            }
        }
    }
    let Some((score, bias)) = best else {
        return Err(format!(
            "the mapping at {} (file offset {:#x}) matches no PT_LOAD of the ELF headers; \
             is the file on disk the one that was mapped?",
            first.start, first.offset
        ));
    };
    if score == 0 {
        return Err("no mapping agrees with the PT_LOAD headers".into());
    }
    Ok(Placement {
        bias,
        base: VirtAddr(plan.image_start.wrapping_add(bias)),
        end: VirtAddr(plan.image_end.wrapping_add(bias)),
    })
}

/// Placement of an image mapped at `start` with no file behind it (the vdso).
pub fn place_at(plan: &ElfPlan, start: VirtAddr) -> Placement {
    let bias = start.0.wrapping_sub(plan.image_start);
    Placement {
        bias,
        base: start,
        end: VirtAddr(plan.image_end.wrapping_add(bias)),
    }
}

/// The part of a mapping that lies inside the object's range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window<'m> {
    pub entry: &'m MapEntry,
    pub kind: MappingKind,
    pub start: VirtAddr,
    pub end: VirtAddr,
}

impl Window<'_> {
    pub fn pages(&self) -> u64 {
        (self.end.0 - self.start.0) / PAGE_SIZE
    }
}

/// The mappings that cover the object's range, clipped to it, in address order. `maps`
/// is a process's map as it is read (in address order, not overlapping): the first one
/// is found by bisection, so an object costs the mappings of its range, not the map.
pub fn windows<'m>(
    maps: &'m [MapEntry],
    placement: &Placement,
    id: Option<FileId>,
) -> Vec<Window<'m>> {
    let from = maps.partition_point(|m| m.end <= placement.base);
    let mut out: Vec<Window<'m>> = maps[from..]
        .iter()
        .take_while(|m| m.start < placement.end)
        .filter(|m| m.end > placement.base)
        .map(|m| Window {
            entry: m,
            kind: mapping_kind(m, id),
            start: m.start.max(placement.base),
            end: m.end.min(placement.end),
        })
        .collect();
    out.sort_by_key(|w| w.start);
    out
}

/// The window covering `addr`.
pub fn window_at<'a, 'm>(windows: &'a [Window<'m>], addr: VirtAddr) -> Option<&'a Window<'m>> {
    windows.iter().find(|w| w.start <= addr && addr < w.end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::maps::parse_maps;

    fn lld_plan() -> ElfPlan {
        let seg = |o, v, f, m, fl: &str| LoadSegment {
            p_offset: o,
            p_vaddr: v,
            p_filesz: f,
            p_memsz: m,
            p_flags: crate::elf::SegmentFlags::parse(fl).expect("flags"),
        };
        let segments = vec![
            seg(0, 0, 0x1500, 0x1500, "R--"),
            seg(0x1500, 0x2500, 0x2000, 0x2000, "R-X"),
            seg(0x3500, 0x5500, 0x1b00, 0x1b00, "RW-"),
            seg(0x5000, 0x8000, 0x2000, 0x4000, "RW-"),
        ];
        crate::elf::plan_from_headers(segments, vec![], None, &[], false).expect("plan")
    }

    const LLD_MAPS: &str = "\
7f0000000000-7f0000002000 r--p 00000000 fe:00 99 /lib x.so
7f0000002000-7f0000005000 r-xp 00001000 fe:00 99 /lib x.so
7f0000005000-7f0000007000 rw-p 00003000 fe:00 99 /lib x.so
7f0000008000-7f0000009000 rw-p 00005000 fe:00 99 /lib x.so
7f0000009000-7f000000a000 rw-s 00000000 00:1a 5 /dev/shm/solib-u0-v1
7f000000a000-7f000000e000 rw-p 00000000 00:00 0 
";

    #[test]
    fn bias_from_headers_not_offsets() {
        let maps = parse_maps(LLD_MAPS.as_bytes()).expect("maps");
        let id = maps[0].file_id().expect("id");
        let p = place(&lld_plan(), &maps, id).expect("placement");
        let index = FileMappings::new(&maps);
        assert_eq!(place_in(&lld_plan(), &maps, &index, id), Ok(p.clone()));
        assert_eq!(p.bias, 0x7f0000000000);
        assert_eq!(p.end, VirtAddr(0x7f000000c000));
        let w = windows(&maps, &p, Some(id));
        let kinds: Vec<MappingKind> = w.iter().map(|w| w.kind).collect();
        assert_eq!(
            kinds,
            vec![
                MappingKind::File,
                MappingKind::File,
                MappingKind::File,
                MappingKind::File,
                MappingKind::SharedWindow,
                MappingKind::Anonymous
            ]
        );
        // The anonymous mapping runs past the image; the window is clipped to it.
        assert_eq!(w[5].end, VirtAddr(0x7f000000c000));
        assert_eq!(
            window_at(&w, VirtAddr(0x7f0000009000)).map(|w| w.kind),
            Some(MappingKind::SharedWindow)
        );
        assert!(window_at(&w, VirtAddr(0x7f0000007000)).is_none());
    }

    #[test]
    fn mismatched_file_is_an_error() {
        let maps =
            parse_maps(b"7f0000000000-7f0000002000 r--p 00042000 fe:00 99 /x.so\n").expect("maps");
        let id = maps[0].file_id().expect("id");
        let e = place(&lld_plan(), &maps, id).expect_err("no PT_LOAD at 0x42000");
        assert!(e.contains("0x42000"), "{e}");
    }
}
