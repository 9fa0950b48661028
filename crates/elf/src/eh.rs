//! `.eh_frame` FDE address ranges via gimli; found by section name or, without
//! section headers, through PT_GNU_EH_FRAME's `eh_frame_ptr`.

use crate::{Ctx, MAX_FDES};
use gimli::{BaseAddresses, EhFrame, EhFrameHdr, Pointer, RunTimeEndian, UnwindSection};
use std::collections::HashMap;

pub(crate) fn read_eh_frame(ctx: &mut Ctx<'_>) {
    let endian = if ctx.rd.le {
        RunTimeEndian::Little
    } else {
        RunTimeEndian::Big
    };
    let asize: u8 = if ctx.rd.is64 { 8 } else { 4 };
    let sec_addr = |n: &str| ctx.info.section(n).map(|s| s.addr);
    let text = sec_addr(".text").unwrap_or(0);
    let got = sec_addr(".got").unwrap_or(0);
    let hdr_addr = sec_addr(".eh_frame_hdr").or(ctx.raw.eh_frame_hdr.map(|h| h.0));

    // Locate .eh_frame: (vaddr, bytes).
    let located = match ctx
        .info
        .section(".eh_frame")
        .filter(|s| s.kind != object::elf::SHT_NOBITS)
    {
        Some(s) => match ctx.rd.bytes(s.offset, s.size) {
            Some(b) => Some((s.addr, b)),
            None => {
                let msg = format!(".eh_frame at offset {} lies outside the file", s.offset);
                ctx.warn(msg);
                None
            }
        },
        None => (|| {
            let (ha, hsz) = ctx.raw.eh_frame_hdr?;
            let ho = ctx.v2o(ha)?;
            let hb = ctx.rd.bytes(ho, hsz.min(ctx.avail_from(ha)))?;
            let bases = BaseAddresses::default().set_eh_frame_hdr(ha).set_text(text);
            let parsed = EhFrameHdr::new(hb, endian).parse(&bases, asize).ok()?;
            let ptr = match parsed.eh_frame_ptr() {
                Pointer::Direct(a) => a,
                Pointer::Indirect(_) => return None,
            };
            let o = ctx.v2o(ptr)?;
            let b = ctx.rd.bytes(o, ctx.avail_from(ptr))?;
            Some((ptr, b))
        })(),
    };
    let Some((addr, bytes)) = located else {
        return;
    };

    let mut eh = EhFrame::new(bytes, endian);
    eh.set_address_size(asize);
    let mut bases = BaseAddresses::default()
        .set_eh_frame(addr)
        .set_text(text)
        .set_got(got);
    if let Some(h) = hdr_addr {
        bases = bases.set_eh_frame_hdr(h);
    }
    let mut cies = HashMap::new();
    let mut fdes = Vec::new();
    let mut errors = 0usize;
    // Walk the entries by their length fields ourselves, so one malformed entry is
    // skipped instead of ending the walk (gimli's iterator stops at the first error).
    let le = ctx.rd.le;
    let rd32 = |at: usize| -> Option<u32> {
        let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    };
    let mut off = 0usize;
    while let Some(len32) = rd32(off) {
        let (hdr, len) = if len32 == u32::MAX {
            let (Some(lo), Some(hi)) = (rd32(off + 4), rd32(off + 8)) else {
                errors += 1;
                break;
            };
            let v = if le {
                (u64::from(hi) << 32) | u64::from(lo)
            } else {
                (u64::from(lo) << 32) | u64::from(hi)
            };
            (12usize, v)
        } else {
            (4usize, u64::from(len32))
        };
        if len == 0 {
            break; // terminator
        }
        let Some(next) = usize::try_from(len)
            .ok()
            .and_then(|l| off.checked_add(hdr)?.checked_add(l))
        else {
            errors += 1;
            break;
        };
        if next > bytes.len() {
            errors += 1;
            let msg = format!(
                ".eh_frame entry at address {:#x} runs past the section",
                addr.wrapping_add(off as u64)
            );
            ctx.warn(msg);
            break;
        }
        let id = rd32(off + hdr).unwrap_or(0);
        if id != 0 {
            let r = eh.fde_from_offset(&bases, gimli::EhFrameOffset(off), |sec, b, o| {
                if let Some(c) = cies.get(&o.0) {
                    return Ok(Clone::clone(c));
                }
                let c = sec.cie_from_offset(b, o)?;
                cies.insert(o.0, c.clone());
                Ok(c)
            });
            match r {
                Ok(fde) => {
                    // Signal-frame FDEs ('S' augmentation, glibc's
                    // `__restore_rt`) start one byte before the trampoline so
                    // that the unwinder's pc-1 lookup hits them: the code
                    // itself starts one byte later.
                    let start = fde
                        .initial_address()
                        .wrapping_add(u64::from(fde.cie().is_signal_trampoline()));
                    fdes.push((start, start.wrapping_add(fde.len())));
                    if fdes.len() >= MAX_FDES {
                        ctx.warn(format!("fde count capped at {MAX_FDES}"));
                        break;
                    }
                }
                Err(_) => errors += 1,
            }
        }
        off = next;
    }
    fdes.sort_unstable();
    ctx.info.fdes = fdes;
    ctx.info.eh_frame_errors = errors;
}
