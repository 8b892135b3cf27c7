//! Progressive delivery: a canary version beside the live one, taking a
//! share of a tenant × service's requests ([`assign`]), watched over a
//! sliding window ([`window`]) and judged against the live version
//! ([`verdict`]); the registry starts, promotes and aborts it
//! (`registry/canary.rs`).

pub mod assign;
pub mod plan;
#[cfg(test)]
mod simulation;
pub mod verdict;
pub mod window;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

pub use plan::{Plan, PlanRequest};
pub use verdict::{Verdict, judge};
pub use window::{Stats, Window};

/// Which of a service's two versions a request reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Stable,
    Canary,
}

/// Consecutive evaluations (a second, at the judge's pace) that must find
/// a canary worse before it is aborted: a moment's burst is not a verdict.
pub const HOLD: u32 = 10;

/// The two windows of one canary: what the live version and the canary
/// answered, side by side over the same span, and for how many evaluations
/// in a row the canary has been found worse.
#[derive(Debug)]
pub struct Watch {
    pub stable: Window,
    pub canary: Window,
    worse_streak: AtomicU32,
}

impl Watch {
    pub fn new(plan: &Plan) -> Watch {
        Watch {
            stable: Window::new(plan.window),
            canary: Window::new(plan.window),
            worse_streak: AtomicU32::new(0),
        }
    }

    /// One evaluation of the canary, as of `at`: worse only once
    /// [`HOLD`] evaluations in a row have found it so (the last one's
    /// reason is given), healthy or too few otherwise.
    pub fn judge(&self, plan: &Plan, at: Instant) -> (Verdict, Stats, Stats) {
        let (stable, canary) = (self.stable.stats_at(at), self.canary.stats_at(at));
        let verdict = match judge(plan, &stable, &canary) {
            Verdict::Worse(why) => {
                let streak = self.worse_streak.fetch_add(1, Ordering::Relaxed) + 1;
                if streak >= HOLD {
                    Verdict::Worse(format!("{why}; found worse {streak} evaluations in a row"))
                } else {
                    Verdict::Healthy
                }
            }
            other => {
                self.worse_streak.store(0, Ordering::Relaxed);
                other
            }
        };
        (verdict, stable, canary)
    }

    pub fn side(&self, side: Side) -> &Window {
        match side {
            Side::Stable => &self.stable,
            Side::Canary => &self.canary,
        }
    }

    /// Counts one answer that the version itself is answerable for.
    pub fn record(&self, side: Side, status: u16, elapsed: std::time::Duration) {
        self.side(side).record(status, elapsed);
    }
}

/// Whether an answer says something about the version that gave it: what
/// the service answered, or its failure (a trap, a deadline, an oversized
/// response). A refusal before the call (validation, a full queue, a slow
/// client) is the same for both versions and is not counted.
pub fn answerable(outcome: &str) -> bool {
    matches!(
        outcome,
        "served" | "service_failed" | "timeout" | "response_too_large"
    )
}
