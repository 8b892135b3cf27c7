//! Which tenant a request belongs to: from a header, from the Host's
//! subdomain, or from the first path segment; a single default tenant when
//! tenancy is off, so that the simple case stays simple.

use http::{HeaderMap, HeaderName, header};
use serde::Deserialize;

use super::names::DEFAULT_TENANT;
use super::{SettingsError, invalid};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TenancyMode {
    /// One tenant, `default`.
    Off,
    /// The tenant named by a request header.
    Header,
    /// The tenant is the subdomain of a base domain: `acme.example.com`.
    Subdomain,
    /// The tenant is the first path segment: `/acme/items`.
    Path,
}

/// `[tenancy]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TenancyLayer {
    pub mode: Option<TenancyMode>,
    /// The header of `header` mode [default: x-berth-tenant].
    pub header: Option<String>,
    /// The base domain of `subdomain` mode, e.g. `example.com`.
    pub base_domain: Option<String>,
}

impl TenancyLayer {
    pub fn overlay(self, top: TenancyLayer) -> TenancyLayer {
        TenancyLayer {
            mode: top.mode.or(self.mode),
            header: top.header.or(self.header),
            base_domain: top.base_domain.or(self.base_domain),
        }
    }

    pub fn resolve(self) -> Result<Tenancy, SettingsError> {
        Ok(match self.mode.unwrap_or(TenancyMode::Off) {
            TenancyMode::Off => Tenancy::Off,
            TenancyMode::Path => Tenancy::Path,
            TenancyMode::Header => {
                let name = self.header.unwrap_or_else(|| "x-berth-tenant".into());
                Tenancy::Header(HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                    invalid(
                        "tenancy.header (BERTH_TENANT_HEADER)",
                        format!("`{name}` is not a header name"),
                    )
                })?)
            }
            TenancyMode::Subdomain => {
                let base = self.base_domain.filter(|d| !d.is_empty()).ok_or_else(|| {
                    invalid(
                        "tenancy.base_domain (BERTH_BASE_DOMAIN)",
                        "subdomain mode needs a base domain",
                    )
                })?;
                Tenancy::Subdomain(base.trim_start_matches('.').to_ascii_lowercase())
            }
        })
    }
}

/// How tenants are resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tenancy {
    Off,
    Header(HeaderName),
    Subdomain(String),
    Path,
}

/// The request names no tenant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NoTenant(pub String);

impl Tenancy {
    pub fn is_on(&self) -> bool {
        *self != Tenancy::Off
    }

    /// The tenant, and the path to route within it.
    pub fn resolve<'p>(
        &self,
        headers: &HeaderMap,
        authority: Option<&str>,
        path: &'p str,
    ) -> Result<(String, &'p str), NoTenant> {
        match self {
            Tenancy::Off => Ok((DEFAULT_TENANT.to_string(), path)),
            Tenancy::Header(name) => headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|t| (t.trim().to_ascii_lowercase(), path))
                .filter(|(t, _)| !t.is_empty())
                .ok_or_else(|| NoTenant(format!("the request names no tenant (header {name})"))),
            Tenancy::Subdomain(base) => {
                let host = authority
                    .or_else(|| headers.get(header::HOST).and_then(|v| v.to_str().ok()))
                    .unwrap_or_default();
                let host = host.rsplit_once(':').map_or(host, |(h, port)| {
                    if port.chars().all(|c| c.is_ascii_digit()) {
                        h
                    } else {
                        host
                    }
                });
                let host = host.to_ascii_lowercase();
                host.strip_suffix(base.as_str())
                    .and_then(|rest| rest.strip_suffix('.'))
                    .filter(|t| !t.is_empty() && !t.contains('.'))
                    .map(|t| (t.to_string(), path))
                    .ok_or_else(|| NoTenant(format!("the host `{host}` names no tenant of {base}")))
            }
            Tenancy::Path => {
                let rest = path.strip_prefix('/').unwrap_or(path);
                let (tenant, inner) = match rest.find('/') {
                    Some(i) => (&rest[..i], &rest[i..]),
                    None => (rest, "/"),
                };
                if tenant.is_empty() {
                    Err(NoTenant("the path names no tenant".into()))
                } else {
                    Ok((tenant.to_string(), inner))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    v.parse().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn off_means_the_default_tenant() {
        assert_eq!(
            Tenancy::Off
                .resolve(&HeaderMap::new(), None, "/items")
                .unwrap(),
            ("default".into(), "/items")
        );
    }

    #[test]
    fn header_mode_reads_the_header() {
        let t = TenancyLayer {
            mode: Some(TenancyMode::Header),
            ..Default::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(
            t.resolve(&headers(&[("x-berth-tenant", "Acme")]), None, "/items")
                .unwrap()
                .0,
            "acme"
        );
        assert!(t.resolve(&HeaderMap::new(), None, "/items").is_err());
    }

    #[test]
    fn subdomain_mode_reads_the_host() {
        let t = Tenancy::Subdomain("example.com".into());
        let h = headers(&[("host", "acme.example.com:8080")]);
        assert_eq!(t.resolve(&h, None, "/x").unwrap().0, "acme");
        assert!(
            t.resolve(&headers(&[("host", "example.com")]), None, "/x")
                .is_err()
        );
        assert!(
            t.resolve(&headers(&[("host", "a.b.example.com")]), None, "/x")
                .is_err()
        );
        assert!(
            t.resolve(&headers(&[("host", "acme.other.com")]), None, "/x")
                .is_err()
        );
    }

    #[test]
    fn path_mode_takes_the_first_segment() {
        let h = HeaderMap::new();
        assert_eq!(
            Tenancy::Path.resolve(&h, None, "/acme/items/1").unwrap(),
            ("acme".into(), "/items/1")
        );
        assert_eq!(
            Tenancy::Path.resolve(&h, None, "/acme").unwrap(),
            ("acme".into(), "/")
        );
        assert!(Tenancy::Path.resolve(&h, None, "/").is_err());
    }

    #[test]
    fn subdomain_mode_needs_a_base_domain() {
        let layer = TenancyLayer {
            mode: Some(TenancyMode::Subdomain),
            ..Default::default()
        };
        assert!(
            layer
                .resolve()
                .unwrap_err()
                .to_string()
                .contains("base domain")
        );
    }
}
