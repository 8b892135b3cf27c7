//! The one error type of the HTTP boundary and the standard error body
//! `{"error": {"code", "message", "request_id"}}`. Handlers return
//! [`ApiError`]; [`render_errors`] writes the body once the request id is
//! known, and also turns errors produced by layers (413 from the body limit,
//! and so on) into the same shape. Internal details are logged, never sent.

use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method, StatusCode, header};

use crate::bindings::Problem;
use crate::config::tenancy::NoTenant;
use crate::registry::{DeployError, Invalid, NoSuchVersion};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no route matches {0}")]
    NotFound(String),
    #[error("{method} is not allowed here")]
    MethodNotAllowed {
        method: Method,
        allowed: Vec<Method>,
    },
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// Every problem the host found in the request; never empty.
    #[error("{}", validation_message(.0))]
    Validation(Vec<Invalid>),
    #[error("{}", .0.message)]
    Service(Problem),
    #[error("the service failed while handling the request")]
    ServiceFailed,
    #[error("the service did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the server is busy")]
    Overloaded { retry_after: Duration },
    #[error("tenant `{tenant}` has too many requests in flight; retry shortly")]
    TenantQuota {
        tenant: String,
        retry_after: Duration,
    },
    #[error("{0}")]
    Unavailable(String),
    #[error("the request could not be read: {0}")]
    BadRequest(String),
    #[error("the request body did not arrive within {0:?}")]
    RequestTimeout(Duration),
    #[error("internal error")]
    Internal,
    #[error("a valid bearer token is required")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("this listener answers only to its own host names")]
    MisdirectedHost,
    #[error("this service does not serve service worker scripts")]
    ServiceWorkerRefused,
    #[error("{0}")]
    TenantRequired(#[from] NoTenant),
    #[error("tenant `{0}` does not exist")]
    UnknownTenant(String),
    #[error("service `{0}` is not known")]
    UnknownService(String),
    /// `x-berth-version` named no version that serves the route.
    #[error("{0}")]
    UnknownVersion(#[from] NoSuchVersion),
    #[error("{0}")]
    InvalidName(String),
    #[error("the body must be a WebAssembly component")]
    EmptyBody,
    #[error("the service's response exceeded {limit} bytes")]
    ResponseTooLarge { limit: usize },
    /// A deploy, rollback, undeploy or tenant change that did not happen.
    #[error("{}", deploy_message(.0))]
    Deploy(#[from] DeployError),
}

/// What a client is told of a refused change: everything but the host's
/// own failures, which are logged instead.
fn deploy_message(error: &DeployError) -> String {
    match error {
        DeployError::Internal(_) => "internal error".into(),
        DeployError::Unavailable(_) => "the host database is unavailable".into(),
        other => other.to_string(),
    }
}

/// The first problem's message, and how many more there are.
fn validation_message(problems: &[Invalid]) -> String {
    match problems {
        [] => "the request is invalid".into(),
        [one] => one.message.clone(),
        [first, rest @ ..] => format!(
            "{} (and {} more problem{}: see `errors`)",
            first.message,
            rest.len(),
            if rest.len() == 1 { "" } else { "s" }
        ),
    }
}

/// The error of a response, waiting for its request id.
#[derive(Debug, Clone)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
    pub field: Option<String>,
    /// For validation errors: every field at fault, `{field, location?,
    /// message}`.
    pub errors: Vec<serde_json::Value>,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Service(p) => StatusCode::from_u16(p.status)
                .ok()
                .filter(|s| s.is_client_error() || s.is_server_error())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            ApiError::ServiceFailed | ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::TenantQuota { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Overloaded { .. } | ApiError::Unavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::ServiceWorkerRefused => StatusCode::FORBIDDEN,
            ApiError::MisdirectedHost => StatusCode::MISDIRECTED_REQUEST,
            ApiError::TenantRequired(_) => StatusCode::BAD_REQUEST,
            ApiError::UnknownTenant(_)
            | ApiError::UnknownService(_)
            | ApiError::UnknownVersion(_) => StatusCode::NOT_FOUND,
            ApiError::InvalidName(_) | ApiError::EmptyBody => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::ResponseTooLarge { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Deploy(error) => match error {
                DeployError::Compile(_)
                | DeployError::NotAService(_)
                | DeployError::Describe(_)
                | DeployError::Manifest(_)
                | DeployError::Migration(_)
                | DeployError::InvalidCanary(_) => StatusCode::UNPROCESSABLE_ENTITY,
                DeployError::Routes(_) | DeployError::Conflict(_) => StatusCode::CONFLICT,
                DeployError::NotFound(_) => StatusCode::NOT_FOUND,
                DeployError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                DeployError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }

    fn code(&self) -> &str {
        match self {
            ApiError::Service(p) => &p.code,
            other => other.outcome(),
        }
    }

    /// Who answered, for the metrics: `served` when it was the service,
    /// else the code of the host's answer (a closed set).
    pub fn outcome(&self) -> &'static str {
        match self {
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::Validation(_) => "validation_error",
            ApiError::Service(_) => "served",
            ApiError::ServiceFailed => "service_failed",
            ApiError::Timeout(_) => "timeout",
            ApiError::Overloaded { .. } => "overloaded",
            ApiError::TenantQuota { .. } => "tenant_quota",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::RequestTimeout(_) => "request_timeout",
            ApiError::Internal => "internal_error",
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::MisdirectedHost => "misdirected_request",
            ApiError::ServiceWorkerRefused => "service_worker_refused",
            ApiError::TenantRequired(_) => "tenant_required",
            ApiError::UnknownTenant(_) => "unknown_tenant",
            ApiError::UnknownService(_) => "not_found",
            ApiError::UnknownVersion(_) => "unknown_version",
            ApiError::InvalidName(_) => "invalid_name",
            ApiError::EmptyBody => "empty_body",
            ApiError::ResponseTooLarge { .. } => "response_too_large",
            ApiError::Deploy(error) => error.code(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = status.into_response();
        match &self {
            ApiError::MethodNotAllowed { allowed, .. } => {
                let allow = allowed
                    .iter()
                    .map(Method::as_str)
                    .collect::<Vec<_>>()
                    .join(", ");
                if let Ok(value) = HeaderValue::from_str(&allow) {
                    response.headers_mut().insert(header::ALLOW, value);
                }
            }
            ApiError::Unauthorized => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            // A service (or the host) that is unavailable or rate-limited
            // tells the client when to come back.
            ApiError::Service(_) | ApiError::Unavailable(_)
                if matches!(
                    status,
                    StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS
                ) =>
            {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }

            // The rest of the body never came: the connection is not reused.
            ApiError::RequestTimeout(_) => {
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            ApiError::Overloaded { retry_after } | ApiError::TenantQuota { retry_after, .. } => {
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(retry_after.as_secs().max(1)),
                );
            }
            _ => {}
        }
        let (code, field, errors) = match &self {
            // A service's own validation problem names one field; where it
            // lies only the service knows.
            ApiError::Service(p) if status.as_u16() == p.status => {
                let errors = p
                    .field
                    .iter()
                    .map(|field| serde_json::json!({"field": field, "message": p.message}));
                (p.code.clone(), p.field.clone(), errors.collect())
            }
            ApiError::Service(_) => ("service_failed".to_string(), None, Vec::new()),
            ApiError::Validation(problems) => (
                self.code().to_string(),
                problems.first().map(|p| p.field.clone()),
                problems
                    .iter()
                    .map(|p| {
                        serde_json::json!({
                            "field": p.field, "location": p.location, "message": p.message,
                        })
                    })
                    .collect(),
            ),
            _ => (self.code().to_string(), None, Vec::new()),
        };
        let message = match &self {
            ApiError::Service(p) if status.as_u16() != p.status => {
                ApiError::ServiceFailed.to_string()
            }
            _ => self.to_string(),
        };
        response.extensions_mut().insert(ErrorBody {
            code,
            message,
            field,
            errors,
        });
        response
    }
}

/// Writes every error response in the standard shape, with the request id.
pub async fn render_errors(request: Request, next: Next) -> Response {
    let request_id = request.headers().get("x-request-id").cloned();
    let mut response = next.run(request).await;
    let status = response.status();
    let error = match response.extensions_mut().remove::<ErrorBody>() {
        Some(error) => error,
        None if (status.is_client_error() || status.is_server_error()) && !is_json(&response) => {
            ErrorBody {
                code: code_for(status).into(),
                message: status.canonical_reason().unwrap_or("error").to_lowercase(),
                field: None,
                errors: Vec::new(),
            }
        }
        None => return response,
    };
    let mut inner = serde_json::json!({
        "code": error.code,
        "message": error.message,
        "request_id": request_id.as_ref().and_then(|v| v.to_str().ok()).unwrap_or_default(),
    });
    if let Some(field) = error.field {
        inner["field"] = field.into();
    }
    if !error.errors.is_empty() {
        inner["errors"] = error.errors.into();
    }
    let body = serde_json::json!({ "error": inner }).to_string();
    let (mut parts, _) = response.into_parts();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.contains("+json"))
}

fn code_for(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "request_timeout",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        422 => "validation_error",
        429 => "too_many_requests",
        503 => "unavailable",
        504 => "timeout",
        s if s >= 500 => "internal_error",
        _ => "error",
    }
}
