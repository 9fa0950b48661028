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
    archive_with(path, entries, gzip_layer, "/bin/x");
}

/// As [`docker_archive`], with `entrypoint` as the image's entrypoint.
fn archive_with(
    path: &Path,
    entries: &[(&str, tar::EntryType, &str, &[u8])],
    gzip_layer: bool,
    entrypoint: &str,
) {
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
    let config = serde_json::json!({"architecture": "amd64", "os": "linux",
        "config": {"Entrypoint": [entrypoint]}, "rootfs": {"type": "layers", "diff_ids": []}})
    .to_string();
    let config = config.as_bytes();
    let manifest = br#"[{"Config":"config.json","RepoTags":["evil:1"],"Layers":["l/layer.tar"]}]"#;
    let f = std::fs::File::create(path).unwrap();
    let mut b = tar::Builder::new(f);
    for (name, body) in [
        ("config.json", config),
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
    profile_fails_archive(archive_entries, gzip, "/bin/x")
}

/// `confine profile` of a docker-archive with these layer entries must exit 1
/// and write nothing; its stderr.
fn profile_fails_archive(
    archive_entries: &[(&str, tar::EntryType, &str, &[u8])],
    gzip: bool,
    entrypoint: &str,
) -> String {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(work.join("out")).unwrap();
    archive_with(&work.join("evil.tar"), archive_entries, gzip, entrypoint);
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

/// The static busybox of this machine (a real program for images that must
/// profile), or None with the reason printed.
fn busybox(test: &str) -> Option<Vec<u8>> {
    match std::fs::read("/bin/busybox") {
        Ok(b) => Some(b),
        Err(e) => {
            eprintln!("SKIP {test}: /bin/busybox (static) cannot be read: {e}");
            None
        }
    }
}

/// `confine profile --json` of an archive made of `entries` (entrypoint
/// `entrypoint`) from inside a fresh folder: exit code, the JSON summary,
/// stderr; asserts that only the profile and its reasons were written.
fn profile_ok(
    entries: &[(&str, tar::EntryType, &str, &[u8])],
    entrypoint: &str,
) -> (i32, serde_json::Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(work.join("out")).unwrap();
    archive_with(&work.join("evil.tar"), entries, false, entrypoint);
    let out = confine()
        .current_dir(&work)
        .env("TMPDIR", &work)
        .args([
            "profile",
            "--json",
            "--no-cache",
            "docker-archive:evil.tar",
            "-o",
            "out/p.json",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let code = out.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 3,
        "expected a profile, got {}: {err}",
        out.status
    );
    let mut names = walk(dir.path());
    names.sort();
    assert_eq!(
        names,
        vec![
            "work",
            "work/evil.tar",
            "work/out",
            "work/out/p.json",
            "work/out/p.json.reasons.json"
        ],
        "unexpected files written"
    );
    let summary = serde_json::from_slice(&out.stdout).unwrap();
    (code, summary, err)
}

/// A host path under the system temp folder that must not come to exist.
fn host_canary(tag: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("confine-canary-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    let _ = std::fs::remove_file(&p);
    p
}

#[test]
fn absolute_entry_names_stay_inside_the_image() {
    let Some(bb) = busybox("absolute_entry_names_stay_inside_the_image") else {
        return;
    };
    let canary = host_canary("abs");
    let canary_name = canary.to_str().unwrap().to_string();
    let (_, summary, _) = profile_ok(
        &[
            ("/bin/x", tar::EntryType::Regular, "", &bb),
            (&canary_name, tar::EntryType::Regular, "", b"pwned"),
        ],
        "/bin/x",
    );
    // The absolute name is a path in the image: /bin/x is its program.
    assert!(summary["programs"].get("/bin/x").is_some(), "{summary}");
    assert!(
        !canary.exists(),
        "{} was written on the host",
        canary.display()
    );
}

#[test]
fn file_through_a_symlink_pointing_out_stays_inside_the_image() {
    let Some(bb) = busybox("file_through_a_symlink_pointing_out_stays_inside_the_image") else {
        return;
    };
    // `escape -> /tmp/canary-dir` then `escape/pwned`: the classic tar
    // escape. The link resolves inside the image root, never on the host.
    let canary = host_canary("dir");
    std::fs::create_dir(&canary).unwrap();
    let target = canary.to_str().unwrap().to_string();
    let (_, summary, _) = profile_ok(
        &[
            ("bin/x", tar::EntryType::Regular, "", &bb),
            ("escape", tar::EntryType::Symlink, &target, b""),
            ("escape/pwned", tar::EntryType::Regular, "", b"pwned"),
            (
                "up",
                tar::EntryType::Symlink,
                "../../../../../../../..",
                b"",
            ),
            ("up/pwned2", tar::EntryType::Regular, "", b"pwned"),
        ],
        "/bin/x",
    );
    assert!(summary["programs"].get("/bin/x").is_some(), "{summary}");
    let left: Vec<_> = std::fs::read_dir(&canary).unwrap().collect();
    assert!(left.is_empty(), "written on the host: {left:?}");
    assert!(!Path::new("/pwned2").exists());
    std::fs::remove_dir(&canary).unwrap();
}

#[test]
fn dotdot_symlink_entrypoint_is_clamped_at_the_image_root() {
    let Some(bb) = busybox("dotdot_symlink_entrypoint_is_clamped_at_the_image_root") else {
        return;
    };
    // bin/x -> ../../../../../../opt/real: `..` stops at the image's `/`, so
    // this is the image's /opt/real (the host has none).
    assert!(!Path::new("/opt/real").exists());
    let (_, summary, _) = profile_ok(
        &[
            ("opt/real", tar::EntryType::Regular, "", &bb),
            (
                "bin/x",
                tar::EntryType::Symlink,
                "../../../../../../opt/real",
                b"",
            ),
        ],
        "/bin/x",
    );
    let programs: Vec<&String> = summary["programs"].as_object().unwrap().keys().collect();
    assert_eq!(programs, vec!["/opt/real"], "{summary}");
}

#[test]
fn device_nodes_are_never_created_nor_read() {
    let Some(bb) = busybox("device_nodes_are_never_created_nor_read") else {
        return;
    };
    let devices: [(&str, tar::EntryType, &str, &[u8]); 3] = [
        ("dev/sda", tar::EntryType::Block, "", b""),
        ("dev/kmsg", tar::EntryType::Char, "", b""),
        ("run/fifo", tar::EntryType::Fifo, "", b""),
    ];
    // Beside a real program: the devices are ignored, the profile is made.
    let mut entries = vec![("bin/x", tar::EntryType::Regular, "", &bb[..])];
    entries.extend(devices);
    let (_, summary, _) = profile_ok(&entries, "/bin/x");
    assert!(summary["programs"].get("/bin/x").is_some(), "{summary}");
    // As the entrypoint: no program, and the error says why.
    let err = profile_fails_with(&devices, "/dev/sda");
    assert!(
        err.contains("no program to analyse") && err.contains("/dev/sda"),
        "{err}"
    );
}

#[test]
fn names_with_newlines_are_one_path() {
    let Some(bb) = busybox("names_with_newlines_are_one_path") else {
        return;
    };
    let (_, summary, err) = profile_ok(
        &[("bin/x\nran /bin/evil", tar::EntryType::Regular, "", &bb)],
        "/bin/x\nran /bin/evil",
    );
    // One program whose name holds the newline, in the summary and in the
    // reasons written beside the profile.
    let programs: Vec<&String> = summary["programs"].as_object().unwrap().keys().collect();
    assert_eq!(programs, vec!["/bin/x\nran /bin/evil"], "{summary}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        summary["loader_diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| !d.to_string().contains("/bin/evil\"")),
        "{summary}"
    );
}

/// As [`profile_fails`], with `entrypoint` as the image's entrypoint.
fn profile_fails_with(entries: &[(&str, tar::EntryType, &str, &[u8])], entrypoint: &str) -> String {
    profile_fails_archive(entries, false, entrypoint)
}

// ------------------------------------------- odd but valid binaries

/// `confine analyze --root ROOT --json PROGRAM`: exit code and the JSON; never a panic.
fn analyze_json(root: &Path, program: &str) -> (i32, serde_json::Value) {
    let out = confine()
        .args(["analyze", "--no-cache", "--json", "--root"])
        .arg(root)
        .arg(program)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    let code = out.status.code().unwrap_or(-1);
    assert!(code == 0 || code == 3, "{}: {err}", out.status);
    (code, serde_json::from_slice(&out.stdout).unwrap())
}

/// Assemble `asm` into a static executable ROOT/bin/NAME with gcc; None
/// (and why) when gcc is missing.
fn assemble(test: &str, root: &Path, name: &str, asm: &str) -> Option<String> {
    if !tool_or_skip(test, "gcc") {
        return None;
    }
    std::fs::create_dir_all(root.join("bin")).unwrap();
    let src = root.join(format!("{name}.s"));
    std::fs::write(&src, asm).unwrap();
    let out = std::process::Command::new("gcc")
        .args(["-nostdlib", "-static", "-no-pie", "-o"])
        .arg(root.join("bin").join(name))
        .arg(&src)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "gcc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(format!("/bin/{name}"))
}

fn syscall_names(v: &serde_json::Value) -> Vec<String> {
    v["syscalls"].as_object().unwrap().keys().cloned().collect()
}

/// Either every syscall in `want` is found, or the result is a wildcard
/// (Docker's default set) with the unresolved site said: never a silent drop.
fn assert_conservative(code: i32, v: &serde_json::Value, want: &[&str]) {
    let names = syscall_names(v);
    if v["wildcard"] == true {
        assert_eq!(code, 3, "{v}");
        let unresolved = v["programs"][0]["unresolved_sites"].as_array().unwrap();
        assert!(!unresolved.is_empty(), "a wildcard without a reason: {v}");
    } else {
        assert_eq!(code, 0, "{v}");
        for w in want {
            assert!(names.iter().any(|n| n == w), "{w} missing: {names:?}");
        }
    }
}

#[test]
fn binary_without_section_headers() {
    let Some(mut bb) = busybox("binary_without_section_headers") else {
        return;
    };
    // Strip the section header table from a copy of the static busybox:
    // e_shoff, e_shnum and e_shstrndx set to 0. It still runs (the loader
    // needs only program headers), but symbols and .eh_frame are gone.
    bb[0x28..0x30].fill(0);
    bb[0x3c..0x40].fill(0);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("bin")).unwrap();
    std::fs::write(dir.path().join("bin/x"), &bb).unwrap();
    let (code, v) = analyze_json(dir.path(), "/bin/x");
    // Conservative: what cannot be resolved without function boundaries
    // makes the program a wildcard, each site a diagnostic.
    assert_conservative(code, &v, &["exit_group", "write", "execve"]);
    let diags = v["programs"][0]["diagnostics"].as_array().unwrap();
    assert!(!diags.is_empty(), "{v}");
}

#[test]
fn huge_symbol_table() {
    let t = "huge_symbol_table";
    let dir = tempfile::tempdir().unwrap();
    // 200 000 function symbols; four of them (reached through the chain of
    // calls from _start) make getpid.
    let n = 200_000;
    let mut asm = String::from(
        ".text\n.globl _start\n.type _start,@function\n_start:\n call f0\n mov $60, %eax\n xor %edi, %edi\n syscall\n.size _start, .-_start\n",
    );
    for i in 0..n {
        asm += &format!(".globl f{i}\n.type f{i},@function\nf{i}:\n");
        if i % 50_000 == 0 {
            asm += " mov $39, %eax\n syscall\n";
            if i + 50_000 < n {
                asm += &format!(" call f{}\n", i + 50_000);
            }
        }
        asm += &format!(" ret\n.size f{i}, .-f{i}\n");
    }
    let Some(prog) = assemble(t, dir.path(), "many", &asm) else {
        return;
    };
    let start = std::time::Instant::now();
    let (code, v) = analyze_json(dir.path(), &prog);
    assert_eq!(code, 0, "{v}");
    let names = syscall_names(&v);
    for w in ["getpid", "exit"] {
        assert!(names.iter().any(|n| n == w), "{w} missing: {names:?}");
    }
    assert!(!names.iter().any(|n| n == "getuid"), "{names:?}");
    assert!(start.elapsed() < std::time::Duration::from_secs(120));
}

#[test]
fn overlapping_functions() {
    let t = "overlapping_functions";
    let dir = tempfile::tempdir().unwrap();
    // `inner` lies inside `outer` (outer falls through into it).
    let asm = "
.text
.globl _start
.type _start,@function
_start:
 call outer
 mov $60, %eax
 xor %edi, %edi
 syscall
.size _start, .-_start
.type outer,@function
outer:
 mov $39, %eax
 syscall
 nop
.type inner,@function
inner:
 mov $102, %eax
 syscall
 ret
.size inner, .-inner
.size outer, .-outer
";
    let Some(prog) = assemble(t, dir.path(), "overlap", asm) else {
        return;
    };
    let (code, v) = analyze_json(dir.path(), &prog);
    assert_conservative(code, &v, &["getpid", "getuid", "exit"]);
    // Found whichever way: the call into outer.
    assert!(syscall_names(&v).iter().any(|n| n == "getpid"), "{v}");
}

#[test]
fn code_in_a_data_section() {
    let t = "code_in_a_data_section";
    let dir = tempfile::tempdir().unwrap();
    // Functions in a writable (and executable) data section, one reached
    // through a pointer, one by a direct call.
    let asm = "
.text
.globl _start
.type _start,@function
_start:
 lea indata(%rip), %rax
 call *%rax
 call indata2
 mov $60, %eax
 xor %edi, %edi
 syscall
.size _start, .-_start
.section .data.code,\"awx\",@progbits
.type indata,@function
indata:
 mov $39, %eax
 syscall
 ret
.size indata, .-indata
.type indata2,@function
indata2:
 mov $102, %eax
 syscall
 ret
.size indata2, .-indata2
";
    let Some(prog) = assemble(t, dir.path(), "codedata", asm) else {
        return;
    };
    let (code, v) = analyze_json(dir.path(), &prog);
    assert_conservative(code, &v, &["getpid", "getuid", "exit"]);
}

/// `--limit NAME=VALUE` lowers or raises any reader's limit: a symlink chain
/// of three hops passes by default, fails naming `max_symlink_hops` when the
/// limit is lowered to 2, and passes again when raised; an unknown name or a
/// bad value is a usage error (exit 2) listing the limits.
#[test]
fn limits_are_named_and_can_be_raised() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    let Ok(sh) = std::fs::read("/bin/busybox") else {
        println!(
            "skip limits_are_named_and_can_be_raised: /bin/busybox (busybox-static) not installed"
        );
        return;
    };
    std::fs::write(root.join("bin/real"), sh).unwrap();
    std::os::unix::fs::symlink("real", root.join("bin/a")).unwrap();
    std::os::unix::fs::symlink("a", root.join("bin/b")).unwrap();
    std::os::unix::fs::symlink("b", root.join("bin/c")).unwrap();
    let image = format!("rootfs:{}", root.display());
    let run = |extra: &[&str]| {
        let mut c = confine();
        c.args(["inspect", "--json", "--entrypoint", "/bin/c", &image]);
        c.args(extra);
        c.output().unwrap()
    };
    let ok = run(&[]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("/bin/real"));
    // Reported as the entrypoint's diagnostic, naming the limit.
    let low = run(&["--limit", "max_symlink_hops=2"]);
    let err = format!(
        "{}{}",
        String::from_utf8_lossy(&low.stdout),
        String::from_utf8_lossy(&low.stderr)
    );
    assert!(err.contains("limit max_symlink_hops"), "{err}");
    assert!(!err.contains("/bin/real"), "{err}");
    let raised = run(&[
        "--limit",
        "max_symlink_hops=2",
        "--limit",
        "max_symlink_hops=8",
    ]);
    assert!(
        raised.status.success(),
        "{}",
        String::from_utf8_lossy(&raised.stderr)
    );
    assert!(String::from_utf8_lossy(&raised.stdout).contains("/bin/real"));
    for bad in ["max_bogus=1", "max_entries=lots", "max_entries"] {
        let o = run(&["--limit", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}");
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(e.contains("--limit") && e.contains(bad), "{bad}: {e}");
    }
    let help = confine()
        .args(["--limit", "help", "inspect", "x"])
        .output()
        .unwrap();
    assert!(help.status.success());
    let h = String::from_utf8_lossy(&help.stdout);
    assert!(
        h.contains("max_layer_bytes")
            && h.contains("max_instructions")
            && h.contains("max_objects_per_program")
    );
}
