//! libsolib.so with real processes: the shared counter and clipboard across a Rust host, a
//! C program and a Python script; load; writers killed mid-write; lifetime; bad objects at
//! the region's name; another uid; and the physical frames behind it all.

use crate::util::{
    self, Namespace, Proc, artifacts, as_nobody, field, field_u64, is_root, lab_host, skip,
    spawn_host,
};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn uid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

fn status(p: &mut Proc) -> (bool, String) {
    let line = p.act("status");
    let shared = field(&line, "shared") == Some("1");
    let reason = line
        .split_once("reason=")
        .map(|x| x.1)
        .unwrap_or("")
        .to_string();
    (shared, reason)
}

fn counters(p: &mut Proc) -> (u64, u64) {
    let line = p.act("counters");
    (
        field_u64(&line, "private_calls"),
        field_u64(&line, "shared_calls"),
    )
}

#[test]
fn rust_c_and_python_share_one_counter_and_one_clipboard_but_not_private_counters() {
    let a = artifacts();
    util::require(&a.c_client);
    let ns = Namespace::new("three");
    let mut rust = spawn_host("rust host", &ns, &["add:10,20", "clip-set:from rust"]);
    assert!(
        status(&mut rust).0,
        "the Rust host is not shared: {:?}",
        status(&mut rust)
    );

    let mut c_cmd = Command::new(&a.c_client);
    c_cmd.args(["add:30,40", "add:1,1", "clip-get", "status", "wait"]);
    ns.env(&mut c_cmd);
    let mut c = Proc::spawn("C client", c_cmd, "action=wait");

    let mut py_cmd = Command::new("python3");
    py_cmd
        .arg(&a.python_client)
        .arg("--lib")
        .arg(&a.libsolib)
        .args([
            "add:5,6",
            "clip-get",
            "clip-set:from python",
            "status",
            "wait",
        ]);
    ns.env(&mut py_cmd);
    let mut py = Proc::spawn("Python client", py_cmd, "action=wait");

    let c_lines = c.seen.clone();
    let py_lines = py.seen.clone();
    let line = |lines: &[String], verb: &str| -> String {
        lines
            .iter()
            .rfind(|l| l.contains(&format!("action={verb}")))
            .cloned()
            .unwrap_or_else(|| panic!("no {verb} line in {lines:?}"))
    };
    // The C client saw the Rust host's message, and counted after the Rust host's call.
    assert!(
        line(&c_lines, "clip-get").ends_with("text=from rust"),
        "{c_lines:?}"
    );
    assert_eq!(
        field(&line(&c_lines, "status"), "shared"),
        Some("1"),
        "{c_lines:?}"
    );
    assert_eq!(field_u64(&line(&c_lines, "add"), "private_calls"), 2);
    assert_eq!(field_u64(&line(&c_lines, "add"), "shared_calls"), 3);
    // Python saw the same message, then replaced it.
    assert!(
        line(&py_lines, "clip-get").ends_with("text=from rust"),
        "{py_lines:?}"
    );
    assert_eq!(field(&line(&py_lines, "status"), "shared"), Some("1"));
    assert_eq!(field_u64(&line(&py_lines, "add"), "private_calls"), 1);
    assert_eq!(field_u64(&line(&py_lines, "add"), "shared_calls"), 4);

    let got = rust.act("clip-get");
    assert!(got.ends_with("text=from python"), "{got}");
    let (private, shared) = counters(&mut rust);
    assert_eq!(
        (private, shared),
        (1, 4),
        "the Rust host's private and shared counters"
    );
    c.send("");
    py.send("");
}

#[test]
fn sixteen_processes_times_50000_calls_count_exactly_800000() {
    let ns = Namespace::new("load");
    let mut keeper = spawn_host("keeper", &ns, &[]);
    let mut workers: Vec<Proc> = (0..16)
        .map(|i| Proc::spawn(&format!("worker {i}"), lab_host(&ns, &["adds:50000"]), ""))
        .collect();
    for w in &mut workers {
        let line = w.expect("action=adds");
        assert_eq!(field_u64(&line, "private_calls"), 50_000, "{line}");
    }
    let (private, shared) = counters(&mut keeper);
    assert_eq!(private, 0);
    assert_eq!(shared, 800_000);
}

#[test]
fn four_writers_and_four_readers_never_see_a_torn_message() {
    let ns = Namespace::new("clip");
    let _keeper = spawn_host("keeper", &ns, &[]);
    let readers: Vec<Proc> = (0..4)
        .map(|i| {
            Proc::spawn(
                &format!("reader {i}"),
                lab_host(&ns, &["clip-read:5000"]),
                "",
            )
        })
        .collect();
    let writers: Vec<Proc> = (0..4)
        .map(|i| {
            Proc::spawn(
                &format!("writer {i}"),
                lab_host(&ns, &["clip-write:5000"]),
                "",
            )
        })
        .collect();
    let mut written = 0;
    for mut w in writers {
        written += field_u64(&w.expect("action=clip-write"), "written");
    }
    let (mut reads, mut distinct) = (0, 0);
    for mut r in readers {
        let line = r.expect("action=clip-read");
        assert_eq!(field_u64(&line, "torn"), 0, "{line}");
        reads += field_u64(&line, "reads");
        distinct += field_u64(&line, "distinct");
    }
    eprintln!(
        "clipboard: {written} messages written, {reads} reads, {distinct} changes seen, 0 torn"
    );
    assert!(
        written > 100 && reads > 100,
        "too little traffic: {written} writes, {reads} reads"
    );
    assert!(distinct > 4, "readers saw no change while writers wrote");
}

#[test]
fn writers_killed_mid_write_never_tear_a_message_and_a_new_process_starts_fresh() {
    let ns = Namespace::new("kill");
    let mut keeper = spawn_host("keeper", &ns, &["adds:7"]);
    let readers: Vec<Proc> = (0..2)
        .map(|i| {
            Proc::spawn(
                &format!("reader {i}"),
                lab_host(&ns, &["clip-read:6000"]),
                "",
            )
        })
        .collect();
    let mut kills = 0;
    for round in 0..40u64 {
        let mut w = Proc::spawn(
            "writer",
            lab_host(&ns, &["status", "clip-write:60000"]),
            "action=status",
        );
        std::thread::sleep(Duration::from_millis(5 + (round * 7) % 40));
        w.kill();
        kills += 1;
    }
    for mut r in readers {
        let line = r.expect("action=clip-read");
        assert_eq!(field_u64(&line, "torn"), 0, "{line} after {kills} kills");
        assert!(field_u64(&line, "distinct") > 1, "{line}");
    }
    // Later writers still get the writer lock the dead ones held.
    let set = keeper.act("clip-set:after the kills");
    assert_eq!(field(&set, "rc"), Some("0"), "{set}");
    let got = keeper.act("clip-get");
    assert!(got.ends_with("text=after the kills"), "{got}");
    // Once every process is gone (kill -9: no destructor ran), a new one starts again from
    // the section's initial values.
    drop(keeper);
    let mut fresh = spawn_host("fresh", &ns, &[]);
    let (shared, reason) = status(&mut fresh);
    assert!(shared && reason.contains("reset"), "{reason}");
    assert_eq!(counters(&mut fresh), (0, 0));
    assert!(fresh.act("clip-get").contains("len=0 "));
}

#[test]
fn the_last_process_to_unload_removes_the_region() {
    let ns = Namespace::new("unload");
    let mut a = spawn_host("a", &ns, &["clip-set:kept alive by b"]);
    let mut b = spawn_host("b", &ns, &[]);
    assert_eq!(ns.objects().len(), 1);
    a.act("unload");
    assert_eq!(ns.objects().len(), 1, "b still has the library loaded");
    assert!(b.act("clip-get").ends_with("text=kept alive by b"));
    b.act("unload");
    assert_eq!(
        ns.objects(),
        Vec::<std::path::PathBuf>::new(),
        "the last unload removes it"
    );
    let mut c = spawn_host("c", &ns, &[]);
    let (shared, reason) = status(&mut c);
    assert!(shared && reason.contains("created"), "{reason}");
    assert!(c.act("clip-get").contains("len=0 "));
}

#[test]
fn eight_processes_loading_at_once_initialize_the_region_exactly_once() {
    let ns = Namespace::new("race");
    let mut hosts: Vec<Proc> = (0..8)
        .map(|i| {
            Proc::spawn(
                &format!("host {i}"),
                lab_host(&ns, &["status", "add:1,1", "serve"]),
                "",
            )
        })
        .collect();
    let mut creators = 0;
    for h in &mut hosts {
        let line = h.expect("action=status");
        assert_eq!(field(&line, "shared"), Some("1"), "{line}");
        if !line.contains("attached") {
            creators += 1;
        }
        h.expect("action=serve");
    }
    assert_eq!(creators, 1, "exactly one process initializes the region");
    assert_eq!(counters(&mut hosts[0]).1, 8);
}

/// One kind of bad object at the region's name, made by `make`, and the words the reason
/// must contain.
fn refuses_bad_object(test: &str, make: impl FnOnce(&Path), expect: &str) {
    let ns = Namespace::new(test);
    let path = ns.region_path(uid());
    make(&path);
    let before = std::fs::symlink_metadata(&path).expect("bad object made");
    let bytes_before = std::fs::read(&path).ok();
    let mut host = spawn_host("host", &ns, &["add:2,3"]);
    let (shared, reason) = status(&mut host);
    assert!(!shared, "a bad object was used: {reason}");
    assert!(
        reason.contains(expect),
        "reason {reason:?} does not say {expect:?}"
    );
    assert!(reason.contains(&path.display().to_string()), "{reason}");
    // The library still works, privately.
    assert_eq!(counters(&mut host), (1, 1));
    assert!(host.act("clip-set:private").contains("rc=0"));
    drop(host);
    let after = std::fs::symlink_metadata(&path).expect("bad object left in place");
    assert_eq!(
        (
            before.ino(),
            before.mode(),
            before.uid(),
            before.size(),
            before.mtime_nsec()
        ),
        (
            after.ino(),
            after.mode(),
            after.uid(),
            after.size(),
            after.mtime_nsec()
        ),
        "the bad object was changed"
    );
    assert_eq!(
        std::fs::read(&path).ok(),
        bytes_before,
        "the bad object's bytes changed"
    );
}

fn write_object(path: &Path, bytes: &[u8], mode: u32) {
    std::fs::write(path, bytes).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn valid_image() -> Vec<u8> {
    let mut v = vec![0u8; 4096];
    v[..8].copy_from_slice(b"SOLIBSHR");
    v[8..12].copy_from_slice(&util::LAYOUT_VERSION.to_le_bytes());
    v[12..16].copy_from_slice(&4096u32.to_le_bytes());
    v
}

#[test]
fn an_object_with_another_layout_is_refused_and_left_untouched() {
    refuses_bad_object(
        "magic",
        |p| {
            let mut img = valid_image();
            img[..8].copy_from_slice(b"NOTSOLIB");
            write_object(p, &img, 0o600)
        },
        "magic",
    );
    refuses_bad_object(
        "version",
        |p| {
            let mut img = valid_image();
            img[8] = 99;
            write_object(p, &img, 0o600)
        },
        "layout version 99",
    );
    refuses_bad_object(
        "size",
        |p| write_object(p, &vec![0u8; 8192], 0o600),
        "size 8192",
    );
}

#[test]
fn an_object_with_another_mode_owner_or_a_symlink_is_refused_and_left_untouched() {
    refuses_bad_object(
        "mode",
        |p| write_object(p, &valid_image(), 0o644),
        "mode 0644",
    );
    refuses_bad_object(
        "symlink",
        |p| std::os::unix::fs::symlink("/tmp/solab-symlink-target-does-not-matter", p).unwrap(),
        "symbolic link",
    );
    if is_root() {
        refuses_bad_object(
            "owner",
            |p| {
                write_object(p, &valid_image(), 0o600);
                std::os::unix::fs::chown(p, Some(65534), Some(65534)).unwrap();
            },
            "belongs to uid 65534",
        );
    } else {
        util::skip("the wrong-owner case: making another user's file needs root");
    }
}

#[test]
fn another_uid_can_neither_open_the_region_nor_share_it() {
    if !is_root() {
        return skip("switching to uid 65534 needs root");
    }
    let ns = Namespace::new("uid");
    let mut mine = spawn_host("root host", &ns, &["adds:3", "clip-set:root secret"]);
    let path = ns.region_path(0);
    assert!(path.exists());
    // Another user cannot read the object...
    let cat = as_nobody(Path::new("/bin/cat"))
        .arg(&path)
        .output()
        .unwrap();
    assert!(!cat.status.success(), "uid 65534 read {}", path.display());
    assert!(String::from_utf8_lossy(&cat.stderr).contains("Permission denied"));
    // ...and its own loads get a region of their own.
    let mut cmd = as_nobody(&artifacts().lab_host);
    cmd.arg("--lib")
        .arg(&artifacts().libsolib)
        .args(["status", "clip-get", "add:1,1", "serve"]);
    ns.env(&mut cmd);
    let mut theirs = Proc::spawn("uid 65534 host", cmd, "action=serve");
    let seen = theirs.seen.join("\n");
    assert!(seen.contains("shared=1"), "{seen}");
    assert!(
        seen.contains(&format!(
            "solib-u65534-v{}-{}",
            util::LAYOUT_VERSION,
            ns.name
        )),
        "{seen}"
    );
    assert!(
        seen.contains("action=clip-get len=0 "),
        "uid 65534 saw root's clipboard: {seen}"
    );
    assert_eq!(counters(&mut theirs), (1, 1));
    assert_eq!(counters(&mut mine), (3, 3));
}

#[test]
fn the_c_header_compiles_and_links_against_libsolib() {
    let a = artifacts();
    let dir = std::env::temp_dir().join(format!("solab-header-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("every_function.c");
    std::fs::write(
        &src,
        r#"#include <stdio.h>
#include <string.h>
#include "solib.h"
int main(void) {
    char reason[256];
    uint8_t buf[64];
    const char *msg = "header";
    if (solib_add(2, 3) != 5) return 1;
    if (solib_private_calls() != 1 || solib_bss_calls() != 1 || solib_shared_calls() != 1) return 2;
    if (solib_clipboard_capacity() < 1024) return 3;
    if (solib_clipboard_set((const uint8_t *)msg, strlen(msg)) != 0) return 4;
    if (solib_clipboard_get(buf, sizeof buf) != strlen(msg) || memcmp(buf, msg, 6)) return 5;
    if (solib_clipboard_set(buf, solib_clipboard_capacity() + 1) != -1) return 6;
    int shared = solib_status(reason, sizeof reason);
    if (((unsigned long)solib_shared_addr() & 4095) != 0) return 7;
    if (solib_private_addr() == solib_bss_addr()) return 8;
    printf("shared=%d reason=%s\n", shared, reason);
    return 0;
}
"#,
    )
    .unwrap();
    let exe = dir.join("every_function");
    let cc = Command::new("cc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-I"])
        .arg(a.repo.join("solib/include"))
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .arg(format!("-L{}", a.bin_dir.display()))
        .arg("-lsolib")
        .arg(format!("-Wl,-rpath,{}", a.bin_dir.display()))
        .output()
        .unwrap();
    assert!(
        cc.status.success(),
        "cc failed: {}",
        String::from_utf8_lossy(&cc.stderr)
    );
    let ns = Namespace::new("header");
    let run = ns.env(&mut Command::new(&exe)).output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        run.status.success(),
        "exit {:?}: {}",
        run.status.code(),
        String::from_utf8_lossy(&run.stdout)
    );
    assert!(String::from_utf8_lossy(&run.stdout).starts_with("shared=1 "));
}

#[test]
fn readelf_shows_a_page_aligned_shared_section_and_a_soname() {
    let a = artifacts();
    let out = Command::new("readelf")
        .arg("-SWd")
        .arg(&a.libsolib)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let shared = text
        .lines()
        .find(|l| l.contains(" .shared "))
        .unwrap_or_else(|| panic!("no .shared section in readelf -S:\n{text}"));
    // [Nr] Name Type Address Off Size ES Flg Lk Inf Al
    let cols: Vec<&str> = shared
        .split(']')
        .nth(1)
        .unwrap()
        .split_whitespace()
        .collect();
    let addr = u64::from_str_radix(cols[2], 16).unwrap();
    let size = u64::from_str_radix(cols[4], 16).unwrap();
    assert_eq!(cols[1], "PROGBITS", "{shared}");
    assert!(
        cols[6].contains('W') && cols[6].contains('A'),
        "not writable+alloc: {shared}"
    );
    assert_eq!(cols.last(), Some(&"4096"), "alignment: {shared}");
    assert_eq!(addr % 4096, 0, "{shared}");
    assert!(size > 0 && size % 4096 == 0, "{shared}");
    assert!(
        text.contains("Library soname: [libsolib.so.0]"),
        "no DT_SONAME"
    );
}

/// The pagemap entry of the page at `addr` in `pid` (pagemap.rst: bit 63 present, bits
/// 0-54 PFN, zero without CAP_SYS_ADMIN).
fn pagemap(pid: i32, addr: u64) -> u64 {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::open(format!("/proc/{pid}/pagemap")).unwrap();
    let mut b = [0u8; 8];
    f.read_exact_at(&mut b, addr / 4096 * 8).unwrap();
    u64::from_le_bytes(b)
}

#[test]
fn the_shared_page_is_one_frame_and_written_data_pages_are_not() {
    if !is_root() {
        return skip(
            "frame numbers need CAP_SYS_ADMIN (the analyzer's weak-mode tests cover this)",
        );
    }
    let ns = Namespace::new("frames");
    let mut hosts: Vec<Proc> = (0..2)
        .map(|i| spawn_host(&format!("host {i}"), &ns, &["touch", "add:1,2"]))
        .collect();
    let frames: Vec<(u64, u64)> = hosts
        .iter_mut()
        .map(|h| {
            let addrs = h.act("addrs");
            let pid = h.pid();
            let shared = pagemap(pid, field_u64(&addrs, "shared"));
            let data = pagemap(pid, field_u64(&addrs, "data"));
            assert!(shared >> 63 == 1 && data >> 63 == 1, "pages not present");
            (shared & ((1 << 55) - 1), data & ((1 << 55) - 1))
        })
        .collect();
    assert_eq!(
        frames[0].0, frames[1].0,
        ".shared: one frame in both processes"
    );
    assert_ne!(
        frames[0].1, frames[1].1,
        "written .data: a private frame each"
    );
    assert!(frames.iter().all(|f| f.0 != 0 && f.1 != 0));
}

#[test]
fn a_region_truncated_by_another_process_does_not_crash_its_users() {
    let ns = Namespace::new("trunc");
    let mut a = spawn_host("a", &ns, &["adds:5", "clip-set:before the truncation"]);
    let path = ns.region_path(uid());
    // Another process of the same user shrinks the object under the mapping.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    // Reading and writing the section would raise SIGBUS; the library turns it private.
    let got = a.act("clip-get");
    assert!(got.contains("len=0 "), "{got}");
    assert!(a.act("add:1,1").contains("result=2"));
    assert!(a.act("clip-set:after").contains("rc=0"));
    let (shared, reason) = status(&mut a);
    assert!(!shared && reason.contains("truncated"), "{reason}");
    // A newcomer sees the damaged object while `a` still holds it, and refuses it.
    let mut b = spawn_host("b", &ns, &[]);
    let (shared, reason) = status(&mut b);
    assert!(!shared && reason.contains("size 0"), "{reason}");
}

// ---- writers that cannot lock, stopped writers, hard links, squatted names ----

/// Reads `clip-read` and `clip-write` results: (messages written, reads, torn reads).
fn clip_figures(writers: Vec<Proc>, readers: Vec<Proc>) -> (u64, u64, u64) {
    let mut written = 0;
    for mut w in writers {
        let line = w.expect("action=clip-write");
        let n = field_u64(&line, "written");
        assert!(n > 0, "{} wrote nothing: {line}", w.name);
        assert_eq!(field_u64(&line, "refused"), 0, "{}: {line}", w.name);
        written += n;
    }
    let (mut reads, mut torn) = (0, 0);
    for mut r in readers {
        let line = r.expect("action=clip-read");
        reads += field_u64(&line, "reads");
        torn += field_u64(&line, "torn");
    }
    (written, reads, torn)
}

/// Takes the clipboard writer lock (byte 2 of the region) for the test itself, with a lock
/// of an open file description, which conflicts with both kinds of fcntl lock; held until
/// the returned file is closed.
fn take_writer_lock(path: &Path) -> std::fs::File {
    use std::os::fd::AsRawFd;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    // SAFETY: flock is plain data; l_pid must be 0 for OFD locks.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = 2;
    fl.l_len = 1;
    // SAFETY: f is open; fl is a valid flock. Waits for a writer that holds it.
    let r = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_OFD_SETLKW, &fl) };
    assert_eq!(r, 0, "F_OFD_SETLKW: {}", std::io::Error::last_os_error());
    f
}

/// While writers write, the test holds the writer lock for 300 ms: a writer that respects
/// the lock publishes nothing meanwhile, so the clipboard must not change. (Torn reads
/// need two writers truly in parallel, which a loaded machine may not give; this does not.)
fn clipboard_still_while_the_lock_is_held(ns: &Namespace, keeper: &mut Proc) {
    std::thread::sleep(Duration::from_millis(300));
    let lock = take_writer_lock(&ns.region_path(uid()));
    let before = keeper.act("clip-get");
    std::thread::sleep(Duration::from_millis(300));
    let after = keeper.act("clip-get");
    drop(lock);
    assert_eq!(
        before, after,
        "a message was published while the test held the writer lock"
    );
}

#[test]
fn a_writer_that_cannot_open_another_descriptor_never_tears_a_message() {
    let ns = Namespace::new("nofile");
    let mut keeper = spawn_host("keeper", &ns, &[]);
    let reader = Proc::spawn("reader", lab_host(&ns, &["clip-read:2500"]), "");
    let plain = Proc::spawn("writer", lab_host(&ns, &["clip-write:2000"]), "");
    // Descriptors 0-2 are stdio and the region's takes 3: with RLIMIT_NOFILE 4 the library
    // can open nothing more once attached.
    let mut cmd = util::wrapped(
        "prlimit",
        &["--nofile=4", "--"],
        &lab_host(&ns, &["status", "clip-write:2000"]),
    );
    // Only stdio may be open in the writer: a descriptor this test inherited (a make
    // wrapped in flock(1) passes its lock's) would take the one left for the region.
    // SAFETY: close_range is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            libc::close_range(3, libc::c_uint::MAX, 0);
            Ok(())
        });
    }
    let limited = Proc::spawn("writer with --nofile=4", cmd, "action=status");
    let line = limited.seen.join("\n");
    assert!(
        line.contains("shared=1"),
        "the limited writer must share the region for this test to mean anything: {line}"
    );
    clipboard_still_while_the_lock_is_held(&ns, &mut keeper);
    let (written, reads, torn) = clip_figures(vec![plain, limited], vec![reader]);
    eprintln!(
        "prlimit --nofile=4 writer and a plain one: {written} messages, {reads} reads, {torn} torn"
    );
    assert_eq!(torn, 0, "{torn} torn reads of {reads}");
    assert!(reads > 100, "too few reads: {reads}");
}

#[test]
fn a_forked_child_that_changed_user_never_tears_a_message() {
    if !is_root() {
        return skip("setuid in the child needs root");
    }
    let ns = Namespace::new("forkuid");
    let mut keeper = spawn_host("keeper", &ns, &[]);
    let reader = Proc::spawn("reader", lab_host(&ns, &["clip-read:2500"]), "");
    let plain = Proc::spawn("writer", lab_host(&ns, &["clip-write:2000"]), "");
    // The parent loads the library as root; its child becomes uid 65534 and writes: it can
    // no longer open anything of root's, /proc/self/fd included.
    let mut parent = Proc::spawn(
        "forking writer",
        lab_host(&ns, &["status", "fork-as:65534:clip-write:2000"]),
        "action=status",
    );
    clipboard_still_while_the_lock_is_held(&ns, &mut keeper);
    let child = parent.expect("action=clip-write");
    let done = parent.expect("action=fork-as");
    assert_eq!(field(&done, "exit"), Some("0"), "{done}");
    assert_ne!(field(&child, "pid"), field(&done, "pid"), "{child}");
    let child_written = field_u64(&child, "written");
    assert!(child_written > 0, "{child}");
    assert_eq!(field_u64(&child, "refused"), 0, "{child}");
    let (written, reads, torn) = clip_figures(vec![plain], vec![reader]);
    eprintln!(
        "fork + setuid child writer and a plain one: {} messages, {reads} reads, {torn} torn",
        written + child_written
    );
    assert_eq!(torn, 0, "{torn} torn reads of {reads}");
}

/// Is byte 2 of the region (the clipboard writer lock) locked by any process? F_GETLK
/// reports a conflicting lock of either kind (a process's or an open file description's).
fn writer_lock_held(path: &Path) -> bool {
    use std::os::fd::AsRawFd;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    // SAFETY: flock is plain data.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = 2;
    fl.l_len = 1;
    // SAFETY: f is open; fl is a valid flock.
    let r = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GETLK, &mut fl) };
    assert_eq!(r, 0, "F_GETLK: {}", std::io::Error::last_os_error());
    fl.l_type != libc::F_UNLCK as libc::c_short
}

/// The state letter of /proc/PID/stat (after the `)` that closes the command name).
fn proc_state(pid: i32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(") ")
        .and_then(|(_, rest)| rest.chars().next())
        .unwrap_or('?')
}

#[test]
fn a_writer_stopped_holding_the_lock_makes_other_writers_fail_in_a_second_not_hang() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    use std::time::Instant;
    let ns = Namespace::new("stopped");
    let mut other = spawn_host("other writer", &ns, &[]);
    let mut writer = Proc::spawn(
        "writer",
        lab_host(&ns, &["status", "clip-write:30000"]),
        "action=status",
    );
    let path = ns.region_path(uid());
    let pid = Pid::from_raw(writer.pid());
    // Stop the writer until it is caught holding the lock (it spends a good part of each
    // message inside it).
    let mut tries = 0;
    loop {
        tries += 1;
        kill(pid, Signal::SIGSTOP).unwrap();
        let until = Instant::now() + Duration::from_secs(2);
        while proc_state(writer.pid()) != 'T' {
            assert!(Instant::now() < until, "the writer did not stop");
            std::thread::sleep(Duration::from_micros(100));
        }
        if writer_lock_held(&path) {
            break;
        }
        assert!(tries < 1000, "never caught the writer holding the lock");
        kill(pid, Signal::SIGCONT).unwrap();
        std::thread::sleep(Duration::from_micros(200 + (tries % 7) * 150));
    }
    let start = Instant::now();
    other.send("clip-set:while the writer is stopped");
    let line = other.expect_within("action=clip-set", Duration::from_secs(5));
    let waited = start.elapsed();
    assert_eq!(field(&line, "rc"), Some("-1"), "{line}");
    assert!(
        (Duration::from_millis(900)..Duration::from_secs(3)).contains(&waited),
        "solib_clipboard_set returned after {waited:?}, not after about one second"
    );
    let (shared, reason) = status(&mut other);
    assert!(
        shared && reason.contains("writer lock") && reason.contains("1 s"),
        "{reason}"
    );
    // Readers are not blocked: they read the last complete message meanwhile.
    let start = Instant::now();
    let mut reader = Proc::spawn("reader", lab_host(&ns, &["clip-read:300"]), "");
    let read = reader.expect_within("action=clip-read", Duration::from_secs(5));
    let read_took = start.elapsed();
    assert_eq!(field_u64(&read, "torn"), 0, "{read}");
    assert!(field_u64(&read, "reads") > 100, "{read}");
    // When the stopped writer dies, the kernel drops its lock and writing works again.
    writer.kill();
    let after = other.act("clip-set:after the stopped writer died");
    assert_eq!(field(&after, "rc"), Some("0"), "{after}");
    eprintln!(
        "stopped writer (caught holding the lock after {tries} stops): another writer's set \
         returned -1 after {waited:?}; a reader read for 300 ms meanwhile in {read_took:?}: {read}"
    );
}

/// Another file of the user at `victim`, hard-linked at the region's name.
fn hard_link_at(region: &Path, victim_bytes: &[u8]) {
    let name = region.file_name().unwrap().to_string_lossy();
    // Ends with the namespace, so the namespace's Drop removes it.
    let victim = region.with_file_name(format!("victim-{name}"));
    write_object(&victim, victim_bytes, 0o600);
    std::fs::hard_link(&victim, region).unwrap();
}

#[test]
fn a_hard_link_at_the_regions_name_is_refused_and_its_file_left_untouched() {
    // An empty file would have been "created" (overwritten with a header)...
    refuses_bad_object("link-empty", |p| hard_link_at(p, b""), "has 2 links");
    // ...and a valid region of another namespace reset to the initial values.
    let mut busy = valid_image();
    busy[16..24].copy_from_slice(&42u64.to_le_bytes());
    refuses_bad_object("link-region", |p| hard_link_at(p, &busy), "has 2 links");
}

#[test]
fn with_a_runtime_directory_the_region_is_created_there_and_shared() {
    let ns = Namespace::with_runtime_dir("rundir");
    let run = ns.runtime_dir.clone().unwrap();
    let path = run.join(ns.region_name(uid()));
    let mut a = spawn_host("a", &ns, &["clip-set:in the runtime dir", "add:1,1"]);
    let mut b = spawn_host("b", &ns, &["add:1,1"]);
    let (shared, reason) = status(&mut a);
    assert!(shared, "{reason}");
    assert!(
        reason.contains(&format!("shared: {}: created", path.display())),
        "{reason}"
    );
    assert!(reason.contains("in the runtime directory"), "{reason}");
    let meta = std::fs::symlink_metadata(&path).expect("the region is in the runtime dir");
    assert!(meta.is_file());
    assert_eq!((meta.mode() & 0o7777, meta.uid()), (0o600, uid()));
    assert!(
        !ns.region_path(uid()).exists(),
        "a region was made in /dev/shm too"
    );
    assert!(b.act("clip-get").ends_with("text=in the runtime dir"));
    assert_eq!(counters(&mut b), (1, 2));
    a.act("unload");
    b.act("unload");
    assert!(
        !path.exists(),
        "the last unload removes it from the runtime dir"
    );
}

#[test]
fn another_user_who_takes_the_name_in_dev_shm_cannot_stop_sharing_in_a_runtime_dir() {
    if !is_root() {
        return skip("creating a file as uid 65534 needs root");
    }
    let ns = Namespace::with_runtime_dir("squat");
    let squatted = ns.region_path(uid());
    let out = as_nobody(Path::new("/usr/bin/touch"))
        .arg(&squatted)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let before = std::fs::symlink_metadata(&squatted).unwrap();
    assert_eq!(before.uid(), 65534);
    // Without a runtime directory the squatter wins, and the status says why.
    let mut plain = lab_host(&ns, &["status", "serve"]);
    plain.env_remove("XDG_RUNTIME_DIR");
    let mut victim = Proc::spawn("host without a runtime dir", plain, "action=serve");
    let (shared, reason) = status(&mut victim);
    assert!(!shared, "{reason}");
    assert!(reason.contains("belongs to uid 65534"), "{reason}");
    assert!(
        reason.contains("XDG_RUNTIME_DIR is not set") && reason.contains("another user"),
        "{reason}"
    );
    // With one, this user's processes share as if nobody had.
    let mut a = spawn_host("a", &ns, &["clip-set:squatter or not"]);
    let mut b = spawn_host("b", &ns, &[]);
    for h in [&mut a, &mut b] {
        let (shared, reason) = status(h);
        assert!(shared && reason.contains("runtime directory"), "{reason}");
    }
    assert!(b.act("clip-get").ends_with("text=squatter or not"));
    let after = std::fs::symlink_metadata(&squatted).unwrap();
    assert_eq!(
        (before.ino(), before.uid(), before.size()),
        (after.ino(), after.uid(), after.size()),
        "the other user's file was changed"
    );
}

#[test]
fn a_runtime_directory_not_private_or_not_ours_is_refused_for_dev_shm() {
    use std::os::unix::fs::PermissionsExt;
    let mut ns = Namespace::with_runtime_dir("badrun");
    let good = ns.runtime_dir.clone().unwrap();
    let scratch = ns.scratch().to_path_buf();
    let open = scratch.join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
    let link = scratch.join("link");
    std::os::unix::fs::symlink(&good, &link).unwrap();
    let file = scratch.join("file");
    std::fs::write(&file, b"").unwrap();
    let mut cases = vec![
        (open.clone(), "has mode 0755, not 0700".to_string()),
        (link, "is a symbolic link".to_string()),
        (file, "is not a directory".to_string()),
        (PathBuf::from("run"), "is not an absolute path".to_string()),
    ];
    if is_root() {
        let theirs = scratch.join("theirs");
        std::fs::create_dir(&theirs).unwrap();
        std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
        cases.push((theirs, "belongs to uid 65534".to_string()));
    } else {
        util::skip("the other-owner case: making another user's directory needs root");
    }
    let fallback = ns.region_path(uid());
    for (dir, expect) in cases {
        ns.runtime_dir = Some(dir.clone());
        let mut h = spawn_host("host", &ns, &[]);
        let (shared, reason) = status(&mut h);
        assert!(shared, "{}: {reason}", dir.display());
        assert!(
            reason.contains(&format!("shared: {}:", fallback.display())),
            "{}: {reason}",
            dir.display()
        );
        assert!(
            reason.contains(&expect) && reason.contains("in /dev/shm"),
            "{}: the reason does not say {expect:?}: {reason}",
            dir.display()
        );
        h.act("unload");
    }
    // Nothing was created in the refused directories.
    assert_eq!(std::fs::read_dir(&open).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(&good).unwrap().count(), 0);
    ns.runtime_dir = Some(good);
}

/// /proc/sys/fs/lease-break-time set for one test, and its old value written back on Drop
/// (also when the test fails).
struct LeaseBreakTime(String);

impl LeaseBreakTime {
    const PATH: &str = "/proc/sys/fs/lease-break-time";

    fn set(secs: u32) -> LeaseBreakTime {
        let old = std::fs::read_to_string(Self::PATH).expect("read lease-break-time");
        std::fs::write(Self::PATH, secs.to_string()).expect("write lease-break-time");
        LeaseBreakTime(old.trim().to_string())
    }
}

impl Drop for LeaseBreakTime {
    fn drop(&mut self) {
        let _ = std::fs::write(Self::PATH, &self.0);
    }
}

/// Creates `path` as uid 65534 and holds a read lease on it (fcntl F_SETLEASE F_RDLCK),
/// taken again after every break, as an attacker would to stall each open for writing.
const LEASE_HOLDER: &str = r#"
import fcntl, os, signal, sys, time
F_SETLEASE, F_RDLCK = 1024, 0
signal.signal(signal.SIGIO, lambda *_: None)
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
fcntl.fcntl(fd, F_SETLEASE, F_RDLCK)
print("leased", flush=True)
while True:
    time.sleep(0.05)
    try:
        fcntl.fcntl(fd, F_SETLEASE, F_RDLCK)
    except OSError:
        pass
"#;

#[test]
fn another_users_lease_on_the_regions_name_makes_loading_private_at_once_not_slow() {
    if !is_root() {
        crate::util::skip("creating a file as uid 65534 and setting lease-break-time need root");
        return;
    }
    let _break_time = LeaseBreakTime::set(10);
    let ns = Namespace::new("lease");
    let squatted = ns.region_path(uid());
    let mut holder = as_nobody(Path::new("/usr/bin/python3"));
    holder.arg("-c").arg(LEASE_HOLDER).arg(&squatted);
    let _holder = Proc::spawn("uid 65534 lease holder", holder, "leased");
    let before = std::fs::symlink_metadata(&squatted).unwrap();
    assert_eq!(before.uid(), 65534);
    // Load after load: each would wait the whole lease-break time if the open blocked.
    for n in 0..2 {
        let started = std::time::Instant::now();
        let mut host = Proc::spawn("host", lab_host(&ns, &["status", "serve"]), "");
        let line = host.expect_within("action=status", Duration::from_secs(30));
        let took = started.elapsed();
        let reason = line.split_once("reason=").map_or("", |x| x.1);
        assert!(
            took < Duration::from_secs(3),
            "load {n} took {took:?} with a lease on {}: {reason}",
            squatted.display()
        );
        assert_eq!(field(&line, "shared"), Some("0"), "{line}");
        // The open that would break the lease failed at once (EWOULDBLOCK), and the status
        // says so, and that another user can take the name in /dev/shm.
        assert!(
            reason.contains(&format!(
                "cannot open {}: Resource temporarily unavailable",
                squatted.display()
            )) && reason.contains("another user could create this name first"),
            "the status does not say why: {reason}"
        );
        eprintln!("load {n}: {took:?}: {reason}");
    }
    let after = std::fs::symlink_metadata(&squatted).unwrap();
    assert_eq!(
        (before.ino(), before.uid(), before.size()),
        (after.ino(), after.uid(), after.size()),
        "the other user's file was changed"
    );
}
