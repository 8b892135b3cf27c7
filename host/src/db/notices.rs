//! The notices replicas send each other on PostgreSQL's LISTEN/NOTIFY. Any
//! session of the database can NOTIFY any channel (PostgreSQL has no right
//! to restrict it), so a service could forge notices and make every replica
//! resync without end. Each notice is therefore signed with a key only the
//! host's role can read, carries its time, and is accepted once.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::secrets::Key;

/// The name of the signing key in `host_secrets`.
pub const NOTICES_SECRET: &str = "replication_notices";
/// How old a notice may be when it arrives.
const MAX_AGE: Duration = Duration::from_secs(60);
/// How many notices are remembered, to refuse replays.
const REMEMBERED: usize = 4096;

fn mac(key: &Key, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(b"berth-notice\0");
    mac.update(body.as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..16])
}

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(u64::MAX)
}

/// The payload announcing a change of `what` (`tenant/service` or
/// `tenant/*`).
pub fn sign(key: &Key, what: &str) -> String {
    let body = format!("{what} {} {}", now_ms(), uuid::Uuid::new_v4().simple());
    format!("{body} {}", mac(key, &body))
}

/// Checks notices and remembers the accepted ones.
#[derive(Debug, Default)]
pub struct Verifier {
    seen: Mutex<VecDeque<String>>,
}

impl Verifier {
    /// What a genuine, fresh, first-seen notice announces; `None` for any
    /// other.
    pub fn accept(&self, key: &Key, payload: &str) -> Option<String> {
        let (body, tag) = payload.rsplit_once(' ')?;
        let expected = mac(key, body);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            expected.as_bytes(),
            tag.as_bytes(),
        )) {
            return None;
        }
        let mut parts = body.split(' ');
        let (what, sent, nonce) = (parts.next()?, parts.next()?, parts.next()?);
        let sent: u64 = sent.parse().ok()?;
        if now_ms().abs_diff(sent) > MAX_AGE.as_millis() as u64 {
            return None;
        }
        let mut seen = self.seen.lock().expect("notice memory poisoned");
        if seen.iter().any(|n| n == nonce) {
            return None;
        }
        if seen.len() == REMEMBERED {
            seen.pop_front();
        }
        seen.push_back(nonce.to_string());
        Some(what.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_signed_fresh_first_seen_notices_are_accepted() {
        let key = [3; 32];
        let verifier = Verifier::default();
        let notice = sign(&key, "acme/items");
        assert_eq!(
            verifier.accept(&key, &notice).as_deref(),
            Some("acme/items")
        );
        assert_eq!(verifier.accept(&key, &notice), None, "a replay");
        assert_eq!(
            verifier.accept(&[4; 32], &sign(&key, "a/b")),
            None,
            "another key"
        );
        assert_eq!(verifier.accept(&key, "default/*"), None, "unsigned");
        let forged = sign(&key, "acme/items").replace("acme/items", "acme/*");
        assert_eq!(verifier.accept(&key, &forged), None, "altered");
        let old = "a/b 1000 n".to_string();
        let old = format!("{old} {}", mac(&key, &old));
        assert_eq!(verifier.accept(&key, &old), None, "stale");
    }
}
