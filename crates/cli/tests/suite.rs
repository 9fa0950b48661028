//! The end-to-end image suite: real images built locally with no registry
//! (`tests/images/build.sh --all`: Debian 12 nginx, redis and the Go
//! prometheus-node-exporter, a static busybox httpd, a musl-linked server, a
//! threaded Rust std server and python3's http.server, each started through a
//! shell entrypoint script). For each: `confine
//! profile` with the observed run under a workload, `confine verify` under
//! the profile with the same workload (no syscall may reach the default
//! action), and for a few key syscalls, the profile without it must fail
//! verification with that syscall denied. Writes `out/suite-report.md`.

#![allow(clippy::unwrap_used)]

mod util;

use serde_json::Value;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Output;
use std::time::Instant;
use util::*;

struct Case {
    name: &'static str,
    image: &'static str,
    /// Host command exercising the container (`{ip}` = its address).
    check: &'static str,
    /// Syscalls the workload certainly makes: removing one must break verification.
    key: &'static [&'static str],
    /// The analysis is expected to resolve every syscall (exit 0, no wildcard).
    expect_complete: bool,
    /// The original Confine's published figure (container-wide), if any.
    confine_figure: Option<u32>,
}

const REDIS_CHECK: &str = "if command -v redis-cli >/dev/null; then \
    redis-cli -h {ip} ping | grep -q PONG && redis-cli -h {ip} set k v | grep -q OK && redis-cli -h {ip} get k | grep -qx v; \
    else bash -c 'exec 3<>/dev/tcp/{ip}/6379; printf \"PING\\r\\n\" >&3; head -c 7 <&3 | grep -q PONG'; fi";

const CASES: &[Case] = &[
    Case {
        name: "nginx",
        image: "confine-test/debian12-nginx:latest",
        check: "curl -sf --max-time 3 -o /dev/null http://{ip}/",
        key: &["bind", "listen", "accept4"],
        expect_complete: true,
        confine_figure: Some(138),
    },
    Case {
        name: "redis",
        image: "confine-test/debian12-redis:latest",
        check: REDIS_CHECK,
        key: &["bind", "listen", "epoll_wait"],
        expect_complete: true,
        confine_figure: Some(135),
    },
    Case {
        name: "node-exporter (Go)",
        image: "confine-test/debian12-node-exporter:latest",
        check: "curl -sf --max-time 5 http://{ip}:9100/metrics | grep -q node_exporter_build_info",
        key: &["bind", "listen", "accept4"],
        expect_complete: true,
        confine_figure: None,
    },
    Case {
        name: "busybox httpd (static)",
        image: "confine-test/busybox-httpd:latest",
        check: "curl -sf --max-time 3 http://{ip}/index.html | grep -q hello",
        key: &["bind", "listen", "accept"],
        expect_complete: true,
        confine_figure: None,
    },
    Case {
        name: "musl httpd",
        image: "confine-test/musl-httpd:latest",
        check: "curl -sf --max-time 3 http://{ip}:8080/ | grep -q musl",
        key: &["bind", "listen", "accept"],
        expect_complete: true,
        confine_figure: None,
    },
    Case {
        name: "rust httpd (std, threads)",
        image: "confine-test/rust-httpd:latest",
        check: "curl -sf --max-time 3 http://{ip}:8080/ | grep -q rust && curl -sf --max-time 3 http://{ip}:8080/ | grep -q rust",
        key: &["bind", "listen", "clone"],
        expect_complete: true,
        confine_figure: None,
    },
    Case {
        name: "python http.server",
        image: "confine-test/debian12-python:latest",
        check: "curl -sf --max-time 5 http://{ip}:8000/index.txt | grep -q python",
        key: &["bind", "listen", "accept4"],
        expect_complete: true,
        confine_figure: None,
    },
];

/// One image's results.
struct Row {
    name: &'static str,
    allowed: usize,
    /// Union of the programs' syscalls found by analysis (before any wildcard).
    analysed: usize,
    /// Syscalls the programs made in the observed run.
    observed: usize,
    exit: i32,
    wildcard: Vec<String>,
    observed_ms: u64,
    observed_programs: usize,
    profile_ms: u128,
    verified: bool,
    broken_by: Vec<String>,
    confine_figure: Option<u32>,
}

fn out_text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Write `profile` minus `name` to `dest` (every rule listing it); false when absent.
fn without(profile: &Path, name: &str, dest: &Path) -> bool {
    let mut v: Value = serde_json::from_slice(&std::fs::read(profile).unwrap()).unwrap();
    let mut removed = false;
    if let Some(rules) = v["syscalls"].as_array_mut() {
        for r in rules.iter_mut() {
            if let Some(names) = r["names"].as_array_mut() {
                let before = names.len();
                names.retain(|n| n.as_str() != Some(name));
                removed |= names.len() != before;
            }
        }
        rules.retain(|r| r["names"].as_array().is_none_or(|n| !n.is_empty()));
    }
    std::fs::write(dest, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    removed
}

fn verify(image: &str, profile: &Path, check: &str) -> Output {
    confine()
        .args([
            "verify",
            "--quiet",
            image,
            "--profile",
            profile.to_str().unwrap(),
            "--check",
            check,
            "--duration",
            "4",
        ])
        .output()
        .expect("spawn confine verify")
}

fn run_case(c: &Case, dir: &Path, failures: &mut Vec<String>) -> Row {
    let prof = dir.join(format!("{}.json", c.name.split(' ').next().unwrap()));
    let t0 = Instant::now();
    let out = confine()
        .args([
            "profile",
            "--quiet",
            "--json",
            c.image,
            "-o",
            prof.to_str().unwrap(),
            "--trace-check",
            c.check,
            "--trace-time",
            "60",
        ])
        .output()
        .expect("spawn confine profile");
    let profile_ms = t0.elapsed().as_millis();
    let exit = out.status.code().unwrap_or(-1);
    let mut row = Row {
        name: c.name,
        allowed: 0,
        analysed: 0,
        observed: 0,
        exit,
        wildcard: Vec::new(),
        observed_ms: 0,
        observed_programs: 0,
        profile_ms,
        verified: false,
        broken_by: Vec::new(),
        confine_figure: c.confine_figure,
    };
    if exit != 0 && exit != 3 {
        failures.push(format!(
            "{}: confine profile exited {exit}: {}",
            c.name,
            out_text(&out)
        ));
        return row;
    }
    let summary: Value = match serde_json::from_slice(&out.stdout) {
        Ok(v) => v,
        Err(e) => {
            failures.push(format!("{}: --json output is not json: {e}", c.name));
            return row;
        }
    };
    row.allowed = summary["allowed"].as_array().map_or(0, Vec::len);
    row.wildcard = summary["programs"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(_, v)| v["wildcard"] == true)
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default();
    let mut union = std::collections::BTreeSet::new();
    for p in summary["programs"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
    {
        for n in p["syscalls"].as_array().into_iter().flatten() {
            union.insert(n.to_string());
        }
    }
    row.analysed = union.len();
    let obs = &summary["observed_run"];
    row.observed = obs["syscalls_observed"].as_array().map_or(0, Vec::len);
    if obs.get("skipped").is_some() {
        failures.push(format!(
            "{}: the observed run was skipped: {}",
            c.name, obs["skipped"]
        ));
    }
    row.observed_ms = obs["elapsed_ms"].as_u64().unwrap_or(0);
    row.observed_programs = obs["programs"].as_array().map_or(0, Vec::len);
    if obs["container_ok"] != true {
        failures.push(format!(
            "{}: the container failed its workload in the observed run: {}",
            c.name, obs["failure"]
        ));
    }
    // Every program the run saw is in the closure and analysed.
    if let Some(na) = obs["not_analysed"].as_array().filter(|a| !a.is_empty()) {
        failures.push(format!(
            "{}: programs ran but were not analysed: {na:?}",
            c.name
        ));
    }
    if exit == 3 && c.expect_complete {
        eprintln!(
            "suite: {}: the analysis fell back to Docker's default for {:?} (exit 3)",
            c.name, row.wildcard
        );
        failures.push(format!("{}: wildcard for {:?}", c.name, row.wildcard));
    }

    // Under its own profile, the workload passes and nothing reaches the default action.
    let v = verify(c.image, &prof, c.check);
    row.verified = v.status.success();
    if !row.verified {
        failures.push(format!(
            "{}: verification under its profile failed: {}",
            c.name,
            out_text(&v)
        ));
    }
    // Without a key syscall, verification fails and names it.
    for k in c.key {
        let broken = dir.join(format!(
            "{}-without-{k}.json",
            c.name.split(' ').next().unwrap()
        ));
        if !without(&prof, k, &broken) {
            failures.push(format!(
                "{}: key syscall {k} is not allowed by the profile",
                c.name
            ));
            continue;
        }
        let b = verify(c.image, &broken, c.check);
        let text = out_text(&b);
        if b.status.code() == Some(3) && text.contains(&format!("denied: {k} ")) {
            row.broken_by.push((*k).to_string());
        } else {
            failures.push(format!(
                "{}: the profile without {k} still verified ({:?}): {text}",
                c.name,
                b.status.code()
            ));
        }
    }
    row
}

fn report(rows: &[Row], docker_default: usize) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "## End-to-end image suite (`cargo test -p confine --test suite`)\n\n\
         Images built locally by `tests/images/build.sh --all` (Debian 12 minbase + packages, \
         shell entrypoint scripts). Each profile comes from static analysis plus the observed \
         run under the workload; each container then passed its workload under its own profile \
         with no syscall reaching the default action (`confine verify`), and failed without each \
         key syscall. Docker's default profile allows {docker_default} syscalls. \
         \"found by analysis\" is the union of the programs' syscalls before any fallback; \
         \"seen\" is what the programs made in the observed run (a lower bound).\n"
    );
    let _ = writeln!(
        s,
        "| image | allowed | Docker default | original Confine | found by analysis | seen in observed run | analysis complete | observed run | programs seen | profile total | verified | breaks without |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {:.1} s | {} | {:.1} s | {} | {} |",
            r.name,
            r.allowed,
            docker_default,
            r.confine_figure
                .map_or("n/a".to_string(), |f| format!("~{f}")),
            r.analysed,
            r.observed,
            if r.exit == 0 {
                "yes".to_string()
            } else {
                format!(
                    "no: Docker's default kept for {} program(s)",
                    r.wildcard.len()
                )
            },
            r.observed_ms as f64 / 1000.0,
            r.observed_programs,
            r.profile_ms as f64 / 1000.0,
            if r.verified { "yes" } else { "NO" },
            r.broken_by.join(", "),
        );
    }
    s
}

#[test]
fn image_suite() {
    let t = "image_suite";
    if !engine_or_skip(t) || !tool_or_skip(t, "curl") {
        return;
    }
    if !is_root() {
        eprintln!("SKIP {t}: the observed run and verification read the kernel's audit records (root; .ci/run runs as root)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut rows = Vec::new();
    let start = Instant::now();
    // CONFINE_SUITE_ONLY=text runs only the cases whose name contains it
    // (for development; CI runs them all and writes the whole report).
    let only = std::env::var("CONFINE_SUITE_ONLY").ok();
    for c in CASES {
        if only.as_deref().is_some_and(|o| !c.name.contains(o)) {
            eprintln!("suite: {}: not selected by CONFINE_SUITE_ONLY", c.name);
            continue;
        }
        if !image_or_skip(&format!("{t} ({})", c.name), c.image) {
            continue;
        }
        let r = run_case(c, dir.path(), &mut failures);
        eprintln!(
            "suite: {}: {} allowed (exit {}), observed run {} ms, {} programs seen, verified {}, breaks without {:?}",
            r.name, r.allowed, r.exit, r.observed_ms, r.observed_programs, r.verified, r.broken_by
        );
        rows.push(r);
    }
    let docker_default = confine_profile::Profile::docker_default(confine_syscalls::Arch::X86_64)
        .unwrap()
        .allowed()
        .len();
    let md = report(&rows, docker_default);
    eprintln!("{md}");
    let out = repo_root().join("out");
    if std::fs::create_dir_all(&out).is_ok() {
        let _ = std::fs::write(out.join("suite-report.md"), &md);
    }
    eprintln!(
        "suite: {} images in {:.0} s",
        rows.len(),
        start.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// The static scan of the redis entrypoint script finds the commands of its
/// `if` branch (`id`, `find`, `chown` via `find -exec`) without any run.
#[test]
fn entrypoint_script_commands_are_roots() {
    let t = "entrypoint_script_commands_are_roots";
    let image = "confine-test/debian12-redis:latest";
    if !image_or_skip(t, image) {
        return;
    }
    let out = run_ok(&["inspect", "--quiet", "--json", image]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let programs = v["programs"].as_array().unwrap();
    for cmd in ["id", "find", "chown"] {
        let p = programs
            .iter()
            .find(|p| p["path"] == format!("/usr/bin/{cmd}"))
            .unwrap_or_else(|| panic!("{cmd} is not a program of the closure"));
        let why = p["why"].to_string();
        assert!(
            why.contains("ScriptCommand") && why.contains("/docker-entrypoint.sh"),
            "{cmd}: {why}"
        );
    }
}
