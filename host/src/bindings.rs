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
    Capability, Dialect, Manifest, Method, Migration, Param, ParamLocation, Problem, Request,
    Response, Route,
};
pub use self::exports::berth::service::handler::Guest as Handler;

impl Method {
    /// The method as a service sees it: `HEAD` is answered by `GET` routes
    /// (the host drops the body).
    pub fn from_http(method: &http::Method) -> Method {
        match *method {
            http::Method::GET | http::Method::HEAD => Method::Get,
            http::Method::POST => Method::Post,
            http::Method::PUT => Method::Put,
            http::Method::PATCH => Method::Patch,
            http::Method::DELETE => Method::Delete,
            http::Method::OPTIONS => Method::Options,
            ref other => Method::Other(other.as_str().to_string()),
        }
    }
}
