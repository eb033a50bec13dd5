//! The floor `solab libs` and `solab ps` are measured against: read every /proc/PID/maps
//! and pread /proc/PID/pagemap for every mapping (in the same 64 Ki-page chunks as solab),
//! count the present pages, nothing else.
//!
//! Usage: minreader [--threads N] [PID...]
//!
//! Without PIDs every process but itself. `--threads N` (default 1) scans the processes on
//! N threads taking the next pid from a shared counter, each with its own buffer, the counts
//! summed at the end: the parallel floor. `--threads 0` is `available_parallelism`, the pool
//! size solab uses by default. Prints
//! `threads=N processes=N vmas=N read=PAGES present=PAGES`, where `read` counts the pagemap
//! words read and `present` those with bit 63 set.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicUsize, Ordering};

const CHUNK_PAGES: u64 = 1 << 16;

#[derive(Default)]
struct Counts {
    procs: u64,
    vmas: u64,
    read: u64,
    present: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.procs += o.procs;
        self.vmas += o.vmas;
        self.read += o.read;
        self.present += o.present;
    }
}

fn usage(msg: &str) -> ! {
    eprintln!("minreader: {msg}\nusage: minreader [--threads N] [PID...]");
    std::process::exit(2);
}

/// One process: its maps, then its pagemap over every mapping. A process that vanished or
/// cannot be read is skipped, as solab counts it apart.
fn scan(pid: &str, buf: &mut Vec<u8>, c: &mut Counts) {
    let Ok(maps) = std::fs::read_to_string(format!("/proc/{pid}/maps")) else {
        return;
    };
    let Ok(pagemap) = File::open(format!("/proc/{pid}/pagemap")) else {
        return;
    };
    c.procs += 1;
    for line in maps.lines() {
        if line.ends_with("[vsyscall]") {
            continue;
        }
        let Some((range, _)) = line.split_once(' ') else {
            continue;
        };
        let Some((s, e)) = range.split_once('-') else {
            continue;
        };
        let (Ok(s), Ok(e)) = (u64::from_str_radix(s, 16), u64::from_str_radix(e, 16)) else {
            continue;
        };
        c.vmas += 1;
        let (first, pages) = (s / 4096, (e - s) / 4096);
        let mut done = 0;
        while done < pages {
            let n = (pages - done).min(CHUNK_PAGES);
            buf.resize((n * 8) as usize, 0);
            if pagemap.read_exact_at(buf, (first + done) * 8).is_err() {
                break;
            }
            c.read += n;
            c.present += buf.chunks_exact(8).filter(|w| w[7] & 0x80 != 0).count() as u64;
            done += n;
        }
    }
}

fn main() {
    let mut threads = 1usize;
    let mut pids: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--threads" {
            threads = args
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| usage("--threads needs a number"));
        } else if a.bytes().all(|b| b.is_ascii_digit()) && !a.is_empty() {
            pids.push(a);
        } else {
            usage(&format!("unknown argument {a:?}"));
        }
    }
    if threads == 0 {
        threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    }
    if pids.is_empty() {
        let own = std::process::id().to_string();
        let Ok(dir) = std::fs::read_dir("/proc") else {
            eprintln!("minreader: cannot list /proc");
            std::process::exit(2);
        };
        pids = dir
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()) && *n != own)
            .collect();
    }
    let next = AtomicUsize::new(0);
    let worker = || {
        let (mut buf, mut c) = (Vec::new(), Counts::default());
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(pid) = pids.get(i) else { break };
            scan(pid, &mut buf, &mut c);
        }
        c
    };
    let mut total = Counts::default();
    if threads == 1 {
        total = worker();
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads).map(|_| s.spawn(worker)).collect();
            for h in handles {
                total.add(&h.join().expect("minreader worker"));
            }
        });
    }
    println!(
        "threads={threads} processes={} vmas={} read={} present={}",
        total.procs, total.vmas, total.read, total.present
    );
}
