//! The `solab` command: parses the command line, runs it, prints the error chain once and
//! exits 2 on error.

use clap::Parser;

fn main() {
    let cli = solab::cli::Cli::parse();
    match solab::cli::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("solab: {e:#}");
            std::process::exit(2);
        }
    }
}
