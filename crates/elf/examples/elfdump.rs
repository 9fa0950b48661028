//! Print a summary of the facts `confine_elf::parse` finds in each file given.

fn main() {
    let mut brief = false;
    for path in std::env::args().skip(1) {
        if path == "--brief" {
            brief = true;
            continue;
        }
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("{path}: {e}");
                continue;
            }
        };
        let t = std::time::Instant::now();
        match confine_elf::parse(&data) {
            Err(e) => println!("{path}: error: {e}"),
            Ok(e) if brief => {
                let dt = t.elapsed();
                println!(
                    "{path}\t{:?}\t{:?}\tsyms {}\trel {}\tplt {}\tfde {}/{}\tgo {}\t{:?}\t{:?}",
                    e.machine,
                    e.kind,
                    e.dynsyms.len(),
                    e.relocations.len(),
                    e.plt.len(),
                    e.fdes.len(),
                    e.eh_frame_errors,
                    e.gopclntab.as_ref().map_or(0, |g| g.functions.len()),
                    dt,
                    e.warnings
                );
            }
            Ok(e) => {
                let dt = t.elapsed();
                println!("== {path} ({dt:?})");
                println!(
                    "machine {:?} class64 {} kind {:?} pie {} entry {:#x}",
                    e.machine, e.class64, e.kind, e.pie, e.entry
                );
                println!("interp {:?} soname {:?}", e.interp, e.soname);
                println!("needed {:?}", e.needed);
                println!(
                    "rpath {:?} runpath {:?} flags {:#x} flags_1 {:#x}",
                    e.rpath, e.runpath, e.flags, e.flags_1
                );
                println!("init {:x?} fini {:x?}", e.init, e.fini);
                println!("init_array {:x?}", e.init_array);
                println!("fini_array {:x?}", e.fini_array);
                println!("preinit_array {:x?}", e.preinit_array);
                println!(
                    "dynsyms {} (imports {}, exports {}) symtab {}",
                    e.dynsyms.len(),
                    e.imports().count(),
                    e.exports().count(),
                    e.symtab.len()
                );
                println!("version_needs {:?}", e.version_needs);
                println!("version_defs {}", e.version_defs.len());
                println!(
                    "relocations {} (relr {})",
                    e.relocations.len(),
                    e.relr_count
                );
                let mut kinds = std::collections::BTreeMap::new();
                for r in &e.relocations {
                    *kinds.entry(format!("{:?}", r.kind)).or_insert(0) += 1;
                }
                println!("reloc kinds {kinds:?}");
                println!("plt {} got_imports {}", e.plt.len(), e.got_imports.len());
                for p in e.plt.iter().take(3) {
                    println!(
                        "  plt {:#x} got {:#x} {:?} {:x?}",
                        p.addr,
                        p.got,
                        p.sym.as_ref().map(|s| (&s.name, &s.version)),
                        p.irelative
                    );
                }
                println!(
                    "sections {} segments {}",
                    e.sections.len(),
                    e.segments.len()
                );
                println!(
                    "fdes {} eh_frame_errors {}",
                    e.fdes.len(),
                    e.eh_frame_errors
                );
                if let Some(g) = &e.gopclntab {
                    println!(
                        "gopclntab magic {:#x} functions {}",
                        g.magic,
                        g.functions.len()
                    );
                    for f in g.functions.iter().take(3) {
                        println!("  {:#x}-{:#x} {}", f.entry, f.end, f.name);
                    }
                }
                println!("warnings {:?}", e.warnings);
            }
        }
    }
}
