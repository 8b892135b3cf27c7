//! The operator CLI against a running berth: deploy, services, rollback,
//! history, undeploy, and clear errors.

use std::process::{Command, Output};

use crate::helpers::{ADMIN_TOKEN, TestApp, built_plugins, json};

fn berth(app: &TestApp, args: &[&str], token: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
    command
        .args(args)
        .env("BERTH_URL", app.admin_url(""))
        .env_remove("BERTH_ADMIN_TOKEN");
    if let Some(token) = token {
        command.env("BERTH_ADMIN_TOKEN", token);
    }
    command.output().unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_services_rollback_history_and_undeploy_from_the_command_line() {
    let app = TestApp::spawn().await;
    let v2 = built_plugins().join("test/hello-v2.wasm");
    let out = stdout(&berth(
        &app,
        &["deploy", v2.to_str().unwrap(), "--name", "hello"],
        Some(ADMIN_TOKEN),
    ));
    assert!(out.contains("hello 2.0.0 is live"), "{out}");
    let (_, body) = json(app.get("/hello/cli").await).await;
    assert_eq!(body["version"], "2.0.0");

    let out = stdout(&berth(&app, &["services"], Some(ADMIN_TOKEN)));
    assert!(
        out.lines()
            .any(|l| l.starts_with("hello") && l.contains("2.0.0")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("items") && l.contains("live")),
        "{out}"
    );

    let out = stdout(&berth(&app, &["rollback", "hello"], Some(ADMIN_TOKEN)));
    assert!(out.contains("hello 1.0.0 is live"), "{out}");
    let out = stdout(&berth(&app, &["history", "hello"], Some(ADMIN_TOKEN)));
    assert_eq!(
        out.lines()
            .filter(|l| l.contains("retired") || l.contains("live"))
            .count(),
        3,
        "{out}"
    );

    stdout(&berth(&app, &["undeploy", "hello"], Some(ADMIN_TOKEN)));
    assert_eq!(app.get("/hello/cli").await.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standard_wasi_http_component_deploys_from_the_command_line_under_its_file_name() {
    let app = TestApp::spawn().await;
    let file = built_plugins().join("test/wasi-hello.wasm");
    let out = stdout(&berth(
        &app,
        &["deploy", file.to_str().unwrap()],
        Some(ADMIN_TOKEN),
    ));
    assert!(out.contains("wasi-hello sha256:"), "{out}");
    let (status, body) = json(app.get("/wasi-hello/hello/cli").await).await;
    assert_eq!((status, &body["message"]), (200, &"Hello, cli!".into()));
    let out = stdout(&berth(&app, &["services"], Some(ADMIN_TOKEN)));
    assert!(out.lines().any(|l| l.starts_with("wasi-hello")), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_explains_what_went_wrong() {
    let app = TestApp::spawn().await;
    let hello = built_plugins().join("examples/hello.wasm");
    let hello = hello.to_str().unwrap();

    let output = berth(&app, &["deploy", hello], None);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no admin token"));

    let output = berth(&app, &["deploy", hello], Some("not-the-right-token"));
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("admin token was refused"));

    let output = berth(&app, &["deploy", "/nonexistent.wasm"], Some(ADMIN_TOKEN));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot read /nonexistent.wasm"));

    let garbage = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(garbage.path(), b"not wasm").unwrap();
    let output = berth(
        &app,
        &[
            "deploy",
            garbage.path().to_str().unwrap(),
            "--name",
            "hello",
        ],
        Some(ADMIN_TOKEN),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("422") && stderr.contains("not a WebAssembly file"),
        "{stderr}"
    );

    let output = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args([
            "services",
            "--url",
            "http://127.0.0.1:1",
            "--token",
            ADMIN_TOKEN,
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot reach berth"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_is_started_shown_promoted_and_aborted_from_the_command_line() {
    let app = TestApp::spawn().await;
    let v2 = built_plugins().join("test/hello-v2.wasm");
    let v2 = v2.to_str().unwrap();
    let deploy = ["deploy", v2, "--name", "hello", "--canary"];
    let refused = berth(&app, &[&deploy[..], &["0"]].concat(), Some(ADMIN_TOKEN));
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("canary must be a percent from 1 to 99"),
        "{stderr}"
    );
    let alone = berth(&app, &["deploy", v2, "--bake", "10m"], Some(ADMIN_TOKEN));
    assert!(
        !alone.status.success(),
        "--bake without --canary was accepted"
    );

    let args = [
        &deploy[..],
        &["30", "--sticky-header", "x-user", "--bake", "10m"],
    ]
    .concat();
    let out = stdout(&berth(&app, &args, Some(ADMIN_TOKEN)));
    assert!(out.contains("hello 2.0.0 is a 30% canary"), "{out}");
    let out = stdout(&berth(&app, &["services"], Some(ADMIN_TOKEN)));
    assert!(
        out.lines()
            .any(|l| l.starts_with("hello") && l.contains("1.0.0") && l.contains("70%")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.contains("canary") && l.contains("2.0.0") && l.contains("30%")),
        "{out}"
    );
    let out = stdout(&berth(&app, &["promote", "hello"], Some(ADMIN_TOKEN)));
    assert!(out.contains("hello 2.0.0 is promoted"), "{out}");

    let v1 = built_plugins().join("examples/hello.wasm");
    let args = ["deploy", v1.to_str().unwrap(), "--canary", "10"];
    stdout(&berth(&app, &args, Some(ADMIN_TOKEN)));
    let out = stdout(&berth(&app, &["abort", "hello"], Some(ADMIN_TOKEN)));
    assert!(out.contains("hello 1.0.0 is aborted"), "{out}");
    let out = stdout(&berth(&app, &["history", "hello"], Some(ADMIN_TOKEN)));
    assert!(
        out.lines()
            .any(|l| l.contains("aborted") && l.contains("aborted by the operator")),
        "{out}"
    );
    let (_, body) = json(app.get("/hello/cli").await).await;
    assert_eq!(body["version"], "2.0.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn berth_logs_prints_a_services_lines_and_follows_new_ones() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(app.url("/hello/from-the-cli"))
        .header("x-request-id", "cli-request-1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let out = stdout(&berth(&app, &["logs", "hello"], Some(ADMIN_TOKEN)));
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].contains(" INFO  host    service deployed: 1.0.0"),
        "{out}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(" INFO  service greeted  version=1.0.0  request_id=cli-request-1")),
        "{out}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("request GET /hello/from-the-cli 200 in ")),
        "{out}"
    );
    let out = stdout(&berth(
        &app,
        &["logs", "hello", "-n", "1"],
        Some(ADMIN_TOKEN),
    ));
    assert_eq!(out.lines().count(), 1, "{out}");

    let refused = berth(&app, &["logs", "nothing-here"], Some(ADMIN_TOKEN));
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not known"));
    let refused = berth(&app, &["logs", "hello"], Some("wrong-token-wrong-token"));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("token was refused"));

    // --follow prints a new request's line as it happens.
    let mut follow = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["logs", "hello", "--follow", "--lines", "0"])
        .env("BERTH_URL", app.admin_url(""))
        .env("BERTH_ADMIN_TOKEN", ADMIN_TOKEN)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let output = follow.stdout.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(output).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let found = loop {
        // Until the follower is attached, a request's line may come before.
        app.get("/hello/followed-live").await;
        match receiver.recv_timeout(std::time::Duration::from_millis(300)) {
            Ok(line) if line.contains("/hello/followed-live 200") => break line,
            Ok(_) | Err(_) if std::time::Instant::now() < deadline => continue,
            other => panic!("no line came: {other:?}"),
        }
    };
    assert!(found.contains(" INFO  request GET "), "{found}");
    follow.kill().unwrap();
    follow.wait().unwrap();
}
