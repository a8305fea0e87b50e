//! Streaming LLM calls, provider side: a JS async iterator as a core stream.
//!
//! ```text
//!  caller: for await ─▶ LlmStream (facade) ─streamNext/streamFeed─▶ StreamCell ─poll─▶ core LlmStream
//!                          │ ▲                                                         (intercepts, chunk
//!                          │ └──── "pull this iterator" ◀── JsIterStream::poll_next     marks, end event)
//!                          └─▶ provider.next() in JS ──result──▶ streamFeed ──▶ JsIterStream
//! ```
//!
//! A [`JsIterStream`] polled by a caller's [`StreamCell`](crate::stream_cell)
//! on the JS thread does not call the iterator itself: it asks the facade
//! that drives the poll to call `next()` in JS and feed the result back
//! (`streamFeed`). That keeps each chunk to plain JS promise work plus native
//! calls, with no native-to-JS call, no `then` callbacks and no native
//! Promise per chunk. Polled anywhere else (a native intercept polling on
//! another thread, or another realm's caller: a worker's intercept wraps
//! the main thread's provider, say), it calls `next()` through the realm
//! and attaches native `then` callbacks, as any JS Promise awaited from
//! Rust.
//!
//! Nothing is read ahead either way: `next()` is called only when the
//! caller asks for a chunk, so a slow consumer slows the provider down
//! (backpressure) and the first chunk reaches the caller before the provider
//! has produced the second. Dropping the stream early calls the iterator's
//! `return()`, so the provider's `finally` blocks run.

use std::cell::RefCell;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures_core::Stream;
use napi::sys::ValueType as T;
use napi_derive::napi;
use nemo_relay_core::middleware::ExecFn;
use nemo_relay_core::{
    CallContext, CallExtension, CallKind, Json, JsonStream, LlmRequest, RelayError, Runtime,
    ScopeStack, StreamOptions,
};

use crate::callbacks::{invoke, JsFn};
use crate::calls::direct::Shared;
use crate::calls::{call_options, CallOptions, Mode};
use crate::convert;
use crate::driver;
use crate::handles::{self, Native};
use crate::js::{boundary, Arg, Js, Raw, Result, Value};
use crate::js_ref::JsRef;
use crate::promise::{self, Fill, Slot};

/// A JS async iterator (`{ next(), return?() }`) as a core chunk stream.
struct JsIterStream {
    /// Weak: [`Pulls::held`] is what keeps the iterator alive.
    iter: Arc<JsRef>,
    /// The stream's `then` callbacks, created on its first asynchronous
    /// chunk and reused for every later one (at most one pull is
    /// outstanding), instead of two new finalized functions per chunk.
    then: Arc<Mutex<Option<(JsRef, JsRef)>>>,
    pulls: Arc<Pulls>,
    pending: Option<Slot<Option<Json>>>,
    done: bool,
    /// The iterator reached its own end: nothing is left to close.
    finished: bool,
}

/// What one `next()` of the iterator gave: a chunk, the end, or an error.
pub(crate) type Pulled = Result<Option<Json>>;

/// The iterator of a [`JsIterStream`] and where outcomes of its `next()` go.
pub(crate) struct Pulls {
    /// The outstanding native `next()` (the off-thread path).
    fill: Mutex<Option<Fill<Option<Json>>>>,
    /// An outcome the caller's facade pulled and fed back.
    fed: Mutex<Option<Pulled>>,
    iter: Arc<JsRef>,
    /// `{ iter }`, held strongly: it keeps the iterator alive, so that a
    /// stream dropped early can still close it. While the facade awaits
    /// the iterator's `next()`, it empties `held.iter` (and puts it back
    /// when the pull settles): the pending pull holds the facade, so a
    /// strong hold then would keep a stream whose provider never answers,
    /// and its open call, alive forever. Dropped while stalled, the stream
    /// is collected with its provider, as a plain async generator is.
    held: JsRef,
    what: Arc<str>,
    /// Names a chunk in conversion errors (built once, not per chunk).
    chunk_what: Box<str>,
    /// How chunks become the JSON the core carries: none in a through-mode
    /// call (nothing records them, and the caller gets the provider's own
    /// values, see the facade's `LlmStream`), where the core carries
    /// placeholders; a copy for the record in a mirrored one (never
    /// refused, as a unary call's result); else a strict conversion.
    convert: Option<Convert>,
}

/// A chunk's conversion to JSON (`what` names it in errors).
type Convert = fn(Js, Value, &str) -> Result<Json>;

impl Pulls {
    /// A chunk the iterator gave, as the core carries it.
    fn chunk(&self, js: Js, value: Value) -> Result<Json> {
        match self.convert {
            Some(convert) => convert(js, value, &self.chunk_what),
            None => Ok(Json::Null),
        }
    }
}

impl Pulls {
    /// The iterator, for the facade to pull.
    pub(crate) fn iter(&self, js: Js) -> Result<Value> {
        self.iter.value(js)
    }

    /// The iterator's holder (see [`Pulls::held`]), for the facade.
    pub(crate) fn held(&self, js: Js) -> Result<Value> {
        self.held.value(js)
    }

    /// Hand over what the facade's `next()` gave. `outcome` is 0 for a
    /// result with a value, 1 for a `done` result, 2 when `next()` threw or
    /// rejected (`value` is the error), 3 when it gave a non-object.
    pub(crate) fn feed(&self, js: Js, outcome: u32, value: Value) {
        let pulled = match outcome {
            0 => self.chunk(js, value).map(Some),
            1 => Ok(None),
            2 => Err(crate::errors::from_thrown(js, value)),
            _ => Err(not_a_result(&self.what)),
        };
        *self.fed.lock().unwrap_or_else(|p| p.into_inner()) = Some(pulled);
    }
}

fn not_a_result(what: &str) -> RelayError {
    RelayError::invalid(format!(
        "{what}: next() must resolve to an iterator result object"
    ))
}

thread_local! {
    /// Set while a caller's stream cell polls on this thread: the iterator
    /// a [`JsIterStream`] asked the facade to pull during that poll.
    static FEED: RefCell<Option<Option<Arc<Pulls>>>> = const { RefCell::new(None) };
}

/// Ask the facade driving the current poll to pull `pulls`' iterator.
/// False when no facade drives this poll, or one stream already asked.
fn ask_facade(pulls: &Arc<Pulls>) -> bool {
    FEED.with(|f| match &mut *f.borrow_mut() {
        Some(want @ None) => {
            *want = Some(pulls.clone());
            true
        }
        _ => false,
    })
}

/// Run `poll` as a poll the facade drives: a [`JsIterStream`] that needs its
/// next result asks for it instead of calling `next()`. Returns what `poll`
/// returned and the iterator to pull, if one asked.
pub(crate) fn poll_for_facade<R>(poll: impl FnOnce() -> R) -> (R, Option<Arc<Pulls>>) {
    /// Restores the enclosing poll's state, also on unwind (polls nest when
    /// an intercept's iterator pulls the stream it wraps).
    struct Restore(Option<Option<Option<Arc<Pulls>>>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            if let Some(prev) = self.0.take() {
                FEED.with(|f| *f.borrow_mut() = prev);
            }
        }
    }
    let mut restore = Restore(Some(FEED.with(|f| f.replace(Some(None)))));
    let out = poll();
    let prev = restore.0.take().flatten();
    let want = FEED.with(|f| f.replace(prev)).flatten();
    (out, want)
}

fn iter_result(js: Js, r: Value, pulls: &Pulls) -> Result<Option<Json>> {
    let what = &*pulls.what;
    if js.type_of(r)? != T::napi_object {
        return Err(not_a_result(what));
    }
    // Any truthy `done` ends the iteration, as it does for `for await`.
    let done = js.get_named(r, c"done")?;
    if js.truthy(done)? {
        return Ok(None);
    }
    let value = js.get_named(r, c"value")?;
    pulls.chunk(js, value).map(Some)
}

unsafe extern "C" fn release_pulls(
    _env: napi::sys::napi_env,
    data: *mut std::ffi::c_void,
    _hint: *mut std::ffi::c_void,
) {
    // SAFETY: `data` is one of the two Arcs leaked in `then_callbacks`.
    drop(unsafe { Arc::from_raw(data as *const Pulls) });
}

unsafe extern "C" fn on_pulled<const OK: bool>(
    env: napi::sys::napi_env,
    info: napi::sys::napi_callback_info,
) -> napi::sys::napi_value {
    let js = Js(env);
    // SAFETY: `info` belongs to this callback.
    let Ok(([value], data)) = (unsafe { js.callback_args::<1>(info) }) else {
        return std::ptr::null_mut();
    };
    // SAFETY: `data` is an Arc<Pulls> kept alive by this function's finalizer.
    let pulls = unsafe { &*(data as *const Pulls) };
    let fill = pulls.fill.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(fill) = fill {
        crate::realm::with_env(js, || {
            let outcome = if OK {
                iter_result(js, value, pulls)
            } else {
                Err(crate::errors::from_thrown(js, value))
            };
            fill.complete(outcome);
        });
    }
    std::ptr::null_mut()
}

/// The stream's two `then` callbacks (created on first use).
fn then_callbacks(
    js: Js,
    cached: &Mutex<Option<(JsRef, JsRef)>>,
    pulls: &Arc<Pulls>,
) -> Result<(Value, Value)> {
    let mut cached = cached.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((ok, err)) = cached.as_ref() {
        return Ok((ok.value(js)?, err.value(js)?));
    }
    let ok = js.function(
        c"onFulfilled",
        Some(on_pulled::<true>),
        Arc::into_raw(pulls.clone()) as *mut _,
        Some(release_pulls),
    )?;
    let err = js.function(
        c"onRejected",
        Some(on_pulled::<false>),
        Arc::into_raw(pulls.clone()) as *mut _,
        Some(release_pulls),
    )?;
    *cached = Some((JsRef::new(js, ok)?, JsRef::new(js, err)?));
    Ok((ok, err))
}

impl JsIterStream {
    fn boxed(js: Js, iter: Value, what: Arc<str>, convert: Option<Convert>) -> Result<JsonStream> {
        let t = js.type_of(iter)?;
        let next = if t == T::napi_object {
            js.get_named(iter, c"next")?
        } else {
            iter
        };
        if t != T::napi_object || js.type_of(next)? != T::napi_function {
            return Err(RelayError::invalid(format!(
                "{what} must return an AsyncIterable of chunks"
            )));
        }
        let held = js.object()?;
        js.set_named(held, c"iter", iter)?;
        let held = JsRef::new(js, held)?;
        let iter = Arc::new(JsRef::weak(js, iter)?);
        Ok(Box::pin(JsIterStream {
            iter: iter.clone(),
            then: Arc::default(),
            pulls: Arc::new(Pulls {
                fill: Mutex::new(None),
                fed: Mutex::new(None),
                iter,
                held,
                chunk_what: format!("a chunk of {what}").into(),
                convert,
                what,
            }),
            pending: None,
            done: false,
            finished: false,
        }))
    }

    /// Ask the iterator for its next result.
    fn pull(&self) -> Slot<Option<Json>> {
        let (fill, slot) = promise::slot();
        let iter = self.iter.clone();
        let then = self.then.clone();
        let pulls = self.pulls.clone();
        let task = move |js: Js| {
            let r = (|| -> Result<Value> {
                let it = iter.value(js)?;
                let next = js.get_named(it, c"next")?;
                let mut out = std::ptr::null_mut();
                // SAFETY: valid env and values; `next` is called on the iterator.
                js.check(unsafe {
                    napi::sys::napi_call_function(js.0, it, next, 0, std::ptr::null(), &mut out)
                })?;
                Ok(out)
            })();
            match r {
                Err(e) => fill.complete(Err(e)),
                Ok(v) => match js.is_promise(v) {
                    Ok(true) => {
                        // The Promise settles only while its realm lives: a
                        // worker terminated meanwhile abandons the pull
                        // (ERR_RELAY_CANCELLED) instead of leaving it
                        // waiting forever.
                        if let Some(w) = fill.abandoner() {
                            iter.realm().watch(w);
                        }
                        *pulls.fill.lock().unwrap_or_else(|p| p.into_inner()) = Some(fill);
                        let attached = then_callbacks(js, &then, &pulls).and_then(|(ok, err)| {
                            let f = js.get_named(v, c"then")?;
                            let mut out = std::ptr::null_mut();
                            let args = [ok, err];
                            // SAFETY: valid env and values; `then` is called on the promise.
                            js.check(unsafe {
                                napi::sys::napi_call_function(
                                    js.0,
                                    v,
                                    f,
                                    2,
                                    args.as_ptr(),
                                    &mut out,
                                )
                            })
                        });
                        if let Err(e) = attached {
                            let fill = pulls.fill.lock().unwrap_or_else(|p| p.into_inner()).take();
                            if let Some(fill) = fill {
                                fill.complete(Err(e));
                            }
                        }
                    }
                    Ok(false) => fill.complete(iter_result(js, v, &pulls)),
                    Err(e) => fill.complete(Err(e)),
                },
            }
        };
        if !self.iter.realm().run_or_post(Box::new(task)) {
            // The slot reports the lost environment when polled.
        }
        slot
    }
}

impl Stream for JsIterStream {
    type Item = nemo_relay_core::Result<Json>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if this.pending.is_none() {
            let fed = this
                .pulls
                .fed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            if let Some(pulled) = fed {
                return Poll::Ready(this.outcome(pulled));
            }
            // Only the facade of the iterator's own realm can pull it: a
            // stream of another thread's JS (a worker's stream execution
            // intercept, or the provider such an intercept wraps) is pulled
            // through its realm instead.
            if this.iter.realm().current_js().is_some() && ask_facade(&this.pulls) {
                // The facade pulls and feeds the result back, then polls again.
                return Poll::Pending;
            }
            this.pending = Some(this.pull());
        }
        let Some(slot) = this.pending.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(slot).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(r) => {
                this.pending = None;
                Poll::Ready(this.outcome(r))
            }
        }
    }
}

impl JsIterStream {
    /// What the stream yields for one `next()` outcome.
    fn outcome(&mut self, pulled: Pulled) -> Option<nemo_relay_core::Result<Json>> {
        match pulled {
            Ok(Some(chunk)) => Some(Ok(chunk)),
            Ok(None) => {
                self.done = true;
                self.finished = true;
                None
            }
            // The stream ends here, but the iterator may not have: a chunk
            // JSON cannot represent leaves it suspended, so `drop` still
            // closes it (its `finally` blocks run, its scope is let go).
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

use std::future::Future;

impl Drop for JsIterStream {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // Closed early, or failed: let the provider clean up (`finally`
        // blocks run). Closing an iterator whose `next()` threw is harmless.
        // The task holds `pulls`, whose `held` keeps the iterator alive
        // until it runs (it is posted when a finalizer drops the stream).
        let pulls = self.pulls.clone();
        self.iter.realm().run_or_post(Box::new(move |js| {
            let _ = (|| -> Result<()> {
                let it = pulls.iter(js)?;
                let ret = js.get_named(it, c"return")?;
                if js.type_of(ret)? == T::napi_function {
                    let mut out = std::ptr::null_mut();
                    // SAFETY: valid env and values.
                    js.check(unsafe {
                        napi::sys::napi_call_function(js.0, it, ret, 0, std::ptr::null(), &mut out)
                    })?;
                    // A rejected `return()` promise is the provider's own
                    // business; mark it handled so Node does not report it.
                    if js.is_promise(out)? {
                        promise::attach(js, out, promise::slot::<()>().0, |_, _| Ok(()))?;
                    }
                }
                Ok(())
            })();
        }));
    }
}

/// A stream execution intercept calling exec wrapper `f`.
pub(crate) fn stream_exec(f: JsFn, what: String) -> ExecFn<LlmRequest, JsonStream> {
    let what: Arc<str> = Arc::from(what);
    Arc::new(move |ctx: &CallContext, req: LlmRequest, next| {
        let what = what.clone();
        crate::next::invoke_exec(&f, ctx, req, next, move |js, v| {
            JsIterStream::boxed(js, v, what, Some(convert::to_json))
        })
    })
}

/// Run a streaming LLM call. `provider(request, stack)` returns an async
/// iterator of chunks. Resolves (or returns, when every stage was
/// synchronous) a stream handle for `streamNext` / `streamClose`.
#[napi(
    ts_args_type = "name: string, request: unknown, provider: (request: unknown, stack: number) => unknown, stack: number | ExternalObject<'ScopeStack'> | undefined, options?: CallOptions | undefined | null, tokenOut?: object | undefined | null",
    ts_return_type = "unknown"
)]
pub fn llm_stream_call(
    env: napi::Env,
    name: String,
    request: Arg,
    provider: Arg,
    stack: Arg,
    options: Option<CallOptions>,
    token_out: Option<Arg>,
) -> napi::Result<Raw> {
    boundary(env.raw(), |js| {
        let mut call = call_options(js, stack.0, options)?;
        // As for unary calls: when only this realm's JS sees the request,
        // the provider gets the caller's own values (the view), and the
        // core carries a JSON copy only if someone subscribes.
        let mode = crate::calls::mode_of(js, CallKind::LlmStream, &mut call)?;
        let (core_request, held) = mode.request::<LlmRequest>(js, request.0, "the LLM request")?;
        let shared = Shared::for_stream(js, mode, name.clone(), provider.0, held);
        call.extension = Some(CallExtension(shared.clone()));
        let provider: JsFn = Arc::new(JsRef::new(js, provider.0)?);
        let opts = StreamOptions {
            call,
            aggregate: None,
        };
        let what: Arc<str> = Arc::from(format!("streaming LLM provider '{name}'"));
        // Nothing records a through-mode call's chunks, and its caller gets
        // the provider's own values: they are not converted. A mirrored
        // call's caller gets them too: they are only recorded.
        let convert: Option<Convert> = match mode {
            Mode::Through | Mode::Bare => None,
            Mode::Mirrored => Some(convert::recorded),
            Mode::Managed => Some(convert::to_json),
        };
        let cb_shared = shared.clone();
        let fut = async move {
            Runtime::global()
                .llm_stream_call(&name, core_request, opts, move |req: LlmRequest| {
                    let stack = ScopeStack::current();
                    let what = what.clone();
                    let later = cb_shared.clone();
                    let now = &cb_shared;
                    invoke(
                        &provider,
                        |js| {
                            Ok([
                                now.request_js(js, &req)?,
                                handles::insert(js, Native::Stack(stack.clone()))?,
                            ])
                        },
                        || {
                            let (req, stack) = (req.clone(), stack.clone());
                            Box::new(move |js| {
                                Ok([
                                    later.request_js(js, &req)?,
                                    handles::insert(js, Native::Stack(stack))?,
                                ])
                            })
                        },
                        move |js, v| JsIterStream::boxed(js, v, what, convert),
                    )
                })
                .await
        };
        let out = driver::run(js, Box::pin(fut), token_out.map(|t| t.0));
        // A stream's call outlives this entry even when the stream was made
        // at once: its stream intercepts' `next` and its sanitize-response
        // guardrails run later, with the call's values.
        shared.leave_entry(js, out.is_ok())?;
        out.map(Raw)
    })
}
