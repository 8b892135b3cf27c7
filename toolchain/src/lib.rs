//! Builds berth services into components, for `cargo xtask` (this
//! repository's own services) and for `berth build` / `berth dev` (an
//! author's): Rust with cargo for `wasm32-wasip2`, Python with
//! componentize-py, JavaScript with componentize-js. Each toolchain is
//! pinned and installed on first use under a toolchains dir; what cannot be
//! installed is reported with how to install it.

use std::path::{Path, PathBuf};
use std::process::Command;

pub mod fresh;
pub mod javascript;
pub mod python;
pub mod rust;

pub type Result<T = ()> = std::result::Result<T, String>;

/// Runs `command`; its failure as a message.
pub fn status(command: &mut Command) -> Result {
    let status = command
        .status()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{command:?} failed with {status}"))
    }
}

/// Where berth's own sources are: the WIT world services are built
/// against, and the SDKs. This repository's root.
#[derive(Debug, Clone)]
pub struct Sources {
    pub root: PathBuf,
}

impl Sources {
    pub fn new(root: impl Into<PathBuf>) -> Sources {
        Sources { root: root.into() }
    }

    /// `BERTH_SDK_DIR`, else the checkout this binary was built from:
    /// the dir with `wit/` and `sdk/`.
    pub fn located() -> Result<Sources> {
        let root = std::env::var_os("BERTH_SDK_DIR").map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join(".."),
            PathBuf::from,
        );
        let sources = Sources::new(root.canonicalize().unwrap_or(root));
        if sources.wit().join("world.wit").is_file() && sources.python_sdk().is_dir() {
            Ok(sources)
        } else {
            Err(format!(
                "berth's WIT and SDKs are not at {}: set BERTH_SDK_DIR to a berth checkout",
                sources.root.display()
            ))
        }
    }

    pub fn wit(&self) -> PathBuf {
        self.root.join("wit")
    }

    pub fn rust_sdk(&self) -> PathBuf {
        self.root.join("sdk")
    }

    pub fn python_sdk(&self) -> PathBuf {
        self.root.join("sdk/python")
    }

    pub fn js_sdk(&self) -> PathBuf {
        self.root.join("sdk/js")
    }
}
