//! The PROCMAP_QUERY ioctl (Linux 6.11) and the text of /proc/PID/maps give the same
//! entries (solab reads maps through the ioctl, the kernel formatting nothing).
//! Real processes: one mapping files under odd names, a deleted file, shared anonymous
//! memory, a memfd and a named anonymous region; a lab-host; this test; every process on
//! the machine whose map holds still while it is read both ways. Unprivileged: the ioctl
//! works on one's own processes and the open fails on another user's, and solab run as
//! uid 65534 reports the same both ways.

use crate::util::{self, Namespace, Proc, as_nobody, finish, skip, spawn_host};
use solab::kernel::process::{self, MAPS_ENV, MapsSource, ProcDir};
use solab::maps::{MapEntry, MapTarget};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Maps each file named on the command line (bytes, surrogate-escaped by Python) from the
/// directory in argv[1], unlinks `gone`, maps shared anonymous memory and a memfd, names
/// a private anonymous page with PR_SET_VMA_ANON_NAME, prints `anon rc=...` and `ready`,
/// then waits for stdin to close.
const HELPER: &str = r#"
import ctypes, mmap, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_char_p]
d = os.fsencode(sys.argv[1])
keep = []
for name in sys.argv[2:]:
    p = os.path.join(d, os.fsencode(name))
    with open(p, "wb") as f:
        f.write(b"x" * 8192)
    with open(p, "rb") as f:
        keep.append(mmap.mmap(f.fileno(), 8192, prot=mmap.PROT_READ))
    if name == "gone":
        os.unlink(p)
keep.append(mmap.mmap(-1, 8192, flags=mmap.MAP_SHARED))
fd = os.memfd_create("solab memfd", 0)
os.ftruncate(fd, 8192)
keep.append(mmap.mmap(fd, 8192))
named = mmap.mmap(-1, 3 * 4096, flags=mmap.MAP_PRIVATE)
addr = ctypes.addressof(ctypes.c_char.from_buffer(named))
# PR_SET_VMA, PR_SET_VMA_ANON_NAME (Linux 5.17, CONFIG_ANON_VMA_NAME)
rc = libc.prctl(0x53564D41, 0, addr + 4096, 4096, b"solab name")
print(f"anon rc={rc} errno={ctypes.get_errno()}", flush=True)
print("ready", flush=True)
sys.stdin.read()
"#;

/// The names the helper maps (besides `gone`, which it unlinks); the literal `\012` one
/// is the text's blind spot, compared apart.
const ODD_NAMES: &[&[u8]] = &[
    b"with spaces",
    b"new\nline",
    b"back\\slash",
    b"tab\tand  two spaces ",
    b"lit (deleted)",
    b"[bracketed]",
    b"\xff\xfe not UTF-8",
];
const LITERAL_ESCAPE: &[u8] = b"oct\\012al";

/// The map of `pid` read the way `how` says, through its directory.
fn maps_from(pid: i32, how: MapsSource) -> solab::Result<Option<Vec<MapEntry>>> {
    ProcDir::open(pid)?.read_maps_from(how)
}

/// The map of `pid` as every command reads it.
fn read_maps(pid: i32) -> solab::Result<Vec<MapEntry>> {
    ProcDir::open(pid)?.read_maps()
}

fn stat(pid: i32) -> solab::Result<process::Stat> {
    ProcDir::open(pid)?.stat()
}

fn comm(pid: i32) -> String {
    ProcDir::open(pid).map_or_else(|_| "?".into(), |d| d.comm())
}

fn query(pid: i32) -> Vec<MapEntry> {
    maps_from(pid, MapsSource::Query)
        .unwrap_or_else(|e| panic!("PROCMAP_QUERY of pid {pid}: {e}"))
        .unwrap_or_else(|| panic!("PROCMAP_QUERY cannot read pid {pid} on this kernel"))
}

fn text(pid: i32) -> Vec<MapEntry> {
    maps_from(pid, MapsSource::Text)
        .unwrap_or_else(|e| panic!("text maps of pid {pid}: {e}"))
        .expect("the text is always read")
}

/// Whether this kernel has the ioctl: x86-64 from Linux 6.11.
fn kernel_has_query() -> bool {
    maps_from(std::process::id() as i32, MapsSource::Query)
        .expect("own maps")
        .is_some()
}

/// Text, ioctl, text: when both texts agree the map held still, and the ioctl must give
/// the same entries. `None` when it moved (a process of someone else's,
/// allocating) ten times; errors (the process exited) are `None` too.
fn compare_still(pid: i32) -> Option<(Vec<MapEntry>, Vec<MapEntry>)> {
    for _ in 0..10 {
        let read = |how| maps_from(pid, how).ok().flatten();
        let (Some(before), Some(queried), Some(after)) = (
            read(MapsSource::Text),
            read(MapsSource::Query),
            read(MapsSource::Text),
        ) else {
            return None;
        };
        if before == after {
            return Some((before, queried));
        }
    }
    None
}

fn show(m: &[MapEntry]) -> String {
    m.iter()
        .map(|e| {
            format!(
                "{:x}-{:x} {} {:x} {:?} {} {:?}",
                e.start.0, e.end.0, e.perms, e.offset, e.dev, e.inode, e.target
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The entries as the text would give them: a path with a backslash goes through the
/// kernel's escaping (a newline becomes `\012`) and the parser's unescaping, which turns
/// a literal `\ooo` into a byte. Other tests map such names (odd_maps) while this one
/// reads every process.
fn as_text_reads(queried: &[MapEntry]) -> Vec<MapEntry> {
    use std::os::unix::ffi::OsStrExt;
    queried
        .iter()
        .cloned()
        .map(|mut e| {
            if let MapTarget::File { path, deleted } = &e.target {
                let raw = path.as_os_str().as_bytes();
                if raw.contains(&b'\\') {
                    let mut line = b"0-1000 r--p 0 00:00 1 ".to_vec();
                    for &b in raw {
                        match b {
                            b'\n' => line.extend_from_slice(b"\\012"),
                            b => line.push(b),
                        }
                    }
                    let parsed = solab::maps::parse_line(&line).expect("a maps line");
                    e.target = MapTarget::File {
                        path: parsed.path().expect("a path").into(),
                        deleted: *deleted,
                    };
                }
            }
            e
        })
        .collect()
}

fn assert_same(what: &str, text: &[MapEntry], queried: &[MapEntry]) {
    assert!(
        text == queried,
        "{what}: the ioctl and the text differ\ntext:\n{}\nioctl:\n{}",
        show(text),
        show(queried)
    );
}

/// A directory under /tmp removed with everything in it on Drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn file_target(m: &[MapEntry], dir: &Path, name: &[u8]) -> Option<MapTarget> {
    use std::os::unix::ffi::OsStrExt;
    let path = dir.join(std::ffi::OsStr::from_bytes(name));
    m.iter()
        .find(|e| matches!(&e.target, MapTarget::File { path: p, .. } if **p == *path))
        .map(|e| e.target.clone())
}

#[test]
fn the_ioctl_gives_the_entries_the_text_gives() {
    use std::os::unix::ffi::OsStrExt;
    if !kernel_has_query() {
        return skip("no PROCMAP_QUERY (Linux 6.11+, x86-64) on this kernel");
    }
    let dir = TempDir(nix::unistd::mkdtemp("/tmp/solab-procmap-XXXXXX").expect("mkdtemp"));
    let mut cmd = Command::new("python3");
    cmd.arg("-c").arg(HELPER).arg(&dir.0);
    for name in ODD_NAMES.iter().chain([&LITERAL_ESCAPE, &&b"gone"[..]]) {
        cmd.arg(std::ffi::OsStr::from_bytes(name));
    }
    let mut helper = Proc::spawn("odd-names helper", cmd, "ready");
    let anon_named = helper.seen.iter().any(|l| l.starts_with("anon rc=0 "));
    let ns = Namespace::new("procmap");
    let host = spawn_host("procmap host", &ns, &["touch"]);

    // The helper: every odd name, the same both ways.
    let pid = helper.pid();
    let (t, q) = (text(pid), query(pid));
    for name in ODD_NAMES {
        let want = MapTarget::File {
            path: dir.0.join(std::ffi::OsStr::from_bytes(name)).into(),
            deleted: false,
        };
        assert_eq!(
            file_target(&q, &dir.0, name),
            Some(want),
            "{name:?}\n{}",
            show(&q)
        );
    }
    let gone = MapTarget::File {
        path: dir.0.join("gone").into(),
        deleted: true,
    };
    assert_eq!(file_target(&q, &dir.0, b"gone"), Some(gone));
    assert!(q.iter().any(|e| matches!(&e.target,
        MapTarget::File { path, deleted: true } if **path == *Path::new("/dev/zero"))));
    assert!(q.iter().any(|e| matches!(&e.target,
        MapTarget::File { path, deleted: true } if **path == *Path::new("/memfd:solab memfd"))));
    let bracketed = q
        .iter()
        .find(|e| e.path() == Some(&dir.0.join("[bracketed]")))
        .expect("[bracketed]");
    assert_ne!(bracketed.inode, 0);
    if anon_named {
        assert!(
            q.iter().any(|e| e.is_pseudo("[anon:solab name]")),
            "{}",
            show(&q)
        );
    } else {
        eprintln!("no [anon:NAME] on this kernel: {:?}", helper.seen);
    }
    // The one difference: a literal backslash and three octal digits print like an
    // escaped newline; the text reads a newline, the ioctl the real name.
    let literal = dir.0.join(std::ffi::OsStr::from_bytes(LITERAL_ESCAPE));
    let read_as = dir.0.join("oct\nal");
    let at = |m: &[MapEntry], p: &Path| m.iter().position(|e| e.path().is_some_and(|x| x == p));
    let (ti, qi) = (at(&t, &read_as), at(&q, &literal));
    assert!(ti.is_some() && ti == qi, "{ti:?} {qi:?}\n{}", show(&q));
    assert_same("the odd-names helper", &t, &as_text_reads(&q));
    // read_maps takes the ioctl here.
    assert_eq!(read_maps(pid).expect("read_maps"), q);

    // A lab-host, and this test process (its threads map and unmap: read while still).
    assert_same("a lab-host", &text(host.pid()), &query(host.pid()));
    let own = std::process::id() as i32;
    let (t, q) = compare_still(own).expect("this test's map held still in ten tries");
    assert_same("this test", &t, &q);
    assert!(
        q.iter().any(|e| e.is_pseudo("[vsyscall]")) == t.iter().any(|e| e.is_pseudo("[vsyscall]"))
    );

    // Every process on the machine whose map holds still while read both ways.
    let (mut compared, mut moving) = (0, 0);
    for pid in process::list_pids().expect("pids") {
        match compare_still(pid) {
            Some((t, q)) => {
                let what = format!("pid {pid} ({})", comm(pid));
                assert_same(&what, &t, &as_text_reads(&q));
                compared += 1;
            }
            None => moving += 1,
        }
    }
    eprintln!("compared {compared} processes; {moving} moved, exited or had no map");
    assert!(compared >= 3, "{compared}");
    helper.kill();
}

/// Maps a file whose path is longer than PATH_MAX (made by walking down with chdir): the
/// ioctl cannot give its name, and read_maps reads the text instead.
const DEEP: &str = r#"
import mmap, os, sys
os.chdir(sys.argv[1])
for i in range(20):
    name = f"{i:02}" + "d" * 240
    os.mkdir(name)
    os.chdir(name)
with open("deep.bin", "wb") as f:
    f.write(b"x" * 4096)
with open("deep.bin", "rb") as f:
    m = mmap.mmap(f.fileno(), 4096, prot=mmap.PROT_READ)
print("ready", flush=True)
sys.stdin.read()
"#;

#[test]
fn a_name_longer_than_path_max_is_read_from_the_text() {
    if !kernel_has_query() {
        return skip("no PROCMAP_QUERY on this kernel");
    }
    let dir = TempDir(nix::unistd::mkdtemp("/tmp/solab-deep-XXXXXX").expect("mkdtemp"));
    let mut cmd = Command::new("python3");
    cmd.arg("-c").arg(DEEP).arg(&dir.0);
    let mut deep = Proc::spawn("deep path helper", cmd, "ready");
    let pid = deep.pid();
    let via_query = maps_from(pid, MapsSource::Query).expect("no error");
    assert!(
        via_query.is_none(),
        "the ioctl gave a name longer than PATH_MAX"
    );
    let maps = read_maps(pid).expect("read_maps");
    let long = maps
        .iter()
        .filter_map(|m| m.path())
        .find(|p| p.ends_with("deep.bin"))
        .expect("the deep file, from the text");
    assert!(long.as_os_str().len() > 4096, "{}", long.as_os_str().len());
    assert_eq!(maps, text(pid));
    deep.kill();
}

#[test]
fn empty_and_vanished_maps_give_the_text_path_errors() {
    // A kernel thread (kthreadd, pid 2, where it exists) and a pid that does not exist.
    for how in [MapsSource::Text, MapsSource::Query, MapsSource::Auto] {
        let e = maps_from(i32::MAX, how).expect_err("no such pid");
        assert!(
            matches!(e, solab::Error::NoSuchProcess { .. }),
            "{how:?}: {e}"
        );
        if stat(2).is_ok_and(|s| s.kernel_thread()) {
            let e = maps_from(2, how).expect_err("kernel thread");
            assert!(
                matches!(e, solab::Error::KernelThread { pid: 2, .. }),
                "{how:?}: {e}"
            );
        }
    }
    // A zombie: a child that exited and is not reaped yet.
    let mut child = Command::new("true").spawn().expect("true");
    let pid = child.id() as i32;
    while stat(pid).is_ok_and(|s| s.state != 'Z') {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    for how in [MapsSource::Text, MapsSource::Query] {
        let e = maps_from(pid, how).expect_err("zombie");
        assert!(
            matches!(e, solab::Error::NoSuchProcess { pid: p } if p == pid),
            "{how:?}: {e}"
        );
    }
    child.wait().expect("reap");
}

/// The ioctl needs what reading the maps needs: uid 65534 may ask about its own process,
/// and cannot open another user's maps. solab as uid 65534 reports the same both ways.
#[test]
fn unprivileged_the_ioctl_reads_own_processes_and_is_refused_others() {
    if !util::is_root() || !kernel_has_query() {
        return skip("needs root (to run as uid 65534) and PROCMAP_QUERY");
    }
    let a = util::artifacts();
    let ns = Namespace::new("procmap-nobody");
    let mut cmd = as_nobody(&a.lab_host);
    cmd.arg("--lib").arg(&a.libsolib).args(["touch", "serve"]);
    ns.env(&mut cmd);
    let host = Proc::spawn("uid 65534 host", cmd, "action=serve");
    let pid = host.pid().to_string();
    let me = std::process::id().to_string();
    let run = |text: bool, target: &str| {
        let mut c = as_nobody(&a.solab);
        c.args(["inspect", "--json", "--object", "libsolib.so", target]);
        if text {
            c.env(MAPS_ENV, "text");
        }
        finish(c.output().expect("solab as uid 65534"))
    };
    let (q, t) = (run(false, &pid), run(true, &pid));
    assert_eq!(q.code, 0, "{}", q.stderr);
    assert_eq!(
        (q.code, &q.stdout),
        (t.code, &t.stdout),
        "{}\n{}",
        q.stderr,
        t.stderr
    );
    let report = q.json();
    assert_eq!(
        report["objects"].as_array().map(Vec::len),
        Some(1),
        "{report:#}"
    );
    // Another user's process (this root test): the same refusal, naming the file.
    let (q, t) = (run(false, &me), run(true, &me));
    assert_eq!(q.code, 2, "{}", q.stderr);
    assert!(
        q.stderr.contains(&format!("/proc/{me}/maps")),
        "{}",
        q.stderr
    );
    assert!(q.stderr.contains("permission denied"), "{}", q.stderr);
    assert_eq!((q.code, &q.stderr), (t.code, &t.stderr));
}

/// Maps one file through two of its names side by side: `a` (3 pages), then its hard link
/// `b` over the middle page (MAP_FIXED). Prints `at=ADDR` and `ready`.
const LINKED: &str = r#"
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
P, READ, PRIVATE, FIXED = 4096, 1, 2, 0x10
a, b = os.path.join(sys.argv[1], "a"), os.path.join(sys.argv[1], "b")
with open(a, "wb") as f:
    f.write(b"x" * 3 * P)
os.link(a, b)
fa, fb = os.open(a, os.O_RDONLY), os.open(b, os.O_RDONLY)
at = libc.mmap(None, 3 * P, READ, PRIVATE, fa, 0)
assert libc.mmap(at + P, P, READ, PRIVATE | FIXED, fb, P) == at + P, ctypes.get_errno()
print(f"at={at}", flush=True)
print("ready", flush=True)
sys.stdin.read()
"#;

/// The ioctl reader asks a mapping's name only when it does not continue the mapping before
/// it (the same file, from where that one ends): the path is the costliest part of a query.
/// One file mapped through two of its names side by side (a hard link here) is where that
/// differs from the text: the text names each piece by its own name, the ioctl reader
/// gives the continuing piece the first one's. Everything else agrees.
#[test]
fn a_hard_link_continuing_a_mapping_is_named_like_it() {
    if !kernel_has_query() {
        return skip("no PROCMAP_QUERY on this kernel");
    }
    let dir = TempDir(nix::unistd::mkdtemp("/tmp/solab-linked-XXXXXX").expect("mkdtemp"));
    let mut cmd = Command::new("python3");
    cmd.arg("-c").arg(LINKED).arg(&dir.0);
    let mut linked = Proc::spawn("hard link helper", cmd, "ready");
    let line = linked.seen.iter().find(|l| l.starts_with("at=")).cloned();
    let at = util::field_u64(&line.expect("the helper's address"), "at");
    let pid = linked.pid();
    let (t, q) = (text(pid), query(pid));
    let names = |m: &[MapEntry]| -> Vec<PathBuf> {
        let i = m.iter().position(|e| e.start.0 == at).expect("the mapping");
        m[i..i + 3]
            .iter()
            .map(|e| e.path().expect("a file").to_path_buf())
            .collect()
    };
    let (a, b) = (dir.0.join("a"), dir.0.join("b"));
    assert_eq!(names(&t), [a.clone(), b, a.clone()], "{}", show(&t));
    assert_eq!(names(&q), [a.clone(), a.clone(), a], "{}", show(&q));
    // Only the name of the middle piece differs.
    let mut t = t;
    let i = t
        .iter()
        .position(|e| e.start.0 == at + 4096)
        .expect("middle");
    t[i].target = q[i].target.clone();
    assert_same("the hard link helper", &t, &q);
    linked.kill();
}
