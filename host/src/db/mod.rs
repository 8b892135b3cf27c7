//! Databases: the host's own (deployments and history, with host migrations
//! from `migrations/`) and one isolated namespace per tenant × service.

mod errors;
pub(crate) mod host;
pub mod migrate;
pub mod namespace;
mod pg_values;
pub mod postgres;
pub mod records;
mod sqlite;
mod values;

pub use host::{HostDb, HostPool};
pub use namespace::{Namespace, Namespaces};
pub use records::{DeploymentRecord, NewDeployment};
