//! Stopping from outside: Ctrl-C (SIGINT), SIGTERM and the `--time-limit`
//! wall-time limit, the stage the command is in, and the way out.
//!
//! SIGINT and SIGTERM are blocked in every thread (they inherit the mask of
//! the main thread, which blocks them before any other thread exists) and are
//! taken by one thread with `sigwait`. A stop sets the runner's flag: its
//! waits return within a fraction of a second, its guards remove the
//! container and restore the audit state, and the error reaches `main`, which
//! prints the stop message and exits with the stop's code. When no run is
//! under way (image reading, analysis: pure work with nothing to clean up but
//! temporary output files), or when a run has not wound down within
//! [`GRACE`], the stopping thread removes what is left (containers this
//! process created, temporary output files) and exits itself. A second
//! Ctrl-C does that at once.

use anyhow::Result;
use confine_runner::cancel;
use confine_runner::StopReason;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Exit code after Ctrl-C (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPT: u8 = 130;
/// Exit code after SIGTERM (128 + SIGTERM).
pub const EXIT_TERMINATE: u8 = 143;
/// Exit code when `--time-limit` passed (as `timeout(1)`).
pub const EXIT_TIME_LIMIT: u8 = 124;
/// How long a run under way gets to stop its container and restore the
/// audit state by itself before the last-resort cleanup.
pub const GRACE: Duration = Duration::from_secs(15);

static STAGE: Mutex<String> = Mutex::new(String::new());
static TEMP_FILES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static LIMIT_SECS: AtomicU64 = AtomicU64::new(0);
static STOPPING: AtomicBool = AtomicBool::new(false);
static EXITING: Mutex<()> = Mutex::new(());

/// Name the stage the command is in (named by the stop messages).
pub fn set_stage(stage: &str) {
    let mut s = STAGE.lock().unwrap_or_else(|p| p.into_inner());
    s.clear();
    s.push_str(stage);
}

/// The stage the command is in.
pub fn stage() -> String {
    let s = STAGE.lock().unwrap_or_else(|p| p.into_inner());
    if s.is_empty() {
        "starting".to_string()
    } else {
        s.clone()
    }
}

/// A temporary output file to remove if the process has to exit before its
/// writer could (see [`unregister_temp`]).
pub fn register_temp(path: &Path) {
    TEMP_FILES
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(path.to_path_buf());
}

pub fn unregister_temp(path: &Path) {
    TEMP_FILES
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .retain(|p| p != path);
}

/// `Err` (a [`confine_runner::RunnerError::Cancelled`]) once a stop was requested.
pub fn check() -> Result<()> {
    cancel::check()?;
    Ok(())
}

/// The exit code of a stop.
pub fn exit_code(reason: StopReason) -> u8 {
    match reason {
        StopReason::Interrupt => EXIT_INTERRUPT,
        StopReason::Terminate => EXIT_TERMINATE,
        StopReason::TimeLimit => EXIT_TIME_LIMIT,
    }
}

/// The message printed when the command stops for `reason`.
pub fn message(reason: StopReason) -> String {
    let what = match reason {
        StopReason::TimeLimit => format!(
            "time limit of {} s (--time-limit) reached",
            LIMIT_SECS.load(Ordering::SeqCst)
        ),
        StopReason::Interrupt => "interrupted (SIGINT)".to_string(),
        StopReason::Terminate => "terminated (SIGTERM)".to_string(),
    };
    format!(
        "confine: {what} in stage \"{}\"; stopped and cleaned up",
        stage()
    )
}

/// Block SIGINT and SIGTERM and start the thread that takes them, and the
/// one that enforces `time_limit` (none: no limit). Call before any other
/// thread is started.
pub fn install(time_limit: Option<Duration>) -> Result<()> {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    set.thread_block()?;
    std::thread::Builder::new()
        .name("confine-signals".into())
        .spawn(move || loop {
            let reason = match set.wait() {
                Ok(Signal::SIGINT) => StopReason::Interrupt,
                Ok(_) => StopReason::Terminate,
                Err(_) => continue,
            };
            if STOPPING.swap(true, Ordering::SeqCst) {
                // Asked twice: do not wait for the run.
                let reason = cancel::stop_requested().unwrap_or(reason);
                exit_now(exit_code(reason), Some(&last_resort(reason)));
            }
            let _ = std::thread::Builder::new()
                .name("confine-stop".into())
                .spawn(move || stop(reason));
        })?;
    if let Some(limit) = time_limit {
        LIMIT_SECS.store(limit.as_secs(), Ordering::SeqCst);
        std::thread::Builder::new()
            .name("confine-time-limit".into())
            .spawn(move || {
                std::thread::sleep(limit);
                if !STOPPING.swap(true, Ordering::SeqCst) {
                    stop(StopReason::TimeLimit);
                }
            })?;
    }
    Ok(())
}

/// Stop the command: let a run under way wind down, then clean up and exit.
fn stop(reason: StopReason) -> ! {
    cancel::request_stop(reason);
    let start = std::time::Instant::now();
    while cancel::busy() && start.elapsed() < GRACE {
        std::thread::sleep(Duration::from_millis(20));
    }
    let reason = cancel::stop_requested().unwrap_or(reason);
    exit_now(exit_code(reason), Some(&last_resort(reason)))
}

/// Remove what this process left (containers, temporary output files) and
/// say so; the stop message.
fn last_resort(reason: StopReason) -> String {
    let mut msg = message(reason);
    let left = cancel::live_containers();
    let removed = cancel::remove_live_containers();
    for id in &removed {
        msg.push_str(&format!("\nconfine: removed container {id}"));
    }
    for id in left.iter().filter(|id| !removed.contains(id)) {
        msg.push_str(&format!(
            "\nconfine: warning: could not remove container {id}; remove it with `docker rm -f {id}`"
        ));
    }
    let temps = std::mem::take(&mut *TEMP_FILES.lock().unwrap_or_else(|p| p.into_inner()));
    for t in temps {
        let _ = std::fs::remove_file(t);
    }
    msg
}

/// Print `message` and exit with `code`; only the first caller does, any
/// other blocks until the process is gone.
pub fn exit_now(code: u8, message: Option<&str>) -> ! {
    let _once = EXITING.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(m) = message {
        eprintln!("{m}");
    }
    std::process::exit(i32::from(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_messages_name_the_stop_and_the_stage() {
        assert_eq!(exit_code(StopReason::Interrupt), 130);
        assert_eq!(exit_code(StopReason::Terminate), 143);
        assert_eq!(exit_code(StopReason::TimeLimit), 124);
        set_stage("analysing machine code");
        assert_eq!(
            message(StopReason::Interrupt),
            "confine: interrupted (SIGINT) in stage \"analysing machine code\"; stopped and cleaned up"
        );
        // Temporary files registered and then finished are not cleaned up twice.
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join(".p.json.x.tmp");
        register_temp(&t);
        unregister_temp(&t);
        assert!(!TEMP_FILES.lock().unwrap().contains(&t));
    }
}
