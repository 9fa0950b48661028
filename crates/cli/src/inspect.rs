//! `confine inspect`: the programs and shared objects that can run, as a tree
//! with the reason for each, or as JSON.

use confine_loader::{Closure, Reason, SearchRule};
use serde_json::{json, Value};
use std::fmt::Write;

/// One line saying why an object or program is there.
pub fn reason_text(r: &Reason) -> String {
    match r {
        Reason::Entrypoint => "entrypoint".into(),
        Reason::PathLookup { name, dir } => format!("`{name}` found on PATH in {dir}"),
        Reason::Interpreter { script } => format!("#! interpreter of {script}"),
        Reason::Needed { by, name, rule } => {
            format!("DT_NEEDED {name} of {by}, via {}", rule_text(*rule))
        }
        Reason::Preload { source } => format!("preloaded by {source}"),
        Reason::Nss { service, database } => format!("NSS module `{service}` for {database}"),
        Reason::Gconv { module } => format!("gconv module {module}"),
        Reason::Dlopen { by, string } => format!("dlopen(\"{string}\") in {by}"),
        Reason::Observed => "executed in the observed run".into(),
        Reason::UserListed => "listed with --binary".into(),
        Reason::AllBinaries => "--all-binaries".into(),
        Reason::Extension { of } => format!("native extension module of {of}"),
        Reason::ScriptCommand { script, command } => {
            format!("`{command}` run by shell script {script}")
        }
    }
}

fn rule_text(r: SearchRule) -> &'static str {
    match r {
        SearchRule::Rpath => "DT_RPATH",
        SearchRule::LdLibraryPath => "LD_LIBRARY_PATH",
        SearchRule::Runpath => "DT_RUNPATH",
        SearchRule::LdSoCache => "/etc/ld.so.cache",
        SearchRule::LdSoConf => "/etc/ld.so.conf",
        SearchRule::DefaultDir => "default folder",
        SearchRule::HwcapsSubdir => "glibc-hwcaps folder",
        SearchRule::Origin => "$ORIGIN",
        SearchRule::MuslPath => "musl search path",
        SearchRule::Absolute => "path in the name",
    }
}

/// The closure as an indented tree.
pub fn tree(c: &Closure) -> String {
    let mut s = String::new();
    for p in &c.programs {
        let why: Vec<String> = p.why.iter().map(reason_text).collect();
        let _ = writeln!(s, "{}  [{}]", p.path, why.join("; "));
        if let Some(i) = p.interp {
            if let Some(o) = c.objects.get(i) {
                let _ = writeln!(s, "  interpreter {}", o.path);
            }
        }
        let n = p.load_order.len().saturating_sub(1) + p.runtime_loaded.len();
        let mut k = 0;
        for (idx, why) in p.load_order.iter().zip(&p.load_reasons).skip(1) {
            k += 1;
            let branch = if k == n { "└─" } else { "├─" };
            if let Some(o) = c.objects.get(*idx) {
                let _ = writeln!(s, "  {branch} {}  ({})", o.path, reason_text(why));
            }
        }
        for (idx, why) in &p.runtime_loaded {
            k += 1;
            let branch = if k == n { "└─" } else { "├─" };
            if let Some(o) = c.objects.get(*idx) {
                let _ = writeln!(s, "  {branch} {}  (run time: {})", o.path, reason_text(why));
            }
        }
    }
    if !c.diagnostics.is_empty() {
        let _ = writeln!(s, "diagnostics:");
        for d in &c.diagnostics {
            let _ = writeln!(s, "  {:?}: {}", d.kind, d.message);
        }
    }
    s
}

/// The closure as JSON.
pub fn json(c: &Closure) -> Value {
    let programs: Vec<Value> = c
        .programs
        .iter()
        .map(|p| {
            let objs: Vec<Value> = p
                .load_order
                .iter()
                .zip(&p.load_reasons)
                .filter_map(|(i, r)| {
                    let o = c.objects.get(*i)?;
                    Some(json!({"path": o.path, "sha256": o.sha256, "why": r, "run_time": false}))
                })
                .chain(p.runtime_loaded.iter().filter_map(|(i, r)| {
                    let o = c.objects.get(*i)?;
                    Some(json!({"path": o.path, "sha256": o.sha256, "why": r, "run_time": true}))
                }))
                .collect();
            json!({
                "path": p.path,
                "why": p.why,
                "interpreter": p.interp.and_then(|i| c.objects.get(i)).map(|o| o.path.clone()),
                "musl": p.musl,
                "objects": objs,
                "unbound_strong_imports": p.bindings.iter().filter(|b| b.to.is_none() && !b.weak).count(),
            })
        })
        .collect();
    json!({ "programs": programs, "diagnostics": c.diagnostics })
}
