//! What applies to one tenant × service, resolved from the settings in this
//! order (later wins): `[limits]` → `[services.<s>]` → `[tenants.<t>]` →
//! `[tenants.<t>.services.<s>]`. Limits, settings, the mount prefix, the
//! outbound hosts a deployment may reach and the routes of a standard
//! `wasi:http` component all come from here.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::components::ComponentConfig;
use super::layer::LimitsLayer;
use super::limits::{DeploymentLimitsLayer, Limits};
use super::names::{DEFAULT_TENANT, validate_prefix, validate_tenant};
pub use super::reuse::Reuse;
use super::{Secret, SettingsError, invalid, positive};
use crate::capabilities::outbound::AllowList;

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
    /// Serve service worker scripts (requests with `Service-Worker:
    /// script`), each within the service's own paths [default: false].
    pub allow_service_workers: Option<bool>,
    /// For a standard `wasi:http` component: its routes (see
    /// [`super::components`]).
    pub routes: Option<Vec<String>>,
    /// For a standard `wasi:http` component: OpenAPI path items.
    pub openapi: Option<toml::Table>,
    /// Keep up to this many instances warm between requests [default: 0,
    /// a fresh instance for every request]. See [`Reuse`].
    pub reuse_instances: Option<u32>,
    /// Drop a reused instance once it is this old [default: 60000].
    pub reuse_max_age_ms: Option<u64>,
    /// Drop a reused instance after this many requests [default: 10000].
    pub reuse_max_requests: Option<u32>,
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
            allow_service_workers: top.allow_service_workers.or(self.allow_service_workers),
            routes: top.routes.or(self.routes),
            openapi: top.openapi.or(self.openapi),
            reuse_instances: top.reuse_instances.or(self.reuse_instances),
            reuse_max_age_ms: top.reuse_max_age_ms.or(self.reuse_max_age_ms),
            reuse_max_requests: top.reuse_max_requests.or(self.reuse_max_requests),
        }
    }
}

/// `[tenants.<name>]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TenantLayer {
    /// Most requests the tenant runs at once, over all its services.
    pub max_concurrency: Option<u32>,
    /// The tenant's operator token: the admin API, the CLI and the console
    /// for this tenant alone (at least 16 characters, one per tenant; never printed).
    pub admin_token: Option<Secret>,
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
            admin_token: top.admin_token.or(self.admin_token),
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
    pub allow_service_workers: bool,
    /// What a standard `wasi:http` component deployed under this name
    /// serves.
    pub component: ComponentConfig,
    pub reuse: Reuse,
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

impl Policy {
    pub fn new(
        limits: &LimitsLayer,
        tenant_max_instances: u32,
        services: BTreeMap<String, ServiceLayer>,
        tenants: BTreeMap<String, TenantLayer>,
    ) -> Result<Policy, SettingsError> {
        let policy = Policy {
            defaults: limits.deployment.clone(),
            tenant_max_concurrency: positive(
                "limits.server.tenant_max_concurrency (BERTH_TENANT_MAX_CONCURRENCY)",
                limits.server.tenant_max_concurrency.unwrap_or(500),
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
            if let Some(token) = &layer.admin_token {
                let setting = "tenants.<name>.admin_token";
                if token.expose().trim().len() < 16 {
                    return Err(invalid(setting, "it must be at least 16 characters"));
                }
                let shared = policy.tenants.iter().any(|(other, l)| {
                    other != tenant
                        && l.admin_token.as_ref().map(|t| t.expose().trim())
                            == Some(token.expose().trim())
                });
                if shared {
                    return Err(invalid(setting, "each tenant needs a token of its own"));
                }
            }
            for service in layer.services.keys().chain(policy.services.keys()) {
                policy.try_deployment(tenant, service)?;
            }
        }
        for service in policy.services.keys() {
            policy.try_deployment(DEFAULT_TENANT, service)?;
        }
        Ok(policy)
    }

    /// Whether any service is configured to reuse instances.
    pub fn reuses_instances(&self) -> bool {
        let reuses = |s: &ServiceLayer| s.reuse_instances.is_some_and(|n| n > 0);
        self.services.values().any(reuses)
            || self
                .tenants
                .values()
                .any(|t| t.services.values().any(reuses))
    }

    /// The tenants with an operator token of their own, and the token.
    pub fn operator_tokens(&self) -> Vec<(String, Secret)> {
        self.tenants
            .iter()
            .filter_map(|(t, layer)| Some((t.clone(), layer.admin_token.clone()?)))
            .collect()
    }

    /// Refuses a tenant's token that is the admin token (it would make its
    /// holder the admin), and tenants' tokens with no admin token: the
    /// admin API is then off, and they would silently do nothing. (Each
    /// tenant's own token is checked when the policy is built.)
    pub fn check_operator_tokens(&self, admin: Option<&Secret>) -> Result<(), SettingsError> {
        let Some(admin) = admin else {
            let tenants: Vec<String> = self.operator_tokens().into_iter().map(|(t, _)| t).collect();
            if tenants.is_empty() {
                return Ok(());
            }
            return Err(invalid(
                "tenants.<name>.admin_token",
                format!(
                    "{} an operator token, but the admin API is off (no admin token, BERTH_ADMIN_TOKEN): set one, or remove the tenants' tokens",
                    match tenants.as_slice() {
                        [one] => format!("tenant {one} has"),
                        many => format!("tenants {} have", many.join(", ")),
                    }
                ),
            ));
        };
        if self
            .operator_tokens()
            .iter()
            .any(|(_, token)| token.expose().trim() == admin.expose())
        {
            return Err(invalid(
                "tenants.<name>.admin_token",
                "a tenant's token must differ from the admin token",
            ));
        }
        Ok(())
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
            validate_prefix(prefix).map_err(|message| {
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
        let reuse = Reuse::resolve(&service_layer)?;
        Ok(DeploymentConfig {
            prefix: service_layer.prefix,
            settings: settings_text(service, settings)?,
            limits: limits.resolve()?,
            outbound,
            strip_set_cookie: service_layer.strip_set_cookie.unwrap_or(false),
            allow_service_workers: service_layer.allow_service_workers.unwrap_or(false),
            component: ComponentConfig::resolve(
                service_layer.routes.as_deref(),
                service_layer.openapi.as_ref(),
            )
            .map_err(|message| {
                invalid("services.<name>.routes", format!("{service}: {message}"))
            })?,
            reuse,
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
    use crate::config::Layer;

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

    #[test]
    fn tenants_tokens_without_an_admin_token_are_refused_not_ignored() {
        let toml = "[tenants.acme]\nadmin_token = \"acme-operator-token-0123\"";
        let err = Layer::from_toml(toml).unwrap().resolve().unwrap_err();
        assert!(
            err.to_string()
                .contains("tenant acme has an operator token"),
            "{err}"
        );
        assert!(err.to_string().contains("admin API is off"), "{err}");
        let with_admin = Layer {
            admin_token: Some("the-admin-token-0123456789".into()),
            ..Layer::from_toml(toml).unwrap()
        };
        assert!(with_admin.resolve().is_ok());
    }

    #[test]
    fn reuse_is_off_by_default_and_its_settings_are_bounded() {
        let policy = policy(
            "[services.items]\nreuse_instances = 4\n[tenants.acme.services.items]\nreuse_max_requests = 9",
        );
        assert_eq!(policy.deployment("default", "hello").reuse.instances, 0);
        let items = policy.deployment("default", "items").reuse;
        assert_eq!((items.instances, items.max_requests), (4, 10_000));
        assert_eq!(items.max_age.as_millis(), 60_000);
        let acme = policy.deployment("acme", "items").reuse;
        assert_eq!((acme.instances, acme.max_requests), (4, 9));
        for (toml, key) in [
            ("[services.x]\nreuse_instances = 5000", "reuse_instances"),
            ("[services.x]\nreuse_max_age_ms = 0", "reuse_max_age_ms"),
            (
                "[services.x]\nreuse_max_age_ms = 7200000",
                "reuse_max_age_ms",
            ),
            (
                "[tenants.acme.services.x]\nreuse_max_requests = 0",
                "reuse_max_requests",
            ),
        ] {
            let err = Layer::from_toml(toml).unwrap().resolve().unwrap_err();
            assert!(err.to_string().contains(key), "{toml}: {err}");
        }
    }
}
