//! Routes that show whether an instance outlives its request: with instance
//! reuse on, what one request leaves in a global the next one of the same
//! deployment may see; the host's tests check it never goes further.

use std::sync::Mutex;

use berth_sdk::database::Transaction;
use berth_sdk::{Problem, Request, Response};

/// What `/remember` was last told, in this instance.
static REMEMBERED: Mutex<Option<String>> = Mutex::new(None);
/// A transaction kept past the end of its request.
static KEPT: Mutex<Option<Transaction>> = Mutex::new(None);
/// Requests this instance has served through these routes.
static SERVED: Mutex<u64> = Mutex::new(0);

fn count() -> u64 {
    let mut served = SERVED.lock().unwrap();
    *served += 1;
    *served
}

/// Keeps `?value=` in a global.
pub fn remember(request: &Request) -> Result<Response, Problem> {
    let value = request.query_param("value").unwrap_or_default().to_string();
    *REMEMBERED.lock().unwrap() = Some(value);
    Ok(Response::json(
        200,
        &serde_json::json!({ "served": count() }),
    ))
}

/// What the global holds: `null` in a fresh instance.
pub fn recall(_: &Request) -> Result<Response, Problem> {
    let value = REMEMBERED.lock().unwrap().clone();
    Ok(Response::json(
        200,
        &serde_json::json!({ "value": value, "served": count() }),
    ))
}

/// Begins a transaction and keeps it in a global when the request ends.
pub fn keep_transaction(_: &Request) -> Result<Response, Problem> {
    let tx = berth_sdk::db::begin().map_err(Problem::from)?;
    *KEPT.lock().unwrap() = Some(tx);
    Ok(Response::json(
        200,
        &serde_json::json!({ "served": count() }),
    ))
}
