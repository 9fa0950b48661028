//! Docker Engine API client over the unix socket: ping, streamed image export,
//! image import, and the container calls the runner needs (std only, HTTP/1.1 by hand).
//!
//! Every request opens a fresh connection with `Connection: close`; replies that
//! are not streamed are read with a size bound ([`Engine::max_body`]), and every
//! error names the endpoint that failed and carries the engine's own message.

mod http;

use std::io::{self, BufReader, Read};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

pub use http::{Body, ChunkedReader};

/// Socket used when `DOCKER_HOST` is unset.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";
/// API version prefix of every request (Docker Engine 20.10).
pub const API_VERSION: &str = "v1.41";
/// Default bound on replies that are read whole.
pub const DEFAULT_MAX_BODY: u64 = 64 * 1024 * 1024;
/// Default socket read/write timeout for one request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// Errors from the engine client. Each names the endpoint (`METHOD /path`).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("unsupported DOCKER_HOST {host:?}: only unix:// sockets are supported")]
    UnsupportedHost { host: String },
    #[error("cannot connect to the docker engine at {}: {source}", socket.display())]
    Connect { socket: PathBuf, source: io::Error },
    #[error("{endpoint}: {source}")]
    Io { endpoint: String, source: io::Error },
    #[error("{endpoint}: engine replied {status}: {message}")]
    Api {
        endpoint: String,
        status: u16,
        message: String,
    },
    #[error("{endpoint}: malformed reply: {detail}")]
    Protocol { endpoint: String, detail: String },
    #[error("{endpoint}: reply larger than {limit} bytes")]
    TooLarge { endpoint: String, limit: u64 },
    #[error("{endpoint}: no reply within {after:?}")]
    Timeout { endpoint: String, after: Duration },
}

impl EngineError {
    /// HTTP status of an error reply from the engine.
    pub fn status(&self) -> Option<u16> {
        match self {
            EngineError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The engine said the object (image, container, exec) does not exist.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// The engine could not be reached or stopped answering properly (no
    /// socket, a connection closed mid-reply, a malformed or oversized reply,
    /// a timeout), as opposed to an error reply from a working engine.
    pub fn is_unavailable(&self) -> bool {
        !matches!(self, EngineError::Api { .. })
    }

    /// The engine error behind an I/O error of a streamed reply
    /// ([`Engine::export_image`] reports its failures this way).
    pub fn from_io(e: &io::Error) -> Option<&EngineError> {
        e.get_ref()?.downcast_ref::<EngineError>()
    }
}

type Result<T, E = EngineError> = std::result::Result<T, E>;

/// Container output from [`Engine::logs_limited`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Logs {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The limit was reached: more output exists than was kept.
    pub truncated: bool,
}

/// Demultiplex a logs stream as it arrives, keeping at most `limit` bytes.
fn read_logs<R: Read>(mut r: R, limit: usize) -> io::Result<Logs> {
    let mut logs = Logs::default();
    let mut header = [0u8; 8];
    let mut raw = false;
    loop {
        let kept = logs.stdout.len() + logs.stderr.len();
        if kept >= limit {
            // Anything left means truncation; one more byte tells.
            let mut probe = [0u8; 1];
            logs.truncated = r.read(&mut probe)? > 0;
            return Ok(logs);
        }
        let room = limit - kept;
        if raw {
            let n = (&mut r).take(room as u64).read_to_end(&mut logs.stdout)?;
            if n == 0 {
                return Ok(logs);
            }
            continue;
        }
        // Frame header, or EOF.
        let mut got = 0;
        while got < 8 {
            let n = r.read(header.get_mut(got..).unwrap_or_default())?;
            if n == 0 {
                break;
            }
            got += n;
        }
        let head = header.get(..got).unwrap_or_default();
        if got == 0 {
            return Ok(logs);
        }
        let framed =
            got == 8 && matches!(header[0], 0..=2) && header.get(1..4) == Some(&[0, 0, 0][..]);
        if !framed {
            // Not a multiplexed stream (TTY): everything is stdout.
            raw = true;
            let take = head.len().min(room);
            logs.stdout
                .extend_from_slice(head.get(..take).unwrap_or_default());
            continue;
        }
        let len = u64::from(u32::from_be_bytes([
            header[4], header[5], header[6], header[7],
        ]));
        let sink = if header[0] == 2 {
            &mut logs.stderr
        } else {
            &mut logs.stdout
        };
        let want = len.min(room as u64);
        let n = (&mut r).take(want).read_to_end(sink)?;
        if (n as u64) < want {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "log stream ended inside a frame",
            ));
        }
        if want < len {
            logs.truncated = true;
            return Ok(logs);
        }
    }
}

/// Output of a command run with [`Engine::exec`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    pub exit_code: i64,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// A Docker engine reachable over a unix socket.
#[derive(Debug, Clone)]
pub struct Engine {
    socket: PathBuf,
    timeout: Duration,
    max_body: u64,
}

impl Engine {
    /// The engine named by `DOCKER_HOST` (`unix://` only) or [`DEFAULT_SOCKET`].
    pub fn from_env() -> Result<Engine> {
        let host = std::env::var("DOCKER_HOST").ok();
        Engine::from_docker_host(host.as_deref())
    }

    /// The engine for a `DOCKER_HOST` value (`None` or empty: the default socket).
    pub fn from_docker_host(host: Option<&str>) -> Result<Engine> {
        match host.map(str::trim) {
            None | Some("") => Ok(Engine::with_socket(DEFAULT_SOCKET)),
            Some(h) => match h.strip_prefix("unix://") {
                Some(path) if path.starts_with('/') => Ok(Engine::with_socket(path)),
                _ => Err(EngineError::UnsupportedHost {
                    host: h.to_string(),
                }),
            },
        }
    }

    /// The engine at this unix socket.
    pub fn with_socket(path: impl Into<PathBuf>) -> Engine {
        Engine {
            socket: path.into(),
            timeout: DEFAULT_TIMEOUT,
            max_body: DEFAULT_MAX_BODY,
        }
    }

    /// Socket read/write timeout for each request (default [`DEFAULT_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Engine {
        self.timeout = timeout;
        self
    }

    /// Bound on replies read whole (default [`DEFAULT_MAX_BODY`]).
    pub fn with_max_body(mut self, limit: u64) -> Engine {
        self.max_body = limit;
        self
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub fn max_body(&self) -> u64 {
        self.max_body
    }

    /// GET /_ping
    pub fn ping(&self) -> Result<()> {
        let (endpoint, body) = self.call("GET", "/_ping", None, &[], self.timeout)?;
        if body.trim_ascii() != b"OK" {
            return Err(EngineError::Protocol {
                endpoint,
                detail: format!(
                    "expected OK, got {:?}",
                    http::truncate(&String::from_utf8_lossy(&body), 100)
                ),
            });
        }
        Ok(())
    }

    /// GET /version (engine and component versions, e.g. runc).
    pub fn version(&self) -> Result<Value> {
        self.call_json("GET", "/version", None, &[])
    }

    /// GET /info (DefaultRuntime, Runtimes, SecurityOptions, ...).
    pub fn info(&self) -> Result<Value> {
        self.call_json("GET", "/info", None, &[])
    }

    /// GET /images/{name}/get streamed: a `docker save` tarball, read as it arrives.
    pub fn export_image(&self, name: &str) -> Result<Box<dyn Read + Send>> {
        let path = format!("/images/{}/get", http::encode(name, b"/:@"));
        let (endpoint, body) = self.open("GET", &path, None, &[], self.timeout)?;
        Ok(Box::new(ContextReader {
            endpoint,
            body,
            timeout: self.timeout,
        }))
    }

    /// GET /images/{name}/json
    pub fn inspect_image(&self, name: &str) -> Result<Value> {
        let path = format!("/images/{}/json", http::encode(name, b"/:@"));
        self.call_json("GET", &path, None, &[])
    }

    /// POST /images/create?fromSrc=- : import a root filesystem tarball as
    /// `repo:tag` (like `docker import`). Returns the new image id.
    pub fn import_image(&self, rootfs_tar: &[u8], repo: &str, tag: &str) -> Result<String> {
        let path = format!(
            "/images/create?fromSrc=-&repo={}&tag={}",
            http::encode(repo, b""),
            http::encode(tag, b"")
        );
        let (endpoint, body) = self.call(
            "POST",
            &path,
            Some("application/x-tar"),
            rootfs_tar,
            self.timeout,
        )?;
        // A stream of JSON progress messages; failures arrive as {"error": ...}.
        let mut id = None;
        for msg in serde_json::Deserializer::from_slice(&body).into_iter::<Value>() {
            let msg = msg.map_err(|e| EngineError::Protocol {
                endpoint: endpoint.clone(),
                detail: format!("bad progress message: {e}"),
            })?;
            if let Some(err) = msg.get("error").and_then(Value::as_str) {
                return Err(EngineError::Api {
                    endpoint,
                    status: 200,
                    message: err.to_string(),
                });
            }
            if let Some(s) = msg.get("status").and_then(Value::as_str) {
                if s.starts_with("sha256:") {
                    id = Some(s.to_string());
                }
            }
        }
        id.ok_or_else(|| EngineError::Protocol {
            endpoint,
            detail: "no image id in the reply".to_string(),
        })
    }

    /// DELETE /images/{name}
    pub fn remove_image(&self, name: &str, force: bool) -> Result<()> {
        let path = format!(
            "/images/{}?force={}",
            http::encode(name, b"/:@"),
            u8::from(force)
        );
        self.call("DELETE", &path, None, &[], self.timeout)?;
        Ok(())
    }

    /// POST /containers/create with a Docker API body (Image, Cmd, Entrypoint,
    /// Env, HostConfig{SecurityOpt, CapAdd, Binds, PortBindings, ...}). Returns the id.
    pub fn create_container(&self, name: Option<&str>, body: &Value) -> Result<String> {
        let path = match name {
            Some(n) => format!("/containers/create?name={}", http::encode(n, b"")),
            None => "/containers/create".to_string(),
        };
        let bytes = serde_json::to_vec(body).map_err(|e| EngineError::Protocol {
            endpoint: format!("POST {path}"),
            detail: format!("cannot encode the request body: {e}"),
        })?;
        let (endpoint, reply) = self.call(
            "POST",
            &path,
            Some("application/json"),
            &bytes,
            self.timeout,
        )?;
        let v = parse_json(&endpoint, &reply)?;
        v.get("Id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| EngineError::Protocol {
                endpoint,
                detail: "no Id in the reply".to_string(),
            })
    }

    /// POST /containers/{id}/start (already running is not an error).
    pub fn start(&self, id: &str) -> Result<()> {
        let path = format!("/containers/{}/start", http::encode(id, b""));
        self.call("POST", &path, None, &[], self.timeout)?;
        Ok(())
    }

    /// POST /containers/{id}/wait: block until the container is not running
    /// (at most `timeout`) and return its exit code.
    pub fn wait(&self, id: &str, timeout: Duration) -> Result<i64> {
        let path = format!(
            "/containers/{}/wait?condition=not-running",
            http::encode(id, b"")
        );
        let (endpoint, reply) = self.call("POST", &path, None, &[], timeout)?;
        let v = parse_json(&endpoint, &reply)?;
        if let Some(msg) = v
            .get("Error")
            .and_then(|e| e.get("Message"))
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
        {
            return Err(EngineError::Api {
                endpoint,
                status: 200,
                message: msg.to_string(),
            });
        }
        v.get("StatusCode")
            .and_then(Value::as_i64)
            .ok_or_else(|| EngineError::Protocol {
                endpoint,
                detail: "no StatusCode in the reply".to_string(),
            })
    }

    /// POST /containers/{id}/kill (signal name or number; default SIGKILL).
    pub fn kill(&self, id: &str, signal: Option<&str>) -> Result<()> {
        let mut path = format!("/containers/{}/kill", http::encode(id, b""));
        if let Some(s) = signal {
            path.push_str(&format!("?signal={}", http::encode(s, b"")));
        }
        self.call("POST", &path, None, &[], self.timeout)?;
        Ok(())
    }

    /// POST /containers/{id}/stop: SIGTERM, then SIGKILL after `grace`.
    pub fn stop(&self, id: &str, grace: Duration) -> Result<()> {
        let path = format!(
            "/containers/{}/stop?t={}",
            http::encode(id, b""),
            grace.as_secs()
        );
        self.call("POST", &path, None, &[], self.timeout + grace)?;
        Ok(())
    }

    /// DELETE /containers/{id} (with its anonymous volumes).
    pub fn remove(&self, id: &str, force: bool) -> Result<()> {
        let path = format!(
            "/containers/{}?v=1&force={}",
            http::encode(id, b""),
            u8::from(force)
        );
        self.call("DELETE", &path, None, &[], self.timeout)?;
        Ok(())
    }

    /// GET /containers/{id}/json
    pub fn inspect_container(&self, id: &str) -> Result<Value> {
        let path = format!("/containers/{}/json", http::encode(id, b""));
        self.call_json("GET", &path, None, &[])
    }

    /// GET /containers/{id}/logs: (stdout, stderr), demultiplexed. A container
    /// with a TTY has one raw stream, returned as stdout.
    pub fn logs(&self, id: &str) -> Result<(Vec<u8>, Vec<u8>)> {
        let path = format!(
            "/containers/{}/logs?stdout=1&stderr=1",
            http::encode(id, b"")
        );
        let (_, raw) = self.call("GET", &path, None, &[], self.timeout)?;
        Ok(demux(&raw).unwrap_or((raw, Vec::new())))
    }

    /// GET /containers/{id}/logs, streamed and demultiplexed, keeping at most
    /// `limit` bytes in total (a container can log gigabytes in seconds); the
    /// rest is not read. A TTY container's raw stream goes to stdout.
    pub fn logs_limited(&self, id: &str, limit: usize) -> Result<Logs> {
        let path = format!(
            "/containers/{}/logs?stdout=1&stderr=1",
            http::encode(id, b"")
        );
        let (endpoint, body) = self.open("GET", &path, None, &[], self.timeout)?;
        read_logs(body, limit).map_err(|e| io_error(endpoint, e, self.timeout))
    }

    /// Run `cmd` in a running container (exec create + start, attached) and
    /// return its exit code and output.
    pub fn exec(&self, id: &str, cmd: &[&str]) -> Result<ExecOutput> {
        let path = format!("/containers/{}/exec", http::encode(id, b""));
        let body = serde_json::json!({
            "AttachStdin": false, "AttachStdout": true, "AttachStderr": true,
            "Tty": false, "Cmd": cmd,
        });
        let (endpoint, reply) = self.call(
            "POST",
            &path,
            Some("application/json"),
            body.to_string().as_bytes(),
            self.timeout,
        )?;
        let exec_id = parse_json(&endpoint, &reply)?
            .get("Id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| EngineError::Protocol {
                endpoint,
                detail: "no Id in the reply".to_string(),
            })?;
        let exec_path = format!("/exec/{}", http::encode(&exec_id, b""));
        let start = br#"{"Detach":false,"Tty":false}"#;
        let (_, raw) = self.call(
            "POST",
            &format!("{exec_path}/start"),
            Some("application/json"),
            start,
            self.timeout,
        )?;
        let (stdout, stderr) = demux(&raw).unwrap_or((raw, Vec::new()));
        let endpoint = format!("GET {exec_path}/json");
        let v = self.call_json("GET", &format!("{exec_path}/json"), None, &[])?;
        let exit_code =
            v.get("ExitCode")
                .and_then(Value::as_i64)
                .ok_or_else(|| EngineError::Protocol {
                    endpoint,
                    detail: "no ExitCode in the reply".to_string(),
                })?;
        Ok(ExecOutput {
            exit_code,
            stdout,
            stderr,
        })
    }

    fn call_json(&self, method: &str, path: &str, ct: Option<&str>, body: &[u8]) -> Result<Value> {
        let (endpoint, reply) = self.call(method, path, ct, body, self.timeout)?;
        parse_json(&endpoint, &reply)
    }

    /// One request whose reply is read whole (bounded). Returns the endpoint
    /// label and the body.
    fn call(
        &self,
        method: &str,
        path: &str,
        ct: Option<&str>,
        body: &[u8],
        timeout: Duration,
    ) -> Result<(String, Vec<u8>)> {
        let (endpoint, reader) = self.open(method, path, ct, body, timeout)?;
        match http::read_bounded(reader, self.max_body) {
            Ok(Some(b)) => Ok((endpoint, b)),
            Ok(None) => Err(EngineError::TooLarge {
                endpoint,
                limit: self.max_body,
            }),
            Err(e) => Err(io_error(endpoint, e, timeout)),
        }
    }

    /// Send a request and read the response head; a non-2xx reply becomes an
    /// error carrying the engine's message. Returns the body as a stream.
    fn open(
        &self,
        method: &str,
        path: &str,
        ct: Option<&str>,
        body: &[u8],
        timeout: Duration,
    ) -> Result<(String, Body<BufReader<UnixStream>>)> {
        let endpoint = format!("{method} {}", path.split('?').next().unwrap_or(path));
        let stream = UnixStream::connect(&self.socket).map_err(|source| EngineError::Connect {
            socket: self.socket.clone(),
            source,
        })?;
        let t = Some(timeout.max(Duration::from_millis(1)));
        stream
            .set_read_timeout(t)
            .and_then(|()| stream.set_write_timeout(t))
            .map_err(|e| io_error(endpoint.clone(), e, timeout))?;
        let target = format!("/{API_VERSION}{path}");
        let mut writer = &stream;
        http::write_request(&mut writer, method, &target, ct, body)
            .map_err(|e| io_error(endpoint.clone(), e, timeout))?;
        let mut reader = BufReader::new(stream);
        let head =
            http::read_head(&mut reader).map_err(|e| io_error(endpoint.clone(), e, timeout))?;
        let framing = head
            .framing()
            .map_err(|e| io_error(endpoint.clone(), e, timeout))?;
        let body = Body::new(reader, framing);
        if !(200..300).contains(&head.status) && head.status != 304 {
            // Error replies are small; read a bounded prefix for the message.
            let raw = match http::read_bounded(body, 64 * 1024) {
                Ok(Some(b)) => b,
                _ => Vec::new(),
            };
            return Err(EngineError::Api {
                endpoint,
                status: head.status,
                message: error_message(&raw),
            });
        }
        Ok((endpoint, body))
    }
}

/// Stream whose I/O errors carry an [`EngineError`] naming the endpoint
/// (see [`EngineError::from_io`]).
struct ContextReader {
    endpoint: String,
    body: Body<BufReader<UnixStream>>,
    timeout: Duration,
}

impl Read for ContextReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.body.read(buf).map_err(|e| {
            let kind = e.kind();
            io::Error::new(kind, io_error(self.endpoint.clone(), e, self.timeout))
        })
    }
}

fn io_error(endpoint: String, e: io::Error, after: Duration) -> EngineError {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            EngineError::Timeout { endpoint, after }
        }
        io::ErrorKind::InvalidData => EngineError::Protocol {
            endpoint,
            detail: e.to_string(),
        },
        _ => EngineError::Io {
            endpoint,
            source: e,
        },
    }
}

fn parse_json(endpoint: &str, body: &[u8]) -> Result<Value> {
    serde_json::from_slice(body).map_err(|e| EngineError::Protocol {
        endpoint: endpoint.to_string(),
        detail: format!("bad json: {e}"),
    })
}

/// The engine's `{"message": ...}`, or the reply text.
fn error_message(raw: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(raw) {
        if let Some(m) = v.get("message").and_then(Value::as_str) {
            return m.to_string();
        }
    }
    let text = String::from_utf8_lossy(raw);
    let text = text.trim();
    if text.is_empty() {
        "(no message)".to_string()
    } else {
        http::truncate(text, 1000)
    }
}

/// Split a multiplexed attach/logs stream (8-byte headers: stream type, 3 zero
/// bytes, big-endian length) into (stdout, stderr). `None` if `raw` is not
/// such a stream (e.g. a TTY container's raw output).
pub fn demux(raw: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let mut rest = raw;
    while !rest.is_empty() {
        let header = rest.get(..8)?;
        let kind = *header.first()?;
        if header.get(1..4)? != [0, 0, 0] {
            return None;
        }
        let len = u32::from_be_bytes(header.get(4..8)?.try_into().ok()?) as usize;
        let payload = rest.get(8..8usize.checked_add(len)?)?;
        match kind {
            0 | 1 => out.extend_from_slice(payload),
            2 => err.extend_from_slice(payload),
            _ => return None,
        }
        rest = rest.get(8 + len..)?;
    }
    Some((out, err))
}

#[cfg(test)]
mod tests;
