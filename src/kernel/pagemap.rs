//! Reading /proc/PID/pagemap (Documentation/admin-guide/mm/pagemap.rst): one u64 (in
//! the machine's byte order) per virtual page at offset `(vaddr / 4096) * 8`, read with one
//! `pread` per range of at most [`CHUNK_PAGES`] pages straight into a buffer the caller
//! reuses, and the
//! PAGEMAP_SCAN ioctl (6.7+) to skip unpopulated ranges of huge mappings. A whole memory
//! map is read by [`Pagemap::read_maps`]: one `pread` per run of adjacent mappings rather
//! than one per mapping (a process's mappings mostly touch: an ELF object's segments, its
//! `.bss`, the heap after the program). Access: the same as maps; PFNs read 0 without
//! CAP_SYS_ADMIN. Decoding the words is [`crate::page_words`].

use super::process;
use crate::addr::{PAGE_SIZE, VirtAddr};
use crate::error::{Error, Result};
use crate::maps::MapEntry;
use crate::page_words::PagemapEntry;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

/// Pages read with one `pread`: bounds memory whatever a mapping's size.
pub const CHUNK_PAGES: u64 = 1 << 16;

/// An open /proc/PID/pagemap, with the process's directory (to tell a process that exited
/// from a short read).
pub struct Pagemap {
    dir: process::ProcDir,
    path: PathBuf,
    file: File,
}

impl Pagemap {
    /// Opens the pagemap of the process whose directory is `dir`.
    pub fn open(dir: &process::ProcDir) -> Result<Pagemap> {
        let file = dir.open_file(c"pagemap")?;
        Ok(Pagemap {
            dir: dir.try_clone()?,
            path: dir.path(c"pagemap"),
            file,
        })
    }

    /// Reads the entries of `pages` pages from `start` into `out` (its length made
    /// `pages`; empty on an error), in one `pread` per [`CHUNK_PAGES`], straight into
    /// `out`'s memory.
    pub fn read_into(
        &mut self,
        start: VirtAddr,
        pages: u64,
        out: &mut Vec<PagemapEntry>,
    ) -> Result<()> {
        // Words from an earlier read are overwritten, not zeroed first: only a longer
        // buffer is zero-filled, where it grows.
        out.resize(pages as usize, PagemapEntry(0));
        let mut done = 0;
        while done < pages {
            let n = (pages - done).min(CHUNK_PAGES);
            let words = &mut out[done as usize..(done + n) as usize];
            // SAFETY: PagemapEntry is a transparent u64, so `words` is `8 * n` initialized
            // bytes, which any bytes the kernel writes leave valid (the kernel writes each
            // word in native byte order, as a u64 reads it).
            let bytes = unsafe {
                std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), words.len() * 8)
            };
            if let Err(e) = self
                .file
                .read_exact_at(bytes, (start.page_index() + done) * 8)
            {
                out.clear();
                // The kernel returns 0 bytes once the process has no mm any more: it
                // exited after pagemap was opened (found by the churn test).
                return Err(match e.kind() {
                    std::io::ErrorKind::UnexpectedEof if self.dir.exited() => {
                        Error::NoSuchProcess {
                            pid: self.dir.pid(),
                        }
                    }
                    _ => process::error(self.dir.pid(), &self.path, e),
                });
            }
            done += n;
        }
        Ok(())
    }

    /// Reads the pagemap words of every mapping of `maps` (a memory map as
    /// [`process::ProcDir::read_maps`] gives it: ascending, not overlapping) but the gate area
    /// (`[vsyscall]`, which has no page tables) and calls `each(i, start, words)` with the
    /// words of the pages of `maps[i]` from `start` on, in address order: each mapping in
    /// one call, or in several for one larger than [`CHUNK_PAGES`] pages.
    ///
    /// A run of adjacent mappings (each starting where the one before ends) is read as one
    /// range, in one `pread` per [`CHUNK_PAGES`] pages: the kernel walks the same page
    /// tables and writes the same words as with one `pread` per mapping, at a fraction of
    /// the calls. A mapping over [`SPARSE_PAGES`] pages is read alone, only over what
    /// [`ranges_to_read`] reports populated. `buf` is the buffer the words are read into,
    /// reused from call to call. Errors are [`Pagemap::read_into`]'s and
    /// [`ranges_to_read`]'s; the mappings before the failing read have been handed out.
    pub fn read_maps(
        &mut self,
        maps: &[MapEntry],
        buf: &mut Vec<PagemapEntry>,
        mut each: impl FnMut(usize, VirtAddr, &[PagemapEntry]),
    ) -> Result<()> {
        let skipped = |m: &MapEntry| m.is_empty() || m.is_pseudo("[vsyscall]");
        let sparse = |m: &MapEntry| m.len() / PAGE_SIZE > SPARSE_PAGES;
        let mut i = 0;
        while i < maps.len() {
            let m = &maps[i];
            if skipped(m) {
                i += 1;
            } else if sparse(m) {
                for (from, to) in ranges_to_read(self, m.start.0, m.end.0)? {
                    self.read_span(maps, i, from, to, buf, &mut each)?;
                }
                i += 1;
            } else {
                let mut j = i + 1;
                while j < maps.len()
                    && maps[j].start == maps[j - 1].end
                    && !skipped(&maps[j])
                    && !sparse(&maps[j])
                {
                    j += 1;
                }
                self.read_span(maps, i, m.start.0, maps[j - 1].end.0, buf, &mut each)?;
                i = j;
            }
        }
        Ok(())
    }

    /// Reads `[from, to)`, which lies in the mappings from `maps[first]` on, in pieces of
    /// [`CHUNK_PAGES`], and hands each mapping its part of each piece.
    fn read_span(
        &mut self,
        maps: &[MapEntry],
        first: usize,
        from: u64,
        to: u64,
        buf: &mut Vec<PagemapEntry>,
        each: &mut impl FnMut(usize, VirtAddr, &[PagemapEntry]),
    ) -> Result<()> {
        let mut k = first;
        let mut at = from;
        while at < to {
            let until = to.min(at.saturating_add(CHUNK_PAGES * PAGE_SIZE));
            self.read_into(VirtAddr(at), (until - at) / PAGE_SIZE, buf)?;
            let mut part = at;
            while part < until {
                while maps.get(k).is_some_and(|m| m.end.0 <= part) {
                    k += 1;
                }
                // The span lies in the mappings; past them (never), nothing to hand out.
                let Some(m) = maps.get(k).filter(|m| m.start.0 <= part) else {
                    break;
                };
                let end = m.end.0.min(until);
                let words =
                    &buf[((part - at) / PAGE_SIZE) as usize..((end - at) / PAGE_SIZE) as usize];
                each(k, VirtAddr(part), words);
                part = end;
            }
            at = until;
        }
        Ok(())
    }

    /// The entries of `pages` pages from `start` in a new vector.
    pub fn read(&mut self, start: VirtAddr, pages: u64) -> Result<Vec<PagemapEntry>> {
        let mut out = Vec::with_capacity(pages.min(CHUNK_PAGES) as usize);
        self.read_into(start, pages, &mut out)?;
        Ok(out)
    }
}

/// `struct pm_scan_arg` of the PAGEMAP_SCAN ioctl (include/uapi/linux/fs.h, Linux 6.7+).
#[repr(C)]
#[derive(Default)]
struct PmScanArg {
    size: u64,
    flags: u64,
    start: u64,
    end: u64,
    walk_end: u64,
    vec: u64,
    vec_len: u64,
    max_pages: u64,
    category_inverted: u64,
    category_mask: u64,
    category_anyof_mask: u64,
    return_mask: u64,
}

/// `struct page_region`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct PageRegion {
    start: u64,
    end: u64,
    categories: u64,
}

const PAGE_IS_PRESENT: u64 = 1 << 3;
const PAGE_IS_SWAPPED: u64 = 1 << 4;
/// A PMD-mapped transparent huge page, or hugetlb (include/uapi/linux/fs.h).
const PAGE_IS_HUGE: u64 = 1 << 6;
/// `_IOWR('f', 16, struct pm_scan_arg)`.
const PAGEMAP_SCAN: u64 =
    (3 << 30) | ((std::mem::size_of::<PmScanArg>() as u64) << 16) | (0x66 << 8) | 16;

impl Pagemap {
    /// The ranges of `[start, end)` that hold present or swapped pages, from the
    /// PAGEMAP_SCAN ioctl, which skips unpopulated page tables instead of reporting every
    /// empty page: a sanitizer's or a runtime's terabytes of reserved address space cost
    /// nothing. `None` when the kernel does not have the ioctl (before 6.7).
    pub fn populated_ranges(&self, start: u64, end: u64) -> Result<Option<Vec<(u64, u64)>>> {
        self.scan_ranges(start, end, PAGE_IS_PRESENT | PAGE_IS_SWAPPED)
    }

    /// The ranges of `[start, end)` mapped by PMDs (a transparent huge page mapped whole, or
    /// hugetlb), from PAGEMAP_SCAN's `PAGE_IS_HUGE`; `None` before 6.7.
    pub fn pmd_mapped_ranges(&self, start: u64, end: u64) -> Result<Option<Vec<(u64, u64)>>> {
        self.scan_ranges(start, end, PAGE_IS_HUGE)
    }

    /// The ranges of `[start, end)` whose pages are in any of the PAGEMAP_SCAN `categories`.
    fn scan_ranges(
        &self,
        start: u64,
        end: u64,
        categories: u64,
    ) -> Result<Option<Vec<(u64, u64)>>> {
        use std::os::fd::AsRawFd;
        let mut out: Vec<(u64, u64)> = Vec::new();
        let mut regions = vec![PageRegion::default(); 1024];
        let mut from = start;
        while from < end {
            let mut arg = PmScanArg {
                size: std::mem::size_of::<PmScanArg>() as u64,
                start: from,
                end,
                vec: regions.as_mut_ptr() as u64,
                vec_len: regions.len() as u64,
                category_anyof_mask: categories,
                return_mask: categories,
                ..PmScanArg::default()
            };
            // SAFETY: `arg` is a valid pm_scan_arg whose `vec` points at `vec_len` regions
            // that live across the call.
            let n = unsafe { libc::ioctl(self.file.as_raw_fd(), PAGEMAP_SCAN as _, &mut arg) };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                return match e.raw_os_error() {
                    Some(libc::ENOTTY) | Some(libc::EINVAL) if out.is_empty() && from == start => {
                        Ok(None)
                    }
                    _ => Err(process::error(self.dir.pid(), &self.path, e)),
                };
            }
            for r in &regions[..n as usize] {
                match out.last_mut() {
                    Some(last) if last.1 == r.start => last.1 = r.end,
                    _ => out.push((r.start, r.end)),
                }
            }
            if arg.walk_end <= from {
                break;
            }
            from = arg.walk_end;
        }
        Ok(Some(out))
    }
}

/// The ranges of a mapping `[start, end)` worth reading: all of it, or for mappings over
/// [`SPARSE_PAGES`] pages only what PAGEMAP_SCAN reports populated.
pub fn ranges_to_read(pm: &Pagemap, start: u64, end: u64) -> Result<Vec<(u64, u64)>> {
    if (end - start) / PAGE_SIZE > SPARSE_PAGES
        && let Some(r) = pm.populated_ranges(start, end)?
    {
        return Ok(r);
    }
    Ok(vec![(start, end)])
}

/// Above this many pages, a mapping's populated ranges are asked for first.
pub const SPARSE_PAGES: u64 = 1 << 18;
