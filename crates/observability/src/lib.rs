//! # nemo-relay-observability
//!
//! Exporters for the nemo-relay runtime. Each one is a
//! [`Subscriber`](nemo_relay_core::Subscriber): it receives the runtime's
//! events on the dispatcher thread, never on the agent's, and does its I/O
//! on a thread of its own.

mod attach;
pub mod atof;
mod config;
mod error;

pub use config::ConfigError;
pub use error::ExportError;
