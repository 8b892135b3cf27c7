//! Applying a service's migrations in its own namespace: the ones not yet
//! applied, in version order, each in one transaction together with its
//! record, so that a crash leaves every migration applied whole or not at all.

use sha2::{Digest, Sha256};
use sqlx::{AssertSqlSafe, Connection as _, Row as _};

use super::sqlite::{Guard, Speaker};
use crate::bindings::{Dialect, Migration};

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("migration {version} ({name}) failed: {message}")]
    Failed {
        version: u32,
        name: String,
        message: String,
    },
    #[error(
        "migration {version} was applied with different SQL (checksum {applied}, now {declared}); applied migrations must never change"
    )]
    Changed {
        version: u32,
        applied: String,
        declared: String,
    },
    #[error(
        "the migrations ran past their {0:?} limit and were stopped (limits.migration_timeout_ms)"
    )]
    TimedOut(std::time::Duration),
    #[error("cannot reach the service's database: {0}")]
    Database(#[from] sqlx::Error),
}

/// The SQL of `migration` on `dialect`.
pub fn script(migration: &Migration, dialect: Dialect) -> &str {
    migration
        .dialect_sql
        .iter()
        .find(|(d, _)| *d == dialect)
        .map_or(migration.sql.as_str(), |(_, sql)| sql.as_str())
}

fn checksum(sql: &str) -> String {
    hex::encode(Sha256::digest(sql.as_bytes()))
}

/// Portable bookkeeping: the same SQL works on SQLite and PostgreSQL.
const BOOKKEEPING: &str = "CREATE TABLE IF NOT EXISTS _berth_migrations (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TEXT NOT NULL
)";

fn failed(migration: &Migration) -> impl Fn(sqlx::Error) -> MigrationError + '_ {
    move |e| MigrationError::Failed {
        version: migration.version,
        name: migration.name.clone(),
        message: match &e {
            sqlx::Error::Database(db) => db.message().to_string(),
            other => other.to_string(),
        },
    }
}

/// Which declared migrations still need to run, refusing changed ones.
fn pending<'m>(
    migrations: &'m [Migration],
    applied: &[(i64, String)],
    dialect: Dialect,
) -> Result<Vec<(&'m Migration, &'m str, String)>, MigrationError> {
    let mut todo = Vec::new();
    for migration in migrations {
        let sql = script(migration, dialect);
        let sum = checksum(sql);
        match applied
            .iter()
            .find(|(v, _)| *v == i64::from(migration.version))
        {
            Some((_, applied_sum)) if *applied_sum != sum => {
                return Err(MigrationError::Changed {
                    version: migration.version,
                    applied: applied_sum.clone(),
                    declared: sum,
                });
            }
            Some(_) => {}
            None => todo.push((migration, sql, sum)),
        }
    }
    Ok(todo)
}

fn now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

/// The applied versions and their checksums.
macro_rules! applied {
    ($conn:expr) => {
        sqlx::query("SELECT version, checksum FROM _berth_migrations")
            .fetch_all($conn)
            .await?
            .iter()
            .map(|row| (row.get::<i64, _>(0), row.get::<String, _>(1)))
            .collect::<Vec<(i64, String)>>()
    };
}

const RECORD: &str =
    "INSERT INTO _berth_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)";

/// Applies what is missing on a sealed SQLite connection; returns the
/// versions applied. The service's SQL runs under the service's own rules
/// (the same authorizer, limits and statement clock as its requests); only
/// the bookkeeping runs as the host.
pub async fn apply_sqlite(
    conn: &mut sqlx::SqliteConnection,
    guard: &Guard,
    migrations: &[Migration],
) -> Result<Vec<u32>, MigrationError> {
    guard.set_speaker(Speaker::Bookkeeper);
    sqlx::raw_sql(BOOKKEEPING).execute(&mut *conn).await?;
    let applied = applied!(&mut *conn);
    let mut done = Vec::new();
    for (migration, sql, sum) in pending(migrations, &applied, Dialect::Sqlite)? {
        guard.set_speaker(Speaker::Bookkeeper);
        guard.allow_next_transaction_statement();
        sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut *conn).await?;
        let result = async {
            guard.set_speaker(Speaker::Service);
            sqlx::raw_sql(AssertSqlSafe(sql))
                .execute(&mut *conn)
                .await?;
            guard.set_speaker(Speaker::Bookkeeper);
            sqlx::query(RECORD)
                .bind(i64::from(migration.version))
                .bind(&migration.name)
                .bind(&sum)
                .bind(now())
                .execute(&mut *conn)
                .await?;
            guard.allow_next_transaction_statement();
            sqlx::raw_sql("COMMIT").execute(&mut *conn).await
        }
        .await;
        guard.set_speaker(Speaker::Bookkeeper);
        if let Err(error) = result {
            guard.allow_next_transaction_statement();
            let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
            return Err(failed(migration)(error));
        }
        done.push(migration.version);
    }
    Ok(done)
}

/// Applies what is missing on a connection logged in as the namespace's
/// role (so that what the migrations create belongs to it); the caller
/// serializes replicas and bounds the time.
pub async fn apply_postgres(
    conn: &mut sqlx::PgConnection,
    migrations: &[Migration],
) -> Result<Vec<u32>, MigrationError> {
    sqlx::raw_sql(BOOKKEEPING).execute(&mut *conn).await?;
    let applied = applied!(&mut *conn);
    let mut done = Vec::new();
    for (migration, sql, sum) in pending(migrations, &applied, Dialect::Postgres)? {
        let mut tx = conn.begin().await?;
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await
            .map_err(failed(migration))?;
        sqlx::query(RECORD)
            .bind(i64::from(migration.version))
            .bind(&migration.name)
            .bind(&sum)
            .bind(now())
            .execute(&mut *tx)
            .await
            .map_err(failed(migration))?;
        tx.commit().await.map_err(failed(migration))?;
        done.push(migration.version);
    }
    Ok(done)
}

/// Whether any of `migrations` is not applied yet, as far as `applied`
/// (read without a lock) shows.
pub fn any_pending(migrations: &[Migration], applied: &[(i64, String)]) -> bool {
    migrations
        .iter()
        .any(|m| !applied.iter().any(|(v, _)| *v == i64::from(m.version)))
}
