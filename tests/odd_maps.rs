//! Odd mappings: one process maps ELF objects under names with spaces, a
//! newline, `<>&"`, non-UTF-8 bytes, a literal ` (deleted)` suffix, a literal `\012`, a
//! ~4,000-byte path; a deleted object; an object replaced on disk after it was mapped
//! (same path, new inode); an object in a memfd; a file that is not ELF mapped executable;
//! and, when the kernel can collapse it, a 2 MiB-aligned text segment into a huge page.
//! `solab inspect` must report each one correctly (the mapped file's own build id, found
//! through /proc/PID/map_files where the path no longer leads to it) or skip it with a
//! reason, and never panic.

use crate::util::{self, Proc, artifacts};
use serde_json::Value;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The helper: performs each `VERB:PATH` argument in order, prints `ready`, then waits for
/// stdin to close. Paths arrive as bytes (surrogate-escaped by Python) and go to dlopen as
/// the same bytes. `unlink` and `rename-over` act on the last object opened.
const HELPER: &str = r#"
import ctypes, mmap, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
keep = []
for arg in sys.argv[1:]:
    verb, _, rest = arg.partition(":")
    if verb == "dlopen":
        keep.append(ctypes.CDLL(rest)); last = rest
    elif verb == "unlink":
        os.unlink(last)
    elif verb == "rename-over":
        os.rename(rest, last)
    elif verb == "memfd":
        fd = os.memfd_create("solab odd", 0)
        os.write(fd, open(rest, "rb").read())
        keep.append(ctypes.CDLL(f"/proc/self/fd/{fd}"))
    elif verb == "mmap-exec":
        f = open(rest, "rb")
        keep.append(mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ | mmap.PROT_EXEC))
    elif verb == "thp":
        keep.append(ctypes.CDLL(rest))
        for line in open("/proc/self/maps", "rb"):
            if line.rstrip().endswith(os.fsencode(rest)) and line.split()[1] == b"r-xp":
                lo, hi = (int(x, 16) for x in line.split()[0].split(b"-"))
        start = (lo + (1 << 21) - 1) & ~((1 << 21) - 1)
        ok = start + (1 << 21) <= hi
        rc = libc.madvise(start, 1 << 21, 14) if ok else -1   # MADV_HUGEPAGE
        rc = libc.madvise(start, 1 << 21, 25) if rc == 0 else rc  # MADV_COLLAPSE
        print(f"thp rc={rc} errno={ctypes.get_errno()} aligned={ok}", flush=True)
print("ready", flush=True)
sys.stdin.read()
"#;

/// A directory under /tmp removed with everything in it on Drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("solab-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn path_in(dir: &Path, name: &[u8]) -> PathBuf {
    dir.join(OsStr::from_bytes(name))
}

fn lossy(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn build_id(path: &Path) -> String {
    let out = Command::new(&artifacts().solab)
        .arg("elf")
        .arg("--json")
        .arg(path)
        .output()
        .expect("solab elf");
    let v: Value = serde_json::from_slice(&out.stdout).expect("solab elf --json");
    v["plan"]["build_id"]
        .as_str()
        .or_else(|| v["build_id"].as_str())
        .unwrap_or_else(|| panic!("no build id in solab elf --json of {}", path.display()))
        .to_string()
}

/// A library whose text is 2 MiB-aligned and over 4 MiB long, for the THP case.
fn build_thp_lib(dir: &Path) -> Option<PathBuf> {
    let src = dir.join("thp.c");
    let lib = dir.join("libthp.so");
    std::fs::write(
        &src,
        "__asm__(\".text\\n.p2align 21\\nthp_filler:\\n.fill 4194304, 1, 0xcc\\n\");\n\
         int thp_answer(void) { return 42; }\n",
    )
    .ok()?;
    let ok = Command::new("cc")
        .args([
            "-O2",
            "-fPIC",
            "-shared",
            "-Wl,-z,max-page-size=0x200000",
            "-o",
        ])
        .arg(&lib)
        .arg(&src)
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(lib)
}

struct Case {
    what: &'static str,
    /// Where the object was mapped from (the path the process opened).
    path: PathBuf,
    /// The path solab should report.
    reported: String,
    deleted: bool,
    /// Found through map_files (needs root).
    needs_map_files: bool,
}

#[test]
fn odd_mappings_are_analyzed_or_skipped_with_a_reason() {
    let a = artifacts();
    let base = a.fixtures.join("libtextrel-pic.so");
    let other = a.fixtures.join("libtextrel-textrel.so");
    util::require(&base);
    util::require(&other);
    let base_id = build_id(&base);
    assert_ne!(base_id, build_id(&other), "the two lab objects differ");
    let tmp = TempDir::new("odd");
    let dir = &tmp.0;
    let copy = |name: &[u8]| {
        let p = path_in(dir, name);
        std::fs::copy(&base, &p).unwrap_or_else(|e| panic!("copy to {p:?}: {e}"));
        p
    };
    let mut cases = Vec::new();
    let mut args: Vec<Vec<u8>> = Vec::new();
    let arg = |verb: &str, p: &Path| [verb.as_bytes(), b":", p.as_os_str().as_bytes()].concat();
    let mut plain = |what, name: &[u8], reported: Option<&[u8]>, needs_map_files| {
        let p = copy(name);
        args.push(arg("dlopen", &p));
        cases.push(Case {
            what,
            reported: lossy(&path_in(dir, reported.unwrap_or(name))),
            path: p,
            deleted: false,
            needs_map_files,
        });
    };
    plain("spaces", b"lib with spaces.so", None, false);
    plain("newline", b"lib\nnew line.so", None, false);
    plain("markup", b"lib<>&\"'.so", None, false);
    plain("non-UTF-8", b"lib\xff\xfe\x80.so", None, false);
    plain("literal (deleted)", b"libnotdel.so (deleted)", None, false);
    // Prints like an escaped newline: read from the text, solab reads the escape, misses
    // the file at that path, and finds the mapped file through map_files (the name it
    // shows is the unescaped one: the text cannot tell them apart). The PROCMAP_QUERY
    // ioctl, where the kernel has it, gives the real name.
    if solab::kernel::process::ProcDir::open(std::process::id() as i32)
        .and_then(|own| own.read_maps_from(solab::kernel::process::MapsSource::Query))
        .is_ok_and(|m| m.is_some())
    {
        plain("literal \\012", b"lib\\012lit.so", None, false);
    } else {
        plain(
            "literal \\012",
            b"lib\\012lit.so",
            Some(b"lib\nlit.so"),
            true,
        );
    }
    let mut long = dir.clone();
    for i in 0..19 {
        long.push(format!("{i:02}{}", "d".repeat(205)));
    }
    std::fs::create_dir_all(&long).expect("long directory");
    long.push("liblong.so");
    let long_name = long
        .strip_prefix(dir)
        .expect("inside dir")
        .as_os_str()
        .as_bytes()
        .to_vec();
    plain("4,000-byte path", &long_name, None, false);
    assert!(long.as_os_str().len() > 3900, "{}", long.as_os_str().len());

    let deleted = copy(b"libdeleted.so");
    args.push(arg("dlopen", &deleted));
    args.push(arg("unlink", &deleted));
    cases.push(Case {
        what: "deleted",
        reported: lossy(&deleted),
        path: deleted,
        deleted: true,
        needs_map_files: true,
    });
    let replaced = copy(b"libreplaced.so");
    let replacement = path_in(dir, b"libreplacement.so");
    std::fs::copy(&other, &replacement).expect("replacement");
    args.push(arg("dlopen", &replaced));
    args.push(arg("rename-over", &replacement));
    cases.push(Case {
        what: "replaced on disk",
        reported: lossy(&replaced),
        path: replaced.clone(),
        deleted: true,
        needs_map_files: true,
    });
    args.push(arg("memfd", &base));
    let not_elf = path_in(dir, b"not-elf.txt");
    std::fs::write(&not_elf, "just text, mapped executable\n".repeat(200)).expect("text");
    args.push(arg("mmap-exec", &not_elf));
    let thp_lib = build_thp_lib(dir);
    if let Some(lib) = &thp_lib {
        args.push(arg("thp", lib));
    }

    // Inodes before anything is deleted or replaced: they identify the objects.
    let inodes: Vec<u64> = cases
        .iter()
        .map(|c| std::fs::metadata(&c.path).expect("stat").ino())
        .collect();
    let mut cmd = Command::new("python3");
    cmd.arg("-c").arg(HELPER);
    cmd.args(args.into_iter().map(OsString::from_vec));
    let mut helper = Proc::spawn("odd-maps helper", cmd, "ready");
    let thp_line = helper.seen.iter().find(|l| l.starts_with("thp ")).cloned();
    let pid = helper.pid().to_string();

    let out = Command::new(&a.solab)
        .args(["inspect", "--json", &pid])
        .output()
        .expect("solab inspect");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "solab inspect: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("inspect JSON");
    let objects = report["objects"].as_array().expect("objects");
    let skipped = report["skipped"].as_array().expect("skipped");
    let root = util::is_root();
    let mut table = Vec::new();
    for (case, inode) in cases.iter().zip(&inodes) {
        let found = objects.iter().find(|o| o["inode"] == *inode);
        match found {
            Some(o) => {
                let p = &o["procs"][0];
                assert_eq!(
                    p["path"],
                    case.reported.as_str(),
                    "{}: reported path",
                    case.what
                );
                assert_eq!(p["deleted"], case.deleted, "{}: deleted", case.what);
                assert_eq!(
                    o["build_id"],
                    base_id.as_str(),
                    "{}: build id of the mapped file",
                    case.what
                );
                let text = o["pages"]
                    .as_array()
                    .expect("pages")
                    .iter()
                    .filter(|p| p["segment"] == "text")
                    .count();
                assert!(text > 0, "{}: no text pages", case.what);
                table.push(format!("{}: analyzed", case.what));
            }
            None => {
                let why = skipped
                    .iter()
                    .find(|s| s["path"].as_str() == Some(case.reported.as_str()))
                    .map(|s| s["reason"].as_str().unwrap_or("").to_string());
                assert!(
                    case.needs_map_files
                        && !root
                        && why.as_deref().is_some_and(|w| w.contains("map_files")),
                    "{}: not analyzed ({why:?}); objects: {:#?}",
                    case.what,
                    objects.iter().map(|o| &o["path"]).collect::<Vec<_>>()
                );
                table.push(format!(
                    "{}: skipped ({})",
                    case.what,
                    why.unwrap_or_default()
                ));
            }
        }
    }
    // The memfd object: /memfd:NAME (deleted), readable only through map_files.
    match objects.iter().find(|o| o["path"] == "/memfd:solab odd") {
        Some(o) => {
            assert_eq!(o["procs"][0]["deleted"], true);
            assert_eq!(o["build_id"], base_id.as_str(), "memfd build id");
            table.push("memfd: analyzed".into());
        }
        None => {
            assert!(!root, "memfd object not analyzed as root: {report:#}");
            table.push("memfd: skipped".into());
        }
    }
    // The text file mapped executable: skipped as not ELF.
    let not_elf_skip = skipped
        .iter()
        .find(|s| s["path"].as_str() == Some(lossy(&not_elf).as_str()))
        .unwrap_or_else(|| panic!("the non-ELF mapping is not in skipped: {skipped:#?}"));
    assert!(
        not_elf_skip["reason"]
            .as_str()
            .is_some_and(|r| r.contains("not an ELF")),
        "{not_elf_skip}"
    );
    table.push("text file mapped r-x: skipped (not ELF)".into());
    // THP: reported if the kernel collapsed the text into a huge page; otherwise said why.
    if let (Some(lib), Some(line)) = (&thp_lib, &thp_line) {
        let o = objects
            .iter()
            .find(|o| o["path"].as_str() == Some(lossy(lib).as_str()))
            .expect("the THP library is analyzed");
        let thp_pages = o["pages"]
            .as_array()
            .expect("pages")
            .iter()
            .filter(|p| {
                p["procs"][0]["flags"]
                    .as_array()
                    .is_some_and(|f| f.iter().any(|x| x == "thp"))
            })
            .count();
        if line.contains("rc=0") && root {
            assert!(
                thp_pages >= 512,
                "MADV_COLLAPSE succeeded but {thp_pages} pages flagged thp"
            );
        }
        table.push(format!(
            "THP text ({line}): analyzed, {thp_pages} pages flagged thp"
        ));
    }
    eprintln!("odd mappings:\n  {}", table.join("\n  "));
    helper.kill();
}
