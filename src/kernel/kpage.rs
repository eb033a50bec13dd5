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
/// process is most of what `ps --all` saves. Looked up by PFN in constant time when the
/// frames are dense enough for a bitmap over `0..=max PFN` (every machine with a
/// contiguous physical memory), else by binary search.
#[derive(Debug, Default)]
pub struct FrameCounts {
    /// Ascending, distinct.
    pfns: Vec<u64>,
    counts: Vec<u64>,
    /// The counts less solab's own mappings ([`FrameCounts::take_off`]); empty before.
    others: Vec<u64>,
    /// Bit `p` set when frame `p` is in `pfns`, and for each 64-bit word the number of
    /// bits set before it: the rank of a frame is its index in `pfns`.
    bits: Vec<u64>,
    ranks: Vec<u32>,
}

/// A set of frames gathered while scanning, one per worker, merged at the end
/// ([`FrameSet::merge`]) and read by [`FrameCounts::read_set`]: a frame mapped by every
/// process is kept once, not once per page, and the set is built by the workers instead of
/// after them. A bitmap over the PFNs of the machine's memory (twice its RAM: holes), and
/// a list for any frame above (device memory mapped by its PFN).
#[derive(Clone, Debug, Default)]
pub struct FrameSet {
    bits: Vec<u64>,
    /// Above the bitmap's bound, repeats allowed.
    far: Vec<u64>,
}

/// The most 64-bit words a [`FrameSet`]'s bitmap holds: one bit per PFN up to twice the
/// machine's RAM, at least 2^22 PFNs (16 GiB; the bitmap 512 KiB).
fn bitmap_words() -> usize {
    static WORDS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *WORDS.get_or_init(|| {
        // SAFETY: sysinfo writes into the struct it is given.
        let mut info: libc::sysinfo = unsafe { std::mem::zeroed() };
        let ram = if unsafe { libc::sysinfo(&mut info) } == 0 {
            (info.totalram as u64).saturating_mul(u64::from(info.mem_unit.max(1)))
        } else {
            0
        };
        let pfns = (ram / PAGE_SIZE).saturating_mul(2).max(1 << 22);
        usize::try_from(pfns.div_ceil(64)).unwrap_or(usize::MAX)
    })
}

impl FrameSet {
    /// Adds frame `pfn`.
    pub fn insert(&mut self, pfn: u64) {
        self.insert_word(pfn / 64, 1 << (pfn % 64));
    }

    /// Adds the frames of `pfns`; neighbours in one word of the bitmap are set with one
    /// write (a file's pages often lie in consecutive frames).
    pub fn insert_all(&mut self, pfns: impl Iterator<Item = u64>) {
        let (mut word, mut bits) = (u64::MAX, 0u64);
        for p in pfns {
            if p / 64 != word {
                if bits != 0 {
                    self.insert_word(word, bits);
                }
                (word, bits) = (p / 64, 0);
            }
            bits |= 1 << (p % 64);
        }
        if bits != 0 {
            self.insert_word(word, bits);
        }
    }

    /// Sets `bits` in word `w`: frames `w * 64 + b` for each bit `b`.
    fn insert_word(&mut self, w: u64, bits: u64) {
        let limit = bitmap_words();
        let Ok(i) = usize::try_from(w) else {
            return self.insert_far(w, bits);
        };
        if i >= self.bits.len() {
            if i >= limit {
                return self.insert_far(w, bits);
            }
            self.bits.resize((i + 1).next_power_of_two().min(limit), 0);
        }
        self.bits[i] |= bits;
    }

    fn insert_far(&mut self, w: u64, bits: u64) {
        let mut rest = bits;
        while rest != 0 {
            self.far.push(w * 64 + u64::from(rest.trailing_zeros()));
            rest &= rest - 1;
        }
    }

    /// The union of `sets`, in the largest of them.
    pub fn merge(sets: impl IntoIterator<Item = FrameSet>) -> FrameSet {
        let mut sets: Vec<FrameSet> = sets.into_iter().collect();
        let Some(largest) = (0..sets.len()).max_by_key(|&i| sets[i].bits.len()) else {
            return FrameSet::default();
        };
        let mut all = sets.swap_remove(largest);
        for s in sets {
            if s.bits.len() > all.bits.len() {
                all.bits.resize(s.bits.len(), 0);
            }
            for (a, b) in all.bits.iter_mut().zip(&s.bits) {
                *a |= b;
            }
            all.far.extend(s.far);
        }
        all
    }
}

impl FrameCounts {
    /// Reads the kpagecount of every frame in `pfns` (any order, repeats allowed), with
    /// `threads` threads each reading its own part of the sorted frames.
    pub fn read(pfns: impl Iterator<Item = u64> + Clone, threads: usize) -> Result<FrameCounts> {
        let mut fc = FrameCounts::index(pfns);
        fc.read_counts(threads)?;
        Ok(fc)
    }

    /// [`FrameCounts::read`] for the frames of a [`FrameSet`].
    pub fn read_set(set: FrameSet, threads: usize) -> Result<FrameCounts> {
        let mut fc = FrameCounts::of_set(set);
        fc.read_counts(threads)?;
        Ok(fc)
    }

    /// The frames of `set`, with the lookup structure; no counts yet.
    fn of_set(set: FrameSet) -> FrameCounts {
        if set.far.is_empty() {
            FrameCounts::of_bits(set.bits)
        } else {
            let bits = &set.bits;
            let listed = (0..bits.len()).flat_map(|w| {
                (0..64)
                    .filter(move |b| bits[w] & (1 << b) != 0)
                    .map(move |b| w as u64 * 64 + b)
            });
            FrameCounts::index(listed.chain(set.far.iter().copied()))
        }
    }

    /// Reads the counts of the indexed frames.
    fn read_counts(&mut self, threads: usize) -> Result<()> {
        let fc = self;
        let parts = threads.clamp(1, fc.pfns.len().div_ceil(4096).max(1));
        let per = fc.pfns.len().div_ceil(parts).max(1);
        let read = |part: &[u64]| counts(&part.iter().map(|&p| Pfn(p)).collect::<Vec<_>>());
        fc.counts = if parts == 1 {
            read(&fc.pfns)?
        } else {
            let done: Vec<Result<Vec<u64>>> = std::thread::scope(|s| {
                let handles: Vec<_> = fc
                    .pfns
                    .chunks(per)
                    .map(|part| s.spawn(move || read(part)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                    .collect()
            });
            let mut all = Vec::with_capacity(fc.pfns.len());
            for part in done {
                all.extend(part?);
            }
            all
        };
        Ok(())
    }

    /// The distinct frames of `pfns`, sorted, with the lookup structure; no counts yet.
    fn index(pfns: impl Iterator<Item = u64> + Clone) -> FrameCounts {
        let mut fc = FrameCounts::default();
        let (n, max) = pfns.clone().fold((0u64, None), |(n, m), p| {
            (n + 1, Some(m.map_or(p, |m: u64| m.max(p))))
        });
        let Some(max) = max else {
            return fc;
        };
        let words = max / 64 + 1;
        // A bitmap costs one bit per PFN up to the highest: used while it is no bigger than
        // four times the list it replaces (24 GiB of RAM: 768 KiB).
        if words <= n.max(1 << 16) * 4 && words <= u32::MAX as u64 {
            let mut bits = vec![0u64; words as usize];
            for p in pfns {
                bits[(p / 64) as usize] |= 1 << (p % 64);
            }
            fc = FrameCounts::of_bits(bits);
        } else {
            fc.pfns = pfns.collect();
            fc.pfns.sort_unstable();
            fc.pfns.dedup();
        }
        fc
    }

    /// The frames whose bits `bits` sets, with the lookup structure; no counts yet.
    fn of_bits(bits: Vec<u64>) -> FrameCounts {
        let mut fc = FrameCounts::default();
        let mut ranks = Vec::with_capacity(bits.len());
        let mut n = 0u32;
        for (w, &word) in bits.iter().enumerate() {
            ranks.push(n);
            n += word.count_ones();
            let mut rest = word;
            while rest != 0 {
                fc.pfns
                    .push(w as u64 * 64 + u64::from(rest.trailing_zeros()));
                rest &= rest - 1;
            }
        }
        fc.bits = bits;
        fc.ranks = ranks;
        fc
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

    /// The count of the `i`-th frame of the set ([`FrameCounts::position`]): what
    /// [`FrameCounts::count`] gives for it.
    pub fn count_at(&self, i: usize) -> Option<u64> {
        self.counts.get(i).copied()
    }

    /// What [`FrameCounts::others`] gives for the `i`-th frame of the set.
    pub fn others_at(&self, i: usize) -> Option<u64> {
        self.others.get(i).or(self.counts.get(i)).copied()
    }

    /// The index of frame `pfn` in the set (ascending): frame `pfn + 1`, when in the set
    /// too, is the next one.
    pub fn position(&self, pfn: u64) -> Option<usize> {
        Some(if self.bits.is_empty() {
            self.pfns.binary_search(&pfn).ok()?
        } else {
            let (w, b) = ((pfn / 64) as usize, pfn % 64);
            let word = *self.bits.get(w)?;
            if word & (1 << b) == 0 {
                return None;
            }
            self.ranks[w] as usize + (word & ((1 << b) - 1)).count_ones() as usize
        })
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
    use super::FrameCounts;

    /// A set gathered by several workers (runs of neighbours, repeats, frames above the
    /// bitmap) indexes the same frames as the list of them, and consecutive frames of the
    /// set have consecutive positions.
    #[test]
    fn frame_sets_merge_to_the_same_frames() {
        let far = super::bitmap_words() as u64 * 64 + 5;
        let parts: [Vec<u64>; 3] = [
            (100..300).chain(100..110).collect(),
            vec![7, 64, 63, 65, 5000, 299, 1 << 20],
            vec![far, far + 1, 8, far],
        ];
        let mut sets = Vec::new();
        for p in &parts {
            let mut s = super::FrameSet::default();
            s.insert_all(p.iter().copied());
            sets.push(s);
        }
        let mut one = super::FrameSet::default();
        one.insert(12_345);
        sets.push(one);
        let all: Vec<u64> = parts.iter().flatten().copied().chain([12_345]).collect();
        let merged = FrameCounts::of_set(super::FrameSet::merge(sets.clone()));
        let listed = FrameCounts::index(all.iter().copied());
        assert_eq!(merged.pfns, listed.pfns);
        for &p in &all {
            assert!(merged.position(p).is_some(), "frame {p}");
        }
        assert_eq!(merged.position(6), None);
        assert_eq!(merged.position(101), merged.position(100).map(|i| i + 1));
        // Without far frames the bitmap itself is the index.
        let near = FrameCounts::of_set(super::FrameSet::merge(sets.into_iter().take(2)));
        assert!(!near.bits.is_empty());
        assert_eq!(near.position(65), near.position(64).map(|i| i + 1));
        assert_eq!(near.len(), 200 + 6);
    }

    /// The lookup finds each frame's own count and nothing for frames not in the set,
    /// with the bitmap (dense frames) and with binary search (sparse ones).
    #[test]
    fn frame_counts_look_up_each_frame() {
        let dense: Vec<u64> = (0..5000u64).map(|i| (i * 7919) % 100_003).collect();
        let sparse: Vec<u64> = (0..500u64).map(|i| i * (1 << 40) + i % 3).collect();
        for pfns in [dense, sparse] {
            let mut fc = FrameCounts::index(pfns.iter().copied());
            // Counts that name their frame, to check each lookup lands on its own.
            fc.counts = fc.pfns.iter().map(|p| p + 1).collect();
            let mut sorted = pfns.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(fc.pfns, sorted);
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
