//! What a service can reach, one module per WIT interface (the shape of
//! Spin's factors): each has its per-request context, its `Host` impl and
//! its linking. [`linker`] assembles them; nothing else is linked, so a
//! component that imports anything else is refused at deploy.

pub mod database;
pub mod log;
pub mod outbound;
pub mod settings;
pub mod wasi;

use wasmtime::Engine;
use wasmtime::component::Linker;

use crate::runtime::ServiceState;

/// The linker every service is instantiated against.
pub fn linker(engine: &Engine) -> anyhow::Result<Linker<ServiceState>> {
    let mut linker = Linker::new(engine);
    wasi::add_to_linker(&mut linker)?;
    database::add_to_linker(&mut linker)?;
    settings::add_to_linker(&mut linker)?;
    log::add_to_linker(&mut linker)?;
    outbound::add_to_linker(&mut linker)?;
    Ok(linker)
}
