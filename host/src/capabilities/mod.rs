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

/// The linker services are instantiated against: with `wasi:http` only
/// for deployments granted outbound HTTP, so that the others cannot even
/// create its host-side resources.
pub fn linker(engine: &Engine, outbound_http: bool) -> anyhow::Result<Linker<ServiceState>> {
    let mut linker = Linker::new(engine);
    wasi::add_to_linker(&mut linker)?;
    database::add_to_linker(&mut linker)?;
    settings::add_to_linker(&mut linker)?;
    log::add_to_linker(&mut linker)?;
    if outbound_http {
        outbound::add_to_linker(&mut linker)?;
    }
    Ok(linker)
}
