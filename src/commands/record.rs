//! `solab family --record SECONDS PID`: which code copied the pages a fork family stopped
//! sharing. The family is read page by page ([`family::family_pictured`]), every user page
//! fault of its threads (and of what they fork meanwhile) is recorded for SECONDS
//! ([`perf::Recorder`]), and the family is read again while the recording still runs.
//! Each page of a child that was the parent's frame in the first reading and is a copy in
//! the second ([`Attributed`]), and each page that was not there and is new, is given to
//! the first fault recorded on that page in that process, and its call chain; a copy with
//! no fault of the child's own is given to a fault of its parent on that page (the parent
//! wrote, and kept the copy), else counted as not seen. Nothing is guessed.
//!
//! Memory: the first fault of each (process, page) is kept, at most [`MAX_PAGES_KEPT`]
//! (a fault beyond is dropped and its page counts as not seen); each distinct call chain
//! once.

use super::family::{self, FamilyPictures, FamilyReport, LookRun, PageLook};
use crate::addr::PAGE_SIZE;
use crate::error::{Error, Result};
use crate::kernel::Evidence;
use crate::kernel::perf::{Counts, Exit, Fault, Recorder};
use crate::kernel::process::ProcDir;
use crate::maps::MapEntry;
use crate::scan::{self, PidError};
use crate::sharing::Inheritance;
use crate::symbols::{Frame, Prologues, Symbolizer};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::{Duration, Instant};

pub const RECORD_SCHEMA: &str = "solab.family-record.v1";

/// The most (process, page) first faults kept.
pub const MAX_PAGES_KEPT: usize = 4 << 20;

/// How a page that changed in the window was attributed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Attributed {
    /// A fault of the process itself on the page was recorded.
    Seen,
    /// The process had no fault there, its parent had: the parent wrote and took the
    /// copy, the child kept the frame both had.
    ByParent,
    /// No fault on the page was recorded: it came before the recording started, was lost,
    /// or happened in the kernel (a system call writing into the page).
    NotSeen,
}

impl Attributed {
    pub const ALL: [Attributed; 3] = [Attributed::Seen, Attributed::ByParent, Attributed::NotSeen];

    pub fn name(self) -> &'static str {
        match self {
            Attributed::Seen => "seen",
            Attributed::ByParent => "by-parent",
            Attributed::NotSeen => "not-seen",
        }
    }

    pub fn meaning(self) -> &'static str {
        match self {
            Attributed::Seen => "the first page fault the process took on the page was recorded",
            Attributed::ByParent => {
                "no fault of the process there; its parent's was recorded: the parent wrote"
            }
            Attributed::NotSeen => {
                "no fault recorded on the page: before the window, lost, or in a system call"
            }
        }
    }
}

/// What changed in the window: pages copied from the parent's frame, and new pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// The parent's frame in the first reading, a copy in the second.
    Copied,
    /// No anonymous page in the first reading, a new one (not the parent's) in the second.
    New,
}

impl Change {
    pub const ALL: [Change; 2] = [Change::Copied, Change::New];

    pub fn name(self) -> &'static str {
        match self {
            Change::Copied => "copied-in-window",
            Change::New => "new-in-window",
        }
    }

    pub fn meaning(self) -> &'static str {
        match self {
            Change::Copied => {
                "the parent's frame (weak: looked inherited) in the first reading, a copy in the second"
            }
            Change::New => "no anonymous page in the first reading, a new one in the second",
        }
    }
}

/// Bytes of pages that changed in the window, by how they were attributed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changed {
    pub bytes: u64,
    pub seen: u64,
    pub by_parent: u64,
    pub not_seen: u64,
}

impl Changed {
    fn count(&mut self, a: Attributed) {
        self.bytes += PAGE_SIZE;
        *match a {
            Attributed::Seen => &mut self.seen,
            Attributed::ByParent => &mut self.by_parent,
            Attributed::NotSeen => &mut self.not_seen,
        } += PAGE_SIZE;
    }
    fn add(&mut self, o: &Changed) {
        self.bytes += o.bytes;
        self.seen += o.seen;
        self.by_parent += o.by_parent;
        self.not_seen += o.not_seen;
    }
}

/// Bytes by innermost function (`object!function`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionRow {
    pub function: String,
    /// `seen` (the process's own fault) or `by-parent`.
    pub by: Attributed,
    pub copied: u64,
    pub new: u64,
}

/// Bytes by call chain, innermost function first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainRow {
    pub chain: Vec<String>,
    pub by: Attributed,
    pub copied: u64,
    pub new: u64,
    /// The object of the chain's outermost frame, where that frame is not a process or
    /// thread entry ([`CHAIN_STOPS`]); none when the chain reaches one, or when its
    /// process's map was not read.
    #[serde(default)]
    pub stops_in: Option<String>,
}

/// The word for call chains that end before a process or thread entry.
pub const CHAIN_STOPS: (&str, &str) = (
    "chain-stops",
    "call chains whose outermost frame is in this object and is no process or thread \
     entry: the kernel's walk along frame pointers stopped there",
);

/// The functions a complete user call chain ends in: where a process starts (glibc's
/// `_start` and the callers of `main`, musl's) and where a thread starts.
pub const ENTRIES: [&str; 15] = [
    "_start",
    "__libc_start_main",
    "__libc_start_main_impl",
    "__libc_start_call_main",
    "libc_start_main_stage2",
    "start_thread",
    "clone",
    "__clone",
    "clone3",
    "__clone3",
    "__clone_internal",
    "thread_start",
    "runtime.goexit",
    "runtime.rt0_go",
    "runtime.mstart",
];

/// Bytes whose call chains stop in one object ([`CHAIN_STOPS`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopRow {
    pub object: String,
    pub copied: u64,
    pub new: u64,
    /// Weak: how many of the object's functions sampled set up a frame pointer.
    pub prologues: Option<Prologues>,
}

/// What changed in one process, or in the family, and who did it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Attribution {
    pub copied: Changed,
    pub new: Changed,
    /// Most bytes first.
    pub functions: Vec<FunctionRow>,
    pub chains: Vec<ChainRow>,
    /// By object, most bytes first: the bytes whose call chains stop there.
    #[serde(default)]
    pub chains_stop: Vec<StopRow>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecordedMember {
    pub pid: i32,
    pub ppid: i32,
    pub comm: String,
    /// Not in the first reading: forked in the window (every copy it holds was made in it).
    pub born_in_window: bool,
    #[serde(flatten)]
    pub attribution: Attribution,
}

/// What the recording itself saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Recording {
    pub seconds: u64,
    /// Seconds recorded when stopped early (Ctrl-C), else none.
    pub stopped_after: Option<f64>,
    /// Threads the events were opened on; their later threads and children inherit them.
    pub threads: usize,
    pub events: usize,
    /// Ring buffer memory mapped, headers included.
    pub ring_bytes: u64,
    /// Page faults recorded.
    pub faults: u64,
    /// Faults the kernel could not record (PERF_RECORD_LOST).
    pub lost: u64,
    /// Records that did not parse.
    pub malformed: u64,
    /// Faults dropped past [`MAX_PAGES_KEPT`] pages.
    pub dropped: u64,
}

/// What `solab family --record SECONDS PID --json` prints.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecordReport {
    pub schema: String,
    pub evidence: Evidence,
    /// Without frame numbers the first reading's "parent's frame" is "looks inherited".
    pub weak: bool,
    pub privilege_note: Option<String>,
    pub page_size: u64,
    pub root: i32,
    pub recording: Recording,
    /// Every descendant in the second reading, in tree order.
    pub processes: Vec<RecordedMember>,
    /// Over every descendant.
    pub family: Attribution,
    /// Objects whose symbols could not be read (their addresses stay numbers).
    pub unresolved_objects: Vec<String>,
    pub errors: Vec<PidError>,
    /// With `--watch`: what changed in each interval, the last one cut short included.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub intervals: Vec<IntervalReport>,
}

/// One interval of a watched recording, in the JSON document.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IntervalReport {
    pub from: f64,
    pub to: f64,
    pub last: bool,
    pub recording: Recording,
    /// None when the family could not be read at the interval's end.
    pub processes: Option<Vec<RecordedMember>>,
    pub family: Option<Attribution>,
}

impl IntervalReport {
    pub fn of(i: &Interval) -> IntervalReport {
        IntervalReport {
            from: i.from,
            to: i.to,
            last: i.last,
            recording: i.recording,
            processes: i.report.as_ref().map(|r| r.processes.clone()),
            family: i.report.as_ref().map(|r| r.family.clone()),
        }
    }
}

/// The first fault kept per (process, page), and the call chains, each once.
#[derive(Default)]
struct Faults {
    first: HashMap<(i32, u64), (u64, u32)>,
    chains: Vec<(i32, Vec<u64>)>,
    chain_ids: HashMap<(i32, Vec<u64>), u32>,
    dropped: u64,
}

impl Faults {
    fn keep(&mut self, f: Fault) {
        let page = f.addr & !(PAGE_SIZE - 1);
        if let Some(&(t, _)) = self.first.get(&(f.pid, page))
            && t <= f.time
        {
            return;
        }
        if self.first.len() >= MAX_PAGES_KEPT && !self.first.contains_key(&(f.pid, page)) {
            self.dropped += 1;
            return;
        }
        let chain = if f.chain.is_empty() {
            vec![f.ip]
        } else {
            f.chain
        };
        let key = (f.pid, chain);
        let id = match self.chain_ids.get(&key) {
            Some(&id) => id,
            None => {
                let id = self.chains.len() as u32;
                self.chains.push(key.clone());
                self.chain_ids.insert(key, id);
                id
            }
        };
        self.first.insert((f.pid, page), (f.time, id));
    }
}

/// The look of the page at `addr` among `runs` (sorted by start).
fn look_at(runs: &[LookRun], addr: u64) -> Option<PageLook> {
    let k = runs.partition_point(|r| r.start <= addr);
    let r = runs.get(k.checked_sub(1)?)?;
    (addr < r.end()).then_some(r.look)
}

/// Each child's runs of one reading, sorted by address.
fn runs_by_pid(pictures: &FamilyPictures) -> HashMap<i32, Vec<LookRun>> {
    let mut by_pid: HashMap<i32, Vec<LookRun>> = HashMap::new();
    for (&(pid, _), runs) in &pictures.runs {
        by_pid.entry(pid).or_default().extend(runs.iter().cloned());
    }
    for runs in by_pid.values_mut() {
        runs.sort_by_key(|r| r.start);
    }
    by_pid
}

/// Every `every` of a recording (`family --record --watch`), what changed since the reading
/// before is handed to `each` as a report of its own (its `recording` counts that interval
/// only); `each` returns false to end the recording (nobody reads any more).
pub struct Intervals<'a> {
    pub every: Duration,
    pub each: &'a mut dyn FnMut(&Interval) -> bool,
}

/// One interval of a watched recording.
pub struct Interval {
    /// Seconds since the recording started, at the interval's start and end.
    pub from: f64,
    pub to: f64,
    /// The last interval: it ends with the recording (SECONDS over, Ctrl-C, the family
    /// gone), often before a whole interval.
    pub last: bool,
    /// The counts of the interval (its real length in `stopped_after` when it is the last).
    pub recording: Recording,
    /// What changed in it; none when the family could not be read at its end (gone).
    pub report: Option<RecordReport>,
}

/// What a recording keeps while it runs.
struct Run {
    recorder: Recorder,
    faults: Faults,
    seen: Seen,
    symbols: Symbolizer,
}

impl Run {
    fn drain(&mut self) {
        let (faults, seen) = (&mut self.faults, &mut self.seen);
        self.recorder.drain(|f| {
            seen.meet(f.pid);
            faults.keep(f);
        });
    }

    /// The counts since `since` (the counts of the recording so far when `since` is zero).
    fn recording(&self, seconds: u64, since: Counts, stopped_after: Option<f64>) -> Recording {
        let now = self.recorder.counts();
        Recording {
            seconds,
            stopped_after,
            threads: self.recorder.threads(),
            events: self.recorder.events(),
            ring_bytes: self.recorder.ring_bytes(),
            faults: now.samples - since.samples,
            lost: now.lost - since.lost,
            malformed: now.malformed - since.malformed,
            dropped: self.faults.dropped,
        }
    }
}

/// Records the family of `root` for `seconds`, or until `stop` says so; `started` is
/// called once the events are on, with the number of threads recorded. With `lines`, each
/// frame is named with its source file and line where the object has DWARF. With
/// `intervals`, the family is also read every interval and what changed in it reported.
pub fn record(
    root: i32,
    seconds: u64,
    threads: usize,
    lines: bool,
    started: impl FnOnce(usize),
    stop: impl Fn() -> bool,
    mut intervals: Option<Intervals>,
) -> Result<RecordReport> {
    let (before, before_pictures) =
        family::family_pictured(root, threads).map_err(for_recording)?;
    let pids: Vec<i32> = before.processes.iter().map(|m| m.pid).collect();
    let mut run = Run {
        recorder: Recorder::start(&pids)?,
        faults: Faults::default(),
        seen: Seen::default(),
        symbols: Symbolizer::default(),
    };
    run.symbols.lines = lines;
    started(run.recorder.threads());
    let begun = Instant::now();
    let deadline = begun + Duration::from_secs(seconds);
    let mut stopped = false;
    // The last interval's reading (none: the first), its end and counts.
    let mut last: (Option<FamilyPictures>, f64, Counts) = (None, 0.0, Counts::default());
    // The root's exit ends the recording: its family can no longer be read.
    let root_exit = Exit::watch(root);
    while Instant::now() < deadline {
        if stop() {
            stopped = true;
            break;
        }
        if root_exit.seen() {
            break;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        run.recorder.wait(left.as_millis().min(50) as i32);
        run.drain();
        let Some(iv) = intervals.as_mut() else {
            continue;
        };
        let at = begun.elapsed().as_secs_f64();
        if at < last.1 + iv.every.as_secs_f64() || Instant::now() >= deadline {
            continue;
        }
        // The root gone, the recording ends; the reading after it says why.
        let Ok(now) = family::family_pictured(root, threads) else {
            break;
        };
        run.drain();
        let recording = run.recording(iv.every.as_secs(), last.2, None);
        let then = last.0.as_ref().unwrap_or(&before_pictures);
        let report = attribute(
            then,
            &now,
            &run.faults,
            &mut run.seen,
            recording,
            &mut run.symbols,
        );
        let interval = Interval {
            from: last.1,
            to: at,
            last: false,
            recording,
            report: Some(report),
        };
        last = (Some(now.1), at, run.recorder.counts());
        if !(iv.each)(&interval) {
            stopped = true;
            intervals = None;
            break;
        }
    }
    // The second reading while the events still record: a page copied during it has its
    // fault kept.
    let after = family::family_pictured(root, threads);
    run.drain();
    // Unless nobody reads any more, the interval cut short is printed too.
    if let Some(iv) = intervals.as_mut() {
        last_interval(&mut run, iv, &before_pictures, &last, &after, begun);
    }
    let recording = run.recording(
        seconds,
        Counts::default(),
        stopped.then(|| begun.elapsed().as_secs_f64()),
    );
    let Run {
        recorder,
        faults,
        mut seen,
        mut symbols,
    } = run;
    drop(recorder);
    let after = after?;
    Ok(attribute(
        &before_pictures,
        &after,
        &faults,
        &mut seen,
        recording,
        &mut symbols,
    ))
}

/// The interval the end of the recording cut short, from the last interval's reading
/// (`last`: reading, end, counts) to the reading `after` the recording.
fn last_interval(
    run: &mut Run,
    iv: &mut Intervals,
    before: &FamilyPictures,
    last: &(Option<FamilyPictures>, f64, Counts),
    after: &Result<(FamilyReport, FamilyPictures)>,
    begun: Instant,
) {
    let to = begun.elapsed().as_secs_f64();
    let recording = run.recording(iv.every.as_secs(), last.2, Some(to - last.1));
    let report = after.as_ref().ok().map(|now| {
        attribute(
            last.0.as_ref().unwrap_or(before),
            now,
            &run.faults,
            &mut run.seen,
            recording,
            &mut run.symbols,
        )
    });
    (iv.each)(&Interval {
        from: last.1,
        to,
        last: true,
        recording,
        report,
    });
}

/// A refusal to read the family, said for the recording: what else it needs, and what
/// works without it.
fn for_recording(e: Error) -> Error {
    match e {
        Error::PermissionDenied { path, hint } => Error::PermissionDenied {
            path,
            hint: Some(format!(
                "{}; recording another user's processes also needs CAP_PERFMON (or \
                 CAP_SYS_ADMIN), or CAP_SYS_PTRACE with perf_event_paranoid <= 2; \
                 your own processes can be recorded without privilege",
                hint.as_deref().unwrap_or("another user's process")
            )),
        },
        e => e,
    }
}

/// The maps of each process that faulted, read when its first fault was met (a child may
/// exit before the end) and again at the end where it is still there.
#[derive(Default)]
struct Seen(HashMap<i32, Option<(ProcDir, Vec<MapEntry>)>>);

impl Seen {
    fn meet(&mut self, pid: i32) {
        self.0.entry(pid).or_insert_with(|| read_maps(pid));
    }
    fn refresh(&mut self) {
        for (pid, slot) in self.0.iter_mut() {
            if let Some(fresh) = read_maps(*pid) {
                *slot = Some(fresh);
            }
        }
    }
}

fn read_maps(pid: i32) -> Option<(ProcDir, Vec<MapEntry>)> {
    let scan::Visit::Read(scan::Held { dir, .. }) = scan::hold(pid, scan::Door::default()) else {
        return None;
    };
    let mut maps = dir.read_maps().ok()?;
    maps.sort_by_key(|m| m.start);
    Some((dir, maps))
}

/// Per member, the pages that changed and the fault each is given to; then the names.
fn attribute(
    before: &FamilyPictures,
    (after, after_pictures): &(FamilyReport, FamilyPictures),
    faults: &Faults,
    seen: &mut Seen,
    recording: Recording,
    symbols: &mut Symbolizer,
) -> RecordReport {
    let old = runs_by_pid(before);
    let new = runs_by_pid(after_pictures);
    // (member, by, chain) → (copied, new) bytes.
    let mut tally: Vec<HashMap<(Attributed, u32), (u64, u64)>> = Vec::new();
    let mut members = Vec::new();
    for m in after.processes.iter().filter(|m| m.depth > 0) {
        let was = old.get(&m.pid);
        let mut counts = (Changed::default(), Changed::default());
        let mut chains: HashMap<(Attributed, u32), (u64, u64)> = HashMap::new();
        for run in new.get(&m.pid).into_iter().flatten() {
            let PageLook::Inherited(now) = run.look else {
                continue;
            };
            for page in 0..run.pages {
                let addr = run.start + page * PAGE_SIZE;
                let then = was.map(|w| look_at(w, addr));
                let change = match (now, then) {
                    (Inheritance::Copied, None) => Change::Copied,
                    (
                        Inheritance::Copied,
                        Some(Some(PageLook::Inherited(
                            Inheritance::ParentsFrame | Inheritance::LooksInherited,
                        ))),
                    ) => Change::Copied,
                    (Inheritance::New, None | Some(None)) => Change::New,
                    _ => continue,
                };
                let (by, chain) = match faults.first.get(&(m.pid, addr)) {
                    Some(&(_, c)) => (Attributed::Seen, Some(c)),
                    None => match faults.first.get(&(m.ppid, addr)) {
                        Some(&(_, c)) if change == Change::Copied => {
                            (Attributed::ByParent, Some(c))
                        }
                        _ => (Attributed::NotSeen, None),
                    },
                };
                let slot = match change {
                    Change::Copied => &mut counts.0,
                    Change::New => &mut counts.1,
                };
                slot.count(by);
                if let Some(c) = chain {
                    let e = chains.entry((by, c)).or_default();
                    match change {
                        Change::Copied => e.0 += PAGE_SIZE,
                        Change::New => e.1 += PAGE_SIZE,
                    }
                }
            }
        }
        tally.push(chains);
        members.push(RecordedMember {
            pid: m.pid,
            ppid: m.ppid,
            comm: m.comm.clone(),
            born_in_window: was.is_none(),
            attribution: Attribution {
                copied: counts.0,
                new: counts.1,
                ..Attribution::default()
            },
        });
    }
    // Names: each chain's addresses in the maps of the process that faulted.
    seen.refresh();
    let mut names: HashMap<u32, Named> = HashMap::new();
    for chains in &tally {
        for &(_, c) in chains.keys() {
            names.entry(c).or_insert_with(|| {
                let (pid, addrs) = &faults.chains[c as usize];
                name_chain(symbols, seen.0.get(pid).and_then(Option::as_ref), addrs)
            });
        }
    }
    let mut family = Attribution::default();
    let mut all: HashMap<(Attributed, u32), (u64, u64)> = HashMap::new();
    for (m, chains) in members.iter_mut().zip(&tally) {
        family.copied.add(&m.attribution.copied);
        family.new.add(&m.attribution.new);
        for (k, v) in chains {
            let e = all.entry(*k).or_default();
            e.0 += v.0;
            e.1 += v.1;
        }
        rows(&mut m.attribution, chains, &names);
    }
    rows(&mut family, &all, &names);
    RecordReport {
        schema: RECORD_SCHEMA.into(),
        evidence: after.evidence,
        weak: after.weak,
        privilege_note: after.privilege_note.clone(),
        page_size: PAGE_SIZE,
        root: after.root,
        recording,
        processes: members,
        family,
        unresolved_objects: symbols.unreadable.clone(),
        errors: after.errors.clone(),
        intervals: Vec::new(),
    }
}

/// A call chain named, and where it stops short of an entry.
struct Named {
    names: Vec<String>,
    /// The object where the chain stops ([`CHAIN_STOPS`]), and how it was built (weak).
    stop: Option<(String, Option<Prologues>)>,
}

fn name_chain(
    symbols: &mut Symbolizer,
    process: Option<&(ProcDir, Vec<MapEntry>)>,
    addrs: &[u64],
) -> Named {
    let Some((dir, maps)) = process else {
        let names = addrs
            .iter()
            .map(|a| {
                Frame {
                    object: "[exited]".into(),
                    function: format!("{a:#x}"),
                    line: None,
                }
                .name()
            })
            .collect();
        return Named { names, stop: None };
    };
    let mut names = Vec::with_capacity(addrs.len());
    // The outermost frame in code: past it the kernel read no frame, or garbage.
    let mut last: Option<(u64, Frame)> = None;
    let mut in_code = true;
    for (i, &a) in addrs.iter().enumerate() {
        // A return address is the instruction after the call: look up the call.
        let at = if i == 0 { a } else { a.saturating_sub(1) };
        let frame = symbols.resolve(dir, maps, at);
        names.push(frame.name_with_line());
        in_code = in_code && Symbolizer::mapping_at(maps, at).is_some_and(|m| m.perms.exec);
        if in_code {
            last = Some((at, frame));
        }
    }
    let stop = match last {
        Some((_, f)) if ENTRIES.contains(&f.function.as_str()) => None,
        Some((at, f)) => Some((f.object, symbols.prologues(dir, maps, at))),
        None => None,
    };
    Named { names, stop }
}

/// The rows of `a` from its chains' bytes: by innermost function, by chain, and by the
/// object where chains stop.
fn rows(
    a: &mut Attribution,
    chains: &HashMap<(Attributed, u32), (u64, u64)>,
    names: &HashMap<u32, Named>,
) {
    type Stop<'n> = Option<&'n (String, Option<Prologues>)>;
    let mut by_chain: HashMap<(Attributed, &[String]), (u64, u64, Stop)> = HashMap::new();
    let mut by_function: HashMap<(Attributed, &str), (u64, u64)> = HashMap::new();
    let mut by_stop: HashMap<&str, (u64, u64, Option<Prologues>)> = HashMap::new();
    for (&(by, c), &(copied, new)) in chains {
        let named = names.get(&c);
        let chain = named.map_or(&[][..], |n| n.names.as_slice());
        let stop = named.and_then(|n| n.stop.as_ref());
        let e = by_chain.entry((by, chain)).or_default();
        e.0 += copied;
        e.1 += new;
        e.2 = stop;
        let f = chain.first().map_or("[none]", String::as_str);
        let e = by_function.entry((by, f)).or_default();
        e.0 += copied;
        e.1 += new;
        if let Some((object, prologues)) = stop {
            let e = by_stop.entry(object).or_default();
            e.0 += copied;
            e.1 += new;
            e.2 = *prologues;
        }
    }
    a.functions = by_function
        .into_iter()
        .map(|((by, f), (copied, new))| FunctionRow {
            function: f.to_string(),
            by,
            copied,
            new,
        })
        .collect();
    a.functions.sort_by(|x, y| {
        (y.copied, y.new, x.by, &x.function).cmp(&(x.copied, x.new, y.by, &y.function))
    });
    a.chains = by_chain
        .into_iter()
        .map(|((by, chain), (copied, new, stop))| ChainRow {
            chain: chain.to_vec(),
            by,
            copied,
            new,
            stops_in: stop.map(|(o, _)| o.clone()),
        })
        .collect();
    a.chains
        .sort_by(|x, y| (y.copied, y.new, x.by, &x.chain).cmp(&(x.copied, x.new, y.by, &y.chain)));
    a.chains_stop = by_stop
        .into_iter()
        .map(|(object, (copied, new, prologues))| StopRow {
            object: object.to_string(),
            copied,
            new,
            prologues,
        })
        .collect();
    a.chains_stop
        .sort_by(|x, y| (y.copied + y.new, &x.object).cmp(&(x.copied + x.new, &y.object)));
}
