//! Static scan of shell scripts (`#!/bin/sh`, bash, dash, ash): the commands a script can
//! run, in any branch, so that paths an observed run did not take still become roots.
//!
//! A small tokenizer for the command-position words, not a full shell grammar. The parser
//! crates were weighed and left out: `brush-parser` 0.4 pulls `insta`, `bon`, `cached`
//! and `tracing` as normal dependencies (0.2 still `cached` with its proc-macro stack,
//! `peg` and `tracing`), `yash-syntax` brings an async runtime, and `conch-parser` is
//! unmaintained. Finding command names needs much less than an AST: words (quotes,
//! escapes, `$(...)`, backticks, `${...}`), control operators, reserved words,
//! redirections, here-documents, `case` patterns and function definitions. What it
//! reports, in any branch of the script:
//! - the first word of every simple command (after `VAR=value` prefixes and
//!   redirections), also after `!`, `exec`, `command`, `nohup`, `env`, `time`, `nice`,
//!   `timeout`, `xargs`, `chroot`, `su-exec`/`gosu`, `stdbuf`, `setsid`;
//! - commands inside `$(...)`, backticks, `( ... )`, pipelines, `&&`/`||` lists;
//! - `sh -c STRING` / `bash -c STRING` strings, scanned in turn;
//! - `find ... -exec CMD` / `-execdir` / `-ok`;
//! - scripts it sources (`.`/`source FILE`), reported separately for the caller to scan.
//!
//! Words with expansions in command position (`"$@"`, `$cmd`) cannot be decided and are
//! counted; builtins and the script's own functions are skipped.

/// Builtins of dash, bash and busybox sh: never looked up on PATH.
pub const BUILTINS: &[&str] = &[
    ":",
    ".",
    "[",
    "[[",
    "alias",
    "bg",
    "bind",
    "break",
    "builtin",
    "caller",
    "cd",
    "command",
    "compgen",
    "complete",
    "continue",
    "declare",
    "dirs",
    "disown",
    "echo",
    "enable",
    "eval",
    "exec",
    "exit",
    "export",
    "false",
    "fc",
    "fg",
    "getopts",
    "hash",
    "help",
    "history",
    "jobs",
    "kill",
    "let",
    "local",
    "logout",
    "mapfile",
    "popd",
    "printf",
    "pushd",
    "pwd",
    "read",
    "readarray",
    "readonly",
    "return",
    "set",
    "shift",
    "shopt",
    "source",
    "suspend",
    "test",
    "times",
    "trap",
    "true",
    "type",
    "typeset",
    "ulimit",
    "umask",
    "unalias",
    "unset",
    "wait",
];

const RESERVED: &[&str] = &[
    "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "for", "in", "case",
    "esac", "{", "}", "!", "function", "select", "[[", "]]", "time", "coproc",
];

/// Bounds on one scan (hostile scripts).
#[derive(Debug, Clone, Copy)]
pub struct ScanLimits {
    /// Bytes of script text looked at.
    pub max_bytes: usize,
    /// Nesting of `$(...)`, backticks and `sh -c` strings.
    pub max_depth: u32,
    /// Commands reported.
    pub max_commands: usize,
}

impl Default for ScanLimits {
    fn default() -> Self {
        ScanLimits {
            max_bytes: 1 << 20,
            max_depth: 16,
            max_commands: 4096,
        }
    }
}

/// What a script can run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScriptScan {
    /// Command names (literal words: `nginx`, `/usr/bin/env`, `./run.sh`), first seen first.
    pub commands: Vec<String>,
    /// Files the script sources with `.` or `source`.
    pub sourced: Vec<String>,
    /// Commands whose name is an expansion (`"$@"`, `$cmd`): not decidable here.
    pub dynamic: usize,
    /// The script was larger than `max_bytes` or nested deeper than `max_depth`, or
    /// `max_commands` was reached: the rest was not scanned.
    pub truncated: bool,
}

impl ScriptScan {
    fn push(&mut self, name: &str, limits: &ScanLimits) {
        if self.commands.iter().any(|c| c == name) {
            return;
        }
        if self.commands.len() >= limits.max_commands {
            self.truncated = true;
            return;
        }
        self.commands.push(name.to_owned());
    }
}

/// One token of the shell's lexical grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    /// A word: its text with quotes removed (`literal` false when it holds an expansion).
    Word { text: String, literal: bool },
    /// `;`, `&`, `|`, `&&`, `||`, `;;`, `(`, `)`, newline: a command boundary.
    Sep(&'static str),
    /// A redirection operator (the next word is its target, not a command).
    Redir,
}

struct Lexer<'s> {
    s: &'s [u8],
    i: usize,
    /// Here-document delimiters waiting for the next newline: (delimiter, strip tabs).
    heredocs: Vec<(String, bool)>,
    /// Command texts found inside `$(...)` and backticks of the words read.
    nested: Vec<String>,
    /// Nesting of arithmetic expansions being lexed (bounded).
    depth: u32,
}

/// Nesting of `$((...))` lexed for the substitutions inside them.
const MAX_ARITH_DEPTH: u32 = 16;

fn is_meta(b: u8) -> bool {
    matches!(
        b,
        b' ' | b'\t' | b'\n' | b';' | b'&' | b'|' | b'(' | b')' | b'<' | b'>'
    )
}

impl<'s> Lexer<'s> {
    fn new(s: &'s [u8]) -> Self {
        Lexer {
            s,
            i: 0,
            heredocs: Vec::new(),
            nested: Vec::new(),
            depth: 0,
        }
    }

    fn peek(&self, k: usize) -> Option<u8> {
        self.s.get(self.i + k).copied()
    }

    /// Skip the bodies of pending here-documents (called after a newline).
    fn skip_heredocs(&mut self) {
        for (delim, strip) in std::mem::take(&mut self.heredocs) {
            loop {
                if self.i >= self.s.len() {
                    return;
                }
                let end = memchr::memchr(b'\n', self.s.get(self.i..).unwrap_or_default())
                    .map_or(self.s.len(), |k| self.i + k);
                let line = self.s.get(self.i..end).unwrap_or_default();
                let line = if strip {
                    let n = line.iter().take_while(|&&b| b == b'\t').count();
                    line.get(n..).unwrap_or_default()
                } else {
                    line
                };
                self.i = end + 1;
                if line == delim.as_bytes() {
                    break;
                }
            }
        }
    }

    /// The text of a balanced `(...)` starting after the opening paren; leaves `i` after
    /// the closing one. Quotes inside are honoured.
    fn balanced_parens(&mut self) -> String {
        let start = self.i;
        let mut depth = 1u32;
        while let Some(b) = self.peek(0) {
            match b {
                b'\\' => self.i += 1,
                b'\'' => {
                    self.i += 1;
                    while self.peek(0).is_some_and(|c| c != b'\'') {
                        self.i += 1;
                    }
                }
                b'"' => {
                    self.i += 1;
                    while let Some(c) = self.peek(0) {
                        if c == b'\\' {
                            self.i += 1;
                        } else if c == b'"' {
                            break;
                        }
                        self.i += 1;
                    }
                }
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        let text =
                            String::from_utf8_lossy(self.s.get(start..self.i).unwrap_or_default());
                        self.i += 1;
                        return text.into_owned();
                    }
                }
                _ => {}
            }
            self.i += 1;
        }
        String::from_utf8_lossy(self.s.get(start..).unwrap_or_default()).into_owned()
    }

    /// `$...` at `i` (the `$` already consumed): command substitutions are recorded.
    fn dollar(&mut self, text: &mut String) {
        match self.peek(0) {
            Some(b'(') if self.peek(1) == Some(b'(') => {
                // Arithmetic: no commands, but may hold $(...).
                self.i += 2;
                let inner = self.balanced_parens();
                if self.peek(0) == Some(b')') {
                    self.i += 1;
                }
                // Not commands, but `$(...)` inside are.
                if (inner.contains("$(") || inner.contains('`')) && self.depth < MAX_ARITH_DEPTH {
                    let mut sub = Lexer::new(inner.as_bytes());
                    sub.depth = self.depth + 1;
                    while sub.next().is_some() {}
                    self.nested.append(&mut sub.nested);
                }
            }
            Some(b'(') => {
                self.i += 1;
                let inner = self.balanced_parens();
                self.nested.push(inner);
            }
            Some(b'{') => {
                let mut depth = 0u32;
                while let Some(c) = self.peek(0) {
                    self.i += 1;
                    match c {
                        b'{' => depth += 1,
                        b'}' => {
                            depth = depth.saturating_sub(1);
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {
                while self
                    .peek(0)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
                {
                    self.i += 1;
                }
                if let Some(c) = self.peek(0) {
                    if matches!(c, b'@' | b'*' | b'#' | b'?' | b'$' | b'!' | b'-') {
                        self.i += 1;
                    }
                }
            }
        }
        text.push('$');
    }

    /// A backtick substitution (the opening backtick consumed).
    fn backtick(&mut self) {
        let mut inner = Vec::new();
        while let Some(c) = self.peek(0) {
            self.i += 1;
            match c {
                b'\\' => {
                    if let Some(n) = self.peek(0) {
                        inner.push(n);
                        self.i += 1;
                    }
                }
                b'`' => break,
                _ => inner.push(c),
            }
        }
        self.nested
            .push(String::from_utf8_lossy(&inner).into_owned());
    }

    fn next(&mut self) -> Option<Tok> {
        // Blanks, comments, line continuations.
        loop {
            match self.peek(0)? {
                b' ' | b'\t' | b'\r' => self.i += 1,
                b'\\' if self.peek(1) == Some(b'\n') => self.i += 2,
                b'#' => {
                    while self.peek(0).is_some_and(|c| c != b'\n') {
                        self.i += 1;
                    }
                }
                _ => break,
            }
        }
        let b = self.peek(0)?;
        let two = [b, self.peek(1).unwrap_or(0)];
        match b {
            b'\n' => {
                self.i += 1;
                self.skip_heredocs();
                return Some(Tok::Sep("\n"));
            }
            b';' | b'&' | b'|' => {
                let op = match &two {
                    b";;" => ";;",
                    b"&&" => "&&",
                    b"||" => "||",
                    b";&" => ";;",
                    b"|&" => "|",
                    _ => "",
                };
                if !op.is_empty() {
                    self.i += 2;
                    if op == ";;" && self.peek(0) == Some(b'&') {
                        self.i += 1;
                    }
                    return Some(Tok::Sep(op));
                }
                self.i += 1;
                return Some(Tok::Sep(match b {
                    b';' => ";",
                    b'&' => "&",
                    _ => "|",
                }));
            }
            b'(' => {
                self.i += 1;
                return Some(Tok::Sep("("));
            }
            b')' => {
                self.i += 1;
                return Some(Tok::Sep(")"));
            }
            b'<' | b'>' => {
                self.i += 1;
                if two == *b"<<" {
                    self.i += 1;
                    let strip = self.peek(0) == Some(b'-');
                    if strip {
                        self.i += 1;
                    }
                    if self.peek(0) == Some(b'<') {
                        // `<<<` here-string: the next word is data.
                        self.i += 1;
                        return Some(Tok::Redir);
                    }
                    while self.peek(0).is_some_and(|c| c == b' ' || c == b'\t') {
                        self.i += 1;
                    }
                    if let Some(Tok::Word { text, .. }) = self.word() {
                        self.heredocs.push((text, strip));
                    }
                    return Some(Tok::Sep(""));
                }
                while self
                    .peek(0)
                    .is_some_and(|c| matches!(c, b'<' | b'>' | b'&' | b'|'))
                {
                    self.i += 1;
                }
                // `>&2`, `2>&1`: the target is glued on.
                return Some(Tok::Redir);
            }
            _ => {}
        }
        self.word()
    }

    /// A word starting at `i` (not at a metacharacter).
    fn word(&mut self) -> Option<Tok> {
        let mut text = String::new();
        let mut literal = true;
        let start = self.i;
        while let Some(c) = self.peek(0) {
            if is_meta(c) || c == b'\r' {
                break;
            }
            self.i += 1;
            match c {
                b'\\' => {
                    if let Some(n) = self.peek(0) {
                        if n != b'\n' {
                            text.push(char::from(n));
                        }
                        self.i += 1;
                    }
                }
                b'\'' => {
                    let s = self.i;
                    while self.peek(0).is_some_and(|c| c != b'\'') {
                        self.i += 1;
                    }
                    text.push_str(&String::from_utf8_lossy(
                        self.s.get(s..self.i).unwrap_or_default(),
                    ));
                    self.i += 1;
                }
                b'"' => {
                    while let Some(d) = self.peek(0) {
                        self.i += 1;
                        match d {
                            b'"' => break,
                            b'\\' => {
                                if let Some(n) = self.peek(0) {
                                    text.push(char::from(n));
                                    self.i += 1;
                                }
                            }
                            b'$' => {
                                literal = false;
                                self.dollar(&mut text);
                            }
                            b'`' => {
                                literal = false;
                                self.backtick();
                            }
                            _ => text.push(char::from(d)),
                        }
                    }
                }
                b'$' => {
                    if self.peek(0).is_some_and(|n| {
                        n.is_ascii_alphanumeric()
                            || matches!(
                                n,
                                b'_' | b'{' | b'(' | b'@' | b'*' | b'#' | b'?' | b'$' | b'!' | b'-'
                            )
                    }) {
                        literal = false;
                        self.dollar(&mut text);
                    } else {
                        text.push('$');
                    }
                }
                b'`' => {
                    literal = false;
                    self.backtick();
                }
                _ => text.push(char::from(c)),
            }
        }
        if self.i == start {
            // A lone metacharacter we did not expect: skip it.
            self.i += 1;
            return Some(Tok::Sep(""));
        }
        Some(Tok::Word { text, literal })
    }
}

/// Scan the text of a shell script.
pub fn scan(text: &[u8], limits: &ScanLimits) -> ScriptScan {
    let mut out = ScriptScan::default();
    let text = match text.get(..limits.max_bytes) {
        Some(t) if text.len() > limits.max_bytes => {
            out.truncated = true;
            t
        }
        _ => text,
    };
    let mut functions: Vec<String> = Vec::new();
    scan_into(text, limits, 0, &mut out, &mut functions);
    out.commands.retain(|c| !functions.contains(c));
    out
}

/// What the word in command position of a simple command means for the words after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    /// Ordinary arguments.
    Args,
    /// The next non-option word is a command (`exec`, `nohup`, `env`, ...), after
    /// skipping this many option arguments that take a value.
    Command,
    /// `sh`/`bash`: `-c STRING` is scanned.
    Shell,
    /// `find`: `-exec CMD`.
    Find,
    /// `.`/`source`: the next word is a sourced file.
    Source,
    /// Commands with one leading operand before the command (`chroot DIR`, `gosu USER`,
    /// `timeout DURATION`).
    SkipOneThenCommand,
    /// `case WORD in`: patterns follow until `)`.
    Case,
    /// `for NAME in WORDS`: words until a separator.
    For,
}

fn classify(name: &str) -> After {
    let base = name.rsplit('/').next().unwrap_or(name);
    match base {
        "exec" | "command" | "nohup" | "env" | "time" | "nice" | "xargs" | "stdbuf" | "setsid"
        | "builtin" | "ionice" | "unbuffer" | "tini" | "dumb-init" => After::Command,
        "chroot" | "su-exec" | "gosu" | "timeout" | "chpst" => After::SkipOneThenCommand,
        "sh" | "bash" | "dash" | "ash" | "busybox" => After::Shell,
        "find" => After::Find,
        "." | "source" => After::Source,
        _ => After::Args,
    }
}

fn scan_into(
    text: &[u8],
    limits: &ScanLimits,
    depth: u32,
    out: &mut ScriptScan,
    functions: &mut Vec<String>,
) {
    if depth > limits.max_depth {
        out.truncated = true;
        return;
    }
    let mut lx = Lexer::new(text);
    // Words of the current simple command (after assignments), and state.
    let mut at_start = true;
    let mut mode = After::Args;
    let mut skip_next_word = false;
    let mut skip_one = false;
    let mut in_case_patterns = false;
    let mut prev_word: Option<String> = None;
    let mut shell_c = false;
    let mut find_exec = false;
    while let Some(tok) = lx.next() {
        for inner in std::mem::take(&mut lx.nested) {
            scan_into(inner.as_bytes(), limits, depth + 1, out, functions);
        }
        match tok {
            Tok::Sep(op) => {
                if op == ";;" {
                    in_case_patterns = true;
                }
                if op == ")" && in_case_patterns {
                    in_case_patterns = false;
                }
                if op == "(" && prev_word.is_some() && !at_start {
                    // `name ( )`: a function definition.
                    if let Some(f) = prev_word.take() {
                        if !functions.contains(&f) {
                            functions.push(f);
                        }
                    }
                }
                if !op.is_empty() {
                    at_start = true;
                    mode = After::Args;
                    skip_next_word = false;
                    shell_c = false;
                    find_exec = false;
                    skip_one = false;
                }
            }
            Tok::Redir => skip_next_word = true,
            Tok::Word { text, literal } => {
                if skip_next_word {
                    skip_next_word = false;
                    continue;
                }
                if in_case_patterns {
                    // Patterns up to `)`: `esac` ends the case.
                    if text == "esac" {
                        in_case_patterns = false;
                        at_start = true;
                    }
                    continue;
                }
                if mode == After::Case {
                    if text == "in" {
                        in_case_patterns = true;
                        mode = After::Args;
                    }
                    continue;
                }
                if mode == After::For {
                    if text == "do" {
                        mode = After::Args;
                        at_start = true;
                    }
                    continue;
                }
                if at_start {
                    if literal && RESERVED.contains(&text.as_str()) {
                        match text.as_str() {
                            "case" => mode = After::Case,
                            "for" | "select" => mode = After::For,
                            "function" => skip_next_word = true,
                            _ => {}
                        }
                        if text == "function" {
                            // `function name`: record the name.
                            if let Some(Tok::Word { text: f, .. }) = lx.next() {
                                functions.push(f);
                            }
                            skip_next_word = false;
                        }
                        continue;
                    }
                    if is_assignment(&text) {
                        continue;
                    }
                    at_start = false;
                    prev_word = Some(text.clone());
                    if !literal {
                        out.dynamic += 1;
                        mode = After::Args;
                        continue;
                    }
                    mode = classify(&text);
                    if !BUILTINS.contains(&text.as_str()) {
                        out.push(&text, limits);
                    }
                    continue;
                }
                prev_word = None;
                match mode {
                    After::Args | After::Case | After::For => {}
                    After::Source => {
                        if literal {
                            if !out.sourced.contains(&text) {
                                out.sourced.push(text);
                            }
                        } else {
                            out.dynamic += 1;
                        }
                        mode = After::Args;
                    }
                    After::Command => {
                        if text.starts_with('-') || is_assignment(&text) {
                            // An option; `nice -n 5`, `timeout -s KILL`: numbers skipped below.
                            continue;
                        }
                        if text.parse::<f64>().is_ok() {
                            continue;
                        }
                        handle_command_word(&text, literal, &mut mode, out, limits);
                    }
                    After::SkipOneThenCommand => {
                        if text.starts_with('-') {
                            continue;
                        }
                        if !skip_one {
                            skip_one = true;
                            continue;
                        }
                        skip_one = false;
                        handle_command_word(&text, literal, &mut mode, out, limits);
                    }
                    After::Shell => {
                        if shell_c {
                            shell_c = false;
                            scan_into(text.as_bytes(), limits, depth + 1, out, functions);
                            mode = After::Args;
                        } else if text == "-c" || (text.starts_with('-') && text.contains('c')) {
                            shell_c = true;
                        } else if !text.starts_with('-') {
                            // `sh script.sh`: the script is run by the shell.
                            if literal && !out.sourced.contains(&text) {
                                out.sourced.push(text);
                            }
                            mode = After::Args;
                        }
                    }
                    After::Find => {
                        if find_exec {
                            find_exec = false;
                            handle_command_word(&text, literal, &mut mode, out, limits);
                            // Arguments up to `;`/`+` are the command's.
                            mode = After::Find;
                        } else if matches!(text.as_str(), "-exec" | "-execdir" | "-ok" | "-okdir") {
                            find_exec = true;
                        }
                    }
                }
            }
        }
    }
}

/// A word in command position (after `exec`, `env`, `-exec`, ...).
fn handle_command_word(
    text: &str,
    literal: bool,
    mode: &mut After,
    out: &mut ScriptScan,
    limits: &ScanLimits,
) {
    if !literal {
        out.dynamic += 1;
        *mode = After::Args;
        return;
    }
    *mode = classify(text);
    if !BUILTINS.contains(&text) {
        out.push(text, limits);
    }
}

/// `NAME=value` (also `NAME+=value`).
fn is_assignment(w: &str) -> bool {
    let Some((name, _)) = w.split_once('=') else {
        return false;
    };
    let name = name.strip_suffix('+').unwrap_or(name);
    !name.is_empty()
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Is `interp` (a `#!` interpreter path, or `env`'s target) a POSIX-style shell we scan?
pub fn is_shell(interp: &str) -> bool {
    let base = interp.rsplit('/').next().unwrap_or(interp);
    matches!(
        base,
        "sh" | "bash" | "dash" | "ash" | "ksh" | "mksh" | "busybox"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmds(s: &str) -> Vec<String> {
        scan(s.as_bytes(), &ScanLimits::default()).commands
    }

    #[test]
    fn official_entrypoints() {
        let nginx = r#"#!/bin/sh
# vim:sw=4:ts=4:et
set -e
entrypoint_log() {
    if [ -z "${NGINX_ENTRYPOINT_QUIET_LOGS:-}" ]; then
        echo "$@"
    fi
}
if [ "$1" = "nginx" ] || [ "$1" = "nginx-debug" ]; then
    if /usr/bin/find "/docker-entrypoint.d/" -mindepth 1 -maxdepth 1 -type f -print -quit 2>/dev/null | read v; then
        entrypoint_log "$0: /docker-entrypoint.d/ is not empty"
        find "/docker-entrypoint.d/" -follow -type f -print | sort -V | while read -r f; do
            case "$f" in
                *.envsh)
                    if [ -x "$f" ]; then
                        . "$f"
                    fi
                    ;;
                *.sh) "$f" ;;
                *) entrypoint_log "ignoring $f";;
            esac
        done
    else
        entrypoint_log "$0: No files found"
    fi
fi
exec "$@"
"#;
        let s = scan(nginx.as_bytes(), &ScanLimits::default());
        assert_eq!(s.commands, vec!["/usr/bin/find", "find", "sort"]);
        assert!(s.dynamic >= 3, "{s:?}");
        let redis = r#"#!/bin/sh
set -e
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
	set -- redis-server "$@"
fi
if [ "$1" = 'redis-server' -a "$(id -u)" = '0' ]; then
	find . \! -user redis -exec chown redis '{}' +
	exec gosu redis "$0" "$@"
fi
um="$(umask)"
if [ "$um" = '0022' ]; then
	umask 0077
fi
exec "$@"
"#;
        assert_eq!(cmds(redis), vec!["id", "find", "chown", "gosu"]);
    }

    #[test]
    fn words_and_operators() {
        assert_eq!(
            cmds("A=1 B=\"x y\" /bin/tool --x && ! grep -q y f || (cd /; ls) | wc -l &"),
            vec!["/bin/tool", "grep", "ls", "wc"]
        );
        assert_eq!(
            cmds("x=`hostname`; y=$(uname -r | tr a b); z=$((1 + $(nproc)))"),
            vec!["hostname", "uname", "tr", "nproc"]
        );
        assert_eq!(
            cmds("exec env -i FOO=1 nice -n 5 timeout 3 su-exec app:app myserver -x"),
            vec!["env", "nice", "timeout", "su-exec", "myserver"]
        );
        assert_eq!(
            cmds("sh -c 'curl -s localhost; wget x' ; bash -ec \"date\""),
            vec!["sh", "curl", "wget", "bash", "date"]
        );
        // here-documents are data, comments are not code, case patterns are not commands
        assert_eq!(
            cmds("cat <<-EOF >/tmp/x\n\tnotacmd arg\n\tEOF\nsed s/a/b/ # rm -rf /\ncase $x in\n a|b) awk 1 ;;\n *) mawk 2;;\nesac\n"),
            vec!["cat", "sed", "awk", "mawk"]
        );
        // for-lists, functions, redirections, sourcing
        let s = scan(
            b"for f in one two; do logger \"$f\"; done\nf() { helper; }\nfunction g { :; }\nf 2>&1 >/dev/null; g\n. /etc/profile.d/x.sh\nsh /app/run.sh arg\n>out date",
            &ScanLimits::default(),
        );
        assert_eq!(s.commands, vec!["logger", "helper", "sh", "date"]);
        assert_eq!(s.sourced, vec!["/etc/profile.d/x.sh", "/app/run.sh"]);
        assert_eq!(
            cmds("find / -name '*.tmp' -execdir rm -f {} \\; -o -exec gzip {} +"),
            vec!["find", "rm", "gzip"]
        );
    }

    #[test]
    fn closure_takes_script_commands_and_observed_objects() {
        use crate::fs::testfs::MemFs;
        use crate::{build_closure, DiagKind, Limits, ObservedObject, Reason, Roots};
        let mut m = MemFs::new();
        m.host("/bin/busybox", "/bin/busybox")
            .link("/bin/sh", "busybox")
            .host("/usr/bin/tool", "/usr/bin/true")
            .host("/usr/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6")
            .host(
                "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
                "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
            )
            .link("/lib64/ld-linux-x86-64.so.2", "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
            .link("/lib", "usr/lib")
            .host("/usr/lib/x86_64-linux-gnu/libz.so.1", "/lib/x86_64-linux-gnu/libz.so.1")
            .file(
                "/entry.sh",
                &b"#!/bin/sh\nset -e\nif [ -n \"$DEBUG\" ]; then\n  . /lib/helpers.sh\nfi\nexec \"$@\"\n"[..],
                0o755,
            )
            .file("/usr/lib/helpers.sh", &b"tool && nothere\n"[..], 0o644);
        let roots = Roots {
            entrypoint: vec!["/entry.sh".into(), "/bin/busybox".into(), "httpd".into()],
            env: vec!["PATH=/usr/bin:/bin".into()],
            observed_objects: vec![ObservedObject {
                program: "/usr/bin/tool".into(),
                path: "/lib/x86_64-linux-gnu/libz.so.1".into(),
            }],
            ..Roots::default()
        };
        let c = build_closure(&m, &roots, &Limits::default());
        // `tool` only runs in the sourced helper's branch: found by the scan.
        let t = c.program("/usr/bin/tool").expect("tool is a program");
        assert!(
            t.why.contains(&Reason::ScriptCommand {
                script: "/usr/lib/helpers.sh".into(),
                command: "tool".into()
            }),
            "{:?}",
            t.why
        );
        // The observed mapping joins its closure at run time.
        let z = c
            .objects
            .iter()
            .position(|o| o.path == "/usr/lib/x86_64-linux-gnu/libz.so.1")
            .expect("libz loaded");
        assert!(t.runtime_loaded.contains(&(z, Reason::Observed)));
        assert!(!c
            .program("/bin/busybox")
            .expect("busybox")
            .runtime_loaded
            .iter()
            .any(|(i, _)| *i == z));
        let undecided: Vec<&str> = c
            .diagnostics
            .iter()
            .filter(|d| d.kind == DiagKind::Undecided)
            .map(|d| d.message.as_str())
            .collect();
        assert!(
            undecided.iter().any(|m| m.contains("nothere")),
            "{undecided:?}"
        );
        assert!(
            undecided
                .iter()
                .any(|m| m.contains("/entry.sh") && m.contains("expansions")),
            "{undecided:?}"
        );
    }

    #[test]
    fn hostile_text_is_bounded() {
        // unbalanced quotes, parens and substitutions end at the end of input
        for t in [
            "'unterminated",
            "\"$(",
            "`",
            "$((",
            "${",
            "cat <<EOF",
            "a\\",
            "((((",
            "))))",
        ] {
            let _ = scan(t.as_bytes(), &ScanLimits::default());
        }
        let deep = "$(".repeat(10_000) + "cmd";
        let s = scan(deep.as_bytes(), &ScanLimits::default());
        assert!(s.truncated);
        let long = "a\n".repeat(1 << 20);
        let s = scan(long.as_bytes(), &ScanLimits::default());
        assert!(s.truncated);
        assert_eq!(s.commands, vec!["a"]);
        let many: String = (0..5000).map(|i| format!("c{i}\n")).collect();
        let s = scan(many.as_bytes(), &ScanLimits::default());
        assert_eq!(s.commands.len(), 4096);
        assert!(s.truncated);
        assert!(is_shell("/bin/sh") && is_shell("bash") && !is_shell("/usr/bin/python3"));
    }
}
