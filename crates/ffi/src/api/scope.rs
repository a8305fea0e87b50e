//! Scopes and marks.
//!
//! A scope (agent, function, retriever, ...) brackets work: pushing it emits
//! a start event, popping it an end event, and everything started in between
//! on the same stack is parented to it. A mark is a point-in-time event under
//! the current scope.

use std::ffi::c_char;

use nemo_relay_core::{Runtime, ScopeHandle};

use crate::api::constants::ScopeTypeArg;
use crate::bridge::handles::{handle_arg, stack_arg, NemoRelayScope, NemoRelayStack};
use crate::bridge::options::{options_arg, MarkJson, PopJson, PushJson};
use crate::conventions::args::{enum_arg, out_slot, str_arg};
use crate::conventions::handle::{free_boxed, into_boxed_handle};
use crate::conventions::json::json_to_c;
use crate::conventions::status::NemoRelayStatus;
use crate::conventions::strings::alloc_c_string;

/// Opens a scope named `name` of type `scope_type` (a
/// `NEMO_RELAY_SCOPE_TYPE_*` value) on `stack` (NULL: current stack), emits
/// its start event and writes its handle to `*out_scope`.
///
/// `options_json` (NULL for none): `parent`, `attributes`, `input` (start
/// event payload), `data` (kept on the handle, not emitted), `metadata`
/// (object), `timestamp_us`.
///
/// Errors: `NULL_POINTER`, `INVALID_UTF8`, `INVALID_JSON` (options),
/// `INVALID_ARGUMENT` (empty name, unknown scope type or attribute,
/// non-object metadata).
///
/// # Safety
/// Pointers are NULL or valid as documented in the header conventions.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_scope_push(
    stack: *const NemoRelayStack,
    name: *const c_char,
    scope_type: i32,
    options_json: *const c_char,
    out_scope: *mut *mut NemoRelayScope,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (all blocks): pointers are valid per the function contract.
        let out = unsafe { out_slot(out_scope, "out_scope") }?;
        let name = unsafe { str_arg(name, "name") }?;
        let ScopeTypeArg(scope_type) = enum_arg(scope_type, "scope_type")?;
        let options = unsafe { options_arg::<PushJson>(options_json) }?;
        let options = options.into_core(unsafe { stack_arg(stack) }?)?;
        let handle = Runtime::global().push_scope(name, scope_type, options)?;
        out.write(into_boxed_handle::<NemoRelayScope>(handle));
        Ok(())
    })
}

/// Closes `scope`, which must be the innermost open scope of `stack` (NULL:
/// current stack), and emits its end event. Scope-local registrations owned
/// by it are removed. The handle stays valid (for its uuid) until freed.
///
/// `options_json` (NULL for none): `output` (end payload), `metadata`
/// (merged over the start metadata), `timestamp_us`.
///
/// Errors: `SCOPE_NOT_ON_TOP` (inner scopes still open), `NOT_FOUND`
/// (already popped), `FOREIGN_SCOPE` (another stack's scope), `ROOT_SCOPE`,
/// `NULL_POINTER`, `INVALID_JSON`, `INVALID_ARGUMENT`. Nothing changes on
/// error.
///
/// # Safety
/// Pointers are NULL or valid as documented in the header conventions.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_scope_pop(
    stack: *const NemoRelayStack,
    scope: *const NemoRelayScope,
    options_json: *const c_char,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (all blocks): pointers are valid per the function contract.
        let handle = unsafe { handle_arg(scope, "scope") }?;
        let options = unsafe { options_arg::<PopJson>(options_json) }?;
        let options = options.into_core(unsafe { stack_arg(stack) }?);
        Runtime::global().pop_scope(handle, options)?;
        Ok(())
    })
}

/// Writes the scope's uuid (36 characters) to `*out_uuid`; free it with
/// `nemo_relay_string_free`.
///
/// # Safety
/// `scope` is NULL or live; `out_uuid` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_scope_uuid(
    scope: *const NemoRelayScope,
    out_uuid: *mut *mut c_char,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (all blocks): per the function contract.
        let out = unsafe { out_slot(out_uuid, "out_uuid") }?;
        let handle = unsafe { handle_arg(scope, "scope") }?;
        out.write(uuid_text(handle)?);
        Ok(())
    })
}

/// Writes a JSON description of the scope to `*out_json`: `uuid`,
/// `parent_uuid`, `name`, `scope_type`, `attributes` (names), `data`,
/// `metadata`. Free it with `nemo_relay_string_free`.
///
/// # Safety
/// `scope` is NULL or live; `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_scope_json(
    scope: *const NemoRelayScope,
    out_json: *mut *mut c_char,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (all blocks): per the function contract.
        let out = unsafe { out_slot(out_json, "out_json") }?;
        let handle = unsafe { handle_arg(scope, "scope") }?;
        out.write(json_to_c(&describe(handle))?);
        Ok(())
    })
}

/// Releases a scope handle. NULL is a no-op. Freeing does not pop the scope.
///
/// # Safety
/// `scope` is NULL or a live scope handle that is not used again.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_scope_free(scope: *mut NemoRelayScope) {
    // SAFETY: per the function contract.
    ffi_value!({ unsafe { free_boxed(scope) } })
}

/// Emits a mark named `name` under the innermost scope of `stack` (NULL:
/// current stack). Marks are only built when someone subscribes.
///
/// `options_json` (NULL for none): `parent`, `data` (payload), `data_schema`
/// (`{"name", "version"}`), `metadata`, `category` (scope type name),
/// `category_profile` (object), `timestamp_us`.
///
/// # Safety
/// Pointers are NULL or valid as documented in the header conventions.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_mark(
    stack: *const NemoRelayStack,
    name: *const c_char,
    options_json: *const c_char,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (all blocks): pointers are valid per the function contract.
        let name = unsafe { str_arg(name, "name") }?;
        let options = unsafe { options_arg::<MarkJson>(options_json) }?;
        let options = options.into_core(unsafe { stack_arg(stack) }?)?;
        Runtime::global().mark(name, options)?;
        Ok(())
    })
}

/// The uuid of a scope-like handle as a caller-owned string.
pub(crate) fn uuid_text(handle: &ScopeHandle) -> crate::conventions::error::FfiResult<*mut c_char> {
    alloc_c_string(handle.uuid().to_string().as_bytes())
}

/// The JSON description shared by scope, tool and LLM handles.
pub(crate) fn describe(handle: &ScopeHandle) -> serde_json::Value {
    serde_json::json!({
        "uuid": handle.uuid(),
        "parent_uuid": handle.parent_uuid(),
        "name": handle.name(),
        "scope_type": handle.scope_type().as_str(),
        "attributes": handle.attributes().names().collect::<Vec<_>>(),
        "data": handle.data(),
        "metadata": handle.metadata(),
        "tool_call_id": handle.tool_call_id(),
        "model_name": handle.model_name(),
    })
}
