//! The actions (see ACTIONS in `solab-lab-host --help`), one method each, and the process
//! that runs them.

mod fork;

use crate::message::{checked_message, message_is_whole};
use crate::objects::{loaded_objects, object_at, touch};
use crate::solib::{Solib, still_loaded};
use anyhow::{Context, Result, anyhow, bail};
use fork::Forked;
use std::ffi::{CStr, c_char};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn escape(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).escape_debug().to_string()
}

/// This process: the library, what `open` loaded besides, where its lines go, and the
/// child `fork` made.
pub struct Host {
    pid: u32,
    solib: Solib,
    /// Libraries loaded with `open:PATH`, kept loaded.
    extra: Vec<libloading::Library>,
    out: std::io::Stdout,
    /// In a child made by `fork`: where its lines go (the pipe back to its parent).
    reply: Option<std::fs::File>,
    /// The last child made by `fork`, which `child:ACTION` talks to.
    forked: Option<Forked>,
}

/// Whether to go on to the next action.
pub enum Flow {
    Continue,
    Exit,
}

/// One action as named on the command line or read from stdin: `VERB` or `VERB:ARG`.
struct Action<'a> {
    text: &'a str,
    verb: &'a str,
    arg: Option<&'a str>,
}

impl<'a> Action<'a> {
    fn parse(text: &'a str) -> Action<'a> {
        let (verb, arg) = match text.split_once(':') {
            Some((v, a)) => (v, Some(a)),
            None => (text, None),
        };
        Action { text, verb, arg }
    }

    /// The argument, which this action needs; `what` names it in the error.
    fn need(&self, what: &str) -> Result<&'a str> {
        let verb = self.verb;
        self.arg
            .ok_or_else(|| anyhow!("action {verb:?} needs an argument: {verb}:{what}"))
    }

    /// The argument as a number.
    fn number(&self, what: &str) -> Result<u64> {
        let a = self.need(what)?;
        a.trim()
            .parse()
            .with_context(|| format!("action {:?}: {a:?} is not a number", self.text))
    }
}

impl Host {
    pub fn new(solib: Solib) -> Host {
        Host {
            pid: std::process::id(),
            solib,
            extra: Vec::new(),
            out: std::io::stdout(),
            reply: None,
            forked: None,
        }
    }

    fn say(&mut self, verb: &str, rest: &str) -> Result<()> {
        if let Some(reply) = &mut self.reply {
            writeln!(reply, "lab-host pid={} action={verb} {rest}", self.pid)?;
            return Ok(());
        }
        let mut out = self.out.lock();
        writeln!(out, "lab-host pid={} action={verb} {rest}", self.pid)?;
        out.flush()?;
        Ok(())
    }

    /// Runs one action (see ACTIONS in `--help`), which prints its line.
    pub fn run(&mut self, text: &str) -> Result<Flow> {
        let action = Action::parse(text);
        let a = &action;
        match action.verb {
            "status" => self.status(a)?,
            "addrs" => self.addrs(a)?,
            "touch" => self.touch(a)?,
            "touch-all" => self.touch_all(a)?,
            "open" => self.open(a)?,
            "add" => self.add(a)?,
            "adds" => self.adds(a)?,
            "clip-set" => self.clip_set(a)?,
            "clip-get" => self.clip_get(a)?,
            "clip-write" => self.clip_write(a)?,
            "counters" => self.counters(a)?,
            "clip-read" => self.clip_read(a)?,
            "fork-as" => self.fork_as(a)?,
            "fork" => self.fork(a)?,
            "child" => self.child(a)?,
            "wait" => self.wait(a)?,
            "serve" => return self.serve(a),
            "sleep" => self.sleep(a)?,
            "unload" => self.unload(a)?,
            "exit" => {
                self.say(a.verb, "")?;
                return Ok(Flow::Exit);
            }
            other => bail!("unknown action {other:?} (see lab-host --help)"),
        }
        Ok(Flow::Continue)
    }

    /// `status`: is the .shared section shared, and why (solib_status).
    fn status(&mut self, a: &Action) -> Result<()> {
        let s = self.solib.loaded()?;
        let mut buf = vec![0 as c_char; 512];
        // SAFETY: buf has 512 writable bytes.
        let shared = unsafe { (s.status)(buf.as_mut_ptr(), buf.len()) };
        // SAFETY: solib_status NUL-terminates within cap.
        let reason = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy();
        self.say(a.verb, &format!("shared={shared} reason={reason}"))
    }

    /// `addrs`: the load base, solib_add, its page and offset, and the sections' addresses.
    fn addrs(&mut self, a: &Action) -> Result<()> {
        let s = self.solib.loaded()?;
        let add = s.add as usize;
        let base = object_at(add).map_or(0, |o| o.base);
        // SAFETY: plain getters.
        let (shared, data, bss) =
            unsafe { ((s.shared_addr)(), (s.private_addr)(), (s.bss_addr)()) };
        self.say(
            a.verb,
            &format!(
                "base={base:#x} solib_add={add:#x} solib_add_page={:#x} solib_add_offset={:#x} shared={:#x} data={:#x} bss={:#x}",
                add & !4095,
                add - base,
                shared as usize,
                data as usize,
                bss as usize
            ),
        )
    }

    /// `touch`: one byte of every page of libsolib.so's segments read.
    fn touch(&mut self, a: &Action) -> Result<()> {
        let s = self.solib.loaded()?;
        let ranges = object_at(s.add as usize)
            .map(|o| o.ranges)
            .unwrap_or_default();
        let pages = touch(&ranges);
        self.say(a.verb, &format!("pages={pages}"))
    }

    /// `touch-all`: the same for every object loaded in this process.
    fn touch_all(&mut self, a: &Action) -> Result<()> {
        let objects = loaded_objects();
        let pages: usize = objects.iter().map(|o| touch(&o.ranges)).sum();
        let names: Vec<&str> = objects
            .iter()
            .map(|o| o.name.rsplit('/').next().unwrap_or(""))
            .filter(|n| !n.is_empty())
            .collect();
        self.say(
            a.verb,
            &format!(
                "objects={} pages={pages} names={}",
                objects.len(),
                names.join(",")
            ),
        )
    }

    /// `open:PATH`: another library loaded, and kept loaded.
    fn open(&mut self, a: &Action) -> Result<()> {
        let path = PathBuf::from(a.need("PATH")?);
        // SAFETY: loading runs the library's constructors; the lab's own libraries have
        // none that matter.
        let lib = unsafe { libloading::Library::new(&path) }
            .with_context(|| format!("cannot load {}", path.display()))?;
        self.extra.push(lib);
        self.say(a.verb, &format!("path={}", path.display()))
    }

    /// `add:A,B`: solib_add(A, B), which writes the three counters.
    fn add(&mut self, a: &Action) -> Result<()> {
        let s = self.solib.loaded()?;
        let (x, y) = a
            .need("A,B")?
            .split_once(',')
            .ok_or_else(|| anyhow!("action {:?}: expected add:A,B", a.text))?;
        let parse = |v: &str| {
            v.trim()
                .parse::<i64>()
                .with_context(|| format!("action {:?}: {v:?} is not a number", a.text))
        };
        // The arguments live on this process's own stack.
        let args = [parse(x)?, parse(y)?];
        let at = std::hint::black_box(&args) as *const [i64; 2] as usize;
        // SAFETY: plain C function.
        let result = unsafe { (s.add)(args[0], args[1]) };
        let counters = s.counters();
        self.say(
            a.verb,
            &format!(
                "a={} b={} result={result} {counters} args_at={at:#x}",
                args[0], args[1]
            ),
        )
    }

    /// `adds:N`: N calls of solib_add(i, 1).
    fn adds(&mut self, a: &Action) -> Result<()> {
        let s = self.solib.loaded()?;
        let n = a.number("N")?;
        for i in 0..n {
            // SAFETY: plain C function.
            unsafe { (s.add)(i as i64, 1) };
        }
        let counters = s.counters();
        self.say(a.verb, &format!("count={n} {counters}"))
    }

    /// `clip-set:TEXT`: TEXT on the shared clipboard.
    fn clip_set(&mut self, a: &Action) -> Result<()> {
        let s = self.solib.loaded()?;
        let text = a.arg.unwrap_or("");
        let (rc, err) = s.clip_set(text.as_bytes());
        let why = err.map_or(String::new(), |e| {
            format!(" errno={} ({e})", e.raw_os_error().unwrap_or(0))
        });
        self.say(a.verb, &format!("rc={rc} len={}{why}", text.len()))
    }

    /// `clip-get`: the clipboard.
    fn clip_get(&mut self, a: &Action) -> Result<()> {
        let msg = self.solib.loaded()?.clip_get();
        self.say(a.verb, &format!("len={} text={}", msg.len(), escape(&msg)))
    }

    /// `clip-write:MS`: self-checking messages written for MS milliseconds.
    fn clip_write(&mut self, a: &Action) -> Result<()> {
        let s = self.solib.loaded()?;
        let until = Instant::now() + Duration::from_millis(a.number("MS")?);
        // SAFETY: plain getter.
        let cap = unsafe { (s.clip_capacity)() };
        let seed = (self.pid as u64) << 32;
        let (mut written, mut refused) = (0u64, 0u64);
        while Instant::now() < until {
            let msg = checked_message(seed + written + refused, cap);
            // -1: the writer lock was not to be had (see solib.h); counted, so a test can
            // tell refusals from torn messages.
            match s.clip_set(&msg).0 {
                0 => written += 1,
                _ => refused += 1,
            }
        }
        self.say(a.verb, &format!("written={written} refused={refused}"))
    }

    /// `counters`: the .data, .bss and .shared counters.
    fn counters(&mut self, a: &Action) -> Result<()> {
        let counters = self.solib.loaded()?.counters();
        self.say(a.verb, &counters)
    }

    /// `clip-read:MS`: the clipboard read for MS milliseconds, every message checked.
    fn clip_read(&mut self, a: &Action) -> Result<()> {
        let s = self.solib.loaded()?;
        let until = Instant::now() + Duration::from_millis(a.number("MS")?);
        let (mut reads, mut torn, mut changes) = (0u64, 0u64, 0u64);
        let mut last = Vec::new();
        while Instant::now() < until {
            let msg = s.clip_get();
            reads += 1;
            if !message_is_whole(&msg) {
                torn += 1;
            }
            if msg != last {
                changes += 1;
                last = msg;
            }
        }
        self.say(
            a.verb,
            &format!("reads={reads} torn={torn} distinct={changes}"),
        )
    }

    /// `fork-as:UID:ACTION`: a child that becomes UID runs ACTION; its pid and exit code.
    fn fork_as(&mut self, a: &Action) -> Result<()> {
        let (uid, inner) = a
            .need("UID:ACTION")?
            .split_once(':')
            .ok_or_else(|| anyhow!("action {:?}: expected fork-as:UID:ACTION", a.text))?;
        let uid: libc::uid_t = uid
            .parse()
            .with_context(|| format!("action {:?}: {uid:?} is not a uid", a.text))?;
        let (child, code) = self.fork_child_as(uid, inner)?;
        self.say(a.verb, &format!("child={child} exit={code}"))
    }

    /// `fork`: a child that keeps this process's memory, for `child:ACTION`.
    fn fork(&mut self, a: &Action) -> Result<()> {
        let child = self.fork_child()?;
        self.say(a.verb, &format!("child={child}"))
    }

    /// `child:ACTION`: ACTION run in the child made by `fork`, and its line.
    fn child(&mut self, a: &Action) -> Result<()> {
        let inner = a.need("ACTION")?;
        let f = self
            .forked
            .as_mut()
            .ok_or_else(|| anyhow!("action {:?}: no child (run fork first)", a.text))?;
        let to =
            f.to.as_mut()
                .ok_or_else(|| anyhow!("child {} is gone", f.pid))?;
        writeln!(to, "{inner}").with_context(|| format!("cannot talk to child {}", f.pid))?;
        let mut line = String::new();
        f.from.read_line(&mut line)?;
        let said = line.trim().strip_prefix("lab-host ").unwrap_or(line.trim());
        if said.is_empty() {
            bail!("child {} exited without answering {inner:?}", f.pid);
        }
        let said = said.to_string();
        self.say(a.verb, &format!("child={} said {said}", self.forked_pid()))
    }

    /// `wait`: one line read from stdin.
    fn wait(&mut self, a: &Action) -> Result<()> {
        self.say(a.verb, "waiting for a line on stdin")?;
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        Ok(())
    }

    /// `serve`: actions read from stdin, one per line, until end of input or `exit`; an
    /// action that fails says so on its line and the next one runs.
    fn serve(&mut self, a: &Action) -> Result<Flow> {
        self.say(a.verb, "reading actions from stdin")?;
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            let line = line?;
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            match self.run(line) {
                Ok(Flow::Continue) => {}
                Ok(Flow::Exit) => return Ok(Flow::Exit),
                Err(e) => self.say("error", &format!("{e:#}"))?,
            }
        }
        Ok(Flow::Continue)
    }

    /// `sleep:MS`.
    fn sleep(&mut self, a: &Action) -> Result<()> {
        std::thread::sleep(Duration::from_millis(a.number("MS")?));
        self.say(a.verb, "")
    }

    /// `unload`: dlclose, and whether the loader still has the library.
    fn unload(&mut self, a: &Action) -> Result<()> {
        let lib = self
            .solib
            .lib
            .take()
            .ok_or_else(|| anyhow!("{} is already unloaded", self.solib.path.display()))?;
        // libloading returns dlclose's error when it does not return 0.
        lib.close().context("dlclose failed")?;
        let still = still_loaded(&self.solib.path)?;
        self.say(
            a.verb,
            &format!(
                "dlclose=0 still_loaded={} path={}",
                if still { "yes" } else { "no" },
                self.solib.path.display()
            ),
        )
    }
}
