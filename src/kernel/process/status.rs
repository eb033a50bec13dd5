//! /proc/PID/status, /proc/PID/stat and /proc/PID/comm (proc(5); formatted by
//! fs/proc/array.c `proc_pid_status` and `do_task_stat`, comm by fs/proc/base.c
//! `comm_show`): the real uid, the parent, the flags (PF_KTHREAD, include/linux/sched.h)
//! and the command name. Access: any process may read them of any other.

use super::ProcDir;
use crate::error::{Error, Result};

impl ProcDir {
    /// The real uid and the command name, from one read of /proc/PID/status (its lines up
    /// to `Uid:`: the kernel formats the whole file on the first read, the rest is not
    /// asked for).
    pub fn status(&self, buf: &mut Vec<u8>) -> Result<Status> {
        let through_uid = |b: &[u8]| {
            b.windows(5)
                .position(|w| w == b"\nUid:")
                .is_some_and(|i| b[i + 1..].contains(&b'\n'))
        };
        self.read_until(c"status", buf, through_uid)?;
        parse_status(buf).ok_or_else(|| Error::Io {
            path: self.path(c"status"),
            source: std::io::Error::other("no Name: or Uid: line"),
        })
    }

    /// [`Error::KernelThread`] when the process is a kernel thread, which has no memory
    /// map: the one test of it every command asks (PF_KTHREAD, [`Stat::kernel_thread`]).
    /// `Ok` otherwise, and when its stat cannot be read.
    pub fn refuse_kernel_thread(&self) -> Result<()> {
        match self.stat() {
            Ok(s) if s.kernel_thread() => Err(Error::KernelThread {
                pid: self.pid,
                comm: s.comm,
            }),
            _ => Ok(()),
        }
    }

    /// The fields of /proc/PID/stat solab uses.
    pub fn stat(&self) -> Result<Stat> {
        let mut buf = Vec::new();
        self.read(c"stat", &mut buf)?;
        parse_stat(&buf).ok_or_else(|| Error::Io {
            path: self.path(c"stat"),
            source: std::io::Error::other("unexpected format"),
        })
    }

    /// The command name as [`ProcDir::comm`] makes it; an error when the
    /// process is gone (where [`ProcDir::comm`] gives `?`).
    pub fn comm_of(&self, buf: &mut Vec<u8>) -> Result<String> {
        self.read(c"comm", buf)?;
        Ok(comm_of(std::mem::take(buf)))
    }

    /// The short command name of the process, or `?`.
    pub fn comm(&self) -> String {
        self.comm_of(&mut Vec::new()).unwrap_or_else(|_| "?".into())
    }
}

/// What /proc/PID/status says about a process, in one read ([`ProcDir::status`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// The real uid: the first of the `Uid:` line's four.
    pub uid: u32,
    /// The command name as [`ProcDir::comm`] gives it.
    pub comm: String,
}

/// The command name as [`ProcDir::comm`] makes it of the bytes the kernel holds
/// ([`decode_name`]), trailing white space trimmed.
fn comm_of(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(s) if !s.chars().any(is_byte_char) => s.trim_end().to_string(),
        Ok(s) => decode_name(s.as_bytes()).trim_end().to_string(),
        Err(e) => decode_name(e.as_bytes()).trim_end().to_string(),
    }
}

/// The first of the private-use characters U+10FE80..=U+10FEFF, each of which stands for
/// one byte 0x80..=0xFF of a name that is not UTF-8 ([`decode_name`], [`byte_of_char`]).
const BYTE_CHARS: u32 = 0x10_FE00;

/// Whether `c` is one of the characters [`decode_name`] makes of a byte.
fn is_byte_char(c: char) -> bool {
    (BYTE_CHARS + 0x80..=BYTE_CHARS + 0xFF).contains(&u32::from(c))
}

/// The byte a character of [`decode_name`] stands for, or None for any other character.
pub fn byte_of_char(c: char) -> Option<u8> {
    is_byte_char(c).then(|| (u32::from(c) - BYTE_CHARS) as u8)
}

/// A name of bytes (a command name, which any process sets to any 15 bytes) as a string that
/// keeps every byte: its UTF-8 sequences as they are, and each other byte as the
/// private-use character U+10FE00 + byte ([`byte_of_char`]); so are the bytes of a
/// character of that range itself, so that the string never holds one the bytes did not
/// make. [`encode_name`] gives the bytes back. Text output shows each such character as
/// `\xNN` (the text output's escaping); it is never a character a terminal draws.
pub fn decode_name(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut rest = bytes;
    let push_bytes = |out: &mut String, b: &[u8]| {
        out.extend(
            b.iter()
                .map(|&b| char::from_u32(BYTE_CHARS + u32::from(b)).unwrap_or('?')),
        )
    };
    while !rest.is_empty() {
        let (valid, bad) = match std::str::from_utf8(rest) {
            Ok(s) => (s, &[][..]),
            Err(e) => {
                let (v, after) = rest.split_at(e.valid_up_to());
                let n = e.error_len().unwrap_or(after.len());
                (std::str::from_utf8(v).unwrap_or_default(), &after[..n])
            }
        };
        for c in valid.chars() {
            if is_byte_char(c) {
                push_bytes(&mut out, c.encode_utf8(&mut [0; 4]).as_bytes());
            } else {
                out.push(c);
            }
        }
        push_bytes(&mut out, bad);
        rest = &rest[valid.len() + bad.len()..];
    }
    out
}

/// The bytes [`decode_name`] made `name` of.
pub fn encode_name(name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len());
    for c in name.chars() {
        match byte_of_char(c) {
            Some(b) => out.push(b),
            None => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    out
}

/// The real uid and the command name in /proc/PID/status text. The `Name:` line holds the
/// name /proc/PID/comm holds, with `\n` and `\` escaped as `\n` and `\\` (fs/proc/array.c
/// `proc_task_name`: `ESCAPE_SPACE | ESCAPE_SPECIAL` limited to `"\n\\"`), which is undone
/// here: the name is the one [`ProcDir::comm`] gives.
pub fn parse_status(text: &[u8]) -> Option<Status> {
    let line = |key: &[u8]| {
        text.split(|&b| b == b'\n')
            .find_map(|l| l.strip_prefix(key))
    };
    let name = line(b"Name:\t")?;
    let uid = std::str::from_utf8(line(b"Uid:")?)
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let mut raw = Vec::with_capacity(name.len());
    let mut bytes = name.iter();
    while let Some(&b) = bytes.next() {
        raw.push(match (b, bytes.as_slice().first()) {
            (b'\\', Some(b'n')) => {
                bytes.next();
                b'\n'
            }
            (b'\\', Some(b'\\')) => {
                bytes.next();
                b'\\'
            }
            _ => b,
        });
    }
    Some(Status {
        uid,
        comm: comm_of(raw),
    })
}

/// The fields of /proc/PID/stat solab uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stat {
    /// Field 2, the command name as [`ProcDir::comm`] gives it.
    pub comm: String,
    /// Field 3: R, S, D, Z, T...
    pub state: char,
    /// Field 4.
    pub ppid: i32,
    /// Field 9.
    pub flags: u64,
    /// Field 22: when the process started, in clock ticks after boot. With the pid it names
    /// one process: a pid reused later has a later start. `None` where the line ends
    /// before it.
    pub start_time: Option<u64>,
}

/// `PF_KTHREAD` (include/linux/sched.h) in the flags field.
const PF_KTHREAD: u64 = 0x0020_0000;

impl Stat {
    /// Whether the process is a kernel thread: the kernel's own flag (status prints the
    /// same flag as `Kthread:`, from Linux 6.1).
    pub fn kernel_thread(&self) -> bool {
        self.flags & PF_KTHREAD != 0
    }
}

/// Parses /proc/PID/stat text (proc(5): `pid (comm) state ppid pgrp session tty_nr tpgid
/// flags ...`). `comm` may hold spaces and parentheses (it is printed unescaped): it is
/// what lies between the first `(` and the last `)`, and the fields start after that.
pub fn parse_stat(stat: &[u8]) -> Option<Stat> {
    let open = stat.iter().position(|&b| b == b'(')?;
    let close = stat.iter().rposition(|&b| b == b')')?;
    let comm = comm_of(stat.get(open + 1..close)?.to_vec());
    let after = std::str::from_utf8(&stat[close + 1..]).ok()?;
    let mut f = after.split_whitespace();
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    let flags = f.nth(4)?.parse().ok()?;
    let start_time = f.nth(12).and_then(|t| t.parse().ok());
    Some(Stat {
        comm,
        state,
        ppid,
        flags,
        start_time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_are_not_utf8_keep_every_byte() {
        for bytes in [
            &b"nginx"[..],
            b"caf\xc3\xa9",
            b"a\xffb\x80",
            b"\xe2\x82",
            b"x\xf4\x8f\xba\x80y",
            b"\\x41\x1b",
        ] {
            let name = decode_name(bytes);
            assert_eq!(encode_name(&name), bytes, "{name:?}");
        }
        assert_eq!(decode_name(b"caf\xc3\xa9"), "café");
        let name = decode_name(b"a\xffb");
        assert_eq!(
            name.chars().filter_map(byte_of_char).collect::<Vec<_>>(),
            [0xff]
        );
        // A character of the byte range in valid UTF-8 is its four bytes, not itself.
        assert_eq!(decode_name("\u{10fe80}".as_bytes()).chars().count(), 4);
        assert_eq!(comm_of(b"top\xff\n".to_vec()), decode_name(b"top\xff"));
        let status = parse_status(b"Name:\tw\\\\\xfe\\n\nUid:\t7\t7\t7\t7\n").expect("status");
        assert_eq!(encode_name(&status.comm), b"w\\\xfe");
    }
}
