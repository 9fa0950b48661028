//! Effects at the edge: runs containers under seccomp profiles through the
//! Docker engine, runs host-side checks against them, reads the kernel's
//! seccomp audit records over netlink, watches the processes of observed runs
//! (argv, mapped objects), and calibrates the runtime's own needs.
//!
//! Invariants: every container started here is removed (also on error), and
//! the audit state changed here is restored. Nothing from an image runs on
//! the host: the only host processes spawned are the user's check commands.

pub mod audit;
pub mod calibrate;
pub mod cancel;
pub mod observe;
pub mod run;

pub use audit::{AuditCapture, AuditListener, AuditStatus, SeccompRecord};
pub use calibrate::{
    allow_list_profile, calibrate, calibrate_with, confirm_calibration, ensure_calibration_image,
    Calibration, Confirmation, RemovalResult, CALIBRATION_ARGV, KERNEL_ISSUED,
};
pub use cancel::StopReason;
pub use observe::{
    observe, observe_with, Observation, ObserveOptions, ObservedProgram, LOG_ALL_PROFILE,
};
pub use run::{
    log_mode_copy, run_logged, run_under_profile, CheckResult, RunSpec, VerifyOutcome, LABEL,
    PID_LABEL,
};

use confine_engine::EngineError;

/// Errors from the runner. Outcomes of a run (a container that fails to
/// start, a failed check) are not errors: they are reported in [`VerifyOutcome`].
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("{context}: {source}")]
    Engine {
        context: String,
        source: EngineError,
    },
    #[error("bad seccomp profile: {detail}")]
    Profile { detail: String },
    #[error("bad run spec: {detail}")]
    Spec { detail: String },
    #[error("audit: cannot {op}: {detail}")]
    Audit {
        op: &'static str,
        detail: String,
        errno: i32,
    },
    #[error("audit: another audit daemon (pid {pid}) is registered")]
    AuditBusy { pid: u32 },
    /// A stop was requested (Ctrl-C, SIGTERM, the wall-time limit); the
    /// run's container was removed on the way out.
    #[error("stopped: {reason}")]
    Cancelled { reason: cancel::StopReason },
    #[error("cannot {what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

pub(crate) fn engine_err(context: impl Into<String>) -> impl FnOnce(EngineError) -> RunnerError {
    let context = context.into();
    move |source| RunnerError::Engine { context, source }
}
