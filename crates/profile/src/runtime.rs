//! Syscalls the container runtime itself makes after it installs the filter
//! and before the entrypoint runs; the shipped default for runc 1.1.

use serde::{Deserialize, Serialize};

/// What a runtime needs between filter installation and `execve` of the entrypoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeNeeds {
    pub name: String,
    pub version: String,
    /// `(syscall name, why)`.
    pub syscalls: Vec<(String, String)>,
}

const PLACEHOLDER: &str = "placeholder: to be measured by confine calibrate";

/// runc 1.1.5 (Docker engine 20.10.24), no-new-privileges off: the filter goes
/// in before runc switches user, groups and capabilities, then it execs.
/// Measured by `confine calibrate` (crates/runner/RUNTIME-NEEDS.md: 20 runs
/// under a log-mode profile, records read from the kernel's audit socket, no
/// record lost), then confirmed by removing each one. `fchown` is added for
/// images that set USER (runc chowns the stdio descriptors to that user).
const RUNC_1_1: &[(&str, &str)] = &[
    ("capget", "runc: capabilities.New (start fails without it)"),
    (
        "capset",
        "runc: apply capabilities (start fails: unable to apply caps)",
    ),
    ("chdir", "runc: chdir to the container cwd (start fails)"),
    (
        "close",
        "runc: closing pipes and inherited fds (start fails)",
    ),
    ("epoll_ctl", "runc: Go netpoller (seen in every run)"),
    ("execve", "runc: exec of the entrypoint"),
    (
        "faccessat2",
        "runc: Eaccess on the entrypoint (seen in every run)",
    ),
    ("fcntl", "runc: marks fds close-on-exec (seen in every run)"),
    (
        "fchown",
        "runc: chowns stdio to a non-root USER (measured with --user 1000:1000)",
    ),
    ("fstat", "runc: setup user, fstat /dev/stdin (start fails)"),
    (
        "fstatfs",
        "runc: checks /proc/self/fd is procfs (start fails)",
    ),
    ("futex", "runc: Go runtime locks (start fails)"),
    ("getcwd", "runc: verifies the cwd is safe (start fails)"),
    (
        "getdents64",
        "runc: reads /proc/self/fd to close fds (start fails)",
    ),
    ("getpid", "runc: seen in every run"),
    ("getppid", "runc: parent-death check (start fails)"),
    (
        "newfstatat",
        "runc: setup user, stat /dev/null (start fails)",
    ),
    (
        "openat",
        "runc: opens /proc/self/fd and the exec fifo (start fails)",
    ),
    ("prctl", "runc: capability bounding set (start fails)"),
    ("read", "runc: reads /proc/self/status (start fails)"),
    (
        "rt_sigreturn",
        "runc: Go runtime signal return (2 of 20 runs)",
    ),
    ("setgid", "runc: setup user (start fails)"),
    ("setgroups", "runc: setup user (start fails)"),
    ("setuid", "runc: setup user (start fails)"),
    (
        "write",
        "runc: sync with the parent and exec fifo (start fails)",
    ),
];

impl RuntimeNeeds {
    /// The shipped default: runc 1.1.5 as used by Docker engine 20.10.24,
    /// measured (see `RUNC_1_1`).
    pub fn runc_1_1() -> RuntimeNeeds {
        RuntimeNeeds {
            name: "runc".to_string(),
            version: "1.1.5".to_string(),
            syscalls: RUNC_1_1
                .iter()
                .map(|(n, why)| (n.to_string(), why.to_string()))
                .collect(),
        }
    }

    /// Needs measured by `confine calibrate`: every syscall gets `how` as its reason.
    pub fn measured<I, S>(name: &str, version: &str, syscalls: I, how: &str) -> RuntimeNeeds
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut v: Vec<(String, String)> = syscalls
            .into_iter()
            .map(|s| (s.into(), how.to_string()))
            .collect();
        v.sort();
        v.dedup();
        RuntimeNeeds {
            name: name.to_string(),
            version: version.to_string(),
            syscalls: v,
        }
    }

    /// No runtime needs (for profiles applied by something that installs the
    /// filter right before `execve`).
    pub fn none() -> RuntimeNeeds {
        RuntimeNeeds {
            name: "none".to_string(),
            version: String::new(),
            syscalls: Vec::new(),
        }
    }

    /// `name version` for display.
    pub fn label(&self) -> String {
        if self.version.is_empty() {
            self.name.clone()
        } else {
            format!("{} {}", self.name, self.version)
        }
    }

    /// Whether every entry is still the unmeasured placeholder.
    pub fn is_placeholder(&self) -> bool {
        !self.syscalls.is_empty() && self.syscalls.iter().all(|(_, w)| w.contains(PLACEHOLDER))
    }
}

impl Default for RuntimeNeeds {
    fn default() -> Self {
        RuntimeNeeds::runc_1_1()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use confine_syscalls::Arch;

    #[test]
    fn runc_default_is_the_measured_set() {
        let r = RuntimeNeeds::runc_1_1();
        assert!(!r.is_placeholder());
        // RUNTIME-NEEDS.md: 24 measured plus fchown for non-root USER.
        assert_eq!(r.syscalls.len(), 25);
        for (n, why) in &r.syscalls {
            assert!(Arch::X86_64.number(n).is_some(), "{n}");
            assert!(why.starts_with("runc: "), "{why}");
        }
        assert_eq!(r.label(), "runc 1.1.5");
        assert!(!RuntimeNeeds::none().is_placeholder());
        let m = RuntimeNeeds::measured("runc", "1.1.5", ["write", "close", "write"], "measured");
        assert_eq!(m.syscalls.len(), 2);
        assert!(!m.is_placeholder());
        assert_eq!(m.label(), "runc 1.1.5");
    }
}
