//! Reading a request's body: within the body budget shared by all requests,
//! within the body timeout, and within the size limit (enforced by the
//! limit layer around `dispatch`, reported here).

use std::error::Error as _;
use std::time::Duration;

use axum::body::{Body, Bytes};

use super::AppState;
use super::error::ApiError;

/// How long a client is asked to wait when the host is out of room.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

/// A share of the body budget for a body of the `announced` size, waited
/// for up to the body timeout; none for a request without a body.
pub async fn reserve_body(
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

pub async fn read_body(body: Body, limit: usize, timeout: Duration) -> Result<Bytes, ApiError> {
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
