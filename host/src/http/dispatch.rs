//! Requests to services: route lookup in the live snapshot, the body
//! (bounded in size, time and memory), schema validation (no instance is
//! created for a refused body), admission (see `crate::admission`), a fresh
//! store (or a warm one), `handle(request)`, and the response or error it yields. Every
//! answer is counted, by why when the host gave it, and every answer of a
//! routed request is a line of its service's live log.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{Method, StatusCode};

use super::AppState;
use super::access::Served;
use super::body::{RETRY_AFTER, read_body, reserve_body};
use super::convert::{
    Dropped, Fields, build_response, problem_error, proxy_request, proxy_response, wit_request,
};
use super::error::ApiError;
use super::validate::validate;
use crate::admission::{Gates, RefusedAt};
use crate::capabilities::log::clip_to;
use crate::logs::{Level, Origin, ServiceLog};
use crate::registry::{Deployment, RouteSpec, Target};
use crate::rollout::{self, Side, Watch};
use crate::routing::Lookup;
use crate::runtime::{CallError, Entry, Invocation};
use crate::telemetry::metrics::{RouteMetrics, unrouted};

pub async fn dispatch(State(state): State<AppState>, request: Request) -> Response {
    let started = Instant::now();
    let mut counted_by = Counted::Nobody;
    let asked = Asked::of(&request);
    let result = route(&state, request, &mut counted_by).await;
    let (status, outcome) = match &result {
        Ok(response) => (response.status(), "served"),
        Err(ApiError::Service(problem)) => (
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "served",
        ),
        Err(error) => (error.status(), error.outcome()),
    };
    let elapsed = started.elapsed();
    let mut served = None;
    match counted_by {
        Counted::Route {
            metrics,
            deployment,
            route,
            watch,
            judged,
        } => {
            metrics.record(status.as_u16(), outcome, elapsed);
            deployment.stats.record(status.as_u16(), elapsed);
            asked.log(&deployment.grants.log, status, outcome, elapsed);
            // A canary and its live version are judged on their own time:
            // from the call, not the client's upload or the queue.
            if let (Some((watch, side)), Some(called)) = (&watch, judged)
                && rollout::answerable(outcome)
            {
                watch.record(*side, status.as_u16(), called.elapsed());
            }
            served = Some(Served { deployment, route });
        }
        Counted::Tenant(tenant) => unrouted(&tenant).record(status.as_u16(), outcome, elapsed),
        Counted::Nobody => unrouted("").record(status.as_u16(), outcome, elapsed),
    }
    let mut response = result.into_response();
    if let Some(served) = served {
        response.extensions_mut().insert(served);
    }
    response
}

/// Whose metrics count a request, as far as it got.
enum Counted {
    /// No tenant was resolved (labels stay empty: clients choose names).
    Nobody,
    /// A real tenant, no route.
    Tenant(String),
    /// A route of a version; `judged` is when its call started, for the
    /// canary windows (none for a refusal before the call, or a preview).
    Route {
        metrics: Arc<RouteMetrics>,
        deployment: Arc<Deployment>,
        route: Arc<RouteSpec>,
        watch: Option<(Arc<Watch>, Side)>,
        judged: Option<Instant>,
    },
}

async fn route(
    state: &AppState,
    request: Request,
    counted_by: &mut Counted,
) -> Result<Response, ApiError> {
    let snapshot = state.registry.snapshot();
    let (parts, body) = request.into_parts();
    let (tenant_name, path) = state
        .tenancy
        .resolve(
            &parts.headers,
            parts.uri.authority().map(|a| a.as_str()),
            parts.uri.path(),
        )
        .map_err(ApiError::TenantRequired)?;
    let span = tracing::Span::current();
    span.record("tenant", tenant_name.as_str());
    let Some(tenant) = snapshot.tenant(&tenant_name) else {
        return Err(ApiError::UnknownTenant(tenant_name));
    };
    // From here the tenant is a real one: a label of bounded cardinality.
    *counted_by = Counted::Tenant(tenant_name.clone());
    let (found, previewed) = tenant.lookup(&parts.method, path, &parts.headers, state.preview)?;
    let (target, params) = match found {
        Lookup::Found { target, params } => (target.clone(), params),
        Lookup::MethodNotAllowed { allowed } => {
            return Err(ApiError::MethodNotAllowed {
                method: parts.method.clone(),
                allowed,
            });
        }
        Lookup::NotFound => return Err(ApiError::NotFound(parts.uri.path().to_string())),
    };
    drop(snapshot);
    let refused = service_worker_refused(&parts.headers, &target.deployment, path);
    *counted_by = Counted::Route {
        metrics: target.metrics.clone(),
        deployment: target.deployment.clone(),
        route: target.route.clone(),
        watch: target.watch.clone(),
        judged: None,
    };
    span.record("service", target.deployment.name.as_str());
    span.record("route", target.route.path.as_str());
    if let Some(refused) = refused {
        return Err(refused);
    }

    // The body first, whole and in time: a slow client holds no slot of
    // the service while it sends. What all requests hold in bodies at once
    // is bounded too (its size, or the limit when it is not announced).
    let announced = axum::body::HttpBody::size_hint(&body).exact();
    let _buffered = reserve_body(state, announced).await?;
    let body = if announced == Some(0) {
        Bytes::new()
    } else {
        read_body(body, state.max_body_bytes, state.body_timeout).await?
    };
    let query: Fields = parts
        .uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let deployment = &target.deployment;
    let queue_timeout = deployment.limits.queue_timeout;
    validate(
        &target.route,
        &tenant_name,
        (&params, &query),
        &body,
        queue_timeout,
    )
    .await?;

    let gates = Gates {
        service: &deployment.service_gate,
        tenant: &deployment.tenant_gate,
        instances: state.registry.instance_gate(),
        metrics: &deployment.queue_metrics,
    };
    let _admitted = gates
        .admit(deployment.limits.queue_timeout)
        .await
        .map_err(|refused| match refused {
            RefusedAt::Tenant(_) => ApiError::TenantQuota {
                tenant: tenant_name.clone(),
                retry_after: RETRY_AFTER,
            },
            RefusedAt::Service(_) | RefusedAt::Instances(_) => ApiError::Overloaded {
                retry_after: RETRY_AFTER,
            },
        })?;
    if let Counted::Route { judged, .. } = counted_by
        && !previewed
    {
        *judged = Some(Instant::now());
    }
    call(state, &target, &parts, (path, params, query), body).await
}

async fn call(
    state: &AppState,
    target: &Target,
    parts: &Parts,
    (path, params, query): (&str, Fields, Fields),
    body: Bytes,
) -> Result<Response, ApiError> {
    let deployment = &target.deployment;
    let runtime = state.registry.runtime();
    let max_response_bytes = deployment.limits.max_response_bytes;
    let head = parts.method == Method::HEAD;
    let strip = Dropped {
        set_cookie: deployment.strip_set_cookie,
        clear_site_data: state.clear_site_data,
    };
    // A full pool with warm instances idle in it: they never cost a request
    // its instance, so they go and the call is tried once more.
    let retry =
        |error: &CallError| matches!(error, CallError::Overloaded) && runtime.evict_idle() > 0;
    let failure = match &deployment.entry {
        Entry::Service(pre) => {
            let template = &target.route.template;
            let request = wit_request(parts, template, (params, query), &body, &deployment.tenant);
            drop(body);
            let grants = &deployment.grants;
            let id = &request.request_id;
            let mut result = Invocation::with_pool(runtime, grants, deployment.warm.as_ref())
                .for_request(id)
                .handle(pre, &request)
                .await;
            if result.as_ref().is_err_and(retry) {
                result = Invocation::new(runtime, grants)
                    .for_request(id)
                    .handle(pre, &request)
                    .await;
            }
            match result {
                Ok(Ok(response)) if response.body.len() > max_response_bytes => {
                    CallError::ResponseTooLarge(max_response_bytes)
                }
                Ok(Ok(response)) => return build_response(response, head, strip),
                Ok(Err(problem)) => return Err(problem_error(problem)),
                Err(error) => error,
            }
        }
        Entry::Proxy(pre) => {
            let call = |body| {
                let request = proxy_request(parts, &deployment.prefix, path, body);
                Invocation::new(runtime, &deployment.grants)
                    .for_request(request_id(&parts.headers))
                    .handle_http(pre, request, max_response_bytes)
            };
            let mut result = call(body.clone()).await;
            if result.as_ref().is_err_and(retry) {
                result = call(body).await;
            }
            match result {
                Ok(response) => return proxy_response(response, head, strip),
                Err(error) => error,
            }
        }
    };
    let service = &deployment.name;
    let host_line = |message: String| {
        let id = request_id(&parts.headers);
        let id = (!id.is_empty()).then_some(id);
        deployment
            .grants
            .log
            .push(Level::Error, Origin::Host, message, String::new(), id);
    };
    Err(match failure {
        CallError::Timeout(after) => {
            tracing::warn!(%service, request_id = request_id(&parts.headers), ?after, "service stopped at its deadline");
            host_line(format!("stopped at its deadline ({after:?})"));
            ApiError::Timeout(after)
        }
        CallError::Overloaded => ApiError::Overloaded {
            retry_after: RETRY_AFTER,
        },
        CallError::ResponseTooLarge(limit) => {
            tracing::error!(%service, request_id = request_id(&parts.headers), limit, "service answered more than its response limit");
            host_line(format!(
                "answered more than its response limit of {limit} bytes"
            ));
            ApiError::ResponseTooLarge { limit }
        }
        error @ (CallError::Trap(_) | CallError::Instantiate(_) | CallError::NoResponse(_)) => {
            tracing::error!(%service, request_id = request_id(&parts.headers), %error, "service failed");
            host_line(clip_to(&error.to_string(), 4096));
            ApiError::ServiceFailed
        }
    })
}

/// A browser fetching a service worker's script says so
/// (`Service-Worker: script`); a worker controls every page of its origin
/// under its scope, at most the directory of its script. Such a request is
/// refused unless the deployment allows service workers, and then unless
/// the script lies below the service's mount point (`/evil/sw.js`, never
/// `/evil`, whose directory is `/`; never anything of a service mounted at
/// `/`): one service's worker never controls another's pages, nor,
/// sharing the listener, the console.
fn service_worker_refused(
    headers: &http::HeaderMap,
    deployment: &Deployment,
    path: &str,
) -> Option<ApiError> {
    headers.get("service-worker")?;
    // A service mounted at `/` has no directory of its own to scope to.
    let mount = deployment.prefix.trim_end_matches('/');
    let below_mount = !mount.is_empty()
        && path
            .strip_prefix(mount)
            .is_some_and(|rest| rest.starts_with('/'));
    if deployment.allow_service_workers && below_mount {
        return None;
    }
    tracing::warn!(service = %deployment.name, "refused a service worker script");
    Some(ApiError::ServiceWorkerRefused)
}

fn request_id(headers: &http::HeaderMap) -> &str {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// What a request asked for, as its log line tells it: method, path (not
/// the query, which may carry secrets) and request id, bounded.
struct Asked {
    method: Method,
    path: String,
    request_id: String,
}

impl Asked {
    fn of(request: &Request) -> Asked {
        Asked {
            method: request.method().clone(),
            path: clip_to(request.uri().path(), 256),
            request_id: clip_to(request_id(request.headers()), 64),
        }
    }

    fn log(
        self,
        log: &ServiceLog,
        status: StatusCode,
        outcome: &str,
        elapsed: std::time::Duration,
    ) {
        let level = match status.as_u16() {
            500.. => Level::Error,
            400..500 => Level::Warn,
            _ => Level::Info,
        };
        let message = format!(
            "{} {} {} in {:.1} ms",
            self.method,
            self.path,
            status.as_u16(),
            elapsed.as_secs_f64() * 1000.0
        );
        let fields = if outcome == "served" {
            String::new()
        } else {
            format!("outcome={outcome}")
        };
        let id = (!self.request_id.is_empty()).then_some(self.request_id.as_str());
        log.push(level, Origin::Request, message, fields, id);
    }
}
