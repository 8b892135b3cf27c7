//! Progressive delivery: a canary version beside the live one, taking a
//! share of a tenant × service's requests ([`assign`]), watched over a
//! sliding window ([`window`]) and judged against the live version
//! ([`verdict`]); the registry starts, promotes and aborts it
//! (`registry/canary.rs`).

pub mod assign;
pub mod plan;
pub mod verdict;
pub mod window;

pub use plan::{Plan, PlanRequest};
pub use verdict::{Verdict, judge};
pub use window::{Stats, Window};

/// Which of a service's two versions a request reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Stable,
    Canary,
}

/// The two windows of one canary: what the live version and the canary
/// answered, side by side over the same span.
#[derive(Debug)]
pub struct Watch {
    pub stable: Window,
    pub canary: Window,
}

impl Watch {
    pub fn new(plan: &Plan) -> Watch {
        Watch {
            stable: Window::new(plan.window),
            canary: Window::new(plan.window),
        }
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
