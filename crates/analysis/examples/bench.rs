//! Timing of the analysis: `analyze_object` on libc.so.6 (median of N runs)
//! and whole-program nginx cold (no cache). Run with
//! `cargo run --release -p confine-analysis --example bench [N]`.

use confine_analysis::{
    analyze_object, analyze_objects, analyze_program, bind_first_definition, Limits, ObjectRef,
    ProgramInput,
};
use confine_elf::ElfInfo;
use std::time::{Duration, Instant};

const LIB_DIRS: [&str; 3] = [
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib64",
];

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// Paths, bytes, parsed ELF facts and the interpreter's index.
type Closure = (Vec<String>, Vec<Vec<u8>>, Vec<ElfInfo>, Option<usize>);

/// The executable, its DT_NEEDED closure (breadth-first) and its interpreter.
fn closure(exe: &str) -> Option<Closure> {
    let mut paths = Vec::new();
    let mut datas = Vec::new();
    let mut elfs: Vec<ElfInfo> = Vec::new();
    let mut queue = std::collections::VecDeque::from([exe.to_string()]);
    let mut seen = std::collections::HashSet::new();
    while let Some(p) = queue.pop_front() {
        let c = std::fs::canonicalize(&p).ok()?;
        if !seen.insert(c.clone()) {
            continue;
        }
        let data = std::fs::read(&c).ok()?;
        let elf = confine_elf::parse(&data).ok()?;
        for n in &elf.needed {
            if let Some(f) = LIB_DIRS
                .iter()
                .map(|d| format!("{d}/{n}"))
                .find(|f| std::path::Path::new(f).exists())
            {
                queue.push_back(f);
            }
        }
        paths.push(c.to_string_lossy().into_owned());
        datas.push(data);
        elfs.push(elf);
    }
    let interp = elfs.first()?.interp.clone()?;
    let ic = std::fs::canonicalize(&interp)
        .ok()?
        .to_string_lossy()
        .into_owned();
    let idx = match paths.iter().position(|p| *p == ic) {
        Some(i) => i,
        None => {
            let data = std::fs::read(&ic).ok()?;
            elfs.push(confine_elf::parse(&data).ok()?);
            datas.push(data);
            paths.push(ic);
            paths.len() - 1
        }
    };
    Some((paths, datas, elfs, Some(idx)))
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    let limits = Limits::default();
    let libc = "/lib/x86_64-linux-gnu/libc.so.6";
    match std::fs::read(libc)
        .ok()
        .and_then(|d| confine_elf::parse(&d).ok().map(|e| (d, e)))
    {
        Some((data, elf)) => {
            let mut times = Vec::new();
            let mut sites = 0;
            for _ in 0..n {
                let t = Instant::now();
                let s = analyze_object(&data, &elf, &limits);
                times.push(t.elapsed());
                sites = s.stats.syscall_sites;
            }
            println!(
                "analyze_object(libc.so.6): median {:?} over {n} runs ({sites} syscall sites)",
                median(times)
            );
        }
        None => println!("libc.so.6 not readable"),
    }
    for exe in ["/usr/sbin/nginx", "/usr/bin/redis-server"] {
        let Some((paths, datas, elfs, interp)) = closure(exe) else {
            println!("{exe}: not present");
            continue;
        };
        let mut times = Vec::new();
        let mut count = 0;
        for _ in 0..n.min(5) {
            let t = Instant::now();
            let inputs: Vec<(&[u8], &ElfInfo)> = datas
                .iter()
                .map(|d| d.as_slice())
                .zip(elfs.iter())
                .collect();
            let sums = analyze_objects(&inputs, &limits, None);
            let objects = paths
                .iter()
                .zip(sums.iter())
                .enumerate()
                .map(|(i, (p, s))| ObjectRef {
                    path: p,
                    summary: s,
                    interp: Some(i) == interp,
                })
                .collect();
            let refs: Vec<&ElfInfo> = elfs.iter().collect();
            let r = analyze_program(&ProgramInput {
                objects,
                bindings: bind_first_definition(&refs),
            });
            times.push(t.elapsed());
            count = r.syscalls.len();
        }
        println!(
            "{exe} whole program cold ({} objects, rayon): median {:?}, {count} syscalls",
            paths.len(),
            median(times)
        );
    }
}
