//! The service's answer as an HTTP response, and the request as the
//! service sees it.

use axum::body::Body;
use axum::response::Response;
use http::{HeaderName, HeaderValue, Method, StatusCode, header};

use super::error::ApiError;
use crate::bindings::{self, Problem};

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
