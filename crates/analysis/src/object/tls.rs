//! Thread-local pointers that only some functions ever set.
//!
//! glibc's thread exit runs `__rpc_thread_destroy`, whose body (sunrpc's
//! cleanup: `svc_unregister`, `pmap_unset`, a UDP client, ...) runs only
//! when the thread's RPC pointer is set, and only sunrpc's own accessors set
//! it. A local initial-exec TLS variable of an object (a GOT slot with a
//! symbol-less `R_X86_64_TPOFF64` relocation, zero in the TLS image) is a
//! *gate* when every use of its offset is an `%fs:(reg)` access with no
//! displacement or index; each function that stores a value other than an
//! immediate 0 there is one of its *setters*, and so is each function that
//! stores through `%fs` at an address it cannot tell apart from the
//! variable's (a base register not freshly loaded from a TPOFF slot, a
//! negative constant offset). Sites a function reaches only when a load of
//! the variable is non-zero are dead until one of its setters is reachable:
//! before any setter runs, the variable is 0 in every thread.
//!
//! Assumptions (ARCHITECTURE.md, Known debt): no code walks from another
//! TLS variable's address into this one; and a raw thread-pointer offset is
//! no C value, so compiled code uses one only in the function that loaded
//! it from its GOT slot. A register still holding one at a call, a `ret` or
//! a tail jump is a leftover (glibc's `rpc_thread_multi` returns with the
//! RPC pointer's offset in rax), not an escape. Code that received an
//! offset some other way and stores through `%fs` with it makes itself a
//! setter of every gate (the provenance rule above). An object with
//! general-dynamic TLS (`__tls_get_addr`, TLSDESC, whose calls do return
//! offsets) has no gates.

use super::{Flow, Ins, State, CALLER_SAVED_MASK};
use confine_elf::{ElfInfo, RelocKind};
use iced_x86::{FlowControl, InstructionInfoFactory, Mnemonic, OpAccess, OpKind, Register};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

/// The object's gate candidates: GOT slots of local initial-exec TLS
/// variables whose initial value is 0.
pub(crate) fn candidate_slots(
    data: &[u8],
    elf: &ElfInfo,
    got_ranges: &[(u64, u64)],
) -> HashSet<u64> {
    let general = elf.relocations.iter().any(|r| {
        matches!(
            r.kind,
            RelocKind::Dtpmod64 | RelocKind::Dtpoff64 | RelocKind::Tlsdesc | RelocKind::Tpoff32
        )
    });
    let Some((tls_addr, tls_size)) = elf.tls else {
        return HashSet::new();
    };
    if general {
        return HashSet::new();
    }
    // The initialisation image (`.tdata`); `.tbss` after it is zero.
    let Some(tdata_size) = elf
        .section(".tdata")
        .map(|s| s.size)
        .or_else(|| elf.section(".tbss").map(|_| 0))
    else {
        return HashSet::new();
    };
    // A variable whose offset some other relocation also writes (a second
    // slot, a word in data) has a copy this pass does not follow. Offsets
    // counted: a symbol-less relocation's addend; a symbol defined here,
    // its value plus the addend; a symbol of another object names that
    // object's variable.
    let mut seen: HashMap<i64, usize> = HashMap::new();
    for r in &elf.relocations {
        if !matches!(r.kind, RelocKind::Tpoff64 | RelocKind::Tpoff32) {
            continue;
        }
        let off = match &r.sym {
            None => Some(r.addend),
            Some(s) if !s.defined => None,
            Some(s) => elf
                .dynsyms
                .get(s.index as usize)
                .and_then(|x| i64::try_from(x.addr).ok())
                .map(|v| v.wrapping_add(r.addend))
                // Unreadable: it may be any of them.
                .or(Some(i64::MIN)),
        };
        if let Some(off) = off {
            *seen.entry(off).or_default() += 1;
        }
    }
    if seen.contains_key(&i64::MIN) {
        return HashSet::new();
    }
    let mut out = HashSet::new();
    for r in &elf.relocations {
        if r.kind != RelocKind::Tpoff64 || r.sym.is_some() || seen.get(&r.addend) != Some(&1) {
            continue;
        }
        if !got_ranges
            .iter()
            .any(|&(a, b)| r.offset >= a && r.offset < b)
        {
            continue;
        }
        let Ok(off) = u64::try_from(r.addend) else {
            continue;
        };
        // Slot addresses at or above the state markers are not tracked.
        if off.checked_add(8).is_none_or(|e| e > tls_size) || r.offset >= BOUNDARY {
            continue;
        }
        let zero = if off < tdata_size {
            tls_addr
                .checked_add(off)
                .and_then(|a| elf.bytes_at(data, a, 8))
                .is_some_and(|b| b.iter().all(|&x| x == 0))
        } else {
            true
        };
        if zero {
            out.insert(r.offset);
        }
    }
    out
}

/// What one function does with the candidate slots.
#[derive(Default)]
pub(crate) struct Scan {
    /// (site, slot, destination register) of loads of a variable's value.
    pub loads: Vec<(u64, u64, usize)>,
    /// Slots this function stores a non-zero value (or anything) into.
    pub sets: BTreeSet<u64>,
    /// A store through `%fs` that may hit any candidate.
    pub wild: bool,
    /// Slots whose offset is used otherwise (its variable's address formed).
    pub escaped: BTreeSet<u64>,
    /// An offset of an unknown one of the slots used otherwise.
    pub escaped_any: bool,
}

/// Register contents: 0 nothing of interest (computed or loaded in this
/// function: memory holds a candidate's offset only after a store that
/// counts as its escape); a slot (its variable's offset, surely); a slot
/// with [`MAYBE`] (its offset on some paths, on the others nothing of
/// interest); or `MIXED` (two candidates' offsets). [`BOUNDARY`] may be
/// added to any of them: on some path the register holds what crossed a
/// function boundary (an entry register, a call's caller-saved results, a
/// landing pad's registers), so it may hold an offset loaded elsewhere.
const MIXED: u64 = !BOUNDARY;
const MAYBE: u64 = 1 << 63;
const BOUNDARY: u64 = 1 << 61;

fn join(a: u64, b: u64) -> u64 {
    let edge = (a | b) & BOUNDARY;
    let (a, b) = (a & !BOUNDARY, b & !BOUNDARY);
    edge | match (a, b) {
        _ if a == b => a,
        (MIXED, _) | (_, MIXED) => MIXED,
        (0, x) | (x, 0) => x | MAYBE,
        _ if a & !MAYBE == b & !MAYBE => a | MAYBE,
        _ => MIXED,
    }
}

/// Scans one function: which candidate offsets registers hold (a forward
/// propagation over its blocks), and how each instruction uses them.
pub(crate) fn scan(
    factory: &mut InstructionInfoFactory,
    flow: &Flow,
    f: u64,
    landing: &[u64],
    slots: &HashSet<u64>,
) -> Scan {
    let mut out = Scan::default();
    let n = flow.blocks.len();
    let mut inn: Vec<Option<[u64; 16]>> = vec![None; n];
    let mut wl: VecDeque<usize> = VecDeque::new();
    for a in std::iter::once(&f).chain(landing) {
        if let Some(&b) = flow.block_of.get(a) {
            if let Some(s) = inn.get_mut(b) {
                if s.is_none() {
                    *s = Some([BOUNDARY; 16]);
                    wl.push_back(b);
                }
            }
        }
    }
    let mut visits = 0usize;
    while let Some(b) = wl.pop_front() {
        visits += 1;
        if visits > flow.max_visits {
            // Out of budget: nothing here may be relied on.
            out.escaped_any = true;
            return out;
        }
        let Some(Some(mut st)) = inn.get(b).copied() else {
            continue;
        };
        let Some((addrs, succs)) = flow.blocks.get(b) else {
            continue;
        };
        for a in addrs {
            if let Some(i) = flow.insns.get(a) {
                step(factory, i, &mut st, slots, &mut out);
            }
        }
        for s in succs {
            let Some(&sb) = flow.block_of.get(s) else {
                continue;
            };
            let Some(slot) = inn.get_mut(sb) else {
                continue;
            };
            let joined = match slot {
                None => st,
                Some(old) => {
                    let mut j = *old;
                    for (x, y) in j.iter_mut().zip(st.iter()) {
                        *x = join(*x, *y);
                    }
                    j
                }
            };
            if slot.as_ref() != Some(&joined) {
                *slot = Some(joined);
                wl.push_back(sb);
            }
        }
    }
    out.loads.sort_unstable();
    out.loads.dedup();
    out
}

fn reg_index(r: Register) -> Option<usize> {
    super::gpr(r)
}

/// One instruction: its uses of tracked registers, then its writes.
fn step(
    factory: &mut InstructionInfoFactory,
    i: &Ins,
    st: &mut [u64; 16],
    slots: &HashSet<u64>,
    out: &mut Scan,
) {
    let ins = &i.ins;
    let fs = ins.op_count() > 0
        && (0..ins.op_count()).any(|k| ins.op_kind(k) == OpKind::Memory)
        && ins.memory_segment() == Register::FS;
    let base = reg_index(ins.memory_base());
    // The one use allowed: the base of an `%fs:(reg)` operand with no
    // displacement or index, the register appearing nowhere else.
    let tls_access = fs
        && base.is_some()
        && ins.memory_index() == Register::None
        && ins.memory_displacement64() == 0
        && !(0..ins.op_count())
            .any(|k| ins.op_kind(k) == OpKind::Register && reg_index(ins.op_register(k)) == base);
    let info = factory.info(ins);
    let mut reads: u16 = 0;
    for u in info.used_registers() {
        if matches!(
            u.access(),
            OpAccess::Read | OpAccess::CondRead | OpAccess::ReadWrite | OpAccess::ReadCondWrite
        ) {
            if let Some(r) = reg_index(u.register()) {
                reads |= 1 << r;
            }
        }
    }
    // Registers read as values: not rsp, nor an address's base or index
    // (what memory holds is an offset only after a store that escaped it),
    // unless `lea` computes with them or they are operands too.
    let mut address: u16 = 1 << 4;
    if ins.mnemonic() != Mnemonic::Lea {
        for r in [ins.memory_base(), ins.memory_index()] {
            if let Some(x) = reg_index(r) {
                if !(0..ins.op_count()).any(|k| {
                    ins.op_kind(k) == OpKind::Register && reg_index(ins.op_register(k)) == Some(x)
                }) {
                    address |= 1 << x;
                }
            }
        }
    }
    let mut crossed = false;
    for (r, &v) in st.iter().enumerate() {
        if reads & (1 << r) == 0 {
            continue;
        }
        crossed |= v & BOUNDARY != 0 && address & (1 << r) == 0;
        let v = v & !BOUNDARY;
        if v == 0 || (tls_access && base == Some(r)) {
            continue;
        }
        let v = if v == MIXED { v } else { v & !MAYBE };
        if v == MIXED {
            out.escaped_any = true;
        } else {
            out.escaped.insert(v);
        }
    }
    // The slot itself read or formed any other way than `mov r64, [slot]`.
    let load_slot = ins.is_ip_rel_memory_operand() && slots.contains(&ins.ip_rel_memory_address());
    let plain_load = load_slot
        && ins.mnemonic() == Mnemonic::Mov
        && ins.op_count() == 2
        && ins.op0_kind() == OpKind::Register
        && ins.op0_register().is_gpr64()
        && ins.op1_kind() == OpKind::Memory;
    if load_slot && !plain_load {
        out.escaped.insert(ins.ip_rel_memory_address());
    }
    // Stores through %fs.
    if fs && i.mem_write {
        let at = base.map_or(0, |b| st[b]);
        let index_crossed = reg_index(ins.memory_index()).is_some_and(|x| st[x] & BOUNDARY != 0);
        let zero_store = ins.mnemonic() == Mnemonic::Mov
            && matches!(
                ins.op1_kind(),
                OpKind::Immediate8to64 | OpKind::Immediate32to64 | OpKind::Immediate32
            )
            && ins.immediate(1) == 0;
        // A constant offset: the thread control block at or above the
        // thread pointer; below it, a variable a link-time offset names. A
        // base holding nothing of interest: another variable, or one whose
        // offset escaped. A base or index that crossed a boundary: anything.
        // No base, with or without an index: the thread control block's
        // arrays sit at or above the thread pointer (`pthread_setspecific`).
        let constant = base.is_none();
        if zero_store {
        } else if constant {
            out.wild |= (ins.memory_displacement64() as i32) < 0;
        } else if at & BOUNDARY != 0 || index_crossed || at == MIXED {
            out.wild = true;
        } else if tls_access && at != 0 {
            out.sets.insert(at & !MAYBE);
        }
    }
    // Loads of a variable's value.
    if tls_access && !i.mem_write && ins.mnemonic() == Mnemonic::Mov {
        if let (Some(b), Some(d)) = (base, reg_index(ins.op0_register())) {
            let v = st[b];
            // Surely the variable: the hypothesis sets what it loads to 0.
            if v != 0 && v & (MAYBE | BOUNDARY) == 0 && ins.op0_register().is_gpr64() {
                out.loads.push((ins.ip(), v, d));
            }
        }
    }
    // Writes: a call's caller-saved registers hold what the callee left;
    // anything computed from a value that crossed a boundary may still be
    // an offset from elsewhere.
    // (The kernel's results are no offsets.)
    let kernel = ins.mnemonic() == Mnemonic::Syscall;
    let call = !kernel
        && matches!(
            ins.flow_control(),
            FlowControl::Call | FlowControl::IndirectCall
        );
    let mut w = i.writes;
    if call {
        w |= CALLER_SAVED_MASK;
    }
    if kernel {
        w = (1 << 0) | (1 << 1) | (1 << 11);
    }
    let written = if call || (crossed && !kernel) {
        BOUNDARY
    } else {
        0
    };
    while w != 0 {
        let r = w.trailing_zeros() as usize;
        if let Some(x) = st.get_mut(r) {
            *x = written;
        }
        w &= w - 1;
    }
    if plain_load {
        if let Some(d) = reg_index(ins.op0_register()) {
            st[d] = ins.ip_rel_memory_address();
        }
    }
}

/// Gated variables one function may load.
const MAX_GATED_VARIABLES: usize = 8;

/// Per slot, the sites of `f` that run only when a load of its variable is
/// non-zero: a propagation where every such load gives 0, deciding the
/// branches that value fixes, against the free one (`free`).
pub(crate) fn gates(
    flow: &Flow,
    f: u64,
    entry: &State,
    landing: &[u64],
    free: &[Option<State>],
    sites: &[u64],
    loads: &[(u64, u64, usize)],
) -> BTreeMap<u64, Vec<u64>> {
    let mut by_slot: BTreeMap<u64, Vec<(u64, usize)>> = BTreeMap::new();
    for &(site, slot, reg) in loads {
        by_slot.entry(slot).or_default().push((site, reg));
    }
    // One propagation per variable: a function loading more of them (only
    // hostile code does) gets no gates, which keeps every site.
    if by_slot.len() > MAX_GATED_VARIABLES {
        return BTreeMap::new();
    }
    let mut out = BTreeMap::new();
    for (slot, zeros) in by_slot {
        let Some(reached) = flow.fixpoint_with(f, *entry, landing, super::Mode::Exact, &zeros)
        else {
            continue;
        };
        let mut dead: Vec<u64> = Vec::new();
        for (b, (addrs, _)) in flow.blocks.iter().enumerate() {
            let was = free.get(b).is_some_and(|s| s.is_some());
            let now = reached.get(b).is_some_and(|s| s.is_some());
            if was && !now {
                dead.extend(addrs.iter().filter(|a| sites.binary_search(a).is_ok()));
            }
        }
        dead.sort_unstable();
        dead.dedup();
        if !dead.is_empty() {
            out.insert(slot, dead);
        }
    }
    out
}
