//! One isolated namespace per tenant × service. On SQLite it is a database
//! file of its own, reached only through sandboxed connections; on
//! PostgreSQL a schema of its own, reached only as a login role with rights
//! on that schema alone. Either way the service cannot name another
//! service's tables, whatever SQL it sends. Pools open lazily and let idle
//! connections go.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::OnceCell;

use super::backend::{Backend, BackendTx, Held, ResultLimits, Store};
use super::limits::{LiveLimits, NamespaceLimits};
use super::migrate::MigrationError;
use crate::bindings::berth::service::database::{Error, Rows, Value};
use crate::bindings::{Dialect, Migration};

/// A namespace, once opened.
type NamespaceCell = Arc<OnceCell<Arc<Namespace>>>;

/// Opens namespaces, one per tenant × service, and hands out the same one to
/// every version of a service.
pub struct Namespaces {
    store: Box<dyn Store>,
    /// One cell per tenant × service, filled once: opening one namespace
    /// (a database round trip on PostgreSQL) never waits for another.
    open: std::sync::Mutex<HashMap<(String, String), NamespaceCell>>,
}

impl std::fmt::Debug for Namespaces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespaces").finish_non_exhaustive()
    }
}

impl Namespaces {
    pub fn new(store: impl Store + 'static) -> Namespaces {
        Namespaces {
            store: Box::new(store),
            open: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The namespace of `service` for `tenant` (created on first use),
    /// held to `limits`. Names are validated identifiers
    /// (`config::names`).
    pub async fn get(
        &self,
        tenant: &str,
        service: &str,
        limits: &NamespaceLimits,
    ) -> anyhow::Result<Arc<Namespace>> {
        let cell = self
            .open
            .lock()
            .expect("namespace map poisoned")
            .entry((tenant.to_string(), service.to_string()))
            .or_default()
            .clone();
        let mut created = false;
        let ns = cell
            .get_or_try_init(|| {
                created = true;
                async {
                    let live = LiveLimits::new(limits);
                    let backend = self.store.open(tenant, service, live.clone()).await?;
                    anyhow::Ok(Arc::new(Namespace {
                        backend,
                        limits: live,
                    }))
                }
            })
            .await?
            .clone();
        if !created && ns.limits.set(limits) {
            ns.backend.limits_changed(limits).await;
        }
        Ok(ns)
    }

    pub async fn close(&self) {
        let all: Vec<_> = self
            .open
            .lock()
            .expect("namespace map poisoned")
            .drain()
            .collect();
        for (_, cell) in all {
            if let Some(ns) = cell.get() {
                ns.backend.close().await;
            }
        }
    }
}

/// A service's own database.
pub struct Namespace {
    backend: Box<dyn Backend>,
    limits: Arc<LiveLimits>,
}

impl std::fmt::Debug for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespace")
            .field("dialect", &self.dialect())
            .finish_non_exhaustive()
    }
}

/// An open transaction on a namespace; dropped means rolled back.
pub type NamespaceTx = Box<dyn BackendTx>;

impl Namespace {
    pub fn dialect(&self) -> Dialect {
        self.backend.dialect()
    }

    pub async fn query(
        &self,
        held: &mut Held,
        sql: &str,
        params: Vec<Value>,
        limits: ResultLimits,
    ) -> Result<Rows, Error> {
        self.backend.query(held, sql, params, limits).await
    }

    pub async fn execute(
        &self,
        held: &mut Held,
        sql: &str,
        params: Vec<Value>,
    ) -> Result<u64, Error> {
        self.backend.execute(held, sql, params).await
    }

    pub async fn begin(&self, held: &mut Held) -> Result<NamespaceTx, Error> {
        self.backend.begin(held).await
    }

    /// Applies the service's migrations that are not yet applied.
    pub async fn migrate(&self, migrations: &[Migration]) -> Result<Vec<u32>, MigrationError> {
        self.backend.migrate(migrations).await
    }

    /// The limits it enforces now.
    pub fn limits(&self) -> NamespaceLimits {
        self.limits.get()
    }
}
