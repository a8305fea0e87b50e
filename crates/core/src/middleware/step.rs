//! [`Step`]: a value that is ready now, or a future that will produce it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// The result of a middleware callback: ready now, or later.
///
/// Awaiting a ready `Step` completes immediately without allocating, which is
/// what keeps an all-synchronous pipeline cheap.
#[must_use = "a Step does nothing unless awaited"]
pub enum Step<T> {
    /// The value is available now (taken on first poll).
    Ready(Option<T>),
    /// The value will be produced by this future.
    Pending(BoxFuture<T>),
}

impl<T> Step<T> {
    /// A ready value.
    pub fn ready(value: T) -> Self {
        Step::Ready(Some(value))
    }

    /// A value produced later by `fut`.
    pub fn pending(fut: impl Future<Output = T> + Send + 'static) -> Self {
        Step::Pending(Box::pin(fut))
    }

    /// Whether the value is available without waiting.
    pub fn is_ready(&self) -> bool {
        matches!(self, Step::Ready(_))
    }
}

// `Step` never pins `T` structurally: the value is moved out, and the future
// lives in its own `Pin<Box<_>>`. So it is `Unpin` whatever `T` is.
impl<T> Unpin for Step<T> {}

impl<T> Future for Step<T> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match self.get_mut() {
            Step::Ready(v) => Poll::Ready(v.take().expect("Step polled after completion")),
            Step::Pending(f) => f.as_mut().poll(cx),
        }
    }
}
