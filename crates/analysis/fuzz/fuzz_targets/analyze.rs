//! Fuzz target: `confine_elf::parse` then `confine_analysis::analyze_object` (small limits)
//! and single-object reachability on arbitrary bytes must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../entry.rs"]
mod entry;

fuzz_target!(|data: &[u8]| entry::analyze(data));
