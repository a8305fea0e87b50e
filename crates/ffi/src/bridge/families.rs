//! Which families each callback shape may join, and the core middleware a
//! C callback becomes there.
//!
//! Shared by the global register functions (`nemo_relay_register_*`) and
//! their plugin-context twins (`nemo_relay_plugin_context_register_*`), so a
//! callback shape accepts exactly the same families on both paths and the
//! error for a family of another shape reads the same.

use std::sync::Arc;

use nemo_relay_core::{Family, Json, LlmRequest, Middleware};

use super::middleware::{
    guard, intercept, rewrite, stream_intercept, CSubscriber, Guard, Intercept, Rewrite,
    StreamIntercept, SubscriberCb,
};
use super::next::AnyNext;
use crate::conventions::error::{FfiError, FfiResult};
use crate::conventions::user_data::UserData;

/// A conditional-execution guardrail for `family`.
pub fn guard_for(
    family: Family,
    cb: Guard,
    ud: Arc<UserData>,
    function: &str,
) -> FfiResult<Middleware> {
    Ok(match family {
        Family::ToolConditionalExecution => {
            Middleware::ToolConditionalExecution(guard::<Json>(cb, ud))
        }
        Family::LlmConditionalExecution => {
            Middleware::LlmConditionalExecution(guard::<LlmRequest>(cb, ud))
        }
        other => return Err(wrong_shape(other, function)),
    })
}

/// A request intercept or sanitize guardrail for `family`. `break_chain`
/// is only meaningful for request intercepts and rejected elsewhere, so a
/// caller never believes it stopped a chain that has no such notion.
pub fn rewrite_for(
    family: Family,
    break_chain: bool,
    cb: Rewrite,
    ud: Arc<UserData>,
    function: &str,
) -> FfiResult<Middleware> {
    let middleware = match family {
        Family::ToolRequestIntercept => Middleware::ToolRequestIntercept(rewrite(cb, ud)),
        Family::ToolSanitizeRequest => Middleware::ToolSanitizeRequest(rewrite(cb, ud)),
        Family::ToolSanitizeResponse => Middleware::ToolSanitizeResponse(rewrite(cb, ud)),
        Family::LlmRequestIntercept => Middleware::LlmRequestIntercept(rewrite(cb, ud)),
        Family::LlmSanitizeRequest => Middleware::LlmSanitizeRequest(rewrite(cb, ud)),
        Family::LlmSanitizeResponse => Middleware::LlmSanitizeResponse(rewrite(cb, ud)),
        other => return Err(wrong_shape(other, function)),
    };
    let is_request = matches!(
        family,
        Family::ToolRequestIntercept | Family::LlmRequestIntercept
    );
    if break_chain && !is_request {
        return Err(FfiError::invalid_argument(
            "break_chain",
            "only request intercepts can break the chain",
        ));
    }
    Ok(middleware)
}

/// A unary execution intercept for `family`.
pub fn intercept_for(
    family: Family,
    cb: Intercept,
    ud: Arc<UserData>,
    function: &str,
) -> FfiResult<Middleware> {
    Ok(match family {
        Family::ToolExecutionIntercept => {
            Middleware::ToolExecutionIntercept(intercept(cb, ud, AnyNext::Tool))
        }
        Family::LlmExecutionIntercept => {
            Middleware::LlmExecutionIntercept(intercept(cb, ud, AnyNext::Llm))
        }
        other => return Err(wrong_shape(other, function)),
    })
}

/// An LLM stream execution intercept (its family is implied).
pub fn stream_intercept_for(cb: StreamIntercept, ud: Arc<UserData>) -> Middleware {
    Middleware::LlmStreamExecutionIntercept(stream_intercept(cb, ud))
}

/// An event subscriber (its family is implied).
pub fn subscriber_for(cb: SubscriberCb, ud: Arc<UserData>) -> Middleware {
    Middleware::Subscriber(CSubscriber::boxed(cb, ud))
}

fn wrong_shape(family: Family, function: &str) -> FfiError {
    FfiError::invalid_argument(
        "family",
        format!(
            "`{}` callbacks are not registered with {function}",
            family.as_str()
        ),
    )
}
