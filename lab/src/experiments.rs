//! The experiments, in the order the story is told. Each starts its own lab-hosts, shows the
//! commands and the evidence, and returns whether its claim held.

use crate::ctx::{self, As, Host, Lab, field, field_u64};
use crate::view::{self, Tally};
use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;
use solab::commands::family::{FamilyReport, MappingFigures};
use solab::commands::prove::{ClaimStatus, ProveReport};
use solab::elf::SegmentKind;
use solab::inspect_report::{InspectReport, PageReport};
use solab::sharing::PageState;
use std::path::Path;

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
    Experiment {
        id: 1,
        title: "One copy of the code",
        question: "Three processes load libsolib.so. Is every text page of libsolib.so and of libc one physical frame in all three, and how much memory does that save?",
        run: one_copy_of_the_code,
    },
    Experiment {
        id: 2,
        title: "Same frame, different addresses",
        question: "dlsym(\"solib_add\") gives each process a different address (ASLR). Is the page behind it still one frame?",
        run: same_frame_different_addresses,
    },
    Experiment {
        id: 3,
        title: "Data is private: copy-on-write, live",
        question: "Before anyone writes, is the .data page the file's frame in all three? After A writes its counter, does A alone get a copy? Do arguments and counters stay each process's own?",
        run: data_is_private,
    },
    Experiment {
        id: 4,
        title: "Relocation makes pages private at load time",
        question: "Are the PT_GNU_RELRO pages (GOT, .data.rel.ro, .init_array), read-only once loaded, private copies from the start?",
        run: relro_is_private,
    },
    Experiment {
        id: 5,
        title: "The shared section: IPC like the clipboard",
        question: "A sets the clipboard; do B and C read it? Does the shared counter sum every call? Is the writable .shared page one frame? And after every process is gone, does a new one start from the initial values?",
        run: shared_section,
    },
    Experiment {
        id: 6,
        title: "When sharing breaks: text relocations",
        question: "A C library built with -fno-pic has DT_TEXTREL: does the loader's patching make exactly the patched text pages private, while the -fPIC build shares every text page?",
        run: text_relocations,
    },
    Experiment {
        id: 7,
        title: "The zero page and .bss",
        question: "Are .bss pages that were only read the kernel's one zero page in every process, and written ones private?",
        run: zero_page_and_bss,
    },
    Experiment {
        id: 8,
        title: "Without root",
        question: "What can an unprivileged user still prove, with the evidence the kernel gives without CAP_SYS_ADMIN?",
        run: without_root,
    },
    Experiment {
        id: 9,
        title: "Unloading: the others go on",
        question: "Why can another process go on using a library after one is done with it? A unloads libsolib.so (dlclose): do B and C keep its frames, its shared counter and clipboard? Where do the text frames go, and does a new process find them when every process let go?",
        run: unload_others_go_on,
    },
    Experiment {
        id: 10,
        title: "Fork: same address, one frame until written",
        question: "A process writes its .data page, then forks. Parent and child have libsolib.so's .data at the same address: is it one frame behind both, as solab family says? When the child writes, does it get a copy at that same address?",
        run: fork_same_address,
    },
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

fn one_copy_of_the_code(lab: &mut Lab) -> Result<Outcome> {
    let hs = hosts(lab, As::Me, &["A", "B", "C"], &["touch-all"])?;
    let r = refs(&hs);
    let mut pass = true;
    let mut saved_pages = 0;
    let mut is_weak = false;
    for name in ["libsolib.so", "libc.so.6"] {
        let report = lab.inspect(As::Me, name, &r)?;
        is_weak |= weak(&report);
        let obj = view::object(&report, name)?;
        let t = view::tally(obj, SegmentKind::Text, hs.len());
        text_row(lab, name, &t, hs.len());
        if let Some(p) = view::pages_of(obj, SegmentKind::Text).find(|p| p.verdict.is_shared()) {
            lab.see(format!(
                "{:<14} e.g. text page at offset {:#x}: {}, verdict {}",
                "",
                p.offset,
                view::frames(p, &r),
                p.verdict.name()
            ));
        }
        saved_pages += view::pages_of(obj, SegmentKind::Text)
            .filter(|p| p.verdict.is_shared())
            .map(|p| view::present_count(p).saturating_sub(1))
            .sum::<usize>();
        pass &= t.shared > 0 && t.not_shared.is_empty();
    }
    lab.see(format!(
        "one copy instead of three{}: {} of text not duplicated in these two objects alone",
        if is_weak {
            " (as far as pagemap bits can tell)"
        } else {
            ""
        },
        kib(saved_pages)
    ));
    Ok(Outcome {
        pass,
        weak: is_weak,
        why: if pass {
            format!(
                "every text page present in two or more processes {}; sharing saved {}",
                if is_weak {
                    "looks shared (bit 56 clear in each)"
                } else {
                    "is one frame"
                },
                kib(saved_pages)
            )
        } else {
            format!(
                "some text pages do not {} (see the offsets above)",
                if is_weak {
                    "look shared"
                } else {
                    "share one frame"
                }
            )
        },
    })
}

fn same_frame_different_addresses(lab: &mut Lab) -> Result<Outcome> {
    let mut hs = hosts(lab, As::Me, &["A", "B", "C"], &["touch"])?;
    let mut addrs = Vec::new();
    for h in hs.iter_mut() {
        let line = lab.act(h, "addrs")?;
        addrs.push((
            field_u64(&line, "solib_add")?,
            field_u64(&line, "solib_add_offset")?,
        ));
    }
    let r = refs(&hs);
    let report = lab.inspect(As::Me, "libsolib.so", &r)?;
    let obj = view::object(&report, "libsolib.so")?;
    let page = view::page_at(obj, addrs[0].1)?;
    for (h, (addr, _)) in hs.iter().zip(&addrs) {
        lab.see(format!(
            "{}: dlsym(\"solib_add\") = {addr:#x}, page {:#x}",
            h.name,
            addr & !4095
        ));
    }
    lab.see(format!(
        "libsolib.so offset {:#x} (the page of solib_add, sections {}): {}, verdict {}",
        page.offset,
        page.sections.join(" "),
        view::frames(page, &r),
        page.verdict.name()
    ));
    let distinct = {
        let mut a: Vec<u64> = addrs.iter().map(|a| a.0).collect();
        a.sort();
        a.dedup();
        a.len() == addrs.len()
    };
    let aslr = std::fs::read_to_string("/proc/sys/kernel/randomize_va_space")
        .map(|s| s.trim() != "0")
        .unwrap_or(true);
    let same_offset = addrs.iter().all(|a| a.1 == addrs[0].1);
    let is_weak = weak(&report);
    let one_frame = page.verdict == view::shared_verdict(is_weak);
    let pass = one_frame && same_offset && (distinct || !aslr);
    lab.see(
        "on Windows a DLL keeps one base address in every process (the text this lab starts from); \
         on Linux ASLR picks a new base per process, and position-independent code lets one frame \
         serve at every address"
            .to_string(),
    );
    Ok(Outcome {
        pass,
        weak: is_weak,
        why: match (pass, distinct, is_weak) {
            (true, true, false) => "three different addresses, one frame behind them".into(),
            (true, true, true) => {
                "three different addresses; the page behind them looks shared (bit 56 clear in each)"
                    .into()
            }
            (true, false, _) => format!(
                "ASLR is off on this machine (randomize_va_space=0): same addresses, {}",
                if is_weak {
                    "the page looks shared"
                } else {
                    "one frame"
                }
            ),
            _ => format!(
                "addresses distinct: {distinct}, same offset: {same_offset}, verdict {} (wanted {})",
                page.verdict.name(),
                view::shared_verdict(is_weak).name()
            ),
        },
    })
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

fn data_is_private(lab: &mut Lab) -> Result<Outcome> {
    let mut hs = hosts(lab, As::Me, &["A", "B", "C"], &["touch"])?;
    let line = lab.act(&mut hs[0], "addrs")?;
    let data_off = field_u64(&line, "data")? - field_u64(&line, "base")?;

    let before = lab.inspect(As::Me, "libsolib.so", &refs(&hs))?;
    let page = view::page_at(view::object(&before, "libsolib.so")?, data_off)?;
    let r = refs(&hs);
    lab.see(format!(
        "before any write: .data page at offset {data_off:#x} ({}): {}; states {}, verdict {}",
        page.sections.join(" "),
        view::frames(page, &r),
        r.iter()
            .map(|h| view::state(page, h))
            .collect::<Vec<_>>()
            .join("/"),
        page.verdict.name()
    ));
    let untouched_shared = page.verdict == view::shared_verdict(weak(&before))
        && r.iter().all(|h| view::state_is(page, h, PageState::File));

    let a = lab.act(&mut hs[0], "add:10,20")?;
    let after = lab.inspect(As::Me, "libsolib.so", &refs(&hs))?;
    let page = view::page_at(view::object(&after, "libsolib.so")?, data_off)?;
    let r = refs(&hs);
    lab.see(format!(
        "after A wrote its counter: {}",
        view::frames(page, &r)
    ));
    let (sa, sb, sc) = (
        view::state(page, r[0]),
        view::state(page, r[1]),
        view::state(page, r[2]),
    );
    let (pa, pb, pc) = (
        view::pfn(page, r[0]),
        view::pfn(page, r[1]),
        view::pfn(page, r[2]),
    );
    let copied = view::state_is(page, r[0], PageState::AnonExclusive)
        && view::state_is(page, r[1], PageState::File)
        && view::state_is(page, r[2], PageState::File)
        && (weak(&after) || (pa != pb && pb == pc));

    let b = lab.act(&mut hs[1], "add:30,40")?;
    let stack_a = pagemap_entry(hs[0].pid, field_u64(&a, "args_at")?)?;
    let stack_b = pagemap_entry(hs[1].pid, field_u64(&b, "args_at")?)?;
    lab.see(format!(
        "A's arguments (10, 20) at {} on its stack: {:?}",
        field(&a, "args_at").unwrap_or("?"),
        stack_a
    ));
    lab.see(format!(
        "B's arguments (30, 40) at {} on its stack: {:?}",
        field(&b, "args_at").unwrap_or("?"),
        stack_b
    ));
    let stacks_private = stack_a.present()
        && stack_b.present()
        && !stack_a.file_or_shared_anon()
        && !stack_b.file_or_shared_anon()
        && match (stack_a.pfn(), stack_b.pfn()) {
            (Some(x), Some(y)) => x != y,
            _ => stack_a.exclusive() && stack_b.exclusive(),
        };
    let counters = (
        field_u64(&a, "private_calls")?,
        field_u64(&b, "private_calls")?,
        field_u64(&b, "shared_calls")?,
        field_u64(&a, "result")?,
        field_u64(&b, "result")?,
    );
    lab.see(format!(
        "A: solib_add(10, 20) = {}, its private counter {}; B: solib_add(30, 40) = {}, its private counter {}; shared counter {}",
        counters.3, counters.0, counters.4, counters.1, counters.2
    ));
    let counted = counters == (1, 1, 2, 30, 70);
    let pass = untouched_shared && copied && stacks_private && counted;
    Ok(Outcome {
        pass,
        weak: weak(&after),
        why: if pass {
            if weak(&after) {
                "the unwritten .data page was a file page in all three (looks shared); A's write gave A alone an exclusive anonymous copy; stacks and private counters are each process's own".into()
            } else {
                "the unwritten .data page was the file's frame in all three; A's write gave A alone a private copy; stacks and private counters are each process's own".into()
            }
        } else {
            format!(
                "shared before writing: {untouched_shared}; copied on write: {copied} ({sa}/{sb}/{sc}); private stacks: {stacks_private}; counters right: {counted}"
            )
        },
    })
}

fn relro_is_private(lab: &mut Lab) -> Result<Outcome> {
    let hs = hosts(lab, As::Me, &["A", "B", "C"], &["touch-all"])?;
    let r = refs(&hs);
    let mut pass = true;
    let mut is_weak = false;
    for name in ["libsolib.so", "libc.so.6"] {
        let report = lab.inspect(As::Me, name, &r)?;
        is_weak |= weak(&report);
        let obj = view::object(&report, name)?;
        let relro: Vec<&PageReport> = view::pages_of(obj, SegmentKind::Relro).collect();
        let mut names: Vec<String> = relro.iter().flat_map(|p| p.sections.clone()).collect();
        names.sort();
        names.dedup();
        let private = relro
            .iter()
            .filter(|p| {
                r.iter()
                    .all(|h| view::state_is(p, h, PageState::AnonExclusive))
            })
            .count();
        let not: Vec<u64> = relro
            .iter()
            .filter(|p| {
                !r.iter()
                    .all(|h| view::state_is(p, h, PageState::AnonExclusive))
            })
            .map(|p| p.offset)
            .collect();
        lab.see(format!(
            "{name:<14} relro: {} pages ({}), {} private copies in A, B and C{}",
            relro.len(),
            names.join(" "),
            private,
            if not.is_empty() {
                String::new()
            } else {
                String::from(" (all of them)")
            }
        ));
        if let Some(p) = relro.first() {
            lab.see(format!(
                "{:<14} e.g. offset {:#x}: {}, verdict {}",
                "",
                p.offset,
                view::frames(p, &r),
                p.verdict.name()
            ));
        }
        if !not.is_empty() {
            lab.see(format!(
                "{:<14} not private everywhere: offsets {}",
                "",
                view::offsets(&not)
            ));
        }
        pass &= !relro.is_empty() && not.is_empty();
    }
    Ok(Outcome {
        pass,
        weak: is_weak,
        why: if pass {
            "the loader wrote relocations on every RELRO page before making it read-only, so each process has its own copy".into()
        } else {
            "some RELRO pages are not private copies in every process (offsets above)".into()
        },
    })
}

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

fn zero_page_and_bss(lab: &mut Lab) -> Result<Outcome> {
    let mut hs = hosts(lab, As::Me, &["A", "B", "C"], &["touch"])?;
    let line = lab.act(&mut hs[0], "addrs")?;
    let bss_off = field_u64(&line, "bss")? - field_u64(&line, "base")?;
    let before = lab.inspect(As::Me, "libsolib.so", &refs(&hs))?;
    let page = view::page_at(view::object(&before, "libsolib.so")?, bss_off)?;
    let r = refs(&hs);
    let is_weak = weak(&before);
    // Without kpageflags the zero page cannot be named: it is an anonymous page mapped by
    // many (bits 61 and 56 clear), which is what the weak reading calls anon-not-exclusive.
    let zero = if is_weak {
        PageState::AnonNotExclusive
    } else {
        PageState::ZeroPage
    };
    lab.see(format!(
        ".bss page at offset {bss_off:#x} ({}), only read: {}; states {}, verdict {}",
        page.sections.join(" "),
        view::frames(page, &r),
        r.iter()
            .map(|h| view::state(page, h))
            .collect::<Vec<_>>()
            .join("/"),
        page.verdict.name()
    ));
    let read_zero = r.iter().all(|h| view::state_is(page, h, zero))
        && page.verdict == view::shared_verdict(is_weak);
    drop(r);
    lab.act(&mut hs[0], "add:1,1")?;
    let after = lab.inspect(As::Me, "libsolib.so", &refs(&hs))?;
    let page = view::page_at(view::object(&after, "libsolib.so")?, bss_off)?;
    let r = refs(&hs);
    lab.see(format!(
        "after A wrote its .bss counter: {}",
        view::frames(page, &r)
    ));
    let written = view::state_is(page, r[0], PageState::AnonExclusive)
        && view::state_is(page, r[1], zero)
        && view::state_is(page, r[2], zero);
    let pass = read_zero && written;
    Ok(Outcome {
        pass,
        weak: is_weak,
        why: if pass && is_weak {
            "only-read .bss was one anonymous page mapped by all (the zero page, which only kpageflags can name); A's write gave A its own page".into()
        } else if pass {
            "read-only .bss is the kernel's single zero page everywhere; A's write gave A its own page".into()
        } else {
            format!(
                "only-read pages on the zero page: {read_zero}; written page private: {written}"
            )
        },
    })
}

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

/// Which pages of the file at `path` are in the page cache: mincore(2) on a mapping of the
/// lab's own, which faults in no page (fincore(1) asks the same way).
fn cached_pages(path: &Path) -> Result<Vec<bool>> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let len = f.metadata()?.len() as usize;
    if len == 0 {
        return Ok(Vec::new());
    }
    // SAFETY: a read-only shared mapping of a file we opened, unmapped below; mincore's
    // vector has one byte per page of it.
    unsafe {
        let addr = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            f.as_raw_fd(),
            0,
        );
        if addr == libc::MAP_FAILED {
            bail!(
                "cannot map {}: {}",
                path.display(),
                std::io::Error::last_os_error()
            );
        }
        let mut vec = vec![0u8; len.div_ceil(4096)];
        let rc = libc::mincore(addr, len, vec.as_mut_ptr());
        let err = std::io::Error::last_os_error();
        libc::munmap(addr, len);
        if rc != 0 {
            bail!("mincore on {}: {err}", path.display());
        }
        Ok(vec.iter().map(|b| b & 1 == 1).collect())
    }
}

/// The lines of /proc/PID/maps that map the file `path` (inode `inode`).
fn mappings_of(pid: i32, path: &str, inode: Option<u64>) -> Result<Vec<solab::maps::MapEntry>> {
    let file = format!("/proc/{pid}/maps");
    let bytes = std::fs::read(&file).with_context(|| format!("cannot read {file}"))?;
    let entries = solab::maps::parse_maps(&bytes)
        .map_err(|e| anyhow!("{file} line {}: {}", e.line, e.reason))?;
    Ok(entries
        .into_iter()
        .filter(|e| {
            e.path().is_some_and(|p| p == Path::new(path)) && inode.is_none_or(|i| e.inode == i)
        })
        .collect())
}

/// `fincore --raw --noheadings --bytes --output PAGES,SIZE FILE`: the file's pages in the
/// page cache and its size, as util-linux counts them; None when fincore cannot run.
fn fincore(lab: &mut Lab, path: &str) -> Option<(u64, u64)> {
    let args = [
        "--raw",
        "--noheadings",
        "--bytes",
        "--output",
        "PAGES,SIZE",
        path,
    ];
    lab.note_command(format!("fincore {}", args.join(" ")));
    let out = std::process::Command::new("fincore")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output();
    let line = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        Ok(o) => {
            lab.see(format!(
                "fincore failed ({}): {}",
                o.status,
                String::from_utf8_lossy(&o.stderr).trim()
            ));
            return None;
        }
        Err(e) => {
            lab.see(format!("fincore cannot run ({e}): util-linux has it"));
            return None;
        }
    };
    println!("    {}", lab.style.dim(&line));
    let mut w = line.split_whitespace().map(|v| v.parse::<u64>().ok());
    let pages = w.next().flatten()?;
    let size = w.next().flatten()?;
    Some((pages, size))
}

fn fincore_words(f: Option<(u64, u64)>) -> String {
    match f {
        Some((pages, size)) => format!(
            "fincore: {pages} of the file's {} pages in the page cache",
            size.div_ceil(4096)
        ),
        None => "fincore: no answer (see above)".into(),
    }
}

/// A text page of the library as A mapped it before unloading.
struct TextPage {
    /// From the load base (solab's page offset).
    offset: u64,
    /// In the file (mincore's index is this / 4096).
    file_offset: u64,
    /// A's frame, with CAP_SYS_ADMIN.
    pfn: Option<u64>,
}

/// "A used pfn 0x1234; " with frame numbers, nothing without.
fn used_by_a(pfn: Option<u64>) -> String {
    pfn.map_or(String::new(), |p| format!("A used pfn {p:#x}; "))
}

/// `grep -c PATH /proc/PID/maps`, counted by the lab (the line must name the file's inode
/// too), shown with its answer.
fn count_mappings(lab: &mut Lab, pid: i32, path: &str, inode: Option<u64>) -> Result<usize> {
    lab.note_command(format!("grep -c {path} /proc/{pid}/maps"));
    let n = mappings_of(pid, path, inode)?.len();
    println!("    {}", lab.style.dim(&n.to_string()));
    Ok(n)
}

/// `ls REGION`: the lab's regions, shown as ls would answer.
fn list_region(lab: &mut Lab, region: &str) -> Vec<std::path::PathBuf> {
    lab.note_command(format!("ls {region}"));
    let found = ctx::regions(&lab.ns);
    let answer = if found.iter().any(|p| p == Path::new(region)) {
        region.to_string()
    } else {
        format!("ls: cannot access '{region}': No such file or directory")
    };
    println!("    {}", lab.style.dim(&answer));
    found
}

fn region_names(ns: &str) -> String {
    let r = ctx::regions(ns);
    if r.is_empty() {
        "none".into()
    } else {
        r.iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn unload_others_go_on(lab: &mut Lab) -> Result<Outcome> {
    const LIB: &str = "libsolib.so";
    let mut hs = hosts(lab, As::Me, &["A", "B", "C"], &["touch"])?;
    let msg = "left by A";
    lab.act(&mut hs[0], &format!("clip-set:{msg}"))?;
    lab.act(&mut hs[0], "add:2,3")?;
    let mut failed: Vec<String> = Vec::new();

    // 1. One copy of the text, one .shared page.
    let before = lab.inspect(As::Me, LIB, &refs(&hs))?;
    let is_weak = weak(&before);
    let words = one_frame_words(is_weak);
    let want = view::shared_verdict(is_weak);
    let obj = view::object(&before, LIB)?;
    let (path, inode) = (obj.path.clone(), obj.inode);
    let t = view::tally(obj, SegmentKind::Text, hs.len());
    lab.see(format!("1. three processes use {LIB}:"));
    text_row(lab, LIB, &t, hs.len());
    let a_maps = mappings_of(hs[0].pid, &path, inode)?;
    let mut text: Vec<TextPage> = Vec::new();
    for p in view::pages_of(obj, SegmentKind::Text) {
        let Some(a) = view::proc_of(p, &hs[0]).filter(|a| a.present) else {
            continue;
        };
        let v = a.vaddr.0;
        let m = a_maps
            .iter()
            .find(|m| m.start.0 <= v && v < m.end.0)
            .ok_or_else(|| anyhow!("A maps no line of {path} at {v:#x}"))?;
        text.push(TextPage {
            offset: p.offset,
            file_offset: m.offset + (v - m.start.0),
            pfn: view::pfn(p, &hs[0]),
        });
    }
    let r = refs(&hs);
    let shared_page = view::pages_of(obj, SegmentKind::Shared).next();
    let mut shared_ok = shared_page.is_some();
    let shared_before = shared_page.map(|p| (p.offset, view::pfn(p, &hs[0])));
    if let Some(p) = shared_page {
        shared_ok &= see_shared_page(lab, (&format!("{LIB:<14} .shared page"), ""), p, &r, want);
    }
    drop(r);
    let region = ctx::regions(&lab.ns);
    lab.see(format!("the shared region: {}", region_names(&lab.ns)));
    let step1 = t.pages > 0
        && t.shared == t.pages
        && t.not_shared.is_empty()
        && text.len() as u64 == t.pages
        && shared_ok
        && region.len() == 1;
    if !step1 {
        failed.push(format!(
            "1 (text pages {} of {} {words}, A has {} present; .shared {} and shared-window in all: {shared_ok}; regions: {})",
            t.shared,
            t.pages,
            text.len(),
            want.name(),
            region.len()
        ));
    }

    // 2. A unloads: its mappings go, the loader's count reaches zero, A runs on.
    let a_pid = hs[0].pid;
    let mapped_before = count_mappings(lab, a_pid, &path, inode)?;
    let unload = lab.act(&mut hs[0], "unload")?;
    let mapped_after = count_mappings(lab, a_pid, &path, inode)?;
    let alive = lab.act(&mut hs[0], "sleep:1").is_ok();
    let dlclose_ok = field(&unload, "dlclose") == Some("0");
    let zero = field(&unload, "still_loaded") == Some("no");
    lab.see(format!(
        "2. A's maps: {mapped_before} lines map {LIB} before the unload, {mapped_after} after; dlclose returned {}, dlopen(RTLD_NOLOAD) {}; A {}",
        field(&unload, "dlclose").unwrap_or("?"),
        if zero {
            "no longer finds it: the loader's reference count in A reached zero"
        } else {
            "still finds it: A still holds a reference"
        },
        if alive {
            "still runs and answers"
        } else {
            "did not answer"
        }
    ));
    let step2 = mapped_before > 0 && mapped_after == 0 && dlclose_ok && zero && alive;
    if !step2 {
        failed.push(format!(
            "2 (A's mappings {mapped_before} -> {mapped_after}; dlclose 0: {dlclose_ok}; count reached zero: {zero}; A alive: {alive})"
        ));
    }

    // 3. B and C are untouched.
    let bc = [&hs[1], &hs[2]];
    let after = lab.inspect(As::Me, LIB, &bc)?;
    let obj = view::object(&after, LIB)?;
    let mut same_text = 0;
    let mut file_pages = 0;
    let mut not_anon = 0;
    let mut moved: Vec<u64> = Vec::new();
    for tp in &text {
        let p = view::page_at(obj, tp.offset)?;
        let file_in_both = bc.iter().all(|h| view::state_is(p, h, PageState::File));
        if file_in_both {
            file_pages += 1;
        }
        if bc
            .iter()
            .all(|h| view::proc_of(p, h).is_some_and(|q| !q.flags.iter().any(|f| f == "anon")))
        {
            not_anon += 1;
        }
        let same = if is_weak {
            file_in_both
        } else {
            tp.pfn.is_some() && bc.iter().all(|h| view::pfn(p, h) == tp.pfn)
        };
        if same {
            same_text += 1;
        } else {
            moved.push(tp.offset);
        }
    }
    let n = text.len();
    if is_weak {
        lab.see(format!(
            "3. B and C after A's unload: {same_text} of {n} text pages still present in both as file pages (no frame numbers without CAP_SYS_ADMIN: weak){}",
            if moved.is_empty() {
                String::new()
            } else {
                format!("; not: {}", view::offsets(&moved))
            }
        ));
    } else {
        lab.see(format!(
            "3. B and C after A's unload: {same_text} of {n} text pages on the very frames A used{}",
            if moved.is_empty() {
                String::new()
            } else {
                format!("; other frames at {}", view::offsets(&moved))
            }
        ));
    }
    if let Some(tp) = text.first() {
        let p = view::page_at(obj, tp.offset)?;
        lab.see(format!(
            "   e.g. text page at offset {:#x}: {}now {}",
            tp.offset,
            used_by_a(tp.pfn),
            view::frames(p, &bc)
        ));
    }
    let mut shared_same = false;
    if let (Some((off, pfn_a)), Some(p)) = (
        shared_before,
        view::pages_of(obj, SegmentKind::Shared).next(),
    ) {
        let windows = bc
            .iter()
            .all(|h| view::state_is(p, h, PageState::SharedWindow));
        shared_same = windows
            && p.offset == off
            && (is_weak || (pfn_a.is_some() && bc.iter().all(|h| view::pfn(p, h) == pfn_a)));
        lab.see(format!(
            "   .shared page at offset {off:#x}: {}now {}, states {}",
            used_by_a(pfn_a),
            view::frames(p, &bc),
            bc.iter()
                .map(|h| view::state(p, h))
                .collect::<Vec<_>>()
                .join("/")
        ));
    }
    let add = lab.act(&mut hs[1], "add:4,5")?;
    let clip = lab.act(&mut hs[2], "clip-get")?;
    let counters = lab.act(&mut hs[2], "counters")?;
    let calls_ok = field_u64(&add, "result")? == 9
        && field_u64(&add, "shared_calls")? == 2
        && field_u64(&counters, "shared_calls")? == 2;
    let clip_ok = clip.split_once("text=").map(|x| x.1) == Some(msg);
    lab.see(format!(
        "   B's solib_add(4, 5) = {}; the shared counter is {} (A's call and B's), C reads it too: {}; C reads the clipboard A set: {:?}",
        field(&add, "result").unwrap_or("?"),
        field(&add, "shared_calls").unwrap_or("?"),
        field(&counters, "shared_calls").unwrap_or("?"),
        clip.split_once("text=").map_or("", |x| x.1)
    ));
    let step3 = n > 0 && same_text == n && shared_same && calls_ok && clip_ok;
    if !step3 {
        failed.push(format!(
            "3 (text pages as before in B and C: {same_text} of {n}; .shared as before: {shared_same}; calls work: {calls_ok}; clipboard kept: {clip_ok})"
        ));
    }

    // 4. The text frames belong to the file's page cache, not to A.
    let cached = cached_pages(Path::new(&path))?;
    let in_cache = |text: &[TextPage], cached: &[bool]| {
        text.iter()
            .filter(|tp| cached.get((tp.file_offset / 4096) as usize) == Some(&true))
            .count()
    };
    let cached_now = in_cache(&text, &cached);
    let fc = fincore(lab, &path);
    if is_weak {
        lab.see(format!(
            "4. A maps none of them; B and C map all {file_pages} of {n} text pages as file pages (pagemap bit 61: a page of the file, not anonymous memory; which frame cannot be seen without CAP_SYS_ADMIN: weak)"
        ));
    } else {
        lab.see(format!(
            "4. the frames A used stay in memory without A: B and C map {same_text} of those {n}; {file_pages} of {n} are file pages (pagemap bit 61) and {not_anon} of {n} are not anonymous (kpageflags): frames of the file's page cache, which A only mapped"
        ));
    }
    lab.see(format!(
        "   mincore(2) on the file: {cached_now} of its {n} text pages in the page cache; {}",
        fincore_words(fc)
    ));
    let step4 = n > 0
        && cached_now == n
        && file_pages == n
        && (is_weak || (same_text == n && not_anon == n))
        && fc.is_some_and(|(pages, _)| pages as usize >= n);
    if !step4 {
        failed.push(format!(
            "4 (text pages in the page cache: {cached_now} of {n}; file pages in B and C: {file_pages}; not anonymous: {not_anon}; fincore: {fc:?})"
        ));
    }

    // 5. B and C let go; the last removes the region; D finds the text still cached.
    let region_path = region
        .first()
        .map_or_else(|| "/dev/shm".to_string(), |p| p.display().to_string());
    let b_unload = lab.act(&mut hs[1], "unload")?;
    let region_after_b = list_region(lab, &region_path);
    let c_unload = lab.act(&mut hs[2], "unload")?;
    let region_after_c = list_region(lab, &region_path);
    let unloaded = [&b_unload, &c_unload]
        .iter()
        .all(|l| field(l, "dlclose") == Some("0") && field(l, "still_loaded") == Some("no"));
    lab.see(format!(
        "5. after B's unload the region is {}; after C's, the last one: {}",
        if region_after_b.is_empty() {
            "gone".to_string()
        } else {
            "still there (C uses it)".to_string()
        },
        if region_after_c.is_empty() {
            "removed"
        } else {
            "still there"
        }
    ));
    for h in hs.iter_mut() {
        lab.act(h, "exit")?;
    }
    drop(hs);
    let cached = cached_pages(Path::new(&path))?;
    let kept = in_cache(&text, &cached);
    let fc2 = fincore(lab, &path);
    lab.see(format!(
        "   no process maps {LIB} now; mincore(2): {kept} of its {n} text pages still in the page cache; {}",
        fincore_words(fc2)
    ));
    let mut d = lab.host("D", As::Me, &["touch"])?;
    let status = lab.act(&mut d, "status")?;
    let clip = lab.act(&mut d, "clip-get")?;
    let counters = lab.act(&mut d, "counters")?;
    let fresh = status.contains("created it from the section's initial values")
        && field(&clip, "len") == Some("0")
        && field_u64(&counters, "shared_calls")? == 0;
    let report_d = lab.inspect(As::Me, LIB, &[&d])?;
    let obj = view::object(&report_d, LIB)?;
    let (mut same, mut reread, mut lost) = (0, Vec::new(), Vec::new());
    let mut d_file = 0;
    for tp in &text {
        let p = view::page_at(obj, tp.offset)?;
        if view::state_is(p, &d, PageState::File) {
            d_file += 1;
        }
        let was_cached = cached.get((tp.file_offset / 4096) as usize) == Some(&true);
        let same_frame = !is_weak && tp.pfn.is_some() && view::pfn(p, &d) == tp.pfn;
        match (was_cached, same_frame) {
            (_, true) => same += 1,
            (false, false) => reread.push(tp.offset),
            // Cached when D started, yet on another frame (with frame numbers to tell).
            (true, false) if !is_weak => lost.push(tp.offset),
            (true, false) => {}
        }
    }
    if is_weak {
        lab.see(format!(
            "   D maps {d_file} of the {n} text pages as file pages; {kept} were in the page cache before it started (which frames cannot be seen without CAP_SYS_ADMIN: weak)"
        ));
    } else {
        lab.see(format!(
            "   D's text: {same} of {n} pages on the very frames A, B and C used{}{}",
            if reread.is_empty() {
                String::new()
            } else {
                format!(
                    "; {} the page cache had dropped, read again into other frames: {}",
                    reread.len(),
                    view::offsets(&reread)
                )
            },
            if lost.is_empty() {
                String::new()
            } else {
                format!(
                    "; {} cached yet on other frames: {}",
                    lost.len(),
                    view::offsets(&lost)
                )
            }
        ));
    }
    if let Some(tp) = text.first() {
        let p = view::page_at(obj, tp.offset)?;
        lab.see(format!(
            "   e.g. text page at offset {:#x}: {}D: {}",
            tp.offset,
            used_by_a(tp.pfn),
            view::frames(p, &[&d])
        ));
    }
    if let (Some((off, pfn_a)), Some(p)) = (
        shared_before,
        view::pages_of(obj, SegmentKind::Shared).next(),
    ) {
        lab.see(format!(
            "   D's .shared page at offset {off:#x}: {}{}, state {}: a fresh region, clipboard length {}, shared_calls={}",
            view::frames(p, &[&d]),
            pfn_a.map_or(String::new(), |x| format!(" (A, B and C used {x:#x})")),
            view::state(p, &d),
            field(&clip, "len").unwrap_or("?"),
            field(&counters, "shared_calls").unwrap_or("?")
        ));
    }
    let step5 = unloaded
        && region_after_b.len() == 1
        && region_after_c.is_empty()
        && fresh
        && kept > 0
        && d_file == n
        && lost.is_empty()
        && (is_weak || same == kept);
    if !step5 {
        failed.push(format!(
            "5 (B and C unloaded: {unloaded}; region kept after B: {}, removed after C: {}; D's section fresh: {fresh}; text pages cached with no process: {kept} of {n}; D on the same frames: {same}; cached yet elsewhere: {})",
            region_after_b.len() == 1,
            region_after_c.is_empty(),
            lost.len()
        ));
    }

    let pass = failed.is_empty();
    Ok(Outcome {
        pass,
        weak: is_weak,
        why: if !pass {
            format!("step {}", failed.join("; step "))
        } else if is_weak {
            format!(
                "A's dlclose took its mappings only; B and C went on with their text pages, counter and clipboard; the text stayed in the file's page cache ({kept} of {n} pages after every process let go, by mincore) and the last unload removed the region (weak: no frame numbers)"
            )
        } else {
            format!(
                "A's dlclose took its mappings only; B and C went on on the same frames, with the counter and clipboard; those frames belong to the file's page cache, where D found {same} of {n} text pages again; the last unload removed the region and D started a fresh one"
            )
        },
    })
}

/// The figures `solab family` gives for the child's mapping that holds `addr`.
fn family_mapping(report: &FamilyReport, child: i32, addr: u64) -> Result<MappingFigures> {
    let member = report
        .processes
        .iter()
        .find(|m| m.pid == child)
        .ok_or_else(|| anyhow!("solab family lists no child {child}"))?;
    member
        .mappings
        .iter()
        .find(|m| m.start <= addr && addr < m.end)
        .cloned()
        .ok_or_else(|| {
            anyhow!("solab family shows no anonymous page of child {child} at {addr:#x}")
        })
}

/// "mapping 7f..-7f.. rw-p libsolib.so: 2 pages parents-frame, 0 copied, 0 new"
fn family_words(m: &MappingFigures, weak: bool) -> String {
    let name = m.name.rsplit('/').next().unwrap_or(&m.name);
    let (shared, word) = if weak {
        (m.pages.looks_inherited, "looks-inherited")
    } else {
        (m.pages.parents_frame, "parents-frame")
    };
    format!(
        "mapping {:#x}-{:#x} {} {name}: {} page(s) {word}, {} copied, {} new",
        m.start,
        m.end,
        m.perms,
        shared / 4096,
        m.pages.copied / 4096,
        m.pages.new / 4096
    )
}

/// The pagemap word of `addr` in `pid`, in the words of the lab.
fn page_words(e: solab::page_words::PagemapEntry) -> String {
    match (e.present(), e.pfn()) {
        (false, _) => "not present".into(),
        (true, Some(p)) => format!("frame {:#x}", p.0),
        (true, None) => format!(
            "present, {} (no frame numbers: weak)",
            if e.exclusive() {
                "exclusive (bit 56 set)"
            } else {
                "not exclusive (bit 56 clear)"
            }
        ),
    }
}

fn fork_same_address(lab: &mut Lab) -> Result<Outcome> {
    let mut a = lab.host("A", As::Me, &["touch", "add:1,2"])?;
    let line = lab.act(&mut a, "addrs")?;
    let data = field_u64(&line, "data")?;
    let page = data & !4095;
    let fork = lab.act(&mut a, "fork")?;
    let child = field_u64(&fork, "child")? as i32;
    let said = lab.act(&mut a, "child:addrs")?;
    let child_data = field_u64(&said, "data")?;
    let same_address = child_data == data;
    lab.see(format!(
        "1. A (pid {}) wrote its private counter in libsolib.so's .data, then forked child {child}: the counter is at {data:#x} in A and at {child_data:#x} in the child",
        a.pid
    ));

    // 2. One frame behind both, as family and pagemap say.
    let before = lab.family(As::Me, &a)?;
    let is_weak = before.weak;
    let m_before = family_mapping(&before, child, page)?;
    let (pa, pc) = (pagemap_entry(a.pid, page)?, pagemap_entry(child, page)?);
    lab.see(format!(
        "2. solab family, the child's {}",
        family_words(&m_before, is_weak)
    ));
    lab.see(format!(
        "   the page at {page:#x}: A {}; child {}",
        page_words(pa),
        page_words(pc)
    ));
    let shared_before = if is_weak {
        m_before.pages.looks_inherited > 0
            && pa.present()
            && pc.present()
            && !pa.exclusive()
            && !pc.exclusive()
    } else {
        m_before.pages.parents_frame > 0 && pa.pfn().is_some() && pa.pfn() == pc.pfn()
    } && m_before.pages.copied == 0;

    // 3. The child writes: a copy, at the same address.
    let add = lab.act(&mut a, "child:add:3,4")?;
    let after = lab.family(As::Me, &a)?;
    let m_after = family_mapping(&after, child, page)?;
    let (qa, qc) = (pagemap_entry(a.pid, page)?, pagemap_entry(child, page)?);
    let mine = lab.act(&mut a, "counters")?;
    let child_calls = field_u64(&add, "private_calls")?;
    let a_calls = field_u64(&mine, "private_calls")?;
    lab.see(format!(
        "3. after the child's solib_add(3, 4), solab family, the child's {}",
        family_words(&m_after, is_weak)
    ));
    lab.see(format!(
        "   the page at {page:#x}: A {}; child {}",
        page_words(qa),
        page_words(qc)
    ));
    lab.see(format!(
        "   the counter at {data:#x}: {a_calls} call(s) in A, {child_calls} in the child"
    ));
    let copied = m_after.pages.copied > m_before.pages.copied
        && qc.present()
        && qc.exclusive()
        && (is_weak || (qa.pfn().is_some() && qc.pfn().is_some() && qa.pfn() != qc.pfn()));
    let counters_apart = a_calls == 1 && child_calls == 2;
    lab.see(format!(
        "4. one address: {}; the address never said which memory. Reasoning from addresses (a DLL at the same base in every process, so the same pages) is the inference this refutes",
        if is_weak {
            "first not exclusive in either, then the child's page exclusive (weak: no frame numbers)"
        } else {
            "first one frame, then two"
        }
    ));
    lab.act(&mut a, "child:exit")?;
    let pass = same_address && shared_before && copied && counters_apart;
    Ok(Outcome {
        pass,
        weak: is_weak,
        why: if !pass {
            format!(
                "same address: {same_address}; shared before the child wrote: {shared_before}; copied after: {copied}; counters apart (A 1, child 2): {counters_apart} (A {a_calls}, child {child_calls})"
            )
        } else if is_weak {
            "parent and child had the .data page at the same address, not exclusive in either (looks inherited, weak: no frame numbers) until the child wrote; then the child's page was its own copy, at the same address, holding another count: the same address never meant the same memory".into()
        } else {
            "parent and child had the .data page at the same address on one frame until the child wrote; then the child had its own copy on another frame, at the same address, holding another count: the same address never meant the same memory".into()
        },
    })
}
