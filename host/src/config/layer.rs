//! One layer of configuration: the shape of `berth.toml`, and of the layer
//! the environment and the command line make. Every field is optional;
//! later layers win.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::limits::DeploymentLimitsLayer;
use super::policy::{ServiceLayer, TenantLayer};
use super::tenancy::TenancyLayer;
use super::{LogFormat, SettingsError};

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub plugins_dir: Option<PathBuf>,
    pub admin_token: Option<String>,
    /// Where the operator's plane listens: `IP:port`, or `shared`.
    pub admin_listen: Option<String>,
    /// Host names the operator's listener answers to, besides IP literals
    /// and `localhost`.
    pub admin_hosts: Option<Vec<String>>,
    pub log: Option<String>,
    pub log_format: Option<LogFormat>,
    /// Honour `x-berth-version` (preview a live or canary version).
    pub preview_header: Option<bool>,
    #[serde(default)]
    pub limits: LimitsLayer,
    #[serde(default)]
    pub runtime: RuntimeLayer,
    #[serde(default)]
    pub tenancy: TenancyLayer,
    #[serde(default)]
    pub services: BTreeMap<String, ServiceLayer>,
    #[serde(default)]
    pub tenants: BTreeMap<String, TenantLayer>,
}

layer! {
    /// The server-wide keys of `[limits]`.
    pub struct ServerLimitsLayer {
        pub max_body_bytes: usize,
        pub max_component_bytes: usize,
        pub tenant_max_concurrency: u32,
        /// Memory all SQLite connections of the process may use together.
        pub sqlite_heap_mb: u64,
        /// Longest a client may take to send request headers (and longest
        /// a keep-alive connection may sit idle).
        pub header_timeout_ms: u64,
        /// Longest a client may take to send a request body.
        pub body_timeout_ms: u64,
        /// Most client connections open at once.
        pub max_connections: usize,
        /// Most client connections open at once from one address.
        pub max_connections_per_client: usize,
        /// Most request-body bytes held in memory at once, in MiB.
        pub max_buffered_body_mb: usize,
        /// How long a stopping server lets requests in flight finish.
        pub drain_timeout_ms: u64,
    }
}

/// `[limits]`: server-wide limits, and the defaults of every deployment's
/// limits, side by side in one table.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(try_from = "toml::Table")]
pub struct LimitsLayer {
    pub server: ServerLimitsLayer,
    pub deployment: DeploymentLimitsLayer,
}

impl TryFrom<toml::Table> for LimitsLayer {
    type Error = String;

    fn try_from(mut table: toml::Table) -> Result<LimitsLayer, String> {
        let mut server = toml::Table::new();
        for key in ServerLimitsLayer::KEYS {
            if let Some(value) = table.remove(*key) {
                server.insert(key.to_string(), value);
            }
        }
        // What is left must be per-deployment keys: anything else is named
        // as unknown by that part.
        Ok(LimitsLayer {
            server: server
                .try_into()
                .map_err(|e: toml::de::Error| e.to_string())?,
            deployment: table
                .try_into()
                .map_err(|e: toml::de::Error| format!("[limits]: {e}"))?,
        })
    }
}

impl LimitsLayer {
    fn overlay(self, top: LimitsLayer) -> LimitsLayer {
        LimitsLayer {
            server: self.server.overlay(top.server),
            deployment: self.deployment.overlay(top.deployment),
        }
    }
}

layer! {
    /// `[runtime]`.
    pub struct RuntimeLayer {
        pub pooling: bool,
        pub max_instances: u32,
        /// Most instances one tenant may hold [default: half of max_instances].
        pub tenant_max_instances: u32,
        /// Most instances kept warm between requests by services that reuse
        /// them, process-wide [default: a quarter of max_instances].
        pub max_warm_instances: u32,
        pub deadlines: bool,
        /// Where compiled components are cached [default: <data dir>/cache].
        /// Instances may share one: entries are keyed by digest and engine.
        pub cache_dir: PathBuf,
    }
}

impl Layer {
    /// Reads a `berth.toml`.
    pub fn from_file(path: &Path) -> Result<Layer, SettingsError> {
        let text = std::fs::read_to_string(path).map_err(|source| SettingsError::ReadConfig {
            path: path.to_path_buf(),
            source,
        })?;
        Layer::from_toml(&text).map_err(|message| SettingsError::ParseConfig {
            path: path.to_path_buf(),
            message,
        })
    }

    pub fn from_toml(text: &str) -> Result<Layer, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// `self` overlaid with `top`: every value `top` sets wins; services and
    /// tenants merge key by key.
    pub fn overlay(self, top: Layer) -> Layer {
        let mut services = self.services;
        for (name, service) in top.services {
            let merged = services.remove(&name).unwrap_or_default().overlay(service);
            services.insert(name, merged);
        }
        let mut tenants = self.tenants;
        for (name, tenant) in top.tenants {
            let merged = tenants.remove(&name).unwrap_or_default().overlay(tenant);
            tenants.insert(name, merged);
        }
        Layer {
            listen: top.listen.or(self.listen),
            data_dir: top.data_dir.or(self.data_dir),
            database_url: top.database_url.or(self.database_url),
            plugins_dir: top.plugins_dir.or(self.plugins_dir),
            admin_token: top.admin_token.or(self.admin_token),
            admin_listen: top.admin_listen.or(self.admin_listen),
            admin_hosts: top.admin_hosts.or(self.admin_hosts),
            log: top.log.or(self.log),
            log_format: top.log_format.or(self.log_format),
            preview_header: top.preview_header.or(self.preview_header),
            limits: self.limits.overlay(top.limits),
            runtime: self.runtime.overlay(top.runtime),
            tenancy: self.tenancy.overlay(top.tenancy),
            services,
            tenants,
        }
    }
}
