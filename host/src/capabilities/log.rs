//! `berth:service/log`: a service's messages become tracing events inside
//! the request's span, tagged with the service, and lines of its live log
//! (`crate::logs`). Bounded per request so that a chatty or hostile service
//! cannot flood the host's log.

use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker};

use crate::bindings::berth::service::log::{Host, Level, add_to_linker as link};
use crate::logs::{self, MAX_TEXT, Origin, ServiceLog};

/// Messages a single request may log; later ones are counted and dropped.
const MAX_MESSAGES: u32 = 1000;
/// Fields kept per message; the rest are dropped.
const MAX_FIELDS: usize = 32;
/// Bytes (messages and fields) a single request may log in all.
const MAX_BYTES: usize = 256 * 1024;

/// Per-request logging state.
pub struct LogCtx {
    service: String,
    live: Arc<ServiceLog>,
    /// The request being served, for its live log lines.
    request_id: Option<String>,
    emitted: u32,
    bytes: usize,
    dropped: u32,
}

impl LogCtx {
    pub fn new(service: &str, live: Arc<ServiceLog>) -> LogCtx {
        LogCtx {
            service: service.to_string(),
            live,
            request_id: None,
            emitted: 0,
            bytes: 0,
            dropped: 0,
        }
    }
}

impl LogCtx {
    /// Starts serving the request with id `request_id`.
    pub fn start_request(&mut self, request_id: &str) {
        self.request_id = (!request_id.is_empty()).then(|| clip_to(request_id, 64));
    }

    /// What the guest wrote to `stream` during the request, already
    /// bounded, into its live log.
    pub fn output(&self, stream: Origin, text: String) {
        let level = if stream == Origin::Stderr {
            logs::Level::Warn
        } else {
            logs::Level::Info
        };
        self.live.push(
            level,
            stream,
            text,
            String::new(),
            self.request_id.as_deref(),
        );
    }

    /// The id of the request being served (empty when none was given).
    pub fn request_id(&self) -> &str {
        self.request_id.as_deref().unwrap_or_default()
    }

    /// The service this log is of.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Ends a request: says what was dropped, and gives the next request
    /// (of an instance reused across requests) the whole budget again.
    pub fn end_request(&mut self) {
        if self.dropped > 0 {
            tracing::warn!(target: "berth::service", service = %self.service, request_id = self.request_id(), dropped = self.dropped,
                "service exceeded {MAX_MESSAGES} log messages or {MAX_BYTES} log bytes in one request");
        }
        self.emitted = 0;
        self.bytes = 0;
        self.dropped = 0;
        self.request_id = None;
    }
}

impl Drop for LogCtx {
    fn drop(&mut self) {
        self.end_request();
    }
}

pub use crate::logs::{clip, clip_to};

impl Host for LogCtx {
    fn log(
        &mut self,
        level: Level,
        message: String,
        fields: Vec<(String, String)>,
    ) -> wasmtime::Result<()> {
        if self.emitted >= MAX_MESSAGES || self.bytes >= MAX_BYTES {
            self.dropped += 1;
            return Ok(());
        }
        self.emitted += 1;
        let message = clip(&message);
        let mut fields = fields
            .iter()
            .take(MAX_FIELDS)
            .map(|(k, v)| format!("{}={}", clip(k), clip(v)))
            .collect::<Vec<_>>()
            .join(" ");
        if fields.len() > MAX_TEXT {
            fields = clip(&fields);
        }
        self.bytes += message.len() + fields.len();
        let service = self.service.as_str();
        let request_id = self.request_id();
        let live_level = match level {
            Level::Trace => logs::Level::Trace,
            Level::Debug => logs::Level::Debug,
            Level::Info => logs::Level::Info,
            Level::Warn => logs::Level::Warn,
            Level::Error => logs::Level::Error,
        };
        macro_rules! emit {
            ($level:expr) => {
                tracing::event!(target: "berth::service", $level, service, request_id, fields, "{message}")
            };
        }
        match level {
            Level::Trace => emit!(tracing::Level::TRACE),
            Level::Debug => emit!(tracing::Level::DEBUG),
            Level::Info => emit!(tracing::Level::INFO),
            Level::Warn => emit!(tracing::Level::WARN),
            Level::Error => emit!(tracing::Level::ERROR),
        }
        self.live.push(
            live_level,
            Origin::Service,
            message,
            fields,
            self.request_id.as_deref(),
        );
        Ok(())
    }
}

/// Links the interface into any store whose data holds a [`LogCtx`].
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    ctx: fn(&mut T) -> &mut LogCtx,
) -> anyhow::Result<()> {
    link::<T, HasSelf<LogCtx>>(linker, ctx)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_text_cannot_forge_lines_or_grow_without_bound() {
        assert_eq!(clip("a\nINFO forged\r"), "a\\nINFO forged\\r");
        assert!(clip(&"x".repeat(100_000)).len() <= MAX_TEXT + 4);
        let mut ctx = LogCtx::new("s", ServiceLog::detached());
        let fields: Vec<(String, String)> = (0..10_000)
            .map(|i| (format!("k{i}"), "v".repeat(4096)))
            .collect();
        for _ in 0..200 {
            ctx.log(Level::Info, "m".into(), fields.clone()).unwrap();
        }
        assert!(ctx.bytes <= MAX_BYTES + 2 * MAX_TEXT + 8, "{}", ctx.bytes);
        assert!(ctx.dropped > 0);
    }
}
