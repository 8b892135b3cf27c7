//! Settings, layered: built-in defaults → `berth.toml` → `BERTH_*` environment
//! variables → command-line flags. Environment and flags arrive together from
//! clap (a flag wins over its variable); the file is read here. Everything is
//! validated once, at start, with messages that name the setting at fault.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

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

fn invalid(setting: &'static str, message: impl Into<String>) -> SettingsError {
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

/// Resource limits applied to every request of every service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// How long a request may run inside a service.
    pub request_timeout: Duration,
    /// Largest linear memory an instance may grow to, in bytes.
    pub memory_bytes: usize,
    /// Largest component the admin API accepts, in bytes.
    pub max_component_bytes: usize,
}

/// What the operator configures for one service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceConfig {
    /// Where the service is mounted, instead of `/<name>`.
    pub prefix: Option<String>,
    /// Values for the settings the service reads.
    pub settings: BTreeMap<String, String>,
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
    pub limits: Limits,
    /// Use wasmtime's pooling allocator (falls back to on-demand if refused).
    pub pooling: bool,
    /// Most instances alive at once (pooling allocator slots).
    pub max_instances: u32,
    pub services: BTreeMap<String, ServiceConfig>,
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
    pub services: BTreeMap<String, ServiceLayer>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LimitsLayer {
    pub max_body_bytes: Option<usize>,
    pub request_timeout_ms: Option<u64>,
    pub memory_mb: Option<usize>,
    pub max_component_bytes: Option<usize>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RuntimeLayer {
    pub pooling: Option<bool>,
    pub max_instances: Option<u32>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServiceLayer {
    pub prefix: Option<String>,
    #[serde(default)]
    pub settings: BTreeMap<String, toml::Value>,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA_DIR: &str = "berth-data";
const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 10_000;
const DEFAULT_MEMORY_MB: usize = 64;
const DEFAULT_MAX_COMPONENT_BYTES: usize = 64 * 1024 * 1024;
const DEFAULT_MAX_INSTANCES: u32 = 1000;

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

    /// `self` overlaid with `top`: every value `top` sets wins.
    pub fn overlay(self, top: Layer) -> Layer {
        let mut services = self.services;
        for (name, service) in top.services {
            let entry = services.entry(name).or_default();
            entry.prefix = service.prefix.or(entry.prefix.take());
            entry.settings.extend(service.settings);
        }
        Layer {
            listen: top.listen.or(self.listen),
            data_dir: top.data_dir.or(self.data_dir),
            database_url: top.database_url.or(self.database_url),
            plugins_dir: top.plugins_dir.or(self.plugins_dir),
            admin_token: top.admin_token.or(self.admin_token),
            log: top.log.or(self.log),
            log_format: top.log_format.or(self.log_format),
            limits: LimitsLayer {
                max_body_bytes: top.limits.max_body_bytes.or(self.limits.max_body_bytes),
                request_timeout_ms: top
                    .limits
                    .request_timeout_ms
                    .or(self.limits.request_timeout_ms),
                memory_mb: top.limits.memory_mb.or(self.limits.memory_mb),
                max_component_bytes: top
                    .limits
                    .max_component_bytes
                    .or(self.limits.max_component_bytes),
            },
            runtime: RuntimeLayer {
                pooling: top.runtime.pooling.or(self.runtime.pooling),
                max_instances: top.runtime.max_instances.or(self.runtime.max_instances),
            },
            services,
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
        let limits = Limits {
            max_body_bytes: positive(
                "limits.max_body_bytes (BERTH_MAX_BODY_BYTES)",
                self.limits.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES),
            )?,
            request_timeout: Duration::from_millis(positive(
                "limits.request_timeout_ms (BERTH_REQUEST_TIMEOUT_MS)",
                self.limits
                    .request_timeout_ms
                    .unwrap_or(DEFAULT_REQUEST_TIMEOUT_MS),
            )?),
            memory_bytes: positive(
                "limits.memory_mb (BERTH_MEMORY_LIMIT_MB)",
                self.limits.memory_mb.unwrap_or(DEFAULT_MEMORY_MB),
            )? * 1024
                * 1024,
            max_component_bytes: positive(
                "limits.max_component_bytes (BERTH_MAX_COMPONENT_BYTES)",
                self.limits
                    .max_component_bytes
                    .unwrap_or(DEFAULT_MAX_COMPONENT_BYTES),
            )?,
        };
        let max_instances = positive(
            "runtime.max_instances (BERTH_MAX_INSTANCES)",
            self.runtime.max_instances.unwrap_or(DEFAULT_MAX_INSTANCES),
        )?;
        let mut services = BTreeMap::new();
        for (name, service) in self.services {
            services.insert(name.clone(), resolve_service(&name, service)?);
        }
        Ok(Settings {
            listen,
            data_dir,
            database_url,
            plugins_dir,
            admin_token,
            log: self.log.unwrap_or_else(|| "info".into()),
            log_format: self.log_format.unwrap_or(LogFormat::Text),
            limits,
            pooling: self.runtime.pooling.unwrap_or(true),
            max_instances,
            services,
        })
    }
}

fn positive<T: PartialOrd + Default + fmt::Display>(
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

fn resolve_service(name: &str, layer: ServiceLayer) -> Result<ServiceConfig, SettingsError> {
    if let Some(prefix) = &layer.prefix {
        crate::routing::validate_prefix(prefix)
            .map_err(|message| invalid("services.<name>.prefix", format!("{name}: {message}")))?;
    }
    let mut settings = BTreeMap::new();
    for (key, value) in layer.settings {
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_) => {
                value.to_string()
            }
            _ => {
                return Err(invalid(
                    "services.<name>.settings",
                    format!("{name}.{key}: only strings, numbers and booleans are allowed"),
                ));
            }
        };
        settings.insert(key, text);
    }
    Ok(ServiceConfig {
        prefix: layer.prefix,
        settings,
    })
}

#[cfg(test)]
mod tests {
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
        assert_eq!(settings.limits.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
        assert!(settings.admin_token.is_none());
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
        assert_eq!(settings.limits.request_timeout, Duration::from_secs(2));
        assert_eq!(settings.limits.memory_bytes, 32 * 1024 * 1024);
    }

    #[test]
    fn service_settings_merge_key_by_key_and_become_text() {
        let file = layer(
            r#"
            [services.hello]
            prefix = "/greet"
            settings = { greeting = "Howdy", shout = true, times = 3 }
            "#,
        );
        let top = layer(
            r#"
            [services.hello.settings]
            greeting = "Hi"
            "#,
        );
        let settings = file.overlay(top).resolve().unwrap();
        let hello = &settings.services["hello"];
        assert_eq!(hello.prefix.as_deref(), Some("/greet"));
        assert_eq!(hello.settings["greeting"], "Hi");
        assert_eq!(hello.settings["shout"], "true");
        assert_eq!(hello.settings["times"], "3");
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
