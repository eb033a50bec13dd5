//! Every placement of the object in a process, not only the one the inspect report shows:
//! a process may map the library's file again elsewhere (a second `dlopen` of a copy's
//! path, or a plain `mmap`) and write into that copy's text, a private, written copy of
//! the code. The report places the object once a process; here the other private mappings
//! of its file are read, page by page where they map the file's text.

use crate::addr::{PAGE_SIZE, VirtAddr};
use crate::error::Result;
use crate::inspect_report::{ObjectInProcess, ObjectReport};
use crate::kernel::pagemap::Pagemap;
use crate::kernel::process::ProcDir;
use crate::maps::MapEntry;
use crate::placement::MappingKind;
use crate::scan::{self, Door, Process, Visit};

/// Pages read from pagemap at a time.
const CHUNK: u64 = 4096;

/// A written copy of a text page of the object in a placement the report does not show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrittenText {
    pub pid: i32,
    /// Where the written copy is.
    pub at: VirtAddr,
    /// The page's offset from the object's load base (as the report's pages have it).
    pub offset: u64,
}

/// The first written copy of a text page in each process's other placements of `object`.
/// A process that cannot be read again, or no longer maps the object where the report
/// placed it (it exited, its pid was reused), is left out: the report stands for it.
pub fn written_text_elsewhere(object: &ObjectReport) -> Vec<WrittenText> {
    object
        .procs
        .iter()
        .filter_map(|p| in_process(object, p))
        .collect()
}

/// [`written_in`] the process of `placed`, opened at the door; `None` where it cannot be
/// read.
fn in_process(object: &ObjectReport, placed: &ObjectInProcess) -> Option<WrittenText> {
    match scan::visit(placed.pid, 0, Door::default(), |opened| {
        written_in(object, placed, opened.dir)
    }) {
        Visit::Read(written) => written,
        Visit::Other | Visit::Gone(_) => None,
    }
}

/// The file's text as the report's placement maps it: (file offset, length, address).
fn text_ranges(placed: &ObjectInProcess) -> Vec<(u64, u64, VirtAddr)> {
    placed
        .mappings
        .iter()
        .filter(|m| m.kind == MappingKind::File && m.perms.contains('x'))
        .map(|m| (m.offset, m.end.0 - m.start.0, m.start))
        .collect()
}

/// The first written copy of a text page of `object` in the other placements of its file in
/// the process of `dir` (the one the report placed as `placed`).
fn written_in(
    object: &ObjectReport,
    placed: &ObjectInProcess,
    dir: &ProcDir,
) -> Result<Option<WrittenText>> {
    let (Some(dev), Some(inode)) = (&object.dev, object.inode) else {
        return Ok(None); // the vdso: one placement, the kernel's
    };
    let ours = |m: &MapEntry| {
        m.inode == inode
            && m.file_id().is_some()
            && format!("{:02x}:{:02x}", m.dev.0, m.dev.1) == *dev
    };
    let text = text_ranges(placed);
    let Some(&(_, _, first_text)) = text.first() else {
        return Ok(None);
    };
    let p = Process::read(dir)?;
    // Still the process the report read: its file's text where the report placed it.
    let main = |m: &MapEntry| {
        placed
            .mappings
            .iter()
            .any(|r| r.kind == MappingKind::File && r.start < m.end && m.start < r.end)
    };
    if !p
        .maps
        .iter()
        .any(|m| ours(m) && m.start <= first_text && first_text < m.end)
    {
        return Ok(None);
    }
    let mut pagemap: Option<Pagemap> = None;
    let mut words = Vec::new();
    for m in p
        .maps
        .iter()
        .filter(|m| ours(m) && !m.perms.shared && !main(m))
    {
        for &(t_off, t_len, t_addr) in &text {
            // The part of `m` that maps the file's text, in file offsets.
            let from = m.offset.max(t_off);
            let to = (m.offset + m.len()).min(t_off + t_len);
            let mut off = from;
            while off < to {
                let pages = ((to - off) / PAGE_SIZE).min(CHUNK);
                if pages == 0 {
                    break;
                }
                let at = VirtAddr(m.start.0 + (off - m.offset));
                let pm = match &mut pagemap {
                    Some(pm) => pm,
                    None => pagemap.insert(Pagemap::open(p.dir)?),
                };
                pm.read_into(at, pages, &mut words)?;
                if let Some(i) = words[..pages as usize]
                    .iter()
                    .position(|w| w.present() && !w.file_or_shared_anon())
                {
                    let page_off = off + i as u64 * PAGE_SIZE;
                    return Ok(Some(WrittenText {
                        pid: placed.pid,
                        at: VirtAddr(at.0 + i as u64 * PAGE_SIZE),
                        offset: t_addr.0 + (page_off - t_off) - placed.load_base.0,
                    }));
                }
                off += pages * PAGE_SIZE;
            }
        }
    }
    Ok(None)
}
