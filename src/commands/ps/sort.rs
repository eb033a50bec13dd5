//! The order of `ps`'s rows and groups: the sort keys, and the sorts.

use super::{PsGroup, PsReport, PsRow};

/// The columns of the table, and the sort keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsKey {
    Pid,
    User,
    Rss,
    Pss,
    Uss,
    /// SWAP: the kernel's SwapPss
    Swap,
    /// PSS of ELF objects
    Elf,
    /// PSS of anonymous memory
    Anon,
    /// PSS of MAP_SHARED memory
    Shared,
    /// PSS of other files
    Files,
    Command,
    /// With --by: ALONE, the group's distinct frames
    Alone,
    /// With --by: ONLY, the group's frames no other process maps
    Only,
    /// With --by: WITH-REST, the group's frames other processes map too
    WithRest,
}

impl PsKey {
    /// The keys only groups have (frames counted once per group).
    pub fn group_only(self) -> bool {
        matches!(self, PsKey::Alone | PsKey::Only | PsKey::WithRest)
    }
}

/// How the rows of `ps` are ordered: by `key` (sizes largest first, names and pids
/// ascending), reversed with `reverse`; the first `top` are kept (0 keeps all).
#[derive(Clone, Copy, Debug)]
pub struct PsOrder {
    pub key: PsKey,
    pub reverse: bool,
    pub top: usize,
}

impl Default for PsOrder {
    fn default() -> Self {
        PsOrder {
            key: PsKey::Pss,
            reverse: false,
            top: 0,
        }
    }
}

impl PsReport {
    /// Orders the groups like [`PsReport::sort`] orders rows (pid, user and command sort
    /// by the group's key) and keeps the first `top`.
    pub(super) fn sort_groups(&mut self, key: PsKey, reverse: bool, top: usize) {
        let size = |g: &PsGroup| -> u64 {
            let f = g.frames.unwrap_or_default();
            match key {
                PsKey::Rss => g.cost.rss,
                PsKey::Pss => g.cost.pss,
                PsKey::Uss => g.cost.uss,
                PsKey::Swap => g.cost.swap_pss,
                PsKey::Elf => g.classes.elf.pss,
                PsKey::Anon => g.classes.anon.pss,
                PsKey::Shared => g.classes.shared.pss,
                PsKey::Files => g.classes.files.pss,
                PsKey::Alone => f.alone,
                PsKey::Only => f.only,
                PsKey::WithRest => f.with_rest,
                PsKey::Pid | PsKey::User | PsKey::Command => 0,
            }
        };
        self.groups.sort_by(|a, b| {
            let order = match key {
                PsKey::Pid | PsKey::User | PsKey::Command => a.key.cmp(&b.key),
                _ => size(b).cmp(&size(a)).then(a.key.cmp(&b.key)),
            };
            if reverse { order.reverse() } else { order }
        });
        if top > 0 {
            self.groups.truncate(top);
        }
    }

    /// Orders the rows by `key` (sizes largest first, names and pids ascending), reversed
    /// with `reverse`, and keeps the first `top` (0 keeps all). Totals are not changed.
    pub(super) fn sort(&mut self, key: PsKey, reverse: bool, top: usize) {
        let size = |r: &PsRow| -> u64 {
            match key {
                PsKey::Rss => r.cost.rss,
                PsKey::Pss => r.cost.pss,
                PsKey::Uss => r.cost.uss,
                PsKey::Swap => r.cost.swap_pss,
                PsKey::Elf => r.classes.elf.pss,
                PsKey::Anon => r.classes.anon.pss,
                PsKey::Shared => r.classes.shared.pss,
                PsKey::Files => r.classes.files.pss,
                PsKey::Pid | PsKey::User | PsKey::Command => 0,
                // Groups only (refused by the command line without --by).
                PsKey::Alone | PsKey::Only | PsKey::WithRest => r.cost.rss,
            }
        };
        self.processes.sort_by(|a, b| {
            let order = match key {
                PsKey::Pid => a.pid.cmp(&b.pid),
                PsKey::User => a.user.cmp(&b.user).then(a.pid.cmp(&b.pid)),
                PsKey::Command => a.comm.cmp(&b.comm).then(a.pid.cmp(&b.pid)),
                _ => size(b).cmp(&size(a)).then(a.pid.cmp(&b.pid)),
            };
            if reverse { order.reverse() } else { order }
        });
        if top > 0 {
            self.processes.truncate(top);
        }
    }
}
