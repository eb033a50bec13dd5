//! A real pre-fork server: Debian's nginx-light, a master and four workers
//! forked from it, is one fork family in `solab prove`; the data its master wrote before
//! fork is inherited (copy-on-write pending), not a failure, and a worker's own writes are
//! its own frames. Two masters started separately are no family.
//!
//! Each test starts nginx with a config of its own in a temp dir (`daemon off`, so the
//! master is the test's child, in a process group of its own) and stops the whole group
//! on Drop. Skipped, with a message, when not root (frames need CAP_SYS_ADMIN) or when
//! nginx is not installed (`scripts/install-deps.sh` installs nginx-light).

use crate::util::{is_root, skip, solab};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const WORKERS: usize = 4;

/// The nginx binary, or None (the test is skipped) when it is not installed.
fn nginx_binary() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/sbin")])
        .map(|d| d.join("nginx"))
        .find(|p| p.is_file())
}

/// Why the tests here cannot run, if they cannot.
fn skip_reason() -> Option<&'static str> {
    if !is_root() {
        Some("frames need CAP_SYS_ADMIN (run as root)")
    } else if nginx_binary().is_none() {
        Some("nginx is not installed (scripts/install-deps.sh installs nginx-light)")
    } else {
        None
    }
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// The pids whose parent (field 4 of /proc/PID/stat) is `parent`.
fn children_of(parent: i32) -> Vec<i32> {
    let mut v: Vec<i32> = std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| {
                    let after = &s[s.rfind(')')? + 1..];
                    after.split_whitespace().nth(1)?.parse::<i32>().ok()
                })
                == Some(parent)
        })
        .collect();
    v.sort();
    v
}

/// One nginx master with its workers, in a temp dir of its own. Drop stops the process
/// group (SIGQUIT, then SIGKILL) and removes the dir.
struct Nginx {
    dir: PathBuf,
    child: Child,
    port: u16,
    workers: Vec<i32>,
}

impl Nginx {
    fn start(workers: usize) -> Nginx {
        let exe = nginx_binary().expect("nginx installed");
        let dir = nix::unistd::mkdtemp(&std::env::temp_dir().join("solab-nginx-XXXXXX"))
            .expect("mkdtemp");
        let port = free_port();
        let d = dir.display();
        let conf = format!(
            "daemon off;\n\
             master_process on;\n\
             worker_processes {workers};\n\
             pid {d}/nginx.pid;\n\
             error_log {d}/error.log;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n\
             \x20   access_log off;\n\
             \x20   client_body_temp_path {d}/body;\n\
             \x20   proxy_temp_path {d}/proxy;\n\
             \x20   fastcgi_temp_path {d}/fastcgi;\n\
             \x20   uwsgi_temp_path {d}/uwsgi;\n\
             \x20   scgi_temp_path {d}/scgi;\n\
             \x20   gzip on;\n\
             \x20   gzip_min_length 1;\n\
             \x20   gzip_types text/plain;\n\
             \x20   default_type text/plain;\n\
             \x20   server {{\n\
             \x20       listen 127.0.0.1:{port};\n\
             \x20       location / {{ return 200 \"hello\\n\"; }}\n\
             \x20   }}\n\
             }}\n"
        );
        std::fs::write(dir.join("nginx.conf"), conf).expect("write nginx.conf");
        let child = Command::new(&exe)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
        // From here on Drop stops it, also when waiting fails.
        let mut n = Nginx {
            dir,
            child,
            port,
            workers: Vec::new(),
        };
        n.wait_ready(workers);
        n
    }

    fn master(&self) -> i32 {
        self.child.id() as i32
    }

    /// Waits until the master has `workers` children and answers HTTP.
    fn wait_ready(&mut self, workers: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!(
                    "nginx exited ({status}) before its workers started; error.log:\n{}",
                    std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
                );
            }
            let kids = children_of(self.master());
            // Every worker asleep in its event loop (epoll_wait): each has run its start-up
            // and faulted in its text, so the pages compared are present in all of them.
            let idle = kids.iter().all(|w| {
                std::fs::read_to_string(format!("/proc/{w}/wchan"))
                    .is_ok_and(|c| c.contains("epoll"))
            });
            if kids.len() == workers && idle && self.get().is_some() {
                self.workers = kids;
                return;
            }
            assert!(
                Instant::now() < deadline,
                "nginx (pid {}) has {} of {workers} workers after 30 s; error.log:\n{}",
                self.master(),
                kids.len(),
                std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// One HTTP request; the response, or None when nginx does not answer (yet).
    fn get(&self) -> Option<String> {
        self.request("")
    }

    /// One HTTP request with `headers` (each ending in CRLF).
    fn request(&self, headers: &str) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        s.write_all(
            format!("GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{headers}\r\n")
                .as_bytes(),
        )
        .ok()?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).ok()?;
        let out = String::from_utf8_lossy(&out).into_owned();
        out.starts_with("HTTP/1.1 200").then_some(out)
    }

    /// The master, then the workers, as arguments.
    fn pids(&self) -> Vec<String> {
        std::iter::once(self.master())
            .chain(self.workers.iter().copied())
            .map(|p| p.to_string())
            .collect()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let group = Pid::from_raw(self.master());
        // SIGQUIT: a graceful stop, the master waits for its workers.
        let _ = kill(group, Signal::SIGQUIT);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Whatever is left of the group (workers of a master that did not stop in time).
        let _ = killpg(group, Signal::SIGKILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `solab prove --json -o OBJECT PIDS...`: exit 0 and the report.
fn prove(object: &str, pids: &[String]) -> Value {
    let mut args = vec!["prove", "--json", "-o", object];
    args.extend(pids.iter().map(String::as_str));
    let run = solab(&args);
    let proof = run.json();
    assert_eq!(
        run.code, 0,
        "prove -o {object} {pids:?}: {proof:#}\n{}",
        run.stderr
    );
    proof
}

fn claim<'a>(proof: &'a Value, id: &str) -> &'a Value {
    proof["claims"]
        .as_array()
        .expect("claims")
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no claim {id} in {proof:#}"))
}

fn sorted(v: &Value) -> Vec<i64> {
    let mut p: Vec<i64> = v
        .as_array()
        .expect("an array of pids")
        .iter()
        .filter_map(Value::as_i64)
        .collect();
    p.sort();
    p
}

fn nums(pids: &[String]) -> Vec<i64> {
    let mut v: Vec<i64> = pids.iter().map(|p| p.parse().expect("pid")).collect();
    v.sort();
    v
}

#[test]
fn nginx_master_and_workers_are_one_fork_family_that_inherits_data() {
    if let Some(why) = skip_reason() {
        return skip(why);
    }
    let nginx = Nginx::start(WORKERS);
    // A few requests, then one compressed response: the one worker that makes it calls
    // zlib for the first time and writes a page of libz.so that the master and the other
    // workers still share.
    for _ in 0..4 {
        assert!(nginx.get().is_some(), "nginx stopped answering");
    }
    let gz = nginx
        .request("Accept-Encoding: gzip\r\n")
        .expect("a gzip response");
    assert!(
        gz.contains("Content-Encoding: gzip"),
        "not compressed: {gz:?}"
    );
    let pids = nginx.pids();
    assert_eq!(pids.len(), WORKERS + 1);

    for object in ["nginx", "libc.so.6"] {
        let proof = prove(object, &pids);
        assert_eq!(proof["holds"], true, "{object}: {proof:#}");
        assert_eq!(proof["conclusive"], true, "{object}: {proof:#}");
        let families = proof["families"].as_array().expect("families");
        assert_eq!(
            families.len(),
            1,
            "{object}: one fork family: {families:#?}"
        );
        assert_eq!(families[0]["root"], nginx.master(), "{families:#?}");
        assert_eq!(sorted(&families[0]["pids"]), nums(&pids), "{families:#?}");
        assert_eq!(claim(&proof, "text-shared")["status"], "holds");
        let data = claim(&proof, "data-private");
        assert_eq!(data["status"], "holds", "{object}: {data:#}");
        assert!(
            data["counts"]["inherited"].as_u64() > Some(0),
            "{object}: nothing inherited through fork: {data:#}"
        );
        assert!(
            data["counts"]["written_private"].as_u64() > Some(0),
            "{object}: no page any process wrote for itself: {data:#}"
        );
    }

    // A worker's own write: a data page where one worker has its own copy while others
    // still share the frame they inherited.
    let mut args = vec!["inspect", "--json"];
    args.extend(pids.iter().map(String::as_str));
    let run = solab(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    let pages: Vec<&Value> = report["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .flat_map(|o| o["pages"].as_array().expect("pages"))
        .collect();
    let state = |page: &Value, pid: &str| -> String {
        page["procs"]
            .as_array()
            .expect("procs")
            .iter()
            .find(|q| q["pid"].as_i64() == pid.parse::<i64>().ok())
            .and_then(|q| q["state"].as_str())
            .unwrap_or_else(|| panic!("pid {pid} not in {page}"))
            .to_string()
    };
    let own_write = pages
        .iter()
        .filter(|p| p["segment"] == "data" || p["segment"] == "bss")
        .find(|p| {
            let states: Vec<String> = pids.iter().map(|pid| state(p, pid)).collect();
            states[1..].iter().any(|s| s == "anon-exclusive")
                && states.iter().filter(|s| *s == "anon-cow").count() >= 2
        });
    assert!(
        own_write.is_some(),
        "no data page where a worker has its own copy and others share one: {:#}",
        serde_json::json!(
            pages
                .iter()
                .filter(|p| p["segment"] == "data" || p["segment"] == "bss")
                .collect::<Vec<_>>()
        )
    );
}

#[test]
fn two_nginx_masters_started_separately_are_no_family() {
    if let Some(why) = skip_reason() {
        return skip(why);
    }
    let (a, b) = (Nginx::start(1), Nginx::start(1));
    let masters = vec![a.master().to_string(), b.master().to_string()];
    let proof = prove("nginx", &masters);
    assert_eq!(
        proof["families"],
        serde_json::json!([]),
        "same program, started separately: {proof:#}"
    );
    assert_eq!(proof["holds"], true, "{proof:#}");
    // With a worker of each: two families, none across the two servers.
    let mixed: Vec<String> = a.pids().into_iter().chain(b.pids()).collect();
    let proof = prove("nginx", &mixed);
    let mut families: Vec<Vec<i64>> = proof["families"]
        .as_array()
        .expect("families")
        .iter()
        .map(|f| sorted(&f["pids"]))
        .collect();
    families.sort();
    let mut want = vec![nums(&a.pids()), nums(&b.pids())];
    want.sort();
    assert_eq!(families, want, "{proof:#}");
}
