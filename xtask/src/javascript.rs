//! JavaScript services: the pinned toolchain and the build of every
//! JavaScript component.
//!
//! The toolchain is pinned by `sdk/js/toolchain/package-lock.json`
//! (componentize-js, esbuild and all they pull in). `npm ci` installs it
//! into `<toolchains>/node/`, again whenever the lock changes: the stamp
//! `installed-lock.json` is the lock it installed. The build script
//! `sdk/js/toolchain/build.mjs` is copied next to its `node_modules` and
//! bundles a service with the SDK (esbuild), then embeds it in
//! componentize-js's SpiderMonkey against a WIT world.
//!
//! A component is rebuilt when one of its inputs (its source dir, the SDK,
//! its WIT, the toolchain) is newer than it; before any is rebuilt the SDK's
//! and the services' unit tests run natively with `node --test`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Instant;

use crate::fresh::is_fresh;
use crate::{Outputs, Result, status};

/// The oldest Node.js the toolchain runs on.
const MIN_NODE: u32 = 18;

/// What a component is built against.
#[derive(Clone, Copy)]
enum World {
    /// `berth:service/service` (`wit/`), through the SDK. componentize-js's
    /// `http` and `fetch-event` features are left out: a service reaches
    /// nothing but its WIT imports.
    Service,
    /// A standard `wasi:http/proxy` component (`sdk/js/wasi-http/`), written
    /// with componentize-js's fetch event.
    Proxy,
}

impl World {
    fn wit(self, root: &Path) -> PathBuf {
        match self {
            World::Service => root.join("wit"),
            World::Proxy => root.join("sdk/js/wasi-http"),
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

/// One JavaScript component: its file name, whether it is an example
/// service (or a test one), its source dir and entry module (relative to the
/// root and to the dir), and its world.
struct Component {
    name: &'static str,
    example: bool,
    dir: &'static str,
    entry: &'static str,
    world: World,
}

const COMPONENTS: &[Component] = &[
    Component {
        name: "hello-js",
        example: true,
        dir: "plugins/hello-js",
        entry: "src/index.js",
        world: World::Service,
    },
    Component {
        name: "throws-js",
        example: false,
        dir: "plugins/tests/throws-js",
        entry: "index.js",
        world: World::Service,
    },
    Component {
        name: "db-js",
        example: false,
        dir: "plugins/tests/db-js",
        entry: "index.js",
        world: World::Service,
    },
    Component {
        name: "items-js",
        example: false,
        dir: "plugins/items-js",
        entry: "src/index.js",
        world: World::Service,
    },
    Component {
        name: "fetch-js",
        example: false,
        dir: "plugins/tests/fetch-js",
        entry: "index.js",
        world: World::Proxy,
    },
];

/// Dirs of `*.test.js` files run natively before a build.
const UNIT_TESTS: &[&str] = &[
    "sdk/js/test",
    "plugins/hello-js/test",
    "plugins/items-js/test",
];

struct Toolchain {
    dir: PathBuf,
    /// Written last by `install`: the lock it installed.
    stamp: PathBuf,
}

impl Toolchain {
    fn build_script(&self) -> PathBuf {
        self.dir.join("build.mjs")
    }
}

pub fn build(outputs: &Outputs) -> Result {
    let sdk = outputs.root.join("sdk/js");
    let stale: Vec<(&Component, PathBuf)> = COMPONENTS
        .iter()
        .map(|c| {
            let dir = if c.example {
                &outputs.examples
            } else {
                &outputs.test
            };
            (c, dir.join(format!("{}.wasm", c.name)))
        })
        .filter(|(c, out)| {
            let mut inputs = vec![
                sdk.join("toolchain"),
                c.world.wit(&outputs.root),
                outputs.root.join(c.dir),
                outputs.toolchains.join("node").join("installed-lock.json"),
            ];
            if let World::Service = c.world {
                inputs.push(sdk.join("src"));
            }
            !is_fresh(out, inputs.into_iter())
        })
        .collect();
    if stale.is_empty() {
        return Ok(());
    }
    let toolchain = toolchain(outputs)?;
    unit_tests(outputs)?;
    let started = Instant::now();
    // componentize-js is mostly single-threaded and takes ~0.8 GB: as many
    // builds side by side as there are cores.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut failed = Vec::new();
    for batch in stale.chunks(cores) {
        let mut running: Vec<(&PathBuf, Child)> = Vec::new();
        for (component, out) in batch {
            eprintln!("xtask: building {} (componentize-js)", out.display());
            if let Some(parent) = out.parent() {
                fs::create_dir_all(parent)
                    .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
            }
            let spawned = Command::new("node")
                .arg(toolchain.build_script())
                .arg("--entry")
                .arg(outputs.root.join(component.dir).join(component.entry))
                .arg("--out")
                .arg(out)
                .arg("--wit")
                .arg(component.world.wit(&outputs.root))
                .args(["--world", component.world.name()])
                .arg("--sdk")
                .arg(&sdk)
                .args(["--disable", component.world.disabled_features()])
                .current_dir(&outputs.root)
                .spawn();
            match spawned {
                Ok(child) => running.push((out, child)),
                Err(e) => failed.push(format!("{} (cannot run node: {e})", out.display())),
            }
        }
        for (out, mut child) in running {
            match child.wait() {
                Ok(s) if s.success() => {}
                Ok(s) => failed.push(format!("{} ({s})", out.display())),
                Err(e) => failed.push(format!("{} ({e})", out.display())),
            }
        }
    }
    if !failed.is_empty() {
        return Err(format!("cannot build {}", failed.join(", ")));
    }
    eprintln!(
        "xtask: JavaScript components built in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Whether Node.js (new enough) and npm can be run; if not, what to install.
fn check_node() -> Result {
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

/// The installed toolchain: `npm ci` from the committed lock when the lock
/// changed (or nothing is installed), and the build script beside it.
fn toolchain(outputs: &Outputs) -> Result<Toolchain> {
    check_node()?;
    let pinned = outputs.root.join("sdk/js/toolchain");
    let dir = outputs.toolchains.join("node");
    let toolchain = Toolchain {
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
            "xtask: installing the JavaScript toolchain (componentize-js, esbuild; npm ci) into {}",
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

/// Runs the SDK's and the services' unit tests natively (`cargo xtask
/// test` runs them every time; `build` only before it rebuilds).
pub fn test(outputs: &Outputs) -> Result {
    check_node()?;
    unit_tests(outputs)
}

/// `node --test` over the unit tests, with `@berth/sdk` and the WIT
/// interfaces resolved by `sdk/js/test/register.mjs`.
fn unit_tests(outputs: &Outputs) -> Result {
    let mut files = Vec::new();
    for dir in UNIT_TESTS {
        let dir = outputs.root.join(dir);
        let entries =
            fs::read_dir(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.to_string_lossy().ends_with(".test.js") {
                files.push(path);
            }
        }
    }
    files.sort();
    status(
        Command::new("node")
            .arg("--import")
            .arg(outputs.root.join("sdk/js/test/register.mjs"))
            .args(["--test", "--test-reporter=dot"])
            .args(&files)
            .current_dir(&outputs.root),
    )
}
