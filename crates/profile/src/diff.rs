//! `diff`: syscalls added and removed between two profiles, ranked by kernel
//! attack surface (CVEs reached only through each syscall and a hand list of
//! historically dangerous syscalls).

use crate::build::Profile;
use crate::cve::{blocked_by, cves};
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt;

/// Historically dangerous syscalls and why (exploit primitives or large,
/// bug-prone kernel surface).
const DANGEROUS: &[(&str, &str)] = &[
    ("bpf", "eBPF verifier and JIT bugs"),
    (
        "userfaultfd",
        "stalls kernel copies: race-exploit primitive",
    ),
    ("keyctl", "keyring bugs"),
    ("add_key", "keyring bugs"),
    ("request_key", "keyring bugs"),
    ("perf_event_open", "perf subsystem bugs, info leaks"),
    (
        "io_uring_setup",
        "io_uring: large, frequently exploited surface",
    ),
    (
        "io_uring_enter",
        "io_uring: large, frequently exploited surface",
    ),
    (
        "io_uring_register",
        "io_uring: large, frequently exploited surface",
    ),
    ("ptrace", "inspects and modifies other processes"),
    ("process_vm_readv", "reads other processes' memory"),
    ("process_vm_writev", "writes other processes' memory"),
    ("unshare", "new namespaces expose root-only kernel code"),
    ("setns", "enters other namespaces"),
    ("mount", "filesystem parsers, escapes"),
    ("umount2", "mount table changes"),
    ("pivot_root", "changes the root filesystem"),
    ("fsopen", "new mount API: filesystem parsers"),
    ("fsconfig", "new mount API: filesystem parsers"),
    ("fsmount", "new mount API"),
    ("move_mount", "new mount API"),
    ("open_tree", "new mount API"),
    ("kexec_load", "replaces the running kernel"),
    ("kexec_file_load", "replaces the running kernel"),
    ("init_module", "loads kernel code"),
    ("finit_module", "loads kernel code"),
    ("delete_module", "unloads kernel code"),
    ("open_by_handle_at", "container escape (shocker)"),
    ("move_pages", "memory-management bugs, info leaks"),
    ("modify_ldt", "x86 LDT bugs"),
    ("iopl", "raw I/O port access"),
    ("ioperm", "raw I/O port access"),
    ("swapon", "swap management"),
    ("reboot", "reboots the host"),
    ("kcmp", "kernel pointer comparisons"),
    ("pidfd_getfd", "steals other processes' fds"),
    ("personality", "changes ABI behaviour (READ_IMPLIES_EXEC)"),
    ("clone3", "namespace creation flags not filterable"),
];

/// Why `syscall` is on the hand list of dangerous syscalls, if it is.
pub fn dangerous_reason(syscall: &str) -> Option<&'static str> {
    DANGEROUS
        .iter()
        .find(|(n, _)| *n == syscall)
        .map(|(_, w)| *w)
}

/// A syscall with its attack-surface weight.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RankedSyscall {
    pub name: String,
    /// 10 per CVE reached only through it, 3 per CVE it shares with other
    /// entry points, 30 if on the dangerous list.
    pub weight: u32,
    /// CVEs whose only entry point it is.
    pub cves: Vec<String>,
    pub dangerous: Option<&'static str>,
}

/// Rank `name` by kernel attack surface.
pub fn rank(name: &str) -> RankedSyscall {
    let mut only = Vec::new();
    let mut shared = 0u32;
    for c in cves() {
        if c.syscalls.iter().any(|s| s == name) {
            if c.syscalls.len() == 1 {
                only.push(c.id);
            } else {
                shared = shared.saturating_add(1);
            }
        }
    }
    let dangerous = dangerous_reason(name);
    let only_n = u32::try_from(only.len()).unwrap_or(u32::MAX);
    let weight = only_n
        .saturating_mul(10)
        .saturating_add(shared.saturating_mul(3))
        .saturating_add(if dangerous.is_some() { 30 } else { 0 });
    RankedSyscall {
        name: name.to_string(),
        weight,
        cves: only,
        dangerous,
    }
}

fn ranked(names: impl Iterator<Item = String>) -> Vec<RankedSyscall> {
    let mut v: Vec<RankedSyscall> = names.map(|n| rank(&n)).collect();
    v.sort_by(|a, b| b.weight.cmp(&a.weight).then_with(|| a.name.cmp(&b.name)));
    v
}

/// What changes from profile `a` to profile `b`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diff {
    /// Allowed by `b`, not by `a` (most dangerous first).
    pub added: Vec<RankedSyscall>,
    /// Allowed by `a`, not by `b` (most dangerous first).
    pub removed: Vec<RankedSyscall>,
    /// Allowed by both.
    pub common: usize,
    /// Allowed by both, but only under argument rules in `b` and not in `a`.
    pub now_conditional: Vec<String>,
    /// Allowed by both, argument rules in `a` but not in `b`.
    pub now_unconditional: Vec<String>,
    /// CVEs `a` blocks and `b` does not.
    pub cves_opened: Vec<String>,
    /// CVEs `b` blocks and `a` does not.
    pub cves_closed: Vec<String>,
}

/// Compare two profiles (their architectures should match).
pub fn diff(a: &Profile, b: &Profile) -> Diff {
    let (aa, ba) = (a.allowed(), b.allowed());
    let (ac, bc) = (a.conditional(), b.conditional());
    let ids = |s: &BTreeSet<String>| -> BTreeSet<String> {
        blocked_by(s).into_iter().map(|c| c.id).collect()
    };
    let (ab, bb) = (ids(&aa), ids(&ba));
    Diff {
        added: ranked(ba.difference(&aa).cloned()),
        removed: ranked(aa.difference(&ba).cloned()),
        common: aa.intersection(&ba).count(),
        now_conditional: aa
            .intersection(&ba)
            .filter(|n| bc.contains(*n) && !ac.contains(*n))
            .cloned()
            .collect(),
        now_unconditional: aa
            .intersection(&ba)
            .filter(|n| ac.contains(*n) && !bc.contains(*n))
            .cloned()
            .collect(),
        cves_opened: ab.difference(&bb).cloned().collect(),
        cves_closed: bb.difference(&ab).cloned().collect(),
    }
}

impl fmt::Display for Diff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} added, {} removed, {} in both",
            self.added.len(),
            self.removed.len(),
            self.common
        )?;
        for (sign, list) in [("+", &self.added), ("-", &self.removed)] {
            for r in list {
                write!(f, "{sign} {:<24} weight {:>3}", r.name, r.weight)?;
                if let Some(d) = r.dangerous {
                    write!(f, "  {d}")?;
                }
                if !r.cves.is_empty() {
                    write!(f, "  [{}]", r.cves.join(", "))?;
                }
                writeln!(f)?;
            }
        }
        for n in &self.now_conditional {
            writeln!(f, "~ {n}: now only under argument rules")?;
        }
        for n in &self.now_unconditional {
            writeln!(f, "~ {n}: argument rules dropped")?;
        }
        if !self.cves_closed.is_empty() {
            writeln!(f, "CVEs newly blocked: {}", self.cves_closed.join(", "))?;
        }
        if !self.cves_opened.is_empty() {
            writeln!(f, "CVEs no longer blocked: {}", self.cves_opened.join(", "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{build, ProfileRequest, Reason, RuntimeNeeds};
    use confine_syscalls::Arch;

    fn prof(names: &[&str], beyond: bool) -> Profile {
        let mut req = ProfileRequest::new(Arch::X86_64);
        req.runtime = RuntimeNeeds::none();
        req.beyond_docker_default = beyond;
        for n in names {
            req.allow(n, Reason::User);
        }
        build(&req).unwrap()
    }

    #[test]
    fn diff_ranks_by_attack_surface() {
        let a = prof(&["read", "write", "clone"], false);
        let b = prof(
            &["read", "getpid", "bpf", "setsockopt", "clone", "waitid"],
            true,
        );
        let d = diff(&a, &b);
        let added: Vec<&str> = d.added.iter().map(|r| r.name.as_str()).collect();
        // bpf: 3 sole-entry CVEs + dangerous = 60; setsockopt: 6 sole-entry CVEs = 60;
        // waitid: 2 = 20; getpid: 0
        assert_eq!(added, vec!["bpf", "setsockopt", "waitid", "getpid"]);
        assert_eq!(d.added[0].weight, 60);
        assert_eq!(d.added[1].weight, 60);
        assert_eq!(d.added[3].weight, 0);
        let removed: Vec<&str> = d.removed.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(removed, vec!["write"]);
        assert_eq!(d.now_unconditional, vec!["clone"]);
        assert!(d.cves_opened.contains(&"CVE-2021-22555".to_string()));
        assert!(d.cves_opened.contains(&"CVE-2017-5123".to_string()));
        assert!(d.cves_closed.is_empty());
        let text = d.to_string();
        assert!(text.starts_with("4 added, 1 removed, 4 in both"), "{text}");
        assert!(text.contains("+ bpf"));

        let same = diff(&a, &a);
        assert!(same.added.is_empty() && same.removed.is_empty() && same.cves_opened.is_empty());
    }

    #[test]
    fn diff_against_docker_default() {
        let docker = Profile::docker_default(Arch::X86_64).unwrap();
        let ours = prof(&["read", "write", "exit_group"], false);
        let d = diff(&docker, &ours);
        assert!(d.added.is_empty(), "{:?}", d.added);
        assert!(d.removed.len() > 250);
        assert!(d
            .removed
            .iter()
            .any(|r| r.name == "ptrace" && r.dangerous.is_some()));
        assert!(d.cves_closed.len() > 10);
    }
}
