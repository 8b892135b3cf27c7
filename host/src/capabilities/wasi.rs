//! The slice of WASI a service gets: no preopened directories, no
//! environment variables or arguments, no sockets, no stdin. Clocks and
//! randomness work; stdout and stderr are captured (bounded per request) and
//! logged, so a panic message reaches the host's log.

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWrite;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::log::LogCtx;
use crate::logs::Origin;

/// Bytes of stdout/stderr kept per request; the rest is dropped.
const CAPTURE_BYTES: usize = 16 * 1024;

/// Per-instance WASI state and the captured output streams.
pub struct WasiState {
    ctx: WasiCtx,
    stdout: Capture,
    stderr: Capture,
}

impl WasiState {
    pub fn new() -> WasiState {
        let stdout = Capture::new(CAPTURE_BYTES);
        let stderr = Capture::new(CAPTURE_BYTES);
        let ctx = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        WasiState {
            ctx,
            stdout,
            stderr,
        }
    }

    /// What the guest wrote to stdout and stderr, if anything: into its
    /// live log always, and into the host's log when `to_host_log`.
    pub fn flush_output(&self, log: &LogCtx, to_host_log: bool) {
        for (stream, origin, pipe) in [
            ("stdout", Origin::Stdout, &self.stdout),
            ("stderr", Origin::Stderr, &self.stderr),
        ] {
            let bytes = pipe.contents();
            if !bytes.is_empty() {
                let text =
                    super::log::clip_to(String::from_utf8_lossy(&bytes).trim_end(), CAPTURE_BYTES);
                if to_host_log {
                    tracing::warn!(target: "berth::service", service = log.service(), request_id = log.request_id(), stream, output = %text, "service wrote to {stream}");
                }
                log.output(origin, text);
            }
        }
    }

    /// Forgets what the last request wrote: the next one starts with the
    /// whole capture bound (an instance reused across requests).
    pub fn clear_output(&self) {
        self.stdout.clear();
        self.stderr.clear();
    }

    /// stdout and stderr streams the guest holds open: the only host
    /// resources an instance may keep from one request to the next.
    pub fn open_streams(&self) -> usize {
        self.stdout.open_streams() + self.stderr.open_streams()
    }
}

impl Default for WasiState {
    fn default() -> Self {
        WasiState::new()
    }
}

impl WasiState {
    /// What wasmtime's WASI implementation works on: this state with the
    /// store's resource table.
    pub fn view<'a>(&'a mut self, table: &'a mut ResourceTable) -> WasiCtxView<'a> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table,
        }
    }
}

/// A bounded in-memory stdout or stderr that can be cleared between
/// requests, and that counts the streams the guest holds on it.
#[derive(Clone)]
struct Capture {
    capacity: usize,
    buffer: Arc<Mutex<BytesMut>>,
    streams: Arc<AtomicUsize>,
}

impl Capture {
    fn new(capacity: usize) -> Capture {
        Capture {
            capacity,
            buffer: Arc::default(),
            streams: Arc::default(),
        }
    }

    fn contents(&self) -> Bytes {
        self.buffer
            .lock()
            .expect("capture poisoned")
            .clone()
            .freeze()
    }

    fn clear(&self) {
        self.buffer.lock().expect("capture poisoned").clear();
    }

    fn open_streams(&self) -> usize {
        self.streams.load(Ordering::Relaxed)
    }

    /// Appends up to the bound; how much was taken.
    fn append(&self, bytes: &[u8]) -> usize {
        let mut buffer = self.buffer.lock().expect("capture poisoned");
        let taken = bytes.len().min(self.capacity - buffer.len());
        buffer.extend_from_slice(&bytes[..taken]);
        taken
    }

    fn room(&self) -> usize {
        self.capacity - self.buffer.lock().expect("capture poisoned").len()
    }

    /// A stream on the capture; `counted` for the ones that go in the
    /// store's resource table (see [`WasiState::open_streams`]).
    fn stream(&self, counted: bool) -> CaptureStream {
        if counted {
            self.streams.fetch_add(1, Ordering::Relaxed);
        }
        CaptureStream {
            capture: self.clone(),
            counted,
        }
    }
}

impl IsTerminal for Capture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Capture {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.stream(false))
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        // wasmtime-wasi puts these, and only these, in the resource table.
        Box::new(self.stream(true))
    }
}

/// One stream the guest opened on a [`Capture`].
struct CaptureStream {
    capture: Capture,
    counted: bool,
}

impl Drop for CaptureStream {
    fn drop(&mut self) {
        if self.counted {
            self.capture.streams.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for CaptureStream {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        if self.capture.append(&bytes) < bytes.len() {
            return Err(StreamError::Closed);
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        match self.capture.room() {
            0 => Err(StreamError::Closed),
            room => Ok(room),
        }
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CaptureStream {
    async fn ready(&mut self) {}
}

impl AsyncWrite for CaptureStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(Ok(self.capture.append(buf)))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Links WASI 0.2 into any store whose data is a [`WasiView`].
pub fn add_to_linker<T: WasiView + 'static>(linker: &mut Linker<T>) -> anyhow::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_captured_up_to_a_bound_logged_and_cleared_between_requests() {
        let state = WasiState::new();
        let mut out = state.stdout.stream(true);
        assert_eq!(state.open_streams(), 1);
        out.write(Bytes::from(vec![b'x'; CAPTURE_BYTES / 2]))
            .unwrap();
        out.write(Bytes::from(vec![b'x'; CAPTURE_BYTES / 2]))
            .unwrap();
        assert!(
            out.write(Bytes::from_static(b"more")).is_err(),
            "past the bound, writes fail"
        );
        assert_eq!(state.stdout.contents().len(), CAPTURE_BYTES);
        let live = crate::logs::LogHub::default().service("t", "s");
        state.flush_output(&LogCtx::new("s", live.clone()), true);
        let lines = live.recent(10);
        assert_eq!(lines.len(), 1, "stdout is one line of the live log");
        assert_eq!(lines[0].origin, Origin::Stdout);
        assert!(lines[0].message.len() <= CAPTURE_BYTES + 4);
        state.clear_output();
        assert!(state.stdout.contents().is_empty());
        out.write(Bytes::from_static(b"next request")).unwrap();
        assert_eq!(&state.stdout.contents()[..], b"next request");
        drop(out);
        assert_eq!(
            state.open_streams(),
            0,
            "a dropped stream is no longer counted"
        );
    }
}
