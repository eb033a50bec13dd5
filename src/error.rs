//! The one error type of the analyzer. Every variant names what it was about: the pid, the
//! path or the field, so a message is never "no such file" without saying which. Each
//! variant has a [`ErrorKind`], the word scripts read in `--json` output.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The process does not exist (any more): it was never there or exited during the scan.
    #[error("pid {pid}: no such process")]
    NoSuchProcess { pid: i32 },

    /// The kernel refused to let us read a /proc file or a mapped file.
    #[error("{}: permission denied{}", path.display(), hint.as_deref().map(|h| format!(" ({h})")).unwrap_or_default())]
    PermissionDenied { path: PathBuf, hint: Option<String> },

    /// A kernel thread has no user memory map.
    #[error("pid {pid} ({comm}) is a kernel thread: it has no memory map")]
    KernelThread { pid: i32, comm: String },

    /// Any other I/O failure, with the file it happened on.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A line of /proc/PID/maps that does not have the documented shape.
    #[error("{}: line {line}: {reason}: {text:?}", path.display())]
    MapsLine {
        path: PathBuf,
        line: usize,
        reason: &'static str,
        text: String,
    },

    /// A file that does not start with the ELF magic.
    #[error("{}: not an ELF file (no \\x7fELF magic)", path.display())]
    NotElf { path: PathBuf },

    /// An ELF file whose headers are truncated, corrupt or beyond solab's bounds.
    #[error("{}: not a usable ELF object: {reason}", path.display())]
    Elf { path: PathBuf, reason: String },

    /// A FIFO, socket, device or directory where a regular file is needed.
    #[error("{}: {what}, not a regular file", path.display())]
    NotRegular { path: PathBuf, what: &'static str },

    /// A mapped file solab would not or could not open, with what it found.
    #[error("pid {pid}: {}: {reason}", path.display())]
    MappedFile {
        pid: i32,
        path: PathBuf,
        reason: String,
    },

    /// `--object PATTERN` matched nothing, or more than one object where one is needed.
    #[error("{0}")]
    Object(String),

    /// The system is not what the analyzer can work with (page size, architecture).
    #[error("unsupported system: {0}")]
    Unsupported(String),

    /// Bad command-line input that clap cannot check by itself.
    #[error("{0}")]
    Usage(String),
}

/// What kind of error: a closed set of words for scripts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    NoSuchProcess,
    PermissionDenied,
    KernelThread,
    Io,
    MapsLine,
    NotElf,
    BadElf,
    NotRegular,
    MappedFile,
    Object,
    Unsupported,
    Usage,
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        let path = path.into();
        match source.kind() {
            std::io::ErrorKind::PermissionDenied => Error::PermissionDenied { path, hint: None },
            _ => Error::Io { path, source },
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NoSuchProcess { .. } => ErrorKind::NoSuchProcess,
            Error::PermissionDenied { .. } => ErrorKind::PermissionDenied,
            Error::KernelThread { .. } => ErrorKind::KernelThread,
            Error::Io { .. } => ErrorKind::Io,
            Error::MapsLine { .. } => ErrorKind::MapsLine,
            Error::NotElf { .. } => ErrorKind::NotElf,
            Error::Elf { .. } => ErrorKind::BadElf,
            Error::NotRegular { .. } => ErrorKind::NotRegular,
            Error::MappedFile { .. } => ErrorKind::MappedFile,
            Error::Object(_) => ErrorKind::Object,
            Error::Unsupported(_) => ErrorKind::Unsupported,
            Error::Usage(_) => ErrorKind::Usage,
        }
    }

    /// The pid this error is about, when it is about one process: its message then begins
    /// by naming it (`pid N`), so a caller never looks for the pid in the text.
    pub fn pid(&self) -> Option<i32> {
        match self {
            Error::NoSuchProcess { pid }
            | Error::KernelThread { pid, .. }
            | Error::MappedFile { pid, .. } => Some(*pid),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
