//! Transports: image references, docker-save and OCI archives (read as a stream), OCI layout
//! folders, host folders and the Docker engine; image config and digest verification.

use std::collections::HashMap;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::layer::TarReader;
use crate::layer::{apply_layer, parse_layer, Budget, Compression, Failure, ParsedLayer, Progress};
use crate::vroot::normalize;
use crate::{ImageError, Limits, Vroot};

/// The parts of the image config that decide what runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImageConfig {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub workdir: String,
    pub user: String,
    /// OCI/Go name: `amd64`, `arm64`, ...
    pub architecture: String,
    pub os: String,
}

/// One applied layer, bottom first.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LayerInfo {
    /// `sha256:` of the stored blob.
    pub digest: String,
    /// `sha256:` of the uncompressed tar.
    pub diff_id: String,
    /// Stored (possibly compressed) bytes.
    pub bytes: u64,
    /// Uncompressed tar bytes.
    pub tar_bytes: u64,
    /// Tar members (including whiteouts).
    pub entries: u64,
    pub compression: Compression,
}

/// An image read into memory: its config and root filesystem.
#[derive(Debug, Clone)]
pub struct Image {
    pub reference: String,
    pub config: ImageConfig,
    pub root: Vroot,
    pub layers: Vec<LayerInfo>,
}

/// Callback receiving layer read progress.
pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// How to read an image.
#[derive(Clone, Default)]
pub struct OpenOptions {
    pub limits: Limits,
    /// `os/arch[/variant]` to pick from a multi-platform index; default `linux/amd64`.
    pub platform: Option<String>,
    pub progress: Option<ProgressFn>,
}

impl std::fmt::Debug for OpenOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenOptions")
            .field("limits", &self.limits)
            .field("platform", &self.platform)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// Where an image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// `docker-daemon:NAME[:TAG]` or a bare name that is not an existing path.
    DockerDaemon(String),
    /// `docker-archive:PATH[:NAME]` (either `docker save` layout), or a bare file.
    DockerArchive(PathBuf),
    /// `oci:PATH` (an OCI image layout folder), or a bare folder holding index.json.
    Oci(PathBuf),
    /// `oci-archive:PATH` (a tar of an OCI image layout).
    OciArchive(PathBuf),
    /// `rootfs:PATH`, or any other bare folder.
    Rootfs(PathBuf),
}

/// Parse a reference into its transport. Bare references that name an existing path are
/// detected (folder with index.json: OCI layout; other folder: rootfs; file: archive);
/// any other bare reference is an image name in the Docker engine.
pub fn parse_reference(reference: &str) -> Result<Transport, ImageError> {
    let bad = |reason| ImageError::BadReference {
        reference: reference.to_string(),
        reason,
    };
    if let Some((prefix, rest)) = reference.split_once(':') {
        let known = [
            "docker-daemon",
            "docker-archive",
            "oci",
            "oci-archive",
            "rootfs",
        ];
        if known.contains(&prefix) && rest.is_empty() {
            return Err(bad("nothing after the transport name"));
        }
        match prefix {
            "docker-daemon" => return Ok(Transport::DockerDaemon(rest.to_string())),
            "docker-archive" => return Ok(Transport::DockerArchive(rest.into())),
            "oci" => return Ok(Transport::Oci(rest.into())),
            "oci-archive" => return Ok(Transport::OciArchive(rest.into())),
            "rootfs" => return Ok(Transport::Rootfs(rest.into())),
            "docker" if rest.starts_with("//") => {
                return Err(bad(
                    "pulling from a registry is not supported; pull with docker first",
                ))
            }
            _ => {}
        }
    }
    if reference.is_empty() {
        return Err(bad("empty reference"));
    }
    let p = Path::new(reference);
    match std::fs::metadata(p) {
        Ok(m) if m.is_dir() && p.join("index.json").is_file() => Ok(Transport::Oci(p.into())),
        Ok(m) if m.is_dir() => Ok(Transport::Rootfs(p.into())),
        Ok(_) => Ok(Transport::DockerArchive(p.into())),
        Err(_) => Ok(Transport::DockerDaemon(reference.to_string())),
    }
}

/// Parse `docker-daemon:NAME`, `docker-archive:PATH`, `oci:PATH[:REF]`, `oci-archive:PATH`,
/// `rootfs:PATH`, a bare existing path (detected), or a bare name (docker daemon).
pub fn open(reference: &str, opts: &OpenOptions) -> Result<Image, ImageError> {
    match parse_reference(reference)? {
        Transport::Rootfs(dir) => {
            let root = Vroot::from_host_dir(&dir, &opts.limits)?;
            let config = ImageConfig {
                architecture: host_arch().to_string(),
                os: "linux".to_string(),
                ..ImageConfig::default()
            };
            Ok(Image {
                reference: reference.to_string(),
                config,
                root,
                layers: Vec::new(),
            })
        }
        Transport::DockerArchive(path) | Transport::OciArchive(path) => {
            // `docker-archive:PATH:NAME` picks one image of a multi-image `docker save`
            let (path, want) = split_suffix(&path, Path::is_file);
            let file = std::fs::File::open(&path).map_err(|e| ImageError::io(&path, e))?;
            read_archive(
                io::BufReader::with_capacity(1 << 20, file),
                reference,
                want,
                opts,
            )
        }
        Transport::Oci(path) => {
            let (dir, want) = split_suffix(&path, Path::is_dir);
            read_oci_dir(&dir, reference, want, opts)
        }
        Transport::DockerDaemon(name) => {
            let engine = confine_engine::Engine::from_env()?;
            let stream = engine.export_image(&name)?;
            let stream = io::BufReader::with_capacity(1 << 20, stream);
            read_archive(stream, reference, Some(&name), opts)
        }
    }
}

/// `PATH` or `PATH:NAME`: when `path` does not exist, the shortest prefix before a `:` that
/// satisfies `is` is the path and the rest a name.
fn split_suffix(path: &Path, is: fn(&Path) -> bool) -> (PathBuf, Option<&str>) {
    if !path.exists() {
        if let Some(s) = path.to_str() {
            for (i, _) in s.match_indices(':') {
                if let (Some(p), Some(n)) = (s.get(..i), s.get(i + 1..)) {
                    if is(Path::new(p)) && !n.is_empty() {
                        return (PathBuf::from(p), Some(n));
                    }
                }
            }
        }
    }
    (path.to_path_buf(), None)
}

/// The OCI architecture name of this host.
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

impl Vroot {
    /// Read one layer tar (plain, gzip or zstd) from `reader` and apply it on top of this
    /// root, with whiteouts. Size and entry limits count this layer alone; the retained
    /// memory cap is the root's. `id` names the layer in errors and is not verified.
    pub fn apply_layer_tar<R: Read>(
        &mut self,
        reader: R,
        id: &str,
    ) -> Result<LayerInfo, ImageError> {
        let limits = self.limits().clone();
        let mut budget = Budget::default();
        let parsed = parse_layer(reader, id, 0, None, None, &limits, &mut budget, None)?;
        apply_layer(self, &parsed)?;
        Ok(info(&parsed))
    }
}

// ------------------------------------------------------------------ config and digests

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

fn string(v: Option<&Value>) -> String {
    v.and_then(Value::as_str).unwrap_or("").to_string()
}

fn parse_json(bytes: &[u8], what: &str) -> Result<Value, ImageError> {
    serde_json::from_slice(bytes).map_err(|source| ImageError::Json {
        what: what.to_string(),
        source,
    })
}

/// Image config and its `rootfs.diff_ids`.
fn parse_config(bytes: &[u8], what: &str) -> Result<(ImageConfig, Vec<String>), ImageError> {
    let v = parse_json(bytes, what)?;
    let c = v.get("config").or_else(|| v.get("Config"));
    let get = |k: &str| c.and_then(|c| c.get(k));
    let config = ImageConfig {
        entrypoint: strings(get("Entrypoint")),
        cmd: strings(get("Cmd")),
        env: strings(get("Env")),
        workdir: string(get("WorkingDir")),
        user: string(get("User")),
        architecture: string(v.get("architecture")),
        os: string(v.get("os")),
    };
    let diff_ids = strings(v.get("rootfs").and_then(|r| r.get("diff_ids")));
    Ok((config, diff_ids))
}

/// The hex part of a `sha256:` digest, validated (64 lowercase hex digits).
fn digest_hex(digest: &str) -> Result<&str, ImageError> {
    match digest.strip_prefix("sha256:") {
        Some(h)
            if h.len() == 64
                && h.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
        {
            Ok(h)
        }
        _ => Err(ImageError::BadDigest {
            digest: digest.to_string(),
        }),
    }
}

fn sha256_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn check_digest(what: &str, expected: &str, actual: &str) -> Result<(), ImageError> {
    if expected != actual {
        return Err(ImageError::DigestMismatch {
            what: what.to_string(),
            expected: expected.to_string(),
            actual: actual.to_string(),
        });
    }
    Ok(())
}

/// A digest implied by an archive member name (`blobs/sha256/HEX` or `HEX.json`).
fn digest_from_name(key: &str) -> Option<String> {
    let hex = key
        .strip_prefix("blobs/sha256/")
        .or_else(|| key.strip_suffix(".json"))?;
    let d = format!("sha256:{hex}");
    if digest_hex(&d).is_ok() {
        Some(d)
    } else {
        None
    }
}

fn layout(reference: &str, reason: impl Into<String>) -> ImageError {
    ImageError::Layout {
        reference: reference.to_string(),
        reason: reason.into(),
    }
}

fn info(l: &ParsedLayer) -> LayerInfo {
    LayerInfo {
        digest: l.digest.clone(),
        diff_id: l.diff_id.clone(),
        bytes: l.stored_bytes,
        tar_bytes: l.tar_bytes,
        entries: l.header_count,
        compression: l.compression,
    }
}

fn check_layer_count(n: usize, limits: &Limits, reference: &str) -> Result<(), ImageError> {
    if n > limits.max_layers {
        return Err(ImageError::LimitExceeded {
            limit: "max_layers",
            value: n as u64,
            max: limits.max_layers as u64,
            context: reference.to_string(),
        });
    }
    Ok(())
}

fn check_diff_ids(
    diff_ids: &[String],
    layers: &[LayerInfo],
    reference: &str,
) -> Result<(), ImageError> {
    if diff_ids.is_empty() {
        return Ok(());
    }
    if diff_ids.len() != layers.len() {
        return Err(layout(
            reference,
            format!(
                "config lists {} diff_ids but the manifest {} layers",
                diff_ids.len(),
                layers.len()
            ),
        ));
    }
    for (i, (want, l)) in diff_ids.iter().zip(layers).enumerate() {
        check_digest(
            &format!("layer {i} ({}) diff_id", l.digest),
            want,
            &l.diff_id,
        )?;
    }
    Ok(())
}

// ------------------------------------------------------------------ OCI index walking

fn platform_of(desc: &Value) -> Option<(String, String, String)> {
    let p = desc.get("platform")?;
    Some((
        string(p.get("os")),
        string(p.get("architecture")),
        string(p.get("variant")),
    ))
}

/// Walk index.json (and nested indexes) down to one image manifest; returns its JSON.
fn resolve_oci(
    index: &[u8],
    reference: &str,
    want: Option<&str>,
    platform: Option<&str>,
    limits: &Limits,
    get_json: &mut dyn FnMut(&str) -> Result<Vec<u8>, ImageError>,
) -> Result<Value, ImageError> {
    let wanted = platform.unwrap_or("linux/amd64");
    let mut parts = wanted.split('/');
    let (w_os, w_arch, w_var) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next(),
    );
    let mut doc = parse_json(index, &format!("{reference} index.json"))?;
    let mut by_name = want;
    for _depth in 0..8 {
        if doc.get("layers").is_some() {
            return Ok(doc);
        }
        let Some(manifests) = doc.get("manifests").and_then(Value::as_array) else {
            return Err(layout(reference, "index has neither manifests nor layers"));
        };
        let usable: Vec<&Value> = manifests
            .iter()
            .filter(|m| {
                // skip buildkit attestation manifests
                let attest = m
                    .pointer("/annotations/vnd.docker.reference.type")
                    .and_then(Value::as_str)
                    == Some("attestation-manifest");
                let unknown =
                    platform_of(m).is_some_and(|(o, a, _)| o == "unknown" && a == "unknown");
                !attest && !unknown
            })
            .collect();
        let named: Vec<&Value> = match by_name.take() {
            Some(n) => {
                let hit: Vec<&Value> = usable
                    .iter()
                    .copied()
                    .filter(|m| {
                        [
                            "/annotations/org.opencontainers.image.ref.name",
                            "/annotations/io.containerd.image.name",
                        ]
                        .iter()
                        .any(|p| m.pointer(p).and_then(Value::as_str) == Some(n))
                    })
                    .collect();
                if hit.is_empty() {
                    return Err(layout(
                        reference,
                        format!("no manifest named {n:?} in the index"),
                    ));
                }
                hit
            }
            None => usable,
        };
        let with_platform: Vec<&Value> = named
            .iter()
            .copied()
            .filter(|m| platform_of(m).is_some())
            .collect();
        let chosen = if with_platform.is_empty() {
            named.first().copied()
        } else {
            let hit = with_platform.iter().copied().find(|m| {
                platform_of(m).is_some_and(|(o, a, v)| {
                    o == w_os
                        && a == w_arch
                        && match w_var {
                            None => true,
                            Some(wv) => wv == v,
                        }
                })
            });
            if hit.is_none() {
                let available: Vec<String> = with_platform
                    .iter()
                    .filter_map(|m| platform_of(m))
                    .map(|(o, a, v)| {
                        if v.is_empty() {
                            format!("{o}/{a}")
                        } else {
                            format!("{o}/{a}/{v}")
                        }
                    })
                    .collect();
                return Err(ImageError::NoMatchingPlatform {
                    reference: reference.to_string(),
                    wanted: wanted.to_string(),
                    available: available.join(", "),
                });
            }
            hit
        };
        let Some(desc) = chosen else {
            return Err(layout(reference, "index lists no manifests"));
        };
        let digest = string(desc.get("digest"));
        let bytes = get_json(&digest)?;
        if bytes.len() as u64 > limits.max_json_bytes {
            return Err(ImageError::LimitExceeded {
                limit: "max_json_bytes",
                value: bytes.len() as u64,
                max: limits.max_json_bytes,
                context: digest,
            });
        }
        doc = parse_json(&bytes, &format!("{reference} manifest {digest}"))?;
    }
    Err(layout(reference, "indexes nested too deep"))
}

/// Config digest and layer digests of an image manifest.
fn manifest_parts(manifest: &Value, reference: &str) -> Result<(String, Vec<String>), ImageError> {
    let config = manifest
        .pointer("/config/digest")
        .and_then(Value::as_str)
        .ok_or_else(|| layout(reference, "manifest has no config digest"))?
        .to_string();
    let layers = manifest
        .get("layers")
        .and_then(Value::as_array)
        .ok_or_else(|| layout(reference, "manifest has no layers"))?
        .iter()
        .map(|l| string(l.get("digest")))
        .collect();
    Ok((config, layers))
}

// ------------------------------------------------------------------ OCI layout folder

/// Open a blob of an OCI layout folder without following a final symlink.
fn open_blob(dir: &Path, digest: &str) -> Result<(std::fs::File, PathBuf), ImageError> {
    let hex = digest_hex(digest)?;
    let path = dir.join("blobs").join("sha256").join(hex);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits() | nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(&path)
        .map_err(|e| ImageError::io(&path, e))?;
    Ok((file, path))
}

fn read_bounded(r: impl Read, max: u64, path: &Path) -> Result<Vec<u8>, ImageError> {
    let mut v = Vec::new();
    r.take(max + 1)
        .read_to_end(&mut v)
        .map_err(|e| ImageError::io(path, e))?;
    if v.len() as u64 > max {
        return Err(ImageError::LimitExceeded {
            limit: "max_json_bytes",
            value: v.len() as u64,
            max,
            context: path.display().to_string(),
        });
    }
    Ok(v)
}

fn read_oci_dir(
    dir: &Path,
    reference: &str,
    want: Option<&str>,
    opts: &OpenOptions,
) -> Result<Image, ImageError> {
    let limits = &opts.limits;
    let index_path = dir.join("index.json");
    let index_file =
        std::fs::File::open(&index_path).map_err(|e| ImageError::io(&index_path, e))?;
    let index = read_bounded(index_file, limits.max_json_bytes, &index_path)?;
    let mut get_json = |digest: &str| -> Result<Vec<u8>, ImageError> {
        let (f, path) = open_blob(dir, digest)?;
        let bytes = read_bounded(f, limits.max_json_bytes, &path)?;
        check_digest(&path.display().to_string(), digest, &sha256_of(&bytes))?;
        Ok(bytes)
    };
    let manifest = resolve_oci(
        &index,
        reference,
        want,
        opts.platform.as_deref(),
        limits,
        &mut get_json,
    )?;
    let (config_digest, layer_digests) = manifest_parts(&manifest, reference)?;
    let config_bytes = get_json(&config_digest)?;
    let (config, diff_ids) = parse_config(
        &config_bytes,
        &format!("{reference} config {config_digest}"),
    )?;
    check_layer_count(layer_digests.len(), limits, reference)?;
    let progress = opts.progress.as_deref().map(|f| f as &dyn Fn(Progress));
    let mut budget = Budget::default();
    let mut root = Vroot::with_limits(limits.clone());
    let mut layers = Vec::new();
    for (i, digest) in layer_digests.iter().enumerate() {
        let (f, path) = open_blob(dir, digest)?;
        let size = f.metadata().ok().map(|m| m.len());
        let parsed = parse_layer(
            io::BufReader::with_capacity(1 << 20, f),
            digest,
            i,
            size,
            Some(digest),
            limits,
            &mut budget,
            progress,
        )?;
        check_digest(&path.display().to_string(), digest, &parsed.digest)?;
        apply_layer(&mut root, &parsed)?;
        layers.push(info(&parsed));
    }
    check_diff_ids(&diff_ids, &layers, reference)?;
    Ok(Image {
        reference: reference.to_string(),
        config,
        root,
        layers,
    })
}

// ------------------------------------------------------------------ archives (streamed)

enum BlobData {
    Json(Vec<u8>),
    TooLargeJson(u64),
    Layer(Box<Result<ParsedLayer, ImageError>>),
    Other,
}

struct Blob {
    /// `sha256:` of the member's bytes, when computed (JSON and layers).
    digest: Option<String>,
    data: BlobData,
}

/// A JSON member's bytes and digest.
type JsonMember<'a> = (&'a Vec<u8>, Option<&'a str>);

struct Archive {
    reference: String,
    blobs: HashMap<String, Blob>,
    /// symlink or hard link member -> target member
    links: HashMap<String, String>,
    json_limit: u64,
}

impl Archive {
    fn find(&self, key: &str) -> Option<(String, &Blob)> {
        let key = normalize(key)?.join("/");
        let mut k = key.as_str();
        for _ in 0..16 {
            if let Some(b) = self.blobs.get(k) {
                return Some((k.to_string(), b));
            }
            k = self.links.get(k)?;
        }
        None
    }

    fn missing(&self, key: &str) -> ImageError {
        layout(&self.reference, format!("archive has no member {key:?}"))
    }

    fn json(&self, key: &str) -> Result<Option<JsonMember<'_>>, ImageError> {
        match self.find(key) {
            None => Ok(None),
            Some((_, b)) => match &b.data {
                BlobData::Json(v) => Ok(Some((v, b.digest.as_deref()))),
                BlobData::TooLargeJson(n) => Err(ImageError::LimitExceeded {
                    limit: "max_json_bytes",
                    value: *n,
                    max: self.json_limit,
                    context: format!("{} {key}", self.reference),
                }),
                _ => Err(layout(
                    &self.reference,
                    format!("member {key:?} is not json"),
                )),
            },
        }
    }

    /// JSON member that must exist; its digest checked against the name or `expected`.
    fn json_checked(&self, key: &str, expected: Option<&str>) -> Result<&Vec<u8>, ImageError> {
        let (bytes, actual) = self.json(key)?.ok_or_else(|| self.missing(key))?;
        let actual = actual.unwrap_or("");
        if let Some(e) = expected
            .map(str::to_string)
            .or_else(|| digest_from_name(key))
        {
            check_digest(&format!("{} {key}", self.reference), &e, actual)?;
        }
        Ok(bytes)
    }

    fn take_layer(
        &mut self,
        key: &str,
        expected: Option<&str>,
    ) -> Result<&ParsedLayer, ImageError> {
        let resolved = self
            .find(key)
            .map(|(k, _)| k)
            .ok_or_else(|| self.missing(key))?;
        let reference = self.reference.clone();
        if let Some(Blob {
            data: BlobData::Layer(r),
            ..
        }) = self.blobs.get_mut(&resolved)
        {
            if r.is_err() {
                let placeholder = Box::new(Err(layout(&reference, "layer already failed")));
                let failed = std::mem::replace(r, placeholder);
                (*failed)?;
            }
        }
        let blob = self.blobs.get(&resolved).ok_or_else(|| self.missing(key))?;
        match &blob.data {
            BlobData::Layer(r) => match r.as_ref() {
                Ok(l) => {
                    if let Some(e) = expected
                        .map(str::to_string)
                        .or_else(|| digest_from_name(&resolved))
                    {
                        check_digest(&format!("{reference} {key}"), &e, &l.digest)?;
                    }
                    Ok(l)
                }
                Err(_) => Err(layout(&reference, format!("layer {key:?} failed to parse"))),
            },
            _ => Err(layout(&reference, format!("member {key:?} is not a layer"))),
        }
    }
}

fn outer_error(f: Failure, reference: &str) -> ImageError {
    match f {
        Failure::Image(e) => e,
        Failure::Io(e) if e.kind() == io::ErrorKind::InvalidData => ImageError::Tar {
            layer: format!("archive {reference}"),
            source: e,
        },
        Failure::Io(e) => ImageError::Read {
            what: format!("archive {reference}"),
            source: e,
        },
    }
}

/// Read a `docker save` (legacy or OCI) or OCI-layout tar as a stream: every layer blob is
/// parsed as it goes by (the manifest may come last), then the image is assembled in
/// manifest order. Nothing is written to disk.
fn read_archive<R: Read>(
    reader: R,
    reference: &str,
    want: Option<&str>,
    opts: &OpenOptions,
) -> Result<Image, ImageError> {
    let limits = &opts.limits;
    let progress = opts.progress.as_deref().map(|f| f as &dyn Fn(Progress));
    let mut tr = TarReader::new(reader, reference, limits.max_path_len);
    let mut budget = Budget::default();
    let mut archive = Archive {
        reference: reference.to_string(),
        blobs: HashMap::new(),
        links: HashMap::new(),
        json_limit: limits.max_json_bytes,
    };
    let mut members = 0u64;
    let mut index = 0usize;
    let oe = |f: Failure| outer_error(f, reference);
    while let Some(h) = tr.next_header().map_err(oe)? {
        members += 1;
        if members > limits.max_entries {
            return Err(ImageError::LimitExceeded {
                limit: "max_entries",
                value: members,
                max: limits.max_entries,
                context: reference.to_string(),
            });
        }
        let name = String::from_utf8_lossy(&h.name).into_owned();
        let Some(comps) = normalize(&name) else {
            tr.finish_entry().map_err(oe)?;
            continue;
        };
        let key = comps.join("/");
        match h.typeflag {
            b'1' | b'2' => {
                let target = String::from_utf8_lossy(&h.link).into_owned();
                let full = if h.typeflag == b'2' && !target.starts_with('/') {
                    let parent = comps.get(..comps.len().saturating_sub(1)).unwrap_or(&[]);
                    format!("{}/{target}", parent.join("/"))
                } else {
                    target
                };
                if let Some(t) = normalize(&full) {
                    archive.links.insert(key, t.join("/"));
                }
            }
            b'0' | 0 | b'7' => {
                let size = h.size;
                let mut head = vec![0u8; usize::try_from(size.min(512)).unwrap_or(512)];
                tr.read_exact_data(&mut head).map_err(oe)?;
                let is_tar = head.get(257..262) == Some(b"ustar".as_slice());
                let is_compressed =
                    head.starts_with(&[0x1f, 0x8b]) || head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]);
                let first = head.iter().find(|b| !b.is_ascii_whitespace());
                let is_json = !is_tar && !is_compressed && matches!(first, Some(b'{' | b'['));
                let blob = if is_json {
                    if size > limits.max_json_bytes {
                        Blob {
                            digest: None,
                            data: BlobData::TooLargeJson(size),
                        }
                    } else {
                        // JSON members count against the retained-memory budget too
                        let total = budget.retained.saturating_add(size);
                        if total > limits.max_retained_bytes {
                            return Err(ImageError::LimitExceeded {
                                limit: "max_retained_bytes",
                                value: total,
                                max: limits.max_retained_bytes,
                                context: format!("{reference} {key}"),
                            });
                        }
                        budget.retained = total;
                        let mut v = head;
                        let start = v.len();
                        v.resize(usize::try_from(size).unwrap_or(0).max(start), 0);
                        if let Some(rest) = v.get_mut(start..) {
                            tr.read_exact_data(rest).map_err(oe)?;
                        }
                        Blob {
                            digest: Some(sha256_of(&v)),
                            data: BlobData::Json(v),
                        }
                    }
                } else if is_tar
                    || is_compressed
                    || key.ends_with("layer.tar")
                    || key.starts_with("blobs/")
                {
                    let reader = io::Cursor::new(head).chain(&mut tr);
                    let expected = digest_from_name(&key);
                    let r = parse_layer(
                        reader,
                        &key,
                        index,
                        Some(size),
                        expected.as_deref(),
                        limits,
                        &mut budget,
                        progress,
                    );
                    index += 1;
                    match r {
                        Err(e @ (ImageError::LimitExceeded { .. } | ImageError::Read { .. })) => {
                            return Err(e)
                        }
                        r => Blob {
                            digest: r.as_ref().ok().map(|l| l.digest.clone()),
                            data: BlobData::Layer(Box::new(r)),
                        },
                    }
                } else {
                    Blob {
                        digest: None,
                        data: BlobData::Other,
                    }
                };
                archive.blobs.insert(key, blob);
            }
            _ => {}
        }
        tr.finish_entry().map_err(oe)?;
    }

    if archive.json("manifest.json")?.is_some() {
        assemble_docker(&mut archive, reference, want, opts)
    } else if archive.json("index.json")?.is_some() {
        assemble_oci(&mut archive, reference, want, opts)
    } else {
        Err(layout(
            reference,
            "neither manifest.json nor index.json found",
        ))
    }
}

/// Compare a `RepoTags` entry with a requested name (`nginx` == `nginx:latest` ==
/// `docker.io/library/nginx:latest`).
fn same_image_name(tag: &str, want: &str) -> bool {
    fn norm(s: &str) -> String {
        let s = s.strip_prefix("docker.io/").unwrap_or(s);
        let s = s.strip_prefix("library/").unwrap_or(s);
        let last = s.rsplit('/').next().unwrap_or(s);
        if last.contains(':') || last.contains('@') {
            s.to_string()
        } else {
            format!("{s}:latest")
        }
    }
    norm(tag) == norm(want)
}

fn assemble_docker(
    archive: &mut Archive,
    reference: &str,
    want: Option<&str>,
    opts: &OpenOptions,
) -> Result<Image, ImageError> {
    let limits = &opts.limits;
    let (manifest_bytes, _) = archive
        .json("manifest.json")?
        .ok_or_else(|| archive.missing("manifest.json"))?;
    let manifest = parse_json(manifest_bytes, &format!("{reference} manifest.json"))?;
    let entries = manifest
        .as_array()
        .ok_or_else(|| layout(reference, "manifest.json is not a list"))?;
    let entry = want
        .and_then(|w| {
            entries.iter().find(|e| {
                strings(e.get("RepoTags"))
                    .iter()
                    .any(|t| same_image_name(t, w))
            })
        })
        .or_else(|| entries.first())
        .ok_or_else(|| layout(reference, "manifest.json lists no image"))?;
    let config_key = string(entry.get("Config"));
    let layer_keys = strings(entry.get("Layers"));
    let config_bytes = archive.json_checked(&config_key, None)?;
    let (config, diff_ids) = parse_config(config_bytes, &format!("{reference} {config_key}"))?;
    check_platform(opts.platform.as_deref(), &config, reference)?;
    check_layer_count(layer_keys.len(), limits, reference)?;
    let mut root = Vroot::with_limits(limits.clone());
    let mut layers = Vec::new();
    for key in &layer_keys {
        let l = archive.take_layer(key, None)?;
        apply_layer(&mut root, l)?;
        layers.push(info(l));
    }
    check_diff_ids(&diff_ids, &layers, reference)?;
    Ok(Image {
        reference: reference.to_string(),
        config,
        root,
        layers,
    })
}

/// A single-image archive has no index to choose from: an explicitly requested platform
/// must be the image's own.
fn check_platform(
    platform: Option<&str>,
    config: &ImageConfig,
    reference: &str,
) -> Result<(), ImageError> {
    let Some(wanted) = platform else {
        return Ok(());
    };
    let mut parts = wanted.split('/');
    let (os, arch) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if config.architecture.is_empty() || (os == config.os && arch == config.architecture) {
        return Ok(());
    }
    Err(ImageError::NoMatchingPlatform {
        reference: reference.to_string(),
        wanted: wanted.to_string(),
        available: format!("{}/{}", config.os, config.architecture),
    })
}

fn blob_key(digest: &str) -> Result<String, ImageError> {
    Ok(format!("blobs/sha256/{}", digest_hex(digest)?))
}

fn assemble_oci(
    archive: &mut Archive,
    reference: &str,
    want: Option<&str>,
    opts: &OpenOptions,
) -> Result<Image, ImageError> {
    let limits = &opts.limits;
    let (index, _) = archive
        .json("index.json")?
        .ok_or_else(|| archive.missing("index.json"))?;
    let index = index.clone();
    let manifest = {
        let arch: &Archive = archive;
        let mut get_json = |digest: &str| -> Result<Vec<u8>, ImageError> {
            arch.json_checked(&blob_key(digest)?, Some(digest)).cloned()
        };
        // a daemon name is not an OCI ref name: only oci-archive refs select by name
        let _ = want;
        resolve_oci(
            &index,
            reference,
            None,
            opts.platform.as_deref(),
            limits,
            &mut get_json,
        )?
    };
    let (config_digest, layer_digests) = manifest_parts(&manifest, reference)?;
    let config_bytes = archive.json_checked(&blob_key(&config_digest)?, Some(&config_digest))?;
    let (config, diff_ids) =
        parse_config(config_bytes, &format!("{reference} config {config_digest}"))?;
    check_layer_count(layer_digests.len(), limits, reference)?;
    let mut root = Vroot::with_limits(limits.clone());
    let mut layers = Vec::new();
    for digest in &layer_digests {
        let l = archive.take_layer(&blob_key(digest)?, Some(digest))?;
        apply_layer(&mut root, l)?;
        layers.push(info(l));
    }
    check_diff_ids(&diff_ids, &layers, reference)?;
    Ok(Image {
        reference: reference.to_string(),
        config,
        root,
        layers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::tests::tar_of;
    use serde_json::json;
    use std::io::Write;

    fn gzip(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    fn write_blob(dir: &Path, bytes: &[u8]) -> String {
        let d = sha256_of(bytes);
        let p = dir.join("blobs/sha256");
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(p.join(digest_hex(&d).unwrap()), bytes).unwrap();
        d
    }

    fn desc(media: &str, digest: &str, size: usize) -> Value {
        json!({"mediaType": media, "digest": digest, "size": size})
    }

    fn elf(tag: u8) -> Vec<u8> {
        let mut v = b"\x7fELF".to_vec();
        v.resize(100_000, tag);
        v
    }

    /// An OCI layout with a nested index: linux/amd64 (gzip + zstd layers, a whiteout),
    /// linux/arm64 (one plain layer), and an attestation manifest.
    fn make_oci(dir: &Path) -> (Vec<String>, Vec<u8>) {
        let l1 = tar_of(&[
            ("bin/", b'5', b"", ""),
            ("bin/tool", b'0', &elf(1), ""),
            ("etc/os-release", b'0', b"ID=test\n", ""),
        ]);
        let l2 = tar_of(&[
            ("bin/.wh.tool", b'0', b"", ""),
            ("bin/new", b'0', &elf(2), ""),
        ]);
        let l1z = gzip(&l1);
        let l2z = zstd::encode_all(&l2[..], 3).unwrap();
        let d1 = write_blob(dir, &l1z);
        let d2 = write_blob(dir, &l2z);
        let cfg = serde_json::to_vec(&json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Entrypoint": ["/bin/new"], "Cmd": ["-x"], "Env": ["PATH=/bin"],
                       "WorkingDir": "/w", "User": "1000"},
            "rootfs": {"type": "layers", "diff_ids": [sha256_of(&l1), sha256_of(&l2)]}
        }))
        .unwrap();
        let dc = write_blob(dir, &cfg);
        let m = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": desc("application/vnd.oci.image.config.v1+json", &dc, cfg.len()),
            "layers": [desc("application/vnd.oci.image.layer.v1.tar+gzip", &d1, l1z.len()),
                       desc("application/vnd.oci.image.layer.v1.tar+zstd", &d2, l2z.len())]
        }))
        .unwrap();
        let dm = write_blob(dir, &m);
        let la = tar_of(&[("arm", b'0', b"arm64", "")]);
        let da = write_blob(dir, &la);
        let cfga = serde_json::to_vec(&json!({
            "architecture": "arm64", "variant": "v8", "os": "linux", "config": {},
            "rootfs": {"type": "layers", "diff_ids": [sha256_of(&la)]}
        }))
        .unwrap();
        let dca = write_blob(dir, &cfga);
        let ma = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "config": desc("application/vnd.oci.image.config.v1+json", &dca, cfga.len()),
            "layers": [desc("application/vnd.oci.image.layer.v1.tar", &da, la.len())]
        }))
        .unwrap();
        let dma = write_blob(dir, &ma);
        let mut attest = desc("application/vnd.oci.image.manifest.v1+json", &dma, ma.len());
        attest["platform"] = json!({"os": "unknown", "architecture": "unknown"});
        let mut amd = desc("application/vnd.oci.image.manifest.v1+json", &dm, m.len());
        amd["platform"] = json!({"os": "linux", "architecture": "amd64"});
        let mut arm = desc("application/vnd.oci.image.manifest.v1+json", &dma, ma.len());
        arm["platform"] = json!({"os": "linux", "architecture": "arm64", "variant": "v8"});
        let nested = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [attest, arm, amd]
        }))
        .unwrap();
        let dn = write_blob(dir, &nested);
        let mut top = desc("application/vnd.oci.image.index.v1+json", &dn, nested.len());
        top["annotations"] = json!({"org.opencontainers.image.ref.name": "v1"});
        let index = serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [top]})).unwrap();
        std::fs::write(dir.join("index.json"), index).unwrap();
        std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        (vec![dc, d1, d2], l2z)
    }

    fn check_amd64(img: &Image) {
        assert_eq!(img.config.entrypoint, vec!["/bin/new"]);
        assert_eq!(img.config.cmd, vec!["-x"]);
        assert_eq!(img.config.env, vec!["PATH=/bin"]);
        assert_eq!(img.config.workdir, "/w");
        assert_eq!(img.config.user, "1000");
        assert_eq!(img.config.architecture, "amd64");
        assert_eq!(img.root.read_dir("/bin").unwrap(), vec!["new"]);
        assert_eq!(&*img.root.read("/bin/new").unwrap(), &elf(2)[..]);
        assert_eq!(&*img.root.read("/etc/os-release").unwrap(), b"ID=test\n");
        let c: Vec<Compression> = img.layers.iter().map(|l| l.compression).collect();
        assert_eq!(c, vec![Compression::Gzip, Compression::Zstd]);
    }

    /// Tar a folder's regular files (sorted, relative names), optionally putting `last` last.
    fn tar_dir(dir: &Path, last: Option<&str>) -> Vec<u8> {
        let mut files = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    files.push(p.strip_prefix(dir).unwrap().to_str().unwrap().to_string());
                }
            }
        }
        files.sort_by_key(|f| (Some(f.as_str()) == last, f.clone()));
        let mut b = tar::Builder::new(Vec::new());
        for f in files {
            let data = std::fs::read(dir.join(&f)).unwrap();
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, &f, &data[..]).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn oci_layout_folder_and_archive() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("layout");
        let (_, l2z) = make_oci(&dir);
        let opts = OpenOptions::default();
        let img = open(&format!("oci:{}", dir.display()), &opts).unwrap();
        check_amd64(&img);
        // bare folder with index.json is detected as an OCI layout; ref name selection
        assert_eq!(
            parse_reference(dir.to_str().unwrap()).unwrap(),
            Transport::Oci(dir.clone())
        );
        check_amd64(&open(&format!("oci:{}:v1", dir.display()), &opts).unwrap());
        assert!(matches!(
            open(&format!("oci:{}:v2", dir.display()), &opts),
            Err(ImageError::Layout { .. })
        ));
        // other platforms
        let arm = OpenOptions {
            platform: Some("linux/arm64".into()),
            ..OpenOptions::default()
        };
        let img = open(&format!("oci:{}", dir.display()), &arm).unwrap();
        assert_eq!(&*img.root.read("/arm").unwrap(), b"arm64");
        assert_eq!(img.config.architecture, "arm64");
        let s390 = OpenOptions {
            platform: Some("linux/s390x".into()),
            ..OpenOptions::default()
        };
        match open(&format!("oci:{}", dir.display()), &s390) {
            Err(ImageError::NoMatchingPlatform { available, .. }) => {
                assert_eq!(available, "linux/arm64/v8, linux/amd64")
            }
            other => panic!("unexpected {other:?}"),
        }
        // the same layout as a tar, index.json last: read streaming
        let ar = tmp.path().join("img.tar");
        std::fs::write(&ar, tar_dir(&dir, Some("index.json"))).unwrap();
        let seen = Arc::new(std::sync::Mutex::new(0u32));
        let s2 = seen.clone();
        let with_progress = OpenOptions {
            progress: Some(Arc::new(move |p: Progress| {
                if p.done {
                    *s2.lock().unwrap() += 1;
                }
            })),
            ..OpenOptions::default()
        };
        check_amd64(&open(&format!("oci-archive:{}", ar.display()), &with_progress).unwrap());
        assert_eq!(
            *seen.lock().unwrap(),
            3,
            "three layer-looking blobs were read"
        );
        check_amd64(&open(ar.to_str().unwrap(), &opts).unwrap());
        // a corrupted layer blob is caught by its digest
        let p = dir
            .join("blobs/sha256")
            .join(digest_hex(&sha256_of(&l2z)).unwrap());
        let mut bad = l2z.clone();
        let n = bad.len();
        bad[n / 2] ^= 1;
        std::fs::write(&p, &bad).unwrap();
        let e = open(&format!("oci:{}", dir.display()), &opts).unwrap_err();
        assert!(matches!(e, ImageError::DigestMismatch { .. }), "{e:?}");
        // zstd checks its content checksum only if present, so also test a clean digest mismatch
        let good_then_more = [&l2z[..], &[0u8; 0][..]].concat();
        let mut appended = good_then_more;
        appended.extend_from_slice(&zstd::encode_all(&b""[..], 3).unwrap());
        std::fs::write(&p, &appended).unwrap();
        match open(&format!("oci:{}", dir.display()), &opts) {
            Err(ImageError::DigestMismatch {
                expected, actual, ..
            }) => {
                assert_eq!(expected, sha256_of(&l2z));
                assert_eq!(actual, sha256_of(&appended));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    fn legacy_archive(diff_id_ok: bool) -> Vec<u8> {
        let l1 = tar_of(&[("bin/sh", b'0', &elf(3), ""), ("lib", b'2', b"", "usr/lib")]);
        let l2 = tar_of(&[("usr/lib/libx.so", b'0', &elf(4), "")]);
        let d1 = sha256_of(&l1);
        let d2 = if diff_id_ok {
            sha256_of(&l2)
        } else {
            sha256_of(b"nope")
        };
        let cfg = serde_json::to_vec(&json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Cmd": ["/bin/sh"], "Entrypoint": null},
            "rootfs": {"type": "layers", "diff_ids": [d1, d2, d1]}
        }))
        .unwrap();
        let cfg_name = format!("{}.json", digest_hex(&sha256_of(&cfg)).unwrap());
        let manifest = serde_json::to_vec(&json!([{
            "Config": cfg_name, "RepoTags": ["test/legacy:1"],
            "Layers": ["aaa/layer.tar", "bbb/layer.tar", "ccc/layer.tar"]
        }]))
        .unwrap();
        let mut b = tar::Builder::new(Vec::new());
        let add = |b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]| {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, data).unwrap();
        };
        add(&mut b, "aaa/VERSION", b"1.0");
        add(&mut b, "aaa/json", br#"{"id":"aaa"}"#);
        add(&mut b, "aaa/layer.tar", &l1);
        add(&mut b, "bbb/layer.tar", &l2);
        add(&mut b, &cfg_name, &cfg);
        add(&mut b, "repositories", br#"{"test/legacy":{"1":"ccc"}}"#);
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "ccc/layer.tar", "../aaa/layer.tar")
            .unwrap();
        add(&mut b, "manifest.json", &manifest);
        b.into_inner().unwrap()
    }

    /// Docker 25+ `docker save`: an OCI layout plus manifest.json pointing into blobs/.
    #[test]
    fn docker_save_oci_layout() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("layout");
        let (digests, _) = make_oci(&dir);
        let key = |d: &String| format!("blobs/sha256/{}", digest_hex(d).unwrap());
        let manifest = json!([{
            "Config": key(&digests[0]), "RepoTags": ["other:1"],
            "Layers": [key(&digests[1]), key(&digests[2])]
        }]);
        std::fs::write(
            dir.join("manifest.json"),
            serde_json::to_vec(&manifest).unwrap(),
        )
        .unwrap();
        let ar = tmp.path().join("save.tar");
        std::fs::write(&ar, tar_dir(&dir, Some("manifest.json"))).unwrap();
        let img = open(
            &format!("docker-archive:{}", ar.display()),
            &OpenOptions::default(),
        );
        check_amd64(&img.unwrap());
        // a config whose bytes do not match its blob name is refused
        let wrong = json!([{ "Config": key(&digests[1]), "Layers": [] }]);
        std::fs::write(
            dir.join("manifest.json"),
            serde_json::to_vec(&wrong).unwrap(),
        )
        .unwrap();
        std::fs::write(&ar, tar_dir(&dir, None)).unwrap();
        let e = open(
            &format!("docker-archive:{}", ar.display()),
            &OpenOptions::default(),
        );
        assert!(matches!(e, Err(ImageError::Layout { .. })), "{e:?}");
        // a tampered config (still valid json) is caught by its digest
        std::fs::write(
            dir.join("manifest.json"),
            serde_json::to_vec(&manifest).unwrap(),
        )
        .unwrap();
        std::fs::write(
            dir.join(key(&digests[0])),
            br#"{"config":{"Entrypoint":["/evil"]}}"#,
        )
        .unwrap();
        std::fs::write(&ar, tar_dir(&dir, None)).unwrap();
        match open(
            &format!("docker-archive:{}", ar.display()),
            &OpenOptions::default(),
        ) {
            Err(ImageError::DigestMismatch { expected, .. }) => assert_eq!(expected, digests[0]),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn legacy_docker_save_layout_with_manifest_last() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("save.tar");
        std::fs::write(&p, legacy_archive(true)).unwrap();
        let img = open(
            &format!("docker-archive:{}", p.display()),
            &OpenOptions::default(),
        )
        .unwrap();
        assert_eq!(img.config.cmd, vec!["/bin/sh"]);
        assert!(img.config.entrypoint.is_empty());
        assert_eq!(img.layers.len(), 3);
        assert_eq!(img.layers[0].digest, img.layers[2].digest);
        assert_eq!(&*img.root.read("/lib/libx.so").unwrap(), &elf(4)[..]);
        assert_eq!(img.root.files().len(), 2);
        let named = open(
            &format!("docker-archive:{}:test/legacy:1", p.display()),
            &OpenOptions::default(),
        );
        assert_eq!(named.unwrap().layers.len(), 3);
        let arm = OpenOptions {
            platform: Some("linux/arm64".into()),
            ..OpenOptions::default()
        };
        assert!(matches!(
            open(p.to_str().unwrap(), &arm),
            Err(ImageError::NoMatchingPlatform { .. })
        ));
        std::fs::write(&p, legacy_archive(false)).unwrap();
        match open(p.to_str().unwrap(), &OpenOptions::default()) {
            Err(ImageError::DigestMismatch { what, .. }) => {
                assert!(what.contains("layer 1"), "{what}")
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    /// Random byte mutations of a docker-save archive never panic.
    #[test]
    fn mutated_archives_do_not_panic() {
        let base = legacy_archive(true);
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut ok = 0;
        for _ in 0..1500 {
            let mut m = base.clone();
            for _ in 0..1 + next() % 3 {
                let i = (next() as usize) % m.len();
                m[i] = next() as u8;
            }
            if read_archive(&m[..], "fuzz", None, &OpenOptions::default()).is_ok() {
                ok += 1;
            }
        }
        assert!(ok > 0);
    }

    #[test]
    fn references_and_bad_archives() {
        assert_eq!(
            parse_reference("docker-daemon:nginx:1.25").unwrap(),
            Transport::DockerDaemon("nginx:1.25".into())
        );
        assert_eq!(
            parse_reference("no-such-path-here:latest").unwrap(),
            Transport::DockerDaemon("no-such-path-here:latest".into())
        );
        assert_eq!(
            parse_reference("/usr").unwrap(),
            Transport::Rootfs("/usr".into())
        );
        assert!(matches!(
            parse_reference("oci:"),
            Err(ImageError::BadReference { .. })
        ));
        assert!(matches!(
            parse_reference("docker://nginx"),
            Err(ImageError::BadReference { .. })
        ));
        assert!(same_image_name("docker.io/library/nginx:latest", "nginx"));
        assert!(!same_image_name("nginx:1", "nginx"));
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("x.tar");
        std::fs::write(&p, tar_of(&[("hello", b'0', b"hi", "")])).unwrap();
        assert!(matches!(
            open(p.to_str().unwrap(), &OpenOptions::default()),
            Err(ImageError::Layout { .. })
        ));
        // truncated archive
        let full = legacy_archive(true);
        std::fs::write(&p, &full[..full.len() / 2]).unwrap();
        let e = open(p.to_str().unwrap(), &OpenOptions::default()).unwrap_err();
        assert!(
            matches!(e, ImageError::Tar { .. } | ImageError::Layout { .. }),
            "{e:?}"
        );
        // digests are validated before becoming file names
        assert!(matches!(
            digest_hex("sha256:../../etc/passwd"),
            Err(ImageError::BadDigest { .. })
        ));
    }

    #[test]
    fn rootfs_folder() {
        let dir = "/usr/lib/x86_64-linux-gnu/gconv";
        let img = open(dir, &OpenOptions::default()).unwrap();
        assert_eq!(img.config.os, "linux");
        assert_eq!(img.config.architecture, "amd64");
        assert!(img.layers.is_empty());
        let mut host = Vec::new();
        let mut stack = vec![PathBuf::from(dir)];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(d).unwrap() {
                let e = e.unwrap();
                let t = e.file_type().unwrap();
                if t.is_dir() {
                    stack.push(e.path());
                } else if t.is_file() {
                    host.push(format!(
                        "/{}",
                        e.path().strip_prefix(dir).unwrap().display()
                    ));
                }
            }
        }
        host.sort();
        let files: Vec<String> = img.root.files().into_iter().map(|(p, _)| p).collect();
        assert_eq!(files, host);
        assert!(files.len() > 100);
        let so = std::fs::read(format!("{dir}/UTF-16.so")).unwrap();
        assert_eq!(&*img.root.read("/UTF-16.so").unwrap(), &so[..]);
    }

    /// Same image via the engine (streamed export), via a `docker save` file, and as the
    /// host folder it was imported from: same files, contents and config.
    #[test]
    fn docker_daemon_archive_and_rootfs_agree() {
        let engine = match confine_engine::Engine::from_env() {
            Ok(e) => e,
            Err(e) => {
                eprintln!("skipping: no docker engine configured: {e}");
                return;
            }
        };
        if let Err(e) = engine.ping() {
            eprintln!("skipping: docker engine does not answer: {e}");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        for d in ["bin", "usr/bin", "usr/lib/x86_64-linux-gnu", "lib64", "etc"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
        std::fs::copy("/usr/bin/env", root.join("usr/bin/env")).unwrap();
        std::fs::copy(
            "/lib/x86_64-linux-gnu/libc.so.6",
            root.join("usr/lib/x86_64-linux-gnu/libc.so.6"),
        )
        .unwrap();
        std::fs::copy(
            "/lib64/ld-linux-x86-64.so.2",
            root.join("lib64/ld-linux-x86-64.so.2"),
        )
        .unwrap();
        std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
        std::os::unix::fs::symlink("busybox", root.join("bin/sh")).unwrap();
        std::os::unix::fs::symlink("usr/lib", root.join("lib")).unwrap();
        let mut b = tar::Builder::new(Vec::new());
        b.follow_symlinks(false);
        b.append_dir_all(".", &root).unwrap();
        let rootfs_tar = b.into_inner().unwrap();
        let repo = "confine-image-test";
        let tag = format!("t{}", std::process::id());
        let name = format!("{repo}:{tag}");
        engine.import_image(&rootfs_tar, repo, &tag).unwrap();

        let opts = OpenOptions::default();
        let from_daemon = open(&format!("docker-daemon:{name}"), &opts);
        let save = tmp.path().join("save.tar");
        let mut stream = engine.export_image(&name).unwrap();
        let mut f = std::fs::File::create(&save).unwrap();
        io::copy(&mut stream, &mut f).unwrap();
        drop(f);
        let _ = engine.remove_image(&name, true);
        let from_daemon = from_daemon.unwrap();
        let from_archive = open(&format!("docker-archive:{}", save.display()), &opts).unwrap();
        let from_rootfs = open(&format!("rootfs:{}", root.display()), &opts).unwrap();

        let files = from_rootfs.root.files();
        assert_eq!(files.len(), 5, "{files:?}");
        for img in [&from_daemon, &from_archive] {
            assert_eq!(img.config, from_rootfs.config);
            assert_eq!(img.layers.len(), 1);
            assert_eq!(img.root.files(), files);
            for (p, _) in &files {
                assert_eq!(
                    img.root.read(p).unwrap(),
                    from_rootfs.root.read(p).unwrap(),
                    "{p}"
                );
            }
            assert_eq!(
                img.root
                    .canonicalize("/lib/x86_64-linux-gnu/libc.so.6")
                    .unwrap(),
                "/usr/lib/x86_64-linux-gnu/libc.so.6"
            );
            assert_eq!(img.root.read_link("/bin/sh").unwrap(), "busybox");
        }
        assert_eq!(from_daemon.layers, from_archive.layers);
        assert_eq!(from_daemon.config.architecture, "amd64");
        // an image that does not exist is an engine error, not a panic
        assert!(matches!(
            open("docker-daemon:confine-image-test:does-not-exist", &opts),
            Err(ImageError::Engine(_))
        ));
    }

    /// A three-layer image built by the engine (whiteouts, an opaque directory, a hard link)
    /// read through the engine matches the engine's own flattened export of a container.
    #[test]
    fn layered_image_matches_engine_flattening() {
        let docker = |args: &[&str]| {
            std::process::Command::new("docker")
                .args(args)
                .output()
                .map_err(|e| e.to_string())
                .and_then(|o| {
                    if o.status.success() {
                        Ok(o.stdout)
                    } else {
                        Err(String::from_utf8_lossy(&o.stderr).into_owned())
                    }
                })
        };
        if let Err(e) = docker(&["version", "--format", "{{.Server.Version}}"]) {
            eprintln!("skipping: docker cli or engine unavailable: {e}");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        for d in ["bin", "d/sub", "etc"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
        std::os::unix::fs::symlink("busybox", root.join("bin/sh")).unwrap();
        std::fs::write(root.join("d/a"), "a").unwrap();
        std::fs::write(root.join("d/sub/b"), "b").unwrap();
        std::fs::write(root.join("keep"), "k").unwrap();
        std::fs::write(root.join("gone"), "g").unwrap();
        let mut b = tar::Builder::new(Vec::new());
        b.follow_symlinks(false);
        b.append_dir_all(".", &root).unwrap();
        let tag = format!("t{}", std::process::id());
        let base = format!("confine-image-base:{tag}");
        let built = format!("confine-image-layered:{tag}");
        let engine = confine_engine::Engine::from_env().unwrap();
        engine
            .import_image(&b.into_inner().unwrap(), "confine-image-base", &tag)
            .unwrap();
        let ctx = tmp.path().join("ctx");
        std::fs::create_dir_all(&ctx).unwrap();
        std::fs::write(
            ctx.join("Dockerfile"),
            format!(
                "FROM {base}\n\
                 RUN [\"/bin/busybox\", \"sh\", \"-c\", \"rm -rf /d /gone && mkdir /d && echo new > /d/c && /bin/busybox ln /bin/busybox /bin/bb\"]\n\
                 RUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo more > /keep2 && rm /d/c\"]\n"
            ),
        )
        .unwrap();
        let build = docker(&["build", "-q", "-t", &built, ctx.to_str().unwrap()]);
        let flat = build.and_then(|_| {
            let id = docker(&["create", &built, "/bin/sh"])?;
            let id = String::from_utf8_lossy(&id).trim().to_string();
            let out = docker(&["export", &id]);
            let _ = docker(&["rm", "-f", &id]);
            out
        });
        let img = open(&format!("docker-daemon:{built}"), &OpenOptions::default());
        let _ = docker(&["rmi", "-f", &built, &base]);
        let flat = flat.unwrap();
        let img = img.unwrap();
        assert_eq!(img.layers.len(), 3);
        let mut expected = Vroot::new();
        let l = expected.apply_layer_tar(&flat[..], "export").unwrap();
        assert_eq!(l.digest, sha256_of(&flat));
        let injected = [
            "/.dockerenv",
            "/etc/hostname",
            "/etc/hosts",
            "/etc/resolv.conf",
        ];
        let want: Vec<(String, crate::Metadata)> = expected
            .files()
            .into_iter()
            .filter(|(p, _)| !injected.contains(&p.as_str()) && !p.starts_with("/dev/"))
            .collect();
        assert_eq!(img.root.files(), want);
        assert_eq!(img.root.read_dir("/d").unwrap(), Vec::<String>::new());
        assert!(!img.root.exists("/gone"));
        assert_eq!(&*img.root.read("/keep2").unwrap(), b"more\n");
        assert_eq!(
            img.root.read("/bin/bb").unwrap(),
            img.root.read("/bin/busybox").unwrap()
        );
    }
}
