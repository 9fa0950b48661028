//! Kernel CVEs mapped to the syscalls through which they are reached (the
//! original Confine's hand mapping plus later advisories), and which of them a
//! profile blocks: a CVE is blocked only when every one of its syscalls is.

use crate::build::Profile;
use serde::Serialize;
use std::collections::BTreeSet;

const CONFINE_MANUAL: &str = include_str!("../data/cve/cve.to.syscall.manual");
const EXTRA: &str = include_str!("../data/cve/cve.to.syscall.extra");
const CONFINE_SOURCE: &str = "https://github.com/shamedgh/confine (cve.files, a75dad3, MIT)";

/// One kernel CVE and every syscall entry point that reaches it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Cve {
    pub id: String,
    pub syscalls: Vec<String>,
    pub source: String,
}

fn parse(text: &str, default_source: &str, out: &mut Vec<Cve>) {
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.splitn(3, ';');
        let (Some(id), Some(calls)) = (parts.next(), parts.next()) else {
            continue;
        };
        let source = parts
            .next()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or(default_source);
        let mut syscalls: Vec<String> = calls
            .split(',')
            .map(|c| {
                let c = c.trim();
                c.strip_prefix("__x64_sys_").unwrap_or(c).to_string()
            })
            .filter(|c| !c.is_empty())
            .collect();
        syscalls.sort();
        syscalls.dedup();
        if id.trim().is_empty() || syscalls.is_empty() {
            continue;
        }
        out.push(Cve {
            id: id.trim().to_string(),
            syscalls,
            source: source.to_string(),
        });
    }
}

/// Every CVE in the embedded data, sorted by id.
pub fn cves() -> Vec<Cve> {
    let mut v = Vec::new();
    parse(CONFINE_MANUAL, CONFINE_SOURCE, &mut v);
    parse(EXTRA, "", &mut v);
    v.sort();
    v.dedup_by(|a, b| a.id == b.id);
    v
}

/// CVEs whose every entry syscall the profile blocks (arg-conditional
/// syscalls count as allowed).
pub fn blocked_cves(profile: &Profile) -> Vec<Cve> {
    let allowed = profile.allowed();
    blocked_by(&allowed)
}

pub(crate) fn blocked_by(allowed: &BTreeSet<String>) -> Vec<Cve> {
    cves()
        .into_iter()
        .filter(|c| c.syscalls.iter().all(|s| !allowed.contains(s)))
        .collect()
}

/// CVEs reached only through `syscall` (it is their sole entry point).
pub fn cves_only_through(syscall: &str) -> Vec<Cve> {
    cves()
        .into_iter()
        .filter(|c| c.syscalls.len() == 1 && c.syscalls.iter().any(|s| s == syscall))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{build, ProfileRequest, Reason, RuntimeNeeds};
    use confine_syscalls::Arch;

    #[test]
    fn data_parses_and_names_are_real() {
        let all = cves();
        assert_eq!(all.len(), 29 + 11);
        for c in &all {
            assert!(c.id.starts_with("CVE-"), "{}", c.id);
            for s in &c.syscalls {
                assert!(Arch::X86_64.number(s).is_some(), "{}: {s}", c.id);
            }
            assert!(!c.source.is_empty());
        }
        let k = all.iter().find(|c| c.id == "CVE-2016-0728").unwrap();
        assert_eq!(k.syscalls, vec!["add_key", "keyctl", "request_key"]);
        let f = all.iter().find(|c| c.id == "CVE-2022-0185").unwrap();
        assert_eq!(f.syscalls, vec!["fsconfig"]);
        assert!(f.source.starts_with("https://"));
        assert_eq!(cves_only_through("bpf").len(), 3);
    }

    #[test]
    fn blocked_only_when_every_entry_is_blocked() {
        let mut req = ProfileRequest::new(Arch::X86_64);
        req.runtime = RuntimeNeeds::none();
        req.allow("read", Reason::User);
        req.allow("keyctl", Reason::User); // docker's default keeps it blocked
        req.allow("sendto", Reason::User);
        req.allow("setsockopt", Reason::User);
        let p = build(&req).unwrap();
        let ids: Vec<String> = blocked_cves(&p).into_iter().map(|c| c.id).collect();
        // sendto allowed: the sendto/recvfrom CVE is still reachable
        assert!(!ids.contains(&"CVE-2015-2686".to_string()));
        assert!(ids.contains(&"CVE-2016-0728".to_string()));
        assert!(!ids.contains(&"CVE-2021-22555".to_string()));
        assert!(ids.contains(&"CVE-2017-6001".to_string())); // perf_event_open
        assert!(ids.contains(&"CVE-2022-0185".to_string())); // fsconfig
                                                             // shmget/semget/msgget all blocked
        assert!(ids.contains(&"CVE-2015-7613".to_string()));
        let mut req2 = req.clone();
        req2.allow("semget", Reason::User);
        let ids2: Vec<String> = blocked_cves(&build(&req2).unwrap())
            .into_iter()
            .map(|c| c.id)
            .collect();
        assert!(!ids2.contains(&"CVE-2015-7613".to_string()));
        assert_eq!(ids.len(), ids2.len() + 1);
    }

    #[test]
    fn malformed_lines_are_skipped() {
        let mut v = Vec::new();
        parse(
            "junk\n;\nCVE-1;\nCVE-2; __x64_sys_read ,,write;\n# c\n",
            "s",
            &mut v,
        );
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].syscalls, vec!["read", "write"]);
        assert_eq!(v[0].source, "s");
    }
}
