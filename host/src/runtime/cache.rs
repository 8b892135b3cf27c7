//! Compiled code cached on disk by component digest and engine fingerprint,
//! so that a restart does not recompile every service. Deserializing
//! compiled code trusts it completely, so an entry is used only if it is
//! sealed with this installation's key (an HMAC over the bytes): a corrupt,
//! truncated or foreign file is detected, deleted and rebuilt.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use wasmtime::Engine;
use wasmtime::component::Component;

const MAGIC: &[u8; 8] = b"berthc01";
const TAG_LEN: usize = 32;

#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
    key: [u8; 32],
    fingerprint: String,
}

impl CompileCache {
    /// Opens (creating if needed) the cache under `dir`, with its key.
    pub fn open(dir: &Path, engine: &Engine) -> anyhow::Result<CompileCache> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the compile cache {}", dir.display()))?;
        let key = load_or_create_key(&dir.join("key"))?;
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(CompileCache {
            dir: dir.to_path_buf(),
            key,
            fingerprint: format!("{:016x}", hasher.finish()),
        })
    }

    fn path(&self, digest: &str) -> PathBuf {
        self.dir
            .join(format!("{digest}-{}.cwasm", self.fingerprint))
    }

    fn mac(&self, code: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(self.fingerprint.as_bytes());
        mac.update(code);
        mac
    }

    /// The cached component, if a valid entry exists. Invalid entries are
    /// removed.
    pub fn load(&self, engine: &Engine, digest: &str) -> Option<Component> {
        let path = self.path(digest);
        let bytes = std::fs::read(&path).ok()?;
        let verified = bytes.len() > MAGIC.len() + TAG_LEN && bytes.starts_with(MAGIC) && {
            let (tag, code) = bytes[MAGIC.len()..].split_at(TAG_LEN);
            self.mac(code).verify_slice(tag).is_ok()
        };
        if !verified {
            tracing::warn!(file = %path.display(), "compile cache entry is corrupt or foreign; rebuilding it");
            let _ = std::fs::remove_file(&path);
            return None;
        }
        let code = &bytes[MAGIC.len() + TAG_LEN..];
        // SAFETY: the bytes carry this installation's HMAC over exactly what
        // `store` wrote from `Component::serialize` with a compatible engine
        // (the fingerprint is in the file name and the MAC).
        match unsafe { Component::deserialize(engine, code) } {
            Ok(component) => Some(component),
            Err(error) => {
                tracing::warn!(file = %path.display(), %error, "compile cache entry is stale; rebuilding it");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Writes a compiled component, atomically (temp file, then rename).
    pub fn store(&self, digest: &str, component: &Component) -> anyhow::Result<()> {
        let code = component.serialize()?;
        let path = self.path(digest);
        let temp = path.with_extension(format!("tmp{}", std::process::id()));
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(MAGIC)?;
        file.write_all(&self.mac(&code).finalize().into_bytes())?;
        file.write_all(&code)?;
        file.sync_all()?;
        std::fs::rename(&temp, &path)?;
        Ok(())
    }
}

fn load_or_create_key(path: &Path) -> anyhow::Result<[u8; 32]> {
    if let Ok(bytes) = std::fs::read(path)
        && let Ok(key) = <[u8; 32]>::try_from(bytes.as_slice())
    {
        return Ok(key);
    }
    let mut key = [0u8; 32];
    for chunk in key.chunks_mut(16) {
        chunk.copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    }
    let temp = path.with_extension("tmp");
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(&temp)
            .with_context(|| format!("cannot write {}", temp.display()))?;
        file.write_all(&key)?;
        file.sync_all()?;
    }
    std::fs::rename(&temp, path)?;
    Ok(key)
}
