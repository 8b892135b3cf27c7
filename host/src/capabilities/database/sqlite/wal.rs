//! The write-ahead log of a namespace counts against its quota too. WAL
//! pages are checkpointed back into the database file, but while readers
//! keep old snapshots open the log cannot restart, and a service that
//! overlaps its own reads and writes could grow it without end. So the log's
//! size is looked at (every [`CHECK_EVERY`] at most); past the quota the
//! namespace refuses statements, its readers drain within their statement
//! timeout, and the host checkpoints and truncates the log.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::{Connection as _, SqliteConnection};

use crate::bindings::berth::service::database::Error;

const CHECK_EVERY: Duration = Duration::from_millis(100);

#[derive(Debug)]
pub struct WalWatch {
    db: PathBuf,
    wal: PathBuf,
    created: Instant,
    checked_ms: AtomicU64,
    over: AtomicBool,
    checkpointing: AtomicBool,
}

impl WalWatch {
    pub fn new(db: &Path) -> Arc<WalWatch> {
        let mut wal = db.as_os_str().to_owned();
        wal.push("-wal");
        Arc::new(WalWatch {
            db: db.to_path_buf(),
            wal: PathBuf::from(wal),
            created: Instant::now(),
            checked_ms: AtomicU64::new(0),
            over: AtomicBool::new(false),
            checkpointing: AtomicBool::new(false),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.created.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether a statement may run now.
    pub fn admit(self: &Arc<WalWatch>, max_bytes: u64) -> Result<(), Error> {
        let now = self.now_ms().max(1);
        let last = self.checked_ms.load(Ordering::Relaxed);
        if last == 0 || now - last >= CHECK_EVERY.as_millis() as u64 {
            self.checked_ms.store(now, Ordering::Relaxed);
            let size = std::fs::metadata(&self.wal).map_or(0, |m| m.len());
            let over = size > max_bytes;
            self.over.store(over, Ordering::Relaxed);
            if over && !self.checkpointing.swap(true, Ordering::AcqRel) {
                tracing::warn!(wal = %self.wal.display(), size, max_bytes, "a namespace's write-ahead log passed its quota; checkpointing it");
                tokio::spawn(self.clone().checkpoint());
            }
        }
        if self.over.load(Ordering::Relaxed) {
            return Err(Error::LimitExceeded(format!(
                "the namespace's write-ahead log is past its size quota of {} MiB (reads kept it from being checkpointed); retry shortly",
                max_bytes >> 20
            )));
        }
        Ok(())
    }

    /// Checkpoints and truncates the log once its readers are gone.
    async fn checkpoint(self: Arc<WalWatch>) {
        for _ in 0..20 {
            let done = async {
                let mut conn =
                    SqliteConnection::connect_with(&super::namespace_options(&self.db)).await?;
                let (busy, _, _): (i64, i64, i64) =
                    sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
                        .fetch_one(&mut conn)
                        .await?;
                conn.close().await?;
                anyhow::Ok(busy == 0)
            }
            .await;
            if matches!(done, Ok(true)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        self.checked_ms.store(0, Ordering::Relaxed);
        self.checkpointing.store(false, Ordering::Release);
    }
}
