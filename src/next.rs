//! Execution intercepts from JS, and the `next` continuation they call.
//!
//! An execution intercept wraps the real callback: the core hands it a
//! [`Next`]; the JS wrapper receives a native `next(request)` function that
//! runs the rest of the chain. `next` returns the result directly when the
//! rest of the chain completed synchronously and a Promise otherwise, so a
//! synchronous intercept (`(req, next) => next(req)`) keeps the whole call
//! synchronous; `await next(req)` works either way. Calling `next` after the
//! intercept settled rejects with `ERR_RELAY_CONTINUATION_EXPIRED` (the core
//! leases continuations).

use std::ffi::c_void;
use std::ptr;

use napi::sys;
use nemo_relay_core::{CallContext, Next, ScopeStack, Step};

use crate::callbacks::{invoke, JsFn};
use crate::driver::{self, IntoJs};
use crate::handles::{self, Native};
use crate::js::{self, Js, Result, Value};
use crate::middleware::{ctx_value, Request};
use crate::realm::with_env;

/// Call exec wrapper `f(request, next, stack, ...ctx)` for one intercept.
pub(crate) fn invoke_exec<R, O>(
    f: &JsFn,
    ctx: &CallContext,
    req: R,
    next: Next<R, O>,
    parse: impl FnOnce(Js, Value) -> Result<O> + Send + 'static,
) -> Step<nemo_relay_core::Result<O>>
where
    R: Request,
    O: IntoJs,
{
    // The intercept runs inside the call (the core polls it in the call's
    // child scope): capture that stack now, while it is current.
    let stack = ScopeStack::current();
    invoke(
        f,
        |js| args(js, &req, next.clone(), ctx, &stack),
        || {
            let (req, next, ctx, stack) = (req.clone(), next.clone(), ctx.clone(), stack.clone());
            Box::new(move |js| args(js, &req, next, &ctx, &stack))
        },
        parse,
    )
}

fn args<R: Request, O: IntoJs>(
    js: Js,
    req: &R,
    next: Next<R, O>,
    ctx: &CallContext,
    stack: &ScopeStack,
) -> Result<[Value; 4]> {
    Ok([
        req.to_js(js)?,
        next_fn(js, next, stack.clone())?,
        handles::insert(js, Native::Stack(stack.clone()))?,
        ctx_value(js, ctx)?,
    ])
}

/// A JS function that continues the chain.
///
/// It carries the call's child stack as well as the continuation: an
/// intercept that awaits before calling `next` (a rate limiter, a cache
/// lookup) calls it from a later microtask, where the core's current stack
/// is no longer the call's. The rest of the chain, the callback included,
/// must still run inside the call, or its nested calls would be parented to
/// the root and escape the scope-local guardrails of the call's scopes.
fn next_fn<R: Request, O: IntoJs>(js: Js, next: Next<R, O>, stack: ScopeStack) -> Result<Value> {
    let data = Box::into_raw(Box::new((next, stack))) as *mut c_void;
    js.function(
        c"next",
        Some(call_next::<R, O>),
        data,
        Some(free_next::<R, O>),
    )
}

unsafe extern "C" fn free_next<R, O>(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: `data` is the box leaked in `next_fn`, freed once by GC.
    drop(unsafe { Box::from_raw(data as *mut (Next<R, O>, ScopeStack)) });
}

unsafe extern "C" fn call_next<R: Request, O: IntoJs>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    let js = Js(env);
    let out = with_env(js, || -> Result<Value> {
        // SAFETY: `info` belongs to this callback.
        let ([request], data) = unsafe { js.callback_args::<1>(info) }?;
        // SAFETY: `data` is the box owned by this function object.
        let (next, stack) = unsafe { &*(data as *const (Next<R, O>, ScopeStack)) };
        let request = R::from_js(js, request, "the argument of next()")?;
        // `run` may start the next stage at once, before its future is
        // first polled: both run with the call's stack current.
        let rest = stack.clone().sync_scope(|| next.run(request));
        driver::run(js, Box::pin(stack.clone().scope(rest)), None)
    });
    match out {
        Ok(v) => v,
        Err(e) => {
            let _ = js::throw(js, e);
            ptr::null_mut()
        }
    }
}
