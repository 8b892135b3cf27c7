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

use crate::helpers::{TestApp, TestConfig, component, json, on_postgres, postgres};

async fn hello_version(app: &TestApp) -> Option<String> {
    let (status, body) = json(app.get("/hello/replica").await).await;
    (status == 200).then(|| body["version"].as_str().unwrap().to_string())
}

async fn wait_for(app: &TestApp, version: &str, within: Duration) -> Duration {
    let started = Instant::now();
    while hello_version(app).await.as_deref() != Some(version) {
        assert!(
            started.elapsed() < within,
            "still not at {version} after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

fn replica_of(first: &TestApp) -> TestConfig {
    TestConfig {
        plugins: vec![],
        database: first.database(),
        ..TestConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_or_rollback_on_one_replica_reaches_the_others() {
    if !on_postgres() {
        return; // Replicas share PostgreSQL; SQLite is one process.
    }
    let first = TestApp::spawn_with(TestConfig {
        plugins: vec!["hello"],
        ..TestConfig::default()
    })
    .await;
    let second = TestApp::spawn_with(replica_of(&first)).await;
    assert_eq!(
        hello_version(&second).await.as_deref(),
        Some("1.0.0"),
        "the second restored v1 from the records"
    );

    assert_eq!(first.deploy("hello", "test/hello-v2").await.status(), 200);
    let took = wait_for(&second, "2.0.0", Duration::from_secs(2)).await;
    println!("deploy on the first replica served by the second after {took:?}");

    let response = second
        .admin(Method::POST, "/services/hello/rollback", None)
        .await;
    assert_eq!(response.status(), 200);
    let took = wait_for(&first, "1.0.0", Duration::from_secs(2)).await;
    println!("rollback on the second replica served by the first after {took:?}");

    let third = TestApp::spawn_with(replica_of(&first)).await;
    assert_eq!(
        hello_version(&third).await.as_deref(),
        Some("1.0.0"),
        "a late replica starts at the current version"
    );

    // Undeploy and tenants travel too.
    assert_eq!(
        third
            .admin(Method::DELETE, "/services/hello", None)
            .await
            .status(),
        204
    );
    let started = Instant::now();
    while hello_version(&first).await.is_some() {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "undeploy did not reach the first replica"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
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
