//! Observed runs: the container runs with every syscall allowed and logged,
//! and the kernel's audit records say which syscalls each executable made and
//! which executables ran (roots for the loader, a lower bound for the profile).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use confine_engine::Engine;

use crate::calibrate::{record_syscall_name, split_at_exec};
use crate::run::{run_logged_inner, RunSpec, VerifyOutcome};
use crate::RunnerError;

/// The profile of an observed run: nothing denied, everything logged.
pub const LOG_ALL_PROFILE: &str = r#"{"defaultAction":"SCMP_ACT_LOG","syscalls":[]}"#;

/// What an observed run saw. A lower bound for one run, not the answer: a
/// program can take other paths under a filter (e.g. `clone3` -> `clone`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Observation {
    /// The run; its `denials` hold every record (runtime and program).
    pub outcome: VerifyOutcome,
    /// Syscalls of the runtime after the filter was installed, sorted.
    pub runtime_syscalls: Vec<String>,
    /// Syscalls of the container's programs, sorted.
    pub syscalls: Vec<String>,
    /// Program syscalls per executable (`exe` as seen inside the container).
    pub by_executable: BTreeMap<String, Vec<String>>,
    /// Executables that ran, in the order they were first seen.
    pub executables: Vec<String>,
}

/// Run the container under [`LOG_ALL_PROFILE`] while registered as the audit
/// daemon (needs root), with `checks` exercising it as in a verification run.
pub fn observe(
    engine: &Engine,
    image_ref: &str,
    spec: &RunSpec,
    checks: &[String],
    duration: Duration,
) -> Result<Observation, RunnerError> {
    let outcome = run_logged_inner(
        engine,
        image_ref,
        spec,
        LOG_ALL_PROFILE,
        checks,
        duration,
        false,
    )?;
    let (runtime, program, _) = split_at_exec(&outcome.denials, outcome.pid);
    let runtime_syscalls: BTreeSet<String> = runtime.into_iter().map(record_syscall_name).collect();
    let mut syscalls = BTreeSet::new();
    let mut by_exe: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut executables = Vec::new();
    for r in program {
        let name = record_syscall_name(r);
        if !by_exe.contains_key(&r.exe) {
            executables.push(r.exe.clone());
        }
        by_exe
            .entry(r.exe.clone())
            .or_default()
            .insert(name.clone());
        syscalls.insert(name);
    }
    Ok(Observation {
        runtime_syscalls: runtime_syscalls.into_iter().collect(),
        syscalls: syscalls.into_iter().collect(),
        by_executable: by_exe
            .into_iter()
            .map(|(k, v)| (k, v.into_iter().collect()))
            .collect(),
        executables,
        outcome,
    })
}
