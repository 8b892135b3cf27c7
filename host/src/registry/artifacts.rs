//! Component bytes kept by digest, so that any recorded version can be put
//! live again (after a restart, by a rollback, or on another replica)
//! without its original file. Local files are written atomically and checked
//! against their digest when read; on PostgreSQL the bytes are also kept in
//! the database, which every replica reads from when its local copy lacks
//! them.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;

use crate::db::HostDb;

#[derive(Debug, Clone)]
pub struct ArtifactStore {
    dir: PathBuf,
    host_db: HostDb,
}

impl ArtifactStore {
    pub fn open(dir: PathBuf, host_db: HostDb) -> anyhow::Result<ArtifactStore> {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(ArtifactStore { dir, host_db })
    }

    fn path(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{digest}.wasm"))
    }

    async fn write_local(&self, digest: &str, bytes: Arc<[u8]>) -> anyhow::Result<()> {
        let path = self.path(digest);
        if path.exists() {
            return Ok(());
        }
        let temp = path.with_extension(format!("tmp{}", uuid::Uuid::new_v4().simple()));
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let mut file = std::fs::File::create(&temp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            std::fs::rename(&temp, &path)
        })
        .await??;
        Ok(())
    }

    /// Keeps `bytes` (whose sha256 is `digest`) durably.
    pub async fn put(&self, digest: &str, bytes: Arc<[u8]>) -> anyhow::Result<()> {
        self.write_local(digest, bytes.clone()).await?;
        self.host_db.put_artifact(digest, &bytes).await?;
        Ok(())
    }

    /// The bytes of `digest`, verified: from the local copy, or from the
    /// database (keeping a local copy for next time).
    pub async fn get(&self, digest: &str) -> anyhow::Result<Arc<[u8]>> {
        if let Ok(bytes) = tokio::fs::read(self.path(digest)).await {
            if super::deploy::digest(&bytes) == digest {
                return Ok(Arc::from(bytes));
            }
            tracing::warn!(
                digest,
                "local artifact copy is corrupt; reading it from the database"
            );
        }
        let bytes = self
            .host_db
            .artifact_bytes(digest)
            .await?
            .with_context(|| {
                format!(
                    "artifact {digest} is neither in {} nor in the database",
                    self.dir.display()
                )
            })?;
        anyhow::ensure!(
            super::deploy::digest(&bytes) == digest,
            "artifact {digest} is corrupt"
        );
        let bytes: Arc<[u8]> = Arc::from(bytes);
        let _ = tokio::fs::remove_file(self.path(digest)).await;
        self.write_local(digest, bytes.clone()).await?;
        Ok(bytes)
    }
}
