//! `/metrics` in the Prometheus text format.

use axum::response::IntoResponse;
use http::{HeaderValue, header};

use crate::telemetry::metrics::handle;

pub async fn render() -> impl IntoResponse {
    let handle = handle();
    handle.run_upkeep();
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        handle.render(),
    )
}
