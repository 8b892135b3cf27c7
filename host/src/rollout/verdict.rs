//! Whether a canary is worse than the live version: over the same window,
//! its 5xx rate, its 504 rate and its p99, each against the live version's
//! with the plan's margin, once it has answered enough requests to say.

use std::time::Duration;

use super::window::ratio;
use super::{Plan, Stats};

/// Latency differences smaller than this are noise, whatever the ratio.
const LATENCY_FLOOR: Duration = Duration::from_millis(10);
/// Requests each version must have answered in the window before their
/// p99s are compared: below that a p99 is one of the few slowest answers,
/// such as a new version's first, cold ones.
pub const LATENCY_MIN_REQUESTS: u32 = 500;

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The canary has answered too few requests in the window.
    TooFew,
    Healthy,
    /// Worse, and why, with the numbers.
    Worse(String),
}

/// Judges the canary against the live version. When the live version has
/// answered fewer requests than the minimum itself (a canary with most of
/// the traffic, or a quiet service), its rates count as zero and its p99 is
/// not compared: the canary is held to the margins on its own.
pub fn judge(plan: &Plan, stable: &Stats, canary: &Stats) -> Verdict {
    if canary.requests < plan.min_requests {
        return Verdict::TooFew;
    }
    let baseline = stable.requests >= plan.min_requests;
    let window = humantime::format_duration(plan.window);
    let (stable_errors, stable_timeouts) = if baseline {
        (stable.error_rate(), stable.timeout_rate())
    } else {
        (0.0, 0.0)
    };
    let rates = [
        ("5xx", canary.errors, stable.errors, stable_errors),
        ("504", canary.timeouts, stable.timeouts, stable_timeouts),
    ];
    for (what, ours, theirs, baseline_rate) in rates {
        if ratio(ours, canary.requests) > baseline_rate + plan.error_margin {
            return Verdict::Worse(format!(
                "{what} rate {:.1}% ({ours} of {}) against the live version's {:.1}% ({theirs} of {}) over the last {window}; margin {:.1} points",
                ratio(ours, canary.requests) * 100.0,
                canary.requests,
                ratio(theirs, stable.requests) * 100.0,
                stable.requests,
                plan.error_margin * 100.0,
            ));
        }
    }
    let enough =
        canary.requests.min(stable.requests) >= LATENCY_MIN_REQUESTS.max(plan.min_requests);
    if let (true, Some(ours), Some(theirs)) = (enough, canary.p99, stable.p99)
        && ours.as_secs_f64() > theirs.as_secs_f64() * plan.latency_margin
        && ours.saturating_sub(theirs) > LATENCY_FLOOR
    {
        return Verdict::Worse(format!(
            "p99 {:.1} ms against the live version's {:.1} ms over the last {window} ({} and {} requests); margin {}x",
            ours.as_secs_f64() * 1000.0,
            theirs.as_secs_f64() * 1000.0,
            canary.requests,
            stable.requests,
            plan.latency_margin,
        ));
    }
    Verdict::Healthy
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::PlanRequest;

    fn plan() -> Plan {
        PlanRequest {
            percent: 20,
            min_requests: Some(20),
            ..PlanRequest::default()
        }
        .validate()
        .unwrap()
    }

    fn stats(requests: u32, errors: u32, timeouts: u32, p99_ms: u64) -> Stats {
        Stats {
            requests,
            errors,
            timeouts,
            p50: None,
            p99: Some(Duration::from_millis(p99_ms)),
        }
    }

    #[test]
    fn too_few_requests_decide_nothing() {
        assert_eq!(
            judge(&plan(), &stats(100, 0, 0, 1), &stats(19, 19, 0, 1)),
            Verdict::TooFew
        );
    }

    #[test]
    fn a_canary_failing_more_than_the_margin_is_worse() {
        let verdict = judge(&plan(), &stats(100, 1, 0, 1), &stats(20, 20, 0, 1));
        let Verdict::Worse(why) = verdict else {
            panic!("{verdict:?}")
        };
        assert!(
            why.starts_with(
                "5xx rate 100.0% (20 of 20) against the live version's 1.0% (1 of 100)"
            ),
            "{why}"
        );
        assert_eq!(
            judge(&plan(), &stats(100, 10, 0, 1), &stats(100, 14, 0, 1)),
            Verdict::Healthy
        );
    }

    #[test]
    fn timeouts_and_latency_are_judged_too() {
        // As many 5xx as the live version, but all of them deadlines.
        let timeouts = judge(&plan(), &stats(100, 20, 0, 1), &stats(50, 11, 11, 1));
        assert!(
            matches!(&timeouts, Verdict::Worse(w) if w.starts_with("504 rate 22.0% (11 of 50)")),
            "{timeouts:?}"
        );
        let slow = judge(&plan(), &stats(2000, 0, 0, 10), &stats(500, 0, 0, 30));
        assert!(
            matches!(&slow, Verdict::Worse(w) if w.starts_with("p99 30.0 ms")),
            "{slow:?}"
        );
        assert_eq!(
            judge(&plan(), &stats(2000, 0, 0, 1), &stats(500, 0, 0, 9)),
            Verdict::Healthy
        );
        // A p99 of a few hundred answers is one of the slowest: not judged.
        assert_eq!(
            judge(&plan(), &stats(2000, 0, 0, 10), &stats(499, 0, 0, 90)),
            Verdict::Healthy
        );
    }

    #[test]
    fn without_a_baseline_the_canary_is_held_to_the_margin_alone() {
        assert!(matches!(
            judge(&plan(), &stats(3, 3, 0, 1), &stats(40, 4, 0, 90)),
            Verdict::Worse(_)
        ));
        assert_eq!(
            judge(&plan(), &stats(3, 0, 0, 1), &stats(40, 1, 0, 90)),
            Verdict::Healthy
        );
    }
}
