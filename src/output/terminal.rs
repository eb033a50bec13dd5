//! What the text output may assume about where it goes: colour and a width, only when
//! stdout is a terminal. Piped or redirected output (scripts, the book) gets neither: no
//! escape codes and no shortened paths.

use std::io::IsTerminal;

/// How text is drawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Style {
    /// ANSI colours on a few words (HOLDS, FAILS, weak markers, TEXTREL).
    pub color: bool,
}

/// Whether to colour: stdout is a terminal, `--no-color` was not given, `NO_COLOR` is not
/// set to a non-empty value (<https://no-color.org>) and `TERM` is not `dumb`.
pub fn color_wanted(no_color: bool) -> bool {
    let env_off = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
        || std::env::var_os("TERM").is_some_and(|t| t == "dumb");
    !no_color && !env_off && std::io::stdout().is_terminal()
}

/// The width of the terminal stdout is, in columns; `None` when stdout is not a terminal
/// (then nothing is shortened). `COLUMNS`, when set to a number, overrides the size the
/// terminal reports, as for `ls`.
pub fn width() -> Option<usize> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    if let Some(n) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
    {
        return Some(n);
    }
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `struct winsize` into the pointer given; `ws` is one.
    let rc = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) };
    Some(if rc == 0 && ws.ws_col > 0 {
        usize::from(ws.ws_col)
    } else {
        80
    })
}

/// `text` in an SGR colour (`31` red, `32` green, `33` yellow), or as it is.
pub fn paint(style: Style, code: &str, text: &str) -> String {
    if style.color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

pub const RED: &str = "31";
pub const GREEN: &str = "32";
pub const YELLOW: &str = "33";
