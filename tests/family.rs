//! `solab family` where a family does more than fork and write: memory shared by design
//! (MAP_SHARED anonymous memory and a memfd, as PostgreSQL's shared buffers), a child that
//! exec'd the same program at the same addresses, and pages KSM merged. The kernel is the
//! judge: smaps of the mappings, and a page walk over pagemap and kpageflags written here.

use crate::util::{self, Proc, field, finish, is_root, solab};
use serde_json::Value;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Command, Stdio};

const PAGE: u64 = 4096;
const MIB: u64 = 1 << 20;

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

fn num(line: &str, key: &str) -> u64 {
    field(line, key)
        .unwrap_or_else(|| panic!("no {key}= in {line:?}"))
        .parse()
        .expect("number")
}

fn member(r: &Value, pid: i32) -> &Value {
    r["processes"]
        .as_array()
        .expect("processes")
        .iter()
        .find(|p| p["pid"] == pid)
        .unwrap_or_else(|| panic!("pid {pid} not in {r:#}"))
}

/// The child's mapping holding `addr`, if the report lists one.
fn mapping_at(r: &Value, pid: i32, addr: u64) -> Option<Value> {
    member(r, pid)["mappings"]
        .as_array()
        .expect("mappings")
        .iter()
        .find(|m| u(&m["start"]) <= addr && addr < u(&m["end"]))
        .cloned()
}

/// Over the MAP_SHARED mappings of `pid` (an `s` in the permissions), the smaps fields
/// Rss and Shared_Clean + Shared_Dirty, in bytes.
fn smaps_shared(pid: i32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps")).expect("smaps");
    let (mut rss, mut shared, mut in_shared) = (0, 0, false);
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or("");
        if first.contains('-') && !first.ends_with(':') {
            in_shared = words.next().is_some_and(|p| p.ends_with('s'));
            continue;
        }
        let kb = || -> u64 { line.split_whitespace().nth(1).unwrap().parse().unwrap() };
        if !in_shared {
            continue;
        }
        match first {
            "Rss:" => rss += kb() * 1024,
            "Shared_Clean:" | "Shared_Dirty:" => shared += kb() * 1024,
            _ => {}
        }
    }
    (rss, shared)
}

/// Runs solab as uid 65534 (to be used on processes of that user).
fn solab_as_nobody(args: &[&str]) -> util::Run {
    finish(
        util::as_nobody(&util::artifacts().solab)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run solab as nobody"),
    )
}

// ---- memory shared by design ----------------------------------------------------------

const SHARED_C: &str = r#"
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>
#define MIB (1024UL * 1024)

int main(void) {
    char *anon = mmap(NULL, 8 * MIB, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int fd = memfd_create("family-shared", 0);
    if (anon == MAP_FAILED || fd < 0 || ftruncate(fd, 4 * MIB) != 0) { perror("setup"); return 1; }
    char *file = mmap(NULL, 4 * MIB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (file == MAP_FAILED) { perror("mmap memfd"); return 1; }
    memset(anon, 1, 8 * MIB);
    memset(file, 2, 4 * MIB);
    int fds[2];
    if (pipe(fds) != 0) { perror("pipe"); return 1; }
    pid_t kids[3];
    for (int i = 0; i < 3; i++) {
        kids[i] = fork();
        if (kids[i] < 0) { perror("fork"); return 1; }
        if (kids[i] == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() == 1) _exit(1);
            /* Child i writes (i + 1) MiB of the shared anonymous memory and i MiB of the
               memfd: each maps only what it wrote (a write fault maps no neighbours, where
               a read fault maps the ones in the page cache around it). */
            memset(anon, 4, (i + 1) * MIB);
            memset(file, 3, i * MIB);
            if (write(fds[1], "x", 1) != 1) _exit(1);
            for (;;) pause();
        }
    }
    for (int i = 0; i < 3; i++) {
        char c;
        if (read(fds[0], &c, 1) != 1) { perror("read"); return 1; }
    }
    printf("shared parent=%d kid0=%d kid1=%d kid2=%d ready\n", (int)getpid(), (int)kids[0],
           (int)kids[1], (int)kids[2]);
    fflush(stdout);
    for (;;) pause();
}
"#;

/// Each member's shared memory is its smaps Rss over its MAP_SHARED mappings, the family's
/// each page once (the parent wrote all 12 MiB); what a child maps of it is the parent's page
/// (smaps counts it Shared). The text says it; without frame numbers the figures are the same.
#[test]
fn family_shows_shared_memory_as_its_own_kind() {
    let prog = util::Compiled::from_source("shared", SHARED_C, &["-O2"], &[]);
    for nobody in [false, true] {
        if nobody && !is_root() {
            util::skip("the uid 65534 half needs root to switch users");
            break;
        }
        let cmd = if nobody {
            util::as_nobody(&prog.path)
        } else {
            Command::new(&prog.path)
        };
        let mut p = Proc::spawn("shared", cmd, "");
        let line = p.expect("ready");
        let parent = num(&line, "parent") as i32;
        let kids: Vec<i32> = (0..3)
            .map(|i| num(&line, &format!("kid{i}")) as i32)
            .collect();
        let _kids = util::KillOnDrop(kids.clone());
        let pid = parent.to_string();
        let run = if nobody {
            solab_as_nobody(&["family", "--json", &pid])
        } else {
            solab(&["family", "--json", &pid])
        };
        assert_eq!(run.code, 0, "{}", run.stderr);
        let r = run.json();
        assert_eq!(r["schema"], "solab.family.v2");
        for &m in std::iter::once(&parent).chain(&kids) {
            let (rss, shared) = smaps_shared(m);
            let got = u(&member(&r, m)["shared_memory"]);
            assert_eq!(got, rss, "pid {m}: solab's shared memory against smaps Rss");
            if m != parent {
                assert_eq!(
                    shared, rss,
                    "pid {m}: a child's shared pages are the parent's"
                );
            }
        }
        // The children wrote 1, 2 and 3 MiB of the anonymous memory and 0, 1, 2 of the
        // memfd: 1+0, 2+1, 3+2 MiB.
        for (i, &k) in kids.iter().enumerate() {
            let want = (2 * i as u64 + 1) * MIB;
            assert_eq!(u(&member(&r, k)["shared_memory"]), want, "kid {i}: {r:#}");
        }
        assert_eq!(smaps_shared(parent).0, 12 * MIB, "the parent wrote it all");
        assert_eq!(u(&r["shared_memory"]), 12 * MIB, "each page once: {r:#}");
        let text = if nobody {
            solab_as_nobody(&["family", &pid])
        } else {
            solab(&["family", &pid])
        };
        assert_eq!(text.code, 0, "{}", text.stderr);
        assert!(
            text.stdout
                .contains("family: 12.0 MiB shared memory (MAP_SHARED), each page once"),
            "{}",
            text.stdout
        );
        assert!(
            text.stdout
                .contains("shared memory (MAP_SHARED) 5.0 MiB resident"),
            "{}",
            text.stdout
        );
        drop(p);
    }
}

// ---- a child that exec'd ----------------------------------------------------------------

/// Maps and writes 1 MiB at a fixed address, then (as the parent) forks a child that writes
/// it all (copied since fork) and a child that execs this program again, which maps and
/// writes the same address afresh.
const EXEC_C: &str = r#"
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#define MIB (1024UL * 1024)
#define AREA ((void *)0x200000000UL)

int main(int argc, char **argv) {
    char *area = mmap(AREA, MIB, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (area != AREA) { perror("mmap"); return 1; }
    if (argc > 1) {
        memset(area, 2, MIB);
        if (write(atoi(argv[1]), "x", 1) != 1) return 1;
        for (;;) pause();
    }
    memset(area, 1, MIB);
    int fds[2];
    if (pipe(fds) != 0) { perror("pipe"); return 1; }
    pid_t forked = fork();
    if (forked < 0) { perror("fork"); return 1; }
    if (forked == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() == 1) _exit(1);
        memset(area, 3, MIB);
        if (write(fds[1], "x", 1) != 1) _exit(1);
        for (;;) pause();
    }
    pid_t execd = fork();
    if (execd < 0) { perror("fork"); return 1; }
    if (execd == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() == 1) _exit(1);
        char fd[16];
        snprintf(fd, sizeof fd, "%d", fds[1]);
        execl("/proc/self/exe", argv[0], fd, (char *)NULL);
        _exit(1);
    }
    char c;
    if (read(fds[0], &c, 1) != 1 || read(fds[0], &c, 1) != 1) { perror("read"); return 1; }
    printf("exec parent=%d forked=%d execd=%d area=%lu ready\n", (int)getpid(), (int)forked,
           (int)execd, (unsigned long)area);
    fflush(stdout);
    for (;;) pause();
}
"#;

/// With ASLR off (`setarch -R`) the exec'd child has its pages at the parent's addresses,
/// and none of them is the parent's frame: it inherited nothing, whatever lines up. The
/// forked child that wrote its copy is still a forked child, its pages copied.
#[test]
fn a_child_that_execd_inherited_nothing() {
    if Command::new("setarch")
        .args(["-R", "true"])
        .status()
        .map_or(true, |s| !s.success())
    {
        util::skip("setarch -R (util-linux) is missing or not allowed here");
        return;
    }
    let prog = util::Compiled::from_source("execd", EXEC_C, &["-O2"], &[]);
    for nobody in [false, true] {
        if nobody && !is_root() {
            util::skip("the uid 65534 half needs root to switch users");
            break;
        }
        let mut cmd = if nobody {
            util::as_nobody(Path::new("/usr/bin/setarch"))
        } else {
            Command::new("setarch")
        };
        cmd.arg("-R").arg(&prog.path);
        let mut p = Proc::spawn("execd", cmd, "");
        let line = p.expect("ready");
        let parent = num(&line, "parent") as i32;
        let (forked, execd) = (num(&line, "forked") as i32, num(&line, "execd") as i32);
        let _kids = util::KillOnDrop(vec![forked, execd]);
        let area = num(&line, "area");
        let pid = parent.to_string();
        let run = if nobody {
            solab_as_nobody(&["family", "--json", &pid])
        } else {
            solab(&["family", "--json", &pid])
        };
        assert_eq!(run.code, 0, "{}", run.stderr);
        let r = run.json();
        let e = member(&r, execd);
        assert_eq!(e["fork"], "exec", "{e:#}");
        let t = &e["totals"];
        assert_eq!(
            (
                u(&t["parents_frame"]),
                u(&t["copied"]),
                u(&t["looks_inherited"])
            ),
            (0, 0, 0),
            "the exec'd child inherited nothing: {e:#}"
        );
        let m = mapping_at(&r, execd, area).expect("the exec'd child's area");
        assert_eq!(m["inherited"], false, "{m:#}");
        assert_eq!(u(&m["new"]), MIB, "{m:#}");
        let f = member(&r, forked);
        // As root a frame in common proves the fork; without frames the AT_RANDOM bytes do
        // (same user: /proc/PID/mem is readable).
        let proof = if nobody { "at-random" } else { "shared-frame" };
        assert_eq!(f["fork"], proof, "{f:#}");
        let m = mapping_at(&r, forked, area).expect("the forked child's area");
        assert_eq!(
            (m["inherited"].clone(), u(&m["copied"])),
            (Value::Bool(true), MIB),
            "{m:#}"
        );
        let text = if nobody {
            solab_as_nobody(&["family", &pid])
        } else {
            solab(&["family", &pid])
        };
        // Its name is the one exec gave it (`exe`, of /proc/self/exe).
        let said = format!("(parent {parent}) (exec'd since fork: nothing inherited)");
        assert!(
            text.stdout
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{execd} ")) && l.ends_with(&said)),
            "{}",
            text.stdout
        );
        drop(p);
    }
}

// ---- KSM ------------------------------------------------------------------------------

/// Fills 4 MiB with pages all alike, offers them to KSM (MADV_MERGEABLE), then forks a
/// child that only sleeps: KSM merges the pages of both into one KSM frame, which is at the
/// same address in both.
const KSM_C: &str = r#"
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>
#define MIB (1024UL * 1024)

int main(void) {
    char *area = mmap(NULL, 4 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED) { perror("mmap"); return 1; }
    memset(area, 7, 4 * MIB);
    if (madvise(area, 4 * MIB, MADV_MERGEABLE) != 0) { perror("madvise"); return 1; }
    pid_t kid = fork();
    if (kid < 0) { perror("fork"); return 1; }
    if (kid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() == 1) _exit(1);
        for (;;) pause();
    }
    printf("ksm parent=%d child=%d area=%lu ready\n", (int)getpid(), (int)kid,
           (unsigned long)area);
    fflush(stdout);
    for (;;) pause();
}
"#;

/// KSM's settings, set for the test and restored on Drop.
struct KsmOn {
    saved: Vec<(&'static str, String)>,
}

impl KsmOn {
    const DIR: &'static str = "/sys/kernel/mm/ksm";
    fn start() -> Option<KsmOn> {
        let mut saved = Vec::new();
        for name in ["pages_to_scan", "sleep_millisecs", "run"] {
            let v = std::fs::read_to_string(format!("{}/{name}", Self::DIR)).ok()?;
            saved.push((name, v.trim().to_string()));
        }
        let on = KsmOn { saved };
        for (name, v) in [
            ("pages_to_scan", "4096"),
            ("sleep_millisecs", "10"),
            ("run", "1"),
        ] {
            std::fs::write(format!("{}/{name}", Self::DIR), v).ok()?;
        }
        Some(on)
    }
}

impl Drop for KsmOn {
    fn drop(&mut self) {
        for (name, v) in self.saved.iter().rev() {
            let _ = std::fs::write(format!("{}/{name}", Self::DIR), v);
        }
    }
}

/// The pages of `[start, start + len)` of `pid` whose frame is KSM-merged (kpageflags bit
/// 21), by a walk of pagemap and kpageflags.
fn ksm_pages(pid: i32, start: u64, len: u64) -> u64 {
    let pm = std::fs::File::open(format!("/proc/{pid}/pagemap")).expect("pagemap");
    let flags = std::fs::File::open("/proc/kpageflags").expect("kpageflags");
    let mut buf = vec![0u8; (len / PAGE * 8) as usize];
    pm.read_exact_at(&mut buf, start / PAGE * 8)
        .expect("read pagemap");
    let mut n = 0;
    for c in buf.chunks_exact(8) {
        let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        let pfn = w & ((1 << 55) - 1);
        if w >> 63 & 1 == 0 || pfn == 0 {
            continue;
        }
        let mut f = [0u8; 8];
        flags
            .read_exact_at(&mut f, pfn * 8)
            .expect("read kpageflags");
        n += u64::from_le_bytes(f) >> 21 & 1;
    }
    n
}

/// A frame KSM merged is one frame at the same address in parent and child, but not
/// because of fork: it is `ksm`, never `parents-frame`.
#[test]
fn a_ksm_frame_is_never_the_parents() {
    if !is_root() {
        util::skip("KSM's switch and kpageflags need root");
        return;
    }
    if !Path::new(KsmOn::DIR).join("run").exists() {
        util::skip("this kernel has no KSM (/sys/kernel/mm/ksm)");
        return;
    }
    let prog = util::Compiled::from_source("ksm", KSM_C, &["-O2"], &[]);
    let mut p = Proc::spawn("ksm", Command::new(&prog.path), "");
    let line = p.expect("ready");
    let (parent, child) = (num(&line, "parent") as i32, num(&line, "child") as i32);
    let _kids = util::KillOnDrop(vec![child]);
    let area = num(&line, "area");
    let Some(ksm) = KsmOn::start() else {
        util::skip("KSM could not be switched on here");
        return;
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while ksm_pages(child, area, 4 * MIB) < 4 * MIB / PAGE {
        if std::time::Instant::now() > deadline {
            util::skip("KSM did not merge the pages within 30 s");
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // Stop merging (merged pages stay) so that the walk and solab see the same frames.
    drop(ksm);
    let run = solab(&["family", "--json", &parent.to_string()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.json();
    let m = mapping_at(&r, child, area).expect("the child's area");
    let merged = ksm_pages(child, area, 4 * MIB) * PAGE;
    assert_eq!(merged, 4 * MIB, "the walk after solab");
    assert_eq!(u(&m["ksm"]), merged, "{m:#}");
    assert_eq!(
        u(&m["parents_frame"]),
        0,
        "a KSM frame is not the parent's: {m:#}"
    );
    drop(p);
}

// ---- open files -----------------------------------------------------------------------

const MANY_C: &str = r#"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int n = atoi(argv[1]);
    for (int i = 0; i < n; i++) {
        pid_t k = fork();
        if (k < 0) { perror("fork"); return 1; }
        if (k == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() == 1) _exit(1);
            for (;;) pause();
        }
    }
    printf("many parent=%d ready\n", (int)getpid());
    fflush(stdout);
    for (;;) pause();
}
"#;

/// A family of 300 under a limit of 64 open files: each member is opened by the job that
/// reads it and closed after, so every member is read and none fails with EMFILE.
#[test]
fn family_holds_no_file_open_per_member() {
    let prog = util::Compiled::from_source("many", MANY_C, &["-O2"], &[]);
    let mut cmd = Command::new(&prog.path);
    cmd.arg("300");
    let mut p = Proc::spawn("many", cmd, "");
    let line = p.expect("ready");
    let parent = num(&line, "parent");
    let run = finish(
        Command::new("sh")
            .arg("-c")
            .arg("ulimit -n 64 && exec \"$0\" family --json \"$1\"")
            .arg(&util::artifacts().solab)
            .arg(parent.to_string())
            .stdin(Stdio::null())
            .output()
            .expect("run solab under ulimit -n 64"),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.json();
    assert_eq!(
        r["errors"].as_array().map(Vec::len),
        Some(0),
        "{}",
        run.stderr
    );
    assert_eq!(r["processes"].as_array().map(Vec::len), Some(301));
    drop(p);
}
