//! `solab inspect`: for each ELF object (and vdso) mapped in the given processes, every
//! page's state in each process and the verdict across them, joined into an
//! [`InspectReport`].
//!
//! Evidence comes through [`crate::scan`] (objects planned once, processes read once),
//! pagemap through one reader per process, frames through one windowed kpage read; states
//! and verdicts are [`crate::sharing`]'s.

use super::{check_pattern, matches_pattern};
use crate::addr::{PAGE_SIZE, Pfn, VirtAddr};
use crate::attribute::{self, MappingKind, Placement};
use crate::elf::ElfPlan;
use crate::error::{Error, Result};
use crate::kernel::pagemap::Pagemap;
use crate::kernel::smaps::{SmapsFigures, read_smaps};
use crate::kernel::{self, Privilege, config, kpage, process};
use crate::maps::{MapEntry, MapTarget};
use crate::pagemap::{FrameInfo, PagemapEntry};
use crate::report::*;
use crate::scan::{Lookup, ObjKey, Object, ObjectCache, PidError, Process};
use crate::sharing::{self, Copy};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// What to inspect.
#[derive(Clone, Debug, Default)]
pub struct InspectOptions {
    pub pids: Vec<i32>,
    /// Only objects whose path matches (see [`super::matches_pattern`]).
    pub object: Option<String>,
}

/// One object in one process, sampled.
struct Sample {
    pid: i32,
    path: String,
    deleted: bool,
    placement: Placement,
    windows: Vec<(VirtAddr, VirtAddr, MappingKind, MapEntry)>,
    /// One entry per page of the image, from `placement.base`.
    entries: Vec<PagemapEntry>,
}

impl Sample {
    fn kind_at(&self, addr: VirtAddr) -> Option<MappingKind> {
        self.windows
            .iter()
            .find(|(s, e, _, _)| *s <= addr && addr < *e)
            .map(|w| w.2)
    }
    fn entry_at(&self, addr: VirtAddr) -> PagemapEntry {
        let idx = addr.0.wrapping_sub(self.placement.base.0) / PAGE_SIZE;
        self.entries.get(idx as usize).copied().unwrap_or_default()
    }
}

fn display_path(m: &MapEntry) -> String {
    match &m.target {
        MapTarget::File { path, .. } => path.to_string_lossy().into_owned(),
        MapTarget::Pseudo(p) => p.clone(),
        MapTarget::Anonymous => String::new(),
    }
}

/// Runs the scan. Per-process failures (a pid that vanished, a kernel thread, another
/// user's process) are reported in [`InspectReport::errors`] while the other processes
/// are still reported; only system-wide failures and usage errors are an `Err`.
pub fn inspect(opts: &InspectOptions) -> Result<InspectReport> {
    kernel::check_page_size()?;
    if let Some(p) = &opts.object {
        check_pattern(p)?;
    }
    let privilege = kernel::detect_privilege();
    let mut errors: Vec<PidError> = Vec::new();
    let mut procs: Vec<Process> = Vec::new();
    let mut seen = BTreeSet::new();
    for &pid in &opts.pids {
        if !seen.insert(pid) {
            continue;
        }
        match Process::read(pid) {
            Ok(p) => procs.push(p),
            Err(e) => errors.push(PidError::new(pid, &e)),
        }
    }

    // Objects in order of first appearance.
    let mut cache = ObjectCache::new(crate::elf::Detail::Full);
    let mut order: Vec<usize> = Vec::new();
    let mut dead: BTreeSet<i32> = BTreeSet::new();
    // (object index, pid) -> the mapping that starts it in that process
    let mut starts: HashMap<(usize, i32), MapEntry> = HashMap::new();
    for p in &procs {
        for m in p.object_mappings() {
            let path = display_path(m);
            if opts
                .object
                .as_deref()
                .is_some_and(|pat| !matches_pattern(pat, &path))
            {
                continue;
            }
            match cache.lookup(p.pid, m) {
                Ok(Lookup::Elf(i)) => {
                    if !order.contains(&i) {
                        order.push(i);
                    }
                    starts.entry((i, p.pid)).or_insert_with(|| m.clone());
                }
                Ok(_) => {}
                Err(e) => {
                    dead.insert(p.pid);
                    errors.push(PidError::new(p.pid, &e));
                    break;
                }
            }
        }
    }

    let mut pagemaps: HashMap<i32, Pagemap> = HashMap::new();
    let mut sampled: Vec<(Arc<Object>, Vec<Sample>)> = Vec::new();
    for &i in &order {
        let obj = cache.get(i).clone();
        let mut samples = Vec::new();
        for p in &procs {
            if dead.contains(&p.pid) {
                continue;
            }
            let Some(first) = starts.get(&(i, p.pid)) else {
                continue;
            };
            let (placement, id) = match obj.key {
                ObjKey::File(id) => match attribute::place(&obj.plan, &p.maps, id) {
                    Ok(pl) => (pl, Some(id)),
                    Err(reason) => {
                        cache.skipped.push(crate::scan::Skipped {
                            pid: p.pid,
                            path: display_path(first),
                            kind: crate::error::ErrorKind::BadElf,
                            reason,
                        });
                        continue;
                    }
                },
                ObjKey::Vdso(_) => (attribute::place_at(&obj.plan, first.start), None),
            };
            match sample(p, first, placement, id, &mut pagemaps) {
                Ok(s) => samples.push(s),
                Err(e) => {
                    dead.insert(p.pid);
                    errors.push(PidError::new(p.pid, &e));
                }
            }
        }
        if !samples.is_empty() {
            sampled.push((obj, samples));
        }
    }
    for (_, samples) in &mut sampled {
        samples.retain(|s| !dead.contains(&s.pid));
    }
    sampled.retain(|(_, samples)| !samples.is_empty());

    let frames: HashMap<Pfn, FrameInfo> = if privilege.frames() {
        let pfns: Vec<Pfn> = sampled
            .iter()
            .flat_map(|(_, s)| s.iter())
            .flat_map(|s| s.entries.iter().filter_map(|e| e.pfn()))
            .collect();
        kpage::frames(&pfns)?
    } else {
        HashMap::new()
    };

    let mut smaps: HashMap<i32, HashMap<u64, SmapsFigures>> = HashMap::new();
    for p in &procs {
        if dead.contains(&p.pid) {
            continue;
        }
        match read_smaps(p.pid) {
            Ok(s) => {
                smaps.insert(p.pid, s);
            }
            Err(e @ Error::NoSuchProcess { .. }) => {
                dead.insert(p.pid);
                errors.push(PidError::new(p.pid, &e));
            }
            Err(_) => {} // figures stay null
        }
    }

    let objects = sampled
        .iter()
        .map(|(obj, samples)| build_object(obj, samples, &frames, &smaps, &privilege))
        .collect();
    let live: Vec<&Process> = procs.iter().filter(|p| !dead.contains(&p.pid)).collect();
    Ok(InspectReport {
        schema: INSPECT_SCHEMA.into(),
        evidence: privilege.evidence,
        privileged: privilege.frames(),
        privilege_note: privilege.note.clone(),
        kernel: config::kernel_facts(),
        pids: live.iter().map(|p| p.pid).collect(),
        processes: live
            .iter()
            .map(|p| ProcessInfo {
                pid: p.pid,
                comm: process::comm(p.pid),
                uid: process::uid(p.pid).ok(),
                ppid: process::stat(p.pid).ok().map(|s| s.ppid),
            })
            .collect(),
        errors,
        skipped: cache.skipped,
        objects,
    })
}

fn sample(
    p: &Process,
    first: &MapEntry,
    placement: Placement,
    id: Option<crate::maps::FileId>,
    pagemaps: &mut HashMap<i32, Pagemap>,
) -> Result<Sample> {
    let windows = attribute::windows(&p.maps, &placement, id);
    let pages = (placement.end.0 - placement.base.0) / PAGE_SIZE;
    let mut entries = vec![PagemapEntry::default(); pages as usize];
    let pm = match pagemaps.entry(p.pid) {
        std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
        std::collections::hash_map::Entry::Vacant(v) => v.insert(Pagemap::open(p.pid)?),
    };
    let mut got = Vec::new();
    for w in &windows {
        pm.read_into(w.start, w.pages(), &mut got)?;
        let from = ((w.start.0 - placement.base.0) / PAGE_SIZE) as usize;
        entries[from..from + got.len()].copy_from_slice(&got);
    }
    Ok(Sample {
        pid: p.pid,
        path: display_path(first),
        deleted: matches!(first.target, MapTarget::File { deleted: true, .. }),
        windows: windows
            .iter()
            .map(|w| (w.start, w.end, w.kind, w.entry.clone()))
            .collect(),
        placement,
        entries,
    })
}

/// The pure half of a scan, for fuzzing: the page reports of the object `plan` (file
/// `id`, or the vdso) in processes given as (pid, maps, placement, pagemap words of the
/// image from `placement.base`), with `frames` as kpagecount/kpageflags would give them.
/// The scan reads those from the kernel, then does exactly this.
pub fn pages_from_words(
    plan: &ElfPlan,
    id: Option<crate::maps::FileId>,
    procs: &[(i32, &[MapEntry], Placement, Vec<PagemapEntry>)],
    frames: &HashMap<Pfn, FrameInfo>,
) -> Vec<PageReport> {
    let samples: Vec<Sample> = procs
        .iter()
        .map(|(pid, maps, placement, entries)| Sample {
            pid: *pid,
            path: String::new(),
            deleted: false,
            windows: attribute::windows(maps, placement, id)
                .iter()
                .map(|w| (w.start, w.end, w.kind, w.entry.clone()))
                .collect(),
            placement: placement.clone(),
            entries: entries.clone(),
        })
        .collect();
    page_reports(plan, &samples, frames)
}

/// The copies of the page at ELF address `vaddr` in each sampled process.
fn page_in_processes(
    vaddr: u64,
    samples: &[Sample],
    frames: &HashMap<Pfn, FrameInfo>,
) -> Vec<PageInProcess> {
    samples
        .iter()
        .map(|s| {
            let addr = s.placement.runtime(vaddr);
            let entry = s.entry_at(addr);
            let frame = entry.pfn().and_then(|p| frames.get(&p));
            let state =
                sharing::page_state(s.kind_at(addr), entry, frame.map(|f| (f.flags, f.mapcount)));
            PageInProcess {
                pid: s.pid,
                vaddr: addr,
                state,
                present: state.is_present(),
                pfn: entry.pfn(),
                mapcount: frame.map(|f| f.mapcount),
                exclusive: entry.exclusive(),
                file: entry.file_or_shared_anon(),
                flags: frame
                    .map(|f| f.flags.names().iter().map(|n| n.to_string()).collect())
                    .unwrap_or_default(),
            }
        })
        .collect()
}

/// The page reports of one object: one per page, except that consecutive pages of one
/// plan run that are present in no process and alike in every process are one entry, so
/// a huge, mostly untouched image costs memory for what is there, not for its size.
fn page_reports(
    plan: &ElfPlan,
    samples: &[Sample],
    frames: &HashMap<Pfn, FrameInfo>,
) -> Vec<PageReport> {
    let mut out: Vec<PageReport> = Vec::new();
    for run in &plan.runs {
        let sections = plan.section_names(plan.section_set(run));
        let mut absent_from: Option<usize> = None;
        for i in 0..run.pages {
            let page_vaddr = run.vaddr + i * PAGE_SIZE;
            let procs = page_in_processes(page_vaddr, samples, frames);
            let copies: Vec<Copy> = procs
                .iter()
                .map(|p| Copy {
                    state: p.state,
                    pfn: p.pfn,
                    exclusive: p.exclusive,
                })
                .collect();
            let verdict = sharing::verdict(&copies);
            let absent = !procs.iter().any(|p| p.present);
            if absent
                && let Some(k) = absent_from
                && out[k]
                    .procs
                    .iter()
                    .zip(&procs)
                    .all(|(a, b)| a.state == b.state)
            {
                out[k].pages += 1;
                continue;
            }
            absent_from = absent.then_some(out.len());
            let page = plan.page_at_vaddr(page_vaddr);
            out.push(PageReport {
                offset: run.offset + i * PAGE_SIZE,
                pages: 1,
                segment: run.segment,
                sections: sections.clone(),
                loader: run.loader,
                relocations: page.map_or(0, |p| p.relocations),
                verdict,
                procs,
            });
        }
    }
    out
}

fn build_object(
    obj: &Object,
    samples: &[Sample],
    frames: &HashMap<Pfn, FrameInfo>,
    smaps: &HashMap<i32, HashMap<u64, SmapsFigures>>,
    privilege: &Privilege,
) -> ObjectReport {
    let plan = &obj.plan;
    let pages = page_reports(plan, samples, frames);
    let (kind, dev, inode) = match obj.key {
        ObjKey::File(id) => (
            ObjectKind::Elf,
            Some(format!("{:02x}:{:02x}", id.dev.0, id.dev.1)),
            Some(id.inode),
        ),
        ObjKey::Vdso(_) => (ObjectKind::Vdso, None, None),
    };
    let procs = samples
        .iter()
        .map(|s| ObjectInProcess {
            pid: s.pid,
            path: s.path.clone(),
            deleted: s.deleted,
            load_base: s.placement.base,
            load_bias: s.placement.bias,
            mappings: s
                .windows
                .iter()
                .map(|(start, end, kind, entry)| {
                    let fig = smaps.get(&s.pid).and_then(|m| m.get(&entry.start.0));
                    MappingReport {
                        start: *start,
                        end: *end,
                        perms: entry.perms.to_string(),
                        offset: entry.offset,
                        kind: *kind,
                        target: (*kind != MappingKind::File)
                            .then(|| display_path(entry))
                            .filter(|p| !p.is_empty()),
                        rss: fig.map(|f| f.rss),
                        pss: fig.map(|f| f.pss),
                        shared: fig.map(|f| f.shared),
                        private: fig.map(|f| f.private),
                    }
                })
                .collect(),
        })
        .collect();
    ObjectReport {
        path: obj.path.clone(),
        kind,
        dev,
        inode,
        build_id: plan.build_id.clone(),
        soname: plan.soname.clone(),
        textrel: plan.textrel,
        bind_now: plan.bind_now,
        has_shared_section: plan.has_shared_section,
        weak: !privilege.frames(),
        summary: summarize(&pages),
        procs,
        pages,
    }
}

/// Whether a page in a process is written, by [`sharing::written`]'s rule.
pub fn written(page: &PageReport, p: &PageInProcess) -> Option<bool> {
    sharing::written(p.state, page.segment == crate::elf::SegmentKind::Bss)
}
