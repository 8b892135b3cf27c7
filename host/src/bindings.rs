//! The one `bindgen!` of the host: Rust types and traits for the
//! `berth:service` world. Capabilities implement the import traits; the
//! runtime calls the `handler` exports.

wasmtime::component::bindgen!({
    world: "service",
    path: "../wit",
    imports: {
        "berth:service/database": async | trappable,
        default: trappable,
    },
    exports: { default: async },
    with: {
        "berth:service/database.transaction": crate::capabilities::database::Transaction,
    },
});

pub use self::berth::service::types::{
    Capability, Dialect, Manifest, Method, Migration, Problem, Request, Response, Route,
};
pub use self::exports::berth::service::handler::Guest as Handler;
