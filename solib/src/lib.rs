//! libsolib.so: the Linux port of a Windows DLL shared section.
//!
//! On Windows, `#pragma data_seg(".shared")` and `/SECTION:.shared,RWS` make a DLL's
//! variables one piece of memory for every process that loads it. ELF has no such flag:
//! ld.so maps every segment MAP_PRIVATE (glibc elf/dl-load.c). This library puts its shared
//! variables in a page-aligned `.shared` section, and its load-time constructor maps a
//! per-user 0600 object MAP_SHARED over exactly those pages, in place (see `attach`). The
//! static below *is* the shared memory.
//!
//! For contrast it also keeps ordinary per-process state: a counter in `.data` (its page
//! tagged with a non-zero value so it is stored in the file) and one in `.bss`, each alone
//! on its own page so the lab can watch that one page be copied on write.
//!
//! The C ABI is declared in `include/solib.h`.

#![allow(non_upper_case_globals)]
// Unit tests leave the constructor out (it would map a region in the test runner).
#![cfg_attr(test, allow(dead_code))]

mod attach;
mod guard;
pub mod region;

use region::{CLIP_CAPACITY, SharedRegion};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, TryLockError};
use std::time::{Duration, Instant};

// ANCHOR: shared_section
/// The shared section: one page, page-aligned, alone in the `.shared` ELF section.
#[unsafe(no_mangle)]
#[used]
#[unsafe(link_section = ".shared")]
pub static solib_shared: SharedRegion = SharedRegion::initial();
// ANCHOR_END: shared_section

/// "PRIVDATA": makes the page initialized data, stored in the file (`.data`, not `.bss`).
pub const PRIVATE_TAG: u64 = u64::from_le_bytes(*b"PRIVDATA");

// ANCHOR: private_data
/// Ordinary per-process data in `.data`: copy-on-write, so each process gets its own copy
/// of this page the first time it writes it.
#[repr(C, align(4096))]
pub struct PrivatePage {
    pub tag: u64,
    pub calls: AtomicU64,
}

#[unsafe(no_mangle)]
pub static solib_private: PrivatePage = PrivatePage {
    tag: PRIVATE_TAG,
    calls: AtomicU64::new(0),
};

/// Ordinary per-process data in `.bss`: zero in the file, so not stored there at all.
#[repr(C, align(4096))]
pub struct BssPage {
    pub calls: AtomicU64,
}

#[unsafe(no_mangle)]
pub static solib_bss: BssPage = BssPage {
    calls: AtomicU64::new(0),
};
// ANCHOR_END: private_data

/// What the constructor achieved, for `solib_status`.
struct Status {
    shared: bool,
    reason: String,
}

static STATUS: OnceLock<Status> = OnceLock::new();
/// The region, when attached. Its mutex is also what serializes this process's threads
/// when they write the clipboard (the file lock only excludes other processes).
static ATTACHED: Mutex<Option<attach::Attached>> = Mutex::new(None);

/// Why the last `solib_clipboard_set` was refused (an errno), 0 if it was not, for
/// `solib_status`. An atomic, not a string behind a lock: nothing can be left locked in a
/// child made by fork(2).
static LAST_REFUSAL: AtomicI32 = AtomicI32::new(0);

// ANCHOR: constructor
/// Runs when the library is loaded (dlopen or program start), before any of its functions
/// can be called. Never panics into the host: every failure becomes private mode.
#[cfg(not(test))]
#[ctor::ctor(unsafe)]
fn solib_load() {
    let outcome = std::panic::catch_unwind(|| attach::attach(&solib_shared));
    let status = match outcome {
        Ok(Ok((att, how))) => {
            if let Ok(mut slot) = ATTACHED.lock() {
                *slot = Some(att);
            }
            guard::install(solib_shared_addr() as usize, region::REGION_SIZE);
            Status {
                shared: true,
                reason: how,
            }
        }
        Ok(Err(why)) => Status {
            shared: false,
            reason: format!("private: {why}"),
        },
        Err(_) => Status {
            shared: false,
            reason: "private: the constructor failed unexpectedly".to_string(),
        },
    };
    let _ = STATUS.set(status);
}
// ANCHOR_END: constructor

/// Runs at dlclose or exit (not after kill -9: the next loader then finds the object
/// unused, by its locks, and resets it).
#[cfg(not(test))]
#[dtor::dtor(unsafe)]
fn solib_unload() {
    let _ = std::panic::catch_unwind(|| {
        let att = ATTACHED.lock().ok().and_then(|mut a| a.take());
        if let Some(att) = att {
            guard::uninstall();
            attach::detach(&solib_shared, att);
        }
    });
}

/// Locks `m` by `deadline`, or returns None. Polls rather than blocks: a thread of ours
/// cannot hold it long, but a child made by fork(2) while another thread held it would
/// wait for ever otherwise.
fn lock_by<T>(m: &Mutex<T>, deadline: Instant) -> Option<MutexGuard<'_, T>> {
    let mut nap = Duration::from_micros(20);
    loop {
        match m.try_lock() {
            Ok(g) => return Some(g),
            // Nothing done under this lock can panic halfway; the data is whole.
            Err(TryLockError::Poisoned(p)) => return Some(p.into_inner()),
            Err(TryLockError::WouldBlock) => {}
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        std::thread::sleep(nap.min(deadline - now));
        nap = (nap * 2).min(Duration::from_millis(1));
    }
}

/// Runs `f` holding the clipboard writer lock, or returns the errno that says why it could
/// not be had within [`attach::WRITER_PATIENCE`]. Never writes without the lock: a message
/// written by two writers at once could be published torn.
fn with_writer_lock<R>(f: impl FnOnce() -> R) -> Result<R, i32> {
    let deadline = Instant::now() + attach::WRITER_PATIENCE;
    let attached = lock_by(&ATTACHED, deadline).ok_or(libc::ETIMEDOUT)?;
    let Some(att) = attached.as_ref() else {
        // Private section: only this process's threads write it, and they hold ATTACHED.
        return Ok(f());
    };
    match attach::lock_writer(att, deadline) {
        Ok(()) => {
            let r = f();
            attach::unlock_writer(att);
            Ok(r)
        }
        Err(attach::WriterLockError::Busy) => Err(libc::ETIMEDOUT),
        Err(attach::WriterLockError::Failed(errno)) => Err(errno),
    }
}

fn set_errno(e: i32) {
    // SAFETY: errno is this thread's own.
    unsafe { *libc::__errno_location() = e };
}

/// What `solib_status` adds after a refused `solib_clipboard_set`.
fn refusal_text(errno: i32) -> String {
    match errno {
        0 => String::new(),
        libc::ETIMEDOUT => format!(
            "; the last clipboard write was refused: the writer lock was held by another \
             process (stopped?) for over {} s",
            attach::WRITER_PATIENCE.as_secs()
        ),
        libc::EBADF => "; the last clipboard write was refused: the library's descriptor of the \
                        region was closed by its host, so the writer lock cannot be taken"
            .to_string(),
        e => format!(
            "; the last clipboard write was refused: cannot take the writer lock: {}",
            std::io::Error::from_raw_os_error(e)
        ),
    }
}

// ANCHOR: abi
/// Returns `a + b` (wrapping) and counts the call in the private and the shared counters.
#[unsafe(no_mangle)]
pub extern "C" fn solib_add(a: i64, b: i64) -> i64 {
    solib_private.calls.fetch_add(1, Ordering::Relaxed);
    solib_bss.calls.fetch_add(1, Ordering::Relaxed);
    solib_shared.shared_calls.fetch_add(1, Ordering::Relaxed);
    a.wrapping_add(b)
}

/// This process's calls to `solib_add` (the `.data` counter).
#[unsafe(no_mangle)]
pub extern "C" fn solib_private_calls() -> u64 {
    solib_private.calls.load(Ordering::Relaxed)
}

/// This process's calls to `solib_add` (the `.bss` counter).
#[unsafe(no_mangle)]
pub extern "C" fn solib_bss_calls() -> u64 {
    solib_bss.calls.load(Ordering::Relaxed)
}

/// Calls to `solib_add` in every process sharing the region (the `.shared` counter).
#[unsafe(no_mangle)]
pub extern "C" fn solib_shared_calls() -> u64 {
    solib_shared.shared_calls.load(Ordering::Relaxed)
}

/// Publishes a message on the clipboard. Returns 0, or -1 with errno set: EMSGSIZE if it
/// is longer than `solib_clipboard_capacity()`, EINVAL if `msg` is NULL with a non-zero
/// length, ETIMEDOUT if another process held the writer lock for over a second, or the
/// error that kept the lock from being taken (the reason also goes to `solib_status`).
///
/// # Safety
/// `msg` must point at `len` readable bytes (or be NULL when `len` is 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn solib_clipboard_set(msg: *const u8, len: usize) -> i32 {
    if len > CLIP_CAPACITY {
        set_errno(libc::EMSGSIZE);
        return -1;
    }
    if msg.is_null() && len > 0 {
        set_errno(libc::EINVAL);
        return -1;
    }
    let bytes: &[u8] = if len == 0 {
        &[]
    } else {
        // SAFETY: the caller promises `len` readable bytes at `msg`.
        unsafe { std::slice::from_raw_parts(msg, len) }
    };
    match with_writer_lock(|| solib_shared.clipboard_write_locked(bytes)) {
        Ok(Ok(())) => {
            LAST_REFUSAL.store(0, Ordering::Relaxed);
            0
        }
        Ok(Err(_)) => {
            set_errno(libc::EMSGSIZE);
            -1
        }
        Err(errno) => {
            LAST_REFUSAL.store(errno, Ordering::Relaxed);
            set_errno(errno);
            -1
        }
    }
}

/// Copies the last complete message into `buf` (at most `cap` bytes) and returns its full
/// length; never a torn message. Returns 0 if no consistent message could be read within
/// a second (only a region damaged by another process of the same user causes that).
///
/// # Safety
/// `buf` must point at `cap` writable bytes (or be NULL when `cap` is 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn solib_clipboard_get(buf: *mut u8, cap: usize) -> usize {
    let out: &mut [u8] = if buf.is_null() || cap == 0 {
        &mut []
    } else {
        // SAFETY: the caller promises `cap` writable bytes at `buf`.
        unsafe { std::slice::from_raw_parts_mut(buf, cap) }
    };
    solib_shared.clipboard_read(out).unwrap_or(0)
}

/// The clipboard's capacity in bytes.
#[unsafe(no_mangle)]
pub extern "C" fn solib_clipboard_capacity() -> usize {
    CLIP_CAPACITY
}

/// 1 if the `.shared` section is shared with other processes, 0 if private; writes the
/// reason (NUL-terminated, truncated to `cap`) to `reason` unless it is NULL.
///
/// # Safety
/// `reason` must point at `cap` writable bytes (or be NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn solib_status(reason: *mut libc::c_char, cap: usize) -> i32 {
    let (shared, text) = match STATUS.get() {
        _ if guard::LOST.load(Ordering::SeqCst) => (
            false,
            "private: another process truncated the backing object; the section was replaced by private zeroed memory",
        ),
        Some(s) => (s.shared, s.reason.as_str()),
        None => (false, "private: the load-time constructor did not run"),
    };
    let text = format!(
        "{text}{}",
        refusal_text(LAST_REFUSAL.load(Ordering::Relaxed))
    );
    if !reason.is_null() && cap > 0 {
        let n = text.len().min(cap - 1);
        // SAFETY: the caller promises `cap` writable bytes; we write n + 1 <= cap.
        unsafe {
            std::ptr::copy_nonoverlapping(text.as_ptr(), reason.cast::<u8>(), n);
            *reason.add(n) = 0;
        }
    }
    i32::from(shared)
}

/// The start of the `.shared` section in this process (the shared page when shared).
#[unsafe(no_mangle)]
pub extern "C" fn solib_shared_addr() -> *const libc::c_void {
    &solib_shared as *const SharedRegion as *const libc::c_void
}

/// The start of the page that holds the `.data` counter.
#[unsafe(no_mangle)]
pub extern "C" fn solib_private_addr() -> *const libc::c_void {
    &solib_private as *const PrivatePage as *const libc::c_void
}

/// The start of the page that holds the `.bss` counter.
#[unsafe(no_mangle)]
pub extern "C" fn solib_bss_addr() -> *const libc::c_void {
    &solib_bss as *const BssPage as *const libc::c_void
}
// ANCHOR_END: abi
