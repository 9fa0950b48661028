//! PLT stubs (`.plt`, `.plt.sec`, `.plt.got`) mapped to the GOT slot they jump
//! through and the symbol relocated into it (x86-64 stub encodings).

use crate::{Ctx, Machine, PltEntry, RelocKind};
use std::collections::HashMap;

const ENDBR64: [u8; 4] = [0xf3, 0x0f, 0x1e, 0xfa];

/// What one stub does first.
enum Stub {
    /// `jmp *disp32(%rip)` (optionally after `endbr64` and a `bnd` prefix): GOT slot.
    Jmp(u64),
    /// `push $index` (lazy `.plt` entry with IBT): index into the JMPREL table.
    Push(u32),
}

fn decode(b: &[u8], addr: u64) -> Option<Stub> {
    let mut p = 0usize;
    if b.get(..4) == Some(&ENDBR64[..]) {
        p = 4;
    }
    if b.get(p) == Some(&0xf2) {
        p += 1;
    }
    match (b.get(p), b.get(p + 1)) {
        (Some(0xff), Some(0x25)) => {
            let d: [u8; 4] = b.get(p + 2..p + 6)?.try_into().ok()?;
            let disp = i64::from(i32::from_le_bytes(d));
            let next = addr.wrapping_add(p as u64 + 6);
            Some(Stub::Jmp(next.wrapping_add(disp as u64)))
        }
        (Some(0x68), _) if p == 4 => {
            let d: [u8; 4] = b.get(p + 1..p + 5)?.try_into().ok()?;
            Some(Stub::Push(u32::from_le_bytes(d)))
        }
        _ => None,
    }
}

pub(crate) fn read_plt(ctx: &mut Ctx<'_>) {
    if ctx.info.machine != Machine::X86_64 {
        return;
    }
    let mut by_slot: HashMap<u64, usize> = HashMap::new();
    for (i, r) in ctx.info.relocations.iter().enumerate() {
        if matches!(
            r.kind,
            RelocKind::JumpSlot | RelocKind::GlobDat | RelocKind::Irelative | RelocKind::Abs64
        ) {
            by_slot.entry(r.offset).or_insert(i);
        }
    }
    let secs: Vec<_> = ctx
        .info
        .sections
        .iter()
        .filter(|s| matches!(s.name.as_str(), ".plt" | ".plt.sec" | ".plt.got") && s.exec)
        .cloned()
        .collect();
    let any_section = !secs.is_empty();
    let mut out = Vec::new();
    for s in secs {
        let Some(bytes) = ctx.rd.bytes(s.offset, s.size) else {
            ctx.warn(format!(
                "section {} at offset {} lies outside the file",
                s.name, s.offset
            ));
            continue;
        };
        let step = if s.entsize == 8 || s.entsize == 16 {
            s.entsize as usize
        } else {
            8
        };
        let mut pos = 0usize;
        while pos < bytes.len() {
            let addr = s.addr.wrapping_add(pos as u64);
            let stub = bytes.get(pos..).and_then(|b| decode(b, addr));
            let reloc = match stub {
                Some(Stub::Jmp(slot)) => by_slot.get(&slot).map(|&i| (slot, i)),
                Some(Stub::Push(idx)) => ctx
                    .jmprel
                    .start
                    .checked_add(idx as usize)
                    .filter(|&i| i < ctx.jmprel.end)
                    .and_then(|i| ctx.info.relocations.get(i).map(|r| (r.offset, i))),
                None => None,
            };
            if let Some((got, i)) = reloc {
                if let Some(r) = ctx.info.relocations.get(i) {
                    let irelative = (r.kind == RelocKind::Irelative).then_some(r.addend as u64);
                    let charged = r
                        .sym
                        .as_ref()
                        .map(|s| ctx.rd.charge(s.name.len()))
                        .unwrap_or(true);
                    if (r.sym.is_some() || irelative.is_some()) && charged {
                        out.push(PltEntry {
                            addr,
                            size: step as u64,
                            got,
                            sym: r.sym.clone(),
                            irelative,
                        });
                    }
                }
            }
            pos += step;
        }
    }
    if !any_section && !by_slot.is_empty() {
        scan_segments(ctx, &by_slot, &mut out);
    }
    out.sort_by_key(|p| p.addr);
    out.dedup_by_key(|p| p.addr);
    ctx.info.plt = out;
}

/// Without section headers: look for stubs at every 8-byte-aligned address of the
/// executable segments whose `jmp *slot(%rip)` lands on a relocated GOT slot.
fn scan_segments(ctx: &Ctx<'_>, by_slot: &HashMap<u64, usize>, out: &mut Vec<PltEntry>) {
    for seg in ctx.info.segments.iter().filter(|s| s.exec) {
        let Some(bytes) = ctx.rd.bytes(seg.offset, seg.filesz) else {
            continue;
        };
        let first = (8 - (seg.vaddr % 8)) % 8;
        let mut pos = first as usize;
        while pos < bytes.len() {
            let addr = seg.vaddr.wrapping_add(pos as u64);
            let b = bytes.get(pos..).unwrap_or_default();
            if let Some(Stub::Jmp(slot)) = decode(b, addr) {
                if let Some(r) = by_slot
                    .get(&slot)
                    .and_then(|&i| ctx.info.relocations.get(i))
                {
                    let irelative = (r.kind == RelocKind::Irelative).then_some(r.addend as u64);
                    let lazy = b.get(6) == Some(&0x68) && addr % 16 == 0;
                    let size = if b.get(..4) == Some(&ENDBR64[..]) || lazy {
                        16
                    } else {
                        8
                    };
                    let charged = r
                        .sym
                        .as_ref()
                        .map(|s| ctx.rd.charge(s.name.len()))
                        .unwrap_or(true);
                    if (r.sym.is_some() || irelative.is_some()) && charged {
                        out.push(PltEntry {
                            addr,
                            size,
                            got: slot,
                            sym: r.sym.clone(),
                            irelative,
                        });
                    }
                }
            }
            pos += 8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jmp(b: &[u8], addr: u64) -> Option<u64> {
        match decode(b, addr) {
            Some(Stub::Jmp(s)) => Some(s),
            _ => None,
        }
    }

    #[test]
    fn stub_encodings() {
        // Lazy .plt: jmp *0x2fe2(%rip); push $3; jmp PLT0.
        let lazy = [
            0xff, 0x25, 0xe2, 0x2f, 0, 0, 0x68, 3, 0, 0, 0, 0xe9, 0, 0, 0, 0,
        ];
        assert_eq!(jmp(&lazy, 0x1000), Some(0x1000 + 6 + 0x2fe2));
        // .plt.got: jmp *disp(%rip); xchg %ax,%ax, negative displacement.
        let got = [0xff, 0x25, 0xf0, 0xff, 0xff, 0xff, 0x66, 0x90];
        assert_eq!(jmp(&got, 0x2000), Some(0x2000 + 6 - 0x10));
        // .plt.sec with IBT: endbr64; bnd jmp *0x3ead(%rip); nopl.
        let sec = [
            0xf3, 0x0f, 0x1e, 0xfa, 0xf2, 0xff, 0x25, 0xad, 0x3e, 0, 0, 0x0f, 0x1f, 0x44, 0, 0,
        ];
        assert_eq!(jmp(&sec, 0x1160), Some(0x5018));
        // bnd jmp without endbr64 (MPX-era .plt).
        assert_eq!(
            jmp(&[0xf2, 0xff, 0x25, 1, 0, 0, 0], 0x10),
            Some(0x10 + 7 + 1)
        );
        // IBT lazy .plt: endbr64; push $7; bnd jmp PLT0.
        let ibt = [
            0xf3, 0x0f, 0x1e, 0xfa, 0x68, 7, 0, 0, 0, 0xf2, 0xe9, 0, 0, 0, 0, 0x90,
        ];
        assert!(matches!(decode(&ibt, 0), Some(Stub::Push(7))));
        // PLT0 (push GOT+8; jmp *GOT+16) and truncated stubs decode to nothing.
        assert!(decode(&[0xff, 0x35, 0, 0, 0, 0, 0xff, 0x25], 0).is_none());
        assert!(decode(&[0xff, 0x25, 1, 2], 0).is_none());
        assert!(decode(&[0xf3, 0x0f, 0x1e, 0xfa, 0x68, 1], 0).is_none());
        assert!(decode(&[], 0).is_none());
        // Displacement wraps instead of overflowing at the top of the address space.
        assert!(jmp(&got, u64::MAX - 2).is_some());
    }
}
