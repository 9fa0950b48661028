//! `--limit NAME=VALUE`: every reader's limits (image, loader, analysis) in
//! one flat namespace, set once at start-up and read by the pipeline.

use anyhow::{bail, Context, Result};
use serde_json::{Map, Value};
use std::sync::OnceLock;

/// The limits of one run.
#[derive(Clone, Debug, Default)]
pub struct All {
    pub image: confine_image::Limits,
    pub loader: confine_loader::Limits,
    pub analysis: confine_analysis::Limits,
}

static LIMITS: OnceLock<All> = OnceLock::new();

/// The limits set at start-up (defaults when none were set).
pub fn get() -> &'static All {
    LIMITS.get_or_init(All::default)
}

/// Parse `NAME=VALUE` settings over the defaults and install them; "help"
/// (or an unknown name) is an error listing every limit and its default.
/// An error here is a usage error (exit code 2).
pub fn install(settings: &[String]) -> Result<()> {
    let all = parse(settings)?;
    let _ = LIMITS.set(all);
    Ok(())
}

fn tables(all: &All) -> Result<[(&'static str, Map<String, Value>); 3]> {
    let obj = |v: Value| match v {
        Value::Object(m) => Ok(m),
        _ => bail!("limits are not a table"),
    };
    Ok([
        ("image", obj(serde_json::to_value(&all.image)?)?),
        ("loader", obj(serde_json::to_value(&all.loader)?)?),
        ("analysis", obj(serde_json::to_value(&all.analysis)?)?),
    ])
}

/// Every limit with its default, one per line.
pub fn listing() -> String {
    let mut s = String::new();
    if let Ok(t) = tables(&All::default()) {
        for (group, m) in t {
            for (k, v) in m {
                s.push_str(&format!("  {k:<26} {v:>14}  ({group})\n"));
            }
        }
    }
    s
}

fn value(text: &str) -> Option<u64> {
    let t = text.trim();
    let (num, mul) = match t.chars().last()? {
        'K' | 'k' => (&t[..t.len() - 1], 1u64 << 10),
        'M' | 'm' => (&t[..t.len() - 1], 1 << 20),
        'G' | 'g' => (&t[..t.len() - 1], 1 << 30),
        'T' | 't' => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mul)
}

/// The defaults with `settings` applied.
pub fn parse(settings: &[String]) -> Result<All> {
    let mut t = tables(&All::default())?;
    for s in settings {
        let Some((name, v)) = s.split_once('=') else {
            bail!(format!(
                "--limit {s}: expected NAME=VALUE; the limits are:\n{}",
                listing()
            ));
        };
        let Some(n) = value(v) else {
            bail!(format!(
                "--limit {s}: {v:?} is not a number (suffixes K, M, G, T allowed)"
            ));
        };
        let Some(slot) = t.iter_mut().find_map(|(_, m)| m.get_mut(name.trim())) else {
            bail!(format!(
                "--limit {s}: no limit named {name:?}; the limits are:\n{}",
                listing()
            ));
        };
        *slot = Value::from(n);
    }
    let [(_, image), (_, loader), (_, analysis)] = t;
    let too_big = |g: &str| format!("a --limit value does not fit the {g} limits");
    Ok(All {
        image: serde_json::from_value(Value::Object(image)).with_context(|| too_big("image"))?,
        loader: serde_json::from_value(Value::Object(loader)).with_context(|| too_big("loader"))?,
        analysis: serde_json::from_value(Value::Object(analysis))
            .with_context(|| too_big("analysis"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_values_and_errors() {
        let a = parse(&["max_image_bytes=2G".into(), "max_instructions=100".into()]).unwrap();
        assert_eq!(a.image.max_image_bytes, 2 << 30);
        assert_eq!(a.analysis.max_instructions, 100);
        assert_eq!(a.loader, confine_loader::Limits::default());
        let e = parse(&["max_bogus=1".into()]).unwrap_err().to_string();
        assert!(
            e.contains("no limit named") && e.contains("max_layer_bytes"),
            "{e}"
        );
        assert!(parse(&["max_entries=lots".into()]).is_err());
        assert!(parse(&["max_entries".into()]).is_err());
        // Too large for a u32 field: an error, not a wrap-around.
        assert!(parse(&["max_symlink_hops=8G".into()]).is_err());
    }
}
