//! `solab ps` as smem, ps_mem and procrank users call it (every process without arguments,
//! --cmdline, -H, --totals, --unit, -P, --csv, the table fitted to the terminal, USER of
//! groups) and `solab top`, on real processes; figures are checked against solab's own
//! JSON of the same processes and /proc/meminfo.

use crate::util::{self, Proc, Run, artifacts, as_nobody, finish, is_root, skip, solab};
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// A Python process that sleeps with the arguments `args` on its command line (after
/// `-c PROGRAM`), started by `cmd` (python3 itself, or through `as_nobody`).
fn sleeper_with(mut cmd: Command, args: &[&str]) -> Proc {
    cmd.args([
        "-c",
        "import time; print('ready', flush=True); time.sleep(300)",
    ])
    .args(args);
    Proc::spawn("python3", cmd, "ready")
}

fn sleeper(args: &[&str]) -> Proc {
    sleeper_with(Command::new("python3"), args)
}

fn row(r: &Value, pid: i32) -> &Value {
    r["processes"]
        .as_array()
        .expect("processes")
        .iter()
        .find(|p| p["pid"] == pid)
        .unwrap_or_else(|| panic!("pid {pid} not in {r:#}"))
}

/// The fields of one CSV line, with RFC 4180's quotes undone.
fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                fields.last_mut().unwrap().push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(String::new()),
            (c, _) => fields.last_mut().unwrap().push(c),
        }
    }
    assert!(!quoted, "unbalanced quotes: {line}");
    fields
}

/// The table line of `pid` (piped: never shortened), split at white space.
fn table_row(text: &str, pid: i32) -> Vec<String> {
    text.lines()
        .find(|l| l.split_whitespace().next() == Some(&pid.to_string()))
        .unwrap_or_else(|| panic!("no row for {pid} in:\n{text}"))
        .split_whitespace()
        .map(String::from)
        .collect()
}

#[test]
fn ps_without_arguments_scans_every_process_as_a_does() {
    let p = sleeper(&[]);
    let pid = p.pid();
    for args in [&["ps", "--json"][..], &["ps", "-a", "--json"]] {
        let out = solab(args);
        assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
        let r = out.json();
        row(&r, pid);
        assert!(r["processes"].as_array().unwrap().len() > 1, "{args:?}");
    }
    let text = solab(&["ps", "-n", "0"]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    table_row(&text.stdout, pid);
}

#[test]
fn cmdline_is_shown_escaped_bounded_and_in_json_only_when_asked() {
    let long = "x".repeat(10_000);
    let p = sleeper(&["a,b", "q\"x", "esc\x1b[31m", &long]);
    let pid = p.pid().to_string();
    // Without --cmdline: the command name, and no cmdline in JSON.
    let plain = solab(&["ps", "--json", &pid]).json();
    assert!(row(&plain, p.pid()).get("cmdline").is_none(), "{plain:#}");
    let r = solab(&["ps", "--json", "--cmdline", &pid]).json();
    let cmdline = row(&r, p.pid())["cmdline"].as_str().expect("cmdline");
    assert!(cmdline.contains(" a,b q\"x esc\x1b[31m xxx"), "{cmdline:?}");
    assert!(cmdline.len() <= 4096, "unbounded: {} bytes", cmdline.len());
    assert!(cmdline.len() >= 4000, "cut short: {} bytes", cmdline.len());
    // The table: escaped, never the raw ESC.
    let text = solab(&["ps", "--cmdline", &pid]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(!text.stdout.contains('\x1b'), "{}", text.stdout);
    assert!(
        text.stdout.contains("a,b q\"x esc\\e[31m xxx"),
        "{}",
        text.stdout
    );
    // CSV: one quoted field, its quotes doubled, that reads back as the escaped line.
    let csv = solab(&["ps", "--csv", "--cmdline", &pid]);
    assert_eq!(csv.code, 0, "{}", csv.stderr);
    let lines: Vec<&str> = csv.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", csv.stdout);
    assert!(lines[1].contains("a,b q\"\"x esc\\e[31m"), "{}", lines[1]);
    let fields = csv_fields(lines[1]);
    assert_eq!(fields.len(), csv_fields(lines[0]).len(), "{}", csv.stdout);
    assert!(
        fields.last().unwrap().contains("a,b q\"x esc\\e[31m"),
        "{fields:?}"
    );
}

#[test]
fn no_header_and_totals_print_only_what_they_say() {
    let a = sleeper(&[]);
    let b = sleeper(&[]);
    let (pa, pb) = (a.pid().to_string(), b.pid().to_string());
    let full = solab(&["ps", "-b", &pa, &pb]);
    let bare = solab(&["ps", "-b", "-H", &pa, &pb]);
    assert_eq!(bare.code, 0, "{}", bare.stderr);
    assert!(full.stdout.lines().any(|l| l.starts_with("solab ps:")));
    let lines: Vec<&str> = bare.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "two rows and TOTAL:\n{}", bare.stdout);
    assert!(
        lines
            .iter()
            .all(|l| !l.contains("USER") && !l.starts_with("solab"))
    );
    assert!(
        lines[2].trim_start().starts_with("TOTAL"),
        "{}",
        bare.stdout
    );
    let totals = solab(&["ps", "-b", "--totals", &pa, &pb]);
    assert!(totals.stdout.lines().any(|l| l.contains(" USER ")));
    assert!(
        !totals
            .stdout
            .lines()
            .any(|l| l.trim_start().starts_with(&pa))
    );
    // -H --totals: the TOTAL line alone, its figures the JSON totals' (read around it).
    let before = solab(&["ps", "--json", &pa, &pb]).json();
    let only = solab(&["ps", "-b", "-H", "--totals", &pa, &pb]);
    let after = solab(&["ps", "--json", &pa, &pb]).json();
    let lines: Vec<&str> = only.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{}", only.stdout);
    let cols: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(cols[0], "TOTAL");
    let rss: u64 = cols[1].parse().expect("RSS in bytes");
    let (lo, hi) = (
        before["totals"]["rss"].as_u64().unwrap(),
        after["totals"]["rss"].as_u64().unwrap(),
    );
    assert!(
        rss >= lo.min(hi) && rss <= lo.max(hi),
        "{rss} not in {lo}..{hi}"
    );
}

#[test]
fn unit_and_percent_write_the_json_figures() {
    let p = sleeper(&[]);
    let pid = p.pid().to_string();
    let clash = solab(&["ps", "-b", "--unit", "k", &pid]);
    assert_eq!(clash.code, 2, "-b and --unit together: {}", clash.stdout);
    let r = solab(&["ps", "--json", &pid]).json();
    let pss = row(&r, p.pid())["pss"].as_u64().unwrap() as f64;
    let rss = row(&r, p.pid())["rss"].as_u64().unwrap() as f64;
    let text = solab(&["ps", "--unit", "k", "-P", &pid]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    let head = table_row(&text.stdout, p.pid());
    // PID USER RSS KiB PSS KiB PSS% USS KiB ...
    assert_eq!(head[3], "KiB", "{head:?}");
    assert_eq!(head[5], "KiB", "{head:?}");
    let shown_rss: f64 = head[2].parse().unwrap();
    // The same sleeping process read twice: within a page and 1%.
    assert!(
        (shown_rss * 1024.0 - rss).abs() <= 4096.0 + rss / 100.0,
        "{shown_rss} KiB vs {rss} bytes"
    );
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let total_kb: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("MemTotal");
    let percent: f64 = head[6].parse().expect("PSS%");
    let expect = pss * 100.0 / (total_kb * 1024.0);
    assert!(
        (percent - expect).abs() <= 0.05 + expect / 50.0,
        "PSS% {percent}, PSS/MemTotal {expect}"
    );
    let g = solab(&["ps", "--unit", "g", "-H", "--totals", &pid]);
    assert!(g.stdout.contains(" GiB"), "{}", g.stdout);
    assert!(!g.stdout.contains("MiB") && !g.stdout.contains("KiB"));
}

#[test]
fn csv_has_a_header_then_one_line_per_process() {
    let a = sleeper(&[]);
    let b = sleeper(&[]);
    let (pa, pb) = (a.pid().to_string(), b.pid().to_string());
    let out = solab(&["ps", "--csv", "-s", "pid", &pa, &pb]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<Vec<String>> = out.stdout.lines().map(csv_fields).collect();
    assert_eq!(lines.len(), 3, "{}", out.stdout);
    assert_eq!(
        lines[0][..4],
        ["pid", "user", "rss", "pss"].map(String::from),
        "{}",
        out.stdout
    );
    assert!(lines.iter().all(|l| l.len() == lines[0].len()));
    let mut pids = [a.pid(), b.pid()];
    pids.sort();
    assert_eq!(lines[1][0], pids[0].to_string());
    assert_eq!(lines[2][0], pids[1].to_string());
    let r = solab(&["ps", "--json", &pa]).json();
    let rss: u64 = lines
        .iter()
        .find(|l| l[0] == pa)
        .map(|l| l[2].parse().expect("bytes"))
        .unwrap();
    let json_rss = row(&r, a.pid())["rss"].as_u64().unwrap();
    assert!(rss.abs_diff(json_rss) <= 4096 + json_rss / 100);
    // --totals: the header and TOTAL; --unit m names the unit in the header.
    let t = solab(&["ps", "--csv", "--totals", "--unit", "m", &pa, &pb]);
    let lines: Vec<Vec<String>> = t.stdout.lines().map(csv_fields).collect();
    assert_eq!(lines.len(), 2, "{}", t.stdout);
    assert_eq!(lines[1][0], "TOTAL");
    assert_eq!(lines[0][2], "rss_mib");
    // JSON and CSV exclude each other.
    assert_eq!(solab(&["ps", "--csv", "--json", &pa]).code, 2);
}

/// Runs solab in a pseudo-terminal (`script`) with `COLUMNS`; line ends turned back into
/// `\n`.
fn on_a_terminal(args: &[&str], columns: &str) -> Run {
    let mut line = artifacts().solab.display().to_string();
    for a in args {
        line.push_str(&format!(" '{a}'"));
    }
    let out = Command::new("script")
        .args(["-qefc", &line, "/dev/null"])
        .stdin(Stdio::null())
        .env("COLUMNS", columns)
        .env("TERM", "xterm")
        .env("NO_COLOR", "1")
        .output()
        .expect("run script");
    let mut run = finish(out);
    run.stdout = run.stdout.replace("\r\n", "\n");
    run
}

#[test]
fn the_table_fits_the_terminal_by_leaving_out_the_split_columns() {
    let p = sleeper(&[]);
    let pid = p.pid().to_string();
    let narrow = on_a_terminal(&["ps", &pid], "80");
    assert_eq!(narrow.code, 0, "{}{}", narrow.stdout, narrow.stderr);
    let head = narrow
        .stdout
        .lines()
        .find(|l| l.contains(" USER "))
        .unwrap_or_else(|| panic!("{}", narrow.stdout));
    assert!(!head.contains("FILES") && head.contains("PSS"), "{head}");
    let table: Vec<&str> = narrow
        .stdout
        .lines()
        .skip_while(|l| !l.contains(" USER "))
        .collect();
    for l in &table {
        assert!(l.chars().count() <= 80, "{} wide: {l}", l.chars().count());
    }
    let note = table.last().unwrap();
    assert!(
        note.contains("FILES") && note.contains("left out"),
        "{}",
        narrow.stdout
    );
    for args in [&["ps", &pid][..], &["ps", "-w", &pid]] {
        let wide = on_a_terminal(args, if args.len() == 2 { "300" } else { "80" });
        assert!(
            wide.stdout.contains("FILES") && !wide.stdout.contains("left out"),
            "{args:?}:\n{}",
            wide.stdout
        );
    }
}

#[test]
fn a_group_of_one_user_shows_the_user() {
    let a = sleeper(&[]);
    let b = sleeper(&[]);
    let (pa, pb) = (a.pid().to_string(), b.pid().to_string());
    let me = solab(&["ps", "--json", &pa]).json();
    let user = row(&me, a.pid())["user"].as_str().unwrap().to_string();
    let r = solab(&["ps", "--by", "comm", "--json", &pa, &pb]).json();
    let group = &r["groups"][0];
    assert_eq!(group["processes"], 2, "{r:#}");
    assert_eq!(group["user"], user.as_str(), "{r:#}");
    let text = solab(&["ps", "--by", "comm", &pa, &pb]);
    let cols = text
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("2 "))
        .unwrap_or_else(|| panic!("{}", text.stdout))
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
    assert_eq!(cols, user.chars().take(10).collect::<String>());
    if !is_root() {
        return skip("a second user's process needs root");
    }
    let nobody = sleeper_with(as_nobody(Path::new("/usr/bin/python3")), &[]);
    let pn = nobody.pid().to_string();
    let r = solab(&["ps", "--by", "comm", "--json", &pa, &pn]).json();
    let group = &r["groups"][0];
    assert_eq!(group["processes"], 2, "{r:#}");
    assert!(group["user"].is_null(), "two users, one named: {r:#}");
}

#[test]
fn top_piped_prints_n_tables_with_deltas_and_exits_0() {
    let p = sleeper(&[]);
    let pid = p.pid().to_string();
    let out = solab(&["top", "-n", "2", "-d", "0.2", "-p", &pid]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let tables: Vec<&str> = out
        .stdout
        .split("solab top: table ")
        .filter(|t| !t.is_empty())
        .collect();
    assert_eq!(tables.len(), 2, "{}", out.stdout);
    for (i, t) in tables.iter().enumerate() {
        assert!(t.starts_with(&format!("{}, every 0.2 s", i + 1)), "{t}");
        let head = t
            .lines()
            .find(|l| l.contains(" USER "))
            .expect("column names");
        let cols: Vec<&str> = head.split_whitespace().collect();
        let at = cols.iter().position(|c| *c == "PSS").expect("PSS");
        assert_eq!(cols[at + 1..at + 3], ["DELTA", "SINCE-START"], "{head}");
        let row: Vec<&str> = t
            .lines()
            .find(|l| l.split_whitespace().next() == Some(pid.as_str()))
            .unwrap_or_else(|| panic!("no row for {pid}: {t}"))
            .split_whitespace()
            .collect();
        // PID USER RSS(2 words) PSS(2 words) DELTA...: a sleeping process barely changes;
        // DELTA is 0 or a signed size.
        let delta = row[6];
        assert!(
            delta == "0" || delta.starts_with('+') || delta.starts_with('-'),
            "{row:?}"
        );
    }
    // Piped without -n: one table.
    let once = solab(&["top", "-p", &pid]);
    assert_eq!(once.code, 0, "{}", once.stderr);
    assert_eq!(once.stdout.matches("solab top: table ").count(), 1);
    // -s uss: the deltas follow USS.
    let uss = solab(&["top", "-s", "uss", "-p", &pid]);
    assert!(uss.stdout.contains("DELTA: USS since"), "{}", uss.stdout);
}

#[test]
fn top_on_a_terminal_redraws_and_gives_the_terminal_back_on_q_and_ctrl_c() {
    let p = sleeper(&[]);
    for key in ["q", "\x03"] {
        // One process: each table is quick even on a busy machine.
        // `exec`: script runs the line with $SHELL -c, and dash (/bin/sh) stays as
        // solab's parent in the terminal's foreground group, where ^C kills it (exit 130)
        // whatever solab does with the key.
        let line = format!(
            "exec {} top -d 0.2 -p {}",
            artifacts().solab.display(),
            p.pid()
        );
        let mut child = Command::new("script")
            .args(["-qefc", &line, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .env("TERM", "xterm")
            .env("COLUMNS", "120")
            .spawn()
            .expect("script");
        std::thread::sleep(Duration::from_millis(2500));
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(key.as_bytes()).unwrap();
        stdin.flush().unwrap();
        // Keep stdin open until solab has gone: script ends the session on its EOF.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(stdin);
        if child.try_wait().unwrap().is_none() {
            let _ = child.kill();
        }
        let out = child.wait_with_output().expect("script output");
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{key:?}: {text}");
        let enter = text.find("\x1b[?1049h").unwrap_or_else(|| panic!("{text}"));
        let leave = text
            .rfind("\x1b[?1049l")
            .unwrap_or_else(|| panic!("{text}"));
        assert!(enter < leave, "{text}");
        assert!(text.contains("solab top: table 2"), "not redrawn: {text}");
        assert!(text.contains("keys: q quit"), "{text}");
    }
}

/// `libs --csv` writes what `libs --json` says, one line per object, as `ps --csv`
/// writes its lines (sizes in bytes); `--by user --csv` one line per group.
#[test]
fn libs_csv_has_a_header_then_one_line_per_object() {
    let a = sleeper(&[]);
    let b = sleeper(&[]);
    let (pa, pb) = (a.pid().to_string(), b.pid().to_string());
    let out = solab(&["libs", "--csv", "-s", "object", &pa, &pb]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<Vec<String>> = out.stdout.lines().map(csv_fields).collect();
    assert_eq!(
        lines[0],
        [
            "object",
            "procs",
            "resident",
            "frames",
            "saved",
            "pss",
            "private_text",
            "private_relro",
            "private_data",
            "textrel"
        ]
        .map(String::from),
        "{}",
        out.stdout
    );
    assert!(lines.iter().all(|l| l.len() == lines[0].len()));
    let r = solab(&["libs", "--json", "-s", "object", &pa, &pb]).json();
    let objects = r["objects"].as_array().expect("objects");
    // Every object, not the table's first 25.
    assert_eq!(lines.len(), objects.len() + 1, "{}", out.stdout);
    let page = r["page_size"].as_u64().expect("page_size");
    let libc = objects
        .iter()
        .find(|o| o["path"].as_str().is_some_and(|p| p.contains("libc.so")))
        .expect("libc in the JSON");
    let line = lines
        .iter()
        .find(|l| Some(l[0].as_str()) == libc["path"].as_str())
        .expect("libc in the CSV");
    assert_eq!(line[1], "2");
    let resident: u64 = line[2].parse().expect("bytes");
    // Two scans of live processes: within a few pages of each other.
    let json_resident = util::u(&libc["resident_pages"]) * page;
    assert!(
        resident.abs_diff(json_resident) <= 16 * page,
        "{resident} vs {json_resident}"
    );
    assert_eq!(line[3].is_empty(), !is_root(), "frames: {line:?}");
    assert_eq!(line[9], "0");
    // Per user: one group, the key last.
    let by = solab(&["libs", "--csv", "--by", "user", &pa, &pb]);
    assert_eq!(by.code, 0, "{}", by.stderr);
    let lines: Vec<Vec<String>> = by.stdout.lines().map(csv_fields).collect();
    assert_eq!(lines.len(), 2, "{}", by.stdout);
    assert_eq!(lines[0][0], "procs");
    assert_eq!(lines[0].last().map(String::as_str), Some("user"));
    assert_eq!(lines[1][0], "2");
    assert_eq!(solab(&["libs", "--csv", "--json", &pa]).code, 2);
}

/// `family` on a terminal narrower than its table leaves out SHARED-MEM then PARENT%
/// (a last line names them) and cuts the command; `-w` and a pipe never do.
#[test]
fn family_fits_the_terminal_by_leaving_out_columns() {
    // The children leave when the test closes their stdin (the parent's, inherited).
    let mut cmd = Command::new("python3");
    cmd.args([
        "-c",
        "import os, sys, time\nfor _ in range(2):\n    if os.fork() == 0:\n        sys.stdin.read(); os._exit(0)\nprint('ready', flush=True); time.sleep(300)",
    ]);
    let mut parent = Proc::spawn("python3", cmd, "ready");
    let pid = parent.pid().to_string();
    let piped = solab(&["family", &pid]);
    assert_eq!(piped.code, 0, "{}", piped.stderr);
    assert!(piped.stdout.contains("SHARED-MEM") && piped.stdout.contains("PARENT%"));
    let wide_head = |out: &str| -> usize {
        out.lines()
            .find(|l| l.contains(" PID "))
            .map_or(0, |l| l.chars().count())
    };
    let full = wide_head(&piped.stdout);
    for (columns, gone) in [(70, &["SHARED-MEM"][..]), (60, &["SHARED-MEM", "PARENT%"])] {
        let narrow = on_a_terminal(&["family", &pid], &columns.to_string());
        assert_eq!(narrow.code, 0, "{}{}", narrow.stdout, narrow.stderr);
        let table: Vec<&str> = narrow
            .stdout
            .lines()
            .skip_while(|l| !l.contains(" PID "))
            .collect();
        // The header, two children, TOTAL, and the note (wrapped to fit).
        assert!(table.len() >= 6, "{}", narrow.stdout);
        for l in &table {
            assert!(l.chars().count() <= columns, "{columns}: {l}");
        }
        for l in &table[..5] {
            assert!(l.chars().count() <= columns, "{columns}: {l}");
            for g in gone {
                assert!(!l.contains(g), "{columns}: {l}");
            }
        }
        assert!(
            table[5].contains("left out") && gone.iter().all(|g| table[5].contains(g)),
            "{}",
            narrow.stdout
        );
        let wide = on_a_terminal(&["family", "-w", &pid], &columns.to_string());
        assert_eq!(wide_head(&wide.stdout), full, "{}", wide.stdout);
    }
    parent.kill();
}

/// Runs `line` (solab's arguments, shell words) in a pseudo-terminal `columns` wide, its
/// stderr (libs's progress bar) left out: the terminal's stdout, line ends turned back
/// into `\n`.
fn terminal_stdout(line: &str, columns: usize) -> String {
    let line = format!("{} {line} 2>/dev/null", artifacts().solab.display());
    let out = Command::new("script")
        .args(["-qefc", &line, "/dev/null"])
        .stdin(Stdio::null())
        .env("COLUMNS", columns.to_string())
        .env("TERM", "xterm")
        .env("NO_COLOR", "1")
        .output()
        .expect("run script");
    assert!(out.status.success(), "{line}: {out:?}");
    String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n")
}

/// On a terminal of 80 and of 200 columns every line of `ps` (plain, `--by`, `-P`,
/// `--cmdline`), `top`, `libs` (and `--by`) and `family` (its table, `--mappings`, and
/// `--watch`'s tables and what changed between them) fits: columns are left out in
/// their named order (a last line says which), explanations wrapped, names shortened.
#[test]
fn every_line_fits_80_and_200_columns() {
    // A parent with two children that each wrote 4 MiB of their own, with a long command
    // line; the children leave when the test closes their stdin.
    let mut cmd = Command::new("python3");
    cmd.args([
        "-c",
        "import os, sys, time\nfor _ in range(2):\n    if os.fork() == 0:\n        b = bytearray(4 << 20); sys.stdin.read(); os._exit(0)\nprint('ready', flush=True); time.sleep(3600)",
        &"an-argument-long-enough-to-be-cut ".repeat(8),
    ]);
    let mut parent = Proc::spawn("python3", cmd, "ready");
    let pid = parent.pid().to_string();
    let lines = [
        format!("ps {pid}"),
        "ps -a --by comm".to_string(),
        format!("ps --by user -P {pid}"),
        format!("ps --cmdline -P {pid}"),
        "top -n 2 -d 0.2".to_string(),
        format!("top -n 1 -P --cmdline -s swap {pid}"),
        "libs -a -n 0".to_string(),
        "libs -a --by comm".to_string(),
        format!("family {pid}"),
        format!("family --mappings {pid}"),
        format!("family --watch 1 -n 2 {pid}"),
    ];
    let mut left_out = 0;
    for columns in [80, 200] {
        for line in &lines {
            let out = terminal_stdout(line, columns);
            assert!(out.lines().count() > 3, "{line} at {columns}:\n{out}");
            for l in out.lines() {
                assert!(
                    l.chars().count() <= columns,
                    "{line} at {columns}: a line of {}:\n{l}\nin:\n{out}",
                    l.chars().count()
                );
            }
            let words = out.split_whitespace().collect::<Vec<_>>().join(" ");
            if words.contains(" left out to fit ") {
                assert!(words.contains("-w shows them)"), "{line}: {out}");
                left_out += 1;
            }
            if line.contains("--watch") {
                assert_eq!(out.matches("solab family ").count(), 2, "{line}:\n{out}");
                assert!(out.contains("since the last reading"), "{line}:\n{out}");
            }
        }
        // ps keeps the column it sorts by, whatever it leaves out.
        let by_swap = terminal_stdout(&format!("top -n 1 -P -s swap {pid}"), columns);
        let head = by_swap.lines().find(|l| l.contains(" USER ")).unwrap();
        assert!(
            head.contains(" SWAP") && head.contains(" DELTA "),
            "{by_swap}"
        );
    }
    // At 80 columns some tables must leave columns out (top's alone has 8 figures).
    assert!(left_out > 0, "nothing left out at 80 columns");
    // The columns left out at 80 are still there with -w.
    let wide = terminal_stdout("top -n 1 -w", 80);
    assert!(
        wide.contains("SINCE-START") && wide.contains("FILES"),
        "{wide}"
    );
    assert!(!wide.contains(" left out to fit "), "{wide}");
    parent.kill();
}
