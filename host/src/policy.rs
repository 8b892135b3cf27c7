//! What applies to one tenant × service, resolved from the settings in this
//! order (later wins): `[limits]` → `[services.<s>]` → `[tenants.<t>]` →
//! `[tenants.<t>.services.<s>]`. Limits, settings, the mount prefix and the
//! outbound hosts a deployment may reach all come from here.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::capabilities::outbound::AllowList;
use crate::settings::{LimitsLayer, SettingsError, invalid, positive};

/// The limits of one deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// How long a request may run inside the service.
    pub request_timeout: Duration,
    /// Largest linear memory an instance may grow to, in bytes.
    pub memory_bytes: usize,
    /// Most requests the service (all its versions) runs at once.
    pub max_concurrency: u32,
    /// Most rows one query may return.
    pub max_rows: u64,
    /// Most bytes one query may return.
    pub max_result_bytes: u64,
    /// Most statements one request may run.
    pub max_statements: u32,
    /// Largest response body the service may answer with.
    pub max_response_bytes: usize,
    /// Longest one statement may run.
    pub statement_timeout: Duration,
    /// Longest the migrations of one deploy may run.
    pub migration_timeout: Duration,
    /// Largest the service's database may grow, in bytes.
    pub max_database_bytes: u64,
    /// Longest a request waits to be admitted when the service (or its
    /// tenant, or the instance pool) is at its cap.
    pub queue_timeout: Duration,
    /// Most requests waiting to be admitted to the service.
    pub max_queue: u32,
}

/// Per-deployment limits, every field optional.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DeploymentLimitsLayer {
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
}

impl DeploymentLimitsLayer {
    pub fn overlay(self, top: DeploymentLimitsLayer) -> DeploymentLimitsLayer {
        DeploymentLimitsLayer {
            request_timeout_ms: top.request_timeout_ms.or(self.request_timeout_ms),
            memory_mb: top.memory_mb.or(self.memory_mb),
            max_concurrency: top.max_concurrency.or(self.max_concurrency),
            max_rows: top.max_rows.or(self.max_rows),
            max_result_bytes: top.max_result_bytes.or(self.max_result_bytes),
            max_statements: top.max_statements.or(self.max_statements),
            max_response_bytes: top.max_response_bytes.or(self.max_response_bytes),
            statement_timeout_ms: top.statement_timeout_ms.or(self.statement_timeout_ms),
            migration_timeout_ms: top.migration_timeout_ms.or(self.migration_timeout_ms),
            max_database_mb: top.max_database_mb.or(self.max_database_mb),
            queue_timeout_ms: top.queue_timeout_ms.or(self.queue_timeout_ms),
            max_queue: top.max_queue.or(self.max_queue),
        }
    }

    fn resolve(&self) -> Result<Limits, SettingsError> {
        Ok(Limits {
            request_timeout: Duration::from_millis(positive(
                "limits.request_timeout_ms (BERTH_REQUEST_TIMEOUT_MS)",
                self.request_timeout_ms.unwrap_or(10_000),
            )?),
            memory_bytes: positive(
                "limits.memory_mb (BERTH_MEMORY_LIMIT_MB)",
                self.memory_mb.unwrap_or(64),
            )? * 1024
                * 1024,
            max_concurrency: positive(
                "limits.max_concurrency (BERTH_MAX_CONCURRENCY)",
                self.max_concurrency.unwrap_or_else(default_max_concurrency),
            )?,
            max_rows: positive("limits.max_rows", self.max_rows.unwrap_or(10_000))?,
            max_result_bytes: positive(
                "limits.max_result_bytes",
                self.max_result_bytes.unwrap_or(16 << 20),
            )?,
            max_statements: positive(
                "limits.max_statements",
                self.max_statements.unwrap_or(1_000),
            )?,
            max_response_bytes: positive(
                "limits.max_response_bytes",
                self.max_response_bytes.unwrap_or(16 << 20),
            )?,
            statement_timeout: Duration::from_millis(positive(
                "limits.statement_timeout_ms",
                self.statement_timeout_ms.unwrap_or(5_000),
            )?),
            migration_timeout: Duration::from_millis(positive(
                "limits.migration_timeout_ms",
                self.migration_timeout_ms.unwrap_or(60_000),
            )?),
            max_database_bytes: positive(
                "limits.max_database_mb",
                self.max_database_mb.unwrap_or(1024),
            )?
            .saturating_mul(1 << 20),
            queue_timeout: Duration::from_millis(at_most(
                "limits.queue_timeout_ms",
                self.queue_timeout_ms.unwrap_or(DEFAULT_QUEUE_TIMEOUT_MS),
                60_000,
            )?),
            max_queue: at_most(
                "limits.max_queue",
                self.max_queue.unwrap_or(1_000),
                1_000_000,
            )?,
        })
    }
}

/// How long a request may wait to be admitted by default: long enough to
/// ride out a burst of many times what the service serves at once (at
/// 20,000 requests a second, a queue of 1,000 drains in 50 ms), and a tenth
/// of the default request timeout, so that a client that waited still gets
/// its answer well before it would give up.
const DEFAULT_QUEUE_TIMEOUT_MS: u64 = 1_000;

/// Requests one service runs at once unless configured: 16 per core. More
/// only hold instances (and their memory) without serving faster: a guest
/// waiting for a database connection, say, stays suspended inside its
/// instance, so it must keep it. The rest wait in the admission queue,
/// holding nothing. (On 2 cores, `items` at 1000 clients served 12.4k/s
/// with 100 at once and 15.5k/s with 32.)
pub fn default_max_concurrency() -> u32 {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    u32::try_from(cores.saturating_mul(16))
        .unwrap_or(u32::MAX)
        .clamp(16, 1024)
}

/// `value`, unless it is above `max`.
fn at_most<T: PartialOrd + std::fmt::Display>(
    setting: &'static str,
    value: T,
    max: T,
) -> Result<T, SettingsError> {
    if value > max {
        Err(invalid(
            setting,
            format!("must be at most {max}, got {value}"),
        ))
    } else {
        Ok(value)
    }
}

/// `[services.<name>]` or `[tenants.<t>.services.<name>]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServiceLayer {
    pub prefix: Option<String>,
    #[serde(default)]
    pub settings: BTreeMap<String, toml::Value>,
    #[serde(default)]
    pub limits: DeploymentLimitsLayer,
    /// Hosts the service may call, e.g. `https://api.example.com`,
    /// `http://127.0.0.1:8080`, `https://*.example.com`, `http://localhost:*`.
    pub allowed_outbound_hosts: Option<Vec<String>>,
    /// Drop `Set-Cookie` from the service's responses (tenants that share
    /// an origin, in header or path tenancy, share its cookies).
    pub strip_set_cookie: Option<bool>,
}

impl ServiceLayer {
    pub fn overlay(mut self, top: ServiceLayer) -> ServiceLayer {
        self.settings.extend(top.settings);
        ServiceLayer {
            prefix: top.prefix.or(self.prefix),
            settings: self.settings,
            limits: self.limits.overlay(top.limits),
            allowed_outbound_hosts: top.allowed_outbound_hosts.or(self.allowed_outbound_hosts),
            strip_set_cookie: top.strip_set_cookie.or(self.strip_set_cookie),
        }
    }
}

/// `[tenants.<name>]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TenantLayer {
    /// Most requests the tenant runs at once, over all its services.
    pub max_concurrency: Option<u32>,
    /// Limits for every service of the tenant.
    #[serde(default)]
    pub limits: DeploymentLimitsLayer,
    /// Settings every service of the tenant sees.
    #[serde(default)]
    pub settings: BTreeMap<String, toml::Value>,
    #[serde(default)]
    pub services: BTreeMap<String, ServiceLayer>,
}

impl TenantLayer {
    pub fn overlay(mut self, top: TenantLayer) -> TenantLayer {
        self.settings.extend(top.settings);
        for (name, service) in top.services {
            let merged = self
                .services
                .remove(&name)
                .unwrap_or_default()
                .overlay(service);
            self.services.insert(name, merged);
        }
        TenantLayer {
            max_concurrency: top.max_concurrency.or(self.max_concurrency),
            limits: self.limits.overlay(top.limits),
            settings: self.settings,
            services: self.services,
        }
    }
}

/// Everything configured for one tenant × service.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentConfig {
    pub prefix: Option<String>,
    pub settings: BTreeMap<String, String>,
    pub limits: Limits,
    pub outbound: AllowList,
    pub strip_set_cookie: bool,
}

/// The operator's configuration of tenants and services.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    defaults: DeploymentLimitsLayer,
    tenant_max_concurrency: u32,
    /// Most pooled instances one tenant may hold: no tenant takes every
    /// slot of the pool.
    tenant_max_instances: u32,
    services: BTreeMap<String, ServiceLayer>,
    tenants: BTreeMap<String, TenantLayer>,
}

/// Names no tenant may take: in path mode they are the host's own paths.
const RESERVED_TENANTS: &[&str] = &[
    "admin",
    "healthz",
    "readyz",
    "metrics",
    "docs",
    "openapi.json",
];

/// Tenant names are identifiers like service names, and not reserved.
pub fn validate_tenant(name: &str) -> Result<(), String> {
    crate::registry::validate_name(name).map_err(|e| e.replace("service name", "tenant name"))?;
    if RESERVED_TENANTS.contains(&name) {
        return Err(format!("`{name}` is reserved"));
    }
    Ok(())
}

impl Policy {
    pub fn new(
        limits: &LimitsLayer,
        tenant_max_instances: u32,
        services: BTreeMap<String, ServiceLayer>,
        tenants: BTreeMap<String, TenantLayer>,
    ) -> Result<Policy, SettingsError> {
        let policy = Policy {
            defaults: limits.deployment(),
            tenant_max_concurrency: positive(
                "limits.tenant_max_concurrency (BERTH_TENANT_MAX_CONCURRENCY)",
                limits.tenant_max_concurrency.unwrap_or(500),
            )?,
            tenant_max_instances,
            services,
            tenants,
        };
        // Validate every combination the operator wrote, now, not at deploy.
        policy.defaults.resolve()?;
        for (tenant, layer) in &policy.tenants {
            validate_tenant(tenant).map_err(|e| invalid("tenants.<name>", e))?;
            if let Some(max) = layer.max_concurrency {
                positive("tenants.<name>.max_concurrency", max)?;
            }
            for service in layer.services.keys().chain(policy.services.keys()) {
                policy.try_deployment(tenant, service)?;
            }
        }
        for service in policy.services.keys() {
            policy.try_deployment(crate::registry::DEFAULT_TENANT, service)?;
        }
        Ok(policy)
    }

    /// The tenants the configuration names.
    pub fn tenants(&self) -> impl Iterator<Item = &str> {
        self.tenants.keys().map(String::as_str)
    }

    /// How many requests `tenant` may run at once: its quota, and never
    /// more than its share of the instance pool (each running request holds
    /// one instance).
    pub fn tenant_max_concurrency(&self, tenant: &str) -> u32 {
        self.tenants
            .get(tenant)
            .and_then(|t| t.max_concurrency)
            .unwrap_or(self.tenant_max_concurrency)
            .min(self.tenant_max_instances)
    }

    /// The largest memory limit any deployment can get: the instance pool is
    /// sized for it.
    pub fn max_memory_bytes(&self) -> usize {
        let layers = std::iter::once(&self.defaults)
            .chain(self.services.values().map(|s| &s.limits))
            .chain(self.tenants.values().map(|t| &t.limits))
            .chain(
                self.tenants
                    .values()
                    .flat_map(|t| t.services.values().map(|s| &s.limits)),
            );
        layers
            .filter_map(|l| l.memory_mb)
            .max()
            .unwrap_or(64)
            .max(self.defaults.memory_mb.unwrap_or(64))
            * 1024
            * 1024
    }

    /// What applies to `service` of `tenant`. Valid by construction: every
    /// combination was checked when the settings were loaded.
    pub fn deployment(&self, tenant: &str, service: &str) -> DeploymentConfig {
        self.try_deployment(tenant, service)
            .expect("the policy was validated when the settings were loaded")
    }

    fn try_deployment(
        &self,
        tenant: &str,
        service: &str,
    ) -> Result<DeploymentConfig, SettingsError> {
        let tenant_layer = self.tenants.get(tenant);
        let mut service_layer = self.services.get(service).cloned().unwrap_or_default();
        let mut limits = self.defaults.clone().overlay(service_layer.limits.clone());
        let mut settings = service_layer.settings.clone();
        if let Some(tenant_layer) = tenant_layer {
            limits = limits.overlay(tenant_layer.limits.clone());
            settings.extend(tenant_layer.settings.clone());
            if let Some(specific) = tenant_layer.services.get(service) {
                limits = limits.overlay(specific.limits.clone());
                service_layer = service_layer.overlay(specific.clone());
                settings.extend(specific.settings.clone());
            }
        }
        if let Some(prefix) = &service_layer.prefix {
            crate::routing::validate_prefix(prefix).map_err(|message| {
                invalid("services.<name>.prefix", format!("{service}: {message}"))
            })?;
        }
        let outbound = AllowList::parse(
            service_layer
                .allowed_outbound_hosts
                .as_deref()
                .unwrap_or_default(),
        )
        .map_err(|message| invalid("allowed_outbound_hosts", format!("{service}: {message}")))?;
        Ok(DeploymentConfig {
            prefix: service_layer.prefix,
            settings: settings_text(service, settings)?,
            limits: limits.resolve()?,
            outbound,
            strip_set_cookie: service_layer.strip_set_cookie.unwrap_or(false),
        })
    }
}

fn settings_text(
    service: &str,
    settings: BTreeMap<String, toml::Value>,
) -> Result<BTreeMap<String, String>, SettingsError> {
    settings
        .into_iter()
        .map(|(key, value)| {
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_) => {
                    value.to_string()
                }
                _ => {
                    return Err(invalid(
                        "settings",
                        format!("{service}.{key}: only strings, numbers and booleans are allowed"),
                    ));
                }
            };
            Ok((key, text))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Layer;

    fn policy(toml: &str) -> std::sync::Arc<Policy> {
        Layer::from_toml(toml).unwrap().resolve().unwrap().policy
    }

    #[test]
    fn service_settings_merge_key_by_key_and_become_text() {
        let file = Layer::from_toml(
            r#"
            [services.hello]
            prefix = "/greet"
            settings = { greeting = "Howdy", shout = true, times = 3 }
            "#,
        )
        .unwrap();
        let top = Layer::from_toml("[services.hello.settings]\ngreeting = \"Hi\"").unwrap();
        let policy = file.overlay(top).resolve().unwrap().policy;
        let hello = policy.deployment("default", "hello");
        assert_eq!(hello.prefix.as_deref(), Some("/greet"));
        assert_eq!(hello.settings["greeting"], "Hi");
        assert_eq!(hello.settings["shout"], "true");
        assert_eq!(hello.settings["times"], "3");
    }

    #[test]
    fn limits_resolve_from_defaults_to_service_to_tenant_to_tenant_service() {
        let policy = policy(
            r#"
            [limits]
            request_timeout_ms = 1000
            memory_mb = 32
            [services.items.limits]
            request_timeout_ms = 2000
            [tenants.acme]
            max_concurrency = 7
            limits = { memory_mb = 16 }
            settings = { region = "eu" }
            [tenants.acme.services.items]
            limits = { request_timeout_ms = 3000 }
            settings = { page = 5 }
            "#,
        );
        let plain = policy.deployment("default", "items").limits;
        assert_eq!(
            (plain.request_timeout.as_millis(), plain.memory_bytes >> 20),
            (2000, 32)
        );
        let acme_hello = policy.deployment("acme", "hello");
        assert_eq!(
            (
                acme_hello.limits.request_timeout.as_millis(),
                acme_hello.limits.memory_bytes >> 20
            ),
            (1000, 16)
        );
        assert_eq!(acme_hello.settings["region"], "eu");
        let acme_items = policy.deployment("acme", "items");
        assert_eq!(acme_items.limits.request_timeout.as_millis(), 3000);
        assert_eq!(acme_items.settings["page"], "5");
        assert_eq!(policy.tenant_max_concurrency("acme"), 7);
        assert_eq!(policy.tenant_max_concurrency("other"), 500);
        assert_eq!(policy.max_memory_bytes(), 32 << 20);
    }

    #[test]
    fn bad_tenant_names_and_limits_are_refused_at_start() {
        let err = Layer::from_toml("[tenants.admin]")
            .unwrap()
            .resolve()
            .unwrap_err();
        assert!(err.to_string().contains("reserved"), "{err}");
        let err = Layer::from_toml("[tenants.Acme]")
            .unwrap()
            .resolve()
            .unwrap_err();
        assert!(err.to_string().contains("tenant name"), "{err}");
        let err = Layer::from_toml("[tenants.acme.services.items.limits]\nmax_rows = 0")
            .unwrap()
            .resolve()
            .unwrap_err();
        assert!(err.to_string().contains("max_rows"), "{err}");
    }
}
