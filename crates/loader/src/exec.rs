//! How a container starts a program: PATH lookup from the image env and `#!` interpreters.

use crate::fs::{join, normalize, FileSystem, Kind};

/// Docker's PATH when the image sets none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Value of `key` in a `KEY=VALUE` list (the last occurrence wins, as in execve's envp use).
pub fn env_get<'e>(env: &'e [String], key: &str) -> Option<&'e str> {
    env.iter()
        .rev()
        .find_map(|kv| kv.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

/// A `#!` line: interpreter and its single optional argument (Linux passes the rest of the
/// line, trimmed, as one argument).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shebang {
    pub interp: String,
    pub arg: Option<String>,
}

/// Linux reads at most this many bytes of a script head (BINPRM_BUF_SIZE).
const BINPRM_BUF_SIZE: usize = 256;

pub fn parse_shebang(data: &[u8]) -> Option<Shebang> {
    let head = data.strip_prefix(b"#!")?;
    let head = head
        .get(..head.len().min(BINPRM_BUF_SIZE - 2))
        .unwrap_or(head);
    let line = match memchr::memchr(b'\n', head) {
        Some(i) => head.get(..i).unwrap_or(head),
        None => head,
    };
    let line = String::from_utf8_lossy(line);
    let line = line.trim_matches([' ', '\t', '\r']);
    let (interp, rest) = match line.find([' ', '\t']) {
        Some(i) => (line.get(..i).unwrap_or(line), line.get(i..).unwrap_or("")),
        None => (line, ""),
    };
    if interp.is_empty() {
        return None;
    }
    let rest = rest.trim_matches([' ', '\t', '\r']);
    Some(Shebang {
        interp: interp.to_owned(),
        arg: (!rest.is_empty()).then(|| rest.to_owned()),
    })
}

/// For `#!/usr/bin/env ARG`: the program env will run (skipping options and `VAR=value`;
/// `-S` splits the argument like a shell would).
pub fn env_target(arg: &str) -> Option<String> {
    let mut words = arg.split_whitespace().peekable();
    while let Some(w) = words.next() {
        if w == "-S"
            || w == "--split-string"
            || w == "-i"
            || w == "-"
            || w == "--ignore-environment"
            || w == "-0"
            || w == "--null"
        {
            continue;
        }
        if w == "-u" || w == "--unset" || w == "-C" || w == "--chdir" {
            words.next();
            continue;
        }
        if w.starts_with('-') || w.contains('=') {
            continue;
        }
        return Some(w.to_owned());
    }
    None
}

/// Absolute path of `name` relative to `workdir` when it is not absolute.
pub fn absolute(workdir: &str, name: &str) -> String {
    let wd = if workdir.is_empty() { "/" } else { workdir };
    normalize(&join(wd, name))
}

/// Resolve a command name the way runc (Go's exec.LookPath) does: names with '/' are used
/// as is (relative to workdir); otherwise the first executable regular file in PATH.
/// Returns (path, the PATH directory used or None for a name with '/').
pub fn lookup(
    fs: &dyn FileSystem,
    name: &str,
    path_env: Option<&str>,
    workdir: &str,
) -> Option<(String, Option<String>)> {
    if name.is_empty() {
        return None;
    }
    if name.contains('/') {
        let p = absolute(workdir, name);
        return (fs.kind(&p) == Some(Kind::File)).then_some((p, None));
    }
    let path = path_env.unwrap_or(DEFAULT_PATH);
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let dirabs = absolute(workdir, dir);
        let cand = join(&dirabs, name);
        if fs.kind(&cand) == Some(Kind::File) && fs.mode(&cand).is_some_and(|m| m & 0o111 != 0) {
            return Some((cand, Some(dir.to_owned())));
        }
    }
    None
}

/// Commands a `sh -c STRING` would run first: the first word of each simple command
/// (after `exec`, `env`, and `VAR=value` prefixes), split on `;`, `&&`, `||`, `|`, newlines.
pub fn shell_commands(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in script.split([';', '\n', '|', '&', '(', ')', '`']) {
        let mut words = part.split_whitespace();
        for w in words.by_ref() {
            let w = w.trim_matches(['"', '\'']);
            if w.is_empty()
                || w.contains('=')
                || matches!(
                    w,
                    "exec"
                        | "env"
                        | "then"
                        | "do"
                        | "else"
                        | "if"
                        | "while"
                        | "!"
                        | "{"
                        | "nohup"
                        | "time"
                )
            {
                continue;
            }
            if w.starts_with('$') || w.starts_with('-') {
                break;
            }
            if w.chars()
                .all(|c| c.is_ascii_alphanumeric() || "/._+-".contains(c))
            {
                out.push(w.to_owned());
            }
            break;
        }
    }
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::testfs::MemFs;

    #[test]
    fn shebangs() {
        assert_eq!(
            parse_shebang(b"#! /usr/bin/env  python3 -u \nprint(1)"),
            Some(Shebang {
                interp: "/usr/bin/env".into(),
                arg: Some("python3 -u".into())
            })
        );
        assert_eq!(
            parse_shebang(b"#!/bin/sh\r\n"),
            Some(Shebang {
                interp: "/bin/sh".into(),
                arg: None
            })
        );
        assert_eq!(parse_shebang(b"#!\n"), None);
        assert_eq!(parse_shebang(b"\x7fELF"), None);
        let long = [b"#!/bin/".to_vec(), vec![b'a'; 1000]].concat();
        assert!(parse_shebang(&long).unwrap().interp.len() < 256);
        assert_eq!(env_target("python3 -u").as_deref(), Some("python3"));
        assert_eq!(env_target("-S A=1 node --x").as_deref(), Some("node"));
        assert_eq!(env_target("-u HOME perl").as_deref(), Some("perl"));
    }

    #[test]
    fn path_lookup() {
        let mut m = MemFs::new();
        m.file("/usr/bin/tool", &b"x"[..], 0o644)
            .file("/bin/tool", &b"x"[..], 0o755)
            .file("/app/run", &b"x"[..], 0o755);
        let (p, d) = lookup(&m, "tool", None, "/").unwrap();
        assert_eq!((p.as_str(), d.as_deref()), ("/bin/tool", Some("/bin")));
        assert_eq!(lookup(&m, "./run", None, "/app").unwrap().0, "/app/run");
        assert_eq!(
            lookup(&m, "run", Some("/nope:"), "/app").unwrap().0,
            "/app/run"
        );
        assert!(lookup(&m, "nope", None, "/").is_none());
        assert_eq!(
            env_get(&["PATH=/a".into(), "PATH=/b".into()], "PATH"),
            Some("/b")
        );
        assert_eq!(
            shell_commands("set -e; FOO=1 exec nginx -g 'daemon off;' && /bin/echo hi"),
            vec!["set", "nginx", "/bin/echo"]
        );
    }
}
