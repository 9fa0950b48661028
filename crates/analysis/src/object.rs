//! Per-object analysis: function discovery, recursive-descent decoding inside
//! functions, basic blocks, constant propagation of registers, syscall sites,
//! direct/import/indirect calls and address-taken functions.

use crate::value::AVal;
use crate::{
    ArgContext, Call, DiagKind, Diagnostic, FunctionSummary, ImportRef, IndirectArgs, Limits,
    ObjectSummary, Root, RootKind, Stats, SyscallSite, Target, TlsGate, TlsSetters, Val,
    ANALYSIS_VERSION,
};
use confine_elf::{ElfInfo, ElfKind, Machine, RelocKind, SymKind};
use iced_x86::{
    Decoder, DecoderOptions, FlowControl, Instruction, InstructionInfoFactory, Mnemonic, OpAccess,
    OpKind, Register, RflagsBits,
};
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

mod confine;
mod escape;
pub(crate) mod liveness;
mod tls;

/// What discovery saw referencing a Go binary's `.noptrdata` (pointer-free
/// package variables), by address.
#[derive(Default)]
struct GoRefs {
    /// 8-byte loads into a 64-bit register (`mov r64, [rip+x]`).
    loads: Vec<u64>,
    /// Writes: address and size.
    writes: Vec<(u64, u64)>,
    /// Addresses formed in code (`lea`, immediates).
    addrs: Vec<u64>,
    /// Addresses stored in data (aligned words, relocation addends).
    stored: Vec<u64>,
}

/// How far below a package word an address formed in code still counts as
/// reaching it (a field of an enclosing struct).
const GO_WORD_WINDOW: u64 = 64;

/// An address loaded into a register, taken only if it escapes.
#[derive(Clone, Debug)]
enum Cand {
    Local(u64),
    Import(ImportRef),
}

/// Diagnostics kept per kind and object (the rest are only counted).
const MAX_DIAGS_PER_KIND: usize = 64;
const SHT_NOBITS: u32 = 8;

/// Functions that never return: a call to one ends the path (no fall-through
/// into padding or the next function).
const NORETURN: [&str; 24] = [
    "__stack_chk_fail",
    "__stack_chk_fail_local",
    "abort",
    "exit",
    "_exit",
    "_Exit",
    "__assert_fail",
    "__assert_perror_fail",
    "__fortify_fail",
    "__chk_fail",
    "__libc_fatal",
    "pthread_exit",
    "__pthread_exit",
    "__cxa_throw",
    "__cxa_rethrow",
    "_Unwind_Resume",
    "longjmp",
    "siglongjmp",
    "__longjmp_chk",
    "err",
    "errx",
    "verr",
    "verrx",
    "quick_exit",
];

/// glibc's setxid broadcast (`__nptl_setxid` and its SIGSETXID handler) issues
/// `xidcmd->syscall_no`, which glibc only ever sets to one of these (setuid,
/// setgid, setreuid, setregid, setgroups, setresuid, setresgid), and only in
/// the set-id function that issues the same number itself when the process is
/// single-threaded (`INLINE_SETXID_SYSCALL`: both branches in one function).
/// So the broadcast adds no number beyond the direct sites of the reachable
/// set-id functions: its sites are modelled as adding nothing. Applied only in
/// glibc's libc.so.6 and in static executables carrying glibc's sections, only
/// to sites whose number is loaded from offset 0 of a pointer (`mov eax, [reg]`).
pub const SETXID_SYSCALLS: [u32; 7] = [105, 106, 113, 114, 116, 117, 119];

/// musl's set-id functions run `do_setxid` on every thread through
/// `__synccall`; it issues `c->nr` from `struct ctx { int id, eid, sid, nr,
/// ret; }`, which only `__setxid` fills, with one of these (setuid, setgid,
/// setreuid, setregid, setresuid, setresgid; seteuid and setegid use the
/// setres ones). The callers never issue the number themselves, so the site
/// stands for all six. Applied only in musl's libc (an object defining the
/// loader stage `__dls2b`) and in executables with a `do_setxid` symbol, only
/// to sites whose number is a 32-bit load from offset 12 of a pointer
/// (`movsxd rax, dword [reg+12]`).
pub const MUSL_SETXID_SYSCALLS: [u32; 6] = [105, 106, 113, 114, 117, 119];

const RAX: usize = 0;
const RCX: usize = 1;
const RDX: usize = 2;
const RSI: usize = 6;
const RDI: usize = 7;
const R8: usize = 8;
const R9: usize = 9;
const R11: usize = 11;
/// rdi, rsi, rdx, rcx, r8, r9, then rax (argument index 6).
const ARG_REGS: [usize; 7] = [RDI, RSI, RDX, RCX, R8, R9, RAX];
/// Argument index of the first stack argument (`[rsp+8]` at entry).
const STACK_ARG: u8 = 7;
/// rax, rcx, rdx, rsi, rdi, r8-r11.
const CALLER_SAVED_MASK: u16 = 0b0000_1111_1100_0111;
/// Go's register ABI: every register but rsp, rbp and r14 (g).
const GO_CLOBBERED: u16 = !((1 << 4) | (1 << 5) | (1 << 14));

/// Stack slots tracked per function (Go objects: `[rsp+d]` spills of
/// register arguments, reloaded after calls).
const SLOTS: usize = 8;
/// State index of rsp's offset from its value at entry (a constant when known).
const DELTA: usize = 16;
/// Registers 0..16, rsp's delta, then the tracked stack slots (keyed by their
/// offset from rsp at entry: 8 is the first stack argument).
type State = [AVal; 17 + SLOTS];
const TOP: State = [AVal::UNKNOWN; 17 + SLOTS];

/// rsp's offset from entry, when known.
fn delta(st: &State) -> Option<i64> {
    st.get(DELTA)?.single().map(|v| i64::from(v as i32))
}

fn set_delta(st: &mut State, d: Option<i64>) {
    st[DELTA] = match d.and_then(|d| i32::try_from(d).ok()) {
        Some(d) => AVal::konst(u64::from(d as u32)),
        None => AVal::UNKNOWN,
    };
}

fn gpr(r: Register) -> Option<usize> {
    let f = r.full_register() as u32;
    let i = f.wrapping_sub(Register::RAX as u32);
    if i < 16 {
        usize::try_from(i).ok()
    } else {
        None
    }
}

/// A 32- or 64-bit general register (writes to these replace the whole register).
fn gpr_wide(r: Register) -> Option<usize> {
    if r.is_gpr32() || r.is_gpr64() {
        gpr(r)
    } else {
        None
    }
}

struct Exec<'d> {
    start: u64,
    bytes: &'d [u8],
}

struct Ctx<'d> {
    data: &'d [u8],
    elf: &'d ElfInfo,
    limits: &'d Limits,
    exec: Vec<Exec<'d>>,
    plt_ranges: Vec<(u64, u64)>,
    plt: HashMap<u64, Target>,
    got: HashMap<u64, ImportRef>,
    /// GOT slots holding a local function's address (R_X86_64_RELATIVE, as
    /// static-pie links every former import): calls through them are direct.
    got_local: HashMap<u64, u64>,
    /// Discovery saw an address inside the GOT formed in code (`lea`: the
    /// large code model's GOT base), so slots may be read without naming them.
    got_formed: bool,
    got_ranges: Vec<(u64, u64)>,
    /// GOT slots of TLS indices (DTPMOD64, TLSDESC): general-dynamic code
    /// forms their address for `__tls_get_addr`, which is no GOT base.
    tls_slots: HashSet<u64>,
    /// Gate candidates (see `tls`): GOT slots of local initial-exec TLS
    /// variables that start as 0.
    tls_candidates: HashSet<u64>,
    /// The last analysed function's use of them (taken by the worker).
    tls_facts: Option<TlsFacts>,
    starts: BTreeSet<u64>,
    non_pie: bool,
    /// Functions of this object that return twice (`setjmp`, `vfork`, ...):
    /// a frame slot may change between the two returns.
    returns_twice: HashSet<u64>,
    factory: InstructionInfoFactory,
    /// Function names by address (symbols, Go table).
    names: BTreeMap<u64, String>,
    /// glibc's setxid broadcast model applies (see [`SETXID_SYSCALLS`]).
    setxid_model: bool,
    /// musl's setxid model applies (see [`MUSL_SETXID_SYSCALLS`]).
    musl_setxid_model: bool,
    /// C++ landing pads by FDE start.
    landing: BTreeMap<u64, Vec<u64>>,
    /// Go functions' argument area sizes (`_func.args`), by entry.
    go_args: HashMap<u64, u32>,
    /// Go: `.noptrdata`'s range while discovery records references to it
    /// (None in worker forks).
    go_data: Option<(u64, u64)>,
    go_refs: GoRefs,
    /// Go package words read as constants (see [`go_constants`]).
    go_consts: HashMap<u64, u64>,
    /// Windows around data slots holding code addresses, and the
    /// rip-relative references discovery saw into them: (function, address).
    slot_windows: Vec<(u64, u64)>,
    slot_refs: Vec<(u64, u64)>,
    /// Rip-relative operands outside code that discovery saw: (function,
    /// address), for `liveness`.
    data_refs: Vec<(u64, u64)>,
    diags: Vec<Diagnostic>,
    diag_counts: HashMap<DiagKind, usize>,
    stats: Stats,
}

impl<'d> Ctx<'d> {
    /// A copy for one worker thread: the same object facts, no diagnostics,
    /// counts or decoder state of its own.
    fn fork(&self) -> Ctx<'d> {
        Ctx {
            data: self.data,
            elf: self.elf,
            limits: self.limits,
            exec: self
                .exec
                .iter()
                .map(|e| Exec {
                    start: e.start,
                    bytes: e.bytes,
                })
                .collect(),
            plt_ranges: self.plt_ranges.clone(),
            plt: self.plt.clone(),
            got: self.got.clone(),
            got_local: self.got_local.clone(),
            got_formed: false,
            got_ranges: self.got_ranges.clone(),
            tls_slots: self.tls_slots.clone(),
            tls_candidates: self.tls_candidates.clone(),
            tls_facts: None,
            starts: self.starts.clone(),
            non_pie: self.non_pie,
            returns_twice: self.returns_twice.clone(),
            factory: InstructionInfoFactory::new(),
            names: self.names.clone(),
            setxid_model: self.setxid_model,
            musl_setxid_model: self.musl_setxid_model,
            landing: self.landing.clone(),
            go_args: self.go_args.clone(),
            go_data: None,
            go_refs: GoRefs::default(),
            go_consts: self.go_consts.clone(),
            slot_windows: Vec::new(),
            slot_refs: Vec::new(),
            data_refs: Vec::new(),
            diags: Vec::new(),
            diag_counts: HashMap::new(),
            stats: Stats::default(),
        }
    }

    fn diag(&mut self, kind: DiagKind, site: Option<u64>, message: String) {
        let c = self.diag_counts.entry(kind).or_insert(0);
        *c += 1;
        if *c <= MAX_DIAGS_PER_KIND {
            self.diags.push(Diagnostic {
                kind,
                object: None,
                site,
                message,
            });
        }
    }

    /// Code bytes from `a` to the end of its executable section.
    fn code_at(&self, a: u64) -> Option<&'d [u8]> {
        let i = self.exec.partition_point(|e| e.start <= a).checked_sub(1)?;
        let e = self.exec.get(i)?;
        let off = usize::try_from(a - e.start).ok()?;
        e.bytes.get(off..).filter(|b| !b.is_empty())
    }

    fn exec_end(&self, a: u64) -> Option<u64> {
        let i = self.exec.partition_point(|e| e.start <= a).checked_sub(1)?;
        let e = self.exec.get(i)?;
        let end = e.start.checked_add(e.bytes.len() as u64)?;
        (a < end).then_some(end)
    }

    fn in_exec(&self, a: u64) -> bool {
        self.exec_end(a).is_some()
    }

    fn in_plt(&self, a: u64) -> bool {
        let i = self.plt_ranges.partition_point(|&(s, _)| s <= a);
        i.checked_sub(1)
            .and_then(|i| self.plt_ranges.get(i))
            .is_some_and(|&(_, e)| a < e)
    }

    /// What a direct call/jump to `t` reaches.
    fn classify(&self, t: u64) -> Option<Target> {
        if let Some(p) = self.plt.get(&t) {
            return Some(p.clone());
        }
        if self.in_exec(t) && !self.in_plt(t) {
            return Some(Target::Local(t));
        }
        None
    }
}

/// Dynamic symbols by name, built once per object.
struct SymIndex<'e> {
    /// Defined FUNC/IFUNC symbol address (first in table order).
    defined: HashMap<&'e str, u64>,
    /// Version required by an undefined symbol.
    undef_version: HashMap<&'e str, Option<String>>,
}

impl<'e> SymIndex<'e> {
    fn new(elf: &'e ElfInfo) -> Self {
        let mut defined = HashMap::new();
        let mut undef_version = HashMap::new();
        for s in &elf.dynsyms {
            if s.defined && matches!(s.kind, SymKind::Func | SymKind::IFunc) {
                defined.entry(s.name.as_str()).or_insert(s.addr);
            } else if !s.defined {
                undef_version
                    .entry(s.name.as_str())
                    .or_insert_with(|| s.version.clone());
            }
        }
        SymIndex {
            defined,
            undef_version,
        }
    }

    fn import_ref(&self, name: &str, version: Option<String>) -> ImportRef {
        ImportRef {
            name: name.to_string(),
            version: version.or_else(|| self.undef_version.get(name).cloned().flatten()),
            local: self.defined.get(name).copied(),
        }
    }
}

fn unsupported(elf: &ElfInfo) -> ObjectSummary {
    ObjectSummary {
        version: ANALYSIS_VERSION.to_string(),
        supported: false,
        diagnostics: vec![Diagnostic {
            kind: DiagKind::Unsupported,
            object: None,
            site: None,
            message: format!(
                "machine {:?} (64-bit: {}) is not analysed, only x86-64 is",
                elf.machine, elf.class64
            ),
        }],
        ..ObjectSummary::default()
    }
}

/// Analyse one object. Pure and deterministic: same bytes, same summary.
pub fn analyze_object(data: &[u8], elf: &ElfInfo, limits: &Limits) -> ObjectSummary {
    if elf.machine != Machine::X86_64 || !elf.class64 {
        return unsupported(elf);
    }
    let mut ctx = Ctx {
        data,
        elf,
        limits,
        exec: Vec::new(),
        plt_ranges: Vec::new(),
        plt: HashMap::new(),
        got: HashMap::new(),
        got_local: HashMap::new(),
        got_formed: false,
        tls_slots: HashSet::new(),
        tls_candidates: HashSet::new(),
        tls_facts: None,
        got_ranges: Vec::new(),
        starts: BTreeSet::new(),
        non_pie: elf.kind == ElfKind::Exec,
        returns_twice: elf
            .dynsyms
            .iter()
            .chain(elf.symtab.iter())
            .filter(|x| x.defined && returns_twice(&x.name))
            .map(|x| x.addr)
            .collect(),
        factory: InstructionInfoFactory::new(),
        names: BTreeMap::new(),
        setxid_model: false,
        musl_setxid_model: false,
        landing: BTreeMap::new(),
        go_args: HashMap::new(),
        go_data: None,
        go_refs: GoRefs::default(),
        go_consts: HashMap::new(),
        slot_windows: Vec::new(),
        slot_refs: Vec::new(),
        data_refs: Vec::new(),
        diags: Vec::new(),
        diag_counts: HashMap::new(),
        stats: Stats::default(),
    };
    // Executable bytes: sections when present, else segments.
    for s in &elf.sections {
        if s.alloc && s.exec && s.kind != SHT_NOBITS && s.size > 0 {
            if let Some(b) = usize::try_from(s.size)
                .ok()
                .and_then(|n| elf.bytes_at(data, s.addr, n))
            {
                ctx.exec.push(Exec {
                    start: s.addr,
                    bytes: b,
                });
            }
            if matches!(s.name.as_str(), ".plt" | ".plt.sec" | ".plt.got") {
                ctx.plt_ranges.push((s.addr, s.addr.saturating_add(s.size)));
            }
        }
    }
    if ctx.exec.is_empty() {
        for s in &elf.segments {
            if s.exec && s.filesz > 0 {
                if let Some(b) = usize::try_from(s.filesz)
                    .ok()
                    .and_then(|n| elf.bytes_at(data, s.vaddr, n))
                {
                    ctx.exec.push(Exec {
                        start: s.vaddr,
                        bytes: b,
                    });
                }
            }
        }
    }
    ctx.exec.sort_by_key(|e| e.start);
    let syms = SymIndex::new(elf);
    for p in &elf.plt {
        let t = if let Some(r) = p.irelative {
            Target::Ifunc(r)
        } else if let Some(s) = &p.sym {
            syms.import_ref(&s.name, s.version.clone()).into_target()
        } else {
            continue;
        };
        ctx.plt.insert(p.addr, t);
        if p.size > 0 {
            ctx.plt_ranges.push((p.addr, p.addr.saturating_add(p.size)));
        }
    }
    // Sorted, merged ranges for a binary search in `in_plt`.
    ctx.plt_ranges.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for (a, b) in std::mem::take(&mut ctx.plt_ranges) {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    ctx.plt_ranges = merged;
    for (slot, name) in &elf.got_imports {
        let r = syms.import_ref(name, None);
        ctx.got.insert(*slot, r);
    }

    // Roots and function starts.
    let mut roots: BTreeSet<Root> = BTreeSet::new();
    let mut resolvers: BTreeSet<u64> = BTreeSet::new();
    let mut names: BTreeMap<u64, String> = BTreeMap::new();
    let export_addrs: BTreeSet<u64> = elf
        .exports()
        .filter(|s| matches!(s.kind, SymKind::Func | SymKind::IFunc) && s.addr != 0)
        .map(|s| s.addr)
        .collect();
    let exports: HashSet<&str> = elf.exports().map(|s| s.name.as_str()).collect();
    // glibc itself: libc.so.6 exporting the set-id functions, or a static
    // executable carrying glibc's own sections.
    let glibc_sections = elf
        .sections
        .iter()
        .any(|s| s.name == "__libc_IO_vtables" || s.name == "__libc_freeres_fn");
    ctx.setxid_model = (elf.soname.as_deref() == Some("libc.so.6")
        && ["setuid", "setresgid", "setgroups", "__libc_start_main"]
            .iter()
            .all(|n| exports.contains(n)))
        || (glibc_sections && elf.kind == ElfKind::Exec && elf.interp.is_none());
    ctx.musl_setxid_model = elf.dynsyms.iter().any(|s| s.defined && s.name == "__dls2b")
        || elf
            .symtab
            .iter()
            .any(|s| s.defined && s.kind == SymKind::Func && s.name == "do_setxid")
        || (elf.needed.is_empty() && elf.soname.is_none() && has_musl_strerror(data, elf));
    for s in elf.dynsyms.iter().chain(elf.symtab.iter()) {
        if s.defined && s.addr != 0 && matches!(s.kind, SymKind::Func | SymKind::IFunc) {
            if ctx.in_exec(s.addr) && !ctx.in_plt(s.addr) {
                ctx.starts.insert(s.addr);
                if !s.name.is_empty() {
                    names.entry(s.addr).or_insert_with(|| s.name.clone());
                }
            }
            if s.kind == SymKind::IFunc {
                resolvers.insert(s.addr);
            }
        }
    }
    for &(start, _) in &elf.fdes {
        if ctx.in_exec(start) && !ctx.in_plt(start) {
            ctx.starts.insert(start);
        }
    }
    if let Some(g) = &elf.gopclntab {
        for f in &g.functions {
            if ctx.in_exec(f.entry) {
                ctx.starts.insert(f.entry);
                if let Some(a) = f.args {
                    ctx.go_args.insert(f.entry, a);
                }
                names.entry(f.entry).or_insert_with(|| f.name.clone());
            }
        }
        ctx.go_data = elf
            .sections
            .iter()
            .find(|s| s.name == ".noptrdata" && s.alloc && s.kind != SHT_NOBITS)
            .map(|s| (s.addr, s.addr.saturating_add(s.size)));
    }
    ctx.names = names.clone();
    let mut eh_slots: Vec<u64> = Vec::new();
    ctx.landing = crate::lsda::landing_pads(data, elf, &mut eh_slots);
    let entry = (elf.entry != 0 && ctx.in_exec(elf.entry)).then_some(elf.entry);
    if let Some(e) = entry {
        ctx.starts.insert(e);
    }
    let mut add_root = |ctx: &mut Ctx, a: u64, kind: RootKind| {
        if ctx.in_exec(a) && !ctx.in_plt(a) {
            ctx.starts.insert(a);
            roots.insert(Root { addr: a, kind });
        }
    };
    if let Some(a) = elf.init {
        add_root(&mut ctx, a, RootKind::Init);
    }
    if let Some(a) = elf.fini {
        add_root(&mut ctx, a, RootKind::Fini);
    }
    for &a in &elf.preinit_array {
        add_root(&mut ctx, a, RootKind::PreinitArray);
    }
    for &a in &elf.init_array {
        add_root(&mut ctx, a, RootKind::InitArray);
    }
    for &a in &elf.fini_array {
        add_root(&mut ctx, a, RootKind::FiniArray);
    }
    // Relocations: code addresses stored in data.
    let mut data_at: BTreeSet<u64> = BTreeSet::new();
    // (slot, code address) and data addresses stored by relocations.
    let mut code_slots: Vec<(u64, u64)> = Vec::new();
    ctx.got_ranges = elf
        .sections
        .iter()
        .filter(|s| matches!(s.name.as_str(), ".got" | ".got.plt") && s.alloc)
        .map(|s| (s.addr, s.addr.saturating_add(s.size)))
        .collect();
    ctx.tls_slots = elf
        .relocations
        .iter()
        .filter(|r| matches!(r.kind, RelocKind::Dtpmod64 | RelocKind::Tlsdesc))
        .map(|r| r.offset)
        .collect();
    ctx.tls_candidates = tls::candidate_slots(data, elf, &ctx.got_ranges);
    let mut data_slots: Vec<(u64, u64)> = Vec::new();
    let mut import_slots: Vec<(u64, ImportRef)> = Vec::new();
    for r in &elf.relocations {
        let target = match r.kind {
            RelocKind::Relative => Some(r.addend as u64),
            RelocKind::Irelative => {
                resolvers.insert(r.addend as u64);
                Some(r.addend as u64)
            }
            RelocKind::Abs64 => match &r.sym {
                Some(s) if s.defined => usize::try_from(s.index)
                    .ok()
                    .and_then(|i| elf.dynsyms.get(i))
                    .filter(|d| d.defined)
                    .map(|d| d.addr.wrapping_add(r.addend as u64)),
                Some(s) => {
                    import_slots.push((r.offset, syms.import_ref(&s.name, s.version.clone())));
                    None
                }
                None => Some(r.addend as u64),
            },
            _ => None,
        };
        if let Some(t) = target {
            let in_got = r.kind == RelocKind::Relative
                && ctx
                    .got_ranges
                    .iter()
                    .any(|&(a, b)| r.offset >= a && r.offset < b);
            if in_got && ctx.in_exec(t) && !ctx.in_plt(t) {
                // Reached through code that reads the slot (see `got_local`).
                ctx.starts.insert(t);
                ctx.got_local.insert(r.offset, t);
            } else if ctx.in_exec(t) && !ctx.in_plt(t) {
                ctx.starts.insert(t);
                code_slots.push((r.offset, t));
            } else {
                data_slots.push((r.offset, t));
            }
        }
    }
    ctx.slot_windows = merge_windows(code_slots.iter().map(|&(o, _)| slot_window(elf, o)));
    for &r in &resolvers {
        add_root(&mut ctx, r, RootKind::IfuncResolver);
    }
    if ctx.non_pie {
        scan_data_words(&mut ctx, &mut data_at);
    }

    // Decode and analyse every function, discovering more as we go.
    let mut queue: VecDeque<u64> = ctx.starts.iter().copied().collect();
    let mut done: HashSet<u64> = HashSet::new();
    let mut decoded: Vec<Decoded> = Vec::new();
    while let Some(f) = queue.pop_front() {
        if !done.insert(f) {
            continue;
        }
        if done.len() > limits.max_functions || ctx.stats.instructions >= limits.max_instructions {
            if !ctx.stats.truncated {
                ctx.stats.truncated = true;
                ctx.diag(
                    DiagKind::Truncated,
                    Some(f),
                    format!(
                        "limits reached after {} functions and {} instructions",
                        done.len(),
                        ctx.stats.instructions
                    ),
                );
            }
            break;
        }
        let (mut d, new_starts) = decode_function(&mut ctx, f, None);
        d.shrink();
        decoded.push(d);
        for s in new_starts {
            if ctx.starts.insert(s) || !done.contains(&s) {
                queue.push_back(s);
            }
        }
    }
    decoded.sort_by_key(|d| d.f);
    if let Some((lo, hi)) = ctx.go_data.take() {
        let mut refs = std::mem::take(&mut ctx.go_refs);
        ctx.go_consts = go_constants(&ctx, lo, hi, &mut refs);
        if !ctx.go_consts.is_empty() {
            let n = ctx.go_consts.len();
            ctx.diag(
                DiagKind::Modelled,
                None,
                format!(
                    "{n} Go package word(s) in .noptrdata read as constants: never written \
                     by name, no address to them formed (see go_constants)"
                ),
            );
        }
    }
    if ctx.got_formed {
        // The GOT's address is formed in code: its slots count as data.
        for (&slot, &t) in &ctx.got_local {
            data_at.insert(t);
            code_slots.push((slot, t));
        }
    }
    let replay: HashMap<u64, (u64, u64)> =
        decoded.iter().map(|d| (d.f, (d.bound, d.count))).collect();
    let clobber = clobber_masks(&decoded);
    let noret = noreturn_functions(&ctx, &decoded);
    // Functions are independent from here on: both cores, one forked context
    // per worker, results in address order.
    let base = &ctx;
    type Done = (FunctionSummary, Vec<Diagnostic>, Option<TlsFacts>);
    let done: Vec<Done> = decoded
        .into_par_iter()
        .map_init(
            || base.fork(),
            |c, mut d| {
                // Re-decode (quietly) for the dataflow: holding every
                // instruction of a large object at once would cost ~140 bytes
                // per instruction.
                let (again, _) = decode_function(c, d.f, Some((d.bound, d.count)));
                c.diags.clear();
                c.diag_counts.clear();
                d.insns = again.insns;
                d.targets = again.targets;
                d.leaders = again.leaders;
                d.landing = again.landing;
                let mut summary = dataflow(c, d, &clobber, &noret);
                summary.name = names.get(&summary.addr).cloned();
                c.diag_counts.clear();
                (summary, std::mem::take(&mut c.diags), c.tls_facts.take())
            },
        )
        .collect();
    let mut raw: Vec<FunctionSummary> = Vec::with_capacity(done.len());
    let mut tls_facts: Vec<(u64, TlsFacts)> = Vec::new();
    for (summary, diags, facts) in done {
        if let Some(t) = facts {
            tls_facts.push((summary.addr, t));
        }
        raw.push(summary);
        for d in diags {
            ctx.diag(d.kind, d.site, d.message);
        }
    }
    let tls_setters = tls_gates(&mut raw, &tls_facts);
    if ctx.elf.gopclntab.is_some() {
        go_per_thread_model(&mut ctx, &mut raw);
    }
    prune_args(&mut raw);
    // Read-only tables count only once something live refers to them, where
    // every address into data is formed by name (see `liveness`).
    let live =
        if ctx.non_pie || ctx.got_formed || ctx.elf.gopclntab.is_some() || ctx.stats.truncated {
            None
        } else {
            liveness::data_regions(
                elf,
                &liveness::Facts {
                    code_refs: &ctx.data_refs,
                    code_slots: &code_slots,
                    data_slots: &data_slots,
                    import_slots: &import_slots,
                    eh_slots: &eh_slots,
                },
            )
        };
    let gated = |slot: u64| live.as_ref().is_some_and(|l| l.gated(slot));
    data_at.extend(
        code_slots
            .iter()
            .filter(|&&(slot, _)| !gated(slot))
            .map(|&(_, t)| t),
    );
    let data_imports: BTreeSet<ImportRef> = import_slots
        .iter()
        .filter(|(slot, _)| !gated(*slot))
        .map(|(_, r)| r.clone())
        .collect();
    if let Some(l) = &live {
        for f in &mut raw {
            if let Some(v) = l.by_function.get(&f.addr) {
                f.data_refs = v.clone();
            }
        }
        let gated_fns: BTreeSet<u64> = code_slots
            .iter()
            .filter(|&&(slot, _)| gated(slot))
            .map(|&(_, t)| t)
            .filter(|t| !data_at.contains(t))
            .collect();
        if !gated_fns.is_empty() {
            ctx.diag(
                DiagKind::Modelled,
                None,
                format!(
                    "{} function(s) stored only in .data.rel.ro or .data count as address-taken once \
                     live code or data refers to their region ({} regions; see liveness)",
                    gated_fns.len(),
                    l.regions.regions.len()
                ),
            );
        }
    }
    let confined = if ctx.non_pie || ctx.elf.gopclntab.is_some() || ctx.stats.truncated {
        None
    } else {
        confined_pointers(
            &ctx,
            &raw,
            &code_slots,
            &data_slots,
            &export_addrs,
            &roots,
            &replay,
        )
    };
    ctx.stats.functions = raw.len();
    let mut diagnostics = ctx.diags;
    diagnostics.sort();
    ObjectSummary {
        version: ANALYSIS_VERSION.to_string(),
        supported: true,
        entry,
        roots: roots.into_iter().collect(),
        ifunc_resolvers: resolvers.into_iter().collect(),
        functions: raw,
        data_address_taken: data_at.into_iter().collect(),
        data_import_refs: data_imports.into_iter().collect(),
        exports: export_addrs.into_iter().collect(),
        confined,
        data: live.map(|l| l.regions),
        tls_setters,
        stats: ctx.stats,
        diagnostics,
    }
}

impl Ctx<'_> {
    /// What a call through the GOT slot at `x` reaches.
    fn got_target(&self, x: u64) -> Option<Target> {
        match self.got.get(&x) {
            Some(r) => Some(Target::Import(r.clone())),
            None => self.got_local.get(&x).map(|&t| Target::Local(t)),
        }
    }

    fn is_noreturn(&self, t: &Target) -> bool {
        let name = match t {
            Target::Import(r) => Some(r.name.as_str()),
            Target::Local(a) => self.names.get(a).map(|s| s.as_str()),
            Target::Ifunc(_) => None,
        };
        name.is_some_and(|n| NORETURN.contains(&n))
    }
}

impl Ctx<'_> {
    /// Discovery (Go binaries): record a rip-relative reference to `x`.
    fn note_go_ref(&mut self, ins: &Instruction, x: u64, mem_write: bool) {
        let Some((lo, hi)) = self.go_data else { return };
        if x.saturating_add(GO_WORD_WINDOW) < lo || x >= hi.saturating_add(8) {
            return;
        }
        let size = ins.memory_size().size() as u64;
        if ins.mnemonic() == Mnemonic::Lea {
            self.go_refs.addrs.push(x);
        } else if mem_write {
            self.go_refs.writes.push((x, size.max(1)));
        } else if ins.mnemonic() == Mnemonic::Mov
            && ins.op_count() == 2
            && ins.op0_kind() == OpKind::Register
            && ins.op0_register().is_gpr64()
            && size == 8
        {
            self.go_refs.loads.push(x);
        }
        // Other reads (cmp, test, narrower loads) neither write nor leak it.
    }

    /// Discovery (Go binaries): record an absolute address formed in code.
    fn note_go_addr(&mut self, v: u64) {
        if let Some((lo, hi)) = self.go_data {
            if v.saturating_add(GO_WORD_WINDOW) >= lo && v < hi.saturating_add(8) {
                self.go_refs.addrs.push(v);
            }
        }
    }
}

/// Go package variables that hold syscall numbers (`syscall.fcntl64Syscall`,
/// `internal/syscall/unix.FcntlSyscall`, x/sys/unix's `fcntl64Syscall`) are
/// statically initialised pointer-free words in `.noptrdata` that only 32-bit
/// ports overwrite in `init`. A word is read as its file value (a model,
/// reported as such) when: it is loaded as a whole 8-byte word; no
/// instruction writes it by name; no address within [`GO_WORD_WINDOW`] below
/// it is formed in code (`&v`, or `&s` of a small enclosing struct); no data
/// word or relocation points into it; and its value is below 1024 (a syscall
/// number). When the symbol table names the word as an 8-byte variable of its
/// own, no window applies. Stripped binaries carry no variable bounds, so
/// what this cannot see is a larger struct containing the word whose address
/// is taken, or a pointer derived by arithmetic: Go code reaches package
/// variables by name.
fn go_constants(ctx: &Ctx, lo: u64, hi: u64, refs: &mut GoRefs) -> HashMap<u64, u64> {
    // Pointers stored in data and relocation addends form addresses too.
    for s in &ctx.elf.sections {
        if !s.alloc || s.kind == SHT_NOBITS || s.exec {
            continue;
        }
        let Some(b) = usize::try_from(s.size)
            .ok()
            .and_then(|n| ctx.elf.bytes_at(ctx.data, s.addr, n))
        else {
            continue;
        };
        let skip = ((8 - s.addr % 8) % 8) as usize;
        for w in b.get(skip..).unwrap_or(&[]).chunks_exact(8) {
            let mut x = [0u8; 8];
            x.copy_from_slice(w);
            let v = u64::from_le_bytes(x);
            if v >= lo && v < hi {
                refs.stored.push(v);
            }
        }
    }
    for r in &ctx.elf.relocations {
        let v = r.addend as u64;
        if v >= lo && v < hi {
            refs.stored.push(v);
        }
    }
    refs.addrs.sort_unstable();
    refs.stored.sort_unstable();
    refs.writes.sort_unstable();
    refs.loads.sort_unstable();
    refs.loads.dedup();
    let max_write = refs.writes.iter().map(|w| w.1).max().unwrap_or(0);
    // Unstripped binaries name each variable with its size: a word that is a
    // whole 8-byte variable of its own needs no window below it.
    let own_vars: HashSet<u64> = ctx
        .elf
        .symtab
        .iter()
        .filter(|s| s.defined && s.kind == SymKind::Object && s.size == 8)
        .map(|s| s.addr)
        .filter(|&a| a >= lo && a < hi)
        .collect();
    let mut out = HashMap::new();
    for &w in &refs.loads {
        if w % 8 != 0 || w < lo || w.saturating_add(8) > hi {
            continue;
        }
        let end = w + 8;
        let window = if own_vars.contains(&w) {
            0
        } else {
            GO_WORD_WINDOW
        };
        // An address formed in [w - window, w + 8).
        let i = refs
            .addrs
            .partition_point(|&a| a < w.saturating_sub(window));
        if refs.addrs.get(i).is_some_and(|&a| a < end) {
            continue;
        }
        // A pointer in data into [w, w + 8).
        let i = refs.stored.partition_point(|&a| a < w);
        if refs.stored.get(i).is_some_and(|&a| a < end) {
            continue;
        }
        // A write overlapping [w, w + 8).
        let j = refs
            .writes
            .partition_point(|&(a, _)| a < w.saturating_sub(max_write));
        if refs.writes[j..]
            .iter()
            .take_while(|&&(a, _)| a < end)
            .any(|&(a, n)| a.saturating_add(n) > w)
        {
            continue;
        }
        if let Some(v) = read_u64(ctx, w).filter(|&v| v < 1024) {
            out.insert(w, v);
        }
    }
    out
}

impl ImportRef {
    fn into_target(self) -> Target {
        Target::Import(self)
    }
}

/// Functions that never return: no reachable `ret`, no unresolved indirect
/// jump, decoded completely, and every tail call goes to a function that
/// never returns (greatest fixpoint).
fn noreturn_functions(ctx: &Ctx, decoded: &[Decoded]) -> HashSet<u64> {
    let mut set: HashSet<u64> = decoded
        .iter()
        .filter(|d| !d.bad && !d.has_ret && !d.unresolved_jump)
        .map(|d| d.f)
        .collect();
    loop {
        let before = set.len();
        for d in decoded {
            if !set.contains(&d.f) {
                continue;
            }
            let returns = d.calls.iter().filter(|c| c.tail).any(|c| match c.target {
                Target::Local(t) => !set.contains(&t),
                _ => !ctx.is_noreturn(&c.target),
            });
            if returns {
                set.remove(&d.f);
            }
        }
        if set.len() == before {
            break;
        }
    }
    set
}

/// Registers each function may change, through its local callees (fixpoint);
/// imports, IFUNC targets and indirect calls clobber every caller-saved register.
fn clobber_masks(decoded: &[Decoded]) -> HashMap<u64, u16> {
    // `decoded` is sorted by address: callees by index, unknown ones as None.
    let index = |a: u64| decoded.binary_search_by_key(&a, |d| d.f).ok();
    let callees: Vec<Vec<Option<usize>>> = decoded
        .iter()
        .map(|d| {
            d.calls
                .iter()
                .filter_map(|c| match c.target {
                    Target::Local(t) => Some(index(t)),
                    _ => None,
                })
                .collect()
        })
        .collect();
    let mut m: Vec<u16> = decoded
        .iter()
        .map(|d| {
            let mut w = d.own_writes;
            if !d.indirect.is_empty()
                || d.calls
                    .iter()
                    .any(|c| !matches!(c.target, Target::Local(_)))
            {
                w |= CALLER_SAVED_MASK;
            }
            w
        })
        .collect();
    loop {
        let mut changed = false;
        for (i, cs) in callees.iter().enumerate() {
            let mut w = m.get(i).copied().unwrap_or(u16::MAX);
            for c in cs {
                w |= c
                    .and_then(|j| m.get(j).copied())
                    .unwrap_or(CALLER_SAVED_MASK);
            }
            if let Some(slot) = m.get_mut(i) {
                if *slot != w {
                    *slot = w;
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    decoded.iter().map(|d| d.f).zip(m).collect()
}

/// Non-PIE executables keep function pointers in data without relocations:
/// every aligned data word pointing into executable code is taken as a
/// function start and address-taken (stripped static binaries have no other
/// record of most of their functions).
fn scan_data_words(ctx: &mut Ctx, out: &mut BTreeSet<u64>) {
    let mut budget = ctx.limits.max_data_scan_bytes;
    // Go's `.gopclntab` gives every function's bounds, and Go stores code
    // addresses in data only as function entries (funcvals, method tables);
    // the other code addresses in its data are PCs of tables (return
    // addresses, line tables) that must not split functions.
    let go = ctx.elf.gopclntab.is_some();
    let mut found: Vec<u64> = Vec::new();
    for s in &ctx.elf.sections {
        if !s.alloc || s.exec || s.kind == SHT_NOBITS || s.size == 0 {
            continue;
        }
        let Some(n) = usize::try_from(s.size.min(budget)).ok() else {
            continue;
        };
        budget = budget.saturating_sub(n as u64);
        let Some(bytes) = ctx.elf.bytes_at(ctx.data, s.addr, n) else {
            continue;
        };
        let skip = usize::try_from((8 - s.addr % 8) % 8).unwrap_or(0);
        let Some(aligned) = bytes.get(skip..) else {
            continue;
        };
        for w in aligned.chunks_exact(8) {
            let mut a = [0u8; 8];
            a.copy_from_slice(w);
            let v = u64::from_le_bytes(a);
            if ctx.in_exec(v) && !ctx.in_plt(v) && (!go || ctx.starts.contains(&v)) {
                out.insert(v);
                found.push(v);
            }
        }
    }
    ctx.starts.extend(found);
}

/// musl's `strerror` table (stripped static musl programs have no other
/// name to recognise musl by): its text for errno 0, which glibc calls
/// "Success", in a read-only data section. Looked for only in fully static
/// programs: dynamic ones reach musl through its libc, named by `__dls2b`.
fn has_musl_strerror(data: &[u8], elf: &ElfInfo) -> bool {
    const TEXT: &[u8] = b"\0No error information\0";
    elf.sections
        .iter()
        .filter(|s| s.alloc && !s.exec && !s.write && s.kind != SHT_NOBITS)
        .filter_map(|s| {
            usize::try_from(s.size)
                .ok()
                .and_then(|n| elf.bytes_at(data, s.addr, n))
        })
        .any(|b| memchr::memmem::find(b, TEXT).is_some())
}

/// The addresses from which a pointer may reach the slot at `o`: up to
/// [`confine::WINDOW`] bytes below it (an enclosing struct), but not below
/// the start of its section, which no object crosses.
fn slot_window(elf: &ElfInfo, o: u64) -> (u64, u64) {
    let start = elf
        .sections
        .iter()
        .filter(|s| s.alloc && o >= s.addr && o < s.addr.saturating_add(s.size))
        .map(|s| s.addr)
        .max()
        .unwrap_or(0);
    (
        o.saturating_sub(confine::WINDOW).max(start),
        o.saturating_add(8),
    )
}

/// Sorted, disjoint union of `[lo, hi)` ranges.
fn merge_windows(w: impl Iterator<Item = (u64, u64)>) -> Vec<(u64, u64)> {
    let mut v: Vec<(u64, u64)> = w.collect();
    v.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (lo, hi) in v {
        match out.last_mut() {
            Some(l) if lo <= l.1 => l.1 = l.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// Candidates for [`confine::confine`]: functions whose address is stored
/// only in data slots (not taken in code, not exported, not a loader root)
/// and that may pass an entry argument on towards a syscall number.
fn confined_pointers(
    ctx: &Ctx,
    funcs: &[FunctionSummary],
    code_slots: &[(u64, u64)],
    data_slots: &[(u64, u64)],
    exports: &BTreeSet<u64>,
    roots: &BTreeSet<Root>,
    replay: &HashMap<u64, (u64, u64)>,
) -> Option<crate::ConfinedPointers> {
    let code_taken: HashSet<u64> = funcs
        .iter()
        .flat_map(|f| f.addr_refs.iter().copied())
        .collect();
    let root_addrs: HashSet<u64> = roots.iter().map(|r| r.addr).collect();
    let in_slots: HashSet<u64> = code_slots.iter().map(|s| s.1).collect();
    let targets: Vec<u64> = funcs
        .iter()
        .filter(|f| {
            f.syscalls.iter().any(|s| s.nr.args != 0)
                || f.calls.iter().any(|c| c.args.iter().any(|v| v.args != 0))
        })
        .map(|f| f.addr)
        .filter(|a| in_slots.contains(a))
        .filter(|a| !code_taken.contains(a) && !exports.contains(a) && !root_addrs.contains(a))
        .collect();
    if targets.is_empty() {
        return None;
    }
    let windows = merge_windows(
        code_slots
            .iter()
            .filter(|s| targets.binary_search(&s.1).is_ok())
            .map(|&(o, _)| slot_window(ctx.elf, o)),
    );
    // A pointer into the region stored in data outside it, or exported data
    // over it, lets other code reach the slots. Pointers stored inside it
    // (`__dso_handle`) are read by name, which the pass follows.
    if data_slots
        .iter()
        .any(|&(o, a)| confine::in_windows(&windows, a) && !confine::in_windows(&windows, o))
    {
        return None;
    }
    let data_ptrs: HashMap<u64, u64> = data_slots
        .iter()
        .filter(|&&(o, _)| confine::in_windows(&windows, o))
        .copied()
        .collect();
    let mut slots: Vec<u64> = code_slots
        .iter()
        .filter(|s| targets.binary_search(&s.1).is_ok())
        .map(|s| s.0)
        .collect();
    slots.sort_unstable();
    let exported_data = ctx
        .elf
        .dynsyms
        .iter()
        .filter(|s| s.defined && s.kind != SymKind::Func);
    for s in exported_data {
        let end = s.addr.saturating_add(s.size.max(1));
        if windows.iter().any(|w| s.addr < w.1 && w.0 < end) {
            return None;
        }
    }
    let users: Vec<u64> = ctx
        .slot_refs
        .iter()
        .filter(|r| confine::in_windows(&windows, r.1))
        .map(|r| r.0)
        .collect::<BTreeSet<u64>>()
        .into_iter()
        .collect();
    let input = confine::Input {
        targets,
        windows,
        slots,
        data_ptrs,
        users,
        replay,
    };
    let mut c = ctx.fork();
    confine::confine(&mut c, &input)
}

/// Go's `runtime.runPerThreadSyscall` (Go 1.19 and later) replays, on every
/// other thread, the system call `syscall_runtime_doAllThreadsSyscall` has
/// just issued itself with the same number through its own wrapper call: the
/// runtime-private `perThreadSyscall` it reads is written nowhere else. Its
/// numbers are therefore already counted (or reported) at that call; the
/// unknown arguments of its own calls are dropped, as a reported model.
fn go_per_thread_model(ctx: &mut Ctx, funcs: &mut [FunctionSummary]) {
    for f in funcs
        .iter_mut()
        .filter(|f| f.name.as_deref() == Some("runtime.runPerThreadSyscall"))
    {
        for c in &mut f.calls {
            // Arguments past the end of the list are unknown too.
            if c.args.len() < 8 || c.args.iter().any(|v| v.unknown) {
                c.args.resize_with(8, Val::unknown);
                for v in &mut c.args {
                    v.unknown = false;
                }
                ctx.diag(
                    DiagKind::Modelled,
                    Some(c.site),
                    format!(
                        "call at {:#x} in runtime.runPerThreadSyscall replays \
                         doAllThreadsSyscall's own system call: its arguments are not new",
                        c.site
                    ),
                );
            }
        }
    }
}

/// Keep call-site argument values only where the callee may be a syscall
/// wrapper: imports, IFUNC targets, and local functions that pass an entry
/// argument on to a syscall number or another possible wrapper.
fn prune_args(funcs: &mut [FunctionSummary]) {
    let index: HashMap<u64, usize> = funcs.iter().enumerate().map(|(i, f)| (f.addr, i)).collect();
    let mut maybe: Vec<bool> = funcs
        .iter()
        .map(|f| f.syscalls.iter().any(|s| s.nr.args != 0))
        .collect();
    loop {
        let mut changed = false;
        for (i, f) in funcs.iter().enumerate() {
            if maybe.get(i).copied().unwrap_or(true) {
                continue;
            }
            let forwards = f.calls.iter().any(|c| {
                let callee_maybe = match &c.target {
                    Target::Local(t) => index
                        .get(t)
                        .and_then(|&j| maybe.get(j))
                        .copied()
                        .unwrap_or(false),
                    _ => true,
                };
                callee_maybe && c.args.iter().any(|v| v.args != 0)
            });
            if forwards {
                if let Some(m) = maybe.get_mut(i) {
                    *m = true;
                }
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    // Callees with argument contexts need the constants too.
    let has_contexts: Vec<bool> = funcs.iter().map(|f| !f.contexts.is_empty()).collect();
    for f in funcs.iter_mut() {
        for c in &mut f.calls {
            let keep = match &c.target {
                Target::Local(t) => index.get(t).is_some_and(|&j| {
                    maybe.get(j).copied().unwrap_or(false)
                        || has_contexts.get(j).copied().unwrap_or(false)
                }),
                _ => true,
            };
            if !keep {
                c.args.clear();
            }
        }
    }
}

/// How an instruction ends (or does not end) a basic block.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    /// Falls through to the next instruction.
    None,
    /// Conditional: explicit targets plus fall-through.
    Cond,
    /// No fall-through (ret, jmp, ud2, int3, hlt...).
    Stop,
}

struct Ins {
    ins: Instruction,
    writes: u16,
    /// Writes memory.
    mem_write: bool,
    end: End,
}

fn is_write(a: OpAccess) -> bool {
    matches!(
        a,
        OpAccess::Write | OpAccess::CondWrite | OpAccess::ReadWrite | OpAccess::ReadCondWrite
    )
}

/// `ins` writes memory within the first page: through a register the previous
/// instruction zeroed, or at an absolute address below 4096 (no base, no index).
fn null_store(ins: &Instruction, zeroed: Option<usize>) -> bool {
    // fs:/gs: addresses are thread-local, not page zero.
    if !(0..ins.op_count()).any(|k| ins.op_kind(k) == OpKind::Memory)
        || ins.memory_index() != Register::None
        || ins.is_ip_rel_memory_operand()
        || matches!(ins.memory_segment(), Register::FS | Register::GS)
    {
        return false;
    }
    let disp = ins.memory_displacement64();
    let base = ins.memory_base();
    let base_zero = if base == Register::None {
        true
    } else {
        base.is_gpr64() && gpr(base).is_some() && gpr(base) == zeroed
    };
    base_zero && disp < 4096
}

/// General registers the instruction may write, and whether it writes memory
/// (one instruction-info query for both).
fn write_facts(factory: &mut InstructionInfoFactory, ins: &Instruction) -> (u16, bool) {
    let info = factory.info(ins);
    let mut m = 0u16;
    for u in info.used_registers() {
        if is_write(u.access()) {
            if let Some(i) = gpr(u.register()) {
                m |= 1 << i;
            }
        }
    }
    (m, info.used_memory().iter().any(|u| is_write(u.access())))
}

/// One function decoded by recursive descent, before the dataflow.
struct Decoded {
    f: u64,
    insns: BTreeMap<u64, Ins>,
    targets: HashMap<u64, Vec<u64>>,
    leaders: BTreeSet<u64>,
    calls: Vec<Call>,
    syscall_sites: Vec<u64>,
    indirect: Vec<u64>,
    addr_refs: BTreeSet<u64>,
    import_refs: BTreeSet<ImportRef>,
    /// Addresses loaded into a register (`lea`, GOT `mov`), by site: taken
    /// only if the value escapes (see [`escape`]).
    cands: Vec<(u64, Cand)>,
    /// Decoding stopped early (bad bytes or the instruction budget).
    bad: bool,
    /// Range end used while decoding, and instructions decoded (for replay).
    bound: u64,
    count: u64,
    /// Landing pads inside this function (entered by the unwinder).
    landing: Vec<u64>,
    /// Facts kept after the instructions are dropped.
    own_writes: u16,
    has_ret: bool,
    unresolved_jump: bool,
}

impl Decoded {
    /// Keep the small facts, drop the instructions (re-decoded for the dataflow).
    fn shrink(&mut self) {
        self.own_writes = self.compute_own_writes();
        self.has_ret = self
            .insns
            .values()
            .any(|i| i.ins.flow_control() == FlowControl::Return);
        self.unresolved_jump = self.insns.values().any(|i| {
            i.ins.flow_control() == FlowControl::IndirectBranch
                && !self.targets.contains_key(&i.ins.ip())
        });
        self.insns = BTreeMap::new();
        self.targets = HashMap::new();
        self.leaders = BTreeSet::new();
    }

    /// Registers this function itself may write (calls excluded).
    fn compute_own_writes(&self) -> u16 {
        self.insns.values().fold(0, |m, i| {
            if i.ins.mnemonic() == Mnemonic::Call {
                m
            } else if i.ins.mnemonic() == Mnemonic::Syscall {
                m | 1 | (1 << RCX) | (1 << R11) | i.writes
            } else {
                m | i.writes
            }
        })
    }
}

/// Decode one function by recursive descent; returns it and newly discovered
/// function starts.
/// `replay` = (bound, instruction count) of an earlier decoding to reproduce.
fn decode_function(ctx: &mut Ctx, f: u64, replay: Option<(u64, u64)>) -> (Decoded, Vec<u64>) {
    let bound = match replay {
        Some((b, _)) => b,
        None => {
            let next = ctx.starts.range(f + 1..).next().copied();
            let end = ctx.exec_end(f).unwrap_or(f);
            next.map_or(end, |n| n.min(end))
        }
    };
    let limit = match replay {
        Some((_, n)) => {
            ctx.stats.instructions = 0;
            n
        }
        None => ctx.limits.max_instructions,
    };
    let start_count = ctx.stats.instructions;
    let mut insns: BTreeMap<u64, Ins> = BTreeMap::new();
    let mut targets: HashMap<u64, Vec<u64>> = HashMap::new();
    let mut leaders: BTreeSet<u64> = BTreeSet::new();
    let mut calls: Vec<Call> = Vec::new();
    let mut syscall_sites: Vec<u64> = Vec::new();
    let mut indirect: Vec<u64> = Vec::new();
    let mut addr_refs: BTreeSet<u64> = BTreeSet::new();
    let mut import_refs: BTreeSet<ImportRef> = BTreeSet::new();
    let mut cands: Vec<(u64, Cand)> = Vec::new();
    let mut new_starts: Vec<u64> = Vec::new();
    let mut work: Vec<u64> = vec![f];
    let mut bad = false;
    leaders.insert(f);
    let mut landing: Vec<u64> = Vec::new();
    for &lp in ctx.landing.get(&f).map(|v| v.as_slice()).unwrap_or(&[]) {
        if lp >= f && lp < bound {
            landing.push(lp);
            leaders.insert(lp);
            work.push(lp);
        } else if let Some(Target::Local(t)) = ctx.classify(lp) {
            calls.push(Call {
                site: f,
                target: Target::Local(t),
                tail: true,
                args: Vec::new(),
            });
            new_starts.push(t);
        }
    }

    let push_call = |calls: &mut Vec<Call>, site: u64, target: Target, tail: bool| {
        calls.push(Call {
            site,
            target,
            tail,
            args: Vec::new(),
        });
    };

    while let Some(a) = work.pop() {
        if insns.contains_key(&a) {
            continue;
        }
        let Some(bytes) = ctx.code_at(a) else {
            continue;
        };
        let mut dec = Decoder::with_ip(64, bytes, a, DecoderOptions::NONE);
        let mut ins = Instruction::default();
        let mut last_was_call = false;
        // The register the previous instruction zeroed (`xor r,r`), if any.
        let mut zeroed: Option<usize> = None;
        while dec.can_decode() {
            let ip = dec.ip();
            if ip != a && insns.contains_key(&ip) {
                leaders.insert(ip);
                break;
            }
            if ip >= bound || ip < f {
                // Fell through into the next function: a tail edge, unless only
                // padding follows a call (a call that does not return).
                if last_was_call {
                    break;
                }
                if let Some(t) = ctx.classify(ip) {
                    if let Some(prev) = insns.range(..ip).next_back().map(|(k, _)| *k) {
                        push_call(&mut calls, prev, t, true);
                    }
                    if ip != f {
                        new_starts.push(ip);
                    }
                }
                break;
            }
            if ctx.stats.instructions >= limit {
                bad = true;
                if !ctx.stats.truncated {
                    ctx.stats.truncated = true;
                    ctx.diag(
                        DiagKind::Truncated,
                        Some(ip),
                        format!("instruction limit {} reached", ctx.limits.max_instructions),
                    );
                }
                break;
            }
            dec.decode_out(&mut ins);
            ctx.stats.instructions += 1;
            if ins.is_invalid() {
                ctx.diag(
                    DiagKind::DecodeError,
                    Some(ip),
                    format!("undecodable bytes at {ip:#x} in function {f:#x}"),
                );
                bad = true;
                break;
            }
            let (writes, mem_write) = write_facts(&mut ctx.factory, &ins);
            match ins.flow_control() {
                FlowControl::Call | FlowControl::IndirectCall => last_was_call = true,
                _ if matches!(ins.mnemonic(), Mnemonic::Nop | Mnemonic::Int3) => {}
                _ => last_was_call = false,
            }
            let next = ins.next_ip();
            let mn = ins.mnemonic();
            let fc = ins.flow_control();
            // Address references.
            let is_branch_mem =
                matches!(fc, FlowControl::IndirectBranch | FlowControl::IndirectCall);
            if ins.is_ip_rel_memory_operand() {
                let x = ins.ip_rel_memory_address();
                if confine::in_windows(&ctx.slot_windows, x) {
                    ctx.slot_refs.push((f, x));
                }
                // Discovery only: a replay (the dataflow's re-decode in a
                // worker) would collect them again, unused.
                if replay.is_none() && !ctx.in_exec(x) {
                    ctx.data_refs.push((f, x));
                }
            }
            if ins.is_ip_rel_memory_operand() && !is_branch_mem {
                let x = ins.ip_rel_memory_address();
                if mn == Mnemonic::Lea
                    && ctx.got_ranges.iter().any(|&(a, b)| x >= a && x < b)
                    && !ctx.tls_slots.contains(&x)
                {
                    ctx.got_formed = true;
                }
                ctx.note_go_ref(&ins, x, mem_write);
                // An address loaded into a full register is a candidate: it is
                // taken only if it escapes (see `escape`); comparing a GOT
                // slot's content (weak-symbol tests) takes nothing.
                let into_reg = ins.op_count() == 2
                    && ins.op0_kind() == OpKind::Register
                    && ins.op0_register().is_gpr64()
                    && ins.op1_kind() == OpKind::Memory;
                if let Some(r) = ctx.got.get(&x) {
                    if mn == Mnemonic::Mov && into_reg {
                        cands.push((ip, Cand::Import(r.clone())));
                    } else if !matches!(mn, Mnemonic::Cmp | Mnemonic::Test) {
                        import_refs.insert(r.clone());
                    }
                } else if let Some(&t) = ctx.got_local.get(&x) {
                    // As for an import's slot: a loaded address is taken only
                    // if it escapes; any other use of the slot takes it.
                    new_starts.push(t);
                    if mn == Mnemonic::Mov && into_reg {
                        cands.push((ip, Cand::Local(t)));
                    } else if !matches!(mn, Mnemonic::Cmp | Mnemonic::Test) {
                        addr_refs.insert(t);
                    }
                } else if mn == Mnemonic::Lea && ctx.in_exec(x) {
                    let c = match ctx.classify(x) {
                        Some(Target::Import(r)) => Some(Cand::Import(r)),
                        Some(Target::Local(t)) | Some(Target::Ifunc(t)) => {
                            new_starts.push(t);
                            Some(Cand::Local(t))
                        }
                        None => None,
                    };
                    match c {
                        Some(c) if into_reg => cands.push((ip, c)),
                        Some(Cand::Import(r)) => {
                            import_refs.insert(r);
                        }
                        Some(Cand::Local(t)) => {
                            addr_refs.insert(t);
                        }
                        None => {}
                    }
                }
            }
            if ctx.non_pie {
                for k in 0..ins.op_count() {
                    if matches!(
                        ins.op_kind(k),
                        OpKind::Immediate32 | OpKind::Immediate32to64 | OpKind::Immediate64
                    ) {
                        let v = ins.immediate(k);
                        ctx.note_go_addr(v);
                        let go = ctx.elf.gopclntab.is_some();
                        if ctx.starts.contains(&v) || (!go && ctx.in_exec(v) && !ctx.in_plt(v)) {
                            addr_refs.insert(v);
                            new_starts.push(v);
                        }
                    }
                    if ins.op_kind(k) == OpKind::Memory
                        && ins.memory_base() == Register::None
                        && !is_branch_mem
                    {
                        let v = ins.memory_displacement64();
                        ctx.note_go_addr(v);
                        if ctx.starts.contains(&v) {
                            addr_refs.insert(v);
                        }
                    }
                }
            }
            let mut end = End::None;
            // A store into the first page faults: Go's `*(*int)(nil) = 0`
            // after calls that never return (`xor ecx,ecx; mov [rcx],0`), or
            // an absolute store below 4096. Nothing after it runs.
            if mem_write && null_store(&ins, zeroed) {
                end = End::Stop;
            }
            zeroed = (mn == Mnemonic::Xor
                && ins.op_count() == 2
                && ins.op0_kind() == OpKind::Register
                && ins.op1_kind() == OpKind::Register
                && ins.op0_register() == ins.op1_register())
            .then(|| gpr_wide(ins.op0_register()))
            .flatten();
            match (mn, fc) {
                (Mnemonic::Syscall, _) => {
                    syscall_sites.push(ip);
                    ctx.stats.syscall_sites += 1;
                }
                (Mnemonic::Sysenter, _) => {
                    ctx.diag(
                        DiagKind::Sysenter,
                        Some(ip),
                        format!("sysenter at {ip:#x} in function {f:#x}"),
                    );
                    end = End::Stop;
                }
                (Mnemonic::Int, _) if ins.immediate8() == 0x80 => {
                    ctx.diag(
                        DiagKind::Int80,
                        Some(ip),
                        format!("int 0x80 (32-bit syscall) at {ip:#x} in function {f:#x}"),
                    );
                }
                (Mnemonic::Int, _) => {}
                (Mnemonic::Hlt, _) => end = End::Stop,
                (_, FlowControl::Return)
                | (_, FlowControl::Exception)
                | (_, FlowControl::Interrupt) => end = End::Stop,
                (_, FlowControl::Call) => {
                    if ins.op0_kind() == OpKind::NearBranch64 {
                        let t = ins.near_branch_target();
                        if let Some(tg) = ctx.classify(t) {
                            if ctx.is_noreturn(&tg) {
                                end = End::Stop;
                            }
                            if let Target::Local(l) = tg {
                                new_starts.push(l);
                            }
                            push_call(&mut calls, ip, tg, false);
                        }
                    } else {
                        indirect.push(ip);
                        ctx.stats.indirect_calls += 1;
                    }
                }
                (_, FlowControl::IndirectCall) => {
                    let got = ins
                        .is_ip_rel_memory_operand()
                        .then(|| ctx.got_target(ins.ip_rel_memory_address()))
                        .flatten();
                    match got {
                        Some(tg) => {
                            if ctx.is_noreturn(&tg) {
                                end = End::Stop;
                            }
                            if let Target::Local(l) = tg {
                                new_starts.push(l);
                            }
                            push_call(&mut calls, ip, tg, false)
                        }
                        None => {
                            indirect.push(ip);
                            ctx.stats.indirect_calls += 1;
                        }
                    }
                }
                (_, FlowControl::UnconditionalBranch)
                | (_, FlowControl::ConditionalBranch)
                | (_, FlowControl::XbeginXabortXend) => {
                    let cond = fc != FlowControl::UnconditionalBranch;
                    end = if cond { End::Cond } else { End::Stop };
                    if matches!(ins.op0_kind(), OpKind::NearBranch64) {
                        let t = ins.near_branch_target();
                        if t >= f && t < bound {
                            targets.entry(ip).or_default().push(t);
                            leaders.insert(t);
                            work.push(t);
                        } else if let Some(tg) = ctx.classify(t) {
                            if let Target::Local(l) = tg {
                                new_starts.push(l);
                            }
                            push_call(&mut calls, ip, tg, true);
                        }
                    } else if fc == FlowControl::XbeginXabortXend {
                        end = End::None;
                    }
                    if cond {
                        leaders.insert(next);
                    }
                }
                (_, FlowControl::IndirectBranch) => {
                    end = End::Stop;
                    let got = ins
                        .is_ip_rel_memory_operand()
                        .then(|| ctx.got_target(ins.ip_rel_memory_address()))
                        .flatten();
                    if let Some(tg) = got {
                        if let Target::Local(l) = tg {
                            new_starts.push(l);
                        }
                        push_call(&mut calls, ip, tg, true);
                    } else if let Some((ts, outside)) = jump_table(ctx, &insns, &ins, f, bound) {
                        ctx.stats.jump_tables += 1;
                        for &t in &ts {
                            leaders.insert(t);
                            work.push(t);
                        }
                        targets.insert(ip, ts);
                        // Entries outside this function's range: tail jumps.
                        for t in outside {
                            if let Some(tg) = ctx.classify(t) {
                                if let Target::Local(l) = tg {
                                    new_starts.push(l);
                                }
                                push_call(&mut calls, ip, tg, true);
                            }
                        }
                    } else {
                        indirect.push(ip);
                        ctx.stats.indirect_jumps += 1;
                    }
                }
                _ => {}
            }
            insns.insert(
                ip,
                Ins {
                    ins,
                    writes,
                    mem_write,
                    end,
                },
            );
            if end == End::Stop {
                break;
            }
        }
    }

    new_starts.sort_unstable();
    new_starts.dedup();
    (
        Decoded {
            f,
            insns,
            targets,
            leaders,
            calls,
            syscall_sites,
            indirect,
            addr_refs,
            import_refs,
            cands,
            bad,
            bound,
            landing,
            count: ctx.stats.instructions - start_count,
            own_writes: 0,
            has_ret: false,
            unresolved_jump: false,
        },
        new_starts,
    )
}

/// Blocks, constant propagation to a fixpoint, then the summary. `clobber`
/// gives, for local callees, the caller-saved registers they may change
/// (compilers keep values in caller-saved registers across calls to local
/// functions that do not touch them).
fn dataflow(
    ctx: &mut Ctx,
    d: Decoded,
    clobber: &HashMap<u64, u16>,
    noret: &HashSet<u64>,
) -> FunctionSummary {
    let Decoded {
        f,
        insns,
        targets,
        leaders,
        mut calls,
        mut syscall_sites,
        mut indirect,
        mut addr_refs,
        mut import_refs,
        landing,
        cands,
        bad,
        unresolved_jump,
        ..
    } = d;
    let noret_sites: HashSet<u64> = calls
        .iter()
        .filter(|c| !c.tail)
        .filter(|c| match c.target {
            Target::Local(t) => noret.contains(&t),
            _ => ctx.is_noreturn(&c.target),
        })
        .map(|c| c.site)
        .collect();
    // Go's register ABI has no callee-saved registers but rsp, rbp and r14.
    let go = ctx.elf.gopclntab.is_some();
    let saved_mask = if go { GO_CLOBBERED } else { CALLER_SAVED_MASK };
    let call_clobber: HashMap<u64, u16> = calls
        .iter()
        .filter(|c| !c.tail)
        .map(|c| {
            let m = match c.target {
                Target::Local(t) => clobber.get(&t).copied().unwrap_or(saved_mask),
                _ => saved_mask,
            };
            (c.site, (m & saved_mask) | 1)
        })
        .collect();
    // Stack slots (Go): the first entry-relative offsets read or written by
    // 8-byte moves, found by a linear walk that follows rsp adjustments.
    let mut slots: Vec<i64> = Vec::new();
    if go {
        // First the first stack argument (passed on by tail jumps), then the
        // outgoing first stack argument at each call ([rsp] there), then
        // slots moved to or from rax, then other spill slots in address order.
        let mut at_calls: Vec<i64> = Vec::new();
        let mut moved: Vec<i64> = Vec::new();
        let mut via_rax: Vec<i64> = Vec::new();
        let mut dl: Option<i64> = Some(0);
        let mut body: Option<i64> = Some(0);
        for i in insns.values() {
            let ins = &i.ins;
            if matches!(ins.flow_control(), FlowControl::Call) {
                at_calls.extend(dl);
            }
            if ins.mnemonic() == Mnemonic::Mov
                && ins.op_count() == 2
                && (ins.op0_kind() == OpKind::Memory || ins.op1_kind() == OpKind::Memory)
                && ins.memory_size().size() == 8
            {
                if let (Some(d), Some(x)) = (rsp_disp(ins), dl) {
                    // rax carries the number in Go's register ABI.
                    let rax = [ins.op0_register(), ins.op1_register()]
                        .iter()
                        .any(|r| gpr(*r) == Some(RAX));
                    if rax {
                        via_rax.push(x + d);
                    } else {
                        moved.push(x + d);
                    }
                }
            }
            dl = next_delta(ins, i.writes, dl);
            body = match (body, dl) {
                (Some(b), Some(x)) => Some(b.min(x)),
                (b, x) => b.or(x),
            };
            // Code after an epilogue's return runs at the body's depth.
            if i.end == End::Stop {
                dl = body;
            }
        }
        for e in std::iter::once(8)
            .chain(at_calls)
            .chain(via_rax)
            .chain(moved)
        {
            if !slots.contains(&e) && slots.len() < SLOTS {
                slots.push(e);
            }
        }
    }
    let call_kill: HashMap<u64, u64> = calls
        .iter()
        .filter(|c| !c.tail)
        .filter_map(|c| match c.target {
            Target::Local(t) => Some((c.site, u64::from(*ctx.go_args.get(&t)?))),
            _ => None,
        })
        .collect();
    // Basic blocks.
    let mut block_of: HashMap<u64, usize> = HashMap::new();
    let mut blocks: Vec<(Vec<u64>, Vec<u64>)> = Vec::new(); // (instruction addrs, successor addrs)
    for &l in &leaders {
        if !insns.contains_key(&l) || block_of.contains_key(&l) {
            continue;
        }
        let mut addrs = Vec::new();
        let mut cur = l;
        let succs;
        loop {
            let Some(i) = insns.get(&cur) else {
                succs = Vec::new();
                break;
            };
            addrs.push(cur);
            let next = i.ins.next_ip();
            let mut s: Vec<u64> = targets.get(&cur).cloned().unwrap_or_default();
            let iend = if noret_sites.contains(&cur) {
                End::Stop
            } else {
                i.end
            };
            if iend != End::None {
                if iend == End::Cond && insns.contains_key(&next) {
                    s.push(next);
                }
                succs = s;
                break;
            }
            if !insns.contains_key(&next) || leaders.contains(&next) {
                if insns.contains_key(&next) {
                    s.push(next);
                }
                succs = s;
                break;
            }
            cur = next;
        }
        block_of.insert(l, blocks.len());
        blocks.push((addrs, succs));
    }

    // Loaded addresses that escape are taken; indirect calls through a
    // register surely holding one become direct calls.
    if !cands.is_empty() {
        let sites: Vec<u64> = cands.iter().map(|(s, _)| *s).collect();
        let mut entries = vec![f];
        entries.extend(landing.iter().copied());
        let abi = escape::Abi::new(ctx.elf.gopclntab.is_some());
        let cfg = escape::Cfg {
            insns: &insns,
            jumps: &targets,
            blocks: &blocks,
            block_of: &block_of,
        };
        let found = escape::analyse(
            &mut ctx.factory,
            &abi,
            &cfg,
            &entries,
            &sites,
            ctx.limits.max_block_visits,
        );
        for (site, k, tail) in &found.resolved {
            let target = match cands.get(*k) {
                Some((_, Cand::Local(t))) => Target::Local(*t),
                Some((_, Cand::Import(r))) => Target::Import(r.clone()),
                None => continue,
            };
            indirect.retain(|s| s != site);
            calls.push(Call {
                site: *site,
                target,
                tail: *tail,
                args: Vec::new(),
            });
        }
        for ((_, c), e) in cands.into_iter().zip(found.escaped) {
            match (c, e) {
                (Cand::Local(t), true) => {
                    addr_refs.insert(t);
                }
                (Cand::Import(r), true) => {
                    import_refs.insert(r);
                }
                _ => {}
            }
        }
    }

    let tx = Tx {
        call_clobber: &call_clobber,
        slots: &slots,
        call_kill: &call_kill,
        go_consts: &ctx.go_consts,
        c_frame: false,
        fp: None,
    };
    // Constant propagation to a fixpoint over the blocks.
    let mut entry: State = TOP;
    for (k, &r) in ARG_REGS.iter().enumerate() {
        entry[r] = AVal::arg(k as u8);
    }
    set_delta(&mut entry, Some(0));
    // The first stack argument (Go's stack ABI: the syscall number of
    // `syscall.Syscall` and its assembly relatives) is argument 7.
    if let Some(k) = tx.slot(8) {
        entry[k] = AVal::arg(STACK_ARG);
    }
    let flow = Flow {
        insns: &insns,
        blocks: &blocks,
        block_of: &block_of,
        tx: &tx,
        live: if slots.is_empty() { 16 } else { TOP.len() },
        max_visits: ctx.limits.max_block_visits,
    };
    let (inn, gave_up) = match flow.fixpoint(f, entry, &landing, false) {
        Some(inn) => (inn, false),
        None => (vec![None; blocks.len()], true),
    };
    // Call, syscall and indirect sites, sorted: what contexts and gates cut.
    let mut sites: Vec<u64> = calls
        .iter()
        .map(|c| c.site)
        .chain(syscall_sites.iter().copied())
        .chain(indirect.iter().copied())
        .collect();
    sites.sort_unstable();
    // Argument contexts: sites that cannot run when an argument the
    // function tests is a given constant (see [`ArgContext`]).
    let contexts = if gave_up || unresolved_jump || bad {
        Vec::new()
    } else {
        let self_calls: Vec<u64> = {
            let mut v: Vec<u64> = calls
                .iter()
                .filter(|c| c.target == Target::Local(f))
                .map(|c| c.site)
                .collect();
            v.sort_unstable();
            v
        };
        // Non-Go code: arguments spilled to the frame are tracked too,
        // unless something may return twice into this frame.
        let twice = calls.iter().any(|c| match &c.target {
            Target::Local(t) => ctx.returns_twice.contains(t),
            Target::Import(r) => returns_twice(&r.name),
            // IFUNCs select string and memory routines.
            Target::Ifunc(_) => false,
        });
        let spills = if go || !slots.is_empty() || twice || !frame_tests(&flow) {
            None
        } else {
            spill_slots(&flow, f, &inn)
        };
        let contexts = spills.map(|(spilled, fp)| {
            let cslots: Vec<i64> = spilled.iter().map(|x| x.0).collect();
            let origin: Vec<Option<u8>> = spilled.iter().map(|x| x.1).collect();
            let ctx_tx = Tx {
                call_clobber: &call_clobber,
                slots: &cslots,
                call_kill: &call_kill,
                go_consts: &ctx.go_consts,
                c_frame: true,
                fp,
            };
            let cflow = Flow {
                insns: &insns,
                blocks: &blocks,
                block_of: &block_of,
                tx: &ctx_tx,
                live: TOP.len(),
                max_visits: ctx.limits.max_block_visits,
            };
            let about = ContextSites {
                sites: &sites,
                self_calls: &self_calls,
                origin: &origin,
            };
            // The free states (no slot values) serve to find candidates: a
            // slot's test names its spilled argument.
            arg_contexts(&cflow, f, &entry, &landing, &inn, &about)
        });
        contexts.unwrap_or_else(|| {
            let about = ContextSites {
                sites: &sites,
                self_calls: &self_calls,
                origin: &[],
            };
            arg_contexts(&flow, f, &entry, &landing, &inn, &about)
        })
    };
    // Thread-local gates (see `tls`).
    let touches_tls = !ctx.tls_candidates.is_empty()
        && insns.values().any(|i| {
            i.ins.is_ip_rel_memory_operand()
                && ctx.tls_candidates.contains(&i.ins.ip_rel_memory_address())
        });
    let wild_fs = !ctx.tls_candidates.is_empty()
        && insns.values().any(|i| {
            i.mem_write
                && (0..i.ins.op_count()).any(|k| i.ins.op_kind(k) == OpKind::Memory)
                && i.ins.memory_segment() == Register::FS
        });
    if touches_tls || wild_fs {
        let scan = tls::scan(&mut ctx.factory, &flow, f, &landing, &ctx.tls_candidates);
        let gates = if gave_up || unresolved_jump || bad || scan.loads.is_empty() {
            BTreeMap::new()
        } else {
            tls::gates(&flow, f, &entry, &landing, &inn, &sites, &scan.loads)
        };
        ctx.tls_facts = Some(TlsFacts {
            gates,
            sets: scan.sets,
            wild: scan.wild,
            escaped: scan.escaped,
            escaped_any: scan.escaped_any,
        });
    }

    // Final pass: read rax at syscalls and argument registers at calls.
    let call_sites: HashSet<u64> = calls.iter().map(|c| c.site).collect();
    let tails: HashSet<u64> = calls.iter().filter(|c| c.tail).map(|c| c.site).collect();
    let indirect_set: HashSet<u64> = indirect.iter().copied().collect();
    let mut indirect_vals: BTreeMap<u64, Vec<Val>> = BTreeMap::new();
    let mut site_vals: HashMap<u64, Val> = HashMap::new();
    let mut call_args: HashMap<u64, Vec<Val>> = HashMap::new();
    let mut modelled: Vec<(u64, bool)> = Vec::new();
    for (b, (addrs, _)) in blocks.iter().enumerate() {
        let mut st = match inn.get(b).copied().flatten() {
            Some(s) if !gave_up => s,
            _ => TOP,
        };
        let mut rax_writer: Option<&Instruction> = None;
        // Last writers of rdi, rsi and rdx in this block (musl's do_setxid).
        let mut arg_writers: [Option<&Instruction>; 3] = [None; 3];
        for a in addrs {
            let Some(i) = insns.get(a) else { continue };
            if i.ins.mnemonic() == Mnemonic::Syscall {
                let mut v = st[RAX].to_val();
                let loaded = rax_writer.is_some_and(|w| {
                    w.mnemonic() == Mnemonic::Mov
                        && w.op0_register() == Register::EAX
                        && w.op1_kind() == OpKind::Memory
                        && w.memory_index() == Register::None
                        && w.memory_displacement64() == 0
                        && gpr(w.memory_base()).is_some()
                });
                // `struct ctx { int id, eid, sid, nr; }`: the number from
                // offset 12, the arguments from 0, 4 and 8.
                let field = |w: Option<&Instruction>, reg: Register, off: u64| {
                    w.is_some_and(|w| {
                        w.mnemonic() == Mnemonic::Movsxd
                            && w.op0_register() == reg
                            && w.op1_kind() == OpKind::Memory
                            && w.memory_size().size() == 4
                            && w.memory_index() == Register::None
                            && w.memory_displacement64() == off
                            && gpr(w.memory_base()).is_some()
                    })
                };
                let musl_loaded = field(rax_writer, Register::RAX, 12)
                    && field(arg_writers[0], Register::RDI, 0)
                    && field(arg_writers[1], Register::RSI, 4)
                    && field(arg_writers[2], Register::RDX, 8);
                if v.unknown && loaded && ctx.setxid_model {
                    v = Val {
                        consts: Vec::new(),
                        args: 0,
                        unknown: false,
                    };
                    modelled.push((*a, false));
                } else if v.unknown && musl_loaded && ctx.musl_setxid_model {
                    v = Val {
                        consts: MUSL_SETXID_SYSCALLS.to_vec(),
                        args: 0,
                        unknown: false,
                    };
                    modelled.push((*a, true));
                }
                site_vals.insert(*a, v);
            }
            if i.writes & 1 != 0
                || matches!(
                    i.ins.flow_control(),
                    FlowControl::Call | FlowControl::IndirectCall
                )
            {
                rax_writer = Some(&i.ins);
            }
            for (k, r) in [RDI, RSI, RDX].into_iter().enumerate() {
                if i.writes & (1 << r) != 0
                    || matches!(
                        i.ins.flow_control(),
                        FlowControl::Call | FlowControl::IndirectCall
                    )
                {
                    if let Some(w) = arg_writers.get_mut(k) {
                        *w = Some(&i.ins);
                    }
                }
            }
            let direct = call_sites.contains(a);
            let indirect_site = indirect_set.contains(a);
            if direct || indirect_site {
                // rax too: it is whatever the caller holds there (varargs count
                // in C, the first argument in Go's register ABI); then the
                // callee's first stack argument: [rsp] here, or [rsp+8] for a
                // tail jump.
                let mut v: Vec<Val> = ARG_REGS.iter().map(|&r| st[r].to_val()).collect();
                let tail = tails.contains(a) || i.ins.flow_control() == FlowControl::IndirectBranch;
                v.push(
                    tx.slot_at(&st, if tail { 8 } else { 0 })
                        .map_or_else(Val::unknown, |k| st[k].to_val()),
                );
                while v
                    .last()
                    .is_some_and(|x| x.unknown && x.consts.is_empty() && x.args == 0)
                {
                    v.pop();
                }
                if indirect_site && !v.is_empty() {
                    indirect_vals.insert(*a, v.clone());
                }
                if direct {
                    call_args.insert(*a, v);
                }
            }
            transfer(i, &mut st, &tx);
        }
    }
    for (m, musl) in modelled {
        let message = if musl {
            format!(
                "syscall number at {m:#x} read from musl's do_setxid context: \
                 modelled as the six set-id syscalls __setxid is called with"
            )
        } else {
            format!(
                "syscall number at {m:#x} read from glibc's struct xidcmd: one of the set-id \
                 syscalls its reachable caller also issues directly (adds none)"
            )
        };
        ctx.diag(DiagKind::Modelled, Some(m), message);
    }
    for c in &mut calls {
        if let Some(v) = call_args.get(&c.site) {
            c.args = v.clone();
        }
    }
    calls.sort_by(|a, b| (a.site, &a.target).cmp(&(b.site, &b.target)));
    calls.dedup();
    syscall_sites.sort_unstable();
    syscall_sites.dedup();
    let syscalls = syscall_sites
        .into_iter()
        .map(|s| SyscallSite {
            site: s,
            nr: site_vals.get(&s).cloned().unwrap_or_else(Val::unknown),
        })
        .collect();
    indirect.sort_unstable();
    indirect.dedup();
    FunctionSummary {
        addr: f,
        name: None,
        calls,
        syscalls,
        indirect_sites: indirect,
        indirect_args: indirect_vals
            .into_iter()
            .map(|(site, args)| IndirectArgs { site, args })
            .collect(),
        addr_refs: addr_refs.into_iter().collect(),
        import_refs: import_refs.into_iter().collect(),
        data_refs: Vec::new(),
        contexts,
        tls_gates: Vec::new(),
    }
}

/// How a propagation treats branches.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Every edge; equality edges refine the compared register.
    Free,
    /// Also follows only the edge a 32-bit flag setter's known constants
    /// decide (refined registers are exact in their low 32 bits only).
    Args,
    /// No refinement (every constant is a register's whole value), and any
    /// flag setter's known constants decide.
    Exact,
}

/// A function's use of its object's thread-local gate candidates.
struct TlsFacts {
    /// Sites that run only when a load of the slot's variable is non-zero.
    gates: BTreeMap<u64, Vec<u64>>,
    sets: BTreeSet<u64>,
    wild: bool,
    escaped: BTreeSet<u64>,
    escaped_any: bool,
}

/// Keeps the gates of variables whose offsets never escape, on their
/// functions; returns each gated slot's setters (functions storing a
/// non-zero value, or storing through `%fs` where it cannot be told apart).
fn tls_gates(funcs: &mut [FunctionSummary], facts: &[(u64, TlsFacts)]) -> Vec<TlsSetters> {
    if facts.iter().any(|(_, t)| t.escaped_any) {
        return Vec::new();
    }
    let escaped: BTreeSet<u64> = facts
        .iter()
        .flat_map(|(_, t)| t.escaped.iter().copied())
        .collect();
    let wild: Vec<u64> = facts
        .iter()
        .filter(|(_, t)| t.wild)
        .map(|&(f, _)| f)
        .collect();
    let mut setters: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
    for (f, t) in facts {
        for (&slot, dead) in &t.gates {
            if escaped.contains(&slot) || dead.is_empty() {
                continue;
            }
            let Ok(i) = funcs.binary_search_by_key(f, |x| x.addr) else {
                continue;
            };
            if let Some(func) = funcs.get_mut(i) {
                func.tls_gates.push(TlsGate {
                    slot,
                    dead: dead.clone(),
                });
            }
            setters.entry(slot).or_default();
        }
    }
    for (f, t) in facts {
        for s in &t.sets {
            if let Some(v) = setters.get_mut(s) {
                v.insert(*f);
            }
        }
    }
    setters
        .into_iter()
        .map(|(slot, mut fs)| {
            fs.extend(wild.iter().copied());
            TlsSetters {
                slot,
                functions: fs.into_iter().collect(),
            }
        })
        .collect()
}

/// The blocks of one function and what the propagation needs to walk them.
struct Flow<'a> {
    insns: &'a BTreeMap<u64, Ins>,
    blocks: &'a [(Vec<u64>, Vec<u64>)],
    block_of: &'a HashMap<u64, usize>,
    tx: &'a Tx<'a>,
    /// State entries joined (registers only, or with tracked stack slots).
    live: usize,
    max_visits: usize,
}

impl Flow<'_> {
    /// Constant propagation to a fixpoint from `entry` at `f` (landing pads
    /// start with nothing known): the state entering each block, None for
    /// blocks never reached; None when the visit budget ran out. With
    /// `decide`, a `je`/`jne` whose flags the known constants fix follows
    /// only the edge they choose.
    fn fixpoint(
        &self,
        f: u64,
        entry: State,
        landing: &[u64],
        decide: bool,
    ) -> Option<Vec<Option<State>>> {
        let mode = if decide { Mode::Args } else { Mode::Free };
        self.fixpoint_with(f, entry, landing, mode, &[])
    }

    /// [`Self::fixpoint`] in `mode`, with the register each `(site, reg)`
    /// writes set to 0 after it (`zeros` sorted by site).
    fn fixpoint_with(
        &self,
        f: u64,
        entry: State,
        landing: &[u64],
        mode: Mode,
        zeros: &[(u64, usize)],
    ) -> Option<Vec<Option<State>>> {
        let n = self.blocks.len();
        let mut inn: Vec<Option<State>> = vec![None; n];
        let mut queued: Vec<bool> = vec![false; n];
        let mut wl: VecDeque<usize> = VecDeque::new();
        if let Some(&b) = self.block_of.get(&f) {
            if let Some(s) = inn.get_mut(b) {
                *s = Some(entry);
            }
            wl.push_back(b);
        }
        for lp in landing {
            if let Some(&b) = self.block_of.get(lp) {
                if let Some(slot) = inn.get_mut(b) {
                    if slot.is_none() {
                        *slot = Some(TOP);
                        wl.push_back(b);
                    }
                }
            }
        }
        let mut visits = 0usize;
        while let Some(b) = wl.pop_front() {
            if let Some(q) = queued.get_mut(b) {
                *q = false;
            }
            visits += 1;
            if visits > self.max_visits {
                return None;
            }
            let Some(Some(mut st)) = inn.get(b).copied() else {
                continue;
            };
            let Some((addrs, succs)) = self.blocks.get(b) else {
                continue;
            };
            for a in addrs {
                if let Some(i) = self.insns.get(a) {
                    transfer(i, &mut st, self.tx);
                }
                let from = zeros.partition_point(|(z, _)| z < a);
                for &(_, r) in zeros
                    .get(from..)
                    .unwrap_or(&[])
                    .iter()
                    .take_while(|(z, _)| z == a)
                {
                    if let Some(x) = st.get_mut(r) {
                        *x = AVal::konst(0);
                    }
                }
            }
            // Exact: no refinement, so constants are whole 64-bit values.
            let equal_edge = match mode {
                Mode::Exact => None,
                _ => equality_edge(self.insns, addrs),
            };
            let only = match mode {
                Mode::Free => None,
                Mode::Args => decided_edge(self.insns, addrs, &st, self.tx, false),
                Mode::Exact => decided_edge(self.insns, addrs, &st, self.tx, true),
            };
            for s in succs {
                if only.is_some_and(|o| o != *s) {
                    continue;
                }
                let Some(&sb) = self.block_of.get(s) else {
                    continue;
                };
                let Some(slot) = inn.get_mut(sb) else {
                    continue;
                };
                let refined: State;
                let st: &State = match equal_edge {
                    Some((to, r, v)) if to == *s => {
                        let mut t = st;
                        if let Some(x) = t.get_mut(r) {
                            *x = x.assume_equal(v);
                        }
                        refined = t;
                        &refined
                    }
                    _ => &st,
                };
                let joined = match slot {
                    None => *st,
                    Some(old) => {
                        // Objects without tracked slots use registers only.
                        let mut j = *old;
                        for (x, y) in j.iter_mut().zip(st.iter()).take(self.live) {
                            *x = x.join(y);
                        }
                        j
                    }
                };
                if slot.as_ref() != Some(&joined) {
                    *slot = Some(joined);
                    if let Some(q) = queued.get_mut(sb) {
                        if !*q {
                            *q = true;
                            wl.push_back(sb);
                        }
                    }
                }
            }
        }
        Some(inn)
    }

    /// Blocks reachable from `f` and the landing pads when the edges
    /// `removed` (block, successor) are cut.
    fn reach_without(&self, f: u64, landing: &[u64], removed: &[(usize, u64)]) -> Vec<bool> {
        let mut seen = vec![false; self.blocks.len()];
        let mut stack: Vec<usize> = std::iter::once(&f)
            .chain(landing)
            .filter_map(|a| self.block_of.get(a).copied())
            .collect();
        while let Some(b) = stack.pop() {
            match seen.get_mut(b) {
                Some(x) if !*x => *x = true,
                _ => continue,
            }
            for s in self.blocks.get(b).map_or(&[][..], |(_, s)| s.as_slice()) {
                if !removed.contains(&(b, *s)) {
                    stack.extend(self.block_of.get(s).copied());
                }
            }
        }
        seen
    }
}

/// Contexts tried per function.
const MAX_CONTEXTS: usize = 4;

/// What [`arg_contexts`] looks at besides the propagation.
#[derive(Clone, Copy)]
struct ContextSites<'a> {
    /// Call, syscall and indirect sites, sorted.
    sites: &'a [u64],
    /// Direct calls of the function to itself, sorted.
    self_calls: &'a [u64],
    /// Per tracked frame slot, the argument spilled there.
    origin: &'a [Option<u8>],
}

/// A context to try: (argument, constant) and the edges that constant
/// rules out directly (only a cost filter: where the slot's free value is
/// no longer the argument alone, as if it were).
type Candidate = (Hypothesis, Vec<(usize, u64)>);

/// (argument index, its constant value at entry).
type Hypothesis = (u8, u32);

/// For each (argument, constant) the function tests (an argument register's
/// low 32 bits, unchanged since entry, are the operand of the flag setter of
/// a `je`/`jne`: `test`, `cmp` with an immediate, or an `and`/`or`/`add`/
/// `sub`/`xor` whose result the jump tests), the sites in blocks the free
/// propagation reaches but the one entered with that constant does not.
/// `sites` is sorted. A candidate whose directly decided edges cut off no
/// site is not propagated (cost only).
fn arg_contexts(
    flow: &Flow,
    f: u64,
    entry: &State,
    landing: &[u64],
    inn: &[Option<State>],
    about: &ContextSites,
) -> Vec<ArgContext> {
    let ContextSites {
        sites,
        self_calls,
        origin,
    } = *about;
    if sites.is_empty() {
        return Vec::new();
    }
    // (argument, constant) -> the edges that constant rules out directly.
    let mut candidates: Vec<Candidate> = Vec::new();
    for (b, (addrs, _)) in flow.blocks.iter().enumerate() {
        let Some(Some(mut st)) = inn.get(b).copied() else {
            continue;
        };
        let Some((k, taken, fall, je)) = zf_branch(flow.insns, addrs) else {
            continue;
        };
        for (j, a) in addrs.iter().enumerate() {
            let Some(i) = flow.insns.get(a) else { break };
            if j == k {
                let ins = &i.ins;
                // Decided only on operands of 32 bits or fewer (see
                // `decided_edge`): a register, or a tracked frame slot.
                let Some(r) =
                    setter_loc(ins, &st, flow.tx).filter(|_| op0_mask(ins) <= 0xffff_ffff)
                else {
                    break;
                };
                let v = st[r].to_val();
                let exact = !v.unknown && v.consts.is_empty() && v.args.count_ones() == 1;
                let arg = if exact {
                    v.args.trailing_zeros() as u8
                } else if let Some(a) = r
                    .checked_sub(17)
                    .and_then(|x| origin.get(x).copied().flatten())
                {
                    a
                } else {
                    break;
                };
                if usize::from(arg) >= ARG_REGS.len() - 1 {
                    break;
                }
                let imm = (ins.mnemonic() == Mnemonic::Cmp)
                    .then(|| imm_operand(ins))
                    .flatten()
                    .and_then(|x| u32::try_from(x).ok());
                for c in [Some(0), imm].into_iter().flatten() {
                    let ruled_out =
                        zero_flag(ins, u64::from(c), true)
                            .map(|z| if z == je { fall } else { taken });
                    let at = match candidates.iter().position(|(x, _)| *x == (arg, c)) {
                        Some(p) => p,
                        None => {
                            candidates.push(((arg, c), Vec::new()));
                            candidates.len() - 1
                        }
                    };
                    if let Some((_, edges)) = candidates.get_mut(at) {
                        edges.extend(ruled_out.map(|e| (b, e)));
                    }
                }
                break;
            }
            transfer(i, &mut st, flow.tx);
        }
    }
    let free: Vec<bool> = inn.iter().map(Option::is_some).collect();
    let dead_in = |reached: &[bool]| -> Vec<u64> {
        let mut dead: Vec<u64> = Vec::new();
        for (b, (addrs, _)) in flow.blocks.iter().enumerate() {
            if free.get(b).copied().unwrap_or(false) && !reached.get(b).copied().unwrap_or(false) {
                dead.extend(addrs.iter().filter(|a| sites.binary_search(a).is_ok()));
            }
        }
        dead.sort_unstable();
        dead.dedup();
        dead
    };
    let mut out: Vec<ArgContext> = Vec::new();
    for ((arg, value), edges) in candidates.into_iter().take(MAX_CONTEXTS) {
        if edges.is_empty() || dead_in(&flow.reach_without(f, landing, &edges)).is_empty() {
            continue;
        }
        if out.iter().any(|c| c.arg == arg && c.value == value) {
            continue;
        }
        out.extend(context_group(
            flow,
            f,
            entry,
            landing,
            (arg, value),
            self_calls,
            &dead_in,
        ));
    }
    out
}

/// Values one argument may take in a context group.
const MAX_GROUP: usize = 16;

/// The contexts of `(arg, value)`: propagated from that constant, and from
/// each constant the function's calls to itself (`self_calls`, sorted) pass
/// for `arg` in a context of the group (up to [`MAX_GROUP`] values). Each
/// value's context gets the sites dead under every value of the group, and
/// the self-calls that pass a value of the group under every value where
/// they run. Empty when nothing is dead or a propagation gives up.
fn context_group(
    flow: &Flow,
    f: u64,
    entry: &State,
    landing: &[u64],
    (arg, value): Hypothesis,
    self_calls: &[u64],
    dead_in: &dyn Fn(&[bool]) -> Vec<u64>,
) -> Vec<ArgContext> {
    let Some(&reg) = ARG_REGS.get(usize::from(arg)) else {
        return Vec::new();
    };
    let mut values = vec![value];
    let mut dead: Option<Vec<u64>> = None;
    // Per self-call (in `self_calls` order): its block; `open` once some
    // value lets it pass a non-constant; `passed`, the constants it passes.
    let mut block_of_site: Vec<Option<usize>> = vec![None; self_calls.len()];
    for (b, (addrs, _)) in flow.blocks.iter().enumerate() {
        for a in addrs {
            if let Ok(k) = self_calls.binary_search(a) {
                if let Some(x) = block_of_site.get_mut(k) {
                    *x = Some(b);
                }
            }
        }
    }
    let mut open = vec![false; self_calls.len()];
    let mut passed: Vec<BTreeSet<u32>> = vec![BTreeSet::new(); self_calls.len()];
    let mut i = 0;
    while let Some(&v) = values.get(i) {
        i += 1;
        let mut e = *entry;
        e[reg] = AVal::konst(u64::from(v));
        let Some(inn) = flow.fixpoint(f, e, landing, true) else {
            return Vec::new();
        };
        let reached: Vec<bool> = inn.iter().map(Option::is_some).collect();
        let d = dead_in(&reached);
        for (k, &site) in self_calls.iter().enumerate() {
            if d.binary_search(&site).is_ok() {
                continue;
            }
            let cs = block_of_site
                .get(k)
                .copied()
                .flatten()
                .and_then(|b| value_at(flow, &inn, b, site, reg));
            let (Some(cs), Some(p)) = (cs, passed.get_mut(k)) else {
                if let Some(o) = open.get_mut(k) {
                    *o = true;
                }
                continue;
            };
            for c in cs {
                if !values.contains(&c) && values.len() < MAX_GROUP {
                    values.push(c);
                }
                p.insert(c);
            }
        }
        dead = Some(match dead {
            None => d,
            Some(old) => old
                .into_iter()
                .filter(|x| d.binary_search(x).is_ok())
                .collect(),
        });
    }
    let dead = dead.unwrap_or_default();
    if dead.is_empty() {
        return Vec::new();
    }
    let closed: Vec<u64> = self_calls
        .iter()
        .zip(open.iter().zip(&passed))
        .filter(|(_, (&o, p))| !o && p.iter().all(|x| values.contains(x)))
        .map(|(&s, _)| s)
        .collect();
    values.sort_unstable();
    values
        .into_iter()
        .map(|value| ArgContext {
            arg,
            value,
            dead: dead.clone(),
            closed: closed.clone(),
        })
        .collect()
}

/// The constants register `reg` may hold just before the instruction at
/// `site`, in block `b`, in the propagation `inn`; None when it may hold
/// anything else.
fn value_at(
    flow: &Flow,
    inn: &[Option<State>],
    b: usize,
    site: u64,
    reg: usize,
) -> Option<Vec<u32>> {
    let mut st = inn.get(b).copied().flatten()?;
    for a in flow.blocks.get(b)?.0.iter().take_while(|&&a| a != site) {
        transfer(flow.insns.get(a)?, &mut st, flow.tx);
    }
    let v = st.get(reg)?.to_val();
    (!v.unknown && v.args == 0 && !v.consts.is_empty()).then_some(v.consts)
}

/// Whether some `je`/`jne` of the function tests a frame slot: its flag
/// setter reads memory through rsp or rbp, or its register was loaded that
/// way earlier in the block (a cheap filter before [`spill_slots`]).
fn frame_tests(flow: &Flow) -> bool {
    let frame = |ins: &Instruction| {
        (0..ins.op_count()).any(|k| ins.op_kind(k) == OpKind::Memory)
            && matches!(ins.memory_base(), Register::RSP | Register::RBP)
    };
    flow.blocks.iter().any(|(addrs, _)| {
        let Some((k, ..)) = zf_branch(flow.insns, addrs) else {
            return false;
        };
        let Some(cmp) = addrs.get(k).and_then(|a| flow.insns.get(a)) else {
            return false;
        };
        if frame(&cmp.ins) {
            return true;
        }
        let Some(r) = gpr_wide(cmp.ins.op0_register()) else {
            return false;
        };
        addrs.iter().take(k).any(|a| {
            flow.insns
                .get(a)
                .is_some_and(|i| i.writes & (1 << r) != 0 && frame(&i.ins))
        })
    })
}

/// Functions that return twice into their caller's frame.
fn returns_twice(name: &str) -> bool {
    name.contains("setjmp")
        || name.contains("vfork")
        || name.contains("getcontext")
        || name == "savectx"
}

/// The address of a function's first instruction after any `endbr64`.
fn frame_entry(insns: &BTreeMap<u64, Ins>, f: u64) -> Option<u64> {
    let i = insns.get(&f)?;
    Some(if i.ins.mnemonic() == Mnemonic::Endbr64 {
        i.ins.next_ip()
    } else {
        f
    })
}

/// rbp's entry-relative value when it is this function's frame pointer:
/// the function starts `push rbp; mov rbp, rsp` (after an `endbr64`), and
/// every other write of rbp is a `pop rbp` or `leave` right before a `ret`
/// or a jump.
fn frame_pointer(insns: &BTreeMap<u64, Ins>, f: u64) -> Option<i64> {
    let i = insns.get(&frame_entry(insns, f)?)?;
    let is_reg = |ins: &Instruction, k: u32, r: Register| {
        ins.op_kind(k) == OpKind::Register && ins.op_register(k) == r
    };
    if i.ins.mnemonic() != Mnemonic::Push || !is_reg(&i.ins, 0, Register::RBP) {
        return None;
    }
    let m = insns.get(&i.ins.next_ip())?;
    if m.ins.mnemonic() != Mnemonic::Mov
        || !is_reg(&m.ins, 0, Register::RBP)
        || !is_reg(&m.ins, 1, Register::RSP)
    {
        return None;
    }
    for (a, x) in insns {
        if *a == m.ins.ip() || x.writes & (1 << 5) == 0 {
            continue;
        }
        let epilogue = match x.ins.mnemonic() {
            Mnemonic::Pop => is_reg(&x.ins, 0, Register::RBP),
            Mnemonic::Leave => true,
            _ => false,
        };
        let then_leaves = insns.get(&x.ins.next_ip()).is_some_and(|n| {
            matches!(
                n.ins.flow_control(),
                FlowControl::Return | FlowControl::UnconditionalBranch
            )
        });
        if !epilogue || !then_leaves {
            return None;
        }
    }
    Some(-8)
}

/// glibc's alloca accounting (`mov r, rsp` ... `sub r, rsp` in one block,
/// r untouched between): the copy of rsp only measures a dynamic
/// allocation and is no frame address. The two instructions' addresses,
/// sorted.
fn alloca_sizing(flow: &Flow) -> Vec<u64> {
    let mut out = Vec::new();
    for (addrs, _) in flow.blocks {
        for (j, a) in addrs.iter().enumerate() {
            let Some(i) = flow.insns.get(a) else { break };
            let ins = &i.ins;
            if ins.mnemonic() != Mnemonic::Mov
                || ins.op_count() != 2
                || ins.op0_kind() != OpKind::Register
                || ins.op1_kind() != OpKind::Register
                || ins.op1_register() != Register::RSP
            {
                continue;
            }
            let r = ins.op0_register();
            let Some(ri) = gpr(r) else { continue };
            for b in addrs.iter().skip(j + 1) {
                let Some(n) = flow.insns.get(b) else { break };
                let x = &n.ins;
                let is_sub = x.mnemonic() == Mnemonic::Sub
                    && x.op_count() == 2
                    && x.op0_kind() == OpKind::Register
                    && x.op0_register() == r
                    && x.op1_kind() == OpKind::Register
                    && x.op1_register() == Register::RSP;
                if is_sub {
                    out.extend([*a, *b]);
                    break;
                }
                let reads = (0..x.op_count())
                    .any(|k| x.op_kind(k) == OpKind::Register && gpr(x.op_register(k)) == Some(ri))
                    || gpr(x.memory_base()) == Some(ri)
                    || gpr(x.memory_index()) == Some(ri);
                if reads || n.writes & (1 << ri) != 0 || x.flow_control() != FlowControl::Next {
                    break;
                }
            }
        }
    }
    out.sort_unstable();
    out
}

/// The frame slots argument contexts track in a non-Go function (a C
/// frame, see `Tx::c_frame`), with the frame pointer: the entry-relative
/// offsets where the function spills an argument register still holding
/// its entry value (4- or 8-byte `mov`s through rsp or the frame pointer),
/// and read again in a block ending in a `je`/`jne` (before its flag
/// setter), lowest first, up to [`SLOTS`]. None when the frame's address escapes
/// (rsp or the frame pointer read as a value, an indexed `lea` of them) or
/// no slot qualifies; a slot at or above the lowest frame address a `lea`
/// forms (a local's address, which may reach it) is left out.
#[allow(clippy::type_complexity)]
fn spill_slots(
    flow: &Flow,
    f: u64,
    inn: &[Option<State>],
) -> Option<(Vec<(i64, Option<u8>)>, Option<i64>)> {
    let fp = frame_pointer(flow.insns, f);
    let probe = Tx {
        call_clobber: flow.tx.call_clobber,
        slots: &[],
        call_kill: flow.tx.call_kill,
        go_consts: flow.tx.go_consts,
        c_frame: true,
        fp,
    };
    let frame_reg = |r: Register| {
        r.full_register() == Register::RSP || (fp.is_some() && r.full_register() == Register::RBP)
    };
    // Entry offset -> the argument spilled there (None: two of them).
    let mut found: BTreeMap<i64, Option<u8>> = BTreeMap::new();
    let mut formed: Option<i64> = None;
    let sizing = alloca_sizing(flow);
    let prologue = frame_entry(flow.insns, f).filter(|_| fp.is_some());
    // Frame offsets read in a block that ends in a `je`/`jne`, up to its
    // flag setter: only slots read there can decide a branch.
    let mut tested: Vec<i64> = Vec::new();
    for (b, (addrs, _)) in flow.blocks.iter().enumerate() {
        let Some(Some(mut st)) = inn.get(b).copied() else {
            continue;
        };
        let setter = zf_branch(flow.insns, addrs).map(|z| z.0);
        for (j, a) in addrs.iter().enumerate() {
            let Some(i) = flow.insns.get(a) else { break };
            let ins = &i.ins;
            if setter.is_some_and(|k| j <= k)
                && !i.mem_write
                && (0..ins.op_count()).any(|k| ins.op_kind(k) == OpKind::Memory)
                && ins.mnemonic() != Mnemonic::Lea
            {
                tested.extend(frame_off(ins, &st, &probe));
            }
            let dest_frame = ins.op_count() > 0
                && ins.op0_kind() == OpKind::Register
                && frame_reg(ins.op0_register());
            for k in 1..ins.op_count() {
                if ins.op_kind(k) == OpKind::Register
                    && frame_reg(ins.op_register(k))
                    && !dest_frame
                    && sizing.binary_search(a).is_err()
                {
                    return None;
                }
            }
            // The frame's address pushed or swapped out (the prologue's
            // `push rbp` saves the caller's).
            if dest_frame
                && matches!(
                    ins.mnemonic(),
                    Mnemonic::Push | Mnemonic::Xchg | Mnemonic::Xadd | Mnemonic::Cmpxchg
                )
                && prologue != Some(*a)
            {
                return None;
            }
            if ins.mnemonic() == Mnemonic::Lea && frame_reg(ins.memory_base()) && !dest_frame {
                match frame_off(ins, &st, &probe) {
                    Some(x) => formed = Some(formed.map_or(x, |y| y.min(x))),
                    // rsp moved by an unknown amount under a frame pointer:
                    // a dynamic allocation, below every fixed slot.
                    None if fp.is_some()
                        && ins.memory_base() == Register::RSP
                        && ins.memory_index() == Register::None => {}
                    None => return None,
                }
            }
            if ins.mnemonic() == Mnemonic::Mov
                && ins.op_count() == 2
                && ins.op0_kind() == OpKind::Memory
                && ins.op1_kind() == OpKind::Register
                && matches!(ins.memory_size().size(), 4 | 8)
                && frame_reg(ins.memory_base())
            {
                let v = gpr_wide(ins.op1_register()).map(|r| st[r].to_val());
                let spilled = v
                    .filter(|v| {
                        !v.unknown
                            && v.consts.is_empty()
                            && v.args.count_ones() == 1
                            && (v.args.trailing_zeros() as usize) < ARG_REGS.len() - 1
                    })
                    .map(|v| v.args.trailing_zeros() as u8);
                if let (Some(arg), Some(e)) = (spilled, frame_off(ins, &st, &probe)) {
                    found
                        .entry(e)
                        // Two arguments spilled to one slot: no origin.
                        .and_modify(|x| {
                            if *x != Some(arg) {
                                *x = None;
                            }
                        })
                        .or_insert(Some(arg));
                }
            }
            transfer(i, &mut st, flow.tx);
        }
    }
    tested.sort_unstable();
    let found: Vec<(i64, Option<u8>)> = found
        .into_iter()
        .filter(|&(e, _)| {
            formed.is_none_or(|x| x >= e.saturating_add(8)) && tested.binary_search(&e).is_ok()
        })
        .take(SLOTS)
        .collect();
    (!found.is_empty()).then_some((found, fp))
}

/// The immediate second operand of an instruction, masked to the width of
/// its first operand (a register or memory; 64-bit ones keep the
/// sign-extended immediate).
fn imm_operand(ins: &Instruction) -> Option<u64> {
    (ins.op_count() >= 2
        && matches!(
            ins.op1_kind(),
            OpKind::Immediate8
                | OpKind::Immediate16
                | OpKind::Immediate32
                | OpKind::Immediate64
                | OpKind::Immediate8to32
                | OpKind::Immediate8to64
                | OpKind::Immediate32to64
        ))
    .then(|| ins.immediate(1) & op0_mask(ins))
}

/// The bits of an instruction's first operand: its register's or its
/// memory operand's width.
fn op0_mask(ins: &Instruction) -> u64 {
    let bytes = match ins.op0_kind() {
        OpKind::Register => ins.op0_register().size(),
        OpKind::Memory => ins.memory_size().size(),
        _ => 8,
    };
    match bytes {
        1 => 0xff,
        2 => 0xffff,
        4 => 0xffff_ffff,
        _ => u64::MAX,
    }
}

/// The zero flag `ins` (a [`zf_branch`] flag setter) leaves when its first
/// operand holds `x` before it runs, or after it when `before` is false
/// (then the register holds the result).
fn zero_flag(ins: &Instruction, x: u64, before: bool) -> Option<bool> {
    let reg = ins.op0_register();
    let mask = op0_mask(ins);
    let same = ins.op0_kind() == OpKind::Register
        && ins.op1_kind() == OpKind::Register
        && ins.op1_register() == reg;
    let result = |op: fn(u64, u64) -> u64| -> Option<u64> {
        if !before {
            return Some(x);
        }
        match ins.mnemonic() {
            Mnemonic::Xor | Mnemonic::Sub if same => Some(0),
            _ => imm_operand(ins).map(|i| op(x, i)),
        }
    };
    let r = match ins.mnemonic() {
        Mnemonic::Test if same => x,
        Mnemonic::Test => x & imm_operand(ins)?,
        Mnemonic::Cmp => return imm_operand(ins).map(|i| x & mask == i),
        Mnemonic::And => result(|a, b| a & b)?,
        Mnemonic::Or => result(|a, b| a | b)?,
        Mnemonic::Xor => result(|a, b| a ^ b)?,
        Mnemonic::Add => result(u64::wrapping_add)?,
        Mnemonic::Sub => result(u64::wrapping_sub)?,
        _ => return None,
    };
    Some(r & mask == 0)
}

/// The flag setter a block's closing `je`/`jne` tests: its index in `addrs`,
/// the taken and fall-through targets, and whether the jump is `je`. The
/// setter is the last instruction before the jump that sets flags; a call or
/// `syscall` in between means no setter (flags are not preserved across
/// them), and nothing after the setter may write its first operand.
fn zf_branch(insns: &BTreeMap<u64, Ins>, addrs: &[u64]) -> Option<(usize, u64, u64, bool)> {
    let (j, before) = addrs.split_last()?;
    let jcc = &insns.get(j)?.ins;
    if jcc.op0_kind() != OpKind::NearBranch64 {
        return None;
    }
    let (taken, fall) = (jcc.near_branch_target(), jcc.next_ip());
    if taken == fall {
        return None;
    }
    let je = match jcc.mnemonic() {
        Mnemonic::Je => true,
        Mnemonic::Jne => false,
        _ => return None,
    };
    // musl's `__stdio_read` stores the register between a `sub` and its `je`.
    let k = before.iter().rposition(|a| {
        insns.get(a).is_some_and(|i| {
            i.ins.rflags_modified() != 0
                || i.ins.mnemonic() == Mnemonic::Syscall
                || matches!(
                    i.ins.flow_control(),
                    FlowControl::Call | FlowControl::IndirectCall
                )
        })
    })?;
    let cmp = &insns.get(before.get(k)?)?.ins;
    if cmp.rflags_modified() & RflagsBits::ZF == 0 || cmp.op_count() != 2 {
        return None;
    }
    let after = before.get(k + 1..)?;
    match cmp.op0_kind() {
        OpKind::Register => {
            let r = gpr_wide(cmp.op0_register())?;
            if after
                .iter()
                .any(|a| insns.get(a).is_none_or(|i| i.writes & (1 << r) != 0))
            {
                return None;
            }
        }
        // `test`/`cmp` of a frame slot with an immediate (see `setter_loc`):
        // nothing after it writes memory or moves the frame.
        OpKind::Memory
            if matches!(cmp.mnemonic(), Mnemonic::Test | Mnemonic::Cmp)
                && imm_operand(cmp).is_some() =>
        {
            if after.iter().any(|a| {
                insns
                    .get(a)
                    .is_none_or(|i| i.mem_write || i.writes & (1 << 4 | 1 << 5) != 0)
            }) {
                return None;
            }
        }
        _ => return None,
    }
    Some((k, taken, fall, je))
}

/// The only successor of a block ending in `je`/`jne` whose zero flag the
/// known constants fix (`st` is the state at the block's end), if any.
fn decided_edge(
    insns: &BTreeMap<u64, Ins>,
    addrs: &[u64],
    st: &State,
    tx: &Tx,
    wide: bool,
) -> Option<u64> {
    let (k, taken, fall, je) = zf_branch(insns, addrs)?;
    let cmp = &insns.get(addrs.get(k)?)?.ins;
    // Without `wide`, only flag setters of 32 bits or fewer: a constant is
    // exact in a register's low 32 bits, but an equality edge of a 32-bit
    // compare refines the whole register (see `equality_edge`), so its
    // upper bits are not known.
    if !wide && op0_mask(cmp) > 0xffff_ffff {
        return None;
    }
    let v = st[setter_loc(cmp, st, tx)?].to_val();
    if v.unknown || v.args != 0 {
        return None;
    }
    let mut all: Option<bool> = None;
    for &c in &v.consts {
        let z = zero_flag(cmp, u64::from(c), false)?;
        if all.is_some_and(|a| a != z) {
            return None;
        }
        all = Some(z);
    }
    Some(if all? == je { taken } else { fall })
}

/// The state index a [`zf_branch`] flag setter reads its first operand
/// from: a register, or a tracked frame slot of a C frame.
fn setter_loc(cmp: &Instruction, st: &State, tx: &Tx) -> Option<usize> {
    match cmp.op0_kind() {
        OpKind::Register => gpr_wide(cmp.op0_register()),
        OpKind::Memory if tx.c_frame => tx.slot(frame_off(cmp, st, tx)?),
        _ => None,
    }
}

/// The entry-relative offset a memory operand addresses in the frame:
/// `[rsp + d]` with rsp's delta known, or `[rbp + d]` where rbp is the
/// frame pointer (`Tx::fp`); no index.
fn frame_off(ins: &Instruction, st: &State, tx: &Tx) -> Option<i64> {
    if ins.memory_index() != Register::None {
        return None;
    }
    let d = ins.memory_displacement64() as i64;
    match ins.memory_base() {
        Register::RSP => delta(st)?.checked_add(d),
        Register::RBP => tx.fp?.checked_add(d),
        _ => None,
    }
}

/// A block ending in `test r, r` / `cmp r, imm` then `je`/`jne`: the
/// successor reached when the comparison holds, the register and its value
/// there (`r == imm` on that edge; 32-bit compares fix the low 32 bits, all
/// the kernel reads of a syscall number).
fn equality_edge(insns: &BTreeMap<u64, Ins>, addrs: &[u64]) -> Option<(u64, usize, u64)> {
    let (k, taken, fall, je) = zf_branch(insns, addrs)?;
    let to = if je { taken } else { fall };
    let cmp = &insns.get(addrs.get(k)?)?.ins;
    // An 8- or 16-bit compare says nothing of the register's other bits.
    if op0_mask(cmp) < 0xffff_ffff {
        return None;
    }
    let reg = cmp.op0_register();
    let r = gpr_wide(reg)?;
    let v = match (cmp.mnemonic(), cmp.op1_kind()) {
        (Mnemonic::Test, OpKind::Register) if cmp.op1_register() == reg => 0,
        (Mnemonic::Cmp, _) => imm_operand(cmp)?,
        // ZF from the result, which the register holds (32-bit results
        // zero-extend).
        (Mnemonic::Sub | Mnemonic::Add | Mnemonic::And | Mnemonic::Or | Mnemonic::Xor, _) => 0,
        _ => return None,
    };
    Some((to, r, v))
}

/// Abstract effect of one instruction on the registers.
/// What [`transfer`] needs to know about the function's calls and frame.
struct Tx<'a> {
    /// Caller-saved registers each call site may change.
    call_clobber: &'a HashMap<u64, u16>,
    /// Offsets from rsp of the tracked stack slots (state indices 16..).
    slots: &'a [i64],
    /// Bytes above rsp each call site's callee may write (its arguments and
    /// spill area); absent: any.
    call_kill: &'a HashMap<u64, u64>,
    /// Go package words read as constants.
    go_consts: &'a HashMap<u64, u64>,
    /// A C frame (argument contexts of non-Go code, see `spill_slots`):
    /// the slots are spills of arguments whose address the function never
    /// forms, so only its own frame stores change them; calls keep them
    /// unless they lie below rsp.
    c_frame: bool,
    /// rbp's entry-relative value where it is the frame pointer.
    fp: Option<i64>,
}

impl Tx<'_> {
    fn slot(&self, e: i64) -> Option<usize> {
        self.slots.iter().position(|&x| x == e).map(|i| 17 + i)
    }

    /// Forget slots overlapping entry-relative `[e, e + size)`.
    fn kill(&self, st: &mut State, e: i64, size: i64) {
        for (i, &x) in self.slots.iter().enumerate() {
            if x < e.saturating_add(size) && e < x.saturating_add(8) {
                if let Some(v) = st.get_mut(17 + i) {
                    *v = AVal::UNKNOWN;
                }
            }
        }
    }

    fn kill_all(&self, st: &mut State) {
        self.kill(st, i64::MIN / 2, i64::MAX);
    }

    /// The slot `[rsp + d]` refers to now.
    fn slot_at(&self, st: &State, d: i64) -> Option<usize> {
        self.slot(delta(st)?.checked_add(d)?)
    }
}

/// rsp's offset from entry after `ins` (calls return with rsp unchanged).
fn next_delta(ins: &Instruction, writes: u16, d: Option<i64>) -> Option<i64> {
    if writes & (1 << 4) == 0
        || matches!(
            ins.flow_control(),
            FlowControl::Call | FlowControl::IndirectCall
        )
    {
        return d;
    }
    let d = d?;
    let rsp_dst = ins.op_count() >= 1
        && ins.op0_kind() == OpKind::Register
        && ins.op0_register() == Register::RSP;
    let imm = || {
        matches!(
            ins.op1_kind(),
            OpKind::Immediate8to64 | OpKind::Immediate32to64 | OpKind::Immediate32
        )
        .then(|| ins.immediate(1) as i64)
    };
    match ins.mnemonic() {
        Mnemonic::Push => Some(d - 8),
        Mnemonic::Pop => Some(d + 8),
        Mnemonic::Sub if rsp_dst => Some(d - imm()?),
        Mnemonic::Add if rsp_dst => Some(d + imm()?),
        Mnemonic::Lea if rsp_dst && ins.memory_index() == Register::None => {
            (ins.memory_base() == Register::RSP).then(|| d + ins.memory_displacement64() as i64)
        }
        _ => None,
    }
}

/// `[rsp + d]` with no index register: d.
fn rsp_disp(ins: &Instruction) -> Option<i64> {
    (ins.memory_base() == Register::RSP && ins.memory_index() == Register::None)
        .then(|| ins.memory_displacement64() as i64)
}

fn transfer(i: &Ins, st: &mut State, tx: &Tx) {
    let ins = &i.ins;
    match ins.mnemonic() {
        Mnemonic::Syscall => {
            st[RAX] = AVal::UNKNOWN;
            st[RCX] = AVal::UNKNOWN;
            st[R11] = AVal::UNKNOWN;
            // The kernel writes through pointer arguments, perhaps into
            // this frame (a C frame's slots' addresses are never formed).
            if !tx.c_frame {
                tx.kill_all(st);
            }
            return;
        }
        _ if ins.flow_control() == FlowControl::Call
            || ins.flow_control() == FlowControl::IndirectCall =>
        {
            let mut m = tx
                .call_clobber
                .get(&ins.ip())
                .copied()
                .unwrap_or(CALLER_SAVED_MASK);
            while m != 0 {
                let r = m.trailing_zeros() as usize;
                if let Some(x) = st.get_mut(r) {
                    *x = AVal::UNKNOWN;
                }
                m &= m - 1;
            }
            match (tx.call_kill.get(&ins.ip()), delta(st)) {
                // A C callee owns only the stack below the caller's rsp
                // and its own stack arguments, which hold no live spill.
                (_, Some(d)) if tx.c_frame => tx.kill(st, i64::MIN / 2, d - i64::MIN / 2),
                // rsp moved by an unknown amount under a frame pointer: a
                // dynamic allocation, below every fixed slot.
                (_, None) if tx.c_frame && tx.fp.is_some() => {}
                (Some(&n), Some(d)) => tx.kill(st, d, i64::try_from(n).unwrap_or(i64::MAX)),
                _ => tx.kill_all(st),
            }
            return;
        }
        _ => {}
    }
    if tx.c_frame {
        c_frame_store(i, st, tx);
    } else if !tx.slots.is_empty() {
        // Spills to and stores over tracked slots; any other memory write
        // may alias the frame.
        if i.mem_write && ins.mnemonic() == Mnemonic::Push {
            // `push` writes the word just below rsp (Go 1.21+ prologues push rbp).
            match delta(st).and_then(|d| d.checked_sub(8)) {
                Some(e) => match tx.slot(e) {
                    Some(k) => {
                        st[k] = match ins.op0_kind() {
                            OpKind::Register => gpr(ins.op0_register())
                                .filter(|_| ins.op0_register().is_gpr64())
                                .map_or(AVal::UNKNOWN, |r| st[r]),
                            OpKind::Immediate8to64 | OpKind::Immediate32to64 => {
                                AVal::konst(ins.immediate(0))
                            }
                            _ => AVal::UNKNOWN,
                        }
                    }
                    None => tx.kill(st, e, 8),
                },
                None => tx.kill_all(st),
            }
        } else if i.mem_write {
            let store = (ins.mnemonic() == Mnemonic::Mov
                && ins.op_count() == 2
                && ins.op0_kind() == OpKind::Memory)
                .then(|| rsp_disp(ins))
                .flatten();
            match store.and_then(|d| tx.slot_at(st, d)) {
                Some(k) if ins.memory_size().size() == 8 => {
                    let v = match ins.op1_kind() {
                        OpKind::Register => gpr_wide(ins.op1_register())
                            .filter(|_| ins.op1_register().is_gpr64())
                            .map_or(AVal::UNKNOWN, |r| st[r]),
                        OpKind::Immediate32to64 => AVal::konst(ins.immediate(1)),
                        _ => AVal::UNKNOWN,
                    };
                    st[k] = v;
                }
                _ => {
                    let at = (0..ins.op_count())
                        .any(|k| ins.op_kind(k) == OpKind::Memory)
                        .then(|| Some(delta(st)? + rsp_disp(ins)?))
                        .flatten();
                    match at {
                        Some(e) => tx.kill(st, e, ins.memory_size().size().max(1) as i64),
                        None => tx.kill_all(st),
                    }
                }
            }
        }
    }
    // rsp moves: track its offset from entry.
    if i.writes & (1 << 4) != 0 {
        let d = next_delta(ins, i.writes, delta(st));
        set_delta(st, d);
    }
    let slot_load = || {
        (ins.mnemonic() == Mnemonic::Mov && ins.op_count() == 2 && ins.op1_kind() == OpKind::Memory)
            .then(|| frame_off(ins, st, tx).and_then(|e| tx.slot(e)))
            .flatten()
            .map(|k| st[k])
    };
    let dst = if ins.op_count() >= 1 && ins.op0_kind() == OpKind::Register {
        gpr_wide(ins.op0_register())
    } else {
        None
    };
    let src_reg = || {
        (ins.op_count() >= 2 && ins.op1_kind() == OpKind::Register)
            .then(|| gpr_wide(ins.op1_register()))
            .flatten()
    };
    let imm1 = || imm_operand(ins);
    let computed: Option<AVal> = match (ins.mnemonic(), dst) {
        (Mnemonic::Mov, Some(_)) => match src_reg() {
            Some(s) => Some(st[s]),
            None => imm1().map(AVal::konst).or_else(slot_load).or_else(|| {
                (ins.is_ip_rel_memory_operand()
                    && ins.memory_size().size() == 8
                    && ins.op0_register().is_gpr64())
                .then(|| tx.go_consts.get(&ins.ip_rel_memory_address()))
                .flatten()
                .map(|&v| AVal::konst(v))
            }),
        },
        // A 32-bit constant with its top bit set sign-extends past 32 bits
        // (not tracked); argument symbols pass.
        (Mnemonic::Movsxd | Mnemonic::Movsx, Some(_)) if ins.op0_register().is_gpr64() => {
            src_reg().map(|s| st[s].sign_extended32())
        }
        (Mnemonic::Movsxd | Mnemonic::Movzx | Mnemonic::Movsx, Some(_)) => src_reg().map(|s| st[s]),
        (Mnemonic::Xor | Mnemonic::Sub, Some(d))
            if ins.op1_kind() == OpKind::Register && gpr(ins.op1_register()) == Some(d) =>
        {
            Some(AVal::konst(0))
        }
        (Mnemonic::Lea, Some(d)) => {
            let wide32 = ins.op0_register().is_gpr32();
            let _ = d;
            if ins.is_ip_rel_memory_operand() {
                let x = ins.ip_rel_memory_address();
                Some(AVal::konst(if wide32 { x & 0xffff_ffff } else { x }))
            } else if ins.memory_index() == Register::None {
                gpr(ins.memory_base()).map(|b| {
                    let disp = ins.memory_displacement64();
                    st[b].map(|v| {
                        let r = v.wrapping_add(disp);
                        if wide32 {
                            r & 0xffff_ffff
                        } else {
                            r
                        }
                    })
                })
            } else {
                None
            }
        }
        (Mnemonic::Add, Some(d)) => imm1().map(|v| st[d].map(|x| x.wrapping_add(v))),
        (Mnemonic::Sub, Some(d)) => imm1().map(|v| st[d].map(|x| x.wrapping_sub(v))),
        (Mnemonic::Or, Some(d)) => imm1().map(|v| st[d].map(|x| x | v)),
        (Mnemonic::And, Some(d)) => imm1().map(|v| st[d].map(|x| x & v)),
        _ => None,
    };
    // `mov al, imm` / `mov ax, imm` keep the register's upper bits (musl's
    // `xor eax,eax; mov $56,%al` before `syscall`).
    let partial: Option<(usize, AVal)> = (ins.mnemonic() == Mnemonic::Mov
        && ins.op_count() == 2
        && ins.op0_kind() == OpKind::Register
        && matches!(ins.op1_kind(), OpKind::Immediate8 | OpKind::Immediate16))
    .then(|| {
        let reg = ins.op0_register();
        let mask: u64 = if reg.is_gpr16() {
            0xffff
        } else if reg.is_gpr8()
            && !matches!(
                reg,
                Register::AH | Register::CH | Register::DH | Register::BH
            )
        {
            0xff
        } else {
            return None;
        };
        let r = gpr(reg)?;
        let imm = ins.immediate(1) & mask;
        Some((r, st[r].map(|x| (x & !mask) | imm)))
    })
    .flatten();
    let mut w = i.writes;
    while w != 0 {
        let r = w.trailing_zeros() as usize;
        st[r] = AVal::UNKNOWN;
        w &= w - 1;
    }
    if let Some((r, v)) = partial {
        st[r] = v;
    }
    if let (Some(d), Some(v)) = (dst, computed) {
        // 32-bit writes zero-extend; constants are 32-bit already.
        st[d] = if ins.op0_register().is_gpr32() || ins.op0_register().is_gpr64() {
            v
        } else {
            AVal::UNKNOWN
        };
    }
}

/// A C frame's memory writes (see `Tx::c_frame`): a 4- or 8-byte `mov` of
/// a register or an immediate, or an `or`/`and`/`add`/`sub` of an
/// immediate, sets a tracked slot; any other frame store forgets the slots
/// it overlaps; a frame store at an unknown offset forgets them all. Stores
/// through other pointers cannot reach a slot whose address was never
/// formed.
fn c_frame_store(i: &Ins, st: &mut State, tx: &Tx) {
    let ins = &i.ins;
    if !i.mem_write {
        return;
    }
    if ins.mnemonic() == Mnemonic::Push {
        match delta(st).and_then(|d| d.checked_sub(8)) {
            Some(e) => tx.kill(st, e, 8),
            None => tx.kill_all(st),
        }
        return;
    }
    if !(0..ins.op_count()).any(|k| ins.op_kind(k) == OpKind::Memory) {
        return;
    }
    let frame = match ins.memory_base() {
        Register::RSP => true,
        Register::RBP => tx.fp.is_some(),
        _ => false,
    };
    if !frame {
        return;
    }
    let Some(e) = frame_off(ins, st, tx) else {
        // Under a frame pointer, rsp at an unknown depth is below the fixed
        // frame (a dynamic allocation); otherwise any slot may be hit.
        if !(tx.fp.is_some() && ins.memory_base() == Register::RSP)
            || ins.memory_index() != Register::None
        {
            tx.kill_all(st);
        }
        return;
    };
    let size = ins.memory_size().size();
    let slot = tx
        .slot(e)
        .filter(|_| ins.op0_kind() == OpKind::Memory && matches!(size, 4 | 8));
    let v = slot.and_then(|k| {
        let old = st[k];
        match (ins.mnemonic(), ins.op1_kind()) {
            (Mnemonic::Mov, OpKind::Register) => gpr_wide(ins.op1_register())
                .filter(|_| ins.op1_register().size() == size)
                .map(|r| st[r]),
            (_, OpKind::Register) => None,
            (Mnemonic::Mov, _) => imm_operand(ins).map(AVal::konst),
            (Mnemonic::Or, _) => imm_operand(ins).map(|v| old.map(|x| x | v)),
            (Mnemonic::And, _) => imm_operand(ins).map(|v| old.map(|x| x & v)),
            (Mnemonic::Add, _) => imm_operand(ins).map(|v| old.map(|x| x.wrapping_add(v))),
            (Mnemonic::Sub, _) => imm_operand(ins).map(|v| old.map(|x| x.wrapping_sub(v))),
            _ => None,
        }
    });
    tx.kill(st, e, size.max(1) as i64);
    if let (Some(k), Some(v)) = (slot, v) {
        st[k] = v;
    }
}

fn read_i32(ctx: &Ctx, a: u64) -> Option<i64> {
    let b = ctx.elf.bytes_at(ctx.data, a, 4)?;
    let mut x = [0u8; 4];
    x.copy_from_slice(b);
    Some(i64::from(i32::from_le_bytes(x)))
}

fn read_u64(ctx: &Ctx, a: u64) -> Option<u64> {
    let b = ctx.elf.bytes_at(ctx.data, a, 8)?;
    let mut x = [0u8; 8];
    x.copy_from_slice(b);
    Some(u64::from_le_bytes(x))
}

/// Recognise a compiler jump table behind an indirect `jmp` and return its
/// in-function targets: `lea B,[rip+T]; movsxd R,[B+I*4]; add R,B; jmp R`
/// (PIC) or `jmp [T+I*8]` / `mov R,[T+I*8]; jmp R` (absolute).
fn jump_table(
    ctx: &Ctx,
    insns: &BTreeMap<u64, Ins>,
    jmp: &Instruction,
    f: u64,
    bound: u64,
) -> Option<(Vec<u64>, Vec<u64>)> {
    let window: Vec<&Instruction> = insns
        .range(f..jmp.ip())
        .rev()
        .take(40)
        .map(|(_, i)| &i.ins)
        .collect();
    // (table base, index register, entry size 4 = relative / 8 = absolute)
    let mut found: Option<(u64, Option<usize>, u8)> = None;
    if jmp.op0_kind() == OpKind::Memory {
        if jmp.memory_base() == Register::None && jmp.memory_index_scale() == 8 {
            found = Some((jmp.memory_displacement64(), gpr(jmp.memory_index()), 8));
        }
    } else if jmp.op0_kind() == OpKind::Register {
        let r = gpr(jmp.op0_register())?;
        let mut pos = 0usize;
        let mut base_reg: Option<usize> = None;
        // The register holding the loaded table entry.
        let mut loaded = r;
        // find `add R, B` or `lea R, [B + L]`
        for (k, i) in window.iter().enumerate() {
            if i.op_count() >= 1
                && i.op0_kind() == OpKind::Register
                && gpr(i.op0_register()) == Some(r)
            {
                if i.mnemonic() == Mnemonic::Add && i.op1_kind() == OpKind::Register {
                    base_reg = gpr(i.op1_register());
                    pos = k + 1;
                } else if i.mnemonic() == Mnemonic::Lea
                    && i.memory_index_scale() == 1
                    && i.memory_displacement64() == 0
                    && !i.is_ip_rel_memory_operand()
                {
                    base_reg = gpr(i.memory_base());
                    loaded = gpr(i.memory_index())?;
                    pos = k + 1;
                } else if i.mnemonic() == Mnemonic::Mov
                    && i.op1_kind() == OpKind::Memory
                    && i.memory_base() == Register::None
                    && i.memory_index_scale() == 8
                {
                    found = Some((i.memory_displacement64(), gpr(i.memory_index()), 8));
                }
                break;
            }
        }
        if found.is_none() {
            let b = base_reg?;
            // find `movsxd R, dword [X + I*4]`
            let mut index = None;
            let mut mem_base = None;
            for (k, i) in window.iter().enumerate().skip(pos) {
                if i.op_count() >= 2
                    && i.op0_kind() == OpKind::Register
                    && gpr(i.op0_register()) == Some(loaded)
                {
                    if i.op1_kind() == OpKind::Memory && i.memory_index_scale() == 4 {
                        index = gpr(i.memory_index());
                        mem_base = gpr(i.memory_base());
                        pos = k + 1;
                    }
                    break;
                }
            }
            let mb = mem_base?;
            // find `lea MB, [rip+T]` (MB usually equals B)
            let mut table = None;
            for i in window.iter().skip(pos) {
                if i.mnemonic() == Mnemonic::Lea
                    && i.op0_kind() == OpKind::Register
                    && gpr(i.op0_register()) == Some(mb)
                {
                    if i.is_ip_rel_memory_operand() {
                        table = Some(i.ip_rel_memory_address());
                    }
                    break;
                }
            }
            let t = table?;
            if mb != b {
                // the added base must hold the same table address
                let mut same = false;
                for i in window.iter() {
                    if i.mnemonic() == Mnemonic::Lea
                        && i.op0_kind() == OpKind::Register
                        && gpr(i.op0_register()) == Some(b)
                    {
                        same = i.is_ip_rel_memory_operand() && i.ip_rel_memory_address() == t;
                        break;
                    }
                }
                if !same {
                    return None;
                }
            }
            found = Some((t, index, 4));
        }
    }
    let (table, index, size) = found?;
    // Bound: `cmp I, imm` followed by `ja`/`jae` in the window.
    let mut count: Option<u64> = None;
    let mut fallback: Option<u64> = None;
    for i in window.iter() {
        if i.mnemonic() == Mnemonic::Cmp
            && i.op0_kind() == OpKind::Register
            && matches!(
                i.op1_kind(),
                OpKind::Immediate8
                    | OpKind::Immediate8to32
                    | OpKind::Immediate8to64
                    | OpKind::Immediate32
                    | OpKind::Immediate32to64
            )
        {
            let next = insns.get(&i.next_ip()).map(|n| n.ins.mnemonic());
            let n = match next {
                Some(Mnemonic::Ja) => i.immediate(1).checked_add(1),
                Some(Mnemonic::Jae) => Some(i.immediate(1)),
                _ => None,
            };
            if let Some(n) = n {
                if index.is_some() && gpr(i.op0_register()) == index {
                    count = Some(n);
                    break;
                }
                if fallback.is_none() {
                    fallback = Some(n);
                }
            }
        }
    }
    let limit = ctx.limits.max_jump_table_entries as u64;
    let bounded = count.or(fallback);
    let n = bounded.unwrap_or(limit).min(limit);
    let mut out = Vec::new();
    let mut outside = Vec::new();
    // Without a bound, another table's start (an address this function takes)
    // ends this one.
    let other_tables: HashSet<u64> = if bounded.is_none() {
        insns
            .values()
            .filter(|i| i.ins.mnemonic() == Mnemonic::Lea && i.ins.is_ip_rel_memory_operand())
            .map(|i| i.ins.ip_rel_memory_address())
            .filter(|&a| a != table)
            .collect()
    } else {
        HashSet::new()
    };
    for k in 0..n {
        let at = table.checked_add(k * u64::from(size))?;
        if other_tables.contains(&at) {
            break;
        }
        let t = if size == 4 {
            match read_i32(ctx, at) {
                Some(e) => table.wrapping_add(e as u64),
                None => break,
            }
        } else {
            match read_u64(ctx, at) {
                Some(e) => e,
                None => break,
            }
        };
        if t >= f && t < bound {
            out.push(t);
        } else if bounded.is_none() {
            break;
        } else if count.is_some() && ctx.in_exec(t) {
            outside.push(t);
        }
    }
    out.sort_unstable();
    out.dedup();
    outside.sort_unstable();
    outside.dedup();
    (!out.is_empty() || !outside.is_empty()).then_some((out, outside))
}

impl ObjectSummary {
    /// Index of the function starting at `addr`.
    pub fn function_at(&self, addr: u64) -> Option<&FunctionSummary> {
        self.functions
            .binary_search_by_key(&addr, |f| f.addr)
            .ok()
            .and_then(|i| self.functions.get(i))
    }

    /// Functions whose syscall number comes from an entry argument, resolved
    /// inside this object: address -> bit mask of argument indices.
    pub fn wrappers(&self) -> BTreeMap<u64, u8> {
        let mut w: BTreeMap<u64, u8> = BTreeMap::new();
        for f in &self.functions {
            let m = f.syscalls.iter().fold(0u8, |m, s| m | s.nr.args);
            if m != 0 {
                w.insert(f.addr, m);
            }
        }
        loop {
            let mut changed = false;
            for f in &self.functions {
                let mut m = w.get(&f.addr).copied().unwrap_or(0);
                for c in &f.calls {
                    if let Target::Local(t) = c.target {
                        let tm = w.get(&t).copied().unwrap_or(0);
                        for j in 0..8 {
                            if tm & (1 << j) != 0 {
                                m |= c.args.get(j).map_or(0, |v| v.args);
                            }
                        }
                    }
                }
                if m != w.get(&f.addr).copied().unwrap_or(0) {
                    w.insert(f.addr, m);
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        w
    }

    /// Syscall numbers resolved inside this object: constants at `syscall`
    /// sites and constants passed to local wrappers.
    pub fn resolved_numbers(&self) -> BTreeSet<u32> {
        let w = self.wrappers();
        let mut out = BTreeSet::new();
        for f in &self.functions {
            for s in &f.syscalls {
                out.extend(s.nr.consts.iter().copied());
            }
            for c in &f.calls {
                if let Target::Local(t) = c.target {
                    let tm = w.get(&t).copied().unwrap_or(0);
                    for j in 0..8 {
                        if tm & (1 << j) != 0 {
                            if let Some(v) = c.args.get(j) {
                                out.extend(v.consts.iter().copied());
                            }
                        }
                    }
                }
            }
        }
        out
    }
}
