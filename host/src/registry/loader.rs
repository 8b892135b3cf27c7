//! The plugins directory. At start: restore what the records say is live,
//! then deploy the files that changed while berth was down and take out the
//! services whose files were removed. While running, the watcher calls
//! [`Registry::sync_file`] for every file that changes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{DEFAULT_TENANT, DeployRequest, Registry, Source, digest};

/// What loading at start did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LoadSummary {
    /// Services brought back from the records.
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

/// The `*.wasm` files directly in `dir`, sorted by name.
pub fn wasm_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if is_plugin_file(&path) && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

pub fn is_plugin_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "wasm")
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
            let path = PathBuf::from(seen);
            if !files.contains(&path) {
                self.sync_file(&path, Trigger::Startup).await;
            }
        }
        for path in &files {
            match self.sync_file(path, Trigger::Startup).await {
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
    pub async fn sync_file(&self, path: &Path, trigger: Trigger) -> FileOutcome {
        let key = path.display().to_string();
        let seen = self.host_db.file_seen(&key).await.unwrap_or_else(|error| {
            tracing::warn!(%error, "cannot read the plugin file records");
            None
        });
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return self
                    .file_removed(path, &key, seen.and_then(|(_, service)| service))
                    .await;
            }
            Err(error) => {
                tracing::error!(file = %path.display(), %error, "cannot read plugin file");
                return FileOutcome::Refused;
            }
        };
        let digest = digest(&bytes);
        let unchanged = match trigger {
            Trigger::Startup => seen.as_ref().is_some_and(|(d, _)| *d == digest),
            Trigger::Changed => self.snapshot().deployments().any(|d| {
                d.tenant == DEFAULT_TENANT
                    && d.digest == digest
                    && d.source == Source::File(path.to_path_buf())
            }),
        };
        if unchanged {
            return FileOutcome::Unchanged;
        }
        let result = self
            .deploy(DeployRequest {
                tenant: DEFAULT_TENANT.into(),
                name: None,
                bytes: Arc::from(bytes),
                source: Source::File(path.to_path_buf()),
            })
            .await;
        let (service, outcome) = match result {
            Ok(report) => (
                Some(report.name.clone()),
                FileOutcome::Deployed(report.name),
            ),
            Err(_) => (None, FileOutcome::Refused),
        };
        if let Some(service) = &service
            && let Some((_, Some(previous))) = &seen
            && previous != service
        {
            // The file now provides another service: the old one goes.
            self.undeploy_if_from(path, previous).await;
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

    async fn file_removed(&self, path: &Path, key: &str, service: Option<String>) -> FileOutcome {
        if let Some(service) = &service {
            self.undeploy_if_from(path, service).await;
        }
        if let Err(error) = self.host_db.forget_file(key).await {
            tracing::warn!(%error, "cannot forget the plugin file");
        }
        FileOutcome::Removed(service)
    }

    /// Undeploys `service` if its live version still comes from `path` (and
    /// not, say, from a later admin deploy).
    async fn undeploy_if_from(&self, path: &Path, service: &str) {
        let snapshot = self.snapshot();
        let from_file = snapshot
            .deployment(DEFAULT_TENANT, service)
            .is_some_and(|d| d.source == Source::File(path.to_path_buf()));
        if from_file
            && let Err(error) = self
                .undeploy(DEFAULT_TENANT, service, &Source::File(path.to_path_buf()))
                .await
        {
            tracing::error!(service, %error, "cannot undeploy the service of a removed file");
        }
    }
}
