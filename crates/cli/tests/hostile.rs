//! Hostile images through the whole CLI: each gives its specific error, exit
//! code 1, and nothing is written anywhere but the output folder (which stays
//! empty, since no profile can be made).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns; a panic is a test failure

mod util;
use std::io::Write;
use std::path::Path;
use util::*;

/// A legacy `docker save` archive with one layer made of `entries`
/// (name, type, link target, body) written with raw tar headers, so names
/// like `../x` reach the reader as they are.
fn docker_archive(path: &Path, entries: &[(&str, tar::EntryType, &str, &[u8])], gzip_layer: bool) {
    let mut layer = Vec::new();
    {
        let mut b = tar::Builder::new(&mut layer);
        for (name, kind, link, body) in entries {
            let mut h = tar::Header::new_old();
            {
                let raw = h.as_old_mut();
                let n = name.as_bytes();
                raw.name[..n.len()].copy_from_slice(n);
                let l = link.as_bytes();
                raw.linkname[..l.len()].copy_from_slice(l);
            }
            h.set_entry_type(*kind);
            h.set_mode(0o755);
            h.set_size(body.len() as u64);
            h.set_cksum();
            b.append(&h, *body).unwrap();
        }
        b.finish().unwrap();
    }
    if gzip_layer {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&layer).unwrap();
        let gz = e.finish().unwrap();
        // Truncate the compressed stream in the middle.
        layer = gz[..gz.len() / 2].to_vec();
    }
    let config = br#"{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/bin/x"]},"rootfs":{"type":"layers","diff_ids":[]}}"#;
    let manifest = br#"[{"Config":"config.json","RepoTags":["evil:1"],"Layers":["l/layer.tar"]}]"#;
    let f = std::fs::File::create(path).unwrap();
    let mut b = tar::Builder::new(f);
    for (name, body) in [
        ("config.json", &config[..]),
        ("l/layer.tar", &layer[..]),
        ("manifest.json", &manifest[..]),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, body).unwrap();
    }
    b.finish().unwrap();
}

/// Run `confine profile` on the archive from inside a fresh folder; return stderr.
fn profile_fails(archive_entries: &[(&str, tar::EntryType, &str, &[u8])], gzip: bool) -> String {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let out_dir = work.join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let archive = work.join("evil.tar");
    docker_archive(&archive, archive_entries, gzip);
    let out = confine()
        .current_dir(&work)
        .args([
            "profile",
            "--quiet",
            "--no-cache",
            "docker-archive:evil.tar",
            "-o",
            "out/p.json",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "expected failure, got {}",
        out.status
    );
    // Nothing written: the folder holds what the test put there, and nothing escaped to its parent.
    let mut names: Vec<String> = walk(dir.path());
    names.sort();
    assert_eq!(
        names,
        vec!["work", "work/evil.tar", "work/out"],
        "unexpected files written"
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn walk(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            }
        }
    }
    out
}

#[test]
fn dotdot_names_escape_error() {
    let err = profile_fails(
        &[("../../escaped", tar::EntryType::Regular, "", b"x")],
        false,
    );
    assert!(err.contains("escapes the image root"), "{err}");
}

#[test]
fn hard_link_out_of_the_root_error() {
    let err = profile_fails(
        &[("bin/x", tar::EntryType::Link, "../../../etc/passwd", b"")],
        false,
    );
    assert!(err.contains("hard link"), "{err}");
}

#[test]
fn invalid_whiteout_error() {
    let err = profile_fails(&[(".wh..", tar::EntryType::Regular, "", b"")], false);
    assert!(err.contains("invalid whiteout"), "{err}");
}

#[test]
fn truncated_gzip_layer_error() {
    let err = profile_fails(
        &[("bin/x", tar::EntryType::Regular, "", &[7u8; 100_000])],
        true,
    );
    assert!(err.contains("truncated or corrupt"), "{err}");
}

#[test]
fn absolute_symlink_entrypoint_stays_inside_the_root() {
    // /bin/x -> /etc/passwd resolves inside the image (which has no such
    // file): the program cannot be loaded, reported as a diagnostic, never the host's file.
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a.tar");
    docker_archive(
        &archive,
        &[("bin/x", tar::EntryType::Symlink, "/etc/passwd", b"")],
        false,
    );
    let out = run_ok(&[
        "inspect",
        "--json",
        "--quiet",
        &format!("docker-archive:{}", archive.display()),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("NotExecutable") || text.contains("broken symlink"),
        "{text}"
    );
    assert!(!text.contains("root:x:0:0"), "{text}");
}
