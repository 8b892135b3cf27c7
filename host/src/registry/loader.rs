//! Loading the plugins directory at start: every `*.wasm` in it goes through
//! the deploy pipeline; one that is refused is logged and the others still
//! load.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Registry, Source};

/// What loading a directory did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LoadSummary {
    pub deployed: Vec<String>,
    pub refused: Vec<PathBuf>,
}

/// The `*.wasm` files directly in `dir`, sorted by name.
pub fn wasm_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "wasm") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

impl Registry {
    pub async fn load_dir(&self, dir: &Path) -> std::io::Result<LoadSummary> {
        let mut summary = LoadSummary::default();
        for path in wasm_files(dir)? {
            let bytes = match std::fs::read(&path) {
                Ok(bytes) => bytes,
                Err(error) => {
                    tracing::error!(file = %path.display(), %error, "cannot read plugin file");
                    summary.refused.push(path);
                    continue;
                }
            };
            match self
                .deploy(Arc::from(bytes), Source::File(path.clone()))
                .await
            {
                Ok(report) => summary.deployed.push(report.name),
                Err(_) => summary.refused.push(path),
            }
        }
        Ok(summary)
    }
}
