//! `--object PATTERN`: which mapped objects a command looks at, the same in every command
//! (and in choosing the processes of `-u USER -o PATTERN`), and which one object `prove`
//! takes ([`choose`]).
//!
//! A pattern is read as the user typed it. A glob (`*`, `?`, `[`) is a glob on the full
//! path; otherwise it is a part of the file name, or of the full path when it has `/`.
//! A pattern that names an existing file (a path, or a command found on `PATH`) is also
//! resolved, links followed, and matches the mapped file it resolves to: `redis-server`
//! finds the process whose binary is the link's target. A name that names memory rather
//! than a file on disk (a memfd, `/memfd:NAME`; a named shared anonymous mapping,
//! `[anon_shmem:NAME]`) is chosen by whoever maps it, so it matches only a pattern that
//! names its kind (`memfd:`, `anon_shmem:`): another user cannot make `libc.so.6` name
//! two objects.

/// A `--object PATTERN` as typed, and the file it names on this machine, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    /// The canonical path of the file the pattern names: a path that exists, or a command
    /// name found on `PATH`, links followed.
    target: Option<String>,
}

/// How closely a path matches a pattern; the larger, the closer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Closeness {
    /// A part of the name or path, or a glob.
    Part,
    /// The file name, whole.
    Name,
    /// The path, whole: as typed, or as the pattern resolves.
    Path,
}

/// Which one object a pattern names among several ([`choose`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Choice {
    /// Exactly one object, by its index.
    One(usize),
    /// No object matches.
    None,
    /// These objects (indices) match equally closely.
    Many(Vec<usize>),
}

impl Pattern {
    /// The pattern, refused when empty ([`check_pattern`]), with the file it names
    /// resolved (reads the file system: the path, or each directory of `PATH`).
    pub fn new(text: &str) -> crate::Result<Pattern> {
        check_pattern(text)?;
        Ok(Pattern {
            text: text.to_string(),
            target: resolve(text),
        })
    }

    /// A pattern with its target given, not looked up (pure, for tests and for callers
    /// that resolved it already).
    pub fn with_target(text: &str, target: Option<&str>) -> Pattern {
        Pattern {
            text: text.to_string(),
            target: target.map(str::to_string),
        }
    }

    /// The pattern as typed.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The canonical path of the file the pattern names, when it names one.
    pub fn target(&self) -> Option<&str> {
        self.target.as_deref()
    }

    /// Whether a mapped object's path (or `[vdso]`) matches.
    pub fn matches(&self, path: &str) -> bool {
        self.closeness(path).is_some()
    }

    fn closeness(&self, path: &str) -> Option<Closeness> {
        let p = self.text.as_str();
        if let Some(kind) = memory_kind(path)
            && !p.contains(kind)
        {
            return None;
        }
        if p == path || self.target.as_deref() == Some(path) {
            return Some(Closeness::Path);
        }
        if p.contains(['*', '?', '[']) {
            return glob_match(p.as_bytes(), path.as_bytes()).then_some(Closeness::Part);
        }
        if p.contains('/') {
            return path.contains(p).then_some(Closeness::Part);
        }
        let name = file_name(path);
        if name == p {
            Some(Closeness::Name)
        } else {
            name.contains(p).then_some(Closeness::Part)
        }
    }
}

/// The one object `pattern` names among `paths` (each object's path): the closest match
/// wins (the whole path, as typed or resolved; then the whole file name; then a part or
/// a glob), and several equally close are [`Choice::Many`], for the user to name by path.
pub fn choose(pattern: &Pattern, paths: &[&str]) -> Choice {
    let ranked: Vec<(usize, Closeness)> = paths
        .iter()
        .enumerate()
        .filter_map(|(i, p)| pattern.closeness(p).map(|c| (i, c)))
        .collect();
    let Some(best) = ranked.iter().map(|&(_, c)| c).max() else {
        return Choice::None;
    };
    let closest: Vec<usize> = ranked
        .into_iter()
        .filter(|&(_, c)| c == best)
        .map(|(i, _)| i)
        .collect();
    match closest.as_slice() {
        [one] => Choice::One(*one),
        _ => Choice::Many(closest),
    }
}

/// The file names of the mapped objects a pattern did not match, each once, at most
/// [`Candidates::MAX`] of them: what [`Candidates::closest`] offers when nothing matches.
#[derive(Clone, Debug, Default)]
pub struct Candidates {
    names: std::collections::HashSet<String>,
}

impl Candidates {
    /// The most names kept: a bound on memory whatever the processes map.
    pub const MAX: usize = 4096;
    /// The most names offered.
    pub const SHOWN: usize = 20;

    /// Notes the file name of a mapped object's path.
    pub fn note(&mut self, path: &str) {
        let name = file_name(path);
        if self.names.len() < Self::MAX && !name.is_empty() && !self.names.contains(name) {
            self.names.insert(name.to_string());
        }
    }

    /// At most [`Candidates::SHOWN`] names, the closest to `pattern` first ([`closest`]).
    pub fn closest(&self, pattern: &str) -> Vec<String> {
        closest(pattern, self.names.iter().map(String::as_str), Self::SHOWN)
    }

    /// The line that offers them under a "matches nothing" message ("" when none).
    pub fn offer(&self, pattern: &str) -> String {
        let names = self.closest(pattern);
        if names.is_empty() {
            return String::new();
        }
        format!("\n  mapped, closest first: {}", names.join(", "))
    }
}

/// At most `n` of the mapped files' `names`, the closest to the pattern first, each once:
/// what to offer when nothing matches. First the names that hold what was typed, then
/// those held by it, but for the case of ASCII letters (`-o LIBC` offers `libc.so.6`, `-o
/// libssl.so.3.0` offers `libssl.so.3`); then the others; within each, by edit distance
/// between the pattern and the file name, both cut at [`NAME_CUT`] bytes (the file name of
/// a pattern with `/`).
pub fn closest<'a>(
    pattern: &str,
    names: impl IntoIterator<Item = &'a str>,
    n: usize,
) -> Vec<String> {
    let typed = file_name(pattern).to_ascii_lowercase();
    // 0: the name holds what was typed; 1: what was typed holds the name; 2: neither.
    let tier = |name: &str| match name {
        _ if typed.is_empty() => 2,
        n if n.contains(&typed) => 0,
        n if typed.contains(n) => 1,
        _ => 2,
    };
    let mut ranked: Vec<(u8, usize, &str)> = names
        .into_iter()
        .map(file_name)
        .filter(|name| !name.is_empty())
        .map(|name| {
            let lower = name.to_ascii_lowercase();
            (tier(&lower), distance(&typed, &lower), name)
        })
        .collect();
    ranked.sort_unstable();
    ranked.dedup_by(|a, b| a.2 == b.2);
    ranked
        .into_iter()
        .take(n)
        .map(|(_, _, name)| name.to_string())
        .collect()
}

/// The bytes of a name [`closest`] compares: a bound on the work per name.
pub const NAME_CUT: usize = 64;

/// Levenshtein distance between the first [`NAME_CUT`] bytes of `a` and of `b`.
fn distance(a: &str, b: &str) -> usize {
    let a = &a.as_bytes()[..a.len().min(NAME_CUT)];
    let b = &b.as_bytes()[..b.len().min(NAME_CUT)];
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, &ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let next = (diagonal + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// The kind a mapped name gives memory that is not a file on disk, as the pattern must
/// name it: `memfd:` for a memfd (`/memfd:NAME`, mm/memfd.c), the bracketed prefix of a
/// named shared anonymous mapping (`anon_shmem:` of `[anon_shmem:NAME]`).
fn memory_kind(path: &str) -> Option<&str> {
    if path.starts_with("/memfd:") {
        return Some("memfd:");
    }
    let inner = path.strip_prefix('[')?;
    inner.find(':').map(|i| &inner[..=i])
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The file a pattern names: a path (it has `/`) that exists, or a command name found in
/// a directory of `PATH`; canonical, links followed. A glob names no file.
fn resolve(pattern: &str) -> Option<String> {
    if pattern.contains(['*', '?', '[']) {
        return None;
    }
    let found = if pattern.contains('/') {
        std::fs::canonicalize(pattern).ok()?
    } else {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .filter(|d| d.is_absolute())
            .map(|d| d.join(pattern))
            .find(|c| c.is_file())
            .and_then(|c| std::fs::canonicalize(c).ok())?
    };
    found
        .is_file()
        .then(|| found.to_string_lossy().into_owned())
}

/// Refuses an empty pattern, which would match everything.
pub fn check_pattern(pattern: &str) -> crate::Result<()> {
    if pattern.is_empty() {
        return Err(crate::Error::Usage(
            "--object: the pattern is empty (give a file name, a part of one, or a glob)".into(),
        ));
    }
    Ok(())
}

/// Shell-style glob (`*` any run, `?` one byte, `[abc]`/`[a-z]`/`[!a]` a class), `*`
/// crossing `/`.
fn glob_match(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        let step = match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, si));
                pi += 1;
                continue;
            }
            Some(b'?') => Some(pi + 1),
            Some(b'[') => class(&p[pi..], s[si])
                .map(|(ok, len)| (ok, pi + len))
                .and_then(|(ok, n)| ok.then_some(n)),
            Some(&c) if c == s[si] => Some(pi + 1),
            _ => None,
        };
        match step {
            Some(next) => {
                pi = next;
                si += 1;
            }
            None => match star {
                Some((sp, ss)) => {
                    pi = sp + 1;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Matches `c` against the class at the start of `p`; returns (matched, class length).
fn class(p: &[u8], c: u8) -> Option<(bool, usize)> {
    let end = p.iter().skip(2).position(|&b| b == b']')? + 2;
    let body = &p[1..end];
    let (negate, body) = match body.first() {
        Some(b'!') | Some(b'^') => (true, &body[1..]),
        _ => (false, body),
    };
    let mut hit = false;
    let mut i = 0;
    while i < body.len() {
        if i + 2 < body.len() && body[i + 1] == b'-' {
            hit |= body[i] <= c && c <= body[i + 2];
            i += 3;
        } else {
            hit |= body[i] == c;
            i += 1;
        }
    }
    Some((hit != negate, end + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(p: &str) -> Pattern {
        Pattern::with_target(p, None)
    }

    #[test]
    fn patterns() {
        let m = |p: &str, path: &str| typed(p).matches(path);
        let libc = "/usr/lib/x86_64-linux-gnu/libc.so.6";
        assert!(m("libc.so.6", libc));
        assert!(m("libc.so", libc));
        assert!(m(libc, libc));
        assert!(m("x86_64-linux-gnu/libc", libc));
        assert!(!m("libm", libc));
        assert!(!m("usr", libc));
        assert!(m("/usr/lib", libc));
        assert!(m("vdso", "[vdso]"));
        assert!(m("*/libc.so*", libc));
        assert!(m("/usr/lib/*", libc));
        assert!(!m("libc.so*", libc), "a glob is on the full path");
        assert!(m("*lib[cm].so.?", libc));
        assert!(!m("*lib[!c].so.6", libc));
        assert!(check_pattern("").is_err());
        assert!(Pattern::new("").is_err());
    }

    #[test]
    fn memory_names_match_only_a_pattern_that_names_their_kind() {
        let m = |p: &str, path: &str| typed(p).matches(path);
        let memfd = "/memfd:libc.so.6";
        assert!(!m("libc.so.6", memfd));
        assert!(!m("libc", memfd));
        assert!(!m("*libc.so.6", memfd));
        assert!(!m("*", memfd));
        assert!(m("memfd:libc.so.6", memfd));
        assert!(m("/memfd:libc", memfd));
        assert!(m("/memfd:*", memfd));
        assert!(!m("memfd:", "/usr/lib/memfd.so"));
        let shmem = "[anon_shmem:x/libc.so.6]";
        assert!(!m("libc.so.6", shmem));
        assert!(m("*anon_shmem:*", shmem));
        // The vdso is named by its name.
        assert!(m("vdso", "[vdso]"));
        // Not even the resolved target makes a memfd a file.
        assert!(!Pattern::with_target("libc.so.6", Some(memfd)).matches(memfd));
    }

    #[test]
    fn the_closest_match_is_chosen() {
        let python = [
            "/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0",
            "/usr/bin/python3.11",
        ];
        assert_eq!(choose(&typed("python3.11"), &python), Choice::One(1));
        assert_eq!(choose(&typed("python3"), &python), Choice::Many(vec![0, 1]));
        assert_eq!(choose(&typed("perl"), &python), Choice::None);
        // The whole path beats the whole name.
        let two = ["/opt/a/libc.so.6", "/usr/lib/libc.so.6"];
        assert_eq!(choose(&typed("libc.so.6"), &two), Choice::Many(vec![0, 1]));
        assert_eq!(choose(&typed("/usr/lib/libc.so.6"), &two), Choice::One(1));
        // A memfd named like the library is no candidate.
        let named = ["/memfd:libc.so.6", "/usr/lib/libc.so.6"];
        assert_eq!(choose(&typed("libc.so.6"), &named), Choice::One(1));
        assert_eq!(choose(&typed("memfd:libc.so.6"), &named), Choice::One(0));
        // A link resolved: the target is the mapped path.
        let redis = ["/usr/bin/redis-check-rdb", "/usr/lib/libc.so.6"];
        let server = Pattern::with_target("redis-server", Some("/usr/bin/redis-check-rdb"));
        assert!(!typed("redis-server").matches(redis[0]));
        assert!(server.matches(redis[0]));
        assert_eq!(choose(&server, &redis), Choice::One(0));
    }

    #[test]
    fn paths_and_commands_resolve() {
        let dir = std::env::temp_dir().join(format!("solab-pattern-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let real = dir.join("libreal.so");
        std::fs::write(&real, b"x").expect("file");
        let link = dir.join("alias");
        std::os::unix::fs::symlink(&real, &link).expect("link");
        let canonical = std::fs::canonicalize(&real).expect("canonical");
        let p = Pattern::new(&link.to_string_lossy()).expect("pattern");
        assert_eq!(p.target(), Some(canonical.to_string_lossy().as_ref()));
        assert_eq!(Pattern::new("*alias").expect("glob").target(), None);
        assert_eq!(Pattern::new("/no/such/file").expect("path").target(), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn candidates_closest_first() {
        let names = [
            "/usr/lib/libc.so.6",
            "/usr/lib/libm.so.6",
            "/usr/bin/bash",
            "/usr/lib/libc.so.6",
            "/usr/lib/locale/locale-archive",
        ];
        assert_eq!(
            closest("libc.so.7", names, 2),
            vec!["libc.so.6".to_string(), "libm.so.6".to_string()]
        );
        assert_eq!(closest("x", names, 20).len(), 4);
        // What was typed, but for the case, or a longer name: the names that hold it (or
        // that it holds) first, however far by edit distance.
        assert_eq!(closest("LIBC", names, 1), vec!["libc.so.6".to_string()]);
        assert_eq!(
            closest("ARCHIVE", names, 1),
            vec!["locale-archive".to_string()]
        );
        assert_eq!(
            closest("libm.so.6.0.1", names, 1),
            vec!["libm.so.6".to_string()]
        );
        assert_eq!(closest("/opt/x/bash", names, 1), vec!["bash".to_string()]);
        assert_eq!(
            closest("LIBFOO", ["/x/foo", "/x/libfoo.so"], 2),
            vec!["libfoo.so".to_string(), "foo".to_string()]
        );
        assert_eq!(distance("kitten", "sitting"), 3);
        let mut offered = Candidates::default();
        for n in names {
            offered.note(n);
        }
        assert_eq!(offered.closest("libc.so.7")[0], "libc.so.6");
        assert!(
            offered
                .offer("libc.so.7")
                .starts_with("\n  mapped, closest first: libc.so.6, ")
        );
        assert_eq!(Candidates::default().offer("x"), "");
        assert_eq!(distance("", "abc"), 3);
    }
}
