//! Watching the plugins directory (and its tenant folders): changes are
//! debounced (a file being written is deployed once it has been quiet for a moment; dropping a file
//! in with an atomic rename is the reliable way), then each changed
//! `*.wasm` is synced.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use notify_debouncer_full::notify::event::ModifyKind;
use notify_debouncer_full::notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, new_debouncer};
use tokio_util::sync::CancellationToken;

use super::{FileOutcome, Trigger, is_plugin_file, tenant_of};
use crate::registry::Registry;

/// How long a file must be quiet before it is read.
pub const DEBOUNCE: Duration = Duration::from_millis(150);

/// Creation, writes, renames and removal; not reads (berth reading a file
/// must not trigger another sync) nor metadata changes.
fn changes_content(kind: &EventKind) -> bool {
    match kind {
        EventKind::Create(_) | EventKind::Remove(_) => true,
        EventKind::Modify(ModifyKind::Metadata(_)) => false,
        EventKind::Modify(_) => true,
        EventKind::Access(_) | EventKind::Any | EventKind::Other => false,
    }
}

fn folder_files(folder: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(folder)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| is_plugin_file(p) && p.is_file())
                .collect()
        })
        .unwrap_or_default()
}

/// Watches `dir` until `shutdown` is cancelled.
pub fn watch(
    registry: Arc<Registry>,
    dir: &Path,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<DebounceEventResult>();
    let mut debouncer = new_debouncer(DEBOUNCE, None, move |result| {
        let _ = sender.send(result);
    })
    .context("cannot start the plugins dir watcher")?;
    debouncer
        .watch(dir, RecursiveMode::Recursive)
        .with_context(|| format!("cannot watch the plugins dir {}", dir.display()))?;
    let dir = dir.to_path_buf();
    tokio::spawn(async move {
        // The debouncer stops when dropped: keep it for as long as we watch.
        let _debouncer = debouncer;
        loop {
            let events = tokio::select! {
                () = shutdown.cancelled() => break,
                events = receiver.recv() => match events {
                    Some(events) => events,
                    None => break,
                },
            };
            match events {
                Ok(events) => {
                    let mut paths = BTreeSet::new();
                    for path in events
                        .iter()
                        .filter(|event| changes_content(&event.kind))
                        .flat_map(|event| event.paths.iter())
                    {
                        if is_plugin_file(path) && tenant_of(&dir, path).is_some() {
                            paths.insert(path.clone());
                        } else if path.parent() == Some(dir.as_path()) && path.is_dir() {
                            // A new tenant folder: files may have landed in it
                            // before the watcher saw the folder.
                            paths.extend(folder_files(path));
                        }
                    }
                    for path in paths {
                        match registry.sync_file(&dir, &path, Trigger::Changed).await {
                            FileOutcome::Unchanged => {
                                tracing::debug!(file = %path.display(), "plugin file unchanged");
                            }
                            outcome => {
                                tracing::info!(file = %path.display(), ?outcome, "plugin file synced");
                            }
                        }
                    }
                }
                Err(errors) => {
                    for error in errors {
                        tracing::warn!(%error, "plugins dir watcher error");
                    }
                }
            }
        }
    });
    Ok(())
}
