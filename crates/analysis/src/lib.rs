//! Syscall analysis of x86-64 machine code: per-object summaries (functions, call
//! edges, syscall sites with constant-propagated numbers, wrappers, address-taken
//! functions) and the whole-program reachability that turns them into a syscall set.
//!
//! Policies (each a documented over-approximation or model, never a silent drop):
//! - indirect calls reach every address-taken function of the program (taken in
//!   data anywhere, or in the code of a reachable function) once any indirect
//!   call site is reachable;
//! - the vDSO fallbacks [`VDSO_FALLBACKS`] are always added; the kernel signal
//!   trampolines [`SIGNAL_TRAMPOLINE`] are added when `rt_sigaction` is reachable;
//! - glibc's setxid broadcast sites add nothing beyond the reachable set-id
//!   functions' own sites ([`SETXID_SYSCALLS`]);
//! - an address-taken syscall wrapper takes its number from every reachable
//!   indirect call/jump site (any of them may enter it); it stays open when one
//!   of them passes a non-constant, or when signal handlers can be installed or
//!   `setcontext`/`swapcontext` is reachable (entries without a call site);
//! - a direct call passing a constant a callee tests (in a register, or in
//!   the frame slot a non-Go callee spilled it to) enters it in that
//!   [`ArgContext`]: the sites that constant rules out stay dead until some
//!   other entry can run them; a callee's calls to itself that pass only
//!   constants of the same context group keep the context;
//! - sites that run only when a local thread-local variable is non-zero
//!   ([`TlsGate`]) stay dead until a function that sets it is reachable;
//! - a syscall number that stays unknown in reachable code makes the result a
//!   `wildcard` with an explicit [`Unresolved`] entry.

mod cache;
mod lsda;
mod object;
mod program;
mod value;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

pub use cache::{digest, SummaryCache};
pub use object::{analyze_object, MUSL_SETXID_SYSCALLS, SETXID_SYSCALLS};
pub use program::{
    analyze_objects, analyze_objects_hashed, analyze_program, analyze_program_dynamic,
    bind_first_definition, Frame, ImportBinding, ObjectRef, ProgramInput, ProgramResult, Witness,
    WitnessKind, LOADER_CALLED, SIGNAL_TRAMPOLINE, VDSO_FALLBACKS,
};
pub use value::Val;

/// Bumped whenever the summary format or the analysis changes meaning; part of
/// every cache key.
pub const ANALYSIS_VERSION: &str = "confine-analysis-21";

/// Bounds on the work done for one object (hostile input must not make the
/// analysis run forever or allocate without bound).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Limits {
    /// Instructions decoded per object before the summary is marked truncated.
    pub max_instructions: u64,
    /// Functions analysed per object.
    pub max_functions: usize,
    /// Entries read from one jump table.
    pub max_jump_table_entries: usize,
    /// Bytes of data sections scanned for code pointers (non-PIE executables).
    pub max_data_scan_bytes: u64,
    /// Dataflow block visits per function before giving up on precision.
    pub max_block_visits: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_instructions: 32_000_000,
            max_functions: 2_000_000,
            max_jump_table_entries: 4096,
            max_data_scan_bytes: 512 << 20,
            max_block_visits: 200_000,
        }
    }
}

/// Errors of the summary cache (the analysis itself never fails: damage becomes
/// diagnostics).
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    #[error("cannot create cache directory {path}: {source}")]
    CacheDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write cache entry {path}: {source}")]
    CacheWrite {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot encode summary for object {digest}: {source}")]
    Encode {
        digest: String,
        source: serde_json::Error,
    },
}

/// What one object looks like to the whole-program analysis.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ObjectSummary {
    pub version: String,
    /// False for non-x86-64 objects: nothing was analysed.
    pub supported: bool,
    /// ELF entry point (used as a root only for the executable and the interpreter).
    pub entry: Option<u64>,
    /// Loader-run roots: DT_INIT/DT_FINI, preinit/init/fini arrays, IFUNC resolvers.
    pub roots: Vec<Root>,
    /// IFUNC resolver addresses (symbols of type IFUNC, IRELATIVE addends).
    pub ifunc_resolvers: Vec<u64>,
    /// Functions, sorted by address.
    pub functions: Vec<FunctionSummary>,
    /// Function addresses stored in data: relocation addends and, for non-PIE
    /// executables, data words equal to a function start.
    pub data_address_taken: Vec<u64>,
    /// Imported symbols whose address is stored in data (ABS64 relocations).
    pub data_import_refs: Vec<ImportRef>,
    /// Exported functions (defined global/weak FUNC/IFUNC dynamic symbols),
    /// sorted: roots when the object is loaded at run time (dlopen, NSS).
    #[serde(default)]
    pub exports: Vec<u64>,
    /// Address-taken functions whose addresses never leave this object, with
    /// every indirect call site that may enter them (see `object/confine.rs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confined: Option<ConfinedPointers>,
    /// Regions of `.data.rel.ro` and `.data` whose stored addresses count only once
    /// they are live (see `object/liveness.rs`); None: all data is live, and
    /// `data_address_taken`/`data_import_refs` hold every stored address.
    /// When present, those two hold only the addresses stored elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<DataRegions>,
    /// Per gated thread-local variable, its setters (see `object/tls.rs`):
    /// a function's [`FunctionSummary::tls_gates`] sites stay dead until
    /// one of them is reachable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tls_setters: Vec<TlsSetters>,
    pub stats: Stats,
    pub diagnostics: Vec<Diagnostic>,
}

/// Functions reachable only through pointers that stay inside their object.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ConfinedPointers {
    /// The functions, sorted.
    pub targets: Vec<u64>,
    /// The only indirect call or jump sites (of this object) that may enter
    /// them, sorted.
    pub sites: Vec<u64>,
    /// Imports the proof followed into this object's own definition: it holds
    /// only where each binds to that definition.
    pub binds: Vec<ImportRef>,
}

/// Read-only data cut at every referenced address (see `object/liveness.rs`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct DataRegions {
    /// Regions live whatever code runs: exported data symbols, pointers
    /// stored in other sections, unwind data's slots. Sorted.
    pub roots: Vec<u32>,
    pub regions: Vec<DataRegion>,
}

/// One region of read-only data, `[start, end)`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct DataRegion {
    pub start: u64,
    pub end: u64,
    /// Local functions whose addresses it stores, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub code: Vec<u64>,
    /// Imported symbols whose addresses it stores, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub imports: Vec<ImportRef>,
    /// Regions its stored data addresses reach, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub next: Vec<u32>,
}

/// A loader-run root.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Root {
    pub addr: u64,
    pub kind: RootKind,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub enum RootKind {
    Init,
    Fini,
    PreinitArray,
    InitArray,
    FiniArray,
    IfuncResolver,
}

/// Counts for reports and tests.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Stats {
    pub instructions: u64,
    pub functions: usize,
    pub syscall_sites: usize,
    pub indirect_calls: usize,
    pub indirect_jumps: usize,
    pub jump_tables: usize,
    pub truncated: bool,
}

/// One function.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct FunctionSummary {
    pub addr: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Direct calls and tail jumps, sorted by site.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calls: Vec<Call>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub syscalls: Vec<SyscallSite>,
    /// Indirect call/jump sites (not proven jump tables).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indirect_sites: Vec<u64>,
    /// Argument registers at indirect call/jump sites, as in [`Call::args`],
    /// sorted by site; a site not listed passes nothing known. Any of these
    /// sites may enter an address-taken syscall wrapper.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indirect_args: Vec<IndirectArgs>,
    /// Local function addresses taken in this function's code (lea, immediates).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addr_refs: Vec<u64>,
    /// Imported functions whose address this function loads from the GOT.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub import_refs: Vec<ImportRef>,
    /// Data regions ([`ObjectSummary::data`]) this function's code refers to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_refs: Vec<u32>,
    /// Sites that cannot run when the function is entered with one of its
    /// tested arguments equal to a constant (at most a few per function).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contexts: Vec<ArgContext>,
    /// Sites that run only when a thread-local variable of this object is
    /// non-zero ([`ObjectSummary::tls_setters`] names what sets it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tls_gates: Vec<TlsGate>,
}

/// Sites of a function that run only when the local initial-exec TLS
/// variable whose offset GOT slot `slot` holds is non-zero.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TlsGate {
    pub slot: u64,
    /// Sorted.
    pub dead: Vec<u64>,
}

/// The functions that may make a gated TLS variable non-zero.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TlsSetters {
    pub slot: u64,
    /// Sorted.
    pub functions: Vec<u64>,
}

/// The call, syscall and indirect sites of a function that no path reaches
/// when argument `arg` (0..=5: rdi, rsi, rdx, rcx, r8, r9) is `value` at
/// entry: branches on that argument are decided by the constant. A direct
/// call passing exactly that constant enters the function in this context.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ArgContext {
    pub arg: u8,
    pub value: u32,
    /// Sorted.
    pub dead: Vec<u64>,
    /// Direct calls of the function to itself that, in this context, pass
    /// for `arg` a value of a context with the same dead sites (glibc's
    /// `glob` recursing with its flags changed but its tilde bits still
    /// clear): they keep the context rather than open it. Sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub closed: Vec<u64>,
}

/// A direct call or tail jump.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Call {
    pub site: u64,
    pub target: Target,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tail: bool,
    /// Values of rdi, rsi, rdx, rcx, r8, r9 and rax at the site; kept only
    /// where the callee may be a syscall wrapper (trailing unknowns dropped).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<Val>,
}

/// Values of rdi, rsi, rdx, rcx, r8, r9 and rax at an indirect call or jump
/// (trailing unknowns dropped).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct IndirectArgs {
    pub site: u64,
    pub args: Vec<Val>,
}

/// Where a direct call goes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    Local(u64),
    Import(ImportRef),
    /// Through an IRELATIVE PLT slot: whatever the resolver at this address returns.
    Ifunc(u64),
}

/// An imported symbol (bound by the whole-program binding); `local` is this
/// object's own definition, used when the binding has nothing for it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImportRef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<u64>,
}

/// A `syscall` instruction and the value of rax there.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SyscallSite {
    pub site: u64,
    pub nr: Val,
}

/// Something the analysis could not see through, or a notable fact.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Diagnostic {
    pub kind: DiagKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<u64>,
    pub message: String,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DiagKind {
    /// `int 0x80` (32-bit syscall table) in the code.
    Int80,
    /// `sysenter` in the code.
    Sysenter,
    /// A syscall number that constant propagation could not recover.
    UnresolvedSyscall,
    /// An import with no definition in the program.
    UnboundImport,
    /// Undecodable bytes on a control-flow path.
    DecodeError,
    /// An indirect jump that is not a recognised jump table.
    UnresolvedJump,
    /// A limit was hit; the summary is incomplete.
    Truncated,
    /// Not x86-64: not analysed.
    Unsupported,
    /// A site resolved by a documented model rather than by propagation.
    Modelled,
}

/// A syscall site (or wrapper call site) whose number stays unknown.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Unresolved {
    pub object: String,
    pub function: String,
    pub site: u64,
    pub reason: String,
}
