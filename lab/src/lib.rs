//! The command lines of solab-lab and solab-lab-host: the programs parse with them, and
//! tools/gen writes their man pages from them.

pub mod cli;
pub mod host_cli;
