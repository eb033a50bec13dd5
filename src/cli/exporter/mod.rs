//! `solab exporter`: one exposition on stdout (`--once`), into a file written atomically
//! (`--output`), or on `/metrics` over HTTP (`--listen`, [`http`]).
//!
//! One scan serves every scrape within `--min-interval` of its start, and every scrape that
//! came while it ran: the reading sits behind a mutex that a scan holds while it runs, so a
//! scrape that comes meanwhile waits for that scan instead of starting its own.

mod http;
mod privileges;

use super::args::ExporterArgs;
use super::{ExitCode, Outcome, Stdout};
use crate::commands::exporter::{self, ExporterOptions};
use crate::error::Error;
use crate::output::prometheus;
use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where `--listen` listens when not told: loopback only, so that a machine's process
/// names and paths are not offered to its network unless asked; the port is in the
/// range the Prometheus project keeps for exporters (9100-9999).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9877";
pub(super) fn exporter_cmd(a: &ExporterArgs, stdout: &mut Stdout) -> anyhow::Result<Outcome> {
    let opts = ExporterOptions {
        by: a.by.into(),
        groups: a.groups,
        libs: a.libs,
        families: a.families.clone(),
        find_families: a.find_families,
        threads: a.scan.threads,
        deadline: Duration::from_secs_f64(a.deadline),
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
    let kept = privileges::drop_to(a.user.as_deref()).map_err(Error::Usage)?;
    stdout.print(&format!(
        "solab exporter: serving http://{}/metrics\nsolab exporter: uid {}, keeping {kept}\n",
        listener
            .local_addr()
            .map_or(addr.to_string(), |a| a.to_string()),
        nix::unistd::geteuid()
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

/// The last reading, rendered both ways, and when its scan began and ended.
struct Cached {
    began: Instant,
    ended: Instant,
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
    /// The exposition for a scrape asked at `asked`: the last one if its scan began within
    /// `min_interval` or ended after `asked` (it ran when the scrape came), else a new
    /// scan's (made while holding the lock, so that the scrapes that come meanwhile wait
    /// for it). A failed scan is not kept: the next scrape tries again.
    fn get(&self, openmetrics: bool, asked: Instant) -> Result<Arc<String>, String> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let fresh = last
            .as_ref()
            .is_some_and(|c| c.began.elapsed() < self.min_interval || c.ended >= asked);
        if !fresh {
            let began = Instant::now();
            let reading = exporter::read(&self.opts).map_err(|e| e.to_string())?;
            *last = Some(Cached {
                began,
                ended: Instant::now(),
                text: Arc::new(prometheus::render(&reading, false)),
                openmetrics: Arc::new(prometheus::render(&reading, true)),
            });
            drop(reading);
            // A scan's buffers are freed on whichever worker ran it, in that thread's arena:
            // the free pages between live blocks are given back here (the arenas' tops by
            // the fixed trim threshold, see `fixed_malloc_thresholds`).
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

/// Serves `/metrics` until the listener fails for good; never returns otherwise.
fn serve(
    listener: TcpListener,
    opts: ExporterOptions,
    min_interval: Duration,
) -> anyhow::Result<Outcome> {
    fixed_malloc_thresholds();
    let readings = Arc::new(Readings {
        opts,
        min_interval,
        last: Mutex::new(None),
    });
    http::serve(listener, readings)?;
    Err(anyhow::anyhow!("the listening socket closed"))
}

/// The allocator's thresholds fixed at [`MALLOC_THRESHOLD`]: glibc raises its own after
/// each large free (up to 32 MiB to map, 64 MiB to trim), so that every thread's arena
/// kept the top of a scan's peak resident, and `malloc_trim` does not trim an arena's top:
/// 10 arenas of 24-29 MiB each after 15 scrapes (276 MiB), against 13-15 MiB with the
/// thresholds fixed.
fn fixed_malloc_thresholds() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only changes the allocator's parameters; called before any thread of
    // the exporter starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MALLOC_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, MALLOC_THRESHOLD);
    }
}

/// Allocations from this size up are mapped apart (and unmapped when freed); free memory
/// beyond it at the top of an arena is given back.
const MALLOC_THRESHOLD: libc::c_int = 1 << 20;
