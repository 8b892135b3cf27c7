//! `cargo xtask <task>`: the project's tasks, in Rust so that they need
//! nothing but cargo.
//!
//! - `run [berth serve flags…]`: build the plugins, then run berth with the
//!   example services on SQLite.
//! - `test [cargo test args…]`: build the plugins, then run every test.
//! - `plugins`: build the plugins into `target/plugins/`.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const WASM_TARGET: &str = "wasm32-wasip2";
const PROFILE: &str = "plugin";
/// The services `cargo xtask run` serves.
const EXAMPLES: &[&str] = &["items", "hello"];
/// Components only the tests use (variants are packages of their own, so
/// that no build overwrites another's artifact).
const TEST_PLUGINS: &[&str] = &[
    "hostile",
    "not-a-service",
    "hello-v2",
    "hostile-bad-describe",
    "hostile-bad-migration",
];

type Result<T = ()> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let mut args = env::args().skip(1);
    let task = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    let result = match task.as_str() {
        "plugins" => build_plugins().map(|_| ()),
        "run" => run(&rest),
        "test" => test(&rest),
        _ => Err(format!(
            "unknown task `{task}`; tasks: run [berth serve flags], test [cargo test args], plugins"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn target_dir() -> PathBuf {
    env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from)
}

/// Where the built plugins go: examples at the top, test components in `test/`.
fn plugins_dir() -> PathBuf {
    target_dir().join("plugins")
}

fn cargo() -> Command {
    let mut command = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(root());
    command
}

fn status(command: &mut Command) -> Result {
    let status = command
        .status()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{command:?} failed with {status}"))
    }
}

/// Installs the wasm target when rustup manages the toolchain and lacks it.
fn ensure_wasm_target() -> Result {
    let Ok(output) = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .current_dir(root())
        .output()
    else {
        eprintln!("xtask: rustup not found; assuming the {WASM_TARGET} target is installed");
        return Ok(());
    };
    if String::from_utf8_lossy(&output.stdout)
        .lines()
        .any(|l| l.trim() == WASM_TARGET)
    {
        return Ok(());
    }
    eprintln!("xtask: installing the {WASM_TARGET} target");
    status(
        Command::new("rustup")
            .args(["target", "add", WASM_TARGET])
            .current_dir(root()),
    )
}

fn build(packages: &[&str]) -> Result {
    let mut command = cargo();
    command.args(["build", "--profile", PROFILE, "--target", WASM_TARGET]);
    for package in packages {
        command.args(["-p", package]);
    }
    status(&mut command)
}

/// Copies a package's built component: libraries are named with `_`, binaries
/// (command components) keep their `-`.
fn copy(package: &str, to: &Path) -> Result {
    let dir = target_dir().join(WASM_TARGET).join(PROFILE);
    let lib = dir.join(format!("{}.wasm", package.replace('-', "_")));
    let built = if lib.exists() {
        lib
    } else {
        dir.join(format!("{package}.wasm"))
    };
    std::fs::copy(&built, to)
        .map_err(|e| format!("cannot copy {} to {}: {e}", built.display(), to.display()))?;
    Ok(())
}

fn build_plugins() -> Result<PathBuf> {
    ensure_wasm_target()?;
    let out = plugins_dir();
    let test_out = out.join("test");
    std::fs::create_dir_all(&test_out)
        .map_err(|e| format!("cannot create {}: {e}", test_out.display()))?;
    let all: Vec<&str> = EXAMPLES.iter().chain(TEST_PLUGINS).copied().collect();
    build(&all)?;
    for name in EXAMPLES {
        copy(name, &out.join(format!("{name}.wasm")))?;
    }
    for name in TEST_PLUGINS {
        copy(name, &test_out.join(format!("{name}.wasm")))?;
    }
    Ok(out)
}

fn run(args: &[String]) -> Result {
    let plugins = build_plugins()?;
    let mut command = cargo();
    command
        .args(["run", "-p", "berth", "--", "serve"])
        .args(args);
    if env::var_os("BERTH_PLUGINS_DIR").is_none() {
        command.env("BERTH_PLUGINS_DIR", &plugins);
    }
    status(&mut command)
}

fn test(args: &[String]) -> Result {
    let plugins = build_plugins()?;
    status(
        cargo()
            .args(["test", "--workspace"])
            .args(args)
            .env("BERTH_TEST_PLUGINS", &plugins),
    )
}
