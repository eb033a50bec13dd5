//! Reading what tells a forked child from one that exec'd ([`sharing::lineage`] decides):
//! the auxv and the 16 bytes at its AT_RANDOM address. Reading another process's memory
//! (/proc/PID/mem) needs the right to trace it (root, or the same user where Yama allows);
//! without it only the auxv is compared, which tells an exec only where the addresses moved.

use super::{Inherited, LookRun, MappingFigures, PageLook, push_run};
use crate::kernel::process::ProcDir;
use crate::sharing::{self, ExecMark, Inheritance};
use std::os::unix::fs::FileExt;

/// The auxv is the kernel's copy of a fixed-size vector (a few hundred bytes); more than
/// this is no auxv.
const AUXV_MAX: usize = 4096;

/// The exec mark of the process of `dir`, each part `None` where it cannot be read.
pub(super) fn read_mark(dir: &ProcDir) -> ExecMark {
    let mut buf = Vec::new();
    let auxv = dir
        .read(c"auxv", &mut buf)
        .ok()
        .filter(|_| !buf.is_empty() && buf.len() <= AUXV_MAX)
        .map(|_| buf);
    let random = auxv
        .as_deref()
        .and_then(sharing::fork::at_random)
        .and_then(|addr| {
            let mem = dir.open_file(c"mem").ok()?;
            let mut bytes = [0u8; 16];
            mem.read_exact_at(&mut bytes, addr).ok()?;
            Some(bytes)
        });
    ExecMark { auxv, random }
}

/// A child that exec'd since fork inherited nothing: every page compared is new, and no
/// mapping of it is inherited.
pub(super) fn none_inherited(mappings: &mut [MappingFigures], runs: &mut [Vec<LookRun>]) {
    for m in mappings.iter_mut() {
        let p = m.pages;
        m.pages = Inherited {
            new: p.new + p.parents_frame + p.copied + p.looks_inherited,
            ksm: p.ksm,
            ..Inherited::default()
        };
        m.inherited = false;
    }
    for r in runs.iter_mut() {
        let mut out = Vec::with_capacity(r.len());
        for run in r.iter() {
            let look = match run.look {
                PageLook::Inherited(Inheritance::Ksm) => run.look,
                PageLook::Inherited(_) => PageLook::Inherited(Inheritance::New),
                own => own,
            };
            for k in 0..run.pages {
                push_run(&mut out, run.start + k * crate::addr::PAGE_SIZE, look);
            }
        }
        *r = out;
    }
}
