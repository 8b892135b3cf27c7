//! Checking a request against its route — its declared parameters, then
//! its body against the route's schema — before any instance exists, in
//! bounded time and never for long on the threads that serve requests.
//!
//! A check first gets a small budget of CPU time for matching patterns
//! ([`INLINE`]): on the request thread, or on the blocking pool when its
//! body may take long to walk (`RequestSchema::is_heavy`, bounded by the
//! schema's cost). Almost every request fits. One whose patterns need more
//! is checked again on the blocking pool with the whole budget
//! ([`Budget::DEFAULT`]), in a slot: one at a time per tenant, so that one
//! tenant's costly requests queue behind each other and not in front of
//! other tenants', and as many at a time in all as the machine has cores. A
//! request that finds no slot within its queue timeout is answered 503; a
//! check that spends its budget stops where it is, and the request is
//! refused with a 422: what it sent is too costly to check.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::body::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::body::RETRY_AFTER;
use super::convert::Fields;
use super::error::ApiError;
use crate::registry::pattern::Budget;
use crate::registry::{Checked, Invalid, RouteSpec};

/// CPU time a check may spend matching patterns on a request thread.
pub const INLINE: Duration = Duration::from_millis(1);

/// The slots of checks off the request threads.
struct Slots {
    /// As many as there are cores.
    all: Arc<Semaphore>,
    /// One per tenant.
    tenants: Mutex<HashMap<String, Arc<Semaphore>>>,
}

fn slots() -> &'static Slots {
    static SLOTS: OnceLock<Slots> = OnceLock::new();
    SLOTS.get_or_init(|| Slots {
        all: Arc::new(Semaphore::new(
            std::thread::available_parallelism().map_or(1, usize::from),
        )),
        tenants: Mutex::default(),
    })
}

impl Slots {
    /// A slot for one of `tenant`'s checks: the tenant's own first, then
    /// one of all.
    async fn take(&self, tenant: &str) -> Option<(OwnedSemaphorePermit, OwnedSemaphorePermit)> {
        let own = self
            .tenants
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(tenant.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(1)))
            .clone();
        let own = own.acquire_owned().await.ok()?;
        let all = self.all.clone().acquire_owned().await.ok()?;
        Some((own, all))
    }
}

/// Every problem of the request's parameters and body in one 422, before
/// anything is instantiated; a 503 when no slot for a costly check frees up
/// within `queue_timeout`.
pub async fn validate(
    route: &Arc<RouteSpec>,
    tenant: &str,
    (params, query): (&Fields, &Fields),
    body: &Bytes,
    queue_timeout: Duration,
) -> Result<(), ApiError> {
    if route.params.is_empty() && route.request_schema.is_none() {
        return Ok(());
    }
    let heavy = route
        .request_schema
        .as_ref()
        .is_some_and(|schema| schema.is_heavy(body.len()));
    let first = if heavy {
        let (route, params, query, body) =
            (route.clone(), params.clone(), query.clone(), body.clone());
        tokio::task::spawn_blocking(move || route.check(&params, &query, &body, INLINE))
            .await
            .map_err(|_| ApiError::Internal)?
    } else {
        route.check(params, query, body, INLINE)
    };
    if first != Checked::TooCostly {
        return answer(first, body.is_empty());
    }
    let refused = || ApiError::Overloaded {
        retry_after: RETRY_AFTER,
    };
    let slot = tokio::time::timeout(queue_timeout, slots().take(tenant))
        .await
        .map_err(|_| refused())?
        .ok_or_else(refused)?;
    let no_body = body.is_empty();
    let (route, params, query, body) = (route.clone(), params.clone(), query.clone(), body.clone());
    // The slot goes with the check: a client that leaves does not free it
    // before the work it started is done.
    let checked = tokio::task::spawn_blocking(move || {
        let checked = route.check(&params, &query, &body, Budget::DEFAULT);
        drop(slot);
        checked
    })
    .await
    .map_err(|_| ApiError::Internal)?;
    answer(checked, no_body)
}

fn answer(checked: Checked, no_body: bool) -> Result<(), ApiError> {
    let (field, location) = if no_body {
        ("query", "query")
    } else {
        ("body", "body")
    };
    match checked {
        Checked::Valid => Ok(()),
        Checked::Invalid(problems) => Err(ApiError::Validation(problems)),
        Checked::TooCostly => Err(ApiError::Validation(vec![Invalid {
            field: field.into(),
            location,
            message: format!(
                "the request's values are too costly to match against this route's patterns (more than {} ms of work); send shorter values",
                Budget::DEFAULT.as_millis()
            ),
        }])),
    }
}
