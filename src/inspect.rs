//! The scan behind `solab inspect`: reads the processes' maps, each object's ELF file once
//! per (device, inode), pagemap once per mapping range, kpagecount/kpageflags for the
//! present frames, and smaps; then joins them into an [`InspectReport`].
//!
//! The reading is in [`crate::proc`]; placing, classifying and deciding are the pure
//! functions of [`crate::attribute`], [`crate::elf`] and [`crate::verdict`].

use crate::addr::{PAGE_SIZE, Pfn, VirtAddr};
use crate::attribute::{self, MappingKind, Placement};
use crate::elf::{self, ElfPlan};
use crate::error::{Error, Result};
use crate::maps::{FileId, MapEntry, MapTarget};
use crate::pagemap::{FrameInfo, PagemapEntry};
use crate::proc::{self, Pagemap, SmapsFigures};
use crate::report::*;
use crate::verdict::{self, Evidence};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// What to inspect.
#[derive(Clone, Debug, Default)]
pub struct InspectOptions {
    pub pids: Vec<i32>,
    /// Only objects whose path or file name matches (see [`matches_pattern`]).
    pub object: Option<String>,
}

/// `PATTERN` matches an object when it equals the path or the file name, is contained in
/// the file name, or (when it contains `/`) is contained in the path.
pub fn matches_pattern(pattern: &str, path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    path == pattern
        || name == pattern
        || name.contains(pattern)
        || (pattern.contains('/') && path.contains(pattern))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum ObjKey {
    File(FileId),
    Vdso,
}

fn key_of(m: &MapEntry) -> Option<ObjKey> {
    if m.is_pseudo("[vdso]") {
        Some(ObjKey::Vdso)
    } else {
        m.file_id().map(ObjKey::File)
    }
}

fn display_path(m: &MapEntry) -> String {
    match &m.target {
        MapTarget::File { path, .. } => path.to_string_lossy().into_owned(),
        MapTarget::Pseudo(p) => p.clone(),
        MapTarget::Anonymous => String::new(),
    }
}

struct ProcScan {
    pid: i32,
    maps: Vec<MapEntry>,
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

/// Runs the scan. Per-process failures (a pid that vanished, a kernel thread, another
/// user's process) are reported in [`InspectReport::errors`] while the other processes
/// are still reported; only system-wide failures are an `Err`.
pub fn inspect(opts: &InspectOptions) -> Result<InspectReport> {
    proc::check_page_size()?;
    let privilege = proc::detect_privilege();
    let mut errors: Vec<PidError> = Vec::new();
    let mut skipped: Vec<Skipped> = Vec::new();
    let mut scans: Vec<ProcScan> = Vec::new();
    let mut seen = BTreeSet::new();
    for &pid in &opts.pids {
        if !seen.insert(pid) {
            continue;
        }
        match proc::read_maps(pid) {
            Ok(maps) => scans.push(ProcScan { pid, maps }),
            Err(e) => errors.push(PidError {
                pid,
                message: e.to_string(),
            }),
        }
    }

    // Objects in order of first appearance, with the path they were first seen under.
    let mut keys: Vec<(ObjKey, String)> = Vec::new();
    for scan in &scans {
        for m in &scan.maps {
            let Some(key) = key_of(m) else { continue };
            let path = display_path(m);
            if opts
                .object
                .as_deref()
                .is_some_and(|pat| !matches_pattern(pat, &path))
            {
                continue;
            }
            if !keys.iter().any(|(k, _)| *k == key) {
                keys.push((key, path));
            }
        }
    }

    let mut dead: BTreeSet<i32> = BTreeSet::new();
    let mut pagemaps: HashMap<i32, Pagemap> = HashMap::new();
    let mut sampled: Vec<(ObjKey, String, Arc<ElfPlan>, Vec<Sample>)> = Vec::new();
    for (key, path) in keys {
        let plan = match load_plan(key, &scans) {
            Ok(p) => Arc::new(p),
            Err((pid, reason)) => {
                skipped.push(Skipped { pid, path, reason });
                continue;
            }
        };
        let mut samples = Vec::new();
        for scan in &scans {
            if dead.contains(&scan.pid) {
                continue;
            }
            let Some(first) = scan.maps.iter().find(|m| key_of(m) == Some(key)) else {
                continue;
            };
            let placement = match key {
                ObjKey::File(id) => attribute::place(&plan, &scan.maps, id),
                ObjKey::Vdso => Ok(attribute::place_at(&plan, first.start)),
            };
            let placement = match placement {
                Ok(p) => p,
                Err(reason) => {
                    skipped.push(Skipped {
                        pid: scan.pid,
                        path: display_path(first),
                        reason,
                    });
                    continue;
                }
            };
            let id = match key {
                ObjKey::File(id) => Some(id),
                ObjKey::Vdso => None,
            };
            match sample(scan, first, placement, id, &mut pagemaps) {
                Ok(s) => samples.push(s),
                Err(e) => {
                    dead.insert(scan.pid);
                    errors.push(PidError {
                        pid: scan.pid,
                        message: e.to_string(),
                    });
                }
            }
        }
        if !samples.is_empty() {
            sampled.push((key, path, plan, samples));
        }
    }
    for (_, _, _, samples) in &mut sampled {
        samples.retain(|s| !dead.contains(&s.pid));
    }
    sampled.retain(|(_, _, _, samples)| !samples.is_empty());

    let frames: HashMap<Pfn, FrameInfo> = if privilege.privileged {
        let pfns: Vec<Pfn> = sampled
            .iter()
            .flat_map(|(_, _, _, s)| s.iter())
            .flat_map(|s| s.entries.iter().filter_map(|e| e.pfn()))
            .collect();
        proc::read_frames(&pfns)?
    } else {
        HashMap::new()
    };

    let mut smaps: HashMap<i32, HashMap<u64, SmapsFigures>> = HashMap::new();
    for scan in &scans {
        if dead.contains(&scan.pid) {
            continue;
        }
        match proc::read_smaps(scan.pid) {
            Ok(s) => {
                smaps.insert(scan.pid, s);
            }
            Err(e @ Error::NoSuchProcess { .. }) => {
                dead.insert(scan.pid);
                errors.push(PidError {
                    pid: scan.pid,
                    message: e.to_string(),
                });
            }
            Err(_) => {} // figures stay null
        }
    }

    let objects = sampled
        .iter()
        .map(|(key, path, plan, samples)| {
            build_object(*key, path, plan, samples, &frames, &smaps, &privilege)
        })
        .collect();
    let live: Vec<&ProcScan> = scans.iter().filter(|s| !dead.contains(&s.pid)).collect();
    Ok(InspectReport {
        schema: INSPECT_SCHEMA,
        privileged: privilege.privileged,
        privilege_note: privilege.note.clone(),
        pids: live.iter().map(|s| s.pid).collect(),
        processes: live
            .iter()
            .map(|s| ProcessInfo {
                pid: s.pid,
                comm: proc::comm(s.pid),
                uid: proc::uid(s.pid).ok(),
            })
            .collect(),
        errors,
        skipped,
        objects,
    })
}

/// Reads and plans an object once, from the first process that lets us read it.
fn load_plan(key: ObjKey, scans: &[ProcScan]) -> Result<ElfPlan, (i32, String)> {
    let mut last = (0, "not mapped".to_string());
    for scan in scans {
        let Some(entry) = scan.maps.iter().find(|m| key_of(m) == Some(key)) else {
            continue;
        };
        let bytes = match key {
            ObjKey::Vdso => proc::read_own_vdso(),
            ObjKey::File(_) => proc::read_mapped_file(scan.pid, entry),
        };
        match bytes {
            Ok(bytes) => {
                return elf::plan(&bytes).map_err(|e| {
                    (
                        scan.pid,
                        format!(
                            "{}",
                            Error::Elf {
                                path: display_path(entry).into(),
                                reason: e.0
                            }
                        ),
                    )
                });
            }
            Err(Error::Elf { reason, .. }) => return Err((scan.pid, reason)),
            Err(e) => last = (scan.pid, e.to_string()),
        }
    }
    Err(last)
}

fn sample(
    scan: &ProcScan,
    first: &MapEntry,
    placement: Placement,
    id: Option<FileId>,
    pagemaps: &mut HashMap<i32, Pagemap>,
) -> Result<Sample> {
    let windows = attribute::windows(&scan.maps, &placement, id);
    let pages = (placement.end.0 - placement.base.0) / PAGE_SIZE;
    let mut entries = vec![PagemapEntry::default(); pages as usize];
    let pm = match pagemaps.entry(scan.pid) {
        std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
        std::collections::hash_map::Entry::Vacant(v) => v.insert(Pagemap::open(scan.pid)?),
    };
    for w in &windows {
        let got = pm.read(w.start, w.pages())?;
        let from = ((w.start.0 - placement.base.0) / PAGE_SIZE) as usize;
        entries[from..from + got.len()].copy_from_slice(&got);
    }
    Ok(Sample {
        pid: scan.pid,
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

fn build_object(
    key: ObjKey,
    path: &str,
    plan: &ElfPlan,
    samples: &[Sample],
    frames: &HashMap<Pfn, FrameInfo>,
    smaps: &HashMap<i32, HashMap<u64, SmapsFigures>>,
    privilege: &proc::Privilege,
) -> ObjectReport {
    let pages: Vec<PageReport> = plan
        .pages
        .iter()
        .map(|page| {
            let procs: Vec<PageInProcess> = samples
                .iter()
                .map(|s| {
                    let addr = s.placement.runtime(page.vaddr);
                    let entry = s.entry_at(addr);
                    let frame = entry.pfn().and_then(|p| frames.get(&p));
                    let state = verdict::page_state(s.kind_at(addr), entry, frame.map(|f| f.flags));
                    PageInProcess {
                        pid: s.pid,
                        vaddr: addr.0,
                        state,
                        present: state.is_present(),
                        pfn: entry.pfn().map(|p| p.0),
                        mapcount: frame.map(|f| f.mapcount),
                        exclusive: entry.exclusive(),
                        file: entry.file_or_shared_anon(),
                        flags: frame.map(|f| f.flags.names()).unwrap_or_default(),
                    }
                })
                .collect();
            let evidence: Vec<Evidence> = procs
                .iter()
                .map(|p| Evidence {
                    state: p.state,
                    pfn: p.pfn.map(Pfn),
                    exclusive: p.exclusive,
                })
                .collect();
            PageReport {
                offset: page.offset,
                segment: page.segment,
                sections: page.sections.clone(),
                loader: page.loader,
                relocations: page.relocations,
                verdict: verdict::verdict(&evidence),
                procs,
            }
        })
        .collect();
    let (dev, inode) = match key {
        ObjKey::File(id) => (
            Some(format!("{:02x}:{:02x}", id.dev.0, id.dev.1)),
            Some(id.inode),
        ),
        ObjKey::Vdso => (None, None),
    };
    let procs = samples
        .iter()
        .map(|s| ObjectInProcess {
            pid: s.pid,
            path: s.path.clone(),
            deleted: s.deleted,
            load_base: s.placement.base.0,
            load_bias: s.placement.bias,
            mappings: s
                .windows
                .iter()
                .map(|(start, end, kind, entry)| {
                    let fig = smaps.get(&s.pid).and_then(|m| m.get(&entry.start.0));
                    MappingReport {
                        start: start.0,
                        end: end.0,
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
        path: path.to_string(),
        kind: match key {
            ObjKey::File(_) => "elf",
            ObjKey::Vdso => "vdso",
        },
        dev,
        inode,
        build_id: plan.build_id.clone(),
        soname: plan.soname.clone(),
        textrel: plan.textrel,
        bind_now: plan.bind_now,
        has_shared_section: plan.has_shared_section,
        weak: !privilege.privileged,
        summary: summarize(&pages),
        procs,
        pages,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let libc = "/usr/lib/x86_64-linux-gnu/libc.so.6";
        assert!(matches_pattern("libc.so.6", libc));
        assert!(matches_pattern("libc.so", libc));
        assert!(matches_pattern(libc, libc));
        assert!(matches_pattern("x86_64-linux-gnu/libc", libc));
        assert!(!matches_pattern("libm", libc));
        assert!(!matches_pattern("usr", libc));
        assert!(matches_pattern("vdso", "[vdso]"));
    }
}
