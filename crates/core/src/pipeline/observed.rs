//! Calls that only subscribers observe.
//!
//! With exporters on and no policy middleware — the usual production setup —
//! a managed call has nothing to run but its callback, and two events to
//! emit around it. The full pipeline would still snapshot the registrations,
//! merge four empty middleware chains, box its kilobyte of state and walk
//! every stage. This path does only what such a call needs: mint the call's
//! handle, emit the start event, run the callback inside the call's scope
//! (its child stack still built only if the callback asks for it), emit the
//! end event. The events are the ones the full pipeline emits for the same
//! call; the tests check both paths against each other.

use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::dispatch::audience::Audience;
use crate::error::{RelayError, Result};
use crate::event::{Json, Payload, ScopePhase, Status};
use crate::id::uuid_v7_at;
use crate::runtime::Runtime;
use crate::scope::current::{in_child, Child, WithCurrent};
use crate::scope::handle::HandleData;
use crate::scope::{ScopeHandle, ScopeStack};
use crate::time::Timestamp;

use super::call::{error_status, CallOptions, Invoke, Kind};

/// An observed call in flight (see the module docs).
pub(crate) struct Observed<F, R, Fut> {
    rt: Runtime,
    subs: Audience,
    handle: ScopeHandle,
    /// Dropped by hand: before a cancelled call's end event, as the full
    /// pipeline does, so that whatever the callback had in flight (nested
    /// calls and scopes) ends first.
    run: ManuallyDrop<WithCurrent<Child<ScopeHandle>, Invoke<F, R, Fut>>>,
    /// `"tool"` or `"llm"`, for the cancellation message.
    kind: &'static str,
    /// The end event was emitted.
    ended: bool,
}

/// What [`Observed::start`] gives back when nobody listens after all (a
/// subscriber went away meanwhile): the call's parts, to run it bare.
pub(crate) type Unobserved<R, F> = (CallOptions, R, F);

impl<F, R, Fut> Observed<F, R, Fut> {
    /// Start the call: checks, handle, start event.
    pub(crate) fn start<K>(
        rt: &Runtime,
        name: &str,
        mut opts: CallOptions,
        req: R,
        func: F,
    ) -> Result<std::result::Result<Self, Unobserved<R, F>>>
    where
        K: Kind<Req = R>,
        R: Clone,
        F: FnOnce(R) -> Fut,
        Fut: Future,
    {
        super::check::check_call(name, K::CALL, &opts)?;
        // A caller's snapshot says who listens and where the call stands;
        // otherwise (no scope-local registration anywhere, the runtime
        // checked) the global subscribers and the current stack.
        let (subs, stack) = match opts.snapshot.take() {
            Some(snapshot) => (snapshot.subs, snapshot.stack),
            None => (
                rt.subscribers_for(&[]),
                opts.stack.take().unwrap_or_else(ScopeStack::current),
            ),
        };
        let Some(subs) = subs else {
            opts.stack = Some(stack);
            return Ok(Err((opts, req, func)));
        };
        let parent = stack.top_frame();
        let started_at = Timestamp::now();
        let handle = ScopeHandle(Arc::new(HandleData {
            uuid: uuid_v7_at(started_at.unix_millis()),
            parent_uuid: Some(opts.parent.unwrap_or_else(|| parent.handle.uuid())),
            name: crate::name::Name::new(name),
            scope_type: K::SCOPE,
            attributes: opts.attributes,
            started_at,
            data: opts.data,
            metadata: opts.metadata,
            tool_call_id: opts.tool_call_id.as_deref().map(Arc::from),
            model_name: opts.model_name.as_deref().map(Arc::from),
            stack_id: 0,
            ended: Default::default(),
            binding_tag: Default::default(),
        }));
        rt.emit_scope(
            &subs,
            &handle,
            ScopePhase::Start,
            started_at,
            Some(K::payload(&req)),
            handle.metadata().cloned(),
            None,
        );
        Ok(Ok(Observed {
            rt: rt.clone(),
            subs,
            run: ManuallyDrop::new(in_child(parent, handle.clone(), Invoke::new(func, req))),
            handle,
            kind: K::CALL.as_str(),
            ended: false,
        }))
    }

    fn end(&mut self, out: &Result<Json>) {
        self.ended = true;
        let h = &self.handle;
        let at = Timestamp::now_after(h.started_at());
        let (data, status) = match out {
            Ok(v) => (Some(Payload::new(v)), Status::Ok),
            Err(e) => (h.data().map(Payload::new), error_status(e)),
        };
        let meta = h.metadata().cloned();
        self.rt
            .emit_scope(&self.subs, h, ScopePhase::End, at, data, meta, Some(status));
    }
}

impl<F, R, Fut> Future for Observed<F, R, Fut>
where
    F: FnOnce(R) -> Fut,
    Fut: Future<Output = Result<Json>>,
{
    type Output = Result<Json>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Json>> {
        // SAFETY: only `run` is structurally pinned, and it is never moved.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: see above.
        let out = std::task::ready!(unsafe { Pin::new_unchecked(&mut *this.run) }.poll(cx));
        this.end(&out);
        Poll::Ready(out)
    }
}

impl<F, R, Fut> Drop for Observed<F, R, Fut> {
    fn drop(&mut self) {
        // SAFETY: dropped exactly once, here, in place (it is pinned).
        unsafe { ManuallyDrop::drop(&mut self.run) };
        if !self.ended {
            // Dropped before the callback finished: recorded as cancelled,
            // like the full pipeline's cancel guard does.
            let err =
                RelayError::Cancelled(format!("{} call dropped before completion", self.kind));
            self.end(&Err(err));
        }
    }
}
