//! The last steps of the deploy pipeline, and undeploy: check a version's
//! routes against the tenant's other services, apply its new migrations,
//! record it live, swap the snapshot. See `locks.rs` for who waits for whom.

use std::sync::Arc;

use super::deploy::DeployReport;
use super::{DeployError, Deployment, Origin, Registry, Snapshot, Source};
use crate::db::NewDeployment;

impl Registry {
    /// The snapshot with `deployment` live in its tenant, or why not.
    pub(super) fn with_deployment(
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
        Ok(current.with_tenant(&deployment.tenant, services, tenant.canaries.clone())?)
    }

    /// Checks routes against the tenant's other services, applies new
    /// migrations, records the version live (when the change is ours), and
    /// swaps.
    pub(super) async fn activate(
        &self,
        deployment: Arc<Deployment>,
        origin: Origin,
    ) -> Result<DeployReport, DeployError> {
        let service_lock = self.locks.service(&deployment.tenant, &deployment.name);
        let _service = service_lock.lock().await;
        if origin == Origin::Replica {
            // Following the records (a restart, another replica): apply it
            // only if it is still what the records say, so that a version
            // recorded meanwhile is never overwritten by an older one.
            let live = self
                .host_db
                .live_one(&deployment.tenant, &deployment.name)
                .await?;
            if live.is_none_or(|r| r.digest != deployment.digest) {
                return Err(DeployError::Conflict(format!(
                    "service `{}` was changed meanwhile; not applying an older record",
                    deployment.name
                )));
            }
        } else if let Some(canary) = self.snapshot().canary(&deployment.tenant, &deployment.name) {
            return Err(super::canary::canary_running(canary));
        }
        let migrations_applied = match &deployment.grants.namespace {
            Some(ns) => ns.migrate(&deployment.manifest.migrations).await?,
            None => Vec::new(),
        };
        let tenant_lock = self.locks.tenant(&deployment.tenant);
        let _tenant = tenant_lock.lock().await;
        Self::with_deployment(&self.current.load(), &deployment)?;
        if let Origin::Local(source) = &origin {
            self.host_db
                .record_live(&NewDeployment {
                    tenant: &deployment.tenant,
                    service: &deployment.name,
                    version: &deployment.version,
                    digest: &deployment.digest,
                    source: &source.record(),
                })
                .await?
                .ok_or_else(|| {
                    DeployError::Conflict(format!(
                        "service `{}` got a canary meanwhile (on another replica): promote or abort it first",
                        deployment.name
                    ))
                })?;
        }
        // Under the tenant's lock nothing else changes this tenant.
        self.locks.modify(&self.current, |current| {
            Self::with_deployment(current, &deployment).map(Some)
        })?;
        drop(_tenant);
        if matches!(origin, Origin::Local(_)) {
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

    /// Removes a service from the snapshot (recording it, and telling the
    /// other replicas, when the change is ours). Whether it was live.
    pub(super) async fn remove(
        &self,
        tenant: &str,
        name: &str,
        origin: Origin,
    ) -> Result<bool, DeployError> {
        let service_lock = self.locks.service(tenant, name);
        let _service = service_lock.lock().await;
        let tenant_lock = self.locks.tenant(tenant);
        let _tenant = tenant_lock.lock().await;
        if origin == Origin::Replica {
            // Following the records: only if they (still) say it is gone.
            let live = self.host_db.live_one(tenant, name).await?;
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
        if let Origin::Local(why) = &origin {
            self.host_db
                .record_undeploy(tenant, name, &why.record())
                .await?;
        }
        self.locks.modify(&self.current, |current| {
            let Some(snapshot) = current.tenant(tenant) else {
                return Ok::<_, DeployError>(None);
            };
            let (mut services, mut canaries) =
                (snapshot.services.clone(), snapshot.canaries.clone());
            services.remove(name);
            // Its canary goes with it (the records say so too).
            canaries.remove(name);
            Ok(Some(
                current
                    .with_tenant(tenant, services, canaries)
                    .expect("removing a service cannot create a conflict"),
            ))
        })?;
        drop(_tenant);
        let why = match &origin {
            Origin::Local(why) => why.record(),
            Origin::Replica => "another replica".into(),
        };
        self.logs.host(
            tenant,
            name,
            crate::logs::Level::Info,
            format!("service undeployed ({why})"),
        );
        match &origin {
            Origin::Local(why) => {
                tracing::info!(tenant, service = name, source = %why, "service undeployed");
                self.host_db.notify_change(tenant, name).await;
            }
            Origin::Replica => {
                tracing::info!(
                    tenant,
                    service = name,
                    "service undeployed, following the records"
                );
            }
        }
        Ok(true)
    }
}
