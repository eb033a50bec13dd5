//! Proofs another user cannot forge: uid 65534 loads libsolib.so and lays something else
//! over its pages, or writes a second copy of them; root's `solab prove` must fail the
//! claim that concerns those pages, with the reason. And a proof among processes that
//! cannot be read says so, naming them.

use crate::util::{self, Compiled, Namespace, Proc, Scratch, artifacts, as_nobody};
use std::process::Command;

/// Loads the library `argv[1]`, finds its first text page and first data page (by its
/// inode in /proc/self/maps), then, with `window FILE`, maps two pages of FILE
/// MAP_SHARED over them and writes its own bytes there; with `again`, maps the library's
/// file a second time (private) and writes into that copy's first text page. Prints
/// `ready` and sleeps.
const FORGER: &str = r#"
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (argc < 3) return 2;
    if (!dlopen(argv[1], RTLD_NOW)) { fprintf(stderr, "dlopen: %s\n", dlerror()); return 1; }
    struct stat st;
    if (stat(argv[1], &st)) { perror("stat"); return 1; }
    FILE *m = fopen("/proc/self/maps", "r");
    if (!m) { perror("maps"); return 1; }
    char line[4096];
    unsigned long text = 0, data = 0, text_off = 0;
    while (fgets(line, sizeof line, m)) {
        unsigned long s, e, off, ino;
        unsigned maj, min;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu", &s, &e, perms, &off, &maj, &min, &ino) != 7)
            continue;
        if (ino != st.st_ino) continue;
        if (!text && perms[2] == 'x') { text = s; text_off = off; }
        if (!data && perms[1] == 'w' && perms[3] == 'p') data = s;
    }
    fclose(m);
    if (!text || !data) { fprintf(stderr, "no text or data page\n"); return 1; }
    if (!strcmp(argv[2], "window") && argc > 3) {
        int fd = open(argv[3], O_RDWR);
        if (fd < 0) { perror(argv[3]); return 1; }
        char *t = mmap((void *)text, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
        char *d = mmap((void *)data, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 4096);
        if (t == MAP_FAILED || d == MAP_FAILED) { perror("mmap"); return 1; }
        memset(t, getpid() & 0xff, 64);
        memset(d, getpid() & 0xff, 64);
    } else if (!strcmp(argv[2], "again")) {
        int fd = open(argv[1], O_RDONLY);
        if (fd < 0) { perror(argv[1]); return 1; }
        char *c = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
        if (c == MAP_FAILED) { perror("mmap"); return 1; }
        c[text_off] ^= 0xff;
        printf("copy=%#lx\n", (unsigned long)(c + text_off));
    } else {
        return 2;
    }
    printf("ready text=%#lx data=%#lx\n", text, data);
    fflush(stdout);
    for (;;) pause();
}
"#;

/// Two forgers as uid 65534 doing `how`, and root's `prove --json -o libsolib.so` over
/// them.
fn forged(test: &str, how: &[&str]) -> (util::Run, serde_json::Value) {
    let forger = Compiled::from_source("forger", FORGER, &["-O2"], &["-ldl"]);
    let ns = Namespace::new(test);
    let start = |name: &str| {
        let mut cmd = as_nobody(&forger.path);
        cmd.arg(&artifacts().libsolib).args(how);
        ns.env(&mut cmd);
        Proc::spawn(name, cmd, "ready")
    };
    let (a, b) = (start("A"), start("B"));
    let run = util::solab(&[
        "prove",
        "--json",
        "-o",
        "libsolib.so",
        &a.pid().to_string(),
        &b.pid().to_string(),
    ]);
    let json = run.json();
    // The forgers stay up until solab has read them.
    drop((a, b));
    (run, json)
}

/// The failures of claim `i` whose reason says `words`.
fn failures_saying(proof: &serde_json::Value, i: usize, words: &str) -> usize {
    proof["claims"][i]["failures"]
        .as_array()
        .expect("failures")
        .iter()
        .filter(|f| f["reason"].as_str().is_some_and(|r| r.contains(words)))
        .count()
}

/// Two unrelated processes lay one file MAP_SHARED over the library's first text page and
/// its first data page and write there: one frame in both, but not the library's. The
/// text claim and the data claim each fail on that page, naming the window.
#[test]
fn a_shared_window_over_text_or_data_fails_the_claim() {
    if !util::is_root() {
        return util::skip("starting processes as uid 65534 needs root");
    }
    let scratch = Scratch::new();
    let dir = scratch.writable_by_nobody("window");
    let file = dir.join("forged");
    std::fs::write(&file, vec![0u8; 8192]).expect("write the window's file");
    std::os::unix::fs::chown(&file, Some(65534), Some(65534)).expect("chown");
    let file = file.to_string_lossy().into_owned();
    let (run, proof) = forged("prove-window", &["window", &file]);
    assert_eq!(run.code, 1, "a claim fails: {}\n{}", run.stdout, run.stderr);
    assert_eq!(proof["holds"], false);
    for (i, claim) in [(0, "text"), (1, "data")] {
        assert_eq!(
            proof["claims"][i]["status"], "fails",
            "the {claim} claim: {:#}",
            proof["claims"][i]
        );
        assert!(
            failures_saying(&proof, i, &format!("a MAP_SHARED window of {file}")) > 0,
            "the {claim} claim does not name the window: {:#}",
            proof["claims"][i]["failures"]
        );
    }
}

/// Each process maps the library's file a second time and writes into that copy's first
/// text page: a private, written copy of the code in a placement of its own. The text
/// claim fails on that page for each process, naming the second placement.
#[test]
fn a_written_text_page_in_a_second_placement_fails_the_text_claim() {
    if !util::is_root() {
        return util::skip("starting processes as uid 65534 needs root");
    }
    let (run, proof) = forged("prove-again", &["again"]);
    assert_eq!(run.code, 1, "a claim fails: {}\n{}", run.stdout, run.stderr);
    assert_eq!(proof["claims"][0]["status"], "fails");
    assert_eq!(
        failures_saying(&proof, 0, "maps the object a second time"),
        2,
        "each process's written copy: {:#}",
        proof["claims"][0]["failures"]
    );
}

/// A library of its own name, so that only this test's processes map it.
const LIB: &str = "int prove_unreadable_marker(void) { return 42; }\n";

/// Loads `argv[1]`, then becomes uid 65534 and, unless `argv[2]` is `1`, non-dumpable, as a
/// server's worker that changed user does: its /proc files are root's, and uid 65534
/// cannot read its maps.
const WORKER: &str = r#"
#include <dlfcn.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (argc < 3 || !dlopen(argv[1], RTLD_NOW)) return 1;
    if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534)) { perror("setuid"); return 1; }
    prctl(PR_SET_DUMPABLE, argv[2][0] == '1' ? 1 : 0);
    printf("ready\n");
    fflush(stdout);
    for (;;) pause();
}
"#;

/// `prove -u nobody` run as uid 65534, where every process that maps the object is
/// unreadable to it: the error says they could not be read and why, naming them, not
/// that nothing maps the object.
#[test]
fn prove_among_unreadable_processes_names_them() {
    if !util::is_root() {
        return util::skip("starting processes that change user needs root");
    }
    let name = format!("libprove-unreadable-{}.so", std::process::id());
    let lib = Compiled::from_source(&name, LIB, &["-O2", "-fPIC", "-shared"], &[]);
    let worker = Compiled::from_source("worker", WORKER, &["-O2"], &["-ldl"]);
    let start = |dumpable: &str| {
        let mut cmd = Command::new(&worker.path);
        cmd.arg(&lib.path).arg(dumpable);
        Proc::spawn("worker", cmd, "ready")
    };
    let (a, b) = (start("0"), start("0"));
    let run = util::finish(
        as_nobody(&artifacts().solab)
            .args(["prove", "-u", "nobody", "-o", &name])
            .output()
            .expect("run solab as uid 65534"),
    );
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("could not be read") && run.stderr.contains("permission denied"),
        "the error does not say the processes were unreadable, and why: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("that could be read"),
        "says nothing maps the object: {}",
        run.stderr
    );
    let named = [a.pid(), b.pid()]
        .iter()
        .filter(|p| run.stderr.contains(&format!("/proc/{p}/")))
        .count();
    assert!(
        named == 2 || run.stderr.contains("more"),
        "the unreadable processes are not named: {}",
        run.stderr
    );
}

/// The same with two readable processes beside the two unreadable ones: the proof is made
/// over the readable ones and says which were not compared, and why.
#[test]
fn prove_beside_unreadable_processes_says_they_were_not_compared() {
    if !util::is_root() {
        return util::skip("starting processes that change user needs root");
    }
    let name = format!("libprove-partly-{}.so", std::process::id());
    let lib = Compiled::from_source(&name, LIB, &["-O2", "-fPIC", "-shared"], &[]);
    let worker = Compiled::from_source("worker", WORKER, &["-O2"], &["-ldl"]);
    let start = |dumpable: &str| {
        let mut cmd = Command::new(&worker.path);
        cmd.arg(&lib.path).arg(dumpable);
        Proc::spawn("worker", cmd, "ready")
    };
    let (a, b) = (start("1"), start("1"));
    let (c, d) = (start("0"), start("0"));
    let prove = |json: bool| {
        let mut cmd = as_nobody(&artifacts().solab);
        cmd.args(["prove", "-u", "nobody", "-o", &name]);
        if json {
            cmd.arg("--json");
        }
        util::finish(cmd.output().expect("run solab as uid 65534"))
    };
    let run = prove(true);
    assert!(
        run.code == 0 || run.code == 3,
        "the readable two are compared: {}\n{}",
        run.stdout,
        run.stderr
    );
    let proof = run.json();
    let pids: Vec<i64> = proof["pids"]
        .as_array()
        .expect("pids")
        .iter()
        .filter_map(|p| p.as_i64())
        .collect();
    assert_eq!(pids, vec![a.pid() as i64, b.pid() as i64]);
    let unreadable: Vec<i64> = proof["unreadable"]
        .as_array()
        .unwrap_or_else(|| panic!("no unreadable list: {proof:#}"))
        .iter()
        .filter_map(|e| e["pid"].as_i64())
        .collect();
    for p in [c.pid(), d.pid()] {
        assert!(
            unreadable.contains(&(p as i64)),
            "pid {p} is not listed as unreadable: {unreadable:?}"
        );
    }
    let text = prove(false);
    assert!(
        text.stdout
            .contains("could not be read and are not compared"),
        "the text does not say which processes were not compared: {}",
        text.stdout
    );
}
