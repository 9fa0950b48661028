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

/// runc 1.1 (Docker engine 20.10), no-new-privileges off: the filter goes in
/// before runc switches user, groups and capabilities, then it execs.
/// PLACEHOLDER list until `confine calibrate` (crates/runner, RUNTIME-NEEDS.md)
/// measures it; every entry says so. Derived by reading runc 1.1.5's
/// `libcontainer/standard_init_linux.go` and `init_linux.go` (everything after
/// `seccomp.InitSeccomp`) plus the Go runtime; the engine test
/// `tight_profile_with_runc_placeholder_runs_busybox` starts a container under it.
const RUNC_1_1: &[(&str, &str)] = &[
    // libcontainer/standard_init_linux.go after seccomp.InitSeccomp
    ("write", "syncParentSeccomp / exec fifo"),
    ("read", "syncParentSeccomp"),
    ("close", "closing pipes and fds"),
    ("openat", "/proc/self/fd, exec fifo"),
    (
        "getdents64",
        "CloseExecFrom / UnsafeCloseFrom walk /proc/self/fd",
    ),
    ("fcntl", "CloseExecFrom marks fds close-on-exec"),
    ("fstatfs", "CloseExecFrom checks /proc/self/fd is procfs"),
    ("statfs", "procfs checks"),
    ("chdir", "finalizeNamespace: chdir to cwd"),
    ("getcwd", "verifyCwd"),
    ("prctl", "capability bounding set, keep-caps, pdeath signal"),
    ("capget", "capabilities.New"),
    ("capset", "ApplyCaps"),
    ("setgroups", "setupUser"),
    ("setuid", "setupUser"),
    ("setgid", "setupUser"),
    ("getuid", "Eaccess"),
    ("geteuid", "Eaccess"),
    ("getgid", "Eaccess"),
    ("getegid", "Eaccess"),
    ("newfstatat", "fixStdioPermissions, exec.LookPath"),
    ("fstat", "fixStdioPermissions"),
    ("fchown", "fixStdioPermissions"),
    ("getppid", "parent death check"),
    ("getpid", "hook state"),
    ("faccessat2", "system.Eaccess"),
    ("faccessat", "system.Eaccess fallback (access)"),
    ("access", "system.Eaccess fallback"),
    ("execve", "exec of the entrypoint"),
    ("exit_group", "failure exit"),
    // go runtime
    ("futex", "go runtime locks"),
    ("nanosleep", "go runtime (usleep)"),
    ("epoll_pwait", "go netpoller"),
    ("epoll_ctl", "go netpoller"),
    ("gettid", "go runtime"),
    ("tgkill", "go runtime preemption signals"),
    ("exit", "go runtime thread exit"),
    ("rt_sigprocmask", "go runtime signal masks"),
    ("rt_sigaction", "go runtime signal handlers"),
    ("rt_sigreturn", "go runtime signal handlers"),
    ("sigaltstack", "go runtime signal stacks"),
    ("sched_yield", "go runtime"),
    ("mmap", "go runtime allocator"),
    ("munmap", "go runtime allocator"),
    ("madvise", "go runtime allocator"),
    ("mprotect", "go runtime"),
    ("clock_gettime", "go runtime timers (vdso fallback)"),
];

impl RuntimeNeeds {
    /// The shipped default: runc 1.1 as used by Docker engine 20.10
    /// (a placeholder list until measured; see each entry's `why`).
    pub fn runc_1_1() -> RuntimeNeeds {
        RuntimeNeeds {
            name: "runc".to_string(),
            version: "1.1".to_string(),
            syscalls: RUNC_1_1
                .iter()
                .map(|(n, why)| (n.to_string(), format!("{why} ({PLACEHOLDER})")))
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
    fn runc_default_names_are_real_and_marked() {
        let r = RuntimeNeeds::runc_1_1();
        assert!(r.is_placeholder());
        assert!(r.syscalls.len() >= 30);
        for (n, why) in &r.syscalls {
            assert!(Arch::X86_64.number(n).is_some(), "{n}");
            assert!(why.contains("confine calibrate"), "{why}");
        }
        assert_eq!(r.label(), "runc 1.1");
        assert!(!RuntimeNeeds::none().is_placeholder());
        let m = RuntimeNeeds::measured("runc", "1.1.5", ["write", "close", "write"], "measured");
        assert_eq!(m.syscalls.len(), 2);
        assert!(!m.is_placeholder());
        assert_eq!(m.label(), "runc 1.1.5");
    }
}
