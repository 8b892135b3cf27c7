//! Outbound HTTP through `wasi:http/outgoing-handler`. The service must
//! declare `Capability::OutboundHttp`, and the host lets requests through
//! only to the hosts the operator allow-listed for the deployment; anything
//! else fails with `HttpRequestDenied`.

/// A response to an outbound request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// `GET url`.
pub fn get(url: &str) -> Result<HttpResponse, String> {
    send("GET", url, &[], &[])
}

/// Sends a request and reads the whole response. Blocks the instance (not
/// the host) until the answer arrives.
pub fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<HttpResponse, String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("`{url}` is not an absolute http(s) URL"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    imp::send(method, scheme, authority, path, headers, body)
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use wasip2::http::outgoing_handler;
    use wasip2::http::types::{Fields, Method, OutgoingBody, OutgoingRequest, Scheme};
    use wasip2::io::streams::StreamError;

    use super::HttpResponse;

    pub fn send(
        method: &str,
        scheme: &str,
        authority: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<HttpResponse, String> {
        let fields = Fields::new();
        for (name, value) in headers {
            fields
                .append(&name.to_string(), &value.as_bytes().to_vec())
                .map_err(|e| format!("header {name}: {e:?}"))?;
        }
        let request = OutgoingRequest::new(fields);
        let method = match method {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            "HEAD" => Method::Head,
            other => Method::Other(other.to_string()),
        };
        let scheme = match scheme {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            other => Scheme::Other(other.to_string()),
        };
        request.set_method(&method).map_err(|()| "invalid method")?;
        request
            .set_scheme(Some(&scheme))
            .map_err(|()| "invalid scheme")?;
        request
            .set_authority(Some(authority))
            .map_err(|()| "invalid authority")?;
        request
            .set_path_with_query(Some(path))
            .map_err(|()| "invalid path")?;
        let outgoing = request
            .body()
            .map_err(|()| "the request body is unavailable")?;
        {
            let stream = outgoing
                .write()
                .map_err(|()| "the request body cannot be written")?;
            for chunk in body.chunks(4096) {
                stream
                    .blocking_write_and_flush(chunk)
                    .map_err(|e| format!("writing the body: {e:?}"))?;
            }
        }
        let future = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
        OutgoingBody::finish(outgoing, None).map_err(|e| format!("{e:?}"))?;
        let response = loop {
            match future.get() {
                Some(result) => break result,
                None => future.subscribe().block(),
            }
        };
        let response = response
            .map_err(|()| "the response was already taken".to_string())?
            .map_err(|e| format!("{e:?}"))?;
        let status = response.status();
        let headers = response
            .headers()
            .entries()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
            .collect();
        let incoming = response
            .consume()
            .map_err(|()| "the response body is unavailable")?;
        let mut bytes = Vec::new();
        {
            let stream = incoming
                .stream()
                .map_err(|()| "the response body cannot be read")?;
            loop {
                match stream.blocking_read(64 * 1024) {
                    Ok(chunk) => bytes.extend_from_slice(&chunk),
                    Err(StreamError::Closed) => break,
                    Err(e) => return Err(format!("reading the body: {e:?}")),
                }
            }
        }
        Ok(HttpResponse {
            status,
            headers,
            body: bytes,
        })
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::HttpResponse;

    pub fn send(
        _: &str,
        _: &str,
        _: &str,
        _: &str,
        _: &[(&str, &str)],
        _: &[u8],
    ) -> Result<HttpResponse, String> {
        Err("outbound HTTP is only available inside berth".into())
    }
}
