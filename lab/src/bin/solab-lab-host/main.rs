//! lab-host: loads libsolib.so at run time, the Linux way (dlopen/dlsym, the counterparts of
//! LoadLibrary/GetProcAddress), and runs the actions named on its command line in order,
//! printing one line per action, so that the lab, the tests and `solab` can watch it.

mod host;
mod message;
mod objects;
mod solib;

use anyhow::{Context, Result};
use clap::Parser;
use host::{Flow, Host};
use solab_lab::host_cli::Cli;
use solib::Solib;
use std::path::PathBuf;

fn default_lib() -> PathBuf {
    if let Some(p) = std::env::var_os("SOLIB_PATH") {
        return PathBuf::from(p);
    }
    // Beside this program in a build directory; in ../lib once installed (make install puts
    // the programs in $PREFIX/bin and the library in $PREFIX/lib).
    let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(PathBuf::from))
    else {
        return PathBuf::from("libsolib.so");
    };
    let beside = dir.join("libsolib.so");
    match dir.parent().map(|d| d.join("lib/libsolib.so")) {
        Some(installed) if !beside.exists() && installed.exists() => installed,
        _ => beside,
    }
}

/// Sets this process's command name (the kernel keeps at most 15 bytes of it), so that ps
/// and solab tell the lab's hosts apart by the names the book gives them.
fn set_name(name: &str) -> Result<()> {
    let c = std::ffi::CString::new(name).context("--name: a NUL byte in the name")?;
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes, truncating
    // longer ones; `c` lives across the call.
    if unsafe { libc::prctl(libc::PR_SET_NAME, c.as_ptr() as libc::c_ulong, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error()).context("--name: prctl(PR_SET_NAME)");
    }
    Ok(())
}

fn run() -> Result<()> {
    let cli = Cli::parse();
    if let Some(name) = &cli.name {
        set_name(name)?;
    }
    let path = cli.lib.unwrap_or_else(default_lib);
    let solib = Solib::load(&path)?;
    let mut host = Host::new(solib);
    for action in &cli.actions {
        if let Flow::Exit = host.run(action)? {
            break;
        }
    }
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        {
            std::process::exit(0);
        }
        eprintln!("lab-host: error: {e:#}");
        std::process::exit(2);
    }
}
