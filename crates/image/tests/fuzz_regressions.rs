//! Replays every input saved in `crates/image/fuzz/regressions` through the fuzz targets'
//! own entry points (`fuzz/entry.rs`): none may panic. A file named `archive-*` goes to
//! the archive target, any other to the layer tar target.

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
        let name = p.file_name().unwrap().to_string_lossy();
        if name.starts_with("archive") {
            entry::archive(&data);
        } else {
            entry::layer_tar(&data);
        }
    }
}

/// The checksum fix-up the targets use really produces tars the reader accepts: a header
/// with a zeroed checksum field is rejected as is and applied once flag bit 0 is set.
#[test]
fn checksum_fixup_reaches_entries() {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(5);
    h.set_mode(0o755);
    h.set_cksum();
    b.append_data(&mut h, "bin/x", &b"hello"[..]).unwrap();
    let mut tar = b.into_inner().unwrap();
    tar[148..156].copy_from_slice(b"0000000\0");
    let mut root = confine_image::Vroot::with_limits(entry::limits());
    assert!(root.apply_layer_tar(&tar[..], "bad").is_err());
    let mut fixed = tar.clone();
    entry::fix_tar_checksums(&mut fixed);
    let mut root = confine_image::Vroot::with_limits(entry::limits());
    root.apply_layer_tar(&fixed[..], "fixed").unwrap();
    assert_eq!(&*root.read("/bin/x").unwrap(), b"hello");
    // and through the entry point itself (flag byte 1)
    let mut input = vec![1u8];
    input.extend_from_slice(&tar);
    entry::layer_tar(&input);
}
