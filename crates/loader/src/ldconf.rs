//! `/etc/ld.so.conf` (with `include` globs) and musl's `/etc/ld-musl-ARCH.path`.

use crate::fs::{glob, FileSystem};

/// Directories listed by ld.so.conf and its includes, in file order, deduplicated.
/// `errors` receives (path, message) for includes that cannot be read.
pub fn parse_ld_so_conf(
    fs: &dyn FileSystem,
    path: &str,
    max_depth: u32,
    max_bytes: usize,
    errors: &mut Vec<(String, String)>,
) -> Vec<String> {
    let mut out = Vec::new();
    parse_rec(fs, path, max_depth, max_bytes, &mut out, errors);
    out
}

fn parse_rec(
    fs: &dyn FileSystem,
    path: &str,
    depth: u32,
    max_bytes: usize,
    out: &mut Vec<String>,
    errors: &mut Vec<(String, String)>,
) {
    if depth == 0 {
        errors.push((path.to_owned(), "include depth limit reached".into()));
        return;
    }
    let data = match fs.read(path) {
        Ok(d) => d,
        Err(e) => {
            errors.push((path.to_owned(), e));
            return;
        }
    };
    if data.len() > max_bytes {
        errors.push((
            path.to_owned(),
            format!("config larger than {max_bytes} bytes"),
        ));
        return;
    }
    let text = String::from_utf8_lossy(&data);
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or("");
        if first == "include" {
            for pat in words {
                let pat = if pat.starts_with('/') {
                    pat.to_owned()
                } else {
                    crate::fs::join(crate::fs::dirname(path), pat)
                };
                for inc in glob(fs, &pat, 10_000) {
                    parse_rec(fs, &inc, depth - 1, max_bytes, out, errors);
                }
            }
        } else if first == "hwcap" {
            // Legacy "hwcap N name" lines only name hwcap bits; no directory.
        } else {
            // ldconfig accepts "dir" and the old "dir=TYPE"; also ':' / ',' / whitespace separated lists.
            for dir in line.split([':', ',', ' ', '\t']) {
                let dir = dir
                    .split('=')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .trim_end_matches('/');
                if dir.starts_with('/') && !out.iter().any(|d| d == dir) {
                    out.push(dir.to_owned());
                }
            }
        }
    }
}

/// musl's path file: directories separated by newlines or ':'.
pub fn parse_musl_path(text: &str) -> Vec<String> {
    text.split(['\n', ':'])
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| d.trim_end_matches('/').to_owned())
        .map(|d| if d.is_empty() { "/".to_owned() } else { d })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::testfs::{HostRoot, MemFs};

    #[test]
    fn includes_and_globs() {
        let mut m = MemFs::new();
        m.file(
            "/etc/ld.so.conf",
            &b"# c\ninclude /etc/ld.so.conf.d/*.conf\n/opt/x/lib\n"[..],
            0o644,
        )
        .file(
            "/etc/ld.so.conf.d/b.conf",
            &b"/usr/local/lib # tail\n/opt/b:/opt/c\n"[..],
            0o644,
        )
        .file(
            "/etc/ld.so.conf.d/a.conf",
            &b"include loop.conf\n/opt/a/\n"[..],
            0o644,
        )
        .file(
            "/etc/ld.so.conf.d/loop.conf",
            &b"include /etc/ld.so.conf.d/loop.conf\n"[..],
            0o644,
        );
        let mut errs = Vec::new();
        let dirs = parse_ld_so_conf(&m, "/etc/ld.so.conf", 8, 1 << 20, &mut errs);
        assert_eq!(
            dirs,
            vec!["/opt/a", "/usr/local/lib", "/opt/b", "/opt/c", "/opt/x/lib"]
        );
        assert!(
            errs.iter()
                .any(|(p, e)| p.ends_with("loop.conf") && e.contains("depth")),
            "{errs:?}"
        );
        let mut errs = Vec::new();
        assert!(parse_ld_so_conf(&m, "/etc/missing.conf", 8, 1 << 20, &mut errs).is_empty());
        assert_eq!(errs.len(), 1);
    }

    #[test]
    fn host_conf() {
        let mut errs = Vec::new();
        let dirs = parse_ld_so_conf(&HostRoot, "/etc/ld.so.conf", 8, 1 << 20, &mut errs);
        assert!(
            dirs.iter().any(|d| d == "/usr/lib/x86_64-linux-gnu"),
            "{dirs:?}"
        );
        assert!(errs.is_empty(), "{errs:?}");
    }

    #[test]
    fn musl_path() {
        assert_eq!(
            parse_musl_path("/lib\n/usr/lib:/opt/x/\n\n"),
            vec!["/lib", "/usr/lib", "/opt/x"]
        );
    }
}
