//! Databases: the host's own (deployments and history, with host migrations
//! from `migrations/`) and one isolated namespace per tenant × service.

mod errors;
mod host;
pub mod migrate;
pub mod namespace;
mod sqlite;
mod values;

pub use host::HostDb;
pub use namespace::{Namespace, Namespaces};
