//! What is deployed: one immutable [`Snapshot`] (services and the route
//! table built from them) behind an atomic pointer, replaced whole by every
//! deploy or undeploy. A request holds the snapshot it started with, so the
//! version it began on finishes it; the old version is dropped when its last
//! request ends.

mod deploy;
mod loader;
mod manifest;
mod schema;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;

pub use deploy::{DeployError, DeployReport};
pub use loader::LoadSummary;
pub use manifest::{RouteSpec, validate_name};
pub use schema::Invalid;

use crate::bindings::{Manifest, ServicePre};
use crate::db::{HostDb, Namespace, Namespaces};
use crate::routing::{RouteError, RouteTable, RouteTableBuilder};
use crate::runtime::{Runtime, ServiceState};
use crate::settings::{Limits, ServiceConfig};

/// The tenant used while multi-tenancy is off.
pub const DEFAULT_TENANT: &str = "default";

/// Where a deployed version came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file in the plugins directory.
    File(PathBuf),
    /// The admin API.
    Api,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File(path) => write!(f, "file {}", path.display()),
            Source::Api => f.write_str("admin API"),
        }
    }
}

/// One live version of one service.
pub struct Deployment {
    pub tenant: String,
    pub name: String,
    pub version: String,
    pub digest: String,
    pub source: Source,
    pub manifest: Manifest,
    pub pre: ServicePre<ServiceState>,
    pub namespace: Option<Arc<Namespace>>,
    pub settings: Arc<BTreeMap<String, String>>,
    pub prefix: String,
    pub routes: Vec<Arc<RouteSpec>>,
    pub loaded_at: SystemTime,
}

impl std::fmt::Debug for Deployment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deployment")
            .field("tenant", &self.tenant)
            .field("name", &self.name)
            .field("version", &self.version)
            .field("digest", &self.digest)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// What a matched route leads to.
#[derive(Debug, Clone)]
pub struct Target {
    pub deployment: Arc<Deployment>,
    pub route: Arc<RouteSpec>,
}

/// Everything live at one moment.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub services: BTreeMap<String, Arc<Deployment>>,
    pub routes: RouteTable<Target>,
}

impl Snapshot {
    /// The snapshot with `services` and a route table built from them.
    fn build(services: BTreeMap<String, Arc<Deployment>>) -> Result<Snapshot, RouteError> {
        let mut builder = RouteTableBuilder::default();
        for deployment in services.values() {
            for route in &deployment.routes {
                let target = Target {
                    deployment: deployment.clone(),
                    route: route.clone(),
                };
                builder.add(route.method.clone(), route.path.clone(), target)?;
            }
        }
        Ok(Snapshot {
            routes: builder.build()?,
            services,
        })
    }
}

/// The deployed services and the one way to change them.
pub struct Registry {
    runtime: Arc<Runtime>,
    host_db: HostDb,
    namespaces: Arc<Namespaces>,
    limits: Limits,
    services: BTreeMap<String, ServiceConfig>,
    current: ArcSwap<Snapshot>,
    deploying: tokio::sync::Mutex<()>,
}

impl Registry {
    pub fn new(
        runtime: Arc<Runtime>,
        host_db: HostDb,
        namespaces: Arc<Namespaces>,
        limits: Limits,
        services: BTreeMap<String, ServiceConfig>,
    ) -> Registry {
        Registry {
            runtime,
            host_db,
            namespaces,
            limits,
            services,
            current: ArcSwap::from_pointee(Snapshot::default()),
            deploying: tokio::sync::Mutex::new(()),
        }
    }

    /// What is live now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Takes a service out: its routes answer 404 once the requests it is
    /// serving finish. Returns whether it was deployed.
    pub async fn undeploy(&self, name: &str) -> bool {
        let _guard = self.deploying.lock().await;
        let current = self.current.load_full();
        if !current.services.contains_key(name) {
            return false;
        }
        let mut services = current.services.clone();
        services.remove(name);
        let next = Snapshot::build(services).expect("removing a service cannot create a conflict");
        self.current.store(Arc::new(next));
        tracing::info!(service = name, "service undeployed");
        true
    }
}
