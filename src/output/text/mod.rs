//! Human-readable output of the commands, a renderer per command. JSON output is the serde
//! form of the reports ([`crate::inspect_report`], [`crate::commands`]). What the renderers share
//! lives here: sizes, shortened paths and the `--object` line.

mod elf;
mod family;
mod inspect;
mod libs;
mod prove;
mod ps;
mod record;
mod top;

pub use elf::render_elf;
pub use family::{
    FAMILY_COLUMNS, FamilyView, render_family, render_family_change, render_family_change_fitted,
    render_family_csv, render_family_fitted, render_family_leaf,
};
pub use inspect::render_inspect;
pub use libs::{
    LibsGroupsView, LibsView, render_libs, render_libs_csv, render_libs_groups,
    render_libs_groups_csv,
};
pub use prove::render_prove;
pub use ps::{PsView, SizeUnit, render_ps, render_ps_csv};
pub use record::{render_record, render_record_folded, render_record_interval};
pub use top::{TopState, TopView, render_top};

use crate::PAGE_SIZE;
use crate::output::escape::escape_controls;
use std::fmt::Write;

fn opt(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("-")
}

/// What `--object PATTERN` matched: the pattern and the paths, in the order shown.
pub struct Matched<'a> {
    pub pattern: &'a str,
    pub paths: &'a [String],
    /// When nothing matched: the names to offer instead, the closest first.
    pub candidates: &'a [String],
}

/// The line `--object PATTERN matched: a, b`, naming at most `limit` paths.
fn matched_line(o: &mut String, m: &Matched, limit: usize) {
    let shown: Vec<_> = m
        .paths
        .iter()
        .take(limit)
        .map(|p| escape_controls(p))
        .collect();
    let more = m.paths.len().saturating_sub(limit);
    let _ = writeln!(
        o,
        "--object {} matched: {}{}",
        escape_controls(m.pattern),
        if shown.is_empty() && m.candidates.is_empty() {
            "nothing".to_string()
        } else if shown.is_empty() {
            let offered: Vec<_> = m.candidates.iter().map(|p| escape_controls(p)).collect();
            format!("nothing (mapped, closest first: {})", offered.join(", "))
        } else {
            shown.join(", ")
        },
        if more > 0 {
            format!(" and {more} more (all in --json)")
        } else {
            String::new()
        }
    );
}

/// Pages as a human size. Sizes are counted in pages, so anything that is not zero is
/// given in KiB at least (a PSS share of a page is "0.1 KiB", not "102 B").
fn size(pages: f64) -> String {
    let bytes = pages * PAGE_SIZE as f64;
    if bytes == 0.0 {
        return "0 B".into();
    }
    let units = ["KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes / 1024.0;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", units[u])
}

/// A size in pages as text: human (KiB, MiB, ...) or, with `bytes`, the byte count.
fn amount(pages: f64, bytes: bool) -> String {
    if bytes {
        format!("{}", (pages * PAGE_SIZE as f64).round() as u64)
    } else {
        size(pages)
    }
}

fn short_path(p: &str, width: usize) -> String {
    let n = p.chars().count();
    if n <= width || width < 2 {
        p.to_string()
    } else {
        let tail: String = p.chars().skip(n - (width - 1)).collect();
        format!("…{tail}")
    }
}

/// One CSV field: control characters escaped, then quoted when it holds a comma, a quote
/// or a line break (RFC 4180).
pub(super) fn csv_field(f: &str) -> String {
    let f = escape_controls(f);
    if f.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", f.replace('"', "\"\""))
    } else {
        f.into_owned()
    }
}

/// The narrowest the OBJECT column gets to fit a terminal.
const MIN_PATH_WIDTH: usize = 20;

/// `n` and its noun, `one` or `many` as `n` is 1 or not: "1 process", "2 processes".
pub fn count_of(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

fn bytes(b: u64) -> String {
    size(b as f64 / PAGE_SIZE as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::terminal::{RED, Style, paint};

    #[test]
    fn csv_fields_are_quoted_as_rfc_4180_says() {
        assert_eq!(csv_field("nginx"), "nginx");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        // A line break is escaped as in the table, so a record is one line.
        assert_eq!(csv_field("two\nlines"), "two\\nlines");
        assert_eq!(csv_field(""), "");
    }

    #[test]
    fn sizes() {
        assert_eq!(size(0.0), "0 B");
        assert_eq!(size(1.0), "4.0 KiB");
        assert_eq!(size(0.025), "0.1 KiB");
        assert_eq!(size(256.0), "1.0 MiB");
        assert_eq!(amount(256.0, true), "1048576");
        assert_eq!(amount(0.5, true), "2048");
    }

    #[test]
    fn paths_shortened_only_when_asked() {
        let p = "/a/very/long/directory/name/libthing.so.1";
        assert_eq!(short_path(p, 100), p);
        let s = short_path(p, 20);
        assert_eq!(s.chars().count(), 20);
        assert!(s.starts_with('…') && s.ends_with("libthing.so.1"));
        let plain = Style { color: false };
        let red = Style { color: true };
        assert_eq!(paint(plain, RED, "FAILS"), "FAILS");
        assert_eq!(paint(red, RED, "FAILS"), "\x1b[31mFAILS\x1b[0m");
    }
}

/// `text` fitted to a terminal `width` columns wide: each line wider than that broken at
/// its spaces, a line's continuations indented two spaces more than it, a word wider than
/// what is left cut into pieces; `None`: as it is (output that is not a terminal).
pub fn wrap(text: &str, width: Option<usize>) -> String {
    let Some(width) = width.filter(|&w| w > 0) else {
        return text.to_string();
    };
    let mut o = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (body, end) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        if body.chars().count() <= width {
            o.push_str(line);
            continue;
        }
        let lead = body.len() - body.trim_start_matches(' ').len();
        let mut indent = " ".repeat(lead + 2);
        if indent.len() + 8 > width {
            indent.clear();
        }
        let mut cur = " ".repeat(lead);
        let mut cur_len = lead;
        let mut fresh = true;
        for word in body[lead..].split(' ').filter(|w| !w.is_empty()) {
            let mut word: Vec<char> = word.chars().collect();
            loop {
                let gap = usize::from(!fresh);
                if cur_len + gap + word.len() <= width {
                    if !fresh {
                        cur.push(' ');
                    }
                    cur.extend(&word);
                    cur_len += gap + word.len();
                    fresh = false;
                    break;
                }
                if fresh {
                    // Alone on its line and still too wide: cut it.
                    let room = width.saturating_sub(cur_len).max(1);
                    cur.extend(&word[..room]);
                    word.drain(..room);
                }
                let _ = writeln!(o, "{}", cur.trim_end());
                cur.clone_from(&indent);
                cur_len = indent.len();
                fresh = true;
                if word.is_empty() {
                    break;
                }
            }
        }
        o.push_str(cur.trim_end());
        o.push_str(end);
    }
    o
}

#[cfg(test)]
mod wrap_tests {
    use super::wrap;

    #[test]
    fn wrapped_lines_fit_and_keep_every_word() {
        let text = "solab ps: 1,936 processes scanned (0 vanished during the scan, 1 unreadable, 61 without a memory map)\nshort\n";
        for width in [20, 40, 80] {
            let w = wrap(text, Some(width));
            assert!(
                w.lines().all(|l| l.chars().count() <= width),
                "{width}:\n{w}"
            );
            let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
            assert_eq!(words(&w), words(text), "{width}");
            assert!(w.ends_with("\nshort\n"), "{w}");
        }
        assert_eq!(wrap(text, None), text);
        assert_eq!(wrap(text, Some(200)), text);
        let cut = wrap("aaaaaaaaaaaaaaaaaaaaaaaaa b", Some(10));
        assert!(cut.lines().all(|l| l.chars().count() <= 10), "{cut}");
        assert_eq!(cut.replace(['\n', ' '], ""), "aaaaaaaaaaaaaaaaaaaaaaaaab");
    }
}
