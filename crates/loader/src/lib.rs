//! confine-loader: every piece of code that can run in an image (programs, their ld.so/musl
//! load closure, symbol bindings, and what they load at run time: NSS, gconv, dlopen,
//! interpreter extensions).
//!
//! The search rules follow glibc 2.36's `_dl_map_object` and musl's `load_library`; see
//! `closure.rs` for the exact order. What static reading cannot know, and how it is
//! approximated (always by loading more, never less):
//! - the CPU: every existing `glibc-hwcaps`/legacy hwcaps variant is added as run-time loaded;
//!   `$LIB` and `$PLATFORM` expand to every candidate that exists;
//! - setuid/setgid executables run in secure mode: LD_LIBRARY_PATH and LD_PRELOAD are ignored
//!   for them (glibc would still honour some preloads from system folders);
//! - NSS: triggered when any object imports an entry point of [`nss::NSS_FUNCTIONS`]; the
//!   databases it reaches select the services of the image's nsswitch.conf (glibc defaults
//!   when absent); `files`/`dns` are built into glibc 2.36 but their modules are added when
//!   present. Static glibc programs (no imports) never trigger NSS here;
//! - gconv: every module of the image's gconv-modules configs when iconv_open is imported
//!   (locale-driven conversions through setlocale are not modelled);
//! - dlopen: library-name strings in read-only data of objects importing dlopen (and of
//!   libc.so.6); computed names are an [`DiagKind::Undecided`] diagnostic per object;
//! - interpreters (python, perl, node, ruby, php, java): every native extension module in
//!   their usual folders; which ones a script imports is not known;
//! - wrappers: argv words after argv\[0\] (and the commands of `sh -c STRING`) that name an
//!   executable of the image are roots too (`exec "$@"` entrypoint scripts);
//! - shell scripts (`#!` sh, bash, dash, ash): every command their text can run, in any
//!   branch ([`script`]), is a root with [`Reason::ScriptCommand`]; sourced scripts are
//!   scanned too; commands named by expansions are an [`DiagKind::Undecided`] diagnostic;
//! - observed runs: executables ([`Roots::observed`]) and the shared objects each mapped
//!   ([`Roots::observed_objects`]) join the closure with [`Reason::Observed`].
//!
//! Symbol binding follows `do_lookup_x`: an unversioned reference takes a definition with
//! version index <= 2 (the oldest version, as for old binaries) or else the unique default.

mod bind;
mod closure;
pub mod exec;
pub mod facts;
pub mod fs;
pub mod ldcache;
pub mod ldconf;
pub mod nss;
pub mod script;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub use fs::{FileSystem, HostDir};

/// Which rule of the loader's search found an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SearchRule {
    Rpath,
    LdLibraryPath,
    Runpath,
    LdSoCache,
    LdSoConf,
    DefaultDir,
    /// A `glibc-hwcaps/x86-64-v*` (or legacy `tls`/`x86_64`) variant of a searched folder.
    HwcapsSubdir,
    /// A path produced by `$ORIGIN` (in a name, RPATH, RUNPATH or LD_LIBRARY_PATH).
    Origin,
    MuslPath,
    /// A name containing '/', used as is (relative to the working folder).
    Absolute,
}

/// Why a program or object is part of the closure.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Reason {
    Entrypoint,
    PathLookup {
        name: String,
        dir: String,
    },
    Interpreter {
        script: String,
    },
    Needed {
        by: String,
        name: String,
        rule: SearchRule,
    },
    Preload {
        source: String,
    },
    Nss {
        service: String,
        database: String,
    },
    Gconv {
        module: String,
    },
    Dlopen {
        by: String,
        string: String,
    },
    Observed,
    UserListed,
    AllBinaries,
    Extension {
        of: String,
    },
    /// A command a shell script can run, found by scanning its text statically.
    ScriptCommand {
        script: String,
        command: String,
    },
}

/// One ELF object of the image, shared by every program that loads it.
#[derive(Debug, Clone)]
pub struct LoadedObject {
    /// Canonical path inside the image.
    pub path: String,
    pub data: Arc<[u8]>,
    /// Hex SHA-256 of `data`.
    pub sha256: String,
    /// The loader's own view of the object (dynamic section, dynsyms with raw version
    /// indices, read-only data ranges): what the search and binding rules use.
    pub facts: facts::Facts,
    /// Full ELF facts from `confine_elf::parse` for later stages. `ElfInfo::default()` with
    /// a warning (and a diagnostic) when confine-elf rejects a file the loader accepted.
    pub elf: confine_elf::ElfInfo,
}

/// An import of one object bound to its definition, as ld.so binds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// Index into `Closure::objects` of the importing object.
    pub from: usize,
    pub symbol: String,
    /// The version the reference asks for (from verneed).
    pub version: Option<String>,
    /// Defining object index and symbol value; None when nothing defines it.
    pub to: Option<(usize, u64)>,
    /// The reference is weak (unresolved is fine).
    pub weak: bool,
    /// The definition is STT_GNU_IFUNC: `to`'s address is a resolver, not the function.
    pub ifunc: bool,
}

/// One program the image can run, with everything its loader maps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Program {
    /// Canonical path of the executable.
    pub path: String,
    pub why: Vec<Reason>,
    /// Index into `Closure::objects` of PT_INTERP's object (ld.so or musl's libc).
    pub interp: Option<usize>,
    /// Global scope in load order: exe first, then preloads, then DT_NEEDED breadth-first
    /// (ld.so where DT_NEEDED puts it, or last).
    pub load_order: Vec<usize>,
    /// Parallel to `load_order`: why each object is there.
    pub load_reasons: Vec<Reason>,
    /// Objects loaded at run time (NSS, gconv, dlopen, extensions) and their dependencies.
    pub runtime_loaded: Vec<(usize, Reason)>,
    /// Imports of every object above bound to their definitions.
    pub bindings: Vec<Binding>,
    /// musl program (musl's search rules applied).
    pub musl: bool,
}

/// What kind of problem a diagnostic reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DiagKind {
    MissingLibrary,
    BrokenSymlink,
    WrongClass,
    NotElf,
    Unreadable,
    Config,
    Limit,
    /// Something the loader may do at run time that static reading cannot decide (dlopen).
    Undecided,
    UnresolvedSymbols,
    NotExecutable,
}

/// A problem found while building the closure: never fatal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Diagnostic {
    /// The program concerned, when there is one.
    pub program: Option<String>,
    pub kind: DiagKind,
    /// The file inside the image the message is about.
    pub path: String,
    pub message: String,
}

/// Errors met while building a closure; each becomes a [`Diagnostic`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoaderError {
    #[error("library {name} needed by {by} not found")]
    NotFound { name: String, by: String },
    #[error("{path}: broken symlink")]
    BrokenSymlink { path: String },
    #[error("{path}: skipped, {found} does not match the program's {want}")]
    WrongClass {
        path: String,
        found: String,
        want: String,
    },
    #[error("{path}: not a loadable ELF object: {reason}")]
    NotElf { path: String, reason: String },
    #[error("{path}: cannot read: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("{path}: unusable config: {reason}")]
    Config { path: String, reason: String },
    #[error("{path}: limit {what} = {limit} reached")]
    Limit {
        path: String,
        what: &'static str,
        limit: u64,
    },
    #[error("{path}: {reason}")]
    Undecided { path: String, reason: String },
    #[error("{path}: {count} strong symbol references unresolved: {names}")]
    Unresolved {
        path: String,
        count: usize,
        names: String,
    },
    #[error("{path}: cannot be executed: {reason}")]
    NotExecutable { path: String, reason: String },
    #[error("/etc/ld.so.cache: no ld.so.cache magic")]
    CacheBadMagic,
    #[error("/etc/ld.so.cache: truncated, {nlibs} entries do not fit in {size} bytes")]
    CacheTruncated { nlibs: u64, size: usize },
    #[error("/etc/ld.so.cache: big-endian, x86-64 ld.so would ignore it")]
    CacheWrongEndian,
}

impl LoaderError {
    pub fn kind(&self) -> DiagKind {
        match self {
            LoaderError::NotFound { .. } => DiagKind::MissingLibrary,
            LoaderError::BrokenSymlink { .. } => DiagKind::BrokenSymlink,
            LoaderError::WrongClass { .. } => DiagKind::WrongClass,
            LoaderError::NotElf { .. } => DiagKind::NotElf,
            LoaderError::Unreadable { .. } => DiagKind::Unreadable,
            LoaderError::Config { .. } => DiagKind::Config,
            LoaderError::Limit { .. } => DiagKind::Limit,
            LoaderError::Undecided { .. } => DiagKind::Undecided,
            LoaderError::Unresolved { .. } => DiagKind::UnresolvedSymbols,
            LoaderError::NotExecutable { .. } => DiagKind::NotExecutable,
            LoaderError::CacheBadMagic
            | LoaderError::CacheTruncated { .. }
            | LoaderError::CacheWrongEndian => DiagKind::Config,
        }
    }
    pub fn path(&self) -> &str {
        match self {
            LoaderError::NotFound { by, .. } => by,
            LoaderError::BrokenSymlink { path }
            | LoaderError::WrongClass { path, .. }
            | LoaderError::NotElf { path, .. }
            | LoaderError::Unreadable { path, .. }
            | LoaderError::Config { path, .. }
            | LoaderError::Limit { path, .. }
            | LoaderError::Undecided { path, .. }
            | LoaderError::Unresolved { path, .. }
            | LoaderError::NotExecutable { path, .. } => path,
            LoaderError::CacheBadMagic
            | LoaderError::CacheTruncated { .. }
            | LoaderError::CacheWrongEndian => "/etc/ld.so.cache",
        }
    }
    pub fn diagnostic(&self, program: Option<&str>) -> Diagnostic {
        Diagnostic {
            program: program.map(str::to_owned),
            kind: self.kind(),
            path: self.path().to_owned(),
            message: self.to_string(),
        }
    }
}

/// Everything that can run in an image.
#[derive(Debug, Clone, Default)]
pub struct Closure {
    pub programs: Vec<Program>,
    pub objects: Vec<LoadedObject>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Where to start: the container's command and anything else known to run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roots {
    /// argv: ENTRYPOINT followed by CMD.
    pub entrypoint: Vec<String>,
    /// The image env (`KEY=VALUE`): PATH, LD_LIBRARY_PATH, LD_PRELOAD, GCONV_PATH.
    pub env: Vec<String>,
    /// Working folder for relative names ("/" when empty).
    pub workdir: String,
    /// User-listed program paths (`--binary`).
    pub extra: Vec<String>,
    /// Every ELF executable in the image.
    pub all_binaries: bool,
    /// Paths seen executed in an observed run.
    pub observed: Vec<String>,
    /// Shared objects seen mapped by a program in an observed run; added to that
    /// program's run-time loads (with their DT_NEEDED) when its closure lacks them.
    #[serde(default)]
    pub observed_objects: Vec<ObservedObject>,
}

/// A shared object an executable mapped in an observed run (paths inside the image).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObservedObject {
    /// The executable that mapped it.
    pub program: String,
    /// The mapped file.
    pub path: String,
}

/// Bounds on the work done for one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub max_objects_per_program: usize,
    pub max_total_objects: usize,
    pub max_programs: usize,
    /// DT_NEEDED depth.
    pub max_depth: u32,
    /// Directory entries looked at while expanding globs and scanning extension folders.
    pub max_dir_entries: usize,
    /// `#!` interpreter nesting.
    pub max_script_depth: u32,
    pub max_config_bytes: usize,
    pub max_object_bytes: u64,
    /// Library-name strings taken from one dlopen-importing object.
    pub max_dlopen_strings: usize,
    /// Extension modules taken per interpreter.
    pub max_extensions: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_objects_per_program: 4096,
            max_total_objects: 50_000,
            max_programs: 20_000,
            max_depth: 64,
            max_dir_entries: 1_000_000,
            max_script_depth: 8,
            max_config_bytes: 1 << 20,
            max_object_bytes: 1 << 30,
            max_dlopen_strings: 256,
            max_extensions: 4096,
        }
    }
}

impl Closure {
    /// The program whose canonical path is `path`.
    pub fn program(&self, path: &str) -> Option<&Program> {
        self.programs.iter().find(|p| p.path == path)
    }
}

/// Build the closure of everything `roots` can run in `root` (a `confine_image::Vroot`, or
/// any other [`FileSystem`]). Never fails: problems become [`Closure::diagnostics`].
pub fn build_closure(root: &dyn FileSystem, roots: &Roots, limits: &Limits) -> Closure {
    closure::Builder::new(root, roots, limits).run()
}
