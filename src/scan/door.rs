//! The one way a command reads processes: each process opened once through its
//! [`ProcDir`] (the pid-reuse-safe handle), kept or left by -u's uid as it is opened, and a
//! failure classified once ([`Gone`]: vanished, no memory map, unreadable). A command's
//! worker gets the opened process ([`Opened`]), never a pid to open; the results come back
//! in the order of the pids, each a [`Visit`].

use super::{Listed, each_listed_process};
use crate::error::Result;
use crate::kernel::process::{self, Gone, PidInfo, ProcDir, Status};

/// How the door opens each process.
#[derive(Clone, Copy, Debug, Default)]
pub struct Door {
    /// Ask the process's pidfd too ([`ProcDir::open_with_info`]: real uid, parent and
    /// cgroup id without text).
    pub info: bool,
    /// Keep only the processes of this real uid (read once, from the pidfd where the
    /// kernel answers, else from status); the others are [`Visit::Other`].
    pub uid: Option<u32>,
}

/// A process the door opened, for a worker to read.
pub struct Opened<'a> {
    /// Its place in the scan order.
    pub position: usize,
    pub dir: &'a ProcDir,
    /// What its pidfd told, with [`Door::info`] (or a uid to keep) where the kernel answers.
    pub info: Option<PidInfo>,
    /// Its status, when the door read it to tell its uid (no pidfd answer).
    pub status: Option<Status>,
}

impl Opened<'_> {
    pub fn pid(&self) -> i32 {
        self.dir.pid()
    }
}

/// What became of one process at the door.
#[derive(Debug)]
pub enum Visit<R> {
    /// Opened and read by the worker.
    Read(R),
    /// Not a process of the uid asked for ([`Door::uid`]): left alone.
    Other,
    /// Could not be read, and why.
    Gone(Gone),
}

impl<R> Visit<R> {
    /// The failure, if the process could not be read.
    pub fn gone(&self) -> Option<&Gone> {
        match self {
            Visit::Gone(g) => Some(g),
            _ => None,
        }
    }
}

/// A process the door opened for its caller to keep open (`family` holds a parent and a
/// litter of its children open together): what [`Opened`] lends, owned.
pub struct Held {
    pub dir: ProcDir,
    pub info: Option<PidInfo>,
    pub status: Option<Status>,
}

/// Why a read of the process of `dir`, opened at the door, failed: the one classification
/// ([`process::classify`]), for a caller that keeps processes open ([`hold`]).
pub fn gone(dir: &ProcDir, e: crate::error::Error) -> Gone {
    process::classify(Some(dir), e)
}

/// Opens `pid` as `door` says, for the caller to keep ([`Held`]); a failure to open it is
/// classified here, once.
pub fn hold(pid: i32, door: Door) -> Visit<Held> {
    let opened = if door.info || door.uid.is_some() {
        ProcDir::open_with_info(pid)
    } else {
        ProcDir::open(pid).map(|d| (d, None))
    };
    let (dir, info) = match opened {
        Ok(o) => o,
        Err(e) => return Visit::Gone(process::classify(None, e)),
    };
    let mut status = None;
    if let Some(uid) = door.uid {
        let ruid = match info {
            Some(i) => i.ruid,
            None => match dir.status(&mut Vec::new()) {
                Ok(s) => status.insert(s).uid,
                Err(e) => return Visit::Gone(process::classify(Some(&dir), e)),
            },
        };
        if ruid != uid {
            return Visit::Other;
        }
    }
    Visit::Read(Held { dir, info, status })
}

/// Opens `pid` (at `position` in the scan) as `door` says and lets `read` read it; an
/// error of the opening or of `read` is classified here, once.
pub fn visit<R>(
    pid: i32,
    position: usize,
    door: Door,
    read: impl FnOnce(Opened<'_>) -> Result<R>,
) -> Visit<R> {
    let (dir, info, status) = match hold(pid, door) {
        Visit::Read(Held { dir, info, status }) => (dir, info, status),
        Visit::Other => return Visit::Other,
        Visit::Gone(g) => return Visit::Gone(g),
    };
    let opened = Opened {
        position,
        dir: &dir,
        info,
        status,
    };
    // The names of the maps the worker reads are held against the run's budget until it
    // is done with this process (`maps_budget`).
    match process::maps_budget::visit(position, || read(opened)) {
        Ok(r) => Visit::Read(r),
        Err(e) => Visit::Gone(gone(&dir, e)),
    }
}

/// The pids `list` gives, each opened at the `door` and read by `read` on one of
/// `threads` workers (1: on this thread, in order), each worker with its own state from
/// `state(worker)` (see [`each_listed_process`]: the first worker lists the pids while
/// the others make their state). The results are in the order of the pids.
pub fn each_opened<W: Send, R: Send, E: Send>(
    list: impl FnOnce() -> std::result::Result<Vec<i32>, E> + Send,
    threads: usize,
    door: Door,
    state: impl Fn(usize) -> W + Sync,
    read: impl Fn(&mut W, Opened<'_>) -> Result<R> + Sync,
) -> std::result::Result<Listed<W, Visit<R>>, E> {
    each_listed_process(list, threads, state, |w, position, pid| {
        visit(pid, position, door, |opened| read(w, opened))
    })
}
