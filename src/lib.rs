//! solab: see and prove how Linux shares an ELF shared object between processes.
//!
//! Layers, from bytes to claims:
//! - [`elf`]: the static page plan of an ELF file (pure);
//! - [`maps`], [`pagemap`]: parsing /proc/PID/maps and decoding pagemap/kpage* words (pure);
//! - [`proc`]: all reading of /proc and mapped files;
//! - [`reach`]: why a mapped file's path does not open as that file;
//! - [`attribute`]: placing an object in a process and tying mappings to it (pure);
//! - [`verdict`]: per-process page state and the cross-process verdict (pure);
//! - [`inspect`]: the scan that joins them into a [`report::InspectReport`];
//! - [`prove`]: the three claims over a report (pure);
//! - [`libs`]: memory saved by sharing, per ELF object, over many processes;
//! - [`output`], [`cli`]: printing and the command line;
//! - [`svg`]: the page-map picture of a report (pure).

pub mod addr;
pub mod attribute;
pub mod cli;
pub mod elf;
pub mod error;
pub mod inspect;
pub mod libs;
pub mod maps;
pub mod output;
pub mod pagemap;
pub mod proc;
pub mod prove;
pub mod reach;
pub mod report;
pub mod svg;
pub mod verdict;

pub use addr::{PAGE_SIZE, Pfn, VirtAddr};
pub use error::{Error, Result};
