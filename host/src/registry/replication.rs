//! Several berth replicas as one, with PostgreSQL as the only shared state:
//! a replica that changes what is live records it and announces it on a
//! channel (LISTEN/NOTIFY); every replica follows the records. After a
//! reconnect, and every [`RESYNC`] anyway, a replica compares everything it
//! serves with the records, so a missed notice is a late deploy, never a
//! missed one.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool};
use tokio_util::sync::CancellationToken;

use super::{DEFAULT_TENANT, DeployError, Origin, Registry};
use crate::db::records::CHANGES_CHANNEL;
use crate::db::{DeploymentRecord, HostPool};

/// How often a replica compares everything with the records regardless.
pub const RESYNC: Duration = Duration::from_secs(30);

impl Registry {
    /// Brings one service in line with its record.
    pub async fn sync_service(&self, tenant: &str, service: &str) -> Result<(), DeployError> {
        // A canary ended elsewhere first: a promoted one becomes the live
        // version here as it is, with nothing to prepare.
        self.end_followed_canary(tenant, service).await?;
        let record = self.host_db.live_one(tenant, service).await?;
        match record {
            Some(record) => self.follow(&record).await?,
            None => {
                self.remove(tenant, service, Origin::Replica).await?;
            }
        }
        self.start_followed_canary(tenant, service).await
    }

    /// Puts the recorded version live here, unless it already is.
    async fn follow(&self, record: &DeploymentRecord) -> Result<(), DeployError> {
        let live = self
            .snapshot()
            .deployment(&record.tenant, &record.service)
            .map(|d| d.digest.clone());
        if live.as_deref() == Some(record.digest.as_str()) {
            return Ok(());
        }
        let report = self.put_recorded_live(record).await?;
        tracing::info!(tenant = %report.tenant, service = %report.name, version = %report.version, "followed another replica's deploy");
        self.logs.host(
            &report.tenant,
            &report.name,
            crate::logs::Level::Info,
            format!("followed another replica's deploy: {}", report.version),
        );
        Ok(())
    }

    /// Compares everything served here with the records and converges.
    pub async fn sync_all(&self) -> Result<(), DeployError> {
        let tenants: BTreeSet<String> = self.host_db.tenant_names().await?.into_iter().collect();
        let records = self.host_db.live().await?;
        for tenant in &tenants {
            self.add_tenant(tenant).await;
        }
        for record in &records {
            if let Err(error) = self.follow(record).await {
                tracing::error!(tenant = %record.tenant, service = %record.service, %error, "cannot follow the recorded version");
            }
        }
        let recorded: BTreeSet<(&str, &str)> = records
            .iter()
            .map(|r| (r.tenant.as_str(), r.service.as_str()))
            .collect();
        let mut canaries: BTreeSet<(String, String)> = self
            .host_db
            .canaries()
            .await?
            .into_iter()
            .map(|c| (c.deployment.tenant, c.deployment.service))
            .collect();
        let snapshot = self.snapshot();
        canaries.extend(
            snapshot
                .canaries()
                .map(|c| (c.deployment.tenant.clone(), c.deployment.name.clone())),
        );
        for (tenant, service) in &canaries {
            if let Err(error) = self.sync_canary(tenant, service).await {
                tracing::error!(%tenant, %service, %error, "cannot follow the recorded canary");
            }
        }
        let snapshot = self.snapshot();
        for deployment in snapshot.deployments() {
            if !recorded.contains(&(deployment.tenant.as_str(), deployment.name.as_str())) {
                self.remove(&deployment.tenant, &deployment.name, Origin::Replica)
                    .await?;
            }
        }
        for tenant in snapshot.tenants.keys() {
            let configured = tenant == DEFAULT_TENANT || self.policy.tenants().any(|t| t == tenant);
            if !configured && !tenants.contains(tenant) {
                self.forget_tenant(tenant).await;
            }
        }
        Ok(())
    }

    async fn on_notice(&self, payload: &str) {
        // A service can NOTIFY this channel too: only signed, fresh notices
        // seen for the first time count.
        let what = match self.host_db.notice_key().await {
            Ok(key) => self.notices.accept(&key, payload),
            Err(error) => {
                tracing::warn!(%error, "cannot read the notice key");
                None
            }
        };
        let Some(payload) = what else {
            metrics::counter!("berth_replication_notices_total", "outcome" => "refused")
                .increment(1);
            tracing::debug!("refused a replication notice that is not the host's");
            return;
        };
        metrics::counter!("berth_replication_notices_total", "outcome" => "accepted").increment(1);
        let payload = payload.as_str();
        let result = match payload.split_once('/') {
            // `<tenant>/*`: a tenant was created or deleted; compare everything.
            Some((_, "*")) | None => self.sync_all().await,
            Some((tenant, service)) => self.sync_service(tenant, service).await,
        };
        if let Err(error) = result {
            tracing::warn!(payload, %error, "cannot follow a change announced by another replica");
        }
    }
}

/// Follows the other replicas until `shutdown`, when the host database is
/// PostgreSQL; does nothing on SQLite (one process, nothing to follow).
pub fn follow_replicas(registry: Arc<Registry>, shutdown: CancellationToken) {
    let HostPool::Postgres(pool) = registry.host_db.pool().clone() else {
        return;
    };
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = listen(&registry, &pool, &shutdown) => {}
            }
            // The listener failed to connect: try again shortly.
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    });
}

async fn listen(registry: &Registry, pool: &PgPool, shutdown: &CancellationToken) {
    let mut listener = match PgListener::connect_with(pool).await {
        Ok(listener) => listener,
        Err(error) => {
            tracing::warn!(%error, "cannot listen for other replicas' changes");
            return;
        }
    };
    if let Err(error) = listener.listen(CHANGES_CHANNEL).await {
        tracing::warn!(%error, "cannot listen for other replicas' changes");
        return;
    }
    // Whatever happened while not listening is found by comparing.
    let _ = registry.sync_all().await;
    let mut resync = tokio::time::interval(RESYNC);
    resync.tick().await;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = resync.tick() => {
                if let Err(error) = registry.sync_all().await {
                    tracing::warn!(%error, "periodic resync failed");
                }
            }
            notice = listener.try_recv() => match notice {
                Ok(Some(notice)) => registry.on_notice(notice.payload()).await,
                Ok(None) => {
                    tracing::warn!("lost the connection to the database; resyncing after reconnecting");
                    let _ = registry.sync_all().await;
                }
                Err(error) => {
                    tracing::warn!(%error, "the replica listener failed");
                    return;
                }
            }
        }
    }
}
