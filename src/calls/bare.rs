//! Bare managed calls: no conversion, no reference, the original values.
//!
//! When [`Runtime::is_bare`] says nothing observes a call of this kind (no
//! subscriber, no middleware at any level), the core runs the callback
//! inside the call's scope and hands back whatever it returns, without ever
//! looking at the request or the result. So the binding gives the core a
//! placeholder request and calls the JS callback with the caller's *original*
//! JS arguments, and returns the callback's *original* JS result (a value, or
//! its Promise as-is): no JSON round trip either way, no `napi_ref` for the
//! callback (it runs during the synchronous first poll, while the caller's
//! values are alive), no Promise of ours, no `then` callbacks.
//!
//! Observed calls use the same callback without the pass-through: the core
//! gets the converted request and the result is converted back, but the
//! callback is still called directly during the entry, and a `napi_ref` to
//! it is made only if the call is still running when the entry returns.
//!
//! A registration made on another thread (a worker) can race with the
//! check, so the core may still run the managed pipeline. The callback
//! re-checks when it runs and then feeds the pipeline a converted result;
//! if the pipeline goes asynchronous before reaching the callback, the
//! callback and arguments are kept alive as references at the end of the
//! entry. In that race the pipeline's own stages see the placeholder request
//! (the core documents that a racing registration may or may not apply).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use nemo_relay_core::{CallKind, Json, RelayError, Runtime, ScopeStack, Step};

use crate::callbacks::{invoke, JsFn};
use crate::convert;
use crate::driver::{self, CoreFuture};
use crate::handles::{self, Native};
use crate::js::{Js, Result, Value};
use crate::js_ref::JsRef;
use crate::middleware::Request;
use crate::promise;

/// A JS value of the native entry that received it; read only while that
/// entry runs (`Shared::live`), on its thread.
#[derive(Clone, Copy)]
struct EntryValue(Value);

// SAFETY: only dereferenced on the JS thread during the entry (checked by
// `Shared::live` plus the current-environment check in `call`).
unsafe impl Send for EntryValue {}
unsafe impl Sync for EntryValue {}

type Later = (JsFn, Option<Arc<JsRef>>);

struct Shared {
    env: usize,
    /// Checked bare before the call: pass the caller's values through.
    bare: bool,
    kind: CallKind,
    name: String,
    func: EntryValue,
    args: EntryValue,
    /// The native entry is still running: `func` and `args` are valid.
    live: AtomicBool,
    args_used: AtomicBool,
    /// The core future completed during the entry.
    finished: AtomicBool,
    /// The callback's raw result, when the call ran bare.
    raw: Mutex<Option<EntryValue>>,
    /// `raw` as JSON, when the call ended up asynchronous after all.
    json: Mutex<Option<Json>>,
    /// References kept for a callback that runs after the entry.
    later: Mutex<Option<Later>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    fn what(&self) -> String {
        match self.kind {
            CallKind::Tool => format!("the result of tool '{}'", self.name),
            _ => format!("the response of LLM '{}'", self.name),
        }
    }

    /// The callback, called by the core inside the call's scope.
    fn call<R: Request>(self: &Arc<Self>, req: R) -> Step<nemo_relay_core::Result<Json>> {
        let stack = ScopeStack::current();
        if self.live.load(Ordering::Acquire) {
            if let Some(js) = crate::realm::current_env().filter(|js| js.0 as usize == self.env) {
                return self.call_now(js, &req, stack);
            }
        }
        let Some((f, args)) = lock(&self.later).clone() else {
            return Step::ready(Err(RelayError::Internal(
                "a bare call's callback ran after its entry without references".into(),
            )));
        };
        let what = self.what();
        let now_args = args.clone();
        invoke(
            &f,
            |js| {
                let a = match &now_args {
                    Some(a) => a.value(js)?,
                    None => req.to_js(js)?,
                };
                Ok([a, handles::insert(js, Native::Stack(stack.clone()))?])
            },
            || {
                let (req, stack) = (req.clone(), stack.clone());
                Box::new(move |js| {
                    let a = match &args {
                        Some(a) => a.value(js)?,
                        None => req.to_js(js)?,
                    };
                    Ok([a, handles::insert(js, Native::Stack(stack))?])
                })
            },
            crate::callbacks::json(what),
        )
    }

    /// During the entry: call the JS function directly.
    fn call_now<R: Request>(
        &self,
        js: Js,
        req: &R,
        stack: ScopeStack,
    ) -> Step<nemo_relay_core::Result<Json>> {
        let called = (|| {
            let args = if !self.bare || self.args_used.swap(true, Ordering::AcqRel) {
                req.to_js(js)? // managed (or a retry): the pipeline's request
            } else {
                self.args.0
            };
            let stack = handles::insert(js, Native::Stack(stack))?;
            js.call(self.func.0, &[args, stack])
        })();
        let v = match called {
            Ok(v) => v,
            Err(e) => return Step::ready(Err(e)),
        };
        if self.bare && Runtime::global().is_bare(self.kind) {
            *lock(&self.raw) = Some(EntryValue(v));
            return Step::ready(Ok(Json::Null));
        }
        // Raced with a registration: the result goes through the pipeline.
        let what = self.what();
        match js.is_promise(v) {
            Ok(true) => match promise::await_promise(js, v, crate::callbacks::json(what)) {
                Ok(slot) => Step::pending(slot),
                Err(e) => Step::ready(Err(e)),
            },
            Ok(false) => Step::ready(convert::to_json(js, v, &what)),
            Err(e) => Step::ready(Err(e)),
        }
    }
}

/// Run a managed call whose callback is `func`: `start(name, callback)`
/// builds the core future. With `args` (the caller's JS request) the call
/// was checked bare; without, the core gets the converted request and the
/// callback only skips the per-call `napi_ref` while the entry runs.
pub(super) fn run<R: Request>(
    js: Js,
    kind: CallKind,
    name: String,
    func: Value,
    args: Option<Value>,
    token_out: Option<Value>,
    start: impl FnOnce(
        String,
        Box<dyn Fn(R) -> Step<nemo_relay_core::Result<Json>> + Send + Sync>,
    ) -> CoreFuture<Json>,
) -> Result<Value> {
    let shared = Arc::new(Shared {
        env: js.0 as usize,
        bare: args.is_some(),
        kind,
        name: name.clone(),
        func: EntryValue(func),
        args: EntryValue(args.unwrap_or(std::ptr::null_mut())),
        live: AtomicBool::new(true),
        args_used: AtomicBool::new(false),
        finished: AtomicBool::new(false),
        raw: Mutex::new(None),
        json: Mutex::new(None),
        later: Mutex::new(None),
    });
    let cb_shared = shared.clone();
    let core = start(name, Box::new(move |req: R| cb_shared.call(req)));
    let fut_shared = shared.clone();
    let fut: CoreFuture<Json> = Box::pin(async move {
        let out = core.await;
        fut_shared.finished.store(true, Ordering::Release);
        let converted = lock(&fut_shared.json).take();
        out.map(|v| converted.unwrap_or(v))
    });
    let out = driver::run(js, fut, token_out);
    shared.live.store(false, Ordering::Release);
    let out = out?;
    let raw = lock(&shared.raw).take();
    if shared.finished.load(Ordering::Acquire) {
        // The usual case: the caller gets the callback's own value.
        return Ok(raw.map_or(out, |r| r.0));
    }
    // Asynchronous after all (a racing registration): keep what a later
    // callback needs, and the result it already produced, past this entry.
    if let Some(r) = raw {
        let json = convert::to_json(js, r.0, &shared.what())?;
        *lock(&shared.json) = Some(json);
    }
    let args = match args {
        Some(a) if !shared.args_used.load(Ordering::Acquire) => Some(Arc::new(JsRef::new(js, a)?)),
        _ => None,
    };
    *lock(&shared.later) = Some((Arc::new(JsRef::new(js, func)?), args));
    Ok(out)
}
