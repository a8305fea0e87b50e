//! Errors across the boundary, both ways.
//!
//! * **JS → Rust.** A value thrown by (or rejected from) a JS callback becomes
//!   [`RelayError::Callback`] with the error's `message` and `name`, and the
//!   thrown value itself as the payload (a [`JsRef`]). It crosses the core's
//!   pipeline like any other failure: the end event records it (`ERROR`,
//!   `exception.type`), sanitizers fail open, and so on.
//! * **Rust → JS.** [`to_js`] gives a callback error's original value back,
//!   so `await relay.toolCall(...)` rejects with exactly the object the tool
//!   threw (same class, stack, `cause`, custom fields). Every other error is
//!   built by the facade's `makeError` hook as a `RelayError` subclass whose
//!   `code` is `ERR_RELAY_` + the core's stable code in upper case
//!   (`guardrail_rejected` → `ERR_RELAY_GUARDRAIL_REJECTED`).

use std::sync::Arc;

use napi::sys;
use nemo_relay_core::RelayError;

use crate::js::{Js, Value};
use crate::js_ref::JsRef;
use crate::realm;

/// The `code` a JS error carries for `err`.
pub(crate) fn code(err: &RelayError) -> String {
    format!("ERR_RELAY_{}", err.code().as_str().to_ascii_uppercase())
}

/// A thrown JS value as a callback error carrying that value.
pub(crate) fn from_thrown(js: Js, thrown: Value) -> RelayError {
    let (message, exception_type) = describe(js, thrown);
    RelayError::Callback {
        message,
        exception_type,
        payload: JsRef::new(js, thrown)
            .ok()
            .map(|r| Arc::new(r) as nemo_relay_core::error::ErrorPayload),
    }
}

/// Message and class name of a thrown value, without ever throwing.
fn describe(js: Js, thrown: Value) -> (String, Option<String>) {
    let read = |key: &std::ffi::CStr| -> Option<String> {
        let v = js.get_named(thrown, key).ok()?;
        (js.type_of(v).ok()? == sys::ValueType::napi_string)
            .then(|| js.to_string(v).ok())
            .flatten()
    };
    if js.is_error(thrown).unwrap_or(false) {
        let message = read(c"message").unwrap_or_default();
        return (message, read(c"name"));
    }
    let message = match js.type_of(thrown) {
        Ok(sys::ValueType::napi_symbol) => "a symbol was thrown".to_owned(),
        _ => js
            .coerce_string(thrown)
            .unwrap_or_else(|_| "a value that cannot be printed was thrown".to_owned()),
    };
    (message, None)
}

/// The JS value to throw or reject with for `err`.
pub(crate) fn to_js(js: Js, err: &RelayError) -> Value {
    if let Some(original) = err
        .payload()
        .and_then(|p| p.downcast_ref::<JsRef>())
        .and_then(|r| r.value(js).ok())
    {
        return original;
    }
    match relay_error(js, err) {
        Ok(v) => v,
        // Building the error failed (a dying environment): throw its text.
        Err(_) => js.string(&err.to_string()).unwrap_or(std::ptr::null_mut()),
    }
}

/// Build a `RelayError` (subclass) through the facade's `makeError(code,
/// message, details)` hook, or a plain `Error` with a `code` without it.
fn relay_error(js: Js, err: &RelayError) -> crate::js::Result<Value> {
    let code = js.string(&code(err))?;
    // The class and code already say "invalid argument": the message is
    // what is wrong, as the facade's own argument errors say it.
    let message = match err {
        RelayError::InvalidArgument(m) => js.string(m)?,
        other => js.string(&other.to_string())?,
    };
    let details = js.object()?;
    if let RelayError::GuardrailRejected { guardrail, reason } = err {
        js.set_named(details, c"guardrail", js.string(guardrail)?)?;
        js.set_named(details, c"reason", js.string(reason)?)?;
    }
    if let RelayError::Callback {
        exception_type: Some(t),
        ..
    } = err
    {
        js.set_named(details, c"exceptionType", js.string(t)?)?;
    }
    if let Some(make) = realm::hook(js, c"makeError")? {
        return js.call(make, &[code, message, details]);
    }
    let mut e = std::ptr::null_mut();
    // SAFETY: valid env and string values.
    js.check(unsafe { sys::napi_create_error(js.0, code, message, &mut e) })?;
    Ok(e)
}
