//! Spawning berth for a test: its own data dir, its own plugins dir holding
//! the components the test asks for, port 0, a real HTTP client.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::Once;
use std::time::{Duration, Instant};

use berth::Application;
use berth::config::{Layer, LimitsLayer, RuntimeLayer};
use reqwest::{Client, Response};
use serde_json::Value;
use tempfile::TempDir;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The directory `cargo xtask plugins` builds components into.
pub fn built_plugins() -> PathBuf {
    let dir = std::env::var_os("BERTH_TEST_COMPONENTS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/components"),
        PathBuf::from,
    );
    assert!(
        dir.join("examples/items.wasm").is_file(),
        "no built plugins in {}: run the tests with `cargo xtask test` (or build them with `cargo xtask plugins`)",
        dir.display()
    );
    dir
}

/// The bytes of a built component: `items`, `hello`, or a test one such as
/// `test/hostile`.
pub fn component(name: &str) -> Vec<u8> {
    let path = match name.strip_prefix("test/") {
        Some(test) => built_plugins().join("test").join(format!("{test}.wasm")),
        None => built_plugins()
            .join("examples")
            .join(format!("{name}.wasm")),
    };
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The component `name` grown by `extra` bytes of a custom section: it does
/// the same, but its digest differs (a new version to the host).
pub fn padded(name: &str, extra: usize) -> Vec<u8> {
    fn leb128(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let section = b"berth-test-padding";
    let mut payload = Vec::new();
    leb128(section.len(), &mut payload);
    payload.extend_from_slice(section);
    payload.resize(payload.len() + extra, 0xab);
    let mut bytes = component(name);
    bytes.push(0); // a custom section
    leb128(payload.len(), &mut bytes);
    bytes.extend_from_slice(&payload);
    bytes
}

/// The compile cache the test instances share (entries are keyed by
/// component digest and engine fingerprint, and written atomically).
fn shared_cache() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("compile-cache")
}

fn init_tracing() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        if let Ok(filter) = std::env::var("TEST_LOG") {
            // The guard lives as long as the test process.
            if let Ok(guard) = berth::telemetry::init(&filter, berth::config::LogFormat::Text) {
                std::mem::forget(guard);
            }
        }
    });
}

/// The admin token every test instance is started with.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// The data and plugins dirs of an instance.
pub struct Dirs {
    pub data: TempDir,
    pub plugins: TempDir,
    /// The instance's own PostgreSQL database, on the PostgreSQL pass.
    pub database: Option<Arc<TestDatabase>>,
}

/// How to start a test instance.
pub struct TestConfig {
    /// Components to put in the plugins dir, by `component` name.
    pub plugins: Vec<&'static str>,
    /// Extra files to put in the plugins dir: (file name, bytes).
    pub files: Vec<(String, Vec<u8>)>,
    /// A berth.toml layered under the test's own settings.
    pub toml: String,
    /// The directories of a stopped instance, to restart on the same data
    /// and plugins dir (the components listed above are added to it).
    pub restart: Option<Dirs>,
    /// The admin token, `None` for no admin API.
    pub admin_token: Option<&'static str>,
    /// A PostgreSQL database shared with other instances (replicas).
    pub database: Option<Arc<TestDatabase>>,
    /// Reach the database through this URL instead (a proxy, say).
    pub database_url: Option<String>,
}

impl Default for TestConfig {
    fn default() -> Self {
        TestConfig {
            plugins: vec!["items", "hello"],
            files: Vec::new(),
            toml: String::new(),
            restart: None,
            admin_token: Some(ADMIN_TOKEN),
            database: None,
            database_url: None,
        }
    }
}

pub struct TestApp {
    pub address: std::net::SocketAddr,
    /// The operator's listener: the admin API, `/console`, `/metrics`.
    pub admin_address: std::net::SocketAddr,
    pub client: Client,
    pub app_loaded: berth::registry::LoadSummary,
    data_dir: TempDir,
    plugins_dir: TempDir,
    database: Option<Arc<TestDatabase>>,
    shutdown: CancellationToken,
    server: JoinHandle<anyhow::Result<()>>,
}

impl TestApp {
    /// berth with `items` and `hello`.
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(TestConfig::default()).await
    }

    pub async fn spawn_with(config: TestConfig) -> TestApp {
        init_tracing();
        let dirs = match config.restart {
            Some(dirs) => dirs,
            None => Dirs {
                data: TempDir::new().unwrap(),
                plugins: TempDir::new().unwrap(),
                database: match (config.database, &config.database_url) {
                    (Some(shared), _) => Some(shared),
                    // A database of the test's own choosing.
                    (None, Some(_)) => None,
                    (None, None) => TestDatabase::create().await.map(Arc::new),
                },
            },
        };
        let Dirs {
            data: data_dir,
            plugins: plugins_dir,
            database,
        } = dirs;
        for name in &config.plugins {
            let file = Path::new(name)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            std::fs::write(
                plugins_dir.path().join(format!("{file}.wasm")),
                component(name),
            )
            .unwrap();
        }
        for (file, bytes) in &config.files {
            std::fs::write(plugins_dir.path().join(file), bytes).unwrap();
        }
        let file = Layer::from_toml(&config.toml).expect("the test's berth.toml parses");
        let ours = Layer {
            listen: Some("127.0.0.1:0".into()),
            admin_listen: Some("127.0.0.1:0".into()),
            admin_token: config.admin_token.map(Into::into),
            data_dir: Some(data_dir.path().to_path_buf()),
            plugins_dir: Some(plugins_dir.path().to_path_buf()),
            database_url: config
                .database_url
                .clone()
                .or_else(|| database.as_ref().map(|db| db.url.clone())),
            runtime: RuntimeLayer {
                pooling: None,
                max_instances: Some(64),
                deadlines: None,
                // One cache for every test instance: the Python and
                // JavaScript components take seconds to compile.
                cache_dir: Some(shared_cache()),
                ..RuntimeLayer::default()
            },
            limits: LimitsLayer::default(),
            ..Layer::default()
        };
        let settings = ours
            .overlay(file)
            .resolve()
            .expect("test settings are valid");
        let app = Application::build(settings).await.expect("berth starts");
        let address = app.address();
        let admin_address = app.admin_address();
        let app_loaded = app.loaded().clone();
        let shutdown = app.shutdown_token();
        let server = tokio::spawn(app.run_until_stopped());
        let client = Client::builder().no_proxy().build().unwrap();
        TestApp {
            address,
            admin_address,
            client,
            app_loaded,
            data_dir,
            plugins_dir,
            database,
            shutdown,
            server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.address, path)
    }

    /// `GET` on the operator's listener, with no token.
    pub async fn admin_get(&self, path: &str) -> Response {
        self.client
            .get(self.admin_url(path))
            .send()
            .await
            .expect("the operator's listener answers")
    }

    /// A URL of the operator's listener.
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{}", self.admin_address, path)
    }

    /// `/metrics`, from the operator's listener, with the admin token.
    pub async fn metrics(&self) -> String {
        self.client
            .get(self.admin_url("/metrics"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("/metrics answers")
            .text()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("GET is answered")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("POST is answered")
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Response {
        let mut request = self.client.request(method, self.url(path));
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("the request is answered")
    }

    pub fn plugins_dir(&self) -> &Path {
        self.plugins_dir.path()
    }

    /// Drops a file into the plugins dir the documented way: written
    /// elsewhere, then renamed into place.
    pub fn drop_plugin(&self, file: &str, bytes: &[u8]) {
        let temp = self.plugins_dir.path().join(format!("{file}.partial"));
        std::fs::write(&temp, bytes).unwrap();
        std::fs::rename(&temp, self.plugins_dir.path().join(file)).unwrap();
    }

    /// Calls the admin API with the right token.
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Response {
        let mut request = self
            .client
            .request(method, self.admin_url(&format!("/admin{path}")))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(body) = body {
            request = request.body(body);
        }
        request.send().await.expect("the admin API answers")
    }

    /// Deploys a built component under `name` for `tenant`.
    pub async fn deploy_to(&self, tenant: &str, name: &str, component_name: &str) -> Response {
        let path = format!("/tenants/{tenant}/services/{name}");
        self.admin(reqwest::Method::PUT, &path, Some(component(component_name)))
            .await
    }

    /// Deploys a built component under `name` through the admin API.
    pub async fn deploy(&self, name: &str, component_name: &str) -> Response {
        self.admin(
            reqwest::Method::PUT,
            &format!("/services/{name}"),
            Some(component(component_name)),
        )
        .await
    }

    /// The admin API's view of one service.
    pub async fn service(&self, name: &str) -> Value {
        let (_, body) = json(self.admin(reqwest::Method::GET, "/services", None).await).await;
        body["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .cloned()
            .unwrap_or(Value::Null)
    }

    /// The instance's PostgreSQL database, to share with replicas.
    pub fn database(&self) -> Option<Arc<TestDatabase>> {
        self.database.clone()
    }

    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// Stops the server and hands back its directories for a restart.
    pub async fn stop(self) -> Dirs {
        self.shutdown.cancel();
        self.server
            .await
            .expect("the server task ends")
            .expect("the server stops cleanly");
        Dirs {
            data: self.data_dir,
            plugins: self.plugins_dir,
            database: self.database,
        }
    }
}

/// The JSON body of a response, with its status.
pub async fn json(response: Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, body)
}

/// Asserts the standard error body and returns it.
pub async fn error(response: Response, status: u16, code: &str) -> Value {
    let request_id = response
        .headers()
        .get("x-request-id")
        .expect("every response has a request id")
        .to_str()
        .unwrap()
        .to_string();
    let (actual, body) = json(response).await;
    assert_eq!(actual, status, "unexpected status; body: {body}");
    let error = &body["error"];
    assert_eq!(error["code"], code, "unexpected code; body: {body}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "no message: {body}"
    );
    assert_eq!(
        error["request_id"],
        request_id.as_str(),
        "request id differs: {body}"
    );
    body
}

/// A `berth serve` child process.
pub struct Server {
    pub url: String,
    /// Its operator's listener.
    pub admin_url: String,
    child: Child,
}

impl Server {
    pub fn start(data: &TempDir, plugins: &TempDir, port: u16, env: &[(&str, &str)]) -> Server {
        let mut all = vec![
            ("BERTH_DATA_DIR", data.path().to_str().unwrap()),
            ("BERTH_PLUGINS_DIR", plugins.path().to_str().unwrap()),
            ("BERTH_ADMIN_TOKEN", ADMIN_TOKEN),
            ("BERTH_MAX_INSTANCES", "32"),
        ];
        all.extend_from_slice(env);
        Server::start_in(data.path(), port, &all)
    }

    /// `berth serve` run from `cwd` with its defaults but for `env`: the
    /// data and plugins dirs are the relative `./berth-data` and
    /// `./berth-data/plugins` unless `env` says otherwise.
    pub fn start_in(cwd: &Path, port: u16, env: &[(&str, &str)]) -> Server {
        let admin_port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_berth"))
            .arg("serve")
            .current_dir(cwd)
            .env("BERTH_LISTEN", format!("127.0.0.1:{port}"))
            .env("BERTH_ADMIN_LISTEN", format!("127.0.0.1:{admin_port}"))
            .env("BERTH_LOG", "warn")
            .env_remove("BERTH_DATA_DIR")
            .env_remove("BERTH_PLUGINS_DIR")
            .env_remove("BERTH_DATABASE_URL")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
            admin_url: format!("http://127.0.0.1:{admin_port}"),
        }
    }

    pub async fn wait_ready(&self, client: &reqwest::Client) {
        let started = Instant::now();
        while !client
            .get(format!("{}/readyz", self.url))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "berth did not start"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The server's resident memory, in bytes (Linux).
    pub fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap();
        kb * 1024
    }

    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Sends SIGTERM and waits for the process to exit; its exit status.
    pub fn terminate(mut self, within: Duration) -> std::process::ExitStatus {
        let pid = i32::try_from(self.child.id()).unwrap();
        // SAFETY: a plain signal to our own child process.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                started.elapsed() < within,
                "berth did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The PostgreSQL server of the PostgreSQL test pass, if this is that pass.
pub fn postgres() -> Option<String> {
    std::env::var("BERTH_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// Whether the tests run on PostgreSQL.
pub fn on_postgres() -> bool {
    postgres().is_some()
}

/// A database of its own for one test instance, dropped (with the roles
/// berth made for it) when the test ends.
pub struct TestDatabase {
    pub url: String,
    name: String,
    admin: String,
}

impl TestDatabase {
    /// On the PostgreSQL pass, a fresh database; otherwise none.
    pub async fn create() -> Option<TestDatabase> {
        use sqlx::Connection as _;
        let admin = postgres()?;
        let name = format!(
            "berth_t_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..16]
        );
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .expect("the test PostgreSQL answers");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await
            .expect("a test database can be created");
        let _ = conn.close().await;
        Some(TestDatabase {
            url: with_database(&admin, &name),
            name,
            admin,
        })
    }
}

/// `url` pointing at `database` instead.
fn with_database(url: &str, database: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let (base, query) = match url[start..].find('/') {
        Some(slash) => {
            let rest = &url[start + slash..];
            let query = rest.find('?').map_or("", |q| &rest[q..]);
            (&url[..start + slash], query)
        }
        None => (url, ""),
    };
    format!("{base}/{database}{query}")
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Drop runs inside the test's runtime: clean up on a thread of its own.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .connect(&admin)
                    .await?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                )))
                .execute(&pool)
                .await?;
                berth::capabilities::database::postgres::drop_roles(&pool, &name).await?;
                pool.close().await;
                anyhow::Ok(())
            })
        });
        if let Ok(Err(error)) = cleanup.join() {
            eprintln!("cannot drop test database {}: {error:#}", self.name);
        }
    }
}

/// Sends `body` (`{"sql", "params", "execute"}`) to a hostile service's
/// `/hostile/sql`, as `tenant` (header tenancy) or the default tenant.
pub async fn hostile_sql(app: &TestApp, tenant: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = app.client.post(app.url("/hostile/sql")).json(&body);
    if let Some(tenant) = tenant {
        request = request.header("x-berth-tenant", tenant);
    }
    json(request.send().await.expect("the host answers")).await
}

/// The `db_error` of a refused statement, asserting it was refused as `kind`.
pub fn refused_as(body: &Value, kind: &str) -> String {
    let error = body["db_error"]
        .as_str()
        .unwrap_or_else(|| panic!("not refused: {body}"))
        .to_string();
    assert!(error.contains(kind), "expected {kind}: {error}");
    error
}

/// A tiny HTTP server on 127.0.0.1 for outbound calls: `GET /ping` answers
/// `pong` with `status`, and counts the calls it got.
pub struct PingServer {
    pub address: std::net::SocketAddr,
    hits: Arc<std::sync::atomic::AtomicUsize>,
}

impl PingServer {
    pub async fn start(status: u16) -> PingServer {
        let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let counted = hits.clone();
        let status = axum::http::StatusCode::from_u16(status).unwrap();
        let router = axum::Router::new().route(
            "/ping",
            axum::routing::get(move || {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async move { (status, "pong") }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        PingServer { address, hits }
    }

    /// The calls it got so far.
    pub fn hits(&self) -> usize {
        self.hits.load(std::sync::atomic::Ordering::SeqCst)
    }
}
