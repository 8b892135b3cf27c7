//! Whether a canary is worse than the live version, over the same window:
//! its 5xx rate, its 504 rate and its share of slow answers, each against
//! the live version's, by a one-sided test at the plan's confidence.
//!
//! A rate is judged by the Agresti–Caffo interval of the difference of two
//! proportions (a two-proportion z-test that stays sound for small counts
//! and rates near 0 or 1): the canary is worse when, at the plan's
//! `confidence`, its rate exceeds the live version's by more than the
//! `error_margin`. Two versions that fail alike — such as a client that
//! makes every other request fail, on both — differ only by sampling
//! noise, which the interval covers; a fixed margin alone, re-checked ten
//! times a second, would sooner or later mistake that noise for a worse
//! canary. Latency is judged the same way: the answers slower than
//! `latency_margin` × the live p99 (and 10 ms more than it), whose share
//! passes 1% exactly when the canary's p99 passes that bound. The judge
//! ([`super::Watch::judge`]) also asks that the verdict hold over
//! consecutive evaluations.

use std::time::Duration;

use statrs::distribution::{ContinuousCDF, Normal};

use super::window::ratio;
use super::{Plan, Stats};

/// Latency differences smaller than this are noise, whatever the ratio.
const LATENCY_FLOOR: Duration = Duration::from_millis(10);
/// Requests each version must have answered in the window before their
/// latencies are compared: below that a p99 is one of the few slowest
/// answers, such as a new version's first, cold ones.
pub const LATENCY_MIN_REQUESTS: u32 = 500;
/// The share of answers above a p99, by definition.
const TAIL: f64 = 0.01;

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The canary has answered too few requests in the window.
    TooFew,
    Healthy,
    /// Worse, and why, with the numbers.
    Worse(String),
}

/// The z-score of a one-sided test at `confidence`.
pub fn z(confidence: f64) -> f64 {
    Normal::standard().inverse_cdf(confidence.clamp(0.5, 0.999_999))
}

/// The lower bound, at one-sided z-score `z`, of how much higher the
/// canary's rate (`ours` of `n`) is than the live version's (`theirs` of
/// `m`; `None` when it has too few requests to say, then counted as a rate
/// of zero known exactly). Agresti–Caffo: one success and one failure added
/// to each side.
pub fn lower_bound(ours: u32, n: u32, theirs: Option<(u32, u32)>, z: f64) -> f64 {
    let adjusted = |x: u32, n: u32| {
        let p = (f64::from(x) + 1.0) / (f64::from(n) + 2.0);
        (p, p * (1.0 - p) / (f64::from(n) + 2.0))
    };
    let (p, var) = adjusted(ours, n);
    let (q, their_var) = theirs.map_or((0.0, 0.0), |(x, m)| adjusted(x, m));
    (p - q) - z * (var + their_var).sqrt()
}

/// Judges the canary against the live version. The live version's rates
/// count with the uncertainty of however few answers it has; only when it
/// has answered nothing in the window (a canary with nearly all the
/// traffic of a quiet service) do they count as zero, and the canary is
/// held to the margins on its own.
pub fn judge(plan: &Plan, stable: &Stats, canary: &Stats) -> Verdict {
    if canary.requests < plan.min_requests {
        return Verdict::TooFew;
    }
    let z = z(plan.confidence);
    let baseline = stable.requests > 0;
    let window = humantime::format_duration(plan.window);
    let sure = format!("{}% confidence", plan.confidence * 100.0);
    let rates = [
        ("5xx", canary.errors, stable.errors),
        ("504", canary.timeouts, stable.timeouts),
    ];
    for (what, ours, theirs) in rates {
        let live = baseline.then_some((theirs, stable.requests));
        let lower = lower_bound(ours, canary.requests, live, z);
        if lower > plan.error_margin {
            return Verdict::Worse(format!(
                "{what} rate {:.1}% ({ours} of {}) against the live version's {:.1}% ({theirs} of {}) over the last {window}; at least {:.1} points higher at {sure}, margin {:.1} points",
                ratio(ours, canary.requests) * 100.0,
                canary.requests,
                ratio(theirs, stable.requests) * 100.0,
                stable.requests,
                lower * 100.0,
                plan.error_margin * 100.0,
            ));
        }
    }
    let enough =
        canary.requests.min(stable.requests) >= LATENCY_MIN_REQUESTS.max(plan.min_requests);
    if let (true, Some(theirs)) = (enough, stable.p99) {
        let bound = theirs
            .mul_f64(plan.latency_margin)
            .max(theirs + LATENCY_FLOOR);
        let (ours_slow, theirs_slow) = (canary.slower_than(bound), stable.slower_than(bound));
        let live = Some((theirs_slow, stable.requests));
        let lower = lower_bound(ours_slow, canary.requests, live, z);
        if lower > TAIL {
            return Verdict::Worse(format!(
                "p99 {} against the live version's {:.1} ms over the last {window}: {:.1}% of its answers ({ours_slow} of {}) took longer than {:.1} ms, against {:.1}% of the live version's ({theirs_slow} of {}), more than 1% at {sure}; margin {}x",
                canary.p99.map_or("n/a".into(), |p| format!(
                    "{:.1} ms",
                    p.as_secs_f64() * 1000.0
                )),
                theirs.as_secs_f64() * 1000.0,
                ratio(ours_slow, canary.requests) * 100.0,
                canary.requests,
                bound.as_secs_f64() * 1000.0,
                ratio(theirs_slow, stable.requests) * 100.0,
                stable.requests,
                plan.latency_margin,
            ));
        }
    }
    Verdict::Healthy
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::PlanRequest;
    use crate::rollout::window::Window;

    fn plan() -> Plan {
        PlanRequest {
            percent: 20,
            min_requests: Some(20),
            ..PlanRequest::default()
        }
        .validate()
        .unwrap()
    }

    /// A window's stats: `requests` answers, `errors` 500s and `timeouts`
    /// 504s among them, and `slow` of them taking `slow_ms` (the rest 1 ms).
    fn stats(requests: u32, errors: u32, timeouts: u32, slow: u32, slow_ms: u64) -> Stats {
        let window = Window::new(Duration::from_secs(60));
        for i in 0..requests {
            let status = if i < timeouts {
                504
            } else if i < errors {
                500
            } else {
                200
            };
            let ms = if i >= requests - slow { slow_ms } else { 1 };
            window.record(status, Duration::from_millis(ms));
        }
        window.stats()
    }

    #[test]
    fn the_z_score_follows_the_confidence() {
        assert!((z(0.975) - 1.96).abs() < 0.001);
        assert!((z(0.999) - 3.09).abs() < 0.001);
    }

    #[test]
    fn too_few_requests_decide_nothing() {
        assert_eq!(
            judge(&plan(), &stats(100, 0, 0, 0, 1), &stats(19, 19, 0, 0, 1)),
            Verdict::TooFew
        );
    }

    #[test]
    fn a_canary_failing_far_more_than_the_margin_is_worse() {
        let verdict = judge(&plan(), &stats(100, 1, 0, 0, 1), &stats(40, 40, 0, 0, 1));
        let Verdict::Worse(why) = verdict else {
            panic!("{verdict:?}")
        };
        assert!(
            why.starts_with(
                "5xx rate 100.0% (40 of 40) against the live version's 1.0% (1 of 100)"
            ),
            "{why}"
        );
        assert!(why.contains("at 99.9% confidence"), "{why}");
        assert_eq!(
            judge(&plan(), &stats(100, 10, 0, 0, 1), &stats(100, 14, 0, 0, 1)),
            Verdict::Healthy
        );
    }

    #[test]
    fn a_difference_within_sampling_noise_is_not_worse() {
        // What the fixed margin aborted: 53.7% against 47.4%, two versions
        // failing alike on every other request.
        assert_eq!(
            judge(&plan(), &stats(76, 36, 0, 0, 1), &stats(67, 36, 0, 0, 1)),
            Verdict::Healthy
        );
        // The same 20 points over more requests is no longer noise.
        assert!(matches!(
            judge(
                &plan(),
                &stats(1000, 500, 0, 0, 1),
                &stats(1000, 700, 0, 0, 1)
            ),
            Verdict::Worse(_)
        ));
    }

    #[test]
    fn timeouts_and_latency_are_judged_too() {
        // As many 5xx as the live version, but all of them deadlines.
        let timeouts = judge(&plan(), &stats(100, 20, 0, 0, 1), &stats(60, 20, 20, 0, 1));
        assert!(
            matches!(&timeouts, Verdict::Worse(w) if w.starts_with("504 rate 33.3% (20 of 60)")),
            "{timeouts:?}"
        );
        // A tenth of the canary's answers take 30 ms where the live p99 is
        // 1 ms: its p99 is far past twice that and 10 ms more.
        let slow = judge(
            &plan(),
            &stats(2000, 0, 0, 10, 1),
            &stats(600, 0, 0, 60, 30),
        );
        assert!(
            matches!(&slow, Verdict::Worse(w) if w.starts_with("p99 3")),
            "{slow:?}"
        );
        // 9 ms is within the floor.
        assert_eq!(
            judge(&plan(), &stats(2000, 0, 0, 10, 1), &stats(600, 0, 0, 60, 9)),
            Verdict::Healthy
        );
        // Latency is judged only on enough answers of both.
        assert_eq!(
            judge(
                &plan(),
                &stats(2000, 0, 0, 10, 1),
                &stats(499, 0, 0, 60, 90)
            ),
            Verdict::Healthy
        );
        // A few slow answers of many are the tail, not a worse p99.
        assert_eq!(
            judge(
                &plan(),
                &stats(2000, 0, 0, 20, 30),
                &stats(600, 0, 0, 7, 30)
            ),
            Verdict::Healthy
        );
    }

    #[test]
    fn without_a_baseline_the_canary_is_held_to_the_margin_alone() {
        assert!(matches!(
            judge(&plan(), &stats(0, 0, 0, 0, 1), &stats(40, 20, 0, 0, 1)),
            Verdict::Worse(_)
        ));
        assert_eq!(
            judge(&plan(), &stats(0, 0, 0, 0, 1), &stats(40, 1, 0, 0, 1)),
            Verdict::Healthy
        );
        // A live version with few answers counts, with their uncertainty:
        // it failing as often is no reason to abort...
        assert_eq!(
            judge(&plan(), &stats(3, 2, 0, 0, 1), &stats(40, 20, 0, 0, 1)),
            Verdict::Healthy
        );
        // ...and a canary failing everything is worse all the same.
        assert!(matches!(
            judge(&plan(), &stats(3, 0, 0, 0, 1), &stats(40, 40, 0, 0, 1)),
            Verdict::Worse(_)
        ));
    }
}
