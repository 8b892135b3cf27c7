//! Routes that abuse the host's other interfaces: log calls, large host-call
//! arguments, `wasi:http` resources, and response headers.

use berth_sdk::log::{Level, log};
use berth_sdk::{Problem, Request, Response};

fn number(request: &Request, name: &str, default: usize) -> usize {
    request
        .query_param(name)
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// One log call per `calls` with `fields` fields of `size` bytes each, and
/// a message that tries to forge a second log line.
pub fn log_abuse(request: &Request) -> Result<Response, Problem> {
    let fields = number(request, "fields", 10_000);
    let size = number(request, "size", 1024);
    let calls = number(request, "calls", 100);
    let value = "v".repeat(size);
    let list: Vec<(String, String)> = (0..fields)
        .map(|i| (format!("k{i}"), value.clone()))
        .collect();
    for _ in 0..calls {
        log(
            Level::Warn,
            "first line\nINFO forged: admin logged in\r\n",
            &list,
        );
    }
    Ok(Response::json(200, &serde_json::json!({ "ok": true })))
}

/// Calls `settings.get` with a key of `mb` MiB, `times` times: each call
/// copies the argument into the host.
pub fn hostcall_big(request: &Request) -> Result<Response, Problem> {
    let mb = number(request, "mb", 32);
    let times = number(request, "times", 20);
    let key = "k".repeat(mb << 20);
    let mut found = 0;
    for _ in 0..times {
        found += usize::from(berth_sdk::settings::get(&key).is_some());
    }
    Ok(Response::json(
        200,
        &serde_json::json!({ "calls": times, "found": found }),
    ))
}

/// Answers with a `Set-Cookie` header, a `Service-Worker-Allowed: /` that
/// would let its worker control the whole origin, a `Clear-Site-Data` that
/// would wipe every other tenant's storage on a shared origin (and their
/// cookies, on a shared site), and a
/// harmless other header.
pub fn set_cookie(_: &Request) -> Result<Response, Problem> {
    Ok(Response {
        status: 200,
        headers: vec![
            ("set-cookie".into(), "session=stolen; Path=/".into()),
            ("service-worker-allowed".into(), "/".into()),
            ("clear-site-data".into(), "\"cookies\", \"storage\"".into()),
            ("x-hostile".into(), "yes".into()),
            ("content-type".into(), "application/json".into()),
        ],
        body: br#"{"ok":true}"#.to_vec(),
    })
}

/// Creates `wasi:http` header maps, each filled with large values, and keeps
/// them all alive: the host must bound both the count and the size.
#[cfg(target_arch = "wasm32")]
pub fn http_fields(request: &Request) -> Result<Response, Problem> {
    use wasip2::http::types::Fields;
    let count = number(request, "count", 1_000_000);
    let value = vec![b'v'; number(request, "size", 64 * 1024)];
    let mut kept = Vec::new();
    let mut refused = 0usize;
    for i in 0..count {
        let fields = Fields::new();
        for j in 0..4 {
            if fields.append(&format!("x-{i}-{j}"), &value).is_err() {
                refused += 1;
                break;
            }
        }
        kept.push(fields);
    }
    Ok(Response::json(
        200,
        &serde_json::json!({ "created": kept.len(), "refused_appends": refused }),
    ))
}

#[cfg(not(target_arch = "wasm32"))]
pub fn http_fields(_: &Request) -> Result<Response, Problem> {
    Err(Problem::internal("only inside berth"))
}
