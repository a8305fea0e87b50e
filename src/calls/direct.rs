//! Managed calls from JS: the callback called directly, and JS values passed
//! through untouched when nothing but JS sees them.
//!
//! A managed call started in JS runs its core pipeline during the native
//! entry (see [`crate::driver`]), so the JS callback is usually called while
//! the caller's own values are still alive: directly, without a `napi_ref`,
//! which is made only if the call is still running when the entry returns.
//! What the callback and the middleware receive depends on who observes the
//! call, decided when it starts:
//!
//! | mode | when | the core carries | JS stages and the callback get | the caller gets |
//! |---|---|---|---|---|
//! | [`Mode::Bare`] | [`Runtime::is_bare`]: nothing observes calls of its kind | a placeholder | the caller's arguments | the callback's own result |
//! | [`Mode::Through`] | nobody subscribes, and every guardrail and request intercept of the call's kind in its snapshot is JS of this realm (and there is no execution intercept) | a placeholder | the caller's arguments, then what each request intercept returned | the callback's own result |
//! | [`Mode::Mirrored`] | as through, but someone subscribes | JSON copies, for the events and the sanitizers (never refused: see [`convert::recorded`]) | as through | the callback's own result |
//! | [`Mode::Managed`] | anything else (native middleware or middleware of another realm that sees the request, execution intercepts) | JSON | JSON copies | a JSON copy of the result |
//!
//! Tool calls and unary LLM calls both work this way, and so do the requests
//! of streaming LLM calls ([`Shared::for_stream`]; a streaming call's
//! execution intercepts are stream intercepts). An LLM call's JS request is
//! the facade's `{ headers, content }` view of the caller's, and a request
//! intercept's answer is checked and shaped the same way
//! ([`crate::middleware::Request::pass_js`]).
//!
//! In the first two modes no value is ever converted to JSON and back,
//! which is most of what a small managed call costs otherwise. In mirrored
//! mode each value is converted once, one way, for the events (sanitizers
//! still get a copy of that). So a subscriber (an exporter, say) never
//! changes what a tool receives or returns, nor whether the call succeeds:
//! only what observes the request itself does. The JS
//! values of a call (its request as the stages rewrite it, the callback's
//! result, the `CallContext` object its middleware share) are kept in
//! [`Shared`]: as the raw `napi_value` while the entry runs, as a reference
//! once the call goes asynchronous. Every call started here hands its
//! `Shared` to its middleware as the call's [`CallExtension`], which is how
//! a JS shim finds them, and knows (in through mode) that the request it is
//! given is a placeholder.
//!
//! A through-mode call runs on the snapshot it was checked on
//! ([`nemo_relay_core::CallSnapshot`]), so no middleware registered
//! meanwhile can see its placeholder. A bare call is checked on the
//! runtime's counters: a registration made on another thread (a worker)
//! can race with the check, so the core may still run the pipeline. The
//! callback then feeds it a converted result, and the pipeline's own
//! stages see the placeholder (the core documents that a racing
//! registration may or may not apply).

use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use nemo_relay_core::{
    CallContext, CallExtension, CallKind, Json, RelayError, Runtime, ScopeStack, Step,
};

use crate::callbacks::{invoke, JsFn};
use crate::convert;
use crate::driver::{self, CoreFuture, IntoJs};
use crate::handles::{self, Native};
use crate::js::{Js, Result, Value};
use crate::js_ref::JsRef;
use crate::middleware::{Conversion, Request};
use crate::promise;

/// How a call treats its JS values (see the module docs).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Managed,
    Bare,
    Through,
    Mirrored,
}

impl Mode {
    /// What the core carries for the caller's JS request `v` (`what` names
    /// it in errors) in this mode: `v` converted when native stages need it,
    /// a copy for the record when only events do, a placeholder otherwise.
    /// And the JS value the call holds for its JS stages and callback (none
    /// in managed mode, where they get copies).
    pub(crate) fn request<R: Request>(
        self,
        js: Js,
        v: Value,
        what: &str,
    ) -> Result<(R, CallerRequest)> {
        let (core, exact) = match self {
            Mode::Managed => R::copy(js, v, what, Conversion::Strict)?,
            Mode::Mirrored => R::copy(js, v, what, Conversion::Recorded)?,
            Mode::Bare | Mode::Through => (R::placeholder(), false),
        };
        let value = (self != Mode::Managed).then_some(v);
        Ok((core, CallerRequest { value, exact }))
    }
}

/// The caller's request as a call holds it: the JS value its JS stages and
/// callback get (none in managed mode), and whether the core's copy of it
/// is exact.
pub(crate) struct CallerRequest {
    value: Option<Value>,
    exact: bool,
}

/// A JS value of the native entry that received or produced it; read only
/// while that entry runs (`Shared::in_entry`), on its thread.
#[derive(Clone, Copy)]
struct EntryValue(Value);

// SAFETY: only dereferenced on the JS thread during the entry (checked by
// `Shared::in_entry`).
unsafe impl Send for EntryValue {}
unsafe impl Sync for EntryValue {}

/// A JS value a call keeps.
enum Held {
    /// During the entry: the value itself.
    Entry(EntryValue),
    /// After it: a reference.
    Ref(Arc<JsRef>),
}

/// The state of one managed call started from JS.
pub(crate) struct Shared {
    env: usize,
    mode: Mode,
    kind: CallKind,
    name: String,
    func: EntryValue,
    /// The native entry is still running: `Held::Entry` values are valid.
    live: AtomicBool,
    /// The core future completed.
    finished: AtomicBool,
    /// The caller passed an `AbortSignal`: the call must stay in flight
    /// (with a token) while the callback's Promise is pending.
    abortable: bool,
    /// Bare and through modes: the request as JS.
    request: Mutex<Option<Held>>,
    /// Mirrored mode: the core's copy of `request` is exact, so it can
    /// tell whether the held value changed since.
    request_exact: AtomicBool,
    /// The callback's own result, when it goes to the caller untouched.
    result: Mutex<Option<Held>>,
    /// The `CallContext` object the call's JS middleware get.
    context: Mutex<Option<Held>>,
    /// The callback, kept for a call to it after the entry.
    later: Mutex<Option<JsFn>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    /// The call started from JS that a middleware runs for, if it is one.
    pub(crate) fn of(ctx: &CallContext) -> Option<&Shared> {
        Self::in_extension(ctx.extension.as_ref()?)
    }

    /// The call state a [`CallExtension`] carries, if it is ours.
    pub(crate) fn in_extension(ext: &CallExtension) -> Option<&Shared> {
        let ext: &(dyn Any + Send + Sync) = &*ext.0;
        ext.downcast_ref::<Shared>()
    }

    /// Whether request intercepts hand their JS answer on as it is.
    pub(crate) fn passes_request(&self) -> bool {
        matches!(self.mode, Mode::Through | Mode::Mirrored)
    }

    /// Whether the core carries a JSON copy of the JS request as well
    /// (mirrored mode), rather than a placeholder.
    pub(crate) fn mirrors_request(&self) -> bool {
        self.mode == Mode::Mirrored
    }

    /// The call's JS context object, made by `make` on first use.
    /// Middleware of another realm (a worker's, say) get their own.
    pub(crate) fn context_js(&self, js: Js, make: impl FnOnce() -> Result<Value>) -> Result<Value> {
        if !self.own_realm(js) {
            return make();
        }
        if let Some(held) = &*lock(&self.context) {
            return self.read(js, held);
        }
        let v = make()?;
        *lock(&self.context) = Some(self.hold(js, v)?);
        Ok(v)
    }

    fn what(&self) -> String {
        match self.kind {
            CallKind::Tool => format!("the result of tool '{}'", self.name),
            _ => format!("the response of LLM '{}'", self.name),
        }
    }

    fn in_entry(&self, js: Js) -> bool {
        self.live.load(Ordering::Acquire) && self.own_realm(js)
    }

    fn hold(&self, js: Js, v: Value) -> Result<Held> {
        Ok(if self.in_entry(js) {
            Held::Entry(EntryValue(v))
        } else {
            Held::Ref(Arc::new(JsRef::new(js, v)?))
        })
    }

    fn read(&self, js: Js, held: &Held) -> Result<Value> {
        match held {
            Held::Entry(v) if self.in_entry(js) => Ok(v.0),
            Held::Entry(_) => Err(RelayError::Internal(
                "a call's JS value was read after its entry without a reference".into(),
            )),
            Held::Ref(r) => r.value(js),
        }
    }

    /// The request as the next JS stage or the callback gets it: the held
    /// JS value, or `req` converted (managed mode).
    ///
    /// A mirrored call's events and its guardrails' verdicts were made from
    /// the JSON copy `req`, taken when the request came in (or when the last
    /// request intercept answered). If the caller's code changed the held
    /// object since (it ran while a stage was pending), no later stage and
    /// no tool may act on something nobody approved or recorded: they get
    /// the copy. During the entry only the call's own stages have run (and
    /// middleware must not change what it is given), so nothing is checked;
    /// a through-mode call has no copy to check against, and neither has a
    /// call whose copy is not exact (what JSON cannot represent was recorded
    /// in its stead): a stand-in must never reach a stage or the tool.
    pub(crate) fn request_js<R: Request>(&self, js: Js, req: &R) -> Result<Value> {
        let v = match &*lock(&self.request) {
            Some(held) if self.own_realm(js) => self.read(js, held)?,
            _ => return req.to_js(js),
        };
        if self.mode != Mode::Mirrored
            || self.in_entry(js)
            || !self.request_exact.load(Ordering::Acquire)
        {
            return Ok(v);
        }
        match R::copy(js, v, "the request", Conversion::Strict).map(|(now, _)| now) {
            Ok(now) if now == *req => Ok(v),
            _ => req.to_js(js),
        }
    }

    /// The state of a streaming LLM call started from JS in `mode`
    /// (`request`: the facade's view of the caller's request, unless the
    /// call is managed). Its middleware and its provider share the request
    /// as a unary call's do; the provider is called through
    /// [`Shared::request_js`], the stream itself is not kept here.
    pub(crate) fn for_stream(
        js: Js,
        mode: Mode,
        name: String,
        provider: Value,
        request: CallerRequest,
    ) -> Arc<Shared> {
        Arc::new(Shared::new(
            js,
            mode,
            CallKind::LlmStream,
            name,
            provider,
            request,
            false,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn new(
        js: Js,
        mode: Mode,
        kind: CallKind,
        name: String,
        func: Value,
        request: CallerRequest,
        abortable: bool,
    ) -> Shared {
        Shared {
            env: js.0 as usize,
            mode,
            kind,
            name,
            func: EntryValue(func),
            live: AtomicBool::new(true),
            finished: AtomicBool::new(false),
            abortable,
            request: Mutex::new(request.value.map(|a| Held::Entry(EntryValue(a)))),
            request_exact: AtomicBool::new(request.exact),
            result: Mutex::new(None),
            context: Mutex::new(None),
            later: Mutex::new(None),
        }
    }

    /// The native entry that started the call returns: past this point no
    /// raw value of the entry may be read, so what a call still running
    /// needs (`running`) is kept by reference.
    pub(crate) fn leave_entry(&self, js: Js, running: bool) -> Result<()> {
        let kept = if running {
            self.outlive_entry(js)
        } else {
            Ok(())
        };
        self.live.store(false, Ordering::Release);
        kept
    }

    /// Whether `js` is the environment the call was started from (whose
    /// values it holds).
    fn own_realm(&self, js: Js) -> bool {
        js.0 as usize == self.env
    }

    /// A request intercept's answer becomes the request (`exact`: the
    /// core's copy of it is).
    pub(crate) fn set_request(&self, js: Js, v: Value, exact: bool) -> Result<()> {
        let held = self.hold(js, v)?;
        *lock(&self.request) = Some(held);
        self.request_exact.store(exact, Ordering::Release);
        Ok(())
    }

    /// Whether the callback's result goes to the caller as it is.
    fn passes_result(&self) -> bool {
        match self.mode {
            Mode::Through | Mode::Mirrored => true,
            // Checked again: a racing registration made the core run the
            // pipeline, which then needs the result as JSON.
            Mode::Bare => Runtime::global().is_bare(self.kind),
            Mode::Managed => false,
        }
    }

    /// What the core gets for the callback's result `v`.
    fn take_result(&self, js: Js, v: Value) -> Result<Json> {
        if self.passes_result() {
            // Mirrored: the end event needs a JSON copy. The caller gets
            // the value itself, so one JSON cannot represent is recorded
            // as well as it can: a tool that ran must not fail because
            // someone watches.
            let json = match self.mode {
                Mode::Mirrored => convert::recorded(js, v, &self.what())?,
                _ => Json::Null,
            };
            *lock(&self.result) = Some(self.hold(js, v)?);
            return Ok(json);
        }
        convert::to_json(js, v, &self.what())
    }

    /// The callback, called by the core inside the call's scope.
    fn call<R: Request>(self: &Arc<Self>, req: R) -> Step<nemo_relay_core::Result<Json>> {
        let stack = ScopeStack::current();
        if let Some(js) = crate::realm::current_env().filter(|js| self.in_entry(*js)) {
            return self.call_now(js, &req, stack);
        }
        let Some(f) = self.later_fn() else {
            return Step::ready(Err(RelayError::Internal(
                "a call's callback ran after its entry without a reference".into(),
            )));
        };
        let (now, later, parse) = (self.clone(), self.clone(), self.clone());
        let now_stack = stack.clone();
        invoke(
            &f,
            |js| {
                Ok([
                    now.request_js(js, &req)?,
                    handles::insert(js, Native::Stack(now_stack))?,
                ])
            },
            || {
                let req = req.clone();
                Box::new(move |js| {
                    Ok([
                        later.request_js(js, &req)?,
                        handles::insert(js, Native::Stack(stack))?,
                    ])
                })
            },
            move |js, v| parse.take_result(js, v),
        )
    }

    /// The callback as kept for a call to it from outside the entry.
    ///
    /// Another thread can get here before the entry that started the call
    /// has returned (a worker's execution intercept calls `next` as soon as
    /// the call is posted to it, while the caller's thread is still leaving
    /// the entry): the entry keeps the callback before it stops being live
    /// ([`Shared::leave_entry`]), so wait for that. The entry never waits
    /// on another thread (posted stages leave it pending), so the wait is
    /// as short as the rest of the entry.
    fn later_fn(&self) -> Option<JsFn> {
        loop {
            if let Some(f) = lock(&self.later).clone() {
                return Some(f);
            }
            if !self.live.load(Ordering::Acquire) {
                return lock(&self.later).clone();
            }
            std::thread::yield_now();
        }
    }

    /// During the entry: call the JS function directly.
    fn call_now<R: Request>(
        self: &Arc<Self>,
        js: Js,
        req: &R,
        stack: ScopeStack,
    ) -> Step<nemo_relay_core::Result<Json>> {
        let called = (|| {
            let args = self.request_js(js, req)?;
            let stack = handles::insert(js, Native::Stack(stack))?;
            js.call(self.func.0, &[args, stack])
        })();
        let v = match called {
            Ok(v) => v,
            Err(e) => return Step::ready(Err(e)),
        };
        if self.passes_result() {
            // A Promise too goes back as it is, for the caller to await;
            // unless the call can be aborted, which needs it in flight, or
            // its end event needs the value it settles with.
            let in_flight = self.abortable || self.mode == Mode::Mirrored;
            if in_flight && js.is_promise(v).unwrap_or(false) {
                let me = self.clone();
                return match promise::await_promise(js, v, move |js, v| me.take_result(js, v)) {
                    Ok(slot) => Step::pending(slot),
                    Err(e) => Step::ready(Err(e)),
                };
            }
            return Step::ready(self.take_result(js, v));
        }
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

    /// The entry is returning while the call still runs: keep its values.
    fn outlive_entry(&self, js: Js) -> Result<()> {
        for slot in [&self.request, &self.result, &self.context] {
            let mut held = lock(slot);
            if let Some(Held::Entry(v)) = &*held {
                *held = Some(Held::Ref(Arc::new(JsRef::new(js, v.0)?)));
            }
        }
        *lock(&self.later) = Some(Arc::new(JsRef::new(js, self.func.0)?));
        Ok(())
    }
}

/// What a managed call from JS resolves to: the core's JSON result, or the
/// callback's own value.
struct Outcome {
    json: Json,
    own: Option<(Held, Arc<Shared>)>,
}

impl IntoJs for Outcome {
    fn into_js(self, js: Js) -> Result<Value> {
        match self.own {
            Some((held, shared)) => shared.read(js, &held),
            None => self.json.into_js(js),
        }
    }
}

/// The boxed callback a call's core future runs.
pub(super) type Callback<R> = Box<dyn Fn(R) -> Step<nemo_relay_core::Result<Json>> + Send + Sync>;

/// Run a managed call whose callback is `func`, in `mode` (`args`: the
/// caller's request as the call holds it).
/// `start(name, extension, callback)` builds the core future; `extension`
/// is the call's [`CallExtension`], which gives its middleware the call's
/// [`Shared`] state.
#[allow(clippy::too_many_arguments)]
pub(super) fn run<R: Request>(
    js: Js,
    kind: CallKind,
    name: String,
    func: Value,
    mode: Mode,
    args: CallerRequest,
    token_out: Option<Value>,
    start: impl FnOnce(String, Option<CallExtension>, Callback<R>) -> CoreFuture<Json>,
) -> Result<Value> {
    let shared = Arc::new(Shared::new(
        js,
        mode,
        kind,
        name.clone(),
        func,
        args,
        token_out.is_some(),
    ));
    let extension = Some(CallExtension(shared.clone()));
    let cb_shared = shared.clone();
    let core = start(name, extension, Box::new(move |req: R| cb_shared.call(req)));
    let fut_shared = shared.clone();
    let fut: CoreFuture<Outcome> = Box::pin(async move {
        let json = core.await?;
        fut_shared.finished.store(true, Ordering::Release);
        let own = lock(&fut_shared.result).take();
        Ok(Outcome {
            json,
            own: own.map(|held| (held, fut_shared.clone())),
        })
    });
    let out = driver::run(js, fut, token_out);
    // Asynchronous: what a later stage or the callback needs must outlive
    // this entry.
    let running = out.is_ok() && !shared.finished.load(Ordering::Acquire);
    shared.leave_entry(js, running)?;
    out
}
