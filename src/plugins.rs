//! Plugins from JS: validate, initialize and clear configuration documents,
//! list kinds, and register JS plugin kinds (see [`crate::plugin_kind`]).
//!
//! A document crosses either as a JS object in the documented snake_case
//! shape (`{version, components, policy}`) or as the path of a `.toml` /
//! `.json` file. Reports come back as plain objects, serialized from the
//! core's report types, so the diagnostics JS sees carry exactly the core's
//! fields (`level`, `code`, `message`, `component`, `kind`, `field`).
//!
//! Every entry point goes through [`host`], which registers the
//! `observability` kind on first use: the addon's kinds are the core's
//! built-ins plus the exporters, whichever function JS calls first.

use std::sync::{Arc, Once};

use napi::sys::ValueType as T;
use napi_derive::napi;
use nemo_relay_core::plugin::{PluginConfig, PluginHost};
use nemo_relay_core::{Json, RelayError};

use crate::convert;
use crate::js::{boundary, Arg, Js, Raw, Result, Value};

/// The process-wide plugin host, with the `observability` kind registered.
pub(crate) fn host() -> &'static PluginHost {
    static OBSERVABILITY: Once = Once::new();
    let host = PluginHost::global();
    OBSERVABILITY.call_once(|| {
        // Fails only if the kind is already registered (by another binding
        // in this process), which is what we want anyway.
        let _ = nemo_relay_observability::plugin::register_kind(host);
    });
    host
}

/// A document argument: a file path, or the document itself.
fn document(js: Js, config: Value) -> Result<PluginConfig> {
    if js.type_of(config)? == T::napi_string {
        return PluginConfig::load(js.to_string(config)?);
    }
    let doc = convert::to_json(js, config, "the plugin configuration")?;
    Ok(PluginConfig::from_json(&doc))
}

/// A report (serialized by the core) as a new JS object.
fn report_to_js(js: Js, report: serde_json::Result<Json>) -> Result<Value> {
    let json = report.map_err(|e| RelayError::Internal(e.to_string()))?;
    convert::to_js(js, &json)
}

/// Check a document; changes nothing. Returns `{ diagnostics }`.
/// Errors: `ERR_RELAY_NOT_FOUND` for an unreadable file,
/// `ERR_RELAY_INVALID_ARGUMENT` for a file that is not TOML/JSON.
#[napi(ts_args_type = "config: string | object", ts_return_type = "unknown")]
pub fn plugins_validate(env: napi::Env, config: Arg) -> napi::Result<Raw> {
    boundary(env.raw(), |js| {
        let doc = document(js, config.0)?;
        report_to_js(js, serde_json::to_value(host().validate(&doc))).map(Raw)
    })
}

/// Validate, then activate the document in place of the active one
/// (atomically: on failure the previous configuration stays). Returns the
/// activation report.
#[napi(ts_args_type = "config: string | object", ts_return_type = "unknown")]
pub fn plugins_initialize(env: napi::Env, config: Arg) -> napi::Result<Raw> {
    boundary(env.raw(), |js| {
        let doc = document(js, config.0)?;
        let report = host().initialize(&doc)?;
        report_to_js(js, serde_json::to_value(report)).map(Raw)
    })
}

/// Remove everything the active configuration installed; `false` if none
/// was active.
#[napi]
pub fn plugins_clear(env: napi::Env) -> napi::Result<bool> {
    boundary(env.raw(), |_| host().clear())
}

/// The report of the active configuration, or `null`.
#[napi(ts_return_type = "unknown")]
pub fn plugins_active_report(env: napi::Env) -> napi::Result<Raw> {
    boundary(env.raw(), |js| match host().active_report() {
        Some(r) => report_to_js(js, serde_json::to_value(r)).map(Raw),
        None => js.null().map(Raw),
    })
}

/// One registered plugin kind.
#[napi(object)]
pub struct PluginKindInfo {
    pub kind: String,
    pub description: String,
}

/// Every registered kind, sorted by name.
#[napi]
pub fn plugins_kinds() -> Vec<PluginKindInfo> {
    host()
        .kinds()
        .into_iter()
        .map(|(kind, description)| PluginKindInfo { kind, description })
        .collect()
}

/// Register a JS plugin kind. `validate(config)` returns the check
/// operations the facade recorded; `register(config, kind, instance)` runs
/// with the component's context lent to `pluginContext*` (see
/// [`crate::plugin_kind`]). Errors: `ERR_RELAY_ALREADY_EXISTS`.
#[napi(
    ts_args_type = "kind: string, description: string, allowsMultiple: boolean, validate: (config: unknown) => unknown, register: (config: unknown, kind: string, instance: number) => void"
)]
pub fn plugins_register_kind(
    env: napi::Env,
    kind: String,
    description: String,
    allows_multiple: bool,
    validate: Arg,
    register: Arg,
) -> napi::Result<()> {
    boundary(env.raw(), |js| {
        let k = crate::plugin_kind::js_kind(js, kind, validate.0, register.0)?
            .describe(description)
            .allow_multiple(allows_multiple);
        host().register_kind(Arc::new(k))
    })
}

/// Remove a kind (later validations and activations only); `false` if
/// there was none by that name.
#[napi]
pub fn plugins_deregister_kind(kind: String) -> bool {
    host().deregister_kind(&kind)
}
