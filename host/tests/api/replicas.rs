//! Several berth processes sharing one PostgreSQL act as one: a deploy or
//! rollback through any of them reaches all, a late starter comes up with
//! the current state, a database outage is survived, and idle namespaces
//! hold no connections.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use tempfile::TempDir;

use crate::helpers::{
    Server, TestApp, TestConfig, TestDatabase, component, free_port, json, on_postgres, postgres,
};

/// `berth serve` processes sharing one PostgreSQL database.
pub struct Replicas {
    database: Arc<TestDatabase>,
    client: reqwest::Client,
    dirs: Vec<(TempDir, TempDir)>,
}

impl Replicas {
    pub async fn new() -> Replicas {
        Replicas {
            database: TestDatabase::create()
                .await
                .map(Arc::new)
                .expect("on the PostgreSQL pass"),
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
            dirs: Vec::new(),
        }
    }

    /// Starts one more replica; `hello.wasm` in its plugins dir if asked.
    pub async fn start(&mut self, with_hello: bool) -> Server {
        let (data, plugins) = (TempDir::new().unwrap(), TempDir::new().unwrap());
        if with_hello {
            std::fs::write(plugins.path().join("hello.wasm"), component("hello")).unwrap();
        }
        let server = Server::start(
            &data,
            &plugins,
            free_port(),
            &[("BERTH_DATABASE_URL", self.database.url.as_str())],
        );
        server.wait_ready(&self.client).await;
        self.dirs.push((data, plugins));
        server
    }

    pub async fn hello_version(&self, server: &Server) -> Option<String> {
        let response = self
            .client
            .get(format!("{}/hello/replica", server.url))
            .send()
            .await
            .ok()?;
        if response.status() != 200 {
            return None;
        }
        let body: serde_json::Value = response.json().await.ok()?;
        body["version"].as_str().map(str::to_string)
    }

    async fn wait_for(&self, server: &Server, version: Option<&str>, within: Duration) -> Duration {
        let started = Instant::now();
        while self.hello_version(server).await.as_deref() != version {
            assert!(
                started.elapsed() < within,
                "still not at {version:?} after {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        started.elapsed()
    }

    pub async fn admin(
        &self,
        server: &Server,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> reqwest::StatusCode {
        let mut request = self
            .client
            .request(method, format!("{}/admin{path}", server.admin_url))
            .bearer_auth(crate::helpers::ADMIN_TOKEN);
        if let Some(body) = body {
            request = request.body(body);
        }
        request.send().await.unwrap().status()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_or_rollback_on_one_replica_reaches_the_others() {
    if !on_postgres() {
        return; // Replicas share PostgreSQL; SQLite is one process.
    }
    let mut replicas = Replicas::new().await;
    let first = replicas.start(true).await;
    let second = replicas.start(false).await;
    assert_eq!(
        replicas.hello_version(&second).await.as_deref(),
        Some("1.0.0"),
        "the second restored v1 from the records"
    );

    let status = replicas
        .admin(
            &first,
            Method::PUT,
            "/services/hello",
            Some(component("test/hello-v2")),
        )
        .await;
    assert_eq!(status, 200);
    let took = replicas
        .wait_for(&second, Some("2.0.0"), Duration::from_secs(2))
        .await;
    println!("deploy through the first replica served by the second after {took:?}");

    let status = replicas
        .admin(&second, Method::POST, "/services/hello/rollback", None)
        .await;
    assert_eq!(status, 200);
    let took = replicas
        .wait_for(&first, Some("1.0.0"), Duration::from_secs(2))
        .await;
    println!("rollback through the second replica served by the first after {took:?}");

    let third = replicas.start(false).await;
    assert_eq!(
        replicas.hello_version(&third).await.as_deref(),
        Some("1.0.0"),
        "a late replica starts at the current version"
    );

    // Undeploy travels too.
    assert_eq!(
        replicas
            .admin(&third, Method::DELETE, "/services/hello", None)
            .await,
        204
    );
    replicas
        .wait_for(&first, None, Duration::from_secs(2))
        .await;
    replicas
        .wait_for(&second, None, Duration::from_secs(2))
        .await;
    for server in [first, second, third] {
        server.kill();
    }
}

/// A TCP proxy to PostgreSQL that a test can cut and restore: to berth, a
/// database that goes away and comes back.
struct Outage {
    port: u16,
    target: String,
    connections: Arc<std::sync::Mutex<JoinSet<()>>>,
    accept: Option<tokio::task::JoinHandle<()>>,
}

impl Outage {
    async fn new(target: &str) -> Outage {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut outage = Outage {
            port: listener.local_addr().unwrap().port(),
            target: target.to_string(),
            connections: Arc::new(std::sync::Mutex::new(JoinSet::new())),
            accept: None,
        };
        outage.serve(listener);
        outage
    }

    fn serve(&mut self, listener: TcpListener) {
        let (target, connections) = (self.target.clone(), self.connections.clone());
        self.accept = Some(tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                connections.lock().unwrap().spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        }));
    }

    /// The database goes away: connections drop, new ones are refused.
    fn cut(&mut self) {
        if let Some(accept) = self.accept.take() {
            accept.abort();
        }
        self.connections.lock().unwrap().abort_all();
    }

    /// The database is back on the same address.
    async fn restore(&mut self) {
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(listener) => break listener,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        self.serve(listener);
    }
}

/// `url` with its host and port replaced by 127.0.0.1:`port`.
fn through(url: &str, port: u16) -> String {
    let start = url.find("://").unwrap() + 3;
    let rest = &url[start..];
    let host_end = rest.find('/').unwrap_or(rest.len());
    let (userinfo, _) = match rest[..host_end].rfind('@') {
        Some(at) => (&rest[..=at], ()),
        None => ("", ()),
    };
    format!(
        "{}{}127.0.0.1:{port}{}",
        &url[..start],
        userinfo,
        &rest[host_end..]
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_gives_503_and_berth_recovers_by_itself() {
    let Some(server) = postgres() else {
        return; // The outage is PostgreSQL's; SQLite is embedded.
    };
    let target = {
        let start = server.find("://").unwrap() + 3;
        let rest = &server[start..];
        let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
        authority
            .rsplit_once('@')
            .map_or(authority, |(_, hp)| hp)
            .to_string()
    };
    let database = crate::helpers::TestDatabase::create()
        .await
        .map(Arc::new)
        .unwrap();
    let mut outage = Outage::new(&target).await;
    let app = Arc::new(
        TestApp::spawn_with(TestConfig {
            database_url: Some(through(&database.url, outage.port)),
            database: Some(database.clone()),
            ..TestConfig::default()
        })
        .await,
    );

    // Writes acknowledged before the outage.
    let mut acknowledged = Vec::new();
    for i in 0..20 {
        let (status, item) = json(
            app.post_json("/items", &json!({"name": format!("kept {i}"), "price": 1}))
                .await,
        )
        .await;
        assert_eq!(status, 201);
        acknowledged.push(item["id"].as_i64().unwrap());
    }

    outage.cut();
    let started = Instant::now();
    let response = app.get("/items").await;
    let took = started.elapsed();
    assert_eq!(response.status(), 503, "{}", response.text().await.unwrap());
    println!("with the database gone, GET /items answered 503 after {took:?}");
    assert!(
        took < Duration::from_secs(5),
        "503 promptly, not after {took:?}"
    );
    let response = app
        .post_json("/items", &json!({"name": "during", "price": 1}))
        .await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(
        app.get("/readyz").await.status(),
        503,
        "not ready without the database"
    );
    let (status, _) = json(app.get("/hello/still").await).await;
    assert_eq!(status, 200, "services without a database keep serving");

    outage.restore().await;
    let started = Instant::now();
    loop {
        if app.get("/items").await.status() == 200 && app.get("/readyz").await.status() == 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "did not recover by itself"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "recovered {:?} after the database came back",
        started.elapsed()
    );
    for id in acknowledged {
        let (status, _) = json(app.get(&format!("/items/{id}")).await).await;
        assert_eq!(status, 200, "acknowledged item {id} is there");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_idle_deployments_hold_no_database_connections() {
    if !on_postgres() {
        return;
    }
    let app = TestApp::spawn_with(TestConfig {
        plugins: vec![],
        toml: "[tenancy]\nmode = \"header\"".into(),
        ..TestConfig::default()
    })
    .await;
    let items = component("items");
    for i in 0..100 {
        let tenant = format!("t{i}");
        assert_eq!(
            app.admin(Method::PUT, &format!("/tenants/{tenant}"), None)
                .await
                .status(),
            201
        );
        let response = app
            .admin(
                Method::PUT,
                &format!("/tenants/{tenant}/services/items"),
                Some(items.clone()),
            )
            .await;
        assert_eq!(response.status(), 200);
    }
    let database = app.database().unwrap();
    let admin = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&postgres().unwrap())
        .await
        .unwrap();
    let count = |role_filter: &'static str| {
        let (admin, url) = (admin.clone(), database.url.clone());
        async move {
            let name = url
                .rsplit('/')
                .next()
                .unwrap()
                .split('?')
                .next()
                .unwrap()
                .to_string();
            let sql = format!(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND usename LIKE '{role_filter}'"
            );
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
                .bind(name)
                .fetch_one(&admin)
                .await
                .unwrap()
        }
    };
    let namespaces = count("berth\\_%").await;
    let all = count("%").await;
    println!(
        "100 idle tenant x service pairs: {namespaces} namespace connections, {all} connections in all"
    );
    assert_eq!(namespaces, 0, "no namespace holds a connection while idle");
    assert!(all <= 10, "only the host's own pool and listener: {all}");
    admin.close().await;
}

/// A PostgreSQL cluster of the test's own, which it can really stop and
/// start (the shared one serves every other test). Needs the server
/// binaries and root (to run them as `postgres`); otherwise `None`.
struct PrivatePostgres {
    dir: TempDir,
    bin: std::path::PathBuf,
    port: u16,
}

impl PrivatePostgres {
    fn new() -> Option<PrivatePostgres> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .find(|b| b.join("initdb").is_file())?;
        let dir = TempDir::new().ok()?;
        let chown = std::process::Command::new("chown")
            .args(["-R", "postgres"])
            .arg(dir.path())
            .status()
            .ok()?;
        let postgres = PrivatePostgres {
            dir,
            bin,
            port: free_port(),
        };
        let data = postgres.data();
        let initdb = postgres
            .as_postgres(&postgres.bin.join("initdb"))
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(&data)
            .output()
            .ok()?;
        (chown.success() && initdb.status.success()).then_some(postgres)
    }

    fn data(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    fn as_postgres(&self, program: &std::path::Path) -> std::process::Command {
        let mut command = std::process::Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    }

    fn pg_ctl(&self, args: &[&str]) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.path().display()
        );
        let status = self
            .as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.data())
            .args(["-o", &options, "-l"])
            .arg(self.dir.path().join("log"))
            .args(args)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "pg_ctl {args:?} failed");
    }

    fn start(&self) {
        self.pg_ctl(&["-w", "start"]);
    }

    /// Stops the server the hard way, like a crash: committed writes must
    /// come back from its write-ahead log.
    fn stop(&self) {
        self.pg_ctl(&["-w", "-m", "immediate", "stop"]);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self
            .as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "stop"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// Statuses and latencies seen by the load, by phase.
#[derive(Default)]
struct Seen {
    statuses: Vec<(u16, Duration)>,
    acknowledged: Vec<i64>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_postgresql_under_load_gives_503_then_berth_recovers_with_every_write() {
    if !on_postgres() {
        return;
    }
    let Some(postgres) = PrivatePostgres::new() else {
        println!(
            "SKIPPED: cannot run a PostgreSQL of the test's own here (needs its binaries and root)"
        );
        return;
    };
    postgres.start();
    let app = Arc::new(
        TestApp::spawn_with(TestConfig {
            database_url: Some(postgres.url()),
            ..TestConfig::default()
        })
        .await,
    );
    let seen = Arc::new(std::sync::Mutex::new(Seen::default()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = JoinSet::new();
    for worker in 0..4 {
        let (app, seen, stop) = (app.clone(), seen.clone(), stop.clone());
        load.spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let started = Instant::now();
                let response = app
                    .post_json(
                        "/items",
                        &json!({"name": format!("w{worker} n{n}"), "price": 1}),
                    )
                    .await;
                let status = response.status().as_u16();
                let body: serde_json::Value = response.json().await.unwrap_or_default();
                let mut seen = seen.lock().unwrap();
                seen.statuses.push((status, started.elapsed()));
                if status == 201 {
                    seen.acknowledged.push(body["id"].as_i64().unwrap());
                }
            }
        });
    }
    let phase =
        |seen: &Arc<std::sync::Mutex<Seen>>| std::mem::take(&mut seen.lock().unwrap().statuses);

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = phase(&seen);
    assert!(
        !before.is_empty() && before.iter().all(|(s, _)| *s == 201),
        "all writes succeed first"
    );

    postgres.stop();
    tokio::time::sleep(Duration::from_millis(3000)).await;
    assert_eq!(
        app.get("/readyz").await.status(),
        503,
        "not ready without the database"
    );
    assert_eq!(
        app.get("/hello/still").await.status(),
        200,
        "services without a database keep serving"
    );
    let during = phase(&seen);
    let refused: Vec<&(u16, Duration)> = during.iter().filter(|(s, _)| *s == 503).collect();
    assert!(
        !refused.is_empty(),
        "the outage is answered with 503: {during:?}"
    );
    assert!(
        during.iter().all(|(s, _)| *s == 503 || *s == 201),
        "only 503 (or a write that made it): {during:?}"
    );
    let slowest = refused.iter().map(|(_, d)| *d).max().unwrap();
    println!(
        "with PostgreSQL stopped: {} requests answered 503, the slowest after {slowest:?}",
        refused.len()
    );
    assert!(
        slowest < Duration::from_secs(5),
        "503 promptly, not after {slowest:?}"
    );

    postgres.start();
    let restarted = Instant::now();
    loop {
        let recovered = seen
            .lock()
            .unwrap()
            .statuses
            .iter()
            .rev()
            .take(8)
            .filter(|(s, _)| *s == 201)
            .count()
            == 8;
        if recovered && app.get("/readyz").await.status() == 200 {
            break;
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(20),
            "did not recover by itself"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "writes succeed again {:?} after PostgreSQL came back",
        restarted.elapsed()
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    while load.join_next().await.is_some() {}

    let acknowledged = std::mem::take(&mut seen.lock().unwrap().acknowledged);
    for id in &acknowledged {
        let (status, _) = json(app.get(&format!("/items/{id}")).await).await;
        assert_eq!(status, 200, "acknowledged item {id} survived the stop");
    }
    println!("all {} acknowledged writes are there", acknowledged.len());
}
