//! Outbound HTTP (`wasi:http/outgoing-handler`): every request is checked
//! against the deployment's allow-list (Spin's `allowed_outbound_hosts` is
//! the model) and refused with `HTTP-request-denied` unless it matches. With
//! no list, nothing is allowed. An allowed name is then resolved by the host,
//! and only public addresses are connected to (`address.rs`): a name that
//! points at loopback, a private network or a cloud's metadata service is
//! refused with `destination-IP-prohibited`, unless the operator lists that
//! IP literally.

mod address;
mod send;

use std::sync::Arc;

use wasmtime::component::{Linker, ResourceTable};
use wasmtime_wasi_http::WasiHttpCtxView;
use wasmtime_wasi_http::{Error, RequestOptions, WasiHttpCtx, WasiHttpHooks, WasiHttpView, p2};

/// One allowed destination: scheme, host (with an optional leading `*.`)
/// and port (`*` for any).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Allowed {
    scheme: Option<String>,
    host: String,
    port: Option<u16>,
}

/// The hosts a deployment may call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList(Arc<Vec<Allowed>>);

impl AllowList {
    /// Parses entries like `https://api.example.com`, `http://127.0.0.1:8080`,
    /// `https://*.example.com`, `http://localhost:*`, `*://example.com:443`.
    pub fn parse(entries: &[String]) -> Result<AllowList, String> {
        let mut allowed = Vec::new();
        for entry in entries {
            let (scheme, rest) = entry
                .split_once("://")
                .ok_or_else(|| format!("`{entry}` needs a scheme, e.g. https://{entry}"))?;
            let scheme = match scheme {
                "*" => None,
                "http" | "https" => Some(scheme.to_string()),
                other => return Err(format!("`{entry}`: unsupported scheme {other}")),
            };
            let rest = rest.trim_end_matches('/');
            if rest.contains('/') {
                return Err(format!(
                    "`{entry}`: a path is not allowed, only scheme://host[:port]"
                ));
            }
            let (host, port) = match rest.rsplit_once(':') {
                Some((host, "*")) => (host, None),
                Some((host, port)) => (
                    host,
                    Some(
                        port.parse::<u16>()
                            .map_err(|_| format!("`{entry}`: bad port"))?,
                    ),
                ),
                None => (rest, default_port(scheme.as_deref())),
            };
            if host.is_empty() || host.contains('*') && !host.starts_with("*.") {
                return Err(format!("`{entry}`: bad host"));
            }
            allowed.push(Allowed {
                scheme,
                host: host.to_ascii_lowercase(),
                port,
            });
        }
        Ok(AllowList(Arc::new(allowed)))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The addresses the operator listed literally, with their port (any
    /// for `*`): reachable even when they are not public, on that port.
    pub fn literal_ips(&self) -> Vec<(std::net::IpAddr, Option<u16>)> {
        self.0
            .iter()
            .filter_map(|a| {
                let ip = a
                    .host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse()
                    .ok()?;
                Some((ip, a.port))
            })
            .collect()
    }

    /// Whether a request to `scheme://host:port` is allowed.
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        let host = host.to_ascii_lowercase();
        self.0.iter().any(|a| {
            a.scheme.as_deref().is_none_or(|s| s == scheme)
                && a.port.is_none_or(|p| p == port)
                && match a.host.strip_prefix("*.") {
                    Some(suffix) => host
                        .strip_suffix(suffix)
                        .is_some_and(|sub| sub.ends_with('.')),
                    None => a.host == host,
                }
        })
    }
}

fn default_port(scheme: Option<&str>) -> Option<u16> {
    match scheme {
        Some("http") => Some(80),
        Some("https") => Some(443),
        _ => None,
    }
}

/// Bytes one `wasi:http` header map may hold (with the resource table's
/// bound on live resources, this bounds what a request holds in headers).
const MAX_FIELDS_BYTES: usize = 16 * 1024;

/// Per-request outbound HTTP state.
pub struct OutboundCtx {
    http: WasiHttpCtx,
    hooks: Hooks,
}

impl OutboundCtx {
    pub fn new(service: &str, allowed: AllowList) -> OutboundCtx {
        let mut http = WasiHttpCtx::new();
        http.set_field_size_limit(MAX_FIELDS_BYTES);
        OutboundCtx {
            http,
            hooks: Hooks {
                service: service.to_string(),
                allowed,
            },
        }
    }
}

impl Default for OutboundCtx {
    fn default() -> Self {
        OutboundCtx::new("", AllowList::default())
    }
}

struct Hooks {
    service: String,
    allowed: AllowList,
}

impl WasiHttpHooks for Hooks {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = wasmtime_wasi_http::Result<(
                    http::Response<wasmtime_wasi_http::WasiBody>,
                    Box<dyn Future<Output = Result<(), Error>> + Send>,
                )>,
            > + Send,
    > {
        let uri = request.uri();
        let scheme = uri.scheme_str().unwrap_or("https").to_string();
        let host = uri.host().unwrap_or_default().to_string();
        let port = uri
            .port_u16()
            .unwrap_or(if scheme == "http" { 80 } else { 443 });
        if !self.allowed.allows(&scheme, &host, port) {
            tracing::warn!(service = %self.service, %scheme, %host, port, "outbound HTTP request denied");
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        tracing::debug!(service = %self.service, %scheme, %host, port, "outbound HTTP request");
        _ = fut;
        let literals = self.allowed.literal_ips();
        let service = self.service.clone();
        Box::new(async move {
            send::send(request, options, &literals).await.inspect_err(|error| {
                if matches!(error, Error::DestinationIpProhibited) {
                    tracing::warn!(%service, %host, port, "outbound HTTP to an inner address refused");
                }
            })
        })
    }
}

impl OutboundCtx {
    /// What wasmtime's `wasi:http` implementation works on: this state with
    /// the store's resource table.
    pub fn view<'a>(&'a mut self, table: &'a mut ResourceTable) -> WasiHttpCtxView<'a> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table,
            hooks: &mut self.hooks,
        }
    }
}

/// Links `wasi:http` into any store whose data is a [`WasiHttpView`].
pub fn add_to_linker<T: WasiHttpView + 'static>(linker: &mut Linker<T>) -> anyhow::Result<()> {
    p2::add_only_http_to_linker_async(linker)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> AllowList {
        AllowList::parse(&entries.iter().map(|e| e.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn nothing_is_allowed_by_default() {
        assert!(!AllowList::default().allows("https", "example.com", 443));
    }

    #[test]
    fn entries_match_scheme_host_and_port() {
        let l = list(&[
            "https://api.example.com",
            "http://127.0.0.1:8080",
            "http://localhost:*",
            "https://*.cdn.net",
        ]);
        assert!(l.allows("https", "api.example.com", 443));
        assert!(l.allows("https", "API.example.com", 443));
        assert!(!l.allows("http", "api.example.com", 80));
        assert!(!l.allows("https", "api.example.com", 8443));
        assert!(l.allows("http", "127.0.0.1", 8080));
        assert!(!l.allows("http", "127.0.0.1", 8081));
        assert!(l.allows("http", "localhost", 3000));
        assert!(l.allows("https", "a.cdn.net", 443));
        assert!(!l.allows("https", "cdn.net", 443));
        assert!(!l.allows("https", "evilcdn.net", 443));
    }

    #[test]
    fn malformed_entries_are_refused() {
        for bad in [
            "example.com",
            "ftp://x",
            "https://x/path",
            "https://x:port",
            "https://ex*ample.com",
        ] {
            assert!(AllowList::parse(&[bad.to_string()]).is_err(), "{bad}");
        }
    }
}
