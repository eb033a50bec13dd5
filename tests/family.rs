//! `solab family` where a family does more than fork and write: memory shared by design
//! (MAP_SHARED anonymous memory and a memfd, as PostgreSQL's shared buffers), a child that
//! exec'd the same program at the same addresses, and pages KSM merged. The kernel is the
//! judge: smaps of the mappings, and a page walk over pagemap and kpageflags written here.

use crate::util::ksm::KsmOn;
use crate::util::{self, Proc, field_u64, finish, is_root, solab, u};
use serde_json::Value;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Command, Stdio};

const PAGE: u64 = 4096;
const MIB: u64 = 1 << 20;

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
        let parent = field_u64(&line, "parent") as i32;
        let kids: Vec<i32> = (0..3)
            .map(|i| field_u64(&line, &format!("kid{i}")) as i32)
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
        let table = Table::of(&text.stdout);
        assert_eq!(
            table.cell("TOTAL", "SHARED-MEM"),
            "12.0 MiB",
            "{}",
            text.stdout
        );
        assert_eq!(
            table.cell(&kids[2].to_string(), "SHARED-MEM"),
            "5.0 MiB",
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
        let parent = field_u64(&line, "parent") as i32;
        let (forked, execd) = (
            field_u64(&line, "forked") as i32,
            field_u64(&line, "execd") as i32,
        );
        let _kids = util::KillOnDrop(vec![forked, execd]);
        let area = field_u64(&line, "area");
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
        // Its row says so after its command.
        let said = "(exec'd since fork: nothing inherited)";
        assert!(
            Table::of(&text.stdout)
                .command(&execd.to_string())
                .ends_with(said),
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
    let (parent, child) = (
        field_u64(&line, "parent") as i32,
        field_u64(&line, "child") as i32,
    );
    let _kids = util::KillOnDrop(vec![child]);
    let area = field_u64(&line, "area");
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
    let parent = field_u64(&line, "parent");
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

// ---- the table ------------------------------------------------------------------------

/// `solab family`'s table as printed: the header (the line that starts with `PID`), and the
/// rows after it up to the first empty line. The figures are right-aligned under their
/// heading, COMMAND is last and left-aligned.
struct Table {
    header: String,
    rows: Vec<String>,
}

impl Table {
    fn of(text: &str) -> Table {
        let mut lines = text
            .lines()
            .skip_while(|l| !l.trim_start().starts_with("PID "));
        let header = lines
            .next()
            .unwrap_or_else(|| panic!("no table in {text}"))
            .to_string();
        let rows = lines
            .take_while(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect();
        Table { header, rows }
    }

    /// The row whose first word is `key` (a pid, or TOTAL).
    fn row(&self, key: &str) -> &str {
        self.rows
            .iter()
            .find(|r| r.split_whitespace().next() == Some(key))
            .unwrap_or_else(|| panic!("no row {key} in {:#?}", self.rows))
    }

    /// The cell of a right-aligned column: from the end of the heading before to the end
    /// of its own.
    fn cell(&self, key: &str, column: &str) -> String {
        let at = self
            .header
            .find(&format!(" {column}"))
            .unwrap_or_else(|| panic!("no column {column} in {}", self.header))
            + 1;
        let end = at + column.len();
        let from = self.header[..at].trim_end().len();
        self.row(key)[from..end].trim().to_string()
    }

    /// The COMMAND cell: the tree and the command, as printed.
    fn command(&self, key: &str) -> String {
        let at = self.header.find("COMMAND").expect("COMMAND");
        self.row(key)[at..].to_string()
    }
}

/// A size as solab prints it (`12.5 MiB`, `0 B`) in bytes, and half its last digit: the
/// most the printed figure can be off.
fn printed_bytes(s: &str) -> (f64, f64) {
    let (v, unit) = s
        .split_once(' ')
        .unwrap_or_else(|| panic!("not a size: {s:?}"));
    let scale = match unit {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        _ => panic!("unit of {s:?}"),
    };
    let value: f64 = v.parse().unwrap_or_else(|_| panic!("not a size: {s:?}"));
    let half = if v.contains('.') { 0.05 * scale } else { 0.5 };
    (value * scale, half)
}

/// The printed size `s` stands for `bytes`.
fn near_printed(s: &str, bytes: u64, what: &str) {
    let (v, half) = printed_bytes(s);
    assert!(
        (v - bytes as f64).abs() <= half + 1.0,
        "{what}: printed {s}, the JSON says {bytes} bytes"
    );
}

/// A parent with 8 MiB of anonymous memory forks a writer (which writes 2 MiB of it) and a
/// keeper, which forks a leaf; all wait.
const FOREST_C: &str = r#"
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>
#define MIB (1024UL * 1024)

static int fds[2];

static void wait_forever(void) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (write(fds[1], "x", 1) != 1) _exit(1);
    for (;;) pause();
}

int main(void) {
    char *area = mmap(NULL, 8 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED || pipe(fds) != 0) { perror("setup"); return 1; }
    memset(area, 1, 8 * MIB);
    pid_t writer = fork();
    if (writer == 0) {
        memset(area, 2, 2 * MIB);
        wait_forever();
    }
    int leaf_pipe[2];
    if (pipe(leaf_pipe) != 0) { perror("pipe"); return 1; }
    pid_t keeper = fork();
    if (keeper == 0) {
        pid_t leaf = fork();
        if (leaf == 0) wait_forever();
        if (write(leaf_pipe[1], &leaf, sizeof leaf) != sizeof leaf) _exit(1);
        wait_forever();
    }
    pid_t leaf;
    if (writer < 0 || keeper < 0 || read(leaf_pipe[0], &leaf, sizeof leaf) != sizeof leaf) {
        perror("fork");
        return 1;
    }
    for (int i = 0; i < 3; i++) {
        char c;
        if (read(fds[0], &c, 1) != 1) { perror("read"); return 1; }
    }
    printf("forest parent=%d writer=%d keeper=%d leaf=%d area=%lu ready\n", (int)getpid(),
           (int)writer, (int)keeper, (int)leaf, (unsigned long)area);
    fflush(stdout);
    for (;;) pause();
}
"#;

/// The forest running (as uid 65534 with `nobody`): the process, the guard of its
/// children, and the pids of parent, writer, keeper and leaf.
fn start_forest(nobody: bool) -> (Proc, util::KillOnDrop, [i32; 4]) {
    let prog = util::Compiled::from_source("forest", FOREST_C, &["-O2"], &[]);
    let cmd = if nobody {
        util::as_nobody(&prog.path)
    } else {
        Command::new(&prog.path)
    };
    let mut p = Proc::spawn("forest", cmd, "");
    let line = p.expect("ready");
    let pids = ["parent", "writer", "keeper", "leaf"].map(|k| field_u64(&line, k) as i32);
    let guard = util::KillOnDrop(pids[1..].to_vec());
    (p, guard, pids)
}

/// `solab family` run as the forest's user.
fn family_run(nobody: bool, args: &[&str]) -> util::Run {
    let mut all = vec!["family"];
    all.extend_from_slice(args);
    let run = if nobody {
        solab_as_nobody(&all)
    } else {
        solab(&all)
    };
    assert_eq!(run.code, 0, "{args:?}: {}{}", run.stdout, run.stderr);
    run
}

/// The users to run the forest as: root (or whoever runs the tests), then uid 65534 where
/// the tests can switch to it.
fn users() -> Vec<bool> {
    if is_root() {
        vec![false, true]
    } else {
        util::skip("the uid 65534 half needs root to switch users");
        vec![false]
    }
}

/// The table has one row per member (tree-indented under its parent) and a TOTAL row, and
/// its figures are the JSON's: per child and for the family; the CSV gives the same bytes.
#[test]
fn family_table_is_one_row_per_member_and_the_json_totals() {
    for nobody in users() {
        let (p, _guard, [parent, writer, keeper, leaf]) = start_forest(nobody);
        let pid = parent.to_string();
        let r = family_run(nobody, &["--json", &pid]).json();
        let text = family_run(nobody, &[&pid]).stdout;
        let table = Table::of(&text);
        let members: Vec<i64> = r["processes"]
            .as_array()
            .expect("processes")
            .iter()
            .map(|m| m["pid"].as_i64().expect("pid"))
            .collect();
        assert_eq!(members.len(), 4, "{r:#}");
        assert_eq!(table.rows.len(), members.len() + 1, "{text}");
        for (row, m) in table.rows.iter().zip(&members) {
            assert_eq!(
                row.split_whitespace().next(),
                Some(&*m.to_string()),
                "{text}"
            );
        }
        assert_eq!(table.command(&pid), "forest", "{text}");
        assert_eq!(table.command(&writer.to_string()), "\\_ forest", "{text}");
        assert_eq!(table.command(&leaf.to_string()), "   \\_ forest", "{text}");
        let first = if nobody {
            "LOOKS-INHERITED"
        } else {
            "PARENTS-FRAME"
        };
        let key = if nobody {
            "looks_inherited"
        } else {
            "parents_frame"
        };
        for (column, field) in [(first, key), ("COPIED", "copied"), ("NEW", "new")] {
            near_printed(
                &table.cell("TOTAL", column),
                u(&r["totals"][field]),
                &format!("TOTAL {column}"),
            );
            for k in [writer, keeper, leaf] {
                near_printed(
                    &table.cell(&k.to_string(), column),
                    u(&member(&r, k)["totals"][field]),
                    &format!("{k} {column}"),
                );
            }
        }
        near_printed(
            &table.cell("TOTAL", "SHARED-MEM"),
            u(&r["shared_memory"]),
            "TOTAL SHARED-MEM",
        );
        // The writer copied its 2 MiB: PARENT% is what the JSON's figures give.
        let t = &member(&r, writer)["totals"];
        assert!(u(&t["copied"]) >= 2 * MIB, "{t:#}");
        let all: u64 = ["parents_frame", "looks_inherited", "copied", "new", "ksm"]
            .iter()
            .map(|f| u(&t[*f]))
            .sum();
        let share = format!("{:.1}%", 100.0 * u(&t[key]) as f64 / all as f64);
        assert_eq!(table.cell(&writer.to_string(), "PARENT%"), share, "{text}");
        assert_eq!(table.cell(&pid, "PARENT%"), "-", "{text}");

        // CSV: a header, then each member's bytes exactly.
        let csv = family_run(nobody, &["--csv", &pid]).stdout;
        // Lines end in LF, as `ps --csv` and `libs --csv` end theirs.
        assert!(!csv.contains('\r'), "{csv:?}");
        let lines: Vec<&str> = csv.split_terminator('\n').collect();
        assert!(lines[0].starts_with("pid,ppid,depth,command,"), "{csv}");
        assert_eq!(lines.len(), members.len() + 1, "{csv}");
        let heads: Vec<&str> = lines[0].split(',').collect();
        let mut sums = [0u64; 3];
        for line in &lines[1..] {
            let cells: Vec<&str> = line.split(',').collect();
            assert_eq!(cells.len(), heads.len(), "{line}");
            let cell = |h: &str| cells[heads.iter().position(|x| *x == h).expect(h)];
            let m = member(&r, cell("pid").parse().expect("pid"));
            for (i, f) in ["parents_frame", "copied", "new"].iter().enumerate() {
                let v: u64 = cell(f).parse().expect("bytes");
                assert_eq!(v, u(&m["totals"][*f]), "{f} of {line}");
                sums[i] += v;
            }
            assert_eq!(cell("shared_memory"), m["shared_memory"].to_string());
        }
        for (i, f) in ["parents_frame", "copied", "new"].iter().enumerate() {
            assert_eq!(sums[i], u(&r["totals"][*f]), "family {f}");
        }
        drop(p);
    }
}

/// `--mappings` gives each child's mappings (the JSON's, each with its address range) and
/// its total; `--top 1` only the one with the most copied + new.
#[test]
fn family_mappings_and_top_give_the_detail() {
    let (p, _guard, [parent, writer, _, _]) = start_forest(false);
    let pid = parent.to_string();
    let r = family_run(false, &["--json", &pid]).json();
    let summary = family_run(false, &[&pid]).stdout;
    assert!(!summary.contains("MAPPING"), "{summary}");
    let detail = family_run(false, &["--mappings", &pid]).stdout;
    assert!(detail.starts_with(&summary), "the table first:\n{detail}");
    for m in r["processes"].as_array().expect("processes").iter().skip(1) {
        let block: Vec<&str> = detail
            .split("\n\n")
            .find(|b| b.trim_start().starts_with(&format!("{} ", m["pid"])))
            .unwrap_or_else(|| panic!("no block for {} in {detail}", m["pid"]))
            .lines()
            .collect();
        let maps = m["mappings"].as_array().expect("mappings");
        for mapping in maps {
            let range = format!("{:x}-{:x} ", u(&mapping["start"]), u(&mapping["end"]));
            assert_eq!(
                block.iter().filter(|l| l.contains(&range)).count(),
                1,
                "{range} in {block:#?}"
            );
        }
        // Header, mappings, total.
        assert_eq!(block.len(), maps.len() + 3, "{block:#?}");
    }
    let top = family_run(false, &["--top", "1", &pid]).stdout;
    let maps = member(&r, writer)["mappings"]
        .as_array()
        .expect("mappings")
        .clone();
    let largest = maps
        .iter()
        .max_by_key(|m| u(&m["copied"]) + u(&m["new"]))
        .expect("a mapping");
    assert!(
        u(&largest["copied"]) >= 2 * MIB,
        "the written area: {largest:#}"
    );
    let block: Vec<&str> = top
        .split("\n\n")
        .find(|b| b.starts_with(&format!("{writer} ")))
        .unwrap_or_else(|| panic!("no block for {writer} in {top}"))
        .lines()
        .collect();
    let range = format!("{:x}-{:x} ", u(&largest["start"]), u(&largest["end"]));
    assert!(block[2].contains(&range), "{block:#?}");
    assert_eq!(
        block[3].trim(),
        format!(
            "(1 of {} mappings shown: the most COPIED + NEW)",
            maps.len()
        ),
        "{block:#?}"
    );
    drop(p);
}

/// Given the leaf, the text says whose child it is and names the family's root; `--up`
/// reads the root's family; the root with `--up` is itself.
#[test]
fn a_leaf_names_its_parent_and_up_finds_the_root() {
    for nobody in users() {
        let (p, _guard, [parent, _, keeper, leaf]) = start_forest(nobody);
        let l = leaf.to_string();
        let text = family_run(nobody, &[&l]).stdout;
        assert!(
            text.contains(&format!(
                "{leaf} has no children; it is a child of {keeper} (forest)."
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "Its fork family's root is {parent} (forest), the highest ancestor running its \
                 executable: solab family {parent}, or solab family --up {leaf}"
            )),
            "{text}"
        );
        let up = family_run(nobody, &["--up", "--json", &l]).json();
        assert_eq!(up["root"], parent, "{up:#}");
        assert_eq!(up["processes"].as_array().map(Vec::len), Some(4), "{up:#}");
        let up_text = family_run(nobody, &["--up", &l]).stdout;
        assert!(
            up_text.starts_with(&format!(
                "the fork family of {leaf}: its highest ancestor running the same executable \
                 is {parent}\nsolab family {parent}: 4 processes\n"
            )),
            "{up_text}"
        );
        let root_up = family_run(nobody, &["--up", "--json", &parent.to_string()]).json();
        assert_eq!(root_up["root"], parent, "{root_up:#}");
        // The root's own parent (the test) runs another executable: no note on a family
        // with children.
        let root_text = family_run(nobody, &[&parent.to_string()]).stdout;
        assert!(!root_text.contains("has no children"), "{root_text}");
        drop(p);
    }
}

/// solab is not a member of the family it reads: run by the root's shell (`sh -c 'solab
/// family $$'`), it is a child of the root, yet the front door leaves solab itself out;
/// the root's other child stays.
#[test]
fn solab_leaves_itself_out_of_the_family() {
    let solab = &util::artifacts().solab;
    let out = finish(
        Command::new("/bin/sh")
            .args([
                "-c",
                "sleep 30 & kid=$!; \"$0\" family --json $$; st=$?; kill $kid; exit $st",
            ])
            .arg(solab)
            .stdin(Stdio::null())
            .output()
            .expect("run sh"),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r = out.json();
    let members = r["processes"].as_array().expect("processes");
    let comms: Vec<&str> = members.iter().filter_map(|m| m["comm"].as_str()).collect();
    assert_eq!(comms, ["sh", "sleep"], "{r:#}");
    assert_eq!(members[1]["ppid"], r["root"], "{r:#}");
}
