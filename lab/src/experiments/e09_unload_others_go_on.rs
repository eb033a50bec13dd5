//! Experiment 9: one process unloads libsolib.so while two go on; where its frames go (the
//! file's page cache), and what a process started after the last unload finds.

use super::{Experiment, Outcome, hosts, one_frame_words, refs, see_shared_page, text_row, weak};
use crate::ctx::{self, As, Host, Lab, field, field_u64};
use crate::view;
use anyhow::{Context, Result, anyhow, bail};
use solab::elf::SegmentKind;
use solab::inspect_report::ObjectReport;
use solab::sharing::PageState;
use std::path::{Path, PathBuf};

pub const EXPERIMENT: Experiment = Experiment {
    id: 9,
    title: "Unloading: the others go on",
    question: "Why can another process go on using a library after one is done with it? A unloads libsolib.so (dlclose): do B and C keep its frames, its shared counter and clipboard? Where do the text frames go, and does a new process find them when every process let go?",
    run: unload_others_go_on,
};

/// Which pages of the file at `path` are in the page cache: mincore(2) on a mapping of the
/// lab's own, which faults in no page (fincore(1) asks the same way).
fn cached_pages(path: &Path) -> Result<Vec<bool>> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let len = f.metadata()?.len() as usize;
    if len == 0 {
        return Ok(Vec::new());
    }
    // SAFETY: a read-only shared mapping of a file we opened, unmapped below; mincore's
    // vector has one byte per page of it.
    unsafe {
        let addr = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            f.as_raw_fd(),
            0,
        );
        if addr == libc::MAP_FAILED {
            bail!(
                "cannot map {}: {}",
                path.display(),
                std::io::Error::last_os_error()
            );
        }
        let mut vec = vec![0u8; len.div_ceil(4096)];
        let rc = libc::mincore(addr, len, vec.as_mut_ptr());
        let err = std::io::Error::last_os_error();
        libc::munmap(addr, len);
        if rc != 0 {
            bail!("mincore on {}: {err}", path.display());
        }
        Ok(vec.iter().map(|b| b & 1 == 1).collect())
    }
}

/// The lines of /proc/PID/maps that map the file `path` (inode `inode`).
fn mappings_of(pid: i32, path: &str, inode: Option<u64>) -> Result<Vec<solab::maps::MapEntry>> {
    let file = format!("/proc/{pid}/maps");
    let bytes = std::fs::read(&file).with_context(|| format!("cannot read {file}"))?;
    let entries = solab::maps::parse_maps(&bytes)
        .map_err(|e| anyhow!("{file} line {}: {}", e.line, e.reason))?;
    Ok(entries
        .into_iter()
        .filter(|e| {
            e.path().is_some_and(|p| p == Path::new(path)) && inode.is_none_or(|i| e.inode == i)
        })
        .collect())
}

/// `fincore --raw --noheadings --bytes --output PAGES,SIZE FILE`: the file's pages in the
/// page cache and its size, as util-linux counts them; None when fincore cannot run.
fn fincore(lab: &mut Lab, path: &str) -> Option<(u64, u64)> {
    let args = [
        "--raw",
        "--noheadings",
        "--bytes",
        "--output",
        "PAGES,SIZE",
        path,
    ];
    lab.note_command(format!("fincore {}", args.join(" ")));
    let out = std::process::Command::new("fincore")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output();
    let line = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        Ok(o) => {
            lab.see(format!(
                "fincore failed ({}): {}",
                o.status,
                String::from_utf8_lossy(&o.stderr).trim()
            ));
            return None;
        }
        Err(e) => {
            lab.see(format!("fincore cannot run ({e}): util-linux has it"));
            return None;
        }
    };
    println!("    {}", lab.style.dim(&line));
    let mut w = line.split_whitespace().map(|v| v.parse::<u64>().ok());
    let pages = w.next().flatten()?;
    let size = w.next().flatten()?;
    Some((pages, size))
}

fn fincore_words(f: Option<(u64, u64)>) -> String {
    match f {
        Some((pages, size)) => format!(
            "fincore: {pages} of the file's {} pages in the page cache",
            size.div_ceil(4096)
        ),
        None => "fincore: no answer (see above)".into(),
    }
}

/// A text page of the library as A mapped it before unloading.
struct TextPage {
    /// From the load base (solab's page offset).
    offset: u64,
    /// In the file (mincore's index is this / 4096).
    file_offset: u64,
    /// A's frame, with CAP_SYS_ADMIN.
    pfn: Option<u64>,
}

/// "A used pfn 0x1234; " with frame numbers, nothing without.
fn used_by_a(pfn: Option<u64>) -> String {
    pfn.map_or(String::new(), |p| format!("A used pfn {p:#x}; "))
}

/// `grep -c PATH /proc/PID/maps`, counted by the lab (the line must name the file's inode
/// too), shown with its answer.
fn count_mappings(lab: &mut Lab, pid: i32, path: &str, inode: Option<u64>) -> Result<usize> {
    lab.note_command(format!("grep -c {path} /proc/{pid}/maps"));
    let n = mappings_of(pid, path, inode)?.len();
    println!("    {}", lab.style.dim(&n.to_string()));
    Ok(n)
}

/// `ls REGION`: the lab's regions, shown as ls would answer.
fn list_region(lab: &mut Lab, region: &str) -> Vec<PathBuf> {
    lab.note_command(format!("ls {region}"));
    let found = ctx::regions(&lab.ns);
    let answer = if found.iter().any(|p| p == Path::new(region)) {
        region.to_string()
    } else {
        format!("ls: cannot access '{region}': No such file or directory")
    };
    println!("    {}", lab.style.dim(&answer));
    found
}

fn region_names(ns: &str) -> String {
    let r = ctx::regions(ns);
    if r.is_empty() {
        "none".into()
    } else {
        r.iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The library every step watches.
const LIB: &str = "libsolib.so";
/// What A puts on the clipboard before it unloads, for C to read after.
const MSG: &str = "left by A";

/// What step 1 saw while A, B and C used the library, which the later steps compare with.
struct Before {
    is_weak: bool,
    /// The library's file as the processes map it, and its inode.
    path: String,
    inode: Option<u64>,
    /// A's present text pages.
    text: Vec<TextPage>,
    /// The `.shared` page's offset and A's frame there.
    shared: Option<(u64, Option<u64>)>,
    /// The lab's regions while the three ran.
    region: Vec<PathBuf>,
}

/// A's text pages as step 3 found them in B and C after A unloaded.
struct InOthers {
    /// On the frames A used (without frame numbers: file pages in both).
    same_text: usize,
    /// File pages (pagemap bit 61) in both.
    file_pages: usize,
    /// Not anonymous (kpageflags) in both.
    not_anon: usize,
}

/// The last two unloads (step 5).
struct LastUnloads {
    /// B's and C's dlclose returned 0 and the loader let go of the library.
    unloaded: bool,
    /// The lab's regions after B's unload, and after C's.
    region_after_b: Vec<PathBuf>,
    region_after_c: Vec<PathBuf>,
}

/// What D, started after every process let go, found (step 5).
struct FoundByD {
    /// Text pages in the page cache when no process mapped the library.
    kept: usize,
    /// D's text pages on the very frames A used.
    same: usize,
}

/// The story in five steps; each says what it saw and adds what did not hold to `failed`.
fn unload_others_go_on(lab: &mut Lab) -> Result<Outcome> {
    let mut hs = hosts(lab, As::Me, &["A", "B", "C"], &["touch"])?;
    lab.act(&mut hs[0], &format!("clip-set:{MSG}"))?;
    lab.act(&mut hs[0], "add:2,3")?;
    let mut failed: Vec<String> = Vec::new();
    let before = one_copy_in_three(lab, &hs, &mut failed)?;
    a_unloads_and_runs_on(lab, &mut hs[0], &before, &mut failed)?;
    let others = b_and_c_go_on(lab, &mut hs, &before, &mut failed)?;
    the_frames_are_the_files(lab, &before, &others, &mut failed)?;
    let last = b_and_c_let_go(lab, hs, &before)?;
    let found = a_new_process_finds_the_text(lab, &before, &last, &mut failed)?;

    let (is_weak, n, kept, same) = (before.is_weak, before.text.len(), found.kept, found.same);
    let pass = failed.is_empty();
    Ok(Outcome {
        pass,
        weak: is_weak,
        why: if !pass {
            format!("step {}", failed.join("; step "))
        } else if is_weak {
            format!(
                "A's dlclose took its mappings only; B and C went on with their text pages, counter and clipboard; the text stayed in the file's page cache ({kept} of {n} pages after every process let go, by mincore) and the last unload removed the region (weak: no frame numbers)"
            )
        } else {
            format!(
                "A's dlclose took its mappings only; B and C went on on the same frames, with the counter and clipboard; those frames belong to the file's page cache, where D found {same} of {n} text pages again; the last unload removed the region and D started a fresh one"
            )
        },
    })
}

/// A's present text pages in `obj`, each with its offset in the file (from A's maps).
fn a_text_pages(obj: &ObjectReport, a: &Host, inode: Option<u64>) -> Result<Vec<TextPage>> {
    let path = &obj.path;
    let a_maps = mappings_of(a.pid, path, inode)?;
    let mut text: Vec<TextPage> = Vec::new();
    for p in view::pages_of(obj, SegmentKind::Text) {
        let Some(in_a) = view::proc_of(p, a).filter(|q| q.present) else {
            continue;
        };
        let v = in_a.vaddr.0;
        let m = a_maps
            .iter()
            .find(|m| m.start.0 <= v && v < m.end.0)
            .ok_or_else(|| anyhow!("A maps no line of {path} at {v:#x}"))?;
        text.push(TextPage {
            offset: p.offset,
            file_offset: m.offset + (v - m.start.0),
            pfn: view::pfn(p, a),
        });
    }
    Ok(text)
}

/// Step 1: one copy of the text, one `.shared` page.
fn one_copy_in_three(lab: &mut Lab, hs: &[Host], failed: &mut Vec<String>) -> Result<Before> {
    let report = lab.inspect(As::Me, LIB, &refs(hs))?;
    let is_weak = weak(&report);
    let words = one_frame_words(is_weak);
    let want = view::shared_verdict(is_weak);
    let obj = view::object(&report, LIB)?;
    let (path, inode) = (obj.path.clone(), obj.inode);
    let t = view::tally(obj, SegmentKind::Text, hs.len());
    lab.see(format!("1. three processes use {LIB}:"));
    text_row(lab, LIB, &t, hs.len());
    let text = a_text_pages(obj, &hs[0], inode)?;
    let r = refs(hs);
    let shared_page = view::pages_of(obj, SegmentKind::Shared).next();
    let mut shared_ok = shared_page.is_some();
    let shared = shared_page.map(|p| (p.offset, view::pfn(p, &hs[0])));
    if let Some(p) = shared_page {
        shared_ok &= see_shared_page(lab, (&format!("{LIB:<14} .shared page"), ""), p, &r, want);
    }
    let region = ctx::regions(&lab.ns);
    lab.see(format!("the shared region: {}", region_names(&lab.ns)));
    let step1 = t.pages > 0
        && t.shared == t.pages
        && t.not_shared.is_empty()
        && text.len() as u64 == t.pages
        && shared_ok
        && region.len() == 1;
    if !step1 {
        failed.push(format!(
            "1 (text pages {} of {} {words}, A has {} present; .shared {} and shared-window in all: {shared_ok}; regions: {})",
            t.shared,
            t.pages,
            text.len(),
            want.name(),
            region.len()
        ));
    }
    Ok(Before {
        is_weak,
        path,
        inode,
        text,
        shared,
        region,
    })
}

/// Step 2: A unloads: its mappings go, the loader's count reaches zero, A runs on.
fn a_unloads_and_runs_on(
    lab: &mut Lab,
    a: &mut Host,
    before: &Before,
    failed: &mut Vec<String>,
) -> Result<()> {
    let (path, inode) = (before.path.as_str(), before.inode);
    let a_pid = a.pid;
    let mapped_before = count_mappings(lab, a_pid, path, inode)?;
    let unload = lab.act(a, "unload")?;
    let mapped_after = count_mappings(lab, a_pid, path, inode)?;
    let alive = lab.act(a, "sleep:1").is_ok();
    let dlclose_ok = field(&unload, "dlclose") == Some("0");
    let zero = field(&unload, "still_loaded") == Some("no");
    lab.see(format!(
        "2. A's maps: {mapped_before} lines map {LIB} before the unload, {mapped_after} after; dlclose returned {}, dlopen(RTLD_NOLOAD) {}; A {}",
        field(&unload, "dlclose").unwrap_or("?"),
        if zero {
            "no longer finds it: the loader's reference count in A reached zero"
        } else {
            "still finds it: A still holds a reference"
        },
        if alive {
            "still runs and answers"
        } else {
            "did not answer"
        }
    ));
    let step2 = mapped_before > 0 && mapped_after == 0 && dlclose_ok && zero && alive;
    if !step2 {
        failed.push(format!(
            "2 (A's mappings {mapped_before} -> {mapped_after}; dlclose 0: {dlclose_ok}; count reached zero: {zero}; A alive: {alive})"
        ));
    }
    Ok(())
}

/// Step 3: B and C are untouched: the text pages and the `.shared` page as before A unloaded,
/// the counter and the clipboard as A left them.
fn b_and_c_go_on(
    lab: &mut Lab,
    hs: &mut [Host],
    before: &Before,
    failed: &mut Vec<String>,
) -> Result<InOthers> {
    let (others, shared_same) = b_and_c_keep_the_pages(lab, [&hs[1], &hs[2]], before)?;
    let add = lab.act(&mut hs[1], "add:4,5")?;
    let clip = lab.act(&mut hs[2], "clip-get")?;
    let counters = lab.act(&mut hs[2], "counters")?;
    let calls_ok = field_u64(&add, "result")? == 9
        && field_u64(&add, "shared_calls")? == 2
        && field_u64(&counters, "shared_calls")? == 2;
    let clip_ok = clip.split_once("text=").map(|x| x.1) == Some(MSG);
    lab.see(format!(
        "   B's solib_add(4, 5) = {}; the shared counter is {} (A's call and B's), C reads it too: {}; C reads the clipboard A set: {:?}",
        field(&add, "result").unwrap_or("?"),
        field(&add, "shared_calls").unwrap_or("?"),
        field(&counters, "shared_calls").unwrap_or("?"),
        clip.split_once("text=").map_or("", |x| x.1)
    ));
    let (same_text, n) = (others.same_text, before.text.len());
    let step3 = n > 0 && same_text == n && shared_same && calls_ok && clip_ok;
    if !step3 {
        failed.push(format!(
            "3 (text pages as before in B and C: {same_text} of {n}; .shared as before: {shared_same}; calls work: {calls_ok}; clipboard kept: {clip_ok})"
        ));
    }
    Ok(others)
}

/// Step 3's pages: A's text pages in B and C, and whether their `.shared` page is the one
/// A had (the same frame, with frame numbers) and a shared window in both.
fn b_and_c_keep_the_pages(
    lab: &mut Lab,
    bc: [&Host; 2],
    before: &Before,
) -> Result<(InOthers, bool)> {
    let is_weak = before.is_weak;
    let after = lab.inspect(As::Me, LIB, &bc)?;
    let obj = view::object(&after, LIB)?;
    let (others, moved) = text_in_b_and_c(obj, &bc, before)?;
    let (same_text, n) = (others.same_text, before.text.len());
    if is_weak {
        lab.see(format!(
            "3. B and C after A's unload: {same_text} of {n} text pages still present in both as file pages (no frame numbers without CAP_SYS_ADMIN: weak){}",
            if moved.is_empty() {
                String::new()
            } else {
                format!("; not: {}", view::offsets(&moved))
            }
        ));
    } else {
        lab.see(format!(
            "3. B and C after A's unload: {same_text} of {n} text pages on the very frames A used{}",
            if moved.is_empty() {
                String::new()
            } else {
                format!("; other frames at {}", view::offsets(&moved))
            }
        ));
    }
    if let Some(tp) = before.text.first() {
        let p = view::page_at(obj, tp.offset)?;
        lab.see(format!(
            "   e.g. text page at offset {:#x}: {}now {}",
            tp.offset,
            used_by_a(tp.pfn),
            view::frames(p, &bc)
        ));
    }
    let mut shared_same = false;
    if let (Some((off, pfn_a)), Some(p)) = (
        before.shared,
        view::pages_of(obj, SegmentKind::Shared).next(),
    ) {
        let windows = bc
            .iter()
            .all(|h| view::state_is(p, h, PageState::SharedWindow));
        shared_same = windows
            && p.offset == off
            && (is_weak || (pfn_a.is_some() && bc.iter().all(|h| view::pfn(p, h) == pfn_a)));
        lab.see(format!(
            "   .shared page at offset {off:#x}: {}now {}, states {}",
            used_by_a(pfn_a),
            view::frames(p, &bc),
            bc.iter()
                .map(|h| view::state(p, h))
                .collect::<Vec<_>>()
                .join("/")
        ));
    }
    Ok((others, shared_same))
}

/// A's text pages in B and C's report `obj`, counted, and the offsets of those not as A
/// had them.
fn text_in_b_and_c(
    obj: &ObjectReport,
    bc: &[&Host; 2],
    before: &Before,
) -> Result<(InOthers, Vec<u64>)> {
    let mut others = InOthers {
        same_text: 0,
        file_pages: 0,
        not_anon: 0,
    };
    let mut moved: Vec<u64> = Vec::new();
    for tp in &before.text {
        let p = view::page_at(obj, tp.offset)?;
        let file_in_both = bc.iter().all(|h| view::state_is(p, h, PageState::File));
        if file_in_both {
            others.file_pages += 1;
        }
        if bc
            .iter()
            .all(|h| view::proc_of(p, h).is_some_and(|q| !q.flags.iter().any(|f| f == "anon")))
        {
            others.not_anon += 1;
        }
        let same = if before.is_weak {
            file_in_both
        } else {
            tp.pfn.is_some() && bc.iter().all(|h| view::pfn(p, h) == tp.pfn)
        };
        if same {
            others.same_text += 1;
        } else {
            moved.push(tp.offset);
        }
    }
    Ok((others, moved))
}

/// How many of A's text pages `cached` (mincore's answer, one entry per page of the file)
/// says are in the page cache.
fn in_cache(text: &[TextPage], cached: &[bool]) -> usize {
    text.iter()
        .filter(|tp| cached.get((tp.file_offset / 4096) as usize) == Some(&true))
        .count()
}

/// Step 4: the text frames belong to the file's page cache, not to A.
fn the_frames_are_the_files(
    lab: &mut Lab,
    before: &Before,
    others: &InOthers,
    failed: &mut Vec<String>,
) -> Result<()> {
    let (is_weak, path, n) = (before.is_weak, before.path.as_str(), before.text.len());
    let InOthers {
        same_text,
        file_pages,
        not_anon,
    } = *others;
    let cached = cached_pages(Path::new(path))?;
    let cached_now = in_cache(&before.text, &cached);
    let fc = fincore(lab, path);
    if is_weak {
        lab.see(format!(
            "4. A maps none of them; B and C map all {file_pages} of {n} text pages as file pages (pagemap bit 61: a page of the file, not anonymous memory; which frame cannot be seen without CAP_SYS_ADMIN: weak)"
        ));
    } else {
        lab.see(format!(
            "4. the frames A used stay in memory without A: B and C map {same_text} of those {n}; {file_pages} of {n} are file pages (pagemap bit 61) and {not_anon} of {n} are not anonymous (kpageflags): frames of the file's page cache, which A only mapped"
        ));
    }
    lab.see(format!(
        "   mincore(2) on the file: {cached_now} of its {n} text pages in the page cache; {}",
        fincore_words(fc)
    ));
    let step4 = n > 0
        && cached_now == n
        && file_pages == n
        && (is_weak || (same_text == n && not_anon == n))
        && fc.is_some_and(|(pages, _)| pages as usize >= n);
    if !step4 {
        failed.push(format!(
            "4 (text pages in the page cache: {cached_now} of {n}; file pages in B and C: {file_pages}; not anonymous: {not_anon}; fincore: {fc:?})"
        ));
    }
    Ok(())
}

/// Step 5, first half: B and C let go; the last removes the region; every process exits.
fn b_and_c_let_go(lab: &mut Lab, mut hs: Vec<Host>, before: &Before) -> Result<LastUnloads> {
    let region_path = before
        .region
        .first()
        .map_or_else(|| "/dev/shm".to_string(), |p| p.display().to_string());
    let b_unload = lab.act(&mut hs[1], "unload")?;
    let region_after_b = list_region(lab, &region_path);
    let c_unload = lab.act(&mut hs[2], "unload")?;
    let region_after_c = list_region(lab, &region_path);
    let unloaded = [&b_unload, &c_unload]
        .iter()
        .all(|l| field(l, "dlclose") == Some("0") && field(l, "still_loaded") == Some("no"));
    lab.see(format!(
        "5. after B's unload the region is {}; after C's, the last one: {}",
        if region_after_b.is_empty() {
            "gone".to_string()
        } else {
            "still there (C uses it)".to_string()
        },
        if region_after_c.is_empty() {
            "removed"
        } else {
            "still there"
        }
    ));
    for h in hs.iter_mut() {
        lab.act(h, "exit")?;
    }
    Ok(LastUnloads {
        unloaded,
        region_after_b,
        region_after_c,
    })
}

/// D's text pages against A's (step 5).
struct DText {
    /// On the very frames A used.
    same: usize,
    /// Not in the page cache when D started: read again.
    reread: Vec<u64>,
    /// In the page cache when D started, yet on another frame.
    lost: Vec<u64>,
    /// File pages in D.
    d_file: usize,
}

/// A's text pages in D's report `obj`; `cached` is mincore's answer before D started.
fn text_in_d(obj: &ObjectReport, d: &Host, before: &Before, cached: &[bool]) -> Result<DText> {
    let is_weak = before.is_weak;
    let mut t = DText {
        same: 0,
        reread: Vec::new(),
        lost: Vec::new(),
        d_file: 0,
    };
    for tp in &before.text {
        let p = view::page_at(obj, tp.offset)?;
        if view::state_is(p, d, PageState::File) {
            t.d_file += 1;
        }
        let was_cached = cached.get((tp.file_offset / 4096) as usize) == Some(&true);
        let same_frame = !is_weak && tp.pfn.is_some() && view::pfn(p, d) == tp.pfn;
        match (was_cached, same_frame) {
            (_, true) => t.same += 1,
            (false, false) => t.reread.push(tp.offset),
            // Cached when D started, yet on another frame (with frame numbers to tell).
            (true, false) if !is_weak => t.lost.push(tp.offset),
            (true, false) => {}
        }
    }
    Ok(t)
}

/// Step 5, second half: with no process mapping the library, its text stays in the page cache;
/// a new process D maps those frames again and starts a fresh region.
fn a_new_process_finds_the_text(
    lab: &mut Lab,
    before: &Before,
    last: &LastUnloads,
    failed: &mut Vec<String>,
) -> Result<FoundByD> {
    let (is_weak, path, n) = (before.is_weak, before.path.as_str(), before.text.len());
    let cached = cached_pages(Path::new(path))?;
    let kept = in_cache(&before.text, &cached);
    let fc2 = fincore(lab, path);
    lab.see(format!(
        "   no process maps {LIB} now; mincore(2): {kept} of its {n} text pages still in the page cache; {}",
        fincore_words(fc2)
    ));
    let mut d = lab.host("D", As::Me, &["touch"])?;
    let status = lab.act(&mut d, "status")?;
    let clip = lab.act(&mut d, "clip-get")?;
    let counters = lab.act(&mut d, "counters")?;
    let fresh = status.contains("created it from the section's initial values")
        && field(&clip, "len") == Some("0")
        && field_u64(&counters, "shared_calls")? == 0;
    let report_d = lab.inspect(As::Me, LIB, &[&d])?;
    let obj = view::object(&report_d, LIB)?;
    let DText {
        same,
        reread,
        lost,
        d_file,
    } = text_in_d(obj, &d, before, &cached)?;
    if is_weak {
        lab.see(format!(
            "   D maps {d_file} of the {n} text pages as file pages; {kept} were in the page cache before it started (which frames cannot be seen without CAP_SYS_ADMIN: weak)"
        ));
    } else {
        lab.see(format!(
            "   D's text: {same} of {n} pages on the very frames A, B and C used{}{}",
            if reread.is_empty() {
                String::new()
            } else {
                format!(
                    "; {} the page cache had dropped, read again into other frames: {}",
                    reread.len(),
                    view::offsets(&reread)
                )
            },
            if lost.is_empty() {
                String::new()
            } else {
                format!(
                    "; {} cached yet on other frames: {}",
                    lost.len(),
                    view::offsets(&lost)
                )
            }
        ));
    }
    if let Some(tp) = before.text.first() {
        let p = view::page_at(obj, tp.offset)?;
        lab.see(format!(
            "   e.g. text page at offset {:#x}: {}D: {}",
            tp.offset,
            used_by_a(tp.pfn),
            view::frames(p, &[&d])
        ));
    }
    if let (Some((off, pfn_a)), Some(p)) = (
        before.shared,
        view::pages_of(obj, SegmentKind::Shared).next(),
    ) {
        lab.see(format!(
            "   D's .shared page at offset {off:#x}: {}{}, state {}: a fresh region, clipboard length {}, shared_calls={}",
            view::frames(p, &[&d]),
            pfn_a.map_or(String::new(), |x| format!(" (A, B and C used {x:#x})")),
            view::state(p, &d),
            field(&clip, "len").unwrap_or("?"),
            field(&counters, "shared_calls").unwrap_or("?")
        ));
    }
    let LastUnloads {
        unloaded,
        region_after_b,
        region_after_c,
    } = last;
    let step5 = *unloaded
        && region_after_b.len() == 1
        && region_after_c.is_empty()
        && fresh
        && kept > 0
        && d_file == n
        && lost.is_empty()
        && (is_weak || same == kept);
    if !step5 {
        failed.push(format!(
            "5 (B and C unloaded: {unloaded}; region kept after B: {}, removed after C: {}; D's section fresh: {fresh}; text pages cached with no process: {kept} of {n}; D on the same frames: {same}; cached yet elsewhere: {})",
            region_after_b.len() == 1,
            region_after_c.is_empty(),
            lost.len()
        ));
    }
    Ok(FoundByD { kept, same })
}
