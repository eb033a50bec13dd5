//! The one error type of the analyzer. Every variant names what it was about: the pid, the
//! path or the field, so a message is never "no such file" without saying which.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The process does not exist (any more): it was never there or exited during the scan.
    #[error("pid {pid}: no such process (it does not exist or exited during the scan)")]
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

    /// A file that is not an ELF object, or whose headers are truncated or corrupt.
    #[error("{}: not a usable ELF object: {reason}", path.display())]
    Elf { path: PathBuf, reason: String },

    /// A mapped file we could not get hold of (deleted or replaced, and map_files unreadable).
    #[error("pid {pid}: cannot open the file mapped as {}: {reason}", path.display())]
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

impl Error {
    /// Wraps an I/O error on `path`, turning ENOENT/ESRCH on a /proc/PID path into
    /// [`Error::NoSuchProcess`] and EACCES/EPERM into [`Error::PermissionDenied`].
    pub fn io(path: impl Into<PathBuf>, pid: Option<i32>, source: std::io::Error) -> Error {
        let path = path.into();
        match (source.kind(), source.raw_os_error(), pid) {
            (_, Some(libc::ESRCH), Some(pid)) | (std::io::ErrorKind::NotFound, _, Some(pid)) => {
                Error::NoSuchProcess { pid }
            }
            (std::io::ErrorKind::PermissionDenied, _, _) => Error::PermissionDenied {
                path,
                hint: pid
                    .map(|_| "another user's process needs root or CAP_SYS_PTRACE".to_string()),
            },
            _ => Error::Io { path, source },
        }
    }

    /// The pid this error is about, when it is about one process.
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
