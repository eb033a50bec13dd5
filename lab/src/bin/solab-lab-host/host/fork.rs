//! `fork` and `fork-as`: children of this process that keep its memory, the library at the
//! same address.

use super::{Flow, Host};
use anyhow::{Result, bail};
use std::io::{BufRead, Write};

/// A child made by `fork`: it runs the actions its parent sends down one pipe and answers
/// each with one line up the other. It dies with its parent (PR_SET_PDEATHSIG).
pub struct Forked {
    pub pid: i32,
    pub to: Option<std::fs::File>,
    pub from: std::io::BufReader<std::fs::File>,
}

impl Drop for Forked {
    /// Closes the child's pipe, which ends it, and reaps it (in a child made later by
    /// `fork`, whose sibling this is, there is nothing to reap).
    fn drop(&mut self) {
        self.to = None;
        let mut status = 0;
        // SAFETY: waits for this pid only; ECHILD when it is not our child.
        unsafe { libc::waitpid(self.pid, &mut status, 0) };
    }
}

/// A pipe as (read end, write end), both close-on-exec.
fn pipe() -> Result<(std::fs::File, std::fs::File)> {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: fds has room for the two descriptors pipe2 returns.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        bail!("pipe: {}", std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors are new and owned by nothing else.
    Ok(unsafe {
        (
            std::fs::File::from_raw_fd(fds[0]),
            std::fs::File::from_raw_fd(fds[1]),
        )
    })
}

impl Host {
    pub fn forked_pid(&self) -> i32 {
        self.forked.as_ref().map_or(0, |f| f.pid)
    }

    /// Forks a child that keeps everything this process has (the library at the same
    /// address, its written pages on the same frames until one side writes) and serves
    /// `child:ACTION` from here on. Returns its pid.
    pub fn fork_child(&mut self) -> Result<i32> {
        use std::io::BufReader;
        let (down_r, down_w) = pipe()?;
        let (up_r, up_w) = pipe()?;
        self.out.lock().flush()?;
        let parent = std::process::id() as i32;
        // SAFETY: fork(2) in a single-threaded process.
        let child = unsafe { libc::fork() };
        if child < 0 {
            bail!("fork: {}", std::io::Error::last_os_error());
        }
        if child == 0 {
            // SAFETY: plain calls; the child never returns from this block.
            unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
            // SAFETY: as above.
            if unsafe { libc::getppid() } != parent {
                unsafe { libc::_exit(1) };
            }
            drop((down_w, up_r));
            self.pid = std::process::id();
            self.forked = None;
            self.reply = Some(up_w);
            for line in BufReader::new(down_r).lines() {
                let Ok(line) = line else { break };
                let flow = self.run(line.trim());
                if let Err(e) = &flow {
                    let _ = self.say("error", &format!("{e:#}"));
                }
                if matches!(flow, Ok(Flow::Exit)) {
                    break;
                }
            }
            // SAFETY: leaves the child without running the parent's exit handlers.
            unsafe { libc::_exit(0) };
        }
        self.forked = Some(Forked {
            pid: child,
            to: Some(down_w),
            from: BufReader::new(up_r),
        });
        Ok(child)
    }

    /// Forks; the child drops to `uid` (a process that changed user after loading the
    /// library, as a privilege-dropping server does), runs `action` and exits without
    /// running destructors, which belong to the parent. Returns the child's pid and exit
    /// code. lab-host has no other threads, so fork is safe here.
    pub fn fork_child_as(&mut self, uid: libc::uid_t, action: &str) -> Result<(i32, i32)> {
        self.out.lock().flush()?;
        // SAFETY: fork(2) in a single-threaded process.
        let child = unsafe { libc::fork() };
        if child < 0 {
            bail!("fork: {}", std::io::Error::last_os_error());
        }
        if child == 0 {
            self.pid = std::process::id();
            // SAFETY: plain credential calls; the child exits below whatever happens.
            let dropped = unsafe {
                libc::setgroups(0, std::ptr::null()) == 0
                    && libc::setgid(uid) == 0
                    && libc::setuid(uid) == 0
            };
            let code = if !dropped {
                let _ = self.say(
                    "error",
                    &format!("setuid {uid}: {}", std::io::Error::last_os_error()),
                );
                3
            } else {
                match self.run(action) {
                    Ok(_) => 0,
                    Err(e) => {
                        let _ = self.say("error", &format!("{e:#}"));
                        2
                    }
                }
            };
            let _ = self.out.lock().flush();
            // SAFETY: leaves the child without running the parent's exit handlers.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: waits for our own child.
        if unsafe { libc::waitpid(child, &mut status, 0) } != child {
            bail!("waitpid {child}: {}", std::io::Error::last_os_error());
        }
        let code = if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            128 + libc::WTERMSIG(status)
        };
        Ok((child, code))
    }
}
