//! The stages of one managed call, shared by tool, LLM and streaming calls.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::dispatch::audience::Audience;
use crate::error::{RelayError, Result};
use crate::event::{merge_metadata, ErrorStatus, Json, Payload, ScopePhase, Status};
use crate::id::{uuid_v7_at, Uuid};
use crate::middleware::{
    BoxFuture, CallContext, CallKind, ExecFn, GuardFn, LlmRequest, Next, RewriteFn, Step, Verdict,
};
use crate::registry::{CallRegistries, Chain, Entry, Registrations};

/// A stage's answer that comes later.
pub(crate) type Later<T> = BoxFuture<T>;

/// A fold of rewrites: its result, or where it stopped to wait (the index
/// of the rewrite that answers later, and its answer).
pub(crate) type Folded<R> = std::result::Result<R, (usize, Later<Result<R>>)>;
use crate::pipeline::check::check_call;
use crate::runtime::Runtime;
use crate::scope::current::{in_child, Child, ChildTop, Prepared, Recipe, WithCurrent};
use crate::scope::handle::HandleData;
use crate::scope::{Attributes, ScopeHandle, ScopeStack, ScopeType};
use crate::time::Timestamp;

/// Options of a managed (or manual) tool or LLM call. All default to none.
#[derive(Clone, Debug, Default)]
pub struct CallOptions {
    /// Stack the call belongs to (default: [`ScopeStack::current`]).
    pub stack: Option<ScopeStack>,
    /// Explicit parent scope (default: the stack's top).
    pub parent: Option<Uuid>,
    /// Attribute flags (`remote`, `stateful`, `streaming` …).
    pub attributes: Attributes,
    /// Application data; emitted as the end payload when the call fails.
    pub data: Option<Json>,
    /// Metadata emitted on start and merged into the end event.
    pub metadata: Option<Json>,
    /// Tool calls: the model's tool call id (ATIF matches observations by it).
    pub tool_call_id: Option<String>,
    /// LLM calls: the model name.
    pub model_name: Option<String>,
    /// The registrations to run, taken beforehand with
    /// [`Runtime::call_snapshot`] on the same runtime (default: taken when
    /// the call starts). With one, `stack` is ignored: the snapshot's stack
    /// is used. A snapshot is for one call: options cloned with it run
    /// every later call on the same, aging registrations.
    pub snapshot: Option<super::CallSnapshot>,
    /// State of the binding that makes the call, handed to every middleware
    /// through [`CallContext::extension`]. The core never looks inside.
    pub extension: Option<CallExtension>,
}

/// Opaque per-call state a binding gives its own middleware (see
/// [`CallOptions::extension`]).
#[derive(Clone)]
pub struct CallExtension(pub Arc<dyn std::any::Any + Send + Sync>);

impl std::fmt::Debug for CallExtension {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallExtension(..)")
    }
}

/// A bare call: the callback, run inside its lazily minted scope. Holds a
/// pointer to the call's name (see [`Recipe`]): only the call's own future
/// may keep one.
pub(crate) type BareCall<F, R, Fut> = WithCurrent<Child<Recipe>, Invoke<F, R, Fut>>;

/// The bare path: when nobody subscribes and no middleware of this call's
/// kind exists at any level — the common case for tools without policies —
/// a managed call is just its callback, run inside the call's scope. Even the
/// call's handle (uuid, start time) is minted only if the callback asks for
/// its current scope. The caller has checked [`Runtime::is_bare`].
///
/// # Safety
/// The returned future points at `name` (see [`Recipe`]): it must not
/// outlive it. The call's own future, which borrows `name`, holds it.
pub(crate) unsafe fn run_bare<K, F, Fut>(
    name: &str,
    opts: CallOptions,
    req: K::Req,
    func: F,
) -> Result<BareCall<F, K::Req, Fut>>
where
    K: Kind,
    F: FnOnce(K::Req) -> Fut,
    Fut: Future,
{
    // SAFETY: per this function's contract, the recipe (the top of the
    // returned future's context) does not outlive `name`.
    let (parent, recipe) = unsafe { bare_recipe(name, K::CALL, K::SCOPE, opts) }?;
    Ok(in_child(parent, recipe, Invoke::new(func, req)))
}

/// The frame a bare call runs under and the recipe of its handle, after the
/// checks every call gets.
///
/// # Safety
/// As for [`Recipe::new`]: `name` must outlive every use of the recipe.
unsafe fn bare_recipe(
    name: &str,
    kind: CallKind,
    scope_type: ScopeType,
    mut opts: CallOptions,
) -> Result<(Arc<crate::scope::stack::Frame>, Recipe)> {
    check_call(name, kind, &opts)?;
    let stack = opts.stack.take().unwrap_or_else(ScopeStack::current);
    let parent = stack.top_frame();
    let parent_uuid = parent.handle.uuid();
    // SAFETY: per this function's contract.
    let recipe = unsafe { Recipe::new(name, parent_uuid, scope_type, opts) };
    Ok((parent, recipe))
}

impl Runtime {
    /// The scope stack a bare call's callback runs in, built now: the
    /// options' stack (or the current one) topped by a new scope for a call
    /// of `kind` named `name`, its uuid and start time minted now.
    ///
    /// For bindings that run bare calls themselves ([`is_bare`](Self::is_bare)
    /// said so) and, like the core, build the call's scope only if the
    /// callback asks for its current stack. Same checks as a managed call.
    pub fn bare_call_stack(
        &self,
        kind: CallKind,
        name: &str,
        opts: CallOptions,
    ) -> Result<ScopeStack> {
        let scope_type = match kind {
            CallKind::Tool => ScopeType::Tool,
            CallKind::Llm | CallKind::LlmStream => ScopeType::Llm,
        };
        // SAFETY: the recipe is used right away, while `name` is borrowed.
        let (parent, recipe) = unsafe { bare_recipe(name, kind, scope_type, opts) }?;
        Ok(ScopeStack::child_of(parent, recipe.into_handle()))
    }
}

/// Calls `func(req)` when first polled, then drives the future it returned.
///
/// Deferring the call to the first poll puts the callback's synchronous
/// part (all of a C or JS callback) inside whatever context wraps this
/// future, such as the call's own scope.
pub(crate) enum Invoke<F, R, Fut> {
    /// Not called yet.
    Start(Option<(F, R)>),
    /// Called; its future.
    Running(Fut),
}

impl<F, R, Fut> Invoke<F, R, Fut> {
    pub(crate) fn new(func: F, req: R) -> Self {
        Invoke::Start(Some((func, req)))
    }
}

impl<F, R, Fut> Future for Invoke<F, R, Fut>
where
    F: FnOnce(R) -> Fut,
    Fut: Future,
{
    type Output = Fut::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Fut::Output> {
        // SAFETY: only `Running`'s future is structurally pinned, and it is
        // never moved; `Start` holds plain values, moved out before the
        // state is overwritten in place.
        let this = unsafe { self.get_unchecked_mut() };
        if let Invoke::Start(start) = this {
            let (func, req) = start.take().expect("Invoke polled after a panic");
            *this = Invoke::Running(func(req));
        }
        match this {
            // SAFETY: see above.
            Invoke::Running(fut) => unsafe { Pin::new_unchecked(fut) }.poll(cx),
            Invoke::Start(_) => unreachable!("set to Running above"),
        }
    }
}

/// What differs between tool and LLM calls.
pub(crate) trait Kind: Send + Sync + 'static {
    type Req: Clone + Send + Sync + 'static;
    const SCOPE: ScopeType;
    const CALL: CallKind;
    fn families(r: &Registrations) -> &CallRegistries<Self::Req>;
    /// The unary execution intercepts of this kind.
    fn execution(r: &Registrations) -> &crate::registry::Registry<ExecFn<Self::Req, Json>>;
    /// Start-event payload for a request.
    fn payload(req: &Self::Req) -> Payload;
}

pub(crate) struct ToolKind;
impl Kind for ToolKind {
    type Req = Json;
    const SCOPE: ScopeType = ScopeType::Tool;
    const CALL: CallKind = CallKind::Tool;
    fn families(r: &Registrations) -> &CallRegistries<Json> {
        &r.tool
    }
    fn execution(r: &Registrations) -> &crate::registry::Registry<ExecFn<Json, Json>> {
        &r.tool_execution
    }
    fn payload(req: &Json) -> Payload {
        Payload::new(req)
    }
}

pub(crate) struct LlmKind;
impl Kind for LlmKind {
    type Req = LlmRequest;
    const SCOPE: ScopeType = ScopeType::Llm;
    const CALL: CallKind = CallKind::Llm;
    fn families(r: &Registrations) -> &CallRegistries<LlmRequest> {
        &r.llm
    }
    fn execution(r: &Registrations) -> &crate::registry::Registry<ExecFn<LlmRequest, Json>> {
        &r.llm_execution
    }
    fn payload(req: &LlmRequest) -> Payload {
        req.event_payload()
    }
}

/// One call in flight: its context and the registrations it saw at start.
///
/// One snapshot per call: middleware registered while a call runs applies to
/// later calls, never to a stage of this one.
pub(crate) struct Call<K: Kind> {
    pub(crate) rt: Runtime,
    pub(crate) ctx: CallContext,
    pub(crate) global: Arc<Registrations>,
    pub(crate) locals: Vec<Arc<Registrations>>,
    /// `None` when nobody listens: no event is built, no sanitizer runs.
    pub(crate) subs: Option<Audience>,
    /// What the call's handle carries from its options.
    attributes: Attributes,
    data: Option<Json>,
    metadata: Option<Json>,
    pub(crate) started_at: Timestamp,
    _kind: PhantomData<K>,
}

impl<K: Kind> Call<K> {
    pub(crate) fn prepare(rt: &Runtime, name: &str, opts: CallOptions) -> Result<Self> {
        Self::build(rt, name, opts, None)
    }

    /// A call context for an existing handle (manual end of a call).
    pub(crate) fn for_handle(
        rt: &Runtime,
        handle: &ScopeHandle,
        stack: Option<ScopeStack>,
    ) -> Result<Self> {
        let opts = CallOptions {
            stack,
            parent: handle.parent_uuid(),
            attributes: handle.attributes(),
            data: handle.data().cloned(),
            metadata: handle.metadata().cloned(),
            tool_call_id: handle.tool_call_id().map(str::to_owned),
            model_name: handle.model_name().map(str::to_owned),
            ..Default::default()
        };
        Self::build(
            rt,
            handle.name(),
            opts,
            Some((handle.uuid(), handle.started_at())),
        )
    }

    fn build(
        rt: &Runtime,
        name: &str,
        mut opts: CallOptions,
        existing: Option<(Uuid, Timestamp)>,
    ) -> Result<Self> {
        check_call(name, K::CALL, &opts)?;
        let super::CallSnapshot {
            stack,
            top,
            locals,
            global,
            subs,
        } = match opts.snapshot.take() {
            Some(snapshot) => snapshot,
            None => rt.call_snapshot(opts.stack.take()),
        };
        let started_at = existing.map_or_else(Timestamp::now, |(_, t)| t);
        let ctx = CallContext {
            name: crate::name::Name::new(name),
            kind: K::CALL,
            uuid: existing.map_or_else(|| uuid_v7_at(started_at.unix_millis()), |(u, _)| u),
            parent_uuid: opts.parent.unwrap_or(top),
            tool_call_id: opts.tool_call_id.as_deref().map(Arc::from),
            model_name: opts.model_name.as_deref().map(Arc::from),
            stack,
            extension: opts.extension.take(),
        };
        Ok(Call {
            rt: rt.clone(),
            ctx,
            global,
            locals,
            subs,
            attributes: opts.attributes,
            data: opts.data,
            metadata: opts.metadata,
            started_at,
            _kind: PhantomData,
        })
    }

    pub(crate) fn for_stream(mut self) -> Self {
        self.ctx.kind = CallKind::LlmStream;
        self
    }

    pub(crate) fn subscribers(&self) -> Option<&Audience> {
        self.subs.as_ref()
    }

    fn chain<T: Clone>(
        &self,
        pick: impl Fn(&CallRegistries<K::Req>) -> &crate::registry::Registry<T>,
    ) -> Chain<T> {
        Chain::merge(pick(K::families(&self.global)), &self.locals, |r| {
            pick(K::families(r))
        })
    }

    /// This call's conditional guardrails, in run order.
    pub(crate) fn guards(&self) -> Chain<GuardFn<K::Req>> {
        self.chain(|f| &f.conditional)
    }

    /// This call's request intercepts, in run order.
    pub(crate) fn intercepts(&self) -> Chain<RewriteFn<K::Req>> {
        self.chain(|f| &f.request)
    }

    /// Conditional-execution guardrails: the first rejection wins.
    pub(crate) async fn admit(&self, req: &K::Req) -> Result<()> {
        let chain = self.guards();
        match self.admit_from(req, &chain, 0)? {
            None => Ok(()),
            Some((at, verdict)) => self.admit_rest(req, &chain, at, verdict).await,
        }
    }

    /// Guardrails from `from` on, as long as each answers at once (the
    /// common case: no future, no allocation); the first that answers later
    /// is handed back with its index.
    pub(crate) fn admit_from(
        &self,
        req: &K::Req,
        chain: &Chain<GuardFn<K::Req>>,
        from: usize,
    ) -> Result<Option<(usize, Later<Result<Verdict>>)>> {
        for (at, entry) in chain.iter().enumerate().skip(from) {
            match (entry.callback)(&self.ctx, req) {
                Step::Ready(verdict) => self.judge(entry, verdict.expect("a new step"))?,
                Step::Pending(verdict) => return Ok(Some((at, verdict))),
            }
        }
        Ok(None)
    }

    /// The rest of [`admit`](Self::admit) once guardrail `at` answers later.
    pub(crate) async fn admit_rest(
        &self,
        req: &K::Req,
        chain: &Chain<GuardFn<K::Req>>,
        mut at: usize,
        mut verdict: Later<Result<Verdict>>,
    ) -> Result<()> {
        loop {
            self.judge(&chain[at], verdict.await)?;
            match self.admit_from(req, chain, at + 1)? {
                None => return Ok(()),
                Some((next, later)) => (at, verdict) = (next, later),
            }
        }
    }

    /// Act on one guardrail's verdict: a rejection is marked (when someone
    /// listens) and fails the call.
    fn judge(&self, entry: &Entry<GuardFn<K::Req>>, verdict: Result<Verdict>) -> Result<()> {
        let Verdict::Reject(reason) = verdict? else {
            return Ok(());
        };
        if let Some(subs) = &self.subs {
            // `kind`, the guardrail's family, tells a refused LLM call from a tool call.
            let data = serde_json::json!({
                "rejected": true,
                "rejection_reason": reason,
                "guardrail": &*entry.name,
                "kind": K::CALL.guard_family().as_str(),
            });
            // The call id lets exporters match the rejection to the
            // model's tool call exactly (ATIF observations).
            let profile = self
                .ctx
                .tool_call_id
                .as_ref()
                .map(|id| serde_json::json!({ "tool_call_id": &**id }));
            self.rt.emit_mark(
                subs,
                self.ctx.name.clone(),
                self.ctx.parent_uuid,
                Timestamp::now(),
                Some(ScopeType::Guardrail),
                profile,
                Some(Payload::new(&data)),
                self.metadata.clone(),
            );
        }
        Err(RelayError::GuardrailRejected {
            guardrail: entry.name.to_string(),
            reason,
        })
    }

    /// Request intercepts, folded in order; `break_chain` stops the fold.
    pub(crate) async fn intercept(&self, req: K::Req) -> Result<K::Req> {
        let chain = self.intercepts();
        match self.intercept_from(&chain, 0, req)? {
            Ok(req) => Ok(req),
            Err((at, req)) => self.intercept_rest(&chain, at, req).await,
        }
    }

    /// Request intercepts from `from` on while each answers at once; the
    /// first that answers later is handed back with its index.
    pub(crate) fn intercept_from(
        &self,
        chain: &Chain<RewriteFn<K::Req>>,
        from: usize,
        mut req: K::Req,
    ) -> Result<Folded<K::Req>> {
        for (at, entry) in chain.iter().enumerate().skip(from) {
            match (entry.callback)(&self.ctx, req) {
                Step::Ready(out) => req = out.expect("a new step")?,
                Step::Pending(out) => return Ok(Err((at, out))),
            }
            if entry.break_chain {
                break;
            }
        }
        Ok(Ok(req))
    }

    /// The rest of [`intercept`](Self::intercept) once intercept `at`
    /// answers later.
    pub(crate) async fn intercept_rest(
        &self,
        chain: &Chain<RewriteFn<K::Req>>,
        mut at: usize,
        mut out: Later<Result<K::Req>>,
    ) -> Result<K::Req> {
        loop {
            let req = out.await?;
            if chain[at].break_chain {
                return Ok(req);
            }
            match self.intercept_from(chain, at + 1, req)? {
                Ok(req) => return Ok(req),
                Err((next, later)) => (at, out) = (next, later),
            }
        }
    }

    /// Run a sanitizer chain over an emitted copy. On failure the payload is
    /// omitted (never leaked unsanitized), the failure is counted, and the
    /// reason is returned for the event's metadata.
    pub(crate) async fn sanitize<T>(
        &self,
        chain: Chain<RewriteFn<T>>,
        mut value: T,
    ) -> (Option<T>, Option<String>) {
        for entry in chain.iter() {
            match (entry.callback)(&self.ctx, value).await {
                Ok(v) => value = v,
                Err(e) => {
                    self.rt
                        .inner
                        .sanitizer_failures
                        .fetch_add(1, Ordering::Relaxed);
                    return (
                        None,
                        Some(format!("sanitizer '{}' failed: {e}", entry.name)),
                    );
                }
            }
        }
        (Some(value), None)
    }

    /// [`sanitize`](Self::sanitize) without a future when there is no
    /// sanitizer (the common case); with sanitizers, their future lives in
    /// a box of its own, which keeps every managed call's future small.
    pub(crate) async fn sanitize_copy<T: Send>(
        &self,
        chain: Chain<RewriteFn<T>>,
        value: T,
    ) -> (Option<T>, Option<String>) {
        if chain.is_empty() {
            return (Some(value), None);
        }
        let run: Pin<Box<dyn Future<Output = _> + Send + '_>> =
            Box::pin(self.sanitize(chain, value));
        run.await
    }

    pub(crate) fn handle(&self) -> ScopeHandle {
        ScopeHandle(Arc::new(self.handle_data()))
    }

    /// What the call's handle holds (its uuid and start time included).
    fn handle_data(&self) -> HandleData {
        HandleData {
            uuid: self.ctx.uuid,
            parent_uuid: Some(self.ctx.parent_uuid),
            name: self.ctx.name.clone(),
            scope_type: K::SCOPE,
            attributes: self.attributes,
            started_at: self.started_at,
            data: self.data.clone(),
            metadata: self.metadata.clone(),
            tool_call_id: self.ctx.tool_call_id.clone(),
            model_name: self.ctx.model_name.clone(),
            stack_id: 0,
            ended: Default::default(),
            binding_tag: Default::default(),
        }
    }

    /// Sanitize-request on a copy, then the start event.
    pub(crate) async fn start(&self, req: &K::Req) -> ScopeHandle {
        let handle = self.handle();
        if let Some(subs) = &self.subs {
            let chain = self.chain(|f| &f.sanitize_request);
            let (data, failure) = self.sanitize_copy(chain, req.clone()).await;
            let meta = with_failure(handle.metadata().cloned(), failure);
            self.rt.emit_scope(
                subs,
                &handle,
                ScopePhase::Start,
                self.started_at,
                data.as_ref().map(K::payload),
                meta,
                None,
            );
        }
        handle
    }

    /// Sanitize-response on a copy, then the success end event.
    pub(crate) async fn finish_ok(
        &self,
        handle: &ScopeHandle,
        output: Option<Json>,
        extra: Option<Json>,
        at: Option<Timestamp>,
    ) {
        if self.subs.is_none() {
            return;
        }
        let chain = self.chain(|f| &f.sanitize_response);
        let (data, failure) = match output {
            Some(out) => self.sanitize_copy(chain, out).await,
            None => (None, None),
        };
        self.end_ok(handle, data, failure, extra, at);
    }

    /// The success end event of an already sanitized output.
    fn end_ok(
        &self,
        handle: &ScopeHandle,
        data: Option<Json>,
        failure: Option<String>,
        extra: Option<Json>,
        at: Option<Timestamp>,
    ) {
        let Some(subs) = &self.subs else { return };
        let meta = with_failure(merge_metadata(handle.metadata(), extra), failure);
        let ts = at.unwrap_or_else(|| Timestamp::now_after(handle.started_at()));
        self.rt.emit_scope(
            subs,
            handle,
            ScopePhase::End,
            ts,
            data.as_ref().map(Payload::new),
            meta,
            Some(Status::Ok),
        );
    }

    /// The failure end event: the call's `data` as payload, error status.
    pub(crate) fn finish_err(
        &self,
        handle: &ScopeHandle,
        err: &RelayError,
        extra: Option<Json>,
        at: Option<Timestamp>,
    ) {
        let Some(subs) = &self.subs else { return };
        let status = error_status(err);
        let meta = merge_metadata(handle.metadata(), extra);
        let ts = at.unwrap_or_else(|| Timestamp::now_after(handle.started_at()));
        self.rt.emit_scope(
            subs,
            handle,
            ScopePhase::End,
            ts,
            handle.data().map(Payload::new),
            meta,
            Some(status),
        );
    }

    /// Execution intercepts around the callback, inside the call's child
    /// stack, then the end event. A drop guard records cancellation.
    ///
    /// `handle` is `None` when nobody listens: there are no events to emit,
    /// and the call's handle is minted only if the callback asks for its
    /// scope (as on the bare path).
    pub(crate) async fn run<F, Fut>(
        &self,
        handle: Option<ScopeHandle>,
        chain: Chain<ExecFn<K::Req, Json>>,
        req: K::Req,
        func: F,
    ) -> Result<Json>
    where
        F: Fn(K::Req) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Json>> + Send + 'static,
    {
        let Some(handle) = handle else {
            let top = Prepared(self.handle_data());
            return self.execute_leased(top, chain, req, func, None).await;
        };
        // Armed until the end event goes out: a call dropped while its
        // sanitize-response guardrails run (an abort) still ends, cancelled.
        let mut guard = CancelGuard::new(self, &handle);
        let out = self
            .execute_leased(handle.clone(), chain, req, func, None)
            .await;
        match &out {
            Ok(v) if self.subs.is_some() => {
                let sanitizers = self.chain(|f| &f.sanitize_response);
                let (data, failure) = if sanitizers.is_empty() {
                    (Some(v.clone()), None)
                } else {
                    // In a box of its own: the sanitizers' state would
                    // otherwise enlarge every managed call's future.
                    let sanitized: Pin<Box<dyn Future<Output = _> + Send + '_>> =
                        Box::pin(self.sanitize(sanitizers, v.clone()));
                    sanitized.await
                };
                guard.disarm();
                self.end_ok(&handle, data, failure, None, None);
            }
            Ok(_) => guard.disarm(),
            Err(e) => {
                guard.disarm();
                self.finish_err(&handle, e, None, None)
            }
        }
        out
    }

    /// Execution intercepts around the callback, inside the call's child
    /// stack: a future built here and now (not an `async fn`, whose state
    /// would copy every argument once more). With `stream_lease` (stream
    /// chains) continuations stay valid until that flag is cleared, when
    /// the call's stream ends.
    pub(crate) fn execute_leased<T, O, F, Fut>(
        &self,
        top: T,
        chain: Chain<ExecFn<K::Req, O>>,
        req: K::Req,
        func: F,
        stream_lease: Option<Arc<std::sync::atomic::AtomicBool>>,
    ) -> impl Future<Output = Result<O>> + Send + 'static
    where
        T: ChildTop,
        O: Send + 'static,
        F: Fn(K::Req) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O>> + Send + 'static,
    {
        let parent = self.ctx.stack.top_frame();
        // Invoke inside the child scope, not before entering it: the
        // synchronous part of a callback (all of a C or JS callback) runs at
        // invocation time and must already see the call as current scope.
        if chain.is_empty() {
            return Either::Left(in_child(parent, top, Invoke::new(func, req)));
        }
        let next = Next::start(chain, func, self.ctx.clone(), stream_lease);
        let first = move |req| next.run(req);
        Either::Right(in_child(parent, top, Invoke::new(first, req)))
    }
}

/// One of two futures with the same output.
pub(crate) enum Either<A, B> {
    Left(A),
    Right(B),
}

impl<A, B> Future for Either<A, B>
where
    A: Future,
    B: Future<Output = A::Output>,
{
    type Output = A::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<A::Output> {
        // SAFETY: the variant's future is structurally pinned and never moved.
        unsafe {
            match self.get_unchecked_mut() {
                Either::Left(a) => Pin::new_unchecked(a).poll(cx),
                Either::Right(b) => Pin::new_unchecked(b).poll(cx),
            }
        }
    }
}

/// The end status of a call that failed with `err`.
pub(crate) fn error_status(err: &RelayError) -> Status {
    let exception_type = match err {
        RelayError::Callback {
            exception_type: Some(t),
            ..
        } => Some(t.clone()),
        _ => None,
    };
    Status::Error(Box::new(ErrorStatus {
        description: err.to_string(),
        error_type: err.code().as_str().to_owned(),
        exception_type,
    }))
}

fn with_failure(meta: Option<Json>, failure: Option<String>) -> Option<Json> {
    match failure {
        None => meta,
        Some(f) => merge_metadata(
            meta.as_ref(),
            Some(serde_json::json!({ "nemo_relay.sanitizer_error": f })),
        ),
    }
}

/// Emits a "cancelled" end event if the call's future is dropped between its
/// start event and its completion.
pub(crate) struct CancelGuard<'a, K: Kind> {
    call: &'a Call<K>,
    handle: &'a ScopeHandle,
    armed: bool,
}

impl<'a, K: Kind> CancelGuard<'a, K> {
    pub(crate) fn new(call: &'a Call<K>, handle: &'a ScopeHandle) -> Self {
        CancelGuard {
            call,
            handle,
            armed: true,
        }
    }
    pub(crate) fn disarm(&mut self) {
        self.armed = false;
    }
}

impl<K: Kind> Drop for CancelGuard<'_, K> {
    fn drop(&mut self) {
        if self.armed {
            let err = RelayError::Cancelled(format!(
                "{} call dropped before completion",
                K::CALL.as_str()
            ));
            self.call.finish_err(self.handle, &err, None, None);
        }
    }
}
