//! How the host's own pages (`/docs`, `/console`) and their assets are
//! answered: from the binary, under a content security policy that lets a
//! page load only what berth serves, never framed, never sniffed.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

/// A page or asset, `bytes` of `content_type`, under `policy`.
pub(super) fn respond(
    content_type: &'static str,
    bytes: &'static [u8],
    cache: &'static str,
    policy: &'static str,
) -> Response {
    let mut response = (StatusCode::OK, bytes).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, content_type),
        (header::CACHE_CONTROL, cache),
        (header::CONTENT_SECURITY_POLICY, policy),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            header::HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        (
            header::HeaderName::from_static("cross-origin-resource-policy"),
            "same-origin",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}
