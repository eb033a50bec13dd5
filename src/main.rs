//! The `solab` command: parses the command line, runs it, prints what it produced and exits
//! with its code. A closed stdout or stderr ends solab quietly with that same code.

use clap::Parser;
use std::io::Write;

fn main() {
    let out = match solab::cli::Cli::try_parse() {
        Ok(cli) => solab::cli::run(cli),
        Err(e) => solab::cli::usage_error(e),
    };
    // Write errors (a closed pipe) are ignored: the exit code says how the run went.
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(out.stdout.as_bytes())
        .and_then(|()| stdout.flush());
    let mut stderr = std::io::stderr().lock();
    for line in &out.stderr {
        // Messages quote names other users chose (commands, paths): their control
        // characters are escaped, the line breaks of clap's usage text kept.
        let lines: Vec<_> = line
            .split('\n')
            .map(solab::output::escape::escape_controls)
            .collect();
        let _ = writeln!(stderr, "solab: {}", lines.join("\n"));
    }
    std::process::exit(out.code);
}
