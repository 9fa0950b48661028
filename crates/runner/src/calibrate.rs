//! Calibration of the container runtime's own needs: which syscalls runc (or
//! another runtime) makes after it installs the seccomp filter and before the
//! entrypoint runs, measured from the kernel's audit records, and confirmed by
//! running under profiles with and without each of them.
//!
//! Method: run a trivial program under a profile whose default action is
//! `SCMP_ACT_LOG` with nothing allowed, so every syscall after the filter is
//! installed produces an AUDIT_SECCOMP record. The records of the container's
//! init process come first from the runtime (same `comm`/`exe` as its first
//! record, ending with the `execve` of the entrypoint); once the identity
//! changes, the records belong to the program.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use confine_engine::Engine;
use confine_syscalls::Arch;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::audit::SeccompRecord;
use crate::run::{run_logged, run_under_profile, RunSpec};
use crate::{engine_err, RunnerError};

/// Repository of the image built by [`ensure_calibration_image`].
pub const CALIBRATION_REPO: &str = "confine-calibrate/busybox";
/// Applets linked as `/bin/NAME -> busybox` in the calibration image.
pub const CALIBRATION_APPLETS: [&str; 4] = ["true", "sh", "echo", "sleep"];
/// The trivial program [`calibrate`] is meant to run in that image.
pub const CALIBRATION_ARGV: [&str; 2] = ["/bin/busybox", "true"];
/// Largest host busybox we put into the calibration image.
const MAX_BUSYBOX_BYTES: u64 = 64 * 1024 * 1024;
/// Time one calibration container may take.
const RUN_WINDOW: Duration = Duration::from_secs(20);

/// Syscalls the kernel's own trampolines issue (signal return, restart after
/// a signal): visible only when a signal happens to arrive during a run, so a
/// runtime allow-list always carries them.
pub const KERNEL_ISSUED: [&str; 2] = ["restart_syscall", "rt_sigreturn"];

/// What [`calibrate`] measured.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Calibration {
    /// `DefaultRuntime` of the engine (e.g. `runc`).
    pub runtime: String,
    /// Version of that runtime from the engine's `/version` components.
    pub runtime_version: String,
    pub engine_version: String,
    pub kernel_version: String,
    pub image: String,
    pub argv: Vec<String>,
    pub runs: u32,
    /// Syscalls the runtime made after installing the filter, up to and
    /// including the `execve` of the entrypoint (union over runs), sorted.
    pub syscalls: Vec<String>,
    /// Syscalls the program made after its `execve` (union over runs), sorted.
    pub program_syscalls: Vec<String>,
    /// For each runtime syscall, in how many runs it was seen.
    pub seen_in_runs: BTreeMap<String, u32>,
    /// Whether every run's runtime part ended with an `execve`.
    pub boundary_is_execve: bool,
    /// Records the kernel lost or we dropped, summed over runs (0 = complete).
    pub audit_lost: u64,
}

impl Calibration {
    /// The runtime's allow-list: the measured set plus [`KERNEL_ISSUED`], sorted.
    pub fn runtime_allow_list(&self) -> Vec<String> {
        let mut v: BTreeSet<String> = self.syscalls.iter().cloned().collect();
        v.extend(KERNEL_ISSUED.iter().map(|s| s.to_string()));
        v.into_iter().collect()
    }
}

/// Name of a record's syscall (its number when the table does not know it).
pub fn record_syscall_name(r: &SeccompRecord) -> String {
    let arch = match r.arch {
        0xc000_003e => Some(Arch::X86_64),
        0xc000_00b7 => Some(Arch::Aarch64),
        _ => None,
    };
    arch.and_then(|a| a.name(r.syscall))
        .map(str::to_string)
        .unwrap_or_else(|| format!("{}", r.syscall))
}

/// Split one run's records (in order) into (runtime, program) at the point
/// where the init process's `comm`/`exe` changes. Returns whether the last
/// runtime record is an `execve`/`execveat`.
pub fn split_at_exec(
    records: &[SeccompRecord],
    init_pid: Option<u32>,
) -> (Vec<&SeccompRecord>, Vec<&SeccompRecord>, bool) {
    let init = init_pid.or_else(|| records.first().map(|r| r.pid));
    let first = records.iter().find(|r| Some(r.pid) == init);
    let Some(first) = first else {
        return (Vec::new(), records.iter().collect(), false);
    };
    let identity = (&first.comm, &first.exe);
    let boundary = records
        .iter()
        .position(|r| Some(r.pid) == init && (&r.comm, &r.exe) != identity)
        .unwrap_or(records.len());
    let (rt, prog) = records.split_at(boundary);
    let ends_in_exec = rt
        .iter()
        .rev()
        .find(|r| Some(r.pid) == init)
        .is_some_and(|r| matches!(record_syscall_name(r).as_str(), "execve" | "execveat"));
    (rt.iter().collect(), prog.iter().collect(), ends_in_exec)
}

fn version_info(engine: &Engine) -> Result<(String, String, String, String), RunnerError> {
    let info = engine.info().map_err(engine_err("read the engine info"))?;
    let version = engine
        .version()
        .map_err(engine_err("read the engine version"))?;
    let runtime = info
        .get("DefaultRuntime")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_string();
    let runtime_version = version
        .get("Components")
        .and_then(Value::as_array)
        .and_then(|c| {
            c.iter().find(|c| {
                c.get("Name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| n.eq_ignore_ascii_case(&runtime))
            })
        })
        .and_then(|c| c.get("Version"))
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_string();
    let engine_version = version
        .get("Version")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_string();
    let kernel = info
        .get("KernelVersion")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_string();
    Ok((runtime, runtime_version, engine_version, kernel))
}

/// Measure the runtime's needs: run `argv` in `image_ref` `runs` times
/// under a log-everything profile while registered as the audit daemon.
/// Needs root and a Docker engine.
pub fn calibrate(
    engine: &Engine,
    image_ref: &str,
    argv: &[String],
    runs: u32,
) -> Result<Calibration, RunnerError> {
    let spec = RunSpec {
        network: Some("none".to_string()),
        ..RunSpec::default()
    };
    calibrate_with(engine, image_ref, argv, &spec, runs)
}

/// [`calibrate`] with other run settings (e.g. a `user`, or `extra`
/// `{"HostConfig": {"SecurityOpt": ["no-new-privileges"]}}`): the runtime's
/// needs depend on them. `spec`'s entrypoint and cmd are replaced by `argv`.
pub fn calibrate_with(
    engine: &Engine,
    image_ref: &str,
    argv: &[String],
    spec: &RunSpec,
    runs: u32,
) -> Result<Calibration, RunnerError> {
    let (runtime, runtime_version, engine_version, kernel_version) = version_info(engine)?;
    let profile = json!({"defaultAction": "SCMP_ACT_LOG", "syscalls": []}).to_string();
    let spec = RunSpec {
        entrypoint: Some(argv.to_vec()),
        cmd: Some(Vec::new()),
        ..spec.clone()
    };
    let mut cal = Calibration {
        runtime,
        runtime_version,
        engine_version,
        kernel_version,
        image: image_ref.to_string(),
        argv: argv.to_vec(),
        runs: 0,
        boundary_is_execve: true,
        ..Calibration::default()
    };
    let mut rt_all = BTreeSet::new();
    let mut prog_all = BTreeSet::new();
    for _ in 0..runs.max(1) {
        let out = run_logged(engine, image_ref, &spec, &profile, &[], RUN_WINDOW)?;
        if !out.started {
            return Err(RunnerError::Spec {
                detail: format!(
                    "calibration container did not start under a log-only profile: {}",
                    out.start_error.unwrap_or_default()
                ),
            });
        }
        cal.runs += 1;
        cal.audit_lost += out.audit_lost;
        let (rt, prog, exec) = split_at_exec(&out.denials, out.pid);
        cal.boundary_is_execve &= exec;
        let rt: BTreeSet<String> = rt.into_iter().map(record_syscall_name).collect();
        for s in &rt {
            *cal.seen_in_runs.entry(s.clone()).or_insert(0) += 1;
        }
        rt_all.extend(rt);
        prog_all.extend(prog.into_iter().map(record_syscall_name));
    }
    cal.syscalls = rt_all.into_iter().collect();
    cal.program_syscalls = prog_all.into_iter().collect();
    Ok(cal)
}

/// An allow-list profile: `SCMP_ACT_ERRNO` (EPERM) by default.
pub fn allow_list_profile<'a>(arch: Arch, names: impl IntoIterator<Item = &'a str>) -> String {
    let names: BTreeSet<&str> = names.into_iter().collect();
    json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": [arch.scmp_arch()],
        "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}],
    })
    .to_string()
}

/// One run with a runtime syscall removed from the allow-list.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RemovalResult {
    pub syscall: String,
    /// The container failed: did not start, or did not exit with status 0.
    pub fails: bool,
    pub started: bool,
    pub exit_code: Option<i64>,
    pub start_error: Option<String>,
}

/// What [`confirm_calibration`] saw.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Confirmation {
    /// Runtime set plus the program's own syscalls: started and exited 0.
    pub full_set_runs: bool,
    pub full_set_error: Option<String>,
    /// One run per runtime syscall left out.
    pub removals: Vec<RemovalResult>,
}

impl Confirmation {
    /// Runtime syscalls whose removal made the container fail (to start, or
    /// to exit with status 0).
    pub fn required(&self) -> Vec<&str> {
        self.removals
            .iter()
            .filter(|r| r.fails)
            .map(|r| r.syscall.as_str())
            .collect()
    }
}

/// Run `argv` under an allow-list of exactly the calibrated runtime set (plus
/// [`KERNEL_ISSUED`]) and the program's own syscalls, then once more per
/// measured runtime syscall with that one left out.
pub fn confirm_calibration(
    engine: &Engine,
    cal: &Calibration,
) -> Result<Confirmation, RunnerError> {
    let spec = RunSpec {
        entrypoint: Some(cal.argv.clone()),
        cmd: Some(Vec::new()),
        network: Some("none".to_string()),
        ..RunSpec::default()
    };
    let runtime = cal.runtime_allow_list();
    let all: BTreeSet<&str> = runtime
        .iter()
        .chain(cal.program_syscalls.iter())
        .map(String::as_str)
        .collect();
    let arch = Arch::X86_64;
    let full = run_under_profile(
        engine,
        &cal.image,
        &spec,
        &allow_list_profile(arch, all.iter().copied()),
        &[],
        RUN_WINDOW,
    )?;
    let mut conf = Confirmation {
        full_set_runs: full.started && full.exit_code == Some(0),
        full_set_error: full.start_error.or(full.failure),
        removals: Vec::new(),
    };
    for s in &cal.syscalls {
        // A syscall the program also makes must stay: the program needs it.
        let names = all.iter().copied().filter(|n| n != s);
        let out = run_under_profile(
            engine,
            &cal.image,
            &spec,
            &allow_list_profile(arch, names),
            &[],
            RUN_WINDOW,
        )?;
        conf.removals.push(RemovalResult {
            syscall: s.clone(),
            fails: !out.started || out.exit_code != Some(0),
            started: out.started,
            exit_code: out.exit_code,
            start_error: out.start_error,
        });
    }
    Ok(conf)
}

/// Import the host's static `/bin/busybox` as an image (`/bin/busybox` plus
/// [`CALIBRATION_APPLETS`] symlinks, tagged by its sha256) unless it is there
/// already; returns the image name.
pub fn ensure_calibration_image(engine: &Engine) -> Result<String, RunnerError> {
    let path = "/bin/busybox";
    let io = |what: &str| {
        let what = what.to_string();
        move |source| RunnerError::Io { what, source }
    };
    let meta = std::fs::metadata(path).map_err(io("stat /bin/busybox"))?;
    if meta.len() > MAX_BUSYBOX_BYTES {
        return Err(RunnerError::Spec {
            detail: format!("{path} is larger than {MAX_BUSYBOX_BYTES} bytes"),
        });
    }
    let data = std::fs::read(path).map_err(io("read /bin/busybox"))?;
    let digest = hex::encode(Sha256::digest(&data));
    // The suffix names the image layout, so a changed layout gets a new tag.
    let tag = format!("{}-2", digest.get(..16).unwrap_or(&digest));
    let name = format!("{CALIBRATION_REPO}:{tag}");
    match engine.inspect_image(&name) {
        Ok(_) => return Ok(name),
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(engine_err(format!("inspect image {name}"))(e)),
    }
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_size(0);
    b.append_data(&mut h, "bin/", std::io::empty())
        .map_err(io("build the calibration rootfs"))?;
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o755);
    h.set_size(data.len() as u64);
    b.append_data(&mut h, "bin/busybox", data.as_slice())
        .map_err(io("build the calibration rootfs"))?;
    for applet in CALIBRATION_APPLETS {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_size(0);
        b.append_link(&mut h, format!("bin/{applet}"), "busybox")
            .map_err(io("build the calibration rootfs"))?;
    }
    let tarball = b.into_inner().map_err(io("build the calibration rootfs"))?;
    engine
        .import_image(&tarball, CALIBRATION_REPO, &tag)
        .map_err(engine_err(format!("import {name}")))?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(serial: u64, pid: u32, comm: &str, exe: &str, syscall: u32) -> SeccompRecord {
        SeccompRecord {
            serial,
            time: "1.0".to_string(),
            pid,
            comm: comm.to_string(),
            exe: exe.to_string(),
            arch: 0xc000_003e,
            syscall,
            code: crate::audit::SECCOMP_RET_LOG,
            ip: 0,
            pidns: None,
        }
    }

    #[test]
    fn splits_at_the_exec() {
        let recs = vec![
            rec(1, 10, "runc:[2:INIT]", "/", 257),
            rec(2, 10, "runc:[2:INIT]", "/", 105),
            rec(3, 10, "runc:[2:INIT]", "/", 59),
            rec(4, 10, "busybox", "/bin/busybox", 158),
            rec(5, 10, "busybox", "/bin/busybox", 231),
        ];
        let (rt, prog, exec) = split_at_exec(&recs, Some(10));
        assert_eq!(rt.iter().map(|r| r.serial).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(prog.iter().map(|r| r.serial).collect::<Vec<_>>(), [4, 5]);
        assert!(exec);
        assert_eq!(record_syscall_name(rt[2]), "execve");
        // unknown init pid: first record's pid
        let (rt, _, _) = split_at_exec(&recs, None);
        assert_eq!(rt.len(), 3);
        // no change of identity: all runtime, no exec at the end
        let (rt, prog, exec) = split_at_exec(&recs[..2], Some(10));
        assert_eq!((rt.len(), prog.len(), exec), (2, 0, false));
        let (rt, prog, _) = split_at_exec(&[], Some(10));
        assert!(rt.is_empty() && prog.is_empty());
    }

    #[test]
    fn allow_list_profile_shape() {
        let p: Value =
            serde_json::from_str(&allow_list_profile(Arch::X86_64, ["read", "write", "read"]))
                .unwrap();
        assert_eq!(p["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(p["syscalls"][0]["names"], json!(["read", "write"]));
        assert_eq!(p["architectures"], json!(["SCMP_ARCH_X86_64"]));
    }
}
