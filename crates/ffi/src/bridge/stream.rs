//! Chunk streams: a C pull callback as a core stream, and the stream handle.
//!
//! # Why pull
//!
//! A C or Go provider can always implement "give me chunk *i*" (read the
//! next SSE line, pop a channel), and pulling keeps the caller in control of
//! pace and cancellation: nothing is buffered, no thread is spawned, and the
//! provider runs on the thread that called `nemo_relay_stream_next`, inside the
//! LLM call's scope. A push-style producer would need either a buffer of the
//! whole response or a thread per stream.

use std::cell::Cell;
use std::ffi::{c_char, CString};
use std::pin::Pin;
use std::sync::{Arc, Mutex, TryLockError};
use std::task::{Context, Poll};

use futures_core::Stream;
use nemo_relay_core::{Json, JsonStream, RelayError};

use super::callback::OutString;
use crate::conventions::error::{FfiError, FfiResult};
use crate::conventions::status::NemoRelayStatus;
use crate::conventions::user_data::UserData;

type PullCallback =
    unsafe extern "C" fn(*mut std::ffi::c_void, *const c_char, u64, *mut *mut c_char) -> i32;

/// A stream whose chunks come from a [`NemoRelayPullFn`](super::callback::NemoRelayPullFn).
pub struct PullStream {
    pull: PullCallback,
    user_data: Arc<UserData>,
    request: Option<CString>,
    index: u64,
    done: bool,
}

impl PullStream {
    /// A boxed stream over `pull`. `request` is passed to every pull (NULL
    /// if None).
    pub fn boxed(
        pull: PullCallback,
        user_data: Arc<UserData>,
        request: Option<CString>,
    ) -> JsonStream {
        Box::pin(PullStream {
            pull,
            user_data,
            request,
            index: 0,
            done: false,
        })
    }

    fn pull_one(&mut self) -> Option<Result<Json, RelayError>> {
        let mut out = OutString::new();
        let request = self
            .request
            .as_ref()
            .map_or(std::ptr::null(), |r| r.as_ptr());
        // SAFETY: the callback was non-NULL at registration and accepts its
        // user_data; `request` and `out` outlive the call.
        let status =
            unsafe { (self.pull)(self.user_data.as_ptr(), request, self.index, out.slot()) };
        match out.finish("stream pull callback", status) {
            Ok(Some(text)) => {
                self.index += 1;
                Some(serde_json::from_str(&text).map_err(|err| {
                    RelayError::callback(format!(
                        "stream chunk {} is not valid JSON: {err}",
                        self.index - 1
                    ))
                }))
            }
            Ok(None) => None,
            Err(err) => Some(Err(err)),
        }
    }
}

impl Stream for PullStream {
    type Item = Result<Json, RelayError>;

    fn poll_next(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        let item = this.pull_one();
        // After an error or the end, the provider is not called again.
        if !matches!(item, Some(Ok(_))) {
            this.done = true;
        }
        Poll::Ready(item)
    }
}

/// What a `NemoRelayStream` handle owns: the stream, until closed.
///
/// `next` and `close` may come from different threads; the mutex serializes
/// them. A stream's own callback calling `next`/`close` on the same stream
/// (re-entrancy) would wait for itself, so that case is detected and reported
/// as `INVALID_STATE` instead.
pub struct StreamCell {
    inner: Mutex<Option<JsonStream>>,
}

thread_local! {
    /// The stream this thread is currently polling (address), if any.
    static POLLING: Cell<usize> = const { Cell::new(0) };
}

impl StreamCell {
    /// A handle payload owning `stream`.
    pub fn new(stream: JsonStream) -> Self {
        StreamCell {
            inner: Mutex::new(Some(stream)),
        }
    }

    fn id(&self) -> usize {
        std::ptr::from_ref(self) as usize
    }

    fn reentered(&self) -> FfiError {
        FfiError::new(
            NemoRelayStatus::InvalidState,
            "a stream's own callback cannot use that stream",
        )
    }

    fn lock(&self) -> FfiResult<std::sync::MutexGuard<'_, Option<JsonStream>>> {
        match self.inner.try_lock() {
            Ok(guard) => Ok(guard),
            Err(TryLockError::WouldBlock) if POLLING.with(Cell::get) == self.id() => {
                Err(self.reentered())
            }
            Err(TryLockError::WouldBlock) => {
                Ok(self.inner.lock().unwrap_or_else(|p| p.into_inner()))
            }
            Err(TryLockError::Poisoned(p)) => Ok(p.into_inner()),
        }
    }

    /// The next chunk, `None` at the end (and forever after `close`).
    pub fn next(&self) -> FfiResult<Option<Json>> {
        let mut guard = self.lock()?;
        let Some(stream) = guard.as_mut() else {
            return Ok(None);
        };
        let previous = POLLING.with(|p| p.replace(self.id()));
        let item = super::run(std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)));
        POLLING.with(|p| p.set(previous));
        match item {
            Some(Ok(chunk)) => Ok(Some(chunk)),
            None => {
                *guard = None;
                Ok(None)
            }
            Some(Err(err)) => {
                *guard = None;
                Err(err.into())
            }
        }
    }

    /// Takes the stream out (to hand it to the core, or to drop it).
    pub fn take(&self) -> FfiResult<Option<JsonStream>> {
        Ok(self.lock()?.take())
    }
}
