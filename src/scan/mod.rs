//! The scan layer every command reads its evidence through: an object cache that opens and
//! plans each ELF object once per (device, inode) and each distinct vdso once, and the one
//! way to start scanning a process. The readers of kernel files are in [`crate::kernel`];
//! the commands (`inspect`, `prove`, `libs`, `ps`) consume what this layer returns. Which
//! processes a command reads, and what a process that could not be read means for the
//! run, is [`Scope`]'s; each is opened once, through [`door`], which hands the command's
//! worker the opened process.

use crate::elf::{self, Detail, ElfPlan};
use crate::error::{Error, ErrorKind, Result};
pub use crate::hash::{WordHasher, WordMap};
use crate::kernel::process::{self, ProcDir};
use crate::kernel::{deadline, files};
use crate::maps::{FileId, MapEntry, MapTarget};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

pub mod door;
pub mod pattern;
mod scope;
pub use door::{Door, Held, Opened, Visit, each_opened, gone, hold, visit};
pub use scope::{Scope, all_but_self, each_once};

/// Which object a mapping belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjKey {
    /// A mapped ELF file, by (device, inode).
    File(FileId),
    /// A vdso image, by a hash of its bytes: processes of one ABI share one.
    Vdso(u64),
}

/// An object as the cache holds it.
#[derive(Debug)]
pub struct Object {
    pub key: ObjKey,
    /// The path as first seen (`[vdso]` for the vdso).
    pub path: String,
    pub plan: ElfPlan,
}

/// A mapped file or vdso that is not analyzed, and why (`reason` does not repeat the pid
/// or the path).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    /// The process it was seen in.
    pub pid: i32,
    pub path: String,
    pub kind: ErrorKind,
    pub reason: String,
}

#[derive(Clone, Debug)]
enum Slot {
    Elf(usize),
    /// Not an ELF file (no magic): data files mapped by programs, counted as other files.
    /// The index of its `skipped` entry.
    NotElf(usize),
    Skipped(usize),
}

/// What the cache says about one mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    Elf(usize),
    NotElf,
    Skipped,
}

/// A vdso image read from a process (outside any lock), with the hash that tells it apart.
pub struct VdsoImage(Result<(Vec<u8>, u64)>);

/// The most bytes of paths an [`ObjectCache`] keeps for a run: each object's path (held
/// twice) and each skipped file's. Another user decides how many distinct files their
/// processes map and how long their paths are (one process's names are capped apart, at
/// 64 MiB, while it is read); the process whose file would take the run past this is
/// not read, an error naming it, the file and the limit.
pub const MAX_RUN_PATH_BYTES: usize = 256 << 20;

/// Opens and plans each object once for the whole run.
///
/// What is recorded "as first seen" (an object's path, the pid of a skipped file) is what
/// the process earliest in the scan order saw: a scan that looks at processes out of order
/// (in parallel) sets each process's [`ObjectCache::position`] and reports what a
/// sequential scan does.
pub struct ObjectCache {
    detail: Detail,
    slots: HashMap<ObjKey, Slot>,
    /// The planned objects, by index.
    pub objects: Vec<Arc<Object>>,
    pub skipped: Vec<Skipped>,
    /// The position of the process each `skipped` entry was seen in.
    skipped_at: Vec<usize>,
    /// The `skipped` entries by a hash of their path (an entry whose path changed is also
    /// under its old one, checked on the way out): [`ObjectCache::skip_once`] finds a path
    /// without a scan of every entry.
    skipped_by_path: HashMap<u64, Vec<usize>>,
    hasher: RandomState,
    /// The bytes of the paths kept, against `path_limit` ([`MAX_RUN_PATH_BYTES`]).
    path_bytes: usize,
    path_limit: usize,
    /// For each object, the position of the process its path is from, and the path.
    paths: Vec<(usize, String)>,
    /// The scan position of the process being looked up (0 unless set).
    pub position: usize,
}

fn display_path(m: &MapEntry) -> String {
    match &m.target {
        MapTarget::File { path, .. } => path.to_string_lossy().into_owned(),
        MapTarget::Pseudo(p) => p.clone(),
        MapTarget::Anonymous => String::new(),
    }
}

/// FNV-1a over 8-byte words (and the tail bytes): a stable hash of a vdso image, to tell
/// different vdsos apart. Word by word: it runs once per process.
fn fnv(bytes: &[u8]) -> u64 {
    let step = |h: u64, w: u64| (h ^ w).wrapping_mul(0x0100_0000_01b3);
    let words = bytes.chunks_exact(8);
    let tail = words.remainder();
    let h = words.fold(0xcbf2_9ce4_8422_2325, |h, w| {
        step(h, u64::from_le_bytes(w.try_into().unwrap_or_default()))
    });
    tail.iter().fold(h, |h, &b| step(h, u64::from(b)))
}

/// Opens the file of file mapping `entry` of the process of `dir` (as
/// [`files::open_mapped_file`] does) and plans it: [`Error::NotElf`] for a file without the
/// ELF magic. Touches no cache: a parallel scan plans outside its lock.
fn plan_mapped(dir: &ProcDir, entry: &MapEntry, detail: Detail) -> Result<ElfPlan> {
    let (f, opened) = files::open_mapped_file(dir, entry)?;
    let mut magic = [0u8; 4];
    use std::os::unix::fs::FileExt;
    let n = f
        .read_at(&mut magic, 0)
        .map_err(|e| Error::io(&opened, e))?;
    if !elf::has_elf_magic(&magic[..n]) {
        return Err(Error::NotElf { path: opened });
    }
    elf::plan_file(&f, detail).map_err(|e| Error::Elf {
        path: display_path(entry).into(),
        reason: e.reason,
    })
}

impl ObjectCache {
    pub fn new(detail: Detail) -> ObjectCache {
        ObjectCache {
            detail,
            slots: HashMap::new(),
            objects: Vec::new(),
            skipped: Vec::new(),
            skipped_at: Vec::new(),
            skipped_by_path: HashMap::new(),
            hasher: RandomState::new(),
            path_bytes: 0,
            path_limit: MAX_RUN_PATH_BYTES,
            paths: Vec::new(),
            position: 0,
        }
    }

    pub fn get(&self, i: usize) -> &Arc<Object> {
        &self.objects[i]
    }

    /// The path of object `i` as the earliest process in the scan order maps it.
    pub fn first_path(&self, i: usize) -> &str {
        &self.paths[i].1
    }

    fn push_skipped(&mut self, s: Skipped) -> usize {
        let k = self.skipped.len();
        self.index_skipped(k, &s.path);
        self.skipped.push(s);
        self.skipped_at.push(self.position);
        k
    }

    fn index_skipped(&mut self, k: usize, path: &str) {
        let h = self.hasher.hash_one(path);
        self.skipped_by_path.entry(h).or_default().push(k);
    }

    /// The first `skipped` entry whose path is `path`.
    fn skipped_named(&self, path: &str) -> Option<usize> {
        let h = self.hasher.hash_one(path);
        self.skipped_by_path
            .get(&h)?
            .iter()
            .copied()
            .filter(|&k| self.skipped.get(k).is_some_and(|s| s.path == path))
            .min()
    }

    /// Counts `copies` of `path` against [`MAX_RUN_PATH_BYTES`]; past it, the error of
    /// the process `pid` that maps it.
    fn charge(&mut self, pid: i32, path: &str, copies: usize) -> Result<()> {
        match path
            .len()
            .checked_mul(copies)
            .and_then(|n| self.path_bytes.checked_add(n))
        {
            Some(total) if total <= self.path_limit => {
                self.path_bytes = total;
                Ok(())
            }
            _ => Err(Error::MappedFile {
                pid,
                path: path.into(),
                reason: format!(
                    "the paths of the distinct mapped files kept for this run would hold more \
                     than {} MiB: a limit of solab; the process is not read",
                    self.path_limit >> 20
                ),
            }),
        }
    }

    /// Entry `k` of `skipped`, seen again by `pid` at the current position: the earliest
    /// process keeps it.
    fn seen_again(&mut self, k: usize, pid: i32, path: impl FnOnce() -> String) {
        if let Some(at) = self.skipped_at.get_mut(k)
            && self.position < *at
        {
            *at = self.position;
            let path = path();
            self.skipped[k].pid = pid;
            if self.skipped[k].path != path {
                self.path_bytes = self.path_bytes.saturating_add(path.len());
                self.index_skipped(k, &path);
                self.skipped[k].path = path;
            }
        }
    }

    fn skip(&mut self, pid: i32, path: String, e: &Error) -> usize {
        // The entry names the pid and the path; the reason is what is left.
        let reason = match e {
            Error::MappedFile { reason, .. } | Error::Elf { reason, .. } => reason.clone(),
            other => other.to_string(),
        };
        self.push_skipped(Skipped {
            pid,
            path,
            kind: e.kind(),
            reason,
        })
    }

    /// Lists `path` as skipped once: a second sighting only moves the entry to the earliest
    /// process. Found by hash: a process of many such files costs each one a lookup. The
    /// error of a path past [`MAX_RUN_PATH_BYTES`].
    pub fn skip_once(
        &mut self,
        pid: i32,
        path: &str,
        kind: ErrorKind,
        reason: String,
    ) -> Result<()> {
        match self.skipped_named(path) {
            Some(k) => self.seen_again(k, pid, || path.to_string()),
            None => {
                self.charge(pid, path, 1)?;
                self.push_skipped(Skipped {
                    pid,
                    path: path.to_string(),
                    kind,
                    reason,
                });
            }
        }
        Ok(())
    }

    /// The skipped files and vdsos in scan order (as a sequential scan lists them).
    pub fn take_skipped(&mut self) -> Vec<Skipped> {
        let mut all: Vec<(usize, Skipped)> = std::mem::take(&mut self.skipped)
            .into_iter()
            .enumerate()
            .map(|(k, s)| (self.skipped_at.get(k).copied().unwrap_or(usize::MAX), s))
            .collect();
        self.skipped_at.clear();
        self.skipped_by_path.clear();
        all.sort_by_key(|(at, _)| *at);
        all.into_iter().map(|(_, s)| s).collect()
    }

    fn insert(&mut self, key: ObjKey, path: String, plan: ElfPlan) -> usize {
        self.paths.push((self.position, path.clone()));
        self.objects.push(Arc::new(Object { key, path, plan }));
        let i = self.objects.len() - 1;
        self.slots.insert(key, Slot::Elf(i));
        i
    }

    /// The object mapped by file mapping `entry` of the process of `dir`, opened and
    /// planned the first time its (device, inode) is seen. `Err` only when the process is
    /// gone (the caller may try another process that maps the same file).
    pub fn file(&mut self, dir: &ProcDir, entry: &MapEntry) -> Result<Lookup> {
        match self.known(dir.pid(), entry) {
            Some(found) => Ok(found),
            None => {
                let planned = plan_mapped(dir, entry, self.detail);
                self.record(dir.pid(), entry, planned)
            }
        }
    }

    /// What file mapping `entry` of `pid` maps, if its (device, inode) was seen before
    /// (recorded as seen by this process when it is earlier in the scan).
    fn known(&mut self, pid: i32, entry: &MapEntry) -> Option<Lookup> {
        let Some(id) = entry.file_id() else {
            return Some(Lookup::NotElf);
        };
        let s = self.slots.get(&ObjKey::File(id)).cloned()?;
        Some(match s {
            Slot::Elf(i) => {
                if self.position < self.paths[i].0 {
                    self.paths[i] = (self.position, display_path(entry));
                }
                Lookup::Elf(i)
            }
            Slot::NotElf(k) => {
                self.seen_again(k, pid, || display_path(entry));
                Lookup::NotElf
            }
            Slot::Skipped(k) => {
                self.seen_again(k, pid, || display_path(entry));
                Lookup::Skipped
            }
        })
    }

    /// Records what [`plan_mapped`] made of file mapping `entry` of `pid`; if its (device,
    /// inode) was recorded meanwhile (another worker planned it too), that record stands.
    fn record(&mut self, pid: i32, entry: &MapEntry, planned: Result<ElfPlan>) -> Result<Lookup> {
        if let Some(found) = self.known(pid, entry) {
            return Ok(found);
        }
        let Some(id) = entry.file_id() else {
            return Ok(Lookup::NotElf);
        };
        let key = ObjKey::File(id);
        let path = display_path(entry);
        let planned = match planned {
            Err(e @ Error::NoSuchProcess { .. }) => return Err(e),
            kept => kept,
        };
        // An object's path is held twice (its own, and as first seen), a skipped file's once.
        self.charge(pid, &path, if planned.is_ok() { 2 } else { 1 })?;
        Ok(match planned {
            Ok(plan) => Lookup::Elf(self.insert(key, path, plan)),
            Err(e @ Error::NotElf { .. }) => {
                // Listed (kind `not-elf`), so a reader sees every mapped file accounted for.
                let k = self.skip(pid, path, &e);
                self.slots.insert(key, Slot::NotElf(k));
                Lookup::NotElf
            }
            Err(e) => {
                let k = self.skip(pid, path, &e);
                self.slots.insert(key, Slot::Skipped(k));
                Lookup::Skipped
            }
        })
    }

    /// Reads the vdso of the process of `dir` and hashes it: the part of a vdso lookup
    /// that needs no cache (done outside the lock when the cache is shared).
    pub fn read_vdso(dir: &ProcDir, entry: &MapEntry) -> VdsoImage {
        VdsoImage(files::read_vdso(dir, entry).map(|b| {
            let h = fnv(&b);
            (b, h)
        }))
    }

    /// The vdso of the process of `dir`, read from its own memory and planned once per
    /// distinct image.
    pub fn vdso(&mut self, dir: &ProcDir, entry: &MapEntry) -> Result<Lookup> {
        self.vdso_image(dir.pid(), Self::read_vdso(dir, entry))
    }

    /// A vdso image read by [`ObjectCache::read_vdso`], planned once per distinct image.
    pub fn vdso_image(&mut self, pid: i32, image: VdsoImage) -> Result<Lookup> {
        let (bytes, hash) = match image.0 {
            Ok(b) => b,
            Err(e @ Error::NoSuchProcess { .. }) => return Err(e),
            Err(e) => {
                self.skip(pid, "[vdso]".into(), &e);
                return Ok(Lookup::Skipped);
            }
        };
        let key = ObjKey::Vdso(hash);
        if let Some(Slot::Elf(i)) = self.slots.get(&key) {
            return Ok(Lookup::Elf(*i));
        }
        Ok(match elf::plan_bytes(&bytes, self.detail) {
            Ok(plan) => Lookup::Elf(self.insert(key, "[vdso]".into(), plan)),
            Err(e) => {
                let e = Error::Elf {
                    path: "[vdso]".into(),
                    reason: e.reason,
                };
                self.skip(pid, "[vdso]".into(), &e);
                Lookup::Skipped
            }
        })
    }

    /// The object behind `entry` of the process of `dir`: a file mapping or the vdso.
    pub fn lookup(&mut self, dir: &ProcDir, entry: &MapEntry) -> Result<Lookup> {
        if entry.is_pseudo("[vdso]") {
            self.vdso(dir, entry)
        } else {
            self.file(dir, entry)
        }
    }
}

/// An [`ObjectCache`] shared by the workers of a parallel scan: each object is recorded once
/// per run; files are opened and planned, and each process's vdso read, outside the lock.
pub struct SharedCache(Mutex<ObjectCache>);

impl SharedCache {
    pub fn new(cache: ObjectCache) -> SharedCache {
        SharedCache(Mutex::new(cache))
    }

    /// The cache, locked (a worker that panicked left nothing half-written that matters:
    /// the cache is still used).
    pub fn lock(&self) -> MutexGuard<'_, ObjectCache> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// [`ObjectCache::lookup`] for the process at scan position `position`.
    pub fn lookup(&self, position: usize, dir: &ProcDir, entry: &MapEntry) -> Result<Lookup> {
        if entry.is_pseudo("[vdso]") {
            let image = ObjectCache::read_vdso(dir, entry);
            let mut c = self.lock();
            c.position = position;
            c.vdso_image(dir.pid(), image)
        } else {
            self.file(position, dir, entry)
        }
    }

    /// The vdso image of this process (mapping `entry` of it), planned like any other but
    /// never listed as skipped: what other processes' vdsos are known by.
    pub fn vdso_of_self(&self, own: &ProcDir, entry: &MapEntry) -> Option<usize> {
        let VdsoImage(Ok((bytes, hash))) = ObjectCache::read_vdso(own, entry) else {
            return None;
        };
        let mut c = self.lock();
        let key = ObjKey::Vdso(hash);
        if let Some(Slot::Elf(i)) = c.slots.get(&key) {
            return Some(*i);
        }
        let plan = elf::plan_bytes(&bytes, c.detail).ok()?;
        Some(c.insert(key, "[vdso]".into(), plan))
    }

    /// [`ObjectCache::file`] for the process at scan position `position`. A file not seen
    /// before is opened and planned outside the lock (the other workers go on; a file two
    /// workers meet at once is planned twice and recorded once).
    pub fn file(&self, position: usize, dir: &ProcDir, entry: &MapEntry) -> Result<Lookup> {
        let detail = {
            let mut c = self.lock();
            c.position = position;
            if let Some(found) = c.known(dir.pid(), entry) {
                return Ok(found);
            }
            c.detail
        };
        let planned = plan_mapped(dir, entry, detail);
        let mut c = self.lock();
        c.position = position;
        c.record(dir.pid(), entry, planned)
    }

    /// Object `i`.
    pub fn object(&self, i: usize) -> Arc<Object> {
        self.lock().get(i).clone()
    }

    /// [`ObjectCache::skip_once`] for the process at scan position `position`.
    pub fn skip_once(
        &self,
        position: usize,
        pid: i32,
        path: &str,
        kind: ErrorKind,
        reason: String,
    ) -> Result<()> {
        let mut c = self.lock();
        c.position = position;
        c.skip_once(pid, path, kind, reason)
    }

    pub fn into_inner(self) -> ObjectCache {
        self.0.into_inner().unwrap_or_else(|e| e.into_inner())
    }
}

/// The number of workers for `--threads N`: N, or with 0 one per CPU the process may run on.
pub fn threads(n: usize) -> usize {
    match n {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

/// The worker pool, which only the door runs ([`door::each_opened`]): `threads` workers (1:
/// on this thread, in order), each taking the next pid from a shared index and calling
/// `scan(state, position, pid)` with its own state from `state(worker)`. The pids are
/// listed by the first worker, `list`, before its first process, while the others do what
/// `state(worker)` does before theirs (reading what the report needs but the scan does
/// not): listing /proc walks every pid in the kernel. Returns the pids, the workers' states
/// and the results in the order of the pids. A worker beyond the number of pids finds none
/// to take and stops. Past the deadline of the calling thread ([`deadline::until`]) no
/// worker takes another pid: the pids returned are the first ones, all read, and the others
/// are counted ([`deadline::take_left`]).
fn each_listed_process<W: Send, R: Send, E: Send>(
    list: impl FnOnce() -> std::result::Result<Vec<i32>, E> + Send,
    threads: usize,
    state: impl Fn(usize) -> W + Sync,
    scan: impl Fn(&mut W, usize, i32) -> R + Sync,
) -> std::result::Result<Listed<W, R>, E> {
    // The caller's deadline (kernel::deadline): past it no worker takes another pid.
    let deadline = deadline::at();
    let past = || deadline.is_some_and(|d| std::time::Instant::now() >= d);
    if threads <= 1 {
        let mut pids = list()?;
        let mut w = state(0);
        let mut results = Vec::with_capacity(pids.len());
        for (i, &pid) in pids.iter().enumerate() {
            if past() {
                break;
            }
            results.push(scan(&mut w, i, pid));
        }
        deadline::left(pids.len() - results.len());
        pids.truncate(results.len());
        return Ok(Listed {
            pids,
            states: vec![w],
            results,
        });
    }
    /// The listed pids, for the workers to wait on; set (empty) when dropped if they were
    /// not (an error, or a panic while listing), so that no worker waits for ever.
    struct Publish<'a>(&'a (Mutex<Option<Vec<i32>>>, Condvar), Option<Vec<i32>>);
    impl Drop for Publish<'_> {
        fn drop(&mut self) {
            let (lock, ready) = self.0;
            let mut slot = lock.lock().unwrap_or_else(|p| p.into_inner());
            *slot = Some(self.1.take().unwrap_or_default());
            ready.notify_all();
        }
    }
    let shared: (Mutex<Option<Vec<i32>>>, Condvar) = (Mutex::new(None), Condvar::new());
    let failed = Mutex::new(None);
    let mut list = Some(list);
    let next = AtomicUsize::new(0);
    let done: Vec<(W, Vec<(usize, R)>)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|worker| {
                let (shared, failed, next, state, scan) = (&shared, &failed, &next, &state, &scan);
                let taken = if worker == 0 { list.take() } else { None };
                let past = &past;
                s.spawn(move || {
                    // The worker's reads stop at the caller's deadline too.
                    let _until = deadline::until(deadline);
                    if let Some(list) = taken {
                        let mut listed = Publish(shared, None);
                        match list() {
                            Ok(pids) => listed.1 = Some(pids),
                            Err(e) => *failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e),
                        }
                    }
                    let mut w = state(worker);
                    let (lock, ready) = shared;
                    let guard = lock.lock().unwrap_or_else(|p| p.into_inner());
                    let pids = ready
                        .wait_while(guard, |l| l.is_none())
                        .unwrap_or_else(|p| p.into_inner())
                        .clone()
                        .unwrap_or_default();
                    let mut out = Vec::new();
                    // Checked before a pid is taken: every pid taken is read, so the pids
                    // read are the first ones, whatever the workers' timing.
                    while !past() {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&pid) = pids.get(i) else { break };
                        out.push((i, scan(&mut w, i, pid)));
                    }
                    (w, out)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    if let Some(e) = failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let mut pids = shared
        .0
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .unwrap_or_default();
    let (states, outs): (Vec<W>, Vec<_>) = done.into_iter().unzip();
    let results = in_order(outs, pids.len());
    deadline::left(pids.len() - results.len());
    pids.truncate(results.len());
    Ok(Listed {
        results,
        pids,
        states,
    })
}

/// The results of the workers, each worker's in ascending positions (it took them in
/// that order), merged into the order of the positions: each result moved once, into a
/// vector made once.
fn in_order<R>(outs: Vec<Vec<(usize, R)>>, n: usize) -> Vec<R> {
    let mut outs: Vec<_> = outs.into_iter().map(|o| o.into_iter().peekable()).collect();
    let mut results = Vec::with_capacity(n);
    loop {
        let next = outs
            .iter_mut()
            .enumerate()
            .filter_map(|(w, o)| o.peek().map(|&(i, _)| (i, w)))
            .min();
        let Some((_, w)) = next else { break };
        if let Some((_, r)) = outs[w].next() {
            results.push(r);
        }
    }
    results
}

/// What [`each_listed_process`] gives: the pids listed, the workers' states, and the
/// results in the order of the pids.
pub struct Listed<W, R> {
    pub pids: Vec<i32>,
    pub states: Vec<W>,
    pub results: Vec<R>,
}

/// A process opened through its /proc directory ([`process::ProcDir`]: every later read
/// is of this process, never of one that got its number since), with its memory map read.
pub struct Process<'d> {
    pub pid: i32,
    pub dir: &'d ProcDir,
    pub maps: Vec<MapEntry>,
}

impl<'d> Process<'d> {
    /// The process the door opened, its memory map read.
    pub fn read(dir: &'d ProcDir) -> Result<Process<'d>> {
        Ok(Process {
            pid: dir.pid(),
            maps: dir.read_maps()?,
            dir,
        })
    }

    /// Whether the process maps a file (or the vdso) whose path matches `pattern` (see
    /// [`pattern::Pattern::matches`]).
    pub fn maps_object(&self, pattern: &pattern::Pattern) -> bool {
        self.maps.iter().any(|m| match &m.target {
            MapTarget::File { path, .. } => pattern.matches(&path.to_string_lossy()),
            MapTarget::Pseudo(p) => p == "[vdso]" && pattern.matches(p),
            MapTarget::Anonymous => false,
        })
    }

    /// The mappings that can start an object: file mappings and the vdso, each object's
    /// first mapping once, in address order.
    pub fn object_mappings(&self) -> Vec<&MapEntry> {
        let mut seen: std::collections::HashSet<FileId> = std::collections::HashSet::new();
        self.maps
            .iter()
            .filter(|m| m.is_pseudo("[vdso]") || m.file_id().is_some_and(|id| seen.insert(id)))
            .collect()
    }
}

/// A process that could not be scanned, by name, with the kind of failure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PidError {
    pub pid: i32,
    pub kind: ErrorKind,
    pub message: String,
}

impl PidError {
    pub fn new(pid: i32, e: &Error) -> PidError {
        PidError {
            pid,
            kind: e.kind(),
            message: e.to_string(),
        }
    }

    /// Why `pid` could not be scanned, in the words every command uses; the message
    /// always names the pid.
    pub fn gone(pid: i32, gone: &process::Gone) -> PidError {
        use process::Gone;
        match gone {
            Gone::Vanished => PidError::new(pid, &Error::NoSuchProcess { pid }),
            Gone::NoMemoryMap { comm } => PidError {
                pid,
                kind: crate::error::ErrorKind::KernelThread,
                message: format!(
                    "pid {pid} ({comm}) has no memory map (a kernel thread or a zombie)"
                ),
            },
            // An error about this process names it already ([`Error::pid`]); any other
            // (a path, a limit) is said of the pid.
            Gone::Unreadable(e) if e.pid() == Some(pid) => PidError::new(pid, e),
            Gone::Unreadable(e) => PidError {
                pid,
                kind: e.kind(),
                message: format!("pid {pid}: {e}"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Detail, ErrorKind, ObjectCache, each_listed_process, in_order};

    /// A path skipped again is found (by hash) and kept once, by the earliest process; the
    /// paths kept for a run are counted, and the one past the limit is an error naming its
    /// process and the limit, nothing kept.
    #[test]
    fn skipped_paths_are_kept_once_and_their_bytes_capped() {
        let mut c = ObjectCache::new(Detail::Kinds);
        c.path_limit = 2 << 20;
        let skip = |c: &mut ObjectCache, pid, path: &str| {
            c.skip_once(pid, path, ErrorKind::BadElf, "why".into())
        };
        c.position = 5;
        skip(&mut c, 10, "/a").expect("room");
        skip(&mut c, 11, "/b").expect("room");
        c.position = 2;
        skip(&mut c, 12, "/a").expect("room");
        c.position = 9;
        skip(&mut c, 13, "/b").expect("room");
        assert_eq!(c.skipped.len(), 2);
        assert_eq!((c.skipped[0].pid, c.skipped[1].pid), (12, 11));
        // Many distinct paths: each once, each found again.
        for i in 0..50_000 {
            skip(&mut c, 20, &format!("/many/{i}")).expect("room");
        }
        skip(&mut c, 21, "/many/49999").expect("room");
        assert_eq!(c.skipped.len(), 50_002);
        let long = format!("/{}", "x".repeat(2 << 20));
        let e = skip(&mut c, 22, &long).expect_err("past the limit");
        let said = e.to_string();
        assert!(
            said.starts_with("pid 22: /xxx")
                && said.ends_with("a limit of solab; the process is not read"),
            "{said:.200}"
        );
        assert_eq!(c.skipped.len(), 50_002);
        let all = c.take_skipped();
        assert_eq!((all[0].path.as_str(), all[0].pid), ("/a", 12));
        assert_eq!(all.len(), 50_002);
    }

    /// A process that could not be read is named once: an error about it (by its kind,
    /// [`Error::pid`]) is kept as it is, any other is said of the pid, whatever its text
    /// holds (here a path that reads like another pid's message).
    #[test]
    fn an_unreadable_process_is_named_once_by_the_kind_of_its_error() {
        use super::{Error, PidError};
        use crate::kernel::process::Gone;
        let about = Error::MappedFile {
            pid: 12,
            path: "/x".into(),
            reason: "why".into(),
        };
        assert!(about.to_string().starts_with("pid 12: "));
        let pe = PidError::gone(12, &Gone::Unreadable(about));
        assert_eq!(pe.message, "pid 12: /x: why");
        let denied = Error::PermissionDenied {
            path: "/tmp/pid 12: 123".into(),
            hint: None,
        };
        let pe = PidError::gone(12, &Gone::Unreadable(denied));
        assert_eq!(pe.message, "pid 12: /tmp/pid 12: 123: permission denied");
        assert_eq!(pe.kind, ErrorKind::PermissionDenied);
        let other = Error::NoSuchProcess { pid: 123 };
        let pe = PidError::gone(12, &Gone::Unreadable(other));
        assert_eq!(pe.message, "pid 12: pid 123: no such process");
        for e in [
            Error::NoSuchProcess { pid: 7 },
            Error::KernelThread {
                pid: 7,
                comm: "k".into(),
            },
        ] {
            assert!(e.to_string().starts_with("pid 7"), "{e}");
            assert_eq!(e.pid(), Some(7));
        }
    }

    /// Positions taken in turn by workers come back in one order, each result once.
    #[test]
    fn results_are_merged_in_the_order_of_the_positions() {
        let outs = vec![
            vec![(0, 'a'), (3, 'd'), (4, 'e')],
            vec![],
            vec![(1, 'b'), (2, 'c'), (5, 'f')],
        ];
        assert_eq!(in_order(outs, 6), vec!['a', 'b', 'c', 'd', 'e', 'f']);
        assert!(in_order::<char>(vec![vec![], vec![]], 0).is_empty());
    }

    /// On any number of workers each pid is scanned once and its result is at its place.
    #[test]
    fn every_pid_is_scanned_once_in_place() {
        let pids: Vec<i32> = (1..=200).collect();
        for threads in [1, 2, 3, 8, 500] {
            let listed = each_listed_process(
                || Ok::<_, ()>(pids.clone()),
                threads,
                |_| Vec::new(),
                |seen, i, pid| {
                    seen.push(pid);
                    (i, pid * 10)
                },
            );
            let Ok(super::Listed {
                states, results, ..
            }) = listed
            else {
                panic!("the list cannot fail");
            };
            assert!(states.len() <= threads, "{threads} threads");
            let mut seen: Vec<i32> = states.into_iter().flatten().collect();
            seen.sort_unstable();
            assert_eq!(seen, pids, "{threads} threads");
            for (k, &(i, r)) in results.iter().enumerate() {
                assert_eq!((i, r), (k, pids[k] * 10), "{threads} threads");
            }
        }
    }
}
