//! The command line as clap parses it: the flags, their help texts, and the words `--help`
//! defines.

use crate::commands::group_key::GroupBy;
use crate::commands::libs::SortKey;
use crate::commands::ps::PsKey;
use crate::commands::record::{Attributed, Change};
use crate::output::terminal;
use crate::sharing::{Inheritance, PageState, Verdict};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

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
free, but for file pages, which stay in the page cache), SWAP (each page in swap divided
among the page tables holding its swap entry: the kernel's SwapPss; beside it, when there
is swap, SWAP-USS: the entries held only here), and the PSS split into ELF objects (file
mappings, .bss tails, the vdso), anonymous memory (heap, stacks, arenas), MAP_SHARED
memory (the shared section, /dev/shm) and other files. Totals at the end cover every
process that matched.

As root (CAP_SYS_ADMIN) the figures are counted from page frame numbers and
/proc/kpagecount (the zero page and PFN-mapped pages are not counted). Without it they are
the kernel's smaps figures, marked weak (~).";

const TOP_ABOUT: &str = "The table of ps refreshed every few seconds, with what changed.

Every --delay seconds (2) the processes are scanned again, as solab ps scans them (the same
figures, one scan per table), and the table is drawn sorted by the chosen column, with two
more columns after it: DELTA, its change since the previous table, and SINCE-START, since
the first table (or since the process appeared).

On a terminal the table is redrawn in place on the alternate screen until q or Ctrl-C (the
screen is given back as it was); keys change the sort. Piped, or with --iterations N, N
tables are printed one after the other and solab exits 0, as top -b -n N does.";

const FAMILY_ABOUT: &str = "A process and its descendants: what fork still shares.

For each child, per private mapping it has at the same address as its parent (heap,
anonymous arenas, each object's data, stacks), its anonymous pages: still the parent's
frame, copied since fork (one side wrote), or new. One row per process, tree-indented,
and the family's total; --mappings or --top N add each child's mappings.

As root the frames are compared; without CAP_SYS_ADMIN only pagemap bit 56 is seen, and
pages with the bit clear in child and parent are counted as looks-inherited (weak).";

const EXPORTER_ABOUT: &str = "Solab's figures for Prometheus.

One reading of the machine, in the Prometheus text format (OpenMetrics when the scraper asks
for it): per group of processes (--by) RSS, PSS, USS and swap and, as root, the group's
frames ALONE, ONLY and WITH-REST; per shared object (--libs) its resident memory, distinct
frames and memory saved; per pre-fork family (found as `prove` finds them, --families, or
named with --family) what each member still shares with its parent; and the scan's own
duration, processes met and evidence. Metric names begin with solab_ and end with their unit.

Label values (command names, cgroup and object paths, chosen by other users) are escaped as
the format requires and cut to 128 bytes; the label sets are bounded by --groups, --libs and
--families (or the families given), at most 64 workers a family. Without CAP_SYS_ADMIN every
figure is weak (solab_evidence says so).";

/// The words of `solab family`, with their one definition.
pub fn inheritance_words() -> String {
    let mut s = String::from("Pages of a child (solab family):\n");
    for i in Inheritance::ALL {
        s.push_str(&format!("  {:<16} {}\n", i.name(), i.meaning()));
    }
    s.push_str("How a child is known to be forked (fork), and memory shared by design:\n");
    for (word, meaning) in crate::sharing::FAMILY_WORDS {
        s.push_str(&format!("  {word:<16} {meaning}\n"));
    }
    s.push_str("The table's columns:\n");
    for (word, meaning) in crate::output::text::FAMILY_COLUMNS {
        s.push_str(&format!("  {word:<16} {meaning}\n"));
    }
    s.push_str("\nPages that changed while recorded (solab family --record):\n");
    for c in Change::ALL {
        s.push_str(&format!("  {:<16} {}\n", c.name(), c.meaning()));
    }
    s.push_str("Who changed them:\n");
    for a in Attributed::ALL {
        s.push_str(&format!("  {:<16} {}\n", a.name(), a.meaning()));
    }
    let (word, meaning) = crate::commands::record::CHAIN_STOPS;
    s.push_str(&format!("  {word:<16} {meaning}\n"));
    s
}

const OBJECT_HELP: &str = "Only objects whose path matches PATTERN: a glob on the full path when it has * ? or [ \
     (e.g. '*/libc.so*'), otherwise a part of the file name (or of the path when it has /); \
     a path or a command on PATH also matches the file it leads to (links followed); a memfd \
     matches only a pattern with memfd:";

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
    // A fixed place in every subcommand's help, whatever the number of subcommands (which
    // take their places from the same count).
    #[arg(long, global = true, display_order = 6)]
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
    /// The rows to show: -n's, else 25 for a table and all (0) for JSON.
    pub fn top_or_all_for_json(&self, json: bool) -> usize {
        self.top.unwrap_or(if json { 0 } else { 25 })
    }

    /// The width to fit, if any: the terminal's, unless --wide.
    pub fn width(&self) -> Option<usize> {
        if self.wide { None } else { terminal::width() }
    }
}

/// What `ps` and `top` show beside their figures, and how.
#[derive(Args, Debug, Clone, Default)]
pub struct PsShowArgs {
    /// The COMMAND column shows the command line (arguments joined by spaces, at most 4096
    /// bytes read, control characters escaped; `[comm]` when there is none, as for a
    /// kernel thread) instead of the 15-character command name; JSON gains `cmdline`
    #[arg(long)]
    pub cmdline: bool,
    /// Sizes in one unit: k (KiB), m (MiB) or g (GiB), one decimal [default: each size in
    /// the unit that fits it]
    #[arg(long, value_enum, value_name = "UNIT")]
    pub unit: Option<UnitFlag>,
    /// A PSS% column: PSS as a percentage of the machine's memory (MemTotal)
    #[arg(short = 'P', long)]
    pub percent: bool,
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
        /// The object (see PATTERN in inspect --help): of the mapped objects it matches, the
        /// closest (the whole path, then the whole file name, then a part); it must be one
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
                            solab libs -a --csv > libs.csv\n  \
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
        sort: LibsSortFlag,
        /// One row per user, command name, cgroup (v2) or container (cgroup and mount
        /// namespace), to see whether the same libraries really share memory across them:
        /// per group FRAMES (its objects' distinct frames: their cost alone), WITH-OTHERS
        /// (those another group maps too) and SAME-LIBS (its objects whose library, by
        /// build-id, another group maps too). Without CAP_SYS_ADMIN only SAME-LIBS and
        /// smaps sums (weak). JSON schema solab.libs-groups.v1
        #[arg(long, value_enum, value_name = "WHAT", conflicts_with = "object")]
        by: Option<ByFlag>,
        #[command(flatten)]
        table: TableArgs,
        #[command(flatten)]
        scan: ScanArgs,
        /// Print JSON (schema solab.libs.v2; with --by solab.libs-groups.v1)
        #[arg(long)]
        json: bool,
        /// CSV: a line of column names, then one line per object (with --by, per group);
        /// sizes in bytes, as ps --csv
        #[arg(long, conflicts_with = "json")]
        csv: bool,
    },
    /// What each process costs: RSS, PSS, USS and swap, split by ELF objects, anonymous
    /// memory, MAP_SHARED memory and other files
    #[command(
        long_about = PS_ABOUT,
        after_help = "Examples:\n  solab ps\n  \
                            solab ps -s uss -n 10\n  \
                            solab ps -u www-data -c '^nginx' --cmdline\n  \
                            solab ps --by container -s alone\n  \
                            solab ps -u nobody --by comm -b\n  \
                            solab ps --totals -H --unit m\n  \
                            solab ps -P --csv > ps.csv\n  \
                            solab ps -p $(pgrep -d, nginx) --json\n\n\
                            Without PIDs (or with -a) every process is scanned. Sizes are in \
                            KiB, MiB, GiB (powers of 1024), in one unit with --unit, or bytes \
                            with -b; JSON counts bytes. On a terminal the columns that split PSS \
                            (FILES, SHARED, ANON, then ELF) are left out while the table is \
                            wider than the terminal (a last line names them), and the last \
                            column (command, cgroup, container) is shortened from the left to \
                            fit; with -w, or when stdout is not a terminal, never.\n\n\
                            Exit status: 0 on success; 2 when a given pid could not be read \
                            (the others are still reported), on bad input (--by cgroup or \
                            container without cgroup v2) or on error. Without PIDs, processes \
                            that vanish or cannot be read are counted, not an error."
    )]
    Ps(PsFlags),
    /// The table of ps refreshed every few seconds, with what changed since the previous
    /// table and since the first
    #[command(
        long_about = TOP_ABOUT,
        after_help = "Examples:\n  solab top\n  \
                            solab top -s uss -d 1\n  \
                            solab top -u www-data --cmdline\n  \
                            solab top -n 3 -d 5 > memory.log\n\n\
                            Keys (on a terminal): q or Ctrl-C quit; s next sort column, S the \
                            previous; r smallest first or largest first.\n\n\
                            Exit status: 0 when the tables were printed (or q, Ctrl-C), 2 on \
                            bad input or error."
    )]
    Top {
        #[command(flatten)]
        procs: ProcessArgs,
        /// Only processes whose command name (comm) matches this regular expression
        #[arg(short = 'c', long, value_name = "REGEX")]
        command: Option<String>,
        /// Order by a column, as ps --sort (sizes largest first); DELTA and SINCE-START
        /// follow it (PSS when it is not a size)
        #[arg(short = 's', long, value_enum, default_value = "pss")]
        sort: PsSortFlag,
        /// Smallest first
        #[arg(short = 'r', long)]
        reverse: bool,
        /// Seconds between two tables (fractions allowed)
        #[arg(short = 'd', long, value_name = "SECONDS", default_value = "2",
              value_parser = parse_delay)]
        delay: f64,
        /// Print N tables one after the other and exit, as `top -b -n N` [default: on a
        /// terminal, until q; piped, 1]
        #[arg(short = 'n', long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        iterations: Option<u64>,
        /// Show only the first N rows (0: all) [default: as many as the terminal's height allows;
        /// all when the tables are printed one after the other]
        #[arg(long, value_name = "N")]
        rows: Option<usize>,
        /// Never leave out columns nor shorten commands to fit the terminal
        #[arg(short = 'w', long)]
        wide: bool,
        #[command(flatten)]
        show: PsShowArgs,
        #[command(flatten)]
        scan: ScanArgs,
    },
    /// A process and its descendants: per child and inherited mapping, the anonymous
    /// pages still the parent's frame, copied since fork, or new
    #[command(
        long_about = FAMILY_ABOUT,
        after_help = "Examples:\n  solab family $(pgrep -o nginx)\n  \
                            solab family --up $(pgrep -n nginx)\n  \
                            solab family --top 3 1234\n  \
                            solab family 1234 --json\n  \
                            solab family --watch 2 $(pgrep -o nginx)\n  \
                            solab family 1234 --svg family.svg\n  \
                            solab family --record 10 $(pgrep -o gunicorn) --callers\n\n\
                            Exit status: 0 on success (with --watch: ended by Ctrl-C); 2 when \
                            the process cannot be read (it does not exist, or exited: a family \
                            whose root exited is no family), when a descendant could not be \
                            (the others are still reported), or with --watch when the process \
                            exits while watched (the last table is printed again, and a \
                            message says so). A descendant that exits while watched leaves the \
                            next table.",
        after_long_help = inheritance_words()
    )]
    Family(FamilyFlags),
    /// Solab's figures for Prometheus: per group of processes, per shared object and per
    /// pre-fork family, on /metrics or once
    #[command(
        long_about = EXPORTER_ABOUT,
        after_help = "Examples:\n  solab exporter --listen 127.0.0.1:9877\n  \
                            solab exporter --once --by comm --libs 10\n  \
                            solab exporter --output /var/lib/prometheus/node-exporter/solab.prom\n  \
                            solab exporter --family $(pgrep -o nginx)\n\n\
                            Exit status: 0 on success (--listen runs until killed); 2 on \
                            error (the address cannot be bound, the file cannot be written, \
                            --by cgroup or container without cgroup v2)."
    )]
    Exporter(ExporterArgs),
}

/// `solab ps`'s flags, handed whole to its command function.
#[derive(Args, Debug, Clone)]
pub struct PsFlags {
    /// Scan every process on the machine (except solab itself), as without PIDs; with
    /// -u, every process of the user
    #[arg(short = 'a', long, conflicts_with_all = ["pids", "pid"])]
    pub all: bool,
    #[command(flatten)]
    pub procs: ProcessArgs,
    /// Only processes whose command name (comm) matches this regular expression
    #[arg(short = 'c', long, value_name = "REGEX")]
    pub command: Option<String>,
    /// Order by a column, sizes largest first, names and pids ascending (alone, only
    /// and with-rest need --by)
    #[arg(short = 's', long, value_enum, default_value = "pss")]
    pub sort: PsSortFlag,
    /// One row per user, command name, cgroup (v2) or container (cgroup and mount
    /// namespace, named docker, podman, containerd, flatpak or systemd unit where the
    /// cgroup path says it). As root each group's frames are counted once: ALONE (what
    /// it would cost alone), ONLY (freed if it exited) and WITH-REST (shared with
    /// processes outside it); without CAP_SYS_ADMIN the rows only sum smaps figures
    /// (weak)
    #[arg(long, value_enum, value_name = "WHAT")]
    pub by: Option<ByFlag>,
    #[command(flatten)]
    pub table: TableArgs,
    #[command(flatten)]
    pub show: PsShowArgs,
    /// No header: neither the lines that say what was scanned nor the column names
    #[arg(short = 'H', long, conflicts_with = "json")]
    pub no_header: bool,
    /// Only the TOTAL row (the header too, unless -H)
    #[arg(long)]
    pub totals: bool,
    /// CSV: a line of column names, then one line per process (or group), or with
    /// --totals the TOTAL line; sizes in bytes, or in --unit's unit
    #[arg(long, conflicts_with_all = ["json", "no_header"])]
    pub csv: bool,
    #[command(flatten)]
    pub scan: ScanArgs,
    /// Print JSON (schema solab.ps.v2)
    #[arg(long)]
    pub json: bool,
}

/// `solab family`'s flags, handed whole to its route.
#[derive(Args, Debug, Clone)]
pub struct FamilyFlags {
    /// The root process
    #[arg(value_name = "PID")]
    pub pid: i32,
    /// Print JSON (schema solab.family.v2; with --record, solab.family-record.v1, and
    /// with --watch too, its intervals in the one document)
    #[arg(long)]
    pub json: bool,
    /// Print CSV: a header, then one row per process (bytes), quoted as RFC 4180
    #[arg(long, conflicts_with_all = ["json", "watch", "record", "svg", "mappings", "top"])]
    pub csv: bool,
    /// After the table, per child each private mapping holding anonymous pages: still
    /// the parent's frame, copied, new
    #[arg(long, conflicts_with = "record")]
    pub mappings: bool,
    /// After the table, per child only its N mappings with the most copied + new
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..),
          conflicts_with_all = ["record", "mappings"])]
    pub top: Option<u64>,
    /// Read the fork family PID belongs to: from its highest ancestor running the same
    /// executable (PID itself when its parent runs another)
    #[arg(long)]
    pub up: bool,
    /// Never leave out columns nor shorten commands to fit the terminal (without it, on
    /// a terminal narrower than the table, SHARED-MEM then PARENT% are left out)
    #[arg(short = 'w', long)]
    pub wide: bool,
    /// Record the user page faults of every thread of the family (and of what it forks
    /// meanwhile) for SECONDS, read the family before and after, and give each page
    /// copied from the parent's frame (and each new page) in that window to the first
    /// fault on it and its call chain: bytes by innermost function (object!function)
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub record: Option<u64>,
    /// With --record: bytes by whole call chain, innermost function first
    #[arg(long, requires = "record")]
    pub callers: bool,
    /// With --record: the copied bytes as folded stacks (`a;b;c BYTES`, outermost
    /// first, for flamegraph.pl or inferno) instead of the table
    #[arg(long, requires = "record", conflicts_with_all = ["json", "watch"])]
    pub folded: bool,
    /// With --record: each frame named with its source file and line
    /// (`object!function (file:line)`) where the object, or its separate debug file,
    /// has DWARF; rows are then by line
    #[arg(long, requires = "record")]
    pub lines: bool,
    /// Read and print the family again every SECONDS, each table after the first
    /// followed by what changed since the one before, until Ctrl-C, which prints the
    /// last table once more and exits with status 0; if PID exits meanwhile, the last
    /// table is printed once more and the exit status is 2. With --record: every
    /// SECONDS of the recording, what was copied (and new) in that interval and by
    /// which functions, then the whole recording's table
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub watch: Option<u64>,
    /// With --watch: print N tables and exit 0, as `top -b -n N`
    #[arg(short = 'n', long, value_name = "N", requires = "watch",
          conflicts_with = "record", value_parser = clap::value_parser!(u64).range(1..))]
    pub iterations: Option<u64>,
    /// Also draw the family as SVG into FILE (`-`: to stdout, instead of the text): one
    /// band per inherited mapping, one row per process, each page coloured by what
    /// became of it since fork, from the same scan as the text or JSON. With --record:
    /// a flame graph (inferno's) of the bytes copied in the window, by call chain
    #[arg(long, value_name = "FILE", conflicts_with = "watch")]
    pub svg: Option<PathBuf>,
    #[command(flatten)]
    pub scan: ScanArgs,
}

/// `solab exporter`'s flags.
#[derive(Args, Debug, Clone)]
pub struct ExporterArgs {
    /// Print one exposition on stdout and exit (for node_exporter's textfile collector)
    #[arg(long, conflicts_with = "listen")]
    pub once: bool,
    /// Write one exposition to FILE and exit: written beside it, synced, then renamed over
    /// it, so that a reader never sees half of one
    #[arg(long, value_name = "FILE", conflicts_with_all = ["listen", "once"])]
    pub output: Option<PathBuf>,
    /// Serve /metrics over HTTP on ADDR:PORT (the default when neither --once nor --output
    /// is given: 127.0.0.1:9877, loopback only)
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    /// With --listen: scrapes within SECONDS of a scan get its exposition, and a scrape that
    /// comes while a scan runs waits for it
    #[arg(long, value_name = "SECONDS", default_value = "10")]
    pub min_interval: u64,
    /// One reading may take SECONDS (0.1 to 86400): past them no more processes are read, a
    /// memory map being read stops (its process counted unreadable), what was read is
    /// exported and solab_scan_truncated says so
    #[arg(long, value_name = "SECONDS", default_value = "8", value_parser = parse_delay)]
    pub deadline: f64,
    /// With --listen: once the socket is bound, become USER (a name or a uid) with no
    /// groups; without it the uid stays. Either way every capability but CAP_SYS_ADMIN,
    /// CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH is given up for good, and no exec gains any
    #[arg(long, value_name = "USER", conflicts_with_all = ["once", "output"])]
    pub user: Option<String>,
    /// What the groups are: user, comm, cgroup (v2) or container, as in `ps --by`
    #[arg(long, value_enum, value_name = "WHAT", default_value = "cgroup")]
    pub by: ByFlag,
    /// Export the first N groups by PSS one by one; the others are summed in the
    /// solab_other_groups_* metrics
    #[arg(long, value_name = "N", default_value = "50")]
    pub groups: usize,
    /// Export the first N shared objects by memory saved one by one (0: no objects, and no
    /// libs scan); the others are summed in the solab_other_objects_* metrics
    #[arg(long, value_name = "N", default_value = "20")]
    pub libs: usize,
    /// A pre-fork family to export, by its root's pid (repeatable): per member and in
    /// total, its anonymous memory still the parent's frame, copied or new, labelled by the
    /// root's command and cgroup and the member's command and index, not by pids
    #[arg(long = "family", value_name = "PID")]
    pub families: Vec<i32>,
    /// Without --family: find the pre-fork families as `prove` does (a root and the
    /// processes below it that forked from it without exec) and export the N with the most
    /// members (0: none); the others are counted in solab_other_families
    #[arg(long = "families", value_name = "N", default_value = "8")]
    pub find_families: usize,
    #[command(flatten)]
    pub scan: ScanArgs,
}

impl Command {
    pub(super) fn name(&self) -> &'static str {
        match self {
            Command::Elf { .. } => "elf",
            Command::Inspect { .. } => "inspect",
            Command::Prove { .. } => "prove",
            Command::Libs { .. } => "libs",
            Command::Ps(_) => "ps",
            Command::Family(_) => "family",
            Command::Exporter(_) => "exporter",
            Command::Top { .. } => "top",
        }
    }

    pub(super) fn json(&self) -> bool {
        match self {
            Command::Elf { json, .. }
            | Command::Inspect { json, .. }
            | Command::Prove { json, .. }
            | Command::Libs { json, .. } => *json,
            Command::Ps(f) => f.json,
            Command::Family(f) => f.json,
            Command::Exporter(_) => false,
            Command::Top { .. } => false,
        }
    }
}

/// `libs --sort`: the table's column names ([`SortKey`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LibsSortFlag {
    /// SAVED: memory saved by sharing (summed resident - distinct frames)
    Saved,
    /// RESIDENT: resident pages summed over the processes
    #[value(alias = "rss")]
    Resident,
    /// FRAMES: distinct frames
    Frames,
    /// PSS: proportional set size summed over the processes
    Pss,
    /// PROCS: processes mapping the object
    Procs,
    /// PRIVATE: private copies in the object's file mappings
    Private,
    /// OBJECT: the path (alphabetical)
    Object,
}

impl From<LibsSortFlag> for SortKey {
    fn from(f: LibsSortFlag) -> SortKey {
        match f {
            LibsSortFlag::Saved => SortKey::Saved,
            LibsSortFlag::Resident => SortKey::Resident,
            LibsSortFlag::Frames => SortKey::Frames,
            LibsSortFlag::Pss => SortKey::Pss,
            LibsSortFlag::Procs => SortKey::Procs,
            LibsSortFlag::Private => SortKey::Private,
            LibsSortFlag::Object => SortKey::Object,
        }
    }
}

/// `ps --sort`: the table's columns ([`PsKey`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PsSortFlag {
    Pid,
    User,
    Rss,
    Pss,
    Uss,
    Swap,
    /// PSS of ELF objects
    Elf,
    /// PSS of anonymous memory
    Anon,
    /// PSS of MAP_SHARED memory
    Shared,
    /// PSS of other files
    Files,
    #[value(alias = "comm")]
    Command,
    /// With --by: ALONE, the group's distinct frames
    Alone,
    /// With --by: ONLY, the group's frames no other process maps
    Only,
    /// With --by: WITH-REST, the group's frames other processes map too
    WithRest,
}

impl From<PsSortFlag> for PsKey {
    fn from(f: PsSortFlag) -> PsKey {
        match f {
            PsSortFlag::Pid => PsKey::Pid,
            PsSortFlag::User => PsKey::User,
            PsSortFlag::Rss => PsKey::Rss,
            PsSortFlag::Pss => PsKey::Pss,
            PsSortFlag::Uss => PsKey::Uss,
            PsSortFlag::Swap => PsKey::Swap,
            PsSortFlag::Elf => PsKey::Elf,
            PsSortFlag::Anon => PsKey::Anon,
            PsSortFlag::Shared => PsKey::Shared,
            PsSortFlag::Files => PsKey::Files,
            PsSortFlag::Command => PsKey::Command,
            PsSortFlag::Alone => PsKey::Alone,
            PsSortFlag::Only => PsKey::Only,
            PsSortFlag::WithRest => PsKey::WithRest,
        }
    }
}

/// `--unit` of `ps` and `top`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum UnitFlag {
    /// KiB (1024 bytes)
    K,
    /// MiB (1024 KiB)
    M,
    /// GiB (1024 MiB)
    G,
}

/// `top --delay`: a number of seconds, at least 0.1 (a scan takes longer than that).
fn parse_delay(s: &str) -> Result<f64, String> {
    let d: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if d.is_finite() && (0.1..=86400.0).contains(&d) {
        Ok(d)
    } else {
        Err(format!("{s}: give between 0.1 and 86400 seconds"))
    }
}

/// `--by` of `ps` and `libs` ([`GroupBy`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ByFlag {
    /// The real uid's name
    User,
    /// The command name (comm)
    Comm,
    /// The cgroup v2 path
    Cgroup,
    /// The cgroup v2 path and the mount namespace, named after the container the path
    /// names (docker, podman, containerd, flatpak, a systemd unit)
    Container,
}

impl From<ByFlag> for GroupBy {
    fn from(f: ByFlag) -> GroupBy {
        match f {
            ByFlag::User => GroupBy::User,
            ByFlag::Comm => GroupBy::Comm,
            ByFlag::Cgroup => GroupBy::Cgroup,
            ByFlag::Container => GroupBy::Container,
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
            .chain(&crate::sharing::FAMILY_WORDS)
            .chain(&crate::sharing::VIEW_WORDS)
        {
            let row = format!("| `{word}` | {meaning} |");
            assert!(page.contains(&row), "reference.md lacks the row {row}");
        }
        for i in Inheritance::ALL {
            let row = format!("| `{}` | {} |", i.name(), i.meaning());
            assert!(page.contains(&row), "reference.md lacks the row {row}");
            assert!(inheritance_words().contains(i.meaning()));
        }
        for (_, meaning) in crate::sharing::FAMILY_WORDS {
            assert!(inheritance_words().contains(meaning));
        }
        for (word, meaning) in crate::output::text::FAMILY_COLUMNS {
            let row = format!("| `{word}` | {meaning} |");
            assert!(page.contains(&row), "reference.md lacks the row {row}");
            assert!(inheritance_words().contains(meaning));
        }
        let recorded = Change::ALL
            .iter()
            .map(|c| (c.name(), c.meaning()))
            .chain(Attributed::ALL.iter().map(|a| (a.name(), a.meaning())))
            .chain([crate::commands::record::CHAIN_STOPS]);
        for (name, meaning) in recorded {
            let row = format!("| `{name}` | {meaning} |");
            assert!(page.contains(&row), "reference.md lacks the row {row}");
            assert!(inheritance_words().contains(meaning));
        }
    }
}
