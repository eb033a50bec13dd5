//! The `solab` command: parses the command line, runs it (what it prints on stdout goes
//! through [`solab::cli::Stdout`]), prints its messages on stderr and exits with its code.
//! A closed stdout or stderr ends solab quietly with that same code.

use clap::Parser;
use std::io::Write;

fn main() {
    let mut stdout = solab::cli::Stdout::new();
    let ended = match solab::cli::Cli::try_parse() {
        Ok(cli) => solab::cli::run(cli, &mut stdout),
        Err(e) => solab::cli::usage_error(e, &mut stdout),
    };
    drop(stdout);
    // Write errors (a closed pipe) are ignored: the exit code says how the run went.
    let mut stderr = std::io::stderr().lock();
    for line in &ended.stderr {
        // Messages quote names other users chose (commands, paths): their control
        // characters are escaped, the line breaks of clap's usage text kept.
        let lines: Vec<_> = line
            .split('\n')
            .map(solab::output::escape::escape_controls)
            .collect();
        let _ = writeln!(stderr, "solab: {}", lines.join("\n"));
    }
    std::process::exit(ended.code.code());
}
