//! Keeps a truncated region from killing the host with SIGBUS.
//!
//! Another process of the same user can ftruncate(2) the backing object; touching a page of
//! a MAP_SHARED mapping beyond the end of its file then raises SIGBUS (mmap(2), "Errors":
//! "Attempted access to a page of the buffer that lies beyond the end of the mapped file").
//! Seals would prevent the shrink, but the kernel offers them only for memfd files, not for
//! objects opened by name under /dev/shm. So the library handles it: a SIGBUS whose address
//! lies in the `.shared` section replaces the section with private anonymous memory (zero
//! filled: an empty clipboard, counters at zero), records that the region was lost, and
//! returns, so the faulting access is retried on the new page. Any other SIGBUS goes to the
//! handler that was installed before, or gets the default action.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static SECTION: AtomicUsize = AtomicUsize::new(0);
static SECTION_LEN: AtomicUsize = AtomicUsize::new(0);
/// Set when the region was lost to a truncation.
pub static LOST: AtomicBool = AtomicBool::new(false);
static mut PREVIOUS: Option<libc::sigaction> = None;

/// Installs the handler for the section at `start..start + len`.
pub fn install(start: usize, len: usize) {
    SECTION.store(start, Ordering::SeqCst);
    SECTION_LEN.store(len, Ordering::SeqCst);
    // SAFETY: sigaction with a handler that only uses async-signal-safe calls (mmap,
    // sigaction, raise) and atomics; PREVIOUS is written once, before the handler exists.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigbus as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER;
        libc::sigemptyset(&mut action.sa_mask);
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(libc::SIGBUS, &action, &mut old) == 0 {
            PREVIOUS = Some(old);
        }
    }
}

extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let start = SECTION.load(Ordering::SeqCst);
    let len = SECTION_LEN.load(Ordering::SeqCst);
    // SAFETY: the kernel passes a valid siginfo for an SA_SIGINFO handler.
    let addr = unsafe { (*info).si_addr() } as usize;
    if start != 0 && (start..start + len).contains(&addr) {
        // SAFETY: replaces exactly the section's pages with private anonymous memory at the
        // same address; the faulting access then succeeds.
        let p = unsafe {
            libc::mmap(
                start as *mut libc::c_void,
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if p as usize == start {
            LOST.store(true, Ordering::SeqCst);
            return;
        }
    }
    // Not ours: hand it on.
    // SAFETY: PREVIOUS was set before this handler was installed and is never written again.
    let previous = unsafe { *std::ptr::addr_of!(PREVIOUS) };
    match previous {
        Some(old) if old.sa_sigaction != libc::SIG_DFL && old.sa_sigaction != libc::SIG_IGN => {
            if old.sa_flags & libc::SA_SIGINFO != 0 {
                // SAFETY: the previous handler was installed with SA_SIGINFO.
                let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    unsafe { std::mem::transmute(old.sa_sigaction) };
                f(sig, info, ctx);
            } else {
                // SAFETY: the previous handler was installed as a plain handler.
                let f: extern "C" fn(libc::c_int) =
                    unsafe { std::mem::transmute(old.sa_sigaction) };
                f(sig);
            }
        }
        _ => {
            // Default action: restore it and return; the access faults again and the
            // process ends as it would have without this library.
            // SAFETY: plain sigaction(2) to the default.
            unsafe {
                let mut dfl: libc::sigaction = std::mem::zeroed();
                dfl.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(libc::SIGBUS, &dfl, std::ptr::null_mut());
            }
        }
    }
}

/// At unload: put the previous handler back if ours is still the one installed (the
/// handler's code goes away with the library).
pub fn uninstall() {
    SECTION.store(0, Ordering::SeqCst);
    // SAFETY: reads the current action and restores the saved one.
    unsafe {
        let mut current: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut current) != 0
            || current.sa_sigaction != on_sigbus as *const () as usize
        {
            return;
        }
        if let Some(old) = *std::ptr::addr_of!(PREVIOUS) {
            libc::sigaction(libc::SIGBUS, &old, std::ptr::null_mut());
        }
    }
}
