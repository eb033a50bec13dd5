//! Reading /proc and mapped files: the only module of the analyzer that does I/O on them.
//!
//! Files read, with their documentation and the privilege each needs:
//! - /proc/PID/maps (proc(5)): the caller must be allowed to ptrace-read the process
//!   (same uid, or CAP_SYS_PTRACE).
//! - /proc/PID/pagemap (Documentation/admin-guide/mm/pagemap.rst): same access as maps;
//!   PFNs read 0 without CAP_SYS_ADMIN. Read with one `pread` per address range.
//! - /proc/kpagecount, /proc/kpageflags (same document): root with CAP_SYS_ADMIN only.
//!   Read in windows of sorted PFNs.
//! - /proc/PID/smaps (Documentation/filesystems/proc.rst), via `procfs`: per-mapping
//!   Shared/Private counts (by mapcount), the unprivileged fallback.
//! - /proc/PID/map_files/START-END: the mapped file itself when its path was deleted or
//!   replaced; needs CAP_SYS_ADMIN (or CAP_CHECKPOINT_RESTORE).

use crate::addr::{PAGE_SIZE, Pfn, VirtAddr};
use crate::elf;
use crate::error::{Error, Result};
use crate::maps::{self, FileId, MapEntry, MapTarget, split_dev};
use crate::pagemap::{FrameInfo, KpageFlags, PagemapEntry, decode_words, pfn_windows};
use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Fails unless the system's page size is the [`PAGE_SIZE`] the analyzer assumes.
pub fn check_page_size() -> Result<()> {
    let size = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .unwrap_or(0);
    if size as u64 != PAGE_SIZE {
        return Err(Error::Unsupported(format!(
            "page size is {size}, solab works with {PAGE_SIZE}-byte pages"
        )));
    }
    Ok(())
}

/// Whether this process can see page frame numbers and /proc/kpage*.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Privilege {
    pub privileged: bool,
    /// Why not, when not: said once in every output.
    pub note: Option<String>,
}

/// Parses the `CapEff:` line of /proc/self/status and tells whether CAP_SYS_ADMIN (21) is
/// in it.
pub fn cap_sys_admin_in_status(status: &str) -> Option<bool> {
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))?
        .trim();
    let caps = u64::from_str_radix(hex, 16).ok()?;
    Some(caps & (1 << 21) != 0)
}

pub fn detect_privilege() -> Privilege {
    let cap = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| cap_sys_admin_in_status(&s))
        .unwrap_or(false);
    let kpage = File::open("/proc/kpagecount")
        .and_then(|f| f.read_exact_at(&mut [0u8; 8], 0))
        .is_ok()
        && File::open("/proc/kpageflags").is_ok();
    let note = match (cap, kpage) {
        (true, true) => None,
        (false, _) => Some(
            "not privileged: without CAP_SYS_ADMIN the kernel hides page frame numbers and \
             /proc/kpagecount, so frames cannot be compared; verdicts use pagemap bits 56 \
             (exclusive) and 61 (file/shared) and smaps, and are marked weak"
                .to_string(),
        ),
        (true, false) => Some(
            "/proc/kpagecount or /proc/kpageflags is unreadable: mapcounts are unknown and \
             verdicts are marked weak"
                .to_string(),
        ),
    };
    Privilege {
        privileged: cap && kpage,
        note,
    }
}

fn proc_path(pid: i32, file: &str) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/{file}"))
}

/// The short command name of a process, or `?`.
pub fn comm(pid: i32) -> String {
    std::fs::read_to_string(proc_path(pid, "comm"))
        .map(|s| s.trim_end().to_string())
        .unwrap_or_else(|_| "?".into())
}

/// The real uid of a process.
pub fn uid(pid: i32) -> Result<u32> {
    let path = proc_path(pid, "status");
    let status = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, Some(pid), e))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Error::Io {
            path,
            source: std::io::Error::other("no Uid: line"),
        })
}

/// The pids in /proc right now, ascending (processes, not threads).
pub fn list_pids() -> Result<Vec<i32>> {
    let dir = std::fs::read_dir("/proc").map_err(|e| Error::io("/proc", None, e))?;
    let mut pids: Vec<i32> = dir
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|&p: &i32| p > 0)
        .collect();
    pids.sort_unstable();
    Ok(pids)
}

/// Reads and parses /proc/PID/maps. An empty map is a kernel thread.
pub fn read_maps(pid: i32) -> Result<Vec<MapEntry>> {
    if pid <= 0 {
        return Err(Error::NoSuchProcess { pid });
    }
    let path = proc_path(pid, "maps");
    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, Some(pid), e))?;
    let mut entries = maps::parse_maps(&bytes).map_err(|b| Error::MapsLine {
        path: path.clone(),
        line: b.line,
        reason: b.reason,
        text: b.text,
    })?;
    for e in &mut entries {
        undo_literal_deleted_suffix(e);
    }
    if entries.is_empty() {
        // A kernel thread has no memory map, but so has a process that exited: a zombie
        // waiting to be reaped, or one gone between open and read. Only PF_KTHREAD tells.
        let kthread = std::fs::read_to_string(proc_path(pid, "stat"))
            .ok()
            .and_then(|s| stat_kthread(&s))
            .unwrap_or(false);
        if !kthread {
            return Err(Error::NoSuchProcess { pid });
        }
        return Err(Error::KernelThread {
            pid,
            comm: comm(pid),
        });
    }
    Ok(entries)
}

/// Whether `pid` is gone or has no memory map any more while not being a kernel thread.
fn exited(pid: i32) -> bool {
    matches!(read_maps(pid), Err(Error::NoSuchProcess { .. }))
}

/// `PF_KTHREAD` (include/linux/sched.h) in the flags field of /proc/PID/stat.
const PF_KTHREAD: u64 = 0x0020_0000;

/// Whether /proc/PID/stat text (proc(5): `pid (comm) state ppid ... flags`, the 9th field)
/// is a kernel thread's. `comm` may hold spaces and parentheses: fields start after the
/// last `)`.
pub fn stat_kthread(stat: &str) -> Option<bool> {
    let after = &stat[stat.rfind(')')? + 1..];
    let flags: u64 = after.split_whitespace().nth(6)?.parse().ok()?;
    Some(flags & PF_KTHREAD != 0)
}

/// A file really named `x (deleted)` prints exactly like a deleted file `x`: when a file
/// of the mapping's (device, inode) is at the literal name, the name is that and the file
/// is not deleted.
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
    let mut literal = path.clone().into_os_string();
    literal.push(" (deleted)");
    let same = std::fs::metadata(&literal)
        .is_ok_and(|m| m.ino() == id.inode && split_dev(m.dev()) == id.dev);
    if same {
        entry.target = MapTarget::File {
            path: literal.into(),
            deleted: false,
        };
    }
}

/// An open /proc/PID/pagemap.
pub struct Pagemap {
    pid: i32,
    path: PathBuf,
    file: File,
}

impl Pagemap {
    pub fn open(pid: i32) -> Result<Pagemap> {
        let path = proc_path(pid, "pagemap");
        let file = File::open(&path).map_err(|e| Error::io(&path, Some(pid), e))?;
        Ok(Pagemap { pid, path, file })
    }

    /// The entries of `pages` pages from `start`, with one `pread`.
    pub fn read(&self, start: VirtAddr, pages: u64) -> Result<Vec<PagemapEntry>> {
        let mut buf = vec![0u8; (pages * 8) as usize];
        self.file
            .read_exact_at(&mut buf, start.page_index() * 8)
            .map_err(|e| match e.kind() {
                // The kernel returns 0 bytes once the process has no mm any more: it
                // exited after pagemap was opened (found by the churn test).
                std::io::ErrorKind::UnexpectedEof if exited(self.pid) => {
                    Error::NoSuchProcess { pid: self.pid }
                }
                _ => Error::io(&self.path, Some(self.pid), e),
            })?;
        Ok(decode_words(&buf).into_iter().map(PagemapEntry).collect())
    }

    /// Appends the raw pagemap words of `pages` pages from `start` to `words`, in one
    /// `pread` per `CHUNK_PAGES` (so a huge reservation never needs a huge buffer).
    /// `bytes` is scratch space the caller keeps between calls.
    pub fn read_words_into(
        &self,
        start: VirtAddr,
        pages: u64,
        bytes: &mut Vec<u8>,
        words: &mut Vec<u64>,
    ) -> Result<()> {
        const CHUNK_PAGES: u64 = 1 << 16;
        let mut done = 0;
        while done < pages {
            let n = (pages - done).min(CHUNK_PAGES);
            bytes.resize((n * 8) as usize, 0);
            self.file
                .read_exact_at(bytes, (start.page_index() + done) * 8)
                .map_err(|e| Error::io(&self.path, Some(self.pid), e))?;
            words.extend(
                bytes
                    .chunks_exact(8)
                    .map(|w| u64::from_le_bytes(w.try_into().unwrap_or_default())),
            );
            done += n;
        }
        Ok(())
    }
}

/// `struct pm_scan_arg` of the PAGEMAP_SCAN ioctl (include/uapi/linux/fs.h, Linux 6.7+).
#[repr(C)]
#[derive(Default)]
struct PmScanArg {
    size: u64,
    flags: u64,
    start: u64,
    end: u64,
    walk_end: u64,
    vec: u64,
    vec_len: u64,
    max_pages: u64,
    category_inverted: u64,
    category_mask: u64,
    category_anyof_mask: u64,
    return_mask: u64,
}

/// `struct page_region`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct PageRegion {
    start: u64,
    end: u64,
    categories: u64,
}

const PAGE_IS_PRESENT: u64 = 1 << 3;
const PAGE_IS_SWAPPED: u64 = 1 << 4;
/// `_IOWR('f', 16, struct pm_scan_arg)`.
const PAGEMAP_SCAN: u64 =
    (3 << 30) | ((std::mem::size_of::<PmScanArg>() as u64) << 16) | (0x66 << 8) | 16;

impl Pagemap {
    /// The ranges of `[start, end)` that hold present or swapped pages, from the
    /// PAGEMAP_SCAN ioctl (Documentation/admin-guide/mm/pagemap.rst, "PAGEMAP_SCAN"),
    /// which skips unpopulated page tables instead of reporting every empty page: a
    /// sanitizer's or a runtime's terabytes of reserved address space cost nothing.
    /// `None` when the kernel does not have the ioctl (before 6.7).
    pub fn populated_ranges(&self, start: u64, end: u64) -> Result<Option<Vec<(u64, u64)>>> {
        use std::os::fd::AsRawFd;
        let mut out: Vec<(u64, u64)> = Vec::new();
        let mut regions = vec![PageRegion::default(); 1024];
        let mut from = start;
        while from < end {
            let mut arg = PmScanArg {
                size: std::mem::size_of::<PmScanArg>() as u64,
                start: from,
                end,
                vec: regions.as_mut_ptr() as u64,
                vec_len: regions.len() as u64,
                category_anyof_mask: PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
                return_mask: PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
                ..PmScanArg::default()
            };
            // SAFETY: `arg` is a valid pm_scan_arg whose `vec` points at `vec_len` regions
            // that live across the call.
            let n = unsafe { libc::ioctl(self.file.as_raw_fd(), PAGEMAP_SCAN as _, &mut arg) };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                return match e.raw_os_error() {
                    Some(libc::ENOTTY) | Some(libc::EINVAL) if out.is_empty() && from == start => {
                        Ok(None)
                    }
                    _ => Err(Error::io(&self.path, Some(self.pid), e)),
                };
            }
            for r in &regions[..n as usize] {
                match out.last_mut() {
                    Some(last) if last.1 == r.start => last.1 = r.end,
                    _ => out.push((r.start, r.end)),
                }
            }
            if arg.walk_end <= from {
                break;
            }
            from = arg.walk_end;
        }
        Ok(Some(out))
    }
}

/// Reads kpagecount and kpageflags for `pfns` (any order), in windows of nearby frames.
pub fn read_frames(pfns: &[Pfn]) -> Result<HashMap<Pfn, FrameInfo>> {
    let mut sorted = pfns.to_vec();
    sorted.sort();
    sorted.dedup();
    let open = |p: &str| File::open(p).map_err(|e| Error::io(p, None, e));
    let (count, flags) = (open("/proc/kpagecount")?, open("/proc/kpageflags")?);
    let mut out = HashMap::with_capacity(sorted.len());
    let mut i = 0;
    for (first, last) in pfn_windows(&sorted, 64, 4096) {
        let n = (last.0 - first.0 + 1) as usize;
        let mut cbuf = vec![0u8; n * 8];
        let mut fbuf = vec![0u8; n * 8];
        count
            .read_exact_at(&mut cbuf, first.0 * 8)
            .map_err(|e| Error::io("/proc/kpagecount", None, e))?;
        flags
            .read_exact_at(&mut fbuf, first.0 * 8)
            .map_err(|e| Error::io("/proc/kpageflags", None, e))?;
        let (c, f) = (decode_words(&cbuf), decode_words(&fbuf));
        while i < sorted.len() && sorted[i] <= last {
            let k = (sorted[i].0 - first.0) as usize;
            out.insert(
                sorted[i],
                FrameInfo {
                    mapcount: c[k],
                    flags: KpageFlags(f[k]),
                },
            );
            i += 1;
        }
    }
    Ok(out)
}

/// The frame of the kernel's shared zero page: read (never written) fresh anonymous
/// memory maps it. Found by reading one such page of this process and checked with
/// /proc/kpageflags; `None` without CAP_SYS_ADMIN or if the check fails.
pub fn zero_page_pfn() -> Option<Pfn> {
    let len = PAGE_SIZE as usize;
    // SAFETY: a fresh private anonymous mapping that only this function uses, unmapped
    // before returning; reading it is defined (zero-filled).
    let addr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if addr == libc::MAP_FAILED {
        return None;
    }
    // SAFETY: `addr` is a readable mapping of `len` bytes.
    let _ = unsafe { std::ptr::read_volatile(addr as *const u8) };
    let pfn = Pagemap::open(std::process::id() as i32)
        .and_then(|pm| pm.read(VirtAddr(addr as u64), 1))
        .ok()
        .and_then(|e| e.first().and_then(|e| e.pfn()));
    // SAFETY: unmapping the mapping made above.
    unsafe { libc::munmap(addr, len) };
    let pfn = pfn?;
    let info = read_frames(&[pfn]).ok()?;
    info.get(&pfn)
        .is_some_and(|f| f.flags.zero_page())
        .then_some(pfn)
}

/// Reads /proc/kpagecount for `sorted` (ascending, distinct) frame numbers, in windows of
/// nearby frames; returns the counts in the same order.
pub fn read_kpagecounts(sorted: &[u64]) -> Result<Vec<u64>> {
    let path = "/proc/kpagecount";
    let count = File::open(path).map_err(|e| Error::io(path, None, e))?;
    let pfns: Vec<Pfn> = sorted.iter().map(|&p| Pfn(p)).collect();
    let mut out = Vec::with_capacity(sorted.len());
    let mut buf = Vec::new();
    let mut i = 0;
    for (first, last) in pfn_windows(&pfns, 64, 4096) {
        let n = (last.0 - first.0 + 1) as usize;
        buf.resize(n * 8, 0);
        count
            .read_exact_at(&mut buf, first.0 * 8)
            .map_err(|e| Error::io(path, None, e))?;
        while i < sorted.len() && sorted[i] <= last.0 {
            let k = ((sorted[i] - first.0) * 8) as usize;
            let word: [u8; 8] = buf[k..k + 8].try_into().unwrap_or_default();
            out.push(u64::from_le_bytes(word));
            i += 1;
        }
    }
    Ok(out)
}

/// Per-mapping smaps figures in bytes, keyed by mapping start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SmapsFigures {
    pub rss: u64,
    pub pss: u64,
    pub shared: u64,
    pub private: u64,
}

pub fn read_smaps(pid: i32) -> Result<HashMap<u64, SmapsFigures>> {
    let path = proc_path(pid, "smaps");
    let to_err = |e: procfs::ProcError| match e {
        procfs::ProcError::NotFound(_) => Error::NoSuchProcess { pid },
        procfs::ProcError::PermissionDenied(_) => Error::PermissionDenied {
            path: path.clone(),
            hint: None,
        },
        other => Error::Io {
            path: path.clone(),
            source: std::io::Error::other(other.to_string()),
        },
    };
    let maps = procfs::process::Process::new(pid)
        .and_then(|p| p.smaps())
        .map_err(to_err)?;
    let get =
        |m: &procfs::process::MemoryMap, k: &str| m.extension.map.get(k).copied().unwrap_or(0);
    Ok(maps
        .iter()
        .map(|m| {
            (
                m.address.0,
                SmapsFigures {
                    rss: get(m, "Rss"),
                    pss: get(m, "Pss"),
                    shared: get(m, "Shared_Clean") + get(m, "Shared_Dirty"),
                    private: get(m, "Private_Clean") + get(m, "Private_Dirty"),
                },
            )
        })
        .collect())
}

/// Files bigger than this are not read as ELF objects.
const MAX_ELF_BYTES: u64 = 1 << 30;

/// Reads the ELF file behind a file mapping of `pid`: through its path when that is still
/// the same (device, inode), otherwise through /proc/PID/map_files.
pub fn read_mapped_file(pid: i32, entry: &MapEntry) -> Result<Vec<u8>> {
    let (f, path) = open_mapped_file(pid, entry)?;
    read_elf_file(f, &path)
}

/// Like [`read_mapped_file`], but maps the file instead of reading it, so that planning a
/// big object touches only its headers and relocation tables.
pub fn map_mapped_file(pid: i32, entry: &MapEntry) -> Result<ElfBytes> {
    let (f, path) = open_mapped_file(pid, entry)?;
    map_elf_file(f, &path)
}

/// Opens the file behind a file mapping of `pid` (see [`read_mapped_file`]).
pub fn open_mapped_file(pid: i32, entry: &MapEntry) -> Result<(File, PathBuf)> {
    let (Some(id), MapTarget::File { path, deleted }) = (entry.file_id(), &entry.target) else {
        return Err(Error::Usage(format!(
            "mapping at {} is not a file mapping",
            entry.start
        )));
    };
    let mut candidates: Vec<PathBuf> = Vec::new();
    if *deleted {
        // A file really named "x (deleted)" that still exists.
        let mut literal = path.clone().into_os_string();
        literal.push(" (deleted)");
        candidates.push(literal.into());
    } else {
        candidates.push(path.clone());
    }
    for p in candidates {
        if let Ok(f) = File::open(&p)
            && same_file(&f, id)
        {
            return Ok((f, p));
        }
    }
    let via = proc_path(pid, &format!("map_files/{}", entry.map_files_name()));
    match File::open(&via) {
        Ok(f) if same_file(&f, id) => Ok((f, via)),
        Ok(_) => Err(Error::MappedFile {
            pid,
            path: path.clone(),
            reason: "map_files gives a different file".into(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !proc_path(pid, "").exists() => {
            Err(Error::NoSuchProcess { pid })
        }
        Err(e) => Err(Error::MappedFile {
            pid,
            path: path.clone(),
            reason: format!(
                "{} and {} is unreadable ({e}; it needs CAP_SYS_ADMIN)",
                if *deleted {
                    "the file was deleted".to_string()
                } else {
                    // Unreachable, missing or really replaced: say which.
                    crate::reach::why_unopenable(path, id).to_string()
                },
                via.display()
            ),
        }),
    }
}

/// The bytes of an ELF file: a read-only private mapping of it, or (where mapping fails)
/// a copy read into memory.
pub enum ElfBytes {
    Mapped { ptr: *mut libc::c_void, len: usize },
    Read(Vec<u8>),
}

impl std::ops::Deref for ElfBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            // SAFETY: `ptr` is a live PROT_READ mapping of `len` bytes owned by `self`.
            ElfBytes::Mapped { ptr, len } => unsafe {
                std::slice::from_raw_parts(*ptr as *const u8, *len)
            },
            ElfBytes::Read(v) => v,
        }
    }
}

impl Drop for ElfBytes {
    fn drop(&mut self) {
        if let ElfBytes::Mapped { ptr, len } = *self {
            // SAFETY: unmapping the mapping this value owns, once.
            unsafe { libc::munmap(ptr, len) };
        }
    }
}

/// Maps a whole file that starts with the ELF magic. Objects in use are replaced by
/// rename, not rewritten in place, so the mapping stays valid while it is read.
pub fn map_elf_file(f: File, path: &Path) -> Result<ElfBytes> {
    use std::os::fd::AsRawFd;
    let len = elf_file_len(&f, path)?;
    // SAFETY: a fresh read-only private mapping of an open file; the result is checked.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len as usize,
            libc::PROT_READ,
            libc::MAP_PRIVATE,
            f.as_raw_fd(),
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return read_elf_file(f, path).map(ElfBytes::Read);
    }
    Ok(ElfBytes::Mapped {
        ptr,
        len: len as usize,
    })
}

/// The length of a file that starts with the ELF magic and is small enough to read.
fn elf_file_len(f: &File, path: &Path) -> Result<u64> {
    let io = |e| Error::io(path, None, e);
    let len = f.metadata().map_err(io)?.len();
    let mut magic = [0u8; 4];
    let n = f.read_at(&mut magic, 0).map_err(io)?;
    if !elf::has_elf_magic(&magic[..n]) {
        return Err(Error::Elf {
            path: path.into(),
            reason: "not an ELF file (no \\x7fELF magic)".into(),
        });
    }
    if len > MAX_ELF_BYTES {
        return Err(Error::Elf {
            path: path.into(),
            reason: format!("{len} bytes is too big to read"),
        });
    }
    Ok(len)
}

fn same_file(f: &File, id: FileId) -> bool {
    f.metadata()
        .is_ok_and(|m| m.ino() == id.inode && split_dev(m.dev()) == id.dev)
}

/// Reads a whole file that starts with the ELF magic.
pub fn read_elf_file(mut f: File, path: &Path) -> Result<Vec<u8>> {
    let len = elf_file_len(&f, path)?;
    let mut bytes = Vec::with_capacity(len as usize);
    f.read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, None, e))?;
    Ok(bytes)
}

/// The vdso image of this process: the kernel maps the same one into every process of the
/// same ABI, so it stands for the vdso of the inspected processes.
pub fn read_own_vdso() -> Result<Vec<u8>> {
    let maps = read_maps(std::process::id() as i32)?;
    let vdso = maps
        .iter()
        .find(|m| m.is_pseudo("[vdso]"))
        .ok_or_else(|| Error::Unsupported("this process has no [vdso] mapping".into()))?;
    let path = PathBuf::from("/proc/self/mem");
    let f = File::open(&path).map_err(|e| Error::io(&path, None, e))?;
    let mut buf = vec![0u8; vdso.len() as usize];
    f.read_exact_at(&mut buf, vdso.start.0)
        .map_err(|e| Error::io(&path, None, e))?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_sys_admin_from_status_text() {
        let root = "Name:\tx\nCapEff:\t000001fffeffffff\n";
        let nobody = "CapEff:\t0000000000000000\n";
        assert_eq!(cap_sys_admin_in_status(root), Some(true));
        assert_eq!(cap_sys_admin_in_status(nobody), Some(false));
        assert_eq!(cap_sys_admin_in_status("Name: y\n"), None);
        assert_eq!(cap_sys_admin_in_status("CapEff:\tzz\n"), None);
    }

    #[test]
    fn kernel_threads_from_stat_flags() {
        // Captured: kthreadd, and a zombie `sleep` (state Z, no PF_KTHREAD) whose empty
        // maps file was once reported as a kernel thread's (found by the churn test).
        let kthreadd = "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 11 0 0";
        let zombie = "15532 (sleep) Z 15398 15396 16220 0 -1 4228108 76 0 0 0 0 0 0 0";
        let odd = "7 (a) b (c)) R 1 1 1 0 -1 4194560 0 0";
        assert_eq!(stat_kthread(kthreadd), Some(true));
        assert_eq!(stat_kthread(zombie), Some(false));
        assert_eq!(stat_kthread(odd), Some(false));
        assert_eq!(stat_kthread("garbage"), None);
    }

    #[test]
    fn own_maps_and_pagemap() {
        let pid = std::process::id() as i32;
        let maps = read_maps(pid).expect("own maps");
        let stack = maps.iter().find(|m| m.is_pseudo("[stack]")).expect("stack");
        let pm = Pagemap::open(pid).expect("pagemap");
        let entries = pm.read(stack.start, stack.len() / PAGE_SIZE).expect("read");
        assert!(entries.iter().any(|e| e.present()));
    }

    #[test]
    fn missing_pid_is_named() {
        let e = read_maps(i32::MAX).expect_err("no such pid");
        assert!(
            matches!(e, Error::NoSuchProcess { pid } if pid == i32::MAX),
            "{e}"
        );
        assert!(e.to_string().contains(&i32::MAX.to_string()));
    }

    #[test]
    fn own_vdso_is_elf() {
        let bytes = read_own_vdso().expect("vdso");
        let plan = elf::plan(&bytes).expect("vdso plan");
        assert!(
            plan.pages
                .iter()
                .any(|p| p.segment == elf::SegmentKind::Text)
        );
    }
}
