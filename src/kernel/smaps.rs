//! /proc/PID/smaps (Documentation/filesystems/proc.rst), read a line at a time: per-mapping
//! Rss, Pss, the Shared/Private split (by mapcount) and Swap, the unprivileged fallback.

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
    pub swap: u64,
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
