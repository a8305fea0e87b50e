//! Calling a JS function from inside the core's pipeline.
//!
//! Middleware shims and tool/LLM callbacks are Rust closures the core calls
//! with a [`CallContext`](nemo_relay_core::CallContext) and a request. Each
//! wraps one JS function and turns the call into a [`Step`]:
//!
//! * **On the JS thread, inside a native entry** (the common case: the call
//!   started in JS and is being polled there): call the function directly.
//!   A plain return value is `Step::ready`; a returned Promise becomes
//!   `Step::pending` on a [`Slot`](crate::promise::Slot) its `then` fills.
//! * **Anywhere else** (Rust code on another thread calling a pipeline that
//!   has JS middleware): post the same work to the function's realm through
//!   its one threadsafe function and return `Step::pending` on a slot. The
//!   caller's thread never blocks and never touches V8.
//!
//! A throw is caught and becomes a callback error carrying the thrown value.

use std::sync::Arc;

use nemo_relay_core::{Json, Step};

use crate::convert;
use crate::js::{Js, Result, Value};
use crate::js_ref::JsRef;
use crate::promise::{self, attach};

/// A JS function held by a registration or an in-flight call.
pub(crate) type JsFn = Arc<JsRef>;

/// Call `f(args...)` on its JS thread and parse its (possibly awaited)
/// result. `now` is used when we already run there; `later` (which owns
/// copies of everything it needs) when the call must be posted.
pub(crate) fn invoke<T, const N: usize>(
    f: &JsFn,
    now: impl FnOnce(Js) -> Result<[Value; N]>,
    later: impl FnOnce() -> Box<dyn FnOnce(Js) -> Result<[Value; N]> + Send>,
    parse: impl FnOnce(Js, Value) -> Result<T> + Send + 'static,
) -> Step<nemo_relay_core::Result<T>>
where
    T: Send + 'static,
{
    let realm = f.realm();
    if let Some(js) = realm.current_js() {
        return match call(js, f, now) {
            Err(e) => Step::ready(Err(e)),
            Ok(v) => match js.is_promise(v) {
                Ok(true) => match promise::await_promise(js, v, parse) {
                    Ok(slot) => Step::pending(slot),
                    Err(e) => Step::ready(Err(e)),
                },
                Ok(false) => Step::ready(parse(js, v)),
                Err(e) => Step::ready(Err(e)),
            },
        };
    }
    let args = later();
    let (fill, slot) = promise::slot();
    // Called from another realm's JS thread (a worker's call running the
    // main thread's middleware, say): that realm waits for the answer.
    let fill = match crate::realm::current_env() {
        Some(here) => match crate::realm::Realm::of(here) {
            Ok(caller) => fill.keep_alive(caller.awaiting(here)),
            Err(_) => fill,
        },
        None => fill,
    };
    // If that realm goes away before it answers, the caller is told so.
    if let Some(receiver) = fill.abandoner() {
        realm.watch(receiver);
    }
    let f = f.clone();
    let posted = realm.post(Box::new(move |js| match call(js, &f, args) {
        Err(e) => fill.complete(Err(e)),
        Ok(v) => match js.is_promise(v) {
            Ok(true) => {
                // On failure `attach` drops `fill`, which reports the loss.
                let _ = attach(js, v, fill, parse);
            }
            Ok(false) => fill.complete(parse(js, v)),
            Err(e) => fill.complete(Err(e)),
        },
    }));
    if !posted {
        return Step::ready(Err(crate::realm::gone()));
    }
    Step::pending(slot)
}

fn call<const N: usize>(
    js: Js,
    f: &JsFn,
    args: impl FnOnce(Js) -> Result<[Value; N]>,
) -> Result<Value> {
    let func = f.value(js)?;
    let argv = args(js)?;
    js.call(func, &argv)
}

/// Parse a JSON result of callback `what`.
pub(crate) fn json(what: String) -> impl FnOnce(Js, Value) -> Result<Json> + Send + 'static {
    move |js, v| convert::to_json(js, v, &what)
}
