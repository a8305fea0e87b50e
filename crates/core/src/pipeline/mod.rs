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

mod call;
mod manual;
mod stream;

use std::future::Future;
use std::sync::Arc;

pub use call::CallOptions;
pub use manual::EndOptions;
pub use stream::{Aggregator, LlmStream, StreamOptions};

use crate::error::Result;
use crate::event::Json;
use crate::middleware::{BoxFuture, LlmRequest};
use crate::registry::Chain;
use crate::runtime::Runtime;

use call::{Call, Kind, LlmKind, ToolKind};

impl Runtime {
    /// Run a tool call through the managed pipeline.
    ///
    /// `func` receives the (intercepted) arguments. It is `Fn`, not `FnOnce`,
    /// because execution intercepts may call it more than once (retries).
    pub async fn tool_call<F, Fut>(
        &self,
        name: &str,
        args: Json,
        opts: CallOptions,
        func: F,
    ) -> Result<Json>
    where
        F: Fn(Json) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Json>> + Send + 'static,
    {
        self.managed::<ToolKind, _, _>(name, args, opts, func).await
    }

    /// Run a unary LLM call through the managed pipeline. `func` receives the
    /// (intercepted) request and returns the provider's response.
    pub async fn llm_call<F, Fut>(
        &self,
        name: &str,
        request: LlmRequest,
        opts: CallOptions,
        func: F,
    ) -> Result<Json>
    where
        F: Fn(LlmRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Json>> + Send + 'static,
    {
        self.managed::<LlmKind, _, _>(name, request, opts, func)
            .await
    }

    /// The unary pipeline, shared by tool and LLM calls: the bare path when
    /// nothing is registered or listening, every stage otherwise.
    async fn managed<K, F, Fut>(
        &self,
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
        let (opts, req, func) =
            match call::run_bare::<K, _, _, _>(self, name, opts, req, func).await {
                Ok(out) => return out,
                Err(back) => back,
            };
        let call = Call::<K>::prepare(self, name, opts)?;
        call.admit(&req).await?;
        let req = call.intercept(req).await?;
        let handle = call.start(&req).await;
        let chain = Chain::merge(K::execution(&call.global), &call.locals, |r| {
            K::execution(r)
        });
        call.run(handle, chain, req, func).await
    }
}

/// Box a user callback as the terminal of an execution chain.
fn terminal<R, O, F, Fut>(func: F) -> crate::middleware::next::Terminal<R, O>
where
    F: Fn(R) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O>> + Send + 'static,
    R: 'static,
{
    Arc::new(move |r| -> BoxFuture<Result<O>> { Box::pin(func(r)) })
}
