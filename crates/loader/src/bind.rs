//! Symbol binding across a program's scope, following glibc's `do_lookup_x`.

use crate::facts::{Facts, Sym};
use crate::{Binding, LoadedObject};
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// Is `def` (in `obj`) acceptable for reference `r`, glibc's version rules?
/// Returns Some(true) to take it now, Some(false) to remember it as the unique default
/// version for an unversioned reference, None to skip it.
fn version_ok(r: &Sym, def: &Sym, obj: &Facts) -> Option<bool> {
    if !obj.versioned {
        return Some(true);
    }
    match &r.version {
        Some(v) => {
            // Same version name, or an unversioned/base definition that is not hidden.
            (def.version.as_deref() == Some(v.as_str())
                || (def.vidx <= 1 && !def.hidden && !r.hidden))
                .then_some(true)
        }
        None => {
            if def.vidx <= 2 {
                Some(true)
            } else if !def.hidden {
                Some(false)
            } else {
                None
            }
        }
    }
}

fn candidate(def: &Sym) -> bool {
    def.defined && !def.local && !def.name.is_empty() && (def.addr != 0 || def.tls)
}

/// FNV-1a: symbol-name maps are hashed a lot; no need for SipHash's DoS resistance on
/// bounded per-object tables.
#[derive(Default, Clone, Copy)]
pub(crate) struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// Name -> indices into `dynsyms` of the binding candidates of one object.
pub(crate) type ExportIndex = HashMap<String, Vec<u32>, BuildHasherDefault<Fnv>>;

pub(crate) fn export_index(f: &Facts) -> ExportIndex {
    let mut index = ExportIndex::default();
    for (si, s) in f.dynsyms.iter().enumerate() {
        if candidate(s) {
            if let Ok(si) = u32::try_from(si) {
                index.entry(s.name.clone()).or_default().push(si);
            }
        }
    }
    index
}

/// Find the definition of `r` in scope order: (object index, symbol).
fn resolve<'o>(r: &Sym, scope: &[(usize, &'o Facts, &ExportIndex)]) -> Option<(usize, &'o Sym)> {
    for &(obj, facts, index) in scope {
        let Some(list) = index.get(r.name.as_str()) else {
            continue;
        };
        let mut unique_default: Option<&Sym> = None;
        let mut defaults = 0;
        for &si in list {
            let Some(def) = facts.dynsyms.get(si as usize) else {
                continue;
            };
            match version_ok(r, def, facts) {
                Some(true) => return Some((obj, def)),
                Some(false) => {
                    defaults += 1;
                    unique_default = Some(def);
                }
                None => {}
            }
        }
        if defaults == 1 {
            if let Some(d) = unique_default {
                return Some((obj, d));
            }
        }
    }
    None
}

/// Bind every import of the global scope (`order`) and of each run-time group (scope:
/// global then the group). Returns bindings and, per object, its unresolved strong imports.
/// `indexes[obj]` is the export index of object `obj`.
pub(crate) fn bind_program(
    objects: &[LoadedObject],
    indexes: &[ExportIndex],
    order: &[usize],
    groups: &[Vec<usize>],
) -> (Vec<Binding>, Vec<(usize, Vec<String>)>) {
    let mut bindings = Vec::new();
    let mut unresolved = Vec::new();
    let mut done: HashSet<usize> = HashSet::new();
    let entry = |o: usize| Some((o, &objects.get(o)?.facts, indexes.get(o)?));
    let global: Vec<(usize, &Facts, &ExportIndex)> =
        order.iter().filter_map(|&o| entry(o)).collect();
    let in_global: HashSet<usize> = order.iter().copied().collect();
    let mut work: Vec<(Vec<usize>, Vec<usize>)> = vec![(Vec::new(), order.to_vec())];
    for g in groups {
        let mut local = Vec::new();
        for &o in g {
            if !in_global.contains(&o) && !local.contains(&o) {
                local.push(o);
            }
        }
        work.push((local, g.clone()));
    }
    for (local_objs, from_list) in work {
        let mut scope = global.clone();
        scope.extend(local_objs.iter().filter_map(|&o| entry(o)));
        for from in from_list {
            if !done.insert(from) {
                continue;
            }
            let Some(obj) = objects.get(from) else {
                continue;
            };
            let mut missing = Vec::new();
            for r in obj.facts.imports() {
                let hit = resolve(r, &scope);
                if hit.is_none() && !r.weak {
                    missing.push(r.name.clone());
                }
                bindings.push(Binding {
                    from,
                    symbol: r.name.clone(),
                    version: r.version.clone(),
                    to: hit.map(|(o, d)| (o, d.addr)),
                    weak: r.weak,
                    ifunc: hit.is_some_and(|(_, d)| d.ifunc),
                });
            }
            if !missing.is_empty() {
                unresolved.push((from, missing));
            }
        }
    }
    (bindings, unresolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memcpy_versions_bind_to_their_own_definitions() {
        let data = std::fs::read("/lib/x86_64-linux-gnu/libc.so.6").unwrap();
        let libc = crate::facts::parse(&data).unwrap();
        let index = export_index(&libc);
        let scope = vec![(7usize, &libc, &index)];
        let mk = |v: Option<&str>| Sym {
            name: "memcpy".into(),
            version: v.map(Into::into),
            hidden: false,
            vidx: 2,
            addr: 0,
            defined: false,
            weak: false,
            local: false,
            ifunc: false,
            tls: false,
        };
        let new = resolve(&mk(Some("GLIBC_2.14")), &scope).unwrap().1;
        let old = resolve(&mk(Some("GLIBC_2.2.5")), &scope).unwrap().1;
        assert_eq!(new.version.as_deref(), Some("GLIBC_2.14"));
        assert!(new.ifunc && !new.hidden);
        assert_eq!(old.version.as_deref(), Some("GLIBC_2.2.5"));
        assert!(old.hidden);
        assert_ne!(new.addr, old.addr);
        // Unversioned reference (an old binary): glibc takes the oldest version (index 2)
        // when it exists, not the newest default.
        assert_eq!(resolve(&mk(None), &scope).unwrap().1.addr, old.addr);
        // ...and the unique non-hidden default when the name has no index-2 definition.
        let mut r = mk(None);
        r.name = "pthread_create".into();
        let pc = resolve(&r, &scope).unwrap().1;
        assert!(pc.version.is_some());
        // Unknown version: nothing.
        assert!(resolve(&mk(Some("GLIBC_9.99")), &scope).is_none());
        // An object without version info accepts any versioned reference.
        let mut plain = libc.clone();
        plain.versioned = false;
        let index2 = export_index(&plain);
        let scope2 = vec![(1usize, &plain, &index2)];
        assert!(resolve(&mk(Some("GLIBC_9.99")), &scope2).is_some());
    }
}
