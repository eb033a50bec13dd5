//! Hostile processes at scale: a process of uid 65534 makes its memory map large (many
//! mappings of a file with a long path, still or moving; mappings whose name is longer
//! than PATH_MAX; many distinct ELF objects), and root's solab reads it. Each test asserts
//! that solab's peak RSS stays under a bound made of what it answers (so much a mapping,
//! so much an object, above what it costs for a small process) and that its work grows
//! linearly: the CPU time at 4N against N, both measured in the test, never an absolute
//! time.
//!
//! The sizes are N = `SOLAB_HOSTILE_N` / 4 and `SOLAB_HOSTILE_N` (default 20,000);
//! `make hostile` runs them larger and prints the figures (`HOSTILE_N`).

use crate::util::{self, Compiled, Proc, Scratch, as_nobody, is_root, skip};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

/// The attacker: see its comment.
const ATTACKER_C: &str = r#"
/* A hostile process for solab's scale tests, run as uid 65534.
 * attacker MODE N DIR: under DIR (which it may write), it makes and maps
 *   static   N one-page mappings, two pages apart, of one file whose path is ~3,850 bytes
 *   moving   the same, then for ever unmaps the lowest and maps one above the highest
 *   long     N such mappings of one file whose path is longer than PATH_MAX
 *   distinct N distinct 120-byte ELF files (one PT_LOAD each), each mapped once, in
 *            subdirectories of 1,000 files (a directory of 650,000 is slow to fill)
 *   deep     the same, in a directory whose path is ~3,770 bytes
 *   links    N hard links of one file, each a ~3,770-byte path, each mapped once
 *            (every mapping a distinct name of one file: N names to keep)
 * prints "ready" when they are all mapped, then waits (moving: moves) until killed. */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define PG 4096UL
#define BASE 0x200000000000UL

static void die(const char *what) {
    perror(what);
    exit(1);
}

/* A file LEVELS directories of 250-byte names below DIR, one page long. */
static int deep_file(const char *dir, int levels) {
    char name[251];
    if (chdir(dir)) die("chdir");
    for (int i = 0; i < levels; i++) {
        memset(name, 'a' + i % 26, 250);
        name[250] = 0;
        if (mkdir(name, 0755) && errno != EEXIST) die("mkdir");
        if (chdir(name)) die("chdir");
    }
    int fd = open("f", O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || ftruncate(fd, PG)) die("file");
    return fd;
}

static void map_at(unsigned long i, int fd) {
    void *want = (void *)(BASE + 2 * i * PG);
    void *got = mmap(want, PG, PROT_READ, MAP_PRIVATE | MAP_FIXED_NOREPLACE, fd, 0);
    if (got != want) die("mmap");
}

static void distinct(unsigned long n, const char *dir, int subdirs) {
    Elf64_Ehdr eh;
    Elf64_Phdr ph;
    memset(&eh, 0, sizeof eh);
    memset(&ph, 0, sizeof ph);
    memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_DYN;
    eh.e_machine = EM_X86_64;
    eh.e_version = EV_CURRENT;
    eh.e_phoff = sizeof eh;
    eh.e_ehsize = sizeof eh;
    eh.e_phentsize = sizeof ph;
    eh.e_phnum = 1;
    ph.p_type = PT_LOAD;
    ph.p_flags = PF_R;
    ph.p_filesz = ph.p_memsz = sizeof eh + sizeof ph;
    ph.p_align = PG;
    if (chdir(dir)) die("chdir");
    for (unsigned long i = 0; i < n; i++) {
        char name[48];
        if (subdirs && i % 1000 == 0) {
            snprintf(name, sizeof name, "d%lu", i / 1000);
            if (mkdir(name, 0755) && errno != EEXIST) die("mkdir");
        }
        if (subdirs)
            snprintf(name, sizeof name, "d%lu/o%lu.so", i / 1000, i);
        else
            snprintf(name, sizeof name, "o%lu.so", i);
        int fd = open(name, O_RDWR | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || write(fd, &eh, sizeof eh) != sizeof eh ||
            write(fd, &ph, sizeof ph) != sizeof ph)
            die("write");
        map_at(i, fd);
        close(fd);
    }
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: attacker static|moving|long|distinct|deep|links N DIR\n");
        return 2;
    }
    const char *mode = argv[1], *dir = argv[3];
    unsigned long n = strtoul(argv[2], NULL, 10);
    int fd = -1;
    if (!strcmp(mode, "distinct")) {
        distinct(n, dir, 1);
    } else if (!strcmp(mode, "deep")) {
        close(deep_file(dir, 15)); /* and stays in its directory */
        distinct(n, ".", 0);
    } else if (!strcmp(mode, "links")) {
        fd = deep_file(dir, 15); /* and stays in its directory */
        for (unsigned long i = 0; i < n; i++) {
            char name[32];
            snprintf(name, sizeof name, "l%lu", i);
            if (link("f", name) && errno != EEXIST) die("link");
            int l = open(name, O_RDONLY);
            if (l < 0) die("open link");
            map_at(i, l);
            close(l);
        }
    } else {
        fd = deep_file(dir, strcmp(mode, "long") ? 15 : 17);
        for (unsigned long i = 0; i < n; i++) map_at(i, fd);
    }
    printf("ready\n");
    fflush(stdout);
    if (strcmp(mode, "moving")) {
        for (;;) pause();
    }
    for (unsigned long lo = 0, hi = n;; lo++, hi++) {
        if (munmap((void *)(BASE + 2 * lo * PG), PG)) die("munmap");
        map_at(hi, fd);
    }
}
"#;

/// One test at a time: each may raise vm.max_map_count, and each measures CPU time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The larger size; the smaller is a quarter of it.
fn size() -> usize {
    std::env::var("SOLAB_HOSTILE_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000)
}

/// vm.max_map_count raised to at least a number, put back on Drop.
struct MapCount(Option<String>);

const MAX_MAP_COUNT: &str = "/proc/sys/vm/max_map_count";

impl MapCount {
    fn at_least(n: usize) -> MapCount {
        let old = std::fs::read_to_string(MAX_MAP_COUNT).expect("read vm.max_map_count");
        if old.trim().parse::<usize>().expect("a number") >= n {
            return MapCount(None);
        }
        std::fs::write(MAX_MAP_COUNT, n.to_string()).expect("raise vm.max_map_count");
        MapCount(Some(old))
    }
}

impl Drop for MapCount {
    fn drop(&mut self) {
        if let Some(old) = &self.0 {
            let _ = std::fs::write(MAX_MAP_COUNT, old.trim());
        }
    }
}

/// A tmpfs mounted for one attacker's files, unmounted on Drop: files are made there
/// without a disk's journal (650,000 of them on the scratch disk took more than 600 s).
struct Tmpfs(Option<std::path::PathBuf>);

impl Tmpfs {
    /// Mounts a tmpfs owned by uid 65534 at `dir`; where mounting is not allowed (a
    /// container), the files go to the directory as it is.
    fn at(dir: &std::path::Path) -> Tmpfs {
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                "mode=0755,uid=65534,gid=65534",
                "solab-hostile",
            ])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("hostile-scale: no tmpfs mounted (not allowed here): files on the disk");
        }
        Tmpfs(ok.then(|| dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        if let Some(dir) = &self.0 {
            let _ = Command::new("umount").arg(dir).status();
        }
    }
}

/// A running attacker and what it owns (dropped in this order: the process killed, then
/// its tmpfs unmounted, then its directory removed).
struct Attacker {
    proc: Proc,
    _files: Option<Tmpfs>,
    _dir: Scratch,
}

impl Attacker {
    fn start(prog: &Compiled, mode: &str, n: usize) -> Attacker {
        let dir = Scratch::new();
        let work = dir.writable_by_nobody("w");
        let files = (mode == "distinct").then(|| Tmpfs::at(&work));
        let mut cmd = as_nobody(&prog.path);
        cmd.arg(mode).arg(n.to_string()).arg(&work);
        let started = std::time::Instant::now();
        let mut proc = Proc::spawn(&format!("attacker {mode} {n}"), cmd, "");
        proc.expect_within("ready", Duration::from_secs(600));
        eprintln!(
            "hostile-scale: attacker {mode} N={n} ready in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        Attacker {
            proc,
            _files: files,
            _dir: dir,
        }
    }

    fn pid(&self) -> String {
        self.proc.pid().to_string()
    }
}

/// What one run of solab cost.
struct Cost {
    code: i32,
    stdout: String,
    stderr: String,
    /// Peak resident set, KiB.
    max_rss_kib: u64,
    /// User and system CPU, seconds.
    cpu: f64,
    wall: f64,
}

/// GNU time, which reports the peak RSS of the program it runs. The test process cannot
/// read it itself: a child's `ru_maxrss` counts the memory of the process it was forked
/// (or vforked) from until it execs, here the test harness's hundreds of megabytes.
const TIME: &str = "/usr/bin/time";

/// Runs the build's solab with `args` under [`TIME`] and reads its peak RSS and CPU time.
fn measure(args: &[&str]) -> Cost {
    let scratch = Scratch::new();
    let figures = scratch.dir.join("time");
    let started = std::time::Instant::now();
    let out = Command::new(TIME)
        .args(["-f", "%M %U %S", "-o"])
        .arg(&figures)
        .arg(&util::artifacts().solab)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run solab under time");
    let wall = started.elapsed().as_secs_f64();
    let text = std::fs::read_to_string(&figures).expect("time's figures");
    // "Command exited with non-zero status N" comes first when it did.
    let last = text.lines().last().unwrap_or_default();
    let f: Vec<f64> = last
        .split_whitespace()
        .map(|w| {
            w.parse()
                .unwrap_or_else(|_| panic!("time printed {text:?}"))
        })
        .collect();
    assert_eq!(f.len(), 3, "time printed {text:?}");
    Cost {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        max_rss_kib: f[0] as u64,
        cpu: f[1] + f[2],
        wall,
    }
}

/// The three commands a hostile process is read by.
const COMMANDS: [&str; 3] = ["ps", "libs", "inspect"];

fn args_for<'a>(command: &'a str, pid: &'a str) -> Vec<&'a str> {
    match command {
        "libs" => vec!["libs", "-p", pid, "--json"],
        other => vec![other, pid, "--json"],
    }
}

/// Prints one figure for the reliability chapter (`make hostile` shows them).
fn report(what: &str, n: usize, command: &str, c: &Cost) {
    eprintln!(
        "hostile-scale: {what} N={n} {command}: exit {} peak {:.1} MiB cpu {:.2} s wall {:.2} s",
        c.code,
        c.max_rss_kib as f64 / 1024.0,
        c.cpu,
        c.wall
    );
}

/// Whether this test can run: root (to switch to uid 65534 and raise vm.max_map_count),
/// a C compiler and GNU time.
fn can_run() -> bool {
    if !is_root() {
        skip("needs root: the attacker runs as uid 65534, and vm.max_map_count may be raised");
        return false;
    }
    if Command::new("cc").arg("--version").output().is_err() {
        skip("needs cc");
        return false;
    }
    if !std::path::Path::new(TIME).exists() {
        skip("needs GNU time (/usr/bin/time) to read solab's peak RSS");
        return false;
    }
    true
}

fn attacker() -> Compiled {
    Compiled::from_source("attacker", ATTACKER_C, &["-O2", "-Wall", "-Werror"], &[])
}

/// What solab costs for a small process (a `sleep`), per command: the base every bound
/// adds to.
fn base_rss_kib(command: &str) -> u64 {
    let mut sleep = Command::new("sleep");
    sleep.arg("60");
    let sleeper = Proc::spawn("sleep", sleep, "");
    let pid = sleeper.pid().to_string();
    let c = measure(&args_for(command, &pid));
    assert_eq!(c.code, 0, "{command} of a sleep: {}", c.stderr);
    c.max_rss_kib
}

/// Runs each command on the attacker `mode` at N/4 and N; checks each run with `check`,
/// its peak RSS against `base + per_item * n` KiB, and that the CPU time at N is under eight
/// times that at N/4 (linear work is four times, quadratic sixteen; a busy machine's cache
/// misses and the clock's tick on a tenth of a second took one linear run to 6.2 times).
fn scale(mode: &str, per_item_bytes: u64, check: impl Fn(&str, usize, &Cost)) {
    let n = size();
    let sizes = [n / 4, n];
    let _count = MapCount::at_least(n + 10_000);
    let prog = attacker();
    let mut cpu = vec![Vec::new(); COMMANDS.len()];
    for &k in &sizes {
        let a = Attacker::start(&prog, mode, k);
        let pid = a.pid();
        for (i, command) in COMMANDS.iter().enumerate() {
            let base = base_rss_kib(command);
            let c = measure(&args_for(command, &pid));
            report(mode, k, command, &c);
            check(command, k, &c);
            let bound = base + (per_item_bytes * k as u64).div_ceil(1024);
            assert!(
                c.max_rss_kib <= bound,
                "{command} of {mode} N={k}: peak {} KiB, bound {bound} KiB ({base} KiB for \
                 a small process and {per_item_bytes} bytes a mapping)",
                c.max_rss_kib
            );
            cpu[i].push(c.cpu);
        }
    }
    for (i, command) in COMMANDS.iter().enumerate() {
        let (small, large) = (cpu[i][0], cpu[i][1]);
        // Below a few hundredths of a second the clock's tick decides: nothing to compare.
        if large < 0.2 {
            continue;
        }
        assert!(
            large < 8.0 * small.max(0.01),
            "{command} of {mode}: {large:.2} s of CPU at N={n} against {small:.2} s at N={}: \
             not linear",
            n / 4
        );
    }
}

/// The JSON `errors` of a run, as text, for messages.
fn json(c: &Cost) -> serde_json::Value {
    serde_json::from_str(&c.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON ({e}); exit {}\nstderr: {}",
            c.code,
            c.stderr.chars().take(2000).collect::<String>()
        )
    })
}

#[test]
fn many_mappings_of_one_long_path_cost_one_name() {
    if !can_run() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // 1 KiB a mapping: the entry, its pagemap word and smaps figures; not its 3,850-byte
    // name, which would be 4 KiB alone.
    scale("static", 1024, |command, n, c| {
        assert_eq!(c.code, 0, "{command} N={n}: {}", c.stderr);
        json(c);
    });
}

#[test]
fn names_longer_than_path_max_are_read_one_by_one() {
    if !can_run() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    scale("long", 1024, |command, n, c| {
        assert_eq!(c.code, 0, "{command} N={n}: {}", c.stderr);
        let v = json(c);
        if command == "libs" {
            // The rest of the process is read by the ioctl, not dropped with a cut text:
            // its C library is there, and its anonymous memory.
            let text = v.to_string();
            assert!(
                text.contains("libc.so"),
                "libs N={n}: no libc in {text:.2000}"
            );
        }
    });
}

#[test]
fn distinct_objects_cost_linear_time() {
    if !can_run() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // 4 KiB an object: its plan, its path (short here), its page's word and report.
    scale("distinct", 4096, |command, n, c| {
        assert_eq!(c.code, 0, "{command} N={n}: {}", c.stderr);
        json(c);
    });
}

#[test]
fn a_moving_map_is_bounded_and_never_cut_silently() {
    if !can_run() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let n = size();
    let _count = MapCount::at_least(n + 10_000);
    let prog = attacker();
    let a = Attacker::start(&prog, "moving", n);
    let pid = a.pid();
    let max_map_count: u64 = std::fs::read_to_string(MAX_MAP_COUNT)
        .expect("read")
        .trim()
        .parse()
        .expect("a number");
    for command in COMMANDS {
        let base = base_rss_kib(command);
        let c = measure(&args_for(command, &pid));
        report("moving", n, command, &c);
        // Read whole, or refused by name: the limit and the process named.
        if c.code != 0 {
            let said = format!("{}{}", c.stdout, c.stderr);
            assert!(
                said.contains(&format!("/proc/{pid}/maps")) && said.contains("a limit of solab"),
                "{command}: exit {} without naming the process and the limit: {said:.2000}",
                c.code
            );
        }
        // Read whole: a mapping's smaps figures are null only where the report says why,
        // naming the process's smaps (smaps, read after the map, may pass its limit).
        if command == "inspect" && c.code == 0 {
            let v = json(&c);
            let text = v["objects"].to_string();
            let said = v["skipped"].to_string();
            assert!(
                !text.contains("\"rss\":null")
                    || said.contains(&format!("/proc/{pid}/smaps")) && said.contains("are null"),
                "inspect of a moving map: null figures without a word: {said:.2000}"
            );
        }
        // At most twice vm.max_map_count (at least 131,072) entries of ~100 bytes, each
        // name once: never a name a mapping.
        let entries = (2 * max_map_count).max(1 << 17);
        let bound = base + entries * 512 / 1024;
        assert!(
            c.max_rss_kib <= bound,
            "{command} of a moving map: peak {} KiB, bound {bound} KiB",
            c.max_rss_kib
        );
    }
}

/// Distinct files with long paths across processes: what the run keeps of their paths is
/// bounded (`scan::MAX_RUN_PATH_BYTES`, 256 MiB: each object's path held twice),
/// and the process whose files would pass it is named, with the limit, not read.
#[test]
fn the_paths_kept_for_a_run_are_bounded_and_the_process_past_it_named() {
    if !can_run() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // Three processes of 13,000 files of ~3,800-byte paths: 49 MB of names each (under a
    // process's 64 MiB), 297 MB held twice in all.
    let n = 13_000;
    let _count = MapCount::at_least(n + 10_000);
    let prog = attacker();
    let attackers: Vec<Attacker> = (0..3).map(|_| Attacker::start(&prog, "deep", n)).collect();
    let pids: Vec<String> = attackers.iter().map(Attacker::pid).collect();
    for command in ["ps", "libs"] {
        let base = base_rss_kib(command);
        // The pids given (a whole-machine scan, -a or -u alone, names it the same way on a
        // `not read:` line and reads the others).
        let mut args = vec![command, "--json"];
        args.extend(pids.iter().map(String::as_str));
        let c = measure(&args);
        report("deep x3", n, command, &c);
        assert_eq!(
            c.code, 2,
            "{command}: a pid given not read fails the run: {}",
            c.stderr
        );
        let refused = pids.iter().find(|p| {
            c.stderr.lines().any(|l| {
                l.contains(&format!("pid {p}: "))
                    && l.contains("more than 256 MiB: a limit of solab; the process is not read")
            })
        });
        assert!(
            refused.is_some(),
            "{command}: no attacker ({pids:?}) named past the limit: {:.3000}",
            c.stderr
        );
        // The paths kept (256 MiB, and what libs keeps of each object beside them), 4 KiB
        // an object read, and a process's names while it is read (64 MiB a worker):
        // measured 402 MiB (ps) and 660 MiB (libs).
        let bound = base + (448 + 2 * 64) * 1024 + 4 * 3 * n as u64;
        assert!(
            c.max_rss_kib <= bound,
            "{command}: peak {} KiB, bound {bound} KiB",
            c.max_rss_kib
        );
    }
}

/// Several processes, each holding nearly a process's worth of names (16,000 hard links
/// of one file, each a ~3,770-byte path: 58 MiB), read by several workers at once: the
/// names held by all the workers together are bounded
/// (`kernel::process::maps_budget`: the earliest process being read holds up to its own
/// 64 MiB, all the others together 64 MiB), not a worker's 64 MiB times the workers. A
/// worker past the run's budget waits for another to finish: every process is read, and
/// the answer is the one a single worker gives.
#[test]
fn the_names_held_by_all_the_workers_are_bounded() {
    if !can_run() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let n = 16_000;
    let _count = MapCount::at_least(n + 10_000);
    let prog = attacker();
    let attackers: Vec<Attacker> = (0..4).map(|_| Attacker::start(&prog, "links", n)).collect();
    let pids: Vec<String> = attackers.iter().map(Attacker::pid).collect();
    let joined = pids.join(",");
    for command in ["ps", "libs"] {
        let base = base_rss_kib(command);
        let run = |threads: &str| {
            let mut args = vec![command, "--threads", threads, "--json"];
            match command {
                "libs" => args.extend(["-p", joined.as_str()]),
                _ => args.extend(pids.iter().map(String::as_str)),
            }
            let c = measure(&args);
            report("links x4", n, &format!("{command} --threads {threads}"), &c);
            assert_eq!(c.code, 0, "{command} --threads {threads}: {}", c.stderr);
            c
        };
        let one = run("1");
        let four = run("4");
        // The same answer: each process's resident memory (ps) or each object's (libs), no
        // error; PSS and USS left out: the C library's sharers come and go between two runs
        // (a page of libc that another process stopped sharing becomes this one's alone).
        let answer = |c: &Cost| {
            let v = json(c);
            let rows: Vec<String> = match command {
                "libs" => v["objects"]
                    .as_array()
                    .expect("objects")
                    .iter()
                    .map(|o| format!("{} {} {}", o["path"], o["procs"], o["resident_pages"]))
                    .collect(),
                _ => v["processes"]
                    .as_array()
                    .expect("processes")
                    .iter()
                    .map(|p| format!("{} {} {}", p["pid"], p["rss"], p["comm"]))
                    .collect(),
            };
            // In an order of their own: the table's follows PSS, which the sharers move.
            let mut rows = rows;
            rows.sort();
            (rows, v["errors"].to_string(), v["counts"].to_string())
        };
        let (rows, errors, counts) = answer(&four);
        assert_eq!(
            (&rows, &errors, &counts),
            (&answer(&one).0, &answer(&one).1, &answer(&one).2),
            "{command}: four workers answer what one does"
        );
        assert!(!rows.is_empty() && errors == "[]", "{command}: {errors}");
        // Two processes' names at most (the earliest's 58 MiB and 64 MiB for the others)
        // and their entries. Four workers without the budget: 254 MiB (ps) and 257 MiB
        // (libs), four processes' names.
        let bound = base + 160 * 1024;
        assert!(
            four.max_rss_kib <= bound,
            "{command} --threads 4 of 4 processes of 58 MiB of names: peak {} KiB, bound \
             {bound} KiB",
            four.max_rss_kib
        );
    }
}
