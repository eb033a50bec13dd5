//! Tests of `solab inspect --svg`: the picture parses as XML, its cells agree with the JSON
//! of the same scan, strings from outside are escaped, and weak mode says so.

use crate::util::{self, Namespace, Proc, artifacts, as_nobody, spawn_host};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A temporary directory, removed on Drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn check(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn solab(args: &[&str]) -> Output {
    Command::new(&artifacts().solab)
        .args(args)
        .output()
        .expect("run solab")
}

fn pids(hosts: &[&Proc]) -> Vec<String> {
    hosts.iter().map(|h| h.pid().to_string()).collect()
}

/// `solab inspect --json --svg FILE --object OBJ PIDS`: the report and the picture of one
/// scan.
fn scan(object: &str, hosts: &[&Proc], dir: &Path) -> (Value, String) {
    let svg = dir.join("scan.svg");
    let svg_arg = svg.to_string_lossy().into_owned();
    let p = pids(hosts);
    let mut args = vec!["inspect", "--json", "--svg", &svg_arg, "--object", object];
    args.extend(p.iter().map(String::as_str));
    let out = solab(&args);
    check(&out, "solab inspect --json --svg");
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let picture = std::fs::read_to_string(&svg).expect("the SVG file");
    (report, picture)
}

fn parse(picture: &str) -> roxmltree::Document<'_> {
    roxmltree::Document::parse(picture).unwrap_or_else(|e| {
        let head: String = picture.chars().take(2000).collect();
        panic!("the SVG is not XML: {e}\n{head}")
    })
}

fn cells<'a, 'i>(doc: &'a roxmltree::Document<'i>) -> Vec<roxmltree::Node<'a, 'i>> {
    doc.descendants()
        .filter(|n| n.attribute("class") == Some("cell"))
        .collect()
}

fn attr<'a>(n: &roxmltree::Node<'a, '_>, name: &str) -> &'a str {
    n.attribute(name)
        .unwrap_or_else(|| panic!("cell without {name}: {n:?}"))
}

fn pages_of(n: &roxmltree::Node) -> u64 {
    attr(n, "data-pages").parse().expect("data-pages")
}

fn title_of(n: &roxmltree::Node) -> String {
    n.children()
        .find(|c| c.has_tag_name("title"))
        .and_then(|t| t.text())
        .unwrap_or_else(|| panic!("cell without <title>: {n:?}"))
        .to_string()
}

/// Whether the page's frame in `q` is also the frame of another process of the scan (by
/// PFN; without PFNs, the weak shared verdict).
fn tied(page: &Value, q: &Value) -> bool {
    if q["present"] != true {
        return false;
    }
    match q["pfn"].as_u64() {
        Some(pfn) => {
            page["procs"]
                .as_array()
                .expect("procs")
                .iter()
                .filter(|o| o["present"] == true && o["pfn"].as_u64() == Some(pfn))
                .count()
                > 1
        }
        None => page["verdict"] == "looks-shared",
    }
}

/// The processes each row stands for, by the first pid its cells name: a row of
/// identical processes lists them all in its label's `data-pids`.
fn row_members(doc: &roxmltree::Document) -> BTreeMap<i64, Vec<i64>> {
    let mut rows = BTreeMap::new();
    for g in doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("rows"))
    {
        let pids: Vec<i64> = attr(&g, "data-pids")
            .split(' ')
            .map(|p| p.parse().expect("a pid in data-pids"))
            .collect();
        rows.insert(pids[0], pids);
    }
    rows
}

/// How many processes a cell stands for.
fn count_of(n: &roxmltree::Node) -> u64 {
    n.attribute("data-count")
        .map_or(1, |c| c.parse().expect("data-count"))
}

/// Checks the picture against the report, cell by cell class: pages per (pid, state,
/// tied), one fill colour per class, pages per verdict (on each cell's column), tie bars
/// (one per group of processes sharing a frame, holding exactly the tied cells), titles.
/// Returns the page count per state over every process.
fn agrees(report: &Value, picture: &str) -> BTreeMap<String, u64> {
    let doc = parse(picture);
    let cells = cells(&doc);
    let members = row_members(&doc);
    let mut expected: BTreeMap<(i64, String, bool), u64> = BTreeMap::new();
    let mut verdicts: BTreeMap<String, u64> = BTreeMap::new();
    let mut tie_bars = 0u64;
    let mut tied_pages = 0u64;
    let mut first_pids = Vec::new();
    for obj in report["objects"].as_array().expect("objects") {
        first_pids.push(obj["procs"][0]["pid"].as_i64().expect("pid"));
        for page in obj["pages"].as_array().expect("pages") {
            let n = page["pages"].as_u64().expect("pages");
            *verdicts
                .entry(page["verdict"].as_str().expect("verdict").into())
                .or_default() += n;
            let procs = page["procs"].as_array().expect("procs");
            let mut groups: BTreeMap<u64, u64> = BTreeMap::new();
            for q in procs {
                let key = (
                    q["pid"].as_i64().expect("pid"),
                    q["state"].as_str().expect("state").to_string(),
                    tied(page, q),
                );
                tied_pages += n * u64::from(key.2);
                *expected.entry(key).or_default() += n;
                if q["present"] == true {
                    *groups.entry(q["pfn"].as_u64().unwrap_or(0)).or_default() += 1;
                }
            }
            let weak_tie =
                procs.iter().any(|q| q["pfn"].is_null()) && page["verdict"] == "looks-shared";
            tie_bars += n * if weak_tie {
                1
            } else if procs
                .iter()
                .all(|q| q["present"] != true || q["pfn"].is_u64())
            {
                groups.values().filter(|&&k| k > 1).count() as u64
            } else {
                0
            };
        }
    }

    let mut seen: BTreeMap<(i64, String, bool), u64> = BTreeMap::new();
    let mut fills: BTreeMap<String, (String, bool)> = BTreeMap::new();
    let mut seen_verdicts: BTreeMap<String, u64> = BTreeMap::new();
    let mut per_state: BTreeMap<String, u64> = BTreeMap::new();
    for c in &cells {
        let pid: i64 = attr(c, "data-pid").parse().expect("data-pid");
        let state = attr(c, "data-state").to_string();
        let is_tied = attr(c, "data-tied") == "1";
        let n = pages_of(c);
        let row = members.get(&pid).cloned().unwrap_or_else(|| vec![pid]);
        assert_eq!(
            row.len() as u64,
            count_of(c),
            "the count of the row of {pid}"
        );
        for m in row {
            *seen.entry((m, state.clone(), is_tied)).or_default() += n;
            *per_state.entry(state.clone()).or_default() += n;
        }
        let class = (state.clone(), is_tied);
        let fill = attr(c, "fill").to_string();
        let before = fills.entry(fill.clone()).or_insert_with(|| class.clone());
        assert_eq!(
            *before, class,
            "fill {fill} stands for two kinds of page: {before:?} and {class:?}"
        );
        let tip = title_of(c);
        assert!(tip.contains(&format!("pid {pid}")), "{tip}");
        assert!(tip.contains(&format!("state {state}")), "{tip}");
        assert!(tip.contains("offset"), "{tip}");
    }
    // A column per page (or run of pages) of each object, its verdict on it; the cells of
    // a row are drawn over the columns, one per run of pages that look alike.
    let objects: Vec<_> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("object"))
        .collect();
    assert_eq!(objects.len(), first_pids.len(), "a band per object");
    for column in doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("page"))
    {
        *seen_verdicts
            .entry(attr(&column, "data-verdict").into())
            .or_default() += pages_of(&column);
    }
    assert_eq!(
        seen, expected,
        "pages per (pid, state, tied): picture (left) vs JSON (right)"
    );
    assert_eq!(
        seen_verdicts, verdicts,
        "pages per verdict: picture vs JSON"
    );
    let bars: Vec<_> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("tie"))
        .collect();
    let ties: u64 = bars.iter().map(pages_of).sum();
    assert_eq!(
        ties, tie_bars,
        "tie bars (pages): one per group sharing a frame"
    );
    let procs_in_ties: u64 = bars
        .iter()
        .map(|b| pages_of(b) * attr(b, "data-procs").parse::<u64>().expect("data-procs"))
        .sum();
    assert_eq!(
        procs_in_ties, tied_pages,
        "tie bars hold exactly the tied cells"
    );
    for b in &bars {
        let tip = title_of(b);
        assert!(
            tip.contains(" of the ") && tip.contains("processes"),
            "{tip}"
        );
    }
    per_state
}

#[test]
fn three_hosts_picture_matches_the_json_of_the_same_scan() {
    let ns = Namespace::new("svg-three");
    let a = spawn_host("A", &ns, &["touch", "add:1,2"]);
    let b = spawn_host("B", &ns, &["touch", "add:3,4"]);
    let c = spawn_host("C", &ns, &["touch"]);
    let dir = TempDir::new("solab-svg-three");
    let (report, picture) = scan("libsolib.so", &[&a, &b, &c], &dir.0);
    assert!(picture.starts_with("<svg"), "{}", &picture[..100]);
    let per_state = agrees(&report, &picture);
    let doc = parse(&picture);
    let text: String = doc
        .descendants()
        .filter_map(|n| n.text())
        .collect::<Vec<_>>()
        .join("\n");
    // Every segment of libsolib.so is named, the legend is there.
    for seg in ["text", "rodata", "relro", "data", "bss", "shared"] {
        assert!(
            doc.descendants().any(|n| n.text() == Some(seg)),
            "no label {seg}"
        );
    }
    assert!(text.contains("Legend"));
    assert!(text.contains("libsolib.so"));
    if util::is_root() {
        assert!(!text.contains("WEAK MODE"));
        // The three claims, as colours: text shared, written data private, .shared shared.
        assert!(per_state.get("anon-exclusive").copied().unwrap_or(0) > 0);
        assert!(per_state.get("shared-window").copied().unwrap_or(0) >= 3);
        let text_cells = cells(&doc)
            .into_iter()
            .filter(|c| title_of(c).contains("segment text"))
            .collect::<Vec<_>>();
        assert!(!text_cells.is_empty());
        assert!(
            text_cells
                .iter()
                .all(|c| attr(c, "data-tied") == "1" && title_of(c).ends_with("verdict shared"))
        );
        // Every text column is one frame in the three.
        let doc_columns = doc
            .descendants()
            .filter(|n| n.attribute("class") == Some("page"))
            .filter(|col| {
                col.children().any(|b| {
                    b.attribute("class") == Some("tie") && title_of(&b).contains("segment text")
                })
            })
            .count();
        assert!(doc_columns > 0);
    }

    // `--svg -` writes the same kind of picture to stdout.
    let p = pids(&[&a, &b, &c]);
    let mut args = vec!["inspect", "--svg", "-", "--object", "libsolib.so"];
    args.extend(p.iter().map(String::as_str));
    let out = solab(&args);
    check(&out, "solab inspect --svg -");
    let stdout = String::from_utf8(out.stdout).expect("UTF-8");
    assert!(!cells(&parse(&stdout)).is_empty());

    // Both to stdout is refused.
    let mut args = vec!["inspect", "--json", "--svg", "-"];
    args.extend(p.iter().map(String::as_str));
    let out = solab(&args);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("stdout"));
}

#[test]
fn libc_sized_object_stays_small_and_consistent() {
    let ns = Namespace::new("svg-libc");
    let a = spawn_host("A", &ns, &["touch-all"]);
    let b = spawn_host("B", &ns, &["touch-all"]);
    let dir = TempDir::new("solab-svg-libc");
    let (report, picture) = scan("libc.so.6", &[&a, &b], &dir.0);
    agrees(&report, &picture);
    assert!(
        picture.len() < 1_500_000,
        "libc's picture is {} bytes",
        picture.len()
    );
}

#[test]
fn paths_with_markup_characters_are_escaped() {
    let dir = TempDir::new("solab svg <&\"'>");
    let lib = dir.0.join("lib<a&b>\"q'.so");
    std::fs::copy(&artifacts().libsolib, &lib).expect("copy libsolib.so");
    let ns = Namespace::new("svg-escape");
    let mut cmd = Command::new(&artifacts().lab_host);
    cmd.arg("--lib")
        .arg(&lib)
        .args(["touch", "serve"])
        .env("SOLIB_NAMESPACE", &ns.name);
    let host = Proc::spawn("escape", cmd, "action=serve");
    let (report, picture) = scan("lib<a&b>", &[&host], &dir.0);
    assert!(picture.contains("&lt;a&amp;b&gt;"), "not escaped");
    assert!(!picture.contains("<a&b>"));
    let doc = parse(&picture);
    let path = lib.to_string_lossy();
    assert!(
        doc.descendants().any(|n| n.text() == Some(&path)),
        "the picture does not name {path}"
    );
    agrees(&report, &picture);
}

#[test]
fn weak_mode_says_so_in_the_picture() {
    if !util::is_root() {
        // As any other user every picture is weak: the first test checks it.
        return util::skip("uid 65534's processes can be started only by root");
    }
    let ns = Namespace::new("svg-weak");
    let host = |name: &str, actions: &[&str]| {
        let mut cmd = as_nobody(&artifacts().lab_host);
        cmd.arg("--lib")
            .arg(&artifacts().libsolib)
            .args(actions)
            .arg("serve")
            .env("SOLIB_NAMESPACE", &ns.name);
        Proc::spawn(name, cmd, "action=serve")
    };
    let a = host("A", &["touch", "add:1,2"]);
    let b = host("B", &["touch"]);
    let p = pids(&[&a, &b]);
    let mut args: Vec<&str> = vec!["inspect", "--svg", "-", "--object", "libsolib.so"];
    args.extend(p.iter().map(String::as_str));
    let out = as_nobody(&artifacts().solab)
        .args(&args)
        .output()
        .expect("solab as nobody");
    check(&out, "solab --svg - as uid 65534");
    let picture = String::from_utf8(out.stdout).expect("UTF-8");
    let doc = parse(&picture);
    assert!(
        doc.descendants()
            .any(|n| n.attribute("class") == Some("weak")
                && n.text().is_some_and(|t| t.contains("WEAK MODE"))),
        "no weak-mode banner"
    );
    let all = cells(&doc);
    assert!(!all.is_empty());
    for c in &all {
        let tip = title_of(c);
        assert!(
            !tip.contains("frame 0x"),
            "a frame number in weak mode: {tip}"
        );
    }
    // The JSON of a weak scan agrees with its picture too.
    let svg = ns_path(&ns);
    let svg_arg = svg.to_string_lossy().into_owned();
    let mut args: Vec<&str> = vec![
        "inspect",
        "--json",
        "--svg",
        &svg_arg,
        "--object",
        "libsolib.so",
    ];
    args.extend(p.iter().map(String::as_str));
    let out = as_nobody(&artifacts().solab)
        .args(&args)
        .output()
        .expect("solab as nobody");
    check(&out, "solab --json --svg as uid 65534");
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["privileged"], false);
    let picture = std::fs::read_to_string(&svg).expect("the SVG");
    let _ = std::fs::remove_file(&svg);
    agrees(&report, &picture);
}

/// A file uid 65534 may write: in /dev/shm, named after the namespace (removed with it).
fn ns_path(ns: &Namespace) -> PathBuf {
    PathBuf::from(format!("/dev/shm/solab-svg-{}", ns.name))
}

#[test]
fn the_book_example_is_a_picture_of_three_hosts() {
    let img = artifacts()
        .repo
        .join("docs/src/img/three-hosts-libsolib.svg");
    let picture =
        std::fs::read_to_string(&img).unwrap_or_else(|e| panic!("{}: {e}", img.display()));
    let doc = parse(&picture);
    assert!(cells(&doc).len() > 10);
}

/// The picture grows as pages × processes. 25 real hosts (SOLAB_SVG_HOSTS=N for
/// more) of libsolib.so, touched alike, plus the first one's written data: the picture
/// agrees with the JSON and its bytes per cell stay those of a small picture. The size at
/// 200 processes is asserted by the unit test `output::svg::tests`; times are printed,
/// not asserted.
#[test]
fn many_hosts_picture_grows_linearly() {
    let n: usize = std::env::var("SOLAB_SVG_HOSTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(25);
    let ns = Namespace::new("svg-many");
    let mut hosts = vec![spawn_host("H0", &ns, &["touch", "add:1,2"])];
    for i in 1..n {
        hosts.push(spawn_host(&format!("H{i}"), &ns, &["touch"]));
    }
    let refs: Vec<&Proc> = hosts.iter().collect();
    let dir = TempDir::new("solab-svg-many");
    let t = std::time::Instant::now();
    let (report, picture) = scan("libsolib.so", &refs, &dir.0);
    let took = t.elapsed();
    agrees(&report, &picture);
    let entries = report["objects"][0]["pages"]
        .as_array()
        .expect("pages")
        .len();
    let cells = entries * n;
    let per_cell = picture.len() as f64 / cells as f64;
    eprintln!(
        "svg: libsolib.so, {entries} entries x {n} hosts: {} bytes ({per_cell:.0} per cell), \
         inspect --json --svg in {:.0} ms",
        picture.len(),
        took.as_secs_f64() * 1e3
    );
    // A cell, its tooltip and its share of its column and tie bar: about 300 bytes
    // (ties naming every pid made it grow with n: 8.8 MB at 25 processes).
    assert!(per_cell < 450.0, "{per_cell:.0} bytes per cell");
}

/// Processes whose pages of the object look the same (the same state, tied to the same
/// frame as the same others) share one row labelled with their count, so the picture does
/// not grow with them; a process whose page differs (written data) keeps its own row.
#[test]
fn identical_processes_share_a_row_and_the_size_does_not_grow_with_them() {
    let ns = Namespace::new("svg-rows");
    let odd = spawn_host("ODD", &ns, &["touch", "add:1,2"]);
    let hosts: Vec<Proc> = (0..80)
        .map(|i| spawn_host(&format!("S{i}"), &ns, &["touch"]))
        .collect();
    let dir = TempDir::new("solab-svg-rows");
    let mut sizes = Vec::new();
    for n in [20, 40, 80] {
        let mut refs: Vec<&Proc> = vec![&odd];
        refs.extend(hosts.iter().take(n));
        let (report, picture) = scan("libsolib.so", &refs, &dir.0);
        agrees(&report, &picture);
        let doc = parse(&picture);
        let rows = row_members(&doc);
        let odd_pid = i64::from(odd.pid());
        // The odd one out has a row of its own, named by its pid.
        assert!(!rows.values().any(|r| r.contains(&odd_pid)), "{rows:?}");
        assert!(
            cells(&doc)
                .iter()
                .any(|c| attr(c, "data-pid") == odd_pid.to_string() && count_of(c) == 1),
            "no row of its own for pid {odd_pid}"
        );
        // The others, touched alike, in one row or a few (a page faulted in one and not
        // yet in another is a real difference).
        let drawn: std::collections::BTreeSet<&str> =
            cells(&doc).iter().map(|c| attr(c, "data-pid")).collect();
        assert!(
            drawn.len() <= 4,
            "{n} hosts and one more in {} rows",
            drawn.len()
        );
        if n == 40 {
            assert!(
                rows.values().any(|r| r.len() >= 30),
                "40 hosts: rows of {:?} processes",
                rows.values().map(Vec::len).collect::<Vec<_>>()
            );
        }
        let text: String = doc
            .descendants()
            .filter_map(|n| n.text())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            text.contains("processes: pids "),
            "no row label with a count"
        );
        assert!(
            text.contains("identical processes"),
            "no legend for the count"
        );
        eprintln!(
            "svg: libsolib.so, 1 + {n} hosts in {} rows: {} bytes",
            drawn.len(),
            picture.len()
        );
        sizes.push(picture.len() as f64);
    }
    assert!(
        sizes[2] < sizes[0] * 1.5,
        "20 hosts: {} bytes, 80 hosts: {} bytes",
        sizes[0],
        sizes[2]
    );
}

/// libc over 200 real processes of two programs (100 lab hosts, 100 Python interpreters,
/// as `make bench` starts them): the processes differ in which of libc's pages they have
/// touched, so the picture has dozens of rows of identical processes; each row is drawn
/// as one cell per run of pages that look alike, so the picture stays under 2 MB (one
/// cell per page of each row was 5.7 MB) and still agrees with the JSON page by page.
#[test]
fn libc_over_two_hundred_processes_stays_under_two_megabytes() {
    let ns = Namespace::new("svg-libc200");
    let mut procs: Vec<Proc> = Vec::new();
    for i in 0..100 {
        procs.push(spawn_host(&format!("L{i}"), &ns, &["touch"]));
        let mut py = Command::new("python3");
        py.args([
            "-c",
            "import sys, json, re, collections, decimal, time; print('ready', flush=True); time.sleep(300)",
        ]);
        procs.push(Proc::spawn("python3", py, "ready"));
    }
    let refs: Vec<&Proc> = procs.iter().collect();
    let dir = TempDir::new("solab-svg-libc200");
    let (report, picture) = scan("libc.so.6", &refs, &dir.0);
    agrees(&report, &picture);
    let doc = parse(&picture);
    let rows: std::collections::BTreeSet<&str> =
        cells(&doc).iter().map(|c| attr(c, "data-pid")).collect();
    eprintln!(
        "svg: libc.so.6 over 200 processes in {} rows, {} cells: {} bytes",
        rows.len(),
        cells(&doc).len(),
        picture.len()
    );
    assert!(
        picture.len() < 2_000_000,
        "libc over 200 processes: {} bytes",
        picture.len()
    );
}

/// A parent that wrote 64 pages and forked 12 children that wrote nothing since: every
/// child's pages are still the parent's frames, so `family --svg` draws the children as
/// one row with their count, tied to the parent's, and still names every pid.
const IDLE_CHILDREN_C: &str = r#"
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(void) {
    size_t len = 64 * 4096;
    char *area = aligned_alloc(4096, len);
    if (!area) return 1;
    memset(area, 3, len);
    for (int i = 0; i < 12; i++) {
        pid_t kid = fork();
        if (kid < 0) { perror("fork"); return 1; }
        if (kid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() == 1) _exit(1);
            for (;;) pause();
        }
    }
    printf("ready\n");
    fflush(stdout);
    for (;;) pause();
}
"#;

#[test]
fn family_svg_draws_identical_children_once_with_their_count() {
    let prog = util::Compiled::from_source("idle-children", IDLE_CHILDREN_C, &["-O2"], &[]);
    let parent = Proc::spawn("idle-children", Command::new(&prog.path), "ready");
    let pid = parent.pid().to_string();
    let kids: Vec<i64> = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .expect("children")
        .split_whitespace()
        .map(|p| p.parse().expect("pid"))
        .collect();
    let _reaped = util::KillOnDrop(kids.iter().map(|&k| k as i32).collect());
    assert_eq!(kids.len(), 12);
    let out = solab(&["family", "--svg", "-", &pid]);
    check(&out, "solab family --svg -");
    let picture = String::from_utf8(out.stdout).expect("UTF-8");
    let doc = parse(&picture);
    // The band of the parent's heap: its rows.
    let rows = row_members(&doc);
    let merged: Vec<&Vec<i64>> = rows.values().filter(|r| r.len() > 1).collect();
    assert!(!merged.is_empty(), "no row of identical children");
    for r in &merged {
        assert!(r.iter().all(|p| kids.contains(p)), "{r:?} vs {kids:?}");
    }
    // Each band: its rows' processes are the family's 13, its cells count them.
    for band in doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("mapping"))
    {
        let mut drawn: BTreeMap<i64, u64> = BTreeMap::new();
        for c in band
            .descendants()
            .filter(|n| n.attribute("class") == Some("cell"))
        {
            drawn.insert(attr(&c, "data-pid").parse().expect("pid"), count_of(&c));
        }
        let procs: u64 = drawn.values().sum();
        assert_eq!(procs, 13, "{drawn:?}");
        assert!(drawn.len() < 13, "no row drawn once: {drawn:?}");
        for bar in band
            .descendants()
            .filter(|n| n.attribute("class") == Some("tie"))
        {
            assert!(attr(&bar, "data-procs").parse::<u64>().expect("procs") <= 13);
        }
    }
    eprintln!(
        "svg: family of 1 + 12 idle children: {} bytes, rows {:?}",
        picture.len(),
        merged.iter().map(|r| r.len()).collect::<Vec<_>>()
    );
}
