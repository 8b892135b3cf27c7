//! Why a change to what is live did not happen. What was live is untouched.
//! Each variant keeps the error it comes from.

use crate::capabilities::database::migrate::MigrationError;
use crate::routing::RouteError;
use crate::runtime::CallError;

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("{0:#}")]
    Compile(anyhow::Error),
    #[error("{0:#}")]
    NotAService(anyhow::Error),
    #[error("describe() failed: {0}")]
    Describe(#[from] CallError),
    #[error("invalid manifest: {0}")]
    Manifest(String),
    #[error("route conflict: {0}")]
    Routes(#[from] RouteError),
    #[error("{0}")]
    Migration(#[from] MigrationError),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    /// A canary plan out of bounds.
    #[error("{0}")]
    InvalidCanary(String),
    #[error("the host database is unavailable: {0}")]
    Unavailable(#[from] sqlx::Error),
    #[error("internal error: {0:#}")]
    Internal(anyhow::Error),
}

impl DeployError {
    /// A stable code for the admin API.
    pub fn code(&self) -> &'static str {
        match self {
            DeployError::Compile(_) => "compile_error",
            DeployError::NotAService(_) => "not_a_service",
            DeployError::Describe(_) => "describe_failed",
            DeployError::Manifest(_) => "invalid_manifest",
            DeployError::Routes(_) => "route_conflict",
            DeployError::Migration(_) => "migration_failed",
            DeployError::Conflict(_) => "conflict",
            DeployError::NotFound(_) => "not_found",
            DeployError::InvalidCanary(_) => "invalid_canary",
            DeployError::Unavailable(_) => "unavailable",
            DeployError::Internal(_) => "internal_error",
        }
    }
}
