//! What a service can reach, one module per WIT interface (the shape of
//! Spin's factors): each has its per-request context, its `Host` impl, an
//! `add_to_linker` generic over the store's data (it takes an accessor, or
//! a view trait, like wasmtime's `WasiView` and `WasiHttpView`), and tests
//! of its own. `runtime::state` composes them into a service's store and
//! links them; nothing else is linked, so a component that imports
//! anything else is refused at deploy. Adding a capability is one module
//! here, one WIT file, one line in `runtime::state::linker` and its test.

pub mod database;
pub mod log;
pub mod outbound;
pub mod settings;
pub mod wasi;
