//! `solab-gen DIR`: writes the man pages of solab (one per subcommand), solab-lab and
//! solab-lab-host into DIR/man/man1/, and solab's bash, zsh and fish completions into
//! DIR/completions/, from the clap definitions the programs themselves parse with, so the
//! pages cannot drift from the flags. `make build` runs it into the profile's directory;
//! `make install` copies the results.

use clap::{Command, CommandFactory};
use clap_complete::Shell;
use std::path::{Path, PathBuf};

/// The NAME line of a man page (what `whatis` and `apropos` show) is the command's `about`:
/// one line. solab's `about` is its whole introduction (for `--help`), which stays in
/// DESCRIPTION through `long_about`; NAME gets its first sentence.
fn one_line_about(cmd: Command) -> Command {
    let about = cmd.get_about().map(|a| a.to_string());
    let long = cmd.get_long_about().map(|a| a.to_string());
    let cmd = match about {
        Some(a) if a.contains('\n') => {
            let first = a.lines().next().unwrap_or_default().trim_end_matches('.');
            cmd.about(first.to_string()).long_about(long.unwrap_or(a))
        }
        _ => cmd,
    };
    cmd.mut_subcommands(one_line_about)
}

/// Appends the section for users of smem, ps_mem, procrank and pmap
/// ([`solab::cli::OTHER_TOOLS`]) to the man page `page`: clap_mangen writes the sections
/// clap knows, this one is added after them.
fn append_other_tools(page: &Path) -> std::io::Result<()> {
    use roff::{Roff, bold, roman};
    let mut r = Roff::new();
    r.control("SH", [solab::cli::OTHER_TOOLS_TITLE]);
    r.text([roman(solab::cli::OTHER_TOOLS_INTRO)]);
    for (theirs, ours) in solab::cli::OTHER_TOOLS {
        r.control("TP", []);
        r.text([bold(*theirs)]);
        r.text([roman(*ours)]);
    }
    let mut text = std::fs::read_to_string(page)?;
    text.push_str(&r.to_roff());
    std::fs::write(page, text)
}

fn generate(dir: &Path) -> std::io::Result<()> {
    let man = dir.join("man/man1");
    // A fresh directory: a page of a subcommand that no longer exists must not be installed.
    match std::fs::remove_dir_all(&man) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    std::fs::create_dir_all(&man)?;
    // generate_to writes NAME.1 and NAME-SUBCOMMAND.1 for every subcommand (not `help`).
    for cmd in [
        solab::cli::Cli::command(),
        solab_lab::cli::Cli::command(),
        solab_lab::host_cli::Cli::command(),
    ] {
        clap_mangen::generate_to(one_line_about(cmd), &man)?;
    }
    for page in ["solab.1", "solab-ps.1", "solab-top.1"] {
        append_other_tools(&man.join(page))?;
    }
    let completions = dir.join("completions");
    std::fs::create_dir_all(&completions)?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(
            shell,
            &mut solab::cli::Cli::command(),
            "solab",
            &completions,
        )?;
    }
    Ok(())
}

fn main() {
    let mut args = std::env::args_os().skip(1);
    let (Some(dir), None) = (args.next(), args.next()) else {
        eprintln!("usage: solab-gen DIR   (writes DIR/man/man1/*.1 and DIR/completions/*)");
        std::process::exit(2);
    };
    let dir = PathBuf::from(dir);
    if let Err(e) = generate(&dir) {
        eprintln!("solab-gen: cannot write into {}: {e}", dir.display());
        std::process::exit(1);
    }
}
