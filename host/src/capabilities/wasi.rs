//! The slice of WASI a service gets: no preopened directories, no
//! environment variables or arguments, no sockets, no stdin. Clocks and
//! randomness work; stdout and stderr are captured (bounded) and logged, so a
//! panic message reaches the host's log.

use wasmtime::component::{Linker, ResourceTable};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

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

/// Links WASI 0.2 into any store whose data is a [`WasiView`].
pub fn add_to_linker<T: WasiView + 'static>(linker: &mut Linker<T>) -> anyhow::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_captured_up_to_a_bound_and_logged_escaped() {
        use wasmtime_wasi::p2::OutputStream as _;
        let state = WasiState::new();
        let mut out = state.stdout.clone();
        out.write(bytes::Bytes::from(vec![b'x'; CAPTURE_BYTES / 2]))
            .unwrap();
        out.write(bytes::Bytes::from(vec![b'x'; CAPTURE_BYTES / 2]))
            .unwrap();
        assert!(
            out.write(bytes::Bytes::from_static(b"more")).is_err(),
            "past the bound, writes fail"
        );
        assert_eq!(state.stdout.contents().len(), CAPTURE_BYTES);
        state.flush_output_to_log();
    }
}
