//! Which code addresses loaded into registers escape.
//!
//! A function address loaded by `lea reg, [rip+X]` (or an import's address
//! loaded from its GOT slot) can become an indirect-call target only if the
//! value leaves the register file through something other than a comparison:
//! stored to memory, copied, passed to a call, returned, used in arithmetic or
//! as a base address. musl's cancellation handler compares the interrupted pc
//! against `__cp_begin`/`__cp_end`; glibc-linked code tests weak symbols'
//! addresses against zero. Neither takes the address.
//!
//! This is a forward may-analysis over the function's blocks: each register
//! carries the set of candidate loads it may hold; an instruction that reads a
//! tainted register for anything but `cmp`/`test` (register operands only)
//! marks those candidates escaped. Calls and jumps out of the function escape
//! every argument register (every register in Go code, whose register ABI uses
//! rbx and r10-r11 too); returns escape the return registers. More than 64
//! candidates in one function, or a dataflow that hits its limit, escape all.
//!
//! Alongside, a must-analysis tells which register surely holds which loaded
//! address: `call *%r15` after `mov syscall@GOT, %r15` (a GOT load hoisted
//! out of a loop) is a direct call to `syscall`, with its arguments known.

use super::{gpr, End, Ins, CALLER_SAVED_MASK, GO_CLOBBERED, R11, RAX, RCX, RDX};
use iced_x86::{
    FlowControl, InstructionInfoFactory, Mnemonic, OpAccess, OpKind, Register, UsedRegister,
};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// Registers a `syscall` reads: rax, rdi, rsi, rdx, r10, r8, r9.
const SYSCALL_READS: u16 =
    (1 << RAX) | (1 << 7) | (1 << 6) | (1 << RDX) | (1 << 10) | (1 << 8) | (1 << 9);

/// What may read registers across a function boundary.
pub(super) struct Abi {
    /// Registers a callee may read as arguments.
    pub call_args: u16,
    /// Every register is an argument (Go's register ABI).
    pub args_only: bool,
    /// Registers a call may change.
    pub clobbered: u16,
    /// Registers the caller may read after a return.
    pub returns: u16,
}

impl Abi {
    pub(super) fn new(go: bool) -> Abi {
        if go {
            Abi {
                call_args: !(1 << 4), // everything but rsp
                args_only: true,
                clobbered: GO_CLOBBERED,
                returns: !(1 << 4),
            }
        } else {
            Abi {
                call_args: CALLER_SAVED_MASK,
                args_only: false,
                clobbered: CALLER_SAVED_MASK,
                returns: (1 << RAX) | (1 << RDX),
            }
        }
    }
}

/// Per register: bit k = may hold candidate k.
type Taint = [u64; 16];
/// Per register: surely holds candidate k (`NONE`: not known).
type Must = [u8; 16];
const NONE: u8 = u8::MAX;

#[derive(Clone, Copy, PartialEq)]
struct St {
    may: Taint,
    must: Must,
}

impl St {
    const ENTRY: St = St {
        may: [0; 16],
        must: [NONE; 16],
    };

    fn join(&self, o: &St) -> St {
        let mut r = *self;
        for (x, y) in r.may.iter_mut().zip(o.may.iter()) {
            *x |= *y;
        }
        for (x, y) in r.must.iter_mut().zip(o.must.iter()) {
            if *x != *y {
                *x = NONE;
            }
        }
        r
    }

    fn clear(&mut self, r: usize) {
        if let (Some(m), Some(u)) = (self.may.get_mut(r), self.must.get_mut(r)) {
            *m = 0;
            *u = NONE;
        }
    }
}

/// What the analysis found.
#[derive(Default)]
pub(super) struct Escapes {
    /// Per candidate: whether it escapes (its address is taken).
    pub escaped: Vec<bool>,
    /// Indirect calls and jumps through a register that surely holds a
    /// candidate: (site, candidate index, tail jump).
    pub resolved: Vec<(u64, usize, bool)>,
}

/// The function's blocks, as built by the dataflow.
pub(super) struct Cfg<'a> {
    pub insns: &'a BTreeMap<u64, Ins>,
    /// Resolved branch targets by site (jump tables among them).
    pub jumps: &'a HashMap<u64, Vec<u64>>,
    pub blocks: &'a [(Vec<u64>, Vec<u64>)],
    pub block_of: &'a HashMap<u64, usize>,
}

/// Escape and must analysis of the candidates loaded at `cand_sites`.
pub(super) fn analyse(
    factory: &mut InstructionInfoFactory,
    abi: &Abi,
    cfg: &Cfg,
    entries: &[u64],
    cand_sites: &[u64],
    max_visits: usize,
) -> Escapes {
    let n = cand_sites.len();
    let all = || Escapes {
        escaped: vec![true; n],
        resolved: Vec::new(),
    };
    if n == 0 {
        return Escapes::default();
    }
    if n > 64 {
        return all();
    }
    let idx: HashMap<u64, usize> = cand_sites
        .iter()
        .enumerate()
        .map(|(i, &a)| (a, i))
        .collect();
    let nb = cfg.blocks.len();
    let mut inn: Vec<Option<St>> = vec![None; nb];
    let mut queued = vec![false; nb];
    let mut wl: VecDeque<usize> = VecDeque::new();
    for e in entries {
        if let Some(&b) = cfg.block_of.get(e) {
            if let Some(slot) = inn.get_mut(b) {
                if slot.is_none() {
                    *slot = Some(St::ENTRY);
                    wl.push_back(b);
                }
            }
        }
    }
    let mut visits = 0usize;
    let mut sink = Sink::default();
    while let Some(b) = wl.pop_front() {
        if let Some(q) = queued.get_mut(b) {
            *q = false;
        }
        visits += 1;
        if visits > max_visits {
            return all();
        }
        let Some(Some(mut st)) = inn.get(b).copied() else {
            continue;
        };
        let Some((addrs, succs)) = cfg.blocks.get(b) else {
            continue;
        };
        through(factory, abi, cfg, &idx, addrs, &mut st, &mut sink);
        for s in succs {
            let Some(&sb) = cfg.block_of.get(s) else {
                continue;
            };
            let Some(slot) = inn.get_mut(sb) else {
                continue;
            };
            let joined = match slot {
                None => st,
                Some(old) => old.join(&st),
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
    // Final pass over the fixpoint: escapes and resolved calls.
    let mut sink = Sink::default();
    for (b, (addrs, succs)) in cfg.blocks.iter().enumerate() {
        let Some(Some(mut st)) = inn.get(b).copied() else {
            continue;
        };
        let last_end = through(factory, abi, cfg, &idx, addrs, &mut st, &mut sink);
        // A block that ends without a terminator and has no successor falls
        // through into the next function: a tail edge.
        if succs.is_empty() && last_end == End::None {
            sink.esc |= union(&st.may, abi.call_args | abi.returns);
        }
    }
    Escapes {
        escaped: (0..n).map(|k| sink.esc & (1 << k) != 0).collect(),
        resolved: sink.resolved,
    }
}

/// Step through one block's instructions; the end kind of its last one.
fn through(
    factory: &mut InstructionInfoFactory,
    abi: &Abi,
    cfg: &Cfg,
    idx: &HashMap<u64, usize>,
    addrs: &[u64],
    st: &mut St,
    sink: &mut Sink,
) -> End {
    let mut last_end = End::None;
    for a in addrs {
        let Some(i) = cfg.insns.get(a) else { continue };
        step(factory, abi, cfg, i, st, idx.get(a).copied(), sink);
        last_end = i.end;
    }
    last_end
}

#[derive(Default)]
struct Sink {
    esc: u64,
    resolved: Vec<(u64, usize, bool)>,
}

fn union(st: &Taint, mask: u16) -> u64 {
    st.iter()
        .enumerate()
        .filter(|(r, _)| mask & (1 << r) != 0)
        .fold(0, |m, (_, t)| m | t)
}

/// An indirect call or jump through a register that surely holds a candidate:
/// that register, and the candidate.
fn through_known(ins: &iced_x86::Instruction, st: &St) -> Option<(usize, usize)> {
    if ins.op0_kind() != OpKind::Register || !ins.op0_register().is_gpr64() {
        return None;
    }
    let r = gpr(ins.op0_register())?;
    let k = *st.must.get(r)?;
    (k != NONE).then_some((r, usize::from(k)))
}

/// One instruction.
fn step(
    factory: &mut InstructionInfoFactory,
    abi: &Abi,
    cfg: &Cfg,
    i: &Ins,
    st: &mut St,
    cand: Option<usize>,
    sink: &mut Sink,
) {
    let ins = &i.ins;
    let mn = ins.mnemonic();
    let fc = ins.flow_control();
    if mn == Mnemonic::Syscall {
        sink.esc |= union(&st.may, SYSCALL_READS);
        st.clear(RAX);
        st.clear(RCX);
        st.clear(R11);
        return;
    }
    let used = factory.info(ins).used_registers();
    // Registers read by an indirect call/jump as arguments, excluding the
    // target register when it surely holds a candidate and is no argument.
    let known = match fc {
        FlowControl::IndirectCall => through_known(ins, st),
        FlowControl::IndirectBranch if !cfg.jumps.contains_key(&ins.ip()) => through_known(ins, st),
        _ => None,
    };
    let scratch: u16 = if abi.args_only {
        0
    } else {
        (1 << RAX) | (1 << 10) | (1 << R11)
    };
    let arg_mask = |m: u16| match known {
        Some((r, _)) if scratch & (1 << r) != 0 || m & (1 << r) == 0 => m & !(1 << r),
        _ => m,
    };
    match fc {
        FlowControl::Call | FlowControl::IndirectCall => {
            sink.esc |= union(&st.may, arg_mask(abi.call_args));
            if fc == FlowControl::IndirectCall {
                match known {
                    Some((_, k)) => sink.resolved.push((ins.ip(), k, false)),
                    // The target register or memory operand is read too.
                    None => sink.esc |= reads(ins, used, &st.may, false),
                }
            }
            for r in 0..16 {
                if abi.clobbered & (1 << r) != 0 {
                    st.clear(r);
                }
            }
            return;
        }
        FlowControl::Return => {
            sink.esc |= union(&st.may, abi.returns);
            return;
        }
        // Jump tables stay inside the function; anything else leaves it.
        FlowControl::IndirectBranch if !cfg.jumps.contains_key(&ins.ip()) => {
            sink.esc |= union(&st.may, arg_mask(abi.call_args | abi.returns));
            match known {
                Some((_, k)) => sink.resolved.push((ins.ip(), k, true)),
                None => sink.esc |= reads(ins, used, &st.may, false),
            }
            return;
        }
        FlowControl::UnconditionalBranch | FlowControl::ConditionalBranch
            if ins.op0_kind() == OpKind::NearBranch64
                && !cfg.insns.contains_key(&ins.near_branch_target()) =>
        {
            // A tail jump to another function.
            sink.esc |= union(&st.may, abi.call_args | abi.returns);
        }
        _ => {}
    }
    let cmp = matches!(mn, Mnemonic::Cmp | Mnemonic::Test);
    sink.esc |= reads(ins, used, &st.may, cmp);
    for u in used {
        let Some(r) = gpr(u.register()) else { continue };
        match u.access() {
            OpAccess::Write | OpAccess::ReadWrite => {
                let full = u.register().is_gpr32() || u.register().is_gpr64();
                if !full {
                    sink.esc |= st.may.get(r).copied().unwrap_or(0);
                }
                st.clear(r);
            }
            // A conditional write keeps the old value on one path.
            OpAccess::CondWrite | OpAccess::ReadCondWrite => {
                if let Some(m) = st.must.get_mut(r) {
                    *m = NONE;
                }
            }
            _ => {}
        }
    }
    if let Some(k) = cand {
        if ins.op0_kind() == OpKind::Register {
            if let Some(r) = gpr(ins.op0_register()) {
                if let (Some(m), Some(u)) = (st.may.get_mut(r), st.must.get_mut(r)) {
                    *m = 1 << k;
                    *u = u8::try_from(k).unwrap_or(NONE);
                }
            }
        }
    }
}

/// Candidates read by this instruction other than as a compared register.
fn reads(ins: &iced_x86::Instruction, used: &[UsedRegister], st: &Taint, cmp: bool) -> u64 {
    let mem_regs = |r: usize| {
        (0..ins.op_count()).any(|k| ins.op_kind(k) == OpKind::Memory)
            && (gpr(ins.memory_base()) == Some(r)
                || (ins.memory_index() != Register::None && gpr(ins.memory_index()) == Some(r)))
    };
    let mut esc = 0u64;
    for u in used {
        let Some(r) = gpr(u.register()) else { continue };
        let t = st.get(r).copied().unwrap_or(0);
        if t == 0 {
            continue;
        }
        if matches!(
            u.access(),
            OpAccess::Read | OpAccess::CondRead | OpAccess::ReadWrite | OpAccess::ReadCondWrite
        ) && (!cmp || mem_regs(r))
        {
            esc |= t;
        }
    }
    esc
}
