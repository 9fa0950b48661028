//! Robustness sweep: `confine_elf::parse` + `analyze_object` (default limits) on every
//! regular ELF file under a folder, with panics caught per file, then counts, times and
//! peak memory. Run with
//! `cargo run --release -p confine-analysis --example sweep -- /usr [--jobs N] [--max-bytes B]`.

use confine_analysis::{analyze_object, Limits};
use rayon::prelude::*;
use std::cell::RefCell;
use std::io::Read;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

thread_local! {
    /// Message and location of the last panic on this thread (set by the hook).
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// What happened to one ELF file.
enum Outcome {
    ParseError(String),
    Panic(String),
    Analyzed {
        truncated: bool,
        supported: bool,
        functions: usize,
        instructions: u64,
    },
}

struct Record {
    path: PathBuf,
    bytes: u64,
    time: Duration,
    outcome: Outcome,
}

fn is_elf(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == *b"\x7fELF"
}

/// Regular files under `dir` (symlinks skipped, not followed), depth first, sorted.
fn walk(dir: &Path, files: &mut Vec<(PathBuf, u64)>, unreadable: &mut usize) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        *unreadable += 1;
        return;
    };
    let mut entries: Vec<_> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            *unreadable += 1;
            continue;
        };
        if m.is_dir() {
            walk(&p, files, unreadable);
        } else if m.is_file() {
            files.push((p, m.len()));
        }
    }
}

fn analyze_one(path: &Path, bytes: u64, limits: &Limits) -> Option<Record> {
    if !is_elf(path) {
        return None;
    }
    let data = std::fs::read(path).ok()?;
    let start = Instant::now();
    let caught = panic::catch_unwind(AssertUnwindSafe(|| {
        let elf = match confine_elf::parse(&data) {
            Ok(e) => e,
            Err(e) => return Outcome::ParseError(e.to_string()),
        };
        let s = analyze_object(&data, &elf, limits);
        Outcome::Analyzed {
            truncated: s.stats.truncated,
            supported: s.supported,
            functions: s.stats.functions,
            instructions: s.stats.instructions,
        }
    }));
    let outcome = caught.unwrap_or_else(|payload| {
        let msg = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        let located = LAST_PANIC.with(|l| l.borrow_mut().take());
        Outcome::Panic(located.unwrap_or(msg))
    });
    Some(Record {
        path: path.to_path_buf(),
        bytes,
        time: start.elapsed(),
        outcome,
    })
}

/// Peak resident set size of this process (VmHWM), in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let mut dir = PathBuf::from("/usr");
    let mut jobs = 0usize;
    let mut max_bytes: u64 = 512 << 20;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--jobs" => jobs = args.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            "--max-bytes" => {
                max_bytes = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(max_bytes)
            }
            _ => dir = PathBuf::from(a),
        }
    }
    if jobs > 0 {
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(jobs)
            .build_global();
    }
    panic::set_hook(Box::new(|info| {
        let loc = info
            .location()
            .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
            .unwrap_or_default();
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| info.payload().downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        LAST_PANIC.with(|l| *l.borrow_mut() = Some(format!("{msg} at {loc}")));
    }));

    let wall = Instant::now();
    let mut files = Vec::new();
    let mut unreadable = 0usize;
    walk(&dir, &mut files, &mut unreadable);
    let total_files = files.len();
    let too_big = files.iter().filter(|(_, n)| *n > max_bytes).count();
    files.retain(|(_, n)| *n <= max_bytes);
    eprintln!("sweep: {total_files} regular files under {}", dir.display());

    let limits = Limits::default();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let records: Vec<Record> = files
        .par_iter()
        .with_max_len(1)
        .filter_map(|(p, n)| {
            let r = analyze_one(p, *n, &limits);
            let k = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if k.is_multiple_of(5000) {
                eprintln!("sweep: {k}/{} files", files.len());
            }
            r
        })
        .collect();

    let elf = records.len();
    let parse_errors: Vec<_> = records
        .iter()
        .filter_map(|r| match &r.outcome {
            Outcome::ParseError(e) => Some((r, e)),
            _ => None,
        })
        .collect();
    let panics: Vec<_> = records
        .iter()
        .filter_map(|r| match &r.outcome {
            Outcome::Panic(e) => Some((r, e)),
            _ => None,
        })
        .collect();
    let (mut analyzed, mut unsupported, mut truncated) = (0usize, 0usize, Vec::new());
    let (mut functions, mut instructions) = (0usize, 0u64);
    for r in &records {
        if let Outcome::Analyzed {
            truncated: t,
            supported,
            functions: f,
            instructions: i,
        } = r.outcome
        {
            analyzed += 1;
            unsupported += usize::from(!supported);
            functions += f;
            instructions += i;
            if t {
                truncated.push(r);
            }
        }
    }
    let cpu: Duration = records.iter().map(|r| r.time).sum();
    let elf_bytes: u64 = records.iter().map(|r| r.bytes).sum();
    let mut slowest: Vec<&Record> = records.iter().collect();
    slowest.sort_by_key(|r| std::cmp::Reverse(r.time));

    println!("folder:              {}", dir.display());
    println!(
        "files:               {total_files} regular ({too_big} over {max_bytes} bytes skipped, {unreadable} unreadable entries)"
    );
    println!(
        "ELF files:           {elf} ({:.1} MiB)",
        elf_bytes as f64 / f64::from(1u32 << 20)
    );
    println!("parse errors:        {}", parse_errors.len());
    for (r, e) in parse_errors.iter().take(20) {
        println!("  {}: {e}", r.path.display());
    }
    println!(
        "analyzed:            {analyzed} ({unsupported} not x86-64), {functions} functions, {instructions} instructions"
    );
    println!("panics:              {}", panics.len());
    for (r, e) in &panics {
        println!("  {}: {e}", r.path.display());
    }
    println!("truncated summaries: {}", truncated.len());
    for r in truncated.iter().take(20) {
        println!("  {}", r.path.display());
    }
    println!(
        "time:                {:.1} s wall, {:.1} s in parse+analyze over {} threads",
        wall.elapsed().as_secs_f64(),
        cpu.as_secs_f64(),
        rayon::current_num_threads()
    );
    println!("slowest:");
    for r in slowest.iter().take(10) {
        println!(
            "  {:8.2} s  {:7.1} MiB  {}",
            r.time.as_secs_f64(),
            r.bytes as f64 / f64::from(1u32 << 20),
            r.path.display()
        );
    }
    match peak_rss_kib() {
        Some(k) => println!("peak RSS (VmHWM):    {:.1} MiB", k as f64 / 1024.0),
        None => println!("peak RSS (VmHWM):    unknown"),
    }
    if !panics.is_empty() {
        std::process::exit(1);
    }
}
