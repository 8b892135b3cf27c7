//! The conversions between HTTP and what a component sees: the request as
//! a berth service's WIT record or as a standard `wasi:http` request, and
//! either's answer as the HTTP response the client gets.

use axum::body::{Body, Bytes};
use axum::response::Response;
use http::request::Parts;
use http::{HeaderName, HeaderValue, StatusCode, header};

use super::error::ApiError;
use crate::bindings::{self, Problem};
use crate::config::tenancy::Tenancy;

/// Name/value pairs, decoded: path parameters, the query.
pub type Fields = Vec<(String, String)>;

/// The request as the service receives it: the matched route `template`
/// and its `params`, the `query` decoded, headers as text (invalid UTF-8
/// replaced), the whole body.
pub fn wit_request(
    parts: &Parts,
    template: &str,
    (params, query): (Fields, Fields),
    body: &Bytes,
    tenant: &str,
) -> bindings::Request {
    bindings::Request {
        method: bindings::Method::from_http(&parts.method),
        path: parts.uri.path().to_string(),
        route: template.to_string(),
        params,
        query,
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
        request_id: parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string(),
        tenant: tenant.to_string(),
    }
}

pub fn problem_error(problem: Problem) -> ApiError {
    if !(400..=599).contains(&problem.status) {
        tracing::error!(
            status = problem.status,
            "service returned a problem with a non-error status"
        );
    }
    ApiError::Service(problem)
}

/// Headers of the connection, not of the message: the host frames what it
/// sends (from the body it holds whole) and owns its connections, so a
/// service's response and a standard component's request go without them.
const CONNECTION_HEADERS: &[&str] = &[
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
    "trailer",
    "keep-alive",
    "proxy-connection",
    "http2-settings",
];

/// A service's status, if it is one a final response may have: 200 to
/// 599. An informational one (101 Switching Protocols, say) would leave
/// the client's connection in a state the host never agreed to.
fn final_status(status: u16) -> Result<StatusCode, ApiError> {
    match StatusCode::from_u16(status) {
        Ok(code) if (200..=599).contains(&status) => Ok(code),
        _ => {
            tracing::error!(
                status,
                "service answered a status no final response may have"
            );
            Err(ApiError::ServiceFailed)
        }
    }
}

/// The response headers a service may not send, besides the connection's.
#[derive(Debug, Clone, Copy)]
pub struct Dropped {
    /// `Set-Cookie` (the deployment's `strip_set_cookie`).
    pub set_cookie: bool,
    /// What of `Clear-Site-Data` passes.
    pub clear_site_data: ClearSiteData,
}

/// How much of `Clear-Site-Data` a service may send. The header acts on a
/// whole origin, and its `"cookies"` on every origin of the site (the
/// registrable domain): another tenant's, under subdomain tenancy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClearSiteData {
    /// The origin is the tenant's own and so is the site.
    Pass,
    /// The origin is the tenant's own but the site is shared: all but
    /// `"cookies"` (and `"*"`, which includes them).
    WithoutCookies,
    /// The origin is shared with other tenants (header and path tenancy) or
    /// with the operator's plane (`admin_listen = "shared"`): none of it.
    Drop,
}

impl ClearSiteData {
    /// What passes under `tenancy`, with the operator's plane on the public
    /// listener or not.
    pub fn of(tenancy: &Tenancy, plane_shared: bool) -> ClearSiteData {
        match tenancy {
            _ if plane_shared => ClearSiteData::Drop,
            Tenancy::Header(_) | Tenancy::Path => ClearSiteData::Drop,
            Tenancy::Subdomain(_) => ClearSiteData::WithoutCookies,
            Tenancy::Off => ClearSiteData::Pass,
        }
    }

    /// The header as it may pass, if any of it may.
    fn filter(self, value: HeaderValue) -> Option<HeaderValue> {
        match self {
            ClearSiteData::Pass => Some(value),
            ClearSiteData::Drop => None,
            ClearSiteData::WithoutCookies => {
                let kept: Vec<&str> = value
                    .to_str()
                    .ok()?
                    .split(',')
                    .map(str::trim)
                    .filter(|d| !matches!(d.trim_matches('"'), "cookies" | "*") && !d.is_empty())
                    .collect();
                (!kept.is_empty())
                    .then(|| HeaderValue::from_str(&kept.join(", ")).ok())
                    .flatten()
            }
        }
    }
}

pub fn build_response(
    response: bindings::Response,
    head: bool,
    dropped: Dropped,
) -> Result<Response, ApiError> {
    let mut builder = http::Response::builder().status(final_status(response.status)?);
    for (name, value) in &response.headers {
        let name = HeaderName::from_bytes(name.as_bytes());
        let value = HeaderValue::from_str(value);
        match (name, value) {
            (Ok(name), Ok(value)) => {
                if let Some((name, value)) = passed_on(name, value, dropped) {
                    builder = builder.header(name, value);
                }
            }
            _ => {
                tracing::error!("service answered an invalid header");
                return Err(ApiError::ServiceFailed);
            }
        }
    }
    with_body(builder, Bytes::from(response.body), head)
}

/// A header of the service's response, unless the host owns it or drops
/// it. `Service-Worker-Allowed` is never passed on: a worker's scope stays
/// within the directory of its script, which `dispatch` keeps below the
/// service's mount point, so it cannot control another service's pages.
fn passed_on(
    name: HeaderName,
    value: HeaderValue,
    dropped: Dropped,
) -> Option<(HeaderName, HeaderValue)> {
    let drop = CONNECTION_HEADERS.contains(&name.as_str())
        || name.as_str() == "service-worker-allowed"
        || (dropped.set_cookie && name == header::SET_COOKIE);
    if drop {
        return None;
    }
    if name.as_str() == "clear-site-data" {
        return Some((name, dropped.clear_site_data.filter(value)?));
    }
    Some((name, value))
}

fn with_body(
    builder: http::response::Builder,
    body: Bytes,
    head: bool,
) -> Result<Response, ApiError> {
    let body = if head {
        Body::empty()
    } else {
        Body::from(body)
    };
    builder.body(body).map_err(|_| ApiError::ServiceFailed)
}

/// Request headers that are not the client's to say, besides the
/// connection's: a standard component gets the host's word for them.
const FORWARDING_HEADERS: &[&str] = &[
    // Set by the host: where the component is mounted.
    "x-forwarded-prefix",
    // What a client says of the hops before it cannot be trusted: berth
    // knows of no proxy in front of it.
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
];

/// The request as a standard `wasi:http` component sees it: the path
/// relative to its mount point (`/` at the mount point itself) with the
/// query, the request's authority (`localhost` when it names none), its
/// headers but those of the connection, `content-length` of the whole body,
/// and `x-forwarded-prefix` set to where it is mounted.
pub fn proxy_request(parts: &Parts, prefix: &str, path: &str, body: Bytes) -> http::Request<Bytes> {
    let relative = match path.strip_prefix(prefix.trim_end_matches('/')) {
        Some("") | None => "/",
        Some(rest) => rest,
    };
    let authority = parts
        .uri
        .authority()
        .map(|a| a.as_str().to_string())
        .or_else(|| {
            parts
                .headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "localhost".into());
    let path_and_query = match parts.uri.query() {
        Some(query) => format!("{relative}?{query}"),
        None => relative.to_string(),
    };
    let uri = http::Uri::builder()
        .scheme("http")
        .authority(authority.as_str())
        .path_and_query(path_and_query.as_str())
        .build()
        .or_else(|_| {
            http::Uri::builder()
                .scheme("http")
                .authority("localhost")
                .path_and_query(path_and_query.as_str())
                .build()
        })
        .unwrap_or_else(|_| http::Uri::from_static("http://localhost/"));
    let length = HeaderValue::from(body.len());
    let mut request = http::Request::builder()
        .method(parts.method.clone())
        .uri(uri)
        .body(body)
        .expect("a request of valid parts");
    let headers = request.headers_mut();
    for (name, value) in &parts.headers {
        let name_text = name.as_str();
        if !CONNECTION_HEADERS.contains(&name_text) && !FORWARDING_HEADERS.contains(&name_text) {
            headers.append(name, value.clone());
        }
    }
    headers.insert(header::CONTENT_LENGTH, length);
    // The public mount point: with path tenancy, the tenant's segment too.
    let tenant = parts.uri.path().strip_suffix(path).unwrap_or_default();
    if let Ok(prefix) = HeaderValue::from_str(&format!("{tenant}{prefix}")) {
        headers.insert("x-forwarded-prefix", prefix);
    }
    request
}

/// A standard component's response as the client gets it.
pub fn proxy_response(
    response: http::Response<Bytes>,
    head: bool,
    dropped: Dropped,
) -> Result<Response, ApiError> {
    let (parts, body) = response.into_parts();
    let mut builder = http::Response::builder().status(final_status(parts.status.as_u16())?);
    // A header's repeated values come with no name: they are the last
    // name's.
    let mut last = None;
    for (name, value) in parts.headers {
        let Some(name) = name.or_else(|| last.clone()) else {
            continue;
        };
        last = Some(name.clone());
        if let Some((name, value)) = passed_on(name, value, dropped) {
            builder = builder.header(name, value);
        }
    }
    with_body(builder, body, head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clear_site_data_loses_what_would_reach_other_tenants() {
        let value = HeaderValue::from_static("\"cache\", \"cookies\", \"storage\"");
        assert_eq!(
            ClearSiteData::Pass.filter(value.clone()),
            Some(value.clone())
        );
        assert_eq!(ClearSiteData::Drop.filter(value.clone()), None);
        assert_eq!(
            ClearSiteData::WithoutCookies.filter(value),
            Some(HeaderValue::from_static("\"cache\", \"storage\""))
        );
        for only_cookies in ["\"cookies\"", "\"*\"", " \"cookies\" , \"*\""] {
            let value = HeaderValue::from_static(only_cookies);
            assert_eq!(
                ClearSiteData::WithoutCookies.filter(value),
                None,
                "{only_cookies}"
            );
        }
    }
}
