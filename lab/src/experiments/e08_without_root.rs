//! Experiment 8: `solab prove` as an unprivileged user (uid 65534 when the lab runs as root),
//! on pagemap bits and smaps, its claims labelled weak.

use super::{Experiment, Outcome, hosts};
use crate::ctx::{As, Lab};
use anyhow::Result;
use solab::commands::prove::{ClaimStatus, ProveReport};

pub const EXPERIMENT: Experiment = Experiment {
    id: 8,
    title: "Without root",
    question: "What can an unprivileged user still prove, with the evidence the kernel gives without CAP_SYS_ADMIN?",
    run: without_root,
};

fn without_root(lab: &mut Lab) -> Result<Outcome> {
    let who = if lab.privileged { As::Nobody } else { As::Me };
    if who == As::Nobody {
        let copies = lab.bin_for(who)?;
        lab.see(format!(
            "the lab runs as root: these processes and solab run as uid 65534 instead, from copies in {} made for this run (uid 65534 may not be able to reach {})",
            copies.display(),
            lab.bin.display()
        ));
    } else {
        lab.see(
            "the lab runs unprivileged: every experiment above used this weaker evidence too"
                .into(),
        );
    }
    let mut hs = hosts(lab, who, &["A", "B", "C"], &["touch"])?;
    lab.act(&mut hs[0], "add:1,2")?;
    lab.act(&mut hs[1], "clip-set:unprivileged")?;
    let mut args: Vec<String> = vec![
        "prove".into(),
        "--json".into(),
        "--object".into(),
        "libsolib.so".into(),
    ];
    args.extend(hs.iter().map(|h| h.pid.to_string()));
    let report: ProveReport = lab.solab_json(who, &args)?;
    let mut all_hold = !report.claims.is_empty() && report.holds;
    let mut all_weak = !report.conclusive;
    let first_line = lab.evidence.len();
    for c in &report.claims {
        all_hold &= c.status != ClaimStatus::Fails;
        all_weak &= c.weak || c.status == ClaimStatus::NotApplicable;
        let status = match c.status {
            ClaimStatus::Holds => "holds",
            ClaimStatus::Fails => "fails",
            ClaimStatus::NotApplicable => "not-applicable",
        };
        let id = serde_json::to_value(c.id)?;
        lab.see(format!(
            "{status}{} {}: {}",
            if c.weak { " (weak)" } else { "" },
            id.as_str().unwrap_or("?"),
            c.summary
        ));
    }
    let privileged = report.privileged;
    lab.see(format!(
        "solab says privileged={privileged}, evidence {}, conclusive={}: no frame numbers, no kpagecount/kpageflags; it reads bits 61 (file or shared) and 56 (exclusive) and smaps instead, and marks every verdict weak",
        serde_json::to_value(report.evidence)?.as_str().unwrap_or("?"),
        report.conclusive
    ));
    // Bits cannot say which frame: weak evidence never claims "one frame".
    let no_frame_claims = !lab.evidence[first_line..]
        .iter()
        .any(|l| l.contains("one frame"));
    if who == As::Nobody {
        lab.see("what root adds: frame numbers to compare across processes, mapping counts, the zero-page and THP flags".into());
    }
    let pass = all_hold && !privileged && all_weak && no_frame_claims;
    Ok(Outcome {
        pass,
        weak: true,
        why: if pass {
            "the three claims hold on the weaker evidence, and solab labels it weak".into()
        } else {
            format!(
                "claims hold: {all_hold}; labelled unprivileged: {}; every claim weak and the report not conclusive: {all_weak}; no \"one frame\" said on weak evidence: {no_frame_claims}",
                !privileged
            )
        },
    })
}
