//! The judge against simulated traffic, on a simulated clock: requests
//! assigned at random to the canary and the live version, recorded into
//! their windows, and the canary judged every 100 ms as `registry::judge`
//! does. Seeded, so every run is the same.

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{Plan, PlanRequest, Verdict, Watch};

/// Simulated traffic: `rate` requests a second, `percent` of them to the
/// canary; each fails (500) with the version's probability, and takes a
/// latency drawn from the same heavy-tailed spread for both.
struct Traffic {
    rate: u32,
    percent: u8,
    live_failures: f64,
    canary_failures: f64,
}

/// What a run came to: when the canary was aborted (if it was), how many
/// requests it had answered by then, and when it had answered `promised`.
struct Outcome {
    aborted_after: Option<Duration>,
    canary_requests: u32,
    answered_promised: Option<Duration>,
    why: Option<String>,
}

fn plan(percent: u8) -> Plan {
    PlanRequest {
        percent: u32::from(percent),
        ..PlanRequest::default()
    }
    .validate()
    .unwrap()
}

fn run(seed: u64, traffic: &Traffic, for_how_long: Duration, promised: u32) -> Outcome {
    let plan = plan(traffic.percent);
    let watch = Watch::new(&plan);
    let start = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed);
    let step = Duration::from_secs(1) / traffic.rate;
    let mut at = Duration::ZERO;
    let mut next_judgement = Duration::from_millis(100);
    let mut canary_requests = 0;
    let mut answered_promised = None;
    while at < for_how_long {
        let canary = rng.random_range(0..100) < traffic.percent;
        let failures = if canary {
            canary_requests += 1;
            if canary_requests == promised {
                answered_promised = Some(at);
            }
            traffic.canary_failures
        } else {
            traffic.live_failures
        };
        let status = if rng.random_bool(failures) { 500 } else { 200 };
        // 1 ms, with a tail: one in fifty takes 5–50 ms.
        let latency = if rng.random_bool(0.02) {
            Duration::from_millis(rng.random_range(5..50))
        } else {
            Duration::from_micros(rng.random_range(500..1500))
        };
        let window = if canary { &watch.canary } else { &watch.stable };
        window.record_at(start + at, status, latency);
        at += step;
        if at >= next_judgement {
            next_judgement += Duration::from_millis(100);
            if let (Verdict::Worse(why), _, _) = watch.judge(&plan, start + at) {
                return Outcome {
                    aborted_after: Some(at),
                    canary_requests,
                    answered_promised,
                    why: Some(why),
                };
            }
        }
    }
    Outcome {
        aborted_after: None,
        canary_requests,
        answered_promised,
        why: None,
    }
}

#[test]
fn equal_versions_under_alternating_failures_are_never_aborted() {
    // The attack: a client that makes every other request fail, on both
    // versions alike, at several paces and shares.
    let mut runs = 0;
    for (rate, percent) in [(50, 10), (50, 50), (500, 10), (500, 50), (2000, 5)] {
        let traffic = Traffic {
            rate,
            percent,
            live_failures: 0.5,
            canary_failures: 0.5,
        };
        for seed in 0..50 {
            let outcome = run(seed, &traffic, Duration::from_secs(60), 0);
            assert!(
                outcome.aborted_after.is_none(),
                "seed {seed} at {rate}/s, {percent}%: aborted after {:?}: {}",
                outcome.aborted_after,
                outcome.why.unwrap_or_default()
            );
            runs += 1;
        }
    }
    assert_eq!(runs, 250);
}

#[test]
fn a_canary_twenty_points_worse_is_aborted_by_the_time_the_readme_states() {
    // The README's promise: by the time it has answered 300 requests when
    // the live version fails rarely, 800 when it fails half of them (the
    // noise of a rate near one half is the largest), and a second more.
    for (live, canary, promised) in [(0.0, 0.2, 300), (0.5, 0.7, 800)] {
        for (rate, percent) in [(100, 10), (500, 50)] {
            let traffic = Traffic {
                rate,
                percent,
                live_failures: live,
                canary_failures: canary,
            };
            for seed in 0..50 {
                let outcome = run(seed, &traffic, Duration::from_secs(120), promised);
                let after = outcome.aborted_after.unwrap_or_else(|| {
                    panic!("seed {seed}: {live} against {canary} at {rate}/s, {percent}% was never aborted")
                });
                let deadline = outcome
                    .answered_promised
                    .map_or(Duration::MAX, |at| at + Duration::from_millis(1100));
                assert!(
                    after <= deadline,
                    "seed {seed}: {live} against {canary} at {rate}/s, {percent}%: aborted only after {} of its requests ({after:?}; it answered {promised} at {:?})",
                    outcome.canary_requests,
                    outcome.answered_promised,
                );
                assert!(
                    outcome
                        .why
                        .as_deref()
                        .unwrap_or_default()
                        .starts_with("5xx rate"),
                    "{:?}",
                    outcome.why
                );
            }
        }
    }
}

#[test]
fn a_canary_that_fails_every_request_is_aborted_at_its_minimum_and_a_second_more() {
    let traffic = Traffic {
        rate: 200,
        percent: 10,
        live_failures: 0.0,
        canary_failures: 1.0,
    };
    let outcome = run(7, &traffic, Duration::from_secs(60), 0);
    let after = outcome.aborted_after.expect("aborted");
    // 50 requests at 20 a second, then the hold.
    assert!(after < Duration::from_secs(5), "{after:?}");
}
