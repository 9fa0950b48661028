//! Parser for glibc's `/etc/ld.so.cache` (new "glibc-ld.so.cache1.1" and old "ld.so-1.7.0" formats).

use crate::LoaderError;

/// One usable entry of the cache: a soname and the path ld.so would open for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry {
    pub flags: i32,
    pub key: String,
    pub value: String,
    /// Non-zero for entries that live in a `glibc-hwcaps` subfolder (new format only).
    pub hwcap: u64,
}

/// Parsed cache: every entry in file order (glibc keeps them sorted by soname).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LdCache {
    pub entries: Vec<CacheEntry>,
    /// True when the file used the old "ld.so-1.7.0" format only.
    pub old_format: bool,
}

/// `FLAG_ELF_LIBC6 | FLAG_X8664_LIB64`: the only id x86-64 ld.so accepts besides `FLAG_ELF`.
pub const FLAG_X86_64_LIBC6: i32 = 0x0303;
/// Plain `FLAG_ELF` entries are accepted by every ld.so.
pub const FLAG_ELF: i32 = 0x0001;

const MAGIC_NEW: &[u8] = b"glibc-ld.so.cache1.1";
const MAGIC_OLD: &[u8] = b"ld.so-1.7.0";
const NEW_HEADER: usize = 48;
const NEW_ENTRY: usize = 24;
const OLD_HEADER: usize = 16;
const OLD_ENTRY: usize = 12;
/// Longest string we accept from the cache (PATH_MAX).
const MAX_STR: usize = 4096;

fn u32_at(data: &[u8], off: usize) -> Option<u32> {
    let b: [u8; 4] = data.get(off..off.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(b))
}

fn u64_at(data: &[u8], off: usize) -> Option<u64> {
    let lo = u32_at(data, off)? as u64;
    let hi = u32_at(data, off.checked_add(4)?)? as u64;
    Some(lo | (hi << 32))
}

fn cstr_at(data: &[u8], off: usize) -> Option<String> {
    let rest = data.get(off..)?;
    let rest = rest.get(..rest.len().min(MAX_STR + 1))?;
    let end = memchr::memchr(0, rest)?;
    let s = rest.get(..end)?;
    if s.is_empty() {
        return None;
    }
    std::str::from_utf8(s).ok().map(str::to_owned)
}

impl LdCache {
    /// Parse cache bytes. Entries whose strings cannot be read are skipped (ld.so skips
    /// them too, through `_dl_cache_verify_ptr`).
    pub fn parse(data: &[u8]) -> Result<LdCache, LoaderError> {
        if data.starts_with(MAGIC_NEW) {
            return Self::parse_new(data, 0);
        }
        if !data.starts_with(MAGIC_OLD) {
            return Err(LoaderError::CacheBadMagic);
        }
        let nlibs = u32_at(data, 12).ok_or(LoaderError::CacheTruncated {
            nlibs: 0,
            size: data.len(),
        })? as usize;
        let table_end = nlibs
            .checked_mul(OLD_ENTRY)
            .and_then(|n| n.checked_add(OLD_HEADER))
            .filter(|&end| end <= data.len())
            .ok_or(LoaderError::CacheTruncated {
                nlibs: nlibs as u64,
                size: data.len(),
            })?;
        // A new-format cache may follow, aligned to 8 bytes: glibc prefers it.
        let new_off = (table_end + 7) & !7;
        if data
            .get(new_off..)
            .is_some_and(|d| d.starts_with(MAGIC_NEW))
        {
            if let Ok(c) = Self::parse_new(data, new_off) {
                return Ok(c);
            }
        }
        let strings = data.get(table_end..).unwrap_or_default();
        let mut entries = Vec::with_capacity(nlibs);
        for i in 0..nlibs {
            let e = OLD_HEADER + i * OLD_ENTRY;
            let (Some(flags), Some(key), Some(value)) =
                (u32_at(data, e), u32_at(data, e + 4), u32_at(data, e + 8))
            else {
                break;
            };
            let (Some(key), Some(value)) = (
                cstr_at(strings, key as usize),
                cstr_at(strings, value as usize),
            ) else {
                continue;
            };
            entries.push(CacheEntry {
                flags: flags as i32,
                key,
                value,
                hwcap: 0,
            });
        }
        Ok(LdCache {
            entries,
            old_format: true,
        })
    }

    fn parse_new(data: &[u8], base: usize) -> Result<LdCache, LoaderError> {
        let hdr = data.get(base..).unwrap_or_default();
        let trunc = || LoaderError::CacheTruncated {
            nlibs: 0,
            size: data.len(),
        };
        let nlibs = u32_at(hdr, 20).ok_or_else(trunc)? as usize;
        // flags byte: 0 unknown, 1 invalid, 2 little endian, 3 big endian.
        if hdr.get(28).copied() == Some(3) {
            return Err(LoaderError::CacheWrongEndian);
        }
        let end = nlibs
            .checked_mul(NEW_ENTRY)
            .and_then(|n| n.checked_add(NEW_HEADER))
            .filter(|&end| end <= hdr.len())
            .ok_or(LoaderError::CacheTruncated {
                nlibs: nlibs as u64,
                size: data.len(),
            })?;
        let _ = end;
        let mut entries = Vec::with_capacity(nlibs);
        for i in 0..nlibs {
            let e = NEW_HEADER + i * NEW_ENTRY;
            let (Some(flags), Some(key), Some(value), Some(hwcap)) = (
                u32_at(hdr, e),
                u32_at(hdr, e + 4),
                u32_at(hdr, e + 8),
                u64_at(hdr, e + 16),
            ) else {
                break;
            };
            // New-format string offsets are relative to the start of the new header.
            let (Some(key), Some(value)) =
                (cstr_at(hdr, key as usize), cstr_at(hdr, value as usize))
            else {
                continue;
            };
            entries.push(CacheEntry {
                flags: flags as i32,
                key,
                value,
                hwcap,
            });
        }
        Ok(LdCache {
            entries,
            old_format: false,
        })
    }

    /// Paths x86-64 ld.so would consider for `name`: the first non-hwcaps entry with an
    /// accepted flag word, then every hwcaps entry (glibc-hwcaps subfolders; which one wins
    /// depends on the CPU, so callers keep all of them).
    pub fn lookup(&self, name: &str) -> (Option<&str>, Vec<&str>) {
        let mut main = None;
        let mut hw = Vec::new();
        for e in self
            .entries
            .iter()
            .filter(|e| e.key == name && accepted(e.flags))
        {
            if e.hwcap != 0 {
                hw.push(e.value.as_str());
            } else if main.is_none() {
                main = Some(e.value.as_str());
            }
        }
        (main, hw)
    }
}

/// `_dl_cache_check_flags` on x86-64.
pub fn accepted(flags: i32) -> bool {
    flags == FLAG_ELF || flags == FLAG_X86_64_LIBC6
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Build a new-format cache from (flags, key, value, hwcap).
    pub(crate) fn build_new(entries: &[(i32, &str, &str, u64)]) -> Vec<u8> {
        let mut strings = Vec::new();
        let str_base = NEW_HEADER + entries.len() * NEW_ENTRY;
        let mut offs = Vec::new();
        for (_, k, v, _) in entries {
            let ko = str_base + strings.len();
            strings.extend_from_slice(k.as_bytes());
            strings.push(0);
            let vo = str_base + strings.len();
            strings.extend_from_slice(v.as_bytes());
            strings.push(0);
            offs.push((ko as u32, vo as u32));
        }
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC_NEW);
        out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
        out.extend_from_slice(&(strings.len() as u32).to_le_bytes());
        out.extend_from_slice(&[2, 0, 0, 0]);
        out.extend_from_slice(&[0u8; 16]);
        assert_eq!(out.len(), NEW_HEADER);
        for ((f, _, _, hw), (ko, vo)) in entries.iter().zip(offs) {
            out.extend_from_slice(&f.to_le_bytes());
            out.extend_from_slice(&ko.to_le_bytes());
            out.extend_from_slice(&vo.to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&hw.to_le_bytes());
        }
        out.extend_from_slice(&strings);
        out
    }

    #[test]
    fn host_cache_matches_ldconfig() {
        let data = match std::fs::read("/etc/ld.so.cache") {
            Ok(d) => d,
            Err(e) => {
                eprintln!("skip: no host /etc/ld.so.cache: {e}");
                return;
            }
        };
        let cache = LdCache::parse(&data).unwrap();
        let out = std::process::Command::new("ldconfig").arg("-p").output();
        let Ok(out) = out else {
            eprintln!("skip: ldconfig not runnable");
            return;
        };
        let text = String::from_utf8_lossy(&out.stdout);
        let first = text.lines().next().unwrap();
        let n: usize = first.split_whitespace().next().unwrap().parse().unwrap();
        assert_eq!(cache.entries.len(), n, "{first}");
        assert!(n > 50);
        for e in &cache.entries {
            assert!(
                std::path::Path::new(&e.value).exists(),
                "{} -> {}",
                e.key,
                e.value
            );
            assert!(
                e.value.ends_with(&e.key) || e.value.contains(".so"),
                "{e:?}"
            );
        }
        let (libc, _) = cache.lookup("libc.so.6");
        assert_eq!(libc, Some("/lib/x86_64-linux-gnu/libc.so.6"));
    }

    #[test]
    fn synthetic_new_cache_flags_and_hwcaps() {
        let data = build_new(&[
            (0x0003, "libz.so.1", "/lib/i386/libz.so.1", 0),
            (0x0303, "libz.so.1", "/lib/x64/libz.so.1", 0),
            (
                0x0303,
                "libz.so.1",
                "/lib/x64/glibc-hwcaps/x86-64-v3/libz.so.1",
                1 << 62,
            ),
            (0x0303, "libm.so.6", "/lib/x64/libm.so.6", 0),
        ]);
        let c = LdCache::parse(&data).unwrap();
        assert_eq!(c.entries.len(), 4);
        let (main, hw) = c.lookup("libz.so.1");
        assert_eq!(main, Some("/lib/x64/libz.so.1"));
        assert_eq!(hw, vec!["/lib/x64/glibc-hwcaps/x86-64-v3/libz.so.1"]);
        assert_eq!(c.lookup("libnope.so").0, None);
    }

    #[test]
    fn old_format_and_garbage() {
        let mut d = Vec::new();
        d.extend_from_slice(MAGIC_OLD);
        d.push(0);
        d.extend_from_slice(&1u32.to_le_bytes());
        d.extend_from_slice(&0x0303i32.to_le_bytes());
        d.extend_from_slice(&0u32.to_le_bytes());
        d.extend_from_slice(&8u32.to_le_bytes());
        d.extend_from_slice(b"liba.so\0/x/liba.so\0");
        let c = LdCache::parse(&d).unwrap();
        assert!(c.old_format);
        assert_eq!(c.entries[0].key, "liba.so");
        assert_eq!(c.entries[0].value, "/x/liba.so");
        assert_eq!(LdCache::parse(b"nope"), Err(LoaderError::CacheBadMagic));
        // nlibs that does not fit
        let mut t = MAGIC_NEW.to_vec();
        t.extend_from_slice(&u32::MAX.to_le_bytes());
        t.extend_from_slice(&[0u8; 24]);
        assert!(matches!(
            LdCache::parse(&t),
            Err(LoaderError::CacheTruncated { .. })
        ));
        // truncated prefix of a real cache never panics
        let real = build_new(&[(0x0303, "liba.so", "/a/liba.so", 0)]);
        for n in 0..real.len() {
            let _ = LdCache::parse(&real[..n]);
        }
    }

    #[test]
    fn corrupted_caches_never_panic() {
        let orig = build_new(&[
            (0x0303, "liba.so.1", "/a/liba.so.1", 0),
            (0x0303, "libb.so", "/b/libb.so", 1 << 62),
        ]);
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..2000 {
            let mut d = orig.clone();
            for _ in 0..4 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let pos = (x as usize) % d.len();
                d[pos] = (x >> 32) as u8;
            }
            if let Ok(c) = LdCache::parse(&d) {
                let _ = c.lookup("liba.so.1");
            }
        }
    }
}
