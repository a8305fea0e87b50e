//! Continuing an execution chain from inside an execution intercept.

use std::ffi::c_char;

use nemo_relay_core::{Json, LlmRequest};

use crate::bridge::handles::NemoRelayStream;
use crate::bridge::next::{lookup, AnyNext, Leased, NemoRelayNext};
use crate::bridge::run;
use crate::bridge::stream::StreamCell;
use crate::bridge::wire::WireValue;
use crate::conventions::args::{out_slot, str_arg};
use crate::conventions::error::{FfiError, FfiResult};
use crate::conventions::handle::into_boxed_handle;
use crate::conventions::json::json_to_c;
use crate::conventions::status::NemoRelayStatus;

/// Runs the rest of a tool or unary LLM execution chain (later intercepts,
/// then the real callback) with `request_json` and writes its result to
/// `*out_json` (free with `nemo_relay_string_free`). May be called several
/// times (retries), synchronously, while the intercept that received `next`
/// is running, from any thread: the rest of the chain runs inside the call
/// either way.
///
/// Errors: `CONTINUATION_EXPIRED` (the intercept already returned),
/// `INVALID_ARGUMENT` (a stream continuation: use
/// `nemo_relay_next_run_stream`, or a malformed LLM request),
/// `CALLBACK_FAILED` and anything else the rest of the chain reports.
///
/// # Safety
/// `request_json` is NULL or a NUL-terminated string; `out_json` is NULL or
/// writable. `next` may be any value (it is validated, not dereferenced).
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_next_run(
    next: *const NemoRelayNext,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (all blocks): per the function contract.
        let out = unsafe { out_slot(out_json, "out_json") }?;
        let text = unsafe { str_arg(request_json, "request_json") }?;
        let Leased { next, stack } = lookup(next)?;
        // In the call's stack, whichever thread continues (see `Leased`).
        let result = match next {
            AnyNext::Tool(next) => {
                let request = parse::<Json>(text)?;
                stack.sync_scope(|| run(next.run(request)))?
            }
            AnyNext::Llm(next) => {
                let request = parse::<LlmRequest>(text)?;
                stack.sync_scope(|| run(next.run(request)))?
            }
            AnyNext::Stream(_) => {
                return Err(FfiError::invalid_argument(
                    "next",
                    "a stream continuation; use nemo_relay_next_run_stream",
                ))
            }
        };
        out.write(json_to_c(&result)?);
        Ok(())
    })
}

/// Runs the rest of an LLM stream execution chain with `request_json` and
/// writes the resulting stream to `*out_stream`. Return it from the
/// intercept (ownership passes back to the library), or read from it in a
/// stream made with `nemo_relay_stream_new` and free it yourself.
///
/// # Safety
/// As `nemo_relay_next_run`.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_next_run_stream(
    next: *const NemoRelayNext,
    request_json: *const c_char,
    out_stream: *mut *mut NemoRelayStream,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (all blocks): per the function contract.
        let out = unsafe { out_slot(out_stream, "out_stream") }?;
        let text = unsafe { str_arg(request_json, "request_json") }?;
        let Leased {
            next: AnyNext::Stream(next),
            stack,
        } = lookup(next)?
        else {
            return Err(FfiError::invalid_argument(
                "next",
                "not a stream continuation; use nemo_relay_next_run",
            ));
        };
        let request = parse::<LlmRequest>(text)?;
        let stream = stack.sync_scope(|| run(next.run(request)))?;
        out.write(into_boxed_handle::<NemoRelayStream>(StreamCell::new(
            stream,
        )));
        Ok(())
    })
}

fn parse<R: WireValue>(text: &str) -> FfiResult<R> {
    R::from_wire(text).map_err(|err| {
        FfiError::new(
            NemoRelayStatus::InvalidJson,
            format!("argument `request_json` is not a valid request: {err}"),
        )
    })
}
