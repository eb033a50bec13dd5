//! The lab's bench: starting lab-hosts, running solab, printing what was done, cleaning up.

mod cleanup;
mod host;
mod style;

use cleanup::{NAMESPACE, stage_for_others};
pub use cleanup::{cleanup_and_exit, cleanup_everything, regions};
pub use host::{Host, field, field_u64};
pub use style::Style;

use anyhow::{Context, Result, bail};
use serde::de::DeserializeOwned;
use solab::commands::family::FamilyReport;
use solab::inspect_report::InspectReport;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

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
    /// `solab family --record SECS PID --json` of the family of `pid` (a host's), with
    /// `during` run once solab says the recording has started (the workload runs recorded).
    pub fn family_record(
        &mut self,
        who: As,
        pid: i32,
        secs: u64,
        during: impl FnOnce(&mut Self) -> Result<()>,
    ) -> Result<solab::commands::record::RecordReport> {
        use std::io::{BufRead, Read};
        let program = self.bin_for(who)?.join("solab");
        let args: Vec<String> = vec![
            "family".into(),
            "--record".into(),
            secs.to_string(),
            pid.to_string(),
            "--json".into(),
        ];
        self.note_command(self.command_line(who, &program, &args));
        let mut run = command_as(who, &program)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run {}", program.display()))?;
        let mut err = std::io::BufReader::new(run.stderr.take().context("stderr")?);
        let mut line = String::new();
        err.read_line(&mut line)?;
        let started = line.contains("recording the page faults");
        let acted = if started { during(self) } else { Ok(()) };
        let out = run.wait_with_output()?;
        let mut rest = String::new();
        let _ = err.read_to_string(&mut rest);
        acted?;
        if !started || !out.status.success() {
            bail!(
                "solab {} failed ({}): {}{}",
                args.join(" "),
                out.status,
                line.trim(),
                rest.trim()
            );
        }
        serde_json::from_slice(&out.stdout)
            .with_context(|| format!("solab {} printed no JSON the lab can read", args.join(" ")))
    }

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
