//! `--listen`'s privileges once the socket is bound: every capability but the three a scan
//! uses given up for good (the bounding set too), no new privileges by exec, and with
//! `--user` another uid and gid, so that what is left is reading, not writing, as root.
//!
//! What a scan uses, and what it gets without it:
//! - `CAP_SYS_ADMIN`: page frame numbers in `/proc/PID/pagemap` (checked against the
//!   opener's capabilities) and `/proc/PID/map_files`; without it every figure is weak
//!   (`solab_evidence{evidence="weak"} 1`);
//! - `CAP_SYS_PTRACE`: the kernel's ptrace read check on another user's process, which
//!   `maps`, `smaps` and `pagemap` pass; without it those processes are unreadable;
//! - `CAP_DAC_READ_SEARCH`: `/proc/kpagecount` and `/proc/kpageflags` (root's, mode 0400)
//!   and another user's `/proc/PID/pagemap` once the uid is not root, and mapped files in
//!   directories this uid cannot search.

use nix::unistd::{Gid, Uid, User};

/// The capabilities kept, by number (linux/capability.h).
pub const KEEP: &[(u32, &str)] = &[
    (2, "CAP_DAC_READ_SEARCH"),
    (19, "CAP_SYS_PTRACE"),
    (21, "CAP_SYS_ADMIN"),
];

const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The capabilities this process has now, as two 32-bit halves of each set.
fn capget() -> std::io::Result<[CapData; 2]> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget(2) with a version 3 header reads two CapData structures.
    let r = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(data)
}

/// Gives up every capability but [`KEEP`] (of those it has), the ambient ones, and with
/// `user` changes to that user's uid and gid with no supplementary groups. Returns what is
/// kept, for the log line.
pub fn drop_to(user: Option<&str>) -> Result<String, String> {
    let had = capget().map_err(|e| format!("capget: {e}"))?;
    let keep_mask: u64 = KEEP.iter().fold(0, |m, &(c, _)| m | 1 << c);
    let permitted = u64::from(had[0].permitted) | u64::from(had[1].permitted) << 32;
    let kept = permitted & keep_mask;
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(40);
    // The bounding set first: dropping from it needs CAP_SETPCAP, which goes below.
    for cap in 0..=last {
        if keep_mask & (1 << cap) == 0 {
            // SAFETY: prctl with integer arguments; an error (no CAP_SETPCAP: not root)
            // leaves the set as it was, which the capabilities below still bound.
            unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
        }
    }
    // SAFETY: prctl with integer arguments.
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    if let Some(name) = user {
        switch_user(name)?;
    }
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let half = |shift: u32| CapData {
        effective: (kept >> shift) as u32,
        permitted: (kept >> shift) as u32,
        inheritable: 0,
    };
    let data = [half(0), half(32)];
    // SAFETY: capset(2) with a version 3 header reads two CapData structures.
    if unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) } != 0 {
        return Err(format!("capset: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(format!("no_new_privs: {}", std::io::Error::last_os_error()));
    }
    let names: Vec<&str> = KEEP
        .iter()
        .filter(|&&(c, _)| kept & (1 << c) != 0)
        .map(|&(_, n)| n)
        .collect();
    Ok(if names.is_empty() {
        "no capabilities".to_string()
    } else {
        names.join(" ")
    })
}

/// Becomes `name` (a user name or a numeric uid), keeping the permitted capabilities
/// through the change (`PR_SET_KEEPCAPS`; the effective ones are set again after).
fn switch_user(name: &str) -> Result<(), String> {
    let (uid, gid) = match name.parse::<u32>() {
        Ok(n) => (Uid::from_raw(n), Gid::from_raw(n)),
        Err(_) => {
            let u = User::from_name(name)
                .map_err(|e| format!("--user {name}: {e}"))?
                .ok_or_else(|| format!("--user {name}: no such user"))?;
            (u.uid, u.gid)
        }
    };
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) };
    nix::unistd::setgroups(&[]).map_err(|e| format!("--user {name}: setgroups: {e}"))?;
    nix::unistd::setresgid(gid, gid, gid).map_err(|e| format!("--user {name}: setgid: {e}"))?;
    nix::unistd::setresuid(uid, uid, uid).map_err(|e| format!("--user {name}: setuid: {e}"))?;
    Ok(())
}
