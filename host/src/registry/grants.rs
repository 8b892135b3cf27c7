//! What a deployment's requests are granted: its limits, its settings and
//! the reach of its database namespace.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::bindings::Manifest;
use crate::capabilities::database::{NamespaceLimits, ResultLimits};
use crate::capabilities::outbound::AllowList;
use crate::config::limits::Limits;
use crate::logs::ServiceLog;
use crate::runtime::{Grants, hostcall_bytes};

/// What a deployment's requests are granted, from its limits and settings.
pub(super) fn grants(
    name: &str,
    limits: &Limits,
    settings: BTreeMap<String, String>,
    outbound: AllowList,
    log: Arc<ServiceLog>,
) -> Grants {
    Grants {
        service: Arc::from(name),
        namespace: None,
        results: ResultLimits {
            max_rows: limits.max_rows,
            max_bytes: limits.max_result_bytes,
        },
        max_statements: limits.max_statements,
        settings: Arc::new(settings),
        outbound,
        memory_bytes: limits.memory_bytes,
        hostcall_bytes: hostcall_bytes(limits.max_result_bytes),
        timeout: limits.request_timeout,
        log,
    }
}

/// The declared defaults overlaid with what the operator configured.
pub(super) fn deployment_settings(
    manifest: &Manifest,
    configured: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut settings: BTreeMap<String, String> = manifest
        .settings
        .iter()
        .filter_map(|s| s.default.clone().map(|d| (s.key.clone(), d)))
        .collect();
    settings.extend(configured.iter().map(|(k, v)| (k.clone(), v.clone())));
    settings
}

/// What of a deployment's limits its database namespace enforces.
pub(super) fn namespace_limits(limits: &Limits) -> NamespaceLimits {
    NamespaceLimits {
        statement_timeout: limits.statement_timeout,
        migration_timeout: limits.migration_timeout,
        max_value_bytes: limits.max_result_bytes,
        max_database_bytes: limits.max_database_bytes,
    }
}
