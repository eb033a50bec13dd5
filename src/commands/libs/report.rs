//! What `solab libs --json` prints (schema `solab.libs.v2`), and its ordering.

use super::SortKey;
use crate::elf::SegmentKind;
use crate::scan::{PidError, Skipped};
use serde::{Deserialize, Serialize};

/// Pages of one segment kind of an object, summed over the processes.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct KindFigures {
    /// Present pages, summed over the processes (what they would hold with no sharing).
    pub resident_pages: u64,
    /// Distinct frames among them; null without CAP_SYS_ADMIN.
    pub frames: Option<u64>,
    /// Anonymous frames in the object's own private file mappings: copies made by a write
    /// (relocation, text relocation, written data). The zero page is not a copy.
    pub private_pages: u64,
}

/// Private copies by where they are.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PrivateCopies {
    /// Text and read-only data (only text relocations make these).
    pub text: u64,
    /// PT_GNU_RELRO: written by the loader's relocations, then made read-only.
    pub relro: u64,
    /// Writable data written by the program (and the loader's zeroed .bss start).
    pub data: u64,
}

impl PrivateCopies {
    pub fn total(&self) -> u64 {
        self.text + self.relro + self.data
    }
}

/// smaps figures summed over the processes, in pages (the unprivileged estimates).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SmapsEstimate {
    pub rss_pages: f64,
    pub pss_pages: f64,
    pub shared_pages: f64,
    pub private_pages: f64,
}

/// One ELF object, tied by (device, inode), or one vdso image (tied by its bytes).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LibRow {
    pub path: String,
    /// `major:minor` in hex, as /proc/PID/maps prints it.
    pub dev: Option<String>,
    pub inode: Option<u64>,
    pub soname: Option<String>,
    pub procs: u32,
    /// Present pages of the object's mappings (file, .bss tail, MAP_SHARED window),
    /// summed over the processes.
    pub resident_pages: u64,
    /// Distinct frames among them: what the machine really spends. Null when estimated.
    pub frames: Option<u64>,
    /// resident_pages - frames; when estimated: smaps Rss - Pss summed.
    pub saved_pages: f64,
    /// Sum over the processes of the proportional set size (from /proc/kpagecount, or
    /// smaps Pss when estimated).
    pub pss_pages: f64,
    pub private: PrivateCopies,
    /// DT_TEXTREL: the loader patches text pages, making private copies of them.
    pub textrel: bool,
    /// By segment kind: text, rodata, relro, data, bss, shared.
    pub segments: std::collections::BTreeMap<SegmentKind, KindFigures>,
    /// The smaps figures (only when not privileged).
    pub estimate: Option<SmapsEstimate>,
}

/// Pages of one class of memory, summed over the processes.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Totals {
    pub resident_pages: u64,
    /// Null without CAP_SYS_ADMIN.
    pub frames: Option<u64>,
    /// resident_pages - frames, or smaps Rss - Pss when estimated.
    pub saved_pages: f64,
    pub pss_pages: Option<f64>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ProcessCounts {
    /// Processes whose memory was read.
    pub scanned: u32,
    /// Exited between listing and reading.
    pub vanished: u32,
    /// Refused (another user's process without CAP_SYS_PTRACE).
    pub unreadable: u32,
    /// Kernel threads and zombies.
    pub no_memory_map: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MachineTotals {
    pub objects: u32,
    pub elf_objects: Totals,
    /// Private anonymous memory and everything that is not a file (heap, stacks, shmem).
    pub anonymous: Totals,
    /// Files that are not ELF objects (locale archives, caches, /dev/shm regions).
    pub other_files: Totals,
    /// Everything: frames counted once even if two classes map them.
    pub all: Totals,
    /// Mappings of the kernel's zero page (not memory anyone holds; not in the figures).
    pub zero_page_mappings: u64,
}

/// Where the evidence came from: frame numbers, or smaps estimates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    Frames,
    Estimate,
}

/// Which processes were scanned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScopeName {
    All,
    /// Every process of one user (`--user` without pids).
    User,
    Pids,
}

/// Where PSS comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PssSource {
    /// /proc/kpagecount (some processes were scanned).
    Kpagecount,
    /// Every process was scanned: a frame's mappings are the ones seen.
    Frames,
    /// smaps Pss (estimate).
    Smaps,
}

/// What `solab libs --json` prints.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LibsReport {
    pub schema: String,
    /// Frames compared by PFN. False: figures marked estimate come from smaps.
    pub privileged: bool,
    pub privilege_note: Option<String>,
    /// `frames` (privileged) or `estimate` (smaps).
    pub mode: Mode,
    /// `all`, `user` (every process of `--user`) or `pids`.
    pub scope: ScopeName,
    /// Where PSS comes from: `kpagecount` (some processes), `frames` (every process was
    /// scanned, so a frame's mappings are the ones seen), or `smaps` (estimate).
    pub pss_source: PssSource,
    pub kernel: crate::kernel::config::KernelFacts,
    pub page_size: u64,
    pub processes: ProcessCounts,
    /// For explicit pids: the ones that could not be read, by name.
    pub errors: Vec<PidError>,
    pub objects: Vec<LibRow>,
    pub totals: MachineTotals,
    /// ELF objects that could not be analyzed.
    pub skipped: Vec<Skipped>,
}

impl LibsReport {
    /// Orders the objects by `key`, largest first (ties by path), and keeps the first
    /// `top` (0 keeps all).
    pub(super) fn sort(&mut self, key: SortKey, reverse: bool, top: usize) {
        let value = |r: &LibRow| -> f64 {
            match key {
                SortKey::Saved => r.saved_pages,
                SortKey::Resident => r.resident_pages as f64,
                SortKey::Frames => r.frames.map_or(r.pss_pages, |f| f as f64),
                SortKey::Pss => r.pss_pages,
                SortKey::Procs => r.procs as f64,
                SortKey::Private => r.private.total() as f64,
                SortKey::Object => 0.0,
            }
        };
        // Largest first (paths alphabetically), or the other way with --reverse.
        self.objects.sort_by(|a, b| {
            let order = if key == SortKey::Object {
                b.path.cmp(&a.path)
            } else {
                value(b)
                    .total_cmp(&value(a))
                    .then_with(|| a.path.cmp(&b.path))
            };
            if reverse != (key == SortKey::Object) {
                order.reverse()
            } else {
                order
            }
        });
        if top > 0 {
            self.objects.truncate(top);
        }
    }
}
