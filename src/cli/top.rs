//! `solab top`: the table of `ps` again every `--delay` seconds, one scan per table. Piped,
//! or with `--iterations`, the tables are printed one after the other (as `top -b`); on a
//! terminal the table is redrawn in place on the alternate screen and keys change the sort,
//! the terminal put back as it was on every way out (q, Ctrl-C, SIGTERM, SIGHUP, an error,
//! a panic).

use super::args::{PsShowArgs, PsSortFlag};
use super::{ExitCode, Outcome, ProcessArgs, Stdout, command_regex, mem_total, size_unit};
use crate::commands::ps::{self, PsKey, PsOptions};
use crate::output::terminal;
use crate::output::text;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// `solab top`'s flags.
pub(super) struct TopArgs {
    pub procs: ProcessArgs,
    pub command: Option<String>,
    pub sort: PsSortFlag,
    pub reverse: bool,
    pub delay: f64,
    pub iterations: Option<u64>,
    pub rows: Option<usize>,
    pub wide: bool,
    pub show: PsShowArgs,
    pub threads: usize,
}

/// Set by SIGINT, SIGTERM or SIGHUP while `top` runs.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// From now on SIGINT, SIGTERM and SIGHUP set [`STOP`] instead of ending solab, so that
/// the terminal is always put back.
fn catch_stop() -> anyhow::Result<()> {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    let action = SigAction::new(
        SigHandler::Handler(on_stop),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { sigaction(signal, &action) }
            .map_err(|e| anyhow::anyhow!("cannot catch {signal}: {e}"))?;
    }
    Ok(())
}

/// The columns `s` and `S` step through, in this order.
const SORT_CYCLE: [PsKey; 11] = [
    PsKey::Pss,
    PsKey::Uss,
    PsKey::Rss,
    PsKey::Swap,
    PsKey::Elf,
    PsKey::Anon,
    PsKey::Shared,
    PsKey::Files,
    PsKey::Pid,
    PsKey::User,
    PsKey::Command,
];

/// What one table needs besides the scan: the scan's options and how it is drawn.
struct Run {
    opts: PsOptions,
    view: text::PsView,
    rows: usize,
    delay: f64,
}

impl Run {
    /// Scans the processes once and draws the table, with what changed since `state`'s.
    fn table(&self, state: &mut text::TopState, keys: bool) -> anyhow::Result<String> {
        let table = ps::ps(&self.opts)?;
        Ok(text::render_top(
            &table.report,
            state,
            &text::TopView {
                ps: &self.view,
                key: self.opts.order.key,
                reverse: self.opts.order.reverse,
                rows: self.rows,
                delay: self.delay,
                keys,
            },
        ))
    }
}

/// `solab top`: on a terminal (stdin and stdout) without `--iterations`, the live view;
/// otherwise N tables (1 piped) one after the other.
pub(super) fn top_cmd(a: TopArgs, stdout: &mut Stdout) -> anyhow::Result<Outcome> {
    let command = command_regex(a.command.as_deref())?;
    let key = PsKey::from(a.sort);
    if key.group_only() {
        return Err(crate::error::Error::Usage(
            "--sort alone, only and with-rest are columns of ps --by; top shows processes".into(),
        )
        .into());
    }
    let uid = a.procs.user.as_deref().map(super::user_id).transpose()?;
    let pids = a.procs.listed();
    let live =
        a.iterations.is_none() && std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
    let mut run = Run {
        opts: PsOptions {
            all: pids.is_empty(),
            pids,
            uid,
            command,
            placement: false,
            cmdline: a.show.cmdline,
            threads: a.threads,
            by: None,
            // Every row is kept: the deltas need each process's figures every time.
            order: ps::PsOrder {
                key,
                reverse: a.reverse,
                top: 0,
            },
        },
        view: text::PsView {
            unit: size_unit(a.show.unit, false),
            width: if a.wide { None } else { terminal::width() },
            cmdline: a.show.cmdline,
            mem_total: mem_total(a.show.percent)?,
            ..Default::default()
        },
        rows: a.rows.unwrap_or(0),
        delay: a.delay,
    };
    catch_stop()?;
    if live {
        live_view(&mut run, a.rows.is_none(), a.wide, stdout)
    } else {
        batch(&run, a.iterations.unwrap_or(1), stdout)
    }
}

/// Sleeps `delay` seconds, or less when a stop signal comes; true when one came.
fn pause(delay: f64) -> bool {
    let until = Instant::now() + Duration::from_secs_f64(delay);
    while Instant::now() < until {
        if STOP.load(Ordering::SeqCst) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20).min(until - Instant::now()));
    }
    STOP.load(Ordering::SeqCst)
}

/// `n` tables one after the other, a blank line between two, `delay` seconds apart; a
/// stop signal or a closed stdout ends them early (status 0).
fn batch(run: &Run, n: u64, stdout: &mut Stdout) -> anyhow::Result<Outcome> {
    let mut state = text::TopState::default();
    for i in 0..n {
        if i > 0 && (pause(run.delay) || !stdout.print("\n")) {
            break;
        }
        let table = run.table(&mut state, false)?;
        if !stdout.print(&table) {
            break;
        }
    }
    Ok(Outcome::ok(String::new(), ExitCode::Ok))
}

/// The terminal while the live view runs: raw input (no echo, keys read one by one;
/// Ctrl-C still a signal), the alternate screen, no cursor. Dropping it puts back what
/// was there, whatever way the view ends (a panic too: solab unwinds).
struct Screen {
    saved: libc::termios,
}

impl Screen {
    fn enter(stdout: &mut Stdout) -> anyhow::Result<Screen> {
        // SAFETY: tcgetattr fills the termios given, a plain C struct.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        if unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut saved) } != 0 {
            return Err(anyhow::anyhow!(
                "cannot read the terminal's settings: {}",
                std::io::Error::last_os_error()
            ));
        }
        let mut raw = saved;
        raw.c_lflag &= !(libc::ICANON | libc::ECHO);
        raw.c_cc[libc::VMIN] = 0;
        raw.c_cc[libc::VTIME] = 0;
        // SAFETY: `raw` is a valid termios, a copy of the one the terminal had.
        if unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &raw) } != 0 {
            return Err(anyhow::anyhow!(
                "cannot set the terminal's settings: {}",
                std::io::Error::last_os_error()
            ));
        }
        let screen = Screen { saved };
        stdout.print("\x1b[?1049h\x1b[?25l");
        Ok(screen)
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        use std::io::Write;
        let mut out = std::io::stdout();
        let _ = out.write_all(b"\x1b[?25h\x1b[?1049l");
        let _ = out.flush();
        // SAFETY: `saved` is the termios tcgetattr gave.
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &self.saved) };
    }
}

/// The terminal's height in lines (24 when it does not say).
fn terminal_height() -> usize {
    // SAFETY: TIOCGWINSZ writes one `struct winsize` into the pointer given; `ws` is one.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) };
    if rc == 0 && ws.ws_row > 0 {
        usize::from(ws.ws_row)
    } else {
        24
    }
}

/// What a key asks of the live view.
enum Key {
    Quit,
    /// Scan and draw again now (the sort changed).
    Redraw,
    None,
}

/// Reads the keys typed (without waiting) and applies them to `run`.
fn keys(run: &mut Run) -> Key {
    let mut buf = [0u8; 64];
    // SAFETY: reads at most buf.len() bytes into buf.
    let n = unsafe { libc::read(libc::STDIN_FILENO, buf.as_mut_ptr().cast(), buf.len()) };
    let mut key = Key::None;
    for &b in buf.iter().take(n.max(0) as usize) {
        let order = &mut run.opts.order;
        let at = SORT_CYCLE.iter().position(|k| *k == order.key).unwrap_or(0);
        match b {
            b'q' | b'Q' => return Key::Quit,
            b's' => order.key = SORT_CYCLE[(at + 1) % SORT_CYCLE.len()],
            b'S' => order.key = SORT_CYCLE[(at + SORT_CYCLE.len() - 1) % SORT_CYCLE.len()],
            b'r' => order.reverse = !order.reverse,
            _ => continue,
        }
        key = Key::Redraw;
    }
    key
}

/// The live view: the table redrawn in place every `delay` seconds (at once after a key
/// that changes it) until q or a stop signal; `fit`: as many rows as the terminal's height
/// allows; `wide`: lines are not cut at the terminal's width.
fn live_view(run: &mut Run, fit: bool, wide: bool, stdout: &mut Stdout) -> anyhow::Result<Outcome> {
    let screen = Screen::enter(stdout)?;
    let mut state = text::TopState::default();
    loop {
        if fit {
            // The header's 4 lines, the column names, TOTAL and two notes.
            run.rows = terminal_height().saturating_sub(8).max(1);
        }
        if !wide {
            run.view.width = terminal::width();
        }
        let table = run.table(&mut state, true)?;
        // A line wider than the terminal would wrap and push the table off the screen.
        let width = run.view.width.unwrap_or(usize::MAX);
        let table: String = table
            .lines()
            .map(|l| format!("{}\n", l.chars().take(width).collect::<String>()))
            .collect();
        if !stdout.print(&format!("\x1b[H\x1b[2J{table}")) {
            break;
        }
        let until = Instant::now() + Duration::from_secs_f64(run.delay);
        let mut quit = false;
        while Instant::now() < until && !quit {
            if STOP.load(Ordering::SeqCst) {
                quit = true;
                break;
            }
            let mut fds = [libc::pollfd {
                fd: libc::STDIN_FILENO,
                events: libc::POLLIN,
                revents: 0,
            }];
            let wait = (until - Instant::now()).as_millis().min(100) as i32;
            // SAFETY: one pollfd, its count given.
            let ready = unsafe { libc::poll(fds.as_mut_ptr(), 1, wait) };
            if ready > 0 {
                match keys(run) {
                    Key::Quit => quit = true,
                    Key::Redraw => break,
                    Key::None => {}
                }
            }
        }
        if quit {
            break;
        }
    }
    drop(screen);
    Ok(Outcome::ok(String::new(), ExitCode::Ok))
}
