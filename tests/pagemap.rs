//! [`Pagemap::read_maps`] reads a whole memory map with one `pread` per run of adjacent
//! mappings and hands each mapping the words one `pread` per mapping reads: a
//! real process with a run of three mappings, the middle one larger than a read's chunk
//! (so a chunk ends inside the run), pages touched on both sides of that boundary, and a
//! sparse reservation above the size where only populated ranges are read.

use crate::util::{self, Proc};
use solab::PAGE_SIZE;
use solab::kernel::pagemap::{CHUNK_PAGES, Pagemap, SPARSE_PAGES};
use solab::kernel::process;
use solab::maps::MapEntry;
use solab::page_words::PagemapEntry;
use std::process::Command;

/// Maps a run of three adjacent private anonymous mappings (3 pages read-only, BIG pages
/// read-write, 5 pages read-only: one mmap split by mprotect) after a hole, touching pages
/// in each and around page CHUNK of the run; and a reservation of SPARSE pages with a few touched.
/// Transparent huge pages are off for both (khugepaged would move the frames). Prints
/// `run=ADDR sparse=ADDR` and `ready`, then waits for stdin to close.
const HELPER: &str = r#"
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
P = 4096
BIG, CHUNK, SPARSE = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
RW, RO = 3, 1
PRIVATE_ANON_NORESERVE = 0x02 | 0x20 | 0x4000
NOHUGEPAGE = 15
def mmap(pages):
    a = libc.mmap(None, pages * P, RW, PRIVATE_ANON_NORESERVE, -1, 0)
    assert a not in (None, ctypes.c_void_p(-1).value), ctypes.get_errno()
    assert libc.madvise(a, pages * P, NOHUGEPAGE) == 0, ctypes.get_errno()
    return a
def touch(a, page):
    ctypes.c_char.from_address(a + page * P).value = b"x"
total = 3 + BIG + 5
base = mmap(1 + total)
run = base + P
for page in [0, 2, 3, 4, CHUNK - 2, CHUNK - 1, CHUNK, CHUNK + 1, 3 + BIG - 1, 3 + BIG, total - 1]:
    touch(run, page)
assert libc.mprotect(run, 3 * P, RO) == 0
assert libc.mprotect(run + (3 + BIG) * P, 5 * P, RO) == 0
sparse = mmap(SPARSE + 100)
for page in [1, 1000, SPARSE + 50]:
    touch(sparse, page)
# A hole below the run: it starts at its first mapping.
assert libc.munmap(base, P) == 0
print(f"run={run} sparse={sparse}", flush=True)
print("ready", flush=True)
sys.stdin.read()
"#;

#[test]
fn runs_of_mappings_read_as_one_give_each_mapping_its_words() {
    let big = CHUNK_PAGES + 4000;
    let mut cmd = Command::new("python3");
    cmd.arg("-c").arg(HELPER).args([
        big.to_string(),
        CHUNK_PAGES.to_string(),
        SPARSE_PAGES.to_string(),
    ]);
    let mut helper = Proc::spawn("pagemap helper", cmd, "ready");
    let line = helper.seen.iter().find(|l| l.starts_with("run=")).cloned();
    let line = line.expect("the helper's addresses");
    let run = util::field_u64(&line, "run");
    let sparse = util::field_u64(&line, "sparse");
    let pid = helper.pid();
    let dir = process::ProcDir::open(pid).expect("the helper's directory");
    let maps = dir.read_maps().expect("the helper's maps");
    let at = |addr: u64| maps.iter().position(|m| m.start.0 == addr);
    let first = at(run).expect("the run's first mapping");
    assert_eq!(
        maps[first..first + 3]
            .iter()
            .map(|m| m.len() / PAGE_SIZE)
            .collect::<Vec<_>>(),
        [3, big, 5],
        "the run is three adjacent mappings"
    );
    assert!(
        maps[first + 1].start == maps[first].end && maps[first + 2].start == maps[first + 1].end
    );
    assert!(
        first == 0 || maps[first - 1].end != maps[first].start,
        "a hole before the run"
    );
    let sparse_at = at(sparse).expect("the sparse reservation");

    let mut pm = Pagemap::open(&dir).expect("pagemap");
    // The helper's own mappings cannot change under the two reads, but the pages of the
    // files it maps (libc, python) can: the kernel may reclaim and fault them again between
    // one read and the other. A difference in words is read again, up to five times; the
    // helper's anonymous run and reservation must agree the first time.
    let own = [first, first + 1, first + 2, sparse_at];
    let mut handed = Vec::new();
    for attempt in 1..=5 {
        let (got, differ) = read_and_compare(&mut pm, &maps, sparse_at);
        assert!(
            !differ.iter().any(|i| own.contains(i)),
            "the words of the helper's own mappings differ: {:?}",
            differ.iter().map(|&i| &maps[i]).collect::<Vec<_>>()
        );
        handed = got;
        if differ.is_empty() {
            break;
        }
        assert!(
            attempt < 5,
            "the words of {:?} differ in five reads",
            differ.iter().map(|&i| &maps[i]).collect::<Vec<_>>()
        );
    }
    // The run's middle mapping comes in two parts: the chunk ends inside it.
    assert_eq!(handed[first + 1].len(), 2);
    let present = |i: usize| {
        handed[i]
            .iter()
            .flat_map(|(_, w)| w)
            .filter(|e| e.present())
            .count()
    };
    assert_eq!(
        (present(first), present(first + 1), present(first + 2)),
        (2, 7, 2)
    );
    helper.kill();
}

type Handed = Vec<Vec<(u64, Vec<PagemapEntry>)>>;

/// Reads `maps` with [`Pagemap::read_maps`] and each mapping alone, asserting the shape of
/// what each mapping is handed; returns what was handed and the mappings whose words
/// differ between the two reads.
fn read_and_compare(pm: &mut Pagemap, maps: &[MapEntry], sparse_at: usize) -> (Handed, Vec<usize>) {
    let mut buf = Vec::new();
    let mut handed: Handed = vec![Vec::new(); maps.len()];
    let mut last = 0;
    pm.read_maps(maps, &mut buf, |i, start, words| {
        assert!(
            start.0 >= last,
            "in address order: {:#x} after {last:#x}",
            start.0
        );
        last = start.0 + words.len() as u64 * PAGE_SIZE;
        handed[i].push((start.0, words.to_vec()));
    })
    .expect("read_maps");

    let mut differ = Vec::new();
    for (i, m) in maps.iter().enumerate() {
        let got = &handed[i];
        if m.is_pseudo("[vsyscall]") {
            assert!(got.is_empty(), "the gate area is not read");
            continue;
        }
        let pages = m.len() / PAGE_SIZE;
        let alone = pm.read(m.start, pages).expect("one mapping alone");
        if pages > SPARSE_PAGES {
            // Only populated ranges; every present page among them, with its word.
            let mut present = 0;
            let mut same = true;
            for (start, words) in got {
                let from = ((start - m.start.0) / PAGE_SIZE) as usize;
                same &= words[..] == alone[from..from + words.len()];
                present += words.iter().filter(|e| e.present()).count();
            }
            let all = alone.iter().filter(|e| e.present()).count();
            if !same || present != all {
                differ.push(i);
            }
            if i == sparse_at {
                assert_eq!(all, 3, "the sparse reservation's touched pages");
            }
            continue;
        }
        // Whole: parts that follow one another from the start to the end.
        let mut next = m.start.0;
        let mut words = Vec::new();
        for (start, w) in got {
            assert_eq!(*start, next, "{m:?}");
            next += w.len() as u64 * PAGE_SIZE;
            words.extend_from_slice(w);
        }
        assert_eq!(next, m.end.0, "{m:?}");
        if words != alone {
            differ.push(i);
        }
    }
    (handed, differ)
}
