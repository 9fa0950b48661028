//! Criterion benchmarks of the per-object engine on this machine's own
//! binaries: ELF parsing alone and `analyze_object` for libc.so.6,
//! libcrypto.so.3 and a large Go binary (dockerd or containerd); reading a
//! summary back from the cache (and, for comparison, decoding the same summary
//! from JSON); and the whole-program analysis of /usr/sbin/nginx with its
//! libraries, cold. Very large objects (libLLVM-15, node: 12-17 s per run,
//! so about 4 minutes each here) only with `CONFINE_BENCH_LARGE=1`. A
//! missing input is skipped with the reason printed.
//!
//! `cargo bench -p confine-analysis` (about 3 minutes on 2 cores);
//! `cargo bench -p confine-analysis -- analyze_object/libc` for one.

use confine_analysis::{
    analyze_object, analyze_objects, analyze_program, bind_first_definition, digest, Limits,
    ObjectRef, ObjectSummary, ProgramInput, SummaryCache,
};
use confine_elf::ElfInfo;
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use std::collections::{HashSet, VecDeque};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// (name, candidate paths: the first present is used).
const OBJECTS: [(&str, &[&str]); 3] = [
    ("libc", &["/lib/x86_64-linux-gnu/libc.so.6"]),
    ("libcrypto", &["/lib/x86_64-linux-gnu/libcrypto.so.3"]),
    ("go", &["/usr/sbin/dockerd", "/usr/bin/containerd"]),
];

/// Only with `CONFINE_BENCH_LARGE=1`.
const LARGE: [(&str, &[&str]); 2] = [
    (
        "libLLVM",
        &[
            "/usr/lib/x86_64-linux-gnu/libLLVM-15.so.1",
            "/usr/lib/x86_64-linux-gnu/libLLVM-14.so.1",
        ],
    ),
    ("node", &["/usr/bin/node"]),
];

const LIB_DIRS: [&str; 3] = [
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib64",
];

struct Input {
    name: &'static str,
    path: String,
    data: Vec<u8>,
    elf: ElfInfo,
}

fn load(name: &'static str, candidates: &[&str]) -> Option<Input> {
    for path in candidates {
        match std::fs::read(path) {
            Ok(data) => match confine_elf::parse(&data) {
                Ok(elf) => {
                    return Some(Input {
                        name,
                        path: path.to_string(),
                        data,
                        elf,
                    })
                }
                Err(e) => eprintln!("skipped {name}: {path}: {e}"),
            },
            Err(e) => eprintln!("{name}: {path}: {e}"),
        }
    }
    eprintln!("skipped {name}: none of {candidates:?} is readable here");
    None
}

fn inputs() -> Vec<Input> {
    let mut out: Vec<Input> = OBJECTS.iter().filter_map(|(n, c)| load(n, c)).collect();
    if std::env::var_os("CONFINE_BENCH_LARGE").is_some_and(|v| v == "1") {
        out.extend(LARGE.iter().filter_map(|(n, c)| load(n, c)));
    } else {
        eprintln!("skipped libLLVM and node: set CONFINE_BENCH_LARGE=1 (12-17 s per run each)");
    }
    out
}

/// Group settings scaled to the cost of one run (`secs`): at least 10
/// samples, one run per sample for slow inputs.
fn tune(g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>, secs: f64) {
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs_f64((secs * 1.5).clamp(0.5, 90.0)));
    g.measurement_time(Duration::from_secs_f64((secs * 12.0).clamp(2.0, 900.0)));
    if secs > 0.05 {
        g.sampling_mode(SamplingMode::Flat);
    }
}

/// Seconds of one run of `f` (its result kept alive), to scale the group.
fn once<T>(f: impl FnOnce() -> T) -> f64 {
    let t = Instant::now();
    black_box(f());
    t.elapsed().as_secs_f64()
}

fn per_object(c: &mut Criterion) {
    let limits = Limits::default();
    for i in inputs() {
        eprintln!("{}: {} ({} KiB)", i.name, i.path, i.data.len() / 1024);
        let mut g = c.benchmark_group("parse");
        tune(&mut g, once(|| confine_elf::parse(&i.data).is_ok()));
        g.throughput(Throughput::Bytes(i.data.len() as u64));
        g.bench_function(i.name, |b| {
            b.iter(|| confine_elf::parse(black_box(&i.data)).map(|e| e.dynsyms.len()))
        });
        g.finish();

        let mut g = c.benchmark_group("analyze_object");
        tune(&mut g, once(|| analyze_object(&i.data, &i.elf, &limits)));
        g.throughput(Throughput::Bytes(i.data.len() as u64));
        g.bench_function(i.name, |b| {
            b.iter(|| analyze_object(black_box(&i.data), &i.elf, &limits).stats)
        });
        g.finish();

        if i.name == "libc" {
            cache_read(c, &i, &limits);
        }
    }
}

/// The warm path for one object: a summary read back from the cache, and the
/// same summary decoded from JSON (the former cache format) for comparison.
fn cache_read(c: &mut Criterion, i: &Input, limits: &Limits) {
    let Ok(dir) = tempfile::tempdir() else {
        eprintln!("skipped cache_read: no temporary folder");
        return;
    };
    let Ok(cache) = SummaryCache::new(dir.path()) else {
        eprintln!("skipped cache_read: cannot create a cache");
        return;
    };
    let s = cache.get_or_compute(&i.data, &i.elf, limits);
    let d = digest(&i.data);
    let Ok(json) = serde_json::to_vec(&s) else {
        eprintln!("skipped cache_read: cannot encode as JSON");
        return;
    };
    let mut g = c.benchmark_group("cache_read");
    tune(&mut g, 0.02);
    g.bench_function(format!("{}/cache_get", i.name), |b| {
        b.iter(|| cache.get(black_box(&d)).map(|s| s.functions.len()))
    });
    g.bench_function(format!("{}/json_decode", i.name), |b| {
        b.iter(|| {
            serde_json::from_slice::<ObjectSummary>(black_box(&json))
                .map(|s| s.functions.len())
                .ok()
        })
    });
    g.finish();
}

/// Paths, bytes, parsed ELF facts and the interpreter's index.
type Closure = (Vec<String>, Vec<Vec<u8>>, Vec<ElfInfo>, Option<usize>);

/// The executable, its DT_NEEDED closure (breadth-first, host library
/// folders) and its interpreter.
fn closure(exe: &str) -> Result<Closure, String> {
    let mut paths = Vec::new();
    let mut datas = Vec::new();
    let mut elfs: Vec<ElfInfo> = Vec::new();
    let mut queue = VecDeque::from([exe.to_string()]);
    let mut seen = HashSet::new();
    while let Some(p) = queue.pop_front() {
        let c = std::fs::canonicalize(&p).map_err(|e| format!("{p}: {e}"))?;
        if !seen.insert(c.clone()) {
            continue;
        }
        let data = std::fs::read(&c).map_err(|e| format!("{p}: {e}"))?;
        let elf = confine_elf::parse(&data).map_err(|e| format!("{p}: {e}"))?;
        for n in &elf.needed {
            match LIB_DIRS
                .iter()
                .map(|d| format!("{d}/{n}"))
                .find(|f| std::path::Path::new(f).exists())
            {
                Some(f) => queue.push_back(f),
                None => return Err(format!("{n} (needed by {p}) not found")),
            }
        }
        paths.push(c.to_string_lossy().into_owned());
        datas.push(data);
        elfs.push(elf);
    }
    let interp = elfs
        .first()
        .and_then(|e| e.interp.clone())
        .ok_or_else(|| format!("{exe}: no PT_INTERP"))?;
    let ic = std::fs::canonicalize(&interp)
        .map_err(|e| format!("{interp}: {e}"))?
        .to_string_lossy()
        .into_owned();
    let idx = match paths.iter().position(|p| *p == ic) {
        Some(i) => i,
        None => {
            let data = std::fs::read(&ic).map_err(|e| format!("{ic}: {e}"))?;
            elfs.push(confine_elf::parse(&data).map_err(|e| format!("{ic}: {e}"))?);
            datas.push(data);
            paths.push(ic);
            paths.len() - 1
        }
    };
    Ok((paths, datas, elfs, Some(idx)))
}

/// nginx and its libraries, cold: every object analysed (rayon, both
/// cores), then the reachability pass.
fn whole_program(c: &mut Criterion) {
    let exe = "/usr/sbin/nginx";
    let (paths, datas, elfs, interp) = match closure(exe) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("skipped whole_program/nginx: {e}");
            return;
        }
    };
    eprintln!("nginx: {} objects: {}", paths.len(), paths.join(" "));
    let limits = Limits::default();
    let inputs: Vec<(&[u8], &ElfInfo)> = datas
        .iter()
        .map(|d| d.as_slice())
        .zip(elfs.iter())
        .collect();
    let refs: Vec<&ElfInfo> = elfs.iter().collect();
    let bindings = bind_first_definition(&refs);
    let run = || {
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
        analyze_program(&ProgramInput {
            objects,
            bindings: bindings.clone(),
        })
        .syscalls
        .len()
    };
    let mut g = c.benchmark_group("whole_program");
    tune(&mut g, once(run));
    g.bench_function("nginx", |b| b.iter(run));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).without_plots();
    targets = per_object, whole_program
}
criterion_main!(benches);
