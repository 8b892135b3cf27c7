//! Requests to services: route lookup in the live snapshot, the body
//! (bounded in size, time and memory), schema validation (no instance is
//! created for a refused body), admission (see `crate::admission`), a fresh
//! store, `handle(request)`, and the response or error it yields. Every
//! answer is counted, by why when the host gave it.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{Method, StatusCode};

use super::AppState;
use super::body::{RETRY_AFTER, read_body, reserve_body};
use super::error::ApiError;
use super::metrics::{RouteMetrics, unrouted};
use super::response::{build_response, problem_error, wit_method};
use crate::admission::{Gates, RefusedAt};
use crate::bindings;
use crate::capabilities::database::DatabaseCtx;
use crate::capabilities::outbound::OutboundCtx;
use crate::capabilities::settings::SettingsCtx;
use crate::db::namespace::ResultLimits;
use crate::registry::Target;
use crate::routing::Lookup;
use crate::runtime::{CallError, Grants, Invocation, ServiceState};

pub async fn dispatch(State(state): State<AppState>, request: Request) -> Response {
    let started = Instant::now();
    let mut counted_by = Counted::Nobody;
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
    match counted_by {
        Counted::Route(metrics) => metrics.record(status.as_u16(), outcome, elapsed),
        Counted::Tenant(tenant) => unrouted(&tenant).record(status.as_u16(), outcome, elapsed),
        Counted::Nobody => unrouted("").record(status.as_u16(), outcome, elapsed),
    }
    result.into_response()
}

/// Whose metrics count a request, as far as it got.
enum Counted {
    /// No tenant was resolved (labels stay empty: clients choose names).
    Nobody,
    /// A real tenant, no route.
    Tenant(String),
    Route(std::sync::Arc<RouteMetrics>),
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
        .map_err(|e| ApiError::Other {
            status: StatusCode::BAD_REQUEST,
            code: "tenant_required",
            message: e.to_string(),
        })?;
    let span = tracing::Span::current();
    span.record("tenant", tenant_name.as_str());
    let Some(tenant) = snapshot.tenant(&tenant_name) else {
        return Err(ApiError::Other {
            status: StatusCode::NOT_FOUND,
            code: "unknown_tenant",
            message: format!("tenant `{tenant_name}` does not exist"),
        });
    };
    // From here the tenant is a real one: a label of bounded cardinality.
    *counted_by = Counted::Tenant(tenant_name.clone());
    let (target, params) = match tenant.routes.lookup(&parts.method, path) {
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
    *counted_by = Counted::Route(target.metrics.clone());
    span.record("service", target.deployment.name.as_str());
    span.record("route", target.route.path.as_str());

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
    if let Some(schema) = &target.route.request_schema {
        let checked = if schema.is_heavy(body.len()) {
            // Bounded (see `schema_cost`), but long enough not to hold a
            // thread that serves requests.
            let (schema, body) = (schema.clone(), body.clone());
            tokio::task::spawn_blocking(move || schema.check(&body))
                .await
                .map_err(|_| ApiError::Internal)?
        } else {
            schema.check(&body)
        };
        checked.map_err(|invalid| ApiError::Validation {
            field: invalid.field,
            message: invalid.message,
        })?;
    }

    let deployment = &target.deployment;
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
    call(state, &target, &parts, params, body).await
}

async fn call(
    state: &AppState,
    target: &Target,
    parts: &Parts,
    params: Vec<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let deployment = &target.deployment;
    let request = bindings::Request {
        method: wit_method(&parts.method),
        path: parts.uri.path().to_string(),
        route: target.route.template.clone(),
        params,
        query: parts
            .uri
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
        request_id: parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string(),
        tenant: deployment.tenant.clone(),
    };
    let limits = &deployment.limits;
    let store_state = ServiceState::new(Grants {
        service: deployment.name.clone(),
        database: DatabaseCtx::new(
            deployment.namespace.clone(),
            ResultLimits {
                max_rows: limits.max_rows,
                max_bytes: limits.max_result_bytes,
            },
            limits.max_statements,
        ),
        settings: SettingsCtx::new(deployment.settings.clone()),
        outbound: OutboundCtx::new(&deployment.name, deployment.outbound.clone()),
        memory_bytes: limits.memory_bytes,
        hostcall_bytes: crate::runtime::hostcall_bytes(limits.max_result_bytes),
    });
    let outcome = Invocation::new(
        state.registry.runtime(),
        store_state,
        limits.request_timeout,
    )
    .handle(&deployment.pre, &request)
    .await;
    match outcome {
        Ok(Ok(response)) if response.body.len() > limits.max_response_bytes => {
            tracing::error!(service = %deployment.name, bytes = response.body.len(), "service answered more than its response limit");
            Err(ApiError::Other {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                code: "response_too_large",
                message: format!(
                    "the service's response exceeded {} bytes",
                    limits.max_response_bytes
                ),
            })
        }
        Ok(Ok(response)) => build_response(
            response,
            parts.method == Method::HEAD,
            deployment.strip_set_cookie,
        ),
        Ok(Err(problem)) => Err(problem_error(problem)),
        Err(CallError::Timeout(after)) => {
            tracing::warn!(service = %deployment.name, ?after, "service stopped at its deadline");
            Err(ApiError::Timeout(after))
        }
        Err(CallError::Overloaded) => Err(ApiError::Overloaded {
            retry_after: RETRY_AFTER,
        }),
        Err(error @ (CallError::Trap(_) | CallError::Instantiate(_))) => {
            tracing::error!(service = %deployment.name, %error, "service failed");
            Err(ApiError::ServiceFailed)
        }
    }
}
