//! The route table: every mounted service route, matched by path then by
//! method. Built whole for every deploy (conflicts are found then, not at
//! request time) and never mutated afterwards.

use std::collections::BTreeMap;
use std::sync::Arc;

use http::Method;

/// A route could not be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("{method} {path} is declared twice")]
    Duplicate { method: Method, path: String },
    #[error("{path} conflicts with the route {with}")]
    Conflict { path: String, with: String },
    #[error("{path} is not a valid route template: {message}")]
    Invalid { path: String, message: String },
}

/// What a lookup found.
#[derive(Debug)]
pub enum Lookup<'a, T> {
    Found {
        target: &'a T,
        params: Vec<(String, String)>,
    },
    /// The path exists but not for this method.
    MethodNotAllowed {
        allowed: Vec<Method>,
    },
    NotFound,
}

/// Collects routes, then builds the table.
#[derive(Debug)]
pub struct RouteTableBuilder<T> {
    paths: BTreeMap<String, Vec<(Method, T)>>,
}

impl<T> Default for RouteTableBuilder<T> {
    fn default() -> Self {
        RouteTableBuilder {
            paths: BTreeMap::new(),
        }
    }
}

impl<T> RouteTableBuilder<T> {
    pub fn add(&mut self, method: Method, path: String, target: T) -> Result<(), RouteError> {
        let methods = self.paths.entry(path.clone()).or_default();
        if methods.iter().any(|(m, _)| *m == method) {
            return Err(RouteError::Duplicate { method, path });
        }
        methods.push((method, target));
        Ok(())
    }

    pub fn build(self) -> Result<RouteTable<T>, RouteError> {
        let mut router = matchit::Router::new();
        for (path, methods) in self.paths {
            router.insert(path.clone(), methods).map_err(|e| match e {
                matchit::InsertError::Conflict { with } => RouteError::Conflict { path, with },
                other => RouteError::Invalid {
                    path,
                    message: other.to_string(),
                },
            })?;
        }
        Ok(RouteTable {
            router: Arc::new(router),
        })
    }
}

/// An immutable table of routes.
#[derive(Debug)]
pub struct RouteTable<T> {
    router: Arc<matchit::Router<Vec<(Method, T)>>>,
}

impl<T> Clone for RouteTable<T> {
    fn clone(&self) -> Self {
        RouteTable {
            router: self.router.clone(),
        }
    }
}

impl<T> Default for RouteTable<T> {
    fn default() -> Self {
        RouteTableBuilder::default()
            .build()
            .expect("an empty table has no conflicts")
    }
}

impl<T> RouteTable<T> {
    /// Finds the route for `method` and `path`. `HEAD` falls back to `GET`.
    pub fn lookup(&self, method: &Method, path: &str) -> Lookup<'_, T> {
        let Ok(matched) = self.router.at(path) else {
            return Lookup::NotFound;
        };
        let methods = matched.value;
        let found = methods.iter().find(|(m, _)| m == method).or_else(|| {
            (*method == Method::HEAD)
                .then(|| methods.iter().find(|(m, _)| *m == Method::GET))
                .flatten()
        });
        match found {
            Some((_, target)) => Lookup::Found {
                target,
                // Percent-decoded, as the query is (`+` stays itself in a
                // path); bytes that are not UTF-8 become U+FFFD, as in
                // Starlette.
                params: matched
                    .params
                    .iter()
                    .map(|(k, v)| {
                        let value = percent_encoding::percent_decode_str(v).decode_utf8_lossy();
                        (k.to_string(), value.into_owned())
                    })
                    .collect(),
            },
            None => Lookup::MethodNotAllowed {
                allowed: methods.iter().map(|(m, _)| m.clone()).collect(),
            },
        }
    }
}

/// The full path of a service route: its mount prefix joined with the
/// template it declared (`/items` + `/` = `/items`, + `/{id}` = `/items/{id}`).
pub fn mount(prefix: &str, template: &str) -> String {
    let prefix = prefix.trim_end_matches('/');
    match template {
        "" | "/" if prefix.is_empty() => "/".into(),
        "" | "/" => prefix.into(),
        t => format!("{prefix}{t}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(routes: &[(Method, &str)]) -> Result<RouteTable<usize>, RouteError> {
        let mut builder = RouteTableBuilder::default();
        for (i, (method, path)) in routes.iter().enumerate() {
            builder.add(method.clone(), path.to_string(), i)?;
        }
        builder.build()
    }

    #[test]
    fn a_path_parameter_is_captured() {
        let t = table(&[(Method::GET, "/items"), (Method::GET, "/items/{id}")]).unwrap();
        match t.lookup(&Method::GET, "/items/42") {
            Lookup::Found { target, params } => {
                assert_eq!(*target, 1);
                assert_eq!(params, vec![("id".to_string(), "42".to_string())]);
            }
            other => panic!("expected a match, got {other:?}"),
        }
    }

    #[test]
    fn path_parameters_are_percent_decoded() {
        let t = table(&[(Method::GET, "/hello/{name}")]).unwrap();
        for (path, want) in [
            ("/hello/caf%C3%A9", "café"),
            ("/hello/a%20b+c", "a b+c"),
            ("/hello/a%2Fb", "a/b"),
            ("/hello/%FF", "\u{FFFD}"),
            ("/hello/100%", "100%"),
        ] {
            match t.lookup(&Method::GET, path) {
                Lookup::Found { params, .. } => assert_eq!(params[0].1, want, "{path}"),
                other => panic!("expected a match for {path}, got {other:?}"),
            }
        }
    }

    #[test]
    fn a_known_path_with_another_method_is_not_allowed() {
        let t = table(&[(Method::GET, "/items"), (Method::POST, "/items")]).unwrap();
        match t.lookup(&Method::DELETE, "/items") {
            Lookup::MethodNotAllowed { allowed } => {
                assert_eq!(allowed, vec![Method::GET, Method::POST])
            }
            other => panic!("expected 405, got {other:?}"),
        }
    }

    #[test]
    fn an_unknown_path_is_not_found() {
        let t = table(&[(Method::GET, "/items/{id}")]).unwrap();
        assert!(matches!(t.lookup(&Method::GET, "/items"), Lookup::NotFound));
        assert!(matches!(
            t.lookup(&Method::GET, "/items/1/2"),
            Lookup::NotFound
        ));
        assert!(matches!(t.lookup(&Method::GET, "/other"), Lookup::NotFound));
    }

    #[test]
    fn head_falls_back_to_get() {
        let t = table(&[(Method::GET, "/hello/{name}")]).unwrap();
        assert!(matches!(
            t.lookup(&Method::HEAD, "/hello/x"),
            Lookup::Found { .. }
        ));
    }

    #[test]
    fn a_static_segment_wins_over_a_parameter() {
        let t = table(&[(Method::GET, "/items/{id}"), (Method::GET, "/items/search")]).unwrap();
        assert!(matches!(
            t.lookup(&Method::GET, "/items/search"),
            Lookup::Found { target: 1, .. }
        ));
        assert!(matches!(
            t.lookup(&Method::GET, "/items/7"),
            Lookup::Found { target: 0, .. }
        ));
    }

    #[test]
    fn conflicting_and_duplicate_routes_are_refused() {
        let dup = table(&[(Method::GET, "/items"), (Method::GET, "/items")]).unwrap_err();
        assert!(matches!(dup, RouteError::Duplicate { .. }));
        let conflict =
            table(&[(Method::GET, "/items/{id}"), (Method::PUT, "/items/{name}")]).unwrap_err();
        assert!(
            matches!(conflict, RouteError::Conflict { .. }),
            "{conflict:?}"
        );
    }

    #[test]
    fn templates_mount_under_their_prefix() {
        assert_eq!(mount("/items", "/"), "/items");
        assert_eq!(mount("/items", "/{id}"), "/items/{id}");
        assert_eq!(mount("/", "/"), "/");
        assert_eq!(mount("/", "/x"), "/x");
    }
}
