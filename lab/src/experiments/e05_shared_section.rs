//! Experiment 5: the clipboard and counter of the `.shared` section, one writable frame for
//! every process, and a fresh region once every process is gone.

use super::{Experiment, Outcome, hosts, refs, see_shared_page, weak};
use crate::ctx::{As, Lab, field, field_u64};
use crate::view;
use anyhow::Result;
use solab::elf::SegmentKind;
use solab::inspect_report::PageReport;

pub const EXPERIMENT: Experiment = Experiment {
    id: 5,
    title: "The shared section: IPC like the clipboard",
    question: "A sets the clipboard; do B and C read it? Does the shared counter sum every call? Is the writable .shared page one frame? And after every process is gone, does a new one start from the initial values?",
    run: shared_section,
};

fn shared_section(lab: &mut Lab) -> Result<Outcome> {
    let mut hs = hosts(lab, As::Me, &["A", "B", "C"], &[])?;
    let msg = String::from("Hello from A");
    lab.act(&mut hs[0], &format!("clip-set:{msg}"))?;
    let got_b = lab.act(&mut hs[1], "clip-get")?;
    let got_c = lab.act(&mut hs[2], "clip-get")?;
    let clip_ok = [&got_b, &got_c]
        .iter()
        .all(|l| l.split_once("text=").map(|x| x.1) == Some(msg.as_str()));
    let mut last = String::new();
    for (i, h) in hs.iter_mut().enumerate() {
        last = lab.act(h, &format!("add:{},{}", i, i + 1))?;
    }
    let sum_ok = field_u64(&last, "shared_calls")? == 3 && field_u64(&last, "private_calls")? == 1;
    lab.see(format!(
        "B and C read {:?}; after one call each, C sees shared_calls={} and private_calls={}",
        msg,
        field(&last, "shared_calls").unwrap_or("?"),
        field(&last, "private_calls").unwrap_or("?")
    ));
    let report = lab.inspect(As::Me, "libsolib.so", &refs(&hs))?;
    let obj = view::object(&report, "libsolib.so")?;
    let r = refs(&hs);
    let shared_pages: Vec<&PageReport> = view::pages_of(obj, SegmentKind::Shared).collect();
    let want = view::shared_verdict(weak(&report));
    let mut frame_ok = !shared_pages.is_empty();
    for p in &shared_pages {
        frame_ok &= see_shared_page(lab, (".shared page", " (writable)"), p, &r, want);
    }
    drop(r);
    lab.note_command("kill -9 A B C".into());
    drop(hs);
    let mut d = lab.host("D", As::Me, &[])?;
    let status = lab.act(&mut d, "status")?;
    let clip = lab.act(&mut d, "clip-get")?;
    let counters = lab.act(&mut d, "counters")?;
    let fresh = field(&clip, "len") == Some("0") && field_u64(&counters, "shared_calls")? == 0;
    lab.see(format!(
        "a new process D after all were killed: clipboard empty: {}, shared_calls={}; {}",
        field(&clip, "len") == Some("0"),
        field(&counters, "shared_calls").unwrap_or("?"),
        status.split_once("reason=").map(|x| x.1).unwrap_or("")
    ));
    let pass = clip_ok && sum_ok && frame_ok && fresh;
    Ok(Outcome {
        pass,
        weak: weak(&report),
        why: if pass {
            format!(
                "one clipboard and one counter for all three, {} although writable; gone with the last process",
                if weak(&report) {
                    "on a MAP_SHARED window that looks shared (bit 56 clear in each)"
                } else {
                    "on one frame"
                }
            )
        } else {
            format!(
                "clipboard read back: {clip_ok}; counter summed: {sum_ok}; {} and shared-window in each: {frame_ok}; fresh start: {fresh}",
                want.name()
            )
        },
    })
}
