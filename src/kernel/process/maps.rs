//! /proc/PID/maps (proc(5); fs/proc/task_mmu.c `show_map_vma`), read through the
//! PROCMAP_QUERY ioctl where the kernel has it, else as text parsed by [`crate::maps`].
//! Access: PTRACE_MODE_READ of the process, checked when the file is opened.

use super::maps_budget::Lease;
use super::{ProcDir, error, proc_path};
use crate::error::{Error, Result};
use crate::maps::{self, MapEntry, MapTarget, split_dev};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

impl ProcDir {
    /// Reads the process's memory map: through the PROCMAP_QUERY ioctl where the kernel
    /// has it, else its text (both give the same entries: [`ProcDir::read_maps_from`]).
    /// An empty map is a kernel thread or a process that has exited;
    /// [`Error::KernelThread`] and [`Error::NoSuchProcess`] tell which.
    pub fn read_maps(&self) -> Result<Vec<MapEntry>> {
        let how = if text_forced() {
            MapsSource::Text
        } else {
            MapsSource::Auto
        };
        self.read_maps_from(how).map(|m| m.unwrap_or_default())
    }

    /// Reads /proc/PID/maps the way `how` says; `Ok(None)` only for [`MapsSource::Query`]
    /// when the ioctl cannot give the map (a kernel without it, a name longer than
    /// `PATH_MAX`). [`MapsSource::Auto`] reads a mapping whose name is longer than
    /// `PATH_MAX` through the ioctl too, without its name, and takes that one name from the
    /// text ([`LONG_NAME`] where the text no longer shows it): the rest of the process is
    /// the ioctl's. Each name is kept once ([`maps::Names`]), at most [`MAX_NAME_BYTES`] of
    /// them and at most [`max_maps`] mappings: past either the process is an error
    /// naming it and the limit, never a map cut short.
    ///
    /// The ioctl and the text give the same entries: the same fields, and names classified
    /// by the same rules ([`maps::raw_target`]), with two differences:
    /// - a path holding a backslash and three octal digits (a literal `\012`) reads, in the
    ///   text, like an escaped byte, and comes out as that byte; the ioctl gives the real
    ///   name;
    /// - the ioctl reader asks a mapping's name only where it does not continue the mapping
    ///   before it (the same device and inode from where that one ends, after a name that
    ///   is a path): the name costs the kernel a `d_path`, a tenth of `solab libs --all`,
    ///   and the segments of an ELF object are such pieces of one file mapped once. One
    ///   file mapped through two of its names side by side (hard links, two mounts of it)
    ///   gives the continuing piece the first piece's name where the text gives each its
    ///   own. The (device, inode) identity, which every command keys files by, is the
    ///   same.
    pub fn read_maps_from(&self, how: MapsSource) -> Result<Option<Vec<MapEntry>>> {
        let file = self.open_file(c"maps")?;
        let path = self.path(c"maps");
        maps_of(self.pid, &path, file, how, || self.refuse_kernel_thread())
    }
}

/// The most bytes of /proc/PID/maps text read: a million mappings with names of a
/// kilobyte. The text is read a line at a time, so this bounds time, not memory; a map
/// longer than this is an error naming the process and the limit, never a map cut short.
const MAX_MAPS_BYTES: u64 = 1 << 30;

/// The most mappings read, through either reader (vm.max_map_count is 65,530 by default).
/// A process with more is an error naming it and the limit ([`max_maps`]).
const MAX_MAPS: usize = 1 << 20;

/// The most bytes of names kept for one process's mappings ([`maps::Names`]: each file's
/// name once). Another user decides how many files a process maps and how long their
/// paths are; past this the process is an error naming it and the limit.
pub const MAX_NAME_BYTES: usize = 64 << 20;

/// The longest line of the text whose name is read: a path of 64 KiB is far past
/// `PATH_MAX`. A longer line is a name not read ([`LONG_NAME`]) where the ioctl gave the
/// rest of the mapping, and an error naming the process where the text is read whole.
const MAX_LINE: usize = 64 << 10;

/// The name given to a mapping whose name neither the ioctl (longer than `PATH_MAX`) nor
/// the text (the mapping gone, or its line longer than [`MAX_LINE`]) could give: its
/// device, inode, range and permissions are the kernel's, only the path is this label.
pub const LONG_NAME: &str = "[name longer than PATH_MAX, not read]";

/// The most mappings read from one process: twice vm.max_map_count (a process has at
/// most that many at once; one that keeps mapping above what the reader has reached and
/// unmapping below it would otherwise be read for ever), at least 131,072, at most
/// [`MAX_MAPS`].
pub fn max_maps() -> usize {
    static MAX: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *MAX.get_or_init(|| {
        let sysctl = std::fs::read_to_string("/proc/sys/vm/max_map_count")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .unwrap_or(MAX_MAPS);
        sysctl.saturating_mul(2).clamp(1 << 17, MAX_MAPS)
    })
}

/// A limit of solab reached while reading the map of `pid`: an error naming the process
/// (by its maps file) and the limit.
fn limit(path: &Path, what: String) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(format!("{what}: a limit of solab; the process is not read")),
    }
}

/// The error of a mapping count past [`max_maps`].
fn too_many(path: &Path) -> Error {
    limit(
        path,
        format!(
            "more than {} mappings (twice vm.max_map_count, at most {MAX_MAPS}; a map that \
             moves while it is read grows without end)",
            max_maps()
        ),
    )
}

/// Every this many mappings a reader looks at the scan's deadline
/// ([`crate::kernel::deadline`]).
const DEADLINE_EVERY: usize = 4096;

/// The error of a map still being read, at `read` mappings, when the scan's deadline
/// passed: the process is not read, whatever its size (none without a deadline).
fn late(path: &Path, read: usize) -> Result<()> {
    if read % DEADLINE_EVERY != 0 || !crate::kernel::deadline::passed() {
        return Ok(());
    }
    Err(limit(
        path,
        format!("the scan's deadline passed after {read} of its mappings"),
    ))
}

/// The error of names past [`MAX_NAME_BYTES`].
fn names_full(path: &Path) -> Error {
    limit(
        path,
        format!(
            "the names of its mappings hold more than {} MiB",
            MAX_NAME_BYTES >> 20
        ),
    )
}

/// How [`ProcDir::read_maps_from`] reads a memory map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapsSource {
    /// The PROCMAP_QUERY ioctl where the kernel has it (6.11+, x86-64), else the text.
    Auto,
    /// The text the kernel formats, parsed by [`crate::maps`].
    Text,
    /// Only the ioctl: `Ok(None)` from [`ProcDir::read_maps_from`] when it cannot give the map.
    Query,
}

/// The environment variable that makes [`ProcDir::read_maps`] read the text even where the ioctl
/// works: `SOLAB_MAPS=text`. For comparing the two, and for a kernel whose ioctl
/// misbehaves.
pub const MAPS_ENV: &str = "SOLAB_MAPS";

fn text_forced() -> bool {
    static FORCED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FORCED.get_or_init(|| std::env::var_os(MAPS_ENV).is_some_and(|v| v == "text"))
}

/// The entries of the open maps `file` of `pid`, read the way `how` says;
/// `refuse_kernel_thread` tells a kernel thread from an exited process when the map is
/// empty.
fn maps_of(
    pid: i32,
    path: &Path,
    file: std::fs::File,
    how: MapsSource,
    refuse_kernel_thread: impl FnOnce() -> Result<()>,
) -> Result<Option<Vec<MapEntry>>> {
    let mut names = maps::Names::new(MAX_NAME_BYTES);
    // The names are also held against the run's budget, shared by its workers.
    let mut lease = Lease::new();
    let queried = match how {
        MapsSource::Text => None,
        MapsSource::Auto | MapsSource::Query => {
            query::read(pid, path, &file, &mut names, &mut lease)?
        }
    };
    let mut entries = match (queried, how) {
        (Some((entries, long)), MapsSource::Auto) if !long.is_empty() => {
            let mut entries = entries;
            names_from_text(
                pid,
                path,
                &file,
                &mut entries,
                &long,
                &mut names,
                &mut lease,
            )?;
            entries
        }
        // Only the ioctl: a name it cannot give makes the map one it cannot give.
        (Some((_, long)), MapsSource::Query) if !long.is_empty() => return Ok(None),
        (Some((entries, _)), _) => entries,
        (None, MapsSource::Query) => return Ok(None),
        (None, _) => read_text(pid, path, file, &mut names, &mut lease)?,
    };
    for e in &mut entries {
        undo_literal_deleted_suffix(e);
    }
    if entries.is_empty() {
        // A kernel thread has no memory map, but so has a process that exited: a zombie
        // waiting to be reaped, or one gone between open and read. Only PF_KTHREAD tells.
        return Err(match refuse_kernel_thread() {
            Err(e @ Error::KernelThread { .. }) => e,
            _ => Error::NoSuchProcess { pid },
        });
    }
    Ok(Some(entries))
}

/// One line of the text, without its newline.
enum TextLine<'a> {
    Whole(&'a [u8]),
    /// The first [`MAX_LINE`] bytes of a longer line.
    Cut(&'a [u8]),
}

/// Reads the text of the maps file `file` a line at a time through a buffer, giving each
/// to `each` until it returns `false`: memory for one line of at most [`MAX_LINE`] bytes,
/// whatever the map holds. `Ok(false)` when it stopped at `max_bytes`, the line that
/// crossed them not given.
fn each_line(
    pid: i32,
    path: &Path,
    file: impl std::io::Read,
    max_bytes: u64,
    mut each: impl FnMut(TextLine) -> Result<bool>,
) -> Result<bool> {
    use std::io::{BufRead, Read};
    let mut r = std::io::BufReader::with_capacity(1 << 16, file);
    let mut line = Vec::new();
    let mut total = 0u64;
    loop {
        line.clear();
        let n = (&mut r)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| error(pid, path, e))?;
        if n == 0 {
            return Ok(true);
        }
        total += n as u64;
        let cut = line.last() != Some(&b'\n') && n > MAX_LINE;
        if cut {
            total += r.skip_until(b'\n').map_err(|e| error(pid, path, e))? as u64;
            line.truncate(MAX_LINE);
        } else if line.last() == Some(&b'\n') {
            line.pop();
        }
        if total > max_bytes {
            return Ok(false);
        }
        let go_on = if cut {
            each(TextLine::Cut(&line))?
        } else {
            each(TextLine::Whole(&line))?
        };
        if !go_on {
            return Ok(true);
        }
    }
}

/// The text of /proc/PID/maps, parsed a line at a time, the names kept in `names`.
fn read_text(
    pid: i32,
    path: &Path,
    file: std::fs::File,
    names: &mut maps::Names,
    lease: &mut Lease,
) -> Result<Vec<MapEntry>> {
    let mut entries = Vec::new();
    let mut number = 0;
    let whole = each_line(pid, path, file, MAX_MAPS_BYTES, |line| {
        number += 1;
        let text = match line {
            TextLine::Cut(head) => {
                return Err(Error::MapsLine {
                    path: path.to_path_buf(),
                    line: number,
                    reason: "line longer than 64 KiB (a limit of solab)",
                    text: String::from_utf8_lossy(&head[..head.len().min(256)]).into_owned(),
                });
            }
            TextLine::Whole([]) => return Ok(true),
            TextLine::Whole(text) => text,
        };
        if entries.len() == max_maps() {
            return Err(too_many(path));
        }
        late(path, entries.len())?;
        let parsed = maps::parse_line_in(text, names);
        lease.cover(names.bytes());
        match parsed {
            Ok(e) => entries.push(e),
            Err(maps::NAMES_FULL) => return Err(names_full(path)),
            Err(reason) => {
                return Err(Error::MapsLine {
                    path: path.to_path_buf(),
                    line: number,
                    reason,
                    text: String::from_utf8_lossy(text).into_owned(),
                });
            }
        }
        Ok(true)
    })?;
    if !whole {
        return Err(limit(
            path,
            format!("more than {} MiB of text", MAX_MAPS_BYTES >> 20),
        ));
    }
    Ok(entries)
}

/// Gives the mappings at `long` (indices into `entries`, in address order), whose names
/// the ioctl could not give, their names from the text of the same maps `file`: only
/// those lines are parsed, the rest only read. A mapping the text no longer shows the
/// same (the process moved it), or whose line is longer than [`MAX_LINE`], keeps
/// [`LONG_NAME`].
fn names_from_text(
    pid: i32,
    path: &Path,
    file: &std::fs::File,
    entries: &mut [MapEntry],
    long: &[usize],
    names: &mut maps::Names,
    lease: &mut Lease,
) -> Result<()> {
    let wanted: std::collections::HashMap<u64, usize> =
        long.iter().map(|&i| (entries[i].start.0, i)).collect();
    let mut left = wanted.len();
    // Past MAX_MAPS_BYTES the names not reached keep the label. The file was never read:
    // at position 0, where the text starts.
    let mut lines = 0;
    each_line(pid, path, file, MAX_MAPS_BYTES, |line| {
        lines += 1;
        late(path, lines)?;
        let TextLine::Whole(text) = line else {
            return Ok(true);
        };
        let start = text
            .iter()
            .position(|&b| b == b'-')
            .and_then(|n| std::str::from_utf8(&text[..n]).ok())
            .and_then(|h| u64::from_str_radix(h, 16).ok());
        let Some(&i) = start.and_then(|s| wanted.get(&s)) else {
            return Ok(true);
        };
        let parsed = maps::parse_line_in(text, names);
        lease.cover(names.bytes());
        match parsed {
            Ok(e)
                if e.end == entries[i].end
                    && e.dev == entries[i].dev
                    && e.inode == entries[i].inode =>
            {
                entries[i].target = e.target;
                left -= 1;
            }
            Ok(_) => {}
            Err(maps::NAMES_FULL) => return Err(names_full(path)),
            // A line the ioctl's mapping does not match keeps the label.
            Err(_) => {}
        }
        Ok(left > 0)
    })
    .map(drop)
}

/// The PROCMAP_QUERY ioctl on an open /proc/PID/maps (include/uapi/linux/fs.h and
/// fs/proc/task_mmu.c `do_procmap_query`, Linux 6.11): one mapping per call, as a binary
/// struct, the kernel formatting nothing. Access is the file's: whoever could open it
/// (PTRACE_MODE_READ at open) may ask.
mod query {
    use super::{
        Error, LONG_NAME, Lease, MapEntry, Path, Result, error, late, max_maps, names_full,
        too_many,
    };
    use crate::addr::VirtAddr;
    use crate::maps::{self, Perms};
    use std::os::fd::AsRawFd;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// `struct procmap_query`, 104 bytes.
    #[repr(C)]
    #[derive(Default)]
    struct ProcmapQuery {
        size: u64,
        query_flags: u64,
        query_addr: u64,
        vma_start: u64,
        vma_end: u64,
        vma_flags: u64,
        vma_page_size: u64,
        vma_offset: u64,
        inode: u64,
        dev_major: u32,
        dev_minor: u32,
        vma_name_size: u32,
        build_id_size: u32,
        vma_name_addr: u64,
        build_id_addr: u64,
    }
    const _: () = assert!(std::mem::size_of::<ProcmapQuery>() == 104);

    /// `_IOWR(PROCFS_IOCTL_MAGIC = 'f', 17, struct procmap_query)`.
    const PROCMAP_QUERY: u64 =
        (3 << 30) | ((std::mem::size_of::<ProcmapQuery>() as u64) << 16) | (0x66 << 8) | 17;
    const VMA_READABLE: u64 = 0x01;
    const VMA_WRITABLE: u64 = 0x02;
    const VMA_EXECUTABLE: u64 = 0x04;
    /// `VM_MAYSHARE`, what the text prints as `s`.
    const VMA_SHARED: u64 = 0x08;
    /// The mapping covering `query_addr`, or the next one above it.
    const COVERING_OR_NEXT_VMA: u64 = 0x10;
    /// The name buffer: `PATH_MAX`, the most the kernel writes (it caps the buffer there
    /// and fails with ENAMETOOLONG beyond).
    const NAME_BYTES: usize = 4096;

    /// Set once a kernel answered ENOTTY or EINVAL: every later read takes the text.
    static UNSUPPORTED: AtomicBool = AtomicBool::new(false);

    /// Every mapping of the open maps `file`, in address order, their names kept in
    /// `names`, and the indices of those whose names the ioctl could not give (longer than
    /// `PATH_MAX`: [`LONG_NAME`] for now); `None` where the ioctl cannot give the map (the
    /// text then reads the same file).
    pub(super) fn read(
        pid: i32,
        path: &Path,
        file: &std::fs::File,
        names: &mut maps::Names,
        lease: &mut Lease,
    ) -> Result<Option<(Vec<MapEntry>, Vec<usize>)>> {
        if !cfg!(target_arch = "x86_64") || UNSUPPORTED.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let mut name = [0u8; NAME_BYTES];
        // Most processes have fewer mappings: one allocation instead of a doubling series.
        let mut entries: Vec<MapEntry> = Vec::with_capacity(64);
        let mut long: Vec<usize> = Vec::new();
        let mut addr = 0u64;
        // Whether the last entry's name may serve the next one (see `reusable`), and
        // whether the next one is asked without its name, expected to continue the last.
        let (mut reuse, mut predict) = (false, false);
        loop {
            // After a file mapping, the next one is most often the same file's next part:
            // asked without its name first, and asked again with it if it is not.
            let mut asked = ask(file, addr, (!predict).then_some(&mut name[..]));
            let reused = match (&asked, entries.last()) {
                (Ok(q), Some(last)) => predict && continues(last, q),
                _ => false,
            };
            if predict && !reused && asked.is_ok() {
                asked = ask(file, addr, Some(&mut name[..]));
            }
            let mut unnamed = false;
            let q = match asked {
                Ok(q) => q,
                Err(e) => match e.raw_os_error() {
                    // No mapping at or above `addr`: the end of the map.
                    Some(libc::ENOENT) => break,
                    Some(libc::ENOTTY | libc::EINVAL) if entries.is_empty() => {
                        UNSUPPORTED.store(true, Ordering::Relaxed);
                        return Ok(None);
                    }
                    // A name longer than PATH_MAX: this mapping is asked again without
                    // it, its name left to the text (`names_from_text`).
                    Some(libc::ENAMETOOLONG | libc::E2BIG) => match ask(file, addr, None) {
                        Ok(q) => {
                            unnamed = true;
                            q
                        }
                        Err(_) => return Ok(None),
                    },
                    // No address space (a kernel thread, a zombie, an exited process):
                    // the empty map the text shows.
                    Some(libc::ESRCH) if entries.is_empty() => break,
                    _ => return Err(error(pid, path, e)),
                },
            };
            // The kernel returns a mapping ending above `addr`; anything else would loop.
            if q.vma_end <= addr || q.vma_start >= q.vma_end {
                return Err(Error::Io {
                    path: path.to_path_buf(),
                    source: std::io::Error::other(format!(
                        "PROCMAP_QUERY at {addr:#x} returned {:#x}-{:#x}",
                        q.vma_start, q.vma_end
                    )),
                });
            }
            if entries.len() == max_maps() {
                return Err(too_many(path));
            }
            late(path, entries.len())?;
            let dev = (q.dev_major, q.dev_minor);
            let target = match entries.last() {
                Some(last) if reused => last.target.clone(),
                _ if unnamed => {
                    reuse = false;
                    long.push(entries.len());
                    names
                        .raw_target(LONG_NAME.as_bytes(), dev, q.inode)
                        .map_err(|_| names_full(path))?
                }
                _ => {
                    // The size counts the terminating NUL; 0 means no name.
                    let len = (q.vma_name_size as usize).min(NAME_BYTES).saturating_sub(1);
                    reuse = reusable(&name[..len], q.inode);
                    names
                        .raw_target(&name[..len], dev, q.inode)
                        .map_err(|_| names_full(path))?
                }
            };
            lease.cover(names.bytes());
            entries.push(MapEntry {
                start: VirtAddr(q.vma_start),
                end: VirtAddr(q.vma_end),
                perms: Perms {
                    read: q.vma_flags & VMA_READABLE != 0,
                    write: q.vma_flags & VMA_WRITABLE != 0,
                    exec: q.vma_flags & VMA_EXECUTABLE != 0,
                    shared: q.vma_flags & VMA_SHARED != 0,
                },
                offset: q.vma_offset,
                dev,
                inode: q.inode,
                target,
            });
            addr = q.vma_end;
            // An ELF object's last piece is its writable data: what follows it (its .bss,
            // another object) is not the same file, and asking it without its name would
            // only ask twice. The same after shared memory.
            predict = reuse && q.vma_flags & (VMA_WRITABLE | VMA_SHARED) == 0;
        }
        if let (Some(gate), Some(last)) = (gate(), entries.last()) {
            // A 64-bit address space (its stack lies above 4 GiB) has the gate area.
            if last.end.0 > 1 << 32 {
                entries.push(gate.clone());
            }
        }
        Ok(Some((entries, long)))
    }

    /// One PROCMAP_QUERY: the mapping covering `addr` or the next one above it, with its
    /// name in `name` when given (the kernel writes at most its length).
    fn ask(
        file: &std::fs::File,
        addr: u64,
        name: Option<&mut [u8]>,
    ) -> std::io::Result<ProcmapQuery> {
        let mut q = ProcmapQuery {
            size: std::mem::size_of::<ProcmapQuery>() as u64,
            query_flags: COVERING_OR_NEXT_VMA,
            query_addr: addr,
            ..ProcmapQuery::default()
        };
        if let Some(name) = name {
            q.vma_name_size = name.len().min(NAME_BYTES) as u32;
            q.vma_name_addr = name.as_mut_ptr() as u64;
        }
        // SAFETY: `q` is a valid procmap_query whose name buffer, when given, holds
        // `vma_name_size` bytes and lives across the call; the kernel writes no more.
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), PROCMAP_QUERY as _, &mut q) };
        if rc < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(q)
    }

    /// Whether the name of a mapping of `inode` may serve the next mapping too when that
    /// one continues it ([`continues`]): a file's path, which the kernel makes from the
    /// mapping's file (`d_path`, the costliest part of a query: a tenth of `solab libs`).
    /// Not a name the file system makes up (`anon_inode:[perf_event]`), where one inode
    /// has many names.
    fn reusable(name: &[u8], inode: u64) -> bool {
        inode != 0 && name.first() == Some(&b'/')
    }

    /// Whether `q` (asked without its name) starts where `last` ends and maps the same
    /// file: the next part of one file mapped in one piece (an ELF object's segments) has
    /// the same name. Two pieces of one file mapped through two of its names (hard links,
    /// two mounts of one file system) side by side would give both the first name: the
    /// one place the ioctl reader and the text differ there (see [`super::ProcDir::read_maps_from`]).
    fn continues(last: &MapEntry, q: &ProcmapQuery) -> bool {
        last.end.0 == q.vma_start && last.dev == (q.dev_major, q.dev_minor) && last.inode == q.inode
    }

    /// The gate area, `[vsyscall]` on x86-64: the text prints it after the last mapping
    /// (fs/proc/task_mmu.c `proc_get_vma` ends with `get_gate_vma`), but it is not in the
    /// process's tree of mappings and the ioctl never returns it. One fixed page in the
    /// kernel's half of the address space, the same in every 64-bit process (none in a
    /// 32-bit one, none with vsyscall=none): read once from solab's own text map.
    fn gate() -> Option<&'static MapEntry> {
        static GATE: std::sync::OnceLock<Option<MapEntry>> = std::sync::OnceLock::new();
        GATE.get_or_init(|| {
            let own = std::process::id() as i32;
            let path = super::proc_path(own, "maps");
            let file = std::fs::File::open(&path).ok()?;
            let mut names = crate::maps::Names::new(super::MAX_NAME_BYTES);
            let text = super::read_text(own, &path, file, &mut names, &mut Lease::none()).ok()?;
            text.into_iter().find(|m| m.start.0 >= 1 << 63)
        })
        .as_ref()
    }
}

/// A file really named `x (deleted)` prints exactly like a deleted file `x`: when a file
/// of the mapping's (device, inode) is at the literal name, the name is that and the file
/// is not deleted. Checked with `lstat`: nothing at that path is opened or followed.
fn undo_literal_deleted_suffix(entry: &mut MapEntry) {
    let (
        Some(id),
        MapTarget::File {
            path,
            deleted: true,
        },
    ) = (entry.file_id(), &entry.target)
    else {
        return;
    };
    let mut literal = path.as_os_str().to_os_string();
    literal.push(" (deleted)");
    let same = std::fs::symlink_metadata(&literal).is_ok_and(|m| {
        m.file_type().is_file() && m.ino() == id.inode && split_dev(m.dev()) == id.dev
    });
    if same {
        entry.target = MapTarget::File {
            path: Path::new(&literal).into(),
            deleted: false,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &[u8], max_bytes: u64) -> (Vec<String>, bool) {
        let mut got = Vec::new();
        let whole = each_line(1, Path::new("/proc/1/maps"), text, max_bytes, |l| {
            got.push(match l {
                TextLine::Whole(t) => format!("whole {}", String::from_utf8_lossy(t)),
                TextLine::Cut(t) => format!("cut {}", t.len()),
            });
            Ok(true)
        })
        .expect("no read error");
        (got, whole)
    }

    #[test]
    fn text_is_read_a_line_at_a_time_and_never_cut_silently() {
        assert_eq!(
            lines(b"a\nbb\nccc", 100),
            (
                vec!["whole a".into(), "whole bb".into(), "whole ccc".into()],
                true
            )
        );
        // Past the limit: the lines before it, and `false`, never a line cut short.
        assert_eq!(
            lines(b"a\nbb\nccc\n", 6),
            (vec!["whole a".into(), "whole bb".into()], false)
        );
        // A line longer than MAX_LINE: its head, flagged, and the next line whole.
        let mut long = vec![b'x'; MAX_LINE + 10];
        long.extend_from_slice(b"\nnext\n");
        assert_eq!(
            lines(&long, u64::MAX),
            (vec![format!("cut {MAX_LINE}"), "whole next".into()], true)
        );
        let exactly = [vec![b'y'; MAX_LINE], b"\n".to_vec()].concat();
        assert_eq!(lines(&exactly, u64::MAX).0.len(), 1);
        assert!(lines(&exactly, u64::MAX).0[0].starts_with("whole y"));
    }

    #[test]
    fn limits_name_the_process() {
        let path = Path::new("/proc/42/maps");
        for e in [too_many(path), names_full(path)] {
            let text = e.to_string();
            assert!(text.starts_with("/proc/42/maps: "), "{text}");
            assert!(text.contains("a limit of solab"), "{text}");
        }
        assert!(max_maps() >= 1 << 17 && max_maps() <= MAX_MAPS);
    }
}
