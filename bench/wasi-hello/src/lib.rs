//! `GET /hello/{name}` as a standard `wasi:http/proxy` component: what
//! `wasmtime serve` runs in the benchmark, answering what berth's hello does.

#[cfg(target_arch = "wasm32")]
mod component {
    use wasip2::http::types::{
        Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
    };

    struct Hello;

    impl wasip2::exports::http::incoming_handler::Guest for Hello {
        fn handle(request: IncomingRequest, out: ResponseOutparam) {
            let path = request.path_with_query().unwrap_or_default();
            let name = path.strip_prefix("/hello/").unwrap_or("world");
            let body = format!(r#"{{"message":"Hello, {name}!","version":"1.0.0"}}"#);
            let headers =
                Fields::from_list(&[("content-type".to_string(), b"application/json".to_vec())])
                    .expect("valid headers");
            let response = OutgoingResponse::new(headers);
            let outgoing = response.body().expect("a body");
            ResponseOutparam::set(out, Ok(response));
            let stream = outgoing.write().expect("a body stream");
            stream
                .blocking_write_and_flush(body.as_bytes())
                .expect("written");
            drop(stream);
            OutgoingBody::finish(outgoing, None).expect("finished");
        }
    }

    wasip2::http::proxy::export!(Hello);
}
