//! `cargo xtask <task>`: the project's tasks, in Rust so that they need
//! nothing but cargo.
//!
//! - `run [berth serve flags…]`: build the components, then run berth with
//!   the example services on SQLite.
//! - `test [cargo test args…]`: build the components, then run every test on
//!   SQLite, the browser and schemathesis checks (`tests/web/run.py`), and
//!   the API tests again on PostgreSQL when one is reachable.
//! - `plugins`: build the components into `target/components/` (`examples/`
//!   and `test/`).
//! - `bench [--quick] [--only …] [--modes pinned,unpinned]`: build or install
//!   berth and every peer, then run the benchmark harness (`bench/run.py`),
//!   which writes `bench/RESULTS.md`; `bench --check` compares berth ÷ native
//!   with the ratios in `bench/results.json` (`bench/check.py`).

use std::env;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

mod javascript;
mod python;
mod web;

/// Where a language's build writes: the example services `run` serves and
/// the components only the tests use; its toolchain goes under `toolchains`.
pub struct Outputs {
    pub root: PathBuf,
    pub toolchains: PathBuf,
    pub examples: PathBuf,
    pub test: PathBuf,
}

impl Outputs {
    /// This repository's WIT and SDKs.
    pub fn sources(&self) -> berth_toolchain::Sources {
        berth_toolchain::Sources::new(&self.root)
    }
}

use berth_toolchain::rust::WASM_TARGET;
const PROFILE: &str = "plugin";
/// The services `cargo xtask run` serves.
const EXAMPLES: &[&str] = &["items", "hello"];
/// Components only the tests use (variants are packages of their own, so
/// that no build overwrites another's artifact).
const TEST_COMPONENTS: &[&str] = &[
    "hostile",
    "not-a-service",
    "hello-v2",
    "hello-broken",
    "hostile-bad-describe",
    "hostile-bad-migration",
    "hostile-slow-migration",
    "hostile-pragma-migration",
    "hostile-recursive-schema",
    "proxy",
    "sw-thief",
    "wasi-hello",
];
/// Where the PostgreSQL pass connects unless BERTH_TEST_POSTGRES_URL says.
const DEFAULT_POSTGRES: &str = "127.0.0.1:5432";

pub(crate) use berth_toolchain::{Result, status};

fn main() -> ExitCode {
    let mut args = env::args().skip(1);
    let task = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    let result = match task.as_str() {
        "plugins" => build_components().map(|_| ()),
        "run" => run(&rest),
        "test" => test(&rest),
        "bench" => bench(&rest),
        _ => Err(format!(
            "unknown task `{task}`; tasks: run [berth serve flags], test [cargo test args], plugins, bench [--quick]"
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

/// Where the built components go: `examples/` (what `run` serves) and
/// `test/` (what only the tests use).
fn components_dir() -> PathBuf {
    target_dir().join("components")
}

fn cargo() -> Command {
    let mut command = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(root());
    command
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

fn build_components() -> Result<PathBuf> {
    berth_toolchain::rust::ensure_wasm_target(&root())?;
    let mut command = cargo();
    command.args(["build", "--profile", PROFILE, "--target", WASM_TARGET]);
    for package in EXAMPLES.iter().chain(TEST_COMPONENTS) {
        command.args(["-p", package]);
    }
    status(&mut command)?;
    for (dir, names) in [("examples", EXAMPLES), ("test", TEST_COMPONENTS)] {
        let out = components_dir().join(dir);
        std::fs::create_dir_all(&out)
            .map_err(|e| format!("cannot create {}: {e}", out.display()))?;
        for name in names {
            copy(name, &out.join(format!("{name}.wasm")))?;
        }
    }
    let outputs = outputs();
    python::build(&outputs)?;
    javascript::build(&outputs)?;
    Ok(components_dir())
}

fn outputs() -> Outputs {
    Outputs {
        root: root(),
        toolchains: target_dir().join("toolchains"),
        examples: components_dir().join("examples"),
        test: components_dir().join("test"),
    }
}

fn run(args: &[String]) -> Result {
    // `cargo xtask run -- --listen …` and `cargo xtask run --listen …` alike.
    let args = args.strip_prefix(&["--".to_string()]).unwrap_or(args);
    let examples = build_components()?.join("examples");
    let mut command = cargo();
    command
        .args(["run", "-p", "berth", "--", "serve"])
        .args(args);
    if env::var_os("BERTH_PLUGINS_DIR").is_none() {
        command.env("BERTH_PLUGINS_DIR", &examples);
    }
    status(&mut command)
}

fn test(args: &[String]) -> Result {
    let components = build_components()?;
    let outputs = outputs();
    python::test(&outputs)?;
    javascript::test(&outputs)?;
    status(
        cargo()
            .args(["test", "--workspace"])
            .args(args)
            .env("BERTH_TEST_COMPONENTS", &components)
            .env_remove("BERTH_TEST_POSTGRES_URL"),
    )?;
    // The checks outside tools make: /docs in a browser, schemathesis.
    status(cargo().args(["build", "-p", "berth"]))?;
    web::check(&outputs, &target_dir().join("debug").join("berth"))?;
    let url = env::var("BERTH_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        let user = env::var("USER").unwrap_or_else(|_| "postgres".into());
        format!("postgres://{user}@{DEFAULT_POSTGRES}/postgres")
    });
    if !reachable(&url) {
        println!(
            "xtask: PostgreSQL is not reachable at {}: SKIPPED the PostgreSQL pass of the API tests (set BERTH_TEST_POSTGRES_URL to run it)",
            redact(&url)
        );
        return Ok(());
    }
    println!(
        "xtask: running the API tests again on PostgreSQL at {}",
        redact(&url)
    );
    status(
        cargo()
            .args(["test", "-p", "berth", "--test", "api"])
            .args(args)
            .env("BERTH_TEST_COMPONENTS", &components)
            .env("BERTH_TEST_POSTGRES_URL", &url),
    )
}

/// Whether something listens at the URL's host and port.
fn reachable(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let host_port = if host_port.contains(':') {
        host_port.to_string()
    } else {
        format!("{host_port}:5432")
    };
    host_port
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .is_some_and(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok())
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let user = url[scheme + 3..at].split(':').next().unwrap_or_default();
            format!("{}{user}@{}", &url[..scheme + 3], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

/// Peers installed from crates.io by the harness, at fixed versions.
const BENCH_TOOLS: &[(&str, &str, &str)] = &[
    ("oha", "1.16.0", "oha"),
    ("wasmtime-cli", "48.0.8", "wasmtime"),
];

fn bench(args: &[String]) -> Result {
    build_components()?;
    status(cargo().args(["build", "--release", "-p", "berth", "-p", "bench-native"]))?;
    status(cargo().args([
        "build",
        "--profile",
        PROFILE,
        "--target",
        WASM_TARGET,
        "-p",
        "wasi-hello",
    ]))?;
    // `--check` runs berth and native only: it needs oha, not the peers.
    let check = args.iter().any(|arg| arg == "--check");
    let tools = target_dir().join("bench-tools");
    for (krate, version, binary) in BENCH_TOOLS {
        if check && *binary != "oha" {
            continue;
        }
        if !tools.join("bin").join(binary).exists() {
            eprintln!("xtask: installing {krate} {version} (once)");
            status(
                cargo()
                    .args(["install", "--locked", "--version", version, "--root"])
                    .arg(&tools)
                    .arg(krate),
            )?;
        }
    }
    let venv = target_dir().join("bench-venv");
    if !check && !venv.join("bin").join("uvicorn").exists() {
        eprintln!(
            "xtask: installing FastAPI and uvicorn into {} (once)",
            venv.display()
        );
        status(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
        status(
            Command::new(venv.join("bin").join("pip"))
                .args(["install", "--quiet", "-r"])
                .arg(root().join("bench/fastapi/requirements.txt")),
        )?;
    }
    status(
        Command::new("python3")
            .arg(root().join("bench/run.py"))
            .args(args)
            .current_dir(root()),
    )
}
