//! Routes declared once: the same table answers `describe()` and dispatches
//! `handle()`.

use schemars::JsonSchema;

use crate::json::json_schema;
use crate::types::{Method, Problem, Request, Response, Route};

/// A route handler.
pub type Handler = fn(&Request) -> Result<Response, Problem>;

struct Entry {
    method: Method,
    path: &'static str,
    summary: &'static str,
    success_status: u16,
    request_schema: Option<fn() -> String>,
    response_schema: Option<fn() -> String>,
    handler: Handler,
}

/// The routes of a service. Building one is cheap (schemas are generated
/// only for `describe()`), so a service may build it on every request.
#[derive(Default)]
pub struct Router {
    entries: Vec<Entry>,
}

impl Router {
    /// An empty router.
    pub fn new() -> Router {
        Router::default()
    }

    /// Adds a route: `path` is relative to the service's mount point (`/`,
    /// `/{id}`), `success_status` is what the handler answers on success.
    pub fn route(
        mut self,
        method: Method,
        path: &'static str,
        summary: &'static str,
        success_status: u16,
        handler: Handler,
    ) -> Router {
        self.entries.push(Entry {
            method,
            path,
            summary,
            success_status,
            request_schema: None,
            response_schema: None,
            handler,
        });
        self
    }

    /// Declares the JSON body of the route added last; the host validates
    /// requests against its schema before they reach the handler.
    pub fn accepts<T: JsonSchema>(mut self) -> Router {
        if let Some(entry) = self.entries.last_mut() {
            entry.request_schema = Some(json_schema::<T>);
        }
        self
    }

    /// Declares the JSON body the route added last answers with.
    pub fn returns<T: JsonSchema>(mut self) -> Router {
        if let Some(entry) = self.entries.last_mut() {
            entry.response_schema = Some(json_schema::<T>);
        }
        self
    }

    /// The route descriptors for the manifest.
    pub fn describe(&self) -> Vec<Route> {
        self.entries
            .iter()
            .map(|e| Route {
                method: e.method.clone(),
                path: e.path.to_string(),
                summary: e.summary.to_string(),
                success_status: e.success_status,
                request_schema: e.request_schema.map(|schema| schema()),
                response_schema: e.response_schema.map(|schema| schema()),
            })
            .collect()
    }

    /// Calls the handler of the route the host matched.
    pub fn dispatch(&self, request: &Request) -> Result<Response, Problem> {
        let entry = self
            .entries
            .iter()
            .find(|e| e.path == request.route && e.method == request.method)
            .ok_or_else(|| {
                Problem::not_found(&format!(
                    "this service has no route {} {}",
                    request.method, request.route
                ))
            })?;
        (entry.handler)(request)
    }
}
