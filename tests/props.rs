//! Property tests of the parsers that take outside bytes: the maps line parser,
//! the ELF page plan, the pagemap/kpage decoders and the clipboard reader. They run in
//! `make test` in a few seconds; `make fuzz` explores the same parsers coverage-guided.
//!
//! Properties: no input makes a parser panic; a maps line printed the way the kernel
//! prints it parses back to the same fields; a page plan covers the load image exactly,
//! sorted, one page per offset; words decode back to what was encoded; a clipboard
//! message written is the message read, and a scribbled region never yields bytes that
//! were not published.

use proptest::collection::vec;
use proptest::prelude::*;
use solab::addr::{PAGE_SIZE, page_down, page_up};
use solab::elf::{self, LoadSegment, Section, SegmentFlags};
use solab::maps::{self, MapTarget, Perms};
use solab::page_words::{PagemapEntry, decode_words, pfn_windows};
use solab::{Pfn, VirtAddr};
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::sync::OnceLock;

#[allow(dead_code)]
#[path = "../solib/src/region.rs"]
mod region;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---- /proc/PID/maps ---------------------------------------------------------------------

/// The kernel's `mangle_path(..., "\n")`: only the newline is escaped, as `\012`.
fn kernel_escape(path: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for &b in path {
        if b == b'\n' {
            out.extend_from_slice(b"\\012");
        } else {
            out.push(b);
        }
    }
    out
}

/// One line as fs/proc/task_mmu.c `show_map_vma` prints it (name padded to column 73).
fn kernel_line(
    start: u64,
    end: u64,
    perms: Perms,
    offset: u64,
    dev: (u32, u32),
    inode: u64,
    name: &[u8],
) -> Vec<u8> {
    let mut line = format!(
        "{start:08x}-{end:08x} {perms} {offset:08x} {:02x}:{:02x} {inode} ",
        dev.0, dev.1
    )
    .into_bytes();
    if !name.is_empty() {
        while line.len() < 73 {
            line.push(b' ');
        }
        line.extend_from_slice(name);
    }
    line
}

fn perms() -> impl Strategy<Value = Perms> {
    (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
        |(read, write, exec, shared)| Perms {
            read,
            write,
            exec,
            shared,
        },
    )
}

/// A file path: `/` then any bytes but NUL (backslashes, octal digits and newlines made
/// common), up to 4,000 bytes.
fn file_path() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        any::<u8>(),
        Just(b'\\'),
        Just(b'\n'),
        Just(b'0'),
        Just(b'7')
    ]
    .prop_filter("no NUL", |b| *b != 0);
    prop_oneof![vec(byte.clone(), 0..64), vec(byte, 3900..4000)]
        .prop_map(|rest| [b"/".as_slice(), &rest].concat())
}

/// A literal `\ooo` (up to `\377`) in a path prints exactly like an escape: the kernel does
/// not escape backslashes (see `literal_backslash_escape_is_ambiguous`).
fn has_escape_lookalike(path: &[u8]) -> bool {
    path.windows(4).any(|w| {
        w[0] == b'\\'
            && (b'0'..=b'3').contains(&w[1])
            && w[2..].iter().all(|c| (b'0'..=b'7').contains(c))
    })
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn maps_parser_never_panics_on_bytes(bytes in vec(any::<u8>(), 0..512)) {
        let _ = maps::parse_maps(&bytes);
        let _ = maps::parse_line(&bytes);
    }

    #[test]
    fn maps_parser_never_panics_on_almost_lines(
        fields in vec(prop_oneof![
            Just("7f00-7f10".to_string()), Just("r-xp".to_string()), Just("00001000".to_string()),
            Just("fe:00".to_string()), Just("123".to_string()), Just("(deleted)".to_string()),
            Just("[vdso]".to_string()), Just("\\012".to_string()), Just("\\".to_string()),
            "[ -~]{0,12}".prop_map(String::from),
        ], 0..9)
    ) {
        let _ = maps::parse_line(fields.join(" ").as_bytes());
    }

    #[test]
    fn a_kernel_printed_file_line_parses_back(
        start in any::<u64>(), len in any::<u64>(), perms in perms(), offset in any::<u64>(),
        major in 0u32..0x1000, minor in 0u32..0x100000, inode in 1u64.., path in file_path(),
        deleted in any::<bool>(),
    ) {
        prop_assume!(!path.ends_with(b" (deleted)") && !has_escape_lookalike(&path));
        let end = start.saturating_add(len);
        let mut name = kernel_escape(&path);
        if deleted {
            name.extend_from_slice(b" (deleted)");
        }
        let line = kernel_line(start, end, perms, offset, (major, minor), inode, &name);
        let e = maps::parse_line(&line).map_err(|r| TestCaseError::fail(format!(
            "{r}: {:?}", String::from_utf8_lossy(&line))))?;
        prop_assert_eq!(e.start, VirtAddr(start));
        prop_assert_eq!(e.end, VirtAddr(end));
        prop_assert_eq!(e.perms, perms);
        prop_assert_eq!(e.offset, offset);
        prop_assert_eq!(e.dev, (major, minor));
        prop_assert_eq!(e.inode, inode);
        let expected = MapTarget::File { path: PathBuf::from(OsString::from_vec(path)).into(), deleted };
        prop_assert_eq!(&e.target, &expected);
        // The whole file, with this line among others, gives the same entry.
        let mut file = kernel_line(0x1000, 0x2000, perms, 0, (0, 0), 0, b"[heap]");
        file.push(b'\n');
        file.extend_from_slice(&line);
        file.push(b'\n');
        let all = maps::parse_maps(&file).map_err(|b| TestCaseError::fail(b.reason))?;
        prop_assert_eq!(all.len(), 2);
        prop_assert!(all[0].is_pseudo("[heap]"));
        prop_assert_eq!(&all[1], &e);
    }

    #[test]
    fn anonymous_and_pseudo_lines_parse_back(
        start in any::<u32>(), perms in perms(), name in "(|\\[heap\\]|\\[stack\\]|\\[anon:[a-z :]{1,20}\\])"
    ) {
        let line = kernel_line(start as u64, start as u64 + 4096, perms, 0, (0, 0), 0, name.as_bytes());
        let e = maps::parse_line(&line).map_err(TestCaseError::fail)?;
        if name.is_empty() {
            prop_assert_eq!(&e.target, &MapTarget::Anonymous);
        } else {
            prop_assert!(e.is_pseudo(&name), "{:?}", e.target);
        }
        prop_assert_eq!(e.file_id(), None);
    }
}

#[test]
fn literal_backslash_escape_is_ambiguous() {
    // A file really named `a\012b` prints exactly like `a<newline>b`: the kernel does not
    // escape backslashes. The parser reads the escape; solab then finds the file through
    // /proc/PID/map_files because the (device, inode) of the path it tried do not match
    // (tests/odd_maps.rs checks that end to end).
    let line = kernel_line(
        0x1000,
        0x2000,
        Perms::default(),
        0,
        (8, 1),
        5,
        b"/tmp/a\\012b",
    );
    let e = maps::parse_line(&line).expect("parse");
    assert_eq!(
        e.path().map(|p| p.as_os_str().as_bytes()),
        Some(&b"/tmp/a\nb"[..])
    );
}

// ---- ELF page plan ----------------------------------------------------------------------

/// A small real shared object to mutate.
fn small_object() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        [
            "/lib/x86_64-linux-gnu/libdl.so.2",
            "/lib/x86_64-linux-gnu/libc.so.6",
        ]
        .iter()
        .find_map(|p| std::fs::read(p).ok())
        .expect("a system shared object to mutate")
    })
}

/// The invariants every plan keeps, checked against its own segments.
fn check_plan(plan: &elf::ElfPlan) -> Result<(), TestCaseError> {
    let pages: Vec<elf::PlannedPage> = plan.pages().collect();
    check_pages(&plan.segments, &pages)?;
    prop_assert_eq!(plan.page_count(), pages.len() as u64);
    for p in &pages {
        prop_assert_eq!(plan.page_at_vaddr(p.vaddr), Some(*p));
    }
    prop_assert!(plan.image_start <= plan.image_end);
    if let (Some(first), Some(last)) = (pages.first(), pages.last()) {
        prop_assert!(first.vaddr >= plan.image_start && last.vaddr < plan.image_end);
    }
    Ok(())
}

/// The pages are exactly the union of the page ranges of the loadable segments, sorted,
/// one per offset, each attributed to the last segment that covers it.
fn check_pages(
    segments: &[LoadSegment],
    pages: &[elf::PlannedPage<'_>],
) -> Result<(), TestCaseError> {
    let mut expected: BTreeSet<u64> = BTreeSet::new();
    // A segment with none of PF_R, PF_W, PF_X (other p_flags bits may be set) maps nothing
    // the plan shows.
    let any = |f: SegmentFlags| f.readable() || f.writable() || f.executable();
    for s in segments.iter().filter(|s| any(s.p_flags)) {
        let mut v = page_down(s.p_vaddr);
        while v < page_up(s.p_vaddr + s.p_memsz) {
            expected.insert(v);
            v += PAGE_SIZE;
        }
    }
    let got: Vec<u64> = pages.iter().map(|p| p.vaddr).collect();
    prop_assert!(
        got.windows(2).all(|w| w[0] < w[1]),
        "pages not sorted or repeated"
    );
    prop_assert_eq!(got, expected.into_iter().collect::<Vec<_>>());
    let image_start = segments
        .iter()
        .map(|s| page_down(s.p_vaddr))
        .min()
        .unwrap_or(0);
    let offsets: BTreeSet<u64> = pages.iter().map(|p| p.offset).collect();
    prop_assert_eq!(offsets.len(), pages.len(), "duplicate offsets");
    for p in pages {
        prop_assert_eq!(p.vaddr % PAGE_SIZE, 0);
        prop_assert_eq!(p.offset, p.vaddr - image_start);
        let seg = &segments[p.load as usize];
        prop_assert!(
            p.vaddr >= page_down(seg.p_vaddr) && p.vaddr < page_up(seg.p_vaddr + seg.p_memsz)
        );
        let last_cover = segments.iter().rposition(|s| {
            s.p_flags != SegmentFlags(0)
                && p.vaddr >= page_down(s.p_vaddr)
                && p.vaddr < page_up(s.p_vaddr + s.p_memsz)
        });
        prop_assert_eq!(Some(p.load as usize), last_cover);
        match p.file_offset {
            Some(off) => {
                prop_assert!(p.vaddr < page_up(seg.p_vaddr + seg.p_filesz));
                prop_assert_eq!(
                    off,
                    page_down(seg.p_offset) + (p.vaddr - page_down(seg.p_vaddr))
                );
            }
            None => prop_assert!(p.vaddr >= page_up(seg.p_vaddr + seg.p_filesz)),
        }
    }
    Ok(())
}

fn segment() -> impl Strategy<Value = LoadSegment> {
    (
        0u64..64,
        0u64..PAGE_SIZE,
        0u64..64,
        0u64..0x8000,
        0u64..0x8000,
        prop::sample::select(vec!["R--", "R-X", "RW-", "RWX", "--X", "---"]),
    )
        .prop_map(
            |(vpage, in_page, fpage, filesz, extra, flags)| LoadSegment {
                p_offset: fpage * PAGE_SIZE + in_page,
                p_vaddr: vpage * PAGE_SIZE + in_page,
                p_filesz: filesz,
                p_memsz: filesz + extra,
                p_flags: SegmentFlags::parse(flags).expect("readelf flags"),
            },
        )
}

fn section() -> impl Strategy<Value = Section> {
    (
        prop::sample::select(vec![".text", ".data", ".bss", ".shared", ".got", ".rodata"]),
        0u64..0x50000,
        0u64..0x4000,
        any::<bool>(),
    )
        .prop_map(|(name, sh_addr, sh_size, nobits)| Section {
            name: name.to_string(),
            sh_addr,
            sh_size,
            nobits,
        })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn plan_never_panics_on_bytes_after_elf_magic(
        class in prop::sample::select(vec![1u8, 2, 0, 9]),
        data in prop::sample::select(vec![1u8, 2, 0]),
        rest in vec(any::<u8>(), 0..2048),
    ) {
        let bytes = [b"\x7fELF".as_slice(), &[class, data, 1], &rest].concat();
        if let Ok(plan) = elf::plan(&bytes) {
            check_plan(&plan)?;
        }
    }

    #[test]
    fn plan_of_a_mutated_real_object_is_consistent_or_an_error(
        flips in vec((any::<prop::sample::Index>(), any::<u8>()), 1..16),
        header_only in any::<bool>(),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = small_object().to_vec();
        for (at, value) in flips {
            // Most flips land in the headers, where the interesting parsing is.
            let span = if header_only { bytes.len().min(0x400) } else { bytes.len() };
            let i = at.index(span);
            bytes[i] = value;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        if let Ok(plan) = elf::plan(&bytes) {
            check_plan(&plan)?;
            let report = solab::commands::elf::ElfReport::new("mutated".into(), &plan);
            let _ = solab::output::text::render_elf(&report);
        }
    }

    #[test]
    fn planned_pages_cover_the_load_image_exactly(
        segments in vec(segment(), 1..5),
        sections in vec(section(), 0..8),
        relro in prop::option::of((0u64..0x50000, 0u64..0x8000)),
        relocs in vec(0u64..0x50000, 0..16),
        textrel in any::<bool>(),
    ) {
        let relro = relro.map(|(s, n)| (s, s + n));
        let plan = elf::plan_from_headers(segments.clone(), sections, relro, &relocs, textrel)
            .expect("small headers plan");
        let pages: Vec<elf::PlannedPage> = plan.pages().collect();
        check_pages(&segments, &pages)?;
        check_plan(&plan)?;
    }
}

#[test]
fn real_object_plan_covers_its_image() {
    let plan = elf::plan(small_object()).expect("plan of a system library");
    check_plan(&plan).expect("plan invariants");
    assert!(plan.pages().next().is_some());
}

// ---- pagemap, kpagecount, kpageflags -----------------------------------------------------

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn words_decode_back(words in vec(any::<u64>(), 0..64), tail in vec(any::<u8>(), 0..8)) {
        let mut bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        let short_tail = tail.len() < 8;
        bytes.extend_from_slice(&tail);
        let decoded = decode_words(&bytes);
        if short_tail {
            prop_assert_eq!(&decoded, &words);
        }
        for w in decoded {
            let e = PagemapEntry(w);
            let _ = format!("{e:?}");
            if let Some(pfn) = e.pfn() {
                prop_assert!(e.present() && pfn.0 == w & ((1 << 55) - 1) && pfn.0 != 0);
            } else {
                prop_assert!(!e.present() || w & ((1 << 55) - 1) == 0);
            }
        }
    }

    #[test]
    fn pfn_windows_cover_every_frame_once(
        pfns in vec(0u64..1 << 20, 0..200), max_gap in 0u64..200, max_len in 1u64..300
    ) {
        let mut sorted: Vec<Pfn> = pfns.into_iter().map(Pfn).collect();
        sorted.sort();
        sorted.dedup();
        let windows = pfn_windows(&sorted, max_gap, max_len);
        let mut i = 0;
        for w in windows.windows(2) {
            prop_assert!(w[0].1 < w[1].0, "windows overlap");
        }
        for (first, last) in &windows {
            prop_assert!(first <= last && last.0 - first.0 < max_len);
            let before = i;
            while i < sorted.len() && sorted[i] <= *last {
                prop_assert!(sorted[i] >= *first);
                i += 1;
            }
            prop_assert!(i > before, "empty window");
        }
        prop_assert_eq!(i, sorted.len());
    }
}

// ---- the clipboard reader -----------------------------------------------------------------

#[repr(C, align(4096))]
struct Page([u8; region::REGION_SIZE]);

const CLIP_CURRENT: usize = 24;
const SLOTS: usize = 64;
const SLOT_SIZE: usize = 16 + region::CLIP_CAPACITY;

fn as_region(page: &Page) -> &region::SharedRegion {
    // SAFETY: SharedRegion is repr(C, align(4096)), REGION_SIZE bytes of atomics (any bit
    // pattern is valid); Page has that size and alignment.
    unsafe { &*(page.0.as_ptr() as *const region::SharedRegion) }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn clipboard_message_written_is_read(
        msgs in vec(vec(any::<u8>(), 0..=region::CLIP_CAPACITY), 1..4), out_len in 0usize..2100
    ) {
        let r = region::SharedRegion::initial();
        for m in &msgs {
            prop_assert!(r.clipboard_write_locked(m).is_ok());
        }
        let last = msgs.last().expect("one message");
        let mut out = vec![0u8; out_len];
        prop_assert_eq!(r.clipboard_read(&mut out), Some(last.len()));
        let take = last.len().min(out_len);
        prop_assert_eq!(&out[..take], &last[..take]);
    }

    #[test]
    fn scribbled_region_reads_only_the_published_slot(
        image in vec(any::<u8>(), region::REGION_SIZE), len in 0usize..=region::CLIP_CAPACITY
    ) {
        let mut page = Page([0; region::REGION_SIZE]);
        page.0.copy_from_slice(&image);
        let _ = region::check_header(&page.0);
        let slot = SLOTS + (page.0[CLIP_CURRENT] as usize & 1) * SLOT_SIZE;
        page.0[slot] &= !1; // even: published
        page.0[slot + 8..slot + 16].copy_from_slice(&(len as u64).to_le_bytes());
        let mut out = vec![0u8; region::CLIP_CAPACITY];
        prop_assert_eq!(as_region(&page).clipboard_read(&mut out), Some(len));
        prop_assert_eq!(&out[..len], &page.0[slot + 16..slot + 16 + len]);
    }
}

/// A slot a writer left odd, or a length no writer can publish, makes the reader give up
/// after its patience (1 s) with `None` rather than return bytes or read out of bounds.
#[test]
fn unpublishable_slots_are_refused() {
    let cases = [
        (true, 5u64),
        (false, region::CLIP_CAPACITY as u64 + 1),
        (false, u64::MAX),
    ];
    std::thread::scope(|s| {
        for (odd, len) in cases {
            s.spawn(move || {
                let mut page = Page([0; region::REGION_SIZE]);
                page.0[SLOTS] = odd as u8;
                page.0[SLOTS + 8..SLOTS + 16].copy_from_slice(&len.to_le_bytes());
                let mut out = [0u8; 16];
                let got = as_region(&page).clipboard_read(&mut out);
                assert_eq!(got, None, "odd={odd} len={len}");
            });
        }
    });
}

#[test]
fn header_check_names_each_field() {
    let r = region::SharedRegion::initial();
    let mut page = Page([0; region::REGION_SIZE]);
    // SAFETY: reading REGION_SIZE bytes of a SharedRegion we own; nothing writes it.
    unsafe {
        std::ptr::copy_nonoverlapping(
            &r as *const region::SharedRegion as *const u8,
            page.0.as_mut_ptr(),
            region::REGION_SIZE,
        )
    };
    assert_eq!(region::check_header(&page.0), Ok(()));
    page.0[12] = 1;
    assert!(matches!(
        region::check_header(&page.0),
        Err(region::BadHeader::Size(_))
    ));
}

// ---- inputs the fuzzers found -------------------------------------------------------------

/// The fuzz targets: the `[[bin]]` names of fuzz/Cargo.toml, the one list of them.
fn fuzz_targets() -> Vec<String> {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/Cargo.toml");
    let text = std::fs::read_to_string(&manifest).expect("fuzz/Cargo.toml");
    let mut targets = Vec::new();
    let mut in_bin = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if in_bin && key.trim() == "name" {
            targets.push(value.trim().trim_matches('"').to_string());
        }
    }
    assert!(!targets.is_empty(), "no [[bin]] in {}", manifest.display());
    targets
}

/// Every input a fuzz target once failed on (fuzz/regressions/TARGET/) stays fixed: the
/// parser answers within a second, without panicking, and a plan keeps its invariants.
/// Each directory there is a fuzz target's, and each is replayed here.
#[test]
fn fuzz_regressions_stay_fixed() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let targets = fuzz_targets();
    for e in std::fs::read_dir(&dir).expect("fuzz/regressions").flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        assert!(
            targets.contains(&name),
            "{}: no fuzz target {name} in fuzz/Cargo.toml",
            e.path().display()
        );
    }
    let mut seen = 0;
    for target in &targets {
        let Ok(files) = std::fs::read_dir(dir.join(target)) else {
            continue;
        };
        for f in files {
            let path = f.expect("regression entry").path();
            let bytes = std::fs::read(&path).expect("read regression input");
            let started = std::time::Instant::now();
            match target.as_str() {
                "elf_plan" => {
                    if let Ok(plan) = elf::plan(&bytes) {
                        check_plan(&plan).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                    }
                }
                "maps_parse" => drop(maps::parse_maps(&bytes)),
                "pagemap_decode" => drop(decode_words(&bytes)),
                _ => panic!(
                    "{}: inputs of fuzz target {target}, which this test does not replay",
                    path.display()
                ),
            }
            let took = started.elapsed();
            assert!(
                took < std::time::Duration::from_secs(1),
                "{} took {took:?}",
                path.display()
            );
            seen += 1;
        }
    }
    assert!(seen > 0, "no regression inputs under {}", dir.display());
}

/// A fuzz finding: a `PT_LOAD` with `p_memsz` 0x4924...: planning it page by page would
/// take minutes and gigabytes. Such headers are refused with the limit named.
#[test]
fn absurd_p_memsz_is_refused() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/elf_plan");
    let bytes = std::fs::read(dir.join("timeout-1851158c42ba899d38a5fdbecb3d92136f228eb2"))
        .expect("regression input");
    let e = elf::plan(&bytes).expect_err("p_memsz beyond the limit");
    assert!(e.reason.contains("solab plans images up to"), "{e}");
}
