//! `--listen`'s HTTP side: std's sockets, `poll(2)` and `httparse` (the request line and
//! headers parsed, nothing else), because what a scraper on another host may do is bounded
//! here, not by a framework's defaults:
//! - one thread accepts and reads every connection without blocking (`poll`): a
//!   connection that sends nothing, or trickles, costs one descriptor and a place among
//!   [`CONNECTIONS`], never a worker. At [`CONNECTIONS`] a new connection closes the one
//!   that has waited longest; a request has [`REQUEST_TIME`] in all to arrive and
//!   [`REQUEST_MAX`] bytes;
//! - a request read whole goes to a queue of [`QUEUE`] for [`WORKERS`] threads, which
//!   answer once and close (`Connection: close`); writing has [`WRITE_TIME`] per write;
//!   a full queue is answered `503` at once.
//!
//! So the open descriptors are at most `CONNECTIONS + QUEUE + WORKERS` plus the listener
//! (and the scan's own), whatever the clients do.

use super::Readings;
use crate::output::prometheus::{OPENMETRICS_TYPE, TEXT_TYPE};
use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// Threads answering requests.
pub const WORKERS: usize = 8;
/// Requests read whole and waiting for a worker; more are answered `503`.
pub const QUEUE: usize = 16;
/// Connections being read at once; one more closes the one that has waited longest.
pub const CONNECTIONS: usize = 128;
/// How long a request may take to arrive, in all.
pub const REQUEST_TIME: Duration = Duration::from_secs(5);
/// The longest request read (the request line and headers; a body is not read).
pub const REQUEST_MAX: usize = 8192;
/// How long one write of the answer may block.
pub const WRITE_TIME: Duration = Duration::from_secs(10);

/// A request read whole.
struct Request {
    method: String,
    path: String,
    openmetrics: bool,
    /// When its last byte came.
    at: Instant,
}

/// A connection whose request is still arriving.
struct Reading {
    stream: TcpStream,
    deadline: Instant,
    buf: Vec<u8>,
}

/// What the bytes read so far are.
enum Parsed {
    Partial,
    Whole(Request),
    Bad,
}

fn parse(buf: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(_)) => {
            let openmetrics = req.headers.iter().any(|h| {
                h.name.eq_ignore_ascii_case("accept")
                    && String::from_utf8_lossy(h.value).contains("application/openmetrics-text")
            });
            match (req.method, req.path) {
                (Some(m), Some(p)) => Parsed::Whole(Request {
                    method: m.to_string(),
                    path: p.to_string(),
                    openmetrics,
                    at: Instant::now(),
                }),
                _ => Parsed::Bad,
            }
        }
        Ok(httparse::Status::Partial) if buf.len() < REQUEST_MAX => Parsed::Partial,
        _ => Parsed::Bad,
    }
}

/// Starts the workers, then accepts and reads connections until the listener fails for
/// good; never returns otherwise.
pub(super) fn serve(listener: TcpListener, readings: Arc<Readings>) -> anyhow::Result<()> {
    listener.set_nonblocking(true)?;
    let (tx, rx) = mpsc::sync_channel::<(TcpStream, Request)>(QUEUE);
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..WORKERS {
        let rx = rx.clone();
        let readings = readings.clone();
        std::thread::Builder::new()
            .name(format!("solab-http-{i}"))
            .spawn(move || {
                loop {
                    // The lock is held only while waiting for the next request.
                    let next = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    match next {
                        Ok((stream, req)) => answer(stream, &req, &readings),
                        Err(_) => return,
                    }
                }
            })
            .map_err(|e| anyhow::anyhow!("cannot start a worker thread: {e}"))?;
    }
    let mut reading: VecDeque<Reading> = VecDeque::new();
    loop {
        wait(&listener, &reading)?;
        let now = Instant::now();
        // Each connection that is ready is read; a whole request goes to the workers.
        reading.retain_mut(|r| {
            if r.deadline <= now {
                return false;
            }
            match read_some(r) {
                Some(Parsed::Partial) => true,
                Some(Parsed::Whole(req)) => {
                    dispatch(&tx, &r.stream, req);
                    false
                }
                Some(Parsed::Bad) => {
                    let _ = respond(
                        &r.stream,
                        "400 Bad Request",
                        TEXT_TYPE,
                        "bad request\n",
                        true,
                    );
                    false
                }
                None => false,
            }
        });
        accept(&listener, &mut reading)?;
    }
}

/// Waits until the listener or a connection is ready, or the first deadline passes.
fn wait(listener: &TcpListener, reading: &VecDeque<Reading>) -> anyhow::Result<()> {
    let mut fds: Vec<libc::pollfd> = std::iter::once(listener.as_raw_fd())
        .chain(reading.iter().map(|r| r.stream.as_raw_fd()))
        .map(|fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let now = Instant::now();
    let timeout = reading
        .iter()
        .map(|r| r.deadline.saturating_duration_since(now))
        .min()
        .map_or(-1, |d| d.as_millis().min(60_000) as libc::c_int + 1);
    // SAFETY: `fds` is a valid array of `fds.len()` pollfd structures.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
    if n < 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() != ErrorKind::Interrupted {
            return Err(anyhow::anyhow!("poll: {e}"));
        }
    }
    Ok(())
}

/// Reads what `r` has without blocking: `None` when it closed or failed.
fn read_some(r: &mut Reading) -> Option<Parsed> {
    let mut chunk = [0u8; 2048];
    let room = REQUEST_MAX - r.buf.len();
    match (&r.stream).read(&mut chunk[..room.min(2048)]) {
        Ok(0) => None,
        Ok(n) => {
            r.buf.extend_from_slice(&chunk[..n]);
            Some(parse(&r.buf))
        }
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
            Some(Parsed::Partial)
        }
        Err(_) => None,
    }
}

/// Hands a whole request to the workers, or answers `503` when they are all busy and the
/// queue is full.
fn dispatch(tx: &mpsc::SyncSender<(TcpStream, Request)>, stream: &TcpStream, req: Request) {
    let Ok(stream) = stream.try_clone() else {
        return;
    };
    if stream.set_nonblocking(false).is_err() {
        return;
    }
    if let Err(mpsc::TrySendError::Full((stream, _))) = tx.try_send((stream, req)) {
        let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
        let _ = respond(
            &stream,
            "503 Service Unavailable",
            TEXT_TYPE,
            "busy\n",
            true,
        );
    }
}

/// Accepts every waiting connection; past [`CONNECTIONS`] the oldest is closed.
fn accept(listener: &TcpListener, reading: &mut VecDeque<Reading>) -> anyhow::Result<()> {
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                if stream.set_nonblocking(true).is_err() {
                    continue;
                }
                if reading.len() >= CONNECTIONS {
                    reading.pop_front();
                }
                reading.push_back(Reading {
                    stream,
                    deadline: Instant::now() + REQUEST_TIME,
                    buf: Vec::new(),
                });
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // Out of descriptors, or the connection was reset before it was accepted:
            // wait a little rather than spin.
            Err(_) => {
                std::thread::sleep(Duration::from_millis(50));
                return Ok(());
            }
        }
    }
}

/// Answers one request on `stream` and closes it.
fn answer(stream: TcpStream, req: &Request, readings: &Readings) {
    let _ = stream.set_write_timeout(Some(WRITE_TIME));
    let head = req.method == "HEAD";
    if req.method != "GET" && !head {
        let _ = respond(
            &stream,
            "405 Method Not Allowed",
            TEXT_TYPE,
            "GET only\n",
            true,
        );
        return;
    }
    let _ = match req.path.split('?').next() {
        Some("/metrics") => match readings.get(req.openmetrics, req.at) {
            Ok(body) => {
                let kind = if req.openmetrics {
                    OPENMETRICS_TYPE
                } else {
                    TEXT_TYPE
                };
                respond(&stream, "200 OK", kind, &body, !head)
            }
            Err(e) => respond(
                &stream,
                "500 Internal Server Error",
                TEXT_TYPE,
                &format!("solab exporter: {e}\n"),
                !head,
            ),
        },
        Some("/") => respond(
            &stream,
            "200 OK",
            "text/html; charset=utf-8",
            "<html><head><title>solab exporter</title></head><body>\
             <a href=\"/metrics\">/metrics</a></body></html>\n",
            !head,
        ),
        _ => respond(&stream, "404 Not Found", TEXT_TYPE, "not found\n", !head),
    };
}

fn respond(
    mut stream: &TcpStream,
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
