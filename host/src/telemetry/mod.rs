//! Tracing: text or JSON lines on stderr, filtered by `BERTH_LOG`. Lines
//! go through a non-blocking writer (a thread of their own writes them out,
//! so a request never waits on stderr), without colour codes unless stderr
//! is a terminal.

use std::io::IsTerminal as _;

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

pub mod metrics;

use crate::config::LogFormat;

/// Lines that may wait for the writer; past it, a request waits (no line
/// is dropped).
const BUFFERED_LINES: usize = 64 * 1024;
/// Bytes of lines written out in one go.
const WRITE_BUFFER: usize = 64 * 1024;

/// Installs the subscriber. The guard flushes what is buffered when it is
/// dropped: keep it until the process ends.
pub fn init(filter: &str, format: LogFormat) -> anyhow::Result<WorkerGuard> {
    let filter = EnvFilter::try_new(filter)
        .map_err(|e| anyhow::anyhow!("invalid log filter `{filter}`: {e}"))?;
    let (writer, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(BUFFERED_LINES)
        .lossy(false)
        .thread_name("berth-log")
        // Batches of lines leave in one write: the writer flushes when it
        // has taken every line waiting.
        .finish(std::io::BufWriter::with_capacity(
            WRITE_BUFFER,
            std::io::stderr(),
        ));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(FmtSpan::NONE)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(writer);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("cannot install the log subscriber: {e}"))?;
    Ok(guard)
}
