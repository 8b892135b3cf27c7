//! Liveness and readiness.

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use serde_json::json;

use super::AppState;
use super::error::ApiError;

/// The process is up and serving HTTP.
pub async fn live() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// The host database answers; the instance can take traffic.
pub async fn ready(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    if !state.host_db.ping().await {
        return Err(ApiError::Unavailable(
            "the database is not reachable".into(),
        ));
    }
    let services = state.registry.snapshot().deployments().count();
    Ok(Json(json!({ "status": "ready", "services": services })))
}
