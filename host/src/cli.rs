//! The command line. Every flag of `berth serve` has a `BERTH_*`
//! environment variable and every variable a flag; a flag wins.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::limits::DeploymentLimitsLayer;
use crate::config::tenancy::{TenancyLayer, TenancyMode};
use crate::config::{
    Layer, LimitsLayer, LogFormat, RuntimeLayer, ServerLimitsLayer, Settings, SettingsError,
};

#[derive(Debug, Parser)]
#[command(
    name = "berth",
    version,
    about = "Every HTTP service a sandboxed, hot-swappable WebAssembly component"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the host: serve every service in the plugins directory.
    Serve(ServeArgs),
    /// Deploy a component through the admin API; returns once it serves.
    Deploy(DeployArgs),
    /// List the deployed services, with their versions and last errors.
    Services(AdminArgs),
    /// Make a service's canary its live version.
    Promote(NameArgs),
    /// Take a service's canary out; the live version takes every request.
    Abort(NameArgs),
    /// Put a service's previous version back.
    Rollback(NameArgs),
    /// Take a service out.
    Undeploy(NameArgs),
    /// Show a service's recent deployments.
    History(NameArgs),
    /// Show a service's live log: what it logged and wrote to stdout and
    /// stderr, its requests, and the host's lines about it.
    Logs(LogsArgs),
    /// Write a new service in the seed's layout (models, schemas, routes,
    /// service, a unit test).
    New(NewArgs),
    /// Build one service, or every service under a directory, into components
    /// (`<service>/build/<name>.wasm`), installing the toolchains it needs.
    Build(BuildArgs),
    /// Build a service, deploy it into a berth (the one at --url, or one it
    /// starts), and rebuild and hot-deploy it on every save.
    Dev(DevArgs),
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The service name: lower-case letters, digits and `-`.
    pub name: String,
    /// The language to write it in.
    #[arg(long, value_enum, default_value = "rust")]
    pub lang: LangArg,
    /// Where to create it [default: the current directory].
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

/// The languages `berth new` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LangArg {
    Rust,
    Python,
    #[value(alias = "javascript")]
    Js,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The service.
    pub name: String,
    /// Keep printing new lines as they come (Ctrl-C stops).
    #[arg(long, short)]
    pub follow: bool,
    /// How many of the newest lines to print first (at most 1000).
    #[arg(long, short = 'n', default_value_t = 100)]
    pub lines: u32,
    #[command(flatten)]
    pub admin: AdminArgs,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// A service, or a directory of services.
    #[arg(default_value = ".")]
    pub path: PathBuf,
}

#[derive(Debug, Args)]
pub struct DevArgs {
    /// The service.
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Base URL of the berth's public listener, where the service answers
    /// (and where a berth this command starts listens).
    #[arg(
        long,
        env = "BERTH_PUBLIC_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub public_url: String,
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// Where the admin API is and how to authenticate.
#[derive(Debug, Clone, Args)]
pub struct AdminArgs {
    /// Base URL of a running berth's operator listener (its admin API).
    #[arg(long, env = "BERTH_URL", default_value = "http://127.0.0.1:9090")]
    pub url: String,
    /// The admin token the server was started with.
    #[arg(long, env = "BERTH_ADMIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The tenant to act on [default: the default tenant].
    #[arg(long, env = "BERTH_TENANT")]
    pub tenant: Option<String>,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The component (.wasm) to deploy.
    pub file: PathBuf,
    /// Deploy under this name [default: the file name without .wasm].
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub canary: CanaryArgs,
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// A canary deploy: the version runs beside the live one on a share of its
/// requests, is judged against it, and is aborted by itself if worse.
#[derive(Debug, Clone, Default, Args)]
pub struct CanaryArgs {
    /// Deploy as a canary taking this percent (1–99) of the requests.
    #[arg(long, value_name = "PCT")]
    pub canary: Option<u32>,
    /// The request header whose value keeps a client on one version.
    #[arg(long, requires = "canary", value_name = "HEADER")]
    pub sticky_header: Option<String>,
    /// The window it is judged over, e.g. 30s [default: 60s].
    #[arg(long, requires = "canary", value_parser = humantime::parse_duration)]
    pub window: Option<std::time::Duration>,
    /// Requests it must answer in the window before it is judged [default: 50].
    #[arg(long, requires = "canary", value_name = "N")]
    pub min_requests: Option<u32>,
    /// How much higher its 5xx (or 504) rate may be, 0–1 [default: 0.05].
    #[arg(long, requires = "canary", value_name = "RATE")]
    pub error_margin: Option<f64>,
    /// How many times the live p99 its p99 may be [default: 2].
    #[arg(long, requires = "canary", value_name = "FACTOR")]
    pub latency_margin: Option<f64>,
    /// How sure the judge must be that it is worse before it aborts it,
    /// 0.5–0.999999 [default: 0.999].
    #[arg(long, requires = "canary", value_name = "LEVEL")]
    pub confidence: Option<f64>,
    /// Promote it by itself after this long if healthy, e.g. 10m.
    #[arg(long, requires = "canary", value_parser = humantime::parse_duration)]
    pub bake: Option<std::time::Duration>,
}

impl CanaryArgs {
    /// The admin API's query for this canary; empty without `--canary`.
    pub fn query(&self) -> Vec<(&'static str, String)> {
        let Some(percent) = self.canary else {
            return Vec::new();
        };
        let ms = |d: &std::time::Duration| d.as_millis().to_string();
        let mut query = vec![("canary", percent.to_string())];
        let optional = [
            ("sticky_header", self.sticky_header.clone()),
            ("window_ms", self.window.as_ref().map(ms)),
            ("min_requests", self.min_requests.map(|n| n.to_string())),
            ("error_margin", self.error_margin.map(|n| n.to_string())),
            ("latency_margin", self.latency_margin.map(|n| n.to_string())),
            ("confidence", self.confidence.map(|n| n.to_string())),
            ("bake_ms", self.bake.as_ref().map(ms)),
        ];
        query.extend(optional.into_iter().filter_map(|(k, v)| Some((k, v?))));
        query
    }
}

#[derive(Debug, Args)]
pub struct NameArgs {
    /// The service.
    pub name: String,
    #[command(flatten)]
    pub admin: AdminArgs,
}

#[derive(Debug, Default, Args)]
pub struct ServeArgs {
    /// Path of a berth.toml with settings (overridden by variables and flags).
    #[arg(long, env = "BERTH_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "BERTH_LISTEN", value_name = "IP:PORT")]
    pub listen: Option<String>,
    /// Directory for the database, service data and caches [default: ./berth-data].
    #[arg(long, env = "BERTH_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL [default: an SQLite file in the data dir].
    #[arg(long, env = "BERTH_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// Directory of *.wasm services to load [default: <data dir>/plugins].
    #[arg(long, env = "BERTH_PLUGINS_DIR", value_name = "DIR")]
    pub plugins_dir: Option<PathBuf>,
    /// Bearer token of the admin API; the API is off without it.
    #[arg(
        long,
        env = "BERTH_ADMIN_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub admin_token: Option<String>,
    /// Where the operator's plane (admin API, /console, /metrics) listens:
    /// IP:PORT, or `shared` to serve it on the public listener beside the
    /// services (one origin with their code) [default: 127.0.0.1:9090].
    #[arg(long, env = "BERTH_ADMIN_LISTEN", value_name = "IP:PORT|shared")]
    pub admin_listen: Option<String>,
    /// Host names the operator's listener answers to besides IP literals and
    /// localhost, comma-separated (a reverse proxy's name for it).
    #[arg(
        long,
        env = "BERTH_ADMIN_HOSTS",
        value_name = "NAMES",
        value_delimiter = ','
    )]
    pub admin_hosts: Option<Vec<String>>,
    /// Log filter, in tracing's EnvFilter syntax [default: info].
    #[arg(long, env = "BERTH_LOG", value_name = "FILTER")]
    pub log: Option<String>,
    /// Log line format [default: text].
    #[arg(long, env = "BERTH_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Largest request body, in bytes [default: 1048576].
    #[arg(long, env = "BERTH_MAX_BODY_BYTES", value_name = "BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Deadline of a request inside a service, in milliseconds [default: 10000].
    #[arg(long, env = "BERTH_REQUEST_TIMEOUT_MS", value_name = "MS")]
    pub request_timeout_ms: Option<u64>,
    /// Largest component the admin API accepts, in bytes [default: 67108864].
    #[arg(long, env = "BERTH_MAX_COMPONENT_BYTES", value_name = "BYTES")]
    pub max_component_bytes: Option<usize>,
    /// Largest linear memory of a service instance, in MiB [default: 64].
    #[arg(long, env = "BERTH_MEMORY_LIMIT_MB", value_name = "MIB")]
    pub memory_limit_mb: Option<usize>,
    /// Most requests one service runs at once; more get 503 [default: 100].
    #[arg(long, env = "BERTH_MAX_CONCURRENCY", value_name = "N")]
    pub max_concurrency: Option<u32>,
    /// Most requests one tenant runs at once; more get 429 [default: 500].
    #[arg(long, env = "BERTH_TENANT_MAX_CONCURRENCY", value_name = "N")]
    pub tenant_max_concurrency: Option<u32>,
    /// How a request's tenant is found [default: off].
    #[arg(long, env = "BERTH_TENANCY", value_enum)]
    pub tenancy: Option<TenancyMode>,
    /// The header naming the tenant in header mode [default: x-berth-tenant].
    #[arg(long, env = "BERTH_TENANT_HEADER", value_name = "NAME")]
    pub tenant_header: Option<String>,
    /// The base domain of subdomain mode, e.g. example.com.
    #[arg(long, env = "BERTH_BASE_DOMAIN", value_name = "DOMAIN")]
    pub base_domain: Option<String>,
    /// Use wasmtime's pooling allocator [default: true].
    #[arg(long, env = "BERTH_POOLING", value_name = "BOOL")]
    pub pooling: Option<bool>,
    /// Stop services at their deadline [default: true]; off only to measure
    /// the cost of epoch deadlines.
    #[arg(long, env = "BERTH_DEADLINES", value_name = "BOOL")]
    pub deadlines: Option<bool>,
    /// Most service instances alive at once [default: 1000].
    #[arg(long, env = "BERTH_MAX_INSTANCES", value_name = "N")]
    pub max_instances: Option<u32>,
    /// Let a request pick a live or canary version with `x-berth-version:
    /// <version or digest prefix>` [default: false].
    #[arg(long, env = "BERTH_PREVIEW_HEADER", value_name = "BOOL")]
    pub preview_header: Option<bool>,
}

impl ServeArgs {
    /// Defaults, then the config file, then variables and flags.
    pub fn settings(&self) -> Result<Settings, SettingsError> {
        let file = match &self.config {
            Some(path) => Layer::from_file(path)?,
            None => Layer::default(),
        };
        Layer::default()
            .overlay(file)
            .overlay(self.layer())
            .resolve()
    }

    fn layer(&self) -> Layer {
        Layer {
            listen: self.listen.clone(),
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
            plugins_dir: self.plugins_dir.clone(),
            admin_token: self.admin_token.clone(),
            admin_listen: self.admin_listen.clone(),
            admin_hosts: self.admin_hosts.clone(),
            log: self.log.clone(),
            log_format: self.log_format,
            preview_header: self.preview_header,
            limits: LimitsLayer {
                server: ServerLimitsLayer {
                    max_body_bytes: self.max_body_bytes,
                    max_component_bytes: self.max_component_bytes,
                    tenant_max_concurrency: self.tenant_max_concurrency,
                    ..ServerLimitsLayer::default()
                },
                deployment: DeploymentLimitsLayer {
                    request_timeout_ms: self.request_timeout_ms,
                    memory_mb: self.memory_limit_mb,
                    max_concurrency: self.max_concurrency,
                    ..DeploymentLimitsLayer::default()
                },
            },
            tenancy: TenancyLayer {
                mode: self.tenancy,
                header: self.tenant_header.clone(),
                base_domain: self.base_domain.clone(),
            },
            runtime: RuntimeLayer {
                pooling: self.pooling,
                max_instances: self.max_instances,
                deadlines: self.deadlines,
                ..RuntimeLayer::default()
            },
            services: Default::default(),
            tenants: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("berth.toml");
        std::fs::write(
            &config,
            "listen = \"127.0.0.1:9000\"\n[limits]\nmemory_mb = 16\n",
        )
        .unwrap();
        let cli = Cli::parse_from([
            "berth",
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--listen",
            "127.0.0.1:9001",
        ]);
        let Command::Serve(args) = cli.command else {
            panic!("parsed as serve");
        };
        let settings = args.settings().unwrap();
        assert_eq!(settings.listen.port(), 9001);
        assert_eq!(
            settings
                .policy
                .deployment("default", "x")
                .limits
                .memory_bytes,
            16 * 1024 * 1024
        );
    }

    #[test]
    fn a_missing_config_file_is_named() {
        let args = ServeArgs {
            config: Some("/nonexistent/berth.toml".into()),
            ..ServeArgs::default()
        };
        let error = args.settings().unwrap_err().to_string();
        assert!(error.contains("/nonexistent/berth.toml"), "{error}");
    }
}
