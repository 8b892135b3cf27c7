//! The author's workflow through the real binary: `berth new` in each
//! language, `berth build`, a deploy, the route answering and published;
//! and `berth dev` rebuilding on save with no request failed meanwhile.
//!
//! The builds use the toolchains `cargo xtask` installed (`target/toolchains`)
//! and one cargo target dir for the new Rust crates (`target/author`), so
//! that only the first run compiles their dependencies.
//!
//! A test binary of its own: cargo runs test binaries one after another, so
//! these compiles never share the machine with the timing-sensitive API tests.

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::helpers::{ADMIN_TOKEN, TestApp, TestConfig, built_plugins, json};

/// `berth <args>` with the shared toolchains and target dir.
fn berth(args: &[&str]) -> Command {
    let target = built_plugins().join("..");
    let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
    command
        .args(args)
        .env("BERTH_TOOLCHAINS", target.join("toolchains"))
        .env("CARGO_TARGET_DIR", target.join("author"));
    command
}

fn run(args: &[&str]) -> String {
    let output = berth(args).output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "berth {args:?} failed:\n{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    text
}

/// `berth new name --lang lang` then `berth build`: the component's bytes.
fn new_and_build(parent: &Path, name: &str, lang: &str) -> Vec<u8> {
    let dir = parent.join(name);
    let dir_text = dir.display().to_string();
    let written = run(&[
        "new",
        name,
        "--lang",
        lang,
        "--dir",
        &parent.display().to_string(),
    ]);
    assert!(
        written.contains(&format!("berth build {dir_text}")),
        "{written}"
    );
    let built = run(&["build", &dir_text]);
    assert!(built.contains("built "), "{built}");
    std::fs::read(dir.join("build").join(format!("{name}.wasm"))).unwrap()
}

async fn serving(app: &TestApp, name: &str, wasm: Vec<u8>) {
    let deployed = app
        .admin(Method::PUT, &format!("/services/{name}"), Some(wasm))
        .await;
    assert_eq!(deployed.status(), 200, "{}", deployed.text().await.unwrap());
    let (status, note) = json(
        app.post_json(&format!("/{name}"), &json!({"text": "  hello "}))
            .await,
    )
    .await;
    assert_eq!(status, 201, "{note}");
    assert_eq!(note["text"], "hello", "the service's own logic ran");
    let (status, read) = json(app.get(&format!("/{name}/{}", note["id"])).await).await;
    assert_eq!((status, &read), (200, &note));
    let (status, refused) = json(app.get(&format!("/{name}/0")).await).await;
    assert_eq!(
        (status, refused["error"]["errors"][0]["location"].as_str()),
        (422, Some("path"))
    );
    let (_, doc) = json(app.get("/openapi.json").await).await;
    let read = &doc["paths"][format!("/{name}/{{id}}")]["get"];
    assert_eq!(read["parameters"][0]["schema"]["type"], "integer", "{read}");
    assert!(
        doc["paths"][format!("/{name}")]["post"]["requestBody"].is_object(),
        "{doc}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_service_in_each_language_builds_passes_its_test_and_serves() {
    let parent = tempfile::TempDir::new().unwrap();
    let app = TestApp::spawn_with(TestConfig {
        plugins: vec![],
        ..TestConfig::default()
    })
    .await;
    for (name, lang) in [
        ("demo-rs", "rust"),
        ("demo-py", "python"),
        ("demo-js", "js"),
    ] {
        let started = Instant::now();
        let wasm = tokio::task::block_in_place(|| new_and_build(parent.path(), name, lang));
        println!(
            "{name}: new + build in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        serving(&app, name, wasm).await;
    }
    // The Rust one's unit test, natively, as written (the Python and
    // JavaScript ones ran inside `berth build`).
    let manifest = parent.path().join("demo-rs/Cargo.toml");
    let status = tokio::task::block_in_place(|| {
        Command::new(env!("CARGO"))
            .args(["test", "--quiet", "--manifest-path"])
            .arg(&manifest)
            .env("CARGO_TARGET_DIR", built_plugins().join("../author"))
            .status()
            .unwrap()
    });
    assert!(status.success(), "cargo test of the new crate failed");
    // A name that is not a service name, and an existing dir, write nothing.
    let refused = berth(&[
        "new",
        "Bad Name",
        "--dir",
        &parent.path().display().to_string(),
    ])
    .output()
    .unwrap();
    assert!(!refused.status.success());
    let again = berth(&[
        "new",
        "demo-js",
        "--dir",
        &parent.path().display().to_string(),
    ])
    .output()
    .unwrap();
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_deploys_each_save_and_keeps_the_last_good_version_without_a_failed_request() {
    let parent = tempfile::TempDir::new().unwrap();
    let dir: PathBuf = parent.path().join("demo-dev");
    run(&[
        "new",
        "demo-dev",
        "--lang",
        "rust",
        "--dir",
        &parent.path().display().to_string(),
    ]);
    let app = Arc::new(
        TestApp::spawn_with(TestConfig {
            plugins: vec![],
            ..TestConfig::default()
        })
        .await,
    );
    let mut dev = berth(&[
        "dev",
        &dir.display().to_string(),
        "--url",
        &app.admin_url(""),
        "--public-url",
        &app.url(""),
        "--token",
        ADMIN_TOKEN,
    ])
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    let stdout = dev.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("dev| {line}");
            let _ = lines_tx.send(line);
        }
    });
    // The next line saying `needle`; a line saying the other outcome fails.
    let wait_for = |needle: &str| {
        let deadline = Instant::now() + Duration::from_secs(600);
        let other = if needle == "live at" {
            "last good version keeps serving"
        } else {
            "live at"
        };
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines_rx.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(line) if line.contains(other) => {
                    panic!("waiting for {needle:?}, berth dev said: {line}")
                }
                Ok(_) => {}
                Err(_) => panic!("berth dev never printed {needle:?}"),
            }
        }
    };
    let live = tokio::task::block_in_place(|| wait_for("live at"));
    assert!(live.contains(&app.url("/demo-dev")), "{live}");
    let (status, first) = json(app.post_json("/demo-dev", &json!({"text": "one"})).await).await;
    assert_eq!((status, first["text"].as_str()), (201, Some("one")));

    // Readers all along: not one request may fail across the swaps.
    let reading = Arc::new(AtomicBool::new(true));
    let (served, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let reader = {
        let (app, reading, served, failed) =
            (app.clone(), reading.clone(), served.clone(), failed.clone());
        let path = format!("/demo-dev/{}", first["id"]);
        tokio::spawn(async move {
            while reading.load(Ordering::Relaxed) {
                let status = app.get(&path).await.status();
                let counter = if status == 200 { &served } else { &failed };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        })
    };

    let service = dir.join("src/service.rs");
    let source = std::fs::read_to_string(&service).unwrap();
    let edited = source.replace("Ok(text.to_string())", "Ok(format!(\"{text}!\"))");
    assert_ne!(source, edited);
    std::fs::write(&service, &edited).unwrap();
    tokio::task::block_in_place(|| wait_for("live at"));
    let (_, note) = json(app.post_json("/demo-dev", &json!({"text": "two"})).await).await;
    assert_eq!(note["text"], "two!", "the edit is live");

    // A save that does not compile: the tools' error, and the last good
    // version serving on.
    std::fs::write(&service, edited.replace("pub fn tidy", "pub fn tidy(")).unwrap();
    tokio::task::block_in_place(|| wait_for("build failed"));
    let (_, note) = json(app.post_json("/demo-dev", &json!({"text": "three"})).await).await;
    assert_eq!(note["text"], "three!", "the last good version still serves");

    reading.store(false, Ordering::Relaxed);
    reader.await.unwrap();
    let _ = dev.kill();
    let _ = dev.wait();
    let (served, failed) = (
        served.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
    );
    println!("dev: {served} reads served across the swaps, {failed} failed");
    assert!(served > 0);
    assert_eq!(
        failed, 0,
        "no request failed while berth dev swapped versions"
    );
}
