//! Tests of `solab ps` and `solab family` against real processes: per-process PSS and USS
//! against the kernel's own smaps_rollup, totals, filters and sorting, the unprivileged
//! (weak) figures, and a fork family whose children share, copy and keep memory.

use crate::util;
use crate::util::{
    Namespace, Proc, Run, Staged, artifacts, as_nobody, field, finish, is_root, spawn_host,
};
use serde_json::Value;
use std::process::{Command, Stdio};

fn solab(args: &[&str]) -> Run {
    finish(
        Command::new(&artifacts().solab)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run solab"),
    )
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// Pss, private (USS) and Rss of /proc/PID/smaps_rollup, in bytes.
fn rollup(pid: i32) -> (u64, u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).expect("rollup");
    let kb = |key: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no {key} in {text}"))
            * 1024
    };
    (
        kb("Pss:"),
        kb("Private_Clean:") + kb("Private_Dirty:"),
        kb("Rss:"),
    )
}

fn row(r: &Value, pid: i32) -> &Value {
    r["processes"]
        .as_array()
        .expect("processes")
        .iter()
        .find(|p| p["pid"] == pid)
        .unwrap_or_else(|| panic!("pid {pid} not in {r:#}"))
}

const CLASSES: [&str; 4] = ["elf", "anon", "shared", "files"];
const FIGURES: [&str; 4] = ["rss", "pss", "uss", "swap"];

/// Each row's classes add up to the row (PSS within rounding), and the rows to the totals.
fn check_sums(r: &Value) {
    let rows = r["processes"].as_array().expect("processes");
    let t = &r["totals"];
    assert_eq!(u(&t["processes"]), rows.len() as u64);
    for f in FIGURES {
        let sum: u64 = rows.iter().map(|p| u(&p[f])).sum();
        assert_eq!(sum, u(&t[f]), "total {f}: {r:#}");
        for c in CLASSES {
            let sum: u64 = rows.iter().map(|p| u(&p["classes"][c][f])).sum();
            assert_eq!(sum, u(&t["classes"][c][f]), "total {c}.{f}");
        }
        for p in rows {
            let parts: u64 = CLASSES.iter().map(|c| u(&p["classes"][c][f])).sum();
            let slack = if f == "pss" { 4 } else { 0 };
            assert!(
                parts.abs_diff(u(&p[f])) <= slack,
                "pid {}: classes of {f} add to {parts}, not {}",
                p["pid"],
                p[f]
            );
        }
    }
}

/// Whether `got` lies within 1% (plus `slack` bytes) of the band [a, b] seen before and
/// after; the message when not.
fn within(got: u64, a: u64, b: u64, slack: u64, what: &str) -> Result<(), String> {
    let (lo, hi) = (a.min(b), a.max(b));
    let slack = hi / 100 + slack;
    if got + slack >= lo && got <= hi + slack {
        Ok(())
    } else {
        Err(format!("{what}: solab says {got}, smaps_rollup {lo}..{hi}"))
    }
}

/// Runs `solab ps --json` (through `run`) on `pids` and compares PSS, USS and RSS with
/// smaps_rollup read just before and after, `slack(pid)` bytes allowed beyond 1%. Other
/// tests start and stop processes that map the same frames (lab-hosts, libc), which moves
/// every PSS while solab reads: a disagreement is measured again, up to five times, and
/// only one that persists fails.
fn agrees_with_rollup(
    pids: &[i32],
    run: impl Fn(&[String]) -> Run,
    slack: impl Fn(i32) -> u64,
) -> Value {
    let args: Vec<String> = ["ps", "--json"]
        .iter()
        .map(|s| s.to_string())
        .chain(pids.iter().map(i32::to_string))
        .collect();
    let mut last = String::new();
    for _ in 0..5 {
        let before: Vec<_> = pids.iter().map(|&p| rollup(p)).collect();
        let out = run(&args);
        let after: Vec<_> = pids.iter().map(|&p| rollup(p)).collect();
        assert_eq!(out.code, 0, "{}", out.stderr);
        let r = out.json();
        let checked: Result<(), String> = pids.iter().enumerate().try_for_each(|(i, &pid)| {
            let p = row(&r, pid);
            let s = slack(pid);
            within(u(&p["pss"]), before[i].0, after[i].0, s, "PSS")?;
            within(u(&p["uss"]), before[i].1, after[i].1, s, "USS")?;
            within(u(&p["rss"]), before[i].2, after[i].2, s, "RSS")
        });
        match checked {
            Ok(()) => return r,
            Err(e) => last = e,
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    panic!("five measurements disagree with smaps_rollup; the last: {last}");
}

#[test]
fn root_pss_and_uss_agree_with_smaps_rollup() {
    if !is_root() {
        eprintln!("skipped: frames need CAP_SYS_ADMIN");
        return;
    }
    let ns = Namespace::new("ps-rollup");
    let hosts: Vec<Proc> = (0..3)
        .map(|i| spawn_host(&format!("host{i}"), &ns, &["touch"]))
        .collect();
    let pids: Vec<i32> = hosts.iter().map(Proc::pid).collect();
    // Sleeping hosts: the kernel's figures are read before and after solab's.
    let r = agrees_with_rollup(
        &pids,
        |args| {
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            solab(&a)
        },
        |_| 1024,
    );
    assert_eq!(r["schema"], "solab.ps.v1");
    assert_eq!(r["source"], "frames");
    assert_eq!(r["weak"], false);
    for h in &hosts {
        let p = row(&r, h.pid());
        // libsolib's shared section is MAP_SHARED memory; the hosts have code and heaps.
        for c in CLASSES.iter().take(3) {
            assert!(u(&p["classes"][c]["rss"]) > 0, "no {c} memory: {p:#}");
        }
        assert!(u(&p["uss"]) <= u(&p["pss"]) && u(&p["pss"]) <= u(&p["rss"]));
    }
    check_sums(&r);
}

#[test]
fn filters_sorting_and_errors() {
    let ns = Namespace::new("ps-filter");
    let hosts: Vec<Proc> = (0..2)
        .map(|i| spawn_host(&format!("host{i}"), &ns, &[]))
        .collect();
    let me = nix::unistd::getuid().as_raw().to_string();
    let run = solab(&[
        "ps",
        "-a",
        "--json",
        "-u",
        &me,
        "-c",
        "^solab-lab-hos",
        "-s",
        "pid",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.json();
    let rows = r["processes"].as_array().expect("rows");
    for h in &hosts {
        row(&r, h.pid());
    }
    assert!(
        rows.iter().all(|p| p["comm"] == "solab-lab-host"
            && p["uid"].as_u64().map(|x| x.to_string()) == Some(me.clone())),
        "{r:#}"
    );
    let order: Vec<i64> = rows
        .iter()
        .map(|p| p["pid"].as_i64().expect("pid"))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    assert!(u(&r["counts"]["filtered_out"]) > 0);
    check_sums(&r);

    // --top keeps the largest rows by the key; the totals still cover every process.
    let pids: Vec<String> = hosts.iter().map(|h| h.pid().to_string()).collect();
    let all = solab(&["ps", "--json", "-s", "rss", &pids[0], &pids[1]]).json();
    let top = solab(&["ps", "--json", "-s", "rss", "-n", "1", &pids[0], &pids[1]]).json();
    assert_eq!(top["processes"].as_array().map(Vec::len), Some(1));
    assert_eq!(top["processes"][0]["pid"], all["processes"][0]["pid"]);
    assert!(u(&all["processes"][0]["rss"]) >= u(&all["processes"][1]["rss"]));
    assert_eq!(u(&top["totals"]["processes"]), 2);
    let rev = solab(&["ps", "--json", "-s", "rss", "-r", &pids[0], &pids[1]]).json();
    assert_eq!(rev["processes"][0]["pid"], all["processes"][1]["pid"]);

    // --by sums the rows per command name (or user, or cgroup).
    let by = solab(&["ps", "--json", "--by", "comm", &pids[0], &pids[1]]).json();
    let groups = by["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), 1, "{by:#}");
    assert_eq!(groups[0]["key"], "solab-lab-host");
    assert_eq!(u(&groups[0]["processes"]), 2);
    assert_eq!(u(&groups[0]["rss"]), u(&by["totals"]["rss"]));
    let cg = solab(&["ps", "--by", "cgroup", &pids[0], &pids[1]]);
    assert!(cg.stdout.contains("CGROUP"), "{}", cg.stdout);

    // The text table ends with the totals.
    let text = solab(&["ps", &pids[0], &pids[1]]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    let last = text.stdout.lines().last().unwrap_or_default();
    assert!(
        last.contains("TOTAL") && last.contains("2 processes"),
        "{}",
        text.stdout
    );

    // A pid that does not exist is named, and the others are still reported.
    let bad = solab(&["ps", "--json", "2147483646", &pids[0]]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("pid 2147483646"), "{}", bad.stderr);
    row(&bad.json(), hosts[0].pid());
    // A bad regular expression is a usage error.
    let re = solab(&["ps", "-a", "-c", "("]);
    assert_eq!(re.code, 2);
    assert!(re.stderr.contains("--command"), "{}", re.stderr);
}

#[test]
fn unprivileged_figures_are_smaps_and_weak() {
    let a = Staged::new();
    let ns = Namespace::new("psnobody");
    let mut cmd = as_nobody(&a.lab_host);
    cmd.arg("--lib")
        .arg(&a.libsolib)
        .args(["touch", "serve"])
        .env("SOLIB_NAMESPACE", &ns.name);
    let host = Proc::spawn("nobody host", cmd, "action=serve");
    // smaps prints each mapping's Pss in whole kB, truncated: the sum over the mappings
    // may fall short of smaps_rollup's by up to 1 kB per mapping.
    let mappings = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/maps"))
            .map(|m| m.lines().count() as u64)
            .unwrap_or(0)
    };
    let r = agrees_with_rollup(
        &[host.pid()],
        |args| {
            finish(
                as_nobody(&a.solab)
                    .args(args)
                    .output()
                    .expect("run solab as nobody"),
            )
        },
        |pid| 1024 * mappings(pid),
    );
    assert_eq!(
        (&r["weak"], &r["source"]),
        (&Value::from(true), &Value::from("smaps"))
    );
    check_sums(&r);
    let text = finish(
        as_nobody(&a.solab)
            .args(["ps", &host.pid().to_string()])
            .output()
            .expect("run solab as nobody"),
    );
    assert!(
        text.stdout.contains("WEAK") && text.stdout.contains("PSS~"),
        "{}",
        text.stdout
    );
}

// ---- solab family ---------------------------------------------------------------------------

const FAMILY_C: &str = r#"
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#define MIB (1024 * 1024)

int main(void) {
    size_t len = 64 * MIB;
    char *area = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED) { perror("mmap"); return 1; }
    memset(area, 1, len);
    int fds[2];
    if (pipe(fds) != 0) { perror("pipe"); return 1; }
    pid_t kids[3];
    for (int i = 0; i < 3; i++) {
        pid_t pid = fork();
        if (pid < 0) { perror("fork"); return 1; }
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() == 1) _exit(1);
            if (i == 0) memset(area, 2, len / 2);
            if (write(fds[1], "x", 1) != 1) _exit(1);
            for (;;) pause();
        }
        kids[i] = pid;
    }
    char buf[3];
    size_t got = 0;
    while (got < 3) {
        ssize_t n = read(fds[0], buf + got, 3 - got);
        if (n <= 0) { perror("read"); return 1; }
        got += (size_t)n;
    }
    printf("family parent=%d writer=%d reader1=%d reader2=%d area=%lu ready\n", (int)getpid(),
           (int)kids[0], (int)kids[1], (int)kids[2], (unsigned long)area);
    fflush(stdout);
    for (;;) pause();
}
"#;

const MIB: u64 = 1 << 20;
/// "Within a few pages".
const FEW: u64 = 16 * 4096;

/// Starts the family (as uid 65534 with `nobody`) and returns it with its pids and area.
fn start_family(prog: &util::Compiled, nobody: bool) -> (Proc, util::KillOnDrop, [i32; 3], u64) {
    let cmd = if nobody {
        as_nobody(&prog.path)
    } else {
        Command::new(&prog.path)
    };
    let mut parent = Proc::spawn("family", cmd, "");
    let line = parent.expect("ready");
    let num = |k: &str| -> u64 {
        field(&line, k)
            .unwrap_or_else(|| panic!("no {k}= in {line:?}"))
            .parse()
            .expect("number")
    };
    let kids = [
        num("writer") as i32,
        num("reader1") as i32,
        num("reader2") as i32,
    ];
    (parent, util::KillOnDrop(kids.to_vec()), kids, num("area"))
}

/// The figures of the mapping holding `area` in the child `pid`.
fn area_of(r: &Value, pid: i32, area: u64) -> &Value {
    let p = row(r, pid);
    p["mappings"]
        .as_array()
        .expect("mappings")
        .iter()
        .find(|m| u(&m["start"]) <= area && area < u(&m["end"]))
        .unwrap_or_else(|| panic!("no mapping at {area:#x} for pid {pid}: {p:#}"))
}

fn near(got: u64, want: u64, what: &str) {
    assert!(
        got.abs_diff(want) <= FEW,
        "{what}: {got} bytes, expected about {want}"
    );
}

/// `family --svg`: per descendant and word, the pages its cells stand for are the pages
/// the JSON of the same scan counts in its inherited mappings; every tied cell is in one
/// tie bar; the weak banner is there exactly when the evidence is weak.
fn picture_agrees(picture: &str, r: &Value) {
    let doc = roxmltree::Document::parse(picture).expect("the SVG is XML");
    let mut drawn: std::collections::BTreeMap<(i64, String), u64> = Default::default();
    for c in doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("cell"))
    {
        let num = |k: &str| -> u64 { c.attribute(k).and_then(|v| v.parse().ok()).expect(k) };
        let pid = num("data-pid") as i64;
        let word = c.attribute("data-word").expect("data-word").to_string();
        if row(r, pid as i32)["depth"] != 0 && word != "not-present" {
            *drawn.entry((pid, word)).or_default() += num("data-pages");
        }
    }
    let mut counted: std::collections::BTreeMap<(i64, String), u64> = Default::default();
    for p in r["processes"].as_array().expect("processes") {
        for m in p["mappings"].as_array().expect("mappings") {
            if m["inherited"] != true {
                continue;
            }
            for (key, word) in [
                ("parents_frame", "parents-frame"),
                ("copied", "copied"),
                ("new", "new"),
                ("looks_inherited", "looks-inherited"),
            ] {
                let pages = u(&m[key]) / 4096;
                if pages > 0 {
                    *counted
                        .entry((p["pid"].as_i64().expect("pid"), word.to_string()))
                        .or_default() += pages;
                }
            }
        }
    }
    assert!(!counted.is_empty());
    assert_eq!(drawn, counted, "cells per pid and word, against the JSON");
    let sum = |class: &str, key: &str| -> u64 {
        doc.descendants()
            .filter(|n| n.attribute("class") == Some(class))
            .filter_map(|n| n.attribute(key)?.parse::<u64>().ok())
            .sum()
    };
    let tie_procs = sum("tie", "data-procs");
    assert!(tie_procs > 0, "no tie bar");
    assert_eq!(
        tie_procs,
        sum("cell", "data-tied"),
        "every tied cell in one tie bar"
    );
    assert_eq!(picture.contains("WEAK MODE"), r["weak"] == true);
}

#[test]
fn family_sees_what_each_child_still_shares() {
    if !is_root() {
        eprintln!("skipped: frames need CAP_SYS_ADMIN");
        return;
    }
    let prog = util::Compiled::from_source("family", FAMILY_C, &["-O2", "-Wall", "-Werror"], &[]);
    let (parent, _kids, [writer, r1, r2], area) = start_family(&prog, false);
    let staged = Staged::new();
    let svg = staged.dir.join("family.svg");
    let svg_arg = svg.to_string_lossy().into_owned();
    let run = solab(&[
        "family",
        "--json",
        "--svg",
        &svg_arg,
        &parent.pid().to_string(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.json();
    picture_agrees(&std::fs::read_to_string(&svg).expect("the SVG"), &r);
    let pid = parent.pid().to_string();
    let to_stdout = solab(&["family", "--svg", "-", &pid]);
    assert_eq!(to_stdout.code, 0, "{}", to_stdout.stderr);
    assert!(to_stdout.stdout.starts_with("<svg"), "{}", to_stdout.stdout);
    let both = solab(&["family", "--json", "--svg", "-", &pid]);
    assert_eq!(both.code, 2, "--json and --svg - both want stdout");
    assert_eq!(both.json()["schema"], "solab.error.v1");
    let nowhere = solab(&["family", "--svg", "/nonexistent-dir/family.svg", &pid]);
    assert_eq!(nowhere.code, 2);
    assert!(
        nowhere.stderr.contains("/nonexistent-dir/family.svg"),
        "{}",
        nowhere.stderr
    );
    assert_eq!(r["schema"], "solab.family.v1");
    assert_eq!(r["weak"], false);
    assert_eq!(r["processes"].as_array().map(Vec::len), Some(4), "{r:#}");
    let w = area_of(&r, writer, area);
    assert_eq!(w["inherited"], true);
    near(
        u(&w["parents_frame"]),
        32 * MIB,
        "writer: still the parent's",
    );
    near(u(&w["copied"]), 32 * MIB, "writer: copied");
    for reader in [r1, r2] {
        let m = area_of(&r, reader, area);
        near(
            u(&m["parents_frame"]),
            64 * MIB,
            "reader: still the parent's",
        );
        near(u(&m["copied"]) + u(&m["new"]), 0, "reader: copied or new");
    }
    // The family's totals are the children's.
    let kids: Vec<&Value> = [writer, r1, r2].iter().map(|&p| row(&r, p)).collect();
    for k in ["parents_frame", "copied", "new"] {
        let sum: u64 = kids.iter().map(|p| u(&p["totals"][k])).sum();
        assert_eq!(sum, u(&r["totals"][k]), "{k}");
    }
    let text = solab(&["family", &parent.pid().to_string()]);
    assert!(text.stdout.contains("PARENTS-FRAME"), "{}", text.stdout);

    // --watch: a table every second; Ctrl-C prints the last one again and exits with 0.
    let mut cmd = Command::new(&artifacts().solab);
    cmd.args(["family", "--watch", "1", &parent.pid().to_string()]);
    let mut watch = Proc::spawn("family --watch", cmd, "");
    watch.expect("still the parent's frames");
    watch.expect("still the parent's frames");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(watch.pid()),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("SIGINT");
    let (status, lines) = watch.finish();
    assert!(status.success(), "{status:?}: {lines:#?}");
    let summaries: Vec<&String> = lines.iter().filter(|l| l.starts_with("family:")).collect();
    assert!(
        summaries.len() >= 3 && summaries[summaries.len() - 1] == summaries[summaries.len() - 2],
        "tables, then the last again: {lines:#?}"
    );
    drop(parent);
}

#[test]
fn family_without_frames_is_weak() {
    if !is_root() {
        eprintln!("skipped: running the family as uid 65534 needs root");
        return;
    }
    let prog = util::Compiled::from_source("family", FAMILY_C, &["-O2", "-Wall", "-Werror"], &[]);
    let staged = Staged::new();
    let (parent, _kids, [writer, r1, _], area) = start_family(&prog, true);
    let svg = staged.writable_by_nobody("out").join("family.svg");
    let run = finish(
        as_nobody(&staged.solab)
            .args(["family", "--json", "--svg"])
            .arg(&svg)
            .arg(parent.pid().to_string())
            .stdin(Stdio::null())
            .output()
            .expect("run solab as nobody"),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.json();
    assert_eq!(r["weak"], true);
    picture_agrees(&std::fs::read_to_string(&svg).expect("the SVG"), &r);
    let w = area_of(&r, writer, area);
    assert_eq!(u(&w["parents_frame"]), 0, "no frames seen: {w:#}");
    near(
        u(&w["looks_inherited"]),
        32 * MIB,
        "writer: looks inherited",
    );
    near(u(&w["copied"]), 32 * MIB, "writer: copied");
    let m = area_of(&r, r1, area);
    near(
        u(&m["looks_inherited"]),
        64 * MIB,
        "reader: looks inherited",
    );
    drop(parent);
}
