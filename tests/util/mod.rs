//! The one place tests start processes and create shared objects.
//!
//! Every process is started through [`Proc::spawn`], which waits until the process prints a
//! readiness line and kills it (SIGKILL, then reaps it) when the handle is dropped, also when
//! a test fails. Every `/dev/shm` object a test may create carries the test's own
//! [`Namespace`], which removes those objects on Drop.

#![allow(dead_code)]

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

pub fn field_u64(line: &str, key: &str) -> u64 {
    let v = field(line, key).unwrap_or_else(|| panic!("no {key}= in {line:?}"));
    let parsed = match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => v.parse(),
    };
    parsed.unwrap_or_else(|e| panic!("{key}={v} in {line:?}: {e}"))
}

/// The command prefix that runs a program as uid/gid 65534 with no groups.
pub fn as_nobody(program: &Path) -> Command {
    let mut c = Command::new("setpriv");
    c.args([
        "--reuid",
        "65534",
        "--regid",
        "65534",
        "--clear-groups",
        "--",
    ])
    .arg(program);
    c
}

/// Copies of the built programs and the lab's fixtures that uid 65534 can reach, in a
/// mode 0755 directory under /tmp made for one test and removed on Drop (also when the test
/// fails).
///
/// The checkout may lie below a directory uid 65534 cannot search (a 0700 home): there it
/// could neither exec the programs nor dlopen the library, and solab run as uid 65534 could
/// not open the file its hosts map. /tmp, not $TMPDIR, which may be private to root
/// (pam_tmpdir); copies, not symbolic links, which would lead back into the checkout.
pub struct Staged {
    pub dir: PathBuf,
    pub lab_host: PathBuf,
    pub libsolib: PathBuf,
    pub solab: PathBuf,
    pub lab: PathBuf,
    /// libtextrel-*.so, for `solab-lab --fixtures`.
    pub fixtures: PathBuf,
}

impl Staged {
    pub fn new() -> Staged {
        let a = artifacts();
        let dir = nix::unistd::mkdtemp("/tmp/solab-stage-XXXXXX").expect("mkdtemp in /tmp");
        let staged = Staged {
            lab_host: dir.join("solab-lab-host"),
            libsolib: dir.join("libsolib.so"),
            solab: dir.join("solab"),
            lab: dir.join("solab-lab"),
            fixtures: dir.join("fixtures"),
            dir,
        };
        // From here on Drop removes whatever was made, also if a copy fails.
        set_mode(&staged.dir, 0o755);
        for p in [
            &staged.lab_host,
            &staged.libsolib,
            &staged.solab,
            &staged.lab,
        ] {
            let name = p.file_name().expect("file name");
            copy(&a.bin_dir.join(name), p);
        }
        std::fs::create_dir(&staged.fixtures).expect("fixtures dir");
        set_mode(&staged.fixtures, 0o755);
        for f in ["libtextrel-pic.so", "libtextrel-textrel.so"] {
            copy(&a.fixtures.join(f), &staged.fixtures.join(f));
        }
        staged
    }

    /// A new directory inside the staged one that uid 65534 may write (the lab's --out).
    pub fn writable_by_nobody(&self, name: &str) -> PathBuf {
        let p = self.dir.join(name);
        std::fs::create_dir(&p).expect("create dir");
        std::os::unix::fs::chown(&p, Some(65534), Some(65534)).expect("chown to 65534");
        p
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
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
