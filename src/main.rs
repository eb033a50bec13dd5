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
        let _ = writeln!(stderr, "solab: {line}");
    }
    std::process::exit(out.code);
}
