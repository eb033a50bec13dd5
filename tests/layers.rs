//! The layers of ARCHITECTURE.md, checked: a module of `src/` never imports one of a
//! higher layer, so the flow parse → resolve → scan → decide → render keeps one direction.
//! Each top-level module of the analyzer has a rank in [`LAYERS`]; a `crate::` path in a
//! module may name only modules of its rank or below. A new module must be given a rank
//! here (and a row in ARCHITECTURE.md), or this test fails.
//!
//! Unit tests at the end of a file (`#[cfg(test)]` and below) are left out: a test may
//! reach up, for example to compare a vocabulary table with the help text.

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
        // The code: comment lines blanked (doc links name modules freely), and nothing from
        // the first `#[cfg(test)]` on.
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
        let code = code.join("\n");
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
