//! lab-host: loads libsolib.so at run time, the Linux way (dlopen/dlsym, the counterparts of
//! LoadLibrary/GetProcAddress), and runs the actions named on its command line in order,
//! printing one line per action, so that the lab, the tests and `solab` can watch it.

use anyhow::{Context, Result, anyhow, bail};
use clap::Parser;
use solab_lab::host_cli::Cli;
use std::ffi::{CStr, c_char, c_void};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

type AddFn = unsafe extern "C" fn(i64, i64) -> i64;
type CountFn = unsafe extern "C" fn() -> u64;
type AddrFn = unsafe extern "C" fn() -> *const c_void;
type ClipSetFn = unsafe extern "C" fn(*const u8, usize) -> i32;
type ClipGetFn = unsafe extern "C" fn(*mut u8, usize) -> usize;
type StatusFn = unsafe extern "C" fn(*mut c_char, usize) -> i32;

/// The library's C ABI, resolved with dlsym.
struct Solib {
    lib: Option<libloading::Library>,
    path: PathBuf,
    add: AddFn,
    private_calls: CountFn,
    bss_calls: CountFn,
    shared_calls: CountFn,
    shared_addr: AddrFn,
    private_addr: AddrFn,
    bss_addr: AddrFn,
    clip_set: ClipSetFn,
    clip_get: ClipGetFn,
    clip_capacity: unsafe extern "C" fn() -> usize,
    status: StatusFn,
}

impl Solib {
    fn load(path: &Path) -> Result<Solib> {
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

    fn loaded(&self) -> Result<&Self> {
        match self.lib {
            Some(_) => Ok(self),
            None => bail!("{} was unloaded", self.path.display()),
        }
    }

    fn counters(&self) -> String {
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

    fn clip_get(&self) -> Vec<u8> {
        // SAFETY: the buffer has the clipboard's capacity.
        unsafe {
            let mut buf = vec![0u8; (self.clip_capacity)()];
            let n = (self.clip_get)(buf.as_mut_ptr(), buf.len());
            buf.truncate(n.min(buf.len()));
            buf
        }
    }

    /// solib_clipboard_set's return value, and errno when it is -1.
    fn clip_set(&self, msg: &[u8]) -> (i32, Option<std::io::Error>) {
        // SAFETY: msg is a valid slice.
        let rc = unsafe { (self.clip_set)(msg.as_ptr(), msg.len()) };
        // Read at once: nothing else has run since the call to change errno.
        (rc, (rc != 0).then(std::io::Error::last_os_error))
    }
}

/// One loaded object: its name, load base and the page ranges of its PT_LOAD segments.
struct Loaded {
    name: String,
    base: usize,
    ranges: Vec<(usize, usize)>,
}

/// Every object loaded in this process (dl_iterate_phdr(3)).
fn loaded_objects() -> Vec<Loaded> {
    unsafe extern "C" fn visit(
        info: *mut libc::dl_phdr_info,
        _size: usize,
        data: *mut c_void,
    ) -> libc::c_int {
        // SAFETY: called by dl_iterate_phdr with a valid info and our Vec.
        let (info, all) = unsafe { (&*info, &mut *(data as *mut Vec<Loaded>)) };
        // SAFETY: dlpi_phdr points at dlpi_phnum program headers.
        let phdrs = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) };
        let base = info.dlpi_addr as usize;
        let ranges = phdrs
            .iter()
            .filter(|p| p.p_type == libc::PT_LOAD)
            .map(|p| {
                let start = (base + p.p_vaddr as usize) & !4095;
                let end = (base + (p.p_vaddr + p.p_memsz) as usize + 4095) & !4095;
                (start, end)
            })
            .collect();
        let name = if info.dlpi_name.is_null() {
            String::new()
        } else {
            // SAFETY: a NUL-terminated name owned by the loader.
            unsafe { CStr::from_ptr(info.dlpi_name) }
                .to_string_lossy()
                .into_owned()
        };
        all.push(Loaded { name, base, ranges });
        0
    }
    let mut all: Vec<Loaded> = Vec::new();
    // SAFETY: visit only reads the headers and pushes to our Vec.
    unsafe { libc::dl_iterate_phdr(Some(visit), &mut all as *mut Vec<Loaded> as *mut c_void) };
    all
}

/// The loaded object containing `addr`.
fn object_at(addr: usize) -> Option<Loaded> {
    loaded_objects()
        .into_iter()
        .find(|o| o.ranges.iter().any(|&(s, e)| (s..e).contains(&addr)))
}

/// Reads one byte of every page, so that every page has a frame.
fn touch(ranges: &[(usize, usize)]) -> usize {
    let mut pages = 0;
    for &(start, end) in ranges {
        for page in (start..end).step_by(4096) {
            // SAFETY: every page of a PT_LOAD segment is mapped readable.
            unsafe { std::ptr::read_volatile(page as *const u8) };
            pages += 1;
        }
    }
    pages
}

/// A message that proves its own integrity: length and checksum in an 8-byte header.
fn checked_message(seed: u64, cap: usize) -> Vec<u8> {
    let mut x = seed | 1;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let len = 8 + (next() as usize % (cap - 8 + 1));
    let mut msg = vec![0u8; len];
    for b in &mut msg[8..] {
        *b = next() as u8;
    }
    let sum = checksum(&msg[8..]);
    msg[..4].copy_from_slice(&(len as u32).to_le_bytes());
    msg[4..8].copy_from_slice(&sum.to_le_bytes());
    msg
}

fn checksum(bytes: &[u8]) -> u32 {
    // FNV-1a
    bytes.iter().fold(0x811c9dc5u32, |h, &b| {
        (h ^ b as u32).wrapping_mul(0x01000193)
    })
}

/// Empty (nothing written yet) or a message whose header matches its body.
fn message_is_whole(msg: &[u8]) -> bool {
    if msg.is_empty() {
        return true;
    }
    if msg.len() < 8 {
        return false;
    }
    let len = u32::from_le_bytes([msg[0], msg[1], msg[2], msg[3]]) as usize;
    let sum = u32::from_le_bytes([msg[4], msg[5], msg[6], msg[7]]);
    len == msg.len() && sum == checksum(&msg[8..])
}

fn escape(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).escape_debug().to_string()
}

struct Host {
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

/// A child made by `fork`: it runs the actions its parent sends down one pipe and answers
/// each with one line up the other. It dies with its parent (PR_SET_PDEATHSIG).
struct Forked {
    pid: i32,
    to: Option<std::fs::File>,
    from: std::io::BufReader<std::fs::File>,
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

enum Flow {
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
    fn run(&mut self, text: &str) -> Result<Flow> {
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

impl Host {
    fn forked_pid(&self) -> i32 {
        self.forked.as_ref().map_or(0, |f| f.pid)
    }

    /// Forks a child that keeps everything this process has (the library at the same
    /// address, its written pages on the same frames until one side writes) and serves
    /// `child:ACTION` from here on. Returns its pid.
    fn fork_child(&mut self) -> Result<i32> {
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
    fn fork_child_as(&mut self, uid: libc::uid_t, action: &str) -> Result<(i32, i32)> {
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

/// Whether the loader still has `path` loaded in this process: dlopen(3) with RTLD_NOLOAD
/// returns a handle only for an object that is loaded (and counts one more reference, given
/// back at once). After dlclose, "no" means the loader's reference count reached zero and
/// the object was unloaded.
fn still_loaded(path: &Path) -> Result<bool> {
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

fn run() -> Result<()> {
    let cli = Cli::parse();
    let path = cli.lib.unwrap_or_else(default_lib);
    let solib = Solib::load(&path)?;
    let mut host = Host {
        pid: std::process::id(),
        solib,
        extra: Vec::new(),
        out: std::io::stdout(),
        reply: None,
        forked: None,
    };
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
