//! Manual lifecycle: start/end events for calls the runtime does not execute
//! (the application calls the tool or provider itself). No guardrails or
//! intercepts run; sanitize guardrails still rewrite the emitted payloads.

use crate::error::{RelayError, Result};
use crate::event::Json;
use crate::middleware::LlmRequest;
use crate::pipeline::call::{Call, CallOptions, Kind, LlmKind, ToolKind};
use crate::runtime::scopes::check_object;
use crate::runtime::Runtime;
use crate::scope::{ScopeHandle, ScopeStack, ScopeType};
use crate::time::Timestamp;

/// Options of the manual `*_end` calls.
#[derive(Clone, Debug, Default)]
pub struct EndOptions {
    /// Stack whose scope-local middleware/subscribers apply (default current).
    pub stack: Option<ScopeStack>,
    /// Metadata merged into the end event.
    pub metadata: Option<Json>,
    /// Explicit end time (default: now, after the start).
    pub timestamp: Option<Timestamp>,
}

impl Runtime {
    /// Emit a tool start event (sanitized) and return the tool's handle.
    pub async fn tool_call_start(
        &self,
        name: &str,
        args: &Json,
        opts: CallOptions,
    ) -> Result<ScopeHandle> {
        let call = Call::<ToolKind>::prepare(self, name, opts)?;
        Ok(call.start(args).await)
    }

    /// Emit an LLM start event (sanitized, credentials stripped).
    pub async fn llm_call_start(
        &self,
        name: &str,
        request: &LlmRequest,
        opts: CallOptions,
    ) -> Result<ScopeHandle> {
        let call = Call::<LlmKind>::prepare(self, name, opts)?;
        Ok(call.start(request).await)
    }

    /// Emit the success end event of a manually started tool or LLM call.
    pub async fn call_end(
        &self,
        handle: &ScopeHandle,
        output: &Json,
        opts: EndOptions,
    ) -> Result<()> {
        check_object(&opts.metadata, "call end metadata")?;
        match handle.scope_type() {
            ScopeType::Tool => end_ok::<ToolKind>(self, handle, output, opts).await,
            ScopeType::Llm => end_ok::<LlmKind>(self, handle, output, opts).await,
            other => Err(RelayError::invalid(format!(
                "call_end expects a tool or LLM handle, got a '{other}' scope (use pop_scope)"
            ))),
        }
    }

    /// Emit the failure end event of a manually started tool or LLM call.
    pub fn call_failed(
        &self,
        handle: &ScopeHandle,
        error: &RelayError,
        opts: EndOptions,
    ) -> Result<()> {
        check_object(&opts.metadata, "call end metadata")?;
        match handle.scope_type() {
            ScopeType::Tool => end_err::<ToolKind>(self, handle, error, opts),
            ScopeType::Llm => end_err::<LlmKind>(self, handle, error, opts),
            other => Err(RelayError::invalid(format!(
                "call_failed expects a tool or LLM handle, got a '{other}' scope"
            ))),
        }
    }
}

async fn end_ok<K: Kind>(
    rt: &Runtime,
    handle: &ScopeHandle,
    output: &Json,
    opts: EndOptions,
) -> Result<()> {
    let call = Call::<K>::for_handle(rt, handle, opts.stack)?;
    claim_end(handle)?;
    if call.subscribers().is_some() {
        call.finish_ok(handle, Some(output.clone()), opts.metadata, opts.timestamp)
            .await;
    }
    Ok(())
}

fn end_err<K: Kind>(
    rt: &Runtime,
    handle: &ScopeHandle,
    error: &RelayError,
    opts: EndOptions,
) -> Result<()> {
    let call = Call::<K>::for_handle(rt, handle, opts.stack)?;
    claim_end(handle)?;
    call.finish_err(handle, error, opts.metadata, opts.timestamp);
    Ok(())
}

/// A manually started call ends once: a second `call_end` / `call_failed`
/// would emit a second end event for the same uuid, which every consumer
/// (ATIF steps, OTLP spans) would turn into a duplicate.
fn claim_end(handle: &ScopeHandle) -> Result<()> {
    if handle.claim_end() {
        Ok(())
    } else {
        Err(RelayError::NotFound(format!(
            "call '{}' has already ended",
            handle.name()
        )))
    }
}
