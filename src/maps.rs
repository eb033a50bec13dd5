//! Parsing /proc/PID/maps (proc(5), Documentation/filesystems/proc.rst, "The /proc/PID/maps
//! file"; the kernel writes it in fs/proc/task_mmu.c `show_map_vma`).
//!
//! Pure: [`parse_maps`] takes the file's bytes. The path field is everything after the
//! inode column, so paths with spaces survive; the kernel escapes a newline in a path as
//! `\012` (`seq_file_path(m, file, "\n")`) and appends ` (deleted)` to unlinked files.
//! [`raw_target`] applies the same rules to a name the PROCMAP_QUERY ioctl returns
//! (raw bytes, nothing escaped; [`crate::kernel::process::read_maps`] uses it).

use crate::addr::VirtAddr;
use std::borrow::Cow;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::hash::{BuildHasher, RandomState};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;

/// The four permission letters of a mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Perms {
    pub read: bool,
    pub write: bool,
    pub exec: bool,
    /// `s`: `MAP_SHARED`; `p`: private (copy-on-write).
    pub shared: bool,
}

impl Perms {
    pub fn parse(s: &str) -> Option<Perms> {
        let b = s.as_bytes();
        if b.len() != 4 {
            return None;
        }
        let flag = |c: u8, yes: u8| match c {
            b'-' => Some(false),
            c if c == yes => Some(true),
            _ => None,
        };
        Some(Perms {
            read: flag(b[0], b'r')?,
            write: flag(b[1], b'w')?,
            exec: flag(b[2], b'x')?,
            shared: match b[3] {
                b's' => true,
                b'p' => false,
                _ => return None,
            },
        })
    }
}

impl std::fmt::Display for Perms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = |on: bool, ch: char| if on { ch } else { '-' };
        write!(
            f,
            "{}{}{}{}",
            c(self.read, 'r'),
            c(self.write, 'w'),
            c(self.exec, 'x'),
            if self.shared { 's' } else { 'p' }
        )
    }
}

/// What a mapping maps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MapTarget {
    /// A file, by the path the kernel printed (unescaped), and whether it was unlinked.
    /// The path is kept once per process ([`Names`]) and shared (`Arc`) by every mapping
    /// of the file under that name: a file mapped a thousand times costs one copy.
    File { path: Arc<Path>, deleted: bool },
    /// Anonymous memory with no name.
    Anonymous,
    /// A pseudo-path in brackets: `[heap]`, `[stack]`, `[vdso]`, `[vvar]`, `[anon:name]`.
    Pseudo(String),
}

/// One line of /proc/PID/maps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapEntry {
    pub start: VirtAddr,
    pub end: VirtAddr,
    pub perms: Perms,
    pub offset: u64,
    /// Device major and minor number of the mapped file (0:0 for anonymous memory).
    pub dev: (u32, u32),
    pub inode: u64,
    pub target: MapTarget,
}

impl MapEntry {
    pub fn len(&self) -> u64 {
        self.end.0 - self.start.0
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The (device, inode) identity of the mapped file, `None` for anonymous memory.
    pub fn file_id(&self) -> Option<FileId> {
        match self.target {
            MapTarget::File { .. } if self.inode != 0 => Some(FileId {
                dev: self.dev,
                inode: self.inode,
            }),
            _ => None,
        }
    }

    pub fn path(&self) -> Option<&Path> {
        match &self.target {
            MapTarget::File { path, .. } => Some(path),
            _ => None,
        }
    }

    pub fn is_pseudo(&self, name: &str) -> bool {
        matches!(&self.target, MapTarget::Pseudo(n) if n == name)
    }

    /// The name of this mapping's entry in /proc/PID/map_files.
    pub fn map_files_name(&self) -> String {
        format!("{:x}-{:x}", self.start.0, self.end.0)
    }
}

/// A file's identity: what ties a mapping to the file the ELF plan was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId {
    pub dev: (u32, u32),
    pub inode: u64,
}

impl std::fmt::Display for FileId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02x}:{:02x} {}", self.dev.0, self.dev.1, self.inode)
    }
}

/// Splits a `st_dev` into (major, minor) the way glibc's `gnu_dev_major/minor` do.
pub fn split_dev(dev: u64) -> (u32, u32) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major as u32, minor as u32)
}

/// A malformed line: its 1-based number, what is wrong and the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    pub line: usize,
    pub reason: &'static str,
    pub text: String,
}

/// Parses a whole maps file, every name kept once ([`Names`], without a limit).
pub fn parse_maps(bytes: &[u8]) -> Result<Vec<MapEntry>, BadLine> {
    let mut names = Names::new(usize::MAX);
    bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
        .map(|(i, l)| {
            parse_line_in(l, &mut names).map_err(|reason| BadLine {
                line: i + 1,
                reason,
                text: String::from_utf8_lossy(l).into_owned(),
            })
        })
        .collect()
}

/// Parses one maps line (without its newline).
pub fn parse_line(line: &[u8]) -> Result<MapEntry, &'static str> {
    parse_line_in(line, &mut Names::new(usize::MAX))
}

/// Parses one maps line (without its newline), its name kept in `names`; a name past
/// their limit is [`NAMES_FULL`].
pub fn parse_line_in(line: &[u8], names: &mut Names) -> Result<MapEntry, &'static str> {
    let mut rest = line;
    let mut field = |what: &'static str| -> Result<&str, &'static str> {
        let trimmed = trim_start(rest);
        let end = trimmed
            .iter()
            .position(|&b| b == b' ')
            .unwrap_or(trimmed.len());
        let (f, r) = trimmed.split_at(end);
        rest = r;
        if f.is_empty() {
            return Err(what);
        }
        std::str::from_utf8(f).map_err(|_| what)
    };
    let range = field("missing address range")?;
    let perms = field("missing permissions")?;
    let offset = field("missing offset")?;
    let dev = field("missing device")?;
    let inode = field("missing inode")?;
    let (start, end) = range.split_once('-').ok_or("address range without '-'")?;
    let start = u64::from_str_radix(start, 16).map_err(|_| "bad start address")?;
    let end = u64::from_str_radix(end, 16).map_err(|_| "bad end address")?;
    if end < start {
        return Err("end address below start address");
    }
    let perms = Perms::parse(perms).ok_or("bad permissions")?;
    let offset = u64::from_str_radix(offset, 16).map_err(|_| "bad offset")?;
    let (major, minor) = dev.split_once(':').ok_or("device without ':'")?;
    let dev = (
        u32::from_str_radix(major, 16).map_err(|_| "bad device major")?,
        u32::from_str_radix(minor, 16).map_err(|_| "bad device minor")?,
    );
    let inode: u64 = inode.parse().map_err(|_| "bad inode")?;
    let target = names.target(rest, dev, inode, unescape)?;
    Ok(MapEntry {
        start: VirtAddr(start),
        end: VirtAddr(end),
        perms,
        offset,
        dev,
        inode,
        target,
    })
}

/// The reason [`Names`] gives when a name would take them past their limit.
pub const NAMES_FULL: &str = "the names of the mappings exceed the limit of bytes kept";

/// The names of one process's mappings, each kept once: a file's path once per (device,
/// inode) and name (the key holds the name's bytes, so two names of one file, hard links
/// or a memfd's, stay apart), shared by every mapping that gives it. Their bytes are
/// counted, bracketed names too, against a limit: another user chooses how many files
/// and how long their paths are, not how much memory reading them costs.
pub struct Names {
    /// By a hash of (device, inode, bytes); the names with that hash.
    files: HashMap<u64, Vec<Arc<Path>>>,
    hasher: RandomState,
    bytes: usize,
    limit: usize,
}

impl Names {
    /// Names of at most `limit` bytes in all.
    pub fn new(limit: usize) -> Names {
        Names {
            files: HashMap::new(),
            hasher: RandomState::new(),
            bytes: 0,
            limit,
        }
    }

    /// The bytes of the names kept.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    fn charge(&mut self, n: usize) -> Result<(), &'static str> {
        match self.bytes.checked_add(n) {
            Some(total) if total <= self.limit => {
                self.bytes = total;
                Ok(())
            }
            _ => Err(NAMES_FULL),
        }
    }

    /// What a mapping of (`dev`, `inode`) with this name maps. The name is the kernel's
    /// `get_vma_name` (fs/proc/task_mmu.c): a file's path (`d_path`, with ` (deleted)`
    /// when unlinked), or a bracketed pseudo-name for memory without a file; nothing for
    /// anonymous memory. The text escapes a newline in a path as `\012` ([`parse_line`]
    /// undoes it with `decode`); the PROCMAP_QUERY ioctl gives the bytes as they are
    /// ([`Names::raw_target`]). Both are classified here, the same way.
    fn target(
        &mut self,
        name: &[u8],
        dev: (u32, u32),
        inode: u64,
        decode: fn(&[u8]) -> Cow<'_, [u8]>,
    ) -> Result<MapTarget, &'static str> {
        let name = trim_start(name);
        if name.is_empty() {
            return Ok(MapTarget::Anonymous);
        }
        if name.starts_with(b"[") && name.ends_with(b"]") && inode == 0 {
            self.charge(name.len())?;
            return Ok(MapTarget::Pseudo(
                String::from_utf8_lossy(name).into_owned(),
            ));
        }
        let (path, deleted) = match name.strip_suffix(b" (deleted)") {
            Some(p) => (p, true),
            None => (name, false),
        };
        let path = decode(path);
        let key = self.hasher.hash_one((dev, inode, &*path));
        let same = self.files.get(&key).and_then(|v| {
            v.iter()
                .find(|p| p.as_os_str().as_bytes() == &*path)
                .cloned()
        });
        let path = match same {
            Some(p) => p,
            None => {
                self.charge(path.len())?;
                let p: Arc<Path> = Arc::from(Path::new(OsStr::from_bytes(&path)));
                self.files.entry(key).or_default().push(p.clone());
                p
            }
        };
        Ok(MapTarget::File { path, deleted })
    }

    /// What a mapping maps, from its name as the PROCMAP_QUERY ioctl returns it: raw
    /// bytes, without the terminating NUL, nothing escaped. The same rules as a maps
    /// line's name.
    pub fn raw_target(
        &mut self,
        name: &[u8],
        dev: (u32, u32),
        inode: u64,
    ) -> Result<MapTarget, &'static str> {
        self.target(name, dev, inode, |n| Cow::Borrowed(n))
    }
}

/// What a mapping maps, from its name as the PROCMAP_QUERY ioctl returns it (see
/// [`Names::raw_target`]), the name kept for this mapping alone.
pub fn raw_target(name: &[u8], inode: u64) -> MapTarget {
    Names::new(usize::MAX)
        .raw_target(name, (0, 0), inode)
        .unwrap_or(MapTarget::Anonymous)
}

fn trim_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|&&c| c == b' ' || c == b'\t').count();
    &b[n..]
}

/// Undoes the kernel's `\ooo` octal escapes (`mangle_path`). The kernel writes bytes, so
/// an escape is at most `\377`; a literal `\777` in a path stays as it is (found by
/// fuzzing: it overflowed the byte).
fn unescape(p: &[u8]) -> Cow<'_, [u8]> {
    if !p.contains(&b'\\') {
        return Cow::Borrowed(p);
    }
    let mut out = Vec::with_capacity(p.len());
    let mut i = 0;
    while i < p.len() {
        let octal = p.get(i + 1..i + 4).is_some_and(|d| {
            (b'0'..=b'3').contains(&d[0]) && d[1..].iter().all(|c| (b'0'..=b'7').contains(c))
        });
        if p[i] == b'\\' && octal {
            let v = (p[i + 1] - b'0') * 64 + (p[i + 2] - b'0') * 8 + (p[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(p[i]);
            i += 1;
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
7fd00c119000-7fd00c13f000 r--p 00000000 fe:00 326279                     /usr/lib/x86_64-linux-gnu/libc.so.6
7fd00c13f000-7fd00c295000 r-xp 00026000 fe:00 326279                     /usr/lib/x86_64-linux-gnu/libc.so.6
7fd00c2ee000-7fd00c2fb000 rw-p 00000000 00:00 0 
7f0000001000-7f0000002000 rw-s 00000000 00:1a 77                         /dev/shm/solib-u0-v1 (deleted)
7f0000003000-7f0000004000 r-xp 00001000 fe:00 12                         /tmp/a dir/lib x.so
7f0000005000-7f0000006000 r-xp 00001000 fe:00 13                         /tmp/new\\012line.so
7ffd1000-7ffd3000 r-xp 00000000 00:00 0                          [vdso]
";

    #[test]
    fn parses_real_shapes() {
        let m = parse_maps(SAMPLE.as_bytes()).expect("parse");
        assert_eq!(m.len(), 7);
        assert_eq!(m[0].start, VirtAddr(0x7fd00c119000));
        assert_eq!(m[1].offset, 0x26000);
        assert!(m[1].perms.exec && !m[1].perms.shared);
        assert_eq!(m[0].dev, (0xfe, 0));
        assert_eq!(m[2].target, MapTarget::Anonymous);
        assert_eq!(
            m[3].target,
            MapTarget::File {
                path: Path::new("/dev/shm/solib-u0-v1").into(),
                deleted: true
            }
        );
        assert!(m[3].perms.shared);
        assert_eq!(m[4].path(), Some(Path::new("/tmp/a dir/lib x.so")));
        assert_eq!(m[5].path(), Some(Path::new("/tmp/new\nline.so")));
        assert!(m[6].is_pseudo("[vdso]"));
        assert_eq!(m[1].file_id(), m[0].file_id());
        assert_eq!(m[6].file_id(), None);
    }

    #[test]
    fn malformed_lines_are_named() {
        let cases: &[(&str, &str)] = &[
            ("", "missing address range"),
            ("7f00-7f10", "missing permissions"),
            ("7f00 r--p 0 fe:00 1", "address range without '-'"),
            ("zz-7f10 r--p 0 fe:00 1", "bad start address"),
            (
                "7f10-7f00 r--p 0 fe:00 1",
                "end address below start address",
            ),
            ("7f00-7f10 rq-p 0 fe:00 1", "bad permissions"),
            ("7f00-7f10 r--x 0 fe:00 1", "bad permissions"),
            ("7f00-7f10 r--p 0g fe:00 1", "bad offset"),
            ("7f00-7f10 r--p 0 fe00 1", "device without ':'"),
            ("7f00-7f10 r--p 0 fe:00 x1", "bad inode"),
            ("7f00-7f10 r--p 0 fe:00", "missing inode"),
        ];
        for (line, reason) in cases {
            assert_eq!(parse_line(line.as_bytes()).err(), Some(*reason), "{line:?}");
        }
        let e = parse_maps(b"7f00-7f10 r--p 0 fe:00 1\nbroken\n").expect_err("bad");
        assert_eq!(e.line, 2);
        assert_eq!(e.text, "broken");
    }

    #[test]
    fn escapes_beyond_a_byte_are_literal() {
        assert_eq!(&*unescape(b"/a\\777b"), b"/a\\777b");
        assert_eq!(&*unescape(b"/a\\400"), b"/a\\400");
        assert_eq!(&*unescape(b"/a\\377\\000\\012"), b"/a\xff\x00\n");
        assert_eq!(&*unescape(b"/a\\01"), b"/a\\01");
    }

    #[test]
    fn raw_names_follow_the_text_rules() {
        let file = |p: &str, deleted| MapTarget::File {
            path: Path::new(p).into(),
            deleted,
        };
        assert_eq!(raw_target(b"", 0), MapTarget::Anonymous);
        assert_eq!(raw_target(b"[heap]", 0), MapTarget::Pseudo("[heap]".into()));
        assert_eq!(
            raw_target(b"[anon:a b]", 0),
            MapTarget::Pseudo("[anon:a b]".into())
        );
        // A file named in brackets has an inode.
        assert_eq!(
            raw_target(b"[anon_shmem:x]", 7),
            file("[anon_shmem:x]", false)
        );
        assert_eq!(
            raw_target(b"/dev/zero (deleted)", 4),
            file("/dev/zero", true)
        );
        // Nothing is unescaped: the bytes are the name.
        assert_eq!(raw_target(b"/a\\012b", 3), file("/a\\012b", false));
        assert_eq!(raw_target(b"/new\nline", 3), file("/new\nline", false));
        // The same entry as the text line gives.
        let line = parse_line(b"7f00-7f10 r--p 0 fe:00 13   /tmp/new\\012line.so (deleted)")
            .expect("line");
        assert_eq!(raw_target(b"/tmp/new\nline.so (deleted)", 13), line.target);
    }

    #[test]
    fn names_are_kept_once_and_counted() {
        let mut names = Names::new(40);
        let path = |t: &MapTarget| match t {
            MapTarget::File { path, .. } => path.clone(),
            other => panic!("{other:?}"),
        };
        let a = names.raw_target(b"/a/file", (8, 1), 7).expect("room");
        let b = names
            .raw_target(b"/a/file (deleted)", (8, 1), 7)
            .expect("room");
        assert!(Arc::ptr_eq(&path(&a), &path(&b)), "one copy of the name");
        assert_eq!(names.bytes(), 7);
        // Another name of the same file (a hard link), and the same name of another
        // file, are names of their own.
        let c = names.raw_target(b"/a/link", (8, 1), 7).expect("room");
        let d = names.raw_target(b"/a/file", (8, 1), 8).expect("room");
        assert!(!Arc::ptr_eq(&path(&a), &path(&c)));
        assert!(!Arc::ptr_eq(&path(&a), &path(&d)));
        assert_eq!(names.bytes(), 21);
        assert_eq!(
            names.raw_target(b"[anon:x]", (0, 0), 0),
            Ok(MapTarget::Pseudo("[anon:x]".into()))
        );
        assert_eq!(names.bytes(), 29);
        // Past the limit: refused, nothing kept.
        assert_eq!(
            names.raw_target(b"/a/longer-name", (8, 1), 9),
            Err(NAMES_FULL)
        );
        assert_eq!(names.bytes(), 29);
        // A name already kept costs nothing more.
        assert!(names.raw_target(b"/a/file", (8, 1), 8).is_ok());
        let line = b"7f00-7f10 r--p 0 08:01 9 /a/longer-name";
        assert_eq!(parse_line_in(line, &mut names).err(), Some(NAMES_FULL));
    }

    #[test]
    fn dev_split_matches_glibc() {
        assert_eq!(split_dev(0xfe00), (0xfe, 0));
        assert_eq!(split_dev(0x0803), (8, 3));
        assert_eq!(
            split_dev((0x123 << 8) | (0x4500 << 12) | 0x67),
            (0x123, 0x4567)
        );
    }
}
