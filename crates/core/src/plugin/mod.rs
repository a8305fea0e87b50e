//! Plugins: reusable runtime behaviour activated from a configuration
//! document.
//!
//! A **plugin kind** ([`PluginKind`]) is code: it knows how to validate a
//! component's `config` and how to register middleware and subscribers for
//! it. A **configuration document** ([`PluginConfig`]) says which kinds to
//! activate, with what settings:
//!
//! ```toml
//! version = 1
//!
//! [[components]]
//! kind = "header-injection"
//! config = { headers = { "x-team" = "agents" } }
//!
//! [[components]]
//! kind = "redaction"
//! enabled = true
//! config = { fields = ["password"], patterns = ["email"] }
//!
//! [policy]
//! unknown_component = "error"   # ignore | warn | error
//! unknown_field = "warn"
//! unsupported_value = "error"
//! ```
//!
//! The [`PluginHost`] turns documents into runtime behaviour:
//!
//! * [`PluginHost::validate`] — structured [`Diagnostic`]s, no side effects;
//! * [`PluginHost::initialize`] — validate, then let each enabled component
//!   register through its own [`PluginContext`] (names are qualified per
//!   component instance, `"<kind>#<n>/<local>"`, so two instances never
//!   collide). The activation is **one transaction**: everything is
//!   installed — and the previous activation removed — in a single atomic
//!   swap of the registry, or nothing changes at all;
//! * [`PluginHost::clear`] — remove everything plugins installed.
//!
//! Built-in kinds: `header-injection`, `redaction` and `policy`
//! (see [`builtin`]).

pub mod builtin;
mod check;
mod config;
mod context;
mod diagnostics;
mod host;
mod kind;

pub use check::ConfigCheck;
pub use config::{ComponentConfig, PluginConfig, Policy, PolicyLevel, MAX_DOCUMENT_BYTES};
pub use context::PluginContext;
pub use diagnostics::{ConfigReport, Diagnostic, Level};
pub use host::{ActivationReport, ComponentReport, PluginHost};
pub use kind::{FnPluginKind, PluginKind};
