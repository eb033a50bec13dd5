//! `make lab` and the tests that run processes as another user work wherever the repository
//! is cloned, also below a directory that user cannot search (a clone in root's 0700
//! home, say).
//!
//! The cheapest design that still exercises it for real: `git clone` into a fresh 0700
//! directory (with this working tree's changes to tracked files), then copies of this
//! build's programs and fixtures into the clone's target/. Building in the clone would take
//! about 4 minutes on a 2-core machine: the compiler flags name the checkout's path
//! (--remap-path-prefix), so nothing of this build could be reused. With the copies in
//! place, `make -o build lab` runs the very recipe of `make lab` minus its build step, and
//! this test binary runs its other-user tests again with SOLAB_TEST_CHECKOUT pointing
//! `artifacts()` at the clone. Both go through the clone's paths, which uid 65534 cannot
//! reach (checked first), so they pass only because nothing uid 65534 runs or reads is
//! taken from the checkout. Cost: about 1 s (the lab itself runs in 0.4 s).

use crate::util::{self, CHECKOUT_ENV, artifacts, as_nobody, finish, is_root};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The tests that start processes of uid 65534 from the checkout's programs, run again in
/// the clone. `make lab` stands for lab::every_experiment_passes.
const OTHER_USER_TESTS: [&str; 4] = [
    "lab::an_unprivileged_lab_passes_on_weak_evidence_and_says_so",
    "libs::unprivileged_scan_gives_labelled_estimates",
    "solib::another_uid_can_neither_open_the_region_nor_share_it",
    // The book's pages with commands of uid 65534 (the others depend on nothing of this).
    "docs::every_output_in_the_book_is_what_the_program_prints_now",
];

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
fn a_clone_below_a_private_directory_runs_the_lab_and_the_other_user_tests() {
    if !is_root() {
        eprintln!("skipped: running processes as uid 65534 needs root");
        return;
    }
    if std::env::var_os(CHECKOUT_ENV).is_some() {
        return; // this is the run in the clone
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
            // The copies are in the clone's target/, wherever this build is.
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("MAKEFLAGS")
            .env_remove("MFLAGS")
            .env_remove("MAKELEVEL")
            .output()
            .expect("run make"),
    );
    assert!(
        lab.code == 0 && lab.stdout.contains("10 passed, 0 failed"),
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

    // The other-user tests, in the clone: artifacts() and the tests' cwd are the clone's.
    let mut inner = Command::new(std::env::current_exe().expect("this test binary"));
    inner
        .current_dir(&clone)
        .env(CHECKOUT_ENV, &clone)
        .args(["--exact", "--test-threads", "2"])
        .args(OTHER_USER_TESTS);
    let run = finish(inner.output().expect("run the tests in the clone"));
    let all_passed = format!("test result: ok. {} passed", OTHER_USER_TESTS.len());
    assert!(
        run.code == 0 && run.stdout.contains(&all_passed),
        "the other-user tests in {} (exit {}):\n{}\n{}",
        clone.display(),
        run.code,
        run.stdout,
        run.stderr
    );
}
