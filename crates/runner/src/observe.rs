//! Observed runs: the container runs with every syscall allowed and logged.
//! The kernel's audit records say which executables ran (every record carries
//! `exe=`, so no exec is missed, however short-lived), and a watcher reads
//! `/proc/<pid>/{exe,cmdline,maps}` of the processes in the container's pid
//! namespace (and nothing else) for argv and the shared objects each
//! executable maps. Paths read there are the container's own (the kernel
//! prints them relative to the container's root). The run ends when nothing
//! new has happened for a quiet period, bounded by a maximum duration.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use confine_engine::Engine;

use crate::audit::{pid_namespace, AuditListener};
use crate::calibrate::{record_syscall_name, split_at_exec};
use crate::run::{run_logged_inner, Hooks, RunSpec, VerifyOutcome};
use crate::RunnerError;

/// The profile of an observed run: nothing denied, everything logged.
pub const LOG_ALL_PROFILE: &str = r#"{"defaultAction":"SCMP_ACT_LOG","syscalls":[]}"#;

/// Interval between two reads of the container's processes.
pub const SCAN_INTERVAL: Duration = Duration::from_millis(50);
/// Bytes of one `/proc/<pid>/maps` read (larger maps are cut, and said so).
pub const MAX_MAPS_BYTES: u64 = 8 << 20;
/// Bytes of one `/proc/<pid>/cmdline` read.
pub const MAX_CMDLINE_BYTES: u64 = 64 << 10;
/// Distinct argv kept per executable.
pub const MAX_ARGV_PER_EXE: usize = 16;
/// Distinct executables and mapped objects kept per run.
pub const MAX_DISTINCT_PATHS: usize = 100_000;

/// How an observed run is bounded.
#[derive(Debug, Clone)]
pub struct ObserveOptions {
    /// Longest run (`--trace-time`).
    pub max_duration: Duration,
    /// The run ends once nothing new (exec, mapping, executable-syscall pair)
    /// happened for this long after the checks.
    pub quiet: Duration,
}

impl Default for ObserveOptions {
    fn default() -> Self {
        ObserveOptions {
            max_duration: Duration::from_secs(60),
            quiet: Duration::from_secs(3),
        }
    }
}

/// One executable seen in the container.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ObservedProgram {
    /// Path inside the container.
    pub exe: String,
    /// Distinct argv it ran with (up to [`MAX_ARGV_PER_EXE`]; empty when it
    /// exited before the watcher saw it: the audit records still name it).
    pub argv: Vec<Vec<String>>,
    /// Executable mappings of regular files (shared objects, the exe, ld.so), sorted.
    pub mapped: Vec<String>,
    /// Processes seen running it.
    pub processes: usize,
    /// Seen in the audit records (made at least one syscall after its exec).
    pub in_audit: bool,
}

/// What an observed run saw. A lower bound for one run, not the answer: a
/// program can take other paths under a filter (e.g. `clone3` -> `clone`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Observation {
    /// The run; its `denials` hold every record (runtime and program).
    pub outcome: VerifyOutcome,
    /// Syscalls of the runtime after the filter was installed, sorted.
    pub runtime_syscalls: Vec<String>,
    /// Syscalls of the container's programs, sorted.
    pub syscalls: Vec<String>,
    /// Program syscalls per executable (`exe` as seen inside the container).
    pub by_executable: BTreeMap<String, Vec<String>>,
    /// Executables that ran, in the order they were first seen.
    pub executables: Vec<String>,
    /// Every executable with its argv and mappings, sorted by path.
    pub programs: Vec<ObservedProgram>,
    /// The run ended because nothing new happened for the quiet period.
    pub ended_quiet: bool,
    /// Reads of the container's processes done, and processes seen.
    pub scans: u64,
    pub processes_seen: usize,
    /// Something was cut by a bound (maps size, argv or path counts).
    pub truncated: bool,
}

/// Run the container under [`LOG_ALL_PROFILE`] while registered as the audit
/// daemon (needs root), with `checks` exercising it as in a verification run,
/// for exactly `duration` (no early end). See [`observe_with`].
pub fn observe(
    engine: &Engine,
    image_ref: &str,
    spec: &RunSpec,
    checks: &[String],
    duration: Duration,
) -> Result<Observation, RunnerError> {
    let opts = ObserveOptions {
        max_duration: duration,
        quiet: duration,
    };
    observe_with(engine, image_ref, spec, checks, &opts)
}

/// Observed run: as [`observe`], also recording argv and the mappings of the
/// container's processes, and ending after `opts.quiet` without anything new
/// (at most `opts.max_duration`). Needs root (audit, and /proc of other users).
pub fn observe_with(
    engine: &Engine,
    image_ref: &str,
    spec: &RunSpec,
    checks: &[String],
    opts: &ObserveOptions,
) -> Result<Observation, RunnerError> {
    let shared = Arc::new(Shared::default());
    let ended_quiet = Arc::new(AtomicBool::new(false));
    let quiet = opts.quiet;
    let (sh, eq) = (Arc::clone(&shared), Arc::clone(&ended_quiet));
    let outcome = run_logged_inner(
        engine,
        image_ref,
        spec,
        LOG_ALL_PROFILE,
        checks,
        opts.max_duration,
        false,
        &mut |listener: &AuditListener| {
            Some(Box::new(Watch {
                listener,
                shared: Arc::clone(&sh),
                thread: None,
                quiet,
                last_distinct: 0,
                last_change: Instant::now(),
                ended_quiet: Arc::clone(&eq),
            }) as Box<dyn Hooks + '_>)
        },
    )?;
    let state = std::mem::take(&mut *shared.state.lock().unwrap_or_else(|p| p.into_inner()));
    Ok(summarize(
        outcome,
        state,
        ended_quiet.load(Ordering::Relaxed),
    ))
}

fn summarize(outcome: VerifyOutcome, state: ScanState, ended_quiet: bool) -> Observation {
    let (runtime, program, _) = split_at_exec(&outcome.denials, outcome.pid);
    let runtime_syscalls: BTreeSet<String> = runtime.into_iter().map(record_syscall_name).collect();
    let mut syscalls = BTreeSet::new();
    let mut by_exe: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut executables = Vec::new();
    for r in program {
        let name = record_syscall_name(r);
        if !by_exe.contains_key(&r.exe) {
            executables.push(r.exe.clone());
        }
        by_exe
            .entry(r.exe.clone())
            .or_default()
            .insert(name.clone());
        syscalls.insert(name);
    }
    let mut programs: BTreeMap<String, ObservedProgram> = BTreeMap::new();
    for (exe, acc) in state.programs {
        programs.insert(
            exe.clone(),
            ObservedProgram {
                exe: exe.clone(),
                argv: acc.argv,
                mapped: acc.mapped.into_iter().collect(),
                processes: acc.pids.len(),
                in_audit: by_exe.contains_key(&exe),
            },
        );
        if !executables.contains(&exe) {
            executables.push(exe);
        }
    }
    for exe in by_exe.keys() {
        if usable_exe(exe) {
            programs
                .entry(exe.clone())
                .or_insert_with(|| ObservedProgram {
                    exe: exe.clone(),
                    in_audit: true,
                    ..ObservedProgram::default()
                });
        }
    }
    executables.retain(|e| usable_exe(e));
    Observation {
        runtime_syscalls: runtime_syscalls.into_iter().collect(),
        syscalls: syscalls.into_iter().collect(),
        by_executable: by_exe
            .into_iter()
            .map(|(k, v)| (k, v.into_iter().collect()))
            .collect(),
        executables,
        programs: programs.into_values().collect(),
        ended_quiet,
        scans: state.scans,
        processes_seen: state.pids.len(),
        truncated: state.truncated,
        outcome,
    }
}

/// An executable path worth reporting: absolute, not the runtime's memfd
/// copy, not deleted.
fn usable_exe(exe: &str) -> bool {
    exe.starts_with('/')
        && !exe.starts_with("/memfd:")
        && !exe.ends_with(" (deleted)")
        && exe != "/"
}

#[derive(Debug, Default)]
struct ProgAcc {
    argv: Vec<Vec<String>>,
    mapped: BTreeSet<String>,
    pids: BTreeSet<u32>,
}

#[derive(Debug, Default)]
struct ScanState {
    programs: BTreeMap<String, ProgAcc>,
    pids: BTreeSet<u32>,
    scans: u64,
    /// When the watcher last saw something new.
    last_new: Option<Instant>,
    truncated: bool,
    paths: usize,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<ScanState>,
    stop: AtomicBool,
}

/// The hooks of an observed run: starts the watcher, decides quietness.
struct Watch<'l> {
    listener: &'l AuditListener,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    quiet: Duration,
    last_distinct: usize,
    last_change: Instant,
    ended_quiet: Arc<AtomicBool>,
}

impl Hooks for Watch<'_> {
    fn started(&mut self, _pid: Option<u32>, pid_namespace: Option<u64>) {
        self.last_change = Instant::now();
        let Some(ns) = pid_namespace else { return };
        let shared = Arc::clone(&self.shared);
        self.thread = std::thread::Builder::new()
            .name("confine-observe".to_string())
            .spawn(move || {
                while !shared.stop.load(Ordering::Relaxed) {
                    scan_once(ns, &shared);
                    std::thread::sleep(SCAN_INTERVAL);
                }
                // One last look: what ran until the stop.
                scan_once(ns, &shared);
            })
            .ok();
    }

    fn poll(&mut self) -> bool {
        let now = Instant::now();
        let d = self.listener.distinct_seen();
        if d != self.last_distinct {
            self.last_distinct = d;
            self.last_change = now;
        }
        let scanned = self
            .shared
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .last_new;
        let latest = scanned.map_or(self.last_change, |s| s.max(self.last_change));
        let quiet = now.saturating_duration_since(latest) >= self.quiet;
        if quiet {
            self.ended_quiet.store(true, Ordering::Relaxed);
        }
        quiet
    }

    fn stopping(&mut self) {
        self.stop_thread();
    }
}

impl Watch<'_> {
    fn stop_thread(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

fn read_bounded(path: &str, max: u64) -> Option<(Vec<u8>, bool)> {
    let f = std::fs::File::open(path).ok()?;
    let mut buf = Vec::new();
    f.take(max + 1).read_to_end(&mut buf).ok()?;
    let cut = buf.len() as u64 > max;
    buf.truncate(usize::try_from(max).unwrap_or(usize::MAX));
    Some((buf, cut))
}

/// Pids of processes in pid namespace `ns` (host pids).
fn pids_in_namespace(ns: u64) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let own = std::process::id();
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&p| p != own && pid_namespace(p) == Some(ns))
        .collect()
}

/// Executable mappings of regular files in a maps text: the path column of
/// lines whose permissions include `x`.
pub fn executable_mappings(maps: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in maps.lines() {
        let mut cols = line.splitn(6, ' ');
        let (Some(_range), Some(perms)) = (cols.next(), cols.next()) else {
            continue;
        };
        let Some(path) = cols.nth(3).map(str::trim_start) else {
            continue;
        };
        if perms.contains('x') && path.starts_with('/') && !path.ends_with(" (deleted)") {
            out.insert(path.to_string());
        }
    }
    out
}

/// One process as read: pid, exe, argv, executable mappings, maps cut.
type Seen = (u32, String, Vec<String>, BTreeSet<String>, bool);

/// Read every process of the container once; note what is new.
fn scan_once(ns: u64, shared: &Shared) {
    let mut found: Vec<Seen> = Vec::new();
    for pid in pids_in_namespace(ns) {
        // The runtime's init before its exec is not the container's program.
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.starts_with("runc:") {
            continue;
        }
        let Ok(exe) = std::fs::read_link(format!("/proc/{pid}/exe")) else {
            continue;
        };
        let exe = exe.to_string_lossy().into_owned();
        if !usable_exe(&exe) {
            continue;
        }
        let argv: Vec<String> = read_bounded(&format!("/proc/{pid}/cmdline"), MAX_CMDLINE_BYTES)
            .map(|(b, _)| {
                b.split(|&c| c == 0)
                    .filter(|w| !w.is_empty())
                    .map(|w| String::from_utf8_lossy(w).into_owned())
                    .collect()
            })
            .unwrap_or_default();
        let (maps, cut) = read_bounded(&format!("/proc/{pid}/maps"), MAX_MAPS_BYTES)
            .map(|(b, cut)| (executable_mappings(&String::from_utf8_lossy(&b)), cut))
            .unwrap_or_default();
        // The process may have exec'd between the reads: keep only if exe is stable.
        if std::fs::read_link(format!("/proc/{pid}/exe"))
            .map(|e| e.to_string_lossy() != exe.as_str())
            .unwrap_or(true)
        {
            continue;
        }
        found.push((pid, exe, argv, maps, cut));
    }
    let mut st = shared.state.lock().unwrap_or_else(|p| p.into_inner());
    st.scans += 1;
    let mut new = false;
    for (pid, exe, argv, maps, cut) in found {
        st.truncated |= cut;
        new |= st.pids.insert(pid);
        if !st.programs.contains_key(&exe) {
            if st.paths >= MAX_DISTINCT_PATHS {
                st.truncated = true;
                continue;
            }
            st.paths += 1;
        }
        let mut paths = st.paths;
        let mut truncated = false;
        let acc = st.programs.entry(exe).or_default();
        acc.pids.insert(pid);
        if !argv.is_empty() && !acc.argv.contains(&argv) {
            if acc.argv.len() < MAX_ARGV_PER_EXE {
                acc.argv.push(argv);
                new = true;
            } else {
                truncated = true;
            }
        }
        for m in maps {
            if acc.mapped.contains(&m) {
                continue;
            }
            if paths >= MAX_DISTINCT_PATHS {
                truncated = true;
                break;
            }
            acc.mapped.insert(m);
            paths += 1;
            new = true;
        }
        st.paths = paths;
        st.truncated |= truncated;
    }
    if new {
        st.last_new = Some(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_parsing() {
        let maps = "\
55d0c0a00000-55d0c0a02000 r--p 00000000 00:2f 1234                       /usr/sbin/nginx
55d0c0a02000-55d0c0b00000 r-xp 00002000 00:2f 1234                       /usr/sbin/nginx
7f0000000000-7f0000100000 r-xp 00000000 00:2f 99                         /usr/lib/x86_64-linux-gnu/libc.so.6
7f0000200000-7f0000300000 r--p 00000000 00:2f 98                         /usr/lib/locale/locale-archive
7f0000300000-7f0000301000 r-xp 00000000 00:00 0                          [vdso]
7f0000400000-7f0000401000 rw-p 00000000 00:00 0
7f0000500000-7f0000501000 r-xp 00000000 00:2f 97                         /usr/lib/x86_64-linux-gnu/libgone.so (deleted)
7f0000600000-7f0000601000 r-xp 00000000 00:2f 96                         /opt/my lib/libsp ace.so
garbage";
        let m: Vec<String> = executable_mappings(maps).into_iter().collect();
        assert_eq!(
            m,
            vec![
                "/opt/my lib/libsp ace.so",
                "/usr/lib/x86_64-linux-gnu/libc.so.6",
                "/usr/sbin/nginx"
            ]
        );
        assert!(usable_exe("/usr/bin/dash"));
        assert!(!usable_exe("/memfd:runc_cloned:/proc/self/exe (deleted)"));
        assert!(!usable_exe("/"));
    }

    #[test]
    fn watches_own_namespace_processes() {
        // Our own pid namespace holds a child we start: the watcher sees its
        // exe, argv and libc mapping (and never its own process).
        let Some(ns) = pid_namespace(std::process::id()) else {
            eprintln!("SKIP watches_own_namespace_processes: no /proc/self/ns/pid");
            return;
        };
        let mut child = std::process::Command::new("/usr/bin/sleep")
            .arg("5")
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let shared = Shared::default();
        scan_once(ns, &shared);
        let _ = child.kill();
        let _ = child.wait();
        let st = shared.state.lock().unwrap();
        let sleep = st.programs.get("/usr/bin/sleep").expect("sleep seen");
        assert!(sleep
            .argv
            .contains(&vec!["/usr/bin/sleep".to_string(), "5".to_string()]));
        assert!(
            sleep.mapped.iter().any(|m| m.ends_with("/libc.so.6")),
            "{:?}",
            sleep.mapped
        );
        assert!(st.last_new.is_some());
        assert!(!st.pids.contains(&std::process::id()));
    }
}
