//! Source file and line of an ELF address, from the object's DWARF (`addr2line`, on
//! `gimli`): the `.debug_*` sections are read whole into memory, only when the object has
//! them uncompressed and they add up to at most [`MAX_DWARF_BYTES`]; a file name is cut at
//! [`super::MAX_NAME`] bytes. The file is one already opened the safe way by the caller.

use object::elf;
use object::read::ReadCache;
use object::read::elf::{FileHeader, SectionHeader};
use std::collections::HashMap;
use std::rc::Rc;

/// The most bytes of DWARF read from one object.
pub const MAX_DWARF_BYTES: u64 = 256 << 20;

type Slice = gimli::EndianRcSlice<gimli::RunTimeEndian>;

/// An object's line tables.
pub struct Lines(addr2line::Context<Slice>);

impl Lines {
    /// `file:line` of ELF address `vaddr`, where the line table holds it.
    pub fn at(&self, vaddr: u64) -> Option<String> {
        let loc = self.0.find_location(vaddr).ok()??;
        let file = loc.file?;
        let file = super::cut(file.as_bytes());
        Some(match loc.line {
            Some(line) => format!("{file}:{line}"),
            None => file.to_string(),
        })
    }
}

/// Reads the DWARF of a 64-bit ELF file: `Ok(None)` when it has no `.debug_info` (or only
/// compressed sections), an error naming the bound when it is larger than the bound.
pub fn read_lines(file: std::fs::File) -> Result<Option<Lines>, String> {
    let data = ReadCache::new(file);
    let data = &data;
    let header = elf::FileHeader64::<object::Endianness>::parse(data).map_err(|e| e.to_string())?;
    let endian = header.endian().map_err(|e| e.to_string())?;
    let sections = header.sections(endian, data).map_err(|e| e.to_string())?;
    let mut wanted = Vec::new();
    let mut total = 0u64;
    for sh in sections.iter() {
        let Ok(name) = sections.section_name(endian, sh) else {
            continue;
        };
        let Ok(name) = std::str::from_utf8(name) else {
            continue;
        };
        if !name.starts_with(".debug_")
            || sh.sh_type(endian) == elf::SHT_NOBITS
            || sh.sh_flags(endian).0 & elf::SHF_COMPRESSED.0 != 0
        {
            continue;
        }
        total = total.saturating_add(sh.sh_size(endian));
        wanted.push((name.to_string(), sh));
    }
    if !wanted.iter().any(|(n, _)| n == ".debug_info") {
        return Ok(None);
    }
    if total > MAX_DWARF_BYTES {
        return Err(format!(
            "{total} bytes of DWARF, more than the {MAX_DWARF_BYTES} read"
        ));
    }
    let mut found: HashMap<String, Rc<[u8]>> = HashMap::new();
    for (name, sh) in wanted {
        let bytes = sh.data(endian, data).map_err(|e| format!("{name}: {e}"))?;
        found.insert(name, Rc::from(bytes));
    }
    let order = if object::Endian::is_little_endian(endian) {
        gimli::RunTimeEndian::Little
    } else {
        gimli::RunTimeEndian::Big
    };
    let dwarf = gimli::Dwarf::load(|id: gimli::SectionId| -> Result<Slice, gimli::Error> {
        let bytes = found
            .get(id.name())
            .cloned()
            .unwrap_or_else(|| Rc::from(&[][..]));
        Ok(gimli::EndianRcSlice::new(bytes, order))
    })
    .map_err(|e| e.to_string())?;
    let ctx = addr2line::Context::from_dwarf(dwarf).map_err(|e| e.to_string())?;
    Ok(Some(Lines(ctx)))
}
