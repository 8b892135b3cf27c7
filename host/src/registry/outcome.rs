//! What became of a deploy, told three ways: the host's log, the
//! service's live log, and, for a refusal, the history.

use super::{DeployError, DeployReport, DeployRequest, Registry};
use crate::logs::Level;

impl Registry {
    /// Logs what became of `request`, and records a refusal in the history.
    pub(super) async fn log_outcome(
        &self,
        request: &DeployRequest,
        result: &Result<DeployReport, DeployError>,
        done: &str,
    ) {
        let (source, digest) = (&request.source, &request.digest);
        match result {
            Ok(report) => {
                tracing::info!(
                    tenant = %report.tenant, service = %report.name, version = %report.version,
                    digest = %&digest[..12], %source, migrations = ?report.migrations_applied, "{done}"
                );
                self.logs.host(
                    &report.tenant,
                    &report.name,
                    Level::Info,
                    format!(
                        "{done}: {} ({}) from {source}",
                        report.version,
                        &digest[..12]
                    ),
                );
            }
            Err(error) => {
                tracing::error!(tenant = %request.tenant, %source, digest = %&digest[..12], %error, "deploy refused");
                let name = request
                    .name
                    .clone()
                    .or_else(|| source.file_stem())
                    .unwrap_or_default();
                if !name.is_empty() {
                    self.logs.host_if_known(
                        &request.tenant,
                        &name,
                        Level::Error,
                        format!("deploy refused ({} from {source}): {error}", &digest[..12]),
                    );
                }
                if let Err(error) = self
                    .host_db
                    .record_failure(
                        &request.tenant,
                        &name,
                        digest,
                        &source.record(),
                        &error.to_string(),
                    )
                    .await
                {
                    tracing::warn!(%error, "cannot record the refused deployment");
                }
            }
        }
    }
}
