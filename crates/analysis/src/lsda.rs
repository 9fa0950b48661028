//! C++ exception landing pads: `.eh_frame` FDEs with an LSDA pointer and the
//! call-site tables of `.gcc_except_table`. Landing pads are entered by the
//! unwinder, never by a jump, so recursive descent must start there too.

use confine_elf::ElfInfo;
use gimli::{BaseAddresses, CieOrFde, EhFrame, LittleEndian, Pointer, UnwindSection};
use std::collections::BTreeMap;

/// FDEs read at most (bounds work on hostile input).
const MAX_FDES: usize = 4_000_000;
/// Call-site entries read per LSDA.
const MAX_CALL_SITES: usize = 100_000;

/// Function start (FDE start) -> landing pad addresses. `slots` receives the
/// data words the unwinder reads through (a CIE's indirect personality
/// pointer, an FDE's indirect LSDA pointer): no code names them.
pub(crate) fn landing_pads(
    data: &[u8],
    elf: &ElfInfo,
    slots: &mut Vec<u64>,
) -> BTreeMap<u64, Vec<u64>> {
    let mut out: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    let Some(sec) = elf.section(".eh_frame").filter(|s| s.kind != 8) else {
        return out;
    };
    let Some(bytes) = usize::try_from(sec.size)
        .ok()
        .and_then(|n| elf.bytes_at(data, sec.addr, n))
    else {
        return out;
    };
    let text = elf.section(".text").map_or(0, |s| s.addr);
    let got = elf.section(".got").map_or(0, |s| s.addr);
    let bases = BaseAddresses::default()
        .set_eh_frame(sec.addr)
        .set_text(text)
        .set_got(got);
    let eh = EhFrame::new(bytes, LittleEndian);
    let mut entries = eh.entries(&bases);
    let mut n = 0usize;
    while let Ok(Some(entry)) = entries.next() {
        n += 1;
        if n > MAX_FDES {
            break;
        }
        let partial = match entry {
            CieOrFde::Fde(p) => p,
            CieOrFde::Cie(cie) => {
                if let Some(Pointer::Indirect(slot)) = cie.personality() {
                    slots.push(slot);
                }
                continue;
            }
        };
        let Ok(fde) = partial.parse(|_, b, o| eh.cie_from_offset(b, o)) else {
            continue;
        };
        let lsda = match fde.lsda() {
            Some(Pointer::Direct(a)) => a,
            Some(Pointer::Indirect(slot)) => match elf
                .bytes_at(data, slot, 8)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
            {
                Some(w) => {
                    slots.push(slot);
                    u64::from_le_bytes(w)
                }
                None => continue,
            },
            None => continue,
        };
        let start = fde.initial_address();
        let pads = parse_lsda(data, elf, lsda, start);
        if !pads.is_empty() {
            let v = out.entry(start).or_default();
            v.extend(pads);
            v.sort_unstable();
            v.dedup();
        }
    }
    out
}

struct Rd<'a> {
    b: &'a [u8],
    p: usize,
}

impl Rd<'_> {
    fn u8(&mut self) -> Option<u8> {
        let v = *self.b.get(self.p)?;
        self.p += 1;
        Some(v)
    }
    fn uleb(&mut self) -> Option<u64> {
        let mut r = 0u64;
        let mut shift = 0u32;
        loop {
            let byte = self.u8()?;
            if shift < 64 {
                r |= u64::from(byte & 0x7f) << shift;
            }
            shift += 7;
            if byte & 0x80 == 0 {
                return Some(r);
            }
            if shift > 70 {
                return None;
            }
        }
    }
    fn fixed(&mut self, n: usize) -> Option<u64> {
        let s = self.b.get(self.p..self.p.checked_add(n)?)?;
        self.p += n;
        let mut w = [0u8; 8];
        w.get_mut(..n)?.copy_from_slice(s);
        Some(u64::from_le_bytes(w))
    }
    /// A value in DW_EH_PE format `enc` (only the forms used for offsets).
    fn encoded(&mut self, enc: u8) -> Option<u64> {
        match enc & 0x0f {
            0x01 => self.uleb(),
            0x02 => self.fixed(2),
            0x03 => self.fixed(4),
            0x04 => self.fixed(8),
            0x0a => self.fixed(2).map(|v| v as u16 as i16 as i64 as u64),
            0x0b => self.fixed(4).map(|v| v as u32 as i32 as i64 as u64),
            0x0c => self.fixed(8),
            0x00 => self.fixed(8),
            _ => None,
        }
    }
}

/// Landing pads of one LSDA (call-site offsets are relative to LPStart, which
/// defaults to the function start).
fn parse_lsda(data: &[u8], elf: &ElfInfo, lsda: u64, func: u64) -> Vec<u64> {
    let mut pads = Vec::new();
    // An LSDA is small; read what the segment holds (bounded).
    let Some(seg) = elf.segment_of(lsda) else {
        return pads;
    };
    let avail = seg.vaddr.saturating_add(seg.filesz).saturating_sub(lsda);
    let len = usize::try_from(avail.min(1 << 20)).unwrap_or(0);
    let Some(b) = elf.bytes_at(data, lsda, len) else {
        return pads;
    };
    let mut r = Rd { b, p: 0 };
    let mut parse = |r: &mut Rd| -> Option<()> {
        let lp_enc = r.u8()?;
        let lpstart = if lp_enc == 0xff {
            func
        } else {
            r.encoded(lp_enc)?
        };
        let tt_enc = r.u8()?;
        if tt_enc != 0xff {
            r.uleb()?;
        }
        let cs_enc = r.u8()?;
        let cs_len = usize::try_from(r.uleb()?).ok()?;
        let end = r.p.checked_add(cs_len)?;
        let mut n = 0;
        while r.p < end && n < MAX_CALL_SITES {
            n += 1;
            let _start = r.encoded(cs_enc)?;
            let _len = r.encoded(cs_enc)?;
            let lp = r.encoded(cs_enc)?;
            let _action = r.uleb()?;
            if lp != 0 {
                pads.push(lpstart.wrapping_add(lp));
            }
        }
        Some(())
    };
    let _ = parse(&mut r);
    pads
}
