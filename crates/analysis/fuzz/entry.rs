//! Entry point shared by the analysis fuzz target and by the regression replay
//! (`crates/analysis/tests/fuzz_regressions.rs`), so a saved input runs exactly as it did
//! in the fuzzer.
//!
//! Building by hand (cargo-fuzz does the same), from this folder:
//! ```text
//! RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
//!   -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
//!   -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks" \
//!   cargo +nightly build --release --target x86_64-unknown-linux-gnu --bins
//! target/x86_64-unknown-linux-gnu/release/analyze corpus/analyze -max_len=65536
//! ```

use confine_analysis::{
    analyze_object, analyze_program_dynamic, bind_first_definition, Limits, ObjectRef, ProgramInput,
};

/// Small limits so one input cannot run for long.
pub fn limits() -> Limits {
    Limits {
        max_instructions: 200_000,
        max_functions: 20_000,
        max_jump_table_entries: 256,
        max_data_scan_bytes: 1 << 20,
        max_block_visits: 20_000,
    }
}

/// Parse, summarize, then reach from the object's roots as a lone program (its entry a
/// root, as for a static executable) and with every export a root (as for a dlopen'ed
/// module).
pub fn analyze(data: &[u8]) {
    let Ok(elf) = confine_elf::parse(data) else {
        return;
    };
    let summary = analyze_object(data, &elf, &limits());
    let bindings = bind_first_definition(&[&elf]);
    let input = ProgramInput {
        objects: vec![ObjectRef {
            path: "/fuzz",
            summary: &summary,
            interp: false,
        }],
        bindings,
    };
    let result = analyze_program_dynamic(&input, &[]);
    let _ = result.names();
    let _ = analyze_program_dynamic(&input, &[0]);
}
