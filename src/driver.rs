//! Running the core's futures on the JS thread: synchronously when they can
//! finish at once, as a Promise when they cannot.
//!
//! ```text
//!  #[napi] fn ──build core future──▶ poll once (JS thread, current env set)
//!                                       │ Ready  → return the value (no Promise, no hop)
//!                                       │ Pending → box it in a CallTask, return a Promise
//!                                       ▼
//!   a JS promise the pipeline awaits settles ─▶ native then-callback completes a Slot
//!        ─▶ waker: on the JS thread → re-poll right there (a microtask)
//!                  elsewhere        → post the re-poll to the realm's one TSFN
//!        ─▶ Ready → resolve / reject the Promise
//! ```
//!
//! With synchronous middleware the core's pipeline completes on its first
//! poll, so a managed call whose JS stages all return plain values costs one
//! native call and direct JS calls — nothing else. A stage returning a
//! Promise switches *that call* to asynchronous continuation.
//!
//! A task is never polled re-entrantly: a wake that arrives while it is being
//! polled only asks the poller to go round again.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};

use nemo_relay_core::{Json, RelayError};

use crate::convert;
use crate::errors;
use crate::handles::{self, Native};
use crate::js::{Deferred, Js, Result, Value};
use crate::realm::Realm;

/// A sendable boxed future of the core.
pub(crate) type CoreFuture<T> = Pin<Box<dyn Future<Output = nemo_relay_core::Result<T>> + Send>>;

/// What a finished future hands to JS.
pub(crate) trait IntoJs: Send + 'static {
    fn into_js(self, js: Js) -> Result<Value>;
}

impl IntoJs for Json {
    fn into_js(self, js: Js) -> Result<Value> {
        convert::to_js(js, &self)
    }
}

impl IntoJs for () {
    fn into_js(self, js: Js) -> Result<Value> {
        js.undefined()
    }
}

/// An in-flight call the facade can abort (`AbortSignal`).
pub(crate) trait Cancel: Send + Sync {
    /// Drop the native future (the core records the call as cancelled) and
    /// reject the call's Promise with `reason`.
    fn cancel(&self, js: Js, reason: Value);
}

const IDLE: u8 = 0;
const SCHEDULED: u8 = 1;
const POLLING: u8 = 2;
const REPOLL: u8 = 3;
const DONE: u8 = 4;

struct Inner<T> {
    fut: Option<CoreFuture<T>>,
    deferred: Option<Deferred>,
}

struct CallTask<T> {
    realm: Arc<Realm>,
    state: AtomicU8,
    inner: Mutex<Inner<T>>,
}

impl<T: IntoJs> CallTask<T> {
    fn lock(&self) -> MutexGuard<'_, Inner<T>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Poll until the future is pending with no wake outstanding, or done.
    /// Called on the JS thread with `state == POLLING`.
    fn poll_loop(self: &Arc<Self>, js: Js) -> Option<nemo_relay_core::Result<T>> {
        let waker = Waker::from(self.clone());
        let mut cx = Context::from_waker(&waker);
        loop {
            // Poll with the lock released: JS code runs inside the poll and
            // may cancel this very call.
            let mut fut = self.lock().fut.take()?;
            let polled = crate::realm::with_env(js, || fut.as_mut().poll(&mut cx));
            if self.state.load(Ordering::Acquire) == DONE {
                return None; // cancelled while polling; `fut` drops here
            }
            match polled {
                Poll::Ready(out) => {
                    self.state.store(DONE, Ordering::Release);
                    return Some(out);
                }
                Poll::Pending => {
                    self.lock().fut = Some(fut);
                    match self.state.compare_exchange(
                        POLLING,
                        IDLE,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    ) {
                        Ok(_) => return None,
                        Err(DONE) => {
                            drop(self.lock().fut.take());
                            return None;
                        }
                        Err(_) => self.state.store(POLLING, Ordering::Release),
                    }
                }
            }
        }
    }

    /// A scheduled re-poll (from a wake).
    fn drive(self: &Arc<Self>, js: Js) {
        if self
            .state
            .compare_exchange(SCHEDULED, POLLING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return;
        }
        if let Some(out) = self.poll_loop(js) {
            let deferred = self.lock().deferred.take();
            if let Some(d) = deferred {
                settle(js, d, out);
            }
        }
    }
}

fn settle<T: IntoJs>(js: Js, deferred: Deferred, out: nemo_relay_core::Result<T>) {
    let result = out.and_then(|v| v.into_js(js));
    // Settling only fails in a dying environment; nobody is left to tell.
    let _ = match result {
        Ok(v) => deferred.resolve(js, v),
        Err(e) => deferred.reject(js, errors::to_js(js, &e)),
    };
}

impl<T: IntoJs> Wake for CallTask<T> {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let mut s = self.state.load(Ordering::Acquire);
        loop {
            let next = match s {
                IDLE => SCHEDULED,
                POLLING => REPOLL,
                _ => return, // already scheduled, re-polling, or done
            };
            match self
                .state
                .compare_exchange(s, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break,
                Err(actual) => s = actual,
            }
        }
        if s == POLLING {
            return; // the poller goes round again
        }
        match self.realm.current_js() {
            // Woken on the JS thread (a promise callback): continue here.
            Some(js) => self.drive(js),
            None => {
                let me = self.clone();
                self.realm.post(Box::new(move |js| me.drive(js)));
            }
        }
    }
}

impl<T: IntoJs> Cancel for CallTask<T> {
    fn cancel(&self, js: Js, reason: Value) {
        if self.state.swap(DONE, Ordering::AcqRel) == DONE {
            return;
        }
        let (fut, deferred) = {
            let mut inner = self.lock();
            (inner.fut.take(), inner.deferred.take())
        };
        // Dropping the core future emits the call's cancelled end event.
        crate::realm::with_env(js, || drop(fut));
        if let Some(d) = deferred {
            let _ = d.reject(js, reason);
        }
    }
}

/// Run `fut` on the JS thread: its value if it completes on the first poll,
/// else a Promise of it. When `token_out` is an object and the call goes
/// asynchronous, `token_out.token` receives a handle for [`Cancel`].
pub(crate) fn run<T: IntoJs>(
    js: Js,
    fut: CoreFuture<T>,
    token_out: Option<Value>,
) -> Result<Value> {
    let task = Arc::new(CallTask {
        realm: Realm::of(js)?,
        state: AtomicU8::new(POLLING),
        inner: Mutex::new(Inner {
            fut: Some(fut),
            deferred: None,
        }),
    });
    let waker = Waker::from(task.clone());
    let polled = {
        let mut cx = Context::from_waker(&waker);
        let mut fut = task
            .lock()
            .fut
            .take()
            .ok_or_else(|| RelayError::Internal("a new call task has no future".into()))?;
        let p = fut.as_mut().poll(&mut cx);
        if p.is_pending() {
            task.lock().fut = Some(fut);
        }
        p
    };
    if let Poll::Ready(out) = polled {
        task.state.store(DONE, Ordering::Release);
        return out.and_then(|v| v.into_js(js));
    }
    let (deferred, promise) = js.promise()?;
    task.lock().deferred = Some(deferred);
    if let Some(out) = token_out {
        let token = handles::wrap(js, Native::Call(task.clone()))?;
        js.set_named(out, c"token", token)?;
    }
    // Wakes that arrived during the first poll are served now.
    match task
        .state
        .compare_exchange(POLLING, IDLE, Ordering::AcqRel, Ordering::Acquire)
    {
        Ok(_) => {}
        Err(_) => {
            task.state.store(POLLING, Ordering::Release);
            if let Some(out) = task.poll_loop(js) {
                if let Some(d) = task.lock().deferred.take() {
                    settle(js, d, out);
                }
            }
        }
    }
    Ok(promise)
}
