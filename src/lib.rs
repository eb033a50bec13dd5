//! solab: see and prove how Linux shares an ELF shared object between processes.
//!
//! Layers, from bytes to claims (ARCHITECTURE.md draws the flow):
//! - [`addr`], [`error`]: newtypes and the one error type;
//! - [`elf`], [`maps`], [`page_words`]: the ELF page plan, /proc/PID/maps lines and
//!   pagemap / kpage* words, parsed and decoded (pure);
//! - [`kernel`]: every read of /proc and of mapped files, one module per source;
//! - [`placement`]: placing an object in a process and tying mappings to it (pure);
//! - [`sharing`]: the rules: page states, "one frame", "written", verdicts (pure);
//! - [`scan`]: objects planned once per (device, inode), processes read once;
//! - [`commands`]: `inspect`, `prove`, `libs`, each from options to a report;
//! - [`inspect_report`]: the inspect report other commands and the lab read;
//! - [`output`]: text, JSON and SVG; [`cli`]: the command line.

pub mod addr;
pub mod cli;
pub mod commands;
pub mod elf;
pub mod error;
pub mod hash;
pub mod inspect_report;
pub mod kernel;
pub mod maps;
pub mod output;
pub mod page_words;
pub mod placement;
pub mod scan;
pub mod sharing;
pub mod symbols;

pub use addr::{PAGE_SIZE, Pfn, VirtAddr};
pub use error::{Error, Result};
