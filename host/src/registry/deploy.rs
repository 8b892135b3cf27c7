//! The deploy pipeline, used by every way a version arrives (plugin files,
//! the admin API, rollbacks, a restart, another replica): compile (off the
//! request path, cached) → link and check the world → `describe()` → check
//! the manifest → check its routes against the tenant's other services —
//! every check before any side effect — then grant its database namespace,
//! keep the artifact, and activate (`activate.rs`: migrations, record,
//! swap). Any failure leaves what is live untouched and is recorded.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use super::grants::{deployment_settings, grants, namespace_limits};
use super::{
    DeployError, Deployment, Origin, Registry, STATS_WINDOW, Source, components, manifest,
};
use crate::bindings::{Capability, Manifest, ServicePre};
use crate::capabilities::outbound::AllowList;
use crate::config::names::{DEFAULT_TENANT, validate_prefix, validate_service_name};
use crate::db::DeploymentRecord;
use crate::rollout::Window;
use crate::runtime::{Entry, Grants, ServiceState};

/// How long `describe()` may run.
const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Capabilities a deployment may ask for. Outbound HTTP is granted as a
/// capability but reaches only the hosts the operator allow-lists.
const GRANTED: &[Capability] = &[Capability::Database, Capability::OutboundHttp];

/// A version to put live.
#[derive(Debug, Clone)]
pub struct DeployRequest {
    pub tenant: String,
    /// The name to deploy under; the manifest's name when `None`.
    pub name: Option<String>,
    pub bytes: Arc<[u8]>,
    /// The sha256 of `bytes`.
    pub digest: String,
    pub source: Source,
}

impl DeployRequest {
    pub fn new(
        tenant: &str,
        name: Option<&str>,
        bytes: Arc<[u8]>,
        source: Source,
    ) -> DeployRequest {
        DeployRequest {
            tenant: tenant.to_string(),
            name: name.map(str::to_string),
            digest: digest(&bytes),
            bytes,
            source,
        }
    }
}

/// What went live.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeployReport {
    pub tenant: String,
    pub name: String,
    pub version: String,
    pub digest: String,
    pub migrations_applied: Vec<u32>,
}

pub fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Registry {
    /// Puts a version live, or explains why not; returns once it serves.
    pub async fn deploy(&self, request: DeployRequest) -> Result<DeployReport, DeployError> {
        if !self.has_tenant(&request.tenant) {
            return Err(DeployError::NotFound(format!(
                "tenant `{}` does not exist",
                request.tenant
            )));
        }
        let result = self.run_pipeline(&request).await;
        self.log_outcome(&request, &result, "service deployed")
            .await;
        result
    }

    async fn run_pipeline(&self, request: &DeployRequest) -> Result<DeployReport, DeployError> {
        let deployment = self.prepare_and_keep(request).await?;
        self.activate(deployment, Origin::Local(request.source.clone()))
            .await
    }

    /// `request` prepared (every check passed), with its artifact kept.
    pub(super) async fn prepare_and_keep(
        &self,
        request: &DeployRequest,
    ) -> Result<Arc<Deployment>, DeployError> {
        let deployment = self
            .prepare(
                &request.tenant,
                request.name.as_deref(),
                request.bytes.clone(),
                &request.digest,
                request.source.clone(),
            )
            .await?;
        self.artifacts
            .put(&request.digest, request.bytes.clone())
            .await
            .map_err(DeployError::Internal)?;
        Ok(deployment)
    }

    /// Everything up to going live: compile, link, describe, check (the
    /// manifest, then its routes against the tenant's live services), and
    /// only then grant its database namespace.
    pub(super) async fn prepare(
        &self,
        tenant: &str,
        name: Option<&str>,
        bytes: Arc<[u8]>,
        digest: &str,
        source: Source,
    ) -> Result<Arc<Deployment>, DeployError> {
        let component = self
            .runtime
            .compile(bytes, digest)
            .await
            .map_err(DeployError::Compile)?;
        // describe() runs without outbound HTTP; the service gets it only
        // if its manifest asks for it.
        let unprivileged = self
            .runtime
            .link(&component, false)
            .map_err(DeployError::NotAService)?;
        let (manifest, name, config) = match &unprivileged {
            Entry::Service(pre) => {
                let manifest = self.describe(pre).await?;
                let name = name.unwrap_or(&manifest.name).to_string();
                validate_service_name(&name).map_err(DeployError::Manifest)?;
                let config = self.policy.deployment(tenant, &name);
                (manifest, name, config)
            }
            // A standard component has no name of its own: it takes its
            // file's, or the one it is deployed under.
            Entry::Proxy(_) => {
                let name = name
                    .map(str::to_string)
                    .or_else(|| source.file_stem())
                    .ok_or_else(|| {
                        DeployError::Manifest(
                            "a wasi:http component cannot name itself: deploy it under a name"
                                .into(),
                        )
                    })?;
                validate_service_name(&name).map_err(DeployError::Manifest)?;
                let config = self.policy.deployment(tenant, &name);
                (components::manifest(&name, digest, &config), name, config)
            }
        };
        let prefix = config.prefix.clone().unwrap_or_else(|| format!("/{name}"));
        validate_prefix(&prefix)
            .map_err(|e| DeployError::Manifest(format!("cannot mount at {prefix}: {e}")))?;
        let mut routes =
            manifest::check(&manifest, &prefix, GRANTED).map_err(DeployError::Manifest)?;
        if let Entry::Proxy(_) = unprivileged {
            for route in &mut routes {
                route.operation = config
                    .component
                    .operation(&route.method, &route.template)
                    .cloned();
            }
        }
        let outbound = manifest.capabilities.contains(&Capability::OutboundHttp);
        let entry = if outbound {
            self.runtime
                .link(&component, true)
                .map_err(DeployError::NotAService)?
        } else {
            unprivileged
        };
        let (service_gate, queue_metrics) = self.slots.service(
            tenant,
            &name,
            config.limits.max_concurrency,
            config.limits.max_queue,
        );
        let warm = self.runtime.warm_pool(&entry, tenant, config.reuse);
        let mut deployment = Arc::new(Deployment {
            tenant: tenant.to_string(),
            version: manifest.version.clone(),
            digest: digest.to_string(),
            source,
            component,
            entry,
            grants: grants(
                &name,
                &config.limits,
                deployment_settings(&manifest, &config.settings),
                // Reaching out needs the capability as well as the list.
                if outbound {
                    config.outbound
                } else {
                    AllowList::default()
                },
                self.logs.service(tenant, &name),
            ),
            prefix,
            routes: routes.into_iter().map(Arc::new).collect(),
            loaded_at: SystemTime::now(),
            service_gate,
            queue_metrics,
            tenant_gate: self
                .slots
                .tenant(tenant, self.policy.tenant_max_concurrency(tenant)),
            limits: config.limits,
            strip_set_cookie: config.strip_set_cookie,
            allow_service_workers: config.allow_service_workers,
            warm,
            stats: Arc::new(Window::new(STATS_WINDOW)),
            manifest,
            name,
        });
        // Refuse a route conflict before anything is created for it; it is
        // checked again under the tenant's lock before the swap.
        drop(Self::with_deployment(&self.current.load(), &deployment)?);
        if deployment
            .manifest
            .capabilities
            .contains(&Capability::Database)
        {
            let namespace = self
                .namespaces
                .get(
                    tenant,
                    &deployment.name,
                    &namespace_limits(&deployment.limits),
                )
                .await
                .map_err(DeployError::Internal)?;
            Arc::get_mut(&mut deployment)
                .expect("nothing else holds a deployment being prepared")
                .grants
                .namespace = Some(namespace);
        }
        Ok(deployment)
    }

    /// Puts the version live before the current one back.
    pub async fn rollback(&self, tenant: &str, name: &str) -> Result<DeployReport, DeployError> {
        if let Some(canary) = self.snapshot().canary(tenant, name) {
            return Err(super::canary::canary_running(canary));
        }
        let previous = self.host_db.previous(tenant, name).await?.ok_or_else(|| {
            DeployError::NotFound(format!(
                "service `{name}` has no earlier version to roll back to"
            ))
        })?;
        let bytes = self
            .artifacts
            .get(&previous.digest)
            .await
            .map_err(DeployError::Internal)?;
        self.deploy(DeployRequest::new(
            tenant,
            Some(name),
            bytes,
            Source::Rollback,
        ))
        .await
    }

    /// Takes a service out: its routes answer 404 once the requests it is
    /// serving finish.
    pub async fn undeploy(&self, tenant: &str, name: &str, why: Source) -> Result<(), DeployError> {
        if !self.remove(tenant, name, Origin::Local(why)).await? {
            return Err(DeployError::NotFound(format!(
                "service `{name}` is not deployed"
            )));
        }
        Ok(())
    }

    /// Brings back every version recorded live, as it was: after a restart
    /// (or a crash), each service is at exactly one complete version.
    pub async fn restore(&self) -> Vec<String> {
        self.restore_tenants().await;
        let records = match self.host_db.live().await {
            Ok(records) => records,
            Err(error) => {
                tracing::error!(%error, "cannot read the live deployments");
                return Vec::new();
            }
        };
        let mut restored = Vec::new();
        for record in records {
            match self.put_recorded_live(&record).await {
                Ok(report) if report.tenant == DEFAULT_TENANT => restored.push(report.name),
                Ok(report) => restored.push(format!("{}/{}", report.tenant, report.name)),
                Err(error) => tracing::error!(
                    tenant = %record.tenant, service = %record.service, %error,
                    "cannot restore the live version"
                ),
            }
        }
        match self.host_db.canaries().await {
            Ok(canaries) => {
                for record in canaries {
                    if let Err(error) = self.put_recorded_canary(&record).await {
                        let d = &record.deployment;
                        tracing::error!(tenant = %d.tenant, service = %d.service, %error, "cannot restore the canary");
                    }
                }
            }
            Err(error) => tracing::error!(%error, "cannot read the canaries"),
        }
        restored
    }

    /// Puts a recorded version live here without recording it again: what
    /// a restart and a replica following another do.
    pub(super) async fn put_recorded_live(
        &self,
        record: &DeploymentRecord,
    ) -> Result<DeployReport, DeployError> {
        self.add_tenant(&record.tenant).await;
        let deployment = self.prepare_recorded(record).await?;
        self.activate(deployment, Origin::Replica).await
    }

    /// A recorded version, prepared from its kept artifact.
    pub(super) async fn prepare_recorded(
        &self,
        record: &DeploymentRecord,
    ) -> Result<Arc<Deployment>, DeployError> {
        let bytes = self
            .artifacts
            .get(&record.digest)
            .await
            .map_err(DeployError::Internal)?;
        self.prepare(
            &record.tenant,
            Some(&record.service),
            bytes,
            &record.digest,
            Source::from_record(&record.source),
        )
        .await
    }

    async fn describe(&self, pre: &ServicePre<ServiceState>) -> Result<Manifest, DeployError> {
        let limits = self.policy.deployment(DEFAULT_TENANT, "(describe)").limits;
        let grants = Grants::bare("(describe)", limits.memory_bytes, DESCRIBE_TIMEOUT);
        Ok(self.runtime.describe(pre, &grants).await?)
    }
}
