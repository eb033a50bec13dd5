//! Address and frame newtypes, so a page frame number never passes for a virtual address.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The page size this analyzer works in. Checked against `sysconf(_SC_PAGESIZE)` at run
/// time by [`crate::kernel::check_page_size`].
pub const PAGE_SIZE: u64 = 4096;

/// A physical page frame number, as /proc/PID/pagemap bits 0-54 give it and as
/// /proc/kpagecount and /proc/kpageflags are indexed by.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Pfn(pub u64);

/// A virtual address in one process.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VirtAddr(pub u64);

impl fmt::Debug for Pfn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pfn({:#x})", self.0)
    }
}

impl fmt::Display for Pfn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

impl fmt::Debug for VirtAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VirtAddr({:#x})", self.0)
    }
}

impl fmt::Display for VirtAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

impl VirtAddr {
    /// The index of this address's page in /proc/PID/pagemap.
    pub fn page_index(self) -> u64 {
        self.0 / PAGE_SIZE
    }
}

pub fn page_down(x: u64) -> u64 {
    x & !(PAGE_SIZE - 1)
}

pub fn page_up(x: u64) -> u64 {
    x.saturating_add(PAGE_SIZE - 1) & !(PAGE_SIZE - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_hex() {
        assert_eq!(format!("{:?}", Pfn(0x1234)), "Pfn(0x1234)");
        assert_eq!(
            format!("{:?}", VirtAddr(0x7f00_0000)),
            "VirtAddr(0x7f000000)"
        );
    }

    #[test]
    fn rounding() {
        assert_eq!(page_down(0x1fff), 0x1000);
        assert_eq!(page_up(0x1001), 0x2000);
        assert_eq!(page_up(0x1000), 0x1000);
        assert_eq!(VirtAddr(0x3000).page_index(), 3);
    }
}
