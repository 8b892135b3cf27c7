//! `GET /admin/[tenants/<t>/]services/<name>/logs?lines=N&follow=true`: a
//! service's live log (see `crate::logs`) as JSON lines
//! (`application/x-ndjson`): the newest `lines` (default 100, at most
//! 1000), then, with `follow`, every new line as it comes, with an empty
//! line every 15 s of quiet (so that a client that left is noticed) and
//! `{"dropped": n}` where a slow reader lost lines. Followers are counted
//! by the token that follows: at most 16 per tenant's operator token and 64
//! on all of them together; the admin is never refused. Only the tenant in
//! the path is ever read.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Extension, Path, Query, State};
use axum::response::Response;
use futures_util::StreamExt;
use futures_util::stream;
use http::{HeaderValue, header};
use tokio::sync::broadcast::error::RecvError;

use super::{Operator, ServicePath};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::logs::Line;
use crate::registry::Invalid;

const LINES_DEFAULT: usize = 100;
const LINES_MAX: usize = 1000;
const HEARTBEAT: Duration = Duration::from_secs(15);
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// What the query asks for.
#[derive(Debug, PartialEq)]
struct Ask {
    lines: usize,
    follow: bool,
}

fn ask(query: &BTreeMap<String, String>) -> Result<Ask, ApiError> {
    let invalid = |field: &str, message: String| {
        ApiError::Validation(vec![Invalid {
            field: field.to_string(),
            location: "query",
            message,
        }])
    };
    let mut ask = Ask {
        lines: LINES_DEFAULT,
        follow: false,
    };
    for (key, value) in query {
        match key.as_str() {
            "lines" => {
                ask.lines = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n <= LINES_MAX)
                    .ok_or_else(|| {
                        invalid(
                            "lines",
                            format!("must be a whole number from 0 to {LINES_MAX}"),
                        )
                    })?;
            }
            "follow" => {
                ask.follow = match value.as_str() {
                    "true" | "1" | "" => true,
                    "false" | "0" => false,
                    _ => return Err(invalid("follow", "must be true or false".into())),
                };
            }
            _ => {
                let key: String = key.chars().take(64).collect();
                return Err(invalid(
                    &key,
                    "is not a parameter of this endpoint (lines, follow)".into(),
                ));
            }
        }
    }
    Ok(ask)
}

pub(super) async fn logs(
    State(state): State<AppState>,
    Extension(operator): Extension<Operator>,
    path: Option<Path<ServicePath>>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Result<Response, ApiError> {
    let target = path.map(|Path(t)| t).unwrap_or_default();
    let tenant = target.tenant(&state)?;
    let name = target.name();
    let ask = ask(&query)?;
    let log = state
        .registry
        .logs()
        .existing(tenant, name)
        .ok_or_else(|| ApiError::UnknownService(name.to_string()))?;
    let body = if ask.follow {
        let permit = state
            .registry
            .logs()
            .follower(match &operator {
                Operator::Admin => None,
                Operator::Tenant(own) => Some(own.as_str()),
            })
            .ok_or(ApiError::Overloaded {
                retry_after: RETRY_AFTER,
            })?;
        let follow = log.follow(ask.lines);
        let closing = state.registry.logs().closing();
        let backlog = stream::once(async move { Ok(lines(&follow.backlog)) });
        let live = stream::unfold(
            (follow.live, permit, closing),
            |(mut live, permit, closing)| async move {
                let next = tokio::select! {
                    () = closing.cancelled() => return None,
                    next = tokio::time::timeout(HEARTBEAT, live.recv()) => next,
                };
                let chunk = match next {
                    Err(_) => Bytes::from_static(b"\n"),
                    Ok(Ok(line)) => lines(&[line]),
                    Ok(Err(RecvError::Lagged(n))) => Bytes::from(format!("{{\"dropped\":{n}}}\n")),
                    Ok(Err(RecvError::Closed)) => return None,
                };
                Some((Ok::<_, Infallible>(chunk), (live, permit, closing)))
            },
        );
        Body::from_stream(backlog.chain(live))
    } else {
        Body::from(lines(&log.recent(ask.lines)))
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson; charset=utf-8"),
    );
    Ok(response)
}

fn lines(lines: &[Arc<Line>]) -> Bytes {
    let mut out = Vec::with_capacity(lines.len() * 160);
    for line in lines {
        if serde_json::to_writer(&mut out, &**line).is_ok() {
            out.push(b'\n');
        }
    }
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_query_is_bounded_and_unknown_keys_are_refused() {
        assert_eq!(
            ask(&query(&[])).unwrap(),
            Ask {
                lines: 100,
                follow: false
            }
        );
        assert_eq!(
            ask(&query(&[("lines", "5"), ("follow", "true")])).unwrap(),
            Ask {
                lines: 5,
                follow: true
            }
        );
        for bad in [
            query(&[("lines", "1001")]),
            query(&[("lines", "-1")]),
            query(&[("lines", "lots")]),
            query(&[("follow", "maybe")]),
            query(&[("tenant", "globex")]),
        ] {
            assert!(matches!(ask(&bad), Err(ApiError::Validation(_))), "{bad:?}");
        }
    }
}
