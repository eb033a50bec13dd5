//! Code addresses of a process turned into `object!function`: the mapping that holds the
//! address (the process's map), the ELF load segment that holds its file offset, and the
//! function symbol (`STT_FUNC`, `STT_GNU_IFUNC`) of `.symtab`, else `.dynsym`, whose range
//! holds the ELF address.
//!
//! The files are opened the one safe way ([`files::open_mapped_file`]: no links followed,
//! nothing blocks, only the mapped (device, inode)) and read through [`object`]'s
//! `ReadCache`, so only the headers and the two symbol tables are read; a table larger than
//! [`MAX_TABLE_BYTES`] or with more than [`MAX_SYMBOLS`] functions is not read. A name is
//! kept whole up to [`demangle::MAX_MANGLED`] bytes while an object's names add up to at
//! most [`MAX_NAME_BYTES`] (cut at [`MAX_NAME`] past that), and demangled when it names a
//! frame ([`demangle`]: Rust and C++), cut at [`MAX_NAME`]. Each file is read once per
//! run, by (device, inode).
//!
//! Code a JIT generated, in an anonymous executable mapping, is named by the JIT's map
//! `/tmp/perf-PID.map` where the process's owner (or root) wrote one ([`JitMap`]).
//!
//! Where asked ([`Symbolizer::lines`]), the source file and line come from the object's
//! DWARF, or from its separate debug file's ([`lines`]). An address with no symbol is named
//! by its object and ELF address (`libx.so!+0x1234`).

mod demangle;
mod lines;

pub use demangle::{MAX_MANGLED, readable};
pub use lines::{Lines, MAX_DWARF_BYTES};

use crate::kernel::files;
use crate::kernel::process::ProcDir;
use crate::maps::{FileId, MapEntry, MapTarget};
use object::elf;
use object::read::ReadCache;
use object::read::elf::{FileHeader, ProgramHeader, SectionHeader, Sym};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

/// The most bytes of one symbol table and its string table read.
pub const MAX_TABLE_BYTES: u64 = 128 << 20;
/// The most function symbols kept from one object.
pub const MAX_SYMBOLS: usize = 4 << 20;
/// Function names are cut to this many bytes (after demangling).
pub const MAX_NAME: usize = 256;
/// The most bytes of one object's function names kept whole (for demangling).
pub const MAX_NAME_BYTES: usize = 64 << 20;
/// The longest build id taken (real ones are 20 bytes).
const MAX_BUILD_ID: usize = 64;
/// Where distributions install separate debug files, by build id
/// (`.build-id/xx/rest.debug`; Debian's `*-dbg` and `*-dbgsym` packages).
const DEBUG_DIR: &str = "/usr/lib/debug/.build-id";

/// Where an address falls, in words.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Frame {
    /// The object's file name, or the mapping's pseudo-name (`[anon]`, `[heap]`,
    /// `[stack]`, `[vdso]`), or `[unknown]` where no mapping holds the address.
    pub object: String,
    /// The function, or `+0xADDR` (the ELF address) where no symbol holds it, or the
    /// address itself outside any file.
    pub function: String,
    /// `file:line` from the object's DWARF, where looked up and found.
    pub line: Option<String>,
}

impl Frame {
    /// `object!function`.
    pub fn name(&self) -> String {
        format!("{}!{}", self.object, self.function)
    }

    /// `object!function (file:line)`, or `object!function` where the line is not known.
    pub fn name_with_line(&self) -> String {
        match &self.line {
            Some(l) => format!("{}!{} ({l})", self.object, self.function),
            None => self.name(),
        }
    }
}

/// An object's function symbols and load segments.
#[derive(Debug, Default)]
pub struct FunctionTable {
    /// (start, end, name) by ELF address, sorted by start.
    functions: Vec<(u64, u64, Arc<str>)>,
    /// (p_offset, p_filesz, p_vaddr) of each PT_LOAD.
    loads: Vec<(u64, u64, u64)>,
    /// The functions came from `.symtab` (else from `.dynsym`, the exported ones only).
    full: bool,
    /// The GNU build id (`NT_GNU_BUILD_ID`), which names the separate debug file.
    build_id: Option<Vec<u8>>,
    /// x86-64 only: of the object's own functions sampled, how many begin by setting up
    /// a frame pointer (weak evidence of how it was built).
    pub prologues: Option<Prologues>,
}

/// A weak sign of whether an object was built with frame pointers: of up to
/// [`MAX_PROLOGUE_SAMPLE`] of its functions (its own symbols, evenly spread, `.cold`
/// parts left out), how many begin with `push %rbp; mov %rsp,%rbp` (after an `endbr64`).
/// Weak: a function may set up its frame later, or need none (a leaf built with
/// `-momit-leaf-frame-pointer`), and hand-written code does as it likes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Prologues {
    pub with_frame: u32,
    pub sampled: u32,
}

/// The most functions of one object whose first bytes are read for [`Prologues`].
pub const MAX_PROLOGUE_SAMPLE: usize = 2048;

/// Whether code starting with `b` sets up a frame pointer: `push %rbp` then `mov
/// %rsp,%rbp` (either encoding), after an `endbr64` where there is one.
pub fn sets_up_frame(b: &[u8]) -> bool {
    let b = b.strip_prefix(&[0xf3, 0x0f, 0x1e, 0xfa][..]).unwrap_or(b);
    b.starts_with(&[0x55, 0x48, 0x89, 0xe5]) || b.starts_with(&[0x55, 0x48, 0x8b, 0xec])
}

/// [`Prologues`] of the functions of `table` (its own, before a debug file's), read from
/// the object's bytes at their file offsets.
fn sample_prologues<'d, R: object::ReadRef<'d>>(table: &FunctionTable, data: R) -> Prologues {
    let own: Vec<u64> = table
        .functions
        .iter()
        .filter(|(s, e, name)| e > s && !name.contains(".cold"))
        .map(|(s, _, _)| *s)
        .collect();
    let step = own.len().div_ceil(MAX_PROLOGUE_SAMPLE).max(1);
    let mut p = Prologues::default();
    for &start in own.iter().step_by(step) {
        let Some(off) = table
            .loads
            .iter()
            .find(|(_, size, v)| start >= *v && start - v < *size)
            .map(|(o, _, v)| o + (start - v))
        else {
            continue;
        };
        let Ok(bytes) = data.read_bytes_at(off, 8) else {
            continue;
        };
        p.sampled += 1;
        p.with_frame += u32::from(sets_up_frame(bytes));
    }
    p
}

impl FunctionTable {
    /// The ELF address of file offset `off`, through the load segment that holds it.
    pub fn vaddr_of_offset(&self, off: u64) -> Option<u64> {
        self.loads
            .iter()
            .find(|(o, size, _)| off >= *o && off - o < *size)
            .map(|(o, _, v)| v + (off - o))
    }

    /// The function whose range holds ELF address `vaddr`.
    pub fn function_at(&self, vaddr: u64) -> Option<&str> {
        let k = self.functions.partition_point(|(s, _, _)| *s <= vaddr);
        let (s, e, name) = self.functions.get(k.checked_sub(1)?)?;
        (vaddr >= *s && (vaddr < *e || s == e)).then_some(&**name)
    }
}

pub(crate) fn cut(name: &[u8]) -> Arc<str> {
    let name = &name[..name.len().min(MAX_NAME)];
    String::from_utf8_lossy(name).into()
}

/// Reads the function table of a 64-bit little- or big-endian ELF file.
pub fn read_table(file: std::fs::File) -> Result<FunctionTable, String> {
    let data = ReadCache::new(file);
    let data = &data;
    let header = elf::FileHeader64::<object::Endianness>::parse(data).map_err(|e| e.to_string())?;
    let endian = header.endian().map_err(|e| e.to_string())?;
    let mut table = FunctionTable::default();
    for ph in header
        .program_headers(endian, data)
        .map_err(|e| e.to_string())?
    {
        if let Ok(Some(mut notes)) = ph.notes(endian, data) {
            while let Ok(Some(note)) = notes.next() {
                let id = note.desc();
                if note.name() == elf::ELF_NOTE_GNU
                    && note.n_type(endian) == elf::NT_GNU_BUILD_ID
                    && (1..=MAX_BUILD_ID).contains(&id.len())
                {
                    table.build_id = Some(id.to_vec());
                }
            }
        }
        if ph.p_type(endian) == elf::PT_LOAD {
            table
                .loads
                .push((ph.p_offset(endian), ph.p_filesz(endian), ph.p_vaddr(endian)));
        }
    }
    let sections = header.sections(endian, data).map_err(|e| e.to_string())?;
    // Symbols may share one string: the bytes kept are counted per symbol.
    let mut name_bytes = 0usize;
    for kind in [elf::SHT_SYMTAB, elf::SHT_DYNSYM] {
        let Some((_, sh)) = sections
            .iter()
            .enumerate()
            .find(|(_, s)| s.sh_type(endian) == kind)
        else {
            continue;
        };
        let strings = sections
            .section(object::SectionIndex(sh.sh_link(endian) as usize))
            .map_err(|e| e.to_string())?;
        if sh.sh_size(endian) > MAX_TABLE_BYTES || strings.sh_size(endian) > MAX_TABLE_BYTES {
            continue;
        }
        let symbols = sections
            .symbols(endian, data, kind)
            .map_err(|e| e.to_string())?;
        let names = symbols.strings();
        for sym in symbols.symbols() {
            let t = sym.st_type();
            if (t != elf::STT_FUNC && t != elf::STT_GNU_IFUNC) || sym.st_value(endian) == 0 {
                continue;
            }
            if table.functions.len() >= MAX_SYMBOLS {
                break;
            }
            let Ok(name) = sym.name(endian, names) else {
                continue;
            };
            let start = sym.st_value(endian);
            let end = start.saturating_add(sym.st_size(endian));
            let keep = if name_bytes < MAX_NAME_BYTES {
                MAX_MANGLED
            } else {
                MAX_NAME
            };
            let name = &name[..name.len().min(keep)];
            name_bytes += name.len();
            table
                .functions
                .push((start, end, String::from_utf8_lossy(name).into()));
        }
        if !table.functions.is_empty() {
            table.full = kind == elf::SHT_SYMTAB;
            break;
        }
    }
    table
        .functions
        .sort_by_key(|f| (f.0, std::cmp::Reverse(f.1)));
    table.functions.dedup_by_key(|f| f.0);
    if header.e_machine(endian) == elf::EM_X86_64 {
        table.prologues = Some(sample_prologues(&table, data));
    }
    Ok(table)
}

/// The table with the `.symtab` of the object's separate debug file, where the object
/// has only `.dynsym` and a debug file of its build id is installed (the same addresses:
/// a debug file is the object with its code left out). The debug file is under a
/// directory only root writes; it is opened without blocking, as a regular file only.
fn with_debug_file(mut table: FunctionTable) -> FunctionTable {
    let Some(f) = table
        .build_id
        .as_deref()
        .filter(|_| !table.full)
        .and_then(debug_file)
    else {
        return table;
    };
    if let Ok(debug) = read_table(f)
        && debug.full
    {
        table.functions = debug.functions;
        table.full = true;
    }
    table
}

/// The separate debug file of build id `id`, where one is installed.
fn debug_file(id: &[u8]) -> Option<std::fs::File> {
    let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let path = format!("{DEBUG_DIR}/{}/{}.debug", &hex[..2], &hex[2..]);
    files::open_named_file(std::path::Path::new(&path)).ok()
}

/// The most bytes of a JIT map read (`/tmp/perf-PID.map`).
pub const MAX_JIT_MAP_BYTES: u64 = 64 << 20;

/// The most entries kept from a JIT map.
pub const MAX_JIT_ENTRIES: usize = 1 << 20;

/// A JIT's map of the code it generated (the convention of perf, written by CPython 3.12+
/// `-X perf`, Node `--perf-basic-prof`, the JVM's perf-map-agent): lines `START SIZE
/// name`, hexadecimal, sorted here by start; at most [`MAX_JIT_ENTRIES`] kept.
#[derive(Debug, Default)]
pub struct JitMap(Vec<(u64, u64, Arc<str>)>);

impl JitMap {
    /// Parses the text; lines that do not have the shape are left out.
    pub fn parse(text: &[u8]) -> JitMap {
        let mut v: Vec<(u64, u64, Arc<str>)> = text
            .split(|&b| b == b'\n')
            .filter_map(|line| {
                let line = std::str::from_utf8(line).ok()?;
                let mut parts = line.splitn(3, ' ');
                let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok();
                let start = hex(parts.next()?)?;
                let size = hex(parts.next()?)?;
                Some((
                    start,
                    start.saturating_add(size),
                    cut(parts.next()?.as_bytes()),
                ))
            })
            .take(MAX_JIT_ENTRIES)
            .collect();
        v.sort_by_key(|f| f.0);
        JitMap(v)
    }

    pub fn function_at(&self, addr: u64) -> Option<&str> {
        let k = self.0.partition_point(|(s, _, _)| *s <= addr);
        let (_, e, name) = self.0.get(k.checked_sub(1)?)?;
        (addr < *e).then_some(&**name)
    }
}

/// Reads `/tmp/perf-PID.map` where the process of `dir` wrote it ([`read_jit_map_at`]).
fn read_jit_map(dir: &ProcDir) -> Option<JitMap> {
    use std::os::unix::fs::MetadataExt;
    let pid = dir.pid();
    let owner = std::fs::metadata(format!("/proc/{pid}")).ok()?.uid();
    read_jit_map_at(std::path::Path::new(&format!("/tmp/perf-{pid}.map")), owner)
}

/// Reads a JIT map at `path`, a name any user can create first: only a regular file (no
/// link followed, nothing blocks) owned by `owner` (the process's owner) or root, of at
/// most [`MAX_JIT_MAP_BYTES`]; anything else is no map.
fn read_jit_map_at(path: &std::path::Path, owner: u32) -> Option<JitMap> {
    use std::io::Read;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .ok()?;
    let m = f.metadata().ok()?;
    if !m.file_type().is_file() || (m.uid() != owner && m.uid() != 0) {
        return None;
    }
    let mut text = Vec::new();
    f.take(MAX_JIT_MAP_BYTES).read_to_end(&mut text).ok()?;
    Some(JitMap::parse(&text))
}

/// Resolves addresses of processes, reading each object once.
#[derive(Default)]
pub struct Symbolizer {
    tables: HashMap<FileId, Option<Arc<FunctionTable>>>,
    jit: HashMap<i32, Option<JitMap>>,
    /// Look up file and line too (reads each object's DWARF).
    pub lines: bool,
    line_tables: HashMap<FileId, Option<Rc<Lines>>>,
    /// Objects that could not be read, with why (once each).
    pub unreadable: Vec<String>,
}

fn file_name(m: &MapEntry) -> String {
    match &m.target {
        MapTarget::File { path, .. } => path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into(),
        ),
        MapTarget::Anonymous => "[anon]".into(),
        MapTarget::Pseudo(p) => p.clone(),
    }
}

impl Symbolizer {
    fn table(&mut self, dir: &ProcDir, m: &MapEntry) -> Option<Arc<FunctionTable>> {
        let id = m.file_id()?;
        if let Some(t) = self.tables.get(&id) {
            return t.clone();
        }
        let t = match files::open_mapped_file(dir, m) {
            Ok((f, path)) => match read_table(f) {
                Ok(t) => Some(Arc::new(with_debug_file(t))),
                Err(e) => {
                    self.unreadable.push(format!("{}: {e}", path.display()));
                    None
                }
            },
            Err(e) => {
                self.unreadable.push(e.to_string());
                None
            }
        };
        self.tables.insert(id, t.clone());
        t
    }

    /// The mapping of `maps` (sorted by start) that holds `addr`.
    pub fn mapping_at(maps: &[MapEntry], addr: u64) -> Option<&MapEntry> {
        let k = maps.partition_point(|m| m.start.0 <= addr);
        k.checked_sub(1)
            .map(|k| &maps[k])
            .filter(|m| addr < m.end.0)
    }

    /// The [`Prologues`] of the object that holds `addr`, where it is an x86-64 ELF file.
    pub fn prologues(&mut self, dir: &ProcDir, maps: &[MapEntry], addr: u64) -> Option<Prologues> {
        let m = Self::mapping_at(maps, addr)?;
        self.table(dir, m)?.prologues
    }

    /// Where `addr` falls in the process of `dir`, whose map is `maps` (sorted by start).
    pub fn resolve(&mut self, dir: &ProcDir, maps: &[MapEntry], addr: u64) -> Frame {
        let Some(m) = Self::mapping_at(maps, addr) else {
            return Frame {
                object: "[unknown]".into(),
                function: format!("{addr:#x}"),
                line: None,
            };
        };
        let object = file_name(m);
        if m.file_id().is_none() && m.perms.exec {
            let jit = self
                .jit
                .entry(dir.pid())
                .or_insert_with(|| read_jit_map(dir));
            if let Some(name) = jit.as_ref().and_then(|j| j.function_at(addr)) {
                return Frame {
                    object: "[jit]".into(),
                    function: name.to_string(),
                    line: None,
                };
            }
        }
        let Some(table) = self.table(dir, m) else {
            return Frame {
                object,
                function: format!("{addr:#x}"),
                line: None,
            };
        };
        let off = addr - m.start.0 + m.offset;
        let vaddr = table.vaddr_of_offset(off);
        let function = match vaddr {
            Some(v) => table
                .function_at(v)
                .map_or_else(|| format!("+{v:#x}"), |f| readable(f).to_string()),
            None => format!("+{off:#x}"),
        };
        let line = match vaddr {
            Some(v) if self.lines => self.line_table(dir, m, &table).and_then(|l| l.at(v)),
            _ => None,
        };
        Frame {
            object,
            function,
            line,
        }
    }

    /// The line tables of the object mapped by `m`: its own DWARF, else its debug file's.
    fn line_table(
        &mut self,
        dir: &ProcDir,
        m: &MapEntry,
        table: &FunctionTable,
    ) -> Option<Rc<Lines>> {
        let id = m.file_id()?;
        if let Some(l) = self.line_tables.get(&id) {
            return l.clone();
        }
        let own = files::open_mapped_file(dir, m)
            .map_err(|e| e.to_string())
            .and_then(|(f, path)| {
                lines::read_lines(f).map_err(|e| format!("{}: {e}", path.display()))
            });
        let found = match own {
            Ok(Some(l)) => Some(l),
            Ok(None) => table
                .build_id
                .as_deref()
                .and_then(debug_file)
                .and_then(|f| lines::read_lines(f).ok().flatten()),
            Err(e) => {
                self.unreadable.push(format!("lines: {e}"));
                None
            }
        };
        let found = found.map(Rc::new);
        self.line_tables.insert(id, found.clone());
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jit_map_names_its_ranges_and_skips_odd_lines() {
        let j = JitMap::parse(b"1000 20 py::f:/app/x.py\nnot a line\n0x3000 10 node name\n");
        assert_eq!(j.function_at(0x1010), Some("py::f:/app/x.py"));
        assert_eq!(j.function_at(0x1020), None);
        assert_eq!(j.function_at(0x3005), Some("node name"));
    }

    /// A JIT map another user planted, or made a link or a FIFO, is no map; the owner's is.
    #[test]
    fn a_jit_map_is_read_only_from_a_regular_file_of_the_owner() {
        use std::os::unix::fs::MetadataExt;
        let dir = std::env::temp_dir().join(format!("solab-jit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        let me = std::fs::metadata(&dir).expect("scratch").uid();
        let map = dir.join("perf-1.map");
        std::fs::write(&map, "1000 20 jitted\n").expect("a map");
        let named = |owner| {
            read_jit_map_at(&map, owner).and_then(|j| j.function_at(0x1000).map(str::to_string))
        };
        assert_eq!(named(me).as_deref(), Some("jitted"));
        // Another owner's file (root's is taken: root may write for anyone).
        if me != 0 {
            assert!(named(me + 1).is_none());
        } else {
            assert_eq!(named(12345).as_deref(), Some("jitted"));
        }
        // A link to the owner's map is not followed.
        let link = dir.join("perf-2.map");
        std::os::unix::fs::symlink(&map, &link).expect("a link");
        assert!(read_jit_map_at(&link, me).is_none());
        // A FIFO nobody writes does not block the reader.
        let fifo = dir.join("perf-3.map");
        let c = std::ffi::CString::new(fifo.to_str().expect("utf-8")).expect("path");
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(read_jit_map_at(&fifo, me).is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_jit_map_keeps_a_bounded_number_of_entries() {
        let mut text = Vec::new();
        for i in 0..MAX_JIT_ENTRIES as u64 + 10 {
            text.extend_from_slice(format!("{:x} 1 f\n", i * 16).as_bytes());
        }
        text.extend_from_slice(b"ffffffffffffffff ffffffffffffffff wraps\n\xff\xfe 1 x\n");
        let j = JitMap::parse(&text);
        assert_eq!(j.0.len(), MAX_JIT_ENTRIES);
        assert_eq!(j.function_at(0), Some("f"));
    }

    #[test]
    fn frame_prologues_are_recognised_with_or_without_endbr64() {
        assert!(sets_up_frame(&[0x55, 0x48, 0x89, 0xe5, 0x90]));
        assert!(sets_up_frame(&[
            0xf3, 0x0f, 0x1e, 0xfa, 0x55, 0x48, 0x89, 0xe5
        ]));
        assert!(sets_up_frame(&[0x55, 0x48, 0x8b, 0xec]));
        // push %rbx; sub $0x10,%rsp: no frame pointer.
        assert!(!sets_up_frame(&[0x53, 0x48, 0x83, 0xec, 0x10]));
        assert!(!sets_up_frame(&[0x55]));
    }

    #[test]
    fn own_functions_are_found() {
        let dir = ProcDir::open(std::process::id() as i32).expect("own directory");
        let maps = dir.read_maps().expect("maps");
        let mut s = Symbolizer::default();
        // libc's getpid, through the address the dynamic linker gave it.
        let addr = libc::getpid as *const () as usize as u64;
        let f = s.resolve(&dir, &maps, addr);
        assert!(f.object.starts_with("libc"), "{f:?}");
        assert!(f.function.contains("getpid"), "{f:?}");
    }
}
