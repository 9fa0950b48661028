//! The closure builder: roots -> programs -> ld.so/musl search, load order, run-time loads.
//!
//! glibc 2.36 search for a DT_NEEDED name without '/' (requester R, executable E):
//! DT_RPATH of R and of each object up R's loader chain, then of E (only when R has no
//! DT_RUNPATH); LD_LIBRARY_PATH (ignored for setuid/setgid executables, as in secure mode);
//! DT_RUNPATH of R; the image's /etc/ld.so.cache (or, when the image has none, the folders
//! of /etc/ld.so.conf and its includes); the default folders. Both the cache and default
//! folders are skipped when R has DF_1_NODEFLIB. Every searched folder D is also tried as
//! D/glibc-hwcaps/x86-64-v{4,3,2} and the legacy D/{tls,x86_64} variants: which one ld.so
//! takes depends on the CPU, so the plain one goes into the load order and every other
//! existing variant is added to `runtime_loaded` with rule HwcapsSubdir.
//! `$LIB` expands to each of "lib/x86_64-linux-gnu" (Debian), "lib64" (Fedora), "lib" that
//! exists; `$PLATFORM` to "x86_64", "haswell", "xeon_phi".
//!
//! musl: LD_LIBRARY_PATH, then the RUNPATH-or-RPATH of R and its loader chain, then the
//! folders of /etc/ld-musl-x86_64.path (default /lib:/usr/local/lib:/usr/lib); the names
//! lib{c,pthread,rt,m,dl,util,xnet}.so* are musl's own libc (the PT_INTERP object).

use crate::exec::{absolute, env_get, env_target, lookup, parse_shebang, shell_commands};
use crate::facts::{self, Facts, DF_1_NODEFLIB};
use crate::fs::{basename, dirname, join, normalize, FileSystem, Kind};
use crate::ldcache::LdCache;
use crate::ldconf::{parse_ld_so_conf, parse_musl_path};
use crate::nss::{databases_for, NssConf};
use crate::{
    Closure, Diagnostic, Limits, LoadedObject, LoaderError, Program, Reason, Roots, SearchRule,
};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap, HashSet};

const DEFAULT_DIRS: &[&str] = &[
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
];
/// Variants of a searched folder, in ld.so's priority order (glibc 2.36 on x86-64).
const HWCAPS_SUBDIRS: &[&str] = &[
    "glibc-hwcaps/x86-64-v4",
    "glibc-hwcaps/x86-64-v3",
    "glibc-hwcaps/x86-64-v2",
    "tls/x86_64/x86_64",
    "tls/x86_64",
    "tls",
    "x86_64/x86_64",
    "x86_64",
];
const LIB_EXPANSIONS: &[&str] = &["lib/x86_64-linux-gnu", "lib64", "lib"];
const PLATFORM_EXPANSIONS: &[&str] = &["x86_64", "haswell", "xeon_phi"];
const MUSL_LIBC_NAMES: &[&str] = &["c", "pthread", "rt", "m", "dl", "util", "xnet"];
const MUSL_DEFAULT_PATH: &str = "/lib:/usr/local/lib:/usr/lib";
const GCONV_DIRS: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/gconv",
    "/usr/lib64/gconv",
    "/usr/lib/gconv",
];

/// What `program` needs of the executable's facts.
struct ExeFacts {
    class64: bool,
    machine: u16,
    interp: Option<String>,
}

/// One object inside one program.
#[derive(Debug, Clone)]
struct Node {
    obj: usize,
    /// The path the loader opened (not canonical): its folder is `$ORIGIN`.
    found_as: String,
    /// Names this node answers to (requested names, soname, found path).
    names: Vec<String>,
    loader: Option<usize>,
    depth: u32,
}

/// A search hit.
#[derive(Clone)]
struct Hit {
    obj: usize,
    found_as: String,
    rule: SearchRule,
    /// Other hwcaps variants that a different CPU would load instead.
    alts: Vec<(usize, String)>,
}

enum Lookup {
    Existing(usize),
    New(Hit),
    Missing,
}

struct Prog {
    path: String,
    nodes: Vec<Node>,
    order: Vec<usize>,
    reasons: Vec<Reason>,
    /// (node, reason) loaded at run time.
    runtime: Vec<(usize, Reason)>,
    /// Run-time groups: root node and its breadth-first list (for binding scopes).
    groups: Vec<Vec<usize>>,
    rtld: Option<usize>,
    rtld_placed: bool,
    musl: bool,
    secure: bool,
    class64: bool,
    machine: u16,
    limit_hit: bool,
}

pub(crate) struct Builder<'a> {
    fs: &'a dyn FileSystem,
    roots: &'a Roots,
    limits: &'a Limits,
    workdir: String,
    objects: Vec<LoadedObject>,
    by_path: HashMap<String, usize>,
    failed: HashMap<String, LoaderError>,
    diags: Vec<Diagnostic>,
    seen_diags: HashSet<(Option<String>, String)>,
    ldcache: Option<Option<LdCache>>,
    ldconf: Option<Vec<String>>,
    musl_path: Option<Vec<String>>,
    all_files: Option<Vec<(String, u32)>>,
    programs: Vec<Program>,
    prog_by_path: HashMap<String, usize>,
    /// Is this path a folder? (searched folders and their hwcaps variants)
    dir_cache: HashMap<String, bool>,
    /// Results of the program-independent part of the search (cache, ld.so.conf, default
    /// folders) by (name, class64, machine).
    sys_cache: HashMap<(String, bool, u16), Option<Hit>>,
    /// Library-name strings of each object's read-only data.
    strings_cache: HashMap<usize, Vec<String>>,
    /// gconv module paths (computed once per image).
    gconv_cache: Option<Vec<String>>,
    /// Export index of each object (parallel to `objects`).
    exports: Vec<crate::bind::ExportIndex>,
    /// Shell scripts already scanned for the commands they run (canonical paths).
    scanned_scripts: HashSet<String>,
}

/// Drop objects no program uses (wrong-class search hits, rejected candidates) and renumber.
fn compact(mut c: Closure) -> Closure {
    let mut used = vec![false; c.objects.len()];
    let mut mark = |i: usize| {
        if let Some(u) = used.get_mut(i) {
            *u = true;
        }
    };
    for p in &c.programs {
        p.load_order.iter().for_each(|&i| mark(i));
        p.interp.iter().for_each(|&i| mark(i));
        p.runtime_loaded.iter().for_each(|(i, _)| mark(*i));
    }
    if used.iter().all(|&u| u) {
        return c;
    }
    let mut remap = vec![usize::MAX; used.len()];
    let mut objects = Vec::new();
    for (i, o) in std::mem::take(&mut c.objects).into_iter().enumerate() {
        if used.get(i).copied().unwrap_or(false) {
            if let Some(r) = remap.get_mut(i) {
                *r = objects.len();
            }
            objects.push(o);
        }
    }
    let m = |i: usize| remap.get(i).copied().unwrap_or(usize::MAX);
    for p in &mut c.programs {
        p.load_order.iter_mut().for_each(|i| *i = m(*i));
        p.interp = p.interp.map(m);
        p.runtime_loaded.iter_mut().for_each(|(i, _)| *i = m(*i));
        for b in &mut p.bindings {
            b.from = m(b.from);
            b.to = b.to.map(|(o, a)| (m(o), a));
        }
    }
    c.objects = objects;
    c
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn class_name(class64: bool, machine: u16) -> String {
    format!("ELF{} machine {}", if class64 { 64 } else { 32 }, machine)
}

impl<'a> Builder<'a> {
    pub(crate) fn new(fs: &'a dyn FileSystem, roots: &'a Roots, limits: &'a Limits) -> Self {
        let workdir = if roots.workdir.is_empty() {
            "/".to_owned()
        } else {
            normalize(&roots.workdir)
        };
        Builder {
            fs,
            roots,
            limits,
            workdir,
            objects: Vec::new(),
            by_path: HashMap::new(),
            failed: HashMap::new(),
            diags: Vec::new(),
            seen_diags: HashSet::new(),
            ldcache: None,
            ldconf: None,
            musl_path: None,
            all_files: None,
            programs: Vec::new(),
            prog_by_path: HashMap::new(),
            dir_cache: HashMap::new(),
            sys_cache: HashMap::new(),
            strings_cache: HashMap::new(),
            gconv_cache: None,
            exports: Vec::new(),
            scanned_scripts: HashSet::new(),
        }
    }

    fn diag(&mut self, program: Option<&str>, err: LoaderError) {
        let d = err.diagnostic(program);
        if self
            .seen_diags
            .insert((d.program.clone(), d.message.clone()))
        {
            self.diags.push(d);
        }
    }

    pub(crate) fn run(mut self) -> Closure {
        let env = &self.roots.env;
        let path_env = env_get(env, "PATH").map(str::to_owned);
        let argv = self.roots.entrypoint.clone();
        if let Some(argv0) = argv.first() {
            self.command(
                argv0,
                path_env.as_deref(),
                vec![crate::Reason::Entrypoint],
                0,
                true,
            );
            // Heuristics for wrappers: `sh -c "cmd ..."` and entrypoint scripts that
            // `exec "$@"`: argv words that name an executable in the image are roots too.
            let shell = matches!(basename(argv0), "sh" | "bash" | "dash" | "ash" | "busybox");
            let mut words: Vec<String> = Vec::new();
            for (i, w) in argv.iter().enumerate().skip(1) {
                if shell && i >= 2 && argv.get(i - 1).is_some_and(|p| p == "-c") {
                    words.extend(shell_commands(w));
                } else if !w.starts_with('-')
                    && !w.contains(char::is_whitespace)
                    && !w.contains('=')
                {
                    words.push(w.clone());
                }
            }
            for w in words {
                if let Some((p, _)) = lookup(self.fs, &w, path_env.as_deref(), &self.workdir) {
                    if self.fs.mode(&p).is_some_and(|m| m & 0o111 != 0) {
                        self.command(
                            &w,
                            path_env.as_deref(),
                            vec![crate::Reason::Entrypoint],
                            0,
                            false,
                        );
                    }
                }
            }
        }
        for p in self.roots.extra.clone() {
            self.command(
                &absolute(&self.workdir, &p),
                path_env.as_deref(),
                vec![Reason::UserListed],
                0,
                true,
            );
        }
        for p in self.roots.observed.clone() {
            self.command(
                &absolute(&self.workdir, &p),
                path_env.as_deref(),
                vec![Reason::Observed],
                0,
                true,
            );
        }
        if self.roots.all_binaries {
            self.all_binaries();
        }
        compact(Closure {
            programs: self.programs,
            objects: self.objects,
            diagnostics: self.diags,
        })
    }

    /// Resolve a command (PATH lookup, `#!` chains) and add the program(s) it runs.
    fn command(
        &mut self,
        name: &str,
        path_env: Option<&str>,
        mut why: Vec<Reason>,
        depth: u32,
        report: bool,
    ) {
        if depth > self.limits.max_script_depth {
            self.diag(
                None,
                LoaderError::Limit {
                    path: name.to_owned(),
                    what: "max_script_depth",
                    limit: u64::from(self.limits.max_script_depth),
                },
            );
            return;
        }
        let Some((path, dir)) = lookup(self.fs, name, path_env, &self.workdir) else {
            if report {
                let abs = absolute(&self.workdir, name);
                let reason = if self.fs.is_symlink(&abs) {
                    match self.fs.canonicalize(&abs) {
                        // A loop or a chain past max_symlink_hops: say so.
                        Err(e) => format!("unresolvable symlink: {e}"),
                        Ok(_) => "broken symlink".to_string(),
                    }
                } else {
                    "not found in the image (PATH and working folder)".to_string()
                };
                self.diag(
                    None,
                    LoaderError::NotExecutable {
                        path: name.to_owned(),
                        reason,
                    },
                );
            }
            return;
        };
        if let Some(dir) = dir {
            why.push(Reason::PathLookup {
                name: name.to_owned(),
                dir,
            });
        }
        let data = match self.fs.read(&path) {
            Ok(d) => d,
            Err(e) => {
                self.diag(None, LoaderError::Unreadable { path, reason: e });
                return;
            }
        };
        if data.starts_with(b"\x7fELF") {
            self.program(&path, why);
            return;
        }
        let Some(sb) = parse_shebang(&data) else {
            self.diag(
                None,
                LoaderError::NotExecutable {
                    path,
                    reason: "neither ELF nor a #! script".into(),
                },
            );
            return;
        };
        let script = self.fs.canonicalize(&path).unwrap_or(path);
        let interp_why = vec![Reason::Interpreter {
            script: script.clone(),
        }];
        self.command(
            &absolute(&self.workdir, &sb.interp),
            path_env,
            interp_why.clone(),
            depth + 1,
            true,
        );
        let mut shell = crate::script::is_shell(&sb.interp);
        if basename(&sb.interp) == "env" {
            if let Some(target) = sb.arg.as_deref().and_then(env_target) {
                shell = crate::script::is_shell(&target);
                self.command(&target, path_env, interp_why, depth + 1, true);
            }
        }
        if shell {
            self.shell_script(&script, &data, path_env, depth);
        }
    }

    /// Every command a shell script can run (any branch), found in its text: each one
    /// the image has becomes a program with [`Reason::ScriptCommand`]; sourced scripts
    /// are scanned in turn. What cannot be decided is a diagnostic.
    fn shell_script(&mut self, script: &str, data: &[u8], path_env: Option<&str>, depth: u32) {
        if !self.scanned_scripts.insert(script.to_owned()) {
            return;
        }
        if depth > self.limits.max_script_depth {
            self.diag(
                None,
                LoaderError::Limit {
                    path: script.to_owned(),
                    what: "max_script_depth",
                    limit: u64::from(self.limits.max_script_depth),
                },
            );
            return;
        }
        let limits = crate::script::ScanLimits {
            max_bytes: self.limits.max_config_bytes,
            ..crate::script::ScanLimits::default()
        };
        let scan = crate::script::scan(data, &limits);
        let mut missing: Vec<String> = Vec::new();
        for c in &scan.commands {
            if lookup(self.fs, c, path_env, &self.workdir).is_none() {
                missing.push(c.clone());
                continue;
            }
            let why = vec![Reason::ScriptCommand {
                script: script.to_owned(),
                command: c.clone(),
            }];
            self.command(c, path_env, why, depth + 1, false);
        }
        for s in &scan.sourced {
            let p = absolute(&self.workdir, s);
            let canon = self.fs.canonicalize(&p).unwrap_or(p.clone());
            match self.fs.read(&canon) {
                Ok(d) if !d.starts_with(b"\x7fELF") => {
                    self.shell_script(&canon, &d, path_env, depth + 1);
                }
                _ => missing.push(s.clone()),
            }
        }
        if !missing.is_empty() {
            self.diag(
                None,
                LoaderError::Undecided {
                    path: script.to_owned(),
                    reason: format!(
                        "shell script names commands or scripts the image does not have (a branch that cannot run, or a gap): {}",
                        missing.join(", ")
                    ),
                },
            );
        }
        if scan.dynamic > 0 {
            self.diag(
                None,
                LoaderError::Undecided {
                    path: script.to_owned(),
                    reason: format!(
                        "shell script runs {} command(s) named by expansions (e.g. \"$@\"): not decidable statically; the container's argv and an observed run cover them",
                        scan.dynamic
                    ),
                },
            );
        }
        if scan.truncated {
            self.diag(
                None,
                LoaderError::Limit {
                    path: script.to_owned(),
                    what: "shell script scan (bytes, nesting or commands)",
                    limit: limits.max_bytes as u64,
                },
            );
        }
    }

    fn all_binaries(&mut self) {
        if self.all_files.is_none() {
            self.all_files = Some(self.fs.files());
        }
        let files: Vec<String> = self
            .all_files
            .iter()
            .flatten()
            .filter(|(_, m)| m & 0o111 != 0)
            .map(|(p, _)| p.clone())
            .collect();
        for p in files {
            if self.programs.len() >= self.limits.max_programs {
                self.diag(
                    None,
                    LoaderError::Limit {
                        path: p,
                        what: "max_programs",
                        limit: self.limits.max_programs as u64,
                    },
                );
                break;
            }
            let Ok(data) = self.fs.read(&p) else { continue };
            if !data.starts_with(b"\x7fELF") {
                continue;
            }
            let Ok(f) = facts::parse(&data) else { continue };
            if f.is_exec_like() {
                self.program(&p, vec![Reason::AllBinaries]);
            }
        }
    }

    /// Open (or reuse) the object at `path`.
    fn open(&mut self, path: &str) -> Result<usize, LoaderError> {
        let canon = match self.fs.canonicalize(path) {
            Ok(c) => c,
            Err(reason) => {
                return Err(if self.fs.is_symlink(path) {
                    LoaderError::BrokenSymlink {
                        path: path.to_owned(),
                    }
                } else {
                    LoaderError::Unreadable {
                        path: path.to_owned(),
                        reason,
                    }
                })
            }
        };
        if let Some(&i) = self.by_path.get(&canon) {
            return Ok(i);
        }
        if let Some(e) = self.failed.get(&canon) {
            return Err(e.clone());
        }
        let r = self.open_new(&canon);
        match r {
            Ok(obj) => {
                let i = self.objects.len();
                self.exports.push(crate::bind::export_index(&obj.facts));
                self.objects.push(obj);
                self.by_path.insert(canon, i);
                Ok(i)
            }
            Err(e) => {
                self.failed.insert(canon, e.clone());
                Err(e)
            }
        }
    }

    fn open_new(&self, canon: &str) -> Result<LoadedObject, LoaderError> {
        if self.objects.len() >= self.limits.max_total_objects {
            return Err(LoaderError::Limit {
                path: canon.to_owned(),
                what: "max_total_objects",
                limit: self.limits.max_total_objects as u64,
            });
        }
        if self.fs.kind(canon) != Some(Kind::File) {
            return Err(LoaderError::Unreadable {
                path: canon.to_owned(),
                reason: "not a regular file".into(),
            });
        }
        let data = self
            .fs
            .read(canon)
            .map_err(|reason| LoaderError::Unreadable {
                path: canon.to_owned(),
                reason,
            })?;
        if data.len() as u64 > self.limits.max_object_bytes {
            return Err(LoaderError::Limit {
                path: canon.to_owned(),
                what: "max_object_bytes",
                limit: self.limits.max_object_bytes,
            });
        }
        let facts = facts::parse(&data).map_err(|reason| LoaderError::NotElf {
            path: canon.to_owned(),
            reason,
        })?;
        let elf = confine_elf::parse(&data).unwrap_or_else(|e| confine_elf::ElfInfo {
            warnings: vec![format!("confine-elf could not parse this object: {e}")],
            ..confine_elf::ElfInfo::default()
        });
        Ok(LoadedObject {
            path: canon.to_owned(),
            sha256: sha256_hex(&data),
            data,
            facts,
            elf,
        })
    }

    fn add_node(&mut self, p: &mut Prog, hit: &Hit, name: &str, loader: Option<usize>) -> usize {
        let depth = loader
            .and_then(|l| p.nodes.get(l))
            .map_or(0, |n| n.depth + 1);
        let mut names = vec![name.to_owned(), hit.found_as.clone()];
        if let Some(so) = self
            .objects
            .get(hit.obj)
            .and_then(|o| o.facts.soname.clone())
        {
            names.push(so);
        }
        p.nodes.push(Node {
            obj: hit.obj,
            found_as: hit.found_as.clone(),
            names,
            loader,
            depth,
        });
        p.nodes.len() - 1
    }

    fn facts_of(&self, p: &Prog, node: usize) -> Option<&Facts> {
        p.nodes
            .get(node)
            .and_then(|n| self.objects.get(n.obj))
            .map(|o| &o.facts)
    }

    fn node_path(&self, p: &Prog, node: usize) -> String {
        p.nodes
            .get(node)
            .and_then(|n| self.objects.get(n.obj))
            .map(|o| o.path.clone())
            .unwrap_or_default()
    }

    /// Build (or extend the reasons of) the program at `path`.
    fn program(&mut self, path: &str, why: Vec<Reason>) {
        let canon = self
            .fs
            .canonicalize(path)
            .unwrap_or_else(|_| path.to_owned());
        if let Some(&i) = self.prog_by_path.get(&canon) {
            if let Some(prog) = self.programs.get_mut(i) {
                for r in why {
                    if !prog.why.contains(&r) {
                        prog.why.push(r);
                    }
                }
            }
            return;
        }
        if self.programs.len() >= self.limits.max_programs {
            self.diag(
                None,
                LoaderError::Limit {
                    path: canon,
                    what: "max_programs",
                    limit: self.limits.max_programs as u64,
                },
            );
            return;
        }
        let exe = match self.open(&canon) {
            Ok(i) => i,
            Err(e) => {
                self.diag(None, e);
                return;
            }
        };
        let Some(ef) = self.objects.get(exe).map(|o| ExeFacts {
            class64: o.facts.class64,
            machine: o.facts.machine,
            interp: o.facts.interp.clone(),
        }) else {
            return;
        };
        let mode = self.fs.mode(&canon).unwrap_or(0);
        let musl = ef
            .interp
            .as_deref()
            .is_some_and(|i| basename(i).starts_with("ld-musl-"));
        let mut p = Prog {
            path: canon.clone(),
            nodes: vec![Node {
                obj: exe,
                found_as: canon.clone(),
                names: vec![canon.clone()],
                loader: None,
                depth: 0,
            }],
            order: vec![0],
            reasons: vec![why.first().cloned().unwrap_or(Reason::UserListed)],
            runtime: Vec::new(),
            groups: Vec::new(),
            rtld: None,
            rtld_placed: false,
            musl,
            secure: mode & 0o6000 != 0,
            class64: ef.class64,
            machine: ef.machine,
            limit_hit: false,
        };
        // PT_INTERP: ld.so (glibc) or musl's libc.so.
        if let Some(interp) = ef.interp.clone() {
            let ipath = absolute("/", &interp);
            match self.open(&ipath) {
                Ok(obj) => {
                    let hit = Hit {
                        obj,
                        found_as: ipath.clone(),
                        rule: SearchRule::Absolute,
                        alts: Vec::new(),
                    };
                    let n = self.add_node(&mut p, &hit, &interp, Some(0));
                    if let Some(node) = p.nodes.get_mut(n) {
                        node.loader = None;
                    }
                    p.rtld = Some(n);
                }
                Err(e) => {
                    self.diag(Some(&canon), e);
                    self.diag(
                        Some(&canon),
                        LoaderError::NotFound {
                            name: interp.clone(),
                            by: canon.clone(),
                        },
                    );
                }
            }
        }
        // Without PT_INTERP nothing maps DT_NEEDED or preloads (static and static-pie).
        if ef.interp.is_some() {
            self.preloads(&mut p);
            self.needed_bfs(&mut p, 0);
        }
        if let (Some(r), false) = (p.rtld, p.rtld_placed) {
            p.order.push(r);
            p.reasons.push(Reason::Needed {
                by: canon.clone(),
                name: ef.interp.clone().unwrap_or_default(),
                rule: SearchRule::Absolute,
            });
            p.rtld_placed = true;
        }
        // Extensions and dlopen'ed libraries may import NSS or iconv entry points, and NSS
        // modules may dlopen in turn: extensions, dlopen, NSS/gconv, then dlopen again.
        self.extensions(&mut p);
        self.dlopen(&mut p);
        if !p.musl || ef.interp.is_none() {
            self.nss(&mut p);
            self.gconv(&mut p);
            self.dlopen(&mut p);
        }
        self.observed_objects(&mut p);
        let program = self.finish(p, why);
        self.prog_by_path.insert(canon, self.programs.len());
        self.programs.push(program);
    }

    /// Shared objects this program was seen mapping in an observed run and that its
    /// closure lacks: loaded at run time (with their DT_NEEDED), reason Observed.
    fn observed_objects(&mut self, p: &mut Prog) {
        let mine: Vec<String> = self
            .roots
            .observed_objects
            .iter()
            .filter(|o| {
                o.program == p.path || self.fs.canonicalize(&o.program).is_ok_and(|c| c == p.path)
            })
            .map(|o| o.path.clone())
            .collect();
        for path in mine {
            let path = absolute("/", &path);
            if !self.runtime_load(p, &path, 0, Reason::Observed) && !p.limit_hit {
                let by = p.path.clone();
                self.diag(
                    Some(&by),
                    LoaderError::NotElf {
                        path,
                        reason: "mapped in the observed run but not loadable from the image".into(),
                    },
                );
            }
        }
    }

    fn preloads(&mut self, p: &mut Prog) {
        let mut list: Vec<(String, String)> = Vec::new();
        if !p.secure {
            if let Some(v) = env_get(&self.roots.env, "LD_PRELOAD") {
                list.extend(
                    v.split([' ', ':', '\t'])
                        .filter(|s| !s.is_empty())
                        .map(|s| (s.to_owned(), "LD_PRELOAD".to_owned())),
                );
            }
        }
        if !p.musl {
            if let Ok(d) = self.fs.read("/etc/ld.so.preload") {
                let text = String::from_utf8_lossy(
                    d.get(..d.len().min(self.limits.max_config_bytes))
                        .unwrap_or_default(),
                )
                .into_owned();
                list.extend(
                    text.split([' ', ':', '\t', '\n'])
                        .filter(|s| !s.is_empty())
                        .map(|s| (s.to_owned(), "/etc/ld.so.preload".to_owned())),
                );
            }
        }
        for (name, source) in list {
            match self.lookup(p, &name, 0) {
                Lookup::Existing(_) => {}
                Lookup::New(hit) => {
                    let n = self.add_node(p, &hit, &name, Some(0));
                    p.order.push(n);
                    p.reasons.push(Reason::Preload { source });
                    self.alts(p, &hit, n, &name);
                }
                Lookup::Missing => {
                    self.diag(
                        Some(&p.path.clone()),
                        LoaderError::NotFound { name, by: source },
                    );
                }
            }
        }
    }

    /// Breadth-first DT_NEEDED walk starting at `p.order[start..]` (global scope).
    fn needed_bfs(&mut self, p: &mut Prog, start: usize) {
        let mut qi = start;
        while let Some(&n) = p.order.get(qi) {
            qi += 1;
            self.needed_of(p, n, None);
        }
    }

    /// Map the DT_NEEDED of node `n`; new nodes go to the global order, or to `group`.
    fn needed_of(&mut self, p: &mut Prog, n: usize, mut group: Option<&mut Vec<usize>>) {
        let needed = self
            .facts_of(p, n)
            .map(|f| f.needed.clone())
            .unwrap_or_default();
        let by = self.node_path(p, n);
        let depth = p.nodes.get(n).map_or(0, |x| x.depth);
        for name in needed {
            if p.limit_hit {
                return;
            }
            match self.lookup(p, &name, n) {
                Lookup::Existing(e) => {
                    // A run-time group's local scope holds all its dependencies, even
                    // those another group already loaded.
                    if let Some(g) = group.as_deref_mut() {
                        if !g.contains(&e) && !p.order.contains(&e) {
                            g.push(e);
                        }
                    }
                    if Some(e) == p.rtld && !p.rtld_placed && group.is_none() {
                        p.order.push(e);
                        p.reasons.push(Reason::Needed {
                            by: by.clone(),
                            name: name.clone(),
                            rule: SearchRule::Absolute,
                        });
                        p.rtld_placed = true;
                    }
                    if let Some(node) = p.nodes.get_mut(e) {
                        if !node.names.contains(&name) {
                            node.names.push(name.clone());
                        }
                    }
                }
                Lookup::New(hit) => {
                    if depth + 1 > self.limits.max_depth
                        || p.nodes.len() >= self.limits.max_objects_per_program
                    {
                        let (what, limit) = if depth + 1 > self.limits.max_depth {
                            ("max_depth", u64::from(self.limits.max_depth))
                        } else {
                            (
                                "max_objects_per_program",
                                self.limits.max_objects_per_program as u64,
                            )
                        };
                        self.diag(
                            Some(&p.path.clone()),
                            LoaderError::Limit {
                                path: by.clone(),
                                what,
                                limit,
                            },
                        );
                        p.limit_hit = true;
                        return;
                    }
                    let node = self.add_node(p, &hit, &name, Some(n));
                    let reason = Reason::Needed {
                        by: by.clone(),
                        name: name.clone(),
                        rule: hit.rule,
                    };
                    match group.as_deref_mut() {
                        None => {
                            p.order.push(node);
                            p.reasons.push(reason);
                        }
                        Some(g) => {
                            g.push(node);
                            p.runtime.push((node, reason));
                        }
                    }
                    self.alts(p, &hit, node, &name);
                }
                Lookup::Missing => {
                    self.diag(
                        Some(&p.path.clone()),
                        LoaderError::NotFound {
                            name,
                            by: by.clone(),
                        },
                    );
                }
            }
        }
    }

    /// hwcaps variants of a hit: loaded at run time on some CPUs.
    fn alts(&mut self, p: &mut Prog, hit: &Hit, node: usize, name: &str) {
        let by = p
            .nodes
            .get(node)
            .and_then(|n| n.loader)
            .map(|l| self.node_path(p, l))
            .unwrap_or_default();
        for (obj, found) in &hit.alts {
            if p.nodes.iter().any(|n| n.obj == *obj) {
                continue;
            }
            let h = Hit {
                obj: *obj,
                found_as: found.clone(),
                rule: SearchRule::HwcapsSubdir,
                alts: Vec::new(),
            };
            let loader = p.nodes.get(node).and_then(|n| n.loader);
            let a = self.add_node(p, &h, name, loader);
            p.runtime.push((
                a,
                Reason::Needed {
                    by: by.clone(),
                    name: name.to_owned(),
                    rule: SearchRule::HwcapsSubdir,
                },
            ));
            let mut g = vec![a];
            let mut qi = 0;
            while let Some(&x) = g.get(qi) {
                qi += 1;
                self.needed_of(p, x, Some(&mut g));
            }
            p.groups.push(g);
        }
    }

    /// Load `name` at run time on behalf of node `by` (dlopen semantics), with its closure.
    fn runtime_load(&mut self, p: &mut Prog, name: &str, by: usize, reason: Reason) -> bool {
        if p.limit_hit {
            return false;
        }
        match self.lookup(p, name, by) {
            Lookup::Existing(_) => true,
            Lookup::Missing => false,
            Lookup::New(hit) => {
                if p.nodes.len() >= self.limits.max_objects_per_program {
                    self.diag(
                        Some(&p.path.clone()),
                        LoaderError::Limit {
                            path: name.to_owned(),
                            what: "max_objects_per_program",
                            limit: self.limits.max_objects_per_program as u64,
                        },
                    );
                    p.limit_hit = true;
                    return false;
                }
                let n = self.add_node(p, &hit, name, Some(by));
                p.runtime.push((n, reason));
                let mut g = vec![n];
                let mut qi = 0;
                while let Some(&x) = g.get(qi) {
                    qi += 1;
                    self.needed_of(p, x, Some(&mut g));
                }
                p.groups.push(g);
                self.alts(p, &hit, n, name);
                true
            }
        }
    }

    fn all_nodes_in_scope(p: &Prog) -> Vec<usize> {
        let mut v = p.order.clone();
        for g in &p.groups {
            v.extend(g.iter().copied());
        }
        v
    }

    fn imports_of_program(&self, p: &Prog) -> BTreeSet<String> {
        let mut s = BTreeSet::new();
        for n in Self::all_nodes_in_scope(p) {
            if let Some(f) = self.facts_of(p, n) {
                s.extend(f.imports().map(|x| x.name.clone()));
            }
        }
        s
    }

    fn libc_node(&self, p: &Prog) -> usize {
        p.order
            .iter()
            .copied()
            .find(|&n| {
                self.facts_of(p, n)
                    .and_then(|f| f.soname.as_deref())
                    .is_some_and(|s| s == "libc.so.6")
            })
            .unwrap_or(0)
    }

    /// NSS: modules for the databases reached by imported NSS entry points.
    fn nss(&mut self, p: &mut Prog) {
        let imports = self.imports_of_program(p);
        let mut dbs: BTreeSet<&str> = BTreeSet::new();
        for i in &imports {
            dbs.extend(databases_for(i));
        }
        if dbs.is_empty() {
            return;
        }
        let conf = match self.fs.read("/etc/nsswitch.conf") {
            Ok(d) if d.len() <= self.limits.max_config_bytes => {
                NssConf::parse(&String::from_utf8_lossy(&d))
            }
            Ok(_) => {
                self.diag(
                    Some(&p.path.clone()),
                    LoaderError::Config {
                        path: "/etc/nsswitch.conf".into(),
                        reason: "too large".into(),
                    },
                );
                NssConf::default()
            }
            Err(_) => NssConf::default(),
        };
        let libc = self.libc_node(p);
        for db in dbs {
            for service in conf.services(db) {
                let name = format!("libnss_{service}.so.2");
                let found = self.runtime_load(
                    p,
                    &name,
                    libc,
                    Reason::Nss {
                        service: service.clone(),
                        database: db.to_owned(),
                    },
                );
                if !found && service != "files" && service != "dns" {
                    // glibc skips a missing module; reported once per image.
                    self.diag(
                        None,
                        LoaderError::NotFound {
                            name,
                            by: format!("/etc/nsswitch.conf ({db})"),
                        },
                    );
                }
            }
        }
    }

    /// gconv modules, when iconv_open is imported.
    fn gconv(&mut self, p: &mut Prog) {
        let imports = self.imports_of_program(p);
        if !imports.contains("iconv_open") {
            return;
        }
        let libc = self.libc_node(p);
        for m in self.gconv_modules() {
            let module = basename(&m).trim_end_matches(".so").to_owned();
            self.runtime_load(p, &m, libc, Reason::Gconv { module });
        }
    }

    /// Existing gconv module files: those listed by `module` lines of gconv-modules and
    /// gconv-modules.d/*.conf in GCONV_PATH folders and the usual gconv folders, or every
    /// `.so` in a folder that has no config.
    fn gconv_modules(&mut self) -> Vec<String> {
        if let Some(m) = &self.gconv_cache {
            return m.clone();
        }
        let mut dirs: Vec<String> = env_get(&self.roots.env, "GCONV_PATH")
            .map(|v| {
                v.split(':')
                    .filter(|d| d.starts_with('/'))
                    .map(|d| d.trim_end_matches('/').to_owned())
                    .collect()
            })
            .unwrap_or_default();
        dirs.extend(GCONV_DIRS.iter().map(|d| (*d).to_owned()));
        let mut modules: Vec<String> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        for dir in dirs {
            if self.fs.kind(&dir) != Some(Kind::Dir) {
                continue;
            }
            let mut configs = vec![join(&dir, "gconv-modules")];
            configs.extend(crate::fs::glob(
                self.fs,
                &join(&dir, "gconv-modules.d/*.conf"),
                self.limits.max_dir_entries,
            ));
            let mut listed: Vec<String> = Vec::new();
            let mut any_config = false;
            for c in configs {
                let Ok(d) = self.fs.read(&c) else { continue };
                any_config = true;
                let text = d
                    .get(..d.len().min(self.limits.max_config_bytes))
                    .unwrap_or_default();
                for line in String::from_utf8_lossy(text).lines() {
                    let mut w = line.split('#').next().unwrap_or("").split_whitespace();
                    if w.next() != Some("module") {
                        continue;
                    }
                    let (_, _, Some(file)) = (w.next(), w.next(), w.next()) else {
                        continue;
                    };
                    listed.push(if file.starts_with('/') {
                        format!("{file}.so")
                    } else {
                        join(&dir, &format!("{file}.so"))
                    });
                }
            }
            if !any_config {
                if let Ok(names) = self.fs.read_dir(&dir) {
                    listed.extend(
                        names
                            .iter()
                            .take(self.limits.max_dir_entries)
                            .filter(|n| n.ends_with(".so"))
                            .map(|n| join(&dir, n)),
                    );
                }
            }
            for m in listed {
                if !seen.contains(&m) && self.fs.kind(&m) == Some(Kind::File) {
                    seen.insert(m.clone());
                    modules.push(m);
                }
            }
        }
        self.gconv_cache = Some(modules.clone());
        modules
    }

    /// dlopen: library-name strings in the read-only data of objects that import dlopen
    /// (and of libc.so.6, which dlopens libgcc_s and others itself).
    fn dlopen(&mut self, p: &mut Prog) {
        let mut done: HashSet<usize> = HashSet::new();
        loop {
            let todo: Vec<usize> = Self::all_nodes_in_scope(p)
                .into_iter()
                .filter(|n| !done.contains(n))
                .collect();
            if todo.is_empty() || p.limit_hit {
                return;
            }
            for n in todo {
                done.insert(n);
                let Some(obj) = p.nodes.get(n).map(|x| x.obj) else {
                    continue;
                };
                let Some(o) = self.objects.get(obj) else {
                    continue;
                };
                let uses = o.facts.imports().any(|s| {
                    matches!(s.name.as_str(), "dlopen" | "dlmopen" | "__libc_dlopen_mode")
                }) || o.facts.soname.as_deref() == Some("libc.so.6");
                if !uses {
                    continue;
                }
                let by = o.path.clone();
                let is_libc = o.facts.soname.as_deref() == Some("libc.so.6");
                let strings = match self.strings_cache.get(&obj) {
                    Some(s) => s.clone(),
                    None => {
                        let s = facts::soname_strings(
                            &o.data,
                            &o.facts,
                            self.limits.max_dlopen_strings,
                        );
                        self.strings_cache.insert(obj, s.clone());
                        s
                    }
                };
                let mut added = 0usize;
                for s in &strings {
                    if s.starts_with("libnss_") && is_libc {
                        continue;
                    }
                    if self.runtime_load(
                        p,
                        s,
                        n,
                        Reason::Dlopen {
                            by: by.clone(),
                            string: s.clone(),
                        },
                    ) {
                        added += 1;
                    }
                }
                if !is_libc {
                    // About the object, whichever program loads it: reported once.
                    self.diag(
                        None,
                        LoaderError::Undecided {
                            path: by,
                            reason: format!(
                                "imports dlopen: {added} of {} library names in its read-only data resolved and added; names computed at run time cannot be decided",
                                strings.len()
                            ),
                        },
                    );
                }
            }
        }
    }

    fn files(&mut self) -> &[(String, u32)] {
        if self.all_files.is_none() {
            self.all_files = Some(self.fs.files());
        }
        self.all_files.as_deref().unwrap_or_default()
    }

    /// Native extension modules of interpreters.
    fn extensions(&mut self, p: &mut Prog) {
        let exe = basename(&p.path).to_owned();
        let home = dirname(dirname(&p.path)).to_owned();
        type Filter = Box<dyn Fn(&str) -> bool>;
        let filter: Filter = if exe.starts_with("python") {
            Box::new(|f: &str| {
                (f.starts_with("/usr/lib/python")
                    || f.starts_with("/usr/local/lib/python")
                    || f.starts_with("/opt/"))
                    && (f.contains("/lib-dynload/") || f.contains("-packages/"))
                    && (f.ends_with(".so") || f.contains(".so."))
            })
        } else if exe.starts_with("perl") {
            Box::new(|f: &str| (f.contains("/perl") && f.contains("/auto/")) && f.ends_with(".so"))
        } else if exe == "node" || exe == "nodejs" {
            Box::new(|f: &str| f.contains("/node_modules/") && f.ends_with(".node"))
        } else if exe.starts_with("ruby") {
            Box::new(|f: &str| f.contains("/ruby/") && f.ends_with(".so"))
        } else if exe.starts_with("php") {
            Box::new(|f: &str| {
                ((f.contains("/php") && f.contains("/extensions/"))
                    || f.starts_with("/usr/lib/php/"))
                    && f.ends_with(".so")
            })
        } else if exe == "java" {
            let prefix = format!("{home}/");
            Box::new(move |f: &str| f.starts_with(&prefix) && f.ends_with(".so"))
        } else {
            return;
        };
        let max = self.limits.max_extensions;
        let list: Vec<String> = self
            .files()
            .iter()
            .filter(|(f, _)| filter(f))
            .map(|(f, _)| f.clone())
            .take(max + 1)
            .collect();
        if list.len() > max {
            let path = p.path.clone();
            self.diag(
                Some(&path),
                LoaderError::Limit {
                    path: path.clone(),
                    what: "max_extensions",
                    limit: max as u64,
                },
            );
        }
        let of = p.path.clone();
        for f in list.into_iter().take(max) {
            self.runtime_load(p, &f, 0, Reason::Extension { of: of.clone() });
        }
    }

    fn finish(&mut self, p: Prog, why: Vec<Reason>) -> Program {
        let obj = |n: usize| p.nodes.get(n).map_or(0, |x| x.obj);
        let load_order: Vec<usize> = p.order.iter().map(|&n| obj(n)).collect();
        let mut reasons = p.reasons.clone();
        if let Some(first) = reasons.first_mut() {
            *first = why.first().cloned().unwrap_or(Reason::UserListed);
        }
        let runtime_loaded: Vec<(usize, Reason)> = p
            .runtime
            .iter()
            .map(|(n, r)| (obj(*n), r.clone()))
            .collect();
        let (bindings, unresolved) = crate::bind::bind_program(
            &self.objects,
            &self.exports,
            &load_order,
            &p.groups
                .iter()
                .map(|g| g.iter().map(|&n| obj(n)).collect::<Vec<_>>())
                .collect::<Vec<_>>(),
        );
        for (from, names) in unresolved {
            let path = self
                .objects
                .get(from)
                .map(|o| o.path.clone())
                .unwrap_or_default();
            let count = names.len();
            let names = names.into_iter().take(20).collect::<Vec<_>>().join(", ");
            self.diag(
                Some(&p.path),
                LoaderError::Unresolved { path, count, names },
            );
        }
        Program {
            path: p.path.clone(),
            why,
            interp: p.rtld.map(obj),
            load_order,
            load_reasons: reasons,
            runtime_loaded,
            bindings,
            musl: p.musl,
        }
    }

    // ----- search -----

    fn cache(&mut self) -> Option<&LdCache> {
        if self.ldcache.is_none() {
            let c = match self.fs.read("/etc/ld.so.cache") {
                Ok(d) => match LdCache::parse(&d) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        self.diag(None, e);
                        None
                    }
                },
                Err(_) => None,
            };
            self.ldcache = Some(c);
        }
        self.ldcache.as_ref().and_then(|c| c.as_ref())
    }

    fn conf_dirs(&mut self) -> Vec<String> {
        if self.ldconf.is_none() {
            let mut errs = Vec::new();
            let dirs = if self.fs.kind("/etc/ld.so.conf").is_some() {
                parse_ld_so_conf(
                    self.fs,
                    "/etc/ld.so.conf",
                    8,
                    self.limits.max_config_bytes,
                    &mut errs,
                )
            } else {
                Vec::new()
            };
            for (path, reason) in errs {
                self.diag(None, LoaderError::Config { path, reason });
            }
            self.ldconf = Some(dirs);
        }
        self.ldconf.clone().unwrap_or_default()
    }

    fn musl_dirs(&mut self, p: &Prog) -> Vec<String> {
        if self.musl_path.is_none() {
            let arch = p
                .rtld
                .map(|r| self.node_path(p, r))
                .and_then(|rp| {
                    basename(&rp)
                        .strip_prefix("ld-musl-")
                        .and_then(|s| s.split(".so").next())
                        .map(str::to_owned)
                })
                .or_else(|| {
                    p.nodes
                        .first()
                        .and_then(|n| self.objects.get(n.obj))
                        .and_then(|o| o.facts.interp.clone())
                        .and_then(|i| {
                            basename(&i)
                                .strip_prefix("ld-musl-")
                                .and_then(|s| s.split(".so").next())
                                .map(str::to_owned)
                        })
                })
                .unwrap_or_else(|| "x86_64".into());
            let file = format!("/etc/ld-musl-{arch}.path");
            let dirs = match self.fs.read(&file) {
                Ok(d) => parse_musl_path(&String::from_utf8_lossy(
                    d.get(..d.len().min(self.limits.max_config_bytes))
                        .unwrap_or_default(),
                )),
                Err(_) => parse_musl_path(MUSL_DEFAULT_PATH),
            };
            self.musl_path = Some(dirs);
        }
        self.musl_path.clone().unwrap_or_default()
    }

    /// Expand `$ORIGIN`, `$LIB`, `$PLATFORM` (and `${...}`) for node `n`. Returns the
    /// candidates and whether `$ORIGIN` was used.
    fn expand(&self, p: &Prog, s: &str, n: usize) -> (Vec<String>, bool) {
        if !s.contains('$') {
            return (vec![s.to_owned()], false);
        }
        let origin = p
            .nodes
            .get(n)
            .map(|x| dirname(&x.found_as).to_owned())
            .unwrap_or_else(|| "/".into());
        let mut out = vec![s.replace("${ORIGIN}", &origin).replace("$ORIGIN", &origin)];
        let used_origin = s.contains("ORIGIN");
        for (var, vals) in [("LIB", LIB_EXPANSIONS), ("PLATFORM", PLATFORM_EXPANSIONS)] {
            if !out
                .iter()
                .any(|c| c.contains(&format!("${var}")) || c.contains(&format!("${{{var}}}")))
            {
                continue;
            }
            let mut next = Vec::new();
            for c in &out {
                for v in vals {
                    next.push(
                        c.replace(&format!("${{{var}}}"), v)
                            .replace(&format!("${var}"), v),
                    );
                }
            }
            out = next;
        }
        (out, used_origin)
    }

    /// Try one file; Some(obj) when it is a loadable object of the right class.
    fn try_file(&mut self, p: &Prog, path: &str) -> Option<usize> {
        let path = normalize(path);
        if self.fs.kind(&path).is_none() {
            if self.fs.is_symlink(&path) {
                self.diag(Some(&p.path), LoaderError::BrokenSymlink { path });
            }
            return None;
        }
        match self.open(&path) {
            Ok(obj) => {
                let f = &self.objects.get(obj)?.facts;
                if f.class64 != p.class64 || f.machine != p.machine {
                    let err = LoaderError::WrongClass {
                        path,
                        found: class_name(f.class64, f.machine),
                        want: class_name(p.class64, p.machine),
                    };
                    self.diag(Some(&p.path), err);
                    return None;
                }
                Some(obj)
            }
            Err(e) => {
                self.diag(Some(&p.path), e);
                None
            }
        }
    }

    fn is_dir(&mut self, dir: &str) -> bool {
        if let Some(&d) = self.dir_cache.get(dir) {
            return d;
        }
        let d = self.fs.kind(dir) == Some(Kind::Dir);
        self.dir_cache.insert(dir.to_owned(), d);
        d
    }

    /// Search one folder (and its hwcaps variants) for `name`.
    fn try_dir(&mut self, p: &Prog, dir: &str, name: &str, rule: SearchRule) -> Option<Hit> {
        let dir = absolute(&self.workdir, dir);
        if !self.is_dir(&dir) {
            return None;
        }
        let mut variants = Vec::new();
        for sub in HWCAPS_SUBDIRS {
            let vdir = join(&dir, sub);
            if self.is_dir(&vdir) {
                let cand = join(&vdir, name);
                if let Some(obj) = self.try_file(p, &cand) {
                    variants.push((obj, cand));
                }
            }
        }
        let plain = join(&dir, name);
        match self.try_file(p, &plain) {
            Some(obj) => Some(Hit {
                obj,
                found_as: normalize(&plain),
                rule,
                alts: variants,
            }),
            None => {
                let mut it = variants.into_iter();
                let (obj, found_as) = it.next()?;
                Some(Hit {
                    obj,
                    found_as,
                    rule: SearchRule::HwcapsSubdir,
                    alts: it.collect(),
                })
            }
        }
    }

    fn existing(&self, p: &Prog, name: &str) -> Option<usize> {
        if p.musl {
            if let Some(r) = p.rtld {
                let base = basename(name);
                if MUSL_LIBC_NAMES.iter().any(|l| {
                    base.strip_prefix("lib")
                        .and_then(|b| b.strip_prefix(l))
                        .is_some_and(|rest| rest.starts_with(".so"))
                }) || base.starts_with("ld-musl-")
                    || base.starts_with("libc.musl-")
                {
                    return Some(r);
                }
            }
        }
        p.nodes
            .iter()
            .position(|n| n.names.iter().any(|x| x == name))
    }

    fn lookup(&mut self, p: &Prog, name: &str, req: usize) -> Lookup {
        if let Some(e) = self.existing(p, name) {
            return Lookup::Existing(e);
        }
        let hit = self.search(p, name, req);
        match hit {
            None => Lookup::Missing,
            Some(h) => match p.nodes.iter().position(|n| n.obj == h.obj) {
                Some(e) => Lookup::Existing(e),
                None => Lookup::New(h),
            },
        }
    }

    fn search(&mut self, p: &Prog, name: &str, req: usize) -> Option<Hit> {
        if name.is_empty() {
            return None;
        }
        let (names, origin) = self.expand(p, name, req);
        if name.contains('/') {
            let rule = if origin {
                SearchRule::Origin
            } else {
                SearchRule::Absolute
            };
            for n in names {
                let path = absolute(&self.workdir, &n);
                if let Some(obj) = self.try_file(p, &path) {
                    return Some(Hit {
                        obj,
                        found_as: path,
                        rule,
                        alts: Vec::new(),
                    });
                }
            }
            return None;
        }
        let (req_runpath, req_flags_1) = self
            .facts_of(p, req)
            .map(|f| (f.runpath.clone(), f.flags_1))
            .unwrap_or_default();
        let ld_library_path: Vec<String> = if p.secure {
            Vec::new()
        } else {
            env_get(&self.roots.env, "LD_LIBRARY_PATH")
                .map(|v| {
                    v.split([':', ';'])
                        .map(|d| {
                            if d.is_empty() {
                                ".".to_owned()
                            } else {
                                d.to_owned()
                            }
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut dirs: Vec<(String, SearchRule, usize)> = Vec::new();
        if p.musl {
            for d in &ld_library_path {
                dirs.push((d.clone(), SearchRule::LdLibraryPath, 0));
            }
            let mut l = Some(req);
            let mut guard = 0;
            while let Some(x) = l {
                guard += 1;
                if guard > 256 {
                    break;
                }
                if let Some(f) = self.facts_of(p, x) {
                    let (list, rule) = if f.runpath.is_empty() {
                        (&f.rpath, SearchRule::Rpath)
                    } else {
                        (&f.runpath, SearchRule::Runpath)
                    };
                    for d in list {
                        dirs.push((d.clone(), rule, x));
                    }
                }
                l = p.nodes.get(x).and_then(|n| n.loader);
            }
            for (d, rule, x) in dirs {
                let (cands, origin) = self.expand(p, &d, x);
                for c in cands {
                    if let Some(h) =
                        self.try_dir(p, &c, name, if origin { SearchRule::Origin } else { rule })
                    {
                        return Some(h);
                    }
                }
            }
            for d in self.musl_dirs(p) {
                if let Some(h) = self.try_dir(p, &d, name, SearchRule::MuslPath) {
                    return Some(h);
                }
            }
            return None;
        }
        if req_runpath.is_empty() {
            let mut chain = Vec::new();
            let mut l = Some(req);
            while let Some(x) = l {
                if chain.contains(&x) || chain.len() > 256 {
                    break;
                }
                chain.push(x);
                l = p.nodes.get(x).and_then(|n| n.loader);
            }
            if !chain.contains(&0) {
                chain.push(0);
            }
            for x in chain {
                if let Some(f) = self.facts_of(p, x) {
                    if f.runpath.is_empty() {
                        for d in &f.rpath {
                            dirs.push((d.clone(), SearchRule::Rpath, x));
                        }
                    }
                }
            }
        }
        for d in &ld_library_path {
            dirs.push((d.clone(), SearchRule::LdLibraryPath, 0));
        }
        for d in &req_runpath {
            dirs.push((d.clone(), SearchRule::Runpath, req));
        }
        for (d, rule, x) in dirs {
            let (cands, origin) = self.expand(p, &d, x);
            for c in cands {
                if let Some(h) =
                    self.try_dir(p, &c, name, if origin { SearchRule::Origin } else { rule })
                {
                    return Some(h);
                }
            }
        }
        if req_flags_1 & DF_1_NODEFLIB != 0 {
            return None;
        }
        let key = (name.to_owned(), p.class64, p.machine);
        if let Some(h) = self.sys_cache.get(&key) {
            return h.clone();
        }
        let h = self.search_system(p, name);
        self.sys_cache.insert(key, h.clone());
        h
    }

    /// The program-independent end of glibc's search: ld.so.cache (or ld.so.conf when the
    /// image has no cache), then the default folders.
    fn search_system(&mut self, p: &Prog, name: &str) -> Option<Hit> {
        let cached = self.cache().map(|c| {
            let (main, hw) = c.lookup(name);
            (
                main.map(str::to_owned),
                hw.into_iter().map(str::to_owned).collect::<Vec<_>>(),
            )
        });
        match cached {
            Some((main, hw)) => {
                let mut alts = Vec::new();
                for h in hw {
                    if let Some(obj) = self.try_file(p, &h) {
                        alts.push((obj, h));
                    }
                }
                if let Some(m) = main {
                    if let Some(obj) = self.try_file(p, &m) {
                        return Some(Hit {
                            obj,
                            found_as: m,
                            rule: SearchRule::LdSoCache,
                            alts,
                        });
                    }
                }
                let mut it = alts.into_iter();
                if let Some((obj, found_as)) = it.next() {
                    return Some(Hit {
                        obj,
                        found_as,
                        rule: SearchRule::HwcapsSubdir,
                        alts: it.collect(),
                    });
                }
            }
            None => {
                for d in self.conf_dirs() {
                    if let Some(h) = self.try_dir(p, &d, name, SearchRule::LdSoConf) {
                        return Some(h);
                    }
                }
            }
        }
        for d in DEFAULT_DIRS {
            if let Some(h) = self.try_dir(p, d, name, SearchRule::DefaultDir) {
                return Some(h);
            }
        }
        None
    }
}
