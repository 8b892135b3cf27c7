//! Live logs, per tenant × service: what the service logged and wrote to
//! stdout and stderr, one line per request it answered, and the host's
//! lines about it (deploys, rollbacks, canaries, traps, deadlines). Each
//! service's lines are kept in a bounded ring and streamed to followers
//! (`berth logs --follow`, the console's log panel).
//!
//! A line is filed under the tenant and service the host gave the
//! deployment, never under anything the service or a client says, so one
//! tenant's view cannot show another tenant's lines.

mod ring;

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde::{Serialize, Serializer};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use ring::{Follow, ServiceLog};

/// Services with a log; past it, new ones log nowhere (a deploy of a
/// service takes an operator, so this is only a backstop).
const MAX_LOGS: usize = 4096;
/// Followers streaming at once, across all services.
const MAX_FOLLOWERS: usize = 64;

/// Where a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// The service's `log` calls.
    Service,
    /// What the service wrote to stdout.
    Stdout,
    /// What the service wrote to stderr.
    Stderr,
    /// A request it answered (or the host answered for it).
    Request,
    /// The host about the service: deploys, rollbacks, traps, deadlines.
    Host,
}

/// How much a line matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// One line of a service's log.
#[derive(Debug, Serialize)]
pub struct Line {
    /// Increases with every line of the host, across services.
    pub seq: u64,
    #[serde(serialize_with = "rfc3339")]
    pub time: SystemTime,
    pub level: Level,
    pub origin: Origin,
    pub tenant: Arc<str>,
    pub service: Arc<str>,
    pub message: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub fields: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

fn rfc3339<S: Serializer>(time: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_rfc3339_millis(*time))
}

/// A log's key: its tenant and service.
type Key = (Arc<str>, Arc<str>);

/// Every service's log.
pub struct LogHub {
    logs: Mutex<HashMap<Key, Arc<ServiceLog>>>,
    seq: Arc<AtomicU64>,
    followers: Arc<Semaphore>,
}

impl Default for LogHub {
    fn default() -> LogHub {
        LogHub {
            logs: Mutex::default(),
            seq: Arc::new(AtomicU64::new(1)),
            followers: Arc::new(Semaphore::new(MAX_FOLLOWERS)),
        }
    }
}

impl LogHub {
    /// The log of `service` of `tenant`, created on first use.
    pub fn service(&self, tenant: &str, service: &str) -> Arc<ServiceLog> {
        let mut logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        let key: Key = (Arc::from(tenant), Arc::from(service));
        if let Some(log) = logs.get(&key) {
            return log.clone();
        }
        if logs.len() >= MAX_LOGS {
            tracing::warn!(
                tenant,
                service,
                "{MAX_LOGS} service logs exist; this one is not kept"
            );
            return ServiceLog::detached();
        }
        let log = Arc::new(ServiceLog::new(
            key.0.clone(),
            key.1.clone(),
            self.seq.clone(),
        ));
        logs.insert(key, log.clone());
        log
    }

    /// The log of `service` of `tenant` if it has one (it was deployed, or
    /// a deploy of it was refused, since the host started).
    pub fn existing(&self, tenant: &str, service: &str) -> Option<Arc<ServiceLog>> {
        let logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        logs.get(&(Arc::from(tenant), Arc::from(service))).cloned()
    }

    /// A line from the host about `service` of `tenant`.
    pub fn host(&self, tenant: &str, service: &str, level: Level, message: String) {
        self.service(tenant, service)
            .push(level, Origin::Host, message, String::new(), None);
    }

    /// Forgets the logs of a deleted tenant.
    pub fn forget_tenant(&self, tenant: &str) {
        let mut logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        logs.retain(|(t, _), _| &**t != tenant);
    }

    /// A follower's place, while fewer than [`MAX_FOLLOWERS`] stream.
    pub fn follower(&self) -> Option<OwnedSemaphorePermit> {
        self.followers.clone().try_acquire_owned().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_filed_by_tenant_and_service() {
        let hub = LogHub::default();
        hub.host("acme", "hello", Level::Info, "deployed".into());
        hub.host("globex", "hello", Level::Info, "other".into());
        let acme = hub.existing("acme", "hello").unwrap().recent(10);
        assert_eq!(acme.len(), 1);
        assert_eq!(acme[0].message, "deployed");
        assert!(hub.existing("acme", "items").is_none());
        hub.forget_tenant("acme");
        assert!(hub.existing("acme", "hello").is_none());
        assert!(hub.existing("globex", "hello").is_some());
    }

    #[test]
    fn followers_are_bounded() {
        let hub = LogHub::default();
        let permits: Vec<_> = (0..MAX_FOLLOWERS).map_while(|_| hub.follower()).collect();
        assert_eq!(permits.len(), MAX_FOLLOWERS);
        assert!(hub.follower().is_none());
        drop(permits);
        assert!(hub.follower().is_some());
    }
}
