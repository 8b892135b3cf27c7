//! Rust services: cargo, for the `wasm32-wasip2` target (installed with
//! rustup when it manages the toolchain and lacks it).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Result, status};

pub const WASM_TARGET: &str = "wasm32-wasip2";

/// Installs the wasm target when rustup manages the toolchain and lacks it.
pub fn ensure_wasm_target(dir: &Path) -> Result {
    let Ok(output) = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .current_dir(dir)
        .output()
    else {
        eprintln!(
            "rustup not found; assuming the {WASM_TARGET} target is installed (else: `rustup target add {WASM_TARGET}`)"
        );
        return Ok(());
    };
    if String::from_utf8_lossy(&output.stdout)
        .lines()
        .any(|l| l.trim() == WASM_TARGET)
    {
        return Ok(());
    }
    eprintln!("installing the {WASM_TARGET} target (rustup target add {WASM_TARGET})");
    status(
        Command::new("rustup")
            .args(["target", "add", WASM_TARGET])
            .current_dir(dir),
    )
}

/// The package name in `<dir>/Cargo.toml`.
pub fn package_name(dir: &Path) -> Result<String> {
    let manifest = dir.join("Cargo.toml");
    let text = fs::read_to_string(&manifest)
        .map_err(|e| format!("cannot read {}: {e}", manifest.display()))?;
    let mut in_package = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package && let Some(value) = line.strip_prefix("name") {
            let value = value
                .trim_start()
                .trim_start_matches('=')
                .trim()
                .trim_matches('"');
            return Ok(value.to_string());
        }
    }
    Err(format!("{} names no [package]", manifest.display()))
}

/// Builds the service crate in `dir` (a `cdylib`) in release mode for the
/// wasm target, into `target_dir` (else `CARGO_TARGET_DIR`, else the
/// crate's own `target/`),
/// and copies the component to `out`. Compile errors are cargo's own.
pub fn build(dir: &Path, target_dir: Option<&Path>, out: &Path) -> Result {
    let dir = &dir
        .canonicalize()
        .map_err(|e| format!("cannot find {}: {e}", dir.display()))?;
    ensure_wasm_target(dir)?;
    let name = package_name(dir)?;
    let target_dir = target_dir
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from))
        .unwrap_or_else(|| dir.join("target"));
    status(
        Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .current_dir(dir)
            .args([
                "build",
                "--release",
                "--target",
                WASM_TARGET,
                "--manifest-path",
            ])
            .arg(dir.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&target_dir),
    )?;
    let built = target_dir
        .join(WASM_TARGET)
        .join("release")
        .join(format!("{}.wasm", name.replace('-', "_")));
    if let Some(parent) = out.parent() {
        fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    fs::copy(&built, out)
        .map(|_| ())
        .map_err(|e| format!("cannot copy {} to {}: {e}", built.display(), out.display()))
}
