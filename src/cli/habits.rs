//! For users of smem, ps_mem, procrank, pmap and top: their commands and flags, flag by
//! flag, with solab's way to the same answer (or why there is none). The man pages of
//! `solab`, `solab ps` and `solab top` carry it as a section (tools/gen), and README.md
//! points there.

/// The section's title in the man pages.
pub const OTHER_TOOLS_TITLE: &str = "FOR SMEM, PS_MEM, PROCRANK AND PMAP USERS";

/// What the section says before the flags.
pub const OTHER_TOOLS_INTRO: &str = "solab ps is the per-process table of smem, ps_mem and \
procrank, counted from page frames as root (exact PSS and USS, not the sums of smaps \
figures), and split by ELF objects, anonymous memory, MAP_SHARED memory and other files. \
Their flags map to solab's as follows: the same, different (and why), or missing.";

/// One row per flag: the other tool's command or flag, then solab's way and how it differs.
pub const OTHER_TOOLS: &[(&str, &str)] = &[
    (
        "smem",
        "solab ps: every process by default, as smem (solab ps -a is the same).",
    ),
    (
        "smem -u",
        "solab ps --by user; as root ALONE, ONLY and WITH-REST also count each user's frames once.",
    ),
    (
        "smem -m",
        "solab libs: one row per ELF object (processes, resident, distinct frames, saved); \
         anonymous memory and other files are in its totals.",
    ),
    (
        "smem -w",
        "missing: solab counts the memory of processes; solab ps --totals is their total, \
         /proc/meminfo has the kernel's.",
    ),
    (
        "smem -t",
        "the same: TOTAL is always the last row; --totals prints it alone.",
    ),
    ("smem -H", "the same: -H (--no-header)."),
    (
        "smem -k",
        "sizes are already in KiB, MiB or GiB as fits; --unit k|m|g fixes one unit, -b gives bytes.",
    ),
    (
        "smem -p",
        "-P (--percent) adds a PSS% column (of MemTotal) rather than turning every figure into a percentage.",
    ),
    (
        "smem -s COLUMN, -r",
        "the same: -s COLUMN and -r, but solab sorts largest first (smem smallest first).",
    ),
    (
        "smem -P REGEX",
        "-c REGEX, on the command name (comm); --cmdline shows the command line.",
    ),
    ("smem -U USER", "-u USER."),
    (
        "smem -c COLUMNS",
        "missing: the columns are fixed; --csv and --json carry every figure for other tools.",
    ),
    (
        "smem --pie, --bar",
        "missing; inspect --svg and family --svg draw the pages themselves.",
    ),
    (
        "ps_mem",
        "solab ps --by comm (ps_mem adds up the processes of each program).",
    ),
    (
        "ps_mem -p PID,...",
        "the same: -p PID,... (or PIDs as arguments).",
    ),
    (
        "ps_mem -s",
        "--cmdline: the command line in the COMMAND column; solab's -s is --sort.",
    ),
    ("ps_mem -t", "--totals (with -H: the TOTAL row alone)."),
    (
        "ps_mem -w N",
        "solab top -d N; solab's -w is --wide (never shorten).",
    ),
    (
        "ps_mem -d",
        "the default: one row per process; --by comm groups them.",
    ),
    (
        "ps_mem -S",
        "swap is always shown: SWAP (the kernel's SwapPss), and SWAP-USS as root when there is swap.",
    ),
    (
        "procrank",
        "solab ps -s pss (its default). VSS is not shown: address space is not memory.",
    ),
    (
        "procrank -p, -u, -r",
        "-s pss, -s uss, -s rss; procrank -R is -r.",
    ),
    (
        "procrank -c, -C, -k",
        "missing: page cache and kernel page flags are not separated (ELF and FILES are file-backed memory).",
    ),
    (
        "pmap PID, pmap -x PID",
        "solab ps PID splits its cost by ELF objects, anonymous, shared and other files; \
         solab inspect PID goes page by page through each ELF object; the mappings one by \
         one are not listed (pmap and /proc/PID/smaps have them).",
    ),
    (
        "top -b -n N -d S",
        "solab top -n N -d S (piped it prints the tables one after the other without -b).",
    ),
    (
        "top, htop keys",
        "in solab top: q quits, s and S step the sort column (top's s sets the delay; htop's are < and >), r reverses.",
    ),
];
