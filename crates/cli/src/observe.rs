//! The observed run of `confine profile`: start the container with the user's
//! run options under a log-everything profile, record the programs it executes
//! and the shared objects they map, and hand them to the loader as roots.

use crate::args::ImageArgs;
use anyhow::{bail, Context, Result};
use clap::Args;
use confine_image::{Image, Transport};
use confine_loader::{Closure, ObservedObject, Roots};
use confine_runner::{Observation, ObserveOptions, RunSpec};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// Largest `--run-options` file read.
const MAX_OPTIONS_BYTES: u64 = 1 << 20;

/// How to run the container (observed run, `confine verify`).
#[derive(Args, Debug, Clone, Default)]
pub struct RunArgs {
    /// One `docker run` option with its value (`-e K=V`, `-p 8080:80`,
    /// `-v /host:/ctr:ro`, `--cap-add NET_ADMIN`, `-w DIR`, `--network NAME`,
    /// `--tmpfs /run`); repeatable. For `profile`, its --entrypoint, --cmd, -e
    /// and --user apply to the run too.
    #[arg(long = "run-arg", allow_hyphen_values = true, value_name = "OPTION")]
    pub run_args: Vec<String>,
    /// JSON file of run options: {"env": [..], "ports": [..], "binds":
    /// [..], "cap_add": [..], "entrypoint": [..], "cmd": [..], "user": "..",
    /// "workdir": "..", "network": "..", "extra": {Docker API create body}}.
    #[arg(long, value_name = "FILE")]
    pub run_options: Option<PathBuf>,
}

/// Options of the observed run (flattened into `confine profile`).
#[derive(Args, Debug, Clone)]
pub struct TraceArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Longest observed run, in seconds.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub trace_time: u64,
    /// The observed run ends after this many seconds without a new program, mapping
    /// or (program, syscall) pair.
    #[arg(long, default_value_t = 3, value_name = "SECONDS")]
    pub trace_quiet: u64,
    /// Skip the observed run (static analysis only).
    #[arg(long)]
    pub no_trace: bool,
    /// Engine image to run when IMAGE is not one (docker-archive:, oci:, rootfs:).
    #[arg(long, value_name = "NAME")]
    pub trace_image: Option<String>,
    /// Host command run against the container during the observed run (`{ip}` is its
    /// address), to drive a workload; repeatable.
    #[arg(long = "trace-check", value_name = "CMD")]
    pub trace_checks: Vec<String>,
}

impl TraceArgs {
    /// No observed run (for `explain IMAGE`).
    pub fn off() -> TraceArgs {
        TraceArgs {
            run: RunArgs::default(),
            trace_time: 60,
            trace_quiet: 3,
            no_trace: true,
            trace_image: None,
            trace_checks: Vec::new(),
        }
    }
}

/// The `--run-options` file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunOptionsFile {
    #[serde(default)]
    env: Vec<String>,
    #[serde(default)]
    ports: Vec<String>,
    #[serde(default)]
    binds: Vec<String>,
    #[serde(default)]
    cap_add: Vec<String>,
    entrypoint: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    user: Option<String>,
    workdir: Option<String>,
    network: Option<String>,
    extra: Option<serde_json::Value>,
}

/// The observed run, as reported.
#[derive(Debug, Clone, Serialize)]
pub struct ObservedRun {
    /// The engine image that ran.
    pub image: String,
    pub elapsed_ms: u64,
    pub ended_quiet: bool,
    /// Executables that ran (paths in the image), with argv and mappings.
    pub programs: Vec<confine_runner::ObservedProgram>,
    /// Programs that ran but are not in the closure (not analysed), with why.
    pub not_analysed: Vec<(String, String)>,
    /// Shared objects the run mapped that the static closure did not have.
    pub objects_added: Vec<String>,
    /// The container's own outcome in the observed run.
    pub container_ok: bool,
    pub failure: Option<String>,
    pub audit_lost: u64,
}

/// Why the observed run did not happen (printed as a note), or its result.
pub enum Traced {
    Skipped(String),
    Ran(Box<(Observation, ObservedRun)>),
}

/// The engine image to run for `reference`, or why there is none.
fn engine_image(reference: &str, trace: &TraceArgs) -> std::result::Result<String, String> {
    if let Some(t) = &trace.trace_image {
        return Ok(t.clone());
    }
    match confine_image::parse_reference(reference) {
        Ok(Transport::DockerDaemon(name)) => Ok(name),
        Ok(_) => Err(format!(
            "{reference} is not an image of the Docker engine (name one with --trace-image)"
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// `-e K=V`, `--env=K=V`, `-p 80` ... into `spec`.
fn apply_run_arg(spec: &mut RunSpec, arg: &str) -> Result<()> {
    let arg = arg.trim();
    let (opt, val) = match arg.split_once(char::is_whitespace) {
        Some((o, v)) => (o, v.trim()),
        None => match arg.split_once('=') {
            Some((o, v)) => (o, v),
            None => bail!("--run-arg {arg:?}: expected an option and its value, e.g. '-p 8080:80'"),
        },
    };
    let val = val.to_string();
    match opt {
        "-e" | "--env" => spec.env.push(val),
        "-p" | "--publish" => spec.ports.push(val),
        "-v" | "--volume" => spec.binds.push(val),
        "--cap-add" => spec.cap_add.push(val),
        "-u" | "--user" => spec.user = Some(val),
        "-w" | "--workdir" => spec.workdir = Some(val),
        "--network" | "--net" => spec.network = Some(val),
        "--entrypoint" => spec.entrypoint = Some(vec![val]),
        "--tmpfs" => {
            let (path, opts) = val.split_once(':').unwrap_or((val.as_str(), ""));
            merge_extra(
                spec,
                serde_json::json!({"HostConfig": {"Tmpfs": {path: opts}}}),
            );
        }
        other => bail!(
            "--run-arg {arg:?}: option {other} is not supported (use --run-options with \"extra\")"
        ),
    }
    Ok(())
}

fn merge_extra(spec: &mut RunSpec, v: serde_json::Value) {
    fn merge(base: &mut serde_json::Value, extra: serde_json::Value) {
        match (base, extra) {
            (serde_json::Value::Object(b), serde_json::Value::Object(e)) => {
                for (k, v) in e {
                    match b.get_mut(&k) {
                        Some(slot) => merge(slot, v),
                        None => {
                            b.insert(k, v);
                        }
                    }
                }
            }
            (serde_json::Value::Array(b), serde_json::Value::Array(e)) => b.extend(e),
            (slot, v) => *slot = v,
        }
    }
    match &mut spec.extra {
        Some(base) => merge(base, v),
        None => spec.extra = Some(v),
    }
}

/// The container's run options: the image overrides of IMAGE (`--entrypoint`,
/// `--cmd`, `-e`, `--user`), then the options file, then `--run-arg`s.
pub fn run_spec(image: &ImageArgs, run: &RunArgs) -> Result<RunSpec> {
    let mut spec = RunSpec {
        entrypoint: image.entrypoint.clone().map(|e| vec![e]),
        cmd: image.cmd.clone(),
        env: image.env.clone(),
        user: image.user.clone(),
        ..RunSpec::default()
    };
    if image.entrypoint.is_some() && image.cmd.is_none() {
        // As docker: --entrypoint clears the image's cmd.
        spec.cmd = Some(Vec::new());
    }
    apply_run_args(&mut spec, run)?;
    Ok(spec)
}

/// The options file, then the `--run-arg`s, into `spec`.
pub fn apply_run_args(spec: &mut RunSpec, run: &RunArgs) -> Result<()> {
    if let Some(path) = &run.run_options {
        use std::io::Read;
        let f =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let mut text = String::new();
        f.take(MAX_OPTIONS_BYTES + 1)
            .read_to_string(&mut text)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if text.len() as u64 > MAX_OPTIONS_BYTES {
            bail!("{}: larger than {MAX_OPTIONS_BYTES} bytes", path.display());
        }
        let o: RunOptionsFile = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a run options file", path.display()))?;
        spec.env.extend(o.env);
        spec.ports.extend(o.ports);
        spec.binds.extend(o.binds);
        spec.cap_add.extend(o.cap_add);
        if o.entrypoint.is_some() {
            spec.entrypoint = o.entrypoint;
        }
        if o.cmd.is_some() {
            spec.cmd = o.cmd;
        }
        spec.workdir = o.workdir.or(spec.workdir.take());
        spec.network = o.network.or(spec.network.take());
        spec.user = o.user.or(spec.user.take());
        if let Some(e) = o.extra {
            merge_extra(spec, e);
        }
    }
    for a in &run.run_args {
        apply_run_arg(spec, a)?;
    }
    Ok(())
}

/// Run the container observed when an engine answers and IMAGE is an engine
/// image; add what ran and what it mapped to `roots`.
pub fn trace(
    image_args: &ImageArgs,
    trace: &TraceArgs,
    image: &Image,
    roots: &mut Roots,
    quiet: bool,
) -> Result<Traced> {
    if trace.no_trace {
        return Ok(Traced::Skipped("--no-trace".into()));
    }
    crate::stop::check()?;
    let name = match engine_image(&image_args.image, trace) {
        Ok(n) => n,
        Err(why) => return Ok(Traced::Skipped(why)),
    };
    let engine = match confine_engine::Engine::from_env() {
        Ok(e) if e.ping().is_ok() => e,
        Ok(_) | Err(_) => return Ok(Traced::Skipped("no Docker engine answers".into())),
    };
    match confine_runner::audit::audit_status() {
        Err(e) => {
            return Ok(Traced::Skipped(format!(
                "cannot read the kernel's audit records ({e}); run as root"
            )))
        }
        // A system audit daemon keeps the records; another confine run only
        // for a while (the runner waits for it).
        Ok(s) if s.pid != 0 && s.pid != std::process::id() => {
            let comm = std::fs::read_to_string(format!("/proc/{}/comm", s.pid)).unwrap_or_default();
            if !comm.is_empty() && !comm.starts_with("confine") && !comm.contains("-") {
                return Ok(Traced::Skipped(format!(
                    "{} (pid {}) is the kernel's audit daemon; stop it for an observed run",
                    comm.trim(),
                    s.pid
                )));
            }
        }
        Ok(_) => {}
    }
    let spec = run_spec(image_args, &trace.run)?;
    let opts = ObserveOptions {
        max_duration: Duration::from_secs(trace.trace_time.max(1)),
        quiet: Duration::from_secs(trace.trace_quiet),
    };
    let pb = crate::pipeline::progress_bar(quiet, "observed run: watching the container");
    pb.enable_steady_tick(Duration::from_millis(120));
    let obs = match confine_runner::observe_with(&engine, &name, &spec, &trace.trace_checks, &opts)
    {
        Ok(o) => o,
        Err(e @ confine_runner::RunnerError::Cancelled { .. }) => {
            pb.finish_and_clear();
            return Err(e.into());
        }
        Err(e @ confine_runner::RunnerError::Engine { .. }) if engine_broke(&e) => {
            // The engine answered the ping and then broke: the run may have
            // been cut anywhere, and what ran is unknown.
            pb.finish_and_clear();
            return Err(anyhow::Error::new(e).context(format!(
                "the observed run of {name} failed (pass --no-trace for static analysis alone)"
            )));
        }
        Err(e) => {
            pb.finish_and_clear();
            // Static analysis stands on its own: say why there is no observation.
            return Ok(Traced::Skipped(format!(
                "the observed run of {name} failed: {e}"
            )));
        }
    };
    pb.finish_and_clear();
    let fs = &image.root;
    for p in &obs.programs {
        if !fs.exists(&p.exe) {
            continue;
        }
        if !roots.observed.contains(&p.exe) {
            roots.observed.push(p.exe.clone());
        }
        for m in &p.mapped {
            if m != &p.exe && fs.exists(m) {
                roots.observed_objects.push(ObservedObject {
                    program: p.exe.clone(),
                    path: m.clone(),
                });
            }
        }
    }
    roots.observed_objects.sort();
    roots.observed_objects.dedup();
    let run = ObservedRun {
        image: name,
        elapsed_ms: obs.outcome.elapsed_ms,
        ended_quiet: obs.ended_quiet,
        programs: obs.programs.clone(),
        not_analysed: Vec::new(),
        objects_added: Vec::new(),
        container_ok: obs.outcome.success,
        failure: obs.outcome.failure.clone(),
        audit_lost: obs.outcome.audit_lost,
    };
    Ok(Traced::Ran(Box::new((obs, run))))
}

/// The engine stopped answering (as opposed to an error reply, e.g. no such image).
fn engine_broke(e: &confine_runner::RunnerError) -> bool {
    matches!(e, confine_runner::RunnerError::Engine { source, .. } if source.is_unavailable())
}

/// After the closure is built: which observed programs are not in it (and
/// why), and which observed objects the static closure did not have.
pub fn reconcile(run: &mut ObservedRun, image: &Image, closure: &Closure) {
    let fs = &image.root;
    for p in &run.programs {
        let canon = fs.canonicalize(&p.exe).unwrap_or_else(|_| p.exe.clone());
        if closure.program(&canon).is_some() {
            continue;
        }
        let why = if !fs.exists(&p.exe) {
            "not a file of the image (created at run time or outside the image)".to_string()
        } else {
            closure
                .diagnostics
                .iter()
                .find(|d| d.path == canon || d.path == p.exe)
                .map(|d| d.message.clone())
                .unwrap_or_else(|| "not loadable as a program".to_string())
        };
        run.not_analysed.push((p.exe.clone(), why));
    }
    for prog in &closure.programs {
        for (i, r) in &prog.runtime_loaded {
            if *r == confine_loader::Reason::Observed {
                if let Some(o) = closure.objects.get(*i) {
                    if !run.objects_added.contains(&o.path) {
                        run.objects_added.push(o.path.clone());
                    }
                }
            }
        }
    }
    run.objects_added.sort();
}

/// `s` for a line of text output: control characters (a newline in a path
/// from the container could forge a line) are escaped.
fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    if s.chars().any(char::is_control) {
        std::borrow::Cow::Owned(s.escape_debug().to_string())
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// Text lines about the observed run for stderr.
pub fn summary(run: &ObservedRun) -> String {
    let mut s = format!(
        "observed run of {}: {} programs ran in {:.1} s ({}){}\n",
        run.image,
        run.programs.len(),
        run.elapsed_ms as f64 / 1000.0,
        if run.ended_quiet {
            "ended when quiet"
        } else {
            "time bound reached or container exited"
        },
        if run.container_ok {
            ""
        } else {
            ", the container did not run cleanly"
        },
    );
    for p in &run.programs {
        let mut argv = p
            .argv
            .first()
            .map(|a| printable(&a.join(" ")).into_owned())
            .unwrap_or_default();
        if let Some((cut, _)) = argv.char_indices().nth(100) {
            argv.truncate(cut);
            argv.push_str(" ...");
        }
        let exe = printable(&p.exe);
        if argv.is_empty() {
            s += &format!("  ran {exe}\n");
        } else {
            s += &format!("  ran {exe} ({argv})\n");
        }
    }
    if let Some(f) = &run.failure {
        s += &format!("  container: {}\n", printable(f));
    }
    for o in &run.objects_added {
        s += &format!("  mapped, added to the closure: {}\n", printable(o));
    }
    for (p, why) in &run.not_analysed {
        s += &format!(
            "  warning: {} ran but cannot be analysed: {}\n",
            printable(p),
            printable(why)
        );
    }
    if run.audit_lost > 0 {
        s += &format!(
            "  warning: the kernel lost {} audit records\n",
            run.audit_lost
        );
    }
    s
}

/// Syscalls the observed run saw programs make that the profile does not allow
/// (an analysis gap, or a path taken only without a filter).
fn missing(obs: &Observation, profile: &confine_profile::Profile) -> Vec<String> {
    let allowed = profile.allowed();
    obs.syscalls
        .iter()
        .chain(&obs.runtime_syscalls)
        // Answered with ENOSYS on purpose (as Docker's default does): glibc falls back to clone.
        .filter(|s| !allowed.contains(*s) && s.as_str() != "clone3")
        .cloned()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The observed run for `--json`.
pub fn json(traced: &Traced, profile: &confine_profile::Profile) -> serde_json::Value {
    match traced {
        Traced::Skipped(why) => serde_json::json!({"skipped": why}),
        Traced::Ran(b) => {
            let (obs, run) = &**b;
            let mut v = serde_json::to_value(run).unwrap_or_default();
            v["syscalls_observed"] = serde_json::json!(obs.syscalls);
            v["observed_not_allowed"] = serde_json::json!(missing(obs, profile));
            v
        }
    }
}

/// The observed run for the text report on stderr.
pub fn text(traced: &Traced, profile: &confine_profile::Profile) -> String {
    match traced {
        Traced::Skipped(why) => format!("observed run skipped: {why}\n"),
        Traced::Ran(b) => {
            let (obs, run) = &**b;
            let mut s = summary(run);
            let m = missing(obs, profile);
            if !m.is_empty() {
                s += &format!(
                    "  warning: observed but not allowed by the profile: {}\n",
                    m.join(" ")
                );
            }
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_escapes_control_characters_of_container_paths() {
        let run = ObservedRun {
            image: "img".into(),
            elapsed_ms: 1500,
            ended_quiet: false,
            programs: vec![confine_runner::ObservedProgram {
                exe: "/bin/x\nran /bin/evil".into(),
                argv: vec![vec!["x\n".into(), "-y".into()]],
                ..Default::default()
            }],
            not_analysed: vec![("/a\rb".into(), "why".into())],
            objects_added: vec!["/lib/l\u{1b}[2J.so".into()],
            container_ok: false,
            failure: Some("the container exited with status 3 after 0.2 s".into()),
            audit_lost: 0,
        };
        let s = summary(&run);
        assert_eq!(
            s,
            "observed run of img: 1 programs ran in 1.5 s (time bound reached or container exited), \
             the container did not run cleanly\n  ran /bin/x\\nran /bin/evil (x\\n -y)\n  \
             container: the container exited with status 3 after 0.2 s\n  \
             mapped, added to the closure: /lib/l\\u{1b}[2J.so\n  \
             warning: /a\\rb ran but cannot be analysed: why\n"
        );
    }

    #[test]
    fn run_args_and_options_file() {
        let image = ImageArgs {
            image: "x".into(),
            entrypoint: None,
            cmd: Some(vec!["srv".into(), "-x".into()]),
            env: vec!["A=1".into()],
            user: None,
            binaries: Vec::new(),
            all_binaries: false,
            platform: None,
        };
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("o.json");
        std::fs::write(
            &f,
            r#"{"env": ["B=2"], "binds": ["/tmp:/data:ro"], "workdir": "/srv", "extra": {"HostConfig": {"ReadonlyRootfs": true}}}"#,
        )
        .unwrap();
        let mut t = TraceArgs::off();
        t.run.run_options = Some(f.clone());
        t.run.run_args = vec![
            "-p 8080:80".into(),
            "--env=C=3".into(),
            "--tmpfs /run:size=1m".into(),
            "-u 1000".into(),
        ];
        let s = run_spec(&image, &t.run).unwrap();
        assert_eq!(s.env, vec!["A=1", "B=2", "C=3"]);
        assert_eq!(s.ports, vec!["8080:80"]);
        assert_eq!(s.binds, vec!["/tmp:/data:ro"]);
        assert_eq!(s.cmd, Some(vec!["srv".to_string(), "-x".to_string()]));
        assert_eq!(s.user.as_deref(), Some("1000"));
        assert_eq!(s.workdir.as_deref(), Some("/srv"));
        let extra = s.extra.unwrap();
        assert_eq!(extra["HostConfig"]["ReadonlyRootfs"], true);
        assert_eq!(extra["HostConfig"]["Tmpfs"]["/run"], "size=1m");
        t.run.run_args = vec!["--privileged".into()];
        assert!(run_spec(&image, &t.run).is_err());
        std::fs::write(&f, r#"{"evn": []}"#).unwrap();
        t.run.run_args.clear();
        assert!(run_spec(&image, &t.run).is_err());
        // transports: engine names run, archives need --trace-image
        let t = TraceArgs::off();
        assert_eq!(
            engine_image("docker-daemon:nginx:1", &t).unwrap(),
            "nginx:1"
        );
        assert!(engine_image("rootfs:/nonexistent", &t).is_err());
        let mut t2 = TraceArgs::off();
        t2.trace_image = Some("nginx".into());
        assert_eq!(engine_image("oci:/x", &t2).unwrap(), "nginx");
    }
}
