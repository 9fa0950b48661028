//! Kernel audit over netlink: register as the audit daemon, collect seccomp
//! (type 1326, AUDIT_SECCOMP) records, read the lost counter, restore the previous state.
//!
//! With audit off the kernel emits no seccomp records, and with audit on but
//! no daemon it prints them through a rate-limited printk that drops most of
//! them. A registered daemon gets every record over its netlink socket; the
//! kernel counts what it could not deliver in `lost`.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::socket::{
    bind, recv, sendto, setsockopt, socket, sockopt, AddressFamily, MsgFlags, NetlinkAddr,
    SockFlag, SockProtocol, SockType,
};
use nix::sys::time::TimeVal;

use crate::RunnerError;

const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const AUDIT_GET: u16 = 1000;
const AUDIT_SET: u16 = 1001;
/// Record type of a seccomp action that is logged.
pub const AUDIT_SECCOMP: u16 = 1326;
const AUDIT_STATUS_ENABLED: u32 = 0x1;
const AUDIT_STATUS_PID: u32 = 0x4;
const AUDIT_STATUS_BACKLOG_LIMIT: u32 = 0x10;

/// `SECCOMP_RET_LOG`, the `code=` of records from a log action.
pub const SECCOMP_RET_LOG: u32 = 0x7ffc_0000;

/// Largest datagram we read (the kernel caps one record at about 8970 bytes).
const MAX_DATAGRAM: usize = 16 * 1024;
/// Records kept in full by one listener; after that only records of a new
/// (executable, arch, syscall) are kept and repeats are counted.
pub const MAX_RECORDS: usize = 100_000;
/// Bound on distinct (executable, arch, syscall) keys remembered; records of
/// new keys beyond it are counted as lost.
pub const MAX_DISTINCT: usize = 100_000;
/// Kernel backlog while we listen (the default of 64 loses records in bursts).
const LISTEN_BACKLOG_LIMIT: u32 = 65_536;

/// Only one audit daemon per kernel, so one listener per process at a time.
static AUDIT_LOCK: Mutex<()> = Mutex::new(());

/// The kernel's audit status (`struct audit_status`, the fields we use).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct AuditStatus {
    pub enabled: u32,
    pub failure: u32,
    pub pid: u32,
    pub rate_limit: u32,
    pub backlog_limit: u32,
    pub lost: u32,
    pub backlog: u32,
}

impl AuditStatus {
    fn parse(payload: &[u8]) -> Option<AuditStatus> {
        let word = |i: usize| -> Option<u32> {
            let b = payload.get(i * 4..i * 4 + 4)?;
            Some(u32::from_ne_bytes(b.try_into().ok()?))
        };
        Some(AuditStatus {
            enabled: word(1)?,
            failure: word(2)?,
            pid: word(3)?,
            rate_limit: word(4)?,
            backlog_limit: word(5)?,
            lost: word(6)?,
            backlog: word(7)?,
        })
    }
}

/// One AUDIT_SECCOMP record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SeccompRecord {
    /// Audit serial number (orders records).
    pub serial: u64,
    /// Seconds.milliseconds since the epoch, as the kernel wrote it.
    pub time: String,
    /// Thread-group id on the host.
    pub pid: u32,
    pub comm: String,
    pub exe: String,
    /// AUDIT_ARCH_* value (0xc000003e for x86-64).
    pub arch: u32,
    pub syscall: u32,
    /// Seccomp action (`SECCOMP_RET_*`).
    pub code: u32,
    /// Instruction pointer of the syscall.
    pub ip: u64,
    /// Pid namespace inode of `pid`, read when the record arrived (None if gone).
    pub pidns: Option<u64>,
}

/// Parse the text of an AUDIT_SECCOMP record:
/// `audit(1700000000.123:42): auid=.. uid=0 .. pid=7 comm="sh" exe="/bin/sh" sig=0 arch=c000003e syscall=39 compat=0 ip=0x.. code=0x7ffc0000`.
pub fn parse_seccomp_record(text: &str) -> Option<SeccompRecord> {
    let rest = text.trim_end_matches('\0').trim().strip_prefix("audit(")?;
    let (stamp, fields) = rest.split_once("):")?;
    let (time, serial) = stamp.split_once(':')?;
    let mut rec = SeccompRecord {
        serial: serial.parse().ok()?,
        time: time.to_string(),
        pid: 0,
        comm: String::new(),
        exe: String::new(),
        arch: 0,
        syscall: u32::MAX,
        code: 0,
        ip: 0,
        pidns: None,
    };
    let mut have_pid = false;
    for tok in fields.split_ascii_whitespace() {
        let Some((k, v)) = tok.split_once('=') else {
            continue;
        };
        match k {
            "pid" => {
                rec.pid = v.parse().ok()?;
                have_pid = true;
            }
            "comm" => rec.comm = audit_string(v),
            "exe" => rec.exe = audit_string(v),
            "arch" => rec.arch = u32::from_str_radix(v, 16).ok()?,
            "syscall" => rec.syscall = v.parse().ok()?,
            "code" => rec.code = u32::from_str_radix(v.trim_start_matches("0x"), 16).ok()?,
            "ip" => rec.ip = u64::from_str_radix(v.trim_start_matches("0x"), 16).unwrap_or(0),
            _ => {}
        }
    }
    if !have_pid || rec.syscall == u32::MAX {
        return None;
    }
    Some(rec)
}

/// An audit string field: `"quoted"` or, when it holds special characters,
/// hex-encoded bytes without quotes.
fn audit_string(v: &str) -> String {
    if let Some(q) = v.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        return q.to_string();
    }
    if !v.is_empty() {
        let bytes: Option<Vec<u8>> = v
            .as_bytes()
            .chunks(2)
            .map(|pair| match pair {
                [hi, lo] => Some(hex_val(*hi)? << 4 | hex_val(*lo)?),
                _ => None,
            })
            .collect();
        if let Some(b) = bytes {
            return String::from_utf8_lossy(&b).into_owned();
        }
    }
    v.to_string()
}

fn hex_val(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// The pid namespace inode of a host pid, from `/proc/<pid>/ns/pid`.
pub fn pid_namespace(pid: u32) -> Option<u64> {
    let link = std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok()?;
    let s = link.to_str()?;
    s.strip_prefix("pid:[")?.strip_suffix(']')?.parse().ok()
}

fn audit_err(op: &'static str, errno: Errno) -> RunnerError {
    RunnerError::Audit {
        op,
        detail: errno.desc().to_lowercase(),
        errno: errno as i32,
    }
}

fn open_socket() -> Result<OwnedFd, RunnerError> {
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkAudit,
    )
    .map_err(|e| audit_err("open the audit netlink socket", e))?;
    bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0))
        .map_err(|e| audit_err("bind the audit netlink socket", e))?;
    setsockopt(&fd, sockopt::ReceiveTimeout, &TimeVal::new(0, 100_000))
        .map_err(|e| audit_err("set the audit socket timeout", e))?;
    Ok(fd)
}

fn send(fd: &OwnedFd, ty: u16, flags: u16, seq: u32, payload: &[u8]) -> Result<(), Errno> {
    let len = NLMSG_HDRLEN + payload.len();
    let mut msg = Vec::with_capacity(len);
    msg.extend_from_slice(&(len as u32).to_ne_bytes());
    msg.extend_from_slice(&ty.to_ne_bytes());
    msg.extend_from_slice(&flags.to_ne_bytes());
    msg.extend_from_slice(&seq.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    msg.extend_from_slice(payload);
    sendto(
        fd.as_raw_fd(),
        &msg,
        &NetlinkAddr::new(0, 0),
        MsgFlags::empty(),
    )
    .map(drop)
}

/// One netlink message from a datagram: (type, seq, payload). Audit records
/// set `nlmsg_len` without the header (a kernel quirk), so for them the
/// payload is the rest of the datagram.
fn split_message(dgram: &[u8]) -> Option<(u16, u32, &[u8])> {
    let len = u32::from_ne_bytes(dgram.get(0..4)?.try_into().ok()?) as usize;
    let ty = u16::from_ne_bytes(dgram.get(4..6)?.try_into().ok()?);
    let seq = u32::from_ne_bytes(dgram.get(8..12)?.try_into().ok()?);
    let payload = if ty == NLMSG_ERROR || ty == AUDIT_GET {
        dgram.get(NLMSG_HDRLEN..len.max(NLMSG_HDRLEN).min(dgram.len()))?
    } else {
        dgram.get(NLMSG_HDRLEN..)?
    };
    Some((ty, seq, payload))
}

/// Wait for the reply to `seq`: for `want == NLMSG_ERROR` an ack (Ok(None)) or
/// an error; otherwise a message of type `want`. Other messages go to `sink`.
fn await_reply(
    fd: &OwnedFd,
    seq: u32,
    want: u16,
    op: &'static str,
    sink: &mut dyn FnMut(u16, &[u8]),
) -> Result<Option<Vec<u8>>, RunnerError> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = vec![0u8; MAX_DATAGRAM];
    while Instant::now() < deadline {
        let n = match recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()) {
            Ok(n) => n,
            Err(Errno::EAGAIN) | Err(Errno::EINTR) => continue,
            Err(e) => return Err(audit_err(op, e)),
        };
        let Some((ty, rseq, payload)) = buf.get(..n).and_then(split_message) else {
            continue;
        };
        if rseq == seq && ty == NLMSG_ERROR {
            let code = payload
                .get(0..4)
                .and_then(|b| b.try_into().ok())
                .map(i32::from_ne_bytes)
                .unwrap_or(0);
            if code != 0 {
                return Err(audit_err(op, Errno::from_raw(-code)));
            }
            if want == NLMSG_ERROR {
                return Ok(None);
            }
            continue;
        }
        if rseq == seq && ty == want {
            return Ok(Some(payload.to_vec()));
        }
        sink(ty, payload);
    }
    Err(RunnerError::Audit {
        op,
        detail: "no reply from the kernel within 5s".to_string(),
        errno: 0,
    })
}

static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);

fn next_seq() -> u32 {
    SEQ.fetch_add(1, Ordering::Relaxed)
}

/// Read the kernel's audit status (needs CAP_AUDIT_CONTROL).
pub fn audit_status() -> Result<AuditStatus, RunnerError> {
    let fd = open_socket()?;
    status_on(&fd, &mut |_, _| {})
}

fn status_on(fd: &OwnedFd, sink: &mut dyn FnMut(u16, &[u8])) -> Result<AuditStatus, RunnerError> {
    let seq = next_seq();
    send(fd, AUDIT_GET, NLM_F_REQUEST, seq, &[])
        .map_err(|e| audit_err("request the audit status", e))?;
    let payload =
        await_reply(fd, seq, AUDIT_GET, "read the audit status", sink)?.unwrap_or_default();
    AuditStatus::parse(&payload).ok_or(RunnerError::Audit {
        op: "read the audit status",
        detail: format!("short status reply ({} bytes)", payload.len()),
        errno: 0,
    })
}

fn set_on(
    fd: &OwnedFd,
    mask: u32,
    enabled: u32,
    pid: u32,
    backlog_limit: u32,
    op: &'static str,
    sink: &mut dyn FnMut(u16, &[u8]),
) -> Result<(), RunnerError> {
    let words = [mask, enabled, 0, pid, 0, backlog_limit, 0, 0, 0, 0];
    let payload: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
    let seq = next_seq();
    send(fd, AUDIT_SET, NLM_F_REQUEST | NLM_F_ACK, seq, &payload).map_err(|e| audit_err(op, e))?;
    await_reply(fd, seq, NLMSG_ERROR, op, sink).map(drop)
}

#[derive(Debug, Default)]
struct Collected {
    records: Vec<SeccompRecord>,
    seen: std::collections::HashSet<(String, u32, u32)>,
    repeats: u64,
    overflow: u64,
}

fn keep(collected: &Mutex<Collected>, ty: u16, payload: &[u8]) {
    if ty != AUDIT_SECCOMP {
        return;
    }
    let text = String::from_utf8_lossy(payload);
    let Some(mut rec) = parse_seccomp_record(&text) else {
        return;
    };
    rec.pidns = pid_namespace(rec.pid);
    let mut c = collected.lock().unwrap_or_else(|p| p.into_inner());
    let key = (rec.exe.clone(), rec.arch, rec.syscall);
    let new = if c.seen.contains(&key) {
        false
    } else if c.seen.len() < MAX_DISTINCT {
        c.seen.insert(key);
        true
    } else {
        c.overflow += 1;
        return;
    };
    if c.records.len() < MAX_RECORDS || new {
        c.records.push(rec);
    } else {
        c.repeats += 1;
    }
}

/// What a listener saw between `start` and `finish`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct AuditCapture {
    /// Seccomp records in arrival order.
    pub records: Vec<SeccompRecord>,
    /// Repeats of an already kept (executable, arch, syscall) not kept
    /// because of [`MAX_RECORDS`] (no information lost).
    pub repeats_dropped: u64,
    /// Records of new keys not kept because of [`MAX_DISTINCT`] (information lost).
    pub overflow_dropped: u64,
    /// Increase of the kernel's lost counter while we listened (0 means none lost).
    pub kernel_lost: u32,
    /// The audit status before we changed it (restored by `finish`/drop).
    pub previous: AuditStatus,
}

/// Registered audit daemon reading seccomp records on a background thread.
/// Restores the previous enabled flag, daemon pid and backlog limit when
/// finished or dropped.
pub struct AuditListener {
    previous: AuditStatus,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<OwnedFd>>,
    collected: Arc<Mutex<Collected>>,
    restored: bool,
    _lock: MutexGuard<'static, ()>,
}

impl std::fmt::Debug for AuditListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditListener")
            .field("previous", &self.previous)
            .finish_non_exhaustive()
    }
}

impl AuditListener {
    /// Enable audit and register this process as the audit daemon (needs root
    /// or CAP_AUDIT_CONTROL; fails if another daemon is registered).
    pub fn start() -> Result<AuditListener, RunnerError> {
        let lock = AUDIT_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let fd = open_socket()?;
        let _ = setsockopt(&fd, sockopt::RcvBufForce, &(32 << 20));
        let collected = Arc::new(Mutex::new(Collected::default()));
        let previous = status_on(&fd, &mut |_, _| {})?;
        // A registered daemon that no longer exists (e.g. a killed earlier
        // run) is replaced: the kernel tests the old connection on AUDIT_SET.
        if daemon_alive(previous.pid) {
            return Err(RunnerError::AuditBusy { pid: previous.pid });
        }
        if previous.enabled == 2 {
            return Err(RunnerError::Audit {
                op: "enable audit",
                detail: "audit configuration is locked (enabled=2)".to_string(),
                errno: 0,
            });
        }
        let c = Arc::clone(&collected);
        set_on(
            &fd,
            AUDIT_STATUS_ENABLED | AUDIT_STATUS_PID | AUDIT_STATUS_BACKLOG_LIMIT,
            1,
            std::process::id(),
            LISTEN_BACKLOG_LIMIT.max(previous.backlog_limit),
            "register as the audit daemon",
            &mut |ty, p| keep(&c, ty, p),
        )?;
        let stop = Arc::new(AtomicBool::new(false));
        let (s, c) = (Arc::clone(&stop), Arc::clone(&collected));
        let thread = std::thread::Builder::new()
            .name("confine-audit".to_string())
            .spawn(move || {
                let mut buf = vec![0u8; MAX_DATAGRAM];
                while !s.load(Ordering::Relaxed) {
                    match recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()) {
                        Ok(n) => {
                            if let Some((ty, _, payload)) = buf.get(..n).and_then(split_message) {
                                keep(&c, ty, payload);
                            }
                        }
                        Err(Errno::EAGAIN) | Err(Errno::EINTR) => {}
                        // ENOBUFS: our buffer overflowed; the kernel counts it as lost.
                        Err(Errno::ENOBUFS) => {}
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
                fd
            });
        let thread = match thread {
            Ok(t) => t,
            Err(e) => {
                let mut l = AuditListener {
                    previous,
                    stop,
                    thread: None,
                    collected,
                    restored: false,
                    _lock: lock,
                };
                let _ = l.restore();
                return Err(RunnerError::Io {
                    what: "spawn the audit reader thread".to_string(),
                    source: e,
                });
            }
        };
        Ok(AuditListener {
            previous,
            stop,
            thread: Some(thread),
            collected,
            restored: false,
            _lock: lock,
        })
    }

    /// [`AuditListener::start`], waiting up to `wait` while another process is
    /// the audit daemon (e.g. a concurrent `confine verify`): only one can listen.
    pub fn start_waiting(wait: Duration) -> Result<AuditListener, RunnerError> {
        let deadline = Instant::now() + wait;
        loop {
            match AuditListener::start() {
                Err(RunnerError::AuditBusy { pid }) if Instant::now() < deadline => {
                    let _ = pid;
                    crate::cancel::sleep(Duration::from_millis(250))?;
                }
                // Another process registered between our status read and our
                // AUDIT_SET: the kernel answers EEXIST. Same as busy.
                Err(RunnerError::Audit { errno, .. })
                    if errno.abs() == nix::libc::EEXIST && Instant::now() < deadline =>
                {
                    crate::cancel::sleep(Duration::from_millis(250))?;
                }
                other => return other,
            }
        }
    }

    /// Records seen so far (a copy).
    pub fn snapshot(&self) -> Vec<SeccompRecord> {
        self.collected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .records
            .clone()
    }

    /// Drain what is still queued, read the lost counter, restore the previous
    /// audit state and return everything seen.
    pub fn finish(mut self) -> Result<AuditCapture, RunnerError> {
        // Let the kernel flush its queue to us before we stop reading: until
        // its backlog is empty and nothing arrived for a while (at most 5 s).
        let start = Instant::now();
        let mut now;
        loop {
            let before = self.received();
            std::thread::sleep(Duration::from_millis(150));
            now = audit_status();
            let quiet = self.received() == before;
            let empty = now.as_ref().map(|s| s.backlog == 0).unwrap_or(true);
            if (quiet && empty) || start.elapsed() > Duration::from_secs(5) {
                break;
            }
        }
        self.stop_thread();
        let restore = self.restore();
        let now = now?;
        restore?;
        let mut c = self.collected.lock().unwrap_or_else(|p| p.into_inner());
        let mut records = std::mem::take(&mut c.records);
        records.sort_by_key(|r| r.serial);
        Ok(AuditCapture {
            records,
            repeats_dropped: c.repeats,
            overflow_dropped: c.overflow,
            kernel_lost: now.lost.wrapping_sub(self.previous.lost),
            previous: self.previous,
        })
    }

    /// Distinct (executable, arch, syscall) keys seen so far: grows when something
    /// new happens (cheap, for deciding that a run has gone quiet).
    pub fn distinct_seen(&self) -> usize {
        self.collected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .seen
            .len()
    }

    /// Records received so far (kept or counted).
    fn received(&self) -> u64 {
        let c = self.collected.lock().unwrap_or_else(|p| p.into_inner());
        c.records.len() as u64 + c.repeats + c.overflow
    }

    fn stop_thread(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    fn restore(&mut self) -> Result<(), RunnerError> {
        if self.restored {
            return Ok(());
        }
        self.restored = true;
        let fd = open_socket()?;
        set_on(
            &fd,
            AUDIT_STATUS_ENABLED | AUDIT_STATUS_PID | AUDIT_STATUS_BACKLOG_LIMIT,
            self.previous.enabled,
            0,
            self.previous.backlog_limit,
            "restore the audit state",
            &mut |_, _| {},
        )
    }
}

impl Drop for AuditListener {
    fn drop(&mut self) {
        self.stop_thread();
        let _ = self.restore();
    }
}

/// Another live process is the audit daemon (this process is not "another":
/// its listeners take turns on a lock).
fn daemon_alive(pid: u32) -> bool {
    pid != 0 && pid != std::process::id() && std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Root (or CAP_AUDIT_CONTROL) is needed to listen; a cheap probe for tests
/// and callers that want to say why they skip.
pub fn can_listen() -> Result<(), String> {
    match audit_status() {
        Ok(s) if daemon_alive(s.pid) => Err(format!(
            "another audit daemon (pid {}) is registered",
            s.pid
        )),
        Ok(_) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_records() {
        let t = r#"audit(1795929592.572:4): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=21282 comm="runc:[2:INIT]" exe="/" sig=0 arch=c000003e syscall=257 compat=0 ip=0x40828e code=0x7ffc0000"#;
        let r = parse_seccomp_record(t).unwrap();
        assert_eq!(r.serial, 4);
        assert_eq!(r.time, "1795929592.572");
        assert_eq!(r.pid, 21282);
        assert_eq!(r.comm, "runc:[2:INIT]");
        assert_eq!(r.exe, "/");
        assert_eq!(r.arch, 0xc000003e);
        assert_eq!(r.syscall, 257);
        assert_eq!(r.ip, 0x40828e);
        assert_eq!(r.code, SECCOMP_RET_LOG);
        // hex-encoded comm (contains a space), trailing NULs
        let t = "audit(1.2:9): pid=5 comm=6D7920636D64 exe=\"/x\" arch=c000003e syscall=1 code=0x7ffc0000\0\0";
        let r = parse_seccomp_record(t).unwrap();
        assert_eq!(r.comm, "my cmd");
        for bad in [
            "",
            "audit(1.2:x): pid=5 syscall=1",
            "audit(1.2:3): syscall=1",
            "audit(1.2:3): pid=5",
            "audit(1.2:3): pid=zz syscall=1",
            "type=SECCOMP msg=audit(1.2:3): pid=5 syscall=1",
        ] {
            assert!(parse_seccomp_record(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn splits_messages() {
        // an audit record: nlmsg_len excludes the header
        let text = b"audit(1.2:3): pid=1 syscall=2";
        let mut d = ((text.len()) as u32).to_ne_bytes().to_vec();
        d.extend_from_slice(&AUDIT_SECCOMP.to_ne_bytes());
        d.extend_from_slice(&[0, 0, 7, 0, 0, 0, 0, 0, 0, 0]);
        d.extend_from_slice(text);
        let (ty, seq, p) = split_message(&d).unwrap();
        assert_eq!((ty, seq, p), (AUDIT_SECCOMP, 7, &text[..]));
        // an ack with a normal length, padded datagram
        let mut d = 36u32.to_ne_bytes().to_vec();
        d.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        d.extend_from_slice(&[0; 10]);
        d.extend_from_slice(&[0; 24]);
        let (ty, _, p) = split_message(&d).unwrap();
        assert_eq!((ty, p.len()), (NLMSG_ERROR, 20));
        assert!(split_message(&[1, 2, 3]).is_none());
        assert!(AuditStatus::parse(&[0; 12]).is_none());
    }

    #[test]
    fn keeps_records_bounded() {
        let c = Mutex::new(Collected::default());
        let rec = |sys: u32| {
            format!("audit(1.0:1): pid={} comm=\"x\" exe=\"/x\" arch=c000003e syscall={sys} code=0x7ffc0000", u32::MAX)
        };
        let same = rec(1);
        for _ in 0..MAX_RECORDS + 4 {
            keep(&c, AUDIT_SECCOMP, same.as_bytes());
        }
        keep(&c, AUDIT_SECCOMP, rec(2).as_bytes());
        keep(&c, 1300, rec(3).as_bytes());
        keep(&c, AUDIT_SECCOMP, b"garbage");
        let c = c.into_inner().unwrap();
        assert_eq!(c.records.len(), MAX_RECORDS + 1);
        assert_eq!(c.records.last().unwrap().syscall, 2);
        assert_eq!((c.repeats, c.overflow), (4, 0));
    }

    #[test]
    fn own_pid_namespace() {
        assert!(pid_namespace(std::process::id()).is_some());
        assert!(pid_namespace(u32::MAX).is_none());
    }
}
