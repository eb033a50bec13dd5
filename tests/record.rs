//! `solab family --record`: the pages a forked child copies are given to the functions that
//! wrote them. A C program built here with frame pointers fills a region, forks, and its
//! child, told to go once the recording runs, calls two named functions that write 300 and
//! 700 pages of the inherited region; solab must give each function its pages (exactly, or
//! short by no more than the samples the kernel reports lost).

use crate::util::{
    Compiled, KillOnDrop, Proc, Scratch, artifacts, as_nobody, finish, is_root, skip,
};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const FIXTURE: &str = r#"
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096

__attribute__((noinline)) void write_three_hundred(volatile char *p) {
    for (int i = 0; i < 300; i++) p[(size_t)i * PAGE] = 1;
}

__attribute__((noinline)) void write_seven_hundred(volatile char *p) {
    for (int i = 0; i < 700; i++) p[(size_t)i * PAGE] = 2;
}

int main(void) {
    size_t pages = 1100;
    char *region = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED) return 1;
    /* Small pages only: a huge page is copied by the kernel in other ways. */
    madvise(region, pages * PAGE, MADV_NOHUGEPAGE);
    memset(region, 7, pages * PAGE);
    pid_t c = fork();
    if (c < 0) return 1;
    if (c == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        char line[64];
        if (!fgets(line, sizeof line, stdin)) _exit(1);
        if (strncmp(line, "fork", 4) == 0) {
            /* A grandchild forked while recorded writes the first 300 pages. */
            pid_t g = fork();
            if (g == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                write_three_hundred(region);
                printf("grandchild=%d done\n", (int)getpid());
                fflush(stdout);
            }
            for (;;) pause();
        }
        write_three_hundred(region);
        write_seven_hundred(region + 400 * PAGE);
        printf("done\n");
        fflush(stdout);
        for (;;) pause();
    }
    printf("child=%d\n", (int)c);
    fflush(stdout);
    int st;
    waitpid(c, &st, 0);
    return 0;
}
"#;

fn fixture() -> Compiled {
    Compiled::from_source(
        "cow_writer",
        FIXTURE,
        // -O0: every function sets up its frame. With -O1 gcc 12 leaves the frame out of
        // a leaf function even with -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer,
        // and the kernel's walk then skips the leaf's caller.
        // -g: the DWARF `--lines` reads.
        &["-O0", "-g", "-fno-omit-frame-pointer"],
        &[],
    )
}

/// What the fixture's child is told once the recording runs, and the line it prints when
/// it has written.
struct Cue {
    send: &'static str,
    done: &'static str,
}

/// The child writes 300 then 700 pages.
const GO: Cue = Cue {
    send: "go",
    done: "done",
};

/// solab started with `args`: its stdout drained beside (so a long document never blocks
/// it) and the first line of its stderr read (it says there that it records, or why not).
struct Started {
    child: std::process::Child,
    stdout: std::thread::JoinHandle<String>,
    stderr: BufReader<std::process::ChildStderr>,
    first: String,
}

fn start_solab(mut solab: Command, args: &[&str]) -> Started {
    let mut child = solab
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run solab");
    let mut out = child.stdout.take().expect("stdout");
    let stdout = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut text);
        text
    });
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut first = String::new();
    stderr.read_line(&mut first).expect("read solab's stderr");
    Started {
        child,
        stdout,
        stderr,
        first,
    }
}

/// Runs `solab` (a command made by the caller: as this user or as nobody) with `args`,
/// gives the cue once solab says it records, and returns solab's run and the line the
/// fixture printed when done (empty when solab never recorded).
fn run_solab(
    solab: Command,
    host: &mut Proc,
    args: &[&str],
    cue: &Cue,
) -> (crate::util::Run, String) {
    let Started {
        child: mut run,
        stdout: reader,
        stderr: mut err,
        first: line,
    } = start_solab(solab, args);
    let mut done = String::new();
    if line.contains("recording the page faults") {
        host.send(cue.send);
        done = host.expect(cue.done);
    }
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut err, &mut rest);
    let out = reader.join().expect("stdout reader");
    let status = run.wait().expect("wait for solab");
    let run = finish(std::process::Output {
        status,
        stdout: out.into_bytes(),
        stderr: format!("{line}{rest}").into_bytes(),
    });
    (run, done)
}

/// `family --record 2 PARENT --json` with `extra`, the child told to go: the JSON, or
/// the error when the command failed.
fn record(solab: Command, host: &mut Proc, parent: i32, extra: &[&str]) -> Result<Value, String> {
    let parent = parent.to_string();
    let mut args = vec!["family", "--record", "2", &parent, "--json"];
    args.extend_from_slice(extra);
    let (run, _) = run_solab(solab, host, &args, &GO);
    if run.code != 0 {
        return Err(run.stderr);
    }
    Ok(run.json())
}

/// The report of process `pid`.
fn member(report: &Value, pid: i32) -> &Value {
    report["processes"]
        .as_array()
        .expect("processes")
        .iter()
        .find(|m| m["pid"] == pid)
        .unwrap_or_else(|| panic!("pid {pid} in {report:#}"))
}

/// The bytes copied that `child`'s report gives to the function named `name`.
fn copied_by(report: &Value, child: i32, name: &str) -> u64 {
    member(report, child)["functions"]
        .as_array()
        .expect("functions")
        .iter()
        .filter(|f| f["function"].as_str().is_some_and(|f| f.ends_with(name)))
        .map(|f| f["copied"].as_u64().expect("copied"))
        .sum()
}

/// The fixture built without frame pointers: the kernel's walk cannot go past the
/// object's own functions.
fn fixture_without_frame_pointers() -> Compiled {
    Compiled::from_source(
        "cow_nofp",
        FIXTURE,
        &["-O0", "-g", "-fomit-frame-pointer"],
        &[],
    )
}

/// The chain rows of `child` whose innermost frame ends with `name`.
fn chains_of<'r>(report: &'r Value, child: i32, name: &str) -> Vec<&'r Value> {
    member(report, child)["chains"]
        .as_array()
        .expect("chains")
        .iter()
        .filter(|c| c["chain"][0].as_str().is_some_and(|f| f.ends_with(name)))
        .collect()
}

/// The family's `chains_stop` row of `object`.
fn stop_row<'r>(report: &'r Value, object: &str) -> Option<&'r Value> {
    report["family"]["chains_stop"]
        .as_array()
        .expect("chains_stop")
        .iter()
        .find(|s| s["object"] == object)
}

fn check_attribution(report: &Value, child: i32) {
    assert_eq!(report["schema"], "solab.family-record.v1");
    let lost = report["recording"]["lost"].as_u64().expect("lost");
    for (name, pages) in [("!write_three_hundred", 300), ("!write_seven_hundred", 700)] {
        let got = copied_by(report, child, name) / 4096;
        assert!(
            got <= pages && got + lost >= pages,
            "{name}: {got} pages, {pages} written, {lost} lost:\n{report:#}"
        );
    }
    // The callers: each function's chain goes on to main (frame pointers throughout).
    let m = &report["processes"]
        .as_array()
        .expect("processes")
        .iter()
        .find(|m| m["pid"] == child)
        .expect("child")["chains"];
    let chain = m
        .as_array()
        .expect("chains")
        .iter()
        .find(|c| {
            c["chain"][0]
                .as_str()
                .is_some_and(|f| f.ends_with("!write_seven_hundred"))
        })
        .unwrap_or_else(|| panic!("a chain of write_seven_hundred in {m:#}"));
    assert!(
        chain["chain"][1]
            .as_str()
            .is_some_and(|f| f.ends_with("!main")),
        "write_seven_hundred called from main: {chain:#}"
    );
}

/// The flame graph names both functions, each in a frame whose tooltip gives its bytes, a
/// multiple of the page size.
fn check_flame(svg: &str) {
    let opt = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..roxmltree::ParsingOptions::default()
    };
    let doc = roxmltree::Document::parse_with_options(svg, opt).expect("well-formed SVG");
    let titles: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("title"))
        .filter_map(|n| n.text())
        .collect();
    for name in ["!write_three_hundred (", "!write_seven_hundred ("] {
        let t = titles
            .iter()
            .find(|t| t.contains(name))
            .unwrap_or_else(|| panic!("a frame of {name} among {titles:?}"));
        let bytes: u64 = t[t.find(name).expect("name") + name.len()..]
            .split(' ')
            .next()
            .expect("bytes")
            .replace(',', "")
            .parse()
            .unwrap_or_else(|_| panic!("bytes in {t}"));
        assert!(bytes > 0 && bytes % 4096 == 0, "{t}");
    }
}

fn start(host: Command) -> (Proc, i32, i32, KillOnDrop) {
    let mut p = Proc::spawn("cow_writer", host, "");
    let line = p.expect("child=");
    let child: i32 = line["child=".len()..].trim().parse().expect("child pid");
    let parent = p.pid();
    (p, parent, child, KillOnDrop(vec![child]))
}

#[test]
fn copies_are_given_to_the_functions_that_wrote_them() {
    let bin = fixture();
    let (mut host, parent, child, _kill) = start(Command::new(&bin.path));
    let scratch = Scratch::new();
    let flame = scratch.dir.join("copied.svg");
    let svg = ["--svg", flame.to_str().expect("utf-8 path")];
    match record(Command::new(&artifacts().solab), &mut host, parent, &svg) {
        Ok(report) => {
            check_attribution(&report, child);
            check_flame(&std::fs::read_to_string(&flame).expect("the flame graph"));
        }
        Err(e) if e.contains("perf_event_paranoid") => {
            skip(&format!("the kernel refuses to record page faults: {e}"))
        }
        Err(e) => panic!("solab family --record failed: {e}"),
    }
}

/// The line of the fixture's source that holds `text` (1-based, as DWARF counts).
fn source_line(text: &str) -> usize {
    FIXTURE
        .lines()
        .position(|l| l.contains(text))
        .expect("the line in the fixture")
        + 1
}

#[test]
fn lines_name_the_source_line_that_wrote() {
    let bin = fixture();
    let (mut host, parent, child, _kill) = start(Command::new(&bin.path));
    let report = match record(
        Command::new(&artifacts().solab),
        &mut host,
        parent,
        &["--lines"],
    ) {
        Ok(report) => report,
        Err(e) if e.contains("perf_event_paranoid") => {
            return skip(&format!("the kernel refuses to record page faults: {e}"));
        }
        Err(e) => panic!("solab family --record --lines failed: {e}"),
    };
    let lost = report["recording"]["lost"].as_u64().expect("lost");
    for (name, store, pages) in [
        ("!write_three_hundred", "= 1;", 300),
        ("!write_seven_hundred", "= 2;", 700),
    ] {
        // The store's line of the function: the fault is on its instruction.
        let named = format!("{name} (");
        let at = format!("cow_writer.c:{})", source_line(store));
        let got: u64 = report["processes"]
            .as_array()
            .expect("processes")
            .iter()
            .filter(|m| m["pid"] == child)
            .flat_map(|m| m["functions"].as_array().expect("functions"))
            .filter(|f| {
                f["function"]
                    .as_str()
                    .is_some_and(|f| f.contains(&named) && f.ends_with(&at))
            })
            .map(|f| f["copied"].as_u64().expect("copied"))
            .sum::<u64>()
            / 4096;
        assert!(
            got <= pages && got + lost >= pages,
            "{named}…{at}: {got} pages, {pages} written, {lost} lost:\n{report:#}"
        );
    }
    // The caller's frame has its line too: the call in main.
    let chains = &report["processes"]
        .as_array()
        .expect("processes")
        .iter()
        .find(|m| m["pid"] == child)
        .expect("child")["chains"];
    let call = format!(
        "cow_writer.c:{})",
        source_line("write_seven_hundred(region")
    );
    assert!(
        chains
            .as_array()
            .expect("chains")
            .iter()
            .any(|c| c["chain"][1]
                .as_str()
                .is_some_and(|f| f.contains("!main (") && f.ends_with(&call))),
        "main's call of write_seven_hundred at {call}: {chains:#}"
    );
}

/// Built with frame pointers, the writers' chains reach glibc's caller of main and stop
/// nowhere early; built without, they stop in the program itself, the text says so under
/// the family's table, and the weak check finds no frame set up in its functions.
#[test]
fn chains_that_stop_before_an_entry_name_the_object_they_stop_in() {
    let with = fixture();
    let (mut host, parent, child, _kill) = start(Command::new(&with.path));
    let Some(report) = recorded(record(
        Command::new(&artifacts().solab),
        &mut host,
        parent,
        &[],
    )) else {
        return;
    };
    for name in ["!write_three_hundred", "!write_seven_hundred"] {
        let chains = chains_of(&report, child, name);
        assert!(!chains.is_empty(), "{name} in {report:#}");
        for c in chains {
            assert!(c["stops_in"].is_null(), "a whole chain: {c:#}");
        }
    }
    assert!(stop_row(&report, "cow_writer").is_none(), "{report:#}");
    drop(host);

    let without = fixture_without_frame_pointers();
    let (mut host, parent, child, _kill) = start(Command::new(&without.path));
    let report = record(Command::new(&artifacts().solab), &mut host, parent, &[])
        .unwrap_or_else(|e| panic!("recorded before, not now: {e}"));
    let lost = report["recording"]["lost"].as_u64().expect("lost");
    for name in ["!write_three_hundred", "!write_seven_hundred"] {
        for c in chains_of(&report, child, name) {
            assert_eq!(c["stops_in"], "cow_nofp", "{c:#}");
        }
    }
    let row = stop_row(&report, "cow_nofp").unwrap_or_else(|| panic!("cow_nofp in {report:#}"));
    let pages = row["copied"].as_u64().expect("copied") / 4096;
    assert!(
        pages <= 1000 && pages + lost >= 1000,
        "the writers' 1000 pages under chains that stop in cow_nofp: {row:#}"
    );
    let (framed, sampled) = (
        row["prologues"]["with_frame"].as_u64().expect("with_frame"),
        row["prologues"]["sampled"].as_u64().expect("sampled"),
    );
    assert!(sampled >= 3 && framed == 0, "{row:#}");
    // The text: one line under the family's table.
    drop(host);
    let (mut host, parent, _child, _kill2) = start(Command::new(&without.path));
    let parent = parent.to_string();
    let args = ["family", "--record", "2", &parent];
    let (run, _) = run_solab(Command::new(&artifacts().solab), &mut host, &args, &GO);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let family = run
        .stdout
        .split("\nfamily (")
        .nth(1)
        .expect("the family's table");
    assert!(
        family
            .lines()
            .any(|l| l.starts_with("  chain-stops: ")
                && l.contains(" stop in cow_nofp (weak: 0 of ")),
        "{}",
        run.stdout
    );
}

#[test]
fn an_unprivileged_user_records_its_own_processes() {
    if !is_root() {
        return skip("needs root to switch to uid 65534");
    }
    let paranoid: i32 = std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(4);
    let bin = fixture();
    let (mut host, parent, child, _kill) = start(as_nobody(&bin.path));
    let solab = as_nobody(&artifacts().solab);
    let result = record(solab, &mut host, parent, &[]);
    if paranoid > 2 {
        let e = result.expect_err("perf_event_paranoid above 2 forbids it");
        assert!(e.contains("perf_event_paranoid is"), "{e}");
        return;
    }
    let report = result.unwrap_or_else(|e| panic!("recording its own process: {e}"));
    assert_eq!(
        report["weak"], true,
        "no frame numbers without CAP_SYS_ADMIN"
    );
    check_attribution(&report, child);
}

/// Skips the test when the kernel refuses to record (perf_event_paranoid), else fails.
fn recorded(result: Result<Value, String>) -> Option<Value> {
    match result {
        Ok(report) => Some(report),
        Err(e) if e.contains("perf_event_paranoid is") => {
            skip(&format!("the kernel refuses to record page faults: {e}"));
            None
        }
        Err(e) => panic!("solab family --record failed: {e}"),
    }
}

#[test]
fn a_child_forked_while_recording_is_recorded_too() {
    let bin = fixture();
    let (mut host, parent, child, _kill) = start(Command::new(&bin.path));
    let parent_s = parent.to_string();
    let args = ["family", "--record", "2", &parent_s, "--json"];
    let cue = Cue {
        send: "fork",
        done: "grandchild=",
    };
    let (run, done) = run_solab(Command::new(&artifacts().solab), &mut host, &args, &cue);
    let Some(report) = recorded(if run.code == 0 {
        Ok(run.json())
    } else {
        Err(run.stderr)
    }) else {
        return;
    };
    let grandchild: i32 = done["grandchild=".len()..]
        .split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("a pid in {done:?}"));
    let _kill_grandchild = KillOnDrop(vec![grandchild]);
    // Its events were inherited from the child's: no event was opened on it.
    let g = member(&report, grandchild);
    assert_eq!(g["ppid"], child, "{g:#}");
    assert_eq!(g["born_in_window"], true, "{g:#}");
    let lost = report["recording"]["lost"].as_u64().expect("lost");
    let got = copied_by(&report, grandchild, "!write_three_hundred") / 4096;
    assert!(
        got <= 300 && got + lost >= 300,
        "the grandchild's write_three_hundred: {got} pages, 300 written, {lost} lost:\n{report:#}"
    );
    // The child itself wrote nothing.
    assert_eq!(copied_by(&report, child, "!write_seven_hundred"), 0);
}

#[test]
fn watch_prints_what_each_interval_copied_then_the_whole_recording() {
    let bin = fixture();
    let (mut host, parent, _child, _kill) = start(Command::new(&bin.path));
    let parent_s = parent.to_string();
    let args = ["family", "--record", "3", "--watch", "1", &parent_s];
    let (run, _) = run_solab(Command::new(&artifacts().solab), &mut host, &args, &GO);
    if run.code != 0 && run.stderr.contains("perf_event_paranoid is") {
        return skip(&format!(
            "the kernel refuses to record page faults: {}",
            run.stderr
        ));
    }
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (intervals, whole) = run
        .stdout
        .split_once("\nRecorded ")
        .unwrap_or_else(|| panic!("the whole recording after the intervals:\n{}", run.stdout));
    // Two intervals end before the 3 s do, the last one with them.
    let heads: Vec<&str> = intervals.lines().filter(|l| l.starts_with("── ")).collect();
    assert_eq!(heads.len(), 3, "{}", run.stdout);
    assert!(heads[0].starts_with("── 0.0 s to "), "{}", heads[0]);
    assert!(!heads[1].contains("(the last, "), "{}", heads[1]);
    assert!(heads[2].contains("(the last, "), "{}", heads[2]);
    // The child wrote right after the cue: each function is in an interval (the first,
    // unless the machine is slow), and in the whole recording's table.
    for name in ["!write_three_hundred", "!write_seven_hundred"] {
        assert!(
            intervals.contains(name),
            "{name} in an interval:\n{}",
            run.stdout
        );
        assert!(
            whole.contains(name),
            "{name} in the whole recording:\n{}",
            run.stdout
        );
    }
}

/// With --json, the intervals are in the one document: the last one flagged with its real
/// length, and their faults add up to the whole recording's.
#[test]
fn watch_with_json_keeps_every_interval_in_the_one_document() {
    let bin = fixture();
    let (mut host, parent, child, _kill) = start(Command::new(&bin.path));
    let parent_s = parent.to_string();
    let args = [
        "family", "--record", "3", "--watch", "1", "--json", &parent_s,
    ];
    let (run, _) = run_solab(Command::new(&artifacts().solab), &mut host, &args, &GO);
    let Some(report) = recorded(if run.code == 0 {
        Ok(run.json())
    } else {
        Err(run.stderr)
    }) else {
        return;
    };
    let intervals = report["intervals"].as_array().expect("intervals");
    assert_eq!(intervals.len(), 3, "{report:#}");
    let last = &intervals[2];
    assert_eq!(last["last"], true, "{last:#}");
    assert!(intervals[..2].iter().all(|i| i["last"] == false));
    let length = last["to"].as_f64().expect("to") - last["from"].as_f64().expect("from");
    let said = last["recording"]["stopped_after"]
        .as_f64()
        .expect("the last interval's length");
    assert!((length - said).abs() < 1e-6, "{last:#}");
    let faults: u64 = intervals
        .iter()
        .map(|i| i["recording"]["faults"].as_u64().expect("faults"))
        .sum();
    assert_eq!(faults, report["recording"]["faults"], "{report:#}");
    // The writers are in the intervals, as in the whole recording.
    let in_intervals: u64 = intervals
        .iter()
        .flat_map(|i| i["processes"].as_array().expect("processes"))
        .filter(|m| m["pid"] == child)
        .flat_map(|m| m["functions"].as_array().expect("functions"))
        .filter(|f| {
            f["function"]
                .as_str()
                .is_some_and(|f| f.ends_with("!write_seven_hundred"))
        })
        .map(|f| f["copied"].as_u64().expect("copied"))
        .sum();
    assert_eq!(
        in_intervals,
        copied_by(&report, child, "!write_seven_hundred"),
        "{report:#}"
    );
}

#[test]
fn another_users_process_is_refused_with_what_is_missing_and_what_works() {
    if !is_root() {
        return skip("needs root to switch to uid 65534");
    }
    let bin = fixture();
    let (mut host, parent, _child, _kill) = start(Command::new(&bin.path));
    let parent_s = parent.to_string();
    let args = ["family", "--record", "1", &parent_s];
    let (run, done) = run_solab(as_nobody(&artifacts().solab), &mut host, &args, &GO);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(done.is_empty(), "nothing recorded: {done}");
    for what in [
        "permission denied",
        "CAP_PERFMON",
        "your own processes can be recorded",
    ] {
        assert!(run.stderr.contains(what), "{what:?} in {}", run.stderr);
    }
}

/// A `solab family --record ... --watch ...` running, its stdout and stderr read beside.
struct Running {
    solab: std::process::Child,
    stdout: std::thread::JoinHandle<String>,
    stderr: std::thread::JoinHandle<String>,
}

/// Starts solab with `args` and waits until it records; none (the test skipped) when the
/// kernel refuses to record.
fn start_recording(args: &[&str]) -> Option<Running> {
    let Started {
        child: solab,
        stdout,
        stderr: mut err,
        first: line,
    } = start_solab(Command::new(&artifacts().solab), args);
    let stderr = std::thread::spawn(move || {
        let mut rest = line;
        let _ = std::io::Read::read_to_string(&mut err, &mut rest);
        rest
    });
    let running = Running {
        solab,
        stdout,
        stderr,
    };
    if running.solab.id() > 0 && !running.recording() {
        let run = running.end();
        assert!(
            run.stderr.contains("perf_event_paranoid is"),
            "{}",
            run.stderr
        );
        skip(&format!(
            "the kernel refuses to record page faults: {}",
            run.stderr
        ));
        return None;
    }
    Some(running)
}

impl Running {
    fn pid(&self) -> i32 {
        self.solab.id() as i32
    }

    /// Whether solab still runs and holds its events.
    fn recording(&self) -> bool {
        perf_events(self.pid()) > 0
    }

    /// Waits for solab to exit: its status and output.
    fn end(mut self) -> crate::util::Run {
        let status = self.solab.wait().expect("wait for solab");
        finish(std::process::Output {
            status,
            stdout: self.stdout.join().expect("stdout").into_bytes(),
            stderr: self.stderr.join().expect("stderr").into_bytes(),
        })
    }
}

/// The perf events among the open files of `pid` (none when it is gone).
fn perf_events(pid: i32) -> usize {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    fds.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|l| l.as_os_str() == "anon_inode:[perf_event]")
        .count()
}

/// The state letter of `pid` in /proc/PID/stat (after the command's closing parenthesis).
fn state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

/// Reads the states of `pids` every 2 ms until told to stop: every state seen.
struct StateWatch {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    seen: std::thread::JoinHandle<std::collections::BTreeSet<(i32, char)>>,
}

impl StateWatch {
    fn start(pids: Vec<i32>) -> StateWatch {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let seen = std::thread::spawn(move || {
            let mut seen = std::collections::BTreeSet::new();
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                for &p in &pids {
                    if let Some(s) = state(p) {
                        seen.insert((p, s));
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            seen
        });
        StateWatch { stop, seen }
    }

    fn end(self) -> std::collections::BTreeSet<(i32, char)> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.seen.join().expect("state watch")
    }
}

/// The interval heads of a watched recording's text.
fn heads(stdout: &str) -> Vec<&str> {
    stdout.lines().filter(|l| l.starts_with("── ")).collect()
}

/// Ctrl-C in the middle of a 10 s interval: the interval is printed with its real length
/// and the writers in it, then the whole recording. While recording, solab holds the perf
/// events (the recorded processes hold none: the kernel keeps the inherited ones out of
/// their file tables) and the recorded processes are never stopped; afterwards solab is
/// gone and the processes run on.
#[test]
fn ctrl_c_mid_interval_prints_it_and_leaves_nothing_attached() {
    let bin = fixture();
    let (mut host, parent, child, _kill) = start(Command::new(&bin.path));
    let parent_s = parent.to_string();
    let args = ["family", "--record", "30", "--watch", "10", &parent_s];
    let Some(running) = start_recording(&args) else {
        return;
    };
    let events = perf_events(running.pid());
    assert!(events > 0, "solab holds its perf events while it records");
    assert_eq!((perf_events(parent), perf_events(child)), (0, 0));
    let states = StateWatch::start(vec![parent, child]);
    host.send(GO.send);
    host.expect(GO.done);
    std::thread::sleep(std::time::Duration::from_millis(300));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(running.pid()),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("SIGINT to solab");
    let run = running.end();
    let seen = states.end();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        seen.iter().all(|&(_, s)| s != 'T' && s != 't'),
        "the recorded processes were stopped: {seen:?}"
    );
    assert!(
        seen.contains(&(child, 'S')) || seen.contains(&(child, 'R')),
        "{seen:?}"
    );
    let (intervals, whole) = run
        .stdout
        .split_once("\nRecorded ")
        .unwrap_or_else(|| panic!("the whole recording after the interval:\n{}", run.stdout));
    let heads = heads(intervals);
    assert_eq!(heads.len(), 1, "{}", run.stdout);
    let to: f64 = heads[0]
        .strip_prefix("── 0.0 s to ")
        .and_then(|r| r.split(' ').next())
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("its end in {}", heads[0]));
    assert!(to > 0.0 && to < 10.0, "{}", heads[0]);
    assert!(
        heads[0].contains(&format!("(the last, {to:.1} s)")),
        "{}",
        heads[0]
    );
    for name in ["!write_three_hundred", "!write_seven_hundred"] {
        assert!(intervals.contains(name), "{name}:\n{}", run.stdout);
    }
    assert!(whole.contains("(stopped by Ctrl-C)"), "{}", run.stdout);
    // Nothing attached any more: the recorded processes run on, never stopped.
    assert!(
        matches!(state(child), Some('S' | 'R')),
        "{:?}",
        state(child)
    );
    assert_eq!((perf_events(parent), perf_events(child)), (0, 0));
}

/// The recorded root exiting ends a 30 s recording at once: the interval it cut short is
/// printed (its pages can no longer be read), then the error, and solab is gone.
#[test]
fn the_root_exiting_ends_the_recording_with_its_last_interval() {
    let bin = fixture();
    let (mut host, parent, _child, _kill) = start(Command::new(&bin.path));
    let parent_s = parent.to_string();
    let args = ["family", "--record", "30", "--watch", "10", &parent_s];
    let Some(running) = start_recording(&args) else {
        return;
    };
    host.send(GO.send);
    host.expect(GO.done);
    let t = std::time::Instant::now();
    // SIGKILL to the root, reaped; its child dies with it (PR_SET_PDEATHSIG).
    host.kill();
    let pid = running.pid();
    let run = running.end();
    assert!(
        t.elapsed() < std::time::Duration::from_secs(25),
        "solab went on recording a family that is gone"
    );
    assert_eq!(perf_events(pid), 0);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    let heads = heads(&run.stdout);
    assert_eq!(heads.len(), 1, "{}", run.stdout);
    assert!(
        heads[0].contains("(the last, ") && heads[0].contains("the family is gone"),
        "{}",
        heads[0]
    );
    assert!(run.stderr.contains(&parent_s), "{}", run.stderr);
}
