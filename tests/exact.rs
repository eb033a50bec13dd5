//! solab's figures where the simple readings of pagemap break, checked against the kernel's
//! own (smaps_rollup) and a page walk written here, apart from the analyzer: a transparent
//! huge page forked and partly written (bit 56 set on pages a child still maps), a parent
//! mapping merged below an inherited one (its start moved), a `prove` with no text page
//! to compare, and pages in swap shared after fork (a swap file the test makes and removes).

use crate::util::{self, Proc, field_u64, finish, is_root, solab, u};
use serde_json::Value;
use std::collections::HashSet;
use std::os::unix::fs::FileExt;
use std::process::{Command, Stdio};

const PAGE: u64 = 4096;
const MIB: u64 = 1 << 20;

/// The fields of /proc/PID/smaps_rollup, in bytes.
fn rollup(pid: i32) -> std::collections::HashMap<String, u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).expect("rollup");
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            let kb: u64 = v.split_whitespace().next()?.parse().ok()?;
            Some((k.to_string(), kb * 1024))
        })
        .collect()
}

/// One page as a simple walk reads it: the pagemap word, and (root) the frame's count and
/// flags.
#[derive(Clone, Copy, Debug)]
struct Walked {
    word: u64,
}

impl Walked {
    fn present(self) -> bool {
        self.word >> 63 & 1 == 1
    }
    fn file(self) -> bool {
        self.word >> 61 & 1 == 1
    }
    fn pfn(self) -> Option<u64> {
        let pfn = self.word & ((1 << 55) - 1);
        (self.present() && pfn != 0).then_some(pfn)
    }
}

/// The pagemap words of `pid` over `[start, start + len)`.
fn walk(pid: i32, start: u64, len: u64) -> Vec<Walked> {
    let f = std::fs::File::open(format!("/proc/{pid}/pagemap")).expect("pagemap");
    let mut buf = vec![0u8; (len / PAGE * 8) as usize];
    f.read_exact_at(&mut buf, start / PAGE * 8)
        .expect("read pagemap");
    buf.chunks_exact(8)
        .map(|c| Walked {
            word: u64::from_le_bytes(c.try_into().expect("8 bytes")),
        })
        .collect()
}

/// The /proc/kpageflags word of a frame.
fn kpageflags(pfn: u64) -> u64 {
    let f = std::fs::File::open("/proc/kpageflags").expect("kpageflags");
    let mut b = [0u8; 8];
    f.read_exact_at(&mut b, pfn * 8).expect("read kpageflags");
    u64::from_le_bytes(b)
}

/// The (start, end) of every line of /proc/PID/maps but `[vsyscall]`.
fn mappings(pid: i32) -> Vec<(u64, u64, String)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("maps");
    text.lines()
        .filter(|l| !l.ends_with("[vsyscall]"))
        .map(|l| {
            let range = l.split_whitespace().next().expect("range");
            let (a, b) = range.split_once('-').expect("a-b");
            (
                u64::from_str_radix(a, 16).expect("hex"),
                u64::from_str_radix(b, 16).expect("hex"),
                l.to_string(),
            )
        })
        .collect()
}

fn row(r: &Value, pid: i32) -> &Value {
    r["processes"]
        .as_array()
        .expect("processes")
        .iter()
        .find(|p| p["pid"] == pid)
        .unwrap_or_else(|| panic!("pid {pid} not in {r:#}"))
}

/// The figures `family --json` gives for the child's mapping that holds `addr`.
fn family_mapping(r: &Value, pid: i32, addr: u64) -> Value {
    row(r, pid)["mappings"]
        .as_array()
        .expect("mappings")
        .iter()
        .find(|m| u(&m["start"]) <= addr && addr < u(&m["end"]))
        .unwrap_or_else(|| panic!("no mapping at {addr:#x} for pid {pid}: {r:#}"))
        .clone()
}

/// Per child page of `[start, start + len)` that is anonymous: the parent's frame at the
/// same address (parents-frame), another anonymous page there (copied), or none (new);
/// in bytes.
fn inheritance_walk(parent: i32, child: i32, start: u64, len: u64) -> (u64, u64, u64) {
    let (p, c) = (walk(parent, start, len), walk(child, start, len));
    let zero = |w: Walked| w.pfn().is_some_and(|f| kpageflags(f) >> 24 & 1 == 1);
    let mut out = (0, 0, 0);
    for (p, c) in p.into_iter().zip(c) {
        if !c.present() || c.file() || zero(c) {
            continue;
        }
        if p.present() && !p.file() && !zero(p) {
            if p.pfn() == c.pfn() {
                out.0 += PAGE;
            } else {
                out.1 += PAGE;
            }
        } else {
            out.2 += PAGE;
        }
    }
    out
}

// ---- transparent huge pages -----------------------------------------------------------

const THP_C: &str = r#"
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#define MIB (1024UL * 1024)

int main(void) {
    size_t len = 64 * MIB, huge = 2 * MIB;
    char *raw = mmap(NULL, len + huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) { perror("mmap"); return 1; }
    char *area = (char *)(((uintptr_t)raw + huge - 1) & ~(uintptr_t)(huge - 1));
    if (madvise(area, len, MADV_HUGEPAGE) != 0) { perror("madvise"); return 1; }
    memset(area, 1, len);
    int fds[2];
    if (pipe(fds) != 0) { perror("pipe"); return 1; }
    pid_t kid = fork();
    if (kid < 0) { perror("fork"); return 1; }
    if (kid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() == 1) _exit(1);
        /* The first byte of 4 huge pages: the parent's page-table entry for each still maps
           the whole folio, whose first page is now its alone. */
        for (int i = 0; i < 4; i++) area[i * 4 * huge] = 7;
        if (write(fds[1], "x", 1) != 1) _exit(1);
        for (;;) pause();
    }
    char c;
    if (read(fds[0], &c, 1) != 1) { perror("read"); return 1; }
    printf("thp parent=%d child=%d area=%lu len=%lu ready\n", (int)getpid(), (int)kid,
           (unsigned long)area, (unsigned long)len);
    fflush(stdout);
    for (;;) pause();
}
"#;

/// Why this machine cannot make transparent huge pages, if it cannot.
fn thp_unavailable() -> Option<String> {
    let path = "/sys/kernel/mm/transparent_hugepage/enabled";
    match std::fs::read_to_string(path) {
        Ok(s) if s.contains("[never]") => Some(format!("{path} is {}", s.trim())),
        Ok(_) => None,
        Err(e) => Some(format!("{path}: {e}")),
    }
}

/// Whether `got` is within the kernel's KiB rounding of smaps' `kb` figure (PSS is summed
/// exactly and truncated to KiB per mapping by smaps_rollup, rounded once by solab).
fn pss_agrees(got: u64, kernel: u64) -> bool {
    got.abs_diff(kernel) <= 1024
}

#[test]
fn thp_forked_and_partly_written_agrees_with_the_kernel() {
    if let Some(why) = thp_unavailable() {
        util::skip(&format!("THP not available ({why})"));
        return;
    }
    let prog = util::Compiled::from_source("thp", THP_C, &["-O2"], &[]);
    let mut p = Proc::spawn("thp", Command::new(&prog.path), "");
    let line = p.expect("ready");
    let (parent, child) = (
        field_u64(&line, "parent") as i32,
        field_u64(&line, "child") as i32,
    );
    let _kids = util::KillOnDrop(vec![child]);
    let (area, len) = (field_u64(&line, "area"), field_u64(&line, "len"));
    let huge = rollup(parent)["AnonHugePages"];
    if huge == 0 {
        util::skip("THP not available (AnonHugePages stays 0 after MADV_HUGEPAGE)");
        return;
    }

    // ps: USS and RSS exactly smaps_rollup's, PSS within its KiB rounding; measured again
    // when another test moved a shared frame's count meanwhile.
    let mut last = String::new();
    let ps_ok = (0..5).any(|_| {
        let before = [rollup(parent), rollup(child)];
        let out = solab(&["ps", "--json", &parent.to_string(), &child.to_string()]);
        let after = [rollup(parent), rollup(child)];
        assert_eq!(out.code, 0, "{}", out.stderr);
        let r = out.json();
        let mut ok = true;
        for (i, pid) in [parent, child].into_iter().enumerate() {
            let got = row(&r, pid);
            let private = |m: &std::collections::HashMap<String, u64>| {
                m["Private_Clean"] + m["Private_Dirty"]
            };
            let agree = [&before[i], &after[i]].iter().any(|k| {
                u(&got["uss"]) == private(k)
                    && u(&got["rss"]) == k["Rss"]
                    && pss_agrees(u(&got["pss"]), k["Pss"])
            });
            if !agree {
                ok = false;
                last = format!(
                    "pid {pid}: solab uss {} rss {} pss {}; smaps_rollup Private {} Rss {} Pss {}",
                    got["uss"],
                    got["rss"],
                    got["pss"],
                    private(&before[i]),
                    before[i]["Rss"],
                    before[i]["Pss"]
                );
            }
        }
        if !ok {
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
        ok
    });
    assert!(
        ps_ok,
        "ps disagrees with smaps_rollup on THP memory: {last}"
    );

    if !is_root() {
        util::skip("family and libs on THP need root (frame numbers)");
        return;
    }
    // family: the child's area, page by page against the frames.
    let out = solab(&["family", "--json", &parent.to_string()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let m = family_mapping(&out.json(), child, area);
    let (frame, copied, new) = inheritance_walk(parent, child, area, len);
    assert_eq!(
        (u(&m["parents_frame"]), u(&m["copied"]), u(&m["new"])),
        (frame, copied, new),
        "family's parents-frame/copied/new against the frames: {m:#}"
    );
    assert!(
        copied >= 4 * PAGE && frame > 0,
        "the child wrote 4 pages: {m:#}"
    );

    // libs: the anonymous frames of both, each counted once, against a walk.
    let out = solab(&["libs", "--json", &parent.to_string(), &child.to_string()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r = out.json();
    let mut distinct = HashSet::new();
    for pid in [parent, child] {
        for w in walk(pid, area, len) {
            distinct.extend(w.pfn());
        }
    }
    let anon = u(&r["totals"]["anonymous"]["frames"]);
    // The area is most of the anonymous memory; the rest (stacks, heap) is a few pages.
    let in_area = distinct.len() as u64;
    assert!(
        anon >= in_area && anon <= in_area + 256,
        "libs counts {anon} anonymous frames, the area alone has {in_area} distinct"
    );
    drop(p);

    // Without frame numbers (uid 65534), family's weak words on the same situation: the
    // parent's PMD-mapped pages read bit 56 although the child maps them, so only what the
    // frames call copied may be called copied; the rest looks inherited.
    let mut p = Proc::spawn("thp as nobody", util::as_nobody(&prog.path), "");
    let line = p.expect("ready");
    let (parent, child) = (
        field_u64(&line, "parent") as i32,
        field_u64(&line, "child") as i32,
    );
    let _kids = util::KillOnDrop(vec![child]);
    let (area, len) = (field_u64(&line, "area"), field_u64(&line, "len"));
    let out = finish(
        util::as_nobody(&util::artifacts().solab)
            .args(["family", "--json", &parent.to_string()])
            .stdin(Stdio::null())
            .output()
            .expect("run solab as nobody"),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r = out.json();
    assert_eq!(r["weak"], true);
    let m = family_mapping(&r, child, area);
    let (frame, copied, new) = inheritance_walk(parent, child, area, len);
    assert_eq!(
        (u(&m["looks_inherited"]), u(&m["copied"]), u(&m["new"])),
        (frame, copied, new),
        "weak family's looks-inherited/copied/new against the frames: {m:#}"
    );
    drop(p);
}

// ---- a parent mapping merged below an inherited one ---------------------------------

const MERGED_C: &str = r#"
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#define MIB (1024UL * 1024)

int main(void) {
    char *raw = mmap(NULL, 6 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) { perror("mmap"); return 1; }
    char *region = raw + 2 * MIB;
    if (munmap(raw, 2 * MIB) != 0) { perror("munmap"); return 1; }
    memset(region, 1, 4 * MIB);
    int fds[2];
    if (pipe(fds) != 0) { perror("pipe"); return 1; }
    pid_t kid = fork();
    if (kid < 0) { perror("fork"); return 1; }
    if (kid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() == 1) _exit(1);
        if (write(fds[1], "x", 1) != 1) _exit(1);
        for (;;) pause();
    }
    char c;
    if (read(fds[0], &c, 1) != 1) { perror("read"); return 1; }
    char *below = mmap(region - 2 * MIB, 2 * MIB, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (below != region - 2 * MIB) { perror("mmap below"); return 1; }
    memset(below, 3, 2 * MIB);
    printf("merged parent=%d child=%d region=%lu below=%lu ready\n", (int)getpid(), (int)kid,
           (unsigned long)region, (unsigned long)below);
    fflush(stdout);
    for (;;) pause();
}
"#;

#[test]
fn family_pairs_a_merged_parent_mapping_by_address() {
    let prog = util::Compiled::from_source("merged", MERGED_C, &["-O2"], &[]);
    let mut p = Proc::spawn("merged", Command::new(&prog.path), "");
    let line = p.expect("ready");
    let (parent, child) = (
        field_u64(&line, "parent") as i32,
        field_u64(&line, "child") as i32,
    );
    let _kids = util::KillOnDrop(vec![child]);
    let (region, below) = (field_u64(&line, "region"), field_u64(&line, "below"));
    // The situation: one mapping in the parent from `below` over the region, the child's
    // still starting at the region.
    let theirs = mappings(parent);
    assert!(
        theirs
            .iter()
            .any(|&(a, b, _)| a <= below && region + 4 * MIB <= b),
        "the kernel did not merge the parent's mappings: {theirs:#?}"
    );
    assert!(
        mappings(child).iter().any(|&(a, _, _)| a == region),
        "the child's mapping starts at the region"
    );
    let out = solab(&["family", "--json", &parent.to_string()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let m = family_mapping(&out.json(), child, region);
    assert_eq!(m["inherited"], true, "{m:#}");
    let (frame, copied, new) = inheritance_walk(parent, child, region, 4 * MIB);
    if is_root() {
        assert_eq!((frame, copied, new), (4 * MIB, 0, 0), "the walk itself");
        assert_eq!(
            (u(&m["parents_frame"]), u(&m["copied"]), u(&m["new"])),
            (frame, copied, new),
            "family against the frames: {m:#}"
        );
    } else {
        assert_eq!(u(&m["new"]), 0, "{m:#}");
        assert_eq!(u(&m["looks_inherited"]), 4 * MIB, "{m:#}");
    }
    drop(p);
}

// ---- prove with nothing to compare ------------------------------------------------------

const TINY_LIB_C: &str = r#"
int tiny_counter = 1;
int tiny_add(int a) { tiny_counter += a; return tiny_counter; }
"#;

/// Loads the library given and drops its text pages from its own page tables: no text page
/// is present, as when the page cache was dropped and the code not run since.
const DROPS_TEXT_C: &str = r#"
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static const char *wanted;
static int dropped;

static int drop_text(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size; (void)data;
    if (!strstr(info->dlpi_name, wanted)) return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) continue;
        uintptr_t a = (info->dlpi_addr + ph->p_vaddr) & ~(uintptr_t)4095;
        uintptr_t b = (info->dlpi_addr + ph->p_vaddr + ph->p_memsz + 4095) & ~(uintptr_t)4095;
        if (madvise((void *)a, b - a, MADV_DONTNEED) != 0) { perror("madvise"); return 1; }
        dropped = 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    if (!dlopen(argv[1], RTLD_NOW)) { fprintf(stderr, "%s\n", dlerror()); return 1; }
    wanted = strrchr(argv[1], '/') + 1;
    dl_iterate_phdr(drop_text, NULL);
    if (!dropped) { fprintf(stderr, "no text segment of %s\n", wanted); return 1; }
    printf("loaded pid=%d ready\n", (int)getpid());
    fflush(stdout);
    for (;;) pause();
}
"#;

#[test]
fn prove_with_no_text_page_to_compare_is_inconclusive() {
    let lib = util::Compiled::from_source(
        "libtinytext.so",
        TINY_LIB_C,
        &["-shared", "-fPIC", "-O2"],
        &[],
    );
    let prog = util::Compiled::from_source("dropstext", DROPS_TEXT_C, &["-O2"], &["-ldl"]);
    let start = || {
        let mut cmd = Command::new(&prog.path);
        cmd.arg(&lib.path);
        Proc::spawn("dropstext", cmd, "ready")
    };
    let (a, b) = (start(), start());
    let pids = [a.pid().to_string(), b.pid().to_string()];
    let out = solab(&["prove", "-o", "libtinytext.so", &pids[0], &pids[1]]);
    assert_eq!(
        out.code, 3,
        "exit 3, inconclusive:\n{}\n{}",
        out.stdout, out.stderr
    );
    assert!(
        out.stderr.contains("nothing to compare")
            && out
                .stderr
                .contains("touch the code, or run again under load"),
        "the reason and what to do on stderr: {}",
        out.stderr
    );
    assert!(
        out.stdout.contains("N/A") && out.stdout.contains("nothing to compare"),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("FAIL"),
        "nothing failed: {}",
        out.stdout
    );
    let out = solab(&[
        "prove",
        "--json",
        "-o",
        "libtinytext.so",
        &pids[0],
        &pids[1],
    ]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    let r = out.json();
    assert_eq!(r["holds"], true);
    assert_eq!(r["compared"], false);
    assert_eq!(r["conclusive"], false);
    assert_eq!(r["claims"][0]["status"], "not-applicable");
    assert_eq!(r["claims"][0]["counts"]["present_in_all"], 0);
    assert!(
        r["claims"][0]["failures"]
            .as_array()
            .expect("failures")
            .is_empty()
    );
    // The kernel agrees: no page of the library's text is present in either.
    for p in [&a, &b] {
        let maps = mappings(p.pid());
        for (s, e, l) in maps.iter().filter(|m| m.2.contains("libtinytext.so")) {
            if l.split_whitespace()
                .nth(1)
                .is_some_and(|perms| perms.contains('x'))
            {
                assert!(walk(p.pid(), *s, e - s).iter().all(|w| !w.present()), "{l}");
            }
        }
    }
}

// ---- swap shared after fork ---------------------------------------------------------------

/// A 64 MiB swap file in /tmp, switched on for the test and off (and removed) on Drop, also
/// when the test fails.
struct SwapFile {
    path: std::path::PathBuf,
    on: bool,
}

impl SwapFile {
    /// A swap file for a test, or `None` after saying why the test cannot run: not root
    /// (`why_root`: what root is needed for), or no swap file can be made here.
    fn or_skip(why_root: &str) -> Option<SwapFile> {
        if !is_root() {
            util::skip(why_root);
            return None;
        }
        SwapFile::new()
            .map_err(|why| util::skip(&format!("no swap file here ({why})")))
            .ok()
    }

    /// The swap file, or why this machine cannot make one.
    fn new() -> Result<SwapFile, String> {
        let dir = nix::unistd::mkdtemp("/tmp/solab-swap-XXXXXX").map_err(|e| e.to_string())?;
        let mut swap = SwapFile {
            path: dir.join("swapfile"),
            on: false,
        };
        let run = |cmd: &mut Command| -> Result<(), String> {
            let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "{cmd:?}: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
            }
        };
        run(Command::new("fallocate")
            .args(["-l", "64M"])
            .arg(&swap.path))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&swap.path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| e.to_string())?;
        run(Command::new("mkswap").arg(&swap.path))?;
        run(Command::new("swapon").arg(&swap.path))?;
        swap.on = true;
        Ok(swap)
    }
}

impl Drop for SwapFile {
    fn drop(&mut self) {
        if self.on {
            let _ = Command::new("swapoff").arg(&self.path).status();
        }
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Writes N pages of anonymous memory and pushes them to swap (MADV_PAGEOUT takes only
/// pages mapped once, so before fork); forks; the child writes the first K of them (its own
/// copies: those entries are the parent's alone) and M pages of its own, pushed to swap
/// too. The N - K others are one swap entry each that both hold.
const SWAP_C: &str = r#"
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#define PAGE 4096UL
#define N 2048
#define K 512
#define M 256

static char *written(size_t pages, int seed) {
    char *p = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) { perror("mmap"); _exit(1); }
    madvise(p, pages * PAGE, MADV_NOHUGEPAGE);
    for (size_t i = 0; i < pages; i++) memset(p + i * PAGE, (int)(i + seed) | 1, PAGE);
    if (madvise(p, pages * PAGE, MADV_PAGEOUT) != 0) { perror("MADV_PAGEOUT"); _exit(1); }
    return p;
}

int main(void) {
    char *area = written(N, 0);
    int fds[2];
    if (pipe(fds) != 0) { perror("pipe"); return 1; }
    pid_t kid = fork();
    if (kid < 0) { perror("fork"); return 1; }
    if (kid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() == 1) _exit(1);
        for (size_t i = 0; i < K; i++) area[i * PAGE] = 7;
        written(M, 3);
        if (write(fds[1], "x", 1) != 1) _exit(1);
        for (;;) pause();
    }
    char c;
    if (read(fds[0], &c, 1) != 1) { perror("read"); return 1; }
    printf("swap parent=%d child=%d n=%d k=%d m=%d ready\n", (int)getpid(), (int)kid, N, K, M);
    fflush(stdout);
    for (;;) pause();
}
"#;

/// The swap entries (pagemap bits 0-54 of a swapped page) of every page of `pid`.
fn swap_entries(pid: i32) -> Vec<u64> {
    mappings(pid)
        .into_iter()
        .flat_map(|(a, b, _)| walk(pid, a, b - a))
        .filter(|w| !w.present() && w.word >> 62 & 1 == 1)
        .map(|w| w.word & ((1 << 55) - 1))
        .collect()
}

#[test]
fn swap_shared_after_fork_is_divided_and_counted_once() {
    let Some(_swap) = SwapFile::or_skip("swapon needs root, and the swap entries CAP_SYS_ADMIN")
    else {
        return;
    };
    let prog = util::Compiled::from_source("swap", SWAP_C, &["-O2"], &[]);
    let mut p = Proc::spawn("swap", Command::new(&prog.path), "");
    let line = p.expect("ready");
    let (parent, child) = (
        field_u64(&line, "parent") as i32,
        field_u64(&line, "child") as i32,
    );
    let _kids = util::KillOnDrop(vec![child]);
    let (n, k, m) = (
        field_u64(&line, "n"),
        field_u64(&line, "k"),
        field_u64(&line, "m"),
    );
    let kernel = [rollup(parent), rollup(child)];
    if kernel[0]["Swap"] == 0 {
        util::skip("MADV_PAGEOUT left nothing in swap");
        return;
    }

    // The walk: each entry held by one page or by two.
    let entries = [swap_entries(parent), swap_entries(child)];
    let mut held: std::collections::HashMap<u64, u64> = Default::default();
    for e in entries.iter().flatten() {
        *held.entry(*e).or_default() += 1;
    }
    let once = |es: &[u64]| es.iter().filter(|e| held[e] == 1).count() as u64 * PAGE;
    let distinct = held.len() as u64 * PAGE;
    // What the program made: the walk is the judge below, but it must see this.
    assert_eq!(
        (entries[0].len() as u64, entries[1].len() as u64),
        (n, n - k + m),
        "pages in swap (parent, child) by the walk"
    );

    let out = solab(&["ps", "--json", &parent.to_string(), &child.to_string()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r = out.json();
    assert_eq!(r["swap_pss_source"], "swap-pss", "{r:#}");
    assert_eq!(r["swap_unique_source"], "swap-entries", "{r:#}");
    for (i, pid) in [parent, child].into_iter().enumerate() {
        let got = row(&r, pid);
        let k = &kernel[i];
        assert_eq!(u(&got["swap"]), k["Swap"], "pid {pid}: swap against Swap");
        assert!(
            pss_agrees(u(&got["swap_pss"]), k["SwapPss"]),
            "pid {pid}: swap_pss {} against SwapPss {}",
            got["swap_pss"],
            k["SwapPss"]
        );
        assert!(
            u(&got["swap_pss"]) < u(&got["swap"]),
            "pid {pid} shares swap entries: {got:#}"
        );
        assert_eq!(
            u(&got["swap_unique"]),
            once(&entries[i]),
            "pid {pid}: swap_unique against the entries held once"
        );
        assert_eq!(u(&got["classes"]["anon"]["swap_unique"]), once(&entries[i]));
    }
    assert_eq!(
        (once(&entries[0]), once(&entries[1])),
        (k * PAGE, m * PAGE),
        "entries held once: the parent's K the child rewrote, the child's own M"
    );
    // TOTAL: the shared entries once (SWAP), each holder in full (swap).
    let t = &r["totals"];
    assert!(
        pss_agrees(u(&t["swap_pss"]), distinct),
        "TOTAL swap_pss {} against {distinct} distinct entries",
        t["swap_pss"]
    );
    assert_eq!(u(&t["swap"]), kernel[0]["Swap"] + kernel[1]["Swap"]);
    assert_eq!(u(&t["swap_unique"]), (k + m) * PAGE);

    // The table: SWAP is the proportional figure, SWAP-USS beside it, the sources named.
    let out = solab(&["ps", "-b", &parent.to_string(), &child.to_string()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("swap: SWAP is the kernel's SwapPss"),
        "{}",
        out.stdout
    );
    let head = out
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("PID") && l.contains(" SWAP-USS "))
        .unwrap_or_else(|| panic!("no SWAP-USS column: {}", out.stdout));
    let cols: Vec<&str> = head.split_whitespace().collect();
    let at = cols.iter().position(|c| *c == "SWAP").expect("SWAP column");
    let total: Vec<&str> = out
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("TOTAL"))
        .expect("TOTAL")
        .split_whitespace()
        .collect();
    // TOTAL has no user: its cells start one column earlier than the head's.
    assert_eq!(total[at - 1], t["swap_pss"].to_string(), "{}", out.stdout);
    assert_eq!(total[at], t["swap_unique"].to_string(), "{}", out.stdout);
    drop(p);

    // Without the capability (uid 65534 reading its own processes): SwapPss all the same,
    // the entries unseen.
    let mut p = Proc::spawn("swap as nobody", util::as_nobody(&prog.path), "");
    let line = p.expect("ready");
    let (parent, child) = (
        field_u64(&line, "parent") as i32,
        field_u64(&line, "child") as i32,
    );
    let _kids = util::KillOnDrop(vec![child]);
    let kernel = [rollup(parent), rollup(child)];
    let out = finish(
        util::as_nobody(&util::artifacts().solab)
            .args(["ps", "--json", &parent.to_string(), &child.to_string()])
            .stdin(Stdio::null())
            .output()
            .expect("run solab as nobody"),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r = out.json();
    assert_eq!(
        (&r["weak"], &r["swap_unique_source"]),
        (&Value::Bool(true), &Value::Null)
    );
    for (i, pid) in [parent, child].into_iter().enumerate() {
        let got = row(&r, pid);
        assert_eq!(u(&got["swap"]), kernel[i]["Swap"], "pid {pid}: {got:#}");
        assert!(
            pss_agrees(u(&got["swap_pss"]), kernel[i]["SwapPss"]),
            "pid {pid}: swap_pss {} against SwapPss {}",
            got["swap_pss"],
            kernel[i]["SwapPss"]
        );
        assert_eq!(got["swap_unique"], Value::Null);
    }
    drop(p);
}

/// Shared memory in swap: a `MAP_SHARED` anonymous region of N pages mapped before fork;
/// the child writes every page (so the child alone maps them, which MADV_PAGEOUT needs)
/// and pushes them to swap, then maps P pages of its own shared memory and pushes them to
/// swap too. No page table holds a swap entry for them; the kernel counts the first N in
/// `Swap` of both processes and the P in the child's.
const SHMEM_SWAP_C: &str = r#"
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#define PAGE 4096UL
#define N 64
#define P 16

static char *shared(size_t pages) {
    char *p = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) { perror("mmap"); _exit(1); }
    return p;
}

static void out(char *p, size_t pages, int seed) {
    for (size_t i = 0; i < pages; i++) memset(p + i * PAGE, (int)(i + seed) | 1, PAGE);
    if (madvise(p, pages * PAGE, MADV_PAGEOUT) != 0) { perror("MADV_PAGEOUT"); _exit(1); }
}

int main(void) {
    char *area = shared(N);
    int fds[2];
    if (pipe(fds) != 0) { perror("pipe"); return 1; }
    pid_t kid = fork();
    if (kid < 0) { perror("fork"); return 1; }
    if (kid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() == 1) _exit(1);
        out(area, N, 0);
        out(shared(P), P, 5);
        if (write(fds[1], "x", 1) != 1) _exit(1);
        for (;;) pause();
    }
    char c;
    if (read(fds[0], &c, 1) != 1) { perror("read"); return 1; }
    printf("shmem parent=%d child=%d n=%d p=%d ready\n", (int)getpid(), (int)kid, N, P);
    fflush(stdout);
    for (;;) pause();
}
"#;

/// `solab ps --json` of `pids`, as root or (`nobody`) as uid 65534.
fn ps_json(pids: &[i32], nobody: bool) -> Value {
    let pids: Vec<String> = pids.iter().map(|p| p.to_string()).collect();
    let out = if nobody {
        finish(
            util::as_nobody(&util::artifacts().solab)
                .args(["ps", "--json"])
                .args(&pids)
                .stdin(Stdio::null())
                .output()
                .expect("run solab as nobody"),
        )
    } else {
        let mut args = vec!["ps", "--json"];
        args.extend(pids.iter().map(|s| s.as_str()));
        solab(&args)
    };
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.json()
}

#[test]
fn swapped_shared_memory_is_in_swap_and_divided() {
    let Some(_swap) = SwapFile::or_skip("swapon needs root") else {
        return;
    };
    let prog = util::Compiled::from_source("shmem_swap", SHMEM_SWAP_C, &["-O2"], &[]);
    for nobody in [false, true] {
        let mut p = if nobody {
            Proc::spawn("shmem swap as nobody", util::as_nobody(&prog.path), "")
        } else {
            Proc::spawn("shmem swap", Command::new(&prog.path), "")
        };
        let line = p.expect("ready");
        let (parent, child) = (
            field_u64(&line, "parent") as i32,
            field_u64(&line, "child") as i32,
        );
        let _kids = util::KillOnDrop(vec![child]);
        // The kernel's Swap of shmem may still move just after MADV_PAGEOUT (a page
        // leaving the swap cache): read once it holds still for 100 ms.
        let mut kernel = [rollup(parent), rollup(child)];
        for _ in 0..50 {
            std::thread::sleep(std::time::Duration::from_millis(100));
            let again = [rollup(parent), rollup(child)];
            if again == kernel {
                break;
            }
            kernel = again;
        }
        // The pages of the inherited region in swap (in both), and of the child's own.
        let (inherited, own) = (kernel[0]["Swap"], kernel[1]["Swap"] - kernel[0]["Swap"]);
        if inherited == 0 || own == 0 {
            util::skip("MADV_PAGEOUT left no shared memory in swap");
            return;
        }
        // The kernel's SwapPss leaves shmem out: no page table holds their entries.
        assert_eq!((kernel[0]["SwapPss"], kernel[1]["SwapPss"]), (0, 0));
        // The walk sees no swap entry, only absent pages.
        assert!(swap_entries(parent).is_empty() && swap_entries(child).is_empty());

        let r = ps_json(&[parent, child], nobody);
        let who = if nobody { "uid 65534" } else { "root" };
        // The kernel's reading after solab's is the judge where the figure moved meanwhile
        // (shmem's Swap can drop by a page long after MADV_PAGEOUT).
        let after = [rollup(parent), rollup(child)];
        let solab_swap = [u(&row(&r, parent)["swap"]), u(&row(&r, child)["swap"])];
        if solab_swap == [after[0]["Swap"], after[1]["Swap"]] {
            kernel = after;
        }
        let (inherited, own) = (kernel[0]["Swap"], kernel[1]["Swap"] - kernel[0]["Swap"]);
        for (i, pid) in [parent, child].into_iter().enumerate() {
            let got = row(&r, pid);
            assert_eq!(
                u(&got["swap"]),
                kernel[i]["Swap"],
                "{who}: pid {pid} swap against Swap: {got:#}"
            );
            assert_eq!(u(&got["classes"]["shared"]["swap"]), kernel[i]["Swap"]);
        }
        // SWAP: the inherited region divided between the two, the child's own in full.
        let (pr, ch) = (row(&r, parent), row(&r, child));
        assert_eq!(u(&pr["swap_pss"]), inherited / 2, "{who}: {pr:#}");
        assert_eq!(u(&ch["swap_pss"]), inherited / 2 + own, "{who}: {ch:#}");
        assert_eq!(u(&r["totals"]["swap_pss"]), inherited + own, "{who}");
        assert_eq!(
            u(&r["totals"]["swap"]),
            kernel[0]["Swap"] + kernel[1]["Swap"]
        );
        // SWAP-USS: the child's own region, as root; unknown without the capability.
        if nobody {
            assert_eq!(pr["swap_unique"], Value::Null);
        } else {
            assert_eq!(u(&pr["swap_unique"]), 0, "{pr:#}");
            assert_eq!(u(&ch["swap_unique"]), own, "{ch:#}");
            assert_eq!(u(&ch["classes"]["shared"]["swap_unique"]), own);
        }
        drop(p);
    }
}
