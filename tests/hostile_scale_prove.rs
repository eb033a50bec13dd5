//! `prove` over many forked children: N sleeping children of one parent share libc's
//! written data pages copy-on-write, and `prove -o libc.so.6` over the family compares
//! them. Its work and its memory grow linearly with the processes: the ratio between N and
//! 4N children is measured in one test (CPU time, not wall time, so other tests running at
//! the same time weigh less), never an absolute time.

use crate::util::{self, Compiled, Proc};
use std::process::{Command, Stdio};

/// A parent that forks `argv[1]` children, each asleep until the parent dies, prints
/// `ready` and their pids, and waits for its stdin to close.
const FORKER: &str = r#"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1;
    pid_t parent = getpid();
    printf("ready");
    for (int i = 0; i < n; i++) {
        fflush(stdout);
        pid_t p = fork();
        if (p < 0) { perror("fork"); return 1; }
        if (p == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent) _exit(0);
            for (;;) pause();
        }
        printf(" %d", (int)p);
    }
    printf("\n");
    fflush(stdout);
    char b[64];
    while (read(0, b, sizeof b) > 0) {}
    return 0;
}
"#;

/// Runs a program and reports its own peak memory and CPU time (wait4's rusage).
const USAGE: &str = r#"
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (argc < 2) return 125;
    pid_t pid = fork();
    if (pid < 0) return 125;
    if (pid == 0) { execvp(argv[1], argv + 1); _exit(127); }
    int status; struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid) return 125;
    long cpu_us = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000L
        + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
    fprintf(stderr, "\npeak_kib=%ld cpu_us=%ld\n", ru.ru_maxrss, cpu_us);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 125;
}
"#;

/// One `prove --json -o libc.so.6` over the parent and its `n` children: peak KiB and CPU
/// microseconds, the best of two runs.
fn prove_family(usage: &Compiled, forker: &Compiled, n: usize) -> (i64, i64) {
    let mut cmd = Command::new(&forker.path);
    cmd.arg(n.to_string());
    let mut family = Proc::spawn("forker", cmd, "");
    // Forking takes its time at 50,000 children (about 1,000 a second here).
    family.expect_within(
        "ready",
        std::time::Duration::from_secs(30) + std::time::Duration::from_millis(2) * n as u32,
    );
    let line = family.seen.last().cloned().expect("the ready line");
    let mut pids = vec![family.pid().to_string()];
    pids.extend(line.split_whitespace().skip(1).map(str::to_string));
    assert_eq!(pids.len(), n + 1, "forker printed {line}");
    let mut best = (i64::MAX, i64::MAX);
    for _ in 0..2 {
        let out = Command::new(&usage.path)
            .arg(&util::artifacts().solab)
            .args(["prove", "--json", "-o", "libc.so.6"])
            .args(&pids)
            .stdin(Stdio::null())
            .output()
            .expect("run solab under usage");
        let run = util::finish(out);
        assert!(
            run.code == 0 || run.code == 3,
            "prove over {n} children: exit {}: {}",
            run.code,
            run.stderr
        );
        let proof = run.json();
        let families = proof["families"].as_array().expect("families");
        assert_eq!(families.len(), 1, "one fork family: {families:?}");
        assert_eq!(
            families[0]["pids"].as_array().map(Vec::len),
            Some(n + 1),
            "the parent and its {n} children are one family"
        );
        assert_eq!(families[0]["root"].as_i64(), Some(family.pid() as i64));
        let data = &proof["claims"][1];
        assert_eq!(data["status"], "holds", "{data:#}");
        assert!(
            data["counts"]["inherited"].as_u64() > Some(0),
            "the children share written pages of libc copy-on-write: {data:#}"
        );
        let field = |key: &str| -> i64 {
            run.stderr
                .split_whitespace()
                .find_map(|w| w.strip_prefix(key))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no {key} from usage: {}", run.stderr))
        };
        best = (best.0.min(field("peak_kib=")), best.1.min(field("cpu_us=")));
    }
    family.kill();
    best
}

/// The larger number of children, `SOLAB_PROVE_N` (default 1,200; `make hostile` passes
/// `HOSTILE_PROVE_N`); the smaller is a quarter of it.
fn children() -> usize {
    std::env::var("SOLAB_PROVE_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1200)
}

/// kernel.pid_max raised to at least a number, put back on Drop.
struct PidMax(Option<String>);

const PID_MAX: &str = "/proc/sys/kernel/pid_max";

impl PidMax {
    fn at_least(n: usize) -> PidMax {
        let old = std::fs::read_to_string(PID_MAX).expect("read kernel.pid_max");
        if old.trim().parse::<usize>().expect("a number") >= n {
            return PidMax(None);
        }
        std::fs::write(PID_MAX, n.to_string()).expect("raise kernel.pid_max");
        PidMax(Some(old))
    }
}

impl Drop for PidMax {
    fn drop(&mut self) {
        if let Some(old) = &self.0 {
            let _ = std::fs::write(PID_MAX, old.trim());
        }
    }
}

/// N/4 and N children (300 and 1,200 unless `SOLAB_PROVE_N` says): four times the
/// processes cost less than six times the CPU time (pairs of processes would cost
/// sixteen; fixed costs make a linear ratio below four), and what each process adds to
/// the peak memory stays bounded.
#[test]
fn prove_grows_linearly_with_forked_children() {
    if !util::is_root() {
        util::skip("prove compares frames of forked children only with frame numbers (root)");
        return;
    }
    let usage = Compiled::from_source("usage", USAGE, &["-O2"], &[]);
    let forker = Compiled::from_source("forker", FORKER, &["-O2"], &[]);
    let big = children();
    let n = big / 4;
    // Room for the children beside what runs already (pid_max is 32,768 by default).
    let _pids = PidMax::at_least((2 * big + 32_768).next_power_of_two());
    let (small_kib, small_us) = prove_family(&usage, &forker, n);
    let (large_kib, large_us) = prove_family(&usage, &forker, big);
    eprintln!(
        "prove -o libc.so.6: {n} children {small_kib} KiB peak, {small_us} us CPU; \
         {big} children {large_kib} KiB peak, {large_us} us CPU"
    );
    let ratio = large_us as f64 / small_us.max(1) as f64;
    assert!(
        ratio < 6.0,
        "{big} children took {ratio:.1} times the CPU time of {n} ({large_us} us against \
         {small_us} us): the work grows faster than the processes"
    );
    // What each process adds to the peak: the report holds each page of libc once a
    // process, and nothing a pair of processes.
    let per_process = (large_kib - small_kib) / (big - n) as i64;
    assert!(
        per_process < PER_PROCESS_KIB,
        "{} more children took {} KiB more peak memory ({per_process} KiB each; {small_kib} \
         KiB for {n}, {large_kib} KiB for {big})",
        big - n,
        large_kib - small_kib
    );
}

/// The most peak memory each process of the proof may add.
const PER_PROCESS_KIB: i64 = 96;
