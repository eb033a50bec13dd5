//! The experiments, in the order the story is told. Each starts its own lab-hosts, shows the
//! commands and the evidence, and returns whether its claim held.

use crate::ctx::{As, Host, Lab, field, field_u64};
use crate::view::{self, Tally};
use anyhow::{Context, Result, bail};
use serde_json::Value;
use solab::commands::prove::{ProveReport, Status};
use solab::elf::SegmentKind;
use solab::report::{InspectReport, PageReport};
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
];

fn hosts(lab: &mut Lab, who: As, names: &[&str], actions: &[&str]) -> Result<Vec<Host>> {
    names.iter().map(|n| lab.host(n, who, actions)).collect()
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
fn pagemap_entry(pid: i32, addr: u64) -> Result<solab::pagemap::PagemapEntry> {
    use std::os::unix::fs::FileExt;
    let path = format!("/proc/{pid}/pagemap");
    let f = std::fs::File::open(&path).with_context(|| format!("cannot open {path}"))?;
    let mut b = [0u8; 8];
    f.read_exact_at(&mut b, addr / 4096 * 8)
        .with_context(|| format!("cannot read {path}"))?;
    Ok(solab::pagemap::PagemapEntry(u64::from_le_bytes(b)))
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
        lab.see(format!(
            ".shared page at offset {:#x} (writable): {}, states {}, verdict {}",
            p.offset,
            view::frames(p, &r),
            r.iter()
                .map(|h| view::state(p, h))
                .collect::<Vec<_>>()
                .join("/"),
            p.verdict.name()
        ));
        frame_ok &= p.verdict == want
            && r.iter()
                .all(|h| view::state_is(p, h, PageState::SharedWindow));
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
        all_hold &= c.status != Status::Fails;
        all_weak &= c.weak || c.status == Status::NotApplicable;
        let status = match c.status {
            Status::Holds => "holds",
            Status::Fails => "fails",
            Status::NotApplicable => "not-applicable",
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
