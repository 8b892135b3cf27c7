//! The records of canaries: at most one per tenant × service, beside its
//! live version, shared by every replica. Starting one and ending one
//! (promoted or aborted) are each one transaction; ending is conditional on
//! the canary still being the one the caller saw, so that of two replicas
//! deciding at once, one decides and the other follows.

use sqlx::Row as _;

use super::host::{HostDb, on_pool};
use super::records::{
    COLUMNS, DeploymentRecord, INSERT_DEPLOYMENT, NewDeployment, POINT_LIVE, RETIRE_LIVE,
};

/// A running canary as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanaryRecord {
    pub deployment: DeploymentRecord,
    /// Its plan, as `rollout::PlanRequest` JSON.
    pub plan: String,
    /// When it started, in unix milliseconds.
    pub started_ms: i64,
}

/// How a canary ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// It becomes the live version.
    Promoted,
    /// It is taken out; the live version stays.
    Aborted,
}

impl HostDb {
    /// Records `new` as the canary of its service; `None` when the service
    /// already has one, or has no live version.
    pub async fn record_canary(
        &self,
        new: &NewDeployment<'_>,
        plan: &str,
        started_ms: i64,
    ) -> Result<Option<i64>, sqlx::Error> {
        let lock = self.lock_live_sql();
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let live = sqlx::query(lock)
                .bind(new.tenant)
                .bind(new.service)
                .fetch_optional(&mut *tx)
                .await?;
            let taken = sqlx::query("SELECT 1 FROM canaries WHERE tenant = $1 AND service = $2")
                .bind(new.tenant)
                .bind(new.service)
                .fetch_optional(&mut *tx)
                .await?;
            if live.is_none() || taken.is_some() {
                return Ok(None);
            }
            let id: i64 = sqlx::query(INSERT_DEPLOYMENT)
            .bind(new.tenant)
            .bind(new.service)
            .bind(new.version)
            .bind(new.digest)
            .bind(new.source)
            .bind("canary")
            .fetch_one(&mut *tx)
            .await?
            .get(0);
            // The primary key refuses a second canary recorded meanwhile.
            sqlx::query(
                "INSERT INTO canaries (tenant, service, deployment_id, plan, started_ms)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(new.tenant)
            .bind(new.service)
            .bind(id)
            .bind(plan)
            .bind(started_ms)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Some(id))
        })
    }

    /// Ends the canary recorded as `deployment_id`, as `ending`, noting why;
    /// whether it was still running (another replica may have ended it).
    pub async fn end_canary(
        &self,
        tenant: &str,
        service: &str,
        deployment_id: i64,
        ending: Ending,
        note: &str,
    ) -> Result<bool, sqlx::Error> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let ended = sqlx::query(
                "DELETE FROM canaries WHERE tenant = $1 AND service = $2 AND deployment_id = $3",
            )
            .bind(tenant)
            .bind(service)
            .bind(deployment_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if ended == 0 {
                return Ok(false);
            }
            if ending == Ending::Promoted {
                sqlx::query(RETIRE_LIVE)
                    .bind(tenant)
                    .bind(service)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(POINT_LIVE)
                .bind(tenant)
                .bind(service)
                .bind(deployment_id)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query("UPDATE deployments SET state = $1, note = $2 WHERE id = $3")
                .bind(match ending {
                    Ending::Promoted => "live",
                    Ending::Aborted => "aborted",
                })
                .bind(note)
                .bind(deployment_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// The canary of one service, if one runs.
    pub async fn canary_one(
        &self,
        tenant: &str,
        service: &str,
    ) -> Result<Option<CanaryRecord>, sqlx::Error> {
        Ok(self
            .canaries_where(
                "WHERE c.tenant = $1 AND c.service = $2",
                Some((tenant, service)),
            )
            .await?
            .pop())
    }

    /// Every running canary, in a stable order.
    pub async fn canaries(&self) -> Result<Vec<CanaryRecord>, sqlx::Error> {
        self.canaries_where("", None).await
    }

    async fn canaries_where(
        &self,
        filter: &str,
        binds: Option<(&str, &str)>,
    ) -> Result<Vec<CanaryRecord>, sqlx::Error> {
        let sql = format!(
            "SELECT {COLUMNS}, c.plan, c.started_ms FROM canaries c
             JOIN deployments d ON d.id = c.deployment_id {filter}
             ORDER BY c.tenant, c.service"
        );
        on_pool!(self, pool => {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            if let Some((tenant, service)) = binds {
                query = query.bind(tenant).bind(service);
            }
            let rows = query.fetch_all(pool).await?;
            rows.iter()
                .map(|row| {
                    Ok(CanaryRecord {
                        deployment: sqlx::FromRow::from_row(row)?,
                        plan: row.try_get("plan")?,
                        started_ms: row.try_get("started_ms")?,
                    })
                })
                .collect()
        })
    }
}
