//! The human report on a profile: counts against Docker's default, per-program
//! counts and diagnostics handed in by the caller, CVEs blocked, warnings;
//! rendered as terminal text, Markdown or one self-contained HTML page.

use crate::build::{Profile, Warning};
use crate::cve::{blocked_by, Cve};
use crate::docker::DockerDefault;
use crate::{DenyAction, ProfileError};
use serde::Serialize;
use std::fmt::Write as _;

/// Syscalls found for one program (caller's numbers).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProgramCount {
    pub program: String,
    pub syscalls: usize,
}

/// Everything the report shows.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub arch: String,
    pub deny: String,
    pub runtime: String,
    /// Syscalls of the architecture.
    pub total: usize,
    /// Syscalls the profile lets run (arg-conditional included).
    pub allowed: usize,
    /// Of those, only under argument rules.
    pub conditional: usize,
    /// Syscalls Docker's default lets a default container run.
    pub docker_allows: usize,
    /// Docker allows them, the profile blocks them.
    pub blocked_beyond_docker: usize,
    /// The profile allows them, Docker's default does not.
    pub beyond_docker: Vec<String>,
    pub programs: Vec<ProgramCount>,
    pub diagnostics: Vec<String>,
    pub cves_blocked: Vec<Cve>,
    pub cves_blocked_by_docker: usize,
    pub cves_total: usize,
    pub warnings: Vec<Warning>,
    pub notes: Vec<String>,
}

fn deny_text(d: DenyAction) -> String {
    match d {
        DenyAction::Errno(38) => "errno ENOSYS".to_string(),
        DenyAction::Errno(1) => "errno EPERM".to_string(),
        DenyAction::Errno(n) => format!("errno {n}"),
        DenyAction::Kill => "kill thread".to_string(),
        DenyAction::KillProcess => "kill process".to_string(),
        DenyAction::Log => "log (allows everything)".to_string(),
        DenyAction::Trap => "trap (SIGSYS)".to_string(),
    }
}

impl Report {
    /// Build the report for `profile`; `programs` and `diagnostics` come from
    /// the analysis and are shown as given (programs sorted by path).
    pub fn new(
        profile: &Profile,
        programs: Vec<ProgramCount>,
        diagnostics: Vec<String>,
    ) -> Result<Report, ProfileError> {
        let docker = DockerDefault::load(profile.arch)?;
        let dset = docker.reachable();
        let allowed = profile.allowed();
        let mut programs = programs;
        programs.sort_by(|a, b| a.program.cmp(&b.program));
        let cves_total = crate::cve::cves().len();
        let notes = vec![
            format!(
                "only the native ABI ({}) is listed: 32-bit/x32 syscalls hit libseccomp's bad-architecture action (kill), as with any single-arch profile",
                profile.arch.scmp_arch()
            ),
            format!(
                "compared with docker's default profile from engine {} for a container with the default capabilities",
                crate::docker::DOCKER_DEFAULT_VERSION
            ),
            "a CVE counts as blocked only when every syscall reaching it is blocked (data: Confine's hand mapping plus advisories)".to_string(),
        ];
        Ok(Report {
            arch: profile.arch.to_string(),
            deny: deny_text(profile.deny),
            runtime: profile.runtime.clone(),
            total: profile.arch.all().len(),
            allowed: allowed.len(),
            conditional: profile.conditional().len(),
            docker_allows: dset.len(),
            blocked_beyond_docker: dset.difference(&allowed).count(),
            beyond_docker: allowed.difference(&dset).cloned().collect(),
            programs,
            diagnostics,
            cves_blocked: blocked_by(&allowed),
            cves_blocked_by_docker: blocked_by(&dset).len(),
            cves_total,
            warnings: profile.warnings.clone(),
            notes,
        })
    }

    fn summary_rows(&self) -> Vec<(&'static str, String)> {
        vec![
            ("architecture", self.arch.clone()),
            ("denied calls get", self.deny.clone()),
            (
                "runtime needs",
                if self.runtime.is_empty() {
                    "none".into()
                } else {
                    self.runtime.clone()
                },
            ),
            (
                "allowed",
                format!(
                    "{} of {} ({} only under argument rules)",
                    self.allowed, self.total, self.conditional
                ),
            ),
            ("docker default allows", format!("{}", self.docker_allows)),
            (
                "blocked beyond docker",
                format!("{}", self.blocked_beyond_docker),
            ),
            (
                "allowed beyond docker",
                if self.beyond_docker.is_empty() {
                    "none".into()
                } else {
                    self.beyond_docker.join(", ")
                },
            ),
            (
                "kernel CVEs blocked",
                format!(
                    "{} of {} (docker default: {})",
                    self.cves_blocked.len(),
                    self.cves_total,
                    self.cves_blocked_by_docker
                ),
            ),
        ]
    }

    /// Plain text for a terminal.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        s.push_str("confine profile report\n");
        for (k, v) in self.summary_rows() {
            let _ = writeln!(s, "  {k:<24} {v}");
        }
        if !self.programs.is_empty() {
            s.push_str("programs\n");
            for p in &self.programs {
                let _ = writeln!(s, "  {:>4}  {}", p.syscalls, text(&p.program));
            }
        }
        if !self.cves_blocked.is_empty() {
            s.push_str("CVEs blocked\n");
            for c in &self.cves_blocked {
                let _ = writeln!(s, "  {:<16} {}", c.id, c.syscalls.join(", "));
            }
        }
        if !self.warnings.is_empty() {
            s.push_str("warnings\n");
            for w in &self.warnings {
                let _ = writeln!(s, "  - {}", text(&w.message));
            }
        }
        if !self.diagnostics.is_empty() {
            s.push_str("diagnostics\n");
            for d in &self.diagnostics {
                let _ = writeln!(s, "  - {}", text(&d.to_string()));
            }
        }
        s.push_str("notes\n");
        for n in &self.notes {
            let _ = writeln!(s, "  - {n}");
        }
        s
    }

    /// Markdown.
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        s.push_str("# confine profile report\n\n| | |\n|---|---|\n");
        for (k, v) in self.summary_rows() {
            let _ = writeln!(s, "| {} | {} |", md(k), md(&v));
        }
        if !self.programs.is_empty() {
            s.push_str("\n## Programs\n\n| program | syscalls |\n|---|---:|\n");
            for p in &self.programs {
                let _ = writeln!(
                    s,
                    "| `{}` | {} |",
                    md(&p.program).replace('`', "'"),
                    p.syscalls
                );
            }
        }
        if !self.cves_blocked.is_empty() {
            s.push_str("\n## Kernel CVEs blocked\n\n| CVE | syscalls | source |\n|---|---|---|\n");
            for c in &self.cves_blocked {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} |",
                    md(&c.id),
                    md(&c.syscalls.join(", ")),
                    md(&c.source)
                );
            }
        }
        for (title, items) in [
            (
                "Warnings",
                self.warnings
                    .iter()
                    .map(|w| w.message.clone())
                    .collect::<Vec<_>>(),
            ),
            ("Diagnostics", self.diagnostics.clone()),
            ("Notes", self.notes.clone()),
        ] {
            if items.is_empty() {
                continue;
            }
            let _ = write!(s, "\n## {title}\n\n");
            for i in items {
                let _ = writeln!(s, "- {}", md(&i));
            }
        }
        s
    }

    /// One self-contained HTML page (inline CSS, no scripts, no external links
    /// except CVE sources as plain text).
    pub fn to_html(&self) -> String {
        let mut s = String::new();
        s.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>confine profile report</title>\n<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}code{font-size:90%}.warn{color:#a40}</style>\n</head><body>\n<h1>confine profile report</h1>\n<table>\n");
        for (k, v) in self.summary_rows() {
            let _ = writeln!(s, "<tr><th>{}</th><td>{}</td></tr>", html(k), html(&v));
        }
        s.push_str("</table>\n");
        if !self.programs.is_empty() {
            s.push_str("<h2>Programs</h2>\n<table><tr><th>program</th><th>syscalls</th></tr>\n");
            for p in &self.programs {
                let _ = writeln!(
                    s,
                    "<tr><td><code>{}</code></td><td>{}</td></tr>",
                    html(&p.program),
                    p.syscalls
                );
            }
            s.push_str("</table>\n");
        }
        if !self.cves_blocked.is_empty() {
            s.push_str("<h2>Kernel CVEs blocked</h2>\n<table><tr><th>CVE</th><th>syscalls</th><th>source</th></tr>\n");
            for c in &self.cves_blocked {
                let _ = writeln!(
                    s,
                    "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                    html(&c.id),
                    html(&c.syscalls.join(", ")),
                    html(&c.source)
                );
            }
            s.push_str("</table>\n");
        }
        for (title, class, items) in [
            (
                "Warnings",
                " class=\"warn\"",
                self.warnings
                    .iter()
                    .map(|w| w.message.clone())
                    .collect::<Vec<_>>(),
            ),
            ("Diagnostics", "", self.diagnostics.clone()),
            ("Notes", "", self.notes.clone()),
        ] {
            if items.is_empty() {
                continue;
            }
            let _ = writeln!(s, "<h2>{title}</h2>\n<ul{class}>");
            for i in items {
                let _ = writeln!(s, "<li>{}</li>", html(&i));
            }
            s.push_str("</ul>\n");
        }
        s.push_str("</body></html>\n");
        s
    }
}

fn html(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if c.is_control() => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

/// Image-controlled text for a terminal: control characters (a newline in a
/// file name could forge a report line) are escaped.
fn text(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            o.extend(c.escape_default());
        } else {
            o.push(c);
        }
    }
    o
}

fn md(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' => o.push_str("\\|"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            c if c.is_control() => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{build, ProfileRequest, Reason, RuntimeNeeds};
    use confine_syscalls::Arch;

    fn report() -> Report {
        let mut req = ProfileRequest::new(Arch::X86_64);
        req.runtime = RuntimeNeeds::none();
        for n in ["read", "write", "exit_group", "mount", "setsockopt"] {
            req.allow(n, Reason::User);
        }
        let p = build(&req).unwrap();
        Report::new(
            &p,
            vec![
                ProgramCount {
                    program: "/usr/sbin/nginx".into(),
                    syscalls: 3,
                },
                ProgramCount {
                    program: "/bin/<sh>".into(),
                    syscalls: 2,
                },
                ProgramCount {
                    program: "/x\nran /bin/evil".into(),
                    syscalls: 1,
                },
            ],
            vec!["unresolved syscall site at 0x1234 in /lib/x.so | odd".into()],
        )
        .unwrap()
    }

    #[test]
    fn counts_against_docker() {
        let r = report();
        // read, write, exit_group, setsockopt, rt_sigreturn, restart_syscall
        assert_eq!(r.allowed, 6);
        assert!(r.beyond_docker.is_empty());
        assert_eq!(r.blocked_beyond_docker, r.docker_allows - 6);
        assert!(r.warnings.iter().any(|w| w.syscall == "mount"));
        assert!(r.cves_blocked.len() > r.cves_blocked_by_docker);
        assert_eq!(r.programs[0].program, "/bin/<sh>");
    }

    #[test]
    fn renderings_escape_and_carry_the_numbers() {
        let r = report();
        let t = r.to_text();
        assert!(t.contains("6 of "), "{t}");
        assert!(t.contains("/usr/sbin/nginx"));
        // A newline in an image's file name cannot forge a report line.
        assert!(t.contains("/x\\nran /bin/evil"), "{t}");
        assert!(!t.lines().any(|l| l.starts_with("ran ")), "{t}");
        let m = r.to_markdown();
        assert!(m.contains("\\| odd"));
        assert!(m.contains("| CVE-2022-0185 | fsconfig |"));
        let h = r.to_html();
        assert!(h.starts_with("<!DOCTYPE html>"));
        assert!(h.contains("/bin/&lt;sh&gt;"));
        assert!(!h.contains("<sh>"));
        assert!(!h.contains("<script"));
        assert!(h.trim_end().ends_with("</html>"));
    }
}
