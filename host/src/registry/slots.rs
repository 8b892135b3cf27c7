//! The admission gates of each tenant × service (shared by all its
//! versions, so a swap does not reset the count or the queue) and of each
//! tenant. See `crate::admission`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::admission::{Gate, QueueMetrics};

/// A service's gate and the metrics of its queue.
type ServiceGate = (Arc<Gate>, Arc<QueueMetrics>);

#[derive(Debug, Default)]
pub struct Slots {
    services: Mutex<HashMap<(String, String), ServiceGate>>,
    tenants: Mutex<HashMap<String, Arc<Gate>>>,
}

impl Slots {
    /// The gate and queue metrics of `service` of `tenant`.
    pub fn service(
        &self,
        tenant: &str,
        service: &str,
        permits: u32,
        max_queue: u32,
    ) -> ServiceGate {
        self.services
            .lock()
            .expect("slot map poisoned")
            .entry((tenant.to_string(), service.to_string()))
            .or_insert_with(|| {
                (
                    Arc::new(Gate::new(permits as usize, max_queue as usize)),
                    Arc::new(QueueMetrics::new(tenant, service)),
                )
            })
            .clone()
    }

    /// The gate of `tenant`: its concurrency, with a queue four times that.
    pub fn tenant(&self, tenant: &str, permits: u32) -> Arc<Gate> {
        self.tenants
            .lock()
            .expect("slot map poisoned")
            .entry(tenant.to_string())
            .or_insert_with(|| {
                Arc::new(Gate::new(
                    permits as usize,
                    (permits as usize).saturating_mul(4).max(100),
                ))
            })
            .clone()
    }
}
