//! berth: a host in which every HTTP service is a sandboxed, hot-swappable
//! WebAssembly component.
//!
//! The host keeps what a FastAPI app keeps in `core/`: HTTP routing
//! ([`http`], [`routing`]), the database ([`db`]), settings ([`settings`])
//! and dependencies ([`capabilities`], one module per WIT interface). A
//! service is a `berth:service` component; [`registry`] deploys it and
//! [`runtime`] runs it, one fresh instance per request.

pub mod admission;
pub mod app;
pub mod author;
pub mod bindings;
pub mod capabilities;
pub mod cli;
pub mod client;
pub mod config;
pub mod db;
pub mod http;
pub mod logs;
pub mod registry;
pub mod rollout;
pub mod routing;
pub mod runtime;
pub mod telemetry;

pub use app::Application;
pub use config::Settings;
