//! `confine`: the command-line front end. Parses arguments, wires the crates
//! together, draws progress, writes output files atomically and picks exit codes.

mod analyze;
mod args;
mod inspect;
mod limits;
mod observe;
mod output;
mod pipeline;
mod stop;

use anyhow::{Context, Result};
use args::{Cli, Command};
use clap::Parser;
use confine_profile::Profile;
use confine_syscalls::Arch;
use std::process::ExitCode;

/// Exit code for "verification found denials" and "the profile fell back to a wildcard".
pub const EXIT_FINDINGS: u8 = 3;
/// Exit code of `verify` when the container failed with no syscall denied.
pub const EXIT_CONTAINER_FAILED: u8 = 4;
/// Exit code when the Docker engine cannot be reached or stopped answering.
pub const EXIT_ENGINE: u8 = 5;
/// Exit code of any other error.
pub const EXIT_ERROR: u8 = 1;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.limits.iter().any(|l| l == "help") {
        print!("{}", limits::listing());
        return ExitCode::SUCCESS;
    }
    if let Err(e) = limits::install(&cli.limits) {
        eprintln!("confine: {e:#}");
        return ExitCode::from(2);
    }
    let limit = (cli.time_limit > 0).then(|| std::time::Duration::from_secs(cli.time_limit));
    if let Err(e) = stop::install(limit) {
        eprintln!("confine: warning: Ctrl-C and --time-limit cannot be handled: {e:#}");
    }
    let (code, message) = match run(cli) {
        Ok(code) => (code, None),
        Err(e) => {
            let code = exit_code(&e);
            let message = match stop_reason(&e) {
                Some(r) => stop::message(r),
                None => format!("confine: {}", render(&e)),
            };
            (code, Some(message))
        }
    };
    stop::exit_now(code, message.as_deref())
}

/// The error and its causes on one line, each cause once: many errors
/// repeat their source in their own message.
fn render(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// Why the command was stopped from outside, if it was.
fn stop_reason(e: &anyhow::Error) -> Option<confine_runner::StopReason> {
    let from_error = e.chain().find_map(|c| match c.downcast_ref() {
        Some(confine_runner::RunnerError::Cancelled { reason }) => Some(*reason),
        _ => None,
    });
    // An error on the way out of a stopped run (a request cut short) is the stop too.
    from_error.or_else(confine_runner::cancel::stop_requested)
}

/// The engine failure behind `e`, if it is one: directly, or inside the I/O
/// error of a streamed reply.
fn engine_unavailable(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        let engine = c.downcast_ref::<confine_engine::EngineError>().or_else(|| {
            c.downcast_ref::<std::io::Error>()
                .and_then(confine_engine::EngineError::from_io)
        });
        engine.is_some_and(confine_engine::EngineError::is_unavailable)
    })
}

/// The documented exit code of an error (see `confine --help`).
fn exit_code(e: &anyhow::Error) -> u8 {
    if let Some(r) = stop_reason(e) {
        stop::exit_code(r)
    } else if engine_unavailable(e) {
        EXIT_ENGINE
    } else {
        EXIT_ERROR
    }
}

fn run(cli: Cli) -> Result<u8> {
    let quiet = cli.quiet;
    match cli.command {
        Command::Inspect(a) => {
            let image = pipeline::open_image(&a.image, quiet)?;
            let roots = pipeline::roots(&image, &a.image);
            let closure = pipeline::closure(&image, &roots, quiet);
            if a.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&inspect::json(&closure))?
                );
            } else {
                print!("{}", inspect::tree(&closure));
            }
            Ok(0)
        }
        Command::Profile(a) => analyze::profile(&a, quiet),
        Command::Analyze(a) => analyze::analyze_paths(&a, quiet),
        Command::Explain(a) => explain(&a, quiet),
        Command::Diff(a) => diff(&a),
        Command::Verify(a) => verify(&a, quiet),
        Command::Calibrate(a) => calibrate(&a, quiet),
        Command::Batch(a) => batch(&a, quiet),
    }
}

/// Load a profile file (or the name `docker-default`).
fn load_profile(spec: &str) -> Result<Profile> {
    if let Ok(p) = Profile::named(spec, Arch::X86_64) {
        return Ok(p);
    }
    let text = std::fs::read_to_string(spec).with_context(|| format!("cannot read {spec}"))?;
    let mut p = Profile::from_docker_json(&text, Arch::X86_64)
        .with_context(|| format!("{spec} is not a seccomp profile"))?;
    // The side file written by `confine profile` carries the full reasons.
    if let Ok(side) = std::fs::read_to_string(format!("{spec}.reasons.json")) {
        if let Ok(reasons) = serde_json::from_str(&side) {
            p.reasons = reasons;
        }
    }
    Ok(p)
}

fn explain(a: &args::ExplainArgs, quiet: bool) -> Result<u8> {
    let looks_like_profile = std::path::Path::new(&a.target).is_file()
        && std::fs::read(&a.target)
            .map(|b| b.first() == Some(&b'{'))
            .unwrap_or(false);
    let profile = if looks_like_profile || a.target == "docker-default" {
        load_profile(&a.target)?
    } else {
        let pa = args::ProfileArgs::for_image(&a.target);
        analyze::build_profile(&pa, quiet)?.profile
    };
    let e = confine_profile::explain(&profile, &a.syscall);
    println!("{e}");
    Ok(0)
}

fn diff(a: &args::DiffArgs) -> Result<u8> {
    let pa = load_profile(&a.a)?;
    let pb = load_profile(&a.b)?;
    let d = confine_profile::diff(&pa, &pb);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&d)?);
    } else {
        println!("{d}");
    }
    Ok(0)
}

fn verify(a: &args::VerifyArgs, quiet: bool) -> Result<u8> {
    let profile = if a.profile.as_os_str() == "docker-default" && !a.profile.exists() {
        confine_profile::to_docker_json(&load_profile("docker-default")?)?
    } else {
        std::fs::read_to_string(&a.profile)
            .with_context(|| format!("cannot read {}", a.profile.display()))?
    };
    let engine = confine_engine::Engine::from_env().context("no Docker engine")?;
    engine.ping().context("no Docker engine answers")?;
    let mut spec = confine_runner::RunSpec::default();
    observe::apply_run_args(&mut spec, &a.run)?;
    let pb = pipeline::progress_bar(quiet, "running the container under the profile");
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    let out = confine_runner::run_logged(
        &engine,
        &a.image,
        &spec,
        &profile,
        &a.checks,
        std::time::Duration::from_secs(a.duration),
    )?;
    pb.finish_and_clear();
    for c in &out.checks {
        println!(
            "check {}: {}",
            if c.passed { "passed" } else { "FAILED" },
            c.expanded
        );
    }
    if out.denials.is_empty() && out.success {
        println!("ok: no syscall was denied ({} ms)", out.elapsed_ms);
        return Ok(0);
    }
    if let Some(f) = &out.failure {
        println!("failure: {f}");
    }
    for d in &out.denials {
        let name = confine_runner::calibrate::record_syscall_name(d);
        println!("denied: {name} by {} ({}, pid {})", d.exe, d.comm, d.pid);
    }
    if out.audit_lost > 0 {
        println!("warning: the kernel lost {} audit records", out.audit_lost);
    }
    if out.denials.is_empty() {
        let tail = |s: &str| {
            let s = s.trim();
            let start = s.len().saturating_sub(2000);
            let start = (start..=s.len())
                .find(|&i| s.is_char_boundary(i))
                .unwrap_or(s.len());
            s.get(start..).unwrap_or_default().to_string()
        };
        if !out.stderr.trim().is_empty() {
            println!("container stderr (end):\n{}", tail(&out.stderr));
        }
        eprintln!(
            "confine: the container failed under the profile but no syscall was denied: {}",
            out.failure.as_deref().unwrap_or("unknown failure")
        );
        return Ok(EXIT_CONTAINER_FAILED);
    }
    Ok(EXIT_FINDINGS)
}

fn calibrate(a: &args::CalibrateArgs, quiet: bool) -> Result<u8> {
    let engine = confine_engine::Engine::from_env().context("no Docker engine")?;
    let pb = pipeline::progress_bar(quiet, "measuring the runtime's own syscalls");
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    let image = confine_runner::ensure_calibration_image(&engine)?;
    let cal = confine_runner::calibrate(&engine, &image, &["/bin/true".to_string()], 3)?;
    pb.finish_and_clear();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&cal)?);
    } else {
        println!(
            "{} {} (engine {}, kernel {}): {} syscalls after the filter is installed",
            cal.runtime,
            cal.runtime_version,
            cal.engine_version,
            cal.kernel_version,
            cal.syscalls.len()
        );
        for s in &cal.syscalls {
            println!("  {s}");
        }
    }
    Ok(0)
}

/// A file-system-safe name for an image reference.
fn safe_name(reference: &str) -> String {
    let s: String = reference
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    s.trim_start_matches('.').chars().take(120).collect()
}

fn batch(a: &args::BatchArgs, quiet: bool) -> Result<u8> {
    use std::io::Read;
    const MAX_LIST_BYTES: u64 = 1 << 20;
    let mut text = String::new();
    std::fs::File::open(&a.list)
        .with_context(|| format!("cannot open {}", a.list.display()))?
        .take(MAX_LIST_BYTES + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read {}", a.list.display()))?;
    if text.len() as u64 > MAX_LIST_BYTES {
        anyhow::bail!("{}: longer than {MAX_LIST_BYTES} bytes", a.list.display());
    }
    std::fs::create_dir_all(&a.out_dir)
        .with_context(|| format!("cannot create {}", a.out_dir.display()))?;
    let mut rows = Vec::new();
    let mut worst = 0u8;
    for reference in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let start = std::time::Instant::now();
        let mut pa = args::ProfileArgs::for_image(reference);
        pa.cache_dir = a.cache_dir.clone();
        pa.trace.no_trace = !a.trace;
        let out = a.out_dir.join(format!("{}.json", safe_name(reference)));
        stop::check()?;
        let row = match analyze::build_profile(&pa, true).and_then(|b| {
            let json = confine_profile::to_docker_json(&b.profile)?;
            let path = out.to_string_lossy().into_owned();
            let reasons = serde_json::to_string_pretty(&b.profile.reasons)? + "\n";
            output::write_all_atomic(&[
                (&path, json.as_bytes()),
                (&format!("{path}.reasons.json"), reasons.as_bytes()),
            ])?;
            Ok(b)
        }) {
            Ok(b) => {
                let wildcard = b.analysis.programs.iter().any(|(_, r)| r.wildcard);
                if wildcard {
                    worst = worst.max(EXIT_FINDINGS);
                }
                serde_json::json!({"image": reference, "allowed": b.profile.allowed().len(),
                    "programs": b.analysis.programs.len(), "objects": b.closure.objects.len(),
                    "wildcard": wildcard, "seconds": start.elapsed().as_secs_f64(),
                    "profile": out.display().to_string()})
            }
            Err(e) => {
                worst = worst.max(1);
                serde_json::json!({"image": reference, "error": format!("{e:#}"),
                    "seconds": start.elapsed().as_secs_f64()})
            }
        };
        if !quiet && !a.json {
            eprintln!("done {reference}");
        }
        rows.push(row);
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!(
            "{:<48} {:>7} {:>8} {:>7} {:>8}  note",
            "image", "allowed", "programs", "objects", "seconds"
        );
        for r in &rows {
            let note = match (r.get("error"), r["wildcard"].as_bool()) {
                (Some(e), _) => format!("error: {}", e.as_str().unwrap_or("")),
                (None, Some(true)) => "wildcard: Docker's default set for some program".into(),
                _ => String::new(),
            };
            println!(
                "{:<48} {:>7} {:>8} {:>7} {:>8.2}  {note}",
                r["image"].as_str().unwrap_or(""),
                r["allowed"]
                    .as_u64()
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "-".into()),
                r["programs"]
                    .as_u64()
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "-".into()),
                r["objects"]
                    .as_u64()
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "-".into()),
                r["seconds"].as_f64().unwrap_or(0.0),
            );
        }
    }
    Ok(worst)
}
