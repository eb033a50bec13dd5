//! The randomized differential test: real process trees apply random memory operations
//! (tests/difftest.c, one actor per process), and after each step every actor's `solab ps`
//! figures and every child's `solab family` figures are compared with the kernel's
//! (smaps_rollup) and with a simple page walk written apart from the analyzer
//! (util::walk), while the actors are stopped.
//!
//! A seed makes the sequence of operations (printed; `DIFF_SEED=N` replays it). A mismatch
//! prints the seed, the operations, and the smallest subsequence that still shows it
//! (delta debugging: operations left out while the mismatch stays).
//!
//! `make test` runs a few seconds of it ([`short_run_agrees_with_the_kernel`]); `make
//! difftest` runs new seeds for `DIFF_SECONDS` ([`long`]).

use crate::util::ksm::KsmOn;
use crate::util::walk::{self, Frames, Usage};
use crate::util::{self, Compiled, Frozen};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

/// How long an actor may take to answer one operation.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// Slots a driver holds (SLOTS in difftest.c) and pages in one region (MAXPAGES); the pool
/// files are as long as the longest region.
const SLOTS: usize = 16;
const MAX_PAGES: u64 = 4096;
const POOL_FILES: u64 = 3;
/// At most this many actors live at once.
const MAX_ACTORS: usize = 5;
/// At most this many regions per actor (the rest of the slots take the upper parts of
/// regions cut in the middle).
const MAX_REGIONS: usize = 8;
/// Slots IMAGE and IMAGE + 1 are the driver's own `.data` and `.bss` pages (IMG_DATA and
/// IMG_BSS in difftest.c, IMAGE_PAGES each): written, read and advised like the regions,
/// and compared with `solab inspect` and `solab prove` of the driver.
const IMAGE: usize = SLOTS;
const IMAGE_PAGES: u64 = 24;

/// How an operation names a slot.
fn region_name(slot: usize) -> String {
    match slot {
        IMAGE => "the driver's .data".into(),
        s if s == IMAGE + 1 => "the driver's .bss".into(),
        s => format!("r{s}"),
    }
}

// ---- operations -----------------------------------------------------------------------

/// One operation for one actor; `line` is what the driver reads.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Op {
    Map {
        actor: usize,
        slot: usize,
        kind: u8,
        pages: u64,
        file: u64,
        huge: bool,
    },
    Unmap {
        actor: usize,
        slot: usize,
        off: u64,
        n: u64,
        upper: usize,
    },
    Remap {
        actor: usize,
        slot: usize,
        pages: u64,
    },
    Prot {
        actor: usize,
        slot: usize,
        off: u64,
        n: u64,
        rw: bool,
    },
    Write {
        actor: usize,
        slot: usize,
        off: u64,
        n: u64,
        val: u8,
    },
    Read {
        actor: usize,
        slot: usize,
        off: u64,
        n: u64,
    },
    Advise {
        actor: usize,
        slot: usize,
        off: u64,
        n: u64,
        adv: u8,
    },
    /// `actor` forks; the child is actor `child`.
    Fork {
        actor: usize,
        child: usize,
    },
    Exec {
        actor: usize,
    },
}

const KINDS: [&str; 4] = ["anon-private", "anon-shared", "file-private", "file-shared"];
const ADVICE: [&str; 5] = ["HUGEPAGE", "NOHUGEPAGE", "DONTNEED", "MERGEABLE", "PAGEOUT"];

impl Op {
    fn actor(&self) -> usize {
        match *self {
            Op::Map { actor, .. }
            | Op::Unmap { actor, .. }
            | Op::Remap { actor, .. }
            | Op::Prot { actor, .. }
            | Op::Write { actor, .. }
            | Op::Read { actor, .. }
            | Op::Advise { actor, .. }
            | Op::Fork { actor, .. }
            | Op::Exec { actor } => actor,
        }
    }

    /// The driver's line (tests/difftest.c).
    fn line(&self) -> String {
        match *self {
            Op::Map {
                slot,
                kind,
                pages,
                file,
                huge,
                ..
            } => format!("map {slot} {kind} {pages} {file} {}", u8::from(huge)),
            Op::Unmap {
                slot,
                off,
                n,
                upper,
                ..
            } => format!("unmap {slot} {off} {n} {upper}"),
            Op::Remap { slot, pages, .. } => format!("remap {slot} {pages}"),
            Op::Prot {
                slot, off, n, rw, ..
            } => format!("prot {slot} {off} {n} {}", u8::from(rw)),
            Op::Write {
                slot, off, n, val, ..
            } => format!("write {slot} {off} {n} {val}"),
            Op::Read { slot, off, n, .. } => format!("read {slot} {off} {n}"),
            Op::Advise {
                slot, off, n, adv, ..
            } => format!("advise {slot} {off} {n} {adv}"),
            Op::Fork { child, .. } => format!("fork {child}"),
            Op::Exec { .. } => "exec".to_string(),
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = self.actor();
        match *self {
            Op::Map {
                slot,
                kind,
                pages,
                file,
                huge,
                ..
            } => {
                let what = KINDS[kind as usize];
                let file = if kind >= 2 {
                    format!(" of f{file}")
                } else {
                    String::new()
                };
                let huge = if huge { " 2MiB-aligned" } else { "" };
                write!(f, "actor {a}: map r{slot} {what}{file} {pages} pages{huge}")
            }
            Op::Unmap {
                slot,
                off,
                n,
                upper,
                ..
            } => write!(
                f,
                "actor {a}: munmap r{slot} pages {off}..+{n} (upper part: r{upper})"
            ),
            Op::Remap { slot, pages, .. } => {
                write!(f, "actor {a}: mremap r{slot} to {pages} pages")
            }
            Op::Prot {
                slot, off, n, rw, ..
            } => {
                let p = if rw { "rw" } else { "r" };
                write!(f, "actor {a}: mprotect r{slot} pages {off}..+{n} {p}")
            }
            Op::Write {
                slot, off, n, val, ..
            } => {
                let r = region_name(slot);
                write!(f, "actor {a}: write {val} to {r} pages {off}..+{n}")
            }
            Op::Read { slot, off, n, .. } => {
                write!(f, "actor {a}: read {} pages {off}..+{n}", region_name(slot))
            }
            Op::Advise {
                slot, off, n, adv, ..
            } => write!(
                f,
                "actor {a}: madvise {} pages {off}..+{n} MADV_{}",
                region_name(slot),
                ADVICE[adv as usize]
            ),
            Op::Fork { child, .. } => write!(f, "actor {a}: fork -> actor {child}"),
            Op::Exec { .. } => write!(f, "actor {a}: exec itself"),
        }
    }
}

fn listing(ops: &[Op]) -> String {
    ops.iter()
        .enumerate()
        .map(|(i, o)| format!("  {i:3}. {o}\n"))
        .collect()
}

// ---- the generator --------------------------------------------------------------------

/// splitmix64: small, and the same sequence on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// In `[0, n)`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// What the generator believes a region is (the driver clamps what it is not).
#[derive(Clone, Copy, Debug)]
struct Region {
    kind: u8,
    pages: u64,
}

/// A map of a new region in `slot`, recorded in `slots`.
fn new_region(rng: &mut Rng, actor: usize, slot: usize, slots: &mut [Option<Region>]) -> Op {
    let kind = [0, 0, 0, 1, 2, 3][rng.below(6) as usize];
    let huge = kind == 0 && rng.chance(35);
    let pages = if huge {
        512 * rng.range(1, 2)
    } else {
        rng.range(1, 96)
    };
    slots[slot] = Some(Region { kind, pages });
    Op::Map {
        actor,
        slot,
        kind,
        pages,
        file: rng.below(POOL_FILES),
        huge,
    }
}

/// An munmap of pages `[off, off + n)` of region `slot`, recorded in `slots` (the part
/// above a hole goes to `free`, when there is one).
fn cut(
    actor: usize,
    slot: usize,
    (off, n): (u64, u64),
    slots: &mut [Option<Region>],
    free: Option<usize>,
) -> Op {
    let r = slots[slot].expect("used");
    let upper = free.unwrap_or(0);
    let end = off + n;
    if off == 0 && end >= r.pages {
        slots[slot] = None;
    } else if off == 0 {
        slots[slot] = Some(Region {
            pages: r.pages - end,
            ..r
        });
    } else if end >= r.pages {
        slots[slot] = Some(Region { pages: off, ..r });
    } else if free.is_some() {
        slots[slot] = Some(Region { pages: off, ..r });
        slots[upper] = Some(Region {
            pages: r.pages - end,
            ..r
        });
    }
    Op::Unmap {
        actor,
        slot,
        off,
        n,
        upper,
    }
}

/// Random operations from `seed`, `steps` of them, each valid for the actors and regions
/// the ones before made.
/// KSM's test: the whole of region `slot` (`pages` long) offered to KSM.
fn merge_all(actor: usize, (slot, pages): (usize, u64)) -> Op {
    Op::Advise {
        actor,
        slot,
        off: 0,
        n: pages,
        adv: 3,
    }
}

/// With `ksm`, three advice in four are MADV_MERGEABLE, and reads are MADV_MERGEABLE of a
/// whole region instead.
fn generate(seed: u64, steps: usize, ksm: bool) -> Vec<Op> {
    let mut rng = Rng(seed);
    let mut actors: BTreeMap<usize, Vec<Option<Region>>> = BTreeMap::new();
    actors.insert(0, vec![None; SLOTS]);
    let mut next_actor = 1;
    let mut ops = Vec::with_capacity(steps);
    while ops.len() < steps {
        let ids: Vec<usize> = actors.keys().copied().collect();
        let actor = ids[rng.below(ids.len() as u64) as usize];
        let room = actors.len() < MAX_ACTORS;
        let slots = actors.get_mut(&actor).expect("actor");
        let used: Vec<usize> = (0..SLOTS).filter(|&s| slots[s].is_some()).collect();
        let free: Vec<usize> = (0..SLOTS).filter(|&s| slots[s].is_none()).collect();
        let roll = rng.below(100);
        // A region to work on, when one is needed.
        let pick = |rng: &mut Rng| used[rng.below(used.len() as u64) as usize];
        // A region or (one time in four) the driver's own pages, and its length.
        let pick_any = |rng: &mut Rng, slots: &[Option<Region>]| {
            if rng.chance(25) {
                (IMAGE + rng.below(2) as usize, IMAGE_PAGES)
            } else {
                let slot = pick(rng);
                (slot, slots[slot].expect("used").pages)
            }
        };
        // A span of a region: a few pages, or the whole of it.
        let span = |rng: &mut Rng, pages: u64| {
            let off = if rng.chance(30) { 0 } else { rng.below(pages) };
            let n = if rng.chance(30) {
                pages - off
            } else {
                rng.range(1, (pages - off).min(64))
            };
            (off, n)
        };
        let op = if used.is_empty() || (roll < 14 && used.len() < MAX_REGIONS) {
            new_region(&mut rng, actor, free[0], slots)
        } else if roll < 40 {
            let (slot, pages) = pick_any(&mut rng, slots);
            let (off, n) = span(&mut rng, pages);
            Op::Write {
                actor,
                slot,
                off,
                n,
                val: rng.range(1, 3) as u8,
            }
        } else if roll < 48 && ksm {
            merge_all(actor, pick_any(&mut rng, slots))
        } else if roll < 48 {
            let (slot, pages) = pick_any(&mut rng, slots);
            let (off, n) = span(&mut rng, pages);
            Op::Read {
                actor,
                slot,
                off,
                n,
            }
        } else if roll < 56 {
            let slot = pick(&mut rng);
            let (off, n) = span(&mut rng, slots[slot].expect("used").pages);
            cut(actor, slot, (off, n), slots, free.first().copied())
        } else if roll < 62 {
            let slot = pick(&mut rng);
            let r = slots[slot].expect("used");
            let most = if r.kind == 1 {
                r.pages
            } else {
                (r.pages * 2).min(MAX_PAGES)
            };
            let pages = rng.range(1, most.max(1));
            slots[slot] = Some(Region { pages, ..r });
            Op::Remap { actor, slot, pages }
        } else if roll < 69 {
            let slot = pick(&mut rng);
            let (off, n) = span(&mut rng, slots[slot].expect("used").pages);
            Op::Prot {
                actor,
                slot,
                off,
                n,
                rw: rng.chance(50),
            }
        } else if roll < 82 {
            let (slot, pages) = pick_any(&mut rng, slots);
            let (off, n) = span(&mut rng, pages);
            let adv = if ksm && rng.chance(75) {
                3
            } else {
                [0, 0, 1, 2, 2, 3, 4][rng.below(7) as usize]
            };
            Op::Advise {
                actor,
                slot,
                off,
                n,
                adv,
            }
        } else if roll < 96 && room {
            let child = next_actor;
            next_actor += 1;
            let copy = slots.clone();
            actors.insert(child, copy);
            ops.push(Op::Fork { actor, child });
            continue;
        } else if roll >= 96 {
            *slots = vec![None; SLOTS];
            Op::Exec { actor }
        } else {
            continue;
        };
        ops.push(op);
    }
    ops
}

// ---- the actors -----------------------------------------------------------------------

/// A process of the driver, and the lines it prints.
struct Actor {
    pid: i32,
    /// The actor that forked it (none for the first).
    parent: Option<usize>,
    /// It or its parent ran exec since the fork: the two images share no history, and
    /// `family` calls all the child's pages new (its fork evidence rule).
    apart: bool,
    to: File,
    from: Receiver<String>,
}

impl Actor {
    fn new(pid: i32, parent: Option<usize>, to: File, from: File) -> Actor {
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(from).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Actor {
            pid,
            parent,
            apart: false,
            to,
            from: rx,
        }
    }

    fn send(&mut self, line: &str) -> Result<(), String> {
        writeln!(self.to, "{line}")
            .and_then(|_| self.to.flush())
            .map_err(|e| format!("pid {}: cannot send {line:?}: {e}", self.pid))
    }

    fn answer(&mut self) -> Result<String, String> {
        self.from
            .recv_timeout(ANSWER_TIMEOUT)
            .map_err(|e| format!("pid {}: no answer ({e})", self.pid))
    }
}

/// The actors of one run, in a temporary directory that holds the pool files and the
/// FIFOs of forked actors; every actor is killed on Drop, the directory removed.
struct World {
    dir: PathBuf,
    /// The driver's path, as /proc/PID/maps names it.
    driver: String,
    first: Child,
    actors: BTreeMap<usize, Actor>,
    /// The driver's pages by its program headers (it is built static, not PIE: the same
    /// addresses in every actor).
    segments: walk::Segments,
}

impl World {
    fn start(driver: &Path) -> World {
        let dir = nix::unistd::mkdtemp("/tmp/solab-diff-XXXXXX").expect("mkdtemp");
        for i in 0..POOL_FILES {
            let f = File::create(dir.join(format!("f{i}"))).expect("pool file");
            f.set_len(MAX_PAGES * walk::PAGE).expect("pool file length");
        }
        let mut first = Command::new(driver)
            .arg(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the driver");
        let to = File::from(std::os::fd::OwnedFd::from(
            first.stdin.take().expect("stdin"),
        ));
        let from = File::from(std::os::fd::OwnedFd::from(
            first.stdout.take().expect("stdout"),
        ));
        let mut actor = Actor::new(first.id() as i32, None, to, from);
        let ready = actor.answer().expect("the driver starts");
        assert!(ready.starts_with("ready"), "{ready}");
        let mut actors = BTreeMap::new();
        actors.insert(0, actor);
        World {
            dir,
            driver: driver.display().to_string(),
            first,
            actors,
            segments: walk::segments(driver).expect("the driver's program headers"),
        }
    }

    /// Whether an actor has memory KSM may merge (smaps VmFlags `mg`).
    fn mergeable(&self) -> bool {
        self.actors.values().any(|a| {
            std::fs::read_to_string(format!("/proc/{}/smaps", a.pid)).is_ok_and(|t| {
                t.lines()
                    .any(|l| l.starts_with("VmFlags:") && l.split_whitespace().any(|f| f == "mg"))
            })
        })
    }

    fn root(&self) -> i32 {
        self.actors[&0].pid
    }

    /// Applies `op`; an operation for an actor that does not exist (left out by the
    /// shrinker) is skipped.
    fn apply(&mut self, op: &Op) -> Result<(), String> {
        if let Op::Fork { child, .. } = *op
            && self.actors.contains_key(&child)
        {
            return Ok(());
        }
        let Some(actor) = self.actors.get_mut(&op.actor()) else {
            return Ok(());
        };
        match *op {
            Op::Fork { actor: a, child } => {
                let (inp, out) = (
                    self.dir.join(format!("in.{child}")),
                    self.dir.join(format!("out.{child}")),
                );
                for f in [&inp, &out] {
                    nix::unistd::mkfifo(f, nix::sys::stat::Mode::from_bits_truncate(0o600))
                        .map_err(|e| format!("mkfifo {}: {e}", f.display()))?;
                }
                actor.send(&op.line())?;
                let got = actor.answer()?;
                let Some(pid) = got.strip_prefix("ok child=") else {
                    return Err(format!("fork answered {got:?}"));
                };
                let pid: i32 = pid.parse().map_err(|_| format!("fork answered {got:?}"))?;
                // The child opens in.N to read, then out.N to write: the same order here
                // meets it at each (opening a FIFO waits for the other end).
                let to = File::options()
                    .write(true)
                    .open(&inp)
                    .map_err(|e| e.to_string())?;
                let from = File::open(&out).map_err(|e| e.to_string())?;
                let mut kid = Actor::new(pid, Some(a), to, from);
                let ready = kid.answer()?;
                if !ready.starts_with("ready") {
                    return Err(format!("child {pid} said {ready:?}"));
                }
                self.actors.insert(child, kid);
            }
            Op::Exec { .. } => {
                actor.send(&op.line())?;
                let got = actor.answer()?;
                if !got.starts_with("ready") {
                    return Err(format!("exec answered {got:?}"));
                }
            }
            _ => {
                actor.send(&op.line())?;
                let got = actor.answer()?;
                if !got.starts_with("ok") {
                    return Err(format!("{op} answered {got:?}"));
                }
            }
        }
        if let Op::Exec { .. } = *op {
            let a = op.actor();
            for (&k, x) in self.actors.iter_mut() {
                if (k == a && x.parent.is_some()) || x.parent == Some(a) {
                    x.apart = true;
                }
            }
        }
        Ok(())
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // Children first: a killed parent's children would be reparented, not killed.
        for a in self.actors.values().rev() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(a.pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = self.first.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---- the comparison -------------------------------------------------------------------

/// A figure on which two judges disagree. `key` names the figure and the judges (not the
/// pid, which changes from run to run): the shrinker keeps a sequence while the same key
/// shows.
#[derive(Clone, Debug)]
struct Mismatch {
    key: String,
    detail: String,
}

/// `solab ps`'s classes, in the order of its JSON.
const CLASSES: [&str; 4] = ["elf", "anon", "shared", "files"];

/// The class of mapping `i` of `all` (an index in [`CLASSES`]), as reference.md defines
/// them, for the actors' mappings: the driver (its file mappings, and its `.bss` tail: the
/// anonymous mappings inside its `PT_LOAD`s, one or several when madvise split it) and
/// the vdso are ELF; MAP_SHARED mappings are shared; other file mappings (the pool files)
/// are files; the rest is anonymous.
fn class(all: &[walk::Vma], i: usize, world: &World) -> usize {
    let v = &all[i];
    let bss_tail = v.name.is_empty()
        && world
            .segments
            .all
            .iter()
            .any(|&(a, b)| a <= v.start && v.start < b);
    if v.name == world.driver || v.name == "[vdso]" || bss_tail {
        0
    } else if !v.private() {
        2
    } else if v.name.starts_with('/') {
        3
    } else {
        1
    }
}

/// One reading of every actor by the walk and smaps_rollup.
struct Reading {
    usage: BTreeMap<i32, Usage>,
    classes: BTreeMap<i32, [Usage; 4]>,
    rollup: BTreeMap<i32, std::collections::HashMap<String, u64>>,
    family: BTreeMap<i32, walk::Inheritance>,
    /// Every page of the driver's `PT_LOAD`s in every actor, by address.
    image: BTreeMap<i32, BTreeMap<u64, walk::PageAt>>,
}

/// The pages of the driver's `PT_LOAD`s in `pid`, by address.
fn image_pages(
    pid: i32,
    segments: &walk::Segments,
    frames: &mut Frames,
) -> std::io::Result<BTreeMap<u64, walk::PageAt>> {
    let vmas = walk::vmas(pid)?;
    let pm = File::open(format!("/proc/{pid}/pagemap"))?;
    let mut out = BTreeMap::new();
    for &(start, end) in &segments.all {
        for a in (start..end).step_by(walk::PAGE as usize) {
            out.insert(a, walk::page_at(&vmas, &pm, a, frames)?);
        }
    }
    Ok(out)
}

fn read_all(world: &World) -> Result<Reading, String> {
    let mut frames = Frames::open().map_err(|e| format!("kpagecount: {e}"))?;
    let mut r = Reading {
        usage: BTreeMap::new(),
        classes: BTreeMap::new(),
        rollup: BTreeMap::new(),
        family: BTreeMap::new(),
        image: BTreeMap::new(),
    };
    // How often the actors map each frame: a frame mapped more often than that is mapped
    // outside them too.
    let mut among = std::collections::HashMap::new();
    for a in world.actors.values() {
        let mine = walk::frames_of(a.pid).map_err(|e| format!("walk {}: {e}", a.pid))?;
        for f in mine {
            *among.entry(f).or_insert(0u64) += 1;
        }
    }
    for a in world.actors.values() {
        let u = walk::usage(a.pid, &mut frames, Some(&among))
            .map_err(|e| format!("walk {}: {e}", a.pid))?;
        r.usage.insert(a.pid, u);
        let mut classes = [Usage::default(); 4];
        for (c, slot) in classes.iter_mut().enumerate() {
            let keep = |all: &[walk::Vma], i: usize| class(all, i, world) == c;
            *slot = walk::usage_of(a.pid, &mut frames, Some(&among), &keep)
                .map_err(|e| format!("walk {}: {e}", a.pid))?;
        }
        r.classes.insert(a.pid, classes);
        let k = walk::rollup(a.pid).map_err(|e| format!("rollup {}: {e}", a.pid))?;
        r.rollup.insert(a.pid, k);
        let image = image_pages(a.pid, &world.segments, &mut frames)
            .map_err(|e| format!("image {}: {e}", a.pid))?;
        r.image.insert(a.pid, image);
        if let Some(p) = a.parent {
            let parent = world.actors[&p].pid;
            let mut i = walk::inheritance(parent, a.pid, &mut frames)
                .map_err(|e| format!("inheritance {}: {e}", a.pid))?;
            if a.apart {
                i = walk::Inheritance {
                    parents_frame: 0,
                    copied: 0,
                    new: i.parents_frame + i.copied + i.new,
                    ksm: i.ksm,
                };
            }
            r.family.insert(a.pid, i);
        }
    }
    Ok(r)
}

fn num(v: &Value) -> u64 {
    v.as_u64().unwrap_or(u64::MAX)
}

/// Whether SWAP (`swap_pss`) agrees with either reading: it is the kernel's SwapPss
/// (truncated to KiB, as Pss), plus shared memory in swap, which SwapPss leaves out: exact
/// where the process has none (its Swap all in page-table entries, as the walk sees them),
/// at least SwapPss where it has some.
fn swap_pss_agrees(
    swap_pss: u64,
    walks: &[Usage; 2],
    rolls: &[&std::collections::HashMap<String, u64>; 2],
) -> bool {
    walks.iter().zip(rolls).any(|(w, k)| {
        let d = swap_pss as f64 - k["SwapPss"] as f64;
        if k["Swap"] == w.swap {
            (-1.0..=1025.0).contains(&d)
        } else {
            d >= -1.0
        }
    })
}

/// `solab ps`'s classes of process `pid` (its JSON row) against the walk's.
fn compare_classes(
    pid: i32,
    row: &Value,
    readings: [&Reading; 2],
    bad: &mut dyn FnMut(&str, String),
) {
    for (c, name) in CLASSES.iter().enumerate() {
        let got = &row["classes"][name];
        let (rss, pss, uss, swap) = (
            num(&got["rss"]),
            num(&got["pss"]),
            num(&got["uss"]),
            num(&got["swap"]),
        );
        let walks = readings.map(|r| r.classes[&pid][c]);
        let agree = walks.iter().any(|w| {
            // The walk sees the swap entries of page tables, not shmem in swap (smaps_rollup
            // judges the process's swap as a whole).
            w.rss == rss
                && w.uss == uss
                && w.swap <= swap
                && (w.pss - pss as f64).abs() <= 1.0 + w.pss_outside
        });
        if !agree {
            bad(
                &format!("ps class {name} != walk"),
                format!(
                    "pid {pid} class {name}: solab rss {rss} pss {pss} uss {uss} swap {swap}; walk {:?}",
                    walks[0]
                ),
            );
        }
    }
}

/// `solab family`'s totals for child `pid` of `parent` against the walk's.
fn compare_member(
    parent: i32,
    pid: i32,
    members: &[Value],
    readings: [&Reading; 2],
    family: &Value,
    bad: &mut dyn FnMut(&str, String),
) {
    let Some(m) = members.iter().find(|m| m["pid"] == pid) else {
        bad(
            "family member",
            format!("pid {pid} not in family: {family}"),
        );
        return;
    };
    let t = &m["totals"];
    let got = walk::Inheritance {
        parents_frame: num(&t["parents_frame"]),
        copied: num(&t["copied"]),
        new: num(&t["new"]),
        ksm: num(&t["ksm"]),
    };
    let fam = readings.map(|r| r.family[&pid]);
    if !fam.contains(&got) {
        bad(
            "family != walk",
            format!(
                "child pid {pid} of pid {}: solab {got:?}, walk {:?}; solab's mappings {}",
                parent, fam[0], m["mappings"]
            ),
        );
    }
}

// ---- inspect and prove of the driver ---------------------------------------------------

/// The first disagreement of one reading with a page of `solab inspect`: its key and what.
type Disagreement = (&'static str, String);

/// Whether reading `r` agrees with inspect's `page` (a JSON page of the driver): the state
/// and frame of every actor's copy (of each page of a run that stands for several) and the
/// verdict across them.
fn inspect_page(r: &Reading, page: &Value) -> Result<(), Disagreement> {
    let n = num(&page["pages"]);
    let procs = page["procs"].as_array().cloned().unwrap_or_default();
    let mut first = Vec::new();
    for q in &procs {
        let pid = q["pid"].as_i64().unwrap_or(0) as i32;
        let vaddr = num(&q["vaddr"]);
        let state = q["state"].as_str().unwrap_or("?");
        let pfn = q["pfn"].as_u64();
        for k in 0..n {
            let a = vaddr + k * walk::PAGE;
            let Some(w) = r.image.get(&pid).and_then(|m| m.get(&a)) else {
                let what = format!("pid {pid} page {a:#x}: not in the driver's PT_LOADs");
                return Err(("inspect page != walk", what));
            };
            // A run of several pages stands for pages present nowhere.
            if w.state != state || (k == 0 && w.present() && w.pfn != pfn) {
                let what = format!(
                    "pid {pid} page {a:#x} (object offset {:#x}): solab {state} pfn {pfn:?}, walk {w:?}",
                    num(&page["offset"]) + k * walk::PAGE
                );
                return Err(("inspect state != walk", what));
            }
            if k == 0 {
                first.push(*w);
            }
        }
    }
    let v = walk::verdict(&first);
    if page["verdict"] != v {
        let what = format!(
            "object offset {:#x}: solab {}, walk {v} from {first:?}",
            num(&page["offset"]),
            page["verdict"]
        );
        return Err(("inspect verdict != walk", what));
    }
    Ok(())
}

/// `solab inspect --json -o DRIVER` against the walk: every actor has the object, and every
/// page agrees with one of the readings.
fn compare_inspect(
    world: &World,
    readings: [&Reading; 2],
    inspect: &Value,
    bad: &mut dyn FnMut(&str, String),
) {
    let objects = inspect["objects"].as_array().cloned().unwrap_or_default();
    let Some(obj) = objects.iter().find(|o| o["path"] == world.driver.as_str()) else {
        bad(
            "inspect object",
            format!("no object {} in {inspect}", world.driver),
        );
        return;
    };
    let want: BTreeSet<i64> = world.actors.values().map(|a| i64::from(a.pid)).collect();
    let got: BTreeSet<i64> = (obj["procs"].as_array().cloned().unwrap_or_default())
        .iter()
        .filter_map(|p| p["pid"].as_i64())
        .collect();
    if got != want {
        bad(
            "inspect procs",
            format!("inspect has {got:?}, the actors are {want:?}"),
        );
    }
    let mut shown = BTreeSet::new();
    for page in obj["pages"].as_array().cloned().unwrap_or_default() {
        let judged = readings.map(|r| inspect_page(r, &page));
        if let [Err((key, what)), Err(_)] = judged
            && shown.insert(key)
        {
            bad(key, what);
        }
    }
}

/// What `prove` should say of the driver, by the walk: the text claim and the data claim's
/// counts (prove's words, reference.md).
#[derive(Debug, PartialEq, Eq)]
struct Proof {
    text_status: &'static str,
    /// Text pages; present in every actor; of those, one frame.
    text: [u64; 3],
    /// Data and .bss pages; present in every actor; written; written and each writer's own
    /// frame; written and one frame in several actors (inherited: they are one fork family
    /// at one address); written and KSM-merged; unwritten and one frame in two or more.
    data: [u64; 7],
    exit: i32,
}

/// The pages of `ranges`.
fn pages_of(ranges: &[(u64, u64)]) -> impl Iterator<Item = u64> + '_ {
    ranges
        .iter()
        .flat_map(|&(a, b)| (a..b).step_by(walk::PAGE as usize))
}

/// The proof of reading `r`: the actors are one fork family (forks of the first, exec'd
/// or not, all running the driver), the driver is mapped at the same addresses in each.
fn expected_proof(world: &World, r: &Reading) -> Proof {
    let copies = |a: u64| -> Vec<walk::PageAt> {
        world
            .actors
            .values()
            .filter_map(|x| r.image.get(&x.pid).and_then(|m| m.get(&a)).copied())
            .collect()
    };
    let mut text = [0u64; 3];
    for a in pages_of(&world.segments.text) {
        let c = copies(a);
        text[0] += 1;
        if c.iter().all(walk::PageAt::present) {
            text[1] += 1;
            if walk::verdict(&c) == "shared" {
                text[2] += 1;
            }
        }
    }
    let mut data = [0u64; 7];
    for a in pages_of(&world.segments.data) {
        let c = copies(a);
        data[0] += 1;
        if c.iter().all(walk::PageAt::present) {
            data[1] += 1;
        }
        let writers: Vec<&walk::PageAt> = c.iter().filter(|p| p.written()).collect();
        if writers.is_empty() {
            data[6] += u64::from(walk::verdict(&c) == "shared");
            continue;
        }
        data[2] += 1;
        if writers.iter().any(|w| w.state == "ksm") {
            data[5] += 1;
        } else if writers.iter().all(|w| w.count == Some(1)) {
            data[3] += 1;
        } else {
            data[4] += 1;
        }
    }
    let text_status = if text[1] > text[2] {
        "fails"
    } else if text[1] == 0 {
        "not-applicable"
    } else {
        "holds"
    };
    let exit = match text_status {
        "fails" => 1,
        "not-applicable" => 3,
        _ => 0,
    };
    Proof {
        text_status,
        text,
        data,
        exit,
    }
}

/// `solab prove --json -o DRIVER` (its exit status `code`) against the walk's proof of
/// either reading.
fn compare_prove(
    world: &World,
    readings: [&Reading; 2],
    prove: &Value,
    code: i32,
    bad: &mut dyn FnMut(&str, String),
) {
    let claim = |id: &str| {
        prove["claims"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["id"] == id))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let (text, data) = (claim("text-shared"), claim("data-private"));
    let count = |c: &Value, k: &str| num(&c["counts"][k]);
    let got = Proof {
        text_status: match text["status"].as_str() {
            Some("holds") => "holds",
            Some("fails") => "fails",
            Some("not-applicable") => "not-applicable",
            _ => "?",
        },
        text: ["pages", "present_in_all", "one_frame"].map(|k| count(&text, k)),
        data: [
            "pages",
            "present_in_all",
            "written",
            "written_private",
            "inherited",
            "ksm_merged",
            "unwritten_shared",
        ]
        .map(|k| count(&data, k)),
        exit: code,
    };
    let want = readings.map(|r| expected_proof(world, r));
    if !want.contains(&got) {
        bad(
            "prove != walk",
            format!(
                "solab {got:?} (data claim {}), walk {:?}; solab's claims: {} / {}",
                data["status"], want[0], text["summary"], data["summary"]
            ),
        );
    }
    if data["status"] != "holds" {
        bad(
            "prove data claim",
            format!("the data claim {}: {}", data["status"], data["failures"]),
        );
    }
}

/// Compares solab's figures with the two readings taken just before and just after it
/// ran: a figure agrees when it agrees with either (the actors are stopped, but frames
/// they share with the rest of the machine, the vdso's, change their counts meanwhile).
fn compare(
    world: &World,
    [before, after]: [&Reading; 2],
    ps: &Value,
    family: &Value,
    (inspect, prove): (&Value, Option<&util::Run>),
) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let mut bad = |key: &str, detail: String| {
        out.push(Mismatch {
            key: key.to_string(),
            detail,
        })
    };
    let rows = ps["processes"].as_array().cloned().unwrap_or_default();
    let members = family["processes"].as_array().cloned().unwrap_or_default();
    for a in world.actors.values() {
        let pid = a.pid;
        let Some(row) = rows.iter().find(|r| r["pid"] == pid) else {
            bad("ps-row", format!("pid {pid} has no row in ps: {ps}"));
            continue;
        };
        let (rss, pss, uss, swap) = (
            num(&row["rss"]),
            num(&row["pss"]),
            num(&row["uss"]),
            num(&row["swap"]),
        );
        let readings = [before, after];
        let walks = readings.map(|r| r.usage[&pid]);
        let rolls = readings.map(|r| &r.rollup[&pid]);
        let private =
            |k: &std::collections::HashMap<String, u64>| k["Private_Clean"] + k["Private_Dirty"];
        let show = format!(
            "pid {pid}: solab rss {rss} pss {pss} uss {uss} swap {swap}; walk {:?}; smaps_rollup Rss {} Pss {} Private {} Swap {}",
            walks[0],
            rolls[0]["Rss"],
            rolls[0]["Pss"],
            private(rolls[0]),
            rolls[0]["Swap"]
        );
        let any_walk = |f: &dyn Fn(&Usage) -> bool| walks.iter().any(f);
        let any_roll = |f: &dyn Fn(&std::collections::HashMap<String, u64>) -> bool| {
            rolls.iter().any(|k| f(k))
        };
        // solab against the walk: exact but for PSS, which solab rounds once to bytes, and
        // whose share of frames mapped outside the actors (the vdso's) moves meanwhile, not
        // least by solab's own mapping of them while it runs.
        if !any_walk(&|w| w.rss == rss) {
            bad("ps rss != walk", show.clone());
        }
        if !any_walk(&|w| w.uss == uss) {
            bad("ps uss != walk", show.clone());
        }
        // The walk sees the swap entries of page tables; shmem in swap has none, and
        // smaps_rollup's Swap, below, is the judge of it.
        if !any_walk(&|w| w.swap <= swap) {
            bad("ps swap != walk", show.clone());
        }
        if !any_walk(&|w| (w.pss - pss as f64).abs() <= 1.0 + w.pss_outside) {
            bad("ps pss != walk", show.clone());
        }
        compare_classes(pid, row, readings, &mut bad);
        // solab against smaps_rollup: exact but for PSS, which the kernel sums in fixed
        // point (a page's share truncated to 1/4096 byte) and truncates to KiB once for
        // the whole process: the exact sum less the kernel's lies in [0, 1024] bytes, give
        // or take those fractions.
        let outside = walks[0].pss_outside.max(walks[1].pss_outside);
        let pss_below = |exact: f64, kernel: u64| {
            let d = exact - kernel as f64;
            (-1.0 - outside..=1025.0 + outside + (rss / walk::PAGE) as f64 / 4096.0).contains(&d)
        };
        if !any_roll(&|k| k["Rss"] == rss) {
            bad("ps rss != smaps_rollup", show.clone());
        }
        if !any_roll(&|k| private(k) == uss) {
            bad("ps uss != smaps_rollup Private", show.clone());
        }
        if !any_roll(&|k| k["Swap"] == swap) {
            bad("ps swap != smaps_rollup", show.clone());
        }
        let swap_pss = num(&row["swap_pss"]);
        if !swap_pss_agrees(swap_pss, &walks, &rolls) {
            bad(
                "ps swap_pss != smaps_rollup SwapPss",
                format!(
                    "{show}; solab swap_pss {swap_pss}, SwapPss {}",
                    rolls[0]["SwapPss"]
                ),
            );
        }
        if !any_roll(&|k| pss_below(pss as f64, k["Pss"])) {
            bad("ps pss != smaps_rollup", show.clone());
        }
        // The judges against each other: a disagreement is the walk's (or the kernel's).
        let judges = walks.iter().zip(rolls).any(|(w, k)| {
            w.rss == k["Rss"]
                && w.uss == private(k)
                && w.swap <= k["Swap"]
                && pss_below(w.pss, k["Pss"])
        });
        if !judges {
            bad("walk != smaps_rollup", show.clone());
        }

        if let Some(p) = a.parent {
            let parent = world.actors[&p].pid;
            compare_member(parent, pid, &members, readings, family, &mut bad);
        }
    }
    compare_inspect(world, [before, after], inspect, &mut bad);
    if let Some(p) = prove {
        compare_prove(world, [before, after], &p.json(), p.code, &mut bad);
    }
    out
}

/// Stops the actors, reads them, runs solab, reads them again; up to three times while
/// something disagrees. What disagrees every time. With `ksm`, KSM merges first (two
/// full scans, at most 5 s), then stops, its merged pages kept: ksmd changes the frames
/// of stopped processes too.
fn check(world: &World, seen: &mut Seen, ksm: Option<&KsmOn>) -> Result<Vec<Mismatch>, String> {
    if let Some(k) = ksm.filter(|_| world.mergeable()) {
        k.resume();
        k.settle(Duration::from_secs(5));
        k.pause();
    }
    let pids: Vec<i32> = world.actors.values().map(|a| a.pid).collect();
    let _frozen = Frozen::new(pids.clone());
    let mut last = Vec::new();
    let mut keys: Option<BTreeSet<String>> = None;
    for _ in 0..3 {
        let before = read_all(world)?;
        let args: Vec<String> = pids.iter().map(|p| p.to_string()).collect();
        let mut ps_args = vec!["ps", "--json"];
        ps_args.extend(args.iter().map(String::as_str));
        let ps = util::solab(&ps_args);
        let root = world.root().to_string();
        let family = util::solab(&["family", "--json", &root]);
        let mut object_args = vec!["--json", "-o", &world.driver];
        object_args.extend(args.iter().map(String::as_str));
        let inspect = util::solab(&[&["inspect"], &object_args[..]].concat());
        // prove compares two processes or more.
        let prove =
            (pids.len() >= 2).then(|| util::solab(&[&["prove"], &object_args[..]].concat()));
        let after = read_all(world)?;
        // prove exits 1 when a claim fails and 3 when inconclusive: its JSON says which.
        let failed = [("ps", &ps), ("family", &family), ("inspect", &inspect)]
            .into_iter()
            .filter(|(_, r)| r.code != 0)
            .chain(
                prove
                    .as_ref()
                    .map(|p| ("prove", p))
                    .filter(|(_, p)| !matches!(p.code, 0 | 1 | 3)),
            )
            .map(|(what, r)| format!("{what} exit {}: {}", r.code, r.stderr))
            .collect::<Vec<_>>();
        if !failed.is_empty() {
            return Ok(vec![Mismatch {
                key: "solab failed".into(),
                detail: failed.join("\n"),
            }]);
        }
        let found = compare(
            world,
            [&before, &after],
            &ps.json(),
            &family.json(),
            (&inspect.json(), prove.as_ref()),
        );
        if found.is_empty() {
            seen.add(world, &before);
        }
        let now: BTreeSet<String> = found.iter().map(|m| m.key.clone()).collect();
        let both: BTreeSet<String> = match keys {
            Some(k) => k.intersection(&now).cloned().collect(),
            None => now,
        };
        last = found;
        if both.is_empty() {
            return Ok(Vec::new());
        }
        keys = Some(both);
    }
    let keys = keys.unwrap_or_default();
    Ok(last.into_iter().filter(|m| keys.contains(&m.key)).collect())
}

// ---- runs, and the shrinker -----------------------------------------------------------

/// What a run compared, to show that the comparisons were not empty.
#[derive(Default)]
struct Seen {
    checks: usize,
    /// Process readings compared (one per actor per check).
    processes: usize,
    /// Sums over the readings compared (bytes).
    rss: u64,
    huge: u64,
    shared: u64,
    parents_frame: u64,
    copied: u64,
    new: u64,
    ksm: u64,
    swap: u64,
    /// The driver's pages in the actors by state (inspect's words), and the proofs' data
    /// claim counts: written, own, inherited, KSM-merged, unwritten and shared.
    states: BTreeMap<&'static str, u64>,
    proved: [u64; 5],
    /// Checks whose proof had no text page to compare (prove's exit 3).
    inconclusive: usize,
}

impl fmt::Display for Seen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mib = |b: u64| b as f64 / (1 << 20) as f64;
        write!(
            f,
            "{} checks of {} processes: RSS {:.1} MiB (AnonHugePages {:.1}, Shared {:.1}, Swap {:.1}); family parents-frame {:.1} MiB, copied {:.1}, new {:.1}, ksm {:.1}",
            self.checks,
            self.processes,
            mib(self.rss),
            mib(self.huge),
            mib(self.shared),
            mib(self.swap),
            mib(self.parents_frame),
            mib(self.copied),
            mib(self.new),
            mib(self.ksm)
        )?;
        let states: Vec<String> = self
            .states
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let [w, own, inh, ksm, uns] = self.proved;
        write!(
            f,
            "; the driver's pages: {}; prove's data pages written {w} (own {own}, inherited {inh}, KSM {ksm}), unwritten shared {uns}; {} proofs inconclusive",
            states.join(", "),
            self.inconclusive
        )
    }
}

impl Seen {
    fn add(&mut self, world: &World, r: &Reading) {
        self.checks += 1;
        for p in r.image.values().flat_map(|m| m.values()) {
            *self.states.entry(p.state).or_default() += 1;
        }
        if world.actors.len() >= 2 {
            let proof = expected_proof(world, r);
            for (i, k) in [2, 3, 4, 5, 6].into_iter().enumerate() {
                self.proved[i] += proof.data[k];
            }
            self.inconclusive += usize::from(proof.exit == 3);
        }
        for k in r.rollup.values() {
            self.processes += 1;
            let f = |n: &str| k.get(n).copied().unwrap_or(0);
            self.rss += f("Rss");
            self.huge += f("AnonHugePages");
            self.shared += f("Shared_Clean") + f("Shared_Dirty");
            self.swap += f("Swap");
        }
        for i in r.family.values() {
            self.parents_frame += i.parents_frame;
            self.copied += i.copied;
            self.new += i.new;
            self.ksm += i.ksm;
        }
    }
}

/// Where a run first disagreed: after operation `step`, what.
struct Failure {
    step: usize,
    found: Vec<Mismatch>,
}

/// What every run of a test uses: the driver, and KSM's switch when KSM merges pages in
/// this test.
struct Setup<'a> {
    driver: &'a Path,
    ksm: Option<&'a KsmOn>,
}

impl Setup<'_> {
    /// How to replay seed `seed`.
    fn replay(&self, seed: u64) -> String {
        let ksm = if self.ksm.is_some() {
            "DIFF_KSM=1 "
        } else {
            ""
        };
        format!("{ksm}DIFF_SEED={seed}")
    }
}

/// Applies `ops` in a new world, checking after each one (`every`) or only after the
/// last.
fn run(setup: &Setup, ops: &[Op], every: bool, seen: &mut Seen) -> Result<Option<Failure>, String> {
    let mut world = World::start(setup.driver);
    for (i, op) in ops.iter().enumerate() {
        world
            .apply(op)
            .map_err(|e| format!("operation {i} ({op}): {e}"))?;
        if every || i + 1 == ops.len() {
            let found = check(&world, seen, setup.ksm)?;
            if !found.is_empty() {
                return Ok(Some(Failure { step: i, found }));
            }
        }
    }
    Ok(None)
}

/// Whether `ops` still ends in a mismatch with `key`.
fn still_fails(setup: &Setup, ops: &[Op], key: &str) -> bool {
    let found = run(setup, ops, false, &mut Seen::default());
    matches!(found, Ok(Some(f)) if f.found.iter().any(|m| m.key == key))
}

/// Delta debugging (ddmin): the smallest subsequence of `ops` found within `budget` that
/// still ends in a mismatch with `key`.
fn shrink(setup: &Setup, mut ops: Vec<Op>, key: &str, budget: Duration) -> Vec<Op> {
    let deadline = Instant::now() + budget;
    let mut n = 2;
    while ops.len() >= 2 && Instant::now() < deadline {
        let chunk = ops.len().div_ceil(n);
        // The first complement (the sequence without one chunk) that still fails.
        let mut smaller = None;
        for i in 0..n {
            let (from, to) = (i * chunk, ((i + 1) * chunk).min(ops.len()));
            if from >= to || Instant::now() >= deadline {
                break;
            }
            let mut rest = ops[..from].to_vec();
            rest.extend_from_slice(&ops[to..]);
            if !rest.is_empty() && still_fails(setup, &rest, key) {
                smaller = Some(rest);
                break;
            }
        }
        match smaller {
            Some(rest) => {
                ops = rest;
                n = (n - 1).max(2);
            }
            None if n >= ops.len() => break,
            None => n = (n * 2).min(ops.len()),
        }
    }
    ops
}

/// The C driver, built static (see tests/difftest.c).
fn driver() -> Compiled {
    let src = util::artifacts().repo.join("tests/difftest.c");
    Compiled::from_file(&src, "difftest-driver", &["-O2", "-static"], &[])
}

/// Runs seed `seed` for `steps` operations; on a mismatch, a report with the minimal
/// sequence for each disagreeing figure not in `known` (which it joins).
fn one_seed(
    setup: &Setup,
    seed: u64,
    steps: usize,
    shrink_budget: Duration,
    known: &mut BTreeSet<String>,
) -> Option<String> {
    let ops = generate(seed, steps, setup.ksm.is_some());
    let mut seen = Seen::default();
    let result = run(setup, &ops, true, &mut seen);
    let mergeable = ops
        .iter()
        .filter(|o| matches!(o, Op::Advise { adv: 3, .. }))
        .count();
    eprintln!(
        "difftest: seed {seed}: {} operations ({mergeable} MADV_MERGEABLE); {seen}",
        ops.len()
    );
    let failure = match result {
        Ok(None) => return None,
        Ok(Some(f)) => f,
        Err(e) => {
            return Some(format!(
                "seed {seed}: the run failed: {e}\noperations:\n{}",
                listing(&ops)
            ));
        }
    };
    let upto = ops[..=failure.step].to_vec();
    let mut report = format!(
        "seed {seed} ({} replays it): after operation {} solab disagrees:\n",
        setup.replay(seed),
        failure.step
    );
    for m in &failure.found {
        report += &format!("  [{}] {}\n", m.key, m.detail);
    }
    report += &format!("operations:\n{}", listing(&upto));
    let keys: BTreeSet<String> = failure.found.iter().map(|m| m.key.clone()).collect();
    for key in keys {
        if !known.insert(key.clone()) {
            report += &format!("[{key}] was shrunk from an earlier seed\n");
            continue;
        }
        let small = shrink(setup, upto.clone(), &key, shrink_budget);
        report += &format!(
            "smallest sequence for [{key}] ({} operations):\n{}",
            small.len(),
            listing(&small)
        );
        if let Ok(Some(f)) = run(setup, &small, false, &mut Seen::default()) {
            for m in f.found.iter().filter(|m| m.key == key) {
                report += &format!("  it shows: {}\n", m.detail);
            }
        }
    }
    Some(report)
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn fresh_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    t ^ u64::from(std::process::id()) << 32
}

/// A swap file for the run (`DIFF_SWAP=1`), so that MADV_PAGEOUT puts pages in swap:
/// made with fallocate, mkswap and swapon, and swapped off and removed on Drop. It is the
/// machine's swap while it exists, so only `make difftest` asks for it.
struct SwapFile(PathBuf);

impl SwapFile {
    fn new() -> Result<SwapFile, String> {
        let path = PathBuf::from(format!("/var/tmp/solab-diff-swap-{}", std::process::id()));
        let made = SwapFile(path.clone());
        let run = |cmd: &mut Command| {
            let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "{cmd:?}: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
            }
        };
        run(Command::new("fallocate").args(["-l", "256M"]).arg(&path))?;
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .map_err(|e| e.to_string())?;
        run(Command::new("mkswap").arg(&path))?;
        run(Command::new("swapon").arg(&path))?;
        Ok(made)
    }
}

impl Drop for SwapFile {
    fn drop(&mut self) {
        let _ = Command::new("swapoff").arg(&self.0).output();
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Why this machine cannot run the test, if it cannot.
fn unavailable() -> Option<&'static str> {
    if !util::is_root() {
        return Some("the page walk reads frame numbers and /proc/kpagecount: needs root");
    }
    None
}

/// A few seconds of it: three new seeds (or `DIFF_SEED`) of `DIFF_STEPS` (30) operations.
#[test]
fn short_run_agrees_with_the_kernel() {
    if let Some(why) = unavailable() {
        return util::skip(why);
    }
    let driver = driver();
    let steps = env_u64("DIFF_STEPS").unwrap_or(30) as usize;
    let seeds = match env_u64("DIFF_SEED") {
        Some(s) => vec![s],
        None => (0..3).map(|_| fresh_seed()).collect(),
    };
    let mut known = BTreeSet::new();
    let setup = Setup {
        driver: &driver.path,
        ksm: None,
    };
    for seed in seeds {
        eprintln!("difftest: seed {seed} (DIFF_SEED={seed} replays it)");
        let budget = Duration::from_secs(120);
        if let Some(report) = one_seed(&setup, seed, steps, budget, &mut known) {
            panic!("{report}");
        }
    }
}

/// KSM switched on, or why not.
fn ksm_on() -> Result<KsmOn, &'static str> {
    if !Path::new(KsmOn::DIR).join("run").exists() {
        return Err("this kernel has no KSM (/sys/kernel/mm/ksm)");
    }
    KsmOn::start().ok_or("KSM could not be switched on here (/sys/kernel/mm/ksm/run)")
}

/// KSM merging the actors' equal pages (MADV_MERGEABLE three advice in four): one new seed
/// (or `DIFF_SEED`) of `DIFF_STEPS` (20) operations, KSM given up to 5 s to merge before
/// each check and stopped during it. Merged frames are `ksm` in inspect, KSM-merged in
/// prove's data claim, and never the parent's in family.
#[test]
fn ksm_run_agrees_with_the_kernel() {
    if let Some(why) = unavailable() {
        return util::skip(why);
    }
    let ksm = match ksm_on() {
        Ok(k) => k,
        Err(why) => return util::skip(why),
    };
    let driver = driver();
    let steps = env_u64("DIFF_STEPS").unwrap_or(20) as usize;
    let seed = env_u64("DIFF_SEED").unwrap_or_else(fresh_seed);
    let setup = Setup {
        driver: &driver.path,
        ksm: Some(&ksm),
    };
    eprintln!("difftest: seed {seed} ({} replays it)", setup.replay(seed));
    let budget = Duration::from_secs(120);
    if let Some(report) = one_seed(&setup, seed, steps, budget, &mut BTreeSet::new()) {
        panic!("{report}");
    }
}

/// `make difftest`: new seeds (or `DIFF_SEED`) for `DIFF_SECONDS`; every seed that
/// disagrees is reported with its smallest sequences.
#[test]
#[ignore]
fn long() {
    if let Some(why) = unavailable() {
        return util::skip(why);
    }
    let driver = driver();
    let seconds = env_u64("DIFF_SECONDS").unwrap_or(60);
    let steps = env_u64("DIFF_STEPS").unwrap_or(40) as usize;
    let shrink_budget = Duration::from_secs(env_u64("DIFF_SHRINK_SECONDS").unwrap_or(300));
    let _swap = match env_u64("DIFF_SWAP") {
        Some(1) => match SwapFile::new() {
            Ok(s) => Some(s),
            Err(e) => {
                util::skip(&format!(
                    "no swap file for MADV_PAGEOUT ({e}); running without"
                ));
                None
            }
        },
        _ => None,
    };
    let ksm = match env_u64("DIFF_KSM") {
        Some(1) => match ksm_on() {
            Ok(k) => Some(k),
            Err(why) => {
                util::skip(&format!("{why}; running without KSM"));
                None
            }
        },
        _ => None,
    };
    let setup = Setup {
        driver: &driver.path,
        ksm: ksm.as_ref(),
    };
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let fixed = env_u64("DIFF_SEED");
    let (mut seeds, mut reports, mut known) = (0, Vec::new(), BTreeSet::new());
    loop {
        let seed = fixed.unwrap_or_else(fresh_seed);
        eprintln!("difftest: seed {seed}");
        seeds += 1;
        if let Some(r) = one_seed(&setup, seed, steps, shrink_budget, &mut known) {
            eprintln!("{r}");
            reports.push(r);
        }
        if fixed.is_some() || Instant::now() >= deadline {
            break;
        }
    }
    eprintln!(
        "difftest: {seeds} seeds of {steps} operations, {} disagreed",
        reports.len()
    );
    assert!(reports.is_empty(), "{}", reports.join("\n"));
}
