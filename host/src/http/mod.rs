//! The HTTP surface: host endpoints, the dispatch of everything else to
//! services, and the layers around both (request id, tracing span, body
//! limit, error rendering).

pub mod admin;
mod body;
mod dispatch;
pub mod error;
mod health;
pub mod metrics;
pub mod openapi;
mod response;
pub mod server;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::handler::Handler as _;
use axum::routing::get;
use tower::ServiceBuilder;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::db::HostDb;
use crate::registry::Registry;
use crate::settings::Secret;
use crate::tenancy::Tenancy;

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
    pub host_db: HostDb,
    pub tenancy: Tenancy,
    pub max_body_bytes: usize,
    /// Longest a client may take to send a request body.
    pub body_timeout: Duration,
    /// Request-body bytes that may be held at once, in KiB permits.
    pub body_budget: Arc<tokio::sync::Semaphore>,
}

impl AppState {
    /// A budget of `bytes` request-body bytes held at once.
    pub fn body_budget(bytes: usize) -> Arc<tokio::sync::Semaphore> {
        Arc::new(tokio::sync::Semaphore::new((bytes / 1024).max(1)))
    }
}

pub fn router(state: AppState, admin_token: Option<&Secret>, max_component_bytes: usize) -> Router {
    let max_body_bytes = state.max_body_bytes;
    let mut router = Router::new()
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
        .route("/metrics", get(metrics::render))
        .route("/openapi.json", get(openapi::document))
        .route("/docs", get(openapi::docs));
    if let Some(token) = admin_token {
        router = router.nest("/admin", admin::router(token, max_component_bytes));
    }
    router
        .fallback(dispatch::dispatch.layer(RequestBodyLimitLayer::new(max_body_bytes)))
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(request_span)
                        .on_request(())
                        .on_response(record_response),
                )
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(axum::middleware::from_fn(error::render_errors)),
        )
}

fn request_span(request: &Request) -> Span {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id,
        tenant = tracing::field::Empty,
        service = tracing::field::Empty,
        route = tracing::field::Empty,
        status = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
    )
}

fn record_response<B>(response: &http::Response<B>, latency: Duration, span: &Span) {
    span.record("status", response.status().as_u16());
    span.record("latency_ms", latency.as_secs_f64() * 1000.0);
    tracing::info!(parent: span, status = response.status().as_u16(), latency_ms = latency.as_secs_f64() * 1000.0, "request finished");
}
