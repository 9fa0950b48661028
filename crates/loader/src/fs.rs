//! The read-only file view the loader searches: a small trait over `confine_image::Vroot`.

use std::sync::Arc;

/// What a path is, after following symlinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Other,
}

/// The questions ld.so asks of a file system. Paths are absolute inside the image.
/// Errors are plain messages: the loader turns them into diagnostics.
pub trait FileSystem {
    /// Canonical absolute path, following symlinks inside the root.
    fn canonicalize(&self, path: &str) -> Result<String, String>;
    /// File bytes (following symlinks).
    fn read(&self, path: &str) -> Result<Arc<[u8]>, String>;
    /// Kind after following symlinks; None when missing or broken.
    fn kind(&self, path: &str) -> Option<Kind>;
    /// True when the last component is a symlink (broken or not).
    fn is_symlink(&self, path: &str) -> bool;
    /// Permission bits after following symlinks.
    fn mode(&self, path: &str) -> Option<u32>;
    /// Names in a directory, sorted.
    fn read_dir(&self, path: &str) -> Result<Vec<String>, String>;
    /// Every regular file: (canonical path, mode), sorted by path.
    fn files(&self) -> Vec<(String, u32)>;
}

/// Join `name` to `dir` (both inside the image), without resolving anything.
pub fn join(dir: &str, name: &str) -> String {
    if name.starts_with('/') {
        return name.to_owned();
    }
    let dir = dir.trim_end_matches('/');
    format!("{dir}/{name}")
}

/// Lexically normalise an absolute path: collapse `//`, `.`, and `..` (clamped at `/`).
pub fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Directory part of an absolute path ("/" for top-level names).
pub fn dirname(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => path.get(..i).unwrap_or("/"),
    }
}

/// Last component of a path.
pub fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Shell-style match of one path component: `*`, `?`, `[...]` (with `!`/`^` negation).
pub fn fnmatch(pat: &str, name: &str) -> bool {
    let p: Vec<char> = pat.chars().collect();
    let n: Vec<char> = name.chars().collect();
    fn rec(p: &[char], n: &[char], budget: &mut u32) -> bool {
        if *budget == 0 {
            return false;
        }
        *budget -= 1;
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len()).any(|i| {
                rec(
                    p.get(1..).unwrap_or_default(),
                    n.get(i..).unwrap_or_default(),
                    budget,
                )
            }),
            Some('?') => {
                !n.is_empty()
                    && rec(
                        p.get(1..).unwrap_or_default(),
                        n.get(1..).unwrap_or_default(),
                        budget,
                    )
            }
            Some('[') => {
                let Some(&c) = n.first() else { return false };
                let mut i = 1;
                let neg = matches!(p.get(1), Some('!') | Some('^'));
                if neg {
                    i += 1;
                }
                let mut matched = false;
                let mut first = true;
                while let Some(&pc) = p.get(i) {
                    if pc == ']' && !first {
                        break;
                    }
                    first = false;
                    if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|&e| e != ']') {
                        let hi = p.get(i + 2).copied().unwrap_or(pc);
                        if pc <= c && c <= hi {
                            matched = true;
                        }
                        i += 3;
                    } else {
                        if pc == c {
                            matched = true;
                        }
                        i += 1;
                    }
                }
                if p.get(i) != Some(&']') {
                    // Unterminated class: treat '[' literally.
                    return c == '['
                        && rec(
                            p.get(1..).unwrap_or_default(),
                            n.get(1..).unwrap_or_default(),
                            budget,
                        );
                }
                matched != neg
                    && rec(
                        p.get(i + 1..).unwrap_or_default(),
                        n.get(1..).unwrap_or_default(),
                        budget,
                    )
            }
            Some(&pc) => {
                n.first() == Some(&pc)
                    && rec(
                        p.get(1..).unwrap_or_default(),
                        n.get(1..).unwrap_or_default(),
                        budget,
                    )
            }
        }
    }
    let mut budget = 100_000;
    rec(&p, &n, &mut budget)
}

/// Expand a glob (absolute path, wildcards allowed in any component) to existing paths,
/// sorted like glob(3). At most `max` results and `max` directory entries are looked at.
pub fn glob(fs: &dyn FileSystem, pattern: &str, max: usize) -> Vec<String> {
    let mut current = vec![String::from("/")];
    let comps: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty()).collect();
    let mut scanned = 0usize;
    for (i, comp) in comps.iter().enumerate() {
        let last = i + 1 == comps.len();
        let mut next = Vec::new();
        for base in &current {
            if comp.contains(['*', '?', '[']) {
                let Ok(names) = fs.read_dir(base) else {
                    continue;
                };
                for n in names {
                    scanned += 1;
                    if scanned > max {
                        break;
                    }
                    if n.starts_with('.') && !comp.starts_with('.') {
                        continue;
                    }
                    if fnmatch(comp, &n) {
                        next.push(join(base, &n));
                    }
                }
            } else {
                let p = join(base, comp);
                if last || fs.kind(&p) == Some(Kind::Dir) {
                    next.push(p);
                }
            }
        }
        next.truncate(max);
        current = next;
    }
    current.retain(|p| fs.kind(p).is_some());
    current.sort();
    current
}

/// A host folder read lazily as an image root (for `confine analyze --root`):
/// nothing is indexed up front, symlinks are resolved here component by
/// component inside the root (absolute targets are relative to the root, `..`
/// clamps at it, hops are bounded), and files are opened only at their resolved
/// path with `O_NOFOLLOW`, so nothing outside the root is ever read.
#[derive(Debug, Clone)]
pub struct HostDir {
    root: std::path::PathBuf,
    max_hops: u32,
    max_file_bytes: u64,
}

impl HostDir {
    pub fn new(root: impl Into<std::path::PathBuf>) -> HostDir {
        HostDir {
            root: root.into(),
            max_hops: 40,
            max_file_bytes: 1 << 30,
        }
    }

    fn host(&self, canonical: &str) -> std::path::PathBuf {
        self.root.join(canonical.trim_start_matches('/'))
    }

    /// Resolve `path` inside the root; `follow_last` follows a final symlink.
    fn resolve(&self, path: &str, follow_last: bool) -> Result<String, String> {
        let mut todo: Vec<String> = path
            .split('/')
            .filter(|c| !c.is_empty())
            .rev()
            .map(str::to_owned)
            .collect();
        let mut done: Vec<String> = Vec::new();
        let mut hops = 0u32;
        while let Some(c) = todo.pop() {
            match c.as_str() {
                "." => continue,
                ".." => {
                    done.pop();
                    continue;
                }
                _ => {}
            }
            done.push(c);
            let cur = format!("/{}", done.join("/"));
            let last = todo.is_empty();
            let meta = match std::fs::symlink_metadata(self.host(&cur)) {
                Ok(m) => m,
                Err(e) => return Err(format!("{cur}: {e}")),
            };
            if meta.file_type().is_symlink() && (!last || follow_last) {
                hops += 1;
                if hops > self.max_hops {
                    return Err(format!("{path}: too many symlinks"));
                }
                let target =
                    std::fs::read_link(self.host(&cur)).map_err(|e| format!("{cur}: {e}"))?;
                let target = target.to_string_lossy().into_owned();
                done.pop();
                if target.starts_with('/') {
                    done.clear();
                }
                todo.extend(
                    target
                        .split('/')
                        .filter(|c| !c.is_empty())
                        .rev()
                        .map(str::to_owned),
                );
            } else if !last && !meta.is_dir() {
                return Err(format!("{cur}: not a directory"));
            }
        }
        Ok(format!("/{}", done.join("/")))
    }

    fn meta(&self, path: &str) -> Option<std::fs::Metadata> {
        let c = self.resolve(path, true).ok()?;
        std::fs::symlink_metadata(self.host(&c)).ok()
    }
}

impl FileSystem for HostDir {
    fn canonicalize(&self, path: &str) -> Result<String, String> {
        self.resolve(path, true)
    }
    fn read(&self, path: &str) -> Result<Arc<[u8]>, String> {
        use std::io::Read;
        use std::os::unix::fs::OpenOptionsExt;
        let c = self.resolve(path, true)?;
        let f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
            .open(self.host(&c))
            .map_err(|e| format!("{c}: {e}"))?;
        let meta = f.metadata().map_err(|e| format!("{c}: {e}"))?;
        if !meta.is_file() {
            return Err(format!("{c}: not a regular file"));
        }
        let mut data = Vec::new();
        f.take(self.max_file_bytes + 1)
            .read_to_end(&mut data)
            .map_err(|e| format!("{c}: {e}"))?;
        if data.len() as u64 > self.max_file_bytes {
            return Err(format!("{c}: larger than {} bytes", self.max_file_bytes));
        }
        Ok(data.into())
    }
    fn kind(&self, path: &str) -> Option<Kind> {
        let m = self.meta(path)?;
        Some(if m.is_file() {
            Kind::File
        } else if m.is_dir() {
            Kind::Dir
        } else {
            Kind::Other
        })
    }
    fn is_symlink(&self, path: &str) -> bool {
        self.resolve(path, false)
            .ok()
            .and_then(|c| std::fs::symlink_metadata(self.host(&c)).ok())
            .is_some_and(|m| m.file_type().is_symlink())
    }
    fn mode(&self, path: &str) -> Option<u32> {
        use std::os::unix::fs::PermissionsExt;
        self.meta(path).map(|m| m.permissions().mode())
    }
    fn read_dir(&self, path: &str) -> Result<Vec<String>, String> {
        let c = self.resolve(path, true)?;
        let mut v: Vec<String> = std::fs::read_dir(self.host(&c))
            .map_err(|e| format!("{c}: {e}"))?
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect();
        v.sort();
        Ok(v)
    }
    /// Regular files under the usual program folders (the whole host is too
    /// big to walk, and /proc, /sys and /dev are not files of an image).
    fn files(&self) -> Vec<(String, u32)> {
        use std::os::unix::fs::PermissionsExt;
        let mut out = Vec::new();
        for dir in [
            "/bin",
            "/sbin",
            "/usr/bin",
            "/usr/sbin",
            "/usr/local/bin",
            "/usr/local/sbin",
        ] {
            let Ok(canon) = self.resolve(dir, true) else {
                continue;
            };
            for name in self.read_dir(&canon).unwrap_or_default() {
                let p = join(&canon, &name);
                if let Ok(m) = std::fs::symlink_metadata(self.host(&p)) {
                    if m.is_file() {
                        out.push((p, m.permissions().mode()));
                    }
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

/// `confine_image::Vroot` as the loader's file system.
impl FileSystem for confine_image::Vroot {
    fn canonicalize(&self, path: &str) -> Result<String, String> {
        confine_image::Vroot::canonicalize(self, path).map_err(|e| e.to_string())
    }
    fn read(&self, path: &str) -> Result<Arc<[u8]>, String> {
        confine_image::Vroot::read(self, path).map_err(|e| e.to_string())
    }
    fn kind(&self, path: &str) -> Option<Kind> {
        let m = self.metadata(path).ok()?;
        Some(match m.kind {
            confine_image::FileKind::File => Kind::File,
            confine_image::FileKind::Dir => Kind::Dir,
            _ => Kind::Other,
        })
    }
    fn is_symlink(&self, path: &str) -> bool {
        self.symlink_metadata(path)
            .is_ok_and(|m| m.kind == confine_image::FileKind::Symlink)
    }
    fn mode(&self, path: &str) -> Option<u32> {
        self.metadata(path).ok().map(|m| m.mode)
    }
    fn read_dir(&self, path: &str) -> Result<Vec<String>, String> {
        confine_image::Vroot::read_dir(self, path).map_err(|e| e.to_string())
    }
    fn files(&self) -> Vec<(String, u32)> {
        confine_image::Vroot::files(self)
            .into_iter()
            .map(|(p, m)| (p, m.mode))
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod testfs {
    //! In-memory and host-backed file systems for tests.
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Debug, Clone)]
    pub enum Node {
        File(Arc<[u8]>, u32),
        Dir,
        Link(String),
    }

    /// An in-memory tree; parents are created implicitly.
    #[derive(Debug, Default, Clone)]
    pub struct MemFs {
        pub nodes: BTreeMap<String, Node>,
    }

    impl MemFs {
        pub fn new() -> Self {
            let mut m = MemFs::default();
            m.nodes.insert("/".into(), Node::Dir);
            m
        }
        fn parents(&mut self, path: &str) {
            let mut p = dirname(path).to_owned();
            while p != "/" {
                self.nodes.entry(p.clone()).or_insert(Node::Dir);
                p = dirname(&p).to_owned();
            }
        }
        pub fn file(&mut self, path: &str, data: impl Into<Arc<[u8]>>, mode: u32) -> &mut Self {
            self.parents(path);
            self.nodes
                .insert(path.into(), Node::File(data.into(), mode));
            self
        }
        pub fn host(&mut self, path: &str, host: &str) -> &mut Self {
            let d = std::fs::read(host).unwrap();
            self.file(path, d, 0o755)
        }
        pub fn link(&mut self, path: &str, target: &str) -> &mut Self {
            self.parents(path);
            self.nodes.insert(path.into(), Node::Link(target.into()));
            self
        }
        pub fn dir(&mut self, path: &str) -> &mut Self {
            self.parents(path);
            self.nodes.insert(path.into(), Node::Dir);
            self
        }
        /// Resolve; `follow_last` false keeps a final symlink.
        fn resolve(&self, path: &str, follow_last: bool) -> Result<String, String> {
            let mut hops = 0;
            let mut todo: Vec<String> = normalize_keep(path);
            todo.reverse();
            let mut cur = String::from("/");
            while let Some(c) = todo.pop() {
                if c == ".." {
                    cur = dirname(&cur).to_owned();
                    continue;
                }
                let next = join(&cur, &c);
                match self.nodes.get(&next) {
                    None => return Err(format!("{next}: not found")),
                    Some(Node::Link(t)) if follow_last || !todo.is_empty() => {
                        hops += 1;
                        if hops > 40 {
                            return Err(format!("{path}: too many symlinks"));
                        }
                        if t.starts_with('/') {
                            cur = "/".into();
                        }
                        let mut parts = normalize_keep(t);
                        parts.reverse();
                        todo.extend(parts);
                    }
                    Some(_) => cur = next,
                }
            }
            Ok(cur)
        }
    }

    fn normalize_keep(p: &str) -> Vec<String> {
        p.split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .map(str::to_owned)
            .collect()
    }

    impl FileSystem for MemFs {
        fn canonicalize(&self, path: &str) -> Result<String, String> {
            self.resolve(path, true)
        }
        fn read(&self, path: &str) -> Result<Arc<[u8]>, String> {
            let p = self.resolve(path, true)?;
            match self.nodes.get(&p) {
                Some(Node::File(d, _)) => Ok(d.clone()),
                _ => Err(format!("{path}: not a file")),
            }
        }
        fn kind(&self, path: &str) -> Option<Kind> {
            let p = self.resolve(path, true).ok()?;
            Some(match self.nodes.get(&p)? {
                Node::File(..) => Kind::File,
                Node::Dir => Kind::Dir,
                Node::Link(_) => Kind::Other,
            })
        }
        fn is_symlink(&self, path: &str) -> bool {
            self.resolve(path, false)
                .is_ok_and(|p| matches!(self.nodes.get(&p), Some(Node::Link(_))))
        }
        fn mode(&self, path: &str) -> Option<u32> {
            let p = self.resolve(path, true).ok()?;
            match self.nodes.get(&p)? {
                Node::File(_, m) => Some(*m),
                _ => Some(0o755),
            }
        }
        fn read_dir(&self, path: &str) -> Result<Vec<String>, String> {
            let p = self.resolve(path, true)?;
            let prefix = if p == "/" {
                "/".to_owned()
            } else {
                format!("{p}/")
            };
            Ok(self
                .nodes
                .range(prefix.clone()..)
                .take_while(|(k, _)| k.starts_with(&prefix))
                .filter_map(|(k, _)| {
                    k.get(prefix.len()..)
                        .filter(|r| !r.is_empty() && !r.contains('/'))
                        .map(str::to_owned)
                })
                .collect())
        }
        fn files(&self) -> Vec<(String, u32)> {
            self.nodes
                .iter()
                .filter_map(|(k, n)| match n {
                    Node::File(_, m) => Some((k.clone(), *m)),
                    _ => None,
                })
                .collect()
        }
    }

    /// The host's own root, read through std::fs (tests only).
    #[derive(Debug)]
    pub struct HostRoot;

    impl FileSystem for HostRoot {
        fn canonicalize(&self, path: &str) -> Result<String, String> {
            std::fs::canonicalize(path)
                .map(|p| p.to_string_lossy().into_owned())
                .map_err(|e| format!("{path}: {e}"))
        }
        fn read(&self, path: &str) -> Result<Arc<[u8]>, String> {
            std::fs::read(path)
                .map(Into::into)
                .map_err(|e| format!("{path}: {e}"))
        }
        fn kind(&self, path: &str) -> Option<Kind> {
            let m = std::fs::metadata(path).ok()?;
            Some(if m.is_file() {
                Kind::File
            } else if m.is_dir() {
                Kind::Dir
            } else {
                Kind::Other
            })
        }
        fn is_symlink(&self, path: &str) -> bool {
            std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
        }
        fn mode(&self, path: &str) -> Option<u32> {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(path).ok().map(|m| m.permissions().mode())
        }
        fn read_dir(&self, path: &str) -> Result<Vec<String>, String> {
            let mut v: Vec<String> = std::fs::read_dir(path)
                .map_err(|e| e.to_string())?
                .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect();
            v.sort();
            Ok(v)
        }
        /// Only /usr/bin and /usr/sbin (the whole host is too big for a test).
        fn files(&self) -> Vec<(String, u32)> {
            use std::os::unix::fs::PermissionsExt;
            let mut out = Vec::new();
            for dir in ["/usr/bin", "/usr/sbin"] {
                for name in self.read_dir(dir).unwrap_or_default() {
                    let p = format!("{dir}/{name}");
                    if let Ok(m) = std::fs::symlink_metadata(&p) {
                        if m.is_file() {
                            out.push((p, m.permissions().mode()));
                        }
                    }
                }
            }
            out.sort();
            out
        }
    }

    #[test]
    fn host_dir_resolves_symlinks_inside_the_root() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        std::fs::create_dir_all(r.join("usr/lib")).unwrap();
        std::fs::write(r.join("usr/lib/libz.so.1.2"), b"inside").unwrap();
        std::os::unix::fs::symlink("usr/lib", r.join("lib")).unwrap();
        std::os::unix::fs::symlink("/usr/lib/libz.so.1.2", r.join("usr/lib/libz.so.1")).unwrap();
        // Absolute and dot-dot targets stay inside the root.
        std::os::unix::fs::symlink("/etc/passwd", r.join("usr/lib/passwd")).unwrap();
        std::os::unix::fs::symlink("../../../../etc/hostname", r.join("usr/lib/up")).unwrap();
        std::os::unix::fs::symlink("loop", r.join("loop")).unwrap();
        let h = HostDir::new(r);
        assert_eq!(
            h.canonicalize("/lib/libz.so.1").unwrap(),
            "/usr/lib/libz.so.1.2"
        );
        assert_eq!(&*h.read("/lib/libz.so.1").unwrap(), b"inside");
        assert!(
            h.read("/usr/lib/passwd").is_err(),
            "read the host's /etc/passwd"
        );
        // Clamped at the root: looked up as <root>/etc, which does not exist.
        assert!(h
            .canonicalize("/usr/lib/up")
            .unwrap_err()
            .starts_with("/etc:"));
        assert!(h
            .canonicalize("/loop")
            .unwrap_err()
            .contains("too many symlinks"));
        assert!(h.is_symlink("/usr/lib/passwd"));
        assert_eq!(h.kind("/lib"), Some(Kind::Dir));
    }

    #[test]
    fn memfs_and_glob() {
        let mut m = MemFs::new();
        m.file("/etc/ld.so.conf.d/a.conf", &b"x"[..], 0o644)
            .file("/etc/ld.so.conf.d/b.conf", &b"y"[..], 0o644)
            .file("/etc/ld.so.conf.d/c.txt", &b"z"[..], 0o644)
            .link("/lib", "usr/lib")
            .file("/usr/lib/libz.so.1.2", &b"z"[..], 0o644)
            .link("/usr/lib/libz.so.1", "libz.so.1.2")
            .link("/usr/lib/broken.so", "/nowhere");
        assert_eq!(
            m.canonicalize("/lib/libz.so.1").unwrap(),
            "/usr/lib/libz.so.1.2"
        );
        assert!(m.canonicalize("/lib/broken.so").is_err());
        assert!(m.is_symlink("/lib/broken.so"));
        assert_eq!(
            glob(&m, "/etc/ld.so.conf.d/*.conf", 100),
            vec!["/etc/ld.so.conf.d/a.conf", "/etc/ld.so.conf.d/b.conf"]
        );
        assert_eq!(glob(&m, "/etc/*/[ab].conf", 100).len(), 2);
        assert!(fnmatch("lib*.so*", "libz.so.1"));
        assert!(!fnmatch("[!a]*", "abc"));
        m.dir("/empty");
        assert_eq!(m.kind("/empty"), Some(Kind::Dir));
        assert!(m.read_dir("/empty").unwrap().is_empty());
        assert_eq!(
            m.read_dir("/usr/lib").unwrap(),
            vec!["broken.so", "libz.so.1", "libz.so.1.2"]
        );
        assert_eq!(normalize("/a/../../b/./c//"), "/b/c");
        assert_eq!(dirname("/a/b"), "/a");
        assert_eq!(dirname("/a"), "/");
    }
}
