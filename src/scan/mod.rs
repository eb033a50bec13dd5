//! The scan layer every command reads its evidence through: an object cache that opens and
//! plans each ELF object once per (device, inode) and each distinct vdso once, and the one
//! way to start scanning a process. The readers of kernel files are in [`crate::kernel`];
//! the commands (`inspect`, `prove`, `libs`) consume what this layer returns.

use crate::elf::{self, Detail, ElfPlan};
use crate::error::{Error, ErrorKind, Result};
use crate::kernel::{files, process};
use crate::maps::{FileId, MapEntry, MapTarget};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

/// Which object a mapping belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ObjKey {
    /// A mapped ELF file, by (device, inode).
    File(FileId),
    /// A vdso image, by a hash of its bytes: processes of one ABI share one.
    Vdso(u64),
}

/// An object as the cache holds it.
#[derive(Debug)]
pub struct Object {
    pub key: ObjKey,
    /// The path as first seen (`[vdso]` for the vdso).
    pub path: String,
    pub plan: ElfPlan,
}

/// A mapped file or vdso that is not analyzed, and why (`reason` does not repeat the pid
/// or the path).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    /// The process it was seen in.
    pub pid: i32,
    pub path: String,
    pub kind: ErrorKind,
    pub reason: String,
}

#[derive(Clone, Debug)]
enum Slot {
    Elf(usize),
    /// Not an ELF file (no magic): data files mapped by programs, counted as other files.
    NotElf,
    Skipped,
}

/// What the cache says about one mapping.
pub enum Lookup {
    Elf(usize),
    NotElf,
    Skipped,
}

/// Opens and plans each object once for the whole run.
pub struct ObjectCache {
    detail: Detail,
    slots: HashMap<ObjKey, Slot>,
    /// Vdso images by start address and pid, so each process's vdso is read once.
    pub objects: Vec<Arc<Object>>,
    pub skipped: Vec<Skipped>,
}

fn display_path(m: &MapEntry) -> String {
    match &m.target {
        MapTarget::File { path, .. } => path.to_string_lossy().into_owned(),
        MapTarget::Pseudo(p) => p.clone(),
        MapTarget::Anonymous => String::new(),
    }
}

/// FNV-1a: a stable hash of a vdso image, to tell different vdsos apart.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl ObjectCache {
    pub fn new(detail: Detail) -> ObjectCache {
        ObjectCache {
            detail,
            slots: HashMap::new(),
            objects: Vec::new(),
            skipped: Vec::new(),
        }
    }

    pub fn get(&self, i: usize) -> &Arc<Object> {
        &self.objects[i]
    }

    fn skip(&mut self, pid: i32, path: String, e: &Error) {
        // The entry names the pid and the path; the reason is what is left.
        let reason = match e {
            Error::MappedFile { reason, .. } | Error::Elf { reason, .. } => reason.clone(),
            other => other.to_string(),
        };
        self.skipped.push(Skipped {
            pid,
            path,
            kind: e.kind(),
            reason,
        });
    }

    fn insert(&mut self, key: ObjKey, path: String, plan: ElfPlan) -> usize {
        self.objects.push(Arc::new(Object { key, path, plan }));
        let i = self.objects.len() - 1;
        self.slots.insert(key, Slot::Elf(i));
        i
    }

    /// The object mapped by file mapping `entry` of `pid`, opened and planned the first
    /// time its (device, inode) is seen. `Err` only when the process is gone (the caller
    /// may try another process that maps the same file).
    pub fn file(&mut self, pid: i32, entry: &MapEntry) -> Result<Lookup> {
        let Some(id) = entry.file_id() else {
            return Ok(Lookup::NotElf);
        };
        let key = ObjKey::File(id);
        if let Some(s) = self.slots.get(&key) {
            return Ok(match s {
                Slot::Elf(i) => Lookup::Elf(*i),
                Slot::NotElf => Lookup::NotElf,
                Slot::Skipped => Lookup::Skipped,
            });
        }
        let path = display_path(entry);
        let planned = files::open_mapped_file(pid, entry).and_then(|(f, opened)| {
            let mut magic = [0u8; 4];
            use std::os::unix::fs::FileExt;
            let n = f
                .read_at(&mut magic, 0)
                .map_err(|e| Error::io(&opened, e))?;
            if !elf::has_elf_magic(&magic[..n]) {
                return Err(Error::NotElf { path: opened });
            }
            elf::plan_file(&f, self.detail).map_err(|e| Error::Elf {
                path: path.clone().into(),
                reason: e.0,
            })
        });
        Ok(match planned {
            Ok(plan) => Lookup::Elf(self.insert(key, path, plan)),
            Err(e @ Error::NotElf { .. }) => {
                // Listed (kind `not-elf`), so a reader sees every mapped file accounted for.
                self.skip(pid, path, &e);
                self.slots.insert(key, Slot::NotElf);
                Lookup::NotElf
            }
            Err(e @ Error::NoSuchProcess { .. }) => return Err(e),
            Err(e) => {
                self.skip(pid, path, &e);
                self.slots.insert(key, Slot::Skipped);
                Lookup::Skipped
            }
        })
    }

    /// The vdso of `pid`, read from its own memory and planned once per distinct image.
    pub fn vdso(&mut self, pid: i32, entry: &MapEntry) -> Result<Lookup> {
        let bytes = match files::read_vdso(pid, entry) {
            Ok(b) => b,
            Err(e @ Error::NoSuchProcess { .. }) => return Err(e),
            Err(e) => {
                self.skip(pid, "[vdso]".into(), &e);
                return Ok(Lookup::Skipped);
            }
        };
        let key = ObjKey::Vdso(fnv(&bytes));
        if let Some(Slot::Elf(i)) = self.slots.get(&key) {
            return Ok(Lookup::Elf(*i));
        }
        Ok(match elf::plan_bytes(&bytes, self.detail) {
            Ok(plan) => Lookup::Elf(self.insert(key, "[vdso]".into(), plan)),
            Err(e) => {
                let e = Error::Elf {
                    path: "[vdso]".into(),
                    reason: e.0,
                };
                self.skip(pid, "[vdso]".into(), &e);
                Lookup::Skipped
            }
        })
    }

    /// The object behind `entry` of `pid`: a file mapping or the vdso.
    pub fn lookup(&mut self, pid: i32, entry: &MapEntry) -> Result<Lookup> {
        if entry.is_pseudo("[vdso]") {
            self.vdso(pid, entry)
        } else {
            self.file(pid, entry)
        }
    }
}

/// A process whose memory map was read.
#[derive(Clone, Debug)]
pub struct Process {
    pub pid: i32,
    pub maps: Vec<MapEntry>,
}

impl Process {
    pub fn read(pid: i32) -> Result<Process> {
        Ok(Process {
            pid,
            maps: process::read_maps(pid)?,
        })
    }

    /// The mappings that can start an object: file mappings and the vdso, each object's
    /// first mapping once, in address order.
    pub fn object_mappings(&self) -> Vec<&MapEntry> {
        let mut seen: Vec<FileId> = Vec::new();
        self.maps
            .iter()
            .filter(|m| {
                if m.is_pseudo("[vdso]") {
                    return true;
                }
                match m.file_id() {
                    Some(id) if !seen.contains(&id) => {
                        seen.push(id);
                        true
                    }
                    _ => false,
                }
            })
            .collect()
    }
}

/// A process that could not be scanned, by name, with the kind of failure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PidError {
    pub pid: i32,
    pub kind: ErrorKind,
    pub message: String,
}

impl PidError {
    pub fn new(pid: i32, e: &Error) -> PidError {
        PidError {
            pid,
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}
