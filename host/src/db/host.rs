//! The host's own database: SQLite by default, PostgreSQL when the URL says
//! so. Queries are written once and run on either pool through
//! [`on_pool!`], with `$n` placeholders (which sqlx accepts on SQLite too).

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context as _;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// WAL, a busy timeout, foreign keys, temporary data in memory (bounded by
/// the process-wide SQLite heap limit): the host's own database, and the
/// base of every namespace's connections.
pub fn tune(options: SqliteConnectOptions) -> SqliteConnectOptions {
    options
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(5))
        .foreign_keys(true)
        .pragma("temp_store", "memory")
}

/// Runs `$body` with `$pool` bound to whichever pool the host uses.
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db.pool() {
            $crate::db::host::HostPool::Sqlite($pool) => $body,
            $crate::db::host::HostPool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

#[derive(Debug, Clone)]
pub enum HostPool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The host's pool, with its migrations applied.
#[derive(Debug, Clone)]
pub struct HostDb {
    pool: HostPool,
    /// The key replication notices are signed with, read once.
    notice_key: std::sync::Arc<tokio::sync::OnceCell<super::secrets::Key>>,
}

const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

impl HostDb {
    pub async fn connect(url: &str) -> anyhow::Result<HostDb> {
        let pool = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .with_context(|| format!("invalid database URL `{url}`"))?;
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(tune(options))
                .await
                .with_context(|| format!("cannot open the host database `{}`", redact(url)))?;
            sqlx::migrate!("../migrations/sqlite")
                .run(&pool)
                .await
                .context("cannot apply the host's migrations")?;
            HostPool::Sqlite(pool)
        } else {
            let options = PgConnectOptions::from_str(url)
                .with_context(|| format!("invalid database URL `{}`", redact(url)))?;
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options)
                .await
                .with_context(|| {
                    format!("cannot connect to the host database `{}`", redact(url))
                })?;
            sqlx::migrate!("../migrations/postgres")
                .run(&pool)
                .await
                .context("cannot apply the host's migrations")?;
            HostPool::Postgres(pool)
        };
        Ok(HostDb {
            pool,
            notice_key: Default::default(),
        })
    }

    /// The key replication notices are signed with.
    pub async fn notice_key(&self) -> Result<super::secrets::Key, sqlx::Error> {
        self.notice_key
            .get_or_try_init(|| self.secret(super::notices::NOTICES_SECRET))
            .await
            .copied()
    }

    pub fn pool(&self) -> &HostPool {
        &self.pool
    }

    /// Whether the database answers, for `/readyz`.
    pub async fn ping(&self) -> bool {
        let probe =
            async { on_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.is_ok()) };
        tokio::time::timeout(Duration::from_secs(2), probe)
            .await
            .unwrap_or(false)
    }

    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await);
    }
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            super::redact("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(super::redact("sqlite://x.db"), "sqlite://x.db");
    }
}
