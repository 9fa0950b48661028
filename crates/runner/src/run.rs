//! Running a container under a seccomp profile: create with
//! `HostConfig.SecurityOpt=["seccomp=<json>"]`, start, run host-side checks
//! against it, stop, collect exit status and logs, always remove; and the
//! log-mode variant that reads would-be denials from the kernel's audit records.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use confine_engine::Engine;
use serde_json::{json, Map, Value};

use crate::audit::{pid_namespace, AuditListener, SeccompRecord, SECCOMP_RET_LOG};
use crate::cancel::{self, Busy};
use crate::{engine_err, RunnerError};

/// Bytes of container logs (both streams together) and of each check output
/// stream kept in an outcome.
pub const MAX_OUTPUT: usize = 1024 * 1024;
/// Longest single attempt of a check command (killed with its process group after).
pub const CHECK_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause between attempts of a failing check.
pub const CHECK_RETRY_INTERVAL: Duration = Duration::from_millis(250);
/// How long a logged run waits for another process's audit listener to finish.
pub const AUDIT_WAIT: Duration = Duration::from_secs(180);
/// Grace period of `docker stop` at the end of a run.
pub const STOP_GRACE: Duration = Duration::from_secs(2);
/// Label on every container the runner creates (value `run`).
pub const LABEL: &str = "confine";
/// Label naming the host pid of the process that created the container, so
/// leftovers of one run can be told from those of another.
pub const PID_LABEL: &str = "confine.pid";

/// How to run the container (overrides of the image config and host settings).
#[derive(Debug, Clone, Default)]
pub struct RunSpec {
    /// Replaces the image's ENTRYPOINT.
    pub entrypoint: Option<Vec<String>>,
    /// Replaces the image's CMD.
    pub cmd: Option<Vec<String>>,
    /// `KEY=value`, added to the image's environment.
    pub env: Vec<String>,
    /// `[ip:][host:]container[/proto]`, like `docker run -p`.
    pub ports: Vec<String>,
    pub cap_add: Vec<String>,
    /// `host:container[:opts]`, like `docker run -v`.
    pub binds: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    /// Docker network mode (`bridge` when unset).
    pub network: Option<String>,
    /// Extra Docker API JSON merged into the create body: objects key by key,
    /// arrays appended (e.g. `{"HostConfig": {"SecurityOpt": ["no-new-privileges"]}}`).
    pub extra: Option<Value>,
}

/// One host-side check command and how it went.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CheckResult {
    /// The command as given.
    pub command: String,
    /// The command as run (`{ip}` replaced).
    pub expanded: String,
    pub passed: bool,
    pub attempts: u32,
    /// Exit code of the last attempt (None: killed on timeout or not run).
    pub exit_code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// The result of one run. `success` means: the container started, every
/// check passed, the container was still running at the end or had exited
/// with status 0 by itself, and (log mode) no syscall fell to the default action.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct VerifyOutcome {
    pub success: bool,
    /// Why the run failed, in words (None on success).
    pub failure: Option<String>,
    pub container_id: String,
    pub started: bool,
    /// The engine's message when `docker start` failed (e.g. the runtime
    /// could not run under the profile).
    pub start_error: Option<String>,
    /// Host pid of the container's init process, when it was seen running.
    pub pid: Option<u32>,
    /// Pid namespace inode of the container, when it was seen running.
    pub pid_namespace: Option<u64>,
    pub ip: Option<String>,
    /// The container exited before we stopped it.
    pub exited_by_itself: bool,
    /// Exit status (by itself, or after our stop: 143/137 are SIGTERM/SIGKILL).
    pub exit_code: Option<i64>,
    pub checks: Vec<CheckResult>,
    pub stdout: String,
    pub stderr: String,
    /// The container logged more than [`MAX_OUTPUT`] bytes; the rest is not kept.
    pub logs_truncated: bool,
    /// Log mode only: records of syscalls that reached the default action, in order.
    pub denials: Vec<SeccompRecord>,
    /// Log mode only: records the kernel lost, or of a new (executable,
    /// syscall) we could not keep. Repeats beyond a bound are not kept and not counted.
    pub audit_lost: u64,
    pub elapsed_ms: u64,
}

impl VerifyOutcome {
    /// Distinct syscall numbers among `denials`, sorted.
    pub fn denied_syscalls(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self.denials.iter().map(|r| r.syscall).collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// Parse a Docker seccomp profile enough to know it is one.
fn parse_profile(profile_json: &str) -> Result<Map<String, Value>, RunnerError> {
    let v: Value = serde_json::from_str(profile_json).map_err(|e| RunnerError::Profile {
        detail: format!("not json: {e}"),
    })?;
    let Value::Object(map) = v else {
        return Err(RunnerError::Profile {
            detail: "not a json object".to_string(),
        });
    };
    if !map.get("defaultAction").is_some_and(Value::is_string) {
        return Err(RunnerError::Profile {
            detail: "no defaultAction".to_string(),
        });
    }
    Ok(map)
}

/// The profile with its default action switched to `SCMP_ACT_LOG` (and
/// `defaultErrnoRet` dropped): allowed syscalls stay silent, everything that
/// would be denied by default runs and is logged. Explicit rule actions stay.
pub fn log_mode_copy(profile_json: &str) -> Result<String, RunnerError> {
    let mut map = parse_profile(profile_json)?;
    map.insert("defaultAction".to_string(), json!("SCMP_ACT_LOG"));
    map.remove("defaultErrnoRet");
    Ok(Value::Object(map).to_string())
}

/// Deep-merge `extra` into `base`: objects key by key, arrays appended (so
/// extra `SecurityOpt` or `CapAdd` entries add to ours), everything else replaced.
fn merge(base: &mut Value, extra: &Value) {
    match (base, extra) {
        (Value::Array(b), Value::Array(e)) => b.extend(e.iter().cloned()),
        (Value::Object(b), Value::Object(e)) => {
            for (k, v) in e {
                match b.get_mut(k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

/// `[ip:][host:]container[/proto]` -> ("80/tcp", host ip, host port).
fn parse_port(spec: &str) -> Result<(String, String, String), RunnerError> {
    let bad = || RunnerError::Spec {
        detail: format!("bad port {spec:?}: expected [ip:][host:]container[/proto]"),
    };
    let (addr, proto) = match spec.rsplit_once('/') {
        Some((a, p)) if matches!(p, "tcp" | "udp" | "sctp") => (a, p),
        Some(_) => return Err(bad()),
        None => (spec, "tcp"),
    };
    let parts: Vec<&str> = addr.split(':').collect();
    let (ip, host, container) = match parts.as_slice() {
        [c] => ("", "", *c),
        [h, c] => ("", *h, *c),
        [i, h, c] => (*i, *h, *c),
        _ => return Err(bad()),
    };
    let port_ok = |p: &str| p.parse::<u16>().is_ok_and(|n| n > 0);
    if !port_ok(container) || !(host.is_empty() || port_ok(host)) {
        return Err(bad());
    }
    Ok((
        format!("{container}/{proto}"),
        ip.to_string(),
        host.to_string(),
    ))
}

/// The Docker API body of `POST /containers/create`.
pub(crate) fn create_body(
    image_ref: &str,
    spec: &RunSpec,
    profile_json: &str,
) -> Result<Value, RunnerError> {
    let mut body = json!({
        "Image": image_ref,
        "Labels": {LABEL: "run", PID_LABEL: std::process::id().to_string()},
        "HostConfig": {
            "SecurityOpt": [format!("seccomp={profile_json}")],
        },
    });
    if let Some(e) = &spec.entrypoint {
        body["Entrypoint"] = json!(e);
    }
    if let Some(c) = &spec.cmd {
        body["Cmd"] = json!(c);
    }
    if !spec.env.is_empty() {
        body["Env"] = json!(spec.env);
    }
    if let Some(u) = &spec.user {
        body["User"] = json!(u);
    }
    if let Some(w) = &spec.workdir {
        body["WorkingDir"] = json!(w);
    }
    if !spec.ports.is_empty() {
        let mut exposed = Map::new();
        let mut bindings = Map::new();
        for p in &spec.ports {
            let (key, ip, host) = parse_port(p)?;
            exposed.insert(key.clone(), json!({}));
            let entry = bindings.entry(key).or_insert_with(|| json!([]));
            if let Value::Array(a) = entry {
                a.push(json!({"HostIp": ip, "HostPort": host}));
            }
        }
        body["ExposedPorts"] = Value::Object(exposed);
        body["HostConfig"]["PortBindings"] = Value::Object(bindings);
    }
    if !spec.cap_add.is_empty() {
        body["HostConfig"]["CapAdd"] = json!(spec.cap_add);
    }
    if !spec.binds.is_empty() {
        body["HostConfig"]["Binds"] = json!(spec.binds);
    }
    if let Some(n) = &spec.network {
        body["HostConfig"]["NetworkMode"] = json!(n);
    }
    if let Some(extra) = &spec.extra {
        if !extra.is_object() {
            return Err(RunnerError::Spec {
                detail: "extra must be a json object".to_string(),
            });
        }
        merge(&mut body, extra);
    }
    Ok(body)
}

/// Removes the container when dropped (force, with anonymous volumes), so
/// error paths clean up too; the normal path calls `remove` to see errors.
struct Removal<'a> {
    engine: &'a Engine,
    id: String,
    done: bool,
}

impl<'a> Removal<'a> {
    fn new(engine: &'a Engine, id: String) -> Removal<'a> {
        cancel::register_container(engine, &id);
        Removal {
            engine,
            id,
            done: false,
        }
    }

    fn remove(mut self) -> Result<(), RunnerError> {
        self.done = true;
        let r = self.engine.remove(&self.id, true);
        cancel::unregister_container(&self.id);
        match r {
            Err(e) if !e.is_not_found() => {
                Err(engine_err(format!("remove container {}", self.id))(e))
            }
            _ => Ok(()),
        }
    }
}

impl Drop for Removal<'_> {
    fn drop(&mut self) {
        if !self.done {
            // Best effort on an error path: the error being returned matters
            // more. A failed removal stays registered for the last-resort
            // cleanup of the front end.
            if self.engine.remove(&self.id, true).is_ok() {
                cancel::unregister_container(&self.id);
            }
        }
    }
}

/// The container's IP address from inspect (default bridge or first network).
pub(crate) fn container_ip(inspect: &Value) -> Option<String> {
    let ns = inspect.get("NetworkSettings")?;
    let direct = ns
        .get("IPAddress")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    if let Some(ip) = direct {
        return Some(ip.to_string());
    }
    ns.get("Networks")?
        .as_object()?
        .values()
        .filter_map(|n| n.get("IPAddress").and_then(Value::as_str))
        .find(|s| !s.is_empty())
        .map(str::to_string)
}

struct State {
    running: bool,
    pid: Option<u32>,
}

fn state(inspect: &Value) -> State {
    let s = inspect.get("State");
    let running = s
        .and_then(|s| s.get("Running"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let pid = s
        .and_then(|s| s.get("Pid"))
        .and_then(Value::as_u64)
        .and_then(|p| u32::try_from(p).ok())
        .filter(|&p| p != 0);
    State { running, pid }
}

/// Run a host shell command once with a timeout; (exit code, stdout, stderr).
fn run_host_command(
    cmd: &str,
    timeout: Duration,
) -> Result<(Option<i32>, String, String), RunnerError> {
    use std::os::unix::process::CommandExt;
    let io = |what: &str| {
        let what = format!("{what} for check {cmd:?}");
        move |source| RunnerError::Io { what, source }
    };
    let out = tempfile::tempfile().map_err(io("create an output file"))?;
    let err = tempfile::tempfile().map_err(io("create an output file"))?;
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .stdout(out.try_clone().map_err(io("duplicate the output file"))?)
        .stderr(err.try_clone().map_err(io("duplicate the output file"))?)
        .process_group(0)
        .spawn()
        .map_err(io("spawn /bin/sh"))?;
    let start = Instant::now();
    let status = loop {
        match child.try_wait().map_err(io("wait"))? {
            Some(s) => break Some(s),
            None if start.elapsed() >= timeout || cancel::stop_requested().is_some() => {
                // The whole process group we created: sh and what it started.
                if let Ok(pid) = i32::try_from(child.id()) {
                    let _ = nix::sys::signal::killpg(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let read = |mut f: std::fs::File| -> String {
        use std::io::Seek;
        let mut buf = Vec::new();
        let _ = f.seek(std::io::SeekFrom::Start(0));
        let _ = f.take(MAX_OUTPUT as u64).read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    };
    cancel::check()?;
    Ok((status.and_then(|s| s.code()), read(out), read(err)))
}

/// Retry one check until it passes or `deadline`.
fn run_check(
    command: &str,
    ip: Option<&str>,
    deadline: Instant,
) -> Result<CheckResult, RunnerError> {
    let expanded = command.replace("{ip}", ip.unwrap_or(""));
    let mut result = CheckResult {
        command: command.to_string(),
        expanded: expanded.clone(),
        passed: false,
        attempts: 0,
        exit_code: None,
        stdout: String::new(),
        stderr: String::new(),
    };
    if command.contains("{ip}") && ip.is_none() {
        result.stderr = "the container has no ip address".to_string();
        return Ok(result);
    }
    loop {
        // Each attempt gets its full time; the deadline only stops retries.
        let (code, out, err) = run_host_command(&expanded, CHECK_ATTEMPT_TIMEOUT)?;
        result.attempts += 1;
        result.exit_code = code;
        result.stdout = out;
        result.stderr = err;
        if code == Some(0) {
            result.passed = true;
            return Ok(result);
        }
        if Instant::now() + CHECK_RETRY_INTERVAL >= deadline {
            return Ok(result);
        }
        cancel::sleep(CHECK_RETRY_INTERVAL)?;
    }
}

/// Run `image_ref` under `profile_json` (a Docker seccomp profile): start it,
/// run `checks` on the host (`sh -c`, `{ip}` replaced by the container's IP,
/// each retried until it exits 0 or `duration` has passed since the start),
/// keep it under observation until `duration` has passed or it exits, then
/// stop it, collect exit status and logs, and remove it (always, also on error).
pub fn run_under_profile(
    engine: &Engine,
    image_ref: &str,
    spec: &RunSpec,
    profile_json: &str,
    checks: &[String],
    duration: Duration,
) -> Result<VerifyOutcome, RunnerError> {
    parse_profile(profile_json)?;
    run_inner(
        engine,
        image_ref,
        spec,
        profile_json,
        checks,
        duration,
        &mut NoHooks,
    )
}

/// Callbacks into a run (observed runs watch the container's processes).
pub(crate) trait Hooks {
    /// The container started; `pid` is its init process on the host.
    fn started(&mut self, _pid: Option<u32>, _pid_namespace: Option<u64>) {}
    /// Called about every 100 ms after the checks while the container runs:
    /// true ends the run early (before the duration).
    fn poll(&mut self) -> bool {
        false
    }
    /// The container is about to be stopped, or exited.
    fn stopping(&mut self) {}
}

pub(crate) struct NoHooks;
impl Hooks for NoHooks {}

fn run_inner(
    engine: &Engine,
    image_ref: &str,
    spec: &RunSpec,
    profile_json: &str,
    checks: &[String],
    duration: Duration,
    hooks: &mut dyn Hooks,
) -> Result<VerifyOutcome, RunnerError> {
    let _busy = Busy::enter();
    let t0 = Instant::now();
    let body = create_body(image_ref, spec, profile_json)?;
    cancel::check()?;
    let id = engine
        .create_container(None, &body)
        .map_err(engine_err(format!("create a container from {image_ref}")))?;
    let guard = Removal::new(engine, id);
    let id = guard.id.as_str();
    cancel::check()?;
    let mut out = VerifyOutcome {
        container_id: id.to_string(),
        ..VerifyOutcome::default()
    };

    if let Err(e) = engine.start(id) {
        let confine_engine::EngineError::Api { message, .. } = &e else {
            return Err(engine_err(format!("start container {id}"))(e));
        };
        out.start_error = Some(message.clone());
        out.failure = Some(format!("the container did not start: {message}"));
        if let Ok(logs) = engine.logs_limited(id, MAX_OUTPUT) {
            out.stdout = String::from_utf8_lossy(&logs.stdout).into_owned();
            out.stderr = String::from_utf8_lossy(&logs.stderr).into_owned();
            out.logs_truncated = logs.truncated;
        }
        guard.remove()?;
        out.elapsed_ms = t0.elapsed().as_millis() as u64;
        return Ok(out);
    }
    out.started = true;
    let deadline = t0 + duration;
    cancel::check()?;

    let inspect = engine
        .inspect_container(id)
        .map_err(engine_err(format!("inspect container {id}")))?;
    let first = state(&inspect);
    out.pid = first.pid;
    out.pid_namespace = first.pid.and_then(pid_namespace);
    out.ip = container_ip(&inspect);
    hooks.started(out.pid, out.pid_namespace);

    for c in checks {
        out.checks.push(run_check(c, out.ip.as_deref(), deadline)?);
    }

    // Observe until the deadline or until it exits (state read again after
    // the checks, which may have outlasted the deadline).
    let last = loop {
        let inspect = engine
            .inspect_container(id)
            .map_err(engine_err(format!("inspect container {id}")))?;
        let now = state(&inspect);
        let left = deadline.saturating_duration_since(Instant::now());
        if !now.running || left.is_zero() || hooks.poll() {
            break now;
        }
        cancel::sleep(Duration::from_millis(100).min(left))?;
    };
    hooks.stopping();
    if last.running {
        engine
            .stop(id, STOP_GRACE)
            .map_err(engine_err(format!("stop container {id}")))?;
    } else {
        out.exited_by_itself = true;
    }
    let code = engine
        .wait(id, Duration::from_secs(30))
        .map_err(engine_err(format!("wait for container {id}")))?;
    out.exit_code = Some(code);
    let logs = engine
        .logs_limited(id, MAX_OUTPUT)
        .map_err(engine_err(format!("read the logs of container {id}")))?;
    out.stdout = String::from_utf8_lossy(&logs.stdout).into_owned();
    out.stderr = String::from_utf8_lossy(&logs.stderr).into_owned();
    out.logs_truncated = logs.truncated;
    guard.remove()?;

    let failed: Vec<String> = out
        .checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| {
            let last = match c.exit_code {
                Some(code) => format!("last exit status {code}"),
                None if c.attempts == 0 => "not run".to_string(),
                None => format!(
                    "last attempt killed after {} s",
                    CHECK_ATTEMPT_TIMEOUT.as_secs()
                ),
            };
            format!(
                "{:?} did not pass within {} s ({} attempts, {last})",
                c.command,
                duration.as_secs(),
                c.attempts
            )
        })
        .collect();
    out.failure = if !failed.is_empty() {
        Some(format!("checks failed: {}", failed.join("; ")))
    } else if out.exited_by_itself && code != 0 {
        Some(format!(
            "the container exited with status {code} after {:.1} s",
            t0.elapsed().as_secs_f64()
        ))
    } else {
        None
    };
    out.success = out.failure.is_none();
    out.elapsed_ms = t0.elapsed().as_millis() as u64;
    Ok(out)
}

/// Like [`run_under_profile`] with the log-mode copy of the profile
/// ([`log_mode_copy`]), while registered as the audit daemon: every syscall
/// the profile would deny by default runs, and its AUDIT_SECCOMP record lands
/// in `denials`. Needs root (CAP_AUDIT_CONTROL) and no other audit daemon.
///
/// Records are attributed to the container unless their process was alive in
/// another pid namespace when the record arrived (records of processes that
/// already exited are kept, so a concurrent SCMP_ACT_LOG workload elsewhere on
/// the host could be mixed in).
pub fn run_logged(
    engine: &Engine,
    image_ref: &str,
    spec: &RunSpec,
    profile_json: &str,
    checks: &[String],
    duration: Duration,
) -> Result<VerifyOutcome, RunnerError> {
    run_logged_inner(
        engine,
        image_ref,
        spec,
        profile_json,
        checks,
        duration,
        true,
        &mut |_: &AuditListener| None,
    )
}

/// Makes the hooks of a logged run, given the audit listener of that run.
pub(crate) type MakeHooks<'h> = dyn FnMut(&AuditListener) -> Option<Box<dyn Hooks + '_>> + 'h;

#[allow(clippy::too_many_arguments)]
pub(crate) fn run_logged_inner(
    engine: &Engine,
    image_ref: &str,
    spec: &RunSpec,
    profile_json: &str,
    checks: &[String],
    duration: Duration,
    denials_fail: bool,
    make_hooks: &mut MakeHooks<'_>,
) -> Result<VerifyOutcome, RunnerError> {
    let _busy = Busy::enter();
    let log_profile = log_mode_copy(profile_json)?;
    let own_ns = pid_namespace(std::process::id());
    let listener = AuditListener::start_waiting(AUDIT_WAIT)?;
    let outcome = {
        let mut hooks = make_hooks(&listener);
        let hooks: &mut dyn Hooks = match hooks.as_deref_mut() {
            Some(h) => h,
            None => &mut NoHooks,
        };
        run_inner(
            engine,
            image_ref,
            spec,
            &log_profile,
            checks,
            duration,
            hooks,
        )
    };
    let capture = listener.finish()?;
    let mut out = outcome?;
    let container_ns = out.pid_namespace;
    out.denials = capture
        .records
        .into_iter()
        .filter(|r| r.code == SECCOMP_RET_LOG)
        .filter(|r| {
            Some(r.pid) == out.pid
                || r.pidns.is_none()
                || (r.pidns == container_ns && container_ns.is_some())
                || (r.pidns != own_ns && container_ns.is_none())
        })
        .collect();
    out.audit_lost = u64::from(capture.kernel_lost) + capture.overflow_dropped;
    if denials_fail && out.success && !out.denials.is_empty() {
        out.success = false;
        out.failure = Some(format!(
            "{} syscall(s) reached the default action",
            out.denied_syscalls().len()
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
