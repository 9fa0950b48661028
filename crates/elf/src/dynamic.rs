//! The dynamic table (PT_DYNAMIC, or `.dynamic` when the program header is missing):
//! needed libraries, soname, search paths, flags, init/fini and table locations.

use crate::read::StrTab;
use crate::Ctx;

pub(crate) const DT_NULL: u64 = 0;
pub(crate) const DT_NEEDED: u64 = 1;
pub(crate) const DT_PLTRELSZ: u64 = 2;
pub(crate) const DT_HASH: u64 = 4;
pub(crate) const DT_STRTAB: u64 = 5;
pub(crate) const DT_SYMTAB: u64 = 6;
pub(crate) const DT_RELA: u64 = 7;
pub(crate) const DT_RELASZ: u64 = 8;
pub(crate) const DT_RELAENT: u64 = 9;
pub(crate) const DT_STRSZ: u64 = 10;
pub(crate) const DT_SYMENT: u64 = 11;
pub(crate) const DT_INIT: u64 = 12;
pub(crate) const DT_FINI: u64 = 13;
pub(crate) const DT_SONAME: u64 = 14;
pub(crate) const DT_RPATH: u64 = 15;
pub(crate) const DT_REL: u64 = 17;
pub(crate) const DT_RELSZ: u64 = 18;
pub(crate) const DT_RELENT: u64 = 19;
pub(crate) const DT_PLTREL: u64 = 20;
pub(crate) const DT_JMPREL: u64 = 23;
pub(crate) const DT_INIT_ARRAY: u64 = 25;
pub(crate) const DT_FINI_ARRAY: u64 = 26;
pub(crate) const DT_INIT_ARRAYSZ: u64 = 27;
pub(crate) const DT_FINI_ARRAYSZ: u64 = 28;
pub(crate) const DT_RUNPATH: u64 = 29;
pub(crate) const DT_FLAGS: u64 = 30;
pub(crate) const DT_PREINIT_ARRAY: u64 = 32;
pub(crate) const DT_PREINIT_ARRAYSZ: u64 = 33;
pub(crate) const DT_RELRSZ: u64 = 35;
pub(crate) const DT_RELR: u64 = 36;
pub(crate) const DT_GNU_HASH: u64 = 0x6fff_fef5;
pub(crate) const DT_VERSYM: u64 = 0x6fff_fff0;
pub(crate) const DT_FLAGS_1: u64 = 0x6fff_fffb;
pub(crate) const DT_VERDEF: u64 = 0x6fff_fffc;
pub(crate) const DT_VERDEFNUM: u64 = 0x6fff_fffd;
pub(crate) const DT_VERNEED: u64 = 0x6fff_fffe;
pub(crate) const DT_VERNEEDNUM: u64 = 0x6fff_ffff;

/// Upper bound on dynamic entries read (real files have well under 100).
const MAX_DYN_ENTRIES: u64 = 65_536;

/// Raw dynamic entries (tag, value) plus the dynamic string table.
#[derive(Clone, Debug, Default)]
pub(crate) struct DynTable {
    pub entries: Vec<(u64, u64)>,
    pub strtab: Option<StrTab>,
}

impl DynTable {
    /// First value for `tag`.
    pub fn get(&self, tag: u64) -> Option<u64> {
        self.entries.iter().find(|e| e.0 == tag).map(|e| e.1)
    }

    pub fn all(&self, tag: u64) -> impl Iterator<Item = u64> + '_ {
        self.entries.iter().filter(move |e| e.0 == tag).map(|e| e.1)
    }
}

pub(crate) fn read_dynamic(ctx: &mut Ctx<'_>) {
    let (off, size) = match ctx.raw.dynamic {
        Some(d) => d,
        None => match ctx.section_by_type(object::elf::SHT_DYNAMIC) {
            Some(s) => (s.offset, s.size),
            None => return,
        },
    };
    let ws = ctx.rd.word_size();
    let count = (size / (2 * ws)).min(MAX_DYN_ENTRIES);
    let mut entries = Vec::new();
    for i in 0..count {
        let at = match off.checked_add(i * 2 * ws) {
            Some(a) => a,
            None => break,
        };
        let (Some(tag), Some(val)) = (ctx.rd.word(at), ctx.rd.word(at.saturating_add(ws))) else {
            ctx.warn(format!("dynamic table truncated at offset {at}"));
            break;
        };
        if tag == DT_NULL {
            break;
        }
        entries.push((tag, val));
    }
    ctx.dyn_.entries = entries;

    // String table: DT_STRTAB/DT_STRSZ, else the section `.dynamic` links to.
    let strtab = match (ctx.dyn_.get(DT_STRTAB), ctx.dyn_.get(DT_STRSZ)) {
        (Some(addr), Some(sz)) => ctx.v2o(addr).map(|o| StrTab {
            offset: o,
            size: sz.min(ctx.avail_from(addr)),
        }),
        _ => None,
    }
    .or_else(|| {
        let dynsec = ctx.section_by_type(object::elf::SHT_DYNAMIC)?;
        let s = ctx.info.sections.get(dynsec.link as usize)?;
        Some(StrTab {
            offset: s.offset,
            size: s.size.min(ctx.info.file_size.saturating_sub(s.offset)),
        })
    });
    if strtab.is_none() && !ctx.dyn_.entries.is_empty() {
        ctx.warn("dynamic string table not found".to_string());
    }
    ctx.dyn_.strtab = strtab;

    let s = |v: u64| strtab.and_then(|t| t.get(&ctx.rd, v));
    let needed: Vec<String> = ctx.dyn_.all(DT_NEEDED).filter_map(s).collect();
    let soname = ctx.dyn_.get(DT_SONAME).and_then(s);
    let split = |v: Option<String>| -> Vec<String> {
        v.map(|p| p.split(':').map(str::to_string).collect())
            .unwrap_or_default()
    };
    let rpath = split(ctx.dyn_.get(DT_RPATH).and_then(s));
    let runpath = split(ctx.dyn_.get(DT_RUNPATH).and_then(s));
    ctx.info.needed = needed;
    ctx.info.soname = soname;
    ctx.info.rpath = rpath;
    ctx.info.runpath = runpath;
    ctx.info.flags = ctx.dyn_.get(DT_FLAGS).unwrap_or(0);
    ctx.info.flags_1 = ctx.dyn_.get(DT_FLAGS_1).unwrap_or(0);
    ctx.info.init = ctx.dyn_.get(DT_INIT);
    ctx.info.fini = ctx.dyn_.get(DT_FINI);
}
