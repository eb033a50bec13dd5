//! /proc/PID/smaps (Documentation/filesystems/proc.rst), read a line at a time: per-mapping
//! Rss, Pss, the Shared/Private split (by mapcount), Swap and SwapPss: the unprivileged
//! fallback, and the kernel's division of swap entries among the page tables holding them.

use super::process;
use crate::error::{Error, Result};
use std::collections::HashMap;

/// Per-mapping smaps figures in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SmapsFigures {
    pub rss: u64,
    pub pss: u64,
    pub shared: u64,
    pub private: u64,
    /// Swap: the pages of the mapping in swap, each in full however many page tables hold
    /// its swap entry (and swapped `MAP_SHARED` memory, which has no swap entry in the page
    /// table).
    pub swap: u64,
    /// SwapPss (Linux 4.3+): each swap entry of the mapping's page table divided by the
    /// number of page tables holding it (the swap map's count); None when the kernel does
    /// not give it.
    pub swap_pss: Option<u64>,
    /// AnonHugePages: anonymous memory mapped by transparent huge pages (PMD-mapped).
    pub anon_huge: u64,
}

/// The figures of every mapping of the process of `dir`, keyed by mapping start.
///
/// Read a line at a time, keeping six numbers a mapping: another user's process may have
/// tens of thousands of mappings with names of kilobytes, and a parser that kept each
/// mapping's name and fields would cost kilobytes a mapping. A header line longer than
/// the buffer is read for its start address only. At most [`process::max_maps`]
/// mappings: a process that maps above what the reader has reached and unmaps below it
/// would be read for ever; past that it is an error naming it and the limit.
pub fn read_smaps(dir: &process::ProcDir) -> Result<HashMap<u64, SmapsFigures>> {
    use std::io::{BufRead, Read};
    /// The most of a line kept: a field line is short; a header's start comes first.
    const LINE: u64 = 4096;
    let pid = dir.pid();
    let path = dir.path(c"smaps");
    let file = dir.open_file(c"smaps")?;
    let mut r = std::io::BufReader::with_capacity(1 << 16, file);
    let mut line = Vec::new();
    let mut out = HashMap::new();
    let mut current: Option<(u64, SmapsFigures)> = None;
    loop {
        line.clear();
        let n = (&mut r)
            .take(LINE)
            .read_until(b'\n', &mut line)
            .map_err(|e| process::error(pid, &path, e))?;
        if n == 0 {
            break;
        }
        if line.last() != Some(&b'\n') && n as u64 == LINE {
            r.skip_until(b'\n')
                .map_err(|e| process::error(pid, &path, e))?;
        }
        // A field starts with its capitalised name; a mapping's header with its start
        // address in lower-case hexadecimal.
        if let Some(start) = header_start(&line) {
            if let Some((s, f)) = current.replace((start, SmapsFigures::default())) {
                out.insert(s, f);
            }
            if out.len() >= process::max_maps() {
                return Err(Error::Io {
                    path,
                    source: std::io::Error::other(format!(
                        "more than {} mappings (twice vm.max_map_count; a map that moves \
                         while it is read grows without end): a limit of solab; the process \
                         is not read",
                        process::max_maps()
                    )),
                });
            }
            continue;
        }
        let Some((_, f)) = current.as_mut() else {
            continue;
        };
        let text = String::from_utf8_lossy(&line);
        let mut parts = text.split_ascii_whitespace();
        let (Some(key), Some(Ok(value))) = (parts.next(), parts.next().map(str::parse::<u64>))
        else {
            continue;
        };
        let bytes = if parts.next().is_some() {
            value.saturating_mul(1024)
        } else {
            value
        };
        match key {
            "Rss:" => f.rss = bytes,
            "Pss:" => f.pss = bytes,
            "Shared_Clean:" | "Shared_Dirty:" => f.shared += bytes,
            "Private_Clean:" | "Private_Dirty:" => f.private += bytes,
            "Swap:" => f.swap = bytes,
            "SwapPss:" => f.swap_pss = Some(bytes),
            "AnonHugePages:" => f.anon_huge = bytes,
            _ => {}
        }
    }
    if let Some((s, f)) = current {
        out.insert(s, f);
    }
    Ok(out)
}

/// The start address of a mapping's header line (`7f..-7f.. r--p ...`), `None` for a
/// field line.
fn header_start(line: &[u8]) -> Option<u64> {
    let dash = line.iter().position(|&b| b == b'-')?;
    let hex = &line[..dash];
    if hex.is_empty() || !hex.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    u64::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
}

/// The swap figures of one mapping, as [`read_swap`] reads them, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SwapFigures {
    /// `Swap` ([`SmapsFigures::swap`]).
    pub swap: u64,
    /// `SwapPss` ([`SmapsFigures::swap_pss`]); None when the kernel does not give it.
    pub swap_pss: Option<u64>,
}

/// The longest smaps line kept: a mapping's header line holds its path (up to PATH_MAX,
/// with `\n` escaped); a longer line is cut, which only its name can make long.
const MAX_LINE: usize = 16 << 10;

/// The swap figures of the mappings of the process of `dir` that have pages in swap, keyed
/// by mapping start: smaps read line by line, keeping only those mappings, so that the
/// cost in memory is bounded by the mappings with swap, not by every mapping and its name.
pub fn read_swap(dir: &process::ProcDir) -> Result<HashMap<u64, SwapFigures>> {
    use std::io::{BufRead, Read};
    let path = dir.path(c"smaps");
    let io = |e: std::io::Error| process::error(dir.pid(), &path, e);
    let mut lines = std::io::BufReader::new(dir.open_file(c"smaps")?);
    let mut line = Vec::with_capacity(256);
    let mut out = HashMap::new();
    let mut current: Option<(u64, SwapFigures)> = None;
    let mut keep = |current: Option<(u64, SwapFigures)>| {
        if let Some((start, f)) = current.filter(|(_, f)| f.swap > 0) {
            out.insert(start, f);
        }
    };
    loop {
        line.clear();
        let n = (&mut lines)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut line)
            .map_err(io)?;
        if n == 0 {
            break;
        }
        if line.last() != Some(&b'\n') && n == MAX_LINE {
            // The rest of an over-long line (a header's name): skipped.
            lines.skip_until(b'\n').map_err(io)?;
        }
        if let Some(start) = mapping_start(&line) {
            keep(current.take());
            current = Some((start, SwapFigures::default()));
        } else if let Some((_, f)) = current.as_mut() {
            if let Some(kb) = field_kb(&line, b"Swap:") {
                f.swap = kb * 1024;
            } else if let Some(kb) = field_kb(&line, b"SwapPss:") {
                f.swap_pss = Some(kb * 1024);
            }
        }
    }
    keep(current);
    Ok(out)
}

/// What tells whether a mapping may hold shared memory in swap that its page table does
/// not show. A page of shmem (`MAP_SHARED` anonymous memory, SysV segments, memfd,
/// `/dev/shm` and other tmpfs files) that goes to swap is unmapped from every page table
/// and its swap entry kept in the shmem object: pagemap shows the page absent, not
/// swapped, while smaps `Swap` counts the object's swapped pages in the mapping's range
/// (fs/proc/task_mmu.c: `smap_gather_stats` adds `shmem_swap_usage` of a shared or
/// read-only mapping, `smaps_pte_hole` `shmem_partial_swap_usage` over the holes of a
/// private writable one) in every process that maps the range.
#[derive(Clone, Debug, Default)]
pub struct ShmemSwapWatch {
    /// The machine has swap in use (`/proc/meminfo` SwapTotal > SwapFree): without it no
    /// shmem page can be in swap.
    pub in_use: bool,
    /// The devices (major, minor) of the shmem filesystems: the kernel's internal mount
    /// (that of a memfd), and the tmpfs and devtmpfs mounts of solab's mount namespace.
    devs: Vec<(u32, u32)>,
}

impl ShmemSwapWatch {
    /// Reads the machine's swap use, and when swap is in use the shmem devices.
    pub fn read() -> ShmemSwapWatch {
        let in_use = swap_in_use();
        ShmemSwapWatch {
            in_use,
            devs: if in_use { shmem_devices() } else { Vec::new() },
        }
    }

    /// Whether a mapping of a file on device `dev` (as /proc/PID/maps gives it) may have
    /// shmem pages in swap: swap is in use and the file is on a shmem filesystem.
    pub fn may_swap(&self, dev: (u32, u32)) -> bool {
        self.in_use && self.devs.contains(&dev)
    }
}

/// Whether /proc/meminfo shows swap in use (SwapTotal - SwapFree > 0); false when it
/// cannot be read.
fn swap_in_use() -> bool {
    let Ok(text) = std::fs::read_to_string("/proc/meminfo") else {
        return false;
    };
    let field = |key: &[u8]| {
        text.lines()
            .find_map(|l| field_kb(l.as_bytes(), key))
            .unwrap_or(0)
    };
    field(b"SwapTotal:") > field(b"SwapFree:")
}

/// The devices of the shmem filesystems ([`ShmemSwapWatch::devs`]).
fn shmem_devices() -> Vec<(u32, u32)> {
    use std::os::fd::FromRawFd;
    use std::os::unix::fs::MetadataExt;
    let mut devs = Vec::new();
    // SAFETY: memfd_create with a NUL-terminated name; the fd it returns is owned by the
    // File made of it, which closes it.
    let fd = unsafe { libc::memfd_create(c"solab-shmem".as_ptr(), libc::MFD_CLOEXEC) };
    if fd >= 0 {
        let file = unsafe { std::fs::File::from_raw_fd(fd) };
        if let Ok(m) = file.metadata() {
            let dev = m.dev();
            let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
            let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
            devs.push((major as u32, minor as u32));
        }
    }
    if let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") {
        devs.extend(text.lines().filter_map(tmpfs_device));
    }
    devs.sort_unstable();
    devs.dedup();
    devs
}

/// The device of a mountinfo line (`ID PARENT MAJOR:MINOR ROOT POINT OPTS ... - TYPE ...`)
/// whose filesystem is tmpfs or devtmpfs.
fn tmpfs_device(line: &str) -> Option<(u32, u32)> {
    let (head, tail) = line.split_once(" - ")?;
    let fstype = tail.split_whitespace().next()?;
    if fstype != "tmpfs" && fstype != "devtmpfs" {
        return None;
    }
    let (major, minor) = head.split_whitespace().nth(2)?.split_once(':')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// The start of the mapping whose smaps header `line` is (`START-END PERMS ...`, hex), or
/// None for a field line (`Name:   N kB`).
fn mapping_start(line: &[u8]) -> Option<u64> {
    let dash = line.iter().position(|&b| b == b'-')?;
    let start = std::str::from_utf8(&line[..dash]).ok()?;
    if start.is_empty() || !start.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(start, 16).ok()
}

/// The number of a field line `KEY   N kB` whose key is `key` (with its colon).
fn field_kb(line: &[u8], key: &[u8]) -> Option<u64> {
    let rest = line.strip_prefix(key)?;
    std::str::from_utf8(rest)
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_fields_of_smaps_lines() {
        assert_eq!(
            mapping_start(b"7f00a000-7f00b000 rw-p 00000000 00:00 0 \n"),
            Some(0x7f00a000)
        );
        assert_eq!(mapping_start(b"Swap:                  8 kB\n"), None);
        assert_eq!(mapping_start(b"VmFlags: rd wr mr mw me ac sd\n"), None);
        assert_eq!(
            field_kb(b"Swap:                  8 kB\n", b"Swap:"),
            Some(8)
        );
        assert_eq!(field_kb(b"SwapPss:               4 kB\n", b"Swap:"), None);
        assert_eq!(
            field_kb(b"SwapPss:               4 kB\n", b"SwapPss:"),
            Some(4)
        );
    }

    #[test]
    fn tmpfs_devices_of_mountinfo_lines() {
        let tmpfs = "31 24 0:27 / /dev/shm rw,nosuid,nodev shared:4 - tmpfs tmpfs rw,inode64";
        assert_eq!(tmpfs_device(tmpfs), Some((0, 27)));
        let ext4 = "24 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw";
        assert_eq!(tmpfs_device(ext4), None);
        assert_eq!(tmpfs_device("garbage"), None);
    }

    #[test]
    fn own_swap_agrees_with_full_smaps() {
        let dir = process::ProcDir::open(std::process::id() as i32).expect("own /proc dir");
        let full = read_smaps(&dir).expect("smaps");
        let swap = read_swap(&dir).expect("swap");
        for (start, f) in &full {
            match swap.get(start) {
                Some(s) => assert_eq!((s.swap, s.swap_pss), (f.swap, f.swap_pss)),
                None => assert_eq!(f.swap, 0, "mapping at {start:#x}"),
            }
        }
    }
}
