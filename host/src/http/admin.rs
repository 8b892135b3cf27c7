//! The admin API under `/admin`, present only when an admin token is set:
//! list services, deploy a component body, roll back, undeploy, history.
//! Every call needs `Authorization: Bearer <token>`, compared in constant
//! time. Deploys go through the one deploy pipeline and return once the
//! version serves.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use http::{StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tower_http::limit::RequestBodyLimitLayer;

use super::AppState;
use super::error::ApiError;
use crate::config::Secret;
use crate::config::names::{DEFAULT_TENANT, validate_service_name};
use crate::db::DeploymentRecord;
use crate::registry::{DeployRequest, Deployment, Source};

/// History entries returned when no `limit` is given, and at most.
const HISTORY_DEFAULT: i64 = 20;
const HISTORY_MAX: i64 = 500;

pub fn router(token: &Secret, max_component_bytes: usize) -> Router<AppState> {
    let expected: Arc<[u8; 32]> = Arc::new(Sha256::digest(token.expose().as_bytes()).into());
    Router::new()
        .route("/services", get(list))
        .route("/services/{name}", get(show).put(deploy).delete(undeploy))
        .route("/services/{name}/rollback", post(rollback))
        .route("/services/{name}/history", get(history))
        .route("/tenants", get(list_tenants))
        .route(
            "/tenants/{tenant}",
            put(create_tenant).delete(delete_tenant),
        )
        .route("/tenants/{tenant}/services", get(list))
        .route(
            "/tenants/{tenant}/services/{name}",
            get(show).put(deploy).delete(undeploy),
        )
        .route("/tenants/{tenant}/services/{name}/rollback", post(rollback))
        .route("/tenants/{tenant}/services/{name}/history", get(history))
        // Components are far larger than request bodies: both the
        // extractor's own limit and the stream's are the component limit.
        .layer(DefaultBodyLimit::max(max_component_bytes))
        .layer(RequestBodyLimitLayer::new(max_component_bytes))
        .route_layer(axum::middleware::from_fn(
            move |request: Request, next: Next| {
                let expected = expected.clone();
                async move { authorize(&expected, request, next).await }
            },
        ))
}

async fn authorize(expected: &[u8; 32], request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|token| Sha256::digest(token.trim().as_bytes()));
    // Comparing digests keeps both the time and the length of the
    // comparison independent of the token.
    match presented {
        Some(digest) if bool::from(digest.as_slice().ct_eq(expected)) => next.run(request).await,
        _ => ApiError::Unauthorized.into_response(),
    }
}

/// A service as the admin API shows it.
#[derive(Debug, Serialize)]
struct ServiceView {
    tenant: String,
    name: String,
    state: &'static str,
    /// `berth-service` or `wasi-http-proxy`.
    kind: Option<&'static str>,
    version: Option<String>,
    digest: Option<String>,
    source: Option<String>,
    loaded_at: Option<String>,
    prefix: Option<String>,
    routes: Vec<String>,
    /// Its warm instances, when it reuses them.
    #[serde(skip_serializing_if = "Option::is_none")]
    reuse: Option<Value>,
    last_error: Option<Value>,
}

fn live_view(deployment: &Deployment) -> ServiceView {
    ServiceView {
        tenant: deployment.tenant.clone(),
        name: deployment.name.clone(),
        state: "live",
        kind: Some(deployment.entry.kind()),
        version: Some(deployment.version.clone()),
        digest: Some(deployment.digest.clone()),
        source: Some(deployment.source.record()),
        loaded_at: Some(humantime::format_rfc3339_millis(deployment.loaded_at).to_string()),
        prefix: Some(deployment.prefix.clone()),
        routes: deployment
            .routes
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect(),
        reuse: deployment.warm.as_ref().map(|pool| {
            json!({
                "max_idle": pool.max_idle(),
                "idle": pool.idle(),
                "warm_requests": pool.warm_requests(),
            })
        }),
        last_error: None,
    }
}

fn error_view(failure: &DeploymentRecord) -> Value {
    json!({
        "message": failure.error,
        "digest": failure.digest,
        "source": failure.source,
        "at": failure.created_at,
    })
}

async fn views(state: &AppState) -> Result<Vec<ServiceView>, ApiError> {
    let snapshot = state.registry.snapshot();
    let mut views: BTreeMap<(String, String), ServiceView> = snapshot
        .deployments()
        .map(|d| ((d.tenant.clone(), d.name.clone()), live_view(d)))
        .collect();
    let failures = state
        .registry
        .host_db()
        .recent_failures()
        .await
        .map_err(unavailable)?;
    for failure in failures {
        let key = (failure.tenant.clone(), failure.service.clone());
        let view = views.entry(key).or_insert_with(|| ServiceView {
            tenant: failure.tenant.clone(),
            name: failure.service.clone(),
            state: "failed",
            kind: None,
            version: None,
            digest: None,
            source: None,
            loaded_at: None,
            prefix: None,
            routes: Vec::new(),
            reuse: None,
            last_error: None,
        });
        view.last_error = Some(error_view(&failure));
    }
    Ok(views.into_values().collect())
}

/// The path parameters of a service route: `{name}` and, outside the
/// default tenant, `{tenant}`.
#[derive(Debug, Default, Deserialize)]
struct ServicePath {
    tenant: Option<String>,
    name: Option<String>,
}

impl ServicePath {
    fn name(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }

    /// The tenant, which must exist.
    fn tenant(&self, state: &AppState) -> Result<&str, ApiError> {
        let tenant = self.tenant.as_deref().unwrap_or(DEFAULT_TENANT);
        if state.registry.has_tenant(tenant) {
            Ok(tenant)
        } else {
            Err(ApiError::UnknownTenant(tenant.to_string()))
        }
    }
}

async fn list(
    State(state): State<AppState>,
    path: Option<Path<ServicePath>>,
) -> Result<Json<Value>, ApiError> {
    let target = path.map(|Path(t)| t).unwrap_or_default();
    let tenant = target.tenant(&state)?;
    let services: Vec<ServiceView> = views(&state)
        .await?
        .into_iter()
        .filter(|v| v.tenant == tenant)
        .collect();
    Ok(Json(json!({ "tenant": tenant, "services": services })))
}

async fn show(
    State(state): State<AppState>,
    path: Option<Path<ServicePath>>,
) -> Result<Json<ServiceView>, ApiError> {
    let target = path.map(|Path(t)| t).unwrap_or_default();
    let tenant = target.tenant(&state)?;
    views(&state)
        .await?
        .into_iter()
        .find(|v| v.tenant == tenant && v.name == target.name())
        .map(Json)
        .ok_or_else(|| not_deployed(target.name()))
}

async fn deploy(
    State(state): State<AppState>,
    path: Option<Path<ServicePath>>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let target = path.map(|Path(t)| t).unwrap_or_default();
    let tenant = target.tenant(&state)?;
    let name = target.name().to_string();
    validate_service_name(&name).map_err(ApiError::InvalidName)?;
    if body.is_empty() {
        return Err(ApiError::EmptyBody);
    }
    let request = DeployRequest::new(tenant, Some(&name), Arc::from(body.as_ref()), Source::Api);
    let report = state.registry.deploy(request).await?;
    Ok(Json(json!({ "deployed": report })))
}

async fn rollback(
    State(state): State<AppState>,
    path: Option<Path<ServicePath>>,
) -> Result<Json<Value>, ApiError> {
    let target = path.map(|Path(t)| t).unwrap_or_default();
    let tenant = target.tenant(&state)?;
    let report = state.registry.rollback(tenant, target.name()).await?;
    Ok(Json(json!({ "deployed": report })))
}

async fn undeploy(
    State(state): State<AppState>,
    path: Option<Path<ServicePath>>,
) -> Result<StatusCode, ApiError> {
    let target = path.map(|Path(t)| t).unwrap_or_default();
    let tenant = target.tenant(&state)?;
    state
        .registry
        .undeploy(tenant, target.name(), Source::Api)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
struct HistoryQuery {
    limit: Option<i64>,
}

async fn history(
    State(state): State<AppState>,
    path: Option<Path<ServicePath>>,
    Query(query): Query<HistoryQuery>,
) -> Result<Json<Value>, ApiError> {
    let target = path.map(|Path(t)| t).unwrap_or_default();
    let tenant = target.tenant(&state)?;
    let limit = query.limit.unwrap_or(HISTORY_DEFAULT).clamp(1, HISTORY_MAX);
    let records = state
        .registry
        .host_db()
        .history(tenant, target.name(), limit)
        .await
        .map_err(unavailable)?;
    if records.is_empty() {
        return Err(not_deployed(target.name()));
    }
    Ok(Json(json!({ "history": records })))
}

async fn list_tenants(State(state): State<AppState>) -> Json<Value> {
    let tenants: Vec<Value> = state
        .registry
        .tenants()
        .into_iter()
        .map(|(name, services)| json!({ "name": name, "services": services }))
        .collect();
    Json(json!({ "tenants": tenants }))
}

async fn create_tenant(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Response, ApiError> {
    let created = state.registry.create_tenant(&tenant).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(json!({ "tenant": tenant, "created": created })),
    )
        .into_response())
}

async fn delete_tenant(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.registry.delete_tenant(&tenant).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn not_deployed(name: &str) -> ApiError {
    ApiError::UnknownService(name.to_string())
}

fn unavailable(error: sqlx::Error) -> ApiError {
    tracing::error!(%error, "the host database failed");
    ApiError::Unavailable("the host database is unavailable".into())
}
