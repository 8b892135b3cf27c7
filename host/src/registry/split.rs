//! Which version a request reaches in its tenant: the live one, or the
//! service's canary by its share (sticky by the plan's header), or the one
//! `x-berth-version` names when the operator allows previews. The header is
//! only ever matched against the request's own tenant's versions.

use http::{HeaderMap, HeaderValue, Method};

use super::{Deployment, Target, TenantSnapshot};
use crate::rollout::plan::PREVIEW_HEADER;
use crate::rollout::{Side, assign};
use crate::routing::Lookup;

/// Shortest digest prefix a preview may name a version by.
const MIN_DIGEST_PREFIX: usize = 8;

/// `x-berth-version` named no version of the service, or two.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoSuchVersion {
    #[error(
        "service `{service}` has no live or canary version `{asked}` (name a version, or {MIN_DIGEST_PREFIX}+ hex digits of a digest)"
    )]
    Unknown { service: String, asked: String },
    #[error("`{asked}` names both versions of service `{service}`: name one by its digest")]
    Ambiguous { service: String, asked: String },
}

impl TenantSnapshot {
    /// The route `method` `path` reaches for a request with `headers`;
    /// `preview` says whether `x-berth-version` is honoured. The flag is
    /// true when the request named its version: the client chose it, so
    /// its answer says nothing about how the version fares on its share
    /// and is not judged.
    pub fn lookup(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        preview: bool,
    ) -> Result<(Lookup<'_, Target>, bool), NoSuchVersion> {
        let asked = preview.then(|| headers.get(PREVIEW_HEADER)).flatten();
        let stable = self.routes.lookup(method, path);
        if self.canaries.is_empty() && asked.is_none() {
            return Ok((stable, false));
        }
        // The service the path belongs to: the live table's, or a canary's
        // for a route only the canary has.
        let service = match &stable {
            Lookup::Found { target, .. } => Some(target.deployment.name.as_str()),
            _ => self
                .canaries
                .iter()
                .find(|(_, c)| !matches!(c.routes.lookup(method, path), Lookup::NotFound))
                .map(|(name, _)| name.as_str()),
        };
        let Some(service) = service else {
            return Ok((stable, false));
        };
        let canary = self.canaries.get(service);
        let side = match (asked, canary) {
            (Some(asked), _) => self.named(service, asked)?,
            (None, Some(canary)) => assign::side(&canary.plan, &canary.deployment.digest, headers),
            (None, None) => Side::Stable,
        };
        let lookup = match (side, canary) {
            (Side::Canary, Some(canary)) => canary.routes.lookup(method, path),
            _ => stable,
        };
        Ok((lookup, asked.is_some()))
    }

    /// The side of `service` whose version or digest `asked` names.
    fn named(&self, service: &str, asked: &HeaderValue) -> Result<Side, NoSuchVersion> {
        let text = String::from_utf8_lossy(asked.as_bytes());
        let names = |d: &Deployment| {
            d.version == text
                || (text.len() >= MIN_DIGEST_PREFIX
                    && text.bytes().all(|b| b.is_ascii_hexdigit())
                    && d.digest.starts_with(&text.to_ascii_lowercase()))
        };
        let stable = self.services.get(service).is_some_and(|d| names(d));
        let canary = self
            .canaries
            .get(service)
            .is_some_and(|c| names(&c.deployment));
        match (stable, canary) {
            (true, false) => Ok(Side::Stable),
            (false, true) => Ok(Side::Canary),
            (true, true) => Err(NoSuchVersion::Ambiguous {
                service: service.to_string(),
                asked: text.chars().take(64).collect(),
            }),
            (false, false) => Err(NoSuchVersion::Unknown {
                service: service.to_string(),
                asked: text.chars().take(64).collect(),
            }),
        }
    }
}
