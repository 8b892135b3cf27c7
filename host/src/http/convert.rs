//! The conversions between HTTP and the service's WIT types: the request
//! as the service sees it, its method, and its answer as an HTTP response.

use axum::body::{Body, Bytes};
use axum::response::Response;
use http::request::Parts;
use http::{HeaderName, HeaderValue, Method, StatusCode, header};

use super::error::ApiError;
use crate::bindings::{self, Problem};

/// The request as the service receives it: the matched route `template`
/// and its `params`, the query decoded, headers as text (invalid UTF-8
/// replaced), the whole body.
pub fn wit_request(
    parts: &Parts,
    template: &str,
    params: Vec<(String, String)>,
    body: &Bytes,
    tenant: &str,
) -> bindings::Request {
    bindings::Request {
        method: wit_method(&parts.method),
        path: parts.uri.path().to_string(),
        route: template.to_string(),
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
        tenant: tenant.to_string(),
    }
}

pub fn problem_error(problem: Problem) -> ApiError {
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

pub fn build_response(
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

pub fn wit_method(method: &Method) -> bindings::Method {
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
