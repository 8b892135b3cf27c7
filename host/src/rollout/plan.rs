//! What an operator asks of a canary: its share, the sticky header, how it
//! is judged and when it is promoted by itself. Every value is bounded; the
//! same form is kept in the records, so every replica runs the same plan.

use std::collections::BTreeMap;
use std::time::Duration;

use http::HeaderName;
use serde::{Deserialize, Serialize};

/// The header that previews a version; not a sticky key.
pub const PREVIEW_HEADER: &str = "x-berth-version";

const DEFAULT_WINDOW_MS: u64 = 60_000;
const DEFAULT_MIN_REQUESTS: u32 = 50;
const DEFAULT_ERROR_MARGIN: f64 = 0.05;
const DEFAULT_LATENCY_MARGIN: f64 = 2.0;
/// How sure the judge must be, at each evaluation, that a canary is worse.
const DEFAULT_CONFIDENCE: f64 = 0.999;
const MAX_HEADER_CHARS: usize = 64;

/// A validated canary plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Its share of the requests, 1–99 percent.
    pub percent: u8,
    /// A request header whose value keeps a client on one version.
    pub sticky_header: Option<HeaderName>,
    /// How far back the comparison looks.
    pub window: Duration,
    /// Requests the canary must have answered in the window before it is
    /// judged.
    pub min_requests: u32,
    /// How much higher (absolute, 0–1) the canary's 5xx rate, or its 504
    /// rate, may be than the live version's.
    pub error_margin: f64,
    /// How many times the live version's p99 the canary's may be.
    pub latency_margin: f64,
    /// How sure the judge must be that the canary is worse than the margins
    /// allow (a one-sided confidence level, 0.5–0.999999).
    pub confidence: f64,
    /// Promote by itself once it has run this long and is healthy.
    pub bake: Option<Duration>,
}

/// A plan as the admin API and the records carry it: every field but
/// `percent` optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanRequest {
    pub percent: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sticky_header: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_requests: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_margin: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_margin: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bake_ms: Option<u64>,
}

/// The query keys of a canary deploy, besides `canary` (the percent).
pub const QUERY_KEYS: &[&str] = &[
    "canary",
    "sticky_header",
    "window_ms",
    "min_requests",
    "error_margin",
    "latency_margin",
    "confidence",
    "bake_ms",
];

impl PlanRequest {
    /// Reads the query of a deploy: `None` without `canary`. Unknown keys
    /// and values that are not numbers are refused.
    pub fn from_query(query: &BTreeMap<String, String>) -> Result<Option<PlanRequest>, String> {
        if let Some(key) = query.keys().find(|k| !QUERY_KEYS.contains(&k.as_str())) {
            return Err(format!(
                "unknown parameter `{}`; a deploy takes {}",
                shorten(key),
                QUERY_KEYS.join(", ")
            ));
        }
        let Some(percent) = query.get("canary") else {
            return match query.keys().next() {
                Some(key) => Err(format!("`{key}` applies to a canary: give `canary` too")),
                None => Ok(None),
            };
        };
        Ok(Some(PlanRequest {
            percent: number("canary", percent)?,
            sticky_header: query.get("sticky_header").cloned(),
            window_ms: optional(query, "window_ms")?,
            min_requests: optional(query, "min_requests")?,
            error_margin: optional(query, "error_margin")?,
            latency_margin: optional(query, "latency_margin")?,
            confidence: optional(query, "confidence")?,
            bake_ms: optional(query, "bake_ms")?,
        }))
    }

    /// The plan, or which value is out of bounds.
    pub fn validate(&self) -> Result<Plan, String> {
        let percent = u8::try_from(self.percent)
            .ok()
            .filter(|p| (1..=99).contains(p))
            .ok_or_else(|| {
                format!(
                    "canary must be a percent from 1 to 99, not {}",
                    self.percent
                )
            })?;
        let sticky_header = self
            .sticky_header
            .as_deref()
            .map(sticky_header)
            .transpose()?;
        let window_ms = self.window_ms.unwrap_or(DEFAULT_WINDOW_MS);
        within("window_ms", window_ms, 1_000, 3_600_000)?;
        let min_requests = self.min_requests.unwrap_or(DEFAULT_MIN_REQUESTS);
        within("min_requests", min_requests, 1, 1_000_000)?;
        let error_margin = self.error_margin.unwrap_or(DEFAULT_ERROR_MARGIN);
        within("error_margin", error_margin, 0.0, 1.0)?;
        let latency_margin = self.latency_margin.unwrap_or(DEFAULT_LATENCY_MARGIN);
        within("latency_margin", latency_margin, 1.0, 100.0)?;
        let confidence = self.confidence.unwrap_or(DEFAULT_CONFIDENCE);
        within("confidence", confidence, 0.5, 0.999_999)?;
        if let Some(bake) = self.bake_ms {
            within("bake_ms", bake, 1_000, 7 * 86_400_000)?;
        }
        Ok(Plan {
            percent,
            sticky_header,
            window: Duration::from_millis(window_ms),
            min_requests,
            error_margin,
            latency_margin,
            confidence,
            bake: self.bake_ms.map(Duration::from_millis),
        })
    }
}

impl Plan {
    /// The form kept in the records.
    pub fn request(&self) -> PlanRequest {
        PlanRequest {
            percent: u32::from(self.percent),
            sticky_header: self.sticky_header.as_ref().map(|h| h.as_str().to_string()),
            window_ms: Some(millis(self.window)),
            min_requests: Some(self.min_requests),
            error_margin: Some(self.error_margin),
            latency_margin: Some(self.latency_margin),
            confidence: Some(self.confidence),
            bake_ms: self.bake.map(millis),
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn sticky_header(name: &str) -> Result<HeaderName, String> {
    if name.is_empty() || name.len() > MAX_HEADER_CHARS {
        return Err(format!(
            "sticky_header must be a header name of 1 to {MAX_HEADER_CHARS} characters"
        ));
    }
    let header = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("sticky_header `{name}` is not a valid header name"))?;
    if header == PREVIEW_HEADER {
        return Err(format!("sticky_header cannot be {PREVIEW_HEADER}"));
    }
    Ok(header)
}

fn optional<T: std::str::FromStr>(
    query: &BTreeMap<String, String>,
    key: &str,
) -> Result<Option<T>, String> {
    query.get(key).map(|v| number(key, v)).transpose()
}

fn number<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{key} must be a number, not `{}`", shorten(value)))
}

fn within<T: PartialOrd + std::fmt::Display>(
    key: &str,
    value: T,
    min: T,
    max: T,
) -> Result<(), String> {
    // `!(a <= b)` also refuses NaN.
    if !(min <= value && value <= max) {
        return Err(format!("{key} must be from {min} to {max}, not {value}"));
    }
    Ok(())
}

/// A client's text, cut to quote in an error.
fn shorten(text: &str) -> String {
    text.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_deploy_without_canary_is_not_a_canary() {
        assert_eq!(PlanRequest::from_query(&query(&[])), Ok(None));
        let err = PlanRequest::from_query(&query(&[("bake_ms", "5000")])).unwrap_err();
        assert!(err.contains("give `canary`"), "{err}");
    }

    #[test]
    fn percents_outside_1_to_99_are_refused() {
        for bad in ["0", "100", "250", "-1", "1.5", "x", "4294967296"] {
            let result = PlanRequest::from_query(&query(&[("canary", bad)]))
                .and_then(|p| p.expect("a canary").validate());
            assert!(result.is_err(), "{bad} was accepted");
        }
        let plan = PlanRequest::from_query(&query(&[("canary", "20")]))
            .unwrap()
            .unwrap()
            .validate()
            .unwrap();
        assert_eq!(plan.percent, 20);
        assert_eq!(plan.window, Duration::from_secs(60));
    }

    #[test]
    fn unknown_keys_and_bad_bounds_are_refused() {
        let unknown = PlanRequest::from_query(&query(&[("canary", "5"), ("precent", "1")]));
        assert!(unknown.unwrap_err().contains("unknown parameter `precent`"));
        for (key, value) in [
            ("window_ms", "10"),
            ("min_requests", "0"),
            ("error_margin", "NaN"),
            ("error_margin", "1.5"),
            ("latency_margin", "0.5"),
            ("confidence", "0.4"),
            ("confidence", "1"),
            ("bake_ms", "1"),
            ("sticky_header", "bad header"),
            ("sticky_header", "x-berth-version"),
        ] {
            let result = PlanRequest::from_query(&query(&[("canary", "5"), (key, value)]))
                .and_then(|p| p.unwrap().validate());
            assert!(result.is_err(), "{key}={value} was accepted");
        }
    }

    #[test]
    fn a_plan_survives_its_record() {
        let plan = PlanRequest {
            percent: 10,
            sticky_header: Some("X-User".into()),
            bake_ms: Some(60_000),
            ..PlanRequest::default()
        }
        .validate()
        .unwrap();
        let text = serde_json::to_string(&plan.request()).unwrap();
        let back: PlanRequest = serde_json::from_str(&text).unwrap();
        assert_eq!(back.validate().unwrap(), plan);
    }
}
