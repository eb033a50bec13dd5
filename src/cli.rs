//! The command line: flags are parsed by clap, resolved into an inspect/prove/elf run, and
//! the result printed. `run` returns the exit code; errors go back to `main`.

use crate::elf;
use crate::error::Error;
use crate::inspect::{InspectOptions, inspect};
use crate::output;
use crate::prove;
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;

const ABOUT: &str = "See and prove how Linux shares an ELF shared object between processes.

Text pages of a library are one physical frame in every process; written data pages are
private copy-on-write copies; a .shared section mapped MAP_SHARED is one frame although
writable. solab reads the ELF headers, /proc/PID/maps, /proc/PID/pagemap and (as root)
/proc/kpagecount and /proc/kpageflags to show it page by page.

Without CAP_SYS_ADMIN the kernel hides frame numbers: solab then says so and marks its
verdicts weak (based on pagemap bits 56 and 61 and smaps).";

const LIBS_ABOUT: &str = "Memory saved by sharing, per ELF object.

One row per ELF object (shared library or executable), tied by device and inode: how many
of the processes map it, its resident pages summed over them (what they would hold if
nothing were shared), the distinct physical frames they really use, the memory saved (the
difference), its PSS, and the private copies in its file mappings by segment kind (text:
only text relocations make them; relro: the loader's relocations; data: written data). A
TEXTREL object is flagged. Totals cover all objects, anonymous memory and other files.

As root (CAP_SYS_ADMIN) every figure is counted from page frame numbers. Without it the
kernel hides them: solab says so and falls back to smaps (Pss, Shared/Private), marking
those figures as estimates (SAVED~, PSS~).";

#[derive(Parser, Debug)]
#[command(name = "solab", version, about = ABOUT, long_about = ABOUT)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// The static page plan of an ELF file: segment kind, sections and loader action per page
    #[command(
        after_help = "Examples:\n  solab elf /lib/x86_64-linux-gnu/libc.so.6\n  \
                            solab elf --json target/release/libsolib.so"
    )]
    Elf {
        file: PathBuf,
        /// Print JSON (schema solab.elf.v1)
        #[arg(long)]
        json: bool,
    },
    /// Per-page sharing of the ELF objects mapped in processes, and the vdso
    #[command(
        after_help = "Examples:\n  solab inspect $(pgrep -d' ' sleep) --object libc.so.6\n  \
                            solab inspect 1234 5678 --object libsolib.so --pages\n  \
                            solab inspect 1234 5678 --json\n  \
                            solab inspect 1234 5678 --object libsolib.so --svg pages.svg\n\n\
                            Exit status: 0 when every pid was inspected, 2 when one could not be \
                            (the others are still reported) or on error."
    )]
    Inspect {
        #[arg(required = true, value_name = "PID")]
        pids: Vec<i32>,
        /// Only objects whose path or file name matches (equal, or contained in the file name)
        #[arg(long, value_name = "PATTERN")]
        object: Option<String>,
        /// One row per page with its sections, states and frames
        #[arg(long)]
        pages: bool,
        /// Print JSON (schema solab.inspect.v1)
        #[arg(long)]
        json: bool,
        /// Also draw the page map as SVG into FILE (`-`: to stdout, instead of the text),
        /// from the same scan as the text or JSON
        #[arg(long, value_name = "FILE")]
        svg: Option<PathBuf>,
    },
    /// Check the three sharing claims for one object across processes, with evidence
    #[command(
        after_help = "Examples:\n  solab prove --object libsolib.so 1234 5678 9012\n  \
                            solab prove --object libc.so.6 --json 1234 5678\n\n\
                            Exit status: 0 all claims hold, 1 a claim fails, 2 on error."
    )]
    Prove {
        /// The object (path or file name); it must match exactly one mapped object
        #[arg(long, value_name = "PATTERN", required = true)]
        object: String,
        #[arg(required = true, num_args = 2.., value_name = "PID")]
        pids: Vec<i32>,
        /// Print JSON (schema solab.prove.v1)
        #[arg(long)]
        json: bool,
    },
    /// Memory saved by sharing, per ELF object: processes, resident pages, distinct frames
    #[command(
        long_about = LIBS_ABOUT,
        after_help = "Examples:\n  solab libs --all\n  \
                            solab libs --all --sort private --top 10\n  \
                            solab libs $(pgrep -d' ' python3) --json\n  \
                            solab libs --all --json | jq '.objects[] | select(.textrel)'\n\n\
                            Exit status: 0 on success; 2 when a given pid could not be read \
                            (the others are still reported) or on error. With --all, processes \
                            that vanish or cannot be read are counted, not an error."
    )]
    Libs {
        /// Scan every process on the machine (except solab itself)
        #[arg(long, conflicts_with = "pids")]
        all: bool,
        /// The processes to scan
        #[arg(value_name = "PID", required_unless_present = "all")]
        pids: Vec<i32>,
        /// Order of the objects, largest first
        #[arg(long, value_enum, default_value = "saved")]
        sort: crate::libs::SortKey,
        /// Show only the first N objects (0: all) [default: 25 for the table, all for JSON]
        #[arg(long, value_name = "N")]
        top: Option<usize>,
        /// Print JSON (schema solab.libs.v1)
        #[arg(long)]
        json: bool,
    },
}

fn print(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

fn json<T: serde::Serialize>(v: &T) -> anyhow::Result<String> {
    let mut s = serde_json::to_string_pretty(v).context("serializing the report")?;
    s.push('\n');
    Ok(s)
}

/// Runs the command and returns the exit code. A closed stdout is not an error.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    let (text, code) = match cli.command {
        Command::Elf {
            file,
            json: as_json,
        } => {
            let f = std::fs::File::open(&file).map_err(|e| Error::io(&file, None, e))?;
            let bytes = crate::proc::read_elf_file(f, &file)?;
            let plan = elf::plan(&bytes).map_err(|e| Error::Elf {
                path: file.clone(),
                reason: e.0,
            })?;
            let path = file.display().to_string();
            let text = if as_json {
                json(&output::ElfReport {
                    schema: output::ELF_SCHEMA,
                    path,
                    plan: &plan,
                })?
            } else {
                output::render_elf(&path, &plan)
            };
            (text, 0)
        }
        Command::Inspect {
            pids,
            object,
            pages,
            json: as_json,
            svg,
        } => {
            if as_json && svg.as_deref() == Some(std::path::Path::new("-")) {
                return Err(anyhow::anyhow!(
                    "--json and --svg - both write to stdout; give --svg a file"
                ));
            }
            let report = inspect(&InspectOptions { pids, object })?;
            for e in &report.errors {
                eprintln!("solab: {}", e.message);
            }
            let code = if report.errors.is_empty() { 0 } else { 2 };
            let text = match svg.as_deref() {
                Some(path) if path == std::path::Path::new("-") => crate::svg::render(&report),
                picture => {
                    if let Some(path) = picture {
                        std::fs::write(path, crate::svg::render(&report))
                            .with_context(|| format!("cannot write {}", path.display()))?;
                    }
                    if as_json {
                        json(&report)?
                    } else {
                        output::render_inspect(&report, pages)
                    }
                }
            };
            (text, code)
        }
        Command::Prove {
            object,
            pids,
            json: as_json,
        } => {
            let report = inspect(&InspectOptions {
                pids: pids.clone(),
                object: Some(object.clone()),
            })?;
            if let Some(e) = report.errors.first() {
                return Err(anyhow::anyhow!("{}", e.message))
                    .context("cannot prove: a process could not be inspected");
            }
            let obj = match report.objects.as_slice() {
                [one] => one,
                [] => {
                    let why = report
                        .skipped
                        .iter()
                        .map(|s| format!("\n  {}: {}", s.path, s.reason))
                        .collect::<String>();
                    return Err(Error::Object(format!(
                        "no ELF object matching {object:?} is mapped in pids {pids:?}{why}"
                    ))
                    .into());
                }
                many => {
                    let names: Vec<&str> = many.iter().map(|o| o.path.as_str()).collect();
                    return Err(Error::Object(format!(
                        "{object:?} matches {} objects ({}); give the full path or file name",
                        many.len(),
                        names.join(", ")
                    ))
                    .into());
                }
            };
            if obj.procs.len() != report.pids.len() {
                let missing: Vec<i32> = report
                    .pids
                    .iter()
                    .copied()
                    .filter(|p| !obj.procs.iter().any(|q| q.pid == *p))
                    .collect();
                return Err(Error::Object(format!(
                    "{} is not mapped (or not analyzable) in pid(s) {missing:?}",
                    obj.path
                ))
                .into());
            }
            let proof = prove::prove(obj, report.privileged, report.privilege_note.clone());
            let code = if proof.holds { 0 } else { 1 };
            let text = if as_json {
                json(&proof)?
            } else {
                output::render_prove(&proof)
            };
            (text, code)
        }
        Command::Libs {
            all,
            pids,
            sort,
            top,
            json: as_json,
        } => {
            use std::io::IsTerminal;
            let scope = if all {
                crate::libs::Scope::All
            } else {
                crate::libs::Scope::Pids(pids)
            };
            let progress = all && !as_json && std::io::stderr().is_terminal();
            let mut report = crate::libs::libs(&crate::libs::LibsOptions { scope, progress })?;
            for e in &report.errors {
                eprintln!("solab: {}", e.message);
            }
            let code = if report.errors.is_empty() { 0 } else { 2 };
            let total = report.objects.len();
            let top = top.unwrap_or(if as_json { 0 } else { 25 });
            report.sort(sort, top);
            let text = if as_json {
                json(&report)?
            } else {
                crate::libs::render(&report, total - report.objects.len())
            };
            (text, code)
        }
    };
    match print(&text) {
        Ok(()) => Ok(code),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(code),
        Err(e) => Err(e).context("writing to stdout"),
    }
}
