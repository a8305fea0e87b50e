//! The runtime's activity counters, readable from JS without a native call.
//!
//! Whether a mark has listeners, or a managed call would run bare, is a few
//! atomic counters in the core ([`nemo_relay_core::Activity`] and
//! [`nemo_relay_core::scope::frames_with_locals`]). The facade maps them as
//! `Uint32Array`s over the core's own memory, so that a mark nobody listens
//! to, or a bare tool call, never crosses into native code at all: reading
//! a typed array element costs a few nanoseconds, a native call hundreds.
//!
//! The memory belongs to the process-wide runtime, which lives as long as
//! the process, and to a static: the arrays never outlive what they view.
//! A JS engine that refuses external array buffers (a sandboxed V8) gets
//! `undefined`, and the facade then always asks native code.

use std::ffi::c_void;
use std::ptr;

use napi::sys;
use napi_derive::napi;
use nemo_relay_core::{scope::frames_with_locals, Runtime};

use crate::js::{boundary, Js, Raw, Result, Value};

// The JS side reads three 32-bit words.
const _: () = assert!(std::mem::size_of::<nemo_relay_core::Activity>() == 12);

/// A `Uint32Array` over `words` 32-bit words at `data`, which must stay
/// valid for the rest of the process.
fn view(js: Js, data: *const c_void, words: usize) -> Result<Option<Value>> {
    let mut buffer = ptr::null_mut();
    // SAFETY: `data` is valid for `words * 4` bytes for the life of the
    // process (see the callers); no finalizer: nothing to free.
    let status = unsafe {
        sys::napi_create_external_arraybuffer(
            js.0,
            data as *mut c_void,
            words * 4,
            None,
            ptr::null_mut(),
            &mut buffer,
        )
    };
    if status != sys::Status::napi_ok {
        // e.g. napi_no_external_buffers_allowed: fall back to native calls.
        let _ = js.take_exception();
        return Ok(None);
    }
    let mut array = ptr::null_mut();
    // SAFETY: `buffer` is the array buffer created above.
    js.check(unsafe {
        sys::napi_create_typedarray(
            js.0,
            sys::TypedarrayType::uint32_array,
            words,
            buffer,
            0,
            &mut array,
        )
    })?;
    Ok(Some(array))
}

/// `[activity, framesWithLocals]`: `activity` is `[listeners,
/// toolMiddleware, llmMiddleware]`, live views of the process-wide
/// runtime's counters; `undefined` where views cannot be made.
#[napi(ts_return_type = "[Uint32Array, Uint32Array] | undefined")]
pub fn activity(env: napi::Env) -> napi::Result<Raw> {
    boundary(env.raw(), |js| {
        let counters: *const nemo_relay_core::Activity = Runtime::global().activity();
        let frames = frames_with_locals() as *const _ as *const c_void;
        let (Some(a), Some(f)) = (view(js, counters.cast(), 3)?, view(js, frames, 1)?) else {
            return js.undefined().map(Raw);
        };
        let pair = js.array(2)?;
        js.set_element(pair, 0, a)?;
        js.set_element(pair, 1, f)?;
        Ok(Raw(pair))
    })
}
