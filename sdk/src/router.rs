//! Routes declared once: the same table answers `describe()` and dispatches
//! `handle()`. A handler is a function of typed arguments ([`Path`],
//! [`Query`], [`Json`], or the whole [`Request`]) returning a [`Reply`] or a
//! [`Problem`]; what the arguments and reply are is what the route
//! publishes, and what the host checks before the handler runs.
//!
//! [`Path`]: crate::Path
//! [`Query`]: crate::Query
//! [`Json`]: crate::Json

use schemars::JsonSchema;

use crate::extract::{Extract, Reply, RouteDoc};
use crate::json::json_schema;
use crate::types::{Method, Problem, Request, Response, Route};

/// A function that handles a route: up to four [`Extract`] arguments and a
/// [`Reply`], or a plain `fn(&Request) -> Result<Response, Problem>`.
pub trait Handler<Args>: 'static {
    /// Handles one request.
    fn call(&self, request: &Request) -> Result<Response, Problem>;
    /// What the arguments and reply say about the route.
    fn describe(route: &mut RouteDoc);
}

/// The marker of handlers that take the raw request.
pub struct Raw;

impl<F> Handler<Raw> for F
where
    F: Fn(&Request) -> Result<Response, Problem> + 'static,
{
    fn call(&self, request: &Request) -> Result<Response, Problem> {
        self(request)
    }

    fn describe(_: &mut RouteDoc) {}
}

macro_rules! typed_handler {
    ($($arg:ident),*) => {
        impl<F, R, $($arg,)*> Handler<($($arg,)*)> for F
        where
            F: Fn($($arg),*) -> Result<R, Problem> + 'static,
            R: Reply,
            $($arg: Extract,)*
        {
            #[allow(non_snake_case, unused_variables)]
            fn call(&self, request: &Request) -> Result<Response, Problem> {
                $(let $arg = $arg::extract(request)?;)*
                Ok(self($($arg),*)?.into_response(request))
            }

            fn describe(route: &mut RouteDoc) {
                $($arg::describe(route);)*
                R::describe(route);
            }
        }
    };
}

typed_handler!();
typed_handler!(A);
typed_handler!(A, B);
typed_handler!(A, B, C);
typed_handler!(A, B, C, D);

struct Entry {
    method: Method,
    path: &'static str,
    summary: &'static str,
    success_status: Option<u16>,
    request_schema: Option<fn() -> String>,
    response_schema: Option<fn() -> String>,
    describe: fn(&mut RouteDoc),
    handler: BoxedHandler,
}

/// A handler with its arguments' extraction, behind one signature.
type BoxedHandler = Box<dyn Fn(&Request) -> Result<Response, Problem>>;

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
    /// `/{id}`); the status of a success comes from the handler's reply
    /// ([`Json`](crate::Json) 200, [`Created`](crate::Created) 201,
    /// [`NoContent`](crate::NoContent) 204), or from [`Router::status`].
    pub fn add<Args, H: Handler<Args>>(
        mut self,
        method: Method,
        path: &'static str,
        summary: &'static str,
        handler: H,
    ) -> Router {
        self.entries.push(Entry {
            method,
            path,
            summary,
            success_status: None,
            request_schema: None,
            response_schema: None,
            describe: H::describe,
            handler: Box::new(move |request| handler.call(request)),
        });
        self
    }

    /// `GET path`.
    pub fn get<Args, H: Handler<Args>>(
        self,
        path: &'static str,
        summary: &'static str,
        handler: H,
    ) -> Router {
        self.add(Method::Get, path, summary, handler)
    }

    /// `POST path`.
    pub fn post<Args, H: Handler<Args>>(
        self,
        path: &'static str,
        summary: &'static str,
        handler: H,
    ) -> Router {
        self.add(Method::Post, path, summary, handler)
    }

    /// `PUT path`.
    pub fn put<Args, H: Handler<Args>>(
        self,
        path: &'static str,
        summary: &'static str,
        handler: H,
    ) -> Router {
        self.add(Method::Put, path, summary, handler)
    }

    /// `PATCH path`.
    pub fn patch<Args, H: Handler<Args>>(
        self,
        path: &'static str,
        summary: &'static str,
        handler: H,
    ) -> Router {
        self.add(Method::Patch, path, summary, handler)
    }

    /// `DELETE path`.
    pub fn delete<Args, H: Handler<Args>>(
        self,
        path: &'static str,
        summary: &'static str,
        handler: H,
    ) -> Router {
        self.add(Method::Delete, path, summary, handler)
    }

    /// Adds a route whose handler answers `success_status` on success.
    pub fn route<Args, H: Handler<Args>>(
        self,
        method: Method,
        path: &'static str,
        summary: &'static str,
        success_status: u16,
        handler: H,
    ) -> Router {
        self.add(method, path, summary, handler)
            .status(success_status)
    }

    /// Sets the success status of the route added last.
    pub fn status(mut self, status: u16) -> Router {
        if let Some(entry) = self.entries.last_mut() {
            entry.success_status = Some(status);
        }
        self
    }

    /// Declares the JSON body of the route added last, for handlers that
    /// take the raw request; the host validates requests against its schema
    /// before they reach the handler.
    pub fn accepts<T: JsonSchema>(mut self) -> Router {
        if let Some(entry) = self.entries.last_mut() {
            entry.request_schema = Some(json_schema::<T>);
        }
        self
    }

    /// Declares the JSON body the route added last answers with, for
    /// handlers that build their response themselves.
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
            .map(|e| {
                let mut doc = RouteDoc {
                    template: e.path,
                    ..RouteDoc::default()
                };
                (e.describe)(&mut doc);
                Route {
                    method: e.method.clone(),
                    path: e.path.to_string(),
                    summary: e.summary.to_string(),
                    success_status: e.success_status.or(doc.status).unwrap_or(200),
                    request_schema: e
                        .request_schema
                        .map(|schema| schema())
                        .or(doc.request_schema),
                    response_schema: e
                        .response_schema
                        .map(|schema| schema())
                        .or(doc.response_schema),
                    params: doc.params,
                }
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
