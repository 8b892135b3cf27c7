//! The HTTP surface: host endpoints, the dispatch of everything else to
//! services, the operator's plane on a listener of its own ([`plane`]), and
//! the layers around them (request id, access log, body limit, error
//! rendering).

mod access;
pub mod admin;
mod body;
mod console;
mod convert;
mod dispatch;
mod docs;
pub mod error;
mod health;
pub mod metrics;
pub mod openapi;
mod page;
pub mod plane;
pub mod server;
mod validate;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::handler::Handler as _;
use axum::routing::{MethodRouter, get};
use tower::ServiceBuilder;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

use crate::config::tenancy::Tenancy;
use crate::db::HostDb;
use crate::registry::Registry;
pub use convert::ClearSiteData;
pub use plane::Plane;

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
    /// Whether `x-berth-version` picks the version a request reaches.
    pub preview: bool,
    /// How much of `Clear-Site-Data` a service may send: it acts on an
    /// origin (or, for cookies, a site) that may be shared with other
    /// tenants or with the operator's plane.
    pub clear_site_data: ClearSiteData,
}

impl AppState {
    /// A budget of `bytes` request-body bytes held at once.
    pub fn body_budget(bytes: usize) -> Arc<tokio::sync::Semaphore> {
        Arc::new(tokio::sync::Semaphore::new((bytes / 1024).max(1)))
    }
}

/// The host's own endpoints on the public listener. With the operator's
/// plane ([`plane`]: the admin API, the console and `/metrics`) they are
/// exactly [`crate::config::names::RESERVED_PATHS`] (a test checks it),
/// which no service may be mounted over, whichever listener serves them.
fn host_routes() -> [(&'static str, MethodRouter<AppState>); 5] {
    [
        ("/healthz", get(health::live)),
        ("/readyz", get(health::ready)),
        ("/openapi.json", get(openapi::document)),
        ("/docs", get(docs::page)),
        ("/docs/{file}", get(docs::file)),
    ]
}

/// The public listener's router: the host's endpoints and every service;
/// with `shared`, the operator's plane beside them (one origin with the
/// services' code: see [`plane`]).
pub fn router(state: AppState, shared: Option<&Plane>) -> Router {
    let max_body_bytes = state.max_body_bytes;
    let mut router = Router::new();
    for (path, route) in host_routes() {
        router = router.route(path, route);
    }
    if let Some(plane) = shared {
        router = router.merge(plane.shared_routes());
    }
    layered(
        router
            .fallback(dispatch::dispatch.layer(RequestBodyLimitLayer::new(max_body_bytes)))
            .with_state(state),
    )
}

/// The layers around every answer of either listener: request id, access
/// log (and the request's span), error rendering.
fn layered(router: Router) -> Router {
    router.layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(axum::middleware::from_fn(access::log))
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(axum::middleware::from_fn(error::render_errors)),
    )
}

#[cfg(test)]
mod tests {
    use crate::config::names::{ADMIN_PREFIX, CONSOLE_PATH, RESERVED_PATHS};

    #[test]
    fn the_reserved_paths_are_what_the_router_serves() {
        // `/docs/{file}` (its assets) lies under `/docs`.
        let mut served: Vec<&str> = super::host_routes()
            .iter()
            .map(|(p, _)| *p)
            .filter(|p| !p.contains('{'))
            .collect();
        served.extend([ADMIN_PREFIX, CONSOLE_PATH, "/metrics"]);
        served.sort_unstable();
        let mut reserved = RESERVED_PATHS.to_vec();
        reserved.sort_unstable();
        assert_eq!(served, reserved);
    }
}
