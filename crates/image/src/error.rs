//! The crate's single error type.

use std::path::PathBuf;

/// Everything that can go wrong reading an image. Paths named `path` are inside the image
/// unless the field is a `PathBuf` (host path); `layer` names the layer (digest or archive path).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    #[error("{path}: no such file or directory in the image")]
    NotFound { path: String },
    #[error("{path}: not a directory")]
    NotADirectory { path: String },
    #[error("{path}: is a directory")]
    IsADirectory { path: String },
    #[error("{path}: not a regular file ({kind})")]
    NotAFile { path: String, kind: &'static str },
    #[error("{path}: not a symlink")]
    NotASymlink { path: String },
    #[error("{path}: too many symlinks (more than {hops} hops, limit max_symlink_hops), probably a loop")]
    SymlinkLoop { path: String, hops: u32 },
    #[error("{path}: content was not retained (size {size}; only ELF files, scripts, /etc and small files are kept)")]
    ContentNotRetained { path: String, size: u64 },
    #[error("limit {limit} exceeded ({value} > {max}) at {context}")]
    LimitExceeded {
        limit: &'static str,
        value: u64,
        max: u64,
        context: String,
    },
    #[error("layer {layer}: entry {name:?} escapes the image root")]
    PathEscape { layer: String, name: String },
    #[error("layer {layer}: invalid whiteout {name:?}: {reason}")]
    BadWhiteout {
        layer: String,
        name: String,
        reason: &'static str,
    },
    #[error("layer {layer}: hard link {name:?} -> {target:?}: {reason}")]
    BadHardlink {
        layer: String,
        name: String,
        target: String,
        reason: &'static str,
    },
    #[error("layer {layer}: malformed tar: {source}")]
    Tar {
        layer: String,
        #[source]
        source: std::io::Error,
    },
    #[error("layer {layer}: bad {format} stream (truncated or corrupt): {source}")]
    Decompress {
        layer: String,
        format: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: read error: {source}")]
    Read {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: host file changed while reading the root folder", path.display())]
    HostChanged { path: PathBuf },
    #[error("{what}: invalid json: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{reference}: bad image layout: {reason}")]
    Layout { reference: String, reason: String },
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("unsupported or malformed digest {digest:?}")]
    BadDigest { digest: String },
    #[error("{reference}: no manifest for platform {wanted} (available: {available})")]
    NoMatchingPlatform {
        reference: String,
        wanted: String,
        available: String,
    },
    #[error("docker engine: {0}")]
    Engine(#[from] confine_engine::EngineError),
    #[error("{reference}: bad image reference: {reason}")]
    BadReference {
        reference: String,
        reason: &'static str,
    },
}

impl ImageError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ImageError::Io {
            path: path.into(),
            source,
        }
    }
}
