//! The read-only virtual root: a tree of image files whose symlinks are resolved by us,
//! confined to the image root, with contents in memory or read lazily from a host folder.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::{ImageError, Limits};

/// Type of a node in the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum FileKind {
    File,
    Dir,
    Symlink,
    CharDev,
    BlockDev,
    Fifo,
    Socket,
}

impl FileKind {
    /// Lowercase name for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::File => "file",
            FileKind::Dir => "directory",
            FileKind::Symlink => "symlink",
            FileKind::CharDev => "character device",
            FileKind::BlockDev => "block device",
            FileKind::Fifo => "fifo",
            FileKind::Socket => "socket",
        }
    }
}

/// Metadata of one node. `mode` holds the permission bits (`0o7777`, including setuid/setgid).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Metadata {
    pub kind: FileKind,
    pub mode: u32,
    pub size: u64,
    pub uid: u32,
    pub gid: u32,
}

impl Metadata {
    /// Metadata owned by root with the given kind, permission bits and size.
    pub fn new(kind: FileKind, mode: u32, size: u64) -> Metadata {
        Metadata {
            kind,
            mode: mode & 0o7777,
            size,
            uid: 0,
            gid: 0,
        }
    }
    pub fn is_file(&self) -> bool {
        self.kind == FileKind::File
    }
    pub fn is_dir(&self) -> bool {
        self.kind == FileKind::Dir
    }
    pub fn is_symlink(&self) -> bool {
        self.kind == FileKind::Symlink
    }
    /// Any execute bit set.
    pub fn is_executable(&self) -> bool {
        self.mode & 0o111 != 0
    }
}

#[derive(Clone)]
enum Content {
    Mem(Arc<[u8]>),
    Host { rel: PathBuf, dev: u64, ino: u64 },
    Dropped,
}

#[derive(Clone)]
enum Data {
    Dir,
    File(Content),
    Symlink(String),
    Special,
}

/// One node. `children` is empty for everything but directories.
/// Clone and Drop are iterative: a tree can be as deep as the path limit allows.
struct Node {
    meta: Metadata,
    data: Data,
    children: BTreeMap<String, Node>,
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.children.is_empty() {
            return;
        }
        let mut stack: Vec<Node> = std::mem::take(&mut self.children).into_values().collect();
        while let Some(mut n) = stack.pop() {
            stack.extend(std::mem::take(&mut n.children).into_values());
        }
    }
}

impl Clone for Node {
    fn clone(&self) -> Node {
        let shallow = |n: &Node| Node {
            meta: n.meta,
            data: n.data.clone(),
            children: BTreeMap::new(),
        };
        let mut out = shallow(self);
        let mut stack: Vec<(&Node, Vec<String>)> = vec![(self, Vec::new())];
        'next: while let Some((src, path)) = stack.pop() {
            let mut dst = &mut out;
            for name in &path {
                match dst.children.get_mut(name) {
                    Some(d) => dst = d,
                    None => continue 'next,
                }
            }
            for (name, child) in &src.children {
                dst.children.insert(name.clone(), shallow(child));
                if !child.children.is_empty() {
                    let mut p = path.clone();
                    p.push(name.clone());
                    stack.push((child, p));
                }
            }
        }
        out
    }
}

impl Node {
    fn dir(meta: Metadata) -> Node {
        Node {
            meta,
            data: Data::Dir,
            children: BTreeMap::new(),
        }
    }
    fn default_dir() -> Node {
        Node::dir(Metadata::new(FileKind::Dir, 0o755, 0))
    }
    fn is_dir(&self) -> bool {
        matches!(self.data, Data::Dir)
    }
}

/// Read-only virtual root built from layers (whiteouts applied) or a host folder.
///
/// All lookups take absolute paths inside the image (a relative path is taken from `/`).
/// Symlinks are resolved here: absolute targets start again at the image root, `..` stops
/// at `/`, and at most `limits.max_symlink_hops` links are followed per lookup.
#[derive(Clone)]
pub struct Vroot {
    root: Node,
    host: Option<PathBuf>,
    limits: Limits,
    retained: u64,
}

impl std::fmt::Debug for Vroot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vroot")
            .field("host", &self.host)
            .field("retained_bytes", &self.retained)
            .finish_non_exhaustive()
    }
}

impl Default for Vroot {
    fn default() -> Self {
        Vroot::with_limits(Limits::default())
    }
}

/// Non-empty path components other than `.` (`..` kept).
fn components(path: &str) -> impl DoubleEndedIterator<Item = &str> {
    path.split('/').filter(|c| !c.is_empty() && *c != ".")
}

fn join(names: &[String]) -> String {
    if names.is_empty() {
        return "/".to_string();
    }
    let mut s = String::with_capacity(names.iter().map(|n| n.len() + 1).sum());
    for n in names {
        s.push('/');
        s.push_str(n);
    }
    s
}

/// Lexically normalize `path` inside the root: `.` and empty components dropped, `..`
/// removes the previous component. `None` if `..` would climb above `/`.
pub(crate) fn normalize(path: &str) -> Option<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for c in components(path) {
        if c == ".." {
            out.pop()?;
        } else {
            out.push(c.to_string());
        }
    }
    Some(out)
}

impl Vroot {
    /// An empty root (`/` only) using default limits.
    pub fn new() -> Vroot {
        Vroot::default()
    }

    /// An empty root (`/` only).
    pub fn with_limits(limits: Limits) -> Vroot {
        Vroot {
            root: Node::default_dir(),
            host: None,
            limits,
            retained: 0,
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Host folder this root reads from, for roots built with [`Vroot::from_host_dir`].
    pub fn host_dir(&self) -> Option<&Path> {
        self.host.as_deref()
    }

    /// Bytes of file content held in memory (counted when inserted).
    pub fn retained_bytes(&self) -> u64 {
        self.retained
    }

    fn check_len(&self, path: &str) -> Result<(), ImageError> {
        if path.len() > self.limits.max_path_len {
            return Err(ImageError::LimitExceeded {
                limit: "max_path_len",
                value: path.len() as u64,
                max: self.limits.max_path_len as u64,
                context: truncate(path),
            });
        }
        Ok(())
    }

    /// Walk `path`, following symlinks (the last one only if `follow_last`).
    fn resolve(&self, path: &str, follow_last: bool) -> Result<(Vec<String>, &Node), ImageError> {
        self.check_len(path)?;
        let mut pending: Vec<String> = components(path).rev().map(str::to_string).collect();
        let mut names: Vec<String> = Vec::new();
        let mut nodes: Vec<&Node> = Vec::new();
        let mut hops = 0u32;
        while let Some(c) = pending.pop() {
            if c == ".." {
                names.pop();
                nodes.pop();
                continue;
            }
            let cur = nodes.last().copied().unwrap_or(&self.root);
            if !cur.is_dir() {
                return Err(ImageError::NotADirectory { path: join(&names) });
            }
            let Some(child) = cur.children.get(&c) else {
                return Err(ImageError::NotFound {
                    path: path.to_string(),
                });
            };
            if let Data::Symlink(target) = &child.data {
                if follow_last || !pending.is_empty() {
                    hops += 1;
                    if hops > self.limits.max_symlink_hops {
                        return Err(ImageError::SymlinkLoop {
                            path: path.to_string(),
                            hops: self.limits.max_symlink_hops,
                        });
                    }
                    if target.starts_with('/') {
                        names.clear();
                        nodes.clear();
                    }
                    pending.extend(components(target).rev().map(str::to_string));
                    continue;
                }
            }
            names.push(c);
            nodes.push(child);
        }
        let node = nodes.last().copied().unwrap_or(&self.root);
        Ok((names, node))
    }

    /// Resolve `path` following symlinks inside the root; the canonical absolute path.
    pub fn canonicalize(&self, path: &str) -> Result<String, ImageError> {
        self.resolve(path, true).map(|(n, _)| join(&n))
    }

    /// Like [`Vroot::canonicalize`] but a symlink in the last component is not followed.
    pub fn resolve_parent(&self, path: &str) -> Result<String, ImageError> {
        self.resolve(path, false).map(|(n, _)| join(&n))
    }

    /// Metadata of the node `path` leads to (symlinks followed).
    pub fn metadata(&self, path: &str) -> Result<Metadata, ImageError> {
        self.resolve(path, true).map(|(_, n)| n.meta)
    }

    /// Metadata of `path` itself (a final symlink is not followed).
    pub fn symlink_metadata(&self, path: &str) -> Result<Metadata, ImageError> {
        self.resolve(path, false).map(|(_, n)| n.meta)
    }

    /// Target of the symlink at `path`, as stored.
    pub fn read_link(&self, path: &str) -> Result<String, ImageError> {
        let (names, node) = self.resolve(path, false)?;
        match &node.data {
            Data::Symlink(t) => Ok(t.clone()),
            _ => Err(ImageError::NotASymlink { path: join(&names) }),
        }
    }

    pub fn exists(&self, path: &str) -> bool {
        self.resolve(path, true).is_ok()
    }

    /// Whether `read(path)` can return the bytes (content kept in memory or on the host).
    pub fn has_content(&self, path: &str) -> bool {
        matches!(
            self.resolve(path, true).map(|(_, n)| &n.data),
            Ok(Data::File(Content::Mem(_) | Content::Host { .. }))
        )
    }

    /// Names (not paths) in a directory, sorted.
    pub fn read_dir(&self, path: &str) -> Result<Vec<String>, ImageError> {
        let (names, node) = self.resolve(path, true)?;
        if !node.is_dir() {
            return Err(ImageError::NotADirectory { path: join(&names) });
        }
        Ok(node.children.keys().cloned().collect())
    }

    /// Every regular file as (canonical path, metadata), sorted by path.
    pub fn files(&self) -> Vec<(String, Metadata)> {
        let mut out = Vec::new();
        let mut stack: Vec<(String, &Node)> = vec![(String::new(), &self.root)];
        while let Some((prefix, node)) = stack.pop() {
            for (name, child) in &node.children {
                let p = format!("{prefix}/{name}");
                match child.data {
                    Data::Dir => stack.push((p, child)),
                    Data::File(_) => out.push((p, child.meta)),
                    _ => {}
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Number of nodes below `/` (all kinds).
    pub fn node_count(&self) -> u64 {
        let mut n = 0u64;
        let mut stack = vec![&self.root];
        while let Some(node) = stack.pop() {
            n += node.children.len() as u64;
            stack.extend(node.children.values());
        }
        n
    }

    /// File bytes (symlinks followed). Errors for directories, special files, missing
    /// paths, and files whose content was not retained.
    pub fn read(&self, path: &str) -> Result<Arc<[u8]>, ImageError> {
        let (names, node) = self.resolve(path, true)?;
        match &node.data {
            Data::File(Content::Mem(b)) => Ok(b.clone()),
            Data::File(Content::Host { rel, dev, ino }) => self.read_host(rel, *dev, *ino),
            Data::File(Content::Dropped) => Err(ImageError::ContentNotRetained {
                path: join(&names),
                size: node.meta.size,
            }),
            Data::Dir => Err(ImageError::IsADirectory { path: join(&names) }),
            Data::Symlink(_) | Data::Special => Err(ImageError::NotAFile {
                path: join(&names),
                kind: node.meta.kind.as_str(),
            }),
        }
    }

    /// Read a file of a host-folder root: opened without following a final symlink and
    /// without blocking, then checked to be the very inode indexed (so a component swapped
    /// for a symlink since indexing is detected, never followed out of the folder).
    fn read_host(&self, rel: &Path, dev: u64, ino: u64) -> Result<Arc<[u8]>, ImageError> {
        let root = self.host.as_deref().unwrap_or(Path::new("/nonexistent"));
        let full = root.join(rel);
        let flags = nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_NONBLOCK;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(flags.bits())
            .open(&full)
            .map_err(|e| ImageError::io(&full, e))?;
        let m = file.metadata().map_err(|e| ImageError::io(&full, e))?;
        if !m.is_file() || m.dev() != dev || m.ino() != ino {
            return Err(ImageError::HostChanged { path: full });
        }
        let max = self.limits.max_file_bytes;
        if m.len() > max {
            return Err(ImageError::LimitExceeded {
                limit: "max_file_bytes",
                value: m.len(),
                max,
                context: full.display().to_string(),
            });
        }
        let mut buf = Vec::with_capacity(usize::try_from(m.len()).unwrap_or(0));
        file.take(max + 1)
            .read_to_end(&mut buf)
            .map_err(|e| ImageError::io(&full, e))?;
        if buf.len() as u64 > max {
            return Err(ImageError::LimitExceeded {
                limit: "max_file_bytes",
                value: buf.len() as u64,
                max,
                context: full.display().to_string(),
            });
        }
        Ok(Arc::from(buf))
    }

    // ---------------------------------------------------------------- building

    /// Canonical components for creating something under `comps`: existing symlinks are
    /// followed (confined to the root); missing or non-directory components are taken
    /// literally (they will be created, or replaced, as directories).
    fn resolve_create(&self, path: &str, comps: &[String]) -> Result<Vec<String>, ImageError> {
        let mut pending: Vec<String> = comps.iter().rev().cloned().collect();
        let mut names: Vec<String> = Vec::new();
        let mut nodes: Vec<Option<&Node>> = Vec::new();
        let mut hops = 0u32;
        while let Some(c) = pending.pop() {
            if c == ".." {
                names.pop();
                nodes.pop();
                continue;
            }
            let cur = nodes.last().copied().unwrap_or(Some(&self.root));
            let child = cur.and_then(|n| n.children.get(&c));
            if let Some(Node {
                data: Data::Symlink(target),
                ..
            }) = child
            {
                hops += 1;
                if hops > self.limits.max_symlink_hops {
                    return Err(ImageError::SymlinkLoop {
                        path: path.to_string(),
                        hops: self.limits.max_symlink_hops,
                    });
                }
                if target.starts_with('/') {
                    names.clear();
                    nodes.clear();
                }
                pending.extend(components(target).rev().map(str::to_string));
                continue;
            }
            names.push(c);
            nodes.push(child.filter(|n| n.is_dir()));
        }
        let total: usize = names.iter().map(|n| n.len() + 1).sum();
        if total > self.limits.max_path_len {
            return Err(ImageError::LimitExceeded {
                limit: "max_path_len",
                value: total as u64,
                max: self.limits.max_path_len as u64,
                context: truncate(path),
            });
        }
        Ok(names)
    }

    /// Children map of the directory at canonical `names`, creating missing directories and
    /// replacing non-directories on the way.
    fn dir_mut(&mut self, names: &[String]) -> &mut BTreeMap<String, Node> {
        let mut cur = &mut self.root;
        for name in names {
            let next = cur
                .children
                .entry(name.clone())
                .or_insert_with(Node::default_dir);
            if !next.is_dir() {
                *next = Node::default_dir();
            }
            cur = next;
        }
        &mut cur.children
    }

    fn split(&self, path: &str) -> Result<Vec<String>, ImageError> {
        self.check_len(path)?;
        normalize(path).ok_or_else(|| ImageError::PathEscape {
            layer: "-".to_string(),
            name: path.to_string(),
        })
    }

    fn insert_node(&mut self, path: &str, node: Node) -> Result<(), ImageError> {
        let comps = self.split(path)?;
        let Some((last, parent)) = comps.split_last() else {
            if node.is_dir() {
                self.root.meta = node.meta;
                return Ok(());
            }
            return Err(ImageError::IsADirectory {
                path: "/".to_string(),
            });
        };
        let canon = self.resolve_create(path, parent)?;
        let dir = self.dir_mut(&canon);
        match dir.get_mut(last) {
            Some(existing) if existing.is_dir() && node.is_dir() => existing.meta = node.meta,
            _ => {
                dir.insert(last.clone(), node);
            }
        }
        Ok(())
    }

    /// Add (or update the metadata of) a directory; missing parents are created.
    /// An existing directory keeps its children; any other node there is replaced.
    pub fn insert_dir(&mut self, path: &str, meta: Metadata) -> Result<(), ImageError> {
        let meta = Metadata {
            kind: FileKind::Dir,
            ..meta
        };
        self.insert_node(path, Node::dir(meta))
    }

    /// Add a regular file. `content: None` records metadata only (`read` will say the
    /// content was not retained). Fails if the retained-memory cap would be passed.
    pub fn insert_file(
        &mut self,
        path: &str,
        meta: Metadata,
        content: Option<Arc<[u8]>>,
    ) -> Result<(), ImageError> {
        let meta = Metadata {
            kind: FileKind::File,
            ..meta
        };
        let content = match content {
            Some(b) => {
                let total = self.retained.saturating_add(b.len() as u64);
                if total > self.limits.max_retained_bytes {
                    return Err(ImageError::LimitExceeded {
                        limit: "max_retained_bytes",
                        value: total,
                        max: self.limits.max_retained_bytes,
                        context: truncate(path),
                    });
                }
                self.retained = total;
                Content::Mem(b)
            }
            None => Content::Dropped,
        };
        self.insert_node(
            path,
            Node {
                meta,
                data: Data::File(content),
                children: BTreeMap::new(),
            },
        )
    }

    /// Add a symlink. Any target is accepted (resolution keeps it inside the root).
    pub fn insert_symlink(
        &mut self,
        path: &str,
        target: &str,
        meta: Metadata,
    ) -> Result<(), ImageError> {
        self.check_len(target)?;
        let meta = Metadata {
            kind: FileKind::Symlink,
            size: target.len() as u64,
            ..meta
        };
        self.insert_node(
            path,
            Node {
                meta,
                data: Data::Symlink(target.to_string()),
                children: BTreeMap::new(),
            },
        )
    }

    /// Add a device node, fifo or socket (metadata only). `meta.kind` says which; any other
    /// kind is recorded as a character device.
    pub fn insert_special(&mut self, path: &str, meta: Metadata) -> Result<(), ImageError> {
        let kind = match meta.kind {
            k @ (FileKind::BlockDev | FileKind::Fifo | FileKind::Socket) => k,
            _ => FileKind::CharDev,
        };
        self.insert_node(
            path,
            Node {
                meta: Metadata { kind, ..meta },
                data: Data::Special,
                children: BTreeMap::new(),
            },
        )
    }

    /// Make `path` another name for the existing non-directory `target` (which is looked up
    /// without following a final symlink, like link(2)). The content is shared.
    pub fn insert_hardlink(&mut self, path: &str, target: &str) -> Result<(), ImageError> {
        let (names, node) = self.resolve(target, false)?;
        if node.is_dir() {
            return Err(ImageError::IsADirectory { path: join(&names) });
        }
        let node = node.clone();
        self.insert_node(path, node)
    }

    /// Remove `path` (not following a final symlink) and everything below it.
    /// Returns whether something was removed. Removing `/` is refused.
    pub fn remove(&mut self, path: &str) -> Result<bool, ImageError> {
        let comps = self.split(path)?;
        let Some((last, parent)) = comps.split_last() else {
            return Err(ImageError::PathEscape {
                layer: "-".to_string(),
                name: path.to_string(),
            });
        };
        let canon = match self.resolve(&join(parent), true) {
            Ok((names, n)) if n.is_dir() => names,
            _ => return Ok(false),
        };
        Ok(self.dir_mut(&canon).remove(last).is_some())
    }

    /// Make the directory at `path` empty (an opaque whiteout): its children are dropped;
    /// a non-directory there is replaced by an empty directory.
    pub fn clear_dir(&mut self, path: &str) -> Result<(), ImageError> {
        let comps = self.split(path)?;
        let Some((last, parent)) = comps.split_last() else {
            self.root.children.clear();
            return Ok(());
        };
        let canon = match self.resolve(&join(parent), true) {
            Ok((names, n)) if n.is_dir() => names,
            _ => return Ok(()),
        };
        if let Some(node) = self.dir_mut(&canon).get_mut(last) {
            if node.is_dir() {
                node.children.clear();
            } else {
                *node = Node::default_dir();
            }
        }
        Ok(())
    }

    // ---------------------------------------------------------------- host folders

    /// Index a host folder as an image root. The tree is walked with lstat (host symlinks
    /// are recorded, never followed); file contents stay on disk and are read by `read`.
    pub fn from_host_dir(dir: &Path, limits: &Limits) -> Result<Vroot, ImageError> {
        let meta = std::fs::metadata(dir).map_err(|e| ImageError::io(dir, e))?;
        if !meta.is_dir() {
            return Err(ImageError::NotADirectory {
                path: dir.display().to_string(),
            });
        }
        let mut vr = Vroot::with_limits(limits.clone());
        vr.host = Some(dir.to_path_buf());
        vr.root.meta = host_meta(&meta);
        let mut count = 0u64;
        // (host path relative to `dir`, canonical image components)
        let mut stack: Vec<(PathBuf, Vec<String>)> = vec![(PathBuf::new(), Vec::new())];
        while let Some((rel, comps)) = stack.pop() {
            let host_path = dir.join(&rel);
            let rd = std::fs::read_dir(&host_path).map_err(|e| ImageError::io(&host_path, e))?;
            let mut children: Vec<(String, Node)> = Vec::new();
            for entry in rd {
                let entry = entry.map_err(|e| ImageError::io(&host_path, e))?;
                count += 1;
                if count > limits.max_entries {
                    return Err(ImageError::LimitExceeded {
                        limit: "max_entries",
                        value: count,
                        max: limits.max_entries,
                        context: dir.display().to_string(),
                    });
                }
                let name = entry.file_name().to_string_lossy().into_owned();
                let child_rel = rel.join(entry.file_name());
                let image_len: usize =
                    comps.iter().map(|c| c.len() + 1).sum::<usize>() + name.len() + 1;
                if image_len > limits.max_path_len {
                    return Err(ImageError::LimitExceeded {
                        limit: "max_path_len",
                        value: image_len as u64,
                        max: limits.max_path_len as u64,
                        context: truncate(&child_rel.display().to_string()),
                    });
                }
                // DirEntry::metadata does not follow symlinks.
                let m = entry
                    .metadata()
                    .map_err(|e| ImageError::io(dir.join(&child_rel), e))?;
                let meta = host_meta(&m);
                let node = match meta.kind {
                    FileKind::Dir => {
                        let mut c = comps.clone();
                        c.push(name.clone());
                        stack.push((child_rel, c));
                        Node::dir(meta)
                    }
                    FileKind::File => Node {
                        meta,
                        data: Data::File(Content::Host {
                            rel: child_rel,
                            dev: m.dev(),
                            ino: m.ino(),
                        }),
                        children: BTreeMap::new(),
                    },
                    FileKind::Symlink => {
                        let full = dir.join(&child_rel);
                        let t = std::fs::read_link(&full).map_err(|e| ImageError::io(&full, e))?;
                        let t = t.to_string_lossy().into_owned();
                        if t.len() > limits.max_path_len {
                            return Err(ImageError::LimitExceeded {
                                limit: "max_path_len",
                                value: t.len() as u64,
                                max: limits.max_path_len as u64,
                                context: full.display().to_string(),
                            });
                        }
                        Node {
                            meta,
                            data: Data::Symlink(t),
                            children: BTreeMap::new(),
                        }
                    }
                    _ => Node {
                        meta,
                        data: Data::Special,
                        children: BTreeMap::new(),
                    },
                };
                children.push((name, node));
            }
            let d = vr.dir_mut(&comps);
            d.extend(children);
        }
        Ok(vr)
    }
}

fn host_meta(m: &std::fs::Metadata) -> Metadata {
    let ft = m.file_type();
    let kind = if ft.is_dir() {
        FileKind::Dir
    } else if ft.is_file() {
        FileKind::File
    } else if ft.is_symlink() {
        FileKind::Symlink
    } else if ft.is_block_device() {
        FileKind::BlockDev
    } else if ft.is_fifo() {
        FileKind::Fifo
    } else if ft.is_socket() {
        FileKind::Socket
    } else {
        FileKind::CharDev
    };
    Metadata {
        kind,
        mode: m.mode() & 0o7777,
        size: m.size(),
        uid: m.uid(),
        gid: m.gid(),
    }
}

/// A path shortened for error messages.
pub(crate) fn truncate(s: &str) -> String {
    if s.len() <= 200 {
        return s.to_string();
    }
    let mut end = 200;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", s.get(..end).unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(mode: u32) -> Metadata {
        Metadata::new(FileKind::File, mode, 0)
    }
    fn d() -> Metadata {
        Metadata::new(FileKind::Dir, 0o755, 0)
    }
    fn l() -> Metadata {
        Metadata::new(FileKind::Symlink, 0o777, 0)
    }

    fn sample() -> Vroot {
        let mut v = Vroot::new();
        v.insert_dir("/usr/lib", d()).unwrap();
        v.insert_file(
            "/usr/lib/libc.so.6",
            f(0o755),
            Some(Arc::from(&b"\x7fELF"[..])),
        )
        .unwrap();
        v.insert_symlink("/lib", "usr/lib", l()).unwrap();
        v.insert_symlink("/usr/lib/libc.so", "libc.so.6", l())
            .unwrap();
        v.insert_symlink("/abs", "/usr/lib/libc.so", l()).unwrap();
        v.insert_symlink("/escape", "../../../../usr/lib", l())
            .unwrap();
        v.insert_symlink("/loop1", "loop2", l()).unwrap();
        v.insert_symlink("/loop2", "/loop1", l()).unwrap();
        v.insert_symlink("/dangling", "nowhere", l()).unwrap();
        v
    }

    #[test]
    fn resolves_symlinks_inside_root() {
        let v = sample();
        assert_eq!(
            v.canonicalize("/lib/libc.so").unwrap(),
            "/usr/lib/libc.so.6"
        );
        assert_eq!(v.canonicalize("/abs").unwrap(), "/usr/lib/libc.so.6");
        assert_eq!(
            v.canonicalize("/escape/libc.so.6").unwrap(),
            "/usr/lib/libc.so.6"
        );
        assert_eq!(
            v.canonicalize("/../../lib/./libc.so").unwrap(),
            "/usr/lib/libc.so.6"
        );
        assert_eq!(v.canonicalize("lib").unwrap(), "/usr/lib");
        assert_eq!(v.canonicalize("/").unwrap(), "/");
        assert_eq!(
            v.resolve_parent("/lib/libc.so").unwrap(),
            "/usr/lib/libc.so"
        );
        assert_eq!(v.read_link("/lib/libc.so").unwrap(), "libc.so.6");
        assert_eq!(&*v.read("/abs").unwrap(), b"\x7fELF");
        assert!(v.symlink_metadata("/abs").unwrap().is_symlink());
        assert!(v.metadata("/abs").unwrap().is_file());
        assert_eq!(v.metadata("/abs").unwrap().mode, 0o755);
        assert!(v.exists("/lib/libc.so.6"));
        assert!(!v.exists("/dangling"));
        assert!(v.symlink_metadata("/dangling").is_ok());
        assert_eq!(v.read_dir("/lib").unwrap(), vec!["libc.so", "libc.so.6"]);
        let files: Vec<String> = v.files().into_iter().map(|(p, _)| p).collect();
        assert_eq!(files, vec!["/usr/lib/libc.so.6"]);
    }

    #[test]
    fn symlink_loop_is_an_error_naming_the_path() {
        let v = sample();
        match v.canonicalize("/loop1/x") {
            Err(ImageError::SymlinkLoop { path, hops }) => {
                assert_eq!(path, "/loop1/x");
                assert_eq!(hops, 40);
            }
            other => panic!("unexpected {other:?}"),
        }
        // not following the last component does not loop
        assert_eq!(v.resolve_parent("/loop1").unwrap(), "/loop1");
    }

    #[test]
    fn errors_are_specific() {
        let v = sample();
        assert!(matches!(
            v.read("/usr"),
            Err(ImageError::IsADirectory { .. })
        ));
        assert!(matches!(v.read("/nope"), Err(ImageError::NotFound { .. })));
        assert!(matches!(
            v.read("/usr/lib/libc.so.6/x"),
            Err(ImageError::NotADirectory { .. })
        ));
        assert!(matches!(
            v.read_link("/usr"),
            Err(ImageError::NotASymlink { .. })
        ));
        let long = "/a".repeat(3000);
        assert!(matches!(
            v.canonicalize(&long),
            Err(ImageError::LimitExceeded {
                limit: "max_path_len",
                ..
            })
        ));
        let mut w = Vroot::new();
        w.insert_file("/big", f(0o644), None).unwrap();
        assert!(matches!(
            w.read("/big"),
            Err(ImageError::ContentNotRetained { .. })
        ));
        assert!(!w.has_content("/big"));
        assert!(matches!(
            w.insert_file("/../x", f(0), None),
            Err(ImageError::PathEscape { .. })
        ));
    }

    #[test]
    fn builder_replaces_removes_and_clears() {
        let mut v = sample();
        // a directory entry over a symlink replaces it
        v.insert_dir("/lib", d()).unwrap();
        assert!(v.symlink_metadata("/lib").unwrap().is_dir());
        assert_eq!(v.read_dir("/lib").unwrap(), Vec::<String>::new());
        // a file under a symlinked parent goes where the symlink points
        v.insert_symlink("/l2", "/usr/lib", l()).unwrap();
        v.insert_file("/l2/new", f(0o644), Some(Arc::from(&b"x"[..])))
            .unwrap();
        assert!(v.exists("/usr/lib/new"));
        // hard link shares content
        v.insert_hardlink("/usr/hl", "/usr/lib/libc.so.6").unwrap();
        assert_eq!(&*v.read("/usr/hl").unwrap(), b"\x7fELF");
        assert!(matches!(
            v.insert_hardlink("/x", "/usr"),
            Err(ImageError::IsADirectory { .. })
        ));
        assert!(matches!(
            v.insert_hardlink("/x", "/missing"),
            Err(ImageError::NotFound { .. })
        ));
        assert!(v.remove("/usr/hl").unwrap());
        assert!(!v.remove("/usr/hl").unwrap());
        assert!(v.remove("/").is_err());
        v.clear_dir("/usr/lib").unwrap();
        assert!(v.read_dir("/usr/lib").unwrap().is_empty());
        // a file as parent gets replaced by a directory
        v.insert_file("/usr/file", f(0o644), None).unwrap();
        v.insert_file("/usr/file/inner", f(0o644), None).unwrap();
        assert!(v.metadata("/usr/file").unwrap().is_dir());
    }

    #[test]
    fn deepest_tree_allowed_by_path_limit_drops_and_clones() {
        let deep = "/a".repeat(2048);
        let mut v = Vroot::new();
        v.insert_file(&deep, f(0o644), None).unwrap();
        assert!(v.exists(&deep));
        let c = v.clone();
        drop(v);
        assert_eq!(c.files().len(), 1);
        assert_eq!(c.canonicalize(&deep).unwrap(), deep);
        drop(c);
    }

    #[test]
    fn shareable_across_threads() {
        fn check<T: Send + Sync>() {}
        check::<Vroot>();
        check::<crate::Image>();
        check::<crate::OpenOptions>();
    }

    #[test]
    fn retained_cap_is_enforced() {
        let limits = Limits {
            max_retained_bytes: 10,
            ..Limits::default()
        };
        let mut v = Vroot::with_limits(limits);
        v.insert_file("/a", f(0o644), Some(Arc::from(vec![0u8; 8])))
            .unwrap();
        let e = v
            .insert_file("/b", f(0o644), Some(Arc::from(vec![0u8; 8])))
            .unwrap_err();
        assert!(matches!(
            e,
            ImageError::LimitExceeded {
                limit: "max_retained_bytes",
                ..
            }
        ));
    }

    #[test]
    fn host_folder_is_read_lazily_without_following_host_symlinks() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        std::fs::copy("/usr/bin/env", root.join("usr/bin/env")).unwrap();
        std::fs::write(tmp.path().join("secret"), b"host secret").unwrap();
        // host-absolute symlink: inside the image it points to /secret, which does not exist
        std::os::unix::fs::symlink(tmp.path().join("secret"), root.join("leak")).unwrap();
        std::os::unix::fs::symlink("usr/bin", root.join("bin")).unwrap();
        std::os::unix::fs::symlink("../../../../../../../etc/passwd", root.join("up")).unwrap();
        let v = Vroot::from_host_dir(&root, &Limits::default()).unwrap();
        let env = v.read("/bin/env").unwrap();
        assert_eq!(&*env, &std::fs::read("/usr/bin/env").unwrap()[..]);
        assert_eq!(&env[..4], b"\x7fELF");
        assert!(matches!(v.read("/leak"), Err(ImageError::NotFound { .. })));
        assert!(matches!(v.read("/up"), Err(ImageError::NotFound { .. })));
        assert_eq!(v.canonicalize("/bin/env").unwrap(), "/usr/bin/env");
        let files = v.files();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].1.size, env.len() as u64);
        // swapping a directory for a symlink after indexing is detected, not followed
        std::fs::rename(root.join("usr"), tmp.path().join("usr-moved")).unwrap();
        std::fs::create_dir_all(root.join("usr")).unwrap();
        std::os::unix::fs::symlink("/usr/bin", root.join("usr/bin")).unwrap();
        assert!(matches!(
            v.read("/usr/bin/env"),
            Err(ImageError::HostChanged { .. }) | Err(ImageError::Io { .. })
        ));
    }
}
