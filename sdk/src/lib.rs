//! Write berth services in Rust.
//!
//! A service implements [`Service`] (the `berth:service/handler` export) and
//! registers it with [`export!`]. [`Router`] declares routes once and serves
//! both `describe()` and `handle()`; [`Request`], [`Response`] and
//! [`Problem`] carry HTTP; [`db`] wraps the `database` interface with typed
//! rows.
//!
//! ```ignore
//! struct Hello;
//! impl berth_sdk::Service for Hello {
//!     fn describe() -> berth_sdk::Manifest { /* … */ }
//!     fn handle(request: berth_sdk::Request) -> Result<berth_sdk::Response, berth_sdk::Problem> {
//!         router().dispatch(request)
//!     }
//! }
//! berth_sdk::export!(Hello);
//! ```

// Lets the generated code name this crate the way services do.
extern crate self as berth_sdk;

pub mod db;
mod extract;
mod http;
mod json;
mod manifest;
pub mod outbound;
mod router;

/// The generated bindings of the `berth:service` world.
pub mod bindings {
    wit_bindgen::generate!({
        world: "service",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "__export_bindings",
        default_bindings_module: "berth_sdk::bindings",
        runtime_path: "berth_sdk::__wit_bindgen_rt",
        generate_all,
        additional_derives: [PartialEq],
    });
}

#[doc(hidden)]
pub use wit_bindgen::rt as __wit_bindgen_rt;

#[doc(hidden)]
pub use bindings::__export_bindings;
pub use bindings::berth::service::{database, log, settings, types};
pub use bindings::exports::berth::service::handler::Guest as Service;

/// Exports `$service` (a type implementing [`Service`]) as the component's
/// `berth:service/handler`. Expands to nothing on native targets, so a
/// service's pure logic still builds and unit-tests with plain `cargo test`.
#[macro_export]
macro_rules! export {
    ($service:ident) => {
        #[cfg(target_arch = "wasm32")]
        $crate::__export_bindings!($service);
        // Natively nothing is exported; naming the impl keeps it (and all it
        // calls) from being reported as dead code.
        #[cfg(not(target_arch = "wasm32"))]
        const _: (
            fn() -> $crate::Manifest,
            fn($crate::Request) -> Result<$crate::Response, $crate::Problem>,
        ) = (
            <$service as $crate::Service>::describe,
            <$service as $crate::Service>::handle,
        );
    };
}
pub use extract::{Created, Extract, Json, NoContent, Path, Query, Reply, RouteDoc};
pub use json::json_schema;
pub use router::{Handler, Raw, Router};
pub use types::{
    Capability, Dialect, Manifest, Method, Migration, Param, ParamLocation, Problem, Request,
    Response, Route, Setting,
};
