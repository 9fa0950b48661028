//! End-to-end closure tests on the host root and on synthetic in-memory roots.

use crate::fs::testfs::{HostRoot, MemFs};
use crate::fs::{FileSystem, Kind};
use crate::{build_closure, Closure, DiagKind, Limits, Program, Reason, Roots, SearchRule};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Paths `ldd` prints for `exe`, canonicalized on the host (vdso dropped).
fn ldd(exe: &str) -> Option<BTreeSet<String>> {
    ldd_list(exe).map(|v| v.into_iter().collect())
}

/// Same, in ldd's (link map) order.
fn ldd_list(exe: &str) -> Option<Vec<String>> {
    let out = std::process::Command::new("ldd").arg(exe).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut set = Vec::new();
    for line in text.lines() {
        let path = match line.split_once("=>") {
            Some((_, r)) => r.split_whitespace().next().unwrap_or(""),
            None => line.split_whitespace().next().unwrap_or(""),
        };
        if path.starts_with('/') {
            set.push(
                std::fs::canonicalize(path)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
    Some(set)
}

fn paths(c: &Closure, idx: &[usize]) -> Vec<String> {
    idx.iter().map(|&i| c.objects[i].path.clone()).collect()
}

fn prog<'c>(c: &'c Closure, path: &str) -> &'c Program {
    c.programs
        .iter()
        .find(|p| p.path == path)
        .unwrap_or_else(|| panic!("no program {path}: {:?}", c.diagnostics))
}

#[test]
fn host_programs_match_ldd() {
    for exe in [
        "/usr/sbin/nginx",
        "/usr/bin/curl",
        "/usr/bin/python3.11",
        "/usr/bin/redis-server",
    ] {
        if !std::path::Path::new(exe).exists() {
            eprintln!("skip {exe}: not installed");
            continue;
        }
        let Some(want) = ldd(exe) else {
            eprintln!("skip: ldd not runnable");
            return;
        };
        let roots = Roots {
            extra: vec![exe.into()],
            ..Roots::default()
        };
        let t = std::time::Instant::now();
        let c = build_closure(&HostRoot, &roots, &Limits::default());
        let canon = std::fs::canonicalize(exe)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let p = prog(&c, &canon);
        let got: BTreeSet<String> = paths(&c, &p.load_order).into_iter().skip(1).collect();
        assert_eq!(got, want, "{exe}");
        // Same order as the link map ldd walks (ld.so's own position aside).
        let not_ld = |x: &String| !x.contains("/ld-linux");
        let order: Vec<String> = paths(&c, &p.load_order)
            .into_iter()
            .skip(1)
            .filter(not_ld)
            .collect();
        let ldd_order: Vec<String> = ldd_list(exe).unwrap().into_iter().filter(not_ld).collect();
        assert_eq!(order, ldd_order, "{exe}");
        assert_eq!(p.load_order.len(), p.load_reasons.len());
        assert_eq!(p.why, vec![Reason::UserListed]);
        // ld.so is where libc's DT_NEEDED puts it, PT_INTERP is recorded.
        let interp = p.interp.unwrap();
        assert!(c.objects[interp].path.ends_with("ld-linux-x86-64.so.2"));
        assert!(p.load_order.contains(&interp));
        // every library was found by the cache on this host (or is ld.so itself)
        for r in p.load_reasons.iter().skip(1) {
            match r {
                Reason::Needed { rule, .. } => assert!(
                    matches!(rule, SearchRule::LdSoCache | SearchRule::Absolute),
                    "{r:?}"
                ),
                other => panic!("{other:?}"),
            }
        }
        let unresolved_strong = p
            .bindings
            .iter()
            .filter(|b| b.to.is_none() && !b.weak && p.load_order.contains(&b.from))
            .count();
        assert_eq!(unresolved_strong, 0, "{exe}: {:?}", c.diagnostics);
        eprintln!(
            "{exe}: {} objects in load order, {} run-time, {} bindings, {} diagnostics, {:?}",
            p.load_order.len(),
            p.runtime_loaded.len(),
            p.bindings.len(),
            c.diagnostics.len(),
            t.elapsed()
        );
    }
}

#[test]
fn bindings_and_versions_on_curl() {
    let roots = Roots {
        extra: vec!["/usr/bin/curl".into()],
        ..Roots::default()
    };
    let c = build_closure(&HostRoot, &roots, &Limits::default());
    let p = &c.programs[0];
    let exe = p.load_order[0];
    let libc = c
        .objects
        .iter()
        .position(|o| o.path.ends_with("/libc.so.6"))
        .unwrap();
    let b = p
        .bindings
        .iter()
        .find(|b| b.from == exe && b.symbol == "curl_easy_init")
        .unwrap();
    assert!(c.objects[b.to.unwrap().0].path.contains("libcurl.so.4"));
    // Every binding target really defines the symbol (with the asked version when set).
    for b in p.bindings.iter().filter(|b| b.to.is_some()).take(2000) {
        let (o, addr) = b.to.unwrap();
        let defs: Vec<_> = c.objects[o]
            .facts
            .dynsyms
            .iter()
            .filter(|s| s.name == b.symbol && s.addr == addr && s.defined)
            .collect();
        assert!(!defs.is_empty(), "{b:?}");
        if let Some(v) = &b.version {
            assert!(
                defs.iter()
                    .any(|d| d.version.as_ref().is_none_or(|dv| dv == v)),
                "{b:?} {defs:?}"
            );
        }
    }
    // memcpy imported by libcurl or curl binds to libc's IFUNC at GLIBC_2.14.
    let m = p
        .bindings
        .iter()
        .find(|b| b.symbol == "memcpy" && b.version.as_deref() == Some("GLIBC_2.14"))
        .unwrap();
    assert_eq!(m.to.unwrap().0, libc);
    assert!(m.ifunc);
}

/// Overlay of in-memory files over the host root (for synthetic configs over real libs).
struct Overlay(MemFs);
impl FileSystem for Overlay {
    fn canonicalize(&self, path: &str) -> Result<String, String> {
        self.0
            .canonicalize(path)
            .or_else(|_| HostRoot.canonicalize(path))
    }
    fn read(&self, path: &str) -> Result<Arc<[u8]>, String> {
        self.0.read(path).or_else(|_| HostRoot.read(path))
    }
    fn kind(&self, path: &str) -> Option<Kind> {
        self.0.kind(path).or_else(|| HostRoot.kind(path))
    }
    fn is_symlink(&self, path: &str) -> bool {
        self.0.is_symlink(path) || HostRoot.is_symlink(path)
    }
    fn mode(&self, path: &str) -> Option<u32> {
        self.0.mode(path).or_else(|| HostRoot.mode(path))
    }
    fn read_dir(&self, path: &str) -> Result<Vec<String>, String> {
        self.0.read_dir(path).or_else(|_| HostRoot.read_dir(path))
    }
    fn files(&self) -> Vec<(String, u32)> {
        self.0.files()
    }
}

#[test]
fn nss_modules_for_nginx() {
    let mut m = MemFs::new();
    m.file("/etc/nsswitch.conf", &b"passwd: files systemd\ngroup: files [NOTFOUND=return] compat\nhosts: files dns mymachines\n"[..], 0o644);
    let fs = Overlay(m);
    let roots = Roots {
        entrypoint: vec!["nginx".into(), "-g".into(), "daemon off;".into()],
        ..Roots::default()
    };
    let c = build_closure(&fs, &roots, &Limits::default());
    let p = prog(&c, "/usr/sbin/nginx");
    assert_eq!(
        p.why,
        vec![
            Reason::Entrypoint,
            Reason::PathLookup {
                name: "nginx".into(),
                dir: "/usr/sbin".into()
            }
        ]
    );
    let nss: Vec<(String, String, String)> = p
        .runtime_loaded
        .iter()
        .filter_map(|(o, r)| match r {
            Reason::Nss { service, database } => Some((
                c.objects[*o].path.clone(),
                service.clone(),
                database.clone(),
            )),
            _ => None,
        })
        .collect();
    // nginx imports getpwnam / getgrnam: passwd + group databases, not hosts.
    assert!(
        nss.iter()
            .any(|(p, s, d)| p.ends_with("/libnss_systemd.so.2")
                && s == "systemd"
                && d == "passwd"),
        "{nss:?}"
    );
    assert!(
        nss.iter()
            .any(|(p, s, _)| p.ends_with("/libnss_compat.so.2") && s == "compat"),
        "{nss:?}"
    );
    assert!(
        nss.iter()
            .any(|(p, s, _)| p.ends_with("/libnss_files.so.2") && s == "files"),
        "{nss:?}"
    );
    assert!(!nss.iter().any(|(_, s, _)| s == "mymachines"), "{nss:?}");
    // libnss_systemd's own dependencies are loaded with it (libcap? at least something new or shared)
    let sysd = c
        .objects
        .iter()
        .position(|o| o.path.ends_with("/libnss_systemd.so.2"))
        .unwrap();
    assert!(p.bindings.iter().any(|b| b.from == sysd && b.to.is_some()));
    // libc dlopens libgcc_s for unwinding.
    assert!(p
        .runtime_loaded
        .iter()
        .any(|(o, r)| matches!(r, Reason::Dlopen { .. })
            && c.objects[*o].path.contains("libgcc_s.so.1")));
}

/// A minimal ELF shared object: PT_LOAD + PT_DYNAMIC with the given dynamic strings.
pub(crate) fn mk_so(
    soname: Option<&str>,
    needed: &[&str],
    rpath: Option<&str>,
    runpath: Option<&str>,
) -> Vec<u8> {
    mk_obj(None, soname, needed, rpath, runpath)
}

/// A minimal ELF object: PT_LOAD, PT_DYNAMIC and optionally PT_INTERP (all vaddr == offset).
pub(crate) fn mk_obj(
    interp: Option<&str>,
    soname: Option<&str>,
    needed: &[&str],
    rpath: Option<&str>,
    runpath: Option<&str>,
) -> Vec<u8> {
    let mut strtab = vec![0u8];
    let mut add = |s: &str| {
        let off = strtab.len() as u64;
        strtab.extend_from_slice(s.as_bytes());
        strtab.push(0);
        off
    };
    let mut dyns: Vec<(u64, u64)> = Vec::new();
    for n in needed {
        dyns.push((1, add(n)));
    }
    if let Some(s) = soname {
        dyns.push((14, add(s)));
    }
    if let Some(r) = rpath {
        dyns.push((15, add(r)));
    }
    if let Some(r) = runpath {
        dyns.push((29, add(r)));
    }
    let nph = if interp.is_some() { 3u64 } else { 2 };
    let phoff = 64u64;
    let dynoff = phoff + nph * 56;
    let ndyn = dyns.len() as u64 + 3;
    let stroff = dynoff + ndyn * 16;
    dyns.push((5, stroff)); // DT_STRTAB (vaddr == offset)
    dyns.push((10, strtab.len() as u64)); // DT_STRSZ
    dyns.push((0, 0));
    let interp_off = stroff + strtab.len() as u64;
    let interp_bytes: Vec<u8> = interp
        .map(|i| [i.as_bytes(), b"\0"].concat())
        .unwrap_or_default();
    let total = interp_off + interp_bytes.len() as u64;
    let mut b = Vec::new();
    b.extend_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
    b.extend_from_slice(&3u16.to_le_bytes()); // ET_DYN
    b.extend_from_slice(&62u16.to_le_bytes()); // x86-64
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&0u64.to_le_bytes()); // entry
    b.extend_from_slice(&phoff.to_le_bytes());
    b.extend_from_slice(&0u64.to_le_bytes()); // shoff
    b.extend_from_slice(&0u32.to_le_bytes());
    for v in [64u16, 56, nph as u16, 64, 0, 0] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    let ph = |b: &mut Vec<u8>, t: u32, off: u64, sz: u64| {
        b.extend_from_slice(&t.to_le_bytes());
        b.extend_from_slice(&4u32.to_le_bytes());
        for v in [off, off, off, sz, sz, 8] {
            b.extend_from_slice(&v.to_le_bytes());
        }
    };
    ph(&mut b, 1, 0, total);
    ph(&mut b, 2, dynoff, ndyn * 16);
    if interp.is_some() {
        ph(&mut b, 3, interp_off, interp_bytes.len() as u64);
    }
    for (t, v) in dyns {
        b.extend_from_slice(&t.to_le_bytes());
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(&strtab);
    b.extend_from_slice(&interp_bytes);
    b
}

/// A 32-bit i386 ELF header only.
fn mk_elf32() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(b"\x7fELF\x01\x01\x01\0\0\0\0\0\0\0\0\0");
    b.extend_from_slice(&3u16.to_le_bytes());
    b.extend_from_slice(&3u16.to_le_bytes()); // EM_386
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&[0u8; 12]);
    b.extend_from_slice(&0u32.to_le_bytes());
    for v in [52u16, 32, 0, 40, 0, 0] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b
}

/// An executable whose PT_INTERP (/lib64/ld-linux-x86-64.so.2) is absent from the root:
/// the closure is still built, with a diagnostic.
fn synthetic_exe(needed: &[&str], rpath: Option<&str>, runpath: Option<&str>) -> Vec<u8> {
    mk_obj(
        Some("/lib64/ld-linux-x86-64.so.2"),
        None,
        needed,
        rpath,
        runpath,
    )
}

fn closure_of(m: &MemFs, exe: &str, env: &[&str]) -> Closure {
    let roots = Roots {
        extra: vec![exe.into()],
        env: env.iter().map(|s| s.to_string()).collect(),
        ..Roots::default()
    };
    build_closure(m, &roots, &Limits::default())
}

fn rule_of(c: &Closure, p: &Program, path: &str) -> SearchRule {
    let i = p
        .load_order
        .iter()
        .position(|&o| c.objects[o].path == path)
        .unwrap_or_else(|| panic!("{path} not loaded: {:?}", c.diagnostics));
    match &p.load_reasons[i] {
        Reason::Needed { rule, .. } => *rule,
        r => panic!("{r:?}"),
    }
}

#[test]
fn rpath_runpath_origin_precedence() {
    let mut m = MemFs::new();
    m.file(
        "/app/bin/exe",
        synthetic_exe(&["liba.so", "libb.so"], Some("/rp"), None),
        0o755,
    )
    .file(
        "/rp/liba.so",
        mk_so(Some("liba.so"), &["libc1.so"], None, Some("$ORIGIN/../run")),
        0o644,
    )
    .file(
        "/llp/liba.so",
        mk_so(Some("liba.so"), &[], None, None),
        0o644,
    )
    // libc1.so: found through liba's RUNPATH ($ORIGIN) even though the exe RPATH has one:
    // a requester with RUNPATH ignores RPATHs.
    .file(
        "/rp/libc1.so",
        mk_so(Some("libc1.so"), &[], None, None),
        0o644,
    )
    .file(
        "/run/libc1.so",
        mk_so(Some("libc1.so"), &["libd.so"], None, None),
        0o644,
    )
    // libd.so: needed by libc1 (no RUNPATH) -> RPATH chain reaches the exe's /rp? No: the
    // loader chain is libc1 -> liba (has RUNPATH, contributes no RPATH) -> exe (/rp).
    .file(
        "/rp/libd.so",
        mk_so(Some("libd.so"), &[], None, None),
        0o644,
    )
    .file(
        "/usr/lib/libd.so",
        mk_so(Some("libd.so"), &[], None, None),
        0o644,
    )
    .file(
        "/usr/lib/libb.so",
        mk_so(Some("libb.so"), &[], None, None),
        0o644,
    )
    .file(
        "/lib/x86_64-linux-gnu/libb.so",
        mk_so(Some("libb.so"), &[], None, None),
        0o644,
    );
    let c = closure_of(&m, "/app/bin/exe", &[]);
    let p = &c.programs[0];
    assert_eq!(
        paths(&c, &p.load_order),
        vec![
            "/app/bin/exe",
            "/rp/liba.so",
            "/lib/x86_64-linux-gnu/libb.so",
            "/run/libc1.so",
            "/rp/libd.so"
        ]
    );
    assert_eq!(rule_of(&c, p, "/rp/liba.so"), SearchRule::Rpath);
    assert_eq!(rule_of(&c, p, "/run/libc1.so"), SearchRule::Origin);
    assert_eq!(rule_of(&c, p, "/rp/libd.so"), SearchRule::Rpath);
    assert_eq!(
        rule_of(&c, p, "/lib/x86_64-linux-gnu/libb.so"),
        SearchRule::DefaultDir
    );
    // RPATH beats LD_LIBRARY_PATH; LD_LIBRARY_PATH beats RUNPATH.
    let c = closure_of(&m, "/app/bin/exe", &["LD_LIBRARY_PATH=/llp:/nowhere"]);
    assert_eq!(paths(&c, &c.programs[0].load_order)[1], "/rp/liba.so");
    m.file(
        "/app/bin/exe2",
        synthetic_exe(&["liba.so"], None, Some("/rp")),
        0o755,
    );
    let c = closure_of(&m, "/app/bin/exe2", &["LD_LIBRARY_PATH=/llp"]);
    assert_eq!(
        paths(&c, &c.programs[0].load_order),
        vec!["/app/bin/exe2", "/llp/liba.so"]
    );
    assert_eq!(
        rule_of(&c, &c.programs[0], "/llp/liba.so"),
        SearchRule::LdLibraryPath
    );
    let c = closure_of(&m, "/app/bin/exe2", &[]);
    assert_eq!(
        rule_of(&c, &c.programs[0], "/rp/liba.so"),
        SearchRule::Runpath
    );
    // setuid executables ignore LD_LIBRARY_PATH.
    m.file(
        "/app/bin/exe3",
        synthetic_exe(&["liba.so"], None, Some("/rp")),
        0o4755,
    );
    let c = closure_of(&m, "/app/bin/exe3", &["LD_LIBRARY_PATH=/llp"]);
    assert_eq!(paths(&c, &c.programs[0].load_order)[1], "/rp/liba.so");
}

#[test]
fn missing_broken_wrong_class_and_cache() {
    let mut m = MemFs::new();
    m.file(
        "/bin/exe",
        synthetic_exe(
            &[
                "libgone.so.1",
                "libbroken.so",
                "libz.so.1",
                "libconf.so",
                "libhw.so",
            ],
            None,
            None,
        ),
        0o755,
    )
    .link(
        "/usr/lib/x86_64-linux-gnu/libbroken.so",
        "/nowhere/libbroken.so.1",
    )
    .file("/lib/x86_64-linux-gnu/libz.so.1", mk_elf32(), 0o644)
    .file(
        "/usr/lib/libz.so.1",
        mk_so(Some("libz.so.1"), &[], None, None),
        0o644,
    )
    .file(
        "/etc/ld.so.conf",
        &b"include /etc/ld.so.conf.d/*.conf\n"[..],
        0o644,
    )
    .file("/etc/ld.so.conf.d/x.conf", &b"/opt/conf\n"[..], 0o644)
    .file(
        "/opt/conf/libconf.so",
        mk_so(Some("libconf.so"), &[], None, None),
        0o644,
    )
    .file(
        "/usr/lib/libhw.so",
        mk_so(Some("libhw.so"), &[], None, None),
        0o644,
    )
    .file(
        "/usr/lib/glibc-hwcaps/x86-64-v3/libhw.so",
        mk_so(Some("libhw.so"), &[], None, None),
        0o644,
    );
    let c = closure_of(&m, "/bin/exe", &[]);
    let p = &c.programs[0];
    assert_eq!(
        paths(&c, &p.load_order),
        vec![
            "/bin/exe",
            "/usr/lib/libz.so.1",
            "/opt/conf/libconf.so",
            "/usr/lib/libhw.so"
        ]
    );
    assert_eq!(rule_of(&c, p, "/opt/conf/libconf.so"), SearchRule::LdSoConf);
    let kinds: Vec<(DiagKind, &str)> = c
        .diagnostics
        .iter()
        .map(|d| (d.kind, d.message.as_str()))
        .collect();
    assert!(
        kinds
            .iter()
            .any(|(k, m)| *k == DiagKind::MissingLibrary && m.contains("libgone.so.1")),
        "{kinds:?}"
    );
    // PT_INTERP missing from the root: reported, closure still built.
    assert!(
        kinds
            .iter()
            .any(|(k, m)| *k == DiagKind::MissingLibrary && m.contains("ld-linux-x86-64.so.2")),
        "{kinds:?}"
    );
    assert!(
        kinds
            .iter()
            .any(|(k, m)| *k == DiagKind::BrokenSymlink && m.contains("libbroken.so")),
        "{kinds:?}"
    );
    // the skipped 32-bit file is not kept as an object
    assert!(
        c.objects.iter().all(|o| o.facts.class64),
        "{:?}",
        c.objects.iter().map(|o| &o.path).collect::<Vec<_>>()
    );
    assert!(
        kinds
            .iter()
            .any(|(k, m)| *k == DiagKind::WrongClass
                && m.contains("/lib/x86_64-linux-gnu/libz.so.1")),
        "{kinds:?}"
    );
    let hw: Vec<_> = p
        .runtime_loaded
        .iter()
        .map(|(o, r)| (c.objects[*o].path.as_str(), r.clone()))
        .collect();
    assert!(
        hw.iter().any(
            |(path, r)| *path == "/usr/lib/glibc-hwcaps/x86-64-v3/libhw.so"
                && matches!(
                    r,
                    Reason::Needed {
                        rule: SearchRule::HwcapsSubdir,
                        ..
                    }
                )
        ),
        "{hw:?}"
    );

    // With an ld.so.cache in the image, the cache wins over ld.so.conf and default folders.
    m.file(
        "/opt/cache/libz.so.1",
        mk_so(Some("libz.so.1"), &[], None, None),
        0o644,
    );
    m.file(
        "/etc/ld.so.cache",
        crate::ldcache::tests::build_new(&[(0x0303, "libz.so.1", "/opt/cache/libz.so.1", 0)]),
        0o644,
    );
    let c = closure_of(&m, "/bin/exe", &[]);
    let p = &c.programs[0];
    assert_eq!(
        rule_of(&c, p, "/opt/cache/libz.so.1"),
        SearchRule::LdSoCache
    );
    // no cache entry for libconf.so and ld.so.conf is not read when a cache exists
    assert!(!paths(&c, &p.load_order).contains(&"/opt/conf/libconf.so".to_string()));
}

#[test]
fn scripts_env_and_musl() {
    let mut m = MemFs::new();
    m.file("/usr/bin/env", synthetic_exe(&[], None, None), 0o755)
        .file("/usr/bin/python3", synthetic_exe(&[], None, None), 0o755)
        .file(
            "/app/run.sh",
            &b"#!/usr/bin/env python3\nprint(1)\n"[..],
            0o755,
        )
        .file("/app/wrap", &b"#!/app/run.sh -x\n"[..], 0o755)
        .file("/app/loop", &b"#!/app/loop\n"[..], 0o755)
        .file("/app/text", &b"hello"[..], 0o755);
    let roots = Roots {
        entrypoint: vec!["./wrap".into()],
        workdir: "/app".into(),
        ..Roots::default()
    };
    let c = build_closure(&m, &roots, &Limits::default());
    let names: Vec<&str> = c.programs.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(names, vec!["/usr/bin/env", "/usr/bin/python3"]);
    assert_eq!(
        c.programs[1].why[0],
        Reason::Interpreter {
            script: "/app/run.sh".into()
        }
    );
    let roots = Roots {
        entrypoint: vec!["/app/loop".into()],
        extra: vec!["/app/text".into()],
        ..Roots::default()
    };
    let c = build_closure(&m, &roots, &Limits::default());
    assert!(c.programs.is_empty());
    assert!(c.diagnostics.iter().any(|d| d.kind == DiagKind::Limit));
    assert!(c
        .diagnostics
        .iter()
        .any(|d| d.kind == DiagKind::NotExecutable && d.path == "/app/text"));
}

#[test]
fn musl_rules() {
    let ld = "/lib/ld-musl-x86_64.so.1";
    let mut m = MemFs::new();
    m.file(
        "/bin/app",
        mk_obj(
            Some(ld),
            None,
            &["libc.musl-x86_64.so.1", "libfoo.so", "libbar.so"],
            None,
            Some("/rp"),
        ),
        0o755,
    )
    .file(
        ld,
        mk_so(Some("libc.musl-x86_64.so.1"), &[], None, None),
        0o755,
    )
    .file(
        "/rp/libfoo.so",
        mk_so(
            Some("libfoo.so"),
            &["libc.so", "libpthread.so.0"],
            None,
            None,
        ),
        0o644,
    )
    .file(
        "/llp/libfoo.so",
        mk_so(Some("libfoo.so"), &[], None, None),
        0o644,
    )
    .file(
        "/opt/musl/libbar.so",
        mk_so(Some("libbar.so"), &[], None, None),
        0o644,
    )
    .file(
        "/usr/lib/libbar.so",
        mk_so(Some("libbar.so"), &[], None, None),
        0o644,
    );
    let c = closure_of(&m, "/bin/app", &[]);
    let p = &c.programs[0];
    assert!(p.musl);
    // libc names map to the loader itself; default path /lib:/usr/local/lib:/usr/lib.
    assert_eq!(
        paths(&c, &p.load_order),
        vec!["/bin/app", ld, "/rp/libfoo.so", "/usr/lib/libbar.so"]
    );
    assert_eq!(rule_of(&c, p, "/usr/lib/libbar.so"), SearchRule::MuslPath);
    assert_eq!(rule_of(&c, p, "/rp/libfoo.so"), SearchRule::Runpath);
    // musl searches LD_LIBRARY_PATH before RUNPATH; the path file replaces the default.
    m.file(
        "/etc/ld-musl-x86_64.path",
        &b"/opt/musl\n/usr/lib\n"[..],
        0o644,
    );
    let c = closure_of(&m, "/bin/app", &["LD_LIBRARY_PATH=/llp"]);
    let p = &c.programs[0];
    assert_eq!(
        paths(&c, &p.load_order),
        vec!["/bin/app", ld, "/llp/libfoo.so", "/opt/musl/libbar.so"]
    );
    // no NSS/gconv for musl, and no diagnostics at all here
    assert!(c.diagnostics.is_empty(), "{:?}", c.diagnostics);
}

#[test]
fn preloads_and_dollar_lib() {
    let ld = "/lib64/ld-linux-x86-64.so.2";
    let mut m = MemFs::new();
    m.file(
        "/usr/bin/app",
        mk_obj(Some(ld), None, &["libx.so"], Some("$ORIGIN/../$LIB"), None),
        0o755,
    )
    .file(
        ld,
        mk_so(Some("ld-linux-x86-64.so.2"), &[], None, None),
        0o755,
    )
    .file(
        "/usr/lib/x86_64-linux-gnu/libx.so",
        mk_so(Some("libx.so"), &["ld-linux-x86-64.so.2"], None, None),
        0o644,
    )
    .file("/opt/pre.so", mk_so(Some("pre.so"), &[], None, None), 0o644)
    .file(
        "/usr/lib/libenv.so",
        mk_so(Some("libenv.so"), &[], None, None),
        0o644,
    )
    .file("/etc/ld.so.preload", &b"/opt/pre.so\n"[..], 0o644);
    let c = closure_of(&m, "/usr/bin/app", &["LD_PRELOAD=libenv.so"]);
    let p = &c.programs[0];
    assert_eq!(
        paths(&c, &p.load_order),
        vec![
            "/usr/bin/app",
            "/usr/lib/libenv.so",
            "/opt/pre.so",
            "/usr/lib/x86_64-linux-gnu/libx.so",
            ld
        ]
    );
    assert_eq!(
        p.load_reasons[1],
        Reason::Preload {
            source: "LD_PRELOAD".into()
        }
    );
    assert_eq!(
        p.load_reasons[2],
        Reason::Preload {
            source: "/etc/ld.so.preload".into()
        }
    );
    assert_eq!(
        rule_of(&c, p, "/usr/lib/x86_64-linux-gnu/libx.so"),
        SearchRule::Origin
    );
    // ld.so sits where libx's DT_NEEDED put it, found by name (its soname), not searched again
    assert_eq!(p.interp, Some(p.load_order[4]));
    assert!(c.diagnostics.is_empty(), "{:?}", c.diagnostics);
}

#[test]
fn vroot_host_dir_and_extensions() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("usr/bin")).unwrap();
    std::fs::create_dir_all(d.join("usr/lib/python3.11/lib-dynload")).unwrap();
    std::fs::create_dir_all(d.join("usr/lib/x86_64-linux-gnu")).unwrap();
    std::fs::create_dir_all(d.join("etc")).unwrap();
    std::fs::write(
        d.join("usr/bin/python3.11"),
        mk_obj(
            Some("/lib64/ld-linux-x86-64.so.2"),
            None,
            &["libpy.so"],
            None,
            None,
        ),
    )
    .unwrap();
    std::fs::create_dir_all(d.join("usr/lib64")).unwrap();
    std::os::unix::fs::symlink("usr/lib64", d.join("lib64")).unwrap();
    std::fs::write(
        d.join("usr/lib64/ld-linux-x86-64.so.2"),
        mk_so(Some("ld-linux-x86-64.so.2"), &[], None, None),
    )
    .unwrap();
    std::fs::write(
        d.join("usr/lib/x86_64-linux-gnu/libpy.so"),
        mk_so(Some("libpy.so"), &[], None, None),
    )
    .unwrap();
    std::fs::write(
        d.join("usr/lib/x86_64-linux-gnu/libffi.so.8"),
        mk_so(Some("libffi.so.8"), &[], None, None),
    )
    .unwrap();
    std::fs::write(
        d.join("usr/lib/python3.11/lib-dynload/_ctypes.cpython-311-x86_64-linux-gnu.so"),
        mk_so(None, &["libffi.so.8", "libpy.so"], None, None),
    )
    .unwrap();
    std::os::unix::fs::symlink("python3.11", d.join("usr/bin/python3")).unwrap();
    std::os::unix::fs::symlink("usr/lib", d.join("lib")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        d.join("usr/bin/python3.11"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let root = confine_image::Vroot::from_host_dir(d, &confine_image::Limits::default()).unwrap();
    let roots = Roots {
        entrypoint: vec!["python3".into(), "-c".into(), "print(1)".into()],
        env: vec!["PATH=/usr/bin".into()],
        ..Roots::default()
    };
    let c = build_closure(&root, &roots, &Limits::default());
    let p = prog(&c, "/usr/bin/python3.11");
    assert_eq!(
        paths(&c, &p.load_order),
        vec![
            "/usr/bin/python3.11",
            "/usr/lib/x86_64-linux-gnu/libpy.so",
            "/usr/lib64/ld-linux-x86-64.so.2"
        ]
    );
    let rt: Vec<(String, Reason)> = p
        .runtime_loaded
        .iter()
        .map(|(o, r)| (c.objects[*o].path.clone(), r.clone()))
        .collect();
    assert_eq!(
        rt[0],
        (
            "/usr/lib/python3.11/lib-dynload/_ctypes.cpython-311-x86_64-linux-gnu.so".to_string(),
            Reason::Extension {
                of: "/usr/bin/python3.11".into()
            }
        )
    );
    assert_eq!(rt[1].0, "/usr/lib/x86_64-linux-gnu/libffi.so.8");
    assert_eq!(rt.len(), 2);
    assert!(c.objects.iter().all(|o| o.sha256.len() == 64));
}

#[test]
fn host_busybox_static_and_all_binaries() {
    let mut m = MemFs::new();
    m.host("/bin/busybox", "/bin/busybox")
        .file("/bin/notes.txt", &b"x"[..], 0o755)
        .host("/usr/lib/libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6");
    let roots = Roots {
        all_binaries: true,
        ..Roots::default()
    };
    let c = build_closure(&m, &roots, &Limits::default());
    let names: Vec<&str> = c.programs.iter().map(|p| p.path.as_str()).collect();
    // busybox is static; libc.so.6 (PT_INTERP but a DT_SONAME) is a library.
    assert_eq!(names, vec!["/bin/busybox"]);
    let bb = prog(&c, "/bin/busybox");
    assert_eq!(bb.load_order.len(), 1);
    assert_eq!(bb.interp, None);
    assert_eq!(bb.why, vec![Reason::AllBinaries]);
}

#[test]
fn curl_runtime_loads() {
    let roots = Roots {
        extra: vec!["/usr/bin/curl".into()],
        ..Roots::default()
    };
    let c = build_closure(&HostRoot, &roots, &Limits::default());
    let p = &c.programs[0];
    let unresolved: Vec<_> = c
        .diagnostics
        .iter()
        .filter(|d| d.kind == DiagKind::UnresolvedSymbols)
        .collect();
    assert!(unresolved.is_empty(), "{unresolved:?}");
    // libidn2/libunistring import iconv_open: gconv modules are loadable, with their own
    // dependencies found through $ORIGIN (gconv/libKSC.so etc).
    let gconv = p
        .runtime_loaded
        .iter()
        .filter(|(_, r)| matches!(r, Reason::Gconv { .. }))
        .count();
    assert!(gconv > 100, "{gconv}");
    assert!(p
        .runtime_loaded
        .iter()
        .any(|(o, r)| c.objects[*o].path.ends_with("gconv/libKSC.so")
            && matches!(r, Reason::Needed { .. })));
    // getaddrinfo -> hosts: files dns (libnss_dns exists on this host) and services.
    assert!(p
        .runtime_loaded
        .iter()
        .any(|(_, r)| matches!(r, Reason::Nss { database, .. } if database == "hosts")));
    // libcrypto imports dlopen: an undecided diagnostic names it.
    assert!(c
        .diagnostics
        .iter()
        .any(|d| d.kind == DiagKind::Undecided && d.path.contains("libcrypto.so")));
}

#[test]
fn host_all_binaries_sample_matches_ldd() {
    let roots = Roots {
        all_binaries: true,
        ..Roots::default()
    };
    let t = std::time::Instant::now();
    let c = build_closure(&HostRoot, &roots, &Limits::default());
    let elapsed = t.elapsed();
    let n = c.programs.len();
    assert!(n > 100, "{n}");
    for p in &c.programs {
        assert_eq!(c.objects[p.load_order[0]].path, p.path);
        assert_eq!(p.load_order.len(), p.load_reasons.len());
    }
    // Compare every 15th dynamically linked program with ldd (LDD_STEP=1: all of them).
    let mut compared = 0;
    for p in c.programs.iter().filter(|p| p.interp.is_some()).step_by(
        std::env::var("LDD_STEP")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(15),
    ) {
        let Some(want) = ldd(&p.path) else { return };
        if want.is_empty() {
            continue;
        }
        let got: BTreeSet<String> = paths(&c, &p.load_order).into_iter().skip(1).collect();
        assert_eq!(got, want, "{}", p.path);
        compared += 1;
    }
    eprintln!(
        "{n} programs, {} objects, {} diagnostics in {elapsed:?}; {compared} compared with ldd",
        c.objects.len(),
        c.diagnostics.len()
    );
}

/// Run `docker` with `args`, feeding `stdin`; None when docker is unusable.
fn docker(args: &[&str], stdin: Option<&[u8]>) -> Option<String> {
    use std::io::Write;
    let mut cmd = std::process::Command::new("docker");
    cmd.args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().ok()?;
    if let Some(data) = stdin {
        child.stdin.take()?.write_all(data).ok()?;
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().ok()?;
    if !out.status.success() {
        eprintln!("docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn docker_image_end_to_end() {
    if docker(&["version", "--format", "{{.Server.Version}}"], None).is_none() {
        eprintln!("skip: no usable Docker engine (CI provides one)");
        return;
    }
    let Some(libs) = ldd_list("/usr/sbin/nginx") else {
        eprintln!("skip: ldd not runnable");
        return;
    };
    // An image holding nginx, its libraries at their canonical paths, dash, a #! entrypoint
    // script, Debian's /lib -> usr/lib symlinks and a synthetic nsswitch.conf.
    let mut b = tar::Builder::new(Vec::new());
    let add_file = |b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8], mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path.trim_start_matches('/'), data)
            .unwrap();
    };
    let add_link = |b: &mut tar::Builder<Vec<u8>>, path: &str, target: &str| {
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_mode(0o777);
        h.set_entry_type(tar::EntryType::Symlink);
        b.append_link(&mut h, path.trim_start_matches('/'), target)
            .unwrap();
    };
    for dir in [
        "usr/",
        "usr/lib/",
        "usr/lib64/",
        "usr/bin/",
        "usr/sbin/",
        "etc/",
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_mode(0o755);
        h.set_entry_type(tar::EntryType::Directory);
        b.append_data(&mut h, dir, &[][..]).unwrap();
    }
    add_link(&mut b, "/lib", "usr/lib");
    add_link(&mut b, "/lib64", "usr/lib64");
    add_link(&mut b, "/bin", "usr/bin");
    add_file(
        &mut b,
        "/usr/sbin/nginx",
        &std::fs::read("/usr/sbin/nginx").unwrap(),
        0o755,
    );
    add_file(
        &mut b,
        "/usr/bin/dash",
        &std::fs::read("/usr/bin/dash").unwrap(),
        0o755,
    );
    add_link(&mut b, "/usr/bin/sh", "dash");
    for lib in &libs {
        add_file(&mut b, lib, &std::fs::read(lib).unwrap(), 0o755);
    }
    // soname symlinks (libz.so.1 -> libz.so.1.2.13), as ldconfig leaves them
    let out = std::process::Command::new("ldd")
        .arg("/usr/sbin/nginx")
        .output()
        .unwrap();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some((name, rest)) = line.split_once("=>") else {
            continue;
        };
        let (name, found) = (name.trim(), rest.split_whitespace().next().unwrap_or(""));
        if !found.starts_with('/') {
            continue;
        }
        let canon = std::fs::canonicalize(found)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let dir = crate::fs::dirname(&canon);
        let base = crate::fs::basename(&canon);
        if base != name {
            add_link(&mut b, &format!("{dir}/{name}"), base);
        }
    }
    let ld = libs
        .iter()
        .find(|l| l.contains("/ld-linux"))
        .unwrap()
        .clone();
    add_link(&mut b, "/usr/lib64/ld-linux-x86-64.so.2", &ld);
    add_file(
        &mut b,
        "/docker-entrypoint.sh",
        b"#!/bin/sh\nexec \"$@\"\n",
        0o755,
    );
    add_file(
        &mut b,
        "/etc/nsswitch.conf",
        b"passwd: files\ngroup: files\n",
        0o644,
    );
    let tarball = b.into_inner().unwrap();
    let tag = format!("confine-loader-test/e2e:{}", std::process::id());
    let imported = docker(
        &[
            "import",
            "--change",
            "ENTRYPOINT [\"/docker-entrypoint.sh\"]",
            "--change",
            "CMD [\"nginx\", \"-g\", \"daemon off;\"]",
            "-",
            &tag,
        ],
        Some(&tarball),
    );
    assert!(imported.is_some(), "docker import failed");
    let img = confine_image::open(
        &format!("docker-daemon:{tag}"),
        &confine_image::OpenOptions::default(),
    );
    let _ = docker(&["rmi", "-f", &tag], None);
    let img = img.unwrap();
    let mut argv = img.config.entrypoint.clone();
    argv.extend(img.config.cmd.iter().cloned());
    let roots = Roots {
        entrypoint: argv,
        env: img.config.env.clone(),
        workdir: img.config.workdir.clone(),
        ..Roots::default()
    };
    let c = build_closure(&img.root, &roots, &Limits::default());
    let dash = prog(&c, "/usr/bin/dash");
    assert_eq!(
        dash.why,
        vec![Reason::Interpreter {
            script: "/docker-entrypoint.sh".into()
        }]
    );
    let nginx = prog(&c, "/usr/sbin/nginx");
    assert_eq!(nginx.why[0], Reason::Entrypoint);
    let got: BTreeSet<String> = paths(&c, &nginx.load_order).into_iter().skip(1).collect();
    assert_eq!(got, libs.iter().cloned().collect::<BTreeSet<_>>());
    // No ld.so.cache in this image: everything came from the default folders.
    for r in nginx.load_reasons.iter().skip(1) {
        assert!(
            matches!(
                r,
                Reason::Needed {
                    rule: SearchRule::DefaultDir | SearchRule::Absolute,
                    ..
                }
            ),
            "{r:?}"
        );
    }
    // nsswitch.conf says files only: no NSS module beyond (optional) libnss_files.
    assert!(nginx
        .runtime_loaded
        .iter()
        .all(|(_, r)| !matches!(r, Reason::Nss { service, .. } if service != "files")));
}

#[test]
fn gconv_modules_from_config_and_limits() {
    let ld = "/lib64/ld-linux-x86-64.so.2";
    let mut m = MemFs::new();
    m.host("/usr/bin/iconv", "/usr/bin/iconv")
        .host("/usr/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6")
        .host("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", ld)
        .link("/lib64", "usr/lib/x86_64-linux-gnu")
        .link("/lib", "usr/lib")
        .file(
            "/usr/lib/x86_64-linux-gnu/gconv/gconv-modules",
            &b"# comment\nalias LATIN9// FOO//\nmodule FOO// INTERNAL FOO 1\nmodule INTERNAL FOO// FOO 1\n"[..],
            0o644,
        )
        .file(
            "/usr/lib/x86_64-linux-gnu/gconv/gconv-modules.d/extra.conf",
            &b"module BAR// INTERNAL /opt/gconv/BAR 1\nmodule GONE// INTERNAL GONE 1\n"[..],
            0o644,
        )
        .file("/usr/lib/x86_64-linux-gnu/gconv/FOO.so", mk_so(None, &["libfooaux.so"], None, Some("$ORIGIN")), 0o644)
        .file("/usr/lib/x86_64-linux-gnu/gconv/libfooaux.so", mk_so(Some("libfooaux.so"), &[], None, None), 0o644)
        .file("/usr/lib/x86_64-linux-gnu/gconv/UNLISTED.so", mk_so(None, &[], None, None), 0o644)
        .file("/opt/gconv/BAR.so", mk_so(None, &[], None, None), 0o644);
    let roots = Roots {
        entrypoint: vec!["iconv".into(), "-l".into()],
        observed: vec!["/usr/bin/iconv".into()],
        ..Roots::default()
    };
    let c = build_closure(&m, &roots, &Limits::default());
    let p = prog(&c, "/usr/bin/iconv");
    assert_eq!(
        p.why,
        vec![
            Reason::Entrypoint,
            Reason::PathLookup {
                name: "iconv".into(),
                dir: "/usr/bin".into()
            },
            Reason::Observed
        ]
    );
    assert_eq!(
        paths(&c, &p.load_order),
        vec![
            "/usr/bin/iconv",
            "/usr/lib/x86_64-linux-gnu/libc.so.6",
            "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
        ]
    );
    let rt: Vec<(String, Reason)> = p
        .runtime_loaded
        .iter()
        .map(|(o, r)| (c.objects[*o].path.clone(), r.clone()))
        .collect();
    let gconv: Vec<&str> = rt
        .iter()
        .filter(|(_, r)| matches!(r, Reason::Gconv { .. }))
        .map(|(p, _)| p.as_str())
        .collect();
    assert_eq!(
        gconv,
        vec![
            "/usr/lib/x86_64-linux-gnu/gconv/FOO.so",
            "/opt/gconv/BAR.so"
        ]
    );
    assert!(rt.iter().any(|(p, r)| p.ends_with("gconv/libfooaux.so")
        && matches!(
            r,
            Reason::Needed {
                rule: SearchRule::Origin,
                ..
            }
        )));
    // every libc import of iconv is bound into libc
    let libc = p.load_order[1];
    assert!(p
        .bindings
        .iter()
        .filter(|b| b.from == p.load_order[0] && !b.weak)
        .all(|b| b.to.map(|t| t.0) == Some(libc)));

    // Limits: a chain deeper than max_depth and more objects than allowed are reported.
    let mut m = MemFs::new();
    m.file("/bin/deep", synthetic_exe(&["l0.so"], None, None), 0o755);
    for i in 0..10 {
        let next = format!("l{}.so", i + 1);
        m.file(
            &format!("/usr/lib/l{i}.so"),
            mk_so(Some(&format!("l{i}.so")), &[next.as_str()], None, None),
            0o644,
        );
    }
    let limits = Limits {
        max_depth: 4,
        ..Limits::default()
    };
    let c = build_closure(
        &m,
        &Roots {
            extra: vec!["/bin/deep".into()],
            ..Roots::default()
        },
        &limits,
    );
    assert_eq!(c.programs[0].load_order.len(), 5);
    assert!(
        c.diagnostics
            .iter()
            .any(|d| d.kind == DiagKind::Limit && d.message.contains("max_depth = 4")),
        "{:?}",
        c.diagnostics
    );
    let limits = Limits {
        max_objects_per_program: 3,
        ..Limits::default()
    };
    let c = build_closure(
        &m,
        &Roots {
            extra: vec!["/bin/deep".into()],
            ..Roots::default()
        },
        &limits,
    );
    assert_eq!(c.programs[0].load_order.len(), 3);
    assert!(c
        .diagnostics
        .iter()
        .any(|d| d.message.contains("max_objects_per_program = 3")));
}

#[test]
fn corrupt_cache_is_a_diagnostic() {
    let mut m = MemFs::new();
    m.file("/bin/exe", synthetic_exe(&["libz.so.1"], None, None), 0o755)
        .file(
            "/etc/ld.so.cache",
            &b"glibc-ld.so.cache1.1\xff\xff\xff\xff"[..],
            0o644,
        )
        .file(
            "/usr/lib/libz.so.1",
            mk_so(Some("libz.so.1"), &[], None, None),
            0o644,
        );
    let c = closure_of(&m, "/bin/exe", &[]);
    assert_eq!(
        paths(&c, &c.programs[0].load_order),
        vec!["/bin/exe", "/usr/lib/libz.so.1"]
    );
    let d = c
        .diagnostics
        .iter()
        .find(|d| d.kind == DiagKind::Config)
        .unwrap();
    assert_eq!(d.path, "/etc/ld.so.cache");
    assert!(d.message.contains("truncated"), "{}", d.message);
}
