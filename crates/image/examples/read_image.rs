//! Read an image reference and print what was found: layers, files, retained bytes, time.
//!
//! `cargo run -p confine-image --example read_image -- REFERENCE [PATH...]`
//! `cargo run -p confine-image --example read_image -- REFERENCE --compare OTHER`
//! (prints regular files whose presence, size or mode differ between the two)

use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(reference) = args.next() else {
        eprintln!("usage: read_image REFERENCE [PATH...]");
        std::process::exit(2);
    };
    let opts = confine_image::OpenOptions::default();
    let start = Instant::now();
    let img = match confine_image::open(&reference, &opts) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let took = start.elapsed();
    let files = img.root.files();
    let kept = files
        .iter()
        .filter(|(p, _)| img.root.has_content(p))
        .count();
    println!("reference: {}", img.reference);
    println!("config: {:?}", img.config);
    for l in &img.layers {
        println!(
            "layer {} {:?} stored {} tar {} entries {}",
            l.digest, l.compression, l.bytes, l.tar_bytes, l.entries
        );
    }
    println!(
        "nodes {} files {} with content {} retained {} bytes, read in {:.3}s",
        img.root.node_count(),
        files.len(),
        kept,
        img.root.retained_bytes(),
        took.as_secs_f64()
    );
    let rest: Vec<String> = args.collect();
    if let [flag, other] = rest.as_slice() {
        if flag == "--compare" {
            let b = match confine_image::open(other, &opts) {
                Ok(i) => i,
                Err(e) => {
                    eprintln!("error: {e}");
                    std::process::exit(1);
                }
            };
            let fa: std::collections::BTreeMap<_, _> = files.into_iter().collect();
            let fb: std::collections::BTreeMap<_, _> = b.root.files().into_iter().collect();
            let mut diffs = 0;
            for (p, m) in &fa {
                match fb.get(p) {
                    None => println!("only in {reference}: {p}"),
                    Some(n) if (n.size, n.mode) != (m.size, m.mode) => {
                        println!("differs: {p} {m:?} vs {n:?}")
                    }
                    Some(_) => continue,
                }
                diffs += 1;
            }
            for p in fb.keys().filter(|p| !fa.contains_key(*p)) {
                println!("only in {other}: {p}");
                diffs += 1;
            }
            println!("{} vs {} files, {diffs} differences", fa.len(), fb.len());
            return;
        }
    }
    for p in rest {
        match img.root.canonicalize(&p) {
            Ok(c) => println!("{p} -> {c} {:?}", img.root.metadata(&c)),
            Err(e) => println!("{p}: {e}"),
        }
    }
}
