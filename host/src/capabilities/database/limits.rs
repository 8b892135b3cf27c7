//! The limits a namespace enforces, changeable while its connections run
//! (a redeploy with another configuration).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The limits of one namespace, from the deployment's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamespaceLimits {
    pub statement_timeout: Duration,
    pub migration_timeout: Duration,
    /// Longest text or blob a statement may build.
    pub max_value_bytes: u64,
    /// Largest the namespace's data may grow.
    pub max_database_bytes: u64,
}

impl Default for NamespaceLimits {
    fn default() -> Self {
        NamespaceLimits {
            statement_timeout: Duration::from_secs(5),
            migration_timeout: Duration::from_secs(60),
            max_value_bytes: 16 << 20,
            max_database_bytes: 1 << 30,
        }
    }
}

/// The limits as the connections read them, changeable while they run.
#[derive(Debug, Default)]
pub struct LiveLimits {
    /// Shared with every connection's statement clock.
    pub statement_timeout_ms: Arc<AtomicU64>,
    migration_timeout_ms: AtomicU64,
    max_value_bytes: AtomicU64,
    max_database_bytes: AtomicU64,
}

impl LiveLimits {
    pub fn new(limits: &NamespaceLimits) -> Arc<LiveLimits> {
        let live = Arc::new(LiveLimits::default());
        live.set(limits);
        live
    }

    /// Whether anything changed.
    pub fn set(&self, limits: &NamespaceLimits) -> bool {
        let old = self.get();
        self.statement_timeout_ms
            .store(millis(limits.statement_timeout), Ordering::Relaxed);
        self.migration_timeout_ms
            .store(millis(limits.migration_timeout), Ordering::Relaxed);
        self.max_value_bytes
            .store(limits.max_value_bytes, Ordering::Relaxed);
        self.max_database_bytes
            .store(limits.max_database_bytes, Ordering::Relaxed);
        old != *limits
    }

    pub fn get(&self) -> NamespaceLimits {
        NamespaceLimits {
            statement_timeout: Duration::from_millis(
                self.statement_timeout_ms.load(Ordering::Relaxed),
            ),
            migration_timeout: Duration::from_millis(
                self.migration_timeout_ms.load(Ordering::Relaxed),
            ),
            max_value_bytes: self.max_value_bytes.load(Ordering::Relaxed),
            max_database_bytes: self.max_database_bytes.load(Ordering::Relaxed),
        }
    }
}

pub fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
