//! Whether a deployment keeps instances warm between requests, from
//! `reuse_*` in `[services.<s>]` or `[tenants.<t>.services.<s>]`.

use std::time::Duration;

use super::limits::at_most;
use super::policy::ServiceLayer;
use super::{SettingsError, positive};

/// Whether a deployment keeps instances warm between requests. Off by
/// default: every request gets a fresh instance, so nothing a request leaves
/// in the guest's memory reaches another. With reuse on, state a request
/// leaves in the guest's globals is seen by later requests of the same
/// tenant × service × version (never another tenant's, never another
/// version's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reuse {
    /// Warm instances kept between requests; 0 for none.
    pub instances: u32,
    /// Age at which a warm instance is dropped.
    pub max_age: Duration,
    /// Requests after which a warm instance is dropped.
    pub max_requests: u32,
}

impl Reuse {
    pub(super) fn resolve(layer: &ServiceLayer) -> Result<Reuse, SettingsError> {
        let max_age_ms = positive(
            "services.<name>.reuse_max_age_ms",
            layer.reuse_max_age_ms.unwrap_or(60_000),
        )?;
        Ok(Reuse {
            instances: at_most(
                "services.<name>.reuse_instances",
                layer.reuse_instances.unwrap_or(0),
                1_024,
            )?,
            max_age: Duration::from_millis(at_most(
                "services.<name>.reuse_max_age_ms",
                max_age_ms,
                3_600_000,
            )?),
            max_requests: positive(
                "services.<name>.reuse_max_requests",
                layer.reuse_max_requests.unwrap_or(10_000),
            )?,
        })
    }
}
