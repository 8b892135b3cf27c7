//! `/metrics` in the Prometheus text format.

use axum::response::IntoResponse;
use http::{HeaderValue, header};

use crate::telemetry::metrics::handle;

/// The Prometheus text format's content type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

pub async fn render() -> impl IntoResponse {
    let handle = handle();
    handle.run_upkeep();
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
        handle.render(),
    )
}
