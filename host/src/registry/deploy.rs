//! The deploy pipeline, used by every way a version arrives (plugin files,
//! the admin API, rollbacks, a restart): digest → compile (off the request
//! path, cached) → link and check the world → `describe()` → check the
//! manifest and its routes against the tenant's other services → keep the
//! artifact → apply new migrations → record it live and swap the snapshot.
//! Any failure leaves what is live untouched and is recorded.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use super::manifest;
use super::{Deployment, Registry, Source};
use crate::bindings::{Capability, Manifest, ServicePre};
use crate::capabilities::database::DatabaseCtx;
use crate::capabilities::outbound::OutboundCtx;
use crate::capabilities::settings::SettingsCtx;
use crate::db::DeploymentRecord;
use crate::runtime::{Grants, Invocation, ServiceState};

/// How long `describe()` may run.
const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Capabilities a deployment may ask for. Outbound HTTP is granted as a
/// capability but reaches only the hosts the operator allow-lists.
const GRANTED: &[Capability] = &[Capability::Database, Capability::OutboundHttp];

/// Why a version did not go live. What was live is untouched.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("{0:#}")]
    Compile(anyhow::Error),
    #[error("{0:#}")]
    NotAService(anyhow::Error),
    #[error("describe() failed: {0}")]
    Describe(String),
    #[error("invalid manifest: {0}")]
    Manifest(String),
    #[error("route conflict: {0}")]
    Routes(String),
    #[error("{0}")]
    Migration(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    #[error("the host database is unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0:#}")]
    Internal(anyhow::Error),
}

impl DeployError {
    /// A stable code for the admin API.
    pub fn code(&self) -> &'static str {
        match self {
            DeployError::Compile(_) => "compile_error",
            DeployError::NotAService(_) => "not_a_service",
            DeployError::Describe(_) => "describe_failed",
            DeployError::Manifest(_) => "invalid_manifest",
            DeployError::Routes(_) => "route_conflict",
            DeployError::Migration(_) => "migration_failed",
            DeployError::Conflict(_) => "conflict",
            DeployError::NotFound(_) => "not_found",
            DeployError::Unavailable(_) => "unavailable",
            DeployError::Internal(_) => "internal_error",
        }
    }
}

/// A version to put live.
#[derive(Debug, Clone)]
pub struct DeployRequest {
    pub tenant: String,
    /// The name to deploy under; the manifest's name when `None`.
    pub name: Option<String>,
    pub bytes: Arc<[u8]>,
    pub source: Source,
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
        let digest = digest(&request.bytes);
        let result = self.deploy_recorded(&request, &digest).await;
        let source = &request.source;
        match &result {
            Ok(report) => tracing::info!(
                tenant = %report.tenant, service = %report.name, version = %report.version,
                digest = %&digest[..12], %source, migrations = ?report.migrations_applied, "service deployed"
            ),
            Err(error) => {
                tracing::error!(tenant = %request.tenant, %source, digest = %&digest[..12], %error, "deploy refused");
                let name = request.name.clone().unwrap_or_else(|| match source {
                    Source::File(path) => path
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    _ => String::new(),
                });
                if let Err(error) = self
                    .host_db
                    .record_failure(
                        &request.tenant,
                        &name,
                        &digest,
                        &source.record(),
                        &error.to_string(),
                    )
                    .await
                {
                    tracing::warn!(%error, "cannot record the refused deployment");
                }
            }
        }
        result
    }

    async fn deploy_recorded(
        &self,
        request: &DeployRequest,
        digest: &str,
    ) -> Result<DeployReport, DeployError> {
        let deployment = self
            .prepare(
                &request.tenant,
                request.name.as_deref(),
                request.bytes.clone(),
                digest,
                request.source.clone(),
            )
            .await?;
        self.artifacts
            .put(digest, request.bytes.clone())
            .await
            .map_err(DeployError::Internal)?;
        self.activate(deployment, true).await
    }

    /// Everything up to going live: compile, link, describe, check.
    pub(super) async fn prepare(
        &self,
        tenant: &str,
        name: Option<&str>,
        bytes: Arc<[u8]>,
        digest: &str,
        source: Source,
    ) -> Result<Deployment, DeployError> {
        let component = self
            .runtime
            .compile(bytes, digest)
            .await
            .map_err(DeployError::Compile)?;
        // describe() runs without outbound HTTP; the service gets it only
        // if its manifest asks for it.
        let unprivileged = self
            .runtime
            .prepare(&component, false)
            .map_err(DeployError::NotAService)?;
        let manifest = self.describe(&unprivileged).await?;
        let name = name.unwrap_or(&manifest.name).to_string();
        manifest::validate_name(&name).map_err(DeployError::Manifest)?;
        let config = self.policy.deployment(tenant, &name);
        let prefix = config.prefix.clone().unwrap_or_else(|| format!("/{name}"));
        crate::routing::validate_prefix(&prefix)
            .map_err(|e| DeployError::Manifest(format!("cannot mount at {prefix}: {e}")))?;
        let routes = manifest::check(&manifest, &prefix, GRANTED).map_err(DeployError::Manifest)?;
        let outbound = manifest.capabilities.contains(&Capability::OutboundHttp);
        let pre = if outbound {
            self.runtime
                .prepare(&component, true)
                .map_err(DeployError::NotAService)?
        } else {
            unprivileged
        };
        let namespace = if manifest.capabilities.contains(&Capability::Database) {
            Some(
                self.namespaces
                    .get(tenant, &name, &namespace_limits(&config.limits))
                    .await
                    .map_err(DeployError::Internal)?,
            )
        } else {
            None
        };
        let (gate, queue_metrics) = self.slots.service(
            tenant,
            &name,
            config.limits.max_concurrency,
            config.limits.max_queue,
        );
        Ok(Deployment {
            tenant: tenant.to_string(),
            version: manifest.version.clone(),
            digest: digest.to_string(),
            source,
            component,
            pre,
            namespace,
            settings: Arc::new(deployment_settings(&manifest, &config.settings)),
            prefix,
            routes: routes.into_iter().map(Arc::new).collect(),
            loaded_at: SystemTime::now(),
            service_gate: gate.clone(),
            queue_metrics: queue_metrics.clone(),
            tenant_gate: self
                .slots
                .tenant(tenant, self.policy.tenant_max_concurrency(tenant)),
            limits: config.limits,
            // Reaching out needs the capability as well as the allow-list.
            outbound: if outbound {
                config.outbound
            } else {
                crate::capabilities::outbound::AllowList::default()
            },
            strip_set_cookie: config.strip_set_cookie,
            manifest,
            name,
        })
    }

    /// Puts the version live before the current one back.
    pub async fn rollback(&self, tenant: &str, name: &str) -> Result<DeployReport, DeployError> {
        let previous = self
            .host_db
            .previous(tenant, name)
            .await
            .map_err(|e| DeployError::Unavailable(e.to_string()))?
            .ok_or_else(|| {
                DeployError::NotFound(format!(
                    "service `{name}` has no earlier version to roll back to"
                ))
            })?;
        let bytes = self
            .artifacts
            .get(&previous.digest)
            .await
            .map_err(DeployError::Internal)?;
        self.deploy(DeployRequest {
            tenant: tenant.to_string(),
            name: Some(name.to_string()),
            bytes,
            source: Source::Rollback,
        })
        .await
    }

    /// Takes a service out: its routes answer 404 once the requests it is
    /// serving finish.
    pub async fn undeploy(
        &self,
        tenant: &str,
        name: &str,
        why: &Source,
    ) -> Result<(), DeployError> {
        if !self.remove(tenant, name, Some(why)).await? {
            return Err(DeployError::NotFound(format!(
                "service `{name}` is not deployed"
            )));
        }
        self.host_db.notify_change(tenant, name).await;
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
            let result = self.put_recorded_live(&record).await;
            match result {
                Ok(report) if report.tenant == super::DEFAULT_TENANT => restored.push(report.name),
                Ok(report) => restored.push(format!("{}/{}", report.tenant, report.name)),
                Err(error) => tracing::error!(
                    tenant = %record.tenant, service = %record.service, %error,
                    "cannot restore the live version"
                ),
            }
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
        let bytes = self
            .artifacts
            .get(&record.digest)
            .await
            .map_err(DeployError::Internal)?;
        let deployment = self
            .prepare(
                &record.tenant,
                Some(&record.service),
                bytes,
                &record.digest,
                Source::from_record(&record.source),
            )
            .await?;
        self.activate(deployment, false).await
    }

    async fn describe(&self, pre: &ServicePre<ServiceState>) -> Result<Manifest, DeployError> {
        let limits = self
            .policy
            .deployment(super::DEFAULT_TENANT, "(describe)")
            .limits;
        let state = ServiceState::new(Grants {
            service: "(describe)".into(),
            database: DatabaseCtx::default(),
            settings: SettingsCtx::default(),
            outbound: OutboundCtx::default(),
            memory_bytes: limits.memory_bytes,
            hostcall_bytes: crate::runtime::hostcall_bytes(limits.max_result_bytes),
        });
        Invocation::new(&self.runtime, state, DESCRIBE_TIMEOUT)
            .describe(pre)
            .await
            .map_err(|e| DeployError::Describe(e.to_string()))
    }
}

/// The declared defaults overlaid with what the operator configured.
fn deployment_settings(
    manifest: &Manifest,
    configured: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut settings: BTreeMap<String, String> = manifest
        .settings
        .iter()
        .filter_map(|s| s.default.clone().map(|d| (s.key.clone(), d)))
        .collect();
    settings.extend(configured.iter().map(|(k, v)| (k.clone(), v.clone())));
    settings
}

/// What of a deployment's limits its database namespace enforces.
fn namespace_limits(limits: &crate::policy::Limits) -> crate::db::namespace::NamespaceLimits {
    crate::db::namespace::NamespaceLimits {
        statement_timeout: limits.statement_timeout,
        migration_timeout: limits.migration_timeout,
        max_value_bytes: limits.max_result_bytes,
        max_database_bytes: limits.max_database_bytes,
    }
}
