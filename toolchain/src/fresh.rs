//! Whether a built artifact is newer than its inputs, so that a language's
//! build runs only when something it reads changed.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Folders the toolchains write into the source tree, not inputs.
const GENERATED: &[&str] = &["__pycache__", "node_modules"];

/// Whether `out` exists and is newer than every file under `inputs`.
pub fn is_fresh(out: &Path, mut inputs: impl Iterator<Item = PathBuf>) -> bool {
    let Ok(built) = fs::metadata(out).and_then(|m| m.modified()) else {
        return false;
    };
    inputs.all(|input| newest(&input).is_some_and(|t| t <= built))
}

/// The newest modification time of a file or of the files under a dir
/// (skipping generated folders); `None` when it cannot be read.
fn newest(path: &Path) -> Option<SystemTime> {
    let meta = fs::metadata(path).ok()?;
    if !meta.is_dir() {
        return meta.modified().ok();
    }
    let mut latest = meta.modified().ok()?;
    for entry in fs::read_dir(path).ok()? {
        let entry = entry.ok()?;
        if GENERATED.iter().any(|g| entry.file_name() == *g) {
            continue;
        }
        latest = latest.max(newest(&entry.path())?);
    }
    Some(latest)
}
