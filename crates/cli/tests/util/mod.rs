//! Helpers for the CLI integration tests: run the built binary, detect what
//! the machine provides (Docker engine, root, test images) and say why a test
//! skips when it does not.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const NGINX_IMAGE: &str = "confine-test/debian12-nginx:latest";

pub fn confine() -> Command {
    Command::new(env!("CARGO_BIN_EXE_confine"))
}

pub fn run_ok(args: &[&str]) -> Output {
    let out = confine().args(args).output().expect("spawn confine");
    assert!(
        out.status.success(),
        "confine {args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// True when a Docker engine answers; otherwise prints why the test skips.
pub fn engine_or_skip(test: &str) -> bool {
    let ok = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("SKIP {test}: no Docker engine answers (CI starts one in .ci/run)");
    }
    ok
}

/// True when `image` exists in the engine; otherwise prints why the test skips.
pub fn image_or_skip(test: &str, image: &str) -> bool {
    if !engine_or_skip(test) {
        return false;
    }
    let ok = Command::new("docker")
        .args(["image", "inspect", image])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("SKIP {test}: image {image} missing (built by tests/images/build.sh --import, run by .ci/run)");
    }
    ok
}

pub fn tool_or_skip(test: &str, tool: &str) -> bool {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("SKIP {test}: {tool} is not installed (.ci/run installs it)");
    }
    ok
}

pub fn is_root() -> bool {
    nix_uid() == 0
}

fn nix_uid() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(u32::MAX)
}

pub fn sh(cmd: &str) -> Output {
    let out = Command::new("sh")
        .args(["-c", cmd])
        .output()
        .expect("spawn sh");
    assert!(
        out.status.success(),
        "`{cmd}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
