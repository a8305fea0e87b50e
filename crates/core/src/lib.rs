//! # nemo-relay-core
//!
//! The runtime that AI agents run their tool and LLM calls through. It is
//! the one implementation behind every binding (Node.js, C, Go, Python).
//!
//! ```text
//!   application ──▶ Runtime::tool_call / llm_call / llm_stream_call
//!                      │  guardrails → intercepts → start event
//!                      │  → execution intercepts → callback → end event
//!                      ▼
//!   ScopeStack (where work belongs) ─── every event names its parent scope
//!                      │
//!   events ──try_push──▶ [bounded lock-free queue] ──▶ dispatcher thread ──▶ subscribers
//! ```
//!
//! | module | idea |
//! |---|---|
//! | [`scope`] | scope handles, stacks, task-local/thread-local current stack |
//! | [`middleware`] | callback shapes: guardrails, intercepts, [`Next`], [`Step`] |
//! | [`registry`] | one generic priority-ordered copy-on-write registry for every family |
//! | [`pipeline`] | managed tool / LLM / streaming calls and the manual lifecycle |
//! | [`plugin`] | plugin kinds, configuration documents, validation, atomic activation |
//! | [`event`] | the ATOF event model and its canonical JSON |
//! | [`dispatch`] | the non-blocking FIFO dispatcher and the [`Subscriber`] trait |
//! | [`runtime`] | [`Runtime`]: registries + dispatcher; registration, flush, shutdown |
//! | [`error`] | [`RelayError`] and its stable codes |
//!
//! ```
//! use nemo_relay_core::{Runtime, CallOptions, Registration, Middleware, middleware, Verdict};
//! use serde_json::json;
//!
//! let rt = Runtime::new();
//! rt.register(Registration::new(
//!     "no-rm",
//!     Middleware::ToolConditionalExecution(middleware::guard(|_ctx, args: &serde_json::Value| {
//!         Ok(if args["cmd"] == "rm" { Verdict::Reject("rm is blocked".into()) } else { Verdict::Allow })
//!     })),
//! )).unwrap();
//!
//! let out = nemo_relay_core::executor::block_on(rt.tool_call(
//!     "shell", json!({"cmd": "ls"}), CallOptions::default(),
//!     |args| async move { Ok(json!({"ran": args["cmd"]})) },
//! ));
//! assert_eq!(out.unwrap(), json!({"ran": "ls"}));
//! ```

pub mod dispatch;
pub mod error;
pub mod event;
pub mod executor;
pub mod id;
pub mod middleware;
pub mod name;
pub mod pipeline;
pub mod plugin;
pub mod registry;
pub mod runtime;
pub mod scope;
pub mod time;

pub use dispatch::{subscriber_fn, Dispatcher, DispatcherStats, Subscriber};
pub use error::{ErrorCode, RelayError, Result};
pub use event::{DataSchema, ErrorStatus, Event, EventKind, Json, Payload, ScopePhase, Status};
pub use id::Uuid;
pub use middleware::{CallContext, CallKind, JsonStream, LlmRequest, Next, Step, Verdict};
pub use name::Name;
pub use pipeline::{
    Aggregator, CallExtension, CallOptions, CallSnapshot, EndOptions, LlmStream, StreamOptions,
};
pub use plugin::{PluginConfig, PluginHost};
pub use registry::{Family, Middleware, Origin, Registration};
pub use runtime::{
    Activity, MarkOptions, PopOptions, Runtime, RuntimeConfig, RuntimeStats, ScopeOptions,
};
pub use scope::{Attributes, ScopeHandle, ScopeStack, ScopeType};
pub use time::Timestamp;
