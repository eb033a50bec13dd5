//! The static page plan of an ELF object: for every page of its load image, which segment
//! kind it belongs to, which sections lie on it and what the dynamic loader will do to it.
//!
//! The plan is kept as runs of pages that nothing tells apart ([`PageRun`]), with sections
//! named by index, so its size follows the headers' structure and not the image's size: a
//! 4 GiB image of one segment is one run. [`read`] holds one reader per header concept;
//! [`layout`] turns their facts into runs (pure). Names follow the ELF specification
//! (`p_vaddr`, `PT_GNU_RELRO`, `DT_TEXTREL`). What the loader does is glibc's
//! `elf/dl-load.c` and `elf/dl-map-segments.h` (`_dl_map_segments`: every `PT_LOAD`
//! mapped `MAP_PRIVATE`, the `.bss` tail beyond `p_filesz` zero-filled and mapped
//! anonymous) and `elf/dl-reloc.c` (`_dl_protect_relro`: `[page_down(start),
//! page_down(end))` of `PT_GNU_RELRO` made read-only after relocation).

mod layout;
mod read;

use crate::addr::{PAGE_SIZE, page_down, page_up};
use object::elf;
use object::read::elf::FileHeader;
use serde::{Deserialize, Serialize};

pub use read::{
    MAX_DYNAMIC_ENTRIES, MAX_DYNAMIC_STRING, MAX_NAME, MAX_NEEDED, MAX_RELOC_BYTES, MAX_SECTIONS,
};

/// The section the library maps a `MAP_SHARED` object over.
pub const SHARED_SECTION: &str = ".shared";

/// The kind of a page of the load image, which decides how it can be shared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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

    /// Position in [`SegmentKind::ALL`], for arrays indexed by kind.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// What the dynamic loader (and the library itself, for `.shared`) does to a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

/// `p_flags` of a program header: `PF_R`, `PF_W`, `PF_X`. Printed (and serialized) as
/// readelf prints them, `R-X`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SegmentFlags(pub u32);

impl SegmentFlags {
    pub fn readable(self) -> bool {
        self.0 & elf::PF_R.0 != 0
    }
    pub fn writable(self) -> bool {
        self.0 & elf::PF_W.0 != 0
    }
    pub fn executable(self) -> bool {
        self.0 & elf::PF_X.0 != 0
    }
    /// From readelf's letters (`RW-`); `None` for anything else.
    pub fn parse(s: &str) -> Option<SegmentFlags> {
        let b = s.as_bytes();
        if b.len() != 3 {
            return None;
        }
        let bit = |c: u8, yes: u8, v: u32| match c {
            b'-' => Some(0),
            c if c == yes => Some(v),
            _ => None,
        };
        Some(SegmentFlags(
            bit(b[0], b'R', elf::PF_R.0)?
                | bit(b[1], b'W', elf::PF_W.0)?
                | bit(b[2], b'X', elf::PF_X.0)?,
        ))
    }
}

impl std::fmt::Display for SegmentFlags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = |on: bool, ch: char| if on { ch } else { '-' };
        write!(
            f,
            "{}{}{}",
            c(self.readable(), 'R'),
            c(self.writable(), 'W'),
            c(self.executable(), 'X')
        )
    }
}

impl Serialize for SegmentFlags {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SegmentFlags {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        SegmentFlags::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("p_flags {s:?}")))
    }
}

/// One `PT_LOAD` program header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadSegment {
    pub p_offset: u64,
    pub p_vaddr: u64,
    pub p_filesz: u64,
    pub p_memsz: u64,
    pub p_flags: SegmentFlags,
}

/// One allocated section (occupies memory at run time).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    pub name: String,
    pub sh_addr: u64,
    pub sh_size: u64,
    /// `SHT_NOBITS`: takes memory but no file bytes (`.bss`).
    pub nobits: bool,
}

/// A bound the plan met: what it cut or left out, and where, so that no limit is silent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LimitHit {
    /// The bound's name: a constant of this module (`MAX_NEEDED`), or the header field
    /// that bounds what was asked for (`DT_STRSZ`).
    pub limit: &'static str,
    /// The bound's value.
    pub value: u64,
    /// What was cut or left out, naming the entry.
    pub what: String,
}

/// Consecutive pages of the load image that the plan cannot tell apart: same segment kind,
/// loader action, `PT_LOAD`, sections, and either all or none carry relocations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageRun {
    /// Bytes from the load base (the lowest `PT_LOAD`'s page-aligned `p_vaddr`).
    pub offset: u64,
    /// The first page's address in the ELF virtual address space.
    pub vaddr: u64,
    pub pages: u64,
    pub segment: SegmentKind,
    pub loader: LoaderAction,
    /// Index into [`ElfPlan::segments`] of the `PT_LOAD` that maps these pages.
    pub load: u32,
    /// Index into [`ElfPlan::section_sets`]: the sections on these pages.
    pub sections: u32,
    /// The page-aligned file offset behind the first page; `None` for anonymous `.bss`.
    pub file_offset: Option<u64>,
}

impl PageRun {
    pub fn end_vaddr(&self) -> u64 {
        self.vaddr + self.pages * PAGE_SIZE
    }
}

/// One page of the plan, as [`ElfPlan::pages`] and [`ElfPlan::page_at_vaddr`] give it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlannedPage<'p> {
    pub offset: u64,
    pub vaddr: u64,
    pub segment: SegmentKind,
    pub loader: LoaderAction,
    pub load: u32,
    pub file_offset: Option<u64>,
    /// Dynamic relocations whose target lies on this page (0 when not counted).
    pub relocations: u32,
    /// Indices into [`ElfPlan::sections`].
    pub sections: &'p [u32],
}

/// How much of the headers a plan reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detail {
    /// Everything, with relocation counts per page.
    Full,
    /// Segment kinds right, but no relocation counts and only the `.shared` section
    /// named: cheap enough for every object of a whole machine (`solab libs`). Loader
    /// actions that depend on relocations are not exact.
    Kinds,
}

/// The static facts of an ELF object that decide how its pages are shared.
#[derive(Clone, Debug)]
pub struct ElfPlan {
    pub e_type: EType,
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
    /// Distinct sets of sections that lie on pages, as indices into `sections`.
    pub section_sets: Vec<Vec<u32>>,
    pub runs: Vec<PageRun>,
    /// Relocations per page of the image; empty when not counted (see
    /// [`ElfPlan::relocations_counted`]).
    pub reloc_counts: Vec<u32>,
    /// Why relocations were not counted, when they were not.
    pub relocations_not_counted: Option<String>,
    /// Every bound the headers met, in the order they were read; empty for an ordinary
    /// object.
    pub limits_hit: Vec<LimitHit>,
}

/// `e_type`: a shared object or PIE (`dyn`), an executable (`exec`), or another number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EType {
    Dyn,
    Exec,
    Other(u16),
}

impl std::fmt::Display for EType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EType::Dyn => f.write_str("dyn"),
            EType::Exec => f.write_str("exec"),
            EType::Other(n) => write!(f, "{n}"),
        }
    }
}

impl ElfPlan {
    pub fn relocations_counted(&self) -> bool {
        self.relocations_not_counted.is_none()
    }

    /// Pages in the plan.
    pub fn page_count(&self) -> u64 {
        self.runs.iter().map(|r| r.pages).sum()
    }

    fn page_in(&self, run: &PageRun, i: u64) -> PlannedPage<'_> {
        let vaddr = run.vaddr + i * PAGE_SIZE;
        let index = ((vaddr - self.image_start) / PAGE_SIZE) as usize;
        PlannedPage {
            offset: run.offset + i * PAGE_SIZE,
            vaddr,
            segment: run.segment,
            loader: run.loader,
            load: run.load,
            file_offset: run.file_offset.map(|f| f + i * PAGE_SIZE),
            relocations: self.reloc_counts.get(index).copied().unwrap_or(0),
            sections: self.section_set(run),
        }
    }

    /// Every page, in address order.
    pub fn pages(&self) -> impl Iterator<Item = PlannedPage<'_>> {
        self.runs
            .iter()
            .flat_map(move |r| (0..r.pages).map(move |i| self.page_in(r, i)))
    }

    /// The run holding the page whose ELF virtual address is `vaddr`.
    pub fn run_at_vaddr(&self, vaddr: u64) -> Option<&PageRun> {
        let i = self.runs.partition_point(|r| r.end_vaddr() <= vaddr);
        self.runs.get(i).filter(|r| r.vaddr <= vaddr)
    }

    /// The planned page whose ELF virtual address is `vaddr` (page-aligned).
    pub fn page_at_vaddr(&self, vaddr: u64) -> Option<PlannedPage<'_>> {
        let run = self.run_at_vaddr(vaddr)?;
        Some(self.page_in(run, (vaddr - run.vaddr) / PAGE_SIZE))
    }

    pub fn section_set(&self, run: &PageRun) -> &[u32] {
        self.section_sets
            .get(run.sections as usize)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// The names of sections given by index.
    pub fn section_names(&self, set: &[u32]) -> Vec<String> {
        set.iter()
            .filter_map(|&i| self.sections.get(i as usize))
            .map(|s| s.name.clone())
            .collect()
    }

    /// The `PT_LOAD`s whose page-aligned file offset is `offset`: the segments a mapping
    /// with that offset can start, to find the load bias from one line of maps.
    pub fn segments_at_file_offset(&self, offset: u64) -> impl Iterator<Item = &LoadSegment> {
        self.segments
            .iter()
            .filter(move |s| page_down(s.p_offset) == offset)
    }
}

/// Why bytes are not a usable ELF object: its kind, for callers to tell failures apart, and
/// the reason, for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct PlanError {
    pub kind: PlanErrorKind,
    pub reason: String,
}

/// What kind of failure stopped a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanErrorKind {
    /// The bytes do not start with the ELF magic: not an ELF file at all.
    NotElf,
    /// The file could not be read (its size, to bound the headers).
    Unreadable,
    /// An ELF file whose headers cannot be planned: truncated, inconsistent or hostile.
    Corrupt,
}

impl PlanError {
    pub fn not_elf(reason: impl Into<String>) -> PlanError {
        PlanError {
            kind: PlanErrorKind::NotElf,
            reason: reason.into(),
        }
    }

    pub fn unreadable(reason: impl Into<String>) -> PlanError {
        PlanError {
            kind: PlanErrorKind::Unreadable,
            reason: reason.into(),
        }
    }

    pub fn corrupt(reason: impl Into<String>) -> PlanError {
        PlanError {
            kind: PlanErrorKind::Corrupt,
            reason: reason.into(),
        }
    }
}

/// The most memory the `PT_LOAD` headers may ask for, summed, before a plan is refused.
/// Hostile or corrupt headers otherwise ask for up to 2^64 bytes (found by fuzzing).
pub const MAX_LOAD_BYTES: u64 = 1 << 32;

/// The most `PT_LOAD` headers a plan accepts: real objects have a handful.
pub const MAX_LOADS: usize = 1024;

/// Is this the start of an ELF file?
pub fn has_elf_magic(bytes: &[u8]) -> bool {
    bytes.starts_with(&elf::ELFMAG)
}

/// Builds the full page plan of the ELF object in `bytes`.
pub fn plan(bytes: &[u8]) -> Result<ElfPlan, PlanError> {
    plan_bytes(bytes, Detail::Full)
}

/// Builds the page plan of the ELF object in `bytes` with the given detail.
pub fn plan_bytes(bytes: &[u8], detail: Detail) -> Result<ElfPlan, PlanError> {
    let read_at = |off: u64, buf: &mut [u8]| -> bool {
        let Ok(start) = usize::try_from(off) else {
            return false;
        };
        match bytes.get(start..start.saturating_add(buf.len())) {
            Some(src) if src.len() == buf.len() => {
                buf.copy_from_slice(src);
                true
            }
            _ => false,
        }
    };
    plan_with(bytes, bytes.len() as u64, read_at, detail)
}

/// Builds the page plan of an open ELF file, reading only its headers (never mapping it:
/// a file truncated meanwhile is an error, not a SIGBUS).
pub fn plan_file(file: &std::fs::File, detail: Detail) -> Result<ElfPlan, PlanError> {
    use std::os::unix::fs::FileExt;
    let len = file
        .metadata()
        .map_err(|e| PlanError::unreadable(format!("cannot stat the file: {e}")))?
        .len();
    let cache = object::read::ReadCache::new(file);
    let read_at = |off: u64, buf: &mut [u8]| file.read_exact_at(buf, off).is_ok();
    plan_with(&cache, len, read_at, detail)
}

fn plan_with<'d, R: object::ReadRef<'d>>(
    data: R,
    file_len: u64,
    read_at: impl FnMut(u64, &mut [u8]) -> bool,
    detail: Detail,
) -> Result<ElfPlan, PlanError> {
    let ident = data.read_bytes_at(0, 5).unwrap_or_default();
    if !has_elf_magic(ident) {
        return Err(PlanError::not_elf("no ELF magic (\\x7fELF) at the start"));
    }
    match ident.get(4).copied() {
        Some(c) if c == elf::ELFCLASS64.0 => {
            plan_for::<elf::FileHeader64<object::Endianness>, R>(data, file_len, read_at, detail)
        }
        Some(c) if c == elf::ELFCLASS32.0 => {
            plan_for::<elf::FileHeader32<object::Endianness>, R>(data, file_len, read_at, detail)
        }
        _ => Err(PlanError::corrupt(
            "truncated or unknown ELF class in e_ident",
        )),
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

fn plan_for<'d, Elf: FileHeader<Endian = object::Endianness>, R: object::ReadRef<'d>>(
    data: R,
    file_len: u64,
    read_at: impl FnMut(u64, &mut [u8]) -> bool,
    detail: Detail,
) -> Result<ElfPlan, PlanError> {
    let header = Elf::parse(data).map_err(read::err("ELF header"))?;
    let endian = header.endian().map_err(read::err("ELF header"))?;
    let program = read::program_headers(header, endian, data, file_len)?;
    let segments = program.segments;
    if segments.len() > MAX_LOADS {
        return Err(PlanError::corrupt(format!(
            "{} PT_LOAD headers; more than {MAX_LOADS} means they are corrupt",
            segments.len()
        )));
    }
    let load_bytes = segments.iter().fold(0u64, |sum, s| {
        sum.saturating_add(page_up(s.p_vaddr + s.p_memsz) - page_down(s.p_vaddr))
    });
    let (image_start, image_end) = image_bounds(&segments);
    if load_bytes > MAX_LOAD_BYTES || image_end - image_start > MAX_LOAD_BYTES {
        return Err(PlanError::corrupt(format!(
            "PT_LOAD headers ask for {load_bytes:#x} bytes over a {:#x}-byte image; solab \
             plans images up to {MAX_LOAD_BYTES:#x} bytes",
            image_end - image_start
        )));
    }
    let mut dynamic = match program.dynamic {
        Some(at) => read::dynamic::<Elf, R>(endian, data, at, &segments)?,
        None => read::DynamicFacts::default(),
    };
    let full = detail == Detail::Full;
    let mut found = read::sections(header, endian, data, file_len, full, !full);
    let mut limits_hit = std::mem::take(&mut dynamic.limits);
    limits_hit.append(&mut found.limits);
    let (reloc_counts, relocations_not_counted) = if !full {
        (Vec::new(), Some("not needed for this plan".to_string()))
    } else {
        match read::relocation_counts(
            read_at,
            &found.reloc_tables,
            header.is_class_64(),
            header.is_big_endian(),
            (image_start, image_end),
        ) {
            Ok(c) => (c, None),
            Err(read::RelocsNotCounted::TooLarge(bytes)) => {
                limits_hit.push(LimitHit {
                    limit: "MAX_RELOC_BYTES",
                    value: MAX_RELOC_BYTES,
                    what: format!("relocation tables of {bytes} bytes: relocations not counted"),
                });
                (
                    Vec::new(),
                    Some(format!(
                        "the relocation tables are larger than {MAX_RELOC_BYTES} bytes"
                    )),
                )
            }
            Err(read::RelocsNotCounted::Unreadable) => (
                Vec::new(),
                Some("the relocation tables are unreadable".to_string()),
            ),
        }
    };
    let layout = layout::Layout {
        segments: &segments,
        sections: &found.sections,
        relro: program.relro,
        reloc_counts: &reloc_counts,
        textrel: dynamic.textrel,
    }
    .runs()?;
    let e_type = match header.e_type(endian) {
        t if t == elf::ET_DYN => EType::Dyn,
        t if t == elf::ET_EXEC => EType::Exec,
        t => EType::Other(t.0),
    };
    Ok(ElfPlan {
        e_type,
        machine: header.e_machine(endian).0,
        class64: header.is_class_64(),
        soname: dynamic.soname,
        needed: dynamic.needed,
        build_id: program.build_id,
        textrel: dynamic.textrel,
        bind_now: dynamic.bind_now,
        relro: program.relro,
        has_shared_section: layout.runs.iter().any(|r| r.segment == SegmentKind::Shared),
        image_start,
        image_end,
        segments,
        sections: found.sections,
        section_sets: layout.section_sets,
        runs: layout.runs,
        reloc_counts,
        relocations_not_counted,
        limits_hit,
    })
}

/// A plan made from header facts directly (for tests and the fuzzer): `reloc_targets` are
/// the `r_offset`s of the dynamic relocations.
pub fn plan_from_headers(
    segments: Vec<LoadSegment>,
    mut sections: Vec<Section>,
    relro: Option<(u64, u64)>,
    reloc_targets: &[u64],
    textrel: bool,
) -> Result<ElfPlan, PlanError> {
    let mut limits_hit = Vec::new();
    if sections.len() > MAX_SECTIONS {
        limits_hit.push(LimitHit {
            limit: "MAX_SECTIONS",
            value: MAX_SECTIONS as u64,
            what: format!(
                "{} allocated sections: the first {MAX_SECTIONS} kept, {} left out",
                sections.len(),
                sections.len() - MAX_SECTIONS
            ),
        });
        sections.truncate(MAX_SECTIONS);
    }
    let (image_start, image_end) = image_bounds(&segments);
    let mut reloc_counts = vec![0u32; ((image_end - image_start) / PAGE_SIZE) as usize];
    for &t in reloc_targets {
        if t >= image_start && t < image_end {
            let c = &mut reloc_counts[((t - image_start) / PAGE_SIZE) as usize];
            *c = c.saturating_add(1);
        }
    }
    let layout = layout::Layout {
        segments: &segments,
        sections: &sections,
        relro,
        reloc_counts: &reloc_counts,
        textrel,
    }
    .runs()?;
    Ok(ElfPlan {
        e_type: EType::Dyn,
        machine: 62,
        class64: true,
        soname: None,
        needed: Vec::new(),
        build_id: None,
        textrel,
        bind_now: false,
        relro,
        has_shared_section: layout.runs.iter().any(|r| r.segment == SegmentKind::Shared),
        image_start,
        image_end,
        segments,
        sections,
        section_sets: layout.section_sets,
        runs: layout.runs,
        reloc_counts,
        relocations_not_counted: None,
        limits_hit,
    })
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
            p_flags: SegmentFlags::parse(flags).expect("flags"),
        }
    }

    fn plan_pages(
        segments: &[LoadSegment],
        sections: &[Section],
        relro: Option<(u64, u64)>,
        targets: &[u64],
        textrel: bool,
    ) -> Vec<Page> {
        let plan = plan_from_headers(
            segments.to_vec(),
            sections.to_vec(),
            relro,
            targets,
            textrel,
        )
        .expect("plan");
        plan.pages()
            .map(|p| Page {
                offset: p.offset,
                vaddr: p.vaddr,
                segment: p.segment,
                loader: p.loader,
                file_offset: p.file_offset,
                relocations: p.relocations,
                sections: plan.section_names(p.sections),
            })
            .collect()
    }

    #[derive(Debug)]
    struct Page {
        offset: u64,
        vaddr: u64,
        segment: SegmentKind,
        loader: LoaderAction,
        file_offset: Option<u64>,
        relocations: u32,
        sections: Vec<String>,
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
        assert!(e.reason.contains("program headers"), "{e}");
        assert_eq!(e.kind, PlanErrorKind::Corrupt);
    }

    #[test]
    fn bytes_without_the_magic_are_not_elf() {
        let e = plan(b"#!/bin/sh\n").expect_err("a script");
        assert_eq!(e.kind, PlanErrorKind::NotElf);
        let e = plan(b"\x7fELF\x09").expect_err("an unknown class");
        assert_eq!(e.kind, PlanErrorKind::Corrupt);
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
        assert!(p.pages().any(|p| p.segment == SegmentKind::Text));
        assert!(p.build_id.is_some());
        let v: Vec<u64> = p.pages().map(|p| p.vaddr).collect();
        assert!(v.windows(2).all(|w| w[0] < w[1]));
        // The same plan from the file, read through its headers only.
        let f = std::fs::File::open("/proc/self/exe").expect("open own executable");
        let q = plan_file(&f, Detail::Full).expect("plan from file");
        assert_eq!(p.runs, q.runs);
        assert_eq!(p.reloc_counts, q.reloc_counts);
    }

    #[test]
    fn sections_beyond_the_most_kept_are_named() {
        let sections: Vec<Section> = (0..MAX_SECTIONS + 2)
            .map(|i| section(&format!(".s{i}"), 0x1000, 0x10, false))
            .collect();
        let plan = plan_from_headers(
            vec![seg(0, 0, 0x2000, 0x2000, "R--")],
            sections,
            None,
            &[],
            false,
        )
        .expect("plan");
        assert_eq!(plan.sections.len(), MAX_SECTIONS);
        assert_eq!(plan.limits_hit.len(), 1);
        assert_eq!(plan.limits_hit[0].limit, "MAX_SECTIONS");
        assert!(plan.limits_hit[0].what.ends_with(", 2 left out"));
    }

    /// A hostile file (as in tests/hostile.rs): one PT_LOAD of almost 4 GiB and NOBITS
    /// sections over all of it that share one long name. The plan stays a handful of runs.
    #[test]
    fn a_huge_image_is_a_few_runs() {
        let big = (1u64 << 32) - 0x2000;
        let name = "x".repeat(4096);
        let sections: Vec<Section> = (0..8)
            .map(|_| section(&name, 0x1000, big - 0x1000, true))
            .collect();
        let plan = plan_from_headers(
            vec![seg(0, 0, 0x1000, big, "RW-")],
            sections,
            None,
            &[],
            false,
        )
        .expect("plan");
        assert!(plan.runs.len() <= 3, "{} runs", plan.runs.len());
        assert_eq!(plan.page_count(), big / PAGE_SIZE);
        assert_eq!(plan.section_sets.iter().map(Vec::len).max(), Some(8));
    }
}
