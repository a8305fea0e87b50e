//! The middleware families and the set of registries at one level (the global
//! level, or one scope).

use std::sync::Arc;

use crate::dispatch::{Subscriber, SubscriberSet};
use crate::error::{RelayError, Result};
use crate::event::Json;
use crate::id::Uuid;
use crate::middleware::{ExecFn, GuardFn, JsonStream, LlmRequest, RewriteFn};
use crate::registry::{Entry, Registry};
use crate::scope::{ScopeHandle, ScopeStack};

/// Every registration surface, with its stable wire name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// `tool_conditional_execution`
    ToolConditionalExecution,
    /// `tool_request_intercept`
    ToolRequestIntercept,
    /// `tool_sanitize_request`
    ToolSanitizeRequest,
    /// `tool_sanitize_response`
    ToolSanitizeResponse,
    /// `tool_execution_intercept`
    ToolExecutionIntercept,
    /// `llm_conditional_execution`
    LlmConditionalExecution,
    /// `llm_request_intercept`
    LlmRequestIntercept,
    /// `llm_sanitize_request`
    LlmSanitizeRequest,
    /// `llm_sanitize_response`
    LlmSanitizeResponse,
    /// `llm_execution_intercept`
    LlmExecutionIntercept,
    /// `llm_stream_execution_intercept`
    LlmStreamExecutionIntercept,
    /// `subscriber`
    Subscriber,
}

impl Family {
    /// Every family, in wire order (also the stable integer order for C).
    pub const ALL: [Family; 12] = [
        Family::ToolConditionalExecution,
        Family::ToolRequestIntercept,
        Family::ToolSanitizeRequest,
        Family::ToolSanitizeResponse,
        Family::ToolExecutionIntercept,
        Family::LlmConditionalExecution,
        Family::LlmRequestIntercept,
        Family::LlmSanitizeRequest,
        Family::LlmSanitizeResponse,
        Family::LlmExecutionIntercept,
        Family::LlmStreamExecutionIntercept,
        Family::Subscriber,
    ];

    /// Stable wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Family::ToolConditionalExecution => "tool_conditional_execution",
            Family::ToolRequestIntercept => "tool_request_intercept",
            Family::ToolSanitizeRequest => "tool_sanitize_request",
            Family::ToolSanitizeResponse => "tool_sanitize_response",
            Family::ToolExecutionIntercept => "tool_execution_intercept",
            Family::LlmConditionalExecution => "llm_conditional_execution",
            Family::LlmRequestIntercept => "llm_request_intercept",
            Family::LlmSanitizeRequest => "llm_sanitize_request",
            Family::LlmSanitizeResponse => "llm_sanitize_response",
            Family::LlmExecutionIntercept => "llm_execution_intercept",
            Family::LlmStreamExecutionIntercept => "llm_stream_execution_intercept",
            Family::Subscriber => "subscriber",
        }
    }

    /// Parse a wire name.
    pub fn parse(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| RelayError::invalid(format!("unknown middleware family '{s}'")))
    }
}

/// A callback of some family, ready to register.
#[derive(Clone)]
pub enum Middleware {
    /// Tool conditional-execution guardrail.
    ToolConditionalExecution(GuardFn<Json>),
    /// Tool request intercept.
    ToolRequestIntercept(RewriteFn<Json>),
    /// Tool sanitize-request guardrail.
    ToolSanitizeRequest(RewriteFn<Json>),
    /// Tool sanitize-response guardrail.
    ToolSanitizeResponse(RewriteFn<Json>),
    /// Tool execution intercept.
    ToolExecutionIntercept(ExecFn<Json, Json>),
    /// LLM conditional-execution guardrail.
    LlmConditionalExecution(GuardFn<LlmRequest>),
    /// LLM request intercept.
    LlmRequestIntercept(RewriteFn<LlmRequest>),
    /// LLM sanitize-request guardrail.
    LlmSanitizeRequest(RewriteFn<LlmRequest>),
    /// LLM sanitize-response guardrail.
    LlmSanitizeResponse(RewriteFn<Json>),
    /// LLM execution intercept.
    LlmExecutionIntercept(ExecFn<LlmRequest, Json>),
    /// LLM stream execution intercept.
    LlmStreamExecutionIntercept(ExecFn<LlmRequest, JsonStream>),
    /// Event subscriber.
    Subscriber(Arc<dyn Subscriber>),
}

impl Middleware {
    /// The family this callback belongs to.
    pub fn family(&self) -> Family {
        match self {
            Middleware::ToolConditionalExecution(_) => Family::ToolConditionalExecution,
            Middleware::ToolRequestIntercept(_) => Family::ToolRequestIntercept,
            Middleware::ToolSanitizeRequest(_) => Family::ToolSanitizeRequest,
            Middleware::ToolSanitizeResponse(_) => Family::ToolSanitizeResponse,
            Middleware::ToolExecutionIntercept(_) => Family::ToolExecutionIntercept,
            Middleware::LlmConditionalExecution(_) => Family::LlmConditionalExecution,
            Middleware::LlmRequestIntercept(_) => Family::LlmRequestIntercept,
            Middleware::LlmSanitizeRequest(_) => Family::LlmSanitizeRequest,
            Middleware::LlmSanitizeResponse(_) => Family::LlmSanitizeResponse,
            Middleware::LlmExecutionIntercept(_) => Family::LlmExecutionIntercept,
            Middleware::LlmStreamExecutionIntercept(_) => Family::LlmStreamExecutionIntercept,
            Middleware::Subscriber(_) => Family::Subscriber,
        }
    }
}

/// A request to register one callback.
#[derive(Clone)]
pub struct Registration {
    /// Unique (per registry) name.
    pub name: String,
    /// Lower runs first. Default 0.
    pub priority: i32,
    /// Request intercepts only: stop later request intercepts. Default false.
    pub break_chain: bool,
    /// Owning scope for a scope-local registration; `None` = global.
    pub scope: Option<Uuid>,
    /// Stack the owning scope is looked up on (default: the current stack).
    pub stack: Option<ScopeStack>,
    /// The callback.
    pub middleware: Middleware,
}

impl Registration {
    /// A global registration with priority 0.
    pub fn new(name: impl Into<String>, middleware: Middleware) -> Self {
        Registration {
            name: name.into(),
            priority: 0,
            break_chain: false,
            scope: None,
            stack: None,
            middleware,
        }
    }

    /// Set the priority (lower runs first).
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// Request intercepts: skip later request intercepts after this one.
    pub fn break_chain(mut self, yes: bool) -> Self {
        self.break_chain = yes;
        self
    }

    /// Make it scope-local: owned by `scope`, removed when it pops.
    pub fn in_scope(mut self, scope: &ScopeHandle) -> Self {
        self.scope = Some(scope.uuid());
        self
    }

    /// Look the owning scope up on `stack` instead of the current stack.
    pub fn on_stack(mut self, stack: &ScopeStack) -> Self {
        self.stack = Some(stack.clone());
        self
    }
}

/// The five families every managed call kind has.
pub struct CallRegistries<R> {
    /// Conditional-execution guardrails.
    pub conditional: Registry<GuardFn<R>>,
    /// Request intercepts.
    pub request: Registry<RewriteFn<R>>,
    /// Sanitize-request guardrails.
    pub sanitize_request: Registry<RewriteFn<R>>,
    /// Sanitize-response guardrails.
    pub sanitize_response: Registry<RewriteFn<Json>>,
}

impl<R> Clone for CallRegistries<R> {
    fn clone(&self) -> Self {
        CallRegistries {
            conditional: self.conditional.clone(),
            request: self.request.clone(),
            sanitize_request: self.sanitize_request.clone(),
            sanitize_response: self.sanitize_response.clone(),
        }
    }
}

impl<R> Default for CallRegistries<R> {
    fn default() -> Self {
        CallRegistries {
            conditional: Registry::default(),
            request: Registry::default(),
            sanitize_request: Registry::default(),
            sanitize_response: Registry::default(),
        }
    }
}

/// Every registry at one level. Immutable; mutation returns a new value.
#[derive(Clone, Default)]
pub struct Registrations {
    /// Tool families (execution intercepts are separate: their output type differs).
    pub tool: CallRegistries<Json>,
    /// Tool execution intercepts.
    pub tool_execution: Registry<ExecFn<Json, Json>>,
    /// LLM families (shared by unary and streaming calls).
    pub llm: CallRegistries<LlmRequest>,
    /// LLM execution intercepts.
    pub llm_execution: Registry<ExecFn<LlmRequest, Json>>,
    /// LLM stream execution intercepts.
    pub llm_stream_execution: Registry<ExecFn<LlmRequest, JsonStream>>,
    /// Subscribers.
    pub subscribers: Registry<Arc<dyn Subscriber>>,
    /// `subscribers` as a flat set, kept in step so that emitting an event
    /// shares it with one pointer copy.
    pub(crate) subscriber_set: SubscriberSet,
}

fn entry<T>(name: &str, priority: i32, break_chain: bool, callback: T) -> Entry<T> {
    Entry {
        name: Arc::from(name),
        priority,
        break_chain,
        callback,
    }
}

impl Registrations {
    /// Whether nothing at all is registered here.
    pub fn is_empty(&self) -> bool {
        Family::ALL.iter().all(|f| self.names(*f).is_empty())
    }

    /// A copy with one more registration.
    pub fn inserted(
        &self,
        name: &str,
        priority: i32,
        break_chain: bool,
        mw: Middleware,
    ) -> Result<Self> {
        if name.is_empty() {
            return Err(RelayError::invalid("registration name must not be empty"));
        }
        let mut n = self.clone();
        match mw {
            Middleware::ToolConditionalExecution(cb) => {
                n.tool.conditional =
                    self.tool
                        .conditional
                        .with(entry(name, priority, break_chain, cb))?
            }
            Middleware::ToolRequestIntercept(cb) => {
                n.tool.request = self
                    .tool
                    .request
                    .with(entry(name, priority, break_chain, cb))?
            }
            Middleware::ToolSanitizeRequest(cb) => {
                n.tool.sanitize_request =
                    self.tool
                        .sanitize_request
                        .with(entry(name, priority, break_chain, cb))?
            }
            Middleware::ToolSanitizeResponse(cb) => {
                n.tool.sanitize_response =
                    self.tool
                        .sanitize_response
                        .with(entry(name, priority, break_chain, cb))?
            }
            Middleware::ToolExecutionIntercept(cb) => {
                n.tool_execution =
                    self.tool_execution
                        .with(entry(name, priority, break_chain, cb))?
            }
            Middleware::LlmConditionalExecution(cb) => {
                n.llm.conditional =
                    self.llm
                        .conditional
                        .with(entry(name, priority, break_chain, cb))?
            }
            Middleware::LlmRequestIntercept(cb) => {
                n.llm.request = self
                    .llm
                    .request
                    .with(entry(name, priority, break_chain, cb))?
            }
            Middleware::LlmSanitizeRequest(cb) => {
                n.llm.sanitize_request =
                    self.llm
                        .sanitize_request
                        .with(entry(name, priority, break_chain, cb))?
            }
            Middleware::LlmSanitizeResponse(cb) => {
                n.llm.sanitize_response =
                    self.llm
                        .sanitize_response
                        .with(entry(name, priority, break_chain, cb))?
            }
            Middleware::LlmExecutionIntercept(cb) => {
                n.llm_execution = self
                    .llm_execution
                    .with(entry(name, priority, break_chain, cb))?
            }
            Middleware::LlmStreamExecutionIntercept(cb) => {
                n.llm_stream_execution =
                    self.llm_stream_execution
                        .with(entry(name, priority, break_chain, cb))?
            }
            Middleware::Subscriber(cb) => {
                n.subscribers = self
                    .subscribers
                    .with(entry(name, priority, break_chain, cb))?;
                n.subscriber_set = n
                    .subscribers
                    .entries()
                    .iter()
                    .map(|e| e.callback.clone())
                    .collect();
            }
        }
        Ok(n)
    }

    /// A copy without `name` in `family`, or `None` if it was not there.
    pub fn removed(&self, family: Family, name: &str) -> Option<Self> {
        let mut n = self.clone();
        match family {
            Family::ToolConditionalExecution => {
                n.tool.conditional = self.tool.conditional.without(name)?
            }
            Family::ToolRequestIntercept => n.tool.request = self.tool.request.without(name)?,
            Family::ToolSanitizeRequest => {
                n.tool.sanitize_request = self.tool.sanitize_request.without(name)?
            }
            Family::ToolSanitizeResponse => {
                n.tool.sanitize_response = self.tool.sanitize_response.without(name)?
            }
            Family::ToolExecutionIntercept => {
                n.tool_execution = self.tool_execution.without(name)?
            }
            Family::LlmConditionalExecution => {
                n.llm.conditional = self.llm.conditional.without(name)?
            }
            Family::LlmRequestIntercept => n.llm.request = self.llm.request.without(name)?,
            Family::LlmSanitizeRequest => {
                n.llm.sanitize_request = self.llm.sanitize_request.without(name)?
            }
            Family::LlmSanitizeResponse => {
                n.llm.sanitize_response = self.llm.sanitize_response.without(name)?
            }
            Family::LlmExecutionIntercept => n.llm_execution = self.llm_execution.without(name)?,
            Family::LlmStreamExecutionIntercept => {
                n.llm_stream_execution = self.llm_stream_execution.without(name)?
            }
            Family::Subscriber => {
                n.subscribers = self.subscribers.without(name)?;
                n.subscriber_set = n
                    .subscribers
                    .entries()
                    .iter()
                    .map(|e| e.callback.clone())
                    .collect();
            }
        }
        Some(n)
    }

    /// Registration names of one family, in run order.
    pub fn names(&self, family: Family) -> Vec<Arc<str>> {
        fn n<T: Clone>(r: &Registry<T>) -> Vec<Arc<str>> {
            r.entries().iter().map(|e| e.name.clone()).collect()
        }
        match family {
            Family::ToolConditionalExecution => n(&self.tool.conditional),
            Family::ToolRequestIntercept => n(&self.tool.request),
            Family::ToolSanitizeRequest => n(&self.tool.sanitize_request),
            Family::ToolSanitizeResponse => n(&self.tool.sanitize_response),
            Family::ToolExecutionIntercept => n(&self.tool_execution),
            Family::LlmConditionalExecution => n(&self.llm.conditional),
            Family::LlmRequestIntercept => n(&self.llm.request),
            Family::LlmSanitizeRequest => n(&self.llm.sanitize_request),
            Family::LlmSanitizeResponse => n(&self.llm.sanitize_response),
            Family::LlmExecutionIntercept => n(&self.llm_execution),
            Family::LlmStreamExecutionIntercept => n(&self.llm_stream_execution),
            Family::Subscriber => n(&self.subscribers),
        }
    }
}
