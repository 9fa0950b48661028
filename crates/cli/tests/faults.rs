//! Faults through the whole CLI: no engine, an engine that dies or talks
//! garbage, a container that exits at once or never becomes ready, a full
//! disk, a read-only output folder, Ctrl-C and the wall-time limit. Each
//! asserts its message and exit code, and that nothing is left behind: no
//! container (every container confine starts carries the label
//! `confine.pid=<its pid>`), nothing in its temporary folder (`TMPDIR`), no
//! partial profile or temporary file in the output folder.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns; a panic is a test failure

mod util;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use util::*;

const BUSYBOX_IMAGE: &str = "confine-test/busybox-httpd:latest";

/// Exit codes, as documented in `confine --help` and the README.
const EXIT_ERROR: i32 = 1;
const EXIT_CONTAINER_FAILED: i32 = 4;
const EXIT_ENGINE: i32 = 5;
const EXIT_TIME_LIMIT: i32 = 124;
const EXIT_INTERRUPT: i32 = 130;

/// A fresh folder with `tmp/` (the run's TMPDIR) and `out/` (its output folder).
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("tmp")).unwrap();
        std::fs::create_dir(dir.path().join("out")).unwrap();
        Sandbox { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn out(&self) -> PathBuf {
        self.path().join("out")
    }

    /// `confine` running in the sandbox with its own TMPDIR.
    fn confine(&self) -> Command {
        let mut c = confine();
        c.current_dir(self.path())
            .env("TMPDIR", self.path().join("tmp"))
            .stdin(Stdio::null());
        c
    }

    /// Nothing left in TMPDIR.
    fn assert_tmp_empty(&self) {
        let left: Vec<_> = std::fs::read_dir(self.path().join("tmp"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "left in TMPDIR: {left:?}");
    }

    /// Names in the output folder.
    fn outputs(&self) -> Vec<String> {
        names(&self.out())
    }

    /// No output written and nothing left in TMPDIR.
    fn assert_clean(&self) {
        assert!(self.outputs().is_empty(), "{:?}", self.outputs());
        self.assert_tmp_empty();
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Containers the confine process `pid` created that still exist.
fn containers_of(pid: u32) -> Vec<String> {
    let out = Command::new("docker")
        .args(["ps", "-aq", "--filter", &format!("label=confine.pid={pid}")])
        .output()
        .unwrap();
    text(&out.stdout)
        .lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect()
}

/// Wait for `child` at most `limit`; kill it and fail if it does not end.
fn wait_bounded(mut child: Child, limit: Duration) -> Output {
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "confine did not end within {limit:?}; stderr: {}",
                text(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Wait until `pid` has created a container; its id.
fn first_container(pid: u32, limit: Duration) -> Option<String> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(id) = containers_of(pid).into_iter().next() {
            return Some(id);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// A root filesystem with the static busybox as its only program.
fn busybox_rootfs(sb: &Sandbox) -> Option<String> {
    let src = Path::new("/bin/busybox");
    if !src.exists() {
        eprintln!("SKIP: /bin/busybox (static) is not installed");
        return None;
    }
    let bin = sb.path().join("rootfs/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(src, bin.join("busybox")).unwrap();
    Some("rootfs:rootfs".to_string())
}

fn engine_and_image_and_root_or_skip(test: &str) -> bool {
    if !is_root() {
        eprintln!("SKIP {test}: runs need root (audit records, /proc of the container)");
        return false;
    }
    image_or_skip(test, BUSYBOX_IMAGE)
}

// ---------------------------------------------------------------- no engine

#[test]
fn no_engine_for_a_daemon_image() {
    let sb = Sandbox::new();
    let sock = sb.path().join("no-engine.sock");
    let out = sb
        .confine()
        .env("DOCKER_HOST", format!("unix://{}", sock.display()))
        .args([
            "profile",
            "-q",
            "--no-cache",
            "docker-daemon:confine-test/busybox-httpd",
            "-o",
            "out/p.json",
        ])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(EXIT_ENGINE), "{err}");
    assert_eq!(
        err.trim(),
        format!(
            "confine: cannot read image docker-daemon:confine-test/busybox-httpd: docker engine: \
             cannot connect to the docker engine at {}: No such file or directory (os error 2)",
            sock.display()
        )
    );
    assert!(sb.outputs().is_empty());
    sb.assert_tmp_empty();
}

#[test]
fn no_engine_for_verify() {
    let sb = Sandbox::new();
    let sock = sb.path().join("no-engine.sock");
    let out = sb
        .confine()
        .env("DOCKER_HOST", format!("unix://{}", sock.display()))
        .args([
            "verify",
            "confine-test/busybox-httpd",
            "--profile",
            "docker-default",
        ])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(EXIT_ENGINE), "{err}");
    assert!(
        err.starts_with(
            "confine: no Docker engine answers: cannot connect to the docker engine at "
        ) && err.contains("no-engine.sock"),
        "{err}"
    );
    sb.assert_tmp_empty();
}

// ------------------------------------------------------------- fake engine

/// What the fake engine answers to one request (method and path, without
/// the API version prefix).
type Script = dyn Fn(&str, &str) -> Vec<u8> + Send + Sync;

/// A fake Docker engine on a unix socket: answers each request with
/// `script(method, path)` and closes the connection; records every request line.
struct FakeEngine {
    socket: PathBuf,
    requests: Arc<Mutex<Vec<String>>>,
}

impl FakeEngine {
    fn start(dir: &Path, script: Box<Script>) -> FakeEngine {
        let socket = dir.join("fake-engine.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&requests);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                serve(conn, &*script, &log);
            }
        });
        FakeEngine { socket, requests }
    }

    fn docker_host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

fn serve(mut conn: UnixStream, script: &Script, log: &Mutex<Vec<String>>) {
    let mut r = BufReader::new(conn.try_clone().unwrap());
    let mut first = String::new();
    if r.read_line(&mut first).is_err() {
        return;
    }
    let mut len = 0u64;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let _ = std::io::copy(&mut (&mut r).take(len), &mut std::io::sink());
    let mut parts = first.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default();
    let path = target.strip_prefix("/v1.41").unwrap_or(target).to_string();
    log.lock().unwrap().push(format!("{method} {path}"));
    let _ = conn.write_all(&script(&method, &path));
    // Dropping the connection closes it, also in the middle of a reply.
}

fn reply(status: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A reply head promising `declared` bytes followed by only `sent` of them.
fn cut_reply(declared: usize, sent: usize) -> Vec<u8> {
    let mut r = format!("HTTP/1.1 200 OK\r\nContent-Length: {declared}\r\n\r\n").into_bytes();
    r.extend(std::iter::repeat_n(b'x', sent));
    r
}

/// The start of a `docker save` stream whose first entry (a 10 MiB layer)
/// is cut after `sent` bytes of its body: a valid tar up to the cut.
fn cut_export(sent: usize) -> Vec<u8> {
    let size = 10usize << 20;
    let mut h = tar::Header::new_gnu();
    h.set_path("0123abcd/layer.tar").unwrap();
    h.set_size(size as u64);
    h.set_mode(0o644);
    h.set_cksum();
    let declared = 512 + size + 1024;
    let mut r = format!("HTTP/1.1 200 OK\r\nContent-Length: {declared}\r\n\r\n").into_bytes();
    r.extend_from_slice(h.as_bytes());
    r.extend(std::iter::repeat_n(0u8, sent));
    r
}

/// A `--run-options` file whose command exits at once with status 3.
fn exits_at_once(sb: &Sandbox) -> String {
    let f = sb.path().join("exit3.json");
    std::fs::write(&f, r#"{"entrypoint": ["/bin/sh", "-c", "exit 3"]}"#).unwrap();
    f.display().to_string()
}

#[test]
fn engine_dying_in_the_middle_of_an_image_export() {
    let sb = Sandbox::new();
    let fake = FakeEngine::start(
        sb.path(),
        Box::new(|_, path| match path {
            "/_ping" => reply("200 OK", "OK"),
            _ => cut_export(5000),
        }),
    );
    let out = sb
        .confine()
        .env("DOCKER_HOST", fake.docker_host())
        .args([
            "profile",
            "-q",
            "--no-cache",
            "docker-daemon:some/image:1",
            "-o",
            "out/p.json",
        ])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(EXIT_ENGINE), "{err}");
    assert!(
        err.starts_with("confine: cannot read image docker-daemon:some/image:1: ")
            && err.contains("GET /images/some/image:1/get: connection closed after "),
        "{err}"
    );
    assert!(fake
        .requests()
        .contains(&"GET /images/some/image:1/get".to_string()));
    assert!(sb.outputs().is_empty());
    sb.assert_tmp_empty();
}

#[test]
fn engine_answering_garbage() {
    let sb = Sandbox::new();
    let fake = FakeEngine::start(
        sb.path(),
        Box::new(|_, _| b"\x00\x01garbage that is not http\r\n".to_vec()),
    );
    let out = sb
        .confine()
        .env("DOCKER_HOST", fake.docker_host())
        .args(["verify", "some/image", "--profile", "docker-default"])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(EXIT_ENGINE), "{err}");
    assert!(
        err.contains("no Docker engine answers: GET /_ping: malformed reply: bad status line"),
        "{err}"
    );
    sb.assert_tmp_empty();
}

#[test]
fn engine_dying_during_a_run_still_gets_the_container_removed() {
    let t = "engine_dying_during_a_run_still_gets_the_container_removed";
    if !is_root() {
        eprintln!("SKIP {t}: verify registers as the audit daemon, which needs root");
        return;
    }
    let sb = Sandbox::new();
    // The engine creates and starts the container, reports it running once,
    // then breaks off every inspect in the middle of its reply.
    let inspects = Arc::new(Mutex::new(0u32));
    let fake = FakeEngine::start(
        sb.path(),
        Box::new(move |method, path| match (method, path) {
            (_, "/_ping") => reply("200 OK", "OK"),
            ("POST", "/containers/create") => {
                reply("201 Created", r#"{"Id":"fakecontainer1","Warnings":[]}"#)
            }
            ("POST", p) if p.ends_with("/start") => reply("204 No Content", ""),
            ("GET", p) if p.ends_with("/json") => {
                let mut n = inspects.lock().unwrap();
                *n += 1;
                if *n == 1 {
                    reply(
                        "200 OK",
                        r#"{"State":{"Running":true,"Pid":0},"NetworkSettings":{"IPAddress":""}}"#,
                    )
                } else {
                    cut_reply(4000, 10)
                }
            }
            ("DELETE", _) => reply("204 No Content", ""),
            _ => reply("500 Internal Server Error", r#"{"message":"unexpected"}"#),
        }),
    );
    let child = sb
        .confine()
        .env("DOCKER_HOST", fake.docker_host())
        .args([
            "verify",
            "some/image",
            "--profile",
            "docker-default",
            "--duration",
            "30",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The audit registration may wait for another test's run to end.
    let out = wait_bounded(child, Duration::from_secs(240));
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(EXIT_ENGINE), "{err}");
    assert!(
        err.contains(
            "inspect container fakecontainer1: GET /containers/fakecontainer1/json: \
             connection closed after 10 of 4000 body bytes"
        ),
        "{err}"
    );
    let reqs = fake.requests();
    assert!(
        reqs.iter()
            .any(|r| r.starts_with("DELETE /containers/fakecontainer1?")),
        "the container was not removed: {reqs:?}"
    );
    sb.assert_tmp_empty();
}

#[test]
fn engine_hanging_in_the_middle_of_a_run_meets_the_time_limit() {
    let t = "engine_hanging_in_the_middle_of_a_run_meets_the_time_limit";
    if !is_root() {
        eprintln!("SKIP {t}: verify registers as the audit daemon, which needs root");
        return;
    }
    let sb = Sandbox::new();
    // The engine answers the ping, then never answers the create.
    let fake = FakeEngine::start(
        sb.path(),
        Box::new(|_, path| {
            if path == "/_ping" {
                reply("200 OK", "OK")
            } else {
                std::thread::sleep(Duration::from_secs(600));
                Vec::new()
            }
        }),
    );
    let start = Instant::now();
    let child = sb
        .confine()
        .env("DOCKER_HOST", fake.docker_host())
        .args([
            "--time-limit",
            "3",
            "verify",
            "some/image",
            "--profile",
            "docker-default",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_bounded(child, Duration::from_secs(60));
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(EXIT_TIME_LIMIT), "{err}");
    assert!(
        err.starts_with(
            "confine: time limit of 3 s (--time-limit) reached in stage \
             \"running the container under the profile\"; stopped and cleaned up"
        ),
        "{err}"
    );
    // The time limit, plus at most the grace a run under way gets to wind down.
    assert!(
        start.elapsed() < Duration::from_secs(3 + 15 + 5),
        "{:?}",
        start.elapsed()
    );
    sb.assert_tmp_empty();
}

// ------------------------------------------- containers that fail to run

#[test]
fn verify_of_a_container_that_exits_at_once() {
    let t = "verify_of_a_container_that_exits_at_once";
    if !engine_and_image_and_root_or_skip(t) {
        return;
    }
    let sb = Sandbox::new();
    let child = sb
        .confine()
        .args([
            "verify",
            BUSYBOX_IMAGE,
            "--profile",
            "docker-default",
            "--duration",
            "20",
            "--run-options",
            &exits_at_once(&sb),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let start = Instant::now();
    let out = wait_bounded(child, Duration::from_secs(240));
    let (stdout, err) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(EXIT_CONTAINER_FAILED),
        "{stdout}\n{err}"
    );
    assert!(
        stdout.contains("failure: the container exited with status 3 after "),
        "{stdout}"
    );
    assert!(
        err.contains("the container failed under the profile but no syscall was denied"),
        "{err}"
    );
    // It did not wait for the 20 s duration (the audit wait aside).
    assert!(start.elapsed() < Duration::from_secs(200));
    assert_eq!(containers_of(pid), Vec::<String>::new());
    sb.assert_tmp_empty();
}

#[test]
fn verify_of_a_container_that_never_becomes_ready() {
    let t = "verify_of_a_container_that_never_becomes_ready";
    if !engine_and_image_and_root_or_skip(t) {
        return;
    }
    let sb = Sandbox::new();
    // The readiness check can never pass (nothing listens on port 9).
    let check = "exec 3<>/dev/tcp/{ip}/9 2>/dev/null || exit 7";
    let child = sb
        .confine()
        .args([
            "verify",
            BUSYBOX_IMAGE,
            "--profile",
            "docker-default",
            "--duration",
            "3",
            "--check",
            &format!("bash -c '{check}'"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = wait_bounded(child, Duration::from_secs(240));
    let (stdout, err) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(EXIT_CONTAINER_FAILED),
        "{stdout}\n{err}"
    );
    assert!(stdout.contains("check FAILED: bash -c"), "{stdout}");
    assert!(
        stdout.contains("did not pass within 3 s (") && stdout.contains("last exit status 7)"),
        "{stdout}"
    );
    assert_eq!(containers_of(pid), Vec::<String>::new());
    sb.assert_tmp_empty();
}

#[test]
fn observed_run_of_a_container_that_exits_at_once() {
    let t = "observed_run_of_a_container_that_exits_at_once";
    if !engine_and_image_and_root_or_skip(t) {
        return;
    }
    let sb = Sandbox::new();
    let child = sb
        .confine()
        .args([
            "profile",
            "--no-cache",
            BUSYBOX_IMAGE,
            "--run-options",
            &exits_at_once(&sb),
            "--trace-time",
            "30",
            "-o",
            "out/p.json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = wait_bounded(child, Duration::from_secs(300));
    let err = text(&out.stderr);
    // The static analysis stands: the profile is written, with a clear note.
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("the container did not run cleanly")
            && err.contains("container: the container exited with status 3 after "),
        "{err}"
    );
    assert_eq!(sb.outputs(), vec!["p.json", "p.json.reasons.json"]);
    let p: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sb.out().join("p.json")).unwrap()).unwrap();
    assert_eq!(p["defaultAction"], "SCMP_ACT_ERRNO");
    assert_eq!(containers_of(pid), Vec::<String>::new());
    sb.assert_tmp_empty();
}

// ----------------------------------------------- full disk, read-only folder

/// Mount a tmpfs with `opts` on `dir`; false (and why) when this cannot be done.
fn mount_tmpfs(test: &str, dir: &Path, opts: &str) -> bool {
    if !is_root() {
        eprintln!("SKIP {test}: mounting a small tmpfs needs root");
        return false;
    }
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", opts, "tmpfs"])
        .arg(dir)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("SKIP {test}: mount -t tmpfs -o {opts} failed (no CAP_SYS_ADMIN here?)");
    }
    ok
}

/// Unmounts on drop, so a failing assertion does not leave the mount.
struct Mounted(PathBuf);
impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A file in the output folder is absent or whole JSON; no temporary file is left.
fn assert_no_partial_outputs(dir: &Path) {
    for name in names(dir) {
        assert!(
            !name.starts_with('.') && !name.ends_with(".tmp"),
            "temporary file left: {name}"
        );
        let bytes = std::fs::read(dir.join(&name)).unwrap();
        assert!(
            serde_json::from_slice::<serde_json::Value>(&bytes).is_ok(),
            "{name} is not whole JSON ({} bytes)",
            bytes.len()
        );
    }
}

fn profile_into(sb: &Sandbox, image: &str, out: &str) -> Output {
    sb.confine()
        .args([
            "profile",
            "-q",
            "--no-cache",
            image,
            "--entrypoint",
            "/bin/busybox",
            "--cmd",
            "true",
            "-o",
            out,
        ])
        .output()
        .unwrap()
}

#[test]
fn full_disk_leaves_no_partial_profile() {
    let t = "full_disk_leaves_no_partial_profile";
    let sb = Sandbox::new();
    let Some(image) = busybox_rootfs(&sb) else {
        return;
    };
    // 16 KiB: not even the profile fits. 64 KiB: the profile (about 40 KiB)
    // may fit, and then its reasons file does not: neither is left.
    for (size, sub) in [("16k", "small"), ("64k", "medium")] {
        let dir = sb.out().join(sub);
        std::fs::create_dir(&dir).unwrap();
        if !mount_tmpfs(t, &dir, &format!("size={size},mode=0755")) {
            return;
        }
        let _m = Mounted(dir.clone());
        let out = profile_into(&sb, &image, &format!("out/{sub}/p.json"));
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(EXIT_ERROR), "{size}: {err}");
        assert!(
            err.contains("No space left on device (os error 28)")
                && (err.contains(&format!("cannot write {}", dir.display()))
                    || err.contains(&format!("cannot write out/{sub}/."))),
            "{size}: {err}"
        );
        assert_no_partial_outputs(&dir);
        // The profile and its reasons are renamed into place together.
        assert!(names(&dir).is_empty(), "{size}: {:?}", names(&dir));
    }
    sb.assert_tmp_empty();
}

#[test]
fn read_only_output_folder() {
    let t = "read_only_output_folder";
    let sb = Sandbox::new();
    let Some(image) = busybox_rootfs(&sb) else {
        return;
    };
    let dir = sb.out().join("ro");
    std::fs::create_dir(&dir).unwrap();
    if !mount_tmpfs(t, &dir, "ro,size=1m") {
        return;
    }
    let _m = Mounted(dir.clone());
    let out = profile_into(&sb, &image, "out/ro/p.json");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(EXIT_ERROR), "{err}");
    assert!(
        err.starts_with(
            "confine: cannot create a temporary file in out/ro: Read-only file system (os error 30)"
        ),
        "{err}"
    );
    assert!(names(&dir).is_empty());
    sb.assert_tmp_empty();
}

// ------------------------------------------------- Ctrl-C and the time limit

fn sigint(pid: u32) {
    let ok = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -INT {pid}");
}

/// `confine profile ARGS -o out/p.json` spawned, its output piped; `global`
/// options go before the subcommand.
fn spawn_profile(sb: &Sandbox, global: &[&str], args: &[&str]) -> Child {
    sb.confine()
        .args(global)
        .arg("profile")
        .args(args)
        .args(["-o", "out/p.json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// `confine profile` analysing every program of the busybox root without the
/// cache (seconds of work).
fn long_analysis(sb: &Sandbox, image: &str, global: &[&str]) -> Child {
    spawn_profile(sb, global, &["--no-cache", image, "--all-binaries"])
}

/// `confine profile` of the busybox image with a long observed run.
fn long_observed_run(sb: &Sandbox, global: &[&str]) -> Child {
    let run = ["--trace-time", "120", "--trace-quiet", "120"];
    let mut args = vec!["--no-cache", BUSYBOX_IMAGE];
    args.extend(run);
    spawn_profile(sb, global, &args)
}

#[test]
fn ctrl_c_during_an_observed_run_removes_its_container() {
    let t = "ctrl_c_during_an_observed_run_removes_its_container";
    if !engine_and_image_and_root_or_skip(t) {
        return;
    }
    let sb = Sandbox::new();
    let child = long_observed_run(&sb, &[]);
    let pid = child.id();
    // The audit registration may wait for another test's run to end first.
    let Some(id) = first_container(pid, Duration::from_secs(240)) else {
        let out = wait_bounded(child, Duration::from_secs(200));
        panic!("no container appeared; stderr: {}", text(&out.stderr));
    };
    std::thread::sleep(Duration::from_millis(500));
    let start = Instant::now();
    sigint(pid);
    let out = wait_bounded(child, Duration::from_secs(60));
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(EXIT_INTERRUPT), "{err}");
    assert!(
        err.contains(
            "confine: interrupted (SIGINT) in stage \"observed run: watching the container\"; \
             stopped and cleaned up"
        ),
        "{err}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(containers_of(pid), Vec::<String>::new(), "{id} left");
    sb.assert_clean();
}

#[test]
fn ctrl_c_during_analysis_exits_at_once() {
    let sb = Sandbox::new();
    let Some(image) = busybox_rootfs(&sb) else {
        return;
    };
    // Analysis of the whole static busybox takes seconds without the cache.
    let child = long_analysis(&sb, &image, &[]);
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    sigint(child.id());
    let out = wait_bounded(child, Duration::from_secs(30));
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(EXIT_INTERRUPT), "{err}");
    assert!(
        err.contains("confine: interrupted (SIGINT) in stage \"")
            && err.contains("\"; stopped and cleaned up"),
        "{err}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    sb.assert_clean();
}

#[test]
fn time_limit_during_an_observed_run() {
    let t = "time_limit_during_an_observed_run";
    if !engine_and_image_and_root_or_skip(t) {
        return;
    }
    let sb = Sandbox::new();
    // Long enough to reach the run even when the audit registration has to
    // wait a little for another test's run.
    let child = long_observed_run(&sb, &["--time-limit", "25"]);
    let pid = child.id();
    let out = wait_bounded(child, Duration::from_secs(120));
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(EXIT_TIME_LIMIT), "{err}");
    assert!(
        err.contains("confine: time limit of 25 s (--time-limit) reached in stage \"observed run: watching the container\"; stopped and cleaned up"),
        "{err}"
    );
    assert_eq!(containers_of(pid), Vec::<String>::new());
    sb.assert_clean();
}

#[test]
fn time_limit_during_analysis() {
    let sb = Sandbox::new();
    let Some(image) = busybox_rootfs(&sb) else {
        return;
    };
    let start = Instant::now();
    let child = long_analysis(&sb, &image, &["--time-limit", "1", "-q"]);
    let out = wait_bounded(child, Duration::from_secs(30));
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(EXIT_TIME_LIMIT), "{err}");
    assert!(
        err.contains("confine: time limit of 1 s (--time-limit) reached in stage \"")
            && err.contains("\"; stopped and cleaned up"),
        "{err}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    sb.assert_clean();
}

#[test]
fn sigterm_during_analysis() {
    let sb = Sandbox::new();
    let Some(image) = busybox_rootfs(&sb) else {
        return;
    };
    let child = long_analysis(&sb, &image, &["-q"]);
    std::thread::sleep(Duration::from_millis(300));
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let out = wait_bounded(child, Duration::from_secs(30));
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{err}");
    assert!(
        err.contains("confine: terminated (SIGTERM) in stage \""),
        "{err}"
    );
    sb.assert_clean();
}
