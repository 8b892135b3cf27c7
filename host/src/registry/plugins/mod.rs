//! The plugins directory: `*.wasm` files at its top belong to the default
//! tenant, files in `<tenant>/` folders to that tenant. At start: restore
//! what the records say is live, then deploy the files that changed while
//! berth was down and take out the services whose files were removed. While
//! running, the watcher ([`watch`]) calls [`Registry::sync_file`] for every
//! file that changes. Files are known by their absolute path.

mod watch;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use watch::watch;

use super::{DEFAULT_TENANT, DeployRequest, Registry, Source};

/// What loading at start did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LoadSummary {
    /// Services brought back from the records (`tenant/name` outside the
    /// default tenant).
    pub restored: Vec<String>,
    /// Services deployed from files that were new or changed.
    pub deployed: Vec<String>,
    /// Files that were refused.
    pub refused: Vec<PathBuf>,
}

/// Why a file is being synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// At start: content berth already processed is left alone, so that a
    /// restart does not undo what the admin API did since (a rollback).
    Startup,
    /// The file changed on disk: its content is put live unless it already is.
    Changed,
}

/// What syncing one file did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileOutcome {
    Deployed(String),
    Refused,
    Unchanged,
    Removed(Option<String>),
}

/// `path` made absolute the way the plugins directory is (its folder
/// canonicalized when it still exists), for paths recorded relative to the
/// working directory by earlier versions.
pub fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    let folder = path.parent().and_then(|p| std::fs::canonicalize(p).ok());
    match (folder, path.file_name()) {
        (Some(folder), Some(name)) => folder.join(name),
        _ => std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
    }
}

pub fn is_plugin_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "wasm")
}

/// The tenant a plugin file belongs to, if it is where plugin files go.
pub fn tenant_of(dir: &Path, path: &Path) -> Option<String> {
    let parent = path.parent()?;
    if parent == dir {
        return Some(DEFAULT_TENANT.to_string());
    }
    (parent.parent()? == dir)
        .then(|| parent.file_name()?.to_str().map(str::to_string))
        .flatten()
}

/// The plugin files in `dir` and its tenant folders, sorted.
pub fn wasm_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            for inner in std::fs::read_dir(&path)? {
                let inner = inner?.path();
                if is_plugin_file(&inner) && inner.is_file() {
                    files.push(inner);
                }
            }
        } else if is_plugin_file(&path) && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

impl Registry {
    pub async fn load(&self, dir: &Path) -> std::io::Result<LoadSummary> {
        let mut summary = LoadSummary {
            restored: self.restore().await,
            ..LoadSummary::default()
        };
        let files = wasm_files(dir)?;
        // Removals first, so that a service whose file moved is free to be
        // deployed from its new place.
        for seen in self.host_db.files_seen().await.unwrap_or_default() {
            let path = self.absolute_record(&seen).await;
            if !files.contains(&path) {
                self.sync_file(dir, &path, Trigger::Startup).await;
            }
        }
        for path in &files {
            match self.sync_file(dir, path, Trigger::Startup).await {
                FileOutcome::Deployed(name) => summary.deployed.push(name),
                FileOutcome::Refused => summary.refused.push(path.clone()),
                FileOutcome::Unchanged | FileOutcome::Removed(_) => {}
            }
        }
        Ok(summary)
    }

    /// Brings the service a plugin file provides in line with the file:
    /// deploys its content, undeploys the service when the file is gone. A
    /// file that fails is retried when it changes again, never in a loop.
    pub async fn sync_file(&self, dir: &Path, path: &Path, trigger: Trigger) -> FileOutcome {
        let Some(tenant) = tenant_of(dir, path) else {
            return FileOutcome::Unchanged;
        };
        let key = path.display().to_string();
        let seen = self.host_db.file_seen(&key).await.unwrap_or_else(|error| {
            tracing::warn!(%error, "cannot read the plugin file records");
            None
        });
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return self
                    .file_removed(&tenant, path, &key, seen.and_then(|(_, service)| service))
                    .await;
            }
            Err(error) => {
                tracing::error!(file = %path.display(), %error, "cannot read plugin file");
                return FileOutcome::Refused;
            }
        };
        let request = DeployRequest::new(
            &tenant,
            None,
            Arc::from(bytes),
            Source::File(path.to_path_buf()),
        );
        let digest = request.digest.clone();
        let unchanged = match trigger {
            Trigger::Startup => seen.as_ref().is_some_and(|(d, _)| *d == digest),
            Trigger::Changed => self.snapshot().tenant(&tenant).is_some_and(|t| {
                t.services
                    .values()
                    .any(|d| d.digest == digest && d.source == Source::File(path.to_path_buf()))
            }),
        };
        if unchanged {
            return FileOutcome::Unchanged;
        }
        if tenant != DEFAULT_TENANT
            && let Err(error) = self.create_tenant(&tenant).await
        {
            tracing::error!(file = %path.display(), %error, "cannot create the tenant of a plugin folder");
            return FileOutcome::Refused;
        }
        let (service, outcome) = match self.deploy(request).await {
            Ok(report) => (
                Some(report.name.clone()),
                FileOutcome::Deployed(report.name),
            ),
            // What was live stays live, and still comes from this file:
            // removing it must take that service out.
            Err(_) => (
                seen.as_ref().and_then(|(_, service)| service.clone()),
                FileOutcome::Refused,
            ),
        };
        if let Some(service) = &service
            && let Some((_, Some(previous))) = &seen
            && previous != service
        {
            // The file now provides another service: the old one goes.
            self.undeploy_if_from(&tenant, path, previous).await;
        }
        if let Err(error) = self
            .host_db
            .set_file_seen(&key, &digest, service.as_deref())
            .await
        {
            tracing::warn!(%error, "cannot record the plugin file");
        }
        outcome
    }

    /// The path of a plugin file record, made absolute (see [`absolute`])
    /// and the record renamed when it was relative.
    async fn absolute_record(&self, key: &str) -> PathBuf {
        let recorded = Path::new(key);
        let path = absolute(recorded);
        if path != recorded
            && let Ok(Some((digest, service))) = self.host_db.file_seen(key).await
        {
            let renamed = self
                .host_db
                .set_file_seen(&path.display().to_string(), &digest, service.as_deref())
                .await;
            if renamed.is_ok() {
                let _ = self.host_db.forget_file(key).await;
            }
        }
        path
    }

    async fn file_removed(
        &self,
        tenant: &str,
        path: &Path,
        key: &str,
        service: Option<String>,
    ) -> FileOutcome {
        if let Some(service) = &service {
            self.undeploy_if_from(tenant, path, service).await;
        }
        if let Err(error) = self.host_db.forget_file(key).await {
            tracing::warn!(%error, "cannot forget the plugin file");
        }
        FileOutcome::Removed(service)
    }

    /// Undeploys `service` if its live version still comes from `path` (and
    /// not, say, from a later admin deploy).
    async fn undeploy_if_from(&self, tenant: &str, path: &Path, service: &str) {
        let snapshot = self.snapshot();
        let from_file = snapshot
            .deployment(tenant, service)
            .is_some_and(|d| d.source == Source::File(path.to_path_buf()));
        if from_file
            && let Err(error) = self
                .undeploy(tenant, service, Source::File(path.to_path_buf()))
                .await
        {
            tracing::error!(tenant, service, %error, "cannot undeploy the service of a removed file");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_at_the_top_belong_to_the_default_tenant_and_folders_name_theirs() {
        let dir = Path::new("/plugins");
        assert_eq!(
            tenant_of(dir, Path::new("/plugins/a.wasm")).as_deref(),
            Some("default")
        );
        assert_eq!(
            tenant_of(dir, Path::new("/plugins/acme/a.wasm")).as_deref(),
            Some("acme")
        );
        assert_eq!(tenant_of(dir, Path::new("/plugins/acme/deep/a.wasm")), None);
        assert_eq!(tenant_of(dir, Path::new("/elsewhere/a.wasm")), None);
    }
}
