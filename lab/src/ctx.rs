//! The lab's bench: starting lab-hosts, running solab, printing what was done, cleaning up.

use anyhow::{Context, Result, anyhow, bail};
use serde::de::DeserializeOwned;
use solab::commands::family::FamilyReport;
use solab::inspect_report::InspectReport;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Pids of every process the lab started and has not yet reaped, and the region namespace,
/// for the Ctrl-C handler.
static LIVE: Mutex<Vec<i32>> = Mutex::new(Vec::new());
static NAMESPACE: OnceLock<String> = OnceLock::new();
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
fn stage_for_others(bin: &Path, lib: &Path) -> Result<PathBuf> {
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

#[derive(Clone, Copy)]
pub struct Style {
    pub color: bool,
}

impl Style {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    pub fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
    pub fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }
    pub fn green(&self, s: &str) -> String {
        self.paint("1;32", s)
    }
    pub fn red(&self, s: &str) -> String {
        self.paint("1;31", s)
    }
    pub fn yellow(&self, s: &str) -> String {
        self.paint("1;33", s)
    }
    pub fn cyan(&self, s: &str) -> String {
        self.paint("36", s)
    }

    pub fn auto(choice: &str) -> Style {
        let color = match choice {
            "always" => true,
            "never" => false,
            _ => std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        };
        Style { color }
    }
}

/// Who the lab-hosts of an experiment run as.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum As {
    Me,
    /// uid/gid 65534 through setpriv (only when the lab runs as root).
    Nobody,
}

pub struct Lab {
    pub bin: PathBuf,
    /// libsolib.so: in `bin`, or in `bin`/../lib when installed.
    pub lib: PathBuf,
    pub out: PathBuf,
    /// Where `make build` put the lab's C libraries (target/lab).
    pub fixtures: PathBuf,
    pub ns: String,
    /// Can this process read frame numbers and /proc/kpage*?
    pub privileged: bool,
    pub style: Style,
    /// What the current experiment ran and saw.
    pub commands: Vec<String>,
    pub evidence: Vec<String>,
    /// Page-map pictures of the current experiment (see [`Lab::start_pictures`]).
    pub pictures: Vec<String>,
    picture_stem: Option<String>,
}

impl Lab {
    pub fn new(bin: PathBuf, out: PathBuf, fixtures: PathBuf, style: Style) -> Result<Lab> {
        for f in ["solab-lab-host", "solab"] {
            let p = bin.join(f);
            if !p.exists() {
                bail!("{} is missing: run `make build` first", p.display());
            }
        }
        // Beside the programs in a build directory; in ../lib once installed (make install
        // puts the programs in $PREFIX/bin and the library in $PREFIX/lib).
        let installed = bin.parent().map(|d| d.join("lib/libsolib.so"));
        let lib = std::iter::once(bin.join("libsolib.so"))
            .chain(installed)
            .find(|p| p.exists())
            .with_context(|| {
                format!(
                    "{} is missing: run `make build` first",
                    bin.join("libsolib.so").display()
                )
            })?;
        std::fs::create_dir_all(&out)
            .with_context(|| format!("cannot create {}", out.display()))?;
        let ns = format!("lab{}", std::process::id());
        let _ = NAMESPACE.set(ns.clone());
        Ok(Lab {
            bin,
            lib,
            out,
            fixtures,
            ns,
            privileged: can_read_frames(),
            style,
            commands: Vec::new(),
            evidence: Vec::new(),
            pictures: Vec::new(),
            picture_stem: None,
        })
    }

    /// Where the programs that `who` runs are: this lab's own directory, or for uid 65534
    /// copies it can reach (see [`stage_for_others`]).
    pub fn bin_for(&self, who: As) -> Result<PathBuf> {
        match who {
            As::Me => Ok(self.bin.clone()),
            As::Nobody => stage_for_others(&self.bin, &self.lib),
        }
    }

    pub fn rel(&self, p: &Path) -> String {
        let cwd = std::env::current_dir().unwrap_or_default();
        p.strip_prefix(&cwd).unwrap_or(p).display().to_string()
    }

    fn command_line(&self, who: As, program: &Path, args: &[String]) -> String {
        let mut s = String::new();
        if who == As::Nobody {
            s.push_str("setpriv ");
            s.push_str(&AS_NOBODY[..5].join(" "));
            s.push(' ');
        }
        s.push_str(&self.rel(program));
        for a in args {
            if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "'\"$&;|<>()".contains(c))
            {
                s.push_str(&format!(" '{}'", a.replace('\'', r"'\''")));
            } else {
                s.push(' ');
                s.push_str(a);
            }
        }
        s
    }

    pub fn note_command(&mut self, line: String) {
        println!("  {} {}", self.style.dim("$"), self.style.cyan(&line));
        self.commands.push(line);
    }

    pub fn see(&mut self, line: String) {
        println!("    {line}");
        self.evidence.push(line);
    }

    /// Starts a lab-host named `name` that runs `actions`, then serves actions from stdin.
    pub fn host(&mut self, name: &str, who: As, actions: &[&str]) -> Result<Host> {
        let bin = self.bin_for(who)?;
        let lib = match who {
            As::Me => self.lib.clone(),
            As::Nobody => bin.join("libsolib.so"),
        };
        let mut args: Vec<String> = vec!["--lib".into(), self.rel(&lib)];
        args.extend(actions.iter().map(|s| s.to_string()));
        args.push("serve".into());
        let program = bin.join("solab-lab-host");
        let line = format!(
            "SOLIB_NAMESPACE={} {} &   # {name}",
            self.ns,
            self.command_line(who, &program, &args)
        );
        let mut cmd = command_as(who, &program);
        cmd.args(&args).env("SOLIB_NAMESPACE", &self.ns);
        let mut host = Host::spawn(name, cmd)?;
        host.expect("action=serve")?;
        self.note_command(format!("{line}, pid {}", host.pid));
        Ok(host)
    }

    /// Sends `action` to a host and returns its line.
    pub fn act(&mut self, host: &mut Host, action: &str) -> Result<String> {
        self.note_command(format!(
            "echo '{action}' >&{}   # to {}'s stdin",
            host.name, host.name
        ));
        let line = host.act(action)?;
        println!("    {}", self.style.dim(&line));
        Ok(line)
    }

    /// Runs the solab binary with `args` (as `who`) and parses its JSON output into `T`
    /// (the analyzer's own report type, or `serde_json::Value` where it has none). Exit
    /// code 1 (a claim did not hold) still returns the JSON.
    pub fn solab_json<T: DeserializeOwned>(&mut self, who: As, args: &[String]) -> Result<T> {
        let program = self.bin_for(who)?.join("solab");
        self.note_command(self.command_line(who, &program, args));
        let mut cmd = command_as(who, &program);
        let out = cmd
            .args(args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run {}", program.display()))?;
        if !matches!(out.status.code(), Some(0) | Some(1)) {
            bail!(
                "solab {} failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        serde_json::from_slice(&out.stdout).with_context(|| {
            format!(
                "solab {} printed no JSON the lab can read: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// `solab inspect --json --object PATTERN PIDS...`
    pub fn inspect(&mut self, who: As, object: &str, hosts: &[&Host]) -> Result<InspectReport> {
        let mut args: Vec<String> = vec![
            "inspect".into(),
            "--json".into(),
            "--object".into(),
            object.into(),
        ];
        args.extend(hosts.iter().map(|h| h.pid.to_string()));
        if let Some(svg) = self.next_picture(who) {
            args.extend(["--svg".into(), svg]);
        }
        self.solab_json(who, &args)
    }

    /// `solab family --json PID`: `host` and its descendants.
    pub fn family(&mut self, who: As, host: &Host) -> Result<FamilyReport> {
        let mut args: Vec<String> = vec!["family".into(), "--json".into(), host.pid.to_string()];
        if let Some(svg) = self.next_picture(who) {
            args.extend(["--svg".into(), svg]);
        }
        self.solab_json(who, &args)
    }

    /// From now on every [`Lab::inspect`] and [`Lab::family`] also draws the page map (`solab inspect --svg`)
    /// into `OUT/eN-SLUG.svg`, `OUT/eN-SLUG-2.svg`, ... from the same scan.
    pub fn start_pictures(&mut self, id: u32, title: &str) {
        const SMALL: [&str; 6] = ["the", "a", "is", "of", "and", "when"];
        let words: Vec<String> = title
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty() && !SMALL.contains(&w.to_ascii_lowercase().as_str()))
            .take(2)
            .map(|w| w.to_ascii_lowercase())
            .collect();
        self.picture_stem = Some(format!("e{id}-{}", words.join("-")));
        self.pictures.clear();
    }

    /// The path of the next picture, recorded in [`Lab::pictures`]. Only for solab runs as
    /// this user: uid 65534 may not write into the lab's directory.
    fn next_picture(&mut self, who: As) -> Option<String> {
        let stem = self.picture_stem.as_ref().filter(|_| who == As::Me)?;
        let name = match self.pictures.len() {
            0 => format!("{stem}.svg"),
            n => format!("{stem}-{}.svg", n + 1),
        };
        let path = self.rel(&self.out.join(name));
        self.pictures.push(path.clone());
        Some(path)
    }
}

/// The setpriv(1) arguments that make a program run as uid/gid 65534 with no groups.
const AS_NOBODY: [&str; 6] = [
    "--reuid",
    "65534",
    "--regid",
    "65534",
    "--clear-groups",
    "--",
];

/// A command that runs `program` as `who`.
fn command_as(who: As, program: &Path) -> Command {
    match who {
        As::Me => Command::new(program),
        As::Nobody => {
            let mut c = Command::new("setpriv");
            c.args(AS_NOBODY).arg(program);
            c
        }
    }
}

/// Whether frame numbers are visible: /proc/kpagecount is readable only with
/// CAP_SYS_ADMIN (Documentation/admin-guide/mm/pagemap.rst).
fn can_read_frames() -> bool {
    use std::io::Read;
    std::fs::File::open("/proc/kpagecount")
        .and_then(|mut f| f.read_exact(&mut [0u8; 8]))
        .is_ok()
}

/// A running lab-host, killed and reaped on Drop.
pub struct Host {
    pub name: String,
    pub pid: i32,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl Host {
    fn spawn(name: &str, mut cmd: Command) -> Result<Host> {
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

    fn expect(&mut self, pat: &str) -> Result<String> {
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
