//! The plugin host: validate, activate and clear configuration documents.
//!
//! A document is `{"version": 1, "components": [{"kind", "enabled",
//! "config"}], "policy": {...}}` (the same document as `plugins.toml`); the
//! `_file` variants read a `.toml` or `.json` file instead. All of them act
//! on the plugin host of the process-wide runtime.
//!
//! | function | result JSON |
//! |---|---|
//! | `nemo_relay_plugin_validate[_file]` | `{"has_errors": bool, "diagnostics": [diagnostic]}` |
//! | `nemo_relay_plugin_initialize[_file]` | activation report: `{"components": [{"index", "kind", "enabled", "registrations": [[family, name]], "diagnostics"}], "diagnostics"}` |
//! | `nemo_relay_plugin_active_report` | the active activation report, or `null` |
//! | `nemo_relay_plugin_kinds` | `[{"kind", "description"}]`, sorted |
//!
//! A diagnostic is `{"level": "warning"|"error", "code", "message",
//! "component"?, "kind"?, "field"?}`.
//!
//! Hooks of plugin kinds (C ones included) run inside `_validate` and
//! `_initialize`, on the calling thread. Calling `_initialize` or `_clear`
//! from inside a hook is refused with `INVALID_STATE` (it would wait for
//! itself).

use std::ffi::c_char;

use nemo_relay_core::plugin::{PluginConfig, PluginHost};

use crate::bridge::plugin_kind::in_plugin_hook;
use crate::conventions::args::{out_slot, str_arg};
use crate::conventions::error::{FfiError, FfiResult};
use crate::conventions::json::{json_arg, json_to_c};
use crate::conventions::status::NemoRelayStatus;

/// Checks the configuration document `config_json` without changing
/// anything and writes the diagnostics to `*out_json` (see the module
/// table). Problems with the document are diagnostics, not errors: the call
/// fails only when `config_json` is not JSON at all.
///
/// Errors: `INVALID_JSON`, `NULL_POINTER`, `INVALID_UTF8`.
///
/// # Safety
/// Pointers are NULL or valid as documented in the header conventions.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_plugin_validate(
    config_json: *const c_char,
    out_json: *mut *mut c_char,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (all blocks): per the function contract.
        let out = unsafe { out_slot(out_json, "out_json") }?;
        let config = PluginConfig::from_json(&unsafe { json_arg(config_json, "config_json") }?);
        out.write(validation_json(&config)?);
        Ok(())
    })
}

/// `nemo_relay_plugin_validate` for a file: `path` ends in `.json` (JSON)
/// or anything else (TOML).
///
/// Errors: `NOT_FOUND` (unreadable file), `INVALID_ARGUMENT` (the file is
/// not valid TOML/JSON), `NULL_POINTER`, `INVALID_UTF8`.
///
/// # Safety
/// Pointers are NULL or valid as documented in the header conventions.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_plugin_validate_file(
    path: *const c_char,
    out_json: *mut *mut c_char,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (all blocks): per the function contract.
        let out = unsafe { out_slot(out_json, "out_json") }?;
        let config = PluginConfig::load(unsafe { str_arg(path, "path") }?)?;
        out.write(validation_json(&config)?);
        Ok(())
    })
}

/// Validates `config_json`, then activates it in place of the active
/// configuration, and writes the activation report to `*out_json`.
///
/// One transaction: on any failure (error diagnostics, a register hook
/// failing, a name conflict) nothing changes and the previous configuration
/// stays active; the last error then lists the error diagnostics or names
/// the failing component.
///
/// Errors: `INVALID_ARGUMENT` (error diagnostics), `CALLBACK_FAILED` (a C
/// register hook failed), `ALREADY_EXISTS`, `INVALID_STATE` (called from
/// inside a plugin hook), `SHUT_DOWN` (the configuration registers a
/// subscriber after `nemo_relay_shutdown`), `INVALID_JSON`, `NULL_POINTER`,
/// `INVALID_UTF8`.
///
/// # Safety
/// Pointers are NULL or valid as documented in the header conventions.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_plugin_initialize(
    config_json: *const c_char,
    out_json: *mut *mut c_char,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (all blocks): per the function contract.
        let out = unsafe { out_slot(out_json, "out_json") }?;
        let config = PluginConfig::from_json(&unsafe { json_arg(config_json, "config_json") }?);
        out.write(initialize(&config)?);
        Ok(())
    })
}

/// `nemo_relay_plugin_initialize` for a `.toml` or `.json` file (as
/// `nemo_relay_plugin_validate_file`).
///
/// # Safety
/// Pointers are NULL or valid as documented in the header conventions.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_plugin_initialize_file(
    path: *const c_char,
    out_json: *mut *mut c_char,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (all blocks): per the function contract.
        let out = unsafe { out_slot(out_json, "out_json") }?;
        let config = PluginConfig::load(unsafe { str_arg(path, "path") }?)?;
        out.write(initialize(&config)?);
        Ok(())
    })
}

/// Removes everything the active configuration installed. Writes whether
/// one was active to `*out_was_active` (which may be NULL).
///
/// Errors: `INVALID_STATE` (called from inside a plugin hook).
///
/// # Safety
/// `out_was_active` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_plugin_clear(out_was_active: *mut bool) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (both blocks): per the function contract.
        if let Some(out) = unsafe { out_was_active.as_mut() } {
            *out = false;
        }
        refuse_inside_hook("nemo_relay_plugin_clear")?;
        let was_active = PluginHost::global().clear()?;
        if let Some(out) = unsafe { out_was_active.as_mut() } {
            *out = was_active;
        }
        Ok(())
    })
}

/// Writes the activation report of the active configuration to
/// `*out_json`, or `null` when none is active.
///
/// # Safety
/// `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_plugin_active_report(
    out_json: *mut *mut c_char,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY: per the function contract.
        let out = unsafe { out_slot(out_json, "out_json") }?;
        out.write(json_to_c(&PluginHost::global().active_report())?);
        Ok(())
    })
}

/// Writes every registered plugin kind (built-in and registered through
/// any binding) as `[{"kind", "description"}]`, sorted by kind, to
/// `*out_json`.
///
/// # Safety
/// `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_plugin_kinds(out_json: *mut *mut c_char) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY: per the function contract.
        let out = unsafe { out_slot(out_json, "out_json") }?;
        let kinds: Vec<_> = PluginHost::global()
            .kinds()
            .into_iter()
            .map(
                |(kind, description)| serde_json::json!({"kind": kind, "description": description}),
            )
            .collect();
        out.write(json_to_c(&kinds)?);
        Ok(())
    })
}

fn validation_json(config: &PluginConfig) -> FfiResult<*mut c_char> {
    let report = PluginHost::global().validate(config);
    json_to_c(&serde_json::json!({
        "has_errors": report.has_errors(),
        "diagnostics": report.diagnostics,
    }))
}

fn initialize(config: &PluginConfig) -> FfiResult<*mut c_char> {
    refuse_inside_hook("nemo_relay_plugin_initialize")?;
    json_to_c(&PluginHost::global().initialize(config)?)
}

fn refuse_inside_hook(function: &str) -> FfiResult<()> {
    // A teardown runs outside the hook guard, but inside the core's
    // mutation: both mean "called from inside a plugin hook".
    if in_plugin_hook() || PluginHost::mutating_here() {
        return Err(FfiError::new(
            NemoRelayStatus::InvalidState,
            format!(
                "{function} cannot be called from inside a plugin hook (it would wait for itself)"
            ),
        ));
    }
    Ok(())
}
