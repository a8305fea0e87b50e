//! JSON in and out of the boundary.
//!
//! Structured data crosses as NUL-terminated UTF-8 JSON text, never as C
//! structs, so the ABI stays small and every language already has a parser.
//!
//! * Input: a required JSON argument that is NULL is `NULL_POINTER` (upstream
//!   silently read it as `null`); bytes that are not UTF-8 are `INVALID_UTF8`;
//!   text that does not parse, or parses but has the wrong shape for a typed
//!   argument, is `INVALID_JSON`. serde_json's nesting limit (128) turns
//!   adversarially deep input into `INVALID_JSON` instead of a stack overflow.
//! * Output: compact JSON in a `malloc` buffer the caller frees with
//!   `nemo_relay_string_free()`. JSON escapes NUL as `\u0000`, so the text
//!   never needs an interior NUL.

use std::ffi::c_char;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::args::{opt_str_arg, str_arg};
use super::error::{FfiError, FfiResult};
use super::status::NemoRelayStatus;
use super::strings::alloc_c_string;

/// Parses a required JSON argument into a [`Value`].
///
/// # Safety
/// Same as [`str_arg`]: NULL or a valid NUL-terminated string.
pub unsafe fn json_arg(ptr: *const c_char, name: &str) -> FfiResult<Value> {
    // SAFETY: forwarded from the caller.
    let text = unsafe { str_arg(ptr, name) }?;
    parse(text, name)
}

/// Parses an optional JSON argument: NULL gives `None`.
///
/// # Safety
/// Same as [`str_arg`].
pub unsafe fn opt_json_arg(ptr: *const c_char, name: &str) -> FfiResult<Option<Value>> {
    // SAFETY: forwarded from the caller.
    unsafe { opt_str_arg(ptr, name) }?
        .map(|text| parse(text, name))
        .transpose()
}

/// Parses a required JSON argument straight into a typed shape; a document
/// of the wrong shape is `INVALID_JSON` with serde's description of the
/// mismatch.
///
/// # Safety
/// Same as [`str_arg`].
pub unsafe fn json_arg_as<T: DeserializeOwned>(ptr: *const c_char, name: &str) -> FfiResult<T> {
    // SAFETY: forwarded from the caller.
    let text = unsafe { str_arg(ptr, name) }?;
    serde_json::from_str(text).map_err(|err| invalid_json(name, &err))
}

/// Serializes `value` as compact JSON into a caller-owned C string.
pub fn json_to_c<T: Serialize + ?Sized>(value: &T) -> FfiResult<*mut c_char> {
    let text = serde_json::to_vec(value)
        .map_err(|err| FfiError::internal(format!("could not serialize JSON output: {err}")))?;
    alloc_c_string(&text)
}

fn parse(text: &str, name: &str) -> FfiResult<Value> {
    serde_json::from_str(text).map_err(|err| invalid_json(name, &err))
}

fn invalid_json(name: &str, err: &serde_json::Error) -> FfiError {
    FfiError::new(
        NemoRelayStatus::InvalidJson,
        format!("argument `{name}` is not valid JSON: {err}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conventions::strings::free_c_string;
    use std::ffi::CStr;

    #[test]
    fn parses_valid_json() {
        let value = unsafe { json_arg(c"{\"a\": [1, 2]}".as_ptr(), "data_json") }.unwrap();
        assert_eq!(value, serde_json::json!({"a": [1, 2]}));
    }

    #[test]
    fn null_is_an_error_unless_optional() {
        let err = unsafe { json_arg(std::ptr::null(), "data_json") }.unwrap_err();
        assert_eq!(err.status(), NemoRelayStatus::NullPointer);
        assert_eq!(
            unsafe { opt_json_arg(std::ptr::null(), "x") }.unwrap(),
            None
        );
    }

    #[test]
    fn syntax_errors_report_the_argument_and_position() {
        let err = unsafe { json_arg(c"{\"a\":".as_ptr(), "data_json") }.unwrap_err();
        assert_eq!(err.status(), NemoRelayStatus::InvalidJson);
        assert!(err
            .message()
            .starts_with("argument `data_json` is not valid JSON"));
        assert!(err.message().contains("line 1"), "{}", err.message());
    }

    #[test]
    fn invalid_utf8_wins_over_invalid_json() {
        let err = unsafe { json_arg(c"\"\xff\"".as_ptr(), "data_json") }.unwrap_err();
        assert_eq!(err.status(), NemoRelayStatus::InvalidUtf8);
    }

    #[test]
    fn deep_nesting_is_rejected_not_a_stack_overflow() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let text = std::ffi::CString::new(deep).unwrap();
        let err = unsafe { json_arg(text.as_ptr(), "data_json") }.unwrap_err();
        assert_eq!(err.status(), NemoRelayStatus::InvalidJson);
    }

    #[test]
    fn wrong_shape_is_invalid_json() {
        let err = unsafe { json_arg_as::<Vec<u32>>(c"{\"a\":1}".as_ptr(), "ids") }.unwrap_err();
        assert_eq!(err.status(), NemoRelayStatus::InvalidJson);
    }

    #[test]
    fn output_is_compact_and_escapes_nul() {
        let ptr = json_to_c(&serde_json::json!({"k": "a\u{0}b"})).unwrap();
        let text = unsafe { CStr::from_ptr(ptr) }.to_str().unwrap().to_owned();
        unsafe { free_c_string(ptr) };
        assert_eq!(text, r#"{"k":"a\u0000b"}"#);
    }
}
