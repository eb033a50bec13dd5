//! libsolib.so's C ABI (solib/include/solib.h), resolved with dlsym after dlopen.

use anyhow::{Context, Result, bail};
use std::ffi::{c_char, c_void};
use std::path::{Path, PathBuf};

type AddFn = unsafe extern "C" fn(i64, i64) -> i64;
type CountFn = unsafe extern "C" fn() -> u64;
type AddrFn = unsafe extern "C" fn() -> *const c_void;
type ClipSetFn = unsafe extern "C" fn(*const u8, usize) -> i32;
type ClipGetFn = unsafe extern "C" fn(*mut u8, usize) -> usize;
type StatusFn = unsafe extern "C" fn(*mut c_char, usize) -> i32;

/// The library's C ABI, resolved with dlsym.
pub struct Solib {
    pub lib: Option<libloading::Library>,
    pub path: PathBuf,
    pub add: AddFn,
    pub private_calls: CountFn,
    pub bss_calls: CountFn,
    pub shared_calls: CountFn,
    pub shared_addr: AddrFn,
    pub private_addr: AddrFn,
    pub bss_addr: AddrFn,
    pub clip_set: ClipSetFn,
    pub clip_get: ClipGetFn,
    pub clip_capacity: unsafe extern "C" fn() -> usize,
    pub status: StatusFn,
}

impl Solib {
    pub fn load(path: &Path) -> Result<Solib> {
        // SAFETY: loading runs the library's constructor, which is designed to run in any
        // host and never unwinds.
        let lib = unsafe { libloading::Library::new(path) }
            .with_context(|| format!("cannot load {}", path.display()))?;
        macro_rules! sym {
            ($name:literal) => {
                // SAFETY: the types match solib/include/solib.h.
                *unsafe { lib.get($name) }.with_context(|| {
                    format!(
                        "{} has no symbol {}",
                        path.display(),
                        String::from_utf8_lossy($name)
                    )
                })?
            };
        }
        Ok(Solib {
            add: sym!(b"solib_add"),
            private_calls: sym!(b"solib_private_calls"),
            bss_calls: sym!(b"solib_bss_calls"),
            shared_calls: sym!(b"solib_shared_calls"),
            shared_addr: sym!(b"solib_shared_addr"),
            private_addr: sym!(b"solib_private_addr"),
            bss_addr: sym!(b"solib_bss_addr"),
            clip_set: sym!(b"solib_clipboard_set"),
            clip_get: sym!(b"solib_clipboard_get"),
            clip_capacity: sym!(b"solib_clipboard_capacity"),
            status: sym!(b"solib_status"),
            path: path.to_path_buf(),
            lib: Some(lib),
        })
    }

    pub fn loaded(&self) -> Result<&Self> {
        match self.lib {
            Some(_) => Ok(self),
            None => bail!("{} was unloaded", self.path.display()),
        }
    }

    pub fn counters(&self) -> String {
        // SAFETY: plain getters of the loaded library.
        unsafe {
            format!(
                "private_calls={} bss_calls={} shared_calls={}",
                (self.private_calls)(),
                (self.bss_calls)(),
                (self.shared_calls)()
            )
        }
    }

    pub fn clip_get(&self) -> Vec<u8> {
        // SAFETY: the buffer has the clipboard's capacity.
        unsafe {
            let mut buf = vec![0u8; (self.clip_capacity)()];
            let n = (self.clip_get)(buf.as_mut_ptr(), buf.len());
            buf.truncate(n.min(buf.len()));
            buf
        }
    }

    /// solib_clipboard_set's return value, and errno when it is -1.
    pub fn clip_set(&self, msg: &[u8]) -> (i32, Option<std::io::Error>) {
        // SAFETY: msg is a valid slice.
        let rc = unsafe { (self.clip_set)(msg.as_ptr(), msg.len()) };
        // Read at once: nothing else has run since the call to change errno.
        (rc, (rc != 0).then(std::io::Error::last_os_error))
    }
}

/// Whether the loader still has `path` loaded in this process: dlopen(3) with RTLD_NOLOAD
/// returns a handle only for an object that is loaded (and counts one more reference, given
/// back at once). After dlclose, "no" means the loader's reference count reached zero and
/// the object was unloaded.
pub fn still_loaded(path: &Path) -> Result<bool> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .with_context(|| format!("{} has a NUL byte", path.display()))?;
    // SAFETY: a valid C string; RTLD_NOLOAD loads nothing and runs no constructor.
    let handle = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOLOAD | libc::RTLD_LAZY) };
    if handle.is_null() {
        return Ok(false);
    }
    // SAFETY: gives back the reference the dlopen above took.
    unsafe { libc::dlclose(handle) };
    Ok(true)
}
