//! The host's configuration, layered: built-in defaults → `berth.toml` →
//! `BERTH_*` environment variables → command-line flags. Environment and
//! flags arrive together from clap (a flag wins over its variable); the file
//! is read in [`layer`]. Everything is validated once, at start, with
//! messages that name the setting at fault. What applies to one tenant ×
//! service (limits, settings, prefix, outbound hosts) is resolved by
//! [`policy`]; name and path rules are in [`names`].

#[macro_use]
mod macros;
pub mod components;
pub mod layer;
pub mod limits;
pub mod names;
pub mod plane;
pub mod policy;
mod reuse;
pub mod tenancy;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

pub use layer::{Layer, LimitsLayer, RuntimeLayer, ServerLimitsLayer};
pub use plane::{AdminHosts, AdminListen};
use policy::Policy;
pub use policy::Reuse;
use tenancy::Tenancy;

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

/// An admin token; never printed.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
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

/// How the listener bounds its clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientLimits {
    /// Longest a client may take to send a request's headers, and longest
    /// a keep-alive connection may sit idle.
    pub header_timeout: Duration,
    /// Longest a client may take to send a request's body.
    pub body_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
    /// Most connections open at once from one client address.
    pub max_connections_per_client: usize,
    /// Most request-body bytes held in memory at once, over all requests.
    pub max_buffered_body_bytes: usize,
    /// How long a stopping server lets requests in flight finish.
    pub drain_timeout: Duration,
}

/// The fully resolved, validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub plugins_dir: PathBuf,
    pub admin_token: Option<Secret>,
    /// Where the operator's plane (admin API, console, metrics) listens.
    pub admin_listen: AdminListen,
    /// Host names the operator's own listener answers to.
    pub admin_hosts: AdminHosts,
    pub log: String,
    pub log_format: LogFormat,
    /// Whether `x-berth-version` previews a version (off by default).
    pub preview_header: bool,
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
    /// Most instances requests hold at once (pooling allocator slots).
    pub max_instances: u32,
    /// Most instances kept warm between requests, process-wide (pooling
    /// allocator slots on top of `max_instances`).
    pub max_warm_instances: u32,
    /// Most of them one tenant's: its share of the instance pool
    /// (`tenant_max_instances` ÷ `max_instances`) of them.
    pub tenant_max_warm_instances: u32,
    /// Stop guests at their deadline (off only to measure its cost).
    pub deadlines: bool,
    /// Where compiled components are cached.
    pub cache_dir: PathBuf,
    /// How a request's tenant is found.
    pub tenancy: Tenancy,
    /// What applies to each tenant × service.
    pub policy: Arc<Policy>,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA_DIR: &str = "berth-data";
const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
const DEFAULT_MAX_COMPONENT_BYTES: usize = 64 * 1024 * 1024;
const DEFAULT_MAX_INSTANCES: u32 = 1000;
const DEFAULT_SQLITE_HEAP_MB: u64 = 1024;

impl Layer {
    /// Applies defaults and validates. Does not touch the file system.
    pub fn resolve(self) -> Result<Settings, SettingsError> {
        let listen_text = self.listen.unwrap_or_else(|| DEFAULT_LISTEN.into());
        let listen = listen_text.parse::<SocketAddr>().map_err(|e| {
            invalid(
                "listen address (BERTH_LISTEN)",
                format!("`{listen_text}` is not an IP:port address ({e})"),
            )
        })?;
        let admin_listen = AdminListen::resolve(self.admin_listen, listen)?;
        let admin_hosts = AdminHosts::resolve(self.admin_hosts)?;
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
            self.limits
                .server
                .max_body_bytes
                .unwrap_or(DEFAULT_MAX_BODY_BYTES),
        )?;
        let max_component_bytes = positive(
            "limits.max_component_bytes (BERTH_MAX_COMPONENT_BYTES)",
            self.limits
                .server
                .max_component_bytes
                .unwrap_or(DEFAULT_MAX_COMPONENT_BYTES),
        )?;
        let max_instances = positive(
            "runtime.max_instances (BERTH_MAX_INSTANCES)",
            self.runtime.max_instances.unwrap_or(DEFAULT_MAX_INSTANCES),
        )?;
        let sqlite_heap_bytes = positive(
            "limits.sqlite_heap_mb",
            self.limits
                .server
                .sqlite_heap_mb
                .unwrap_or(DEFAULT_SQLITE_HEAP_MB),
        )?
        .saturating_mul(1 << 20);
        let clients = ClientLimits {
            header_timeout: Duration::from_millis(positive(
                "limits.header_timeout_ms",
                self.limits.server.header_timeout_ms.unwrap_or(10_000),
            )?),
            body_timeout: Duration::from_millis(positive(
                "limits.body_timeout_ms",
                self.limits.server.body_timeout_ms.unwrap_or(30_000),
            )?),
            max_connections: positive(
                "limits.max_connections",
                self.limits.server.max_connections.unwrap_or(10_000),
            )?,
            max_connections_per_client: positive(
                "limits.max_connections_per_client",
                self.limits
                    .server
                    .max_connections_per_client
                    .unwrap_or(4_096),
            )?,
            // Room for at least one body of the largest size.
            drain_timeout: Duration::from_millis(positive(
                "limits.drain_timeout_ms",
                self.limits.server.drain_timeout_ms.unwrap_or(30_000),
            )?),
            max_buffered_body_bytes: positive(
                "limits.max_buffered_body_mb",
                self.limits.server.max_buffered_body_mb.unwrap_or(256),
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
        policy.check_operator_tokens(admin_token.as_ref())?;
        // Slots for warm instances only when some service may reuse them.
        let max_warm_instances =
            self.runtime
                .max_warm_instances
                .unwrap_or(if policy.reuses_instances() {
                    (max_instances / 4).max(1)
                } else {
                    0
                });
        if max_warm_instances > max_instances {
            return Err(invalid(
                "runtime.max_warm_instances",
                format!(
                    "must be at most runtime.max_instances ({max_instances}), got {max_warm_instances}"
                ),
            ));
        }
        let tenant_max_warm_instances = u32::try_from(
            u64::from(max_warm_instances) * u64::from(tenant_max_instances)
                / u64::from(max_instances),
        )
        .unwrap_or(u32::MAX)
        .max(max_warm_instances.min(1));
        let cache_dir = self
            .runtime
            .cache_dir
            .unwrap_or_else(|| data_dir.join("cache"));
        Ok(Settings {
            listen,
            data_dir,
            database_url,
            plugins_dir,
            admin_token,
            admin_listen,
            admin_hosts,
            log: self.log.unwrap_or_else(|| "info".into()),
            log_format: self.log_format.unwrap_or(LogFormat::Text),
            preview_header: self.preview_header.unwrap_or(false),
            max_body_bytes,
            max_component_bytes,
            sqlite_heap_bytes,
            clients,
            pooling: self.runtime.pooling.unwrap_or(true),
            max_instances,
            max_warm_instances,
            tenant_max_warm_instances,
            deadlines: self.runtime.deadlines.unwrap_or(true),
            cache_dir,
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
    use std::path::Path;
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
                deployment: limits::DeploymentLimitsLayer {
                    memory_mb: Some(48),
                    ..Default::default()
                },
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
        // `[limits]` holds server and deployment keys side by side: a key
        // that is neither is refused too, and both kinds are read.
        let err = Layer::from_toml("[limits]\nmax_body_byte = 1").unwrap_err();
        assert!(err.contains("unknown field `max_body_byte`"), "{err}");
        let both = layer("[limits]\nmax_body_bytes = 7\nmax_rows = 9");
        let both = both.resolve().unwrap();
        assert_eq!(both.max_body_bytes, 7);
        assert_eq!(both.policy.deployment("default", "x").limits.max_rows, 9);
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
