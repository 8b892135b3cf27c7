//! The WebAssembly side of the host: one engine, the linker of granted
//! capabilities, compilation, and the per-request store; calls into berth
//! services (`invoke`) and standard `wasi:http` components (`proxy`); the
//! warm instances of deployments that reuse them (`reuse`).

mod cache;
mod engine;
mod invoke;
mod proxy;
mod reuse;
mod state;

pub use engine::{Entry, Runtime, RuntimeOptions};
pub use invoke::{CallError, Invocation};
pub use reuse::{Reuser, WarmPool};
pub use state::{Grants, ServiceState, hostcall_bytes};
