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
use tokio_util::sync::CancellationToken;

pub use ring::{Follow, ServiceLog};

/// Services with a log, per tenant; past it, a tenant's new services log
/// nowhere, and other tenants are not affected.
const MAX_LOGS_PER_TENANT: usize = 512;
/// Followers streaming at once on tenants' operator tokens, all together.
const MAX_FOLLOWERS: usize = 64;
/// Followers streaming at once on one tenant's operator token: one tenant's
/// operator cannot take every place.
const MAX_FOLLOWERS_PER_TOKEN: usize = 16;

/// Longest message or field value a line keeps, in bytes.
pub const MAX_TEXT: usize = 4096;

/// At most [`MAX_TEXT`] bytes of `text`, with control characters escaped
/// so that a service cannot forge a log line of its own (`\n` and the like
/// come out as `\n`).
pub fn clip(text: &str) -> String {
    clip_to(text, MAX_TEXT)
}

/// [`clip`] to `max` bytes.
pub fn clip_to(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max) + 4);
    for c in text.chars() {
        if out.len() >= max {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

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

impl Line {
    /// The bytes it holds beyond its fixed size.
    fn size(&self) -> usize {
        self.message.len() + self.fields.len() + self.request_id.as_ref().map_or(0, String::len)
    }
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
    /// By the tenant whose operator token follows.
    token_followers: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// Cancelled when the host shuts down: followers end, so that they do
    /// not hold the drain up.
    closing: CancellationToken,
}

impl Default for LogHub {
    fn default() -> LogHub {
        LogHub {
            logs: Mutex::default(),
            seq: Arc::new(AtomicU64::new(1)),
            followers: Arc::new(Semaphore::new(MAX_FOLLOWERS)),
            token_followers: Mutex::default(),
            closing: CancellationToken::new(),
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
        if logs.keys().filter(|(t, _)| &**t == tenant).count() >= MAX_LOGS_PER_TENANT {
            tracing::warn!(
                tenant,
                service,
                "the tenant has {MAX_LOGS_PER_TENANT} service logs; this one is not kept"
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

    /// A line from the host about `service` of `tenant`. The message may
    /// quote what a component says of itself (its version, its routes):
    /// it is clipped, with control characters escaped.
    pub fn host(&self, tenant: &str, service: &str, level: Level, message: String) {
        host_to(&self.service(tenant, service), level, message);
    }

    /// [`LogHub::host`], for a service that has a log already (a refused
    /// deploy of a name never deployed does not get one).
    pub fn host_if_known(&self, tenant: &str, service: &str, level: Level, message: String) {
        if let Some(log) = self.existing(tenant, service) {
            host_to(&log, level, message);
        }
    }

    /// Forgets the logs of a deleted tenant.
    pub fn forget_tenant(&self, tenant: &str) {
        let mut logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        logs.retain(|(t, _), _| &**t != tenant);
    }

    /// A place for a follower. The admin is never refused: what a tenant's
    /// operator does cannot lock the admin out. A tenant's operator token
    /// (`operator_of`, its tenant) may stream [`MAX_FOLLOWERS_PER_TOKEN`] at
    /// once, and all tenants' tokens together [`MAX_FOLLOWERS`]: counted by
    /// who follows, not by whose log is followed.
    pub fn follower(&self, operator_of: Option<&str>) -> Option<Follower> {
        let Some(tenant) = operator_of else {
            return Some(Follower { _places: None });
        };
        let of_token = self
            .token_followers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(tenant.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(MAX_FOLLOWERS_PER_TOKEN)))
            .clone();
        Some(Follower {
            _places: Some((
                of_token.try_acquire_owned().ok()?,
                self.followers.clone().try_acquire_owned().ok()?,
            )),
        })
    }

    /// Ends every follower's stream: the host is shutting down.
    pub fn close(&self) {
        self.closing.cancel();
    }

    /// Cancelled once the host shuts down.
    pub fn closing(&self) -> CancellationToken {
        self.closing.clone()
    }
}

/// A follower's place (none for the admin); given back when it is dropped.
pub struct Follower {
    _places: Option<(OwnedSemaphorePermit, OwnedSemaphorePermit)>,
}

fn host_to(log: &ServiceLog, level: Level, message: String) {
    let message = clip(&message);
    log.push(level, Origin::Host, message, String::new(), None);
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
    fn followers_are_bounded_per_token_and_in_all_but_never_the_admin() {
        let hub = LogHub::default();
        let acme: Vec<_> = (0..100).map_while(|_| hub.follower(Some("acme"))).collect();
        assert_eq!(acme.len(), MAX_FOLLOWERS_PER_TOKEN);
        // The admin follows whatever tenants' operators hold.
        let admin: Vec<_> = (0..200).map_while(|_| hub.follower(None)).collect();
        assert_eq!(admin.len(), 200);
        let others: Vec<_> = (0..100)
            .map_while(|i| hub.follower(Some(&format!("t{}", i / 10))))
            .collect();
        assert_eq!(others.len(), MAX_FOLLOWERS - MAX_FOLLOWERS_PER_TOKEN);
        assert!(hub.follower(Some("globex")).is_none());
        assert!(hub.follower(None).is_some());
        drop(acme);
        assert!(hub.follower(Some("globex")).is_some());
    }
}
