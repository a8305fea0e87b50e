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

use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
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
/// them. A stream's callback calling `next`/`close` on a stream this thread
/// is polling (its own, or one whose callback led to it: A pulls B, whose
/// callback pulls A) would wait for itself, so that case is detected and
/// reported as `INVALID_STATE` instead.
///
/// A `close` from another thread must not wait for the stream to end: a
/// loop of `next` calls retakes the (unfair) mutex at once. So `close` first
/// raises `closing`, which every later `next` honours as the end, then
/// waits only for the `next` in progress.
pub struct StreamCell {
    inner: Mutex<Option<JsonStream>>,
    closing: AtomicBool,
}

thread_local! {
    /// The streams this thread is polling (addresses), innermost last.
    static POLLING: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

impl StreamCell {
    /// A handle payload owning `stream`.
    pub fn new(stream: JsonStream) -> Self {
        StreamCell {
            inner: Mutex::new(Some(stream)),
            closing: AtomicBool::new(false),
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
            Err(TryLockError::WouldBlock) if POLLING.with(|p| p.borrow().contains(&self.id())) => {
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
        if self.closing.load(Ordering::Acquire) {
            return Ok(None);
        }
        let mut guard = self.lock()?;
        let Some(stream) = guard.as_mut() else {
            return Ok(None);
        };
        POLLING.with(|p| p.borrow_mut().push(self.id()));
        let item = super::run(std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)));
        POLLING.with(|p| p.borrow_mut().pop());
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

    /// Close: no `next` starts polling from now on; waits for the one in
    /// progress, then takes the stream out (for the caller to drop).
    pub fn close(&self) -> FfiResult<Option<JsonStream>> {
        if POLLING.with(|p| p.borrow().contains(&self.id())) {
            return Err(self.reentered());
        }
        self.closing.store(true, Ordering::Release);
        self.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    /// A stream whose every poll runs `f` and yields what it returns.
    struct FnStream<F>(F);
    impl<F: FnMut() -> Option<nemo_relay_core::Result<Json>> + Unpin> Stream for FnStream<F> {
        type Item = nemo_relay_core::Result<Json>;
        fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            Poll::Ready((self.0)())
        }
    }

    fn cell(
        f: impl FnMut() -> Option<nemo_relay_core::Result<Json>> + Send + Unpin + 'static,
    ) -> Arc<StreamCell> {
        Arc::new(StreamCell::new(Box::pin(FnStream(f))))
    }

    #[test]
    fn a_callback_that_reaches_a_stream_this_thread_is_polling_through_another_gets_invalid_state()
    {
        let a_slot: Arc<OnceLock<Arc<StreamCell>>> = Arc::default();
        let seen: Arc<Mutex<Vec<NemoRelayStatus>>> = Arc::default();
        let (slot, log) = (a_slot.clone(), seen.clone());
        // B's pull uses A, which is being polled on this thread (A pulls B).
        let b = cell(move || {
            let a = slot.get().expect("set");
            for r in [a.next().map(|_| ()), a.close().map(|_| ())] {
                log.lock()
                    .unwrap()
                    .push(r.err().map_or(NemoRelayStatus::Ok, |e| e.status()));
            }
            Some(Ok(Json::Null))
        });
        let inner = b.clone();
        let a = cell(move || {
            Some(
                inner
                    .next()
                    .map(|c| c.unwrap_or(Json::Null))
                    .map_err(|_| RelayError::callback("b failed")),
            )
        });
        a_slot.set(a.clone()).ok();
        assert!(a.next().unwrap().is_some());
        assert_eq!(
            *seen.lock().unwrap(),
            [NemoRelayStatus::InvalidState, NemoRelayStatus::InvalidState]
        );
        // A still works afterwards: nothing was left locked or closed.
        assert!(a.next().unwrap().is_some());
    }

    #[test]
    fn close_from_another_thread_ends_a_busy_next_loop_after_the_chunk_in_progress() {
        let s = cell(|| {
            std::thread::sleep(Duration::from_millis(20));
            Some(Ok(Json::Null))
        });
        let reader = s.clone();
        let after_close = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = after_close.clone();
        let loop_thread = std::thread::spawn(move || {
            let mut late = 0;
            while reader.next().unwrap().is_some() {
                if flag.load(Ordering::Acquire) {
                    late += 1;
                }
            }
            late
        });
        std::thread::sleep(Duration::from_millis(60));
        let started = Instant::now();
        drop(s.close().unwrap());
        after_close.store(true, Ordering::Release);
        // Without `closing`, the loop retook the lock and ran to its end
        // (never, for this stream).
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(loop_thread.join().unwrap() <= 1);
    }
}
