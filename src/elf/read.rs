//! Readers of the ELF headers a page plan needs, one per concept: program headers, the
//! dynamic section, notes, section headers and relocation tables.
//!
//! Everything is read through [`object`]'s `ReadRef` over a [`ReadCache`] of the file, so
//! only the headers are read, never the whole file, and a file that shrinks while it is
//! read gives an error instead of a SIGBUS (a mapped file would). What a hostile header can
//! make solab read or keep is bounded: section names are read from one bounded string
//! table, relocation tables are read in fixed-size pieces and only counted per page.

use super::{LoadSegment, PlanError, Section, SegmentFlags};
use crate::addr::PAGE_SIZE;
use object::elf;
use object::read::ReadRef;
use object::read::elf::{Dyn, FileHeader, ProgramHeader, SectionHeader};

/// The most bytes of section names read (`.shstrtab`); beyond, sections have no names.
const MAX_SHSTRTAB: u64 = 1 << 20;
/// Section names are cut to this many bytes: they are labels, not data.
const MAX_NAME: usize = 64;
/// The most relocation-table bytes read at a time.
const RELOC_CHUNK: u64 = 1 << 20;
/// The most relocation-table bytes read in all: more than any real object has.
pub const MAX_RELOC_BYTES: u64 = 256 << 20;

pub(super) fn err<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> PlanError + '_ {
    move |e| PlanError::corrupt(format!("{what}: {e}"))
}

/// What the program headers say.
pub(super) struct ProgramFacts {
    pub segments: Vec<LoadSegment>,
    pub relro: Option<(u64, u64)>,
    pub build_id: Option<String>,
    /// `(file offset, size)` of `PT_DYNAMIC`.
    pub dynamic: Option<(u64, u64)>,
}

/// Reads and checks every `PT_LOAD`, `PT_GNU_RELRO`, `PT_DYNAMIC` and the build-id note.
pub(super) fn program_headers<'d, Elf: FileHeader<Endian = object::Endianness>, R: ReadRef<'d>>(
    header: &Elf,
    endian: object::Endianness,
    data: R,
    file_len: u64,
) -> Result<ProgramFacts, PlanError> {
    let phdrs = header
        .program_headers(endian, data)
        .map_err(err("program headers"))?;
    let mut facts = ProgramFacts {
        segments: Vec::new(),
        relro: None,
        build_id: None,
        dynamic: None,
    };
    for ph in phdrs {
        let p_type = ph.p_type(endian);
        if p_type == elf::PT_LOAD {
            let seg = LoadSegment {
                p_offset: ph.p_offset(endian).into(),
                p_vaddr: ph.p_vaddr(endian).into(),
                p_filesz: ph.p_filesz(endian).into(),
                p_memsz: ph.p_memsz(endian).into(),
                p_flags: SegmentFlags(ph.p_flags(endian).0),
            };
            check_load(&seg, file_len)?;
            facts.segments.push(seg);
        } else if p_type == elf::PT_GNU_RELRO {
            let start: u64 = ph.p_vaddr(endian).into();
            let size: u64 = ph.p_memsz(endian).into();
            facts.relro = Some((start, start.saturating_add(size)));
        } else if p_type == elf::PT_DYNAMIC {
            facts.dynamic = Some((ph.p_offset(endian).into(), ph.p_filesz(endian).into()));
        } else if p_type == elf::PT_NOTE
            && facts.build_id.is_none()
            && let Ok(Some(mut notes)) = ph.notes(endian, data)
        {
            while let Ok(Some(note)) = notes.next() {
                if note.name() == elf::ELF_NOTE_GNU && note.n_type(endian) == elf::NT_GNU_BUILD_ID {
                    facts.build_id = Some(hex(note.desc()));
                }
            }
        }
    }
    if facts.segments.is_empty() {
        return Err(PlanError::corrupt(
            "no PT_LOAD program header: nothing is loaded",
        ));
    }
    Ok(facts)
}

fn check_load(seg: &LoadSegment, file_len: u64) -> Result<(), PlanError> {
    if seg.p_filesz > seg.p_memsz {
        return Err(PlanError::corrupt(format!(
            "PT_LOAD at p_vaddr {:#x} has p_filesz {:#x} > p_memsz {:#x}",
            seg.p_vaddr, seg.p_filesz, seg.p_memsz
        )));
    }
    if seg.p_vaddr.checked_add(seg.p_memsz).is_none()
        || seg
            .p_offset
            .checked_add(seg.p_filesz)
            .is_none_or(|end| end > file_len)
    {
        return Err(PlanError::corrupt(format!(
            "PT_LOAD at p_vaddr {:#x} lies outside the file (truncated?)",
            seg.p_vaddr
        )));
    }
    if seg.p_vaddr % PAGE_SIZE != seg.p_offset % PAGE_SIZE {
        return Err(PlanError::corrupt(format!(
            "PT_LOAD at p_vaddr {:#x}: p_vaddr and p_offset {:#x} disagree modulo the page size",
            seg.p_vaddr, seg.p_offset
        )));
    }
    Ok(())
}

/// What `PT_DYNAMIC` says.
#[derive(Default)]
pub(super) struct DynamicFacts {
    pub soname: Option<String>,
    pub needed: Vec<String>,
    pub textrel: bool,
    pub bind_now: bool,
}

/// The most `DT_NEEDED` entries kept.
const MAX_NEEDED: usize = 1024;

pub(super) fn dynamic<'d, Elf: FileHeader<Endian = object::Endianness>, R: ReadRef<'d>>(
    endian: object::Endianness,
    data: R,
    at: (u64, u64),
    segments: &[LoadSegment],
) -> Result<DynamicFacts, PlanError> {
    // 64 Ki entries is far more than any real object has; a hostile size is cut there.
    let count = (at.1 / std::mem::size_of::<Elf::Dyn>() as u64).min(1 << 16);
    let dyns: &[Elf::Dyn] = data
        .read_slice_at(at.0, count as usize)
        .map_err(|()| PlanError::corrupt("PT_DYNAMIC lies outside the file"))?;
    let mut facts = DynamicFacts::default();
    let (mut strtab, mut strsz) = (None, None);
    for d in dyns {
        let tag = d.d_tag(endian);
        if tag == elf::DT_STRTAB {
            strtab = Some(d.d_val(endian).into());
        } else if tag == elf::DT_STRSZ {
            strsz = Some(d.d_val(endian).into());
        }
    }
    let strings = match (strtab, strsz) {
        (Some(addr), Some(size)) => file_range_of(segments, addr, size.min(MAX_SHSTRTAB))
            .and_then(|(off, len)| data.read_bytes_at(off, len).ok()),
        _ => None,
    };
    let string = |d: &Elf::Dyn| -> Option<String> {
        let off: u64 = d.d_val(endian).into();
        let rest = strings?.get(usize::try_from(off).ok()?..)?;
        let end = rest.iter().position(|&b| b == 0)?;
        Some(label(&rest[..end]))
    };
    for d in dyns {
        let tag = d.d_tag(endian);
        let val: u64 = d.d_val(endian).into();
        if tag == elf::DT_NULL {
            break;
        } else if tag == elf::DT_SONAME {
            facts.soname = string(d);
        } else if tag == elf::DT_NEEDED {
            if facts.needed.len() < MAX_NEEDED {
                facts.needed.extend(string(d));
            }
        } else if tag == elf::DT_TEXTREL {
            facts.textrel = true;
        } else if tag == elf::DT_BIND_NOW {
            facts.bind_now = true;
        } else if tag == elf::DT_FLAGS {
            facts.textrel |= val & elf::DF_TEXTREL.0 != 0;
            facts.bind_now |= val & elf::DF_BIND_NOW.0 != 0;
        } else if tag == elf::DT_FLAGS_1 {
            facts.bind_now |= val & elf::DF_1_NOW.0 != 0;
        }
    }
    Ok(facts)
}

/// The file range behind `[addr, addr + size)` of the load image, when one `PT_LOAD`
/// maps all of it from the file.
fn file_range_of(segments: &[LoadSegment], addr: u64, size: u64) -> Option<(u64, u64)> {
    let seg = segments.iter().find(|s| {
        addr >= s.p_vaddr
            && addr
                .checked_add(size)
                .is_some_and(|e| e <= s.p_vaddr + s.p_filesz)
    })?;
    Some((seg.p_offset + (addr - seg.p_vaddr), size))
}

/// The allocated sections and where the relocation tables are.
pub(super) struct SectionFacts {
    pub sections: Vec<Section>,
    /// `(sh_type, file offset, size)` of each `SHT_RELA`, `SHT_REL` and `SHT_RELR`.
    pub reloc_tables: Vec<(u32, u64, u64)>,
}

/// Reads the section headers (optional at run time: a plan without them has no names).
pub(super) fn sections<'d, Elf: FileHeader<Endian = object::Endianness>, R: ReadRef<'d>>(
    header: &Elf,
    endian: object::Endianness,
    data: R,
    want_relocs: bool,
    only_shared: bool,
) -> SectionFacts {
    let mut facts = SectionFacts {
        sections: Vec::new(),
        reloc_tables: Vec::new(),
    };
    let Ok(headers) = header.section_headers(endian, data) else {
        return facts;
    };
    let names: &[u8] = header
        .shstrndx(endian, data)
        .ok()
        .and_then(|i| headers.get(i as usize))
        .filter(|sh| sh.sh_type(endian) != elf::SHT_NOBITS)
        .and_then(|sh| {
            let (off, size): (u64, u64) = (sh.sh_offset(endian).into(), sh.sh_size(endian).into());
            data.read_bytes_at(off, size.min(MAX_SHSTRTAB)).ok()
        })
        .unwrap_or_default();
    for sh in headers {
        let sh_type = sh.sh_type(endian);
        let size: u64 = sh.sh_size(endian).into();
        if want_relocs && [elf::SHT_RELA, elf::SHT_REL, elf::SHT_RELR].contains(&sh_type) {
            facts
                .reloc_tables
                .push((sh_type.0, sh.sh_offset(endian).into(), size));
        }
        let flags = sh.sh_flags(endian).0;
        if flags & elf::SHF_ALLOC.0 == 0 || size == 0 {
            continue;
        }
        let nobits = sh_type == elf::SHT_NOBITS;
        if flags & elf::SHF_TLS.0 != 0 && nobits {
            continue; // .tbss takes no address space of its own
        }
        let sh_addr: u64 = sh.sh_addr(endian).into();
        if sh_addr.checked_add(size).is_none() {
            continue; // a corrupt header: names are advisory, the plan stands without it
        }
        let name = names
            .get(sh.sh_name(endian) as usize..)
            .map(|rest| &rest[..rest.iter().position(|&b| b == 0).unwrap_or(rest.len())])
            .map(label)
            .unwrap_or_else(|| "?".into());
        if only_shared && name != super::SHARED_SECTION {
            continue;
        }
        facts.sections.push(Section {
            name,
            sh_addr,
            sh_size: size,
            nobits,
        });
    }
    facts
}

/// Counts the dynamic relocations per page of `[image_start, image_end)`, reading the
/// tables in pieces of [`RELOC_CHUNK`] bytes. `counts[i]` is page `i` of the image.
/// `None` when the tables are larger than [`MAX_RELOC_BYTES`] or unreadable.
pub(super) fn relocation_counts(
    mut read_at: impl FnMut(u64, &mut [u8]) -> bool,
    tables: &[(u32, u64, u64)],
    class64: bool,
    big_endian: bool,
    image: (u64, u64),
) -> Option<Vec<u32>> {
    let total: u64 = tables.iter().map(|t| t.2).fold(0, u64::saturating_add);
    if total > MAX_RELOC_BYTES {
        return None;
    }
    let pages = ((image.1 - image.0) / PAGE_SIZE) as usize;
    let mut counts = vec![0u32; pages];
    let word = if class64 { 8 } else { 4 };
    let read_word = |b: &[u8]| -> u64 {
        match (class64, big_endian) {
            (true, false) => u64::from_le_bytes(b[..8].try_into().unwrap_or_default()),
            (true, true) => u64::from_be_bytes(b[..8].try_into().unwrap_or_default()),
            (false, false) => u32::from_le_bytes(b[..4].try_into().unwrap_or_default()).into(),
            (false, true) => u32::from_be_bytes(b[..4].try_into().unwrap_or_default()).into(),
        }
    };
    let mut count = |target: u64| {
        if target >= image.0 && target < image.1 {
            let i = ((target - image.0) / PAGE_SIZE) as usize;
            counts[i] = counts[i].saturating_add(1);
        }
    };
    let mut buf = Vec::new();
    for &(sh_type, offset, size) in tables {
        // Entry sizes (elf(5)): Rela is 3 words, Rel 2, RELR 1; r_offset comes first.
        let relr = sh_type == elf::SHT_RELR.0;
        let entry = if sh_type == elf::SHT_RELA.0 {
            3 * word
        } else if sh_type == elf::SHT_REL.0 {
            2 * word
        } else {
            word
        };
        let mut relr_next = 0u64; // RELR: where the next bitmap starts
        let mut done = 0u64;
        while done + entry <= size {
            let n = ((size - done).min(RELOC_CHUNK) / entry) * entry;
            buf.resize(n as usize, 0);
            if !read_at(offset.checked_add(done)?, &mut buf) {
                return None;
            }
            for e in buf.chunks_exact(entry as usize) {
                let w = read_word(e);
                if !relr {
                    count(w);
                } else if w & 1 == 0 {
                    // An address: relocate it; bitmaps continue after it.
                    count(w);
                    relr_next = w.wrapping_add(word);
                } else {
                    // A bitmap of the next (word bits - 1) words (ELF gABI, SHT_RELR).
                    let bits = word * 8 - 1;
                    for i in 0..bits {
                        if (w >> (i + 1)) & 1 != 0 {
                            count(relr_next.wrapping_add(i * word));
                        }
                    }
                    relr_next = relr_next.wrapping_add(bits * word);
                }
            }
            done += n;
        }
    }
    Some(counts)
}

/// A name from the file as a label: lossy UTF-8, cut to [`MAX_NAME`] bytes.
fn label(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(MAX_NAME)];
    let mut s = String::from_utf8_lossy(cut).into_owned();
    if bytes.len() > MAX_NAME {
        s.push('…');
    }
    s
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
