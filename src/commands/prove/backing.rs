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

    /// Why a page is not the object's in some process, when it is not: the first process
    /// whose mapping there is of a kind `allowed` does not take.
    pub fn foreign(
        &self,
        procs: &[PageInProcess],
        allowed: &[MappingKind],
        what: &str,
    ) -> Option<String> {
        procs.iter().find_map(|p| {
            let m = self.at(p.pid, p.vaddr)?;
            (!allowed.contains(&m.kind)).then(|| {
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
        (MappingKind::Other, Some(t)) => format!("a private mapping of another file, {t}"),
        (MappingKind::Anonymous, _) | (MappingKind::Other, None) => "anonymous memory".into(),
        (MappingKind::File, _) => "the object's file".into(),
    }
}
