//! Bounds-checked reads of ELF words at file offsets; every read returns `Option`.

use std::cell::Cell;

/// A view of the file bytes with the ELF's byte order and word size.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rd<'a> {
    pub data: &'a [u8],
    pub le: bool,
    pub is64: bool,
    /// Bytes of strings (names, paths) this parse may still allocate.
    pub budget: &'a Cell<u64>,
}

impl<'a> Rd<'a> {
    /// Take `n` bytes from the string budget; false (and the budget pinned at 0)
    /// once it is spent.
    pub fn charge(&self, n: usize) -> bool {
        let n = n as u64;
        let left = self.budget.get();
        if left >= n {
            self.budget.set(left - n);
            true
        } else {
            self.budget.set(0);
            false
        }
    }

    pub fn bytes(&self, off: u64, len: u64) -> Option<&'a [u8]> {
        let start = usize::try_from(off).ok()?;
        let len = usize::try_from(len).ok()?;
        let end = start.checked_add(len)?;
        self.data.get(start..end)
    }

    pub fn u8(&self, off: u64) -> Option<u8> {
        self.data.get(usize::try_from(off).ok()?).copied()
    }

    pub fn u16(&self, off: u64) -> Option<u16> {
        let b: [u8; 2] = self.bytes(off, 2)?.try_into().ok()?;
        Some(if self.le {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        })
    }

    pub fn u32(&self, off: u64) -> Option<u32> {
        let b: [u8; 4] = self.bytes(off, 4)?.try_into().ok()?;
        Some(if self.le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }

    pub fn u64(&self, off: u64) -> Option<u64> {
        let b: [u8; 8] = self.bytes(off, 8)?.try_into().ok()?;
        Some(if self.le {
            u64::from_le_bytes(b)
        } else {
            u64::from_be_bytes(b)
        })
    }

    /// Size in bytes of an address-sized word.
    pub fn word_size(&self) -> u64 {
        if self.is64 {
            8
        } else {
            4
        }
    }

    /// An address-sized word, zero-extended.
    pub fn word(&self, off: u64) -> Option<u64> {
        if self.is64 {
            self.u64(off)
        } else {
            self.u32(off).map(u64::from)
        }
    }

    /// An address-sized word, sign-extended (for implicit addends).
    pub fn sword(&self, off: u64) -> Option<i64> {
        if self.is64 {
            self.u64(off).map(|v| v as i64)
        } else {
            self.u32(off).map(|v| i64::from(v as i32))
        }
    }

    /// A NUL-terminated string starting at `off`, searched within `limit` bytes.
    pub fn cstr(&self, off: u64, limit: u64) -> Option<&'a [u8]> {
        let start = usize::try_from(off).ok()?;
        let rest = self.data.get(start..)?;
        let lim = usize::try_from(limit).unwrap_or(usize::MAX).min(rest.len());
        let window = rest.get(..lim)?;
        let end = memchr::memchr(0, window)?;
        window.get(..end)
    }
}

/// A string table: a file range holding NUL-terminated strings.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct StrTab {
    pub offset: u64,
    pub size: u64,
}

/// Longest symbol or path string we keep.
pub(crate) const MAX_STR: u64 = 64 * 1024;

impl StrTab {
    pub fn get(&self, rd: &Rd<'_>, idx: u64) -> Option<String> {
        if idx >= self.size {
            return None;
        }
        let off = self.offset.checked_add(idx)?;
        let lim = (self.size - idx).min(MAX_STR);
        let b = rd.cstr(off, lim)?;
        if !rd.charge(b.len()) {
            return None;
        }
        Some(String::from_utf8_lossy(b).into_owned())
    }
}
