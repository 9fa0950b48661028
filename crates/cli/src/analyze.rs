//! `confine profile` and `confine analyze`: run the syscall analysis over a
//! closure (per-object summaries in parallel through the cache, then one
//! reachability pass per program) and turn the result into a profile.

use crate::args::{AnalyzeArgs, DenyAction as DenyArg, DenyErrno, Format, ProfileArgs};
use crate::{output, pipeline, EXIT_FINDINGS};
use anyhow::{Context, Result};
use confine_analysis::{
    analyze_objects_hashed, analyze_program_dynamic, ImportBinding, ObjectRef, ObjectSummary,
    ProgramInput, ProgramResult, SummaryCache, WitnessKind,
};
use confine_loader::{Closure, Roots};
use confine_profile::{DenyAction, Profile, ProfileRequest, Reason, RuntimeNeeds};
use confine_syscalls::Arch;
use rayon::prelude::*;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Instant;

/// The analysis of every program of a closure.
pub struct Analysis {
    /// (program path, result), in the closure's program order.
    pub programs: Vec<(String, ProgramResult)>,
    pub objects_analysed: usize,
    pub elapsed_ms: u128,
}

/// The cache folder: `--cache-dir`, else `$XDG_CACHE_HOME/confine`, else `~/.cache/confine`.
pub fn cache(no_cache: bool, dir: &Option<PathBuf>) -> Option<SummaryCache> {
    if no_cache {
        return None;
    }
    let dir = dir.clone().or_else(|| {
        std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(|v| PathBuf::from(v).join("confine"))
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/confine")))
    })?;
    match SummaryCache::new(&dir) {
        Ok(c) => Some(c),
        Err(e) => {
            eprintln!("confine: warning: summary cache disabled: {e}");
            None
        }
    }
}

/// What one program's analysis reads, decided from the closure alone (no
/// summaries needed): its objects in load order (then those loaded at run
/// time), the loader's bindings renumbered to positions in that list, and
/// which of them are entered through pointers.
struct Plan {
    /// Indices into `Closure::objects`.
    order: Vec<usize>,
    bindings: Vec<ImportBinding>,
    dynamic: Vec<usize>,
    /// Index into `Closure::objects` of the interpreter.
    interp: Option<usize>,
}

/// The identity of the running build, part of every memoised program key:
/// a rebuilt `confine` never reuses whole-program results of another build
/// even when `ANALYSIS_VERSION` was not bumped. `None` disables the memo.
fn build_salt() -> Option<String> {
    let exe = std::env::current_exe().ok()?;
    let m = std::fs::metadata(&exe).ok()?;
    let t = m
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    Some(format!(
        "{} {} {} {}",
        env!("CARGO_PKG_VERSION"),
        exe.display(),
        m.len(),
        t.as_nanos()
    ))
}

/// Analyse each program of the closure. With a cache, a program whose inputs
/// (every object's content hash and path, bindings, run-time loaded objects,
/// analysis version, build) were seen before is read back whole; the others
/// get the summaries of their objects (cached per object, in parallel) and
/// one reachability pass each.
pub fn analyze_closure(closure: &Closure, cache: Option<&SummaryCache>, quiet: bool) -> Analysis {
    let start = Instant::now();
    let pb = pipeline::progress_bar(quiet, "analysing machine code");
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    let limits = crate::limits::get().analysis.clone();
    let plans: Vec<Plan> = closure.programs.iter().map(|p| plan(closure, p)).collect();
    let salt = cache.and_then(|_| build_salt());
    let keys: Vec<Option<String>> = plans
        .iter()
        .map(|pl| {
            let salt = salt.as_deref()?;
            let objects: Vec<(&str, &str, bool)> = pl
                .order
                .iter()
                .filter_map(|&i| {
                    let o = closure.objects.get(i)?;
                    Some((o.path.as_str(), o.sha256.as_str(), pl.interp == Some(i)))
                })
                .collect();
            SummaryCache::program_key(&objects, &pl.bindings, &pl.dynamic, &limits, salt)
        })
        .collect();
    let memo: Vec<Option<ProgramResult>> = keys
        .par_iter()
        .map(|k| cache?.get_program(k.as_deref()?))
        .collect();
    // Summaries only for the objects of programs not memoised.
    let mut needed = vec![false; closure.objects.len()];
    for (pl, m) in plans.iter().zip(&memo) {
        if m.is_none() {
            for &i in &pl.order {
                if let Some(n) = needed.get_mut(i) {
                    *n = true;
                }
            }
        }
    }
    let wanted: Vec<usize> = (0..closure.objects.len())
        .filter(|&i| needed.get(i) == Some(&true))
        .collect();
    // The loader already hashed every object: the cache key reuses it.
    let inputs: Vec<(&str, &[u8], &confine_elf::ElfInfo)> = wanted
        .iter()
        .filter_map(|&i| closure.objects.get(i))
        .map(|o| (o.sha256.as_str(), &*o.data, &o.elf))
        .collect();
    let computed = analyze_objects_hashed(&inputs, &limits, cache);
    let mut summaries: Vec<Option<ObjectSummary>> = vec![None; closure.objects.len()];
    for (i, s) in wanted.into_iter().zip(computed) {
        if let Some(slot) = summaries.get_mut(i) {
            *slot = Some(s);
        }
    }
    let programs = closure
        .programs
        .par_iter()
        .zip(plans.par_iter())
        .zip(memo.into_par_iter().zip(keys.par_iter()))
        .map(|((p, pl), (m, k))| {
            let r = m.unwrap_or_else(|| {
                let r = program_result(closure, &summaries, pl);
                if let (Some(c), Some(k)) = (cache, k) {
                    let _ = c.put_program(k, &r);
                }
                r
            });
            (p.path.clone(), r)
        })
        .collect();
    pb.finish_and_clear();
    Analysis {
        programs,
        objects_analysed: closure.objects.len(),
        elapsed_ms: start.elapsed().as_millis(),
    }
}

/// One program's [`Plan`].
fn plan(closure: &Closure, p: &confine_loader::Program) -> Plan {
    let mut order: Vec<usize> = Vec::new();
    let mut dynamic: Vec<usize> = Vec::new();
    let mut local: HashMap<usize, usize> = HashMap::new();
    let loaded = p.load_order.iter().map(|&i| (i, false));
    // Objects loaded at run time are entered through dlsym'd pointers (NSS,
    // gconv, dlopen, extensions) or replace a library (hwcaps variants): all
    // their exports are roots. Their own DT_NEEDED dependencies are reached
    // through the bindings like any library.
    let at_run_time = p.runtime_loaded.iter().map(|(i, why)| {
        let entered_by_pointer = !matches!(
            why,
            confine_loader::Reason::Needed { rule, .. } if *rule != confine_loader::SearchRule::HwcapsSubdir
        );
        (*i, entered_by_pointer)
    });
    for (i, rt) in loaded.chain(at_run_time) {
        if closure.objects.get(i).is_some() && !local.contains_key(&i) {
            if rt {
                dynamic.push(order.len());
            }
            local.insert(i, order.len());
            order.push(i);
        }
    }
    let bindings = p
        .bindings
        .iter()
        .filter_map(|b| {
            Some(ImportBinding {
                from: *local.get(&b.from)?,
                symbol: b.symbol.clone(),
                version: b.version.clone(),
                to: b.to.and_then(|(o, addr)| Some((*local.get(&o)?, addr))),
            })
        })
        .collect();
    Plan {
        order,
        bindings,
        dynamic,
        interp: p.interp,
    }
}

/// One program's analysis from its plan. Every object of the plan has a
/// summary by construction; one without would be analysed as unsupported
/// (which makes the program a wildcard), never dropped, so the bindings'
/// positions stay right.
fn program_result(
    closure: &Closure,
    summaries: &[Option<ObjectSummary>],
    plan: &Plan,
) -> ProgramResult {
    let missing = ObjectSummary::default();
    let objects: Vec<ObjectRef> = plan
        .order
        .iter()
        .filter_map(|&i| {
            Some(ObjectRef {
                path: &closure.objects.get(i)?.path,
                summary: summaries
                    .get(i)
                    .and_then(Option::as_ref)
                    .unwrap_or(&missing),
                interp: plan.interp == Some(i),
            })
        })
        .collect();
    analyze_program_dynamic(
        &ProgramInput {
            objects,
            bindings: plan.bindings.clone(),
        },
        &plan.dynamic,
    )
}

/// A witness chain as text: `object!function@0xaddr` frames.
fn chain_text(w: &confine_analysis::Witness) -> Vec<String> {
    w.chain
        .iter()
        .map(|f| {
            let obj = f.object.rsplit('/').next().unwrap_or(&f.object);
            format!("{obj}!{}@{:#x}", f.function, f.address)
        })
        .collect()
}

/// The profile request for an analysed closure.
pub fn request(analysis: &Analysis, args: &ProfileArgs) -> Result<ProfileRequest> {
    let arch = Arch::X86_64;
    let mut req = ProfileRequest::new(arch);
    req.deny = match (args.deny_action, args.deny_errno) {
        (DenyArg::Errno, DenyErrno::Enosys) => DenyAction::Errno(confine_profile::ENOSYS),
        (DenyArg::Errno, DenyErrno::Eperm) => DenyAction::Errno(confine_profile::EPERM),
        (DenyArg::Kill, _) => DenyAction::Kill,
        (DenyArg::KillProcess, _) => DenyAction::KillProcess,
        (DenyArg::Log, _) => DenyAction::Log,
        (DenyArg::Trap, _) => DenyAction::Trap,
    };
    req.beyond_docker_default = args.beyond_docker_default;
    req.runtime = RuntimeNeeds::runc_1_1();
    let docker_default = Profile::docker_default(arch)?.allowed();
    for (program, r) in &analysis.programs {
        if r.wildcard {
            let why = r
                .unresolved_sites
                .first()
                .map(|u| {
                    format!(
                        "unresolved syscall number at {}!{}@{:#x}: {}",
                        u.object, u.function, u.site, u.reason
                    )
                })
                .unwrap_or_else(|| "an object could not be analysed".into());
            for name in &docker_default {
                req.allow(
                    name,
                    Reason::Wildcard {
                        program: program.clone(),
                        why: why.clone(),
                    },
                );
            }
        }
        for (nr, w) in &r.syscalls {
            let Some(name) = arch.name(*nr) else { continue };
            let reason = match w.kind {
                WitnessKind::Vdso => Reason::Vdso {
                    function: w
                        .chain
                        .last()
                        .map(|f| f.function.clone())
                        .unwrap_or_default(),
                },
                WitnessKind::KernelTrampoline => Reason::Signal,
                WitnessKind::Site | WitnessKind::WrapperCall => Reason::Analysis {
                    program: program.clone(),
                    chain: chain_text(w),
                },
            };
            req.allow(name, reason);
        }
    }
    Ok(req)
}

/// Everything `profile` produced.
pub struct Built {
    pub profile: Profile,
    pub analysis: Analysis,
    pub closure: Closure,
    pub roots: Roots,
    /// The observed run, or why there was none.
    pub traced: crate::observe::Traced,
}

pub fn build_profile(args: &ProfileArgs, quiet: bool) -> Result<Built> {
    let image = pipeline::open_image(&args.image, quiet)?;
    let mut roots = pipeline::roots(&image, &args.image);
    let mut traced = crate::observe::trace(&args.image, &args.trace, &image, &mut roots, quiet)?;
    let closure = pipeline::closure(&image, &roots, quiet);
    if closure.programs.is_empty() {
        // A profile for no program would allow only the runtime's needs and
        // break whatever the container runs: refuse instead.
        let why: Vec<String> = closure
            .diagnostics
            .iter()
            .map(|d| d.message.clone())
            .collect();
        anyhow::bail!(
            "{}: no program to analyse (argv {:?}); give --entrypoint/--cmd or --binary{}",
            args.image.image,
            roots.entrypoint,
            if why.is_empty() {
                String::new()
            } else {
                format!(": {}", why.join("; "))
            }
        );
    }
    if let crate::observe::Traced::Ran(r) = &mut traced {
        crate::observe::reconcile(&mut r.1, &image, &closure);
    }
    let cache = cache(args.no_cache, &args.cache_dir);
    let analysis = analyze_closure(&closure, cache.as_ref(), quiet);
    let req = request(&analysis, args)?;
    let profile = confine_profile::build(&req).context("cannot build the profile")?;
    Ok(Built {
        profile,
        analysis,
        closure,
        roots,
        traced,
    })
}

pub fn profile(args: &ProfileArgs, quiet: bool) -> Result<u8> {
    let built = build_profile(args, quiet)?;
    let p = &built.profile;
    let text = match args.format {
        Format::Docker => confine_profile::to_docker_json(p)?,
        Format::Oci => serde_json::to_string_pretty(&confine_profile::to_oci_seccomp(p))? + "\n",
        Format::Kubernetes => confine_profile::to_kubernetes_spo(p, &args.k8s_name, "default")?,
        Format::Systemd => confine_profile::to_systemd(p),
    };
    if args.output == "-" {
        output::write_atomic(&args.output, text.as_bytes())?;
    } else {
        // Full reasons (witness chains) beside the profile, for `confine
        // explain`: both files are renamed into place together, or neither.
        let side = serde_json::to_string_pretty(&p.reasons)? + "\n";
        let side_path = format!("{}.reasons.json", args.output);
        output::write_all_atomic(&[
            (args.output.as_str(), text.as_bytes()),
            (side_path.as_str(), side.as_bytes()),
        ])?;
    }
    let wildcard: Vec<&str> = built
        .analysis
        .programs
        .iter()
        .filter(|(_, r)| r.wildcard)
        .map(|(p, _)| p.as_str())
        .collect();
    if args.json {
        let programs: BTreeMap<&str, serde_json::Value> = built
            .analysis
            .programs
            .iter()
            .map(|(path, r)| {
                (
                    path.as_str(),
                    json!({
                        "syscalls": r.names(),
                        "wildcard": r.wildcard,
                        "unresolved_sites": r.unresolved_sites,
                        "diagnostics": r.diagnostics,
                    }),
                )
            })
            .collect();
        let summary = json!({
            "image": args.image.image,
            "argv": built.roots.entrypoint,
            "allowed": p.allowed(),
            "conditional": p.conditional(),
            "warnings": p.warnings,
            "programs": programs,
            "loader_diagnostics": built.closure.diagnostics,
            "objects_analysed": built.analysis.objects_analysed,
            "analysis_ms": built.analysis.elapsed_ms,
            "observed_run": crate::observe::json(&built.traced, p),
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
    }
    let report = report(&built)?;
    if let Some(path) = &args.report {
        let body = if path.ends_with(".html") || path.ends_with(".htm") {
            report.to_html()
        } else {
            report.to_markdown()
        };
        output::write_atomic(path, body.as_bytes())?;
    }
    if !args.json && !quiet {
        eprint!("{}", report.to_text());
        eprintln!(
            "analysed {} objects in {} ms",
            built.analysis.objects_analysed, built.analysis.elapsed_ms
        );
        eprint!("{}", crate::observe::text(&built.traced, p));
    }
    if !wildcard.is_empty() {
        eprintln!(
            "confine: warning: could not resolve every syscall in {}: Docker's default set is allowed for them (see --json)",
            wildcard.join(", ")
        );
        return Ok(EXIT_FINDINGS);
    }
    Ok(0)
}

/// The report: counts against Docker's default, per program, diagnostics, CVEs.
fn report(built: &Built) -> Result<confine_profile::Report> {
    let counts: Vec<confine_profile::ProgramCount> = built
        .analysis
        .programs
        .iter()
        .map(|(path, r)| confine_profile::ProgramCount {
            program: path.clone(),
            syscalls: r.syscalls.len(),
        })
        .collect();
    let diags: Vec<String> = built
        .closure
        .diagnostics
        .iter()
        .map(|d| d.message.clone())
        .collect();
    Ok(confine_profile::Report::new(&built.profile, counts, diags)?)
}

/// Largest file `analyze --object` reads.
const MAX_OBJECT_BYTES: u64 = 1 << 30;

/// `confine analyze --object FILE...`: each file alone, no loader.
fn analyze_objects_alone(args: &AnalyzeArgs) -> Result<u8> {
    use std::io::Read;
    let cache = cache(args.no_cache, &args.cache_dir);
    let mut all = Vec::new();
    for path in &args.programs {
        let p = args.root.join(path.trim_start_matches('/'));
        let f = std::fs::File::open(&p).with_context(|| format!("cannot open {}", p.display()))?;
        let mut data = Vec::new();
        f.take(MAX_OBJECT_BYTES + 1)
            .read_to_end(&mut data)
            .with_context(|| format!("cannot read {}", p.display()))?;
        if data.len() as u64 > MAX_OBJECT_BYTES {
            anyhow::bail!("{}: larger than {MAX_OBJECT_BYTES} bytes", p.display());
        }
        let elf = confine_elf::parse(&data)
            .with_context(|| format!("{}: not an ELF object", p.display()))?;
        let s = match &cache {
            Some(c) => c.get_or_compute(&data, &elf, &crate::limits::get().analysis),
            None => confine_analysis::analyze_object(&data, &elf, &crate::limits::get().analysis),
        };
        let mut numbers: Vec<u32> = s
            .functions
            .iter()
            .flat_map(|f| {
                f.syscalls
                    .iter()
                    .flat_map(|site| site.nr.consts.iter().copied())
            })
            .collect();
        numbers.sort_unstable();
        numbers.dedup();
        all.push(json!({
            "object": p.display().to_string(),
            "stats": s.stats,
            "distinct_numbers": numbers.len(),
            "names": numbers.iter().filter_map(|n| Arch::X86_64.name(*n)).collect::<Vec<_>>(),
            "diagnostics": s.diagnostics.len(),
        }));
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&all)?);
    } else {
        for o in &all {
            println!(
                "{}: {} functions, {} instructions, {} syscall sites, {} distinct numbers, {} diagnostics",
                o["object"].as_str().unwrap_or(""),
                o["stats"]["functions"], o["stats"]["instructions"], o["stats"]["syscall_sites"],
                o["distinct_numbers"], o["diagnostics"]
            );
        }
    }
    Ok(0)
}

/// `confine analyze --root DIR PROGRAM...`
pub fn analyze_paths(args: &AnalyzeArgs, quiet: bool) -> Result<u8> {
    if args.object {
        return analyze_objects_alone(args);
    }
    if !args.root.is_dir() {
        anyhow::bail!("root folder {} is not a folder", args.root.display());
    }
    let root = confine_loader::HostDir::new(&args.root);
    let roots = Roots {
        extra: args.programs.clone(),
        workdir: "/".into(),
        ..Roots::default()
    };
    let closure = confine_loader::build_closure(&root, &roots, &crate::limits::get().loader);
    let cache = cache(args.no_cache, &args.cache_dir);
    let analysis = analyze_closure(&closure, cache.as_ref(), quiet);
    let mut union: BTreeMap<u32, (String, &confine_analysis::Witness)> = BTreeMap::new();
    for (p, r) in &analysis.programs {
        for (nr, w) in &r.syscalls {
            union.entry(*nr).or_insert((p.clone(), w));
        }
    }
    let wildcard = analysis.programs.iter().any(|(_, r)| r.wildcard);
    if args.json {
        let syscalls: BTreeMap<&str, serde_json::Value> = union
            .iter()
            .filter_map(|(nr, (p, w))| {
                Some((
                    Arch::X86_64.name(*nr)?,
                    json!({"program": p, "kind": w.kind, "chain": chain_text(w)}),
                ))
            })
            .collect();
        let programs: Vec<serde_json::Value> = analysis
            .programs
            .iter()
            .map(|(p, r)| {
                json!({"program": p, "count": r.syscalls.len(), "wildcard": r.wildcard,
                "unresolved_sites": r.unresolved_sites, "diagnostics": r.diagnostics})
            })
            .collect();
        let out = json!({"syscalls": syscalls, "programs": programs,
            "loader_diagnostics": closure.diagnostics, "wildcard": wildcard});
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for nr in union.keys() {
            if let Some(n) = Arch::X86_64.name(*nr) {
                println!("{n}");
            }
        }
        if !quiet {
            for d in &closure.diagnostics {
                eprintln!("confine: {:?}: {}", d.kind, d.message);
            }
        }
    }
    if closure.programs.is_empty() {
        anyhow::bail!(
            "none of the programs could be loaded from {}",
            args.root.display()
        );
    }
    Ok(if wildcard { EXIT_FINDINGS } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_closure(programs: &[&str]) -> Closure {
        let root = confine_loader::HostDir::new("/");
        let roots = Roots {
            extra: programs.iter().map(|p| p.to_string()).collect(),
            workdir: "/".into(),
            ..Roots::default()
        };
        confine_loader::build_closure(&root, &roots, &crate::limits::get().loader)
    }

    fn as_json(a: &Analysis) -> serde_json::Value {
        serde_json::to_value(&a.programs).unwrap()
    }

    fn memo_entries(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir.join("programs"))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// A memoised program reads back exactly what the analysis computes; a
    /// damaged memo entry or a changed object is recomputed, never trusted.
    #[test]
    fn memoised_programs_match_the_analysis() {
        let progs = ["/usr/bin/true", "/usr/bin/ls"];
        if let Some(p) = progs.iter().find(|p| !std::path::Path::new(p).exists()) {
            eprintln!("skipped: {p} not here");
            return;
        }
        let closure = host_closure(&progs);
        assert_eq!(closure.programs.len(), 2);
        let fresh = as_json(&analyze_closure(&closure, None, true));
        let dir = tempfile::tempdir().unwrap();
        let cache = SummaryCache::new(dir.path()).unwrap();
        let cold = analyze_closure(&closure, Some(&cache), true);
        assert_eq!(as_json(&cold), fresh);
        assert_eq!(memo_entries(dir.path()), 2);
        let warm = analyze_closure(&closure, Some(&cache), true);
        assert_eq!(as_json(&warm), fresh);
        assert_eq!(warm.objects_analysed, closure.objects.len());
        // Damaged memo entries: a miss, recomputed and rewritten.
        for e in std::fs::read_dir(dir.path().join("programs")).unwrap() {
            let p = e.unwrap().path();
            let b = std::fs::read(&p).unwrap();
            std::fs::write(&p, &b[..b.len() / 2]).unwrap();
        }
        assert_eq!(
            as_json(&analyze_closure(&closure, Some(&cache), true)),
            fresh
        );
        assert_eq!(memo_entries(dir.path()), 2);
        // Another content for libc (same path): both programs miss.
        let mut changed = host_closure(&progs);
        let libc = changed
            .objects
            .iter_mut()
            .find(|o| o.path.ends_with("/libc.so.6"))
            .expect("libc in the closure");
        libc.sha256 = "00".repeat(32);
        let again = analyze_closure(&changed, Some(&cache), true);
        assert_eq!(memo_entries(dir.path()), 4);
        assert_eq!(as_json(&again), fresh, "same bytes, same result");
        // A program whose own closure did not change still hits.
        let only_true = host_closure(&progs[..1]);
        analyze_closure(&only_true, Some(&cache), true);
        assert_eq!(memo_entries(dir.path()), 4);
    }
}
