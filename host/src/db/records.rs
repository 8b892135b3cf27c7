//! The host's records of deployments: the history of every attempt, the one
//! live version of each service, the artifacts, and the last content seen of
//! each plugin file. Changing what is live is one transaction.

use sqlx::Row as _;

use super::host::{HostDb, HostPool, on_pool};

/// The PostgreSQL channel on which replicas announce changes.
pub const CHANGES_CHANNEL: &str = "berth_changes";

/// One row of the deployment history.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct DeploymentRecord {
    pub id: i64,
    pub tenant: String,
    pub service: String,
    pub version: String,
    pub digest: String,
    pub source: String,
    pub state: String,
    pub error: Option<String>,
    pub created_at: String,
    /// Who ended a canary, and why, with the numbers.
    pub note: Option<String>,
}

/// Retires the live version of tenant `$1` × service `$2`.
pub(super) const RETIRE_LIVE: &str = "UPDATE deployments SET state = 'retired'
     WHERE id IN (SELECT deployment_id FROM live WHERE tenant = $1 AND service = $2)";
/// Makes deployment `$3` the live version of tenant `$1` × service `$2`.
pub(super) const POINT_LIVE: &str =
    "INSERT INTO live (tenant, service, deployment_id) VALUES ($1, $2, $3)
     ON CONFLICT (tenant, service) DO UPDATE SET deployment_id = excluded.deployment_id";
/// Records a deployment of tenant, service, version, digest, source, state.
pub(super) const INSERT_DEPLOYMENT: &str =
    "INSERT INTO deployments (tenant, service, version, digest, source, state)
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";

pub(super) const COLUMNS: &str = "d.id, d.tenant, d.service, d.version, d.digest, d.source, d.state, d.error, d.created_at, d.note";

/// What a new live version is.
#[derive(Debug, Clone)]
pub struct NewDeployment<'a> {
    pub tenant: &'a str,
    pub service: &'a str,
    pub version: &'a str,
    pub digest: &'a str,
    pub source: &'a str,
}

impl HostDb {
    /// The statement that reads tenant `$1` × service `$2`'s live record
    /// and, on PostgreSQL, locks it until the transaction ends: deploys,
    /// canaries and undeploys of one service are serialized across
    /// replicas (SQLite has one writer).
    pub(super) fn lock_live_sql(&self) -> &'static str {
        match self.pool() {
            HostPool::Sqlite(_) => {
                "SELECT deployment_id FROM live WHERE tenant = $1 AND service = $2"
            }
            HostPool::Postgres(_) => {
                "SELECT deployment_id FROM live WHERE tenant = $1 AND service = $2 FOR UPDATE"
            }
        }
    }

    /// Records an artifact; on PostgreSQL with its bytes, so that other
    /// replicas can load it.
    pub async fn put_artifact(&self, digest: &str, bytes: &[u8]) -> Result<(), sqlx::Error> {
        let size = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
        match self.pool() {
            HostPool::Sqlite(pool) => sqlx::query(
                "INSERT INTO artifacts (digest, size) VALUES ($1, $2) ON CONFLICT (digest) DO NOTHING",
            )
            .bind(digest)
            .bind(size)
            .execute(pool)
            .await
            .map(drop),
            HostPool::Postgres(pool) => sqlx::query(
                "INSERT INTO artifacts (digest, size, bytes) VALUES ($1, $2, $3)
                 ON CONFLICT (digest) DO UPDATE SET bytes = COALESCE(artifacts.bytes, excluded.bytes)",
            )
            .bind(digest)
            .bind(size)
            .bind(bytes)
            .execute(pool)
            .await
            .map(drop),
        }
    }

    /// The bytes of an artifact, where the database keeps them (PostgreSQL).
    pub async fn artifact_bytes(&self, digest: &str) -> Result<Option<Vec<u8>>, sqlx::Error> {
        match self.pool() {
            HostPool::Sqlite(_) => Ok(None),
            HostPool::Postgres(pool) => {
                sqlx::query_scalar("SELECT bytes FROM artifacts WHERE digest = $1")
                    .bind(digest)
                    .fetch_optional(pool)
                    .await
                    .map(Option::flatten)
            }
        }
    }

    /// Tells the other replicas that what is live for `tenant`/`service`
    /// (or, with `*`, anything) changed. PostgreSQL only; they also resync
    /// on their own now and then, so a lost notice delays, never loses.
    pub async fn notify_change(&self, tenant: &str, service: &str) {
        if let HostPool::Postgres(pool) = self.pool() {
            let key = match self.notice_key().await {
                Ok(key) => key,
                Err(error) => {
                    tracing::warn!(%error, "cannot notify the other replicas");
                    return;
                }
            };
            let result = sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANGES_CHANNEL)
                .bind(super::notices::sign(&key, &format!("{tenant}/{service}")))
                .execute(pool)
                .await;
            if let Err(error) = result {
                tracing::warn!(%error, "cannot notify the other replicas");
            }
        }
    }

    /// The live version of one service, if any.
    pub async fn live_one(
        &self,
        tenant: &str,
        service: &str,
    ) -> Result<Option<DeploymentRecord>, sqlx::Error> {
        let sql = format!(
            "SELECT {COLUMNS} FROM live l JOIN deployments d ON d.id = l.deployment_id
             WHERE l.tenant = $1 AND l.service = $2"
        );
        on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(tenant)
            .bind(service)
            .fetch_optional(pool)
            .await)
    }

    /// Records `new` as the live version of its service, retiring the one
    /// before, in one transaction. Returns the new record's id, or `None`
    /// when the service has a canary (started by another replica, say).
    pub async fn record_live(&self, new: &NewDeployment<'_>) -> Result<Option<i64>, sqlx::Error> {
        let lock = self.lock_live_sql();
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(lock)
                .bind(new.tenant)
                .bind(new.service)
                .fetch_optional(&mut *tx)
                .await?;
            let canary = sqlx::query("SELECT 1 FROM canaries WHERE tenant = $1 AND service = $2")
                .bind(new.tenant)
                .bind(new.service)
                .fetch_optional(&mut *tx)
                .await?;
            if canary.is_some() {
                return Ok(None);
            }
            sqlx::query(
                RETIRE_LIVE,
            )
            .bind(new.tenant)
            .bind(new.service)
            .execute(&mut *tx)
            .await?;
            let id: i64 = sqlx::query(INSERT_DEPLOYMENT)
            .bind(new.tenant)
            .bind(new.service)
            .bind(new.version)
            .bind(new.digest)
            .bind(new.source)
            .bind("live")
            .fetch_one(&mut *tx)
            .await?
            .get(0);
            sqlx::query(POINT_LIVE)
            .bind(new.tenant)
            .bind(new.service)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Some(id))
        })
    }

    pub async fn record_failure(
        &self,
        tenant: &str,
        service: &str,
        digest: &str,
        source: &str,
        error: &str,
    ) -> Result<(), sqlx::Error> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO deployments (tenant, service, version, digest, source, state, error)
             VALUES ($1, $2, '', $3, $4, 'failed', $5)",
        )
        .bind(tenant)
        .bind(service)
        .bind(digest)
        .bind(source)
        .bind(error)
        .execute(pool)
        .await
        .map(drop))
    }

    /// Takes a service out of the live set, recording why.
    pub async fn record_undeploy(
        &self,
        tenant: &str,
        service: &str,
        source: &str,
    ) -> Result<(), sqlx::Error> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                RETIRE_LIVE,
            )
            .bind(tenant)
            .bind(service)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO deployments (tenant, service, version, digest, source, state)
                 VALUES ($1, $2, '', '', $3, 'undeployed')",
            )
            .bind(tenant)
            .bind(service)
            .bind(source)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM live WHERE tenant = $1 AND service = $2")
                .bind(tenant)
                .bind(service)
                .execute(&mut *tx)
                .await?;
            // A canary goes with the service it ran beside.
            sqlx::query(
                "UPDATE deployments SET state = 'aborted', note = 'the service was undeployed'
                 WHERE id IN (SELECT deployment_id FROM canaries WHERE tenant = $1 AND service = $2)",
            )
            .bind(tenant)
            .bind(service)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM canaries WHERE tenant = $1 AND service = $2")
                .bind(tenant)
                .bind(service)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// Every live version, in a stable order.
    pub async fn live(&self) -> Result<Vec<DeploymentRecord>, sqlx::Error> {
        let sql = format!(
            "SELECT {COLUMNS} FROM live l JOIN deployments d ON d.id = l.deployment_id
             ORDER BY d.tenant, d.service"
        );
        on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await)
    }

    /// The newest `limit` records of a service (of every service of the
    /// tenant without one), newest first.
    pub async fn history(
        &self,
        tenant: &str,
        service: Option<&str>,
        limit: i64,
    ) -> Result<Vec<DeploymentRecord>, sqlx::Error> {
        let sql = format!(
            "SELECT {COLUMNS} FROM deployments d
             WHERE d.tenant = $1 AND ($2 = '' OR d.service = $2)
             ORDER BY d.id DESC LIMIT $3"
        );
        on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(tenant)
            .bind(service.unwrap_or_default())
            .bind(limit)
            .fetch_all(pool)
            .await)
    }

    /// The version to roll back to: the newest one that was live before,
    /// with other code than the live one.
    pub async fn previous(
        &self,
        tenant: &str,
        service: &str,
    ) -> Result<Option<DeploymentRecord>, sqlx::Error> {
        let sql = format!(
            "SELECT {COLUMNS} FROM deployments d
             WHERE d.tenant = $1 AND d.service = $2 AND d.state = 'retired'
               AND d.digest <> COALESCE((SELECT c.digest FROM live l JOIN deployments c ON c.id = l.deployment_id
                                         WHERE l.tenant = $1 AND l.service = $2), '')
             ORDER BY d.id DESC LIMIT 1"
        );
        on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(tenant)
            .bind(service)
            .fetch_optional(pool)
            .await)
    }

    /// The newest failure of each service that happened after its live
    /// version went live (or any, for a service that is not live).
    pub async fn recent_failures(&self) -> Result<Vec<DeploymentRecord>, sqlx::Error> {
        let sql = format!(
            "SELECT {COLUMNS} FROM deployments d
             WHERE d.state = 'failed'
               AND d.id = (SELECT MAX(f.id) FROM deployments f
                           WHERE f.tenant = d.tenant AND f.service = d.service AND f.state = 'failed')
               AND d.id > COALESCE((SELECT l.deployment_id FROM live l
                                    WHERE l.tenant = d.tenant AND l.service = d.service), 0)
             ORDER BY d.tenant, d.service"
        );
        on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await)
    }

    /// The digest last seen in a plugin file, and the service it provided.
    pub async fn file_seen(
        &self,
        path: &str,
    ) -> Result<Option<(String, Option<String>)>, sqlx::Error> {
        on_pool!(self, pool => Ok(sqlx::query("SELECT digest, service FROM plugin_files WHERE path = $1")
            .bind(path)
            .fetch_optional(pool)
            .await?
            .map(|row| (row.get(0), row.get(1)))))
    }

    pub async fn set_file_seen(
        &self,
        path: &str,
        digest: &str,
        service: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO plugin_files (path, digest, service) VALUES ($1, $2, $3)
             ON CONFLICT (path) DO UPDATE SET digest = excluded.digest, service = excluded.service",
        )
        .bind(path)
        .bind(digest)
        .bind(service)
        .execute(pool)
        .await
        .map(drop))
    }

    pub async fn forget_file(&self, path: &str) -> Result<(), sqlx::Error> {
        on_pool!(self, pool => sqlx::query("DELETE FROM plugin_files WHERE path = $1")
            .bind(path)
            .execute(pool)
            .await
            .map(drop))
    }

    /// Every plugin file berth has seen.
    pub async fn files_seen(&self) -> Result<Vec<String>, sqlx::Error> {
        on_pool!(self, pool => Ok(sqlx::query("SELECT path FROM plugin_files ORDER BY path")
            .fetch_all(pool)
            .await?
            .iter()
            .map(|row| row.get(0))
            .collect()))
    }
}
