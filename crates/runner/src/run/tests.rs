//! Tests of running containers: body building (pure) and real runs against the engine.

use super::*;
use crate::audit::{audit_status, can_listen};
use crate::calibrate::{
    allow_list_profile, calibrate, confirm_calibration, ensure_calibration_image,
    record_syscall_name,
};
use confine_syscalls::Arch;

#[test]
fn ports_parse() {
    assert_eq!(
        parse_port("80").unwrap(),
        ("80/tcp".into(), "".into(), "".into())
    );
    assert_eq!(
        parse_port("8080:80").unwrap(),
        ("80/tcp".into(), "".into(), "8080".into())
    );
    assert_eq!(
        parse_port("127.0.0.1:53:53/udp").unwrap(),
        ("53/udp".into(), "127.0.0.1".into(), "53".into())
    );
    for bad in ["", "x", "0", "80/icmp", "1:2:3:4", "99999", "a:80"] {
        assert!(parse_port(bad).is_err(), "{bad}");
    }
}

#[test]
fn body_has_profile_ports_and_extra() {
    let spec = RunSpec {
        entrypoint: Some(vec!["/bin/sh".into()]),
        cmd: Some(vec!["-c".into(), "true".into()]),
        env: vec!["A=1".into()],
        ports: vec!["8080:80".into(), "127.0.0.1:8081:80".into()],
        cap_add: vec!["NET_ADMIN".into()],
        extra: Some(
            json!({"HostConfig": {"Tmpfs": {"/run": ""}, "SecurityOpt": ["no-new-privileges"]}, "Hostname": "h"}),
        ),
        ..RunSpec::default()
    };
    let profile = r#"{"defaultAction":"SCMP_ACT_ERRNO"}"#;
    let b = create_body("img:1", &spec, profile).unwrap();
    assert_eq!(b["Image"], "img:1");
    // Labelled as ours, with the creating pid (leftovers of one run can be found).
    assert_eq!(
        b["Labels"],
        json!({"confine": "run", "confine.pid": std::process::id().to_string()})
    );
    assert_eq!(
        b["HostConfig"]["SecurityOpt"][0],
        format!("seccomp={profile}")
    );
    assert_eq!(b["Entrypoint"], json!(["/bin/sh"]));
    assert_eq!(b["Env"], json!(["A=1"]));
    assert_eq!(b["ExposedPorts"], json!({"80/tcp": {}}));
    assert_eq!(
        b["HostConfig"]["PortBindings"]["80/tcp"],
        json!([{"HostIp": "", "HostPort": "8080"}, {"HostIp": "127.0.0.1", "HostPort": "8081"}])
    );
    assert_eq!(b["HostConfig"]["CapAdd"], json!(["NET_ADMIN"]));
    // extra merged, not replacing HostConfig
    assert_eq!(b["HostConfig"]["Tmpfs"], json!({"/run": ""}));
    assert_eq!(b["Hostname"], "h");
    // arrays are appended: the profile stays
    assert_eq!(
        b["HostConfig"]["SecurityOpt"],
        json!([format!("seccomp={profile}"), "no-new-privileges"])
    );
    let bad = RunSpec {
        extra: Some(json!([1])),
        ..RunSpec::default()
    };
    assert!(matches!(
        create_body("i", &bad, profile),
        Err(RunnerError::Spec { .. })
    ));
}

#[test]
fn log_mode_copy_switches_default_only() {
    let p = r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,"syscalls":[{"names":["clone3"],"action":"SCMP_ACT_ERRNO","errnoRet":38}]}"#;
    let v: Value = serde_json::from_str(&log_mode_copy(p).unwrap()).unwrap();
    assert_eq!(v["defaultAction"], "SCMP_ACT_LOG");
    assert!(v.get("defaultErrnoRet").is_none());
    assert_eq!(v["syscalls"][0]["action"], "SCMP_ACT_ERRNO");
    for bad in ["", "[]", "{}", r#"{"defaultAction":1}"#] {
        assert!(
            matches!(log_mode_copy(bad), Err(RunnerError::Profile { .. })),
            "{bad}"
        );
    }
}

#[test]
fn ip_from_inspect() {
    let v =
        json!({"NetworkSettings": {"IPAddress": "", "Networks": {"n": {"IPAddress": "10.1.2.3"}}}});
    assert_eq!(container_ip(&v).as_deref(), Some("10.1.2.3"));
    let v = json!({"NetworkSettings": {"IPAddress": "172.17.0.2"}});
    assert_eq!(container_ip(&v).as_deref(), Some("172.17.0.2"));
    assert_eq!(
        container_ip(&json!({"NetworkSettings": {"IPAddress": ""}})),
        None
    );
}

#[test]
fn host_command_times_out_and_captures() {
    let (code, out, err) =
        run_host_command("echo a; echo b >&2; exit 4", Duration::from_secs(5)).unwrap();
    assert_eq!((code, out.as_str(), err.as_str()), (Some(4), "a\n", "b\n"));
    let t = Instant::now();
    let (code, _, _) = run_host_command("sleep 30", Duration::from_millis(300)).unwrap();
    assert_eq!(code, None);
    assert!(t.elapsed() < Duration::from_secs(5));
}

fn engine_or_skip(test: &str) -> Option<Engine> {
    let engine = match Engine::from_env() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("skipping {test}: {e}");
            return None;
        }
    };
    if let Err(e) = engine.ping() {
        eprintln!("skipping {test}: no docker engine: {e}");
        return None;
    }
    Some(engine)
}

fn busybox_image(engine: &Engine) -> String {
    ensure_calibration_image(engine).unwrap()
}

fn sh(script: &str) -> RunSpec {
    RunSpec {
        entrypoint: Some(vec![
            "/bin/busybox".into(),
            "sh".into(),
            "-c".into(),
            script.into(),
        ]),
        cmd: Some(vec![]),
        ..RunSpec::default()
    }
}

fn assert_removed(engine: &Engine, id: &str) {
    let e = engine.inspect_container(id).unwrap_err();
    assert!(e.is_not_found(), "container {id} still there: {e}");
    // Nor left for the last-resort cleanup of the front end.
    assert!(!crate::cancel::live_containers().iter().any(|l| l == id));
}

const ALLOW_ALL: &str = r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#;

#[test]
fn batch_container_runs_and_is_removed() {
    let Some(engine) = engine_or_skip("batch_container_runs_and_is_removed") else {
        return;
    };
    let image = busybox_image(&engine);
    let out = run_under_profile(
        &engine,
        &image,
        &sh("echo hi; echo err >&2"),
        ALLOW_ALL,
        &[],
        Duration::from_secs(30),
    )
    .unwrap();
    assert!(out.success, "{out:?}");
    assert!(out.started && out.exited_by_itself);
    assert_eq!(out.exit_code, Some(0));
    assert_eq!(
        (out.stdout.as_str(), out.stderr.as_str()),
        ("hi\n", "err\n")
    );
    assert!(out.elapsed_ms < 20_000, "{}", out.elapsed_ms);
    assert_removed(&engine, &out.container_id);

    let out = run_under_profile(
        &engine,
        &image,
        &sh("exit 3"),
        ALLOW_ALL,
        &[],
        Duration::from_secs(30),
    )
    .unwrap();
    assert!(!out.success);
    assert_eq!(out.exit_code, Some(3));
    assert!(out.failure.unwrap().contains("status 3"));
    assert_removed(&engine, &out.container_id);

    // It dies while a (passing) check outlasts the run: still seen as a failure.
    let checks = vec!["sleep 2".to_string()];
    let out = run_under_profile(
        &engine,
        &image,
        &sh("sleep 1; exit 5"),
        ALLOW_ALL,
        &checks,
        Duration::from_secs(1),
    )
    .unwrap();
    assert!(out.checks[0].passed);
    assert!(!out.success && out.exited_by_itself, "{out:?}");
    assert_eq!(out.exit_code, Some(5));
    assert_removed(&engine, &out.container_id);
}

#[test]
fn deny_all_profile_fails_to_start() {
    let Some(engine) = engine_or_skip("deny_all_profile_fails_to_start") else {
        return;
    };
    let image = busybox_image(&engine);
    let profile = r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[]}"#;
    let out = run_under_profile(
        &engine,
        &image,
        &sh("true"),
        profile,
        &[],
        Duration::from_secs(30),
    )
    .unwrap();
    assert!(!out.started && !out.success, "{out:?}");
    assert!(!out.start_error.unwrap().is_empty());
    assert!(out.failure.unwrap().contains("did not start"));
    assert_removed(&engine, &out.container_id);
}

#[test]
fn checks_reach_the_container() {
    let Some(engine) = engine_or_skip("checks_reach_the_container") else {
        return;
    };
    let image = busybox_image(&engine);
    let spec = sh("/bin/busybox mkdir -p /www && echo confine-ok > /www/index.html && exec /bin/busybox httpd -f -p 8080 -h /www");
    let checks = vec![
        "curl -sf --max-time 2 http://{ip}:8080/ | grep -q confine-ok".to_string(),
        "test -n '{ip}'".to_string(),
    ];
    let out = run_under_profile(
        &engine,
        &image,
        &spec,
        ALLOW_ALL,
        &checks,
        Duration::from_secs(5),
    )
    .unwrap();
    assert!(out.success, "{out:?}");
    assert!(!out.exited_by_itself);
    assert!(out.ip.is_some() && out.pid.is_some());
    assert!(out
        .checks
        .iter()
        .all(|c| c.passed && !c.expanded.contains("{ip}")));
    assert!(
        matches!(out.exit_code, Some(137) | Some(143)),
        "{:?}",
        out.exit_code
    );
    assert_removed(&engine, &out.container_id);

    let checks = vec!["echo nope >&2; false".to_string()];
    let out = run_under_profile(
        &engine,
        &image,
        &spec,
        ALLOW_ALL,
        &checks,
        Duration::from_secs(2),
    )
    .unwrap();
    assert!(!out.success);
    assert!(out.checks[0].attempts >= 2, "{:?}", out.checks);
    assert_eq!(out.checks[0].stderr, "nope\n");
    assert_eq!(out.checks[0].exit_code, Some(1));
    assert_removed(&engine, &out.container_id);
}

/// The result, or None (after saying why) when another process holds the
/// audit daemon slot: only one can, and other test binaries may run now.
fn or_busy<T>(test: &str, r: Result<T, RunnerError>) -> Option<T> {
    match r {
        Err(RunnerError::AuditBusy { pid }) => {
            eprintln!("skipping {test}: audit daemon slot taken by pid {pid}");
            None
        }
        r => Some(r.unwrap()),
    }
}

/// Root and a free audit daemon slot, or why not.
fn audit_or_skip(test: &str) -> bool {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipping {test}: needs root to register as the audit daemon");
        return false;
    }
    if let Err(why) = can_listen() {
        eprintln!("skipping {test}: {why}");
        return false;
    }
    true
}

#[test]
fn log_mode_sees_denials_from_the_kernel() {
    let Some(engine) = engine_or_skip("log_mode_sees_denials_from_the_kernel") else {
        return;
    };
    if !audit_or_skip("log_mode_sees_denials_from_the_kernel") {
        return;
    }
    let image = busybox_image(&engine);
    let before = audit_status().unwrap();
    // Allowed: the write of "hi"; everything else only logs.
    let profile = allow_list_profile(Arch::X86_64, ["write", "futex", "nanosleep"]);
    let spec = RunSpec {
        entrypoint: Some(vec!["/bin/busybox".into(), "echo".into(), "hi".into()]),
        cmd: Some(vec![]),
        network: Some("none".into()),
        ..RunSpec::default()
    };
    let Some(out) = or_busy(
        "log_mode_sees_denials_from_the_kernel",
        run_logged(
            &engine,
            &image,
            &spec,
            &profile,
            &[],
            Duration::from_secs(30),
        ),
    ) else {
        return;
    };
    let after = audit_status().unwrap();
    assert_eq!(
        (after.enabled, after.pid, after.backlog_limit),
        (before.enabled, before.pid, before.backlog_limit),
        "audit state not restored"
    );
    assert!(out.started && out.exited_by_itself, "{out:?}");
    assert_eq!(out.stdout, "hi\n");
    assert_eq!(out.audit_lost, 0);
    assert!(!out.success, "log mode must report the denials");
    let busybox: Vec<String> = out
        .denials
        .iter()
        .filter(|r| r.exe == "/bin/busybox")
        .map(record_syscall_name)
        .collect();
    assert!(busybox.iter().any(|s| s == "exit_group"), "{busybox:?}");
    assert!(
        !busybox.iter().any(|s| s == "write"),
        "allowed syscall logged: {busybox:?}"
    );
    // the runtime's execve of the entrypoint is logged too
    assert!(out
        .denials
        .iter()
        .any(|r| record_syscall_name(r) == "execve" && r.exe != "/bin/busybox"));
    assert_removed(&engine, &out.container_id);
}

#[test]
fn calibration_measures_and_confirms_runtime_needs() {
    let Some(engine) = engine_or_skip("calibration_measures_and_confirms_runtime_needs") else {
        return;
    };
    if !audit_or_skip("calibration_measures_and_confirms_runtime_needs") {
        return;
    }
    let image = busybox_image(&engine);
    let argv = vec!["/bin/busybox".to_string(), "true".to_string()];
    let Some(cal) = or_busy("calibration", calibrate(&engine, &image, &argv, 2)) else {
        return;
    };
    eprintln!("{}", serde_json::to_string_pretty(&cal).unwrap());
    assert_eq!(cal.runs, 2);
    assert_eq!(cal.audit_lost, 0);
    assert!(cal.boundary_is_execve);
    assert!(
        cal.syscalls.iter().any(|s| s == "execve"),
        "{:?}",
        cal.syscalls
    );
    assert!(cal.program_syscalls.iter().any(|s| s == "exit_group"));
    assert!(!cal.runtime.is_empty() && cal.runtime_version != "unknown");

    let conf = confirm_calibration(&engine, &cal).unwrap();
    eprintln!("{}", serde_json::to_string_pretty(&conf).unwrap());
    assert!(conf.full_set_runs, "{:?}", conf.full_set_error);
    let required = conf.required();
    for s in ["execve", "capset", "setuid", "chdir"] {
        assert!(required.contains(&s), "{s} not required: {required:?}");
    }
    // runc tolerates some failures: not everything it calls is required
    assert!(required.len() < conf.removals.len(), "{required:?}");
}

#[test]
fn missing_image_is_an_engine_error() {
    let Some(engine) = engine_or_skip("missing_image_is_an_engine_error") else {
        return;
    };
    let e = run_under_profile(
        &engine,
        "confine-runner-test/no-such-image:never",
        &RunSpec::default(),
        ALLOW_ALL,
        &[],
        Duration::from_secs(5),
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(&e, RunnerError::Engine { source, .. } if source.is_not_found()),
        "{msg}"
    );
    assert!(
        msg.contains("no-such-image") && msg.contains("POST /containers/create"),
        "{msg}"
    );
}

#[test]
fn observe_splits_runtime_and_program() {
    let Some(engine) = engine_or_skip("observe_splits_runtime_and_program") else {
        return;
    };
    if !audit_or_skip("observe_splits_runtime_and_program") {
        return;
    }
    let image = busybox_image(&engine);
    let spec = RunSpec {
        entrypoint: Some(vec![
            "/bin/sh".into(),
            "-c".into(),
            "echo hi; /bin/busybox true; echo done".into(),
        ]),
        cmd: Some(vec![]),
        network: Some("none".into()),
        ..RunSpec::default()
    };
    let Some(obs) = or_busy(
        "observe",
        crate::observe(&engine, &image, &spec, &[], Duration::from_secs(20)),
    ) else {
        return;
    };
    assert!(obs.outcome.success, "{:?}", obs.outcome);
    assert_eq!(obs.outcome.stdout, "hi\ndone\n");
    assert_eq!(obs.outcome.audit_lost, 0);
    assert!(
        obs.runtime_syscalls.iter().any(|s| s == "setuid"),
        "{:?}",
        obs.runtime_syscalls
    );
    // sh writes, forks and execs /bin/busybox
    for s in ["write", "exit_group", "wait4"] {
        assert!(
            obs.syscalls.iter().any(|x| x == s),
            "{s} missing: {:?}",
            obs.syscalls
        );
    }
    assert!(obs.syscalls.iter().any(|x| x == "execve"));
    assert!(obs
        .syscalls
        .iter()
        .any(|x| x == "clone" || x == "fork" || x == "vfork" || x == "clone3"));
    assert_eq!(obs.executables, vec!["/bin/busybox".to_string()]);
}

#[test]
fn observe_nginx_with_a_check() {
    let Some(engine) = engine_or_skip("observe_nginx_with_a_check") else {
        return;
    };
    if !audit_or_skip("observe_nginx_with_a_check") {
        return;
    }
    let image = "confine-test/debian12-nginx";
    if let Err(e) = engine.inspect_image(image) {
        eprintln!("skipping observe_nginx_with_a_check: {e} (tests/images/build.sh --import debian12-nginx builds it)");
        return;
    }
    let checks = vec!["curl -sf --max-time 2 -o /dev/null http://{ip}/".to_string()];
    let Some(obs) = or_busy(
        "observe_nginx",
        crate::observe(
            &engine,
            image,
            &RunSpec::default(),
            &checks,
            Duration::from_secs(4),
        ),
    ) else {
        return;
    };
    assert!(obs.outcome.success, "{:?}", obs.outcome);
    assert_eq!(obs.outcome.audit_lost, 0);
    assert!(
        obs.executables.iter().any(|e| e == "/usr/sbin/nginx"),
        "{:?}",
        obs.executables
    );
    let nginx = &obs.by_executable["/usr/sbin/nginx"];
    for s in ["accept4", "epoll_wait", "sendfile", "openat"] {
        assert!(nginx.iter().any(|x| x == s), "{s} missing: {nginx:?}");
    }
    eprintln!(
        "nginx observed: {} syscalls over {} executables, {} records, runtime {}",
        obs.syscalls.len(),
        obs.executables.len(),
        obs.outcome.denials.len(),
        obs.runtime_syscalls.len()
    );

    // The observed set (plus the runtime's) enforced for real passes the check...
    let mut allowed: Vec<&str> = obs.syscalls.iter().map(String::as_str).collect();
    allowed.extend(obs.runtime_syscalls.iter().map(String::as_str));
    allowed.extend(crate::KERNEL_ISSUED);
    let profile = allow_list_profile(Arch::X86_64, allowed.iter().copied());
    let out = run_under_profile(
        &engine,
        image,
        &RunSpec::default(),
        &profile,
        &checks,
        Duration::from_secs(3),
    )
    .unwrap();
    assert!(out.success, "{out:?}");
    // ...and without accept4 nginx cannot serve: the check fails.
    let profile = allow_list_profile(
        Arch::X86_64,
        allowed.iter().copied().filter(|s| *s != "accept4"),
    );
    let out = run_under_profile(
        &engine,
        image,
        &RunSpec::default(),
        &profile,
        &checks,
        Duration::from_secs(3),
    )
    .unwrap();
    assert!(out.started && !out.success, "{out:?}");
    assert!(!out.checks[0].passed);
    assert_removed(&engine, &out.container_id);
}

#[test]
fn observe_with_sees_execs_argv_mappings_and_ends_quiet() {
    let test = "observe_with_sees_execs_argv_mappings_and_ends_quiet";
    let Some(engine) = engine_or_skip(test) else {
        return;
    };
    if !audit_or_skip(test) {
        return;
    }
    let image = "confine-test/debian12-nginx";
    if let Err(e) = engine.inspect_image(image) {
        eprintln!("SKIP {test}: {e} (tests/images/build.sh --import debian12-nginx builds it)");
        return;
    }
    let checks = vec!["curl -sf --max-time 2 -o /dev/null http://{ip}/".to_string()];
    let opts = crate::ObserveOptions {
        max_duration: Duration::from_secs(30),
        quiet: Duration::from_secs(2),
    };
    let t0 = std::time::Instant::now();
    let Some(obs) = or_busy(
        test,
        crate::observe_with(&engine, image, &RunSpec::default(), &checks, &opts),
    ) else {
        return;
    };
    let took = t0.elapsed();
    assert!(obs.outcome.success, "{:?}", obs.outcome);
    // Ended by quietness, well before the 30 s bound.
    assert!(obs.ended_quiet, "{took:?}");
    assert!(took < Duration::from_secs(20), "{took:?}");
    // The entrypoint script's shell and the server, from the audit records
    // and from /proc, with argv and the libraries nginx mapped.
    let exes: Vec<&str> = obs.programs.iter().map(|p| p.exe.as_str()).collect();
    assert!(exes.contains(&"/usr/bin/dash"), "{exes:?}");
    let nginx = obs
        .programs
        .iter()
        .find(|p| p.exe == "/usr/sbin/nginx")
        .expect("nginx observed");
    assert!(nginx.in_audit);
    assert!(nginx.processes >= 2, "master and workers: {nginx:?}");
    assert!(
        nginx
            .argv
            .iter()
            .any(|a| a.first().is_some_and(|w| w.contains("nginx"))),
        "{nginx:?}"
    );
    for lib in ["libc.so.6", "libpcre2-8.so.0", "ld-linux-x86-64.so.2"] {
        assert!(
            nginx.mapped.iter().any(|m| m.contains(lib)),
            "{lib} not mapped: {:?}",
            nginx.mapped
        );
    }
    // Nothing from the host: every mapping is a path of the image.
    assert!(nginx.mapped.iter().all(|m| !m.contains("/target/")));
    eprintln!(
        "observed {} programs, {} processes, {} scans in {:?}",
        obs.programs.len(),
        obs.processes_seen,
        obs.scans,
        took
    );
}
