//! Routes that send the host whatever SQL and parameters the test asks for:
//! the host must keep all of it inside this service's namespace and bounds.

use berth_sdk::database::Value;
use berth_sdk::db::{Db, Executor};
use berth_sdk::{Dialect, Problem, Request, Response};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct Sql {
    sql: String,
    #[serde(default)]
    execute: bool,
    /// Parameters: JSON null, booleans, integers, floats and strings map to
    /// their SQL values; `{"blob": "<hex>"}` is a blob, `{"zeros": n}` a blob
    /// of `n` zero bytes, `{"random": n}` a blob of `n` random bytes,
    /// `{"text_of": n}` a text of `n` letters.
    #[serde(default)]
    params: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Script {
    statements: Vec<String>,
    /// Statements run one at a time outside any transaction instead.
    #[serde(default)]
    pooled: bool,
}

/// Runs arbitrary SQL: the host must keep it inside this service's namespace.
pub fn run_sql(request: &Request) -> Result<Response, Problem> {
    let sql: Sql = request.json()?;
    let params = sql
        .params
        .iter()
        .map(param)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Problem::new(400, "bad_param", &e))?;
    let result = if sql.execute {
        Db.execute(&sql.sql, &params)
            .map(|n| serde_json::json!({ "changed": n }))
    } else {
        Db.query(&sql.sql, &params)
            .map(|rows| serde_json::json!({ "rows": rows_json(&rows.rows) }))
    };
    Ok(match result {
        Ok(body) => Response::json(200, &body),
        Err(error) => Response::json(
            400,
            &serde_json::json!({ "db_error": format!("{error:?}") }),
        ),
    })
}

/// Runs statements one after the other in one transaction (so on one
/// connection): `SET` and friends then apply to the statements after them.
/// With `pooled`, each runs on its own outside a transaction.
pub fn run_sql_tx(request: &Request) -> Result<Response, Problem> {
    let script: Script = request.json()?;
    let outcome =
        |result: Result<berth_sdk::database::Rows, berth_sdk::database::Error>| match result {
            Ok(rows) => serde_json::json!({ "rows": rows_json(&rows.rows) }),
            Err(error) => serde_json::json!({ "db_error": format!("{error:?}") }),
        };
    let results: Vec<serde_json::Value> = if script.pooled {
        script
            .statements
            .iter()
            .map(|sql| outcome(Db.query(sql, &[])))
            .collect()
    } else {
        let tx = berth_sdk::db::begin().map_err(Problem::from)?;
        let results = script
            .statements
            .iter()
            .map(|sql| outcome(tx.query(sql, &[])))
            .collect();
        drop(tx);
        results
    };
    Ok(Response::json(
        200,
        &serde_json::json!({ "results": results }),
    ))
}

fn param(value: &serde_json::Value) -> Result<Value, String> {
    use serde_json::Value as J;
    Ok(match value {
        J::Null => Value::Null,
        J::Bool(b) => Value::Boolean(*b),
        J::Number(n) => match n.as_i64() {
            Some(i) => Value::Integer(i),
            None => Value::Real(n.as_f64().unwrap_or_default()),
        },
        J::String(s) => Value::Text(s.clone()),
        J::Object(map) => {
            if let Some(hex) = map.get("blob").and_then(J::as_str) {
                Value::Blob(unhex(hex)?)
            } else if let Some(n) = map.get("zeros").and_then(J::as_u64) {
                Value::Blob(vec![0; n as usize])
            } else if let Some(n) = map.get("random").and_then(J::as_u64) {
                Value::Blob(random_bytes(n as usize))
            } else if let Some(n) = map.get("text_of").and_then(J::as_u64) {
                Value::Text("x".repeat(n as usize))
            } else {
                return Err(format!("unknown parameter {value}"));
            }
        }
        J::Array(_) => return Err(format!("unknown parameter {value}")),
    })
}

/// Bytes no database compresses (xorshift, seeded from the clock).
fn random_bytes(n: usize) -> Vec<u8> {
    let mut x = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0x9E37_79B9_7F4A_7C15, |d| d.as_nanos() as u64)
        | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

fn unhex(text: &str) -> Result<Vec<u8>, String> {
    if !text.len().is_multiple_of(2) {
        return Err("odd hex length".into());
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).map_err(|e| e.to_string()))
        .collect()
}

fn rows_json(rows: &[Vec<Value>]) -> Vec<Vec<serde_json::Value>> {
    rows.iter()
        .map(|row| row.iter().map(json_value).collect())
        .collect()
}

/// Blobs come back as `{"blob": "<hex>"}` (up to 64 bytes) or
/// `{"blob_len": n}`, so that a test can hand a returned blob back.
fn json_value(value: &Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Integer(i) => (*i).into(),
        Value::Real(r) => (*r).into(),
        Value::Text(t) => t.clone().into(),
        Value::Blob(b) if b.len() <= 64 => {
            let hex: String = b.iter().map(|byte| format!("{byte:02x}")).collect();
            serde_json::json!({ "blob": hex })
        }
        Value::Blob(b) => serde_json::json!({ "blob_len": b.len() }),
        Value::Boolean(b) => (*b).into(),
    }
}

pub fn sql_flood(_: &Request) -> Result<Response, Problem> {
    let mut ran = 0u64;
    let error = loop {
        match Db.query("SELECT 1", &[]) {
            Ok(_) => ran += 1,
            Err(error) => break error,
        }
    };
    Ok(Response::json(
        200,
        &serde_json::json!({ "ran": ran, "error": format!("{error:?}") }),
    ))
}

pub fn slow_sql(_: &Request) -> Result<Response, Problem> {
    let result = Db.query(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
        &[],
    );
    Ok(Response::json(
        200,
        &serde_json::json!({ "result": format!("{result:?}") }),
    ))
}

pub fn big_query(_: &Request) -> Result<Response, Problem> {
    let sql = match berth_sdk::db::current_dialect() {
        Dialect::Sqlite => {
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 1000000) SELECT x FROM c"
        }
        Dialect::Postgres => "SELECT x FROM generate_series(1, 1000000) AS x",
    };
    let summary = match Db.query(sql, &[]) {
        Ok(rows) => format!("Ok({} rows)", rows.rows.len()),
        Err(error) => format!("{error:?}"),
    };
    Ok(Response::json(
        200,
        &serde_json::json!({ "result": summary }),
    ))
}

/// Sends the same large parameter list with every statement: each call
/// copies it into the host, which must bound what one call may carry.
pub fn param_flood(request: &Request) -> Result<Response, Problem> {
    let count: usize = request
        .query_param("count")
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let params: Vec<Value> = (0..count).map(|i| Value::Integer(i as i64)).collect();
    let mut calls = 0u32;
    let mut last = String::new();
    for _ in 0..50 {
        match Db.query("SELECT 1", &params) {
            Ok(_) => calls += 1,
            Err(error) => last = format!("{error:?}"),
        }
    }
    Ok(Response::json(
        200,
        &serde_json::json!({ "calls": calls, "error": last }),
    ))
}
