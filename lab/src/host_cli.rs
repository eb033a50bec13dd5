//! solab-lab-host's command line, in the lab's library: tools/gen writes the
//! solab-lab-host(1) man page from it, and the man-page test reads its flags (it compiles
//! this file with `#[path]`, so the file needs nothing but clap).

use clap::Parser;
use std::path::PathBuf;

const ACTIONS: &str = "\
ACTIONS (run in order; each prints one line `lab-host pid=N action=VERB key=value ...`):
  status            is the .shared section shared? and why (solib_status)
  addrs             addresses in this process: load base, solib_add, its page, the
                    .shared, .data and .bss pages (ASLR makes them differ per process)
  touch             read one byte of every page of libsolib.so's segments, so every page
                    has a frame that solab can compare (untouched pages have none)
  touch-all         the same for every object loaded in this process (libc, ld.so...)
  open:PATH         also dlopen another library (the lab's text-relocation experiment)
  add:A,B           solib_add(A, B): writes the .data, .bss and .shared counters
  adds:N            N calls of solib_add(i, 1)
  clip-set:TEXT     put TEXT on the shared clipboard
  clip-get          read the clipboard
  clip-write:MS     write self-checking messages (length and checksum inside) for MS
                    milliseconds; counts those written and those refused (-1)
  counters          the .data, .bss and .shared counters
  clip-read:MS      read the clipboard for MS milliseconds, checking every message
  fork-as:UID:ACTION
                    fork; the child becomes UID (setuid, as root), runs ACTION, prints
                    its line with its own pid and exits; then this process prints
                    `action=fork-as child=PID exit=CODE`
  fork              fork a child that keeps this process's memory (the library at the
                    same address, its pages on the same frames until one side writes)
                    and dies with it; prints `action=fork child=PID`
  child:ACTION      run ACTION in that child; prints `action=child child=PID said
                    action=VERB ...` with the child's own line
  wait              print `action=wait`, then wait for one line on stdin
  serve             print `action=serve`, then run actions read from stdin, one per
                    line, until end of input or `exit`
  sleep:MS          sleep MS milliseconds
  unload            dlclose the library (the last process to unload removes the region);
                    still_loaded= says whether dlopen(RTLD_NOLOAD) still finds it (no: the
                    loader's reference count reached zero and it was unmapped)
  exit              exit now (normally: the library's destructor runs)

EXAMPLES:
  lab-host touch add:10,20 status wait
  lab-host clip-set:'hello from A' serve
  SOLIB_NAMESPACE=demo lab-host clip-get";

/// Load libsolib.so with dlopen and run actions on it, one output line per action.
#[derive(Parser, Debug)]
#[command(name = "solab-lab-host", version, after_help = ACTIONS)]
pub struct Cli {
    /// The library to load [default: $SOLIB_PATH, else libsolib.so beside this program or in
    /// its ../lib]
    #[arg(long, value_name = "PATH")]
    pub lib: Option<PathBuf>,
    /// The command name ps and solab show for this process (prctl PR_SET_NAME; 15 bytes at
    /// most) [default: solab-lab-host]
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Actions to run, in order (see ACTIONS below)
    #[arg(value_name = "ACTION")]
    pub actions: Vec<String>,
}
