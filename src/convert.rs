//! JSON values across the boundary.
//!
//! Payloads (tool arguments, results, LLM requests, event data) are JSON in
//! the core. These two functions convert directly between V8 values and
//! `serde_json::Value`, following `JSON.stringify`'s rules where they are
//! unambiguous and refusing what JSON cannot represent:
//!
//! | JS | JSON |
//! |---|---|
//! | `null`, booleans, strings, arrays, plain objects | the same |
//! | finite numbers | numbers (integral values stay integers) |
//! | `undefined` | omitted in objects, `null` in arrays and at the top |
//! | `NaN`, `±Infinity`, BigInt, symbols, functions, `Date` | **error** |
//! | cycles, nesting deeper than 256 | **error** |
//!
//! Errors are [`RelayError::InvalidArgument`] (`ERR_RELAY_INVALID_ARGUMENT`
//! in JS), naming the path of the offending value.

use napi::sys::ValueType as T;
use nemo_relay_core::{Json, RelayError};
use serde_json::{Map, Number};

use crate::js::{Js, Result, Value};

/// Deeper than this is taken to be a cycle.
const MAX_DEPTH: usize = 256;

/// A JS value as JSON; `what` names it in error messages.
pub(crate) fn to_json(js: Js, v: Value, what: &str) -> Result<Json> {
    let mut path = String::new();
    from_js(js, v, 0, &mut path).map_err(|e| match e {
        RelayError::InvalidArgument(m) => {
            let at = if path.is_empty() {
                String::new()
            } else {
                format!(" at {path}")
            };
            RelayError::invalid(format!("{what}{at}: {m}"))
        }
        other => other,
    })
}

fn from_js(js: Js, v: Value, depth: usize, path: &mut String) -> Result<Json> {
    match js.type_of(v)? {
        T::napi_undefined | T::napi_null => Ok(Json::Null),
        T::napi_boolean => Ok(Json::Bool(js.to_bool(v)?)),
        T::napi_number => number(js.to_f64(v)?),
        T::napi_string => Ok(Json::String(js.to_string(v)?)),
        T::napi_object => {
            if depth >= MAX_DEPTH {
                return Err(RelayError::invalid(format!(
                    "value is cyclic or nested deeper than {MAX_DEPTH} levels"
                )));
            }
            if js.is_array(v)? {
                let n = js.array_len(v)?;
                let mut out = Vec::with_capacity(n as usize);
                for i in 0..n {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    out.push(from_js(js, js.get_element(v, i)?, depth + 1, path)?);
                    path.truncate(len);
                }
                return Ok(Json::Array(out));
            }
            if js.is_date(v)? {
                return Err(RelayError::invalid(
                    "a Date is not JSON (pass date.toISOString())",
                ));
            }
            let keys = js.keys(v)?;
            let n = js.array_len(keys)?;
            let mut out = Map::new();
            for i in 0..n {
                let key = js.get_element(keys, i)?;
                let value = js.get(v, key)?;
                if js.type_of(value)? == T::napi_undefined {
                    continue;
                }
                let name = js.to_string(key)?;
                let len = path.len();
                path.push('.');
                path.push_str(&name);
                let converted = from_js(js, value, depth + 1, path)?;
                path.truncate(len);
                out.insert(name, converted);
            }
            Ok(Json::Object(out))
        }
        T::napi_bigint => Err(RelayError::invalid("a BigInt is not JSON")),
        T::napi_symbol => Err(RelayError::invalid("a symbol is not JSON")),
        T::napi_function => Err(RelayError::invalid("a function is not JSON")),
        T::napi_external => Err(RelayError::invalid("a native handle is not JSON")),
        other => Err(RelayError::invalid(format!(
            "a value of type {other} is not JSON"
        ))),
    }
}

fn number(n: f64) -> Result<Json> {
    if !n.is_finite() {
        return Err(RelayError::invalid(format!("{n} is not a JSON number")));
    }
    // Integral values within the exact range stay integers, so `1` round-trips
    // as `1` (not `1.0`) in events.
    if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
        return Ok(Json::Number(Number::from(n as i64)));
    }
    Number::from_f64(n)
        .map(Json::Number)
        .ok_or_else(|| RelayError::invalid(format!("{n} is not a JSON number")))
}

/// A JSON value as a new JS value.
pub(crate) fn to_js(js: Js, v: &Json) -> Result<Value> {
    match v {
        Json::Null => js.null(),
        Json::Bool(b) => js.boolean(*b),
        Json::Number(n) => js.number(n.as_f64().unwrap_or(f64::NAN)),
        Json::String(s) => js.string(s),
        Json::Array(items) => {
            let arr = js.array(items.len())?;
            for (i, item) in items.iter().enumerate() {
                js.set_element(arr, i as u32, to_js(js, item)?)?;
            }
            Ok(arr)
        }
        Json::Object(map) => {
            let obj = js.object()?;
            for (k, item) in map {
                js.set(obj, js.string(k)?, to_js(js, item)?)?;
            }
            Ok(obj)
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
