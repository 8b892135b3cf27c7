//! What is deployed: one immutable [`Snapshot`] (per tenant, its services
//! and the route table built from them) behind an atomic pointer, replaced
//! whole by every deploy, rollback or undeploy. A request holds the snapshot
//! it started with, so the version it began on finishes it; an old version is
//! dropped when its last request ends.

mod activate;
mod artifacts;
mod budget;
mod canary;
mod components;
mod deploy;
mod error;
mod grants;
mod judge;
mod locks;
mod manifest;
mod outcome;
mod params;
pub mod pattern;
mod plugins;
mod replication;
mod schema;
mod schema_cost;
mod slots;
mod snapshot;
mod split;
mod tenants;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;

pub use artifacts::ArtifactStore;
pub use deploy::{DeployReport, DeployRequest, digest};
pub use error::DeployError;
pub use judge::judge_canaries;
pub use manifest::{Checked, RouteSpec};
pub use plugins::{LoadSummary, watch};
pub use replication::follow_replicas;
pub use schema::{Invalid, MAX_PROBLEMS};
pub use snapshot::{Canary, Snapshot, Target, TenantSnapshot};
pub use split::NoSuchVersion;

use crate::admission::{Gate, QueueMetrics};

use crate::bindings::Manifest;
use crate::capabilities::database::Namespaces;
use crate::config::limits::Limits;
use crate::config::policy::Policy;
use crate::db::HostDb;
use crate::logs::LogHub;
use crate::rollout::Window;
use crate::runtime::{Entry, Grants, Runtime, WarmPool};

pub use crate::config::names::DEFAULT_TENANT;

/// Who is changing what is live: this replica (which records the change
/// and tells the others), or another one (whose records this one follows,
/// applying a change only while the records still say it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Local(Source),
    Replica,
}

/// Where a deployed version came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file in the plugins directory.
    File(PathBuf),
    /// The admin API.
    Api,
    /// A rollback to an earlier version.
    Rollback,
}

impl Source {
    /// The form kept in the deployment records.
    pub fn record(&self) -> String {
        match self {
            Source::File(path) => format!("file:{}", path.display()),
            Source::Api => "api".into(),
            Source::Rollback => "rollback".into(),
        }
    }

    /// The name of its file without the extension, for a file.
    pub fn file_stem(&self) -> Option<String> {
        match self {
            Source::File(path) => Some(path.file_stem()?.to_string_lossy().into_owned()),
            Source::Api | Source::Rollback => None,
        }
    }

    pub fn from_record(text: &str) -> Source {
        match text.strip_prefix("file:") {
            Some(path) => Source::File(plugins::absolute(Path::new(path))),
            None if text == "rollback" => Source::Rollback,
            None => Source::Api,
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.record())
    }
}

/// One live version of one service of one tenant.
pub struct Deployment {
    pub tenant: String,
    pub name: String,
    pub version: String,
    pub digest: String,
    pub source: Source,
    pub manifest: Manifest,
    /// The compiled code, shared by every deployment of the same digest.
    pub component: Arc<wasmtime::component::Component>,
    /// Linked, ready to instantiate: a berth service or a standard
    /// `wasi:http` component.
    pub entry: Entry,
    /// What its requests may reach, and how far.
    pub grants: Grants,
    pub prefix: String,
    pub routes: Vec<Arc<RouteSpec>>,
    pub loaded_at: SystemTime,
    pub limits: Limits,
    /// Drop `Set-Cookie` from its responses.
    pub strip_set_cookie: bool,
    /// Serve service worker scripts (below its mount point only).
    pub allow_service_workers: bool,
    /// The admission gate shared by every version of this service of this
    /// tenant, and its queue metrics.
    pub service_gate: Arc<Gate>,
    pub queue_metrics: Arc<QueueMetrics>,
    /// The admission gate shared by every service of this tenant.
    pub tenant_gate: Arc<Gate>,
    /// Its warm instances, when it reuses them (`reuse_instances`).
    pub warm: Option<Arc<WarmPool>>,
    /// What it answered over the last [`STATS_WINDOW`], for operators.
    pub stats: Arc<Window>,
}

/// How far back a deployment's own numbers (`Deployment::stats`) reach.
pub const STATS_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);

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

/// The deployed services and the one way to change them.
pub struct Registry {
    runtime: Arc<Runtime>,
    host_db: HostDb,
    artifacts: ArtifactStore,
    namespaces: Arc<Namespaces>,
    policy: Arc<Policy>,
    slots: slots::Slots,
    current: ArcSwap<Snapshot>,
    locks: locks::Locks,
    /// The instance pool's admission gate.
    instances: Arc<Gate>,
    /// Replication notices already accepted.
    notices: crate::db::notices::Verifier,
    /// Every service's live log.
    logs: LogHub,
}

/// What the registry is built from.
pub struct RegistryParts {
    pub runtime: Arc<Runtime>,
    pub host_db: HostDb,
    pub artifacts: ArtifactStore,
    pub namespaces: Arc<Namespaces>,
    pub policy: Arc<Policy>,
}

impl Registry {
    /// A registry with the default tenant and the configured ones, nothing
    /// deployed yet.
    pub fn new(parts: RegistryParts) -> Registry {
        let tenants = std::iter::once(DEFAULT_TENANT)
            .chain(parts.policy.tenants())
            .map(|t| (t.to_string(), Arc::new(TenantSnapshot::default())))
            .collect();
        let admissible = parts.runtime.admissible_instances();
        Registry {
            runtime: parts.runtime,
            host_db: parts.host_db,
            artifacts: parts.artifacts,
            namespaces: parts.namespaces,
            policy: parts.policy,
            slots: slots::Slots::default(),
            current: ArcSwap::from_pointee(Snapshot { tenants }),
            locks: locks::Locks::default(),
            instances: Arc::new(Gate::new(admissible, admissible.saturating_mul(4))),
            notices: Default::default(),
            logs: LogHub::default(),
        }
    }

    /// What is live now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The gate of the instance pool, which every request passes last.
    pub fn instance_gate(&self) -> &Gate {
        &self.instances
    }

    pub fn host_db(&self) -> &HostDb {
        &self.host_db
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn logs(&self) -> &LogHub {
        &self.logs
    }
}
