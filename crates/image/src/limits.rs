//! Resource limits applied while reading an image.

/// Bounds on everything an image can make us allocate or walk.
///
/// Every limit, when passed, produces [`crate::ImageError::LimitExceeded`] naming the field.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    /// Compressed (as stored) bytes of one layer blob.
    pub max_layer_bytes: u64,
    /// Decompressed tar bytes over all layers of one image.
    pub max_image_bytes: u64,
    /// Tar entries over all layers (or nodes indexed from a host folder).
    pub max_entries: u64,
    /// Length in bytes of any path inside the image (entry names, symlink targets, lookups).
    pub max_path_len: usize,
    /// Symlinks followed while resolving one path.
    pub max_symlink_hops: u32,
    /// Size of one file whose content is kept or read.
    pub max_file_bytes: u64,
    /// Total bytes of file contents kept in memory for one image.
    pub max_retained_bytes: u64,
    /// Files up to this size are always kept (others only if ELF, `#!` or under /etc).
    pub retain_small_bytes: u64,
    /// Size of one JSON document (manifest, index, config).
    pub max_json_bytes: u64,
    /// Layers of one image.
    pub max_layers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_layer_bytes: 4 << 30,
            max_image_bytes: 16 << 30,
            max_entries: 2_000_000,
            max_path_len: 4096,
            max_symlink_hops: 40,
            max_file_bytes: 256 << 20,
            max_retained_bytes: 6 << 30,
            retain_small_bytes: 64 << 10,
            max_json_bytes: 16 << 20,
            max_layers: 512,
        }
    }
}
