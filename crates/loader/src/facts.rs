//! The ELF facts the loader needs (dynamic section, dynsyms with versions, read-only strings).

use object::elf;
use object::read::elf::{Dyn as _, FileHeader, ProgramHeader as _, SectionHeader as _, Sym as _};
use object::Endianness;

/// A dynamic symbol as the loader sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sym {
    pub name: String,
    /// Version name from verdef (definitions) or verneed (references).
    pub version: Option<String>,
    pub hidden: bool,
    /// Raw versym index without the hidden bit (0 local, 1 global/base, 2.. named).
    pub vidx: u16,
    pub addr: u64,
    pub defined: bool,
    pub weak: bool,
    /// STB_LOCAL (never a binding candidate).
    pub local: bool,
    pub ifunc: bool,
    pub tls: bool,
}

/// Loader-relevant facts of one ELF object.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub class64: bool,
    pub machine: u16,
    pub e_type: u16,
    pub interp: Option<String>,
    pub soname: Option<String>,
    pub needed: Vec<String>,
    pub rpath: Vec<String>,
    pub runpath: Vec<String>,
    pub flags_1: u64,
    pub dynsyms: Vec<Sym>,
    /// True when the object carries a versym table.
    pub versioned: bool,
    /// File ranges (offset, size) of allocated, read-only, non-executable PROGBITS sections.
    pub rodata: Vec<(usize, usize)>,
    pub has_dynamic: bool,
}

pub const DF_1_NODEFLIB: u64 = 0x800;
pub const DF_1_PIE: u64 = 0x0800_0000;

impl Facts {
    /// A program rather than a library: ET_EXEC, or ET_DYN marked DF_1_PIE, or ET_DYN with
    /// PT_INTERP and no DT_SONAME (libc.so.6 has PT_INTERP but is a library).
    pub fn is_exec_like(&self) -> bool {
        self.e_type == elf::ET_EXEC
            || (self.e_type == elf::ET_DYN
                && (self.flags_1 & DF_1_PIE != 0
                    || (self.interp.is_some() && self.soname.is_none())))
    }
    pub fn imports(&self) -> impl Iterator<Item = &Sym> {
        self.dynsyms
            .iter()
            .filter(|s| !s.defined && !s.local && !s.name.is_empty())
    }
}

/// Parse facts; Err carries a short reason.
pub fn parse(data: &[u8]) -> Result<Facts, String> {
    match object::FileKind::parse(data).map_err(|e| e.to_string())? {
        object::FileKind::Elf32 => parse_elf::<elf::FileHeader32<Endianness>>(data),
        object::FileKind::Elf64 => parse_elf::<elf::FileHeader64<Endianness>>(data),
        other => Err(format!("not an ELF file ({other:?})")),
    }
}

fn s(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn vaddr_to_offset<H: FileHeader<Endian = Endianness>>(
    phdrs: &[H::ProgramHeader],
    e: Endianness,
    vaddr: u64,
) -> Option<u64> {
    phdrs
        .iter()
        .filter(|p| p.p_type(e) == elf::PT_LOAD)
        .find_map(|p| {
            let va: u64 = p.p_vaddr(e).into();
            let fsz: u64 = p.p_filesz(e).into();
            let off: u64 = p.p_offset(e).into();
            (vaddr >= va && vaddr < va.checked_add(fsz)?)
                .then(|| off.checked_add(vaddr - va))
                .flatten()
        })
}

fn parse_elf<H: FileHeader<Endian = Endianness>>(data: &[u8]) -> Result<Facts, String> {
    let hdr = H::parse(data).map_err(|e| e.to_string())?;
    let e = hdr.endian().map_err(|e| e.to_string())?;
    let mut f = Facts {
        class64: hdr.is_class_64(),
        machine: hdr.e_machine(e),
        e_type: hdr.e_type(e),
        ..Facts::default()
    };
    let phdrs = hdr.program_headers(e, data).map_err(|e| e.to_string())?;
    let mut dynamic = None;
    for ph in phdrs {
        match ph.p_type(e) {
            elf::PT_INTERP => {
                if let Ok(Some(i)) = ph.interpreter(e, data) {
                    f.interp = Some(s(i));
                }
            }
            elf::PT_DYNAMIC => dynamic = ph.dynamic(e, data).ok().flatten(),
            _ => {}
        }
    }
    if let Some(dyns) = dynamic {
        f.has_dynamic = true;
        let mut strtab = None;
        let mut strsz = None;
        for d in dyns {
            match d.d_tag(e).into() {
                t if t == u64::from(elf::DT_STRTAB) => strtab = Some(d.d_val(e).into()),
                t if t == u64::from(elf::DT_STRSZ) => strsz = Some(d.d_val(e).into()),
                _ => {}
            }
        }
        let strings: &[u8] = match (
            strtab.and_then(|a: u64| vaddr_to_offset::<H>(phdrs, e, a)),
            strsz,
        ) {
            (Some(off), Some(sz)) => usize::try_from(off)
                .ok()
                .and_then(|o| data.get(o..o.checked_add(usize::try_from(sz).ok()?)?))
                .unwrap_or_default(),
            _ => &[],
        };
        let get = |v: u64| -> Option<String> {
            let rest = strings.get(usize::try_from(v).ok()?..)?;
            let end = memchr::memchr(0, rest)?;
            Some(s(rest.get(..end)?))
        };
        for d in dyns {
            let tag: u64 = d.d_tag(e).into();
            let val: u64 = d.d_val(e).into();
            if tag == u64::from(elf::DT_NULL) {
                break;
            }
            match tag {
                t if t == u64::from(elf::DT_NEEDED) => f.needed.extend(get(val)),
                t if t == u64::from(elf::DT_SONAME) => f.soname = get(val),
                t if t == u64::from(elf::DT_RPATH) => f.rpath.extend(
                    get(val)
                        .iter()
                        .flat_map(|r| r.split(':').map(str::to_owned)),
                ),
                t if t == u64::from(elf::DT_RUNPATH) => f.runpath.extend(
                    get(val)
                        .iter()
                        .flat_map(|r| r.split(':').map(str::to_owned)),
                ),
                t if t == u64::from(elf::DT_FLAGS_1) => f.flags_1 = val,
                _ => {}
            }
        }
        f.rpath.retain(|r| !r.is_empty());
        f.runpath.retain(|r| !r.is_empty());
    }
    // Sections: optional (a stripped-of-sections object just has no symbols for us).
    let Ok(sections) = hdr.sections(e, data) else {
        return Ok(f);
    };
    for sh in sections.iter() {
        let fl: u64 = sh.sh_flags(e).into();
        if sh.sh_type(e) == elf::SHT_PROGBITS
            && fl & u64::from(elf::SHF_ALLOC) != 0
            && fl & u64::from(elf::SHF_WRITE) == 0
            && fl & u64::from(elf::SHF_EXECINSTR) == 0
        {
            let off: u64 = sh.sh_offset(e).into();
            let sz: u64 = sh.sh_size(e).into();
            if let (Ok(o), Ok(z)) = (usize::try_from(off), usize::try_from(sz)) {
                if o.checked_add(z).is_some_and(|end| end <= data.len()) {
                    f.rodata.push((o, z));
                }
            }
        }
    }
    let Ok(syms) = sections.symbols(e, data, elf::SHT_DYNSYM) else {
        return Ok(f);
    };
    let versions = sections.versions(e, data).ok().flatten();
    f.versioned = versions.is_some();
    let strings = syms.strings();
    for (i, sym) in syms.enumerate() {
        if i.0 == 0 {
            continue;
        }
        let name = sym.name(e, strings).map(s).unwrap_or_default();
        let (mut version, mut hidden, mut vidx) = (None, false, 1);
        if let Some(vt) = &versions {
            let vi = vt.version_index(e, i);
            hidden = vi.is_hidden();
            vidx = vi.index();
            if let Ok(Some(v)) = vt.version(vi) {
                version = Some(s(v.name()));
            }
        }
        let st_type = sym.st_type();
        let bind = sym.st_bind();
        f.dynsyms.push(Sym {
            name,
            version,
            hidden,
            vidx,
            addr: sym.st_value(e).into(),
            defined: sym.st_shndx(e) != elf::SHN_UNDEF,
            weak: bind == elf::STB_WEAK,
            local: bind == elf::STB_LOCAL,
            ifunc: st_type == elf::STT_GNU_IFUNC,
            tls: st_type == elf::STT_TLS,
        });
    }
    Ok(f)
}

/// NUL-terminated printable strings (4..=255 bytes) in the object's read-only data that look
/// like shared-object names: `lib*.so*`, `*.so`, or containing `.so.`.
pub fn soname_strings(data: &[u8], f: &Facts, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    for &(off, size) in &f.rodata {
        let Some(sec) = data.get(off..off.saturating_add(size)) else {
            continue;
        };
        for raw in sec.split(|&b| b == 0) {
            if raw.len() < 4 || raw.len() > 255 {
                continue;
            }
            // Strings may share a prefix region with other text: take the trailing run of
            // file-name characters.
            let start = raw
                .iter()
                .rposition(|&b| !(b.is_ascii_alphanumeric() || b"/._+-".contains(&b)))
                .map_or(0, |p| p + 1);
            let Some(cand) = raw.get(start..) else {
                continue;
            };
            let Ok(cand) = std::str::from_utf8(cand) else {
                continue;
            };
            let base = cand.rsplit('/').next().unwrap_or(cand);
            let looks = base.len() > 3
                && (base.ends_with(".so")
                    || base.contains(".so.")
                    || (base.starts_with("lib") && base.contains(".so")))
                && !base.starts_with(".so");
            if looks && !out.iter().any(|o: &String| o == cand) {
                out.push(cand.to_owned());
                if out.len() >= max {
                    return out;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_libc_and_curl() {
        let libc = std::fs::read("/lib/x86_64-linux-gnu/libc.so.6").unwrap();
        let f = parse(&libc).unwrap();
        assert!(f.class64 && f.machine == elf::EM_X86_64);
        assert_eq!(f.soname.as_deref(), Some("libc.so.6"));
        assert_eq!(f.needed, vec!["ld-linux-x86-64.so.2"]);
        let memcpy: Vec<_> = f.dynsyms.iter().filter(|s| s.name == "memcpy").collect();
        assert!(memcpy
            .iter()
            .any(|s| s.version.as_deref() == Some("GLIBC_2.14") && !s.hidden && s.ifunc));
        assert!(memcpy
            .iter()
            .any(|s| s.version.as_deref() == Some("GLIBC_2.2.5") && s.hidden));
        let curl = std::fs::read("/usr/bin/curl").unwrap();
        let c = parse(&curl).unwrap();
        assert_eq!(c.interp.as_deref(), Some("/lib64/ld-linux-x86-64.so.2"));
        assert!(c.needed.contains(&"libcurl.so.4".to_owned()));
        assert!(c.is_exec_like());
        assert!(!f.is_exec_like(), "libc.so.6 is a library");
        assert!(c.imports().any(|s| s.name == "curl_easy_init"));
        assert!(parse(b"\x7fELF\x02\x01").is_err());
        for n in [0, 10, 64, 200, 1000, 5000] {
            let _ = parse(&curl[..n]);
        }
    }

    #[test]
    fn dlopen_strings_in_libc() {
        let libc = std::fs::read("/lib/x86_64-linux-gnu/libc.so.6").unwrap();
        let f = parse(&libc).unwrap();
        let strs = soname_strings(&libc, &f, 1000);
        assert!(strs.iter().any(|s| s == "libgcc_s.so.1"), "{strs:?}");
    }

    #[test]
    fn corrupted_objects_never_panic() {
        let orig = std::fs::read("/usr/bin/curl").unwrap();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut ok = 0;
        for _ in 0..400 {
            let mut d = orig.clone();
            for _ in 0..8 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // mostly headers and the first pages, where the tables live
                let pos = (x as usize) % d.len().min(if x & 1 == 0 { 4096 } else { 65536 });
                d[pos] = (x >> 24) as u8;
            }
            if let Ok(f) = parse(&d) {
                ok += 1;
                let _ = soname_strings(&d, &f, 64);
                let _ = f.imports().count();
            }
        }
        assert!(ok > 0);
    }
}
