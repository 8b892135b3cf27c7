//! `berth:service/log`: a service's messages become tracing events inside
//! the request's span, tagged with the service. Bounded per request so that a
//! chatty or hostile service cannot flood the host's log.

use wasmtime::component::{HasData, Linker};

use crate::bindings::berth::service::log::{Host, Level, add_to_linker as link};
use crate::runtime::ServiceState;

/// Messages a single request may log; later ones are counted and dropped.
const MAX_MESSAGES: u32 = 1000;
/// Longest message or field value kept, in bytes.
const MAX_TEXT: usize = 4096;

/// Per-request logging state.
#[derive(Debug)]
pub struct LogCtx {
    service: String,
    emitted: u32,
    dropped: u32,
}

impl LogCtx {
    pub fn new(service: &str) -> LogCtx {
        LogCtx {
            service: service.to_string(),
            emitted: 0,
            dropped: 0,
        }
    }
}

impl Drop for LogCtx {
    fn drop(&mut self) {
        if self.dropped > 0 {
            tracing::warn!(target: "berth::service", service = %self.service, dropped = self.dropped,
                "service exceeded {MAX_MESSAGES} log messages in one request");
        }
    }
}

fn clip(mut text: String) -> String {
    if text.len() > MAX_TEXT {
        let mut end = MAX_TEXT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

impl Host for LogCtx {
    fn log(
        &mut self,
        level: Level,
        message: String,
        fields: Vec<(String, String)>,
    ) -> wasmtime::Result<()> {
        if self.emitted >= MAX_MESSAGES {
            self.dropped += 1;
            return Ok(());
        }
        self.emitted += 1;
        let message = clip(message);
        let fields = fields
            .into_iter()
            .map(|(k, v)| format!("{}={}", clip(k), clip(v)))
            .collect::<Vec<_>>()
            .join(" ");
        let service = self.service.as_str();
        macro_rules! emit {
            ($level:expr) => {
                tracing::event!(target: "berth::service", $level, service, fields, "{message}")
            };
        }
        match level {
            Level::Trace => emit!(tracing::Level::TRACE),
            Level::Debug => emit!(tracing::Level::DEBUG),
            Level::Info => emit!(tracing::Level::INFO),
            Level::Warn => emit!(tracing::Level::WARN),
            Level::Error => emit!(tracing::Level::ERROR),
        }
        Ok(())
    }
}

struct Log;

impl HasData for Log {
    type Data<'a> = &'a mut LogCtx;
}

pub fn add_to_linker(linker: &mut Linker<ServiceState>) -> anyhow::Result<()> {
    link::<ServiceState, Log>(linker, |state| &mut state.log)?;
    Ok(())
}
