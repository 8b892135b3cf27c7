//! Settings, layered: built-in defaults → `berth.toml` → `BERTH_*` environment
//! variables → command-line flags. Environment and flags arrive together from
//! clap (a flag wins over its variable); the file is read here. Everything is
//! validated once, at start, with messages that name the setting at fault.
//! What applies to one tenant × service (limits, settings, prefix, outbound
//! hosts) is resolved by [`crate::policy`].

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::http::server::ClientLimits;
use crate::policy::{DeploymentLimitsLayer, Policy, ServiceLayer, TenantLayer};
use crate::tenancy::{Tenancy, TenancyLayer};

/// Why the settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read the config file {path}: {source}")]
    ReadConfig {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the config file {path} is invalid: {message}")]
    ParseConfig { path: PathBuf, message: String },
    #[error("invalid {setting}: {message}")]
    Invalid {
        setting: &'static str,
        message: String,
    },
}

pub(crate) fn invalid(setting: &'static str, message: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        setting,
        message: message.into(),
    }
}

/// The admin API's bearer token; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The fully resolved, validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub plugins_dir: PathBuf,
    pub admin_token: Option<Secret>,
    pub log: String,
    pub log_format: LogFormat,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Largest component the admin API accepts, in bytes.
    pub max_component_bytes: usize,
    /// Memory all SQLite connections of the process may use together.
    pub sqlite_heap_bytes: u64,
    /// How slow and idle clients are bounded.
    pub clients: ClientLimits,
    /// Use wasmtime's pooling allocator (falls back to on-demand if refused).
    pub pooling: bool,
    /// Most instances alive at once (pooling allocator slots).
    pub max_instances: u32,
    /// Stop guests at their deadline (off only to measure its cost).
    pub deadlines: bool,
    /// How a request's tenant is found.
    pub tenancy: Tenancy,
    /// What applies to each tenant × service.
    pub policy: Arc<Policy>,
}

/// One layer of settings: every field optional, later layers win. This is
/// the shape of `berth.toml` as well as of the environment/flag layer.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub plugins_dir: Option<PathBuf>,
    pub admin_token: Option<String>,
    pub log: Option<String>,
    pub log_format: Option<LogFormat>,
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

/// `[limits]`: server-wide limits, the default tenant quota, and the
/// defaults of every deployment's limits.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LimitsLayer {
    pub max_body_bytes: Option<usize>,
    pub max_component_bytes: Option<usize>,
    pub tenant_max_concurrency: Option<u32>,
    /// Memory all SQLite connections of the process may use together.
    pub sqlite_heap_mb: Option<u64>,
    /// Longest a client may take to send request headers (and longest a
    /// keep-alive connection may sit idle).
    pub header_timeout_ms: Option<u64>,
    /// Longest a client may take to send a request body.
    pub body_timeout_ms: Option<u64>,
    /// Most client connections open at once.
    pub max_connections: Option<usize>,
    /// Most client connections open at once from one address.
    pub max_connections_per_client: Option<usize>,
    /// Most request-body bytes held in memory at once, in MiB.
    pub max_buffered_body_mb: Option<usize>,
    pub request_timeout_ms: Option<u64>,
    pub memory_mb: Option<usize>,
    pub max_concurrency: Option<u32>,
    pub max_rows: Option<u64>,
    pub max_result_bytes: Option<u64>,
    pub max_statements: Option<u32>,
    pub max_response_bytes: Option<usize>,
    pub statement_timeout_ms: Option<u64>,
    pub migration_timeout_ms: Option<u64>,
    pub max_database_mb: Option<u64>,
    pub queue_timeout_ms: Option<u64>,
    pub max_queue: Option<u32>,
    /// How long a stopping server lets requests in flight finish.
    pub drain_timeout_ms: Option<u64>,
}

impl LimitsLayer {
    /// The part that applies per deployment.
    pub fn deployment(&self) -> DeploymentLimitsLayer {
        DeploymentLimitsLayer {
            request_timeout_ms: self.request_timeout_ms,
            memory_mb: self.memory_mb,
            max_concurrency: self.max_concurrency,
            max_rows: self.max_rows,
            max_result_bytes: self.max_result_bytes,
            max_statements: self.max_statements,
            max_response_bytes: self.max_response_bytes,
            statement_timeout_ms: self.statement_timeout_ms,
            migration_timeout_ms: self.migration_timeout_ms,
            max_database_mb: self.max_database_mb,
            queue_timeout_ms: self.queue_timeout_ms,
            max_queue: self.max_queue,
        }
    }

    fn overlay(self, top: LimitsLayer) -> LimitsLayer {
        let deployment = self.deployment().overlay(top.deployment());
        LimitsLayer {
            max_body_bytes: top.max_body_bytes.or(self.max_body_bytes),
            max_component_bytes: top.max_component_bytes.or(self.max_component_bytes),
            tenant_max_concurrency: top.tenant_max_concurrency.or(self.tenant_max_concurrency),
            sqlite_heap_mb: top.sqlite_heap_mb.or(self.sqlite_heap_mb),
            header_timeout_ms: top.header_timeout_ms.or(self.header_timeout_ms),
            body_timeout_ms: top.body_timeout_ms.or(self.body_timeout_ms),
            max_connections: top.max_connections.or(self.max_connections),
            max_connections_per_client: top
                .max_connections_per_client
                .or(self.max_connections_per_client),
            max_buffered_body_mb: top.max_buffered_body_mb.or(self.max_buffered_body_mb),
            request_timeout_ms: deployment.request_timeout_ms,
            memory_mb: deployment.memory_mb,
            max_concurrency: deployment.max_concurrency,
            max_rows: deployment.max_rows,
            max_result_bytes: deployment.max_result_bytes,
            max_statements: deployment.max_statements,
            max_response_bytes: deployment.max_response_bytes,
            statement_timeout_ms: deployment.statement_timeout_ms,
            migration_timeout_ms: deployment.migration_timeout_ms,
            max_database_mb: deployment.max_database_mb,
            queue_timeout_ms: deployment.queue_timeout_ms,
            max_queue: deployment.max_queue,
            drain_timeout_ms: top.drain_timeout_ms.or(self.drain_timeout_ms),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RuntimeLayer {
    pub pooling: Option<bool>,
    pub max_instances: Option<u32>,
    /// Most instances one tenant may hold [default: half of max_instances].
    pub tenant_max_instances: Option<u32>,
    pub deadlines: Option<bool>,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA_DIR: &str = "berth-data";
const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
const DEFAULT_MAX_COMPONENT_BYTES: usize = 64 * 1024 * 1024;
const DEFAULT_MAX_INSTANCES: u32 = 1000;
const DEFAULT_SQLITE_HEAP_MB: u64 = 1024;

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
            log: top.log.or(self.log),
            log_format: top.log_format.or(self.log_format),
            limits: self.limits.overlay(top.limits),
            runtime: RuntimeLayer {
                pooling: top.runtime.pooling.or(self.runtime.pooling),
                max_instances: top.runtime.max_instances.or(self.runtime.max_instances),
                tenant_max_instances: top
                    .runtime
                    .tenant_max_instances
                    .or(self.runtime.tenant_max_instances),
                deadlines: top.runtime.deadlines.or(self.runtime.deadlines),
            },
            tenancy: self.tenancy.overlay(top.tenancy),
            services,
            tenants,
        }
    }

    /// Applies defaults and validates. Does not touch the file system.
    pub fn resolve(self) -> Result<Settings, SettingsError> {
        let listen_text = self.listen.unwrap_or_else(|| DEFAULT_LISTEN.into());
        let listen = listen_text.parse::<SocketAddr>().map_err(|e| {
            invalid(
                "listen address (BERTH_LISTEN)",
                format!("`{listen_text}` is not an IP:port address ({e})"),
            )
        })?;
        let data_dir = self.data_dir.unwrap_or_else(|| DEFAULT_DATA_DIR.into());
        if data_dir.as_os_str().is_empty() {
            return Err(invalid("data dir (BERTH_DATA_DIR)", "it is empty"));
        }
        let database_url = match self.database_url {
            Some(url) => validate_database_url(url)?,
            None => format!("sqlite://{}", data_dir.join("berth.db").display()),
        };
        let plugins_dir = self.plugins_dir.unwrap_or_else(|| data_dir.join("plugins"));
        let admin_token = match self.admin_token {
            None => None,
            Some(t) if t.trim().len() < 16 => {
                return Err(invalid(
                    "admin token (BERTH_ADMIN_TOKEN)",
                    "it must be at least 16 characters",
                ));
            }
            Some(t) => Some(Secret::new(t.trim())),
        };
        let max_body_bytes = positive(
            "limits.max_body_bytes (BERTH_MAX_BODY_BYTES)",
            self.limits.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES),
        )?;
        let max_component_bytes = positive(
            "limits.max_component_bytes (BERTH_MAX_COMPONENT_BYTES)",
            self.limits
                .max_component_bytes
                .unwrap_or(DEFAULT_MAX_COMPONENT_BYTES),
        )?;
        let max_instances = positive(
            "runtime.max_instances (BERTH_MAX_INSTANCES)",
            self.runtime.max_instances.unwrap_or(DEFAULT_MAX_INSTANCES),
        )?;
        let sqlite_heap_bytes = positive(
            "limits.sqlite_heap_mb",
            self.limits.sqlite_heap_mb.unwrap_or(DEFAULT_SQLITE_HEAP_MB),
        )?
        .saturating_mul(1 << 20);
        let clients = ClientLimits {
            header_timeout: Duration::from_millis(positive(
                "limits.header_timeout_ms",
                self.limits.header_timeout_ms.unwrap_or(10_000),
            )?),
            body_timeout: Duration::from_millis(positive(
                "limits.body_timeout_ms",
                self.limits.body_timeout_ms.unwrap_or(30_000),
            )?),
            max_connections: positive(
                "limits.max_connections",
                self.limits.max_connections.unwrap_or(10_000),
            )?,
            max_connections_per_client: positive(
                "limits.max_connections_per_client",
                self.limits.max_connections_per_client.unwrap_or(4_096),
            )?,
            // Room for at least one body of the largest size.
            drain_timeout: Duration::from_millis(positive(
                "limits.drain_timeout_ms",
                self.limits.drain_timeout_ms.unwrap_or(30_000),
            )?),
            max_buffered_body_bytes: positive(
                "limits.max_buffered_body_mb",
                self.limits.max_buffered_body_mb.unwrap_or(256),
            )?
            .saturating_mul(1 << 20)
            .max(max_body_bytes),
        };
        let tenant_max_instances = positive(
            "runtime.tenant_max_instances",
            self.runtime
                .tenant_max_instances
                .unwrap_or((max_instances / 2).max(1)),
        )?
        .min(max_instances);
        let policy = Policy::new(
            &self.limits,
            tenant_max_instances,
            self.services,
            self.tenants,
        )?;
        Ok(Settings {
            listen,
            data_dir,
            database_url,
            plugins_dir,
            admin_token,
            log: self.log.unwrap_or_else(|| "info".into()),
            log_format: self.log_format.unwrap_or(LogFormat::Text),
            max_body_bytes,
            max_component_bytes,
            sqlite_heap_bytes,
            clients,
            pooling: self.runtime.pooling.unwrap_or(true),
            max_instances,
            deadlines: self.runtime.deadlines.unwrap_or(true),
            tenancy: self.tenancy.resolve()?,
            policy: Arc::new(policy),
        })
    }
}

pub(crate) fn positive<T: PartialOrd + Default + fmt::Display>(
    setting: &'static str,
    value: T,
) -> Result<T, SettingsError> {
    if value > T::default() {
        Ok(value)
    } else {
        Err(invalid(
            setting,
            format!("must be more than 0, got {value}"),
        ))
    }
}

fn validate_database_url(url: String) -> Result<String, SettingsError> {
    let known = ["sqlite:", "postgres://", "postgresql://"];
    if known.iter().any(|scheme| url.starts_with(scheme)) {
        Ok(url)
    } else {
        Err(invalid(
            "database URL (BERTH_DATABASE_URL)",
            "it must start with sqlite:, postgres:// or postgresql://",
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn layer(toml: &str) -> Layer {
        Layer::from_toml(toml).unwrap()
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let settings = Layer::default().resolve().unwrap();
        assert_eq!(settings.listen, DEFAULT_LISTEN.parse().unwrap());
        assert_eq!(settings.plugins_dir, Path::new("berth-data/plugins"));
        assert_eq!(settings.database_url, "sqlite://berth-data/berth.db");
        assert_eq!(settings.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
        assert!(settings.admin_token.is_none());
        assert_eq!(settings.tenancy, Tenancy::Off);
    }

    #[test]
    fn the_file_overrides_defaults_and_the_environment_overrides_the_file() {
        let file = layer(
            r#"
            listen = "127.0.0.1:9000"
            data_dir = "/srv/berth"
            [limits]
            request_timeout_ms = 2000
            memory_mb = 32
            "#,
        );
        let env = Layer {
            listen: Some("0.0.0.0:7000".into()),
            limits: LimitsLayer {
                memory_mb: Some(48),
                ..LimitsLayer::default()
            },
            ..Layer::default()
        };
        let settings = Layer::default()
            .overlay(file)
            .overlay(env)
            .resolve()
            .unwrap();
        assert_eq!(settings.listen, "0.0.0.0:7000".parse().unwrap());
        assert_eq!(settings.data_dir, Path::new("/srv/berth"));
        assert_eq!(settings.plugins_dir, Path::new("/srv/berth/plugins"));
        let limits = settings.policy.deployment("default", "any").limits;
        assert_eq!(limits.request_timeout, Duration::from_secs(2));
        assert_eq!(limits.memory_bytes, 48 * 1024 * 1024);
    }

    #[test]
    fn a_bad_listen_address_is_named() {
        let err = Layer {
            listen: Some("localhost".into()),
            ..Layer::default()
        }
        .resolve()
        .unwrap_err();
        assert!(err.to_string().contains("listen address"), "{err}");
        assert!(err.to_string().contains("`localhost`"), "{err}");
    }

    #[test]
    fn an_unknown_key_in_the_file_is_refused() {
        let err = Layer::from_toml("lisen = \"127.0.0.1:1\"").unwrap_err();
        assert!(err.contains("unknown field `lisen`"), "{err}");
    }

    #[test]
    fn zero_limits_and_short_tokens_and_odd_urls_are_refused() {
        let zero = layer("[limits]\nmemory_mb = 0").resolve().unwrap_err();
        assert!(zero.to_string().contains("memory_mb"), "{zero}");
        let short = Layer {
            admin_token: Some("short".into()),
            ..Layer::default()
        };
        assert!(
            short
                .resolve()
                .unwrap_err()
                .to_string()
                .contains("admin token")
        );
        let url = Layer {
            database_url: Some("mysql://x".into()),
            ..Layer::default()
        };
        assert!(
            url.resolve()
                .unwrap_err()
                .to_string()
                .contains("database URL")
        );
    }

    #[test]
    fn the_admin_token_is_not_printed() {
        let settings = Layer {
            admin_token: Some("correct-horse-battery-staple".into()),
            ..Layer::default()
        }
        .resolve()
        .unwrap();
        assert!(!format!("{settings:?}").contains("horse"));
    }
}
