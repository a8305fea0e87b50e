//! C callbacks turned into core middleware, one builder per callback shape.
//!
//! Each builder captures the C function pointer and an `Arc<UserData>`; the
//! core keeps the resulting closure as long as the registration (or a call or
//! queued event that saw it) lives, and `free_fn` runs when the last clone of
//! the `Arc` drops, outside any runtime lock.
//!
//! All C middleware is synchronous, so every closure returns `Step::ready`.

use std::ffi::{c_char, c_void, CString};
use std::sync::Arc;

use nemo_relay_core::middleware::{ExecFn, GuardFn, RewriteFn};
use nemo_relay_core::{
    CallContext, Event, Json, JsonStream, LlmRequest, Next, RelayError, Step, Subscriber, Verdict,
};

use super::callback::{failure, take_pending_failure, OutString};
use super::handles::NemoRelayStream;
use super::next::{AnyNext, Lease, NemoRelayNext};
use super::wire::{context_json, json_cstring, WireValue};
use crate::conventions::handle::{boxed_ref, free_boxed};
use crate::conventions::status::NemoRelayStatus;
use crate::conventions::user_data::UserData;

/// The C signature behind `NemoRelayGuardFn` (NULL already ruled out).
pub type Guard =
    unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char, *mut *mut c_char) -> i32;
/// The C signature behind `NemoRelayRewriteFn`.
pub type Rewrite = Guard;
/// The C signature behind `NemoRelayInterceptFn`.
pub type Intercept = unsafe extern "C" fn(
    *mut c_void,
    *const c_char,
    *const c_char,
    *const NemoRelayNext,
    *mut *mut c_char,
) -> i32;
/// The C signature behind `NemoRelayStreamInterceptFn`.
pub type StreamIntercept = unsafe extern "C" fn(
    *mut c_void,
    *const c_char,
    *const c_char,
    *const NemoRelayNext,
    *mut *mut NemoRelayStream,
) -> i32;
/// The C signature behind `NemoRelaySubscriberFn`.
pub type SubscriberCb = unsafe extern "C" fn(*mut c_void, *const c_char);

/// A conditional-execution guardrail over requests of type `R`.
pub fn guard<R: WireValue>(cb: Guard, user_data: Arc<UserData>) -> GuardFn<R> {
    Arc::new(move |ctx: &CallContext, request: &R| {
        let (ctx_text, request_text) = (context_json(ctx), request.to_wire());
        let mut out = OutString::new();
        // SAFETY: `cb` was checked non-NULL at registration and accepts its
        // user_data; every pointer outlives the call.
        let status = unsafe {
            cb(
                user_data.as_ptr(),
                ctx_text.as_ptr(),
                request_text.as_ptr(),
                out.slot(),
            )
        };
        Step::ready(
            out.finish("guardrail callback", status)
                .map(|reason| reason.map_or(Verdict::Allow, Verdict::Reject)),
        )
    })
}

/// A request intercept or sanitize guardrail over values of type `T`.
pub fn rewrite<T: WireValue>(cb: Rewrite, user_data: Arc<UserData>) -> RewriteFn<T> {
    Arc::new(move |ctx: &CallContext, value: T| {
        let (ctx_text, value_text) = (context_json(ctx), value.to_wire());
        let mut out = OutString::new();
        // SAFETY: as in `guard`.
        let status = unsafe {
            cb(
                user_data.as_ptr(),
                ctx_text.as_ptr(),
                value_text.as_ptr(),
                out.slot(),
            )
        };
        Step::ready(match out.finish("rewrite callback", status) {
            Ok(Some(text)) => T::from_wire(&text).map_err(|err| {
                RelayError::callback(format!("rewrite callback returned an invalid value: {err}"))
            }),
            Ok(None) => Ok(value),
            Err(err) => Err(err),
        })
    })
}

/// A unary execution intercept (tool or LLM). `wrap` says which kind of
/// continuation the C side gets.
pub fn intercept<R: WireValue>(
    cb: Intercept,
    user_data: Arc<UserData>,
    wrap: fn(Next<R, Json>) -> AnyNext,
) -> ExecFn<R, Json> {
    Arc::new(move |ctx: &CallContext, request: R, next: Next<R, Json>| {
        let (ctx_text, request_text) = (context_json(ctx), request.to_wire());
        let lease = Lease::new(wrap(next));
        let mut out = OutString::new();
        // SAFETY: as in `guard`; the lease keeps `next` resolvable until the
        // callback returns.
        let status = unsafe {
            cb(
                user_data.as_ptr(),
                ctx_text.as_ptr(),
                request_text.as_ptr(),
                lease.as_ptr(),
                out.slot(),
            )
        };
        drop(lease);
        Step::ready(match out.finish("execution intercept", status) {
            Ok(Some(text)) => Json::from_wire(&text)
                .map_err(|err| RelayError::callback(format!("execution intercept returned {err}"))),
            Ok(None) => Err(RelayError::callback(
                "execution intercept returned OK without a result",
            )),
            Err(err) => Err(err),
        })
    })
}

/// An LLM stream execution intercept.
pub fn stream_intercept(
    cb: StreamIntercept,
    user_data: Arc<UserData>,
) -> ExecFn<LlmRequest, JsonStream> {
    Arc::new(
        move |ctx: &CallContext, request: LlmRequest, next: Next<LlmRequest, JsonStream>| {
            let (ctx_text, request_text) = (context_json(ctx), request.to_wire());
            let lease = Lease::new(AnyNext::Stream(next));
            let mut stream: *mut NemoRelayStream = std::ptr::null_mut();
            // Not another callback's message: only what this one sets.
            let _ = take_pending_failure();
            // SAFETY: as in `intercept`.
            let status = unsafe {
                cb(
                    user_data.as_ptr(),
                    ctx_text.as_ptr(),
                    request_text.as_ptr(),
                    lease.as_ptr(),
                    &mut stream,
                )
            };
            drop(lease);
            Step::ready(take_returned_stream(stream, status))
        },
    )
}

/// Takes ownership of the stream a stream intercept returned, whatever its
/// status, so a stream handed back together with a failure is not leaked.
fn take_returned_stream(
    stream: *mut NemoRelayStream,
    status: i32,
) -> Result<JsonStream, RelayError> {
    let taken = if stream.is_null() {
        None
    } else {
        // SAFETY: the callback handed over a live stream handle it owned;
        // it is read once here and then freed.
        let inner = unsafe { boxed_ref(stream, "out_stream") }
            .ok()
            .and_then(|cell| cell.take().ok().flatten());
        // SAFETY: ownership passed to the library with the return.
        unsafe { free_boxed(stream) };
        inner
    };
    // Taken whatever the status: a message set before an OK return is void.
    let message = take_pending_failure();
    if status != NemoRelayStatus::Ok as i32 {
        return Err(failure("stream execution intercept", status, message));
    }
    taken.ok_or_else(|| {
        RelayError::callback("stream execution intercept returned OK without an open stream")
    })
}

/// A C subscriber. The event JSON is built once per delivery.
pub struct CSubscriber {
    cb: SubscriberCb,
    user_data: Arc<UserData>,
}

impl CSubscriber {
    /// Wraps `cb`; `user_data` is released when the last clone of it drops
    /// (shared like the other builders', so a caller can keep a clone and
    /// control on which side of a lock the release happens).
    pub fn boxed(cb: SubscriberCb, user_data: Arc<UserData>) -> Arc<dyn Subscriber> {
        Arc::new(CSubscriber { cb, user_data })
    }
}

impl Subscriber for CSubscriber {
    fn on_event(&self, event: &Event) {
        let text =
            CString::new(event.to_json_string()).unwrap_or_else(|_| json_cstring(&Json::Null));
        // SAFETY: as in `guard`; `text` outlives the call.
        unsafe { (self.cb)(self.user_data.as_ptr(), text.as_ptr()) };
    }
}
