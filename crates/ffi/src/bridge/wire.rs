//! What C callbacks receive and return: JSON text.
//!
//! * Tool requests and results are any JSON value.
//! * LLM requests are `{"headers": {...}, "content": <any>}`; middleware sees
//!   the real headers (credentials are stripped only from emitted events).
//! * The call context every middleware callback gets (`ctx_json`) is
//!   `{"kind": "tool"|"llm"|"llm_stream", "model_name": str|null,
//!   "name": str, "parent_uuid": uuid, "tool_call_id": str|null, "uuid": uuid}`.
//!   `uuid` is the id the call's start and end events will carry.

use std::ffi::{c_char, CStr, CString};

use nemo_relay_core::{CallContext, Json, LlmRequest, RelayError};

/// A request or result type that crosses as JSON text.
pub trait WireValue: Sized + Send + 'static {
    /// The JSON text given to a callback.
    fn to_wire(&self) -> CString;
    /// Parses what a callback (or a C caller) returned.
    fn from_wire(text: &str) -> Result<Self, RelayError>;
}

impl WireValue for Json {
    fn to_wire(&self) -> CString {
        json_cstring(self)
    }
    fn from_wire(text: &str) -> Result<Self, RelayError> {
        serde_json::from_str(text)
            .map_err(|err| RelayError::invalid(format!("not valid JSON: {err}")))
    }
}

impl WireValue for LlmRequest {
    fn to_wire(&self) -> CString {
        json_cstring(&request_json(self))
    }
    fn from_wire(text: &str) -> Result<Self, RelayError> {
        LlmRequest::from_json(Json::from_wire(text)?)
    }
}

/// The full (not credential-stripped) JSON form of an LLM request.
pub fn request_json(request: &LlmRequest) -> Json {
    serde_json::json!({ "headers": request.headers, "content": request.content })
}

/// Compact JSON as a C string. JSON escapes NUL (`\u0000`), so the text can
/// never contain one and the conversion cannot fail.
pub fn json_cstring(value: &Json) -> CString {
    CString::new(serde_json::to_vec(value).expect("a JSON value always serializes"))
        .expect("serialized JSON never contains a NUL byte")
}

/// The `ctx_json` argument of middleware callbacks.
pub fn context_json(ctx: &CallContext) -> CString {
    json_cstring(&serde_json::json!({
        "kind": ctx.kind.as_str(),
        "model_name": ctx.model_name.as_deref(),
        "name": &*ctx.name,
        "parent_uuid": ctx.parent_uuid,
        "tool_call_id": ctx.tool_call_id.as_deref(),
        "uuid": ctx.uuid,
    }))
}

/// Borrows a callback's output text, checking UTF-8.
///
/// # Safety
/// `ptr` is a non-NULL NUL-terminated string.
pub unsafe fn callback_text<'a>(ptr: *const c_char, what: &str) -> Result<&'a str, RelayError> {
    // SAFETY: per the caller's contract.
    let bytes = unsafe { CStr::from_ptr(ptr) }.to_bytes();
    std::str::from_utf8(bytes)
        .map_err(|_| RelayError::callback(format!("{what} returned text that is not UTF-8")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llm_requests_round_trip_with_their_headers() {
        let text = r#"{"headers":{"authorization":"k"},"content":{"m":1}}"#;
        let req = LlmRequest::from_wire(text).unwrap();
        let back: Json = serde_json::from_slice(req.to_wire().as_bytes()).unwrap();
        assert_eq!(back, serde_json::from_str::<Json>(text).unwrap());
    }

    #[test]
    fn llm_requests_with_unknown_fields_are_rejected() {
        assert!(LlmRequest::from_wire(r#"{"body": 1}"#).is_err());
        assert!(LlmRequest::from_wire("[1]").is_err());
    }
}
