//! The parallel scan reports what the sequential one does: `libs` and `ps` with
//! `--threads 1` and `--threads 4` over the same frozen processes, as root and as uid 65534.
//!
//! Frozen processes keep their pages, but the machine around them does not: PSS divides a
//! page among every process that maps its frame (kpagecount, or smaps' mapcount), and
//! other processes start and exit while the tests run. So PSS and USS (a frame mapped once:
//! kpagecount 1, or smaps' mapcount) are compared exactly only where the frames are the
//! frozen processes' alone: the test's own copies of libsolib.so and its host program, and
//! their anonymous memory. Everything else is compared exactly everywhere.

use crate::util::{
    self, Frozen, Namespace, OwnCopies, Proc, Run, as_nobody, finish, is_root, skip,
};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// Eight lab-hosts (the test's own copies, uid 65534) that touch and write the library in
/// different ways, and four `sleep`s.
fn start(a: &OwnCopies, ns: &Namespace) -> Vec<Proc> {
    let mut procs = Vec::new();
    for i in 0..8 {
        let mut cmd = as_nobody(&a.lab_host);
        cmd.arg("--lib").arg(&a.libsolib);
        match i % 3 {
            0 => cmd.args(["touch", "serve"]),
            1 => cmd.args(["touch", "add:1,2", "serve"]),
            _ => cmd.args(["serve"]),
        };
        cmd.env("SOLIB_NAMESPACE", &ns.name);
        procs.push(Proc::spawn(&format!("host{i}"), cmd, "action=serve"));
    }
    for i in 0..4 {
        // Ready once setpriv has switched to uid 65534 and run the shell.
        let mut cmd = as_nobody(Path::new("/bin/sh"));
        cmd.args(["-c", "echo ready; exec sleep 1000"]);
        procs.push(Proc::spawn(&format!("sleep{i}"), cmd, "ready"));
    }
    procs
}

fn run(solab: &Path, nobody: bool, args: &[&str], pids: &[i32]) -> Value {
    let mut cmd = if nobody {
        as_nobody(solab)
    } else {
        Command::new(solab)
    };
    cmd.args(args).args(pids.iter().map(|p| p.to_string()));
    let r: Run = finish(cmd.output().expect("run solab"));
    assert_eq!(r.code, 0, "solab {args:?}: {}", r.stderr);
    r.json()
}

fn inode(p: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).expect("stat").ino()
}

/// A libs report without the figures other processes move (see the module comment).
fn libs_comparable(mut r: Value, own: &[u64]) -> Value {
    let estimate = r["mode"] == "estimate";
    for o in r["objects"].as_array_mut().expect("objects") {
        if o["inode"].as_u64().is_some_and(|i| own.contains(&i)) {
            continue;
        }
        o["pss_pages"] = Value::Null;
        if estimate {
            o["saved_pages"] = Value::Null;
            o["estimate"] = Value::Null;
        }
    }
    for t in ["elf_objects", "anonymous", "other_files", "all"] {
        let t = &mut r["totals"][t];
        t["pss_pages"] = Value::Null;
        if estimate {
            t["saved_pages"] = Value::Null;
        }
    }
    r
}

/// The rows of the objects `own` (inodes) without PSS, by inode.
fn own_rows(r: &Value, own: &[u64]) -> Vec<Value> {
    let mut rows: Vec<Value> = r["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .filter(|o| o["inode"].as_u64().is_some_and(|i| own.contains(&i)))
        .cloned()
        .collect();
    for o in &mut rows {
        o["pss_pages"] = Value::Null;
    }
    rows.sort_by_key(|o| o["inode"].as_u64());
    rows
}

/// A ps report without the figures other processes move: PSS and USS of ELF objects and
/// other files (shared with the machine's libc and locale users: a page of the locale
/// archive that one frozen `sleep` alone touched is its own until another test's process
/// touches it too) and of shared memory.
fn ps_comparable(mut r: Value) -> Value {
    let clear = |v: &mut Value| {
        v["pss"] = Value::Null;
        v["uss"] = Value::Null;
        for c in ["elf", "files", "shared"] {
            v["classes"][c]["pss"] = Value::Null;
            v["classes"][c]["uss"] = Value::Null;
        }
    };
    for p in r["processes"].as_array_mut().expect("processes") {
        clear(p);
    }
    clear(&mut r["totals"]);
    r
}

fn compare(nobody: bool) {
    let a = OwnCopies::new();
    let ns = Namespace::new(if nobody { "parnobody" } else { "parroot" });
    let procs = start(&a, &ns);
    let pids: Vec<i32> = procs.iter().map(Proc::pid).collect();
    let _frozen = Frozen::new(pids.clone());
    let own = [inode(&a.libsolib), inode(&a.lab_host)];
    let libs = |threads: &str| {
        let r = run(
            &a.solab,
            nobody,
            &["libs", "--json", "-s", "object", "--threads", threads],
            &pids,
        );
        assert_eq!(r["processes"]["scanned"], pids.len(), "{r:#}");
        r
    };
    let (one, four) = (libs("1"), libs("4"));
    assert_eq!(one["privileged"], !nobody, "{one:#}");
    let lib = one["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .find(|o| o["inode"].as_u64() == Some(own[0]))
        .unwrap_or_else(|| panic!("no libsolib row in {one:#}"));
    assert_eq!(lib["procs"], 8, "{lib:#}");
    if !nobody {
        // With every process scanned, PSS comes from the frames seen and only distinct
        // frames are kept, a frame another process mapped at the same page of an object
        // not kept again: the copies' rows (theirs alone, the processes frozen)
        // are the ones the scan of the pids gives, which keeps every frame. PSS apart:
        // kpagecount there, the frames seen here.
        let all = run(&a.solab, false, &["libs", "--all", "--json"], &[]);
        let (given, every) = (own_rows(&one, &own), own_rows(&all, &own));
        assert_eq!(given.len(), 2, "{one:#}");
        assert_eq!(given, every, "libs PID... and libs --all differ");
    }
    assert_eq!(
        libs_comparable(one, &own),
        libs_comparable(four, &own),
        "libs --threads 1 and --threads 4 differ"
    );

    let ps = |threads: &str| {
        run(
            &a.solab,
            nobody,
            &["ps", "--json", "-s", "pid", "--threads", threads],
            &pids,
        )
    };
    let (one, four) = (ps("1"), ps("4"));
    assert_eq!(one["counts"]["scanned"], pids.len(), "{one:#}");
    assert_eq!(
        ps_comparable(one),
        ps_comparable(four),
        "ps --threads 1 and --threads 4 differ"
    );
}

#[test]
fn libs_and_ps_report_the_same_on_one_thread_and_on_four() {
    if !is_root() {
        return skip("frames need CAP_SYS_ADMIN, and uid 65534 needs root to switch to");
    }
    compare(false);
    compare(true);
}

/// `libs --all` keeps of each page of an object only a frame no process before it mapped
/// there, `libs PID...` that frame with how often it was mapped: two fork families of
/// lab-hosts of the test's own copies, each parent writing .data before forking, so that
/// each family maps its own copy of those pages twice (one frame per family, not
/// exclusive). The copies' rows are those of the scan of the pids, which keeps every frame.
#[test]
fn libs_all_keeps_the_frame_of_each_fork_family() {
    if !is_root() {
        return skip("frames need CAP_SYS_ADMIN");
    }
    let a = OwnCopies::new();
    let ns = Namespace::new("parfork");
    let mut procs = Vec::new();
    let mut pids = Vec::new();
    for i in 0..2 {
        let mut cmd = Command::new(&a.lab_host);
        cmd.arg("--lib")
            .arg(&a.libsolib)
            .args(["touch", "add:1,2", "fork", "serve"])
            .env("SOLIB_NAMESPACE", &ns.name);
        let p = Proc::spawn(&format!("family{i}"), cmd, "action=serve");
        let forked = p.seen.iter().find(|l| l.contains("action=fork"));
        let child = util::field_u64(forked.expect("the fork line"), "child");
        pids.extend([p.pid(), child as i32]);
        procs.push(p);
    }
    let _frozen = Frozen::new(pids.clone());
    let own = [inode(&a.libsolib), inode(&a.lab_host)];
    let given = run(&a.solab, false, &["libs", "--json"], &pids);
    let all = run(&a.solab, false, &["libs", "--all", "--json"], &[]);
    // Every mapping of the copies' frames is in the scan: each frame's kpagecount
    // is the number of times it was seen, and PSS counts it 1 in all (one frame kept per
    // page with how often it was mapped, not once per mapping).
    for o in given["objects"].as_array().expect("objects") {
        if o["inode"].as_u64().is_some_and(|i| own.contains(&i)) {
            assert_eq!(o["pss_pages"].as_f64(), o["frames"].as_f64(), "{o:#}");
        }
    }
    let rows = own_rows(&given, &own);
    assert_eq!(rows.len(), 2, "{given:#}");
    let lib = rows
        .iter()
        .find(|o| o["inode"] == own[0])
        .expect("libsolib row");
    assert_eq!(lib["procs"], 4, "{lib:#}");
    // The written .data pages: a copy per family, each mapped by parent and child.
    let data = &lib["segments"]["data"];
    let (resident, frames) = (data["resident_pages"].as_u64(), data["frames"].as_u64());
    assert!(
        frames.is_some_and(|f| f >= 2) && resident.is_some_and(|r| r >= 4),
        "{lib:#}"
    );
    assert_eq!(
        rows,
        own_rows(&all, &own),
        "libs PID... and libs --all differ"
    );
}
