//! `solab elf FILE`: the static page plan of one ELF file, from its headers alone, as a
//! report: per run of pages its segment kind, loader action, sections and relocations.

use crate::elf::{
    self, ElfPlan, LimitHit, LoadSegment, LoaderAction, PageRun, PlanErrorKind, Section,
    SegmentKind,
};
use crate::error::{Error, Result};
use crate::kernel::files;
use serde::Serialize;
use std::path::Path;

pub const ELF_SCHEMA: &str = "solab.elf.v2";

/// The report of `solab elf` (its `--json`): the plan with its pages as runs.
#[derive(Serialize)]
pub struct ElfReport {
    pub schema: &'static str,
    pub path: String,
    pub e_type: String,
    pub machine: u16,
    pub class64: bool,
    pub soname: Option<String>,
    pub needed: Vec<String>,
    pub build_id: Option<String>,
    pub textrel: bool,
    pub bind_now: bool,
    pub relro: Option<(u64, u64)>,
    pub has_shared_section: bool,
    pub image_start: u64,
    pub image_end: u64,
    pub segments: Vec<LoadSegment>,
    pub sections: Vec<Section>,
    /// Why relocations were not counted, when they were not.
    pub relocations_not_counted: Option<String>,
    /// Every bound the headers met (a name cut, entries left out); the field is present only
    /// when one was met, so an ordinary object's document has no such field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub limits_hit: Vec<LimitHit>,
    pub runs: Vec<RunReport>,
}

/// Consecutive pages the plan cannot tell apart.
#[derive(Serialize)]
pub struct RunReport {
    pub offset: u64,
    pub vaddr: u64,
    pub pages: u64,
    pub segment: SegmentKind,
    pub loader: LoaderAction,
    pub load: u32,
    pub file_offset: Option<u64>,
    pub sections: Vec<String>,
    /// Relocations on these pages, in all.
    pub relocations: u64,
}

/// Opens `file` (links followed, nothing blocks, regular files only) and plans it from its
/// headers: [`Error::NotElf`] for a file without the ELF magic, [`Error::Elf`] for one
/// whose headers cannot be planned.
pub fn elf(file: &Path) -> Result<ElfReport> {
    let f = files::open_named_file(file)?;
    let plan = elf::plan_file(&f, elf::Detail::Full).map_err(|e| match e.kind {
        PlanErrorKind::NotElf => Error::NotElf { path: file.into() },
        PlanErrorKind::Unreadable | PlanErrorKind::Corrupt => Error::Elf {
            path: file.into(),
            reason: e.reason,
        },
    })?;
    Ok(ElfReport::new(file.display().to_string(), &plan))
}

impl ElfReport {
    pub fn new(path: String, plan: &ElfPlan) -> ElfReport {
        ElfReport {
            schema: ELF_SCHEMA,
            path,
            e_type: plan.e_type.to_string(),
            machine: plan.machine,
            class64: plan.class64,
            soname: plan.soname.clone(),
            needed: plan.needed.clone(),
            build_id: plan.build_id.clone(),
            textrel: plan.textrel,
            bind_now: plan.bind_now,
            relro: plan.relro,
            has_shared_section: plan.has_shared_section,
            image_start: plan.image_start,
            image_end: plan.image_end,
            segments: plan.segments.clone(),
            sections: plan.sections.clone(),
            relocations_not_counted: plan.relocations_not_counted.clone(),
            limits_hit: plan.limits_hit.clone(),
            runs: plan
                .runs
                .iter()
                .map(|r| RunReport {
                    offset: r.offset,
                    vaddr: r.vaddr,
                    pages: r.pages,
                    segment: r.segment,
                    loader: r.loader,
                    load: r.load,
                    file_offset: r.file_offset,
                    sections: plan.section_names(plan.section_set(r)),
                    relocations: run_relocations(plan, r),
                })
                .collect(),
        }
    }

    /// Pages in the plan.
    pub fn page_count(&self) -> u64 {
        self.runs.iter().map(|r| r.pages).sum()
    }
}

/// The relocations the plan counted on the pages of run `r`.
fn run_relocations(plan: &ElfPlan, r: &PageRun) -> u64 {
    let first = ((r.vaddr - plan.image_start) / crate::PAGE_SIZE) as usize;
    plan.reloc_counts
        .get(first..first + r.pages as usize)
        .map_or(0, |c| c.iter().map(|&n| u64::from(n)).sum())
}
