//! Building a profile from a request: reasons merged with the runtime's needs,
//! every syscall checked against Docker's default (its argument rules and
//! blocks kept unless the caller goes beyond it), deterministic rule order.

use crate::docker::{DockerDefault, DockerStatus, DOCKER_DEFAULT_JSON};
use crate::seccomp::{Action, Rule, Seccomp};
use crate::{DenyAction, ProfileError, ProfileRequest, Reason, EPERM};
use confine_syscalls::Arch;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Longest `comment` written into a rule, in bytes.
const MAX_COMMENT: usize = 160;

/// A built profile: the seccomp document plus why each syscall is in it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub arch: Arch,
    pub deny: DenyAction,
    /// The Docker/Podman/OCI document (see `to_docker_json`).
    pub seccomp: Seccomp,
    /// Every syscall that was asked for, with its reasons (including ones
    /// Docker's default then kept blocked).
    pub reasons: BTreeMap<String, Vec<Reason>>,
    pub warnings: Vec<Warning>,
    /// Runtime whose needs were added (`runc 1.1`), empty for imported profiles.
    pub runtime: String,
    pub beyond_docker_default: bool,
}

/// What kind of thing a warning reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    /// Asked for, but Docker's default blocks it for a default container: left blocked.
    BlockedByDocker,
    /// Allowed although Docker's default blocks it (`beyond_docker_default`).
    BeyondDocker,
    /// Allowed only under Docker's argument rules.
    ArgRulesKept,
    /// Docker's argument rules dropped (`beyond_docker_default`).
    ArgRulesDropped,
    /// Answered with an errno as Docker does (clone3 -> ENOSYS).
    DockerErrno,
    /// glibc's clone3 fallback needs clone, which is not allowed.
    Clone3Fallback,
    /// Name unknown for this architecture: dropped.
    UnknownSyscall,
    /// The runtime's needs are an unmeasured placeholder.
    RuntimePlaceholder,
    /// The deny action lets calls run (`log`): learning mode only.
    LogOnly,
}

/// A diagnostic about one syscall (or the whole profile when `syscall` is empty).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Warning {
    pub kind: WarningKind,
    pub syscall: String,
    pub message: String,
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max.saturating_sub(3);
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", s.get(..end).unwrap_or(""))
}

/// `first reason (+N more)`, bounded.
pub(crate) fn short_comment(reasons: &[Reason]) -> Option<String> {
    let first = reasons.first()?;
    let more = reasons.len().saturating_sub(1);
    let tail = if more > 0 {
        format!(" (+{more} more)")
    } else {
        String::new()
    };
    let head = truncate(
        &format!("{}: {first}", first.kind()),
        MAX_COMMENT.saturating_sub(tail.len()),
    );
    Some(format!("{head}{tail}"))
}

fn deny_seccomp(deny: DenyAction) -> (Action, Option<u32>) {
    match deny {
        DenyAction::Errno(n) => (Action::Errno, Some(n)),
        DenyAction::Kill => (Action::Kill, None),
        DenyAction::KillProcess => (Action::KillProcess, None),
        DenyAction::Log => (Action::Log, None),
        DenyAction::Trap => (Action::Trap, None),
    }
}

/// Build the profile for `req`.
///
/// Added to the caller's set: the runtime's needs (`Reason::Runtime`), and
/// `rt_sigreturn` and `restart_syscall` (`Reason::Signal`), which the kernel's
/// own trampolines issue with no visible `syscall` instruction.
///
/// When the deny action is an errno other than EPERM, every syscall of the
/// architecture that is neither allowed nor otherwise ruled gets one explicit
/// `SCMP_ACT_ERRNO` rule with that errno: Docker 20.10 drops `defaultErrnoRet`
/// (its profile type has no such field) and would answer EPERM, which breaks
/// glibc's ENOSYS fallbacks. Syscalls unknown to the host's libseccomp are
/// skipped by runc, and runc answers numbers above the highest known one with ENOSYS.
pub fn build(req: &ProfileRequest) -> Result<Profile, ProfileError> {
    let arch = req.arch;
    if let DenyAction::Errno(n) = req.deny {
        // errno 0 would make denied calls look successful; the kernel caps at 4095
        if !(1..=4095).contains(&n) {
            return Err(ProfileError::DenyAction(format!("errno:{n}")));
        }
    }
    let docker = DockerDefault::load(arch)?;
    let mut warnings = Vec::new();
    if req.deny == DenyAction::Log {
        warnings.push(Warning {
            kind: WarningKind::LogOnly,
            syscall: String::new(),
            message: "deny action log lets every syscall run (weaker than docker's default): use it only to learn".to_string(),
        });
    }

    let mut wanted: BTreeMap<String, Vec<Reason>> = BTreeMap::new();
    for (name, reasons) in &req.allowed {
        let list = wanted.entry(name.clone()).or_default();
        for r in reasons {
            if !list.contains(r) {
                list.push(r.clone());
            }
        }
    }
    let runtime_label = req.runtime.label();
    for (name, why) in &req.runtime.syscalls {
        let r = Reason::Runtime {
            runtime: runtime_label.clone(),
            why: why.clone(),
        };
        let list = wanted.entry(name.clone()).or_default();
        if !list.contains(&r) {
            list.push(r);
        }
    }
    if req.runtime.is_placeholder() {
        warnings.push(Warning {
            kind: WarningKind::RuntimePlaceholder,
            syscall: String::new(),
            message: format!(
                "the {runtime_label} needs are a placeholder list, not yet measured by confine calibrate"
            ),
        });
    }
    for name in ["rt_sigreturn", "restart_syscall"] {
        if arch.number(name).is_some() {
            let list = wanted.entry(name.to_string()).or_default();
            if !list.contains(&Reason::Signal) {
                list.push(Reason::Signal);
            }
        }
    }

    let mut rules: Vec<Rule> = Vec::new();
    let mut reasons: BTreeMap<String, Vec<Reason>> = BTreeMap::new();
    for (name, why) in wanted {
        if arch.number(&name).is_none() {
            warnings.push(Warning {
                kind: WarningKind::UnknownSyscall,
                syscall: name.clone(),
                message: format!("{name:?} is not a {arch} syscall: dropped"),
            });
            continue;
        }
        let comment = short_comment(&why);
        let allow = |comment: Option<String>| Rule {
            names: vec![name.clone()],
            action: Action::Allow,
            errno_ret: None,
            args: Vec::new(),
            comment,
        };
        match docker.status(&name) {
            DockerStatus::Allowed => rules.push(allow(comment)),
            DockerStatus::AllowedWithArgs(drules) => {
                if req.beyond_docker_default {
                    warnings.push(Warning {
                        kind: WarningKind::ArgRulesDropped,
                        syscall: name.clone(),
                        message: format!(
                            "{name} allowed with any arguments; docker's default allows it only under {} argument rule(s)",
                            drules.len()
                        ),
                    });
                    rules.push(allow(comment));
                } else {
                    warnings.push(Warning {
                        kind: WarningKind::ArgRulesKept,
                        syscall: name.clone(),
                        message: format!(
                            "{name} allowed only under docker's {} argument rule(s)",
                            drules.len()
                        ),
                    });
                    for mut r in drules {
                        let c = match &comment {
                            Some(c) => format!("docker default argument rule; {c}"),
                            None => "docker default argument rule".to_string(),
                        };
                        r.comment = Some(truncate(&c, MAX_COMMENT));
                        rules.push(r);
                    }
                }
            }
            DockerStatus::Errno(e) => {
                if req.beyond_docker_default {
                    warnings.push(Warning {
                        kind: WarningKind::BeyondDocker,
                        syscall: name.clone(),
                        message: format!(
                            "{name} allowed; docker's default answers it with errno {e}"
                        ),
                    });
                    rules.push(allow(comment));
                } else {
                    warnings.push(Warning {
                        kind: WarningKind::DockerErrno,
                        syscall: name.clone(),
                        message: format!("{name} answered with errno {e} as docker's default does"),
                    });
                    rules.push(Rule {
                        names: vec![name.clone()],
                        action: Action::Errno,
                        errno_ret: Some(e),
                        args: Vec::new(),
                        comment: Some(format!("errno {e} as in docker's default profile")),
                    });
                }
            }
            DockerStatus::Blocked { why: dwhy } => {
                if req.beyond_docker_default {
                    warnings.push(Warning {
                        kind: WarningKind::BeyondDocker,
                        syscall: name.clone(),
                        message: format!("{name} allowed beyond docker's default ({dwhy})"),
                    });
                    rules.push(allow(comment));
                } else {
                    warnings.push(Warning {
                        kind: WarningKind::BlockedByDocker,
                        syscall: name.clone(),
                        message: format!("{name} is needed but stays blocked: {dwhy}"),
                    });
                }
            }
        }
        reasons.insert(name, why);
    }

    // glibc tries clone3 and falls back to clone only on ENOSYS.
    let runs = |n: &str| {
        rules
            .iter()
            .any(|r| r.action.lets_call_run() && r.names.iter().any(|x| x == n))
    };
    let clone3_errno = rules
        .iter()
        .any(|r| r.action == Action::Errno && r.names.iter().any(|x| x == "clone3"));
    if clone3_errno && !runs("clone") {
        warnings.push(Warning {
            kind: WarningKind::Clone3Fallback,
            syscall: "clone3".to_string(),
            message: "clone3 answers ENOSYS but clone, glibc's fallback, is not allowed"
                .to_string(),
        });
    }

    rules.sort_by(|a, b| a.names.cmp(&b.names));
    let (default_action, default_errno_ret) = deny_seccomp(req.deny);
    if let DenyAction::Errno(n) = req.deny {
        if n != EPERM {
            let ruled: BTreeSet<&str> = rules
                .iter()
                .flat_map(|r| r.names.iter().map(String::as_str))
                .collect();
            let rest: Vec<String> = arch
                .all()
                .into_iter()
                .map(|(_, name)| name)
                .filter(|name| !ruled.contains(name))
                .map(str::to_string)
                .collect();
            if !rest.is_empty() {
                rules.push(Rule {
                    names: rest,
                    action: Action::Errno,
                    errno_ret: Some(n),
                    args: Vec::new(),
                    comment: Some(format!(
                        "denied: errno {n} listed explicitly because docker 20.10 ignores defaultErrnoRet"
                    )),
                });
            }
        }
    }
    warnings.sort();

    Ok(Profile {
        arch,
        deny: req.deny,
        seccomp: Seccomp {
            default_action,
            default_errno_ret,
            architectures: vec![arch.scmp_arch().to_string()],
            syscalls: rules,
        },
        reasons,
        warnings,
        runtime: runtime_label,
        beyond_docker_default: req.beyond_docker_default,
    })
}

impl Profile {
    /// Syscalls the filter lets run with at least some arguments.
    pub fn allowed(&self) -> BTreeSet<String> {
        let ruled_allow: BTreeSet<String> = self
            .seccomp
            .syscalls
            .iter()
            .filter(|r| r.action.lets_call_run())
            .flat_map(|r| r.names.iter().cloned())
            .collect();
        if !self.seccomp.default_action.lets_call_run() {
            return ruled_allow
                .into_iter()
                .filter(|n| self.arch.number(n).is_some())
                .collect();
        }
        // A deny-list: everything runs except names blocked with any arguments.
        let blocked: BTreeSet<&str> = self
            .seccomp
            .syscalls
            .iter()
            .filter(|r| !r.action.lets_call_run() && r.args.is_empty())
            .flat_map(|r| r.names.iter().map(String::as_str))
            .collect();
        self.arch
            .all()
            .into_iter()
            .map(|(_, n)| n)
            .filter(|n| !blocked.contains(n) || ruled_allow.contains(*n))
            .map(str::to_string)
            .collect()
    }

    /// Allowed syscalls that run only when argument rules match.
    pub fn conditional(&self) -> BTreeSet<String> {
        let allowed = self.allowed();
        allowed
            .into_iter()
            .filter(|n| {
                let mut any = false;
                for r in &self.seccomp.syscalls {
                    if r.action.lets_call_run() && r.names.iter().any(|x| x == n) {
                        if r.args.is_empty() {
                            return false;
                        }
                        any = true;
                    }
                }
                any
            })
            .collect()
    }

    /// Read a profile in Docker's format (ours, Docker's own with
    /// `archMap`/`includes`, or an OCI `linux.seccomp` object), evaluated for a
    /// default container on `arch`.
    pub fn from_docker_json(text: &str, arch: Arch) -> Result<Profile, ProfileError> {
        let d = DockerDefault::from_json(text, arch, crate::docker::DOCKER_DEFAULT_CAPS)?;
        let deny = match d.default_action {
            Action::Errno => DenyAction::Errno(d.default_errno_ret.unwrap_or(EPERM)),
            Action::KillProcess => DenyAction::KillProcess,
            Action::Trap => DenyAction::Trap,
            Action::Log | Action::Allow | Action::Trace | Action::Notify => DenyAction::Log,
            Action::Kill | Action::KillThread => DenyAction::Kill,
        };
        Ok(Profile {
            arch,
            deny,
            seccomp: Seccomp {
                default_action: d.default_action,
                default_errno_ret: d.default_errno_ret,
                architectures: vec![arch.scmp_arch().to_string()],
                syscalls: d.rules,
            },
            reasons: BTreeMap::new(),
            warnings: Vec::new(),
            runtime: String::new(),
            beyond_docker_default: false,
        })
    }

    /// Docker 20.10's default profile as a default container gets it.
    pub fn docker_default(arch: Arch) -> Result<Profile, ProfileError> {
        Profile::from_docker_json(DOCKER_DEFAULT_JSON, arch)
    }

    /// A named built-in profile: `docker-default`.
    pub fn named(name: &str, arch: Arch) -> Result<Profile, ProfileError> {
        match name {
            "docker-default" => Profile::docker_default(arch),
            _ => Err(ProfileError::UnknownNamedProfile(name.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{RuntimeNeeds, ENOSYS};

    fn analysis(p: &str) -> Reason {
        Reason::Analysis {
            program: p.to_string(),
            chain: vec!["main".into(), "write@0x401000".into()],
        }
    }

    fn small(names: &[&str]) -> ProfileRequest {
        let mut req = ProfileRequest::new(Arch::X86_64);
        req.runtime = RuntimeNeeds::none();
        for n in names {
            req.allow(n, analysis("/bin/true"));
        }
        req
    }

    fn rules_for<'a>(p: &'a Profile, name: &str) -> Vec<&'a Rule> {
        p.seccomp
            .syscalls
            .iter()
            .filter(|r| r.names.iter().any(|n| n == name))
            .collect()
    }

    #[test]
    fn small_profile_round_trips_and_names_are_known() {
        let p = build(&small(&["read", "write", "exit_group", "openat"])).unwrap();
        let json = crate::to_docker_json(&p).unwrap();
        let back: Seccomp = serde_json::from_str(&json).unwrap();
        assert_eq!(back, p.seccomp);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(v["defaultErrnoRet"], 38);
        assert_eq!(v["architectures"], serde_json::json!(["SCMP_ARCH_X86_64"]));
        for r in &back.syscalls {
            for n in &r.names {
                assert!(Arch::X86_64.number(n).is_some(), "{n}");
            }
        }
        let allowed: Vec<String> = p.allowed().into_iter().collect();
        assert_eq!(
            allowed,
            vec![
                "exit_group",
                "openat",
                "read",
                "restart_syscall",
                "rt_sigreturn",
                "write"
            ]
        );
        let w = rules_for(&p, "write");
        assert_eq!(w.len(), 1);
        let c = w[0].comment.as_deref().unwrap();
        assert!(
            c.starts_with("analysis: /bin/true: main -> write@0x401000"),
            "{c}"
        );
        // the ENOSYS catch-all: every other x86-64 syscall, exactly once
        let last = back.syscalls.last().unwrap();
        assert_eq!(last.errno_ret, Some(ENOSYS));
        assert_eq!(last.names.len(), Arch::X86_64.all().len() - allowed.len());
        assert!(last.names.iter().any(|n| n == "mount"));
        assert!(!last.names.iter().any(|n| n == "read"));
        // deterministic
        assert_eq!(
            json,
            crate::to_docker_json(
                &build(&small(&["openat", "exit_group", "write", "read"])).unwrap()
            )
            .unwrap()
        );
    }

    #[test]
    fn docker_arg_rules_are_preserved() {
        let p = build(&small(&["clone", "personality", "read"])).unwrap();
        let clone = rules_for(&p, "clone");
        assert_eq!(clone.len(), 1);
        assert_eq!(clone[0].action, Action::Allow);
        assert_eq!(clone[0].args.len(), 1);
        assert_eq!(clone[0].args[0].value, 2114060288);
        assert!(clone[0]
            .comment
            .as_deref()
            .unwrap()
            .contains("docker default"));
        assert_eq!(rules_for(&p, "personality").len(), 5);
        assert!(p.conditional().contains("clone"));
        assert!(p.allowed().contains("clone"));
        // unmatched clone/personality calls fall to the default action
        let catch_all = p.seccomp.syscalls.last().unwrap();
        assert!(!catch_all.names.iter().any(|n| n == "clone"));

        let mut req = small(&["clone"]);
        req.beyond_docker_default = true;
        let p = build(&req).unwrap();
        let clone = rules_for(&p, "clone");
        assert_eq!(clone.len(), 1);
        assert!(clone[0].args.is_empty());
        assert!(p
            .warnings
            .iter()
            .any(|w| w.kind == WarningKind::ArgRulesDropped));
    }

    #[test]
    fn docker_blocks_stay_unless_beyond() {
        let p = build(&small(&["read", "mount", "bpf", "clone3", "no_such_call"])).unwrap();
        let allowed = p.allowed();
        assert!(!allowed.contains("mount") && !allowed.contains("bpf"));
        let kinds: Vec<(WarningKind, &str)> = p
            .warnings
            .iter()
            .map(|w| (w.kind, w.syscall.as_str()))
            .collect();
        assert!(kinds.contains(&(WarningKind::BlockedByDocker, "mount")));
        assert!(kinds.contains(&(WarningKind::BlockedByDocker, "bpf")));
        assert!(kinds.contains(&(WarningKind::UnknownSyscall, "no_such_call")));
        assert!(kinds.contains(&(WarningKind::DockerErrno, "clone3")));
        assert!(kinds.contains(&(WarningKind::Clone3Fallback, "clone3")));
        let c3 = rules_for(&p, "clone3");
        assert_eq!(c3.len(), 1);
        assert_eq!((c3[0].action, c3[0].errno_ret), (Action::Errno, Some(38)));
        assert!(p.reasons.contains_key("mount"));

        let mut req = small(&["mount", "clone3"]);
        req.beyond_docker_default = true;
        req.deny = DenyAction::KillProcess;
        let p = build(&req).unwrap();
        assert!(p.allowed().contains("mount") && p.allowed().contains("clone3"));
        assert_eq!(p.seccomp.default_action, Action::KillProcess);
    }

    #[test]
    fn deny_action_variants() {
        let cases = [
            (
                DenyAction::Errno(ENOSYS),
                "SCMP_ACT_ERRNO",
                Some(38u32),
                true,
            ),
            (DenyAction::Errno(EPERM), "SCMP_ACT_ERRNO", Some(1), false),
            (DenyAction::Kill, "SCMP_ACT_KILL", None, false),
            (
                DenyAction::KillProcess,
                "SCMP_ACT_KILL_PROCESS",
                None,
                false,
            ),
            (DenyAction::Log, "SCMP_ACT_LOG", None, false),
            (DenyAction::Trap, "SCMP_ACT_TRAP", None, false),
        ];
        for (deny, action, errno, catch_all) in cases {
            let mut req = small(&["read"]);
            req.deny = deny;
            let p = build(&req).unwrap();
            let v: serde_json::Value =
                serde_json::from_str(&crate::to_docker_json(&p).unwrap()).unwrap();
            assert_eq!(v["defaultAction"], action);
            assert_eq!(
                v.get("defaultErrnoRet").and_then(|x| x.as_u64()),
                errno.map(u64::from)
            );
            let has_catch_all = p
                .seccomp
                .syscalls
                .iter()
                .any(|r| r.action == Action::Errno && r.names.len() > 100);
            assert_eq!(has_catch_all, catch_all, "{deny:?}");
            let log_warned = p.warnings.iter().any(|w| w.kind == WarningKind::LogOnly);
            assert_eq!(log_warned, deny == DenyAction::Log);
        }
        assert_eq!(
            "enosys".parse::<DenyAction>().unwrap(),
            DenyAction::Errno(38)
        );
        assert_eq!(
            "errno:13".parse::<DenyAction>().unwrap(),
            DenyAction::Errno(13)
        );
        assert_eq!(
            "kill-process".parse::<DenyAction>().unwrap(),
            DenyAction::KillProcess
        );
        assert!("errno:0".parse::<DenyAction>().is_err());
        for bad in [0, 4096] {
            let mut req = small(&["read"]);
            req.deny = DenyAction::Errno(bad);
            assert!(build(&req).is_err());
        }
        assert!("allow".parse::<DenyAction>().is_err());
    }

    #[test]
    fn runtime_needs_are_added_with_reasons() {
        let mut req = small(&["read"]);
        req.runtime = RuntimeNeeds::runc_1_1();
        let p = build(&req).unwrap();
        assert!(p.allowed().contains("capset"));
        assert!(matches!(p.reasons["capset"][0], Reason::Runtime { .. }));
        // The shipped runc set is measured, so no placeholder warning.
        assert!(!p
            .warnings
            .iter()
            .any(|w| w.kind == WarningKind::RuntimePlaceholder));
    }

    #[test]
    fn long_comments_are_bounded() {
        let mut req = small(&[]);
        req.allow(
            "read",
            Reason::Analysis {
                program: "é".repeat(400),
                chain: vec![],
            },
        );
        req.allow("read", Reason::User);
        let p = build(&req).unwrap();
        let c = rules_for(&p, "read")[0].comment.clone().unwrap();
        assert!(c.len() <= MAX_COMMENT, "{}", c.len());
        assert!(c.ends_with("(+1 more)"));
    }

    #[test]
    fn own_output_reads_back_with_the_same_sets() {
        let p = build(&small(&["read", "clone", "personality", "clone3", "mount"])).unwrap();
        let json = crate::to_docker_json(&p).unwrap();
        let back = Profile::from_docker_json(&json, Arch::X86_64).unwrap();
        assert_eq!(back.allowed(), p.allowed());
        assert_eq!(back.conditional(), p.conditional());
        assert_eq!(back.deny, DenyAction::Errno(ENOSYS));
        assert_eq!(back.seccomp.syscalls, p.seccomp.syscalls);
    }

    #[test]
    fn docker_default_named_profile() {
        let d = Profile::named("docker-default", Arch::X86_64).unwrap();
        let allowed = d.allowed();
        assert_eq!(allowed.len(), 292);
        assert_eq!(d.conditional().len(), 2);
        assert!(allowed.contains("clone") && allowed.contains("personality"));
        assert!(!allowed.contains("clone3") && !allowed.contains("mount"));
        assert!(d.conditional().contains("clone"));
        assert_eq!(d.deny, DenyAction::Errno(EPERM));
        assert!(Profile::named("nope", Arch::X86_64).is_err());
        // a deny-list profile counts everything it does not block
        let deny_list = Profile::from_docker_json(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mount","bpf"],"action":"SCMP_ACT_ERRNO"}]}"#,
            Arch::X86_64,
        )
        .unwrap();
        let a = deny_list.allowed();
        assert_eq!(a.len(), Arch::X86_64.all().len() - 2);
        assert!(!a.contains("mount") && a.contains("read"));
    }
}
