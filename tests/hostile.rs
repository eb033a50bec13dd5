//! Hostile input to the analyzer: files and processes another user controls
//! must not make root's solab hang or take unbounded memory. Peak memory is each solab
//! child's own `ru_maxrss` (wait4), so other tests running at the same time do not count.

use crate::util::{Proc, artifacts};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The most a `solab elf` or `solab inspect` of the hostile file may take, beyond the
/// ~10 MiB the program itself needs.
const LIMIT_KIB: i64 = 64 * 1024;

/// A 5 KB ELF file: one PT_LOAD of almost 4 GiB, and eight SHF_ALLOC NOBITS sections over
/// all of it that share one 1 KB name.
fn hostile_elf(dir: &Path) -> PathBuf {
    let name = vec![b'a'; 1024];
    let mut strtab = vec![0u8];
    strtab.extend_from_slice(&name);
    strtab.push(0);
    let shstrtab_name = strtab.len() as u32;
    strtab.extend_from_slice(b".shstrtab\0");
    let strtab_off = 0x1000u64;
    let shoff = strtab_off + strtab.len() as u64 + 8 - (strtab.len() as u64 % 8);
    let nsec = 10u16;
    let mut f = vec![0u8; shoff as usize + nsec as usize * 64];
    let put =
        |f: &mut Vec<u8>, at: usize, bytes: &[u8]| f[at..at + bytes.len()].copy_from_slice(bytes);
    // ELF header (elf(5)).
    put(&mut f, 0, b"\x7fELF\x02\x01\x01");
    put(&mut f, 16, &3u16.to_le_bytes()); // ET_DYN
    put(&mut f, 18, &62u16.to_le_bytes()); // EM_X86_64
    put(&mut f, 20, &1u32.to_le_bytes());
    put(&mut f, 32, &64u64.to_le_bytes()); // e_phoff
    put(&mut f, 40, &shoff.to_le_bytes());
    put(&mut f, 52, &64u16.to_le_bytes());
    put(&mut f, 54, &56u16.to_le_bytes());
    put(&mut f, 56, &1u16.to_le_bytes());
    put(&mut f, 58, &64u16.to_le_bytes());
    put(&mut f, 60, &nsec.to_le_bytes());
    put(&mut f, 62, &(nsec - 1).to_le_bytes());
    // PT_LOAD, RW, p_filesz one page, p_memsz almost 4 GiB.
    let ph = 64;
    put(&mut f, ph, &1u32.to_le_bytes());
    put(&mut f, ph + 4, &6u32.to_le_bytes());
    put(&mut f, ph + 32, &0x1000u64.to_le_bytes());
    put(&mut f, ph + 40, &0xffff_0000u64.to_le_bytes());
    put(&mut f, ph + 48, &0x1000u64.to_le_bytes());
    put(&mut f, strtab_off as usize, &strtab);
    for i in 1..=8usize {
        let sh = shoff as usize + i * 64;
        put(&mut f, sh, &1u32.to_le_bytes()); // the shared long name
        put(&mut f, sh + 4, &8u32.to_le_bytes()); // SHT_NOBITS
        put(&mut f, sh + 8, &3u64.to_le_bytes()); // SHF_WRITE | SHF_ALLOC
        put(&mut f, sh + 16, &0x1000u64.to_le_bytes());
        put(&mut f, sh + 24, &0x1000u64.to_le_bytes());
        put(&mut f, sh + 32, &0xfffe_0000u64.to_le_bytes());
    }
    let sh = shoff as usize + 9 * 64;
    put(&mut f, sh, &shstrtab_name.to_le_bytes());
    put(&mut f, sh + 4, &3u32.to_le_bytes()); // SHT_STRTAB
    put(&mut f, sh + 24, &strtab_off.to_le_bytes());
    put(&mut f, sh + 32, &(strtab.len() as u64).to_le_bytes());
    let path = dir.join("hostile.so");
    std::fs::write(&path, &f).expect("write hostile ELF");
    path
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir(tag: &str) -> TempDir {
    let d = std::env::temp_dir().join(format!("solab-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    TempDir(d)
}

#[test]
fn a_small_elf_asking_for_4_gib_costs_bounded_memory() {
    let peak = Peak::new();
    let dir = temp_dir("hostile-elf");
    let file = hostile_elf(&dir.0);
    assert!(std::fs::metadata(&file).expect("size").len() < 8 * 1024);
    for json in [false, true] {
        let mut args = vec!["elf".into(), file.clone().into_os_string()];
        if json {
            args.push("--json".into());
        }
        let (run, kib) = peak.solab(&args);
        assert_eq!(
            run.code, 0,
            "solab elf of the hostile file (json {json}): {}",
            run.stderr
        );
        assert!(kib < LIMIT_KIB, "solab elf took {kib} KiB (json {json})");
    }
    // Mapped by a process, the same file goes through inspect's whole path.
    let script = format!(
        "import mmap,sys\nf=open({:?},'rb')\nm=mmap.mmap(f.fileno(),4096,flags=mmap.MAP_PRIVATE,prot=mmap.PROT_READ)\nm[0]\nprint('ready',flush=True)\nsys.stdin.read()\n",
        file.display().to_string()
    );
    let mut py = Command::new("python3");
    py.arg("-c").arg(script);
    let host = Proc::spawn("python3 mapping the hostile file", py, "ready");
    let pid = host.pid().to_string();
    for args in [vec!["inspect"], vec!["inspect", "--pages", "--json"]] {
        let (run, kib) = peak.solab(args.iter().chain(&[pid.as_str(), "-o", "hostile.so"]));
        assert_eq!(
            run.code, 0,
            "solab {args:?} of a process mapping the hostile file: {}",
            run.stderr
        );
        assert!(kib < LIMIT_KIB, "solab {args:?} took {kib} KiB");
    }
}

/// A program that runs its arguments as a child of its own and then prints that child's
/// peak resident memory (`peak_kib=N`, from wait4) on stderr, after whatever the child
/// printed there, and exits with the child's status. A child of the test binary itself
/// would count the test binary's memory: exec records the high-water mark of the memory it
/// replaces (exec_mmap), and the test binary's grows with the tests it runs.
const PEAK_SOURCE: &str = r#"
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (argc < 2) return 125;
    pid_t pid = fork();
    if (pid < 0) return 125;
    if (pid == 0) { execvp(argv[1], argv + 1); _exit(127); }
    int status; struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid) return 125;
    fprintf(stderr, "\npeak_kib=%ld\n", ru.ru_maxrss);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 125;
}
"#;

/// The program built from [`PEAK_SOURCE`], to run solab under it.
pub(crate) struct Peak(crate::util::Compiled);

impl Peak {
    pub(crate) fn new() -> Peak {
        Peak(crate::util::Compiled::from_source(
            "peak",
            PEAK_SOURCE,
            &["-O2"],
            &[],
        ))
    }

    /// Runs solab with `args` (stdin empty): what it printed, and its own peak resident
    /// memory in KiB.
    pub(crate) fn solab<S: AsRef<std::ffi::OsStr>>(
        &self,
        args: impl IntoIterator<Item = S>,
    ) -> (crate::util::Run, i64) {
        let run = crate::util::finish(
            Command::new(&self.0.path)
                .arg(&artifacts().solab)
                .args(args)
                .stdin(Stdio::null())
                .output()
                .expect("run solab under peak"),
        );
        let kib = run
            .stderr
            .lines()
            .find_map(|l| l.strip_prefix("peak_kib="))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no peak_kib= from peak: {}", run.stderr));
        (run, kib)
    }
}

/// `n` sleeping processes, each past its exec and its loader (libc mapped, asleep).
fn sleepers(n: usize) -> Vec<Proc> {
    let procs: Vec<Proc> = (0..n)
        .map(|_| {
            let mut c = Command::new("sleep");
            c.arg("600");
            Proc::spawn("sleep", c, "")
        })
        .collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    for p in &procs {
        let asleep = || {
            let maps =
                std::fs::read_to_string(format!("/proc/{}/maps", p.pid())).unwrap_or_default();
            let stat =
                std::fs::read_to_string(format!("/proc/{}/stat", p.pid())).unwrap_or_default();
            maps.contains("libc")
                && stat
                    .rsplit_once(") ")
                    .is_some_and(|(_, r)| r.starts_with('S'))
        };
        while !asleep() {
            assert!(
                std::time::Instant::now() < deadline,
                "sleep {} did not start",
                p.pid()
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
    procs
}

/// `inspect --json` writes its report as it builds it: thirteen times the processes make
/// thirteen times the output, not thirteen times the memory (a report built whole before
/// it is written takes more memory than its text). And what it holds until the first byte
/// is not the pagemap words of every page of every process (8 bytes a page): a page each
/// process has the same word for is kept once, so 192 more sleeping processes cost less
/// than their words would.
#[test]
fn inspect_json_memory_does_not_grow_with_the_output() {
    let peak = Peak::new();
    // Peak KiB, KiB of output, and the KiB the pagemap words of every page of every
    // object in every process would take, 8 bytes a page.
    let measure = |n: usize| -> (i64, u64, u64) {
        let procs = sleepers(n);
        let mut args = vec!["inspect".to_string(), "--json".into()];
        args.extend(procs.iter().map(|p| p.pid().to_string()));
        let (run, kib) = peak.solab(&args);
        let (code, text) = (run.code, run.stdout);
        let report: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!("inspect --json of {n} processes: not one JSON document: {e}")
        });
        assert_eq!(
            code, 0,
            "inspect --json of {n} processes: {:#}",
            report["errors"]
        );
        assert_eq!(
            report["processes"].as_array().map(Vec::len),
            Some(n),
            "{:#}",
            report["errors"]
        );
        let words: u64 = report["objects"]
            .as_array()
            .expect("objects")
            .iter()
            .map(|o| {
                let pages: u64 = o["pages"]
                    .as_array()
                    .expect("pages")
                    .iter()
                    .map(|p| p["pages"].as_u64().expect("a page's count"))
                    .sum();
                pages * o["procs"].as_array().expect("procs").len() as u64
            })
            .sum();
        (kib, text.len() as u64 / 1024, words * 8 / 1024)
    };
    let (small_kib, small_out, small_words) = measure(16);
    let (large_kib, large_out, large_words) = measure(208);
    let (more_kib, more_out) = (large_kib - small_kib, large_out.saturating_sub(small_out));
    let more_words = large_words - small_words;
    eprintln!(
        "inspect --json: 16 processes {small_kib} KiB peak, {small_out} KiB out, \
         {small_words} KiB of words; 208 processes {large_kib} KiB peak, {large_out} KiB out, \
         {large_words} KiB of words"
    );
    assert!(
        more_out > 8 * 1024,
        "192 more processes made only {more_out} KiB more output: the test measures nothing"
    );
    assert!(
        more_kib * 4 < more_out as i64,
        "192 more processes: {more_out} KiB more output and {more_kib} KiB more peak memory \
         ({small_kib} KiB for 16, {large_kib} KiB for 208): the report is held, not streamed"
    );
    assert!(
        more_kib < more_words as i64,
        "192 more processes: {more_kib} KiB more peak memory ({small_kib} KiB for 16, \
         {large_kib} KiB for 208), {more_words} KiB more pagemap words: every page's word \
         is kept for every process"
    );
}

/// `solab elf` on a FIFO, a directory or a device returns at once naming what it found.
#[test]
fn elf_refuses_what_is_not_a_regular_file() {
    let a = artifacts();
    let dir = temp_dir("not-regular");
    let fifo = dir.0.join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo")
            .success()
    );
    for (path, word) in [
        (fifo.as_path(), "a FIFO"),
        (dir.0.as_path(), "a directory"),
        (Path::new("/dev/null"), "a character device"),
    ] {
        let out = Command::new("timeout")
            .arg("10")
            .arg(&a.solab)
            .arg("elf")
            .arg(path)
            .output()
            .expect("run solab elf");
        assert_eq!(out.status.code(), Some(2), "{}", path.display());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(word), "{}: {err}", path.display());
        assert_eq!(err.lines().count(), 1, "the error is printed once: {err}");
    }
}

/// A process name of the 15 bytes `PR_SET_NAME` keeps: ESC ] 0 ; (an xterm title), BEL, a
/// newline and a CR.
const HOSTILE_COMM: &[u8] = b"x\x1b]0;ow\x07\n\ry";
/// The same as `ls -b` would show it.
const HOSTILE_COMM_SHOWN: &str = "x\\e]0;ow\\a\\n\\ry";
/// A library's file name with the same characters and a screen clear.
const HOSTILE_FILE: &[u8] = b"lib\x1b[2J\x1b]0;pwned\x07\n\r.so";
const HOSTILE_FILE_SHOWN: &str = "lib\\e[2J\\e]0;pwned\\a\\n\\r.so";

/// Loads the library named by argv[1], renames itself to argv[2], forks a child (killed
/// with it) and waits on stdin.
const HOSTILE_NAMES_PY: &str = r#"
import ctypes, os, sys
libc = ctypes.CDLL(None)
ctypes.CDLL(os.fsencode(sys.argv[1]))
libc.prctl(15, ctypes.c_char_p(os.fsencode(sys.argv[2])), 0, 0, 0)
pid = os.fork()
if pid == 0:
    libc.prctl(1, 9, 0, 0, 0)
    sys.stdin.read()
    os._exit(0)
print("ready child=%d" % pid, flush=True)
sys.stdin.read()
"#;

/// Control characters in what `s` printed, other than its own line breaks.
fn controls(s: &str) -> Vec<char> {
    s.chars().filter(|&c| c.is_control() && c != '\n').collect()
}

#[test]
fn names_with_terminal_escapes_are_shown_escaped_in_text_and_exact_in_json() {
    use std::os::unix::ffi::OsStrExt;
    if !crate::util::is_root() {
        crate::util::skip("running the process as uid 65534 needs root");
        return;
    }
    // A directory uid 65534 can search, for the library with the hostile name.
    let staged = crate::util::Scratch::new();
    let lib = staged.dir.join(std::ffi::OsStr::from_bytes(HOSTILE_FILE));
    std::fs::copy(artifacts().fixtures.join("libtextrel-pic.so"), &lib).expect("copy the library");
    let mut py = crate::util::as_nobody(Path::new("/usr/bin/python3"));
    py.arg("-c")
        .arg(HOSTILE_NAMES_PY)
        .arg(&lib)
        .arg(std::ffi::OsStr::from_bytes(HOSTILE_COMM));
    let host = Proc::spawn("uid 65534 with hostile names", py, "ready");
    let child = host
        .seen
        .iter()
        .find_map(|l| l.strip_prefix("ready child="))
        .expect("the child's pid")
        .to_string();
    let pid = host.pid().to_string();
    let comm = String::from_utf8(HOSTILE_COMM.to_vec()).unwrap();
    let file = lib.to_str().expect("a UTF-8 path").to_string();
    let shown_file = format!("{}/{HOSTILE_FILE_SHOWN}", staged.dir.display());
    let run = |args: &[&str]| {
        let run = crate::util::finish(
            Command::new(&artifacts().solab)
                .args(args)
                .output()
                .expect("run solab"),
        );
        assert!(
            run.code != 2,
            "solab {args:?}: exit {}\n{}",
            run.code,
            run.stderr
        );
        run
    };
    // (command, what its text must show escaped)
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (vec!["ps", &pid, &child], vec![HOSTILE_COMM_SHOWN]),
        (
            vec!["ps", "--by", "comm", &pid, &child],
            vec![HOSTILE_COMM_SHOWN],
        ),
        (vec!["libs", &pid, &child], vec![&shown_file]),
        (vec!["family", &pid], vec![HOSTILE_COMM_SHOWN]),
        (
            vec!["inspect", "--pages", "-o", "pwned", &pid, &child],
            vec![HOSTILE_COMM_SHOWN, &shown_file],
        ),
        (
            vec!["prove", "-o", "pwned", &pid, &child],
            vec![&shown_file],
        ),
    ];
    for (args, shown) in &cases {
        let text = run(args);
        for out in [&text.stdout, &text.stderr] {
            assert_eq!(
                controls(out),
                Vec::<char>::new(),
                "solab {args:?} printed control characters:\n{out}"
            );
        }
        for s in shown {
            assert!(
                text.stdout.contains(s),
                "solab {args:?} does not show {s:?}:\n{}",
                text.stdout
            );
        }
    }
    // JSON keeps the names exact.
    let ps = run(&["ps", "--json", &pid]).json();
    assert_eq!(ps["processes"][0]["comm"], comm.as_str(), "{ps}");
    let libs = run(&["libs", "--json", &pid]).json();
    let paths: Vec<&str> = libs["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .filter_map(|o| o["path"].as_str())
        .collect();
    assert!(paths.contains(&file.as_str()), "{paths:?}");
    let inspect = run(&["inspect", "--json", "-o", "pwned", &pid]).json();
    assert_eq!(inspect["objects"][0]["path"], file.as_str(), "{inspect}");
    assert_eq!(inspect["processes"][0]["comm"], comm.as_str(), "{inspect}");
}

/// `inspect` of a process whose map reads but whose smaps does not: in a mount namespace
/// of its own, root's solab finds another file mounted over the process's
/// `/proc/PID/smaps` (a write-only sysfs file, which even root may not open; the
/// process's `mem`, whose read at offset 0 fails; an empty file). The figures smaps gives
/// stay null, and a `skipped` entry naming `/proc/PID/smaps` says why, in the text and in
/// the JSON; the run still exits 0. Deterministic: no race with the process.
#[test]
fn inspect_says_why_when_smaps_is_not_read() {
    if !crate::util::is_root() {
        crate::util::skip("needs root: a mount over /proc/PID/smaps in a mount namespace");
        return;
    }
    if Command::new("unshare").arg("--version").output().is_err() {
        crate::util::skip("needs unshare (util-linux)");
        return;
    }
    let mut cmd = crate::util::as_nobody(Path::new("/bin/sleep"));
    cmd.arg("60");
    let victim = Proc::spawn("sleep as 65534", cmd, "");
    let pid = victim.pid();
    let smaps = format!("/proc/{pid}/smaps");
    let mem = format!("/proc/{pid}/mem");
    let refused = "/sys/bus/platform/drivers_probe";
    let mut cases = vec![
        (mem.as_str(), "Input/output error"),
        ("/dev/null", "did not show"),
    ];
    if Path::new(refused).exists() {
        cases.push((refused, "permission denied"));
    } else {
        eprintln!("hostile: {refused} missing: the refused case is not tried");
    }
    for (over, says) in cases {
        let run = |json: &str| {
            let script =
                format!("mount --bind {over} {smaps} && exec \"$0\" inspect {pid} {json}",);
            let out = Command::new("unshare")
                .args(["-m", "--propagation", "private", "sh", "-c", &script])
                .arg(&artifacts().solab)
                .stdin(Stdio::null())
                .output()
                .expect("run unshare");
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            assert_eq!(out.status.code(), Some(0), "{over}: {text}\n{err}");
            text
        };
        let text = run("");
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("skipped: pid {pid} {smaps}: ")))
            .unwrap_or_else(|| panic!("{over}: no skipped line for {smaps}:\n{text}"));
        assert!(
            line.contains(says) && line.contains("figures") && line.contains("null"),
            "{over}: {line}"
        );
        // The reason does not repeat the path.
        assert_eq!(line.matches(&smaps).count(), 1, "{over}: {line}");
        let v: serde_json::Value = serde_json::from_str(&run("--json")).expect("JSON");
        let entry = v["skipped"]
            .as_array()
            .expect("skipped")
            .iter()
            .find(|s| s["path"] == smaps.as_str())
            .unwrap_or_else(|| panic!("{over}: no skipped entry for {smaps}: {v}"));
        assert_eq!(entry["pid"], pid, "{over}");
        assert!(
            entry["reason"].as_str().is_some_and(|r| r.contains(says)),
            "{over}: {entry}"
        );
        let objects = v["objects"].to_string();
        assert!(
            objects.contains("\"rss\":null") && !objects.contains("\"rss\":0,"),
            "{over}: figures not null"
        );
        eprintln!("hostile: smaps over by {over}: {line}");
    }
}
