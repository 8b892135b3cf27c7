//! The data of one `Store`: composed of per-capability contexts, one store
//! per request.

use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};

use crate::capabilities::database::DatabaseCtx;
use crate::capabilities::log::LogCtx;
use crate::capabilities::outbound::OutboundCtx;
use crate::capabilities::settings::SettingsCtx;
use crate::capabilities::wasi::WasiState;

pub struct ServiceState {
    pub(crate) wasi: WasiState,
    pub(crate) table: ResourceTable,
    pub(crate) database: DatabaseCtx,
    pub(crate) settings: SettingsCtx,
    pub(crate) log: LogCtx,
    pub(crate) outbound: OutboundCtx,
    pub(crate) limits: StoreLimits,
    /// Bytes the guest may pass the host in one call.
    pub(crate) hostcall_bytes: usize,
}

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

/// What a request's store is made of.
pub struct Grants {
    pub service: String,
    pub database: DatabaseCtx,
    pub settings: SettingsCtx,
    pub outbound: OutboundCtx,
    pub memory_bytes: usize,
    /// See [`hostcall_bytes`].
    pub hostcall_bytes: usize,
}

impl ServiceState {
    pub fn new(grants: Grants) -> ServiceState {
        ServiceState {
            wasi: WasiState::new(),
            table: {
                let mut table = ResourceTable::new();
                table.set_max_capacity(MAX_RESOURCES);
                table
            },
            database: grants.database,
            settings: grants.settings,
            log: LogCtx::new(&grants.service),
            outbound: grants.outbound,
            limits: StoreLimitsBuilder::new()
                .memory_size(grants.memory_bytes)
                .table_elements(100_000)
                .instances(64)
                .tables(64)
                .memories(16)
                .trap_on_grow_failure(true)
                .build(),
            hostcall_bytes: grants.hostcall_bytes,
        }
    }
}
