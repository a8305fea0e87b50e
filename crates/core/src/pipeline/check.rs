//! What every call is checked for before anything runs, on whichever path
//! it takes (bare, observed, full, or started by hand): one place, so that
//! an option is refused the same way whether or not anything observes the
//! call.

use crate::error::{RelayError, Result};
use crate::middleware::CallKind;
use crate::pipeline::CallOptions;
use crate::runtime::scopes::{check_name, check_object};

/// Name, metadata, and options that belong to the other kind of call.
pub(crate) fn check_call(name: &str, kind: CallKind, opts: &CallOptions) -> Result<()> {
    check_name(name, kind.as_str())?;
    check_object(&opts.metadata, "call metadata")?;
    // Each belongs to one kind of call (and its events' category profile):
    // given to the other, it would be dropped without a word.
    match kind {
        CallKind::Llm if opts.tool_call_id.is_some() => Err(RelayError::invalid(
            "tool_call_id is an option of tool calls, not of LLM calls",
        )),
        CallKind::Tool if opts.model_name.is_some() => Err(RelayError::invalid(
            "model_name is an option of LLM calls, not of tool calls",
        )),
        _ => Ok(()),
    }
}
