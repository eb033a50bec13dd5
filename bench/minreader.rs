//! The floor `solab libs` and `solab ps` are measured against: read every /proc/PID/maps
//! and pread /proc/PID/pagemap for every mapping (in the same 64 Ki-page chunks as solab),
//! count the present pages, nothing else.
//!
//! Usage: minreader [--threads N] [--procmap | --procmap-names] [--coalesce] [PID...]
//!
//! Without PIDs every process but itself. `--threads N` (default 1) scans the processes on
//! N threads taking the next pid from a shared counter, each with its own buffer, the counts
//! summed at the end: the parallel floor. `--threads 0` is `available_parallelism`, the pool
//! size solab uses by default. `--procmap` lists the mappings with the PROCMAP_QUERY ioctl
//! (Linux 6.11) instead of the text, without their names: the kernel formats nothing;
//! `--procmap-names` also asks each mapping's name, as solab does. The floor the bench
//! reports stays the text reader. `--coalesce` reads one pread per run of adjacent mappings
//! (one ends where the next starts) instead of one per mapping: the same pagemap words in
//! fewer system calls, which is what solab itself does; the bench reports it beside the
//! floor, not as the floor. Prints
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
    eprintln!(
        "minreader: {msg}\nusage: minreader [--threads N] [--procmap | --procmap-names] [--coalesce] [PID...]"
    );
    std::process::exit(2);
}

/// How the mappings are listed.
#[derive(Clone, Copy, PartialEq)]
enum Maps {
    Text,
    /// PROCMAP_QUERY; `true`: with names.
    Query(bool),
}

/// `struct procmap_query` (include/uapi/linux/fs.h, Linux 6.11).
#[repr(C)]
#[derive(Default)]
struct ProcmapQuery {
    size: u64,
    query_flags: u64,
    query_addr: u64,
    vma_start: u64,
    vma_end: u64,
    vma_flags: u64,
    vma_page_size: u64,
    vma_offset: u64,
    inode: u64,
    dev_major: u32,
    dev_minor: u32,
    vma_name_size: u32,
    build_id_size: u32,
    vma_name_addr: u64,
    build_id_addr: u64,
}

/// `_IOWR('f', 17, struct procmap_query)`.
const PROCMAP_QUERY: u64 = (3 << 30) | (104 << 16) | (0x66 << 8) | 17;
/// PROCMAP_QUERY_COVERING_OR_NEXT_VMA.
const COVERING_OR_NEXT_VMA: u64 = 0x10;

/// The mappings of an open maps file through the ioctl, as (start, end); `None` on any
/// error but the end of the map. The gate area (`[vsyscall]`) is not among them.
fn query_ranges(maps: &File, names: bool, name: &mut [u8]) -> Option<Vec<(u64, u64)>> {
    use std::os::fd::AsRawFd;
    let mut out = Vec::new();
    let mut addr = 0;
    loop {
        let mut q = ProcmapQuery {
            size: 104,
            query_flags: COVERING_OR_NEXT_VMA,
            query_addr: addr,
            ..ProcmapQuery::default()
        };
        if names {
            q.vma_name_size = name.len() as u32;
            q.vma_name_addr = name.as_mut_ptr() as u64;
        }
        // SAFETY: a valid procmap_query; the name buffer, when given, outlives the call.
        let rc = unsafe { libc::ioctl(maps.as_raw_fd(), PROCMAP_QUERY as _, &mut q) };
        if rc < 0 {
            let e = std::io::Error::last_os_error();
            return (e.raw_os_error() == Some(libc::ENOENT)).then_some(out);
        }
        if q.vma_end <= addr {
            return None;
        }
        out.push((q.vma_start, q.vma_end));
        addr = q.vma_end;
    }
}

/// One process: its maps, then its pagemap over every mapping. A process that vanished or
/// cannot be read is skipped, as solab counts it apart.
fn scan(pid: &str, how: Maps, coalesce: bool, buf: &mut Vec<u8>, c: &mut Counts) {
    let ranges: Vec<(u64, u64)> = match how {
        Maps::Text => {
            let Ok(maps) = std::fs::read_to_string(format!("/proc/{pid}/maps")) else {
                return;
            };
            maps.lines()
                .filter(|line| !line.ends_with("[vsyscall]"))
                .filter_map(|line| {
                    let (s, e) = line.split_once(' ')?.0.split_once('-')?;
                    Some((
                        u64::from_str_radix(s, 16).ok()?,
                        u64::from_str_radix(e, 16).ok()?,
                    ))
                })
                .collect()
        }
        Maps::Query(names) => {
            let mut name = [0u8; 4096];
            let Some(r) = File::open(format!("/proc/{pid}/maps"))
                .ok()
                .and_then(|f| query_ranges(&f, names, &mut name))
            else {
                return;
            };
            r
        }
    };
    let Ok(pagemap) = File::open(format!("/proc/{pid}/pagemap")) else {
        return;
    };
    c.procs += 1;
    c.vmas += ranges.len() as u64;
    let mut reads: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (s, e) in ranges {
        match reads.last_mut() {
            Some(last) if coalesce && last.1 == s => last.1 = e,
            _ => reads.push((s, e)),
        }
    }
    for (s, e) in reads {
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
    let mut how = Maps::Text;
    let mut coalesce = false;
    let mut pids: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--threads" {
            threads = args
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| usage("--threads needs a number"));
        } else if a == "--procmap" {
            how = Maps::Query(false);
        } else if a == "--coalesce" {
            coalesce = true;
        } else if a == "--procmap-names" {
            how = Maps::Query(true);
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
            scan(pid, how, coalesce, &mut buf, &mut c);
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
