//! Streaming LLM calls and stream handles.
//!
//! The provider is a pull callback (`NemoRelayPullFn`): the caller drives
//! the stream with `nemo_relay_stream_next`, and each `next` pulls at most
//! one chunk from the provider, on the caller's thread, through the stream
//! execution intercepts. When the provider reports the end, the LLM call's
//! end event is emitted (payload `{"chunks": [...]}`, sanitized). Closing or
//! freeing a stream before its end emits an end event marked cancelled.
//!
//! ```c
//! NemoRelayStream *s = NULL;
//! nemo_relay_llm_stream_execute(NULL, "chat", req, NULL, pull, ud, NULL, &s);
//! char *chunk = NULL;
//! while (nemo_relay_stream_next(s, &chunk) == NEMO_RELAY_STATUS_OK && chunk) {
//!     puts(chunk);
//!     nemo_relay_string_free(chunk);
//! }
//! nemo_relay_stream_free(s);
//! ```

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use nemo_relay_core::{LlmRequest, Runtime, StreamOptions};

use crate::api::calls::llm_request;
use crate::bridge::callback::NemoRelayPullFn;
use crate::bridge::handles::{stack_arg, NemoRelayStack, NemoRelayStream};
use crate::bridge::options::{options_arg, CallJson};
use crate::bridge::run;
use crate::bridge::stream::{PullStream, StreamCell};
use crate::bridge::wire::WireValue;
use crate::conventions::args::{callback_arg, out_slot, str_arg};
use crate::conventions::handle::{boxed_ref, free_boxed, into_boxed_handle};
use crate::conventions::json::{json_arg, json_to_c};
use crate::conventions::status::NemoRelayStatus;
use crate::conventions::user_data::{NemoRelayFreeFn, UserData};

/// Starts a streaming LLM call named `name` with `request_json` through the
/// pipeline (guardrails, request intercepts, start event, stream execution
/// intercepts) and writes the stream to `*out_stream`; read it with
/// `nemo_relay_stream_next`, release it with `nemo_relay_stream_free`.
///
/// `provider(user_data, request_json, index, &chunk)` is pulled once per
/// chunk. `user_data` is released with `free_fn` once the stream (and any
/// retry of the provider) is gone, or right away if the call fails.
/// `options_json` as for `nemo_relay_llm_execute`.
///
/// # Safety
/// Pointers are NULL or valid as documented in the header conventions.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_llm_stream_execute(
    stack: *const NemoRelayStack,
    name: *const c_char,
    request_json: *const c_char,
    options_json: *const c_char,
    provider: NemoRelayPullFn,
    user_data: *mut c_void,
    free_fn: NemoRelayFreeFn,
    out_stream: *mut *mut NemoRelayStream,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (all blocks): pointers are valid per the function contract.
        let user_data = Arc::new(unsafe { UserData::adopt(user_data, free_fn) });
        let out = unsafe { out_slot(out_stream, "out_stream") }?;
        let provider = callback_arg(provider, "provider")?;
        let name = unsafe { str_arg(name, "name") }?;
        let request = llm_request(unsafe { json_arg(request_json, "request_json") }?)?;
        let options = unsafe { options_arg::<CallJson>(options_json) }?;
        let options = StreamOptions {
            call: options.into_core(unsafe { stack_arg(stack) }?)?,
            aggregate: None,
        };
        let func = move |request: LlmRequest| {
            let user_data = user_data.clone();
            async move {
                Ok(PullStream::boxed(
                    provider,
                    user_data,
                    Some(request.to_wire()),
                ))
            }
        };
        let stream = run(Runtime::global().llm_stream_call(name, request, options, func))?;
        out.write(into_boxed_handle::<NemoRelayStream>(StreamCell::new(
            Box::pin(stream),
        )));
        Ok(())
    })
}

/// Creates a stream over `pull` alone (no LLM call, no events), for stream
/// execution intercepts that transform another stream: `pull` is called with
/// `request_json` NULL. `user_data` is released with `free_fn` when the
/// stream is freed (or immediately if this call fails).
///
/// # Safety
/// Pointers are NULL or valid as documented in the header conventions.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_stream_new(
    pull: NemoRelayPullFn,
    user_data: *mut c_void,
    free_fn: NemoRelayFreeFn,
    out_stream: *mut *mut NemoRelayStream,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (all blocks): pointers are valid per the function contract.
        let user_data = Arc::new(unsafe { UserData::adopt(user_data, free_fn) });
        let out = unsafe { out_slot(out_stream, "out_stream") }?;
        let pull = callback_arg(pull, "pull")?;
        let stream = PullStream::boxed(pull, user_data, None);
        out.write(into_boxed_handle::<NemoRelayStream>(StreamCell::new(
            stream,
        )));
        Ok(())
    })
}

/// Reads the next chunk: on `NEMO_RELAY_STATUS_OK`, `*out_chunk_json` holds
/// one chunk's JSON (free it with `nemo_relay_string_free`), or NULL when the
/// stream has ended. After the end, an error, or `nemo_relay_stream_close`,
/// every further call returns OK with NULL.
///
/// Errors: `CALLBACK_FAILED` (provider or intercept failed; the stream is
/// then finished), `INVALID_STATE` (called from a pull callback of a
/// stream this thread is polling: this one, or one that led here),
/// `NULL_POINTER`.
///
/// # Safety
/// `stream` is NULL or live; `out_chunk_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_stream_next(
    stream: *const NemoRelayStream,
    out_chunk_json: *mut *mut c_char,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (all blocks): per the function contract.
        let out = unsafe { out_slot(out_chunk_json, "out_chunk_json") }?;
        let cell = unsafe { boxed_ref(stream, "stream") }?;
        if let Some(chunk) = cell.next()? {
            out.write(json_to_c(&chunk)?);
        }
        Ok(())
    })
}

/// Finishes the stream early: the provider is not pulled again and an
/// unfinished LLM call gets an end event marked cancelled. Idempotent; the
/// handle must still be freed. May be called from another thread than
/// `nemo_relay_stream_next`: it waits for the `next` in progress only, and
/// every later `next` returns the end.
///
/// Errors: `INVALID_STATE` (called from a pull callback of a stream this
/// thread is polling), `NULL_POINTER`.
///
/// # Safety
/// `stream` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_stream_close(
    stream: *const NemoRelayStream,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY: per the function contract.
        let cell = unsafe { boxed_ref(stream, "stream") }?;
        // Dropped here, outside the cell's lock: dropping may emit events.
        drop(cell.close()?);
        Ok(())
    })
}

/// Releases a stream handle (closing it first if needed). NULL is a no-op.
///
/// # Safety
/// `stream` is NULL or a live stream handle that is not used again.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_stream_free(stream: *mut NemoRelayStream) {
    // SAFETY: per the function contract.
    ffi_value!({ unsafe { free_boxed(stream) } })
}
