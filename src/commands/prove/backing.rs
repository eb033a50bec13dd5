//! What backs each page of the object in each process: the object's own file (or its
//! `.bss` memory), or something laid over its range (a `MAP_SHARED` window, another file).
//! A proof about the library's pages holds only for pages that are the library's: a page
//! of its text or data backed by anything else fails the claim it concerns.

use crate::addr::VirtAddr;
use crate::inspect_report::{MappingReport, ObjectReport, PageInProcess};
use crate::placement::MappingKind;
use std::collections::HashMap;

/// Each process's mappings over the object, in address order, by pid.
pub struct Backing<'a> {
    mappings: HashMap<i32, &'a [MappingReport]>,
}

impl<'a> Backing<'a> {
    pub fn new(object: &'a ObjectReport) -> Backing<'a> {
        Backing {
            mappings: object
                .procs
                .iter()
                .map(|p| (p.pid, p.mappings.as_slice()))
                .collect(),
        }
    }

    /// The mapping that covers `vaddr` in `pid`.
    fn at(&self, pid: i32, vaddr: VirtAddr) -> Option<&'a MappingReport> {
        let maps = self.mappings.get(&pid)?;
        let i = maps.partition_point(|m| m.end <= vaddr);
        maps.get(i).filter(|m| m.start <= vaddr)
    }

    /// Why a text page is not the object's in some process, when it is not: the first
    /// process that maps anything but the object's file there.
    pub fn foreign_text(&self, procs: &[PageInProcess]) -> Option<String> {
        self.foreign(procs, "text", |m| m.kind == MappingKind::File)
    }

    /// Why a data or `.bss` page is not the object's in some process, when it is not: the
    /// first process that maps a `MAP_SHARED` window or another file there. Private
    /// anonymous memory is the `.bss` (or, with the address space laid out without
    /// randomization, the heap merged with it): private, as the object's data is.
    pub fn foreign_data(&self, procs: &[PageInProcess], what: &str) -> Option<String> {
        self.foreign(procs, what, |m| match m.kind {
            MappingKind::File | MappingKind::Anonymous => true,
            MappingKind::SharedWindow => false,
            MappingKind::Other => !m.target.as_deref().is_some_and(|t| t.starts_with('/')),
        })
    }

    /// The first process whose mapping at the page is not `own`, in words.
    fn foreign(
        &self,
        procs: &[PageInProcess],
        what: &str,
        own: impl Fn(&MappingReport) -> bool,
    ) -> Option<String> {
        procs.iter().find_map(|p| {
            let m = self.at(p.pid, p.vaddr)?;
            (!own(m)).then(|| {
                format!(
                    "pid {} maps {} over this {what} page (at {}), not the object's file: \
                     the bytes there are not the library's",
                    p.pid,
                    laid_over(m),
                    p.vaddr
                )
            })
        })
    }
}

/// What a mapping that is not the object's is, in words.
fn laid_over(m: &MappingReport) -> String {
    match (m.kind, &m.target) {
        (MappingKind::SharedWindow, Some(t)) => format!("a MAP_SHARED window of {t}"),
        (MappingKind::SharedWindow, None) => "a MAP_SHARED window of anonymous memory".into(),
        (MappingKind::Other, Some(t)) if !t.starts_with('/') => t.clone(),
        (MappingKind::Other, Some(t)) => format!("a private mapping of another file, {t}"),
        (MappingKind::Anonymous, _) | (MappingKind::Other, None) => "anonymous memory".into(),
        (MappingKind::File, _) => "the object's file".into(),
    }
}
