//! The judge: every [`JUDGE_EVERY`], each canary of this replica is
//! compared with its live version over its window (`rollout::verdict`); a
//! worse one is aborted and a healthy one past its bake time promoted, both
//! recorded with the numbers. Each replica judges its own requests; the
//! first to decide records it, and the others follow the records.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio_util::sync::CancellationToken;

use super::canary::End;
use super::{Canary, Registry};
use crate::db::Ending;
use crate::rollout::Verdict;

/// How often the judge looks at every canary.
const JUDGE_EVERY: Duration = Duration::from_millis(100);

impl Registry {
    /// Judges one canary on this replica's windows; aborts a worse one, and
    /// promotes a healthy one whose bake time is over.
    async fn judge(&self, canary: &Canary) {
        let (verdict, stable, ours) = canary.watch.judge(&canary.plan, Instant::now());
        let baked = canary.plan.bake.is_some_and(|bake| {
            SystemTime::now()
                .duration_since(canary.started_at)
                .is_ok_and(|ran| ran >= bake)
        });
        let (ending, note) = match verdict {
            Verdict::Worse(why) => (Ending::Aborted, format!("aborted automatically: {why}")),
            Verdict::Healthy if baked => (
                Ending::Promoted,
                format!(
                    "promoted automatically after baking {}: 5xx {} of {} (live version {} of {}), p99 {} (live version {})",
                    humantime::format_duration(canary.plan.bake.unwrap_or_default()),
                    ours.errors,
                    ours.requests,
                    stable.errors,
                    stable.requests,
                    millis(ours.p99),
                    millis(stable.p99),
                ),
            ),
            _ => return,
        };
        let d = &canary.deployment;
        let end = End::ours(ending, &note, Some(canary.record_id));
        if let Err(error) = self.end_canary(&d.tenant, &d.name, end).await {
            tracing::info!(tenant = %d.tenant, service = %d.name, %error, "the judge's decision was not applied");
            // Ended elsewhere, and the notice not seen yet: follow now
            // rather than decide again on every tick.
            if let Err(error) = self.end_followed_canary(&d.tenant, &d.name).await {
                tracing::warn!(tenant = %d.tenant, service = %d.name, %error, "cannot follow the recorded canary");
            }
        }
    }
}

fn millis(p99: Option<Duration>) -> String {
    p99.map_or("n/a".into(), |d| {
        format!("{:.1} ms", d.as_secs_f64() * 1000.0)
    })
}

/// Judges every canary of this replica until `shutdown`.
pub fn judge_canaries(registry: Arc<Registry>, shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(JUDGE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let snapshot = registry.snapshot();
            for canary in snapshot.canaries() {
                registry.judge(canary).await;
            }
        }
    });
}
