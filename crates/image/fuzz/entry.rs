//! Entry points shared by the image fuzz targets and by the regression replay
//! (`crates/image/tests/fuzz_regressions.rs`), so a saved input runs exactly as it did in
//! the fuzzer.
//!
//! Input layout: the first byte holds flags, the rest is the tar (or archive) bytes.
//! - bit 0: rewrite the header checksum of every tar header block the walk finds, so the
//!   mutator gets past checksum checks into the entry handling;
//! - bit 1 (archive only): open as `oci-archive:` instead of `docker-archive:`.
//!
//! Building by hand (cargo-fuzz does the same), from this folder:
//! ```text
//! RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
//!   -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
//!   -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks" \
//!   cargo +nightly build --release --target x86_64-unknown-linux-gnu --bins
//! target/x86_64-unknown-linux-gnu/release/layer_tar corpus/layer_tar -max_len=65536
//! ```
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};

use confine_image::{Limits, OpenOptions, Vroot};

/// Small limits so the fuzzer explores limit checks instead of allocating.
pub fn limits() -> Limits {
    Limits {
        max_layer_bytes: 1 << 20,
        max_image_bytes: 4 << 20,
        max_entries: 2_000,
        max_path_len: 256,
        max_symlink_hops: 8,
        max_file_bytes: 1 << 20,
        max_retained_bytes: 4 << 20,
        retain_small_bytes: 4 << 10,
        max_json_bytes: 64 << 10,
        max_layers: 8,
    }
}

/// One layer tar applied to a fresh root.
pub fn layer_tar(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let mut tar = rest.to_vec();
    if flags & 1 != 0 {
        fix_tar_checksums(&mut tar);
    }
    let mut root = Vroot::with_limits(limits());
    if root.apply_layer_tar(&tar[..], "sha256:fuzz").is_ok() {
        walk(&root);
        // a second layer on top: whiteouts and replacements against existing nodes
        if root.apply_layer_tar(&tar[..], "sha256:fuzz2").is_ok() {
            walk(&root);
        }
    }
}

/// A docker-save or OCI archive, written to a temporary file and opened.
pub fn archive(data: &[u8]) {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let mut tar = rest.to_vec();
    if flags & 1 != 0 {
        fix_tar_checksums(&mut tar);
    }
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        std::path::PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let path = dir.join(format!(
        "confine-fuzz-archive-{}-{}.tar",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    if std::fs::write(&path, &tar).is_err() {
        return;
    }
    let transport = if flags & 2 != 0 {
        "oci-archive"
    } else {
        "docker-archive"
    };
    let opts = OpenOptions {
        limits: limits(),
        ..OpenOptions::default()
    };
    let result = confine_image::open(&format!("{transport}:{}", path.display()), &opts);
    let _ = std::fs::remove_file(&path);
    if let Ok(img) = result {
        walk(&img.root);
    }
}

/// Every query a reader makes, on every node (bounded).
fn walk(root: &Vroot) {
    for (path, meta) in root.files().into_iter().take(4_000) {
        let _ = root.canonicalize(&path);
        let _ = root.resolve_parent(&path);
        let _ = root.metadata(&path);
        let _ = root.symlink_metadata(&path);
        let _ = root.exists(&path);
        let _ = root.has_content(&path);
        if meta.is_symlink() {
            let _ = root.read_link(&path);
        }
        if meta.is_dir() {
            let _ = root.read_dir(&path);
        }
        let _ = root.read(&path);
        let _ = root.canonicalize(&format!("{path}/../x/./../.."));
    }
    let _ = root.read_dir("/");
    let _ = root.canonicalize("/../../etc/../bin/sh");
    let _ = root.node_count();
    let _ = root.retained_bytes();
}

/// Parse an octal (or base-256) tar number field.
fn tar_number(field: &[u8]) -> u64 {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        return field
            .iter()
            .skip(1)
            .fold(0u64, |a, &b| a.saturating_mul(256).saturating_add(b.into()));
    }
    let mut v = 0u64;
    for &b in field.iter().skip_while(|b| **b == b' ') {
        if !(b'0'..=b'7').contains(&b) {
            break;
        }
        v = v.saturating_mul(8).saturating_add(u64::from(b - b'0'));
    }
    v
}

/// Walk the tar's header blocks and rewrite each checksum field to match its block.
pub fn fix_tar_checksums(tar: &mut [u8]) {
    let mut off = 0usize;
    for _ in 0..10_000 {
        let Some(block) = off.checked_add(512).and_then(|end| tar.get_mut(off..end)) else {
            return;
        };
        if block.iter().all(|&b| b == 0) {
            off += 512;
            continue;
        }
        let size = block.get(124..136).map_or(0, tar_number);
        if let Some(sum) = block.get_mut(148..156) {
            sum.fill(b' ');
        }
        let total: u32 = block.iter().map(|&b| u32::from(b)).sum();
        let text = format!("{total:06o}\0 ");
        if let Some(sum) = block.get_mut(148..156) {
            sum.copy_from_slice(text.as_bytes().get(..8).unwrap_or(b"000000\0 "));
        }
        let padded = size.div_ceil(512).saturating_mul(512);
        let Some(next) = usize::try_from(padded)
            .ok()
            .and_then(|p| off.checked_add(512)?.checked_add(p))
        else {
            return;
        };
        off = next;
    }
}
