//! Tests over real binaries of the build machine (Debian 12).

use crate::*;
use confine_elf::ElfInfo;

pub(crate) fn load(path: &str) -> Option<(Vec<u8>, ElfInfo)> {
    let data = std::fs::read(path).ok()?;
    let elf = confine_elf::parse(&data).ok()?;
    Some((data, elf))
}

const LIBC: &str = "/lib/x86_64-linux-gnu/libc.so.6";

fn sym_addr(elf: &ElfInfo, name: &str) -> u64 {
    elf.dynsyms
        .iter()
        .chain(elf.symtab.iter())
        .find(|s| s.defined && s.name == name)
        .map(|s| s.addr)
        .unwrap_or_else(|| panic!("no symbol {name}"))
}

#[test]
fn libc_golden_facts() {
    let Some((data, elf)) = load(LIBC) else {
        println!("skip: {LIBC} not readable");
        return;
    };
    let t = std::time::Instant::now();
    let s = analyze_object(&data, &elf, &Limits::default());
    println!("libc analysed in {:?}: {:?}", t.elapsed(), s.stats);
    // Functions are analysed in parallel: one thread gives the same summary.
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| analyze_object(&data, &elf, &Limits::default()));
    assert!(one == s, "the summary depends on the thread count");
    let nums = s.resolved_numbers();
    println!("distinct resolved numbers: {}", nums.len());
    assert!(s.stats.syscall_sites > 450, "{}", s.stats.syscall_sites);
    assert!(nums.len() > 250, "{}", nums.len());
    let unresolved: Vec<_> = s
        .functions
        .iter()
        .flat_map(|f| f.syscalls.iter().map(move |x| (f.addr, f.name.clone(), x)))
        .filter(|(_, _, x)| x.nr.unknown)
        .collect();
    println!("unresolved sites: {}", unresolved.len());
    for u in unresolved.iter().take(20) {
        println!("  {:#x} {:?} {:#x}", u.0, u.1, u.2.site);
    }
    // syscall(): a wrapper whose number is argument 0.
    let w = s.wrappers();
    let sc = sym_addr(&elf, "syscall");
    assert_eq!(w.get(&sc).copied(), Some(1), "syscall() wrapper mask");
    // _exit reaches exit_group (231) although eax is set in an earlier block.
    let ex = s
        .function_at(sym_addr(&elf, "_exit"))
        .expect("_exit analysed");
    let exn: Vec<u32> = ex
        .syscalls
        .iter()
        .flat_map(|x| x.nr.consts.clone())
        .collect();
    assert!(exn.contains(&231), "{exn:?}");
    // __clone3's child code past the FDE end reaches exit (60).
    // (libc.so.6 is stripped: __clone3 is the function making syscall 435)
    let c3 = s
        .functions
        .iter()
        .find(|f| f.syscalls.iter().any(|x| x.nr.consts == [435]))
        .expect("__clone3 found");
    let c3n = local_closure_numbers(&s, c3.addr);
    assert!(c3n.contains(&435) && c3n.contains(&60), "{c3n:?}");
    println!("diagnostics: {}", s.diagnostics.len());
    for d in s.diagnostics.iter().take(40) {
        println!("  {d:?}");
    }
}

/// Syscall constants reachable from `f` over local direct edges of one object.
fn local_closure_numbers(s: &ObjectSummary, f: u64) -> std::collections::BTreeSet<u32> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = std::collections::BTreeSet::new();
    let mut work = vec![f];
    while let Some(a) = work.pop() {
        if !seen.insert(a) {
            continue;
        }
        let Some(func) = s.function_at(a) else {
            continue;
        };
        for x in &func.syscalls {
            out.extend(x.nr.consts.iter().copied());
        }
        for c in &func.calls {
            if let Target::Local(t) = c.target {
                work.push(t);
            }
        }
    }
    out
}

/// A host program with its loader closure (DT_NEEDED resolved in the Debian
/// multiarch directories, breadth-first, the interpreter included).
pub(crate) struct HostProgram {
    pub paths: Vec<String>,
    pub datas: Vec<Vec<u8>>,
    pub elfs: Vec<ElfInfo>,
    pub interp: Option<usize>,
}

const LIB_DIRS: [&str; 4] = [
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib64",
    "/usr/lib",
];

pub(crate) fn host_closure(exe: &str) -> Option<HostProgram> {
    let mut p = HostProgram {
        paths: Vec::new(),
        datas: Vec::new(),
        elfs: Vec::new(),
        interp: None,
    };
    let mut seen = std::collections::HashSet::new();
    let mut queue = std::collections::VecDeque::new();
    queue.push_back(exe.to_string());
    let mut interp_path = None;
    while let Some(path) = queue.pop_front() {
        let canon = std::fs::canonicalize(&path).ok()?;
        if !seen.insert(canon.clone()) {
            continue;
        }
        let (data, elf) = load(canon.to_str()?)?;
        if p.paths.is_empty() {
            interp_path = elf.interp.clone();
        }
        let musl = interp_path.as_deref().is_some_and(|i| i.contains("musl"));
        let dirs: &[&str] = if musl {
            &["/usr/lib/x86_64-linux-musl", "/lib"]
        } else {
            &LIB_DIRS
        };
        for n in &elf.needed {
            if let Some(f) = dirs
                .iter()
                .map(|d| format!("{d}/{n}"))
                .find(|f| std::path::Path::new(f).exists())
            {
                queue.push_back(f);
            }
        }
        p.paths.push(canon.to_string_lossy().into_owned());
        p.datas.push(data);
        p.elfs.push(elf);
    }
    if let Some(ip) = interp_path {
        let canon = std::fs::canonicalize(&ip).ok()?;
        match seen.contains(&canon) {
            true => {
                let s = canon.to_string_lossy().into_owned();
                p.interp = p.paths.iter().position(|x| *x == s);
            }
            false => {
                let (data, elf) = load(canon.to_str()?)?;
                p.paths.push(canon.to_string_lossy().into_owned());
                p.datas.push(data);
                p.elfs.push(elf);
                p.interp = Some(p.paths.len() - 1);
            }
        }
    }
    Some(p)
}

/// Analyse a host program; `memo` shares object summaries between programs.
pub(crate) fn analyze_host(
    exe: &str,
    memo: &mut std::collections::HashMap<String, ObjectSummary>,
) -> Option<ProgramResult> {
    let hp = host_closure(exe)?;
    let todo: Vec<usize> = (0..hp.paths.len())
        .filter(|&i| !hp.paths.get(i).is_some_and(|p| memo.contains_key(p)))
        .collect();
    let inputs: Vec<(&[u8], &ElfInfo)> = todo
        .iter()
        .map(|&i| (hp.datas[i].as_slice(), &hp.elfs[i]))
        .collect();
    let fresh = analyze_objects(&inputs, &Limits::default(), None);
    for (i, s) in todo.iter().zip(fresh) {
        memo.insert(hp.paths[*i].clone(), s);
    }
    let objects: Vec<ObjectRef> = hp
        .paths
        .iter()
        .enumerate()
        .map(|(i, p)| ObjectRef {
            path: p,
            summary: &memo[p],
            interp: Some(i) == hp.interp,
        })
        .collect();
    let elfs: Vec<&ElfInfo> = hp.elfs.iter().collect();
    let input = ProgramInput {
        objects,
        bindings: bind_first_definition(&elfs),
    };
    Some(analyze_program(&input))
}

fn summarize(name: &str, r: &ProgramResult) {
    println!(
        "{name}: {} syscalls, wildcard={}, {} unresolved, {} reachable functions, indirect={}",
        r.syscalls.len(),
        r.wildcard,
        r.unresolved_sites.len(),
        r.reachable_functions,
        r.indirect_reachable
    );
    for u in r.unresolved_sites.iter().take(8) {
        println!(
            "   unresolved {} {} {:#x}: {}",
            u.object, u.function, u.site, u.reason
        );
    }
}

#[test]
fn servers_precision() {
    let mut memo = std::collections::HashMap::new();
    // Bounds at today's counts (nginx 114, below sysfilter's 115; redis
    // 109): a precision regression fails here.
    for (exe, sysfilter, bound) in [
        ("/usr/sbin/nginx", 115, 114),
        ("/usr/bin/redis-server", 104, 109),
    ] {
        let Some(r) = analyze_host(exe, &mut memo) else {
            println!("skip: {exe} not present");
            continue;
        };
        summarize(exe, &r);
        println!("   (sysfilter: {sysfilter}) {:?}", r.names());
        // Things every such server must be able to do.
        for must in [
            "read",
            "write",
            "openat",
            "mmap",
            "exit_group",
            "arch_prctl",
            "clone3",
            "rt_sigreturn",
            "socket",
            "accept4",
        ] {
            assert!(r.names().contains(&must), "{exe} misses {must}");
        }
        // Neither is a wildcard (redis: libcap's hooks are confined).
        assert!(!r.wildcard, "{exe} is a wildcard: {:?}", r.unresolved_sites);
        assert!(r.syscalls.len() <= bound, "{exe}: {}", r.syscalls.len());
        if exe.ends_with("redis-server") {
            // Only libsystemd's D-Bus container code (its tables no live
            // code refers to; redis calls sd_notify) enters another
            // namespace or root.
            for never in ["setns", "chroot"] {
                assert!(!r.names().contains(&never), "{exe}: {never}");
            }
            // libgcrypt's secure memory (mlock) is reached only through
            // its digest specs in `.data`, which no live code names.
            assert!(!r.names().contains(&"mlock"), "{exe}: mlock");
        } else {
            // getgroups came only from faccessat's fallback, which realpath
            // enters with F_OK (see `faccessat_mode_context`), getegid
            // also from sunrpc's thread cleanup, which nothing reached
            // enables (see `rpc_thread_destroy_is_gated`), and alarm from
            // glob's tilde expansion, which flags 0 rule out (see
            // `glob_flags_context`).
            for never in ["getgroups", "getegid", "alarm"] {
                assert!(!r.names().contains(&never), "{exe}: {never}");
            }
        }
        // ld.so's own start-up syscalls come from the interpreter's entry root.
        let w = &r.syscalls[&218];
        println!("   set_tid_address witness: {w:?}");
        assert!(
            w.chain
                .first()
                .is_some_and(|f| f.object.contains("ld-linux")),
            "{w:?}"
        );
    }
}

fn strace_available() -> Result<(), String> {
    let out = std::process::Command::new("strace")
        .args(["-f", "-qq", "-o", "/dev/null", "/bin/true"])
        .output()
        .map_err(|e| format!("strace not runnable: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "strace cannot trace here (ptrace not permitted?): {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Syscall names in an strace -f log, and the programs successfully exec'd.
fn parse_strace(log: &str) -> (std::collections::BTreeSet<String>, Vec<String>) {
    let mut names = std::collections::BTreeSet::new();
    let mut execs = Vec::new();
    let mut first_exec = true;
    let mut pending: std::collections::HashMap<String, String> = Default::default();
    for line in log.lines() {
        let pid: String = line.chars().take_while(|c| c.is_ascii_digit()).collect();
        let rest = line
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .trim_start();
        if rest.starts_with("<... execve resumed>") {
            if let Some(p) = pending.remove(&pid) {
                if line.trim_end().ends_with("= 0") {
                    execs.push(p);
                }
            }
            continue;
        }
        if rest.starts_with("<...") || rest.starts_with("+++") || rest.starts_with("---") {
            continue;
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() || !rest[name.len()..].starts_with('(') {
            continue;
        }
        if name == "execve" {
            let path = rest.split('"').nth(1).unwrap_or_default().to_string();
            if line.trim_end().ends_with("= 0") {
                execs.push(path);
            } else if line.trim_end().ends_with("<unfinished ...>") {
                pending.insert(pid, path);
            }
            if first_exec {
                // The launcher's exec (strace's child), not the program's.
                first_exec = false;
                continue;
            }
        }
        names.insert(name);
    }
    (names, execs)
}

#[test]
fn soundness_against_strace() {
    if let Err(why) = strace_available() {
        println!("skip: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("src/sub")).unwrap();
    std::fs::write(d.join("src/a.txt"), "hello confine\n".repeat(100)).unwrap();
    std::fs::write(d.join("src/sub/b.txt"), "more\n").unwrap();
    let file = d.join("src/a.txt").to_string_lossy().into_owned();
    let tgz = d.join("x.tgz").to_string_lossy().into_owned();
    let src = d.join("src").to_string_lossy().into_owned();
    let out = d.join("out").to_string_lossy().into_owned();
    std::fs::create_dir_all(&out).unwrap();
    let gz = d.join("g.txt").to_string_lossy().into_owned();
    std::fs::copy(&file, &gz).unwrap();
    let url = format!("file://{file}");
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("ls", vec!["/bin/ls", "-la", "/"]),
        ("cat", vec!["/bin/cat", &file]),
        ("tar-c", vec!["/bin/tar", "czf", &tgz, "-C", &src, "."]),
        ("tar-x", vec!["/bin/tar", "xzf", &tgz, "-C", &out]),
        ("gzip", vec!["/bin/gzip", "-f", &gz]),
        ("sha256sum", vec!["/usr/bin/sha256sum", &file]),
        ("sqlite3", vec!["/usr/bin/sqlite3", ":memory:", "select 1"]),
        (
            "python3",
            vec!["/usr/bin/python3", "-c", "import json;print(1)"],
        ),
        ("curl", vec!["/usr/bin/curl", "-s", "-o", "/dev/null", &url]),
        ("openssl", vec!["/usr/bin/openssl", "sha256", &file]),
        (
            "python3-threads",
            vec![
                "/usr/bin/python3",
                "-c",
                "import threading,ssl,sqlite3,socket;t=threading.Thread(target=print);t.start();t.join();socket.socketpair()",
            ],
        ),
        ("nginx-t", vec!["/usr/sbin/nginx", "-t", "-q"]),
        ("redis-version", vec!["/usr/bin/redis-server", "--version"]),
        ("busybox-ls", vec!["/bin/busybox", "ls", "-la", "/"]),
        (
            "busybox-sh",
            vec!["/bin/busybox", "sh", "-c", "echo hi; cat /etc/hostname"],
        ),
        ("busybox-wget", vec!["/bin/busybox", "sha256sum", &file]),
    ];
    let mut memo = std::collections::HashMap::new();
    let failures = trace_and_check(d, &cases, &mut memo);
    assert!(failures.is_empty(), "{failures:#?}");
}

/// A C program exercising threads, signals, sockets, directories, clocks,
/// stdio and a set-id call once threaded: built for musl (dynamic and static)
/// and glibc (static and dynamic).
const WORKLOAD_C: &str = r#"
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
#include <fcntl.h>
#include <signal.h>
#include <dirent.h>
#include <time.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
static void *worker(void *a) { char b[64]; int fd = open((char *)a, O_RDONLY); if (fd >= 0) { read(fd, b, sizeof b); close(fd); } return 0; }
static void on_sig(int s) { (void)s; }
int main(int argc, char **argv) {
  if (argc < 2) return 2;
  pthread_t t; pthread_create(&t, 0, worker, argv[1]); pthread_join(t, 0);
  /* Multi-threaded now: glibc broadcasts the set-id call (__nptl_setxid),
     musl runs it on every thread (__synccall, do_setxid). */
  if (setuid(getuid()) != 0) return 3;
  signal(SIGUSR1, on_sig); raise(SIGUSR1);
  int sv[2]; char c;
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0) { write(sv[0], "x", 1); read(sv[1], &c, 1); }
  int s = socket(AF_INET, SOCK_STREAM, 0); struct sockaddr_in a; memset(&a, 0, sizeof a);
  a.sin_family = AF_INET; a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(s, (void *)&a, sizeof a); listen(s, 1); close(s);
  DIR *d = opendir("/"); if (d) { while (readdir(d)); closedir(d); }
  struct timespec ts, z = {0, 1000}; clock_gettime(CLOCK_MONOTONIC, &ts); nanosleep(&z, 0);
  FILE *f = fopen(argv[1], "r"); char line[100]; if (f) { while (fgets(line, 100, f)); fclose(f); }
  printf("%ld\n", (long)ts.tv_nsec & 1); return 0;
}
"#;

/// A Rust program using std: threads, files, TCP on loopback, a child process.
const WORKLOAD_RS: &str = r#"
use std::io::{Read, Write};
fn main() {
    let path = std::env::args().nth(1).expect("path");
    let p2 = path.clone();
    let h = std::thread::spawn(move || std::fs::read(p2).map(|v| v.len()).unwrap_or(0));
    let n = h.join().unwrap_or(0);
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    let mut c = std::net::TcpStream::connect(addr).expect("connect");
    let (mut s, _) = l.accept().expect("accept");
    c.write_all(b"hi").expect("write");
    let mut b = [0u8; 2];
    s.read_exact(&mut b).expect("read");
    let entries = std::fs::read_dir("/").map(|d| d.count()).unwrap_or(0);
    let st = std::process::Command::new("/bin/true").status().map(|s| s.success());
    println!("{n} {entries} {st:?} {:?}", std::time::Instant::now().elapsed().as_nanos() > 0);
}
"#;

/// A Go program using files, TCP on loopback and goroutines.
const WORKLOAD_GO: &str = r#"
package main

import (
	"fmt"
	"net"
	"os"
)

func main() {
	b, _ := os.ReadFile(os.Args[1])
	done := make(chan int)
	go func() { done <- len(b) }()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err == nil {
		if c, err := net.Dial("tcp", l.Addr().String()); err == nil {
			c.Close()
		}
		l.Close()
	}
	fmt.Println(<-done)
}
"#;

/// Build `src` with `cmd` (compiler and flags) into `out`; None (with the
/// reason printed) when the compiler is missing or fails.
fn build(cmd: &[&str], src: &std::path::Path, out: &std::path::Path) -> Option<String> {
    let (cc, flags) = cmd.split_first()?;
    let cache = out.with_extension("gocache");
    let res = std::process::Command::new(cc)
        .env("GOCACHE", &cache)
        .env("HOME", out.parent().unwrap_or(out))
        .args(flags)
        .arg("-o")
        .arg(out)
        .arg(src)
        .output();
    match res {
        Ok(o) if o.status.success() => Some(out.to_string_lossy().into_owned()),
        Ok(o) => {
            println!(
                "skip {}: {cc} failed: {}",
                out.display(),
                String::from_utf8_lossy(&o.stderr)
            );
            None
        }
        Err(e) => {
            println!("skip {}: {cc} not runnable: {e}", out.display());
            None
        }
    }
}

/// Programs of every kind built here (musl dynamic and static, glibc static,
/// Rust std), each run under strace doing real work: no traced syscall may be
/// missing from the analysis, and musl and static programs must be fully
/// resolved (no wildcard).
#[test]
fn soundness_of_built_programs() {
    if let Err(why) = strace_available() {
        println!("skip: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let c = d.join("w.c");
    std::fs::write(&c, WORKLOAD_C).unwrap();
    let rs = d.join("w.rs");
    std::fs::write(&rs, WORKLOAD_RS).unwrap();
    let go = d.join("w.go");
    std::fs::write(&go, WORKLOAD_GO).unwrap();
    let input = d.join("in.txt");
    std::fs::write(&input, "line\n".repeat(50)).unwrap();
    let input = input.to_string_lossy().into_owned();
    let builds: Vec<(&str, Vec<&str>, &std::path::Path, bool)> = vec![
        (
            "musl-dynamic",
            vec!["musl-gcc", "-O2", "-pthread"],
            &c,
            true,
        ),
        (
            "musl-static",
            vec!["musl-gcc", "-O2", "-static", "-pthread"],
            &c,
            true,
        ),
        (
            "glibc-static",
            vec!["gcc", "-O2", "-static", "-pthread"],
            &c,
            true,
        ),
        ("glibc-dynamic", vec!["gcc", "-O2", "-pthread"], &c, true),
        (
            "rust-std",
            vec!["rustc", "-O", "--edition", "2021"],
            &rs,
            true,
        ),
        ("go", vec!["go", "build"], &go, true),
    ];
    let mut built: Vec<(String, String, bool)> = Vec::new();
    for (label, cmd, src, must_resolve) in &builds {
        if let Some(p) = build(cmd, src, &d.join(label)) {
            built.push((label.to_string(), p, *must_resolve));
        }
    }
    let cases: Vec<(&str, Vec<&str>)> = built
        .iter()
        .map(|(l, p, _)| (l.as_str(), vec![p.as_str(), input.as_str()]))
        .collect();
    let mut memo = std::collections::HashMap::new();
    let mut failures = trace_and_check(d, &cases, &mut memo);
    for (label, p, must_resolve) in &built {
        let Some(r) = analyze_host(p, &mut memo) else {
            failures.push(format!("{label}: cannot analyse"));
            continue;
        };
        summarize(label, &r);
        if *must_resolve && r.wildcard {
            failures.push(format!("{label}: wildcard: {:?}", r.unresolved_sites));
        }
        // Go: the register-ABI and stack-ABI wrappers (syscall.Syscall,
        // RawSyscall6, runtime/internal/syscall.Syscall6) resolve at their
        // call sites; FcntlSyscall is read as a package constant and the
        // runtime's per-thread replay is modelled, both reported as such.
        if label == "go" {
            let modelled = r
                .diagnostics
                .iter()
                .filter(|d| d.kind == crate::DiagKind::Modelled)
                .count();
            if modelled < 2 {
                failures.push(format!("go: {modelled} modelled diagnostics, want 2"));
            }
            if r.syscalls.len() < 60 {
                failures.push(format!("go: only {} syscalls found", r.syscalls.len()));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Run each case under `strace -f` in `d` and check that every traced syscall
/// is in the analysis of the programs it executed; returns the failures.
fn trace_and_check(
    d: &std::path::Path,
    cases: &[(&str, Vec<&str>)],
    memo: &mut std::collections::HashMap<String, ObjectSummary>,
) -> Vec<String> {
    let mut failures = Vec::new();
    for (label, argv) in cases {
        let label = *label;
        let Some(exe) = argv.first() else { continue };
        if !std::path::Path::new(exe).exists() {
            println!("skip {label}: {exe} not installed");
            continue;
        }
        let log = d.join(format!("{label}.strace"));
        let st = std::process::Command::new("strace")
            .args(["-f", "-qq", "-e", "trace=all", "-o"])
            .arg(&log)
            .args(argv)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let (traced, execs) = parse_strace(&text);
        let mut allowed: std::collections::BTreeSet<&str> = std::collections::BTreeSet::new();
        let mut wildcard = false;
        for e in &execs {
            // A re-exec of /proc/self/exe runs the program already listed.
            if e == "/proc/self/exe" {
                continue;
            }
            let Some(r) = analyze_host(e, memo) else {
                failures.push(format!("{label}: cannot analyse {e}"));
                continue;
            };
            wildcard |= r.wildcard;
            allowed.extend(r.names());
        }
        let missing: Vec<&String> = traced
            .iter()
            .filter(|n| !allowed.contains(n.as_str()))
            .collect();
        println!(
            "{label}: exit {:?}, execs {:?}, traced {} distinct, analysis {} (wildcard {wildcard}), missing {:?}",
            st.code(),
            execs,
            traced.len(),
            allowed.len(),
            missing
        );
        if !missing.is_empty() {
            failures.push(format!("{label}: missing {missing:?}"));
        }
    }
    failures
}

/// The whole-program result of one object alone (its entry a root).
fn lone_program(s: &ObjectSummary) -> ProgramResult {
    analyze_program(&ProgramInput {
        objects: vec![ObjectRef {
            path: "/synthetic",
            summary: s,
            interp: false,
        }],
        bindings: Vec::new(),
    })
}

/// The whole-program result of a synthetic object run from `entry`.
fn synth_program(code: &[u8], funcs: &[(u64, &str)], entry: u64) -> ProgramResult {
    let (data, elf) = synth(code, funcs, entry);
    lone_program(&analyze_object(&data, &elf, &Limits::default()))
}

/// A synthetic x86-64 object: `code` mapped at 0x1000, functions named at offsets.
fn synth(code: &[u8], funcs: &[(u64, &str)], entry: u64) -> (Vec<u8>, ElfInfo) {
    use confine_elf::{ElfKind, Machine, Section, Segment, SymBind, SymKind, Symbol};
    let len = code.len() as u64;
    let elf = ElfInfo {
        machine: Machine::X86_64,
        class64: true,
        little_endian: true,
        kind: ElfKind::Dyn,
        entry,
        file_size: len,
        segments: vec![Segment {
            vaddr: 0x1000,
            memsz: len,
            offset: 0,
            filesz: len,
            flags: 5,
            read: true,
            write: false,
            exec: true,
        }],
        sections: vec![Section {
            name: ".text".into(),
            kind: 1,
            addr: 0x1000,
            size: len,
            offset: 0,
            entsize: 0,
            link: 0,
            info: 0,
            flags: 6,
            alloc: true,
            write: false,
            exec: true,
        }],
        dynsyms: funcs
            .iter()
            .map(|&(a, n)| Symbol {
                name: n.into(),
                version: None,
                version_hidden: false,
                version_index: 1,
                addr: a,
                size: 0,
                kind: SymKind::Func,
                bind: SymBind::Global,
                defined: true,
            })
            .collect(),
        ..ElfInfo::default()
    };
    (code.to_vec(), elf)
}

const SYNTH: &[u8] = &[
    // 0x1000 f: eax from r8d set in an earlier block (the `_exit` trap)
    0x89, 0xfa, 0x41, 0xb8, 0xe7, 0x00, 0x00, 0x00, 0xeb, 0x00, 0x44, 0x89, 0xc0, 0x0f, 0x05,
    0xc3, //
    // 0x1010 g: wrapper, number = arg 0
    0x48, 0x89, 0xf8, 0x0f, 0x05, 0xc3, //
    // 0x1016 h: g(39)
    0xbf, 0x27, 0x00, 0x00, 0x00, 0xe8, 0xf0, 0xff, 0xff, 0xff, 0xc3, //
    // 0x1021 u: number loaded from memory
    0x8b, 0x47, 0x08, 0x0f, 0x05, 0xc3, //
    // 0x1027 i80: int 0x80
    0xcd, 0x80, 0xc3,
];
const SYNTH_FUNCS: [(u64, &str); 5] = [
    (0x1000, "f"),
    (0x1010, "g"),
    (0x1016, "h"),
    (0x1021, "u"),
    (0x1027, "i80"),
];

#[test]
fn synthetic_propagation_wrappers_and_diagnostics() {
    let (data, elf) = synth(SYNTH, &SYNTH_FUNCS, 0x1016);
    let s = analyze_object(&data, &elf, &Limits::default());
    let f = s.function_at(0x1000).unwrap();
    assert_eq!(f.syscalls[0].nr.consts, vec![231]);
    assert_eq!(s.wrappers().get(&0x1010), Some(&1));
    assert!(s.resolved_numbers().contains(&39));
    let u = s.function_at(0x1021).unwrap();
    assert!(u.syscalls[0].nr.unknown);
    assert!(s
        .diagnostics
        .iter()
        .any(|d| d.kind == DiagKind::Int80 && d.site == Some(0x1027)));

    // Whole program from h: getpid through the wrapper, nothing unresolved.
    let run = |entry: u64| synth_program(SYNTH, &SYNTH_FUNCS, entry);
    let r = run(0x1016);
    assert!(!r.wildcard);
    assert_eq!(
        r.syscalls.keys().copied().collect::<Vec<_>>(),
        vec![39, 96, 201, 228, 309]
    );
    let w = &r.syscalls[&39];
    assert_eq!(w.kind, WitnessKind::WrapperCall);
    assert_eq!(w.chain.first().map(|f| f.function.as_str()), Some("h"));
    assert_eq!(w.chain.last().map(|f| f.function.as_str()), Some("g"));
    // From u: an unresolved number makes the program a wildcard, loudly.
    let r = run(0x1021);
    assert!(r.wildcard);
    assert_eq!(r.unresolved_sites.len(), 1);
    assert_eq!(r.unresolved_sites[0].site, 0x1024);
    // From g directly (a root): the wrapper's argument is unknown.
    let r = run(0x1010);
    assert!(r.wildcard);
    // Loaded at run time: every export is a root (u's unknown number included).
    let (data, elf) = synth(SYNTH, &SYNTH_FUNCS, 0x1016);
    let s = analyze_object(&data, &elf, &Limits::default());
    assert_eq!(s.exports, vec![0x1000, 0x1010, 0x1016, 0x1021, 0x1027]);
    let input = ProgramInput {
        objects: vec![ObjectRef {
            path: "/synthetic",
            summary: &s,
            interp: false,
        }],
        bindings: Vec::new(),
    };
    let r = analyze_program_dynamic(&input, &[0]);
    assert!(r.wildcard && r.syscalls.contains_key(&231));
    assert!(!analyze_program(&input).syscalls.contains_key(&231));
}

#[test]
fn hostile_bytes_do_not_panic() {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut code = vec![0u8; 1 << 16];
    for b in code.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let funcs: Vec<(u64, String)> = (0..200u64)
        .map(|i| (0x1000 + i * 327, format!("f{i}")))
        .collect();
    let refs: Vec<(u64, &str)> = funcs.iter().map(|(a, n)| (*a, n.as_str())).collect();
    let (data, elf) = synth(&code, &refs, 0x1000);
    let limits = Limits {
        max_instructions: 20_000,
        ..Limits::default()
    };
    let s = analyze_object(&data, &elf, &limits);
    assert!(s.stats.instructions <= 20_000);
    println!("random bytes: {:?}", s.stats);
    if s.stats.instructions == 20_000 {
        assert!(s.stats.truncated);
    }
    // Truncated ELF facts: segments pointing past the data.
    let s2 = analyze_object(&data[..100], &elf, &Limits::default());
    assert!(s2.functions.is_empty());
    let r = analyze_program(&ProgramInput {
        objects: vec![ObjectRef {
            path: "/random",
            summary: &s,
            interp: false,
        }],
        bindings: Vec::new(),
    });
    println!(
        "random bytes: {} syscalls, wildcard {}",
        r.syscalls.len(),
        r.wildcard
    );
    assert_eq!(
        r.wildcard,
        s.stats.truncated || !r.unresolved_sites.is_empty()
    );
}

#[test]
fn cache_roundtrip_and_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let cache = SummaryCache::new(dir.path().join("c")).unwrap();
    let (data, elf) = synth(SYNTH, &SYNTH_FUNCS, 0x1016);
    let s = cache.get_or_compute(&data, &elf, &Limits::default());
    let d = digest(&data);
    let entries: Vec<_> = std::fs::read_dir(cache.dir()).unwrap().collect();
    assert_eq!(entries.len(), 1, "one entry, no temp files left");
    assert_eq!(cache.get(&d), Some(s.clone()));
    let path = entries[0].as_ref().unwrap().path();
    assert!(path.to_string_lossy().contains(ANALYSIS_VERSION));
    std::fs::write(&path, b"{not json").unwrap();
    assert_eq!(cache.get(&d), None);
    let again = cache.get_or_compute(&data, &elf, &Limits::default());
    assert_eq!(again, s);
    assert_eq!(cache.get(&d), Some(s));
    // Concurrent writers of the same key leave one valid entry.
    std::thread::scope(|sc| {
        for _ in 0..4 {
            sc.spawn(|| {
                let s = analyze_object(&data, &elf, &Limits::default());
                cache.put(&d, &s).unwrap();
            });
        }
    });
    assert!(cache.get(&d).is_some());
    assert_eq!(std::fs::read_dir(cache.dir()).unwrap().count(), 1);
}

/// A stripped static non-PIE binary: busybox's own functions have no symbols
/// and no FDEs; they are found through code immediates and data words.
#[test]
fn static_busybox() {
    let mut memo = std::collections::HashMap::new();
    let Some(r) = analyze_host("/bin/busybox", &mut memo) else {
        println!("skip: /bin/busybox not present");
        return;
    };
    summarize("busybox", &r);
    assert!(!r.wildcard, "{:?}", r.unresolved_sites);
    for must in [
        "getuid",
        "prctl",
        "execve",
        "vfork",
        "getppid",
        "exit_group",
    ] {
        assert!(r.names().contains(&must), "busybox misses {must}");
    }
}

/// A Go binary with cgo (runc): function names come from .gopclntab and the Go
/// side resolves, but libseccomp passes syscall numbers computed at run time
/// (it resolves names from the filter it is given) to `syscall()`, so the
/// result is an honest wildcard with those sites listed.
#[test]
fn go_binary_is_an_honest_wildcard() {
    let mut memo = std::collections::HashMap::new();
    let Some(r) = analyze_host("/usr/sbin/runc", &mut memo) else {
        println!("skip: /usr/sbin/runc not present");
        return;
    };
    summarize("runc", &r);
    assert!(r.wildcard);
    assert!(r
        .unresolved_sites
        .iter()
        .any(|u| u.object.contains("libseccomp")));
    for u in &r.unresolved_sites {
        assert!(
            !u.function.starts_with("runtime.") && !u.function.starts_with("internal/"),
            "Go runtime site left open: {u:?}"
        );
    }
    assert!(r.names().contains(&"clone") && r.names().contains(&"execve"));
}

#[test]
fn synthetic_jump_table() {
    #[rustfmt::skip]
    let code: &[u8] = &[
        0x83, 0xff, 0x02,                   // 0x1000 cmp edi, 2
        0x77, 0x28,                         // 0x1003 ja 0x102d
        0x48, 0x8d, 0x15, 0x24, 0, 0, 0,    // 0x1005 lea rdx, [rip+0x24] (0x1030)
        0x48, 0x63, 0x04, 0xba,             // 0x100c movsxd rax, [rdx+rdi*4]
        0x48, 0x01, 0xd0,                   // 0x1010 add rax, rdx
        0xff, 0xe0,                         // 0x1013 jmp rax
        0xb8, 0x27, 0, 0, 0, 0x0f, 0x05, 0xc3, // 0x1015 getpid
        0xb8, 0x66, 0, 0, 0, 0x0f, 0x05, 0xc3, // 0x101d getuid
        0xb8, 0x6e, 0, 0, 0, 0x0f, 0x05, 0xc3, // 0x1025 getppid
        0xc3, 0xcc, 0xcc,                   // 0x102d default
        0xe5, 0xff, 0xff, 0xff,             // 0x1030 table: -0x1b
        0xed, 0xff, 0xff, 0xff,             //              -0x13
        0xf5, 0xff, 0xff, 0xff,             //              -0x0b
    ];
    let (data, elf) = synth(code, &[(0x1000, "f")], 0x1000);
    let s = analyze_object(&data, &elf, &Limits::default());
    assert_eq!(s.stats.jump_tables, 1);
    let f = s.function_at(0x1000).unwrap();
    assert!(f.indirect_sites.is_empty());
    let nrs: Vec<u32> = f
        .syscalls
        .iter()
        .flat_map(|x| x.nr.consts.clone())
        .collect();
    assert_eq!(nrs, vec![39, 102, 110]);
}

/// C++ landing pads come from the LSDAs and lie inside their FDE's range.
#[test]
fn landing_pads_of_libstdcxx() {
    let path = "/usr/lib/x86_64-linux-gnu/libstdc++.so.6";
    let Some((data, elf)) = load(path) else {
        println!("skip: {path} not present");
        return;
    };
    let mut slots = Vec::new();
    let pads = crate::lsda::landing_pads(&data, &elf, &mut slots);
    let total: usize = pads.values().map(|v| v.len()).sum();
    println!("{} functions with landing pads, {total} pads", pads.len());
    assert!(total > 1000, "{total}");
    // The unwinder reads the personality routine through a DW.ref slot no
    // code names; data liveness must see it.
    slots.sort_unstable();
    slots.dedup();
    println!("unwind data slots: {slots:x?}");
    let personality = elf
        .dynsyms
        .iter()
        .find(|s| s.defined && s.name == "__gxx_personality_v0")
        .map(|s| s.addr);
    assert!(personality.is_some());
    assert!(
        slots
            .iter()
            .any(|&slot| elf.relocations.iter().any(|r| r.offset == slot
                && (r.addend as u64 == personality.unwrap_or(0)
                    || r.sym
                        .as_ref()
                        .is_some_and(|s| s.name == "__gxx_personality_v0")))),
        "no slot holds __gxx_personality_v0"
    );
    let ranges: std::collections::HashMap<u64, u64> = elf.fdes.iter().copied().collect();
    for (f, v) in &pads {
        let end = ranges[f];
        assert!(v.iter().all(|&lp| lp >= *f && lp < end), "{f:#x}: {v:x?}");
    }
    let t = std::time::Instant::now();
    let s = analyze_object(&data, &elf, &Limits::default());
    println!("libstdc++: {:?} in {:?}", s.stats, t.elapsed());
}

const SYNTH_INDIRECT: &[u8] = &[
    // 0x1000 main: rax = &w; w(39) through `call *%rax`: rax surely holds w,
    // so this is a direct call and w's address does not escape
    0x48, 0x8d, 0x05, 0x09, 0x00, 0x00, 0x00, 0xbf, 0x27, 0x00, 0x00, 0x00, 0xff, 0xd0, 0xc3,
    0x90, //
    // 0x1010 w: wrapper, number = arg 0
    0x48, 0x89, 0xf8, 0x0f, 0x05, 0xc3, //
    // 0x1016 e2: e5(); then an indirect call with rdi loaded from memory
    0xe8, 0x21, 0x00, 0x00, 0x00, 0x48, 0x8b, 0x3f, 0xff, 0xd0, 0xc3, //
    // 0x1021 setcontext (a stand-in: enters contexts without a call site)
    0xc3, //
    // 0x1022 e3: e5(); setcontext()
    0xe8, 0x15, 0x00, 0x00, 0x00, 0xe8, 0xf5, 0xff, 0xff, 0xff, 0xc3, //
    // 0x102d e4: e5(); w(13) by a tail jump (rt_sigaction: handlers can be installed)
    0xe8, 0x0a, 0x00, 0x00, 0x00, 0xbf, 0x0d, 0x00, 0x00, 0x00, 0xe9, 0xd4, 0xff, 0xff, 0xff,
    // 0x103c e5: rax = &w, pushed (the address escapes), popped; w(39)
    // through `call *%rax`, only ever called indirectly
    0x48, 0x8d, 0x05, 0xcd, 0xff, 0xff, 0xff, 0x50, 0x58, 0xbf, 0x27, 0x00, 0x00, 0x00, 0xff, 0xd0,
    0xc3,
];
const SYNTH_INDIRECT_FUNCS: [(u64, &str); 7] = [
    (0x1000, "main"),
    (0x1010, "w"),
    (0x1016, "e2"),
    (0x1021, "setcontext"),
    (0x1022, "e3"),
    (0x102d, "e4"),
    (0x103c, "e5"),
];

#[test]
fn synthetic_wrapper_through_indirect_calls() {
    let (data, elf) = synth(SYNTH_INDIRECT, &SYNTH_INDIRECT_FUNCS, 0x1000);
    let s = analyze_object(&data, &elf, &Limits::default());
    let main = s.function_at(0x1000).unwrap();
    assert!(main.indirect_sites.is_empty());
    assert!(main.addr_refs.is_empty());
    let c = main.calls.iter().find(|c| c.site == 0x100c).unwrap();
    assert_eq!(c.target, Target::Local(0x1010));
    assert_eq!(c.args[0].consts, vec![39]);
    let e5 = s.function_at(0x103c).unwrap();
    assert_eq!(e5.indirect_sites, vec![0x104a]);
    assert_eq!(e5.indirect_args.len(), 1);
    assert_eq!(e5.indirect_args[0].site, 0x104a);
    assert_eq!(e5.indirect_args[0].args[0].consts, vec![39]);
    assert_eq!(e5.addr_refs, vec![0x1010]);
    assert_eq!(s.wrappers().get(&0x1010), Some(&1));
    let e2 = s.function_at(0x1016).unwrap();
    assert_eq!(e2.indirect_sites, vec![0x101e]);
    // rdi is unknown there (rsi..r9 are entry arguments, so the site is listed).
    assert!(e2.indirect_args.iter().all(|a| a.args[0].unknown));

    let run = |entry: u64| synth_program(SYNTH_INDIRECT, &SYNTH_INDIRECT_FUNCS, entry);
    // main calls w directly (through a register that surely holds it).
    let r = run(0x1000);
    assert!(!r.indirect_reachable);
    assert!(!r.wildcard, "{:?}", r.unresolved_sites);
    assert_eq!(
        r.syscalls.keys().copied().collect::<Vec<_>>(),
        vec![39, 96, 201, 228, 309]
    );
    let chain = |r: &ProgramResult| -> Vec<(String, u64)> {
        r.syscalls[&39]
            .chain
            .iter()
            .map(|f| (f.function.clone(), f.address))
            .collect()
    };
    assert_eq!(r.syscalls[&39].kind, WitnessKind::WrapperCall);
    assert_eq!(
        chain(&r),
        vec![("main".to_string(), 0x100c), ("w".to_string(), 0x1010)]
    );
    // The only reachable indirect site passes 39: resolved, witness ends at
    // the indirect call site, then the wrapper.
    let r = run(0x103c);
    assert!(r.indirect_reachable);
    assert!(!r.wildcard, "{:?}", r.unresolved_sites);
    assert_eq!(r.syscalls[&39].kind, WitnessKind::WrapperCall);
    assert_eq!(
        chain(&r),
        vec![("e5".to_string(), 0x104a), ("w".to_string(), 0x1010)]
    );
    // Another reachable indirect site passes an unknown rdi: any indirect
    // site may enter w, so the number stays open (39 is still listed).
    let r = run(0x1016);
    assert!(r.wildcard);
    assert!(r.syscalls.contains_key(&39));
    assert_eq!(r.unresolved_sites.len(), 1, "{:?}", r.unresolved_sites);
    let u = &r.unresolved_sites[0];
    assert_eq!((u.function.as_str(), u.site), ("w", 0x1010));
    assert!(
        u.reason.contains("1 reachable indirect call sites"),
        "{u:?}"
    );
    assert!(u.reason.contains("e2 at 0x101e"), "{u:?}");
    // setcontext reachable: w may be entered with registers from memory.
    let r = run(0x1022);
    assert!(r.wildcard);
    assert!(r.unresolved_sites[0].reason.contains("setcontext"));
    // rt_sigaction reachable: w may be a signal handler (rdi = signal number).
    let r = run(0x102d);
    assert!(r.wildcard && r.syscalls.contains_key(&13));
    assert!(r.unresolved_sites[0].reason.contains("signal handlers"));
}

/// Wait up to 10 s for a traced server to exit after it was asked to; then kill it.
fn wait_or_kill(child: &mut std::process::Child) {
    for _ in 0..100 {
        if child.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Runs `server` under `strace -f` on a free port in a temporary folder and
/// drives it with `cli`: strings, lists, counters, a Lua script, INFO, a
/// foreground SAVE and a forked BGSAVE, then SHUTDOWN. The syscalls traced,
/// or None (saying why) when redis, its cli or strace is missing.
fn redis_serving_trace(server: &str, cli: &str) -> Option<std::collections::BTreeSet<String>> {
    if !std::path::Path::new(server).exists() || !std::path::Path::new(cli).exists() {
        println!("skip: {server} or {cli} not installed");
        return None;
    }
    if let Err(why) = strace_available() {
        println!("skip: {why}");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let log = dir.path().join("redis.strace");
    let mut child = std::process::Command::new("strace")
        .args(["-f", "-qq", "-o"])
        .arg(&log)
        .args([server, "--port", &port, "--bind", "127.0.0.1", "--save", ""])
        .args(["--appendonly", "no", "--dir"])
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let cli_run = |args: &[&str]| {
        std::process::Command::new(cli)
            .args(["-p", &port])
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    let mut pong = String::new();
    for _ in 0..100 {
        pong = cli_run(&["ping"]);
        if pong == "PONG" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    cli_run(&["set", "k", "v"]);
    let got = cli_run(&["get", "k"]);
    cli_run(&["rpush", "l", "a", "b", "c"]);
    cli_run(&["incr", "n"]);
    let lua = cli_run(&["eval", "return redis.call('lrange','l',0,-1)[2]", "0"]);
    cli_run(&["info"]);
    let saved = cli_run(&["save"]);
    cli_run(&["bgsave"]);
    // Wait for the forked save to finish before shutting down.
    for _ in 0..50 {
        if cli_run(&["info", "persistence"]).contains("rdb_bgsave_in_progress:0") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    cli_run(&["shutdown", "nosave"]);
    wait_or_kill(&mut child);
    assert_eq!(pong, "PONG", "{server} did not answer under strace");
    assert_eq!(
        (got.as_str(), lua.as_str(), saved.as_str()),
        ("v", "b", "OK")
    );
    assert!(
        dir.path().join("dump.rdb").exists(),
        "{server}: SAVE wrote no dump.rdb"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    Some(parse_strace(&text).0)
}

/// Traced syscalls the analysis of `server` left out, printed.
fn missing_from(
    server: &str,
    traced: &std::collections::BTreeSet<String>,
    r: &ProgramResult,
) -> Vec<String> {
    let names = r.names();
    let missing: Vec<String> = traced
        .iter()
        .filter(|n| !names.contains(&n.as_str()))
        .cloned()
        .collect();
    println!(
        "{server}: traced {} distinct, analysis {}, missing {missing:?}",
        traced.len(),
        names.len()
    );
    missing
}

#[test]
fn redis_serving_soundness() {
    let (server, cli) = ("/usr/bin/redis-server", "/usr/bin/redis-cli");
    let Some(traced) = redis_serving_trace(server, cli) else {
        return;
    };
    let mut memo = std::collections::HashMap::new();
    let r = analyze_host(server, &mut memo).unwrap();
    summarize(server, &r);
    let missing = missing_from(server, &traced, &r);
    assert!(traced.len() > 20, "{traced:?}");
    assert!(missing.is_empty(), "missing {missing:?}");
    // libcap's address-taken syscall hooks are confined to libcap: entered
    // only from its own call sites, each with a constant number.
    assert!(!r.wildcard, "{:?}", r.unresolved_sites);
}

/// The same redis 7.0.15 built from Debian 12's source package without TLS
/// and libsystemd (`tests/samples/redis-source.sh`, which `.ci/run` runs):
/// with Debian's flags and system jemalloc, and with upstream's makefile and
/// bundled jemalloc. That is redis's closure before 6.0 added both (2020),
/// which the published sysfilter figure (104) most likely had. The analysis
/// must stay below sysfilter there, name none of the syscalls only those
/// libraries bring, and stay sound while the build serves requests.
#[test]
fn redis_source_builds_below_sysfilter() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../.cache/samples/redis-src"
    );
    let cli = "/usr/bin/redis-cli";
    let mut memo = std::collections::HashMap::new();
    // Bounds at today's counts (the Debian package itself: 109).
    for (variant, bound) in [("debian-notls", 98), ("upstream", 97)] {
        let exe = format!("{dir}/{variant}/redis-server");
        if !std::path::Path::new(&exe).exists() {
            println!("skip: {exe} missing (tests/samples/redis-source.sh builds it)");
            continue;
        }
        let r = analyze_host(&exe, &mut memo).unwrap();
        summarize(&exe, &r);
        println!("   (sysfilter: 104) {:?}", r.names());
        assert!(!r.wildcard, "{exe}: {:?}", r.unresolved_sites);
        assert!(r.syscalls.len() <= bound, "{exe}: {}", r.syscalls.len());
        // sd_notify's credentials and message; OpenSSL's seeding fallback
        // and its accept BIO.
        for never in ["getegid", "sendmsg", "shmget", "pselect6", "accept"] {
            assert!(!r.names().contains(&never), "{exe}: {never}");
        }
        let Some(traced) = redis_serving_trace(&exe, cli) else {
            continue;
        };
        let missing = missing_from(&exe, &traced, &r);
        assert!(traced.len() > 20, "{traced:?}");
        assert!(missing.is_empty(), "{exe}: missing {missing:?}");
    }
}

/// nginx serving requests (master and worker, under `strace -f`) and curl
/// fetching from it over TCP (under its own `strace -f`): nothing traced may
/// be missing from the analysis, and both resolve completely.
#[test]
fn nginx_serving_and_curl_soundness() {
    let (nginx, curl) = ("/usr/sbin/nginx", "/usr/bin/curl");
    if !std::path::Path::new(nginx).exists() || !std::path::Path::new(curl).exists() {
        println!("skip: {nginx} or {curl} not installed");
        return;
    }
    if let Err(why) = strace_available() {
        println!("skip: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::create_dir_all(d.join("html")).unwrap();
    std::fs::create_dir_all(d.join("logs")).unwrap();
    std::fs::write(d.join("html/index.html"), "hello from nginx\n".repeat(200)).unwrap();
    let conf = format!(
        "daemon off;\nmaster_process on;\nworker_processes 1;\npid {p}/nginx.pid;\n\
         error_log {p}/logs/error.log;\nevents {{ worker_connections 16; }}\n\
         http {{ access_log {p}/logs/access.log; sendfile on;\n\
         client_body_temp_path {p}/tmp1; proxy_temp_path {p}/tmp2; fastcgi_temp_path {p}/tmp3;\n\
         uwsgi_temp_path {p}/tmp4; scgi_temp_path {p}/tmp5;\n\
         server {{ listen 127.0.0.1:{port}; root {p}/html; }} }}\n",
        p = d.display()
    );
    std::fs::write(d.join("nginx.conf"), conf).unwrap();
    let log = d.join("nginx.strace");
    let mut child = std::process::Command::new("strace")
        .args(["-f", "-qq", "-o"])
        .arg(&log)
        .args([nginx, "-p"])
        .arg(d)
        .arg("-c")
        .arg(d.join("nginx.conf"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/index.html");
    let curl_log = d.join("curl.strace");
    let mut served = false;
    for _ in 0..100 {
        let st = std::process::Command::new("strace")
            .args(["-f", "-qq", "-o"])
            .arg(&curl_log)
            .args([curl, "-sf", "-o", "/dev/null", &url])
            .status()
            .unwrap();
        if st.success() {
            served = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // A graceful stop: the master signals its worker, both exit.
    let pid = std::fs::read_to_string(d.join("nginx.pid")).unwrap_or_default();
    if let Ok(pid) = pid.trim().parse::<i32>() {
        let _ = std::process::Command::new("kill")
            .args(["-QUIT", &pid.to_string()])
            .status();
    }
    wait_or_kill(&mut child);
    assert!(served, "nginx did not serve under strace");
    let mut memo = std::collections::HashMap::new();
    for (prog, log) in [(nginx, &log), (curl, &curl_log)] {
        let text = std::fs::read_to_string(log).unwrap();
        let (traced, _) = parse_strace(&text);
        let r = analyze_host(prog, &mut memo).unwrap();
        summarize(prog, &r);
        let missing = missing_from(prog, &traced, &r);
        assert!(traced.len() > 20, "{prog}: {traced:?}");
        assert!(missing.is_empty(), "{prog}: missing {missing:?}");
        assert!(!r.wildcard, "{prog}: {:?}", r.unresolved_sites);
    }
}

/// A store into page zero faults (Go's `*(*int)(nil) = 0` after calls that
/// never return): a function whose only `ret` follows one never returns, so
/// the path after a call to it joins nothing. A thread-local (`fs:`) store at
/// a small offset is no such fault.
#[test]
fn synthetic_null_store_ends_the_path() {
    #[rustfmt::skip]
    let code: &[u8] = &[
        // 0x1000 g: xor ecx,ecx; mov dword [rcx],0; mov eax,[rdi]; ret
        0x31, 0xc9, 0xc7, 0x01, 0, 0, 0, 0, 0x8b, 0x07, 0xc3,
        // 0x100b f: mov eax,39; test edi,edi; jne L; call g; L: syscall; ret
        0xb8, 0x27, 0, 0, 0, 0x85, 0xff, 0x75, 0x05, 0xe8, 0xe7, 0xff, 0xff, 0xff,
        0x0f, 0x05, 0xc3,
        // 0x101c k: xor ecx,ecx; mov fs:[rcx],eax; mov eax,[rdi]; ret
        0x31, 0xc9, 0x64, 0x89, 0x01, 0x8b, 0x07, 0xc3,
        // 0x1024 m: as f, calling k
        0xb8, 0x27, 0, 0, 0, 0x85, 0xff, 0x75, 0x05, 0xe8, 0xea, 0xff, 0xff, 0xff,
        0x0f, 0x05, 0xc3,
    ];
    let funcs = [(0x1000, "g"), (0x100b, "f"), (0x101c, "k"), (0x1024, "m")];
    // Only the jne edge reaches f's syscall: getpid, resolved.
    let r = synth_program(code, &funcs, 0x100b);
    assert!(!r.wildcard, "{:?}", r.unresolved_sites);
    assert!(r.syscalls.contains_key(&39), "{:?}", r.syscalls.keys());
    // k returns with eax loaded from memory: m's number is open.
    let r = synth_program(code, &funcs, 0x1024);
    assert!(r.wildcard);
    assert!(
        r.unresolved_sites.iter().any(|u| u.function == "m"),
        "{:?}",
        r.unresolved_sites
    );
}

/// Appends a zeroed, writable data section `name` of `size` bytes at 0x3000
/// (file offset 0x40, its own segment) to a `synth` object.
fn with_data_section(
    mut data: Vec<u8>,
    mut elf: ElfInfo,
    name: &str,
    size: u64,
) -> (Vec<u8>, ElfInfo) {
    use confine_elf::{Section, Segment};
    data.resize(0x40, 0xcc);
    data.resize(0x40 + size as usize, 0);
    elf.file_size = data.len() as u64;
    elf.segments.push(Segment {
        vaddr: 0x3000,
        memsz: size,
        offset: 0x40,
        filesz: size,
        flags: 6,
        read: true,
        write: true,
        exec: false,
    });
    elf.sections.push(Section {
        name: name.into(),
        kind: 1,
        addr: 0x3000,
        size,
        offset: 0x40,
        entsize: 0,
        link: 0,
        info: 0,
        flags: 3,
        alloc: true,
        write: true,
        exec: false,
    });
    (data, elf)
}

/// `synth` plus a writable `.data` at 0x3000 (0x30 bytes) whose word at
/// 0x3008 holds `W` (0x1000) through an R_X86_64_RELATIVE relocation.
fn synth_with_slot(code: &[u8], funcs: &[(u64, &str)], entry: u64) -> (Vec<u8>, ElfInfo) {
    use confine_elf::{Reloc, RelocKind};
    let (data, elf) = synth(code, funcs, entry);
    let (data, mut elf) = with_data_section(data, elf, ".data", 0x30);
    elf.relocations.push(Reloc {
        offset: 0x3008,
        kind: RelocKind::Relative,
        sym: None,
        addend: 0x1000,
    });
    (data, elf)
}

/// libcap's pattern: a syscall wrapper whose address sits only in a data slot,
/// called through a pointer to that slot with a constant number. While the
/// slot's address stays in the object, only that call site enters it, so
/// another indirect call passing an unknown first argument does not open it;
/// once a function stores the slot's address elsewhere, it does.
#[test]
fn synthetic_confined_function_pointer() {
    #[rustfmt::skip]
    let code: &[u8] = &[
        // 0x1000 W: mov rax,rdi; syscall; ret
        0x48, 0x89, 0xf8, 0x0f, 0x05, 0xc3,
        // 0x1006 f: lea rax,[rip+0x3008]; mov edi,39; call [rax]; ret
        0x48, 0x8d, 0x05, 0xfb, 0x1f, 0, 0, 0xbf, 0x27, 0, 0, 0, 0xff, 0x10, 0xc3,
        // 0x1015 g: lea rax,[rip+0x3008]; mov [rip+0x3020],rax; ret
        0x48, 0x8d, 0x05, 0xec, 0x1f, 0, 0, 0x48, 0x89, 0x05, 0xfd, 0x1f, 0, 0, 0xc3,
        // 0x1024 h: mov rax,[rdi]; call rax; ret
        0x48, 0x8b, 0x07, 0xff, 0xd0, 0xc3,
        // 0x102a e: call f; call h; ret
        0xe8, 0xd7, 0xff, 0xff, 0xff, 0xe8, 0xf0, 0xff, 0xff, 0xff, 0xc3,
    ];
    let run = |funcs: &[(u64, &str)]| {
        let (data, elf) = synth_with_slot(code, funcs, 0x102a);
        let s = analyze_object(&data, &elf, &Limits::default());
        let r = lone_program(&s);
        (s, r)
    };
    let local = [(0x1006, "f"), (0x1024, "h"), (0x102a, "e")];
    let (s, r) = run(&local);
    let c = s
        .confined
        .as_ref()
        .expect("W's slot never leaves the object");
    assert_eq!(c.targets, vec![0x1000]);
    assert_eq!(c.sites, vec![0x1012]);
    assert!(!r.wildcard, "{:?}", r.unresolved_sites);
    assert!(r.syscalls.contains_key(&39));

    let leaky = [(0x1006, "f"), (0x1015, "g"), (0x1024, "h"), (0x102a, "e")];
    let (s, r) = run(&leaky);
    assert!(s.confined.is_none());
    assert!(r.wildcard);
    assert!(r
        .unresolved_sites
        .iter()
        .any(|u| u.reason.contains("indirect call")));
}

/// libcap's syscall hooks (`_cap_syscall3/6` in a static struct) are entered
/// only from libcap's own call sites, each passing a constant number.
#[test]
fn libcap_hooks_are_confined() {
    let path = "/usr/lib/x86_64-linux-gnu/libcap.so.2";
    let Some((data, elf)) = load(path) else {
        println!("skip: {path} not present");
        return;
    };
    let s = analyze_object(&data, &elf, &Limits::default());
    let c = s.confined.as_ref().expect("libcap's hooks are confined");
    println!("{c:x?}");
    assert_eq!(c.targets.len(), 2);
    assert!(c.sites.len() >= 6, "{:x?}", c.sites);
    // capset, prctl, setuid, setgid, setgroups, chroot.
    let known = [126, 157, 105, 106, 116, 161];
    for &site in &c.sites {
        let f = s
            .functions
            .iter()
            .find(|f| f.indirect_sites.contains(&site))
            .unwrap();
        let a = f.indirect_args.iter().find(|a| a.site == site).unwrap();
        let nr = &a.args[0];
        assert!(!nr.unknown && nr.args == 0, "{site:#x}: {nr:?}");
        assert!(
            nr.consts.iter().all(|k| known.contains(k)),
            "{site:#x}: {nr:?}"
        );
    }
}

/// Go programs from other Go releases than the installed toolchain (the
/// host's release binaries; skipped when absent): traced under a workload,
/// nothing may be missing. The unstripped static docker CLI (Go 1.24) must
/// resolve completely: its symbol table bounds `syscall.fcntl64Syscall`.
#[test]
fn go_releases_against_strace() {
    let d = tempfile::tempdir().unwrap();
    let cfg = d.path().join("docker-config");
    let cfg = cfg.to_string_lossy().to_string();
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (
            "docker-cli-version",
            vec!["/usr/local/bin/docker", "--version"],
        ),
        (
            "docker-cli-context",
            vec!["/usr/local/bin/docker", "--config", &cfg, "context", "ls"],
        ),
        (
            "terraform-version",
            vec!["/usr/local/bin/terraform", "version"],
        ),
    ];
    if let Some(r) = traced_then_resolved(d.path(), &cases, "/usr/local/bin/docker") {
        assert!(r.syscalls.len() > 80, "{}", r.syscalls.len());
    }
}

/// Trace `cases` (nothing may be missing), then analyse `exe`, which must
/// resolve completely; None when `exe` is absent.
fn traced_then_resolved(
    d: &std::path::Path,
    cases: &[(&str, Vec<&str>)],
    exe: &str,
) -> Option<ProgramResult> {
    let mut memo = std::collections::HashMap::new();
    let failures = trace_and_check(d, cases, &mut memo);
    assert!(failures.is_empty(), "{failures:#?}");
    let r = analyze_host(exe, &mut memo)?;
    summarize(exe, &r);
    assert!(!r.wildcard, "{:?}", r.unresolved_sites);
    Some(r)
}

/// A static-pie Rust program on musl (ruff from its musllinux wheel, fetched
/// into `.cache/samples/` by `tests/samples/fetch.py`, which `.ci/run` runs):
/// traced checking and formatting a small project (rayon threads), nothing
/// may be missing, and it resolves completely. It exercises calls through
/// static-pie's GOT to local functions, musl's `do_setxid` recognised by its
/// strerror table, and musl's `__stdio_read` flags from a `sub`.
#[test]
fn static_musl_rust_against_strace() {
    let ruff = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.cache/samples/ruff");
    if !std::path::Path::new(ruff).exists() {
        println!("skip: {ruff} missing (tests/samples/fetch.py fetches it)");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let proj = d.path().join("proj");
    std::fs::create_dir_all(&proj).unwrap();
    std::fs::write(
        proj.join("a.py"),
        "import os\n\n\ndef f(x):\n    return os.path.join(x, 'a')\n",
    )
    .unwrap();
    let proj = proj.to_string_lossy().to_string();
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("ruff-check", vec![ruff, "check", "--no-cache", &proj]),
        ("ruff-format", vec![ruff, "format", "--no-cache", &proj]),
    ];
    let r = traced_then_resolved(d.path(), &cases, ruff).unwrap();
    assert!(
        r.diagnostics
            .iter()
            .any(|d| d.kind == DiagKind::Modelled && d.message.contains("do_setxid")),
        "musl's do_setxid is not recognised"
    );
}

/// `je`/`jne` after a `sub` whose result is stored before the jump (musl's
/// `__stdio_read`): on the equal edge the register is 0, the syscall number.
#[test]
fn synthetic_equality_edge_after_sub() {
    #[rustfmt::skip]
    let code: &[u8] = &[
        0x89, 0xf9,                   // 0x1000 mov ecx, edi
        0x83, 0xe9, 0x05,             // 0x1002 sub ecx, 5
        0x48, 0x89, 0x4c, 0x24, 0xf8, // 0x1005 mov [rsp-8], rcx
        0x75, 0x05,                   // 0x100a jne 0x1011
        0x89, 0xc8,                   // 0x100c mov eax, ecx
        0x0f, 0x05,                   // 0x100e syscall
        0xc3,                         // 0x1010 ret
        0xc3,                         // 0x1011 ret
    ];
    let (data, elf) = synth(code, &[(0x1000, "f")], 0x1000);
    let s = analyze_object(&data, &elf, &Limits::default());
    let f = s.function_at(0x1000).unwrap();
    assert_eq!(f.syscalls.len(), 1);
    assert!(!f.syscalls[0].nr.unknown, "{:?}", f.syscalls[0].nr);
    assert_eq!(f.syscalls[0].nr.consts, vec![0]);
}

/// The `.debug` file of an object from its GNU build-id note, under
/// `/usr/lib/debug/.build-id` (libc6-dbg installs libc's).
fn debug_file(data: &[u8], elf: &ElfInfo) -> Option<Vec<u8>> {
    let sec = elf.section(".note.gnu.build-id")?;
    let b = elf.bytes_at(data, sec.addr, usize::try_from(sec.size).ok()?)?;
    let desc = b.get(16..)?;
    let hex: String = desc.iter().map(|x| format!("{x:02x}")).collect();
    let (dir, file) = hex.split_at(2.min(hex.len()));
    std::fs::read(format!("/usr/lib/debug/.build-id/{dir}/{file}.debug")).ok()
}

/// Cuts of `.data.rel.ro` and `.data` made without symbols (as for stripped objects)
/// never split a data object that holds code addresses past the cut, checked
/// against full symbol tables: libc's debug file, and confine's own symbols.
#[test]
fn data_regions_against_symbols() {
    let me = std::env::current_exe().ok();
    let mut checked = 0;
    let lib = "/usr/lib/x86_64-linux-gnu";
    let mut paths: Vec<String> = [
        "libbfd-2.40-system.so",
        "libopcodes-2.40-system.so",
        "libkrb5.so.3",
        "libk5crypto.so.3",
        "libgssapi_krb5.so.2",
        "liblua5.3.so.0",
        "libpcre.so.3",
        "libdb-5.3.so",
        "debug/libstdc++.so.6",
    ]
    .iter()
    .map(|f| format!("{lib}/{f}"))
    .collect();
    paths.push(LIBC.to_string());
    paths.extend(me.map(|p| p.display().to_string()));
    if let Ok(more) = std::env::var("CONFINE_SYMBOL_CHECK") {
        paths.extend(more.split(':').map(String::from));
    }
    for path in &paths {
        let Some((data, elf)) = load(path) else {
            println!("skip: {path} not present");
            continue;
        };
        let symtab = match debug_file(&data, &elf) {
            Some(d) => confine_elf::parse(&d).map(|e| e.symtab).unwrap_or_default(),
            None => elf.symtab.clone(),
        };
        if symtab.is_empty() {
            println!("skip: {path} has no symbol table and no debug file");
            continue;
        }
        let mut stripped = elf.clone();
        stripped.symtab.clear();
        let s = analyze_object(&data, &stripped, &Limits::default());
        let Some(d) = &s.data else {
            println!("{path}: no data regions");
            continue;
        };
        // Any cut may be the only reference live code makes into the
        // object: from each, every region of the object that stores an
        // address must be reached (the rule of `liveness::refs`).
        let slack = crate::object::liveness::SLACK;
        let reaches = |x: u64, r: &crate::DataRegion| {
            (r.start <= x && x < r.end)
                || (r.start >= x.saturating_sub(slack) && r.start <= x + slack)
        };
        // Slots that matter hold a code address or an imported function (a
        // vtable's typeinfo pointer, read at its address point minus 8, is
        // data).
        let in_code = |a: u64| {
            elf.sections
                .iter()
                .any(|x| x.exec && a >= x.addr && a < x.addr + x.size)
        };
        let code_slots: Vec<u64> = elf
            .relocations
            .iter()
            .filter(|r| match (&r.kind, &r.sym) {
                (confine_elf::RelocKind::Relative, _) => in_code(r.addend as u64),
                (confine_elf::RelocKind::Abs64, Some(sy)) => {
                    !sy.defined
                        && elf.dynsyms.iter().any(|d| {
                            !d.defined
                                && d.name == sy.name
                                && d.kind != confine_elf::SymKind::Object
                        })
                }
                _ => false,
            })
            .map(|r| r.offset)
            .collect();
        let region_of = |a: u64| d.regions.iter().find(|r| r.start <= a && a < r.end);
        let mut bad = Vec::new();
        let mut objects = 0;
        for sym in symtab
            .iter()
            .filter(|x| x.defined && x.size > 0 && x.kind == confine_elf::SymKind::Object)
        {
            let (lo, hi) = (sym.addr, sym.addr.saturating_add(sym.size));
            let inside: Vec<&crate::DataRegion> = d
                .regions
                .iter()
                .filter(|r| r.start < hi && r.end > lo)
                .collect();
            if inside.is_empty() {
                continue;
            }
            objects += 1;
            for q in &inside {
                let x = q.start.max(lo);
                for &slot in code_slots.iter().filter(|&&o| o >= lo && o < hi) {
                    if region_of(slot).is_some_and(|r| !reaches(x, r)) {
                        bad.push(format!(
                            "{} [{lo:#x}, {hi:#x}): from +{:#x} not reached slot +{:#x}",
                            sym.name,
                            x - lo,
                            slot - lo
                        ));
                    }
                }
            }
        }
        println!(
            "{path}: {} regions, {objects} data objects, {} unreached stores",
            d.regions.len(),
            bad.len()
        );
        for b in bad.iter().take(40) {
            println!("  {b}");
        }
        assert!(bad.is_empty(), "{path}: {} unreached stores", bad.len());
        checked += 1;
    }
    println!("{checked} objects checked");
    assert!(
        checked > 0,
        "no object with symbols or a debug file to check"
    );
}

/// Two tables in `.data.rel.ro`, 0x80 bytes apart and of different layouts
/// (adjacent tables of one layout merge, like array elements): T1 at 0x3000
/// holds A (getpid) at +0, T2 at 0x3080 holds B (getuid) at +8. `main`
/// calls through T1; `dead` only forms T2's address; `both` calls main and
/// dead.
fn synth_with_tables(
    section: &str,
    entry: u64,
    data_syms: &[(u64, u64, &str)],
) -> (Vec<u8>, ElfInfo) {
    use confine_elf::{Reloc, RelocKind, SymBind, SymKind, Symbol};
    #[rustfmt::skip]
    let code: &[u8] = &[
        // 0x1000 A: mov eax,39; syscall; ret
        0xb8, 0x27, 0, 0, 0, 0x0f, 0x05, 0xc3,
        // 0x1008 B: mov eax,102; syscall; ret
        0xb8, 0x66, 0, 0, 0, 0x0f, 0x05, 0xc3,
        // 0x1010 main: lea rax,[rip+T1]; call [rax]; ret
        0x48, 0x8d, 0x05, 0xe9, 0x1f, 0, 0, 0xff, 0x10, 0xc3,
        // 0x101a dead: lea rax,[rip+T2]; ret
        0x48, 0x8d, 0x05, 0x5f, 0x20, 0, 0, 0xc3,
        // 0x1022 both: call main; call dead; ret
        0xe8, 0xe9, 0xff, 0xff, 0xff, 0xe8, 0xee, 0xff, 0xff, 0xff, 0xc3,
    ];
    let funcs = [(0x1010, "main"), (0x101a, "dead"), (0x1022, "both")];
    let (data, elf) = synth(code, &funcs, entry);
    let (data, mut elf) = with_data_section(data, elf, section, 0x100);
    for (slot, f) in [(0x3000, 0x1000), (0x3088, 0x1008)] {
        elf.relocations.push(Reloc {
            offset: slot,
            kind: RelocKind::Relative,
            sym: None,
            addend: f,
        });
    }
    for &(addr, size, name) in data_syms {
        elf.dynsyms.push(Symbol {
            name: name.into(),
            version: None,
            version_hidden: false,
            version_index: 1,
            addr,
            size,
            kind: SymKind::Object,
            bind: SymBind::Global,
            defined: true,
        });
    }
    (data, elf)
}

/// A function stored only in a `.data.rel.ro` (or `.data`) table counts as
/// address-taken once live code refers to the table: reaching `dead`,
/// exporting the table, keeping it in a section named like a C identifier
/// (one region) or in another section (live whole) each bring getuid back.
#[test]
fn synthetic_dead_table_is_pruned() {
    let run = |section: &str, entry: u64, syms: &[(u64, u64, &str)]| {
        let (data, elf) = synth_with_tables(section, entry, syms);
        let s = analyze_object(&data, &elf, &Limits::default());
        let r = lone_program(&s);
        assert!(!r.wildcard, "{:?}", r.unresolved_sites);
        let pruned = r.diagnostics.iter().any(|x| {
            x.kind == DiagKind::Modelled && x.message.starts_with("1 of 2 functions stored")
        });
        (s, r.syscalls.keys().copied().collect::<Vec<u32>>(), pruned)
    };
    let (s, nrs, pruned) = run(".data.rel.ro", 0x1010, &[]);
    assert!(pruned, "the program reports the function it left out");
    let d = s.data.as_ref().expect("regions of .data.rel.ro");
    assert_eq!(
        d.regions
            .iter()
            .map(|r| (r.start, r.end))
            .collect::<Vec<_>>(),
        vec![(0x3000, 0x3080), (0x3080, 0x3100)]
    );
    assert!(
        s.data_address_taken.is_empty(),
        "{:x?}",
        s.data_address_taken
    );
    assert!(s
        .diagnostics
        .iter()
        .any(|x| x.kind == DiagKind::Modelled && x.message.contains(".data.rel.ro")));
    assert!(nrs.contains(&39) && !nrs.contains(&102), "{nrs:?}");
    let (_, nrs, pruned) = run(".data.rel.ro", 0x1022, &[]);
    assert!(
        nrs.contains(&39) && nrs.contains(&102),
        "dead reached: {nrs:?}"
    );
    assert!(!pruned);
    let (_, nrs, _) = run(".data.rel.ro", 0x1010, &[(0x3080, 8, "table2")]);
    assert!(nrs.contains(&102), "exported table: {nrs:?}");
    let (s, nrs, pruned) = run(".data", 0x1010, &[]);
    assert!(s.data.is_some() && pruned, "writable tables are cut too");
    assert!(!nrs.contains(&102), "dead .data table: {nrs:?}");
    // A section named like a C identifier is walked whole from its
    // `__start_` symbol: one region, live once anything refers to it.
    let (s, nrs, _) = run("__libc_IO_vtables", 0x1010, &[]);
    let d = s.data.as_ref().expect("one region");
    assert_eq!(
        d.regions
            .iter()
            .map(|r| (r.start, r.end))
            .collect::<Vec<_>>(),
        vec![(0x3000, 0x3100)]
    );
    assert!(nrs.contains(&102), "the whole section is live: {nrs:?}");
    let (s, nrs, _) = run(".tm_clone_table", 0x1010, &[]);
    assert!(s.data.is_none());
    assert!(nrs.contains(&102), "other sections are live whole: {nrs:?}");
}

/// Hostile section tables: two overlapping `.data.rel.ro` sections, or one
/// reaching past the address space's end, leave the data live whole (no
/// panic, no regions), so nothing is pruned.
#[test]
fn hostile_data_sections_stay_live() {
    let (data, mut elf) = synth_with_tables(".data.rel.ro", 0x1010, &[]);
    let mut twin = elf.sections.last().cloned().expect("the table section");
    twin.addr = 0x3040;
    elf.sections.push(twin);
    let s = analyze_object(&data, &elf, &Limits::default());
    assert!(s.data.is_none(), "overlapping sections must not be cut");
    assert!(s.data_address_taken.contains(&0x1008));

    let (data, mut elf) = synth_with_tables(".data.rel.ro", 0x1010, &[]);
    if let Some(sec) = elf.sections.last_mut() {
        sec.addr = u64::MAX - 0x10;
        sec.size = 0x100;
    }
    elf.relocations.push(confine_elf::Reloc {
        offset: u64::MAX - 8,
        kind: confine_elf::RelocKind::Relative,
        sym: None,
        addend: 0x1008,
    });
    let s = analyze_object(&data, &elf, &Limits::default());
    // Wherever the stored function went, it is kept: in the always-live set
    // or in a region's list.
    let kept = s.data_address_taken.contains(&0x1008)
        || s.data.as_ref().is_some_and(|d| {
            assert!(d.regions.iter().all(|r| r.start <= r.end));
            d.regions.iter().any(|r| r.code.contains(&0x1008))
        });
    assert!(kept, "{:x?}", s.data);
}

/// A callee that tests an argument is entered, from a call passing a
/// constant for it, in a context where the branch that constant rules out
/// does not run: `check` calls `A` (getuid) only when its second argument is
/// non-zero. Entered with 0 alone, getuid stays out; entered also with an
/// unknown second argument (after the context entry), it comes back.
#[test]
fn synthetic_argument_context() {
    #[rustfmt::skip]
    let code: &[u8] = &[
        // 0x1000 A: mov eax,102; syscall; ret
        0xb8, 0x66, 0, 0, 0, 0x0f, 0x05, 0xc3,
        // 0x1008 check: test esi,esi; je 0x1011; call A; ret
        0x85, 0xf6, 0x74, 0x05, 0xe8, 0xef, 0xff, 0xff, 0xff, 0xc3,
        // 0x1012 zero: xor esi,esi; call check; ret
        0x31, 0xf6, 0xe8, 0xef, 0xff, 0xff, 0xff, 0xc3,
        // 0x101a any: call check; ret
        0xe8, 0xe9, 0xff, 0xff, 0xff, 0xc3,
        // 0x1020 both: call zero; call any; ret
        0xe8, 0xed, 0xff, 0xff, 0xff, 0xe8, 0xf0, 0xff, 0xff, 0xff, 0xc3,
        // 0x102b one: mov esi,1; call check; ret
        0xbe, 0x01, 0, 0, 0, 0xe8, 0xd3, 0xff, 0xff, 0xff, 0xc3,
    ];
    let funcs = [
        (0x1000, "A"),
        (0x1008, "check"),
        (0x1012, "zero"),
        (0x101a, "any"),
        (0x1020, "both"),
        (0x102b, "one"),
    ];
    let run = |entry: u64| {
        let (data, elf) = synth(code, &funcs, entry);
        let s = analyze_object(&data, &elf, &Limits::default());
        let r = lone_program(&s);
        assert!(!r.wildcard, "{:?}", r.unresolved_sites);
        (s, r)
    };
    let (s, r) = run(0x1012);
    let check = s.function_at(0x1008).expect("check");
    assert_eq!(
        check.contexts,
        vec![crate::ArgContext {
            arg: 1,
            value: 0,
            dead: vec![0x100c],
            closed: Vec::new(),
        }]
    );
    let zero = s.function_at(0x1012).expect("zero");
    assert_eq!(
        zero.calls
            .first()
            .and_then(|c| c.args.get(1))
            .map(|v| v.consts.clone()),
        Some(vec![0])
    );
    assert!(!r.syscalls.contains_key(&102), "{:?}", r.syscalls.keys());
    assert!(
        r.diagnostics.iter().any(|d| d.kind == DiagKind::Modelled
            && d.message
                .starts_with("1 call, syscall or indirect site(s) in 1 reached")
            && d.message.contains("first: check")),
        "{:?}",
        r.diagnostics
    );
    for entry in [0x101a, 0x1020, 0x102b] {
        let (_, r) = run(entry);
        assert!(
            !r.diagnostics
                .iter()
                .any(|d| d.message.contains("argument contexts")),
            "{entry:#x}: nothing is left out"
        );
        let w = r
            .syscalls
            .get(&102)
            .unwrap_or_else(|| panic!("entry {entry:#x} misses getuid"));
        // The witness goes through the entry that can run the call.
        assert!(
            w.chain.iter().all(|f| f.function != "zero"),
            "{entry:#x}: {w:?}"
        );
    }
}

/// glibc's `faccessat` reaches its uid/gid checks only for a non-zero mode:
/// entered with `F_OK` (0) as its third argument, as `realpath` does, its
/// calls to getuid, geteuid, getgid, getegid and group_member cannot run.
#[test]
fn faccessat_mode_context() {
    let Some((data, elf)) = load(LIBC) else {
        println!("skip: {LIBC} not present");
        return;
    };
    let s = analyze_object(&data, &elf, &Limits::default());
    let addr = |name: &str| {
        elf.dynsyms
            .iter()
            .find(|x| x.name == name && x.defined)
            .map(|x| x.addr)
    };
    let fa = addr("faccessat").expect("faccessat exported");
    let f = s.function_at(fa).expect("faccessat analysed");
    let calls_to = |names: &[&str]| -> Vec<u64> {
        let targets: Vec<u64> = names.iter().filter_map(|n| addr(n)).collect();
        f.calls
            .iter()
            .filter(|c| matches!(c.target, Target::Local(t) if targets.contains(&t)))
            .map(|c| c.site)
            .collect()
    };
    let ids = calls_to(&["getuid", "geteuid", "getgid", "getegid", "group_member"]);
    assert!(ids.len() >= 4, "faccessat's id calls: {ids:x?}");
    let mode0 = f
        .contexts
        .iter()
        .find(|c| c.arg == 2 && c.value == 0)
        .unwrap_or_else(|| panic!("no mode context: {:?}", f.contexts));
    for site in &ids {
        assert!(mode0.dead.contains(site), "{site:#x} live under F_OK");
    }
    // The syscalls themselves stay: faccessat2, then faccessat.
    for s in &f.syscalls {
        assert!(!mode0.dead.contains(&s.site), "syscall {:#x} dead", s.site);
    }
    let rp = s
        .function_at(addr("realpath").expect("realpath"))
        .expect("realpath analysed");
    let to_fa = rp
        .calls
        .iter()
        .find(|c| c.target == Target::Local(fa))
        .expect("realpath calls faccessat");
    assert_eq!(to_fa.args.get(2).map(|v| v.consts.clone()), Some(vec![0]));
}

/// glibc's thread exit runs `__rpc_thread_destroy`, whose cleanup runs only
/// when the thread's RPC pointer (a local initial-exec TLS variable) is set,
/// and only sunrpc's accessors set it: that function is gated on the
/// variable's slot, and the exported accessors are among its setters.
#[test]
fn rpc_thread_destroy_is_gated() {
    let Some((data, elf)) = load(LIBC) else {
        println!("skip: {LIBC} not present");
        return;
    };
    let s = analyze_object(&data, &elf, &Limits::default());
    let accessor = sym_addr(&elf, "__rpc_thread_createerr");
    let setters = s
        .tls_setters
        .iter()
        .find(|t| t.functions.contains(&accessor))
        .unwrap_or_else(|| {
            panic!(
                "no gate set by __rpc_thread_createerr: {:x?}",
                s.tls_setters
            )
        });
    for name in ["__rpc_thread_svc_fdset", "__rpc_thread_svc_pollfd"] {
        let a = sym_addr(&elf, name);
        assert!(
            setters.functions.contains(&a),
            "{name} sets the RPC pointer"
        );
    }
    // Only sunrpc sets it: errno's and the thread block's stores (errno's
    // offset spilled and reloaded, a key index passed in) are no setters.
    println!("RPC pointer setters: {:x?}", setters.functions);
    assert!(setters.functions.len() <= 8, "{:x?}", setters.functions);
    for name in ["_exit", "__pthread_setspecific", "tcsetattr", "getgrgid_r"] {
        let a = sym_addr(&elf, name);
        assert!(
            !setters.functions.contains(&a),
            "{name} counted as a setter"
        );
    }
    let gated: Vec<&FunctionSummary> = s
        .functions
        .iter()
        .filter(|f| f.tls_gates.iter().any(|g| g.slot == setters.slot))
        .collect();
    // __rpc_thread_destroy: its three cleanups and the frees after them.
    let destroy = gated
        .iter()
        .find(|f| {
            f.tls_gates
                .iter()
                .any(|g| g.slot == setters.slot && g.dead.len() >= 3)
        })
        .unwrap_or_else(|| panic!("no function gated on the RPC pointer"));
    let gate = destroy
        .tls_gates
        .iter()
        .find(|g| g.slot == setters.slot)
        .expect("gate");
    for c in &destroy.calls {
        assert!(
            gate.dead.contains(&c.site) || c.site < gate.dead[0],
            "{:#x}: call {:#x} after the test is not gated",
            destroy.addr,
            c.site
        );
    }
}

/// A library built here with glibc's shape: a static initial-exec pointer
/// that one function sets, one clears, one leaves its offset in rax at
/// `ret` (as `rpc_thread_multi` does), and a cleanup that works only when it
/// is set. Its cleanup's calls are gated and only the setter sets it; a
/// store through an offset that crossed a call makes its function a setter;
/// an offset stored to memory disables the gate.
#[test]
fn tls_gate_on_built_library() {
    const SRC: &str = r#"
#include <unistd.h>
static __thread void *gate __attribute__((tls_model("initial-exec")));
static int dummy;
void set_gate(void) { gate = &dummy; }
void clear_gate(void) { gate = 0; }
extern void sink(void *);
int cleanup(void) {
    void *p = gate;
    if (p) {
        sink(p);
        gate = 0;
        return getegid();
    }
    return 0;
}
__asm__(".globl leak\n.type leak,@function\nleak:\n"
        "  movq gate@gottpoff(%rip), %rax\n  ret\n.size leak,.-leak\n");
#ifdef STORE_VIA
void store_via(long off) { __asm__ volatile("movq $1, %%fs:(%0)" ::"r"(off) : "memory"); }
#endif
#ifdef SPILL
__asm__(".globl spill\n.type spill,@function\nspill:\n"
        "  movq gate@gottpoff(%rip), %rax\n  movq %rax, (%rdi)\n  ret\n.size spill,.-spill\n");
#endif
"#;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("g.c");
    std::fs::write(&src, SRC).unwrap();
    let variant = |flag: &str| {
        let out = dir
            .path()
            .join(format!("lib{}.so", flag.trim_start_matches("-D")));
        let path = build(&["gcc", "-O2", "-shared", "-fPIC", flag], &src, &out)?;
        let (data, elf) = load(&path)?;
        let s = analyze_object(&data, &elf, &Limits::default());
        Some((elf, s))
    };
    let Some((elf, s)) = variant("-DPLAIN") else {
        println!("skip: gcc cannot build the library");
        return;
    };
    assert_eq!(s.tls_setters.len(), 1, "{:x?}", s.tls_setters);
    assert_eq!(s.tls_setters[0].functions, vec![sym_addr(&elf, "set_gate")]);
    let cleanup = s.function_at(sym_addr(&elf, "cleanup")).expect("cleanup");
    let gate = cleanup.tls_gates.first().expect("cleanup is gated");
    assert_eq!(gate.slot, s.tls_setters[0].slot);
    // The call to sink and the tail call to getegid.
    assert_eq!(
        gate.dead.len(),
        2,
        "{:x?} of {:x?}",
        gate.dead,
        cleanup.calls
    );
    for c in &cleanup.calls {
        assert!(
            gate.dead.contains(&c.site),
            "call at {:#x} not gated",
            c.site
        );
    }

    let (elf, s) = variant("-DSTORE_VIA").expect("same compiler");
    let mut want = vec![sym_addr(&elf, "set_gate"), sym_addr(&elf, "store_via")];
    want.sort_unstable();
    assert_eq!(
        s.tls_setters.first().map(|t| t.functions.clone()),
        Some(want)
    );

    let (_, s) = variant("-DSPILL").expect("same compiler");
    assert!(s.tls_setters.is_empty(), "{:x?}", s.tls_setters);
    assert!(s.functions.iter().all(|f| f.tls_gates.is_empty()));
}

/// An argument spilled to an rbp frame (gcc -O0), compared in its slot, and
/// passed on changed to the function itself, as glibc's `glob` does with
/// its flags: the slot is tracked, the recursion closes the context group
/// {0, 2}, and main's `walk(s, 0)` never reaches getegid. Passing argc
/// instead brings it back.
#[test]
fn spilled_argument_context_recursion() {
    const SRC: &str = r#"
#include <unistd.h>
int walk(const char *p, int mode) {
    if (mode == 9)
        return (int)getegid();
    if (*p)
        return 1 + walk(p + 1, mode == 0 ? 2 : mode);
    return 0;
}
int main(int argc, char **argv) {
#ifdef OPEN
    return walk(argv[0], argc);
#else
    return walk(argv[0], 0);
#endif
}
"#;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("r.c");
    std::fs::write(&src, SRC).unwrap();
    let Some(closed) = build(&["gcc", "-O0"], &src, &dir.path().join("closed")) else {
        println!("skip: gcc cannot build the program");
        return;
    };
    let open = build(&["gcc", "-O0", "-DOPEN"], &src, &dir.path().join("open")).expect("gcc");
    let (data, elf) = load(&closed).expect("built");
    let s = analyze_object(&data, &elf, &Limits::default());
    let walk = s.function_at(sym_addr(&elf, "walk")).expect("walk");
    // (mode, 9) is a group of its own, where the recursion is dead.
    let values: Vec<u32> = walk.contexts.iter().map(|c| c.value).collect();
    assert_eq!(values, vec![0, 2, 9], "{:x?}", walk.contexts);
    let recursion = walk
        .calls
        .iter()
        .find(|c| c.target == Target::Local(walk.addr))
        .expect("walk calls itself");
    let getegid = walk
        .calls
        .iter()
        .find(|c| c.target != Target::Local(walk.addr))
        .expect("walk calls getegid");
    for c in walk.contexts.iter().filter(|c| c.value != 9) {
        assert_eq!(c.closed, vec![recursion.site], "{c:x?}");
        assert_eq!(c.dead, vec![getegid.site], "{c:x?}");
    }
    let mut memo = std::collections::HashMap::new();
    let r = analyze_host(&closed, &mut memo).expect("analysed");
    assert!(!r.names().contains(&"getegid"), "{:?}", r.names());
    let r = analyze_host(&open, &mut memo).expect("analysed");
    assert!(r.names().contains(&"getegid"), "{:?}", r.names());
}

/// glibc's `glob` keeps its flags in an rbp frame slot and recurses with
/// them changed (`| GLOB_MARK`, `& ... | GLOB_NOSORT | GLOB_ONLYDIR`); from
/// flags 0 the group is {0, 2, 0x2002, 0x2004, 0x2006}, closed under all
/// four self-calls, and the tilde expansion's `getlogin_r` (alarm, through
/// the utmp lock) is dead in every one of them.
#[test]
fn glob_flags_context() {
    let Some((data, elf)) = load(LIBC) else {
        println!("skip: {LIBC} not present");
        return;
    };
    let s = analyze_object(&data, &elf, &Limits::default());
    let glob = s.function_at(sym_addr(&elf, "glob64")).expect("glob64");
    let getlogin = sym_addr(&elf, "getlogin_r");
    let to_getlogin = glob
        .calls
        .iter()
        .find(|c| c.target == Target::Local(getlogin))
        .expect("glob calls getlogin_r");
    let group: Vec<&crate::ArgContext> = glob.contexts.iter().filter(|c| c.arg == 1).collect();
    let values: Vec<u32> = group.iter().map(|c| c.value).collect();
    assert_eq!(
        values,
        vec![0, 2, 0x2002, 0x2004, 0x2006],
        "{:x?}",
        glob.contexts
    );
    let selfs: Vec<u64> = glob
        .calls
        .iter()
        .filter(|c| c.target == Target::Local(glob.addr))
        .map(|c| c.site)
        .collect();
    assert_eq!(selfs.len(), 4);
    for c in &group {
        assert!(c.dead.contains(&to_getlogin.site), "{c:x?}");
        assert_eq!(c.closed, selfs);
    }
}

/// Frame-slot guards on synthetic code: `check(_, mode)` spills `mode` to
/// `[rbp-4]` and calls getuid's stub unless the slot is 0; `zero` calls it
/// with 0. Tracked, the call is dead. Reading rbp as a value (the frame's
/// address may escape) or forming an address at or below the slot stops
/// the tracking, and a store of 1 over the slot is followed: each brings
/// getuid back. An address formed above the slot does not.
#[test]
fn synthetic_frame_slot_guards() {
    let build = |extra: &[u8]| -> (Vec<u8>, Vec<(u64, &'static str)>, u64) {
        // 0x1000 A: mov eax,102; syscall; ret
        let mut code: Vec<u8> = vec![0xb8, 0x66, 0, 0, 0, 0x0f, 0x05, 0xc3];
        let check = 0x1000 + code.len() as u64;
        // push rbp; mov rbp,rsp; sub rsp,16; mov [rbp-4],esi
        code.extend([
            0x55, 0x48, 0x89, 0xe5, 0x48, 0x83, 0xec, 0x10, 0x89, 0x75, 0xfc,
        ]);
        code.extend(extra);
        // cmp dword [rbp-4],0; je +5; call A; leave; ret
        code.extend([0x83, 0x7d, 0xfc, 0x00, 0x74, 0x05, 0xe8]);
        let next = 0x1000 + code.len() as u64 + 4;
        code.extend(((0x1000i64 - next as i64) as i32).to_le_bytes());
        code.extend([0xc9, 0xc3]);
        // zero: xor esi,esi; call check; ret
        let zero = 0x1000 + code.len() as u64;
        code.extend([0x31, 0xf6, 0xe8]);
        let next = 0x1000 + code.len() as u64 + 4;
        code.extend(((check as i64 - next as i64) as i32).to_le_bytes());
        code.push(0xc3);
        (
            code,
            vec![(0x1000, "A"), (check, "check"), (zero, "zero")],
            zero,
        )
    };
    let run = |extra: &[u8]| {
        let (code, funcs, zero) = build(extra);
        let r = synth_program(&code, &funcs, zero);
        assert!(!r.wildcard, "{:?}", r.unresolved_sites);
        r.syscalls.contains_key(&102)
    };
    assert!(!run(&[]), "the spilled 0 rules the call out");
    // mov rax, rbp
    assert!(run(&[0x48, 0x89, 0xe8]), "frame address read as a value");
    // mov dword [rbp-4], 1
    assert!(
        run(&[0xc7, 0x45, 0xfc, 0x01, 0, 0, 0]),
        "store over the slot"
    );
    // lea rax, [rbp-8]: a local below the slot may extend over it.
    assert!(
        run(&[0x48, 0x8d, 0x45, 0xf8]),
        "address formed below the slot"
    );
    // lea rax, [rbp+16]: the caller's stack arguments, above it.
    assert!(
        !run(&[0x48, 0x8d, 0x45, 0x10]),
        "address formed above the slot"
    );
}
