//! Function pointers that never leave their object.
//!
//! libcap keeps its syscall hooks (`_cap_syscall3`, `_cap_syscall6`: thin
//! wrappers around `syscall()`) in a static struct and calls them as
//! `sc->three(SYS_capset, ...)`. As address-taken wrappers they could be
//! entered from any indirect call of the program, with any number; yet their
//! addresses sit only in data slots of libcap, and the struct's address never
//! leaves libcap. This pass proves that and names the indirect call sites
//! that may enter them, so the numbers are read at those sites only.
//!
//! Candidates: local functions whose address is stored in data (relocation
//! slots) and nowhere else (no code reference, not exported, not a loader
//! root) and that may pass an entry argument on to a syscall number. Their
//! slots, widened by [`WINDOW`] bytes below (an enclosing struct), form the
//! region (clamped to the slot's section). Every function that refers to the region by a rip-relative
//! operand is followed by a flow-sensitive taint analysis over registers and
//! the words of its own stack frame: `REGION` (a pointer into the region,
//! from `lea` or pointer arithmetic) and `SLOT` (an 8-byte value loaded from
//! a slot or through a tainted pointer: maybe a candidate's address).
//!
//! Allowed: loads through region pointers; spills to and reloads from the
//! function's own frame (while the frame's address is never taken); storing
//! untainted values anywhere and slot values back into a slot by name;
//! comparisons; region pointers passed (in registers or as stack arguments)
//! to local functions or to imports this object defines itself, followed in
//! turn with those arguments tainted (the program stage checks each such
//! import binds to this object); C library calls of known arity, whose
//! registers past the arguments are not read; `&__dso_handle` passed to
//! `__cxa_finalize`/`__cxa_atexit`, which only compare it; and a `SLOT`
//! value as an indirect call or jump target (the site is recorded). Anything
//! else (a tainted value stored elsewhere or returned, passed to unknown
//! code, used in arithmetic, copied by string instructions, a frame holding
//! one whose address is taken) is an escape, and the object gets no
//! confinement at all. So do pointers into the region stored in data outside
//! it, exported data over it, landing pads in a followed function, and
//! running out of budget. What the window cannot see is a struct larger than
//! 512 bytes whose address is formed from its start: the same bound as
//! everywhere a stripped object gives no data sizes.

use super::{gpr, gpr_wide, Ctx, Decoded, End, Ins, CALLER_SAVED_MASK, RAX, RDX};
use crate::{ConfinedPointers, ImportRef, Target};
use iced_x86::{FlowControl, Instruction, Mnemonic, OpAccess, OpKind, Register};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// Bytes below a slot an address may point and still reach it (a field of an
/// enclosing struct of up to 64 pointers); never below the slot's section.
pub(super) const WINDOW: u64 = 512;

const REGION: u8 = 1;
const SLOT: u8 = 2;
const RSP: usize = 4;
type Taint = [u8; 16];

/// rdi, rsi, rdx, rcx, r8, r9.
const ARGS: [usize; 6] = [7, 6, 2, 1, 8, 9];
/// Stack argument words followed into callees (`[rsp]`..`[rsp+56]` at a call).
const STACK_ARGS: usize = 8;
/// Followed functions and visited instructions, per object.
const MAX_FUNCTIONS: usize = 512;
const MAX_VISITS: usize = 200_000;

/// What the pass needs from the object analysis.
pub(super) struct Input<'a> {
    /// Candidate function addresses, sorted.
    pub targets: Vec<u64>,
    /// Address ranges `[lo, hi)` of the region, sorted and disjoint.
    pub windows: Vec<(u64, u64)>,
    /// The candidates' slots, sorted.
    pub slots: Vec<u64>,
    /// Words of the region holding a data address (relocations), by address.
    pub data_ptrs: HashMap<u64, u64>,
    /// Functions with a rip-relative operand inside the region.
    pub users: Vec<u64>,
    /// Replay facts per function: (bound, instruction count).
    pub replay: &'a HashMap<u64, (u64, u64)>,
}

pub(super) fn in_windows(windows: &[(u64, u64)], x: u64) -> bool {
    let i = windows.partition_point(|w| w.1 <= x);
    windows.get(i).is_some_and(|w| w.0 <= x && x < w.1)
}

struct Escape;

/// How a function is entered: region pointers in argument registers (bit j:
/// the j-th of [`ARGS`]) and tainted stack argument words.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
struct Seed {
    regs: u8,
    stack: [u8; STACK_ARGS],
}

impl Seed {
    fn is_empty(&self) -> bool {
        self.regs == 0 && self.stack.iter().all(|&x| x == 0)
    }
}

/// Taint at one instruction.
#[derive(Clone, PartialEq)]
struct St {
    r: Taint,
    /// rsp's offset from its value at entry.
    delta: Option<i64>,
    /// Tainted words of the stack, by offset from rsp at entry.
    stack: BTreeMap<i64, u8>,
}

impl St {
    fn join(&mut self, o: &St) {
        for (x, y) in self.r.iter_mut().zip(o.r.iter()) {
            *x |= *y;
        }
        if self.delta != o.delta {
            self.delta = None;
        }
        for (&k, &v) in &o.stack {
            *self.stack.entry(k).or_insert(0) |= v;
        }
    }

    /// Every taint on the stack (a read at an unknown offset).
    fn any_stack(&self) -> u8 {
        self.stack.values().fold(0, |a, &b| a | b)
    }

    /// The stack word at `[rsp + d]`.
    fn stack_at(&self, d: i64) -> u8 {
        match self.delta {
            Some(x) => self.stack.get(&(x + d)).copied().unwrap_or(0),
            None => self.any_stack(),
        }
    }

    /// Overwrite `size` bytes at `[rsp + d]`; a tainted whole word is kept.
    fn store_stack(&mut self, d: i64, size: i64, v: u8) -> Result<(), Escape> {
        let Some(x) = self.delta else {
            return if v == 0 { Ok(()) } else { Err(Escape) };
        };
        let a = x + d;
        let hit: Vec<i64> = self
            .stack
            .range(a - 7..a + size.max(1))
            .map(|(&k, _)| k)
            .collect();
        for k in hit {
            self.stack.remove(&k);
        }
        if v != 0 {
            if size != 8 {
                return Err(Escape);
            }
            self.stack.insert(a, v);
        }
        Ok(())
    }
}

/// A re-decoded function with its calls indexed by site.
struct Func {
    d: Decoded,
    calls: HashMap<u64, Vec<usize>>,
}

impl Func {
    fn new(d: Decoded) -> Func {
        let mut calls: HashMap<u64, Vec<usize>> = HashMap::new();
        for (k, c) in d.calls.iter().enumerate() {
            calls.entry(c.site).or_default().push(k);
        }
        Func { d, calls }
    }

    /// The direct calls and tail jumps recorded at `a`, in summary order.
    fn calls_at(&self, a: u64) -> impl Iterator<Item = &crate::Call> {
        self.calls
            .get(&a)
            .into_iter()
            .flatten()
            .filter_map(|&k| self.d.calls.get(k))
    }
}

struct Pass<'a, 'd> {
    ctx: &'a mut Ctx<'d>,
    input: &'a Input<'a>,
    sites: BTreeSet<u64>,
    binds: BTreeSet<ImportRef>,
    done: HashSet<(u64, Seed)>,
    work: Vec<(u64, Seed)>,
    visits: usize,
    /// The function being followed takes its frame's address.
    frame_taken: bool,
}

/// The confinement of `input.targets`, or None when anything escapes.
pub(super) fn confine(ctx: &mut Ctx, input: &Input) -> Option<ConfinedPointers> {
    if input.targets.is_empty() {
        return None;
    }
    let mut p = Pass {
        ctx,
        input,
        sites: BTreeSet::new(),
        binds: BTreeSet::new(),
        done: HashSet::new(),
        work: input.users.iter().map(|&f| (f, Seed::default())).collect(),
        visits: 0,
        frame_taken: false,
    };
    while let Some((f, seed)) = p.work.pop() {
        if !p.done.insert((f, seed)) {
            continue;
        }
        if p.done.len() > MAX_FUNCTIONS {
            return None;
        }
        p.function(f, seed).ok()?;
    }
    Some(ConfinedPointers {
        targets: input.targets.clone(),
        sites: p.sites.into_iter().collect(),
        binds: p.binds.into_iter().collect(),
    })
}

fn rsp_disp(ins: &Instruction) -> Option<i64> {
    (ins.memory_base() == Register::RSP && ins.memory_index() == Register::None)
        .then(|| ins.memory_displacement64() as i64)
}

fn has_mem(ins: &Instruction) -> bool {
    (0..ins.op_count()).any(|k| ins.op_kind(k) == OpKind::Memory)
}

impl Pass<'_, '_> {
    /// Follow `f` entered as `seed` says.
    fn function(&mut self, f: u64, seed: Seed) -> Result<(), Escape> {
        let replay = *self.input.replay.get(&f).ok_or(Escape)?;
        let (d, _) = super::decode_function(self.ctx, f, Some(replay));
        self.ctx.diags.clear();
        self.ctx.diag_counts.clear();
        if d.bad || !d.landing.is_empty() {
            return Err(Escape);
        }
        let func = Func::new(d);
        let d = &func.d;
        self.frame_taken = d.insns.values().any(|i| {
            let ins = &i.ins;
            ins.mnemonic() == Mnemonic::Lea
                && ins.memory_base() == Register::RSP
                && ins.op0_register() != Register::RSP
                || (0..ins.op_count()).any(|k| {
                    ins.op_kind(k) == OpKind::Register
                        && ins.op_register(k) == Register::RSP
                        && !matches!(ins.mnemonic(), Mnemonic::Add | Mnemonic::Sub)
                })
        });
        let mut entry = St {
            r: [0; 16],
            delta: Some(0),
            stack: BTreeMap::new(),
        };
        for (j, &r) in ARGS.iter().enumerate() {
            if seed.regs & (1 << j) != 0 {
                entry.r[r] = REGION;
            }
        }
        for (k, &v) in seed.stack.iter().enumerate() {
            if v != 0 {
                entry.stack.insert(8 + 8 * k as i64, v);
            }
        }
        let mut state: HashMap<u64, St> = HashMap::new();
        state.insert(f, entry);
        let mut wl: Vec<u64> = vec![f];
        while let Some(a) = wl.pop() {
            self.visits += 1;
            if self.visits > MAX_VISITS {
                return Err(Escape);
            }
            let (Some(i), Some(t)) = (d.insns.get(&a), state.get(&a).cloned()) else {
                continue;
            };
            let out = self.step(&func, a, i, &t)?;
            for s in successors(&func, a, i) {
                let joined = match state.get(&s) {
                    Some(old) => {
                        let mut j = old.clone();
                        j.join(&out);
                        (j != *old).then_some(j)
                    }
                    None => Some(out.clone()),
                };
                if let Some(j) = joined {
                    state.insert(s, j);
                    wl.push(s);
                }
            }
        }
        Ok(())
    }

    fn in_region(&self, x: u64) -> bool {
        in_windows(&self.input.windows, x)
    }

    /// How a callee is entered from state `t`: registers, and the words at
    /// `[rsp]`..`[rsp+56]` for a call (below this function's return address:
    /// outgoing arguments are never above it) or `[rsp+8]`.. for a tail jump.
    /// A `SLOT` value passed on escapes. rax is no argument in the SysV ABI
    /// (at most the count of vector registers a varargs callee reads).
    fn seed_at(t: &St, tail: bool) -> Result<Seed, Escape> {
        let mut seed = Seed::default();
        for (j, &r) in ARGS.iter().enumerate() {
            match t.r[r] {
                0 => {}
                REGION => seed.regs |= 1 << j,
                _ => return Err(Escape),
            }
        }
        match t.delta {
            Some(x) => {
                let x = if tail { x + 8 } else { x };
                let end = x + 8 * STACK_ARGS as i64;
                let end = if tail { end } else { end.min(0) };
                for (&k, &v) in t.stack.range(x..end.max(x)) {
                    if (k - x) % 8 != 0 || v != REGION {
                        return Err(Escape);
                    }
                    if let Some(s) = usize::try_from((k - x) / 8)
                        .ok()
                        .and_then(|i| seed.stack.get_mut(i))
                    {
                        *s = v;
                    }
                }
            }
            None if !t.stack.is_empty() => return Err(Escape),
            None => {}
        }
        Ok(seed)
    }

    /// A direct call or tail jump to `target` from state `t`.
    fn call(&mut self, target: &Target, t: &St, tail: bool) -> Result<(), Escape> {
        let mut seed = Self::seed_at(t, tail)?;
        if let Target::Import(r) = target {
            seed.regs &= !opaque_handle_args(&r.name);
            if let Some((n, k)) = libc_arity(&r.name) {
                seed.regs &= (1u8 << n) - 1;
                for w in seed.stack.iter_mut().skip(k) {
                    *w = 0;
                }
            }
        }
        if seed.is_empty() {
            return Ok(());
        }
        match target {
            Target::Local(f) => self.work.push((*f, seed)),
            Target::Import(r) => {
                let l = r.local.ok_or(Escape)?;
                self.binds.insert(r.clone());
                self.work.push((l, seed));
            }
            Target::Ifunc(_) => return Err(Escape),
        }
        Ok(())
    }

    /// The taint of the address an explicit memory operand forms: REGION
    /// inside the region, the base's and index's taint otherwise.
    fn mem_taint(&self, ins: &Instruction, t: &St) -> u8 {
        if ins.is_ip_rel_memory_operand() {
            return if self.in_region(ins.ip_rel_memory_address()) {
                REGION
            } else {
                0
            };
        }
        let r = |reg: Register| gpr(reg).map_or(0, |k| t.r[k]);
        r(ins.memory_base()) | r(ins.memory_index())
    }

    /// The taint of an 8-byte value loaded through the memory operand: from
    /// the frame, what was spilled there; by name, a slot holds a candidate
    /// and a data word its pointer; through a tainted pointer, any slot.
    fn load_taint(&self, ins: &Instruction, t: &St) -> u8 {
        if let Some(d) = rsp_disp(ins) {
            return t.stack_at(d);
        }
        if ins.is_ip_rel_memory_operand() {
            let x = ins.ip_rel_memory_address();
            if self.input.slots.binary_search(&x).is_ok() {
                return SLOT;
            }
            return match self.input.data_ptrs.get(&x) {
                Some(&p) if self.in_region(p) => REGION,
                _ => 0,
            };
        }
        if self.mem_taint(ins, t) != 0 {
            SLOT
        } else {
            0
        }
    }

    /// Store `v` (`size` bytes) through the memory operand: into the frame,
    /// tracked (unless its address is taken); elsewhere only untainted
    /// values, or a slot value into a slot by name.
    fn store(&self, ins: &Instruction, out: &mut St, v: u8) -> Result<(), Escape> {
        if let Some(d) = rsp_disp(ins) {
            if v != 0 && self.frame_taken {
                return Err(Escape);
            }
            return out.store_stack(d, ins.memory_size().size() as i64, v);
        }
        let into_slot = ins.is_ip_rel_memory_operand()
            && self
                .input
                .slots
                .binary_search(&ins.ip_rel_memory_address())
                .is_ok();
        if v == 0 || v == SLOT && into_slot {
            Ok(())
        } else {
            Err(Escape)
        }
    }

    fn step(&mut self, f: &Func, a: u64, i: &Ins, t: &St) -> Result<St, Escape> {
        let out = self.transfer(f, a, i, t)?;
        // Tail edges: a jump out of the function passes the state as it is;
        // falling into the next function, as it is after `i`.
        for c in f.calls_at(a).filter(|c| c.tail) {
            match i.ins.flow_control() {
                FlowControl::UnconditionalBranch | FlowControl::ConditionalBranch => {
                    self.call(&c.target, t, true)?
                }
                FlowControl::IndirectBranch => self.call(&c.target, t, true)?,
                FlowControl::Next => self.call(&c.target, &out, true)?,
                _ => {}
            }
        }
        Ok(out)
    }

    fn transfer(&mut self, f: &Func, a: u64, i: &Ins, t: &St) -> Result<St, Escape> {
        let d = &f.d;
        let ins = &i.ins;
        let mut out = t.clone();
        let mem_op = has_mem(ins);
        let fc = ins.flow_control();
        let clobber = |out: &mut St| {
            let mut m = CALLER_SAVED_MASK;
            while m != 0 {
                let r = m.trailing_zeros() as usize;
                out.r[r] = 0;
                m &= m - 1;
            }
        };
        match (ins.mnemonic(), fc) {
            (Mnemonic::Syscall, _) => {
                if [RAX, 7, 6, RDX, 10, 8, 9].iter().any(|&r| t.r[r] != 0) {
                    return Err(Escape);
                }
                out.r[RAX] = 0;
                out.r[1] = 0;
                out.r[11] = 0;
                return Ok(out);
            }
            (_, FlowControl::Call | FlowControl::IndirectCall | FlowControl::IndirectBranch) => {
                let direct = f.calls_at(a).next();
                if let Some(c) = direct {
                    if !c.tail {
                        self.call(&c.target, t, false)?;
                    }
                } else if fc == FlowControl::IndirectBranch && d.targets.contains_key(&a) {
                    // A jump table: its register is an index, not a pointer.
                    if ins.op0_kind() == OpKind::Register
                        && gpr(ins.op0_register()).is_some_and(|r| t.r[r] != 0)
                    {
                        return Err(Escape);
                    }
                    return Ok(out);
                } else if ins.op0_kind() == OpKind::NearBranch64 {
                    // A call to something no function covers: arguments leave.
                    if !Self::seed_at(t, false)?.is_empty() {
                        return Err(Escape);
                    }
                } else {
                    let mut args = t.clone();
                    let target = match ins.op0_kind() {
                        OpKind::Register => match gpr(ins.op0_register()) {
                            Some(r) => std::mem::take(&mut args.r[r]),
                            None => 0,
                        },
                        OpKind::Memory => self.load_taint(ins, t),
                        _ => 0,
                    };
                    if target & REGION != 0 {
                        return Err(Escape);
                    }
                    if target & SLOT != 0 {
                        self.sites.insert(a);
                    }
                    // Unknown code may receive region pointers or slot values.
                    if !Self::seed_at(&args, fc == FlowControl::IndirectBranch)?.is_empty() {
                        return Err(Escape);
                    }
                }
                clobber(&mut out);
                return Ok(out);
            }
            (_, FlowControl::Return) => {
                if t.r[RAX] != 0 || t.r[RDX] != 0 {
                    return Err(Escape);
                }
                return Ok(out);
            }
            (Mnemonic::Cmp | Mnemonic::Test, _) => return Ok(out),
            (Mnemonic::Push, _) => {
                let v = match ins.op0_kind() {
                    OpKind::Register => gpr(ins.op0_register()).map_or(0, |r| t.r[r]),
                    OpKind::Memory => self.load_taint(ins, t),
                    _ => 0,
                };
                if v != 0 && self.frame_taken {
                    return Err(Escape);
                }
                out.delta = t.delta.map(|x| x - 8);
                out.store_stack(0, 8, v)?;
                return Ok(out);
            }
            (Mnemonic::Pop, _) if ins.op0_kind() == OpKind::Register => {
                let v = t.stack_at(0);
                if let Some(x) = t.delta {
                    out.stack.remove(&x);
                }
                out.delta = t.delta.map(|x| x + 8);
                match gpr(ins.op0_register()) {
                    Some(RSP) => out.delta = None,
                    Some(r) => out.r[r] = v,
                    None => {}
                }
                return Ok(out);
            }
            (Mnemonic::Add | Mnemonic::Sub, _)
                if ins.op0_register() == Register::RSP
                    && matches!(
                        ins.op1_kind(),
                        OpKind::Immediate8to64 | OpKind::Immediate32to64
                    ) =>
            {
                let v = ins.immediate(1) as i64;
                let v = if ins.mnemonic() == Mnemonic::Add {
                    v
                } else {
                    -v
                };
                out.delta = t.delta.map(|x| x + v);
                // Words below the new rsp are dead.
                if let Some(x) = out.delta {
                    out.stack.retain(|&k, _| k >= x);
                }
                return Ok(out);
            }
            (Mnemonic::Lea, _) => {
                let Some(dst) = gpr_wide(ins.op0_register()) else {
                    return Ok(out);
                };
                if dst == RSP {
                    out.delta = match (t.delta, rsp_disp(ins)) {
                        (Some(x), Some(v)) => Some(x + v),
                        _ => None,
                    };
                    return Ok(out);
                }
                out.r[dst] = match self.mem_taint(ins, t) {
                    0 => 0,
                    REGION if ins.op0_register().is_gpr64() => REGION,
                    _ => return Err(Escape),
                };
                return Ok(out);
            }
            (Mnemonic::Mov, _) if ins.op_count() == 2 => match (ins.op0_kind(), ins.op1_kind()) {
                (OpKind::Register, OpKind::Register) => {
                    let src = gpr(ins.op1_register());
                    let Some(dst) = gpr(ins.op0_register()) else {
                        return if src.is_some_and(|s| t.r[s] != 0) {
                            Err(Escape)
                        } else {
                            Ok(out)
                        };
                    };
                    if dst == RSP {
                        out.delta = None;
                        return Ok(out);
                    }
                    let v = src.map_or(0, |s| t.r[s]);
                    let wide = ins.op0_register().is_gpr64() && ins.op1_register().is_gpr64();
                    if v != 0 && !wide {
                        return Err(Escape);
                    }
                    if gpr_wide(ins.op0_register()).is_some() {
                        out.r[dst] = v;
                    } else if t.r[dst] != 0 {
                        return Err(Escape);
                    }
                    return Ok(out);
                }
                (OpKind::Register, OpKind::Memory) => {
                    let Some(dst) = gpr(ins.op0_register()) else {
                        return Ok(out);
                    };
                    let whole = ins.op0_register().is_gpr64() && ins.memory_size().size() == 8;
                    if gpr_wide(ins.op0_register()).is_none() && t.r[dst] != 0 {
                        return Err(Escape);
                    }
                    if dst == RSP {
                        out.delta = None;
                        return Ok(out);
                    }
                    out.r[dst] = if whole { self.load_taint(ins, t) } else { 0 };
                    if !whole && rsp_disp(ins).is_some_and(|d| t.stack_at(d) != 0) {
                        return Err(Escape);
                    }
                    return Ok(out);
                }
                (OpKind::Memory, OpKind::Register) => {
                    let v = gpr(ins.op1_register()).map_or(0, |s| t.r[s]);
                    if v != 0 && !ins.op1_register().is_gpr64() {
                        return Err(Escape);
                    }
                    self.store(ins, &mut out, v)?;
                    return Ok(out);
                }
                (OpKind::Memory, _) => {
                    self.store(ins, &mut out, 0)?;
                    return Ok(out);
                }
                (OpKind::Register, _) => {
                    if let Some(dst) = gpr(ins.op0_register()) {
                        if dst == RSP {
                            out.delta = None;
                        } else if gpr_wide(ins.op0_register()).is_some() {
                            out.r[dst] = 0;
                        } else if t.r[dst] != 0 {
                            return Err(Escape);
                        }
                    }
                    return Ok(out);
                }
                _ => {}
            },
            (Mnemonic::Xor | Mnemonic::Sub, _)
                if ins.op_count() == 2
                    && ins.op0_kind() == OpKind::Register
                    && ins.op1_kind() == OpKind::Register
                    && ins.op0_register() == ins.op1_register() =>
            {
                if let Some(r) = gpr(ins.op0_register()) {
                    out.r[r] = 0;
                }
                return Ok(out);
            }
            (Mnemonic::Add | Mnemonic::Sub, _)
                if ins.op_count() == 2
                    && ins.op0_kind() == OpKind::Register
                    && ins.op0_register().is_gpr64()
                    && matches!(
                        ins.op1_kind(),
                        OpKind::Immediate8to64 | OpKind::Immediate32to64
                    ) =>
            {
                // Pointer arithmetic keeps a region pointer a region pointer.
                if gpr(ins.op0_register()).is_some_and(|r| t.r[r] & SLOT != 0) {
                    return Err(Escape);
                }
                return Ok(out);
            }
            _ => {}
        }
        self.generic(ins, i.mem_write, mem_op, t, out)
    }

    /// Any other instruction: reading a tainted register (other than to
    /// address memory) or a tainted frame word escapes; a register written
    /// from an 8-byte tainted load may hold a slot value; rsp changes lose
    /// the frame offset.
    fn generic(
        &mut self,
        ins: &Instruction,
        mem_write: bool,
        mem_op: bool,
        t: &St,
        mut out: St,
    ) -> Result<St, Escape> {
        let (base, index) = if mem_op && !ins.is_ip_rel_memory_operand() {
            (gpr(ins.memory_base()), gpr(ins.memory_index()))
        } else {
            (None, None)
        };
        let info = self.ctx.factory.info(ins);
        let mut written = 0u16;
        for u in info.used_registers() {
            let Some(r) = gpr(u.register()) else { continue };
            let read = matches!(
                u.access(),
                OpAccess::Read | OpAccess::CondRead | OpAccess::ReadWrite | OpAccess::ReadCondWrite
            );
            let explicit = (0..ins.op_count())
                .any(|k| ins.op_kind(k) == OpKind::Register && gpr(ins.op_register(k)) == Some(r));
            if read && t.r[r] != 0 && (explicit || (Some(r) != base && Some(r) != index)) {
                return Err(Escape);
            }
            if matches!(
                u.access(),
                OpAccess::Write
                    | OpAccess::CondWrite
                    | OpAccess::ReadWrite
                    | OpAccess::ReadCondWrite
            ) {
                written |= 1 << r;
            }
        }
        // A spilled pointer read or changed in place (arithmetic, a partial
        // load) stops being followed.
        if mem_op && rsp_disp(ins).is_some_and(|d| t.stack_at(d) != 0) {
            return Err(Escape);
        }
        if mem_write && mem_op {
            self.store(ins, &mut out, 0)?;
        }
        let loaded = if mem_op && !mem_write && ins.memory_size().size() == 8 {
            self.load_taint(ins, t)
        } else {
            0
        };
        let mut w = written;
        while w != 0 {
            let r = w.trailing_zeros() as usize;
            if r == RSP {
                out.delta = None;
            } else {
                out.r[r] = loaded;
            }
            w &= w - 1;
        }
        Ok(out)
    }
}

/// Arguments (bits as in [`ARGS`]) of C runtime functions that take a DSO
/// handle (`&__dso_handle`, a word in `.data` holding its own address) only
/// as a key to compare: glibc never reads through it.
fn opaque_handle_args(name: &str) -> u8 {
    match name {
        "__cxa_finalize" => 1,
        "__cxa_atexit" | "__cxa_thread_atexit_impl" => 1 << 2,
        _ => 0,
    }
}

/// The argument registers and stack words C library functions read (their
/// prototypes; `prctl` and `syscall` as glibc implements them): registers
/// and words past them are stale values the callee never reads.
fn libc_arity(name: &str) -> Option<(u32, usize)> {
    let regs = match name {
        "sched_yield" | "__errno_location" | "pthread_self" | "getpid" | "getppid" | "gettid"
        | "getuid" | "geteuid" | "getgid" | "getegid" | "abort" | "__stack_chk_fail" => 0,
        "free" | "malloc" | "close" | "strlen" | "strdup" | "_exit" | "exit" => 1,
        "calloc" | "realloc" | "strcmp" | "strcpy" | "strchr" | "strrchr" | "capget" | "capset"
        | "setgroups" => 2,
        "memset" | "memcpy" | "memmove" | "memcmp" | "strncmp" | "strncpy" | "read" | "write"
        | "setresuid" | "setresgid" => 3,
        "prctl" => 5,
        "syscall" => return Some((6, 1)),
        _ => return None,
    };
    Some((regs, 0))
}

/// Where control goes after `i` inside the function.
fn successors(f: &Func, a: u64, i: &Ins) -> Vec<u64> {
    let d = &f.d;
    let mut s: Vec<u64> = d.targets.get(&a).cloned().unwrap_or_default();
    let tail = f.calls_at(a).any(|c| c.tail);
    let next = i.ins.next_ip();
    match i.end {
        End::Stop => {}
        End::Cond => s.push(next),
        End::None if !tail => s.push(next),
        End::None => {}
    }
    s.retain(|x| d.insns.contains_key(x));
    s
}
