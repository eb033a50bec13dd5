//! A running lab-host: started with its stdout read line by line, told actions on its
//! stdin, killed and reaped on Drop; and the `key=value` fields of its lines.

use super::cleanup::LIVE;
use anyhow::{Context, Result, anyhow, bail};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

/// A running lab-host, killed and reaped on Drop.
pub struct Host {
    pub name: String,
    pub pid: i32,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl Host {
    pub(super) fn spawn(name: &str, mut cmd: Command) -> Result<Host> {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // SAFETY: prctl is async-signal-safe. The host dies with the lab, even on SIGKILL.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = {
            let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
            let child = cmd
                .spawn()
                .with_context(|| format!("cannot start {name}"))?;
            live.push(child.id() as i32);
            child
        };
        let pid = child.id() as i32;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Host {
            name: name.to_string(),
            pid,
            stdin: child.stdin.take(),
            child,
            lines: rx,
        })
    }

    pub(super) fn expect(&mut self, pat: &str) -> Result<String> {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(20)) {
                Ok(line) if line.contains("action=error") => {
                    bail!("{} (pid {}) reported: {line}", self.name, self.pid)
                }
                Ok(line) if line.contains(pat) => return Ok(line),
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    bail!(
                        "{} (pid {}) printed no {pat:?} within 20 s",
                        self.name,
                        self.pid
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    bail!(
                        "{} (pid {}) exited before printing {pat:?}",
                        self.name,
                        self.pid
                    )
                }
            }
        }
    }

    pub fn act(&mut self, action: &str) -> Result<String> {
        let stdin = self.stdin.as_mut().ok_or_else(|| anyhow!("stdin closed"))?;
        writeln!(stdin, "{action}")
            .and_then(|_| stdin.flush())
            .with_context(|| format!("cannot talk to {} (pid {})", self.name, self.pid))?;
        let verb = action.split(':').next().unwrap_or(action);
        self.expect(&format!("action={verb} "))
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
        let _ = self.child.kill();
        let _ = self.child.wait();
        live.retain(|&p| p != self.pid);
    }
}

/// `key=value` from a lab-host line.
pub fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

pub fn field_u64(line: &str, key: &str) -> Result<u64> {
    let v = field(line, key).ok_or_else(|| anyhow!("no {key}= in {line:?}"))?;
    let parsed = match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => v.parse(),
    };
    parsed.with_context(|| format!("{key}={v} in {line:?}"))
}
