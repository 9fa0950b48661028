//! `confine inspect` on real images: the Debian 12 nginx test image read from
//! the engine, from `docker save` and from an OCI layout gives one closure.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns; a panic is a test failure

mod util;
use serde_json::Value;
use util::*;

fn inspect_json(reference: &str) -> Value {
    let out = run_ok(&["inspect", "--json", "--quiet", reference]);
    serde_json::from_slice(&out.stdout).expect("inspect --json prints JSON")
}

fn program<'a>(v: &'a Value, path: &str) -> &'a Value {
    v["programs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["path"] == path)
        .unwrap_or_else(|| panic!("{path} not among the programs: {v:#}"))
}

#[test]
fn nginx_closure_is_the_same_from_engine_save_and_oci_layout() {
    let t = "nginx_closure_is_the_same_from_engine_save_and_oci_layout";
    if !image_or_skip(t, NGINX_IMAGE) || !tool_or_skip(t, "skopeo") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("nginx.tar");
    sh(&format!("docker save -o {} {NGINX_IMAGE}", saved.display()));
    let layout = dir.path().join("oci");
    sh(&format!(
        "skopeo copy --quiet --insecure-policy docker-daemon:{NGINX_IMAGE} oci:{}:latest",
        layout.display()
    ));

    let by_name = inspect_json(NGINX_IMAGE);
    let by_save = inspect_json(&format!("docker-archive:{}", saved.display()));
    let by_oci = inspect_json(&format!("oci:{}", layout.display()));
    assert_eq!(by_name, by_save, "engine and docker-save closures differ");
    assert_eq!(by_name, by_oci, "engine and OCI-layout closures differ");

    // The entrypoint script's interpreter and the program its cmd names.
    let nginx = program(&by_name, "/usr/sbin/nginx");
    program(&by_name, "/usr/bin/dash");
    let objs = nginx["objects"].as_array().unwrap();
    let find = |suffix: &str| {
        objs.iter()
            .find(|o| o["path"].as_str().unwrap().ends_with(suffix))
            .unwrap_or_else(|| panic!("{suffix} not in nginx's closure: {objs:#?}"))
    };
    // nginx's DT_NEEDED libraries, each found through the image's ld.so.cache.
    for lib in [
        "libcrypt.so.1.1.0",
        "libpcre2-8.so.0.11.2",
        "libssl.so.3",
        "libcrypto.so.3",
        "libc.so.6",
    ] {
        let o = find(lib);
        assert_eq!(o["why"]["Needed"]["rule"], "LdSoCache", "{lib}: {o}");
    }
    find("ld-linux-x86-64.so.2");
    // NSS modules named by the image's /etc/nsswitch.conf (files for passwd and
    // group, dns for hosts) are loaded at run time.
    let nss: Vec<&str> = objs
        .iter()
        .filter(|o| o["why"].get("Nss").is_some())
        .map(|o| o["path"].as_str().unwrap())
        .collect();
    assert!(
        nss.iter().any(|p| p.ends_with("libnss_files.so.2")),
        "{nss:?}"
    );
    assert!(
        nss.iter().any(|p| p.ends_with("libnss_dns.so.2")),
        "{nss:?}"
    );
}

#[test]
fn inspect_tree_names_the_rule_for_each_library() {
    let t = "inspect_tree_names_the_rule_for_each_library";
    if !image_or_skip(t, NGINX_IMAGE) {
        return;
    }
    let out = run_ok(&["inspect", "--quiet", NGINX_IMAGE]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("/usr/sbin/nginx  [entrypoint"), "{text}");
    assert!(
        text.contains("/usr/lib/x86_64-linux-gnu/libssl.so.3  (DT_NEEDED libssl.so.3 of /usr/sbin/nginx, via /etc/ld.so.cache)"),
        "{text}"
    );
    assert!(text.contains("NSS module `files`"), "{text}");
}
