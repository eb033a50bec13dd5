//! What could not be read is named: a process solab may not read (root's, read as uid
//! 65534) is listed in the JSON's `errors` with its pid and kind and named on stderr, under
//! `-a` without failing the run; a pid given that cannot be read fails it with its message
//! alone, no empty table before it; and one process is "1 process".

use crate::util::{Namespace, Run, artifacts, as_nobody, finish, is_root, skip, solab, spawn_host};
use serde_json::Value;
use std::process::Stdio;

fn solab_as_nobody(args: &[&str]) -> Run {
    finish(
        as_nobody(&artifacts().solab)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run solab as nobody"),
    )
}

/// The entry of `errors` for `pid`, if any.
fn error_of(report: &Value, pid: i32) -> Option<&Value> {
    report["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .find(|e| e["pid"] == pid)
}

#[test]
fn unreadable_processes_are_named_under_all() {
    if !is_root() {
        return skip("a process uid 65534 may not read needs root to start it");
    }
    let ns = Namespace::new("unread-all");
    let host = spawn_host("root's host", &ns, &[]);
    let pid = host.pid();
    for args in [
        &["ps", "-a", "--json"][..],
        &["libs", "-a", "--json"],
        &["libs", "-a", "--by", "user", "--json"],
    ] {
        let run = solab_as_nobody(args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        let report = run.json();
        let e = error_of(&report, pid)
            .unwrap_or_else(|| panic!("{args:?}: root's {pid} not in errors: {report:#}"));
        assert_eq!(e["kind"], "permission-denied", "{args:?}: {e}");
        let message = e["message"].as_str().expect("message");
        assert!(
            message.contains(&format!("pid {pid}")) && message.contains("permission denied"),
            "{args:?}: {message}"
        );
        // Counted as unreadable (not as vanished), as many as are named.
        let counts = if args[0] == "ps" {
            &report["counts"]
        } else {
            &report["processes"]
        };
        let named = report["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .filter(|e| e["kind"] == "permission-denied")
            .count();
        assert_eq!(counts["unreadable"], named as u64, "{args:?}: {counts}");
    }
    // The table says on stderr which processes were not read, and why, without failing.
    for args in [
        &["ps", "-a"][..],
        &["libs", "-a"],
        &["libs", "-a", "--by", "comm"],
    ] {
        let run = solab_as_nobody(args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        let line = run
            .stderr
            .lines()
            .find(|l| l.contains("not read: ") && l.contains("(permission-denied)"))
            .unwrap_or_else(|| {
                panic!(
                    "{args:?}: no line naming what was not read:\n{}",
                    run.stderr
                )
            });
        assert!(
            line.contains("pids ") && line.contains("permission denied"),
            "{line}"
        );
    }
}

#[test]
fn a_bad_pid_given_prints_only_its_error() {
    let missing = i32::MAX.to_string();
    for command in [
        &["ps"][..],
        &["libs"],
        &["libs", "--by", "user"],
        &["inspect"],
    ] {
        let mut args = command.to_vec();
        args.push(&missing);
        let run = solab(&args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert_eq!(run.stdout, "", "{args:?}: a table before the error");
        assert!(
            run.stderr.contains(&format!("pid {missing}"))
                && run.stderr.contains("no such process"),
            "{args:?}: {}",
            run.stderr
        );
    }
    if !is_root() {
        return skip("a process uid 65534 may not read needs root to start it");
    }
    let ns = Namespace::new("unread-pid");
    let host = spawn_host("root's host", &ns, &[]);
    let pid = host.pid().to_string();
    for command in [
        &["ps"][..],
        &["libs"],
        &["libs", "--by", "user"],
        &["inspect"],
    ] {
        let mut args = command.to_vec();
        args.push(&pid);
        let run = solab_as_nobody(&args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert_eq!(run.stdout, "", "{args:?}: a table before the error");
        assert!(
            run.stderr.contains(&format!("pid {pid}")) && run.stderr.contains("permission denied"),
            "{args:?}: {}",
            run.stderr
        );
        // --json: the pid named in the errors (ps, inspect) or in the one error (libs).
        args.push("--json");
        let run = solab_as_nobody(&args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(
            run.stdout.contains(&format!("pid {pid}")),
            "{args:?}: {}",
            run.stdout
        );
    }
}

#[test]
fn one_process_is_one_process() {
    let ns = Namespace::new("unread-one");
    let host = spawn_host("host", &ns, &[]);
    let pid = host.pid().to_string();
    let ps = solab(&["ps", &pid]);
    assert_eq!(ps.code, 0, "{}", ps.stderr);
    assert!(
        ps.stdout.contains("solab ps: 1 process scanned") && ps.stdout.contains(" 1 process\n"),
        "{}",
        ps.stdout
    );
    let libs = solab(&["libs", &pid]);
    assert_eq!(libs.code, 0, "{}", libs.stderr);
    assert!(
        libs.stdout.contains("solab libs: 1 process scanned"),
        "{}",
        libs.stdout
    );
    let by = solab(&["libs", "--by", "user", &pid]);
    assert_eq!(by.code, 0, "{}", by.stderr);
    assert!(by.stdout.contains(": 1 process scanned"), "{}", by.stdout);
}

#[test]
fn unreadable_processes_of_a_user_are_named_when_none_maps_the_object() {
    if !is_root() {
        return skip("a process uid 65534 may not read needs root to start it");
    }
    let ns = Namespace::new("unread-user");
    let _host = spawn_host("root's host", &ns, &[]);
    for command in ["inspect", "prove"] {
        let run = solab_as_nobody(&[command, "-u", "root", "-o", "libsolib.so"]);
        assert_eq!(run.code, 2, "{command}: {}", run.stderr);
        assert!(
            run.stderr
                .contains("of --user root could not be read (pids ")
                && run.stderr.contains("permission denied"),
            "{command}: {}",
            run.stderr
        );
    }
}
