//! The WebAssembly side of the host: one engine, the linker of granted
//! capabilities, compilation, and the per-request store; calls into berth
//! services (`invoke`) and standard `wasi:http` components (`proxy`).

mod cache;
mod engine;
mod invoke;
mod proxy;
mod state;

pub use engine::{Entry, Runtime, RuntimeOptions};
pub use invoke::{CallError, Invocation};
pub use state::{Grants, ServiceState, hostcall_bytes};
