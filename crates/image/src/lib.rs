//! Container image reading: transports, layer application and the read-only virtual root (`Vroot`).
//!
//! [`open`] takes a reference (`docker-daemon:NAME`, `docker-archive:PATH`, `oci:PATH[:REF]`,
//! `oci-archive:PATH`, `rootfs:PATH`, a bare existing path, or a bare image name) and returns
//! an [`Image`]: its [`ImageConfig`] and a [`Vroot`] with every layer applied.
//!
//! Everything read here is hostile: tar entries, JSON, digests and symlinks are checked
//! against [`Limits`] and resolved inside the image root; nothing is ever unpacked to the
//! host and nothing in the image is executed. Archives (including the engine's export
//! stream) are read once, front to back, without a temporary copy. Layer blobs are verified
//! against their digests, and layers against the config's `diff_ids`.
//!
//! File contents are kept in memory only where analysis needs them (ELF files, `#!` scripts,
//! everything under `/etc`, and files up to [`Limits::retain_small_bytes`]); other files keep
//! their metadata and [`Vroot::read`] reports [`ImageError::ContentNotRetained`]. Folders
//! given with `rootfs:` are indexed with lstat and read lazily from disk.
//!
//! ```no_run
//! let img = confine_image::open("docker-daemon:nginx:latest", &Default::default())?;
//! let nginx = img.root.canonicalize("/usr/sbin/nginx")?;
//! let bytes = img.root.read(&nginx)?;
//! # Ok::<(), confine_image::ImageError>(())
//! ```

mod error;
mod layer;
mod limits;
mod open;
mod vroot;

pub use error::ImageError;
pub use layer::{Compression, Progress};
pub use limits::Limits;
pub use open::{
    open, parse_reference, Image, ImageConfig, LayerInfo, OpenOptions, ProgressFn, Transport,
};
pub use vroot::{FileKind, Metadata, Vroot};
