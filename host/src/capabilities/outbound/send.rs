//! Sending an allowed outbound request: wasmtime-wasi-http's default
//! sender (`default_send_request.rs`), except for the connection. The host
//! resolves the name itself, keeps only the addresses a service may reach
//! (see `address.rs`), and connects to exactly those, so that a name cannot
//! point somewhere else between the check and the connection.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

use super::address::is_public;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(60);

/// What the response's connection does after the response head arrived.
pub type Driver = Box<dyn Future<Output = Result<(), Error>> + Send>;

/// The addresses of `host:port` a service may connect to: the public ones,
/// and any the operator allow-listed as an IP literal.
async fn resolve(
    host: &str,
    port: u16,
    literals: &[(IpAddr, Option<u16>)],
) -> Result<Vec<SocketAddr>, Error> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let all: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::lookup_host((host, port)))
            .await
            .map_err(|_| Error::DnsTimeout)?
            .map_err(|_| Error::DnsError {
                rcode: None,
                info_code: None,
            })?
            .collect(),
    };
    let allowed: Vec<SocketAddr> = all
        .iter()
        .copied()
        .filter(|a| {
            is_public(a.ip())
                || literals
                    .iter()
                    .any(|(ip, p)| *ip == a.ip() && p.is_none_or(|p| p == a.port()))
        })
        .collect();
    if allowed.is_empty() {
        return Err(if all.is_empty() {
            Error::DestinationNotFound
        } else {
            Error::DestinationIpProhibited
        });
    }
    Ok(allowed)
}

async fn connect(addresses: &[SocketAddr], timeout: Duration) -> Result<TcpStream, Error> {
    let mut last = Error::ConnectionRefused;
    for address in addresses {
        match tokio::time::timeout(timeout, TcpStream::connect(address)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(error)) => last = Error::Connect(error),
            Err(_) => last = Error::ConnectionTimeout,
        }
    }
    Err(last)
}

fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: std::sync::OnceLock<Arc<rustls::ClientConfig>> = std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.into(),
            };
            Arc::new(
                rustls::ClientConfig::builder()
                    .with_root_certificates(roots)
                    .with_no_client_auth(),
            )
        })
        .clone()
}

/// Sends `request` to one of the allowed addresses of its authority.
pub async fn send(
    mut request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
    literals: &[(IpAddr, Option<u16>)],
) -> Result<(http::Response<WasiBody>, Driver), Error> {
    let uri = request.uri();
    let host = uri.host().ok_or(Error::HttpRequestUriInvalid)?.to_string();
    let tls = uri.scheme_str() == Some("https");
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let connect_timeout = options
        .and_then(|o| o.connect_timeout)
        .unwrap_or(CONNECT_TIMEOUT)
        .min(CONNECT_TIMEOUT);
    let first_byte_timeout = options
        .and_then(|o| o.first_byte_timeout)
        .unwrap_or(FIRST_BYTE_TIMEOUT)
        .min(FIRST_BYTE_TIMEOUT);
    let addresses = resolve(&host, port, literals).await?;
    let stream = connect(&addresses, connect_timeout).await?;
    let io: Box<dyn Stream> = if tls {
        let name = match host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            Ok(ip) => rustls::pki_types::ServerName::from(ip),
            Err(_) => rustls::pki_types::ServerName::try_from(host.clone())?,
        };
        let stream = tokio_rustls::TlsConnector::from(tls_config())
            .connect(name, stream)
            .await
            .map_err(Error::Tls)?;
        Box::new(stream)
    } else {
        Box::new(stream)
    };
    let (mut sender, connection) = tokio::time::timeout(
        connect_timeout,
        hyper::client::conn::http1::Builder::new().handshake(TokioIo::new(io)),
    )
    .await
    .map_err(|_| Error::ConnectionTimeout)??;
    // The request line carries the path only (no proxy here).
    *request.uri_mut() = http::Uri::builder()
        .path_and_query(
            request
                .uri()
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_string(),
        )
        .build()
        .map_err(|_| Error::HttpRequestUriInvalid)?;
    let mut connection = Box::pin(connection);
    let response = tokio::select! {
        response = tokio::time::timeout(first_byte_timeout, sender.send_request(request)) => {
            response.map_err(|_| Error::ConnectionReadTimeout)??
        }
        done = &mut connection => {
            done?;
            return Err(Error::HttpResponseIncomplete);
        }
    };
    let driver: Driver = Box::new(async move { connection.await.map_err(Error::from) });
    Ok((
        response.map(|body: Incoming| body.map_err(Error::from).boxed_unsync()),
        driver,
    ))
}

trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static> Stream for T {}
