//! The data of one `Store`: composed of per-capability contexts, one store
//! per request.

use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};

use crate::capabilities::database::DatabaseCtx;
use crate::capabilities::log::LogCtx;
use crate::capabilities::settings::SettingsCtx;
use crate::capabilities::wasi::WasiState;

pub struct ServiceState {
    pub(crate) wasi: WasiState,
    pub(crate) table: ResourceTable,
    pub(crate) database: DatabaseCtx,
    pub(crate) settings: SettingsCtx,
    pub(crate) log: LogCtx,
    pub(crate) limits: StoreLimits,
}

impl ServiceState {
    pub fn new(
        service: &str,
        database: DatabaseCtx,
        settings: SettingsCtx,
        memory_bytes: usize,
    ) -> ServiceState {
        ServiceState {
            wasi: WasiState::new(),
            table: ResourceTable::new(),
            database,
            settings,
            log: LogCtx::new(service),
            limits: StoreLimitsBuilder::new()
                .memory_size(memory_bytes)
                .table_elements(100_000)
                .instances(64)
                .tables(64)
                .memories(16)
                .trap_on_grow_failure(true)
                .build(),
        }
    }
}
