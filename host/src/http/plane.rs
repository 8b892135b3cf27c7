//! The operator's plane: the admin API, `/console` and `/metrics`, on a
//! listener of its own by default (`admin_listen`), so that no page,
//! script or service worker a service serves shares an origin with them.
//! That listener answers only to IP literals, `localhost` and the names in
//! `admin_hosts` (a DNS-rebinding page gets nothing), and also serves the
//! probes. In `shared` mode the same routes sit on the public listener.
//! With an admin token, `/metrics` needs a token on either: the admin's sees
//! every series, a tenant operator's only its tenant's.

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, header};

use super::admin::{self, Operator, Tokens};
use super::error::ApiError;
use super::{AppState, console, health, metrics};
use crate::config::names::{ADMIN_PREFIX, CONSOLE_PATH};
use crate::config::{AdminHosts, Secret};

/// What the operator's plane is made of.
#[derive(Debug, Clone)]
pub struct Plane {
    /// The admin token; without it there is no admin API and no console.
    pub admin_token: Option<Secret>,
    /// The tenants' operator tokens.
    pub tenant_tokens: Vec<(String, Secret)>,
    /// Largest component a deploy may upload.
    pub max_component_bytes: usize,
    /// Names its own listener answers to, besides IP literals and
    /// `localhost`.
    pub hosts: AdminHosts,
}

impl Plane {
    fn tokens(&self) -> Option<Arc<Tokens>> {
        let admin = self.admin_token.as_ref()?;
        Some(Arc::new(Tokens::new(admin, self.tenant_tokens.clone())))
    }

    /// The plane's routes, to merge into the public router: the admin API
    /// and the console with an admin token, and `/metrics` for a token.
    pub fn shared_routes(&self) -> Router<AppState> {
        let Some(tokens) = self.tokens() else {
            tracing::warn!(
                "the operator's plane shares the public listener and no admin token is set: /metrics is not served"
            );
            return Router::new();
        };
        self.operator_routes(tokens)
    }

    /// The routes of the plane's own listener, under a host name it
    /// answers to: the probes; with an admin token the admin API, the
    /// console and `/metrics` for a token (tenants' operators reach this
    /// listener too, and see only their own series); without one (then no
    /// tenant has a token either) `/metrics` for whoever reaches it.
    pub fn own_router(&self, state: AppState) -> Router {
        let routes = match self.tokens() {
            Some(tokens) => self.operator_routes(tokens),
            None => Router::new().route("/metrics", get(metrics::render)),
        };
        let hosts = self.hosts.clone();
        super::layered(
            routes
                .route("/healthz", get(health::live))
                .route("/readyz", get(health::ready))
                .fallback(not_found)
                .with_state(state)
                .layer(axum::middleware::from_fn(
                    move |request: Request, next: Next| {
                        let hosts = hosts.clone();
                        async move { only_own_hosts(&hosts, request, next).await }
                    },
                )),
        )
    }

    /// The admin API, the console, and `/metrics` for a token.
    fn operator_routes(&self, tokens: Arc<Tokens>) -> Router<AppState> {
        let for_metrics = tokens.clone();
        Router::new()
            .nest(
                ADMIN_PREFIX,
                admin::router(tokens, self.max_component_bytes),
            )
            .route(CONSOLE_PATH, get(console::page))
            .route("/console/{file}", get(console::file))
            .route(
                "/metrics",
                get(move |request: Request| {
                    let tokens = for_metrics.clone();
                    async move { metrics_for_token(&tokens, &request) }
                }),
            )
    }
}

async fn not_found(request: Request) -> ApiError {
    ApiError::NotFound(request.uri().path().to_string())
}

/// Answers only requests that name the listener by an IP literal,
/// `localhost` or a configured name.
async fn only_own_hosts(hosts: &AdminHosts, request: Request, next: Next) -> Response {
    let named = request
        .uri()
        .authority()
        .map(|a| a.as_str().to_string())
        .or_else(|| {
            request
                .headers()
                .get(header::HOST)
                .map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned())
        });
    match named {
        Some(host) if !hosts.allows(&host) => {
            tracing::warn!(host = %crate::logs::clip_to(&host, 128), "the operator's listener refused a request for a host name it does not answer to");
            ApiError::MisdirectedHost.into_response()
        }
        _ => next.run(request).await,
    }
}

/// `/metrics` beside the services: the admin's token sees every series, a
/// tenant operator's only its tenant's; no token, nothing.
fn metrics_for_token(tokens: &Tokens, request: &Request) -> Response {
    let Some(operator) = tokens.operator(request.headers()) else {
        return ApiError::Unauthorized.into_response();
    };
    let handle = crate::telemetry::metrics::handle();
    handle.run_upkeep();
    let text = match operator {
        Operator::Admin => handle.render(),
        Operator::Tenant(tenant) => crate::telemetry::metrics::of_tenant(&handle.render(), &tenant),
    };
    let mut response = text.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(metrics::CONTENT_TYPE),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
