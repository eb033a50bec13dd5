//! The layout of the `.shared` section: one page, `#[repr(C)]`, the same in the `.so` file,
//! in the backing object under /dev/shm, and in every process that maps it.
//!
//! ## The clipboard protocol: a double-buffered seqlock, writers serialized by a file lock
//!
//! Readers never take a lock: each of the two slots carries a sequence number that a writer
//! makes odd before it writes the slot and even after. A reader copies the slot named by
//! `clip_current` and keeps the copy only when the sequence number was even and unchanged
//! across the copy, so it can never return a torn or half-written message.
//!
//! Why a seqlock and not a process-shared robust mutex: a reader that holds no lock cannot
//! leave anything behind when it is killed, and it cannot be blocked by a writer that was
//! stopped or killed. Why two slots: a writer always fills the slot readers are *not* told
//! to read and publishes it only when complete, so a writer killed mid-write leaves the
//! previous message readable (the half-written slot stays odd and unpublished) instead of a
//! slot that is odd forever. Writers exclude each other with an in-process mutex plus an
//! open-file-description lock on the backing object (fcntl(2) `F_OFD_SETLKW`), which the
//! kernel releases when the writer dies, kill -9 included: no recovery code is needed.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};
use std::time::{Duration, Instant};

/// "SOLIBSHR" read as a little-endian u64.
pub const MAGIC: u64 = u64::from_le_bytes(*b"SOLIBSHR");
/// Bumped whenever [`SharedRegion`]'s layout changes; part of the backing object's name.
pub const LAYOUT_VERSION: u32 = 1;
/// The section is exactly one page.
pub const REGION_SIZE: usize = 4096;
const CLIP_WORDS: usize = 248;
/// The longest message the clipboard holds, in bytes.
pub const CLIP_CAPACITY: usize = CLIP_WORDS * 8;
/// How long a reader retries before it gives up (only a region scribbled on by another
/// process of the same user can make a reader fail for that long).
const READ_PATIENCE: Duration = Duration::from_secs(1);

#[repr(C)]
pub struct ClipSlot {
    /// Odd while a writer is filling this slot.
    seq: AtomicU64,
    len: AtomicU64,
    words: [AtomicU64; CLIP_WORDS],
}

/// The `.shared` section. Every field is atomic: other processes write it at any time.
#[repr(C, align(4096))]
pub struct SharedRegion {
    pub magic: AtomicU64,
    pub layout_version: AtomicU32,
    pub size: AtomicU32,
    /// Calls to `solib_add` in every process that shares this region.
    pub shared_calls: AtomicU64,
    /// Which slot holds the last complete message (0 or 1).
    clip_current: AtomicU64,
    /// Messages published so far.
    pub clip_writes: AtomicU64,
    reserved: [AtomicU64; 3],
    slots: [ClipSlot; 2],
}

const _: () = assert!(std::mem::size_of::<SharedRegion>() == REGION_SIZE);
const _: () = assert!(std::mem::align_of::<SharedRegion>() == REGION_SIZE);

/// Why a region's header cannot be used.
#[derive(Debug, PartialEq, Eq)]
pub enum BadHeader {
    Magic(u64),
    Version(u32),
    Size(u32),
}

impl std::fmt::Display for BadHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadHeader::Magic(m) => {
                write!(f, "magic {m:#018x}, expected {MAGIC:#018x} (\"SOLIBSHR\")")
            }
            BadHeader::Version(v) => write!(f, "layout version {v}, expected {LAYOUT_VERSION}"),
            BadHeader::Size(s) => write!(f, "size field {s}, expected {REGION_SIZE}"),
        }
    }
}

/// Checks the header of a region image read from a backing object.
pub fn check_header(bytes: &[u8; REGION_SIZE]) -> Result<(), BadHeader> {
    let word = |at: usize, n: usize| {
        let mut b = [0u8; 8];
        b[..n].copy_from_slice(&bytes[at..at + n]);
        u64::from_le_bytes(b)
    };
    let magic = word(0, 8);
    if magic != MAGIC {
        return Err(BadHeader::Magic(magic));
    }
    let version = word(8, 4) as u32;
    if version != LAYOUT_VERSION {
        return Err(BadHeader::Version(version));
    }
    let size = word(12, 4) as u32;
    if size as usize != REGION_SIZE {
        return Err(BadHeader::Size(size));
    }
    Ok(())
}

impl SharedRegion {
    /// The section's initial values, as stored in the `.so` file.
    pub const fn initial() -> SharedRegion {
        SharedRegion {
            magic: AtomicU64::new(MAGIC),
            layout_version: AtomicU32::new(LAYOUT_VERSION),
            size: AtomicU32::new(REGION_SIZE as u32),
            shared_calls: AtomicU64::new(0),
            clip_current: AtomicU64::new(0),
            clip_writes: AtomicU64::new(0),
            reserved: [const { AtomicU64::new(0) }; 3],
            slots: [const { ClipSlot::empty() }; 2],
        }
    }

    /// Publishes `msg`. The caller must hold the writer lock (see the module docs).
    pub fn clipboard_write_locked(&self, msg: &[u8]) -> Result<(), usize> {
        if msg.len() > CLIP_CAPACITY {
            return Err(msg.len());
        }
        let next = (self.clip_current.load(Ordering::Acquire) as usize & 1) ^ 1;
        let slot = &self.slots[next];
        let seq = slot.seq.load(Ordering::Relaxed);
        // A slot left odd by a writer that died stays odd; a later writer moves past it.
        let writing = if seq & 1 == 0 { seq + 1 } else { seq + 2 };
        slot.seq.store(writing, Ordering::Relaxed);
        fence(Ordering::Release);
        slot.len.store(msg.len() as u64, Ordering::Relaxed);
        for (i, chunk) in msg.chunks(8).enumerate() {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            slot.words[i].store(u64::from_le_bytes(w), Ordering::Relaxed);
        }
        slot.seq.store(writing + 1, Ordering::Release);
        self.clip_current.store(next as u64, Ordering::Release);
        self.clip_writes.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Copies the last complete message into `out` (as much as fits) and returns its full
    /// length, or `None` if no consistent copy could be made within [`READ_PATIENCE`].
    pub fn clipboard_read(&self, out: &mut [u8]) -> Option<usize> {
        let start = Instant::now();
        let mut tries: u32 = 0;
        let mut copy = [0u64; CLIP_WORDS];
        loop {
            let slot = &self.slots[self.clip_current.load(Ordering::Acquire) as usize & 1];
            let before = slot.seq.load(Ordering::Acquire);
            if before & 1 == 0 {
                let len = slot.len.load(Ordering::Relaxed) as usize;
                let n = len.min(CLIP_CAPACITY).div_ceil(8);
                for (dst, src) in copy[..n].iter_mut().zip(&slot.words[..n]) {
                    *dst = src.load(Ordering::Relaxed);
                }
                fence(Ordering::Acquire);
                if slot.seq.load(Ordering::Relaxed) == before && len <= CLIP_CAPACITY {
                    let take = len.min(out.len());
                    for (i, b) in out[..take].iter_mut().enumerate() {
                        *b = copy[i / 8].to_le_bytes()[i % 8];
                    }
                    return Some(len);
                }
            }
            tries += 1;
            if tries < 64 {
                std::hint::spin_loop();
            } else if start.elapsed() > READ_PATIENCE {
                return None;
            } else {
                std::thread::yield_now();
            }
        }
    }
}

impl ClipSlot {
    const fn empty() -> ClipSlot {
        ClipSlot {
            seq: AtomicU64::new(0),
            len: AtomicU64::new(0),
            words: [const { AtomicU64::new(0) }; CLIP_WORDS],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(region: &SharedRegion) -> [u8; REGION_SIZE] {
        let mut b = [0u8; REGION_SIZE];
        // SAFETY: SharedRegion is REGION_SIZE bytes of plain atomics; nothing writes it here.
        unsafe {
            std::ptr::copy_nonoverlapping(
                region as *const SharedRegion as *const u8,
                b.as_mut_ptr(),
                REGION_SIZE,
            )
        };
        b
    }

    #[test]
    fn initial_header_is_valid_and_each_field_is_checked() {
        let r = SharedRegion::initial();
        let mut img = image(&r);
        assert_eq!(check_header(&img), Ok(()));
        img[12] = 0;
        img[13] = 0x20;
        assert_eq!(check_header(&img), Err(BadHeader::Size(8192)));
        img[8] = 2;
        assert_eq!(check_header(&img), Err(BadHeader::Version(2)));
        img[0] = b'X';
        assert!(matches!(check_header(&img), Err(BadHeader::Magic(_))));
    }

    #[test]
    fn clipboard_round_trips_and_keeps_the_last_message() {
        let r = SharedRegion::initial();
        let mut buf = [0u8; CLIP_CAPACITY];
        assert_eq!(r.clipboard_read(&mut buf), Some(0));
        r.clipboard_write_locked(b"hello").unwrap();
        r.clipboard_write_locked(b"second message").unwrap();
        let n = r.clipboard_read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"second message");
        let mut small = [0u8; 3];
        assert_eq!(r.clipboard_read(&mut small), Some(14));
        assert_eq!(&small, b"sec");
        assert_eq!(
            r.clipboard_write_locked(&[0; CLIP_CAPACITY + 1]),
            Err(CLIP_CAPACITY + 1)
        );
        r.clipboard_write_locked(&[7; CLIP_CAPACITY]).unwrap();
        assert_eq!(r.clipboard_read(&mut buf), Some(CLIP_CAPACITY));
        assert!(buf.iter().all(|&b| b == 7));
    }

    #[test]
    fn a_writer_that_died_mid_write_leaves_the_previous_message() {
        let r = SharedRegion::initial();
        r.clipboard_write_locked(b"complete").unwrap();
        // Simulate a writer killed after making the inactive slot odd and scribbling on it.
        let inactive = &r.slots[(r.clip_current.load(Ordering::Relaxed) as usize & 1) ^ 1];
        inactive.seq.fetch_add(1, Ordering::Relaxed);
        inactive.len.store(3, Ordering::Relaxed);
        let mut buf = [0u8; 64];
        let n = r.clipboard_read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"complete");
        r.clipboard_write_locked(b"next writer").unwrap();
        let n = r.clipboard_read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"next writer");
        assert_eq!(inactive.seq.load(Ordering::Relaxed) & 1, 0);
    }
}
