//! A standard `wasi:http/proxy` component for the tests, deployed by berth
//! like a service though it cannot describe itself:
//!
//! - `GET /echo…` and `POST /echo…`: JSON with the method, the path and
//!   query it saw, its `x-forwarded-prefix` and `host`, and the body;
//! - `/spin`: loops forever (the deadline must stop it);
//! - `/grow`: allocates until memory runs out (the memory cap must stop it);
//! - `/stream`: sets a response and writes body forever (the response
//!   limit or the deadline must stop it);
//! - `/cut`: sets a response, writes part of its body, then traps;
//! - `/unset`: returns without setting a response;
//! - `/status?<n>`: answers with status `n`;
//! - `/drip`: sets a response and writes its body a byte at a time, forever;
//! - `/late?<url>`: waits 1.5 s, then calls out to `<url>` (a request whose
//!   client went away must not get that far);
//! - `/headers`: answers with repeated and hop-by-hop headers;
//! - `/fetch?<url>`: calls out to `<url>` (the allow-list decides) and
//!   answers the status it got, or the error.

#[cfg(target_arch = "wasm32")]
mod component {
    use wasip2::http::outgoing_handler;
    use wasip2::http::types::{
        Fields, IncomingRequest, Method, OutgoingBody, OutgoingRequest, OutgoingResponse,
        ResponseOutparam, Scheme,
    };

    struct Proxy;

    fn answer(out: ResponseOutparam, status: u16, body: &str) {
        let headers =
            Fields::from_list(&[("content-type".to_string(), b"application/json".to_vec())])
                .expect("valid headers");
        let response = OutgoingResponse::new(headers);
        response.set_status_code(status).expect("a valid status");
        let outgoing = response.body().expect("a body");
        ResponseOutparam::set(out, Ok(response));
        let stream = outgoing.write().expect("a body stream");
        for chunk in body.as_bytes().chunks(4096) {
            stream.blocking_write_and_flush(chunk).expect("written");
        }
        drop(stream);
        OutgoingBody::finish(outgoing, None).expect("finished");
    }

    fn header(request: &IncomingRequest, name: &str) -> String {
        request
            .headers()
            .get(name)
            .first()
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default()
    }

    fn read_body(request: &IncomingRequest) -> Vec<u8> {
        let body = request.consume().expect("a body");
        let stream = body.stream().expect("a body stream");
        let mut bytes = Vec::new();
        while let Ok(chunk) = stream.blocking_read(64 * 1024) {
            bytes.extend(chunk);
        }
        bytes
    }

    fn fetch(url: &str) -> Result<u16, String> {
        let (scheme, rest) = url.split_once("://").ok_or("not a URL")?;
        let (authority, path) = rest
            .split_once('/')
            .map_or((rest, "/".to_string()), |(a, p)| (a, format!("/{p}")));
        let request = OutgoingRequest::new(Fields::new());
        request.set_method(&Method::Get).map_err(|()| "method")?;
        request
            .set_scheme(Some(&if scheme == "https" {
                Scheme::Https
            } else {
                Scheme::Http
            }))
            .map_err(|()| "scheme")?;
        request
            .set_authority(Some(authority))
            .map_err(|()| "authority")?;
        request
            .set_path_with_query(Some(&path))
            .map_err(|()| "path")?;
        let future = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
        future.subscribe().block();
        let response = future
            .get()
            .ok_or("no response")?
            .map_err(|()| "taken")?
            .map_err(|e| format!("{e:?}"))?;
        Ok(response.status())
    }

    impl wasip2::exports::http::incoming_handler::Guest for Proxy {
        fn handle(request: IncomingRequest, out: ResponseOutparam) {
            let path = request.path_with_query().unwrap_or_default();
            let method = match request.method() {
                Method::Get => "GET".to_string(),
                Method::Head => "HEAD".to_string(),
                Method::Post => "POST".to_string(),
                Method::Put => "PUT".to_string(),
                Method::Delete => "DELETE".to_string(),
                Method::Patch => "PATCH".to_string(),
                Method::Options => "OPTIONS".to_string(),
                other => format!("{other:?}"),
            };
            let route = path.split('?').next().unwrap_or_default().to_string();
            match route.as_str() {
                "/spin" => {
                    let mut n: u64 = 0;
                    loop {
                        n = std::hint::black_box(n.wrapping_add(1));
                    }
                }
                "/grow" => {
                    let mut held: Vec<Vec<u8>> = Vec::new();
                    loop {
                        held.push(vec![1; 1 << 20]);
                        std::hint::black_box(&held);
                    }
                }
                "/stream" => {
                    let response = OutgoingResponse::new(Fields::new());
                    let outgoing = response.body().expect("a body");
                    ResponseOutparam::set(out, Ok(response));
                    let stream = outgoing.write().expect("a body stream");
                    let chunk = vec![b'x'; 4096];
                    while stream.blocking_write_and_flush(&chunk).is_ok() {}
                }
                "/cut" => {
                    let response = OutgoingResponse::new(Fields::new());
                    let outgoing = response.body().expect("a body");
                    ResponseOutparam::set(out, Ok(response));
                    let stream = outgoing.write().expect("a body stream");
                    stream
                        .blocking_write_and_flush(b"the start of")
                        .expect("written");
                    panic!("cut short");
                }
                "/unset" => drop(out),
                "/drip" => {
                    let response = OutgoingResponse::new(Fields::new());
                    let outgoing = response.body().expect("a body");
                    ResponseOutparam::set(out, Ok(response));
                    let stream = outgoing.write().expect("a body stream");
                    while stream.blocking_write_and_flush(b"x").is_ok() {}
                }
                "/late" => {
                    wasip2::clocks::monotonic_clock::subscribe_duration(1_500_000_000).block();
                    let url = path.split_once('?').map(|(_, q)| q).unwrap_or_default();
                    let _ = fetch(url);
                    answer(out, 200, "{}");
                }
                "/headers" => {
                    let headers = Fields::from_list(&[
                        ("vary".to_string(), b"accept".to_vec()),
                        ("vary".to_string(), b"origin".to_vec()),
                        ("te".to_string(), b"trailers".to_vec()),
                        ("trailer".to_string(), b"x-checksum".to_vec()),
                    ])
                    .expect("valid headers");
                    let response = OutgoingResponse::new(headers);
                    let outgoing = response.body().expect("a body");
                    ResponseOutparam::set(out, Ok(response));
                    OutgoingBody::finish(outgoing, None).expect("finished");
                }
                "/status" => {
                    let query = path.split_once('?').map(|(_, q)| q).unwrap_or_default();
                    answer(out, query.parse().unwrap_or(200), "{}");
                }
                "/fetch" => {
                    let url = path.split_once('?').map(|(_, q)| q).unwrap_or_default();
                    match fetch(url) {
                        Ok(status) => answer(out, 200, &format!(r#"{{"status":{status}}}"#)),
                        Err(error) => answer(out, 502, &format!(r#"{{"error":{:?}}}"#, error)),
                    }
                }
                _ => {
                    let prefix = header(&request, "x-forwarded-prefix");
                    let forwarded = [
                        "forwarded",
                        "x-forwarded-for",
                        "x-forwarded-host",
                        "x-forwarded-proto",
                    ]
                    .map(|name| header(&request, name))
                    .concat();
                    let host = header(&request, "host");
                    let body = String::from_utf8_lossy(&read_body(&request)).into_owned();
                    let authority = request.authority().unwrap_or_default();
                    answer(
                        out,
                        200,
                        &format!(
                            r#"{{"method":{method:?},"path":{path:?},"prefix":{prefix:?},"forwarded":{forwarded:?},"host":{host:?},"authority":{authority:?},"body":{body:?}}}"#
                        ),
                    );
                }
            }
        }
    }

    wasip2::http::proxy::export!(Proxy);
}
