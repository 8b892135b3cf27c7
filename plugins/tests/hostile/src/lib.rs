//! `hostile`: a service that misbehaves on purpose, for the host's tests.
//! Each route is one kind of failure the host must contain: its manifest
//! is as hostile as its code (patterns that defeat a DFA, a schema that
//! backtracks).

mod abuse;
mod memory;
mod sql;

use berth_sdk::log::{Level, log};
use berth_sdk::{
    Capability, Dialect, Manifest, Method, Migration, Problem, Request, Response, Router, Service,
};
use sql::{big_query, run_sql, run_sql_tx, slow_sql, sql_flood};

struct Hostile;

fn router() -> Router {
    Router::new()
        .route(Method::Get, "/ok", "Answers normally", 200, ok)
        .route(Method::Get, "/panic", "Panics", 500, panic)
        .route(Method::Get, "/trap", "Executes unreachable", 500, trap)
        .route(
            Method::Get,
            "/cpu",
            "Computes for a while, then answers",
            200,
            cpu,
        )
        .route(Method::Get, "/spin", "Loops forever", 504, spin)
        .route(Method::Get, "/log", "Logs a message", 200, log_message)
        .route(
            Method::Get,
            "/print",
            "Writes ?message= to stdout and stderr",
            200,
            print_message,
        )
        .route(
            Method::Post,
            "/sql",
            "Runs the SQL it is sent",
            200,
            run_sql,
        )
        .route(
            Method::Post,
            "/sql-tx",
            "Runs statements in one transaction",
            200,
            run_sql_tx,
        )
        .route(
            Method::Get,
            "/memory",
            "Allocates without end",
            500,
            memory_bomb,
        )
        .route(
            Method::Get,
            "/recurse",
            "Recurses without end",
            500,
            recurse,
        )
        .route(Method::Get, "/huge", "Answers with a huge body", 500, huge)
        .route(
            Method::Get,
            "/ambient",
            "Tries files, environment and sockets",
            200,
            ambient,
        )
        .route(Method::Get, "/fetch", "Fetches ?url= over HTTP", 200, fetch)
        .route(
            Method::Get,
            "/sql-flood",
            "Runs statements until refused",
            200,
            sql_flood,
        )
        .route(
            Method::Get,
            "/slow-sql",
            "Runs a statement that never ends",
            200,
            slow_sql,
        )
        .route(
            Method::Get,
            "/big-query",
            "Reads a million rows",
            200,
            big_query,
        )
        .route(
            Method::Get,
            "/log-flood",
            "Logs a hundred thousand lines",
            200,
            log_flood,
        )
        .route(
            Method::Get,
            "/call-flood",
            "Calls the host without end",
            504,
            call_flood,
        )
        .route(
            Method::Get,
            "/param-flood",
            "Sends a large parameter list with every statement",
            200,
            sql::param_flood,
        )
        .route(
            Method::Get,
            "/log-abuse",
            "Logs huge field lists and forged lines",
            200,
            abuse::log_abuse,
        )
        .route(
            Method::Get,
            "/hostcall-big",
            "Passes huge arguments to the host",
            500,
            abuse::hostcall_big,
        )
        .route(
            Method::Get,
            "/http-fields",
            "Creates wasi:http header maps without end",
            200,
            abuse::http_fields,
        )
        .route(
            Method::Post,
            "/validate",
            "Accepts a body under a schema with a catastrophic pattern",
            200,
            ok,
        )
        .route(
            Method::Get,
            "/remember",
            "Keeps ?value= in a global",
            200,
            memory::remember,
        )
        .route(
            Method::Get,
            "/recall",
            "Answers what the global holds",
            200,
            memory::recall,
        )
        .route(
            Method::Get,
            "/keep-tx",
            "Keeps a transaction open past its request",
            200,
            memory::keep_transaction,
        )
        .route(
            Method::Get,
            "/set-cookie",
            "Answers with a cookie",
            200,
            abuse::set_cookie,
        )
        .route(
            Method::Post,
            "/redos-body",
            "Accepts a body whose field must match a pattern that defeats a DFA",
            200,
            ok,
        )
        .route(
            Method::Get,
            "/redos-params",
            "Takes 32 query parameters, each under a pattern that defeats a DFA",
            200,
            ok,
        )
}

/// A pattern whose DFA has a state for every string of its last `n` bytes:
/// matching it costs about `n` NFA states per byte of the value.
fn costly_pattern(n: u32) -> String {
    format!("[ab]*a[ab]{{{n}}}[^ab]")
}

/// CPU-bound work that finishes: `n` rounds of xorshift (the benchmark of
/// what epoch deadlines cost).
fn cpu(request: &Request) -> Result<Response, Problem> {
    let n: u64 = request
        .query_param("n")
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    Ok(Response::json(200, &serde_json::json!({ "n": n, "x": x })))
}

fn memory_bomb(_: &Request) -> Result<Response, Problem> {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(std::hint::black_box(vec![1u8; 1 << 20]));
    }
}

fn deep(n: u64) -> u64 {
    if n == 0 {
        0
    } else {
        std::hint::black_box(deep(n - 1)).wrapping_add(1)
    }
}

fn recurse(_: &Request) -> Result<Response, Problem> {
    let depth = deep(std::hint::black_box(u64::MAX));
    Ok(Response::json(200, &serde_json::json!({ "depth": depth })))
}

fn huge(request: &Request) -> Result<Response, Problem> {
    let mb: usize = request
        .query_param("mb")
        .and_then(|m| m.parse().ok())
        .unwrap_or(32);
    Ok(Response {
        status: 200,
        headers: Vec::new(),
        body: vec![b'x'; mb << 20],
    })
}

/// Everything a process normally has and a service must not.
fn ambient(_: &Request) -> Result<Response, Problem> {
    let file = std::fs::read_to_string("/etc/passwd")
        .map(|s| s.len())
        .map_err(|e| e.to_string());
    let dir = std::fs::read_dir("/")
        .map(|d| d.count())
        .map_err(|e| e.to_string());
    let cwd = std::env::current_dir()
        .map(|d| d.display().to_string())
        .map_err(|e| e.to_string());
    let env: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
    let args: Vec<String> = std::env::args().collect();
    let tcp = std::net::TcpStream::connect("127.0.0.1:5432")
        .map(|_| ())
        .map_err(|e| e.to_string());
    let dns = std::net::ToSocketAddrs::to_socket_addrs(&("localhost", 80))
        .map(|a| a.count())
        .map_err(|e| e.to_string());
    Ok(Response::json(
        200,
        &serde_json::json!({
            "file": format!("{file:?}"),
            "dir": format!("{dir:?}"),
            "cwd": format!("{cwd:?}"),
            "env": env,
            "args": args,
            "tcp": format!("{tcp:?}"),
            "dns": format!("{dns:?}"),
        }),
    ))
}

fn fetch(request: &Request) -> Result<Response, Problem> {
    let url = request.query_param("url").unwrap_or("https://example.com/");
    Ok(match berth_sdk::outbound::get(url) {
        Ok(response) => Response::json(
            200,
            &serde_json::json!({
                "status": response.status,
                "body": String::from_utf8_lossy(&response.body),
            }),
        ),
        Err(error) => Response::json(200, &serde_json::json!({ "error": error })),
    })
}

fn log_flood(request: &Request) -> Result<Response, Problem> {
    for i in 0..100_000u32 {
        log(Level::Info, "flood", &[("i".into(), i.to_string())]);
    }
    ok(request)
}

fn call_flood(_: &Request) -> Result<Response, Problem> {
    loop {
        std::hint::black_box(berth_sdk::settings::get("anything"));
    }
}

fn ok(_: &Request) -> Result<Response, Problem> {
    Ok(Response::json(200, &serde_json::json!({ "ok": true })))
}

fn panic(_: &Request) -> Result<Response, Problem> {
    panic!("hostile service panics on purpose");
}

fn trap(_: &Request) -> Result<Response, Problem> {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    unreachable!("trap");
}

fn spin(_: &Request) -> Result<Response, Problem> {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

fn log_message(request: &Request) -> Result<Response, Problem> {
    let message = request
        .query_param("message")
        .unwrap_or("hello from hostile");
    log(Level::Info, message, &[("origin".into(), "hostile".into())]);
    ok(request)
}

fn print_message(request: &Request) -> Result<Response, Problem> {
    let message = request.query_param("message").unwrap_or("printed");
    println!("out: {message}");
    eprintln!("err: {message}");
    ok(request)
}

/// The routes, one with a request schema whose `pattern` would backtrack
/// for ever on a backtracking regex engine, and nests deeply.
fn routes() -> Vec<berth_sdk::Route> {
    let mut routes = router().describe();
    for route in &mut routes {
        if route.path == "/redos-body" {
            // The pattern of the attack that froze every tenant (issue 24).
            route.request_schema = Some(format!(
                r#"{{"type": "object", "properties": {{"s": {{"type": "string", "pattern": "{}"}}}}}}"#,
                costly_pattern(10_000)
            ));
        }
        if route.path == "/redos-params" {
            route.params = (0..32)
                .map(|i| berth_sdk::Param {
                    name: format!("p{i}"),
                    location: berth_sdk::ParamLocation::Query,
                    required: false,
                    description: String::new(),
                    schema: format!(
                        r#"{{"type": "string", "pattern": "{}"}}"#,
                        costly_pattern(700)
                    ),
                })
                .collect();
        }
        if route.path == "/validate" {
            route.request_schema = Some(if cfg!(feature = "recursive-schema") {
                // Both branches match every level: checking a body nested
                // n deep takes 2^n steps.
                r##"{"$defs": {"n": {"oneOf": [{"type": "array", "items": {"$ref": "#/$defs/n"}}, {"type": "array", "items": {"$ref": "#/$defs/n"}, "minItems": 0}]}}, "$ref": "#/$defs/n"}"##.into()
            } else {
                r#"{"type": "object", "properties": {"s": {"type": "string", "pattern": "^(a+)+$"}, "deep": {"type": "array", "items": {"type": "array", "items": {"type": "array"}}}}}"#.into()
            });
        }
    }
    routes
}

fn migrations() -> Vec<Migration> {
    let mut migrations = vec![
        Migration::new(
            1,
            "secrets",
            "CREATE TABLE secrets (id INTEGER PRIMARY KEY, value TEXT NOT NULL)",
        )
        .on(
            Dialect::Postgres,
            "CREATE TABLE secrets (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, value TEXT NOT NULL)",
        ),
    ];
    if cfg!(feature = "bad-migration") {
        // The first statement works, the second fails: the migration must
        // be rolled back whole, leaving no `half` table behind.
        migrations.push(Migration::new(
            2,
            "half of a migration",
            "CREATE TABLE half (id INTEGER); INSERT INTO no_such_table VALUES (1);",
        ));
    }
    if cfg!(feature = "slow-migration") {
        // Never ends: the host must stop it, and must not stall other
        // tenants' deploys while it runs.
        migrations.push(
            Migration::new(
                2,
                "a migration that never ends",
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
            )
            .on(Dialect::Postgres, "SELECT pg_sleep(3600)"),
        );
    }
    if cfg!(feature = "pragma-migration") {
        // Process-wide SQLite settings and the host's bookkeeping, from a
        // migration: refused like the same SQL in a request.
        migrations.push(
            Migration::new(
                2,
                "reaches beyond its namespace",
                "PRAGMA hard_heap_limit = 1; DROP TABLE _berth_migrations;",
            )
            .on(
                Dialect::Postgres,
                "SET statement_timeout = 0; SELECT pg_notify('berth_changes', 'default/*'); COPY (SELECT 1) TO '/tmp/berth-migration-escape';",
            ),
        );
    }
    migrations
}

impl Service for Hostile {
    fn describe() -> Manifest {
        if cfg!(feature = "bad-describe") {
            panic!("describe() fails on purpose");
        }
        Manifest {
            name: "hostile".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Misbehaves on purpose.".into(),
            routes: routes(),
            migrations: migrations(),
            settings: Vec::new(),
            capabilities: vec![Capability::Database, Capability::OutboundHttp],
        }
    }

    fn handle(request: Request) -> Result<Response, Problem> {
        router().dispatch(&request)
    }
}

berth_sdk::export!(Hostile);
