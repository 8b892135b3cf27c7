//! Who may change what is live, and when. A deploy holds its service's lock
//! from migrations to swap, and its tenant's lock only around the last step
//! (check routes, record, swap), so that one service's slow migration never
//! holds up another service, let alone another tenant. The snapshot itself
//! is replaced under a plain mutex that is never held across an `.await`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::Snapshot;

type AsyncLock = Arc<tokio::sync::Mutex<()>>;

#[derive(Debug, Default)]
pub struct Locks {
    tenants: Mutex<HashMap<String, AsyncLock>>,
    services: Mutex<HashMap<(String, String), AsyncLock>>,
    /// Serializes load-modify-store of the snapshot.
    swap: Mutex<()>,
}

impl Locks {
    /// The lock of one tenant's set of services.
    pub fn tenant(&self, tenant: &str) -> AsyncLock {
        self.tenants
            .lock()
            .expect("lock map poisoned")
            .entry(tenant.to_string())
            .or_default()
            .clone()
    }

    /// The lock of one service of one tenant.
    pub fn service(&self, tenant: &str, service: &str) -> AsyncLock {
        self.services
            .lock()
            .expect("lock map poisoned")
            .entry((tenant.to_string(), service.to_string()))
            .or_default()
            .clone()
    }

    /// Replaces the snapshot with what `change` makes of the current one
    /// (`None`: leave it).
    pub fn modify<E>(
        &self,
        current: &arc_swap::ArcSwap<Snapshot>,
        change: impl FnOnce(&Snapshot) -> Result<Option<Snapshot>, E>,
    ) -> Result<bool, E> {
        let _swap = self.swap.lock().expect("snapshot lock poisoned");
        match change(&current.load())? {
            Some(next) => {
                current.store(Arc::new(next));
                Ok(true)
            }
            None => Ok(false),
        }
    }
}
