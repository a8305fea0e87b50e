//! The ATIF trajectory exporter: agent runs as ATIF-v1.7 documents.
//!
//! ```text
//! nemo_relay_atif_exporter_create(options_json, &exporter)
//! nemo_relay_atif_exporter_register(exporter, NULL)   subscribe to the runtime
//! ... run the agent ...
//! nemo_relay_atif_exporter_export(exporter, &json)    flushes, then projects
//! nemo_relay_atif_exporter_clear(exporter)            forget buffered events
//! nemo_relay_atif_exporter_free(exporter)             deregisters
//! ```
//!
//! `options_json` (every key optional): `output_directory` (also write each
//! root agent session to `<dir>/<filename_template>` when it ends),
//! `filename_template` (default `"{session_id}.json"`), `agent_name`,
//! `agent_version`, `session_id` (which session `_export` returns: a root
//! scope uuid or a root's `session_id` metadata; default the most recent
//! root), `include_raw_events` (bool).
//!
//! The handle may be used from several threads at once.

use std::ffi::c_char;

use nemo_relay_core::Runtime;
use nemo_relay_observability::atif::{AtifConfig, AtifExporter, DEFAULT_NAME};
use nemo_relay_observability::ExportError;

use crate::conventions::args::{opt_str_arg, out_slot};
use crate::conventions::error::{FfiError, FfiResult};
use crate::conventions::handle::{boxed_ref, free_boxed, into_boxed_handle, Boxed, OpaqueHandle};
use crate::conventions::json::{json_to_c, opt_json_arg};
use crate::conventions::status::NemoRelayStatus;

/// An ATIF exporter; see `nemo_relay_atif_exporter_create`.
pub struct NemoRelayAtifExporter {
    _private: [u8; 0],
}
impl OpaqueHandle for NemoRelayAtifExporter {
    type Payload = AtifExporter;
    type Ownership = Boxed;
}

/// Creates an exporter with `options_json` (NULL: defaults) in `*out`.
/// It sees nothing until registered.
///
/// Errors: `INVALID_JSON` (unknown key, wrong type; the message names the
/// field), `INVALID_ARGUMENT` (a value the exporter rejects, such as a
/// `filename_template` without `{session_id}`), `INTERNAL` (the output
/// directory cannot be created), `NULL_POINTER`, `INVALID_UTF8`.
///
/// # Safety
/// Pointers are NULL or valid as documented in the header conventions.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_atif_exporter_create(
    options_json: *const c_char,
    out: *mut *mut NemoRelayAtifExporter,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (all blocks): per the function contract.
        let out = unsafe { out_slot(out, "out") }?;
        let options = unsafe { opt_json_arg(options_json, "options_json") }?;
        let config = match options {
            None | Some(serde_json::Value::Null) => AtifConfig::default(),
            Some(value) => config_from(value)?,
        };
        let exporter = AtifExporter::new(config).map_err(export_error)?;
        out.write(into_boxed_handle::<NemoRelayAtifExporter>(exporter));
        Ok(())
    })
}

/// Subscribes the exporter to the runtime as global subscriber `name`
/// (NULL: `"nemo_relay.atif"`). Two exporters need two names.
///
/// Errors: `ALREADY_EXISTS` (the name is taken, or this exporter is
/// registered already), `SHUT_DOWN` (the exporter or the runtime was shut
/// down), `NULL_POINTER`, `INVALID_UTF8`.
///
/// # Safety
/// Pointers are NULL or valid as documented in the header conventions.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_atif_exporter_register(
    exporter: *const NemoRelayAtifExporter,
    name: *const c_char,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (all blocks): per the function contract.
        let exporter = unsafe { boxed_ref(exporter, "exporter") }?;
        let name = unsafe { opt_str_arg(name, "name") }?.unwrap_or(DEFAULT_NAME);
        let runtime = Runtime::global();
        exporter.register_as(runtime, name).map_err(export_error)
    })
}

/// Delivers every event emitted so far, then writes the trajectory of the
/// configured (or most recent) root agent session as compact ATIF JSON
/// (`"schema_version": "ATIF-v1.7"`, `steps`, ...) to `*out_json`.
///
/// Errors: `NOT_FOUND` (no events buffered, or no such session),
/// `NULL_POINTER`.
///
/// # Safety
/// Pointers are NULL or valid as documented in the header conventions.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_atif_exporter_export(
    exporter: *const NemoRelayAtifExporter,
    out_json: *mut *mut c_char,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (all blocks): per the function contract.
        let out = unsafe { out_slot(out_json, "out_json") }?;
        let exporter = unsafe { boxed_ref(exporter, "exporter") }?;
        let document = exporter.export_value().map_err(export_error)?;
        out.write(json_to_c(&document)?);
        Ok(())
    })
}

/// Forgets every buffered event (the exporter stays registered).
///
/// # Safety
/// `exporter` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_atif_exporter_clear(
    exporter: *const NemoRelayAtifExporter,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY: per the function contract.
        unsafe { boxed_ref(exporter, "exporter") }?.clear();
        Ok(())
    })
}

/// Delivers pending events (so ended sessions are written when
/// `output_directory` is set) and reports the first write error, if any.
///
/// Errors: `INTERNAL` (a trajectory file could not be written).
///
/// # Safety
/// `exporter` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_atif_exporter_flush(
    exporter: *const NemoRelayAtifExporter,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY: per the function contract.
        let exporter = unsafe { boxed_ref(exporter, "exporter") }?;
        exporter.flush().map_err(export_error)
    })
}

/// Deregisters the exporter (waiting for the events already addressed to
/// it) and releases it. NULL is a no-op.
///
/// # Safety
/// `exporter` is NULL or a live handle that is not used again.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_atif_exporter_free(exporter: *mut NemoRelayAtifExporter) {
    // SAFETY: per the function contract.
    ffi_value!({ unsafe { free_boxed(exporter) } })
}

/// Parses the options, telling shape errors (`INVALID_JSON`) from values
/// the exporter rejects (`INVALID_ARGUMENT`): `from_json` reports both
/// alike, with the field path in the message.
fn config_from(value: serde_json::Value) -> FfiResult<AtifConfig> {
    let shape_ok = serde_json::from_value::<AtifConfig>(value.clone()).is_ok();
    AtifConfig::from_json(value).map_err(|err| {
        let status = if shape_ok {
            NemoRelayStatus::InvalidArgument
        } else {
            NemoRelayStatus::InvalidJson
        };
        let at = if err.path.is_empty() {
            String::new()
        } else {
            format!(" at `{}`", err.path)
        };
        FfiError::new(
            status,
            format!("argument `options_json` is invalid{at}: {}", err.message),
        )
    })
}

fn export_error(err: ExportError) -> FfiError {
    let status = match &err {
        // The runtime's own error keeps its status (a name taken, a
        // runtime shut down).
        ExportError::Register(e) => return FfiError::from(e.clone()),
        ExportError::Config(_) => NemoRelayStatus::InvalidArgument,
        ExportError::Export(_) => NemoRelayStatus::NotFound,
        ExportError::Timeout => NemoRelayStatus::Timeout,
        ExportError::ShutDown => NemoRelayStatus::ShutDown,
        _ => NemoRelayStatus::Internal,
    };
    FfiError::new(status, err.to_string())
}
