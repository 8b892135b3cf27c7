//! The slice of WASI a service gets: no preopened directories, no
//! environment variables or arguments, no sockets, no stdin. Clocks and
//! randomness work; stdout and stderr are captured (bounded) and logged, so a
//! panic message reaches the host's log.

use wasmtime::component::Linker;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::runtime::ServiceState;

/// Bytes of stdout/stderr kept per request; the rest is dropped.
const CAPTURE_BYTES: usize = 16 * 1024;

/// Per-request WASI state and the captured output streams.
pub struct WasiState {
    ctx: WasiCtx,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

impl WasiState {
    pub fn new() -> WasiState {
        let stdout = MemoryOutputPipe::new(CAPTURE_BYTES);
        let stderr = MemoryOutputPipe::new(CAPTURE_BYTES);
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

    /// Logs what the guest wrote to stdout and stderr, if anything.
    pub fn flush_output_to_log(&self) {
        for (stream, pipe) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let bytes = pipe.contents();
            if !bytes.is_empty() {
                let text =
                    super::log::clip_to(String::from_utf8_lossy(&bytes).trim_end(), CAPTURE_BYTES);
                tracing::warn!(target: "berth::service", stream, output = %text, "service wrote to {stream}");
            }
        }
    }
}

impl Default for WasiState {
    fn default() -> Self {
        WasiState::new()
    }
}

impl WasiView for ServiceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi.ctx,
            table: &mut self.table,
        }
    }
}

pub fn add_to_linker(linker: &mut Linker<ServiceState>) -> anyhow::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    Ok(())
}
