//! One call into a standard `wasi:http/proxy` component: the request (its
//! body already read whole) becomes an `incoming-request`, the component
//! runs in a task of its own — it may keep writing the body after it has
//! set the response — and the response is read whole, up to a limit, within
//! the same deadline as a berth service's call. The component's task never
//! outlives the call: it is awaited, or dropped at the deadline.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use wasmtime_wasi_http::WasiHttpView as _;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

use super::invoke::{call_error, instantiate_error, with_timeout};
use super::{CallError, Invocation, ServiceState};

impl Invocation {
    /// Calls `wasi:http/incoming-handler.handle(request, out)` and reads the
    /// response, refusing a body over `max_response_bytes`.
    pub async fn handle_http(
        mut self,
        pre: &ProxyPre<ServiceState>,
        request: http::Request<Bytes>,
        max_response_bytes: usize,
    ) -> Result<http::Response<Bytes>, CallError> {
        let started = Instant::now();
        let timeout = self.timeout;
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let request = request.map(|body| {
            Full::new(body)
                .map_err(|never: Infallible| -> wasmtime_wasi_http::Error { match never {} })
        });
        let store = &mut self.store;
        let resources = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request)
            .and_then(|request| {
                let out = store.data_mut().http().new_response_outparam(sender)?;
                Ok((request, out))
            });
        let (request, out) = resources.map_err(|e| CallError::Instantiate(format!("{e:#}")))?;

        let pre = pre.clone();
        let task = tokio::spawn(async move {
            let store = &mut self.store;
            let result = async {
                let proxy = pre
                    .instantiate_async(&mut *store)
                    .await
                    .map_err(instantiate_error)?;
                proxy
                    .wasi_http_incoming_handler()
                    .call_handle(&mut *store, request, out)
                    .await
                    .map_err(|e| call_error(e, timeout))
            }
            .await;
            (self, result)
        });
        let mut guest = Guest {
            abort: task.abort_handle(),
            task: Some(task),
            result: None,
        };

        let answer = with_timeout(timeout, async {
            // The response, or the task's end when the component returns or
            // traps without one.
            let mut receiver = receiver;
            let response = match guest.beside(&mut receiver).await {
                Some(response) => response.ok(),
                None => receiver.try_recv().ok(),
            };
            let response = match response {
                Some(Ok(response)) => response,
                Some(Err(code)) => {
                    return Err(CallError::NoResponse(format!(
                        "it answered with the error {code:?}"
                    )));
                }
                None => return Err(CallError::NoResponse(UNSET.into())),
            };
            // The body, while the component may still be writing it; if it
            // ends (or traps) first, its store goes and the body with it.
            let (parts, body) = response.into_parts();
            let collect = read_whole(body, max_response_bytes);
            tokio::pin!(collect);
            let collected = match guest.beside(&mut collect).await {
                Some(collected) => collected,
                None => match &guest.result {
                    Some(Err(error)) => return Err(error.clone()),
                    _ => collect.await,
                },
            };
            Ok(http::Response::from_parts(parts, collected?))
        })
        .await;

        // The component may still be finishing (trailers, logging): it gets
        // what is left of the deadline, then it is dropped.
        if let Some(task) = guest.task.take() {
            let left = timeout.saturating_sub(started.elapsed()) + Duration::from_millis(50);
            match tokio::time::timeout(left, task).await {
                Ok(ended) => guest.ended(ended),
                Err(_) => guest.abort.abort(),
            }
        }
        match (answer, guest.result.take()) {
            // It failed before the host's answer was sent (the host sends
            // only whole responses): a response it set may be cut short,
            // so its failure is the answer, unless the host's own refusal
            // (a body too large, the deadline) came first.
            (Ok(_) | Err(CallError::NoResponse(_)), Some(Err(error))) => Err(error),
            (answer, _) => answer,
        }
    }
}

type Ended = (Invocation, Result<(), CallError>);

/// The component's task, and how it ended once it has.
struct Guest {
    task: Option<tokio::task::JoinHandle<Ended>>,
    abort: tokio::task::AbortHandle,
    result: Option<Result<(), CallError>>,
}

impl Guest {
    /// Runs `work` beside the component: its output, or `None` when the
    /// component ended first (its end is taken, and `work` may go on).
    async fn beside<F: Future + Unpin>(&mut self, work: &mut F) -> Option<F::Output> {
        let Some(running) = self.task.as_mut() else {
            return Some(work.await);
        };
        tokio::select! {
            done = work => Some(done),
            ended = running => {
                self.ended(ended);
                None
            }
        }
    }

    /// Takes the task's end: its output is logged and its store dropped
    /// at once (so the response body it held ends too).
    fn ended(&mut self, ended: Result<Ended, tokio::task::JoinError>) {
        self.task = None;
        match ended {
            Ok((invocation, result)) => {
                invocation.flush_output(result.is_err());
                self.result = Some(result);
            }
            Err(join) => {
                tracing::error!(error = %join, "the component's task failed");
                self.result = Some(Err(CallError::Trap(format!("its task failed: {join}"))));
            }
        }
    }
}

/// A request that ends early (its client went away) takes the component
/// with it: its store, pool slot and outbound calls go at once.
impl Drop for Guest {
    fn drop(&mut self) {
        self.abort.abort();
    }
}

/// The body into one buffer, up to `limit` bytes: a copy per frame, so
/// that a component writing a byte at a time costs the host its bytes, not
/// a buffer per write.
async fn read_whole<B>(body: B, limit: usize) -> Result<Bytes, CallError>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let mut body = body;
    let mut whole = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|error| CallError::NoResponse(format!("its body failed: {error}")))?;
        if let Ok(data) = frame.into_data() {
            if whole.len() + data.len() > limit {
                return Err(CallError::ResponseTooLarge(limit));
            }
            whole.extend_from_slice(&data);
        }
    }
    Ok(whole.freeze())
}

/// Why there is no response when the component never set one.
const UNSET: &str = "it returned without setting a response";
