//! Namespaces on PostgreSQL, with isolation PostgreSQL itself enforces: each
//! tenant × service gets a schema of its own and a login role that owns that
//! schema and has no other rights. Its connections log in as that role, so
//! that no SQL it sends — `SET ROLE`, `set_config('search_path', …)`,
//! schema-qualified names, `COPY`, functions, `DO` blocks — reaches anything
//! else. Its pool opens lazily and closes idle connections.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, Postgres};
use sqlx::{AssertSqlSafe, Connection as _, PgConnection, Row as _};

use super::errors::guest_error;
use super::migrate::{MigrationError, apply_postgres};
use super::namespace::{ACQUIRE_TIMEOUT, IDLE_TIMEOUT, MAX_CONNECTIONS, ResultLimits};
use super::pg_values::{bind_pg, read_pg_rows};
use crate::bindings::Migration;
use crate::bindings::berth::service::database::{Error, Rows, Value};

/// Time given to PostgreSQL's own statement timeout before the host ends
/// the statement itself (the guest may have raised its timeout with `SET`).
const REAPER_SLACK: Duration = Duration::from_secs(1);

/// The schema and role names of a namespace: readable where they fit in
/// PostgreSQL's 63 bytes, hashed where they do not. Roles are shared by
/// every database of a cluster, so theirs carry the database too.
pub fn names(database: &str, tenant: &str, service: &str) -> (String, String) {
    let readable = format!(
        "{}__{}",
        tenant.replace('-', "_"),
        service.replace('-', "_")
    );
    let hash = hex::encode(Sha256::digest(
        format!("{database}\0{tenant}\0{service}").as_bytes(),
    ));
    let schema = if readable.len() <= 63 {
        readable.clone()
    } else {
        format!("ns_{}", &hash[..40])
    };
    let db_tag = &hex::encode(Sha256::digest(database.as_bytes()))[..8];
    let role = format!("berth_{db_tag}_{readable}");
    let role = if role.len() <= 63 {
        role
    } else {
        format!("berth_{db_tag}_{}", &hash[..40])
    };
    (schema, role)
}

/// The prefix of every role berth creates for `database`.
pub fn role_prefix(database: &str) -> String {
    format!(
        "berth_{}_",
        &hex::encode(Sha256::digest(database.as_bytes()))[..8]
    )
}

/// Creates schemas and roles, as the host's own role (which needs
/// CREATEROLE and CREATE on the database).
#[derive(Debug, Clone)]
pub struct Provisioner {
    admin: PgPool,
    options: PgConnectOptions,
    database: String,
}

impl Provisioner {
    pub async fn new(admin: PgPool, options: PgConnectOptions) -> anyhow::Result<Provisioner> {
        let database: String = sqlx::query_scalar("SELECT current_database()")
            .fetch_one(&admin)
            .await?;
        // Nothing of the host's is meant for the service roles; on servers
        // older than 15 PUBLIC may still create in `public`.
        if let Err(error) = sqlx::query("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
            .execute(&admin)
            .await
        {
            tracing::warn!(%error, "cannot revoke CREATE on schema public from PUBLIC");
        }
        Ok(Provisioner {
            admin,
            options,
            database,
        })
    }

    pub fn database(&self) -> &str {
        &self.database
    }

    /// The namespace of `service` for `tenant`, created if needed: one
    /// transaction, serialized across replicas by an advisory lock.
    pub async fn namespace(
        &self,
        tenant: &str,
        service: &str,
        statement_timeout: Duration,
    ) -> anyhow::Result<PgNamespace> {
        let (schema, role) = names(&self.database, tenant, service);
        let mut tx = self.admin.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(&role)
            .execute(&mut *tx)
            .await?;
        let existing: Option<String> =
            sqlx::query_scalar("SELECT password FROM pg_namespaces WHERE role_name = $1")
                .bind(&role)
                .fetch_optional(&mut *tx)
                .await?;
        let password = match existing {
            Some(password) => password,
            None => {
                let password = random_secret();
                let role_exists: bool =
                    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
                        .bind(&role)
                        .fetch_one(&mut *tx)
                        .await?;
                let verb = if role_exists { "ALTER" } else { "CREATE" };
                // Identifiers are validated names; the password is hex.
                for statement in [
                    format!(
                        "{verb} ROLE \"{role}\" LOGIN PASSWORD '{password}' NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS CONNECTION LIMIT {}",
                        MAX_CONNECTIONS * 8 + 4
                    ),
                    format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\" AUTHORIZATION \"{role}\""),
                    format!(
                        "ALTER ROLE \"{role}\" IN DATABASE \"{}\" SET search_path = \"{schema}\"",
                        self.database
                    ),
                    // Lets the host end the role's runaway statements.
                    format!("GRANT \"{role}\" TO CURRENT_USER"),
                ] {
                    sqlx::query(AssertSqlSafe(statement))
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query(
                    "INSERT INTO pg_namespaces (tenant, service, schema_name, role_name, password) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(tenant)
                .bind(service)
                .bind(&schema)
                .bind(&role)
                .bind(&password)
                .execute(&mut *tx)
                .await?;
                password
            }
        };
        tx.commit().await?;
        let namespace = PgNamespace {
            pool: PgPoolOptions::new()
                .max_connections(MAX_CONNECTIONS)
                .min_connections(0)
                .idle_timeout(IDLE_TIMEOUT)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_lazy_with(self.options.clone().username(&role).password(&password)),
            admin: self.admin.clone(),
            role: Arc::from(role.as_str()),
            database: self.database.clone(),
        };
        namespace.set_statement_timeout(statement_timeout).await?;
        Ok(namespace)
    }
}

fn random_secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// A namespace on PostgreSQL.
#[derive(Debug)]
pub struct PgNamespace {
    pool: PgPool,
    admin: PgPool,
    role: Arc<str>,
    database: String,
}

impl PgNamespace {
    /// PostgreSQL's own statement timeout for the role; the host also ends
    /// statements that outlive it (see `reap`).
    pub async fn set_statement_timeout(&self, timeout: Duration) -> Result<(), sqlx::Error> {
        let statement = format!(
            "ALTER ROLE \"{}\" IN DATABASE \"{}\" SET statement_timeout = {}",
            self.role,
            self.database,
            timeout.as_millis()
        );
        sqlx::query(AssertSqlSafe(statement))
            .execute(&self.admin)
            .await
            .map(drop)
    }

    pub async fn query(
        &self,
        sql: &str,
        params: Vec<Value>,
        limits: ResultLimits,
        timeout: Duration,
    ) -> Result<Rows, Error> {
        bounded(&self.admin, &self.role, timeout, async {
            let query = bind_pg(sqlx::query(AssertSqlSafe(sql)), params);
            read_pg_rows(query.fetch(&self.pool), limits).await
        })
        .await
    }

    pub async fn execute(
        &self,
        sql: &str,
        params: Vec<Value>,
        timeout: Duration,
    ) -> Result<u64, Error> {
        bounded(&self.admin, &self.role, timeout, async {
            let query = bind_pg(sqlx::query(AssertSqlSafe(sql)), params);
            Ok(query
                .execute(&self.pool)
                .await
                .map_err(guest_error)?
                .rows_affected())
        })
        .await
    }

    pub async fn begin(&self, timeout: Duration) -> Result<PgTx, Error> {
        let tx = self.pool.begin().await.map_err(guest_error)?;
        Ok(PgTx {
            tx,
            admin: self.admin.clone(),
            role: self.role.clone(),
            timeout,
        })
    }

    /// Applies migrations as the namespace's own role (so that what they
    /// create belongs to it), one replica at a time.
    pub async fn migrate(&self, migrations: &[Migration]) -> Result<Vec<u32>, MigrationError> {
        let mut conn: PgConnection = self.pool.acquire().await?.detach();
        sqlx::query("SELECT pg_advisory_lock(hashtext(current_user))")
            .execute(&mut conn)
            .await?;
        let applied = apply_postgres(&mut conn, migrations).await;
        let _ = conn.close().await;
        applied
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Runs `work` as `role`, ending the role's statements that outlive
/// `timeout`.
async fn bounded<T>(
    admin: &PgPool,
    role: &str,
    timeout: Duration,
    work: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    match tokio::time::timeout(timeout + REAPER_SLACK, work).await {
        Ok(result) => result,
        Err(_) => {
            reap(admin, role, timeout).await;
            Err(Error::LimitExceeded(format!(
                "the statement ran past {timeout:?} and was ended"
            )))
        }
    }
}

/// Ends `role`'s statements running longer than `timeout`: the guest cannot
/// escape this with `SET statement_timeout`, as it runs as the host.
async fn reap(admin: &PgPool, role: &str, timeout: Duration) {
    let result = sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE usename = $1 AND state <> 'idle' AND now() - query_start > make_interval(secs => $2)",
    )
    .bind(role)
    .bind(timeout.as_secs_f64())
    .execute(admin)
    .await;
    match result {
        Ok(done) => tracing::warn!(
            role,
            ended = done.rows_affected(),
            "ended runaway statements"
        ),
        Err(error) => tracing::error!(role, %error, "cannot end runaway statements"),
    }
}

/// An open transaction on a PostgreSQL namespace.
pub struct PgTx {
    tx: sqlx::Transaction<'static, Postgres>,
    admin: PgPool,
    role: Arc<str>,
    timeout: Duration,
}

impl PgTx {
    pub async fn query(
        &mut self,
        sql: &str,
        params: Vec<Value>,
        limits: ResultLimits,
    ) -> Result<Rows, Error> {
        let PgTx {
            tx,
            admin,
            role,
            timeout,
        } = self;
        bounded(admin, role, *timeout, async move {
            let query = bind_pg(sqlx::query(AssertSqlSafe(sql)), params);
            read_pg_rows(query.fetch(&mut **tx), limits).await
        })
        .await
    }

    pub async fn execute(&mut self, sql: &str, params: Vec<Value>) -> Result<u64, Error> {
        let PgTx {
            tx,
            admin,
            role,
            timeout,
        } = self;
        bounded(admin, role, *timeout, async move {
            let query = bind_pg(sqlx::query(AssertSqlSafe(sql)), params);
            Ok(query
                .execute(&mut **tx)
                .await
                .map_err(guest_error)?
                .rows_affected())
        })
        .await
    }

    pub async fn commit(self) -> Result<(), Error> {
        self.tx.commit().await.map_err(guest_error)
    }

    pub async fn rollback(self) -> Result<(), Error> {
        self.tx.rollback().await.map_err(guest_error)
    }
}

/// Drops every database object and role berth made for `database` — used by
/// the tests to clean up after themselves.
pub async fn drop_roles(admin: &PgPool, database: &str) -> anyhow::Result<()> {
    let roles: Vec<String> =
        sqlx::query("SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1)")
            .bind(role_prefix(database))
            .fetch_all(admin)
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
    for role in roles {
        sqlx::query(AssertSqlSafe(format!("DROP ROLE IF EXISTS \"{role}\"")))
            .execute(admin)
            .await
            .with_context(|| format!("cannot drop role {role}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_readable_when_they_fit_and_unique_per_database() {
        let (schema, role) = names("test", "default", "items");
        assert_eq!(schema, "default__items");
        assert!(
            role.starts_with(&role_prefix("test")) && role.ends_with("default__items"),
            "{role}"
        );
        let (_, other_db_role) = names("other", "default", "items");
        assert_ne!(role, other_db_role);
        let long = "x".repeat(60);
        let (schema, role) = names("test", &long, &long);
        assert!(schema.len() <= 63 && role.len() <= 63);
        assert!(schema.starts_with("ns_") && role.starts_with("berth_"));
        assert_eq!(names("test", "a-b", "c").0, "a_b__c");
    }
}
