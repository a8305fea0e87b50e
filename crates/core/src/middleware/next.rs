//! [`Next`]: the continuation an execution intercept calls to go on.
//!
//! The chain is built so that the intercept with the lowest priority value is
//! outermost: `a.before → b.before → callback → b.after → a.after`.
//!
//! A `Next` is *leased*: it is valid only while the intercept it was handed to
//! is running. Calling it after that intercept settled returns
//! [`RelayError::ContinuationExpired`] and never reaches the callback — a
//! retained continuation must not re-run a tool behind the runtime's back.
//! For stream execution intercepts the lease lasts until the stream the call
//! returned has ended (or was dropped), because a stream intercept may pull
//! from `next` lazily, after it returned its own stream.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::error::{RelayError, Result};
use crate::middleware::{BoxFuture, CallContext, ExecFn};
use crate::registry::Chain;

/// The real callback at the end of the chain.
pub(crate) type Terminal<R, O> = Arc<dyn Fn(R) -> BoxFuture<Result<O>> + Send + Sync>;

struct Shared<R, O> {
    chain: Chain<ExecFn<R, O>>,
    terminal: Terminal<R, O>,
    ctx: CallContext,
    /// Stream chains: leases are not expired when an intercept settles;
    /// the whole chain expires at once when the call's stream ends.
    stream_lease: Option<Arc<AtomicBool>>,
}

/// Continue the execution chain with a (possibly rewritten) request.
pub struct Next<R, O> {
    shared: Arc<Shared<R, O>>,
    index: usize,
    lease: Arc<AtomicBool>,
}

impl<R, O> Clone for Next<R, O> {
    fn clone(&self) -> Self {
        Next {
            shared: self.shared.clone(),
            index: self.index,
            lease: self.lease.clone(),
        }
    }
}

impl<R: Send + 'static, O: Send + 'static> Next<R, O> {
    /// Start of a chain: calling it runs the first intercept. With
    /// `stream_lease` (stream chains) continuations stay valid until that
    /// flag is cleared, when the call's stream ends.
    pub(crate) fn start(
        chain: Chain<ExecFn<R, O>>,
        terminal: Terminal<R, O>,
        ctx: CallContext,
        stream_lease: Option<Arc<AtomicBool>>,
    ) -> Self {
        Next {
            shared: Arc::new(Shared {
                chain,
                terminal,
                ctx,
                stream_lease,
            }),
            index: 0,
            lease: Arc::new(AtomicBool::new(true)),
        }
    }

    /// Run the rest of the chain with `request`. May be called several times
    /// (retries, fan-out) while the lease holds.
    pub fn run(&self, request: R) -> BoxFuture<Result<O>> {
        let live = match &self.shared.stream_lease {
            Some(chain) => chain.load(Ordering::Acquire),
            None => self.lease.load(Ordering::Acquire),
        };
        if !live {
            return Box::pin(async { Err(RelayError::ContinuationExpired) });
        }
        let Some(entry) = self.shared.chain.get(self.index) else {
            return (self.shared.terminal)(request);
        };
        let inner = Next {
            shared: self.shared.clone(),
            index: self.index + 1,
            lease: Arc::new(AtomicBool::new(true)),
        };
        let lease = inner.lease.clone();
        let step = (entry.callback)(&self.shared.ctx, request, inner);
        Box::pin(async move {
            let out = step.await;
            // The intercept settled: its continuation expires.
            lease.store(false, Ordering::Release);
            out
        })
    }

    /// Context of the call this continuation belongs to.
    pub fn context(&self) -> &CallContext {
        &self.shared.ctx
    }
}
