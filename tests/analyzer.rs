//! Tests of the solab analyzer against real processes.
//!
//! Every process is started through `util` (killed on Drop). Where a test checks what
//! `solab inspect --json` says about pages, it reads /proc/PID/pagemap itself and the two
//! must agree page for page.

use crate::util::{
    self, Namespace, Proc, Run, artifacts, as_nobody, field_u64, finish, skip, solab, spawn_host,
};
use serde_json::Value;
use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const LIBC: &str = "/lib/x86_64-linux-gnu/libc.so.6";

fn solab_as_nobody(args: &[&str]) -> Run {
    finish(
        as_nobody(&artifacts().solab)
            .args(args)
            .output()
            .expect("run solab as nobody"),
    )
}

/// Waits until `proc` has mapped a file whose path contains `needle` (for processes that
/// print nothing when ready).
fn wait_mapped(proc: &Proc, needle: &str) {
    let deadline = Instant::now() + util::READY_TIMEOUT;
    let maps = format!("/proc/{}/maps", proc.pid());
    while !std::fs::read_to_string(&maps).is_ok_and(|m| m.contains(needle)) {
        assert!(
            Instant::now() < deadline,
            "{} never mapped {needle}",
            proc.name
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // The dynamic loader maps libc, then relocates it; give it a moment to finish.
    std::thread::sleep(Duration::from_millis(50));
}

fn sleeper(cmd: Command) -> Proc {
    let p = Proc::spawn("sleep", cmd, "");
    wait_mapped(&p, "libc.so");
    p
}

fn sleep_cmd() -> Command {
    let mut c = Command::new("sleep");
    c.arg("100");
    c
}

fn pids(procs: &[&Proc]) -> Vec<String> {
    procs.iter().map(|p| p.pid().to_string()).collect()
}

fn args<'a>(head: &[&'a str], tail: &'a [String]) -> Vec<&'a str> {
    head.iter()
        .copied()
        .chain(tail.iter().map(String::as_str))
        .collect()
}

fn object<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .find(|o| o["path"].as_str().is_some_and(|p| p.ends_with(name)))
        .unwrap_or_else(|| panic!("no object {name} in {:#}", report["objects"]))
}

fn pages_of<'a>(obj: &'a Value, segment: &str) -> Vec<&'a Value> {
    obj["pages"]
        .as_array()
        .expect("pages")
        .iter()
        .filter(|p| p["segment"] == segment)
        .collect()
}

fn page_at(obj: &Value, offset: u64) -> &Value {
    obj["pages"]
        .as_array()
        .expect("pages")
        .iter()
        .find(|p| p["offset"] == offset)
        .unwrap_or_else(|| panic!("no page at offset {offset:#x}"))
}

/// Reads /proc/PID/pagemap directly and checks every page of every object in the report:
/// present bit, PFN, and the verdict recomputed from the frames. Returns pages checked.
fn agrees_with_pagemap(report: &Value) -> usize {
    let mut files: HashMap<i64, File> = HashMap::new();
    let mut checked = 0;
    for obj in report["objects"].as_array().expect("objects") {
        for page in obj["pages"].as_array().expect("pages") {
            let mut frames = Vec::new();
            for p in page["procs"].as_array().expect("procs") {
                let pid = p["pid"].as_i64().expect("pid");
                let state = p["state"].as_str().expect("state");
                if state == "unmapped" {
                    continue;
                }
                let f = files.entry(pid).or_insert_with(|| {
                    File::open(format!("/proc/{pid}/pagemap")).expect("open pagemap")
                });
                let vaddr = p["vaddr"].as_u64().expect("vaddr");
                let mut word = [0u8; 8];
                f.read_exact_at(&mut word, vaddr / 4096 * 8)
                    .expect("read pagemap");
                let word = u64::from_le_bytes(word);
                let present = word >> 63 == 1;
                let pfn = word & ((1 << 55) - 1);
                let ctx = || {
                    format!(
                        "{} offset {} pid {pid}: solab {p} vs pagemap word {word:#018x}",
                        obj["path"], page["offset"]
                    )
                };
                assert_eq!(p["present"].as_bool(), Some(present), "{}", ctx());
                // A merged entry stands for pages present in no process: every one of them.
                let n = page["pages"].as_u64().expect("pages");
                assert!(n >= 1, "{}", ctx());
                if n > 1 {
                    assert!(!present, "a merged run with a present page: {}", ctx());
                    assert_eq!(page["verdict"], "not-present", "{}", ctx());
                    for i in 1..n {
                        let mut w = [0u8; 8];
                        f.read_exact_at(&mut w, (vaddr / 4096 + i) * 8)
                            .expect("read pagemap");
                        assert_eq!(
                            u64::from_le_bytes(w) >> 63,
                            0,
                            "page {i} of a merged run present: {}",
                            ctx()
                        );
                    }
                }
                if report["privileged"] == true {
                    let expected_pfn = (present && pfn != 0).then_some(pfn);
                    assert_eq!(p["pfn"].as_u64(), expected_pfn, "{}", ctx());
                }
                // Whether a page-cache page is mapped exclusively changes whenever any
                // other process on the machine maps or unmaps it (the churn and soak tests
                // run beside this one); only an anonymous page's bit is ours alone.
                if word >> 61 & 1 == 0 {
                    assert_eq!(
                        p["exclusive"].as_bool(),
                        Some(word >> 56 & 1 == 1),
                        "{}",
                        ctx()
                    );
                }
                if present {
                    frames.push(pfn);
                }
                checked += 1;
            }
            if report["privileged"] == true {
                let mut distinct = frames.clone();
                distinct.sort();
                distinct.dedup();
                let verdict = match (frames.len(), distinct.len()) {
                    (0, _) => "not-present",
                    (1, _) => "one-process",
                    (_, 1) => "shared",
                    (n, d) if n == d => "private",
                    _ => "mixed",
                };
                assert_eq!(
                    page["verdict"], verdict,
                    "{} offset {}: frames {frames:x?}",
                    obj["path"], page["offset"]
                );
            }
        }
    }
    checked
}

#[test]
fn two_sleeps_share_libc_text_page_for_page() {
    let a = sleeper(sleep_cmd());
    let b = sleeper(sleep_cmd());
    let p = pids(&[&a, &b]);
    let run = solab(&args(&["inspect", "--json", "--object", "libc.so.6"], &p));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["schema"], "solab.inspect.v2");
    assert_eq!(report["privileged"], util::is_root());
    let libc = object(&report, "libc.so.6");
    let text = pages_of(libc, "text");
    let shared = text.iter().filter(|p| p["verdict"] == "shared").count();
    assert!(
        shared >= 20,
        "only {shared} of {} libc text pages shared",
        text.len()
    );
    assert!(text.iter().all(|p| p["verdict"] != "private"));
    assert_eq!(libc["textrel"], false);
    let checked = agrees_with_pagemap(&report);
    assert!(checked >= 2 * text.len(), "checked {checked} pages");

    let human = solab(&args(&["inspect", "--object", "libc.so.6"], &p));
    assert_eq!(human.code, 0);
    assert!(human.stdout.contains("segment") && human.stdout.contains("text"));
    let prove = solab(&args(&["prove", "--object", "libc.so.6"], &p));
    assert_eq!(prove.code, 0, "{}{}", prove.stdout, prove.stderr);
    assert!(prove.stdout.contains("HOLDS"), "{}", prove.stdout);
}

/// The pages of `solab elf --json`'s runs, one JSON object per page (offset, vaddr and
/// file_offset of that page; the run's segment, loader and sections).
fn elf_pages(plan: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for run in plan["runs"].as_array().expect("runs") {
        let n = run["pages"].as_u64().expect("run pages");
        assert!(n >= 1, "an empty run: {run}");
        for i in 0..n {
            let mut p = run.clone();
            p["pages"] = 1.into();
            p["offset"] = (run["offset"].as_u64().expect("offset") + i * 4096).into();
            p["vaddr"] = (run["vaddr"].as_u64().expect("vaddr") + i * 4096).into();
            if let Some(f) = run["file_offset"].as_u64() {
                p["file_offset"] = (f + i * 4096).into();
            }
            out.push(p);
        }
    }
    out
}

/// Checks a page plan against goblin, an independent ELF parser: the PT_LOAD headers, the
/// RELRO range and the sections on every page.
fn agrees_with_goblin(path: &Path, plan: &Value) {
    let bytes = std::fs::read(path).expect("read elf");
    let elf = goblin::elf::Elf::parse(&bytes).expect("goblin parses it");
    let loads: Vec<_> = elf
        .program_headers
        .iter()
        .filter(|p| p.p_type == goblin::elf::program_header::PT_LOAD)
        .collect();
    let segs = plan["segments"].as_array().expect("segments");
    assert_eq!(segs.len(), loads.len(), "PT_LOAD count");
    for (s, l) in segs.iter().zip(&loads) {
        assert_eq!(s["p_vaddr"], l.p_vaddr);
        assert_eq!(s["p_offset"], l.p_offset);
        assert_eq!(s["p_filesz"], l.p_filesz);
        assert_eq!(s["p_memsz"], l.p_memsz);
    }
    if let Some(r) = elf
        .program_headers
        .iter()
        .find(|p| p.p_type == goblin::elf::program_header::PT_GNU_RELRO)
    {
        assert_eq!(plan["relro"][0], r.p_vaddr);
        assert_eq!(plan["relro"][1], r.p_vaddr + r.p_memsz);
    }
    assert_eq!(
        plan["soname"].as_str(),
        elf.soname,
        "soname of {}",
        path.display()
    );
    let sections: Vec<(String, u64, u64)> = elf
        .section_headers
        .iter()
        .filter(|s| {
            s.sh_flags & u64::from(goblin::elf::section_header::SHF_ALLOC) != 0
                && s.sh_size > 0
                && !(s.sh_flags & u64::from(goblin::elf::section_header::SHF_TLS) != 0
                    && s.sh_type == goblin::elf::section_header::SHT_NOBITS)
        })
        .map(|s| {
            let name = elf.shdr_strtab.get_at(s.sh_name).unwrap_or("?").to_string();
            (name, s.sh_addr, s.sh_size)
        })
        .collect();
    let pages = elf_pages(plan);
    for page in &pages {
        let vaddr = page["vaddr"].as_u64().expect("vaddr");
        let expected: Vec<&str> = sections
            .iter()
            .filter(|(_, a, n)| *a < vaddr + 4096 && a + n > vaddr)
            .map(|(s, _, _)| s.as_str())
            .collect();
        let got: Vec<&str> = page["sections"]
            .as_array()
            .expect("sections")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(got, expected, "sections on page {vaddr:#x}");
    }
    let last = loads
        .iter()
        .map(|l| l.p_vaddr + l.p_memsz)
        .max()
        .expect("load");
    let first = loads.iter().map(|l| l.p_vaddr).min().expect("load") & !4095;
    assert!(pages.len() as u64 <= (last - first).div_ceil(4096));
}

#[test]
fn libc_page_plan_known_facts() {
    let run = solab(&["elf", "--json", LIBC]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let plan = run.json();
    assert_eq!(plan["schema"], "solab.elf.v2");
    assert_eq!(plan["soname"], "libc.so.6");
    assert_eq!(plan["textrel"], false);
    assert_eq!(plan["has_shared_section"], false);
    assert_eq!(plan["build_id"].as_str().map(str::len), Some(40));
    assert!(plan["needed"].as_array().is_some_and(|n| {
        n.iter()
            .any(|x| x.as_str().is_some_and(|s| s.starts_with("ld-linux")))
    }));
    let pages = elf_pages(&plan);
    let kinds = |k: &str| pages.iter().filter(|p| p["segment"] == k).count();
    assert!(kinds("text") > 100, "libc has hundreds of text pages");
    assert!(kinds("rodata") > 10);
    assert!(kinds("relro") >= 1);
    assert!(kinds("data") >= 1);
    assert_eq!(kinds("shared"), 0);
    let text_sections = pages
        .iter()
        .filter(|p| p["segment"] == "text")
        .all(|p| p["loader"] == "map-read-only");
    assert!(text_sections, "libc has no text relocations");
    agrees_with_goblin(Path::new(LIBC), &plan);
    let human = solab(&["elf", LIBC]);
    assert!(human.stdout.contains("PT_GNU_RELRO"));
}

#[test]
fn libsolib_page_plan_known_facts() {
    let lib = &artifacts().libsolib;
    let run = solab(&["elf", "--json", lib.to_str().expect("utf-8 path")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let plan = run.json();
    let pages = elf_pages(&plan);
    let shared: Vec<&Value> = pages.iter().filter(|p| p["segment"] == "shared").collect();
    assert_eq!(shared.len(), 1, "one .shared page");
    assert_eq!(shared[0]["sections"], serde_json::json!([".shared"]));
    assert_eq!(shared[0]["loader"], "map-shared-window");
    assert_eq!(plan["has_shared_section"], true);
    assert!(plan["relro"].is_array());
    let count = |k: &str| pages.iter().filter(|p| p["segment"] == k).count();
    assert!(count("text") > 10 && count("rodata") > 1 && count("relro") >= 1);
    assert!(count("data") >= 1 && count("bss") >= 1);
    // rust-lld: p_vaddr != p_offset for the executable segment.
    let segs = plan["segments"].as_array().expect("segments");
    assert!(segs.iter().any(|s| s["p_vaddr"] != s["p_offset"]));
    assert!(
        pages
            .iter()
            .any(|p| p["segment"] == "text" && p["offset"] != p["file_offset"])
    );
    agrees_with_goblin(lib, &plan);
}

fn offset_of(addrs: &str, key: &str) -> u64 {
    (field_u64(addrs, key) - field_u64(addrs, "base")) & !4095
}

#[test]
fn lab_hosts_prove_text_shared_data_private_shared_section_shared() {
    let ns = Namespace::new("prove");
    let mut hosts: Vec<Proc> = (0..3)
        .map(|i| spawn_host(&format!("host{i}"), &ns, &["touch", "add:1,2"]))
        .collect();
    let addrs = hosts[0].act("addrs");
    let p: Vec<String> = hosts.iter().map(|h| h.pid().to_string()).collect();

    let run = solab(&args(&["prove", "--json", "--object", "libsolib.so"], &p));
    let proof = run.json();
    assert_eq!(run.code, 0, "{:#}\n{}", proof, run.stderr);
    assert_eq!(proof["schema"], "solab.prove.v2");
    assert_eq!(proof["holds"], true);
    let claim = |id: &str| {
        proof["claims"]
            .as_array()
            .expect("claims")
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("no claim {id}"))
            .clone()
    };
    let text = claim("text-shared");
    assert_eq!(text["status"], "holds");
    assert!(text["counts"]["one_frame"].as_u64() > Some(5), "{text:#}");
    let data = claim("data-private");
    assert_eq!(data["status"], "holds");
    assert!(
        data["counts"]["written_private"].as_u64() >= Some(2),
        "{data:#}"
    );
    let shared = claim("shared-section");
    assert_eq!(shared["status"], "holds");
    assert_eq!(shared["counts"]["one_frame"], 1);
    let human = solab(&args(&["prove", "--object", "libsolib.so"], &p));
    assert_eq!(human.code, 0);
    assert_eq!(human.stdout.matches("HOLDS").count(), 3, "{}", human.stdout);

    let run = solab(&args(&["inspect", "--json", "--object", "libsolib.so"], &p));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    let lib = object(&report, "libsolib.so");
    let data_page = page_at(lib, offset_of(&addrs, "data"));
    assert_eq!(data_page["segment"], "data");
    assert_eq!(data_page["verdict"], "private", "{data_page:#}");
    let bss_page = page_at(lib, offset_of(&addrs, "bss"));
    assert_eq!(bss_page["segment"], "bss");
    assert_eq!(bss_page["verdict"], "private", "{bss_page:#}");
    let shared_page = page_at(lib, offset_of(&addrs, "shared"));
    assert_eq!(shared_page["segment"], "shared");
    assert_eq!(shared_page["verdict"], "shared", "{shared_page:#}");
    assert!(
        shared_page["procs"]
            .as_array()
            .expect("procs")
            .iter()
            .all(|p| p["state"] == "shared-window")
    );
    let text_page = page_at(lib, field_u64(&addrs, "solib_add_offset") & !4095);
    assert_eq!(text_page["segment"], "text");
    assert_eq!(text_page["verdict"], "shared");
    // The object's load base is what lab-host's dl_iterate_phdr reports.
    assert_eq!(
        lib["procs"][0]["load_base"].as_u64(),
        Some(field_u64(&addrs, "base"))
    );
    agrees_with_pagemap(&report);
}

/// The lab's text-relocation fixture, built as `name` into a temporary directory.
fn textrel_lib(name: &str) -> util::Compiled {
    let src = artifacts().repo.join("lab/textrel/textrel.c");
    util::Compiled::from_file(
        &src,
        name,
        &["-O2", "-fno-pic", "-mcmodel=large", "-shared"],
        &[],
    )
}

#[test]
fn prove_fails_when_a_text_relocation_makes_text_private() {
    let lib = textrel_lib("libtextrel-textrel.so");
    let plan = solab(&["elf", "--json", lib.path.to_str().expect("utf-8")]).json();
    assert_eq!(plan["textrel"], true);
    let ns = Namespace::new("textrel");
    let open = format!("open:{}", lib.path.display());
    let hosts: Vec<Proc> = (0..2)
        .map(|i| spawn_host(&format!("textrel{i}"), &ns, &[&open]))
        .collect();
    let p: Vec<String> = hosts.iter().map(|h| h.pid().to_string()).collect();
    let run = solab(&args(
        &["prove", "--json", "--object", "libtextrel-textrel.so"],
        &p,
    ));
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let proof = run.json();
    let text = &proof["claims"][0];
    assert_eq!(text["id"], "text-shared");
    assert_eq!(text["status"], "fails");
    let failures = text["failures"].as_array().expect("failures");
    assert!(!failures.is_empty());
    if util::is_root() {
        assert!(
            failures.iter().all(|f| f["reason"]
                .as_str()
                .is_some_and(|r| r.contains("text relocation"))),
            "{failures:#?}"
        );
    }
    let human = solab(&args(&["prove", "--object", "libtextrel-textrel.so"], &p));
    assert_eq!(human.code, 1);
    assert!(human.stdout.contains("FAIL page"), "{}", human.stdout);
}

#[test]
fn bad_pids_exit_2_and_are_named() {
    let run = solab(&["inspect", "2147483647"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("2147483647"), "{}", run.stderr);
    assert!(!run.stderr.contains("panicked"));

    let a = sleeper(sleep_cmd());
    let good = a.pid().to_string();
    let run = solab(&[
        "inspect",
        "--json",
        "--object",
        "libc.so.6",
        &good,
        "2147483647",
    ]);
    assert_eq!(run.code, 2, "a missing pid is an error");
    let report = run.json();
    assert_eq!(report["pids"], serde_json::json!([a.pid()]));
    assert_eq!(report["errors"][0]["pid"], 2147483647);
    assert!(
        report["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("no such process"))
    );
    object(&report, "libc.so.6");

    let run = solab(&["prove", "--object", "libc.so.6", &good, "2147483647"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("2147483647"), "{}", run.stderr);

    let run = solab(&["inspect", "2"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("kernel thread"), "{}", run.stderr);

    let b = sleeper(sleep_cmd());
    let other = b.pid().to_string();
    let run = solab(&["prove", "--object", "no-such-object.so", &good, &other]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no-such-object.so"), "{}", run.stderr);

    let run = solab(&["elf", "/etc/passwd"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("/etc/passwd") && run.stderr.contains("ELF"));
    let run = solab(&["elf", "/no/such/file"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("/no/such/file"));
}

#[test]
fn closed_stdout_is_not_an_error() {
    let cmd = format!(
        "set -o pipefail; {} elf {LIBC} | head -c 10 >/dev/null",
        artifacts().solab.display()
    );
    let out = Command::new("bash")
        .args(["-c", &cmd])
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "{:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn unprivileged_runs_are_weak_and_say_so() {
    if !util::is_root() {
        return util::skip("starting processes as uid 65534 needs root");
    }
    let a = sleeper(as_nobody(Path::new("/bin/sleep")).tap_arg("100"));
    let b = sleeper(as_nobody(Path::new("/bin/sleep")).tap_arg("100"));
    let p = pids(&[&a, &b]);
    let run = solab_as_nobody(&args(&["inspect", "--json", "--object", "libc.so.6"], &p));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["privileged"], false);
    assert!(
        report["privilege_note"]
            .as_str()
            .is_some_and(|n| n.contains("CAP_SYS_ADMIN"))
    );
    let libc = object(&report, "libc.so.6");
    assert_eq!(libc["weak"], true);
    let text = pages_of(libc, "text");
    assert!(
        text.iter()
            .filter(|p| p["verdict"] == "looks-shared")
            .count()
            >= 20
    );
    // Without frame numbers no verdict claims one frame.
    for page in libc["pages"].as_array().expect("pages") {
        assert!(
            !["shared", "private", "mixed"].contains(&page["verdict"].as_str().unwrap_or("")),
            "a strong verdict without frames: {page}"
        );
    }
    for page in libc["pages"].as_array().expect("pages") {
        for q in page["procs"].as_array().expect("procs") {
            assert!(q["pfn"].is_null() && q["mapcount"].is_null(), "{q}");
        }
    }
    let written = pages_of(libc, "data");
    assert!(written.iter().any(|p| p["verdict"] == "looks-private"));
    agrees_with_pagemap(&report);

    let human = solab_as_nobody(&args(&["inspect", "--object", "libc.so.6"], &p));
    assert_eq!(human.stdout.matches("not privileged").count(), 1);
    let prove = solab_as_nobody(&args(&["prove", "--json", "--object", "libc.so.6"], &p));
    assert_eq!(prove.code, 0, "{}", prove.stdout);
    let proof = prove.json();
    assert_eq!(proof["privileged"], false);
    assert!(
        proof["claims"]
            .as_array()
            .expect("claims")
            .iter()
            .all(|c| c["weak"] == true)
    );

    // Another user's process: a clear error naming the file, not a panic.
    let me = std::process::id().to_string();
    let run = solab_as_nobody(&["inspect", &me]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("permission denied"), "{}", run.stderr);
}

/// Without CAP_SYS_ADMIN solab can reach a mapped file only through its path: when that
/// fails it must say why (a checkout below a 0700 home is out of reach, not "replaced").
#[test]
fn a_mapped_file_out_of_reach_is_named_as_such_not_called_replaced() {
    use std::os::unix::fs::PermissionsExt;
    if !util::is_root() {
        return skip("closing a directory to another user needs root");
    }
    let chmod = |p: &Path, mode: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod")
    };
    let scratch = util::Scratch::new();
    let closed = scratch.dir.join("closed");
    std::fs::create_dir(&closed).expect("mkdir");
    chmod(&closed, 0o755);
    let lib = closed.join("libsolib.so");
    std::fs::copy(&artifacts().libsolib, &lib).expect("copy the library");
    let ns = Namespace::new("reach");
    let mut cmd = as_nobody(&artifacts().lab_host);
    cmd.arg("--lib").arg(&lib).args(["touch", "serve"]);
    ns.env(&mut cmd);
    let host = Proc::spawn("uid 65534 host", cmd, "action=serve");
    let pid = host.pid().to_string();
    // solab skips an object it cannot read and says why: the reason, or None if analyzed.
    let why_skipped = || -> Option<String> {
        let run = finish(
            as_nobody(&artifacts().solab)
                .args(["inspect", "--json", "--object", "libsolib.so", &pid])
                .output()
                .expect("run solab as nobody"),
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        let report = run.json();
        let skipped = report["skipped"].as_array().expect("skipped");
        assert!(skipped.len() <= 1, "{report:#}");
        assert_eq!(
            report["objects"].as_array().expect("objects").len(),
            1 - skipped.len(),
            "{report:#}"
        );
        skipped
            .first()
            .map(|s| s["reason"].as_str().expect("reason").to_string())
    };
    // Within reach, it is analyzed: what follows fails only for what the test changes.
    assert_eq!(why_skipped(), None);

    chmod(&closed, 0o700);
    let unreachable = why_skipped();
    chmod(&closed, 0o755);
    let reason = unreachable.expect("analyzed although out of reach");
    assert!(
        reason.contains(&format!(
            "this user cannot search the directory {}",
            closed.display()
        )) && !reason.contains("replaced"),
        "{reason}"
    );

    chmod(&lib, 0o600);
    let unreadable = why_skipped();
    chmod(&lib, 0o755);
    let reason = unreadable.expect("analyzed although unreadable");
    assert!(
        reason.contains("this user may not open the file (Permission denied")
            && !reason.contains("replaced"),
        "{reason}"
    );
}

trait TapArg {
    fn tap_arg(self, a: &str) -> Command;
}

impl TapArg for Command {
    fn tap_arg(mut self, a: &str) -> Command {
        self.arg(a);
        self
    }
}

#[test]
fn deleted_file_with_spaces_in_its_path_is_still_analyzed() {
    if !util::is_root() {
        return util::skip("map_files needs CAP_SYS_ADMIN");
    }
    let lib = textrel_lib("lib with space.so");
    let ns = Namespace::new("deleted");
    let open = format!("open:{}", lib.path.display());
    let host = spawn_host("deleted", &ns, &[&open]);
    std::fs::remove_file(&lib.path).expect("delete the library");
    let pid = host.pid().to_string();
    let run = solab(&["inspect", "--json", "--object", "lib with space.so", &pid]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    let obj = object(&report, "lib with space.so");
    assert_eq!(obj["procs"][0]["deleted"], true);
    assert_eq!(obj["textrel"], true);
    assert!(!pages_of(obj, "text").is_empty());
}
