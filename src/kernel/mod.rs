//! Reading what the kernel writes: one module per source, and the only code of the analyzer
//! that opens /proc or a mapped file.
//!
//! - [`process`]: /proc/PID/maps, stat, status, comm (proc(5)); the caller must be allowed
//!   to ptrace-read the process (same uid, or CAP_SYS_PTRACE) for maps;
//! - [`pagemap`]: /proc/PID/pagemap (Documentation/admin-guide/mm/pagemap.rst), chunked,
//!   with the PAGEMAP_SCAN ioctl for huge mappings; PFNs read 0 without CAP_SYS_ADMIN;
//! - [`kpage`]: /proc/kpagecount and /proc/kpageflags in windows of sorted PFNs (root with
//!   CAP_SYS_ADMIN only);
//! - [`smaps`]: /proc/PID/smaps via `procfs`, the unprivileged fallback;
//! - [`files`]: a file another process maps, opened without following links or blocking,
//!   and the vdso image read from /proc/PID/mem;
//! - [`reach`]: why a mapped file's path does not open as that file;
//! - [`config`]: which mapcount semantics the running kernel has;
//! - [`perf`]: the user page faults of processes, recorded with perf_event_open(2).

pub mod config;
pub mod deadline;
pub mod files;
pub mod kpage;
pub mod pagemap;
pub mod perf;
pub mod process;
pub mod reach;
pub mod smaps;

use crate::addr::PAGE_SIZE;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::os::unix::fs::FileExt;
use std::sync::OnceLock;

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

/// The effective capabilities of this process (`CapEff:` of /proc/self/status).
pub fn capabilities() -> u64 {
    static CAPS: OnceLock<u64> = OnceLock::new();
    *CAPS.get_or_init(|| {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| cap_eff_in_status(&s))
            .unwrap_or(0)
    })
}

/// The machine's usable RAM in bytes: `MemTotal:` of /proc/meminfo (proc(5)); `None` when
/// it cannot be read.
pub fn mem_total() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    mem_total_in(&text)
}

/// `MemTotal:` of a /proc/meminfo text (in kB there), in bytes.
fn mem_total_in(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut words = line.split_whitespace().skip(1);
    let kb: u64 = words.next()?.parse().ok()?;
    (words.next() == Some("kB")).then_some(kb * 1024)
}

pub const CAP_SYS_PTRACE: u32 = 19;
pub const CAP_SYS_ADMIN: u32 = 21;

pub fn has_capability(cap: u32) -> bool {
    capabilities() & (1 << cap) != 0
}

/// Parses the `CapEff:` line of /proc/PID/status text.
pub fn cap_eff_in_status(status: &str) -> Option<u64> {
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))?
        .trim();
    u64::from_str_radix(hex, 16).ok()
}

/// What the evidence can be: frame numbers, or only pagemap bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Evidence {
    /// PFNs and /proc/kpagecount, /proc/kpageflags: frames are compared.
    Frames,
    /// Pagemap bits 56, 61, 62, 63 and smaps only: verdicts are weak.
    Bits,
}

/// Whether this process can see page frame numbers and /proc/kpage*, and why not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Privilege {
    pub evidence: Evidence,
    /// Why not frames, when not: said once in every output.
    pub note: Option<String>,
}

impl Privilege {
    pub fn frames(&self) -> bool {
        self.evidence == Evidence::Frames
    }
}

pub fn detect_privilege() -> Privilege {
    let cap = has_capability(CAP_SYS_ADMIN);
    let kpage = std::fs::File::open(kpage::KPAGECOUNT)
        .and_then(|f| f.read_exact_at(&mut [0u8; 8], 0))
        .is_ok()
        && std::fs::File::open(kpage::KPAGEFLAGS).is_ok();
    let note = match (cap, kpage) {
        (true, true) => None,
        (false, _) => Some(
            "not privileged: without CAP_SYS_ADMIN the kernel hides page frame numbers and \
             /proc/kpagecount, so frames cannot be compared; verdicts use pagemap bits 56 \
             (exclusive) and 61 (file or shared) and smaps, and are marked weak"
                .to_string(),
        ),
        (true, false) => Some(
            "/proc/kpagecount or /proc/kpageflags is unreadable: frames cannot be compared and \
             verdicts are marked weak"
                .to_string(),
        ),
    };
    Privilege {
        evidence: if cap && kpage {
            Evidence::Frames
        } else {
            Evidence::Bits
        },
        note,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_eff_from_status_text() {
        let root = "Name:\tx\nCapEff:\t000001fffeffffff\n";
        let nobody = "CapEff:\t0000000000000000\n";
        assert_eq!(
            cap_eff_in_status(root).map(|c| c & (1 << 21) != 0),
            Some(true)
        );
        assert_eq!(cap_eff_in_status(nobody), Some(0));
        assert_eq!(cap_eff_in_status("Name: y\n"), None);
        assert_eq!(cap_eff_in_status("CapEff:\tzz\n"), None);
    }

    #[test]
    fn mem_total_from_meminfo_text() {
        let t = "MemTotal:       24576000 kB\nMemFree:  1 kB\n";
        assert_eq!(mem_total_in(t), Some(24576000 * 1024));
        assert_eq!(mem_total_in("MemFree: 1 kB\n"), None);
        assert_eq!(mem_total_in("MemTotal: 12\n"), None);
        // The live file has it.
        assert!(mem_total().is_some_and(|b| b > 0));
    }
}
