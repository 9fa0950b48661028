//! The Go function table (`.gopclntab`): entry addresses, ends and names, for
//! Go 1.2 through 1.22+ header layouts.

use crate::read::{Rd, MAX_STR};
use crate::{Ctx, RelocKind};
use serde::{Deserialize, Serialize};

/// One Go function.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoFunc {
    pub entry: u64,
    pub end: u64,
    pub name: String,
    /// Bytes of arguments (and, for the register ABI, the spill area) the
    /// function owns in its caller's frame; None when the table says unknown.
    #[serde(default)]
    pub args: Option<u32>,
}

/// The decoded `.gopclntab`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoPclntab {
    /// Header magic: 0xfffffffb (Go 1.2-1.15), 0xfffffffa (1.16-1.17),
    /// 0xfffffff0 (1.18-1.19), 0xfffffff1 (1.20+).
    pub magic: u32,
    pub functions: Vec<GoFunc>,
}

/// `_func.args`: a size, or negative (ArgsSizeUnknown) for some assembly.
fn args_size(v: Option<u32>) -> Option<u32> {
    v.filter(|&a| i32::try_from(a).is_ok())
}

const GO12: u32 = 0xffff_fffb;
const GO116: u32 = 0xffff_fffa;
const GO118: u32 = 0xffff_fff0;
const GO120: u32 = 0xffff_fff1;

/// The table as a window of the file: `base` is the file offset of the header,
/// `len` the bytes available, `vaddr` its run-time address.
struct Tab<'a> {
    rd: Rd<'a>,
    base: u64,
    len: u64,
    ptr: u64,
}

impl Tab<'_> {
    fn in_range(&self, off: u64, n: u64) -> bool {
        off.checked_add(n).is_some_and(|e| e <= self.len)
    }
    fn u32(&self, off: u64) -> Option<u32> {
        if !self.in_range(off, 4) {
            return None;
        }
        self.rd.u32(self.base.checked_add(off)?)
    }
    fn word(&self, off: u64) -> Option<u64> {
        if !self.in_range(off, self.ptr) {
            return None;
        }
        let at = self.base.checked_add(off)?;
        if self.ptr == 8 {
            self.rd.u64(at)
        } else {
            self.rd.u32(at).map(u64::from)
        }
    }
    fn name(&self, off: u64) -> String {
        if off >= self.len {
            return String::new();
        }
        let lim = (self.len - off).min(MAX_STR);
        self.base
            .checked_add(off)
            .and_then(|at| self.rd.cstr(at, lim))
            .filter(|b| self.rd.charge(b.len()))
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()
    }
}

/// Decode the table. `text_start_fix` supplies the relocated textStart for PIE
/// (Go 1.18+), given the header's vaddr offset.
fn decode(tab: &Tab<'_>, magic: u32, text_start: impl Fn(u64, u64) -> u64) -> Option<Vec<GoFunc>> {
    let p = tab.ptr;
    let nfunc = tab.word(8)?;
    // Each function needs at least one functab entry: bound nfunc by the table size.
    if nfunc.checked_mul(8)? > tab.len || nfunc > crate::MAX_GO_FUNCS as u64 {
        return None;
    }
    let mut out = Vec::with_capacity(nfunc as usize);
    match magic {
        GO118 | GO120 => {
            let text = text_start(8 + 2 * p, tab.word(8 + 2 * p)?);
            let funcname = tab.word(8 + 3 * p)?;
            let pcln = tab.word(8 + 7 * p)?;
            for i in 0..nfunc {
                let e = pcln.checked_add(i * 8)?;
                let entry = tab.u32(e)?;
                let funcoff = tab.u32(e + 4)?;
                let end = tab.u32(e + 8)?;
                let f = pcln.checked_add(u64::from(funcoff))?;
                let nameoff = tab.u32(f + 4)?;
                let name = tab.name(funcname.checked_add(u64::from(nameoff))?);
                out.push(GoFunc {
                    entry: text.wrapping_add(u64::from(entry)),
                    end: text.wrapping_add(u64::from(end)),
                    name,
                    args: args_size(tab.u32(f + 8)),
                });
            }
        }
        GO116 => {
            let funcname = tab.word(8 + 2 * p)?;
            let pcln = tab.word(8 + 6 * p)?;
            for i in 0..nfunc {
                let e = pcln.checked_add(i * 2 * p)?;
                let entry = tab.word(e)?;
                let funcoff = tab.word(e + p)?;
                let end = tab.word(e + 2 * p)?;
                let f = pcln.checked_add(funcoff)?;
                let nameoff = tab.u32(f + p)?;
                let name = tab.name(funcname.checked_add(u64::from(nameoff))?);
                let args = args_size(tab.u32(f + p + 4));
                out.push(GoFunc {
                    entry,
                    end,
                    name,
                    args,
                });
            }
        }
        GO12 => {
            let ft = 8 + p;
            for i in 0..nfunc {
                let e = ft + i * 2 * p;
                let entry = tab.word(e)?;
                let funcoff = tab.word(e + p)?;
                let end = tab.word(e + 2 * p)?;
                let nameoff = tab.u32(funcoff.checked_add(p)?)?;
                out.push(GoFunc {
                    entry,
                    end,
                    name: tab.name(u64::from(nameoff)),
                    args: args_size(tab.u32(funcoff.checked_add(p + 4)?)),
                });
            }
        }
        _ => return None,
    }
    Some(out)
}

pub(crate) fn read_gopclntab(ctx: &mut Ctx<'_>) {
    let sec = ctx
        .info
        .section(".gopclntab")
        .or_else(|| ctx.info.section(".data.rel.ro.gopclntab"))
        .filter(|s| s.kind != object::elf::SHT_NOBITS)
        .cloned();
    if let Some(sec) = sec {
        let len = sec.size.min(ctx.info.file_size.saturating_sub(sec.offset));
        match try_at(ctx, sec.offset, sec.addr, len) {
            Ok(t) => ctx.info.gopclntab = Some(t),
            Err(why) => ctx.warn(format!(".gopclntab at offset {} {why}", sec.offset)),
        }
        return;
    }
    // Externally linked PIE: the table sits inside .data.rel.ro; the module data's
    // first word (runtime.firstmoduledata.pcHeader) points at it.
    let md = ctx
        .info
        .dynsyms
        .iter()
        .chain(ctx.info.symtab.iter())
        .find(|s| s.name == "runtime.firstmoduledata" && s.defined)
        .map(|s| s.addr);
    if let Some(md) = md {
        let ptr = match ctx.info.relocations.iter().find(|r| r.offset == md) {
            Some(r) if r.kind == RelocKind::Relative => Some(r.addend as u64),
            Some(_) => None,
            None => ctx.v2o(md).and_then(|o| ctx.rd.word(o)),
        };
        if let Some(hdr) = ptr {
            if let Some(off) = ctx.v2o(hdr) {
                if let Ok(t) = try_at(ctx, off, hdr, ctx.avail_from(hdr)) {
                    ctx.info.gopclntab = Some(t);
                    return;
                }
            }
        }
    }
    let go_marked = ctx
        .info
        .sections
        .iter()
        .any(|s| s.name == ".go.buildinfo" || s.name == ".note.go.buildid");
    if !ctx.info.sections.is_empty() && !go_marked {
        return;
    }
    // No section headers (or a Go file without the table's own section): look for
    // the header in the non-executable segments.
    let segs: Vec<_> = ctx
        .info
        .segments
        .iter()
        .filter(|s| !s.exec)
        .cloned()
        .collect();
    for seg in segs {
        let Some(bytes) = ctx.rd.bytes(seg.offset, seg.filesz) else {
            continue;
        };
        for magic in [GO120, GO118, GO116, GO12] {
            let mut pat = if ctx.rd.le {
                magic.to_le_bytes().to_vec()
            } else {
                magic.to_be_bytes().to_vec()
            };
            pat.extend_from_slice(&[0, 0]);
            for (n, pos) in memchr::memmem::find_iter(bytes, &pat).enumerate() {
                // Each failed candidate may cost a walk of its table: keep them few.
                if n >= 4 {
                    break;
                }
                let off = seg.offset.saturating_add(pos as u64);
                let addr = seg.vaddr.wrapping_add(pos as u64);
                let len = seg.filesz.saturating_sub(pos as u64);
                if let Ok(t) = try_at(ctx, off, addr, len) {
                    if !t.functions.is_empty() {
                        ctx.info.gopclntab = Some(t);
                        return;
                    }
                }
            }
        }
    }
}

/// Decode a table whose header is at file offset `off` (run-time address `addr`).
fn try_at(ctx: &Ctx<'_>, off: u64, addr: u64, len: u64) -> Result<GoPclntab, String> {
    let rd = ctx.rd;
    let (Some(magic), Some(minlc), Some(ptr)) = (
        rd.u32(off),
        rd.u8(off.saturating_add(6)),
        rd.u8(off.saturating_add(7)),
    ) else {
        return Err("is truncated".into());
    };
    if !matches!(magic, GO12 | GO116 | GO118 | GO120)
        || !matches!(minlc, 1 | 2 | 4)
        || !matches!(ptr, 4 | 8)
    {
        return Err(format!("has unknown header {magic:#x}"));
    }
    let tab = Tab {
        rd,
        base: off,
        len,
        ptr: u64::from(ptr),
    };
    let relocs = &ctx.info.relocations;
    let text_sec = ctx.info.section(".text").map(|s| s.addr);
    let text_start = |field_off: u64, raw: u64| -> u64 {
        let at = addr.wrapping_add(field_off);
        if let Some(r) = relocs
            .iter()
            .find(|r| r.offset == at && r.kind == RelocKind::Relative)
        {
            return r.addend as u64;
        }
        if raw == 0 {
            return text_sec.unwrap_or(0);
        }
        raw
    };
    match decode(&tab, magic, text_start) {
        Some(functions) => Ok(GoPclntab { magic, functions }),
        None => Err(format!("is malformed (magic {magic:#x})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tab(bytes: &[u8]) -> Tab<'_> {
        Tab {
            rd: Rd {
                data: bytes,
                le: true,
                is64: true,
                budget: Box::leak(Box::new(std::cell::Cell::new(1 << 20))),
            },
            base: 0,
            len: bytes.len() as u64,
            ptr: 8,
        }
    }

    fn put(b: &mut Vec<u8>, at: usize, v: &[u8]) {
        if b.len() < at + v.len() {
            b.resize(at + v.len(), 0);
        }
        b[at..at + v.len()].copy_from_slice(v);
    }

    #[test]
    fn go12_layout() {
        // header(8) nfunc(8) functab{pc,funcoff}x2 endpc | _func{entry,nameoff} names
        let mut b = Vec::new();
        put(&mut b, 0, &GO12.to_le_bytes());
        put(&mut b, 6, &[1, 8]);
        put(&mut b, 8, &2u64.to_le_bytes());
        put(&mut b, 16, &0x1000u64.to_le_bytes());
        put(&mut b, 24, &64u64.to_le_bytes());
        put(&mut b, 32, &0x1040u64.to_le_bytes());
        put(&mut b, 40, &80u64.to_le_bytes());
        put(&mut b, 48, &0x1100u64.to_le_bytes());
        put(&mut b, 64 + 8, &96u32.to_le_bytes());
        put(&mut b, 64 + 12, &24u32.to_le_bytes());
        put(&mut b, 80 + 8, &106u32.to_le_bytes());
        put(&mut b, 80 + 12, &0x8000_0000u32.to_le_bytes()); // ArgsSizeUnknown
        put(&mut b, 96, b"main.main\0main.f\0");
        let f = decode(&tab(&b), GO12, |_, r| r).unwrap();
        assert_eq!(
            f,
            vec![
                GoFunc {
                    entry: 0x1000,
                    end: 0x1040,
                    name: "main.main".into(),
                    args: Some(24),
                },
                GoFunc {
                    entry: 0x1040,
                    end: 0x1100,
                    name: "main.f".into(),
                    args: None,
                },
            ]
        );
        // nfunc larger than the table: rejected, no allocation of that size.
        put(&mut b, 8, &u64::MAX.to_le_bytes());
        assert!(decode(&tab(&b), GO12, |_, r| r).is_none());
    }

    #[test]
    fn go116_layout() {
        // header: magic pad minLC ptr | nfunc nfiles funcnameOff cuOff filetabOff pctabOff pclnOff
        let mut b = Vec::new();
        put(&mut b, 0, &GO116.to_le_bytes());
        put(&mut b, 6, &[1, 8]);
        put(&mut b, 8, &1u64.to_le_bytes());
        put(&mut b, 24, &200u64.to_le_bytes()); // funcnametab
        put(&mut b, 56, &100u64.to_le_bytes()); // pcln
                                                // functab at 100: {entry, funcoff} then end entry
        put(&mut b, 100, &0x2000u64.to_le_bytes());
        put(&mut b, 108, &40u64.to_le_bytes());
        put(&mut b, 116, &0x2080u64.to_le_bytes());
        // _func at 140: entry, nameoff
        put(&mut b, 140, &0x2000u64.to_le_bytes());
        put(&mut b, 148, &5u32.to_le_bytes());
        put(&mut b, 152, &16u32.to_le_bytes());
        put(&mut b, 200, b"junk\0runtime.main\0");
        let f = decode(&tab(&b), GO116, |_, r| r).unwrap();
        assert_eq!(
            f,
            vec![GoFunc {
                entry: 0x2000,
                end: 0x2080,
                name: "runtime.main".into(),
                args: Some(16),
            }]
        );
        // Truncated table: None, never a panic.
        assert!(decode(&tab(&b[..130]), GO116, |_, r| r).is_none());
    }
}
