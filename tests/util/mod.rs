//! The one place tests start processes and create shared objects.
//!
//! Every process is started through [`Proc::spawn`], which waits until the process prints a
//! readiness line and kills it (SIGKILL, then reaps it) when the handle is dropped, also when
//! a test fails. Every `/dev/shm` object a test may create carries the test's own
//! [`Namespace`], which removes those objects on Drop.

#![allow(dead_code)]

pub mod ksm;
pub mod walk;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// How long a process may take to print its readiness line.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Built artifacts the tests run. `make test` builds them first; `cargo test` alone builds
/// the Rust binaries but not the cdylib or the C client, so a missing file is reported with
/// the command that makes it.
pub struct Artifacts {
    pub bin_dir: PathBuf,
    /// The lab's C libraries (libtextrel-*.so): `make build` puts them in lab/ beside the
    /// profile's directory, in the target directory (CARGO_TARGET_DIR or target/).
    pub fixtures: PathBuf,
    pub lab_host: PathBuf,
    /// The lab, solab-lab.
    pub lab: PathBuf,
    pub solab: PathBuf,
    pub libsolib: PathBuf,
    pub c_client: PathBuf,
    pub python_client: PathBuf,
    pub repo: PathBuf,
}

pub fn artifacts() -> &'static Artifacts {
    static A: OnceLock<Artifacts> = OnceLock::new();
    A.get_or_init(|| {
        // tests/checkout.rs runs some tests again against a clone of the repository with
        // copies of this build in its target/release: CHECKOUT_ENV names that clone.
        let (repo, bin_dir) = match std::env::var_os(CHECKOUT_ENV) {
            Some(clone) => {
                let clone = PathBuf::from(clone);
                (clone.clone(), clone.join("target/release"))
            }
            None => {
                let solab = PathBuf::from(env!("CARGO_BIN_EXE_solab"));
                let bin_dir = solab.parent().expect("bin dir").to_path_buf();
                (PathBuf::from(env!("CARGO_MANIFEST_DIR")), bin_dir)
            }
        };
        let solab = bin_dir.join("solab");
        // The lab crate's binary: another workspace package, built by `make build`.
        let lab_host = bin_dir.join("solab-lab-host");
        let a = Artifacts {
            fixtures: bin_dir.parent().expect("target dir").join("lab"),
            libsolib: bin_dir.join("libsolib.so"),
            c_client: bin_dir.join("solib-client"),
            lab: bin_dir.join("solab-lab"),
            python_client: repo.join("clients/python/solib_client.py"),
            bin_dir,
            lab_host,
            solab,
            repo,
        };
        require(&a.libsolib);
        require(&a.lab_host);
        require_fresh(&a.libsolib, &a.repo.join("solib"));
        a
    })
}

/// The variable that points [`artifacts`] at another checkout (see tests/checkout.rs).
pub const CHECKOUT_ENV: &str = "SOLAB_TEST_CHECKOUT";

/// Panics with the command that builds `p` when it is missing.
pub fn require(p: &Path) {
    assert!(
        p.exists(),
        "{} is missing: run `make build` (or `make test`, which builds it) first",
        p.display()
    );
}

/// Panics when `built` is older than a source file under `src_dir`: `cargo test` does not
/// rebuild the cdylib, and a stale libsolib.so makes tests fail for the wrong reason.
pub fn require_fresh(built: &Path, src_dir: &Path) {
    fn newest(dir: &Path) -> std::time::SystemTime {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| {
                let p = e.path();
                if p.is_dir() {
                    newest(&p)
                } else {
                    e.metadata()
                        .and_then(|m| m.modified())
                        .unwrap_or(std::time::UNIX_EPOCH)
                }
            })
            .max()
            .unwrap_or(std::time::UNIX_EPOCH)
    }
    let built_at = std::fs::metadata(built)
        .and_then(|m| m.modified())
        .unwrap_or(std::time::UNIX_EPOCH);
    assert!(
        built_at >= newest(src_dir),
        "{} is older than the sources in {}: run `make build` (or `make test`)",
        built.display(),
        src_dir.display()
    );
}

/// A unique suffix for the shared region's name, so tests running in parallel never share a
/// region by accident. Passed to libsolib.so as `SOLIB_NAMESPACE`; Drop removes every
/// `/dev/shm` object whose name ends with it, and the namespace's runtime directory.
///
/// Processes started through [`Namespace::env`] get `XDG_RUNTIME_DIR` only when the test
/// asked for a runtime directory ([`Namespace::with_runtime_dir`]); otherwise it is removed
/// from their environment, so their region is in /dev/shm whatever the environment the
/// tests run in.
pub struct Namespace {
    pub name: String,
    /// What processes of this namespace are told their runtime directory is; a test may
    /// point it elsewhere inside [`Namespace::scratch`] to try bad ones.
    pub runtime_dir: Option<PathBuf>,
    /// A directory of this namespace's own that holds the runtime directory, removed on Drop.
    scratch: Option<PathBuf>,
}

impl Namespace {
    pub fn new(test: &str) -> Namespace {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let short: String = test
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(12)
            .collect();
        Namespace {
            name: format!("t{}x{}{}", std::process::id(), n, short),
            runtime_dir: None,
            scratch: None,
        }
    }

    /// A namespace whose processes get a runtime directory of their own: `run/`, mode 0700,
    /// owned by this user, inside a fresh scratch directory under the temp dir.
    pub fn with_runtime_dir(test: &str) -> Namespace {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        let mut ns = Namespace::new(test);
        let scratch = std::env::temp_dir().join(format!("solab-{}", ns.name));
        std::fs::create_dir(&scratch)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", scratch.display()));
        ns.scratch = Some(scratch.clone());
        let run = scratch.join("run");
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&run)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", run.display()));
        // The umask may have removed bits; the library wants exactly 0700.
        std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).unwrap();
        ns.runtime_dir = Some(run);
        ns
    }

    /// The scratch directory of a namespace made by [`Namespace::with_runtime_dir`].
    pub fn scratch(&self) -> &Path {
        self.scratch
            .as_deref()
            .expect("a namespace made with Namespace::with_runtime_dir")
    }

    /// Sets `SOLIB_NAMESPACE`, and `XDG_RUNTIME_DIR` or its absence, on `cmd`.
    pub fn env<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        cmd.env("SOLIB_NAMESPACE", &self.name);
        match &self.runtime_dir {
            Some(d) => cmd.env("XDG_RUNTIME_DIR", d),
            None => cmd.env_remove("XDG_RUNTIME_DIR"),
        }
    }

    /// The objects that belong to this namespace right now: in /dev/shm, in its runtime
    /// directory, and in the runtime directory the tests inherited (a process started
    /// without [`Namespace::env`] uses that one).
    pub fn objects(&self) -> Vec<PathBuf> {
        let suffix = format!("-{}", self.name);
        let mut dirs = vec![PathBuf::from("/dev/shm")];
        dirs.extend(self.runtime_dir.clone());
        dirs.extend(std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from));
        let mut v: Vec<PathBuf> = dirs
            .iter()
            .flat_map(|dir| std::fs::read_dir(dir).into_iter().flatten().flatten())
            .filter(|e| e.file_name().to_string_lossy().ends_with(&suffix))
            .map(|e| e.path())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// The path the library will use for `uid` in this namespace in /dev/shm.
    pub fn region_path(&self, uid: u32) -> PathBuf {
        PathBuf::from("/dev/shm").join(self.region_name(uid))
    }

    /// The region's name, in whichever directory.
    pub fn region_name(&self, uid: u32) -> String {
        format!("solib-u{uid}-v{}-{}", LAYOUT_VERSION, self.name)
    }
}

/// Must match `solib::LAYOUT_VERSION`; a test checks the name the library reports.
pub const LAYOUT_VERSION: u32 = 1;

impl Drop for Namespace {
    fn drop(&mut self) {
        for p in self.objects() {
            let _ = std::fs::remove_file(p);
        }
        if let Some(s) = &self.scratch {
            let _ = std::fs::remove_dir_all(s);
        }
    }
}

/// A running child process that is killed and reaped on Drop.
pub struct Proc {
    pub name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    /// Every stdout line seen so far, for failure messages.
    pub seen: Vec<String>,
}

impl Proc {
    /// Starts `cmd` with piped stdin/stdout and waits until it prints a line containing
    /// `ready` (an empty pattern waits for nothing).
    pub fn spawn(name: &str, mut cmd: Command, ready: &str) -> Proc {
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(l) => {
                        if tx.send(l).is_err() {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
        });
        let mut p = Proc {
            name: name.to_string(),
            stdin: child.stdin.take(),
            child,
            lines: rx,
            seen: Vec::new(),
        };
        if !ready.is_empty() {
            p.expect(ready);
        }
        p
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Waits for the next stdout line containing `pat` and returns it.
    pub fn expect(&mut self, pat: &str) -> String {
        self.expect_within(pat, READY_TIMEOUT)
    }

    pub fn expect_within(&mut self, pat: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(pat) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!(
                    "{} (pid {}) printed no line containing {pat:?} within {timeout:?}; it printed:\n{}",
                    self.name,
                    self.pid(),
                    self.seen.join("\n")
                ),
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().ok();
                    panic!(
                        "{} (pid {}) closed stdout (exit {status:?}) before printing {pat:?}; it printed:\n{}",
                        self.name,
                        self.pid(),
                        self.seen.join("\n")
                    )
                }
            }
        }
    }

    /// Sends one line to the process's stdin.
    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        writeln!(stdin, "{line}")
            .and_then(|_| stdin.flush())
            .unwrap_or_else(|e| panic!("cannot write to {} (pid {}): {e}", self.name, self.pid()));
    }

    /// Sends a lab-host action and returns the line it printed for it.
    pub fn act(&mut self, action: &str) -> String {
        self.send(action);
        let verb = action.split(':').next().unwrap_or(action);
        self.expect(&format!("action={verb}"))
    }

    /// Closes stdin and waits for the process to exit by itself.
    pub fn finish(mut self) -> (ExitStatus, Vec<String>) {
        drop(self.stdin.take());
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(200)) {
                    self.seen.push(l);
                }
                return (status, std::mem::take(&mut self.seen));
            }
            assert!(
                Instant::now() < deadline,
                "{} (pid {}) did not exit",
                self.name,
                self.pid()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGKILL now, and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A lab-host command with the library and namespace set.
pub fn lab_host(ns: &Namespace, actions: &[&str]) -> Command {
    let a = artifacts();
    let mut c = Command::new(&a.lab_host);
    c.arg("--lib").arg(&a.libsolib).args(actions);
    ns.env(&mut c);
    c
}

/// `inner` run through a wrapper such as `prlimit --nofile=4 --`, with the same arguments and
/// environment.
pub fn wrapped(wrapper: &str, args: &[&str], inner: &Command) -> Command {
    let mut c = Command::new(wrapper);
    c.args(args).arg(inner.get_program()).args(inner.get_args());
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c
}

/// Starts a lab-host that runs `actions`, then serves actions from stdin.
pub fn spawn_host(name: &str, ns: &Namespace, actions: &[&str]) -> Proc {
    let mut all: Vec<&str> = actions.to_vec();
    all.push("serve");
    Proc::spawn(name, lab_host(ns, &all), "action=serve")
}

/// `key=value` from a lab-host line.
pub fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

/// A count in a JSON document (bytes, pages, processes).
pub fn u(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

pub fn field_u64(line: &str, key: &str) -> u64 {
    let v = field(line, key).unwrap_or_else(|| panic!("no {key}= in {line:?}"));
    let parsed = match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => v.parse(),
    };
    parsed.unwrap_or_else(|e| panic!("{key}={v} in {line:?}: {e}"))
}

/// A command that runs `program` as uid/gid 65534 with no groups, from copies of the build
/// that uid 65534 can reach.
///
/// The checkout may lie below a directory uid 65534 cannot search (a clone in root's 0700
/// home): there it could neither exec the programs nor load the library, and solab run as
/// uid 65534 could not open the file its hosts map. So the command stages what it runs by
/// construction: it is `sh`, which rewrites every argument that names a file of the build
/// (the program, and whatever the test adds to the command later, such as `--lib` with
/// libsolib.so or `--fixtures`) to the same file in [`stage`], then execs setpriv, which
/// keeps the pid. A test passes [`artifacts`]' paths and cannot forget to stage one. Other
/// paths (/bin/cat, a [`Compiled`] program, a [`Scratch`] directory) are left as they are.
pub fn as_nobody(program: &Path) -> Command {
    // $1..$4: the build's directory of programs and its copy, the fixtures and their copy;
    // then the program and its arguments. Each argument is rotated through "$@" once.
    const STAGE_AND_SWITCH: &str = r#"bin=$1 bin_copy=$2 fixtures=$3 fixtures_copy=$4
shift 4
n=$#
while [ "$n" -gt 0 ]; do
    arg=$1
    shift
    n=$((n - 1))
    case $arg in
        "$bin" | "$bin"/*) arg=$bin_copy${arg#"$bin"} ;;
        "$fixtures" | "$fixtures"/*) arg=$fixtures_copy${arg#"$fixtures"} ;;
    esac
    set -- "$@" "$arg"
done
exec setpriv --reuid 65534 --regid 65534 --clear-groups -- "$@""#;
    let (a, s) = (artifacts(), stage());
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(STAGE_AND_SWITCH)
        .arg("as_nobody")
        .args([&a.bin_dir, &s.bin_dir, &a.fixtures, &s.fixtures])
        .arg(program);
    c
}

/// The copies [`as_nobody`] runs: the files directly in the build's directory of programs
/// (programs, libsolib.so and the soname link beside it that programs linked with -lsolib
/// load) and the lab's fixtures, in a mode 0755 directory under /tmp made once per run of
/// the tests. /tmp, not $TMPDIR, which may be private to root (pam_tmpdir); copies, not
/// symbolic links, which would lead back into the checkout. Removed when the test binary
/// exits; one left by a run that was killed is removed by the next.
pub struct Stage {
    pub dir: PathBuf,
    /// The copy of [`Artifacts::bin_dir`].
    pub bin_dir: PathBuf,
    /// The copy of [`Artifacts::fixtures`].
    pub fixtures: PathBuf,
}

pub fn stage() -> &'static Stage {
    static STAGE: OnceLock<Stage> = OnceLock::new();
    extern "C" fn remove_stage() {
        if let Some(s) = STAGE.get() {
            let _ = std::fs::remove_dir_all(&s.dir);
        }
    }
    STAGE.get_or_init(|| {
        let a = artifacts();
        remove_stale_stages();
        let dir = nix::unistd::mkdtemp(
            format!("/tmp/{STAGE_PREFIX}{}-XXXXXX", std::process::id()).as_str(),
        )
        .expect("mkdtemp in /tmp");
        let s = Stage {
            bin_dir: dir.join("bin"),
            fixtures: dir.join("lab"),
            dir,
        };
        // SAFETY: registers a function without arguments that only removes a directory;
        // exit(3) calls it once the tests are done.
        unsafe { libc::atexit(remove_stage) };
        set_mode(&s.dir, 0o755);
        copy_dir_files(&a.bin_dir, &s.bin_dir, |n| {
            !n.ends_with(".d") && !n.ends_with(".rlib")
        });
        copy_dir_files(&a.fixtures, &s.fixtures, |n| n.ends_with(".so"));
        s
    })
}

impl Stage {
    /// The file uid 65534 runs or reads when a command of [`as_nobody`] names `p`: its copy
    /// here if `p` is a file of the build, else `p` (the rewriting `as_nobody` does).
    pub fn copy_of(&self, p: &Path) -> PathBuf {
        let a = artifacts();
        for (built, copy) in [(&a.bin_dir, &self.bin_dir), (&a.fixtures, &self.fixtures)] {
            if let Ok(rest) = p.strip_prefix(built) {
                return copy.join(rest);
            }
        }
        p.to_path_buf()
    }
}

/// The name of a [`Stage`] directory before the pid of the test binary that made it.
const STAGE_PREFIX: &str = "solab-nobody-";

/// Removes the stages of test binaries that are gone (killed before they could).
fn remove_stale_stages() {
    for e in std::fs::read_dir("/tmp").into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let pid = name
            .strip_prefix(STAGE_PREFIX)
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| !Path::new(&format!("/proc/{p}")).exists()) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Copies the files and symbolic links directly in `from` whose names `keep` accepts into
/// the new directory `to` (mode 0755); a link is made again with its own target
/// (libsolib.so.0 -> libsolib.so).
fn copy_dir_files(from: &Path, to: &Path, keep: impl Fn(&str) -> bool) {
    std::fs::create_dir(to).unwrap_or_else(|e| panic!("create {}: {e}", to.display()));
    set_mode(to, 0o755);
    let entries =
        std::fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display()));
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(kind) = e.file_type() else { continue };
        if name.starts_with('.') || !keep(&name) {
            continue;
        }
        if kind.is_symlink() {
            let target = std::fs::read_link(e.path()).expect("read link");
            std::os::unix::fs::symlink(&target, to.join(&name))
                .unwrap_or_else(|err| panic!("link {name} in {}: {err}", to.display()));
        } else if kind.is_file() {
            copy(&e.path(), &to.join(&name));
        }
    }
}

/// A mode 0755 directory under /tmp, removed on Drop (also when the test fails): for files
/// a test gives uid 65534, or lets it write ([`Scratch::writable_by_nobody`]).
pub struct Scratch {
    pub dir: PathBuf,
}

impl Scratch {
    pub fn new() -> Scratch {
        let dir = nix::unistd::mkdtemp("/tmp/solab-scratch-XXXXXX").expect("mkdtemp in /tmp");
        let scratch = Scratch { dir };
        set_mode(&scratch.dir, 0o755);
        scratch
    }

    /// A new directory inside this one that uid 65534 may write (the lab's --out).
    pub fn writable_by_nobody(&self, name: &str) -> PathBuf {
        let p = self.dir.join(name);
        std::fs::create_dir(&p).expect("create dir");
        std::os::unix::fs::chown(&p, Some(65534), Some(65534)).expect("chown to 65534");
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Copies of solab, solab-lab-host and libsolib.so that this test alone maps: files of
/// their own, so the frames of their pages are its processes' alone (other tests start and
/// stop processes of the build meanwhile). In a [`Scratch`], so uid 65534 can run them too.
pub struct OwnCopies {
    pub lab_host: PathBuf,
    pub libsolib: PathBuf,
    pub solab: PathBuf,
    pub scratch: Scratch,
}

impl OwnCopies {
    pub fn new() -> OwnCopies {
        let a = artifacts();
        let scratch = Scratch::new();
        let own = OwnCopies {
            lab_host: scratch.dir.join("solab-lab-host"),
            libsolib: scratch.dir.join("libsolib.so"),
            solab: scratch.dir.join("solab"),
            scratch,
        };
        for p in [&own.lab_host, &own.libsolib, &own.solab] {
            copy(&a.bin_dir.join(p.file_name().expect("file name")), p);
        }
        own
    }
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {mode:o} {}: {e}", p.display()));
}

/// Copies with `cp`, in a process of its own: a copy written by this (multithreaded) test
/// process holds the new file open for writing, and a child another test forks meanwhile
/// inherits that descriptor until it execs; an exec of the copy then fails with "Text file
/// busy" (ETXTBSY), as seen in `make test`.
fn copy(from: &Path, to: &Path) {
    require(from);
    let status = Command::new("cp")
        .arg("--")
        .arg(from)
        .arg(to)
        .status()
        .unwrap_or_else(|e| panic!("cp {} {}: {e}", from.display(), to.display()));
    assert!(
        status.success(),
        "cp {} {}: {status}",
        from.display(),
        to.display()
    );
}

/// Says on stderr, past the test harness's capture of a passing test's output, that the
/// running test (or the part of it the reason names) cannot run here and why:
/// `skipped: MODULE::TEST: REASON`. A test that cannot run returns with it
/// (`return skip("...")`), so a run names every test that passed without checking
/// everything it checks elsewhere.
pub fn skip(reason: &str) {
    let thread = std::thread::current();
    // The harness runs each test on a thread named after it.
    let test = thread.name().unwrap_or("a test");
    let _ = writeln!(std::io::stderr().lock(), "skipped: {test}: {reason}");
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// What a finished command printed.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Its stdout as JSON, or a failure that shows everything it printed.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "no JSON on stdout ({e}); exit {}\nstdout:\n{}\nstderr:\n{}",
                self.code, self.stdout, self.stderr
            )
        })
    }
}

pub fn finish(out: std::process::Output) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A C program or library built by `cc` for a test, in its own temporary directory (mode
/// 0755, so uid 65534 can run it too), removed on Drop.
pub struct Compiled {
    pub dir: PathBuf,
    /// The built file.
    pub path: PathBuf,
}

impl Compiled {
    /// Compiles the C file `src` into `name` with `args` (before the source) and
    /// `libs` (after the output, e.g. `-ldl`).
    pub fn from_file(src: &Path, name: &str, args: &[&str], libs: &[&str]) -> Compiled {
        use std::os::unix::fs::PermissionsExt;
        let dir = nix::unistd::mkdtemp("/tmp/solab-cc-XXXXXX").expect("mkdtemp");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let path = dir.join(name);
        let out = Command::new("cc")
            .args(args)
            .arg(src)
            .arg("-o")
            .arg(&path)
            .args(libs)
            .output()
            .expect("run cc");
        let built = Compiled { dir, path };
        assert!(
            out.status.success(),
            "cc failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        built
    }

    /// Compiles C source text into the program `name`.
    pub fn from_source(name: &str, source: &str, args: &[&str], libs: &[&str]) -> Compiled {
        let tmp = nix::unistd::mkdtemp("/tmp/solab-src-XXXXXX").expect("mkdtemp");
        let src = tmp.join(format!("{name}.c"));
        std::fs::write(&src, source).expect("write the C source");
        let built = Compiled::from_file(&src, name, args, libs);
        let _ = std::fs::remove_dir_all(&tmp);
        built
    }
}

impl Drop for Compiled {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Pids killed with SIGKILL on Drop (children that should die with their parent, made
/// sure of).
pub struct KillOnDrop(pub Vec<i32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for &p in &self.0 {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// Processes stopped with SIGSTOP, so two scans of them read the same pages; resumed with
/// SIGCONT on Drop (their owners still kill them).
pub struct Frozen(pub Vec<i32>);

impl Frozen {
    pub fn new(pids: Vec<i32>) -> Frozen {
        use nix::sys::signal::{Signal, kill};
        let frozen = Frozen(pids);
        for &p in &frozen.0 {
            kill(nix::unistd::Pid::from_raw(p), Signal::SIGSTOP).expect("SIGSTOP");
        }
        // Stopped means the state in /proc/PID/stat says so (SIGSTOP is asynchronous).
        for &p in &frozen.0 {
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            loop {
                let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
                let state = stat.rsplit_once(") ").and_then(|(_, r)| r.chars().next());
                if state == Some('T') {
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "pid {p} did not stop: {stat}"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        frozen
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        for &p in &self.0 {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p),
                nix::sys::signal::Signal::SIGCONT,
            );
        }
    }
}

/// Cgroup v2 directories made by a test (`NAME-PID-SUFFIX` at the root of the cgroup2
/// mount, /sys/fs/cgroup or /sys/fs/cgroup/unified on a hybrid machine), removed on Drop
/// once the processes in them have exited (declare it before the processes, so that they
/// are dropped first).
pub struct Cgroups {
    /// The cgroup2 mount point.
    pub root: PathBuf,
    pub dirs: Vec<PathBuf>,
}

impl Cgroups {
    /// Where cgroup2 is mounted, from /proc/self/mountinfo; `None` without cgroup v2.
    pub fn mount_point() -> Option<PathBuf> {
        let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        info.lines().find_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let point = left.split_whitespace().nth(4)?;
            (right.split_whitespace().next() == Some("cgroup2")).then(|| PathBuf::from(point))
        })
    }

    /// Makes `solab-NAME-PID-SUFFIX` for each suffix; `None` (the test skips) when there
    /// is no cgroup2 mount or it cannot be written (not root).
    pub fn new(name: &str, suffixes: &[&str]) -> Option<Cgroups> {
        let root = Cgroups::mount_point()?;
        let mut made = Cgroups {
            root,
            dirs: Vec::new(),
        };
        for s in suffixes {
            let dir = made
                .root
                .join(format!("solab-{name}-{}-{s}", std::process::id()));
            std::fs::create_dir(&dir).ok()?;
            made.dirs.push(dir);
        }
        Some(made)
    }

    /// The path of cgroup `i` as /proc/PID/cgroup prints it (`/solab-...`).
    pub fn path(&self, i: usize) -> String {
        format!(
            "/{}",
            self.dirs[i]
                .strip_prefix(&self.root)
                .expect("under the root")
                .display()
        )
    }

    /// A command that runs `inner` inside cgroup `i`: a shell moves itself in by writing
    /// cgroup.procs, then execs `inner` (which keeps the pid).
    pub fn run_in(&self, i: usize, inner: &Command) -> Command {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg("echo $$ > \"$0\" && exec \"$@\"")
            .arg(self.dirs[i].join("cgroup.procs"))
            .arg(inner.get_program())
            .args(inner.get_args());
        for (k, v) in inner.get_envs() {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        c
    }
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        for d in &self.dirs {
            // A killed process leaves its cgroup when it has exited: wait a little.
            for _ in 0..100 {
                match std::fs::remove_dir(d) {
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                        std::thread::sleep(Duration::from_millis(50))
                    }
                    _ => break,
                }
            }
        }
    }
}

/// Runs the build's `solab` with `args`, as the test's user, and waits for it (stdin
/// closed, stdout and stderr captured).
pub fn solab(args: &[&str]) -> Run {
    finish(
        Command::new(&artifacts().solab)
            .args(args)
            .output()
            .expect("run solab"),
    )
}
