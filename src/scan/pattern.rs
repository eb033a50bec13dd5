//! `--object PATTERN`: which mapped objects a command looks at, the same in every command
//! (and in choosing the processes of `-u USER -o PATTERN`).

/// How `--object PATTERN` matches an object's path: a pattern with a glob character (`*`,
/// `?`, `[`) is a glob on the full path; otherwise it is a substring of the file name, or of
/// the full path when it contains `/`. An empty pattern is a usage error (see
/// [`check_pattern`]).
pub fn matches_pattern(pattern: &str, path: &str) -> bool {
    if pattern.contains(['*', '?', '[']) {
        return glob_match(pattern.as_bytes(), path.as_bytes());
    }
    let name = path.rsplit('/').next().unwrap_or(path);
    if pattern.contains('/') {
        path.contains(pattern)
    } else {
        name.contains(pattern)
    }
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

    #[test]
    fn patterns() {
        let libc = "/usr/lib/x86_64-linux-gnu/libc.so.6";
        assert!(matches_pattern("libc.so.6", libc));
        assert!(matches_pattern("libc.so", libc));
        assert!(matches_pattern(libc, libc));
        assert!(matches_pattern("x86_64-linux-gnu/libc", libc));
        assert!(!matches_pattern("libm", libc));
        assert!(!matches_pattern("usr", libc));
        assert!(matches_pattern("/usr/lib", libc));
        assert!(matches_pattern("vdso", "[vdso]"));
        assert!(matches_pattern("*/libc.so*", libc));
        assert!(matches_pattern("/usr/lib/*", libc));
        assert!(
            !matches_pattern("libc.so*", libc),
            "a glob is on the full path"
        );
        assert!(matches_pattern("*lib[cm].so.?", libc));
        assert!(!matches_pattern("*lib[!c].so.6", libc));
        assert!(check_pattern("").is_err());
    }
}
