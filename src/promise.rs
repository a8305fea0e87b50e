//! Awaiting a JS Promise from a Rust future.
//!
//! [`await_promise`] attaches native `then` callbacks to a Promise and returns
//! a [`Slot`]: a future that completes when the Promise settles. The Rust side
//! never polls JS; the JS side pushes the outcome into the slot, whose waker
//! then resumes the waiting core future (see [`crate::driver`]). A fulfilled
//! value is converted to Rust right there, on the JS thread, by the caller's
//! `parse`; a rejection becomes a callback error carrying the rejection
//! value, so the original error object survives the trip.

use std::future::Future;
use std::pin::Pin;
use std::ptr;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use napi::sys;

use crate::errors;
use crate::js::{Js, Result, Value};
use crate::realm::with_env;

struct State<T> {
    value: Option<nemo_relay_core::Result<T>>,
    waker: Option<Waker>,
    /// The sending side is gone without a value.
    abandoned: bool,
    /// See [`Fill::keep_alive`]: dropped once the receiver has its answer
    /// (a value, or word that none will come), after it was woken.
    keep: Option<Box<dyn std::any::Any + Send>>,
}

/// A waiting receiver that can be told its answer will never come: what a
/// realm that is going away does to the work it was asked for (see
/// [`crate::realm::Realm::watch`]).
pub(crate) trait Abandon: Send + Sync {
    fn abandon(&self);
}

impl<T: Send> Abandon for Mutex<State<T>> {
    fn abandon(&self) {
        let (waker, keep) = {
            let mut st = self.lock().unwrap_or_else(|p| p.into_inner());
            if st.value.is_some() {
                return;
            }
            st.abandoned = true;
            (st.waker.take(), st.keep.take())
        };
        if let Some(w) = waker {
            w.wake();
        }
        drop(keep);
    }
}

/// The receiving end: a future of the settled value.
pub(crate) struct Slot<T>(Arc<Mutex<State<T>>>);

/// The sending end; completing it wakes the receiver.
pub(crate) struct Fill<T>(Option<Arc<Mutex<State<T>>>>);

/// A connected pair.
pub(crate) fn slot<T>() -> (Fill<T>, Slot<T>) {
    let s = Arc::new(Mutex::new(State {
        value: None,
        waker: None,
        abandoned: false,
        keep: None,
    }));
    (Fill(Some(s.clone())), Slot(s))
}

impl<T: Send + 'static> Fill<T> {
    /// A handle that abandons this fill's receiver, for as long as the
    /// receiver waits.
    pub(crate) fn abandoner(&self) -> Option<std::sync::Weak<dyn Abandon>> {
        self.0.as_ref().map(|s| {
            let w: std::sync::Weak<dyn Abandon> = Arc::downgrade(s) as std::sync::Weak<dyn Abandon>;
            w
        })
    }
}

impl<T> Fill<T> {
    /// Keep `guard` until the receiver has its answer: this fill is
    /// completed or dropped, or its realm abandons it. It is dropped only
    /// after the receiver was woken.
    pub(crate) fn keep_alive(self, guard: impl std::any::Any + Send) -> Self {
        if let Some(s) = &self.0 {
            s.lock().unwrap_or_else(|p| p.into_inner()).keep = Some(Box::new(guard));
        }
        self
    }

    pub(crate) fn complete(mut self, value: nemo_relay_core::Result<T>) {
        if let Some(s) = self.0.take() {
            let (waker, keep) = {
                let mut st = s.lock().unwrap_or_else(|p| p.into_inner());
                st.value = Some(value);
                (st.waker.take(), st.keep.take())
            };
            // Wake with the lock released: the waker may poll right here.
            if let Some(w) = waker {
                w.wake();
            }
            drop(keep);
        }
    }
}

impl<T> Drop for Fill<T> {
    fn drop(&mut self) {
        if let Some(s) = self.0.take() {
            let (waker, keep) = {
                let mut st = s.lock().unwrap_or_else(|p| p.into_inner());
                st.abandoned = true;
                (st.waker.take(), st.keep.take())
            };
            if let Some(w) = waker {
                w.wake();
            }
            drop(keep);
        }
    }
}

impl<T> Future for Slot<T> {
    type Output = nemo_relay_core::Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut st = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(v) = st.value.take() {
            return Poll::Ready(v);
        }
        if st.abandoned {
            return Poll::Ready(Err(crate::realm::gone()));
        }
        st.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

type Parse<T> = Box<dyn FnOnce(Js, Value) -> Result<T> + Send>;

/// Shared by the two `then` callbacks of one Promise; the first to run wins.
struct Attach<T> {
    pending: Mutex<Option<(Fill<T>, Parse<T>)>>,
}

/// Complete `fill` when `promise` settles; fulfilled values go through `parse`.
pub(crate) fn attach<T: Send + 'static>(
    js: Js,
    promise: Value,
    fill: Fill<T>,
    parse: impl FnOnce(Js, Value) -> Result<T> + Send + 'static,
) -> Result<()> {
    let shared = Arc::new(Attach {
        pending: Mutex::new(Some((fill, Box::new(parse) as Parse<T>))),
    });
    let on_ok = js.function(
        c"onFulfilled",
        Some(on_settled::<T, true>),
        Arc::into_raw(shared.clone()) as *mut _,
        Some(release::<T>),
    )?;
    let on_err = js.function(
        c"onRejected",
        Some(on_settled::<T, false>),
        Arc::into_raw(shared) as *mut _,
        Some(release::<T>),
    )?;
    let then = js.get_named(promise, c"then")?;
    let mut out = ptr::null_mut();
    let args = [on_ok, on_err];
    // SAFETY: valid env and values; `then` is called on the promise itself.
    js.check(unsafe { sys::napi_call_function(js.0, promise, then, 2, args.as_ptr(), &mut out) })
}

/// A future of the outcome of `promise`.
pub(crate) fn await_promise<T: Send + 'static>(
    js: Js,
    promise: Value,
    parse: impl FnOnce(Js, Value) -> Result<T> + Send + 'static,
) -> Result<Slot<T>> {
    let (fill, slot) = slot();
    attach(js, promise, fill, parse)?;
    Ok(slot)
}

unsafe extern "C" fn release<T>(
    _env: sys::napi_env,
    data: *mut std::ffi::c_void,
    _hint: *mut std::ffi::c_void,
) {
    // SAFETY: `data` is one of the two Arcs leaked in `attach`.
    drop(unsafe { Arc::from_raw(data as *const Attach<T>) });
}

unsafe extern "C" fn on_settled<T: Send + 'static, const OK: bool>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    let js = Js(env);
    // SAFETY: `info` belongs to this callback.
    let Ok(([value], data)) = (unsafe { js.callback_args::<1>(info) }) else {
        return ptr::null_mut();
    };
    // SAFETY: `data` is an Arc<Attach<T>> kept alive by this function's finalizer.
    let shared = unsafe { &*(data as *const Attach<T>) };
    let taken = shared
        .pending
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    if let Some((fill, parse)) = taken {
        with_env(js, || {
            let outcome = if OK {
                parse(js, value)
            } else {
                Err(errors::from_thrown(js, value))
            };
            fill.complete(outcome);
        });
    }
    ptr::null_mut()
}
