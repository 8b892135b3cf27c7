//! The limits of one deployment, and how they resolve from their layers.

use std::time::Duration;

use super::{SettingsError, invalid, positive};

/// The limits of one deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// How long a request may run inside the service.
    pub request_timeout: Duration,
    /// Largest linear memory an instance may grow to, in bytes.
    pub memory_bytes: usize,
    /// Most requests the service (all its versions) runs at once.
    pub max_concurrency: u32,
    /// Most rows one query may return.
    pub max_rows: u64,
    /// Most bytes one query may return.
    pub max_result_bytes: u64,
    /// Most statements one request may run.
    pub max_statements: u32,
    /// Largest response body the service may answer with.
    pub max_response_bytes: usize,
    /// Longest one statement may run.
    pub statement_timeout: Duration,
    /// Longest the migrations of one deploy may run.
    pub migration_timeout: Duration,
    /// Largest the service's database may grow, in bytes.
    pub max_database_bytes: u64,
    /// Longest a request waits to be admitted when the service (or its
    /// tenant, or the instance pool) is at its cap.
    pub queue_timeout: Duration,
    /// Most requests waiting to be admitted to the service.
    pub max_queue: u32,
}

layer! {
    /// Per-deployment limits, every field optional: `[limits]` (its
    /// per-deployment keys), `[services.<s>.limits]`, `[tenants.<t>.limits]`,
    /// `[tenants.<t>.services.<s>.limits]`.
    pub struct DeploymentLimitsLayer {
        pub request_timeout_ms: u64,
        pub memory_mb: usize,
        pub max_concurrency: u32,
        pub max_rows: u64,
        pub max_result_bytes: u64,
        pub max_statements: u32,
        pub max_response_bytes: usize,
        pub statement_timeout_ms: u64,
        pub migration_timeout_ms: u64,
        pub max_database_mb: u64,
        pub queue_timeout_ms: u64,
        pub max_queue: u32,
    }
}

impl DeploymentLimitsLayer {
    pub(super) fn resolve(&self) -> Result<Limits, SettingsError> {
        Ok(Limits {
            request_timeout: Duration::from_millis(positive(
                "limits.request_timeout_ms (BERTH_REQUEST_TIMEOUT_MS)",
                self.request_timeout_ms.unwrap_or(10_000),
            )?),
            memory_bytes: positive(
                "limits.memory_mb (BERTH_MEMORY_LIMIT_MB)",
                self.memory_mb.unwrap_or(64),
            )? * 1024
                * 1024,
            max_concurrency: positive(
                "limits.max_concurrency (BERTH_MAX_CONCURRENCY)",
                self.max_concurrency.unwrap_or_else(default_max_concurrency),
            )?,
            max_rows: positive("limits.max_rows", self.max_rows.unwrap_or(10_000))?,
            max_result_bytes: positive(
                "limits.max_result_bytes",
                self.max_result_bytes.unwrap_or(16 << 20),
            )?,
            max_statements: positive(
                "limits.max_statements",
                self.max_statements.unwrap_or(1_000),
            )?,
            max_response_bytes: positive(
                "limits.max_response_bytes",
                self.max_response_bytes.unwrap_or(16 << 20),
            )?,
            statement_timeout: Duration::from_millis(positive(
                "limits.statement_timeout_ms",
                self.statement_timeout_ms.unwrap_or(5_000),
            )?),
            migration_timeout: Duration::from_millis(positive(
                "limits.migration_timeout_ms",
                self.migration_timeout_ms.unwrap_or(60_000),
            )?),
            max_database_bytes: positive(
                "limits.max_database_mb",
                self.max_database_mb.unwrap_or(1024),
            )?
            .saturating_mul(1 << 20),
            queue_timeout: Duration::from_millis(at_most(
                "limits.queue_timeout_ms",
                self.queue_timeout_ms.unwrap_or(DEFAULT_QUEUE_TIMEOUT_MS),
                60_000,
            )?),
            max_queue: at_most(
                "limits.max_queue",
                self.max_queue.unwrap_or(1_000),
                1_000_000,
            )?,
        })
    }
}

/// How long a request may wait to be admitted by default: long enough to
/// ride out a burst of many times what the service serves at once (at
/// 20,000 requests a second, a queue of 1,000 drains in 50 ms), and a tenth
/// of the default request timeout, so that a client that waited still gets
/// its answer well before it would give up.
const DEFAULT_QUEUE_TIMEOUT_MS: u64 = 1_000;

/// Requests one service runs at once unless configured: 16 per core. More
/// only hold instances (and their memory) without serving faster: a guest
/// waiting for a database connection, say, stays suspended inside its
/// instance, so it must keep it. The rest wait in the admission queue,
/// holding nothing. (On 2 cores, `items` at 1000 clients served 12.4k/s
/// with 100 at once and 15.5k/s with 32.)
pub fn default_max_concurrency() -> u32 {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    u32::try_from(cores.saturating_mul(16))
        .unwrap_or(u32::MAX)
        .clamp(16, 1024)
}

/// `value`, unless it is above `max`.
pub(super) fn at_most<T: PartialOrd + std::fmt::Display>(
    setting: &'static str,
    value: T,
    max: T,
) -> Result<T, SettingsError> {
    if value > max {
        Err(invalid(
            setting,
            format!("must be at most {max}, got {value}"),
        ))
    } else {
        Ok(value)
    }
}
