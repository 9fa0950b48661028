//! File header, program headers and section headers, read through `object`'s
//! bounds-checked ELF types and copied into plain owned records.

use crate::{ElfError, Section, Segment};
use object::elf;
use object::read::elf::{FileHeader, ProgramHeader, SectionHeader};
use object::{Endianness, FileKind};

/// Headers of one file, class- and byte-order-neutral.
#[derive(Clone, Debug, Default)]
pub(crate) struct Raw {
    pub le: bool,
    pub is64: bool,
    pub e_type: u16,
    pub machine: u16,
    pub entry: u64,
    pub loads: Vec<Segment>,
    /// PT_DYNAMIC (file offset, file size).
    pub dynamic: Option<(u64, u64)>,
    /// PT_INTERP (file offset, file size).
    pub interp: Option<(u64, u64)>,
    /// PT_GNU_EH_FRAME (vaddr, memsz).
    pub eh_frame_hdr: Option<(u64, u64)>,
    pub tls: Option<(u64, u64)>,
    pub sections: Vec<Section>,
    pub warnings: Vec<String>,
}

pub(crate) fn parse_headers(data: &[u8]) -> Result<Raw, ElfError> {
    if data.get(..4) != Some(&elf::ELFMAG[..]) {
        return Err(ElfError::NotElf);
    }
    match FileKind::parse(data) {
        Ok(FileKind::Elf32) => parse_class::<elf::FileHeader32<Endianness>>(data, false),
        Ok(FileKind::Elf64) => parse_class::<elf::FileHeader64<Endianness>>(data, true),
        _ => match data.get(4) {
            Some(&c) if c == elf::ELFCLASS32 || c == elf::ELFCLASS64 => Err(ElfError::Truncated {
                what: "file header",
                offset: 0,
                need: if c == elf::ELFCLASS64 { 64 } else { 52 },
                len: data.len() as u64,
            }),
            Some(&c) => Err(ElfError::Unsupported {
                reason: format!("elf class {c}"),
            }),
            None => Err(ElfError::Truncated {
                what: "file header",
                offset: 0,
                need: 64,
                len: data.len() as u64,
            }),
        },
    }
}

fn parse_class<Elf: FileHeader<Endian = Endianness>>(
    data: &[u8],
    is64: bool,
) -> Result<Raw, ElfError> {
    let hdr = Elf::parse(data).map_err(|e| {
        let need = if is64 { 64 } else { 52 };
        if (data.len() as u64) < need {
            ElfError::Truncated {
                what: "file header",
                offset: 0,
                need,
                len: data.len() as u64,
            }
        } else {
            ElfError::Unsupported {
                reason: e.to_string().to_lowercase(),
            }
        }
    })?;
    let endian = hdr.endian().map_err(|e| ElfError::Unsupported {
        reason: e.to_string().to_lowercase(),
    })?;
    let mut raw = Raw {
        le: endian == Endianness::Little,
        is64,
        e_type: hdr.e_type(endian),
        machine: hdr.e_machine(endian),
        entry: hdr.e_entry(endian).into(),
        ..Raw::default()
    };

    let phoff: u64 = hdr.e_phoff(endian).into();
    let phdrs = hdr
        .program_headers(endian, data)
        .map_err(|e| ElfError::Malformed {
            what: "program headers",
            offset: phoff,
            reason: e.to_string().to_lowercase(),
        })?;
    for ph in phdrs {
        let vaddr: u64 = ph.p_vaddr(endian).into();
        let memsz: u64 = ph.p_memsz(endian).into();
        let offset: u64 = ph.p_offset(endian).into();
        let filesz: u64 = ph.p_filesz(endian).into();
        match ph.p_type(endian) {
            elf::PT_LOAD => {
                let flags = ph.p_flags(endian);
                // A segment whose file part lies outside the file keeps only what exists.
                let in_file = (data.len() as u64).saturating_sub(offset);
                let filesz = if offset > data.len() as u64 {
                    0
                } else {
                    filesz.min(in_file)
                };
                raw.loads.push(Segment {
                    vaddr,
                    memsz,
                    offset,
                    filesz,
                    flags,
                    read: flags & elf::PF_R != 0,
                    write: flags & elf::PF_W != 0,
                    exec: flags & elf::PF_X != 0,
                });
            }
            elf::PT_DYNAMIC => raw.dynamic = Some((offset, filesz)),
            elf::PT_INTERP => raw.interp = Some((offset, filesz)),
            elf::PT_GNU_EH_FRAME => raw.eh_frame_hdr = Some((vaddr, memsz)),
            elf::PT_TLS => raw.tls = Some((vaddr, memsz)),
            _ => {}
        }
    }

    let shoff: u64 = hdr.e_shoff(endian).into();
    match hdr.sections(endian, data) {
        Ok(table) => {
            if table.is_empty() && shoff != 0 {
                raw.warnings
                    .push(format!("section header table at offset {shoff} is empty"));
            }
            for sh in table.iter() {
                let flags: u64 = sh.sh_flags(endian).into();
                let name = match table.section_name(endian, sh) {
                    Ok(n) => String::from_utf8_lossy(n).into_owned(),
                    Err(_) => String::new(),
                };
                raw.sections.push(Section {
                    name,
                    kind: sh.sh_type(endian),
                    addr: sh.sh_addr(endian).into(),
                    size: sh.sh_size(endian).into(),
                    offset: sh.sh_offset(endian).into(),
                    entsize: sh.sh_entsize(endian).into(),
                    link: sh.sh_link(endian),
                    info: sh.sh_info(endian),
                    flags,
                    alloc: flags & u64::from(elf::SHF_ALLOC) != 0,
                    write: flags & u64::from(elf::SHF_WRITE) != 0,
                    exec: flags & u64::from(elf::SHF_EXECINSTR) != 0,
                });
            }
        }
        Err(e) => raw.warnings.push(format!(
            "section headers at offset {shoff} unusable: {}",
            e.to_string().to_lowercase()
        )),
    }
    Ok(raw)
}
