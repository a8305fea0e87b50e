//! A JSON round trip through the library's own parser.

use std::ffi::c_char;

use crate::conventions::args::out_slot;
use crate::conventions::json::{json_arg, json_to_c};
use crate::conventions::status::NemoRelayStatus;

/// Parses `json` with the same parser and limits every JSON-taking function
/// uses, and writes it back as compact JSON to `*out_json` (free it with
/// `nemo_relay_string_free()`). Object key order is not guaranteed.
///
/// Bindings use it to check a payload before a larger call; it is also the
/// simplest function that exercises every input and output convention.
///
/// Errors: `NULL_POINTER` (`json` or `out_json` is NULL), `INVALID_UTF8`,
/// `INVALID_JSON`. On any error `*out_json` is NULL.
///
/// # Safety
/// `json` is NULL or a NUL-terminated string; `out_json` is NULL or points to
/// writable storage for one pointer.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_json_normalize(
    json: *const c_char,
    out_json: *mut *mut c_char,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY: the caller passes NULL or valid pointers, per the docs above.
        let out = unsafe { out_slot(out_json, "out_json") }?;
        // SAFETY: as above.
        let value = unsafe { json_arg(json, "json") }?;
        out.write(json_to_c(&value)?);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::strings::nemo_relay_string_free;
    use std::ffi::CStr;

    #[test]
    fn normalizes_whitespace() {
        let mut out = std::ptr::null_mut();
        let input = c"{ \"a\": [ true ],\n \"b\": 1 }";
        let status = unsafe { nemo_relay_json_normalize(input.as_ptr(), &mut out) };
        assert_eq!(status, NemoRelayStatus::Ok);
        let text = unsafe { CStr::from_ptr(out) }.to_str().unwrap().to_owned();
        unsafe { nemo_relay_string_free(out) };
        assert_eq!(text, r#"{"a":[true],"b":1}"#);
    }

    #[test]
    fn null_out_is_checked_before_the_input() {
        let status = unsafe { nemo_relay_json_normalize(std::ptr::null(), std::ptr::null_mut()) };
        assert_eq!(status, NemoRelayStatus::NullPointer);
        let message = unsafe { CStr::from_ptr(crate::api::errors::nemo_relay_last_error()) };
        assert!(message.to_str().unwrap().contains("out_json"));
    }
}
