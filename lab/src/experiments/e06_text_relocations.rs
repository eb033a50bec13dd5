//! Experiment 6: a library with DT_TEXTREL against its -fPIC build: exactly the text pages
//! the loader patched become private.

use super::{Experiment, Outcome, hosts, one_frame_words, refs, weak};
use crate::ctx::{As, Lab};
use crate::view;
use anyhow::{Result, bail};
use serde_json::Value;
use solab::elf::SegmentKind;

pub const EXPERIMENT: Experiment = Experiment {
    id: 6,
    title: "When sharing breaks: text relocations",
    question: "A C library built with -fno-pic has DT_TEXTREL: does the loader's patching make exactly the patched text pages private, while the -fPIC build shares every text page?",
    run: text_relocations,
};

fn text_relocations(lab: &mut Lab) -> Result<Outcome> {
    let mut pass = true;
    let mut is_weak = false;
    for (variant, expect_textrel) in [
        ("libtextrel-textrel.so", true),
        ("libtextrel-pic.so", false),
    ] {
        let lib = lab.fixtures.join(variant);
        if !lib.exists() {
            bail!("{} is missing: run `make build`", lib.display());
        }
        // solab.elf.v2 has no Deserialize type in the analyzer: read its `runs` as JSON. A
        // text run with relocations > 0 is relocated on every page (runs split where that
        // changes).
        let plan: Value =
            lab.solab_json(As::Me, &["elf".into(), "--json".into(), lab.rel(&lib)])?;
        if plan["schema"] != "solab.elf.v2" {
            bail!(
                "solab elf printed schema {}, not solab.elf.v2",
                plan["schema"]
            );
        }
        let textrel = plan["textrel"].as_bool() == Some(true);
        let patched: Vec<u64> = plan["runs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|run| run["segment"] == "text" && run["relocations"].as_u64().unwrap_or(0) > 0)
            .filter_map(|run| Some((run["offset"].as_u64()?, run["pages"].as_u64()?)))
            .flat_map(|(offset, pages)| (0..pages).map(move |i| offset + i * 4096))
            .collect();
        let open = format!("open:{}", lab.rel(&lib));
        let hs = hosts(lab, As::Me, &["P", "Q"], &[&open, "touch-all"])?;
        let r = refs(&hs);
        let report = lab.inspect(As::Me, variant, &r)?;
        is_weak |= weak(&report);
        let obj = view::object(&report, variant)?;
        let t = view::tally(obj, SegmentKind::Text, hs.len());
        let mut private: Vec<u64> = t.not_shared.clone();
        private.sort();
        lab.see(format!(
            "{variant}: DT_TEXTREL {}; text pages with relocations in the file: {}",
            if textrel { "yes" } else { "no" },
            if patched.is_empty() {
                "none".to_string()
            } else {
                view::offsets(&patched)
            }
        ));
        lab.see(format!(
            "{:<22} text {} pages: {} {}, {} at {}",
            "",
            t.pages,
            t.shared,
            one_frame_words(t.weak),
            if t.weak {
                "looking private (bit 56 set)"
            } else {
                "private copies"
            },
            if private.is_empty() {
                "none".to_string()
            } else {
                view::offsets(&private)
            }
        ));
        for off in &private {
            if let Ok(p) = view::page_at(obj, *off) {
                lab.see(format!(
                    "{:<22} offset {off:#x}: {}",
                    "",
                    view::frames(p, &r)
                ));
            }
        }
        let ok = textrel == expect_textrel
            && private == patched
            && (expect_textrel != patched.is_empty())
            && t.shared > 0;
        pass &= ok;
    }
    Ok(Outcome {
        pass,
        weak: is_weak,
        why: if pass {
            if is_weak {
                "with DT_TEXTREL exactly the patched text pages look private (bit 56 set); in the -fPIC build every text page looks shared".into()
            } else {
                "with DT_TEXTREL exactly the patched text pages became private copies; the -fPIC build shares every text page".into()
            }
        } else {
            "the private text pages do not match the pages the loader had to patch (see above)"
                .into()
        },
    })
}
