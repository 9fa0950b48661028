//! Layer blobs: compression detection, a bounded tar reader of our own, whiteouts, and
//! application of parsed layers onto a [`Vroot`].
//!
//! Decisions for hostile entries (mirroring what Docker's layer applier accepts):
//! - absolute names are taken relative to the image root; `a/../b` is normalized to `b`;
//! - a name whose `..` climbs above the root is refused ([`ImageError::PathEscape`]);
//! - a hard link must name an existing non-directory, in this layer or a lower one, whose
//!   name stays inside the root ([`ImageError::BadHardlink`]);
//! - symlinks may point anywhere: resolution clamps them to the root;
//! - `.wh.` whiteouts for `.`, `..` or an empty name are refused ([`ImageError::BadWhiteout`]);
//!   `.wh..wh..opq` makes its directory opaque; other `.wh..wh.` (aufs metadata) are ignored;
//! - GNU long names and PAX headers are read only up to fixed bounds; GNU sparse files are
//!   refused; unknown entry types are skipped;
//! - a parent that is a symlink in a lower layer is followed inside the root (containerd's
//!   behaviour); a parent that is some other non-directory is replaced by a directory.
//!
//! Whiteouts of a layer apply to lower layers only, so they are applied before the layer's
//! own entries.

use std::cell::Cell;
use std::io::{self, Read};
use std::rc::Rc;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::vroot::{normalize, truncate};
use crate::{FileKind, ImageError, Limits, Metadata, Vroot};

/// Longest PAX extended header we read.
const MAX_PAX_BYTES: u64 = 1 << 20;
/// Report progress every this many compressed bytes.
const PROGRESS_STEP: u64 = 1 << 20;

/// Progress of reading one layer (or other blob) of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// Layer digest or archive path.
    pub layer: String,
    /// Ordinal of this blob among those read so far from the source (0-based).
    pub index: usize,
    /// Stored (compressed) bytes read so far.
    pub bytes_read: u64,
    /// Stored size if known.
    pub total_bytes: Option<u64>,
    /// Last report for this blob.
    pub done: bool,
}

/// Layer compression, detected from magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// One entry of a layer, already normalized.
#[derive(Debug, Clone)]
pub(crate) struct LayerEntry {
    pub path: String,
    pub meta: Metadata,
    pub kind: EntryKind,
}

#[derive(Debug, Clone)]
pub(crate) enum EntryKind {
    Dir,
    File(Option<Arc<[u8]>>),
    Symlink(String),
    Hardlink(String),
    Special,
}

/// A layer read into memory: entries plus whiteouts, and the digests of its bytes.
#[derive(Debug, Clone)]
pub(crate) struct ParsedLayer {
    pub id: String,
    /// `sha256:` of the stored bytes.
    pub digest: String,
    /// `sha256:` of the uncompressed tar.
    pub diff_id: String,
    pub compression: Compression,
    pub stored_bytes: u64,
    pub tar_bytes: u64,
    pub entries: Vec<LayerEntry>,
    pub whiteouts: Vec<String>,
    pub opaques: Vec<String>,
    pub header_count: u64,
}

/// What one image may still consume, shared by all its layers.
#[derive(Debug, Clone, Default)]
pub(crate) struct Budget {
    pub tar_bytes: u64,
    pub entries: u64,
    pub retained: u64,
}

#[derive(Default)]
struct Flags {
    limit: Cell<Option<(&'static str, u64, u64)>>,
    raw_failed: Cell<bool>,
    decoder_failed: Cell<bool>,
}

/// The stored bytes: hashed, counted against `max_layer_bytes`, progress reported.
struct RawReader<'p, R> {
    inner: R,
    hasher: Sha256,
    count: u64,
    max: u64,
    flags: Rc<Flags>,
    progress: Option<&'p dyn Fn(Progress)>,
    next_report: u64,
    id: String,
    index: usize,
    total: Option<u64>,
}

impl<R: Read> Read for RawReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
            Err(e) => {
                self.flags.raw_failed.set(true);
                return Err(e);
            }
        };
        self.hasher.update(buf.get(..n).unwrap_or(&[]));
        self.count += n as u64;
        if self.count > self.max {
            self.flags
                .limit
                .set(Some(("max_layer_bytes", self.count, self.max)));
            return Err(io::Error::other("layer too large"));
        }
        if self.count >= self.next_report {
            self.next_report = self.count + PROGRESS_STEP;
            self.report(false);
        }
        Ok(n)
    }
}

impl<R> RawReader<'_, R> {
    fn report(&self, done: bool) {
        if let Some(p) = self.progress {
            p(Progress {
                layer: self.id.clone(),
                index: self.index,
                bytes_read: self.count,
                total_bytes: self.total,
                done,
            });
        }
    }
}

/// Decoder output: failures tagged as decoder failures unless the raw side failed.
struct DecodeTag<R> {
    inner: R,
    flags: Rc<Flags>,
}

impl<R: Read> Read for DecodeTag<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            if e.kind() != io::ErrorKind::Interrupted
                && !self.flags.raw_failed.get()
                && self.flags.limit.get().is_none()
            {
                self.flags.decoder_failed.set(true);
            }
        })
    }
}

/// The tar bytes: counted against the image budget and hashed (diff id) when compressed.
struct TarCounter<R> {
    inner: R,
    hasher: Option<Sha256>,
    count: u64,
    max: u64,
    flags: Rc<Flags>,
    /// Tar bytes of earlier layers of the image (for the error message).
    base: u64,
    limit_max: u64,
}

impl<R: Read> Read for TarCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = &mut self.hasher {
            h.update(buf.get(..n).unwrap_or(&[]));
        }
        self.count += n as u64;
        if self.count > self.max {
            self.flags.limit.set(Some((
                "max_image_bytes",
                self.base + self.count,
                self.limit_max,
            )));
            return Err(io::Error::other("image too large"));
        }
        Ok(n)
    }
}

/// Parse one layer blob (plain, gzip or zstd tar) read from `reader`. When the blob cannot
/// be parsed and its digest is known (`expected`), the rest is hashed and a digest mismatch
/// is reported in preference to the parse error it caused.
#[allow(clippy::too_many_arguments)]
pub(crate) fn parse_layer<R: Read>(
    reader: R,
    id: &str,
    index: usize,
    total: Option<u64>,
    expected: Option<&str>,
    limits: &Limits,
    budget: &mut Budget,
    progress: Option<&dyn Fn(Progress)>,
) -> Result<ParsedLayer, ImageError> {
    let flags = Rc::new(Flags::default());
    let mut raw = RawReader {
        inner: reader,
        hasher: Sha256::new(),
        count: 0,
        max: limits.max_layer_bytes,
        flags: flags.clone(),
        progress,
        next_report: 0,
        id: id.to_string(),
        index,
        total,
    };
    let result = parse_stream(&mut raw, &flags, id, limits, budget);
    let fail = |e: io::Error, format: &'static str| classify(e, &flags, id, format);
    let (mut layer, tar_hash, tar_count) = match result {
        Ok(r) => r,
        Err(e) => {
            let fatal = matches!(
                e,
                ImageError::LimitExceeded { .. } | ImageError::Read { .. }
            );
            if let (Some(want), false) = (expected, fatal) {
                if io::copy(&mut raw, &mut io::sink()).is_ok() {
                    let actual = format!("sha256:{}", hex::encode(raw.hasher.clone().finalize()));
                    if actual != want {
                        return Err(ImageError::DigestMismatch {
                            what: format!("layer {id}"),
                            expected: want.to_string(),
                            actual,
                        });
                    }
                }
            }
            return Err(e);
        }
    };
    io::copy(&mut raw, &mut io::sink()).map_err(|e| fail(e, layer_format(layer.compression)))?;
    raw.report(true);
    layer.digest = format!("sha256:{}", hex::encode(raw.hasher.clone().finalize()));
    layer.diff_id = match tar_hash {
        Some(h) => format!("sha256:{}", hex::encode(h.finalize())),
        None => layer.digest.clone(),
    };
    layer.stored_bytes = raw.count;
    layer.tar_bytes = tar_count;
    budget.tar_bytes = budget.tar_bytes.saturating_add(tar_count);
    Ok(layer)
}

fn layer_format(c: Compression) -> &'static str {
    match c {
        Compression::None => "tar",
        Compression::Gzip => "gzip",
        Compression::Zstd => "zstd",
    }
}

/// Decompress and parse; returns the layer (digests not yet set), the tar hasher (when
/// compressed) and the tar byte count. The raw stream may not be fully consumed.
fn parse_stream<R: Read>(
    raw: &mut RawReader<'_, R>,
    flags: &Rc<Flags>,
    id: &str,
    limits: &Limits,
    budget: &mut Budget,
) -> Result<(ParsedLayer, Option<Sha256>, u64), ImageError> {
    let fail = |e: io::Error, flags: &Flags, format: &'static str| classify(e, flags, id, format);

    let mut head = [0u8; 4];
    let got = read_up_to(raw, &mut head).map_err(|e| fail(e, flags, "tar"))?;
    let head = head.get(..got).unwrap_or(&[]);
    let compression = match head {
        [0x1f, 0x8b, ..] => Compression::Gzip,
        [0x28, 0xb5, 0x2f, 0xfd] => Compression::Zstd,
        _ => Compression::None,
    };
    let format = match compression {
        Compression::None => "tar",
        Compression::Gzip => "gzip",
        Compression::Zstd => "zstd",
    };
    let chained = io::Cursor::new(head.to_vec()).chain(&mut *raw);
    let decoded: Box<dyn Read + '_> = match compression {
        Compression::None => Box::new(chained),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(chained)),
        Compression::Zstd => {
            Box::new(zstd::stream::read::Decoder::new(chained).map_err(|e| fail(e, flags, format))?)
        }
    };
    let remaining = limits.max_image_bytes.saturating_sub(budget.tar_bytes);
    let mut tar = TarCounter {
        inner: DecodeTag {
            inner: decoded,
            flags: flags.clone(),
        },
        hasher: (compression != Compression::None).then(Sha256::new),
        count: 0,
        max: remaining,
        flags: flags.clone(),
        base: budget.tar_bytes,
        limit_max: limits.max_image_bytes,
    };
    let mut layer = ParsedLayer {
        id: id.to_string(),
        digest: String::new(),
        diff_id: String::new(),
        compression,
        stored_bytes: 0,
        tar_bytes: 0,
        entries: Vec::new(),
        whiteouts: Vec::new(),
        opaques: Vec::new(),
        header_count: 0,
    };
    let parsed = TarParser {
        r: TarReader::new(&mut tar, id, limits.max_path_len),
        id,
        limits,
        budget,
        layer: &mut layer,
    }
    .run();
    match parsed {
        Ok(()) => {}
        Err(Failure::Image(e)) => return Err(e),
        Err(Failure::Io(e)) => return Err(fail(e, flags, format)),
    }
    // Drain the rest (end-of-archive padding, gzip trailer) so checksums and digests cover
    // the whole stream.
    io::copy(&mut tar, &mut io::sink()).map_err(|e| fail(e, flags, format))?;
    let tar_hash = tar.hasher.take();
    Ok((layer, tar_hash, tar.count))
}

fn classify(e: io::Error, flags: &Flags, id: &str, format: &'static str) -> ImageError {
    if let Some((limit, value, max)) = flags.limit.get() {
        return ImageError::LimitExceeded {
            limit,
            value,
            max,
            context: format!("layer {id}"),
        };
    }
    if flags.raw_failed.get() {
        return ImageError::Read {
            what: format!("layer {id}"),
            source: e,
        };
    }
    if flags.decoder_failed.get() {
        return ImageError::Decompress {
            layer: id.to_string(),
            format,
            source: e,
        };
    }
    ImageError::Tar {
        layer: id.to_string(),
        source: e,
    }
}

/// Read until `buf` is full or EOF; the number of bytes read.
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while let Some(rest) = buf.get_mut(got..) {
        if rest.is_empty() {
            break;
        }
        match r.read(rest) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

pub(crate) enum Failure {
    Image(ImageError),
    Io(io::Error),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Io(e)
    }
}

impl From<ImageError> for Failure {
    fn from(e: ImageError) -> Self {
        Failure::Image(e)
    }
}

fn bad(offset: u64, msg: &str) -> Failure {
    Failure::Io(io::Error::new(
        io::ErrorKind::InvalidData,
        format!("at offset {offset}: {msg}"),
    ))
}

/// Parse a tar number field: octal ASCII or GNU base-256.
fn parse_num(field: &[u8]) -> Option<u64> {
    let first = *field.first()?;
    if first & 0x80 != 0 {
        if first != 0x80 {
            return None; // negative or malformed
        }
        let mut v: u64 = 0;
        for &b in field.get(1..)? {
            v = v.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return Some(v);
    }
    let mut v: u64 = 0;
    let mut seen = false;
    for &b in field {
        match b {
            b' ' | 0 if !seen => continue,
            b' ' | 0 => break,
            b'0'..=b'7' => {
                seen = true;
                v = v.checked_mul(8)?.checked_add(u64::from(b - b'0'))?;
            }
            _ => return None,
        }
    }
    Some(v)
}

fn cstr(field: &[u8]) -> &[u8] {
    let end = memchr::memchr(0, field).unwrap_or(field.len());
    field.get(..end).unwrap_or(field)
}

fn field(hdr: &[u8; 512], from: usize, to: usize) -> &[u8] {
    hdr.get(from..to).unwrap_or(&[])
}

#[derive(Default)]
struct Pax {
    path: Option<Vec<u8>>,
    linkpath: Option<Vec<u8>>,
    size: Option<u64>,
    uid: Option<u64>,
    gid: Option<u64>,
}

fn parse_pax(data: &[u8], offset: u64) -> Result<Pax, Failure> {
    let mut pax = Pax::default();
    let mut rest = data;
    while !rest.is_empty() {
        if rest.iter().all(|&b| b == 0) {
            break;
        }
        let sp = memchr::memchr(b' ', rest).ok_or_else(|| bad(offset, "bad pax record"))?;
        let len: usize = std::str::from_utf8(rest.get(..sp).unwrap_or(&[]))
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad(offset, "bad pax record length"))?;
        let rec = rest
            .get(sp + 1..len)
            .ok_or_else(|| bad(offset, "bad pax record length"))?;
        rest = rest.get(len..).unwrap_or(&[]);
        let rec = rec.strip_suffix(b"\n").unwrap_or(rec);
        let eq = memchr::memchr(b'=', rec).ok_or_else(|| bad(offset, "bad pax record"))?;
        let key = rec.get(..eq).unwrap_or(&[]);
        let val = rec.get(eq + 1..).unwrap_or(&[]);
        let num = || {
            std::str::from_utf8(val)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
        };
        match key {
            b"path" => pax.path = Some(val.to_vec()),
            b"linkpath" => pax.linkpath = Some(val.to_vec()),
            b"size" => pax.size = Some(num().ok_or_else(|| bad(offset, "bad pax size"))?),
            b"uid" => pax.uid = num(),
            b"gid" => pax.gid = num(),
            _ => {}
        }
    }
    Ok(pax)
}

/// One tar member with GNU long names and PAX overrides already applied.
pub(crate) struct RawHeader {
    pub typeflag: u8,
    pub name: Vec<u8>,
    pub link: Vec<u8>,
    /// Data bytes that follow (0 for header-only types, as Go's reader does).
    pub size: u64,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
}

/// A bounded tar reader: headers are checksummed, extension headers are read only up to
/// fixed bounds, and the caller consumes entry data through `Read` (limited to the entry).
pub(crate) struct TarReader<R> {
    r: R,
    pos: u64,
    data_end: u64,
    max_path_len: usize,
    id: String,
}

impl<R: Read> Read for TarReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.data_end.saturating_sub(self.pos);
        let n = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        if n == 0 {
            return Ok(0);
        }
        let got = self.r.read(buf.get_mut(..n).unwrap_or(&mut []))?;
        self.pos += got as u64;
        Ok(got)
    }
}

impl<R: Read> TarReader<R> {
    pub(crate) fn new(r: R, id: &str, max_path_len: usize) -> Self {
        TarReader {
            r,
            pos: 0,
            data_end: 0,
            max_path_len,
            id: id.to_string(),
        }
    }

    pub(crate) fn pos(&self) -> u64 {
        self.pos
    }

    /// Read from the underlying stream regardless of entry bounds.
    fn raw_read_up_to(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let got = read_up_to(&mut self.r, buf)?;
        self.pos += got as u64;
        Ok(got)
    }

    fn raw_skip(&mut self, n: u64) -> Result<(), Failure> {
        let off = self.pos;
        let copied = io::copy(&mut (&mut self.r).take(n), &mut io::sink())?;
        self.pos += copied;
        if copied < n {
            return Err(bad(off, "unexpected end of archive"));
        }
        Ok(())
    }

    /// Skip what is left of the current entry's data and its padding.
    pub(crate) fn finish_entry(&mut self) -> Result<(), Failure> {
        let rest = self.data_end.saturating_sub(self.pos);
        let pad = (512 - self.data_end % 512) % 512;
        self.raw_skip(rest.saturating_add(pad))
    }

    /// Read exactly `buf.len()` bytes of the current entry.
    pub(crate) fn read_exact_data(&mut self, buf: &mut [u8]) -> Result<(), Failure> {
        let off = self.pos;
        let got = read_up_to(self, buf)?;
        if got < buf.len() {
            return Err(bad(off, "unexpected end of archive"));
        }
        Ok(())
    }

    fn limit(&self, limit: &'static str, value: u64, max: u64, what: &str) -> Failure {
        Failure::Image(ImageError::LimitExceeded {
            limit,
            value,
            max,
            context: format!("{} {what} at offset {}", self.id, self.pos),
        })
    }

    fn small_entry(&mut self, size: u64) -> Result<Vec<u8>, Failure> {
        let len = usize::try_from(size).map_err(|_| bad(self.pos, "entry too large"))?;
        let mut v = vec![0u8; len];
        self.read_exact_data(&mut v)?;
        self.finish_entry()?;
        Ok(v)
    }

    /// The next member, or `None` at the end of the archive. The previous entry's data must
    /// have been consumed with `finish_entry`.
    pub(crate) fn next_header(&mut self) -> Result<Option<RawHeader>, Failure> {
        let mut long_name: Option<Vec<u8>> = None;
        let mut long_link: Option<Vec<u8>> = None;
        let mut pax: Option<Pax> = None;
        loop {
            let off = self.pos;
            let mut hdr = [0u8; 512];
            let got = self.raw_read_up_to(&mut hdr)?;
            if got == 0 {
                return Ok(None); // end without the zero blocks: accepted, as Go's reader does
            }
            if got < 512 {
                return Err(bad(off, "truncated tar header"));
            }
            if hdr.iter().all(|&b| b == 0) {
                return Ok(None);
            }
            let stored_sum = parse_num(field(&hdr, 148, 156));
            let sum: u64 = hdr
                .iter()
                .enumerate()
                .map(|(i, &b)| {
                    if (148..156).contains(&i) {
                        32
                    } else {
                        u64::from(b)
                    }
                })
                .sum();
            if stored_sum != Some(sum) {
                return Err(bad(off, "bad tar header checksum"));
            }
            let typeflag = hdr[156];
            let mut size =
                parse_num(field(&hdr, 124, 136)).ok_or_else(|| bad(off, "bad size field"))?;
            self.data_end = self.pos.saturating_add(size);
            match typeflag {
                b'L' | b'K' => {
                    let max = self.max_path_len as u64 + 1;
                    if size > max {
                        return Err(self.limit("max_path_len", size, max - 1, "gnu long name"));
                    }
                    let data = self.small_entry(size)?;
                    let v = cstr(&data).to_vec();
                    if typeflag == b'L' {
                        long_name = Some(v);
                    } else {
                        long_link = Some(v);
                    }
                    continue;
                }
                b'x' | b'g' => {
                    if size > MAX_PAX_BYTES {
                        return Err(self.limit(
                            "pax_header_bytes",
                            size,
                            MAX_PAX_BYTES,
                            "pax header",
                        ));
                    }
                    let data = self.small_entry(size)?;
                    if typeflag == b'x' {
                        pax = Some(parse_pax(&data, off)?);
                    }
                    continue;
                }
                b'S' => return Err(bad(off, "gnu sparse entries are not supported")),
                _ => {}
            }
            let pax_now = pax.take().unwrap_or_default();
            let name: Vec<u8> = if let Some(n) = long_name.take() {
                n
            } else if let Some(n) = pax_now.path {
                n
            } else {
                let name = cstr(field(&hdr, 0, 100));
                let prefix = cstr(field(&hdr, 345, 500));
                if field(&hdr, 257, 263) == b"ustar\0" && !prefix.is_empty() {
                    let mut full = prefix.to_vec();
                    full.push(b'/');
                    full.extend_from_slice(name);
                    full
                } else {
                    name.to_vec()
                }
            };
            let link: Vec<u8> = match (long_link.take(), pax_now.linkpath) {
                (Some(l), _) | (None, Some(l)) => l,
                _ => cstr(field(&hdr, 157, 257)).to_vec(),
            };
            if let Some(s) = pax_now.size {
                size = s;
            }
            if matches!(typeflag, b'1' | b'2' | b'3' | b'4' | b'5' | b'6') {
                size = 0;
            }
            self.data_end = self.pos.saturating_add(size);
            let mode = parse_num(field(&hdr, 100, 108)).unwrap_or(0o644) as u32 & 0o7777;
            let uid = pax_now
                .uid
                .or_else(|| parse_num(field(&hdr, 108, 116)))
                .unwrap_or(0);
            let gid = pax_now
                .gid
                .or_else(|| parse_num(field(&hdr, 116, 124)))
                .unwrap_or(0);
            return Ok(Some(RawHeader {
                typeflag,
                name,
                link,
                size,
                mode,
                uid,
                gid,
            }));
        }
    }
}

struct TarParser<'a, R: Read> {
    r: TarReader<&'a mut TarCounter<R>>,
    id: &'a str,
    limits: &'a Limits,
    budget: &'a mut Budget,
    layer: &'a mut ParsedLayer,
}

impl<R: Read> TarParser<'_, R> {
    fn limit(&self, limit: &'static str, value: u64, max: u64, name: &[u8]) -> Failure {
        Failure::Image(ImageError::LimitExceeded {
            limit,
            value,
            max,
            context: format!(
                "layer {} entry {:?}",
                self.id,
                truncate(&String::from_utf8_lossy(name))
            ),
        })
    }

    fn run(mut self) -> Result<(), Failure> {
        while let Some(h) = self.r.next_header()? {
            self.budget.entries += 1;
            self.layer.header_count += 1;
            if self.budget.entries > self.limits.max_entries {
                return Err(self.limit(
                    "max_entries",
                    self.budget.entries,
                    self.limits.max_entries,
                    &h.name,
                ));
            }
            let RawHeader {
                typeflag,
                name,
                link,
                size,
                mode,
                uid,
                gid,
            } = h;
            let meta = |kind| Metadata {
                kind,
                mode,
                size,
                uid: u32::try_from(uid).unwrap_or(u32::MAX),
                gid: u32::try_from(gid).unwrap_or(u32::MAX),
            };
            if name.len() > self.limits.max_path_len {
                return Err(self.limit(
                    "max_path_len",
                    name.len() as u64,
                    self.limits.max_path_len as u64,
                    &name,
                ));
            }
            let name_s = String::from_utf8_lossy(&name).into_owned();
            let Some(comps) = normalize(&name_s) else {
                return Err(Failure::Image(ImageError::PathEscape {
                    layer: self.id.to_string(),
                    name: name_s,
                }));
            };
            let path = join(&comps);

            // whiteouts
            if let Some(base) = comps.last().and_then(|b| b.strip_prefix(".wh.")) {
                let parent = comps.get(..comps.len() - 1).unwrap_or(&[]);
                if base == ".wh..opq" {
                    self.layer.opaques.push(join(parent));
                } else if base.starts_with(".wh.") {
                    // aufs metadata (.wh..wh.plnk, .wh..wh.aufs): ignored
                } else if base.is_empty() || base == "." || base == ".." {
                    return Err(Failure::Image(ImageError::BadWhiteout {
                        layer: self.id.to_string(),
                        name: name_s,
                        reason: "whiteout names no file",
                    }));
                } else {
                    let mut target = parent.to_vec();
                    target.push(base.to_string());
                    self.layer.whiteouts.push(join(&target));
                }
                self.r.finish_entry()?;
                continue;
            }

            let (fk, kind) = match typeflag {
                b'0' | 0 | b'7' => {
                    let content = self.file_content(&comps, size, &name)?;
                    (FileKind::File, EntryKind::File(content.map(Arc::from)))
                }
                b'1' => {
                    let target = String::from_utf8_lossy(&link).into_owned();
                    let Some(t) =
                        normalize(&target).filter(|_| link.len() <= self.limits.max_path_len)
                    else {
                        return Err(Failure::Image(ImageError::BadHardlink {
                            layer: self.id.to_string(),
                            name: name_s,
                            target,
                            reason: "target escapes the image root",
                        }));
                    };
                    (FileKind::File, EntryKind::Hardlink(join(&t)))
                }
                b'2' => {
                    if link.len() > self.limits.max_path_len {
                        return Err(self.limit(
                            "max_path_len",
                            link.len() as u64,
                            self.limits.max_path_len as u64,
                            &name,
                        ));
                    }
                    let t = String::from_utf8_lossy(&link).into_owned();
                    (FileKind::Symlink, EntryKind::Symlink(t))
                }
                b'3' => (FileKind::CharDev, EntryKind::Special),
                b'4' => (FileKind::BlockDev, EntryKind::Special),
                b'6' => (FileKind::Fifo, EntryKind::Special),
                b'5' => (FileKind::Dir, EntryKind::Dir),
                _ => {
                    // unknown entry type: skipped, like Go's reader for unsupported types
                    self.r.finish_entry()?;
                    continue;
                }
            };
            self.layer.entries.push(LayerEntry {
                path,
                meta: meta(fk),
                kind,
            });
            self.r.finish_entry()?;
        }
        Ok(())
    }

    /// Decide whether to keep a file's bytes and read them if so; `None` when not kept.
    fn file_content(
        &mut self,
        comps: &[String],
        size: u64,
        name: &[u8],
    ) -> Result<Option<Vec<u8>>, Failure> {
        if size > self.limits.max_file_bytes {
            return Ok(None);
        }
        let under_etc = comps.first().is_some_and(|c| c == "etc");
        let mut data = Vec::new();
        if size > self.limits.retain_small_bytes && !under_etc {
            // sniff the magic; the rest of a file not kept is skipped by `finish_entry`
            let mut head = [0u8; 4];
            self.r.read_exact_data(&mut head)?;
            let interesting = head == *b"\x7fELF" || head.starts_with(b"#!");
            if !interesting {
                return Ok(None);
            }
            data.extend_from_slice(&head);
        }
        let total = self.budget.retained.saturating_add(size);
        if total > self.limits.max_retained_bytes {
            return Err(self.limit(
                "max_retained_bytes",
                total,
                self.limits.max_retained_bytes,
                name,
            ));
        }
        self.budget.retained = total;
        let len = usize::try_from(size).map_err(|_| bad(self.r.pos(), "entry too large"))?;
        let start = data.len();
        data.resize(len, 0);
        if let Some(rest) = data.get_mut(start..) {
            self.r.read_exact_data(rest)?;
        }
        Ok(Some(data))
    }
}

fn join(names: &[String]) -> String {
    let mut s = String::new();
    for n in names {
        s.push('/');
        s.push_str(n);
    }
    if s.is_empty() {
        s.push('/');
    }
    s
}

/// Apply a parsed layer on top of `root`: whiteouts and opaque markers first (they hide
/// lower layers only), then the entries in archive order.
pub(crate) fn apply_layer(root: &mut Vroot, layer: &ParsedLayer) -> Result<(), ImageError> {
    for o in &layer.opaques {
        root.clear_dir(o)?;
    }
    for w in &layer.whiteouts {
        root.remove(w)?;
    }
    for e in &layer.entries {
        match &e.kind {
            EntryKind::Dir => root.insert_dir(&e.path, e.meta)?,
            EntryKind::File(c) => root.insert_file(&e.path, e.meta, c.clone())?,
            EntryKind::Symlink(t) => root.insert_symlink(&e.path, t, e.meta)?,
            EntryKind::Special => root.insert_special(&e.path, e.meta)?,
            EntryKind::Hardlink(t) => root.insert_hardlink(&e.path, t).map_err(|err| {
                let reason = match err {
                    ImageError::IsADirectory { .. } => "target is a directory",
                    ImageError::SymlinkLoop { .. } => "target path loops",
                    _ => "target does not exist",
                };
                ImageError::BadHardlink {
                    layer: layer.id.clone(),
                    name: e.path.clone(),
                    target: t.clone(),
                    reason,
                }
            })?,
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A tar entry written with raw name/link bytes (no validation), GNU header.
    pub(crate) fn raw(b: &mut tar::Builder<Vec<u8>>, name: &str, ty: u8, data: &[u8], link: &str) {
        let mut h = tar::Header::new_gnu();
        {
            let g = h.as_gnu_mut().unwrap();
            g.name[..name.len()].copy_from_slice(name.as_bytes());
            g.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        h.set_entry_type(tar::EntryType::new(ty));
        h.set_size(data.len() as u64);
        h.set_mode(if ty == b'5' { 0o755 } else { 0o644 });
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }

    pub(crate) fn tar_of(entries: &[(&str, u8, &[u8], &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (n, t, d, l) in entries {
            raw(&mut b, n, *t, d, l);
        }
        b.into_inner().unwrap()
    }

    fn parse(bytes: &[u8]) -> Result<ParsedLayer, ImageError> {
        parse_with(bytes, &Limits::default())
    }

    fn parse_with(bytes: &[u8], limits: &Limits) -> Result<ParsedLayer, ImageError> {
        parse_layer(
            bytes,
            "test",
            0,
            None,
            None,
            limits,
            &mut Budget::default(),
            None,
        )
    }

    fn build(layers: &[Vec<u8>]) -> Result<Vroot, ImageError> {
        let mut v = Vroot::new();
        for l in layers {
            apply_layer(&mut v, &parse(l)?)?;
        }
        Ok(v)
    }

    fn gzip(b: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    fn elf_blob(len: usize) -> Vec<u8> {
        let mut v = b"\x7fELF".to_vec();
        v.resize(len, 7);
        v
    }

    #[test]
    fn entries_of_every_kind_and_retention_policy() {
        let big_elf = elf_blob(200_000);
        let big_data = vec![1u8; 200_000];
        let mut big_script = b"#!/bin/sh\n".to_vec();
        big_script.resize(100_000, b'#');
        let t = tar_of(&[
            ("usr/", b'5', b"", ""),
            ("usr/bin/", b'5', b"", ""),
            ("usr/bin/prog", b'0', &big_elf, ""),
            ("usr/bin/script", b'0', &big_script, ""),
            ("usr/share/blob", b'0', &big_data, ""),
            ("etc/big.conf", b'0', &big_data, ""),
            ("usr/bin/small", b'0', b"hello", ""),
            ("usr/bin/hl", b'1', b"", "usr/bin/prog"),
            ("bin", b'2', b"", "usr/bin"),
            ("dev/null", b'3', b"", ""),
            ("run/fifo", b'6', b"", ""),
            ("/abs/file", b'0', b"x", ""),
            ("./dot/../normal", b'0', b"y", ""),
        ]);
        let p = parse(&t).unwrap();
        assert_eq!(p.compression, Compression::None);
        assert_eq!(p.digest, p.diff_id);
        assert_eq!(
            p.digest,
            format!("sha256:{}", hex::encode(Sha256::digest(&t)))
        );
        assert_eq!(p.stored_bytes, t.len() as u64);
        let mut v = Vroot::new();
        apply_layer(&mut v, &p).unwrap();
        assert_eq!(&*v.read("/bin/prog").unwrap(), &big_elf[..]);
        assert_eq!(&*v.read("/usr/bin/hl").unwrap(), &big_elf[..]);
        assert_eq!(&*v.read("/usr/bin/script").unwrap(), &big_script[..]);
        assert_eq!(&*v.read("/etc/big.conf").unwrap(), &big_data[..]);
        assert_eq!(&*v.read("/usr/bin/small").unwrap(), b"hello");
        match v.read("/usr/share/blob") {
            Err(ImageError::ContentNotRetained { path, size }) => {
                assert_eq!(path, "/usr/share/blob");
                assert_eq!(size, 200_000);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(v.metadata("/usr/share/blob").unwrap().size, 200_000);
        assert_eq!(
            v.symlink_metadata("/dev/null").unwrap().kind,
            FileKind::CharDev
        );
        assert_eq!(
            v.symlink_metadata("/run/fifo").unwrap().kind,
            FileKind::Fifo
        );
        assert!(matches!(
            v.read("/dev/null"),
            Err(ImageError::NotAFile { .. })
        ));
        assert_eq!(&*v.read("/abs/file").unwrap(), b"x");
        assert_eq!(&*v.read("/normal").unwrap(), b"y");
        assert!(!v.exists("/dot"));
        assert_eq!(v.metadata("/usr/bin/prog").unwrap().mode, 0o644);
    }

    #[test]
    fn whiteouts_and_opaque_dirs_hide_lower_layers_only() {
        let l1 = tar_of(&[
            ("a/", b'5', b"", ""),
            ("a/keep", b'0', b"1", ""),
            ("a/gone", b'0', b"1", ""),
            ("o/", b'5', b"", ""),
            ("o/lower", b'0', b"1", ""),
            ("o/sub/", b'5', b"", ""),
            ("o/sub/lower2", b'0', b"1", ""),
            ("lnk", b'2', b"", "a"),
        ]);
        // the opaque marker comes after a same-layer child: that child must survive
        let l2 = tar_of(&[
            ("a/.wh.gone", b'0', b"", ""),
            ("o/", b'5', b"", ""),
            ("o/sub/", b'5', b"", ""),
            ("o/sub/upper", b'0', b"2", ""),
            ("o/.wh..wh..opq", b'0', b"", ""),
            ("o/upper", b'0', b"2", ""),
            ("a/.wh..wh.plnk", b'0', b"", ""),
            (".wh.lnk", b'0', b"", ""),
        ]);
        let v = build(&[l1, l2]).unwrap();
        assert_eq!(v.read_dir("/a").unwrap(), vec!["keep"]);
        assert_eq!(v.read_dir("/o").unwrap(), vec!["sub", "upper"]);
        assert_eq!(v.read_dir("/o/sub").unwrap(), vec!["upper"]);
        assert!(!v.exists("/lnk"));
        assert!(v.symlink_metadata("/lnk").is_err());
        // opaque at the root hides everything lower
        let l3 = tar_of(&[(".wh..wh..opq", b'0', b"", ""), ("new", b'0', b"3", "")]);
        let l1 = tar_of(&[("old", b'0', b"1", "")]);
        let v = build(&[l1, l3]).unwrap();
        assert_eq!(v.read_dir("/").unwrap(), vec!["new"]);
    }

    #[test]
    fn hostile_entries_get_specific_errors() {
        let esc = tar_of(&[("../evil", b'0', b"x", "")]);
        match parse(&esc) {
            Err(ImageError::PathEscape { layer, name }) => {
                assert_eq!(layer, "test");
                assert_eq!(name, "../evil");
            }
            other => panic!("unexpected {other:?}"),
        }
        let esc2 = tar_of(&[("a/../../evil", b'5', b"", "")]);
        assert!(matches!(parse(&esc2), Err(ImageError::PathEscape { .. })));
        let wh = tar_of(&[("a/.wh..", b'0', b"", "")]);
        assert!(matches!(parse(&wh), Err(ImageError::BadWhiteout { .. })));
        let wh2 = tar_of(&[(".wh.", b'0', b"", "")]);
        assert!(matches!(parse(&wh2), Err(ImageError::BadWhiteout { .. })));
        let wh3 = tar_of(&[("../.wh.x", b'0', b"", "")]);
        assert!(matches!(parse(&wh3), Err(ImageError::PathEscape { .. })));
        let hl = tar_of(&[("x", b'1', b"", "../../etc/passwd")]);
        match parse(&hl) {
            Err(ImageError::BadHardlink { reason, .. }) => {
                assert_eq!(reason, "target escapes the image root")
            }
            other => panic!("unexpected {other:?}"),
        }
        let hl2 = tar_of(&[("x", b'1', b"", "missing")]);
        match build(&[hl2]) {
            Err(ImageError::BadHardlink { reason, target, .. }) => {
                assert_eq!(reason, "target does not exist");
                assert_eq!(target, "/missing");
            }
            other => panic!("unexpected {other:?}"),
        }
        let hl3 = tar_of(&[("d/", b'5', b"", ""), ("x", b'1', b"", "d")]);
        assert!(matches!(build(&[hl3]), Err(ImageError::BadHardlink { .. })));
        // hard link to a lower layer's file works
        let lower = tar_of(&[("f", b'0', b"lower", "")]);
        let upper = tar_of(&[("g", b'1', b"", "/f")]);
        assert_eq!(
            &*build(&[lower, upper]).unwrap().read("/g").unwrap(),
            b"lower"
        );
        // symlinks pointing out are kept and clamp on resolution
        let sl = tar_of(&[
            ("etc/passwd", b'0', b"image", ""),
            ("up", b'2', b"", "../../../etc/passwd"),
        ]);
        assert_eq!(&*build(&[sl]).unwrap().read("/up").unwrap(), b"image");
        // corrupt header
        let mut bad = tar_of(&[("f", b'0', b"x", "")]);
        bad[0] ^= 0x55;
        assert!(matches!(parse(&bad), Err(ImageError::Tar { .. })));
        // truncated data
        let t = tar_of(&[("f", b'0', &[9u8; 5000], "")]);
        assert!(matches!(parse(&t[..2000]), Err(ImageError::Tar { .. })));
    }

    #[test]
    fn limits_are_named_when_passed() {
        let t = tar_of(&[
            ("a", b'0', b"1", ""),
            ("b", b'0', b"2", ""),
            ("c", b'0', b"3", ""),
        ]);
        let lim = |l: Limits| match parse_with(&t, &l) {
            Err(ImageError::LimitExceeded { limit, .. }) => limit,
            other => panic!("unexpected {other:?}"),
        };
        let d = Limits::default;
        assert_eq!(
            lim(Limits {
                max_entries: 2,
                ..d()
            }),
            "max_entries"
        );
        assert_eq!(
            lim(Limits {
                max_layer_bytes: 1000,
                ..d()
            }),
            "max_layer_bytes"
        );
        assert_eq!(
            lim(Limits {
                max_image_bytes: 1000,
                ..d()
            }),
            "max_image_bytes"
        );
        assert_eq!(
            lim(Limits {
                max_retained_bytes: 2,
                ..d()
            }),
            "max_retained_bytes"
        );
        assert_eq!(
            lim(Limits {
                max_path_len: 0,
                ..d()
            }),
            "max_path_len"
        );
        // a GNU long name beyond the default limit
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_cksum();
        let long = format!("{}/f", ["d"; 2100].join("/"));
        b.append_data(&mut h, &long, &b"x"[..]).unwrap();
        match parse(&b.into_inner().unwrap()) {
            Err(ImageError::LimitExceeded {
                limit, value, max, ..
            }) => {
                assert_eq!(limit, "max_path_len");
                assert_eq!(max, 4096);
                assert!(value > 4096);
            }
            other => panic!("unexpected {other:?}"),
        }
        // a gzip bomb is stopped by the decompressed budget, not by memory
        let zeros = vec![0u8; 8 << 20];
        let mut bomb = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(zeros.len() as u64);
        h.set_cksum();
        bomb.append_data(&mut h, "big", &zeros[..]).unwrap();
        let bomb = gzip(&bomb.into_inner().unwrap());
        assert!(bomb.len() < 100_000);
        assert_eq!(
            match parse_with(
                &bomb,
                &Limits {
                    max_image_bytes: 1 << 20,
                    ..d()
                }
            ) {
                Err(ImageError::LimitExceeded { limit, .. }) => limit,
                other => panic!("unexpected {other:?}"),
            },
            "max_image_bytes"
        );
    }

    #[test]
    fn gzip_and_zstd_layers_and_truncation() {
        let elf = elf_blob(100_000);
        let mut b = tar::Builder::new(Vec::new());
        let long = format!("usr/{}/prog", "x".repeat(150));
        let mut h = tar::Header::new_gnu();
        h.set_size(elf.len() as u64);
        h.set_mode(0o755);
        h.set_cksum();
        b.append_data(&mut h, &long, &elf[..]).unwrap();
        let t = b.into_inner().unwrap();
        let plain = parse(&t).unwrap();
        let gz = gzip(&t);
        let zs = zstd::encode_all(&t[..], 3).unwrap();
        for (bytes, c) in [(&gz, Compression::Gzip), (&zs, Compression::Zstd)] {
            let p = parse(bytes).unwrap();
            assert_eq!(p.compression, c);
            assert_eq!(p.diff_id, plain.digest);
            assert_ne!(p.digest, p.diff_id);
            assert_eq!(p.tar_bytes, t.len() as u64);
            let mut v = Vroot::new();
            apply_layer(&mut v, &p).unwrap();
            assert_eq!(&*v.read(&format!("/{long}")).unwrap(), &elf[..]);
        }
        for (bytes, fmt) in [(&gz, "gzip"), (&zs, "zstd")] {
            for cut in [bytes.len() / 2, bytes.len() - 3] {
                match parse(&bytes[..cut]) {
                    Err(ImageError::Decompress { format, .. }) => assert_eq!(format, fmt),
                    other => panic!("{fmt} cut at {cut}: unexpected {other:?}"),
                }
            }
        }
    }

    /// Random byte mutations of valid layers never panic and never allocate past limits.
    #[test]
    fn mutated_layers_do_not_panic() {
        let t = tar_of(&[
            ("usr/", b'5', b"", ""),
            ("usr/bin/prog", b'0', &elf_blob(3000), ""),
            ("usr/l", b'2', b"", "bin/prog"),
            ("usr/h", b'1', b"", "usr/bin/prog"),
            ("usr/.wh.x", b'0', b"", ""),
        ]);
        let inputs = [t.clone(), gzip(&t), zstd::encode_all(&t[..], 3).unwrap()];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let limits = Limits {
            max_retained_bytes: 1 << 20,
            max_image_bytes: 1 << 20,
            ..Limits::default()
        };
        let mut ok = 0;
        for round in 0..3000 {
            let mut m = inputs[round % 3].clone();
            for _ in 0..1 + next() % 4 {
                let i = (next() as usize) % m.len();
                m[i] = next() as u8;
            }
            if next() % 8 == 0 {
                m.truncate((next() as usize) % m.len());
            }
            if let Ok(p) = parse_with(&m, &limits) {
                ok += 1;
                let _ = apply_layer(&mut Vroot::new(), &p);
            }
        }
        assert!(ok > 0);
    }

    #[test]
    fn progress_is_reported() {
        let t = tar_of(&[("f", b'0', &vec![3u8; 3 << 20], "")]);
        let seen = std::cell::RefCell::new(Vec::new());
        let cb = |p: Progress| seen.borrow_mut().push((p.bytes_read, p.done));
        parse_layer(
            &t[..],
            "l",
            0,
            Some(t.len() as u64),
            None,
            &Limits::default(),
            &mut Budget::default(),
            Some(&cb),
        )
        .unwrap();
        let seen = seen.into_inner();
        assert!(seen.len() >= 3, "{seen:?}");
        assert_eq!(seen.last(), Some(&(t.len() as u64, true)));
    }
}
