//! Plugin kinds written in C, and the check handle their validate hook
//! reports through.
//!
//! A kind is two hooks (typedefs `NemoRelayPluginValidateFn` and
//! `NemoRelayPluginRegisterFn`) plus one `user_data` shared by both, under
//! the usual ownership rule: `free_fn(user_data)` runs exactly once, after
//! the kind is deregistered and no hook is running any more, or before
//! `nemo_relay_plugin_register_kind` returns if it fails.
//!
//! Inside the validate hook, `nemo_relay_config_check_*` report findings
//! about the component's `config`. Field paths are relative to `config`
//! (`"headers.x-team"`; `""` or NULL for `config` itself) and come out as
//! `config.<field>` in the diagnostics. `_unsupported` and `_known_fields`
//! follow the document's `policy` (ignore, warn or error), like the
//! built-in kinds.

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use nemo_relay_core::plugin::{ConfigCheck, PluginHost};
use serde::Deserialize;

use crate::bridge::callback::{NemoRelayPluginRegisterFn, NemoRelayPluginValidateFn};
use crate::bridge::lent::with_lent;
use crate::bridge::options::options_arg;
use crate::bridge::plugin_kind::{CPluginKind, NemoRelayConfigCheck};
use crate::conventions::args::{callback_arg, opt_str_arg, str_arg};
use crate::conventions::error::FfiResult;
use crate::conventions::json::json_arg_as;
use crate::conventions::status::NemoRelayStatus;
use crate::conventions::user_data::{NemoRelayFreeFn, UserData};

/// `options_json` of `nemo_relay_plugin_register_kind`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct KindJson {
    description: Option<String>,
    allows_multiple: Option<bool>,
}

/// Registers plugin kind `kind` for every later validation and activation.
///
/// `options_json`: `{"description": str, "allows_multiple": bool}` (both
/// optional; `allows_multiple` defaults to true; false makes a second
/// component of this kind an error diagnostic). `validate` may be NULL (the
/// kind accepts any `config`); `register` is required.
///
/// Errors: `ALREADY_EXISTS` (kind taken, built-in kinds included),
/// `INVALID_ARGUMENT` (empty kind), `INVALID_JSON`, `NULL_POINTER`,
/// `INVALID_UTF8`.
///
/// # Safety
/// Pointers are NULL or valid as documented in the header conventions.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_plugin_register_kind(
    kind: *const c_char,
    options_json: *const c_char,
    validate: NemoRelayPluginValidateFn,
    register: NemoRelayPluginRegisterFn,
    user_data: *mut c_void,
    free_fn: NemoRelayFreeFn,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (all blocks): pointers are valid per the function contract.
        let user_data = Arc::new(unsafe { UserData::adopt(user_data, free_fn) });
        let kind = unsafe { str_arg(kind, "kind") }?.to_owned();
        let options: KindJson = unsafe { options_arg(options_json) }?;
        let register = callback_arg(register, "register")?;
        let c_kind = CPluginKind::new(
            kind,
            options.description.unwrap_or_default(),
            options.allows_multiple.unwrap_or(true),
            validate,
            register,
            user_data,
        );
        PluginHost::global().register_kind(Arc::new(c_kind))?;
        Ok(())
    })
}

/// Removes plugin kind `kind` (any kind, built-in ones included) from later
/// validations and activations; what an active configuration installed
/// stays until it is cleared or replaced. Writes whether the kind existed
/// to `*out_removed` (which may be NULL).
///
/// # Safety
/// Pointers are NULL or valid as documented in the header conventions.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_plugin_deregister_kind(
    kind: *const c_char,
    out_removed: *mut bool,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (all blocks): per the function contract.
        if let Some(out) = unsafe { out_removed.as_mut() } {
            *out = false;
        }
        let kind = unsafe { str_arg(kind, "kind") }?;
        // The kind (and its user_data) is dropped here, outside the host's
        // lock, so a free_fn may call back into the library.
        let removed = PluginHost::global().deregister_kind(kind);
        if let Some(out) = unsafe { out_removed.as_mut() } {
            *out = removed;
        }
        Ok(())
    })
}

/// Reports an error diagnostic (it always blocks activation) with a stable
/// `code` (`"plugin.invalid_type"`, or one of the kind's own) at `field`.
///
/// Errors: `INVALID_STATE` (`check` outlived its validate hook),
/// `NULL_POINTER`, `INVALID_UTF8`.
///
/// # Safety
/// Pointers are NULL or valid as documented in the header conventions.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_config_check_error(
    check: *mut NemoRelayConfigCheck,
    field: *const c_char,
    code: *const c_char,
    message: *const c_char,
) -> NemoRelayStatus {
    // SAFETY: per the function contract.
    ffi_status!({ unsafe { report(check, field, code, message, |c, f, k, m| c.error(f, k, m)) } })
}

/// Reports a warning diagnostic (activation proceeds); as
/// `nemo_relay_config_check_error` otherwise.
///
/// # Safety
/// Pointers are NULL or valid as documented in the header conventions.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_config_check_warn(
    check: *mut NemoRelayConfigCheck,
    field: *const c_char,
    code: *const c_char,
    message: *const c_char,
) -> NemoRelayStatus {
    // SAFETY: per the function contract.
    ffi_status!({ unsafe { report(check, field, code, message, |c, f, k, m| c.warn(f, k, m)) } })
}

/// Reports a value of the right type that this kind does not support
/// (`plugin.unsupported_value`; its level comes from the document's
/// `policy.unsupported_value`, default error).
///
/// # Safety
/// Pointers are NULL or valid as documented in the header conventions.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_config_check_unsupported(
    check: *mut NemoRelayConfigCheck,
    field: *const c_char,
    message: *const c_char,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (all blocks): per the function contract.
        let field = unsafe { opt_str_arg(field, "field") }?.unwrap_or("");
        let message = unsafe { str_arg(message, "message") }?;
        with_check(check, |c| c.unsupported(field, message))
    })
}

/// Reports every key of the object at `path` in `config` (`""` or NULL:
/// `config` itself) that is not in `known_json`, a JSON array of strings
/// (`plugin.unknown_field`; level from `policy.unknown_field`, default
/// warning). A path that is not an object reports nothing.
///
/// Errors: `INVALID_JSON` (`known_json` is not an array of strings),
/// `INVALID_STATE`, `NULL_POINTER`, `INVALID_UTF8`.
///
/// # Safety
/// Pointers are NULL or valid as documented in the header conventions.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_config_check_known_fields(
    check: *mut NemoRelayConfigCheck,
    path: *const c_char,
    known_json: *const c_char,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (all blocks): per the function contract.
        let path = unsafe { opt_str_arg(path, "path") }?.unwrap_or("");
        let known: Vec<String> = unsafe { json_arg_as(known_json, "known_json") }?;
        let known: Vec<&str> = known.iter().map(String::as_str).collect();
        with_check(check, |c| c.known_fields(path, &known))
    })
}

/// The shared body of `_error` and `_warn`.
///
/// # Safety
/// Pointers are NULL or valid as documented in the header conventions.
unsafe fn report(
    check: *mut NemoRelayConfigCheck,
    field: *const c_char,
    code: *const c_char,
    message: *const c_char,
    push: fn(&mut ConfigCheck<'_>, &str, &str, String),
) -> FfiResult<()> {
    // SAFETY (all blocks): forwarded from the exported function's contract.
    let field = unsafe { opt_str_arg(field, "field") }?.unwrap_or("");
    let code = unsafe { str_arg(code, "code") }?;
    let message = unsafe { str_arg(message, "message") }?;
    with_check(check, |c| push(c, field, code, message.to_owned()))
}

fn with_check(
    check: *mut NemoRelayConfigCheck,
    f: impl FnOnce(&mut ConfigCheck<'_>),
) -> FfiResult<()> {
    with_lent(check.cast_const(), "check", |target| {
        // SAFETY: the loan is open, so `target` is the `ConfigCheck` the
        // running validate hook was lent, and the table lock gives this call
        // exclusive use of it.
        f(unsafe { &mut *target.cast::<ConfigCheck<'_>>() });
        Ok(())
    })
}
