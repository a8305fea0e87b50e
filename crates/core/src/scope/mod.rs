//! Scopes: where work belongs.
//!
//! A *scope* is one unit of work (an agent turn, a function, a tool call, an
//! LLM call …). Scopes nest: every event the runtime emits names its parent
//! scope, which is how exporters rebuild the tree of an agent run.
//!
//! * [`ScopeHandle`] — an opened scope (uuid, parent, name, type, payloads).
//! * [`ScopeStack`] — the stack of open scopes of one logical flow of control.
//!   Stacks are cheap handles (`Clone` shares the same stack) that bindings
//!   can create, [`fork`](ScopeStack::fork) and pass around.
//! * [`current`](ScopeStack::current) — which stack an API call uses when the
//!   caller passes none: the tokio task-local one if the code runs inside
//!   [`ScopeStack::scope`], else the calling thread's default stack.
//!
//! # Concurrency
//!
//! Two concurrent branches must never share a stack, or one branch's scopes
//! would become the other's parents. [`isolate`] runs a future on a fork of the
//! current stack: the fork sees every scope open at the fork point (so parents
//! and scope-local middleware are inherited) but its own pushes are invisible
//! to siblings. Managed tool and LLM calls do this for their callbacks
//! automatically, so nested calls inside a tool are parented to that tool.
//!
//! ```
//! # use nemo_relay_core::{Runtime, ScopeType, ScopeOptions, PopOptions};
//! let rt = Runtime::new();
//! let agent = rt.push_scope("planner", ScopeType::Agent, ScopeOptions::default()).unwrap();
//! let step = rt.push_scope("search", ScopeType::Function, ScopeOptions::default()).unwrap();
//! assert_eq!(step.parent_uuid(), Some(agent.uuid()));
//! // Popping out of order is an error that changes nothing:
//! assert!(rt.pop_scope(&agent, PopOptions::default()).is_err());
//! rt.pop_scope(&step, PopOptions::default()).unwrap();
//! rt.pop_scope(&agent, PopOptions::default()).unwrap();
//! ```

pub(crate) mod current;
pub(crate) mod handle;
pub(crate) mod stack;
mod types;

pub use current::{isolate, ThreadStackGuard};
pub use handle::ScopeHandle;
pub use stack::ScopeStack;
pub use types::{Attributes, ScopeType};

/// How many open scopes, process-wide, own scope-local registrations. While
/// it is zero no call has scope-local middleware or subscribers to collect;
/// part of [`Runtime::is_bare`](crate::Runtime::is_bare), and, like
/// [`Activity`](crate::runtime::Activity), readable by bindings without a
/// call.
pub fn frames_with_locals() -> &'static std::sync::atomic::AtomicU32 {
    &stack::FRAMES_WITH_LOCALS
}
