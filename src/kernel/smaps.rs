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
