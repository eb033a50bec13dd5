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
    /// The child's frame is KSM-merged (kpageflags bit 21): equal pages merged by the
    /// kernel, whatever fork did.
    pub ksm: u64,
}

/// Whether a word is an anonymous page RSS counts: present, bit 61 clear (not a file
/// page, not shared anonymous memory), not the zero page, not PFN-mapped.
fn anonymous(word: u64, frames: &mut Frames) -> io::Result<bool> {
    Ok(word & FILE_OR_SHARED == 0 && frames.counted(word)?.is_some())
}

/// Every anonymous page of `child`'s private mappings against `parent`'s page at the same
/// address, by frame number; a KSM-merged one apart. The parent's page counts only inside a private mapping of
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
            if let Some(p) = pfn(c)
                && frames.get(p)?.1 & KPF_KSM != 0
            {
                out.ksm += PAGE;
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

// ---- an object's pages, for inspect and prove ------------------------------------------

const KPF_ANON: u64 = 1 << 12;
const KPF_KSM: u64 = 1 << 21;

/// One page of a process as inspect names its state (docs/src/reference.md, "page
/// states"), decided here from the mapping that covers the address, the pagemap word and
/// the frame's kpageflags and kpagecount alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageAt {
    pub state: &'static str,
    pub pfn: Option<u64>,
    pub count: Option<u64>,
}

impl PageAt {
    /// A frame is there to compare.
    pub fn present(&self) -> bool {
        !matches!(self.state, "unmapped" | "not-present" | "swapped")
    }
    /// Someone wrote it: an anonymous frame (the zero page is not one).
    pub fn written(&self) -> bool {
        matches!(self.state, "anon-exclusive" | "anon-cow" | "ksm")
    }
}

/// The page at `vaddr` of the process whose mappings are `vmas` and whose pagemap is `pm`:
/// no mapping: `unmapped`; no page-table entry: `swapped` (bit 62) or `not-present`; a
/// `MAP_SHARED` mapping: `shared-window`; then by the frame: the zero page (kpageflags 24),
/// a file page (ANON, bit 12, clear), `ksm` (bit 21), `anon-exclusive` (kpagecount 1) or
/// `anon-cow` (more).
pub fn page_at(vmas: &[Vma], pm: &File, vaddr: u64, frames: &mut Frames) -> io::Result<PageAt> {
    let none = |state| PageAt {
        state,
        pfn: None,
        count: None,
    };
    let Some(v) = vmas.iter().find(|v| v.start <= vaddr && vaddr < v.end) else {
        return Ok(none("unmapped"));
    };
    let mut b = [0u8; 8];
    pm.read_exact_at(&mut b, vaddr / PAGE * 8)?;
    let w = u64::from_le_bytes(b);
    if w & PRESENT == 0 {
        return Ok(none(if w & SWAPPED != 0 {
            "swapped"
        } else {
            "not-present"
        }));
    }
    let Some(p) = pfn(w) else {
        return Ok(none("not-present"));
    };
    let (count, flags) = frames.get(p)?;
    let state = if !v.private() {
        "shared-window"
    } else if flags & KPF_ZERO_PAGE != 0 {
        "zero-page"
    } else if flags & KPF_ANON == 0 {
        "file"
    } else if flags & KPF_KSM != 0 {
        "ksm"
    } else if count == 1 {
        "anon-exclusive"
    } else {
        "anon-cow"
    };
    Ok(PageAt {
        state,
        pfn: Some(p),
        count: Some(count),
    })
}

/// The verdict on one page across processes (reference.md, "verdicts"), from their pages:
/// present in none, in one, or in two or more with one frame, every frame different, or
/// some the same.
pub fn verdict(pages: &[PageAt]) -> &'static str {
    let present: Vec<&PageAt> = pages.iter().filter(|p| p.present()).collect();
    let mut frames: Vec<Option<u64>> = present.iter().map(|p| p.pfn).collect();
    frames.sort();
    frames.dedup();
    match present.len() {
        0 => "not-present",
        1 => "one-process",
        _ if frames.len() == 1 => "shared",
        n if frames.len() == n => "private",
        _ => "mixed",
    }
}

/// The pages of an executable (`ET_EXEC`: its addresses are its `p_vaddr`) by what the
/// program headers say of them: `text` the pages of executable `PT_LOAD`s, `data` those of
/// writable ones outside `PT_GNU_RELRO` (its `.data` and `.bss`, the part beyond the file
/// included), as page-aligned
/// `[start, end)` ranges.
#[derive(Clone, Debug, Default)]
pub struct Segments {
    pub text: Vec<(u64, u64)>,
    pub data: Vec<(u64, u64)>,
    /// Every `PT_LOAD`'s pages.
    pub all: Vec<(u64, u64)>,
}

/// Reads the ELF header and program headers of the executable at `path` (64-bit,
/// little-endian; the layout of include/uapi/linux/elf.h).
pub fn segments(path: &std::path::Path) -> io::Result<Segments> {
    let f = File::open(path)?;
    let mut h = [0u8; 64];
    f.read_exact_at(&mut h, 0)?;
    let u16_at = |b: &[u8], o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as u64;
    let u32_at = |b: &[u8], o: usize| u32::from_le_bytes(b[o..o + 4].try_into().expect("4"));
    let u64_at = |b: &[u8], o: usize| u64::from_le_bytes(b[o..o + 8].try_into().expect("8"));
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
    if &h[..4] != b"\x7fELF" || h[4] != 2 || h[5] != 1 {
        return Err(bad("not a 64-bit little-endian ELF"));
    }
    if u16_at(&h, 16) != 2 {
        return Err(bad("not ET_EXEC: its addresses are not its p_vaddr"));
    }
    let (phoff, phentsize, phnum) = (u64_at(&h, 32), u16_at(&h, 54), u16_at(&h, 56));
    let (mut loads, mut relro) = (Vec::new(), None);
    for i in 0..phnum {
        let mut p = [0u8; 56];
        f.read_exact_at(&mut p, phoff + i * phentsize)?;
        let (ty, flags, vaddr, memsz) =
            (u32_at(&p, 0), u32_at(&p, 4), u64_at(&p, 16), u64_at(&p, 40));
        let pages = (vaddr / PAGE * PAGE, (vaddr + memsz).div_ceil(PAGE) * PAGE);
        match ty {
            1 => loads.push((flags, pages)),
            0x6474_e552 => relro = Some((vaddr / PAGE * PAGE, (vaddr + memsz) / PAGE * PAGE)),
            _ => {}
        }
    }
    let mut s = Segments::default();
    for (flags, (start, end)) in loads {
        s.all.push((start, end));
        if flags & 1 != 0 {
            s.text.push((start, end));
        } else if flags & 2 != 0 {
            // The pages RELRO covers whole are relro, not data.
            let start = match relro {
                Some((a, b)) if a <= start && start < b => b,
                _ => start,
            };
            s.data.push((start, end.max(start)));
        }
    }
    Ok(s)
}
