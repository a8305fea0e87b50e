//! # nemo-relay-observability
//!
//! Exporters for the nemo-relay runtime. Each one is a
//! [`Subscriber`](nemo_relay_core::Subscriber): it receives the runtime's
//! events on the dispatcher thread, never on the agent's, and does its I/O
//! on a thread of its own.

pub mod atif;
pub mod atof;
mod attach;
mod config;
mod error;
mod payload;

pub use config::ConfigError;
pub use error::ExportError;
