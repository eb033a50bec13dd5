//! `solab exporter`: one exposition on stdout (`--once`), into a file written atomically
//! (`--output`), or on `/metrics` over HTTP (`--listen`).
//!
//! The HTTP side is std's `TcpListener` and `httparse` (the request line and headers
//! parsed, nothing else), because what a scraper on another host may do is bounded here,
//! not by a framework's defaults:
//! - one thread accepts and never reads: it hands each connection to a queue of
//!   [`QUEUE`] for [`WORKERS`] threads, and closes it at once when the queue is full, so
//!   the open descriptors are at most `WORKERS + QUEUE` plus the listener;
//! - a worker gives a request [`REQUEST_TIME`] in all to arrive (however slowly it
//!   trickles) and [`REQUEST_MAX`] bytes, then answers once and closes (`Connection:
//!   close`); writing has [`WRITE_TIME`] per write;
//! - one scan serves every scrape within `--min-interval` of it: the reading sits behind a
//!   mutex that a scan holds while it runs, so a scrape that comes meanwhile waits for that
//!   scan instead of starting its own.

use super::args::ExporterArgs;
use super::{ExitCode, Outcome, Stdout};
use crate::commands::exporter::{self, ExporterOptions};
use crate::error::Error;
use crate::output::prometheus::{self, OPENMETRICS_TYPE, TEXT_TYPE};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// Where `--listen` listens when not told: loopback only, so that a machine's process
/// names and paths are not offered to its network unless asked; the port is in the
/// range the Prometheus project keeps for exporters (9100-9999).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9877";
/// Threads answering requests.
pub const WORKERS: usize = 8;
/// Connections accepted and waiting for a worker; more are closed at once.
pub const QUEUE: usize = 16;
/// How long a request may take to arrive, in all.
pub const REQUEST_TIME: Duration = Duration::from_secs(5);
/// The longest request read (the request line and headers; a body is not read).
pub const REQUEST_MAX: usize = 8192;
/// How long one write of the answer may block.
pub const WRITE_TIME: Duration = Duration::from_secs(10);

pub(super) fn exporter_cmd(a: &ExporterArgs, stdout: &mut Stdout) -> anyhow::Result<Outcome> {
    let opts = ExporterOptions {
        by: a.by.into(),
        groups: a.groups,
        libs: a.libs,
        families: a.families.clone(),
        threads: a.scan.threads,
    };
    if a.once {
        let text = prometheus::render(&exporter::read(&opts)?, false);
        return Ok(Outcome::ok(text, ExitCode::Ok));
    }
    if let Some(path) = &a.output {
        let text = prometheus::render(&exporter::read(&opts)?, false);
        write_atomically(path, text.as_bytes()).map_err(|e| Error::io(path, e))?;
        return Ok(Outcome::ok(String::new(), ExitCode::Ok));
    }
    let addr = a.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
    let listener = TcpListener::bind(addr)
        .map_err(|e| Error::Usage(format!("--listen {addr}: cannot listen: {e}")))?;
    stdout.print(&format!(
        "solab exporter: serving http://{}/metrics\n",
        listener
            .local_addr()
            .map_or(addr.to_string(), |a| a.to_string())
    ));
    serve(listener, opts, Duration::from_secs(a.min_interval))
}

/// Writes `bytes` to a new file beside `path`, syncs it, renames it over `path` and syncs
/// the directory: a reader sees the old file or the new one, never part of one. The new
/// file's name (`.NAME.tmp.PID`) does not end in `.prom`, so node_exporter's textfile
/// collector does not read it meanwhile.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("no file name"))?;
    let tmp = dir.join(format!(
        ".{}.tmp.{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// The last reading, rendered both ways, and when its scan began.
struct Cached {
    at: Instant,
    text: Arc<String>,
    openmetrics: Arc<String>,
}

/// Readings shared by the workers: one scan at a time, its result reused for
/// `min_interval`.
struct Readings {
    opts: ExporterOptions,
    min_interval: Duration,
    last: Mutex<Option<Cached>>,
}

impl Readings {
    /// The exposition for a scrape: the last one if its scan began within `min_interval`,
    /// else a new scan's (made while holding the lock, so that concurrent scrapes wait for
    /// it). A failed scan is not kept: the next scrape tries again.
    fn get(&self, openmetrics: bool) -> Result<Arc<String>, String> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let fresh = last
            .as_ref()
            .is_some_and(|c| c.at.elapsed() < self.min_interval);
        if !fresh {
            let at = Instant::now();
            let reading = exporter::read(&self.opts).map_err(|e| e.to_string())?;
            *last = Some(Cached {
                at,
                text: Arc::new(prometheus::render(&reading, false)),
                openmetrics: Arc::new(prometheus::render(&reading, true)),
            });
            drop(reading);
            // A scan's buffers are freed on whichever worker ran it; glibc keeps them in that
            // thread's arena unless asked: without this the resident memory between scans
            // grows to several scans' peaks (one per arena) instead of staying at one.
            #[cfg(target_env = "gnu")]
            // SAFETY: malloc_trim only returns free memory to the kernel.
            unsafe {
                libc::malloc_trim(0);
            }
        }
        let c = last.as_ref().expect("a reading was just made");
        Ok(if openmetrics {
            c.openmetrics.clone()
        } else {
            c.text.clone()
        })
    }
}

/// Accepts connections until the listener fails for good; never returns otherwise.
fn serve(
    listener: TcpListener,
    opts: ExporterOptions,
    min_interval: Duration,
) -> anyhow::Result<Outcome> {
    let readings = Arc::new(Readings {
        opts,
        min_interval,
        last: Mutex::new(None),
    });
    let (tx, rx) = mpsc::sync_channel::<TcpStream>(QUEUE);
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..WORKERS {
        let rx = rx.clone();
        let readings = readings.clone();
        std::thread::Builder::new()
            .name(format!("solab-http-{i}"))
            .spawn(move || {
                loop {
                    // The lock is held only while waiting for the next connection.
                    let next = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    match next {
                        Ok(stream) => answer(stream, &readings),
                        Err(_) => return,
                    }
                }
            })
            .map_err(|e| anyhow::anyhow!("cannot start a worker thread: {e}"))?;
    }
    for conn in listener.incoming() {
        match conn {
            // A full queue closes the connection (dropped here): the scraper retries.
            Ok(stream) => drop(tx.try_send(stream)),
            // Out of descriptors, or the connection was reset before it was accepted:
            // wait a little rather than spin.
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    Err(anyhow::anyhow!("the listening socket closed"))
}

/// The request's method, path and whether it asks for OpenMetrics; `None` when it did not
/// arrive whole within [`REQUEST_TIME`] and [`REQUEST_MAX`] bytes, or is not HTTP.
fn read_request(stream: &mut TcpStream) -> Option<(String, String, bool)> {
    let deadline = Instant::now() + REQUEST_TIME;
    let mut buf = vec![0u8; REQUEST_MAX];
    let mut len = 0;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .ok()?;
        let n = stream.read(&mut buf[len..]).ok()?;
        if n == 0 {
            return None;
        }
        len += n;
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf[..len]) {
            Ok(httparse::Status::Complete(_)) => {
                let openmetrics = req.headers.iter().any(|h| {
                    h.name.eq_ignore_ascii_case("accept")
                        && String::from_utf8_lossy(h.value).contains("application/openmetrics-text")
                });
                return Some((req.method?.to_string(), req.path?.to_string(), openmetrics));
            }
            Ok(httparse::Status::Partial) if len < buf.len() => continue,
            _ => return None,
        }
    }
}

/// Answers one request on `stream` and closes it.
fn answer(mut stream: TcpStream, readings: &Readings) {
    let _ = stream.set_write_timeout(Some(WRITE_TIME));
    let Some((method, path, openmetrics)) = read_request(&mut stream) else {
        let _ = respond(
            &mut stream,
            "400 Bad Request",
            TEXT_TYPE,
            "bad request\n",
            true,
        );
        return;
    };
    let head = method == "HEAD";
    if method != "GET" && !head {
        let _ = respond(
            &mut stream,
            "405 Method Not Allowed",
            TEXT_TYPE,
            "GET only\n",
            true,
        );
        return;
    }
    let _ = match path.split('?').next() {
        Some("/metrics") => match readings.get(openmetrics) {
            Ok(body) => {
                let kind = if openmetrics {
                    OPENMETRICS_TYPE
                } else {
                    TEXT_TYPE
                };
                respond(&mut stream, "200 OK", kind, &body, !head)
            }
            Err(e) => respond(
                &mut stream,
                "500 Internal Server Error",
                TEXT_TYPE,
                &format!("solab exporter: {e}\n"),
                !head,
            ),
        },
        Some("/") => respond(
            &mut stream,
            "200 OK",
            "text/html; charset=utf-8",
            "<html><head><title>solab exporter</title></head><body>\
             <a href=\"/metrics\">/metrics</a></body></html>\n",
            !head,
        ),
        _ => respond(
            &mut stream,
            "404 Not Found",
            TEXT_TYPE,
            "not found\n",
            !head,
        ),
    };
}

fn respond(
    stream: &mut TcpStream,
    status: &str,
    kind: &str,
    body: &str,
    with_body: bool,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    if with_body {
        stream.write_all(body.as_bytes())?;
    }
    stream.flush()
}
