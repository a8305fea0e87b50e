//! # nemo-relay-observability
//!
//! Exporters for the nemo-relay runtime. Each one is a
//! [`Subscriber`](nemo_relay_core::Subscriber): it receives the runtime's
//! events on the dispatcher thread, never on the agent's, and does its I/O
//! on a thread of its own.
//!
//! | module | output | when it is written |
//! |---|---|---|
//! | [`atof`] | ATOF 0.1 JSON Lines: every event, one per line | continuously, by a writer thread |
//! | [`atif`] | ATIF v1.7 trajectories: one JSON document per root agent scope | on [`export`](atif::AtifExporter::export), and to `<dir>/<session>.json` when the root scope ends |
//! | [`otel`] | OTLP/HTTP traces (protobuf or JSON), GenAI or OpenInference attributes | in batches, by an exporter thread with a bounded queue |
//!
//! Every exporter follows the same life cycle, which a C ABI or a plugin
//! adapter can map one to one:
//!
//! ```text
//!   Exporter::new(config)  →  register(&runtime)  →  flush() / export()  →  shutdown()
//! ```
//!
//! Configs are plain `serde` structs with `deny_unknown_fields`; build them
//! in Rust or parse a JSON section with `from_json`, which reports mistakes
//! by field path ([`ConfigError`]). [`ObservabilityConfig`] groups the three
//! for a whole-document configuration.

pub mod atif;
pub mod atof;
mod attach;
mod config;
mod error;
mod group;
pub mod otel;
mod payload;
pub mod plugin;
mod stream_chunks;

pub use config::ConfigError;
pub use error::ExportError;
pub use group::{Observability, ObservabilityConfig};
