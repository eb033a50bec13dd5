//! Strings that come from other processes and files (command names, mapped paths, cgroup
//! names, ELF section names) are shown with their control characters escaped in text
//! output, as `ls -b` shows file names: a name holding ESC or BEL must not retitle, clear or
//! move the cursor of the terminal that reads solab's output, nor a newline or a CR forge a
//! line of it. JSON keeps every string exact.
//!
//! A command name that is not UTF-8 is read as a string that keeps its bytes
//! ([`decode_name`](crate::kernel::process::decode_name)): each byte that is not part of a
//! UTF-8 character is shown `\xNN` here, like a control character.

use crate::kernel::process::byte_of_char;
use std::borrow::Cow;

/// `s` with each control character written as an escape: `\a \b \t \n \v \f \r \e` for the
/// C0 characters that have a name, `\xNN` for the other C0 characters and DEL, `\xNN\xNN`
/// (its UTF-8 bytes) for a C1 character, which some terminals obey as well; a backslash is
/// doubled, so an escape in the output always means a control character in the string, or
/// (`\xNN` alone) a byte of a name that is not UTF-8
/// ([`byte_of_char`]: the private-use characters U+10FE80..=U+10FEFF stand for them, in any
/// string). Borrowed when there is nothing to escape.
pub fn escape_controls(s: &str) -> Cow<'_, str> {
    if !s
        .chars()
        .any(|c| c.is_control() || c == '\\' || byte_of_char(c).is_some())
    {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if let Some(b) = byte_of_char(c) {
            out.push_str(&format!("\\x{b:02x}"));
            continue;
        }
        match c {
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\x0b' => out.push_str("\\v"),
            '\x0c' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\x1b' => out.push_str("\\e"),
            c if c.is_control() => {
                let mut utf8 = [0u8; 4];
                for b in c.encode_utf8(&mut utf8).bytes() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::escape_controls;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(escape_controls("/usr/lib/libc.so.6"), "/usr/lib/libc.so.6");
        assert_eq!(escape_controls("bäume €"), "bäume €");
        assert_eq!(
            escape_controls("a\x1b]0;root\x07b\nc\rd\te\\f"),
            "a\\e]0;root\\ab\\nc\\rd\\te\\\\f"
        );
        assert_eq!(escape_controls("\0\x01\x7f"), "\\x00\\x01\\x7f");
        assert_eq!(escape_controls("\u{9b}2J"), "\\xc2\\x9b2J");
        let escaped = escape_controls("x\x1b[2J\x07\n\r\u{85}");
        assert!(!escaped.chars().any(char::is_control), "{escaped:?}");
    }

    #[test]
    fn bytes_of_a_name_that_is_not_utf8_are_escaped() {
        let name = crate::kernel::process::decode_name(b"srv\xff\xfe-\x1b\\");
        assert_eq!(escape_controls(&name), "srv\\xff\\xfe-\\e\\\\");
        // The escape of a byte and of a backslash followed by "xff" differ.
        assert_eq!(escape_controls("srv\\xff"), "srv\\\\xff");
    }
}
