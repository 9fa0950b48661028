//! Fuzz target: arbitrary bytes as a `docker save` or OCI archive opened with small limits
//! must never panic; the resulting root is then walked.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../entry.rs"]
mod entry;

fuzz_target!(|data: &[u8]| entry::archive(data));
