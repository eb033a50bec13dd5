//! Tests of `solab libs` against real processes: a known set of lab-hosts, processes that
//! come and go during `--all`, the unprivileged estimates, and bad pids.

use crate::util::{
    Namespace, OwnCopies, Proc, Run, artifacts, as_nobody, finish, is_root, require, skip,
    spawn_host, u,
};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

fn solab(args: &[String]) -> Run {
    finish(
        Command::new(&artifacts().solab)
            .args(args)
            .output()
            .expect("run solab"),
    )
}

fn libs_args(extra: &[&str], procs: &[&Proc]) -> Vec<String> {
    let mut v = vec!["libs".to_string()];
    v.extend(extra.iter().map(|s| s.to_string()));
    v.extend(procs.iter().map(|p| p.pid().to_string()));
    v
}

/// The row of the object with this inode.
fn row_of<'a>(report: &'a Value, file: &std::path::Path) -> &'a Value {
    use std::os::unix::fs::MetadataExt;
    let inode = std::fs::metadata(file).expect("stat").ino();
    report["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .find(|o| o["inode"].as_u64() == Some(inode))
        .unwrap_or_else(|| panic!("no row for {} in\n{report:#}", file.display()))
}

/// Pages of `kind` in the ELF plan of `file`, as `solab elf` plans them.
fn planned(file: &std::path::Path, kind: &str) -> u64 {
    let run = solab(&[
        "elf".into(),
        "--json".into(),
        file.to_string_lossy().into_owned(),
    ]);
    run.json()["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .filter(|r| r["segment"] == kind)
        .map(|r| r["pages"].as_u64().expect("run pages"))
        .sum()
}

#[test]
fn libsolib_row_counts_processes_frames_and_savings() {
    if !is_root() {
        return skip("frames need CAP_SYS_ADMIN");
    }
    let lib = &artifacts().libsolib;
    let text_pages = planned(lib, "text");
    assert!(text_pages > 0, "libsolib.so has no text pages?");
    let ns = Namespace::new("libsrow");
    let hosts: Vec<Proc> = (0..3)
        .map(|i| spawn_host(&format!("host{i}"), &ns, &["touch", "add:1,2"]))
        .collect();
    let procs: Vec<&Proc> = hosts.iter().collect();
    let run = solab(&libs_args(&["--json"], &procs));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.json();
    assert_eq!(r["schema"], "solab.libs.v2");
    assert_eq!(r["mode"], "frames");
    assert_eq!(u(&r["processes"]["scanned"]), 3);
    let row = row_of(&r, lib);
    assert_eq!(u(&row["procs"]), 3, "{row:#}");
    let text = &row["segments"]["text"];
    assert_eq!(
        (u(&text["resident_pages"]), u(&text["frames"])),
        (3 * text_pages, text_pages),
        "text: (resident summed, distinct frames) vs (3 x touched pages, touched pages)\n{row:#}"
    );
    assert_eq!(u(&text["private_pages"]), 0, "{row:#}");
    let (resident, frames) = (u(&row["resident_pages"]), u(&row["frames"]));
    assert_eq!(
        row["saved_pages"].as_f64(),
        Some((resident - frames) as f64),
        "saved == resident - frames\n{row:#}"
    );
    // Every host wrote .data (add:1,2): a private copy each; relro copies come from the
    // loader's relocations.
    assert!(u(&row["private"]["data"]) >= 3, "{row:#}");
    assert_eq!(row["textrel"], false);
    // PSS never exceeds what is resident, and the object's frames are all counted.
    let pss = row["pss_pages"].as_f64().expect("pss");
    assert!(pss > 0.0 && pss <= resident as f64, "{row:#}");
    let totals = &r["totals"];
    assert!(u(&totals["elf_objects"]["frames"]) >= frames);
    assert_eq!(
        u(&totals["all"]["resident_pages"]),
        u(&totals["elf_objects"]["resident_pages"])
            + u(&totals["anonymous"]["resident_pages"])
            + u(&totals["other_files"]["resident_pages"])
    );

    // The human table names the object and the process count.
    let human = solab(&libs_args(&["--top", "0"], &procs));
    assert_eq!(human.code, 0, "{}", human.stderr);
    assert!(
        human.stdout.contains("libsolib.so") && human.stdout.contains("3 processes scanned"),
        "{}",
        human.stdout
    );
}

#[test]
fn text_relocations_are_flagged_with_their_private_copies() {
    if !is_root() {
        return skip("frames need CAP_SYS_ADMIN");
    }
    let lib: PathBuf = artifacts().fixtures.join("libtextrel-textrel.so");
    require(&lib);
    let ns = Namespace::new("libstextrel");
    let open = format!("open:{}", lib.display());
    let hosts: Vec<Proc> = (0..2)
        .map(|i| spawn_host(&format!("textrel{i}"), &ns, &[&open]))
        .collect();
    let procs: Vec<&Proc> = hosts.iter().collect();
    let r = solab(&libs_args(&["--json"], &procs)).json();
    let row = row_of(&r, &lib);
    assert_eq!(row["textrel"], true);
    assert_eq!(u(&row["procs"]), 2);
    assert!(u(&row["private"]["text"]) >= 2, "{row:#}");
    let human = solab(&libs_args(&[], &procs));
    assert!(human.stdout.contains("TEXTREL"), "{}", human.stdout);
}

#[test]
fn processes_vanishing_during_all_never_make_it_fail() {
    let stop = Arc::new(AtomicBool::new(false));
    let churn = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let mut cmd = Command::new("sleep");
                cmd.arg("5");
                let p = Proc::spawn("churn", cmd, "");
                std::thread::sleep(Duration::from_millis(2 + n % 5));
                drop(p); // killed and reaped, maybe while solab reads it
                n += 1;
            }
            n
        })
    };
    for _ in 0..6 {
        let run = solab(&["libs".into(), "--all".into(), "--json".into()]);
        assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
        let r = run.json();
        assert!(u(&r["processes"]["scanned"]) > 0);
        // Counted, not named: the named are the processes solab may not read.
        let errors = r["errors"].as_array().expect("errors");
        assert!(
            errors.iter().all(|e| e["kind"] == "permission-denied"),
            "{errors:#?}"
        );
    }
    stop.store(true, Ordering::Relaxed);
    let spawned = churn.join().expect("churn thread");
    assert!(spawned > 0, "no process was spawned during the scans");
}

#[test]
fn unprivileged_scan_gives_labelled_estimates() {
    if !is_root() {
        return skip("starting processes as uid 65534 needs root");
    }
    let a = artifacts();
    let ns = Namespace::new("libsnobody");
    let mut cmd = as_nobody(&a.lab_host);
    cmd.arg("--lib")
        .arg(&a.libsolib)
        .args(["touch", "serve"])
        .env("SOLIB_NAMESPACE", &ns.name);
    let host = Proc::spawn("nobody host", cmd, "action=serve");
    let run = finish(
        as_nobody(&a.solab)
            .args(["libs", "--json", &host.pid().to_string()])
            .output()
            .expect("run solab as nobody"),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.json();
    assert_eq!(r["privileged"], false);
    assert_eq!(r["mode"], "estimate");
    assert!(
        r["privilege_note"]
            .as_str()
            .is_some_and(|n| n.contains("CAP_SYS_ADMIN")),
        "{r:#}"
    );
    let row = row_of(&r, &crate::util::stage().copy_of(&a.libsolib));
    assert_eq!(u(&row["procs"]), 1);
    assert!(row["frames"].is_null(), "{row:#}");
    let est = &row["estimate"];
    assert!(
        est["rss_pages"].as_f64().is_some_and(|x| x > 0.0),
        "{row:#}"
    );
    assert!(u(&row["resident_pages"]) > 0);

    let human = finish(
        as_nobody(&a.solab)
            .args(["libs", &host.pid().to_string()])
            .output()
            .expect("run solab as nobody"),
    );
    assert!(
        human.stdout.contains("ESTIMATES") && human.stdout.contains("SAVED~"),
        "{}",
        human.stdout
    );
    // --all as nobody: other users' processes are counted as unreadable, not an error.
    let all = finish(
        as_nobody(&a.solab)
            .args(["libs", "--all", "--json"])
            .output()
            .expect("run solab as nobody"),
    );
    assert_eq!(all.code, 0, "{}", all.stderr);
    assert!(u(&all.json()["processes"]["unreadable"]) > 0);
}

#[test]
fn bad_pids_are_named() {
    let missing = i32::MAX.to_string();
    let run = solab(&["libs".into(), missing.clone()]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(
        run.stderr.contains(&format!("pid {missing}")) && run.stderr.contains("no such process"),
        "{}",
        run.stderr
    );
    // One good pid and one bad: the good one is reported, the bad one named, exit 2.
    let ns = Namespace::new("libsbad");
    let host = spawn_host("host", &ns, &[]);
    let run = solab(&[
        "libs".into(),
        "--json".into(),
        host.pid().to_string(),
        missing.clone(),
    ]);
    assert_eq!(run.code, 2);
    assert_eq!(u(&run.json()["processes"]["scanned"]), 1);
    assert!(run.stderr.contains(&missing), "{}", run.stderr);
    // Neither pids nor --all; not a number.
    assert_eq!(solab(&["libs".into()]).code, 2);
    let junk = solab(&["libs".into(), "12abc".into()]);
    assert_eq!(junk.code, 2);
    assert!(junk.stderr.contains("12abc"), "{}", junk.stderr);
}

/// A process that reserves 16 TiB of address space and touches 100 pages of it, as
/// sanitizers and some runtimes do. Reading its pagemap entry by entry would mean 32 GiB of
/// entries; solab must ask the kernel where the populated pages are instead.
#[test]
fn a_huge_sparse_reservation_costs_only_its_populated_pages() {
    let script = r#"
import mmap, sys
m = mmap.mmap(-1, 1 << 44, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | 0x4000)  # MAP_NORESERVE
for i in range(100):
    m[i * (1 << 32)] = 1
print("ready", flush=True)
sys.stdin.readline()
"#;
    let mut cmd = Command::new("python3");
    cmd.args(["-c", script]);
    let p = Proc::spawn("16 TiB reservation", cmd, "ready");
    let run = solab(&libs_args(&["--json"], &[&p]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    let anon = u(&report["totals"]["anonymous"]["resident_pages"]);
    assert!(
        anon >= 100,
        "the 100 touched pages were not counted: {anon}"
    );
    assert!(
        anon < 100_000,
        "implausible anonymous resident pages: {anon}"
    );
}

/// `libs --by cgroup`: two cgroups made by the test, a lab-host of root in one and one of
/// uid 65534 in the other, mapping a copy of libsolib (another file, the same build-id).
/// libc is one file: its frames are one set in both groups (WITH-OTHERS); the copy is the
/// same library (SAME-LIBS) in frames of its own. The groups' frames add up to the frames
/// of a scan of both processes, less those they share.
#[test]
fn groups_share_the_same_file_but_not_a_copy() {
    if !is_root() {
        return skip("making cgroups and running as uid 65534 need root");
    }
    let Some(cg) = crate::util::Cgroups::new("libs", &["a", "b"]) else {
        return skip("no writable cgroup v2 mount");
    };
    let ns = Namespace::new("libsby");
    let own = OwnCopies::new();
    let mine = Proc::spawn(
        "root host",
        cg.run_in(0, &crate::util::lab_host(&ns, &["touch", "serve"])),
        "action=serve",
    );
    let mut theirs = as_nobody(&own.lab_host);
    theirs
        .arg("--lib")
        .arg(&own.libsolib)
        .args(["touch", "serve"]);
    ns.env(&mut theirs);
    let theirs = Proc::spawn("nobody host", cg.run_in(1, &theirs), "action=serve");
    let pids = format!("{},{}", mine.pid(), theirs.pid());
    let run = solab(&["libs", "--json", "--by", "cgroup", "-p", &pids].map(String::from));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.json();
    assert_eq!(r["schema"], "solab.libs-groups.v1");
    assert_eq!(r["weak"], false);
    let groups = r["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), 2, "{r:#}");
    let group = |i: usize, pid: i32| -> &Value {
        let g = groups
            .iter()
            .find(|g| g["key"] == cg.path(i).as_str())
            .unwrap_or_else(|| panic!("no group {}: {r:#}", cg.path(i)));
        assert_eq!(g["pids"], serde_json::json!([pid]), "{g:#}");
        g
    };
    let (a, b) = (group(0, mine.pid()), group(1, theirs.pid()));
    // libc, libsolib (a copy) and the lab-host (a copy): the same libraries.
    for g in [a, b] {
        assert!(u(&g["same_libs"]) >= 3, "{g:#}");
        assert!(u(&g["with_others"]) > 0, "libc is one file: {g:#}");
        assert!(u(&g["with_others"]) < u(&g["frames"]), "{g:#}");
    }
    // Two groups: what one shares with the other, the other shares with it.
    assert_eq!(a["with_others"], b["with_others"], "{r:#}");
    // The groups' frames, less the shared ones counted twice, are the frames of both.
    let both = solab(&["libs", "--json", "-p", &pids].map(String::from)).json();
    let union = u(&both["totals"]["elf_objects"]["frames"]);
    let sum = u(&a["frames"]) + u(&b["frames"]) - u(&a["with_others"]);
    assert!(
        union.abs_diff(sum) <= 16,
        "groups {sum} pages, both {union}: {r:#}"
    );
    // The libsolib copy is a library of its own in frames of its own: with the same file
    // in both groups, they would share more.
    let text = solab(&["libs", "--by", "cgroup", "-p", &pids].map(String::from));
    assert!(
        text.stdout.contains("WITH-OTHERS") && text.stdout.contains(&cg.path(1)),
        "{}",
        text.stdout
    );
    // Without frame numbers: weak, no frames claimed, SAME-LIBS still known.
    let weak = finish(
        as_nobody(&own.solab)
            .args(["libs", "--json", "--by", "comm", "-p"])
            .arg(theirs.pid().to_string())
            .output()
            .expect("run solab as nobody"),
    );
    assert_eq!(weak.code, 0, "{}", weak.stderr);
    let w = weak.json();
    assert_eq!(w["weak"], true);
    assert_eq!(w["groups"][0]["frames"], Value::Null, "{w:#}");
    assert_eq!(w["groups"][0]["with_others"], Value::Null, "{w:#}");
    drop(mine);
    drop(theirs);
}
