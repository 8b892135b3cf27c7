//! Applying a service's migrations in its own namespace: the ones not yet
//! applied, in version order, each in one transaction together with its
//! record, so that a crash leaves every migration applied whole or not at all.

use sha2::{Digest, Sha256};
use sqlx::{AssertSqlSafe, Connection as _, Row as _};

use super::namespace::Namespace;
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

/// Applies what is missing; returns the versions it applied.
pub async fn apply(ns: &Namespace, migrations: &[Migration]) -> Result<Vec<u32>, MigrationError> {
    let dialect = ns.dialect();
    let mut conn = ns.migrator().await?;
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS _berth_migrations (
            version INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            checksum TEXT NOT NULL,
            applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
        )",
    )
    .execute(&mut conn)
    .await?;
    let applied: Vec<(i64, String)> =
        sqlx::query("SELECT version, checksum FROM _berth_migrations")
            .fetch_all(&mut conn)
            .await?
            .iter()
            .map(|row| (row.get::<i64, _>(0), row.get::<String, _>(1)))
            .collect();

    let mut done = Vec::new();
    for migration in migrations {
        let sql = script(migration, dialect);
        let sum = checksum(sql);
        if let Some((_, applied_sum)) = applied
            .iter()
            .find(|(v, _)| *v == i64::from(migration.version))
        {
            if *applied_sum != sum {
                return Err(MigrationError::Changed {
                    version: migration.version,
                    applied: applied_sum.clone(),
                    declared: sum,
                });
            }
            continue;
        }
        let failed = |e: sqlx::Error| MigrationError::Failed {
            version: migration.version,
            name: migration.name.clone(),
            message: match &e {
                sqlx::Error::Database(db) => db.message().to_string(),
                other => other.to_string(),
            },
        };
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await
            .map_err(failed)?;
        sqlx::query("INSERT INTO _berth_migrations (version, name, checksum) VALUES ($1, $2, $3)")
            .bind(i64::from(migration.version))
            .bind(&migration.name)
            .bind(&sum)
            .execute(&mut *tx)
            .await
            .map_err(failed)?;
        tx.commit().await.map_err(failed)?;
        done.push(migration.version);
    }
    conn.close().await?;
    Ok(done)
}
