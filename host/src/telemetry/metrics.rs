//! Metrics: the Prometheus recorder, process-wide (the `metrics` facade has
//! one global recorder, so it is installed once and shared by every
//! application in the process), and the handles each route records into.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .expect("the latency buckets are not empty");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed; /metrics will be empty");
        }
        handle
    })
}

/// The metric handles of one route of one deployment, registered once, so
/// that recording a request allocates nothing. Requests the host answers
/// before a route matched count under the tenant with an empty service and
/// route (see [`unrouted`]).
#[derive(Debug)]
pub struct RouteMetrics {
    labels: Vec<(&'static str, String)>,
    duration: metrics::Histogram,
    requests: std::sync::Mutex<Vec<(u16, &'static str, metrics::Counter)>>,
}

/// The handles for requests of `tenant` (a real one, or `""`) that matched
/// no route: labels stay bounded whatever paths or tenants clients send.
pub fn unrouted(tenant: &str) -> std::sync::Arc<RouteMetrics> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    static UNROUTED: OnceLock<Mutex<HashMap<String, Arc<RouteMetrics>>>> = OnceLock::new();
    UNROUTED
        .get_or_init(Mutex::default)
        .lock()
        .expect("metrics map poisoned")
        .entry(tenant.to_string())
        .or_insert_with(|| Arc::new(RouteMetrics::new(tenant, "", "", "")))
        .clone()
}

impl RouteMetrics {
    /// The handles of `route` of `service` at `version` (the manifest's).
    pub fn new(tenant: &str, service: &str, route: &str, version: &str) -> RouteMetrics {
        let labels = vec![
            ("tenant", tenant.to_string()),
            ("service", service.to_string()),
            ("route", route.to_string()),
            ("version", version.to_string()),
        ];
        RouteMetrics {
            duration: metrics::histogram!("berth_request_duration_seconds", &labels),
            labels,
            requests: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Counts one answer: its status, and `outcome` — `served` when the
    /// service answered, else the error code of the host's answer
    /// (`overloaded`, `tenant_quota`, `validation_error`, `not_found`, …).
    pub fn record(&self, status: u16, outcome: &'static str, elapsed: std::time::Duration) {
        self.duration.record(elapsed.as_secs_f64());
        let mut requests = self.requests.lock().expect("metrics lock poisoned");
        if let Some((_, _, counter)) = requests
            .iter()
            .find(|(s, o, _)| *s == status && *o == outcome)
        {
            counter.increment(1);
            return;
        }
        let mut labels = self.labels.clone();
        labels.push(("status", status.to_string()));
        labels.push(("outcome", outcome.to_string()));
        let counter = metrics::counter!("berth_requests_total", &labels);
        counter.increment(1);
        requests.push((status, outcome, counter));
    }
}

/// The samples of a rendered exposition that belong to `tenant` (their
/// `tenant` label says so), with the `# HELP` and `# TYPE` lines of the
/// families that keep any: what a tenant's operator may see. Labels are
/// parsed, escapes and all, so a label value that quotes another tenant's
/// name (a route template, say) cannot pass for that tenant's.
pub fn of_tenant(text: &str, tenant: &str) -> String {
    let mut out = String::new();
    // The comments of the family being read, until a sample of it is kept.
    let mut comments: Vec<&str> = Vec::new();
    let mut family = None;
    for line in text.lines() {
        if let Some(comment) = line.strip_prefix("# ") {
            let name = comment.split_whitespace().nth(1);
            if name != family {
                comments.clear();
                family = name;
            }
            comments.push(line);
        } else if tenant_label(line) == Some(tenant) {
            for comment in comments.drain(..) {
                out.push_str(comment);
                out.push('\n');
            }
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The value of a sample line's `tenant` label, if it has one.
fn tenant_label(line: &str) -> Option<&str> {
    let open = line.find('{')?;
    let mut rest = &line[open + 1..];
    loop {
        let eq = rest.find('=')?;
        let key = rest[..eq].trim_start_matches(',').trim();
        let after = rest[eq + 1..].strip_prefix('"')?;
        // The value ends at the first quote not escaped by a backslash.
        let mut end = None;
        let mut escaped = false;
        for (i, b) in after.bytes().enumerate() {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => {
                    end = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let end = end?;
        if key == "tenant" {
            return Some(&after[..end]);
        }
        rest = &after[end + 1..];
        if rest.starts_with('}') {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_sees_its_own_series_and_their_families_only() {
        let text = "\
# TYPE berth_requests_total counter
berth_requests_total{tenant=\"acme\",service=\"items\",status=\"200\"} 3
berth_requests_total{tenant=\"globex\",service=\"secret-plan\",status=\"200\"} 9
berth_requests_total{tenant=\"x\",route=\"/a\\\",tenant=\\\"acme\\\",\",status=\"200\"} 1
# TYPE berth_warm_instances gauge
berth_warm_instances 4
# HELP berth_queue_depth waiting requests
# TYPE berth_queue_depth gauge
berth_queue_depth{tenant=\"globex\",service=\"secret-plan\"} 0
# TYPE berth_request_duration_seconds histogram
berth_request_duration_seconds_bucket{tenant=\"acme\",service=\"items\",le=\"0.5\"} 3
berth_request_duration_seconds_sum{tenant=\"acme\",service=\"items\"} 0.01
";
        let acme = of_tenant(text, "acme");
        assert_eq!(
            acme,
            "\
# TYPE berth_requests_total counter
berth_requests_total{tenant=\"acme\",service=\"items\",status=\"200\"} 3
# TYPE berth_request_duration_seconds histogram
berth_request_duration_seconds_bucket{tenant=\"acme\",service=\"items\",le=\"0.5\"} 3
berth_request_duration_seconds_sum{tenant=\"acme\",service=\"items\"} 0.01
"
        );
        assert!(!of_tenant(text, "acme").contains("globex"));
        assert!(of_tenant(text, "nobody").is_empty());
    }
}
