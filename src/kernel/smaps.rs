//! /proc/PID/smaps (Documentation/filesystems/proc.rst), parsed by `procfs`: per-mapping
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
pub fn read_smaps(dir: &process::ProcDir) -> Result<HashMap<u64, SmapsFigures>> {
    let pid = dir.pid();
    let path = dir.path(c"smaps");
    let to_err = |e: procfs::ProcError| match e {
        procfs::ProcError::NotFound(_) => Error::NoSuchProcess { pid },
        procfs::ProcError::PermissionDenied(_) => process::error(
            pid,
            &path,
            std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        ),
        other => Error::Io {
            path: path.clone(),
            source: std::io::Error::other(other.to_string()),
        },
    };
    let file = dir.open_file(c"smaps")?;
    let maps =
        <procfs::process::MemoryMaps as procfs::FromRead>::from_read(file).map_err(to_err)?;
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
                    swap: get(m, "Swap"),
                    anon_huge: get(m, "AnonHugePages"),
                },
            )
        })
        .collect())
}
