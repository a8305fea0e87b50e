//! The opaque handles of the C ABI.
//!
//! | C type | payload | created by | released by |
//! |---|---|---|---|
//! | `NemoRelayStack` | a scope stack | `nemo_relay_stack_new`, `_current` | `nemo_relay_stack_free` |
//! | `NemoRelayScope` | an open (or closed) scope | `nemo_relay_scope_push`, `nemo_relay_stack_top` | `nemo_relay_scope_free` |
//! | `NemoRelayTool` | a manually started tool call | `nemo_relay_tool_start` | `nemo_relay_tool_free` |
//! | `NemoRelayLlm` | a manually started LLM call | `nemo_relay_llm_start` | `nemo_relay_llm_free` |
//! | `NemoRelayStream` | a chunk stream | `nemo_relay_llm_stream_execute`, `nemo_relay_stream_new`, `nemo_relay_next_run_stream` | `nemo_relay_stream_free` |
//!
//! All are [`Boxed`]: the payloads are cheap clones of reference-counted core
//! values, so each handle is simply one owned clone. Freeing a handle never
//! changes runtime state (freeing a scope handle does not pop the scope), which
//! keeps `_free` safe to call from any cleanup path, in any order.
//!
//! Tool, LLM and scope handles wrap the same core type but are distinct C
//! types, so the compiler rejects popping a tool handle as a scope.

use nemo_relay_core::{ScopeHandle, ScopeStack};

use super::stream::StreamCell;
use crate::conventions::error::FfiResult;
use crate::conventions::handle::{boxed_ref, Boxed, OpaqueHandle};

/// A scope stack: where scopes are pushed and what new events are parented
/// to. Functions take `const NemoRelayStack *stack`; NULL means the calling
/// thread's current stack (inside a callback: the call being executed).
pub struct NemoRelayStack {
    _private: [u8; 0],
}
impl OpaqueHandle for NemoRelayStack {
    type Payload = ScopeStack;
    type Ownership = Boxed;
}

/// A scope (agent, function, ...) pushed with `nemo_relay_scope_push`.
pub struct NemoRelayScope {
    _private: [u8; 0],
}
impl OpaqueHandle for NemoRelayScope {
    type Payload = ScopeHandle;
    type Ownership = Boxed;
}

/// A tool call started with `nemo_relay_tool_start`.
pub struct NemoRelayTool {
    _private: [u8; 0],
}
impl OpaqueHandle for NemoRelayTool {
    type Payload = ScopeHandle;
    type Ownership = Boxed;
}

/// An LLM call started with `nemo_relay_llm_start`.
pub struct NemoRelayLlm {
    _private: [u8; 0],
}
impl OpaqueHandle for NemoRelayLlm {
    type Payload = ScopeHandle;
    type Ownership = Boxed;
}

/// A stream of JSON chunks; see `nemo_relay_stream_next`.
pub struct NemoRelayStream {
    _private: [u8; 0],
}
impl OpaqueHandle for NemoRelayStream {
    type Payload = StreamCell;
    type Ownership = Boxed;
}

/// The stack an entry point works on: the given one, or NULL for "current".
///
/// # Safety
/// `stack` is NULL or a live `NemoRelayStack`.
pub unsafe fn stack_arg(stack: *const NemoRelayStack) -> FfiResult<Option<ScopeStack>> {
    if stack.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL and live per the caller's contract.
    Ok(Some(unsafe { boxed_ref(stack, "stack") }?.clone()))
}

/// Borrows a required scope-like handle.
///
/// # Safety
/// `handle` is NULL or a live handle of type `H`.
pub unsafe fn handle_arg<'a, H>(handle: *const H, name: &str) -> FfiResult<&'a ScopeHandle>
where
    H: OpaqueHandle<Payload = ScopeHandle, Ownership = Boxed>,
{
    // SAFETY: forwarded from the caller.
    unsafe { boxed_ref(handle, name) }
}
