//! `ps --by`: the rows summed into groups, and each group's frames counted once.

use super::row::RowFrames;
use super::{ByClass, Cost, GroupBy, GroupFrames, PsGroup, PsReport};
use crate::addr::PAGE_SIZE;
use crate::commands::group_key::{Container, no_cgroup_v2};
use crate::error::Result;
use crate::kernel::kpage;
use crate::sharing::groups;

/// Counts the frames of a group once: `frames` are the frames of every present page of
/// its processes (one per page-table entry, unsorted); `own` solab's mappings of frames,
/// taken off their kpagecount (None when solab is in the group). Also returns the
/// group's distinct frames (for TOTAL's ALONE).
fn group_frames(
    frames: &mut [u64],
    own: Option<&kpage::OwnFrames>,
) -> Result<(GroupFrames, Vec<crate::addr::Pfn>)> {
    frames.sort_unstable();
    let (distinct, mine) = groups::mappings_per_frame(frames);
    let counts = kpage::counts(&distinct)?;
    let mut g = GroupFrames::default();
    for ((pfn, &inside), &count) in distinct.iter().zip(&mine).zip(&counts) {
        let count = own.map_or(count, |o| count.saturating_sub(o.mapped(pfn.0)));
        g.alone += PAGE_SIZE;
        if groups::only_in_group(count, inside) {
            g.only += PAGE_SIZE;
        } else {
            g.with_rest += PAGE_SIZE;
        }
    }
    Ok((g, distinct))
}

impl PsReport {
    /// Groups the rows (ordered by key); the rows are then dropped. The costs are summed;
    /// as root each group's frames (`scanned`, each row's) are also counted once
    /// ([`GroupFrames`]): each distinct frame its processes map is looked up in
    /// /proc/kpagecount (less `own`, solab's own mappings of it, the set the scan took
    /// off), and a count above the group's own mappings means a process outside the group
    /// maps it too; TOTAL's ALONE counts the frames of all the groups once. Grouping by cgroup
    /// or container needs cgroup v2.
    pub(super) fn group(
        &mut self,
        by: GroupBy,
        scanned: Vec<RowFrames>,
        own: &kpage::OwnFrames,
    ) -> Result<()> {
        if by.needs_cgroup()
            && let Some((r, _)) = self
                .processes
                .iter()
                .zip(&scanned)
                .find(|(_, f)| f.cgroup_v1)
        {
            return Err(no_cgroup_v2(by, r.pid));
        }
        let mut groups: std::collections::BTreeMap<String, (PsGroup, Vec<u64>)> =
            Default::default();
        for (r, scanned) in self.processes.drain(..).zip(scanned) {
            let container = (by == GroupBy::Container).then(|| Container::of(&r.cgroup, r.mnt_ns));
            let key = match (by, &container) {
                (GroupBy::User, _) => r.user.clone(),
                (GroupBy::Comm, _) => r.comm.clone(),
                (_, Some(c)) => c.key(),
                (_, None) => r.cgroup.clone(),
            };
            let (g, frames) = groups.entry(key.clone()).or_insert_with(|| {
                (
                    PsGroup {
                        key,
                        container,
                        user: Some(r.user.clone()),
                        processes: 0,
                        pids: Vec::new(),
                        cost: Cost::default(),
                        classes: ByClass::default(),
                        frames: None,
                    },
                    Vec::new(),
                )
            });
            // Once two users are seen the group has none.
            if g.user.as_ref().is_some_and(|u| *u != r.user) {
                g.user = None;
            }
            g.processes += 1;
            g.pids.push(r.pid);
            g.cost.add(&r.cost);
            g.classes.add(&r.classes);
            frames.extend(scanned.frames.iter().map(|f| f >> 2));
        }
        self.by = Some(by);
        self.groups = Vec::with_capacity(groups.len());
        let me = std::process::id() as i32;
        let mut distinct = Vec::with_capacity(groups.len());
        for (_, (mut g, mut frames)) in groups {
            if self.privileged {
                g.pids.sort_unstable();
                let own = if g.pids.contains(&me) {
                    None
                } else {
                    Some(own)
                };
                let (f, d) = group_frames(&mut frames, own)?;
                g.frames = Some(f);
                distinct.push(d);
            }
            self.groups.push(g);
        }
        if self.privileged {
            self.totals.alone = Some(groups::alone_over_groups(distinct) * PAGE_SIZE);
        }
        Ok(())
    }
}
