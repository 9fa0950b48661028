//! Which data tables live code can reach.
//!
//! Function addresses stored in `.data.rel.ro` (method tables, hash ops,
//! vtables) and `.data` (writable tables, structs with callbacks, digest
//! specs with a flags field) are address-taken only once something live
//! refers to the table holding them. Each section is cut into regions at
//! every address anything refers to (code's rip-relative operands,
//! relocation targets, symbol starts and ends; never inside a sized symbol).
//! A reference reaches the region holding it and every region starting
//! within [`SLACK`] bytes either side, so `&arr[-1]` bases and short
//! `container_of` steps still land in their object. The whole program then
//! marks regions live from the code it reaches and from
//! the roots listed here: exported data symbols, pointers stored in any other
//! section (always live), and unwind data's personality and LSDA slots.
//!
//! The model assumes that code reaches a table only through an address formed
//! at or near the table, never by walking from one referenced address past
//! another one that only dead code names (a field of a writable struct that
//! only dead code names is such a cut; the slack and the array rules below
//! cover the common cases, and `data_regions_against_symbols` checks them
//! against full symbol tables). A section named like a C identifier
//! (glibc's `__libc_subfreeres`, `__libc_IO_vtables`) is one region. Every
//! other section (the GOT, init and fini arrays), and objects
//! where addresses may be formed without naming them (non-PIE, Go, the GOT's
//! own address formed in code), stay live whole.

use crate::{DataRegion, DataRegions, ImportRef};
use confine_elf::{ElfInfo, SymKind};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Sections whose regions are pruned; every other section is live whole,
/// except sections named like C identifiers (see [`whole_section`]).
const PRUNED_SECTIONS: [&str; 2] = [".data.rel.ro", ".data"];

/// A section whose name is a C identifier (`__libc_subfreeres`,
/// `__libc_IO_vtables`, `set_*`): code reaches it through the linker's
/// `__start_`/`__stop_` symbols and walks it whole, so it is one region,
/// live once anything refers to it.
fn whole_section(name: &str) -> bool {
    let mut c = name.chars();
    c.next()
        .is_some_and(|x| x == '_' || x.is_ascii_alphabetic())
        && c.all(|x| x == '_' || x.is_ascii_alphanumeric())
}

/// A reference reaches the regions within this many bytes either side.
pub(crate) const SLACK: u64 = 64;
/// More regions than this: the object stays live whole.
const MAX_REGIONS: usize = 1 << 20;
const SHT_PROGBITS: u32 = 1;

/// What the object stage knows about references into data.
pub(crate) struct Facts<'a> {
    /// (function, address) of every rip-relative operand outside code.
    pub code_refs: &'a [(u64, u64)],
    /// (slot, function) for code addresses stored by relocations.
    pub code_slots: &'a [(u64, u64)],
    /// (slot, address) for data addresses stored by relocations.
    pub data_slots: &'a [(u64, u64)],
    /// (slot, import) for imported symbols stored by relocations.
    pub import_slots: &'a [(u64, ImportRef)],
    /// Slots unwind data reads (CIE personality, indirect LSDA pointers).
    pub eh_slots: &'a [u64],
}

pub(crate) struct Liveness {
    pub regions: DataRegions,
    /// Regions each function's code refers to, by function address.
    pub by_function: HashMap<u64, Vec<u32>>,
    /// The pruned sections' ranges: slots in them are gated by region.
    pub ranges: Vec<(u64, u64)>,
}

impl Liveness {
    pub fn gated(&self, slot: u64) -> bool {
        self.ranges.iter().any(|&(lo, hi)| slot >= lo && slot < hi)
    }
}

struct Cuts {
    starts: Vec<u64>,
    ends: Vec<u64>,
}

impl Cuts {
    fn of(&self, a: u64) -> Option<usize> {
        let i = self.starts.partition_point(|&s| s <= a).checked_sub(1)?;
        (a < *self.ends.get(i)?).then_some(i)
    }

    /// Regions a reference to `x` reaches: the one holding it and every one
    /// starting within [`SLACK`] bytes either side.
    fn refs(&self, x: u64, out: &mut Vec<u32>) {
        self.span(x, x, out);
        self.starting_in(x.saturating_sub(SLACK), x.saturating_add(SLACK), out);
    }

    /// Regions overlapping [a, b] (the one holding `a`, then every one
    /// starting up to `b`).
    fn span(&self, a: u64, b: u64, out: &mut Vec<u32>) {
        out.extend(self.of(a).and_then(|i| u32::try_from(i).ok()));
        self.starting_in(a, b, out);
    }

    /// Regions starting in [lo, hi].
    fn starting_in(&self, lo: u64, hi: u64, out: &mut Vec<u32>) {
        let from = self.starts.partition_point(|&s| s < lo);
        let to = self.starts.partition_point(|&s| s <= hi);
        out.extend((from..to).filter_map(|i| u32::try_from(i).ok()));
    }
}

/// Strides tried by [`periodic`], bytes.
const MAX_STRIDE: u64 = 512;
/// Slot comparisons [`periodic`] may make per object; past it the object's
/// data stays live whole.
const PERIODIC_BUDGET: u64 = 200_000_000;

/// Whether the relocated slots around `b` repeat with one stride on both
/// sides: of the slots in `[b - s, b)` and `[b, b + s)` (all inside `b`'s
/// section), more than half of the larger side sit at the same offset with
/// the same kind on the other side. Not all: an element whose optional
/// pointer is NULL carries no relocation there (a stride of several elements
/// evens that out).
fn periodic(slots: &BTreeMap<u64, u8>, ranges: &[(u64, u64)], b: u64, budget: &mut u64) -> bool {
    let Some(&(lo, hi)) = ranges.iter().find(|&&(lo, hi)| b >= lo && b < hi) else {
        return false;
    };
    let below = b.saturating_sub(lo).min(MAX_STRIDE);
    let above = hi.saturating_sub(b).min(MAX_STRIDE);
    // Distances below b, nearest first; offsets above it. A slot at b - d
    // maps to b - d + s, offset s - d.
    let before: Vec<(u64, u8)> = slots
        .range(b - below..b)
        .rev()
        .map(|(&o, &k)| (b - o, k))
        .collect();
    let after: Vec<(u64, u8)> = slots
        .range(b..b + above)
        .map(|(&o, &k)| (o - b, k))
        .collect();
    if before.is_empty() || after.is_empty() {
        return false;
    }
    (1..=MAX_STRIDE / 8).map(|k| k * 8).any(|s| {
        if s > below || s > above {
            return false;
        }
        let n_before = before.iter().take_while(|&&(d, _)| d <= s).count();
        let n_after = after.iter().take_while(|&&(o, _)| o < s).count();
        let (b_side, a_side) = (before.get(..n_before), after.get(..n_after));
        let (Some(b_side), Some(a_side)) = (b_side, a_side) else {
            return false;
        };
        *budget = budget.saturating_sub(b_side.len() as u64 + 1);
        let same = b_side
            .iter()
            .filter(|&&(d, k)| {
                a_side
                    .binary_search_by_key(&(s - d), |&(o, _)| o)
                    .ok()
                    .and_then(|i| a_side.get(i))
                    .is_some_and(|&(_, k2)| k2 == k)
            })
            .count();
        2 * same > n_before.max(n_after)
    })
}

fn sorted(mut v: Vec<u32>) -> Vec<u32> {
    v.sort_unstable();
    v.dedup();
    v
}

/// Regions of the object's `.data.rel.ro`, `.data` and sections named like C
/// identifiers, or None when it has none (or too many): then every stored
/// function address stays address-taken.
pub(crate) fn data_regions(elf: &ElfInfo, f: &Facts) -> Option<Liveness> {
    let mut ranges: Vec<(u64, u64)> = elf
        .sections
        .iter()
        .filter(|s| {
            s.alloc
                && !s.exec
                && s.kind == SHT_PROGBITS
                && s.size > 0
                && (PRUNED_SECTIONS.contains(&s.name.as_str()) || whole_section(&s.name))
        })
        .map(|s| (s.addr, s.addr.saturating_add(s.size)))
        .collect();
    ranges.sort_unstable();
    // Among `ranges`, so sorted and (checked below) not overlapping.
    let mut whole: Vec<(u64, u64)> = elf
        .sections
        .iter()
        .filter(|s| {
            s.alloc && !s.exec && s.kind == SHT_PROGBITS && s.size > 0 && whole_section(&s.name)
        })
        .map(|s| (s.addr, s.addr.saturating_add(s.size)))
        .collect();
    whole.sort_unstable();
    // Overlapping sections (hostile input): keep the object live whole.
    if ranges.is_empty() || ranges.windows(2).any(|w| w[0].1 > w[1].0) {
        return None;
    }
    let inside = |a: u64| {
        let i = ranges.partition_point(|&(lo, _)| lo <= a);
        i.checked_sub(1)
            .and_then(|i| ranges.get(i))
            .is_some_and(|&(_, hi)| a < hi)
    };
    let data_syms: Vec<(u64, u64)> = elf
        .dynsyms
        .iter()
        .chain(elf.symtab.iter())
        .filter(|s| s.defined && !matches!(s.kind, SymKind::Func | SymKind::IFunc | SymKind::Tls))
        .filter(|s| inside(s.addr))
        .map(|s| (s.addr, s.addr.saturating_add(s.size)))
        .collect();
    let mut anchors: BTreeSet<u64> = ranges.iter().map(|&(lo, _)| lo).collect();
    anchors.extend(f.code_refs.iter().map(|&(_, x)| x).filter(|&x| inside(x)));
    anchors.extend(f.data_slots.iter().map(|&(_, t)| t).filter(|&t| inside(t)));
    for &(a, b) in &data_syms {
        anchors.insert(a);
        if inside(b) {
            anchors.insert(b);
        }
    }
    // No cut inside a whole section.
    anchors.retain(|&x| {
        let i = whole.partition_point(|&(lo, _)| lo < x);
        i.checked_sub(1)
            .and_then(|i| whole.get(i))
            .is_none_or(|&(_, hi)| x >= hi)
    });
    // No cut strictly inside a sized symbol.
    let mut sized: Vec<(u64, u64)> = data_syms.iter().copied().filter(|&(a, b)| b > a).collect();
    sized.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for (a, b) in sized {
        match merged.last_mut() {
            Some(last) if a < last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    anchors.retain(|&x| {
        let i = merged.partition_point(|&(a, _)| a < x);
        i.checked_sub(1)
            .and_then(|i| merged.get(i))
            .is_none_or(|&(_, b)| x >= b)
    });
    if anchors.len() > MAX_REGIONS {
        return None;
    }
    // Arrays of structs: a cut inside a run of slots that repeats with some
    // stride on both sides is an element reference (`&howto[k]`), not an
    // object start; live code may walk the array from its start past it.
    // Adjacent objects of one struct type merge the same way.
    let mut slots: BTreeMap<u64, u8> = BTreeMap::new();
    slots.extend(
        f.code_slots
            .iter()
            .filter(|&&(o, _)| inside(o))
            .map(|&(o, _)| (o, 1)),
    );
    slots.extend(
        f.data_slots
            .iter()
            .filter(|&&(o, _)| inside(o))
            .map(|&(o, _)| (o, 2)),
    );
    slots.extend(
        f.import_slots
            .iter()
            .filter(|(o, _)| inside(*o))
            .map(|(o, _)| (*o, 3)),
    );
    let kept: BTreeSet<u64> = ranges
        .iter()
        .map(|&(lo, _)| lo)
        .chain(data_syms.iter().map(|&(a, _)| a))
        .collect();
    let mut budget = PERIODIC_BUDGET;
    anchors.retain(|&b| kept.contains(&b) || !periodic(&slots, &ranges, b, &mut budget));
    if budget == 0 {
        // Too much work to tell arrays apart (hostile input): live whole.
        return None;
    }
    // Const data without any pointer goes to `.rodata`, so a region here
    // with no relocated slot is most likely the head of the object after it
    // (an array's leading empty entries): no cut at its end. (In `.data` it
    // may also be a plain writable variable; merging it only costs precision.)
    let mut prev: Option<u64> = None;
    anchors.retain(|&b| {
        let merge = !kept.contains(&b) && prev.is_some_and(|a| slots.range(a..b).next().is_none());
        if !merge {
            prev = Some(b);
        }
        !merge
    });
    let starts: Vec<u64> = anchors.into_iter().collect();
    let ends: Vec<u64> = starts
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            let sec_end = ranges
                .iter()
                .find(|&&(lo, hi)| s >= lo && s < hi)
                .map_or(s, |&(_, hi)| hi);
            starts.get(i + 1).map_or(sec_end, |&n| n.min(sec_end))
        })
        .collect();
    let cuts = Cuts { starts, ends };
    let mut regions: Vec<DataRegion> = cuts
        .starts
        .iter()
        .zip(&cuts.ends)
        .map(|(&start, &end)| DataRegion {
            start,
            end,
            ..DataRegion::default()
        })
        .collect();
    let mut roots: Vec<u32> = Vec::new();
    for &(slot, t) in f.code_slots {
        if let Some(r) = cuts.of(slot).and_then(|i| regions.get_mut(i)) {
            r.code.push(t);
        }
    }
    for (slot, imp) in f.import_slots {
        if let Some(r) = cuts.of(*slot).and_then(|i| regions.get_mut(i)) {
            r.imports.push(imp.clone());
        }
    }
    let mut buf = Vec::new();
    for &(slot, t) in f.data_slots {
        buf.clear();
        cuts.refs(t, &mut buf);
        match cuts.of(slot).and_then(|i| regions.get_mut(i)) {
            Some(r) => r.next.extend_from_slice(&buf),
            None if inside(slot) => {}
            None => roots.extend_from_slice(&buf),
        }
    }
    for s in elf.dynsyms.iter() {
        if s.defined && !matches!(s.kind, SymKind::Func | SymKind::IFunc | SymKind::Tls) {
            // Other objects reach an exported object within its size.
            match s.size {
                0 => cuts.refs(s.addr, &mut roots),
                n => cuts.span(s.addr, s.addr.saturating_add(n - 1), &mut roots),
            }
        }
    }
    for &s in f.eh_slots {
        cuts.refs(s, &mut roots);
    }
    let mut by_function: HashMap<u64, Vec<u32>> = HashMap::new();
    for &(func, x) in f.code_refs {
        buf.clear();
        cuts.refs(x, &mut buf);
        if !buf.is_empty() {
            by_function.entry(func).or_default().extend_from_slice(&buf);
        }
    }
    for v in by_function.values_mut() {
        *v = sorted(std::mem::take(v));
    }
    for r in &mut regions {
        r.code.sort_unstable();
        r.code.dedup();
        r.imports.sort();
        r.imports.dedup();
        r.next = sorted(std::mem::take(&mut r.next));
    }
    Some(Liveness {
        regions: DataRegions {
            roots: sorted(roots),
            regions,
        },
        by_function,
        ranges,
    })
}
