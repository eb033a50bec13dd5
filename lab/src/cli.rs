//! solab-lab's command line, in the lab's library: tools/gen writes the solab-lab(1) man page
//! from it, and the man-page test reads its flags (it compiles this file with `#[path]`, so
//! the file needs nothing but clap).

use clap::Parser;
use std::path::PathBuf;

/// Run the solab lab: experiments that prove, on this machine, how a shared library is
/// shared between processes.
#[derive(Parser, Debug)]
#[command(
    name = "solab-lab",
    version,
    after_help = "EXAMPLES:\n  make lab            every experiment\n  make lab E=3        experiment 3 alone\n  solab-lab --list    the experiments and their questions"
)]
pub struct Cli {
    /// Run only these experiments (e.g. -e 3 -e 5, or -e 3,5)
    #[arg(
        short = 'e',
        long = "experiment",
        value_delimiter = ',',
        value_name = "N"
    )]
    pub only: Vec<u32>,
    /// List the experiments and exit
    #[arg(long)]
    pub list: bool,
    /// Where solab-lab-host, solab and libsolib.so are [default: this program's directory;
    /// libsolib.so there or in its ../lib, as installed]
    #[arg(long, value_name = "DIR")]
    pub bin: Option<PathBuf>,
    /// Where to write report.json
    #[arg(long, value_name = "DIR", default_value = "target/lab")]
    pub out: PathBuf,
    /// Where `make build` put the lab's C libraries (libtextrel-*.so)
    #[arg(long, value_name = "DIR", default_value = "target/lab")]
    pub fixtures: PathBuf,
    /// Colour: auto (on a terminal, unless NO_COLOR is set), always or never
    #[arg(long, default_value = "auto", value_parser = ["auto", "always", "never"])]
    pub color: String,
}
