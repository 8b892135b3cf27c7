//! The deploy pipeline, used by every way a version arrives: digest →
//! compile (off the request path) → link and check the world → `describe()`
//! → check the manifest and its routes against the other services → apply
//! new migrations → swap the snapshot. Any failure leaves what is live
//! untouched and is recorded.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use super::manifest::{self, RouteSpec};
use super::{DEFAULT_TENANT, Deployment, Registry, Snapshot, Source};
use crate::bindings::{Capability, Manifest};
use crate::capabilities::database::DatabaseCtx;
use crate::capabilities::settings::SettingsCtx;
use crate::db::migrate;
use crate::runtime::{Invocation, ServiceState};

/// How long `describe()` may run.
const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Capabilities granted to every deployment until per-tenant grants exist.
const GRANTED: &[Capability] = &[Capability::Database];

/// Why a version did not go live. The live version, if any, is untouched.
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
    #[error("internal error: {0:#}")]
    Internal(anyhow::Error),
}

/// What went live.
#[derive(Debug, Clone)]
pub struct DeployReport {
    pub name: String,
    pub version: String,
    pub digest: String,
    pub migrations_applied: Vec<u32>,
}

pub fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Registry {
    /// Puts a version live, or explains why not.
    pub async fn deploy(
        &self,
        bytes: Arc<[u8]>,
        source: Source,
    ) -> Result<DeployReport, DeployError> {
        let digest = digest(&bytes);
        let result = self.try_deploy(bytes, &digest, source.clone()).await;
        match &result {
            Ok(report) => tracing::info!(
                service = %report.name, version = %report.version, digest = %&digest[..12],
                %source, migrations = ?report.migrations_applied, "service deployed"
            ),
            Err(error) => {
                tracing::error!(%source, digest = %&digest[..12], %error, "deploy refused");
                self.record_failure(&source, &digest, &error.to_string())
                    .await;
            }
        }
        result
    }

    async fn try_deploy(
        &self,
        bytes: Arc<[u8]>,
        digest: &str,
        source: Source,
    ) -> Result<DeployReport, DeployError> {
        let component = self
            .runtime
            .compile(bytes)
            .await
            .map_err(DeployError::Compile)?;
        let pre = self
            .runtime
            .prepare(&component)
            .map_err(DeployError::NotAService)?;
        let manifest = self.describe(&pre).await?;
        let config = self
            .services
            .get(&manifest.name)
            .cloned()
            .unwrap_or_default();
        let prefix = config
            .prefix
            .clone()
            .unwrap_or_else(|| format!("/{}", manifest.name));
        crate::routing::validate_prefix(&prefix)
            .map_err(|e| DeployError::Manifest(format!("cannot mount at {prefix}: {e}")))?;
        let routes = manifest::check(&manifest, &prefix, GRANTED).map_err(DeployError::Manifest)?;
        let settings = deployment_settings(&manifest, &config.settings);
        let namespace = if manifest.capabilities.contains(&Capability::Database) {
            Some(
                self.namespaces
                    .get(DEFAULT_TENANT, &manifest.name)
                    .map_err(DeployError::Internal)?,
            )
        } else {
            None
        };

        let _guard = self.deploying.lock().await;
        let current = self.current.load_full();
        if let Some(live) = current.services.get(&manifest.name)
            && let (Source::File(live_file), Source::File(new_file)) = (&live.source, &source)
            && live_file != new_file
        {
            return Err(DeployError::Conflict(format!(
                "service `{}` is already deployed from {}",
                manifest.name,
                live_file.display()
            )));
        }
        let deployment = Arc::new(Deployment {
            tenant: DEFAULT_TENANT.into(),
            name: manifest.name.clone(),
            version: manifest.version.clone(),
            digest: digest.to_string(),
            source: source.clone(),
            pre,
            namespace: namespace.clone(),
            settings: Arc::new(settings),
            prefix,
            routes: routes
                .into_iter()
                .map(Arc::new)
                .collect::<Vec<Arc<RouteSpec>>>(),
            loaded_at: SystemTime::now(),
            manifest,
        });
        let mut services = current.services.clone();
        services.insert(deployment.name.clone(), deployment.clone());
        let next = Snapshot::build(services).map_err(|e| DeployError::Routes(e.to_string()))?;

        let migrations_applied = match &namespace {
            Some(ns) => migrate::apply(ns, &deployment.manifest.migrations)
                .await
                .map_err(|e| DeployError::Migration(e.to_string()))?,
            None => Vec::new(),
        };
        self.current.store(Arc::new(next));
        self.record_live(&deployment).await;
        Ok(DeployReport {
            name: deployment.name.clone(),
            version: deployment.version.clone(),
            digest: digest.to_string(),
            migrations_applied,
        })
    }

    async fn describe(
        &self,
        pre: &crate::bindings::ServicePre<ServiceState>,
    ) -> Result<Manifest, DeployError> {
        let state = ServiceState::new(
            "(describe)",
            DatabaseCtx::default(),
            SettingsCtx::default(),
            self.limits.memory_bytes,
        );
        Invocation::new(&self.runtime, state, DESCRIBE_TIMEOUT)
            .describe(pre)
            .await
            .map_err(|e| DeployError::Describe(e.to_string()))
    }

    async fn record_live(&self, deployment: &Deployment) {
        let result = sqlx::query(
            "INSERT INTO deployments (tenant, service, version, digest, source, state) VALUES ($1, $2, $3, $4, $5, 'live')",
        )
        .bind(&deployment.tenant)
        .bind(&deployment.name)
        .bind(&deployment.version)
        .bind(&deployment.digest)
        .bind(deployment.source.to_string())
        .execute(self.host_db.pool())
        .await;
        if let Err(error) = result {
            tracing::warn!(%error, service = %deployment.name, "cannot record the deployment");
        }
    }

    async fn record_failure(&self, source: &Source, digest: &str, error: &str) {
        let service = match source {
            Source::File(path) => path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            Source::Api => String::new(),
        };
        let result = sqlx::query(
            "INSERT INTO deployments (tenant, service, version, digest, source, state, error) VALUES ($1, $2, '', $3, $4, 'failed', $5)",
        )
        .bind(DEFAULT_TENANT)
        .bind(service)
        .bind(digest)
        .bind(source.to_string())
        .bind(error)
        .execute(self.host_db.pool())
        .await;
        if let Err(error) = result {
            tracing::warn!(%error, "cannot record the failed deployment");
        }
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
