//! The access log: one line per answer of either listener, at `info`, with
//! what was asked (method, path, request id), who answered it (tenant,
//! service and route, for a service's answer), the status and the time it
//! took. It is formatted once, when the answer is ready, and not at all
//! when `info` is off. The request runs in a `debug` span with the same
//! fields, which lines its handling writes at `debug` carry.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument as _;

use crate::registry::{Deployment, RouteSpec};

/// Which service's route answered: put in the response's extensions by the
/// dispatch, read by the access line.
#[derive(Clone)]
pub struct Served {
    pub deployment: Arc<Deployment>,
    pub route: Arc<RouteSpec>,
}

pub async fn log(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let span = tracing::debug_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = request_id(&request),
        tenant = tracing::field::Empty,
        service = tracing::field::Empty,
        route = tracing::field::Empty,
    );
    if !tracing::enabled!(tracing::Level::INFO) {
        return next.run(request).instrument(span).await;
    }
    let method = request.method().clone();
    let uri = request.uri().clone();
    let id = request.headers().get("x-request-id").cloned();
    let response = next.run(request).instrument(span).await;
    let latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    let (tenant, service, route) = response
        .extensions()
        .get::<Served>()
        .map(|served| {
            (
                served.deployment.tenant.as_str(),
                served.deployment.name.as_str(),
                served.route.path.as_str(),
            )
        })
        .unwrap_or_default();
    tracing::info!(
        method = %method,
        path = %uri.path(),
        request_id = id.as_ref().and_then(|v| v.to_str().ok()).unwrap_or_default(),
        tenant,
        service,
        route,
        status = response.status().as_u16(),
        latency_us,
        "request finished"
    );
    response
}

fn request_id(request: &Request) -> &str {
    request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}
