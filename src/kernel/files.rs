//! Opening files that another process names, safely: a path in /proc/PID/maps is under
//! the control of whoever owns that process, and may by now be a FIFO (opening it would
//! block), a symbolic link (to a device with side effects on open), a directory, or
//! another file. So: prefer /proc/PID/map_files (the mapped file itself) where it is
//! readable; otherwise `lstat` the path first and go on only when a regular file of the
//! mapping's (device, inode) is there; open with `O_NOFOLLOW | O_NONBLOCK`; check again with
//! `fstat`. Every refusal says what was found.

use super::process::ProcDir;
use crate::error::{Error, Result};
use crate::maps::{FileId, MapEntry, MapTarget, split_dev};
use std::fs::{File, Metadata, OpenOptions};
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// What a path holds, in words, when it is not a regular file.
pub fn kind_of(m: &Metadata) -> &'static str {
    let t = m.file_type();
    if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_symlink() {
        "a symbolic link"
    } else {
        "a regular file"
    }
}

fn same(m: &Metadata, id: FileId) -> bool {
    m.ino() == id.inode && split_dev(m.dev()) == id.dev
}

fn open_flags(follow: bool) -> OpenOptions {
    let mut o = OpenOptions::new();
    let nofollow = if follow { 0 } else { libc::O_NOFOLLOW };
    o.read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | nofollow);
    o
}

/// Opens a file the user named (`solab elf FILE`): links are followed, as the user asked
/// for that path, but nothing blocks and only a regular file is accepted.
pub fn open_named_file(path: &Path) -> Result<File> {
    let f = open_flags(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    let m = f.metadata().map_err(|e| Error::io(path, e))?;
    if !m.file_type().is_file() {
        return Err(Error::NotRegular {
            path: path.to_path_buf(),
            what: kind_of(&m),
        });
    }
    Ok(f)
}

/// Opens the file behind a file mapping of the process of `dir`: through
/// /proc/PID/map_files when this process may read it, otherwise through the path when a
/// regular file of the mapping's (device, inode) is still there.
pub fn open_mapped_file(dir: &ProcDir, entry: &MapEntry) -> Result<(File, PathBuf)> {
    let pid = dir.pid();
    let (Some(id), MapTarget::File { path, deleted }) = (entry.file_id(), &entry.target) else {
        return Err(Error::Usage(format!(
            "mapping at {} is not a file mapping",
            entry.start
        )));
    };
    let refuse = |reason: String| Error::MappedFile {
        pid,
        path: path.to_path_buf(),
        reason,
    };
    let name = std::ffi::CString::new(format!("map_files/{}", entry.map_files_name()))
        .map_err(|e| Error::Usage(e.to_string()))?;
    let via = dir.path(&name);
    // O_PATH follows the magic link to the mapped file itself without opening it.
    match dir
        .open_link(&name, libc::O_PATH)
        .and_then(|f| f.metadata())
    {
        Ok(m) if !m.file_type().is_file() => {
            return Err(refuse(format!(
                "the mapped file is {}, not a regular file",
                kind_of(&m)
            )));
        }
        Ok(m) if !same(&m, id) => return Err(refuse("map_files gives a different file".into())),
        Ok(_) => {
            if let Ok(f) = dir.open_link(&name, libc::O_RDONLY | libc::O_NONBLOCK)
                && f.metadata()
                    .is_ok_and(|m| m.file_type().is_file() && same(&m, id))
            {
                return Ok((f, via));
            }
        }
        Err(_) if !dir.exists() => return Err(Error::NoSuchProcess { pid }),
        Err(_) => {} // unreadable without CAP_SYS_ADMIN: try the path
    }
    if *deleted {
        return Err(refuse(format!(
            "the file was deleted and {} is unreadable (it needs CAP_SYS_ADMIN)",
            via.display()
        )));
    }
    let found = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        // Unreachable (a directory this user cannot search), missing, or another error:
        // the caller's own permissions decide, and the message says which.
        Err(_) => {
            return Err(refuse(format!(
                "{} (and {} is unreadable)",
                super::reach::why_unopenable(path, id),
                via.display()
            )));
        }
    };
    if !found.file_type().is_file() {
        return Err(refuse(format!(
            "{} is at that path now, not the mapped file; not opened",
            kind_of(&found)
        )));
    }
    if !same(&found, id) {
        return Err(refuse(format!(
            "replaced: the file at that path now is another file (device/inode {:x}:{:x}/{} \
             instead of the mapping's {:x}:{:x}/{}) and {} is unreadable",
            split_dev(found.dev()).0,
            split_dev(found.dev()).1,
            found.ino(),
            id.dev.0,
            id.dev.1,
            id.inode,
            via.display()
        )));
    }
    let f = open_flags(false)
        .open(path)
        .map_err(|_| refuse(super::reach::why_unopenable(path, id).to_string()))?;
    match f.metadata() {
        Ok(m) if m.file_type().is_file() && same(&m, id) => Ok((f, path.to_path_buf())),
        _ => Err(refuse("the file changed while it was opened".into())),
    }
}

/// The most bytes of a vdso image read: real ones are two to four pages.
pub const MAX_VDSO_BYTES: u64 = 1 << 20;

/// The vdso image of the process of `dir`, read from /proc/PID/mem at its `[vdso]`
/// mapping: each process's own, since a 32-bit process has another vdso than a 64-bit one.
pub fn read_vdso(dir: &ProcDir, vdso: &MapEntry) -> Result<Vec<u8>> {
    let pid = dir.pid();
    if vdso.len() > MAX_VDSO_BYTES {
        return Err(Error::MappedFile {
            pid,
            path: "[vdso]".into(),
            reason: format!("a {}-byte vdso is not a vdso", vdso.len()),
        });
    }
    let path = dir.path(c"mem");
    let f = dir.open_file(c"mem")?;
    let mut buf = vec![0u8; vdso.len() as usize];
    f.read_exact_at(&mut buf, vdso.start.0)
        .map_err(|e| super::process::error(pid, &path, e))?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_is_refused_at_once() {
        let dir = std::env::temp_dir().join(format!("solab-fifo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let fifo = dir.join("f");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("path");
        // SAFETY: a valid path; mkfifo only reads it.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = open_named_file(&fifo).expect_err("a FIFO");
        assert!(e.to_string().contains("a FIFO"), "{e}");
        let e = open_named_file(&dir).expect_err("a directory");
        assert!(e.to_string().contains("a directory"), "{e}");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn own_vdso_is_read() {
        let dir = ProcDir::open(std::process::id() as i32).expect("own directory");
        let maps = dir.read_maps().expect("maps");
        let vdso = maps.iter().find(|m| m.is_pseudo("[vdso]")).expect("vdso");
        let bytes = read_vdso(&dir, vdso).expect("vdso bytes");
        assert!(crate::elf::has_elf_magic(&bytes));
    }
}
