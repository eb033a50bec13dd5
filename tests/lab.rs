//! `make lab` end to end: every experiment passes, the report says so, and nothing the lab
//! started is left running or in /dev/shm, also when it is interrupted.

use crate::util::{self, Proc, artifacts, skip};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn lab_cmd(out: &Path) -> Command {
    let a = artifacts();
    let lab = a.bin_dir.join("solab-lab");
    util::require(&lab);
    util::require(&lab_dir().join("libtextrel-textrel.so"));
    let mut c = Command::new(lab);
    c.current_dir(&a.repo)
        .args(["--color", "never", "--fixtures"])
        .arg(lab_dir())
        .arg("--out")
        .arg(out);
    c
}

fn lab_dir() -> PathBuf {
    artifacts().fixtures.clone()
}

/// A lab's --out directory, removed on Drop (also when the test fails).
struct OutDir(PathBuf);

impl OutDir {
    fn new(test: &str) -> OutDir {
        let out = std::env::temp_dir().join(format!("solab-lab-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&out).unwrap();
        OutDir(out)
    }
}

impl Drop for OutDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The directory of copies that the lab's experiment 8 says uid 65534 ran from.
fn copies_of(experiment: &serde_json::Value) -> PathBuf {
    let evidence = experiment["evidence"].as_array().unwrap();
    let line = evidence
        .iter()
        .filter_map(|e| e.as_str())
        .find_map(|e| e.split_once("from copies in "))
        .unwrap_or_else(|| panic!("experiment 8 names no copies: {evidence:?}"))
        .1;
    PathBuf::from(line.split_whitespace().next().unwrap())
}

/// Processes whose environment names the lab's namespace, and its /dev/shm objects.
fn leftovers(ns: &str) -> (Vec<String>, Vec<String>) {
    let needle = format!("SOLIB_NAMESPACE={ns}");
    let mut procs = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) {
            if env.split(|&b| b == 0).any(|v| v == needle.as_bytes()) {
                procs.push(pid.to_string());
            }
        }
    }
    let objects = std::fs::read_dir("/dev/shm")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(&format!("-{ns}")))
        .collect();
    (procs, objects)
}

#[test]
fn every_experiment_passes_and_nothing_is_left_behind() {
    let out = lab_dir();
    let run = lab_cmd(&out).output().unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let failed: Vec<String> = report["experiments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["pass"] != true)
        .map(|e| format!("{}. {}: {}", e["id"], e["title"], e["why"]))
        .collect();
    assert!(
        failed.is_empty(),
        "experiments failed:\n{}\n\nlab output:\n{stdout}",
        failed.join("\n")
    );
    assert_eq!(report["passed"], 11, "{stdout}");
    assert_eq!(report["schema"], "solab.lab.v1");
    assert!(
        run.status.success(),
        "lab exited {:?}\n{stdout}",
        run.status
    );
    assert!(stdout.contains("11 passed, 0 failed"), "{stdout}");
    for e in report["experiments"].as_array().unwrap() {
        assert!(
            !e["commands"].as_array().unwrap().is_empty()
                && !e["evidence"].as_array().unwrap().is_empty(),
            "experiment {} shows no commands or no evidence",
            e["id"]
        );
    }
    // Experiment 9 shows every step of the unloading story; as root, on frame numbers.
    let e9 = evidence_of(&report, 9);
    for step in ["1. ", "2. ", "3. ", "4. ", "5. "] {
        assert!(
            e9.iter().any(|l| l.starts_with(step)),
            "experiment 9 shows no step {step}: {e9:?}"
        );
    }
    assert!(
        e9.iter()
            .any(|l| l.contains("the loader's reference count in A reached zero")),
        "{e9:?}"
    );
    if report["privileged"] == true {
        assert!(
            e9.iter()
                .any(|l| l.contains("pages on the very frames A, B and C used")),
            "{e9:?}"
        );
    }
    // Experiment 10: the child's .data page at the parent's address, one frame (as root)
    // until the child wrote, then its own copy; solab family drew both moments.
    let e10 = evidence_of(&report, 10);
    for step in [
        "1. ",
        "2. solab family",
        "3. after the child's",
        "4. one address",
    ] {
        assert!(
            e10.iter().any(|l| l.starts_with(step)),
            "experiment 10 shows no step {step}: {e10:?}"
        );
    }
    if report["privileged"] == true {
        assert!(
            e10.iter().any(|l| l.contains("first one frame, then two")),
            "{e10:?}"
        );
    }
    // Who broke the sharing: the child's copies are named by the function that wrote them.
    let e11 = evidence_of(&report, 11);
    assert!(
        e11.iter()
            .any(|l| l.contains("copied by libsolib.so!solib_add (seen)")),
        "{e11:?}"
    );
    let e10_pictures = report["experiments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == 10)
        .unwrap()["pictures"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(
        e10_pictures, 2,
        "the family before and after the child wrote"
    );
    let ns = report["namespace"].as_str().unwrap();
    assert_eq!(leftovers(ns), (vec![], vec![]), "left behind by the lab");
    if util::is_root() {
        // Experiment 8 ran uid 65534's processes from copies outside the checkout, and the
        // lab removed them.
        let e8 = &report["experiments"][7];
        let copies = copies_of(e8);
        assert!(
            copies
                .to_string_lossy()
                .starts_with("/tmp/solab-lab-copies-"),
            "{e8}"
        );
        assert!(
            e8["commands"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c.as_str().unwrap().contains("setpriv"))
                .all(|c| c.as_str().unwrap().contains(copies.to_str().unwrap())),
            "a command of uid 65534 does not run from {}: {e8}",
            copies.display()
        );
        assert!(!copies.exists(), "{} left behind", copies.display());
    }
}

/// The evidence lines of experiment `id` in a lab report.
fn evidence_of(report: &serde_json::Value, id: u64) -> Vec<String> {
    report["experiments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id)
        .unwrap_or_else(|| panic!("no experiment {id} in the report"))["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l.as_str().map(String::from))
        .collect()
}

#[test]
fn one_experiment_runs_alone() {
    let out = OutDir::new("one");
    let run = lab_cmd(&out.0).args(["-e", "5"]).output().unwrap();
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.0.join("report.json")).unwrap()).unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stdout)
    );
    let ids: Vec<u64> = report["experiments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, vec![5]);
    let bad = lab_cmd(&lab_dir()).args(["-e", "12"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no experiment 12"));
}

#[test]
fn an_interrupted_lab_leaves_nothing_behind() {
    let out = OutDir::new("int");
    let mut lab = Proc::spawn("lab", lab_cmd(&out.0), "namespace ");
    let ns = lab.seen[0].split_whitespace().nth(1).unwrap().to_string();
    // Mid-experiment: the hosts of experiment 5 are running.
    lab.expect("SOLIB_NAMESPACE=");
    let before = leftovers(&ns);
    assert!(
        !before.0.is_empty(),
        "no lab-host was running when interrupted"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(lab.pid()),
        nix::sys::signal::SIGINT,
    )
    .unwrap();
    let (status, _) = lab.finish();
    assert_eq!(status.code(), Some(130));
    // Children die with the lab (PR_SET_PDEATHSIG) and are reaped by init: give it a moment.
    let mut left = leftovers(&ns);
    for _ in 0..100 {
        if left == (vec![], vec![]) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
        left = leftovers(&ns);
    }
    assert_eq!(left, (vec![], vec![]), "left behind after Ctrl-C");
}

#[test]
fn an_interrupted_experiment_8_removes_the_copies_it_made_for_uid_65534() {
    if !util::is_root() {
        return skip("experiment 8 switches to uid 65534 only as root");
    }
    let out = OutDir::new("int8");
    let mut cmd = lab_cmd(&out.0);
    cmd.args(["-e", "8"]);
    let mut lab = Proc::spawn("lab", cmd, "namespace ");
    let said = lab.expect("from copies in ");
    let copies = PathBuf::from(
        said.split_once("from copies in ")
            .unwrap()
            .1
            .split_whitespace()
            .next()
            .unwrap(),
    );
    // A host of uid 65534 runs from the copies when the lab is interrupted.
    lab.expect("setpriv");
    assert!(copies.join("libsolib.so").exists(), "{said}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(lab.pid()),
        nix::sys::signal::SIGINT,
    )
    .unwrap();
    let (status, _) = lab.finish();
    assert_eq!(status.code(), Some(130));
    assert!(
        !copies.exists(),
        "{} left behind after Ctrl-C",
        copies.display()
    );
}

#[test]
fn an_unprivileged_lab_passes_on_weak_evidence_and_says_so() {
    if !util::is_root() {
        return skip("the test switches to uid 65534, which needs root");
    }
    // It starts in the checkout, as `make lab` does.
    let scratch = util::Scratch::new();
    let out = scratch.writable_by_nobody("out");
    let mut cmd = util::as_nobody(&artifacts().lab);
    cmd.current_dir(&artifacts().repo)
        .args(["--color", "never", "--fixtures"])
        .arg(&artifacts().fixtures)
        .arg("--out")
        .arg(&out);
    let run = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["privileged"], false);
    assert!(stdout.contains("no CAP_SYS_ADMIN"), "{stdout}");
    for e in report["experiments"].as_array().unwrap() {
        assert_eq!(e["pass"], true, "{e}");
        assert_eq!(e["weak"], true, "experiment {} not labelled weak", e["id"]);
    }
    // Bits cannot say which frame: the unprivileged experiment calls its claims weak and
    // never says "one frame".
    let e8 = report["experiments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == 8)
        .unwrap();
    let lines: Vec<&str> = e8["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l.as_str())
        .collect();
    assert!(lines.iter().any(|l| l.contains("(weak)")), "{lines:?}");
    assert!(!lines.iter().any(|l| l.contains("one frame")), "{lines:?}");
    // Nor does the unloading experiment: it compares pages by their states and asks the
    // page cache with mincore, and says weak.
    let e9 = evidence_of(&report, 9);
    assert!(
        !e9.iter()
            .any(|l| l.contains("one frame") || l.contains("very frames")),
        "{e9:?}"
    );
    assert!(e9.iter().any(|l| l.contains("weak")), "{e9:?}");
    // Nor does the fork experiment: it reads bit 56, and says weak.
    let e10 = evidence_of(&report, 10);
    assert!(!e10.iter().any(|l| l.contains("one frame")), "{e10:?}");
    assert!(e10.iter().any(|l| l.contains("weak")), "{e10:?}");
    let ns = report["namespace"].as_str().unwrap();
    assert_eq!(
        leftovers(ns),
        (vec![], vec![]),
        "left behind by the unprivileged lab"
    );
}
