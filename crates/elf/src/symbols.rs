//! Symbol tables: `.dynsym` with GNU symbol versions (versym, verdef, verneed),
//! located by section headers or by the dynamic table, and `.symtab` when present.

use crate::dynamic::*;
use crate::read::{Rd, StrTab};
use crate::{Ctx, SymBind, SymKind, Symbol, VersionNeed};
use object::elf;
use std::collections::HashMap;

/// Version records walked at most (verdef + verneed entries and their aux lists).
const MAX_VERSION_RECORDS: usize = 65_536;

/// A table located in the file.
#[derive(Clone, Copy, Debug)]
struct Loc {
    offset: u64,
    size: u64,
}

fn sym_entsize(rd: &Rd<'_>) -> u64 {
    if rd.is64 {
        24
    } else {
        16
    }
}

/// Read `count` symbols at `loc`, capped by the bytes present.
fn read_syms(rd: &Rd<'_>, loc: Loc, entsize: u64, strtab: Option<StrTab>) -> Vec<Symbol> {
    let min = sym_entsize(rd);
    let entsize = if entsize < min { min } else { entsize };
    let avail = rd.data.len() as u64;
    let size = loc.size.min(avail.saturating_sub(loc.offset));
    let count = (size / entsize).min(crate::MAX_SYMBOLS as u64);
    let mut out = Vec::with_capacity(count.min(1 << 20) as usize);
    for i in 0..count {
        let Some(at) = loc.offset.checked_add(i * entsize) else {
            break;
        };
        let parsed = if rd.is64 {
            (|| {
                Some((
                    rd.u32(at)?,
                    rd.u8(at + 4)?,
                    rd.u16(at.saturating_add(6))?,
                    rd.u64(at + 8)?,
                    rd.u64(at + 16)?,
                ))
            })()
        } else {
            (|| {
                Some((
                    rd.u32(at)?,
                    rd.u8(at + 12)?,
                    rd.u16(at.saturating_add(14))?,
                    u64::from(rd.u32(at.saturating_add(4))?),
                    u64::from(rd.u32(at.saturating_add(8))?),
                ))
            })()
        };
        let Some((name, info, shndx, value, size)) = parsed else {
            break;
        };
        let name = strtab
            .and_then(|t| t.get(rd, u64::from(name)))
            .unwrap_or_default();
        out.push(Symbol {
            name,
            version: None,
            version_hidden: false,
            version_index: 1,
            addr: value,
            size,
            kind: match info & 0xf {
                elf::STT_FUNC => SymKind::Func,
                elf::STT_GNU_IFUNC => SymKind::IFunc,
                elf::STT_OBJECT | elf::STT_COMMON => SymKind::Object,
                elf::STT_TLS => SymKind::Tls,
                _ => SymKind::Other,
            },
            bind: match info >> 4 {
                elf::STB_GLOBAL => SymBind::Global,
                elf::STB_WEAK => SymBind::Weak,
                elf::STB_GNU_UNIQUE => SymBind::Unique,
                _ => SymBind::Local,
            },
            defined: shndx != elf::SHN_UNDEF,
        });
    }
    out
}

/// Number of dynamic symbols from DT_HASH or DT_GNU_HASH (no section headers).
fn dynsym_count_from_hash(ctx: &Ctx<'_>) -> Option<u64> {
    let rd = &ctx.rd;
    if let Some(h) = ctx.dyn_.get(DT_HASH).and_then(|a| ctx.v2o(a)) {
        return rd.u32(h.checked_add(4)?).map(u64::from);
    }
    let g = ctx.dyn_.get(DT_GNU_HASH).and_then(|a| ctx.v2o(a))?;
    let nbuckets = u64::from(rd.u32(g)?);
    let symoffset = u64::from(rd.u32(g + 4)?);
    let bloom_size = u64::from(rd.u32(g + 8)?);
    let buckets = g
        .checked_add(16)?
        .checked_add(bloom_size.checked_mul(rd.word_size())?)?;
    let chains = buckets.checked_add(nbuckets.checked_mul(4)?)?;
    let mut max = 0u64;
    for i in 0..nbuckets {
        max = max.max(u64::from(rd.u32(buckets + i * 4)?));
    }
    if max < symoffset {
        return Some(symoffset);
    }
    let mut idx = max;
    loop {
        let v = rd.u32(chains.checked_add((idx - symoffset).checked_mul(4)?)?)?;
        idx += 1;
        if v & 1 != 0 {
            return Some(idx);
        }
    }
}

/// Version index -> (name) from verdef and verneed; also fills version_needs/defs.
fn read_versions(ctx: &mut Ctx<'_>, strtab: Option<StrTab>) -> HashMap<u16, String> {
    let mut names = HashMap::new();
    let rd = ctx.rd;
    let str_at = |v: u32| strtab.and_then(|t| t.get(&rd, u64::from(v)));
    let mut budget = MAX_VERSION_RECORDS;

    // Verdef.
    let verdef = match ctx.section_by_type(elf::SHT_GNU_VERDEF) {
        Some(s) => Some((s.offset, u64::from(s.info))),
        None => ctx
            .dyn_
            .get(DT_VERDEF)
            .and_then(|a| ctx.v2o(a))
            .map(|o| (o, ctx.dyn_.get(DT_VERDEFNUM).unwrap_or(0))),
    };
    if let Some((mut at, num)) = verdef {
        for _ in 0..num.min(MAX_VERSION_RECORDS as u64) {
            let (Some(flags), Some(ndx), Some(cnt), Some(aux), Some(next)) = (
                rd.u16(at.saturating_add(2)),
                rd.u16(at.saturating_add(4)),
                rd.u16(at.saturating_add(6)),
                rd.u32(at.saturating_add(12)),
                rd.u32(at.saturating_add(16)),
            ) else {
                ctx.warn(format!("verdef entry at offset {at} truncated"));
                break;
            };
            if cnt > 0 {
                if let Some(name) = rd.u32(at.saturating_add(u64::from(aux))).and_then(str_at) {
                    if flags & elf::VER_FLG_BASE == 0 {
                        ctx.info.version_defs.push(name.clone());
                    }
                    names.insert(ndx & 0x7fff, name);
                }
            }
            budget = budget.saturating_sub(1);
            if next == 0 || budget == 0 {
                break;
            }
            at = at.saturating_add(u64::from(next));
        }
    }

    // Verneed.
    let verneed = match ctx.section_by_type(elf::SHT_GNU_VERNEED) {
        Some(s) => Some((s.offset, u64::from(s.info))),
        None => ctx
            .dyn_
            .get(DT_VERNEED)
            .and_then(|a| ctx.v2o(a))
            .map(|o| (o, ctx.dyn_.get(DT_VERNEEDNUM).unwrap_or(0))),
    };
    if let Some((mut at, num)) = verneed {
        for _ in 0..num.min(MAX_VERSION_RECORDS as u64) {
            let (Some(cnt), Some(file), Some(aux), Some(next)) = (
                rd.u16(at.saturating_add(2)),
                rd.u32(at.saturating_add(4)),
                rd.u32(at.saturating_add(8)),
                rd.u32(at.saturating_add(12)),
            ) else {
                ctx.warn(format!("verneed entry at offset {at} truncated"));
                break;
            };
            let mut need = VersionNeed {
                file: str_at(file).unwrap_or_default(),
                versions: Vec::new(),
            };
            let mut a = at.saturating_add(u64::from(aux));
            for _ in 0..cnt {
                budget = budget.saturating_sub(1);
                if budget == 0 {
                    break;
                }
                let (Some(other), Some(name), Some(anext)) = (
                    rd.u16(a.saturating_add(6)),
                    rd.u32(a.saturating_add(8)),
                    rd.u32(a.saturating_add(12)),
                ) else {
                    break;
                };
                if let Some(n) = str_at(name) {
                    names.insert(other & 0x7fff, n.clone());
                    need.versions.push(n);
                }
                if anext == 0 {
                    break;
                }
                a = a.saturating_add(u64::from(anext));
            }
            ctx.info.version_needs.push(need);
            if next == 0 || budget == 0 {
                break;
            }
            at = at.saturating_add(u64::from(next));
        }
    }
    names
}

pub(crate) fn read_symbols(ctx: &mut Ctx<'_>) {
    let rd = ctx.rd;
    // .dynsym: section first (exact count), else the dynamic table.
    let dynsec = ctx.section_by_type(elf::SHT_DYNSYM).cloned();
    let (loc, entsize, strtab) = match &dynsec {
        Some(s) => {
            let st = ctx.info.sections.get(s.link as usize).map(|t| StrTab {
                offset: t.offset,
                size: t.size.min(ctx.info.file_size.saturating_sub(t.offset)),
            });
            (
                Some(Loc {
                    offset: s.offset,
                    size: s.size,
                }),
                s.entsize,
                st.or(ctx.dyn_.strtab),
            )
        }
        None => {
            let loc = ctx.dyn_.get(DT_SYMTAB).and_then(|a| {
                let offset = ctx.v2o(a)?;
                let ent = ctx.dyn_.get(DT_SYMENT).unwrap_or(sym_entsize(&rd));
                let count = dynsym_count_from_hash(ctx).unwrap_or(0);
                Some(Loc {
                    offset,
                    size: count.saturating_mul(ent).min(ctx.avail_from(a)),
                })
            });
            if ctx.dyn_.get(DT_SYMTAB).is_some() && matches!(loc, None | Some(Loc { size: 0, .. }))
            {
                ctx.warn("dynamic symbol table size unknown: no usable hash table".into());
            }
            (loc, ctx.dyn_.get(DT_SYMENT).unwrap_or(0), ctx.dyn_.strtab)
        }
    };
    if let Some(loc) = loc {
        let mut syms = read_syms(&rd, loc, entsize, strtab);
        let names = read_versions(ctx, strtab);
        let versym = match ctx.section_by_type(elf::SHT_GNU_VERSYM) {
            Some(s) => Some(s.offset),
            None => ctx.dyn_.get(DT_VERSYM).and_then(|a| ctx.v2o(a)),
        };
        if let Some(vs) = versym {
            ctx.info.versioned = true;
            for (i, s) in syms.iter_mut().enumerate() {
                let Some(v) = rd.u16(vs.saturating_add(i as u64 * 2)) else {
                    break;
                };
                let idx = v & 0x7fff;
                s.version_index = idx;
                if idx >= 2 {
                    s.version = names.get(&idx).filter(|n| rd.charge(n.len())).cloned();
                    s.version_hidden = v & 0x8000 != 0;
                }
            }
        }
        ctx.info.dynsyms = syms;
    }

    // .symtab.
    if let Some(s) = ctx.section_by_type(elf::SHT_SYMTAB).cloned() {
        let st = ctx.info.sections.get(s.link as usize).map(|t| StrTab {
            offset: t.offset,
            size: t.size.min(ctx.info.file_size.saturating_sub(t.offset)),
        });
        ctx.info.symtab = read_syms(
            &rd,
            Loc {
                offset: s.offset,
                size: s.size,
            },
            s.entsize,
            st,
        );
    }
}
