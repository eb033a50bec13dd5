//! `make lab`, the book's commands and the tests that run processes as another user work
//! wherever the repository is cloned, also below a directory that user cannot search (a
//! clone in root's 0700 home).
//!
//! Each stages what uid 65534 runs itself: the tests through [`util::as_nobody`], the
//! lab's experiment 8 and docs/out/prelude.sh in their own code. This file runs each
//! of them from a clone below a fresh 0700 directory: `git clone` (with this working tree's
//! changes to tracked files), then copies of this build's programs and fixtures in the
//! clone's target/. Building in the clone would take minutes: the compiler flags name the
//! checkout's path (--remap-path-prefix), so nothing of this build could be reused. With
//! the copies in place, `make -o build lab` runs the very recipe of `make lab` minus its
//! build step, and this test binary runs, with SOLAB_TEST_CHECKOUT pointing `artifacts()` at
//! the clone, the test of the tests' helper and the book's pages that run commands as uid
//! 65534. Uid 65534 cannot reach the clone (checked first), so they pass only because
//! nothing uid 65534 runs or reads is taken from the checkout. The tests' other uid 65534
//! processes go through the same helper, so they need no run of their own in the clone.

use crate::util::{self, CHECKOUT_ENV, Namespace, artifacts, as_nobody, finish, is_root, skip};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What is run again in the clone: the test of [`util::as_nobody`], and the book's pages
/// (the docs test runs only those with commands of uid 65534 there).
const RUN_IN_THE_CLONE: [&str; 2] = [
    "checkout::uid_65534_runs_the_build_wherever_the_checkout_is",
    "docs::every_output_in_the_book_is_what_the_program_prints_now",
];

/// Uid 65534 runs each program of the build, the library loaded by its path and by its
/// soname, and reads the fixtures, through [`as_nobody`], given the checkout's paths. Run
/// in the clone below a 0700 directory too, where none of those paths can be reached.
#[test]
fn uid_65534_runs_the_build_wherever_the_checkout_is() {
    if !is_root() {
        return skip("starting processes as uid 65534 needs root");
    }
    let a = artifacts();
    let ns = Namespace::new("checkout");
    let run = |what: &str, cmd: &mut Command| {
        ns.env(cmd);
        let r = finish(cmd.output().expect("run as nobody"));
        assert_eq!(
            r.code, 0,
            "{what} as uid 65534:\n{}\n{}",
            r.stdout, r.stderr
        );
        r
    };
    let version = run("solab --version", as_nobody(&a.solab).arg("--version"));
    assert!(version.stdout.starts_with("solab "), "{}", version.stdout);
    let host = run(
        "solab-lab-host --lib libsolib.so",
        as_nobody(&a.lab_host)
            .arg("--lib")
            .arg(&a.libsolib)
            .arg("touch"),
    );
    assert!(host.stdout.contains("action=touch"), "{}", host.stdout);
    // Linked with -lsolib: the loader finds libsolib.so's soname beside the program.
    run("solib-client", &mut as_nobody(&a.c_client));
    run("solab-lab --help", as_nobody(&a.lab).arg("--help"));
    for f in ["libtextrel-pic.so", "libtextrel-textrel.so"] {
        run(
            &format!("cat {f}"),
            as_nobody(Path::new("/bin/cat"))
                .arg(a.fixtures.join(f))
                .stdout(std::process::Stdio::null()),
        );
    }
}

/// A mode 0700 directory under /tmp (mkdtemp's mode), removed on Drop with the clone in it.
struct PrivateDir(PathBuf);

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Copies the files directly in `from_dir` whose names `keep` accepts into `to_dir`: every
/// program and library `make build` leaves there, whatever it builds next.
fn copy_files(from_dir: &Path, keep: impl Fn(&str) -> bool, to_dir: &Path) -> usize {
    std::fs::create_dir_all(to_dir).expect("create the clone's target dir");
    let mut n = 0;
    for e in std::fs::read_dir(from_dir)
        .expect("read the build dir")
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !keep(&name) {
            continue;
        }
        // Links too: libsolib.so.0 -> libsolib.so, the soname programs linked with -lsolib
        // load.
        if e.file_type().is_ok_and(|t| t.is_symlink()) {
            let target = std::fs::read_link(e.path()).expect("read link");
            std::os::unix::fs::symlink(&target, to_dir.join(&name))
                .unwrap_or_else(|err| panic!("link {} in {}: {err}", name, to_dir.display()));
            n += 1;
            continue;
        }
        if !e.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        std::fs::copy(e.path(), to_dir.join(&name))
            .unwrap_or_else(|err| panic!("copy {} into {}: {err}", name, to_dir.display()));
        n += 1;
    }
    n
}

#[test]
fn a_clone_below_a_private_directory_runs_the_lab_the_book_and_the_helper() {
    if !is_root() {
        return skip("running processes as uid 65534 needs root");
    }
    if std::env::var_os(CHECKOUT_ENV).is_some() {
        return skip("this run is in a clone already (it runs RUN_IN_THE_CLONE)");
    }
    let a = artifacts();
    let private = PrivateDir(nix::unistd::mkdtemp("/tmp/solab-checkout-XXXXXX").expect("mkdtemp"));
    let clone = private.0.join("solab");
    let git = finish(
        Command::new("git")
            .args(["clone", "--quiet", "--shared"])
            .arg(&a.repo)
            .arg(&clone)
            .output()
            .expect("run git"),
    );
    assert_eq!(
        git.code,
        0,
        "git clone {}: {}",
        a.repo.display(),
        git.stderr
    );
    // The clone holds this working tree's changes to tracked files too (the scripts it
    // runs, docs/out/*.sh and the Makefile), not only what was last committed.
    let diff = Command::new("git")
        .current_dir(&a.repo)
        .args(["diff", "--binary", "HEAD"])
        .output()
        .expect("git diff");
    assert!(
        diff.status.success(),
        "git diff HEAD in {}",
        a.repo.display()
    );
    if !diff.stdout.is_empty() {
        let mut apply = Command::new("git")
            .current_dir(&clone)
            .args(["apply", "--whitespace=nowarn", "-"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("git apply");
        apply
            .stdin
            .take()
            .expect("stdin")
            .write_all(&diff.stdout)
            .expect("write the diff");
        assert!(apply.wait().expect("git apply").success());
    }
    // What the test is about: uid 65534 cannot reach anything in the clone.
    let probe = finish(
        as_nobody(Path::new("/usr/bin/stat"))
            .arg(clone.join("Makefile"))
            .output()
            .expect("run stat as nobody"),
    );
    assert!(
        probe.code != 0 && probe.stderr.contains("Permission denied"),
        "uid 65534 can reach {}: the test would prove nothing\n{}{}",
        clone.display(),
        probe.stdout,
        probe.stderr
    );
    for f in ["solab", "solab-lab", "solab-lab-host", "libsolib.so"] {
        util::require(&a.bin_dir.join(f));
    }
    copy_files(
        &a.bin_dir,
        |n| !n.ends_with(".d") && !n.ends_with(".rlib"),
        &clone.join("target/release"),
    );
    let fixtures = copy_files(
        &a.fixtures,
        |n| n.starts_with("libtextrel-") && n.ends_with(".so"),
        &clone.join("target/lab"),
    );
    assert_eq!(fixtures, 2, "libtextrel-*.so in {}", a.fixtures.display());

    // `make lab` without its build step (-o: take `build` as done). The variables of the
    // `make test` this may run under belong to that make, not to this one.
    let lab = finish(
        Command::new("make")
            .current_dir(&clone)
            .args(["--no-print-directory", "-o", "build", "lab"])
            // The copies are in the clone's target/release, wherever this build is.
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("PROFILE")
            .env_remove("MAKEFLAGS")
            .env_remove("MFLAGS")
            .env_remove("MAKELEVEL")
            .output()
            .expect("run make"),
    );
    assert!(
        lab.code == 0 && lab.stdout.contains("11 passed, 0 failed"),
        "make lab in {} exited {}:\n{}\n{}",
        clone.display(),
        lab.code,
        lab.stdout,
        lab.stderr
    );
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(clone.join("target/lab/report.json")).expect("the clone's report.json"),
    )
    .expect("report JSON");
    let e8 = &report["experiments"][7];
    assert_eq!(e8["title"], "Without root", "{e8}");
    assert_eq!(e8["pass"], true, "{e8}");
    let private_path = private.0.display().to_string();
    for c in e8["commands"].as_array().expect("commands") {
        let c = c.as_str().expect("command");
        assert!(
            !c.contains("setpriv") || !c.contains(&private_path),
            "uid 65534 was asked to run something in the private checkout: {c}"
        );
    }

    // artifacts() and the tests' cwd are the clone's.
    let mut inner = Command::new(std::env::current_exe().expect("this test binary"));
    inner
        .current_dir(&clone)
        .env(CHECKOUT_ENV, &clone)
        .args(["--exact", "--test-threads", "2"])
        .args(RUN_IN_THE_CLONE);
    let run = finish(inner.output().expect("run the tests in the clone"));
    let all_passed = format!("test result: ok. {} passed", RUN_IN_THE_CLONE.len());
    assert!(
        run.code == 0 && run.stdout.contains(&all_passed),
        "the tests in {} (exit {}):\n{}\n{}",
        clone.display(),
        run.code,
        run.stdout,
        run.stderr
    );
}
