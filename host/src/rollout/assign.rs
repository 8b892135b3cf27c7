//! Which version a request reaches while a canary runs. With the plan's
//! sticky header, a point derived from its value and the canary's digest
//! (the same on every replica, and different for the next canary, so one
//! cohort is not the guinea pig every time); without it, a random point.

use http::HeaderMap;
use sha2::{Digest, Sha256};

use super::{Plan, Side};

/// Points per percent: the share is resolved to 0.01%.
const SCALE: u64 = 100;

pub fn side(plan: &Plan, canary_digest: &str, headers: &HeaderMap) -> Side {
    let key = plan
        .sticky_header
        .as_ref()
        .and_then(|name| headers.get(name));
    let point = match key {
        Some(value) => sticky_point(canary_digest, value.as_bytes()),
        None => rand::random_range(0..100 * SCALE),
    };
    if point < u64::from(plan.percent) * SCALE {
        Side::Canary
    } else {
        Side::Stable
    }
}

fn sticky_point(salt: &str, key: &[u8]) -> u64 {
    let mut hash = Sha256::new();
    hash.update(salt.as_bytes());
    hash.update([0]);
    hash.update(key);
    let digest = hash.finalize();
    let first = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    first % (100 * SCALE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::PlanRequest;

    fn plan(sticky: Option<&str>) -> Plan {
        PlanRequest {
            percent: 20,
            sticky_header: sticky.map(str::to_string),
            ..PlanRequest::default()
        }
        .validate()
        .unwrap()
    }

    #[test]
    fn random_assignment_follows_the_share() {
        let plan = plan(None);
        let canary = (0..20_000)
            .filter(|_| side(&plan, "d", &HeaderMap::new()) == Side::Canary)
            .count();
        assert!((3_400..=4_600).contains(&canary), "{canary} of 20000");
    }

    #[test]
    fn a_sticky_key_always_reaches_the_same_version_and_keys_spread() {
        let plan = plan(Some("x-user"));
        let mut canary = 0;
        for user in 0..5_000 {
            let mut headers = HeaderMap::new();
            headers.insert("x-user", user.to_string().parse().unwrap());
            let first = side(&plan, "digest", &headers);
            for _ in 0..3 {
                assert_eq!(side(&plan, "digest", &headers), first);
            }
            canary += usize::from(first == Side::Canary);
        }
        assert!((800..=1_200).contains(&canary), "{canary} of 5000");
    }
}
