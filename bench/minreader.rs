//! The floor `solab libs --all` is measured against: read every /proc/PID/maps and pread
//! /proc/PID/pagemap for every mapping (in the same 64 Ki-page chunks as solab), count the
//! present pages, nothing else. Prints `processes=N vmas=N present=N`.

use std::fs::File;
use std::os::unix::fs::FileExt;

const CHUNK_PAGES: u64 = 1 << 16;

fn main() {
    let own = std::process::id().to_string();
    let (mut procs, mut vmas, mut present) = (0u64, 0u64, 0u64);
    let mut buf: Vec<u8> = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        eprintln!("minreader: cannot list /proc");
        std::process::exit(2);
    };
    for e in dir.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        if pid == own {
            continue;
        }
        let Ok(maps) = std::fs::read_to_string(format!("/proc/{pid}/maps")) else {
            continue;
        };
        let Ok(pagemap) = File::open(format!("/proc/{pid}/pagemap")) else {
            continue;
        };
        procs += 1;
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
            vmas += 1;
            let (first, pages) = (s / 4096, (e - s) / 4096);
            let mut done = 0;
            while done < pages {
                let n = (pages - done).min(CHUNK_PAGES);
                buf.resize((n * 8) as usize, 0);
                if pagemap.read_exact_at(&mut buf, (first + done) * 8).is_err() {
                    break;
                }
                present += buf.chunks_exact(8).filter(|w| w[7] & 0x80 != 0).count() as u64;
                done += n;
            }
        }
    }
    println!("processes={procs} vmas={vmas} present={present}");
}
