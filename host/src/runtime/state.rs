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
}

/// What a request's store is made of.
pub struct Grants {
    pub service: String,
    pub database: DatabaseCtx,
    pub settings: SettingsCtx,
    pub outbound: OutboundCtx,
    pub memory_bytes: usize,
}

impl ServiceState {
    pub fn new(grants: Grants) -> ServiceState {
        ServiceState {
            wasi: WasiState::new(),
            table: ResourceTable::new(),
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
        }
    }
}
