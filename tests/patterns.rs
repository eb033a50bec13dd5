//! `--object PATTERN` as users type it: an exact file name wins over a part of one, a memfd
//! another user names like a library never names that library, and a link (a path, or a
//! command found on PATH) finds the file it leads to; when nothing matches, the names that
//! come closest are offered. And names as solab shows them: a command name that is not
//! UTF-8.

use crate::util::{
    self, Compiled, Namespace, Proc, artifacts, as_nobody, finish, solab, spawn_host,
};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// A shared library `libfoo.so` and a program `foo` linked with it, in one directory.
struct Foo {
    lib: Compiled,
    exe: Compiled,
}

fn foo() -> Foo {
    let lib = Compiled::from_source(
        "libfoo.so",
        "int foo_value(void) { return 42; }\n",
        &["-shared", "-fPIC"],
        &[],
    );
    let dir = lib.dir.to_string_lossy().into_owned();
    let exe = Compiled::from_source(
        "foo",
        "#include <stdio.h>\n#include <unistd.h>\nint foo_value(void);\n\
         int main(void) { printf(\"ready %d\\n\", foo_value()); fflush(stdout); \
         pause(); return 0; }\n",
        &[],
        &[&format!("-L{dir}"), "-lfoo", &format!("-Wl,-rpath,{dir}")],
    );
    Foo { lib, exe }
}

fn pid_args(procs: &[&Proc]) -> Vec<String> {
    procs.iter().map(|p| p.pid().to_string()).collect()
}

fn with<'a>(head: &[&'a str], pids: &'a [String]) -> Vec<&'a str> {
    head.iter()
        .copied()
        .chain(pids.iter().map(String::as_str))
        .collect()
}

fn canonical(p: &Path) -> String {
    std::fs::canonicalize(p)
        .expect("canonicalize")
        .to_string_lossy()
        .into_owned()
}

/// A process of uid 65534 that maps a memfd named `libc.so.6` holding a copy of a small
/// library (shown as `/memfd:libc.so.6 (deleted)`), and two lab hosts: `prove -o
/// libc.so.6` over all three still proves the real libc.
#[test]
fn a_memfd_named_like_libc_does_not_block_prove() {
    if !util::is_root() {
        util::skip("needs root: another user's memfd is read through map_files");
        return;
    }
    let f = foo();
    let attacker = Compiled::from_source(
        "memfd-libc",
        r#"#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>
int main(int argc, char **argv) {
    char buf[65536], path[64];
    ssize_t n;
    int src = open(argv[1], O_RDONLY), fd = memfd_create("libc.so.6", 0);
    if (argc < 2 || src < 0 || fd < 0) return 1;
    while ((n = read(src, buf, sizeof buf)) > 0)
        if (write(fd, buf, n) != n) return 1;
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    if (!dlopen(path, RTLD_NOW)) { printf("dlopen: %s\n", dlerror()); return 1; }
    printf("ready\n");
    fflush(stdout);
    pause();
    return 0;
}
"#,
        &[],
        &["-ldl"],
    );
    let mut cmd = as_nobody(&attacker.path);
    cmd.arg(&f.lib.path);
    let evil = Proc::spawn("memfd attacker", cmd, "ready");
    let ns = Namespace::new("patterns-memfd");
    let a = spawn_host("host a", &ns, &[]);
    let b = spawn_host("host b", &ns, &[]);
    let pids = pid_args(&[&a, &b, &evil]);

    // The memfd is an object of its own, named only as such.
    let evil_pid = [evil.pid().to_string()];
    let memfd = solab(&with(
        &["inspect", "--json", "-o", "memfd:libc.so.6"],
        &evil_pid,
    ));
    assert_eq!(memfd.code, 0, "{}", memfd.stderr);
    let found = memfd.json();
    assert_eq!(
        found["matched"],
        serde_json::json!(["/memfd:libc.so.6"]),
        "{found:#}"
    );

    let libs = solab(&with(&["inspect", "--json", "-o", "libc.so.6"], &pids));
    assert_eq!(libs.code, 0, "{}", libs.stderr);
    let matched = libs.json()["matched"].clone();
    let matched: Vec<&str> = matched
        .as_array()
        .expect("matched")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        !matched.is_empty() && matched.iter().all(|p| !p.contains("memfd")),
        "{matched:?}"
    );

    let prove = solab(&with(&["prove", "--json", "-o", "libc.so.6"], &pids));
    assert_eq!(prove.code, 0, "{}\n{}", prove.stdout, prove.stderr);
    let proof = prove.json();
    let object = proof["object"].as_str().expect("object");
    assert!(
        object.ends_with("/libc.so.6") && !object.contains("memfd"),
        "{object}"
    );
    assert_eq!(proof["holds"], true, "{proof:#}");
}

/// `foo` and its `libfoo.so`: `-o foo` names both as a part, the program as a whole name,
/// and prove takes the program.
#[test]
fn the_exact_file_name_wins() {
    let f = foo();
    let one = Proc::spawn("foo 1", Command::new(&f.exe.path), "ready");
    let two = Proc::spawn("foo 2", Command::new(&f.exe.path), "ready");
    let pids = pid_args(&[&one, &two]);

    let inspect = solab(&with(&["inspect", "--json", "-o", "foo"], &pids));
    assert_eq!(inspect.code, 0, "{}", inspect.stderr);
    let mut matched: Vec<String> = inspect.json()["matched"]
        .as_array()
        .expect("matched")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    matched.sort();
    let mut both = vec![canonical(&f.exe.path), canonical(&f.lib.path)];
    both.sort();
    assert_eq!(matched, both, "inspect shows every match");

    let prove = solab(&with(&["prove", "--json", "-o", "foo"], &pids));
    assert_ne!(prove.code, 2, "{}\n{}", prove.stdout, prove.stderr);
    assert_eq!(prove.json()["object"], canonical(&f.exe.path).as_str());

    // Nothing matches: the names mapped are offered, the closest first.
    let none = solab(&with(&["prove", "-o", "fooo"], &pids));
    assert_eq!(none.code, 2, "{}", none.stdout);
    assert!(
        none.stderr.contains("mapped, closest first: foo, "),
        "{}",
        none.stderr
    );

    // Two equally close stay a question for the user, who can give the path.
    let part = solab(&with(&["prove", "-o", "fo"], &pids));
    assert_eq!(part.code, 2, "{}", part.stdout);
    assert!(part.stderr.contains("matches 2 objects"), "{}", part.stderr);
}

/// A link to the library given as a path, and a link to the program found on PATH (as
/// Debian's `redis-server` is a link to `redis-check-rdb`): each names the file it leads
/// to, and the report says which.
#[test]
fn a_link_names_the_file_it_leads_to() {
    let f = foo();
    let one = Proc::spawn("foo 1", Command::new(&f.exe.path), "ready");
    let two = Proc::spawn("foo 2", Command::new(&f.exe.path), "ready");
    let pids = pid_args(&[&one, &two]);
    let links = Compiled::from_source("unused", "int main(void) { return 0; }\n", &[], &[]);
    let alias = links.dir.join("alias.so");
    std::os::unix::fs::symlink(&f.lib.path, &alias).expect("library link");
    let command = links.dir.join("foo-server");
    std::os::unix::fs::symlink(&f.exe.path, &command).expect("program link");

    let alias_arg = alias.to_string_lossy().into_owned();
    let run = solab(&with(&["inspect", "-o", &alias_arg], &pids));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lib = canonical(&f.lib.path);
    assert!(
        run.stdout
            .contains(&format!("--object {alias_arg} matched: {lib}\n")),
        "{}",
        run.stdout
    );
    let prove = solab(&with(&["prove", "--json", "-o", &alias_arg], &pids));
    assert_ne!(prove.code, 2, "{}\n{}", prove.stdout, prove.stderr);
    assert_eq!(prove.json()["object"], lib.as_str());

    let path = format!(
        "{}:{}",
        links.dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = finish(
        Command::new(&artifacts().solab)
            .args(with(&["inspect", "--json", "-o", "foo-server"], &pids))
            .env("PATH", &path)
            .output()
            .expect("run solab"),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.json()["matched"],
        serde_json::json!([canonical(&f.exe.path)])
    );
    // Without the link on PATH, the name is only a name, and nothing has it.
    let run = solab(&with(&["inspect", "-o", "foo-server"], &pids));
    assert_eq!(run.code, 2, "{}", run.stdout);
}

/// Nothing matches what was typed (here, in capitals): `libs` says so on its matched line and
/// offers the names that hold it first, as `prove`'s error does.
#[test]
fn nothing_matched_offers_the_names_that_hold_it() {
    let f = foo();
    let one = Proc::spawn("foo 1", Command::new(&f.exe.path), "ready");
    let two = Proc::spawn("foo 2", Command::new(&f.exe.path), "ready");
    let pids = pid_args(&[&one, &two]);

    let libs = solab(&with(&["libs", "-o", "LIBFOO"], &pids));
    assert_eq!(libs.code, 0, "{}", libs.stderr);
    assert!(
        libs.stdout
            .contains("--object LIBFOO matched: nothing (mapped, closest first: libfoo.so, "),
        "{}",
        libs.stdout
    );
    let prove = solab(&with(&["prove", "-o", "FOO"], &pids));
    assert_eq!(prove.code, 2, "{}", prove.stdout);
    assert!(
        prove
            .stderr
            .contains("mapped, closest first: foo, libfoo.so, "),
        "{}",
        prove.stderr
    );
}

/// A process names itself with bytes that are not UTF-8 (any process may, with
/// PR_SET_NAME): the text shows each such byte as `\xNN`, never `?`, and JSON gives the
/// exact bytes beside a name with U+FFFD for them.
#[test]
fn a_command_name_that_is_not_utf8_is_shown_escaped() {
    let prog = Compiled::from_source(
        "rename",
        "#include <stdio.h>\n#include <unistd.h>\n#include <sys/prctl.h>\n\
         int main(void) { prctl(PR_SET_NAME, \"srv\\xff\\xfe-\\x1b\\\\\"); \
         printf(\"ready\\n\"); fflush(stdout); pause(); return 0; }\n",
        &[],
        &[],
    );
    let p = Proc::spawn("rename", Command::new(&prog.path), "ready");
    let pid = p.pid().to_string();
    let name: &[u8] = b"srv\xff\xfe-\x1b\\";
    assert_eq!(
        std::fs::read(format!("/proc/{pid}/comm")).expect("comm"),
        [name, b"\n"].concat()
    );
    let text = solab(&["ps", &pid]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(
        text.stdout.contains("  srv\\xff\\xfe-\\e\\\\\n"),
        "{}",
        text.stdout
    );
    let json = solab(&["ps", "--json", &pid]);
    assert_eq!(json.code, 0, "{}", json.stderr);
    let row = &json.json()["processes"][0];
    assert_eq!(row["comm"], "srv\u{fffd}\u{fffd}-\x1b\\", "{row:#}");
    let bytes: Vec<u8> = row["comm_bytes"]
        .as_array()
        .expect("comm_bytes")
        .iter()
        .map(|b| b.as_u64().expect("byte") as u8)
        .collect();
    assert_eq!(bytes, name);
    // A UTF-8 name (this test's own) has none.
    let own = solab(&["ps", "--json", &std::process::id().to_string()]);
    assert_eq!(own.json()["processes"][0]["comm_bytes"], Value::Null);
    drop(p);
}
