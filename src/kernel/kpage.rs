//! Reading /proc/kpagecount and /proc/kpageflags (Documentation/admin-guide/mm/pagemap.rst):
//! one u64 per PFN at offset `PFN * 8`, read in windows of nearby sorted frames. Root with
//! CAP_SYS_ADMIN only. Decoding the words is [`crate::page_words`].

use super::pagemap::Pagemap;
use crate::addr::{PAGE_SIZE, Pfn, VirtAddr};
use crate::error::{Error, Result};
use crate::page_words::{FrameInfo, KpageFlags, pfn_windows, word_at};
use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;

pub const KPAGECOUNT: &str = "/proc/kpagecount";
pub const KPAGEFLAGS: &str = "/proc/kpageflags";

/// A gap of more PFNs than this starts a new read window. The kernel does work for every
/// PFN a read covers (snapshot_page, get_kpage_count, put_user), so a window should not
/// cover many PFNs nobody asked for; a gap of 8 keeps the reads few and near what was
/// asked.
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
            each(i, word_at(buf, (sorted[i].0 - first.0) as usize));
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
        OwnFrames::read_with(false)
    }

    /// [`OwnFrames::read`] after mapping every page of each of solab's own readable file
    /// mappings (`MADV_POPULATE_READ`, Linux 5.14): the frames solab maps then stay the
    /// same while it runs, so a kpagecount read at any later time has these mappings to
    /// take off, not also the pages solab itself faulted in since (a libc function called
    /// for the first time). Not covered: a file solab maps later, a page the kernel
    /// reclaims meanwhile, and a kernel without the advice (the call is then a no-op).
    pub fn read_settled() -> Result<OwnFrames> {
        OwnFrames::read_with(true)
    }

    fn read_with(populate: bool) -> Result<OwnFrames> {
        use crate::maps::MapTarget;
        let own = super::process::ProcDir::open(std::process::id() as i32)?;
        let mut seen = HashMap::new();
        let mut pm = Pagemap::open(&own)?;
        let mut words = Vec::new();
        for m in own.read_maps()? {
            if !matches!(m.target, MapTarget::File { .. }) || m.is_empty() {
                continue;
            }
            if populate && m.perms.read {
                // SAFETY: advice on a range of this process's own mapping, read from its
                // maps just now; MADV_POPULATE_READ only faults pages in as a read would
                // (a page past the file's end fails the call with EFAULT instead of a
                // SIGBUS). Its result is not needed: without it the frames are as they
                // are.
                unsafe {
                    libc::madvise(
                        m.start.0 as *mut libc::c_void,
                        m.len() as usize,
                        libc::MADV_POPULATE_READ,
                    );
                }
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
    let pfn = super::process::ProcDir::open(std::process::id() as i32)
        .and_then(|own| Pagemap::open(&own))
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

/// The frames one worker of a scan met that may be mapped more than once, each numbered
/// (its id) the first time it is met: a process's pages are kept as ids (4 bytes, not a
/// PFN's 8), and once the counts are read ([`NewCounts`]: each frame's once, after the
/// first process that met it) a page's share is one lookup in an array of the worker's
/// frames, which a machine-wide scan keeps small (every process maps the same frames of
/// libc).
#[derive(Clone, Debug, Default)]
pub struct FrameIds {
    ids: crate::hash::WordMap<u64, u32>,
    /// The PFN of each id.
    pfns: Vec<u64>,
}

/// Reads the kpagecount of the frames a [`FrameIds`] numbered since the last read: a worker
/// asks after each process about the frames that process met first, so that the process
/// can be finished at once. /proc/kpagecount is opened on the first read; the buffers are
/// reused, bounded by the most frames one process met first.
#[derive(Debug, Default)]
pub struct NewCounts {
    file: Option<File>,
    /// The frames numbered so far whose count was read.
    counted: usize,
    order: Vec<(Pfn, u32)>,
    sorted: Vec<Pfn>,
    buf: Vec<u8>,
}

impl NewCounts {
    /// Calls `each(id, pfn, count)` for every frame `ids` numbered since the last call,
    /// in the order of the frames (one read per window of near frames).
    pub fn read(&mut self, ids: &FrameIds, mut each: impl FnMut(u32, u64, u64)) -> Result<()> {
        let new = ids.pfns.get(self.counted..).unwrap_or_default();
        if new.is_empty() {
            return Ok(());
        }
        let file = match &self.file {
            Some(f) => f,
            None => self.file.insert(open(KPAGECOUNT)?),
        };
        let first = self.counted as u32;
        self.order.clear();
        self.order
            .extend(new.iter().zip(first..).map(|(&p, id)| (Pfn(p), id)));
        self.order.sort_unstable();
        self.sorted.clear();
        self.sorted.extend(self.order.iter().map(|&(p, _)| p));
        let order = &self.order;
        read_table(file, KPAGECOUNT, &self.sorted, &mut self.buf, |i, count| {
            let (pfn, id) = order[i];
            each(id, pfn.0, count)
        })?;
        self.counted = ids.pfns.len();
        Ok(())
    }
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

#[cfg(test)]
mod tests {
    use super::{FrameIds, NewCounts, OwnFrames};
    use crate::addr::PAGE_SIZE;
    use crate::kernel::pagemap::Pagemap;
    use crate::maps::MapTarget;

    /// Once solab's own frames are settled, reading every page of its file mappings (each
    /// page a first call into code or data would fault in) maps no frame the settled set
    /// lacks. Only the mappings there before are read again: the tests running beside this
    /// one may map files of their own. Needs root (the frames of the pagemap).
    #[test]
    fn settled_own_frames_cover_every_page_read_later() {
        let own = crate::kernel::process::ProcDir::open(std::process::id() as i32).expect("own");
        let Ok(maps) = own.read_maps() else {
            return;
        };
        let settled = OwnFrames::read_settled().expect("own frames");
        if settled.0.is_empty() {
            return; // no frames without CAP_SYS_ADMIN
        }
        let mut pm = Pagemap::open(&own).expect("own pagemap");
        let mut words = Vec::new();
        let mut read = 0;
        for m in &maps {
            let (
                MapTarget::File {
                    path,
                    deleted: false,
                },
                true,
            ) = (&m.target, m.perms.read)
            else {
                continue;
            };
            // Only pages that hold some of the file: one wholly past its end is a SIGBUS.
            let Ok(size) = std::fs::metadata(&**path).map(|md| md.len()) else {
                continue;
            };
            let pages =
                (m.len() / PAGE_SIZE).min(size.saturating_sub(m.offset).div_ceil(PAGE_SIZE));
            for k in 0..pages {
                // SAFETY: a readable page of a mapping this process has (its maps, read
                // above), inside the mapped file.
                unsafe { std::ptr::read_volatile((m.start.0 + k * PAGE_SIZE) as *const u8) };
                read += 1;
            }
            pm.read_into(m.start, pages, &mut words).expect("pagemap");
            for e in &words {
                if let Some(p) = e.pfn().filter(|_| e.file_or_shared_anon()) {
                    assert!(
                        settled.mapped(p.0) > 0,
                        "frame {} of {} read after the frames were settled",
                        p.0,
                        path.display()
                    );
                }
            }
        }
        assert!(read > 0, "no file page read");
    }

    /// Ids are given once per frame, in the order frames are met; each id names its
    /// frame back.
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
    }

    /// Each read gives every frame numbered since the last read once, with its own id and
    /// frame, and nothing when no frame is new. Reading the counts needs root.
    #[test]
    fn new_counts_read_each_new_frame_once() {
        let mut ids = FrameIds::default();
        let mut counts = NewCounts::default();
        let mut got: Vec<(u32, u64)> = Vec::new();
        for p in [900u64, 5, 300, 5, 6] {
            ids.id(p);
        }
        if counts.read(&ids, |id, pfn, _| got.push((id, pfn))).is_err() {
            return;
        }
        // In the order of the frames, each once.
        assert_eq!(got, vec![(1, 5), (3, 6), (2, 300), (0, 900)]);
        got.clear();
        counts
            .read(&ids, |id, pfn, _| got.push((id, pfn)))
            .expect("read");
        assert!(got.is_empty(), "nothing new: {got:?}");
        for p in [300u64, 7, 901] {
            ids.id(p);
        }
        counts
            .read(&ids, |id, pfn, _| got.push((id, pfn)))
            .expect("read");
        assert_eq!(got, vec![(4, 7), (5, 901)]);
        for (id, pfn) in got {
            assert_eq!(ids.pfn(id), Some(pfn));
        }
    }
}
