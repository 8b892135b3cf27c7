//! The author's workflow: `berth new` writes a service, `berth build` turns
//! services into components, `berth dev` rebuilds one on every save and
//! hot-deploys it into a running berth. The builds themselves are
//! `berth_toolchain`'s, shared with `cargo xtask`.

pub mod dev;
pub mod new;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_toolchain::javascript::{self, World};
use berth_toolchain::python::Python;
use berth_toolchain::{Sources, rust};

/// The languages a service may be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

impl Lang {
    /// The language of the service in `dir`, if it is one: a `Cargo.toml`
    /// (Rust), an `app.py` (Python) or a `package.json` with `src/index.js`
    /// (JavaScript).
    pub fn of(dir: &Path) -> Option<Lang> {
        if dir.join("Cargo.toml").is_file() {
            Some(Lang::Rust)
        } else if dir.join("app.py").is_file() {
            Some(Lang::Python)
        } else if dir.join("package.json").is_file() && dir.join("src/index.js").is_file() {
            Some(Lang::Js)
        } else {
            None
        }
    }
}

/// Where the pinned Python and JavaScript toolchains are installed:
/// `BERTH_TOOLCHAINS`, else `$XDG_CACHE_HOME/berth/toolchains`, else
/// `~/.cache/berth/toolchains`.
pub fn toolchains_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BERTH_TOOLCHAINS") {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    cache.join("berth").join("toolchains")
}

/// The services `path` names: itself when it is one, else the services
/// directly under it.
pub fn services_under(path: &Path) -> Result<Vec<(PathBuf, Lang)>, String> {
    if let Some(lang) = Lang::of(path) {
        return Ok(vec![(path.to_path_buf(), lang)]);
    }
    let entries =
        std::fs::read_dir(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut found: Vec<(PathBuf, Lang)> = entries
        .flatten()
        .map(|e| e.path())
        .filter_map(|dir| Lang::of(&dir).map(|lang| (dir, lang)))
        .collect();
    found.sort();
    if found.is_empty() {
        return Err(format!(
            "{} is not a service (no Cargo.toml, app.py, or package.json with src/index.js) and holds none",
            path.display()
        ));
    }
    Ok(found)
}

/// The component a service's build writes: `<dir>/build/<dir name>.wasm`.
pub fn output_of(dir: &Path) -> PathBuf {
    let name = dir
        .canonicalize()
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "service".into());
    dir.join("build").join(format!("{name}.wasm"))
}

/// Builds the service in `dir`: its unit tests first (Python, JavaScript),
/// then the component, at [`output_of`]. Errors are the language's own,
/// printed as the tools print them.
pub fn build(dir: &Path, lang: Lang) -> Result<(PathBuf, Duration), String> {
    let started = Instant::now();
    let dir = dir
        .canonicalize()
        .map_err(|e| format!("cannot find {}: {e}", dir.display()))?;
    let out = output_of(&dir);
    match lang {
        Lang::Rust => rust::build(&dir, None, &out)?,
        Lang::Python => {
            let sources = Sources::located()?;
            let python = Python::install(&toolchains_dir())?;
            let tests = dir.join("tests");
            if tests.is_dir() {
                python.bindings(&sources)?;
                python.unit_tests(&sources, &tests, std::slice::from_ref(&dir))?;
            }
            python.componentize(&sources, "app", std::slice::from_ref(&dir), &out)?;
        }
        Lang::Js => {
            let sources = Sources::located()?;
            let node = javascript::install(&sources, &toolchains_dir())?;
            let tests = dir.join("test");
            if tests.is_dir() {
                let files = javascript::test_files(&tests)?;
                if !files.is_empty() {
                    javascript::unit_tests(&sources, &files, &dir)?;
                }
            }
            node.componentize(&sources, &dir.join("src/index.js"), World::Service, &out)?;
        }
    }
    Ok((out, started.elapsed()))
}
