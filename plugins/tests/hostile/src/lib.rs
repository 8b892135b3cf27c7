//! `hostile`: a service that misbehaves on purpose, for the host's tests.
//! Each route is one kind of failure the host must contain.

use berth_sdk::database::Value;
use berth_sdk::db::{Db, Executor};
use berth_sdk::log::{Level, log};
use berth_sdk::{
    Capability, Manifest, Method, Migration, Problem, Request, Response, Router, Service,
};
use serde::Deserialize;

struct Hostile;

fn router() -> Router {
    Router::new()
        .route(Method::Get, "/ok", "Answers normally", 200, ok)
        .route(Method::Get, "/panic", "Panics", 500, panic)
        .route(Method::Get, "/trap", "Executes unreachable", 500, trap)
        .route(Method::Get, "/spin", "Loops forever", 504, spin)
        .route(Method::Get, "/log", "Logs a message", 200, log_message)
        .route(
            Method::Post,
            "/sql",
            "Runs the SQL it is sent",
            200,
            run_sql,
        )
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

#[derive(Deserialize)]
struct Sql {
    sql: String,
    #[serde(default)]
    execute: bool,
}

/// Runs arbitrary SQL: the host must keep it inside this service's namespace.
fn run_sql(request: &Request) -> Result<Response, Problem> {
    let sql: Sql = request.json()?;
    let result = if sql.execute {
        Db.execute(&sql.sql, &[])
            .map(|n| serde_json::json!({ "changed": n }))
    } else {
        Db.query(&sql.sql, &[]).map(|rows| {
            let rows: Vec<Vec<serde_json::Value>> = rows
                .rows
                .iter()
                .map(|row| row.iter().map(json_value).collect())
                .collect();
            serde_json::json!({ "rows": rows })
        })
    };
    Ok(match result {
        Ok(body) => Response::json(200, &body),
        Err(error) => Response::json(
            400,
            &serde_json::json!({ "db_error": format!("{error:?}") }),
        ),
    })
}

fn json_value(value: &Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Integer(i) => (*i).into(),
        Value::Real(r) => (*r).into(),
        Value::Text(t) => t.clone().into(),
        Value::Blob(b) => b.len().into(),
        Value::Boolean(b) => (*b).into(),
    }
}

fn migrations() -> Vec<Migration> {
    let mut migrations = vec![Migration::new(
        1,
        "secrets",
        "CREATE TABLE secrets (id INTEGER PRIMARY KEY, value TEXT NOT NULL)",
    )];
    if cfg!(feature = "bad-migration") {
        // The first statement works, the second fails: the migration must
        // be rolled back whole, leaving no `half` table behind.
        migrations.push(Migration::new(
            2,
            "half of a migration",
            "CREATE TABLE half (id INTEGER); INSERT INTO no_such_table VALUES (1);",
        ));
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
            routes: router().describe(),
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
