//! Recording the user page faults of processes with `perf_event_open(2)` (include/uapi/
//! linux/perf_event.h): a software event `PERF_COUNT_SW_PAGE_FAULTS` with `sample_period =
//! 1`, so every fault is a sample carrying its thread, instruction address, data address,
//! time and user call chain (walked by the kernel along frame pointers).
//!
//! One event per thread and online CPU, `inherit = 1`, so threads and children forked
//! after the event was opened are recorded too; on each CPU every event writes, through
//! `PERF_EVENT_IOC_SET_OUTPUT`, into the first one's ring buffer, the way `perf record`
//! does (the kernel refuses to map an inherited event that follows a task on every CPU).
//!
//! Bounds: each ring is one header page and [`RING_DATA_PAGES`] data pages (2 MiB + 4 KiB
//! per online CPU), halved while the kernel refuses the memory (an unprivileged user may
//! lock `perf_event_mlock_kb`, 516 KiB by default, per CPU); at most [`MAX_EVENTS`] events.
//! A ring the reader does not empty in time loses samples; the kernel says how many in a
//! `PERF_RECORD_LOST` record, counted in [`Recorder::lost`].
//!
//! The rings are written by the kernel while they are read: every record is copied out
//! with its size checked against the ring before it is parsed, and a record that does not
//! parse is counted ([`Recorder::malformed`]), never trusted. Recording never stops or
//! signals a process; dropping the [`Recorder`] unmaps the rings and closes every event,
//! which detaches them (inherited copies in children included).
//!
//! Permission (kernel/events/core.c `perf_event_open`, `perf_allow_user`): a process one
//! may ptrace-read, user space only (`exclude_kernel`), when
//! /proc/sys/kernel/perf_event_paranoid is at most 2; another user's process needs
//! CAP_PERFMON (or CAP_SYS_ADMIN, or CAP_SYS_PTRACE for the ptrace check).

use crate::error::{Error, Result};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};

/// Data pages of one ring (a power of two, as the kernel requires): 2 MiB.
pub const RING_DATA_PAGES: usize = 512;
/// The most events opened (threads × online CPUs); each is a file descriptor.
pub const MAX_EVENTS: usize = 8192;
/// The most threads listed in one process's /proc/PID/task.
const MAX_THREADS: usize = 65_536;
const PAGE: usize = 4096;

const PERF_TYPE_SOFTWARE: u32 = 1;
const PERF_COUNT_SW_PAGE_FAULTS: u64 = 2;
const SAMPLE_IP: u64 = 1 << 0;
const SAMPLE_TID: u64 = 1 << 1;
const SAMPLE_TIME: u64 = 1 << 2;
const SAMPLE_ADDR: u64 = 1 << 3;
const SAMPLE_CALLCHAIN: u64 = 1 << 5;
// perf_event_attr's bit field, by bit number.
const DISABLED: u64 = 1 << 0;
const INHERIT: u64 = 1 << 1;
const EXCLUDE_KERNEL: u64 = 1 << 5;
const EXCLUDE_HV: u64 = 1 << 6;
const WATERMARK: u64 = 1 << 14;
const EXCLUDE_CALLCHAIN_KERNEL: u64 = 1 << 21;
// ioctls: _IO('$', n).
const IOC_ENABLE: u64 = 0x2400;
const IOC_SET_OUTPUT: u64 = 0x2405;
const PERF_FLAG_FD_CLOEXEC: u64 = 1 << 3;
// Record types.
const RECORD_LOST: u32 = 2;
const RECORD_SAMPLE: u32 = 9;
const RECORD_LOST_SAMPLES: u32 = 13;
/// Call-chain entries at or above this are context markers (`PERF_CONTEXT_MAX`, -4095).
const CONTEXT_MAX: u64 = (-4095i64) as u64;
const CONTEXT_USER: u64 = (-512i64) as u64;

/// `struct perf_event_attr` up to `sig_data` (PERF_ATTR_SIZE_VER7, 128 bytes).
#[repr(C)]
#[derive(Default)]
struct Attr {
    kind: u32,
    size: u32,
    config: u64,
    sample_period: u64,
    sample_type: u64,
    read_format: u64,
    flags: u64,
    wakeup_watermark: u32,
    bp_type: u32,
    config1: u64,
    config2: u64,
    branch_sample_type: u64,
    sample_regs_user: u64,
    sample_stack_user: u32,
    clockid: i32,
    sample_regs_intr: u64,
    aux_watermark: u32,
    sample_max_stack: u16,
    reserved_2: u16,
    aux_sample_size: u32,
    reserved_3: u32,
    sig_data: u64,
}

/// One page fault, as the kernel reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub pid: i32,
    pub tid: i32,
    /// perf's clock (`local_clock`, ns): orders faults across CPUs.
    pub time: u64,
    /// The data address that faulted.
    pub addr: u64,
    /// The instruction that faulted.
    pub ip: u64,
    /// The user call chain, innermost first (the first entry is `ip`); return addresses
    /// after it. Empty when the kernel gave none.
    pub chain: Vec<u64>,
}

/// Counts of one recording.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub samples: u64,
    /// Samples the kernel could not write (ring full), from PERF_RECORD_LOST.
    pub lost: u64,
    /// Records that did not parse (never expected from the kernel).
    pub malformed: u64,
}

/// A process's end, watched through a pidfd (`pidfd_open(2)`, Linux 5.3): it polls
/// readable once the process has exited. Nothing is sent to the process.
pub struct Exit(Option<OwnedFd>);

impl Exit {
    /// Watches `pid`; where the kernel gives no pidfd, [`Exit::seen`] never says so.
    pub fn watch(pid: i32) -> Exit {
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        // SAFETY: a new fd returned by the kernel, owned here only.
        Exit((fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) }))
    }

    /// Whether the process has exited (never blocks).
    pub fn seen(&self) -> bool {
        let Some(fd) = &self.0 else {
            return false;
        };
        let mut p = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, no wait.
        unsafe { libc::poll(&mut p, 1, 0) > 0 && p.revents & libc::POLLIN != 0 }
    }
}

/// The page faults of a set of processes, being recorded.
pub struct Recorder {
    rings: Vec<Ring>,
    events: Vec<OwnedFd>,
    threads: usize,
    counts: Counts,
    scratch: Vec<u8>,
}

struct Ring {
    fd: i32,
    base: *mut u8,
    len: usize,
    data_offset: usize,
    data_size: usize,
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: `base` and `len` are what mmap returned; nothing refers to the ring
        // after the Recorder that owns it is gone.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

impl Ring {
    fn word(&self, offset: usize) -> &AtomicU64 {
        // SAFETY: offsets 1024..1056 are data_head, data_tail, data_offset and data_size
        // of the mapped perf_event_mmap_page, 8-byte aligned inside the first page.
        unsafe { &*(self.base.add(offset) as *const AtomicU64) }
    }

    /// Copies `out.len()` bytes from position `at` of the data area, wrapping around.
    fn copy(&self, at: u64, out: &mut [u8]) {
        let size = self.data_size;
        let start = (at % size as u64) as usize;
        let first = out.len().min(size - start);
        // SAFETY: start + first <= data_size and out.len() - first <= data_size (the
        // callers check a record's size against the data size), inside the mapping.
        unsafe {
            let data = self.base.add(self.data_offset);
            std::ptr::copy_nonoverlapping(data.add(start), out.as_mut_ptr(), first);
            std::ptr::copy_nonoverlapping(data, out.as_mut_ptr().add(first), out.len() - first);
        }
    }
}

fn paranoid() -> Option<i32> {
    std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Why the kernel refused to record `pid`, in words that name what is missing.
fn not_permitted(pid: i32) -> Error {
    let level = paranoid().map_or_else(|| "unreadable".to_string(), |p| p.to_string());
    Error::PermissionDenied {
        path: format!("perf_event_open of pid {pid}").into(),
        hint: Some(format!(
            "/proc/sys/kernel/perf_event_paranoid is {level}: recording a process's page \
             faults needs paranoid <= 2 for one's own processes, and CAP_PERFMON (or \
             CAP_SYS_ADMIN) for another user's; solab family without --record still works"
        )),
    }
}

/// The online CPUs, from /sys/devices/system/cpu/online ("0-3,5").
fn online_cpus() -> Result<Vec<i32>> {
    let path = "/sys/devices/system/cpu/online";
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let bad = || Error::Unsupported(format!("{path}: unexpected contents {text:?}"));
    let mut cpus = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b): (i32, i32) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
        if b < a || b - a > 65_536 {
            return Err(bad());
        }
        cpus.extend(a..=b);
    }
    if cpus.is_empty() {
        return Err(bad());
    }
    Ok(cpus)
}

/// The threads of `pid` now (none when it is gone), at most [`MAX_THREADS`].
pub fn threads_of(pid: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .take(MAX_THREADS)
        .collect()
}

fn open_event(tid: i32, cpu: i32) -> std::io::Result<OwnedFd> {
    let attr = Attr {
        kind: PERF_TYPE_SOFTWARE,
        size: std::mem::size_of::<Attr>() as u32,
        config: PERF_COUNT_SW_PAGE_FAULTS,
        sample_period: 1,
        sample_type: SAMPLE_IP | SAMPLE_TID | SAMPLE_TIME | SAMPLE_ADDR | SAMPLE_CALLCHAIN,
        flags: DISABLED
            | INHERIT
            | EXCLUDE_KERNEL
            | EXCLUDE_HV
            | EXCLUDE_CALLCHAIN_KERNEL
            | WATERMARK,
        // Wake the reader when a quarter of the smallest ring is full.
        wakeup_watermark: (PAGE * 32) as u32,
        ..Attr::default()
    };
    // SAFETY: `attr` is a valid perf_event_attr of the size it states; the fd returned is
    // owned by nothing else.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            &attr as *const Attr,
            tid,
            cpu,
            -1i32,
            PERF_FLAG_FD_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a new fd owned here only.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Maps a ring for `fd`: one header page and `pages` data pages, halved while the kernel
/// refuses the locked memory (EPERM).
fn map_ring(fd: i32) -> std::io::Result<Ring> {
    let mut pages = RING_DATA_PAGES;
    loop {
        let len = (pages + 1) * PAGE;
        // SAFETY: a fresh shared mapping of a perf event fd, owned by the Ring.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        if base != libc::MAP_FAILED {
            let mut ring = Ring {
                fd,
                base: base.cast(),
                len,
                data_offset: PAGE,
                data_size: pages * PAGE,
            };
            // Since 4.1 the header says where the data is; older kernels leave zeros.
            let (off, size) = (
                ring.word(1040).load(Ordering::Relaxed) as usize,
                ring.word(1048).load(Ordering::Relaxed) as usize,
            );
            if off != 0 && size != 0 && off.checked_add(size) == Some(len) {
                ring.data_offset = off;
                ring.data_size = size;
            }
            return Ok(ring);
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EPERM) || pages == 1 {
            return Err(e);
        }
        pages /= 2;
    }
}

fn ioctl(fd: i32, request: u64, arg: libc::c_ulong) -> std::io::Result<()> {
    // SAFETY: perf ioctls that take an integer argument.
    if unsafe { libc::ioctl(fd, request as _, arg) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

impl Recorder {
    /// Starts recording every thread of `pids` (and whatever they fork from now on). A
    /// process or thread that exits meanwhile is left out; a refusal fails with what is
    /// missing.
    pub fn start(pids: &[i32]) -> Result<Recorder> {
        let cpus = online_cpus()?;
        let mut r = Recorder {
            rings: Vec::new(),
            events: Vec::new(),
            threads: 0,
            counts: Counts::default(),
            scratch: Vec::new(),
        };
        // The ring of each CPU, by position in `cpus`.
        let mut ring_of: Vec<Option<i32>> = vec![None; cpus.len()];
        for &pid in pids {
            // A thread started between the listing and the opening is inherited by the
            // events of the thread that started it, once that thread has one: list again
            // until no thread is new.
            let mut done: Vec<i32> = Vec::new();
            for _ in 0..8 {
                let new: Vec<i32> = threads_of(pid)
                    .into_iter()
                    .filter(|t| !done.contains(t))
                    .collect();
                if new.is_empty() {
                    break;
                }
                for tid in new {
                    done.push(tid);
                    if r.open_thread(pid, tid, &cpus, &mut ring_of)? {
                        r.threads += 1;
                    }
                }
            }
        }
        for e in &r.events {
            ioctl(e.as_raw_fd(), IOC_ENABLE, 0)
                .map_err(|e| Error::io("perf_event ioctl ENABLE", e))?;
        }
        Ok(r)
    }

    /// Opens the events of one thread on every CPU; false when the thread is gone.
    fn open_thread(
        &mut self,
        pid: i32,
        tid: i32,
        cpus: &[i32],
        ring_of: &mut [Option<i32>],
    ) -> Result<bool> {
        for (k, &cpu) in cpus.iter().enumerate() {
            if self.events.len() >= MAX_EVENTS {
                return Err(Error::Unsupported(format!(
                    "recording pid {pid}: more than {MAX_EVENTS} events (threads × {} CPUs)",
                    cpus.len()
                )));
            }
            let fd = match open_event(tid, cpu) {
                Ok(fd) => fd,
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Ok(false),
                Err(e) if matches!(e.raw_os_error(), Some(libc::EACCES | libc::EPERM)) => {
                    return Err(not_permitted(pid));
                }
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOSYS)) => {
                    return Err(Error::Unsupported(format!(
                        "this kernel records no page faults (perf_event_open: {e})"
                    )));
                }
                Err(e) => {
                    return Err(Error::io(
                        format!("perf_event_open of pid {pid} thread {tid} on CPU {cpu}"),
                        e,
                    ));
                }
            };
            let raw = fd.as_raw_fd();
            match ring_of[k] {
                Some(out) => ioctl(raw, IOC_SET_OUTPUT, out as libc::c_ulong)
                    .map_err(|e| Error::io("perf_event ioctl SET_OUTPUT", e))?,
                None => {
                    let ring = map_ring(raw).map_err(|e| {
                        Error::io(format!("perf ring buffer of CPU {cpu} (mmap)"), e)
                    })?;
                    self.rings.push(ring);
                    ring_of[k] = Some(raw);
                }
            }
            self.events.push(fd);
        }
        Ok(true)
    }

    /// Threads the events were opened on (their later threads and children are inherited).
    pub fn threads(&self) -> usize {
        self.threads
    }

    pub fn events(&self) -> usize {
        self.events.len()
    }

    /// The bytes of ring buffer mapped (headers included).
    pub fn ring_bytes(&self) -> u64 {
        self.rings.iter().map(|r| r.len as u64).sum()
    }

    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// Waits up to `ms` milliseconds for a ring to fill past its watermark.
    pub fn wait(&self, ms: i32) {
        let mut fds: Vec<libc::pollfd> = self
            .rings
            .iter()
            .map(|r| libc::pollfd {
                fd: r.fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: `fds` is a valid array of pollfd of the length given.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        // An event whose task exited reports POLLHUP at once and forever: sleep instead.
        if n > 0 && fds.iter().all(|f| f.revents & libc::POLLIN == 0) {
            std::thread::sleep(std::time::Duration::from_millis(ms.max(0) as u64));
        }
    }

    /// Reads every record written so far, handing each fault to `each`.
    pub fn drain(&mut self, mut each: impl FnMut(Fault)) {
        for k in 0..self.rings.len() {
            self.drain_ring(k, &mut each);
        }
    }

    fn drain_ring(&mut self, k: usize, each: &mut impl FnMut(Fault)) {
        let ring = &self.rings[k];
        let head = ring.word(1024).load(Ordering::Acquire);
        let mut tail = ring.word(1032).load(Ordering::Relaxed);
        let size = ring.data_size as u64;
        // A head more than a ring ahead is not the kernel's: skip to it.
        if head.wrapping_sub(tail) > size {
            self.counts.malformed += 1;
            tail = head;
        }
        while tail < head {
            let mut header = [0u8; 8];
            ring.copy(tail, &mut header);
            let kind = u32::from_ne_bytes(header[0..4].try_into().expect("4 bytes"));
            let len = u16::from_ne_bytes(header[6..8].try_into().expect("2 bytes")) as u64;
            if len < 8 || len > head - tail {
                self.counts.malformed += 1;
                tail = head;
                break;
            }
            self.scratch.resize(len as usize, 0);
            ring.copy(tail, &mut self.scratch);
            tail += len;
            let body = &self.scratch[8..];
            match kind {
                RECORD_SAMPLE => match parse_sample(body) {
                    Some(f) => {
                        self.counts.samples += 1;
                        each(f);
                    }
                    None => self.counts.malformed += 1,
                },
                // id, lost
                RECORD_LOST => self.counts.lost += word(body, 1).unwrap_or(0),
                RECORD_LOST_SAMPLES => self.counts.lost += word(body, 0).unwrap_or(0),
                _ => {}
            }
        }
        ring.word(1032).store(tail, Ordering::Release);
    }
}

fn word(body: &[u8], i: usize) -> Option<u64> {
    let b = body.get(i * 8..i * 8 + 8)?;
    Some(u64::from_ne_bytes(b.try_into().ok()?))
}

/// A sample of the event's `sample_type`: ip, pid/tid, time, addr, callchain (nr, ips).
fn parse_sample(body: &[u8]) -> Option<Fault> {
    let ip = word(body, 0)?;
    let ids = word(body, 1)?;
    let time = word(body, 2)?;
    let addr = word(body, 3)?;
    let nr = word(body, 4)? as usize;
    if nr > body.len() / 8 {
        return None;
    }
    let mut chain = Vec::with_capacity(nr);
    let mut user = false;
    for i in 0..nr {
        let a = word(body, 5 + i)?;
        if a >= CONTEXT_MAX {
            user = a == CONTEXT_USER;
            continue;
        }
        // A zero is where the walk met the end of the stack, not an address.
        if user && a != 0 {
            chain.push(a);
        }
    }
    Some(Fault {
        pid: (ids & 0xffff_ffff) as u32 as i32,
        tid: (ids >> 32) as u32 as i32,
        time,
        addr,
        ip,
        chain,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attr_has_the_size_of_version_7() {
        assert_eq!(std::mem::size_of::<Attr>(), 128);
    }

    #[test]
    fn a_sample_parses_and_a_short_one_does_not() {
        let mut b = Vec::new();
        for w in [
            0x1000u64,
            (7u64 << 32) | 5,
            99,
            0x7000_1234,
            3,
            CONTEXT_USER,
            0x1000,
            0x2000,
        ] {
            b.extend_from_slice(&w.to_ne_bytes());
        }
        let f = parse_sample(&b).expect("a sample");
        assert_eq!((f.pid, f.tid, f.time, f.addr), (5, 7, 99, 0x7000_1234));
        assert_eq!(f.chain, vec![0x1000, 0x2000]);
        assert!(parse_sample(&b[..b.len() - 8]).is_none());
        let mut huge = b.clone();
        huge[32..40].copy_from_slice(&u64::MAX.to_ne_bytes());
        assert!(parse_sample(&huge).is_none());
    }
}
