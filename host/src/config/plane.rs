//! Where the operator's plane — the admin API, `/console` and `/metrics` —
//! is served. Services' code runs in browsers too (pages, scripts, service
//! workers), so by default the plane has a listener of its own: another
//! origin than any service's, which no page a service serves can script,
//! and whose connection limits no client of the services can use up.

use std::net::{IpAddr, SocketAddr};

use super::{SettingsError, invalid};

/// The default address of the operator's listener, on loopback as Envoy,
/// Traefik and Consul put theirs.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9090";

/// What `admin_listen` says to put the plane on the public listener.
pub const SHARED: &str = "shared";

/// Where the operator's plane listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminListen {
    /// A listener of its own.
    Own(SocketAddr),
    /// The public listener, beside the services: one port, and one origin
    /// with the code they serve (see the README for what that gives up).
    Shared,
}

impl AdminListen {
    /// Reads `admin_listen` (`BERTH_ADMIN_LISTEN`): an `IP:port`, or
    /// `shared`. It may not be the public address itself.
    pub fn resolve(text: Option<String>, public: SocketAddr) -> Result<AdminListen, SettingsError> {
        let setting = "admin listen address (BERTH_ADMIN_LISTEN)";
        let text = text.unwrap_or_else(|| DEFAULT_ADMIN_LISTEN.into());
        if text.trim().eq_ignore_ascii_case(SHARED) {
            return Ok(AdminListen::Shared);
        }
        let address = text.trim().parse::<SocketAddr>().map_err(|e| {
            invalid(
                setting,
                format!("`{text}` is neither an IP:port address ({e}) nor `{SHARED}`"),
            )
        })?;
        if address.port() != 0 && address.port() == public.port() && overlaps(address, public) {
            return Err(invalid(
                setting,
                format!(
                    "{address} is the public listener's address; give the operator's plane a port of its own, or `{SHARED}` to serve it beside the services"
                ),
            ));
        }
        Ok(AdminListen::Own(address))
    }
}

/// Whether two addresses on one port would take the same socket.
fn overlaps(a: SocketAddr, b: SocketAddr) -> bool {
    a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified()
}

/// The host names the operator's own listener answers to, besides IP
/// literals and `localhost`: a page on any other name (a DNS-rebinding
/// attack, say, from a page in the operator's browser) gets nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdminHosts(Vec<String>);

impl AdminHosts {
    pub fn resolve(names: Option<Vec<String>>) -> Result<AdminHosts, SettingsError> {
        let names = names.unwrap_or_default();
        for name in &names {
            let valid = !name.is_empty()
                && name.len() <= 253
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
            if !valid {
                return Err(invalid(
                    "admin_hosts",
                    format!("`{name}` is not a host name (letters, digits, `-` and `.`)"),
                ));
            }
        }
        Ok(AdminHosts(
            names.into_iter().map(|n| n.to_ascii_lowercase()).collect(),
        ))
    }

    /// Whether a request naming `host` (its `Host` header or authority,
    /// perhaps with a port) may be answered.
    pub fn allows(&self, host: &str) -> bool {
        let name = match host.strip_prefix('[') {
            // `[::1]:9090`: an IPv6 literal.
            Some(rest) => {
                return rest
                    .split_once(']')
                    .is_some_and(|(ip, port)| ip.parse::<IpAddr>().is_ok() && valid_port(port));
            }
            None => match host.rsplit_once(':') {
                Some((name, port)) if valid_port(&format!(":{port}")) => name,
                _ => host,
            },
        };
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        name.parse::<IpAddr>().is_ok() || name == "localhost" || self.0.contains(&name)
    }
}

/// `""` or `:<digits>`.
fn valid_port(port: &str) -> bool {
    port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public() -> SocketAddr {
        "127.0.0.1:8080".parse().unwrap()
    }

    #[test]
    fn the_plane_has_a_listener_of_its_own_unless_told_to_share() {
        assert_eq!(
            AdminListen::resolve(None, public()).unwrap(),
            AdminListen::Own(DEFAULT_ADMIN_LISTEN.parse().unwrap())
        );
        assert_eq!(
            AdminListen::resolve(Some("shared".into()), public()).unwrap(),
            AdminListen::Shared
        );
        for same in ["127.0.0.1:8080", "0.0.0.0:8080"] {
            let err = AdminListen::resolve(Some(same.into()), public()).unwrap_err();
            assert!(err.to_string().contains("port of its own"), "{err}");
        }
        assert!(AdminListen::resolve(Some("10.0.0.1:8080".into()), public()).is_ok());
        assert!(
            AdminListen::resolve(Some("127.0.0.1:0".into()), "127.0.0.1:0".parse().unwrap())
                .is_ok()
        );
        let err = AdminListen::resolve(Some("localhost:9090".into()), public()).unwrap_err();
        assert!(err.to_string().contains("shared"), "{err}");
    }

    #[test]
    fn only_ip_literals_localhost_and_named_hosts_reach_the_operators_listener() {
        let hosts = AdminHosts::resolve(Some(vec!["Admin.Example.com".into()])).unwrap();
        for good in [
            "127.0.0.1:9090",
            "10.1.2.3",
            "[::1]:9090",
            "[::1]",
            "localhost:9090",
            "LOCALHOST",
            "admin.example.com",
            "admin.example.com.:443",
        ] {
            assert!(hosts.allows(good), "{good}");
        }
        for bad in [
            "evil.example",
            "attacker.test:9090",
            "admin.example.com.evil",
            "[::1]x",
            "127.0.0.1.nip.io",
            "",
        ] {
            assert!(!hosts.allows(bad), "{bad}");
        }
        assert!(AdminHosts::resolve(Some(vec!["a b".into()])).is_err());
    }
}
