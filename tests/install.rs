//! Packaging: the man pages `make build` generates name every subcommand and every
//! long flag the programs parse; `make install` puts every file in place, the installed
//! programs, library and pkg-config file work, and `make uninstall` removes them all; the
//! Debian package installs, works and is removed again.

use crate::util::{Namespace, artifacts, finish, is_root, skip};
use clap::CommandFactory;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

// The lab's command lines, compiled here as tools/gen compiles them, so that the test takes
// the flags from the definitions the programs parse with. Their fields are the lab's.
#[allow(dead_code)]
#[path = "../lab/src/host_cli.rs"]
mod host_cli;
#[allow(dead_code)]
#[path = "../lab/src/cli.rs"]
mod lab_cli;

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("solab-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Every man page as (page name, the command it documents), as clap_mangen::generate_to
/// walks them: each program, and each subcommand except clap's `help`.
fn man_pages() -> Vec<(String, clap::Command)> {
    let mut pages = Vec::new();
    for cmd in [
        solab::cli::Cli::command(),
        lab_cli::Cli::command(),
        host_cli::Cli::command(),
    ] {
        // Built as generate_to builds it: --help and --version added, no help subcommand.
        let mut cmd = cmd.disable_help_subcommand(true);
        cmd.build();
        let name = cmd.get_name().to_string();
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            pages.push((format!("{name}-{}", sub.get_name()), sub.clone()));
        }
        pages.push((name, cmd));
    }
    pages
}

fn long_flags(cmd: &clap::Command) -> Vec<String> {
    cmd.get_arguments()
        .filter(|a| !a.is_hide_set())
        .filter_map(|a| a.get_long())
        .map(|l| format!("--{l}"))
        .collect()
}

/// A man page as `man` shows it, without hyphenation or justification, so that every flag
/// is one unbroken word.
fn render(page: &Path) -> String {
    let out = Command::new("man")
        .args(["-l", "-P", "cat", "--nh", "--nj"])
        .arg(page)
        .env("MANWIDTH", "100")
        .env("LC_ALL", "C.UTF-8")
        .output()
        .expect("man (scripts/install-deps.sh installs man-db)");
    assert!(
        out.status.success(),
        "man -l {}: {}",
        page.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    // groff may print a hyphen as U+2010 or a minus as U+2212.
    String::from_utf8_lossy(&out.stdout).replace(['\u{2010}', '\u{2212}'], "-")
}

#[test]
fn every_subcommand_and_long_flag_is_in_the_man_pages() {
    let dir = artifacts().bin_dir.join("man/man1");
    let pages = man_pages();
    let want: BTreeSet<String> = pages.iter().map(|(p, _)| format!("{p}.1")).collect();
    let have: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}: run make build", dir.display()))
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(have, want, "the man pages in {}", dir.display());
    let mut missing = Vec::new();
    for (page, cmd) in &pages {
        let text = render(&dir.join(format!("{page}.1")));
        let mut words = long_flags(cmd);
        words.extend(
            cmd.get_subcommands()
                .map(|s| format!("{}-{}", cmd.get_name(), s.get_name())),
        );
        for w in words {
            if !text.split_whitespace().any(|t| t.contains(&w)) {
                missing.push(format!("{page}.1 lacks {w}"));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn the_completions_know_every_subcommand_and_long_flag() {
    let dir = artifacts().bin_dir.join("completions");
    let mut cmd = solab::cli::Cli::command();
    cmd.build();
    for (file, flag_form) in [
        ("solab.bash", "--"),
        ("_solab", "--"),
        ("solab.fish", "-l "),
    ] {
        let text = std::fs::read_to_string(dir.join(file))
            .unwrap_or_else(|e| panic!("{file}: {e}: run make build"));
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            assert!(
                text.contains(sub.get_name()),
                "{file} lacks {}",
                sub.get_name()
            );
            for flag in long_flags(sub) {
                let f = format!("{flag_form}{}", &flag[2..]);
                assert!(text.contains(&f), "{file} lacks {f} of {}", sub.get_name());
            }
        }
    }
}

/// `make TARGET...` on the artifacts this test binary runs: OUT names the build the
/// tests use, whatever CARGO_TARGET_DIR and PROFILE were. The make running the tests
/// (make test) must not hand its flags and jobserver to this one.
fn make(args: &[&str]) -> crate::util::Run {
    let run = make_in(&artifacts().repo, args);
    assert_eq!(
        run.code, 0,
        "make {args:?}:\n{}\n{}",
        run.stdout, run.stderr
    );
    run
}

/// `make TARGET...` as [`make`] runs it, in the checkout `dir`, whatever its exit code.
fn make_in(dir: &Path, args: &[&str]) -> crate::util::Run {
    let a = artifacts();
    let target = a.bin_dir.parent().expect("target dir");
    finish(
        Command::new("make")
            .arg("--no-print-directory")
            .args(args)
            .arg(format!("OUT={}", a.bin_dir.display()))
            .arg(format!("TARGET={}", target.display()))
            .current_dir(dir)
            .env_remove("MAKEFLAGS")
            .env_remove("MFLAGS")
            .env_remove("MAKELEVEL")
            .output()
            .expect("make"),
    )
}

/// Every file and link under `root`, relative to it.
fn files_under(root: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                walk(root, &p, out);
            } else {
                out.insert(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(root, root, &mut out);
    out
}

fn version() -> String {
    solab::cli::Cli::command()
        .get_version()
        .expect("version")
        .to_string()
}

#[test]
fn make_install_puts_every_file_in_place_and_uninstall_removes_them() {
    let a = artifacts();
    let tmp = TempDir::new("install");
    let dest = tmp.0.join("dest");
    let destdir = format!("DESTDIR={}", dest.display());
    make(&["install", &destdir]);

    let prefix = dest.join("usr/local");
    let manifest = std::fs::read_to_string(a.repo.join("solib/Cargo.toml")).unwrap();
    let lib_version = manifest
        .lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .expect("version in solib/Cargo.toml");
    let mut want: BTreeSet<String> = [
        "bin/solab",
        "bin/solab-lab",
        "bin/solab-lab-host",
        "include/solib.h",
        "lib/libsolib.so",
        "lib/libsolib.so.0",
        "lib/pkgconfig/solib.pc",
        "share/bash-completion/completions/solab",
        "share/zsh/vendor-completions/_solab",
        "share/fish/vendor_completions.d/solab.fish",
        "share/doc/solab/README.md",
        "share/solab/install-manifest",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    want.insert(format!("lib/libsolib.so.{lib_version}"));
    for (page, _) in man_pages() {
        want.insert(format!("share/man/man1/{page}.1"));
    }
    let book = a.repo.join("docs/book");
    if book.join("index.html").exists() {
        for f in files_under(&book) {
            want.insert(format!("share/doc/solab/book/{f}"));
        }
    }
    assert_eq!(
        files_under(&dest),
        want.iter().map(|f| format!("usr/local/{f}")).collect()
    );
    // The library under its full version, the loader's and the linker's names as links.
    assert_eq!(
        std::fs::read_link(prefix.join("lib/libsolib.so.0")).unwrap(),
        PathBuf::from(format!("libsolib.so.{lib_version}"))
    );
    assert_eq!(
        std::fs::read_link(prefix.join("lib/libsolib.so")).unwrap(),
        PathBuf::from("libsolib.so.0")
    );

    let run = finish(
        Command::new(prefix.join("bin/solab"))
            .arg("--version")
            .output()
            .unwrap(),
    );
    assert_eq!(
        run.stdout.trim(),
        format!("solab {}", version()),
        "{}",
        run.stderr
    );

    // The host finds the library in ../lib, not beside itself, as installed.
    let ns = Namespace::new("installhost");
    let run = finish(
        Command::new(prefix.join("bin/solab-lab-host"))
            .args(["status", "unload", "exit"])
            .env("SOLIB_NAMESPACE", &ns.name)
            .output()
            .unwrap(),
    );
    let lib = prefix.join("lib/libsolib.so");
    assert!(
        run.stdout.contains(&format!("path={}", lib.display())),
        "{}{}",
        run.stdout,
        run.stderr
    );
    // So does the lab: experiment 2 finds libsolib.so (mapped as libsolib.so.0.1.0).
    let out = tmp.0.join("lab");
    let run = finish(
        Command::new(prefix.join("bin/solab-lab"))
            .args(["-e", "2", "--color", "never", "--out"])
            .arg(&out)
            .current_dir(&tmp.0)
            .output()
            .unwrap(),
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("1 passed, 0 failed"), "{}", run.stdout);

    // The C client, built against the installed header and library through pkg-config:
    // PKG_CONFIG_SYSROOT_DIR puts DESTDIR in front of the paths the .pc file gives.
    let flags = finish(
        Command::new("pkg-config")
            .args(["--cflags", "--libs", "solib"])
            .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig"))
            .env("PKG_CONFIG_SYSROOT_DIR", &dest)
            .output()
            .expect("pkg-config (scripts/install-deps.sh installs it)"),
    );
    assert_eq!(flags.code, 0, "{}", flags.stderr);
    assert!(flags.stdout.contains("-lsolib"), "{}", flags.stdout);
    let client = tmp.0.join("solib-client");
    let cc = finish(
        Command::new("cc")
            .args(["-O2", "-Wall", "-Wextra", "-Werror"])
            .arg(a.repo.join("clients/c/solib_client.c"))
            .arg("-o")
            .arg(&client)
            .args(flags.stdout.split_whitespace())
            .output()
            .unwrap(),
    );
    assert_eq!(cc.code, 0, "cc {}: {}", flags.stdout, cc.stderr);
    let ns = Namespace::new("installc");
    let run = finish(
        Command::new(&client)
            .args(["add:2,3", "exit"])
            .env("LD_LIBRARY_PATH", prefix.join("lib"))
            .env("SOLIB_NAMESPACE", &ns.name)
            .output()
            .unwrap(),
    );
    assert!(
        run.code == 0 && run.stdout.contains("result=5"),
        "exit {}: {}{}",
        run.code,
        run.stdout,
        run.stderr
    );

    make(&["uninstall", &destdir]);
    assert_eq!(
        files_under(&dest),
        BTreeSet::new(),
        "left by make uninstall"
    );
}

/// Removes the package on Drop, also when the test fails after installing it.
struct Purge;

impl Drop for Purge {
    fn drop(&mut self) {
        let _ = Command::new("apt-get")
            .args(["purge", "-y", "-qq", "solab"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .output();
    }
}

#[test]
fn the_debian_package_installs_works_and_is_removed() {
    if !is_root() || !Path::new("/etc/debian_version").exists() {
        return skip("installing a package needs root on Debian");
    }
    let installed = Command::new("dpkg-query")
        .args(["-W", "-f", "${Status}", "solab"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("installed"));
    if installed {
        return skip("a solab package is installed here already; the test leaves it be");
    }
    // deb-only: the package from the build the tests run, without building again.
    make(&["deb-only"]);
    let arch = finish(
        Command::new("dpkg")
            .arg("--print-architecture")
            .output()
            .unwrap(),
    );
    let deb = artifacts().bin_dir.parent().unwrap().join(format!(
        "solab_{}_{}.deb",
        version(),
        arch.stdout.trim()
    ));
    assert!(deb.exists(), "{} was not built", deb.display());

    let _purge = Purge;
    let apt = finish(
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .arg(&deb)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .output()
            .unwrap(),
    );
    assert_eq!(
        apt.code,
        0,
        "apt-get install {}: {}{}",
        deb.display(),
        apt.stdout,
        apt.stderr
    );
    let run = finish(
        Command::new("/usr/bin/solab")
            .arg("--version")
            .output()
            .unwrap(),
    );
    assert_eq!(
        run.stdout.trim(),
        format!("solab {}", version()),
        "{}",
        run.stderr
    );
    let man = finish(Command::new("man").args(["-w", "solab"]).output().unwrap());
    assert_eq!(
        man.stdout.trim(),
        "/usr/share/man/man1/solab.1.gz",
        "{}",
        man.stderr
    );
    // The ldconfig trigger ran: the loader finds the library by its soname.
    let cache = finish(Command::new("ldconfig").arg("-p").output().unwrap());
    assert!(
        cache.stdout.contains("libsolib.so.0 "),
        "not in the loader cache"
    );
    let pc = finish(
        Command::new("pkg-config")
            .args(["--libs", "solib"])
            .output()
            .unwrap(),
    );
    assert_eq!(pc.stdout.trim(), "-lsolib", "{}", pc.stderr);
}

/// What `make install` reads from a checkout, copied into `dir`: a checkout its owner may
/// have changed in any way before root runs `make install` (the build itself is the
/// tests' own, given as OUT).
fn checkout_copy(dir: &Path) {
    let repo = &artifacts().repo;
    for f in [
        "Makefile",
        "Cargo.toml",
        "README.md",
        "scripts/install.sh",
        "solib/Cargo.toml",
        "solib/include/solib.h",
        "packaging/solib.pc.in",
    ] {
        let to = dir.join(f);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(repo.join(f), &to).unwrap_or_else(|e| panic!("copy {f}: {e}"));
    }
}

/// A file only root may read, outside the checkout and DESTDIR.
fn root_only_file(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, "root's secret\n").unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// The bytes, mode and modification time of a file, to see that nothing touched it.
fn fingerprint(path: &Path) -> (Vec<u8>, u32, i64) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (std::fs::read(path).unwrap(), m.mode(), m.mtime_nsec())
}

#[test]
fn make_install_refuses_a_symlinked_or_special_source_by_name_and_copies_nothing() {
    let tmp = TempDir::new("install-links");
    let secret = tmp.0.join("secret");
    root_only_file(&secret);
    for (source, make_it) in [
        ("README.md", "link"),
        ("solib/include/solib.h", "link"),
        ("packaging/solib.pc.in", "link"),
        ("README.md", "fifo"),
    ] {
        let checkout = tmp.0.join("checkout");
        let _ = std::fs::remove_dir_all(&checkout);
        checkout_copy(&checkout);
        let at = checkout.join(source);
        std::fs::remove_file(&at).unwrap();
        if make_it == "link" {
            std::os::unix::fs::symlink(&secret, &at).unwrap();
        } else {
            nix::unistd::mkfifo(&at, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        }
        let dest = tmp.0.join("dest");
        let _ = std::fs::remove_dir_all(&dest);
        let run = make_in(
            &checkout,
            &["install", &format!("DESTDIR={}", dest.display())],
        );
        let why = if make_it == "link" {
            "is a symbolic link: refused"
        } else {
            "is not a regular file: refused"
        };
        assert!(
            run.code != 0 && run.stderr.contains(&format!("install: {source} {why}")),
            "{source} ({make_it}): exit {}\n{}{}",
            run.code,
            run.stdout,
            run.stderr
        );
        assert_eq!(
            files_under(&dest),
            BTreeSet::new(),
            "{source} ({make_it}): installed although refused"
        );
    }
    assert_eq!(fingerprint(&secret).0, b"root's secret\n");
}

#[test]
fn a_name_with_a_newline_is_refused_and_uninstall_removes_only_solabs_files_under_the_prefix() {
    let tmp = TempDir::new("install-names");
    let checkout = tmp.0.join("checkout");
    checkout_copy(&checkout);
    // A book whose directory name ends in a newline: in a newline-separated list the rest of
    // the path, /etc/victim, would be a line of its own.
    let book = checkout.join("docs/book");
    std::fs::create_dir_all(book.join("evil\n/etc")).unwrap();
    std::fs::write(book.join("index.html"), "<html></html>\n").unwrap();
    std::fs::write(book.join("evil\n/etc/victim"), "bait\n").unwrap();
    let dest = tmp.0.join("dest");
    let destdir = format!("DESTDIR={}", dest.display());
    // The file the attack aims at: inside DESTDIR, outside the prefix.
    let victim = dest.join("etc/victim");
    std::fs::create_dir_all(victim.parent().unwrap()).unwrap();
    root_only_file(&victim);
    let before = fingerprint(&victim);
    let only_victim: BTreeSet<String> = ["etc/victim".to_string()].into();

    let run = make_in(&checkout, &["install", &destdir]);
    assert!(
        run.code != 0
            && run.stderr.contains("docs/book/evil\\n/etc/victim")
            && run
                .stderr
                .contains("a control character in the name: refused"),
        "exit {}\n{}{}",
        run.code,
        run.stdout,
        run.stderr
    );
    assert_eq!(
        files_under(&dest),
        only_victim,
        "installed although refused"
    );

    // An older install's newline-separated list carrying the injected line.
    let manifest = dest.join("usr/local/share/solab/install-manifest");
    std::fs::create_dir_all(manifest.parent().unwrap()).unwrap();
    std::fs::write(
        &manifest,
        "/usr/local/share/doc/solab/book/evil\n/etc/victim\n/usr/local/share/solab/install-manifest\n",
    )
    .unwrap();
    let run = make_in(&checkout, &["uninstall", &destdir]);
    assert!(
        run.code != 0
            && run
                .stderr
                .contains("names /etc/victim, which is not one of solab's files"),
        "exit {}\n{}{}",
        run.code,
        run.stdout,
        run.stderr
    );
    assert_eq!(
        fingerprint(&victim),
        before,
        "make uninstall touched the victim"
    );
    assert!(
        manifest.exists(),
        "a refused list is left for the admin to see"
    );
    std::fs::remove_file(&manifest).unwrap();

    // Without the hostile name the install goes through, with a NUL-separated list; an
    // older install's newline-separated list of solab's own files is still uninstalled.
    std::fs::remove_dir_all(book.join("evil\n")).unwrap();
    let run = make_in(&checkout, &["install", &destdir]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let list = std::fs::read(&manifest).unwrap();
    assert!(list.contains(&0), "the list is NUL-separated");
    assert!(files_under(&dest).contains("usr/local/share/doc/solab/book/index.html"));
    let lines: Vec<u8> = list
        .iter()
        .map(|&b| if b == 0 { b'\n' } else { b })
        .collect();
    std::fs::write(&manifest, lines).unwrap();
    let run = make_in(&checkout, &["uninstall", &destdir]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(files_under(&dest), only_victim, "left by make uninstall");
    assert_eq!(
        fingerprint(&victim),
        before,
        "make install or uninstall touched the victim"
    );
}
