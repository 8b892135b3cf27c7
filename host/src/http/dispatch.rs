//! Requests to services: route lookup in the live snapshot, body limit,
//! schema validation (no instance is created for a refused body), a fresh
//! store, `handle(request)`, and the response or error it yields.

use std::error::Error as _;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::response::Response;
use http::request::Parts;
use http::{HeaderName, HeaderValue, Method, StatusCode, header};

use super::AppState;
use super::error::ApiError;
use crate::bindings::{self, Problem};
use crate::capabilities::database::DatabaseCtx;
use crate::capabilities::outbound::OutboundCtx;
use crate::capabilities::settings::SettingsCtx;
use crate::db::namespace::ResultLimits;
use crate::registry::Target;
use crate::routing::Lookup;
use crate::runtime::{CallError, Grants, Invocation, ServiceState};

/// How long a client is asked to wait when instances are exhausted.
const RETRY_AFTER: Duration = Duration::from_secs(1);

pub async fn dispatch(
    State(state): State<AppState>,
    request: Request,
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
    span.record("service", target.deployment.name.as_str());
    span.record("route", target.route.path.as_str());

    // The body first, whole and in time: a slow client holds no slot of
    // the service while it sends. What all requests hold in bodies at once
    // is bounded too (its size, or the limit when it is not announced).
    let announced = axum::body::HttpBody::size_hint(&body).exact();
    let _buffered = reserve_body(&state, announced).await?;
    let body = read_body(body, state.max_body_bytes, state.body_timeout).await?;
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

    let _tenant_slot = target
        .deployment
        .tenant_slots
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::TenantQuota {
            tenant: tenant_name.clone(),
            retry_after: RETRY_AFTER,
        })?;
    let _service_slot = target
        .deployment
        .service_slots
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::Overloaded {
            retry_after: RETRY_AFTER,
        })?;

    let started = Instant::now();
    let result = call(&state, &target, &parts, params, body).await;
    let status = match &result {
        Ok(response) => response.status(),
        Err(error) => error.status(),
    };
    target.metrics.record(status.as_u16(), started.elapsed());
    result
}

/// A share of the body budget for a body of the `announced` size, waited
/// for up to the body timeout; none for a request without a body.
async fn reserve_body(
    state: &AppState,
    announced: Option<u64>,
) -> Result<Option<tokio::sync::OwnedSemaphorePermit>, ApiError> {
    if announced == Some(0) {
        return Ok(None);
    }
    let bytes = announced.map_or(state.max_body_bytes as u64, |n| {
        n.min(state.max_body_bytes as u64)
    });
    let permits = u32::try_from(bytes.div_ceil(1024).max(1)).unwrap_or(u32::MAX);
    let permit = tokio::time::timeout(
        state.body_timeout,
        state.body_budget.clone().acquire_many_owned(permits),
    )
    .await
    .map_err(|_| ApiError::Overloaded {
        retry_after: RETRY_AFTER,
    })?
    .map_err(|_| ApiError::Internal)?;
    Ok(Some(permit))
}

async fn read_body(body: Body, limit: usize, timeout: Duration) -> Result<Bytes, ApiError> {
    let read = tokio::time::timeout(timeout, axum::body::to_bytes(body, usize::MAX))
        .await
        .map_err(|_| ApiError::RequestTimeout(timeout))?;
    read.map_err(|error| {
        let mut source = error.source();
        let mut too_large = false;
        while let Some(cause) = source {
            too_large |= cause.is::<http_body_util::LengthLimitError>();
            source = cause.source();
        }
        if too_large {
            ApiError::PayloadTooLarge { limit }
        } else {
            ApiError::BadRequest(error.to_string())
        }
    })
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

fn problem_error(problem: Problem) -> ApiError {
    if !(400..=599).contains(&problem.status) {
        tracing::error!(
            status = problem.status,
            "service returned a problem with a non-error status"
        );
    }
    ApiError::Service(problem)
}

/// Headers the host owns: framing is computed from the body it sends.
const HOST_HEADERS: &[HeaderName] = &[
    header::CONTENT_LENGTH,
    header::TRANSFER_ENCODING,
    header::CONNECTION,
    header::UPGRADE,
];

fn build_response(
    response: bindings::Response,
    head: bool,
    strip_set_cookie: bool,
) -> Result<Response, ApiError> {
    let status = StatusCode::from_u16(response.status).map_err(|_| {
        tracing::error!(
            status = response.status,
            "service answered an invalid status"
        );
        ApiError::ServiceFailed
    })?;
    let mut builder = http::Response::builder().status(status);
    for (name, value) in &response.headers {
        let name = HeaderName::from_bytes(name.as_bytes());
        let value = HeaderValue::from_str(value);
        match (name, value) {
            (Ok(name), Ok(_)) if strip_set_cookie && name == header::SET_COOKIE => {}
            (Ok(name), Ok(value)) if !HOST_HEADERS.contains(&name) => {
                builder = builder.header(name, value);
            }
            (Ok(_), Ok(_)) => {}
            _ => {
                tracing::error!("service answered an invalid header");
                return Err(ApiError::ServiceFailed);
            }
        }
    }
    let body = if head {
        Body::empty()
    } else {
        Body::from(response.body)
    };
    builder.body(body).map_err(|_| ApiError::ServiceFailed)
}

fn wit_method(method: &Method) -> bindings::Method {
    match *method {
        Method::GET => bindings::Method::Get,
        Method::HEAD => bindings::Method::Get,
        Method::POST => bindings::Method::Post,
        Method::PUT => bindings::Method::Put,
        Method::PATCH => bindings::Method::Patch,
        Method::DELETE => bindings::Method::Delete,
        Method::OPTIONS => bindings::Method::Options,
        ref other => bindings::Method::Other(other.as_str().to_string()),
    }
}
