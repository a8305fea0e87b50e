//! Which stack is "current": task-local first, then the thread's default.

use std::cell::{Cell, OnceCell, RefCell};
use std::future::Future;
use std::sync::Arc;

use crate::id::uuid_v7_at;
use crate::scope::handle::HandleData;
use crate::scope::stack::Frame;
use crate::scope::{ScopeHandle, ScopeStack};
use crate::time::Timestamp;

/// The top of a managed call's child stack: its handle, or (on the bare path,
/// where nothing has needed the handle yet) the recipe to mint it.
pub(crate) enum ChildTop {
    /// The call's handle exists already (its start event was emitted).
    Handle(ScopeHandle),
    /// Mint the handle (uuid, start time) only if someone asks for it.
    Recipe(HandleData),
}

/// What a task-local scope context holds: either a stack, or the recipe for
/// a call's child stack (`parent` frame + the call's top), built only if code
/// inside the call asks for the current stack. Most tool callbacks never do,
/// and building a stack costs two allocations per call.
pub(crate) struct TaskCurrent {
    stack: OnceCell<ScopeStack>,
    child_of: Cell<Option<(Arc<Frame>, ChildTop)>>,
}

impl TaskCurrent {
    fn stack(&self) -> ScopeStack {
        self.stack
            .get_or_init(|| {
                let (parent, top) = self
                    .child_of
                    .take()
                    .expect("either a stack or a child recipe");
                let handle = match top {
                    ChildTop::Handle(h) => h,
                    ChildTop::Recipe(mut data) => {
                        let now = Timestamp::now();
                        data.started_at = now;
                        data.uuid = uuid_v7_at(now.unix_millis());
                        ScopeHandle(Arc::new(data))
                    }
                };
                ScopeStack::child_of(parent, handle)
            })
            .clone()
    }
}

tokio::task_local! {
    static TASK_STACK: TaskCurrent;
}

fn with_stack(stack: ScopeStack) -> TaskCurrent {
    TaskCurrent {
        stack: OnceCell::from(stack),
        child_of: Cell::new(None),
    }
}

/// Run `fut` with a lazily built child stack of `parent` topped by `top`
/// as its current stack (managed calls run their callbacks this way).
pub(crate) async fn in_child<F: Future>(parent: Arc<Frame>, top: ChildTop, fut: F) -> F::Output {
    let current = TaskCurrent {
        stack: OnceCell::new(),
        child_of: Cell::new(Some((parent, top))),
    };
    TASK_STACK.scope(current, fut).await
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
            .try_with(TaskCurrent::stack)
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
        TASK_STACK.scope(with_stack(self), fut).await
    }

    /// Run `f` with this stack as the current stack (synchronously).
    pub fn sync_scope<R>(self, f: impl FnOnce() -> R) -> R {
        TASK_STACK.sync_scope(with_stack(self), f)
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
