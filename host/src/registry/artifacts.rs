//! Component bytes kept by digest, so that any recorded version can be put
//! live again (after a restart, or by a rollback) without its original file.
//! Files are written atomically and checked against their digest when read.

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

    /// Keeps `bytes` (whose sha256 is `digest`) durably.
    pub async fn put(&self, digest: &str, bytes: Arc<[u8]>) -> anyhow::Result<()> {
        let path = self.path(digest);
        if !path.exists() {
            let temp = path.with_extension(format!("tmp{}", std::process::id()));
            tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                let mut file = std::fs::File::create(&temp)?;
                file.write_all(&bytes)?;
                file.sync_all()?;
                std::fs::rename(&temp, &path)
            })
            .await??;
        }
        self.host_db
            .put_artifact(digest, self.size(digest)?)
            .await?;
        Ok(())
    }

    fn size(&self, digest: &str) -> anyhow::Result<usize> {
        Ok(usize::try_from(
            std::fs::metadata(self.path(digest))?.len(),
        )?)
    }

    /// The bytes of `digest`, verified.
    pub async fn get(&self, digest: &str) -> anyhow::Result<Arc<[u8]>> {
        let path = self.path(digest);
        let bytes = tokio::fs::read(&path)
            .await
            .with_context(|| format!("artifact {digest} is missing from {}", self.dir.display()))?;
        anyhow::ensure!(
            super::deploy::digest(&bytes) == digest,
            "artifact {digest} is corrupt"
        );
        Ok(Arc::from(bytes))
    }
}
