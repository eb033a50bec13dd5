//! Which mapcount semantics the running kernel has. Since Linux 6.15 a kernel built with
//! `CONFIG_NO_PAGE_MAPCOUNT` keeps no per-page mapcount for large folios:
//! /proc/kpagecount then reports the folio's average mapcount for each of its pages, and
//! pagemap bit 56 only promises "certainly mapped only here" (clear may still be
//! exclusive) — Documentation/admin-guide/mm/pagemap.rst, mm/Kconfig (`PAGE_MAPCOUNT`).
//! The kernel's configuration is read from /proc/config.gz or /boot/config-RELEASE, where
//! readable.

use serde::{Deserialize, Serialize};
use std::io::{BufRead, Read};

/// What kpagecount and bit 56 mean on this kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mapcount {
    /// `CONFIG_PAGE_MAPCOUNT=y` (or a kernel before 6.15): per-page counts, bit 56 exact.
    PerPage,
    /// `CONFIG_NO_PAGE_MAPCOUNT=y`: folio averages for large folios; bit 56 set means
    /// certainly exclusive, clear may still be exclusive.
    FolioAverage,
    /// The configuration could not be read.
    Unknown,
}

/// The kernel the evidence came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelFacts {
    pub release: String,
    pub mapcount: Mapcount,
    /// Where `mapcount` was read from.
    pub source: Option<String>,
}

/// Decides from a kernel configuration's text.
pub fn mapcount_in_config(config: &str) -> Mapcount {
    mapcount_in_lines(config.as_bytes()).unwrap_or(Mapcount::Unknown)
}

/// Decides from a configuration's lines, read only until the answer is known: at the first
/// of `CONFIG_NO_PAGE_MAPCOUNT=y` and `CONFIG_PAGE_MAPCOUNT=y` (mm/Kconfig makes the second
/// the negation of the first; it comes in the first third of the file), else at
/// the end, where an MMU kernel from before the option counts per page.
fn mapcount_in_lines(mut config: impl BufRead) -> std::io::Result<Mapcount> {
    let mut line = Vec::new();
    let mut mmu = false;
    loop {
        line.clear();
        if config.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        match line.trim_ascii() {
            b"CONFIG_NO_PAGE_MAPCOUNT=y" => return Ok(Mapcount::FolioAverage),
            b"CONFIG_PAGE_MAPCOUNT=y" => return Ok(Mapcount::PerPage),
            b"CONFIG_MMU=y" => mmu = true,
            _ => {}
        }
    }
    Ok(if mmu {
        // A configuration from before the option existed: per-page counts.
        Mapcount::PerPage
    } else {
        Mapcount::Unknown
    })
}

/// The most bytes of a kernel configuration read (a real one is about 300 KB).
const MAX_CONFIG: u64 = 16 << 20;

/// The running kernel's release and mapcount semantics. The configuration is decompressed
/// only as far as the answer (a third of /proc/config.gz): every machine-wide command
/// reads it, and all of it costs about a millisecond of CPU. Read once per run: the running
/// kernel does not change while solab runs (`libs --by` scans once per group).
pub fn kernel_facts() -> KernelFacts {
    static FACTS: std::sync::OnceLock<KernelFacts> = std::sync::OnceLock::new();
    FACTS.get_or_init(read_kernel_facts).clone()
}

fn read_kernel_facts() -> KernelFacts {
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let boot = format!("/boot/config-{release}");
    let mut found = None;
    if let Ok(f) = std::fs::File::open("/proc/config.gz") {
        let gz = flate2::read::GzDecoder::new(f).take(MAX_CONFIG);
        if let Ok(m) = mapcount_in_lines(std::io::BufReader::with_capacity(32 << 10, gz)) {
            found = Some((m, "/proc/config.gz".to_string()));
        }
    }
    if found.is_none()
        && let Ok(f) = std::fs::File::open(&boot)
        && let Ok(m) = mapcount_in_lines(std::io::BufReader::new(f.take(MAX_CONFIG)))
    {
        found = Some((m, boot));
    }
    match found {
        Some((mapcount, source)) => KernelFacts {
            release,
            mapcount,
            source: Some(source),
        },
        None => KernelFacts {
            release,
            mapcount: Mapcount::Unknown,
            source: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semantics_from_config_text() {
        assert_eq!(
            mapcount_in_config("CONFIG_MMU=y\nCONFIG_PAGE_MAPCOUNT=y\n"),
            Mapcount::PerPage
        );
        assert_eq!(
            mapcount_in_config("CONFIG_MMU=y\nCONFIG_NO_PAGE_MAPCOUNT=y\n"),
            Mapcount::FolioAverage
        );
        assert_eq!(
            mapcount_in_config("CONFIG_MMU=y\n# CONFIG_NO_PAGE_MAPCOUNT is not set\n"),
            Mapcount::PerPage
        );
        assert_eq!(mapcount_in_config(""), Mapcount::Unknown);
        // Decided at its line: what follows is not read.
        assert_eq!(
            mapcount_in_config(
                "CONFIG_MMU=y\n  CONFIG_NO_PAGE_MAPCOUNT=y  \r\nCONFIG_PAGE_MAPCOUNT=y\n"
            ),
            Mapcount::FolioAverage
        );
    }

    #[test]
    fn this_kernel_is_known() {
        let k = kernel_facts();
        assert!(!k.release.is_empty());
    }
}
