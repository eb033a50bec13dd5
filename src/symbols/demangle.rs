//! Mangled function names made readable, as `perf report` and flame graphs show them: Rust's
//! (the legacy `_ZN…17h<hash>E` and the v0 `_R…` schemes) by `rustc-demangle`, the Rust
//! project's own demangler, printed without the hash (`{:#}`); C++'s (the Itanium ABI's
//! `_Z…`, used by gcc and clang on Linux) by `cpp_demangle` (gimli-rs), printed as
//! `c++filt` prints them. A name that is neither, or does not parse, stays as it is.
//!
//! The names come from files another user may have written. The demanglers bound their own
//! recursion; here the input is at most [`MAX_MANGLED`] bytes and the output is written
//! through a writer that refuses past [`super::MAX_NAME`] bytes, which ends the demangling
//! there: a short name whose substitutions expand without end costs no more than a long
//! one.

use std::fmt::{self, Write};
use std::sync::Arc;

/// The longest mangled name demangled (real C++ names of deep templates reach a few KiB).
pub const MAX_MANGLED: usize = 4096;

/// A `fmt::Write` that keeps at most `room` bytes and fails past them.
struct Bounded {
    out: String,
    room: usize,
    full: bool,
}

impl Write for Bounded {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let left = self.room - self.out.len();
        if s.len() <= left {
            self.out.push_str(s);
            return Ok(());
        }
        let mut end = left;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.out.push_str(&s[..end]);
        self.full = true;
        Err(fmt::Error)
    }
}

/// What the demangler wrote, cut at [`super::MAX_NAME`] bytes; `None` when it failed for a
/// reason of its own (not the bound).
fn bounded(print: impl FnOnce(&mut Bounded) -> fmt::Result) -> Option<String> {
    let mut w = Bounded {
        out: String::new(),
        room: super::MAX_NAME,
        full: false,
    };
    match print(&mut w) {
        Ok(()) => Some(w.out),
        Err(_) if w.full => Some(w.out),
        Err(_) => None,
    }
}

/// The readable name of symbol `raw`, at most [`super::MAX_NAME`] bytes.
pub fn readable(raw: &str) -> Arc<str> {
    if raw.len() <= MAX_MANGLED && (raw.starts_with("_Z") || raw.starts_with("_R")) {
        if let Ok(d) = rustc_demangle::try_demangle(raw)
            && let Some(s) = bounded(|w| write!(w, "{d:#}"))
        {
            return s.into();
        }
        if raw.starts_with("_Z")
            && let Ok(sym) = cpp_demangle::Symbol::new(raw.as_bytes())
            && let Some(s) =
                bounded(|w| sym.structured_demangle(w, &cpp_demangle::DemangleOptions::default()))
            && !s.is_empty()
        {
            return s.into();
        }
    }
    super::cut(raw.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_and_cpp_names_are_demangled_and_others_kept() {
        // Legacy Rust: the hash is left out.
        assert_eq!(
            &*readable("_ZN4core3fmt5write17h0123456789abcdefE"),
            "core::fmt::write"
        );
        // Rust v0.
        assert_eq!(&*readable("_RNvCs1234_7mycrate3foo"), "mycrate::foo");
        // C++, as c++filt prints it.
        assert_eq!(
            &*readable("_ZNSt6vectorIiSaIiEE9push_backERKi"),
            "std::vector<int, std::allocator<int> >::push_back(int const&)"
        );
        assert_eq!(&*readable("gc_collect_main"), "gc_collect_main");
        // Looks mangled, is not: kept as it is.
        assert_eq!(&*readable("_ZN3foo"), "_ZN3foo");
    }

    #[test]
    fn a_name_that_expands_without_end_is_cut() {
        // Each template argument list repeats the one before through a substitution: the
        // output doubles with every level.
        let mut raw = String::from("_Z1fI");
        raw.push_str("1AI1BI1CI1DI1EI1FI1GI1HIS0_S1_EEEEEEEE");
        raw.push_str("Evv");
        let s = readable(&raw);
        assert!(s.len() <= crate::symbols::MAX_NAME, "{} bytes", s.len());
        let huge = format!("_ZN{}E", "3abc".repeat(MAX_MANGLED));
        assert!(readable(&huge).len() <= crate::symbols::MAX_NAME);
    }
}
