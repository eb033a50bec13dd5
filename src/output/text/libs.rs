//! `solab libs`: per ELF object, and with `--by`, per group of processes.

use super::{MIN_PATH_WIDTH, Matched, amount, csv_field, matched_line, short_path};
use crate::commands::group_key::GroupBy;
use crate::commands::libs::by_group::LibsGroupsReport;
use crate::commands::libs::{LibsReport, PssSource, Totals};
use crate::output::escape::escape_controls;
use crate::output::terminal::{Style, YELLOW, paint};
use std::fmt::Write;

/// How `solab libs` draws its table.
#[derive(Default)]
pub struct LibsView<'a> {
    /// How many objects `--top` left out.
    pub hidden: usize,
    /// Sizes as byte counts (`--bytes`).
    pub bytes: bool,
    /// The terminal's width: paths are shortened (from the left) so that rows fit, down to
    /// [`MIN_PATH_WIDTH`]. `None` (`--wide`, or not a terminal): never shortened.
    pub width: Option<usize>,
    pub style: Style,
    pub matched: Option<Matched<'a>>,
}

/// The human table: what was scanned and how, a row per object, then the totals.
pub fn render_libs(r: &LibsReport, view: &LibsView) -> String {
    let mut o = String::new();
    libs_header(&mut o, r, view);
    o = super::wrap(&o, view.width);
    libs_objects(&mut o, r, view);
    let mut rest = String::new();
    libs_totals(&mut rest, r, view.bytes);
    render_libs_notes(&mut rest, r, view);
    o.push_str(&super::wrap(&rest, view.width));
    o
}

/// After the totals: the objects with text relocations, and those not analyzed.
fn render_libs_notes(o: &mut String, r: &LibsReport, view: &LibsView) {
    for x in r.objects.iter().filter(|x| x.textrel) {
        let _ = writeln!(
            o,
            "{}: {} has text relocations: the loader patches its text, making {} private text page(s) over {} process(es)",
            paint(view.style, YELLOW, "TEXTREL"),
            escape_controls(&x.path),
            x.private.text,
            x.procs
        );
    }
    if !r.skipped.is_empty() {
        let _ = writeln!(o, "not analyzed:");
        for s in &r.skipped {
            let _ = writeln!(
                o,
                "  {}: {}",
                escape_controls(&s.path),
                escape_controls(&s.reason)
            );
        }
    }
}

/// What was scanned, how the figures were counted, and what `--object` matched.
fn libs_header(o: &mut String, r: &LibsReport, view: &LibsView) {
    let p = &r.processes;
    let _ = writeln!(
        o,
        "solab libs: {} scanned ({} vanished during the scan, {} unreadable, {} without a memory map)",
        super::count_of(p.scanned, "process", "processes"),
        p.vanished,
        p.unreadable,
        p.no_memory_map
    );
    if r.privileged {
        let _ = writeln!(
            o,
            "frames compared by PFN; PSS from {}; sizes summed over the processes",
            if r.pss_source == PssSource::Kpagecount {
                "/proc/kpagecount"
            } else {
                "the frames seen in every process"
            },
        );
    } else {
        let _ = writeln!(
            o,
            "{}: {}\n  SAVED and PSS are smaps figures (Rss - Pss, Pss), FRAMES are unknown; \
             PRIVATE counts exclusive anonymous pages from pagemap bits",
            paint(view.style, YELLOW, "ESTIMATES"),
            r.privilege_note.as_deref().unwrap_or("not privileged")
        );
    }
    if let Some(m) = &view.matched {
        matched_line(o, m, 10);
    }
    let _ = writeln!(o);
}

/// The columns of `libs`'s table left out, in this order, while its rows do not fit a
/// terminal with a path of [`MIN_PATH_WIDTH`] (a last line names them): RESIDENT is
/// FRAMES + SAVED, and PSS is each process's share of FRAMES.
pub const LIBS_LEAVE_OUT: [&str; 2] = ["PSS", "RESIDENT"];

/// A row per object: its sizes, its private pages by segment kind, TEXTREL; fitted to
/// `view.width` by leaving out [`LIBS_LEAVE_OUT`]'s columns, then shortening paths.
fn libs_objects(o: &mut String, r: &LibsReport, view: &LibsView) {
    let b = view.bytes;
    let mark = if r.privileged { "" } else { "~" };
    let mut heads: Vec<String> = vec![
        "RESIDENT".into(),
        "FRAMES".into(),
        format!("SAVED{mark}"),
        format!("PSS{mark}"),
    ];
    let mut cells: Vec<Vec<String>> = r
        .objects
        .iter()
        .map(|x| {
            vec![
                amount(x.resident_pages as f64, b),
                x.frames.map_or("?".to_string(), |f| amount(f as f64, b)),
                amount(x.saved_pages, b),
                amount(x.pss_pages, b),
            ]
        })
        .collect();
    let private: Vec<String> = r
        .objects
        .iter()
        .map(|x| format!("{}/{}/{}", x.private.text, x.private.relro, x.private.data))
        .collect();
    let vw = cells
        .iter()
        .flatten()
        .map(String::len)
        .max()
        .unwrap_or(0)
        .max(10);
    const PRIVATE_HEAD: &str = "PRIVATE text/relro/data";
    let last = r
        .objects
        .iter()
        .zip(&private)
        .map(|(x, p)| p.len() + if x.textrel { "  TEXTREL".len() } else { 0 })
        .max()
        .unwrap_or(0)
        .max(PRIVATE_HEAD.len());
    let longest = r
        .objects
        .iter()
        .map(|x| escape_controls(&x.path).chars().count())
        .max()
        .unwrap_or(6)
        .max(6);
    let rest = |columns: usize| 1 + 5 + columns * (1 + vw) + 2 + last;
    let mut left_out = Vec::new();
    if let Some(term) = view.width {
        for name in LIBS_LEAVE_OUT {
            if rest(heads.len()) + longest.min(MIN_PATH_WIDTH) <= term {
                break;
            }
            if let Some(i) = heads.iter().position(|h| h.trim_end_matches('~') == name) {
                left_out.push(heads.remove(i));
                cells.iter_mut().for_each(|c| drop(c.remove(i)));
            }
        }
    }
    let width = match view.width {
        None => longest,
        Some(term) => longest.min(term.saturating_sub(rest(heads.len())).max(MIN_PATH_WIDTH)),
    };
    let line = |o: &mut String, name: &str, procs: &str, cells: &[String], last: &str| {
        let mut l = format!("{name:<width$} {procs:>5}");
        for c in cells {
            let _ = write!(l, " {c:>vw$}");
        }
        let _ = writeln!(o, "{l}  {last}");
    };
    line(o, "OBJECT", "PROCS", &heads, PRIVATE_HEAD);
    for ((x, c), private) in r.objects.iter().zip(&cells).zip(&private) {
        let textrel = if x.textrel {
            format!("  {}", paint(view.style, YELLOW, "TEXTREL"))
        } else {
            String::new()
        };
        line(
            o,
            &short_path(&escape_controls(&x.path), width),
            &x.procs.to_string(),
            c,
            &format!("{private}{textrel}"),
        );
    }
    if view.hidden > 0 {
        let _ = writeln!(o, "({} more objects; --top 0 shows them all)", view.hidden);
    }
    if !left_out.is_empty() {
        let note = format!(
            "({} left out to fit {} columns; -w shows them)\n",
            left_out.join(", "),
            view.width.unwrap_or(0)
        );
        o.push_str(&super::wrap(&note, view.width));
    }
}

/// `solab libs --csv`: a line of column names, then one line per object, as `ps --csv`
/// writes them (RFC 4180 quoting, control characters escaped, lines ended by LF): sizes
/// are byte counts, the private copies too; `frames` is empty where it is unknown (weak);
/// `textrel` is 1 or 0.
pub fn render_libs_csv(r: &LibsReport) -> String {
    let mut o = String::from(
        "object,procs,resident,frames,saved,pss,private_text,private_relro,private_data,textrel\n",
    );
    let b = |pages: f64| amount(pages, true);
    for x in &r.objects {
        let _ = writeln!(
            o,
            "{},{},{},{},{},{},{},{},{},{}",
            csv_field(&x.path),
            x.procs,
            b(x.resident_pages as f64),
            x.frames.map_or_else(String::new, |f| b(f as f64)),
            b(x.saved_pages),
            b(x.pss_pages),
            b(x.private.text as f64),
            b(x.private.relro as f64),
            b(x.private.data as f64),
            u8::from(x.textrel)
        );
    }
    o
}

/// The totals: ELF objects, anonymous memory, other files, all.
fn libs_totals(o: &mut String, r: &LibsReport, b: bool) {
    let saved_head = if r.privileged { "SAVED" } else { "SAVED~" };
    let t = &r.totals;
    let rows: [(String, &Totals); 4] = [
        (format!("ELF objects ({})", t.objects), &t.elf_objects),
        ("anonymous memory".to_string(), &t.anonymous),
        ("other files".to_string(), &t.other_files),
        ("all".to_string(), &t.all),
    ];
    let totals: Vec<[String; 3]> = rows
        .iter()
        .map(|(_, t)| {
            [
                amount(t.resident_pages as f64, b),
                t.frames.map_or("?".to_string(), |f| amount(f as f64, b)),
                amount(t.saved_pages, b),
            ]
        })
        .collect();
    let tw = totals
        .iter()
        .flatten()
        .map(String::len)
        .max()
        .unwrap_or(0)
        .max(10);
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "{:<24} {:>tw$} {:>tw$} {:>tw$}",
        "TOTALS", "RESIDENT", "FRAMES", saved_head
    );
    for ((name, _), c) in rows.iter().zip(&totals) {
        let _ = writeln!(o, "{:<24} {:>tw$} {:>tw$} {:>tw$}", name, c[0], c[1], c[2]);
    }
    if t.zero_page_mappings > 0 {
        let _ = writeln!(
            o,
            "({} mappings of the kernel's zero page are not counted: nobody holds that memory)",
            t.zero_page_mappings
        );
    }
}

/// How `solab libs --by` draws its table.
#[derive(Default)]
pub struct LibsGroupsView {
    /// How many groups `--top` left out.
    pub hidden: usize,
    /// Sizes as byte counts (`--bytes`).
    pub bytes: bool,
    /// The terminal's width: the last column (user, command, cgroup, container) is
    /// shortened from the left so that rows fit, down to [`MIN_PATH_WIDTH`]. `None`: never.
    pub width: Option<usize>,
}

/// `solab libs --by`: one row per group of processes: its libraries' frames, and how many
/// another group maps too.
pub fn render_libs_groups(r: &LibsGroupsReport, view: &LibsGroupsView) -> String {
    let mut o = String::new();
    libs_groups_header(&mut o, r);
    let _ = writeln!(o);
    o = super::wrap(&o, view.width);
    let amount = |pages: f64| amount(pages, view.bytes);
    let unknown = || "?".to_string();
    let rows: Vec<([String; 6], String)> = r
        .groups
        .iter()
        .map(|g| {
            (
                [
                    g.procs.to_string(),
                    g.objects.to_string(),
                    amount(g.resident_pages as f64),
                    amount(g.pss_pages),
                    g.frames.map_or_else(unknown, |f| amount(f as f64)),
                    g.with_others.map_or_else(unknown, |f| amount(f as f64)),
                ],
                g.container
                    .as_ref()
                    .map_or_else(|| g.key.clone(), |c| c.label()),
            )
        })
        .collect();
    let pss = if r.weak { "PSS~" } else { "PSS" };
    let mut heads = vec![
        "PROCS",
        "OBJECTS",
        "RESIDENT",
        pss,
        "FRAMES",
        "WITH-OTHERS",
        "SAME-LIBS",
    ];
    let mut rows: Vec<(Vec<String>, String)> = rows
        .into_iter()
        .zip(&r.groups)
        .map(|((cells, last), g)| {
            let mut cells = cells.to_vec();
            cells.push(g.same_libs.to_string());
            (cells, last)
        })
        .collect();
    let vw = rows
        .iter()
        .flat_map(|r| r.0.iter().map(|c| c.chars().count()))
        .chain(heads.iter().map(|h| h.len()))
        .max()
        .unwrap_or(0);
    let fixed = |columns: usize| columns * (vw + 1) + 1;
    let mut left_out = Vec::new();
    if let Some(term) = view.width {
        for name in LIBS_GROUPS_LEAVE_OUT {
            if fixed(heads.len()) + MIN_PATH_WIDTH <= term {
                break;
            }
            if let Some(i) = heads.iter().position(|h| h.trim_end_matches('~') == name) {
                left_out.push(heads.remove(i));
                rows.iter_mut().for_each(|r| drop(r.0.remove(i)));
            }
        }
    }
    let last_width = view
        .width
        .map(|term| term.saturating_sub(fixed(heads.len())).max(MIN_PATH_WIDTH));
    let last_head = match r.by {
        GroupBy::User => "USER",
        GroupBy::Comm => "COMMAND",
        GroupBy::Cgroup => "CGROUP",
        GroupBy::Container => "CONTAINER",
    };
    let line = |o: &mut String, cells: &[&str], last: &str| {
        let l: Vec<String> = cells.iter().map(|c| format!("{c:>vw$}")).collect();
        let last = escape_controls(last);
        let last = match last_width {
            Some(w) => short_path(&last, w),
            None => last.into_owned(),
        };
        let _ = writeln!(o, "{}", format!("{}  {last}", l.join(" ")).trim_end());
    };
    line(&mut o, &heads, last_head);
    for (cells, last) in &rows {
        let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
        line(&mut o, &cells, last);
    }
    if view.hidden > 0 {
        let _ = writeln!(o, "({} more groups; --top 0 shows them all)", view.hidden);
    }
    if !left_out.is_empty() {
        let note = format!(
            "({} left out to fit {} columns; -w shows them)\n",
            left_out.join(", "),
            view.width.unwrap_or(0)
        );
        o.push_str(&super::wrap(&note, view.width));
    }
    o
}

/// What `libs --by` scanned and what its columns count.
fn libs_groups_header(o: &mut String, r: &LibsGroupsReport) {
    let p = &r.processes;
    let _ = writeln!(
        o,
        "solab libs --by {}: {} scanned ({} vanished during the scan, {} unreadable, {} without a memory map)",
        r.by.name(),
        super::count_of(p.scanned, "process", "processes"),
        p.vanished,
        p.unreadable,
        p.no_memory_map
    );
    if r.weak {
        let _ = writeln!(
            o,
            "WEAK: {}\n  RESIDENT and PSS~ are sums of smaps figures; FRAMES and WITH-OTHERS need frame numbers",
            r.privilege_note.as_deref().unwrap_or("not privileged")
        );
    } else {
        let _ = writeln!(
            o,
            "ELF objects only: FRAMES counts each frame once per group (what its libraries would cost it alone), \
             WITH-OTHERS those a process of another group maps too, SAME-LIBS its objects whose library another group maps"
        );
    }
}

/// The columns of `libs --by`'s table left out, in this order, while its rows do not fit a
/// terminal with a last column of [`MIN_PATH_WIDTH`] (a last line names them).
pub const LIBS_GROUPS_LEAVE_OUT: [&str; 3] = ["PSS", "RESIDENT", "OBJECTS"];

/// `solab libs --by WHAT --csv`: a line of column names, then one line per group, as
/// [`render_libs_csv`] writes them; `frames` and `with_others` empty where unknown (weak);
/// the group's key (user, command, cgroup or container) last, as in the table.
pub fn render_libs_groups_csv(r: &LibsGroupsReport) -> String {
    let key = match r.by {
        GroupBy::User => "user",
        GroupBy::Comm => "command",
        GroupBy::Cgroup => "cgroup",
        GroupBy::Container => "container",
    };
    let mut o = format!("procs,objects,resident,pss,frames,with_others,same_libs,{key}\n");
    let b = |pages: f64| amount(pages, true);
    let known = |f: Option<u64>| f.map_or_else(String::new, |f| b(f as f64));
    for g in &r.groups {
        let name = g
            .container
            .as_ref()
            .map_or_else(|| g.key.clone(), |c| c.label());
        let _ = writeln!(
            o,
            "{},{},{},{},{},{},{},{}",
            g.procs,
            g.objects,
            b(g.resident_pages as f64),
            b(g.pss_pages),
            known(g.frames),
            known(g.with_others),
            g.same_libs,
            csv_field(&name)
        );
    }
    o
}
