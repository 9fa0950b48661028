//! Replays every input saved in `crates/analysis/fuzz/regressions` through the fuzz
//! target's own entry point (`fuzz/entry.rs`): none may panic.

#[path = "../fuzz/entry.rs"]
mod entry;

#[test]
fn fuzz_regressions_replay() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_none_or(|e| e != "md"))
        .collect();
    inputs.sort();
    for p in &inputs {
        let data = std::fs::read(p).unwrap();
        assert!(data.len() < 64 << 10, "{} is over 64 KiB", p.display());
        eprintln!("replaying {}", p.display());
        entry::analyze(&data);
    }
    // the entry point really analyses: a real binary gives a non-trivial run
    let tiny = std::fs::read("/usr/bin/true").unwrap();
    entry::analyze(&tiny);
    let elf = confine_elf::parse(&tiny).unwrap();
    let s = confine_analysis::analyze_object(&tiny, &elf, &entry::limits());
    assert!(s.stats.functions > 0, "no functions found in /usr/bin/true");
}
