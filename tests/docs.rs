//! The book cannot drift from the program:
//! - every output shown in docs/ is `docs/src/out/NAME.txt`, produced by `docs/out/NAME.sh`;
//!   this test runs every snippet again and fails when its output differs from the book's,
//!   after eliding what changes from run to run (pids, addresses, frame numbers, build-ids,
//!   inode numbers, timings, the repository's path). `make docs-outputs` rewrites them.
//! - every `{{#include FILE:ANCHOR}}` names an existing file and anchor;
//! - every relative link and image in the book resolves, and chapters paste no output.

use crate::util::{artifacts, is_root};
use regex::Regex;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn docs() -> PathBuf {
    artifacts().repo.join("docs")
}

/// What changes from one run to the next, replaced by a placeholder.
fn normalize(text: &str) -> String {
    static RULES: OnceLock<Vec<(Regex, &'static str)>> = OnceLock::new();
    let rules = RULES.get_or_init(|| {
        [
            (r"(?m)^[0-9a-f]{8,}-[0-9a-f]{8,}", "[range]"),
            // The book was generated in one checkout, the test may run in another.
            (r"[^\s\[]*/?\btarget/(release|lab)/", "[repo]/target/${1}/"),
            (r"\b(docs|lab)\d+\b", "${1}[N]"),
            (r"\b[0-9a-f]{40}\b", "[build-id]"),
            (r"\bpfn 0x[0-9a-f]+", "pfn 0x[pfn]"),
            (r"([:/])0x[0-9a-f]+", "${1}0x[pfn]"),
            (r"\b([A-Z]) 0x[0-9a-f]+ \(", "${1} 0x[pfn] ("),
            (r"0x[0-9a-f]{6,}", "0x[addr]"),
            (
                r"\b\d+:(0x|\?|file|private|shared|zero|untouched|unmapped|swapped)",
                "[pid]:${1}",
            ),
            (r"/0x\[pfn\]/\d+", "/0x[pfn]/[n]"),
            (r"\b(pid[= ]|pid |uid \d+ pid )\d+", "${1}[pid]"),
            (r"\b\d+ \(([\w.-]+)\)", "[pid] (${1})"),
            (r"\bin pids( \d+)+", "in pids [pids]"),
            (r"(--object \S+)( \d+)+", "${1} [pids]"),
            (r"\b[A-Z], pid \d+", "[name], pid [pid]"),
            (r"( [0-9a-f]{2,3}:[0-9a-f]{2,3} +)\d+", "${1}[inode]"),
            (r"\b\d+(\.\d+)? ?(s|ms|µs|us|ns)\b", "[time]"),
            (r"\b[A-Z][a-z]{2} +\d+ +\d\d:\d\d\b", "[date]"),
        ]
        .into_iter()
        .map(|(re, to)| (Regex::new(re).expect("rule"), to))
        .collect()
    });
    let a = artifacts();
    let repo = a.repo.display().to_string();
    let mut s = text.to_string();
    // A build elsewhere (CARGO_TARGET_DIR, PROFILE) prints its own paths where the book
    // shows target/release and target/lab: written back as the book's.
    let target = a.bin_dir.parent().expect("target dir");
    if target != a.repo.join("target") || !a.bin_dir.ends_with("release") {
        s = s
            .replace(
                &a.bin_dir.display().to_string(),
                &format!("{repo}/target/release"),
            )
            .replace(&target.display().to_string(), &format!("{repo}/target"));
    }
    for (re, to) in rules {
        s = re.replace_all(&s, *to).into_owned();
    }
    let s = s.replace(&repo, "[repo]");
    // Columns are aligned to the width of pids and addresses: compare words, not spaces.
    static SPACES: OnceLock<Regex> = OnceLock::new();
    let spaces = SPACES.get_or_init(|| Regex::new(r"[ \t]+").expect("spaces"));
    s.lines()
        .map(|l| spaces.replace_all(l.trim_end(), " ").into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

fn snippets() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(docs().join("out"))
        .expect("docs/out")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "sh") && !p.ends_with("prelude.sh"))
        .collect();
    v.sort();
    v
}

/// Runs one snippet as the book's generator does and returns what it printed. Pictures go
/// to `img_dir`: docs/src/img when updating, a scratch directory when only checking.
fn run_snippet(sh: &Path, img_dir: &Path) -> String {
    let repo = &artifacts().repo;
    let script = format!(
        "source docs/out/prelude.sh\nsource {}",
        sh.strip_prefix(repo).unwrap_or(sh).display()
    );
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(repo)
        .env("NO_COLOR", "1")
        .env("SOLAB_BIN_DIR", &artifacts().bin_dir)
        .env("DOCS_IMG_DIR", img_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bash");
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{} ran for over 2 minutes", sh.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    text
}

fn first_difference(want: &str, got: &str) -> String {
    let (w, g): (Vec<&str>, Vec<&str>) = (want.lines().collect(), got.lines().collect());
    let i = w
        .iter()
        .zip(&g)
        .position(|(a, b)| a != b)
        .unwrap_or(w.len().min(g.len()));
    format!(
        "first difference at line {}:\n  book:    {}\n  program: {}",
        i + 1,
        w.get(i).unwrap_or(&"<end>"),
        g.get(i).unwrap_or(&"<end>")
    )
}

#[test]
fn every_output_in_the_book_is_what_the_program_prints_now() {
    let update = std::env::var_os("UPDATE_DOCS").is_some();
    let mut failures = Vec::new();
    let digits = Regex::new(r"\d+").unwrap();
    let scratch = std::env::temp_dir().join(format!("solab-docs-img-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let img_dir = if update {
        docs().join("src/img")
    } else {
        scratch.clone()
    };
    let all = snippets();
    assert!(!all.is_empty(), "no snippets in docs/out");
    // The book shows the default layout, target/release and target/lab; a build elsewhere
    // (CARGO_TARGET_DIR, another PROFILE) checks the snippets that do not name them.
    let a = artifacts();
    let default_layout =
        a.bin_dir.canonicalize().ok() == a.repo.join("target/release").canonicalize().ok();
    for sh in &all {
        let body = std::fs::read_to_string(sh).unwrap();
        if body.contains("# needs: root") && !is_root() {
            eprintln!("skipped {} (needs root)", sh.display());
            continue;
        }
        if body.contains("target/") && !default_layout {
            eprintln!(
                "skipped {} (it names target/, the build is in {})",
                sh.display(),
                a.bin_dir.display()
            );
            continue;
        }
        let txt = docs()
            .join("src/out")
            .join(sh.file_stem().unwrap())
            .with_extension("txt");
        let got = run_snippet(sh, &img_dir);
        let want = std::fs::read_to_string(&txt).unwrap_or_default();
        let (mut nw, mut ng) = (normalize(&want), normalize(&got));
        // Outputs that depend on the whole machine (what other processes run, what the page
        // cache holds) are compared by shape: every number elided, and with
        // `# compare: lines N` only their first N lines.
        if body.contains("# compare: shape") {
            nw = digits.replace_all(&nw, "#").into_owned();
            ng = digits.replace_all(&ng, "#").into_owned();
        }
        if let Some(n) = body
            .lines()
            .find_map(|l| l.strip_prefix("# compare: lines "))
            .and_then(|n| n.trim().parse::<usize>().ok())
        {
            nw = nw.lines().take(n).collect::<Vec<_>>().join("\n");
            ng = ng.lines().take(n).collect::<Vec<_>>().join("\n");
        }
        if nw != ng {
            if update {
                // Only outputs that really changed are rewritten: the diff stays reviewable.
                std::fs::write(&txt, &got).unwrap();
                eprintln!("rewrote {}", txt.display());
            } else {
                failures.push(format!("{}: {}", txt.display(), first_difference(&nw, &ng)));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    assert!(
        failures.is_empty(),
        "the book no longer matches the program (run `make docs-outputs`, then review the diff):\n{}",
        failures.join("\n\n")
    );
}

fn markdown_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "md") {
                out.push(p);
            }
        }
    }
    let mut v = Vec::new();
    walk(&docs().join("src"), &mut v);
    v.sort();
    v
}

#[test]
fn every_include_names_an_existing_file_and_anchor() {
    let include =
        Regex::new(r"\{\{#(?:include|rustdoc_include) ([^}:\s]+)(?::([A-Za-z_][\w-]*))?\}\}")
            .unwrap();
    let mut bad = Vec::new();
    let mut count = 0;
    for md in markdown_files() {
        let text = std::fs::read_to_string(&md).unwrap();
        for c in include.captures_iter(&text) {
            count += 1;
            let target = md.parent().unwrap().join(&c[1]);
            let Ok(body) = std::fs::read_to_string(&target) else {
                bad.push(format!("{}: {} does not exist", md.display(), &c[1]));
                continue;
            };
            if let Some(anchor) = c.get(2) {
                let a = anchor.as_str();
                if !body.contains(&format!("ANCHOR: {a}"))
                    || !body.contains(&format!("ANCHOR_END: {a}"))
                {
                    bad.push(format!("{}: no anchor {a} in {}", md.display(), &c[1]));
                }
            }
        }
    }
    assert!(count > 0, "the book includes nothing");
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// GitHub-style heading ids, as mdBook makes them.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            'a'..='z' | '0'..='9' | '_' | '-' => Some(c),
            ' ' => Some('-'),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
fn every_link_and_image_in_the_book_resolves() {
    let link = Regex::new(r"!?\[[^\]]*\]\(([^)\s]+)\)").unwrap();
    let mut bad = Vec::new();
    let mut checked = 0;
    for md in markdown_files() {
        let text = std::fs::read_to_string(&md).unwrap();
        for c in link.captures_iter(&text) {
            let target = &c[1];
            if target.starts_with("http://")
                || target.starts_with("https://")
                || target.starts_with("mailto:")
            {
                continue;
            }
            checked += 1;
            let (file, frag) = match target.split_once('#') {
                Some((f, a)) => (f, Some(a)),
                None => (target, None),
            };
            let path = if file.is_empty() {
                md.clone()
            } else {
                md.parent().unwrap().join(file)
            };
            let Ok(body) = std::fs::read_to_string(&path)
                .or_else(|_| std::fs::metadata(&path).map(|_| String::new()))
            else {
                bad.push(format!("{}: {target}: no such file", md.display()));
                continue;
            };
            if let Some(frag) = frag {
                let ids: Vec<String> = body
                    .lines()
                    .filter_map(|l| l.strip_prefix('#').map(|h| slug(h.trim_start_matches('#'))))
                    .collect();
                if !ids.iter().any(|i| i == frag) {
                    bad.push(format!("{}: {target}: no heading #{frag}", md.display()));
                }
            }
        }
    }
    assert!(checked > 0, "no relative links checked");
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn chapters_paste_no_program_output() {
    let pasted =
        Regex::new(r"(?m)^\s*(lab-host pid=|processes: \d|\(\d\) every |segment +pages +present)")
            .unwrap();
    let mut bad = Vec::new();
    for md in markdown_files() {
        let text = std::fs::read_to_string(&md).unwrap();
        if let Some(m) = pasted.find(&text) {
            bad.push(format!(
                "{}: pasted output {:?}: include docs/src/out/*.txt instead",
                md.display(),
                m.as_str()
            ));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn the_normalizer_elides_what_changes_and_keeps_what_matters() {
    let a = "processes: 25418 (lab-host), 25420 (lab-host)\n  e.g. page 0x14000 text [.text]: 25418:0x17a26a file, 25420:0x17a26a file";
    let b = "processes: 31 (lab-host), 977 (lab-host)\n  e.g. page 0x14000 text [.text]: 31:0x1 file, 977:0x1 file";
    assert_eq!(normalize(a), normalize(b));
    let c = "processes: 31 (lab-host), 977 (lab-host)\n  e.g. page 0x15000 text [.text]: 31:0x1 file, 977:0x1 file";
    assert_ne!(
        normalize(a),
        normalize(c),
        "page offsets must not be elided"
    );
    assert_ne!(
        normalize("64 of 64 text pages"),
        normalize("63 of 64 text pages")
    );
}
