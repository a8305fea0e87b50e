//! Callback typedefs, and the single way the library invokes a C callback.
//!
//! # One result convention for every callback
//!
//! A callback returns a `NemoRelayStatus` (as `int32_t`) and writes at most
//! one string to its `char **out` parameter, which the library set to NULL
//! before the call:
//!
//! | return | `*out` | meaning |
//! |---|---|---|
//! | `NEMO_RELAY_STATUS_OK` | a string | the result (JSON, or a guardrail's rejection reason) |
//! | `NEMO_RELAY_STATUS_OK` | NULL | "nothing": allow (guard), unchanged (rewrite), end of stream (pull) |
//! | anything else | NULL or a message | the callback failed; the message (if any) is reported |
//!
//! A failure status of the library's own other than `INTERNAL` (a callback
//! handing back the error of a nested call it made) reaches the caller as
//! that status with the message unchanged; any other failure is
//! `CALLBACK_FAILED`.
//!
//! Whatever the callback stores in `*out` becomes the library's and is freed
//! exactly once with `free()`, on every path; allocate it with
//! `nemo_relay_string_new()` or `malloc`. A failed callback surfaces to the
//! caller of the `_execute` function as `NEMO_RELAY_STATUS_CALLBACK_FAILED`
//! with "callback failed: <message>".
//!
//! Upstream overloaded NULL (allow *and* failure, told apart by whether the
//! last error happened to be set), so a stray library call inside a guardrail
//! could turn a failure into "allow". An explicit status cannot be lost.

use std::ffi::{c_char, c_void};

use nemo_relay_core::RelayError;

use super::handles::NemoRelayStream;
use super::next::NemoRelayNext;
use super::plugin_kind::{NemoRelayConfigCheck, NemoRelayPluginContext};
use super::wire::callback_text;
use crate::conventions::core_error::Rethrown;
use crate::conventions::status::NemoRelayStatus;
use crate::conventions::strings::free_c_string;

/// Conditional-execution guardrail (tool or LLM). Return OK with
/// `*out_reason` NULL to allow the call, OK with a reason string to reject it.
pub type NemoRelayGuardFn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        ctx_json: *const c_char,
        request_json: *const c_char,
        out_reason: *mut *mut c_char,
    ) -> i32,
>;

/// Request intercept or sanitize guardrail: return OK with the new value in
/// `*out_json`, or OK with NULL to keep `value_json` unchanged.
pub type NemoRelayRewriteFn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        ctx_json: *const c_char,
        value_json: *const c_char,
        out_json: *mut *mut c_char,
    ) -> i32,
>;

/// Execution intercept (tool or unary LLM). Continue the chain with
/// `nemo_relay_next_run(next, request_json, &result)` zero or more times and
/// return OK with the result in `*out_json`. `next` is valid only until the
/// callback returns.
pub type NemoRelayInterceptFn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        ctx_json: *const c_char,
        request_json: *const c_char,
        next: *const NemoRelayNext,
        out_json: *mut *mut c_char,
    ) -> i32,
>;

/// LLM stream execution intercept. Obtain the downstream stream with
/// `nemo_relay_next_run_stream(next, request_json, &stream)` and return OK
/// with a stream in `*out_stream` (that one, or one made with
/// `nemo_relay_stream_new` that reads from it). The library takes ownership
/// of the returned stream.
pub type NemoRelayStreamInterceptFn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        ctx_json: *const c_char,
        request_json: *const c_char,
        next: *const NemoRelayNext,
        out_stream: *mut *mut NemoRelayStream,
    ) -> i32,
>;

/// Event subscriber. `event_json` is one canonical ATOF event, borrowed for
/// the duration of the call. Runs on the runtime's dispatcher thread.
pub type NemoRelaySubscriberFn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, event_json: *const c_char)>;

/// The tool (or LLM provider) a managed call executes: return OK with the
/// result JSON in `*out_json`.
pub type NemoRelayCallFn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        request_json: *const c_char,
        out_json: *mut *mut c_char,
    ) -> i32,
>;

/// Chunk source of a stream, pulled once per chunk with `index` = 0, 1, ...
/// Return OK with one chunk's JSON in `*out_chunk_json`, OK with NULL at the
/// end of the stream, or a failure status. For a streaming LLM call
/// `request_json` is the (intercepted) request; for `nemo_relay_stream_new`
/// it is NULL. A pipeline that retries calls the provider again from index 0.
pub type NemoRelayPullFn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        request_json: *const c_char,
        index: u64,
        out_chunk_json: *mut *mut c_char,
    ) -> i32,
>;

/// Validate hook of a C plugin kind: report problems with `config_json`
/// (the component's `config` object) through `check` with
/// `nemo_relay_config_check_*`; `check` is valid only until the hook
/// returns. Return OK (any `*out_error` is ignored) or a failure status with
/// an optional message in `*out_error`, which becomes a
/// `plugin.validator_failed` error diagnostic. Must be pure: it runs for
/// `nemo_relay_plugin_validate` as well as before every activation.
pub type NemoRelayPluginValidateFn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        config_json: *const c_char,
        check: *mut NemoRelayConfigCheck,
        out_error: *mut *mut c_char,
    ) -> i32,
>;

/// Register hook of a C plugin kind, called once per enabled component of
/// a document that validated: install the component's behaviour through
/// `ctx` with `nemo_relay_plugin_context_*` (valid only until the hook
/// returns). Return OK, or a failure status with an optional message in
/// `*out_error`; a failure aborts the whole activation and the previous
/// one stays active.
pub type NemoRelayPluginRegisterFn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        config_json: *const c_char,
        ctx: *mut NemoRelayPluginContext,
        out_error: *mut *mut c_char,
    ) -> i32,
>;

/// The `char **out` of one callback invocation. Owns whatever the callback
/// stored and frees it on drop, so no path can leak or double-free it.
pub struct OutString(*mut c_char);

impl OutString {
    /// An empty slot.
    pub fn new() -> Self {
        OutString(std::ptr::null_mut())
    }

    /// The pointer to pass as the callback's `char **out`.
    pub fn slot(&mut self) -> *mut *mut c_char {
        &mut self.0
    }

    /// Applies the result convention (module docs) to `status`.
    pub fn finish(self, what: &str, status: i32) -> Result<Option<String>, RelayError> {
        let text = if self.0.is_null() {
            None
        } else {
            // SAFETY: the callback stored a NUL-terminated string.
            Some(unsafe { callback_text(self.0, what) })
        };
        if status == NemoRelayStatus::Ok as i32 {
            return text.transpose().map(|t| t.map(str::to_owned));
        }
        let message = match text {
            Some(Ok(message)) if !message.is_empty() => Some(message.to_owned()),
            _ => None,
        };
        Err(failure(what, status, message))
    }
}

/// The error of a callback that returned the failure `status`: its own
/// message, or one that names the status. A status of the library's own
/// other than INTERNAL (a nested call's error handed back) reaches the
/// caller unchanged, with its message, as a JS callback's error does.
pub fn failure(what: &str, status: i32, message: Option<String>) -> RelayError {
    let known = NemoRelayStatus::from_raw(status);
    let message = message.unwrap_or_else(|| {
        let code = known.map_or_else(|| format!("unknown status {status}"), |s| format!("{s:?}"));
        format!("{what} returned {code}")
    });
    match known {
        Some(s) if s != NemoRelayStatus::Internal && s != NemoRelayStatus::Ok => {
            RelayError::Callback {
                message,
                exception_type: None,
                payload: Some(std::sync::Arc::new(Rethrown(s))),
            }
        }
        _ => RelayError::callback(message),
    }
}

thread_local! {
    /// The message of the failure a callback without a `char **` slot (a
    /// stream execution intercept) is about to return, given with
    /// `nemo_relay_stream_intercept_set_error` on the callback's thread.
    static PENDING_FAILURE: std::cell::RefCell<Option<String>> =
        const { std::cell::RefCell::new(None) };
}

/// Keep `message` for the failure the running callback will return.
pub fn set_pending_failure(message: Option<String>) {
    PENDING_FAILURE.with(|m| *m.borrow_mut() = message);
}

/// The message set for the callback that just returned (and forget it).
/// Taken before a callback runs too, so a message left by one that then
/// returned OK (or by a library call outside any callback) is not
/// reported for another.
pub fn take_pending_failure() -> Option<String> {
    PENDING_FAILURE.with(|m| m.borrow_mut().take())
}

impl Default for OutString {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for OutString {
    fn drop(&mut self) {
        // SAFETY: NULL or a string the callback allocated with malloc and
        // handed over; this is its only release.
        unsafe { free_c_string(self.0) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conventions::strings::alloc_c_string;

    fn with_output(text: Option<&str>) -> OutString {
        let mut out = OutString::new();
        if let Some(text) = text {
            // SAFETY: writing a fresh allocation into our own slot.
            unsafe { *out.slot() = alloc_c_string(text.as_bytes()).unwrap() };
        }
        out
    }

    #[test]
    fn ok_with_text_is_the_result_and_ok_with_null_is_nothing() {
        assert_eq!(
            with_output(Some("{}")).finish("tool", 0).unwrap(),
            Some("{}".to_owned())
        );
        assert_eq!(with_output(None).finish("tool", 0).unwrap(), None);
    }

    #[test]
    fn failure_uses_the_message_or_names_the_status() {
        let err = with_output(Some("boom")).finish("tool", 5).unwrap_err();
        assert_eq!(err.to_string(), "callback failed: boom");
        let err = with_output(None).finish("tool", 5).unwrap_err();
        assert_eq!(err.to_string(), "callback failed: tool returned Internal");
        let err = with_output(None).finish("tool", 999).unwrap_err();
        assert!(err.to_string().contains("unknown status 999"));
    }

    #[test]
    fn a_library_status_handed_back_reaches_the_caller_with_its_message() {
        use crate::conventions::error::FfiError;
        let rejected = NemoRelayStatus::GuardrailRejected as i32;
        let err = with_output(Some("guardrail 'g' rejected the call: no")).finish("tool", rejected);
        let ffi = FfiError::from(err.unwrap_err());
        assert_eq!(ffi.status(), NemoRelayStatus::GuardrailRejected);
        assert_eq!(ffi.message(), "guardrail 'g' rejected the call: no");
        let internal = with_output(Some("boom")).finish("tool", NemoRelayStatus::Internal as i32);
        let ffi = FfiError::from(internal.unwrap_err());
        assert_eq!(ffi.status(), NemoRelayStatus::CallbackFailed);
    }

    #[test]
    fn a_pending_failure_message_is_taken_once() {
        set_pending_failure(Some("quota exceeded".into()));
        assert_eq!(take_pending_failure().as_deref(), Some("quota exceeded"));
        assert_eq!(take_pending_failure(), None);
    }
}
