//! A service's store: the data of one `Store`, composed of the per-request
//! contexts of each capability (one store per request, or per instance when
//! its deployment reuses instances), built from the
//! deployment's [`Grants`]; the view impls wasmtime's WASI and `wasi:http`
//! work through; and the linker that puts every capability in.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Engine, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtxView, WasiHttpView};

use crate::capabilities::database::{DatabaseCtx, DatabaseView, Namespace, ResultLimits};
use crate::capabilities::log::LogCtx;
use crate::capabilities::outbound::{AllowList, OutboundCtx};
use crate::capabilities::settings::SettingsCtx;
use crate::capabilities::{database, log, outbound, settings, wasi};
use crate::logs::ServiceLog;

/// Host resources (streams, pollables, `wasi:http` header maps, open
/// transactions) one request may hold at once.
pub const MAX_RESOURCES: usize = 1_000;
/// Handles to the guest's own resources one request may hold at once.
pub const MAX_COMPONENT_HANDLES: usize = 10_000;

/// What one host call may carry from the guest: enough for the largest
/// value a query may return, bounded either way.
pub fn hostcall_bytes(max_result_bytes: u64) -> usize {
    usize::try_from(max_result_bytes.saturating_add(1 << 20))
        .unwrap_or(usize::MAX)
        .clamp(4 << 20, 256 << 20)
}

/// What a deployment's requests may reach and how far: resolved once, when
/// it is deployed, and shared by all its requests.
#[derive(Debug, Clone)]
pub struct Grants {
    pub service: Arc<str>,
    /// Its database namespace, when it has the database capability.
    pub namespace: Option<Arc<Namespace>>,
    pub results: ResultLimits,
    pub max_statements: u32,
    pub settings: Arc<BTreeMap<String, String>>,
    /// Where it may call out (empty without the capability).
    pub outbound: AllowList,
    pub memory_bytes: usize,
    /// See [`hostcall_bytes`].
    pub hostcall_bytes: usize,
    /// How long one call into it may run.
    pub timeout: Duration,
    /// Where its log lines, stdout and stderr go.
    pub log: Arc<ServiceLog>,
}

impl Grants {
    /// Nothing but memory and time: what `describe()` runs with.
    pub fn bare(service: &str, memory_bytes: usize, timeout: Duration) -> Grants {
        Grants {
            service: Arc::from(service),
            namespace: None,
            results: ResultLimits::default(),
            max_statements: 0,
            settings: Arc::default(),
            outbound: AllowList::default(),
            memory_bytes,
            hostcall_bytes: hostcall_bytes(0),
            timeout,
            log: ServiceLog::detached(),
        }
    }
}

pub struct ServiceState {
    pub(crate) wasi: wasi::WasiState,
    pub(crate) table: ResourceTable,
    pub(crate) database: DatabaseCtx,
    pub(crate) settings: SettingsCtx,
    pub(crate) log: LogCtx,
    pub(crate) outbound: OutboundCtx,
    pub(crate) limits: StoreLimits,
}

impl ServiceState {
    /// A fresh store's data for one request under `grants`.
    pub fn new(grants: &Grants) -> ServiceState {
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_RESOURCES);
        ServiceState {
            wasi: wasi::WasiState::new(),
            table,
            database: DatabaseCtx::new(
                grants.namespace.clone(),
                grants.results,
                grants.max_statements,
            ),
            settings: SettingsCtx::new(grants.settings.clone()),
            log: LogCtx::new(&grants.service, grants.log.clone()),
            outbound: OutboundCtx::new(&grants.service, grants.outbound.clone()),
            limits: StoreLimitsBuilder::new()
                .memory_size(grants.memory_bytes)
                .table_elements(100_000)
                .instances(64)
                .tables(64)
                .memories(16)
                .trap_on_grow_failure(true)
                .build(),
        }
    }
}

impl ServiceState {
    /// Readies the state of an instance kept from an earlier request for the
    /// next one: empty output captures, the whole statement budget.
    pub(crate) fn next_request(&mut self) {
        self.wasi.clear_output();
        self.database.next_request();
    }

    /// Ends a request (see [`LogCtx::end_request`]): what it held of its
    /// database namespace goes back too.
    pub(crate) fn end_request(&mut self) {
        self.log.end_request();
        self.database.end_request();
    }

    /// Whether the guest holds no host resource but a stdout and a stderr
    /// stream: no transaction, no stream or request of `wasi:http`, nothing
    /// that could carry work or a connection into the next request, and
    /// nothing that eats into the next request's share of the table.
    pub(crate) fn holds_nothing(&mut self) -> bool {
        let streams = self.wasi.open_streams();
        streams <= 2 && self.table.iter_mut().count() == streams
    }
}

impl WasiView for ServiceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        self.wasi.view(&mut self.table)
    }
}

impl WasiHttpView for ServiceState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        self.outbound.view(&mut self.table)
    }
}

/// The linker services are instantiated against: with `wasi:http` only
/// for deployments granted outbound HTTP, so that the others cannot even
/// create its host-side resources.
pub fn linker(engine: &Engine, outbound_http: bool) -> anyhow::Result<Linker<ServiceState>> {
    let mut linker = Linker::<ServiceState>::new(engine);
    wasi::add_to_linker(&mut linker)?;
    database::add_to_linker(&mut linker, |s| DatabaseView {
        ctx: &mut s.database,
        table: &mut s.table,
    })?;
    settings::add_to_linker(&mut linker, |s| &mut s.settings)?;
    log::add_to_linker(&mut linker, |s| &mut s.log)?;
    if outbound_http {
        outbound::add_to_linker(&mut linker)?;
    }
    Ok(linker)
}
