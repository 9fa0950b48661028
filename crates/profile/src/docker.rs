//! Docker's default seccomp profile (moby 20.10.24, embedded as data) and what
//! it means for a default container: which syscalls it allows outright, which
//! only with argument rules, which it answers with an errno, which it blocks.

use crate::seccomp::{Action, Arg, Rule};
use crate::ProfileError;
use confine_syscalls::Arch;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

/// The embedded profile text (see `data/README.md` for source and license).
pub const DOCKER_DEFAULT_JSON: &str = include_str!("../data/docker-default-20.10.json");

/// Version of the engine whose default profile is embedded.
pub const DOCKER_DEFAULT_VERSION: &str = "20.10.24";

/// Capabilities Docker 20.10 gives a default container
/// (`oci/caps/defaults.go`): entries gated on other capabilities do not apply.
pub const DOCKER_DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawProfile {
    default_action: Action,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default)]
    syscalls: Vec<RawSyscall>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawFilter {
    #[serde(default)]
    caps: Option<Vec<String>>,
    #[serde(default)]
    arches: Option<Vec<String>>,
    #[serde(default)]
    min_kernel: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSyscall {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    names: Option<Vec<String>>,
    action: Action,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Option<Vec<Arg>>,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    includes: Option<RawFilter>,
    #[serde(default)]
    excludes: Option<RawFilter>,
}

/// How Docker's default profile treats one syscall in a default container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DockerStatus {
    /// Allowed unconditionally.
    Allowed,
    /// Allowed only when these argument rules match (e.g. `clone`, `personality`).
    AllowedWithArgs(Vec<Rule>),
    /// Answered with this errno without running (e.g. `clone3` -> ENOSYS).
    Errno(u32),
    /// Blocked for a default container; `why` says what would unlock it.
    Blocked { why: String },
}

impl DockerStatus {
    /// Whether a default container can run the syscall at all (arg rules count).
    pub fn reachable(&self) -> bool {
        matches!(
            self,
            DockerStatus::Allowed | DockerStatus::AllowedWithArgs(_)
        )
    }
}

/// Docker's default profile evaluated for a default container on one architecture.
#[derive(Clone, Debug)]
pub struct DockerDefault {
    pub arch: Arch,
    pub default_action: Action,
    /// `defaultErrnoRet` (Docker 20.10 itself ignores it; OCI runtimes honour it).
    pub default_errno_ret: Option<u32>,
    /// Rules that apply, in the profile's order, names limited to this arch.
    pub rules: Vec<Rule>,
    /// For each syscall blocked only for lack of a capability or by an arch
    /// filter, what the entry required (e.g. `CAP_SYS_ADMIN`).
    gated: BTreeMap<String, String>,
}

fn go_arch(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "amd64",
        Arch::Aarch64 => "arm64",
    }
}

impl DockerDefault {
    /// Parse the embedded profile and evaluate it the way Docker 20.10's
    /// `setupSeccomp` does for a container with the default capability set on
    /// `arch`. `minKernel` conditions (only `ptrace`, 4.8) are taken as met:
    /// confine targets kernels newer than 4.8.
    pub fn load(arch: Arch) -> Result<DockerDefault, ProfileError> {
        Self::from_json(DOCKER_DEFAULT_JSON, arch, DOCKER_DEFAULT_CAPS)
    }

    /// Evaluate any profile in Docker's format (with `archMap`/`includes`/`excludes`)
    /// for `arch` and the capability set `caps`.
    pub fn from_json(text: &str, arch: Arch, caps: &[&str]) -> Result<DockerDefault, ProfileError> {
        let raw: RawProfile = serde_json::from_str(text).map_err(|source| ProfileError::Json {
            what: "docker seccomp profile".to_string(),
            source,
        })?;
        let goarch = go_arch(arch);
        let mut rules = Vec::new();
        let mut gated: BTreeMap<String, String> = BTreeMap::new();
        for call in raw.syscalls {
            let mut names: Vec<String> = call.names.clone().unwrap_or_default();
            if let Some(n) = &call.name {
                names.push(n.clone());
            }
            names.retain(|n| arch.number(n).is_some());
            if names.is_empty() {
                continue;
            }
            let inc = call.includes.unwrap_or_default();
            let exc = call.excludes.unwrap_or_default();
            let mut skip: Option<String> = None;
            if let Some(a) = &exc.arches {
                if a.iter().any(|x| x == goarch) {
                    skip = Some(format!("excluded on {goarch}"));
                }
            }
            if let Some(c) = &exc.caps {
                if let Some(hit) = c.iter().find(|c| caps.contains(&c.as_str())) {
                    skip = Some(format!("excluded with {hit}"));
                }
            }
            if let Some(a) = &inc.arches {
                if !a.iter().any(|x| x == goarch) {
                    skip = Some(format!("only on {}", a.join(", ")));
                }
            }
            if let Some(c) = &inc.caps {
                let missing: Vec<&str> = c
                    .iter()
                    .filter(|c| !caps.contains(&c.as_str()))
                    .map(|s| s.as_str())
                    .collect();
                if !missing.is_empty() {
                    skip = Some(format!("only with {}", missing.join(", ")));
                }
            }
            let _ = inc.min_kernel; // taken as met, see `load`
            if let Some(why) = skip {
                if call.action.lets_call_run() {
                    for n in &names {
                        gated.entry(n.clone()).or_insert_with(|| why.clone());
                    }
                }
                continue;
            }
            rules.push(Rule {
                names,
                action: call.action,
                errno_ret: call.errno_ret,
                args: call.args.unwrap_or_default(),
                comment: call.comment.filter(|c| !c.is_empty()),
            });
        }
        Ok(DockerDefault {
            arch,
            default_action: raw.default_action,
            default_errno_ret: raw.default_errno_ret,
            rules,
            gated,
        })
    }

    /// How a default container's filter treats `name`.
    pub fn status(&self, name: &str) -> DockerStatus {
        let mut arg_rules = Vec::new();
        let mut errno = None;
        for r in self
            .rules
            .iter()
            .filter(|r| r.names.iter().any(|n| n == name))
        {
            if r.action.lets_call_run() {
                if r.args.is_empty() {
                    return DockerStatus::Allowed;
                }
                arg_rules.push(Rule {
                    names: vec![name.to_string()],
                    ..r.clone()
                });
            } else if r.action == Action::Errno && r.args.is_empty() && errno.is_none() {
                errno = Some(r.errno_ret.unwrap_or(1));
            }
        }
        if !arg_rules.is_empty() {
            return DockerStatus::AllowedWithArgs(arg_rules);
        }
        if let Some(e) = errno {
            return DockerStatus::Errno(e);
        }
        let why = match self.gated.get(name) {
            Some(g) => format!("docker's default allows it {g}"),
            None => "not in docker's default profile".to_string(),
        };
        DockerStatus::Blocked { why }
    }

    /// Syscalls a default container can run (unconditional plus arg-conditional).
    pub fn reachable(&self) -> BTreeSet<String> {
        let mut set = BTreeSet::new();
        for r in &self.rules {
            if r.action.lets_call_run() {
                set.extend(r.names.iter().cloned());
            }
        }
        set
    }

    /// Syscalls a default container can run with any arguments.
    pub fn unconditional(&self) -> BTreeSet<String> {
        self.rules
            .iter()
            .filter(|r| r.action.lets_call_run() && r.args.is_empty())
            .flat_map(|r| r.names.iter().cloned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seccomp::Op;

    #[test]
    fn embedded_default_parses_with_expected_shape() {
        let d = DockerDefault::load(Arch::X86_64).unwrap();
        let reach = d.reachable();
        // Docker 20.10's default allows about 300 of the x86-64 syscalls.
        assert!(
            (280..=320).contains(&reach.len()),
            "reachable: {}",
            reach.len()
        );
        for n in [
            "read",
            "openat",
            "socket",
            "arch_prctl",
            "modify_ldt",
            "chroot",
            "ptrace",
        ] {
            assert_eq!(d.status(n), DockerStatus::Allowed, "{n}");
        }
        // socket has no family rule in 20.10 (AF_VSOCK blocking came later).
        match d.status("clone") {
            DockerStatus::AllowedWithArgs(rules) => {
                assert_eq!(rules.len(), 1);
                assert_eq!(
                    rules[0].args,
                    vec![Arg {
                        index: 0,
                        value: 2114060288,
                        value_two: 0,
                        op: Op::MaskedEq
                    }]
                );
            }
            other => panic!("clone: {other:?}"),
        }
        match d.status("personality") {
            DockerStatus::AllowedWithArgs(rules) => {
                let vals: Vec<u64> = rules.iter().map(|r| r.args[0].value).collect();
                assert_eq!(vals, vec![0, 8, 131072, 131080, 4294967295]);
            }
            other => panic!("personality: {other:?}"),
        }
        assert_eq!(d.status("clone3"), DockerStatus::Errno(38));
        for (n, needle) in [
            ("bpf", "CAP_SYS_ADMIN"),
            ("mount", "CAP_SYS_ADMIN"),
            ("unshare", "CAP_SYS_ADMIN"),
            ("open_by_handle_at", "CAP_DAC_READ_SEARCH"),
            ("process_vm_readv", "CAP_SYS_PTRACE"),
            ("init_module", "CAP_SYS_MODULE"),
        ] {
            match d.status(n) {
                DockerStatus::Blocked { why } => assert!(why.contains(needle), "{n}: {why}"),
                other => panic!("{n}: {other:?}"),
            }
        }
        match d.status("uselib") {
            DockerStatus::Blocked { why } => assert!(why.contains("not in"), "{why}"),
            other => panic!("uselib: {other:?}"),
        }
        // arm-only names never show up for x86-64
        assert!(!reach.contains("set_tls"));
    }

    #[test]
    fn aarch64_evaluation_differs() {
        let d = DockerDefault::load(Arch::Aarch64).unwrap();
        assert!(!d.reachable().contains("arch_prctl"));
        assert!(d.reachable().contains("openat"));
    }

    #[test]
    fn hostile_profile_text_is_an_error() {
        assert!(DockerDefault::from_json("{", Arch::X86_64, &[]).is_err());
        assert!(DockerDefault::from_json("[]", Arch::X86_64, &[]).is_err());
        let d = DockerDefault::from_json(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read","nope"],"action":"SCMP_ACT_ALLOW","args":null}]}"#,
            Arch::X86_64,
            &[],
        )
        .unwrap();
        assert_eq!(d.reachable().into_iter().collect::<Vec<_>>(), vec!["read"]);
    }
}
