//! Output files: atomic writes (temp file in the same folder, fsync, rename).

use anyhow::{Context, Result};
use std::io::Write;
use std::path::Path;

/// Write `bytes` to `path` atomically, or to stdout when `path` is `-`.
/// A reader never sees a half-written file: the data goes to a temporary file
/// beside the target, is synced, then renamed over it. On any error the
/// temporary file is removed and the target is left as it was.
pub fn write_atomic(path: &str, bytes: &[u8]) -> Result<()> {
    if path == "-" {
        let mut out = std::io::stdout().lock();
        out.write_all(bytes).context("writing to stdout")?;
        return out.flush().context("writing to stdout");
    }
    let tmp = temp_beside(path)?;
    // Removed by `tmp`'s drop on any error here, or by the stop path if the
    // process has to exit in the middle.
    let tmp_path = tmp.path().to_path_buf();
    crate::stop::register_temp(&tmp_path);
    let r = finish(tmp, bytes, Path::new(path), path);
    crate::stop::unregister_temp(&tmp_path);
    r
}

/// A temporary file in `path`'s folder, named after it, mode 0644 (the stage
/// is set to writing `path`; a stop requested already is an error).
fn temp_beside(path: &str) -> Result<tempfile::NamedTempFile> {
    let target = Path::new(path);
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = target
        .file_name()
        .with_context(|| format!("output path {path} names no file"))?;
    crate::stop::set_stage(&format!("writing {path}"));
    crate::stop::check()?;
    tempfile::Builder::new()
        .prefix(&format!(".{}.", name.to_string_lossy()))
        .suffix(".tmp")
        .permissions(output_mode())
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))
}

/// Fill the temporary file, sync it and rename it over `target`.
fn finish(mut tmp: tempfile::NamedTempFile, bytes: &[u8], target: &Path, path: &str) -> Result<()> {
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", tmp.path().display()))?;
    // A stop requested meanwhile: no profile rather than one the user did not wait for.
    crate::stop::check()?;
    tmp.persist(target)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot rename the temporary file to {path}"))?;
    Ok(())
}

/// Mode of output files: readable by all (the umask applies), as any
/// program's output; a temporary file alone would be 0600.
fn output_mode() -> std::fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    std::fs::Permissions::from_mode(0o644)
}

/// Write several files so that either all of them are replaced or none is
/// (as far as renames allow): every temporary file is written and synced
/// first, then they are renamed in order. A failure before the first rename
/// leaves every target as it was.
pub fn write_all_atomic(files: &[(&str, &[u8])]) -> Result<()> {
    if let [(path, bytes)] = files {
        return write_atomic(path, bytes);
    }
    // Temporary files kept on disk until renamed: (temporary, target as given).
    let mut ready: Vec<(std::path::PathBuf, &str)> = Vec::new();
    let mut result = prepare(files, &mut ready).and_then(|()| crate::stop::check());
    for (tmp, path) in &ready {
        if result.is_ok() {
            result = std::fs::rename(tmp, path)
                .with_context(|| format!("cannot rename the temporary file to {path}"));
        }
        if result.is_err() {
            let _ = std::fs::remove_file(tmp);
        }
        crate::stop::unregister_temp(tmp);
    }
    result
}

/// Write and sync a temporary file beside each target (stdout is written at once).
fn prepare<'a>(
    files: &[(&'a str, &[u8])],
    ready: &mut Vec<(std::path::PathBuf, &'a str)>,
) -> Result<()> {
    for (path, bytes) in files {
        if *path == "-" {
            write_atomic(path, bytes)?;
            continue;
        }
        let mut tmp = temp_beside(path)?;
        tmp.write_all(bytes)
            .and_then(|()| tmp.as_file().sync_all())
            .with_context(|| format!("cannot write {}", tmp.path().display()))?;
        // From here on removed by the caller (or the stop path), not on drop.
        crate::stop::register_temp(tmp.path());
        let kept = tmp
            .into_temp_path()
            .keep()
            .with_context(|| format!("cannot keep a temporary file beside {path}"))?;
        ready.push((kept, path));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("p.json");
        std::fs::write(&p, b"old").unwrap();
        write_atomic(p.to_str().unwrap(), b"new").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn output_is_readable_by_all_under_the_umask() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("p.json");
        write_atomic(p.to_str().unwrap(), b"x").unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o600, 0o600, "{mode:o}");
        assert_eq!(mode & 0o111, 0, "{mode:o}");
    }

    #[test]
    fn all_or_none_of_several_files() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.json");
        let b = dir.path().join("a.json.reasons.json");
        std::fs::write(&a, b"old").unwrap();
        let (pa, pb) = (a.to_str().unwrap(), b.to_str().unwrap());
        write_all_atomic(&[(pa, b"new a"), (pb, b"new b")]).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"new a");
        assert_eq!(std::fs::read(&b).unwrap(), b"new b");
        // The second target's folder is missing: the first stays as it was
        // and no temporary file is left.
        let bad = dir.path().join("nope").join("x.json");
        let e = write_all_atomic(&[(pa, b"newer"), (bad.to_str().unwrap(), b"x")]).unwrap_err();
        assert!(format!("{e:#}").contains("nope"), "{e:#}");
        assert_eq!(std::fs::read(&a).unwrap(), b"new a");
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, vec!["a.json", "a.json.reasons.json"]);
    }

    #[test]
    fn missing_folder_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("nope").join("p.json");
        let e = write_atomic(p.to_str().unwrap(), b"x").unwrap_err();
        assert!(format!("{e:#}").contains("nope"), "{e:#}");
    }
}
