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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::PAGE_SIZE;

    #[test]
    fn an_execd_child_has_only_new_and_ksm_pages() {
        let pages = Inherited {
            parents_frame: PAGE_SIZE,
            copied: 2 * PAGE_SIZE,
            new: PAGE_SIZE,
            looks_inherited: PAGE_SIZE,
            ksm: PAGE_SIZE,
        };
        let mut mappings = vec![MappingFigures {
            start: 0x1000,
            end: 0x7000,
            perms: "rw-p".into(),
            name: "[anon]".into(),
            inherited: true,
            pages,
        }];
        let look = |i| PageLook::Inherited(i);
        let mut runs = vec![Vec::new()];
        for (k, i) in [
            Inheritance::Copied,
            Inheritance::New,
            Inheritance::ParentsFrame,
            Inheritance::Ksm,
        ]
        .into_iter()
        .enumerate()
        {
            push_run(&mut runs[0], 0x1000 + k as u64 * PAGE_SIZE, look(i));
        }
        none_inherited(&mut mappings, &mut runs);
        assert!(!mappings[0].inherited);
        assert_eq!(
            mappings[0].pages,
            Inherited {
                new: 5 * PAGE_SIZE,
                ksm: PAGE_SIZE,
                ..Inherited::default()
            }
        );
        assert_eq!(
            runs[0],
            vec![
                LookRun {
                    start: 0x1000,
                    pages: 3,
                    look: look(Inheritance::New)
                },
                LookRun {
                    start: 0x4000,
                    pages: 1,
                    look: look(Inheritance::Ksm)
                },
            ]
        );
    }
}
