//! Syscall names and numbers per architecture, taken from the `syscalls` crate's
//! tables (generated from the Linux kernel's syscall tables; see that crate's
//! `src/arch/*.rs` headers) and never from the host's headers at run time.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A CPU architecture whose native syscall ABI we can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    /// The libseccomp / OCI architecture constant for this ABI.
    pub fn scmp_arch(self) -> &'static str {
        match self {
            Arch::X86_64 => "SCMP_ARCH_X86_64",
            Arch::Aarch64 => "SCMP_ARCH_AARCH64",
        }
    }

    /// The OCI image-config spelling (`amd64`, `arm64`).
    pub fn oci_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "amd64",
            Arch::Aarch64 => "arm64",
        }
    }

    /// Parse an OCI (`amd64`) or kernel (`x86_64`) architecture name.
    pub fn from_name(s: &str) -> Option<Arch> {
        match s {
            "amd64" | "x86_64" | "x86-64" => Some(Arch::X86_64),
            "arm64" | "aarch64" => Some(Arch::Aarch64),
            _ => None,
        }
    }

    /// Name of syscall number `nr`, if the table knows it.
    pub fn name(self, nr: u32) -> Option<&'static str> {
        let nr = usize::try_from(nr).ok()?;
        match self {
            Arch::X86_64 => syscalls::x86_64::Sysno::new(nr).map(|s| s.name()),
            Arch::Aarch64 => syscalls::aarch64::Sysno::new(nr).map(|s| s.name()),
        }
    }

    /// Number of the syscall called `name`.
    pub fn number(self, name: &str) -> Option<u32> {
        match self {
            Arch::X86_64 => name
                .parse::<syscalls::x86_64::Sysno>()
                .ok()
                .and_then(|s| u32::try_from(s.id()).ok()),
            Arch::Aarch64 => name
                .parse::<syscalls::aarch64::Sysno>()
                .ok()
                .and_then(|s| u32::try_from(s.id()).ok()),
        }
    }

    /// Every syscall of this ABI as `(number, name)`, in number order.
    pub fn all(self) -> Vec<(u32, &'static str)> {
        let mut v: Vec<(u32, &'static str)> = match self {
            Arch::X86_64 => syscalls::x86_64::Sysno::iter()
                .filter_map(|s| Some((u32::try_from(s.id()).ok()?, s.name())))
                .collect(),
            Arch::Aarch64 => syscalls::aarch64::Sysno::iter()
                .filter_map(|s| Some((u32::try_from(s.id()).ok()?, s.name())))
                .collect(),
        };
        v.sort_unstable();
        v
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x86_64_numbers_match_the_kernel_abi() {
        // Spot checks against arch/x86/entry/syscalls/syscall_64.tbl.
        assert_eq!(Arch::X86_64.name(0), Some("read"));
        assert_eq!(Arch::X86_64.name(15), Some("rt_sigreturn"));
        assert_eq!(Arch::X86_64.name(231), Some("exit_group"));
        assert_eq!(Arch::X86_64.name(435), Some("clone3"));
        assert_eq!(Arch::X86_64.number("openat2"), Some(437));
        assert_eq!(Arch::X86_64.number("no_such_call"), None);
        assert_eq!(Arch::X86_64.name(100_000), None);
        assert!(Arch::X86_64.all().len() > 350);
    }

    #[test]
    fn aarch64_has_no_legacy_open() {
        assert_eq!(Arch::Aarch64.number("open"), None);
        assert_eq!(Arch::Aarch64.number("openat"), Some(56));
    }
}
