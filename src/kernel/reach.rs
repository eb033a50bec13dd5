//! Why the path of a mapped file does not open as the mapped file.
//!
//! When the path in /proc/PID/maps does not give us the mapped file and
//! /proc/PID/map_files is closed to us (it needs CAP_SYS_ADMIN), the message must say what
//! really happened: a checkout under a 0700 home is not a "replaced" file. The causes are
//! found with the caller's own rights, the way the kernel judged the failed open: stat(2)
//! and eaccess(3) (effective ids, as open(2) uses) on each directory on the way from the
//! root, then stat(2) of the path. The paths come from the kernel's d_path, so they hold no symbolic link to
//! follow and the first refusing directory on the walk is the one to name.

use crate::maps::{FileId, split_dev};
use nix::errno::Errno;
use nix::unistd::{AccessFlags, eaccess};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What stands between the caller and the mapped file at `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unopenable {
    /// A directory on the way that the caller may not search (EACCES): the file may be
    /// there, unchanged, but this user cannot reach it.
    ParentNotSearchable { dir: PathBuf },
    /// Nothing is at `at` (a directory on the way, or the file itself): removed or moved.
    Missing { at: PathBuf },
    /// A directory on the way is not a directory (ENOTDIR).
    NotADirectory { at: PathBuf },
    /// The path names another file than the one mapped: its device/inode differ.
    Replaced { found: FileId },
    /// The path names the mapped file, but the caller may not open it.
    Unreadable { error: String },
    /// The path names the mapped file and it opens now (it did not a moment ago).
    Opens,
    /// Any other failure, with the path it happened on.
    Other { at: PathBuf, error: String },
}

impl std::fmt::Display for Unopenable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unopenable::ParentNotSearchable { dir } => write!(
                f,
                "this user cannot search the directory {} (permission denied), so the path cannot be reached",
                dir.display()
            ),
            Unopenable::Missing { at } => write!(
                f,
                "{} does not exist (the file was removed or moved)",
                at.display()
            ),
            Unopenable::NotADirectory { at } => {
                write!(f, "{} is not a directory any more", at.display())
            }
            Unopenable::Replaced { found } => write!(
                f,
                "the file was replaced (the path names device/inode {found}, not the mapping's)"
            ),
            Unopenable::Unreadable { error } => {
                write!(f, "this user may not open the file ({error})")
            }
            Unopenable::Opens => write!(f, "the file opens now, but did not a moment ago"),
            Unopenable::Other { at, error } => write!(f, "{}: {error}", at.display()),
        }
    }
}

/// Finds why `path` does not open as the file `expected` (device, inode), with the caller's
/// effective ids.
pub fn why_unopenable(path: &Path, expected: FileId) -> Unopenable {
    // Ancestors from the root down: the first one that refuses is the one to name.
    let mut dirs: Vec<&Path> = path.ancestors().skip(1).collect();
    dirs.reverse();
    for dir in dirs {
        // Its parent was searchable, so stat(2) tells whether it is there and a directory
        // (X_OK on a file would ask about executing it).
        match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Unopenable::NotADirectory {
                    at: dir.to_path_buf(),
                };
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Unopenable::Missing {
                    at: dir.to_path_buf(),
                };
            }
            Err(e) => {
                return Unopenable::Other {
                    at: dir.to_path_buf(),
                    error: e.to_string(),
                };
            }
        }
        match eaccess(dir, AccessFlags::X_OK) {
            Ok(()) => {}
            Err(Errno::EACCES) => {
                return Unopenable::ParentNotSearchable {
                    dir: dir.to_path_buf(),
                };
            }
            Err(e) => {
                return Unopenable::Other {
                    at: dir.to_path_buf(),
                    error: e.desc().to_string(),
                };
            }
        }
    }
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Unopenable::Missing {
                at: path.to_path_buf(),
            };
        }
        Err(e) => {
            return Unopenable::Other {
                at: path.to_path_buf(),
                error: e.to_string(),
            };
        }
    };
    let found = FileId {
        dev: split_dev(meta.dev()),
        inode: meta.ino(),
    };
    if found != expected {
        return Unopenable::Replaced { found };
    }
    match std::fs::File::open(path) {
        Ok(_) => Unopenable::Opens,
        Err(e) => Unopenable::Unreadable {
            error: e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A fresh directory under the system's temp directory, removed on Drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new() -> Scratch {
            let template = std::env::temp_dir().join("solab-reach-XXXXXX");
            Scratch(nix::unistd::mkdtemp(&template).expect("mkdtemp"))
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o700));
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn id_of(p: &Path) -> FileId {
        let m = std::fs::metadata(p).unwrap();
        FileId {
            dev: split_dev(m.dev()),
            inode: m.ino(),
        }
    }

    #[test]
    fn the_same_file_opens() {
        let s = Scratch::new();
        let f = s.0.join("lib.so");
        std::fs::write(&f, b"x").unwrap();
        assert_eq!(why_unopenable(&f, id_of(&f)), Unopenable::Opens);
    }

    #[test]
    fn another_file_at_the_path_is_replaced_and_says_which() {
        let s = Scratch::new();
        let f = s.0.join("lib.so");
        std::fs::write(&f, b"old").unwrap();
        let mapped = id_of(&f);
        let new = s.0.join("lib.so.new");
        std::fs::write(&new, b"new").unwrap();
        std::fs::rename(&new, &f).unwrap();
        let now = id_of(&f);
        assert_ne!(now, mapped);
        assert_eq!(
            why_unopenable(&f, mapped),
            Unopenable::Replaced { found: now }
        );
    }

    #[test]
    fn a_missing_directory_is_named_not_the_file() {
        let s = Scratch::new();
        let f = s.0.join("lib.so");
        std::fs::write(&f, b"x").unwrap();
        let id = id_of(&f);
        let gone = s.0.join("gone");
        assert_eq!(
            why_unopenable(&gone.join("deeper/lib.so"), id),
            Unopenable::Missing { at: gone.clone() }
        );
        std::fs::remove_file(&f).unwrap();
        assert_eq!(why_unopenable(&f, id), Unopenable::Missing { at: f });
    }

    #[test]
    fn a_file_where_a_directory_was_is_not_a_directory() {
        let s = Scratch::new();
        let f = s.0.join("plain");
        std::fs::write(&f, b"x").unwrap();
        let id = id_of(&f);
        assert_eq!(
            why_unopenable(&f.join("lib.so"), id),
            Unopenable::NotADirectory { at: f }
        );
    }

    /// The check uses the caller's rights, not the mode bits: root searches a 0000
    /// directory (and so finds the file it maps); anyone else is told which directory
    /// stops them. The other user's side runs for real in tests/analyzer.rs.
    #[test]
    fn an_unsearchable_directory_is_judged_with_the_callers_rights() {
        let s = Scratch::new();
        let closed = s.0.join("closed");
        std::fs::create_dir(&closed).unwrap();
        let f = closed.join("lib.so");
        std::fs::write(&f, b"x").unwrap();
        let id = id_of(&f);
        std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o000)).unwrap();
        let got = why_unopenable(&f, id);
        std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).unwrap();
        if nix::unistd::geteuid().is_root() {
            assert_eq!(got, Unopenable::Opens);
        } else {
            assert_eq!(got, Unopenable::ParentNotSearchable { dir: closed });
        }
    }

    #[test]
    fn the_message_names_the_directory() {
        let u = Unopenable::ParentNotSearchable {
            dir: PathBuf::from("/root"),
        };
        let text = u.to_string();
        assert!(
            text.contains("/root") && text.contains("cannot search"),
            "{text}"
        );
        assert!(!text.contains("replaced"), "{text}");
    }
}
