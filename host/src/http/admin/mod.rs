//! The admin API under `/admin`, present only when an admin token is set:
//! list services, deploy a component body, roll back, undeploy, history,
//! live logs. Every call needs `Authorization: Bearer <token>`, compared in
//! constant time: never a cookie, so that another site cannot make a
//! browser act on it. The admin token reaches every tenant; a tenant's
//! operator token (`[tenants.<t>] admin_token`) reaches that tenant's
//! services, history and logs alone (see [`Operator::may`]). No answer may be framed, sniffed or cached. Deploys
//! go through the one deploy pipeline and return once the version serves.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Extension, Path, Query, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use http::{HeaderValue, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;

mod auth;
mod logs;
mod views;

pub use auth::{Operator, Tokens};

use views::{ServiceView, views};

use super::AppState;
use super::error::ApiError;
use crate::config::names::{DEFAULT_TENANT, validate_service_name};
use crate::registry::{DeployError, DeployRequest, Source};
use crate::rollout::PlanRequest;

/// History entries returned when no `limit` is given, and at most.
const HISTORY_DEFAULT: i64 = 20;
const HISTORY_MAX: i64 = 500;

pub fn router(expected: Arc<Tokens>, max_component_bytes: usize) -> Router<AppState> {
    Router::new()
        .route("/services", get(list))
        .route("/services/{name}", get(show).put(deploy).delete(undeploy))
        .route("/services/{name}/rollback", post(rollback))
        .route("/services/{name}/promote", post(promote))
        .route("/services/{name}/abort", post(abort))
        .route("/services/{name}/history", get(history))
        .route("/services/{name}/logs", get(logs::logs))
        .route("/history", get(history))
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
        .route("/tenants/{tenant}/services/{name}/promote", post(promote))
        .route("/tenants/{tenant}/services/{name}/abort", post(abort))
        .route("/tenants/{tenant}/services/{name}/history", get(history))
        .route("/tenants/{tenant}/services/{name}/logs", get(logs::logs))
        .route("/tenants/{tenant}/history", get(history))
        // Components are far larger than request bodies: both the
        // extractor's own limit and the stream's are the component limit.
        .layer(DefaultBodyLimit::max(max_component_bytes))
        .layer(RequestBodyLimitLayer::new(max_component_bytes))
        .route_layer(axum::middleware::from_fn(
            move |request: Request, next: Next| {
                let expected = expected.clone();
                async move { auth::authorize(&expected, request, next).await }
            },
        ))
        .layer(
            tower::ServiceBuilder::new()
                .layer(fixed(header::X_FRAME_OPTIONS, "DENY"))
                .layer(fixed(
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; frame-ancestors 'none'",
                ))
                .layer(fixed(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                .layer(fixed(header::CACHE_CONTROL, "no-store")),
        )
}

/// A header every admin answer carries, refusals included.
fn fixed(name: header::HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value))
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

/// Deploys the body; with `?canary=PCT` (and the plan's other keys, see
/// `rollout::plan`) as a canary beside the live version.
async fn deploy(
    State(state): State<AppState>,
    path: Option<Path<ServicePath>>,
    Query(query): Query<BTreeMap<String, String>>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let target = path.map(|Path(t)| t).unwrap_or_default();
    let tenant = target.tenant(&state)?;
    let name = target.name().to_string();
    validate_service_name(&name).map_err(ApiError::InvalidName)?;
    let plan = PlanRequest::from_query(&query).map_err(DeployError::InvalidCanary)?;
    if body.is_empty() {
        return Err(ApiError::EmptyBody);
    }
    let request = DeployRequest::new(tenant, Some(&name), Arc::from(body.as_ref()), Source::Api);
    match plan {
        None => {
            let report = state.registry.deploy(request).await?;
            Ok(Json(json!({ "deployed": report })))
        }
        Some(plan) => {
            let report = state.registry.start_canary(request, &plan).await?;
            Ok(Json(json!({ "canary": report, "weight": plan.percent })))
        }
    }
}

async fn promote(
    State(state): State<AppState>,
    path: Option<Path<ServicePath>>,
) -> Result<Json<Value>, ApiError> {
    let target = path.map(|Path(t)| t).unwrap_or_default();
    let tenant = target.tenant(&state)?;
    let report = state.registry.promote(tenant, target.name()).await?;
    Ok(Json(json!({ "promoted": report })))
}

async fn abort(
    State(state): State<AppState>,
    path: Option<Path<ServicePath>>,
) -> Result<Json<Value>, ApiError> {
    let target = path.map(|Path(t)| t).unwrap_or_default();
    let tenant = target.tenant(&state)?;
    let report = state.registry.abort(tenant, target.name()).await?;
    Ok(Json(json!({ "aborted": report })))
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
    // Without a name: every service of the tenant.
    let records = state
        .registry
        .host_db()
        .history(tenant, target.name.as_deref(), limit)
        .await
        .map_err(unavailable)?;
    if records.is_empty() && target.name.is_some() {
        return Err(not_deployed(target.name()));
    }
    Ok(Json(json!({ "history": records })))
}

async fn list_tenants(
    State(state): State<AppState>,
    Extension(operator): Extension<Operator>,
) -> Json<Value> {
    let tenants: Vec<Value> = state
        .registry
        .tenants()
        .into_iter()
        .filter(|(name, _)| operator.sees(name))
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

pub(super) fn unavailable(error: sqlx::Error) -> ApiError {
    tracing::error!(%error, "the host database failed");
    ApiError::Unavailable("the host database is unavailable".into())
}
