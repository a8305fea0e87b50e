//! Managed tool and LLM calls: the whole pipeline around a C callback.
//!
//! Order of one call (the core's; identical from every language):
//!
//! 1. conditional-execution guardrails (first rejection wins: a guardrail
//!    mark is emitted, the call returns `GUARDRAIL_REJECTED`, nothing else
//!    runs and no start/end events are emitted);
//! 2. request intercepts (each rewrites the real request; `break_chain`
//!    stops the rest);
//! 3. sanitize-request guardrails on a copy, then the start event;
//! 4. execution intercepts, outermost first, around
//! 5. the callback itself;
//! 6. sanitize-response guardrails on a copy, then the end event.
//!
//! Everything runs synchronously on the calling thread. The callback runs
//! with the call as the current scope: scopes, marks and nested `_execute`
//! calls made from inside it (with `stack` NULL) are parented to the call.

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use nemo_relay_core::{Json, LlmRequest, RelayError, Runtime};

use crate::api::calls::llm_request;
use crate::bridge::callback::{NemoRelayCallFn, OutString};
use crate::bridge::handles::{stack_arg, NemoRelayStack};
use crate::bridge::options::{options_arg, CallJson};
use crate::bridge::run;
use crate::bridge::wire::WireValue;
use crate::conventions::args::{callback_arg, out_slot, str_arg};
use crate::conventions::json::{json_arg, json_to_c};
use crate::conventions::status::NemoRelayStatus;
use crate::conventions::user_data::{NemoRelayFreeFn, UserData};

type CallCallback = unsafe extern "C" fn(*mut c_void, *const c_char, *mut *mut c_char) -> i32;

/// Runs a tool call named `name` with `args_json` through the pipeline,
/// calling `tool(user_data, args_json, &out)` as the tool, and writes the
/// tool's result to `*out_result_json` (free with `nemo_relay_string_free`).
///
/// `user_data` is released with `free_fn` exactly once, after the call (also
/// when it fails, even on argument errors). `options_json`: `parent`,
/// `attributes`, `data`, `metadata`, `tool_call_id`.
///
/// Errors: `GUARDRAIL_REJECTED` (the last error names guardrail and reason),
/// `CALLBACK_FAILED` (the tool or a middleware callback failed),
/// `NULL_POINTER`, `INVALID_UTF8`, `INVALID_JSON`, `INVALID_ARGUMENT`.
///
/// # Safety
/// Pointers are NULL or valid as documented in the header conventions.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_tool_execute(
    stack: *const NemoRelayStack,
    name: *const c_char,
    args_json: *const c_char,
    options_json: *const c_char,
    tool: NemoRelayCallFn,
    user_data: *mut c_void,
    free_fn: NemoRelayFreeFn,
    out_result_json: *mut *mut c_char,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (all blocks): pointers are valid per the function contract.
        // Adopted first, so every exit path below releases it.
        let user_data = Arc::new(unsafe { UserData::adopt(user_data, free_fn) });
        let out = unsafe { out_slot(out_result_json, "out_result_json") }?;
        let tool = callback_arg(tool, "tool")?;
        let name = unsafe { str_arg(name, "name") }?;
        let args = unsafe { json_arg(args_json, "args_json") }?;
        let options = unsafe { options_arg::<CallJson>(options_json) }?;
        let options = options.into_core(unsafe { stack_arg(stack) }?)?;
        let func = move |args: Json| {
            let user_data = user_data.clone();
            // Lazy: the callback must run when the pipeline polls, inside
            // the call's scope, not when the future is created.
            async move { call_c(tool, &user_data, &args, "tool callback") }
        };
        let result = run(Runtime::global().tool_call(name, args, options, func))?;
        out.write(json_to_c(&result)?);
        Ok(())
    })
}

/// Runs a unary LLM call named `name` with `request_json` (`{"headers":
/// {...}, "content": ...}`) through the pipeline, calling
/// `provider(user_data, request_json, &out)`, and writes the provider's
/// response to `*out_response_json`.
///
/// Ownership and errors as `nemo_relay_tool_execute`; `options_json` takes
/// `model_name` instead of `tool_call_id`.
///
/// # Safety
/// Pointers are NULL or valid as documented in the header conventions.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_llm_execute(
    stack: *const NemoRelayStack,
    name: *const c_char,
    request_json: *const c_char,
    options_json: *const c_char,
    provider: NemoRelayCallFn,
    user_data: *mut c_void,
    free_fn: NemoRelayFreeFn,
    out_response_json: *mut *mut c_char,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (all blocks): pointers are valid per the function contract.
        let user_data = Arc::new(unsafe { UserData::adopt(user_data, free_fn) });
        let out = unsafe { out_slot(out_response_json, "out_response_json") }?;
        let provider = callback_arg(provider, "provider")?;
        let name = unsafe { str_arg(name, "name") }?;
        let request = llm_request(unsafe { json_arg(request_json, "request_json") }?)?;
        let options = unsafe { options_arg::<CallJson>(options_json) }?;
        let options = options.into_core(unsafe { stack_arg(stack) }?)?;
        let func = move |request: LlmRequest| {
            let user_data = user_data.clone();
            async move { call_c(provider, &user_data, &request, "LLM provider callback") }
        };
        let response = run(Runtime::global().llm_call(name, request, options, func))?;
        out.write(json_to_c(&response)?);
        Ok(())
    })
}

/// Invokes a tool or provider callback and parses its result.
fn call_c<R: WireValue>(
    callback: CallCallback,
    user_data: &UserData,
    request: &R,
    what: &str,
) -> Result<Json, RelayError> {
    let text = request.to_wire();
    let mut out = OutString::new();
    // SAFETY: the callback was checked non-NULL and accepts its user_data;
    // `text` and `out` outlive the call.
    let status = unsafe { callback(user_data.as_ptr(), text.as_ptr(), out.slot()) };
    match out.finish(what, status)? {
        Some(result) => Json::from_wire(&result)
            .map_err(|err| RelayError::callback(format!("{what} returned {err}"))),
        None => Err(RelayError::callback(format!(
            "{what} returned OK without a result"
        ))),
    }
}
