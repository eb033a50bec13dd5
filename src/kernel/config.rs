//! Which mapcount semantics the running kernel has. Since Linux 6.15 a kernel built with
//! `CONFIG_NO_PAGE_MAPCOUNT` keeps no per-page mapcount for large folios:
//! /proc/kpagecount then reports the folio's average mapcount for each of its pages, and
//! pagemap bit 56 only promises "certainly mapped only here" (clear may still be
//! exclusive) — Documentation/admin-guide/mm/pagemap.rst, mm/Kconfig (`PAGE_MAPCOUNT`).
//! The kernel's configuration is read from /proc/config.gz or /boot/config-RELEASE, where
//! readable.

use serde::{Deserialize, Serialize};
use std::io::Read;

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
    let set = |name: &str| config.lines().any(|l| l.trim() == format!("{name}=y"));
    if set("CONFIG_NO_PAGE_MAPCOUNT") {
        Mapcount::FolioAverage
    } else if set("CONFIG_PAGE_MAPCOUNT") {
        Mapcount::PerPage
    } else if config.contains("CONFIG_MMU=y") {
        // A configuration from before the option existed: per-page counts.
        Mapcount::PerPage
    } else {
        Mapcount::Unknown
    }
}

/// The most bytes of a kernel configuration read (a real one is about 300 KB).
const MAX_CONFIG: u64 = 16 << 20;

pub fn kernel_facts() -> KernelFacts {
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let boot = format!("/boot/config-{release}");
    let mut found = None;
    if let Ok(f) = std::fs::File::open("/proc/config.gz") {
        let mut text = String::new();
        let mut gz = flate2::read::GzDecoder::new(f).take(MAX_CONFIG);
        if gz.read_to_string(&mut text).is_ok() {
            found = Some((text, "/proc/config.gz".to_string()));
        }
    }
    if found.is_none()
        && let Ok(f) = std::fs::File::open(&boot)
    {
        let mut text = String::new();
        if f.take(MAX_CONFIG).read_to_string(&mut text).is_ok() {
            found = Some((text, boot));
        }
    }
    match found {
        Some((text, source)) => KernelFacts {
            release,
            mapcount: mapcount_in_config(&text),
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
    }

    #[test]
    fn this_kernel_is_known() {
        let k = kernel_facts();
        assert!(!k.release.is_empty());
    }
}
