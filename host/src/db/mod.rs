//! Databases: the host's own (deployments and history, with host migrations
//! from `migrations/`) and one isolated namespace per tenant × service.

pub(crate) mod errors;
pub(crate) mod host;
pub mod migrate;
pub mod namespace;
pub mod notices;
pub mod postgres;
pub mod records;
mod secrets;
mod sqlite;
pub(crate) mod values;

pub use host::{HostDb, HostPool};
pub use namespace::{Namespace, Namespaces};
pub use records::{DeploymentRecord, NewDeployment};
pub use sqlite::limit_heap as limit_sqlite_heap;
