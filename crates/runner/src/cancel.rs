//! Cooperative stopping of runs: a process-wide flag (set on Ctrl-C, SIGTERM
//! or a wall-time limit) that every wait of the runner checks, so a run stops
//! within a fraction of a second, removes its container through its guard and
//! returns [`RunnerError::Cancelled`]; plus a registry of live containers and
//! a busy count, so the front end can clean up as a last resort if a run does
//! not wind down by itself.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use confine_engine::Engine;

use crate::RunnerError;

/// Why a run was stopped from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum StopReason {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM.
    Terminate,
    /// The wall-time limit of the whole command passed.
    TimeLimit,
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StopReason::Interrupt => "interrupted (SIGINT)",
            StopReason::Terminate => "terminated (SIGTERM)",
            StopReason::TimeLimit => "wall-time limit reached",
        })
    }
}

/// A stop flag (the process has one, [`GLOBAL`]; tests make their own).
#[derive(Debug, Default)]
pub(crate) struct Flag(AtomicU8);

impl Flag {
    pub(crate) const fn new() -> Flag {
        Flag(AtomicU8::new(0))
    }

    fn request(&self, reason: StopReason) {
        let v = match reason {
            StopReason::Interrupt => 1,
            StopReason::Terminate => 2,
            StopReason::TimeLimit => 3,
        };
        let _ = self
            .0
            .compare_exchange(0, v, Ordering::SeqCst, Ordering::SeqCst);
    }

    fn get(&self) -> Option<StopReason> {
        match self.0.load(Ordering::SeqCst) {
            1 => Some(StopReason::Interrupt),
            2 => Some(StopReason::Terminate),
            3 => Some(StopReason::TimeLimit),
            _ => None,
        }
    }

    fn check(&self) -> Result<(), RunnerError> {
        match self.get() {
            Some(reason) => Err(RunnerError::Cancelled { reason }),
            None => Ok(()),
        }
    }

    fn sleep(&self, d: Duration) -> Result<(), RunnerError> {
        let end = std::time::Instant::now() + d;
        loop {
            self.check()?;
            let left = end.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
    }
}

/// The process-wide stop flag.
static GLOBAL: Flag = Flag::new();
static BUSY: AtomicUsize = AtomicUsize::new(0);
/// Containers created and not yet removed: (engine socket, id).
static LIVE: Mutex<Vec<(std::path::PathBuf, String)>> = Mutex::new(Vec::new());

/// Ask every run of this process to stop. The first reason wins.
pub fn request_stop(reason: StopReason) {
    GLOBAL.request(reason);
}

/// The reason a stop was requested, if one was.
pub fn stop_requested() -> Option<StopReason> {
    GLOBAL.get()
}

/// `Err(Cancelled)` once a stop was requested.
pub fn check() -> Result<(), RunnerError> {
    GLOBAL.check()
}

/// Sleep for `d`, waking early (with `Err(Cancelled)`) when a stop is requested.
pub fn sleep(d: Duration) -> Result<(), RunnerError> {
    GLOBAL.sleep(d)
}

/// True while a run of this process is under way (a container, the audit
/// registration or a check command may need cleaning up by the run itself).
pub fn busy() -> bool {
    BUSY.load(Ordering::SeqCst) > 0
}

/// Marks a run under way while alive.
pub(crate) struct Busy;

impl Busy {
    pub(crate) fn enter() -> Busy {
        BUSY.fetch_add(1, Ordering::SeqCst);
        Busy
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        BUSY.fetch_sub(1, Ordering::SeqCst);
    }
}

pub(crate) fn register_container(engine: &Engine, id: &str) {
    let mut live = LIVE.lock().unwrap_or_else(|p| p.into_inner());
    live.push((engine.socket().to_path_buf(), id.to_string()));
}

pub(crate) fn unregister_container(id: &str) {
    let mut live = LIVE.lock().unwrap_or_else(|p| p.into_inner());
    live.retain(|(_, i)| i != id);
}

/// Ids of the containers created by this process and not yet removed.
pub fn live_containers() -> Vec<String> {
    let live = LIVE.lock().unwrap_or_else(|p| p.into_inner());
    live.iter().map(|(_, id)| id.clone()).collect()
}

/// Last resort before the process exits while a run did not wind down by
/// itself: force-remove every container this process created and did not
/// remove yet. Returns the ids removed (or already gone).
pub fn remove_live_containers() -> Vec<String> {
    let live = std::mem::take(&mut *LIVE.lock().unwrap_or_else(|p| p.into_inner()));
    let mut removed = Vec::new();
    for (socket, id) in live {
        let engine = Engine::with_socket(socket).with_timeout(Duration::from_secs(20));
        match engine.remove(&id, true) {
            Ok(()) => removed.push(id),
            Err(e) if e.is_not_found() => removed.push(id),
            Err(_) => {}
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_reason_wins_and_sleep_wakes() {
        // A flag of its own: the process-wide one would stop the other tests' runs.
        let flag = std::sync::Arc::new(Flag::new());
        assert!(flag.check().is_ok());
        let f2 = std::sync::Arc::clone(&flag);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            f2.request(StopReason::TimeLimit);
        });
        let start = std::time::Instant::now();
        let e = flag.sleep(Duration::from_secs(30)).unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(5));
        t.join().unwrap();
        flag.request(StopReason::Interrupt);
        assert_eq!(flag.get(), Some(StopReason::TimeLimit));
        assert!(
            matches!(
                e,
                RunnerError::Cancelled {
                    reason: StopReason::TimeLimit
                }
            ),
            "{e}"
        );
        assert_eq!(e.to_string(), "stopped: wall-time limit reached");
    }
}
