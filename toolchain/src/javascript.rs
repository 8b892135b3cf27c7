//! JavaScript services: the pinned toolchain and componentize-js.
//!
//! The toolchain is pinned by `sdk/js/toolchain/package-lock.json`
//! (componentize-js, esbuild and all they pull in). `npm ci` installs it
//! into `<toolchains>/node/`, again whenever the lock changes: the stamp
//! `installed-lock.json` is the lock it installed. The build script
//! `sdk/js/toolchain/build.mjs` is copied next to its `node_modules` and
//! bundles a service with the SDK (esbuild), then embeds it in
//! componentize-js's SpiderMonkey against a WIT world.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use crate::{Result, Sources, status};

/// The oldest Node.js the toolchain runs on.
const MIN_NODE: u32 = 18;

/// What a component is built against.
#[derive(Clone, Copy, Debug)]
pub enum World {
    /// `berth:service/service` (`wit/`), through the SDK. componentize-js's
    /// `http` and `fetch-event` features are left out: a service reaches
    /// nothing but its WIT imports.
    Service,
    /// A standard `wasi:http/proxy` component (`sdk/js/wasi-http/`), written
    /// with componentize-js's fetch event.
    Proxy,
}

impl World {
    /// The WIT dir of the world.
    pub fn wit(self, sources: &Sources) -> PathBuf {
        match self {
            World::Service => sources.wit(),
            World::Proxy => sources.js_sdk().join("wasi-http"),
        }
    }

    fn name(self) -> &'static str {
        match self {
            World::Service => "service",
            World::Proxy => "proxy",
        }
    }

    fn disabled_features(self) -> &'static str {
        match self {
            World::Service => "http,fetch-event",
            World::Proxy => "",
        }
    }
}

/// The installed toolchain.
pub struct Node {
    dir: PathBuf,
    /// Written last by `install`: the lock it installed.
    stamp: PathBuf,
}

impl Node {
    fn build_script(&self) -> PathBuf {
        self.dir.join("build.mjs")
    }

    /// Changes whenever the toolchain is reinstalled: an input of every build.
    pub fn stamp(&self) -> &Path {
        &self.stamp
    }

    /// Starts building the component whose entry module is `entry` into
    /// `out` (componentize-js is mostly single-threaded and takes ~0.8 GB:
    /// the caller decides how many run at once).
    pub fn spawn_componentize(
        &self,
        sources: &Sources,
        entry: &Path,
        world: World,
        out: &Path,
    ) -> Result<Child> {
        if let Some(parent) = out.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        Command::new("node")
            .arg(self.build_script())
            .arg("--entry")
            .arg(entry)
            .arg("--out")
            .arg(out)
            .arg("--wit")
            .arg(world.wit(sources))
            .args(["--world", world.name()])
            .arg("--sdk")
            .arg(sources.js_sdk())
            .args(["--disable", world.disabled_features()])
            .current_dir(&sources.root)
            .spawn()
            .map_err(|e| format!("cannot run node: {e}"))
    }

    /// Builds one component and waits for it.
    pub fn componentize(
        &self,
        sources: &Sources,
        entry: &Path,
        world: World,
        out: &Path,
    ) -> Result {
        let status = self
            .spawn_componentize(sources, entry, world, out)?
            .wait()
            .map_err(|e| format!("componentize-js: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!(
                "componentize-js failed ({status}) building {}",
                out.display()
            ))
        }
    }
}

/// Whether Node.js (new enough) and npm can be run; if not, what to install.
pub fn check_node() -> Result {
    let missing = |why: String| {
        format!(
            "Node.js {MIN_NODE} or newer and npm are needed to build the JavaScript services \
             ({why}): install them (Debian/Ubuntu: `apt-get install nodejs npm`; or from \
             https://nodejs.org)"
        )
    };
    let output = Command::new("node")
        .arg("--version")
        .output()
        .map_err(|e| missing(format!("cannot run node: {e}")))?;
    let version = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let major = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok())
        .ok_or_else(|| missing(format!("`node --version` said `{version}`")))?;
    if major < MIN_NODE {
        return Err(missing(format!("this is Node.js {version}")));
    }
    if Command::new("npm").arg("--version").output().is_err() {
        return Err(missing("npm is not installed".into()));
    }
    Ok(())
}

/// The installed toolchain under `<toolchains>/node`: `npm ci` from the
/// committed lock when the lock changed (or nothing is installed), and the
/// build script beside it.
pub fn install(sources: &Sources, toolchains: &Path) -> Result<Node> {
    check_node()?;
    let pinned = sources.js_sdk().join("toolchain");
    let dir = toolchains.join("node");
    let toolchain = Node {
        stamp: dir.join("installed-lock.json"),
        dir,
    };
    let read = |path: &Path| {
        fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    let lock = read(&pinned.join("package-lock.json"))?;
    let installed = fs::read_to_string(&toolchain.stamp).is_ok_and(|s| s == lock)
        && toolchain.dir.join("node_modules").is_dir();
    if !installed {
        eprintln!(
            "installing the JavaScript toolchain (componentize-js, esbuild; npm ci) into {}",
            toolchain.dir.display()
        );
        let _ = fs::remove_dir_all(&toolchain.dir);
        fs::create_dir_all(&toolchain.dir)
            .map_err(|e| format!("cannot create {}: {e}", toolchain.dir.display()))?;
        for file in ["package.json", "package-lock.json"] {
            copy_if_changed(&pinned.join(file), &toolchain.dir.join(file))?;
        }
        // No install scripts: every binary the tools need comes as a
        // platform package the lock pins.
        status(
            Command::new("npm")
                .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund"])
                .args(["--loglevel=error"])
                .current_dir(&toolchain.dir),
        )?;
        fs::write(&toolchain.stamp, &lock)
            .map_err(|e| format!("cannot write {}: {e}", toolchain.stamp.display()))?;
    }
    copy_if_changed(&pinned.join("build.mjs"), &toolchain.build_script())?;
    Ok(toolchain)
}

/// Copies `from` to `to` unless `to` already has the same bytes (so that
/// its mtime says when it last changed).
fn copy_if_changed(from: &Path, to: &Path) -> Result {
    let bytes = fs::read(from).map_err(|e| format!("cannot read {}: {e}", from.display()))?;
    if fs::read(to).is_ok_and(|existing| existing == bytes) {
        return Ok(());
    }
    fs::write(to, bytes).map_err(|e| format!("cannot write {}: {e}", to.display()))
}

/// `node --test` over `files`, with `@berth/sdk` and the WIT interfaces
/// resolved by the SDK's `test/register.mjs`.
pub fn unit_tests(sources: &Sources, files: &[PathBuf], dir: &Path) -> Result {
    check_node()?;
    status(
        Command::new("node")
            .arg("--import")
            .arg(sources.js_sdk().join("test/register.mjs"))
            .args(["--test", "--test-reporter=dot"])
            .args(files)
            .current_dir(dir),
    )
}

/// The `*.test.js` files directly under `dir`, sorted.
pub fn test_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.to_string_lossy().ends_with(".test.js"))
        .collect();
    files.sort();
    Ok(files)
}
