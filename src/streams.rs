//! Streaming LLM calls: JS async iterators in, a pull-based stream out.
//!
//! ```text
//!  provider (JS AsyncIterator) ◀─next()── JsIterStream ◀─poll── core LlmStream
//!                                                                  ▲ (intercepts, chunk marks,
//!                                                                  │  end event)
//!  caller: for await (…) ──streamNext──▶ StreamCell ──poll once────┘
//! ```
//!
//! Nothing is read ahead: the provider's `next()` is called only when the
//! caller asks for a chunk, so a slow consumer slows the provider down
//! (backpressure) and the first chunk reaches the caller before the provider
//! has produced the second. `streamClose` drops the native stream: the core
//! records the early end (`cancelled`) and the provider iterator's `return()`
//! is called.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures_core::Stream;
use napi::sys::ValueType as T;
use napi_derive::napi;
use nemo_relay_core::middleware::ExecFn;
use nemo_relay_core::{
    CallContext, Json, JsonStream, LlmRequest, LlmStream, RelayError, Runtime, ScopeStack,
    StreamOptions,
};

use crate::callbacks::{invoke, JsFn};
use crate::calls::{call_options, CallOptions};
use crate::convert;
use crate::driver::{self, IntoJs};
use crate::handles::{self, Native};
use crate::js::{boundary, Arg, Js, Raw, Result, Value};
use crate::js_ref::JsRef;
use crate::middleware::Request;
use crate::promise::{self, Fill, Slot};

/// A JS async iterator (`{ next(), return?() }`) as a core chunk stream.
struct JsIterStream {
    iter: Arc<JsRef>,
    /// The stream's `then` callbacks, created on its first asynchronous
    /// chunk and reused for every later one (at most one pull is
    /// outstanding), instead of two new finalized functions per chunk.
    then: Arc<Mutex<Option<(JsRef, JsRef)>>>,
    pulls: Arc<Pulls>,
    pending: Option<Slot<Option<Json>>>,
    done: bool,
}

/// Where the outcome of the outstanding `next()` goes.
struct Pulls {
    fill: Mutex<Option<Fill<Option<Json>>>>,
    what: Arc<str>,
}

fn iter_result(js: Js, r: Value, what: &str) -> Result<Option<Json>> {
    if js.type_of(r)? != T::napi_object {
        return Err(RelayError::invalid(format!(
            "{what}: next() must resolve to an iterator result object"
        )));
    }
    let done = js.get_named(r, c"done")?;
    if js.type_of(done)? == T::napi_boolean && js.to_bool(done)? {
        return Ok(None);
    }
    let value = js.get_named(r, c"value")?;
    convert::to_json(js, value, &format!("a chunk of {what}")).map(Some)
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
                iter_result(js, value, &pulls.what)
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
    fn boxed(js: Js, iter: Value, what: Arc<str>) -> Result<JsonStream> {
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
        Ok(Box::pin(JsIterStream {
            iter: Arc::new(JsRef::new(js, iter)?),
            then: Arc::default(),
            pulls: Arc::new(Pulls {
                fill: Mutex::new(None),
                what,
            }),
            pending: None,
            done: false,
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
                    Ok(false) => fill.complete(iter_result(js, v, &pulls.what)),
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
            this.pending = Some(this.pull());
        }
        let Some(slot) = this.pending.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(slot).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(r) => {
                this.pending = None;
                match r {
                    Ok(Some(chunk)) => Poll::Ready(Some(Ok(chunk))),
                    Ok(None) => {
                        this.done = true;
                        Poll::Ready(None)
                    }
                    Err(e) => {
                        this.done = true;
                        Poll::Ready(Some(Err(e)))
                    }
                }
            }
        }
    }
}

use std::future::Future;

impl Drop for JsIterStream {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // Closed early: let the provider clean up (`finally` blocks run).
        let iter = self.iter.clone();
        self.iter.realm().run_or_post(Box::new(move |js| {
            let _ = (|| -> Result<()> {
                let it = iter.value(js)?;
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

/// Where a caller's stream is between `streamNext` calls.
enum CellState {
    /// Ready for the next `streamNext`.
    Idle(JsonStream),
    /// A `streamNext` is polling it.
    Busy,
    /// Ended, failed or closed.
    Finished,
}

/// The caller's end of a stream, held by the facade as an external.
pub(crate) struct StreamCell {
    state: Mutex<CellState>,
}

impl StreamCell {
    fn lock(&self) -> std::sync::MutexGuard<'_, CellState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Close it: the stream (if idle) is dropped by the caller of this.
    fn finish(&self) -> Option<JsonStream> {
        match std::mem::replace(&mut *self.lock(), CellState::Finished) {
            CellState::Idle(s) => Some(s),
            _ => None,
        }
    }
}

/// Polls a [`StreamCell`] for one chunk (`None` at the end).
struct NextChunk {
    cell: Arc<StreamCell>,
    stream: Option<JsonStream>,
}

impl Future for NextChunk {
    type Output = nemo_relay_core::Result<Option<Json>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.stream.is_none() {
            let mut st = this.cell.lock();
            match std::mem::replace(&mut *st, CellState::Busy) {
                CellState::Idle(s) => this.stream = Some(s),
                CellState::Busy => {
                    return Poll::Ready(Err(RelayError::invalid(
                        "next() was called while the previous next() was still pending",
                    )))
                }
                CellState::Finished => {
                    *st = CellState::Finished;
                    return Poll::Ready(Ok(None));
                }
            }
        }
        let Some(stream) = this.stream.as_mut() else {
            return Poll::Ready(Ok(None));
        };
        let polled = stream.as_mut().poll_next(cx);
        let outcome = match polled {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Some(Ok(chunk))) => Ok(Some(chunk)),
            Poll::Ready(None) => Ok(None),
            Poll::Ready(Some(Err(e))) => Err(e),
        };
        let mut st = this.cell.lock();
        match (&outcome, &*st) {
            // Hand the stream back for the next chunk, unless it was closed
            // meanwhile (then it drops here, recording the early end).
            (Ok(Some(_)), CellState::Busy) => {
                if let Some(s) = this.stream.take() {
                    *st = CellState::Idle(s);
                }
            }
            _ => *st = CellState::Finished,
        }
        drop(st);
        Poll::Ready(outcome)
    }
}

impl Drop for NextChunk {
    fn drop(&mut self) {
        // Dropped mid-poll (a cancelled call): the stream is finished.
        if self.stream.is_some() {
            *self.cell.lock() = CellState::Finished;
        }
    }
}

impl IntoJs for Option<Json> {
    fn into_js(self, js: Js) -> Result<Value> {
        match self {
            Some(v) => convert::to_js(js, &v),
            None => js.undefined(),
        }
    }
}

impl IntoJs for JsonStream {
    fn into_js(self, js: Js) -> Result<Value> {
        handles::wrap(
            js,
            Native::Stream(Arc::new(StreamCell {
                state: Mutex::new(CellState::Idle(self)),
            })),
        )
    }
}

impl IntoJs for LlmStream {
    fn into_js(self, js: Js) -> Result<Value> {
        (Box::pin(self) as JsonStream).into_js(js)
    }
}

/// A stream execution intercept calling exec wrapper `f`.
pub(crate) fn stream_exec(f: JsFn, what: String) -> ExecFn<LlmRequest, JsonStream> {
    let what: Arc<str> = Arc::from(what);
    Arc::new(move |ctx: &CallContext, req: LlmRequest, next| {
        let what = what.clone();
        crate::next::invoke_exec(&f, ctx, req, next, move |js, v| {
            JsIterStream::boxed(js, v, what)
        })
    })
}

/// The next chunk of a stream: the chunk, `undefined` at the end, or a
/// Promise of either. Errors are thrown (or rejected) as the original.
#[napi(
    ts_args_type = "stream: ExternalObject<'Stream'>",
    ts_return_type = "unknown"
)]
pub fn stream_next(env: napi::Env, stream: Arg) -> napi::Result<Raw> {
    boundary(env.raw(), |js| {
        let cell = handles::stream(js, stream.0)?;
        let fut = NextChunk { cell, stream: None };
        driver::run(js, Box::pin(fut), None).map(Raw)
    })
}

/// Close a stream early. The core records the call's end as cancelled and
/// the provider iterator's `return()` runs. Idempotent.
#[napi(ts_args_type = "stream: ExternalObject<'Stream'>")]
pub fn stream_close(env: napi::Env, stream: Arg) -> napi::Result<()> {
    boundary(env.raw(), |js| {
        let cell = handles::stream(js, stream.0)?;
        drop(cell.finish());
        Ok(())
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
        let request = LlmRequest::from_js(js, request.0, "the LLM request")?;
        let provider: JsFn = Arc::new(JsRef::new(js, provider.0)?);
        let opts = StreamOptions {
            call: call_options(js, stack.0, options)?,
            aggregate: None,
        };
        let what: Arc<str> = Arc::from(format!("streaming LLM provider '{name}'"));
        let fut = async move {
            Runtime::global()
                .llm_stream_call(&name, request, opts, move |req: LlmRequest| {
                    let stack = ScopeStack::current();
                    let what = what.clone();
                    invoke(
                        &provider,
                        |js| {
                            Ok([
                                req.to_js(js)?,
                                handles::insert(js, Native::Stack(stack.clone()))?,
                            ])
                        },
                        || {
                            let (req, stack) = (req.clone(), stack.clone());
                            Box::new(move |js| {
                                Ok([req.to_js(js)?, handles::insert(js, Native::Stack(stack))?])
                            })
                        },
                        move |js, v| JsIterStream::boxed(js, v, what),
                    )
                })
                .await
        };
        driver::run(js, Box::pin(fut), token_out.map(|t| t.0)).map(Raw)
    })
}
