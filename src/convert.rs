//! JSON values across the boundary.
//!
//! Payloads (tool arguments, results, LLM requests, event data) are JSON in
//! the core. Values follow `JSON.stringify`'s rules (that is what converts
//! objects and arrays): `toJSON` is honoured (a `Date` becomes its ISO
//! string), `undefined` and functions inside objects are omitted, `NaN`
//! and `±Infinity` become `null` (at any depth). What JSON cannot
//! represent is refused:
//!
//! | JS | result |
//! |---|---|
//! | cycles, BigInt anywhere | **error** |
//! | a top-level BigInt, symbol or function | **error** |
//! | a top-level `undefined`, `NaN` or `±Infinity` | `null` |
//!
//! Errors are [`RelayError::InvalidArgument`] (`ERR_RELAY_INVALID_ARGUMENT`
//! in JS) and say what was being converted.

use napi::sys::ValueType as T;
use nemo_relay_core::{Json, RelayError};
use serde_json::Number;

use crate::js::{Js, Result, Value};

/// A JS value as JSON; `what` names it in error messages.
///
/// Primitives are read directly. Objects and arrays go through
/// `JSON.stringify` and serde: one call into V8 instead of several per
/// property, which is what dominates a small tool call otherwise.
pub(crate) fn to_json(js: Js, v: Value, what: &str) -> Result<Json> {
    match js.type_of(v)? {
        T::napi_undefined | T::napi_null => Ok(Json::Null),
        T::napi_boolean => Ok(Json::Bool(js.to_bool(v)?)),
        T::napi_number => Ok(number(js.to_f64(v)?)),
        T::napi_string => Ok(Json::String(js.to_string(v)?)),
        T::napi_object => {
            let (stringify, _) = crate::realm::json_functions(js)?;
            let text = match js.call(stringify, &[v]) {
                Ok(t) => t,
                // `JSON.stringify` throws a TypeError for cycles and BigInts.
                // A RangeError when it runs out of stack on a deep value.
                Err(RelayError::Callback { message, .. }) => {
                    return Err(if message.contains("Maximum call stack size exceeded") {
                        too_deep(what)
                    } else {
                        RelayError::invalid(format!("{what} is not JSON: {message}"))
                    })
                }
                Err(e) => return Err(e),
            };
            if js.type_of(text)? != T::napi_string {
                return Ok(Json::Null); // e.g. an object whose toJSON returns undefined
            }
            parse(&js.to_string(text)?, what)
        }
        T::napi_bigint => Err(RelayError::invalid(format!("{what} is not JSON: a BigInt"))),
        T::napi_symbol => Err(RelayError::invalid(format!("{what} is not JSON: a symbol"))),
        T::napi_function => Err(RelayError::invalid(format!(
            "{what} is not JSON: a function"
        ))),
        T::napi_external => Err(RelayError::invalid(format!(
            "{what} is not JSON: a native handle"
        ))),
        other => Err(RelayError::invalid(format!(
            "{what} is not JSON: a value of type {other}"
        ))),
    }
}

/// A JS number as JSON. NaN and the infinities (`Number::from_f64` has no
/// JSON for them) are null, as JSON.stringify writes them.
fn number(n: f64) -> Json {
    // Integral values within the exact range stay integers, so `1` round-trips
    // as `1` (not `1.0`) in events.
    if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
        return Json::Number(Number::from(n as i64));
    }
    Number::from_f64(n).map_or(Json::Null, Json::Number)
}

/// A JS value as JSON for the record only: the events of a call whose JS
/// stages and callback get the caller's own values (see
/// [`crate::calls::direct`]). Such a call never fails for what JSON cannot
/// represent, since a subscriber must not change what a call accepts or
/// returns: what [`to_json`] refuses is recorded by the facade's
/// `recordableText` hook instead (a BigInt as its decimal string, a cycle
/// as `"[Circular]"`), or, when even that cannot be parsed (nesting too
/// deep), as a string that says why.
pub(crate) fn recorded(js: Js, v: Value, what: &str) -> Result<Json> {
    recorded_exact(js, v, what).map(|(json, _)| json)
}

/// [`recorded`], and whether the record is exact (JSON could represent
/// `v`: nothing stands in for anything).
pub(crate) fn recorded_exact(js: Js, v: Value, what: &str) -> Result<(Json, bool)> {
    let reason = match to_json(js, v, what) {
        Err(RelayError::InvalidArgument(reason)) => reason,
        other => return other.map(|json| (json, true)),
    };
    let Some(lenient) = crate::realm::hook(js, c"recordableText")? else {
        return Err(RelayError::InvalidArgument(reason));
    };
    let text = js.call(lenient, &[v])?;
    let parsed = js.with_str(text, |t| parse(t, what).ok())?;
    let json = parsed.unwrap_or_else(|| Json::String(format!("[not recorded: {reason}]")));
    Ok((json, false))
}

/// A JSON value as a new JS value (objects and arrays through `JSON.parse`).
pub(crate) fn to_js(js: Js, v: &Json) -> Result<Value> {
    match v {
        Json::Null => js.null(),
        Json::Bool(b) => js.boolean(*b),
        Json::Number(n) => js.number(n.as_f64().unwrap_or(f64::NAN)),
        Json::String(s) => js.string(s),
        Json::Array(_) | Json::Object(_) => {
            let (_, parse) = crate::realm::json_functions(js)?;
            let text = serde_json::to_string(v).map_err(|e| RelayError::Internal(e.to_string()))?;
            js.call(parse, &[js.string(&text)?])
        }
    }
}

/// An optional JSON argument: `undefined` and `null` are "none".
pub(crate) fn optional(js: Js, v: Value, what: &str) -> Result<Option<Json>> {
    match js.type_of(v)? {
        T::napi_undefined | T::napi_null => Ok(None),
        _ => to_json(js, v, what).map(Some),
    }
}

/// JSON text made by the facade (`lib/json.js`), parsed. `what` names it in
/// error messages. Anything but a string is refused.
pub(crate) fn from_text(js: Js, v: Value, what: &str) -> Result<Json> {
    if js.type_of(v)? != T::napi_string {
        return Err(RelayError::invalid(format!(
            "{what} must arrive as JSON text"
        )));
    }
    js.with_str(v, |text| parse(text, what))?
}

/// JSON text from `JSON.stringify`, parsed. It escapes a lone surrogate
/// (text cut in the middle of an emoji, common in LLM output) as, say,
/// `\ud83d`, which serde_json refuses: Rust strings are UTF-8. Such a string becomes
/// U+FFFD, as a top-level string crossing the boundary does. Only text that
/// failed to parse is scanned, so the common case pays nothing.
fn parse(text: &str, what: &str) -> Result<Json> {
    serde_json::from_str(text).or_else(|e| match without_lone_surrogates(text) {
        Some(clean) => serde_json::from_str(&clean).map_err(|e| parse_error(e, what)),
        None => Err(parse_error(e, what)),
    })
}

/// `text` with every escaped lone surrogate (`\uD800`–`\uDFFF` not part of
/// a high-low pair) replaced by `\ufffd`, or `None` if it has none.
fn without_lone_surrogates(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let hex4 = |at: usize| -> Option<u16> {
        let digits = std::str::from_utf8(b.get(at..at + 4)?).ok()?;
        u16::from_str_radix(digits, 16).ok()
    };
    let escape_at = |at: usize| -> Option<u16> {
        (b.get(at) == Some(&b'\\') && b.get(at + 1) == Some(&b'u'))
            .then(|| hex4(at + 2))
            .flatten()
    };
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        let Some(unit) = escape_at(i) else {
            i += 2; // any other escape, `\\` included
            continue;
        };
        let lone = match unit {
            0xD800..=0xDBFF => {
                if matches!(escape_at(i + 6), Some(0xDC00..=0xDFFF)) {
                    i += 12; // a pair: one character, left as it is
                    continue;
                }
                true
            }
            0xDC00..=0xDFFF => true,
            _ => false,
        };
        if lone {
            let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
            o.push_str(&text[copied..i]);
            o.push_str("\\ufffd");
            copied = i + 6;
        }
        i += 6;
    }
    let mut out = out?;
    out.push_str(&text[copied..]);
    Some(out)
}

/// Text `JSON.stringify` made fails to parse for one reason only in
/// practice: serde_json's nesting limit. Say that, not "not JSON": the value
/// is JSON, just deeper than we accept.
fn parse_error(e: serde_json::Error, what: &str) -> RelayError {
    if e.to_string().starts_with("recursion limit exceeded") {
        return too_deep(what);
    }
    RelayError::invalid(format!("{what} is not JSON: {e}"))
}

fn too_deep(what: &str) -> RelayError {
    RelayError::invalid(format!(
        "{what} is nested too deeply (more than 127 levels of arrays and objects)"
    ))
}
