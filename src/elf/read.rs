//! Readers of the ELF headers a page plan needs, one per concept: program headers, the
//! dynamic section, notes, section headers and relocation tables.
//!
//! Everything is read through [`object`]'s `ReadRef` over a [`ReadCache`] of the file, so
//! only the headers are read, never the whole file, and a file that shrinks while it is
//! read gives an error instead of a SIGBUS (a mapped file would). What a hostile header can
//! make solab read or keep is bounded: each string is read where it lies in its table, up
//! to a bound of its own ([`StringTable`]), relocation tables are read in fixed-size pieces
//! and only counted per page. Every bound a file meets is named in the plan's
//! [`LimitHit`]s.

use super::{LimitHit, LoadSegment, PlanError, Section, SegmentFlags};
use crate::addr::PAGE_SIZE;
use object::elf;
use object::read::ReadRef;
use object::read::elf::{Dyn, FileHeader, ProgramHeader, SectionHeader};

/// Section names are cut to this many bytes: they are labels, not data.
pub const MAX_NAME: usize = 64;
/// The longest `DT_NEEDED` or `DT_SONAME` string kept whole: `PATH_MAX`, the most the
/// loader opens.
pub const MAX_DYNAMIC_STRING: usize = 4096;
/// A string table this small is read in one piece; a larger one string by string.
const WHOLE_TABLE: u64 = 64 << 10;
/// The most allocated sections kept: real objects have a few dozen.
pub const MAX_SECTIONS: usize = 4096;
/// The most `PT_DYNAMIC` entries read: far more than any real object has.
pub const MAX_DYNAMIC_ENTRIES: u64 = 1 << 16;
/// The most relocation-table bytes read at a time.
const RELOC_CHUNK: u64 = 1 << 20;
/// The most relocation-table bytes read in all: more than any real object has.
pub const MAX_RELOC_BYTES: u64 = 256 << 20;

pub(super) fn err<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> PlanError + '_ {
    move |e| PlanError::corrupt(format!("{what}: {e}"))
}

/// A string table of the file (`.dynstr`, `.shstrtab`): `size` bytes from `file_offset`.
/// Each string is read where it lies, through a window as long as its bound, so a table of
/// any size costs no more than the strings asked for; a table of up to [`WHOLE_TABLE`]
/// bytes is read once instead.
pub(super) struct StringTable<'d, R: ReadRef<'d>> {
    data: R,
    file_offset: u64,
    size: u64,
    whole: Option<&'d [u8]>,
}

/// A string read from a [`StringTable`].
#[derive(Debug, PartialEq, Eq)]
pub(super) enum TableString<'d> {
    /// All of it: no longer than its bound.
    Whole(&'d [u8]),
    /// Its first bytes, as many as its bound: the string goes on.
    Cut(&'d [u8]),
    /// The table ends before a NUL does: the bytes up to its end.
    Unterminated(&'d [u8]),
    /// The offset lies beyond the table, or the file ends before it.
    Outside,
}

impl<'d, R: ReadRef<'d>> StringTable<'d, R> {
    pub fn new(data: R, file_offset: u64, size: u64) -> StringTable<'d, R> {
        let whole = (size <= WHOLE_TABLE)
            .then(|| data.read_bytes_at(file_offset, size).ok())
            .flatten();
        StringTable {
            data,
            file_offset,
            size,
            whole,
        }
    }

    /// The string at byte `offset` of the table, read up to `bound` bytes.
    pub fn get(&self, offset: u64, bound: usize) -> TableString<'d> {
        if offset >= self.size {
            return TableString::Outside;
        }
        // One byte beyond the bound: room for the NUL of a string exactly `bound` long.
        let window = (self.size - offset).min(bound as u64 + 1);
        let bytes = match self.whole {
            Some(table) => table.get(offset as usize..(offset + window) as usize),
            None => self
                .file_offset
                .checked_add(offset)
                .and_then(|at| self.data.read_bytes_at(at, window).ok()),
        };
        let Some(bytes) = bytes else {
            return TableString::Outside;
        };
        match bytes.iter().position(|&b| b == 0) {
            Some(end) => TableString::Whole(&bytes[..end]),
            None if bytes.len() > bound => TableString::Cut(&bytes[..bound]),
            None => TableString::Unterminated(bytes),
        }
    }
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
    /// The bounds met while reading it, and the names it could not read.
    pub limits: Vec<LimitHit>,
}

/// The most `DT_NEEDED` entries kept.
pub const MAX_NEEDED: usize = 1024;

pub(super) fn dynamic<'d, Elf: FileHeader<Endian = object::Endianness>, R: ReadRef<'d>>(
    endian: object::Endianness,
    data: R,
    at: (u64, u64),
    segments: &[LoadSegment],
) -> Result<DynamicFacts, PlanError> {
    let entries = at.1 / std::mem::size_of::<Elf::Dyn>() as u64;
    let count = entries.min(MAX_DYNAMIC_ENTRIES);
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
        (Some(addr), Some(size)) => file_range_of(segments, addr, size)
            .map(|(off, len)| StringTable::new(data, off, len))
            .ok_or_else(|| {
                let why = format!(".dynstr at {addr:#x} is not in the file part of a PT_LOAD");
                (why, size)
            }),
        _ => Err(("no DT_STRTAB or DT_STRSZ".to_string(), strsz.unwrap_or(0))),
    };
    let mut needed = 0usize;
    let mut soname_at = None;
    let mut ended = false;
    for d in dyns {
        let tag = d.d_tag(endian);
        let val: u64 = d.d_val(endian).into();
        if tag == elf::DT_NULL {
            ended = true;
            break;
        } else if tag == elf::DT_SONAME {
            soname_at = Some(val); // the last one stands, as for the loader
        } else if tag == elf::DT_NEEDED {
            needed += 1;
            if facts.needed.len() < MAX_NEEDED {
                let entry = format!("DT_NEEDED entry {needed}");
                facts
                    .needed
                    .extend(dynamic_string(&strings, val, &entry, &mut facts.limits));
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
    if let Some(at) = soname_at {
        facts.soname = dynamic_string(&strings, at, "DT_SONAME", &mut facts.limits);
    }
    if needed > MAX_NEEDED {
        facts.limits.push(LimitHit {
            limit: "MAX_NEEDED",
            value: MAX_NEEDED as u64,
            what: format!("{needed} DT_NEEDED entries: the first {MAX_NEEDED} kept"),
        });
    }
    if !ended && entries > count {
        facts.limits.push(LimitHit {
            limit: "MAX_DYNAMIC_ENTRIES",
            value: MAX_DYNAMIC_ENTRIES,
            what: format!(
                "PT_DYNAMIC holds {entries} entries and no DT_NULL among the first \
                 {MAX_DYNAMIC_ENTRIES}: the rest not read"
            ),
        });
    }
    Ok(facts)
}

/// The string a `DT_NEEDED` or `DT_SONAME` entry (`entry`) names at offset `offset` of
/// `.dynstr`: whole up to [`MAX_DYNAMIC_STRING`] bytes, cut beyond, `None` when it cannot
/// be read; a cut or unread string is named in `limits`.
fn dynamic_string<'d, R: ReadRef<'d>>(
    strings: &Result<StringTable<'d, R>, (String, u64)>,
    offset: u64,
    entry: &str,
    limits: &mut Vec<LimitHit>,
) -> Option<String> {
    let table = match strings {
        Ok(table) => table,
        Err((why, strsz)) => {
            limits.push(LimitHit {
                limit: "DT_STRSZ",
                value: *strsz,
                what: format!("{entry} not read: {why}"),
            });
            return None;
        }
    };
    let unread = |why: &str| LimitHit {
        limit: "DT_STRSZ",
        value: table.size,
        what: format!("{entry} not read: .dynstr offset {offset:#x} {why}"),
    };
    match table.get(offset, MAX_DYNAMIC_STRING) {
        TableString::Whole(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        TableString::Cut(bytes) => {
            limits.push(LimitHit {
                limit: "MAX_DYNAMIC_STRING",
                value: MAX_DYNAMIC_STRING as u64,
                what: format!(
                    "{entry} (.dynstr offset {offset:#x}) is longer than \
                     {MAX_DYNAMIC_STRING} bytes: kept cut, ending in …"
                ),
            });
            Some(String::from_utf8_lossy(bytes).into_owned() + "…")
        }
        TableString::Unterminated(_) => {
            limits.push(unread("runs past the end of .dynstr"));
            None
        }
        TableString::Outside => {
            limits.push(unread("lies beyond .dynstr (or the file)"));
            None
        }
    }
}

/// The file range behind `[addr, addr + size)` of the load image, as far as the file part
/// of the `PT_LOAD` that maps `addr` holds it: `(file offset, size)`.
fn file_range_of(segments: &[LoadSegment], addr: u64, size: u64) -> Option<(u64, u64)> {
    let seg = segments
        .iter()
        .find(|s| addr >= s.p_vaddr && addr < s.p_vaddr + s.p_filesz)?;
    let held = seg.p_vaddr + seg.p_filesz - addr;
    Some((seg.p_offset + (addr - seg.p_vaddr), size.min(held)))
}

/// The allocated sections and where the relocation tables are.
pub(super) struct SectionFacts {
    pub sections: Vec<Section>,
    /// `(sh_type, file offset, size)` of each `SHT_RELA`, `SHT_REL` and `SHT_RELR`.
    pub reloc_tables: Vec<(u32, u64, u64)>,
    /// The bounds met: names cut, sections left out.
    pub limits: Vec<LimitHit>,
}

/// Reads the section headers (optional at run time: a plan without them has no names).
pub(super) fn sections<'d, Elf: FileHeader<Endian = object::Endianness>, R: ReadRef<'d>>(
    header: &Elf,
    endian: object::Endianness,
    data: R,
    file_len: u64,
    want_relocs: bool,
    only_shared: bool,
) -> SectionFacts {
    let mut facts = SectionFacts {
        sections: Vec::new(),
        reloc_tables: Vec::new(),
        limits: Vec::new(),
    };
    let Ok(headers) = header.section_headers(endian, data) else {
        return facts;
    };
    let names = header
        .shstrndx(endian, data)
        .ok()
        .and_then(|i| headers.get(i as usize))
        .filter(|sh| sh.sh_type(endian) != elf::SHT_NOBITS)
        .map(|sh| {
            // A table said to run past the end of the file holds what the file holds.
            let offset: u64 = sh.sh_offset(endian).into();
            let size = u64::min(sh.sh_size(endian).into(), file_len.saturating_sub(offset));
            StringTable::new(data, offset, size)
        });
    let (mut cut, mut left_out) = (0usize, 0usize);
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
        let name = match names
            .as_ref()
            .map(|t| t.get(sh.sh_name(endian).into(), MAX_NAME))
        {
            Some(TableString::Whole(bytes) | TableString::Unterminated(bytes)) => label(bytes),
            Some(TableString::Cut(bytes)) => {
                cut += 1;
                label(bytes) + "…"
            }
            Some(TableString::Outside) | None => "?".into(),
        };
        if only_shared && name != super::SHARED_SECTION {
            continue;
        }
        if facts.sections.len() == MAX_SECTIONS {
            left_out += 1;
            continue;
        }
        facts.sections.push(Section {
            name,
            sh_addr,
            sh_size: size,
            nobits,
        });
    }
    if cut > 0 {
        facts.limits.push(LimitHit {
            limit: "MAX_NAME",
            value: MAX_NAME as u64,
            what: format!("{cut} section names longer than {MAX_NAME} bytes: cut, ending in …"),
        });
    }
    if left_out > 0 {
        facts.limits.push(LimitHit {
            limit: "MAX_SECTIONS",
            value: MAX_SECTIONS as u64,
            what: format!(
                "{} allocated sections: the first {MAX_SECTIONS} kept, {left_out} left out",
                MAX_SECTIONS + left_out
            ),
        });
    }
    facts
}

/// Why relocations were not counted.
pub(super) enum RelocsNotCounted {
    /// The tables hold this many bytes, more than [`MAX_RELOC_BYTES`].
    TooLarge(u64),
    Unreadable,
}

/// Counts the dynamic relocations per page of `[image_start, image_end)`, reading the
/// tables in pieces of [`RELOC_CHUNK`] bytes. `counts[i]` is page `i` of the image.
pub(super) fn relocation_counts(
    mut read_at: impl FnMut(u64, &mut [u8]) -> bool,
    tables: &[(u32, u64, u64)],
    class64: bool,
    big_endian: bool,
    image: (u64, u64),
) -> Result<Vec<u32>, RelocsNotCounted> {
    let total: u64 = tables.iter().map(|t| t.2).fold(0, u64::saturating_add);
    if total > MAX_RELOC_BYTES {
        return Err(RelocsNotCounted::TooLarge(total));
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
            let at = offset
                .checked_add(done)
                .ok_or(RelocsNotCounted::Unreadable)?;
            if !read_at(at, &mut buf) {
                return Err(RelocsNotCounted::Unreadable);
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
    Ok(counts)
}

/// A section name from the file as a label: lossy UTF-8.
fn label(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::SegmentFlags;

    type Elf64 = elf::FileHeader64<object::Endianness>;

    fn table(bytes: &[u8]) -> StringTable<'_, &[u8]> {
        StringTable::new(bytes, 0, bytes.len() as u64)
    }

    #[test]
    fn a_string_is_whole_cut_unterminated_or_outside() {
        // The same answers from a table read whole and from one read string by string.
        for pad in [0, WHOLE_TABLE as usize] {
            let mut bytes = b"\0abc\0defgh\0".to_vec();
            bytes.resize(bytes.len() + pad, b'x');
            bytes.extend_from_slice(b"tail");
            let t = table(&bytes);
            assert_eq!(t.whole.is_some(), pad == 0);
            assert_eq!(t.get(0, 8), TableString::Whole(b""));
            assert_eq!(t.get(1, 8), TableString::Whole(b"abc"));
            assert_eq!(t.get(1, 3), TableString::Whole(b"abc"), "exactly the bound");
            assert_eq!(t.get(5, 3), TableString::Cut(b"def"));
            let end = bytes.len() as u64;
            assert_eq!(t.get(end - 4, 8), TableString::Unterminated(b"tail"));
            assert_eq!(t.get(end, 8), TableString::Outside);
            assert_eq!(t.get(u64::MAX, 8), TableString::Outside);
        }
    }

    #[test]
    fn a_window_past_the_end_of_the_file_is_outside() {
        let bytes = b"\0abc\0def\0";
        let t = StringTable::new(&bytes[..], 0, 1 << 20);
        assert_eq!(t.get(1, 8), TableString::Outside);
        assert_eq!(t.get(1, 3), TableString::Whole(b"abc"));
    }

    /// A file of one `PT_DYNAMIC` at offset 0 (`entries`, as `(d_tag, d_val)`), then its
    /// string table `strings`, and the one `PT_LOAD` that maps it all from offset 0.
    fn dynamic_of(
        entries: &[(elf::DynamicTag, u64)],
        strings: &[u8],
    ) -> (Vec<u8>, (u64, u64), LoadSegment) {
        let mut file = Vec::new();
        for &(tag, val) in entries {
            file.extend_from_slice(&tag.0.to_le_bytes());
            file.extend_from_slice(&val.to_le_bytes());
        }
        let at = (0, file.len() as u64);
        file.extend_from_slice(strings);
        let len = file.len() as u64;
        let seg = LoadSegment {
            p_offset: 0,
            p_vaddr: 0,
            p_filesz: len,
            p_memsz: len,
            p_flags: SegmentFlags(elf::PF_R.0),
        };
        (file, at, seg)
    }

    fn read_dynamic(entries: &[(elf::DynamicTag, u64)], strings: &[u8]) -> DynamicFacts {
        let n = entries.len() as u64 + 2;
        let mut all = vec![
            (elf::DT_STRTAB, n * 16),
            (elf::DT_STRSZ, strings.len() as u64),
        ];
        all.extend_from_slice(entries);
        let (file, at, seg) = dynamic_of(&all, strings);
        dynamic::<Elf64, &[u8]>(object::Endianness::Little, &file[..], at, &[seg])
            .expect("a dynamic section")
    }

    #[test]
    fn needed_and_soname_are_read_where_they_lie() {
        let mut strings = vec![0u8; 2 << 20];
        strings.extend_from_slice(b"libfar.so.1\0libself.so.1\0");
        let far = 2 << 20;
        let facts = read_dynamic(
            &[
                (elf::DT_NEEDED, far),
                (elf::DT_SONAME, far + 12),
                (elf::DT_NULL, 0),
            ],
            &strings,
        );
        assert_eq!(facts.needed, ["libfar.so.1"]);
        assert_eq!(facts.soname.as_deref(), Some("libself.so.1"));
        assert!(facts.limits.is_empty(), "{:?}", facts.limits);
    }

    #[test]
    fn every_needed_string_that_is_cut_or_unread_is_named() {
        let long = vec![b'n'; MAX_DYNAMIC_STRING + 10];
        let mut strings = b"\0libm.so.6\0".to_vec();
        let long_at = strings.len() as u64;
        strings.extend_from_slice(&long);
        strings.push(0);
        let unterminated_at = strings.len() as u64;
        strings.extend_from_slice(b"libcut");
        let facts = read_dynamic(
            &[
                (elf::DT_NEEDED, 1),
                (elf::DT_NEEDED, long_at),
                (elf::DT_NEEDED, unterminated_at),
                (elf::DT_NEEDED, 1 << 40),
                (elf::DT_NULL, 0),
            ],
            &strings,
        );
        assert_eq!(facts.needed.len(), 2);
        assert_eq!(facts.needed[0], "libm.so.6");
        assert_eq!(
            facts.needed[1],
            "n".repeat(MAX_DYNAMIC_STRING) + "…",
            "cut, and labelled"
        );
        let hits: Vec<(&str, &str)> = facts
            .limits
            .iter()
            .map(|h| (h.limit, h.what.as_str()))
            .collect();
        assert_eq!(hits.len(), 3, "{hits:?}");
        assert_eq!(hits[0].0, "MAX_DYNAMIC_STRING");
        assert!(hits[0].1.starts_with("DT_NEEDED entry 2 "), "{hits:?}");
        assert_eq!(hits[1].0, "DT_STRSZ");
        assert!(
            hits[1].1.starts_with("DT_NEEDED entry 3 not read"),
            "{hits:?}"
        );
        assert!(
            hits[2].1.starts_with("DT_NEEDED entry 4 not read"),
            "{hits:?}"
        );
    }

    #[test]
    fn needed_beyond_the_most_kept_is_counted() {
        let mut entries = vec![(elf::DT_NEEDED, 1); MAX_NEEDED + 5];
        entries.push((elf::DT_NULL, 0));
        let facts = read_dynamic(&entries, b"\0libm.so.6\0");
        assert_eq!(facts.needed.len(), MAX_NEEDED);
        assert_eq!(facts.limits.len(), 1);
        assert_eq!(facts.limits[0].limit, "MAX_NEEDED");
        assert!(
            facts.limits[0]
                .what
                .starts_with(&format!("{} ", MAX_NEEDED + 5))
        );
    }

    #[test]
    fn a_dynamic_section_without_its_end_in_reach_says_so() {
        let entries = vec![(elf::DT_DEBUG, 0); MAX_DYNAMIC_ENTRIES as usize + 1];
        let facts = read_dynamic(&entries, b"\0");
        assert_eq!(facts.limits.len(), 1, "{:?}", facts.limits);
        assert_eq!(facts.limits[0].limit, "MAX_DYNAMIC_ENTRIES");
        // With its DT_NULL among the entries read, what lies beyond is no entry at all.
        let mut entries = vec![(elf::DT_NULL, 0)];
        entries.resize(MAX_DYNAMIC_ENTRIES as usize + 1, (elf::DT_DEBUG, 0));
        assert!(read_dynamic(&entries, b"\0").limits.is_empty());
    }

    #[test]
    fn needed_without_a_string_table_is_named() {
        let (file, at, seg) = dynamic_of(&[(elf::DT_NEEDED, 1), (elf::DT_NULL, 0)], b"");
        let facts = dynamic::<Elf64, &[u8]>(object::Endianness::Little, &file[..], at, &[seg])
            .expect("a dynamic section");
        assert!(facts.needed.is_empty());
        assert_eq!(facts.limits.len(), 1);
        assert!(
            facts.limits[0].what.contains("no DT_STRTAB"),
            "{:?}",
            facts.limits
        );
    }
}
