//! Python services: the pinned toolchain and the build of every Python
//! component.
//!
//! The toolchain lives in `<toolchains>/python/`: a venv (`venv/`) with
//! `componentize-py` and the SDK's dependencies for the native unit tests,
//! and the same dependencies as pure-Python wheels for the interpreter
//! componentize-py embeds (`wasm/lib/python3.X/site-packages`, found through
//! `VIRTUAL_ENV`). Both are reinstalled when the pins below change.
//!
//! A component is rebuilt when one of its inputs (its source dirs, the SDK,
//! the WIT files, the toolchain) is newer than it; before any is rebuilt the
//! SDK's and the services' unit tests run natively.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::fresh::is_fresh;
use crate::{Outputs, Result, status};

/// The tool that turns a Python app into a component.
const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";
/// The CPython version componentize-py 0.25 embeds: the pure-Python wheels
/// are selected for it.
const EMBEDDED_PYTHON: &str = "3.14";
/// What the SDK imports besides the standard library: pure Python only.
const SDK_DEPENDENCIES: &[&str] = &["pydantic==1.10.26", "typing-extensions==4.16.0"];

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

struct Toolchain {
    dir: PathBuf,
    /// Written last by `install`: its content is the pins, its mtime when.
    stamp: PathBuf,
}

impl Toolchain {
    fn venv_bin(&self, tool: &str) -> PathBuf {
        self.dir.join("venv").join("bin").join(tool)
    }

    /// The `VIRTUAL_ENV` componentize-py takes its site-packages from.
    fn wasm_env(&self) -> PathBuf {
        self.dir.join("wasm")
    }

    fn bindings(&self) -> PathBuf {
        self.dir.join("bindings")
    }
}

pub fn build(outputs: &Outputs) -> Result {
    let toolchain = toolchain(&outputs.toolchains)?;
    let sdk = outputs.root.join("sdk/python");
    let shared_inputs = [
        outputs.root.join("wit"),
        sdk.clone(),
        toolchain.stamp.clone(),
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
    bindings(outputs, &toolchain)?;
    unit_tests(outputs, &toolchain)?;
    for (component, out) in stale {
        eprintln!("xtask: building {} (componentize-py)", out.display());
        if let Some(parent) = out.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        let partial = out.with_extension("wasm.partial");
        let mut command = Command::new(toolchain.venv_bin("componentize-py"));
        command
            .current_dir(&outputs.root)
            // Its pure-Python dependencies, and nothing of the machine's.
            .env("VIRTUAL_ENV", toolchain.wasm_env())
            .env_remove("PYTHONPATH")
            .arg("-d")
            .arg(outputs.root.join("wit"))
            .args(["-w", "service", "componentize", component.module]);
        for dir in component.dirs {
            command.arg("-p").arg(outputs.root.join(dir));
        }
        command.arg("-p").arg(&sdk).arg("-o").arg(&partial);
        status(&mut command)?;
        fs::rename(&partial, &out)
            .map_err(|e| format!("cannot move {} into place: {e}", partial.display()))?;
    }
    Ok(())
}

/// Runs the SDK's and the services' unit tests natively (`cargo xtask
/// test` runs them every time; `build` only before it rebuilds).
pub fn test(outputs: &Outputs) -> Result {
    let toolchain = toolchain(&outputs.toolchains)?;
    bindings(outputs, &toolchain)?;
    unit_tests(outputs, &toolchain)
}

/// The venv and the wasm site-packages, (re)installed when the pins change.
fn toolchain(toolchains: &Path) -> Result<Toolchain> {
    let dir = toolchains.join("python");
    let toolchain = Toolchain {
        stamp: dir.join("pins.txt"),
        dir,
    };
    let pins = format!(
        "{COMPONENTIZE_PY}\npython {EMBEDDED_PYTHON}\n{}\n",
        SDK_DEPENDENCIES.join("\n")
    );
    if fs::read_to_string(&toolchain.stamp).is_ok_and(|s| s == pins) {
        return Ok(toolchain);
    }
    eprintln!(
        "xtask: installing the Python toolchain ({COMPONENTIZE_PY}, {}) into {}",
        SDK_DEPENDENCIES.join(", "),
        toolchain.dir.display()
    );
    let _ = fs::remove_dir_all(&toolchain.dir);
    fs::create_dir_all(&toolchain.dir)
        .map_err(|e| format!("cannot create {}: {e}", toolchain.dir.display()))?;
    let venv = toolchain.dir.join("venv");
    let created = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status();
    match created {
        Err(e) => {
            return Err(format!(
                "python3 is needed to build the Python services ({e}): install Python 3.9 or newer \
                 with its venv module (Debian/Ubuntu: `apt-get install python3 python3-venv`)"
            ));
        }
        Ok(s) if !s.success() => {
            return Err(format!(
                "`python3 -m venv` failed ({s}): install Python's venv module \
                 (Debian/Ubuntu: `apt-get install python3-venv`)"
            ));
        }
        Ok(_) => {}
    }
    status(
        Command::new(toolchain.venv_bin("pip"))
            .args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                COMPONENTIZE_PY,
            ])
            .args(SDK_DEPENDENCIES),
    )?;
    let site_packages = toolchain
        .wasm_env()
        .join("lib")
        .join(format!("python{EMBEDDED_PYTHON}"))
        .join("site-packages");
    status(
        Command::new(toolchain.venv_bin("pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .args([
                "--only-binary=:all:",
                "--platform",
                "any",
                "--implementation",
                "py",
            ])
            .args([
                "--python-version",
                EMBEDDED_PYTHON,
                "--no-compile",
                "--target",
            ])
            .arg(&site_packages)
            .args(SDK_DEPENDENCIES),
    )?;
    fs::write(&toolchain.stamp, pins)
        .map_err(|e| format!("cannot write {}: {e}", toolchain.stamp.display()))?;
    Ok(toolchain)
}

/// The generated bindings of the `service` world, for the native unit tests
/// (componentize-py generates its own when it builds a component).
fn bindings(outputs: &Outputs, toolchain: &Toolchain) -> Result {
    let _ = fs::remove_dir_all(toolchain.bindings());
    status(
        Command::new(toolchain.venv_bin("componentize-py"))
            .arg("-d")
            .arg(outputs.root.join("wit"))
            .args(["-w", "service", "bindings"])
            .arg(toolchain.bindings()),
    )
}

fn unit_tests(outputs: &Outputs, toolchain: &Toolchain) -> Result {
    for (tests, dirs) in UNIT_TESTS {
        let path = std::iter::once(toolchain.bindings())
            .chain(std::iter::once(outputs.root.join("sdk/python")))
            .chain(dirs.iter().map(|d| outputs.root.join(d)))
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(":");
        status(
            Command::new(toolchain.venv_bin("python"))
                .args(["-B", "-m", "unittest", "discover", "--quiet", "-s"])
                .arg(outputs.root.join(tests))
                .env("PYTHONPATH", path)
                .env_remove("VIRTUAL_ENV"),
        )?;
    }
    Ok(())
}
