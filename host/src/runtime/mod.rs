//! The WebAssembly side of the host: one engine, the linker of granted
//! capabilities, compilation, and the per-request store.

mod cache;
mod engine;
mod invoke;
mod state;

pub use engine::{Runtime, RuntimeOptions};
pub use invoke::{CallError, Invocation};
pub use state::{Grants, ServiceState, hostcall_bytes};
