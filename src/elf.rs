//! The static page plan of an ELF object: for every page of its load image, which segment
//! kind it belongs to, which sections lie on it and what the dynamic loader will do to it.
//!
//! Pure: [`plan`] takes the file's bytes and returns an [`ElfPlan`]; nothing here reads a
//! file. Names follow the ELF specification (`p_vaddr`, `PT_GNU_RELRO`, `DT_TEXTREL`).
//! What the loader does is glibc's `elf/dl-load.c` (`_dl_map_segments`: every `PT_LOAD`
//! mapped `MAP_PRIVATE`, the `.bss` tail beyond `p_filesz` as anonymous memory) and
//! `elf/dl-reloc.c` (`_dl_protect_relro`: `[page_down(start), page_down(end))` of
//! `PT_GNU_RELRO` made read-only after relocation).

use crate::addr::{PAGE_SIZE, page_down, page_up};
use object::elf;
use object::read::elf::{Dyn, FileHeader, ProgramHeader, Rel, Rela, SectionHeader};
use serde::Serialize;
use std::collections::BTreeMap;

/// The kind of a page of the load image, which decides how it can be shared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SegmentKind {
    /// Executable, read-only: one page-cache frame for every process.
    Text,
    /// Read-only data: one page-cache frame for every process.
    Rodata,
    /// Inside `PT_GNU_RELRO`: written by relocations, then made read-only.
    Relro,
    /// Writable and backed by the file: copy-on-write.
    Data,
    /// Writable, beyond the file contents: anonymous zero-fill memory.
    Bss,
    /// A `.shared` section: the library maps a `MAP_SHARED` object over it.
    Shared,
}

impl SegmentKind {
    pub const ALL: [SegmentKind; 6] = [
        SegmentKind::Text,
        SegmentKind::Rodata,
        SegmentKind::Relro,
        SegmentKind::Data,
        SegmentKind::Bss,
        SegmentKind::Shared,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SegmentKind::Text => "text",
            SegmentKind::Rodata => "rodata",
            SegmentKind::Relro => "relro",
            SegmentKind::Data => "data",
            SegmentKind::Bss => "bss",
            SegmentKind::Shared => "shared",
        }
    }
}

/// What the dynamic loader (and the library itself, for `.shared`) does to a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoaderAction {
    /// Mapped read-only (or read-execute) from the file: stays the page-cache frame.
    MapReadOnly,
    /// Mapped read-only, but a text relocation on it is patched: a private copy.
    PatchText,
    /// Mapped copy-on-write; the loader writes relocations on it: a private copy at load.
    Relocate,
    /// Mapped copy-on-write; nothing written at load: the file's frame until a write.
    MapCopyOnWrite,
    /// Mapped copy-on-write; the loader zeroes the part beyond `p_filesz`: a private copy.
    ZeroTail,
    /// Anonymous zero-fill memory after the file contents (`.bss` tail).
    MapAnonymous,
    /// Mapped copy-on-write, then the library maps a `MAP_SHARED` object over it.
    MapSharedWindow,
}

impl LoaderAction {
    pub fn describe(self) -> &'static str {
        match self {
            LoaderAction::MapReadOnly => "mapped read-only from the file: the page-cache frame",
            LoaderAction::PatchText => "text relocation patched at load: a private copy",
            LoaderAction::Relocate => "relocations written at load: a private copy",
            LoaderAction::MapCopyOnWrite => "copy-on-write: the file's frame until written",
            LoaderAction::ZeroTail => "loader zeroes the .bss start: a private copy",
            LoaderAction::MapAnonymous => "anonymous zero-fill (.bss beyond the file)",
            LoaderAction::MapSharedWindow => "MAP_SHARED object mapped over it by the library",
        }
    }
}

/// One `PT_LOAD` program header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LoadSegment {
    pub p_offset: u64,
    pub p_vaddr: u64,
    pub p_filesz: u64,
    pub p_memsz: u64,
    /// `R`, `W`, `X` letters, `-` where a flag is clear, as readelf prints them.
    pub p_flags: String,
}

impl LoadSegment {
    fn readable(&self) -> bool {
        self.p_flags.starts_with('R')
    }
    pub fn writable(&self) -> bool {
        self.p_flags.as_bytes().get(1) == Some(&b'W')
    }
    pub fn executable(&self) -> bool {
        self.p_flags.as_bytes().get(2) == Some(&b'X')
    }
}

/// One allocated section (occupies memory at run time).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Section {
    pub name: String,
    pub sh_addr: u64,
    pub sh_size: u64,
    /// `SHT_NOBITS`: takes memory but no file bytes (`.bss`).
    pub nobits: bool,
}

/// One page of the load image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlannedPage {
    /// Bytes from the load base (the first `PT_LOAD`'s page-aligned `p_vaddr`).
    pub offset: u64,
    /// The page's address in the ELF virtual address space (`p_vaddr` space).
    pub vaddr: u64,
    pub segment: SegmentKind,
    pub sections: Vec<String>,
    /// Index into [`ElfPlan::segments`] of the `PT_LOAD` that maps this page.
    pub load: usize,
    /// The page-aligned file offset that backs the page, `None` for anonymous `.bss`.
    pub file_offset: Option<u64>,
    /// Dynamic relocations whose target lies on this page.
    pub relocations: u32,
    pub loader: LoaderAction,
}

/// The static facts of an ELF object that decide how its pages are shared.
#[derive(Clone, Debug, Serialize)]
pub struct ElfPlan {
    /// `dyn` (shared object or PIE), `exec`, or another `e_type` as a number.
    pub e_type: String,
    pub machine: u16,
    pub class64: bool,
    pub soname: Option<String>,
    pub needed: Vec<String>,
    /// The GNU build-id note as lowercase hex.
    pub build_id: Option<String>,
    /// `DT_TEXTREL`, or `DF_TEXTREL` in `DT_FLAGS`.
    pub textrel: bool,
    /// `DT_BIND_NOW`, `DF_BIND_NOW` or `DF_1_NOW`.
    pub bind_now: bool,
    /// `PT_GNU_RELRO` as `[p_vaddr, p_vaddr + p_memsz)`.
    pub relro: Option<(u64, u64)>,
    pub has_shared_section: bool,
    /// Page-aligned `p_vaddr` of the lowest `PT_LOAD`: offset 0 of the image.
    pub image_start: u64,
    /// Page-aligned end of the highest `PT_LOAD` in memory.
    pub image_end: u64,
    pub segments: Vec<LoadSegment>,
    pub sections: Vec<Section>,
    pub pages: Vec<PlannedPage>,
}

impl ElfPlan {
    /// The planned page whose ELF virtual address is `vaddr` (page-aligned).
    pub fn page_at_vaddr(&self, vaddr: u64) -> Option<&PlannedPage> {
        self.pages
            .binary_search_by_key(&vaddr, |p| p.vaddr)
            .ok()
            .map(|i| &self.pages[i])
    }

    /// The `PT_LOAD` whose page-aligned file offset is `offset` and that a mapping could
    /// start with: used to find the load bias from one line of /proc/PID/maps.
    pub fn segments_at_file_offset(&self, offset: u64) -> impl Iterator<Item = &LoadSegment> {
        self.segments
            .iter()
            .filter(move |s| page_down(s.p_offset) == offset)
    }
}

/// Why bytes are not a usable ELF object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PlanError(pub String);

fn err<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> PlanError + '_ {
    move |e| PlanError(format!("{what}: {e}"))
}

/// The most memory the `PT_LOAD` headers may ask for, summed, before a plan is refused:
/// one planned page per 4 KiB, so this bounds the plan's size and the time to make it.
/// Hostile or corrupt headers otherwise ask for up to 2^64 bytes (found by fuzzing).
pub const MAX_LOAD_BYTES: u64 = 1 << 32;

/// The most (page, section) pairs a plan may name: sections overlapping many pages many
/// times over can only come from corrupt or hostile section headers.
pub const MAX_SECTION_PAGES: u64 = 1 << 22;

/// Is this the start of an ELF file? Cheap check before reading a whole file.
pub fn has_elf_magic(bytes: &[u8]) -> bool {
    bytes.starts_with(&elf::ELFMAG)
}

/// Builds the page plan of the ELF object in `bytes`.
pub fn plan(bytes: &[u8]) -> Result<ElfPlan, PlanError> {
    plan_with(bytes, Detail::Full)
}

/// The page plan with the segment kind of every page right, but without relocation counts
/// and with only the `.shared` section named on pages: cheap enough for every object of a
/// whole machine (`solab libs`). Loader actions that depend on relocations are not exact.
pub fn plan_kinds(bytes: &[u8]) -> Result<ElfPlan, PlanError> {
    plan_with(bytes, Detail::Kinds)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Detail {
    Full,
    Kinds,
}

fn plan_with(bytes: &[u8], detail: Detail) -> Result<ElfPlan, PlanError> {
    if !has_elf_magic(bytes) {
        return Err(PlanError("no ELF magic (\\x7fELF) at the start".into()));
    }
    match bytes.get(4).copied() {
        Some(c) if c == elf::ELFCLASS64.0 => {
            plan_for::<elf::FileHeader64<object::Endianness>>(bytes, detail)
        }
        Some(c) if c == elf::ELFCLASS32.0 => {
            plan_for::<elf::FileHeader32<object::Endianness>>(bytes, detail)
        }
        _ => Err(PlanError(
            "truncated or unknown ELF class in e_ident".into(),
        )),
    }
}

fn plan_for<Elf: FileHeader<Endian = object::Endianness>>(
    data: &[u8],
    detail: Detail,
) -> Result<ElfPlan, PlanError> {
    let header = Elf::parse(data).map_err(err("ELF header"))?;
    let endian = header.endian().map_err(err("ELF header"))?;
    let phdrs = header
        .program_headers(endian, data)
        .map_err(err("program headers"))?;

    let mut segments = Vec::new();
    let mut relro = None;
    let mut build_id = None;
    let mut dynamic: Option<&[Elf::Dyn]> = None;
    for ph in phdrs {
        let p_type = ph.p_type(endian);
        if p_type == elf::PT_LOAD {
            let flags = ph.p_flags(endian).0;
            let letter = |bit: u32, c: char| if flags & bit != 0 { c } else { '-' };
            let seg = LoadSegment {
                p_offset: ph.p_offset(endian).into(),
                p_vaddr: ph.p_vaddr(endian).into(),
                p_filesz: ph.p_filesz(endian).into(),
                p_memsz: ph.p_memsz(endian).into(),
                p_flags: [
                    letter(elf::PF_R.0, 'R'),
                    letter(elf::PF_W.0, 'W'),
                    letter(elf::PF_X.0, 'X'),
                ]
                .iter()
                .collect(),
            };
            if seg.p_filesz > seg.p_memsz {
                return Err(PlanError(format!(
                    "PT_LOAD at p_vaddr {:#x} has p_filesz {:#x} > p_memsz {:#x}",
                    seg.p_vaddr, seg.p_filesz, seg.p_memsz
                )));
            }
            if seg.p_vaddr.checked_add(seg.p_memsz).is_none()
                || seg
                    .p_offset
                    .checked_add(seg.p_filesz)
                    .is_none_or(|end| end > data.len() as u64)
            {
                return Err(PlanError(format!(
                    "PT_LOAD at p_vaddr {:#x} lies outside the file (truncated?)",
                    seg.p_vaddr
                )));
            }
            if seg.p_vaddr % PAGE_SIZE != seg.p_offset % PAGE_SIZE {
                return Err(PlanError(format!(
                    "PT_LOAD at p_vaddr {:#x}: p_vaddr and p_offset {:#x} disagree modulo the page size",
                    seg.p_vaddr, seg.p_offset
                )));
            }
            segments.push(seg);
        } else if p_type == elf::PT_GNU_RELRO {
            let start: u64 = ph.p_vaddr(endian).into();
            let size: u64 = ph.p_memsz(endian).into();
            relro = Some((start, start.saturating_add(size)));
        } else if p_type == elf::PT_DYNAMIC {
            dynamic = ph.dynamic(endian, data).map_err(err("PT_DYNAMIC"))?;
        } else if p_type == elf::PT_NOTE
            && build_id.is_none()
            && let Ok(Some(mut notes)) = ph.notes(endian, data)
        {
            while let Ok(Some(note)) = notes.next() {
                if note.name() == elf::ELF_NOTE_GNU && note.n_type(endian) == elf::NT_GNU_BUILD_ID {
                    build_id = Some(hex(note.desc()));
                }
            }
        }
    }
    if segments.is_empty() {
        return Err(PlanError(
            "no PT_LOAD program header: nothing is loaded".into(),
        ));
    }
    let load_bytes = segments.iter().fold(0u64, |sum, s| {
        sum.saturating_add(page_up(s.p_vaddr + s.p_memsz) - page_down(s.p_vaddr))
    });
    let (image_start, image_end) = image_bounds(&segments);
    if load_bytes > MAX_LOAD_BYTES || image_end - image_start > MAX_LOAD_BYTES {
        return Err(PlanError(format!(
            "PT_LOAD headers ask for {load_bytes:#x} bytes over a {:#x}-byte image; solab \
             plans images up to {MAX_LOAD_BYTES:#x} bytes",
            image_end - image_start
        )));
    }

    // Section headers are optional at run time; a plan without them just has no names.
    let section_table = header.sections(endian, data).ok();
    let mut sections = Vec::new();
    let mut reloc_targets: Vec<u64> = Vec::new();
    if let Some(table) = &section_table {
        for sh in table.iter() {
            let flags = sh.sh_flags(endian).0;
            let alloc = flags & elf::SHF_ALLOC.0 != 0;
            let tls = flags & elf::SHF_TLS.0 != 0;
            let size: u64 = sh.sh_size(endian).into();
            if !alloc || size == 0 {
                continue;
            }
            let name = table
                .section_name(endian, sh)
                .map(|n| String::from_utf8_lossy(n).into_owned())
                .unwrap_or_else(|_| "?".into());
            let nobits = sh.sh_type(endian) == elf::SHT_NOBITS;
            if detail == Detail::Kinds {
                if name == ".shared" {
                    sections.push(Section {
                        name,
                        sh_addr: sh.sh_addr(endian).into(),
                        sh_size: size,
                        nobits,
                    });
                }
                continue;
            }
            collect_relocation_targets::<Elf>(sh, endian, data, &mut reloc_targets);
            if tls && nobits {
                continue; // .tbss takes no address space of its own
            }
            let sh_addr: u64 = sh.sh_addr(endian).into();
            if sh_addr.checked_add(size).is_none() {
                continue; // a corrupt header: names are advisory, the plan stands without it
            }
            sections.push(Section {
                name,
                sh_addr,
                sh_size: size,
                nobits,
            });
        }
    }
    let section_pages = sections.iter().fold(0u64, |sum, s| {
        sum.saturating_add(pages_within(
            s.sh_addr,
            s.sh_addr + s.sh_size,
            (image_start, image_end),
        ))
    });
    if section_pages > MAX_SECTION_PAGES {
        return Err(PlanError(format!(
            "section headers name {section_pages} (page, section) pairs; more than \
             {MAX_SECTION_PAGES} means they are corrupt"
        )));
    }

    let (mut soname, mut needed, mut textrel, mut bind_now) = (None, Vec::new(), false, false);
    if let Some(dyns) = dynamic {
        let strtab = dynamic_strtab::<Elf>(dyns, endian, &segments, data);
        let string = |d: &Elf::Dyn| -> Option<String> {
            let off: u64 = d.d_val(endian).into();
            let tab = strtab?;
            let rest = tab.get(usize::try_from(off).ok()?..)?;
            let end = rest.iter().position(|&b| b == 0)?;
            Some(String::from_utf8_lossy(&rest[..end]).into_owned())
        };
        for d in dyns {
            let tag = d.d_tag(endian);
            let val: u64 = d.d_val(endian).into();
            if tag == elf::DT_NULL {
                break;
            } else if tag == elf::DT_SONAME {
                soname = string(d);
            } else if tag == elf::DT_NEEDED {
                needed.extend(string(d));
            } else if tag == elf::DT_TEXTREL {
                textrel = true;
            } else if tag == elf::DT_BIND_NOW {
                bind_now = true;
            } else if tag == elf::DT_FLAGS {
                textrel |= val & elf::DF_TEXTREL.0 != 0;
                bind_now |= val & elf::DF_BIND_NOW.0 != 0;
            } else if tag == elf::DT_FLAGS_1 {
                bind_now |= val & elf::DF_1_NOW.0 != 0;
            }
        }
    }

    let e_type = match header.e_type(endian) {
        t if t == elf::ET_DYN => "dyn".to_string(),
        t if t == elf::ET_EXEC => "exec".to_string(),
        t => format!("{}", t.0),
    };
    let pages = plan_pages(&segments, &sections, relro, &reloc_targets, textrel);
    Ok(ElfPlan {
        e_type,
        machine: header.e_machine(endian).0,
        class64: header.is_class_64(),
        soname,
        needed,
        build_id,
        textrel,
        bind_now,
        relro,
        has_shared_section: pages.iter().any(|p| p.segment == SegmentKind::Shared),
        image_start,
        image_end,
        segments,
        sections,
        pages,
    })
}

/// The `DT_STRTAB` bytes, found through the `PT_LOAD` that maps its address.
fn dynamic_strtab<'d, Elf: FileHeader<Endian = object::Endianness>>(
    dyns: &[Elf::Dyn],
    endian: object::Endianness,
    segments: &[LoadSegment],
    data: &'d [u8],
) -> Option<&'d [u8]> {
    let mut addr = None;
    let mut size = None;
    for d in dyns {
        let tag = d.d_tag(endian);
        if tag == elf::DT_STRTAB {
            addr = Some(d.d_val(endian).into());
        } else if tag == elf::DT_STRSZ {
            size = Some(d.d_val(endian).into());
        }
    }
    let (addr, size): (u64, u64) = (addr?, size?);
    let seg = segments
        .iter()
        .find(|s| addr >= s.p_vaddr && addr < s.p_vaddr + s.p_filesz)?;
    let start = usize::try_from(seg.p_offset + (addr - seg.p_vaddr)).ok()?;
    let end = start.checked_add(usize::try_from(size).ok()?)?;
    data.get(start..end)
}

/// Adds the target address of every dynamic relocation in section `sh` to `out`.
fn collect_relocation_targets<Elf: FileHeader<Endian = object::Endianness>>(
    sh: &Elf::SectionHeader,
    endian: object::Endianness,
    data: &[u8],
    out: &mut Vec<u64>,
) {
    if let Ok(Some((rela, _))) = sh.rela(endian, data) {
        out.extend(rela.iter().map(|r| r.r_offset(endian).into()));
    } else if let Ok(Some((rel, _))) = sh.rel(endian, data) {
        out.extend(rel.iter().map(|r| r.r_offset(endian).into()));
    } else if let Ok(Some(relr)) = sh.relr(endian, data) {
        out.extend(relr.map(Into::into));
    }
}

/// The page-aligned range `[start, end)` of virtual offsets the `PT_LOAD`s cover.
fn image_bounds(segments: &[LoadSegment]) -> (u64, u64) {
    let start = segments.iter().map(|s| page_down(s.p_vaddr)).min();
    let end = segments
        .iter()
        .map(|s| page_up(s.p_vaddr + s.p_memsz))
        .max();
    (start.unwrap_or(0), end.unwrap_or(0))
}

/// Decides every page of the image. A page covered by two `PT_LOAD`s belongs to the later
/// one, as the later `mmap(MAP_FIXED)` replaces the earlier.
pub fn plan_pages(
    segments: &[LoadSegment],
    sections: &[Section],
    relro: Option<(u64, u64)>,
    reloc_targets: &[u64],
    textrel: bool,
) -> Vec<PlannedPage> {
    let (image_start, image_end) = image_bounds(segments);
    let relro_pages = relro.map(|(start, end)| (page_down(start), page_down(end)));
    let mut relocs_per_page: BTreeMap<u64, u32> = BTreeMap::new();
    for &t in reloc_targets
        .iter()
        .filter(|&&t| t >= image_start && t < image_end)
    {
        let n = relocs_per_page.entry(page_down(t)).or_default();
        *n = n.saturating_add(1);
    }
    // Which sections lie on each page, in section-table order; built per section so the
    // cost is the number of (page, section) pairs, not pages times sections.
    let mut sections_per_page: BTreeMap<u64, Vec<&Section>> = BTreeMap::new();
    for s in sections {
        let end = s.sh_addr.saturating_add(s.sh_size);
        if pages_within(s.sh_addr, end, (image_start, image_end)) == 0 {
            continue;
        }
        let mut v = page_down(s.sh_addr).max(image_start);
        while v < end.min(image_end) {
            sections_per_page.entry(v).or_default().push(s);
            v += PAGE_SIZE;
        }
    }
    let mut pages: BTreeMap<u64, PlannedPage> = BTreeMap::new();
    for (load, seg) in segments.iter().enumerate() {
        if !seg.readable() && !seg.writable() && !seg.executable() {
            continue;
        }
        let file_end = seg.p_vaddr + seg.p_filesz;
        let mem_end = seg.p_vaddr + seg.p_memsz;
        let mut vaddr = page_down(seg.p_vaddr);
        while vaddr < page_up(mem_end) {
            let on_page: &[&Section] = sections_per_page
                .get(&vaddr)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let relocations = relocs_per_page.get(&vaddr).copied().unwrap_or(0);
            let anonymous = vaddr >= page_up(file_end);
            let (segment, loader) = if on_page.iter().any(|s| s.name == ".shared") {
                (SegmentKind::Shared, LoaderAction::MapSharedWindow)
            } else if relro_pages.is_some_and(|(s, e)| vaddr >= s && vaddr < e) {
                let action = if relocations > 0 {
                    LoaderAction::Relocate
                } else {
                    LoaderAction::MapCopyOnWrite
                };
                (SegmentKind::Relro, action)
            } else if seg.executable() && !seg.writable() || seg.executable() && textrel {
                let action = if textrel && relocations > 0 {
                    LoaderAction::PatchText
                } else {
                    LoaderAction::MapReadOnly
                };
                (SegmentKind::Text, action)
            } else if !seg.writable() {
                let action = if textrel && relocations > 0 {
                    LoaderAction::PatchText
                } else {
                    LoaderAction::MapReadOnly
                };
                (SegmentKind::Rodata, action)
            } else if anonymous {
                (SegmentKind::Bss, LoaderAction::MapAnonymous)
            } else if mem_end > file_end
                && file_end < vaddr + PAGE_SIZE
                && file_end % PAGE_SIZE != 0
            {
                (SegmentKind::Data, LoaderAction::ZeroTail)
            } else if relocations > 0 {
                (SegmentKind::Data, LoaderAction::Relocate)
            } else {
                (SegmentKind::Data, LoaderAction::MapCopyOnWrite)
            };
            pages.insert(
                vaddr,
                PlannedPage {
                    offset: vaddr - image_start,
                    vaddr,
                    segment,
                    sections: on_page.iter().map(|s| s.name.clone()).collect(),
                    load,
                    file_offset: (!anonymous)
                        .then(|| page_down(seg.p_offset) + (vaddr - page_down(seg.p_vaddr))),
                    relocations,
                    loader,
                },
            );
            vaddr += PAGE_SIZE;
        }
    }
    pages.into_values().collect()
}

/// How many pages of `image` (page-aligned `[start, end)`) the bytes `[from, to)` touch.
fn pages_within(from: u64, to: u64, image: (u64, u64)) -> u64 {
    let lo = page_down(from).max(image.0);
    let hi = page_up(to).min(image.1);
    if to <= from || hi <= lo {
        0
    } else {
        (hi - lo) / PAGE_SIZE
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(p_offset: u64, p_vaddr: u64, p_filesz: u64, p_memsz: u64, flags: &str) -> LoadSegment {
        LoadSegment {
            p_offset,
            p_vaddr,
            p_filesz,
            p_memsz,
            p_flags: flags.into(),
        }
    }

    fn section(name: &str, sh_addr: u64, sh_size: u64, nobits: bool) -> Section {
        Section {
            name: name.into(),
            sh_addr,
            sh_size,
            nobits,
        }
    }

    #[test]
    fn garbage_and_truncated_bytes_are_errors_not_panics() {
        assert!(plan(b"").is_err());
        assert!(plan(b"hello world, not an object").is_err());
        assert!(plan(b"\x7fELF").is_err());
        assert!(plan(b"\x7fELF\x02\x01\x01").is_err());
        let mut junk = b"\x7fELF\x02\x01\x01\0".to_vec();
        junk.resize(64, 0xff);
        assert!(plan(&junk).is_err());
        // A real object cut short at every interesting length.
        let libc = std::fs::read("/proc/self/exe").expect("read own executable");
        for len in [16, 63, 64, 100, 0x200, 0x1000] {
            let r = plan(&libc[..len.min(libc.len())]);
            assert!(r.is_err(), "plan of {len} bytes should fail: {r:?}");
        }
        assert!(plan(&libc).is_ok());
    }

    #[test]
    fn corrupt_program_header_is_an_error() {
        let mut bytes = std::fs::read("/proc/self/exe").expect("read own executable");
        // e_phoff far beyond the end of the file.
        bytes[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        let e = plan(&bytes).expect_err("bad e_phoff");
        assert!(e.0.contains("program headers"), "{e}");
    }

    /// The rust-lld layout: R / RX / RW(RELRO) / RW with p_vaddr != p_offset, a `.shared`
    /// page, and `.bss` beyond the file.
    #[test]
    fn rust_lld_like_layout() {
        let segments = [
            seg(0, 0, 0x1500, 0x1500, "R--"),
            seg(0x1500, 0x2500, 0x2000, 0x2000, "R-X"),
            seg(0x3500, 0x5500, 0x1b00, 0x1b00, "RW-"),
            seg(0x5000, 0x8000, 0x2000, 0x4000, "RW-"),
        ];
        let sections = [
            section(".rodata", 0x200, 0x1000, false),
            section(".text", 0x2500, 0x2000, false),
            section(".data.rel.ro", 0x5500, 0x1000, false),
            section(".got", 0x6500, 0x100, false),
            section(".relro_padding", 0x6b00, 0x500, true),
            section(".data", 0x8000, 0x1000, false),
            section(".shared", 0x9000, 0x1000, false),
            section(".bss", 0xa000, 0x2000, true),
        ];
        let pages = plan_pages(
            &segments,
            &sections,
            Some((0x5500, 0x7000)),
            &[0x5508, 0x6508],
            false,
        );
        let kinds: Vec<(u64, &str)> = pages.iter().map(|p| (p.vaddr, p.segment.name())).collect();
        assert_eq!(
            kinds,
            vec![
                (0x0, "rodata"),
                (0x1000, "rodata"),
                (0x2000, "text"),
                (0x3000, "text"),
                (0x4000, "text"),
                (0x5000, "relro"),
                (0x6000, "relro"),
                (0x8000, "data"),
                (0x9000, "shared"),
                (0xa000, "bss"),
                (0xb000, "bss"),
            ]
        );
        let at = |v: u64| pages.iter().find(|p| p.vaddr == v).expect("page");
        assert_eq!(at(0x2000).file_offset, Some(0x1000));
        assert_eq!(at(0x5000).loader, LoaderAction::Relocate);
        assert_eq!(
            at(0x6000).sections,
            vec![".data.rel.ro", ".got", ".relro_padding"]
        );
        assert_eq!(at(0x9000).loader, LoaderAction::MapSharedWindow);
        assert_eq!(at(0xa000).file_offset, None);
        assert_eq!(at(0xb000).offset, 0xb000);
    }

    #[test]
    fn partial_bss_page_is_zeroed_data() {
        let segments = [seg(0x1000, 0x1000, 0x800, 0x1800, "RW-")];
        let pages = plan_pages(&segments, &[], None, &[], false);
        assert_eq!(pages.len(), 2);
        assert_eq!(pages[0].loader, LoaderAction::ZeroTail);
        assert_eq!(pages[0].segment, SegmentKind::Data);
        assert_eq!(pages[1].segment, SegmentKind::Bss);
    }

    #[test]
    fn text_relocation_marks_patched_pages() {
        let segments = [seg(0, 0, 0x3000, 0x3000, "R-X")];
        let pages = plan_pages(&segments, &[], None, &[0x1010], true);
        assert_eq!(pages[0].loader, LoaderAction::MapReadOnly);
        assert_eq!(pages[1].loader, LoaderAction::PatchText);
        assert_eq!(pages[1].relocations, 1);
    }

    #[test]
    fn own_executable_has_a_plan() {
        let bytes = std::fs::read("/proc/self/exe").expect("read own executable");
        let p = plan(&bytes).expect("plan");
        assert!(p.pages.iter().any(|p| p.segment == SegmentKind::Text));
        assert!(p.build_id.is_some());
        assert!(p.pages.windows(2).all(|w| w[0].vaddr < w[1].vaddr));
    }
}
