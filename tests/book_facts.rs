//! Facts the book states about files and processes, checked against the files themselves
//! (with goblin, a parser independent of solab) rather than trusted:
//! - the text-relocation library's layout: the two `R_X86_64_64` relocations in its code
//!   land on one page, the one chapter 8 names, with filler pages on both sides;
//! - the RELRO page counts chapter 2 gives for libc and libsolib.so, computed from
//!   `PT_GNU_RELRO` as glibc's `_dl_protect_relro` rounds it;
//! - the `o` that readelf prints for `.shared` is SHF_GNU_RETAIN in an object whose OS/ABI
//!   is not GNU;
//! - the benchmark figure chapter 18 quotes is the one in the benchmark results;
//! - the answers to "Try next" that a file or a command can check: the patched text page
//!   of chapter 8, libc's RELRO pages, the libc pages two `sleep` processes have written.

use crate::util::artifacts;
use goblin::elf::{Elf, program_header, reloc, section_header};
use regex::Regex;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const PAGE: u64 = 4096;

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run `make build`, which builds it)",
            path.display()
        )
    })
}

fn chapter(name: &str) -> String {
    let p = artifacts().repo.join("docs/src").join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The text with every run of white space made one space, so phrases survive line breaks.
fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn lab_lib(name: &str) -> PathBuf {
    artifacts().fixtures.join(name)
}

/// The half-open virtual address ranges of the executable PT_LOAD segments.
fn text_ranges(elf: &Elf) -> Vec<(u64, u64)> {
    elf.program_headers
        .iter()
        .filter(|p| p.p_type == program_header::PT_LOAD && p.p_flags & program_header::PF_X != 0)
        .map(|p| (p.p_vaddr, p.p_vaddr + p.p_memsz))
        .collect()
}

fn in_ranges(ranges: &[(u64, u64)], addr: u64) -> bool {
    ranges.iter().any(|&(s, e)| (s..e).contains(&addr))
}

/// (offset, type, symbol name) of every dynamic relocation.
fn dyn_relocs(elf: &Elf) -> Vec<(u64, u32, String)> {
    elf.dynrelas
        .iter()
        .chain(elf.dynrels.iter())
        .map(|r| {
            let name = elf
                .dynsyms
                .get(r.r_sym)
                .and_then(|s| elf.dynstrtab.get_at(s.st_name))
                .unwrap_or("")
                .to_string();
            (r.r_offset, r.r_type, name)
        })
        .collect()
}

fn symbol(elf: &Elf, name: &str) -> u64 {
    elf.syms
        .iter()
        .find(|s| elf.strtab.get_at(s.st_name) == Some(name))
        .map(|s| s.st_value)
        .unwrap_or_else(|| panic!("no symbol {name}"))
}

#[test]
fn the_patched_text_page_is_the_one_chapter_8_names_with_filler_on_both_sides() {
    let bytes = read(&lab_lib("libtextrel-textrel.so"));
    let elf = Elf::parse(&bytes).expect("goblin parses libtextrel-textrel.so");
    let text = text_ranges(&elf);
    let in_text: Vec<(u64, u32, String)> = dyn_relocs(&elf)
        .into_iter()
        .filter(|(off, _, _)| in_ranges(&text, *off))
        .collect();
    assert!(
        in_text.iter().all(|(_, t, _)| *t == reloc::R_X86_64_64),
        "relocations in the code that are not R_X86_64_64: {in_text:?}"
    );
    let names: BTreeSet<&str> = in_text.iter().map(|(_, _, n)| n.as_str()).collect();
    assert_eq!(
        names,
        BTreeSet::from(["textrel_counter", "textrel_table"]),
        "the code's relocations: {in_text:?}"
    );
    assert_eq!(in_text.len(), 2, "two relocations in the code: {in_text:?}");
    let pages: BTreeSet<u64> = in_text.iter().map(|(o, _, _)| o & !(PAGE - 1)).collect();
    assert_eq!(pages.len(), 1, "both relocations on one page: {in_text:?}");
    let patched = *pages.first().unwrap();

    // Three pages of filler right before the patched page and three right after it, all
    // inside the code segment.
    let before = symbol(&elf, "textrel_filler_before");
    let after = symbol(&elf, "textrel_filler_after");
    assert_eq!(
        before + 3 * PAGE,
        patched,
        "the filler before ends where the patched page starts"
    );
    assert_eq!(
        after,
        patched + PAGE,
        "the filler after starts on the next page"
    );
    assert!(in_ranges(&text, before) && in_ranges(&text, after + 3 * PAGE - 1));
    assert_eq!(symbol(&elf, "textrel_bump") & !(PAGE - 1), patched);

    let ch = flat(&chapter("ch08-text-relocations.md"));
    let named = format!("`{patched:#x}`");
    for phrase in [
        format!("both on page {named}"),
        format!("the patched instructions, {named}"),
    ] {
        assert!(
            ch.contains(&phrase),
            "chapter 8 must name the patched page: {phrase:?}"
        );
    }
    for (off, _, _) in &in_text {
        assert!(
            ch.contains(&format!("`{off:#x}`")),
            "chapter 8 must give the relocation offset {off:#x}"
        );
    }
    // The answer to chapter 8's "Try next" names the same page and its count.
    let answer = format!(
        "the only text page with relocations is {named}, with {}",
        in_text.len()
    );
    assert!(
        flat(&chapter("answers.md")).contains(&answer),
        "answers.md must say: {answer:?}"
    );
}

#[test]
fn the_pic_build_has_no_relocation_in_its_code_and_two_got_entries() {
    let bytes = read(&lab_lib("libtextrel-pic.so"));
    let elf = Elf::parse(&bytes).expect("goblin parses libtextrel-pic.so");
    let text = text_ranges(&elf);
    let relocs = dyn_relocs(&elf);
    assert!(
        relocs.iter().all(|(o, _, _)| !in_ranges(&text, *o)),
        "no relocation may land in the code of the -fPIC build: {relocs:?}"
    );
    let got: BTreeSet<&str> = relocs
        .iter()
        .filter(|(_, t, _)| *t == reloc::R_X86_64_GLOB_DAT)
        .map(|(_, _, n)| n.as_str())
        .filter(|n| n.starts_with("textrel_"))
        .collect();
    assert_eq!(got, BTreeSet::from(["textrel_counter", "textrel_table"]));
    assert!(elf.dynamic.as_ref().is_some_and(|d| {
        d.dyns
            .iter()
            .all(|d| d.d_tag != goblin::elf::dynamic::DT_TEXTREL)
    }));
}

/// The pages glibc makes read-only after relocation: `_dl_protect_relro` rounds the start
/// of PT_GNU_RELRO down and its end down to a page (glibc elf/dl-reloc.c).
fn relro_pages(path: &Path) -> u64 {
    let bytes = read(path);
    let elf = Elf::parse(&bytes).expect("goblin parses it");
    let r = elf
        .program_headers
        .iter()
        .find(|p| p.p_type == program_header::PT_GNU_RELRO)
        .unwrap_or_else(|| panic!("{} has no PT_GNU_RELRO", path.display()));
    let start = r.p_vaddr & !(PAGE - 1);
    let end = (r.p_vaddr + r.p_memsz) & !(PAGE - 1);
    (end - start) / PAGE
}

/// The libc this test process runs with: the one the book's commands see.
fn libc_path() -> PathBuf {
    let maps = std::fs::read_to_string("/proc/self/maps").expect("maps");
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.rsplit('/').next() == Some("libc.so.6"))
        .map(PathBuf::from)
        .expect("this process maps libc.so.6")
}

/// p_vaddr - p_offset of every PT_LOAD, in order.
fn load_shifts(path: &Path) -> Vec<u64> {
    let bytes = read(path);
    let elf = Elf::parse(&bytes).expect("goblin parses it");
    elf.program_headers
        .iter()
        .filter(|p| p.p_type == program_header::PT_LOAD)
        .map(|p| p.p_vaddr - p.p_offset)
        .collect()
}

#[test]
fn the_segment_layouts_chapter_2_contrasts_are_what_the_linkers_made() {
    // GNU ld (libc): p_vaddr == p_offset for every segment.
    let libc = load_shifts(&libc_path());
    assert!(libc.iter().all(|&d| d == 0), "libc: {libc:x?}");
    // lld (libsolib.so): one more page of shift at every segment boundary.
    let solib = load_shifts(&artifacts().libsolib);
    let want: Vec<u64> = (0..solib.len() as u64).map(|i| i * PAGE).collect();
    assert_eq!(solib, want, "libsolib.so's p_vaddr - p_offset per PT_LOAD");
    // The code segment's two offsets, as the chapter quotes them.
    let bytes = read(&artifacts().libsolib);
    let elf = Elf::parse(&bytes).expect("goblin parses libsolib.so");
    let code = elf
        .program_headers
        .iter()
        .find(|p| p.p_type == program_header::PT_LOAD && p.p_flags & program_header::PF_X != 0)
        .expect("libsolib.so has a code segment");
    let quoted = format!("`{:#x}` against `{:#x}`", code.p_offset, code.p_vaddr);
    // The chapter quotes a release build's library (as every output of the book); a debug
    // build's (`make test PROFILE=dev`) has the same shape at other offsets.
    if cfg!(debug_assertions) {
        crate::util::skip(&format!(
            "chapter 2's offsets not compared: a debug build's libsolib.so ({quoted}), the \
             book quotes a release build's"
        ));
        return;
    }
    assert!(
        flat(&chapter("ch02-anatomy.md")).contains(&quoted),
        "chapter 2 must quote the code segment's p_offset and p_vaddr: {quoted}"
    );
}

#[test]
fn the_relro_page_counts_in_chapter_2_are_what_the_files_say() {
    let libc = relro_pages(&libc_path());
    let solib = relro_pages(&artifacts().libsolib);
    let ch = flat(&chapter("ch02-anatomy.md"));
    let re = Regex::new(r"`libc\.so\.6` has (\d+) RELRO pages, `libsolib\.so` (\d+)").unwrap();
    let c = re.captures(&ch).unwrap_or_else(|| {
        panic!("chapter 2 must say \"`libc.so.6` has N RELRO pages, `libsolib.so` M\"")
    });
    assert_eq!(
        c[1].parse::<u64>().unwrap(),
        libc,
        "libc's RELRO pages, from its PT_GNU_RELRO"
    );
    assert_eq!(
        c[2].parse::<u64>().unwrap(),
        solib,
        "libsolib.so's RELRO pages, from its PT_GNU_RELRO"
    );
    // The answer to chapter 2's "Try next" repeats libc's count, and compares it.
    let same = if libc == solib {
        "as many as"
    } else {
        "unlike"
    };
    let answer = format!("it has {libc} RELRO pages, {same} `libsolib.so`");
    assert!(
        flat(&chapter("answers.md")).contains(&answer),
        "answers.md must say: {answer:?}"
    );
}

/// Two processes of `cmd`, killed and reaped on Drop.
struct Two(Vec<std::process::Child>);

impl Drop for Two {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The answer to chapter 7's "Try next": the pages of libc that two `sleep` processes have
/// each written (copied) by the time they sleep, by segment, as the answer counts them.
#[test]
fn the_private_libc_pages_of_two_sleeps_are_what_the_answers_count() {
    use std::process::{Command, Stdio};
    let spawn = || {
        Command::new("sleep")
            .arg("30")
            .stdin(Stdio::null())
            .spawn()
            .expect("run sleep")
    };
    let two = Two(vec![spawn(), spawn()]);
    let pids: Vec<String> = two.0.iter().map(|c| c.id().to_string()).collect();
    // Started, relocated and asleep: `sleep` reaches nanosleep within milliseconds, and
    // waits there (its /proc/PID/wchan says so; a fixed wait is enough for the count).
    std::thread::sleep(std::time::Duration::from_millis(300));
    let mut args = vec!["inspect", "--json", "--object", "libc.so.6"];
    args.extend(pids.iter().map(String::as_str));
    let run = crate::util::solab(&args);
    assert_eq!(run.code, 0, "solab inspect: {}{}", run.stdout, run.stderr);
    let json = run.json();
    let mut private = std::collections::BTreeMap::<String, u64>::new();
    for p in json["objects"][0]["pages"].as_array().expect("pages") {
        let verdict = p["verdict"].as_str().unwrap_or("");
        if verdict == "private" || verdict == "looks-private" {
            *private
                .entry(p["segment"].as_str().unwrap_or("").to_string())
                .or_default() += crate::util::u(&p["pages"]);
        }
    }
    let total: u64 = private.values().sum();
    let got = |seg: &str| private.get(seg).copied().unwrap_or(0);
    let ch = flat(&chapter("answers.md"));
    let re = Regex::new(
        r"libc has (\d+) pages that are private in both before either did anything: its (\d+) RELRO pages .*?, (\d+) data pages .*?, and (\d+) `\.bss` pages written at start-up: (\d+) KiB per process",
    )
    .unwrap();
    let c = re
        .captures(&ch)
        .expect("answers.md must count libc's private pages between two `sleep` processes");
    let said: Vec<u64> = (1..=5).map(|i| c[i].parse().unwrap()).collect();
    assert_eq!(
        said,
        vec![total, got("relro"), got("data"), got("bss"), total * 4],
        "answers.md's count of libc's private pages (total, RELRO, data, .bss, KiB) against \
         solab inspect's: {private:?}"
    );
    drop(two);
}

#[test]
fn the_o_flag_of_shared_is_shf_gnu_retain_and_the_book_says_so() {
    const SHF_GNU_RETAIN: u64 = 1 << 21; // binutils include/elf/common.h
    let bytes = read(&artifacts().libsolib);
    let elf = Elf::parse(&bytes).expect("goblin parses libsolib.so");
    let shared = elf
        .section_headers
        .iter()
        .find(|s| elf.shdr_strtab.get_at(s.sh_name) == Some(".shared"))
        .expect("libsolib.so has a .shared section");
    let flags = shared.sh_flags;
    assert_eq!(
        flags,
        u64::from(section_header::SHF_WRITE | section_header::SHF_ALLOC) | SHF_GNU_RETAIN,
        ".shared flags: W, A and SHF_GNU_RETAIN"
    );
    // readelf names SHF_GNU_RETAIN `R` only for the GNU and FreeBSD OS/ABIs; otherwise it
    // is an OS-specific flag, `o`.
    assert_eq!(
        bytes[goblin::elf::header::EI_OSABI],
        goblin::elf::header::ELFOSABI_NONE
    );
    let out = std::fs::read_to_string(artifacts().repo.join("docs/src/out/readelf-shared.txt"))
        .expect("readelf-shared.txt");
    assert!(
        out.lines()
            .any(|l| l.contains(".shared") && l.contains(" WAo ")),
        "readelf shows WAo for .shared:\n{out}"
    );
    let ch = chapter("ch02-anatomy.md");
    assert!(ch.contains("`WAo`") && ch.contains("SHF_GNU_RETAIN"));
}

/// The cells of the row of `docs/src/bench-results.md`'s output whose object ends with
/// `name`: PROCS, RESIDENT, FRAMES, SAVED (sizes with their units).
fn bench_row(name: &str) -> (u64, String, String, String) {
    let p = artifacts().repo.join("docs/src/bench-results.md");
    let text = std::fs::read_to_string(&p).expect("bench-results.md");
    let line = text
        .lines()
        .find(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|o| o.ends_with(name))
        })
        .unwrap_or_else(|| panic!("no row for {name} in {}", p.display()));
    let w: Vec<&str> = line.split_whitespace().collect();
    (
        w[1].parse().expect("PROCS"),
        format!("{} {}", w[2], w[3]),
        format!("{} {}", w[4], w[5]),
        format!("{} {}", w[6], w[7]),
    )
}

#[test]
fn the_benchmark_figures_chapter_18_quotes_are_the_benchmarks() {
    let ch = flat(&chapter("ch18-memory-saved.md"));
    let (procs, resident, frames, saved) = bench_row("/python3.11");
    let python = format!(
        "{procs} Python interpreters map `python3.11`: alone they would need {resident} for it, and they use {frames} of frames, a saving of {saved}."
    );
    assert!(ch.contains(&python), "chapter 18 must say: {python}");
    let (procs, _, _, saved) = bench_row("/libc.so.6");
    let libc = format!(
        "The libc row of the same table saves {saved}, but that figure counts every process that mapped libc during the run, {procs} of them"
    );
    assert!(ch.contains(&libc), "chapter 18 must say: {libc}");
}

/// The C shared section of docs/src/ch09-shared-section-c.md: two processes that load
/// libsolib-c.so see one frame for its `.shared` page, and a third process's calls are
/// counted in it.
#[test]
fn the_c_shared_section_is_one_frame_in_two_processes() {
    use crate::util::{Namespace, finish, spawn_host};
    use std::process::Command;
    let a = artifacts();
    let lib = a.bin_dir.join("libsolib-c.so");
    crate::util::require(&lib);
    let hit = a.bin_dir.join("solibc-hit");
    crate::util::require(&hit);
    let ns = Namespace::new("csection");
    let open = format!("open:{}", lib.display());
    let p = spawn_host("P", &ns, &[&open, "touch-all"]);
    let q = spawn_host("Q", &ns, &[&open, "touch-all"]);

    let region = format!(
        "/dev/shm/solibc-u{}-{}",
        nix::unistd::geteuid().as_raw(),
        ns.name
    );
    let counts: Vec<String> = ["1", "10"]
        .iter()
        .map(|n| {
            let r = finish(
                Command::new(&hit)
                    .arg(n)
                    .env("SOLIB_NAMESPACE", &ns.name)
                    .output()
                    .expect("run solibc-hit"),
            );
            assert_eq!(r.code, 0, "solibc-hit: {}{}", r.stdout, r.stderr);
            assert!(
                r.stdout.contains(&format!("status=shared: {region} ")),
                "{}",
                r.stdout
            );
            r.stdout
        })
        .collect();
    assert!(counts[0].trim_end().ends_with("calls=1"), "{}", counts[0]);
    assert!(counts[1].trim_end().ends_with("calls=11"), "{}", counts[1]);
    let meta = std::fs::symlink_metadata(&region).expect("the region exists");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);

    let pids = [p.pid().to_string(), q.pid().to_string()];
    let run = |args: &[&str]| {
        finish(
            Command::new(&a.solab)
                .args(args)
                .args(&pids)
                .output()
                .expect("run solab"),
        )
    };
    let prove = run(&["prove", "--object", "libsolib-c.so"]);
    assert_eq!(
        prove.code, 0,
        "solab prove: {}{}",
        prove.stdout, prove.stderr
    );
    let inspect = run(&["inspect", "--json", "--object", "libsolib-c.so"]).json();
    let pages = inspect["objects"][0]["pages"]
        .as_array()
        .expect("pages")
        .clone();
    let shared: Vec<&serde_json::Value> =
        pages.iter().filter(|p| p["segment"] == "shared").collect();
    assert_eq!(shared.len(), 1, "one .shared page");
    let procs = shared[0]["procs"].as_array().expect("procs");
    assert_eq!(procs.len(), 2);
    // Frame numbers only where the kernel shows them (CAP_SYS_ADMIN in the initial user
    // namespace): as root in a container they read as zero and solab says so.
    if inspect["privileged"] == true {
        let pfns: Vec<u64> = procs
            .iter()
            .map(|p| p["pfn"].as_u64().expect("a frame number, as root"))
            .collect();
        assert!(
            pfns[0] == pfns[1] && pfns[0] != 0,
            "one frame in both: {pfns:?}"
        );
    }
}
