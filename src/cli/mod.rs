//! The command line. Each command function goes parse → resolve → run → render: clap
//! parses the flags ([`args`]), [`resolve`] turns them into what the command takes, the
//! command in [`crate::commands`] makes its report, and [`crate::output`] renders it.
//! Everything solab prints on stdout goes through one [`Stdout`], which handles a closed
//! pipe once; `run` returns the messages for stderr and the [`ExitCode`].

mod args;
mod exporter;
mod habits;
mod recording;
mod resolve;
mod top;
mod watch;

use args::{ByFlag, FamilyFlags, LibsSortFlag, PsFlags, PsSortFlag, UnitFlag};
pub use args::{Cli, Command, ProcessArgs, ScanArgs, TableArgs, inheritance_words, vocabulary};
pub use habits::{OTHER_TOOLS, OTHER_TOOLS_INTRO, OTHER_TOOLS_TITLE};

use crate::commands::group_key::GroupBy;
use crate::commands::inspect::{self, InspectOptions};
use crate::commands::libs::{self, LibsOptions};
use crate::commands::prove;
use crate::commands::ps::{self, PsKey, PsOptions};
use crate::commands::{elf, family};
use crate::error::{Error, ErrorKind};
use crate::output::terminal::{self, Style};
use crate::output::{self, ErrorEntry, ErrorReport, WithMatched, text};
use crate::scan::pattern::check_pattern;
use crate::scan::{PidError, Scope};
use resolve::{inspected_pids, libs_scope, svg_to_stdout, user_id};
use std::path::{Path, PathBuf};

/// How a run ended, as the process's exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCode {
    /// Everything asked was done (and every claim holds).
    Ok = 0,
    /// `prove`: a claim fails.
    ClaimFails = 1,
    /// An error, bad input, or a given pid that could not be read.
    Error = 2,
    /// `prove --strict`: the evidence is weak (no frame numbers).
    Inconclusive = 3,
}

impl ExitCode {
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// solab's standard output, the one way anything reaches it. The first write that fails
/// (a closed pipe: EPIPE) marks it closed, and later writes are dropped: the exit code
/// still says how the run went.
pub struct Stdout {
    out: std::io::StdoutLock<'static>,
    closed: bool,
}

impl Default for Stdout {
    fn default() -> Self {
        Stdout::new()
    }
}

impl Stdout {
    pub fn new() -> Stdout {
        Stdout {
            out: std::io::stdout().lock(),
            closed: false,
        }
    }

    /// Writes `text` and flushes it. False once stdout is closed.
    pub fn print(&mut self, text: &str) -> bool {
        use std::io::Write;
        self.stream(|out| out.write_all(text.as_bytes()).and_then(|()| out.flush()))
    }

    /// Lets `write` write a document as it is built (and flush it). False once stdout is
    /// closed.
    pub fn stream(
        &mut self,
        write: impl FnOnce(&mut std::io::StdoutLock<'static>) -> std::io::Result<()>,
    ) -> bool {
        if !self.closed && write(&mut self.out).is_err() {
            self.closed = true;
        }
        !self.closed
    }
}

/// What a command produced: text for stdout (empty when it wrote its document itself,
/// through [`Stdout`]), messages for stderr, an exit code.
pub struct Outcome {
    pub stdout: String,
    pub stderr: Vec<String>,
    pub code: ExitCode,
}

impl Outcome {
    fn ok(stdout: String, code: ExitCode) -> Outcome {
        Outcome {
            stdout,
            stderr: Vec::new(),
            code,
        }
    }
}

/// What is left once stdout is written: the messages for stderr and the exit code.
pub struct Ended {
    pub stderr: Vec<String>,
    pub code: ExitCode,
}

impl Outcome {
    /// Writes the text for stdout; what is left is for stderr and the exit status.
    fn print(self, stdout: &mut Stdout) -> Ended {
        if !self.stdout.is_empty() {
            stdout.print(&self.stdout);
        }
        Ended {
            stderr: self.stderr,
            code: self.code,
        }
    }
}

/// Runs the command. An error is printed once on stderr and, with `--json`, as one JSON
/// document on stdout; the exit code is the same either way.
pub fn run(cli: Cli, stdout: &mut Stdout) -> Ended {
    let name = cli.command.name();
    let as_json = cli.command.json();
    let style = Style {
        color: terminal::color_wanted(cli.no_color),
    };
    let outcome = match dispatch(cli.command, style, stdout) {
        Ok(o) => o,
        Err(e) => failed(name, as_json, &e),
    };
    outcome.print(stdout)
}

/// What a command that failed prints: its error once on stderr and, with `--json`, as the
/// one JSON error document.
fn failed(name: &str, as_json: bool, e: &anyhow::Error) -> Outcome {
    let message = format!("{e:#}");
    let kind = e.downcast_ref::<Error>().map_or(ErrorKind::Io, Error::kind);
    Outcome {
        stdout: if as_json {
            output::json(&ErrorReport {
                schema: output::ERROR_SCHEMA,
                command: name.into(),
                exit_code: ExitCode::Error.code(),
                errors: vec![ErrorEntry {
                    kind,
                    message: message.clone(),
                }],
            })
        } else {
            String::new()
        },
        stderr: vec![message],
        code: ExitCode::Error,
    }
}

/// The command's function, its flags handed over. Over 120 lines: one arm per subcommand,
/// each only naming its flags and handing them to the command's function.
fn dispatch(command: Command, style: Style, stdout: &mut Stdout) -> anyhow::Result<Outcome> {
    match command {
        Command::Elf { file, json } => elf_cmd(&file, json),
        Command::Inspect {
            procs,
            object,
            pages,
            json,
            svg,
        } => inspect_cmd(&procs, object, pages, json, svg, style, stdout),
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
            csv,
        } => match by {
            Some(by) => libs_by_cmd(all, &procs, by, sort, &table, scan.threads, (json, csv)),
            None => libs_cmd(
                LibsScan {
                    all,
                    procs: &procs,
                    scan: &scan,
                },
                object,
                sort,
                &table,
                (json, csv),
                style,
            ),
        },
        Command::Ps(f) => ps_cmd(&f),
        Command::Top {
            procs,
            command,
            sort,
            reverse,
            delay,
            iterations,
            rows,
            wide,
            show,
            scan,
        } => top::top_cmd(
            top::TopArgs {
                procs,
                command,
                sort,
                reverse,
                delay,
                iterations,
                rows,
                wide,
                show,
                threads: scan.threads,
            },
            stdout,
        ),
        Command::Family(f) => family_route(f, stdout),
        Command::Exporter(a) => exporter::exporter_cmd(&a, stdout),
    }
}

/// `solab family`: its root resolved (`--up`), then once, watched or recorded.
fn family_route(f: FamilyFlags, stdout: &mut Stdout) -> anyhow::Result<Outcome> {
    let view = match (f.mappings, f.top) {
        (_, Some(n)) => text::FamilyView::Top(usize::try_from(n).unwrap_or(usize::MAX)),
        (true, None) => text::FamilyView::Mappings,
        (false, None) => text::FamilyView::Summary,
    };
    let root = if f.up { family_root(f.pid) } else { f.pid };
    let threads = f.scan.threads;
    match (f.watch, f.record) {
        (_, Some(secs)) => recording::record_cmd(
            root,
            secs,
            recording::Shown {
                json: f.json,
                callers: f.callers,
                folded: f.folded,
                lines: f.lines,
                svg: f.svg,
                watch: f.watch,
            },
            threads,
            stdout,
        ),
        (Some(_), None) if f.json => Err(Error::Usage(
            "--json goes with --watch only with --record (each interval in the one document)"
                .into(),
        )
        .into()),
        (Some(secs), None) => watch::family_watch(
            root,
            (secs, f.iterations),
            threads,
            (view, if f.wide { None } else { terminal::width() }),
            stdout,
        ),
        (None, None) => family_cmd(&f, root, view),
    }
}

/// A command line clap refused (or `--help`, `--version`): clap's text as usual, and with
/// `--json` among the arguments also the one JSON error document, so scripts get JSON.
pub fn usage_error(e: clap::Error, stdout: &mut Stdout) -> Ended {
    use clap::error::ErrorKind as Clap;
    let code = match e.exit_code() {
        0 => ExitCode::Ok,
        _ => ExitCode::Error,
    };
    if matches!(e.kind(), Clap::DisplayHelp | Clap::DisplayVersion)
        || !std::env::args().any(|a| a == "--json")
    {
        // clap's own text (help and version on stdout, with its colours on a terminal).
        let _ = e.print();
        return Ended {
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
            exit_code: ExitCode::Error.code(),
            errors: vec![ErrorEntry {
                kind: ErrorKind::Usage,
                message: message.clone(),
            }],
        }),
        stderr: vec![message],
        code: ExitCode::Error,
    }
    .print(stdout)
}

fn elf_cmd(file: &Path, as_json: bool) -> anyhow::Result<Outcome> {
    let report = elf::elf(file)?;
    Ok(Outcome::ok(
        if as_json {
            output::json(&report)
        } else {
            text::render_elf(&report)
        },
        ExitCode::Ok,
    ))
}

fn inspect_cmd(
    procs: &ProcessArgs,
    object: Option<String>,
    pages: bool,
    as_json: bool,
    svg: Option<PathBuf>,
    style: Style,
    stdout: &mut Stdout,
) -> anyhow::Result<Outcome> {
    let to_stdout = svg_to_stdout(as_json, svg.as_deref())?;
    let inspected = inspected_pids(procs, object.as_deref())?;
    let scope = &inspected.scope;
    let scan = inspect::scan(&InspectOptions {
        scope: scope.clone(),
        object: object.clone(),
        only_mapping: inspected.only_mapping,
    })?;
    if let Some(pat) = &object
        && inspected.only_mapping
        && scan.chosen.is_empty()
    {
        return Err(inspected
            .none_maps(pat, procs, &scan.unmatched, &scan.unreadable)
            .into());
    }
    let (mut head, objects, unmatched) = (scan.head, scan.objects, scan.unmatched);
    let (stderr, mut code) = not_read(scope, &mut head.errors);
    // A pattern that matched only objects solab had to skip is not "no match": the report
    // lists them with the reason.
    if let Some(pat) = &object
        && objects.is_empty()
        && head.skipped.is_empty()
        && !head.processes.is_empty()
    {
        return Err(inspect::no_match(pat, &head, &unmatched).into());
    }
    if head.processes.is_empty() {
        code = ExitCode::Error;
        // Nothing to show but why: the messages on stderr (and the JSON's errors).
        if !as_json && svg.is_none() && !stderr.is_empty() && scope.listed() {
            return Ok(Outcome {
                stdout: String::new(),
                stderr,
                code,
            });
        }
    }
    let matched = objects.paths();
    let matched = object.is_some().then_some(matched.as_slice());
    if as_json && svg.is_none() {
        // Written as it is built: everything that can fail was read by now, so stdout gets
        // exactly one document (a closed stdout ends the writing, quietly).
        let report = head.with_objects(objects);
        stdout.stream(|out| {
            output::write_json(
                out,
                &WithMatched {
                    report: &report,
                    matched,
                },
            )
        });
        return Ok(Outcome {
            stdout: String::new(),
            stderr,
            code,
        });
    }
    // The picture needs every page at once: the report is built whole.
    let report = inspect::Scan {
        head,
        objects,
        chosen: Vec::new(),
        unmatched: Default::default(),
        unreadable: Vec::new(),
    }
    .into_report();
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
                        candidates: &[],
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

fn prove_cmd(
    object: String,
    procs: &ProcessArgs,
    strict: bool,
    as_json: bool,
    style: Style,
) -> anyhow::Result<Outcome> {
    let inspected = inspected_pids(procs, Some(&object))?;
    let proof = prove::run(&prove::ProveConfig {
        object,
        scope: inspected.scope,
        only_mapping: inspected.only_mapping,
        user: procs.user.clone(),
    })?;
    let (code, inconclusive) = match proof.outcome(strict) {
        prove::ProofOutcome::Holds => (ExitCode::Ok, None),
        prove::ProofOutcome::Fails => (ExitCode::ClaimFails, None),
        prove::ProofOutcome::Inconclusive(why) => (ExitCode::Inconclusive, Some(why)),
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
    sort: LibsSortFlag,
    table: &TableArgs,
    (as_json, csv): (bool, bool),
    style: Style,
) -> anyhow::Result<Outcome> {
    use std::io::IsTerminal;
    if let Some(p) = &object {
        check_pattern(p)?;
    }
    let scope = libs_scope(all, procs)?;
    let progress = !scope.listed() && !as_json && std::io::stderr().is_terminal();
    let policy = scope.clone();
    let libs::LibsTable {
        mut report,
        hidden,
        matched,
        candidates,
    } = libs::table(
        &LibsOptions {
            scope,
            progress,
            threads: scan.threads,
        },
        &libs::LibsOrder {
            object: object.clone(),
            key: sort.into(),
            reverse: table.reverse,
            top: table.top_or_all_for_json(as_json || csv),
        },
    )?;
    let (stderr, code) = not_read(&policy, &mut report.errors);
    Ok(Outcome {
        stdout: if as_json {
            output::json(&WithMatched {
                report: &report,
                matched: matched.as_deref(),
            })
        } else if csv {
            text::render_libs_csv(&report)
        } else {
            text::render_libs(
                &report,
                &text::LibsView {
                    hidden,
                    bytes: table.bytes,
                    width: table.width(),
                    style,
                    matched: object.as_deref().map(|pattern| text::Matched {
                        pattern,
                        paths: matched.as_deref().unwrap_or_default(),
                        candidates: &candidates,
                    }),
                },
            )
        },
        stderr,
        code,
    })
}

/// What stderr says of the processes a report names as not read (`errors`, settled by
/// [`Scope::settle`]), and the exit code they make: each message of those that fail the
/// run (pids given); of the others, the ones solab may not read, named on one line per
/// kind of failure (a process that exited is not news: the report counts it).
fn not_read(scope: &Scope, errors: &mut Vec<PidError>) -> (Vec<String>, ExitCode) {
    let failed: Vec<String> = scope
        .settle(errors)
        .iter()
        .map(|e| e.message.clone())
        .collect();
    if !failed.is_empty() {
        return (failed, ExitCode::Error);
    }
    let mut kinds: Vec<ErrorKind> = Vec::new();
    for e in errors.iter() {
        if e.kind != ErrorKind::NoSuchProcess && !kinds.contains(&e.kind) {
            kinds.push(e.kind);
        }
    }
    let notes = kinds
        .into_iter()
        .map(|kind| {
            let of_kind: Vec<&PidError> = errors.iter().filter(|e| e.kind == kind).collect();
            unread_line(&of_kind)
        })
        .collect();
    (notes, ExitCode::Ok)
}

/// The most pids [`unread_line`] lists (`--json` names every one).
const UNREAD_LISTED: usize = 20;

/// One line naming processes that could not be read for one kind of reason, with the
/// first one's message as the example of why.
fn unread_line(errors: &[&PidError]) -> String {
    if let [one] = errors {
        return format!("not read: {}", one.message);
    }
    let why = errors.first().map_or("", |e| e.message.as_str());
    format!(
        "not read: {} ({}): pids {}; the first: {why}",
        text::count_of(errors.len() as u64, "process", "processes"),
        errors.first().map_or(String::new(), |e| kind_word(e.kind)),
        pid_list(errors.iter().map(|e| e.pid)),
    )
}

/// The pids of processes not read, the first [`UNREAD_LISTED`] of them and how many more.
fn pid_list(pids: impl ExactSizeIterator<Item = i32>) -> String {
    let n = pids.len();
    let mut shown: Vec<String> = pids.take(UNREAD_LISTED).map(|p| p.to_string()).collect();
    if n > UNREAD_LISTED {
        shown.push(format!("and {} more", n - UNREAD_LISTED));
    }
    shown.join(", ")
}

/// An error kind as scripts see it in the JSON (`permission-denied`...).
fn kind_word(kind: ErrorKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// `solab libs --by WHAT`.
fn libs_by_cmd(
    all: bool,
    procs: &ProcessArgs,
    by: ByFlag,
    sort: LibsSortFlag,
    table: &TableArgs,
    threads: usize,
    (as_json, csv): (bool, bool),
) -> anyhow::Result<Outcome> {
    let scope = libs_scope(all, procs)?;
    let policy = scope.clone();
    let libs::by_group::GroupsTable { mut report, hidden } = libs::by_group::table(
        &LibsOptions {
            scope,
            progress: false,
            threads,
        },
        by.into(),
        sort.into(),
        table.reverse,
        table.top_or_all_for_json(as_json || csv),
    )?;
    let (stderr, code) = not_read(&policy, &mut report.errors);
    Ok(Outcome {
        stdout: if as_json {
            output::json(&report)
        } else if csv {
            text::render_libs_groups_csv(&report)
        } else {
            text::render_libs_groups(
                &report,
                &text::LibsGroupsView {
                    hidden,
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
/// `--command REGEX` of `ps` and `top`.
fn command_regex(command: Option<&str>) -> anyhow::Result<Option<regex::Regex>> {
    Ok(command
        .map(regex::Regex::new)
        .transpose()
        .map_err(|e| Error::Usage(format!("--command: {e}")))?)
}

/// `--sort` of `ps` and `top`: a group's column needs groups.
fn ps_key(sort: PsSortFlag, by: Option<ByFlag>) -> anyhow::Result<PsKey> {
    let key = PsKey::from(sort);
    if key.group_only() && by.is_none() {
        return Err(Error::Usage(format!(
            "--sort {}: a group's column; give --by too",
            clap::ValueEnum::to_possible_value(&sort)
                .map_or(String::new(), |v| v.get_name().to_string())
        ))
        .into());
    }
    Ok(key)
}

/// How `ps` and `top` write sizes: `--unit`, else `-b`, else human.
fn size_unit(unit: Option<UnitFlag>, bytes: bool) -> text::SizeUnit {
    match (unit, bytes) {
        (Some(UnitFlag::K), _) => text::SizeUnit::Kib,
        (Some(UnitFlag::M), _) => text::SizeUnit::Mib,
        (Some(UnitFlag::G), _) => text::SizeUnit::Gib,
        (None, true) => text::SizeUnit::Bytes,
        (None, false) => text::SizeUnit::Human,
    }
}

/// `--percent`: the machine's memory, or an error saying it could not be read.
fn mem_total(percent: bool) -> anyhow::Result<Option<u64>> {
    if !percent {
        return Ok(None);
    }
    match crate::kernel::mem_total() {
        Some(t) => Ok(Some(t)),
        None => Err(anyhow::anyhow!(
            "--percent: MemTotal of /proc/meminfo cannot be read"
        )),
    }
}

/// `solab ps`. Without pids (or with -a) every process; `-u` keeps ps's meaning: a
/// filter, its leftovers counted as filtered out; alone it scans every process and keeps
/// the user's.
fn ps_cmd(a: &PsFlags) -> anyhow::Result<Outcome> {
    let command = command_regex(a.command.as_deref())?;
    let key = ps_key(a.sort, a.by)?;
    let uid = a.procs.user.as_deref().map(user_id).transpose()?;
    let pids = a.procs.listed();
    let by = a.by.map(GroupBy::from);
    // ps's -u is a filter, not a scope: the policy for what could not be read is that of
    // the pids given, or of every process.
    let policy = Scope::resolve(&pids, None, true).unwrap_or(Scope::All);
    let mem_total = mem_total(a.show.percent)?;
    if a.table.bytes && a.show.unit.is_some() {
        return Err(Error::Usage("--bytes and --unit: give one".into()).into());
    }
    let ps::PsTable { mut report, hidden } = ps::ps(&PsOptions {
        all: pids.is_empty(),
        pids,
        uid,
        command,
        placement: a.json || by.is_some_and(|b| b.needs_cgroup()),
        cmdline: a.show.cmdline,
        threads: a.scan.threads,
        by,
        order: ps::PsOrder {
            key,
            reverse: a.table.reverse,
            top: a.table.top_or_all_for_json(a.json || a.csv),
        },
    })?;
    let (stderr, code) = not_read(&policy, &mut report.errors);
    let counts = &report.counts;
    let none_read = counts.scanned + counts.filtered_out == 0 && code == ExitCode::Error;
    let view = text::PsView {
        hidden,
        unit: size_unit(a.show.unit, a.table.bytes),
        width: a.table.width(),
        no_header: a.no_header,
        totals_only: a.totals,
        cmdline: a.show.cmdline,
        mem_total,
        all_rows_flag: None,
        sort: Some(key),
    };
    Ok(Outcome {
        stdout: if a.json {
            output::json(&report)
        } else if none_read {
            // No table of nothing before the error: the messages say what went wrong.
            String::new()
        } else if a.csv {
            text::render_ps_csv(&report, &view)
        } else {
            text::render_ps(&report, &view)
        },
        stderr,
        code,
    })
}

/// `family --up`: the root of `pid`'s fork family, its highest ancestor running the same
/// executable (`pid` itself when that cannot be read: the read that follows says why).
fn family_root(pid: i32) -> i32 {
    crate::commands::prove::families::fork_top(pid).unwrap_or(pid)
}

/// `solab family` read once, of `root` (the pid given, or with `--up` its fork family's
/// root), shown as `view` says.
fn family_cmd(f: &FamilyFlags, root: i32, view: text::FamilyView) -> anyhow::Result<Outcome> {
    let (as_json, csv, threads) = (f.json, f.csv, f.scan.threads);
    let svg = f.svg.as_deref();
    // With `--up`: the pid given, whose fork family `root` is.
    let asked = f.up.then_some(f.pid);
    let width = if f.wide { None } else { terminal::width() };
    let to_stdout = svg_to_stdout(as_json, svg)?;
    let (report, pictures) = match svg {
        Some(_) => family::family_pictured(root, threads)?,
        None => (family::family(root, threads)?, Default::default()),
    };
    let text = !(to_stdout || as_json || csv);
    let leaf = text.then(|| family::leaf(&report)).flatten();
    let stderr: Vec<String> = report.errors.iter().map(|e| e.message.clone()).collect();
    let code = if report.errors.is_empty() {
        ExitCode::Ok
    } else {
        ExitCode::Error
    };
    if let Some(path) = svg.filter(|_| !to_stdout) {
        std::fs::write(path, output::svg::render_family(&report, &pictures))
            .map_err(|e| Error::io(path, e))?;
    }
    Ok(Outcome {
        stdout: if to_stdout {
            output::svg::render_family(&report, &pictures)
        } else if as_json {
            output::json(&report)
        } else if csv {
            text::render_family_csv(&report)
        } else {
            family_text(&report, asked, (view, width), leaf.as_ref())
        },
        stderr,
        code,
    })
}

/// The text of `solab family`: with `--up`, which process's family it is first; for a
/// process without children ([`family::Leaf`]), whose child it is and its fork family's
/// root after.
fn family_text(
    report: &family::FamilyReport,
    asked: Option<i32>,
    (view, width): (text::FamilyView, Option<usize>),
    leaf: Option<&family::Leaf>,
) -> String {
    let mut out = String::new();
    if let Some(asked) = asked.filter(|&a| a != report.root) {
        out.push_str(&format!(
            "the fork family of {asked}: its highest ancestor running the same executable is {}\n",
            report.root
        ));
    }
    let mut out = text::wrap(&out, width);
    out.push_str(&text::render_family_fitted(report, view, width));
    if let Some(leaf) = leaf {
        out.push_str(&text::wrap(
            &text::render_family_leaf(
                leaf.pid,
                (leaf.parent.0, &leaf.parent.1),
                leaf.top.as_ref().map(|(t, comm)| (*t, comm.as_str())),
            ),
            width,
        ));
    }
    out
}
