//! Dynamic relocations (RELA, REL, JMPREL and packed RELR), GOT imports, and the
//! run-time contents of the init/fini/preinit arrays.

use crate::dynamic::*;
use crate::{Ctx, Machine, Reloc, RelocKind, SymBind, SymRef, Symbol};
use object::elf;
use std::collections::HashMap;

/// Which symbol table a relocation table indexes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SymSrc {
    Dyn,
    Static,
}

/// Normalize a relocation type for the file's machine.
pub(crate) fn reloc_kind(machine: Machine, r_type: u32) -> RelocKind {
    match machine {
        Machine::X86_64 => match r_type {
            elf::R_X86_64_RELATIVE => RelocKind::Relative,
            elf::R_X86_64_IRELATIVE => RelocKind::Irelative,
            elf::R_X86_64_GLOB_DAT => RelocKind::GlobDat,
            elf::R_X86_64_JUMP_SLOT => RelocKind::JumpSlot,
            elf::R_X86_64_64 => RelocKind::Abs64,
            elf::R_X86_64_32 => RelocKind::Abs32,
            elf::R_X86_64_COPY => RelocKind::Copy,
            elf::R_X86_64_TPOFF64 => RelocKind::Tpoff64,
            elf::R_X86_64_TPOFF32 => RelocKind::Tpoff32,
            elf::R_X86_64_DTPMOD64 => RelocKind::Dtpmod64,
            elf::R_X86_64_DTPOFF64 => RelocKind::Dtpoff64,
            elf::R_X86_64_TLSDESC => RelocKind::Tlsdesc,
            t => RelocKind::Other(t),
        },
        Machine::Aarch64 => match r_type {
            elf::R_AARCH64_RELATIVE => RelocKind::Relative,
            elf::R_AARCH64_IRELATIVE => RelocKind::Irelative,
            elf::R_AARCH64_GLOB_DAT => RelocKind::GlobDat,
            elf::R_AARCH64_JUMP_SLOT => RelocKind::JumpSlot,
            elf::R_AARCH64_ABS64 => RelocKind::Abs64,
            elf::R_AARCH64_ABS32 => RelocKind::Abs32,
            elf::R_AARCH64_COPY => RelocKind::Copy,
            elf::R_AARCH64_TLS_TPREL => RelocKind::Tpoff64,
            elf::R_AARCH64_TLS_DTPMOD => RelocKind::Dtpmod64,
            elf::R_AARCH64_TLS_DTPREL => RelocKind::Dtpoff64,
            elf::R_AARCH64_TLSDESC => RelocKind::Tlsdesc,
            t => RelocKind::Other(t),
        },
        Machine::Other(object::elf::EM_386) => match r_type {
            elf::R_386_RELATIVE => RelocKind::Relative,
            elf::R_386_IRELATIVE => RelocKind::Irelative,
            elf::R_386_GLOB_DAT => RelocKind::GlobDat,
            elf::R_386_JMP_SLOT => RelocKind::JumpSlot,
            elf::R_386_32 => RelocKind::Abs32,
            elf::R_386_COPY => RelocKind::Copy,
            elf::R_386_TLS_TPOFF => RelocKind::Tpoff32,
            elf::R_386_TLS_DTPMOD32 => RelocKind::Dtpmod64,
            elf::R_386_TLS_DTPOFF32 => RelocKind::Dtpoff64,
            t => RelocKind::Other(t),
        },
        Machine::Other(_) => RelocKind::Other(r_type),
    }
}

fn sym_ref(rd: &crate::read::Rd<'_>, table: &[Symbol], index: u32) -> Option<SymRef> {
    let s = table.get(index as usize)?;
    if !rd.charge(s.name.len() + s.version.as_ref().map_or(0, String::len)) {
        return None;
    }
    Some(SymRef {
        name: s.name.clone(),
        version: s.version.clone(),
        index,
        defined: s.defined,
        weak: s.bind == SymBind::Weak,
    })
}

/// Relocations decoded from one table, appended to `ctx.info.relocations`.
/// Returns the index range they occupy.
fn read_table(
    ctx: &mut Ctx<'_>,
    offset: u64,
    size: u64,
    entsize: u64,
    rela: bool,
    src: SymSrc,
) -> std::ops::Range<usize> {
    let rd = ctx.rd;
    let start = ctx.info.relocations.len();
    let min = match (rd.is64, rela) {
        (true, true) => 24,
        (true, false) => 16,
        (false, true) => 12,
        (false, false) => 8,
    };
    let entsize = if entsize < min { min } else { entsize };
    let size = size.min(ctx.info.file_size.saturating_sub(offset));
    let room = crate::MAX_RELOCS.saturating_sub(start) as u64;
    let count = (size / entsize).min(room);
    let mut bad_sym = 0usize;
    for i in 0..count {
        let Some(at) = offset.checked_add(i * entsize) else {
            break;
        };
        let parsed = if rd.is64 {
            rd.u64(at)
                .zip(rd.u64(at + 8))
                .map(|(o, info)| (o, (info >> 32) as u32, info as u32, rd.u64(at + 16)))
        } else {
            rd.u32(at).zip(rd.u32(at + 4)).map(|(o, info)| {
                (
                    u64::from(o),
                    info >> 8,
                    info & 0xff,
                    rd.u32(at + 8).map(|a| i64::from(a as i32) as u64),
                )
            })
        };
        let Some((r_offset, r_sym, r_type, explicit)) = parsed else {
            break;
        };
        let addend = if rela {
            explicit.unwrap_or(0) as i64
        } else {
            ctx.v2o(r_offset).and_then(|o| rd.sword(o)).unwrap_or(0)
        };
        let sym = if r_sym == 0 {
            None
        } else {
            let table = match src {
                SymSrc::Dyn => &ctx.info.dynsyms,
                SymSrc::Static => &ctx.info.symtab,
            };
            let r = sym_ref(&rd, table, r_sym);
            if r.is_none() {
                bad_sym += 1;
            }
            r
        };
        ctx.info.relocations.push(Reloc {
            offset: r_offset,
            kind: reloc_kind(ctx.info.machine, r_type),
            sym,
            addend,
        });
    }
    if bad_sym > 0 {
        ctx.warn(format!(
            "{bad_sym} relocations at offset {offset} name symbols outside the symbol table"
        ));
    }
    start..ctx.info.relocations.len()
}

/// Decode a packed RELR table into `Relative` relocations.
fn read_relr(ctx: &mut Ctx<'_>, offset: u64, size: u64) {
    let rd = ctx.rd;
    let w = rd.word_size();
    let size = size.min(ctx.info.file_size.saturating_sub(offset));
    // Every decoded address must hold a word in the file, so this bounds real tables.
    let cap = ((ctx.info.file_size / w) as usize)
        .min(crate::MAX_RELOCS.saturating_sub(ctx.info.relocations.len()));
    let mut emitted = 0usize;
    let mut next: u64 = 0;
    let bits = w * 8 - 1;
    let mut capped = false;
    let mut emit = |ctx: &mut Ctx<'_>, addr: u64| -> bool {
        if emitted >= cap {
            capped = true;
            return false;
        }
        emitted += 1;
        let addend = ctx.v2o(addr).and_then(|o| rd.sword(o)).unwrap_or(0);
        ctx.info.relocations.push(Reloc {
            offset: addr,
            kind: RelocKind::Relative,
            sym: None,
            addend,
        });
        true
    };
    'outer: for i in 0..size / w {
        let Some(entry) = rd.word(offset + i * w) else {
            break;
        };
        if entry & 1 == 0 {
            if !emit(ctx, entry) {
                break;
            }
            next = entry.wrapping_add(w);
        } else {
            let mut b = entry >> 1;
            let mut k = 0u64;
            while b != 0 {
                if b & 1 != 0 && !emit(ctx, next.wrapping_add(k * w)) {
                    break 'outer;
                }
                b >>= 1;
                k += 1;
            }
            next = next.wrapping_add(bits * w);
        }
    }
    ctx.info.relr_count += emitted;
    if capped {
        ctx.warn(format!(
            "relr table at offset {offset} capped at {cap} entries"
        ));
    }
}

pub(crate) fn read_relocations(ctx: &mut Ctx<'_>) {
    let d = ctx.dyn_.clone();
    let is64 = ctx.rd.is64;
    let loc = |ctx: &Ctx<'_>, addr: Option<u64>, sz: Option<u64>| -> Option<(u64, u64)> {
        let a = addr?;
        let o = ctx.v2o(a)?;
        Some((o, sz.unwrap_or(0).min(ctx.avail_from(a))))
    };
    let rela = loc(ctx, d.get(DT_RELA), d.get(DT_RELASZ));
    let rel = loc(ctx, d.get(DT_REL), d.get(DT_RELSZ));
    let jmp = loc(ctx, d.get(DT_JMPREL), d.get(DT_PLTRELSZ));
    let relr = loc(ctx, d.get(DT_RELR), d.get(DT_RELRSZ));
    let any_dyn = rela.is_some() || rel.is_some() || jmp.is_some() || relr.is_some();
    let missing = [DT_RELA, DT_REL, DT_JMPREL, DT_RELR]
        .iter()
        .filter(|&&t| d.get(t).is_some())
        .count()
        - [rela, rel, jmp, relr]
            .iter()
            .filter(|l| l.is_some())
            .count();
    if missing > 0 {
        ctx.warn(format!(
            "{missing} dynamic relocation tables point outside the file"
        ));
    }
    if any_dyn {
        let within = |inner: (u64, u64), outer: Option<(u64, u64)>| {
            outer.is_some_and(|o| {
                inner.0 >= o.0 && inner.0.saturating_add(inner.1) <= o.0.saturating_add(o.1)
            })
        };
        if let Some((o, s)) = rela {
            let ent = d.get(DT_RELAENT).unwrap_or(0);
            read_table(ctx, o, s, ent, true, SymSrc::Dyn);
        }
        if let Some((o, s)) = rel {
            let ent = d.get(DT_RELENT).unwrap_or(0);
            read_table(ctx, o, s, ent, false, SymSrc::Dyn);
        }
        if let Some(j) = jmp {
            let is_rela = d.get(DT_PLTREL) != Some(DT_REL);
            let dup = if is_rela {
                within(j, rela)
            } else {
                within(j, rel)
            };
            if dup {
                // JMPREL inside RELA/REL: find the already-read slice.
                let (outer, ent) = if is_rela {
                    (
                        rela,
                        d.get(DT_RELAENT).unwrap_or(if is64 { 24 } else { 12 }),
                    )
                } else {
                    (rel, d.get(DT_RELENT).unwrap_or(if is64 { 16 } else { 8 }))
                };
                if let (Some(outer), true) = (outer, ent > 0) {
                    let first = ((j.0 - outer.0) / ent) as usize;
                    let n = (j.1 / ent) as usize;
                    ctx.jmprel = first..first.saturating_add(n).min(ctx.info.relocations.len());
                }
            } else {
                ctx.jmprel = read_table(ctx, j.0, j.1, 0, is_rela, SymSrc::Dyn);
            }
        }
        if let Some((o, s)) = relr {
            read_relr(ctx, o, s);
        }
    } else {
        // Static files: allocated relocation sections (e.g. IRELATIVE in .rela.plt).
        let secs: Vec<_> = ctx
            .info
            .sections
            .iter()
            .filter(|s| s.alloc && matches!(s.kind, elf::SHT_RELA | elf::SHT_REL | elf::SHT_RELR))
            .cloned()
            .collect();
        for s in secs {
            if s.kind == elf::SHT_RELR {
                read_relr(ctx, s.offset, s.size);
                continue;
            }
            let src = match ctx.info.sections.get(s.link as usize).map(|l| l.kind) {
                Some(elf::SHT_SYMTAB) => SymSrc::Static,
                _ => SymSrc::Dyn,
            };
            let r = read_table(
                ctx,
                s.offset,
                s.size,
                s.entsize,
                s.kind == elf::SHT_RELA,
                src,
            );
            if s.name.ends_with(".plt") {
                ctx.jmprel = r;
            }
        }
    }

    let rd = ctx.rd;
    let mut got: Vec<(u64, String)> = ctx
        .info
        .relocations
        .iter()
        .filter(|r| {
            matches!(
                r.kind,
                RelocKind::GlobDat | RelocKind::JumpSlot | RelocKind::Abs64
            )
        })
        .filter_map(|r| {
            let s = r.sym.as_ref()?;
            (!s.name.is_empty() && rd.charge(s.name.len())).then(|| (r.offset, s.name.clone()))
        })
        .collect();
    got.sort();
    got.dedup();
    ctx.info.got_imports = got;
}

/// Run-time value of one array slot: the relocation that patches it, else the raw word.
fn slot_value(ctx: &Ctx<'_>, by_off: &HashMap<u64, usize>, slot: u64) -> Option<u64> {
    if let Some(r) = by_off.get(&slot).and_then(|&i| ctx.info.relocations.get(i)) {
        return match r.kind {
            RelocKind::Relative | RelocKind::Irelative => Some(r.addend as u64),
            _ => {
                let s = r.sym.as_ref()?;
                if !s.defined {
                    return None;
                }
                let sym = ctx.info.dynsyms.get(s.index as usize)?;
                Some(sym.addr.wrapping_add(r.addend as u64))
            }
        };
    }
    let o = ctx.v2o(slot)?;
    ctx.rd.word(o)
}

pub(crate) fn read_arrays(ctx: &mut Ctx<'_>) {
    let mut by_off = HashMap::new();
    for (i, r) in ctx.info.relocations.iter().enumerate() {
        by_off.entry(r.offset).or_insert(i);
    }
    let w = ctx.rd.word_size();
    let ones = if ctx.rd.is64 {
        u64::MAX
    } else {
        u64::from(u32::MAX)
    };
    let have_dyn = !ctx.dyn_.entries.is_empty();
    let mut arrays: [Vec<u64>; 3] = Default::default();
    for (k, (tag, sz, stype)) in [
        (DT_INIT_ARRAY, DT_INIT_ARRAYSZ, elf::SHT_INIT_ARRAY),
        (DT_FINI_ARRAY, DT_FINI_ARRAYSZ, elf::SHT_FINI_ARRAY),
        (DT_PREINIT_ARRAY, DT_PREINIT_ARRAYSZ, elf::SHT_PREINIT_ARRAY),
    ]
    .into_iter()
    .enumerate()
    {
        let loc = if have_dyn {
            ctx.dyn_
                .get(tag)
                .map(|a| (a, ctx.dyn_.get(sz).unwrap_or(0)))
        } else {
            ctx.section_by_type(stype).map(|s| (s.addr, s.size))
        };
        let Some((addr, size)) = loc else { continue };
        let size = size.min(ctx.avail_from(addr));
        let mut out = Vec::new();
        for i in 0..size / w {
            let slot = addr.wrapping_add(i * w);
            if let Some(v) = slot_value(ctx, &by_off, slot) {
                if v != 0 && v != ones {
                    out.push(v);
                }
            }
        }
        if let Some(a) = arrays.get_mut(k) {
            *a = out;
        }
    }
    let [init, fini, preinit] = arrays;
    ctx.info.init_array = init;
    ctx.info.fini_array = fini;
    ctx.info.preinit_array = preinit;
    if !have_dyn {
        ctx.info.init = ctx.info.section(".init").map(|s| s.addr);
        ctx.info.fini = ctx.info.section(".fini").map(|s| s.addr);
    }
}

#[cfg(test)]
pub(crate) fn read_relr_for_test(ctx: &mut Ctx<'_>, offset: u64, size: u64) {
    read_relr(ctx, offset, size)
}
