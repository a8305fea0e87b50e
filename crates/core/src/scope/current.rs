//! Which stack is "current": task-local first, then the thread's default.
//!
//! A *task-local* current stack belongs to a future: while that future is
//! being polled (or dropped), [`ScopeStack::current`] answers with its stack,
//! and concurrent futures on the same thread each see their own. This is the
//! same idea as `tokio::task_local!`, with one difference that matters on the
//! hot path: tokio moves the value into a thread-local slot and back out on
//! every poll, and a managed call's context is a few hundred bytes (the
//! recipe of the call's scope handle), so that was two large copies per poll.
//! Here the value stays where it is, pinned inside the future, and entering
//! it swaps one pointer in a thread-local `Cell`.

use std::cell::{Cell, OnceCell, RefCell};
use std::future::Future;
use std::marker::PhantomPinned;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::id::uuid_v7_at;
use crate::scope::handle::HandleData;
use crate::scope::stack::Frame;
use crate::scope::{ScopeHandle, ScopeStack};
use crate::time::Timestamp;

/// A task-local context: answers [`ScopeStack::current`] while its future
/// runs.
pub(crate) trait Current: 'static {
    fn stack(&self) -> ScopeStack;
}

/// A given stack ([`ScopeStack::scope`], [`ScopeStack::sync_scope`]).
struct Fixed(ScopeStack);

impl Current for Fixed {
    fn stack(&self) -> ScopeStack {
        self.0.clone()
    }
}

/// The top of a managed call's child stack.
pub(crate) trait ChildTop: Send + 'static {
    fn into_handle(self) -> ScopeHandle;
}

/// The call's handle exists already (its start event was emitted).
impl ChildTop for ScopeHandle {
    fn into_handle(self) -> ScopeHandle {
        self
    }
}

/// What a bare call's handle is made of. Nothing has needed the handle yet,
/// so it is built — name interned, ids copied, uuid and start time minted —
/// only when code inside the call asks for its scope, which most callbacks
/// never do.
pub(crate) struct Recipe {
    /// The call's name, borrowed from the call (see [`Recipe::new`]).
    name: std::ptr::NonNull<str>,
    parent_uuid: crate::id::Uuid,
    scope_type: crate::scope::ScopeType,
    /// What the handle carries from the call's options (its stack taken).
    opts: crate::pipeline::CallOptions,
}

// SAFETY: `name` points at a `str`, which may be read from any thread.
unsafe impl Send for Recipe {}

impl Recipe {
    /// # Safety
    /// `name` must stay valid for as long as the recipe can be turned into
    /// a handle: until it is dropped, when it is the top of a [`Child`]
    /// context inside a future that borrows `name` (a context is only ever
    /// current while its future is polled or dropped), or until it is used
    /// right away.
    pub(crate) unsafe fn new(
        name: &str,
        parent_uuid: crate::id::Uuid,
        scope_type: crate::scope::ScopeType,
        opts: crate::pipeline::CallOptions,
    ) -> Recipe {
        Recipe {
            name: std::ptr::NonNull::from(name),
            parent_uuid,
            scope_type,
            opts,
        }
    }
}

impl ChildTop for Recipe {
    fn into_handle(self) -> ScopeHandle {
        let now = Timestamp::now();
        let o = self.opts;
        ScopeHandle(Arc::new(HandleData {
            uuid: uuid_v7_at(now.unix_millis()),
            parent_uuid: Some(o.parent.unwrap_or(self.parent_uuid)),
            // SAFETY: still valid (see `Recipe::new`).
            name: crate::name::Name::new(unsafe { self.name.as_ref() }),
            scope_type: self.scope_type,
            attributes: o.attributes,
            started_at: now,
            data: o.data,
            metadata: o.metadata,
            tool_call_id: o.tool_call_id.as_deref().map(Arc::from),
            model_name: o.model_name.as_deref().map(Arc::from),
            stack_id: 0,
            ended: Default::default(),
            binding_tag: Default::default(),
        }))
    }
}

/// A call's handle data prepared in full (uuid and start time included):
/// the full pipeline with nobody listening mints the handle itself only if
/// the callback asks for its scope.
pub(crate) struct Prepared(pub(crate) HandleData);

impl ChildTop for Prepared {
    fn into_handle(self) -> ScopeHandle {
        ScopeHandle(Arc::new(self.0))
    }
}

/// A managed call's child stack (`parent` frame + the call's `top`), built
/// only if code inside the call asks for the current stack. Most tool
/// callbacks never do, and building a stack costs two allocations.
pub(crate) struct Child<T> {
    stack: OnceCell<ScopeStack>,
    parts: Cell<Option<(Arc<Frame>, T)>>,
}

impl<T: ChildTop> Current for Child<T> {
    fn stack(&self) -> ScopeStack {
        self.stack
            .get_or_init(|| {
                let (parent, top) = self.parts.take().expect("built only once");
                ScopeStack::child_of(parent, top.into_handle())
            })
            .clone()
    }
}

thread_local! {
    /// The context of the innermost [`WithCurrent`] being polled (or
    /// dropped) on this thread; `None` outside any. Set only by [`Enter`].
    static TASK_CURRENT: Cell<Option<NonNull<dyn Current>>> = const { Cell::new(None) };
}

/// Makes a context current for as long as it lives; restores the previous
/// one when dropped, also when the code in between panics.
struct Enter(Option<NonNull<dyn Current>>);

impl Enter {
    fn new(current: &dyn Current) -> Enter {
        Enter(TASK_CURRENT.replace(Some(NonNull::from(current))))
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        TASK_CURRENT.set(self.0);
    }
}

/// A future that runs `fut` with `current` as its task-local context.
///
/// `current` is never moved once the future is pinned (`PhantomPinned`), so
/// the pointer [`Enter`] publishes stays valid while `fut` is polled; `Enter`
/// withdraws it before `poll`/`drop` return.
pub(crate) struct WithCurrent<C: Current, F> {
    current: C,
    fut: ManuallyDrop<F>,
    _pinned: PhantomPinned,
}

impl<C: Current, F> WithCurrent<C, F> {
    fn new(current: C, fut: F) -> Self {
        WithCurrent {
            current,
            fut: ManuallyDrop::new(fut),
            _pinned: PhantomPinned,
        }
    }
}

impl<C: Current, F: Future> Future for WithCurrent<C, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: nothing is moved out of `this`; `fut` is structurally
        // pinned (it is only ever used through `Pin` and dropped in place).
        let this = unsafe { self.get_unchecked_mut() };
        let _enter = Enter::new(&this.current);
        // SAFETY: see above; `this` is pinned, so `fut` is too.
        unsafe { Pin::new_unchecked(&mut *this.fut) }.poll(cx)
    }
}

impl<C: Current, F> Drop for WithCurrent<C, F> {
    fn drop(&mut self) {
        // The inner future's destructors (cancel guards, callbacks' own
        // cleanup) still see the context they ran in, as during a poll.
        let _enter = Enter::new(&self.current);
        // SAFETY: dropped exactly once, here, in place (it is pinned).
        unsafe { ManuallyDrop::drop(&mut self.fut) }
    }
}

/// Run `fut` with a lazily built child stack of `parent` topped by `top`
/// as its current stack (managed calls run their callbacks this way).
pub(crate) fn in_child<T: ChildTop, F: Future>(
    parent: Arc<Frame>,
    top: T,
    fut: F,
) -> WithCurrent<Child<T>, F> {
    let current = Child {
        stack: OnceCell::new(),
        parts: Cell::new(Some((parent, top))),
    };
    WithCurrent::new(current, fut)
}

thread_local! {
    static THREAD_STACK: RefCell<Option<ScopeStack>> = const { RefCell::new(None) };
}

impl ScopeStack {
    /// The stack API calls use when the caller passes none: the task-local
    /// stack when running inside [`ScopeStack::scope`] (or
    /// [`ScopeStack::sync_scope`]), otherwise this thread's default stack.
    pub fn current() -> ScopeStack {
        match TASK_CURRENT.get() {
            // SAFETY: the pointer was published by an `Enter` that is still
            // alive further up this thread's stack, borrowing a context that
            // outlives it (see `WithCurrent`).
            Some(current) => unsafe { current.as_ref() }.stack(),
            None => Self::thread_default(),
        }
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
    pub fn scope<F: Future>(self, fut: F) -> impl Future<Output = F::Output> {
        WithCurrent::new(Fixed(self), fut)
    }

    /// Run `f` with this stack as the current stack (synchronously).
    pub fn sync_scope<R>(self, f: impl FnOnce() -> R) -> R {
        let current = Fixed(self);
        let _enter = Enter::new(&current);
        f()
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
