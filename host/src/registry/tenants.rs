//! Tenants: the default one, those named in the settings, and those created
//! through the admin API (recorded in the host database). Each has its own
//! services, settings, limits and data; deleting one takes its services out
//! but keeps its data on disk.

use std::sync::Arc;

use super::{DEFAULT_TENANT, DeployError, Registry, Snapshot, Source, TenantSnapshot};
use crate::config::names::validate_tenant;

impl Registry {
    /// Whether `tenant` exists.
    pub fn has_tenant(&self, tenant: &str) -> bool {
        self.snapshot().tenant(tenant).is_some()
    }

    /// Every tenant with the number of its live services.
    pub fn tenants(&self) -> Vec<(String, usize)> {
        self.snapshot()
            .tenants
            .iter()
            .map(|(name, t)| (name.clone(), t.services.len()))
            .collect()
    }

    /// Creates a tenant (no-op if it exists); whether it was new.
    pub async fn create_tenant(&self, tenant: &str) -> Result<bool, DeployError> {
        validate_tenant(tenant).map_err(DeployError::Manifest)?;
        let at = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
        let existed = self.has_tenant(tenant);
        // New by the records (a replica following them may add it to its
        // snapshot before this line's own add does).
        let recorded = self.host_db.create_tenant(tenant, &at).await?;
        self.add_tenant(tenant).await;
        let created = recorded && !existed;
        self.host_db.notify_change(tenant, "*").await;
        Ok(created)
    }

    /// Adds a known tenant to the live snapshot.
    pub(super) async fn add_tenant(&self, tenant: &str) -> bool {
        let tenant_lock = self.locks.tenant(tenant);
        let _tenant = tenant_lock.lock().await;
        let added = self
            .locks
            .modify(&self.current, |current| {
                if current.tenant(tenant).is_some() {
                    return Ok::<_, std::convert::Infallible>(None);
                }
                let mut tenants = current.tenants.clone();
                tenants.insert(tenant.to_string(), Arc::new(TenantSnapshot::default()));
                Ok(Some(Snapshot { tenants }))
            })
            .unwrap_or_else(|never| match never {});
        if added {
            tracing::info!(tenant, "tenant created");
        }
        added
    }

    /// Brings back the tenants recorded in the host database.
    pub(super) async fn restore_tenants(&self) {
        match self.host_db.tenant_names().await {
            Ok(names) => {
                for name in names {
                    self.add_tenant(&name).await;
                }
            }
            Err(error) => tracing::error!(%error, "cannot read the tenants"),
        }
    }

    /// Takes every service of the tenant out and forgets the tenant. Its
    /// data stays on disk. The default tenant and configured ones stay.
    pub async fn delete_tenant(&self, tenant: &str) -> Result<(), DeployError> {
        if tenant == DEFAULT_TENANT || self.policy.tenants().any(|t| t == tenant) {
            return Err(DeployError::Conflict(format!(
                "tenant `{tenant}` is the default or is configured in berth.toml and cannot be deleted"
            )));
        }
        let services: Vec<String> = match self.snapshot().tenant(tenant) {
            Some(t) => t.services.keys().cloned().collect(),
            None => {
                return Err(DeployError::NotFound(format!(
                    "tenant `{tenant}` does not exist"
                )));
            }
        };
        for service in services {
            self.undeploy(tenant, &service, Source::Api).await?;
        }
        self.host_db.delete_tenant(tenant).await?;
        self.forget_tenant(tenant).await;
        self.host_db.notify_change(tenant, "*").await;
        Ok(())
    }

    /// Drops a tenant from the snapshot.
    pub(super) async fn forget_tenant(&self, tenant: &str) {
        let tenant_lock = self.locks.tenant(tenant);
        let _tenant = tenant_lock.lock().await;
        // Only if the records (still) say it is gone.
        match self.host_db.tenant_names().await {
            Ok(names) if names.iter().any(|n| n == tenant) => return,
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, tenant, "cannot check the tenant's record; keeping it");
                return;
            }
        }
        let removed = self
            .locks
            .modify(&self.current, |current| {
                let mut tenants = current.tenants.clone();
                Ok::<_, std::convert::Infallible>(
                    tenants.remove(tenant).map(|_| Snapshot { tenants }),
                )
            })
            .unwrap_or_else(|never| match never {});
        if removed {
            self.logs.forget_tenant(tenant);
            tracing::info!(tenant, "tenant deleted");
        }
    }
}
