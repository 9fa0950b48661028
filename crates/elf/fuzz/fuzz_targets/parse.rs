//! Fuzz target: `confine_elf::parse` on arbitrary bytes must never panic, and the
//! accessors must stay in bounds on whatever it returns.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(info) = confine_elf::parse(data) {
        let _ = info.imports().count();
        let _ = info.exports().count();
        for r in info.relocations.iter().take(1000) {
            let _ = info.bytes_at(data, r.offset, 8);
        }
        for p in &info.plt {
            let _ = info.vaddr_to_offset(p.addr);
        }
    }
});
