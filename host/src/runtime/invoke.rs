//! One call into a service: a fresh store from the deployment's
//! `InstancePre`, a deadline, and the failure sorted into what the client
//! should be told (timeout, trap, overload) — never a host crash.

use std::time::{Duration, Instant};

use wasmtime::{Store, Trap, UpdateDeadline};

use crate::bindings::{Manifest, Problem, Request, Response, ServicePre};
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

/// A call about to be made: the store it runs in and its deadline.
pub struct Invocation {
    pub(super) store: Store<ServiceState>,
    pub(super) timeout: Duration,
}

impl Invocation {
    /// A call under `grants`, in a fresh store.
    pub fn new(runtime: &Runtime, grants: &Grants) -> Invocation {
        let timeout = grants.timeout;
        let state = ServiceState::new(grants);
        let hostcall_bytes = state.hostcall_bytes;
        let mut store = Store::new(runtime.engine(), state);
        store.limiter(|state| &mut state.limits);
        // Each host call copies what the guest passes: bound it per call.
        store.set_hostcall_fuel(hostcall_bytes);
        store.set_max_component_handles(super::state::MAX_COMPONENT_HANDLES);
        // Check the clock at every epoch tick: past the deadline, stop the
        // guest; before it, yield so that a busy guest cannot hold a worker
        // thread that other requests need.
        let deadline = Instant::now() + timeout;
        if !runtime.deadlines() {
            return Invocation { store, timeout };
        }
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                Ok(UpdateDeadline::Interrupt)
            } else {
                // tokio's yield_now defers the wake-up until the worker
                // has polled the I/O driver, so network events keep
                // flowing while guests spin.
                Ok(UpdateDeadline::YieldCustom(
                    1,
                    Box::pin(tokio::task::yield_now()),
                ))
            }
        });
        Invocation { store, timeout }
    }

    /// Calls `handle(request)`.
    pub async fn handle(
        mut self,
        pre: &ServicePre<ServiceState>,
        request: &Request,
    ) -> Result<Result<Response, Problem>, CallError> {
        let timeout = self.timeout;
        let store = &mut self.store;
        let call = async {
            let service = pre
                .instantiate_async(&mut *store)
                .await
                .map_err(instantiate_error)?;
            service
                .berth_service_handler()
                .call_handle(&mut *store, request)
                .await
                .map_err(|e| call_error(e, timeout))
        };
        let result = with_timeout(timeout, call).await;
        self.finish(&result);
        result
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

    fn finish<T>(&self, result: &Result<T, CallError>) {
        self.flush_output(result.is_err());
    }

    /// Logs what the guest wrote to stdout and stderr: worth reading when
    /// the call failed; otherwise only when debugging.
    pub(super) fn flush_output(&self, failed: bool) {
        if failed || tracing::enabled!(tracing::Level::DEBUG) {
            self.store.data().wasi.flush_output_to_log();
        }
    }
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
