//! From buckets to figures: distinct frames, memory saved and PSS per object and for the
//! machine.

use super::frames::{Frames, count_union};
use super::report::*;
use super::scanner::{Bucket, Merged, ObjAcc, ObjInfo, kind_index};
use super::{LIBS_SCHEMA, ObjectSeen};
use crate::addr::{PAGE_SIZE, Pfn};
use crate::elf::SegmentKind;
use crate::error::Result;
use crate::kernel::{self, kpage};
use crate::scan::PidError;
use std::sync::Arc;

pub(super) fn finish(
    mut s: Merged,
    privilege: kernel::Privilege,
    scope: ScopeName,
    processes: ProcessCounts,
    errors: Vec<PidError>,
    self_scanned: bool,
    facts: kernel::config::KernelFacts,
) -> Result<(LibsReport, Vec<ObjectSeen>)> {
    let privileged = s.privileged;
    in_canonical_order(&mut s.objs);
    let per_obj = object_frames(&s.objs);
    let pss_source = pss_source(privileged, scope);
    let mapcounts = mapcounts(pss_source, self_scanned, &per_obj)?;
    let (rows, seen, obj_totals) = object_rows(&s.objs, per_obj, mapcounts, privileged);
    let anonymous = bucket_totals(&s.anon, privileged);
    let other_files = bucket_totals(&s.files, privileged);
    let all = machine_totals(&s, &seen, [&obj_totals, &anonymous, &other_files]);
    let report = LibsReport {
        schema: LIBS_SCHEMA.into(),
        privileged,
        privilege_note: privilege.note,
        mode: if privileged {
            Mode::Frames
        } else {
            Mode::Estimate
        },
        pss_source,
        scope,
        kernel: facts,
        page_size: PAGE_SIZE,
        processes,
        errors,
        totals: MachineTotals {
            objects: rows.len() as u32,
            elf_objects: obj_totals,
            anonymous,
            other_files,
            all,
            zero_page_mappings: s.zero_mappings,
        },
        objects: rows,
        // Data files mapped by programs (locale archives, caches) are counted as other
        // files, not listed as skipped objects.
        skipped: s
            .skipped
            .into_iter()
            .filter(|k| k.kind != crate::error::ErrorKind::NotElf)
            .collect(),
    };
    Ok((report, seen))
}

/// An object of the merge: the object (`None` if no worker placed it), its path, its
/// buckets.
type MergedObject = (Option<Arc<ObjInfo>>, String, ObjAcc);

/// Objects in a canonical order (path, then device and inode or vdso image), whatever
/// order the workers met them in; objects no process could place are left out.
fn in_canonical_order(objs: &mut Vec<MergedObject>) {
    objs.retain(|o| o.0.is_some() && o.2.procs > 0);
    objs.sort_by(|a, b| {
        (&a.1, a.0.as_ref().map(|i| i.plan.key)).cmp(&(&b.1, b.0.as_ref().map(|i| i.plan.key)))
    });
}

/// The non-exclusive frames of each object, sorted (for PSS), and the distinct ones.
fn object_frames(objs: &[MergedObject]) -> Vec<(Frames, Vec<u64>)> {
    let mut per_obj: Vec<(Frames, Vec<u64>)> = Vec::new();
    for (_, _, o) in objs {
        // Each kind's list is sorted (by the workers, and their merge): merged, not
        // sorted again (a radix sort of every frame of every object would be a large
        // part of `libs PID...`).
        let mut pages = Frames::default();
        for k in &o.kinds {
            pages.merge(k.pfns.clone());
        }
        let distinct = pages.distinct();
        per_obj.push((pages, distinct));
    }
    per_obj
}

/// kpagecount (page-table mappings of a frame, in every process) of each object's distinct
/// frames, for PSS, only for the non-exclusive frames of ELF objects (an exclusive frame is
/// mapped once), and only when PSS comes from it ([`pss_source`]): when every process was
/// scanned, the mappings of a frame are the ones seen, no need to ask (each list empty).
/// solab's own mappings are taken off, unless solab is one of the processes scanned.
fn mapcounts(
    pss_source: PssSource,
    self_scanned: bool,
    per_obj: &[(Frames, Vec<u64>)],
) -> Result<Vec<Vec<u64>>> {
    if pss_source != PssSource::Kpagecount {
        return Ok(vec![Vec::new(); per_obj.len()]);
    }
    let own = if self_scanned {
        kpage::OwnFrames::default()
    } else {
        kpage::OwnFrames::read()?
    };
    per_obj
        .iter()
        .map(|(_, d)| {
            let counts = kpage::counts(&d.iter().map(|&p| Pfn(p)).collect::<Vec<_>>())?;
            Ok(d.iter()
                .zip(counts)
                .map(|(&p, c)| own.others(p, c))
                .collect())
        })
        .collect()
}

/// One row per placed object (`per_obj` its frames, `mapcounts` their counts), what the
/// scan keeps of each beside it, and their totals.
fn object_rows(
    objs: &[MergedObject],
    per_obj: Vec<(Frames, Vec<u64>)>,
    mapcounts: Vec<Vec<u64>>,
    privileged: bool,
) -> (Vec<LibRow>, Vec<ObjectSeen>, Totals) {
    let mut rows = Vec::new();
    let mut seen = Vec::new();
    let mut obj_totals = Totals {
        frames: privileged.then_some(0),
        pss_pages: Some(0.0),
        ..Totals::default()
    };
    for (((info, path, o), (pages, distinct)), counts) in objs.iter().zip(per_obj).zip(mapcounts) {
        let Some(info) = info else { continue };
        let row = object_row(info, path, o, (pages, &distinct), &counts, privileged);
        obj_totals.resident_pages += row.resident_pages;
        if let (Some(t), Some(f)) = (obj_totals.frames.as_mut(), row.frames) {
            *t += f;
        }
        obj_totals.saved_pages += row.saved_pages;
        if let Some(p) = obj_totals.pss_pages.as_mut() {
            *p += row.pss_pages;
        }
        rows.push(row);
        seen.push(ObjectSeen {
            build_id: info.plan.plan.build_id.clone(),
            shared_frames: distinct,
        });
    }
    (rows, seen, obj_totals)
}

/// The row of one object: its figures per segment kind, its private copies, and as root
/// its frames, the memory sharing saves and PSS (`counts`: its frames' kpagecount, empty
/// when the frames seen are all the mappings); without frames smaps' estimates.
fn object_row(
    info: &ObjInfo,
    path: &str,
    o: &ObjAcc,
    (pages, distinct): (Frames, &[u64]),
    counts: &[u64],
    privileged: bool,
) -> LibRow {
    let page = PAGE_SIZE as f64;
    let mut segments = std::collections::BTreeMap::new();
    let mut est = SmapsEstimate::default();
    for (kind, acc) in SegmentKind::ALL.iter().zip(o.kinds.iter()) {
        let d = acc.pfns.count_distinct();
        est.rss_pages += acc.smaps.rss as f64 / page;
        est.pss_pages += acc.smaps.pss as f64 / page;
        est.shared_pages += acc.smaps.shared as f64 / page;
        est.private_pages += acc.smaps.private as f64 / page;
        if acc.resident > 0 || acc.private > 0 {
            segments.insert(
                *kind,
                KindFigures {
                    resident_pages: acc.resident,
                    frames: privileged.then_some(acc.exclusive + d as u64),
                    private_pages: acc.private,
                },
            );
        }
    }
    let private_of = |k: SegmentKind| o.kinds[kind_index(k)].private;
    let private = PrivateCopies {
        text: private_of(SegmentKind::Text) + private_of(SegmentKind::Rodata),
        relro: private_of(SegmentKind::Relro),
        data: private_of(SegmentKind::Data)
            + private_of(SegmentKind::Bss)
            + private_of(SegmentKind::Shared),
    };
    let resident: u64 = o.kinds.iter().map(|k| k.resident).sum();
    let exclusive: u64 = o.kinds.iter().map(|k| k.exclusive).sum();
    let (frames, saved, pss) = if privileged {
        let f = exclusive + distinct.len() as u64;
        let pss = exclusive as f64 + pss_of(&pages, distinct, counts);
        (Some(f), resident.saturating_sub(f) as f64, pss)
    } else {
        (
            None,
            (est.rss_pages - est.pss_pages).max(0.0),
            est.pss_pages,
        )
    };
    LibRow {
        path: path.to_string(),
        dev: info
            .id
            .map(|id| format!("{:02x}:{:02x}", id.dev.0, id.dev.1)),
        inode: info.id.map(|id| id.inode),
        soname: info.soname.clone(),
        procs: o.procs,
        resident_pages: resident,
        frames,
        saved_pages: saved,
        pss_pages: pss,
        private,
        textrel: info.textrel,
        segments,
        estimate: (!privileged).then_some(est),
    }
}

/// The totals of anonymous memory or of other files: as root from their distinct frames,
/// else from smaps' figures.
fn bucket_totals(acc: &Bucket, privileged: bool) -> Totals {
    if privileged {
        // Sorted by the workers and the merge.
        let f = acc.exclusive + acc.pfns.count_distinct() as u64;
        Totals {
            resident_pages: acc.resident,
            frames: Some(f),
            saved_pages: acc.resident.saturating_sub(f) as f64,
            pss_pages: None,
        }
    } else {
        let page = PAGE_SIZE as f64;
        let (rss, pss) = (acc.smaps.rss as f64 / page, acc.smaps.pss as f64 / page);
        Totals {
            resident_pages: acc.resident,
            frames: None,
            saved_pages: (rss - pss).max(0.0),
            pss_pages: Some(pss),
        }
    }
}

/// The machine's totals, over `parts` (ELF objects, anonymous memory, other files): as
/// root each frame mapped more than once, of every object and bucket, counted once.
fn machine_totals(s: &Merged, seen: &[ObjectSeen], parts: [&Totals; 3]) -> Totals {
    let [objects, anonymous, other_files] = parts;
    let resident = objects.resident_pages + anonymous.resident_pages + other_files.resident_pages;
    if s.privileged {
        let obj_exclusive: u64 = s
            .objs
            .iter()
            .flat_map(|o| o.2.kinds.iter())
            .map(|k| k.exclusive)
            .sum();
        // The frames mapped more than once, of every object and bucket, counted once.
        let lists: Vec<&[u64]> = seen.iter().map(|o| o.shared_frames.as_slice()).collect();
        let shared = count_union(&lists, &[&s.anon.pfns, &s.files.pfns]);
        let f = obj_exclusive + s.anon.exclusive + s.files.exclusive + shared;
        Totals {
            resident_pages: resident,
            frames: Some(f),
            saved_pages: resident.saturating_sub(f) as f64,
            pss_pages: None,
        }
    } else {
        Totals {
            resident_pages: resident,
            frames: None,
            saved_pages: objects.saved_pages + anonymous.saved_pages + other_files.saved_pages,
            pss_pages: None,
        }
    }
}

/// Where PSS comes from: smaps without frame numbers; with them, the frames seen when every
/// process was scanned (each frame then counts 1 in all, so only distinct frames matter),
/// /proc/kpagecount otherwise.
pub(super) fn pss_source(privileged: bool, scope: ScopeName) -> PssSource {
    match (privileged, scope) {
        (false, _) => PssSource::Smaps,
        (true, ScopeName::All) => PssSource::Frames,
        (true, ScopeName::Pids | ScopeName::User) => PssSource::Kpagecount,
    }
}

/// PSS of the non-exclusive pages: each of the `pages` (sorted frame numbers, one per
/// mapping) counts 1/mapcount of its frame. `counts[i]` is the kpagecount of
/// `distinct[i]`; a frame seen more often than the kernel counts (it changed during the
/// scan) counts as mapped that often.
fn pss_of(pages: &Frames, distinct: &[u64], counts: &[u64]) -> f64 {
    if counts.is_empty() {
        // Each frame's mappings are the ones seen: it counts 1 in all.
        return distinct.len() as f64;
    }
    let mut pss = 0.0;
    let mut pages = pages.runs().peekable();
    for (k, &frame) in distinct.iter().enumerate() {
        let run = pages.next_if(|&(p, _)| p == frame).map_or(0, |(_, n)| n);
        let count = counts.get(k).copied().unwrap_or(run).max(run).max(1);
        pss += run as f64 / count as f64;
    }
    pss
}
