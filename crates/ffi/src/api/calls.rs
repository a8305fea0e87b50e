//! Manual tool and LLM calls: the application runs the tool or provider
//! itself and reports start and end.
//!
//! No guardrails or intercepts run on this path; the sanitize guardrails
//! still rewrite the emitted payloads. Use the `_execute` functions to run a
//! call through the whole pipeline instead.

use std::ffi::c_char;

use nemo_relay_core::{Json, LlmRequest, RelayError, Runtime, ScopeHandle};

use crate::api::scope::{describe, uuid_text};
use crate::bridge::handles::{handle_arg, stack_arg, NemoRelayLlm, NemoRelayStack, NemoRelayTool};
use crate::bridge::options::{options_arg, CallJson, EndJson};
use crate::bridge::run;
use crate::conventions::args::{out_slot, str_arg};
use crate::conventions::error::FfiResult;
use crate::conventions::handle::{free_boxed, into_boxed_handle};
use crate::conventions::json::{json_arg, json_to_c};
use crate::conventions::status::NemoRelayStatus;

/// Emits the start event of a tool call named `name` with `args_json` (after
/// the sanitize-request guardrails) and writes its handle to `*out_tool`.
///
/// `options_json` (NULL for none): `parent`, `attributes`, `data`,
/// `metadata`, `tool_call_id`.
///
/// # Safety
/// Pointers are NULL or valid as documented in the header conventions.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_tool_start(
    stack: *const NemoRelayStack,
    name: *const c_char,
    args_json: *const c_char,
    options_json: *const c_char,
    out_tool: *mut *mut NemoRelayTool,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (all blocks): pointers are valid per the function contract.
        let out = unsafe { out_slot(out_tool, "out_tool") }?;
        let name = unsafe { str_arg(name, "name") }?;
        let args = unsafe { json_arg(args_json, "args_json") }?;
        let options = unsafe { options_arg::<CallJson>(options_json) }?;
        let options = options.into_core(unsafe { stack_arg(stack) }?)?;
        let handle = run(Runtime::global().tool_call_start(name, &args, options))?;
        out.write(into_boxed_handle::<NemoRelayTool>(handle));
        Ok(())
    })
}

/// Emits the success end event of `tool` with `result_json` (after the
/// sanitize-response guardrails). `options_json`: `metadata`,
/// `timestamp_us`. `stack` (NULL: current) selects which scope-local
/// guardrails and subscribers apply.
///
/// # Safety
/// Pointers are NULL or valid as documented in the header conventions.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_tool_end(
    stack: *const NemoRelayStack,
    tool: *const NemoRelayTool,
    result_json: *const c_char,
    options_json: *const c_char,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (all blocks): pointers are valid per the function contract.
        let handle = unsafe { handle_arg(tool, "tool") }?;
        let result = unsafe { json_arg(result_json, "result_json") }?;
        end(handle, &result, unsafe { stack_arg(stack) }?, options_json)
    })
}

/// Emits the failure end event of `tool`, with `message` as the error
/// description. `options_json`: `metadata`, `timestamp_us`.
///
/// # Safety
/// Pointers are NULL or valid as documented in the header conventions.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_tool_fail(
    stack: *const NemoRelayStack,
    tool: *const NemoRelayTool,
    message: *const c_char,
    options_json: *const c_char,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (all blocks): pointers are valid per the function contract.
        let handle = unsafe { handle_arg(tool, "tool") }?;
        let message = unsafe { str_arg(message, "message") }?;
        fail(handle, message, unsafe { stack_arg(stack) }?, options_json)
    })
}

/// Writes the tool call's uuid to `*out_uuid` (free with
/// `nemo_relay_string_free`).
///
/// # Safety
/// `tool` is NULL or live; `out_uuid` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_tool_uuid(
    tool: *const NemoRelayTool,
    out_uuid: *mut *mut c_char,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (all blocks): per the function contract.
        let out = unsafe { out_slot(out_uuid, "out_uuid") }?;
        out.write(uuid_text(unsafe { handle_arg(tool, "tool") }?)?);
        Ok(())
    })
}

/// Writes a JSON description of the tool call to `*out_json` (same fields
/// as `nemo_relay_scope_json`).
///
/// # Safety
/// `tool` is NULL or live; `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_tool_json(
    tool: *const NemoRelayTool,
    out_json: *mut *mut c_char,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (all blocks): per the function contract.
        let out = unsafe { out_slot(out_json, "out_json") }?;
        out.write(json_to_c(&describe(unsafe { handle_arg(tool, "tool") }?))?);
        Ok(())
    })
}

/// Releases a tool handle. NULL is a no-op; freeing does not end the call.
///
/// # Safety
/// `tool` is NULL or a live tool handle that is not used again.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_tool_free(tool: *mut NemoRelayTool) {
    // SAFETY: per the function contract.
    ffi_value!({ unsafe { free_boxed(tool) } })
}

/// Emits the start event of an LLM call named `name` with `request_json`
/// (`{"headers": {...}, "content": ...}`; credential headers never reach
/// events) and writes its handle to `*out_llm`.
///
/// `options_json` (NULL for none): `parent`, `attributes`, `data`,
/// `metadata`, `model_name`.
///
/// # Safety
/// Pointers are NULL or valid as documented in the header conventions.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_llm_start(
    stack: *const NemoRelayStack,
    name: *const c_char,
    request_json: *const c_char,
    options_json: *const c_char,
    out_llm: *mut *mut NemoRelayLlm,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (all blocks): pointers are valid per the function contract.
        let out = unsafe { out_slot(out_llm, "out_llm") }?;
        let name = unsafe { str_arg(name, "name") }?;
        let request = llm_request(unsafe { json_arg(request_json, "request_json") }?)?;
        let options = unsafe { options_arg::<CallJson>(options_json) }?;
        let options = options.into_core(unsafe { stack_arg(stack) }?)?;
        let handle = run(Runtime::global().llm_call_start(name, &request, options))?;
        out.write(into_boxed_handle::<NemoRelayLlm>(handle));
        Ok(())
    })
}

/// Emits the success end event of `llm` with `response_json`.
/// `options_json`: `metadata`, `timestamp_us`.
///
/// # Safety
/// Pointers are NULL or valid as documented in the header conventions.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_llm_end(
    stack: *const NemoRelayStack,
    llm: *const NemoRelayLlm,
    response_json: *const c_char,
    options_json: *const c_char,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (all blocks): pointers are valid per the function contract.
        let handle = unsafe { handle_arg(llm, "llm") }?;
        let response = unsafe { json_arg(response_json, "response_json") }?;
        end(
            handle,
            &response,
            unsafe { stack_arg(stack) }?,
            options_json,
        )
    })
}

/// Emits the failure end event of `llm` with `message` as the description.
///
/// # Safety
/// Pointers are NULL or valid as documented in the header conventions.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_llm_fail(
    stack: *const NemoRelayStack,
    llm: *const NemoRelayLlm,
    message: *const c_char,
    options_json: *const c_char,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (all blocks): pointers are valid per the function contract.
        let handle = unsafe { handle_arg(llm, "llm") }?;
        let message = unsafe { str_arg(message, "message") }?;
        fail(handle, message, unsafe { stack_arg(stack) }?, options_json)
    })
}

/// Writes the LLM call's uuid to `*out_uuid`.
///
/// # Safety
/// `llm` is NULL or live; `out_uuid` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_llm_uuid(
    llm: *const NemoRelayLlm,
    out_uuid: *mut *mut c_char,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (all blocks): per the function contract.
        let out = unsafe { out_slot(out_uuid, "out_uuid") }?;
        out.write(uuid_text(unsafe { handle_arg(llm, "llm") }?)?);
        Ok(())
    })
}

/// Writes a JSON description of the LLM call to `*out_json`.
///
/// # Safety
/// `llm` is NULL or live; `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_llm_json(
    llm: *const NemoRelayLlm,
    out_json: *mut *mut c_char,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (all blocks): per the function contract.
        let out = unsafe { out_slot(out_json, "out_json") }?;
        out.write(json_to_c(&describe(unsafe { handle_arg(llm, "llm") }?))?);
        Ok(())
    })
}

/// Releases an LLM handle. NULL is a no-op; freeing does not end the call.
///
/// # Safety
/// `llm` is NULL or a live LLM handle that is not used again.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_llm_free(llm: *mut NemoRelayLlm) {
    // SAFETY: per the function contract.
    ffi_value!({ unsafe { free_boxed(llm) } })
}

/// Parses the `{"headers", "content"}` request form.
pub(crate) fn llm_request(value: Json) -> FfiResult<LlmRequest> {
    Ok(LlmRequest::from_json(value)?)
}

fn end(
    handle: &ScopeHandle,
    output: &Json,
    stack: Option<nemo_relay_core::ScopeStack>,
    options_json: *const c_char,
) -> FfiResult<()> {
    // SAFETY: `options_json` comes straight from the exported function.
    let options = unsafe { options_arg::<EndJson>(options_json) }?.into_core(stack);
    run(Runtime::global().call_end(handle, output, options))?;
    Ok(())
}

fn fail(
    handle: &ScopeHandle,
    message: &str,
    stack: Option<nemo_relay_core::ScopeStack>,
    options_json: *const c_char,
) -> FfiResult<()> {
    // SAFETY: `options_json` comes straight from the exported function.
    let options = unsafe { options_arg::<EndJson>(options_json) }?.into_core(stack);
    Runtime::global().call_failed(handle, &RelayError::callback(message), options)?;
    Ok(())
}
