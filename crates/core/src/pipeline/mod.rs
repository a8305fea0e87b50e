//! Managed execution: the pipeline every tool and LLM call runs through.
//!
//! ```text
//!  conditional guardrails ──reject──▶ rejection mark, Err(guardrail_rejected)
//!         │ allow                      (no start/end events for the call)
//!  request intercepts (fold; break_chain stops the fold)
//!         │
//!  sanitize-request on a copy ──▶ start event
//!         │
//!  execution intercepts ─ next ─▶ … ─ next ─▶ the real callback
//!         │
//!  sanitize-response on a copy ──▶ end event (status OK / ERROR)
//! ```
//!
//! Sanitizers touch only the emitted copies; the callback receives the
//! intercepted request and the caller receives the callback's real result.
//! When nobody subscribes, no copy is made and no sanitizer runs.
//!
//! A failing callback still emits its end event (marked `ERROR`, with
//! `error.type` and a description) and the error is returned. If the call's
//! future is dropped midway, a guard emits the end event as cancelled.
//!
//! The callback (and the execution intercepts) run with a child scope stack
//! whose top is the call itself, so scopes, marks and nested calls made
//! inside a tool are parented to that tool — also across `await`s.
//!
//! A call takes one of three paths, decided when it is first polled from
//! the runtime's [`Activity`](crate::Activity) counters:
//!
//! | path | when | what runs |
//! |---|---|---|
//! | bare (`call::run_bare`) | no subscriber, no middleware of its kind | the callback in its scope, whose handle is minted only if asked for |
//! | observed (`observed`) | subscribers, no middleware of its kind | start event, callback, end event |
//! | full (`full`) | middleware | every stage above |
//!
//! The paths differ in cost, not in behaviour: the observed path emits what
//! the full pipeline emits for the same call (tested side by side).
//! Every path checks its call the same way first (`check.rs`).

mod call;
mod check;
mod manual;
mod observed;
mod snapshot;
mod stream;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

pub use call::{CallExtension, CallOptions};
pub use manual::EndOptions;
pub use snapshot::CallSnapshot;
pub use stream::{Aggregator, LlmStream, StreamOptions};

use crate::error::Result;
use crate::event::Json;
use crate::middleware::LlmRequest;
use crate::registry::Chain;
use crate::runtime::Runtime;

use call::{BareCall, Call, Kind, LlmKind, ToolKind};
use observed::Observed;

impl Runtime {
    /// Run a tool call through the managed pipeline.
    ///
    /// `func` receives the (intercepted) arguments. It is `Fn`, not `FnOnce`,
    /// because execution intercepts may call it more than once (retries).
    pub fn tool_call<'a, F, Fut>(
        &'a self,
        name: &'a str,
        args: Json,
        opts: CallOptions,
        func: F,
    ) -> impl Future<Output = Result<Json>> + Send + 'a
    where
        F: Fn(Json) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Json>> + Send + 'static,
    {
        Managed::<ToolKind, F, Fut>::new(self, name, args, opts, func)
    }

    /// Run a unary LLM call through the managed pipeline. `func` receives the
    /// (intercepted) request and returns the provider's response.
    pub fn llm_call<'a, F, Fut>(
        &'a self,
        name: &'a str,
        request: LlmRequest,
        opts: CallOptions,
        func: F,
    ) -> impl Future<Output = Result<Json>> + Send + 'a
    where
        F: Fn(LlmRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Json>> + Send + 'static,
    {
        Managed::<LlmKind, F, Fut>::new(self, name, request, opts, func)
    }
}

/// The future of a managed unary call: [`Runtime::tool_call`] and
/// [`Runtime::llm_call`].
///
/// Written by hand rather than as one `async fn` because of what an `async
/// fn` would cost the bare call (the common case): its state would be the
/// union of every stage of the full pipeline (a call context, middleware
/// chains, events), well over a kilobyte, and that state is copied each time
/// the future moves, before it has done anything. Here the bare call is its
/// callback's future plus the call's scope recipe, and the full pipeline
/// lives in a box of its own, allocated only when it runs.
enum Managed<'a, K: Kind, F, Fut> {
    /// Not polled yet: which path to take is decided on the first poll.
    Start(Option<(&'a Runtime, &'a str, K::Req, CallOptions, F)>),
    /// Nothing observes the call: just the callback, in the call's scope.
    Bare(BareCall<F, K::Req, Fut>),
    /// Only subscribers observe it: its events around the callback.
    Observed(Observed<F, K::Req, Fut>),
    /// Every stage.
    Full(Pin<Box<dyn Future<Output = Result<Json>> + Send + 'a>>),
    /// The bare call's arguments were invalid (the error was returned).
    Failed,
}

impl<'a, K, F, Fut> Managed<'a, K, F, Fut>
where
    K: Kind,
{
    fn new(rt: &'a Runtime, name: &'a str, req: K::Req, opts: CallOptions, func: F) -> Self {
        Managed::Start(Some((rt, name, req, opts, func)))
    }
}

impl<'a, K, F, Fut> Future for Managed<'a, K, F, Fut>
where
    K: Kind,
    F: Fn(K::Req) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Json>> + Send + 'static,
{
    type Output = Result<Json>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Json>> {
        // SAFETY: only the `Bare` and `Observed` futures are structurally
        // pinned, and they are never moved; `Start` holds plain values, moved out before the
        // state is overwritten in place; `Full` is pinned by its box.
        let this = unsafe { self.get_unchecked_mut() };
        if let Managed::Start(start) = this {
            let (rt, name, req, opts, func) = start.take().expect("polled after a panic");
            // SAFETY (run_bare): the bare future is kept in this `Managed`,
            // which borrows `name` for its whole life.
            let bare =
                |opts, req, func| unsafe { call::run_bare::<K, _, _>(name, opts, req, func) };
            // A snapshot taken by the caller decides: the call runs exactly
            // what it holds (and when that is no middleware but some
            // subscribers, it takes the observed path all the same).
            let observed_only = match &opts.snapshot {
                None => rt.is_observed_only(K::CALL),
                Some(s) => s.has_subscribers() && s.runs_no_middleware(K::CALL),
            };
            let next = if opts.snapshot.is_none() && rt.is_bare(K::CALL) {
                bare(opts, req, func).map(Managed::Bare)
            } else if observed_only {
                Observed::start::<K>(rt, name, opts, req, func).and_then(|o| match o {
                    Ok(observed) => Ok(Managed::Observed(observed)),
                    Err((opts, req, func)) => bare(opts, req, func).map(Managed::Bare),
                })
            } else {
                Ok(Managed::Full(Box::into_pin(boxed_in_place(|| {
                    full::<K, F, Fut>(rt, name, req, opts, func)
                }))))
            };
            match next {
                Ok(state) => *this = state,
                Err(e) => {
                    *this = Managed::Failed;
                    return Poll::Ready(Err(e));
                }
            }
        }
        match this {
            // SAFETY: see above.
            Managed::Bare(bare) => unsafe { Pin::new_unchecked(bare) }.poll(cx),
            // SAFETY: see above.
            Managed::Observed(o) => unsafe { Pin::new_unchecked(o) }.poll(cx),
            Managed::Full(full) => full.as_mut().poll(cx),
            Managed::Start(_) | Managed::Failed => panic!("managed call polled after completion"),
        }
    }
}

/// `Box::new(make())`, but written straight into the allocation: the full
/// pipeline's future is a kilobyte of which only the arguments are set
/// before it first runs, and building it on the stack first copies all of
/// it.
#[inline(always)]
fn boxed_in_place<T>(make: impl FnOnce() -> T) -> Box<T> {
    let mut slot = Box::<T>::new_uninit();
    slot.write(make());
    // SAFETY: written just above.
    unsafe { slot.assume_init() }
}

/// Every stage of the unary pipeline, shared by tool and LLM calls.
async fn full<K, F, Fut>(
    rt: &Runtime,
    name: &str,
    req: K::Req,
    opts: CallOptions,
    func: F,
) -> Result<Json>
where
    K: Kind,
    F: Fn(K::Req) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Json>> + Send + 'static,
{
    let call = Call::<K>::prepare(rt, name, opts)?;
    // Stages whose middleware answer at once (the usual case) run as plain
    // function calls; a stage builds a future only from the first
    // middleware that answers later.
    // (Each chain lives in a block of its own, so that the pipeline's state
    // does not keep it across the later stages' awaits.)
    {
        let guards = call.guards();
        if let Some((at, verdict)) = call.admit_from(&req, &guards, 0)? {
            call.admit_rest(&req, &guards, at, verdict).await?;
        }
    }
    let req = {
        let intercepts = call.intercepts();
        match call.intercept_from(&intercepts, 0, req)? {
            Ok(req) => req,
            Err((at, out)) => call.intercept_rest(&intercepts, at, out).await?,
        }
    };
    let handle = match call.subscribers() {
        // Nobody listens: no sanitizer runs, no events, and the call's
        // handle is minted only if the callback asks for its scope.
        None => None,
        Some(_) => Some(call.start(&req).await),
    };
    let chain = Chain::merge(K::execution(&call.global), &call.locals, |r| {
        K::execution(r)
    });
    call.run(handle, chain, req, func).await
}
