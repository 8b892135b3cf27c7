//! Concurrency caps: a semaphore per tenant × service (shared by all its
//! versions, so a swap does not reset the count) and one per tenant. Taken
//! without waiting: over the cap, the request is turned away at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

#[derive(Debug, Default)]
pub struct Slots {
    services: Mutex<HashMap<(String, String), Arc<Semaphore>>>,
    tenants: Mutex<HashMap<String, Arc<Semaphore>>>,
}

fn get_or_make<K: std::hash::Hash + Eq>(
    map: &Mutex<HashMap<K, Arc<Semaphore>>>,
    key: K,
    permits: u32,
) -> Arc<Semaphore> {
    map.lock()
        .expect("slot map poisoned")
        .entry(key)
        .or_insert_with(|| Arc::new(Semaphore::new(permits as usize)))
        .clone()
}

impl Slots {
    pub fn service(&self, tenant: &str, service: &str, permits: u32) -> Arc<Semaphore> {
        get_or_make(
            &self.services,
            (tenant.to_string(), service.to_string()),
            permits,
        )
    }

    pub fn tenant(&self, tenant: &str, permits: u32) -> Arc<Semaphore> {
        get_or_make(&self.tenants, tenant.to_string(), permits)
    }
}
