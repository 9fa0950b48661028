//! Tests that run real containers under built profiles on the local Docker
//! engine (skipped with a message when no engine answers).

use crate::docker::DockerDefault;
use crate::{build, to_docker_json, DenyAction, Profile, ProfileRequest, Reason, RuntimeNeeds};
use confine_syscalls::Arch;
use std::process::{Command, Output, Stdio};

const IMAGE: &str = "confine-profile-test/busybox:1";

fn engine_available() -> bool {
    Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn server_version() -> String {
    Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// A one-file image holding the static /bin/busybox, built offline.
fn ensure_image() -> bool {
    let have = Command::new("docker")
        .args(["image", "inspect", IMAGE])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if have {
        return true;
    }
    let Ok(bb) = std::fs::canonicalize("/bin/busybox") else {
        return false;
    };
    let (Some(dir), Some(name)) = (bb.parent(), bb.file_name()) else {
        return false;
    };
    let Ok(mut tar) = Command::new("tar")
        .arg("-C")
        .arg(dir)
        .arg("-c")
        .arg("--transform=s,.*,busybox,")
        .arg(name)
        .stdout(Stdio::piped())
        .spawn()
    else {
        return false;
    };
    let Some(out) = tar.stdout.take() else {
        return false;
    };
    let ok = Command::new("docker")
        .args(["import", "-", IMAGE])
        .stdin(out)
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let _ = tar.wait();
    ok
}

fn run(profile: &str, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("profile.json");
    std::fs::write(&path, profile).unwrap();
    Command::new("docker")
        .args(["run", "--rm", "--network=none", "--security-opt"])
        .arg(format!("seccomp={}", path.display()))
        .arg(IMAGE)
        .args(args)
        .output()
        .unwrap()
}

/// Docker's whole default set minus mkdir/mkdirat, as a built profile.
fn without_mkdir(deny: DenyAction) -> Profile {
    let mut req = ProfileRequest::new(Arch::X86_64);
    req.runtime = RuntimeNeeds::none();
    req.deny = deny;
    for n in DockerDefault::load(Arch::X86_64).unwrap().reachable() {
        if n != "mkdir" && n != "mkdirat" {
            req.allow(&n, Reason::User);
        }
    }
    build(&req).unwrap()
}

#[test]
fn docker_accepts_profiles_and_denied_calls_get_enosys() {
    if !engine_available() {
        eprintln!("skip: no docker engine answering (CI provides one)");
        return;
    }
    if !ensure_image() {
        eprintln!("skip: could not build the busybox test image with docker import");
        return;
    }
    let enosys = without_mkdir(DenyAction::default());
    let json = to_docker_json(&enosys).unwrap();
    let ok = run(&json, &["/busybox", "echo", "confined"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&ok.stdout).trim(), "confined");

    let denied = run(&json, &["/busybox", "mkdir", "/tmp/x"]);
    assert!(!denied.status.success());
    let err = String::from_utf8_lossy(&denied.stderr);
    assert!(err.contains("Function not implemented"), "{err}");

    // Docker 20.10 drops defaultErrnoRet: without the explicit rule the same
    // call gets EPERM. This is why build() writes the explicit ENOSYS rule.
    let mut bare = enosys.clone();
    let before = bare.seccomp.syscalls.len();
    bare.seccomp
        .syscalls
        .retain(|r| !r.names.iter().any(|n| n == "mkdir"));
    assert_eq!(bare.seccomp.syscalls.len() + 1, before);
    let bare_out = run(
        &to_docker_json(&bare).unwrap(),
        &["/busybox", "mkdir", "/tmp/x"],
    );
    let err = String::from_utf8_lossy(&bare_out.stderr);
    assert!(
        err.contains("Operation not permitted") || err.contains("Function not implemented"),
        "{err}"
    );
    if server_version().starts_with("20.10") {
        assert!(err.contains("Operation not permitted"), "{err}");
    }

    let eperm = without_mkdir(DenyAction::Errno(crate::EPERM));
    let out = run(
        &to_docker_json(&eperm).unwrap(),
        &["/busybox", "mkdir", "/tmp/x"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Operation not permitted"), "{err}");
}

#[test]
fn tight_profile_with_measured_runc_needs_runs_busybox() {
    if !engine_available() {
        eprintln!("skip: no docker engine answering (CI provides one)");
        return;
    }
    if !ensure_image() {
        eprintln!("skip: could not build the busybox test image with docker import");
        return;
    }
    let mut req = ProfileRequest::new(Arch::X86_64);
    req.runtime = RuntimeNeeds::runc_1_1();
    // what static busybox `echo` makes (strace on Debian 12's busybox 1.35)
    for n in [
        "arch_prctl",
        "brk",
        "execve",
        "exit_group",
        "getrandom",
        "getuid",
        "mprotect",
        "prctl",
        "prlimit64",
        "readlink",
        "rseq",
        "set_robust_list",
        "set_tid_address",
        "write",
    ] {
        req.allow(n, Reason::User);
    }
    let p = build(&req).unwrap();
    let out = run(&to_docker_json(&p).unwrap(), &["/busybox", "echo", "tight"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "tight");
    eprintln!("allowed: {}", p.allowed().len());
}

#[test]
fn docker_clone_arg_rule_lets_fork_through() {
    if !engine_available() {
        eprintln!("skip: no docker engine answering (CI provides one)");
        return;
    }
    if !ensure_image() {
        eprintln!("skip: could not build the busybox test image with docker import");
        return;
    }
    let mut req = ProfileRequest::new(Arch::X86_64);
    req.runtime = RuntimeNeeds::runc_1_1();
    // strace -f of busybox sh -c 'echo x | cat' on Debian 12
    for n in [
        "arch_prctl",
        "brk",
        "clone",
        "close",
        "dup2",
        "execve",
        "exit_group",
        "getpid",
        "getppid",
        "getrandom",
        "getuid",
        "mmap",
        "mprotect",
        "munmap",
        "newfstatat",
        "pipe2",
        "prctl",
        "prlimit64",
        "read",
        "readlink",
        "rseq",
        "rt_sigaction",
        "rt_sigreturn",
        "sendfile",
        "set_robust_list",
        "set_tid_address",
        "uname",
        "wait4",
        "write",
    ] {
        req.allow(n, Reason::User);
    }
    let p = build(&req).unwrap();
    assert!(p.conditional().contains("clone"));
    let json = to_docker_json(&p).unwrap();
    let out = run(
        &json,
        &[
            "/busybox",
            "sh",
            "-c",
            "/busybox echo forked | /busybox cat",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "forked");
    // without pipe2 the shell cannot build the pipeline: the profile is tight
    let mut req2 = req.clone();
    req2.allowed.remove("pipe2");
    let out = run(
        &to_docker_json(&build(&req2).unwrap()).unwrap(),
        &[
            "/busybox",
            "sh",
            "-c",
            "/busybox echo forked | /busybox cat",
        ],
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("forked"));
}
