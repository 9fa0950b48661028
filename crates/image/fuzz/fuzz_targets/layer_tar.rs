//! Fuzz target: arbitrary bytes as one layer tar (plain, gzip or zstd) applied to a fresh
//! `Vroot` with small limits must never panic; the resulting root is then walked.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../entry.rs"]
mod entry;

fuzz_target!(|data: &[u8]| entry::layer_tar(data));
