//! How the admin API shows services: the live version (with its weight and
//! window while a canary runs), the canary, and the last refused deploy.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::{Value, json};

use super::unavailable;
use crate::db::DeploymentRecord;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::registry::{Canary, Deployment};
use crate::rollout::Stats;

/// A service as the admin API shows it.
#[derive(Debug, Serialize)]
pub(super) struct ServiceView {
    pub(super) tenant: String,
    pub(super) name: String,
    state: &'static str,
    /// `berth-service` or `wasi-http-proxy`.
    kind: Option<&'static str>,
    version: Option<String>,
    digest: Option<String>,
    source: Option<String>,
    loaded_at: Option<String>,
    prefix: Option<String>,
    routes: Vec<String>,
    /// Its warm instances, when it reuses them.
    #[serde(skip_serializing_if = "Option::is_none")]
    reuse: Option<Value>,
    /// Its share of the requests, in percent: 100 unless a canary runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    weight: Option<u8>,
    /// While a canary runs: what this version answered over its window.
    #[serde(skip_serializing_if = "Option::is_none")]
    window: Option<Value>,
    /// The canary running beside it.
    #[serde(skip_serializing_if = "Option::is_none")]
    canary: Option<Value>,
    /// What this version answered over the last minute, always.
    #[serde(skip_serializing_if = "Option::is_none")]
    stats: Option<Value>,
    last_error: Option<Value>,
}

fn live_view(deployment: &Deployment) -> ServiceView {
    ServiceView {
        tenant: deployment.tenant.clone(),
        name: deployment.name.clone(),
        state: "live",
        kind: Some(deployment.entry.kind()),
        version: Some(deployment.version.clone()),
        digest: Some(deployment.digest.clone()),
        source: Some(deployment.source.record()),
        loaded_at: Some(humantime::format_rfc3339_millis(deployment.loaded_at).to_string()),
        prefix: Some(deployment.prefix.clone()),
        routes: deployment
            .routes
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect(),
        reuse: deployment.warm.as_ref().map(|pool| {
            json!({
                "max_idle": pool.max_idle(),
                "idle": pool.idle(),
                "warm_requests": pool.warm_requests(),
            })
        }),
        weight: Some(100),
        window: None,
        canary: None,
        stats: Some(stats_view(deployment)),
        last_error: None,
    }
}

/// A version's own numbers over the last minute (`STATS_WINDOW`),
/// or over its life when it is younger: requests per second, error rate,
/// p50 and p99.
pub(super) fn stats_view(deployment: &Deployment) -> Value {
    let stats = deployment.stats.stats();
    let span = deployment.stats.span().max(Duration::from_secs(1));
    json!({
        "window_s": span.as_secs(),
        "requests": stats.requests,
        "per_second": f64::from(stats.requests) / span.as_secs_f64(),
        "errors": stats.errors,
        "error_rate": stats.error_rate(),
        "p50_ms": stats.p50.map(|d| d.as_secs_f64() * 1000.0),
        "p99_ms": stats.p99.map(|d| d.as_secs_f64() * 1000.0),
    })
}

/// A window's numbers as shown: rates in percent, p99 in milliseconds.
fn window_view(stats: &Stats) -> Value {
    json!({
        "requests": stats.requests,
        "errors": stats.errors,
        "timeouts": stats.timeouts,
        "error_rate": stats.error_rate(),
        "p99_ms": stats.p99.map(|d| d.as_secs_f64() * 1000.0),
    })
}

fn canary_view(canary: &Canary) -> Value {
    let d = &canary.deployment;
    let plan = &canary.plan;
    json!({
        "version": d.version,
        "digest": d.digest,
        "weight": plan.percent,
        "sticky_header": plan.sticky_header.as_ref().map(|h| h.as_str()),
        "started_at": humantime::format_rfc3339_millis(canary.started_at).to_string(),
        "running_for_s": SystemTime::now().duration_since(canary.started_at).unwrap_or_default().as_secs(),
        "window": window_view(&canary.watch.canary.stats()),
        "stats": stats_view(d),
        "judge": {
            "window_ms": millis(plan.window),
            "min_requests": plan.min_requests,
            "error_margin": plan.error_margin,
            "latency_margin": plan.latency_margin,
            "confidence": plan.confidence,
            "bake_ms": plan.bake.map(millis),
        },
        "routes": d.routes.iter().map(|r| format!("{} {}", r.method, r.path)).collect::<Vec<_>>(),
    })
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn error_view(failure: &DeploymentRecord) -> Value {
    json!({
        "message": failure.error,
        "digest": failure.digest,
        "source": failure.source,
        "at": failure.created_at,
    })
}

pub(super) async fn views(state: &AppState) -> Result<Vec<ServiceView>, ApiError> {
    let snapshot = state.registry.snapshot();
    let mut views: BTreeMap<(String, String), ServiceView> = snapshot
        .deployments()
        .map(|d| ((d.tenant.clone(), d.name.clone()), live_view(d)))
        .collect();
    for canary in snapshot.canaries() {
        let d = &canary.deployment;
        if let Some(view) = views.get_mut(&(d.tenant.clone(), d.name.clone())) {
            view.weight = Some(100 - canary.plan.percent);
            view.window = Some(window_view(&canary.watch.stable.stats()));
            view.canary = Some(canary_view(canary));
        }
    }
    let failures = state
        .registry
        .host_db()
        .recent_failures()
        .await
        .map_err(unavailable)?;
    for failure in failures {
        let key = (failure.tenant.clone(), failure.service.clone());
        let view = views.entry(key).or_insert_with(|| ServiceView {
            tenant: failure.tenant.clone(),
            name: failure.service.clone(),
            state: "failed",
            kind: None,
            version: None,
            digest: None,
            source: None,
            loaded_at: None,
            prefix: None,
            routes: Vec::new(),
            reuse: None,
            weight: None,
            window: None,
            canary: None,
            stats: None,
            last_error: None,
        });
        view.last_error = Some(error_view(&failure));
    }
    Ok(views.into_values().collect())
}
