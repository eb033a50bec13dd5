//! What the lab leaves behind, and its removal: the processes it started (killed and
//! reaped), the regions of its namespace, the copies made for uid 65534. The Ctrl-C handler
//! and the end of every experiment come here.

use anyhow::{Context, Result};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// Pids of every process the lab started and has not yet reaped, and the region namespace,
/// for the Ctrl-C handler.
pub(super) static LIVE: Mutex<Vec<i32>> = Mutex::new(Vec::new());
pub(super) static NAMESPACE: OnceLock<String> = OnceLock::new();
/// The copies that processes of uid 65534 run (see [`stage_for_others`]), for the Ctrl-C
/// handler.
static STAGED: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Kills every process the lab started, waits until they are gone, and removes the
/// regions of the lab's namespace. Holds the list of live processes throughout, so no host
/// can be started meanwhile (a host started after the removal could make a new region).
pub fn cleanup_everything() {
    let live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
    stop_and_remove(&live);
}

/// The Ctrl-C path: clean up, then exit with the list still held.
pub fn cleanup_and_exit(code: i32) -> ! {
    let live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
    stop_and_remove(&live);
    std::process::exit(code)
}

fn stop_and_remove(pids: &[i32]) {
    for &pid in pids {
        // SAFETY: plain kill(2) of a child we started.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    for &pid in pids {
        // SAFETY: reaps our own child; its Host handle ignores the resulting ECHILD.
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
    }
    if let Some(ns) = NAMESPACE.get() {
        remove_regions(ns);
    }
    // After the kill: no process of the lab runs from the copies any more.
    if let Some(dir) = STAGED.lock().unwrap_or_else(|e| e.into_inner()).take() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// The programs a process of another user runs: solab-lab-host, libsolib.so and solab.
const STAGED_FILES: [&str; 3] = ["solab-lab-host", "libsolib.so", "solab"];

/// Copies of [`STAGED_FILES`] that uid 65534 can reach, made once per run in a mode 0755
/// directory under /tmp and removed by [`cleanup_everything`] (also on Ctrl-C).
///
/// The checkout may lie below a directory uid 65534 cannot search (a 0700 home): it could
/// not dlopen the library there, and solab could not open the file the hosts map. /tmp,
/// not $TMPDIR: a per-user TMPDIR (pam_tmpdir) is private too. Copies, not symbolic links,
/// which would lead back into the checkout.
pub(super) fn stage_for_others(bin: &Path, lib: &Path) -> Result<PathBuf> {
    let mut staged = STAGED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(dir) = staged.as_ref() {
        return Ok(dir.clone());
    }
    let dir = nix::unistd::mkdtemp("/tmp/solab-lab-copies-XXXXXX")
        .context("cannot create a directory for uid 65534 in /tmp")?;
    // Recorded before the copies, so an interruption while copying removes them too.
    *staged = Some(dir.clone());
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot make {} readable to others", dir.display()))?;
    for f in STAGED_FILES {
        // The library may not be in `bin` (installed: ../lib); the copy is beside the others.
        let from = if f == "libsolib.so" {
            lib.to_path_buf()
        } else {
            bin.join(f)
        };
        std::fs::copy(from, dir.join(f))
            .with_context(|| format!("cannot copy {} into {}", f, dir.display()))?;
    }
    Ok(dir)
}

/// The regions `solib-u*-v*-NS` (of any uid in the lab's namespace) in /dev/shm and in the
/// runtime directory, where libsolib.so puts them when XDG_RUNTIME_DIR is set.
pub fn regions(ns: &str) -> Vec<PathBuf> {
    let suffix = format!("-{ns}");
    let runtime = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from);
    let mut found = Vec::new();
    for dir in std::iter::once(PathBuf::from("/dev/shm")).chain(runtime) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("solib-u") && name.ends_with(&suffix) {
                found.push(e.path());
            }
        }
    }
    found
}

/// Removes the lab's [`regions`].
pub fn remove_regions(ns: &str) {
    for path in regions(ns) {
        let _ = std::fs::remove_file(path);
    }
}
