//! Tests over real binaries on this machine and synthesized hostile inputs.

use super::*;

const LIBC: &str = "/lib/x86_64-linux-gnu/libc.so.6";

fn load(path: &str) -> Option<Vec<u8>> {
    match std::fs::read(path) {
        Ok(d) => Some(d),
        Err(e) => {
            eprintln!("skipping: cannot read {path}: {e}");
            None
        }
    }
}

#[test]
fn libc_facts() {
    let Some(d) = load(LIBC) else { return };
    let e = parse(&d).unwrap();
    assert_eq!(e.machine, Machine::X86_64);
    assert!(e.class64);
    assert_eq!(e.kind, ElfKind::Dyn);
    assert!(!e.pie);
    assert_eq!(e.soname.as_deref(), Some("libc.so.6"));
    assert_eq!(e.needed, vec!["ld-linux-x86-64.so.2".to_string()]);
    assert!(e.relr_count > 1000, "relr {}", e.relr_count);
    assert!(e.fdes.len() > 2000, "fdes {}", e.fdes.len());
    assert_eq!(e.eh_frame_errors, 0);
    let names: Vec<String> = e.exports().map(|s| s.versioned_name()).collect();
    assert!(names.iter().any(|n| n == "getaddrinfo@@GLIBC_2.2.5"));
    assert!(e.warnings.is_empty(), "{:?}", e.warnings);
    assert!(e.versioned);
    assert_eq!(e.dynsyms[0].version_index, 0);
    assert!(e.exports().all(|s| s.version_index >= 1));
}

#[test]
fn libc_relocations_arrays_plt() {
    let Some(d) = load(LIBC) else { return };
    let e = parse(&d).unwrap();
    // RELR-decoded relocations are Relative with the implicit addend from the file.
    assert_eq!(e.relr_count, 1198);
    let rel = e
        .relocations
        .iter()
        .filter(|r| r.kind == RelocKind::Relative);
    assert!(rel.count() >= 1198);
    // Every RELR addend is a real address inside a loaded segment.
    let relr_in_seg = e
        .relocations
        .iter()
        .filter(|r| r.kind == RelocKind::Relative)
        .filter(|r| e.segment_of(r.addend as u64).is_some())
        .count();
    assert!(relr_in_seg > 1100, "{relr_in_seg}");
    // init_array holds two relocated function addresses, each the start of an FDE.
    assert_eq!(e.init_array.len(), 2);
    for a in &e.init_array {
        assert!(e.fdes.iter().any(|f| f.0 == *a), "{a:#x} is no fde start");
    }
    // PLT: .plt (53 stubs) + .plt.got (2 stubs); realloc goes through the PLT.
    assert_eq!(e.plt.len(), 55);
    assert!(e.plt.iter().any(|p| p.name() == Some("realloc")));
    assert!(e.plt.iter().filter(|p| p.irelative.is_some()).count() > 30);
    // GOT import slots include GLOB_DAT and JUMP_SLOT symbols.
    assert!(e.got_imports.iter().any(|(_, n)| n == "realloc"));
    assert!(e.got_imports.len() >= 80);
    // Version needs and defs.
    assert_eq!(e.version_needs.len(), 1);
    assert_eq!(e.version_needs[0].file, "ld-linux-x86-64.so.2");
    assert!(e.version_needs[0]
        .versions
        .contains(&"GLIBC_PRIVATE".to_string()));
    assert!(e.version_defs.contains(&"GLIBC_2.34".to_string()));
    // A hidden (non-default) version: memcpy@GLIBC_2.2.5 next to memcpy@@GLIBC_2.14.
    let memcpy: Vec<String> = e
        .dynsyms
        .iter()
        .filter(|s| s.name == "memcpy")
        .map(|s| s.versioned_name())
        .collect();
    assert!(
        memcpy.contains(&"memcpy@GLIBC_2.2.5".to_string()),
        "{memcpy:?}"
    );
    assert!(
        memcpy.contains(&"memcpy@@GLIBC_2.14".to_string()),
        "{memcpy:?}"
    );
    // IFUNC symbols are typed as such.
    assert!(e
        .exports()
        .any(|s| s.name == "memcpy" && s.kind == SymKind::IFunc));
    // vaddr_to_offset/bytes_at agree with the section table.
    let text = e.section(".text").unwrap();
    assert_eq!(e.vaddr_to_offset(text.addr), Some(text.offset as usize));
    assert_eq!(
        e.bytes_at(&d, text.addr, 4),
        d.get(text.offset as usize..text.offset as usize + 4)
    );
    assert_eq!(e.bytes_at(&d, u64::MAX - 2, 8), None);
}

#[test]
fn ls_facts() {
    let Some(d) = load("/usr/bin/ls") else { return };
    let e = parse(&d).unwrap();
    assert!(e.pie);
    assert_eq!(e.kind, ElfKind::Dyn);
    assert_eq!(e.interp.as_deref(), Some("/lib64/ld-linux-x86-64.so.2"));
    assert_eq!(e.needed, vec!["libselinux.so.1", "libc.so.6"]);
    assert!(e.soname.is_none());
    assert_ne!(e.flags_1 & u64::from(object::elf::DF_1_PIE), 0);
    assert!(e.init.is_some() && e.fini.is_some());
    assert_eq!(e.init_array.len(), 1);
    assert_eq!(e.fini_array.len(), 1);
    // 101 lazy .plt stubs + 6 .plt.got stubs, each bound to a named import.
    assert_eq!(e.plt.len(), 107);
    assert!(e.plt.iter().all(|p| p.sym.is_some()));
    assert!(e.plt.iter().any(|p| p.name() == Some("getenv")));
    assert!(e
        .imports()
        .any(|s| s.versioned_name() == "getenv@GLIBC_2.2.5"));
    assert_eq!(e.relocations.len(), 329);
    assert_eq!(e.segments.len(), 4);
    assert!(e.fdes.len() > 200);
}

#[test]
fn nginx_facts() {
    let Some(d) = load("/usr/sbin/nginx") else {
        return;
    };
    let e = parse(&d).unwrap();
    assert!(e.pie);
    for lib in [
        "libssl.so.3",
        "libcrypto.so.3",
        "libc.so.6",
        "libpcre2-8.so.0",
    ] {
        assert!(e.needed.iter().any(|n| n == lib), "{lib}");
    }
    assert!(e.plt.iter().any(|p| p.name() == Some("SSL_get_error")));
    assert!(e.fdes.len() > 1000);
    assert!(e.warnings.is_empty(), "{:?}", e.warnings);
}

#[test]
fn busybox_static_facts() {
    let Some(d) = load("/bin/busybox") else {
        return;
    };
    let e = parse(&d).unwrap();
    if e.kind != ElfKind::Exec {
        eprintln!("skipping: /bin/busybox is not the static build");
        return;
    }
    assert!(e.interp.is_none());
    assert!(e.needed.is_empty());
    assert!(e.dynsyms.is_empty());
    assert!(!e.pie);
    // IRELATIVE relocations from the allocated .rela.plt section, reached by .plt stubs.
    assert!(!e.relocations.is_empty());
    assert!(e.relocations.iter().all(|r| r.kind == RelocKind::Irelative));
    assert_eq!(e.plt.len(), e.relocations.len());
    assert!(e.plt.iter().all(|p| p.irelative.is_some()));
    assert!(e.init.is_some());
    assert!(!e.init_array.is_empty());
    assert!(e.fdes.len() > 1000);
}

/// Deterministic xorshift so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn truncated_libc_never_panics() {
    let Some(d) = load(LIBC) else { return };
    let full = parse(&d).unwrap();
    let mut cuts: Vec<usize> = (0..200).collect();
    cuts.extend((0..d.len()).step_by(d.len() / 150 + 1));
    for s in &full.sections {
        for delta in [0usize, 1, 7] {
            cuts.push((s.offset as usize).saturating_sub(delta));
            cuts.push((s.offset + s.size) as usize - delta.min(s.size as usize));
        }
    }
    let mut errs = 0;
    let mut degraded = 0;
    for &n in &cuts {
        let Some(part) = d.get(..n) else { continue };
        match parse(part) {
            Err(_) => errs += 1,
            Ok(e) => {
                if e.fdes.len() < full.fdes.len() || !e.warnings.is_empty() {
                    degraded += 1;
                }
                // Nothing may point past the truncated end.
                for r in &e.relocations {
                    if let Some(o) = e.vaddr_to_offset(r.offset) {
                        assert!(o < n);
                    }
                }
            }
        }
    }
    assert!(errs > 0 && degraded > 0, "errs {errs} degraded {degraded}");
    // Tiny inputs give specific errors.
    assert!(matches!(parse(&d[..3]), Err(ElfError::NotElf)));
    assert!(matches!(parse(&d[..20]), Err(ElfError::Truncated { .. })));
}

#[test]
fn flipped_header_bytes_never_panic() {
    let Some(d) = load(LIBC) else { return };
    let full = parse(&d).unwrap();
    // Regions that steer parsing: ELF header, program headers, section headers,
    // and the tables the dynamic section points to.
    let mut regions: Vec<(usize, usize)> = vec![(0, 64), (64, 64 + 14 * 56)];
    let shoff = u64::from_le_bytes(d[0x28..0x30].try_into().unwrap()) as usize;
    regions.push((shoff, d.len()));
    for name in [
        ".dynamic",
        ".gnu.version_d",
        ".gnu.version_r",
        ".gnu.version",
        ".gnu.hash",
        ".relr.dyn",
        ".rela.plt",
        ".eh_frame_hdr",
        ".init_array",
    ] {
        if let Some(s) = full.section(name) {
            let o = s.offset as usize;
            regions.push((o, o + (s.size as usize).min(512)));
        }
    }
    regions.push((
        full.section(".eh_frame").unwrap().offset as usize,
        full.section(".eh_frame").unwrap().offset as usize + 4096,
    ));
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut buf = d.clone();
    let (mut ok, mut err) = (0, 0);
    for round in 0..600 {
        let &(lo, hi) = &regions[round % regions.len()];
        let flips = 1 + (rng.next() % 4) as usize;
        let mut touched = Vec::new();
        for _ in 0..flips {
            let at = lo + (rng.next() as usize) % (hi - lo).max(1);
            if at >= buf.len() {
                continue;
            }
            let v = match rng.next() % 4 {
                0 => 0xff,
                1 => 0,
                2 => buf[at] ^ 0x80,
                _ => rng.next() as u8,
            };
            touched.push((at, buf[at]));
            buf[at] = v;
        }
        match parse(&buf) {
            Ok(e) => {
                ok += 1;
                let _ = e.exports().count();
            }
            Err(_) => err += 1,
        }
        for (at, old) in touched.into_iter().rev() {
            buf[at] = old;
        }
    }
    assert!(ok > 0 && err > 0, "ok {ok} err {err}");
}

#[test]
fn wrong_class_and_machine() {
    let Some(d) = load("/usr/bin/ls") else { return };
    let mut bad = d.clone();
    bad[4] = 3; // EI_CLASS
    assert!(matches!(parse(&bad), Err(ElfError::Unsupported { .. })));
    let mut arm = d.clone();
    arm[0x12..0x14].copy_from_slice(&object::elf::EM_AARCH64.to_le_bytes());
    let e = parse(&arm).unwrap();
    assert_eq!(e.machine, Machine::Aarch64);
    // x86-64 stubs are not decoded for another machine; relocation types are
    // interpreted for AArch64, so none of them is a JUMP_SLOT any more.
    assert!(e.plt.is_empty());
    let mut other = d.clone();
    other[0x12..0x14].copy_from_slice(&0x1234u16.to_le_bytes());
    assert_eq!(parse(&other).unwrap().machine, Machine::Other(0x1234));
    assert!(matches!(parse(b"\x7fELF"), Err(ElfError::Truncated { .. })));
    assert!(matches!(parse(b"#!/bin/sh\n"), Err(ElfError::NotElf)));
}

/// Remove the section header table: facts come from PT_DYNAMIC and PT_GNU_EH_FRAME.
fn strip_section_headers(d: &[u8]) -> Vec<u8> {
    let mut s = d.to_vec();
    s[0x28..0x30].fill(0); // e_shoff
    s[0x3c..0x40].fill(0); // e_shnum, e_shstrndx
    s
}

#[test]
fn no_section_headers_falls_back_to_dynamic() {
    for path in ["/usr/bin/ls", LIBC] {
        let Some(d) = load(path) else { continue };
        let full = parse(&d).unwrap();
        let e = parse(&strip_section_headers(&d)).unwrap();
        assert!(e.sections.is_empty());
        assert_eq!(e.needed, full.needed, "{path}");
        assert_eq!(e.soname, full.soname);
        assert_eq!(e.pie, full.pie);
        assert_eq!(e.dynsyms, full.dynsyms, "{path}");
        assert_eq!(e.version_needs, full.version_needs);
        assert_eq!(e.relocations, full.relocations, "{path}");
        assert_eq!(e.init_array, full.init_array);
        assert_eq!(e.got_imports, full.got_imports);
        assert_eq!(e.fdes, full.fdes, "{path}");
        // PLT stubs found by scanning executable segments match the section walk
        // (lazy .plt stubs whose slot only a push-index names are not recovered).
        let with_sym: Vec<_> = full.plt.iter().filter(|p| p.sym.is_some()).collect();
        let found: Vec<_> = e.plt.iter().filter(|p| p.sym.is_some()).collect();
        assert_eq!(found, with_sym, "{path}");
    }
}

#[test]
fn huge_counts_are_capped() {
    let Some(d) = load("/usr/bin/ls") else { return };
    let full = parse(&d).unwrap();
    // Claim an enormous DT_RELASZ and DT_STRSZ inside the dynamic section.
    let dynsec = full.section(".dynamic").unwrap();
    let mut b = d.clone();
    let base = dynsec.offset as usize;
    for i in 0..(dynsec.size as usize / 16) {
        let at = base + i * 16;
        let tag = u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
        if tag == 8 || tag == 10 || tag == 2 {
            b[at + 8..at + 16].copy_from_slice(&u64::MAX.to_le_bytes());
        }
    }
    let e = parse(&b).unwrap();
    // Tables are clipped at the end of their segment's file bytes.
    assert!(e.relocations.len() < d.len() / 24 + 1);
    assert!(e.relocations.len() >= full.relocations.len());
    assert_eq!(e.needed, full.needed);
}

#[test]
fn synthesized_relr_decoding() {
    // One address entry then one bitmap: relocations at 0x1000, and bits 1 and 3
    // after it at 0x1008 + 8*0 ... following the spec: bit i -> where + i*8.
    let mut ctx_data = vec![0u8; 64];
    ctx_data[..4].copy_from_slice(b"\x7fELF");
    let raw = headers::Raw {
        le: true,
        is64: true,
        loads: vec![Segment {
            vaddr: 0x1000,
            memsz: 0x1000,
            offset: 0,
            filesz: 64,
            flags: 6,
            read: true,
            write: true,
            exec: false,
        }],
        ..headers::Raw::default()
    };
    let mut table = Vec::new();
    table.extend_from_slice(&0x1000u64.to_le_bytes());
    table.extend_from_slice(&((0b101u64 << 1) | 1).to_le_bytes());
    // Put the table at file offset 32 and a value at 0x1008 (file offset 8).
    ctx_data[32..48].copy_from_slice(&table);
    ctx_data[8..16].copy_from_slice(&0xabcdu64.to_le_bytes());
    let budget = std::cell::Cell::new(1 << 20);
    let mut ctx = Ctx::new(&ctx_data, raw, &budget);
    ctx.info.machine = Machine::X86_64;
    reloc::read_relr_for_test(&mut ctx, 32, 16);
    let offs: Vec<u64> = ctx.info.relocations.iter().map(|r| r.offset).collect();
    assert_eq!(offs, vec![0x1000, 0x1008, 0x1018]);
    assert_eq!(ctx.info.relocations[1].addend, 0xabcd);
    assert_eq!(ctx.info.relr_count, 3);
}

fn go_binaries() -> Vec<&'static str> {
    [
        "/usr/bin/go",
        "/usr/lib/go-1.19/bin/gofmt",
        "/usr/lib/google-cloud-sdk/bin/kubectl",
    ]
    .into_iter()
    .filter(|p| std::path::Path::new(p).exists())
    .collect()
}

#[test]
fn go_pclntab_functions() {
    let bins = go_binaries();
    if bins.is_empty() {
        eprintln!("skipping: no Go binary on this machine");
        return;
    }
    for path in bins {
        let Some(d) = load(path) else { continue };
        let e = parse(&d).unwrap();
        let g = e
            .gopclntab
            .as_ref()
            .unwrap_or_else(|| panic!("{path}: no gopclntab"));
        assert!(
            matches!(
                g.magic,
                0xffff_fff0 | 0xffff_fff1 | 0xffff_fffa | 0xffff_fffb
            ),
            "{path}"
        );
        assert!(g.functions.len() > 1000, "{path}: {}", g.functions.len());
        let text = e.section(".text").unwrap();
        for f in &g.functions {
            assert!(f.entry < f.end, "{path}: {f:?}");
            assert!(
                f.entry >= text.addr && f.end <= text.addr + text.size,
                "{path}: {f:?}"
            );
        }
        assert!(g.functions.windows(2).all(|w| w[0].end <= w[1].entry));
        let names: std::collections::HashSet<&str> =
            g.functions.iter().map(|f| f.name.as_str()).collect();
        for n in ["runtime.main", "runtime.rt0_go", "syscall.Syscall6"] {
            assert!(names.contains(n), "{path}: {n} missing");
        }
        // A Go-linked executable starts in a Go function (an externally linked
        // PIE starts in the C runtime's _start).
        if !e.pie {
            assert!(g.functions.iter().any(|f| f.entry == e.entry), "{path}");
        }
        // Without section headers the table is found by its header magic.
        let s = parse(&strip_section_headers(&d)).unwrap();
        assert_eq!(s.gopclntab.as_ref(), Some(g), "{path}");
    }
}

#[test]
fn go_pclntab_hostile_header() {
    let Some(path) = go_binaries().into_iter().next() else {
        eprintln!("skipping: no Go binary on this machine");
        return;
    };
    let Some(d) = load(path) else { return };
    let e = parse(&d).unwrap();
    let s = e.section(".gopclntab").unwrap().clone();
    // nfunc claims far more entries than the table holds.
    let mut b = d.clone();
    let at = s.offset as usize + 8;
    b[at..at + 8].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
    let h = parse(&b).unwrap();
    assert!(h.gopclntab.is_none());
    assert!(
        h.warnings.iter().any(|w| w.contains("gopclntab")),
        "{:?}",
        h.warnings
    );
    // Unknown magic.
    let mut b = d.clone();
    b[s.offset as usize] ^= 0x55;
    let h = parse(&b).unwrap();
    assert!(h.gopclntab.is_none());
    // Truncated inside the function table: no panic, table dropped or cut short.
    for cut in [
        s.offset as usize + 4,
        s.offset as usize + 64,
        s.offset as usize + 4096,
    ] {
        let h = parse(&d[..cut]).unwrap();
        assert!(h.gopclntab.is_none(), "cut {cut}");
    }
}

/// Random byte mutations and truncations of real files. `CONFINE_ELF_FUZZ_ITERS`
/// scales the rounds per file (default 300) for longer local campaigns.
#[test]
fn random_mutations_never_panic() {
    let iters: usize = std::env::var("CONFINE_ELF_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for (path, weight) in [
        ("/usr/bin/ls", 5),
        (LIBC, 1),
        ("/bin/busybox", 1),
        ("/usr/lib/go-1.19/bin/gofmt", 1),
    ] {
        let Some(d) = load(path) else { continue };
        let mut parsed = 0;
        let rounds = iters * weight;
        for _ in 0..rounds {
            let mut b = d.clone();
            // Mutate mostly near the front, where headers and tables steer parsing.
            let span = if rng.next() & 1 == 0 {
                8192.min(b.len())
            } else {
                b.len()
            };
            for _ in 0..1 + rng.next() % 8 {
                let at = (rng.next() as usize) % span;
                b[at] = match rng.next() % 3 {
                    0 => 0xff,
                    1 => 0,
                    _ => rng.next() as u8,
                };
            }
            if rng.next() & 3 == 0 {
                b.truncate((rng.next() as usize) % d.len());
            }
            if let Ok(e) = parse(&b) {
                parsed += 1;
                let _ = e.exports().count();
                for p in &e.plt {
                    let _ = e.bytes_at(&b, p.addr, 16);
                }
            }
        }
        assert!(parsed > rounds / 10, "{path}: {parsed} of {rounds}");
    }
}

/// Replays inputs saved by the fuzzer (crates/elf/fuzz/regressions).
#[test]
fn fuzz_regressions_replay() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let Ok(rd) = std::fs::read_dir(&dir) else {
        eprintln!("no fuzz regressions at {}", dir.display());
        return;
    };
    for entry in rd.flatten() {
        let p = entry.path();
        if p.extension().is_some_and(|e| e == "md") {
            continue;
        }
        let data = std::fs::read(&p).unwrap();
        let _ = parse(&data);
    }
}

#[test]
fn ibt_plt_sec_mapping() {
    // An IBT-enabled library (.plt lazy stubs with push, .plt.sec, 16-byte .plt.got).
    let path = "/usr/lib/google-cloud-sdk/platform/google_appengine/google/appengine/tools/java/jetty94/jetty-home/lib/setuid/libsetuid-linux.so";
    let Some(d) = std::path::Path::new(path)
        .exists()
        .then(|| load(path))
        .flatten()
    else {
        eprintln!("skipping: no .plt.sec sample at {path}");
        return;
    };
    let e = parse(&d).unwrap();
    let sec = e.section(".plt.sec").unwrap();
    let in_sec: Vec<_> = e
        .plt
        .iter()
        .filter(|p| p.addr >= sec.addr && p.addr < sec.addr + sec.size)
        .collect();
    assert_eq!(in_sec.len(), 18);
    let getpwuid = in_sec
        .iter()
        .find(|p| p.name() == Some("getpwuid"))
        .unwrap();
    assert_eq!(getpwuid.addr, 0x1180);
    assert_eq!(getpwuid.got, 0x5028);
    // The lazy .plt stub for the same slot is found through its push index.
    assert!(e
        .plt
        .iter()
        .any(|p| p.got == 0x5028 && p.addr < sec.addr && p.name() == Some("getpwuid")));
}

#[test]
fn malformed_fde_is_skipped_and_counted() {
    let Some(d) = load(LIBC) else { return };
    let full = parse(&d).unwrap();
    let eh = full.section(".eh_frame").unwrap();
    let mut b = d.clone();
    // Walk the raw entries and break the CIE pointer of the 10th and 20th FDEs.
    let (mut off, end) = (eh.offset as usize, (eh.offset + eh.size) as usize);
    let mut nfde = 0;
    let mut broken = 0;
    while off + 8 <= end {
        let len = u32::from_le_bytes(b[off..off + 4].try_into().unwrap()) as usize;
        if len == 0 {
            break;
        }
        let id = u32::from_le_bytes(b[off + 4..off + 8].try_into().unwrap());
        if id != 0 {
            nfde += 1;
            if nfde == 10 || nfde == 20 {
                b[off + 4..off + 8].copy_from_slice(&0x7fff_fff0u32.to_le_bytes());
                broken += 1;
            }
        }
        off += 4 + len;
    }
    assert_eq!(broken, 2);
    let e = parse(&b).unwrap();
    assert_eq!(e.eh_frame_errors, 2);
    assert_eq!(e.fdes.len(), full.fdes.len() - 2);
}

#[test]
fn i386_rel_implicit_addends() {
    let path = "/usr/lib/perf-core/perf-read-vdso32";
    let Some(d) = std::path::Path::new(path)
        .exists()
        .then(|| load(path))
        .flatten()
    else {
        eprintln!("skipping: no 32-bit sample at {path}");
        return;
    };
    let e = parse(&d).unwrap();
    assert!(!e.class64);
    assert_eq!(e.machine, Machine::Other(object::elf::EM_386));
    assert_eq!(e.interp.as_deref(), Some("/lib/ld-linux.so.2"));
    assert_eq!(e.needed, vec!["libc.so.6"]);
    let rel: Vec<_> = e
        .relocations
        .iter()
        .filter(|r| r.kind == RelocKind::Relative)
        .collect();
    assert_eq!(rel.len(), 4);
    // REL: addends come from the patched words, which hold link-time addresses.
    assert!(rel
        .iter()
        .all(|r| r.addend > 0 && e.segment_of(r.addend as u64).is_some()));
    assert!(e.got_imports.iter().any(|(_, n)| n == "stderr"));
    assert_eq!(e.init_array.len(), 1);
    assert!(e.segment_of(e.init_array[0]).is_some_and(|s| s.exec));
}

#[test]
fn string_budget_bounds_name_allocation() {
    let Some(d) = load("/usr/bin/ls") else { return };
    let full = parse(&d).unwrap();
    assert!(full.warnings.is_empty());
    let e = parse_with_budget(&d, 300).unwrap();
    assert!(
        e.warnings.iter().any(|w| w.contains("string budget")),
        "{:?}",
        e.warnings
    );
    let named = e.dynsyms.iter().filter(|s| !s.name.is_empty()).count();
    assert!(named < full.dynsyms.len() / 2, "{named}");
    // Everything else is still there.
    assert_eq!(e.relocations.len(), full.relocations.len());
    assert_eq!(e.fdes, full.fdes);
}
