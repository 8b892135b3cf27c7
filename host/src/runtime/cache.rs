//! Compiled code cached on disk by component digest and engine fingerprint,
//! so that a restart does not recompile every service. Deserializing
//! compiled code trusts it completely, so an entry is used only if it is
//! sealed with this installation's key: an HMAC over the digest it claims
//! to be, the engine fingerprint and the bytes, kept beside them in a
//! `.seal` file. A corrupt, truncated, foreign or renamed file is detected,
//! deleted and rebuilt. The verified file is then mapped, not copied, so
//! that only the code a service runs is resident. The key file
//! is created exclusively, never through a symlink, readable by its owner
//! alone; a key that is not so is refused, and berth compiles without the
//! cache.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{Read as _, Write as _};
use std::os::fd::AsRawFd as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use wasmtime::Engine;
use wasmtime::component::Component;

const MAGIC: &[u8; 8] = b"berthc03";
const TAG_LEN: usize = 32;
const KEY_LEN: usize = 32;

#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
    key: [u8; KEY_LEN],
    fingerprint: String,
}

impl CompileCache {
    /// Opens (creating if needed) the cache under `dir`, with its key.
    pub fn open(dir: &Path, engine: &Engine) -> anyhow::Result<CompileCache> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the compile cache {}", dir.display()))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot restrict the compile cache {}", dir.display()))?;
        let key = load_or_create_key(&dir.join("key"))?;
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(CompileCache {
            dir: dir.to_path_buf(),
            key,
            fingerprint: format!("{:016x}", hasher.finish()),
        })
    }

    /// The compiled code of `digest`, as `Component::serialize` wrote it.
    fn path(&self, digest: &str) -> PathBuf {
        self.dir
            .join(format!("{digest}-{}.cwasm", self.fingerprint))
    }

    /// Its seal: [`MAGIC`] and the HMAC of the code.
    fn seal_path(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{digest}-{}.seal", self.fingerprint))
    }

    fn mac(&self, digest: &str, code: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        for part in [
            MAGIC.as_slice(),
            digest.as_bytes(),
            self.fingerprint.as_bytes(),
        ] {
            mac.update(&(part.len() as u64).to_le_bytes());
            mac.update(part);
        }
        mac.update(code);
        mac
    }

    /// The cached component, if a valid entry exists. Invalid entries are
    /// removed. The code is mapped from the very file that was verified (not
    /// read into memory), so pages the service never touches are never
    /// resident, and those it touches are the page cache's, shared and
    /// reclaimable.
    pub fn load(&self, engine: &Engine, digest: &str) -> Option<Component> {
        let (path, seal) = (self.path(digest), self.seal_path(digest));
        let (file, code) = open_no_follow(&path).ok()?;
        let verified = read_no_follow(&seal).is_ok_and(|seal| {
            seal.len() == MAGIC.len() + TAG_LEN
                && seal.starts_with(MAGIC)
                && self
                    .mac(digest, &code)
                    .verify_slice(&seal[MAGIC.len()..])
                    .is_ok()
        });
        if !verified {
            tracing::warn!(file = %path.display(), "compile cache entry is corrupt or foreign; rebuilding it");
            let _ = std::fs::remove_file(&path);
            let _ = std::fs::remove_file(&seal);
            return None;
        }
        // The open descriptor names the verified file whatever happens to
        // its path meanwhile (the cache dir is the owner's alone, 0700).
        let verified_file = format!("/proc/self/fd/{}", file.as_raw_fd());
        // SAFETY: the file carries this installation's HMAC over exactly
        // what `store` wrote from `Component::serialize` of this digest with
        // a compatible engine (the digest and fingerprint are in the MAC);
        // only its owner may write to it.
        let loaded =
            unsafe { Component::deserialize_file(engine, &verified_file) }.or_else(|error| {
                // Where files cannot be mapped executable (a `noexec` mount),
                // the code is copied into memory instead.
                tracing::debug!(%error, "cannot map the compile cache entry; copying it");
                // SAFETY: as above; these are the verified bytes themselves.
                unsafe { Component::deserialize(engine, &code) }
            });
        drop((file, code));
        match loaded {
            Ok(component) => Some(component),
            Err(error) => {
                tracing::warn!(file = %path.display(), %error, "compile cache entry is stale; rebuilding it");
                let _ = std::fs::remove_file(&path);
                let _ = std::fs::remove_file(&seal);
                None
            }
        }
    }

    /// Writes a compiled component and then its seal, each atomically (a
    /// fresh temporary file, then rename): a crash in between leaves code
    /// without a valid seal, which is rebuilt.
    pub fn store(&self, digest: &str, component: &Component) -> anyhow::Result<()> {
        let code = component.serialize()?;
        let mut seal = MAGIC.to_vec();
        seal.extend_from_slice(&self.mac(digest, &code).finalize().into_bytes());
        self.write_atomically(&self.path(digest), &code)?;
        self.write_atomically(&self.seal_path(digest), &seal)?;
        Ok(())
    }

    fn write_atomically(&self, path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
        let temp = self
            .dir
            .join(format!(".{}.tmp", uuid::Uuid::new_v4().simple()));
        let mut file = create_exclusive(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)?;
        Ok(())
    }
}

/// A new file, mode 0600: fails if anything (a symlink included) is there.
fn create_exclusive(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

fn read_no_follow(path: &Path) -> std::io::Result<Vec<u8>> {
    open_no_follow(path).map(|(_, bytes)| bytes)
}

/// The file at `path` (never through a symlink), open, and its bytes.
fn open_no_follow(path: &Path) -> std::io::Result<(std::fs::File, Vec<u8>)> {
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok((file, bytes))
}

/// The key at `path`, if there is one we can trust.
fn read_key(path: &Path) -> anyhow::Result<Option<[u8; KEY_LEN]>> {
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(e).with_context(|| {
                format!(
                    "cannot open the compile cache key {} (a symlink?)",
                    path.display()
                )
            });
        }
    };
    let meta = file.metadata()?;
    // SAFETY: a plain getter.
    let uid = unsafe { libc::geteuid() };
    anyhow::ensure!(
        meta.is_file() && meta.uid() == uid && meta.mode() & 0o077 == 0,
        "the compile cache key {} must be a file owned by this user and readable by no one else; remove it to make a new one",
        path.display()
    );
    let mut key = [0u8; KEY_LEN];
    let mut bytes = Vec::new();
    (&file).take(KEY_LEN as u64 + 1).read_to_end(&mut bytes)?;
    anyhow::ensure!(
        bytes.len() == KEY_LEN,
        "the compile cache key {} is corrupt; remove it to make a new one",
        path.display()
    );
    key.copy_from_slice(&bytes);
    Ok(Some(key))
}

fn load_or_create_key(path: &Path) -> anyhow::Result<[u8; KEY_LEN]> {
    if let Some(key) = read_key(path)? {
        return Ok(key);
    }
    let mut key = [0u8; KEY_LEN];
    for chunk in key.chunks_mut(16) {
        chunk.copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    }
    // Written whole under a fresh name, then linked into place: the key
    // file is either absent or complete, and never replaces another's.
    let temp = path.with_extension(format!("{}.tmp", uuid::Uuid::new_v4().simple()));
    {
        let mut file =
            create_exclusive(&temp).with_context(|| format!("cannot write {}", temp.display()))?;
        file.write_all(&key)?;
        file.sync_all()?;
    }
    let linked = std::fs::hard_link(&temp, path);
    let _ = std::fs::remove_file(&temp);
    match linked {
        Ok(()) => Ok(key),
        // Another process made it meanwhile: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_key(path)?
            .with_context(|| format!("the compile cache key {} vanished", path.display())),
        Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> Engine {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        Engine::new(&config).unwrap()
    }

    fn component(engine: &Engine) -> Component {
        Component::new(engine, "(component)").unwrap()
    }

    #[test]
    fn an_entry_renamed_to_another_digest_is_refused() {
        let dir = tempfile::TempDir::new().unwrap();
        let engine = engine();
        let cache = CompileCache::open(dir.path(), &engine).unwrap();
        cache.store("aaaa", &component(&engine)).unwrap();
        assert!(cache.load(&engine, "aaaa").is_some());
        std::fs::copy(cache.path("aaaa"), cache.path("bbbb")).unwrap();
        std::fs::copy(cache.seal_path("aaaa"), cache.seal_path("bbbb")).unwrap();
        assert!(
            cache.load(&engine, "bbbb").is_none(),
            "the MAC covers the digest"
        );
        assert!(!cache.path("bbbb").exists(), "the forged entry is removed");

        // Changed code under a valid seal is refused too.
        let mut code = std::fs::read(cache.path("aaaa")).unwrap();
        let last = code.len() - 1;
        code[last] ^= 1;
        std::fs::write(cache.path("aaaa"), code).unwrap();
        assert!(
            cache.load(&engine, "aaaa").is_none(),
            "the MAC covers the code"
        );
    }

    #[test]
    fn the_key_is_private_and_never_read_through_a_symlink() {
        let dir = tempfile::TempDir::new().unwrap();
        let engine = engine();
        CompileCache::open(dir.path(), &engine).unwrap();
        let key = dir.path().join("key");
        assert_eq!(std::fs::metadata(&key).unwrap().mode() & 0o777, 0o600);

        let other = tempfile::TempDir::new().unwrap();
        let target = other.path().join("planted");
        std::fs::write(&target, [1u8; KEY_LEN]).unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::symlink(&target, other.path().join("key")).unwrap();
        let err = CompileCache::open(other.path(), &engine).unwrap_err();
        assert!(format!("{err:#}").contains("symlink"), "{err:#}");

        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = CompileCache::open(dir.path(), &engine).unwrap_err();
        assert!(
            format!("{err:#}").contains("readable by no one else"),
            "{err:#}"
        );
    }
}
