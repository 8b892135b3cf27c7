//! Creating namespaces on PostgreSQL, as the host's own role (which needs
//! CREATEROLE and CREATE on the database): a schema and a login role that
//! owns it and has no other rights. Nothing a service can do blocks this:
//! the only lock taken is a row lock on a host table (which no service role
//! can read, let alone lock), with a lock timeout; nothing process-wide is
//! held across a round trip.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool};
use sqlx::{AssertSqlSafe, Postgres, Transaction};

use std::sync::Arc;

use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;

use super::names::{NAMES_SECRET, legacy_names, names};
use super::{PgNamespace, harden};
use crate::capabilities::database::backend::{Backend, MAX_CONNECTIONS, Store};
use crate::capabilities::database::limits::LiveLimits;
use crate::db::HostDb;
use crate::db::secrets::Key;

/// How long the host waits for a lock on its own records before it gives
/// up with an error (a replica holding it is dead or stuck).
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// Creates and finds namespaces.
#[derive(Debug, Clone)]
pub struct Provisioner {
    pub(super) admin: PgPool,
    pub(super) options: PgConnectOptions,
    pub(super) database: String,
    key: Key,
}

/// A transaction on the host's pool that gives up on locks after
/// [`LOCK_TIMEOUT`].
pub(super) async fn admin_tx(
    admin: &PgPool,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let mut tx = admin.begin().await?;
    sqlx::query(AssertSqlSafe(format!(
        "SET LOCAL lock_timeout = {}",
        LOCK_TIMEOUT.as_millis()
    )))
    .execute(&mut *tx)
    .await?;
    Ok(tx)
}

impl Provisioner {
    pub async fn new(host_db: &HostDb, options: PgConnectOptions) -> anyhow::Result<Provisioner> {
        let crate::db::HostPool::Postgres(admin) = host_db.pool().clone() else {
            anyhow::bail!("the PostgreSQL provisioner needs a PostgreSQL host database");
        };
        let database: String = sqlx::query_scalar("SELECT current_database()")
            .fetch_one(&admin)
            .await?;
        harden::database(&admin, &database).await;
        let provisioner = Provisioner {
            admin,
            options,
            database,
            key: host_db.secret(NAMES_SECRET).await?,
        };
        provisioner.rename_legacy().await?;
        Ok(provisioner)
    }

    pub fn database(&self) -> &str {
        &self.database
    }

    /// The namespace of `service` for `tenant`, created if needed, in one
    /// transaction. Replicas creating the same one meet on the records'
    /// unique key: the second waits for the first (at most the lock
    /// timeout) and then uses what it made.
    pub async fn namespace(
        &self,
        tenant: &str,
        service: &str,
        limits: Arc<LiveLimits>,
    ) -> anyhow::Result<PgNamespace> {
        let (schema, role) = names(&self.key, &self.database, tenant, service);
        let mut tx = admin_tx(&self.admin).await?;
        let password = random_secret();
        let created: Option<String> = sqlx::query_scalar(
            "INSERT INTO pg_namespaces (tenant, service, schema_name, role_name, password)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant, service) DO NOTHING RETURNING role_name",
        )
        .bind(tenant)
        .bind(service)
        .bind(&schema)
        .bind(&role)
        .bind(&password)
        .fetch_optional(&mut *tx)
        .await?;
        if created.is_some() {
            self.create(&mut tx, &schema, &role, &password).await?;
        }
        // An existing namespace keeps the names it has (a legacy one that
        // could not be renamed keeps working under its old names).
        let (schema, role, password): (String, String, String) = sqlx::query_as(
            "SELECT schema_name, role_name, password FROM pg_namespaces WHERE tenant = $1 AND service = $2",
        )
        .bind(tenant)
        .bind(service)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        let now = limits.get();
        let namespace = PgNamespace::connect(self, (&schema, &role), &password, limits);
        namespace.set_limits(&now).await?;
        Ok(namespace)
    }

    async fn create(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        schema: &str,
        role: &str,
        password: &str,
    ) -> Result<(), sqlx::Error> {
        let role_exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
                .bind(role)
                .fetch_one(&mut **tx)
                .await?;
        let verb = if role_exists { "ALTER" } else { "CREATE" };
        // Identifiers are hex names made here; the password is hex.
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
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Renames namespaces made under the old, readable names to their keyed
    /// names, so that they keep their data and lose their collisions.
    /// Reports the pairs that the old names made share one namespace.
    async fn rename_legacy(&self) -> anyhow::Result<()> {
        let rows: Vec<(String, String, String, String, String)> = sqlx::query_as(
            "SELECT tenant, service, schema_name, role_name, password FROM pg_namespaces",
        )
        .fetch_all(&self.admin)
        .await?;
        let mut legacy = Vec::new();
        for row @ (tenant, service, old_schema, old_role, password) in &rows {
            let (schema, role) = names(&self.key, &self.database, tenant, service);
            if (old_schema, old_role) == (&schema, &role) {
                continue;
            }
            legacy.push(row.clone());
            match self
                .rename(
                    tenant,
                    service,
                    (old_schema, old_role),
                    (&schema, &role),
                    password,
                )
                .await
            {
                Ok(()) => tracing::info!(
                    tenant, service, from = %old_schema, to = %schema,
                    "renamed a namespace to its keyed name"
                ),
                Err(error) => tracing::error!(
                    tenant, service, schema = %old_schema, %error,
                    "cannot rename a namespace to its keyed name; it keeps working under its old \
                     name, which another tenant can guess. Fix: stop every replica, then restart \
                     berth with a role that may ALTER the schema and role"
                ),
            }
        }
        if legacy.is_empty() {
            return Ok(());
        }
        self.report_legacy_collisions(&legacy).await
    }

    async fn rename(
        &self,
        tenant: &str,
        service: &str,
        (old_schema, old_role): (&str, &str),
        (schema, role): (&str, &str),
        password: &str,
    ) -> Result<(), sqlx::Error> {
        let mut tx = admin_tx(&self.admin).await?;
        sqlx::query("SELECT 1 FROM pg_namespaces WHERE tenant = $1 AND service = $2 FOR UPDATE")
            .bind(tenant)
            .bind(service)
            .execute(&mut *tx)
            .await?;
        let database = &self.database;
        for statement in [
            format!("ALTER SCHEMA \"{old_schema}\" RENAME TO \"{schema}\""),
            format!("ALTER ROLE \"{old_role}\" RENAME TO \"{role}\""),
            // A rename clears an MD5 password.
            format!("ALTER ROLE \"{role}\" PASSWORD '{password}'"),
            format!(
                "ALTER ROLE \"{role}\" IN DATABASE \"{database}\" SET search_path = \"{schema}\""
            ),
        ] {
            sqlx::query(AssertSqlSafe(statement))
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "UPDATE pg_namespaces SET schema_name = $3, role_name = $4 WHERE tenant = $1 AND service = $2",
        )
        .bind(tenant)
        .bind(service)
        .bind(schema)
        .bind(role)
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// Under the old names, a second tenant × service whose name collapsed
    /// onto a first one's (in `legacy`, the namespaces found under old
    /// names) used the first one's schema. Nothing records
    /// whose rows are whose, so berth cannot split them: it says so.
    async fn report_legacy_collisions(
        &self,
        rows: &[(String, String, String, String, String)],
    ) -> anyhow::Result<()> {
        let deployed: Vec<(String, String)> =
            sqlx::query_as("SELECT DISTINCT tenant, service FROM deployments")
                .fetch_all(&self.admin)
                .await?;
        for (tenant, service) in &deployed {
            let legacy = legacy_names(&self.database, tenant, service);
            let owner = rows.iter().find(|(t, s, ..)| {
                (t, s) != (tenant, service) && legacy_names(&self.database, t, s) == legacy
            });
            if let Some((owner_tenant, owner_service, ..)) = owner {
                let (schema, _) = names(&self.key, &self.database, owner_tenant, owner_service);
                tracing::error!(
                    tenant, service, shared_with = %format!("{owner_tenant}/{owner_service}"),
                    %schema,
                    "under berth's old namespace names this service shared one namespace with \
                     another; it now gets a namespace of its own, and any rows it wrote before \
                     are in schema {schema}. Fix: copy them into its new namespace and delete \
                     them from the other's"
                );
            }
        }
        Ok(())
    }
}

impl Store for Provisioner {
    fn open<'a>(
        &'a self,
        tenant: &'a str,
        service: &'a str,
        limits: Arc<LiveLimits>,
    ) -> BoxFuture<'a, anyhow::Result<Box<dyn Backend>>> {
        async move {
            Ok(Box::new(self.namespace(tenant, service, limits).await?) as Box<dyn Backend>)
        }
        .boxed()
    }
}

fn random_secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}
