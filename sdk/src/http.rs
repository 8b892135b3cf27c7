//! Conveniences on the WIT request, response and problem records.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::types::{Method, Problem, Request, Response};

impl Request {
    /// The path parameter `name` captured by the route template.
    pub fn param(&self, name: &str) -> Option<&str> {
        lookup(&self.params, name)
    }

    /// The first query parameter called `name`.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        lookup(&self.query, name)
    }

    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Parses the body as JSON into `T`. A body that is not JSON, or does not
    /// fit `T`, is a 422 problem naming the offending field.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Problem> {
        crate::json::from_slice(&self.body)
    }
}

fn lookup<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

impl Response {
    /// A response with `status` and a JSON body.
    pub fn json<T: Serialize + ?Sized>(status: u16, body: &T) -> Response {
        match serde_json::to_vec(body) {
            Ok(body) => Response {
                status,
                headers: vec![("content-type".into(), "application/json".into())],
                body,
            },
            Err(e) => Problem::internal(&format!("response does not serialize: {e}")).into(),
        }
    }

    /// A response with `status` and no body, e.g. 204.
    pub fn empty(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: &str) -> Response {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_string()));
        self
    }
}

impl From<Problem> for Response {
    /// Renders a problem without the host's help; services normally return
    /// `Err(problem)` from `handle` and let the host render it.
    fn from(problem: Problem) -> Response {
        let body = serde_json::json!({
            "error": { "code": problem.code, "message": problem.message, "field": problem.field }
        });
        Response {
            status: problem.status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }
}

impl Problem {
    /// A problem with any status and code.
    pub fn new(status: u16, code: &str, message: &str) -> Problem {
        Problem {
            status,
            code: code.into(),
            message: message.into(),
            field: None,
        }
    }

    /// 400: the request is malformed.
    pub fn bad_request(message: &str) -> Problem {
        Problem::new(400, "bad_request", message)
    }

    /// 404: the resource does not exist.
    pub fn not_found(message: &str) -> Problem {
        Problem::new(404, "not_found", message)
    }

    /// 409: the request conflicts with the current state.
    pub fn conflict(message: &str) -> Problem {
        Problem::new(409, "conflict", message)
    }

    /// 422: `field` fails validation.
    pub fn validation(field: &str, message: &str) -> Problem {
        Problem {
            field: Some(field.into()),
            ..Problem::new(422, "validation_error", message)
        }
    }

    /// 500: the service failed.
    pub fn internal(message: &str) -> Problem {
        Problem::new(500, "internal_error", message)
    }

    /// 503: a dependency is unavailable; the client may retry.
    pub fn unavailable(message: &str) -> Problem {
        Problem::new(503, "unavailable", message)
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Other(other) => other,
        })
    }
}
