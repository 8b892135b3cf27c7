//! Python services: the pinned toolchain and componentize-py.
//!
//! The toolchain lives in `<toolchains>/python/`: a venv (`venv/`) with
//! `componentize-py` and the SDK's dependencies for the native unit tests,
//! and the same dependencies as pure-Python wheels for the interpreter
//! componentize-py embeds (`wasm/lib/python3.X/site-packages`, found through
//! `VIRTUAL_ENV`). Both are reinstalled when the pins below change.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Result, Sources, status};

/// The tool that turns a Python app into a component.
const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";
/// The CPython version componentize-py 0.25 embeds: the pure-Python wheels
/// are selected for it.
const EMBEDDED_PYTHON: &str = "3.14";
/// What the SDK imports besides the standard library: pure Python only.
const SDK_DEPENDENCIES: &[&str] = &["pydantic==1.10.26", "typing-extensions==4.16.0"];

/// The installed toolchain.
pub struct Python {
    dir: PathBuf,
    /// Written last by `install`: its content is the pins, its mtime when.
    stamp: PathBuf,
}

impl Python {
    fn venv_bin(&self, tool: &str) -> PathBuf {
        self.dir.join("venv").join("bin").join(tool)
    }

    /// The `VIRTUAL_ENV` componentize-py takes its site-packages from.
    fn wasm_env(&self) -> PathBuf {
        self.dir.join("wasm")
    }

    /// The generated bindings of the `service` world (see [`Python::bindings`]).
    pub fn bindings_dir(&self) -> PathBuf {
        self.dir.join("bindings")
    }

    /// Changes whenever the toolchain is reinstalled: an input of every build.
    pub fn stamp(&self) -> &Path {
        &self.stamp
    }

    /// Builds the component whose module `module` (defining `Handler`) is
    /// found in `dirs` (and the SDK) into `out`, written whole or not at all.
    pub fn componentize(
        &self,
        sources: &Sources,
        module: &str,
        dirs: &[PathBuf],
        out: &Path,
    ) -> Result {
        if let Some(parent) = out.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        let partial = out.with_extension("wasm.partial");
        let mut command = Command::new(self.venv_bin("componentize-py"));
        command
            .current_dir(&sources.root)
            // Its pure-Python dependencies, and nothing of the machine's.
            .env("VIRTUAL_ENV", self.wasm_env())
            .env_remove("PYTHONPATH")
            .arg("-d")
            .arg(sources.wit())
            .args(["-w", "service", "componentize", module]);
        for dir in dirs {
            command.arg("-p").arg(dir);
        }
        command
            .arg("-p")
            .arg(sources.python_sdk())
            .arg("-o")
            .arg(&partial);
        status(&mut command)?;
        fs::rename(&partial, out)
            .map_err(|e| format!("cannot move {} into place: {e}", partial.display()))
    }

    /// Generates the bindings of the `service` world, for native unit tests
    /// (componentize-py generates its own when it builds a component).
    pub fn bindings(&self, sources: &Sources) -> Result {
        let _ = fs::remove_dir_all(self.bindings_dir());
        status(
            Command::new(self.venv_bin("componentize-py"))
                .arg("-d")
                .arg(sources.wit())
                .args(["-w", "service", "bindings"])
                .arg(self.bindings_dir()),
        )
    }

    /// Runs the unit tests under `tests` natively, with the bindings, the
    /// SDK and `dirs` on the path. Call [`Python::bindings`] first.
    pub fn unit_tests(&self, sources: &Sources, tests: &Path, dirs: &[PathBuf]) -> Result {
        let path = [self.bindings_dir(), sources.python_sdk()]
            .iter()
            .chain(dirs)
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(":");
        status(
            Command::new(self.venv_bin("python"))
                .args(["-B", "-m", "unittest", "discover", "--quiet", "-s"])
                .arg(tests)
                .env("PYTHONPATH", path)
                .env_remove("VIRTUAL_ENV"),
        )
    }

    /// The venv and the wasm site-packages under `<toolchains>/python`,
    /// (re)installed when the pins change.
    pub fn install(toolchains: &Path) -> Result<Python> {
        let dir = toolchains.join("python");
        let toolchain = Python {
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
            "installing the Python toolchain ({COMPONENTIZE_PY}, {}) into {}",
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
}
