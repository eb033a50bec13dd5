//! The book cannot drift from the program:
//! - every output shown in docs/ is `docs/src/out/NAME.txt`, produced by `docs/out/NAME.sh`;
//!   this test runs every page's commands the way the book tells the reader to, with
//!   `docs/run PAGE` (one shell per page, the blocks in order), and fails when a block's
//!   output or a picture the tool draws differs from the book's, after eliding only what
//!   changes from run to run (pids, the addresses ASLR chooses, frame numbers, build-ids,
//!   inode numbers, timings, the checkout's path): ELF offsets, sizes and counts are
//!   compared exactly. `make docs-outputs` rewrites them, all from the one build it runs,
//!   with the checkout shown as `~/solab`;
//! - the book shows one build (one build-id per object), and the numbers its prose quotes
//!   are printed by its outputs;
//! - every picture fits a 700 px column, and shows no machine path;
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

/// Where the book's outputs show the checkout: a reader's is elsewhere, and the checkout the
/// book was made in is nobody's business. `make docs-outputs` writes it in place of the
/// checkout's path ([`neutral_paths`]).
const BOOK_CHECKOUT: &str = "~/solab";

/// What a comparison keeps.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Checking the book: build-ids and the checkout's path elided, since another build of
    /// the same sources (another toolchain, machine or checkout) has other build-ids and
    /// paths, and the same offsets.
    Check,
    /// Updating it (`make docs-outputs`): build-ids and paths kept, so that an output made by
    /// another build, or showing another checkout than `~/solab`, is made again: every
    /// output of the book comes from one build. The new output is compared as it will be
    /// written, through [`neutral_paths`].
    Update,
}

/// What changes from one run to the next, replaced by a placeholder: pids, the addresses
/// ASLR chooses, frame numbers, build-ids, inode numbers, timings, the checkout's path. ELF
/// offsets, sizes, page counts and relocation counts stay exact, so a stale output fails.
fn normalize(text: &str) -> String {
    normalize_with(text, Mode::Check)
}

fn normalize_with(text: &str, mode: Mode) -> String {
    static RULES: OnceLock<Vec<(Regex, &'static str)>> = OnceLock::new();
    static CHECKED_ONLY: OnceLock<Vec<(Regex, &'static str)>> = OnceLock::new();
    let checked_only = CHECKED_ONLY.get_or_init(|| {
        [
            (r"\b[0-9a-f]{40}\b", "[build-id]"),
            // The book was generated in one checkout, the test may run in another.
            (r"[^\s\[]*/?\btarget/(release|lab)/", "[repo]/target/${1}/"),
            (r"~/solab\b", "[repo]"),
        ]
        .into_iter()
        .map(|(re, to)| (Regex::new(re).expect("rule"), to))
        .collect()
    });
    let rules = RULES.get_or_init(|| {
        [
            // The address ranges of /proc/PID/maps lines.
            (r"(?m)^[0-9a-f]{8,}-[0-9a-f]{8,}", "[range]"),
            // The copies uid 65534 runs (docs/out/prelude.sh, _docs_for_nobody).
            (r"/tmp/solab-docs-[A-Za-z0-9]+/", "/tmp/solab-docs-[dir]/"),
            (r"\b(docs|lab)\d+\b", "${1}[N]"),
            // Directories made by mktemp -d (a snippet's runtime directory).
            (r"/tmp/tmp\.[A-Za-z0-9]{6,}", "/tmp/tmp.[dir]"),
            // Frame numbers, where solab and the chapters' commands print them: `pfn 0x..`,
            // `pfn=0x..`, `frame 0x..`, `frame (0x..)`, `used 0x..`, `PID:0x.. state`,
            // `state/0x../mapcount`, `A 0x.. (`.
            (r"\b(pfn|frame)([= ]\(?)0x[0-9a-f]+", "${1}${2}0x[pfn]"),
            (r"\bused 0x[0-9a-f]+", "used 0x[pfn]"),
            (r"(\d):0x[0-9a-f]+", "${1}:0x[pfn]"),
            (r"([a-z])/0x[0-9a-f]+/\d+", "${1}/0x[pfn]/[n]"),
            (r"\b([A-Z]) 0x[0-9a-f]+ \(", "${1} 0x[pfn] ("),
            // The addresses ASLR moves: user-space addresses of 11 significant hex digits or
            // more (above 1 TiB, where mmap, the stack and PIE programs go). ELF offsets,
            // sizes and file addresses are far smaller and stay exact, zero-padded or not.
            // ASLR moves mappings by whole pages: an address keeps its offset in the page
            // (a function's, a variable's), which the build decides. The stack's top is
            // moved within a page too.
            (r"\bargs_at=0x[0-9a-f]+", "args_at=0x[stack]"),
            (r"\b0x0*[1-9a-f][0-9a-f]{7,}([0-9a-f]{3})\b", "0x[addr]${1}"),
            (
                r"\b\d+:(0x|\?|file|private|shared|zero|untouched|unmapped|swapped|anon|ksm|not-present)",
                "[pid]:${1}",
            ),
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
    if mode == Mode::Check {
        for (re, to) in checked_only {
            s = re.replace_all(&s, *to).into_owned();
        }
    }
    for (re, to) in rules {
        s = re.replace_all(&s, *to).into_owned();
    }
    if mode == Mode::Check {
        s = s.replace(&repo, "[repo]");
    }
    // Columns are aligned to the width of pids and addresses: compare words, not spaces.
    static SPACES: OnceLock<Regex> = OnceLock::new();
    let spaces = SPACES.get_or_init(|| Regex::new(r"[ \t]+").expect("spaces"));
    s.lines()
        .map(|l| spaces.replace_all(l.trim_end(), " ").into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// `text` with the checkout's path written as [`BOOK_CHECKOUT`], and so the path of a
/// checkout elsewhere that an older output shows (its `target/`); a path that a column of
/// spaces follows keeps the column aligned.
fn neutral_paths(text: &str) -> String {
    let repo = artifacts().repo.display().to_string();
    let checkout = Regex::new(&format!(
        r"(?:{}|/(?:work|home|root|srv|opt)/[\w.-]+(?:/[\w.-]+)*?)/(target/(?:release|lab)/\S*)( {{2,}})?",
        regex::escape(&repo)
    ))
    .unwrap();
    let s = checkout.replace_all(text, |c: &regex::Captures| {
        let whole = c.get(0).unwrap().as_str();
        let rest = format!("{BOOK_CHECKOUT}/{}", &c[1]);
        match c.get(2) {
            // Padded to the column's width, as the path was.
            Some(_) => format!("{rest:<w$}", w = (whole.len()).max(rest.len() + 1)),
            None => rest,
        }
    });
    s.replace(&format!("{repo}/"), &format!("{BOOK_CHECKOUT}/"))
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

/// Compares one block's output `got` with the book's `txt` (`body` is the block's
/// snippet): checking, returns the first difference; updating, rewrites `txt` when it
/// differs (the checkout's path written as the book's) and returns nothing.
fn compare_output(txt: &Path, body: &str, got: &str, update: bool) -> Option<String> {
    let want = std::fs::read_to_string(txt).unwrap_or_default();
    if !update {
        let (nw, ng) = (
            compared(body, &want, Mode::Check),
            compared(body, got, Mode::Check),
        );
        return (nw != ng).then(|| first_difference(&nw, &ng));
    }
    // An older output that shows another checkout's path only has it written as the book's
    // when nothing else of it changed; only outputs that really changed are rewritten, so
    // the diff stays reviewable.
    let (neutral, got) = (neutral_paths(&want), neutral_paths(got));
    if compared(body, &neutral, Mode::Update) != compared(body, &got, Mode::Update) {
        std::fs::write(txt, got).unwrap();
        eprintln!("rewrote {}", txt.display());
    } else if neutral != want {
        std::fs::write(txt, neutral).unwrap();
        eprintln!("wrote {} with the book's checkout path", txt.display());
    }
    None
}

/// `text` as a block's comparison sees it: [`normalize`]d, and for outputs that depend on
/// the whole machine (what other processes run, what the page cache holds), by shape: every
/// number elided (`# compare: shape`), and with `# compare: lines N` only the first N lines.
fn compared(body: &str, text: &str, mode: Mode) -> String {
    static DIGITS: OnceLock<Regex> = OnceLock::new();
    let mut s = normalize_with(text, mode);
    if body.contains("# compare: shape") {
        static SIZES: OnceLock<[Regex; 3]> = OnceLock::new();
        let digits = DIGITS.get_or_init(|| Regex::new(r"\d+").expect("digits"));
        s = digits.replace_all(&s, "#").into_owned();
        // A size or a change of one, whatever its sign and unit (`0`, `-#.# KiB`, `# B`),
        // is one `#`: each rule takes only what is its own, so neighbours match too.
        let sizes = SIZES.get_or_init(|| {
            [
                Regex::new(r"#\.#").expect("decimals"),
                Regex::new(r"# (B|KiB|MiB|GiB|TiB)\b").expect("units"),
                Regex::new(r"(^|\s)[+-]#").expect("signs"),
            ]
        });
        s = sizes[0].replace_all(&s, "#").into_owned();
        s = sizes[1].replace_all(&s, "#").into_owned();
        s = sizes[2].replace_all(&s, "${1}#").into_owned();
    }
    if let Some(n) = body
        .lines()
        .find_map(|l| l.strip_prefix("# compare: lines "))
        .and_then(|n| n.trim().parse::<usize>().ok())
    {
        s = s.lines().take(n).collect::<Vec<_>>().join("\n");
    }
    s
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
            if let Some(diff) = compare_output(&txt, &body, got, update) {
                failures.push(format!("{} (docs/run {page}): {diff}", txt.display()));
            }
        }
    }
    let book_img = docs().join("src/img");
    if update {
        update_pictures(&scratch, &book_img);
    } else if release_build && is_root() {
        failures.extend(stale_pictures(&scratch, &book_img));
    }
    let _ = std::fs::remove_dir_all(&scratch);
    assert!(
        failures.is_empty(),
        "the book no longer matches the program (run `make docs-outputs`, then review the diff):\n{}",
        failures.join("\n\n")
    );
}

/// A picture with what changes from one drawing to the next elided: what [`normalize_with`]
/// elides in text (pids, frame numbers, addresses, build-ids unless kept, the checkout's
/// path), and the pids of `data-pid` and the kpagecount of a frame, which other processes
/// move.
fn normalize_picture(svg: &str, mode: Mode) -> String {
    // A flame graph of a live recording (`family --record --svg`, inferno's fluid picture)
    // differs in every run in its small functions and byte counts: compared by its title,
    // what it is a picture of.
    if svg.contains("fluiddrawing = true") {
        let title = svg
            .split("<text id=\"title\"")
            .nth(1)
            .and_then(|t| t.split("</text>").next())
            .unwrap_or("no title");
        return format!("a flame graph: {title}");
    }
    static RULES: OnceLock<Vec<(Regex, &'static str)>> = OnceLock::new();
    let rules = RULES.get_or_init(|| {
        [
            (r#"data-pid="\d+""#, r#"data-pid="[pid]""#),
            // A tooltip's first frame: other processes move what the frames are.
            (r"\bframes from 0x[0-9a-f]+", "frames from 0x[pfn]"),
            (r"\b\d+ page-table mapping", "[n] page-table mapping"),
        ]
        .into_iter()
        .map(|(re, to)| (Regex::new(re).expect("rule"), to))
        .collect()
    });
    let mut s = normalize_with(svg, mode);
    for (re, to) in rules {
        s = re.replace_all(&s, *to).into_owned();
    }
    s
}

/// The pictures drawn into `drawn` (by the tool, as the pages' commands ask), each with
/// the book's copy of the same name in `book`.
fn drawn_pictures(drawn: &Path, book: &Path) -> Vec<(PathBuf, String, String)> {
    let Ok(dir) = std::fs::read_dir(drawn) else {
        return Vec::new();
    };
    let mut v = Vec::new();
    for entry in dir.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "svg") {
            continue;
        }
        let target = book.join(entry.file_name());
        let new = std::fs::read_to_string(&path).expect("a drawn picture");
        let old = std::fs::read_to_string(&target).unwrap_or_default();
        v.push((target, new, old));
    }
    v.sort();
    v
}

/// Copies each picture drawn into `drawn` over the book's in `book` when it is new, or
/// differs in more than [`normalize_picture`] elides (build-ids kept: one build behind every
/// picture): drawn again with other pids and frames, an unchanged picture leaves the book
/// (and its diff) alone.
fn update_pictures(drawn: &Path, book: &Path) {
    for (target, new, old) in drawn_pictures(drawn, book) {
        let new = neutral_paths(&new);
        if normalize_picture(&new, Mode::Update) != normalize_picture(&old, Mode::Update) {
            std::fs::write(&target, new).expect("write the picture into the book");
            eprintln!("rewrote {}", target.display());
        }
    }
}

/// The book's pictures that differ from what the tool draws now, as the outputs are compared.
fn stale_pictures(drawn: &Path, book: &Path) -> Vec<String> {
    let mut stale = Vec::new();
    for (target, new, old) in drawn_pictures(drawn, book) {
        let (w, g) = (
            normalize_picture(&old, Mode::Check),
            normalize_picture(&new, Mode::Check),
        );
        if w != g {
            stale.push(format!(
                "{}: {}",
                target.display(),
                first_difference(&w, &g)
            ));
        }
    }
    stale
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

/// The sidebar numbers a chapter as its file name does: mdBook's own numbering runs on
/// across parts (the appendices would be 21, 22...), so book.toml turns it off
/// (`no-section-label`) and SUMMARY.md writes each chapter's number in its title, `N.` for
/// `chNN-*.md`, and none for the pages that are not numbered chapters.
#[test]
fn sidebar_numbers_are_the_file_names_numbers() {
    let toml = std::fs::read_to_string(docs().join("book.toml")).unwrap();
    assert!(
        toml.lines().any(|l| l.trim() == "no-section-label = true"),
        "book.toml must set no-section-label = true under [output.html]"
    );
    let summary = std::fs::read_to_string(docs().join("src/SUMMARY.md")).unwrap();
    let entry = Regex::new(r"\[([^\]]*)\]\(([a-z0-9-]+)\.md\)").unwrap();
    let numbered = Regex::new(r"^(\d+)\. ").unwrap();
    let file = Regex::new(r"^ch(\d\d)-").unwrap();
    let (mut bad, mut chapters) = (Vec::new(), 0);
    for c in entry.captures_iter(&summary) {
        let label = numbered
            .captures(&c[1])
            .map(|n| n[1].parse::<u32>().unwrap());
        let want = file.captures(&c[2]).map(|n| n[1].parse::<u32>().unwrap());
        chapters += usize::from(want.is_some());
        if label != want {
            bad.push(format!(
                "{}.md is labelled {:?} in SUMMARY.md, its file name says {:?}",
                &c[2], label, want
            ));
        }
    }
    assert!(
        chapters >= 19,
        "only {chapters} numbered chapters in SUMMARY.md"
    );
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

#[test]
fn the_normalizer_keeps_elf_offsets_and_elides_aslr_and_frames() {
    // readelf's program headers: offsets and sizes stay, zero-padded or not.
    let ph = "  LOAD 0x014680 0x0000000000015680 0x0000000000015680 0x0405d0 0x0405d0 R E 0x1000";
    let moved = ph.replace("15680", "156c0");
    assert_ne!(
        normalize(ph),
        normalize(&moved),
        "a moved segment must fail"
    );
    assert_ne!(
        normalize("solib_add_offset=0x1a610"),
        normalize("solib_add_offset=0x1a7c0")
    );
    assert_ne!(normalize("TLS at 0x543e0"), normalize("TLS at 0x563e0"));
    // ASLR'd addresses and frame numbers do not.
    assert_eq!(
        normalize("pid=651 action=addrs base=0x7fd656703000 solib_add=0x7fd65671d7c0"),
        normalize("pid=9 action=addrs base=0x7f0318500000 solib_add=0x7f031851a7c0")
    );
    // ... but not the offset in the page, which the build decides.
    assert_ne!(
        normalize("solib_add=0x7fd65671d610"),
        normalize("solib_add=0x7fd65671d7c0")
    );
    assert_eq!(
        normalize("dynamic: 0x00007fbdd7252730 size: 0x0000000000061126"),
        normalize("dynamic: 0x000055d1d7000730 size: 0x0000000000061126")
    );
    assert_ne!(
        normalize("size: 0x0000000000061126"),
        normalize("size: 0x0000000000061127")
    );
    for (a, b) in [
        (
            "pid 3 address 0x7f9201e1d7c0: present=1 pfn=0x230b64",
            "pid 4 address 0x7f20bfeee7c0: present=1 pfn=0x1b",
        ),
        ("one frame (0x1a2c88) in 3 of", "one frame (0x9) in 3 of"),
        (
            "A used pfn 0x1f979d; D: pfn 0x1f979d in D (A, B and C used 0x273b04)",
            "A used pfn 0x1; D: pfn 0x2 in D (A, B and C used 0x3)",
        ),
        (
            "the page at 0x7f551e980000: A frame 0x1fdad2; child frame 0x15ca0e",
            "the page at 0x7f0000001000: A frame 0x1; child frame 0x2",
        ),
        ("n-exclusive/0x1234567/1", "n-exclusive/0x89/1"),
    ] {
        assert_eq!(normalize(a), normalize(b), "{a}");
    }
    // Build-ids: elided when checking, kept when updating.
    let (x, y) = (
        "libsolib.so (build-id 30ecf3de96a74856b9df8c3cea7687ac4af7cd3d)",
        "libsolib.so (build-id 99635689be8fb98dc79e82d2c95d482f6db4c19d)",
    );
    assert_eq!(normalize(x), normalize(y));
    assert_ne!(
        normalize_with(x, Mode::Update),
        normalize_with(y, Mode::Update)
    );
    // Paths: elided when checking; when updating, a private checkout is made again.
    let (p, q) = (
        "/work/wt-book/target/release/libsolib.so",
        "~/solab/target/release/libsolib.so",
    );
    assert_eq!(normalize(p), normalize(q));
    assert_ne!(
        normalize_with(p, Mode::Update),
        normalize_with(q, Mode::Update)
    );
}

#[test]
fn neutral_paths_hide_the_checkout_and_keep_columns() {
    let repo = artifacts().repo.display().to_string();
    let rows = [
        format!("{repo}/target/release/libsolib.so"),
        "/work/wt-elsewhere/target/release/solab-lab-host".to_string(),
        "/usr/lib/x86_64-linux-gnu/libc.so.6".to_string(),
    ];
    let w = rows.iter().map(String::len).max().unwrap() + 2;
    let table: String = rows.iter().map(|r| format!("{r:<w$}3\n")).collect();
    let out = neutral_paths(&table);
    assert!(!out.contains(&repo), "{out}");
    assert!(out.contains("~/solab/target/release/libsolib.so"), "{out}");
    assert!(
        out.contains("~/solab/target/release/solab-lab-host"),
        "{out}"
    );
    assert_eq!(machine_path(&out), None, "{out}");
    let col: Vec<usize> = out.lines().map(|l| l.rfind(' ').unwrap()).collect();
    assert!(
        col.windows(2).all(|w| w[0] == w[1]),
        "columns moved:\n{out}"
    );
}

/// A path of the machine an output was made on: a checkout's (its build's `target/`
/// directories), not the book's `~/solab`.
fn machine_path(text: &str) -> Option<&str> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(r"(?m)/work/|\bwt-[\w-]+/|(^|[\s>=])/(home|root|work|srv|opt)/[\w./-]*/target/(release|lab)/")
            .expect("machine path")
    });
    re.find(text).map(|m| m.as_str())
}

#[test]
fn no_output_shows_a_machine_path() {
    let mut bad = Vec::new();
    for e in std::fs::read_dir(docs().join("src/out")).unwrap().flatten() {
        let body = std::fs::read_to_string(e.path()).unwrap_or_default();
        if let Some(m) = machine_path(&body) {
            bad.push(format!("{}: {m:?}", e.path().display()));
        }
    }
    assert!(
        bad.is_empty(),
        "outputs with the path of the checkout they were made in (run `make docs-outputs`):\n{}",
        bad.join("\n")
    );
}

/// The tool's pictures name their rows as the text names the processes: each row's label
/// is its pid and command name, and the book's lab-hosts are named after their letters
/// (`HOSTS_NAMED=1 hosts A B C`, `solab-lab-host --name host-A`), so the rows read
/// host-A, host-B, host-C top to bottom, and the caption says so.
#[test]
fn the_tool_pictures_name_their_rows_as_the_text_does() {
    let label = Regex::new(r"<text [^>]*>pid \d+ (host-[A-Z])</text>").unwrap();
    for (svg, page, names) in [
        (
            "three-hosts-libsolib.svg",
            "ch04-code-is-shared",
            &["host-A", "host-B", "host-C"][..],
        ),
        (
            "textrel.svg",
            "ch08-text-relocations",
            &["host-P", "host-Q"][..],
        ),
    ] {
        let text = std::fs::read_to_string(docs().join("src/img").join(svg)).unwrap();
        let mut rows: Vec<&str> = Vec::new();
        for c in label.captures_iter(&text) {
            let name = c.get(1).unwrap().as_str();
            if !rows.contains(&name) {
                rows.push(name);
            }
        }
        assert_eq!(rows, names, "{svg}: the rows' names, top to bottom");
        let md = std::fs::read_to_string(docs().join("src").join(format!("{page}.md"))).unwrap();
        assert!(
            names.iter().all(|n| md.contains(&format!("`{n}`"))),
            "{page}.md must name the rows of {svg} as the picture does: {names:?}"
        );
    }
}

/// The root element's attribute `name`, if it has one.
fn root_attribute<'a>(svg: &'a str, name: &str) -> Option<&'a str> {
    let root = &svg[svg.find("<svg")?..];
    let root = &root[..root.find('>')?];
    let re = Regex::new(&format!(r#"\s{name}="([^"]*)""#)).unwrap();
    re.captures(root).map(|c| c.get(1).unwrap().as_str())
}

/// Every picture of the book fits a 700 px column: it scales (a viewBox, no fixed width or
/// height), its smallest label is 12 px or more at that width, and it shows no path of the
/// machine it was made on. The tool's own pictures (`inspect --svg`) are drawn 700 units
/// wide with 12-unit labels up to 640 pages (libsolib.so's 98 pages were 1,182 units wide,
/// labels 5.3 px at 700 px).
#[test]
fn every_picture_fits_a_700px_column() {
    let size = Regex::new(r#"font-size(?:="|:\s*)([\d.]+)"#).unwrap();
    let mut bad = Vec::new();
    let mut seen = 0;
    for e in std::fs::read_dir(docs().join("src/img")).unwrap().flatten() {
        let path = e.path();
        if path.extension().is_none_or(|x| x != "svg") {
            continue;
        }
        seen += 1;
        let name = e.file_name().to_string_lossy().into_owned();
        let svg = std::fs::read_to_string(&path).unwrap();
        if let Some(m) = machine_path(&svg) {
            bad.push(format!("{name}: a machine path: {m:?}"));
        }
        // inferno's flame graphs (`family --record --svg`) are fluid: their script drops the
        // width when the picture loads and sets the viewBox to the width it is shown at, so
        // the labels keep their 12 px in any column.
        if svg.contains("fluiddrawing = true") {
            skip(&format!(
                "{name}: a fluid flame graph, sized by its script to the column"
            ));
            continue;
        }
        let Some(width) = root_attribute(&svg, "viewBox")
            .and_then(|v| v.split_whitespace().nth(2))
            .and_then(|w| w.parse::<f64>().ok())
        else {
            bad.push(format!("{name}: no viewBox"));
            continue;
        };
        for attr in ["width", "height"] {
            if let Some(v) = root_attribute(&svg, attr).filter(|v| *v != "100%") {
                bad.push(format!(
                    "{name}: a fixed {attr}={v:?}: it will not fit a column"
                ));
            }
        }
        let smallest = size
            .captures_iter(&svg)
            .filter_map(|c| c[1].parse::<f64>().ok())
            .fold(f64::INFINITY, f64::min);
        let at_700 = smallest * 700.0 / width;
        if at_700 < 12.0 {
            bad.push(format!(
                "{name}: its smallest label is {at_700:.1} px at 700 px (font-size {smallest} in a viewBox {width} wide)"
            ));
        }
    }
    assert!(seen >= 8, "only {seen} pictures in docs/src/img");
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// Every output and picture of the book comes from one build: an object's build-id is the
/// same wherever the book prints it.
#[test]
fn the_book_shows_one_build() {
    let text = Regex::new(r"([\w.+-]+\.so[\w.]*)\s+\(build-id ([0-9a-f]{40})").unwrap();
    let picture =
        Regex::new(r"([\w.+-]+\.so[\w.]*)</text>\s*<text[^>]*>[^<]*\bbuild-id ([0-9a-f]{40})")
            .unwrap();
    let mut ids: std::collections::BTreeMap<String, Vec<(String, String)>> = Default::default();
    for dir in ["src/out", "src/img"] {
        for e in std::fs::read_dir(docs().join(dir)).unwrap().flatten() {
            let body = std::fs::read_to_string(e.path()).unwrap_or_default();
            let file = format!("{dir}/{}", e.file_name().to_string_lossy());
            for c in text
                .captures_iter(&body)
                .chain(picture.captures_iter(&body))
            {
                ids.entry(c[1].to_string())
                    .or_default()
                    .push((c[2].to_string(), file.clone()));
            }
        }
    }
    assert!(
        ids.contains_key("libsolib.so"),
        "no build-id of libsolib.so in the book"
    );
    let mut bad = Vec::new();
    for (object, seen) in &ids {
        let mut distinct: Vec<&String> = seen.iter().map(|(id, _)| id).collect();
        distinct.sort();
        distinct.dedup();
        if distinct.len() > 1 {
            bad.push(format!("{object}: {} build-ids: {seen:?}", distinct.len()));
        }
    }
    assert!(
        bad.is_empty(),
        "outputs of several builds (run `make docs-outputs`):\n{}",
        bad.join("\n")
    );
}

/// The hex numbers an output prints: `0x...`, and the bare ones of objdump and maps
/// (five digits or more).
fn printed_numbers(page: &str) -> std::collections::BTreeSet<u64> {
    let outputs = Regex::new(r"out/([A-Za-z0-9_-]+)\.txt").unwrap();
    let number = Regex::new(r"\b0x([0-9a-f]+)\b|\b([0-9a-f]{5,})\b").unwrap();
    let md =
        std::fs::read_to_string(docs().join("src").join(format!("{page}.md"))).unwrap_or_default();
    let mut set = std::collections::BTreeSet::new();
    for o in outputs.captures_iter(&md) {
        let body = std::fs::read_to_string(docs().join("src/out").join(format!("{}.txt", &o[1])))
            .unwrap_or_default();
        for n in number.captures_iter(&body) {
            let digits = n.get(1).or_else(|| n.get(2)).unwrap().as_str();
            if let Ok(v) = u64::from_str_radix(digits, 16) {
                set.insert(v);
            }
        }
    }
    set
}

/// A number the tutorial or its appendices quote in their prose (`0x...` in code spans,
/// outside listings and comments) is one their outputs print: the page's own, or those of
/// a page the same paragraph, or the heading above it, links to (the answers to "Try next"
/// link each chapter in their headings). A prose offset from another build than the
/// outputs' fails. The reference's formats are examples, not outputs: it is left out.
#[test]
fn numbers_quoted_in_the_prose_are_printed_by_the_outputs() {
    let summary = std::fs::read_to_string(docs().join("src/SUMMARY.md")).unwrap();
    // The tutorial and the appendices: up to the engineering book's part title.
    let book = summary
        .split("\n# The engineering book")
        .next()
        .unwrap_or(&summary);
    let link = Regex::new(r"\(([a-z0-9-]+)\.md[)#]").unwrap();
    let hidden = Regex::new(r"(?s)<!--.*?-->|```.*?```").unwrap();
    let quoted = Regex::new(r"`[^`\n]*?\b0x([0-9a-f]+)\b[^`\n]*`").unwrap();
    let mut pages: Vec<String> = Vec::new();
    for c in link.captures_iter(book) {
        if !pages.contains(&c[1].to_string()) && &c[1] != "reference" {
            pages.push(c[1].to_string());
        }
    }
    assert!(
        pages.iter().any(|p| p == "answers"),
        "the answers are among the pages checked: {pages:?}"
    );
    let mut bad = Vec::new();
    let mut checked = 0;
    for page in &pages {
        let md = std::fs::read_to_string(docs().join("src").join(format!("{page}.md"))).unwrap();
        let prose = hidden.replace_all(&md, "");
        let mut heading = "";
        for para in prose.split("\n\n") {
            if para.trim_start().starts_with('#') {
                heading = para;
            }
            let quotes: Vec<_> = quoted.captures_iter(para).collect();
            if quotes.is_empty() {
                continue;
            }
            let mut printed = printed_numbers(page);
            for l in link.captures_iter(para).chain(link.captures_iter(heading)) {
                printed.extend(printed_numbers(&l[1]));
            }
            for q in quotes {
                checked += 1;
                let v = u64::from_str_radix(&q[1], 16).unwrap_or(u64::MAX);
                if !printed.contains(&v) {
                    bad.push(format!(
                        "{page}.md quotes {} but no output it shows prints 0x{}",
                        &q[0], &q[1]
                    ));
                }
            }
        }
    }
    assert!(
        checked > 10,
        "only {checked} numbers quoted in the tutorial"
    );
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
