//! One call into a service: a fresh store from the deployment's
//! `InstancePre` (or a warm instance, when its deployment reuses them), a
//! deadline, and the failure sorted into what the client should be told
//! (timeout, trap, overload) — never a host crash.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::{Store, Trap, UpdateDeadline};

use super::reuse::{Warm, WarmPool};
use crate::bindings::{Manifest, Problem, Request, Response, Service, ServicePre};
use crate::runtime::{Grants, Runtime, ServiceState};

/// How a call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// The service ran past its deadline and was stopped.
    #[error("the service ran past its {0:?} deadline")]
    Timeout(Duration),
    /// The service trapped: a panic, `unreachable`, a stack overflow, an
    /// out-of-bounds access, or growing past its memory limit.
    #[error("the service trapped: {0}")]
    Trap(String),
    /// No instance slot was free.
    #[error("too many instances are running")]
    Overloaded,
    /// Instantiation failed for another reason.
    #[error("the service could not be instantiated: {0}")]
    Instantiate(String),
    /// A `wasi:http` component returned without a usable response.
    #[error("the component gave no response: {0}")]
    NoResponse(String),
    /// The response body was larger than the limit.
    #[error("the response is larger than {0} bytes")]
    ResponseTooLarge(usize),
}

/// A call about to be made: the store it runs in, its deadline, and the
/// instance when it is a warm one (see `reuse`).
pub struct Invocation {
    pub(super) store: Store<ServiceState>,
    pub(super) timeout: Duration,
    /// Where the instance goes back after a normal return.
    pool: Option<Arc<WarmPool>>,
    warm: Option<(Service, Instant, u32)>,
}

impl Invocation {
    /// A call under `grants`, in a fresh store.
    pub fn new(runtime: &Runtime, grants: &Grants) -> Invocation {
        let state = ServiceState::new(grants);
        let mut store = Store::new(runtime.engine(), state);
        store.limiter(|state| &mut state.limits);
        // Each host call copies what the guest passes: bound it per call.
        store.set_hostcall_fuel(grants.hostcall_bytes);
        store.set_max_component_handles(super::state::MAX_COMPONENT_HANDLES);
        arm_deadline(&mut store, grants.timeout, runtime.deadlines());
        Invocation {
            store,
            timeout: grants.timeout,
            pool: None,
            warm: None,
        }
    }

    /// A call under `grants` for a deployment with a `pool` of warm
    /// instances: in one of them when one is idle, else in a fresh store;
    /// either way, the instance goes back to the pool after a normal return.
    pub fn with_pool(
        runtime: &Runtime,
        grants: &Grants,
        pool: Option<&Arc<WarmPool>>,
    ) -> Invocation {
        let Some(pool) = pool else {
            return Invocation::new(runtime, grants);
        };
        let Some(warm) = pool.take() else {
            return Invocation {
                pool: Some(pool.clone()),
                ..Invocation::new(runtime, grants)
            };
        };
        let Warm {
            mut store,
            service,
            born,
            served,
        } = warm;
        store.data_mut().next_request();
        arm_deadline(&mut store, grants.timeout, runtime.deadlines());
        Invocation {
            store,
            timeout: grants.timeout,
            pool: Some(pool.clone()),
            warm: Some((service, born, served)),
        }
    }

    /// Calls `handle(request)`; with a pool, the instance goes back to it
    /// if the call returned normally (see [`WarmPool::put`]).
    pub async fn handle(
        mut self,
        pre: &ServicePre<ServiceState>,
        request: &Request,
    ) -> Result<Result<Response, Problem>, CallError> {
        let timeout = self.timeout;
        let store = &mut self.store;
        let warm = self.warm.take();
        let call = async {
            let (service, born, served) = match warm {
                Some(warm) => warm,
                None => (
                    pre.instantiate_async(&mut *store)
                        .await
                        .map_err(instantiate_error)?,
                    Instant::now(),
                    0,
                ),
            };
            let answer = service
                .berth_service_handler()
                .call_handle(&mut *store, request)
                .await
                .map_err(|e| call_error(e, timeout))?;
            Ok((answer, (service, born, served + 1)))
        };
        let result = with_timeout(timeout, call).await;
        self.finish(&result);
        let (answer, (service, born, served)) = result?;
        if let Some(pool) = self.pool {
            pool.put(Warm {
                store: self.store,
                service,
                born,
                served,
            });
        }
        Ok(answer)
    }

    /// Calls `describe()`.
    pub async fn describe(mut self, pre: &ServicePre<ServiceState>) -> Result<Manifest, CallError> {
        let timeout = self.timeout;
        let store = &mut self.store;
        let call = async {
            let service = pre
                .instantiate_async(&mut *store)
                .await
                .map_err(instantiate_error)?;
            service
                .berth_service_handler()
                .call_describe(&mut *store)
                .await
                .map_err(|e| call_error(e, timeout))
        };
        let result = with_timeout(timeout, call).await;
        self.finish(&result);
        result
    }

    fn finish<T>(&mut self, result: &Result<T, CallError>) {
        self.flush_output(result.is_err());
        self.store.data_mut().end_request();
    }

    /// Passes on what the guest wrote to stdout and stderr: to its live
    /// log always; to the host's log when the call failed (otherwise only
    /// when debugging).
    pub(super) fn flush_output(&self, failed: bool) {
        let data = self.store.data();
        let to_host_log = failed || tracing::enabled!(tracing::Level::DEBUG);
        data.wasi.flush_output(&data.log, to_host_log);
    }

    /// Tags what the call logs with `request_id`.
    pub fn for_request(mut self, request_id: &str) -> Invocation {
        self.store.data_mut().log.start_request(request_id);
        self
    }
}

impl Runtime {
    /// Calls `describe()` in a fresh instance. Idle warm instances never cost
    /// a deploy its instance: when the pool is full, they go, and the call is
    /// tried once more.
    pub async fn describe(
        &self,
        pre: &ServicePre<ServiceState>,
        grants: &Grants,
    ) -> Result<Manifest, CallError> {
        match Invocation::new(self, grants).describe(pre).await {
            Err(CallError::Overloaded) if self.evict_idle() > 0 => {
                Invocation::new(self, grants).describe(pre).await
            }
            result => result,
        }
    }
}

/// Checks the clock at every epoch tick: past the deadline, stops the
/// guest; before it, yields, so that a busy guest cannot hold a worker
/// thread that other requests need.
fn arm_deadline(store: &mut Store<ServiceState>, timeout: Duration, deadlines: bool) {
    if !deadlines {
        return;
    }
    let deadline = Instant::now() + timeout;
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_| {
        if Instant::now() >= deadline {
            Ok(UpdateDeadline::Interrupt)
        } else {
            // tokio's yield_now defers the wake-up until the worker has
            // polled the I/O driver, so network events keep flowing while
            // guests spin.
            Ok(UpdateDeadline::YieldCustom(
                1,
                Box::pin(tokio::task::yield_now()),
            ))
        }
    });
}

/// The epoch deadline stops guest code; this also bounds time the guest
/// spends waiting on the host (a slow query), with a little slack so that
/// the epoch trap, which reports better, normally wins.
pub(super) async fn with_timeout<T>(
    timeout: Duration,
    call: impl Future<Output = Result<T, CallError>>,
) -> Result<T, CallError> {
    let slack = Duration::from_millis(250);
    match tokio::time::timeout(timeout + slack, call).await {
        Ok(result) => result,
        Err(_) => Err(CallError::Timeout(timeout)),
    }
}

pub(super) fn instantiate_error(error: wasmtime::Error) -> CallError {
    if error.is::<wasmtime::PoolConcurrencyLimitError>() {
        CallError::Overloaded
    } else {
        CallError::Instantiate(format!("{error:#}"))
    }
}

pub(super) fn call_error(error: wasmtime::Error, timeout: Duration) -> CallError {
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => CallError::Timeout(timeout),
        _ => CallError::Trap(format!("{error:#}")),
    }
}
