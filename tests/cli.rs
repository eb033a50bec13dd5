//! The command line's contract with real processes: exit codes for bad input (2), weak
//! evidence under `--strict` (3), one JSON document on stdout for every `--json` error, the
//! `one-process` verdict, FIFOs, closed pipes, and fork families in `prove`.

use crate::util;
use crate::util::{
    Namespace, Proc, Run, artifacts, as_nobody, field, finish, is_root, skip, solab, spawn_host,
};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn solab_as_nobody(args: &[&str]) -> Run {
    finish(
        as_nobody(&artifacts().solab)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run solab as nobody"),
    )
}

/// Exactly one JSON document on stdout (serde_json's stream reader sees one value, then the
/// end), with a non-empty `errors` array.
fn one_json_document_with_errors(run: &Run, what: &str) -> Value {
    let mut docs = serde_json::Deserializer::from_str(&run.stdout).into_iter::<Value>();
    let first = docs
        .next()
        .unwrap_or_else(|| panic!("{what}: nothing on stdout; stderr:\n{}", run.stderr))
        .unwrap_or_else(|e| panic!("{what}: not JSON ({e}):\n{}", run.stdout));
    assert!(
        docs.next().is_none(),
        "{what}: more than one JSON document on stdout:\n{}",
        run.stdout
    );
    let errors = first["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: no errors array in {first:#}"));
    assert!(!errors.is_empty(), "{what}: empty errors in {first:#}");
    for e in errors {
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{e}");
    }
    first
}

fn no_panic(run: &Run, what: &str) {
    assert!(
        !run.stderr.contains("panicked") && !run.stdout.contains("panicked"),
        "{what} panicked:\n{}",
        run.stderr
    );
}

fn host_pid(h: &Proc) -> String {
    h.pid().to_string()
}

#[test]
fn prove_with_the_same_pid_twice_or_one_pid_is_a_usage_error() {
    let ns = Namespace::new("cli-pids");
    let h = spawn_host("h", &ns, &["touch"]);
    let p = host_pid(&h);
    let run = solab(&["prove", "-o", "libsolib.so", &p, &p]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("two or more distinct pids"),
        "the rule is not named: {}",
        run.stderr
    );
    no_panic(&run, "prove PID PID");
    let run = solab(&["prove", "-o", "libsolib.so", &p]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("two or more distinct pids"),
        "{}",
        run.stderr
    );
    no_panic(&run, "prove PID");
}

#[test]
fn object_patterns_that_match_nothing_or_are_empty_exit_2() {
    let ns = Namespace::new("cli-pattern");
    let h = spawn_host("h", &ns, &["touch"]);
    let p = host_pid(&h);
    let run = solab(&["inspect", "-o", "nosuch", &p]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("nosuch"),
        "pattern not named: {}",
        run.stderr
    );
    no_panic(&run, "inspect -o nosuch");

    for args in [
        vec!["inspect", "-o", "", p.as_str()],
        vec!["prove", "-o", "", p.as_str(), "1"],
        vec!["libs", "-o", "", p.as_str()],
    ] {
        let run = solab(&args);
        assert_eq!(run.code, 2, "{args:?}: {}{}", run.stdout, run.stderr);
        assert!(
            run.stderr.contains("empty"),
            "{args:?}: the empty pattern is not named: {}",
            run.stderr
        );
        no_panic(&run, "-o ''");
    }
}

#[test]
fn strict_prove_without_frames_exits_3_and_says_look_shared() {
    if !is_root() {
        return skip("starting processes as uid 65534 needs root");
    }
    let ns = Namespace::new("cli-strict");
    let host = |name: &str| {
        let mut cmd = as_nobody(&artifacts().lab_host);
        cmd.arg("--lib")
            .arg(&artifacts().libsolib)
            .args(["touch", "add:1,2", "serve"])
            .env("SOLIB_NAMESPACE", &ns.name);
        Proc::spawn(name, cmd, "action=serve")
    };
    let a = host("A");
    let b = host("B");
    let (pa, pb) = (host_pid(&a), host_pid(&b));

    let run = solab_as_nobody(&["prove", "--strict", "-o", "libsolib.so", &pa, &pb]);
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("look shared"),
        "weak evidence not said as 'look shared':\n{}",
        run.stdout
    );
    // The summaries (the indented lines under each claim, not its statement or examples)
    // never say frames are one.
    for line in run
        .stdout
        .lines()
        .filter(|l| l.starts_with("    ") && !l.contains("e.g."))
    {
        assert!(
            !line.contains("one frame"),
            "weak evidence said as frames: {line}\n{}",
            run.stdout
        );
    }
    assert!(run.stderr.contains("--strict"), "{}", run.stderr);
    no_panic(&run, "prove --strict");

    // Without --strict the same weak proof holds: exit 0.
    let run = solab_as_nobody(&["prove", "-o", "libsolib.so", &pa, &pb]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);

    // The JSON agrees: not conclusive, every claim weak, no summary speaks of frames.
    let run = solab_as_nobody(&["prove", "--strict", "--json", "-o", "libsolib.so", &pa, &pb]);
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    let proof = run.json();
    assert_eq!(proof["conclusive"], false, "{proof:#}");
    assert_eq!(proof["privileged"], false);
    for c in proof["claims"].as_array().expect("claims") {
        assert_eq!(c["weak"], true, "{c:#}");
        let summary = c["summary"].as_str().expect("summary");
        assert!(!summary.contains("one frame"), "weak summary: {summary}");
    }
    let shared = proof["claims"]
        .as_array()
        .expect("claims")
        .iter()
        .find(|c| c["id"] == "text-shared")
        .expect("text claim");
    assert!(
        shared["summary"]
            .as_str()
            .is_some_and(|s| s.contains("look shared")),
        "{shared:#}"
    );
}

/// A FIFO in a fresh temporary directory, removed on Drop.
struct Fifo {
    dir: PathBuf,
    path: PathBuf,
}

impl Fifo {
    fn new() -> Fifo {
        let dir = std::env::temp_dir().join(format!("solab-cli-fifo-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("pipe.so");
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o644))
            .expect("mkfifo");
        Fifo { dir, path }
    }
}

impl Drop for Fifo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn elf_on_a_fifo_errors_at_once() {
    let fifo = Fifo::new();
    let mut child = Command::new(&artifacts().solab)
        .arg("elf")
        .arg(&fifo.path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run solab elf FIFO");
    let deadline = Instant::now() + Duration::from_secs(5);
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("solab elf on a FIFO blocked (no writer) for 5 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let run = finish(child.wait_with_output().expect("output"));
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("a FIFO"), "{}", run.stderr);
    no_panic(&run, "elf FIFO");
}

#[test]
fn every_json_error_is_one_document_with_the_same_exit_code() {
    let fifo = Fifo::new();
    let fifo_path = fifo.path.to_string_lossy().into_owned();
    let ns = Namespace::new("cli-json");
    let h = spawn_host("h", &ns, &["touch"]);
    let p = host_pid(&h);
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("elf /nonexistent", vec!["elf", "/nonexistent"]),
        ("elf FIFO", vec!["elf", &fifo_path]),
        ("inspect bad pid", vec!["inspect", "2147483647"]),
        ("prove one pid", vec!["prove", "-o", "libsolib.so", &p]),
        ("libs bad pid", vec!["libs", "2147483647"]),
        ("inspect -o nosuch", vec!["inspect", "-o", "nosuch", &p]),
    ];
    for (what, args) in cases {
        let plain = solab(&args);
        assert_ne!(plain.code, 0, "{what}: no error: {}", plain.stdout);
        no_panic(&plain, what);
        let mut with_json = args.clone();
        with_json.insert(1, "--json");
        let json = solab(&with_json);
        no_panic(&json, what);
        assert_eq!(
            json.code, plain.code,
            "{what}: exit code with --json differs\nstdout:\n{}\nstderr:\n{}",
            json.stdout, json.stderr
        );
        let doc = one_json_document_with_errors(&json, what);
        if doc["schema"] == "solab.error.v1" {
            assert_eq!(doc["exit_code"], plain.code, "{what}: {doc:#}");
            for e in doc["errors"].as_array().expect("errors") {
                assert!(e["kind"].is_string(), "{what}: error without kind: {e}");
            }
        }
    }
}

#[test]
fn one_process_pages_are_one_process_not_not_present() {
    let ns = Namespace::new("cli-oneproc");
    let h = spawn_host("h", &ns, &["touch", "add:1,2"]);
    let run = solab(&["inspect", "--json", "-o", "libsolib.so", &host_pid(&h)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    let obj = &report["objects"][0];
    assert!(
        obj["path"]
            .as_str()
            .is_some_and(|p| p.ends_with("libsolib.so"))
    );
    let mut present = 0;
    for page in obj["pages"].as_array().expect("pages") {
        let v = page["verdict"].as_str().expect("verdict");
        assert_ne!(v, "untouched", "the old word: {page}");
        let is_present = page["procs"][0]["present"] == true;
        if is_present {
            present += 1;
            assert_eq!(v, "one-process", "a present page of one process: {page}");
        } else {
            assert_eq!(v, "not-present", "{page}");
        }
    }
    assert!(present > 10, "touch made only {present} pages present");
    // The text output uses the same word.
    let text = solab(&["inspect", "-o", "libsolib.so", &host_pid(&h)]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(!text.stdout.contains("untouched"), "{}", text.stdout);
}

#[test]
fn a_closed_pipe_after_an_error_exits_2_without_a_panic() {
    let cmd = format!(
        "{} prove -o xx 999999 999998 2>&1 | head -c0; echo \"rc=${{PIPESTATUS[0]}}\"",
        artifacts().solab.display()
    );
    let out = Command::new("bash")
        .args(["-c", &cmd])
        .output()
        .expect("bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("rc=2"), "{stdout}");
    // And with stderr kept, nothing panicked.
    let cmd = format!(
        "{} prove -o xx 999999 999998 | head -c0; echo \"rc=${{PIPESTATUS[0]}}\"",
        artifacts().solab.display()
    );
    let out = Command::new("bash")
        .args(["-c", &cmd])
        .output()
        .expect("bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("rc=2"), "{stdout}{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let cmd = format!(
        "{} prove --json -o xx 999999 999998 | head -c0; echo \"rc=${{PIPESTATUS[0]}}\"",
        artifacts().solab.display()
    );
    let out = Command::new("bash")
        .args(["-c", &cmd])
        .output()
        .expect("bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("rc=2"), "{stdout}{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

// ---- fork families -----------------------------------------------------------------------------

const FORKER_C: &str = r#"
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

typedef int64_t (*add_fn)(int64_t, int64_t);

static volatile char sink;

/* Reads one byte of every page of the object holding `add`, so every page has a frame. */
static int touch_one(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    Dl_info *want = data;
    if ((void *)info->dlpi_addr != want->dli_fbase) return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD) continue;
        uintptr_t start = (info->dlpi_addr + ph->p_vaddr) & ~(uintptr_t)4095;
        uintptr_t end = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
        for (uintptr_t a = start; a < end; a += 4096) sink = *(volatile char *)a;
    }
    return 1;
}

static void touch(add_fn add) {
    Dl_info di;
    if (!dladdr((void *)add, &di)) { fprintf(stderr, "dladdr failed\n"); exit(1); }
    dl_iterate_phdr(touch_one, &di);
}

static pid_t child(int fd, add_fn add, int writes) {
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); exit(1); }
    if (pid > 0) return pid;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1) _exit(1);
    touch(add);
    if (writes) add(5, 6);
    if (write(fd, "x", 1) != 1) _exit(1);
    for (;;) pause();
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: forker LIBSOLIB\n"); return 2; }
    void *h = dlopen(argv[1], RTLD_NOW);
    if (!h) { fprintf(stderr, "dlopen: %s\n", dlerror()); return 1; }
    add_fn add = (add_fn)dlsym(h, "solib_add");
    if (!add) { fprintf(stderr, "dlsym: %s\n", dlerror()); return 1; }
    add(1, 2);
    touch(add);
    int fds[2];
    if (pipe(fds) != 0) { perror("pipe"); return 1; }
    pid_t c1 = child(fds[1], add, 0);
    pid_t c2 = child(fds[1], add, 1);
    char buf[2];
    size_t got = 0;
    while (got < 2) {
        ssize_t n = read(fds[0], buf + got, 2 - got);
        if (n <= 0) { perror("read"); return 1; }
        got += (size_t)n;
    }
    printf("forker parent=%d reader=%d writer=%d ready\n", (int)getpid(), (int)c1, (int)c2);
    fflush(stdout);
    for (;;) pause();
}
"#;

fn page_in(page: &Value, pid: i32) -> &Value {
    page["procs"]
        .as_array()
        .expect("procs")
        .iter()
        .find(|q| q["pid"] == pid)
        .unwrap_or_else(|| panic!("pid {pid} not in {page}"))
}

#[test]
fn a_fork_family_shares_inherited_data_until_a_child_writes() {
    if !is_root() {
        return skip("frames need CAP_SYS_ADMIN");
    }
    let forker =
        util::Compiled::from_source("forker", FORKER_C, &["-O2", "-Wall", "-Werror"], &["-ldl"]);
    let ns = Namespace::new("cli-fork");
    let mut cmd = Command::new(&forker.path);
    cmd.arg(&artifacts().libsolib)
        .env("SOLIB_NAMESPACE", &ns.name);
    let mut parent = Proc::spawn("forker", cmd, "");
    let line = parent.expect("ready");
    let num = |k: &str| -> i32 {
        field(&line, k)
            .unwrap_or_else(|| panic!("no {k}= in {line:?}"))
            .parse()
            .expect("pid")
    };
    let (pp, reader, writer) = (num("parent"), num("reader"), num("writer"));
    assert_eq!(pp, parent.pid());
    let _children = util::KillOnDrop(vec![reader, writer]);
    let pids: Vec<String> = [pp, reader, writer].iter().map(i32::to_string).collect();
    let mut args = vec!["prove", "--json", "-o", "libsolib.so"];
    args.extend(pids.iter().map(String::as_str));
    let run = solab(&args);
    let proof = run.json();
    assert_eq!(run.code, 0, "{proof:#}\n{}", run.stderr);
    assert_eq!(proof["holds"], true, "{proof:#}");
    assert_eq!(proof["conclusive"], true);
    let families = proof["families"].as_array().expect("families");
    assert_eq!(families.len(), 1, "one fork family: {families:#?}");
    let mut fam: Vec<i64> = families[0]["pids"]
        .as_array()
        .expect("family pids")
        .iter()
        .filter_map(Value::as_i64)
        .collect();
    fam.sort();
    let mut want = vec![pp as i64, reader as i64, writer as i64];
    want.sort();
    assert_eq!(fam, want, "{families:#?}");
    let data = proof["claims"]
        .as_array()
        .expect("claims")
        .iter()
        .find(|c| c["id"] == "data-private")
        .expect("data claim");
    assert_eq!(data["status"], "holds", "{data:#}");
    assert!(
        data["counts"]["inherited"].as_u64() > Some(0),
        "nothing inherited through fork: {data:#}"
    );

    // The page of the .data counter: the writer has its own copy, the parent and the
    // reader still share the frame the parent wrote before fork.
    let run = solab(&{
        let mut a = vec!["inspect", "--json", "-o", "libsolib.so"];
        a.extend(pids.iter().map(String::as_str));
        a
    });
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    let obj = &report["objects"][0];
    let data_pages: Vec<&Value> = obj["pages"]
        .as_array()
        .expect("pages")
        .iter()
        .filter(|p| p["segment"] == "data")
        .filter(|p| page_in(p, writer)["state"] == "anon-exclusive")
        .collect();
    let split = data_pages.iter().find(|p| {
        page_in(p, pp)["state"] == "anon-cow"
            && page_in(p, reader)["state"] == "anon-cow"
            && page_in(p, pp)["pfn"] == page_in(p, reader)["pfn"]
            && page_in(p, pp)["pfn"] != page_in(p, writer)["pfn"]
    });
    assert!(
        split.is_some(),
        "no data page where the writer has its own copy and the others share one: {:#}",
        serde_json::json!(data_pages)
    );
    drop(parent);
}

// ---- the flags every command shares ------------------------------------------------------------

/// Runs solab in a pseudo-terminal (`script`), with `env` set: what a user at a terminal
/// sees. Line ends are the terminal's `\r\n`, turned back into `\n`.
fn solab_on_a_terminal(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut line = artifacts().solab.display().to_string();
    for a in args {
        line.push_str(&format!(" '{a}'"));
    }
    let mut cmd = Command::new("script");
    cmd.args(["-qefc", &line, "/dev/null"])
        .stdin(Stdio::null())
        .env_remove("NO_COLOR")
        .env_remove("COLUMNS")
        .env("TERM", "xterm");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut run = finish(cmd.output().expect("run script"));
    run.stdout = run.stdout.replace("\r\n", "\n");
    run
}

/// The row of `path` in libs' table (paths whole: not a terminal), split into columns.
fn libs_row(table: &str, path: &str) -> Vec<String> {
    table
        .lines()
        .find(|l| l.starts_with(path) && l[path.len()..].starts_with(' '))
        .unwrap_or_else(|| panic!("no row for {path} in:\n{table}"))[path.len()..]
        .split_whitespace()
        .map(String::from)
        .collect()
}

fn libsolib_row(report: &Value) -> &Value {
    report["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .find(|o| {
            o["path"]
                .as_str()
                .is_some_and(|p| p.ends_with("libsolib.so"))
        })
        .unwrap_or_else(|| panic!("no libsolib.so row: {report:#}"))
}

#[test]
fn pid_flags_select_what_positional_pids_select() {
    let ns = Namespace::new("cli-pflag");
    let a = spawn_host("a", &ns, &["touch"]);
    let b = spawn_host("b", &ns, &["touch"]);
    let (pa, pb) = (host_pid(&a), host_pid(&b));
    let comma = format!("{pa},{pb}");
    let positional = solab(&["inspect", "--json", "-o", "libsolib.so", &pa, &pb]);
    assert_eq!(positional.code, 0, "{}", positional.stderr);
    let want = positional.json();
    for args in [
        vec![
            "inspect",
            "--json",
            "-o",
            "libsolib.so",
            "-p",
            &pa,
            "-p",
            &pb,
        ],
        vec!["inspect", "--json", "-o", "libsolib.so", "--pid", &comma],
        vec![
            "inspect",
            "--json",
            "-o",
            "libsolib.so",
            &pa,
            "-p",
            &pb,
            "-p",
            &pa,
        ],
    ] {
        let run = solab(&args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        let got = run.json();
        assert_eq!(got["pids"], want["pids"], "{args:?}");
        assert_eq!(
            got["objects"][0]["path"], want["objects"][0]["path"],
            "{args:?}"
        );
        assert_eq!(
            got["objects"][0]["summary"], want["objects"][0]["summary"],
            "{args:?}"
        );
    }
    let run = solab(&["prove", "-o", "libsolib.so", "-p", &comma]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let libs_pos = solab(&["libs", "--json", "-o", "libsolib.so", &pa]).json();
    let libs_p = solab(&["libs", "--json", "-o", "libsolib.so", "-p", &pa]).json();
    assert_eq!(libs_p["processes"]["scanned"], 1);
    assert_eq!(libsolib_row(&libs_p)["procs"], 1);
    assert_eq!(
        libsolib_row(&libs_p)["resident_pages"],
        libsolib_row(&libs_pos)["resident_pages"]
    );
    // No processes at all is a usage error.
    for args in [
        vec!["inspect"],
        vec!["libs"],
        vec!["prove", "-o", "libsolib.so"],
    ] {
        let run = solab(&args);
        assert_eq!(run.code, 2, "{args:?}: {}{}", run.stdout, run.stderr);
        no_panic(&run, "no pids");
    }
    // -a with pids is refused.
    let run = solab(&["libs", "-a", "-p", &pa]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
}

#[test]
fn user_selects_only_that_users_processes() {
    if !is_root() {
        return skip("starting processes as uid 65534 needs root");
    }
    let ns = Namespace::new("cli-user");
    let mut cmd = as_nobody(&artifacts().lab_host);
    cmd.arg("--lib")
        .arg(&artifacts().libsolib)
        .args(["touch", "serve"])
        .env("SOLIB_NAMESPACE", &ns.name);
    let nobody = Proc::spawn("nobody", cmd, "action=serve");
    let mine = spawn_host("root", &ns, &["touch"]);
    let (pn, pr) = (host_pid(&nobody), host_pid(&mine));

    // -u alone: every process of the user (that maps the object, for inspect and prove).
    for user in ["65534", "nobody"] {
        let run = solab(&["inspect", "--json", "-u", user, "-o", "libsolib.so"]);
        assert_eq!(run.code, 0, "-u {user}: {}", run.stderr);
        let report = run.json();
        let procs = report["processes"].as_array().expect("processes");
        assert!(
            procs.iter().any(|p| p["pid"] == nobody.pid()),
            "-u {user}: nobody's host {pn} not selected: {procs:#?}"
        );
        // Other tests start and stop uid 65534 processes meanwhile: one that exits between
        // the selection and its reading is in `errors`, never a process without a uid.
        for p in procs {
            assert_eq!(p["uid"], 65534, "-u {user} selected {p}");
        }
    }
    // A process of the user that exited after -u selected it (here a zombie: selected by
    // its uid, gone by the time its memory map is read) is an error of kind
    // no-such-process, with its pid; the machine moved on, so the status stays 0.
    let mut py = as_nobody(Path::new("/usr/bin/python3"));
    py.args([
        "-c",
        "import os,sys\npid=os.fork()\nif pid==0: os._exit(0)\nprint(f'zombie={pid}',flush=True)\nsys.stdin.read()",
    ]);
    let mut parent = Proc::spawn("a zombie's parent", py, "");
    let line = parent.expect("zombie=");
    let zombie: i32 = util::field_u64(&line, "zombie") as i32;
    let is_zombie = || {
        std::fs::read_to_string(format!("/proc/{zombie}/stat"))
            .is_ok_and(|s| s.rsplit_once(") ").is_some_and(|(_, r)| r.starts_with('Z')))
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !is_zombie() {
        assert!(Instant::now() < deadline, "{zombie} is not a zombie");
        std::thread::sleep(Duration::from_millis(5));
    }
    let run = solab(&["inspect", "--json", "-u", "65534"]);
    let report = run.json();
    assert_eq!(run.code, 0, "{}", run.stderr);
    for p in report["processes"].as_array().expect("processes") {
        assert_eq!(p["uid"], 65534, "-u 65534 selected {p}");
        assert_ne!(
            p["pid"], zombie,
            "the zombie {zombie} reported as a process"
        );
    }
    let errors = report["errors"].as_array().expect("errors");
    assert!(
        errors
            .iter()
            .any(|e| e["pid"] == zombie && e["kind"] == "no-such-process"),
        "the zombie {zombie} is not in errors: {errors:#?}"
    );
    drop(parent);
    // -u with pids keeps the user's among them.
    let run = solab(&[
        "libs",
        "--json",
        "-u",
        "65534",
        "-o",
        "libsolib.so",
        &pn,
        &pr,
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["scope"], "pids");
    assert_eq!(
        report["processes"]["scanned"], 1,
        "{:#}",
        report["processes"]
    );
    assert_eq!(libsolib_row(&report)["procs"], 1);
    let run = solab(&["inspect", "--json", "-u", "nobody", &pn, &pr]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["pids"], serde_json::json!([nobody.pid()]));
    // libs -u, with or without -a: the user's processes only.
    for args in [
        vec!["libs", "--json", "-u", "65534", "-o", "libsolib.so"],
        vec!["libs", "--json", "-a", "-u", "nobody", "-o", "libsolib.so"],
    ] {
        let run = solab(&args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        let report = run.json();
        assert_eq!(report["scope"], "user", "{args:?}");
        assert!(libsolib_row(&report)["procs"].as_u64() >= Some(1));
        let all = solab(&["libs", "--json", "-a", "-n", "1"]).json();
        assert!(
            report["processes"]["scanned"].as_u64() < all["processes"]["scanned"].as_u64(),
            "{args:?} scanned as many processes as -a"
        );
    }
    // None of the pids is the user's, and an unknown user: exit 2, named.
    let run = solab(&["libs", "-u", "65534", &pr]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("uid 65534"), "{}", run.stderr);
    let run = solab(&["inspect", "-u", "no-such-user-solab", &pr]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("no such user"), "{}", run.stderr);
    drop(mine);
    drop(nobody);
}

#[test]
fn bytes_are_pages_times_the_page_size() {
    let ns = Namespace::new("cli-bytes");
    let h = spawn_host("h", &ns, &["touch", "add:1,2"]);
    let p = host_pid(&h);
    let json = solab(&["libs", "--json", "-o", "libsolib.so", &p]);
    assert_eq!(json.code, 0, "{}", json.stderr);
    let report = json.json();
    let page = report["page_size"].as_u64().expect("page_size");
    let row = libsolib_row(&report);
    let path = row["path"].as_str().expect("path");
    let text = solab(&["libs", "-b", "-o", "libsolib.so", &p]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    // PROCS RESIDENT FRAMES SAVED PSS PRIVATE
    let cols = libs_row(&text.stdout, path);
    let resident = row["resident_pages"].as_u64().expect("resident");
    assert!(resident > 0);
    assert_eq!(cols[1], (resident * page).to_string(), "RESIDENT: {cols:?}");
    if report["privileged"] == true {
        let frames = row["frames"].as_u64().expect("frames");
        assert_eq!(cols[2], (frames * page).to_string(), "FRAMES: {cols:?}");
        assert_eq!(
            cols[3],
            ((resident - frames) * page).to_string(),
            "SAVED: {cols:?}"
        );
    }
    for c in &cols[1..5] {
        assert!(c == "?" || c.parse::<u64>().is_ok(), "not bytes: {cols:?}");
    }
    // Without -b the same row is human.
    let human = solab(&["libs", "-o", "libsolib.so", &p]);
    let cols = libs_row(&human.stdout, path).join(" ");
    assert!(cols.contains(" KiB") || cols.contains(" MiB"), "{cols}");
}

#[test]
fn paths_are_whole_unless_a_terminal_is_narrow_and_wide_keeps_them() {
    let ns = Namespace::new("cli-wide");
    let h = spawn_host("h", &ns, &["touch"]);
    let p = host_pid(&h);
    let report = solab(&["libs", "--json", "-o", "libsolib.so", &p]).json();
    let path = libsolib_row(&report)["path"]
        .as_str()
        .expect("path")
        .to_string();
    assert!(path.chars().count() > 20, "{path}");
    // Piped: whole, as scripts expect.
    let piped = solab(&["libs", "-o", "libsolib.so", &p]);
    assert_eq!(piped.code, 0, "{}", piped.stderr);
    libs_row(&piped.stdout, &path);
    // A narrow terminal: shortened from the left, the file name kept.
    let narrow = solab_on_a_terminal(&["libs", "-o", "libsolib.so", &p], &[("COLUMNS", "60")]);
    assert_eq!(narrow.code, 0, "{}{}", narrow.stdout, narrow.stderr);
    let row = narrow
        .stdout
        .lines()
        .find(|l| l.starts_with('…'))
        .unwrap_or_else(|| panic!("nothing shortened:\n{}", narrow.stdout));
    assert!(
        row.split_whitespace()
            .next()
            .is_some_and(|c| c.ends_with("libsolib.so")),
        "{row}"
    );
    assert!(
        !narrow.stdout.lines().any(|l| l.starts_with(&path)),
        "{}",
        narrow.stdout
    );
    assert!(
        row.split_whitespace()
            .next()
            .is_some_and(|c| c.chars().count() == 20),
        "not 20 columns wide (the narrowest): {row}"
    );
    // -w: whole on the same terminal.
    let wide = solab_on_a_terminal(
        &["libs", "-w", "-o", "libsolib.so", &p],
        &[("COLUMNS", "60")],
    );
    assert_eq!(wide.code, 0, "{}{}", wide.stdout, wide.stderr);
    libs_row(&wide.stdout, &path);
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    let ns = Namespace::new("cli-color");
    let a = spawn_host("a", &ns, &["touch"]);
    let b = spawn_host("b", &ns, &["touch"]);
    let (pa, pb) = (host_pid(&a), host_pid(&b));
    let args = ["prove", "-o", "libsolib.so", pa.as_str(), pb.as_str()];
    let piped = solab(&args);
    assert_eq!(piped.code, 0, "{}{}", piped.stdout, piped.stderr);
    assert!(piped.stdout.contains("HOLDS"), "{}", piped.stdout);
    assert!(!piped.stdout.contains('\x1b'), "escape codes in a pipe");
    let tty = solab_on_a_terminal(&args, &[]);
    assert_eq!(tty.code, 0, "{}{}", tty.stdout, tty.stderr);
    assert!(
        tty.stdout.contains("\x1b[32mHOLDS\x1b[0m"),
        "HOLDS not green on a terminal:\n{:?}",
        tty.stdout
    );
    // Without the escape codes, the same text as in a pipe.
    assert_eq!(
        tty.stdout
            .replace("\x1b[32m", "")
            .replace("\x1b[33m", "")
            .replace("\x1b[0m", ""),
        piped.stdout
    );
    let no_color = solab_on_a_terminal(&args, &[("NO_COLOR", "1")]);
    assert_eq!(no_color.stdout, piped.stdout, "NO_COLOR=1 still coloured");
    let mut flagged = args.to_vec();
    flagged.insert(1, "--no-color");
    let flag = solab_on_a_terminal(&flagged, &[]);
    assert_eq!(flag.stdout, piped.stdout, "--no-color still coloured");
    // An empty NO_COLOR is unset (no-color.org).
    let empty = solab_on_a_terminal(&args, &[("NO_COLOR", "")]);
    assert!(empty.stdout.contains('\x1b'), "{:?}", empty.stdout);
    // --no-color is accepted by every command.
    let run = solab(&["libs", "--no-color", &pa]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn object_names_what_it_matched() {
    let ns = Namespace::new("cli-matched");
    let h = spawn_host("h", &ns, &["touch"]);
    let p = host_pid(&h);
    for cmd in ["inspect", "libs"] {
        let report = solab(&[cmd, "--json", "-o", "libsolib", &p]).json();
        let path = libsolib_row(&report)["path"]
            .as_str()
            .expect("path")
            .to_string();
        assert_eq!(report["matched"], serde_json::json!([path]), "{cmd}");
        let text = solab(&[cmd, "-o", "libsolib", &p]);
        assert_eq!(text.code, 0, "{cmd}: {}", text.stderr);
        let line = format!("--object libsolib matched: {path}\n");
        assert!(
            text.stdout.contains(&line),
            "{cmd}: no {line:?} in\n{}",
            text.stdout
        );
        // Without --object: no line, no key.
        let report = solab(&[cmd, "--json", &p]).json();
        assert!(report.get("matched").is_none(), "{cmd}: matched without -o");
        let text = solab(&[cmd, &p]);
        assert!(!text.stdout.contains("matched:"), "{cmd}");
    }
}
