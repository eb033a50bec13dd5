//! The book cannot drift from the program:
//! - every output shown in docs/ is `docs/src/out/NAME.txt`, produced by `docs/out/NAME.sh`;
//!   this test runs every page's commands the way the book tells the reader to, with
//!   `docs/run PAGE` (one shell per page, the blocks in order), and fails when a block's
//!   output differs from the book's,
//!   after eliding what changes from run to run (pids, addresses, frame numbers, build-ids,
//!   inode numbers, timings, the repository's path). `make docs-outputs` rewrites them.
//! - every `{{#include FILE:ANCHOR}}` names an existing file and anchor;
//! - every relative link and image in the book resolves, and chapters paste no output.

use crate::util::{CHECKOUT_ENV, artifacts, is_root, skip};
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
            // Directories made by mktemp -d (a snippet's runtime directory).
            (r"/tmp/tmp\.[A-Za-z0-9]{6,}", "/tmp/tmp.[dir]"),
            (r"\b[0-9a-f]{40}\b", "[build-id]"),
            (r"\bpfn 0x[0-9a-f]+", "pfn 0x[pfn]"),
            (r"\bframe 0x[0-9a-f]+", "frame 0x[pfn]"),
            (r"([:/])0x[0-9a-f]+", "${1}0x[pfn]"),
            (r"\b([A-Z]) 0x[0-9a-f]+ \(", "${1} 0x[pfn] ("),
            (r"0x[0-9a-f]{6,}", "0x[addr]"),
            (
                r"\b\d+:(0x|\?|file|private|shared|zero|untouched|unmapped|swapped|anon|ksm|not-present)",
                "[pid]:${1}",
            ),
            (r"/0x\[pfn\]/\d+", "/0x[pfn]/[n]"),
            (r"\b(pid[= ]|pid |uid \d+ pid )\d+", "${1}[pid]"),
            (r"\b\d+ \(([\w.-]+)\)", "[pid] (${1})"),
            (r"\bin pids( \d+)+", "in pids [pids]"),
            (r"(--object \S+)( \d+)+", "${1} [pids]"),
            (r"(-o \S+)( \d+)+", "${1} [pids]"),
            (r"\bfork family of \d+", "fork family of [pid]"),
            (r"\bin pids \[[\d, ]+\]", "in pids [pids]"),
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

/// The pages of the book in the order of SUMMARY.md (file stems under docs/src).
fn pages_in_order() -> Vec<String> {
    let summary = std::fs::read_to_string(docs().join("src/SUMMARY.md")).expect("SUMMARY.md");
    let link = Regex::new(r"\(([a-z0-9-]+)\.md\)").unwrap();
    let mut v: Vec<String> = Vec::new();
    for c in link.captures_iter(&summary) {
        if !v.contains(&c[1].to_string()) {
            v.push(c[1].to_string());
        }
    }
    v
}

/// The snippets a page shows, in order, once each (what `docs/run` runs).
fn blocks_of(page: &str) -> Vec<String> {
    let md = std::fs::read_to_string(docs().join("src").join(format!("{page}.md"))).unwrap();
    let include = Regex::new(r"\{\{#include \.\./out/([A-Za-z0-9_-]+)\.sh:cmd\}\}").unwrap();
    let mut v: Vec<String> = Vec::new();
    for c in include.captures_iter(&md) {
        if !v.contains(&c[1].to_string()) {
            v.push(c[1].to_string());
        }
    }
    v
}

/// Whether a snippet runs something as uid 65534 (`as_nobody`, `HOSTS_AS=nobody`, setpriv).
fn runs_as_uid_65534(snippet: &str) -> bool {
    let body = std::fs::read_to_string(docs().join("out").join(format!("{snippet}.sh")))
        .unwrap_or_default();
    body.contains("nobody") || body.contains("65534")
}

/// Runs a page's commands exactly as the book tells the reader to, `docs/run PAGE`, and
/// returns what each block printed, by snippet name. Pictures go to `img_dir`:
/// docs/src/img when updating, a scratch directory when only checking.
fn run_page(page: &str, img_dir: &Path) -> Vec<(String, String)> {
    let repo = &artifacts().repo;
    let mut child = Command::new(repo.join("docs/run"))
        .arg(page)
        .current_dir(repo)
        .env("NO_COLOR", "1")
        .env("DOCS_RUN_MARKERS", "1")
        .env("SOLAB_BIN_DIR", &artifacts().bin_dir)
        .env("DOCS_IMG_DIR", img_dir)
        // The book shows regions in /dev/shm, as on a machine without a login session; a
        // snippet that wants a runtime directory makes its own.
        .env_remove("XDG_RUNTIME_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("docs/run");
    // Read while it runs: a full pipe would stop it.
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).map(|_| s)
    });
    let deadline = Instant::now() + Duration::from_secs(300);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("docs/run {page} ran for over 5 minutes");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = child.wait().expect("status");
    let text = reader.join().expect("reader").unwrap_or_default();
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
    }
    assert!(
        status.success(),
        "docs/run {page} failed ({status}):\n{stderr}\n{text}"
    );
    let mut blocks = Vec::new();
    for part in text.split('\u{1e}').skip(1) {
        let part = part.strip_prefix("docs-block ").expect("a block marker");
        let (name, out) = part.split_once('\n').unwrap_or((part, ""));
        blocks.push((name.to_string(), out.to_string()));
    }
    blocks
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
    // Pictures are drawn into the scratch directory; updating copies one into the book
    // only when it differs from the book's in more than what changes from run to run.
    let img_dir = scratch.clone();
    let all = snippets();
    assert!(!all.is_empty(), "no snippets in docs/out");
    // Every snippet is shown by some page: an output nobody reads is not checked either.
    let pages = pages_in_order();
    let shown: Vec<String> = pages.iter().flat_map(|p| blocks_of(p)).collect();
    for sh in &all {
        let name = sh.file_stem().unwrap().to_string_lossy().into_owned();
        if !shown.contains(&name) {
            failures.push(format!(
                "{}: no page of SUMMARY.md includes it",
                sh.display()
            ));
        }
    }
    // The book shows the default layout, target/release and target/lab; a build elsewhere
    // (CARGO_TARGET_DIR, another PROFILE) checks the pages whose commands do not name them.
    let a = artifacts();
    let default_layout =
        a.bin_dir.canonicalize().ok() == a.repo.join("target/release").canonicalize().ok();
    // Run again in a clone below a private directory (tests/checkout.rs), only the pages
    // with commands of uid 65534 are what that run is about; this checkout ran them all.
    let other_user_pages_only = std::env::var_os(CHECKOUT_ENV).is_some();
    // The book shows what a release build prints: offsets and page counts of its
    // libsolib.so, the sizes of its programs. The tests are built with the profile of the
    // programs they run (`make test PROFILE=...`); built with debug assertions, they run a
    // debug build, whose pages must all still run and print their blocks, but whose
    // outputs are another build's than the book's.
    let release_build = !cfg!(debug_assertions);
    assert!(
        release_build || !update,
        "the book shows a release build's outputs: run `make docs-outputs` without PROFILE"
    );
    if !release_build {
        skip(
            "outputs not compared with the book's: this is a debug build, the book shows a \
             release build's (libsolib.so's offsets and page counts, the programs' sizes)",
        );
    }
    for page in &pages {
        let want_blocks = blocks_of(page);
        if want_blocks.is_empty()
            || (other_user_pages_only && !want_blocks.iter().any(|b| runs_as_uid_65534(b)))
        {
            continue;
        }
        let names_target = want_blocks.iter().any(|b| {
            std::fs::read_to_string(docs().join("out").join(format!("{b}.sh")))
                .is_ok_and(|body| body.contains("target/"))
        });
        if names_target && !default_layout {
            skip(&format!(
                "docs/run {page} not run: it names target/, the build is in {}",
                a.bin_dir.display()
            ));
            continue;
        }
        let ran = run_page(page, &img_dir);
        let names: Vec<&String> = ran.iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            want_blocks.iter().collect::<Vec<_>>(),
            "docs/run {page} ran other blocks than the page shows"
        );
        for (name, got) in ran.iter().filter(|_| release_build) {
            let sh = docs().join("out").join(format!("{name}.sh"));
            let body = std::fs::read_to_string(&sh).unwrap();
            if body.contains("# needs: root") && !is_root() {
                skip(&format!("{} not compared: it needs root", sh.display()));
                continue;
            }
            let txt = docs().join("src/out").join(format!("{name}.txt"));
            let want = std::fs::read_to_string(&txt).unwrap_or_default();
            let (mut nw, mut ng) = (normalize(&want), normalize(got));
            // Outputs that depend on the whole machine (what other processes run, what the
            // page cache holds) are compared by shape: every number elided, and with
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
                    // Only outputs that really changed are rewritten: the diff stays
                    // reviewable.
                    std::fs::write(&txt, got).unwrap();
                    eprintln!("rewrote {}", txt.display());
                } else {
                    failures.push(format!(
                        "{} (docs/run {page}): {}",
                        txt.display(),
                        first_difference(&nw, &ng)
                    ));
                }
            }
        }
    }
    if update {
        update_pictures(&scratch, &docs().join("src/img"));
    }
    let _ = std::fs::remove_dir_all(&scratch);
    assert!(
        failures.is_empty(),
        "the book no longer matches the program (run `make docs-outputs`, then review the diff):\n{}",
        failures.join("\n\n")
    );
}

/// A picture with what changes from one drawing to the next elided: what [`normalize`]
/// elides in text (pids, frame numbers, addresses, build-ids, the checkout's path), and the
/// pids of `data-pid` and the kpagecount of a frame, which other processes move.
fn normalize_picture(svg: &str) -> String {
    static RULES: OnceLock<Vec<(Regex, &'static str)>> = OnceLock::new();
    let rules = RULES.get_or_init(|| {
        [
            (r#"data-pid="\d+""#, r#"data-pid="[pid]""#),
            (r"\b\d+ page-table mapping", "[n] page-table mapping"),
        ]
        .into_iter()
        .map(|(re, to)| (Regex::new(re).expect("rule"), to))
        .collect()
    });
    let mut s = normalize(svg);
    for (re, to) in rules {
        s = re.replace_all(&s, *to).into_owned();
    }
    s
}

/// Copies each picture drawn into `drawn` over the book's in `book` when it is new, or
/// differs in more than [`normalize_picture`] elides: drawn again with other pids and
/// frames, an unchanged picture leaves the book (and its diff) alone.
fn update_pictures(drawn: &Path, book: &Path) {
    let Ok(dir) = std::fs::read_dir(drawn) else {
        return;
    };
    for entry in dir.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "svg") {
            continue;
        }
        let target = book.join(entry.file_name());
        let new = std::fs::read_to_string(&path).expect("a drawn picture");
        let old = std::fs::read_to_string(&target).unwrap_or_default();
        if normalize_picture(&new) != normalize_picture(&old) {
            std::fs::write(&target, new).expect("write the picture into the book");
            eprintln!("rewrote {}", target.display());
        }
    }
}

/// A reader runs what the book shows: every command of a snippet is inside its `cmd`
/// anchor, which the chapter includes. Only the comments that steer the test (`# needs:`,
/// `# runs only as:`, `# compare:`) may stand outside it.
#[test]
fn every_command_of_a_block_is_shown_in_the_book() {
    let mut bad = Vec::new();
    for sh in snippets() {
        let body = std::fs::read_to_string(&sh).unwrap();
        let mut inside = false;
        for line in body.lines() {
            match line.trim() {
                "# ANCHOR: cmd" => inside = true,
                "# ANCHOR_END: cmd" => inside = false,
                l if inside
                    || l.is_empty()
                    || l.starts_with("# needs:")
                    || l.starts_with("# runs only as:")
                    || l.starts_with("# compare:") => {}
                l => bad.push(format!("{}: not shown: {l}", sh.display())),
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// Every chapter with commands names the one command that runs them all, `docs/run X`, and
/// X picks that chapter and no other (as docs/run resolves it: the exact name, else the one
/// page whose name starts with X).
#[test]
fn every_chapter_says_how_to_run_it() {
    let named = Regex::new(r"`docs/run ([a-z0-9-]+)`").unwrap();
    let all: Vec<String> = markdown_files()
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    let mut bad = Vec::new();
    for page in pages_in_order() {
        if blocks_of(&page).is_empty()
            || ["introduction", "lab", "reference"].contains(&page.as_str())
        {
            continue;
        }
        let text = std::fs::read_to_string(docs().join("src").join(format!("{page}.md"))).unwrap();
        let Some(c) = named.captures(&text) else {
            bad.push(format!("{page}.md does not say `docs/run ...`"));
            continue;
        };
        let x = &c[1];
        let picks: Vec<&String> = if all.iter().any(|a| a == x) {
            all.iter().filter(|a| *a == x).collect()
        } else {
            all.iter().filter(|a| a.starts_with(x)).collect()
        };
        if picks != vec![&page] {
            bad.push(format!(
                "{page}.md says `docs/run {x}`, which picks {picks:?}"
            ));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
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
    // Markdown links and images, and the HTML the book embeds pictures with
    // (`<object data=...>`, `<img src=...>`), so that their tooltips work.
    let link =
        Regex::new(r#"!?\[[^\]]*\]\(([^)\s]+)\)|<(?:object|img)\b[^>]*\b(?:data|src)="([^"]+)""#)
            .unwrap();
    let mut bad = Vec::new();
    let mut checked = 0;
    for md in markdown_files() {
        let text = std::fs::read_to_string(&md).unwrap();
        for c in link.captures_iter(&text) {
            let target = c.get(1).or_else(|| c.get(2)).map_or("", |m| m.as_str());
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
