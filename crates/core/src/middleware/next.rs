//! [`Next`]: the continuation an execution intercept calls to go on.
//!
//! The chain is built so that the intercept with the lowest priority value is
//! outermost: `a.before → b.before → callback → b.after → a.after`.
//!
//! A `Next` is *leased*: it is valid only while the intercept it was handed to
//! is running. Calling it after that intercept settled returns
//! [`RelayError::ContinuationExpired`] and never reaches the callback — a
//! retained continuation must not re-run a tool behind the runtime's back.
//! Calling it after the call was cancelled (its future dropped while the
//! intercept still ran, an aborted call) returns [`RelayError::Cancelled`]:
//! the intercept learns why it cannot go on.
//! For stream execution intercepts the lease lasts until the stream the call
//! returned has ended (or was dropped), because a stream intercept may pull
//! from `next` lazily, after it returned its own stream.
//!
//! Cost: a call's chain (entries, context, the real callback) is one
//! allocation; each intercept that runs adds its lease (a shared flag, since
//! user code may keep the `Next`) and whatever its own future needs. Running
//! a level returns a [`NextRun`], a plain future, not a box.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::error::{RelayError, Result};
use crate::middleware::{BoxFuture, CallContext, ExecFn, Step};
use crate::registry::{Chain, Entry};

/// What every level of one call's chain shares. A trait object so that the
/// real callback is stored inline, whatever its type.
trait Core<R, O>: Send + Sync {
    fn entry(&self, index: usize) -> Option<&Entry<ExecFn<R, O>>>;
    /// Call the real callback.
    fn terminal(&self, request: R) -> BoxFuture<Result<O>>;
    fn ctx(&self) -> &CallContext;
    /// Stream chains: leases are not expired when an intercept settles;
    /// the whole chain expires at once when the call's stream ends.
    fn stream_lease(&self) -> Option<&AtomicBool>;
}

struct Shared<R, O, F> {
    chain: Chain<ExecFn<R, O>>,
    func: F,
    ctx: CallContext,
    stream_lease: Option<Arc<AtomicBool>>,
}

impl<R, O, F, Fut> Core<R, O> for Shared<R, O, F>
where
    R: Send + 'static,
    O: Send + 'static,
    F: Fn(R) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O>> + Send + 'static,
{
    fn entry(&self, index: usize) -> Option<&Entry<ExecFn<R, O>>> {
        self.chain.get(index)
    }
    fn terminal(&self, request: R) -> BoxFuture<Result<O>> {
        Box::pin((self.func)(request))
    }
    fn ctx(&self) -> &CallContext {
        &self.ctx
    }
    fn stream_lease(&self) -> Option<&AtomicBool> {
        self.stream_lease.as_deref()
    }
}

/// Continue the execution chain with a (possibly rewritten) request.
pub struct Next<R, O> {
    core: Arc<dyn Core<R, O>>,
    index: usize,
    /// `None` for the start of the chain, which the pipeline itself holds
    /// for the duration of the call (so it never needs to expire).
    lease: Option<Arc<AtomicU8>>,
}

/// States of a lease.
const LIVE: u8 = 0;
/// The intercept settled.
const SETTLED: u8 = 1;
/// The call was dropped while the intercept ran.
const CANCELLED: u8 = 2;

impl<R, O> Clone for Next<R, O> {
    fn clone(&self) -> Self {
        Next {
            core: self.core.clone(),
            index: self.index,
            lease: self.lease.clone(),
        }
    }
}

impl<R: Send + 'static, O: Send + 'static> Next<R, O> {
    /// Start of a chain ending in `func`: calling it runs the first
    /// intercept. With `stream_lease` (stream chains) continuations stay
    /// valid until that flag is cleared, when the call's stream ends.
    pub(crate) fn start<F, Fut>(
        chain: Chain<ExecFn<R, O>>,
        func: F,
        ctx: CallContext,
        stream_lease: Option<Arc<AtomicBool>>,
    ) -> Self
    where
        F: Fn(R) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O>> + Send + 'static,
    {
        Next {
            core: Arc::new(Shared {
                chain,
                func,
                ctx,
                stream_lease,
            }),
            index: 0,
            lease: None,
        }
    }

    /// Why this continuation may not run, if it may not.
    fn expired(&self) -> Option<RelayError> {
        let state = match (self.core.stream_lease(), &self.lease) {
            (Some(chain), _) if !chain.load(Ordering::Acquire) => SETTLED,
            (Some(_), _) | (None, None) => LIVE,
            (None, Some(lease)) => lease.load(Ordering::Acquire),
        };
        match state {
            LIVE => None,
            CANCELLED => Some(RelayError::Cancelled(format!(
                "{} call '{}' cancelled while its execution intercept ran",
                self.core.ctx().kind.as_str(),
                self.core.ctx().name
            ))),
            _ => Some(RelayError::ContinuationExpired),
        }
    }

    /// Run the rest of the chain with `request`. May be called several times
    /// (retries, fan-out) while the lease holds.
    pub fn run(&self, request: R) -> NextRun<O> {
        if let Some(why) = self.expired() {
            return NextRun::failed(why);
        }
        let Some(entry) = self.core.entry(self.index) else {
            return NextRun {
                step: Step::Pending(self.core.terminal(request)),
                lease: None,
            };
        };
        let lease = Arc::new(AtomicU8::new(LIVE));
        let inner = Next {
            core: self.core.clone(),
            index: self.index + 1,
            lease: Some(lease.clone()),
        };
        NextRun {
            step: (entry.callback)(self.core.ctx(), request, inner),
            lease: Some(lease),
        }
    }

    /// Context of the call this continuation belongs to.
    pub fn context(&self) -> &CallContext {
        self.core.ctx()
    }
}

/// The future of one [`Next::run`]: the rest of the chain's result.
///
/// When an intercept's own future settles, the continuation it was handed
/// expires.
#[must_use = "a NextRun does nothing unless awaited"]
pub struct NextRun<O> {
    step: Step<Result<O>>,
    /// The lease of the continuation handed to the intercept running here.
    lease: Option<Arc<AtomicU8>>,
}

impl<O> NextRun<O> {
    fn failed(why: RelayError) -> Self {
        NextRun {
            step: Step::ready(Err(why)),
            lease: None,
        }
    }
}

// Nothing in a `NextRun` is pinned structurally (`Step` is `Unpin`).
impl<O> Unpin for NextRun<O> {}

impl<O> Future for NextRun<O> {
    type Output = Result<O>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<O>> {
        let this = self.get_mut();
        let out = std::task::ready!(Pin::new(&mut this.step).poll(cx));
        // The intercept settled: its continuation expires.
        if let Some(lease) = this.lease.take() {
            lease.store(SETTLED, Ordering::Release);
        }
        Poll::Ready(out)
    }
}

impl<O> Drop for NextRun<O> {
    fn drop(&mut self) {
        // Dropped before it settled (cancelled): the intercept is gone, and
        // so is its right to continue.
        if let Some(lease) = self.lease.take() {
            lease.store(CANCELLED, Ordering::Release);
        }
    }
}
