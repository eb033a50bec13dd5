//! A deliberately simple page walk, written apart from the analyzer and sharing nothing
//! with `src/`: std only, one pagemap word and one kpagecount/kpageflags word per page,
//! read straight from /proc (Documentation/admin-guide/mm/pagemap.rst). It is a judge of
//! solab's figures beside the kernel's own smaps_rollup, so it is kept short enough to be
//! checked by reading.
//!
//! Per process (all mappings of /proc/PID/maps but `[vsyscall]`):
//! - RSS: present pages whose frame the kernel counts as mapped (kpagecount > 0) and that
//!   are not the zero page (kpageflags bit 24, also set on the huge zero page). PFN-mapped
//!   pages such as `[vvar]` have no mapcount (kpagecount 0) and smaps does not count them.
//! - PSS: the sum over those pages of page_size / kpagecount.
//! - USS: those pages with kpagecount 1 (smaps' Private_Clean + Private_Dirty).
//! - swap: pages not present whose swap bit (62) is set. A page of shared memory (shmem:
//!   MAP_SHARED anonymous memory, /dev/shm, memfd, tmpfs files) that went to swap leaves no
//!   swap entry in the page table (the kernel unmaps it and keeps the entry in the shmem
//!   object), so pagemap does not show it, while smaps' `Swap` counts the object's
//!   swapped pages in the mapping's range, in every process that maps that range. This
//!   walk does not see those; smaps_rollup is the judge of them.
//!
//! Transparent huge pages: this walk never reads pagemap's bit 56, which is set on every
//! page of a PMD-mapped THP from the folio as a whole. It divides by kpagecount, which on
//! kernels built with CONFIG_PAGE_MAPCOUNT (this project's) is per page: the page's own
//! page-table mappings plus the folio's PMD mappings, the count smaps divides each page's
//! share by (tests/difftest.rs holds the two to agreeing on forked, partly written THPs).
//! On a kernel built with CONFIG_NO_PAGE_MAPCOUNT (6.15 and later)
//! both kpagecount and smaps give a large folio's pages the folio's average mapcount: the
//! kernel's PSS is then an estimate, and this walk judges by the same estimate.
//!
//! Needs root: without CAP_SYS_ADMIN pagemap shows no frame numbers and kpagecount cannot
//! be opened.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

pub const PAGE: u64 = 4096;

const PRESENT: u64 = 1 << 63;
const SWAPPED: u64 = 1 << 62;
const FILE_OR_SHARED: u64 = 1 << 61;
const PFN_MASK: u64 = (1 << 55) - 1;
const KPF_ZERO_PAGE: u64 = 1 << 24;

/// One line of /proc/PID/maps.
#[derive(Clone, Debug)]
pub struct Vma {
    pub start: u64,
    pub end: u64,
    pub perms: String,
    pub name: String,
}

impl Vma {
    pub fn private(&self) -> bool {
        self.perms.as_bytes().get(3) == Some(&b'p')
    }
}

/// The mappings of `pid`, `[vsyscall]` left out (it has no pagemap words).
pub fn vmas(pid: i32) -> io::Result<Vec<Vma>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/maps"))?;
    let bad = |l: &str| io::Error::new(io::ErrorKind::InvalidData, format!("maps line {l:?}"));
    let mut out = Vec::new();
    for l in text.lines() {
        let mut f = l.split_whitespace();
        let range = f.next().ok_or_else(|| bad(l))?;
        let perms = f.next().ok_or_else(|| bad(l))?.to_string();
        let name = f.nth(3).unwrap_or("").to_string();
        if name == "[vsyscall]" {
            continue;
        }
        let (a, b) = range.split_once('-').ok_or_else(|| bad(l))?;
        let hex = |s: &str| u64::from_str_radix(s, 16).map_err(|_| bad(l));
        out.push(Vma {
            start: hex(a)?,
            end: hex(b)?,
            perms,
            name,
        });
    }
    Ok(out)
}

/// The pagemap words of `pid` for the pages of `[start, end)`; an address no mapping
/// covers reads as 0.
pub fn pagemap(pid: i32, start: u64, end: u64) -> io::Result<Vec<u64>> {
    let f = File::open(format!("/proc/{pid}/pagemap"))?;
    let mut buf = vec![0u8; ((end - start) / PAGE * 8) as usize];
    f.read_exact_at(&mut buf, start / PAGE * 8)?;
    Ok(buf
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect())
}

/// The frame number of a present page, if the word has one.
pub fn pfn(word: u64) -> Option<u64> {
    let p = word & PFN_MASK;
    (word & PRESENT != 0 && p != 0).then_some(p)
}

/// kpagecount and kpageflags, each frame read once per [`Frames`].
pub struct Frames {
    count: File,
    flags: File,
    seen: HashMap<u64, (u64, u64)>,
}

impl Frames {
    pub fn open() -> io::Result<Frames> {
        Ok(Frames {
            count: File::open("/proc/kpagecount")?,
            flags: File::open("/proc/kpageflags")?,
            seen: HashMap::new(),
        })
    }

    /// (kpagecount, kpageflags) of frame `pfn`.
    pub fn get(&mut self, pfn: u64) -> io::Result<(u64, u64)> {
        if let Some(&v) = self.seen.get(&pfn) {
            return Ok(v);
        }
        let mut b = [0u8; 8];
        self.count.read_exact_at(&mut b, pfn * 8)?;
        let count = u64::from_le_bytes(b);
        self.flags.read_exact_at(&mut b, pfn * 8)?;
        let flags = u64::from_le_bytes(b);
        self.seen.insert(pfn, (count, flags));
        Ok((count, flags))
    }

    /// The kpagecount of the frame of a page that RSS counts, or `None` (not present, the
    /// zero page, a PFN-mapped page).
    pub fn counted(&mut self, word: u64) -> io::Result<Option<u64>> {
        let Some(p) = pfn(word) else { return Ok(None) };
        let (count, flags) = self.get(p)?;
        Ok((count > 0 && flags & KPF_ZERO_PAGE == 0).then_some(count))
    }
}

/// What one process costs, as this walk counts it (bytes; PSS unrounded).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Usage {
    pub rss: u64,
    pub pss: f64,
    pub uss: u64,
    pub swap: u64,
    /// The part of `pss` from frames that processes outside a set given to [`usage`] map
    /// too (kpagecount above the set's own mappings): it moves as those processes come
    /// and go, the `[vdso]` with every process started on the machine.
    pub pss_outside: f64,
}

/// The frame of every present page of `pid`.
pub fn frames_of(pid: i32) -> io::Result<Vec<u64>> {
    let mut out = Vec::new();
    for v in vmas(pid)? {
        out.extend(pagemap(pid, v.start, v.end)?.into_iter().filter_map(pfn));
    }
    Ok(out)
}

/// RSS, PSS, USS and swap of `pid`; `among`, how often each frame is mapped by a set of
/// processes that includes `pid` (from [`frames_of`]), tells [`Usage::pss_outside`].
pub fn usage(
    pid: i32,
    frames: &mut Frames,
    among: Option<&HashMap<u64, u64>>,
) -> io::Result<Usage> {
    usage_of(pid, frames, among, &|_, _| true)
}

/// [`usage`] of the mappings `keep` takes, given all of them and the index of one.
pub fn usage_of(
    pid: i32,
    frames: &mut Frames,
    among: Option<&HashMap<u64, u64>>,
    keep: &dyn Fn(&[Vma], usize) -> bool,
) -> io::Result<Usage> {
    let mut u = Usage::default();
    let all = vmas(pid)?;
    for (_, v) in all.iter().enumerate().filter(|&(i, _)| keep(&all, i)) {
        for w in pagemap(pid, v.start, v.end)? {
            if w & PRESENT == 0 {
                if w & SWAPPED != 0 {
                    u.swap += PAGE;
                }
                continue;
            }
            if let Some(count) = frames.counted(w)? {
                u.rss += PAGE;
                u.pss += PAGE as f64 / count as f64;
                if count == 1 {
                    u.uss += PAGE;
                }
                let inside = among.and_then(|m| pfn(w).and_then(|p| m.get(&p)));
                if inside.is_some_and(|&n| count > n) {
                    u.pss_outside += PAGE as f64 / count as f64;
                }
            }
        }
    }
    Ok(u)
}

/// A child's anonymous pages by what they are at its parent's same address (bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Inheritance {
    /// The parent has the same frame there.
    pub parents_frame: u64,
    /// The parent has another anonymous page there.
    pub copied: u64,
    /// The parent has no anonymous page there.
    pub new: u64,
}

/// Whether a word is an anonymous page RSS counts: present, bit 61 clear (not a file
/// page, not shared anonymous memory), not the zero page, not PFN-mapped.
fn anonymous(word: u64, frames: &mut Frames) -> io::Result<bool> {
    Ok(word & FILE_OR_SHARED == 0 && frames.counted(word)?.is_some())
}

/// Every anonymous page of `child`'s private mappings against `parent`'s page at the same
/// address, by frame number. The parent's page counts only inside a private mapping of
/// the same file or kind (the same name in maps: the path, `[heap]`, or none): where the
/// child mapped a file over an address at which the parent has anonymous memory, the
/// child's copies of the file's pages were never the parent's, whatever the parent has
/// there.
pub fn inheritance(parent: i32, child: i32, frames: &mut Frames) -> io::Result<Inheritance> {
    let mut out = Inheritance::default();
    let theirs_maps = vmas(parent)?;
    for v in vmas(child)?.into_iter().filter(Vma::private) {
        let mine = pagemap(child, v.start, v.end)?;
        let theirs = pagemap(parent, v.start, v.end)?;
        for (k, (c, p)) in mine.into_iter().zip(theirs).enumerate() {
            if !anonymous(c, frames)? {
                continue;
            }
            let addr = v.start + k as u64 * PAGE;
            let paired = theirs_maps
                .iter()
                .any(|t| t.start <= addr && addr < t.end && t.private() && t.name == v.name);
            if !paired || !anonymous(p, frames)? {
                out.new += PAGE;
            } else if pfn(p) == pfn(c) {
                out.parents_frame += PAGE;
            } else {
                out.copied += PAGE;
            }
        }
    }
    Ok(out)
}

/// The fields of /proc/PID/smaps_rollup, in bytes.
pub fn rollup(pid: i32) -> io::Result<HashMap<String, u64>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            let kb: u64 = v.split_whitespace().next()?.parse().ok()?;
            Some((k.to_string(), kb * 1024))
        })
        .collect())
}
