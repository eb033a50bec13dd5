//! Reading /proc/kpagecount and /proc/kpageflags (Documentation/admin-guide/mm/pagemap.rst):
//! one u64 per PFN at offset `PFN * 8`, read in windows of nearby sorted frames. Root with
//! CAP_SYS_ADMIN only. Decoding the words is [`crate::pagemap`].

use super::pagemap::Pagemap;
use crate::addr::{PAGE_SIZE, Pfn, VirtAddr};
use crate::error::{Error, Result};
use crate::pagemap::{FrameInfo, KpageFlags, pfn_windows};
use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;

pub const KPAGECOUNT: &str = "/proc/kpagecount";
pub const KPAGEFLAGS: &str = "/proc/kpageflags";

/// A gap of more PFNs than this starts a new read window. The kernel does work for every
/// PFN a read covers (snapshot_page, get_kpage_count, put_user), so a window should not
/// cover many PFNs nobody asked for: with 400 extra processes (640 in all) `solab ps
/// --all --json` took 341-348 ms with a gap of 64 and 238-247 ms with 8, `libs --all`
/// 108-116 ms either way (hyperfine, 6 runs each, alternating).
const MAX_GAP: u64 = 8;
/// The most PFNs read with one `pread`.
const MAX_WINDOW: u64 = 4096;

fn open(path: &'static str) -> Result<File> {
    File::open(path).map_err(|e| Error::io(path, e))
}

/// Reads one kernel table for `sorted` (ascending, distinct) PFNs through `file` (opened
/// from `path`) and `buf` (reused), calling `each(i, word)` for the i-th of them.
fn read_table(
    file: &File,
    path: &'static str,
    sorted: &[Pfn],
    buf: &mut Vec<u8>,
    mut each: impl FnMut(usize, u64),
) -> Result<()> {
    let mut i = 0;
    for (first, last) in pfn_windows(sorted, MAX_GAP, MAX_WINDOW) {
        let n = (last.0 - first.0 + 1) as usize;
        buf.resize(n * 8, 0);
        file.read_exact_at(buf, first.0 * 8)
            .map_err(|e| Error::io(path, e))?;
        while i < sorted.len() && sorted[i] <= last {
            let k = ((sorted[i].0 - first.0) * 8) as usize;
            each(
                i,
                u64::from_le_bytes(buf[k..k + 8].try_into().unwrap_or_default()),
            );
            i += 1;
        }
    }
    Ok(())
}

/// kpagecount of `sorted` (ascending, distinct) PFNs, in the same order.
pub fn counts(sorted: &[Pfn]) -> Result<Vec<u64>> {
    let mut out = vec![0; sorted.len()];
    read_table(
        &open(KPAGECOUNT)?,
        KPAGECOUNT,
        sorted,
        &mut Vec::new(),
        |i, w| out[i] = w,
    )?;
    Ok(out)
}

/// /proc/kpagecount and /proc/kpageflags opened once, for a reader that asks about a few
/// frames at a time (one chunk of pages after another) into vectors it reuses: its memory
/// is bounded by the largest request, not by all the frames it ever asks about.
pub struct FrameTables {
    count: File,
    flags: File,
    buf: Vec<u8>,
}

impl FrameTables {
    pub fn open() -> Result<FrameTables> {
        Ok(FrameTables {
            count: open(KPAGECOUNT)?,
            flags: open(KPAGEFLAGS)?,
            buf: Vec::new(),
        })
    }

    /// kpagecount and kpageflags of `sorted` (ascending, distinct) PFNs into `out`
    /// (cleared first), in the same order: look one up with [`FrameTables::find`].
    pub fn read_into(&mut self, sorted: &[Pfn], out: &mut Vec<FrameInfo>) -> Result<()> {
        out.clear();
        out.resize(sorted.len(), FrameInfo::default());
        read_table(&self.count, KPAGECOUNT, sorted, &mut self.buf, |i, w| {
            out[i].mapcount = w
        })?;
        read_table(&self.flags, KPAGEFLAGS, sorted, &mut self.buf, |i, w| {
            out[i].flags = KpageFlags(w)
        })
    }

    /// The frame `pfn` in what [`FrameTables::read_into`] read for `sorted` (binary search).
    pub fn find<'a>(sorted: &[Pfn], info: &'a [FrameInfo], pfn: Pfn) -> Option<&'a FrameInfo> {
        sorted.binary_search(&pfn).ok().and_then(|i| info.get(i))
    }
}

/// How often solab itself maps each frame of its file mappings (libc, ld.so, libm,
/// libgcc_s: solab is a program too). While it runs, those frames' kpagecount is that much
/// higher, which would lower the PSS of every process scanned: [`OwnFrames::others`] takes
/// solab's mappings off, so the figures are the machine's without solab. Used by every
/// command that divides by kpagecount (`ps`, `libs` with given pids).
#[derive(Clone, Debug, Default)]
pub struct OwnFrames(HashMap<u64, u64>);

impl OwnFrames {
    /// Reads solab's own file mappings' frames from its pagemap.
    pub fn read() -> Result<OwnFrames> {
        use crate::maps::MapTarget;
        let own = std::process::id() as i32;
        let mut seen = HashMap::new();
        let mut pm = Pagemap::open(own)?;
        let mut words = Vec::new();
        for m in super::process::read_maps(own)? {
            if !matches!(m.target, MapTarget::File { .. }) || m.is_empty() {
                continue;
            }
            pm.read_into(m.start, (m.end.0 - m.start.0) / PAGE_SIZE, &mut words)?;
            for e in &words {
                if let Some(p) = e.pfn().filter(|_| e.file_or_shared_anon()) {
                    *seen.entry(p.0).or_insert(0) += 1;
                }
            }
        }
        Ok(OwnFrames(seen))
    }

    /// How often solab maps frame `pfn`.
    pub fn mapped(&self, pfn: u64) -> u64 {
        self.0.get(&pfn).copied().unwrap_or(0)
    }

    /// The mappings of frame `pfn` by processes other than solab, out of its kpagecount
    /// `count` (at least 1: the scanned process maps it).
    pub fn others(&self, pfn: u64, count: u64) -> u64 {
        match self.0.get(&pfn) {
            Some(&mine) => count.saturating_sub(mine).max(1),
            None => count,
        }
    }
}

/// The frame of the kernel's shared zero page: read (never written) fresh anonymous
/// memory maps it. Found by reading one such page of this process and checked with
/// /proc/kpageflags; `None` without CAP_SYS_ADMIN or if the check fails.
pub fn zero_page_pfn() -> Option<Pfn> {
    let len = PAGE_SIZE as usize;
    // SAFETY: a fresh private anonymous mapping that only this function uses, unmapped
    // before returning; reading it is defined (zero-filled).
    let addr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if addr == libc::MAP_FAILED {
        return None;
    }
    // SAFETY: `addr` is a readable mapping of `len` bytes.
    let _ = unsafe { std::ptr::read_volatile(addr as *const u8) };
    let pfn = Pagemap::open(std::process::id() as i32)
        .and_then(|mut pm| pm.read(VirtAddr(addr as u64), 1))
        .ok()
        .and_then(|e| e.first().and_then(|e| e.pfn()));
    // SAFETY: unmapping the mapping made above.
    unsafe { libc::munmap(addr, len) };
    let pfn = pfn?;
    let mut info = Vec::new();
    FrameTables::open()
        .ok()?
        .read_into(&[pfn], &mut info)
        .ok()?;
    info.first()
        .is_some_and(|f| f.flags.zero_page())
        .then_some(pfn)
}

/// The kpagecount of a set of frames, each read once for a whole run: a machine-wide
/// command sees libc's frames in every process, and reading them once instead of once per
/// process is most of what `ps --all` saves. Looked up by PFN (binary search); a scan
/// looks its frames up by their [`FrameIds`] instead.
#[derive(Debug, Default)]
pub struct FrameCounts {
    /// Ascending, distinct.
    pfns: Vec<u64>,
    counts: Vec<u64>,
    /// The counts less solab's own mappings ([`FrameCounts::take_off`]); empty before.
    others: Vec<u64>,
}

/// The frames one worker of a scan met that may be mapped more than once, each numbered
/// (its id) the first time it is met: a process's pages are kept as ids (4 bytes, not a
/// PFN's 8), and once the counts are read ([`FrameCounts::read_ids`]) a page's share is
/// one lookup in an array of the worker's frames, which a machine-wide scan keeps small
/// (every process maps the same frames of libc).
#[derive(Clone, Debug, Default)]
pub struct FrameIds {
    ids: crate::hash::WordMap<u64, u32>,
    /// The PFN of each id.
    pfns: Vec<u64>,
}

/// The most ids a [`FrameIds`] gives: a page is kept as `id << 2 | class` in 32 bits.
pub const MAX_FRAME_IDS: usize = 1 << 30;

impl FrameIds {
    /// The id of frame `pfn`, given now if it has none; `None` once [`MAX_FRAME_IDS`]
    /// frames have ids (4 TiB of distinct frames met by one worker).
    pub fn id(&mut self, pfn: u64) -> Option<u32> {
        let next = self.pfns.len();
        match self.ids.entry(pfn) {
            std::collections::hash_map::Entry::Occupied(o) => Some(*o.get()),
            std::collections::hash_map::Entry::Vacant(v) => {
                if next >= MAX_FRAME_IDS {
                    return None;
                }
                v.insert(next as u32);
                self.pfns.push(pfn);
                Some(next as u32)
            }
        }
    }

    /// The PFN of `id`.
    pub fn pfn(&self, id: u32) -> Option<u64> {
        self.pfns.get(id as usize).copied()
    }

    /// The frames with ids, in the order of their ids.
    pub fn pfns(&self) -> &[u64] {
        &self.pfns
    }

    pub fn len(&self) -> usize {
        self.pfns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pfns.is_empty()
    }
}

impl FrameCounts {
    /// Reads the kpagecount of every frame in `pfns` (any order, repeats allowed), with
    /// `threads` threads each reading its own part of the sorted frames.
    pub fn read(pfns: impl Iterator<Item = u64>, threads: usize) -> Result<FrameCounts> {
        let mut fc = FrameCounts {
            pfns: pfns.collect(),
            ..FrameCounts::default()
        };
        fc.pfns.sort_unstable();
        fc.pfns.dedup();
        fc.read_counts(threads)?;
        Ok(fc)
    }

    /// [`FrameCounts::read`] for the frames the workers of a scan numbered.
    pub fn read_ids<'a>(
        ids: impl IntoIterator<Item = &'a FrameIds>,
        threads: usize,
    ) -> Result<FrameCounts> {
        FrameCounts::read(
            ids.into_iter().flat_map(|i| i.pfns.iter().copied()),
            threads,
        )
    }

    /// Reads the counts of the frames, in parts on up to `threads` threads.
    fn read_counts(&mut self, threads: usize) -> Result<()> {
        let fc = self;
        let parts = threads.clamp(1, fc.pfns.len().div_ceil(4096).max(1));
        let per = fc.pfns.len().div_ceil(parts).max(1);
        let read = |part: &[u64]| counts(&part.iter().map(|&p| Pfn(p)).collect::<Vec<_>>());
        fc.counts = if parts == 1 {
            read(&fc.pfns)?
        } else {
            let done: Vec<Result<Vec<u64>>> = std::thread::scope(|s| {
                let mut chunks = fc.pfns.chunks(per);
                let first = chunks.next().unwrap_or_default();
                let handles: Vec<_> = chunks.map(|part| s.spawn(move || read(part))).collect();
                // The first part on this thread: one thread fewer to start.
                let mut done = vec![read(first)];
                done.extend(
                    handles
                        .into_iter()
                        .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))),
                );
                done
            });
            let mut all = Vec::with_capacity(fc.pfns.len());
            for part in done {
                all.extend(part?);
            }
            all
        };
        Ok(())
    }

    /// The kpagecount read for frame `pfn`, `None` if it was not in the set.
    pub fn count(&self, pfn: u64) -> Option<u64> {
        self.counts.get(self.position(pfn)?).copied()
    }

    /// The mappings of frame `pfn` by processes other than solab: its kpagecount less
    /// solab's own mappings of it, once [`FrameCounts::take_off`] was called (at least 1
    /// for a frame that is mapped at all), else its kpagecount.
    pub fn others(&self, pfn: u64) -> Option<u64> {
        let i = self.position(pfn)?;
        self.others.get(i).or(self.counts.get(i)).copied()
    }

    /// Takes solab's own mappings off the counts [`FrameCounts::others`] gives: once per
    /// frame solab maps, instead of a lookup per page scanned.
    pub fn take_off(&mut self, own: &OwnFrames) {
        self.others = self.counts.clone();
        for (&pfn, &mine) in &own.0 {
            if let Some(i) = self.position(pfn)
                && self.others[i] > 0
            {
                self.others[i] = self.others[i].saturating_sub(mine).max(1);
            }
        }
    }

    /// The index of frame `pfn` among the frames read.
    fn position(&self, pfn: u64) -> Option<usize> {
        self.pfns.binary_search(&pfn).ok()
    }

    /// The number of distinct frames read.
    pub fn len(&self) -> usize {
        self.pfns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pfns.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::{FrameCounts, FrameIds};

    /// Ids are given once per frame, in the order frames are met; each id names its
    /// frame back; the frames of several workers are read once each.
    #[test]
    fn frame_ids_number_each_frame_once() {
        let met: Vec<u64> = (100..300).chain(100..110).chain([7, 1 << 50, 7]).collect();
        let mut ids = FrameIds::default();
        let given: Vec<u32> = met.iter().map(|&p| ids.id(p).expect("id")).collect();
        assert_eq!(ids.len(), 200 + 2);
        for (&p, &i) in met.iter().zip(&given) {
            assert_eq!(ids.pfn(i), Some(p), "id {i}");
        }
        // A run of new neighbours is a run of ids.
        assert_eq!(given[..200], (0..200).collect::<Vec<u32>>()[..]);
        assert_eq!(given[200..210], given[..10]);
        assert_eq!(given[210], given[212]);
        let mut other = FrameIds::default();
        for p in [7, 5, 1 << 50] {
            other.id(p);
        }
        // Reading the counts needs root: as root the union is read, each frame once.
        if let Ok(read) = FrameCounts::read_ids([&ids, &other], 2) {
            assert_eq!(read.len(), 202 + 1);
            assert!(read.count(5).is_some() && read.count(1 << 50).is_some());
            assert_eq!(read.count(6), None);
        }
    }

    /// The lookup finds each frame's own count and nothing for frames not in the set.
    #[test]
    fn frame_counts_look_up_each_frame() {
        let dense: Vec<u64> = (0..5000u64).map(|i| (i * 7919) % 100_003).collect();
        let sparse: Vec<u64> = (0..500u64).map(|i| i * (1 << 40) + i % 3).collect();
        for pfns in [dense, sparse] {
            let mut sorted = pfns.clone();
            sorted.sort_unstable();
            sorted.dedup();
            // Counts that name their frame, to check each lookup lands on its own.
            let fc = FrameCounts {
                counts: sorted.iter().map(|p| p + 1).collect(),
                pfns: sorted.clone(),
                others: Vec::new(),
            };
            for &p in &pfns {
                assert_eq!(fc.count(p), Some(p + 1), "frame {p}");
            }
            for p in [1u64 << 50, 100_004, 3] {
                if !sorted.contains(&p) {
                    assert_eq!(fc.count(p), None, "frame {p} is not in the set");
                }
            }
        }
    }
}
