//! Which stack is "current": task-local first, then the thread's default.

use std::cell::RefCell;
use std::future::Future;

use crate::scope::ScopeStack;

tokio::task_local! {
    static TASK_STACK: ScopeStack;
}

thread_local! {
    static THREAD_STACK: RefCell<Option<ScopeStack>> = const { RefCell::new(None) };
}

impl ScopeStack {
    /// The stack API calls use when the caller passes none: the task-local
    /// stack when running inside [`ScopeStack::scope`] (or
    /// [`ScopeStack::sync_scope`]), otherwise this thread's default stack.
    pub fn current() -> ScopeStack {
        TASK_STACK
            .try_with(ScopeStack::clone)
            .unwrap_or_else(|_| Self::thread_default())
    }

    /// This thread's default stack (created on first use).
    pub fn thread_default() -> ScopeStack {
        THREAD_STACK.with(|s| s.borrow_mut().get_or_insert_with(ScopeStack::new).clone())
    }

    /// Make `stack` this thread's default until the guard drops (the previous
    /// default is restored, also on panic).
    pub fn set_thread_default(stack: ScopeStack) -> ThreadStackGuard {
        let previous = THREAD_STACK.with(|s| s.borrow_mut().replace(stack));
        ThreadStackGuard { previous }
    }

    /// Run `fut` with this stack as its task-local current stack.
    pub async fn scope<F: Future>(self, fut: F) -> F::Output {
        TASK_STACK.scope(self, fut).await
    }

    /// Run `f` with this stack as the current stack (synchronously).
    pub fn sync_scope<R>(self, f: impl FnOnce() -> R) -> R {
        TASK_STACK.sync_scope(self, f)
    }
}

/// Restores the previous thread-default stack on drop.
#[must_use = "the previous default is restored when the guard drops"]
pub struct ThreadStackGuard {
    previous: Option<ScopeStack>,
}

impl Drop for ThreadStackGuard {
    fn drop(&mut self) {
        let prev = self.previous.take();
        THREAD_STACK.with(|s| *s.borrow_mut() = prev);
    }
}

/// Run `fut` on a fork of the current stack, so that scopes it opens are
/// parented to the current scope but never leak into concurrent siblings.
///
/// ```
/// # use nemo_relay_core::scope::isolate;
/// # async fn work() {}
/// # async fn demo() {
/// let (a, b) = tokio::join!(isolate(work()), isolate(work()));
/// # }
/// ```
pub fn isolate<F: Future>(fut: F) -> impl Future<Output = F::Output> {
    ScopeStack::current().fork().scope(fut)
}
