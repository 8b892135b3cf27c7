//! One service's log: the newest lines in a ring bounded in lines and
//! bytes, and a broadcast of each new line to its followers. A follower
//! that falls behind loses lines (and is told how many), never slows the
//! service down.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use tokio::sync::broadcast;

use super::{Level, Line, Origin};

/// Lines kept per service.
const MAX_LINES: usize = 1000;
/// Bytes of messages and fields kept per service.
const MAX_BYTES: usize = 256 * 1024;
/// Lines a follower may be behind before it loses some (which also
/// bounds what a follower that stopped reading keeps alive).
const FOLLOW_BUFFER: usize = 256;

#[derive(Default)]
struct Ring {
    lines: VecDeque<Arc<Line>>,
    bytes: usize,
}

pub struct ServiceLog {
    tenant: Arc<str>,
    service: Arc<str>,
    seq: Arc<AtomicU64>,
    ring: Mutex<Ring>,
    live: broadcast::Sender<Arc<Line>>,
}

impl std::fmt::Debug for ServiceLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceLog")
            .field("tenant", &self.tenant)
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

/// A follower: the lines kept when it started, then every new one.
pub struct Follow {
    pub backlog: Vec<Arc<Line>>,
    pub live: broadcast::Receiver<Arc<Line>>,
}

impl ServiceLog {
    pub(super) fn new(tenant: Arc<str>, service: Arc<str>, seq: Arc<AtomicU64>) -> ServiceLog {
        ServiceLog {
            tenant,
            service,
            seq,
            ring: Mutex::default(),
            live: broadcast::channel(FOLLOW_BUFFER).0,
        }
    }

    /// A log that keeps nothing: for calls outside a deployment
    /// (`describe()` while a component is checked).
    pub fn detached() -> Arc<ServiceLog> {
        static DETACHED: OnceLock<Arc<ServiceLog>> = OnceLock::new();
        DETACHED
            .get_or_init(|| {
                Arc::new(ServiceLog::new(
                    Arc::from(""),
                    Arc::from(""),
                    Arc::new(AtomicU64::new(1)),
                ))
            })
            .clone()
    }

    fn is_detached(&self) -> bool {
        self.service.is_empty()
    }

    /// Adds a line. The caller has bounded `message` and `fields`; the
    /// request id is cut to 64 bytes here.
    pub fn push(
        &self,
        level: Level,
        origin: Origin,
        message: String,
        fields: String,
        request_id: Option<&str>,
    ) {
        if self.is_detached() {
            return;
        }
        let line = Arc::new(Line {
            seq: 0,
            time: SystemTime::now(),
            level,
            origin,
            tenant: self.tenant.clone(),
            service: self.service.clone(),
            message,
            fields,
            request_id: request_id.map(|id| super::clip_to(id, 64)),
        });
        self.append(line);
    }

    fn append(&self, mut line: Arc<Line>) {
        let size = line.size();
        let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        // Numbered under the lock, so that the ring and every follower see
        // the lines of a service in order.
        Arc::get_mut(&mut line)
            .expect("a new line has no other holder")
            .seq = self.seq.fetch_add(1, Ordering::Relaxed);
        while !ring.lines.is_empty()
            && (ring.lines.len() >= MAX_LINES || ring.bytes + size > MAX_BYTES)
        {
            if let Some(old) = ring.lines.pop_front() {
                ring.bytes -= old.size();
            }
        }
        ring.bytes += size;
        ring.lines.push_back(line.clone());
        // No follower is not an error.
        let _ = self.live.send(line);
    }

    /// The newest `n` lines, oldest first.
    pub fn recent(&self, n: usize) -> Vec<Arc<Line>> {
        let ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        let skip = ring.lines.len().saturating_sub(n);
        ring.lines.iter().skip(skip).cloned().collect()
    }

    /// The newest `n` lines and every line after them, with no gap and no
    /// line twice.
    pub fn follow(&self, n: usize) -> Follow {
        let ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        let live = self.live.subscribe();
        let skip = ring.lines.len().saturating_sub(n);
        Follow {
            backlog: ring.lines.iter().skip(skip).cloned().collect(),
            live,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log() -> ServiceLog {
        ServiceLog::new(Arc::from("t"), Arc::from("s"), Arc::new(AtomicU64::new(1)))
    }

    #[test]
    fn the_ring_keeps_the_newest_lines_within_its_bounds() {
        let log = log();
        for i in 0..(MAX_LINES + 50) {
            log.push(
                Level::Info,
                Origin::Service,
                format!("{i}"),
                String::new(),
                None,
            );
        }
        let lines = log.recent(usize::MAX);
        assert_eq!(lines.len(), MAX_LINES);
        assert_eq!(lines.last().unwrap().message, format!("{}", MAX_LINES + 49));
        assert!(lines.windows(2).all(|w| w[0].seq < w[1].seq));
        for _ in 0..200 {
            log.push(
                Level::Info,
                Origin::Stdout,
                "x".repeat(4096),
                "y".repeat(4096),
                None,
            );
        }
        let ring = log.ring.lock().unwrap();
        assert!(ring.bytes <= MAX_BYTES, "{}", ring.bytes);
        assert_eq!(
            ring.bytes,
            ring.lines.iter().map(|l| l.size()).sum::<usize>()
        );
    }

    #[tokio::test]
    async fn a_follower_sees_the_backlog_then_every_new_line_once() {
        let log = log();
        for i in 0..5 {
            log.push(
                Level::Info,
                Origin::Service,
                format!("old {i}"),
                String::new(),
                None,
            );
        }
        let mut follow = log.follow(2);
        assert_eq!(
            follow
                .backlog
                .iter()
                .map(|l| l.message.as_str())
                .collect::<Vec<_>>(),
            ["old 3", "old 4"]
        );
        log.push(
            Level::Warn,
            Origin::Host,
            "new".into(),
            String::new(),
            Some("r1"),
        );
        let line = follow.live.recv().await.unwrap();
        assert_eq!(line.message, "new");
        assert_eq!(line.request_id.as_deref(), Some("r1"));
        assert!(line.seq > follow.backlog[1].seq);
    }

    #[test]
    fn a_detached_log_keeps_nothing() {
        let log = ServiceLog::detached();
        log.push(
            Level::Error,
            Origin::Stderr,
            "x".into(),
            String::new(),
            None,
        );
        assert!(log.recent(10).is_empty());
    }
}
