//! Streaming LLM calls.
//!
//! Chunks flow from the provider, through the stream execution intercepts,
//! to the caller as they arrive — nothing is buffered whole on the caller's
//! path. When someone subscribes, each chunk is also recorded (an `llm.chunk`
//! mark, and a copy kept for the end event). The end event fires once the
//! stream finishes: its payload is the aggregate of the chunks (by default
//! `{"chunks": [...]}`, or what [`StreamOptions::aggregate`] builds), run
//! through the sanitize-response guardrails. A stream dropped before its end
//! emits an `ERROR` end event ("stream dropped before completion").

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;

use crate::error::{RelayError, Result};
use crate::event::{Json, Payload};
use crate::middleware::{BoxFuture, JsonStream, LlmRequest};
use crate::pipeline::call::{Call, CallOptions, CancelGuard, LlmKind};
use crate::registry::Chain;
use crate::runtime::Runtime;
use crate::scope::{ScopeHandle, ScopeStack};
use crate::time::Timestamp;

/// Builds the end-event payload of a stream from its chunks.
pub type Aggregator = Arc<dyn Fn(&[Json]) -> Json + Send + Sync>;

/// Options of [`Runtime::llm_stream_call`].
#[derive(Clone, Default)]
pub struct StreamOptions {
    /// The usual call options.
    pub call: CallOptions,
    /// Build the end payload from the chunks (default `{"chunks": [...]}`).
    pub aggregate: Option<Aggregator>,
}

impl Runtime {
    /// Run a streaming LLM call through the managed pipeline. `func` starts
    /// the provider stream; the returned [`LlmStream`] yields its chunks.
    pub async fn llm_stream_call<F, Fut>(
        &self,
        name: &str,
        request: LlmRequest,
        opts: StreamOptions,
        func: F,
    ) -> Result<LlmStream>
    where
        F: Fn(LlmRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<JsonStream>> + Send + 'static,
    {
        let call = Call::<LlmKind>::prepare(self, name, opts.call)?.for_stream();
        call.admit(&request).await?;
        let request = call.intercept(request).await?;
        let handle = call.start(&request).await;
        let chain = Chain::merge(&call.global.llm_stream_execution, &call.locals, |r| {
            &r.llm_stream_execution
        });
        let lease = Arc::new(AtomicBool::new(true));
        let passthrough = chain.is_empty();
        let started = {
            let mut guard = CancelGuard::new(&call, &handle);
            let mut revoke = RevokeOnDrop(Some(&lease));
            let res = call
                .execute_leased(handle.clone(), chain, request, func, Some(lease.clone()))
                .await;
            guard.disarm();
            revoke.0 = None;
            res
        };
        match started {
            Err(e) => {
                lease.store(false, Ordering::Release);
                call.finish_err(&handle, &e, None, None);
                Err(e)
            }
            Ok(inner) => {
                let child = call.ctx.stack.child(handle.clone());
                Ok(LlmStream {
                    call: Arc::new(call),
                    handle,
                    inner,
                    child,
                    chunks: Vec::new(),
                    count: 0,
                    aggregate: opts.aggregate,
                    state: State::Streaming,
                    lease,
                    passthrough,
                })
            }
        }
    }
}

/// Expires the stream intercepts' `next` when the call is dropped while
/// they run (cancelled): an intercept that calls it later must not start
/// the provider of a call that has ended.
struct RevokeOnDrop<'a>(Option<&'a AtomicBool>);

impl Drop for RevokeOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(lease) = self.0 {
            lease.store(false, Ordering::Release);
        }
    }
}

enum State {
    Streaming,
    Finalizing(BoxFuture<()>),
    Done,
}

/// The caller's side of a managed streaming call: a `Stream` of chunks.
pub struct LlmStream {
    call: Arc<Call<LlmKind>>,
    handle: ScopeHandle,
    inner: JsonStream,
    /// Provider code is polled with the call as its current scope.
    child: ScopeStack,
    chunks: Vec<Json>,
    count: u64,
    aggregate: Option<Aggregator>,
    state: State,
    /// Keeps the stream intercepts' `next` valid until the stream ends.
    lease: Arc<AtomicBool>,
    /// No stream execution intercept wraps the provider's stream.
    passthrough: bool,
}

impl LlmStream {
    /// The LLM call's handle (uuid, name …).
    pub fn handle(&self) -> &ScopeHandle {
        &self.handle
    }

    /// Whether no stream execution intercept wraps the provider's stream:
    /// then every poll of this stream polls the provider's stream exactly
    /// once (until it ends), and a chunk the provider yields is the chunk the
    /// caller gets. A binding may use this to pull the provider as soon as
    /// its caller asks, before polling, without reading ahead.
    pub fn is_passthrough(&self) -> bool {
        self.passthrough
    }

    fn aggregate(&mut self) -> Json {
        let chunks = std::mem::take(&mut self.chunks);
        match &self.aggregate {
            Some(f) => f(&chunks),
            None => serde_json::json!({ "chunks": chunks }),
        }
    }
}

impl Stream for LlmStream {
    type Item = Result<Json>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Json>>> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                State::Done => return Poll::Ready(None),
                State::Finalizing(fut) => {
                    if fut.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    this.state = State::Done;
                    return Poll::Ready(None);
                }
                State::Streaming => {}
            }
            let child = this.child.clone();
            let inner = &mut this.inner;
            match child.sync_scope(|| inner.as_mut().poll_next(cx)) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => {
                    if let Some(subs) = this.call.subscribers() {
                        this.call.rt.emit_mark(
                            subs,
                            crate::name::Name::new("llm.chunk"),
                            this.handle.uuid(),
                            Timestamp::now(),
                            None,
                            None,
                            Some(chunk_payload(this.count)),
                            None,
                        );
                        this.chunks.push(chunk.clone());
                    }
                    this.count += 1;
                    return Poll::Ready(Some(Ok(chunk)));
                }
                Poll::Ready(Some(Err(e))) => {
                    this.lease.store(false, Ordering::Release);
                    let extra = serde_json::json!({ "nemo_relay.stream.chunks": this.count });
                    this.call.finish_err(&this.handle, &e, Some(extra), None);
                    this.state = State::Done;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(None) => {
                    this.lease.store(false, Ordering::Release);
                    if this.call.subscribers().is_none() {
                        this.state = State::Done;
                        return Poll::Ready(None);
                    }
                    let output = this.aggregate();
                    let extra = serde_json::json!({ "nemo_relay.stream.chunks": this.count });
                    let call = this.call.clone();
                    let handle = this.handle.clone();
                    // The end timestamp is the moment the stream ended, not
                    // when (possibly asynchronous) sanitizers finish.
                    let at = Timestamp::now_after(handle.started_at());
                    this.state = State::Finalizing(Box::pin(async move {
                        call.finish_ok(&handle, Some(output), Some(extra), Some(at))
                            .await;
                    }));
                }
            }
        }
    }
}

impl Drop for LlmStream {
    fn drop(&mut self) {
        self.lease.store(false, Ordering::Release);
        match std::mem::replace(&mut self.state, State::Done) {
            State::Done => {}
            State::Streaming => {
                let extra = serde_json::json!({ "nemo_relay.stream.chunks": self.count });
                let err = RelayError::Cancelled("stream dropped before completion".into());
                self.call.finish_err(&self.handle, &err, Some(extra), None);
            }
            State::Finalizing(mut fut) => {
                // Give a synchronous sanitizer chain the chance to finish; an
                // asynchronous one cannot be awaited in `drop`, so its end
                // event is emitted without the payload.
                if crate::executor::poll_once(fut.as_mut()).is_pending() {
                    let err = RelayError::Cancelled(
                        "stream dropped while its end event was sanitized".into(),
                    );
                    self.call.finish_err(&self.handle, &err, None, None);
                }
            }
        }
    }
}

impl std::fmt::Debug for LlmStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmStream")
            .field("handle", &self.handle)
            .field("chunks", &self.count)
            .finish()
    }
}

/// `{"chunk_index": n}`, the payload of an `llm.chunk` mark, written
/// without building a map (one per chunk).
fn chunk_payload(index: u64) -> Payload {
    #[derive(serde::Serialize)]
    struct Chunk {
        chunk_index: u64,
    }
    Payload::serialized(&Chunk { chunk_index: index })
}
