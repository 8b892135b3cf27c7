//! The host's own database: deployments and history, artifacts, plugin
//! files, tenants, and the host's secrets, with host migrations from
//! `migrations/`. SQLite by default, PostgreSQL when the URL says so.
//! Services' data is the database capability's (`capabilities::database`).

pub mod canaries;
pub(crate) mod host;
pub mod notices;
pub mod records;
pub(crate) mod secrets;
mod tenants;

pub use canaries::{CanaryRecord, Ending};
pub use host::{HostDb, HostPool};
pub use records::{DeploymentRecord, NewDeployment};
