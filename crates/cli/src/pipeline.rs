//! The stages wired together: open the image, decide the roots, build the
//! closure. Shared by `inspect`, `profile` and `explain`.

use crate::args::ImageArgs;
use anyhow::{Context, Result};
use confine_image::{Image, OpenOptions};
use confine_loader::{Closure, Roots};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::{Arc, Mutex};

/// A spinner/bar on stderr when it is a terminal and `--quiet` is off. Each
/// stage starts with one: `msg` also names the stage for stop messages.
pub fn progress_bar(quiet: bool, msg: &str) -> ProgressBar {
    crate::stop::set_stage(msg);
    let pb = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
    };
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg} {bytes}/{total_bytes} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.set_message(msg.to_string());
    pb
}

/// Open IMAGE with a progress bar over the layers read.
pub fn open_image(args: &ImageArgs, quiet: bool) -> Result<Image> {
    crate::stop::check()?;
    let pb = progress_bar(quiet, "reading the image");
    let shared = Arc::new(Mutex::new(pb.clone()));
    let progress: confine_image::ProgressFn = Arc::new(move |p: confine_image::Progress| {
        if let Ok(pb) = shared.lock() {
            if let Some(t) = p.total_bytes {
                pb.set_length(t);
            }
            pb.set_position(p.bytes_read);
            pb.set_message(format!("reading layer {} {}", p.index + 1, short(&p.layer)));
        }
    });
    let opts = OpenOptions {
        limits: crate::limits::get().image.clone(),
        platform: args.platform.clone(),
        progress: Some(progress),
    };
    let image = confine_image::open(&args.image, &opts)
        .with_context(|| format!("cannot read image {}", args.image))?;
    pb.finish_and_clear();
    crate::stop::check()?;
    Ok(image)
}

fn short(s: &str) -> &str {
    s.get(..19).unwrap_or(s)
}

/// The container's argv, env and workdir as `docker run` would set them with
/// the user's overrides applied.
pub fn roots(image: &Image, args: &ImageArgs) -> Roots {
    let cfg = &image.config;
    // As docker: --entrypoint replaces the entrypoint and clears the image's cmd.
    let entrypoint: Vec<String> = match &args.entrypoint {
        Some(e) if e.is_empty() => Vec::new(),
        Some(e) => vec![e.clone()],
        None => cfg.entrypoint.clone(),
    };
    let cmd: Vec<String> = match (&args.cmd, &args.entrypoint) {
        (Some(c), _) => c.clone(),
        (None, Some(_)) => Vec::new(),
        (None, None) => cfg.cmd.clone(),
    };
    let mut env = cfg.env.clone();
    for kv in &args.env {
        let key = kv.split('=').next().unwrap_or(kv);
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    Roots {
        entrypoint: entrypoint.into_iter().chain(cmd).collect(),
        env,
        workdir: cfg.workdir.clone(),
        extra: args.binaries.clone(),
        all_binaries: args.all_binaries,
        observed: Vec::new(),
        observed_objects: Vec::new(),
    }
}

/// Build the closure of everything that can run.
pub fn closure(image: &Image, roots: &Roots, quiet: bool) -> Closure {
    let pb = progress_bar(quiet, "finding the code that can run");
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    let c = confine_loader::build_closure(&image.root, roots, &crate::limits::get().loader);
    pb.finish_and_clear();
    c
}
