//! The Python components of this repository, built with the pinned
//! toolchain of `berth_toolchain::python`.
//!
//! A component is rebuilt when one of its inputs (its source dirs, the SDK,
//! the WIT files, the toolchain) is newer than it; before any is rebuilt the
//! SDK's and the services' unit tests run natively.

use std::path::{Path, PathBuf};

use berth_toolchain::fresh::is_fresh;
use berth_toolchain::python::Python;

use crate::{Outputs, Result};

/// One Python component: its file name, whether it is an example service
/// (or a test one), the module componentize-py loads (which must define
/// `Handler`) and the dirs on its path (relative to the root), besides the
/// SDK's.
struct Component {
    name: &'static str,
    example: bool,
    module: &'static str,
    dirs: &'static [&'static str],
}

const COMPONENTS: &[Component] = &[
    Component {
        name: "items-py",
        example: true,
        module: "app",
        dirs: &["plugins/items-py"],
    },
    Component {
        name: "hello-py",
        example: false,
        module: "app",
        dirs: &["plugins/hello-py"],
    },
    Component {
        name: "throws-py",
        example: false,
        module: "throws",
        dirs: &["plugins/tests/throws-py"],
    },
    Component {
        name: "items-py-v2",
        example: false,
        module: "items_v2",
        dirs: &["plugins/tests/items-py-v2", "plugins/items-py"],
    },
    Component {
        name: "hostile-py-describe",
        example: false,
        module: "hostile_describe",
        dirs: &["plugins/tests/hostile-py-describe"],
    },
];

/// Unit-test dirs run natively before a build: (tests, dirs on the path).
const UNIT_TESTS: &[(&str, &[&str])] = &[
    ("sdk/python/tests", &["sdk/python/tests"]),
    ("plugins/items-py/tests", &["plugins/items-py"]),
];

pub fn build(outputs: &Outputs) -> Result {
    let sources = outputs.sources();
    let toolchain = Python::install(&outputs.toolchains)?;
    let shared_inputs = [
        sources.wit(),
        sources.python_sdk(),
        toolchain.stamp().to_path_buf(),
        // This file too: it says how each component is built.
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/python.rs"),
    ];
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
            let inputs = shared_inputs
                .iter()
                .cloned()
                .chain(c.dirs.iter().map(|d| outputs.root.join(d)));
            !is_fresh(out, inputs)
        })
        .collect();
    if stale.is_empty() {
        return Ok(());
    }
    unit_tests(outputs, &toolchain)?;
    for (component, out) in stale {
        eprintln!("xtask: building {} (componentize-py)", out.display());
        let dirs: Vec<PathBuf> = component
            .dirs
            .iter()
            .map(|d| outputs.root.join(d))
            .collect();
        toolchain.componentize(&sources, component.module, &dirs, &out)?;
    }
    Ok(())
}

/// Runs the SDK's and the services' unit tests natively (`cargo xtask
/// test` runs them every time; `build` only before it rebuilds).
pub fn test(outputs: &Outputs) -> Result {
    let toolchain = Python::install(&outputs.toolchains)?;
    unit_tests(outputs, &toolchain)
}

fn unit_tests(outputs: &Outputs, toolchain: &Python) -> Result {
    let sources = outputs.sources();
    toolchain.bindings(&sources)?;
    for (tests, dirs) in UNIT_TESTS {
        let dirs: Vec<PathBuf> = dirs.iter().map(|d| outputs.root.join(d)).collect();
        toolchain.unit_tests(&sources, &outputs.root.join(tests), &dirs)?;
    }
    Ok(())
}
