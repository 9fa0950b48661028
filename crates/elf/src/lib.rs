//! ELF facts for every later stage: headers, dynamic section, symbols with versions,
//! relocations (RELA, REL, RELR), init/fini arrays, PLT and GOT imports, `.eh_frame`
//! function ranges and the Go function table; pure and panic-free on hostile bytes.

mod dynamic;
mod eh;
mod go;
mod headers;
mod plt;
mod read;
mod reloc;
mod symbols;

use serde::{Deserialize, Serialize};

pub use go::{GoFunc, GoPclntab};

/// Largest input accepted by [`parse`] (bytes).
pub const MAX_FILE_BYTES: u64 = 4 << 30;
/// At most this many `.eh_frame` FDEs are kept.
pub const MAX_FDES: usize = 4_000_000;
/// At most this many symbols are kept per table.
pub const MAX_SYMBOLS: usize = 4_000_000;
/// At most this many relocations are kept (all tables together).
pub const MAX_RELOCS: usize = 8_000_000;
/// At most this many Go functions are kept.
pub const MAX_GO_FUNCS: usize = 4_000_000;
/// Names and paths may allocate at most this many bytes plus
/// [`STRING_BUDGET_PER_BYTE`] times the file size.
pub const STRING_BUDGET_BASE: u64 = 32 << 20;
pub const STRING_BUDGET_PER_BYTE: u64 = 8;

/// Errors that make an ELF file unusable. Lesser damage degrades [`ElfInfo`]
/// (see [`ElfInfo::warnings`]) instead.
#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    #[error("not an elf file: bad magic")]
    NotElf,
    #[error("truncated elf file: {what} needs {need} bytes at offset {offset}, file has {len}")]
    Truncated {
        what: &'static str,
        offset: u64,
        need: u64,
        len: u64,
    },
    #[error("unsupported elf file: {reason}")]
    Unsupported { reason: String },
    #[error("malformed elf {what} at offset {offset}: {reason}")]
    Malformed {
        what: &'static str,
        offset: u64,
        reason: String,
    },
    #[error("elf file too large: {size} bytes, limit {limit}")]
    TooLarge { size: u64, limit: u64 },
}

/// Target machine (`e_machine`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Machine {
    X86_64,
    Aarch64,
    /// Any other `e_machine` value (i386 is `Other(3)`).
    Other(u16),
}

/// Object file type (`e_type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ElfKind {
    Exec,
    Dyn,
    Rel,
    Core,
    #[default]
    Other,
}

/// Symbol type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SymKind {
    Func,
    IFunc,
    Object,
    Tls,
    Other,
}

/// Symbol binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SymBind {
    Global,
    Weak,
    Local,
    Unique,
}

/// One entry of `.dynsym` or `.symtab`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Symbol {
    pub name: String,
    /// Version name from `.gnu.version_d` (defined) or `.gnu.version_r` (undefined).
    pub version: Option<String>,
    /// `name@VERSION` (hidden, non-default) rather than `name@@VERSION`.
    pub version_hidden: bool,
    /// Raw `.gnu.version` index without the hidden bit: 0 local, 1 global (base),
    /// 2.. a named version; 1 when the file has no versym table.
    pub version_index: u16,
    pub addr: u64,
    pub size: u64,
    pub kind: SymKind,
    pub bind: SymBind,
    /// `st_shndx != SHN_UNDEF`.
    pub defined: bool,
}

impl Symbol {
    /// `name@@VERSION` for a default defined version, `name@VERSION` for a hidden
    /// or required one, plain `name` when unversioned.
    pub fn versioned_name(&self) -> String {
        match &self.version {
            None => self.name.clone(),
            Some(v) if self.defined && !self.version_hidden => format!("{}@@{}", self.name, v),
            Some(v) => format!("{}@{}", self.name, v),
        }
    }
}

/// A needed file and the version names required from it (`.gnu.version_r`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionNeed {
    pub file: String,
    pub versions: Vec<String>,
}

/// The symbol a relocation or PLT stub refers to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SymRef {
    pub name: String,
    pub version: Option<String>,
    /// Index into [`ElfInfo::dynsyms`] (or [`ElfInfo::symtab`] for a static
    /// relocation section linked to `.symtab`).
    pub index: u32,
    pub defined: bool,
    pub weak: bool,
}

/// Relocation type, normalized across x86-64, i386 and AArch64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RelocKind {
    Relative,
    Irelative,
    GlobDat,
    JumpSlot,
    Abs64,
    Abs32,
    Copy,
    Tpoff64,
    Tpoff32,
    Dtpmod64,
    Dtpoff64,
    Tlsdesc,
    Other(u32),
}

/// One dynamic relocation. RELR entries appear as `Relative`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reloc {
    /// Virtual address of the patched word.
    pub offset: u64,
    pub kind: RelocKind,
    pub sym: Option<SymRef>,
    /// Explicit (RELA) or implicit (REL, RELR: word read from the file) addend.
    pub addend: i64,
}

/// A PLT stub (`.plt`, `.plt.sec`, `.plt.got`) and what it jumps to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PltEntry {
    /// Stub address.
    pub addr: u64,
    pub size: u64,
    /// GOT slot the stub jumps through.
    pub got: u64,
    /// Imported symbol bound to the slot (JUMP_SLOT / GLOB_DAT), if any.
    pub sym: Option<SymRef>,
    /// Resolver address when the slot is an IRELATIVE relocation (static binaries).
    pub irelative: Option<u64>,
}

impl PltEntry {
    /// The imported symbol's name, if the slot has one.
    pub fn name(&self) -> Option<&str> {
        self.sym.as_ref().map(|s| s.name.as_str())
    }
}

/// A section header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    pub name: String,
    /// `sh_type`.
    pub kind: u32,
    pub addr: u64,
    pub size: u64,
    pub offset: u64,
    pub entsize: u64,
    pub link: u32,
    pub info: u32,
    /// Raw `sh_flags`.
    pub flags: u64,
    pub alloc: bool,
    pub write: bool,
    pub exec: bool,
}

/// A `PT_LOAD` segment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub vaddr: u64,
    pub memsz: u64,
    pub offset: u64,
    pub filesz: u64,
    /// Raw `p_flags`.
    pub flags: u32,
    pub read: bool,
    pub write: bool,
    pub exec: bool,
}

/// Everything later stages need to know about one ELF file.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ElfInfo {
    pub machine: Machine,
    pub class64: bool,
    pub little_endian: bool,
    pub kind: ElfKind,
    /// ET_DYN with DF_1_PIE, or ET_DYN with PT_INTERP and no DT_SONAME
    /// (libc.so.6 has PT_INTERP but is a library).
    pub pie: bool,
    pub entry: u64,
    pub interp: Option<String>,
    pub soname: Option<String>,
    pub needed: Vec<String>,
    pub rpath: Vec<String>,
    pub runpath: Vec<String>,
    /// DT_FLAGS.
    pub flags: u64,
    /// DT_FLAGS_1.
    pub flags_1: u64,
    /// DT_INIT (or `.init` in a static file).
    pub init: Option<u64>,
    /// DT_FINI (or `.fini` in a static file).
    pub fini: Option<u64>,
    /// Run-time function addresses of the arrays (relocations applied; 0 and -1 dropped).
    pub init_array: Vec<u64>,
    pub fini_array: Vec<u64>,
    pub preinit_array: Vec<u64>,
    pub dynsyms: Vec<Symbol>,
    pub symtab: Vec<Symbol>,
    pub version_needs: Vec<VersionNeed>,
    /// True when `.dynsym` has a `.gnu.version` (versym) table.
    pub versioned: bool,
    /// Version names this file defines (`.gnu.version_d`, base entry excluded).
    pub version_defs: Vec<String>,
    /// Dynamic relocations (RELA, REL, JMPREL, RELR decoded as `Relative`), in file order.
    pub relocations: Vec<Reloc>,
    /// How many of [`Self::relocations`] came from DT_RELR / `.relr.dyn`.
    pub relr_count: usize,
    pub plt: Vec<PltEntry>,
    /// Slot address -> imported symbol name for GLOB_DAT, JUMP_SLOT and ABS64
    /// relocations with a symbol, sorted by address.
    pub got_imports: Vec<(u64, String)>,
    pub sections: Vec<Section>,
    /// PT_LOAD segments.
    pub segments: Vec<Segment>,
    /// PT_TLS (vaddr, memsz), if present.
    pub tls: Option<(u64, u64)>,
    /// `.eh_frame` FDE ranges (start, end), sorted by start; a signal-frame
    /// FDE (glibc's `__restore_rt`) starts at its code, one byte past the
    /// address the FDE names.
    pub fdes: Vec<(u64, u64)>,
    /// Malformed CIEs/FDEs skipped while reading `.eh_frame`.
    pub eh_frame_errors: usize,
    pub gopclntab: Option<GoPclntab>,
    /// Damage that degraded the facts (missing section headers, bad tables, caps hit).
    pub warnings: Vec<String>,
    /// Length of the parsed input.
    pub file_size: u64,
}

impl Default for Machine {
    fn default() -> Self {
        Machine::Other(0)
    }
}

impl ElfInfo {
    /// File offset of a virtual address inside a PT_LOAD segment's file bytes.
    pub fn vaddr_to_offset(&self, vaddr: u64) -> Option<usize> {
        for s in &self.segments {
            if vaddr >= s.vaddr && vaddr - s.vaddr < s.filesz {
                let off = s.offset.checked_add(vaddr - s.vaddr)?;
                if off < self.file_size {
                    return usize::try_from(off).ok();
                }
            }
        }
        None
    }

    /// `len` bytes at virtual address `vaddr`, only if all of them are file-backed
    /// in one segment.
    pub fn bytes_at<'d>(&self, data: &'d [u8], vaddr: u64, len: usize) -> Option<&'d [u8]> {
        let len64 = u64::try_from(len).ok()?;
        for s in &self.segments {
            if vaddr >= s.vaddr && vaddr - s.vaddr < s.filesz {
                let rel = vaddr - s.vaddr;
                if s.filesz - rel < len64 {
                    return None;
                }
                let off = usize::try_from(s.offset.checked_add(rel)?).ok()?;
                return data.get(off..off.checked_add(len)?);
            }
        }
        None
    }

    /// The segment containing `vaddr` (in memory, including bss).
    pub fn segment_of(&self, vaddr: u64) -> Option<&Segment> {
        self.segments
            .iter()
            .find(|s| vaddr >= s.vaddr && vaddr - s.vaddr < s.memsz)
    }

    /// The first section with this name.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// Undefined dynamic symbols (what this file imports).
    pub fn imports(&self) -> impl Iterator<Item = &Symbol> {
        self.dynsyms
            .iter()
            .filter(|s| !s.defined && !s.name.is_empty())
    }

    /// Defined global, weak or unique dynamic symbols (what this file exports).
    pub fn exports(&self) -> impl Iterator<Item = &Symbol> {
        self.dynsyms
            .iter()
            .filter(|s| s.defined && !s.name.is_empty() && !matches!(s.bind, SymBind::Local))
    }
}

/// Parse an ELF file. Fails only when the headers are unusable; damaged tables
/// leave a partial [`ElfInfo`] with [`ElfInfo::warnings`].
pub fn parse(data: &[u8]) -> Result<ElfInfo, ElfError> {
    let size = data.len() as u64;
    if size > MAX_FILE_BYTES {
        return Err(ElfError::TooLarge {
            size,
            limit: MAX_FILE_BYTES,
        });
    }
    parse_with_budget(
        data,
        STRING_BUDGET_BASE.saturating_add(size.saturating_mul(STRING_BUDGET_PER_BYTE)),
    )
}

fn parse_with_budget(data: &[u8], string_budget: u64) -> Result<ElfInfo, ElfError> {
    let raw = headers::parse_headers(data)?;
    let budget = std::cell::Cell::new(string_budget);
    let mut ctx = Ctx::new(data, raw, &budget);
    ctx.run();
    if budget.get() == 0 {
        ctx.warn("string budget exhausted: some names were dropped".to_string());
    }
    Ok(ctx.info)
}

/// Parsing state shared by the modules.
pub(crate) struct Ctx<'a> {
    pub rd: read::Rd<'a>,
    pub raw: headers::Raw,
    pub info: ElfInfo,
    pub dyn_: dynamic::DynTable,
    /// Indices in `info.relocations` of the JMPREL (PLT) table.
    pub jmprel: std::ops::Range<usize>,
}

impl<'a> Ctx<'a> {
    fn new(data: &'a [u8], raw: headers::Raw, budget: &'a std::cell::Cell<u64>) -> Self {
        let rd = read::Rd {
            data,
            le: raw.le,
            is64: raw.is64,
            budget,
        };
        let info = ElfInfo {
            machine: match raw.machine {
                object::elf::EM_X86_64 => Machine::X86_64,
                object::elf::EM_AARCH64 => Machine::Aarch64,
                m => Machine::Other(m),
            },
            class64: raw.is64,
            little_endian: raw.le,
            kind: match raw.e_type {
                object::elf::ET_EXEC => ElfKind::Exec,
                object::elf::ET_DYN => ElfKind::Dyn,
                object::elf::ET_REL => ElfKind::Rel,
                object::elf::ET_CORE => ElfKind::Core,
                _ => ElfKind::Other,
            },
            entry: raw.entry,
            sections: raw.sections.clone(),
            segments: raw.loads.clone(),
            tls: raw.tls,
            warnings: raw.warnings.clone(),
            file_size: data.len() as u64,
            ..ElfInfo::default()
        };
        Ctx {
            rd,
            raw,
            info,
            dyn_: dynamic::DynTable::default(),
            jmprel: 0..0,
        }
    }

    fn run(&mut self) {
        self.info.interp = self.raw.interp.as_ref().and_then(|&(off, len)| {
            let b = self.rd.bytes(off, len.min(read::MAX_STR))?;
            let b = b.split(|&c| c == 0).next().unwrap_or(b);
            self.rd
                .charge(b.len())
                .then(|| String::from_utf8_lossy(b).into_owned())
        });
        dynamic::read_dynamic(self);
        self.info.pie = self.info.kind == ElfKind::Dyn
            && (self.info.flags_1 & u64::from(object::elf::DF_1_PIE) != 0
                || (self.info.interp.is_some() && self.info.soname.is_none()));
        symbols::read_symbols(self);
        reloc::read_relocations(self);
        reloc::read_arrays(self);
        plt::read_plt(self);
        eh::read_eh_frame(self);
        go::read_gopclntab(self);
    }

    pub fn warn(&mut self, msg: String) {
        if self.info.warnings.len() < 100 {
            self.info.warnings.push(msg);
        }
    }

    /// File offset of a virtual address (PT_LOAD file bytes).
    pub fn v2o(&self, vaddr: u64) -> Option<u64> {
        self.info.vaddr_to_offset(vaddr).map(|o| o as u64)
    }

    /// Bytes available in the file from `vaddr` to the end of its segment's file part.
    pub fn avail_from(&self, vaddr: u64) -> u64 {
        for s in &self.info.segments {
            if vaddr >= s.vaddr && vaddr - s.vaddr < s.filesz {
                return s.filesz - (vaddr - s.vaddr);
            }
        }
        0
    }

    pub fn section_by_type(&self, kind: u32) -> Option<&Section> {
        self.info.sections.iter().find(|s| s.kind == kind)
    }
}

#[cfg(test)]
mod tests;
