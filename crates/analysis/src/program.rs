//! Whole-program analysis: reachability from the loader's roots over direct,
//! import and (once an indirect site is reachable) address-taken edges, global
//! resolution of syscall wrappers, and one witness chain per syscall.

use crate::{
    analyze_object, DiagKind, Diagnostic, Limits, ObjectSummary, SummaryCache, Target, Unresolved,
    Val,
};
use confine_elf::{ElfInfo, SymBind};
use confine_syscalls::Arch;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

/// Syscalls the vDSO functions fall back to on hosts without a usable vDSO
/// clock; always added (their libc wrappers are nearly always reachable).
pub const VDSO_FALLBACKS: [u32; 4] = [228, 96, 201, 309];
const RT_SIGACTION: u32 = 13;
/// Functions the dynamic loader calls by symbol lookup rather than through a
/// relocation: glibc >= 2.32 ld.so calls libc's `__libc_early_init`; musl's
/// dynamic linker (libc.so itself) finds its own stages `__dls2b` and
/// `__dls3` with `find_sym` and jumps to them.
pub const LOADER_CALLED: [&str; 3] = ["__libc_early_init", "__dls2b", "__dls3"];
/// Functions that enter an address-taken function without a call site, with
/// registers loaded from memory (glibc's `makecontext` contexts).
const CONTEXT_ENTRY: [&str; 2] = ["setcontext", "swapcontext"];
/// Issued by the kernel's signal trampolines, never by a visible `syscall`.
pub const SIGNAL_TRAMPOLINE: [u32; 2] = [15, 219];

/// One object of the program, in load order.
#[derive(Clone, Copy, Debug)]
pub struct ObjectRef<'a> {
    /// Path shown in witnesses (canonical path in the image).
    pub path: &'a str,
    pub summary: &'a ObjectSummary,
    /// The program interpreter (PT_INTERP, ld.so): its entry is a root.
    pub interp: bool,
}

/// Where one object's import is bound.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImportBinding {
    /// Index into [`ProgramInput::objects`].
    pub from: usize,
    pub symbol: String,
    pub version: Option<String>,
    /// (object index, address of the definition); None = unresolved.
    pub to: Option<(usize, u64)>,
}

/// A program: objects in load order (executable first, then libraries, the
/// interpreter included) and the binding of their imports.
#[derive(Clone, Debug)]
pub struct ProgramInput<'a> {
    pub objects: Vec<ObjectRef<'a>>,
    pub bindings: Vec<ImportBinding>,
}

/// One step of a witness chain.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Frame {
    pub object: String,
    /// Symbol name, or `fn_<hex address>` for unnamed functions.
    pub function: String,
    /// The call site in this function leading to the next frame, or the
    /// `syscall` instruction in the last frame.
    pub address: u64,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum WitnessKind {
    /// A `syscall` instruction with this constant number.
    Site,
    /// A constant passed to a syscall wrapper at the last frame's call site.
    WrapperCall,
    /// vDSO fallback (clock_gettime, gettimeofday, time, getcpu).
    Vdso,
    /// Kernel signal trampoline (rt_sigreturn, restart_syscall) because a signal
    /// handler can be installed; the chain is rt_sigaction's.
    KernelTrampoline,
}

/// Why one syscall is in the result.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Witness {
    pub chain: Vec<Frame>,
    pub kind: WitnessKind,
}

/// The syscalls a program can make.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ProgramResult {
    pub syscalls: BTreeMap<u32, Witness>,
    pub diagnostics: Vec<Diagnostic>,
    pub unresolved_sites: Vec<Unresolved>,
    /// True when some reachable syscall number is unknown (or an object could
    /// not be analysed): the profile must allow everything the default allows.
    pub wildcard: bool,
    pub reachable_functions: usize,
    /// Whether any indirect call site was reachable (address-taken functions
    /// were then treated as reachable).
    pub indirect_reachable: bool,
}

impl ProgramResult {
    /// Syscall names (x86-64), sorted by number.
    pub fn names(&self) -> Vec<&'static str> {
        self.syscalls
            .keys()
            .filter_map(|&n| Arch::X86_64.name(n))
            .collect()
    }
}

/// Analyse many objects in parallel (rayon), through the cache when given.
pub fn analyze_objects(
    inputs: &[(&[u8], &ElfInfo)],
    limits: &Limits,
    cache: Option<&SummaryCache>,
) -> Vec<ObjectSummary> {
    inputs
        .par_iter()
        .map(|(data, elf)| match cache {
            Some(c) => c.get_or_compute(data, elf, limits),
            None => analyze_object(data, elf, limits),
        })
        .collect()
}

/// As [`analyze_objects`] with each object's known sha256 (lowercase hex), so
/// the cache key is not hashed a second time.
pub fn analyze_objects_hashed(
    inputs: &[(&str, &[u8], &ElfInfo)],
    limits: &Limits,
    cache: Option<&SummaryCache>,
) -> Vec<ObjectSummary> {
    inputs
        .par_iter()
        .map(|(sha, data, elf)| match cache {
            Some(c) => c.get_or_compute_digest(sha, data, elf, limits),
            None => analyze_object(data, elf, limits),
        })
        .collect()
}

/// A simple binder for tests and fallbacks: each import (and each symbol an
/// object reaches through its GOT) binds to the first object in load order that
/// exports it, honouring versions when both sides have one.
pub fn bind_first_definition(objects: &[&ElfInfo]) -> Vec<ImportBinding> {
    type Def<'e> = (usize, Option<&'e str>, u64);
    let mut exports: HashMap<&str, Vec<Def>> = HashMap::new();
    for (i, e) in objects.iter().enumerate() {
        for s in e.exports() {
            exports
                .entry(s.name.as_str())
                .or_default()
                .push((i, s.version.as_deref(), s.addr));
        }
    }
    let mut out = Vec::new();
    for (i, e) in objects.iter().enumerate() {
        let mut names: BTreeMap<String, Option<String>> = BTreeMap::new();
        for s in e.imports() {
            names.insert(s.name.clone(), s.version.clone());
        }
        for (_, n) in &e.got_imports {
            if !names.contains_key(n) {
                let v = e
                    .dynsyms
                    .iter()
                    .find(|s| &s.name == n && !matches!(s.bind, SymBind::Local))
                    .and_then(|s| s.version.clone());
                names.insert(n.clone(), v);
            }
        }
        for (name, version) in names {
            let to = exports.get(name.as_str()).and_then(|c| {
                c.iter()
                    .find(|(_, v, _)| match (v, &version) {
                        (Some(a), Some(b)) => *a == b.as_str(),
                        _ => true,
                    })
                    .map(|&(j, _, a)| (j, a))
            });
            out.push(ImportBinding {
                from: i,
                symbol: name,
                version,
                to,
            });
        }
    }
    out
}

struct Graph<'a, 'b> {
    input: &'b ProgramInput<'a>,
    ids: HashMap<(usize, u64), usize>,
    nodes: Vec<(usize, usize)>,
    parent: Vec<Option<(usize, u64)>>,
    indirect_target: Vec<bool>,
    /// Sites of each node that no entry so far can run (see
    /// [`crate::ArgContext`]): the intersection of the dead sites of the
    /// contexts it was entered in; None once entered with unknown arguments.
    dead: Vec<Option<Vec<u64>>>,
    /// Whether the node's site-independent facts (taken addresses, data
    /// references) were processed.
    processed: Vec<bool>,
    /// Thread-local gates (see `object/tls.rs`) opened by a reached setter:
    /// (object, slot).
    gate_open: HashSet<(usize, u64)>,
    /// Nodes with gates on (object, slot).
    gated: HashMap<(usize, u64), Vec<usize>>,
    /// The slots each (object, function) may set.
    setter_of: HashMap<(usize, u64), Vec<u64>>,
    edges: Vec<Vec<(usize, Vec<usize>)>>,
    queue: VecDeque<usize>,
    bind: HashMap<(usize, &'b str), Option<(usize, u64)>>,
    unbound: BTreeSet<(usize, String)>,
}

impl<'a, 'b> Graph<'a, 'b> {
    fn summary(&self, obj: usize) -> Option<&'a ObjectSummary> {
        self.input.objects.get(obj).map(|o| o.summary)
    }

    fn func(&self, n: usize) -> Option<&'a crate::FunctionSummary> {
        self.nodes
            .get(n)
            .and_then(|&(o, fi)| self.summary(o).and_then(|s| s.functions.get(fi)))
    }

    /// Node for (object, function address), entered with unknown arguments,
    /// creating it (and queueing it) when new.
    fn reach(&mut self, obj: usize, addr: u64, parent: Option<(usize, u64)>) -> Option<usize> {
        self.reach_in(obj, addr, parent, None)
    }

    /// Like [`Self::reach`], entered in a context where the sites `dead`
    /// cannot run. A node whose dead sites shrink is queued again.
    fn reach_in(
        &mut self,
        obj: usize,
        addr: u64,
        parent: Option<(usize, u64)>,
        dead: Option<&[u64]>,
    ) -> Option<usize> {
        if let Some(&id) = self.ids.get(&(obj, addr)) {
            if let Some(Some(old)) = self.dead.get(id) {
                let now: Vec<u64> = match dead {
                    Some(d) => old
                        .iter()
                        .copied()
                        .filter(|x| d.binary_search(x).is_ok())
                        .collect(),
                    None => Vec::new(),
                };
                if now.len() < old.len() {
                    if let Some(slot) = self.dead.get_mut(id) {
                        *slot = (!now.is_empty()).then_some(now);
                    }
                    // The witness follows the entry that opened the sites,
                    // when its node is older (parent chains stay acyclic).
                    if parent.is_none_or(|(p, _)| p < id) {
                        if let Some(slot) = self.parent.get_mut(id) {
                            *slot = parent;
                        }
                    }
                    self.queue.push_back(id);
                }
            }
            return Some(id);
        }
        let s = self.summary(obj)?;
        let fi = s.functions.binary_search_by_key(&addr, |f| f.addr).ok()?;
        let id = self.nodes.len();
        self.ids.insert((obj, addr), id);
        self.nodes.push((obj, fi));
        self.parent.push(parent);
        self.indirect_target.push(false);
        self.dead
            .push(dead.filter(|d| !d.is_empty()).map(<[u64]>::to_vec));
        self.processed.push(false);
        self.edges.push(Vec::new());
        self.queue.push_back(id);
        if let Some(f) = s.functions.get(fi) {
            for gate in &f.tls_gates {
                self.gated.entry((obj, gate.slot)).or_default().push(id);
            }
        }
        // A reached setter opens its gates: their nodes are processed again.
        if let Some(slots) = self.setter_of.get(&(obj, addr)).cloned() {
            for slot in slots {
                if self.gate_open.insert((obj, slot)) {
                    let nodes = self.gated.get(&(obj, slot)).cloned().unwrap_or_default();
                    self.queue.extend(nodes);
                }
            }
        }
        Some(id)
    }

    /// Whether no entry of node `n` so far can run `site`, or it runs only
    /// once a thread-local variable no reached function sets is non-zero.
    fn is_dead(&self, n: usize, site: u64) -> bool {
        self.dead
            .get(n)
            .and_then(|d| d.as_ref())
            .is_some_and(|d| d.binary_search(&site).is_ok())
            || self.gated_dead(n, site)
    }

    fn gated_dead(&self, n: usize, site: u64) -> bool {
        let Some(&(obj, _)) = self.nodes.get(n) else {
            return false;
        };
        self.func(n).is_some_and(|f| {
            f.tls_gates.iter().any(|g| {
                !self.gate_open.contains(&(obj, g.slot)) && g.dead.binary_search(&site).is_ok()
            })
        })
    }

    /// The dead sites of the context a call passing `args` enters the
    /// function at (obj, addr) in: the union over its contexts whose argument
    /// the call passes as exactly that constant (each holds on its own), sorted.
    fn context_for(&self, obj: usize, addr: u64, args: &[Val]) -> Option<Vec<u64>> {
        let f = self.summary(obj)?.function_at(addr)?;
        let mut dead: Vec<u64> = f
            .contexts
            .iter()
            .filter(|c| {
                args.get(usize::from(c.arg))
                    .is_some_and(|v| !v.unknown && v.args == 0 && v.consts.as_slice() == [c.value])
            })
            .flat_map(|c| c.dead.iter().copied())
            .collect();
        dead.sort_unstable();
        dead.dedup();
        (!dead.is_empty()).then_some(dead)
    }

    /// Addresses a call to `addr` in `obj` may enter: the function, plus the
    /// implementations an IFUNC resolver there may return.
    fn with_ifunc(&self, obj: usize, addr: u64) -> Vec<(usize, u64)> {
        let mut v = vec![(obj, addr)];
        if let Some(s) = self.summary(obj) {
            if s.ifunc_resolvers.binary_search(&addr).is_ok() {
                if let Some(f) = s.function_at(addr) {
                    v.extend(f.addr_refs.iter().map(|&a| (obj, a)));
                }
            }
        }
        v
    }

    fn resolve_import(&mut self, obj: usize, r: &crate::ImportRef) -> Vec<(usize, u64)> {
        match self.bind.get(&(obj, r.name.as_str())).copied().flatten() {
            Some((o, a)) => self.with_ifunc(o, a),
            None => match r.local {
                Some(a) => self.with_ifunc(obj, a),
                None => {
                    self.unbound.insert((obj, r.name.clone()));
                    Vec::new()
                }
            },
        }
    }

    fn targets(&mut self, obj: usize, t: &Target) -> Vec<(usize, u64)> {
        match t {
            Target::Local(a) => vec![(obj, *a)],
            Target::Ifunc(r) => self.with_ifunc(obj, *r),
            Target::Import(r) => self.resolve_import(obj, r),
        }
    }

    fn fname(&self, node: usize) -> (String, String) {
        let Some(&(obj, fi)) = self.nodes.get(node) else {
            return (String::new(), String::new());
        };
        let path = self
            .input
            .objects
            .get(obj)
            .map(|o| o.path.to_string())
            .unwrap_or_default();
        let f = self.summary(obj).and_then(|s| s.functions.get(fi));
        let name = match f {
            Some(f) => f.name.clone().unwrap_or_else(|| format!("fn_{:x}", f.addr)),
            None => String::new(),
        };
        (path, name)
    }

    /// The witness of a number passed at `site` in `node` to the wrapper `t`:
    /// the chain to the site, then the wrapper.
    fn wrapper_chain(&self, node: usize, site: u64, t: usize) -> Vec<crate::Frame> {
        let mut chain = self.chain(node, site);
        let (object, function) = self.fname(t);
        chain.push(crate::Frame {
            object,
            function,
            address: self.func(t).map_or(0, |f| f.addr),
        });
        chain
    }

    fn chain(&self, node: usize, site: u64) -> Vec<crate::Frame> {
        let mut frames = Vec::new();
        let mut cur = node;
        let mut at = site;
        let mut guard = 0usize;
        loop {
            let (object, function) = self.fname(cur);
            frames.push(crate::Frame {
                object,
                function,
                address: at,
            });
            guard += 1;
            match self.parent.get(cur).copied().flatten() {
                Some((p, s)) if guard <= self.nodes.len() => {
                    cur = p;
                    at = s;
                }
                _ => break,
            }
        }
        frames.reverse();
        frames
    }
}

/// (object, function address, referencing node and site) of the pool.
type Taken = (usize, u64, Option<(usize, u64)>);

/// Marks data region `r` of `obj` live, with every region its stored data
/// addresses reach, and adds the functions they store to the pool.
fn mark_live(
    g: &mut Graph,
    live: &mut [Vec<bool>],
    pool: &mut Vec<Taken>,
    obj: usize,
    r: u32,
    parent: Option<(usize, u64)>,
) {
    let Some(regions) = g.summary(obj).and_then(|s| s.data.as_ref()) else {
        return;
    };
    let mut stack = vec![r];
    while let Some(r) = stack.pop() {
        let i = r as usize;
        match live.get_mut(obj).and_then(|v| v.get_mut(i)) {
            Some(l) if !*l => *l = true,
            _ => continue,
        }
        let Some(region) = regions.regions.get(i) else {
            continue;
        };
        for &a in &region.code {
            for (o, t) in g.with_ifunc(obj, a) {
                pool.push((o, t, parent));
            }
        }
        for imp in &region.imports {
            for (o, t) in g.resolve_import(obj, imp) {
                pool.push((o, t, parent));
            }
        }
        stack.extend_from_slice(&region.next);
    }
}

/// The object of node `t` and the only indirect sites that may enter it, when
/// its object proved `t`'s address never leaves it and every import the
/// proof followed binds to that object's own definition.
fn confined_sites(g: &mut Graph, input: &ProgramInput, t: usize) -> Option<(usize, Vec<u64>)> {
    let &(obj, _) = g.nodes.get(t)?;
    let addr = g.func(t)?.addr;
    let c = input.objects.get(obj)?.summary.confined.as_ref()?;
    c.targets.binary_search(&addr).ok()?;
    for r in &c.binds {
        let local = r.local?;
        if g.resolve_import(obj, r) != [(obj, local)] {
            return None;
        }
    }
    Some((obj, c.sites.clone()))
}

/// Whole-program syscall set with witnesses and diagnostics.
pub fn analyze_program(input: &ProgramInput) -> ProgramResult {
    analyze_program_dynamic(input, &[])
}

/// Like [`analyze_program`], with the objects at these indices treated as
/// loaded at run time (dlopen, NSS, gconv, extensions): every exported function
/// of theirs is a root, since the host calls them through `dlsym` pointers.
pub fn analyze_program_dynamic(input: &ProgramInput, dynamic_roots: &[usize]) -> ProgramResult {
    let mut result = ProgramResult::default();
    let mut bind = HashMap::new();
    for b in &input.bindings {
        bind.entry((b.from, b.symbol.as_str())).or_insert(b.to);
    }
    let mut g = Graph {
        input,
        ids: HashMap::new(),
        nodes: Vec::new(),
        parent: Vec::new(),
        indirect_target: Vec::new(),
        dead: Vec::new(),
        processed: Vec::new(),
        gate_open: HashSet::new(),
        gated: HashMap::new(),
        setter_of: input
            .objects
            .iter()
            .enumerate()
            .flat_map(|(i, o)| {
                o.summary
                    .tls_setters
                    .iter()
                    .flat_map(move |t| t.functions.iter().map(move |&f| ((i, f), t.slot)))
            })
            .fold(
                HashMap::new(),
                |mut m: HashMap<(usize, u64), Vec<u64>>, (k, v)| {
                    m.entry(k).or_default().push(v);
                    m
                },
            ),
        edges: Vec::new(),
        queue: VecDeque::new(),
        bind,
        unbound: BTreeSet::new(),
    };
    for (i, o) in input.objects.iter().enumerate() {
        if !o.summary.supported || o.summary.stats.truncated {
            result.wildcard = true;
            result.diagnostics.push(Diagnostic {
                kind: if o.summary.supported {
                    DiagKind::Truncated
                } else {
                    DiagKind::Unsupported
                },
                object: Some(o.path.to_string()),
                site: None,
                message: format!("object {} was not fully analysed", o.path),
            });
        }
        for d in &o.summary.diagnostics {
            if matches!(
                d.kind,
                DiagKind::Int80 | DiagKind::Sysenter | DiagKind::Modelled
            ) {
                let mut d = d.clone();
                d.object = Some(o.path.to_string());
                result.diagnostics.push(d);
            }
        }
        if i == 0 || o.interp {
            if let Some(e) = o.summary.entry {
                g.reach(i, e, None);
            }
        }
        for r in &o.summary.roots {
            g.reach(i, r.addr, None);
        }
        for f in &o.summary.functions {
            if f.name
                .as_deref()
                .is_some_and(|n| LOADER_CALLED.contains(&n))
            {
                g.reach(i, f.addr, None);
            }
        }
        if dynamic_roots.contains(&i) {
            for &a in &o.summary.exports {
                for (o2, t) in g.with_ifunc(i, a) {
                    g.reach(o2, t, None);
                }
            }
        }
    }
    // Every node so far is a root (entered with unknown arguments).
    let roots_end = g.nodes.len();
    // Address-taken pool.
    let mut pool: Vec<Taken> = Vec::new();
    for (i, o) in input.objects.iter().enumerate() {
        pool.extend(o.summary.data_address_taken.iter().map(|&a| (i, a, None)));
        for r in &o.summary.data_import_refs {
            let ts = g.resolve_import(i, r);
            pool.extend(ts.into_iter().map(|(o, a)| (o, a, None)));
        }
    }
    // Read-only data regions (see `object/liveness.rs`): their stored
    // addresses join the pool once live code or live data refers to them.
    let mut live: Vec<Vec<bool>> = input
        .objects
        .iter()
        .map(|o| {
            o.summary
                .data
                .as_ref()
                .map_or_else(Vec::new, |d| vec![false; d.regions.len()])
        })
        .collect();
    for (i, o) in input.objects.iter().enumerate() {
        if let Some(d) = &o.summary.data {
            for &r in &d.roots {
                mark_live(&mut g, &mut live, &mut pool, i, r, None);
            }
        }
    }
    let mut cursor = 0usize;
    let mut indirect = false;
    loop {
        while let Some(n) = g.queue.pop_front() {
            let Some(&(obj, fi)) = g.nodes.get(n) else {
                continue;
            };
            let Some(f) = g.summary(obj).and_then(|s| s.functions.get(fi)) else {
                continue;
            };
            // Processed again when its dead sites shrink: the edges are
            // rebuilt, the rest was done the first time.
            if let Some(e) = g.edges.get_mut(n) {
                e.clear();
            }
            for (ci, c) in f.calls.iter().enumerate() {
                if g.is_dead(n, c.site) {
                    continue;
                }
                // A call to itself that every context of the function keeps
                // (dead there, or passing a value of the same group): each
                // entry's contexts hold for it too, so it opens nothing.
                if c.target == Target::Local(f.addr)
                    && !f.contexts.is_empty()
                    && f.contexts.iter().all(|x| {
                        x.dead.binary_search(&c.site).is_ok()
                            || x.closed.binary_search(&c.site).is_ok()
                    })
                {
                    if let Some(e) = g.edges.get_mut(n) {
                        e.push((ci, vec![n]));
                    }
                    continue;
                }
                let ts = g.targets(obj, &c.target);
                let mut ids = Vec::new();
                for (o, a) in ts {
                    let dead = g.context_for(o, a, &c.args);
                    if let Some(id) = g.reach_in(o, a, Some((n, c.site)), dead.as_deref()) {
                        ids.push(id);
                    }
                }
                if let Some(e) = g.edges.get_mut(n) {
                    e.push((ci, ids));
                }
            }
            if f.indirect_sites.iter().any(|&s| !g.is_dead(n, s)) {
                indirect = true;
            }
            match g.processed.get_mut(n) {
                Some(p) if !*p => *p = true,
                _ => continue,
            }
            for &a in &f.addr_refs {
                for (o, t) in g.with_ifunc(obj, a) {
                    pool.push((o, t, Some((n, f.addr))));
                }
            }
            for r in &f.import_refs {
                for (o, t) in g.resolve_import(obj, r) {
                    pool.push((o, t, Some((n, f.addr))));
                }
            }
            for &r in &f.data_refs {
                mark_live(&mut g, &mut live, &mut pool, obj, r, Some((n, f.addr)));
            }
        }
        if indirect && cursor < pool.len() {
            while let Some(&(o, a, p)) = pool.get(cursor) {
                cursor += 1;
                if let Some(id) = g.reach(o, a, p) {
                    if let Some(t) = g.indirect_target.get_mut(id) {
                        *t = true;
                    }
                }
            }
            continue;
        }
        break;
    }
    result.indirect_reachable = indirect;
    result.reachable_functions = g.nodes.len();

    // What data liveness left out, for the report.
    let (mut stored, mut dead) = (0usize, 0usize);
    for (o, l) in input.objects.iter().zip(&live) {
        if let Some(d) = &o.summary.data {
            for (r, &on) in d.regions.iter().zip(l) {
                stored += r.code.len();
                dead += if on { 0 } else { r.code.len() };
            }
        }
    }
    if dead > 0 {
        result.diagnostics.push(Diagnostic {
            kind: DiagKind::Modelled,
            object: None,
            site: None,
            message: format!(
                "{dead} of {stored} functions stored in .data.rel.ro or .data tables are not \
                 address-taken: no reached code or live data refers to their tables"
            ),
        });
    }
    // What argument contexts and thread-local gates left out, for the report.
    let in_context: Vec<(usize, usize)> = (0..g.nodes.len())
        .filter_map(|n| Some((n, g.dead.get(n)?.as_ref()?.len())))
        .collect();
    result
        .diagnostics
        .extend(left_out(&g, &in_context, |sites, nodes, first| {
            format!(
                "{sites} call, syscall or indirect site(s) in {nodes} reached function(s) do not \
             run: every call reaching them passes a constant argument that rules them out \
             (argument contexts; first: {first})"
            )
        }));
    let gated: Vec<(usize, usize)> = (0..g.nodes.len())
        .filter_map(|n| {
            let f = g.func(n)?;
            let k = f
                .tls_gates
                .iter()
                .flat_map(|x| x.dead.iter())
                .filter(|&&s| g.gated_dead(n, s))
                .count();
            (k > 0).then_some((n, k))
        })
        .collect();
    result
        .diagnostics
        .extend(left_out(&g, &gated, |sites, nodes, first| {
            format!(
                "{sites} site(s) in {nodes} reached function(s) run only once a thread-local \
             variable is non-zero, and no reached function sets it (thread-local gates; \
             first: {first})"
            )
        }));
    // Wrapper masks: which entry arguments flow into a syscall number.
    let mut w: Vec<u8> = (0..g.nodes.len())
        .map(|n| {
            g.func(n).map_or(0, |f| {
                f.syscalls
                    .iter()
                    .filter(|s| !g.is_dead(n, s.site))
                    .fold(0, |m, s| m | s.nr.args)
            })
        })
        .collect();
    let is_target = |n: usize| g.indirect_target.get(n).copied().unwrap_or(false);
    loop {
        let mut changed = false;
        for n in 0..g.nodes.len() {
            let Some(f) = g.func(n) else { continue };
            let mut m = w.get(n).copied().unwrap_or(0);
            for (ci, ts) in g.edges.get(n).map(|v| v.as_slice()).unwrap_or(&[]) {
                let Some(c) = f.calls.get(*ci) else { continue };
                for &t in ts {
                    let tm = w.get(t).copied().unwrap_or(0);
                    for j in 0..8usize {
                        if tm & (1 << j) != 0 {
                            m |= c.args.get(j).map_or(0, |v| v.args);
                        }
                    }
                }
            }
            if let Some(slot) = w.get_mut(n) {
                if *slot != m {
                    *slot = m;
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }

    let add = |result: &mut ProgramResult, nr: u32, wit: crate::Witness| {
        result.syscalls.entry(nr).or_insert(wit);
    };
    let mut unresolved: Vec<Unresolved> = Vec::new();
    for n in 0..g.nodes.len() {
        let Some(f) = g.func(n) else { continue };
        for s in &f.syscalls {
            if g.is_dead(n, s.site) {
                continue;
            }
            for &c in &s.nr.consts {
                add(
                    &mut result,
                    c,
                    crate::Witness {
                        chain: g.chain(n, s.site),
                        kind: WitnessKind::Site,
                    },
                );
            }
            if s.nr.unknown {
                let (object, function) = g.fname(n);
                unresolved.push(Unresolved {
                    object,
                    function,
                    site: s.site,
                    reason: "syscall number is not a constant".to_string(),
                });
            }
        }
        for (ci, ts) in g.edges.get(n).map(|v| v.as_slice()).unwrap_or(&[]) {
            let Some(c) = f.calls.get(*ci) else { continue };
            for &t in ts {
                let tm = w.get(t).copied().unwrap_or(0);
                for j in 0..8usize {
                    if tm & (1 << j) == 0 {
                        continue;
                    }
                    let v = c.args.get(j).cloned().unwrap_or_else(Val::unknown);
                    for &k in &v.consts {
                        let chain = g.wrapper_chain(n, c.site, t);
                        add(
                            &mut result,
                            k,
                            crate::Witness {
                                chain,
                                kind: WitnessKind::WrapperCall,
                            },
                        );
                    }
                    if v.unknown {
                        let (object, function) = g.fname(n);
                        let (_, callee) = g.fname(t);
                        unresolved.push(Unresolved {
                            object,
                            function,
                            site: c.site,
                            reason: format!(
                                "argument {j} passed to syscall wrapper {callee} is not a constant"
                            ),
                        });
                    }
                }
            }
        }
        let m = w.get(n).copied().unwrap_or(0);
        if m != 0 && n < roots_end {
            let (object, function) = g.fname(n);
            unresolved.push(Unresolved {
                object,
                function,
                site: g.func(n).map_or(0, |f| f.addr),
                reason: "syscall wrapper is a root (entered with unknown arguments)".to_string(),
            });
        }
    }
    // Address-taken wrappers: any reachable indirect call/jump site may enter
    // them, so their numbers are the union of the wrapper arguments over every
    // reachable indirect site of the program. An argument that is itself an
    // entry argument of the enclosing function counts as unknown: folding it
    // into wrapper masks makes nearly every function with an indirect call a
    // "wrapper" on real programs.
    // Entries that are no call site (signal delivery, setcontext) pass
    // arguments we cannot name; any address-taken wrapper then stays open.
    let other_entries: Vec<usize> = (0..g.nodes.len())
        .filter(|&n| {
            g.func(n)
                .and_then(|f| f.name.as_deref())
                .is_some_and(|x| CONTEXT_ENTRY.contains(&x))
        })
        .collect();
    let mut address_taken_wrappers: Vec<usize> = Vec::new();
    let targets: Vec<usize> = (0..g.nodes.len()).filter(|&t| is_target(t)).collect();
    for t in targets {
        let tm = w.get(t).copied().unwrap_or(0);
        if tm == 0 {
            continue;
        }
        // A wrapper whose address never leaves its object is entered only
        // from the indirect sites its object's proof names (and from no
        // signal delivery or context switch, which would need its address).
        let confined = confined_sites(&mut g, input, t);
        if confined.is_none() {
            address_taken_wrappers.push(t);
        }
        let mut open: Option<(usize, u64, usize)> = None;
        let mut open_sites = 0usize;
        for n in 0..g.nodes.len() {
            let Some(f) = g.func(n) else { continue };
            if let Some((o, _)) = &confined {
                if g.nodes.get(n).map(|x| x.0) != Some(*o) {
                    continue;
                }
            }
            for &site in &f.indirect_sites {
                if g.is_dead(n, site) {
                    continue;
                }
                if let Some((_, sites)) = &confined {
                    if sites.binary_search(&site).is_err() {
                        continue;
                    }
                }
                let args = f
                    .indirect_args
                    .binary_search_by_key(&site, |a| a.site)
                    .ok()
                    .and_then(|i| f.indirect_args.get(i))
                    .map_or(&[][..], |a| a.args.as_slice());
                let mut site_open = false;
                for j in (0..8usize).filter(|j| tm & (1 << j) != 0) {
                    let v = args.get(j).cloned().unwrap_or_else(Val::unknown);
                    for &k in &v.consts {
                        if result.syscalls.contains_key(&k) {
                            continue;
                        }
                        let chain = g.wrapper_chain(n, site, t);
                        add(
                            &mut result,
                            k,
                            crate::Witness {
                                chain,
                                kind: WitnessKind::WrapperCall,
                            },
                        );
                    }
                    if v.unknown || v.args != 0 {
                        site_open = true;
                        open.get_or_insert((n, site, j));
                    }
                }
                open_sites += usize::from(site_open);
            }
        }
        if let Some((n, site, j)) = open {
            let (object, function) = g.fname(t);
            let (site_object, site_function) = g.fname(n);
            unresolved.push(Unresolved {
                object,
                function,
                site: g.func(t).map_or(0, |f| f.addr),
                reason: format!(
                    "syscall wrapper is reachable through an indirect call and {open_sites} \
                     reachable indirect call sites pass a non-constant argument \
                     (first: argument {j} in {site_function} at {site:#x} in {site_object})"
                ),
            });
        }
    }
    let signals = result.syscalls.contains_key(&RT_SIGACTION);
    if signals || !other_entries.is_empty() {
        let how = match other_entries.first() {
            Some(&n) if !signals => format!("{} is reachable", g.fname(n).1),
            _ => "signal handlers can be installed".to_string(),
        };
        for &t in &address_taken_wrappers {
            let (object, function) = g.fname(t);
            unresolved.push(Unresolved {
                object,
                function,
                site: g.func(t).map_or(0, |f| f.addr),
                reason: format!(
                    "syscall wrapper is address-taken and {how}: it may be entered \
                     with arguments no call site passes"
                ),
            });
        }
    }
    for nr in VDSO_FALLBACKS {
        add(
            &mut result,
            nr,
            crate::Witness {
                chain: Vec::new(),
                kind: WitnessKind::Vdso,
            },
        );
    }
    if let Some(wit) = result.syscalls.get(&RT_SIGACTION).cloned() {
        for nr in SIGNAL_TRAMPOLINE {
            add(
                &mut result,
                nr,
                crate::Witness {
                    chain: wit.chain.clone(),
                    kind: WitnessKind::KernelTrampoline,
                },
            );
        }
    }
    for (obj, name) in &g.unbound {
        result.diagnostics.push(Diagnostic {
            kind: DiagKind::UnboundImport,
            object: input.objects.get(*obj).map(|o| o.path.to_string()),
            site: None,
            message: format!("call to unbound import {name}"),
        });
    }
    unresolved.sort();
    unresolved.dedup();
    for u in &unresolved {
        result.diagnostics.push(Diagnostic {
            kind: DiagKind::UnresolvedSyscall,
            object: Some(u.object.clone()),
            site: Some(u.site),
            message: format!("in {}: {}", u.function, u.reason),
        });
    }
    if !unresolved.is_empty() {
        result.wildcard = true;
    }
    result.unresolved_sites = unresolved;
    result
}

/// A `Modelled` diagnostic counting the sites a model left out: `counts`
/// holds (node, sites) for each node with some; `say` gets the total, the
/// number of nodes and the first node's "function in object".
fn left_out(
    g: &Graph,
    counts: &[(usize, usize)],
    say: impl Fn(usize, usize, String) -> String,
) -> Option<Diagnostic> {
    let &(first, _) = counts.first()?;
    let sites: usize = counts.iter().map(|&(_, k)| k).sum();
    let (object, function) = g.fname(first);
    Some(Diagnostic {
        kind: DiagKind::Modelled,
        object: None,
        site: None,
        message: say(sites, counts.len(), format!("{function} in {object}")),
    })
}
