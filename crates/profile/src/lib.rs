//! Seccomp profiles people can deploy: builds an allow-list from syscalls with
//! reasons, never weaker than Docker's default, and writes it for Docker/Podman,
//! OCI runtimes, the Kubernetes Security Profiles Operator and systemd; also
//! explains, diffs and reports profiles against kernel CVE data. Pure: no I/O.

mod build;
pub mod cve;
mod diff;
pub mod docker;
#[cfg(test)]
mod engine_tests;
mod explain;
mod formats;
mod report;
mod runtime;
pub mod seccomp;

pub use build::{build, Profile, Warning, WarningKind};
pub use cve::{blocked_cves, cves, Cve};
pub use diff::{dangerous_reason, diff, rank, Diff, RankedSyscall};
pub use docker::{DockerDefault, DockerStatus};
pub use explain::{explain, Explanation, Verdict};
pub use formats::{to_docker_json, to_kubernetes_spo, to_oci_seccomp, to_systemd};
pub use report::{ProgramCount, Report};
pub use runtime::RuntimeNeeds;

use confine_syscalls::Arch;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// errno ENOSYS on Linux (the default deny answer: glibc falls back on it).
pub const ENOSYS: u32 = 38;
/// errno EPERM on Linux.
pub const EPERM: u32 = 1;

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("cannot parse {what}: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot write {what}: {source}")]
    Serialize {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("invalid kubernetes {field} {value:?}: {why}")]
    KubernetesName {
        field: &'static str,
        value: String,
        why: &'static str,
    },
    #[error("unknown profile name {0:?} (known: docker-default)")]
    UnknownNamedProfile(String),
    #[error("invalid deny action {0:?} (expected enosys, eperm, errno:N, kill, kill-process, log or trap)")]
    DenyAction(String),
}

/// Why a syscall is in the allow-list.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// Found by binary analysis; `chain` is the witness path rendered as text,
    /// from a root down to the instruction address of the `syscall`.
    Analysis { program: String, chain: Vec<String> },
    /// Needed by the container runtime after it installs the filter.
    Runtime { runtime: String, why: String },
    /// A vDSO function that falls back to the real syscall on some hosts.
    Vdso { function: String },
    /// Issued by the kernel's signal-return / restart trampolines.
    Signal,
    /// Listed by the user.
    User,
    /// A site whose number could not be resolved; allowed conservatively.
    Wildcard { program: String, why: String },
}

impl Reason {
    /// Short kind word (`analysis`, `runtime`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Reason::Analysis { .. } => "analysis",
            Reason::Runtime { .. } => "runtime",
            Reason::Vdso { .. } => "vdso",
            Reason::Signal => "signal",
            Reason::User => "user",
            Reason::Wildcard { .. } => "wildcard",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Analysis { program, chain } => {
                write!(f, "{program}")?;
                if !chain.is_empty() {
                    write!(f, ": {}", chain.join(" -> "))?;
                }
                Ok(())
            }
            Reason::Runtime { runtime, why } => write!(f, "{runtime}: {why}"),
            Reason::Vdso { function } => write!(f, "vdso fallback of {function}"),
            Reason::Signal => f.write_str("kernel signal-return/restart trampoline"),
            Reason::User => f.write_str("listed by the user"),
            Reason::Wildcard { program, why } => write!(f, "{program}: wildcard ({why})"),
        }
    }
}

/// What the filter does with a syscall that is not allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DenyAction {
    /// Fail with this errno (ENOSYS by default so glibc's fallbacks work).
    Errno(u32),
    /// Kill the thread (`SCMP_ACT_KILL`).
    Kill,
    /// Kill the whole process.
    KillProcess,
    /// Allow but log (learning mode: weaker than any allow-list).
    Log,
    /// Send SIGSYS.
    Trap,
}

impl Default for DenyAction {
    fn default() -> Self {
        DenyAction::Errno(ENOSYS)
    }
}

impl std::str::FromStr for DenyAction {
    type Err = ProfileError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let l = s.to_ascii_lowercase();
        Ok(match l.as_str() {
            "enosys" => DenyAction::Errno(ENOSYS),
            "eperm" => DenyAction::Errno(EPERM),
            "kill" | "kill-thread" => DenyAction::Kill,
            "kill-process" => DenyAction::KillProcess,
            "log" => DenyAction::Log,
            "trap" => DenyAction::Trap,
            _ => match l.strip_prefix("errno:").map(str::parse::<u32>) {
                Some(Ok(n)) if (1..=4095).contains(&n) => DenyAction::Errno(n),
                _ => return Err(ProfileError::DenyAction(s.to_string())),
            },
        })
    }
}

/// Everything needed to build a profile.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProfileRequest {
    pub arch: Arch,
    /// Syscall name -> why it is needed.
    pub allowed: BTreeMap<String, Vec<Reason>>,
    pub deny: DenyAction,
    /// Allow syscalls Docker's default blocks (and drop its argument rules).
    pub beyond_docker_default: bool,
    pub runtime: RuntimeNeeds,
}

impl ProfileRequest {
    /// A request for `arch` with the default deny action and runtime.
    pub fn new(arch: Arch) -> ProfileRequest {
        ProfileRequest {
            arch,
            allowed: BTreeMap::new(),
            deny: DenyAction::default(),
            beyond_docker_default: false,
            runtime: RuntimeNeeds::default(),
        }
    }

    /// Add a reason for `syscall`.
    pub fn allow(&mut self, syscall: &str, reason: Reason) -> &mut Self {
        self.allowed
            .entry(syscall.to_string())
            .or_default()
            .push(reason);
        self
    }
}
