//! The listener: accepts connections and serves HTTP/1.1 and HTTP/2 on
//! them, bounded against slow and idle clients. A client must send its
//! request headers within `header_timeout` (the same bound closes idle
//! keep-alive connections); at most `max_connections` are open at once
//! (beyond that, new connections wait in the kernel's backlog), at most
//! `max_connections_per_client` from one address (beyond that, they are
//! closed), with at most 64 requests at once on an HTTP/2 connection.
//! Bodies are bounded where they are read (see `dispatch`).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

pub use crate::config::ClientLimits;

/// Open connections per client address.
#[derive(Debug, Default)]
struct PerClient(std::sync::Mutex<std::collections::HashMap<IpAddr, usize>>);

impl PerClient {
    /// Counts a connection from `ip`, unless it has `max` already.
    fn enter(self: &Arc<PerClient>, ip: IpAddr, max: usize) -> Option<ClientSlot> {
        let mut counts = self.0.lock().expect("client counts poisoned");
        let count = counts.entry(ip).or_default();
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(ClientSlot {
            clients: self.clone(),
            ip,
        })
    }
}

/// One connection counted against its client.
struct ClientSlot {
    clients: Arc<PerClient>,
    ip: IpAddr,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut counts = self.clients.0.lock().expect("client counts poisoned");
        if let Some(count) = counts.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// Largest request head (request line and headers) accepted, in bytes.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Requests in flight on one HTTP/2 connection.
const MAX_STREAMS: u32 = 64;

/// Serves `router` on `listener` until `shutdown`, then lets the requests
/// in flight finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ClientLimits,
    shutdown: CancellationToken,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(MAX_HEAD_BYTES as u32)
        .max_concurrent_streams(MAX_STREAMS)
        .keep_alive_interval(Some(limits.header_timeout))
        .keep_alive_timeout(limits.header_timeout);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let clients = Arc::new(PerClient::default());
    loop {
        let slot = tokio::select! {
            () = shutdown.cancelled() => break,
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
        };
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, say: back off a little.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(client) = clients.enter(peer.ip(), limits.max_connections_per_client) else {
            tracing::debug!(client = %peer.ip(), "a client has too many connections open; closing a new one");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(
            router
                .clone()
                .map_request(|request: http::Request<Incoming>| request.map(Body::new)),
        );
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
            drop((slot, client));
        });
    }
    // No new connections; what was accepted finishes, within the drain
    // timeout.
    drop(listener);
    if tokio::time::timeout(limits.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(timeout = ?limits.drain_timeout, "requests still in flight at the end of the drain timeout were cut");
    }
}
