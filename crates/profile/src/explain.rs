//! `explain`: why one syscall is allowed by a profile (its reasons and witness
//! chains) or what the filter does with it instead.

use crate::build::Profile;
use crate::docker::{DockerDefault, DockerStatus};
use crate::seccomp::{Action, Rule};
use crate::Reason;
use serde::Serialize;
use std::fmt;

/// What the filter does with the syscall.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Runs with any arguments.
    Allowed,
    /// Runs only when one of these rules matches; otherwise the default action.
    AllowedWithArgs { rules: Vec<Rule> },
    /// Answered with an errno by an explicit rule.
    Errno { errno: u32 },
    /// Falls to the default action, or an explicit non-errno rule.
    Denied { action: Action, errno: Option<u32> },
    /// Not a syscall of the profile's architecture.
    Unknown,
}

/// The answer to "why is this syscall (not) allowed".
#[derive(Clone, Debug, Serialize)]
pub struct Explanation {
    pub syscall: String,
    pub number: Option<u32>,
    pub verdict: Verdict,
    /// Why it was asked for (empty if nobody asked).
    pub reasons: Vec<Reason>,
    /// How Docker's default profile treats it, as text.
    pub docker: String,
    /// The profile's warnings about this syscall.
    pub notes: Vec<String>,
}

fn docker_text(s: &DockerStatus) -> String {
    match s {
        DockerStatus::Allowed => "allowed by docker's default".to_string(),
        DockerStatus::AllowedWithArgs(r) => {
            format!(
                "allowed by docker's default only under {} argument rule(s)",
                r.len()
            )
        }
        DockerStatus::Errno(e) => format!("answered with errno {e} by docker's default"),
        DockerStatus::Blocked { why } => format!("blocked by docker's default ({why})"),
    }
}

/// Explain `syscall` in `profile`.
pub fn explain(profile: &Profile, syscall: &str) -> Explanation {
    let number = profile.arch.number(syscall);
    let rules: Vec<&Rule> = profile
        .seccomp
        .syscalls
        .iter()
        .filter(|r| r.names.iter().any(|n| n == syscall))
        .collect();
    let verdict = if number.is_none() {
        Verdict::Unknown
    } else if rules
        .iter()
        .any(|r| r.action.lets_call_run() && r.args.is_empty())
    {
        Verdict::Allowed
    } else if rules.iter().any(|r| r.action.lets_call_run()) {
        Verdict::AllowedWithArgs {
            rules: rules
                .iter()
                .filter(|r| r.action.lets_call_run())
                .map(|r| Rule {
                    names: vec![syscall.to_string()],
                    ..(*r).clone()
                })
                .collect(),
        }
    } else if let Some(r) = rules.iter().find(|r| r.args.is_empty()) {
        if r.action == Action::Errno {
            Verdict::Errno {
                errno: r.errno_ret.unwrap_or(crate::EPERM),
            }
        } else {
            Verdict::Denied {
                action: r.action,
                errno: r.errno_ret,
            }
        }
    } else if profile.seccomp.default_action.lets_call_run() {
        Verdict::Allowed
    } else {
        Verdict::Denied {
            action: profile.seccomp.default_action,
            errno: profile.seccomp.default_errno_ret,
        }
    };
    let docker = match DockerDefault::load(profile.arch) {
        Ok(d) => docker_text(&d.status(syscall)),
        Err(e) => format!("docker's default unavailable: {e}"),
    };
    Explanation {
        syscall: syscall.to_string(),
        number,
        verdict,
        reasons: profile.reasons.get(syscall).cloned().unwrap_or_default(),
        docker,
        notes: profile
            .warnings
            .iter()
            .filter(|w| w.syscall == syscall)
            .map(|w| w.message.clone())
            .collect(),
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.number {
            Some(n) => write!(f, "{} (#{n}): ", self.syscall)?,
            None => write!(f, "{}: ", self.syscall)?,
        }
        match &self.verdict {
            Verdict::Allowed => writeln!(f, "allowed")?,
            Verdict::AllowedWithArgs { rules } => {
                writeln!(f, "allowed only when arguments match:")?;
                for r in rules {
                    let conds: Vec<String> = r
                        .args
                        .iter()
                        .map(|a| format!("arg{} {} {:#x}", a.index, a.op.as_str(), a.value))
                        .collect();
                    writeln!(f, "  - {}", conds.join(" and "))?;
                }
            }
            Verdict::Errno { errno } => writeln!(f, "answered with errno {errno}")?,
            Verdict::Denied { action, errno } => match errno {
                Some(e) => writeln!(f, "denied ({} {e})", action.as_str())?,
                None => writeln!(f, "denied ({})", action.as_str())?,
            },
            Verdict::Unknown => writeln!(f, "not a syscall of this architecture")?,
        }
        writeln!(f, "  docker: {}", self.docker)?;
        if self.reasons.is_empty() {
            writeln!(f, "  nothing in the analysis asked for it")?;
        }
        for r in &self.reasons {
            match r {
                Reason::Analysis { program, chain } => {
                    writeln!(f, "  analysis: {program}")?;
                    for (i, frame) in chain.iter().enumerate() {
                        writeln!(f, "    {:indent$}{frame}", "", indent = i.min(20) * 2)?;
                    }
                }
                other => writeln!(f, "  {}: {other}", other.kind())?,
            }
        }
        for n in &self.notes {
            writeln!(f, "  note: {n}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{build, DenyAction, ProfileRequest, RuntimeNeeds};
    use confine_syscalls::Arch;

    #[test]
    fn explains_allowed_conditional_errno_and_denied() {
        let mut req = ProfileRequest::new(Arch::X86_64);
        req.runtime = RuntimeNeeds::none();
        req.deny = DenyAction::Kill;
        req.allow(
            "write",
            Reason::Analysis {
                program: "/usr/sbin/nginx".into(),
                chain: vec![
                    "_start".into(),
                    "ngx_write_fd".into(),
                    "write@0x4a10".into(),
                ],
            },
        );
        req.allow("clone", Reason::User);
        req.allow("clone3", Reason::User);
        req.allow("mount", Reason::User);
        let p = build(&req).unwrap();

        let e = explain(&p, "write");
        assert_eq!(e.verdict, Verdict::Allowed);
        assert_eq!(e.number, Some(1));
        let text = e.to_string();
        assert!(text.contains("ngx_write_fd"), "{text}");
        assert!(text.contains("write@0x4a10"), "{text}");

        assert!(
            matches!(explain(&p, "clone").verdict, Verdict::AllowedWithArgs { ref rules } if rules.len() == 1)
        );
        assert_eq!(explain(&p, "clone3").verdict, Verdict::Errno { errno: 38 });
        let m = explain(&p, "mount");
        assert_eq!(
            m.verdict,
            Verdict::Denied {
                action: Action::Kill,
                errno: None
            }
        );
        assert!(m.docker.contains("CAP_SYS_ADMIN"));
        assert!(m.notes.iter().any(|n| n.contains("stays blocked")));
        let r = explain(&p, "reboot");
        assert!(r.reasons.is_empty());
        assert!(r
            .to_string()
            .contains("nothing in the analysis asked for it"));
        assert_eq!(explain(&p, "frobnicate").verdict, Verdict::Unknown);
    }
}
