//! Admission: the caps in front of a service, each a semaphore (tokio's,
//! which hands permits out first come, first served) with a bounded queue.
//! A request over a cap waits — holding no instance and no memory slot —
//! for up to the deployment's queue budget; it is refused (503, or 429 for
//! the tenant's cap, with `Retry-After`) only when the queue is full or the
//! budget runs out. The caps bound memory and protect neighbours; they do
//! not refuse work the machine can do.
//!
//! A request passes three gates in turn: its service's (`max_concurrency`),
//! its tenant's (`tenant_max_concurrency`, at most its share of the instance
//! pool), and the instance pool's. Each tenant has gates of its own, so one
//! tenant's queue never holds up another's.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why a gate turned a request away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The queue was full.
    QueueFull,
    /// The request waited its whole budget.
    WaitedTooLong,
}

/// A cap with a bounded first-come-first-served queue in front of it.
#[derive(Debug)]
pub struct Gate {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_queue: usize,
}

impl Gate {
    pub fn new(permits: usize, max_queue: usize) -> Gate {
        Gate {
            permits: Arc::new(Semaphore::new(permits)),
            waiting: AtomicUsize::new(0),
            max_queue,
        }
    }

    /// Requests waiting at this gate now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// A permit, at once or after waiting in line for up to `budget`.
    pub async fn enter(&self, budget: Duration) -> Result<OwnedSemaphorePermit, Refusal> {
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let in_line = InLine::join(&self.waiting);
        if in_line.ahead >= self.max_queue {
            return Err(Refusal::QueueFull);
        }
        let waited = tokio::time::timeout(budget, self.permits.clone().acquire_owned()).await;
        drop(in_line);
        match waited {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) | Err(_) => Err(Refusal::WaitedTooLong),
        }
    }
}

/// One place in a queue, given back however the wait ends — also when the
/// request is dropped while waiting (its client went away).
struct InLine<'a> {
    count: &'a AtomicUsize,
    /// How many were waiting before this one.
    ahead: usize,
}

impl<'a> InLine<'a> {
    fn join(count: &'a AtomicUsize) -> InLine<'a> {
        InLine {
            count,
            ahead: count.fetch_add(1, Ordering::AcqRel),
        }
    }
}

impl Drop for InLine<'_> {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What a request holds once admitted: dropped, it lets the next one in.
#[derive(Debug)]
pub struct Admitted {
    _service: OwnedSemaphorePermit,
    _tenant: OwnedSemaphorePermit,
    _instance: OwnedSemaphorePermit,
}

/// Which gate refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusedAt {
    Service(Refusal),
    Tenant(Refusal),
    Instances(Refusal),
}

/// The gates one request passes, and where its waiting is counted.
pub struct Gates<'a> {
    pub service: &'a Gate,
    pub tenant: &'a Gate,
    pub instances: &'a Gate,
    /// The request's queue metrics (its tenant × service).
    pub metrics: &'a QueueMetrics,
}

impl Gates<'_> {
    /// Admits the request through every gate, waiting at most `budget` in
    /// all. Queue metrics count the requests that had to wait.
    pub async fn admit(&self, budget: Duration) -> Result<Admitted, RefusedAt> {
        if let (Ok(service), Ok(tenant), Ok(instance)) = (
            self.service.permits.clone().try_acquire_owned(),
            self.tenant.permits.clone().try_acquire_owned(),
            self.instances.permits.clone().try_acquire_owned(),
        ) {
            return Ok(Admitted {
                _service: service,
                _tenant: tenant,
                _instance: instance,
            });
        }
        let started = Instant::now();
        let in_line = InLine::join(&self.metrics.waiting);
        self.metrics.depth.set((in_line.ahead + 1) as f64);
        let admitted = async {
            let service = self
                .service
                .enter(budget)
                .await
                .map_err(RefusedAt::Service)?;
            let left = budget.saturating_sub(started.elapsed());
            let tenant = self.tenant.enter(left).await.map_err(RefusedAt::Tenant)?;
            let left = budget.saturating_sub(started.elapsed());
            let instance = self
                .instances
                .enter(left)
                .await
                .map_err(RefusedAt::Instances)?;
            Ok(Admitted {
                _service: service,
                _tenant: tenant,
                _instance: instance,
            })
        }
        .await;
        drop(in_line);
        self.metrics
            .depth
            .set(self.metrics.waiting.load(Ordering::Relaxed) as f64);
        self.metrics.wait.record(started.elapsed().as_secs_f64());
        admitted
    }
}

/// Queue depth and queue wait of one tenant × service.
#[derive(Debug)]
pub struct QueueMetrics {
    waiting: AtomicUsize,
    depth: metrics::Gauge,
    wait: metrics::Histogram,
}

impl QueueMetrics {
    pub fn new(tenant: &str, service: &str) -> QueueMetrics {
        let labels = [
            ("tenant", tenant.to_string()),
            ("service", service.to_string()),
        ];
        QueueMetrics {
            waiting: AtomicUsize::new(0),
            depth: metrics::gauge!("berth_queue_depth", &labels),
            wait: metrics::histogram!("berth_queue_wait_seconds", &labels),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_gate_queues_in_order_then_refuses_when_full_or_too_slow() {
        let gate = Arc::new(Gate::new(1, 2));
        let first = gate.enter(Duration::from_secs(1)).await.unwrap();
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let gate = gate.clone();
                tokio::spawn(async move { gate.enter(Duration::from_secs(5)).await.is_ok() })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(gate.waiting(), 2);
        assert_eq!(
            gate.enter(Duration::from_secs(1)).await.unwrap_err(),
            Refusal::QueueFull
        );
        drop(first);
        for waiter in waiters {
            assert!(waiter.await.unwrap());
        }
        let held = gate.enter(Duration::from_secs(1)).await.unwrap();
        assert_eq!(
            gate.enter(Duration::from_millis(50)).await.unwrap_err(),
            Refusal::WaitedTooLong
        );
        drop(held);
    }

    #[tokio::test]
    async fn a_request_dropped_while_waiting_gives_its_place_back() {
        let gate = Arc::new(Gate::new(1, 1));
        let held = gate.enter(Duration::from_secs(1)).await.unwrap();
        for _ in 0..3 {
            let waiting = {
                let gate = gate.clone();
                tokio::spawn(async move { gate.enter(Duration::from_secs(60)).await.is_ok() })
            };
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert_eq!(gate.waiting(), 1);
            waiting.abort();
            let _ = waiting.await;
            assert_eq!(gate.waiting(), 0, "the place was not given back");
        }
        drop(held);
        assert!(gate.enter(Duration::from_secs(1)).await.is_ok());
    }
}
