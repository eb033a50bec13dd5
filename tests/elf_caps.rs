//! `solab elf` reads every `DT_NEEDED` and `DT_SONAME` string where it lies in `.dynstr`,
//! however large the table, and says so when a bound cuts or leaves something out. Checked
//! against binutils' readelf: on objects `cc` builds here with a `.dynstr` of megabytes,
//! and on the shared objects of this machine.

use crate::util::{Scratch, skip, solab};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the machine's shared objects are.
const SYSTEM_LIBS: &str = "/usr/lib/x86_64-linux-gnu";

/// The longest `DT_NEEDED` string `solab elf` keeps whole (`elf::MAX_DYNAMIC_STRING`).
const MAX_DYNAMIC_STRING: usize = 4096;

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs `cc ARGS` in `dir`, or fails with what it printed.
fn cc(dir: &Path, args: &[&str]) {
    let out = Command::new("cc")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run cc");
    assert!(
        out.status.success(),
        "cc {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A tiny shared object `lib{name}.so` in `dir` whose `DT_SONAME` is `soname`: what an
/// object linked with it names in its `DT_NEEDED`.
fn tiny_library(dir: &Path, name: &str, soname: &str) -> PathBuf {
    let src = dir.join(format!("{name}.c"));
    std::fs::write(&src, format!("int {name}_one(void) {{ return 1; }}\n")).expect("write C");
    let file = format!("lib{name}.so");
    cc(
        dir,
        &[
            "-shared",
            "-fPIC",
            "-o",
            &file,
            &format!("{name}.c"),
            &format!("-Wl,-soname,{soname}"),
        ],
    );
    dir.join(file)
}

/// What readelf -d says: the `DT_NEEDED` names in order, and the `DT_SONAME`.
fn readelf_dynamic(file: &Path) -> Result<(Vec<String>, Option<String>), String> {
    let out = Command::new("readelf")
        .env("LC_ALL", "C")
        .arg("-d")
        .arg(file)
        .output()
        .map_err(|e| format!("run readelf: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let bracketed = |line: &str, label: &str| -> Option<String> {
        let rest = &line[line.find(label)? + label.len()..];
        Some(rest.strip_suffix(']')?.to_string())
    };
    let mut needed = Vec::new();
    let mut soname = None;
    for line in text.lines() {
        if line.contains("(NEEDED)") {
            needed.extend(bracketed(line, "Shared library: ["));
        } else if line.contains("(SONAME)") {
            soname = bracketed(line, "Library soname: [");
        }
    }
    Ok((needed, soname))
}

/// What `solab elf --json` says: the `DT_NEEDED` names and the `DT_SONAME`.
fn solab_dynamic(plan: &Value) -> (Vec<String>, Option<String>) {
    let needed = plan["needed"]
        .as_array()
        .map(|n| {
            n.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    (needed, plan["soname"].as_str().map(str::to_string))
}

/// The offsets in `.dynstr` of the `DT_NEEDED` strings of `file`, as goblin reads them.
fn needed_offsets(file: &Path) -> Vec<u64> {
    let bytes = std::fs::read(file).expect("read the object");
    let elf = goblin::elf::Elf::parse(&bytes).expect("goblin parses it");
    elf.dynamic
        .iter()
        .flat_map(|d| &d.dyns)
        .filter(|d| d.d_tag == goblin::elf::dynamic::DT_NEEDED)
        .map(|d| d.d_val)
        .collect()
}

/// An object exporting 100,000 symbols with long names (a `.dynstr` of about 7 MiB), linked
/// after them with two tiny libraries (one with a 100-byte soname) and libm: ld puts the
/// `DT_NEEDED` strings at the end of `.dynstr`, megabytes in.
#[test]
fn needed_beyond_a_large_dynstr_agrees_with_readelf() {
    if !have("cc") || !have("readelf") {
        return skip("needs cc and readelf (binutils)");
    }
    let scratch = Scratch::new();
    let dir = &scratch.dir;
    tiny_library(dir, "capsone", "libcapsone.so.1");
    let long_soname = format!("lib{}.so.1", "l".repeat(100));
    let long = tiny_library(dir, "capslong", &long_soname);
    let mut source = String::new();
    for i in 0..100_000 {
        source.push_str(&format!(
            "char exported_symbol_with_a_long_name_to_fill_the_dynamic_string_table_{i:06}[1];\n"
        ));
    }
    std::fs::write(dir.join("big.c"), source).expect("write big.c");
    cc(
        dir,
        &[
            "-shared",
            "-fPIC",
            "-o",
            "big.so",
            "big.c",
            "-Wl,--no-as-needed",
            "-L.",
            "-lcapsone",
            long.to_str().expect("utf-8 path"),
            "-lm",
        ],
    );
    let big = dir.join("big.so");

    let offsets = needed_offsets(&big);
    assert!(
        offsets.iter().all(|&o| o > 4 << 20),
        "the DT_NEEDED strings should lie megabytes into .dynstr: {offsets:x?}"
    );
    let (expected, _) = readelf_dynamic(&big).expect("readelf -d");
    assert_eq!(
        &expected[..3],
        ["libcapsone.so.1", long_soname.as_str(), "libm.so.6"],
        "readelf -d of {}",
        big.display()
    );

    let run = solab(&["elf", "--json", big.to_str().expect("utf-8 path")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let plan = run.json();
    let (needed, _) = solab_dynamic(&plan);
    assert_eq!(
        needed, expected,
        "solab elf --json (left) against readelf -d"
    );
    assert!(
        plan.get("limits_hit").is_none(),
        "no bound is met: {}",
        plan["limits_hit"]
    );
    let text = solab(&["elf", big.to_str().expect("utf-8 path")]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    let line = format!("  NEEDED {}\n", expected.join(" "));
    assert!(text.stdout.contains(&line), "{line:?} in:\n{}", text.stdout);
    assert!(!text.stdout.contains("limit hit"), "{}", text.stdout);
}

/// A `DT_NEEDED` string longer than the bound is kept cut, ends in `…`, and the plan names
/// the entry and the bound, in text and JSON; the entries after it are whole.
#[test]
fn a_needed_name_beyond_its_bound_is_cut_and_named() {
    if !have("cc") {
        return skip("needs cc");
    }
    let scratch = Scratch::new();
    let dir = &scratch.dir;
    let huge_soname = format!("lib{}.so.1", "h".repeat(5000));
    let huge = tiny_library(dir, "capshuge", &huge_soname);
    tiny_library(dir, "capsone", "libcapsone.so.1");
    std::fs::write(dir.join("small.c"), "int small;\n").expect("write small.c");
    cc(
        dir,
        &[
            "-shared",
            "-fPIC",
            "-o",
            "small.so",
            "small.c",
            "-Wl,--no-as-needed",
            huge.to_str().expect("utf-8 path"),
            "-L.",
            "-lcapsone",
        ],
    );
    let small = dir.join("small.so");
    let small = small.to_str().expect("utf-8 path");

    let run = solab(&["elf", "--json", small]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let plan = run.json();
    let (needed, _) = solab_dynamic(&plan);
    let cut = format!("{}…", &huge_soname[..MAX_DYNAMIC_STRING]);
    assert_eq!(needed.len(), 3, "{needed:?}");
    assert_eq!(needed[0], cut);
    assert_eq!(needed[1], "libcapsone.so.1");
    let hits = plan["limits_hit"].as_array().expect("limits_hit");
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0]["limit"], "MAX_DYNAMIC_STRING");
    assert_eq!(hits[0]["value"], MAX_DYNAMIC_STRING);
    let what = hits[0]["what"].as_str().expect("what");
    assert!(what.starts_with("DT_NEEDED entry 1 "), "{what}");

    let text = solab(&["elf", small]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    let line = format!("  limit hit: MAX_DYNAMIC_STRING {MAX_DYNAMIC_STRING}: {what}\n");
    assert!(text.stdout.contains(&line), "{line:?} in:\n{}", text.stdout);
}

/// A section name longer than `elf::MAX_NAME` (64 bytes) is kept cut, ending in `…`, and
/// the plan counts the names it cut.
#[test]
fn a_section_name_beyond_its_bound_is_cut_and_named() {
    if !have("cc") {
        return skip("needs cc");
    }
    let scratch = Scratch::new();
    let dir = &scratch.dir;
    // Not .data.*: the linker script would merge that into .data.
    let name = format!("caps_{}", "s".repeat(100));
    let source = format!("__attribute__((section(\"{name}\"))) int kept_in_a_long_section = 1;\n");
    std::fs::write(dir.join("named.c"), source).expect("write named.c");
    cc(dir, &["-shared", "-fPIC", "-o", "named.so", "named.c"]);
    let named = dir.join("named.so");
    let run = solab(&["elf", "--json", named.to_str().expect("utf-8 path")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let plan = run.json();
    let cut = format!("{}…", &name[..64]);
    let names: Vec<&str> = plan["sections"]
        .as_array()
        .expect("sections")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert!(names.contains(&cut.as_str()), "{cut:?} among {names:?}");
    let hits = plan["limits_hit"].as_array().expect("limits_hit");
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0]["limit"], "MAX_NAME");
    assert_eq!(hits[0]["value"], 64);
    assert!(
        hits[0]["what"]
            .as_str()
            .is_some_and(|w| w.starts_with("1 section names")),
        "{hits:?}"
    );
}

/// The regular files under [`SYSTEM_LIBS`] named `*.so*` that start with the ELF magic,
/// largest first.
fn system_shared_objects() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<(u64, PathBuf)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                walk(&path, out);
            } else if meta.is_file()
                && e.file_name().to_string_lossy().contains(".so")
                && is_elf(&path)
            {
                out.push((meta.len(), path));
            }
        }
    }
    fn is_elf(path: &Path) -> bool {
        use std::io::Read;
        let mut magic = [0u8; 4];
        std::fs::File::open(path)
            .and_then(|mut f| f.read_exact(&mut magic))
            .is_ok()
            && &magic == b"\x7fELF"
    }
    let mut found = Vec::new();
    walk(Path::new(SYSTEM_LIBS), &mut found);
    found.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    found.into_iter().map(|(_, p)| p).collect()
}

/// Compares `DT_NEEDED` and `DT_SONAME` of each object with readelf's, and fails naming
/// every object on which they differ, solab's answer beside readelf's.
fn agree_with_readelf(objects: &[PathBuf]) {
    let mut differ = Vec::new();
    for file in objects {
        let Ok(expected) = readelf_dynamic(file) else {
            continue; // not an object readelf reads: nothing to compare with
        };
        let run = solab(&["elf", "--json", file.to_str().expect("utf-8 path")]);
        let got = if run.code == 0 {
            Ok(solab_dynamic(&run.json()))
        } else {
            Err(run.stderr.trim().to_string())
        };
        if got.as_ref() != Ok(&expected) {
            differ.push(format!(
                "{}:\n  solab   {got:?}\n  readelf {expected:?}",
                file.display()
            ));
        }
    }
    eprintln!(
        "elf_caps: NEEDED and SONAME agree with readelf on {} of {} shared objects under {SYSTEM_LIBS}",
        objects.len() - differ.len(),
        objects.len()
    );
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

/// The 200 largest shared objects of this machine (the largest `.dynstr`s are there).
#[test]
fn needed_agrees_with_readelf_on_the_largest_system_objects() {
    if !have("readelf") {
        return skip("needs readelf (binutils)");
    }
    let objects = system_shared_objects();
    if objects.is_empty() {
        return skip(&format!("no shared objects under {SYSTEM_LIBS}"));
    }
    agree_with_readelf(&objects[..objects.len().min(200)]);
}

/// Every shared object of this machine:
/// `cargo test --profile release --test tests elf_caps -- --ignored --nocapture`.
#[test]
#[ignore = "every shared object of the machine: run by hand"]
fn needed_agrees_with_readelf_on_every_system_object() {
    if !have("readelf") {
        return skip("needs readelf (binutils)");
    }
    agree_with_readelf(&system_shared_objects());
}
