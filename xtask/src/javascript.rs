//! The JavaScript components of this repository, built with the pinned
//! toolchain of `berth_toolchain::javascript`.
//!
//! A component is rebuilt when one of its inputs (its source dir, the SDK,
//! its WIT, the toolchain) is newer than it; before any is rebuilt the SDK's
//! and the services' unit tests run natively with `node --test`.

use std::path::PathBuf;
use std::process::Child;
use std::time::Instant;

use berth_toolchain::fresh::is_fresh;
use berth_toolchain::javascript::{self, World};

use crate::{Outputs, Result};

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

pub fn build(outputs: &Outputs) -> Result {
    let sources = outputs.sources();
    let sdk = sources.js_sdk();
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
                c.world.wit(&sources),
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
    let toolchain = javascript::install(&sources, &outputs.toolchains)?;
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
            let entry = outputs.root.join(component.dir).join(component.entry);
            match toolchain.spawn_componentize(&sources, &entry, component.world, out) {
                Ok(child) => running.push((out, child)),
                Err(e) => failed.push(format!("{} ({e})", out.display())),
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

/// Runs the SDK's and the services' unit tests natively (`cargo xtask
/// test` runs them every time; `build` only before it rebuilds).
pub fn test(outputs: &Outputs) -> Result {
    unit_tests(outputs)
}

fn unit_tests(outputs: &Outputs) -> Result {
    let mut files = Vec::new();
    for dir in UNIT_TESTS {
        files.extend(javascript::test_files(&outputs.root.join(dir))?);
    }
    javascript::unit_tests(&outputs.sources(), &files, &outputs.root)
}
