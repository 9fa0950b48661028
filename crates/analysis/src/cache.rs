//! On-disk cache of object summaries keyed by sha256(object bytes) and
//! [`ANALYSIS_VERSION`], and of whole-program results keyed by a hash of every
//! input of the program's analysis ([`SummaryCache::program_key`]). Entries are MessagePack
//! with field names behind a header (magic, analysis version, payload length,
//! checksum of the payload); writes are atomic (temp file + rename), so concurrent
//! runs are safe; a corrupt, truncated or foreign entry is a miss and is
//! recomputed.

use crate::program::ImportBinding;
use crate::{
    analyze_object, AnalysisError, Limits, ObjectSummary, ProgramResult, ANALYSIS_VERSION,
};
use confine_elf::ElfInfo;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Largest cache entry read back (bytes); bigger files are treated as corrupt.
const MAX_ENTRY_BYTES: u64 = 512 << 20;

/// First bytes of every entry (the last byte is the layout of this header).
const MAGIC: &[u8; 8] = b"CONFINE\x01";

/// Sub-folder of memoised whole-program results (created on first write).
const PROGRAM_DIR: &str = "programs";

/// A directory of per-object summaries (and memoised program results).
#[derive(Clone, Debug)]
pub struct SummaryCache {
    dir: PathBuf,
}

/// Hex sha256 of `data`.
pub fn digest(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// `std::io::Write` into a running sha256.
struct HashWriter(Sha256);

impl Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A program key: 64 lowercase hex digits (also keeps it a plain file name).
fn valid_key(key: &str) -> bool {
    key.len() == 64
        && key
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A fast 64-bit checksum of an entry's payload, to tell damage (a torn or
/// truncated file, a flipped bit) from an intact entry. Not cryptographic:
/// whoever can write the cache folder can write any entry anyway. Four
/// independent lanes of xor-multiply-rotate (each step a bijection, so a
/// change of any one word always changes the result), then the length.
/// 0.24 ms for libc's 6 MB entry where sha256 takes 2.9 ms.
fn checksum(b: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let step = |h: u64, w: u64| (h ^ w).wrapping_mul(K).rotate_left(29);
    let mut lanes: [u64; 4] = [
        0x243F_6A88_85A3_08D3,
        0x1319_8A2E_0370_7344,
        0xA409_3822_299F_31D0,
        0x082E_FA98_EC4E_6C89,
    ];
    let mut chunks = b.chunks_exact(32);
    for c in &mut chunks {
        for (l, w) in lanes.iter_mut().zip(c.chunks_exact(8)) {
            *l = step(*l, u64::from_le_bytes(w.try_into().unwrap_or_default()));
        }
    }
    let mut h = step(0, b.len() as u64);
    for l in lanes {
        h = step(h, l);
    }
    for &x in chunks.remainder() {
        h = step(h, u64::from(x));
    }
    h ^ (h >> 32)
}

/// `value` as an entry: header, then MessagePack with field names.
fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, rmp_serde::encode::Error> {
    let payload = rmp_serde::to_vec_named(value)?;
    let v = ANALYSIS_VERSION.as_bytes();
    let mut out = Vec::with_capacity(payload.len() + 64 + v.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(v.len() as u16).to_le_bytes());
    out.extend_from_slice(v);
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&checksum(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(out)
}

/// Split `n` bytes off the front of `b`.
fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    let head = b.get(..n)?;
    *b = b.get(n..)?;
    Some(head)
}

/// The value of an entry, or `None` for anything but an intact entry of this
/// analysis version.
fn decode<T: DeserializeOwned>(mut b: &[u8]) -> Option<T> {
    if take(&mut b, MAGIC.len())? != MAGIC {
        return None;
    }
    let vlen = u16::from_le_bytes(take(&mut b, 2)?.try_into().ok()?);
    if take(&mut b, usize::from(vlen))? != ANALYSIS_VERSION.as_bytes() {
        return None;
    }
    let len = u64::from_le_bytes(take(&mut b, 8)?.try_into().ok()?);
    let sum = u64::from_le_bytes(take(&mut b, 8)?.try_into().ok()?);
    if u64::try_from(b.len()).ok()? != len || checksum(b) != sum {
        return None;
    }
    rmp_serde::from_slice(b).ok()
}

/// The bytes of `path` if it is a regular file of at most `MAX_ENTRY_BYTES`.
fn read_entry(path: &Path) -> Option<Vec<u8>> {
    let f = std::fs::File::open(path).ok()?;
    let meta = f.metadata().ok()?;
    if !meta.is_file() || meta.len() > MAX_ENTRY_BYTES {
        return None;
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).ok()?);
    f.take(MAX_ENTRY_BYTES + 1).read_to_end(&mut bytes).ok()?;
    (bytes.len() as u64 <= MAX_ENTRY_BYTES).then_some(bytes)
}

/// Temporary files of writes under way; one left by a run killed mid-write is
/// removed by a later run once it is an hour old.
const TMP_PREFIX: &str = ".confine-tmp-";
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);
/// Directory entries looked at per sweep (a huge cache folder costs no more).
const SWEEP_ENTRIES: usize = 200_000;

fn sweep_stale_temporaries(dir: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let now = std::time::SystemTime::now();
    for e in rd.take(SWEEP_ENTRIES).flatten() {
        let name = e.file_name();
        if !name.to_string_lossy().starts_with(TMP_PREFIX) {
            continue;
        }
        let old = e
            .metadata()
            .ok()
            .filter(|m| m.is_file())
            .and_then(|m| m.modified().ok())
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age > STALE_AFTER);
        if old {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

impl SummaryCache {
    /// Use (and create) `dir`; temporary files of killed runs older than an
    /// hour are removed.
    pub fn new(dir: impl Into<PathBuf>) -> Result<SummaryCache, AnalysisError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|source| AnalysisError::CacheDir {
            path: dir.clone(),
            source,
        })?;
        sweep_stale_temporaries(&dir);
        sweep_stale_temporaries(&dir.join("programs"));
        Ok(SummaryCache { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{digest}-{ANALYSIS_VERSION}.bin"))
    }

    fn program_path(&self, key: &str) -> PathBuf {
        self.dir
            .join(PROGRAM_DIR)
            .join(format!("{key}-{ANALYSIS_VERSION}.bin"))
    }

    /// The key of a memoised whole-program result: sha256 (lowercase hex) over
    /// the analysis version, the limits, the caller's `salt` (e.g. the identity
    /// of the running build) and every input of `analyze_program_dynamic`:
    /// the objects in the order of [`ProgramInput::objects`](crate::ProgramInput)
    /// as (path shown in witnesses, sha256 of the object's bytes, is the
    /// interpreter), the bindings indexing into them, and `dynamic` (its
    /// `dynamic_roots`). A change of any of them is a different key. `None`
    /// when the inputs cannot be encoded.
    pub fn program_key(
        objects: &[(&str, &str, bool)],
        bindings: &[ImportBinding],
        dynamic: &[usize],
        limits: &Limits,
        salt: &str,
    ) -> Option<String> {
        let mut h = HashWriter(Sha256::new());
        serde_json::to_writer(
            &mut h,
            &(
                "confine-program",
                ANALYSIS_VERSION,
                limits,
                salt,
                objects,
                bindings,
                dynamic,
            ),
        )
        .ok()?;
        Some(hex::encode(h.0.finalize()))
    }

    /// The cached summary for this digest, if present and intact.
    pub fn get(&self, digest: &str) -> Option<ObjectSummary> {
        let s: ObjectSummary = decode(&read_entry(&self.path(digest))?)?;
        (s.version == ANALYSIS_VERSION).then_some(s)
    }

    /// Store a summary atomically.
    pub fn put(&self, digest: &str, summary: &ObjectSummary) -> Result<(), AnalysisError> {
        self.write(&self.path(digest), digest, summary)
    }

    /// The memoised result of the program with this key, if present and intact.
    pub fn get_program(&self, key: &str) -> Option<ProgramResult> {
        if !valid_key(key) {
            return None;
        }
        decode(&read_entry(&self.program_path(key))?)
    }

    /// Store a program's result atomically.
    pub fn put_program(&self, key: &str, result: &ProgramResult) -> Result<(), AnalysisError> {
        let path = self.program_path(key);
        if !valid_key(key) {
            return Err(AnalysisError::CacheWrite {
                path,
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a program key"),
            });
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| AnalysisError::CacheDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        self.write(&path, key, result)
    }

    /// Write `value` to `path` through a temporary file in the same folder
    /// and a rename: readers see the old entry or the whole new one.
    fn write<T: Serialize>(&self, path: &Path, what: &str, value: &T) -> Result<(), AnalysisError> {
        let bytes = encode(value).map_err(|e| AnalysisError::Encode {
            digest: what.to_string(),
            source: <serde_json::Error as serde::ser::Error>::custom(e),
        })?;
        let werr = |source| AnalysisError::CacheWrite {
            path: path.to_path_buf(),
            source,
        };
        let dir = path.parent().unwrap_or(&self.dir);
        let mut tmp = tempfile::Builder::new()
            .prefix(TMP_PREFIX)
            .tempfile_in(dir)
            .map_err(werr)?;
        tmp.write_all(&bytes).map_err(werr)?;
        tmp.as_file().sync_all().map_err(werr)?;
        tmp.persist(path).map_err(|e| werr(e.error))?;
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

#[cfg(test)]
mod sweep_tests {
    use super::*;

    #[test]
    fn stale_temporaries_are_removed_and_fresh_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let stale = dir.path().join(format!("{TMP_PREFIX}stale"));
        let fresh = dir.path().join(format!("{TMP_PREFIX}fresh"));
        let other = dir.path().join("entry.bin");
        for p in [&stale, &fresh, &other] {
            std::fs::write(p, b"x").unwrap();
        }
        let two_hours_ago = std::time::SystemTime::now() - 2 * STALE_AFTER;
        for p in [&stale, &other] {
            std::fs::File::options()
                .write(true)
                .open(p)
                .unwrap()
                .set_modified(two_hours_ago)
                .unwrap();
        }
        SummaryCache::new(dir.path()).unwrap();
        assert!(!stale.exists());
        assert!(fresh.exists() && other.exists());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{analyze_program, bind_first_definition, ObjectRef, ProgramInput};

    const LIBC: &str = "/lib/x86_64-linux-gnu/libc.so.6";
    const LDSO: &str = "/lib64/ld-linux-x86-64.so.2";
    const TRUE: &str = "/usr/bin/true";

    fn read(path: &str) -> Option<(Vec<u8>, ElfInfo)> {
        let data = std::fs::read(path).ok()?;
        let elf = confine_elf::parse(&data).ok()?;
        Some((data, elf))
    }

    /// Every way an entry can be damaged: each must read back as a miss.
    fn damaged(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut out = vec![("empty".to_string(), Vec::new())];
        for cut in [1, 8, 10, 30, 60, bytes.len() / 2, bytes.len() - 1] {
            out.push((format!("truncated to {cut}"), bytes[..cut].to_vec()));
        }
        for at in [0, 9, 40, 70, bytes.len() / 2, bytes.len() - 1] {
            let mut b = bytes.to_vec();
            b[at] ^= 0x40;
            out.push((format!("byte {at} flipped"), b));
        }
        let mut longer = bytes.to_vec();
        longer.push(0);
        out.push(("trailing byte".into(), longer));
        out.push(("old json entry".into(), b"{\"version\":\"x\"}".to_vec()));
        out
    }

    #[test]
    fn checksum_sees_every_bit_flip_and_length() {
        let data: Vec<u8> = (0..100u32).map(|i| (i * 37 % 251) as u8).collect();
        let base = checksum(&data);
        for i in 0..data.len() {
            for bit in 0..8 {
                let mut d = data.clone();
                d[i] ^= 1 << bit;
                assert_ne!(checksum(&d), base, "byte {i} bit {bit}");
            }
        }
        let zeros: Vec<u64> = (0..70).map(|n| checksum(&vec![0u8; n])).collect();
        let distinct: std::collections::HashSet<_> = zeros.iter().collect();
        assert_eq!(distinct.len(), zeros.len(), "lengths of zeros collide");
    }

    #[test]
    fn libc_summary_roundtrips_and_damage_is_a_miss() {
        let Some((data, elf)) = read(LIBC) else {
            eprintln!("skipped: {LIBC} not readable");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let cache = SummaryCache::new(dir.path()).unwrap();
        let s = cache.get_or_compute(&data, &elf, &Limits::default());
        assert!(s.stats.syscall_sites > 100, "libc has many syscall sites");
        let d = digest(&data);
        let back = cache.get(&d).expect("entry written and read back");
        assert_eq!(back, s, "every field survives the encoding");
        let path = cache.path(&d);
        let good = std::fs::read(&path).unwrap();
        assert!(good.starts_with(MAGIC));
        // Smaller than the JSON it replaces.
        let json = serde_json::to_vec(&s).unwrap();
        assert!(good.len() < json.len(), "{} >= {}", good.len(), json.len());
        for (what, bytes) in damaged(&good) {
            std::fs::write(&path, &bytes).unwrap();
            assert_eq!(cache.get(&d), None, "{what}");
        }
        // A damaged entry is recomputed and replaced.
        let again = cache.get_or_compute(&data, &elf, &Limits::default());
        assert_eq!(again, s);
        assert_eq!(std::fs::read(&path).unwrap(), good);
        // An entry of another analysis version is a miss.
        let mut other = s.clone();
        other.version = "confine-analysis-0".into();
        cache.put(&d, &other).unwrap();
        assert_eq!(cache.get(&d), None);
    }

    #[test]
    fn non_default_limits_are_a_different_entry() {
        let Some((data, elf)) = read(TRUE) else {
            eprintln!("skipped: {TRUE} not readable");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let cache = SummaryCache::new(dir.path()).unwrap();
        let small = Limits {
            max_instructions: 10,
            ..Limits::default()
        };
        let t = cache.get_or_compute(&data, &elf, &small);
        assert!(t.stats.truncated);
        let full = cache.get_or_compute(&data, &elf, &Limits::default());
        assert!(!full.stats.truncated);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
        assert_eq!(cache.get_or_compute(&data, &elf, &small), t);
    }

    /// /usr/bin/true with libc and ld.so: paths, hashes, summaries, bindings.
    /// Paths, sha256s, summaries and bindings of one program.
    type Program = (
        Vec<String>,
        Vec<String>,
        Vec<ObjectSummary>,
        Vec<ImportBinding>,
    );

    fn true_program() -> Option<Program> {
        let objs: Vec<(Vec<u8>, ElfInfo)> = [TRUE, LIBC, LDSO]
            .iter()
            .map(|p| read(p))
            .collect::<Option<_>>()?;
        let paths = [TRUE, LIBC, LDSO].map(String::from).to_vec();
        let shas = objs.iter().map(|(d, _)| digest(d)).collect();
        let sums = objs
            .iter()
            .map(|(d, e)| analyze_object(d, e, &Limits::default()))
            .collect();
        let elfs: Vec<&ElfInfo> = objs.iter().map(|(_, e)| e).collect();
        Some((paths, shas, sums, bind_first_definition(&elfs)))
    }

    #[test]
    fn program_results_memoised_by_every_input() {
        let Some((paths, shas, sums, bindings)) = true_program() else {
            eprintln!("skipped: {TRUE}, {LIBC} or {LDSO} not readable");
            return;
        };
        let objects: Vec<(&str, &str, bool)> = paths
            .iter()
            .zip(&shas)
            .enumerate()
            .map(|(i, (p, s))| (p.as_str(), s.as_str(), i == 2))
            .collect();
        let l = Limits::default();
        let key = |o: &[(&str, &str, bool)], b: &[ImportBinding], d: &[usize], l: &Limits, s| {
            SummaryCache::program_key(o, b, d, l, s).unwrap()
        };
        let k = key(&objects, &bindings, &[], &l, "build-1");
        assert!(valid_key(&k));
        assert_eq!(
            k,
            key(&objects, &bindings, &[], &l, "build-1"),
            "deterministic"
        );
        // Any change of any input is another key.
        let mut changed = Vec::new();
        let mut o = objects.clone();
        o[1].1 = "0000000000000000000000000000000000000000000000000000000000000000";
        changed.push(("libc's content", key(&o, &bindings, &[], &l, "build-1")));
        let mut o = objects.clone();
        o[1].0 = "/lib/libc.so.6";
        changed.push(("a path", key(&o, &bindings, &[], &l, "build-1")));
        let mut o = objects.clone();
        o[2].2 = false;
        changed.push(("the interpreter", key(&o, &bindings, &[], &l, "build-1")));
        changed.push(("the order", {
            let mut o = objects.clone();
            o.swap(1, 2);
            key(&o, &bindings, &[], &l, "build-1")
        }));
        let mut b = bindings.clone();
        if let Some(x) = b.iter_mut().find(|x| x.to.is_some()) {
            x.to = x.to.map(|(o, a)| (o, a + 1));
        }
        changed.push(("a binding's address", key(&objects, &b, &[], &l, "build-1")));
        changed.push((
            "one binding fewer",
            key(&objects, &bindings[1..], &[], &l, "build-1"),
        ));
        changed.push((
            "dynamic roots",
            key(&objects, &bindings, &[1], &l, "build-1"),
        ));
        let small = Limits {
            max_block_visits: 7,
            ..Limits::default()
        };
        changed.push(("limits", key(&objects, &bindings, &[], &small, "build-1")));
        changed.push(("the build", key(&objects, &bindings, &[], &l, "build-2")));
        for (what, other) in &changed {
            assert_ne!(&k, other, "{what} must change the key");
        }

        let dir = tempfile::tempdir().unwrap();
        let cache = SummaryCache::new(dir.path()).unwrap();
        assert!(cache.get_program(&k).is_none());
        let input = ProgramInput {
            objects: paths
                .iter()
                .zip(&sums)
                .enumerate()
                .map(|(i, (path, summary))| ObjectRef {
                    path,
                    summary,
                    interp: i == 2,
                })
                .collect(),
            bindings: bindings.clone(),
        };
        let r = analyze_program(&input);
        assert!(r.syscalls.len() > 20 && !r.wildcard, "{}", r.syscalls.len());
        // Concurrent writers of one key leave one intact entry.
        std::thread::scope(|sc| {
            for _ in 0..4 {
                sc.spawn(|| cache.put_program(&k, &r).unwrap());
            }
        });
        let back = cache.get_program(&k).expect("memoised");
        assert_eq!(
            serde_json::to_value(&back).unwrap(),
            serde_json::to_value(&r).unwrap()
        );
        let pdir = dir.path().join(PROGRAM_DIR);
        assert_eq!(
            std::fs::read_dir(&pdir).unwrap().count(),
            1,
            "no temp files"
        );
        for (_, other) in &changed {
            assert!(cache.get_program(other).is_none());
        }
        let path = cache.program_path(&k);
        let good = std::fs::read(&path).unwrap();
        for (what, bytes) in damaged(&good) {
            std::fs::write(&path, &bytes).unwrap();
            assert!(cache.get_program(&k).is_none(), "{what}");
        }
        // Keys that are not keys never name a file.
        for bad in ["../x", "", &k[..63], &k.to_uppercase()] {
            assert!(cache.get_program(bad).is_none());
            assert!(cache.put_program(bad, &r).is_err());
        }
    }
}
