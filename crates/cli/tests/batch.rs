//! `confine batch`: many images from a list, one profile each, a summary
//! table, errors reported per image without stopping the batch.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns; a panic is a test failure

mod util;
use util::*;

#[test]
fn batch_profiles_each_listed_image_and_reports_failures() {
    let t = "batch_profiles_each_listed_image_and_reports_failures";
    if !image_or_skip(t, NGINX_IMAGE) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("nginx.tar");
    sh(&format!("docker save -o {} {NGINX_IMAGE}", saved.display()));
    // A root folder has no config: with no entrypoint there is nothing to
    // analyse, which must be an error, never a profile that allows nothing.
    let root = dir.path().join("rootfs");
    std::fs::create_dir(&root).unwrap();
    let list = dir.path().join("images.txt");
    std::fs::write(
        &list,
        format!(
            "# three images\ndocker-archive:{}\n\nrootfs:{}\ndocker-archive:{}/missing.tar\n",
            saved.display(),
            root.display(),
            dir.path().display()
        ),
    )
    .unwrap();
    let out_dir = dir.path().join("profiles");
    let out = confine()
        .args(["batch", "--quiet", "--json", "--cache-dir"])
        .arg(dir.path().join("cache"))
        .arg("-d")
        .arg(&out_dir)
        .arg(&list)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    let allowed = rows[0]["allowed"].as_u64().unwrap();
    assert!((100..200).contains(&allowed), "{rows:?}");
    assert!(
        rows[1]["error"]
            .as_str()
            .unwrap()
            .contains("no program to analyse"),
        "{rows:?}"
    );
    assert!(
        rows[2]["error"].as_str().unwrap().contains("missing.tar"),
        "{rows:?}"
    );
    let profile = std::path::Path::new(rows[0]["profile"].as_str().unwrap());
    assert!(profile.starts_with(&out_dir));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(profile).unwrap()).unwrap();
    assert_eq!(v["defaultAction"], "SCMP_ACT_ERRNO");
    // The per-object summaries went to the shared cache.
    assert!(std::fs::read_dir(dir.path().join("cache")).unwrap().count() > 10);
}
