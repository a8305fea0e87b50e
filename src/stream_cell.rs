//! Streaming LLM calls, caller side: the stream handle behind the facade's
//! `LlmStream` async iterator.
//!
//! The facade asks for a chunk with `streamNext(stream, pull)`. Native code
//! polls the core stream once, on the JS thread, and answers with one of:
//!
//! | answer | meaning | the facade then |
//! |---|---|---|
//! | a chunk | the next chunk | yields it |
//! | `undefined` | the stream ended (or was closed) | reports `done` |
//! | `pull` itself | a provider iterator must be pulled: `pull.iter` | calls `pull.iter.next()` and hands the outcome to `streamFeed(stream, pull, outcome, value)`, which answers the same way |
//! | a Promise | the stream waits on something else (an asynchronous sanitizer at the end, a native intercept) | awaits it; it settles with one of the above |
//!
//! While it awaits `pull.iter.next()`, the facade empties `pull.held.iter`
//! (see `Pulls::held`), so that only the pull holds the iterator.
//!
//! `pull.direct` is set when no stream execution intercept wraps the
//! provider ([`LlmStream::is_passthrough`]): each poll pulls the provider
//! once, so after a chunk the facade may pull the provider right away and
//! feed the outcome, one native call per chunk instead of two. Either way the
//! provider is pulled only when the caller asks for a chunk.
//!
//! A poll that ends pending without asking for a pull hands out a Promise
//! and keeps it in the cell; the cell is the poll's waker, so the wake polls
//! again (on the JS thread) and settles that Promise.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};

use napi_derive::napi;
use nemo_relay_core::{Json, JsonStream, LlmStream, RelayError};

use crate::convert;
use crate::driver::IntoJs;
use crate::errors;
use crate::handles::{self, Native};
use crate::js::{boundary, Arg, Deferred, Js, Raw, Result, Value};
use crate::js_ref::JsRef;
use crate::realm::Realm;
use crate::streams::{poll_for_facade, Pulls};

/// Where a caller's stream is between polls.
enum CellState {
    /// Ready to be polled.
    Idle(JsonStream),
    /// A poll is running.
    Busy,
    /// Ended, failed or closed.
    Finished,
}

/// A Promise handed to the facade while the stream waits for a wake.
struct Waiting {
    deferred: Deferred,
    /// The facade's `pull` object, for the answer.
    pull: JsRef,
}

/// The caller's end of a stream, held by the facade as an external.
pub(crate) struct StreamCell {
    state: Mutex<CellState>,
    /// No intercept wraps the provider (see the module docs).
    passthrough: bool,
    /// The iterator the facade was last told to pull (its `pull.iter`).
    pulling: Mutex<Option<Arc<Pulls>>>,
    waiting: Mutex<Option<Waiting>>,
    /// A wake arrived since the last poll began.
    woke: AtomicBool,
    realm: Arc<Realm>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl StreamCell {
    fn new(js: Js, stream: JsonStream, passthrough: bool) -> Result<Arc<StreamCell>> {
        Ok(Arc::new(StreamCell {
            state: Mutex::new(CellState::Idle(stream)),
            passthrough,
            pulling: Mutex::new(None),
            waiting: Mutex::new(None),
            woke: AtomicBool::new(false),
            realm: Realm::of(js)?,
        }))
    }

    /// Take the stream for a poll: `None` once finished.
    fn begin(&self) -> Result<Option<JsonStream>> {
        let mut st = lock(&self.state);
        match std::mem::replace(&mut *st, CellState::Busy) {
            CellState::Idle(s) => Ok(Some(s)),
            CellState::Busy => Err(RelayError::invalid(
                "next() was called while the previous next() was still pending",
            )),
            CellState::Finished => {
                *st = CellState::Finished;
                Ok(None)
            }
        }
    }

    /// Put the stream back after a poll, or retire it when it is `finished`.
    /// False when the stream was closed during the poll (it drops here,
    /// recording the early end).
    fn end_poll(&self, stream: JsonStream, finished: bool) -> bool {
        let mut st = lock(&self.state);
        let open = matches!(*st, CellState::Busy);
        if open && !finished {
            *st = CellState::Idle(stream);
            return true;
        }
        *st = CellState::Finished;
        drop(st);
        drop(stream);
        // The iterator is never pulled again: do not keep it alive.
        *lock(&self.pulling) = None;
        open
    }

    /// Close it: the stream drops (recording the early end and closing the
    /// provider), and a Promise the facade awaits resolves as the end.
    fn finish(&self, js: Js) {
        let previous = std::mem::replace(&mut *lock(&self.state), CellState::Finished);
        drop(previous);
        *lock(&self.pulling) = None;
        let waiting = lock(&self.waiting).take();
        if let Some(w) = waiting {
            if let Ok(u) = js.undefined() {
                let _ = w.deferred.resolve(js, u);
            }
        }
    }

    /// Point the facade's `pull` object at the iterator `pulls` asks for.
    fn show(&self, js: Js, pull: Value, pulls: Arc<Pulls>) -> Result<()> {
        let mut cur = lock(&self.pulling);
        if cur.as_ref().is_some_and(|c| Arc::ptr_eq(c, &pulls)) {
            return Ok(());
        }
        js.set_named(pull, c"iter", pulls.iter(js)?)?;
        js.set_named(pull, c"held", pulls.held(js)?)?;
        // Only the provider's iterator is ever pulled when nothing wraps it.
        js.set_named(pull, c"direct", js.boolean(self.passthrough)?)?;
        *cur = Some(pulls);
        Ok(())
    }
}

/// Poll the stream for the facade's next answer (see the module docs).
fn step(js: Js, cell: &Arc<StreamCell>, pull: Value) -> Result<Value> {
    loop {
        let Some(mut stream) = cell.begin()? else {
            return js.undefined();
        };
        cell.woke.store(false, Ordering::SeqCst);
        let waker = Waker::from(cell.clone());
        let mut cx = Context::from_waker(&waker);
        let (polled, want) = poll_for_facade(|| stream.as_mut().poll_next(&mut cx));
        match polled {
            Poll::Ready(Some(Ok(chunk))) => {
                cell.end_poll(stream, false);
                return convert::to_js(js, &chunk);
            }
            Poll::Ready(None) => {
                cell.end_poll(stream, true);
                return js.undefined();
            }
            Poll::Ready(Some(Err(e))) => {
                cell.end_poll(stream, true);
                return Err(e);
            }
            Poll::Pending => {
                if !cell.end_poll(stream, false) {
                    return js.undefined();
                }
                if let Some(pulls) = want {
                    cell.show(js, pull, pulls)?;
                    return Ok(pull);
                }
                if cell.woke.swap(false, Ordering::SeqCst) {
                    continue;
                }
                let (deferred, promise) = js.promise()?;
                let pull = JsRef::new(js, pull)?;
                *lock(&cell.waiting) = Some(Waiting { deferred, pull });
                // A wake from another thread may have missed the Promise.
                if cell.woke.swap(false, Ordering::SeqCst) {
                    let waiting = lock(&cell.waiting).take();
                    if let Some(w) = waiting {
                        resume(js, cell, w);
                    }
                }
                return Ok(promise);
            }
        }
    }
}

/// Poll again after a wake and settle the Promise the facade awaits.
fn resume(js: Js, cell: &Arc<StreamCell>, w: Waiting) {
    let answer = w.pull.value(js).and_then(|pull| step(js, cell, pull));
    // Settling fails only in a dying environment; nobody is left to tell.
    let _ = match answer {
        Ok(v) => w.deferred.resolve(js, v),
        Err(e) => w.deferred.reject(js, errors::to_js(js, &e)),
    };
}

impl Wake for StreamCell {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woke.store(true, Ordering::SeqCst);
        // No Promise out: the poll running now (or the next one) sees `woke`.
        let Some(w) = lock(&self.waiting).take() else {
            return;
        };
        match self.realm.current_js() {
            Some(js) => resume(js, self, w),
            None => {
                let me = self.clone();
                self.realm.post(Box::new(move |js| resume(js, &me, w)));
            }
        }
    }
}

impl IntoJs for JsonStream {
    fn into_js(self, js: Js) -> Result<Value> {
        handles::wrap(js, Native::Stream(StreamCell::new(js, self, false)?))
    }
}

impl IntoJs for LlmStream {
    fn into_js(self, js: Js) -> Result<Value> {
        let passthrough = self.is_passthrough();
        let cell = StreamCell::new(js, Box::pin(self), passthrough)?;
        handles::wrap(js, Native::Stream(cell))
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

/// The facade's next answer for `stream`: a chunk, `undefined` at the end,
/// `pull` when `pull.iter` must be pulled, or a Promise of one of these.
/// `pull` is the facade's own object for this stream: native code sets
/// `pull.iter` to the iterator to pull, and `pull.direct` when the facade
/// may pull it after each chunk without asking first.
#[napi(
    ts_args_type = "stream: ExternalObject<'Stream'>, pull: { iter?: unknown; held?: { iter?: unknown }; direct?: boolean }",
    ts_return_type = "unknown"
)]
pub fn stream_next(env: napi::Env, stream: Arg, pull: Arg) -> napi::Result<Raw> {
    boundary(env.raw(), |js| {
        let cell = handles::stream(js, stream.0)?;
        step(js, &cell, pull.0).map(Raw)
    })
}

/// Hand over what `pull.iter.next()` gave, then answer as `streamNext`.
/// `outcome`: 0 a result with `value`, 1 a `done` result, 2 `next()` threw
/// or rejected with `value`, 3 `next()` gave `value`, which is not an object.
#[napi(
    ts_args_type = "stream: ExternalObject<'Stream'>, pull: { iter?: unknown; held?: { iter?: unknown }; direct?: boolean }, outcome: 0 | 1 | 2 | 3, value: unknown",
    ts_return_type = "unknown"
)]
pub fn stream_feed(
    env: napi::Env,
    stream: Arg,
    pull: Arg,
    outcome: u32,
    value: Arg,
) -> napi::Result<Raw> {
    boundary(env.raw(), |js| {
        let cell = handles::stream(js, stream.0)?;
        let pulls = lock(&cell.pulling).clone();
        if let Some(p) = pulls {
            p.feed(js, outcome, value.0);
        }
        step(js, &cell, pull.0).map(Raw)
    })
}

/// Close a stream early. The core records the call's end as cancelled and
/// the provider iterator's `return()` runs. Idempotent.
#[napi(ts_args_type = "stream: ExternalObject<'Stream'>")]
pub fn stream_close(env: napi::Env, stream: Arg) -> napi::Result<()> {
    boundary(env.raw(), |js| {
        let cell = handles::stream(js, stream.0)?;
        cell.finish(js);
        Ok(())
    })
}
