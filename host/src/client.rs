//! The operator's side of the admin API: `berth deploy`, `services`,
//! `rollback`, `undeploy`, `history`, `logs`. Each call prints a short
//! report (or, for `logs --follow`, lines as they come) or fails with the
//! server's own explanation.

use std::path::Path;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::cli::AdminArgs;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no admin token: pass --token or set BERTH_ADMIN_TOKEN")]
    NoToken,
    #[error("cannot read {path}: {source}")]
    ReadFile {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot reach berth at {url}: {message}")]
    Unreachable { url: String, message: String },
    #[error("the admin token was refused")]
    Unauthorized,
    #[error("{url} has no admin API (is BERTH_ADMIN_TOKEN set on the server?)")]
    NoAdminApi { url: String },
    #[error("{status}: {message}")]
    Refused { status: StatusCode, message: String },
    #[error("unexpected answer: {0}")]
    Protocol(String),
}

pub struct AdminClient {
    base: String,
    token: String,
    /// `/tenants/<t>` when acting on a tenant other than the default.
    scope: String,
    http: reqwest::Client,
}

impl AdminClient {
    pub fn new(args: &AdminArgs) -> Result<AdminClient, ClientError> {
        let token = args
            .token
            .clone()
            .filter(|t| !t.is_empty())
            .ok_or(ClientError::NoToken)?;
        // A fresh connection per call: the server closes idle ones (its
        // header timeout), and a call such as `berth dev`'s next deploy
        // must not land on one it is closing.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(300))
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        Ok(AdminClient {
            base: args.url.trim_end_matches('/').to_string(),
            token,
            scope: args
                .tenant
                .as_ref()
                .map(|t| format!("/tenants/{t}"))
                .unwrap_or_default(),
            http,
        })
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Option<Value>, ClientError> {
        let mut request = self.request(&self.http, method, path);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/wasm")
                .body(body);
        }
        let response = self.send(request).await?;
        let text = response.text().await.unwrap_or_default();
        Ok(serde_json::from_str(&text).ok())
    }

    fn request(
        &self,
        http: &reqwest::Client,
        method: Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        let url = format!("{}/admin{}{path}", self.base, self.scope);
        http.request(method, &url).bearer_auth(&self.token)
    }

    /// Sends `request`; a refusal becomes the server's explanation.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ClientError> {
        let response = request.send().await.map_err(|e| ClientError::Unreachable {
            url: self.base.clone(),
            message: e.to_string(),
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let text = response.text().await.unwrap_or_default();
        let json: Option<Value> = serde_json::from_str(&text).ok();
        let message = json
            .as_ref()
            .and_then(|j| j["error"]["message"].as_str())
            .map(str::to_string);
        Err(match (status, message) {
            (StatusCode::UNAUTHORIZED, _) => ClientError::Unauthorized,
            (StatusCode::NOT_FOUND, Some(m)) if m.starts_with("no route matches /admin") => {
                ClientError::NoAdminApi {
                    url: self.base.clone(),
                }
            }
            (status, Some(message)) => ClientError::Refused { status, message },
            (status, None) => ClientError::Refused {
                status,
                message: text,
            },
        })
    }

    /// Deploys `file`; as a canary when `canary` (the admin API's query
    /// keys) is not empty.
    pub async fn deploy(
        &self,
        file: &Path,
        name: Option<&str>,
        canary: &[(&str, String)],
    ) -> Result<String, ClientError> {
        let bytes = std::fs::read(file).map_err(|source| ClientError::ReadFile {
            path: file.display().to_string(),
            source,
        })?;
        let name = match name {
            Some(name) => name.to_string(),
            None => file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .ok_or_else(|| ClientError::Protocol("the file has no name; pass --name".into()))?,
        };
        let mut path = format!("/services/{name}");
        if !canary.is_empty() {
            path.push('?');
            path.push_str(
                &form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(canary)
                    .finish(),
            );
        }
        let body = self.call(Method::PUT, &path, Some(bytes)).await?;
        Ok(report(body))
    }

    pub async fn promote(&self, name: &str) -> Result<String, ClientError> {
        let body = self
            .call(Method::POST, &format!("/services/{name}/promote"), None)
            .await?;
        Ok(report(body))
    }

    pub async fn abort(&self, name: &str) -> Result<String, ClientError> {
        let body = self
            .call(Method::POST, &format!("/services/{name}/abort"), None)
            .await?;
        Ok(report(body))
    }

    pub async fn rollback(&self, name: &str) -> Result<String, ClientError> {
        let body = self
            .call(Method::POST, &format!("/services/{name}/rollback"), None)
            .await?;
        Ok(report(body))
    }

    pub async fn undeploy(&self, name: &str) -> Result<String, ClientError> {
        self.call(Method::DELETE, &format!("/services/{name}"), None)
            .await?;
        Ok(format!("undeployed {name}"))
    }

    pub async fn services(&self) -> Result<String, ClientError> {
        let body = self
            .call(Method::GET, "/services", None)
            .await?
            .unwrap_or_default();
        let mut lines = vec![format!(
            "{:<24} {:<8} {:<12} {:<14} {:>6} {:>7} {}",
            "SERVICE", "STATE", "VERSION", "DIGEST", "WEIGHT", "5XX", "LAST ERROR"
        )];
        for service in body["services"].as_array().into_iter().flatten() {
            let text = |key: &str| service[key].as_str().unwrap_or("-").to_string();
            let error = service["last_error"]["message"].as_str().unwrap_or("-");
            lines.push(service_line(
                &text("name"),
                &text("state"),
                service,
                error.lines().next().unwrap_or("-"),
            ));
            let canary = &service["canary"];
            if canary.is_object() {
                lines.push(service_line("", "canary", canary, "-"));
            }
        }
        Ok(lines.join("\n"))
    }

    pub async fn history(&self, name: &str) -> Result<String, ClientError> {
        let body = self
            .call(Method::GET, &format!("/services/{name}/history"), None)
            .await?
            .unwrap_or_default();
        let mut lines = vec![format!(
            "{:<6} {:<10} {:<12} {:<14} {:<26} {:<10} {}",
            "ID", "STATE", "VERSION", "DIGEST", "AT", "SOURCE", "NOTE"
        )];
        for entry in body["history"].as_array().into_iter().flatten() {
            let text = |key: &str| match &entry[key] {
                Value::String(s) if !s.is_empty() => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => "-".to_string(),
            };
            let digest: String = text("digest").chars().take(12).collect();
            lines.push(format!(
                "{:<6} {:<10} {:<12} {:<14} {:<26} {:<10} {}",
                text("id"),
                text("state"),
                text("version"),
                digest,
                text("created_at"),
                text("source"),
                text("note")
            ));
        }
        Ok(lines.join("\n"))
    }

    /// Prints the newest `lines` lines of a service's live log and, with
    /// `follow`, every new one until the server or the user stops.
    pub async fn logs(&self, name: &str, lines: u32, follow: bool) -> Result<String, ClientError> {
        use std::io::Write as _;
        // No overall timeout for a stream: the server sends an empty line
        // every 15 s of quiet, so a minute of silence means it is gone.
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        let path = format!("/services/{name}/logs?lines={lines}&follow={follow}");
        let mut response = self.send(self.request(&http, Method::GET, &path)).await?;
        let mut pending = Vec::new();
        let mut stdout = std::io::stdout().lock();
        loop {
            let chunk = response
                .chunk()
                .await
                .map_err(|e| ClientError::Protocol(format!("the log stream broke: {e}")))?;
            let Some(chunk) = chunk else { break };
            pending.extend_from_slice(&chunk);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                if let Ok(entry) = serde_json::from_slice::<Value>(&line) {
                    // A closed stdout (`| head`) ends the command quietly.
                    if writeln!(stdout, "{}", log_line(&entry)).is_err() {
                        return Ok(String::new());
                    }
                }
            }
            let _ = stdout.flush();
        }
        Ok(String::new())
    }
}

/// One line of `berth logs`: time, level, origin, message, fields and the
/// request id.
fn log_line(entry: &Value) -> String {
    if let Some(dropped) = entry["dropped"].as_u64() {
        return format!("… {dropped} lines dropped (this reader was too slow)");
    }
    let text = |key: &str| entry[key].as_str().unwrap_or_default();
    let mut line = format!(
        "{} {:<5} {:<7} {}",
        text("time"),
        text("level").to_uppercase(),
        text("origin"),
        text("message")
    );
    for (key, prefix) in [("fields", "  "), ("request_id", "  request_id=")] {
        if !text(key).is_empty() {
            line.push_str(prefix);
            line.push_str(text(key));
        }
    }
    // The lines quote services and clients: nothing they wrote may steer
    // the operator's terminal.
    line.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

/// One line of `berth services`: a version with its weight and, while a
/// canary runs, its 5xx rate over the window.
fn service_line(name: &str, state: &str, version: &Value, error: &str) -> String {
    let text = |key: &str| version[key].as_str().unwrap_or("-").to_string();
    let digest: String = text("digest").chars().take(12).collect();
    let weight = version["weight"]
        .as_u64()
        .map_or("-".into(), |w| format!("{w}%"));
    let rate = version["window"]["error_rate"]
        .as_f64()
        .map_or("-".into(), |r| format!("{:.1}%", r * 100.0));
    format!(
        "{name:<24} {state:<8} {:<12} {digest:<14} {weight:>6} {rate:>7} {error}",
        text("version")
    )
}

fn report(body: Option<Value>) -> String {
    let body = body.unwrap_or_default();
    let (deployed, what) = match ["deployed", "canary", "promoted", "aborted"]
        .into_iter()
        .find(|key| body[*key].is_object())
    {
        Some("canary") => (&body["canary"], format!("a {}% canary", body["weight"])),
        Some("promoted") => (&body["promoted"], "promoted: it is live".to_string()),
        Some("aborted") => (
            &body["aborted"],
            "aborted: the live version takes every request".to_string(),
        ),
        Some(key) => (&body[key], "live".to_string()),
        None => (&Value::Null, "live".to_string()),
    };
    let text = |key: &str| deployed[key].as_str().unwrap_or("?").to_string();
    let digest: String = text("digest").chars().take(12).collect();
    format!(
        "{} {} is {what} (digest {digest})",
        text("name"),
        text("version")
    )
}
