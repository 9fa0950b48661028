//! On-disk cache of object summaries keyed by sha256(object bytes) and
//! [`ANALYSIS_VERSION`]; atomic writes (temp file + rename), corrupt entries
//! ignored and recomputed, safe under concurrent runs.

use crate::{analyze_object, AnalysisError, Limits, ObjectSummary, ANALYSIS_VERSION};
use confine_elf::ElfInfo;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Largest cache entry read back (bytes); bigger files are treated as corrupt.
const MAX_ENTRY_BYTES: u64 = 512 << 20;

/// A directory of JSON summaries.
#[derive(Clone, Debug)]
pub struct SummaryCache {
    dir: PathBuf,
}

/// Hex sha256 of `data`.
pub fn digest(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

impl SummaryCache {
    /// Use (and create) `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Result<SummaryCache, AnalysisError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|source| AnalysisError::CacheDir {
            path: dir.clone(),
            source,
        })?;
        Ok(SummaryCache { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{digest}-{ANALYSIS_VERSION}.json"))
    }

    /// The cached summary for this digest, if present and readable.
    pub fn get(&self, digest: &str) -> Option<ObjectSummary> {
        let p = self.path(digest);
        let meta = std::fs::metadata(&p).ok()?;
        if meta.len() > MAX_ENTRY_BYTES {
            return None;
        }
        let bytes = std::fs::read(&p).ok()?;
        let s: ObjectSummary = serde_json::from_slice(&bytes).ok()?;
        (s.version == ANALYSIS_VERSION).then_some(s)
    }

    /// Store a summary atomically.
    pub fn put(&self, digest: &str, summary: &ObjectSummary) -> Result<(), AnalysisError> {
        let bytes = serde_json::to_vec(summary).map_err(|source| AnalysisError::Encode {
            digest: digest.to_string(),
            source,
        })?;
        let path = self.path(digest);
        let werr = |source| AnalysisError::CacheWrite {
            path: path.clone(),
            source,
        };
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir).map_err(werr)?;
        tmp.write_all(&bytes).map_err(werr)?;
        tmp.as_file().sync_all().map_err(werr)?;
        tmp.persist(&path).map_err(|e| werr(e.error))?;
        Ok(())
    }

    /// Cached summary or a fresh analysis (stored; a failed store is ignored).
    /// Non-default limits are part of the key.
    pub fn get_or_compute(&self, data: &[u8], elf: &ElfInfo, limits: &Limits) -> ObjectSummary {
        self.get_or_compute_digest(&digest(data), data, elf, limits)
    }

    /// As [`get_or_compute`](Self::get_or_compute) when the caller already
    /// knows `sha256(data)` as lowercase hex (the loader computes it once).
    pub fn get_or_compute_digest(
        &self,
        sha256: &str,
        data: &[u8],
        elf: &ElfInfo,
        limits: &Limits,
    ) -> ObjectSummary {
        let mut d = sha256.to_string();
        if let Ok(l) = serde_json::to_vec(limits) {
            if serde_json::to_vec(&Limits::default()).ok().as_deref() != Some(l.as_slice()) {
                let h = digest(&l);
                d = format!("{d}-{}", h.get(..16).unwrap_or(&h));
            }
        }
        if let Some(s) = self.get(&d) {
            return s;
        }
        let s = analyze_object(data, elf, limits);
        let _ = self.put(&d, &s);
        s
    }
}
