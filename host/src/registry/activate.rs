//! The last steps of the deploy pipeline, and undeploy: check a version's
//! routes against the tenant's other services, apply its new migrations,
//! record it live, swap the snapshot. See `locks.rs` for who waits for whom.

use std::sync::Arc;

use super::deploy::{DeployError, DeployReport};
use super::{Deployment, Registry, Snapshot, Source};
use crate::db::NewDeployment;

impl Registry {
    /// The snapshot with `deployment` live in its tenant, or why not.
    fn with_deployment(
        current: &Snapshot,
        deployment: &Arc<Deployment>,
    ) -> Result<Snapshot, DeployError> {
        let tenant = current
            .tenant(&deployment.tenant)
            .cloned()
            .unwrap_or_default();
        if let Some(live) = tenant.services.get(&deployment.name)
            && let (Source::File(live_file), Source::File(new_file)) =
                (&live.source, &deployment.source)
            && live_file != new_file
            && live_file.exists()
        {
            return Err(DeployError::Conflict(format!(
                "service `{}` is already deployed from {}",
                deployment.name,
                live_file.display()
            )));
        }
        let mut services = tenant.services.clone();
        services.insert(deployment.name.clone(), deployment.clone());
        current
            .with_tenant(&deployment.tenant, services)
            .map_err(|e| DeployError::Routes(e.to_string()))
    }

    /// Checks routes against the tenant's other services, applies new
    /// migrations, records the version live (when `record`), and swaps.
    pub(super) async fn activate(
        &self,
        deployment: Deployment,
        record: bool,
    ) -> Result<DeployReport, DeployError> {
        let service_lock = self.locks.service(&deployment.tenant, &deployment.name);
        let _service = service_lock.lock().await;
        if !record {
            // Following the records (a restart, another replica): apply it
            // only if it is still what the records say, so that a version
            // recorded meanwhile is never overwritten by an older one.
            let live = self
                .host_db
                .live_one(&deployment.tenant, &deployment.name)
                .await
                .map_err(|e| DeployError::Unavailable(e.to_string()))?;
            if live.is_none_or(|r| r.digest != deployment.digest) {
                return Err(DeployError::Conflict(format!(
                    "service `{}` was changed meanwhile; not applying an older record",
                    deployment.name
                )));
            }
        }
        let deployment = Arc::new(deployment);
        // Refuse conflicts before migrating; checked again before the swap.
        Self::with_deployment(&self.current.load(), &deployment)?;
        let migrations_applied = match &deployment.namespace {
            Some(ns) => ns
                .migrate(&deployment.manifest.migrations)
                .await
                .map_err(|e| DeployError::Migration(e.to_string()))?,
            None => Vec::new(),
        };
        let tenant_lock = self.locks.tenant(&deployment.tenant);
        let _tenant = tenant_lock.lock().await;
        Self::with_deployment(&self.current.load(), &deployment)?;
        if record {
            self.host_db
                .record_live(&NewDeployment {
                    tenant: &deployment.tenant,
                    service: &deployment.name,
                    version: &deployment.version,
                    digest: &deployment.digest,
                    source: &deployment.source.record(),
                })
                .await
                .map_err(|e| DeployError::Unavailable(e.to_string()))?;
        }
        // Under the tenant's lock nothing else changes this tenant.
        self.locks.modify(&self.current, |current| {
            Self::with_deployment(current, &deployment).map(Some)
        })?;
        drop(_tenant);
        if record {
            self.host_db
                .notify_change(&deployment.tenant, &deployment.name)
                .await;
        }
        Ok(DeployReport {
            tenant: deployment.tenant.clone(),
            name: deployment.name.clone(),
            version: deployment.version.clone(),
            digest: deployment.digest.clone(),
            migrations_applied,
        })
    }

    /// Removes a service from the snapshot, recording it unless `why` is
    /// `None` (a replica following another's records). Whether it was live.
    pub(super) async fn remove(
        &self,
        tenant: &str,
        name: &str,
        why: Option<&Source>,
    ) -> Result<bool, DeployError> {
        let service_lock = self.locks.service(tenant, name);
        let _service = service_lock.lock().await;
        let tenant_lock = self.locks.tenant(tenant);
        let _tenant = tenant_lock.lock().await;
        if why.is_none() {
            // Following the records: only if they (still) say it is gone.
            let live = self
                .host_db
                .live_one(tenant, name)
                .await
                .map_err(|e| DeployError::Unavailable(e.to_string()))?;
            if live.is_some() {
                return Ok(false);
            }
        }
        let is_live = self
            .current
            .load()
            .tenant(tenant)
            .is_some_and(|t| t.services.contains_key(name));
        if !is_live {
            return Ok(false);
        }
        if let Some(why) = why {
            self.host_db
                .record_undeploy(tenant, name, &why.record())
                .await
                .map_err(|e| DeployError::Unavailable(e.to_string()))?;
        }
        self.locks.modify(&self.current, |current| {
            let Some(snapshot) = current.tenant(tenant) else {
                return Ok::<_, DeployError>(None);
            };
            let mut services = snapshot.services.clone();
            services.remove(name);
            Ok(Some(
                current
                    .with_tenant(tenant, services)
                    .expect("removing a service cannot create a conflict"),
            ))
        })?;
        tracing::info!(tenant, service = name, source = ?why.map(Source::record), "service undeployed");
        Ok(true)
    }
}
