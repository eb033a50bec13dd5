//! The layers of ARCHITECTURE.md, checked: a module of `src/` never imports one of a
//! higher layer, so the flow parse → resolve → scan → decide → render keeps one direction.
//! Each top-level module of the analyzer has a rank in [`LAYERS`]; a `crate::` path in a
//! module may name only modules of its rank or below. A new module must be given a rank
//! here (and a row in ARCHITECTURE.md), or this test fails.
//!
//! Unit tests at the end of a file (`#[cfg(test)]` and below) are left out: a test may
//! reach up, for example to compare a vocabulary table with the help text.
//!
//! Two more rules of ARCHITECTURE.md are kept here the same way: another process is opened
//! only at the door (`ProcDir::open` in `src/kernel/` and `src/scan/door.rs` alone), and no
//! function is over [`MAX_FN_LINES`] lines without its reason written above it.

use std::path::{Path, PathBuf};

/// Lowest first. Modules of one rank may use each other; "pure" ranks do no I/O.
const LAYERS: &[(&str, u8)] = &[
    // pure: newtypes, the error type, small hash maps
    ("addr", 0),
    ("error", 0),
    ("hash", 0),
    // lib.rs re-exports of addr and error
    ("Error", 0),
    ("Result", 0),
    ("PAGE_SIZE", 0),
    ("Pfn", 0),
    ("VirtAddr", 0),
    // pure: parsers and decoders of outside bytes
    ("maps", 1),
    ("page_words", 1),
    ("elf", 1),
    // pure: placing an object in a process
    ("placement", 2),
    // pure: the rules and the vocabulary
    ("sharing", 3),
    // every read of /proc and of mapped files
    ("kernel", 4),
    // the front door: processes chosen, opened and read once; objects planned once
    ("scan", 5),
    // code addresses named: objects' symbol tables, read through kernel/files
    ("symbols", 5),
    // options in, finished report out
    ("commands", 6),
    ("inspect_report", 6),
    // presentation only
    ("output", 7),
    // the command line
    ("cli", 8),
    ("main", 9),
];

fn rank(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|&(_, r)| r)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src/").flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`None` for lib.rs, the root).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib").then(|| name.to_string())
}

/// The top-level modules a text names through `crate::`, also in grouped imports
/// (`use crate::{a, b::{c, d}};`, over several lines as rustfmt writes them), each with the
/// byte offset where it is named.
fn named_modules(text: &str) -> Vec<(usize, String)> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(i) = text[at..].find("crate::") {
        at += i + "crate::".len();
        let rest = &text[at..];
        let Some(group) = rest.strip_prefix('{') else {
            out.push((at, ident(rest)));
            continue;
        };
        // The pieces of the group at its own depth, each up to the next top-level comma.
        let (mut depth, mut piece) = (0usize, 0usize);
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    out.push((at, ident(&group[piece..i])));
                    break;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    out.push((at, ident(&group[piece..i])));
                    piece = i + 1;
                }
                _ => {}
            }
        }
    }
    out.retain(|(_, w)| !w.is_empty());
    out
}

/// The code of a source file: comment lines blanked (doc links name modules freely), and
/// nothing from the first `#[cfg(test)]` on.
fn code_of(text: &str) -> String {
    let code: Vec<&str> = text
        .lines()
        .take_while(|l| !l.trim_start().starts_with("#[cfg(test)]"))
        .map(|l| {
            if l.trim_start().starts_with("//") {
                ""
            } else {
                l
            }
        })
        .collect();
    code.join("\n")
}

#[test]
fn no_module_imports_a_higher_layer() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = repo.join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    assert!(
        files.len() > 20,
        "found only {} files in {}",
        files.len(),
        src.display()
    );
    let mut wrong = Vec::new();
    for file in &files {
        let Some(module) = module_of(&src, file) else {
            continue;
        };
        let Some(own) = rank(&module) else {
            wrong.push(format!(
                "{}: module `{module}` has no layer in tests/layers.rs",
                file.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).expect("read a source file");
        let code = code_of(&text);
        let shown = file.strip_prefix(repo).unwrap_or(file).display();
        for (at, target) in named_modules(&code) {
            let line = code[..at].matches('\n').count() + 1;
            match rank(&target) {
                Some(r) if r <= own => {}
                Some(r) => wrong.push(format!(
                    "{shown}:{line}: `{module}` (layer {own}) uses `crate::{target}` (layer {r})"
                )),
                None => wrong.push(format!(
                    "{shown}:{line}: `crate::{target}` is not a module with a layer"
                )),
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports that run back up the layers (ARCHITECTURE.md):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_import_reader_sees_grouped_and_plain_paths() {
    let names = |t: &str| -> Vec<String> { named_modules(t).into_iter().map(|(_, m)| m).collect() };
    assert_eq!(names("use crate::kernel::process;"), ["kernel"]);
    assert_eq!(
        names("use crate::{\n    addr::Pfn,\n    error::{Error, Result},\n    scan,\n};"),
        ["addr", "error", "scan"]
    );
    assert_eq!(
        names("let x = crate::sharing::rule(crate::maps::parse(b));"),
        ["sharing", "maps"]
    );
    assert!(names("use std::io;").is_empty());
}

/// Another process is opened at the door only: `ProcDir::open` (and `open_with_info`) is
/// called in `src/kernel/` (which defines the handle and opens solab's own directory) and in
/// `src/scan/door.rs`, and elsewhere only for solab itself (`std::process::id()` on the same
/// line), so that every command meets the door's one failure policy.
#[test]
fn other_processes_are_opened_at_the_door_only() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = repo.join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let allowed =
        |rel: &Path| rel.starts_with("src/kernel") || rel == Path::new("src/scan/door.rs");
    let mut wrong = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(repo).unwrap_or(file);
        if allowed(rel) {
            continue;
        }
        let text = std::fs::read_to_string(file).expect("read a source file");
        for (n, line) in code_of(&text).lines().enumerate() {
            if line.contains("ProcDir::open") && !line.contains("std::process::id()") {
                wrong.push(format!("{}:{}: {}", rel.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "processes opened outside the door (use scan::each_opened, visit or hold):\n{}",
        wrong.join("\n")
    );
}

/// The most lines a function may have without a reason: a comment line right above it
/// (in its doc comment or attributes) that says "over 120 lines" and why.
const MAX_FN_LINES: usize = 120;

/// The source with string and character literals and comments blanked (newlines kept), so
/// that the braces left are the code's.
fn blank_literals(text: &str) -> Vec<u8> {
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to.min(b.len())] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        let word_before = i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        let raw = rest.strip_prefix(b"br").or_else(|| rest.strip_prefix(b"r"));
        let end = if rest.starts_with(b"//") {
            i + rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len())
        } else if rest.starts_with(b"/*") {
            i + rest
                .windows(2)
                .skip(2)
                .position(|w| w == b"*/")
                .map_or(rest.len(), |p| p + 4)
        } else if let Some(r) = raw.filter(|r| {
            !word_before
                && r.iter().take_while(|&&c| c == b'#').count() < r.len()
                && r[r.iter().take_while(|&&c| c == b'#').count()] == b'"'
        }) {
            let hashes = r.iter().take_while(|&&c| c == b'#').count();
            let open = rest.len() - r.len() + hashes + 1;
            let mut close = vec![b'"'];
            close.extend(std::iter::repeat_n(b'#', hashes));
            let body = &rest[open..];
            i + open
                + body
                    .windows(close.len())
                    .position(|w| w == close)
                    .map_or(body.len(), |p| p + close.len())
        } else if rest[0] == b'"' {
            let mut j = 1;
            while j < rest.len() && rest[j] != b'"' {
                j += if rest[j] == b'\\' { 2 } else { 1 };
            }
            i + j + 1
        } else if rest[0] == b'\'' && rest.get(1) == Some(&b'\\') {
            i + 2
                + rest[2..]
                    .iter()
                    .position(|&c| c == b'\'')
                    .map_or(rest.len() - 2, |p| p + 1)
        } else if rest[0] == b'\'' {
            // A character literal (one character, maybe of several bytes), or a lifetime.
            let len = text[i + 1..].chars().next().map_or(0, char::len_utf8);
            if rest.get(1 + len) == Some(&b'\'') {
                i + len + 2
            } else {
                i + 1
            }
        } else {
            i + 1
        };
        if end > i + 1 || rest[0] == b'"' {
            blank(&mut out, i, end);
        }
        i = end.max(i + 1);
    }
    out
}

/// The functions of a source file with their first line (1-based), name and length in
/// lines, from `fn` to the brace that closes its body.
fn functions(text: &str) -> Vec<(usize, String, usize)> {
    let code = blank_literals(text);
    let code = String::from_utf8_lossy(&code);
    let lines: Vec<&str> = code.lines().collect();
    let mut out = Vec::new();
    for (k, line) in lines.iter().enumerate() {
        let Some(at) = line.find("fn ") else {
            continue;
        };
        let before = line[..at].trim();
        let words_ok = before.split_whitespace().all(|w| {
            matches!(w, "pub" | "const" | "async" | "unsafe" | "extern")
                || w.starts_with("pub(")
                || w == "\"C\""
        });
        if !words_ok
            || line[..at]
                .chars()
                .last()
                .is_some_and(|c| !c.is_whitespace())
                && at > 0
        {
            continue;
        }
        let name: String = line[at + 3..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() {
            continue;
        }
        let mut depth = 0usize;
        let mut end = None;
        'body: for (j, l) in lines.iter().enumerate().skip(k) {
            let from = if j == k { at } else { 0 };
            for c in l[from..].chars() {
                match c {
                    ';' if depth == 0 => break 'body,
                    '{' => depth += 1,
                    '}' if depth == 1 => {
                        end = Some(j);
                        break 'body;
                    }
                    '}' => depth = depth.saturating_sub(1),
                    _ => {}
                }
            }
        }
        if let Some(end) = end {
            out.push((k + 1, name, end - k + 1));
        }
    }
    out
}

#[test]
fn no_function_is_long_without_a_reason() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["src", "lab/src", "tools", "solib/src"] {
        rust_files(&repo.join(dir), &mut files);
    }
    files.sort();
    let mut wrong = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read a source file");
        let lines: Vec<&str> = text.lines().collect();
        for (first, name, length) in functions(&text) {
            // The comment and attribute lines right above the function.
            let above = lines[..first - 1]
                .iter()
                .rev()
                .take_while(|l| {
                    let l = l.trim_start();
                    l.starts_with("//") || l.starts_with("#[")
                })
                .any(|l| l.to_lowercase().contains("over 120 lines"));
            if length > MAX_FN_LINES && !above {
                let rel = file.strip_prefix(repo).unwrap_or(file);
                wrong.push(format!(
                    "{}:{first}: fn {name}: {length} lines",
                    rel.display()
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "functions over {MAX_FN_LINES} lines (split them along their jobs, or write above \
         one why it is over 120 lines):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_function_reader_sees_bodies_not_literals() {
    let text = "/// fn doc() {\npub(crate) fn a(x: &str) -> char {\n    let s = \"}\";\n    \
                let r = r#\"{\"#;\n    let c = '}';\n    let l: &'static str = \"\";\n    \
                if x.is_empty() { '{' } else { c }\n}\nfn b();\nasync fn c<'a>(y: &'a u8) {\n\n}\n";
    let found: Vec<(usize, String, usize)> = functions(text);
    assert_eq!(
        found,
        [(2, "a".to_string(), 7), (10, "c".to_string(), 3)],
        "{text}"
    );
}
