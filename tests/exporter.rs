//! `solab exporter`: its exposition checked by promtool (Debian's prometheus package), with
//! hostile names; its HTTP side (OpenMetrics on request, idle connections); and a real
//! Prometheus server scraping it, whose stored values are compared with `solab ps --json`
//! and `solab family --json` of the same frozen processes.

use crate::util::{Compiled, Frozen, KillOnDrop, Proc, Scratch, finish, skip};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn solab_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_solab"))
}

fn solab(args: &[&str]) -> crate::util::Run {
    finish(
        Command::new(solab_bin())
            .args(args)
            .output()
            .expect("run solab"),
    )
}

fn promtool() -> Option<&'static str> {
    ["/usr/bin/promtool", "/usr/local/bin/promtool"]
        .into_iter()
        .find(|p| Path::new(p).exists())
}

/// promtool's verdict on an exposition: `Err` with what it said.
fn promtool_check(exposition: &[u8]) -> Result<(), String> {
    let tool = promtool().expect("promtool");
    let mut child = Command::new(tool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(exposition)
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool");
    // promtool exits 1 on a parse error, 3 on lint problems only (none expected either).
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "promtool: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The value of the sample whose name and labels are `series` exactly, as written.
fn sample(exposition: &str, series: &str) -> Option<f64> {
    exposition
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// A library file name with a quote, a newline and a backslash, long enough to be cut.
const HOSTILE_LIB: &str = "lib\"q\nb\\";
/// A command name that is not UTF-8, with a quote.
const HOSTILE_COMM: &[u8] = b"bad\xff\xfe\"q";

/// Loads the library argv[1], renames itself to argv[2], says so, waits on stdin.
const LOAD_AND_RENAME_PY: &str = r#"
import ctypes, os, sys
libc = ctypes.CDLL(None)
ctypes.CDLL(os.fsencode(sys.argv[1]))
libc.prctl(15, ctypes.c_char_p(os.fsencode(sys.argv[2])), 0, 0, 0)
print("ready", flush=True)
sys.stdin.read()
"#;

#[test]
fn once_is_valid_exposition_with_hostile_names() {
    use std::os::unix::ffi::OsStrExt;
    if promtool().is_none() {
        return skip("promtool is not installed (scripts/install-deps.sh installs it)");
    }
    let lib = Compiled::from_source(
        "hostile",
        "int solab_exporter_fixture(void) { return 7; }\n",
        &["-shared", "-fPIC"],
        &[],
    );
    let scratch = Scratch::new();
    let name = format!("{HOSTILE_LIB}{}.so", "x".repeat(180));
    let path = scratch.dir.join(&name);
    std::fs::copy(&lib.path, &path).expect("copy the library");
    let mut py = Command::new("python3");
    py.arg("-c")
        .arg(LOAD_AND_RENAME_PY)
        .arg(&path)
        .arg(std::ffi::OsStr::from_bytes(HOSTILE_COMM));
    let host = Proc::spawn("python3 with hostile names", py, "ready");
    let run = Command::new(solab_bin())
        .args([
            "exporter",
            "--once",
            "--by",
            "comm",
            "--groups",
            "100000",
            "--libs",
            "100000",
            "--deadline",
            "600",
        ])
        .output()
        .expect("run solab exporter");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let text = String::from_utf8(run.stdout.clone()).expect("the exposition is UTF-8");
    promtool_check(&run.stdout).unwrap_or_else(|e| panic!("{e}\n{text}"));
    // The path's quote, newline and backslash escaped, the label cut to 128 bytes.
    let escaped = format!("{}", scratch.dir.display()) + "/lib\\\"q\\nb\\\\";
    let line = text
        .lines()
        .find(|l| l.starts_with("solab_object_resident_bytes{") && l.contains(&escaped))
        .unwrap_or_else(|| panic!("no object label with {escaped:?}:\n{text}"));
    let value = line
        .split_once("object=\"")
        .and_then(|(_, r)| r.rsplit_once("\"}"))
        .map(|(v, _)| {
            v.replace("\\\\", "\\")
                .replace("\\\"", "\"")
                .replace("\\n", "\n")
        })
        .expect("the object label");
    assert!(value.len() <= 128, "{} bytes: {value:?}", value.len());
    assert!(value.contains('…'), "the cut is marked: {value:?}");
    // The command name, not UTF-8, as the text output shows it (each byte that is not part
    // of a UTF-8 character as \xNN), then escaped as the exposition format asks.
    let mut comm = String::new();
    for chunk in HOSTILE_COMM.utf8_chunks() {
        comm.push_str(chunk.valid());
        for b in chunk.invalid() {
            comm.push_str(&format!("\\x{b:02x}"));
        }
    }
    let shown = comm.replace('\\', "\\\\").replace('"', "\\\"");
    assert!(
        text.contains(&format!("group=\"{shown}\"}}")),
        "no group {shown:?} for the hostile command name:\n{text}"
    );
    drop(host);
}

/// Sends one GET of `path` with `accept` and returns the status line, headers and body.
fn get(addr: &str, path: &str, accept: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).expect("connect to the exporter");
    s.set_read_timeout(Some(Duration::from_secs(120)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read the answer");
    let (head, body) = out.split_once("\r\n\r\n").expect("an HTTP answer");
    (head.to_string(), body.to_string())
}

/// A running `solab exporter --listen 127.0.0.1:0 ARGS` and the address it serves; killed
/// when dropped (its [`Proc`]).
struct Exporter {
    proc: Proc,
    addr: String,
}

impl Exporter {
    fn start(args: &[&str]) -> Exporter {
        let mut cmd = Command::new(solab_bin());
        cmd.args(["exporter", "--listen", "127.0.0.1:0"]).args(args);
        let mut proc = Proc::spawn("solab exporter", cmd, "");
        let line = proc.expect("serving http://");
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|r| r.strip_suffix("/metrics"))
            .expect("the address")
            .to_string();
        Exporter { proc, addr }
    }

    fn pid(&self) -> i32 {
        self.proc.pid()
    }

    /// One scrape of `/metrics` as `accept`: the head and the body.
    fn scrape(&self, accept: &str) -> (String, String) {
        get(&self.addr, "/metrics", accept)
    }
}

/// [`FAMILY_PY`] renamed `comm`: the parent and its two children, frozen while the test
/// reads them, all killed when dropped.
struct ForkFamily {
    // Dropped in this order, as the fixture's guards always were: thawed, the children
    // killed, then the parent.
    _frozen: Frozen,
    _kill: KillOnDrop,
    kids: Vec<i32>,
    parent: Proc,
}

impl ForkFamily {
    fn start(comm: &str) -> ForkFamily {
        let mut py = Command::new("python3");
        py.arg("-c").arg(FAMILY_PY).arg(comm);
        let parent = Proc::spawn("a fork family", py, "ready");
        let kids: Vec<i32> = parent.seen[0]
            .split_whitespace()
            .skip(1)
            .map(|p| p.parse().expect("a pid"))
            .collect();
        let _kill = KillOnDrop(kids.clone());
        let _frozen = Frozen::new([vec![parent.pid()], kids.clone()].concat());
        ForkFamily {
            _frozen,
            _kill,
            kids,
            parent,
        }
    }

    fn root(&self) -> String {
        self.parent.pid().to_string()
    }
}

#[test]
fn listen_serves_both_formats_past_idle_connections() {
    let exporter = Exporter::start(&["--by", "user", "--libs", "3", "--min-interval", "60"]);
    let addr = exporter.addr.as_str();
    // Connections that never send a request: each holds a worker until its time is up,
    // the others wait in the queue; a scrape still gets its answer.
    let idle: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(addr).expect("connect"))
        .collect();
    let (head, om) = get(
        addr,
        "/metrics",
        "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.contains("Content-Type: application/openmetrics-text"),
        "{head}"
    );
    assert!(om.ends_with("# EOF\n"), "{om}");
    assert!(om.contains("# UNIT solab_group_rss_bytes bytes"), "{om}");
    let (head, text) = exporter.scrape("text/plain");
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4"),
        "{head}"
    );
    assert!(
        !text.contains("# EOF") && !text.contains("# UNIT"),
        "{text}"
    );
    // Within --min-interval both come from one scan: the same figures.
    let series = "solab_scan_duration_seconds{scan=\"ps\"}";
    assert_eq!(sample(&text, series), sample(&om, series), "{text}");
    if promtool().is_some() {
        promtool_check(text.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{text}"));
    } else {
        skip("promtool is not installed: the served text is not checked by it");
    }
    let (head, _) = get(addr, "/nothing", "*/*");
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    drop(idle);
}

#[test]
fn output_is_written_whole_and_nothing_else_is_left() {
    let scratch = Scratch::new();
    let file = scratch.dir.join("solab.prom");
    std::fs::write(&file, "old\n").expect("write the old file");
    let run = solab(&[
        "exporter",
        "--output",
        file.to_str().expect("path"),
        "--libs",
        "0",
        "--by",
        "user",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    let text = std::fs::read_to_string(&file).expect("read the exposition");
    assert!(text.contains("solab_group_pss_bytes{by=\"user\""), "{text}");
    let names: Vec<_> = std::fs::read_dir(&scratch.dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("solab.prom")]);
    // A directory that is not there: an error that names the file.
    let missing = scratch.dir.join("no/such/solab.prom");
    let run = solab(&[
        "exporter",
        "--output",
        missing.to_str().expect("path"),
        "--libs",
        "0",
    ]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no/such/solab.prom"), "{}", run.stderr);
}

/// A parent with 8 MiB of anonymous memory, renamed argv[1], and two children, each of
/// which wrote its first half after fork; ready when both children are.
const FAMILY_PY: &str = r#"
import ctypes, os, sys
libc = ctypes.CDLL(None)
libc.prctl(15, ctypes.c_char_p(sys.argv[1].encode()), 0, 0, 0)
size = 8 << 20
buf = bytearray(b"\x01") * size
r, w = os.pipe()
kids = []
for i in range(2):
    pid = os.fork()
    if pid == 0:
        libc.prctl(1, 9, 0, 0, 0)
        for off in range(0, size // 2, 4096):
            buf[off] = 2
        os.write(w, b"k")
        sys.stdin.read()
        os._exit(0)
    kids.append(pid)
got = 0
while got < 2:
    got += len(os.read(r, 2))
print("ready " + " ".join(map(str, kids)), flush=True)
sys.stdin.read()
"#;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// One instant query to Prometheus's HTTP API: the first result's value.
fn query(prometheus: &str, promql: &str) -> Option<f64> {
    let encoded: String = promql
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let (head, body) = get(
        prometheus,
        &format!("/api/v1/query?query={encoded}"),
        "application/json",
    );
    if !head.starts_with("HTTP/1.1 200") {
        return None;
    }
    // The body may be chunked: the JSON is between the first '{' and the last '}'.
    let json = &body[body.find('{')?..=body.rfind('}')?];
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

#[test]
fn prometheus_stores_what_ps_and_family_say() {
    if !Path::new("/usr/bin/prometheus").exists() {
        return skip("prometheus is not installed (scripts/install-deps.sh installs it)");
    }
    let comm = "solab-exp-fam";
    let family = ForkFamily::start(comm);
    let root = family.root();
    let exporter = Exporter::start(&[
        "--by",
        "comm",
        "--libs",
        "0",
        "--family",
        &root,
        "--min-interval",
        "1",
        // A deadline far off: the scan is read whole, as the test compares it with ps.
        "--deadline",
        "600",
    ]);
    let addr = &exporter.addr;
    let scratch = Scratch::new();
    let config = scratch.dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 20s\n  scrape_timeout: 20s\nscrape_configs:\n  - job_name: solab\n    static_configs:\n      - targets: ['{addr}']\n"
        ),
    )
    .expect("write prometheus.yml");
    let web = format!("127.0.0.1:{}", free_port());
    let mut cmd = Command::new("/usr/bin/prometheus");
    cmd.arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            scratch.dir.join("data").display()
        ))
        .arg(format!("--web.listen-address={web}"))
        .stderr(std::process::Stdio::null());
    let _prometheus = Proc::spawn("prometheus", cmd, "");
    let rss_q = format!("solab_group_rss_bytes{{by=\"comm\",group=\"{comm}\"}}");
    let copied_q = format!("solab_family_copied_bytes{{root_comm=\"{comm}\"}}");
    // A scan of a busy machine may take seconds: the first scrape is given 20 s, and
    // Prometheus up to 180 s to store it.
    let deadline = Instant::now() + Duration::from_secs(180);
    let (rss, copied) = loop {
        let got = TcpStream::connect(&web)
            .ok()
            .and_then(|_| Some((query(&web, &rss_q)?, query(&web, &copied_q)?)));
        if let Some(got) = got {
            break got;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus stored no {rss_q} within 120 s"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let ps = solab(&["ps", "-a", "--by", "comm", "--json"]).json();
    let group = ps["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .find(|g| g["key"] == comm)
        .expect("the family's group in ps");
    assert_eq!(rss, group["rss"].as_f64().expect("rss"), "{group}");
    let fam = solab(&["family", &root, "--json"]).json();
    let want = fam["totals"]["copied"].as_f64().expect("copied");
    assert_eq!(copied, want, "{}", fam["totals"]);
    // Each child wrote its first half (4 MiB) after fork: copied, as root.
    if crate::util::is_root() {
        assert!(copied >= 2.0 * 4.0 * 1024.0 * 1024.0, "copied {copied}");
    }
}

/// The exporter's open descriptors.
fn descriptors(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn idle_and_trickling_clients_neither_stop_a_scrape_nor_exhaust_descriptors() {
    let exporter = Exporter::start(&["--by", "user", "--libs", "0", "--min-interval", "600"]);
    let addr = exporter.addr.as_str();
    // More connections that send nothing than the exporter reads at once (128), queues (16)
    // and answers (8) together: with one worker per connection, or a queue of them, the
    // scrape below would wait for their time to run out, or be closed.
    let idle: Vec<TcpStream> = (0..300)
        .map(|_| TcpStream::connect(addr).expect("connect"))
        .collect();
    // And one that trickles its request, a byte at a time.
    let mut trickle = TcpStream::connect(addr).expect("connect");
    trickle.write_all(b"GET /met").expect("send");
    let (head, text) = exporter.scrape("text/plain");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(text.contains("solab_group_rss_bytes{by=\"user\""), "{text}");
    let open = descriptors(exporter.pid());
    assert!(
        open <= 128 + 16 + 8 + 16,
        "{open} descriptors open with 301 idle connections"
    );
    // The trickling request is given 5 s in all, however it keeps sending: then it is
    // closed unanswered (30 s here is only a bound on the wait).
    let start = Instant::now();
    trickle.set_nonblocking(true).expect("nonblocking");
    let mut probe = [0u8; 64];
    let ended = loop {
        if trickle.write_all(b"r").is_err() {
            break Vec::new();
        }
        match trickle.peek(&mut probe) {
            Ok(n) => break probe[..n].to_vec(),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => break Vec::new(),
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "a trickling request was still read after 30 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(!ended.starts_with(b"HTTP/1.1 200"), "{ended:?}");
    drop(idle);
}

#[test]
fn concurrent_scrapes_share_the_scan_in_progress() {
    // --min-interval 0: every scrape that comes after a scan ended starts a new one; the
    // ones that come while it runs get its figures.
    let exporter = Exporter::start(&["--by", "user", "--libs", "0", "--min-interval", "0"]);
    let addr = exporter.addr.as_str();
    let series = "solab_scan_duration_seconds{scan=\"ps\"}";
    let barrier = std::sync::Barrier::new(4);
    let durations: Vec<Option<f64>> = std::thread::scope(|s| {
        let scrapes: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    let (head, text) = get(addr, "/metrics", "text/plain");
                    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
                    sample(&text, series)
                })
            })
            .collect();
        scrapes
            .into_iter()
            .map(|t| t.join().expect("a scrape"))
            .collect()
    });
    assert!(durations[0].is_some(), "no {series}");
    assert!(
        durations.iter().all(|d| *d == durations[0]),
        "four concurrent scrapes, more than one scan: {durations:?}"
    );
    let (_, text) = exporter.scrape("text/plain");
    assert_ne!(
        sample(&text, series),
        durations[0],
        "a scrape after the scan ended, with --min-interval 0, got the old scan"
    );
}

/// A line of /proc/PID/status, its value.
fn status(pid: i32, key: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("status")
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
        .trim()
        .to_string()
}

#[test]
fn listen_keeps_three_capabilities_and_still_reads_frames() {
    if !crate::util::is_root() {
        return skip("not root: there are no capabilities to give up");
    }
    // A minute: the objects are read even when a busy machine's ps scan is long, and the
    // scrape is answered within get's 120 s.
    let exporter = Exporter::start(&[
        "--by",
        "user",
        "--libs",
        "2",
        "--user",
        "65534",
        "--deadline",
        "60",
    ]);
    let pid = exporter.pid();
    assert_eq!(status(pid, "Uid"), "65534\t65534\t65534\t65534");
    assert_eq!(status(pid, "Groups"), "");
    // CAP_DAC_READ_SEARCH (2), CAP_SYS_PTRACE (19), CAP_SYS_ADMIN (21); none by exec.
    let kept = format!("{:016x}", 1u64 << 2 | 1 << 19 | 1 << 21);
    for set in ["CapPrm", "CapEff", "CapBnd"] {
        assert_eq!(status(pid, set), kept, "{set}");
    }
    assert_eq!(status(pid, "CapAmb"), "0000000000000000");
    assert_eq!(status(pid, "NoNewPrivs"), "1");
    let (head, text) = exporter.scrape("text/plain");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(
        sample(&text, "solab_evidence{evidence=\"frames\"}"),
        Some(1.0),
        "{text}"
    );
    assert!(text.contains("solab_object_frames_bytes{"), "{text}");
}

#[test]
fn unprivileged_once_is_weak_and_labelled_so() {
    if !crate::util::is_root() {
        return skip("not root: cannot run solab as uid 65534");
    }
    let run = finish(
        crate::util::as_nobody(solab_bin())
            .args(["exporter", "--once", "--by", "user", "--libs", "3"])
            .output()
            .expect("run solab as uid 65534"),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = &run.stdout;
    assert_eq!(
        sample(text, "solab_evidence{evidence=\"weak\"}"),
        Some(1.0),
        "{text}"
    );
    assert!(!text.contains("evidence=\"frames\""), "{text}");
    // Frames are not guessed: no ALONE/ONLY/WITH-REST, no object frames.
    assert!(!text.contains("solab_group_alone_bytes{"), "{text}");
    assert!(!text.contains("solab_object_frames_bytes{"), "{text}");
    // Root's processes (pid 1 at least) are refused to uid 65534, and the reading says so.
    let unreadable = sample(
        text,
        "solab_scan_processes{scan=\"ps\",state=\"unreadable\"}",
    );
    assert!(unreadable.is_some_and(|n| n >= 1.0), "{text}");
    if promtool().is_some() {
        promtool_check(text.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{text}"));
    }
}

/// The value of the first sample of `metric` whose labels begin with `labels` (as written).
fn sample_starting(exposition: &str, metric: &str, labels: &str) -> Option<f64> {
    let head = format!("{metric}{{{labels}");
    exposition
        .lines()
        .find_map(|l| l.strip_prefix(&head)?.rsplit_once("} "))
        .and_then(|(_, v)| v.trim().parse().ok())
}

#[test]
fn families_are_found_without_family_and_agree_with_family_json() {
    let comm = "solab-found-fam";
    let family = ForkFamily::start(comm);
    let root = family.root();
    let base = [
        "exporter",
        "--once",
        "--by",
        "comm",
        "--libs",
        "0",
        "--groups",
        "1",
        "--deadline",
        "600",
    ];
    // Enough families that a busy machine's others do not crowd the fixture out.
    let found = solab(&[&base[..], &["--families", "64"]].concat());
    assert_eq!(found.code, 0, "{}", found.stderr);
    let text = found.stdout.clone();
    let fam = solab(&["family", &root, "--json"]).json();
    let labels = format!("root_comm=\"{comm}\",");
    assert_eq!(
        sample_starting(&text, "solab_family_members", &labels),
        Some(family.kids.len() as f64),
        "the fixture's family, found without --family:\n{text}"
    );
    for what in ["parents_frame", "copied", "new"] {
        let got = sample_starting(&text, &format!("solab_family_{what}_bytes"), &labels);
        let want = fam["totals"][what].as_f64().expect(what);
        assert_eq!(got, Some(want), "{what}: {}", fam["totals"]);
        // Each worker as family --json has it (both run the same executable: indices 0, 1
        // by pid, the order of the children in the JSON).
        let mut members: Vec<&serde_json::Value> = fam["processes"].as_array().expect("processes")
            [1..]
            .iter()
            .collect();
        members.sort_by_key(|m| m["pid"].as_i64());
        for (i, m) in members.iter().enumerate() {
            let worker = format!("{labels}root_cgroup=");
            let line = text
                .lines()
                .find(|l| {
                    l.starts_with(&format!("solab_family_worker_{what}_bytes{{{worker}"))
                        && l.contains(&format!(",comm=\"{comm}\",worker=\"{i}\"}}"))
                })
                .unwrap_or_else(|| panic!("worker {i} of {what}:\n{text}"));
            let v: f64 = line
                .rsplit_once(' ')
                .expect("a value")
                .1
                .parse()
                .expect("f64");
            assert_eq!(
                v,
                m["totals"][what].as_f64().expect(what),
                "worker {i}: {m}"
            );
        }
    }
    if crate::util::is_root() {
        // Each child wrote its first half (4 MiB) after fork: copied, as root.
        let copied = sample_starting(&text, "solab_family_copied_bytes", &labels);
        assert!(
            copied >= Some(2.0 * 4.0 * 1024.0 * 1024.0),
            "copied {copied:?}"
        );
    }
    assert!(text.contains("solab_other_families "), "{text}");
    // --families 0: no search, no family.
    let off = solab(&[&base[..], &["--families", "0"]].concat()).stdout;
    assert!(!off.contains("solab_family_"), "{off}");
    assert!(!off.contains("solab_other_families"), "{off}");
}

/// A memory map that takes seconds to read, as uid 65534: `slow-map N DIR` maps one page of
/// a file whose path is longer than PATH_MAX (17 directories of 250-byte names under DIR)
/// N times, two pages apart, prints "ready" and waits. Each of its lines of
/// /proc/PID/maps is 4 KiB of path, which the PROCMAP_QUERY ioctl refuses to give: the
/// whole text is read.
const SLOW_MAP_C: &str = r#"
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#define PG 4096UL
int main(int argc, char **argv) {
    if (argc != 3) return 2;
    unsigned long n = strtoul(argv[1], NULL, 10);
    char name[251];
    if (chdir(argv[2])) return 1;
    for (int i = 0; i < 17; i++) {
        memset(name, 'a' + i, 250);
        name[250] = 0;
        if (mkdir(name, 0755) || chdir(name)) return 1;
    }
    int fd = open("f", O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || ftruncate(fd, PG)) return 1;
    for (unsigned long i = 0; i < n; i++) {
        void *want = (void *)(0x200000000000UL + 2 * i * PG);
        if (mmap(want, PG, PROT_READ, MAP_PRIVATE | MAP_FIXED_NOREPLACE, fd, 0) != want)
            return 1;
    }
    printf("ready\n");
    fflush(stdout);
    for (;;) pause();
}
"#;

#[test]
fn a_hostile_map_does_not_hold_a_reading_past_its_deadline() {
    if !crate::util::is_root() {
        return skip("not root: the slow process runs as uid 65534 and root reads it");
    }
    // Under vm.max_map_count's default (65,530): 50,000 lines of 4 KiB, 200 MB of text
    // the kernel formats, seconds to read.
    let prog = Compiled::from_source("solab-slow-map", SLOW_MAP_C, &["-O2"], &[]);
    let scratch = Scratch::new();
    let work = scratch.writable_by_nobody("w");
    let mut cmd = crate::util::as_nobody(&prog.path);
    cmd.arg("50000").arg(&work);
    let mut slow = Proc::spawn("slow-map as uid 65534", cmd, "");
    slow.expect_within("ready", Duration::from_secs(300));
    let began = Instant::now();
    let run = solab(&[
        "exporter",
        "--once",
        "--by",
        "comm",
        "--libs",
        "0",
        "--families",
        "0",
        "--deadline",
        "0.2",
    ]);
    let wall = began.elapsed().as_secs_f64();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = &run.stdout;
    eprintln!("exporter --deadline 0.2 beside a 50,000-line map: {wall:.2} s wall");
    // Past 0.2 s the scan stops: it says so, and the slow process is not in the figures,
    // whether its map was being read then (cut, unreadable) or not yet begun (left).
    assert_eq!(
        sample(text, "solab_scan_truncated{scan=\"ps\"}"),
        Some(1.0),
        "{text}"
    );
    assert!(
        !text.contains("group=\"solab-slow-map\""),
        "the slow process was read whole within 0.2 s:\n{text}"
    );
    let state = |s: &str| {
        sample(
            text,
            &format!("solab_scan_processes{{scan=\"ps\",state=\"{s}\"}}"),
        )
    };
    let (left, unreadable) = (state("deadline"), state("unreadable"));
    assert!(
        left.is_some_and(|n| n >= 1.0) || unreadable.is_some_and(|n| n >= 1.0),
        "{text}"
    );
    if promtool().is_some() {
        promtool_check(text.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{text}"));
    }
    // A deadline far off: nothing is cut.
    let run = solab(&[
        "exporter",
        "--once",
        "--by",
        "user",
        "--libs",
        "0",
        "--families",
        "0",
        "--deadline",
        "86400",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        sample(&run.stdout, "solab_scan_truncated{scan=\"ps\"}"),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &run.stdout,
            "solab_scan_processes{scan=\"ps\",state=\"deadline\"}"
        ),
        Some(0.0)
    );
}
