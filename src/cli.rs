//! The command line: flags parsed by clap, then one small function per command that runs
//! it and hands the result to [`crate::output`]. `run` returns the exit code and whatever
//! is printed; `main` prints it and treats closed pipes as success.

use crate::commands::inspect::{self, InspectOptions, inspect};
use crate::commands::libs::{self, LibsOptions, Scope, SortKey};
use crate::commands::prove;
use crate::commands::ps::{self, PsKey, PsOptions};
use crate::commands::{check_pattern, matches_pattern};
use crate::commands::{elf, family};
use crate::error::{Error, ErrorKind};
use crate::kernel::{self, process};
use crate::output::terminal::{self, Style};
use crate::output::{self, ErrorEntry, ErrorReport, WithMatched, text};
use crate::scan::PidError;
use crate::sharing::{Inheritance, PageState, Verdict};
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};

const ABOUT: &str = "See and prove how Linux shares an ELF shared object between processes.

Text pages of a library are one physical frame in every process; written data pages are
private copy-on-write copies; a .shared section mapped MAP_SHARED is one frame although
writable. solab reads the ELF headers, /proc/PID/maps, /proc/PID/pagemap and (as root)
/proc/kpagecount and /proc/kpageflags to show it page by page.

Without CAP_SYS_ADMIN the kernel hides frame numbers: solab then says so and marks its
verdicts weak (looks-shared, looks-private: based on pagemap bits 56 and 61 and smaps).";

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

const PS_ABOUT: &str = "What each process costs.

One row per process: RSS (resident pages), PSS (each page divided among the page-table
entries that map its frame), USS (pages whose frame is mapped only here: what exiting would
free) and swap, and the PSS split into ELF objects (file mappings, .bss tails, the vdso),
anonymous memory (heap, stacks, arenas), MAP_SHARED memory (the shared section, /dev/shm)
and other files. Totals at the end cover every process that matched.

As root (CAP_SYS_ADMIN) the figures are counted from page frame numbers and
/proc/kpagecount (the zero page and PFN-mapped pages are not counted). Without it they are
the kernel's smaps figures, marked weak (~).";

const FAMILY_ABOUT: &str = "A process and its descendants: what fork still shares.

For each child, per private mapping it has at the same address as its parent (heap,
anonymous arenas, each object's data, stacks), its anonymous pages: still the parent's
frame, copied since fork (one side wrote), or new. Totals per child and for the family.

As root the frames are compared; without CAP_SYS_ADMIN only pagemap bit 56 is seen, and
pages with the bit clear in child and parent are counted as looks-inherited (weak).";

/// The words of `solab family`, with their one definition.
pub fn inheritance_words() -> String {
    let mut s = String::from("Pages of a child (solab family):\n");
    for i in Inheritance::ALL {
        s.push_str(&format!("  {:<16} {}\n", i.name(), i.meaning()));
    }
    s
}

const OBJECT_HELP: &str = "Only objects whose path matches PATTERN: a glob on the full path when it has * ? or [ \
     (e.g. '*/libc.so*'), otherwise a part of the file name (or of the path when it has /)";

/// The words solab prints for a page, with their one definition.
pub fn vocabulary() -> String {
    let mut s = String::from("Page states (one page in one process):\n");
    for st in PageState::ALL {
        s.push_str(&format!("  {:<19} {}\n", st.name(), st.meaning()));
    }
    s.push_str("\nVerdicts (one page across the processes):\n");
    for v in Verdict::ALL {
        s.push_str(&format!("  {:<19} {}\n", v.name(), v.meaning()));
    }
    s
}

#[derive(Parser, Debug)]
#[command(name = "solab", version, about = ABOUT, long_about = ABOUT)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// No colours (also when NO_COLOR is set; text is coloured only on a terminal)
    #[arg(long, global = true)]
    pub no_color: bool,
}

/// The processes a command looks at, the same in every command: PIDs (as arguments or
/// with -p), narrowed to one user's with -u; -u alone selects every process of the user.
#[derive(Args, Debug, Clone, Default)]
pub struct ProcessArgs {
    /// The processes (the same as -p PID)
    #[arg(value_name = "PID")]
    pub pids: Vec<i32>,
    /// A process (repeatable, or a comma-separated list, as `pgrep -d,` prints)
    #[arg(short = 'p', long = "pid", value_name = "PID", value_delimiter = ',')]
    pub pid: Vec<i32>,
    /// Only processes whose real uid is USER's (a name or a number); without PIDs, every
    /// process of USER
    #[arg(short = 'u', long, value_name = "USER")]
    pub user: Option<String>,
}

/// The processes selected by [`ProcessArgs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub pids: Vec<i32>,
    /// The pids were given (as arguments or -p), not found by -u.
    pub listed: bool,
    /// The uid of -u.
    pub uid: Option<u32>,
}

impl ProcessArgs {
    /// The pids given, first seen first, each once.
    pub fn listed(&self) -> Vec<i32> {
        let mut out: Vec<i32> = Vec::new();
        for &p in self.pids.iter().chain(&self.pid) {
            if !out.contains(&p) {
                out.push(p);
            }
        }
        out
    }

    /// The pids given, those of -u's user among them; or, with -u and no pids, every
    /// process of the user. `None`: neither pids nor -u (the command decides). A given pid
    /// whose owner cannot be read (it exited) is kept, for the command to report.
    pub fn select(&self) -> crate::Result<Option<Selection>> {
        let listed = self.listed();
        let uid = self.user.as_deref().map(user_id).transpose()?;
        let who = || self.user.clone().unwrap_or_default();
        match (listed.is_empty(), uid) {
            (true, None) => Ok(None),
            (false, None) => Ok(Some(Selection {
                pids: listed,
                listed: true,
                uid,
            })),
            (false, Some(u)) => {
                let pids: Vec<i32> = listed
                    .iter()
                    .copied()
                    .filter(|&p| process::uid(p).map_or(true, |o| o == u))
                    .collect();
                if pids.is_empty() {
                    return Err(Error::Usage(format!(
                        "--user {}: none of the pids {listed:?} is a process of uid {u}",
                        who()
                    )));
                }
                Ok(Some(Selection {
                    pids,
                    listed: true,
                    uid,
                }))
            }
            (true, Some(u)) => {
                let pids = process::of_user(u)?;
                if pids.is_empty() {
                    return Err(Error::Usage(format!(
                        "--user {}: uid {u} has no processes",
                        who()
                    )));
                }
                Ok(Some(Selection {
                    pids,
                    listed: false,
                    uid,
                }))
            }
        }
    }
}

/// A user name or a uid.
fn user_id(user: &str) -> crate::Result<u32> {
    if let Ok(uid) = user.parse::<u32>() {
        return Ok(uid);
    }
    match nix::unistd::User::from_name(user) {
        Ok(Some(u)) => Ok(u.uid.as_raw()),
        _ => Err(Error::Usage(format!(
            "--user {user:?}: no such user (give a name from the password database or a uid)"
        ))),
    }
}

/// How a table is drawn, the same in every command that prints one.
#[derive(Args, Debug, Clone, Default)]
pub struct TableArgs {
    /// Smallest first
    #[arg(short = 'r', long)]
    pub reverse: bool,
    /// Show only the first N rows (0: all) [default: 25 for the table, all for JSON]
    #[arg(short = 'n', long, value_name = "N")]
    pub top: Option<usize>,
    /// Sizes as byte counts, not KiB/MiB/GiB (JSON is the same either way: libs counts
    /// pages, multiply by page_size; ps counts bytes)
    #[arg(short = 'b', long)]
    pub bytes: bool,
    /// Never shorten paths. Without it, paths are shortened to fit the terminal; output
    /// that is not a terminal (a pipe, a file) is never shortened
    #[arg(short = 'w', long)]
    pub wide: bool,
}

impl TableArgs {
    /// The width to fit, if any: the terminal's, unless --wide.
    pub fn width(&self) -> Option<usize> {
        if self.wide { None } else { terminal::width() }
    }
}

/// How a scan of many processes runs, the same in every command that does one.
#[derive(Args, Debug, Clone, Default)]
pub struct ScanArgs {
    /// Scan processes on N threads at once (0: one per CPU; 1: one after the other). The
    /// figures are the same whatever N
    #[arg(long, value_name = "N", default_value = "0")]
    pub threads: usize,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// The static page plan of an ELF file: segment kind, sections and loader action per
    /// run of pages
    #[command(
        after_help = "Examples:\n  solab elf /lib/x86_64-linux-gnu/libc.so.6\n  \
                            solab elf --json target/release/libsolib.so\n\n\
                            Exit status: 0 on success, 2 on error (not a regular file, not ELF, corrupt)."
    )]
    Elf {
        file: PathBuf,
        /// Print JSON (schema solab.elf.v2)
        #[arg(long)]
        json: bool,
    },
    /// Per-page sharing of the ELF objects mapped in processes, and their vdso
    #[command(
        after_help = "Examples:\n  solab inspect $(pgrep -d' ' sleep) -o libc.so.6\n  \
                            solab inspect 1234 5678 -o libsolib.so --pages\n  \
                            solab inspect 1234 5678 --json\n  \
                            solab inspect 1234 5678 -o libsolib.so --svg pages.svg\n\n\
                            Exit status: 0 when every pid was inspected, 2 when one could not be \
                            (the others are still reported), when --object matches nothing, or on error.",
        after_long_help = vocabulary()
    )]
    Inspect {
        #[command(flatten)]
        procs: ProcessArgs,
        #[arg(short = 'o', long, value_name = "PATTERN", help = OBJECT_HELP)]
        object: Option<String>,
        /// One row per page with its sections, states and frames
        #[arg(long)]
        pages: bool,
        /// Print JSON (schema solab.inspect.v2)
        #[arg(long)]
        json: bool,
        /// Also draw the page map as SVG into FILE (`-`: to stdout, instead of the text),
        /// from the same scan as the text or JSON
        #[arg(long, value_name = "FILE")]
        svg: Option<PathBuf>,
    },
    /// Check the three sharing claims for one object across processes, with evidence
    #[command(
        long_about = "Check the three sharing claims for one object across processes, with \
                      evidence.\n\n\
                      Two or more distinct processes: PIDs, -p PID, or -u USER alone for the \
                      processes of USER that map the object.",
        after_help = "Examples:\n  solab prove -o libsolib.so 1234 5678 9012\n  \
                            solab prove -o libc.so.6 --json 1234 5678\n  \
                            solab prove -o nginx --strict $(pgrep nginx)\n  \
                            solab prove -o libsolib.so -u nobody\n\n\
                            Exit status: 0 all claims hold, 1 a claim fails, 2 on error or bad \
                            input (fewer than two distinct pids, no or several matching objects), \
                            3 inconclusive: no text page is present in every process (nothing \
                            to compare), or with --strict the evidence is weak (no frame numbers).",
        after_long_help = vocabulary()
    )]
    Prove {
        /// The object (see PATTERN in inspect --help); it must match exactly one mapped object
        #[arg(short = 'o', long, value_name = "PATTERN", required = true)]
        object: String,
        #[command(flatten)]
        procs: ProcessArgs,
        /// Exit 3 ("inconclusive") instead of 0 when only pagemap bits were seen
        #[arg(long)]
        strict: bool,
        /// Print JSON (schema solab.prove.v2)
        #[arg(long)]
        json: bool,
    },
    /// Memory saved by sharing, per ELF object: processes, resident pages, distinct frames
    #[command(
        long_about = LIBS_ABOUT,
        after_help = "Examples:\n  solab libs -a\n  \
                            solab libs -a -s private -n 10\n  \
                            solab libs -u www-data -o libssl -b\n  \
                            solab libs $(pgrep -d' ' python3) --json\n  \
                            solab libs -p $(pgrep -d, python3) -w\n  \
                            solab libs -a --json | jq '.objects[] | select(.textrel)'\n  \
                            solab libs -a --by container\n\n\
                            Sizes are in KiB, MiB, GiB (powers of 1024), or bytes with -b; JSON \
                            counts pages of page_size bytes. On a terminal, paths are shortened \
                            from the left to fit its width (COLUMNS overrides it); with -w, or \
                            when stdout is not a terminal, never.\n\n\
                            Exit status: 0 on success; 2 when a given pid could not be read \
                            (the others are still reported), on bad input (--by cgroup or \
                            container without cgroup v2) or on error. With --all or -u alone, \
                            processes that vanish or cannot be read are counted, not an error."
    )]
    Libs {
        /// Scan every process on the machine (except solab itself); with -u, every process
        /// of the user
        #[arg(short = 'a', long, conflicts_with_all = ["pids", "pid"])]
        all: bool,
        #[command(flatten)]
        procs: ProcessArgs,
        #[arg(short = 'o', long, value_name = "PATTERN", help = OBJECT_HELP)]
        object: Option<String>,
        /// Order of the objects by a column, largest first
        #[arg(short = 's', long, value_enum, default_value = "saved")]
        sort: SortKey,
        /// One row per user, command name, cgroup (v2) or container (cgroup and mount
        /// namespace), to see whether the same libraries really share memory across them:
        /// per group FRAMES (its objects' distinct frames: their cost alone), WITH-OTHERS
        /// (those another group maps too) and SAME-LIBS (its objects whose library, by
        /// build-id, another group maps too). Without CAP_SYS_ADMIN only SAME-LIBS and
        /// smaps sums (weak). JSON schema solab.libs-groups.v1
        #[arg(long, value_enum, value_name = "WHAT", conflicts_with = "object")]
        by: Option<ps::GroupBy>,
        #[command(flatten)]
        table: TableArgs,
        #[command(flatten)]
        scan: ScanArgs,
        /// Print JSON (schema solab.libs.v2; with --by solab.libs-groups.v1)
        #[arg(long)]
        json: bool,
    },
    /// What each process costs: RSS, PSS, USS and swap, split by ELF objects, anonymous
    /// memory, MAP_SHARED memory and other files
    #[command(
        long_about = PS_ABOUT,
        after_help = "Examples:\n  solab ps -a\n  \
                            solab ps -a -s uss -n 10\n  \
                            solab ps -a -u www-data -c '^nginx'\n  \
                            solab ps -a --by container -s alone\n  \
                            solab ps -u nobody --by comm -b\n  \
                            solab ps -p $(pgrep -d, nginx) --json\n\n\
                            Sizes are in KiB, MiB, GiB (powers of 1024), or bytes with -b; JSON \
                            counts bytes. On a terminal the last column (command, cgroup, \
                            container) is shortened from the left to fit its width; with -w, or \
                            when stdout is not a terminal, never.\n\n\
                            Exit status: 0 on success; 2 when a given pid could not be read \
                            (the others are still reported), on bad input (--by cgroup or \
                            container without cgroup v2) or on error. With --all or -u alone, \
                            processes that vanish or cannot be read are counted, not an error."
    )]
    Ps {
        /// Scan every process on the machine (except solab itself); with -u, every process
        /// of the user
        #[arg(short = 'a', long, conflicts_with_all = ["pids", "pid"])]
        all: bool,
        #[command(flatten)]
        procs: ProcessArgs,
        /// Only processes whose command name (comm) matches this regular expression
        #[arg(short = 'c', long, value_name = "REGEX")]
        command: Option<String>,
        /// Order by a column, sizes largest first, names and pids ascending (alone, only
        /// and with-rest need --by)
        #[arg(short = 's', long, value_enum, default_value = "pss")]
        sort: PsKey,
        /// One row per user, command name, cgroup (v2) or container (cgroup and mount
        /// namespace, named docker, podman, containerd, flatpak or systemd unit where the
        /// cgroup path says it). As root each group's frames are counted once: ALONE (what
        /// it would cost alone), ONLY (freed if it exited) and WITH-REST (shared with
        /// processes outside it); without CAP_SYS_ADMIN the rows only sum smaps figures
        /// (weak)
        #[arg(long, value_enum, value_name = "WHAT")]
        by: Option<ps::GroupBy>,
        #[command(flatten)]
        table: TableArgs,
        #[command(flatten)]
        scan: ScanArgs,
        /// Print JSON (schema solab.ps.v2)
        #[arg(long)]
        json: bool,
    },
    /// A process and its descendants: per child and inherited mapping, the anonymous
    /// pages still the parent's frame, copied since fork, or new
    #[command(
        long_about = FAMILY_ABOUT,
        after_help = "Examples:\n  solab family $(pgrep -o nginx)\n  \
                            solab family 1234 --json\n  \
                            solab family --watch 2 $(pgrep -o nginx)\n  \
                            solab family 1234 --svg family.svg\n\n\
                            Exit status: 0 on success (with --watch: ended by Ctrl-C); 2 when \
                            the process cannot be read (it does not exist, or exited: a family \
                            whose root exited is no family), when a descendant could not be \
                            (the others are still reported), or with --watch when the process \
                            exits while watched (the last table is printed again, and a \
                            message says so). A descendant that exits while watched leaves the \
                            next table.",
        after_long_help = inheritance_words()
    )]
    Family {
        /// The root process
        #[arg(value_name = "PID")]
        pid: i32,
        /// Print JSON (schema solab.family.v1)
        #[arg(long, conflicts_with = "watch")]
        json: bool,
        /// Read and print the family again every SECONDS, each table after the first
        /// followed by what changed since the one before, until Ctrl-C, which prints the
        /// last table once more and exits with status 0; if PID exits meanwhile, the last
        /// table is printed once more and the exit status is 2
        #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
        watch: Option<u64>,
        /// Also draw the family as SVG into FILE (`-`: to stdout, instead of the text): one
        /// band per inherited mapping, one row per process, each page coloured by what
        /// became of it since fork, from the same scan as the text or JSON
        #[arg(long, value_name = "FILE", conflicts_with = "watch")]
        svg: Option<PathBuf>,
        #[command(flatten)]
        scan: ScanArgs,
    },
}

impl Command {
    fn name(&self) -> &'static str {
        match self {
            Command::Elf { .. } => "elf",
            Command::Inspect { .. } => "inspect",
            Command::Prove { .. } => "prove",
            Command::Libs { .. } => "libs",
            Command::Ps { .. } => "ps",
            Command::Family { .. } => "family",
        }
    }

    fn json(&self) -> bool {
        match self {
            Command::Elf { json, .. }
            | Command::Inspect { json, .. }
            | Command::Prove { json, .. }
            | Command::Libs { json, .. }
            | Command::Ps { json, .. }
            | Command::Family { json, .. } => *json,
        }
    }
}

/// What a command produced: text for stdout, messages for stderr, an exit code.
pub struct Outcome {
    pub stdout: String,
    pub stderr: Vec<String>,
    pub code: i32,
}

impl Outcome {
    fn ok(stdout: String, code: i32) -> Outcome {
        Outcome {
            stdout,
            stderr: Vec::new(),
            code,
        }
    }
}

pub const EXIT_FAILS: i32 = 1;
pub const EXIT_ERROR: i32 = 2;
pub const EXIT_INCONCLUSIVE: i32 = 3;

/// Runs the command. An error is printed once on stderr and, with `--json`, as one JSON
/// document on stdout; the exit code is the same either way.
pub fn run(cli: Cli) -> Outcome {
    let name = cli.command.name();
    let as_json = cli.command.json();
    let style = Style {
        color: terminal::color_wanted(cli.no_color),
    };
    let result = match cli.command {
        Command::Elf { file, json } => elf_cmd(&file, json),
        Command::Inspect {
            procs,
            object,
            pages,
            json,
            svg,
        } => inspect_cmd(&procs, object, pages, json, svg, style),
        Command::Prove {
            object,
            procs,
            strict,
            json,
        } => prove_cmd(object, &procs, strict, json, style),
        Command::Libs {
            all,
            procs,
            object,
            sort,
            by,
            table,
            scan,
            json,
        } => match by {
            Some(by) => libs_by_cmd(all, &procs, by, sort, &table, scan.threads, json),
            None => libs_cmd(
                LibsScan {
                    all,
                    procs: &procs,
                    scan: &scan,
                },
                object,
                sort,
                &table,
                json,
                style,
            ),
        },
        Command::Ps {
            all,
            procs,
            command,
            sort,
            by,
            table,
            scan,
            json,
        } => ps_cmd(PsArgs {
            all,
            procs,
            command,
            sort,
            by,
            table,
            threads: scan.threads,
            json,
        }),
        Command::Family {
            pid,
            json,
            watch,
            svg,
            scan,
        } => match watch {
            Some(secs) => family_watch(pid, secs, scan.threads),
            None => family_cmd(pid, json, svg, scan.threads),
        },
    };
    match result {
        Ok(o) => o,
        Err(e) => {
            let message = format!("{e:#}");
            let kind = e.downcast_ref::<Error>().map_or(ErrorKind::Io, Error::kind);
            Outcome {
                stdout: if as_json {
                    output::json(&ErrorReport {
                        schema: output::ERROR_SCHEMA,
                        command: name.into(),
                        exit_code: EXIT_ERROR,
                        errors: vec![ErrorEntry {
                            kind,
                            message: message.clone(),
                        }],
                    })
                } else {
                    String::new()
                },
                stderr: vec![message],
                code: EXIT_ERROR,
            }
        }
    }
}

/// A command line clap refused (or `--help`, `--version`): clap's text as usual, and with
/// `--json` among the arguments also the one JSON error document, so scripts get JSON.
pub fn usage_error(e: clap::Error) -> Outcome {
    use clap::error::ErrorKind as Clap;
    let code = e.exit_code();
    if matches!(e.kind(), Clap::DisplayHelp | Clap::DisplayVersion)
        || !std::env::args().any(|a| a == "--json")
    {
        let _ = e.print();
        return Outcome {
            stdout: String::new(),
            stderr: Vec::new(),
            code,
        };
    }
    let rendered = e.render().to_string();
    let message = rendered
        .trim_end()
        .strip_prefix("error: ")
        .unwrap_or(rendered.trim_end())
        .to_string();
    let command = std::env::args().nth(1).unwrap_or_default();
    Outcome {
        stdout: output::json(&ErrorReport {
            schema: output::ERROR_SCHEMA,
            command,
            exit_code: EXIT_ERROR,
            errors: vec![ErrorEntry {
                kind: ErrorKind::Usage,
                message: message.clone(),
            }],
        }),
        stderr: vec![message],
        code: EXIT_ERROR,
    }
}

fn elf_cmd(file: &Path, as_json: bool) -> anyhow::Result<Outcome> {
    let report = elf::elf(file)?;
    Ok(Outcome::ok(
        if as_json {
            output::json(&report)
        } else {
            text::render_elf(&report)
        },
        0,
    ))
}

/// The pids of inspect and prove: those given or found by -u; with -u alone and a
/// pattern, only the processes that map a matching object.
fn inspected_pids(procs: &ProcessArgs, object: Option<&str>) -> anyhow::Result<Selection> {
    if let Some(p) = object {
        check_pattern(p)?;
    }
    let Some(mut sel) = procs.select()? else {
        return Err(Error::Usage("give the processes: PID..., -p PID or -u USER".into()).into());
    };
    if let Some(pat) = object
        && !sel.listed
    {
        sel.pids.retain(|&p| maps_object(p, pat));
        if sel.pids.is_empty() {
            return Err(Error::Object(format!(
                "--object {pat:?} matches no object mapped by a process of --user {}",
                procs.user.as_deref().unwrap_or_default()
            ))
            .into());
        }
    }
    Ok(sel)
}

/// Whether `pid` maps a file (or the vdso) whose path matches `pattern`.
fn maps_object(pid: i32, pattern: &str) -> bool {
    process::read_maps(pid).is_ok_and(|maps| {
        maps.iter().any(|m| match &m.target {
            crate::maps::MapTarget::File { path, .. } => {
                matches_pattern(pattern, &path.to_string_lossy())
            }
            crate::maps::MapTarget::Pseudo(p) => p == "[vdso]" && matches_pattern(pattern, p),
            crate::maps::MapTarget::Anonymous => false,
        })
    })
}

/// Processes found by -u (not listed) that are kernel threads or zombies (no memory map:
/// nothing of the user's to inspect) are left out. Those that exited before they were read
/// stay in `errors` (kind `no-such-process`), but the machine moved on: as with libs --all,
/// they do not make the run fail. Returns the errors that do.
fn settle_gone<'e>(sel: &Selection, errors: &'e mut Vec<PidError>) -> Vec<&'e PidError> {
    if sel.listed {
        return errors.iter().collect();
    }
    errors.retain(|e| e.kind != ErrorKind::KernelThread);
    errors
        .iter()
        .filter(|e| e.kind != ErrorKind::NoSuchProcess)
        .collect()
}

/// Whether `--svg` writes the picture to stdout (`--svg -`), which `--json` cannot share.
fn svg_to_stdout(as_json: bool, svg: Option<&Path>) -> Result<bool, Error> {
    let to_stdout = svg == Some(Path::new("-"));
    if as_json && to_stdout {
        return Err(Error::Usage(
            "--json and --svg - both write to stdout; give --svg a file".into(),
        ));
    }
    Ok(to_stdout)
}

fn inspect_cmd(
    procs: &ProcessArgs,
    object: Option<String>,
    pages: bool,
    as_json: bool,
    svg: Option<PathBuf>,
    style: Style,
) -> anyhow::Result<Outcome> {
    let to_stdout = svg_to_stdout(as_json, svg.as_deref())?;
    let sel = inspected_pids(procs, object.as_deref())?;
    let scan = inspect::scan(&InspectOptions {
        pids: sel.pids.clone(),
        object: object.clone(),
    })?;
    let (mut head, objects) = (scan.head, scan.objects);
    let failed = settle_gone(&sel, &mut head.errors);
    let stderr: Vec<String> = failed.iter().map(|e| e.message.clone()).collect();
    let mut code = if failed.is_empty() { 0 } else { EXIT_ERROR };
    // A pattern that matched only objects solab had to skip is not "no match": the report
    // lists them with the reason.
    if let Some(pat) = &object
        && objects.is_empty()
        && head.skipped.is_empty()
        && !head.processes.is_empty()
    {
        return Err(no_match(pat, &head).into());
    }
    if head.processes.is_empty() {
        code = EXIT_ERROR;
    }
    let matched = objects.paths();
    let matched = object.is_some().then_some(matched.as_slice());
    if as_json && svg.is_none() {
        // Written as it is built: everything that can fail was read by now, so stdout gets
        // exactly one document (a closed stdout ends the writing, quietly).
        let report = head.with_objects(objects);
        let _ = output::write_json(
            std::io::stdout().lock(),
            &WithMatched {
                report: &report,
                matched,
            },
        );
        return Ok(Outcome {
            stdout: String::new(),
            stderr,
            code,
        });
    }
    // The picture needs every page at once: the report is built whole.
    let report = crate::commands::inspect::Scan { head, objects }.into_report();
    let stdout = match svg.as_deref() {
        Some(_) if to_stdout => output::svg::render(&report),
        picture => {
            if let Some(path) = picture {
                std::fs::write(path, output::svg::render(&report))
                    .map_err(|e| Error::io(path, e))?;
            }
            if as_json {
                output::json(&WithMatched {
                    report: &report,
                    matched,
                })
            } else {
                text::render_inspect(
                    &report,
                    pages,
                    style,
                    object.as_deref().map(|pattern| text::Matched {
                        pattern,
                        paths: matched.unwrap_or_default(),
                    }),
                )
            }
        }
    };
    Ok(Outcome {
        stdout,
        stderr,
        code,
    })
}

/// "no object matches": names the pattern and what the processes do map.
fn no_match<O>(pattern: &str, report: &crate::inspect_report::InspectReport<O>) -> Error {
    let mut why = String::new();
    for s in &report.skipped {
        why.push_str(&format!(
            "\n  skipped: pid {} {}: {}",
            s.pid, s.path, s.reason
        ));
    }
    Error::Object(format!(
        "--object {pattern:?} matches no ELF object mapped in pids {:?}{why}",
        report.pids
    ))
}

fn prove_cmd(
    object: String,
    procs: &ProcessArgs,
    strict: bool,
    as_json: bool,
    style: Style,
) -> anyhow::Result<Outcome> {
    let sel = inspected_pids(procs, Some(&object))?;
    let distinct = sel.pids.clone();
    if distinct.len() < 2 {
        return Err(Error::Usage(format!(
            "prove compares processes: it needs two or more distinct pids, got {distinct:?}"
        ))
        .into());
    }
    let mut report = inspect(&InspectOptions {
        pids: distinct.clone(),
        object: Some(object.clone()),
    })?;
    if let Some(e) = settle_gone(&sel, &mut report.errors).first() {
        return Err(anyhow::anyhow!("{}", e.message)
            .context("cannot prove: a process could not be inspected"));
    }
    let obj = match report.objects.as_slice() {
        [one] => one,
        [] => return Err(no_match(&object, &report).into()),
        many => {
            let names: Vec<&str> = many.iter().map(|o| o.path.as_str()).collect();
            return Err(Error::Object(format!(
                "--object {object:?} matches {} objects ({}); give one that matches exactly one",
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
    let families = prove::fork_families(&report.pids);
    let proof = prove::prove(&report, obj, families);
    let (code, inconclusive) = match proof.outcome(strict) {
        prove::ProofOutcome::Holds => (0, None),
        prove::ProofOutcome::Fails => (EXIT_FAILS, None),
        prove::ProofOutcome::Inconclusive(why) => (EXIT_INCONCLUSIVE, Some(why)),
    };
    let mut out = Outcome::ok(
        if as_json {
            output::json(&proof)
        } else {
            text::render_prove(&proof, style)
        },
        code,
    );
    if let Some(why) = inconclusive {
        out.stderr.push(why.into());
    }
    Ok(out)
}

/// Which processes `solab libs` scans, and how.
struct LibsScan<'a> {
    all: bool,
    procs: &'a ProcessArgs,
    scan: &'a ScanArgs,
}

fn libs_cmd(
    LibsScan { all, procs, scan }: LibsScan,
    object: Option<String>,
    sort: SortKey,
    table: &TableArgs,
    as_json: bool,
    style: Style,
) -> anyhow::Result<Outcome> {
    use std::io::IsTerminal;
    if let Some(p) = &object {
        check_pattern(p)?;
    }
    let scope = match (procs.select()?, all) {
        (Some(sel), _) if sel.listed => Scope::Pids(sel.pids),
        (Some(sel), _) => Scope::User(sel.uid.unwrap_or_default()),
        (None, true) => Scope::All,
        (None, false) => {
            return Err(Error::Usage(
                "give the processes: PID..., -p PID, -u USER or -a (every process)".into(),
            )
            .into());
        }
    };
    let progress = !matches!(scope, Scope::Pids(_)) && !as_json && std::io::stderr().is_terminal();
    let mut report = libs::libs(&LibsOptions {
        scope,
        progress,
        threads: scan.threads,
    })?;
    let mut matched: Vec<String> = Vec::new();
    if let Some(pat) = &object {
        report.objects.retain(|o| matches_pattern(pat, &o.path));
        matched = report.objects.iter().map(|o| o.path.clone()).collect();
        matched.sort();
        matched.dedup();
    }
    let stderr: Vec<String> = report.errors.iter().map(|e| e.message.clone()).collect();
    let code = if report.errors.is_empty() {
        0
    } else {
        EXIT_ERROR
    };
    let total = report.objects.len();
    let top = table.top.unwrap_or(if as_json { 0 } else { 25 });
    report.sort(sort, table.reverse, top);
    Ok(Outcome {
        stdout: if as_json {
            output::json(&WithMatched {
                report: &report,
                matched: object.is_some().then_some(matched.as_slice()),
            })
        } else {
            text::render_libs(
                &report,
                &text::LibsView {
                    hidden: total - report.objects.len(),
                    bytes: table.bytes,
                    width: table.width(),
                    style,
                    matched: object.as_deref().map(|pattern| text::Matched {
                        pattern,
                        paths: &matched,
                    }),
                },
            )
        },
        stderr,
        code,
    })
}

/// The scope of `libs`: the pids given, -u's user, or every process.
fn libs_scope(all: bool, procs: &ProcessArgs) -> anyhow::Result<Scope> {
    Ok(match (procs.select()?, all) {
        (Some(sel), _) if sel.listed => Scope::Pids(sel.pids),
        (Some(sel), _) => Scope::User(sel.uid.unwrap_or_default()),
        (None, true) => Scope::All,
        (None, false) => {
            return Err(Error::Usage(
                "give the processes: PID..., -p PID, -u USER or -a (every process)".into(),
            )
            .into());
        }
    })
}

/// `solab libs --by WHAT`.
fn libs_by_cmd(
    all: bool,
    procs: &ProcessArgs,
    by: ps::GroupBy,
    sort: SortKey,
    table: &TableArgs,
    threads: usize,
    as_json: bool,
) -> anyhow::Result<Outcome> {
    let scope = libs_scope(all, procs)?;
    let mut report = libs::by_group::libs_by(
        &LibsOptions {
            scope,
            progress: false,
            threads,
        },
        by,
    )?;
    let stderr: Vec<String> = report.errors.iter().map(|e| e.message.clone()).collect();
    let code = if report.errors.is_empty() {
        0
    } else {
        EXIT_ERROR
    };
    let total = report.groups.len();
    report.sort(
        sort,
        table.reverse,
        table.top.unwrap_or(if as_json { 0 } else { 25 }),
    );
    Ok(Outcome {
        stdout: if as_json {
            output::json(&report)
        } else {
            text::render_libs_groups(
                &report,
                &text::LibsGroupsView {
                    hidden: total - report.groups.len(),
                    bytes: table.bytes,
                    width: table.width(),
                },
            )
        },
        stderr,
        code,
    })
}

/// `solab ps`'s flags.
struct PsArgs {
    all: bool,
    procs: ProcessArgs,
    command: Option<String>,
    sort: PsKey,
    by: Option<ps::GroupBy>,
    table: TableArgs,
    threads: usize,
    json: bool,
}

/// `solab ps`. `-u` keeps ps's meaning: a filter, its leftovers counted as filtered out;
/// alone (or with -a) it scans every process and keeps the user's.
fn ps_cmd(a: PsArgs) -> anyhow::Result<Outcome> {
    let command = a
        .command
        .as_deref()
        .map(regex::Regex::new)
        .transpose()
        .map_err(|e| Error::Usage(format!("--command: {e}")))?;
    if a.sort.group_only() && a.by.is_none() {
        return Err(Error::Usage(format!(
            "--sort {}: a group's column; give --by too",
            clap::ValueEnum::to_possible_value(&a.sort)
                .map_or(String::new(), |v| v.get_name().to_string())
        ))
        .into());
    }
    let uid = a.procs.user.as_deref().map(user_id).transpose()?;
    let pids = a.procs.listed();
    if pids.is_empty() && !a.all && uid.is_none() {
        return Err(Error::Usage(
            "give the processes: PID..., -p PID, -u USER or -a (every process)".into(),
        )
        .into());
    }
    let mut report = ps::ps(&PsOptions {
        all: pids.is_empty(),
        pids,
        uid,
        command,
        keep_frames: a.by.is_some() && kernel::detect_privilege().frames(),
        placement: a.json || a.by.is_some_and(|b| b.needs_cgroup()),
        threads: a.threads,
    })?;
    let stderr: Vec<String> = report.errors.iter().map(|e| e.message.clone()).collect();
    let code = if report.errors.is_empty() {
        0
    } else {
        EXIT_ERROR
    };
    let top = a.table.top.unwrap_or(if a.json { 0 } else { 25 });
    let hidden = match a.by {
        Some(by) => {
            report.group(by)?;
            let total = report.groups.len();
            report.sort_groups(a.sort, a.table.reverse, top);
            total - report.groups.len()
        }
        None => {
            let total = report.processes.len();
            report.sort(a.sort, a.table.reverse, top);
            total - report.processes.len()
        }
    };
    Ok(Outcome {
        stdout: if a.json {
            output::json(&report)
        } else {
            text::render_ps(
                &report,
                &text::PsView {
                    hidden,
                    bytes: a.table.bytes,
                    width: a.table.width(),
                },
            )
        },
        stderr,
        code,
    })
}

fn family_cmd(
    pid: i32,
    as_json: bool,
    svg: Option<PathBuf>,
    threads: usize,
) -> anyhow::Result<Outcome> {
    let to_stdout = svg_to_stdout(as_json, svg.as_deref())?;
    let report = match svg {
        Some(_) => family::family_pictured(pid, threads)?,
        None => family::family(pid, threads)?,
    };
    let stderr: Vec<String> = report.errors.iter().map(|e| e.message.clone()).collect();
    let code = if report.errors.is_empty() {
        0
    } else {
        EXIT_ERROR
    };
    if let Some(path) = svg.as_deref().filter(|_| !to_stdout) {
        std::fs::write(path, output::svg::render_family(&report))
            .map_err(|e| Error::io(path, e))?;
    }
    Ok(Outcome {
        stdout: if to_stdout {
            output::svg::render_family(&report)
        } else if as_json {
            output::json(&report)
        } else {
            text::render_family(&report)
        },
        stderr,
        code,
    })
}

/// Set by SIGINT while `family --watch` runs.
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// `family --watch SECONDS`: a table every SECONDS on stdout; Ctrl-C (SIGINT) ends it, and
/// the last table is printed once more as the outcome. A closed stdout ends it too.
fn family_watch(pid: i32, secs: u64, threads: usize) -> anyhow::Result<Outcome> {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    use std::io::Write;
    use std::sync::atomic::Ordering;
    let action = SigAction::new(
        SigHandler::Handler(on_interrupt),
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe { sigaction(Signal::SIGINT, &action) }
        .map_err(|e| anyhow::anyhow!("cannot catch SIGINT: {e}"))?;
    let mut last = String::new();
    let mut comm = String::new();
    let mut previous: Option<family::FamilyReport> = None;
    loop {
        let report = match family::family(pid, threads) {
            Ok(r) => r,
            // The root exited (or could no longer be read) while watched: the last table is
            // the answer, printed again, with what happened.
            Err(e) if !last.is_empty() => {
                let message = match e {
                    Error::NoSuchProcess { .. } => format!(
                        "pid {pid} ({comm}) exited while watched: the last table, printed again \
                         above, is its family's last reading"
                    ),
                    e => format!(
                        "pid {pid} ({comm}) can no longer be read ({e}): the last table is \
                         printed again above"
                    ),
                };
                return Ok(Outcome {
                    stdout: last,
                    stderr: vec![message],
                    code: EXIT_ERROR,
                });
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(root) = report.processes.first() {
            comm.clone_from(&root.comm);
        }
        last = text::render_family(&report);
        if let Some(prev) = &previous {
            last.push('\n');
            last.push_str(&text::render_family_change(prev, &report, secs));
        }
        previous = Some(report);
        let mut out = std::io::stdout().lock();
        if writeln!(out, "{last}").and_then(|_| out.flush()).is_err() {
            return Ok(Outcome::ok(String::new(), 0));
        }
        drop(out);
        let until = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        while std::time::Instant::now() < until {
            if INTERRUPTED.load(Ordering::SeqCst) {
                return Ok(Outcome::ok(last, 0));
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference page's vocabulary tables say exactly what the code says.
    #[test]
    fn reference_tables_match_the_code() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/src/reference.md");
        let page = std::fs::read_to_string(path).expect("reference.md");
        for s in PageState::ALL {
            let row = format!("| `{}` | {} |", s.name(), s.meaning());
            assert!(page.contains(&row), "reference.md lacks the row {row}");
        }
        for v in Verdict::ALL {
            let row = format!("| `{}` | {} |", v.name(), v.meaning());
            assert!(page.contains(&row), "reference.md lacks the row {row}");
        }
        let help = vocabulary();
        for s in PageState::ALL {
            assert!(help.contains(s.meaning()));
        }
        for c in crate::sharing::MemClass::ALL {
            let row = format!("| `{}` | {} |", c.name(), c.meaning());
            assert!(page.contains(&row), "reference.md lacks the row {row}");
        }
        for (word, meaning) in crate::sharing::COST_WORDS
            .iter()
            .chain(&crate::sharing::GROUP_WORDS)
            .chain(&crate::sharing::LIBS_GROUP_WORDS)
        {
            let row = format!("| `{word}` | {meaning} |");
            assert!(page.contains(&row), "reference.md lacks the row {row}");
        }
        for i in Inheritance::ALL {
            let row = format!("| `{}` | {} |", i.name(), i.meaning());
            assert!(page.contains(&row), "reference.md lacks the row {row}");
            assert!(inheritance_words().contains(i.meaning()));
        }
    }
}
