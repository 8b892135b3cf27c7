//! `berth dev [path]`: builds the service, deploys it into a berth (the one
//! whose operator listener is at `--url`, or one it starts itself when none
//! answers there, serving at `--public-url`), then
//! watches the source and rebuilds and hot-deploys on every save. berth
//! never restarts: each version replaces the last in process, without a
//! failed request. A build that fails prints the tools' errors and leaves
//! the last good version serving.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use notify_debouncer_full::notify::event::ModifyKind;
use notify_debouncer_full::notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, new_debouncer};

use super::{Lang, build, output_of};
use crate::cli::AdminArgs;
use crate::client::AdminClient;

/// What the build writes and the tools cache: never a reason to rebuild.
const IGNORED: &[&str] = &[
    "build",
    "target",
    "node_modules",
    "__pycache__",
    ".berth-dev",
    ".git",
];

/// A berth this command started, stopped with it.
struct OwnBerth(Child);

impl Drop for OwnBerth {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn run(dir: &Path, public_url: &str, admin: &AdminArgs) -> Result<(), String> {
    let lang = Lang::of(dir).ok_or_else(|| {
        format!(
            "{} is not a service (no Cargo.toml, app.py, or package.json with src/index.js)",
            dir.display()
        )
    })?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let mut admin = admin.clone();
    let _own = if runtime.block_on(ready(&admin.url)) {
        None
    } else {
        Some(start_berth(dir, public_url, &mut admin, &runtime)?)
    };
    let public_url = public_url.trim_end_matches('/');
    let client = AdminClient::new(&admin).map_err(|e| e.to_string())?;
    let out = output_of(dir);
    let name = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    println!(
        "berth dev: watching {} ({lang:?}); the service will be at {}/{name}",
        dir.display(),
        public_url
    );
    let deploy = |reason: &str| {
        println!("berth dev: building ({reason})");
        match build(dir, lang) {
            Err(error) => {
                println!("berth dev: build failed, the last good version keeps serving:\n{error}")
            }
            Ok((file, took)) => {
                let started = Instant::now();
                match runtime.block_on(client.deploy(&file, Some(&name), &[])) {
                    Ok(report) => println!(
                        "berth dev: {report}: built in {:.1} s, deployed in {} ms; live at {}/{name}",
                        took.as_secs_f64(),
                        started.elapsed().as_millis(),
                        public_url
                    ),
                    Err(error) => println!(
                        "berth dev: deploy refused, the last good version keeps serving: {error}"
                    ),
                }
            }
        }
    };
    deploy("first build");
    let (tx, rx) = mpsc::channel::<DebounceEventResult>();
    let mut debouncer = new_debouncer(Duration::from_millis(300), None, move |result| {
        let _ = tx.send(result);
    })
    .map_err(|e| format!("cannot watch {}: {e}", dir.display()))?;
    debouncer
        .watch(dir, RecursiveMode::Recursive)
        .map_err(|e| format!("cannot watch {}: {e}", dir.display()))?;
    let root = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    while let Ok(result) = rx.recv() {
        let Ok(events) = result else { continue };
        let changed: Vec<&PathBuf> = events
            .iter()
            .filter(|event| is_change(&event.kind))
            .flat_map(|event| event.paths.iter())
            .filter(|path| is_source(&root, path))
            .collect();
        if let Some(first) = changed.first() {
            let shown = first
                .strip_prefix(&root)
                .unwrap_or(first)
                .display()
                .to_string();
            deploy(&format!("{shown} changed"));
        }
    }
    Ok(())
}

/// Whether an event changed something (reading a file, as the tools do,
/// changes nothing).
fn is_change(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Create(_)
            | EventKind::Remove(_)
            | EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Name(_) | ModifyKind::Any)
    )
}

/// Whether a changed path is the author's source, not output or a cache.
fn is_source(root: &Path, path: &Path) -> bool {
    let relative = path.strip_prefix(root).unwrap_or(path);
    !relative
        .components()
        .any(|c| IGNORED.iter().any(|i| c.as_os_str() == *i))
        && !relative.to_string_lossy().ends_with(".partial")
}

async fn ready(url: &str) -> bool {
    let client = reqwest::Client::new();
    client
        .get(format!("{url}/readyz"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// The `IP:port` of an `http://` URL, for a berth this command starts.
fn listen_address(url: &str) -> Result<String, String> {
    url.strip_prefix("http://")
        .map(|rest| rest.trim_end_matches('/').to_string())
        .ok_or_else(|| format!("berth dev starts a berth only on an http:// URL, not {url}"))
}

/// Starts `berth serve` with its services at `public_url` and its operator
/// listener at `admin.url`, its data under `<dir>/.berth-dev` and an admin
/// token of its own (unless one is given). The token goes in the child's
/// environment, never its arguments, which any local user can read.
fn start_berth(
    dir: &Path,
    public_url: &str,
    admin: &mut AdminArgs,
    runtime: &tokio::runtime::Runtime,
) -> Result<OwnBerth, String> {
    let listen = listen_address(public_url)?;
    let admin_listen = listen_address(&admin.url)?;
    let token = admin
        .token
        .get_or_insert_with(|| uuid::Uuid::new_v4().to_string())
        .clone();
    let data = dir.join(".berth-dev");
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let mut command = Command::new(exe);
    // SAFETY: prctl is async-signal-safe and touches nothing of the parent.
    // The berth it starts goes with it, however this process ends.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let child = command
        .arg("serve")
        .args(["--listen", &listen, "--admin-listen", &admin_listen])
        .env("BERTH_ADMIN_TOKEN", &token)
        .arg("--data-dir")
        .arg(&data)
        .arg("--plugins-dir")
        .arg(data.join("plugins"))
        .env_remove("BERTH_CONFIG")
        .env_remove("BERTH_LISTEN")
        .env_remove("BERTH_ADMIN_LISTEN")
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start berth: {e}"))?;
    let own = OwnBerth(child);
    println!(
        "berth dev: no berth answered at {}; started one serving at {public_url} (data in {})",
        admin.url,
        data.display()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !runtime.block_on(ready(&admin.url)) {
        if Instant::now() > deadline {
            return Err(format!(
                "the berth it started did not become ready at {}",
                admin.url
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(own)
}
