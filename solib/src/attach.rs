//! Making the `.shared` section shared: the load-time constructor's work.
//!
//! The backing object is `solib-u<UID>-v<LAYOUT_VERSION>[-<SOLIB_NAMESPACE>]` in the
//! user's runtime directory (`$XDG_RUNTIME_DIR`) when it is set and checked (a directory,
//! not a symbolic link, owned by the user, mode 0700), else in /dev/shm (see [`locate`]).
//! Two open-file-description locks on it (fcntl(2), `F_OFD_SETLK`) give the Windows
//! lifetime without a daemon, because the kernel drops them when a process dies:
//!
//! - byte 0, the *init lock*, held exclusively while a process attaches or detaches, so two
//!   processes loading at the same instant never both initialize or see a half-initialized
//!   region;
//! - byte 1, the *user lock*, held shared by every process that has the region mapped. A
//!   process that can take it exclusively knows nobody else uses the region, so it resets
//!   the object to the section's initial values from the `.so` file: no stale state
//!   survives a crash. The last process to unload removes the object.
//!
//! Byte 2 serializes clipboard writers (see `region`) with a *process* lock (fcntl(2)
//! `F_SETLK`, a "POSIX record lock"), taken through the descriptor the constructor opened.
//! A process lock belongs to the process, not to the descriptor, so a child made by fork(2)
//! excludes its parent although they share the descriptor; and it needs no new descriptor
//! (the library once reopened /proc/self/fd/N per process for a lock of its own, which
//! fails at RLIMIT_NOFILE or after setuid(2), and then wrote without any lock). The catch
//! of process locks, that closing *any* descriptor of the file drops them, does not bite:
//! the lock is held only for the few microseconds of one write, and the library closes its
//! descriptor only at unload.
//!
//! Security: the object belongs to the user, has mode 0600 and one link; an object with
//! another owner, mode, link count, size, magic or layout version, a symbolic link
//! (O_NOFOLLOW) or anything not a regular file is never used nor changed, and the library
//! keeps working with its private section. The object is opened with O_NONBLOCK, so a file
//! lease another user holds on a name they created first fails the open at once ("Resource
//! temporarily unavailable") instead of holding it for the lease-break time. Everything
//! here is libc-level and returns errors as values: the constructor never panics, unwinds
//! or blocks for long.

use crate::region::{REGION_SIZE, SharedRegion, check_header};
use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, Instant};

const INIT_BYTE: i64 = 0;
const USER_BYTE: i64 = 1;
const WRITER_BYTE: i64 = 2;
/// The longest the constructor waits for another process that is attaching or detaching.
const INIT_PATIENCE: Duration = Duration::from_secs(5);
/// Attach attempts when the object is replaced under us (the last user removed it).
const ATTEMPTS: u32 = 20;
/// The longest `solib_clipboard_set` waits for the writer lock (documented in solib.h): a
/// writer stopped (SIGSTOP, a debugger) while it holds the lock must not block the others
/// for ever. Writes take microseconds, so a second means the holder is not running.
pub const WRITER_PATIENCE: Duration = Duration::from_secs(1);

/// A region this process has mapped over its `.shared` section.
pub struct Attached {
    pub path: String,
    /// The runtime directory the object is in (None: /dev/shm), and its name there, so
    /// that unloading finds the very same place whatever the environment says by then.
    runtime_dir: Option<CString>,
    name: CString,
    /// Holds the shared user lock for as long as the process keeps the library, and the
    /// clipboard writer's process lock while it writes.
    pub fd: OwnedFd,
    pub dev: u64,
    pub ino: u64,
}

/// The name of the backing object for this user, or why there is none.
fn region_name() -> Result<String, String> {
    // SAFETY: geteuid never fails.
    let uid = unsafe { libc::geteuid() };
    let mut name = format!("solib-u{uid}-v{}", crate::region::LAYOUT_VERSION);
    if let Some(ns) = std::env::var_os("SOLIB_NAMESPACE") {
        let ns = ns.to_string_lossy();
        let ok = !ns.is_empty()
            && ns.len() <= 64
            && ns
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !ok {
            return Err(format!(
                "SOLIB_NAMESPACE={ns:?} is not 1-64 characters of [A-Za-z0-9_-]"
            ));
        }
        name.push('-');
        name.push_str(&ns);
    }
    Ok(name)
}

/// Where the backing object is, for the time of one attach or detach.
struct Location {
    /// The runtime directory, opened and checked: the object is opened relative to this
    /// descriptor, so the directory checked is the directory used. None: /dev/shm, by
    /// absolute path (root's, sticky: nothing there to check).
    dir: Option<OwnedFd>,
    runtime_dir: Option<CString>,
    name: CString,
    /// The object's name relative to `dirfd()`.
    at: CString,
    path: String,
    /// Which location, and why, for `solib_status`.
    note: String,
}

const SHM_LIMIT: &str = "another user could create this name first";

impl Location {
    fn dirfd(&self) -> libc::c_int {
        self.dir.as_ref().map_or(libc::AT_FDCWD, |d| d.as_raw_fd())
    }

    fn in_shm(name: CString, why: &str) -> Location {
        let path = format!("/dev/shm/{}", name.to_string_lossy());
        Location {
            dir: None,
            runtime_dir: None,
            at: cstr(&path),
            name,
            path,
            note: format!("in /dev/shm ({why}): {SHM_LIMIT}"),
        }
    }

    fn in_runtime_dir(dir: &CStr, name: CString) -> Result<Location, String> {
        let fd = open_runtime_dir(dir)?;
        let path = format!("{}/{}", dir.to_string_lossy(), name.to_string_lossy());
        Ok(Location {
            dir: Some(fd),
            runtime_dir: Some(dir.to_owned()),
            at: name.clone(),
            name,
            path,
            note:
                "in the runtime directory ($XDG_RUNTIME_DIR): only this user can create names there"
                    .to_string(),
        })
    }
}

/// Where this process's region is: in the runtime directory when `XDG_RUNTIME_DIR` names
/// one that only this user can write to, else in /dev/shm, where any user can create names
/// (it is world-writable) and so can take the region's name first: the library then refuses
/// the object, and this user's processes run privately. Processes share only when they
/// agree on the location (the same runtime directory, or none).
fn locate() -> Result<Location, String> {
    let name = cstr(&region_name()?);
    let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) else {
        return Ok(Location::in_shm(name, "XDG_RUNTIME_DIR is not set"));
    };
    // A trailing slash would make the kernel follow a symbolic link despite O_NOFOLLOW.
    let mut bytes = dir.as_bytes();
    while bytes.len() > 1 && bytes.ends_with(b"/") {
        bytes = &bytes[..bytes.len() - 1];
    }
    let shown = OsStr::from_bytes(bytes).to_string_lossy().into_owned();
    let refused = |why: String| {
        Location::in_shm(
            name.clone(),
            &format!("XDG_RUNTIME_DIR={shown} {why}: not used"),
        )
    };
    if !bytes.starts_with(b"/") {
        return Ok(refused("is not an absolute path".to_string()));
    }
    let Ok(dir) = CString::new(bytes) else {
        return Ok(refused("contains a NUL byte".to_string()));
    };
    Ok(Location::in_runtime_dir(&dir, name.clone()).unwrap_or_else(refused))
}

/// Opens a runtime directory and checks what was opened: a directory (not a symbolic link:
/// O_NOFOLLOW), owned by this user, mode 0700, so that nobody else can create, replace or
/// remove names in it.
fn open_runtime_dir(dir: &CStr) -> Result<OwnedFd, String> {
    // SAFETY: stat is plain data; dir is a valid C string.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above. lstat only words the refusal; the checks below are on the fd.
    if unsafe { libc::lstat(dir.as_ptr(), &mut st) } != 0 {
        return Err(format!("cannot be used: {}", io::Error::last_os_error()));
    }
    match st.st_mode & libc::S_IFMT {
        libc::S_IFLNK => return Err("is a symbolic link".to_string()),
        libc::S_IFDIR => {}
        _ => return Err("is not a directory".to_string()),
    }
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: valid C string; the fd is owned below.
    let raw = unsafe { libc::open(dir.as_ptr(), flags) };
    if raw < 0 {
        return Err(format!("cannot be opened: {}", io::Error::last_os_error()));
    }
    // SAFETY: raw was just opened by us.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let st = fstat(&fd).map_err(|e| format!("cannot be checked: {e}"))?;
    // SAFETY: geteuid never fails.
    let uid = unsafe { libc::geteuid() };
    if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        return Err("is not a directory".to_string());
    }
    if st.st_uid != uid {
        return Err(format!(
            "belongs to uid {}, not to this user (uid {uid})",
            st.st_uid
        ));
    }
    let mode = st.st_mode & 0o777;
    if mode != 0o700 {
        return Err(format!("has mode {mode:04o}, not 0700"));
    }
    Ok(fd)
}

fn cstr(path: &str) -> CString {
    // Names built here have no NUL bytes (environment strings cannot hold one).
    CString::new(path).unwrap_or_default()
}

fn errno_text(what: &str, path: &str) -> String {
    format!("{what} {path}: {}", io::Error::last_os_error())
}

fn fstat(fd: &OwnedFd) -> io::Result<libc::stat> {
    // SAFETY: stat is plain data; fd is open.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(fd.as_raw_fd(), &mut st) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(st)
    }
}

/// Opens an existing object, or creates it with mode 0600 whatever the umask.
/// O_NOFOLLOW: a symbolic link at the name is refused (ELOOP), never followed.
/// O_NONBLOCK: an open that would break a file lease (fcntl(2) `F_SETLEASE`, which the
/// owner of a name in /dev/shm can hold) fails with EWOULDBLOCK at once instead of waiting
/// for the holder, up to /proc/sys/fs/lease-break-time; on a regular file it changes
/// nothing else. What was opened is trusted only after `check_object`.
fn open_or_create(loc: &Location) -> Result<(OwnedFd, bool), String> {
    let path = &loc.path;
    let flags = libc::O_RDWR | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;
    // SAFETY: loc.at is a valid C string; the returned fd is owned below.
    let fd = unsafe {
        libc::openat(
            loc.dirfd(),
            loc.at.as_ptr(),
            flags | libc::O_CREAT | libc::O_EXCL,
            0o600,
        )
    };
    if fd >= 0 {
        // SAFETY: fd was just opened by us.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: fd is open.
        unsafe { libc::fchmod(fd.as_raw_fd(), 0o600) };
        return Ok((fd, true));
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() != Some(libc::EEXIST) {
        return Err(format!("cannot create {path}: {err}"));
    }
    // SAFETY: as above.
    let fd = unsafe { libc::openat(loc.dirfd(), loc.at.as_ptr(), flags) };
    if fd < 0 {
        let err = io::Error::last_os_error();
        return Err(match err.raw_os_error() {
            Some(libc::ELOOP) => format!("{path} is a symbolic link: not followed, not used"),
            _ => format!("cannot open {path}: {err}"),
        });
    }
    // SAFETY: fd was just opened by us.
    Ok((unsafe { OwnedFd::from_raw_fd(fd) }, false))
}

/// Owner, type, mode and link count must be exactly this user's 0600 regular file with
/// one name.
fn check_object(path: &str, st: &libc::stat) -> Result<(), String> {
    // SAFETY: geteuid never fails.
    let uid = unsafe { libc::geteuid() };
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(format!("{path} is not a regular file: not used"));
    }
    if st.st_uid != uid {
        return Err(format!(
            "{path} belongs to uid {}, not to this user (uid {uid}): not used",
            st.st_uid
        ));
    }
    let mode = st.st_mode & 0o7777;
    if mode != 0o600 {
        return Err(format!("{path} has mode {mode:04o}, not 0600: not used"));
    }
    // A second name means a hard link: `ln ~/notes /dev/shm/solib-u...` would make the
    // library write its header over another file of the user's, or two namespaces share.
    if st.st_nlink != 1 {
        return Err(format!(
            "{path} has {} links (a hard link to another file?), not 1: not used",
            st.st_nlink
        ));
    }
    Ok(())
}

/// fcntl(2) open-file-description lock on one byte.
fn ofd_lock(fd: &OwnedFd, byte: i64, kind: i32, wait: bool) -> io::Result<()> {
    // SAFETY: flock is plain data; l_pid must be 0 for OFD locks.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = byte;
    fl.l_len = 1;
    let cmd = if wait {
        libc::F_OFD_SETLKW
    } else {
        libc::F_OFD_SETLK
    };
    loop {
        // SAFETY: fd is open and fl is a valid flock.
        let r = unsafe { libc::fcntl(fd.as_raw_fd(), cmd, &fl) };
        if r == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

fn is_busy(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EACCES))
}

/// Takes a lock, retrying for at most `patience` (never blocks the host for long).
fn lock_within(fd: &OwnedFd, byte: i64, kind: i32, patience: Duration) -> io::Result<bool> {
    let start = Instant::now();
    loop {
        match ofd_lock(fd, byte, kind, false) {
            Ok(()) => return Ok(true),
            Err(e) if is_busy(&e) => {
                if start.elapsed() > patience {
                    return Ok(false);
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Does the location still name the object `fd` has open? (The last user may have removed
/// it.)
fn still_named(loc: &Location, st: &libc::stat) -> bool {
    // SAFETY: stat is plain data; loc.at is a valid C string.
    unsafe {
        let mut now: libc::stat = std::mem::zeroed();
        libc::fstatat(
            loc.dirfd(),
            loc.at.as_ptr(),
            &mut now,
            libc::AT_SYMLINK_NOFOLLOW,
        ) == 0
            && now.st_dev == st.st_dev
            && now.st_ino == st.st_ino
    }
}

fn read_image(fd: &OwnedFd) -> io::Result<[u8; REGION_SIZE]> {
    let mut buf = [0u8; REGION_SIZE];
    // SAFETY: buf is REGION_SIZE writable bytes.
    let n = unsafe { libc::pread(fd.as_raw_fd(), buf.as_mut_ptr().cast(), REGION_SIZE, 0) };
    if n != REGION_SIZE as isize {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "short read"));
    }
    Ok(buf)
}

/// Maps the backing object over the section, in place. Returns a description of what was
/// done, for `solib_status`, which says where the object is in either case.
pub fn attach(section: &'static SharedRegion) -> Result<(Attached, String), String> {
    let loc = locate()?;
    attach_at(section, &loc)
        .map(|(att, how)| (att, format!("{how}; {}", loc.note)))
        .map_err(|why| format!("{why}; {}", loc.note))
}

fn attach_at(section: &'static SharedRegion, loc: &Location) -> Result<(Attached, String), String> {
    let path = &loc.path;
    for _ in 0..ATTEMPTS {
        let (fd, created) = open_or_create(loc)?;
        let st = fstat(&fd).map_err(|e| format!("cannot stat {path}: {e}"))?;
        check_object(path, &st)?;
        match lock_within(&fd, INIT_BYTE, libc::F_WRLCK, INIT_PATIENCE) {
            Ok(true) => {}
            Ok(false) => {
                return Err(format!(
                    "{path}: another process held the init lock for over {INIT_PATIENCE:?}"
                ));
            }
            Err(e) => return Err(format!("cannot lock {path}: {e}")),
        }
        if !still_named(loc, &st) {
            continue; // removed by its last user while we waited: start again
        }
        // Stat again under the lock: the size seen before it may be that of a region its
        // creator had not written yet (found by eight loaders racing).
        let st = match fstat(&fd) {
            Ok(st) => st,
            Err(e) => {
                let _ = ofd_lock(&fd, INIT_BYTE, libc::F_UNLCK, false);
                return Err(format!("cannot stat {path}: {e}"));
            }
        };
        let result = attach_locked(section, path, &fd, &st, created);
        let _ = ofd_lock(&fd, INIT_BYTE, libc::F_UNLCK, false);
        let how = result?;
        return Ok((
            Attached {
                path: path.clone(),
                runtime_dir: loc.runtime_dir.clone(),
                name: loc.name.clone(),
                fd,
                dev: st.st_dev,
                ino: st.st_ino,
            },
            how,
        ));
    }
    Err(format!(
        "{path} was replaced {ATTEMPTS} times while attaching"
    ))
}

fn attach_locked(
    section: &'static SharedRegion,
    path: &str,
    fd: &OwnedFd,
    st: &libc::stat,
    created: bool,
) -> Result<String, String> {
    let alone = match ofd_lock(fd, USER_BYTE, libc::F_WRLCK, false) {
        Ok(()) => true,
        Err(e) if is_busy(&e) => false,
        Err(e) => return Err(format!("cannot lock {path}: {e}")),
    };
    let size = st.st_size as usize;
    let how = if alone {
        // Nobody has the region mapped: (re)start it from the section's initial values.
        if size != 0 {
            if size != REGION_SIZE {
                let _ = ofd_lock(fd, USER_BYTE, libc::F_UNLCK, false);
                return Err(format!(
                    "{path} has size {size}, not {REGION_SIZE}: not used"
                ));
            }
            let image = read_image(fd).map_err(|e| format!("cannot read {path}: {e}"))?;
            if let Err(bad) = check_header(&image) {
                let _ = ofd_lock(fd, USER_BYTE, libc::F_UNLCK, false);
                return Err(format!("{path} has {bad}: not used"));
            }
        }
        // The section has not been written yet in this process: these bytes are the
        // initial values stored in the .so file.
        let initial = section as *const SharedRegion as *const libc::c_void;
        // SAFETY: `initial` points at REGION_SIZE readable bytes; fd is open for writing.
        let n = unsafe { libc::pwrite(fd.as_raw_fd(), initial, REGION_SIZE, 0) };
        if n != REGION_SIZE as isize {
            let _ = ofd_lock(fd, USER_BYTE, libc::F_UNLCK, false);
            return Err(errno_text("cannot initialize", path));
        }
        if created || size == 0 {
            "created it from the section's initial values"
        } else {
            "no process was using it: reset it to the section's initial values"
        }
    } else {
        if size != REGION_SIZE {
            return Err(format!(
                "{path} has size {size}, not {REGION_SIZE}: not used"
            ));
        }
        let image = read_image(fd).map_err(|e| format!("cannot read {path}: {e}"))?;
        check_header(&image).map_err(|bad| format!("{path} has {bad}: not used"))?;
        "attached to the live region of the processes already using it"
    };
    // Shared user lock: converts our exclusive one, or joins the other users'.
    if let Err(e) = ofd_lock(fd, USER_BYTE, libc::F_RDLCK, false) {
        let _ = ofd_lock(fd, USER_BYTE, libc::F_UNLCK, false);
        return Err(format!("cannot take the user lock on {path}: {e}"));
    }
    let addr = section as *const SharedRegion as *mut libc::c_void;
    // SAFETY: `addr` is the page-aligned start of the `.shared` section, which is exactly
    // REGION_SIZE bytes and the only thing on its page; replacing its private mapping with
    // the shared object keeps the same address, so the static stays valid.
    let mapped = unsafe {
        libc::mmap(
            addr,
            REGION_SIZE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_FIXED,
            fd.as_raw_fd(),
            0,
        )
    };
    if mapped != addr {
        let _ = ofd_lock(fd, USER_BYTE, libc::F_UNLCK, false);
        return Err(errno_text("cannot map", path));
    }
    Ok(format!("shared: {path}: {how}"))
}

/// At unload or exit: if no other process uses the region, remove the object, so the next
/// process starts from the initial values, as on Windows.
///
/// The user lock belongs to our open file description, which both our descriptor and our
/// MAP_SHARED mapping keep alive (a mapping holds a reference to its file). So the section
/// first goes back to private memory, keeping a snapshot of its contents for any code that
/// still runs in this process, then the descriptor is closed and the object opened again
/// to ask, with a new description, whether anybody still holds the user lock. A child made
/// by fork(2) shares our description through its copy of the descriptor and the mapping:
/// it keeps the region alive, as it should.
pub fn detach(section: &'static SharedRegion, att: Attached) {
    let Attached {
        path,
        runtime_dir,
        name,
        fd,
        dev,
        ino,
    } = att;
    let addr = section as *const SharedRegion as *mut libc::c_void;
    let mut snapshot = [0u8; REGION_SIZE];
    // SAFETY: `addr` is our REGION_SIZE-byte section; the anonymous private mapping that
    // replaces it at the same address receives the snapshot, so the static stays valid.
    unsafe {
        std::ptr::copy_nonoverlapping(addr as *const u8, snapshot.as_mut_ptr(), REGION_SIZE);
        let private = libc::mmap(
            addr,
            REGION_SIZE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
            -1,
            0,
        );
        if private != addr {
            return; // still mapped shared: leave the region to its other users
        }
        std::ptr::copy_nonoverlapping(snapshot.as_ptr(), addr as *mut u8, REGION_SIZE);
    }
    drop(fd);
    // The same place as at attach, checked again (a runtime directory is reopened).
    let loc = match &runtime_dir {
        Some(dir) => match Location::in_runtime_dir(dir, name) {
            Ok(loc) => loc,
            Err(_) => return,
        },
        None => Location::in_shm(name, ""),
    };
    // SAFETY: valid C string; the fd is owned below.
    let raw = unsafe {
        libc::openat(
            loc.dirfd(),
            loc.at.as_ptr(),
            libc::O_RDWR | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    if raw < 0 {
        return;
    }
    // SAFETY: raw was just opened by us.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let Ok(st) = fstat(&fd) else { return };
    if st.st_dev != dev || st.st_ino != ino || check_object(&path, &st).is_err() {
        return;
    }
    if !matches!(
        lock_within(&fd, INIT_BYTE, libc::F_WRLCK, Duration::from_secs(1)),
        Ok(true)
    ) {
        return;
    }
    if ofd_lock(&fd, USER_BYTE, libc::F_WRLCK, false).is_ok() && still_named(&loc, &st) {
        // SAFETY: valid C string, relative to the directory checked above.
        unsafe { libc::unlinkat(loc.dirfd(), loc.at.as_ptr(), 0) };
    }
}

/// Why the clipboard writer lock could not be had.
pub enum WriterLockError {
    /// Another process held it for all of [`WRITER_PATIENCE`].
    Busy,
    /// The library's descriptor no longer refers to the region (the host closed it, and
    /// the number may now be another file's), or fcntl(2) failed: the errno.
    Failed(i32),
}

/// Takes this process's clipboard writer lock (byte 2, a process lock: see the module
/// docs), retrying until `deadline`. The caller serializes this process's threads.
pub fn lock_writer(att: &Attached, deadline: Instant) -> Result<(), WriterLockError> {
    // A host may close descriptors it did not open (a daemon does after fork); a lock on
    // whatever file now has the number would exclude nobody.
    match fstat(&att.fd) {
        Ok(st) if st.st_dev == att.dev && st.st_ino == att.ino => {}
        Ok(_) => return Err(WriterLockError::Failed(libc::EBADF)),
        Err(e) => {
            return Err(WriterLockError::Failed(
                e.raw_os_error().unwrap_or(libc::EBADF),
            ));
        }
    }
    // Polling, not F_SETLKW: a blocking wait cannot be bounded without a signal. The naps
    // grow to 1 ms, so a waiter costs little and still comes back soon after a release.
    let mut nap = Duration::from_micros(20);
    loop {
        match process_lock(&att.fd, WRITER_BYTE, libc::F_WRLCK) {
            Ok(()) => return Ok(()),
            Err(e) if is_busy(&e) => {}
            Err(e) => {
                return Err(WriterLockError::Failed(
                    e.raw_os_error().unwrap_or(libc::EIO),
                ));
            }
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(WriterLockError::Busy);
        }
        std::thread::sleep(nap.min(deadline - now));
        nap = (nap * 2).min(Duration::from_millis(1));
    }
}

pub fn unlock_writer(att: &Attached) {
    let _ = process_lock(&att.fd, WRITER_BYTE, libc::F_UNLCK);
}

/// fcntl(2) `F_SETLK` on one byte: a lock owned by the calling process. Never waits.
fn process_lock(fd: &OwnedFd, byte: i64, kind: i32) -> io::Result<()> {
    // SAFETY: flock is plain data.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = byte;
    fl.l_len = 1;
    loop {
        // SAFETY: fd is open and fl is a valid flock.
        if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETLK, &fl) } == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}
