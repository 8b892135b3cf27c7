//! The size quota of a namespace on PostgreSQL. PostgreSQL has no per-schema
//! size limit, so the host measures the schema (tables with their indexes
//! and TOAST) now and then, while the service writes, and while it is over
//! its quota runs the service's statements in read-only transactions:
//! writes fail with `limit-exceeded`, reads work, and `DELETE`, `TRUNCATE`
//! and `DROP` outside a transaction still run so that space can be freed.
//! Nothing committed is lost. The quota is soft: a namespace may pass it by
//! what it writes between two measurements, and by what its own functions
//! and triggers write inside a `DELETE` or `TRUNCATE`; past 1.25 times the
//! quota only `DROP` still runs, which fires none of them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::postgres::PgPool;

use super::keyword::starts_with;

/// How often a namespace in use is measured.
pub const MEASURE_EVERY: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub struct Quota {
    max_bytes: AtomicU64,
    full: AtomicBool,
    /// Past the quota by a quarter: only `DROP` runs.
    far_over: AtomicBool,
    measuring: AtomicBool,
    /// When it was last measured, in ms since `created`.
    measured_ms: AtomicU64,
    created: Instant,
}

impl Quota {
    pub fn new(max_bytes: u64) -> Arc<Quota> {
        Arc::new(Quota {
            max_bytes: AtomicU64::new(max_bytes),
            full: AtomicBool::new(false),
            far_over: AtomicBool::new(false),
            measuring: AtomicBool::new(false),
            measured_ms: AtomicU64::new(0),
            created: Instant::now(),
        })
    }

    pub fn set_max_bytes(&self, max_bytes: u64) {
        self.max_bytes.store(max_bytes, Ordering::Relaxed);
        // Measure again at the next statement.
        self.measured_ms.store(0, Ordering::Relaxed);
    }

    pub fn max_bytes(&self) -> u64 {
        self.max_bytes.load(Ordering::Relaxed)
    }

    /// Whether `sql` must run read-only now.
    pub fn restricts(&self, sql: &str) -> bool {
        if self.far_over.load(Ordering::Relaxed) {
            !starts_with(sql, &["drop"])
        } else {
            self.full.load(Ordering::Relaxed) && !frees_space(sql)
        }
    }

    /// Measures `schema` in the background if the last measurement is old.
    pub fn refresh(self: &Arc<Quota>, admin: &PgPool, schema: &str) {
        let now = u64::try_from(self.created.elapsed().as_millis()).unwrap_or(u64::MAX);
        let last = self.measured_ms.load(Ordering::Relaxed);
        let due = last == 0 || now.saturating_sub(last) >= MEASURE_EVERY.as_millis() as u64;
        if !due || self.measuring.swap(true, Ordering::AcqRel) {
            return;
        }
        let (quota, admin, schema) = (self.clone(), admin.clone(), schema.to_string());
        tokio::spawn(async move {
            match size(&admin, &schema).await {
                Ok(bytes) => {
                    let bytes = u64::try_from(bytes).unwrap_or(0);
                    let max = quota.max_bytes();
                    quota
                        .far_over
                        .store(bytes > max.saturating_add(max / 4), Ordering::Relaxed);
                    let full = bytes > max;
                    if full != quota.full.swap(full, Ordering::Relaxed) {
                        tracing::warn!(
                            schema,
                            bytes,
                            max = quota.max_bytes(),
                            full,
                            "namespace quota"
                        );
                    }
                }
                Err(error) => tracing::warn!(schema, %error, "cannot measure a namespace"),
            }
            let now = u64::try_from(quota.created.elapsed().as_millis()).unwrap_or(u64::MAX);
            quota.measured_ms.store(now.max(1), Ordering::Relaxed);
            quota.measuring.store(false, Ordering::Release);
        });
    }
}

/// Bytes of everything in `schema`.
async fn size(admin: &PgPool, schema: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COALESCE(sum(pg_total_relation_size(c.oid)), 0)::bigint
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = $1 AND c.relkind IN ('r', 'm', 'p')",
    )
    .bind(schema)
    .fetch_one(admin)
    .await
}

/// Whether a statement only frees space (and so runs even when full).
pub fn frees_space(sql: &str) -> bool {
    starts_with(sql, &["delete", "truncate", "drop"])
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_statements_that_free_space_pass_a_full_quota() {
        use super::frees_space;
        assert!(frees_space("  delete from t"));
        assert!(frees_space("TRUNCATE t"));
        assert!(frees_space("DROP TABLE t"));
        assert!(!frees_space("INSERT INTO t VALUES (1)"));
        assert!(!frees_space(
            "WITH x AS (INSERT INTO t VALUES (1) RETURNING 1) DELETE FROM t"
        ));
        assert!(!frees_space("/* DELETE */ INSERT INTO t VALUES (1)"));
        assert!(!frees_space("deleted"));
    }

    #[test]
    fn far_over_the_quota_only_drop_runs() {
        let quota = super::Quota::new(1 << 20);
        assert!(!quota.restricts("INSERT INTO t VALUES (1)"));
        quota.full.store(true, super::Ordering::Relaxed);
        assert!(quota.restricts("INSERT INTO t VALUES (1)"));
        assert!(!quota.restricts("DELETE FROM t WHERE grow()"));
        quota.far_over.store(true, super::Ordering::Relaxed);
        assert!(quota.restricts("DELETE FROM t WHERE grow()"));
        assert!(quota.restricts("TRUNCATE t"));
        assert!(!quota.restricts("DROP TABLE t"));
    }
}
