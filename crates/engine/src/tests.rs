//! Tests: DOCKER_HOST parsing, demultiplexing, and calls against the running engine.

use super::*;
use std::sync::atomic::{AtomicU32, Ordering};

#[test]
fn docker_host_parsing() {
    assert_eq!(
        Engine::from_docker_host(None).unwrap().socket(),
        Path::new(DEFAULT_SOCKET)
    );
    assert_eq!(
        Engine::from_docker_host(Some("")).unwrap().socket(),
        Path::new(DEFAULT_SOCKET)
    );
    assert_eq!(
        Engine::from_docker_host(Some("unix:///run/user/1000/docker.sock"))
            .unwrap()
            .socket(),
        Path::new("/run/user/1000/docker.sock")
    );
    for bad in [
        "tcp://127.0.0.1:2375",
        "ssh://host",
        "/var/run/docker.sock",
        "unix://rel",
    ] {
        let e = Engine::from_docker_host(Some(bad)).unwrap_err();
        assert!(matches!(e, EngineError::UnsupportedHost { .. }), "{bad}");
        assert!(e.to_string().contains("unsupported"), "{e}");
    }
}

#[test]
fn connect_error_names_socket() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("nothing.sock");
    let e = Engine::with_socket(&sock).ping().unwrap_err();
    assert!(matches!(e, EngineError::Connect { .. }));
    assert!(e.to_string().contains("nothing.sock"), "{e}");
}

#[test]
fn demux_streams() {
    let mut raw = vec![1, 0, 0, 0, 0, 0, 0, 3];
    raw.extend_from_slice(b"out");
    raw.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 4]);
    raw.extend_from_slice(b"err\n");
    raw.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 1]);
    raw.extend_from_slice(b"!");
    let (o, e) = demux(&raw).unwrap();
    assert_eq!(o, b"out!");
    assert_eq!(e, b"err\n");
    assert_eq!(demux(b"").unwrap(), (vec![], vec![]));
    // truncated payload, raw tty text, bad stream type
    assert!(demux(&raw[..raw.len() - 1]).is_none());
    assert!(demux(b"hello world\n").is_none());
    assert!(demux(&[7, 0, 0, 0, 0, 0, 0, 0]).is_none());
    assert!(demux(&[1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 1]).is_none());
}

fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![kind, 0, 0, 0];
    v.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    v.extend_from_slice(payload);
    v
}

#[test]
fn logs_stream_is_bounded() {
    let mut raw = frame(1, b"hello ");
    raw.extend(frame(2, b"oops\n"));
    raw.extend(frame(1, b"world\n"));
    let logs = read_logs(&raw[..], 100).unwrap();
    assert_eq!(
        (&logs.stdout[..], &logs.stderr[..], logs.truncated),
        (&b"hello world\n"[..], &b"oops\n"[..], false)
    );
    // limit inside the third frame
    let logs = read_logs(&raw[..], 13).unwrap();
    assert_eq!(
        (&logs.stdout[..], &logs.stderr[..], logs.truncated),
        (&b"hello wo"[..], &b"oops\n"[..], true)
    );
    // limit exactly at the end of the data: not truncated
    let logs = read_logs(&raw[..], 17).unwrap();
    assert!(!logs.truncated);
    // a frame claiming 4 GiB is not allocated
    let mut huge = vec![1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
    huge.extend_from_slice(&[b'x'; 64]);
    let logs = read_logs(&huge[..], 10).unwrap();
    assert_eq!((logs.stdout.len(), logs.truncated), (10, true));
    // ended inside a frame
    assert!(read_logs(&huge[..], 1000).is_err());
    // raw tty output
    let logs = read_logs(&b"plain text output\n"[..], 5).unwrap();
    assert_eq!((&logs.stdout[..], logs.truncated), (&b"plain"[..], true));
    let logs = read_logs(&b"hi"[..], 5).unwrap();
    assert_eq!((&logs.stdout[..], logs.truncated), (&b"hi"[..], false));
    assert_eq!(read_logs(&b""[..], 5).unwrap(), Logs::default());
}

/// The engine at DOCKER_HOST or the default socket, if it answers.
fn engine_or_skip(test: &str) -> Option<Engine> {
    let engine = match Engine::from_env() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("skipping {test}: {e}");
            return None;
        }
    };
    match engine.ping() {
        Ok(()) => Some(engine),
        Err(e) => {
            eprintln!("skipping {test}: no docker engine: {e}");
            None
        }
    }
}

/// A rootfs tarball holding only the host's static /bin/busybox.
fn busybox_rootfs() -> Option<Vec<u8>> {
    let data = std::fs::read("/bin/busybox").ok()?;
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_size(0);
    b.append_data(&mut h, "bin/", std::io::empty()).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o755);
    h.set_size(data.len() as u64);
    b.append_data(&mut h, "bin/busybox", &data[..]).unwrap();
    Some(b.into_inner().unwrap())
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// Imports a busybox image with a unique tag; removed on drop.
struct TestImage<'a> {
    engine: &'a Engine,
    name: String,
}

impl<'a> TestImage<'a> {
    fn new(engine: &'a Engine) -> Option<Self> {
        let Some(tar) = busybox_rootfs() else {
            eprintln!("skipping: /bin/busybox not readable");
            return None;
        };
        let tag = format!(
            "{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        );
        let id = engine
            .import_image(&tar, "confine-engine-test/busybox", &tag)
            .unwrap();
        assert!(id.starts_with("sha256:"), "{id}");
        Some(TestImage {
            engine,
            name: format!("confine-engine-test/busybox:{tag}"),
        })
    }
}

impl Drop for TestImage<'_> {
    fn drop(&mut self) {
        let _ = self.engine.remove_image(&self.name, true);
    }
}

#[test]
fn ping_version_info() {
    let Some(engine) = engine_or_skip("ping_version_info") else {
        return;
    };
    engine.ping().unwrap();
    let v = engine.version().unwrap();
    assert!(v.get("ApiVersion").and_then(Value::as_str).is_some(), "{v}");
    let info = engine.info().unwrap();
    assert!(info.get("DefaultRuntime").and_then(Value::as_str).is_some());
}

#[test]
fn export_streams_a_docker_save_tar() {
    let Some(engine) = engine_or_skip("export_streams_a_docker_save_tar") else {
        return;
    };
    let Some(img) = TestImage::new(&engine) else {
        return;
    };
    let inspect = engine.inspect_image(&img.name).unwrap();
    assert_eq!(inspect["RepoTags"][0].as_str(), Some(img.name.as_str()));

    let stream = engine.export_image(&img.name).unwrap();
    let mut archive = tar::Archive::new(stream);
    let mut names = Vec::new();
    let mut manifest = None;
    let mut biggest = 0u64;
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        biggest = biggest.max(entry.size());
        if name == "manifest.json" {
            let mut s = String::new();
            entry.read_to_string(&mut s).unwrap();
            manifest = Some(s);
        }
        names.push(name);
    }
    let manifest: Value =
        serde_json::from_str(&manifest.expect("manifest.json in the export")).unwrap();
    assert_eq!(manifest[0]["RepoTags"][0].as_str(), Some(img.name.as_str()));
    assert!(names.iter().any(|n| n.ends_with("/layer.tar")), "{names:?}");
    // the layer holds busybox (about 2 MB): the stream was read through many chunks
    let busybox_len = std::fs::metadata("/bin/busybox").unwrap().len();
    assert!(biggest > busybox_len, "{biggest} <= {busybox_len}");
}

#[test]
fn missing_image_errors() {
    let Some(engine) = engine_or_skip("missing_image_errors") else {
        return;
    };
    let name = "confine-engine-test/no-such-image:never";
    let e = engine.export_image(name).map(|_| ()).unwrap_err();
    assert!(e.is_not_found(), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("GET /images/") && msg.contains("404"), "{msg}");
    assert!(msg.contains("reference does not exist"), "{msg}");
    let e = engine.inspect_image(name).unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert!(
        e.to_string().to_lowercase().contains("no such image"),
        "{e}"
    );
    let e = engine
        .inspect_container("confine-no-such-container")
        .unwrap_err();
    assert!(e.is_not_found(), "{e}");
}

/// Removes a test container even when an assertion fails first.
struct Cleanup<'a>(&'a Engine, String);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = self.0.remove(&self.1, true);
    }
}

#[test]
fn container_lifecycle() {
    let Some(engine) = engine_or_skip("container_lifecycle") else {
        return;
    };
    let Some(img) = TestImage::new(&engine) else {
        return;
    };
    let body = serde_json::json!({
        "Image": img.name,
        "Cmd": ["/bin/busybox", "sh", "-c", "echo hi; echo oops >&2; exit 7"],
        "HostConfig": {"NetworkMode": "none"},
    });
    let id = engine.create_container(None, &body).unwrap();
    let _cleanup = Cleanup(&engine, id.clone());
    engine.start(&id).unwrap();
    let code = engine.wait(&id, Duration::from_secs(60)).unwrap();
    assert_eq!(code, 7);
    let (out, err) = engine.logs(&id).unwrap();
    assert_eq!(String::from_utf8_lossy(&out), "hi\n");
    assert_eq!(String::from_utf8_lossy(&err), "oops\n");
    let logs = engine.logs_limited(&id, 2).unwrap();
    // stream order between stdout and stderr is the engine's: only the bound is fixed
    assert_eq!(
        (logs.stdout.len() + logs.stderr.len(), logs.truncated),
        (2, true)
    );
    let state = engine.inspect_container(&id).unwrap();
    assert_eq!(state["State"]["ExitCode"].as_i64(), Some(7));
    engine.remove(&id, false).unwrap();
    assert!(engine.inspect_container(&id).unwrap_err().is_not_found());
}

#[test]
fn exec_kill_and_timeout() {
    let Some(engine) = engine_or_skip("exec_kill_and_timeout") else {
        return;
    };
    let Some(img) = TestImage::new(&engine) else {
        return;
    };
    let name = format!("confine-engine-test-{}", std::process::id());
    let body = serde_json::json!({
        "Image": img.name,
        "Cmd": ["/bin/busybox", "sleep", "60"],
    });
    let id = engine.create_container(Some(&name), &body).unwrap();
    let _cleanup = Cleanup(&engine, id.clone());
    engine.start(&id).unwrap();
    let c = engine.inspect_container(&name).unwrap();
    assert_eq!(c["State"]["Running"].as_bool(), Some(true));
    assert!(c["NetworkSettings"]["IPAddress"].as_str().is_some());
    let out = engine
        .exec(
            &id,
            &["/bin/busybox", "sh", "-c", "echo out; echo err >&2; exit 3"],
        )
        .unwrap();
    assert_eq!(out.exit_code, 3);
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr, b"err\n");
    let e = engine.wait(&id, Duration::from_millis(300)).unwrap_err();
    assert!(matches!(e, EngineError::Timeout { .. }), "{e}");
    engine.kill(&id, None).unwrap();
    let code = engine.wait(&id, Duration::from_secs(60)).unwrap();
    assert_eq!(code, 137);
    engine.remove(&id, true).unwrap();
}

/// A fake engine on a socket in `dir`: answers each connection with `reply`
/// (then closes it), for as many connections as `replies` holds.
fn fake_engine(dir: &Path, replies: Vec<Vec<u8>>) -> Engine {
    use std::io::Write;
    let sock = dir.join("fake.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    std::thread::spawn(move || {
        for reply in replies {
            let Ok((mut s, _)) = listener.accept() else {
                return;
            };
            // Read the request (head and body) before answering.
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut len = 0u64;
            while let Ok(Some(line)) = http::read_line_bounded(&mut r, 16 * 1024) {
                if line.is_empty() {
                    break;
                }
                let line = String::from_utf8_lossy(&line).to_ascii_lowercase();
                if let Some(v) = line.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let _ = std::io::copy(&mut (&mut r).take(len), &mut std::io::sink());
            let _ = s.write_all(&reply);
        }
    });
    Engine::with_socket(sock).with_timeout(Duration::from_secs(10))
}

#[test]
fn engine_dying_mid_stream_is_an_unavailable_engine_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut reply = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n".to_vec();
    reply.extend_from_slice(&[0u8; 1000]);
    let engine = fake_engine(dir.path(), vec![reply]);
    let mut stream = engine.export_image("img:1").unwrap();
    let mut sink = Vec::new();
    let e = stream.read_to_end(&mut sink).unwrap_err();
    assert_eq!(sink.len(), 1000);
    let inner = EngineError::from_io(&e).expect("an engine error inside");
    assert!(inner.is_unavailable());
    assert!(matches!(inner, EngineError::Io { .. }), "{inner:?}");
    assert_eq!(
        e.to_string(),
        "GET /images/img:1/get: connection closed after 1000 of 100000 body bytes"
    );
}

#[test]
fn garbage_and_cut_replies_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let engine = fake_engine(
        dir.path(),
        vec![
            b"SSH-2.0-OpenSSH\r\n".to_vec(),
            b"HTTP/1.1 200 OK\r\nContent-Len".to_vec(),
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}".to_vec(),
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 27\r\n\r\n{\"message\":\"no such image\"}"
                .to_vec(),
        ],
    );
    let e = engine.ping().unwrap_err();
    assert!(e.is_unavailable());
    assert!(
        e.to_string()
            .contains("GET /_ping: malformed reply: bad status line"),
        "{e}"
    );
    let e = engine.version().unwrap_err();
    assert!(e.is_unavailable());
    assert!(
        e.to_string()
            .contains("connection closed in the middle of a line"),
        "{e}"
    );
    let e = engine
        .create_container(None, &serde_json::json!({}))
        .unwrap_err();
    assert!(e.is_unavailable());
    assert!(e.to_string().contains("no Id in the reply"), "{e}");
    let e = engine.inspect_image("x").unwrap_err();
    assert!(!e.is_unavailable() && e.is_not_found(), "{e}");
}
