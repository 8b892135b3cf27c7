//! The application: settings in, a bound listener and everything behind it
//! out. Tests build it on `127.0.0.1:0` and read the bound address back.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use std::str::FromStr as _;

use sqlx::postgres::PgConnectOptions;

use crate::capabilities::database::Namespaces;
use crate::capabilities::database::postgres::Provisioner;
use crate::capabilities::database::sqlite::{self, SqliteStore};
use crate::config::tenancy::Tenancy;
use crate::config::{AdminListen, Settings};
use crate::db::{HostDb, HostPool};
use crate::http::{self, AppState, ClearSiteData, Plane};
use crate::registry::{self, ArtifactStore, LoadSummary, Registry, RegistryParts};
use crate::runtime::{Runtime, RuntimeOptions};

pub struct Application {
    listener: TcpListener,
    address: SocketAddr,
    /// The operator's own listener; `None` when the plane shares the
    /// public one.
    admin_listener: Option<TcpListener>,
    admin_address: SocketAddr,
    registry: Arc<Registry>,
    host_db: HostDb,
    namespaces: Arc<Namespaces>,
    plane: Plane,
    tenancy: Tenancy,
    preview: bool,
    max_body_bytes: usize,
    clients: http::server::ClientLimits,
    shutdown: CancellationToken,
    loaded: LoadSummary,
}

impl Application {
    /// Prepares directories and databases, loads the plugins directory and
    /// binds the listener. Fails with a message naming what is wrong.
    pub async fn build(mut settings: Settings) -> anyhow::Result<Application> {
        settings.plugins_dir = prepare_dirs(&settings)?;
        sqlite::limit_heap(settings.sqlite_heap_bytes);
        crate::telemetry::metrics::handle();
        let host_db = HostDb::connect(&settings.database_url).await?;
        let runtime = Arc::new(Runtime::new(RuntimeOptions {
            pooling: settings.pooling,
            max_instances: settings.max_instances,
            max_warm: settings.max_warm_instances,
            tenant_max_warm: settings.tenant_max_warm_instances,
            memory_bytes: settings.policy.max_memory_bytes(),
            cache_dir: Some(settings.cache_dir.clone()),
            deadlines: settings.deadlines,
        })?);
        let namespaces = Arc::new(match host_db.pool() {
            HostPool::Sqlite(_) => {
                Namespaces::new(SqliteStore::new(settings.data_dir.join("services")))
            }
            HostPool::Postgres(_) => {
                let options = PgConnectOptions::from_str(&settings.database_url)?;
                Namespaces::new(Provisioner::new(&host_db, options).await?)
            }
        });
        let artifacts = ArtifactStore::open(settings.data_dir.join("artifacts"), host_db.clone())?;
        let registry = Arc::new(Registry::new(RegistryParts {
            runtime,
            host_db: host_db.clone(),
            artifacts,
            namespaces: namespaces.clone(),
            policy: settings.policy.clone(),
        }));
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        let address = listener.local_addr()?;
        let admin_listener = match settings.admin_listen {
            AdminListen::Own(at) => Some(TcpListener::bind(at).await.with_context(|| {
                format!("cannot listen on {at} for the operator's plane (BERTH_ADMIN_LISTEN)")
            })?),
            AdminListen::Shared => None,
        };
        let admin_address = match &admin_listener {
            Some(listener) => listener.local_addr()?,
            None => address,
        };
        let shutdown = CancellationToken::new();
        let loaded = registry
            .load(&settings.plugins_dir)
            .await
            .with_context(|| {
                format!(
                    "cannot read the plugins dir {}",
                    settings.plugins_dir.display()
                )
            })?;
        registry::watch(
            registry.clone(),
            &settings.plugins_dir,
            shutdown.child_token(),
        )?;
        registry::follow_replicas(registry.clone(), shutdown.child_token());
        registry::judge_canaries(registry.clone(), shutdown.child_token());
        // Followed logs end when the host stops, not at the drain's end.
        let (closing, logs_of) = (shutdown.child_token(), registry.clone());
        tokio::spawn(async move {
            closing.cancelled().await;
            logs_of.logs().close();
        });

        if admin_listener.is_none() {
            tracing::warn!(
                "the operator's plane (admin API, /console, /metrics) shares the public listener, and so one origin with every service's pages and scripts: keep this to deployments whose services are all trusted"
            );
        }
        tracing::info!(
            %address, %admin_address, restored = ?loaded.restored, deployed = ?loaded.deployed,
            refused = loaded.refused.len(), admin_api = settings.admin_token.is_some(),
            pooling = registry.runtime().pooling(), "berth is listening"
        );
        let plane = Plane {
            admin_token: settings.admin_token.clone(),
            tenant_tokens: settings.policy.operator_tokens(),
            max_component_bytes: settings.max_component_bytes,
            hosts: settings.admin_hosts.clone(),
        };
        Ok(Application {
            listener,
            address,
            admin_listener,
            admin_address,
            registry,
            host_db,
            namespaces,
            plane,
            tenancy: settings.tenancy.clone(),
            preview: settings.preview_header,
            max_body_bytes: settings.max_body_bytes,
            clients: settings.clients,
            shutdown,
            loaded,
        })
    }

    /// The public listener's address: services, `/docs`, the probes.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Where the operator's plane is served: its own listener's address,
    /// or the public one when they are shared.
    pub fn admin_address(&self) -> SocketAddr {
        self.admin_address
    }

    pub fn registry(&self) -> Arc<Registry> {
        self.registry.clone()
    }

    /// What loading the plugins directory at start did.
    pub fn loaded(&self) -> &LoadSummary {
        &self.loaded
    }

    /// Cancel it to stop the server gracefully.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves until the shutdown token is cancelled, then closes the
    /// databases.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let state = AppState {
            registry: self.registry.clone(),
            host_db: self.host_db.clone(),
            tenancy: self.tenancy.clone(),
            max_body_bytes: self.max_body_bytes,
            body_timeout: self.clients.body_timeout,
            body_budget: AppState::body_budget(self.clients.max_buffered_body_bytes),
            preview: self.preview,
            clear_site_data: ClearSiteData::of(&self.tenancy, self.admin_listener.is_none()),
        };
        match self.admin_listener {
            // Each listener has connection limits of its own: no flood of
            // the services' clients keeps the operator out.
            Some(admin_listener) => {
                let admin = self.plane.own_router(state.clone());
                let public = http::router(state, None);
                tokio::join!(
                    http::server::serve(self.listener, public, self.clients, self.shutdown.clone()),
                    http::server::serve(admin_listener, admin, self.clients, self.shutdown.clone()),
                );
            }
            None => {
                let public = http::router(state, Some(&self.plane));
                http::server::serve(self.listener, public, self.clients, self.shutdown.clone())
                    .await;
            }
        }
        self.namespaces.close().await;
        self.host_db.close().await;
        tracing::info!("berth stopped");
        Ok(())
    }
}

/// Creates the data dir (and the plugins dir inside it), and returns the
/// plugins dir as an absolute path: the watcher reports absolute paths,
/// and a file is known by one name whatever the working directory.
fn prepare_dirs(settings: &Settings) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("cannot create the data dir {}", settings.data_dir.display()))?;
    let plugins = &settings.plugins_dir;
    if !plugins.exists() && plugins.starts_with(&settings.data_dir) {
        std::fs::create_dir_all(plugins)
            .with_context(|| format!("cannot create the plugins dir {}", plugins.display()))?;
    }
    check_readable_dir(plugins)?;
    std::fs::canonicalize(plugins)
        .with_context(|| format!("cannot resolve the plugins dir {}", plugins.display()))
}

fn check_readable_dir(dir: &Path) -> anyhow::Result<()> {
    let metadata = std::fs::metadata(dir)
        .with_context(|| format!("the plugins dir {} is not accessible", dir.display()))?;
    anyhow::ensure!(
        metadata.is_dir(),
        "the plugins dir {} is not a directory",
        dir.display()
    );
    std::fs::read_dir(dir)
        .with_context(|| format!("the plugins dir {} is not readable", dir.display()))?;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
