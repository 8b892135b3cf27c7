//! The host's own database.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context as _;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};

/// The host's pool, with its migrations applied.
#[derive(Debug, Clone)]
pub struct HostDb {
    pool: SqlitePool,
}

impl HostDb {
    pub async fn connect(url: &str) -> anyhow::Result<HostDb> {
        if !url.starts_with("sqlite:") {
            anyhow::bail!("only SQLite database URLs are supported by this build (got `{url}`)");
        }
        let options = SqliteConnectOptions::from_str(url)
            .with_context(|| format!("invalid database URL `{url}`"))?;
        let options = super::sqlite::tune(options);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .with_context(|| format!("cannot open the host database `{url}`"))?;
        sqlx::migrate!("../migrations/sqlite")
            .run(&pool)
            .await
            .context("cannot apply the host's migrations")?;
        Ok(HostDb { pool })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Whether the database answers, for `/readyz`.
    pub async fn ping(&self) -> bool {
        let probe = sqlx::query("SELECT 1").execute(&self.pool);
        matches!(
            tokio::time::timeout(Duration::from_secs(2), probe).await,
            Ok(Ok(_))
        )
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}
