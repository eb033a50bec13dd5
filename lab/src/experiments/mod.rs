//! The experiments, in the order the story is told, one module each. Each starts its own
//! lab-hosts, shows the commands and the evidence, and returns whether its claim held. This
//! module holds the list and what several experiments share.

mod e01_one_copy_of_the_code;
mod e02_same_frame_different_addresses;
mod e03_data_is_private;
mod e04_relro_is_private;
mod e05_shared_section;
mod e06_text_relocations;
mod e07_zero_page_and_bss;
mod e08_without_root;
mod e09_unload_others_go_on;
mod e10_fork_same_address;
mod e11_who_broke_the_sharing;

use crate::ctx::{As, Host, Lab};
use crate::view::{self, Tally};
use anyhow::{Context, Result};
use solab::inspect_report::{InspectReport, PageReport};
use solab::sharing::PageState;

pub struct Outcome {
    pub pass: bool,
    /// The evidence was the weaker kind an unprivileged process gets.
    pub weak: bool,
    pub why: String,
}

pub struct Experiment {
    pub id: u32,
    pub title: &'static str,
    pub question: &'static str,
    pub run: fn(&mut Lab) -> Result<Outcome>,
}

pub const ALL: &[Experiment] = &[
    e01_one_copy_of_the_code::EXPERIMENT,
    e02_same_frame_different_addresses::EXPERIMENT,
    e03_data_is_private::EXPERIMENT,
    e04_relro_is_private::EXPERIMENT,
    e05_shared_section::EXPERIMENT,
    e06_text_relocations::EXPERIMENT,
    e07_zero_page_and_bss::EXPERIMENT,
    e08_without_root::EXPERIMENT,
    e09_unload_others_go_on::EXPERIMENT,
    e10_fork_same_address::EXPERIMENT,
    e11_who_broke_the_sharing::EXPERIMENT,
];

fn hosts(lab: &mut Lab, who: As, names: &[&str], actions: &[&str]) -> Result<Vec<Host>> {
    names.iter().map(|n| lab.host(n, who, actions)).collect()
}

/// Says what `.shared` page `p` is in hosts `r` (frames, states, verdict); true when its
/// verdict is `want` and it is the shared window in every host.
fn see_shared_page(
    lab: &mut Lab,
    (label, note): (&str, &str),
    p: &PageReport,
    r: &[&Host],
    want: solab::sharing::Verdict,
) -> bool {
    lab.see(format!(
        "{label} at offset {:#x}{note}: {}, states {}, verdict {}",
        p.offset,
        view::frames(p, r),
        r.iter()
            .map(|h| view::state(p, h))
            .collect::<Vec<_>>()
            .join("/"),
        p.verdict.name()
    ));
    p.verdict == want
        && r.iter()
            .all(|h| view::state_is(p, h, PageState::SharedWindow))
}

fn refs(hosts: &[Host]) -> Vec<&Host> {
    hosts.iter().collect()
}

/// The report rests on pagemap bits only (no frame numbers): its verdicts are `looks-*`.
fn weak(report: &InspectReport) -> bool {
    !report.privileged
}

/// "one frame" with frame numbers; without them the bits only say a page looks shared.
fn one_frame_words(weak: bool) -> &'static str {
    if weak { "look shared" } else { "one frame" }
}

fn kib(pages: usize) -> String {
    format!("{} KiB", pages * 4)
}

fn text_row(lab: &mut Lab, name: &str, t: &Tally, n: usize) {
    let words = one_frame_words(t.weak);
    lab.see(format!(
        "{name:<14} text: {} pages, {} present in all {n}, {} {words}, {} do not{}",
        t.pages,
        t.present_in_all,
        t.shared,
        t.not_shared.len(),
        if t.not_shared.is_empty() {
            String::new()
        } else {
            format!(" (offsets {})", view::offsets(&t.not_shared))
        }
    ));
}

/// Reads the pagemap entry of one address (pagemap.rst: one u64 per page).
fn pagemap_entry(pid: i32, addr: u64) -> Result<solab::page_words::PagemapEntry> {
    use std::os::unix::fs::FileExt;
    let path = format!("/proc/{pid}/pagemap");
    let f = std::fs::File::open(&path).with_context(|| format!("cannot open {path}"))?;
    let mut b = [0u8; 8];
    f.read_exact_at(&mut b, addr / 4096 * 8)
        .with_context(|| format!("cannot read {path}"))?;
    Ok(solab::page_words::PagemapEntry(u64::from_le_bytes(b)))
}
